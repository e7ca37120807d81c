//! Where a new child process first runs: on another CPU than its parent's, when the parent
//! goes on working and the child's work overlaps it.
//!
//! A new task starts on its parent's CPU, and a busy parent keeps it waiting there: traced
//! on the 2-core machine of docs/performance.md, a child cloned to work beside the engine
//! (the network namespace's maker, the overlay's mounter, the container's init) sat
//! runnable for 0.3-2.9 ms beside an idle core, until the engine blocked for it, so its work
//! followed the engine's instead of overlapping it. Moved at once, it runs beside it.
//!
//! Moved before it starts its work, too: a new child may also preempt its parent at once and
//! do its work on the parent's CPU, the parent (and its move of the child) waiting meanwhile
//! (traced: the network namespace made in 0.73 ms in front of the engine). A child made with
//! `CLONE_VM` waits at a [`StartGate`] until its parent has moved it; the container's init
//! reads a byte its parent writes once it has.

use std::sync::atomic::{AtomicU32, Ordering};

use rustix::thread::futex;

/// A set of CPUs (the kernel's `cpu_set_t`).
#[derive(Clone, Copy)]
pub struct CpuSet(libc::cpu_set_t);

const SIZE: usize = std::mem::size_of::<libc::cpu_set_t>();

impl CpuSet {
    /// The CPUs this thread may run on.
    pub fn allowed() -> Option<CpuSet> {
        // SAFETY: a zeroed cpu_set_t is the empty set; sched_getaffinity fills it.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        // SAFETY: `set` is a cpu_set_t of SIZE bytes.
        (unsafe { libc::sched_getaffinity(0, SIZE, &mut set) } == 0).then_some(CpuSet(set))
    }

    /// Lets process `pid` (0: this thread) run on these CPUs; false if the kernel refused.
    pub fn apply_to(&self, pid: libc::pid_t) -> bool {
        // SAFETY: a cpu_set_t of SIZE bytes.
        unsafe { libc::sched_setaffinity(pid, SIZE, &self.0) == 0 }
    }
}

/// Moves child `pid` to the CPUs of `allowed` other than the one this thread is on; false,
/// and the child left where it is, when there is no other or the calls fail. The child (or
/// its parent) gives it `allowed` back ([`CpuSet::apply_to`]) before anything that should
/// run wherever the machine likes.
pub fn move_off_this_cpu(pid: libc::pid_t, allowed: &CpuSet) -> bool {
    // SAFETY: sched_getcpu has no preconditions.
    let cpu = unsafe { libc::sched_getcpu() };
    if cpu < 0 || cpu as usize >= libc::CPU_SETSIZE as usize {
        return false;
    }
    let mut others = allowed.0;
    // SAFETY: CPU_CLR/CPU_COUNT on a valid set, `cpu` below CPU_SETSIZE.
    unsafe {
        libc::CPU_CLR(cpu as usize, &mut others);
        if libc::CPU_COUNT(&others) == 0 {
            return false;
        }
    }
    CpuSet(others).apply_to(pid)
}

/// Where a child that shares its parent's memory (`CLONE_VM`) waits until the parent has
/// moved it off its CPU ([`StartGate::place_and_open`]). It must outlive the child's wait.
pub struct StartGate {
    open: AtomicU32,
    /// The process that made the gate, the child's parent.
    parent: libc::pid_t,
}

impl StartGate {
    /// A gate for a child of this process.
    pub fn for_a_child() -> StartGate {
        StartGate {
            open: AtomicU32::new(0),
            parent: rustix::process::getpid().as_raw_nonzero().get(),
        }
    }

    /// In the child: true once the gate is open; false if the parent is gone (it died
    /// before opening it), and the child should end. The child then also goes with its
    /// parent (`PR_SET_PDEATHSIG`), as it would have with nobody to reap or release it.
    /// System calls only (rustix's, which never write the errno the child shares with its
    /// parent's thread).
    pub fn wait(&self) -> bool {
        let _ =
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL));
        // Asked for too late if the parent had died already: then this is init's child.
        if rustix::process::getppid().map(|p| p.as_raw_nonzero().get()) != Some(self.parent) {
            return false;
        }
        while self.open.load(Ordering::Acquire) == 0 {
            let _ = futex::wait(&self.open, futex::Flags::PRIVATE, 0, None);
        }
        true
    }

    /// In the parent, right after the clone: moves child `pid` off this CPU (when there is
    /// another in `allowed`), then lets it start.
    pub fn place_and_open(&self, pid: libc::pid_t, allowed: Option<&CpuSet>) {
        if let Some(allowed) = allowed {
            move_off_this_cpu(pid, allowed);
        }
        self.open.store(1, Ordering::Release);
        let _ = futex::wake(&self.open, futex::Flags::PRIVATE, 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cpus_allowed_list of process `pid`, expanded ("0-2,5" → [0, 1, 2, 5]).
    fn cpus_of(pid: u32) -> Vec<usize> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let list = status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .unwrap()
            .trim();
        let mut out = Vec::new();
        for part in list.split(',') {
            match part.split_once('-') {
                Some((a, b)) => out.extend(a.parse::<usize>().unwrap()..=b.parse().unwrap()),
                None => out.push(part.parse().unwrap()),
            }
        }
        out
    }

    #[test]
    fn a_child_moved_off_this_cpu_and_given_its_cpus_back() {
        let allowed = CpuSet::allowed().expect("sched_getaffinity");
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let pid = child.id();
        let before = cpus_of(pid);
        let moved = move_off_this_cpu(pid as libc::pid_t, &allowed);
        if before.len() > 1 {
            assert!(moved, "another CPU was there to move to");
            let after = cpus_of(pid);
            assert_eq!(after.len(), before.len() - 1, "{before:?} -> {after:?}");
            assert!(after.iter().all(|c| before.contains(c)));
        } else {
            assert!(!moved, "one CPU: nowhere to go, left as it was");
        }
        assert!(allowed.apply_to(pid as libc::pid_t));
        assert_eq!(cpus_of(pid), before);
        child.kill().unwrap();
        child.wait().unwrap();
    }

    #[test]
    fn the_start_gate_holds_until_opened() {
        let gate = std::sync::Arc::new(StartGate::for_a_child());
        let passed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let waiter = {
            let (gate, passed) = (gate.clone(), passed.clone());
            std::thread::spawn(move || {
                // A thread's parent is its process's: the gate's maker is not, so wait()
                // would say "gone"; the futex itself is what this tests.
                while gate.open.load(Ordering::Acquire) == 0 {
                    let _ = futex::wait(&gate.open, futex::Flags::PRIVATE, 0, None);
                }
                passed.store(true, Ordering::SeqCst);
            })
        };
        // Not a timing assertion: whatever the waiter has done by now, it cannot have passed.
        std::thread::yield_now();
        assert!(!passed.load(Ordering::SeqCst));
        gate.place_and_open(0, None);
        waiter.join().unwrap();
        assert!(passed.load(Ordering::SeqCst));
    }
}
