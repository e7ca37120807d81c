//! Small file-system helpers for crash-safe writes.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{IoContext, Result};

/// A fresh, unique name for a temporary file or directory inside `dir`:
/// `.tmp-<pid>-<counter>-<what>`. The pid lets `check` tell whose it is.
pub fn temp_path(dir: &Path, what: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    dir.join(format!(".tmp-{}-{n}-{nanos:x}-{what}", std::process::id()))
}

/// Writes `bytes` to `path` through a temporary file in the same directory, fsync and rename,
/// then fsyncs the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = temp_path(dir, "w");
    let res = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&tmp)
            .ctx(|| format!("creating {}", tmp.display()))?;
        f.write_all(bytes)
            .ctx(|| format!("writing {}", tmp.display()))?;
        f.sync_all().ctx(|| format!("syncing {}", tmp.display()))?;
        fs::rename(&tmp, path).ctx(|| format!("renaming into {}", path.display()))?;
        fsync_dir(dir)
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res
}

/// fsync on a directory, so renames in it are durable.
pub fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .ctx(|| format!("syncing directory {}", dir.display()))
}

/// syncfs(2) on the file system holding `path`: one call makes every earlier write durable.
pub fn syncfs(path: &Path) -> Result<()> {
    let f = File::open(path).ctx(|| format!("opening {}", path.display()))?;
    rustix::fs::syncfs(&f).ctx(|| format!("syncfs on {}", path.display()))
}

/// Removes a file or a directory tree; a missing one is fine. Makes read-only directories
/// writable on the way (layer trees may hold them).
pub fn remove_any(path: &Path) -> Result<()> {
    let md = match fs::symlink_metadata(path) {
        Ok(md) => md,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(crate::error::ImageError::io(
                format!("examining {}", path.display()),
                e,
            ))
        }
    };
    if md.is_dir() {
        match fs::remove_dir_all(path) {
            Ok(()) => Ok(()),
            Err(_) => {
                make_tree_writable(path);
                fs::remove_dir_all(path).ctx(|| format!("removing {}", path.display()))
            }
        }
    } else {
        fs::remove_file(path).ctx(|| format!("removing {}", path.display()))
    }
}

fn make_tree_writable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(md) = fs::symlink_metadata(path) {
        if md.is_dir() {
            let _ = fs::set_permissions(path, fs::Permissions::from_mode(0o700));
            if let Ok(rd) = fs::read_dir(path) {
                for e in rd.flatten() {
                    make_tree_writable(&e.path());
                }
            }
        }
    }
}

/// An exclusive advisory lock on a file, held until dropped.
pub struct FileLock {
    _file: File,
}

impl FileLock {
    pub fn exclusive(path: &Path) -> Result<FileLock> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .ctx(|| format!("opening lock {}", path.display()))?;
        rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
            .ctx(|| format!("locking {}", path.display()))?;
        Ok(FileLock { _file: file })
    }
}
