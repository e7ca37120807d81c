//! The answer logic: from a parsed query and the zone set to a response, as NSD (with
//! `minimal-responses: yes`) and Knot answer.
//!
//! RFC 1034 §4.3.2 with RFC 2308 (negative answers), RFC 4592 (wildcards), RFC 6672 (DNAME),
//! RFC 6891 (EDNS), RFC 8482 (ANY) and RFC 4035/5155 (presigned DNSSEC).

use std::collections::HashMap;
use std::sync::Arc;

use crate::message::{self, flag, opcode, rcode, Builder, Full, Owner, ParseError, Query, Section};
use crate::wire::{self, MAX_NAME_LEN};
use crate::zone::{rtype, Lookup, RRset, Rrs, Zone};

/// The zones a server answers for, found by the longest origin that ends the query name.
#[derive(Default)]
pub struct ZoneSet {
    zones: HashMap<Box<[u8]>, Arc<Zone>, foldhash::fast::FixedState>,
    min_labels: usize,
    max_labels: usize,
}

impl std::fmt::Debug for ZoneSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.zones.values()).finish()
    }
}

impl ZoneSet {
    /// A set of zones; a later zone with the same origin replaces an earlier one.
    pub fn new(zones: impl IntoIterator<Item = Arc<Zone>>) -> ZoneSet {
        let mut set = ZoneSet::default();
        for z in zones {
            set.zones.insert(z.origin_key.clone(), z);
        }
        set.min_labels = set
            .zones
            .values()
            .map(|z| z.origin_labels)
            .min()
            .unwrap_or(0);
        set.max_labels = set
            .zones
            .values()
            .map(|z| z.origin_labels)
            .max()
            .unwrap_or(0);
        set
    }

    /// The zone with this origin (canonical wire form), if served.
    pub fn get(&self, origin_key: &[u8]) -> Option<&Arc<Zone>> {
        self.zones.get(origin_key)
    }

    /// The zone of a presentation-form or wire origin.
    pub fn zone(&self, origin: &domain::base::Name<bytes::Bytes>) -> Option<&Arc<Zone>> {
        self.zones.get(&*wire::canonical(origin.as_slice()))
    }

    /// Every zone.
    pub fn zones(&self) -> impl Iterator<Item = &Arc<Zone>> {
        self.zones.values()
    }

    pub fn is_empty(&self) -> bool {
        self.zones.is_empty()
    }

    /// The zone whose origin is the longest suffix of `name`.
    #[inline]
    pub(crate) fn find(&self, name: &[u8], starts: &[u8], n: usize) -> Option<&Zone> {
        if n < self.min_labels {
            return None;
        }
        let hi = n.min(self.max_labels);
        for k in (self.min_labels..=hi).rev() {
            let s = if k == 0 {
                &name[name.len() - 1..]
            } else {
                &name[starts[n - k] as usize..]
            };
            if let Some(z) = self.zones.get(s) {
                return Some(z);
            }
        }
        None
    }
}

/// How a response travels: UDP responses are cut to the client's size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// Server-wide answer settings.
#[derive(Clone, Copy, Debug)]
pub struct AnswerConfig {
    /// The largest UDP response, and the payload size advertised in OPT (NSD's and Knot's
    /// default: 1232).
    pub udp_max: u16,
}

impl Default for AnswerConfig {
    fn default() -> Self {
        AnswerConfig { udp_max: 1232 }
    }
}

/// What [`respond`] decided beyond the bytes: transfers are for the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Send nothing.
    Drop,
    /// Send the response of this length.
    Reply(usize),
    /// An AXFR or IXFR request over TCP for the caller's transfer path.
    Transfer,
    /// A NOTIFY (opcode 4); the caller decides.
    Notify,
}

/// Answers one message into `out` (cleared first).
pub fn respond(
    zones: &ZoneSet,
    msg: &[u8],
    transport: Transport,
    cfg: &AnswerConfig,
    out: &mut Vec<u8>,
) -> Outcome {
    let q = match message::parse_query(msg) {
        Ok(q) => q,
        Err(ParseError::Drop) => return Outcome::Drop,
        Err(ParseError::FormErr { question_end }) => {
            return Outcome::Reply(formerr(msg, question_end, out))
        }
    };
    respond_parsed(zones, msg, &q, transport, cfg, out)
}

/// A FORMERR for a message that could not be read: the header, and the question when it was
/// read completely (as NSD echoes it).
pub fn formerr(msg: &[u8], question_end: Option<usize>, out: &mut Vec<u8>) -> usize {
    let b = Builder::header_only(out, msg, 65535);
    let len = b.finish();
    if let Some(end) = question_end {
        out.extend_from_slice(&msg[12..end]);
        out[5] = 1;
    }
    out[3] = (out[3] & 0xF0) | rcode::FORMERR as u8;
    len + question_end.map_or(0, |e| e - 12)
}

/// Answers a parsed query.
pub fn respond_parsed(
    zones: &ZoneSet,
    msg: &[u8],
    q: &Query,
    transport: Transport,
    cfg: &AnswerConfig,
    out: &mut Vec<u8>,
) -> Outcome {
    let limit = match transport {
        Transport::Udp => match q.edns {
            Some(e) => (e.payload.min(cfg.udp_max) as usize).max(512),
            None => 512,
        },
        Transport::Tcp => 65535,
    };
    let opt_room = if q.edns.is_some() { 11 } else { 0 };
    if q.opcode == opcode::NOTIFY {
        return Outcome::Notify;
    }
    let mut b = Builder::new(out, msg, q, limit - opt_room);
    let dnssec_ok = q.edns.is_some_and(|e| e.dnssec_ok);
    let finish = |mut b: Builder<'_>, rc: u16| -> Outcome {
        b.set_rcode(rc & 0xF);
        if let Some(e) = q.edns {
            b.opt(cfg.udp_max, (rc >> 4) as u8, e.dnssec_ok);
        }
        Outcome::Reply(b.finish())
    };
    if let Some(e) = q.edns {
        if e.version > 0 {
            return finish(b, rcode::BADVERS);
        }
    }
    if q.opcode != opcode::QUERY {
        return finish(b, rcode::NOTIMP);
    }
    match q.qtype {
        rtype::AXFR | rtype::IXFR => {
            if transport == Transport::Tcp {
                return Outcome::Transfer;
            }
            if q.qtype == rtype::AXFR {
                return finish(b, rcode::FORMERR);
            }
        }
        rtype::OPT | rtype::TSIG | rtype::MAILA | rtype::MAILB => return finish(b, rcode::FORMERR),
        _ => {}
    }
    if q.qclass != 1 && q.qclass != 255 {
        return finish(b, rcode::REFUSED);
    }
    let Some(zone) = zones.find(q.qname(), &q.starts, q.labels) else {
        return finish(b, rcode::REFUSED);
    };
    if q.qtype == rtype::IXFR {
        // IXFR over UDP: the current SOA tells the client to come back over TCP (RFC 1995 §2).
        let apex = zone.apex();
        let soa = apex.get(rtype::SOA).expect("zone has SOA");
        b.set_flags(flag::AA);
        if b.rrset(Section::Answer, Owner::Ptr(12), soa.rrs).is_err() {
            b.set_flags(flag::TC);
        }
        return finish(b, rcode::NOERROR);
    }
    let start = b.mark();
    let mut a = Answer {
        zone,
        qtype: q.qtype,
        dnssec_ok,
        aa: true,
        rcode: rcode::NOERROR,
        authority: Items::new(),
        additional: Items::new(),
    };
    let result = a
        .run(q, &mut b)
        .and_then(|()| a.authority.write(&mut b, Section::Authority));
    match result {
        Ok(()) => {
            // Additional data that does not fit is left out without TC (RFC 2181 §9).
            a.additional.write_some(&mut b);
        }
        Err(Full) => {
            b.truncate_to(start);
            b.set_flags(flag::TC);
        }
    }
    if a.aa {
        b.set_flags(flag::AA);
    }
    finish(b, a.rcode)
}

/// The longest CNAME chain followed (NSD and Knot stop a little beyond any real use).
const MAX_CHAIN: usize = 16;

/// A name being resolved: the query name, then CNAME or DNAME targets.
struct Cur {
    wire: [u8; MAX_NAME_LEN],
    lc: [u8; MAX_NAME_LEN],
    len: usize,
    starts: [u8; 128],
    n: usize,
}

impl Cur {
    fn new() -> Cur {
        Cur {
            wire: [0; MAX_NAME_LEN],
            lc: [0; MAX_NAME_LEN],
            len: 0,
            starts: [0; 128],
            n: 0,
        }
    }

    fn set(&mut self, name: &[u8]) {
        let len = name.len().min(MAX_NAME_LEN);
        self.wire[..len].copy_from_slice(&name[..len]);
        for (l, &c) in self.lc[..len].iter_mut().zip(name) {
            *l = wire::fold(c);
        }
        self.len = len;
        self.n = wire::label_starts(&self.lc[..len], &mut self.starts);
    }

    fn lc(&self) -> &[u8] {
        &self.lc[..self.len]
    }

    fn wire(&self) -> &[u8] {
        &self.wire[..self.len]
    }
}

/// A record set to write later (authority and additional come after the whole answer).
#[derive(Clone, Copy)]
struct Item<'z> {
    owner: &'z [u8],
    rrs: Rrs<'z>,
    ttl: Option<u32>,
}

const ITEMS: usize = 48;

/// A small fixed list of deferred record sets: no allocation and no initialisation per query.
struct Items<'z> {
    items: [std::mem::MaybeUninit<Item<'z>>; ITEMS],
    n: usize,
}

impl<'z> Items<'z> {
    fn new() -> Self {
        Items {
            items: [const { std::mem::MaybeUninit::uninit() }; ITEMS],
            n: 0,
        }
    }

    fn as_slice(&self) -> &[Item<'z>] {
        // SAFETY: `push` initialises items in order; the first `n` are initialised, and
        // `Item` is `Copy` (nothing to drop).
        unsafe { std::slice::from_raw_parts(self.items.as_ptr().cast::<Item<'z>>(), self.n) }
    }

    fn push(&mut self, owner: &'z [u8], rrs: Rrs<'z>, ttl: Option<u32>) {
        if self.n < ITEMS
            && !self
                .as_slice()
                .iter()
                .any(|i| std::ptr::eq(i.rrs.wire.as_ptr(), rrs.wire.as_ptr()))
        {
            self.items[self.n].write(Item { owner, rrs, ttl });
            self.n += 1;
        }
    }

    fn push_set(&mut self, owner: &'z [u8], rs: RRset<'z>, dnssec_ok: bool) {
        self.push(owner, rs.rrs, None);
        if dnssec_ok {
            if let Some(s) = rs.sigs {
                self.push(owner, s, None);
            }
        }
    }

    fn write(&self, b: &mut Builder<'_>, s: Section) -> Result<(), Full> {
        for it in self.as_slice() {
            b.rrset_ttl(s, Owner::Name(it.owner), it.rrs, it.ttl)?;
        }
        Ok(())
    }

    /// Writes what fits, in order, and stops at the first record set that does not.
    fn write_some(&self, b: &mut Builder<'_>) {
        for it in self.as_slice() {
            if b.rrset_ttl(Section::Additional, Owner::Name(it.owner), it.rrs, it.ttl)
                .is_err()
            {
                return;
            }
        }
    }
}

enum Next<'z> {
    Done,
    Follow(&'z [u8]),
}

struct Answer<'z> {
    zone: &'z Zone,
    qtype: u16,
    dnssec_ok: bool,
    aa: bool,
    rcode: u16,
    authority: Items<'z>,
    additional: Items<'z>,
}

impl<'z> Answer<'z> {
    fn run(&mut self, q: &Query, b: &mut Builder<'_>) -> Result<(), Full> {
        let zone = self.zone;
        let mut cur = Cur::new();
        cur.set(q.qname());
        let mut visited = [u32::MAX; MAX_CHAIN];
        let mut synth = [0u8; MAX_NAME_LEN];
        for step in 0..MAX_CHAIN {
            let owner = if step == 0 {
                Owner::Ptr(12)
            } else {
                Owner::Name(cur.wire())
            };
            let lookup = zone.lookup(cur.lc(), &cur.starts, cur.n, self.qtype == rtype::DS);
            let next = match lookup {
                Lookup::Referral(cut) => {
                    self.referral(cut);
                    if step == 0 {
                        self.aa = false;
                    }
                    return Ok(());
                }
                Lookup::NxDomain { closest } => {
                    self.rcode = rcode::NXDOMAIN;
                    self.negative(&cur, None, Some(closest));
                    return Ok(());
                }
                Lookup::Exact(id) | Lookup::Wildcard { wildcard: id, .. } => {
                    if visited.contains(&id) {
                        return Ok(());
                    }
                    visited[step] = id;
                    let closest = match lookup {
                        Lookup::Wildcard { closest, .. } => Some(closest),
                        _ => None,
                    };
                    self.at_node(id, owner, closest, &cur, b)?
                }
                Lookup::Dname(id) => {
                    let node = zone.node(id);
                    let dn = node.get(rtype::DNAME).expect("DNAME node");
                    b.rrset(Section::Answer, Owner::Name(node.name), dn.rrs)?;
                    self.sigs(b, Section::Answer, Owner::Name(node.name), dn)?;
                    let (h, target) = dn.rrs.iter().next().expect("one DNAME");
                    let ttl = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
                    // The query name with the DNAME owner replaced by its target.
                    let keep = cur.starts[cur.n - wire::label_count(node.name)] as usize;
                    if keep + target.len() > MAX_NAME_LEN {
                        self.rcode = rcode::YXDOMAIN;
                        return Ok(());
                    }
                    synth[..keep].copy_from_slice(&cur.wire()[..keep]);
                    synth[keep..keep + target.len()].copy_from_slice(target);
                    let new = &synth[..keep + target.len()];
                    b.record(Section::Answer, owner, rtype::CNAME, ttl, new)?;
                    if self.qtype == rtype::CNAME {
                        // The synthesised CNAME is the answer itself.
                        return Ok(());
                    }
                    cur.set(new);
                    if !wire::is_subdomain(cur.lc(), &zone.origin_key) {
                        return Ok(());
                    }
                    continue;
                }
            };
            match next {
                Next::Done => return Ok(()),
                Next::Follow(target) => {
                    cur.set(target);
                    if !wire::is_subdomain(cur.lc(), &zone.origin_key) {
                        return Ok(());
                    }
                }
            }
        }
        Ok(())
    }

    fn sigs(
        &self,
        b: &mut Builder<'_>,
        s: Section,
        owner: Owner<'_>,
        rs: RRset<'_>,
    ) -> Result<(), Full> {
        if self.dnssec_ok {
            if let Some(sig) = rs.sigs {
                b.rrset(s, owner, sig)?;
            }
        }
        Ok(())
    }

    /// Answers at an existing node (or a wildcard's, `closest` then set).
    fn at_node(
        &mut self,
        id: u32,
        owner: Owner<'_>,
        closest: Option<u32>,
        cur: &Cur,
        b: &mut Builder<'_>,
    ) -> Result<Next<'z>, Full> {
        let zone = self.zone;
        let node = zone.node(id);
        match self.qtype {
            rtype::ANY => {
                // RFC 8482 §4.2: one RRset of the name; Knot's choice, the lowest type.
                let Some(rs) = node.rrsets().next() else {
                    self.negative(cur, Some(id), closest);
                    return Ok(Next::Done);
                };
                b.rrset(Section::Answer, owner, rs.rrs)?;
                self.sigs(b, Section::Answer, owner, rs)?;
                self.wildcard_proof(cur, closest);
                self.add_targets(rs);
                return Ok(Next::Done);
            }
            rtype::RRSIG => {
                let mut any = false;
                for rs in node.rrsets() {
                    if let Some(s) = rs.sigs {
                        b.rrset(Section::Answer, owner, s)?;
                        any = true;
                    }
                }
                if let Some(s) = node.orphan_sigs {
                    b.rrset(Section::Answer, owner, s)?;
                    any = true;
                }
                if any {
                    self.wildcard_proof(cur, closest);
                } else {
                    self.negative(cur, Some(id), closest);
                }
                return Ok(Next::Done);
            }
            _ => {}
        }
        if let Some(rs) = node.get(self.qtype) {
            b.rrset(Section::Answer, owner, rs.rrs)?;
            self.sigs(b, Section::Answer, owner, rs)?;
            self.wildcard_proof(cur, closest);
            self.add_targets(rs);
            return Ok(Next::Done);
        }
        if let Some(cn) = node.get(rtype::CNAME) {
            b.rrset(Section::Answer, owner, cn.rrs)?;
            self.sigs(b, Section::Answer, owner, cn)?;
            self.wildcard_proof(cur, closest);
            let (_, target) = cn.rrs.iter().next().expect("one CNAME");
            return Ok(Next::Follow(target));
        }
        self.negative(cur, Some(id), closest);
        Ok(Next::Done)
    }

    /// Address records of NS/MX/SRV targets held in the zone.
    fn add_targets(&mut self, rs: RRset<'z>) {
        for &t in rs.targets.iter() {
            let tn = self.zone.node(t);
            for at in [rtype::A, rtype::AAAA] {
                if let Some(a) = tn.get(at) {
                    self.additional.push_set(tn.name, a, self.dnssec_ok);
                }
            }
        }
    }

    /// A referral: the delegation's NS in authority, its DS (or the proof there is none) with
    /// DNSSEC, glue in additional.
    fn referral(&mut self, cut: u32) {
        let zone = self.zone;
        let node = zone.node(cut);
        let ns = node.get(rtype::NS).expect("cut has NS");
        self.authority.push(node.name, ns.rrs, None);
        if self.dnssec_ok && zone.signed {
            if let Some(ds) = node.get(rtype::DS) {
                self.authority.push_set(node.name, ds, true);
            } else if let Some(nsec) = node.get(rtype::NSEC) {
                self.authority.push_set(node.name, nsec, true);
            } else if let Some(n3) = &zone.nsec3 {
                let key = wire::canonical(node.name);
                let h = crate::zone::nsec3_hash(&key, &n3.salt, n3.iterations);
                if let Some(m) = n3.matching(&h) {
                    self.push_nsec3(m);
                } else {
                    self.closest_encloser_proof(&key, false);
                }
            }
        }
        for &t in ns.targets.iter() {
            let tn = zone.node(t);
            for at in [rtype::A, rtype::AAAA] {
                if let Some(a) = tn.get(at) {
                    self.additional.push(tn.name, a.rrs, None);
                }
            }
        }
    }

    /// NXDOMAIN (`closest` set, `node` not) or NODATA at `node`: the SOA with the negative TTL,
    /// and with DNSSEC the proofs.
    fn negative(&mut self, cur: &Cur, node: Option<u32>, closest: Option<u32>) {
        let zone = self.zone;
        let apex = zone.apex();
        self.authority.push(apex.name, zone.neg_soa(), None);
        if !self.dnssec_ok || !zone.signed {
            return;
        }
        if let Some(s) = zone.neg_soa_sigs() {
            self.authority.push(apex.name, s, None);
        }
        if zone.nsec3.is_some() {
            self.nsec3_negative(cur, node, closest);
            return;
        }
        match (node, closest) {
            // NODATA at an existing name.
            (Some(id), None) => {
                let n = zone.node(id);
                if let Some(nsec) = n.get(rtype::NSEC) {
                    self.authority.push_set(n.name, nsec, true);
                } else {
                    self.nsec_cover(cur.lc());
                }
            }
            // NODATA at a wildcard: qname does not exist, the wildcard lacks the type.
            (Some(w), Some(_)) => {
                self.nsec_cover(cur.lc());
                let n = zone.node(w);
                if let Some(nsec) = n.get(rtype::NSEC) {
                    self.authority.push_set(n.name, nsec, true);
                }
            }
            // NXDOMAIN: qname covered, and the wildcard at the closest encloser covered.
            (None, Some(ce)) => {
                self.nsec_cover(cur.lc());
                let mut wild = [0u8; MAX_NAME_LEN + 2];
                let ce_key = wire::canonical(zone.node(ce).name);
                if ce_key.len() + 2 <= MAX_NAME_LEN {
                    wild[0] = 1;
                    wild[1] = b'*';
                    wild[2..2 + ce_key.len()].copy_from_slice(&ce_key);
                    self.nsec_cover(&wild[..2 + ce_key.len()]);
                }
            }
            (None, None) => {}
        }
    }

    fn nsec_cover(&mut self, name: &[u8]) {
        if let Some(id) = self.zone.nsec_covering(name) {
            let n = self.zone.node(id);
            if let Some(nsec) = n.get(rtype::NSEC) {
                self.authority.push_set(n.name, nsec, true);
            }
        }
    }

    /// With DNSSEC, a wildcard answer proves the query name itself does not exist.
    fn wildcard_proof(&mut self, cur: &Cur, closest: Option<u32>) {
        let Some(ce) = closest else { return };
        if !self.dnssec_ok || !self.zone.signed {
            return;
        }
        if let Some(n3) = &self.zone.nsec3 {
            let ce_labels = wire::label_count(self.zone.node(ce).name);
            let next = next_closer(cur, ce_labels);
            let h = crate::zone::nsec3_hash(next, &n3.salt, n3.iterations);
            if let Some(c) = n3.covering(&h) {
                self.push_nsec3(c);
            }
        } else {
            self.nsec_cover(cur.lc());
        }
    }

    fn push_nsec3(&mut self, id: u32) {
        let n = self.zone.node(id);
        if let Some(rs) = n.get(rtype::NSEC3) {
            self.authority.push_set(n.name, rs, true);
        }
    }

    fn nsec3_negative(&mut self, cur: &Cur, node: Option<u32>, closest: Option<u32>) {
        let zone = self.zone;
        let Some(n3) = &zone.nsec3 else { return };
        match (node, closest) {
            (Some(_), None) => {
                let h = crate::zone::nsec3_hash(cur.lc(), &n3.salt, n3.iterations);
                match n3.matching(&h) {
                    Some(m) => self.push_nsec3(m),
                    None => self.closest_encloser_proof(cur.lc(), false),
                }
            }
            (Some(w), Some(_)) => {
                self.closest_encloser_proof(cur.lc(), false);
                let wk = wire::canonical(zone.node(w).name);
                let h = crate::zone::nsec3_hash(&wk, &n3.salt, n3.iterations);
                if let Some(m) = n3.matching(&h) {
                    self.push_nsec3(m);
                }
            }
            (None, Some(_)) => self.closest_encloser_proof(cur.lc(), true),
            (None, None) => {}
        }
    }

    /// RFC 5155 §7.2.1: the NSEC3 matching the closest provable encloser, the one covering the
    /// next closer name, and (`wildcard`) the one covering the wildcard at the encloser.
    fn closest_encloser_proof(&mut self, name: &[u8], wildcard: bool) {
        let zone = self.zone;
        let Some(n3) = &zone.nsec3 else { return };
        let mut starts = [0u8; 128];
        let n = wire::label_starts(name, &mut starts);
        // From the name upwards: the first ancestor whose hash matches.
        for i in 1..=n {
            let anc = if i == n {
                &name[name.len() - 1..]
            } else {
                &name[starts[i] as usize..]
            };
            if !wire::is_subdomain(anc, &zone.origin_key) {
                break;
            }
            let h = crate::zone::nsec3_hash(anc, &n3.salt, n3.iterations);
            if let Some(m) = n3.matching(&h) {
                self.push_nsec3(m);
                let next = &name[starts[i - 1] as usize..];
                let hn = crate::zone::nsec3_hash(next, &n3.salt, n3.iterations);
                if let Some(c) = n3.covering(&hn) {
                    self.push_nsec3(c);
                }
                if wildcard {
                    let mut wild = [0u8; MAX_NAME_LEN + 2];
                    if anc.len() + 2 <= MAX_NAME_LEN {
                        wild[0] = 1;
                        wild[1] = b'*';
                        wild[2..2 + anc.len()].copy_from_slice(anc);
                        let hw = crate::zone::nsec3_hash(
                            &wild[..2 + anc.len()],
                            &n3.salt,
                            n3.iterations,
                        );
                        if let Some(c) = n3.covering(&hw) {
                            self.push_nsec3(c);
                        }
                    }
                }
                return;
            }
        }
    }
}

/// The next closer name of `cur` below an encloser of `ce_labels` labels (RFC 5155 §1.3).
fn next_closer(cur: &Cur, ce_labels: usize) -> &[u8] {
    let i = cur.n.saturating_sub(ce_labels + 1);
    &cur.lc()[cur.starts[i] as usize..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::base::iana::Rtype;
    use domain::base::{Message, ParsedName};
    use domain::rdata::AllRecordData;

    const ZONE: &str = "\
$ORIGIN example.com.
$TTL 3600
@       IN SOA ns1 hostmaster 2024010101 7200 3600 1209600 300
@       NS ns1
@       NS ns2.other.net.
@       MX 10 mail
@       A 192.0.2.1
ns1     A 192.0.2.53
mail    A 192.0.2.25
mail    AAAA 2001:db8::25
www     CNAME web
web     CNAME host.a.b
host.a.b A 192.0.2.80
out     CNAME www.example.net.
*.wild  TXT \"wild\"
*.wild  MX 5 mail
x.y.wild A 192.0.2.9
sub     NS ns.sub
sub     NS ns.other.net.
ns.sub  A 192.0.2.54
sub     DS 12345 8 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF
dn      DNAME target.example.org.
loop1   CNAME loop2
loop2   CNAME loop1
big     TXT \"0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\"
big     TXT \"1123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\"
big     TXT \"2123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\"
big     TXT \"3123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\"
big     TXT \"4123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\"
big     TXT \"5123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\"
";

    fn zones() -> ZoneSet {
        let z = crate::parse_zone(ZONE, None, "test.zone").unwrap();
        ZoneSet::new([Arc::new(Zone::build(&z.origin, z.records).unwrap())])
    }

    fn query(name: &str, qtype: u16, edns: Option<(u16, bool)>) -> Vec<u8> {
        let mut m = vec![
            0xAB,
            0xCD,
            0x01,
            0x00,
            0,
            1,
            0,
            0,
            0,
            0,
            0,
            edns.is_some() as u8,
        ];
        for l in name.split('.').filter(|l| !l.is_empty()) {
            m.push(l.len() as u8);
            m.extend_from_slice(l.as_bytes());
        }
        m.push(0);
        m.extend_from_slice(&qtype.to_be_bytes());
        m.extend_from_slice(&1u16.to_be_bytes());
        if let Some((size, d)) = edns {
            m.push(0);
            m.extend_from_slice(&41u16.to_be_bytes());
            m.extend_from_slice(&size.to_be_bytes());
            m.extend_from_slice(&[0, 0, if d { 0x80 } else { 0 }, 0, 0, 0]);
        }
        m
    }

    #[derive(Debug)]
    struct Resp {
        rcode: u8,
        aa: bool,
        tc: bool,
        answer: Vec<String>,
        authority: Vec<String>,
        additional: Vec<String>,
        len: usize,
    }

    fn section(s: domain::base::message::RecordSection<'_, Vec<u8>>) -> Vec<String> {
        s.map(|rr| {
            let rr = rr.unwrap();
            let rec = rr
                .to_record::<AllRecordData<_, ParsedName<_>>>()
                .unwrap()
                .unwrap();
            format!(
                "{} {} {} {}",
                rec.owner(),
                rec.ttl().as_secs(),
                rec.rtype(),
                rec.data()
            )
        })
        .collect()
    }

    fn ask_with(zones: &ZoneSet, msg: &[u8], t: Transport) -> Resp {
        let mut out = Vec::with_capacity(65536);
        let Outcome::Reply(len) = respond(zones, msg, t, &AnswerConfig::default(), &mut out) else {
            panic!("no reply")
        };
        out.truncate(len);
        let m = Message::from_octets(out).unwrap();
        let h = m.header();
        assert!(h.qr());
        assert!(!h.ra());
        assert_eq!(&m.as_slice()[..2], &msg[..2]);
        Resp {
            rcode: h.rcode().to_int(),
            aa: h.aa(),
            tc: h.tc(),
            answer: section(m.answer().unwrap()),
            authority: section(m.authority().unwrap()),
            additional: section(m.additional().unwrap())
                .into_iter()
                .filter(|r| !r.contains(" OPT "))
                .collect(),
            len,
        }
    }

    fn ask(name: &str, qtype: Rtype) -> Resp {
        ask_with(&zones(), &query(name, qtype.to_int(), None), Transport::Udp)
    }

    #[test]
    fn positive_answer_keeps_query_case_and_sets_aa() {
        let z = zones();
        let m = query("MAIL.Example.COM", 1, None);
        let r = ask_with(&z, &m, Transport::Udp);
        assert_eq!(r.rcode, 0);
        assert!(r.aa);
        assert_eq!(r.answer, vec!["MAIL.Example.COM 3600 A 192.0.2.25"]);
        assert!(r.authority.is_empty() && r.additional.is_empty());
    }

    #[test]
    fn mx_gets_addresses_of_its_target() {
        let r = ask("example.com", Rtype::MX);
        assert_eq!(r.answer, vec!["example.com 3600 MX 10 mail.example.com."]);
        assert_eq!(
            r.additional,
            vec![
                "mail.example.com 3600 A 192.0.2.25",
                "mail.example.com 3600 AAAA 2001:db8::25"
            ]
        );
    }

    #[test]
    fn cname_chain_is_followed_inside_the_zone() {
        let r = ask("www.example.com", Rtype::A);
        assert_eq!(
            r.answer,
            vec![
                "www.example.com 3600 CNAME web.example.com.",
                "web.example.com 3600 CNAME host.a.b.example.com.",
                "host.a.b.example.com 3600 A 192.0.2.80"
            ]
        );
        assert!(r.aa);
        let r = ask("out.example.com", Rtype::A);
        assert_eq!(
            r.answer,
            vec!["out.example.com 3600 CNAME www.example.net."]
        );
        assert_eq!(r.rcode, 0);
        let r = ask("loop1.example.com", Rtype::A);
        assert_eq!(r.answer.len(), 2);
    }

    #[test]
    fn nxdomain_and_nodata_carry_the_soa_with_the_negative_ttl() {
        let r = ask("nope.example.com", Rtype::A);
        assert_eq!(r.rcode, 3);
        assert!(r.aa);
        assert!(r.answer.is_empty());
        assert_eq!(r.authority.len(), 1);
        assert!(r.authority[0].starts_with(
            "example.com 300 SOA ns1.example.com. hostmaster.example.com. 2024010101"
        ));
        let r = ask("mail.example.com", Rtype::TXT);
        assert_eq!(r.rcode, 0);
        assert!(r.answer.is_empty());
        assert_eq!(r.authority.len(), 1);
        // An empty non-terminal exists: NODATA, not NXDOMAIN.
        let r = ask("a.b.example.com", Rtype::A);
        assert_eq!(r.rcode, 0);
        assert!(r.answer.is_empty());
    }

    #[test]
    fn wildcards_follow_rfc4592() {
        let r = ask("foo.wild.example.com", Rtype::TXT);
        assert_eq!(r.answer, vec!["foo.wild.example.com 3600 TXT \"wild\""]);
        let r = ask("a.b.wild.example.com", Rtype::MX);
        assert_eq!(
            r.answer,
            vec!["a.b.wild.example.com 3600 MX 5 mail.example.com."]
        );
        assert_eq!(r.additional.len(), 2);
        // NODATA at a wildcard.
        let r = ask("foo.wild.example.com", Rtype::AAAA);
        assert_eq!((r.rcode, r.answer.len(), r.authority.len()), (0, 0, 1));
        // y.wild exists (empty non-terminal): no synthesis at or below it.
        let r = ask("y.wild.example.com", Rtype::TXT);
        assert_eq!((r.rcode, r.answer.len()), (0, 0));
        let r = ask("z.y.wild.example.com", Rtype::TXT);
        assert_eq!(r.rcode, 3);
        // The wildcard name itself answers as itself.
        let r = ask("*.wild.example.com", Rtype::TXT);
        assert_eq!(r.answer, vec!["*.wild.example.com 3600 TXT \"wild\""]);
    }

    #[test]
    fn delegations_answer_referrals_with_glue() {
        for name in ["host.sub.example.com", "sub.example.com"] {
            let r = ask(name, Rtype::A);
            assert_eq!(r.rcode, 0);
            assert!(!r.aa, "{name}");
            assert!(r.answer.is_empty());
            let mut auth = r.authority.clone();
            auth.sort();
            assert_eq!(
                auth,
                vec![
                    "sub.example.com 3600 NS ns.other.net.",
                    "sub.example.com 3600 NS ns.sub.example.com."
                ]
            );
            assert_eq!(r.additional, vec!["ns.sub.example.com 3600 A 192.0.2.54"]);
        }
        // DS belongs to the parent side.
        let r = ask("sub.example.com", Rtype::DS);
        assert!(r.aa);
        assert_eq!(r.answer.len(), 1);
    }

    #[test]
    fn dname_synthesises_a_cname() {
        let r = ask("www.dn.example.com", Rtype::A);
        assert_eq!(
            r.answer,
            vec![
                "dn.example.com 3600 DNAME target.example.org.",
                "www.dn.example.com 3600 CNAME www.target.example.org."
            ]
        );
    }

    #[test]
    fn outside_the_zones_is_refused() {
        let r = ask("example.net", Rtype::A);
        assert_eq!(r.rcode, 5);
        assert!(!r.aa);
    }

    #[test]
    fn any_returns_one_rrset() {
        let r = ask("mail.example.com", Rtype::ANY);
        assert_eq!(r.answer, vec!["mail.example.com 3600 A 192.0.2.25"]);
    }

    #[test]
    fn truncation_never_splits_an_rrset() {
        let z = zones();
        let r = ask_with(&z, &query("big.example.com", 16, None), Transport::Udp);
        assert!(r.tc);
        assert!(r.answer.is_empty());
        assert!(r.len <= 512);
        let r = ask_with(
            &z,
            &query("big.example.com", 16, Some((1232, false))),
            Transport::Udp,
        );
        assert!(!r.tc);
        assert_eq!(r.answer.len(), 6);
        let r = ask_with(&z, &query("big.example.com", 16, None), Transport::Tcp);
        assert!(!r.tc);
        assert_eq!(r.answer.len(), 6);
    }

    #[test]
    fn edns_version_above_zero_gets_badvers() {
        let z = zones();
        let mut m = query("example.com", 1, Some((1232, true)));
        let n = m.len();
        m[n - 5] = 1; // version
        let mut out = Vec::new();
        let Outcome::Reply(len) =
            respond(&z, &m, Transport::Udp, &AnswerConfig::default(), &mut out)
        else {
            panic!()
        };
        let msg = Message::from_octets(out[..len].to_vec()).unwrap();
        let opt = msg.opt().unwrap();
        assert_eq!(opt.rcode(msg.header()).to_int(), 16);
        assert!(opt.dnssec_ok());
        assert_eq!(msg.header_counts().ancount(), 0);
    }

    #[test]
    fn malformed_and_unknown_opcodes() {
        let z = zones();
        let mut out = Vec::new();
        // Two questions: FORMERR.
        let mut m = query("example.com", 1, None);
        m[5] = 2;
        let Outcome::Reply(len) =
            respond(&z, &m, Transport::Udp, &AnswerConfig::default(), &mut out)
        else {
            panic!()
        };
        assert_eq!(out[3] & 0xF, 1);
        assert_eq!(len, 12);
        // UPDATE (opcode 5): NOTIMP.
        let mut m = query("example.com", 6, None);
        m[2] = 5 << 3;
        let Outcome::Reply(_) = respond(&z, &m, Transport::Udp, &AnswerConfig::default(), &mut out)
        else {
            panic!()
        };
        assert_eq!(out[3] & 0xF, 4);
        // A response is not answered; a runt is not either.
        let mut m = query("example.com", 1, None);
        m[2] |= 0x80;
        assert_eq!(
            respond(&z, &m, Transport::Udp, &AnswerConfig::default(), &mut out),
            Outcome::Drop
        );
        assert_eq!(
            respond(
                &z,
                &m[..7],
                Transport::Udp,
                &AnswerConfig::default(),
                &mut out
            ),
            Outcome::Drop
        );
        // A truncated question: FORMERR, never a panic.
        for cut in 12..m.len() {
            let mut m = query("example.com", 1, None);
            m.truncate(cut);
            let _ = respond(&z, &m, Transport::Udp, &AnswerConfig::default(), &mut out);
        }
    }
}
