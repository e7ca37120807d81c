//! A foreground `exec -t` without `--console-socket`, as runc does it: the runtime takes the
//! pty master itself and copies between its own standard streams and the process's terminal
//! until the process exits, with its own terminal in raw mode meanwhile.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::console::{copy_winsize, next_signal};
use crate::container::exit_code;

/// Puts a terminal in raw mode until dropped.
struct Raw {
    fd: RawFd,
    saved: Option<libc::termios>,
}

impl Raw {
    fn enter(fd: RawFd) -> Raw {
        // SAFETY: termios calls on a descriptor we hold, with a zeroed struct to fill.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(fd, &mut t) != 0 {
                return Raw { fd, saved: None };
            }
            let saved = t;
            libc::cfmakeraw(&mut t);
            libc::tcsetattr(fd, libc::TCSANOW, &t);
            Raw {
                fd,
                saved: Some(saved),
            }
        }
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            // SAFETY: restores what `enter` saved.
            unsafe { libc::tcsetattr(self.fd, libc::TCSANOW, t) };
        }
    }
}

fn write_all(fd: RawFd, mut data: &[u8]) {
    while !data.is_empty() {
        // SAFETY: data is valid for its length.
        let n = unsafe { libc::write(fd, data.as_ptr() as *const libc::c_void, data.len()) };
        if n <= 0 {
            if n < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return;
        }
        data = &data[n as usize..];
    }
}

/// Copies stdin to `master` and `master` to stdout, forwards signals to `pid` (window size
/// changes to the terminal), and returns `pid`'s exit code once it exited and its output is
/// read. The caller has every signal blocked (they arrive here through a signalfd).
pub(crate) fn proxy(master: OwnedFd, pid: i32) -> i32 {
    // SAFETY: a full signal set for a new signalfd; the caller blocked these signals.
    let sigfd = unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        let fd = libc::signalfd(-1, &all, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK);
        if fd < 0 {
            return crate::container::wait_forwarding(pid);
        }
        OwnedFd::from_raw_fd(fd)
    };
    let _raw = Raw::enter(0);
    copy_winsize(0, master.as_raw_fd());
    let mut buf = [0u8; 16384];
    let mut status = None;
    let mut stdin_open = true;
    let mut master_open = true;
    loop {
        let mut pfds = [
            libc::pollfd {
                fd: sigfd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: if master_open { master.as_raw_fd() } else { -1 },
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: if stdin_open { 0 } else { -1 },
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // After the exit, only what the terminal still holds is read, without waiting.
        let timeout = if status.is_some() { 0 } else { -1 };
        // SAFETY: pfds is a valid array of pollfd.
        let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, timeout) };
        if n < 0 {
            continue;
        }
        if pfds[0].revents != 0 {
            while let Some(sig) = next_signal(sigfd.as_raw_fd()) {
                match sig {
                    libc::SIGCHLD => {}
                    libc::SIGWINCH => copy_winsize(0, master.as_raw_fd()),
                    // SAFETY: signalling our own child, not yet reaped.
                    sig if status.is_none() => unsafe {
                        libc::kill(pid, sig);
                    },
                    _ => {}
                }
            }
            let mut st = 0;
            // SAFETY: waiting for our own child without blocking.
            if status.is_none() && unsafe { libc::waitpid(pid, &mut st, libc::WNOHANG) } == pid {
                status = Some(st);
            }
        }
        let mut output = false;
        if pfds[1].revents != 0 {
            // SAFETY: buf is valid for its length.
            let n = unsafe {
                libc::read(
                    master.as_raw_fd(),
                    buf.as_mut_ptr() as *mut libc::c_void,
                    buf.len(),
                )
            };
            if n > 0 {
                write_all(1, &buf[..n as usize]);
                output = true;
            } else {
                // EOF or EIO: every holder of the terminal is gone.
                master_open = false;
            }
        }
        if stdin_open && pfds[2].revents != 0 {
            // SAFETY: buf is valid for its length.
            let n = unsafe { libc::read(0, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
            if n > 0 {
                write_all(master.as_raw_fd(), &buf[..n as usize]);
            } else {
                stdin_open = false;
            }
        }
        if let (Some(st), false) = (status, output) {
            return exit_code(st);
        }
    }
}
