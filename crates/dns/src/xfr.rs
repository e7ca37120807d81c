//! Serving secondaries: AXFR out (IXFR requests get the full zone, RFC 1995 §4 allows it),
//! allow-transfer lists with optional TSIG, and NOTIFY (RFC 1996) when a serial changes.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UdpSocket};

use crate::answer::ZoneSet;
use crate::message::{self, flag, opcode, rcode, Builder, Owner, Section};
use crate::nsdconf::AclAddress;
use crate::tsig::{self, Signer, TsigKey};
use crate::wire;
use crate::zone::{rtype, Zone};

/// One allow-transfer entry: addresses (nsd.conf's forms), and the key their requests must be
/// signed with; a `blocked` entry refuses its addresses whatever else allows them.
#[derive(Clone, Debug)]
pub struct TransferAcl {
    pub address: AclAddress,
    pub key: Option<Arc<TsigKey>>,
    pub blocked: bool,
}

impl TransferAcl {
    /// Parses `ADDR` or `ADDR/PREFIX`.
    pub fn parse(text: &str, key: Option<Arc<TsigKey>>) -> Result<TransferAcl, String> {
        let (a, p) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr = a
            .parse()
            .map_err(|_| format!("{text}: not an IP address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{text}: bad prefix length"))?,
            None => max,
        };
        Ok(TransferAcl {
            address: AclAddress::Subnet(addr, prefix),
            key,
            blocked: false,
        })
    }

    /// Whether `ip` is one of this entry's addresses.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.address.contains(ip)
    }
}

/// A secondary to NOTIFY.
#[derive(Clone, Debug)]
pub struct NotifyTarget {
    pub addr: SocketAddr,
    pub key: Option<Arc<TsigKey>>,
}

/// Transfer settings of one zone.
#[derive(Clone, Debug, Default)]
pub struct ZoneTransfer {
    pub allow: Vec<TransferAcl>,
    pub notify: Vec<NotifyTarget>,
}

/// Transfer settings of every zone, by origin (canonical wire form).
#[derive(Clone, Debug, Default)]
pub struct TransferPolicy {
    pub zones: HashMap<Box<[u8]>, ZoneTransfer>,
}

impl TransferPolicy {
    /// The settings of a zone (presentation-form origin accepted).
    pub fn zone_mut(&mut self, origin: &domain::base::Name<bytes::Bytes>) -> &mut ZoneTransfer {
        self.zones
            .entry(wire::canonical(origin.as_slice()))
            .or_default()
    }
}

/// A header-and-question answer with REFUSED (NOTIFY to a primary, transfers over UDP).
pub fn refuse(msg: &[u8], out: &mut Vec<u8>) -> usize {
    match message::parse_query(msg) {
        Ok(q) => {
            let mut b = Builder::new(out, msg, &q, 65535);
            b.set_rcode(rcode::REFUSED);
            b.finish()
        }
        Err(message::ParseError::Drop) => 0,
        Err(message::ParseError::FormErr { question_end }) => {
            crate::answer::formerr(msg, question_end, out)
        }
    }
}

/// Size of each transfer message (NSD and Knot use about this much; leaves room for TSIG).
const XFR_MESSAGE: usize = 16 * 1024;

/// Answers an AXFR or IXFR request on a TCP connection.
pub async fn serve_transfer(
    stream: &mut TcpStream,
    peer: SocketAddr,
    msg: &[u8],
    zones: &ZoneSet,
    policy: &TransferPolicy,
) -> io::Result<()> {
    let Ok(q) = message::parse_query(msg) else {
        return Ok(());
    };
    let mut out = Vec::with_capacity(XFR_MESSAGE + 512);
    let zone = zones.get(q.qname()).cloned();
    let settings = policy.zones.get(q.qname());
    // Who asks: the first allow entry covering the peer decides which key it needs.
    let acl = settings.and_then(|s| {
        if s.allow.iter().any(|a| a.blocked && a.contains(peer.ip())) {
            return None;
        }
        s.allow.iter().find(|a| a.contains(peer.ip()))
    });
    let verdict = match (&zone, acl) {
        (None, _) => Err(rcode::NOTAUTH),
        (Some(_), None) => Err(rcode::REFUSED),
        (Some(_), Some(a)) => match (&a.key, q.tsig_at) {
            (None, None) => Ok(None),
            (None, Some(at)) => {
                // Signed although no key is required: honour the signature if we know the key.
                let keys: Vec<&TsigKey> = settings
                    .into_iter()
                    .flat_map(|s| s.allow.iter())
                    .filter_map(|a| a.key.as_deref())
                    .collect();
                match tsig::verify_request(msg, at, &keys) {
                    Ok(v) => Ok(Some((keys[v.key_index].clone(), v.request_mac))),
                    Err(_) => Err(rcode::NOTAUTH),
                }
            }
            (Some(k), Some(at)) => match tsig::verify_request(msg, at, &[k]) {
                Ok(v) => Ok(Some(((**k).clone(), v.request_mac))),
                Err(_) => Err(rcode::NOTAUTH),
            },
            (Some(_), None) => Err(rcode::REFUSED),
        },
    };
    let (zone, signing) = match verdict {
        Ok(s) => (zone.expect("zone checked"), s),
        Err(rc) => {
            let mut b = Builder::new(&mut out, msg, &q, 65535);
            b.set_rcode(rc);
            let n = b.finish();
            return send(stream, &out[..n]).await;
        }
    };
    let mut signer = signing
        .as_ref()
        .map(|(k, mac)| Signer::response(k, mac.clone()));
    let room = if signer.is_some() {
        XFR_MESSAGE - 200
    } else {
        XFR_MESSAGE
    };
    // Every RRset of the zone, the SOA first and again last.
    let soa = zone.apex().get(rtype::SOA).expect("zone has SOA");
    let mut items: Vec<(&[u8], crate::zone::Rrs<'_>)> = vec![(zone.apex().name, soa.rrs)];
    for node in zone.nodes() {
        for rs in node.rrsets() {
            if !std::ptr::eq(rs.rrs.wire.as_ptr(), soa.rrs.wire.as_ptr()) {
                items.push((node.name, rs.rrs));
            }
            if let Some(s) = rs.sigs {
                items.push((node.name, s));
            }
        }
        if let Some(s) = node.orphan_sigs {
            items.push((node.name, s));
        }
    }
    items.push((zone.apex().name, soa.rrs));
    let mut i = 0;
    while i < items.len() {
        let mut b = Builder::new(&mut out, msg, &q, room);
        b.set_flags(flag::AA);
        let mut wrote = 0;
        while i < items.len() {
            if b.rrset(Section::Answer, Owner::Name(items[i].0), items[i].1)
                .is_err()
            {
                break;
            }
            i += 1;
            wrote += 1;
        }
        if wrote == 0 {
            // One RRset larger than a message: send it alone in a message of its own.
            b.set_limit(65535 - 200);
            let _ = b.rrset(Section::Answer, Owner::Name(items[i].0), items[i].1);
            i += 1;
        }
        b.finish();
        if let Some(s) = signer.as_mut() {
            s.sign(&mut out, 0);
        }
        send(stream, &out).await?;
    }
    Ok(())
}

async fn send(stream: &mut TcpStream, msg: &[u8]) -> io::Result<()> {
    let mut framed = Vec::with_capacity(msg.len() + 2);
    framed.extend_from_slice(&(msg.len() as u16).to_be_bytes());
    framed.extend_from_slice(msg);
    stream.write_all(&framed).await
}

/// Sends NOTIFY for `zone` to `target` and waits for the acknowledgement, retrying (RFC 1996
/// §3.6: a few times, backing off). Returns whether the secondary acknowledged.
pub async fn notify(zone: &Zone, target: &NotifyTarget) -> io::Result<bool> {
    let bind: SocketAddr = if target.addr.is_ipv4() {
        "0.0.0.0:0".parse().unwrap()
    } else {
        "[::]:0".parse().unwrap()
    };
    let sock = UdpSocket::bind(bind).await?;
    sock.connect(target.addr).await?;
    let mut idb = [0u8; 2];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut idb)
        .map_err(|_| io::Error::other("no randomness"))?;
    let id = u16::from_be_bytes(idb);
    let mut msg = Vec::with_capacity(512);
    let origin = wire::canonical(zone.origin().as_slice());
    let mut b = Builder::with_question(
        &mut msg,
        id,
        (opcode::NOTIFY as u16) << 11 | flag::AA,
        &origin,
        rtype::SOA,
        512,
    );
    if let Some(soa) = zone.apex().get(rtype::SOA) {
        let _ = b.rrset(Section::Answer, Owner::Ptr(12), soa.rrs);
    }
    b.finish();
    let mut signer = target.key.as_deref().map(Signer::request);
    if let Some(s) = signer.as_mut() {
        s.sign(&mut msg, 0);
    }
    let mut buf = vec![0u8; 4096];
    let mut wait = Duration::from_millis(500);
    for _ in 0..5 {
        sock.send(&msg).await?;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let Ok(Ok(n)) = tokio::time::timeout_at(deadline, sock.recv(&mut buf)).await else {
                break;
            };
            let r = &buf[..n];
            if n < 12 || r[..2] != idb || r[2] & 0x80 == 0 {
                continue;
            }
            if let Some(s) = &signer {
                match tsig_position(r) {
                    Some(at) if s.verify_response(r, at) => {}
                    _ => continue,
                }
            }
            return Ok(r[3] & 0xF == rcode::NOERROR as u8);
        }
        wait *= 2;
    }
    Ok(false)
}

/// The start of the last record of a message if it is a TSIG.
fn tsig_position(msg: &[u8]) -> Option<usize> {
    let counts: Vec<usize> = (0..4)
        .map(|i| u16::from_be_bytes([msg[4 + 2 * i], msg[5 + 2 * i]]) as usize)
        .collect();
    let total: usize = counts.iter().sum();
    let mut scratch = [0u8; wire::MAX_NAME_LEN];
    let mut pos = 12;
    for _ in 0..counts[0] {
        pos = wire::read_name(msg, pos, &mut scratch)?.0 + 4;
    }
    let mut last = None;
    for _ in 0..total - counts[0] {
        last = Some(pos);
        let p = wire::read_name(msg, pos, &mut scratch)?.0;
        let h = msg.get(p..p + 10)?;
        pos = p + 10 + u16::from_be_bytes([h[8], h[9]]) as usize;
    }
    let at = last?;
    let p = wire::read_name(msg, at, &mut scratch)?.0;
    (msg.get(p..p + 2)? == rtype::TSIG.to_be_bytes()).then_some(at)
}

/// NOTIFYs the secondaries of every zone whose serial differs between `old` and `new` (or that
/// is new), in the background on `rt`.
pub fn notify_changed(
    rt: &tokio::runtime::Handle,
    old: &ZoneSet,
    new: &ZoneSet,
    policy: &TransferPolicy,
) {
    for zone in new.zones() {
        let key = wire::canonical(zone.origin().as_slice());
        let changed = old.get(&key).is_none_or(|o| o.serial() != zone.serial());
        let Some(settings) = policy.zones.get(&key) else {
            continue;
        };
        if !changed {
            continue;
        }
        for target in settings.notify.clone() {
            let zone = zone.clone();
            rt.spawn(async move {
                match notify(&zone, &target).await {
                    Ok(true) => {}
                    Ok(false) => eprintln!(
                        "dermaga dns: NOTIFY {} to {}: no acknowledgement",
                        zone.origin(),
                        target.addr
                    ),
                    Err(e) => eprintln!(
                        "dermaga dns: NOTIFY {} to {}: {e}",
                        zone.origin(),
                        target.addr
                    ),
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acl_networks() {
        let a = TransferAcl::parse("192.0.2.0/24", None).unwrap();
        assert!(a.contains("192.0.2.77".parse().unwrap()));
        assert!(!a.contains("192.0.3.1".parse().unwrap()));
        assert!(a.contains("::ffff:192.0.2.1".parse().unwrap()));
        let h = TransferAcl::parse("127.0.0.1", None).unwrap();
        assert!(h.contains("127.0.0.1".parse().unwrap()));
        assert!(!h.contains("127.0.0.2".parse().unwrap()));
        let v6 = TransferAcl::parse("2001:db8::/32", None).unwrap();
        assert!(v6.contains("2001:db8:1::1".parse().unwrap()));
        assert!(TransferAcl::parse("10.0.0.0/33", None).is_err());
        assert!(TransferAcl::parse("nope", None).is_err());
    }
}
