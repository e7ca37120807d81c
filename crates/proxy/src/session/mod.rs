//! Sessions: what happens to one client connection, in HTTP mode ([`http`]) or TCP mode
//! ([`tcp`]), plus the pieces both use (buffers, timeouts, connecting to servers, tunnels).

pub mod conn;
pub mod hdrs;
pub mod http;
pub mod splice;
pub mod tcp;
pub mod tls_sni;
pub mod tunnel;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::task::Poll;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::TcpStream;

pub use conn::Conn;

/// A connection buffer: bytes `[start, end)` of `data` are pending.
pub struct Buf {
    pub data: Vec<u8>,
    pub start: usize,
    pub end: usize,
}

impl Buf {
    pub fn empty() -> Buf {
        Buf {
            data: Vec::new(),
            start: 0,
            end: 0,
        }
    }
    pub fn is_allocated(&self) -> bool {
        !self.data.is_empty()
    }
    pub fn pending(&self) -> &[u8] {
        &self.data[self.start..self.end]
    }
    pub fn len(&self) -> usize {
        self.end - self.start
    }
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
    pub fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start >= self.end {
            self.start = 0;
            self.end = 0;
        }
    }
    pub fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
    }
    /// Moves pending bytes to the front, making room at the end.
    pub fn compact(&mut self) {
        if self.start > 0 {
            self.data.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
    }
    pub fn is_full(&self) -> bool {
        self.start == 0 && self.end == self.data.len()
    }
    /// Reads once from `s` into the free space (compacting first when needed).
    pub async fn read_from<S: AsyncRead + Unpin>(&mut self, s: &mut S) -> io::Result<usize> {
        if self.end == self.data.len() {
            self.compact();
        }
        if self.end == self.data.len() {
            return Err(io::Error::other("buffer full"));
        }
        let n = s.read(&mut self.data[self.end..]).await?;
        self.end += n;
        Ok(n)
    }
    /// Reads at most `max` bytes.
    pub async fn read_at_most<S: AsyncRead + Unpin>(
        &mut self,
        s: &mut S,
        max: usize,
    ) -> io::Result<usize> {
        if self.end == self.data.len() {
            self.compact();
        }
        let lim = (self.end + max).min(self.data.len());
        if lim == self.end {
            return Err(io::Error::other("buffer full"));
        }
        let n = s.read(&mut self.data[self.end..lim]).await?;
        self.end += n;
        Ok(n)
    }
}

/// One timer for a session's successive waits of one kind (the client's next request, a
/// server's answer). Moving a registered tokio timer's deadline later only updates it in
/// place, where a fresh `timeout` per wait inserts into and removes from the timer wheel every
/// time; as these deadlines only move forward request after request, the wheel sees a timer
/// again only when it comes due.
#[derive(Default)]
pub struct Timer(Option<std::pin::Pin<Box<tokio::time::Sleep>>>);

impl Timer {
    /// Runs `f`, failing with [`timed_out`] after `d` when there is a limit.
    pub async fn run<T>(
        &mut self,
        d: Option<Duration>,
        f: impl Future<Output = io::Result<T>>,
    ) -> io::Result<T> {
        let Some(d) = d else {
            return f.await;
        };
        let deadline = tokio::time::Instant::now() + d;
        let sleep = match &mut self.0 {
            Some(s) => {
                s.as_mut().reset(deadline);
                s
            }
            empty => empty.insert(Box::pin(tokio::time::sleep_until(deadline))),
        };
        tokio::select! {
            biased;
            r = f => r,
            _ = sleep.as_mut() => Err(timed_out()),
        }
    }
}

/// The error a timeout turns into.
pub fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "timeout")
}

/// Runs `f` with an optional timeout.
pub async fn with_timeout<T>(
    d: Option<Duration>,
    f: impl Future<Output = io::Result<T>>,
) -> io::Result<T> {
    match d {
        Some(d) => tokio::time::timeout(d, f)
            .await
            .unwrap_or_else(|_| Err(timed_out())),
        None => f.await,
    }
}

/// How long haproxy waits before trying a server again after it refused a connection:
/// `min(timeout connect, 1 s)`, so that a restarting server is not hammered. None after a
/// connect timeout: that wait was spent already.
pub fn turnaround(connect: Option<Duration>, e: &io::Error) -> Option<Duration> {
    if e.kind() == io::ErrorKind::TimedOut {
        return None;
    }
    let second = Duration::from_secs(1);
    Some(connect.map_or(second, |c| c.min(second)))
}

/// Connects to a server within `timeout`.
pub async fn connect(addr: SocketAddr, timeout: Option<Duration>) -> io::Result<TcpStream> {
    let s = with_timeout(timeout, TcpStream::connect(addr)).await?;
    let _ = s.set_nodelay(true);
    Ok(s)
}

/// Connects to `server` at `addr`, with its TLS handshake when it says `ssl`, all within
/// `timeout`.
pub async fn connect_server(
    server: &crate::state::Server,
    addr: SocketAddr,
    timeout: Option<Duration>,
) -> io::Result<Conn> {
    with_timeout(timeout, async {
        let s = connect(addr, None).await?;
        match &server.opts.tls {
            None => Ok(Conn::Plain(s)),
            Some(t) => crate::tls::connect(t, s, addr).await,
        }
    })
    .await
}

/// Returns after the tasks already queued on the worker have run: the task wakes itself and
/// goes to the back of the run queue, once.
pub async fn after_the_round() {
    let mut queued = false;
    std::future::poll_fn(|cx| {
        if queued {
            Poll::Ready(())
        } else {
            queued = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}
