//! Terminals: a pty opened inside the container's /dev/pts, its master sent to the caller over
//! `--console-socket` with SCM_RIGHTS (as runc does), its slave made the controlling terminal.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use crate::util::cvt;

pub struct Pty {
    pub master: OwnedFd,
    pub slave: OwnedFd,
    pub slave_path: PathBuf,
}

/// Opens a new pty pair from /dev/ptmx of the current mount namespace.
pub fn open_pty() -> io::Result<Pty> {
    let m = cvt(unsafe {
        libc::open(
            c"/dev/ptmx".as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    })?;
    let master = unsafe { OwnedFd::from_raw_fd(m) };
    let mut unlock: libc::c_int = 0;
    cvt(unsafe { libc::ioctl(m, libc::TIOCSPTLCK, &mut unlock) })?;
    let mut n: libc::c_uint = 0;
    cvt(unsafe { libc::ioctl(m, libc::TIOCGPTN, &mut n) })?;
    let slave_path = PathBuf::from(format!("/dev/pts/{n}"));
    let c = crate::util::cpath(&slave_path);
    let s =
        cvt(unsafe { libc::open(c.as_ptr(), libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) })?;
    Ok(Pty {
        master,
        slave: unsafe { OwnedFd::from_raw_fd(s) },
        slave_path,
    })
}

pub fn set_size(fd: RawFd, height: u64, width: u64) {
    let ws = libc::winsize {
        ws_row: height as u16,
        ws_col: width as u16,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) };
}

/// Connects to the caller's console socket.
pub fn connect(path: &Path) -> io::Result<OwnedFd> {
    Ok(UnixStream::connect(path)?.into())
}

/// Sends `fd` over a unix socket as SCM_RIGHTS, with `name` as the message body.
pub fn send_fd(sock: RawFd, fd: RawFd, name: &str) -> io::Result<()> {
    let mut body = name.as_bytes().to_vec();
    if body.is_empty() {
        body.push(0);
    }
    let mut iov = libc::iovec {
        iov_base: body.as_mut_ptr() as *mut libc::c_void,
        iov_len: body.len(),
    };
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as usize;
    let mut cbuf = vec![0u8; space];
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr() as *mut libc::c_void;
    msg.msg_controllen = space;
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg) as *mut RawFd, fd);
    }
    let r = unsafe { libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Receives one fd sent with SCM_RIGHTS.
pub fn recv_fd(sock: RawFd) -> io::Result<OwnedFd> {
    let mut body = [0u8; 4096];
    let mut iov = libc::iovec {
        iov_base: body.as_mut_ptr() as *mut libc::c_void,
        iov_len: body.len(),
    };
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as usize;
    let mut cbuf = vec![0u8; space];
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr() as *mut libc::c_void;
    msg.msg_controllen = space;
    let r = unsafe { libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        if cmsg.is_null() || (*cmsg).cmsg_type != libc::SCM_RIGHTS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "no file descriptor received",
            ));
        }
        let fd = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg) as *const RawFd);
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

/// Makes the slave the controlling terminal and the standard streams of this process.
pub fn make_controlling(slave: &OwnedFd) -> io::Result<()> {
    unsafe {
        libc::setsid();
        cvt(libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0))?;
        for fd in 0..3 {
            cvt(libc::dup2(slave.as_raw_fd(), fd))?;
        }
    }
    Ok(())
}

/// Gives terminal `to` the window size of terminal `from` (on SIGWINCH).
pub fn copy_winsize(from: RawFd, to: RawFd) {
    // SAFETY: TIOCGWINSZ/TIOCSWINSZ with a properly sized struct.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        if libc::ioctl(from, libc::TIOCGWINSZ, &mut ws) == 0 {
            libc::ioctl(to, libc::TIOCSWINSZ, &ws);
        }
    }
}

/// The next signal waiting on non-blocking signalfd `fd`; `None` when none is left.
pub fn next_signal(fd: RawFd) -> Option<i32> {
    // SAFETY: reading one siginfo into a properly sized, zeroed struct.
    let mut si: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::signalfd_siginfo>();
    let r = unsafe { libc::read(fd, &mut si as *mut _ as *mut libc::c_void, size) };
    (r == size as isize).then_some(si.ssi_signo as i32)
}
