//! Whole responses kept per worker thread, so a repeated question costs one hash lookup, one
//! copy and a few patched octets instead of the answer logic.
//!
//! A response depends only on the zone set, the question (name, type, class), EDNS presence,
//! the DO bit and the size limit. Everything else a client varies — the ID, RD and CD, the
//! case of the question name — is copied from the query into the cached bytes; compression
//! pointers into the question stay valid because a name of the same length sits at the same
//! offsets. The cache holds the zone set it was filled from and empties itself when another
//! is published, so a reload is seen by the next batch. It lives in fixed storage reserved
//! once: a miss copies into it, a full cache starts over, nothing is allocated per query.

use std::sync::Arc;

use crate::answer::{respond_parsed, AnswerConfig, Outcome, Transport, ZoneSet};
use crate::message::{self, opcode, ParseError};
use crate::zone::rtype;

/// Slots of the open-addressing table (a power of two).
const SLOTS: usize = 1 << 15;
/// Entries kept before the cache starts over (keeps probe chains short).
const ENTRIES: usize = SLOTS / 2;
/// Octets of keys and responses kept before the cache starts over.
const ARENA: usize = 8 << 20;
/// Responses longer than this are answered but not kept.
const MAX_CACHED: usize = 4096;

#[derive(Clone, Copy)]
struct Entry {
    hash: u64,
    key_at: u32,
    key_len: u16,
    resp_len: u16,
}

/// A per-thread response cache in front of [`respond_parsed`].
pub struct ResponseCache {
    zones: Option<Arc<ZoneSet>>,
    slots: Vec<u32>,
    entries: Vec<Entry>,
    arena: Vec<u8>,
    key: Vec<u8>,
    hasher: foldhash::fast::FixedState,
}

impl Default for ResponseCache {
    fn default() -> Self {
        Self::new()
    }
}

impl ResponseCache {
    pub fn new() -> ResponseCache {
        ResponseCache {
            zones: None,
            slots: vec![0; SLOTS],
            entries: Vec::with_capacity(ENTRIES),
            arena: Vec::with_capacity(ARENA),
            key: Vec::with_capacity(512),
            hasher: foldhash::fast::FixedState::with_seed(0x5eed_d0e5),
        }
    }

    fn clear(&mut self) {
        self.slots.iter_mut().for_each(|s| *s = 0);
        self.entries.clear();
        self.arena.clear();
    }

    /// Makes the cache answer from `zones` (emptying it when they are new).
    pub fn use_zones(&mut self, zones: &Arc<ZoneSet>) {
        if !self.zones.as_ref().is_some_and(|z| Arc::ptr_eq(z, zones)) {
            self.clear();
            self.zones = Some(zones.clone());
        }
    }

    /// Answers `msg` as [`crate::respond`] would, from the cache when it can. Call
    /// [`ResponseCache::use_zones`] first with the zone set to answer from.
    pub fn respond(
        &mut self,
        msg: &[u8],
        transport: Transport,
        cfg: &AnswerConfig,
        out: &mut Vec<u8>,
    ) -> Outcome {
        let Some(zones) = self.zones.clone() else {
            return Outcome::Drop;
        };
        let q = match message::parse_query(msg) {
            Ok(q) => q,
            Err(ParseError::Drop) => return Outcome::Drop,
            Err(ParseError::FormErr { question_end }) => {
                return Outcome::Reply(crate::answer::formerr(msg, question_end, out))
            }
        };
        let cacheable = q.opcode == opcode::QUERY
            && q.tsig_at.is_none()
            && q.edns.is_none_or(|e| e.version == 0)
            && !matches!(q.qtype, rtype::AXFR | rtype::IXFR);
        if !cacheable {
            return respond_parsed(&zones, msg, &q, transport, cfg, out);
        }
        let limit: u16 = match (transport, q.edns) {
            (Transport::Tcp, _) => 0xFFFF,
            (Transport::Udp, None) => 512,
            (Transport::Udp, Some(e)) => e.payload.min(cfg.udp_max).max(512),
        };
        self.key.clear();
        let e = q.edns.map_or(0u8, |e| 1 | (e.dnssec_ok as u8) << 1);
        self.key.push(e);
        self.key.extend_from_slice(&limit.to_be_bytes());
        self.key.extend_from_slice(&q.qtype.to_be_bytes());
        self.key.extend_from_slice(&q.qclass.to_be_bytes());
        self.key.extend_from_slice(q.qname());
        let hash = std::hash::BuildHasher::hash_one(&self.hasher, &self.key[..]);
        let mask = SLOTS - 1;
        let mut slot = hash as usize & mask;
        loop {
            let s = self.slots[slot];
            if s == 0 {
                break;
            }
            let en = self.entries[s as usize - 1];
            let k = en.key_at as usize;
            if en.hash == hash && self.arena[k..k + en.key_len as usize] == self.key[..] {
                let r = k + en.key_len as usize;
                let resp = &self.arena[r..r + en.resp_len as usize];
                out.clear();
                out.extend_from_slice(resp);
                // The query's own ID, RD and CD, and its question as written.
                out[..2].copy_from_slice(&msg[..2]);
                out[2] = (out[2] & !0x01) | (msg[2] & 0x01);
                out[3] = (out[3] & !0x10) | (msg[3] & 0x10);
                out[12..q.question_end].copy_from_slice(&msg[12..q.question_end]);
                return Outcome::Reply(resp.len());
            }
            slot = (slot + 1) & mask;
        }
        let outcome = respond_parsed(&zones, msg, &q, transport, cfg, out);
        if let Outcome::Reply(n) = outcome {
            if n <= MAX_CACHED {
                if self.entries.len() >= ENTRIES || self.arena.len() + self.key.len() + n > ARENA {
                    self.clear();
                    slot = hash as usize & mask;
                    while self.slots[slot] != 0 {
                        slot = (slot + 1) & mask;
                    }
                }
                let key_at = self.arena.len() as u32;
                self.arena.extend_from_slice(&self.key);
                self.arena.extend_from_slice(&out[..n]);
                self.entries.push(Entry {
                    hash,
                    key_at,
                    key_len: self.key.len() as u16,
                    resp_len: n as u16,
                });
                self.slots[slot] = self.entries.len() as u32;
            }
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Zone;

    fn query(name: &[u8], id: u16, rd: bool) -> Vec<u8> {
        let mut m = id.to_be_bytes().to_vec();
        m.extend_from_slice(&[rd as u8, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
        m.extend_from_slice(name);
        m.extend_from_slice(&[0, 1, 0, 1]);
        m
    }

    #[test]
    fn cached_answers_equal_fresh_ones_and_follow_reloads() {
        let text = "$ORIGIN c.test.\n@ 60 IN SOA ns hm 1 60 30 600 60\n@ 60 IN NS ns\nns 60 IN A 192.0.2.1\nwww 60 IN CNAME ns\n";
        let z = crate::parse_zone(text, None, "c.zone").unwrap();
        let zones = Arc::new(ZoneSet::new([Arc::new(
            Zone::build(&z.origin, z.records.clone()).unwrap(),
        )]));
        let mut cache = ResponseCache::new();
        cache.use_zones(&zones);
        let cfg = AnswerConfig::default();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for (i, name) in [
            &b"\x03www\x01c\x04test\x00"[..],
            b"\x03WwW\x01C\x04tEsT\x00",
            b"\x03www\x01c\x04test\x00",
        ]
        .iter()
        .enumerate()
        {
            let m = query(name, 100 + i as u16, i % 2 == 0);
            let Outcome::Reply(n) = cache.respond(&m, Transport::Udp, &cfg, &mut a) else {
                panic!()
            };
            let Outcome::Reply(k) = crate::respond(&zones, &m, Transport::Udp, &cfg, &mut b) else {
                panic!()
            };
            assert_eq!(a[..n], b[..k], "query {i}");
        }
        // A new zone set empties the cache.
        let text2 = text
            .replace("192.0.2.1", "192.0.2.2")
            .replace(" 1 60 30", " 2 60 30");
        let z2 = crate::parse_zone(&text2, None, "c.zone").unwrap();
        let zones2 = Arc::new(ZoneSet::new([Arc::new(
            Zone::build(&z2.origin, z2.records).unwrap(),
        )]));
        cache.use_zones(&zones2);
        let m = query(b"\x03www\x01c\x04test\x00", 7, false);
        let Outcome::Reply(n) = cache.respond(&m, Transport::Udp, &cfg, &mut a) else {
            panic!()
        };
        assert!(a[..n].windows(4).any(|w| w == [192, 0, 2, 2]));
    }
}
