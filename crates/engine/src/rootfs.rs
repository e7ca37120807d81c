//! The container's root file system: an overlay of the image's read-only layers under the
//! container's own upper directory, mounted before the runtime starts and unmounted after.

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

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

/// Mounts an overlay at `merged`: `links` (lowest first) are relative to `store_root`, where
/// the mount is made from, so that 100+ layers fit the mount options' page. `volatile` (for
/// containers that go with their exit, as podman does for --rm) skips the syncs of the upper
/// directory, which make the unmount wait for the disk.
///
/// With `idmap`, the lower layers are seen through idmapped mounts of its user namespace: a
/// file the image has as uid 0 is, in the container and to the kernel's checks, the host uid
/// that the namespace maps 0 to, with nothing copied or chowned. Each directory that holds
/// layers is cloned once (`open_tree`), idmapped (`mount_setattr`), attached under the
/// staging directory for the overlay mount to find, and detached again once overlayfs holds
/// it.
pub fn mount_overlay(
    store_root: &Path,
    links: &[PathBuf],
    upper: &Path,
    work: &Path,
    merged: &Path,
    volatile: bool,
    idmap: Option<Idmap<'_>>,
) -> Result<()> {
    if is_mounted(merged) {
        return Ok(());
    }
    let Some(Idmap { userns, staging }) = idmap else {
        let lower: Vec<String> = links
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        return overlay_from(store_root, &lower, upper, work, merged, volatile);
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
const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
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
