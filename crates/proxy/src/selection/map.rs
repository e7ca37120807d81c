//! `balance static-rr` and map-based hashing (lb_map.c): a table of `total weight` slots
//! filled so that declaration order wins among equal weights; round robin walks it, hashes
//! index it modulo its length.

use super::{eligible, saturated, Balancer, Key, Loads, SrvInfo};

pub struct Map {
    slots: Vec<usize>,
    rr_idx: usize,
}

impl Default for Map {
    fn default() -> Self {
        Self::new()
    }
}

impl Map {
    pub fn new() -> Map {
        Map {
            slots: Vec::new(),
            rr_idx: 0,
        }
    }

    /// Round robin over the map (also the fallback of hashing algorithms without a key).
    pub fn next_rr(
        &mut self,
        servers: &[SrvInfo],
        loads: &dyn Loads,
        avoid: Option<usize>,
    ) -> Option<usize> {
        let tot = self.slots.len();
        if tot == 0 {
            return None;
        }
        let mut newidx = self.rr_idx;
        let mut avoided = None;
        let mut avoididx = 0;
        loop {
            if newidx == tot {
                newidx = 0;
            }
            let srv = self.slots[newidx];
            newidx += 1;
            if !saturated(&servers[srv], loads, srv) {
                if Some(srv) != avoid {
                    self.rr_idx = newidx;
                    return Some(srv);
                }
                avoided = Some(srv);
                avoididx = newidx;
            }
            if newidx == self.rr_idx {
                break;
            }
        }
        if avoided.is_some() {
            self.rr_idx = avoididx;
        }
        avoided
    }
}

impl Balancer for Map {
    fn rebuild(&mut self, servers: &[SrvInfo], allbackups: bool) {
        let el = eligible(servers, allbackups);
        let tot: u32 = servers
            .iter()
            .zip(&el)
            .filter(|(_, &e)| e)
            .map(|(s, _)| s.eweight)
            .sum();
        self.slots.clear();
        self.rr_idx = 0;
        let mut wscore: Vec<i64> = vec![0; servers.len()];
        let tot_i = tot as i64;
        for _ in 0..tot {
            let mut best: Option<usize> = None;
            let mut max = 0i64;
            for (i, s) in servers.iter().enumerate() {
                if !el[i] {
                    continue;
                }
                if tot == 1 {
                    best = Some(i);
                    break;
                }
                wscore[i] += s.eweight as i64;
                let v = (wscore[i] + tot_i) / tot_i;
                if best.is_none() || v > max {
                    max = v;
                    best = Some(i);
                }
            }
            if let Some(b) = best {
                self.slots.push(b);
                wscore[b] -= tot_i;
            }
        }
    }

    fn pick(
        &mut self,
        key: Key,
        servers: &[SrvInfo],
        loads: &dyn Loads,
        avoid: Option<usize>,
    ) -> Option<usize> {
        match key {
            Key::Hash(h) if !self.slots.is_empty() => {
                Some(self.slots[h as usize % self.slots.len()])
            }
            _ => self.next_rr(servers, loads, avoid),
        }
    }
}
