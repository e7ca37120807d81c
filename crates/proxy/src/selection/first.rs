//! `balance first` (lb_fas.c): the server with the lowest id that still has a free slot.

use super::{eligible, saturated, Balancer, Key, Loads, SrvInfo};

pub struct First {
    el: Vec<bool>,
}

impl Default for First {
    fn default() -> Self {
        Self::new()
    }
}

impl First {
    pub fn new() -> First {
        First { el: Vec::new() }
    }
}

impl Balancer for First {
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
        let mut order: Vec<usize> = (0..servers.len()).filter(|&i| self.el[i]).collect();
        order.sort_by_key(|&i| servers[i].id);
        let mut avoided = None;
        for i in order {
            if saturated(&servers[i], loads, i) {
                continue;
            }
            if Some(i) == avoid {
                avoided = Some(i);
                continue;
            }
            return Some(i);
        }
        avoided
    }
}
