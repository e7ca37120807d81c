//! TSIG (RFC 8945) with HMAC-SHA256: verifying signed requests, signing responses and
//! transfer streams, signing NOTIFY.
//!
//! Only what a primary needs. Messages are handled as bytes, next to the response builder,
//! rather than through `domain`'s message types.

use std::time::{SystemTime, UNIX_EPOCH};

use ring::hmac;

use crate::wire::{self, MAX_NAME_LEN};
use crate::zone::rtype;

/// The only algorithm accepted: `hmac-sha256.`
const HMAC_SHA256: &[u8] = b"\x0bhmac-sha256\x00";
/// Allowed clock difference, seconds (RFC 8945 recommends 300).
pub const FUDGE: u16 = 300;

/// TSIG error codes carried in the TSIG record.
pub mod error {
    pub const BADSIG: u16 = 16;
    pub const BADKEY: u16 = 17;
    pub const BADTIME: u16 = 18;
}

/// A shared secret.
#[derive(Clone)]
pub struct TsigKey {
    /// The key's name, canonical wire form.
    pub name: Box<[u8]>,
    key: hmac::Key,
}

impl std::fmt::Debug for TsigKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TsigKey({})", wire::display(&self.name))
    }
}

impl TsigKey {
    /// A key from its name (presentation form), algorithm name and base64 secret, as nsd.conf
    /// and `dermaga dns` take them.
    pub fn new(name: &str, algorithm: &str, secret_b64: &str) -> Result<TsigKey, String> {
        let secret: Vec<u8> = domain::utils::base64::decode(secret_b64.trim())
            .map_err(|e| format!("TSIG key {name}: secret is not base64: {e}"))?;
        Self::from_secret(name, algorithm, &secret)
    }

    /// A key from its name, algorithm name and decoded secret (nsd.conf's `key:`).
    pub fn from_secret(name: &str, algorithm: &str, secret: &[u8]) -> Result<TsigKey, String> {
        let alg = algorithm.trim_end_matches('.').to_ascii_lowercase();
        if alg != "hmac-sha256" {
            return Err(format!(
                "TSIG algorithm {algorithm} is not supported (only hmac-sha256)"
            ));
        }
        let parsed = parse_name(name).map_err(|e| format!("TSIG key name {name}: {e}"))?;
        Ok(TsigKey {
            name: wire::canonical(parsed.as_slice()),
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        })
    }
}

/// What a verified request leaves for signing the answer.
#[derive(Clone, Debug)]
pub struct Verified {
    pub key_index: usize,
    pub request_mac: Vec<u8>,
}

/// Why a signed request was not accepted (answered NOTAUTH with this TSIG error).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TsigFailure(pub u16);

/// A presentation-form name, taken as absolute.
pub(crate) fn parse_name(text: &str) -> Result<domain::base::Name<bytes::Bytes>, String> {
    let t = if text.ends_with('.') {
        text.to_string()
    } else {
        format!("{text}.")
    };
    t.parse::<domain::base::Name<bytes::Bytes>>()
        .map_err(|e| e.to_string())
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A parsed TSIG record.
struct TsigRecord<'a> {
    key_name: [u8; MAX_NAME_LEN],
    key_len: usize,
    alg: &'a [u8],
    time: u64,
    fudge: u16,
    mac: &'a [u8],
    orig_id: u16,
    error: u16,
    other: &'a [u8],
}

fn parse_tsig(msg: &[u8], at: usize) -> Option<TsigRecord<'_>> {
    let mut key_name = [0u8; MAX_NAME_LEN];
    let (p, key_len) = wire::read_name(msg, at, &mut key_name)?;
    let h = msg.get(p..p + 10)?;
    if u16::from_be_bytes([h[0], h[1]]) != rtype::TSIG {
        return None;
    }
    let rdlen = u16::from_be_bytes([h[8], h[9]]) as usize;
    let rd = msg.get(p + 10..p + 10 + rdlen)?;
    let alg_end = wire::name_end(rd, 0)?;
    let alg = &rd[..alg_end];
    let f = rd.get(alg_end..alg_end + 10)?;
    let time = u64::from_be_bytes([0, 0, f[0], f[1], f[2], f[3], f[4], f[5]]);
    let fudge = u16::from_be_bytes([f[6], f[7]]);
    let mac_len = u16::from_be_bytes([f[8], f[9]]) as usize;
    let mac = rd.get(alg_end + 10..alg_end + 10 + mac_len)?;
    let t = rd.get(alg_end + 10 + mac_len..alg_end + 16 + mac_len)?;
    let other_len = u16::from_be_bytes([t[4], t[5]]) as usize;
    let other = rd.get(alg_end + 16 + mac_len..alg_end + 16 + mac_len + other_len)?;
    for b in key_name[..key_len].iter_mut() {
        *b = wire::fold(*b);
    }
    Some(TsigRecord {
        key_name,
        key_len,
        alg,
        time,
        fudge,
        mac,
        orig_id: u16::from_be_bytes([t[0], t[1]]),
        error: u16::from_be_bytes([t[2], t[3]]),
        other,
    })
}

/// Verifies the TSIG record at `at` (the message's last record) against `keys`.
pub fn verify_request(msg: &[u8], at: usize, keys: &[&TsigKey]) -> Result<Verified, TsigFailure> {
    let t = parse_tsig(msg, at).ok_or(TsigFailure(error::BADSIG))?;
    let Some(ki) = keys.iter().position(|k| *k.name == t.key_name[..t.key_len]) else {
        return Err(TsigFailure(error::BADKEY));
    };
    if !wire::eq_fold(t.alg, HMAC_SHA256) {
        return Err(TsigFailure(error::BADKEY));
    }
    let key = keys[ki];
    // The message as it was before signing: TSIG removed, ARCOUNT one less, original ID.
    let mut ctx = hmac::Context::with_key(&key.key);
    let mut head = [0u8; 12];
    head.copy_from_slice(&msg[..12]);
    head[..2].copy_from_slice(&t.orig_id.to_be_bytes());
    let ar = u16::from_be_bytes([head[10], head[11]]).saturating_sub(1);
    head[10..12].copy_from_slice(&ar.to_be_bytes());
    ctx.update(&head);
    ctx.update(&msg[12..at]);
    variables(&mut ctx, &key.name, t.time, t.fudge, t.error, t.other, true);
    let tag = ctx.sign();
    if tag.as_ref().len() != t.mac.len() || !constant_eq(tag.as_ref(), t.mac) {
        return Err(TsigFailure(error::BADSIG));
    }
    let now = now();
    if now.abs_diff(t.time) > t.fudge as u64 {
        return Err(TsigFailure(error::BADTIME));
    }
    Ok(Verified {
        key_index: ki,
        request_mac: t.mac.to_vec(),
    })
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Feeds the TSIG variables (RFC 8945 §4.3.3), or only the timers.
fn variables(
    ctx: &mut hmac::Context,
    key_name: &[u8],
    time: u64,
    fudge: u16,
    error: u16,
    other: &[u8],
    full: bool,
) {
    if full {
        ctx.update(key_name);
        ctx.update(&255u16.to_be_bytes());
        ctx.update(&0u32.to_be_bytes());
        ctx.update(HMAC_SHA256);
    }
    ctx.update(&time.to_be_bytes()[2..]);
    ctx.update(&fudge.to_be_bytes());
    if full {
        ctx.update(&error.to_be_bytes());
        ctx.update(&(other.len() as u16).to_be_bytes());
        ctx.update(other);
    }
}

/// Signs outgoing messages: a single answer, a NOTIFY, or each message of a transfer.
pub struct Signer<'k> {
    key: &'k TsigKey,
    /// The MAC the next message chains on (the request's, then each previous one's).
    prior: Option<Vec<u8>>,
    first: bool,
}

impl<'k> Signer<'k> {
    /// For a response to a verified request.
    pub fn response(key: &'k TsigKey, request_mac: Vec<u8>) -> Self {
        Signer {
            key,
            prior: Some(request_mac),
            first: true,
        }
    }

    /// For a request dermaga sends (NOTIFY).
    pub fn request(key: &'k TsigKey) -> Self {
        Signer {
            key,
            prior: None,
            first: true,
        }
    }

    /// Appends a TSIG record to `msg` (a complete message) and bumps its ARCOUNT. The first
    /// message carries the full variables, later ones of a stream only the timers.
    pub fn sign(&mut self, msg: &mut Vec<u8>, error: u16) {
        let time = now();
        let mut ctx = hmac::Context::with_key(&self.key.key);
        if let Some(p) = &self.prior {
            ctx.update(&(p.len() as u16).to_be_bytes());
            ctx.update(p);
        }
        ctx.update(msg);
        variables(
            &mut ctx,
            &self.key.name,
            time,
            FUDGE,
            error,
            &[],
            self.first,
        );
        let mac = ctx.sign();
        let mac = mac.as_ref();
        let id = [msg[0], msg[1]];
        msg.extend_from_slice(&self.key.name);
        msg.extend_from_slice(&rtype::TSIG.to_be_bytes());
        msg.extend_from_slice(&255u16.to_be_bytes());
        msg.extend_from_slice(&0u32.to_be_bytes());
        let rdlen = HMAC_SHA256.len() + 10 + mac.len() + 6;
        msg.extend_from_slice(&(rdlen as u16).to_be_bytes());
        msg.extend_from_slice(HMAC_SHA256);
        msg.extend_from_slice(&time.to_be_bytes()[2..]);
        msg.extend_from_slice(&FUDGE.to_be_bytes());
        msg.extend_from_slice(&(mac.len() as u16).to_be_bytes());
        msg.extend_from_slice(mac);
        msg.extend_from_slice(&id);
        msg.extend_from_slice(&error.to_be_bytes());
        msg.extend_from_slice(&0u16.to_be_bytes());
        let ar = u16::from_be_bytes([msg[10], msg[11]]) + 1;
        msg[10..12].copy_from_slice(&ar.to_be_bytes());
        self.prior = Some(mac.to_vec());
        self.first = false;
    }

    /// Verifies a response to a request this signer signed (the NOTIFY acknowledgement).
    pub fn verify_response(&self, msg: &[u8], at: usize) -> bool {
        let Some(t) = parse_tsig(msg, at) else {
            return false;
        };
        if *self.key.name != t.key_name[..t.key_len] {
            return false;
        }
        let mut ctx = hmac::Context::with_key(&self.key.key);
        if let Some(p) = &self.prior {
            ctx.update(&(p.len() as u16).to_be_bytes());
            ctx.update(p);
        }
        let mut head = [0u8; 12];
        head.copy_from_slice(&msg[..12]);
        head[..2].copy_from_slice(&t.orig_id.to_be_bytes());
        let ar = u16::from_be_bytes([head[10], head[11]]).saturating_sub(1);
        head[10..12].copy_from_slice(&ar.to_be_bytes());
        ctx.update(&head);
        ctx.update(&msg[12..at]);
        variables(
            &mut ctx,
            &self.key.name,
            t.time,
            t.fudge,
            t.error,
            t.other,
            true,
        );
        constant_eq(ctx.sign().as_ref(), t.mac)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_and_verifies_a_round_trip() {
        let key = TsigKey::new(
            "xfr-key.",
            "hmac-sha256",
            "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0",
        )
        .unwrap();
        // A request: header + question for example.com AXFR.
        let mut req = vec![0x11, 0x22, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        req.extend_from_slice(b"\x07example\x03com\x00\x00\xfc\x00\x01");
        let at = req.len();
        let mut s = Signer::request(&key);
        s.sign(&mut req, 0);
        let v = verify_request(&req, at, &[&key]).unwrap();
        assert_eq!(v.key_index, 0);
        // A tampered message fails.
        let mut bad = req.clone();
        bad[13] ^= 1;
        assert_eq!(
            verify_request(&bad, at, &[&key]).unwrap_err(),
            TsigFailure(error::BADSIG)
        );
        // The response chains on the request MAC and the requester can check it.
        let mut resp = req[..at].to_vec();
        resp[2] |= 0x80;
        let rat = resp.len();
        let mut r = Signer::response(&key, v.request_mac);
        r.sign(&mut resp, 0);
        assert!(s.verify_response(&resp, rat));
        let other = TsigKey::new("other.", "hmac-sha256", "c2VjcmV0").unwrap();
        assert_eq!(
            verify_request(&req, at, &[&other]).unwrap_err(),
            TsigFailure(error::BADKEY)
        );
        assert!(TsigKey::new("k.", "hmac-md5", "c2VjcmV0").is_err());
    }
}
