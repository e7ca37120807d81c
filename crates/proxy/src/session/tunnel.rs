//! Tunnels: bytes copied both ways between a client and a server (TCP mode, WebSocket
//! upgrades), and the inactivity rules they run under.
//!
//! While both ways are open, a tunnel ends once neither way has moved a byte for `idle`.
//! Once one way has ended (its source sent FIN and we shut the write side of the other end),
//! haproxy's `timeout client-fin` / `timeout server-fin` take over for the side we shut: a peer
//! that stays half-closed and silent is dropped after that shorter limit instead of holding
//! the connection for the whole `timeout client`/`timeout tunnel`.

use std::cell::Cell;
use std::future::Future;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::Conn;

/// The client end of a tunnel.
pub const CLIENT: usize = 0;
/// The server end of a tunnel.
pub const SERVER: usize = 1;

/// Inactivity limits of a tunnel.
#[derive(Clone, Copy, Debug, Default)]
pub struct Limits {
    /// Both ways idle this long end the tunnel (none: never).
    pub idle: Option<Duration>,
    /// `timeout client-fin`: the limit for reading the client once its write side is shut.
    pub client_fin: Option<Duration>,
    /// `timeout server-fin`: the limit for reading the server once its write side is shut.
    pub server_fin: Option<Duration>,
}

/// Activity shared by the two ways of one tunnel.
pub(super) struct Watch {
    limits: Limits,
    last: Cell<Instant>,
    /// Per end: our write side toward it has been shut.
    shut: [Cell<bool>; 2],
    shut_changed: Notify,
    /// A limit expired: both ways stop.
    expired: Cell<bool>,
}

impl Watch {
    pub(super) fn new(limits: Limits) -> Watch {
        Watch {
            limits,
            last: Cell::new(Instant::now()),
            shut: [Cell::new(false), Cell::new(false)],
            shut_changed: Notify::new(),
            expired: Cell::new(false),
        }
    }

    /// Records that bytes moved.
    pub(super) fn touch(&self) {
        self.last.set(Instant::now());
    }

    /// Records that our write side toward `end` is shut: reads from `end` now run under
    /// its fin limit, if it has one.
    pub(super) fn shut_write(&self, end: usize) {
        self.shut[end].set(true);
        self.shut_changed.notify_waiters();
    }

    fn fin_limit(&self, end: usize) -> Option<Duration> {
        if !self.shut[end].get() {
            return None;
        }
        if end == CLIENT {
            self.limits.client_fin
        } else {
            self.limits.server_fin
        }
    }

    /// Runs `wait` (a wait for bytes from `end`) under the tunnel's limits; `None` when a
    /// limit expired first. Cancelling `wait` must be harmless (tokio's reads and readiness
    /// waits are).
    pub(super) async fn guard<T>(&self, end: usize, wait: impl Future<Output = T>) -> Option<T> {
        let v = self.guard_inner(end, wait).await;
        if v.is_none() {
            self.expired.set(true);
            self.shut_changed.notify_waiters();
        }
        v
    }

    async fn guard_inner<T>(&self, end: usize, wait: impl Future<Output = T>) -> Option<T> {
        tokio::pin!(wait);
        loop {
            // Created before the state is read, so a shut that happens meanwhile still wakes us.
            let changed = self.shut_changed.notified();
            if self.expired.get() {
                return None;
            }
            if let Some(fin) = self.fin_limit(end) {
                return tokio::time::timeout(fin, &mut wait).await.ok();
            }
            match self.limits.idle {
                None => tokio::select! {
                    v = &mut wait => return Some(v),
                    _ = changed => {}
                },
                Some(d) => {
                    let deadline = self.last.get() + d;
                    tokio::select! {
                        v = &mut wait => return Some(v),
                        _ = tokio::time::sleep_until(deadline) => {
                            // The other way may have moved bytes meanwhile.
                            if self.last.get() + d <= Instant::now() {
                                return None;
                            }
                        }
                        _ = changed => {}
                    }
                }
            }
        }
    }
}

/// Copies bytes both ways between client `cli` and server `srv` until both ways are done or
/// a limit expires. Gives (client→server, server→client) byte counts.
pub async fn tunnel(cli: &mut Conn, srv: &mut Conn, limits: Limits) -> (u64, u64) {
    let (mut cr, mut cw) = tokio::io::split(cli);
    let (mut sr, mut sw) = tokio::io::split(srv);
    let watch = Watch::new(limits);
    tokio::join!(
        copy_one_way(&mut cr, CLIENT, &mut sw, SERVER, &watch),
        copy_one_way(&mut sr, SERVER, &mut cw, CLIENT, &watch)
    )
}

async fn copy_one_way<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    r: &mut R,
    from: usize,
    w: &mut W,
    to: usize,
    watch: &Watch,
) -> u64 {
    let mut buf = vec![0u8; 16384];
    let mut total = 0u64;
    loop {
        let n = match watch.guard(from, r.read(&mut buf)).await {
            Some(Ok(n)) => n,
            Some(Err(_)) => 0,
            None => {
                let _ = w.shutdown().await;
                watch.shut_write(to);
                return total;
            }
        };
        if n == 0 {
            let _ = w.shutdown().await;
            watch.shut_write(to);
            return total;
        }
        watch.touch();
        if w.write_all(&buf[..n]).await.is_err() || w.flush().await.is_err() {
            return total;
        }
        total += n as u64;
    }
}
