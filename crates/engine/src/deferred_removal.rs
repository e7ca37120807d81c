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
//! Consistency: the child holds the store's lock (shared, as every removal does) until it is
//! done, so `system check`, which takes the store lock exclusively, waits for it and then
//! finds nothing left. A child killed half-way leaves
//! what `system check --repair` removes (directories, a mount, runtime state without a
//! container record), as a removal cut short always did.

use std::os::fd::OwnedFd;

use crate::config::MountKind;
use crate::db::Container;
use crate::engine::Engine;
use crate::error::Result;
use crate::rootfs;
use crate::runtime::{single_threaded, OciRuntime};

impl Engine {
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
/// terminal or process group reaches it), /dev/null as its stdio (whoever reads the caller's
/// output sees its end when the caller exits), and no descriptor of the caller's but `keep`
/// (a pipe or a lock it held open would keep others waiting).
fn detach_from_caller(keep: &[i32]) {
    // SAFETY: plain system calls on descriptors this process owns.
    unsafe {
        libc::setsid();
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
