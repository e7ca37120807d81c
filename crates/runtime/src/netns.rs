//! A network namespace made ahead of a container's clone, on the other core.
//!
//! Making a network namespace is the dearest part of a container's clone: 0.43–0.57 ms
//! measured on the 2-core machine of docs/performance.md, against 0.02–0.08 ms for each of
//! the mount, IPC, UTS and PID namespaces. A caller that has milliseconds of its own work
//! before the clone (the engine: its database, the root file system, the bundle) starts a
//! child that makes one meanwhile ([`start`]); the container's init then joins it by path, as
//! it joins any namespace the spec names ([`Pending::take`]).
//!
//! The child shares the caller's memory (clone with `CLONE_VM`: no page tables copied, about
//! 0.03 ms for the caller, where a fork of the engine costs 0.3–0.7 ms) and runs on a stack
//! of its own with raw system calls only: unshare, write one byte, wait, exit. It touches
//! nothing of the caller's memory but its three descriptor numbers.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::cpu_placement::{CpuSet, StartGate};

/// A child making (or holding) a new network namespace.
pub struct Pending {
    pid: i32,
    ready: OwnedFd,
    release: Option<OwnedFd>,
    /// The CPUs the child may use by right (the caller's): it starts on the others (see
    /// `cpu_placement`) and gets them all back if the caller has to wait for it.
    allowed: Option<CpuSet>,
}

#[cfg(target_arch = "x86_64")]
unsafe fn raw_syscall(n: libc::c_long, a: libc::c_long, b: libc::c_long, c: libc::c_long) -> i64 {
    let r: i64;
    // SAFETY: the caller passes a system call and arguments valid for it; `syscall`
    // clobbers rcx and r11 and uses no stack.
    unsafe {
        std::arch::asm!(
            "syscall",
            inlateout("rax") n => r,
            in("rdi") a,
            in("rsi") b,
            in("rdx") c,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    r
}

/// What the child reads of its parent's memory (leaked for it: it may outlive the parent).
struct ChildArgs {
    /// [ready write end, release read end, release write end]
    fds: [i32; 3],
    gate: StartGate,
}

/// The child: `args` points at its [`ChildArgs`].
#[cfg(target_arch = "x86_64")]
extern "C" fn make_namespace(args: *mut libc::c_void) -> libc::c_int {
    // SAFETY: the parent leaked the arguments for this child; only system calls follow (no
    // errno, no allocation, no thread-local storage: they are the parent's).
    unsafe {
        let args = &*(args as *const ChildArgs);
        if !args.gate.wait() {
            return 1;
        }
        let [ready, release_r, release_w] = args.fds;
        raw_syscall(libc::SYS_close, release_w as _, 0, 0);
        if raw_syscall(libc::SYS_unshare, libc::CLONE_NEWNET as _, 0, 0) == 0 {
            let one = 1u8;
            raw_syscall(libc::SYS_write, ready as _, &one as *const u8 as _, 1);
        }
        // Held until the parent has opened the namespace (or has gone).
        let mut b = 0u8;
        raw_syscall(libc::SYS_read, release_r as _, &mut b as *mut u8 as _, 1);
    }
    0
}

fn pipe() -> Option<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills the array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return None;
    }
    // SAFETY: fresh descriptors we own.
    Some(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Starts a child that makes a new network namespace; None where it cannot (not x86_64,
/// no memory or descriptors): the clone then makes the namespace itself.
pub fn start() -> Option<Pending> {
    if !cfg!(target_arch = "x86_64") {
        return None;
    }
    let (ready_r, ready_w) = pipe()?;
    let (release_r, release_w) = pipe()?;
    // Left to the child (and to the process's end): 16 KiB and 16 bytes per command.
    let stack: &'static mut [u8] = Box::leak(vec![0u8; 16 * 1024].into_boxed_slice());
    let args: &'static mut ChildArgs = Box::leak(Box::new(ChildArgs {
        fds: [
            ready_w.as_raw_fd(),
            release_r.as_raw_fd(),
            release_w.as_raw_fd(),
        ],
        gate: StartGate::for_a_child(),
    }));
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the child runs `make_namespace` on its own stack (the top of `stack`, 16-byte
    // aligned) and uses only raw system calls; SIGCHLD makes it an ordinary child to reap.
    let pid = unsafe {
        let top = (stack.as_mut_ptr().add(stack.len()) as usize & !15) as *mut libc::c_void;
        libc::clone(
            make_namespace,
            top,
            libc::CLONE_VM | libc::SIGCHLD,
            args as *mut ChildArgs as *mut libc::c_void,
        )
    };
    #[cfg(not(target_arch = "x86_64"))]
    let pid = -1;
    if pid <= 0 {
        return None;
    }
    drop(ready_w);
    drop(release_r);
    let allowed = CpuSet::allowed();
    args.gate.place_and_open(pid, allowed.as_ref());
    Some(Pending {
        pid,
        ready: ready_r,
        release: Some(release_w),
        allowed,
    })
}

impl Pending {
    /// The new namespace, open; None if the child could not make it (the clone then makes
    /// the namespace itself). Ends the child.
    pub fn take(mut self) -> Option<OwnedFd> {
        if let Some(allowed) = self.allowed.take() {
            // Not done yet: the other CPUs are busy, so let it run on this one too while
            // this thread waits.
            let mut pfd = libc::pollfd {
                fd: self.ready.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one pollfd, no wait.
            if unsafe { libc::poll(&mut pfd, 1, 0) } == 0 {
                allowed.apply_to(self.pid);
            }
        }
        let mut b = 0u8;
        // SAFETY: reading one byte into a local.
        let n = unsafe { libc::read(self.ready.as_raw_fd(), &mut b as *mut u8 as _, 1) };
        if n != 1 {
            return None;
        }
        let ns = std::fs::File::open(format!("/proc/{}/ns/net", self.pid)).ok()?;
        // Never the caller's own namespace, whatever happened to the child.
        let own = std::fs::metadata("/proc/self/ns/net").ok()?;
        let got = ns.metadata().ok()?;
        use std::os::unix::fs::MetadataExt;
        if (own.dev(), own.ino()) == (got.dev(), got.ino()) {
            return None;
        }
        self.release.take();
        Some(OwnedFd::from(ns))
    }
}

impl Drop for Pending {
    /// Releases the child, which exits; it is reaped by whoever waits for any child (the
    /// engine's monitor does) or, after this process, by init. Waiting for it here cost
    /// 0.13–0.25 ms in front of the container's clone.
    fn drop(&mut self) {
        self.release.take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn a_new_network_namespace_other_than_ours() {
        let p = start().expect("a child (x86_64)");
        let pid = p.pid;
        let fd = p
            .take()
            .expect("a new network namespace (the test needs root)");
        // SAFETY: reaping the child, released by take().
        assert_eq!(unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) }, pid);
        let own = std::fs::metadata("/proc/self/ns/net").unwrap();
        let got = std::fs::File::from(fd).metadata().unwrap();
        assert_ne!(own.ino(), got.ino());
    }
}
