//! The container's root file system: an overlay of the image's read-only layers under the
//! container's own upper directory, mounted before the runtime starts and unmounted after.

use std::ffi::CString;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Whether `path` is a mount point in this mount namespace.
pub fn is_mounted(path: &Path) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = path.to_string_lossy();
    info.lines()
        .any(|l| l.split(' ').nth(4).map(unescape).as_deref() == Some(&*want))
}

fn unescape(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// Mounts an overlay at `merged`: `links` (lowest first) are relative to `store_root`, where
/// the mount is made from, so that 100+ layers fit the mount options' page. `volatile` (for
/// containers that go with their exit, as podman does for --rm) skips the syncs of the upper
/// directory, which make the unmount wait for the disk.
pub fn mount_overlay(
    store_root: &Path,
    links: &[PathBuf],
    upper: &Path,
    work: &Path,
    merged: &Path,
    volatile: bool,
) -> Result<()> {
    if is_mounted(merged) {
        return Ok(());
    }
    let lower: Vec<String> = links
        .iter()
        .rev()
        .map(|p| p.to_string_lossy().replace(':', "\\:"))
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
    let cwd = std::env::current_dir().ok();
    std::env::set_current_dir(store_root)
        .map_err(|e| Error::engine(format!("entering {}: {e}", store_root.display())))?;
    let r = mount("overlay", merged, "overlay", 0, Some(&opts));
    if let Some(c) = cwd {
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
