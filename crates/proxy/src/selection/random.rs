//! `balance random[(draws)]`: draw `draws` servers at random on the consistent-hash ring
//! (so by weight) and keep the least loaded, as haproxy's `get_server_rnd` does.

use std::cell::Cell;

use super::chash::Chash;
use super::leastconn::fwlc_key;
use super::{Balancer, Key, Loads, SrvInfo};

pub struct Random {
    ring: Chash,
    draws: u32,
    state: Cell<u64>,
}

impl Random {
    pub fn new(draws: u32) -> Random {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9e3779b97f4a7c15)
            ^ (&draws as *const u32 as u64);
        Random {
            ring: Chash::new(),
            draws: draws.max(1),
            state: Cell::new(seed | 1),
        }
    }

    fn rand32(&self) -> u32 {
        // xorshift64*
        let mut x = self.state.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state.set(x);
        (x.wrapping_mul(0x2545F4914F6CDD1D) >> 32) as u32
    }
}

impl Balancer for Random {
    fn rebuild(&mut self, servers: &[SrvInfo], allbackups: bool) {
        self.ring.rebuild(servers, allbackups);
    }

    fn pick(
        &mut self,
        _key: Key,
        servers: &[SrvInfo],
        loads: &dyn Loads,
        avoid: Option<usize>,
    ) -> Option<usize> {
        let mut prev: Option<usize> = None;
        for _ in 0..self.draws {
            let mut cur = self.ring.lookup(self.rand32())?;
            if Some(cur) == avoid {
                if let Some(p) = prev {
                    cur = p;
                }
            }
            if let Some(p) = prev {
                let load =
                    |i: usize| fwlc_key(loads.served(i) + loads.queued(i), servers[i].eweight);
                if p != cur && load(cur) > load(p) {
                    cur = p;
                }
            }
            prev = Some(cur);
        }
        prev
    }
}
