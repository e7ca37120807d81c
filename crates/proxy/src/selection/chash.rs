//! `hash-type consistent` (lb_chash.c): each server owns `eweight` points on a 32-bit ring,
//! at `full_hash(id * SRV_EWGHT_RANGE + n)`; a key goes to the closest point.

use super::hash::full_hash;
use super::{eligible, saturated, Balancer, Key, Loads, SrvInfo, SRV_EWGHT_RANGE};

pub struct Chash {
    /// (point, server), sorted by point.
    ring: Vec<(u32, usize)>,
    /// Index in `ring` of the last node used by round robin.
    last: Option<usize>,
}

impl Default for Chash {
    fn default() -> Self {
        Self::new()
    }
}

impl Chash {
    pub fn new() -> Chash {
        Chash {
            ring: Vec::new(),
            last: None,
        }
    }

    /// The server closest to `hash` on the ring.
    pub fn lookup(&self, hash: u32) -> Option<usize> {
        if self.ring.is_empty() {
            return None;
        }
        let n = self.ring.len();
        let ni = self.ring.partition_point(|&(k, _)| k < hash);
        let ni = if ni == n { 0 } else { ni };
        let pi = if ni == 0 { n - 1 } else { ni - 1 };
        let (nk, ns) = self.ring[ni];
        let (pk, ps) = self.ring[pi];
        let dp = hash.wrapping_sub(pk);
        let dn = nk.wrapping_sub(hash);
        Some(if dp <= dn { ps } else { ns })
    }

    fn next_rr(
        &mut self,
        servers: &[SrvInfo],
        loads: &dyn Loads,
        avoid: Option<usize>,
    ) -> Option<usize> {
        let n = self.ring.len();
        if n == 0 {
            return None;
        }
        let start = self.last.map(|l| (l + 1) % n).unwrap_or(0);
        let mut avoided = None;
        for k in 0..n {
            let idx = (start + k) % n;
            let s = self.ring[idx].1;
            if saturated(&servers[s], loads, s) {
                continue;
            }
            if Some(s) == avoid {
                avoided.get_or_insert(idx);
                continue;
            }
            self.last = Some(idx);
            return Some(s);
        }
        avoided.map(|idx| {
            self.last = Some(idx);
            self.ring[idx].1
        })
    }
}

impl Balancer for Chash {
    fn rebuild(&mut self, servers: &[SrvInfo], allbackups: bool) {
        let el = eligible(servers, allbackups);
        self.ring.clear();
        self.last = None;
        for (i, s) in servers.iter().enumerate() {
            if !el[i] {
                continue;
            }
            for node in 0..s.eweight {
                self.ring.push((
                    full_hash(s.id.wrapping_mul(SRV_EWGHT_RANGE).wrapping_add(node)),
                    i,
                ));
            }
        }
        self.ring.sort_by_key(|&(k, _)| k);
    }

    fn pick(
        &mut self,
        key: Key,
        servers: &[SrvInfo],
        loads: &dyn Loads,
        avoid: Option<usize>,
    ) -> Option<usize> {
        match key {
            Key::Hash(h) => self.lookup(h),
            Key::None => self.next_rr(servers, loads, avoid),
        }
    }
}
