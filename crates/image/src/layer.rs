//! Layer blobs: compression detection and safe extraction of a layer tar into a directory that
//! overlayfs can use as a lower dir.
//!
//! Safety rules (what podman and docker guarantee, enforced here without a chroot):
//! - member names are relative; a name with a `..` component or an absolute name is refused;
//! - every parent directory is opened with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`, so
//!   no write ever goes through a symlink (a tar that plants `evil -> /etc` and then writes
//!   `evil/passwd` is refused) nor out of the layer directory;
//! - the last component is created with `O_EXCL|O_NOFOLLOW` / `*at(AT_SYMLINK_NOFOLLOW)` calls;
//! - hard-link targets follow the same rules and must already be in this layer;
//! - device nodes are made only when running as root (skipped with a warning otherwise).
//!
//! Kept: ownership (uid/gid, also from PAX), permission bits including setuid/setgid/sticky,
//! xattrs (PAX `SCHILY.xattr.*`, e.g. `security.capability`), hard links, mtimes (with PAX
//! sub-second precision), symlinks, fifos.
//!
//! OCI whiteouts become overlayfs whiteouts: `.wh.NAME` → a 0:0 character device `NAME`;
//! `.wh..wh..opq` → the `trusted.overlay.opaque=y` xattr on its directory. Other `.wh..wh.*`
//! entries (aufs bookkeeping) are skipped.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags, Timespec, Timestamps, XattrFlags};

use crate::error::{ImageError, Result};

/// How a blob is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// From the first bytes of a stream.
    pub fn detect(head: &[u8]) -> Result<Compression, &'static str> {
        if head.starts_with(&[0x1f, 0x8b]) {
            Ok(Compression::Gzip)
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Ok(Compression::Zstd)
        } else if head.starts_with(b"BZh") {
            Err("bzip2 compression is not supported; use gzip or zstd")
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            Err("xz compression is not supported; use gzip or zstd")
        } else {
            Ok(Compression::None)
        }
    }

    /// The OCI layer media type for a layer blob in this compression.
    pub fn oci_layer_media_type(self) -> &'static str {
        match self {
            Compression::None => "application/vnd.oci.image.layer.v1.tar",
            Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }

    /// From a layer media type (OCI or Docker schema 2).
    pub fn from_media_type(mt: &str) -> Option<Compression> {
        if mt.ends_with("+gzip")
            || mt.ends_with(".gzip")
            || mt == "application/vnd.docker.image.rootfs.diff.tar.gzip"
        {
            Some(Compression::Gzip)
        } else if mt.ends_with("+zstd") || mt.ends_with(".zstd") {
            Some(Compression::Zstd)
        } else if mt.ends_with(".tar") || mt.ends_with("layer.v1.tar") {
            Some(Compression::None)
        } else {
            None
        }
    }
}

/// Wraps a buffered reader in the decompressor that its first bytes call for.
pub fn decompress<'a, R: BufRead + 'a>(
    mut r: R,
    what: &str,
) -> Result<(Compression, Box<dyn Read + 'a>)> {
    let head = r
        .fill_buf()
        .map_err(|e| ImageError::io(format!("reading {what}"), e))?;
    let c = Compression::detect(head).map_err(|why| ImageError::BadLayer {
        layer: what.to_string(),
        why: why.to_string(),
    })?;
    let out: Box<dyn Read + 'a> = match c {
        Compression::None => Box::new(r),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(r)),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::with_buffer(r)
                .map_err(|e| ImageError::io(format!("starting zstd for {what}"), e))?,
        ),
    };
    Ok((c, out))
}

/// Opens a blob file and returns its decompressed (tar) stream.
pub fn open_decompressed(path: &Path) -> Result<Box<dyn Read>> {
    let f =
        File::open(path).map_err(|e| ImageError::io(format!("opening {}", path.display()), e))?;
    let (_, r) = decompress(
        BufReader::with_capacity(256 * 1024, f),
        &path.display().to_string(),
    )?;
    Ok(r)
}

/// What extraction noticed but did not fail on.
#[derive(Debug, Default)]
pub struct ExtractReport {
    pub entries: u64,
    pub warnings: Vec<String>,
}

/// The effective uid, to decide on device nodes and ownership.
fn running_as_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Checks and normalises a member name into relative components; `None` for the root itself.
fn clean_name(raw: &Path, layer: &str) -> Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    for c in raw.components() {
        match c {
            Component::CurDir => {}
            Component::Normal(n) => out.push(n.as_bytes().to_vec()),
            Component::ParentDir => {
                return Err(ImageError::BadLayer {
                    layer: layer.to_string(),
                    why: format!(
                        "member {:?} has a `..` component; refused (path escape)",
                        raw
                    ),
                })
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(ImageError::BadLayer {
                    layer: layer.to_string(),
                    why: format!(
                        "member {:?} is an absolute path; refused (path escape)",
                        raw
                    ),
                })
            }
        }
    }
    Ok(out)
}

fn join(comps: &[Vec<u8>]) -> PathBuf {
    let mut p = PathBuf::new();
    for c in comps {
        p.push(OsStr::from_bytes(c));
    }
    p
}

struct Extractor<'a> {
    root: OwnedFd,
    root_path: &'a Path,
    layer: &'a str,
    as_root: bool,
    /// The last parent directory opened, to avoid re-walking for each file of a directory.
    cached_parent: Option<(PathBuf, OwnedFd)>,
    /// Directories whose mode and times are set at the end (entries added later would change
    /// their mtime; a read-only mode would stop a non-root extraction).
    dirs: Vec<(PathBuf, u32, Timespec)>,
    report: ExtractReport,
    /// The buffer file contents move through (std's `io::copy` moves 8 KiB per write).
    copy_buf: Vec<u8>,
}

/// File contents are copied in pieces of this size.
const COPY_CHUNK: usize = 256 * 1024;
/// Written bytes of one file after which its write-back is started.
const WRITEBACK_STEP: u64 = 8 << 20;

/// Copies a tar entry's contents into `file` through `buf`, starting the kernel's write-back
/// of each 8 MiB as it is written: the store makes the layer durable with one `syncfs` at the
/// end, which then waits for little more than the last piece.
fn copy_contents(entry: &mut impl Read, file: &File, buf: &mut [u8]) -> io::Result<u64> {
    let mut written = 0u64;
    let mut flushed = 0u64;
    loop {
        let n = match entry.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        io::Write::write_all(&mut &*file, &buf[..n])?;
        written += n as u64;
        if written - flushed >= WRITEBACK_STEP {
            start_writeback(file, flushed, written - flushed);
            flushed = written;
        }
    }
    if written > flushed && flushed > 0 {
        start_writeback(file, flushed, written - flushed);
    }
    Ok(written)
}

/// Asks the kernel to start writing `len` bytes at `offset` of `file` back to disk, without
/// waiting for it (`sync_file_range(SYNC_FILE_RANGE_WRITE)`; durability still comes from the
/// store's `syncfs`).
fn start_writeback(file: &File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    // SAFETY: a plain advisory system call on a file descriptor we own; it changes no data.
    unsafe {
        libc::sync_file_range(
            file.as_raw_fd(),
            offset as libc::off64_t,
            len as libc::off64_t,
            libc::SYNC_FILE_RANGE_WRITE,
        )
    };
}

fn resolve_flags() -> ResolveFlags {
    ResolveFlags::BENEATH
        | ResolveFlags::NO_SYMLINKS
        | ResolveFlags::NO_MAGICLINKS
        | ResolveFlags::NO_XDEV
}

impl Extractor<'_> {
    fn bad(&self, why: String) -> ImageError {
        ImageError::BadLayer {
            layer: self.layer.to_string(),
            why,
        }
    }

    fn sys(&self, what: &str, path: &Path, e: rustix::io::Errno) -> ImageError {
        ImageError::BadLayer {
            layer: self.layer.to_string(),
            why: format!("{what} {}: {}", path.display(), io::Error::from(e)),
        }
    }

    /// Opens (creating if needed) the directory `comps` beneath the root, never through a
    /// symlink.
    fn open_dir(&mut self, comps: &[Vec<u8>], create: bool) -> Result<OwnedFd> {
        let rel = join(comps);
        if comps.is_empty() {
            return rustix::io::fcntl_dupfd_cloexec(&self.root, 0)
                .map_err(|e| self.sys("duplicating", &rel, e));
        }
        if let Some((p, fd)) = &self.cached_parent {
            if *p == rel {
                return rustix::io::fcntl_dupfd_cloexec(fd, 0)
                    .map_err(|e| self.sys("duplicating", &rel, e));
            }
        }
        let flags = OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC;
        let fd = match rustix::fs::openat2(&self.root, &rel, flags, Mode::empty(), resolve_flags())
        {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) if create => {
                // Walk and create one component at a time.
                let mut cur = rustix::io::fcntl_dupfd_cloexec(&self.root, 0)
                    .map_err(|e| self.sys("duplicating", &rel, e))?;
                for (i, c) in comps.iter().enumerate() {
                    let name = OsStr::from_bytes(c);
                    let next = match rustix::fs::openat2(
                        &cur,
                        name,
                        flags,
                        Mode::empty(),
                        resolve_flags(),
                    ) {
                        Ok(fd) => fd,
                        Err(rustix::io::Errno::NOENT) => {
                            match rustix::fs::mkdirat(&cur, name, Mode::from_raw_mode(0o755)) {
                                Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                                Err(e) => {
                                    return Err(self.sys(
                                        "creating directory",
                                        &join(&comps[..=i]),
                                        e,
                                    ))
                                }
                            }
                            rustix::fs::openat2(&cur, name, flags, Mode::empty(), resolve_flags())
                                .map_err(|e| self.parent_error(&comps[..=i], e))?
                        }
                        Err(e) => return Err(self.parent_error(&comps[..=i], e)),
                    };
                    cur = next;
                }
                cur
            }
            Err(e) => return Err(self.parent_error(comps, e)),
        };
        let dup = rustix::io::fcntl_dupfd_cloexec(&fd, 0)
            .map_err(|e| self.sys("duplicating", &rel, e))?;
        self.cached_parent = Some((rel, dup));
        Ok(fd)
    }

    fn parent_error(&self, comps: &[Vec<u8>], e: rustix::io::Errno) -> ImageError {
        let p = join(comps);
        match e {
            rustix::io::Errno::LOOP | rustix::io::Errno::XDEV => self.bad(format!(
                "{} goes through a symbolic link; refused (path escape)",
                p.display()
            )),
            rustix::io::Errno::NOTDIR => {
                self.bad(format!("{}: a parent is not a directory", p.display()))
            }
            e => self.sys("opening directory", &p, e),
        }
    }

    /// Removes whatever is at `name` in `dir` (a tree too), unless it is a directory and
    /// `keep_dir` is set. Returns whether a directory was kept.
    fn clear(&mut self, dir: &OwnedFd, comps: &[Vec<u8>], keep_dir: bool) -> Result<bool> {
        let name = OsStr::from_bytes(comps.last().expect("non-empty"));
        match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Err(rustix::io::Errno::NOENT) => Ok(false),
            Err(e) => Err(self.sys("examining", &join(comps), e)),
            Ok(st) => {
                let is_dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
                if is_dir && keep_dir {
                    return Ok(true);
                }
                if is_dir {
                    // Parents were checked to hold no symlinks, so the plain path stays inside.
                    self.cached_parent = None;
                    crate::fsutil::remove_any(&self.root_path.join(join(comps)))?;
                } else {
                    rustix::fs::unlinkat(dir, name, AtFlags::empty())
                        .map_err(|e| self.sys("removing", &join(comps), e))?;
                }
                Ok(false)
            }
        }
    }

    fn entry<R: Read>(&mut self, mut entry: tar::Entry<'_, R>) -> Result<()> {
        self.report.entries += 1;
        let raw_path = entry
            .path()
            .map_err(|e| self.bad(format!("bad member name: {e}")))?
            .into_owned();
        let comps = clean_name(&raw_path, self.layer)?;
        let header = entry.header().clone();
        let etype = header.entry_type();
        // PAX extensions: xattrs, large ids, precise times.
        let mut xattrs: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let mut pax: HashMap<String, String> = HashMap::new();
        if let Ok(Some(exts)) = entry.pax_extensions() {
            for ext in exts.flatten() {
                let Ok(key) = ext.key() else { continue };
                if let Some(name) = key.strip_prefix("SCHILY.xattr.") {
                    xattrs.push((name.as_bytes().to_vec(), ext.value_bytes().to_vec()));
                } else if matches!(key, "uid" | "gid" | "mtime") {
                    if let Ok(v) = ext.value() {
                        pax.insert(key.to_string(), v.to_string());
                    }
                }
            }
        }
        let uid = pax
            .get("uid")
            .and_then(|v| v.parse().ok())
            .or_else(|| header.uid().ok())
            .unwrap_or(0) as u32;
        let gid = pax
            .get("gid")
            .and_then(|v| v.parse().ok())
            .or_else(|| header.gid().ok())
            .unwrap_or(0) as u32;
        let mtime = pax
            .get("mtime")
            .and_then(|v| parse_pax_time(v))
            .unwrap_or_else(|| Timespec {
                tv_sec: header.mtime().unwrap_or(0) as i64,
                tv_nsec: 0,
            });
        let mode = header.mode().unwrap_or(0o644) & 0o7777;

        if comps.is_empty() {
            // The layer root itself (`./`): its mode, owner and time.
            if etype.is_dir() {
                if self.as_root {
                    let _ = rustix::fs::fchown(
                        &self.root,
                        Some(rustix::fs::Uid::from_raw(uid)),
                        Some(rustix::fs::Gid::from_raw(gid)),
                    );
                }
                self.dirs.push((PathBuf::new(), mode, mtime));
            }
            return Ok(());
        }

        let base = comps.last().unwrap().clone();
        let parent_comps = &comps[..comps.len() - 1];

        // Whiteouts.
        if let Some(rest) = base.strip_prefix(b".wh.") {
            if rest == b".wh..opq" {
                let dir = self.open_dir(parent_comps, true)?;
                rustix::fs::fsetxattr(&dir, "trusted.overlay.opaque", b"y", XattrFlags::empty())
                    .map_err(|e| self.sys("marking opaque", &join(parent_comps), e))?;
                return Ok(());
            }
            if rest.starts_with(b".wh.") || rest.is_empty() {
                return Ok(()); // aufs bookkeeping (.wh..wh.plnk, ...)
            }
            let dir = self.open_dir(parent_comps, true)?;
            let mut target = parent_comps.to_vec();
            target.push(rest.to_vec());
            self.clear(&dir, &target, false)?;
            if !self.as_root {
                self.report.warnings.push(format!(
                    "whiteout {} skipped: not running as root",
                    join(&target).display()
                ));
                return Ok(());
            }
            rustix::fs::mknodat(
                &dir,
                OsStr::from_bytes(rest),
                FileType::CharacterDevice,
                Mode::empty(),
                rustix::fs::makedev(0, 0),
            )
            .map_err(|e| self.sys("making whiteout", &join(&target), e))?;
            return Ok(());
        }

        let dir = self.open_dir(parent_comps, true)?;
        let name = OsStr::from_bytes(&base);
        let rel = join(&comps);
        let owner = (
            Some(rustix::fs::Uid::from_raw(uid)),
            Some(rustix::fs::Gid::from_raw(gid)),
        );
        match etype {
            tar::EntryType::Directory => {
                let kept = self.clear(&dir, &comps, true)?;
                if !kept {
                    rustix::fs::mkdirat(&dir, name, Mode::from_raw_mode(0o700))
                        .map_err(|e| self.sys("creating directory", &rel, e))?;
                }
                let fd = rustix::fs::openat(
                    &dir,
                    name,
                    OFlags::DIRECTORY | OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| self.sys("opening", &rel, e))?;
                self.own(&fd, owner, &rel)?;
                self.set_xattrs(&fd, &xattrs, &rel)?;
                self.dirs.push((rel, mode, mtime));
            }
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                self.clear(&dir, &comps, false)?;
                let fd = rustix::fs::openat(
                    &dir,
                    name,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(|e| self.sys("creating", &rel, e))?;
                let file = File::from(fd);
                let mut buf = std::mem::take(&mut self.copy_buf);
                if buf.is_empty() {
                    buf = vec![0u8; COPY_CHUNK];
                }
                let copied = copy_contents(&mut entry, &file, &mut buf);
                self.copy_buf = buf;
                copied.map_err(|e| {
                    ImageError::io(
                        format!("layer {}: writing {}", self.layer, rel.display()),
                        e,
                    )
                })?;
                self.own(&file, owner, &rel)?;
                rustix::fs::fchmod(&file, Mode::from_raw_mode(mode))
                    .map_err(|e| self.sys("chmod", &rel, e))?;
                self.set_xattrs(&file, &xattrs, &rel)?;
                rustix::fs::futimens(
                    &file,
                    &Timestamps {
                        last_access: mtime,
                        last_modification: mtime,
                    },
                )
                .map_err(|e| self.sys("setting times of", &rel, e))?;
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| self.bad(format!("symlink {} has no target", rel.display())))?
                    .into_owned();
                self.clear(&dir, &comps, false)?;
                rustix::fs::symlinkat(OsStr::from_bytes(&target), &dir, name)
                    .map_err(|e| self.sys("creating symlink", &rel, e))?;
                if self.as_root {
                    rustix::fs::chownat(&dir, name, owner.0, owner.1, AtFlags::SYMLINK_NOFOLLOW)
                        .map_err(|e| self.sys("chown", &rel, e))?;
                }
                rustix::fs::utimensat(
                    &dir,
                    name,
                    &Timestamps {
                        last_access: mtime,
                        last_modification: mtime,
                    },
                    AtFlags::SYMLINK_NOFOLLOW,
                )
                .map_err(|e| self.sys("setting times of", &rel, e))?;
            }
            tar::EntryType::Link => {
                let target_raw = entry
                    .link_name()
                    .map_err(|e| self.bad(format!("hard link {}: {e}", rel.display())))?
                    .ok_or_else(|| self.bad(format!("hard link {} has no target", rel.display())))?
                    .into_owned();
                let tcomps = clean_name(&target_raw, self.layer)?;
                if tcomps.is_empty() {
                    return Err(self.bad(format!(
                        "hard link {} points at the layer root",
                        rel.display()
                    )));
                }
                if tcomps == comps {
                    return Ok(());
                }
                let tdir = self.open_dir(&tcomps[..tcomps.len() - 1], false)?;
                let tname = OsStr::from_bytes(tcomps.last().unwrap());
                match rustix::fs::statat(&tdir, tname, AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {
                        return Err(
                            self.bad(format!("hard link {} points at a directory", rel.display()))
                        )
                    }
                    Ok(_) => {}
                    Err(e) => return Err(self.sys("hard link target", &join(&tcomps), e)),
                }
                let dir = self.open_dir(parent_comps, true)?;
                self.clear(&dir, &comps, false)?;
                rustix::fs::linkat(&tdir, tname, &dir, name, AtFlags::empty())
                    .map_err(|e| self.sys("hard-linking", &rel, e))?;
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                self.clear(&dir, &comps, false)?;
                let (ft, dev) = match etype {
                    tar::EntryType::Char => (FileType::CharacterDevice, true),
                    tar::EntryType::Block => (FileType::BlockDevice, true),
                    _ => (FileType::Fifo, false),
                };
                if dev && !self.as_root {
                    self.report.warnings.push(format!(
                        "device node {} skipped: not running as root",
                        rel.display()
                    ));
                    return Ok(());
                }
                let major = header.device_major().ok().flatten().unwrap_or(0);
                let minor = header.device_minor().ok().flatten().unwrap_or(0);
                rustix::fs::mknodat(
                    &dir,
                    name,
                    ft,
                    Mode::from_raw_mode(mode),
                    rustix::fs::makedev(major, minor),
                )
                .map_err(|e| self.sys("creating node", &rel, e))?;
                if self.as_root {
                    rustix::fs::chownat(&dir, name, owner.0, owner.1, AtFlags::SYMLINK_NOFOLLOW)
                        .map_err(|e| self.sys("chown", &rel, e))?;
                }
                rustix::fs::utimensat(
                    &dir,
                    name,
                    &Timestamps {
                        last_access: mtime,
                        last_modification: mtime,
                    },
                    AtFlags::SYMLINK_NOFOLLOW,
                )
                .map_err(|e| self.sys("setting times of", &rel, e))?;
            }
            tar::EntryType::XGlobalHeader
            | tar::EntryType::XHeader
            | tar::EntryType::GNULongName
            | tar::EntryType::GNULongLink => {}
            other => {
                self.report.warnings.push(format!(
                    "{}: tar entry type {:?} skipped",
                    rel.display(),
                    other
                ));
            }
        }
        Ok(())
    }

    fn own<Fd: AsFd>(
        &self,
        fd: Fd,
        owner: (Option<rustix::fs::Uid>, Option<rustix::fs::Gid>),
        rel: &Path,
    ) -> Result<()> {
        if self.as_root {
            rustix::fs::fchown(fd, owner.0, owner.1).map_err(|e| self.sys("chown", rel, e))?;
        }
        Ok(())
    }

    fn set_xattrs<Fd: AsFd>(
        &mut self,
        fd: Fd,
        xattrs: &[(Vec<u8>, Vec<u8>)],
        rel: &Path,
    ) -> Result<()> {
        for (k, v) in xattrs {
            let name = OsStr::from_bytes(k);
            if let Err(e) = rustix::fs::fsetxattr(&fd, name, v, XattrFlags::empty()) {
                // trusted.* and security.* need privileges; a file system may lack user xattrs.
                if self.as_root && !matches!(e, rustix::io::Errno::NOTSUP) {
                    return Err(self.sys(
                        &format!("setting xattr {} on", name.to_string_lossy()),
                        rel,
                        e,
                    ));
                }
                self.report.warnings.push(format!(
                    "xattr {} on {} not kept: {}",
                    name.to_string_lossy(),
                    rel.display(),
                    io::Error::from(e)
                ));
            }
        }
        Ok(())
    }

    fn finish_dirs(&mut self) -> Result<()> {
        let dirs = std::mem::take(&mut self.dirs);
        for (rel, mode, mtime) in dirs.into_iter().rev() {
            let fd = if rel.as_os_str().is_empty() {
                rustix::io::fcntl_dupfd_cloexec(&self.root, 0)
                    .map_err(|e| self.sys("duplicating", &rel, e))?
            } else {
                match rustix::fs::openat2(
                    &self.root,
                    &rel,
                    OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
                    Mode::empty(),
                    resolve_flags(),
                ) {
                    Ok(fd) => fd,
                    // Replaced or removed by a later entry.
                    Err(
                        rustix::io::Errno::NOENT
                        | rustix::io::Errno::NOTDIR
                        | rustix::io::Errno::LOOP,
                    ) => continue,
                    Err(e) => return Err(self.sys("opening", &rel, e)),
                }
            };
            rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode))
                .map_err(|e| self.sys("chmod", &rel, e))?;
            rustix::fs::futimens(
                &fd,
                &Timestamps {
                    last_access: mtime,
                    last_modification: mtime,
                },
            )
            .map_err(|e| self.sys("setting times of", &rel, e))?;
        }
        Ok(())
    }
}

fn parse_pax_time(v: &str) -> Option<Timespec> {
    let (s, frac) = v.split_once('.').unwrap_or((v, ""));
    let secs: i64 = s.parse().ok()?;
    let mut nanos: i64 = 0;
    if !frac.is_empty() {
        let digits: String = frac.chars().take(9).collect();
        let n: i64 = digits.parse().ok()?;
        nanos = n * 10i64.pow(9 - digits.len() as u32);
    }
    Some(Timespec {
        tv_sec: secs,
        tv_nsec: nanos as _,
    })
}

/// Extracts an uncompressed layer tar stream into `dest` (an existing, empty directory),
/// following the rules in the module documentation. `layer` names the layer in errors.
/// The stream is read up to the tar end marker; the caller drains the rest if it hashes it.
pub fn extract<R: Read>(tar_stream: R, dest: &Path, layer: &str) -> Result<ExtractReport> {
    let root = rustix::fs::open(
        dest,
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| ImageError::io(format!("opening {}", dest.display()), e.into()))?;
    let mut ex = Extractor {
        root,
        root_path: dest,
        layer,
        as_root: running_as_root(),
        cached_parent: None,
        dirs: Vec::new(),
        report: ExtractReport::default(),
        copy_buf: Vec::new(),
    };
    let mut archive = tar::Archive::new(tar_stream);
    let entries = archive.entries().map_err(|e| ImageError::BadLayer {
        layer: layer.to_string(),
        why: format!("not a tar stream: {e}"),
    })?;
    for entry in entries {
        let entry = entry.map_err(|e| ImageError::BadLayer {
            layer: layer.to_string(),
            why: format!("reading tar: {e}"),
        })?;
        ex.entry(entry)?;
    }
    ex.finish_dirs()?;
    Ok(ex.report)
}

/// Writes the tree under `dir` as an OCI layer tar (the reverse of [`extract`]), for turning a
/// container's upper directory into a layer: overlayfs whiteouts (0:0 character devices)
/// become `.wh.NAME` entries and `trusted.overlay.opaque=y` directories get a `.wh..wh..opq`
/// entry; other `trusted.overlay.*` xattrs are dropped. Names are sorted, so the same tree
/// gives the same tar; ownership, modes, mtimes, xattrs, hard links, symlinks, devices and
/// fifos are kept; sockets are skipped. Returns the number of entries written.
pub fn write_layer_tar<W: io::Write>(dir: &Path, out: W) -> Result<u64> {
    let mut b = tar::Builder::new(out);
    b.mode(tar::HeaderMode::Complete);
    let mut links: HashMap<(u64, u64), PathBuf> = HashMap::new();
    let mut n = 0;
    walk_into_tar(dir, Path::new(""), &mut b, &mut links, &mut n)?;
    b.into_inner()
        .map_err(|e| ImageError::io("finishing the layer tar", e))?;
    Ok(n)
}

/// Makes an overlayfs upper directory fit to be a layer directory as it is: removes the
/// kernel's bookkeeping xattrs (`trusted.overlay.*` other than `opaque`) and sockets (which a
/// layer tar does not carry). Whiteouts and opaque markers stay: they are what an extracted
/// layer holds.
pub fn clean_upper_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::FileTypeExt;
    let rd = std::fs::read_dir(dir)
        .map_err(|e| ImageError::io(format!("reading {}", dir.display()), e))?;
    strip_overlay_xattrs(dir);
    for e in rd {
        let e = e.map_err(|e| ImageError::io(format!("reading {}", dir.display()), e))?;
        let ft = e
            .file_type()
            .map_err(|err| ImageError::io(format!("examining {}", e.path().display()), err))?;
        let p = e.path();
        if ft.is_socket() {
            let _ = std::fs::remove_file(&p);
        } else if ft.is_dir() {
            clean_upper_dir(&p)?;
        } else {
            strip_overlay_xattrs(&p);
        }
    }
    Ok(())
}

fn strip_overlay_xattrs(path: &Path) {
    let mut names = vec![0u8; 4096];
    let Ok(len) = rustix::fs::llistxattr(path, &mut names[..]) else {
        return;
    };
    for name in names[..len].split(|b| *b == 0).filter(|n| !n.is_empty()) {
        if name.starts_with(b"trusted.overlay.") && name != b"trusted.overlay.opaque" {
            let _ = rustix::fs::lremovexattr(path, OsStr::from_bytes(name));
        }
    }
}

fn list_xattrs(path: &Path) -> Vec<(String, Vec<u8>)> {
    let mut names = vec![0u8; 4096];
    let Ok(len) = rustix::fs::llistxattr(path, &mut names[..]) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for name in names[..len].split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name = String::from_utf8_lossy(name).into_owned();
        if name.starts_with("trusted.overlay.") {
            continue;
        }
        let mut val = vec![0u8; 65536];
        if let Ok(vlen) = rustix::fs::lgetxattr(path, name.as_str(), &mut val[..]) {
            out.push((name, val[..vlen].to_vec()));
        }
    }
    out
}

fn is_opaque(path: &Path) -> bool {
    let mut v = [0u8; 4];
    matches!(rustix::fs::lgetxattr(path, "trusted.overlay.opaque", &mut v[..]), Ok(1) if v[0] == b'y')
}

fn walk_into_tar<W: io::Write>(
    base: &Path,
    rel: &Path,
    b: &mut tar::Builder<W>,
    links: &mut HashMap<(u64, u64), PathBuf>,
    n: &mut u64,
) -> Result<()> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let dir = base.join(rel);
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .map_err(|e| ImageError::io(format!("reading {}", dir.display()), e))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<io::Result<_>>()
        .map_err(|e| ImageError::io(format!("reading {}", dir.display()), e))?;
    names.sort();
    for name in names {
        let path = dir.join(&name);
        let relp = rel.join(&name);
        let md = std::fs::symlink_metadata(&path)
            .map_err(|e| ImageError::io(format!("examining {}", path.display()), e))?;
        let ft = md.file_type();
        let werr =
            |e: io::Error| ImageError::io(format!("adding {} to the layer tar", relp.display()), e);
        if ft.is_char_device() && md.rdev() == 0 {
            // An overlay whiteout.
            let mut wh = name.clone();
            wh = std::ffi::OsString::from(format!(".wh.{}", wh.to_string_lossy()));
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(0);
            h.set_mode(0o644);
            h.set_mtime(md.mtime().max(0) as u64);
            b.append_data(&mut h, rel.join(wh), io::empty())
                .map_err(werr)?;
            *n += 1;
            continue;
        }
        if ft.is_socket() {
            continue;
        }
        let mut h = tar::Header::new_gnu();
        h.set_metadata_in_mode(&md, tar::HeaderMode::Complete);
        // Permission bits only (as GNU tar writes them), and device numbers, which the tar
        // crate leaves out.
        h.set_mode(md.mode() & 0o7777);
        if ft.is_char_device() || ft.is_block_device() {
            let (major, minor) = (rustix::fs::major(md.rdev()), rustix::fs::minor(md.rdev()));
            h.set_device_major(major).map_err(werr)?;
            h.set_device_minor(minor).map_err(werr)?;
        }
        let xattrs = list_xattrs(&path);
        if !xattrs.is_empty() {
            let exts: Vec<(String, Vec<u8>)> = xattrs
                .into_iter()
                .map(|(k, v)| (format!("SCHILY.xattr.{k}"), v))
                .collect();
            b.append_pax_extensions(exts.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
                .map_err(werr)?;
        }
        if ft.is_dir() {
            h.set_size(0);
            b.append_data(&mut h, &relp, io::empty()).map_err(werr)?;
            *n += 1;
            if is_opaque(&path) {
                let mut oh = tar::Header::new_gnu();
                oh.set_entry_type(tar::EntryType::Regular);
                oh.set_size(0);
                oh.set_mode(0o644);
                oh.set_mtime(md.mtime().max(0) as u64);
                b.append_data(&mut oh, relp.join(".wh..wh..opq"), io::empty())
                    .map_err(werr)?;
                *n += 1;
            }
            walk_into_tar(base, &relp, b, links, n)?;
        } else if ft.is_symlink() {
            let target = std::fs::read_link(&path)
                .map_err(|e| ImageError::io(format!("reading link {}", path.display()), e))?;
            h.set_size(0);
            b.append_link(&mut h, &relp, &target).map_err(werr)?;
            *n += 1;
        } else if ft.is_file() {
            if md.nlink() > 1 {
                if let Some(first) = links.get(&(md.dev(), md.ino())) {
                    h.set_entry_type(tar::EntryType::Link);
                    h.set_size(0);
                    b.append_link(&mut h, &relp, first).map_err(werr)?;
                    *n += 1;
                    continue;
                }
                links.insert((md.dev(), md.ino()), relp.clone());
            }
            let f = File::open(&path)
                .map_err(|e| ImageError::io(format!("opening {}", path.display()), e))?;
            b.append_data(&mut h, &relp, f).map_err(werr)?;
            *n += 1;
        } else {
            // Devices and fifos: the header carries everything.
            h.set_size(0);
            b.append_data(&mut h, &relp, io::empty()).map_err(werr)?;
            *n += 1;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects() {
        assert_eq!(
            Compression::detect(&[0x1f, 0x8b, 8]).unwrap(),
            Compression::Gzip
        );
        assert_eq!(
            Compression::detect(&[0x28, 0xb5, 0x2f, 0xfd]).unwrap(),
            Compression::Zstd
        );
        assert_eq!(Compression::detect(b"bin/").unwrap(), Compression::None);
        assert!(Compression::detect(b"BZh9").is_err());
    }

    #[test]
    fn pax_time() {
        let t = parse_pax_time("1700000000.5").unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (1700000000, 500_000_000));
    }

    #[test]
    fn names() {
        assert_eq!(clean_name(Path::new("./a/b"), "l").unwrap().len(), 2);
        assert!(clean_name(Path::new("../a"), "l").is_err());
        assert!(clean_name(Path::new("/etc/passwd"), "l").is_err());
        assert!(clean_name(Path::new("a/../../b"), "l").is_err());
        assert!(clean_name(Path::new("./"), "l").unwrap().is_empty());
    }
}
