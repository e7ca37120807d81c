//! The HTTP/2 connections a worker holds to its servers, shared by every request that goes
//! to the same server: a request takes a stream slot on a connection that has one below the
//! server's SETTINGS_MAX_CONCURRENT_STREAMS, and a new connection is opened when all are full.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use h2::client::SendRequest;
use tokio::sync::Notify;

/// A server as the pool knows it: backend index, server id and address (a server removed
/// at run time may leave its id to a new one elsewhere).
pub type Key = (usize, u32, SocketAddr);

/// How long a connection without streams stays open for the next request (haproxy's
/// `pool-purge-delay` default is 5s; idle HTTP/1 connections are kept 30s here).
pub const IDLE_MAX_AGE: Duration = Duration::from_secs(30);

/// What a connection's driver and its streams share.
pub struct ConnState {
    /// Streams open on the connection (taken slots).
    streams: Cell<usize>,
    /// The connection ended (its driver returned) or refused a new stream.
    closed: Cell<bool>,
    /// When the last stream ended.
    idle_since: Cell<Instant>,
}

impl ConnState {
    pub fn new() -> Rc<ConnState> {
        Rc::new(ConnState {
            streams: Cell::new(0),
            closed: Cell::new(false),
            idle_since: Cell::new(Instant::now()),
        })
    }

    /// No new stream goes to this connection.
    pub fn close(&self) {
        self.closed.set(true);
    }
}

struct ServerConn {
    send: SendRequest<Bytes>,
    state: Rc<ConnState>,
}

/// One stream's place on a connection; the slot is given back when this is dropped.
pub struct Slot {
    pub send: SendRequest<Bytes>,
    pub state: Rc<ConnState>,
}

impl Slot {
    fn take(send: &SendRequest<Bytes>, state: &Rc<ConnState>) -> Slot {
        state.streams.set(state.streams.get() + 1);
        Slot {
            send: send.clone(),
            state: state.clone(),
        }
    }
}

impl Slot {
    /// The one slot of a connection no one else uses (a health check's).
    pub fn single(send: SendRequest<Bytes>, state: Rc<ConnState>) -> Slot {
        Slot::take(&send, &state)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let n = self.state.streams.get().saturating_sub(1);
        self.state.streams.set(n);
        if n == 0 {
            self.state.idle_since.set(Instant::now());
        }
    }
}

/// Looked up once per request: a fast hash (the keys are ours, not an attacker's).
type Map<V> = HashMap<Key, V, foldhash::fast::FixedState>;

/// A worker's HTTP/2 server connections, by (backend index, server id).
#[derive(Default)]
pub struct Pool {
    conns: RefCell<Map<Vec<ServerConn>>>,
    /// Connections being opened: requests that find no room wait for them rather than
    /// each opening its own (a burst of streams from one client would otherwise open as
    /// many connections as it has streams).
    opening: RefCell<Map<Rc<Notify>>>,
}

/// A connection being opened to a server; waiters are woken when it is dropped.
pub struct Opening<'a> {
    pool: &'a Pool,
    key: Key,
    notify: Rc<Notify>,
}

impl Drop for Opening<'_> {
    fn drop(&mut self) {
        self.pool.opening.borrow_mut().remove(&self.key);
        self.notify.notify_waiters();
    }
}

impl Pool {
    /// A stream slot on an open connection to the server, if one has room: fewer streams
    /// than the server allows and than `limit` (`tune.h2.max-concurrent-streams`).
    pub fn take(&self, key: Key, limit: usize) -> Option<Slot> {
        let mut conns = self.conns.borrow_mut();
        let list = conns.get_mut(&key)?;
        list.retain(|c| !c.state.closed.get());
        list.iter()
            .find(|c| c.state.streams.get() < c.send.current_max_send_streams().min(limit))
            .map(|c| Slot::take(&c.send, &c.state))
    }

    /// Waits for the connection being opened to the server, if one is; false if none is.
    pub async fn wait_opening(&self, key: Key) -> bool {
        let n = self.opening.borrow().get(&key).cloned();
        match n {
            Some(n) => {
                n.notified().await;
                true
            }
            None => false,
        }
    }

    /// Says a connection to the server is being opened, until the result is dropped.
    pub fn opening(&self, key: Key) -> Opening<'_> {
        let notify = Rc::new(Notify::new());
        self.opening.borrow_mut().insert(key, notify.clone());
        Opening {
            pool: self,
            key,
            notify,
        }
    }

    /// Adds a new connection and takes its first slot.
    pub fn add(&self, key: Key, send: SendRequest<Bytes>, state: Rc<ConnState>) -> Slot {
        let slot = Slot::take(&send, &state);
        self.conns
            .borrow_mut()
            .entry(key)
            .or_default()
            .push(ServerConn { send, state });
        slot
    }

    /// Forgets connections that ended and those idle longer than [`IDLE_MAX_AGE`]: once its
    /// last handle is gone, a connection says GOAWAY and closes.
    pub fn purge(&self) {
        let mut conns = self.conns.borrow_mut();
        for list in conns.values_mut() {
            list.retain(|c| {
                let s = &c.state;
                !s.closed.get()
                    && (s.streams.get() > 0 || s.idle_since.get().elapsed() <= IDLE_MAX_AGE)
            });
        }
        conns.retain(|_, l| !l.is_empty());
    }
}
