//! The container's root file system: an overlay of the image's read-only layers under the
//! container's own upper directory, mounted before the runtime starts and unmounted after.

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use dermaga_runtime::cpu_placement::{CpuSet, StartGate};
use dermaga_runtime::mounts::{MountAttr, MOUNT_ATTR_IDMAP};

use crate::error::{Error, Result};

/// Whether `path` is the root of a mount (statx's STATX_ATTR_MOUNT_ROOT, Linux 5.8): one
/// system call, where scanning /proc/self/mountinfo cost 0.2 ms each time.
pub fn is_mounted(path: &Path) -> bool {
    let Ok(c) = CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: statx fills the zeroed struct; the path is a valid C string.
    let mut st: libc::statx = unsafe { std::mem::zeroed() };
    let r = unsafe {
        libc::statx(
            libc::AT_FDCWD,
            c.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW | libc::AT_STATX_DONT_SYNC,
            0,
            &mut st,
        )
    };
    let root = libc::STATX_ATTR_MOUNT_ROOT as u64;
    r == 0 && st.stx_attributes_mask & root != 0 && st.stx_attributes & root != 0
}

/// How a container in a user namespace sees the image's layers: through idmapped mounts of
/// `userns`, attached under `staging` while the overlay is made.
pub struct Idmap<'a> {
    pub userns: BorrowedFd<'a>,
    pub staging: &'a Path,
}

/// A container's overlay: `links` (lowest first) are relative to `store_root`, where the
/// mount is made from, so that 100+ layers fit the mount options' page. `volatile` (for
/// containers that go with their exit, as podman does for --rm) skips the syncs of the upper
/// directory, which make the unmount wait for the disk.
pub struct Overlay {
    pub store_root: PathBuf,
    pub links: Vec<PathBuf>,
    pub upper: PathBuf,
    pub work: PathBuf,
    pub merged: PathBuf,
    pub volatile: bool,
}

impl Overlay {
    /// The lower directories as the mount options name them, lowest first.
    fn lower(&self) -> Vec<String> {
        self.links
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect()
    }
}

/// Mounts the overlay `o` at its `merged` directory (nothing if it is mounted already).
///
/// With `idmap`, the lower layers are seen through idmapped mounts of its user namespace: a
/// file the image has as uid 0 is, in the container and to the kernel's checks, the host uid
/// that the namespace maps 0 to, with nothing copied or chowned. Each directory that holds
/// layers is cloned once (`open_tree`), idmapped (`mount_setattr`), attached under the
/// staging directory for the overlay mount to find, and detached again once overlayfs holds
/// it.
pub fn mount_overlay(o: &Overlay, idmap: Option<Idmap<'_>>) -> Result<()> {
    let (store_root, links, upper, work, merged, volatile) = (
        o.store_root.as_path(),
        o.links.as_slice(),
        o.upper.as_path(),
        o.work.as_path(),
        o.merged.as_path(),
        o.volatile,
    );
    if is_mounted(merged) {
        return Ok(());
    }
    let Some(Idmap { userns, staging }) = idmap else {
        return overlay_from(store_root, &o.lower(), upper, work, merged, volatile);
    };
    // Layers live side by side in a few directories (the store's layers/): one idmapped clone
    // of each such directory serves them all.
    let mut parents: Vec<PathBuf> = Vec::new();
    let mut lower = Vec::new();
    for l in links {
        let real = store_root
            .join(l)
            .canonicalize()
            .map_err(|e| Error::engine(format!("layer {}: {e}", store_root.join(l).display())))?;
        let (Some(parent), Some(name)) = (real.parent(), real.file_name()) else {
            return Err(Error::engine(format!(
                "layer {} is a file system root, which cannot be idmapped alone",
                real.display()
            )));
        };
        let i = match parents.iter().position(|p| p == parent) {
            Some(i) => i,
            None => {
                parents.push(parent.to_path_buf());
                parents.len() - 1
            }
        };
        lower.push(format!("{i}/{}", name.to_string_lossy()));
    }
    std::fs::create_dir_all(staging)
        .map_err(|e| Error::engine(format!("creating {}: {e}", staging.display())))?;
    let mut attached = Vec::new();
    let res = (|| {
        for (i, parent) in parents.iter().enumerate() {
            let at = staging.join(i.to_string());
            std::fs::create_dir_all(&at)
                .map_err(|e| Error::engine(format!("creating {}: {e}", at.display())))?;
            idmapped_clone(parent, &at, userns)?;
            attached.push(at);
        }
        overlay_from(staging, &lower, upper, work, merged, volatile)
    })();
    // overlayfs keeps private clones of its layers: the staging mounts can go at once.
    for at in &attached {
        let _ = unmount(at);
    }
    let _ = std::fs::remove_dir_all(staging);
    res
}

/// Attaches at `at` a clone of the mount of `dir`, idmapped through `userns`.
fn idmapped_clone(dir: &Path, at: &Path, userns: BorrowedFd<'_>) -> Result<()> {
    let cdir = CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| Error::engine(format!("{}: path with NUL", dir.display())))?;
    let cat = CString::new(at.as_os_str().as_bytes())
        .map_err(|_| Error::engine(format!("{}: path with NUL", at.display())))?;
    // SAFETY: a valid C string; the result is a new descriptor or -1.
    let tree = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            cdir.as_ptr(),
            (OPEN_TREE_CLONE | libc::O_CLOEXEC as u32) as libc::c_uint,
        )
    };
    if tree < 0 {
        return Err(Error::engine(format!(
            "cloning the mount of {} (open_tree): {}",
            dir.display(),
            std::io::Error::last_os_error()
        )));
    }
    // SAFETY: open_tree returned a descriptor we now own.
    let tree = unsafe { OwnedFd::from_raw_fd(tree as i32) };
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.as_raw_fd() as u64,
    };
    // SAFETY: an empty path with AT_EMPTY_PATH on our descriptor, and the kernel's struct.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH as libc::c_uint,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r != 0 {
        let e = std::io::Error::last_os_error();
        return Err(Error::engine(format!(
            "idmapping the mount of {} (mount_setattr MOUNT_ATTR_IDMAP): {e}; --userns other \
             than host needs idmapped mounts (Linux 5.19 or later, on a file system that allows \
             them, such as ext4, xfs, btrfs or tmpfs)",
            dir.display()
        )));
    }
    // SAFETY: our descriptor, an empty path with MOVE_MOUNT_F_EMPTY_PATH, a valid C string.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_FDCWD,
            cat.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    if r != 0 {
        return Err(Error::engine(format!(
            "attaching the idmapped mount of {} at {}: {}",
            dir.display(),
            at.display(),
            std::io::Error::last_os_error()
        )));
    }
    Ok(())
}

// From <linux/mount.h>; the libc crate has the syscall numbers but not these.
const OPEN_TREE_CLONE: u32 = 1;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;

/// The overlay's mount options: `lowerdir` (lowest first in `lower_lowest_first`, relative
/// to the directory the mount is made from), `upperdir`, `workdir`, and `volatile`.
fn overlay_options(
    lower_lowest_first: &[String],
    upper: &Path,
    work: &Path,
    volatile: bool,
) -> String {
    let lower: Vec<String> = lower_lowest_first
        .iter()
        .rev()
        .map(|p| p.replace(':', "\\:"))
        .collect();
    let mut opts = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        upper.display(),
        work.display()
    );
    if volatile {
        opts.push_str(",volatile");
    }
    opts
}

/// The overlay mount itself, from `cwd` (lower paths relative to it, lowest first).
fn overlay_from(
    cwd: &Path,
    lower_lowest_first: &[String],
    upper: &Path,
    work: &Path,
    merged: &Path,
    volatile: bool,
) -> Result<()> {
    let opts = overlay_options(lower_lowest_first, upper, work, volatile);
    if volatile {
        // overlayfs leaves this marker and refuses the next mount while it exists; we only
        // mount again after our own clean unmount (a crash of the machine empties /run and
        // `system check` removes such containers), so the upper directory is intact.
        let _ = std::fs::remove_dir_all(work.join("work/incompat"));
        let _ = std::fs::remove_dir_all(work.join("incompat"));
    }
    let prev = std::env::current_dir().ok();
    std::env::set_current_dir(cwd)
        .map_err(|e| Error::engine(format!("entering {}: {e}", cwd.display())))?;
    let r = mount("overlay", merged, "overlay", 0, Some(&opts));
    if let Some(c) = prev {
        let _ = std::env::set_current_dir(c);
    }
    r.map_err(|e| {
        Error::engine(format!(
            "mounting the container's root file system (overlay) at {}: {e}",
            merged.display()
        ))
    })
}

pub fn mount(
    src: &str,
    target: &Path,
    fstype: &str,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> std::io::Result<()> {
    let c = |s: &str| CString::new(s).map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL));
    let src = c(src)?;
    let target = c(&target.to_string_lossy())?;
    let fstype = c(fstype)?;
    let data = data.map(c).transpose()?;
    // SAFETY: every pointer is a valid NUL-terminated string or null.
    let r = unsafe {
        libc::mount(
            src.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            flags,
            data.as_ref()
                .map_or(std::ptr::null(), |d| d.as_ptr() as *const libc::c_void),
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Whether this process creates containers and starts them itself at once (an attached
/// `run`), so that their overlays are mounted early ([`start_overlay`]).
static EARLY_MOUNTS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The early mount under way, with the id of its container.
static EARLY_MOUNT: std::sync::Mutex<Option<(String, PendingOverlay)>> =
    std::sync::Mutex::new(None);

/// Call in a command that starts the container it creates in this same process (an
/// attached `run`): the container's overlay is then mounted while its files and record are
/// written. A command that only creates leaves the mount to whoever starts the container.
pub fn mount_early() {
    EARLY_MOUNTS.store(true, std::sync::atomic::Ordering::Relaxed);
}

pub(crate) fn early_mounts_wanted() -> bool {
    EARLY_MOUNTS.load(std::sync::atomic::Ordering::Relaxed)
}

pub(crate) fn keep_early_mount(id: &str, m: PendingOverlay) {
    if let Ok(mut slot) = EARLY_MOUNT.lock() {
        *slot = Some((id.to_string(), m));
    }
}

/// Waits for the early mount of container `id`, if one was started; true if there was one.
pub(crate) fn finish_early_mount(id: &str) -> bool {
    let taken = match EARLY_MOUNT.lock() {
        Ok(mut slot) if slot.as_ref().is_some_and(|(i, _)| i == id) => slot.take(),
        _ => None,
    };
    match taken {
        Some((_, m)) => {
            m.wait();
            true
        }
        None => false,
    }
}

/// An overlay mount made by a child process on another CPU while the caller goes on
/// ([`start_overlay`]): `run` starts it as soon as the container's directories exist, and
/// the mount (0.3-0.4 ms of kernel work: overlayfs sets up and probes its work directory)
/// then overlaps the container's files and record instead of preceding the runtime's start.
/// [`PendingOverlay::wait`] before anything needs the mount; the caller then mounts as
/// usual, which finds the overlay there (or mounts it itself, and reports the error, if the
/// child could not).
pub struct PendingOverlay {
    pid: libc::pid_t,
    allowed: Option<CpuSet>,
    // Read by the child until it exits: kept until then.
    _args: Box<OverlayArgs>,
    _stack: Box<[u128]>,
}

struct OverlayArgs {
    cwd: CString,
    target: CString,
    data: CString,
    gate: StartGate,
}

/// The child: system calls only (rustix's, which never write the errno it would share with
/// the parent's thread), on its own stack; its own working directory (no CLONE_FS).
extern "C" fn mount_overlay_child(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: the parent passes an OverlayArgs it keeps alive until this child has exited.
    let a = unsafe { &*(arg as *const OverlayArgs) };
    if !a.gate.wait() {
        return libc::ECHILD;
    }
    if let Err(e) = rustix::process::chdir(a.cwd.as_c_str()) {
        return e.raw_os_error();
    }
    match rustix::mount::mount(
        c"overlay",
        a.target.as_c_str(),
        c"overlay",
        rustix::mount::MountFlags::empty(),
        a.data.as_c_str(),
    ) {
        Ok(()) => 0,
        Err(e) => e.raw_os_error(),
    }
}

/// Starts mounting the overlay `o` in a child that shares this process's memory; None if it
/// could not start (the caller's own mount then does it all).
pub fn start_overlay(o: &Overlay) -> Option<PendingOverlay> {
    let args = Box::new(OverlayArgs {
        cwd: CString::new(o.store_root.as_os_str().as_bytes()).ok()?,
        target: CString::new(o.merged.as_os_str().as_bytes()).ok()?,
        data: CString::new(overlay_options(&o.lower(), &o.upper, &o.work, o.volatile)).ok()?,
        gate: StartGate::for_a_child(),
    });
    // 16 KiB: the child's two calls need a few hundred bytes.
    let mut stack = vec![0u128; 1024].into_boxed_slice();
    // SAFETY: the child runs `mount_overlay_child` on the top of `stack` (16-byte aligned
    // u128 words), reading only `args`; both live in the PendingOverlay, which waits for the
    // child before they go.
    let pid = unsafe {
        let top = stack.as_mut_ptr().add(stack.len()) as *mut libc::c_void;
        libc::clone(
            mount_overlay_child,
            top,
            libc::CLONE_VM | libc::SIGCHLD,
            &*args as *const OverlayArgs as *mut libc::c_void,
        )
    };
    if pid <= 0 {
        return None;
    }
    // Beside this process, not in front of it (see `dermaga_runtime::cpu_placement`).
    let allowed = CpuSet::allowed();
    args.gate.place_and_open(pid, allowed.as_ref());
    Some(PendingOverlay {
        pid,
        allowed,
        _args: args,
        _stack: stack,
    })
}

impl PendingOverlay {
    /// Waits for the child: afterwards the overlay is mounted, or the child failed.
    pub fn wait(mut self) {
        self.reap();
    }

    fn reap(&mut self) {
        if self.pid <= 0 {
            return;
        }
        let mut status = 0;
        // Not done yet: let it run on this CPU too while this process waits.
        // SAFETY: polling our own child, into a local.
        if unsafe { libc::waitpid(self.pid, &mut status, libc::__WALL | libc::WNOHANG) } == 0 {
            if let Some(allowed) = &self.allowed {
                allowed.apply_to(self.pid);
            }
        } else {
            self.pid = 0;
            return;
        }
        // SAFETY: waiting for our own child, into a local.
        while unsafe { libc::waitpid(self.pid, &mut status, libc::__WALL) } < 0
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)
        {}
        self.pid = 0;
    }
}

impl Drop for PendingOverlay {
    /// Never lets the arguments go while the child may read them.
    fn drop(&mut self) {
        self.reap();
    }
}

/// Unmounts a container's root file system and, should a crash have left them, the idmapped
/// layer mounts of its staging directory: removing the container's directory must never
/// descend into the image's layers through them.
pub fn unmount_container(dir: &Path) -> Result<()> {
    if let Ok(entries) = std::fs::read_dir(dir.join(IDMAP_STAGING)) {
        for e in entries.flatten() {
            unmount(&e.path())?;
        }
    }
    unmount(&dir.join("merged"))
}

/// Where [`mount_overlay`]'s idmapped clones are attached, in a container's directory.
pub const IDMAP_STAGING: &str = "idmapped";

/// Unmounts `path` if it is mounted (lazily when busy).
pub fn unmount(path: &Path) -> Result<()> {
    if !is_mounted(path) {
        return Ok(());
    }
    let c = CString::new(path.to_string_lossy().as_bytes())
        .map_err(|_| Error::engine("path with NUL"))?;
    // SAFETY: valid C string.
    if unsafe { libc::umount2(c.as_ptr(), 0) } == 0 {
        return Ok(());
    }
    // SAFETY: valid C string.
    if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } == 0 {
        return Ok(());
    }
    Err(Error::engine(format!(
        "unmounting {}: {}",
        path.display(),
        std::io::Error::last_os_error()
    )))
}
