//! `dermaga cp`: files between the host and a container's root file system, both ways.
//! Paths inside the container resolve as the container sees them (symbolic links cannot lead
//! out of its root). Volumes mounted into the container are not reached (podman's are).

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::db::State;
use crate::engine::Engine;
use crate::error::{Context, Error, Result};
use crate::util::{resolve_in_root, FileLock};

/// Copies `src` to `dst`, recursively, keeping modes, owners (or giving every copy to
/// `owner`) and symbolic links.
pub fn copy_tree(src: &Path, dst: &Path, owner: Option<(u32, u32)>) -> Result<()> {
    let md = fs::symlink_metadata(src).ctx(|| format!("{}", src.display()))?;
    let ft = md.file_type();
    if ft.is_symlink() {
        let target = fs::read_link(src).ctx(|| format!("{}", src.display()))?;
        let _ = fs::remove_file(dst);
        std::os::unix::fs::symlink(&target, dst).ctx(|| format!("{}", dst.display()))?;
    } else if ft.is_dir() {
        if !dst.is_dir() {
            fs::create_dir(dst).ctx(|| format!("creating {}", dst.display()))?;
        }
        for e in fs::read_dir(src).ctx(|| format!("{}", src.display()))? {
            let e = e.ctx(|| format!("{}", src.display()))?;
            copy_tree(&e.path(), &dst.join(e.file_name()), owner)?;
        }
        fs::set_permissions(dst, fs::Permissions::from_mode(md.mode() & 0o7777)).ok();
    } else if ft.is_file() {
        fs::copy(src, dst).ctx(|| format!("copying {} to {}", src.display(), dst.display()))?;
    } else {
        return Err(Error::engine(format!(
            "{}: not a regular file, directory or link",
            src.display()
        )));
    }
    let (uid, gid) = owner.unwrap_or((md.uid(), md.gid()));
    let _ = std::os::unix::fs::lchown(dst, Some(uid), Some(gid));
    Ok(())
}

/// Where a copy lands: into `dst` if it is a directory, else at `dst`.
fn target(dst: &Path, src: &Path) -> Result<PathBuf> {
    if dst.is_dir() {
        let name = src
            .file_name()
            .ok_or_else(|| Error::engine(format!("{}: no file name", src.display())))?;
        Ok(dst.join(name))
    } else {
        match dst.parent() {
            Some(p) if p.as_os_str().is_empty() || p.is_dir() => Ok(dst.to_path_buf()),
            _ => Err(Error::engine(format!(
                "{}: no such directory",
                dst.display()
            ))),
        }
    }
}

impl Engine {
    /// `cp SRC DST` where one side is `CONTAINER:PATH`.
    pub fn copy(&self, src: &str, dst: &str) -> Result<()> {
        let split = |s: &str| -> Option<(String, String)> {
            if s.starts_with('/') || s.starts_with('.') {
                return None;
            }
            s.split_once(':')
                .map(|(a, b)| (a.to_string(), b.to_string()))
        };
        match (split(src), split(dst)) {
            (Some(_), Some(_)) => Err(Error::engine("copying between containers is not supported")),
            (None, None) => Err(Error::engine("one of the paths must be CONTAINER:PATH")),
            (Some((ctr, path)), None) => self.with_rootfs(&ctr, |root, _| {
                let from = resolve_in_root(root, &path, !path.ends_with("/."));
                if !from.exists() && fs::symlink_metadata(&from).is_err() {
                    return Err(Error::engine(format!(
                        "{ctr}:{path}: no such file or directory"
                    )));
                }
                copy_tree(&from, &target(Path::new(dst), &from)?, None)
            }),
            (None, Some((ctr, path))) => self.with_rootfs(&ctr, |root, c| {
                // In a user namespace the copies are its root's, as podman's cp makes them:
                // the host's ids would be the overflow id inside.
                let owner = crate::userns::to_host(&c.config.uid_map, 0)
                    .zip(crate::userns::to_host(&c.config.gid_map, 0));
                let from = Path::new(src);
                if fs::symlink_metadata(from).is_err() {
                    return Err(Error::engine(format!("{src}: no such file or directory")));
                }
                let to = resolve_in_root(root, &path, true);
                copy_tree(from, &target(&to, from)?, owner)
            }),
        }
    }

    /// Runs `f` with the container's root file system mounted (mounting it for the while
    /// when the container is not running).
    fn with_rootfs<T>(
        &self,
        key: &str,
        f: impl FnOnce(&Path, &crate::db::Container) -> Result<T>,
    ) -> Result<T> {
        let c = self.get_checked(key)?;
        if c.state == State::Running {
            let root = c
                .config
                .rootfs
                .clone()
                .unwrap_or_else(|| self.paths(&c.id).merged());
            return f(&root, &c);
        }
        let p = self.paths(&c.id);
        let _lock = FileLock::try_exclusive(&p.lock())?
            .ok_or_else(|| Error::engine(format!("container {} is starting; try again", c.name)))?;
        let root = self.mount_rootfs(&c)?;
        let r = f(&root, &c);
        let _ = self.unmount_rootfs(&c);
        r
    }
}
