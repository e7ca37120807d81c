//! Response rate limiting (RRL) on UDP, as NSD does it: responses are counted per client
//! network (the source address cut to a prefix), per kind of answer and per name; over the
//! limit, responses are dropped, except that every `slip`-th one goes out truncated (TC set,
//! question only) so that a real client behind a forged flood can still retry over TCP.
//!
//! The kinds are NSD's: positive, nodata, nxdomain, referral, any, dnskey, rrsig and error.
//! Answers with data and NODATA are counted per query name and type; NXDOMAIN per zone (the
//! owner of the SOA in the authority section), so a flood of random names is one flow;
//! referrals per delegation point; errors per client network alone. A wildcard answer cannot
//! be told from a positive one by its octets, so it is counted per query name (NSD counts it
//! per wildcard).
//!
//! A zone may whitelist kinds (nsd.conf's `rrl-whitelist:`): its answers of those kinds are
//! held to `rrl-whitelist-ratelimit` instead.
//!
//! Each UDP worker keeps its own table (NSD's server processes do too), so nothing is
//! shared between threads; `SO_REUSEPORT` keeps one client address on one worker. The table
//! is a fixed array of `size` buckets reserved zeroed (untouched pages cost no memory); a
//! bucket taken by another flow is simply reset, as NSD does.

use std::alloc::Layout;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::time::Instant;

use crate::message::rcode;
use crate::wire::{self, MAX_NAME_LEN};
use crate::zone::rtype;

/// The answer kinds nsd.conf's `rrl-whitelist:` names (NSD's), `all` meaning every one.
pub const KINDS: &[&str] = &[
    "nxdomain", "error", "referral", "any", "rrsig", "wildcard", "nodata", "dnskey", "positive",
    "all",
];

/// The most buckets a table has: 2^28 (6 GiB of address space, touched only where flows
/// land) is far past any useful table, and keeps a mistyped size from failing the allocation.
pub const MAX_SIZE: usize = 1 << 28;

/// Zones whose answers of some kinds are limited by `whitelist_ratelimit` instead
/// (nsd.conf's per-zone `rrl-whitelist:`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RateLimitWhitelist {
    /// Canonical origin and a bit per [`Kind`].
    zones: Vec<(Box<[u8]>, u16)>,
}

impl RateLimitWhitelist {
    /// Whitelists answers of `kind` (one of [`KINDS`]) in the zone `origin`.
    pub fn add(&mut self, origin: &crate::DomainName, kind: &str) -> Result<(), String> {
        let bits = match kind.to_ascii_lowercase().as_str() {
            "positive" => Kind::Positive.bit(),
            "nodata" => Kind::Nodata.bit(),
            "nxdomain" => Kind::Nxdomain.bit(),
            "referral" => Kind::Referral.bit(),
            "any" => Kind::Any.bit(),
            "dnskey" => Kind::Dnskey.bit(),
            "rrsig" => Kind::Rrsig.bit(),
            "error" => Kind::Error.bit(),
            "wildcard" => Kind::Wildcard.bit(),
            "all" => u16::MAX,
            _ => {
                return Err(format!(
                    "rrl-whitelist: unknown type '{kind}' (one of {})",
                    KINDS.join(", ")
                ))
            }
        };
        let key = wire::canonical(origin.as_slice());
        match self.zones.iter_mut().find(|(z, _)| *z == key) {
            Some((_, mask)) => *mask |= bits,
            None => self.zones.push((key, bits)),
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.zones.is_empty()
    }
}

/// RRL settings (nsd.conf's `rrl-*` options; NSD's defaults from [`RateLimit::nsd_defaults`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Responses per second allowed to one client network for one flow.
    pub ratelimit: u32,
    /// Over the limit, one response in `slip` goes out truncated; 0: none, 1: all.
    pub slip: u32,
    /// Client IPv4 addresses are grouped by this prefix.
    pub ipv4_prefix_length: u8,
    /// Client IPv6 addresses are grouped by this prefix.
    pub ipv6_prefix_length: u8,
    /// The limit for whitelisted flows; 0: unlimited.
    pub whitelist_ratelimit: u32,
    /// Buckets in each worker's table (at most [`MAX_SIZE`]).
    pub size: usize,
    /// Which zones' answers of which kinds get `whitelist_ratelimit`.
    pub whitelist: RateLimitWhitelist,
}

impl RateLimit {
    /// NSD's defaults: 200 per second, slip 2, /24 and /64, whitelist 2,000, 1,000,000 buckets.
    pub fn nsd_defaults() -> RateLimit {
        RateLimit {
            ratelimit: 200,
            slip: 2,
            ipv4_prefix_length: 24,
            ipv6_prefix_length: 64,
            whitelist_ratelimit: 2000,
            size: 1_000_000,
            whitelist: RateLimitWhitelist::default(),
        }
    }

    /// Whether this limits anything (NSD: `rrl-ratelimit: 0` turns it off, but for
    /// whitelisted answers while `rrl-whitelist-ratelimit` is not 0).
    pub fn is_active(&self) -> bool {
        self.ratelimit > 0 || (self.whitelist_ratelimit > 0 && !self.whitelist.is_empty())
    }
}

/// What to do with one response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Send,
    /// Send it cut to its question, with TC set ([`slip`]).
    Slip,
    Drop,
}

/// One flow's counts. All-zero is an unused bucket.
#[derive(Clone, Copy)]
#[repr(C)]
struct Bucket {
    key: u64,
    /// The second (since the limiter started, plus one) `counter` belongs to.
    second: u32,
    /// Responses in that second, this one included.
    counter: u32,
    /// Responses per second over the seconds before, halved each second.
    rate: u32,
    /// Responses over the limit so far (every `slip`-th slips).
    over: u32,
}

/// The kinds of answer NSD's RRL tells apart. `Wildcard` can be whitelisted but is never
/// found: a wildcard answer is counted as a positive one (see the module's notes).
#[derive(Clone, Copy)]
#[repr(u8)]
enum Kind {
    Positive = 1,
    Nodata,
    Nxdomain,
    Referral,
    Any,
    Dnskey,
    Rrsig,
    Error,
    Wildcard,
}

impl Kind {
    fn bit(self) -> u16 {
        1 << self as u8
    }
}

/// One worker's rate limiter.
pub(crate) struct RateLimiter {
    cfg: RateLimit,
    /// Canonical zone origin → whitelisted kinds.
    whitelist: HashMap<Box<[u8]>, u16, foldhash::fast::FixedState>,
    buckets: Box<[Bucket]>,
    hasher: foldhash::fast::FixedState,
    start: Instant,
    now: u32,
}

impl RateLimiter {
    pub(crate) fn new(cfg: RateLimit) -> RateLimiter {
        // Seeded per process: a flood cannot aim its flows at one bucket.
        let seed = foldhash::fast::RandomState::default().hash_one(0u64);
        RateLimiter::with_seed(cfg, seed)
    }

    /// A limiter whose flows land in buckets fixed by `seed` (tests need flows that do not
    /// share a bucket, which a random seed makes true only most of the time).
    fn with_seed(cfg: RateLimit, seed: u64) -> RateLimiter {
        let size = cfg.size.clamp(1, MAX_SIZE);
        RateLimiter {
            whitelist: cfg.whitelist.zones.iter().cloned().collect(),
            cfg,
            buckets: zeroed_buckets(size),
            hasher: foldhash::fast::FixedState::with_seed(seed),
            start: Instant::now(),
            now: 1,
        }
    }

    /// Reads the clock (once per batch: a second is coarse enough).
    pub(crate) fn tick(&mut self) {
        self.now = self.start.elapsed().as_secs() as u32 + 1;
    }

    /// Counts `response` (to `peer`) and says whether it may go out.
    pub(crate) fn check(&mut self, peer: &libc::sockaddr_storage, response: &[u8]) -> Verdict {
        let mut h = self.hasher.build_hasher();
        if !hash_source(peer, &self.cfg, &mut h) {
            return Verdict::Send; // not an IP peer: nothing to group by
        }
        let kind = hash_flow(response, &mut h);
        let limit = if self.whitelisted(kind, response) {
            self.cfg.whitelist_ratelimit
        } else {
            self.cfg.ratelimit
        };
        if limit == 0 {
            return Verdict::Send;
        }
        let key = h.finish() | 1; // never 0, the empty bucket's key
        let slip = self.cfg.slip;
        let now = self.now;
        let b = &mut self.buckets[(key % self.buckets.len() as u64) as usize];
        if b.key != key {
            *b = Bucket {
                key,
                second: now,
                counter: 0,
                rate: 0,
                over: 0,
            };
        }
        if b.second != now {
            let gone = now.wrapping_sub(b.second);
            b.rate = (b.rate.saturating_add(b.counter) / 2) >> gone.saturating_sub(1).min(31);
            b.counter = 0;
            b.second = now;
        }
        b.counter = b.counter.saturating_add(1);
        if b.counter <= limit && b.rate <= limit {
            return Verdict::Send;
        }
        b.over = b.over.wrapping_add(1);
        if slip > 0 && b.over % slip == 0 {
            Verdict::Slip
        } else {
            Verdict::Drop
        }
    }

    /// Whether `kind` is whitelisted in the zone of the response's question name (its
    /// longest suffix that is a whitelisted zone's origin).
    fn whitelisted(&self, kind: Kind, response: &[u8]) -> bool {
        if self.whitelist.is_empty() {
            return false;
        }
        let Some(q) = Question::read(response) else {
            return false;
        };
        let mut name = [0u8; MAX_NAME_LEN];
        let qname = &response[12..q.name_end];
        for (i, b) in qname.iter().enumerate() {
            name[i] = wire::fold(*b);
        }
        let name = &name[..qname.len()];
        let mut at = 0;
        while at < name.len() {
            if let Some(mask) = self.whitelist.get(&name[at..]) {
                return mask & kind.bit() != 0;
            }
            at += 1 + name[at] as usize;
        }
        false
    }
}

/// A slip answer made of `response` in place: its header and question, TC set, no records
/// but its OPT (NSD keeps EDNS in its slip answers too). Returns its length.
pub(crate) fn slip(response: &mut [u8]) -> usize {
    if response.len() < 12 {
        return response.len();
    }
    let end = Question::read(response).map_or(12, |q| q.end);
    if end == 12 {
        response[4..6].fill(0);
    }
    response[2] |= 0x02; // TC
    let opt = find_opt(response, end);
    response[6..12].fill(0);
    match opt {
        Some((at, len)) => {
            response.copy_within(at..at + len, end);
            response[11] = 1;
            end + len
        }
        None => end,
    }
}

/// The OPT record among the records after `pos`: its position and length.
fn find_opt(response: &[u8], mut pos: usize) -> Option<(usize, usize)> {
    let count = |i: usize| u16::from_be_bytes([response[i], response[i + 1]]) as usize;
    for _ in 0..count(6) + count(8) + count(10) {
        let start = pos;
        pos = skip_name(response, pos)?;
        let rtype = u16::from_be_bytes([*response.get(pos)?, *response.get(pos + 1)?]);
        let rdlen = u16::from_be_bytes([*response.get(pos + 8)?, *response.get(pos + 9)?]);
        pos += 10 + rdlen as usize;
        if pos > response.len() {
            return None;
        }
        if rtype == rtype::OPT && response[start] == 0 {
            return Some((start, pos - start));
        }
    }
    None
}

/// Feeds the client's network (address cut to the prefix) to `h`; false for non-IP peers.
fn hash_source(peer: &libc::sockaddr_storage, cfg: &RateLimit, h: &mut impl Hasher) -> bool {
    match peer.ss_family as i32 {
        libc::AF_INET => {
            // SAFETY: the kernel wrote a sockaddr_in for an AF_INET peer.
            let a =
                unsafe { &*(peer as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = u32::from_be(a.sin_addr.s_addr);
            let bits = cfg.ipv4_prefix_length.min(32) as u32;
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            h.write_u32(ip & mask);
            true
        }
        libc::AF_INET6 => {
            // SAFETY: the kernel wrote a sockaddr_in6 for an AF_INET6 peer.
            let a =
                unsafe { &*(peer as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            let ip = u128::from_be_bytes(a.sin6_addr.s6_addr);
            let bits = cfg.ipv6_prefix_length.min(128) as u32;
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            h.write_u128(ip & mask);
            true
        }
        _ => false,
    }
}

/// Feeds the response's kind and the name (and type) it is counted under to `h`; returns
/// the kind.
fn hash_flow(response: &[u8], h: &mut impl Hasher) -> Kind {
    let mut name = [0u8; MAX_NAME_LEN];
    let Some(q) = Question::read(response) else {
        h.write_u8(Kind::Error as u8);
        return Kind::Error;
    };
    let rc = (response[3] & 0x0F) as u16;
    let aa = response[2] & 0x04 != 0;
    let ancount = u16::from_be_bytes([response[6], response[7]]);
    let nscount = u16::from_be_bytes([response[8], response[9]]);
    let (kind, by_qname) = match rc {
        rcode::NXDOMAIN => (Kind::Nxdomain, false),
        rcode::NOERROR if q.qtype == rtype::ANY => (Kind::Any, true),
        rcode::NOERROR if ancount > 0 => match q.qtype {
            rtype::DNSKEY => (Kind::Dnskey, true),
            rtype::RRSIG => (Kind::Rrsig, true),
            _ => (Kind::Positive, true),
        },
        rcode::NOERROR if !aa && nscount > 0 => (Kind::Referral, false),
        rcode::NOERROR => (Kind::Nodata, true),
        _ => {
            h.write_u8(Kind::Error as u8);
            return Kind::Error;
        }
    };
    h.write_u8(kind as u8);
    if by_qname {
        h.write_u16(q.qtype);
        hash_name_folded(&response[12..q.name_end], h);
        return kind;
    }
    // NXDOMAIN and referrals: the first authority record's owner (the zone's SOA, the
    // delegation's NS); without one, the query name.
    match authority_owner(response, q.end, ancount, &mut name) {
        Some(len) => hash_name_folded(&name[..len], h),
        None => hash_name_folded(&response[12..q.name_end], h),
    }
    kind
}

fn hash_name_folded(name: &[u8], h: &mut impl Hasher) {
    for &b in name {
        h.write_u8(wire::fold(b));
    }
}

/// The question of a response: where its name ends, its type, where it ends.
struct Question {
    name_end: usize,
    qtype: u16,
    end: usize,
}

impl Question {
    fn read(response: &[u8]) -> Option<Question> {
        if response.len() < 12 || u16::from_be_bytes([response[4], response[5]]) != 1 {
            return None;
        }
        let name_end = wire::name_end(response, 12)?;
        let t = response.get(name_end..name_end + 4)?;
        Some(Question {
            name_end,
            qtype: u16::from_be_bytes([t[0], t[1]]),
            end: name_end + 4,
        })
    }
}

/// Reads the owner of the first authority record into `out`; returns its length.
fn authority_owner(
    response: &[u8],
    mut pos: usize,
    ancount: u16,
    out: &mut [u8; MAX_NAME_LEN],
) -> Option<usize> {
    for _ in 0..ancount {
        pos = skip_name(response, pos)?;
        let rdlen = u16::from_be_bytes([*response.get(pos + 8)?, *response.get(pos + 9)?]);
        pos += 10 + rdlen as usize;
    }
    wire::read_name(response, pos, out).map(|(_, len)| len)
}

/// The position after a possibly compressed name at `pos`.
fn skip_name(msg: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        let b = *msg.get(pos)?;
        match b & 0xC0 {
            0xC0 => return Some(pos + 2),
            0x00 if b == 0 => return Some(pos + 1),
            0x00 => pos += 1 + b as usize,
            _ => return None,
        }
    }
}

/// `n` zeroed buckets, reserved without being written (the kernel hands out zero pages).
fn zeroed_buckets(n: usize) -> Box<[Bucket]> {
    let layout = Layout::array::<Bucket>(n).expect("bucket table size fits memory");
    // SAFETY: the layout is non-zero (n ≥ 1) and all-zero bytes are a valid Bucket; the
    // allocation is handed to a Box of exactly that layout.
    unsafe {
        let p = std::alloc::alloc_zeroed(layout).cast::<Bucket>();
        if p.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        Box::from_raw(std::ptr::slice_from_raw_parts_mut(p, n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(ip: [u8; 4], port: u16) -> libc::sockaddr_storage {
        let addr = std::net::SocketAddr::from((ip, port));
        let s = socket2::SockAddr::from(addr);
        // SAFETY: SockAddr holds a sockaddr_storage.
        unsafe { *s.as_ptr().cast::<libc::sockaddr_storage>() }
    }

    /// A NOERROR answer with one A record for `name` (wire form), AA set.
    fn answer(name: &[u8], rc: u8) -> Vec<u8> {
        let mut m = vec![0, 1, 0x84, rc, 0, 1, 0, (rc == 0) as u8, 0, 0, 0, 0];
        m.extend_from_slice(name);
        m.extend_from_slice(&[0, 1, 0, 1]);
        if rc == 0 {
            m.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
        }
        m
    }

    fn limiter(ratelimit: u32, slip: u32) -> RateLimiter {
        let mut cfg = RateLimit::nsd_defaults();
        cfg.ratelimit = ratelimit;
        cfg.slip = slip;
        cfg.size = 1024;
        RateLimiter::with_seed(cfg, 0x5eed)
    }

    #[test]
    fn within_a_second_the_limit_passes_and_the_rest_slips_one_in_slip() {
        let mut rl = limiter(10, 3);
        let r = answer(b"\x03www\x01t\x00", 0);
        let p = peer([192, 0, 2, 7], 5300);
        let v: Vec<Verdict> = (0..19).map(|_| rl.check(&p, &r)).collect();
        assert!(v[..10].iter().all(|v| *v == Verdict::Send));
        let over = &v[10..];
        let slips = over.iter().filter(|v| **v == Verdict::Slip).count();
        assert_eq!(slips, 3, "{over:?}");
        assert_eq!(over[2], Verdict::Slip);
        assert!(over.iter().all(|v| *v != Verdict::Send));
    }

    #[test]
    fn flows_are_per_network_and_per_name() {
        let mut rl = limiter(2, 0);
        let www = answer(b"\x03www\x01t\x00", 0);
        let web = answer(b"\x03web\x01t\x00", 0);
        let a = peer([192, 0, 2, 7], 1);
        let same_net = peer([192, 0, 2, 200], 2);
        let other_net = peer([198, 51, 100, 1], 1);
        assert_eq!(rl.check(&a, &www), Verdict::Send);
        assert_eq!(rl.check(&same_net, &www), Verdict::Send);
        assert_eq!(rl.check(&a, &www), Verdict::Drop, "one /24, one flow");
        assert_eq!(rl.check(&other_net, &www), Verdict::Send);
        assert_eq!(rl.check(&a, &web), Verdict::Send, "another name");
        // The name's case does not make another flow.
        assert_eq!(rl.check(&a, &answer(b"\x03WWW\x01t\x00", 0)), Verdict::Drop);
    }

    #[test]
    fn ipv6_clients_are_grouped_by_their_prefix() {
        let mut rl = limiter(1, 0);
        let v6 = |text: &str| {
            let addr: std::net::SocketAddr = text.parse().unwrap();
            let s = socket2::SockAddr::from(addr);
            // SAFETY: SockAddr holds a sockaddr_storage.
            unsafe { *s.as_ptr().cast::<libc::sockaddr_storage>() }
        };
        let r = answer(b"\x03www\x01t\x00", 0);
        assert_eq!(rl.check(&v6("[2001:db8:1:2::1]:53"), &r), Verdict::Send);
        assert_eq!(
            rl.check(&v6("[2001:db8:1:2:ffff::9]:99"), &r),
            Verdict::Drop,
            "one /64"
        );
        assert_eq!(
            rl.check(&v6("[2001:db8:1:3::1]:53"), &r),
            Verdict::Send,
            "another /64"
        );
    }

    #[test]
    fn nxdomain_counts_per_zone_not_per_name() {
        let mut rl = limiter(2, 0);
        let p = peer([192, 0, 2, 7], 1);
        // NXDOMAIN with the zone's SOA owner (compressed into the question) in authority.
        let nx = |label: &[u8]| {
            let mut m = vec![0, 1, 0x84, 3, 0, 1, 0, 0, 0, 1, 0, 0];
            m.push(label.len() as u8);
            m.extend_from_slice(label);
            m.extend_from_slice(b"\x01t\x00\x00\x01\x00\x01");
            let zone_at = 12 + 1 + label.len();
            m.extend_from_slice(&[0xC0, zone_at as u8, 0, 6, 0, 1, 0, 0, 0, 60, 0, 0]);
            m
        };
        assert_eq!(rl.check(&p, &nx(b"a")), Verdict::Send);
        assert_eq!(rl.check(&p, &nx(b"bb")), Verdict::Send);
        assert_eq!(rl.check(&p, &nx(b"ccc")), Verdict::Drop);
    }

    #[test]
    fn whitelisted_kinds_of_a_zone_get_the_whitelist_limit() {
        let mut cfg = RateLimit::nsd_defaults();
        cfg.ratelimit = 1;
        cfg.whitelist_ratelimit = 3;
        cfg.slip = 0;
        cfg.size = 1024;
        let zone = crate::parse_name("t").unwrap();
        cfg.whitelist.add(&zone, "positive").unwrap();
        assert!(cfg.whitelist.add(&zone, "sometimes").is_err());
        let mut rl = RateLimiter::new(cfg);
        let p = peer([192, 0, 2, 7], 1);
        let www = answer(b"\x03WWW\x01T\x00", 0);
        let sent = (0..5)
            .filter(|_| rl.check(&p, &www) == Verdict::Send)
            .count();
        assert_eq!(sent, 3, "a positive answer in t. is whitelisted");
        // REFUSED (an error) is not whitelisted: the ordinary limit of 1.
        let refused = answer(b"\x03www\x01u\x00", 5);
        let sent = (0..5)
            .filter(|_| rl.check(&p, &refused) == Verdict::Send)
            .count();
        assert_eq!(sent, 1);
    }

    #[test]
    fn the_next_seconds_forgive_slowly() {
        let mut rl = limiter(10, 0);
        let r = answer(b"\x03www\x01t\x00", 0);
        let p = peer([192, 0, 2, 7], 1);
        for _ in 0..40 {
            rl.check(&p, &r);
        }
        // One second on: the average (20) is still over the limit.
        rl.now += 1;
        assert_eq!(rl.check(&p, &r), Verdict::Drop);
        // Three seconds later it has halved below.
        rl.now += 3;
        assert_eq!(rl.check(&p, &r), Verdict::Send);
    }

    #[test]
    fn a_slip_answer_keeps_the_opt_record() {
        let mut r = answer(b"\x03www\x01t\x00", 0);
        r[11] = 1; // ARCOUNT
        let opt = [0, 0, 41, 0x04, 0xD0, 0, 0, 0x80, 0, 0, 0];
        r.extend_from_slice(&opt);
        let n = slip(&mut r);
        assert_eq!(n, 12 + 7 + 4 + opt.len());
        assert_eq!(&r[4..12], &[0, 1, 0, 0, 0, 0, 0, 1]);
        assert_eq!(&r[12 + 7 + 4..n], &opt);
    }

    #[test]
    fn a_slip_answer_is_header_and_question_with_tc() {
        let mut r = answer(b"\x03www\x01t\x00", 0);
        let n = slip(&mut r);
        assert_eq!(n, 12 + 7 + 4);
        assert_eq!(r[2] & 0x02, 0x02);
        assert_eq!(&r[4..12], &[0, 1, 0, 0, 0, 0, 0, 0]);
    }
}
