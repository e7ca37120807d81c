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
/// server's answer), registered with tokio once and moved only when it fires. Each wait's
/// deadline is later than the last, so a registered deadline is never late, only early: when
/// it fires before the wait's own deadline it is moved there and the wait goes on. Moving it
/// on every wait instead (even in place) cost a clock conversion and an atomic update each
/// time, about 220 instructions per request and timer.
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
            // A registered deadline after this one (a shorter limit than the last wait's)
            // would be late: moved now.
            Some(s) => {
                if s.deadline() > deadline {
                    s.as_mut().reset(deadline);
                }
                s
            }
            empty => empty.insert(Box::pin(tokio::time::sleep_until(deadline))),
        };
        let mut f = std::pin::pin!(f);
        std::future::poll_fn(|cx| {
            if let Poll::Ready(r) = f.as_mut().poll(cx) {
                return Poll::Ready(r);
            }
            while sleep.as_mut().poll(cx).is_ready() {
                if sleep.deadline() >= deadline {
                    return Poll::Ready(Err(timed_out()));
                }
                // Fired early, at an earlier wait's deadline.
                sleep.as_mut().reset(deadline);
            }
            Poll::Pending
        })
        .await
    }
}

/// The error a timeout turns into.
pub fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "timeout")
}

/// Runs `f` with an optional timeout, counted from the first time `f` has to wait (see
/// [`with_deadline`]).
pub async fn with_timeout<T>(
    d: Option<Duration>,
    f: impl Future<Output = io::Result<T>>,
) -> io::Result<T> {
    match d {
        Some(d) => timer_if_waiting(|| tokio::time::sleep(d), f)
            .await
            .unwrap_or_else(|| Err(timed_out())),
        None => f.await,
    }
}

/// Runs `f` until `deadline`: None if it passed first. The timer is made only if `f` has to
/// wait: most reads find their bytes already there, and a tokio timer costs about 280
/// instructions to make and drop even when it never runs.
pub async fn with_deadline<T>(
    deadline: tokio::time::Instant,
    f: impl Future<Output = T>,
) -> Option<T> {
    timer_if_waiting(|| tokio::time::sleep_until(deadline), f).await
}

async fn timer_if_waiting<T>(
    timer: impl FnOnce() -> tokio::time::Sleep,
    f: impl Future<Output = T>,
) -> Option<T> {
    let mut f = std::pin::pin!(f);
    let mut timer = Some(timer);
    let mut sleep = std::pin::pin!(None::<tokio::time::Sleep>);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(r) = f.as_mut().poll(cx) {
            return Poll::Ready(Some(r));
        }
        if let Some(make) = timer.take() {
            sleep.set(Some(make()));
        }
        match sleep.as_mut().as_pin_mut() {
            Some(s) => s.poll(cx).map(|()| None),
            None => Poll::Pending,
        }
    })
    .await
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

/// Connects to `server` at `addr` for a client connection (`client`: its source and
/// destination), with the PROXY header first when the server says `send-proxy`, then its TLS
/// handshake when it says `ssl`, all within `timeout`.
pub async fn connect_server(
    server: &crate::state::Server,
    addr: SocketAddr,
    timeout: Option<Duration>,
    client: (SocketAddr, SocketAddr),
) -> io::Result<Conn> {
    with_timeout(timeout, async {
        let mut s = connect(addr, None).await?;
        if let Some(v) = server.opts.send_proxy {
            let h = crate::proxy_protocol::header(v, client.0, client.1);
            tokio::io::AsyncWriteExt::write_all(&mut s, &h).await?;
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime")
    }

    async fn ready_after(d: Duration) -> io::Result<&'static str> {
        tokio::time::sleep(d).await;
        Ok("answer")
    }

    #[test]
    fn a_timer_left_at_an_earlier_deadline_does_not_cut_a_later_wait_short() {
        rt().block_on(async {
            let mut t = Timer::default();
            // Registers the timer 50 ms out.
            let first = t
                .run(Some(Duration::from_millis(50)), async { Ok(()) })
                .await;
            assert!(first.is_ok());
            // The next wait may last 2 s: the answer at 150 ms is in time, although the
            // timer still stands at the first wait's 50 ms.
            let r = t
                .run(
                    Some(Duration::from_secs(2)),
                    ready_after(Duration::from_millis(150)),
                )
                .await;
            assert_eq!(r.ok(), Some("answer"));
        });
    }

    #[test]
    fn a_shorter_limit_than_the_registered_one_still_times_out() {
        rt().block_on(async {
            let mut t = Timer::default();
            let first = t.run(Some(Duration::from_secs(60)), async { Ok(()) }).await;
            assert!(first.is_ok());
            let never = std::future::pending::<io::Result<()>>();
            let r = tokio::time::timeout(
                Duration::from_secs(10),
                t.run(Some(Duration::from_millis(20)), never),
            )
            .await
            .expect("the 20 ms limit, not the 60 s one, ends the wait");
            assert_eq!(r.map_err(|e| e.kind()), Err(io::ErrorKind::TimedOut));
        });
    }

    #[test]
    fn with_timeout_and_with_deadline_end_a_wait_that_never_ends() {
        rt().block_on(async {
            let never = std::future::pending::<io::Result<()>>();
            let r = with_timeout(Some(Duration::from_millis(10)), never).await;
            assert_eq!(r.map_err(|e| e.kind()), Err(io::ErrorKind::TimedOut));
            let at = tokio::time::Instant::now() + Duration::from_millis(10);
            let never = std::future::pending::<()>();
            assert!(with_deadline(at, never).await.is_none());
            // Ready at once: no timer involved, the value comes back.
            assert_eq!(with_deadline(at, async { 7 }).await, Some(7));
        });
    }
}
