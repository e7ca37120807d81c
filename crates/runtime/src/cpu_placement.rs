//! Where a new child process first runs: on another CPU than its parent's, when the parent
//! goes on working and the child's work overlaps it.
//!
//! A new task starts on its parent's CPU, and a busy parent keeps it waiting there: traced
//! on the 2-core machine of docs/performance.md, a child cloned to work beside the engine
//! (the network namespace's maker, the overlay's mounter, the container's init) sat
//! runnable for 0.3-2.9 ms beside an idle core, until the engine blocked for it, so its work
//! followed the engine's instead of overlapping it. Moved at once, it runs beside it.

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
