//! Writing a new layer's tree: regular files are copied after the walk that creates the
//! directories, on a few threads (creating many small files is bound by the file system's
//! latency more than by one core), through the open descriptor; directory times are set last,
//! since creating entries changes them.

use std::fs::{self, File, Metadata};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Timespec, Timestamps};

use super::copy::Owner;

/// What a copy leaves for after the walk: regular files (copied on several threads once every
/// directory exists) and directory times (set last, since creating entries changes them).
#[derive(Default)]
pub(crate) struct Pending {
    files: Vec<FileJob>,
    /// Index in `files` by destination, so a later source replaces an earlier one.
    by_dst: std::collections::HashMap<PathBuf, usize>,
    dir_times: Vec<(PathBuf, Metadata)>,
}

pub(crate) struct FileJob {
    pub src: PathBuf,
    pub dst: PathBuf,
    pub mode: u32,
    pub owner: Owner,
    pub md: Metadata,
}

impl Pending {
    pub fn file(&mut self, job: FileJob) {
        match self.by_dst.get(&job.dst) {
            Some(&i) => self.files[i] = job,
            None => {
                self.by_dst.insert(job.dst.clone(), self.files.len());
                self.files.push(job);
            }
        }
    }

    /// A directory now at `dst` replaces any file meant for that path.
    pub fn replaced(&mut self, dst: &Path) {
        if let Some(i) = self.by_dst.remove(dst) {
            // Keep indices stable: turn the job into a no-op.
            self.files[i].dst = PathBuf::new();
        }
    }

    pub fn dir_time(&mut self, dir: &Path, md: &Metadata) {
        self.dir_times.push((dir.to_path_buf(), md.clone()));
    }

    /// Copies the files (on up to four threads: creating many small files is bound by the
    /// file system's latency more than by one core), then sets the directories' times.
    pub fn finish(self) -> std::result::Result<(), String> {
        let jobs: Vec<&FileJob> = self
            .files
            .iter()
            .filter(|j| !j.dst.as_os_str().is_empty())
            .collect();
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .clamp(1, 4)
            .min(jobs.len().div_ceil(64).max(1));
        let next = std::sync::atomic::AtomicUsize::new(0);
        let first_error: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else { break };
                    if let Err(e) = copy_file(job) {
                        if let Ok(mut slot) = first_error.lock() {
                            slot.get_or_insert(e);
                        }
                        next.store(usize::MAX / 2, std::sync::atomic::Ordering::Relaxed);
                        break;
                    }
                });
            }
        });
        if let Some(e) = first_error.into_inner().ok().flatten() {
            return Err(e);
        }
        for (dir, md) in &self.dir_times {
            set_times(dir, md).map_err(|e| format!("setting times of {}: {e}", dir.display()))?;
        }
        Ok(())
    }
}

/// One regular file: content, then owner, mode and times through the open descriptor.
fn copy_file(job: &FileJob) -> std::result::Result<(), String> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut src = File::open(&job.src).map_err(|e| format!("{}: {e}", job.src.display()))?;
    let mut dst = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&job.dst)
        .map_err(|e| format!("creating {}: {e}", job.dst.display()))?;
    std::io::copy(&mut src, &mut dst).map_err(|e| format!("copying {}: {e}", job.src.display()))?;
    let e = |what: &str, err: rustix::io::Errno| {
        format!(
            "{what} {}: {}",
            job.dst.display(),
            std::io::Error::from(err)
        )
    };
    rustix::fs::fchown(
        &dst,
        Some(rustix::fs::Uid::from_raw(job.owner.uid)),
        Some(rustix::fs::Gid::from_raw(job.owner.gid)),
    )
    .map_err(|x| e("chown", x))?;
    // After chown, which clears setuid/setgid bits.
    rustix::fs::fchmod(&dst, rustix::fs::Mode::from_raw_mode(job.mode))
        .map_err(|x| e("chmod", x))?;
    let ts = Timespec {
        tv_sec: job.md.mtime(),
        tv_nsec: job.md.mtime_nsec() as _,
    };
    rustix::fs::futimens(
        &dst,
        &Timestamps {
            last_access: ts,
            last_modification: ts,
        },
    )
    .map_err(|x| e("setting times of", x))
}

pub(crate) fn set_meta(
    host: &Path,
    mode: u32,
    owner: Owner,
    times: Option<&Metadata>,
) -> std::result::Result<(), String> {
    let e = |what: &str, err: std::io::Error| format!("{what} {}: {err}", host.display());
    std::os::unix::fs::lchown(host, Some(owner.uid), Some(owner.gid)).map_err(|x| e("chown", x))?;
    let md = fs::symlink_metadata(host).map_err(|x| e("examining", x))?;
    if !md.file_type().is_symlink() {
        fs::set_permissions(host, fs::Permissions::from_mode(mode)).map_err(|x| e("chmod", x))?;
    }
    if let Some(t) = times {
        set_times(host, t).map_err(|x| e("setting times of", x))?;
    }
    Ok(())
}

pub(crate) fn set_times(host: &Path, md: &Metadata) -> std::io::Result<()> {
    let ts = Timespec {
        tv_sec: md.mtime(),
        tv_nsec: md.mtime_nsec() as _,
    };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        host,
        &Timestamps {
            last_access: ts,
            last_modification: ts,
        },
        AtFlags::SYMLINK_NOFOLLOW,
    )
    .map_err(std::io::Error::from)
}
