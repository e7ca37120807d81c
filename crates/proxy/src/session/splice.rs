//! Zero-copy forwarding with splice(2) through a pipe, for TCP mode between plain sockets:
//! bytes go socket → pipe → socket inside the kernel, never through user space.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use tokio::io::Interest;
use tokio::net::TcpStream;

use super::tunnel::{Limits, Watch, CLIENT, SERVER};

const CHUNK: usize = 1 << 16;

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0i32; 2];
    // SAFETY: `fds` is a valid array of two ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just created and are owned here.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn splice(from: i32, to: i32, len: usize) -> io::Result<usize> {
    // SAFETY: plain syscall on descriptors that outlive the call.
    let n = unsafe {
        libc::splice(
            from,
            std::ptr::null_mut(),
            to,
            std::ptr::null_mut(),
            len,
            libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Moves bytes from `src` (end `from`) to `dst` (end `to`) until `src` ends; then shuts
/// `dst`'s write side.
async fn pump(
    src: &TcpStream,
    from: usize,
    dst: &TcpStream,
    to: usize,
    watch: &Watch,
) -> io::Result<u64> {
    let (r, w) = pipe()?;
    let mut in_pipe = 0usize;
    let mut total = 0u64;
    loop {
        if in_pipe == 0 {
            match watch.guard(from, src.readable()).await {
                Some(r) => r?,
                None => return Err(super::timed_out()),
            }
            match src.try_io(Interest::READABLE, || {
                splice(src.as_raw_fd(), w.as_raw_fd(), CHUNK)
            }) {
                Ok(0) => {
                    // SAFETY: shutdown of a socket we hold.
                    unsafe { libc::shutdown(dst.as_raw_fd(), libc::SHUT_WR) };
                    watch.shut_write(to);
                    return Ok(total);
                }
                Ok(n) => {
                    in_pipe = n;
                    watch.touch();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
        while in_pipe > 0 {
            dst.writable().await?;
            match dst.try_io(Interest::WRITABLE, || {
                splice(r.as_raw_fd(), dst.as_raw_fd(), in_pipe)
            }) {
                Ok(n) => {
                    in_pipe -= n;
                    total += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

/// Splices both ways until both directions end or a limit expires. Gives (client→server,
/// server→client) bytes.
pub async fn splice_both(cli: &TcpStream, srv: &TcpStream, limits: Limits) -> (u64, u64) {
    let watch = Watch::new(limits);
    let (a, b) = tokio::join!(
        pump(cli, CLIENT, srv, SERVER, &watch),
        pump(srv, SERVER, cli, CLIENT, &watch)
    );
    if a.is_err() || b.is_err() {
        // An error or timeout on one way ends both.
        // SAFETY: shutdown of sockets we hold.
        unsafe {
            libc::shutdown(cli.as_raw_fd(), libc::SHUT_RDWR);
            libc::shutdown(srv.as_raw_fd(), libc::SHUT_RDWR);
        }
    }
    (a.unwrap_or(0), b.unwrap_or(0))
}
