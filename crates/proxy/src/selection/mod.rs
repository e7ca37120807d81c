//! Server selection: one balancing algorithm per file behind [`Balancer`], each reproducing the
//! order haproxy's own algorithm gives (lb_fwrr.c, lb_map.c, lb_chash.c, lb_fwlc.c, lb_fas.c).
//!
//! A balancer is per worker thread (no lock on the forwarding path). It is rebuilt from a
//! snapshot of the servers ([`SrvInfo`]) whenever a server's state or weight changes, and reads
//! the live, shared load figures (connections served, queued) through [`Loads`] when it picks.

mod chash;
mod first;
mod fwrr;
pub mod hash;
mod leastconn;
mod map;
mod random;

pub use chash::Chash;
pub use first::First;
pub use fwrr::Fwrr;
pub use leastconn::LeastConn;
pub use map::Map;
pub use random::Random;

use crate::config::{Balance, HashMethod, HashType};

/// haproxy's weight scale: an effective weight is the user weight (0..=256) times this.
pub const BE_WEIGHT_SCALE: u32 = 16;
/// `SRV_UWGHT_MAX`.
pub const SRV_UWGHT_MAX: u32 = 256;
/// `SRV_UWGHT_RANGE`.
pub const SRV_UWGHT_RANGE: u32 = 256;
/// `SRV_EWGHT_MAX`.
pub const SRV_EWGHT_MAX: u32 = SRV_UWGHT_MAX * BE_WEIGHT_SCALE;
/// `SRV_EWGHT_RANGE`.
pub const SRV_EWGHT_RANGE: u32 = SRV_UWGHT_RANGE * BE_WEIGHT_SCALE;

/// What a balancer knows of one server when it is (re)built.
#[derive(Clone, Copy, Debug)]
pub struct SrvInfo {
    /// Effective weight (user weight × 16, reduced during slowstart). 0: takes no traffic.
    pub eweight: u32,
    /// Serves only when no active server can.
    pub backup: bool,
    /// UP (or DRAIN: usable for persistence only, so not here) and not in maintenance.
    pub usable: bool,
    /// The numeric id (`puid`: 1, 2, ... in declaration order).
    pub id: u32,
    /// `maxconn` (0: unlimited).
    pub maxconn: u32,
    /// `maxqueue` (0: unlimited); leastconn may queue on a full server up to it.
    pub maxqueue: u32,
}

/// The live load of servers, shared by every thread.
pub trait Loads {
    /// Connections being served now.
    fn served(&self, i: usize) -> u32;
    /// Requests waiting in the server's queue.
    fn queued(&self, i: usize) -> u32;
    /// For leastconn: the order in which servers were last repositioned (smaller: earlier).
    fn repositioned(&self, i: usize) -> u64 {
        i as u64
    }
}

/// Loads that are all zero (tests, and algorithms that ignore load).
pub struct NoLoad;

impl Loads for NoLoad {
    fn served(&self, _: usize) -> u32 {
        0
    }
    fn queued(&self, _: usize) -> u32 {
        0
    }
}

/// Whether server `i` has no free slot (haproxy skips it and lets the request queue elsewhere).
pub fn saturated(info: &SrvInfo, loads: &dyn Loads, i: usize) -> bool {
    info.maxconn != 0 && (loads.queued(i) > 0 || loads.served(i) >= info.maxconn)
}

/// The servers that take traffic, as haproxy's `recount_servers` picks them: every usable
/// active server; when there is none, the first usable backup (or every usable backup with
/// `option allbackups`).
pub fn eligible(servers: &[SrvInfo], allbackups: bool) -> Vec<bool> {
    let act = servers
        .iter()
        .any(|s| !s.backup && s.usable && s.eweight > 0);
    let mut out: Vec<bool> = servers
        .iter()
        .map(|s| s.usable && s.eweight > 0 && s.backup != act)
        .collect();
    if !act && !allbackups {
        // Only the first usable backup, in declaration order.
        let mut seen = false;
        for e in out.iter_mut() {
            if *e {
                if seen {
                    *e = false;
                }
                seen = true;
            }
        }
    }
    out
}

/// What the hashing algorithms hash for one request (computed by the data path).
#[derive(Clone, Copy, Debug)]
pub enum Key {
    /// Nothing to hash (algorithm needs none, or the parameter is absent: fall back to RR).
    None,
    /// A 32-bit hash already computed.
    Hash(u32),
}

/// One balancing algorithm.
pub trait Balancer {
    /// Rebuilds the state after a change of servers, states or weights.
    fn rebuild(&mut self, servers: &[SrvInfo], allbackups: bool);
    /// Picks a server for a request with hashing key `key`, avoiding `avoid` if possible.
    fn pick(
        &mut self,
        key: Key,
        servers: &[SrvInfo],
        loads: &dyn Loads,
        avoid: Option<usize>,
    ) -> Option<usize>;
}

/// Builds the balancer for `balance` + `hash-type`.
pub fn new_balancer(balance: &Balance, hash_type: &HashType) -> Box<dyn Balancer> {
    let consistent = hash_type.method == HashMethod::Consistent;
    match balance {
        Balance::RoundRobin => {
            if consistent {
                Box::new(Chash::new())
            } else {
                Box::new(Fwrr::new())
            }
        }
        Balance::StaticRr => Box::new(Map::new()),
        Balance::LeastConn => Box::new(LeastConn::new()),
        Balance::First => Box::new(First::new()),
        Balance::Random { draws } => Box::new(Random::new(*draws)),
        Balance::Source | Balance::Uri { .. } | Balance::UrlParam { .. } | Balance::Hdr { .. } => {
            if consistent {
                Box::new(Chash::new())
            } else {
                Box::new(Map::new())
            }
        }
    }
}

#[cfg(test)]
mod tests;
