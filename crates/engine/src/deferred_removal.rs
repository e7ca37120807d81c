//! The end of an attached `run --rm`: the container's record goes before the command
//! returns, its runtime state, cgroups, mounts and files just after, in a child process.
//!
//! Whoever waits for `run --rm` (a shell, a script, a benchmark) waits for the command's
//! exit, and what a container leaves on the host takes 2.5–7 ms to remove: five cgroup
//! directories, an overlay unmount and the container's directories, each of those kernel
//! operations waiting for an RCU grace period or, on a file system mounted with `discard`,
//! for the disk. None of it changes what the next command sees once the record is gone: the
//! container is no longer listed, inspected or waited for, and its name is free, as after
//! podman's `run --rm` (which removes the container before returning). So the record goes
//! first, and a child that outlives the command removes the rest.
//!
//! The child is forked while the container's init builds its root file system, when the
//! monitor would only wait ([`Engine::fork_remover`]): a fork at the end would cost the
//! command 0.3–0.5 ms. It waits, holding the container's mount namespace, until the monitor
//! hands it the store's lock; the monitor's end (or death) before that ends it with nothing
//! done.
//!
//! Consistency: the child holds the store's lock (shared, as every removal does) until it is
//! done, so `system check`, which takes the store lock exclusively, waits for it and then
//! finds nothing left. A child killed half-way leaves
//! what `system check --repair` removes (directories, a mount, runtime state without a
//! container record), as a removal cut short always did.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::config::MountKind;
use crate::db::Container;
use crate::engine::Engine;
use crate::error::Result;
use crate::rootfs;
use crate::runtime::{single_threaded, OciRuntime};

/// A child of the monitor, forked ahead of the container's end, that removes what the
/// container leaves once handed the store's lock ([`Engine::remove_exited_handing_over`]).
pub struct Remover {
    sock: OwnedFd,
}

impl Engine {
    /// Forks the [`Remover`] of container `c`, which goes with its exit (--rm). `mount_ns`:
    /// the container's mount namespace, which the remover holds from now on (see
    /// [`hold_mount_namespace`]). None if this process cannot fork safely or the fork
    /// failed: the removal then forks at the end
    /// ([`remove_exited_deferring_files`](Self::remove_exited_deferring_files)).
    pub fn fork_remover(
        &self,
        c: &Container,
        rt: &OciRuntime,
        mount_ns: Option<OwnedFd>,
    ) -> Option<Remover> {
        if !single_threaded() {
            return None;
        }
        let volumes = self.anonymous_volumes(c).ok()?;
        let mut fds = [0; 2];
        // SAFETY: socketpair fills the array.
        let r = unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
                0,
                fds.as_mut_ptr(),
            )
        };
        if r != 0 {
            return None;
        }
        // SAFETY: fresh descriptors we own.
        let (ours, theirs) =
            unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // SAFETY: this process has one thread, and the child never touches the database
        // connection it inherits and leaves with _exit (no destructors, no stdio flush).
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return None;
        }
        if pid > 0 {
            return Some(Remover { sock: ours });
        }
        drop(ours);
        let mut keep = vec![theirs.as_raw_fd()];
        keep.extend(mount_ns.as_ref().map(|f| f.as_raw_fd()));
        detach_from_caller(&keep);
        // The store's lock, or the monitor's end (the container is not removed by us then).
        if let Ok(store) = dermaga_runtime::console::recv_fd(theirs.as_raw_fd()) {
            drop(mount_ns);
            self.remove_leftovers(c, rt, &volumes);
            drop(store);
        }
        // SAFETY: ends the child without running the parent's destructors.
        unsafe { libc::_exit(0) }
    }

    /// Ends container `c`, which exited and goes with its exit (--rm), for an attached run
    /// that forked its [`Remover`]: removes its record (and its anonymous volumes' records)
    /// now, in one transaction, and hands the remover the store's lock for the rest.
    pub fn remove_exited_handing_over(&self, c: &Container, remover: Remover) -> Result<()> {
        let store = self.lock_store()?;
        let volumes = self.anonymous_volumes(c)?;
        self.db.delete_with_volumes(&c.id, &volumes)?;
        // In flight, the descriptor keeps the lock held until the remover has it.
        if dermaga_runtime::console::send_fd(remover.sock.as_raw_fd(), store.fd(), "store").is_err()
        {
            // The remover is gone: what it would have removed is left for `system check`.
            eprintln!(
                "dermaga: warning: container {}: removed, but its files are left for \
                 `dermaga system check --repair`",
                &c.id[..c.id.len().min(12)]
            );
        }
        Ok(())
    }

    /// Ends container `c`, which exited and goes with its exit (--rm), for an attached run:
    /// removes its record (and its anonymous volumes' records) now, in one transaction, and
    /// leaves the rest to a child process (see the module's documentation). `held` are
    /// descriptors to close in that child before unmounting (the container's mount
    /// namespace, held so that the container's exit did not wait for its teardown).
    ///
    /// A caller with more than one thread cannot fork safely: it gets the removal done
    /// before this returns.
    pub fn remove_exited_deferring_files(
        &self,
        c: &Container,
        rt: &OciRuntime,
        held: Vec<OwnedFd>,
    ) -> Result<()> {
        let store = self.lock_store()?;
        let volumes = self.anonymous_volumes(c)?;
        self.db.delete_with_volumes(&c.id, &volumes)?;
        if !single_threaded() {
            drop(held);
            self.remove_leftovers(c, rt, &volumes);
            return Ok(());
        }
        // SAFETY: this process has one thread, and the child never touches the database
        // connection it inherits and leaves with _exit (no destructors, no stdio flush).
        let pid = unsafe { libc::fork() };
        if pid != 0 {
            if pid < 0 {
                drop(held);
                self.remove_leftovers(c, rt, &volumes);
            }
            // The child keeps the store lock (the same open file) until it is done.
            drop(store);
            return Ok(());
        }
        drop(held);
        detach_from_caller(&[store.fd()]);
        self.remove_leftovers(c, rt, &volumes);
        // SAFETY: ends the child without running the parent's destructors.
        unsafe { libc::_exit(0) }
    }

    /// Names of the anonymous volumes that go with container `c`.
    fn anonymous_volumes(&self, c: &Container) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for m in c
            .config
            .mounts
            .iter()
            .filter(|m| m.kind == MountKind::Volume)
        {
            if self.db.volume(&m.source)?.is_some_and(|v| v.anonymous) {
                out.push(m.source.clone());
            }
        }
        Ok(out)
    }

    /// What an exited container leaves once its record is gone: runtime state and cgroups,
    /// the root file system's mount, its directories, its anonymous volumes' directories.
    /// Failures leave what `system check --repair` removes.
    fn remove_leftovers(&self, c: &Container, rt: &OciRuntime, volumes: &[String]) {
        let p = self.paths(&c.id);
        let _ = rt.delete(&c.id, true);
        let _ = rootfs::unmount_container(&p.dir);
        let _ = std::fs::remove_dir_all(&p.dir);
        let _ = std::fs::remove_dir_all(&p.run);
        for v in volumes {
            let _ = std::fs::remove_dir_all(self.volumes_dir().join(v));
        }
    }
}

/// In a child that outlives its caller: its own session (no signal for the caller's
/// terminal or process group reaches it, and the terminal's are ignored), /dev/null as its
/// stdio (whoever reads the caller's output sees its end when the caller exits), and no
/// descriptor of the caller's but `keep` (a pipe or a lock it held open would keep others
/// waiting).
fn detach_from_caller(keep: &[i32]) {
    // SAFETY: plain system calls on descriptors and signal sets this process owns.
    unsafe {
        libc::setsid();
        // The caller's terminal going away sends its group a SIGHUP, perhaps already pending
        // here (the monitor blocks the signals it takes through its signalfd): ignoring the
        // terminal's signals discards it before they are unblocked.
        for sig in [
            libc::SIGHUP,
            libc::SIGINT,
            libc::SIGQUIT,
            libc::SIGPIPE,
            libc::SIGTSTP,
            libc::SIGTTIN,
            libc::SIGTTOU,
            libc::SIGWINCH,
        ] {
            libc::signal(sig, libc::SIG_IGN);
        }
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC);
        if null >= 0 {
            for fd in 0..3 {
                libc::dup2(null, fd);
            }
            libc::close(null);
        }
    }
    let open: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    for fd in open.into_iter().filter(|fd| *fd > 2 && !keep.contains(fd)) {
        // SAFETY: closing a descriptor of this process that nothing here uses.
        unsafe { libc::close(fd) };
    }
}

/// The container's mount namespace, held open by its monitor so that the container's exit
/// does not wait for the namespace's teardown (an RCU grace period the kernel waits for
/// before it tells the monitor), which then happens in the child that removes the rest.
pub fn hold_mount_namespace(pid: i32) -> Option<OwnedFd> {
    std::fs::File::open(format!("/proc/{pid}/ns/mnt"))
        .ok()
        .map(OwnedFd::from)
}
