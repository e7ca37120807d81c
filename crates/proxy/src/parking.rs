//! The parking lot: idle HTTP/1 keep-alive client connections, held by their worker between
//! requests instead of by a task each.
//!
//! Most of a busy proxy's client connections are idle most of the time. A task per idle
//! connection keeps the whole connection future alive (its largest state, timers and
//! notifications included); here an idle connection is only its socket, its addresses and a
//! deadline in a slot, with a small waker that the socket's readiness fires. One task per
//! worker wakes the connections whose next request arrived (each gets a fresh session task),
//! closes those idle past their timeout, and closes them all at a stop.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::task::{Context, Wake, Waker};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::session::Conn;
use crate::state::Frontend;

/// How often at most the lot looks for expired connections: a deadline is kept to within
/// this, and a lot of many connections is not walked more often than this.
const SWEEP_EVERY: Duration = Duration::from_millis(10);

/// One parked connection.
pub struct Parked {
    pub conn: Conn,
    pub fe: Arc<Frontend>,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    /// When the connection is closed unless a request arrives first (none: never).
    pub deadline: Option<Instant>,
}

/// Slots of parked connections, and the wake-ups their sockets sent.
#[derive(Default)]
pub struct ParkingLot {
    slots: RefCell<Vec<Option<(Parked, u32)>>>,
    free: RefCell<Vec<usize>>,
    /// Bumped for each connection parked, so a late wake-up of a slot's previous occupant is
    /// recognised.
    generation: std::cell::Cell<u32>,
    next_sweep: std::cell::Cell<Option<Instant>>,
    signal: Arc<Signal>,
}

/// What the sockets' wakers share with the lot's task.
#[derive(Default)]
struct Signal {
    ready: Mutex<Vec<(usize, u32)>>,
    notify: Notify,
}

/// The waker of one slot: queues the slot for the lot's task.
struct SlotWaker {
    slot: usize,
    generation: u32,
    signal: Arc<Signal>,
}

impl Wake for SlotWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        if let Ok(mut r) = self.signal.ready.lock() {
            r.push((self.slot, self.generation));
        }
        self.signal.notify.notify_one();
    }
}

/// What [`ParkingLot::park`] did with a connection.
pub enum Park {
    /// Parked: the lot owns it now.
    Parked,
    /// Readable already (or not a connection the lot can watch): run it now.
    Resume(Parked),
}

impl ParkingLot {
    /// Parks `p`, unless it can be read right away.
    pub fn park(&self, mut p: Parked) -> Park {
        if p.conn.has_buffered_input() {
            return Park::Resume(p);
        }
        let Some(tcp) = p.conn.tcp() else {
            return Park::Resume(p);
        };
        let generation = self.generation.get().wrapping_add(1);
        self.generation.set(generation);
        let slot = self.free.borrow_mut().pop().unwrap_or_else(|| {
            let mut s = self.slots.borrow_mut();
            s.push(None);
            s.len() - 1
        });
        let waker = Waker::from(Arc::new(SlotWaker {
            slot,
            generation,
            signal: self.signal.clone(),
        }));
        // Registers the waker with the socket; ready now means there is nothing to wait for.
        if tcp
            .poll_read_ready(&mut Context::from_waker(&waker))
            .is_ready()
        {
            self.free.borrow_mut().push(slot);
            return Park::Resume(p);
        }
        if let Some(d) = p.deadline {
            let at = d.max(Instant::now() + SWEEP_EVERY);
            if self.next_sweep.get().is_none_or(|n| at < n) {
                self.next_sweep.set(Some(at));
                // The lot's task may be asleep until a later sweep: let it look again.
                self.signal.notify.notify_one();
            }
        }
        self.slots.borrow_mut()[slot] = Some((p, generation));
        Park::Parked
    }

    /// Waits until a parked connection woke up or the next deadline passed.
    pub async fn wait(&self) {
        match self.next_sweep.get() {
            Some(at) => {
                tokio::select! {
                    _ = self.signal.notify.notified() => {}
                    _ = tokio::time::sleep_until(at) => {}
                }
            }
            None => self.signal.notify.notified().await,
        }
    }

    /// Takes out the connections whose sockets woke up.
    pub fn take_woken(&self, out: &mut Vec<Parked>) {
        let woken = match self.signal.ready.lock() {
            Ok(mut r) => std::mem::take(&mut *r),
            Err(_) => return,
        };
        let mut slots = self.slots.borrow_mut();
        for (slot, generation) in woken {
            let Some(entry) = slots.get_mut(slot) else {
                continue;
            };
            if entry.as_ref().is_some_and(|(_, g)| *g == generation) {
                if let Some((p, _)) = entry.take() {
                    self.free.borrow_mut().push(slot);
                    out.push(p);
                }
            }
        }
    }

    /// Takes out the connections whose idle timeout passed (when a sweep is due).
    pub fn take_expired(&self, out: &mut Vec<Parked>) {
        let now = Instant::now();
        if self.next_sweep.get().is_none_or(|at| at > now) {
            return;
        }
        let mut next: Option<Instant> = None;
        let mut slots = self.slots.borrow_mut();
        for (i, entry) in slots.iter_mut().enumerate() {
            let Some(d) = entry.as_ref().and_then(|(p, _)| p.deadline) else {
                continue;
            };
            if d <= now {
                if let Some((p, _)) = entry.take() {
                    self.free.borrow_mut().push(i);
                    out.push(p);
                }
            } else {
                next = Some(next.map_or(d, |n| n.min(d)));
            }
        }
        self.next_sweep.set(next.map(|n| n.max(now + SWEEP_EVERY)));
    }

    /// Takes out every parked connection (a stop).
    pub fn take_all(&self, out: &mut Vec<Parked>) {
        let mut slots = self.slots.borrow_mut();
        for (i, entry) in slots.iter_mut().enumerate() {
            if let Some((p, _)) = entry.take() {
                self.free.borrow_mut().push(i);
                out.push(p);
            }
        }
        self.next_sweep.set(None);
    }
}
