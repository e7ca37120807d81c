//! `balance leastconn` (lb_fwlc.c): the server with the fewest connections per unit of weight;
//! among equals, the one repositioned longest ago (haproxy's tree keeps insertion order).

use super::{eligible, saturated, Balancer, Key, Loads, SrvInfo, SRV_EWGHT_MAX};

pub struct LeastConn {
    el: Vec<bool>,
}

impl Default for LeastConn {
    fn default() -> Self {
        Self::new()
    }
}

impl LeastConn {
    pub fn new() -> LeastConn {
        LeastConn { el: Vec::new() }
    }
}

/// haproxy's fwlc key: `(inflight + 1) * SRV_EWGHT_MAX / eweight`, 0 when idle.
pub fn fwlc_key(inflight: u32, eweight: u32) -> u64 {
    if inflight == 0 || eweight == 0 {
        0
    } else {
        (inflight as u64 + 1) * SRV_EWGHT_MAX as u64 / eweight as u64
    }
}

impl Balancer for LeastConn {
    fn rebuild(&mut self, servers: &[SrvInfo], allbackups: bool) {
        self.el = eligible(servers, allbackups);
    }

    fn pick(
        &mut self,
        _key: Key,
        servers: &[SrvInfo],
        loads: &dyn Loads,
        avoid: Option<usize>,
    ) -> Option<usize> {
        let mut best: Option<(u64, u64, usize)> = None;
        let mut avoided = None;
        for (i, s) in servers.iter().enumerate() {
            if !self.el.get(i).copied().unwrap_or(false) || beyond_queue(s, loads, i) {
                continue;
            }
            if Some(i) == avoid {
                avoided = Some(i);
                continue;
            }
            let k = (
                fwlc_key(loads.served(i) + loads.queued(i), s.eweight),
                loads.repositioned(i),
                i,
            );
            if best.is_none_or(|b| k < b) {
                best = Some(k);
            }
        }
        best.map(|b| b.2).or(avoided)
    }
}

/// leastconn skips a server only when its queue would pass `maxqueue` too: with `maxqueue`
/// set, a full server may still take the request into its own queue (haproxy's lb_fwlc).
fn beyond_queue(s: &SrvInfo, loads: &dyn Loads, i: usize) -> bool {
    if s.maxqueue == 0 {
        return saturated(s, loads, i);
    }
    s.maxconn != 0 && loads.served(i) + loads.queued(i) >= s.maxconn + s.maxqueue
}
