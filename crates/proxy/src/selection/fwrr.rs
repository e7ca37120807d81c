//! `balance roundrobin`: haproxy's "fast weighted round robin" (lb_fwrr.c), reproduced step by
//! step so that the order of servers is the one haproxy gives for the same weights.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::{
    eligible, saturated, Balancer, Key, Loads, SrvInfo, BE_WEIGHT_SCALE, SRV_EWGHT_MAX,
    SRV_UWGHT_RANGE,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tree {
    None,
    Curr,
    Init,
    Next,
}

#[derive(Clone, Copy, Debug)]
struct Pos {
    npos: u32,
    rweight: u32,
    eweight: u32,
    tree: Tree,
    key: (u32, u64),
}

/// One of haproxy's three ordered trees. Only its least entry is ever looked at or taken
/// (a server is taken out only right after being picked as the least of its tree), so a
/// binary heap does: ordered by key, then by insertion, as haproxy's ebtree orders
/// duplicates.
type Queue = BinaryHeap<Reverse<((u32, u64), usize)>>;

/// The fwrr state of one group (haproxy keeps one for actives and one for backups; only the
/// group in use is ever walked, so one suffices here, rebuilt when the group changes).
pub struct Fwrr {
    curr: Queue,
    init: Queue,
    next: Queue,
    curr_pos: u32,
    curr_weight: u32,
    next_weight: u32,
    pos: Vec<Pos>,
    seq: u64,
}

impl Default for Fwrr {
    fn default() -> Self {
        Self::new()
    }
}

impl Fwrr {
    pub fn new() -> Fwrr {
        Fwrr {
            curr: Queue::new(),
            init: Queue::new(),
            next: Queue::new(),
            curr_pos: 0,
            curr_weight: 0,
            next_weight: 0,
            pos: Vec::new(),
            seq: 0,
        }
    }

    fn tree(&mut self, t: Tree) -> &mut Queue {
        match t {
            Tree::Curr => &mut self.curr,
            Tree::Init => &mut self.init,
            Tree::Next | Tree::None => &mut self.next,
        }
    }

    fn insert(&mut self, t: Tree, key: u32, s: usize) {
        self.seq += 1;
        let k = (key, self.seq);
        self.tree(t).push(Reverse((k, s)));
        self.pos[s].tree = t;
        self.pos[s].key = k;
    }

    /// Takes `s`, the least of its tree, out of it.
    fn dequeue(&mut self, s: usize) {
        let p = self.pos[s];
        if p.tree != Tree::None {
            let least = self.tree(p.tree).pop();
            debug_assert_eq!(least, Some(Reverse((p.key, s))));
            self.pos[s].tree = Tree::None;
        }
    }

    fn queue_by_weight(&mut self, t: Tree, s: usize) {
        let key = SRV_EWGHT_MAX - self.pos[s].eweight;
        self.insert(t, key, s);
    }

    fn queue_srv(&mut self, s: usize) {
        let p = self.pos[s];
        if p.eweight == 0 {
            return;
        }
        if p.npos >= 2 * self.curr_weight || p.npos >= self.curr_weight + self.next_weight {
            self.pos[s].npos = p.npos.wrapping_sub(self.curr_weight);
            self.queue_by_weight(Tree::Next, s);
        } else {
            let key = SRV_UWGHT_RANGE
                .wrapping_mul(p.npos)
                .wrapping_add((SRV_EWGHT_MAX + p.rweight - p.eweight) / BE_WEIGHT_SCALE);
            self.insert(Tree::Curr, key, s);
        }
    }

    fn update_position(&mut self, s: usize) {
        let p = &mut self.pos[s];
        if p.npos == 0 {
            p.npos = self.curr_pos;
        }
        p.npos += self.next_weight / p.eweight;
        p.rweight += self.next_weight % p.eweight;
        if p.rweight >= p.eweight {
            p.rweight -= p.eweight;
            p.npos += 1;
        }
    }

    fn next_from_group(&mut self) -> Option<usize> {
        let mut s1 = None;
        if let Some(&Reverse((_, s))) = self.curr.peek() {
            s1 = Some(s);
            if self.pos[s].eweight > 0 && self.pos[s].npos <= self.curr_pos {
                return s1;
            }
        }
        if let Some(&Reverse((_, s))) = self.init.peek() {
            if self.pos[s].eweight > 0 {
                self.pos[s].npos = 0;
                self.pos[s].rweight = 0;
                return Some(s);
            }
        }
        s1
    }

    fn switch_trees(&mut self) {
        std::mem::swap(&mut self.init, &mut self.next);
        for p in self.pos.iter_mut() {
            p.tree = match p.tree {
                Tree::Init => Tree::Next,
                Tree::Next => Tree::Init,
                t => t,
            };
        }
        self.curr_weight = self.next_weight;
        self.curr_pos = self.curr_weight;
    }
}

impl Balancer for Fwrr {
    fn rebuild(&mut self, servers: &[SrvInfo], allbackups: bool) {
        let el = eligible(servers, allbackups);
        self.curr.clear();
        self.init.clear();
        self.next.clear();
        self.pos = servers
            .iter()
            .zip(&el)
            .map(|(s, &e)| Pos {
                npos: 0,
                rweight: 0,
                eweight: if e { s.eweight } else { 0 },
                tree: Tree::None,
                key: (0, 0),
            })
            .collect();
        let mut total = 0;
        for i in 0..servers.len() {
            if self.pos[i].eweight > 0 {
                total += self.pos[i].eweight;
                self.queue_by_weight(Tree::Init, i);
            }
        }
        self.curr_pos = total;
        self.curr_weight = total;
        self.next_weight = total;
    }

    fn pick(
        &mut self,
        _key: Key,
        servers: &[SrvInfo],
        loads: &dyn Loads,
        avoid: Option<usize>,
    ) -> Option<usize> {
        if self.next_weight == 0 {
            return None;
        }
        let mut switched = false;
        let mut avoided: Option<usize> = None;
        let mut full: Vec<usize> = Vec::new();
        let chosen;
        loop {
            if self.curr_weight == 0 {
                self.curr_pos = self.next_weight;
                self.curr_weight = self.next_weight;
            }
            let srv = loop {
                if let Some(s) = self.next_from_group() {
                    break Some(s);
                }
                if switched {
                    break None;
                }
                switched = true;
                self.switch_trees();
            };
            let Some(srv) = srv else {
                chosen = avoided;
                break;
            };
            self.update_position(srv);
            self.dequeue(srv);
            self.curr_pos += 1;
            if !saturated(&servers[srv], loads, srv) {
                if Some(srv) != avoid || avoided.is_some() {
                    chosen = Some(srv);
                    break;
                }
                avoided = Some(srv);
            }
            full.push(srv);
        }
        if let Some(c) = chosen {
            self.queue_srv(c);
        }
        for &s in full.iter().rev() {
            if Some(s) != chosen {
                self.queue_srv(s);
            }
        }
        chosen
    }
}
