//! The floor under any HTTP/1 keep-alive proxy on this kernel: a forwarder that does nothing
//! but the system calls every proxy must make (per request: one `recvfrom` and one `sendto` on
//! each side, plus `epoll_wait`), with no parsing, no rules and no timers. Each client gets its
//! own server connection, made at accept.
//!
//! Benchmark tool only (`bench/proxy/floor.sh`): it measures how far the kernel's cost per
//! request lets any proxy go, which tells whether a target above haproxy is reachable by
//! changing dermaga's user-space code. It is no proxy: bytes are copied as they come.
//!
//! `--tokio` runs the same forwarding on tokio's current-thread runtime (a task per
//! direction), as dermaga's sessions run: the difference from the plain loop is what the
//! runtime's way of waiting and waking costs the kernel.
//!
//!   forward_floor [--tokio] LISTEN-PORT SERVER-PORT

use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, IntoRawFd, RawFd};

const LISTENER: u64 = u64::MAX;

fn main() -> io::Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let tokio = args.first().is_some_and(|a| a == "--tokio");
    if tokio {
        args.remove(0);
    }
    let (Some(listen), Some(server)) = (
        args.first().and_then(|p| p.parse::<u16>().ok()),
        args.get(1).and_then(|p| p.parse::<u16>().ok()),
    ) else {
        eprintln!("usage: forward_floor [--tokio] LISTEN-PORT SERVER-PORT");
        std::process::exit(2);
    };
    let server = SocketAddr::from((Ipv4Addr::LOCALHOST, server));
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, listen))?;
    if tokio {
        return on_tokio(listener, server);
    }
    listener.set_nonblocking(true)?;
    // SAFETY: plain system calls on descriptors this function owns.
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if ep < 0 {
        return Err(io::Error::last_os_error());
    }
    add(ep, listener.as_raw_fd(), LISTENER)?;
    // fds[2k] is a client, fds[2k+1] its server; an event's token is the index.
    let mut fds: Vec<RawFd> = Vec::new();
    let mut buf = vec![0u8; 16384];
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
    loop {
        // SAFETY: `events` is a valid buffer of that many entries.
        let n = unsafe { libc::epoll_wait(ep, events.as_mut_ptr(), events.len() as i32, -1) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for ev in &events[..n as usize] {
            let token = ev.u64;
            if token == LISTENER {
                while let Ok((client, _)) = listener.accept() {
                    let upstream = TcpStream::connect(server)?;
                    for s in [&client, &upstream] {
                        s.set_nodelay(true)?;
                        s.set_nonblocking(true)?;
                    }
                    let k = fds.len() as u64;
                    let (c, u) = (client.into_raw_fd(), upstream.into_raw_fd());
                    fds.push(c);
                    fds.push(u);
                    add(ep, c, k)?;
                    add(ep, u, k + 1)?;
                }
                continue;
            }
            let from = fds[token as usize];
            let to = fds[(token ^ 1) as usize];
            if from < 0 {
                continue;
            }
            loop {
                // SAFETY: reads into `buf`, writes from it, on descriptors this loop owns.
                let got = unsafe { libc::recv(from, buf.as_mut_ptr().cast(), buf.len(), 0) };
                if got <= 0 {
                    if got == 0 || io::Error::last_os_error().kind() != io::ErrorKind::WouldBlock {
                        let k = (token & !1) as usize;
                        for fd in [fds[k], fds[k + 1]] {
                            // SAFETY: closing descriptors this loop owns, once.
                            unsafe { libc::close(fd) };
                        }
                        fds[k] = -1;
                        fds[k + 1] = -1;
                    }
                    break;
                }
                let got = got as usize;
                let mut sent = 0;
                while sent < got {
                    // SAFETY: as above.
                    let w = unsafe {
                        libc::send(
                            to,
                            buf[sent..got].as_ptr().cast(),
                            got - sent,
                            libc::MSG_NOSIGNAL,
                        )
                    };
                    if w <= 0 {
                        break; // a benchmark peer that stops reading: drop the rest
                    }
                    sent += w as usize;
                }
                // A short read drained the socket: edge-triggered epoll reports new data anew.
                if got < buf.len() {
                    break;
                }
            }
        }
    }
}

fn add(ep: RawFd, fd: RawFd, token: u64) -> io::Result<()> {
    let mut ev = libc::epoll_event {
        events: (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLET) as u32,
        u64: token,
    };
    // SAFETY: registers a descriptor this process owns.
    if unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, fd, &mut ev) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The same forwarder on tokio's current-thread runtime: one task per direction.
fn on_tokio(listener: TcpListener, server: SocketAddr) -> io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        loop {
            let (client, _) = listener.accept().await?;
            let upstream = tokio::net::TcpStream::connect(server).await?;
            client.set_nodelay(true)?;
            upstream.set_nodelay(true)?;
            let (mut cr, mut cw) = client.into_split();
            let (mut ur, mut uw) = upstream.into_split();
            tokio::task::spawn_local(async move {
                let mut buf = vec![0u8; 16384];
                while let Ok(n @ 1..) = cr.read(&mut buf).await {
                    if uw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
            tokio::task::spawn_local(async move {
                let mut buf = vec![0u8; 16384];
                while let Ok(n @ 1..) = ur.read(&mut buf).await {
                    if cw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    })
}
