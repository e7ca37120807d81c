//! The container's file system view, built inside its new mount namespace: the spec's mounts
//! under the rootfs, a minimal /dev, pivot_root, then masked and read-only paths.
//! Runs in the container's init process only (single-threaded, before exec).

use std::ffi::{CStr, CString, OsString};
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use libc::c_ulong;
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, Mount};

use crate::cgroups::CgroupSet;
use crate::util::{cpath, cstr, cvt, errno, Error, Result};

/// What the mount code needs to know about the container being built.
pub struct MountCtx<'a> {
    pub rootfs: &'a Path,
    pub userns: bool,
    pub cgroupns: bool,
    pub cgroups: &'a CgroupSet,
    /// Called before the cgroup file systems are mounted: the container must be in its
    /// cgroups (and cgroup namespace) by then.
    pub before_cgroups: &'a dyn Fn() -> Result<()>,
}

fn sys_mount(
    src: Option<&CStr>,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: c_ulong,
    data: Option<&CStr>,
) -> io::Result<()> {
    let r = unsafe {
        libc::mount(
            src.map_or(std::ptr::null(), |s| s.as_ptr()),
            target.as_ptr(),
            fstype.map_or(std::ptr::null(), |s| s.as_ptr()),
            flags,
            data.map_or(std::ptr::null(), |s| s.as_ptr() as *const libc::c_void),
        )
    };
    cvt(r).map(drop)
}

fn mount_err(what: &str, target: &Path, e: io::Error) -> Error {
    Error(format!("{what} {}: {e}", target.display()))
}

/// Parsed mount options: flags to set, propagation, filesystem data.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Opts {
    pub flags: c_ulong,
    pub prop: c_ulong,
    pub data: String,
    pub tmpcopyup: bool,
}

/// The flags a bind mount has to be remounted with to take effect.
const BIND_REMOUNT_FLAGS: c_ulong = libc::MS_RDONLY
    | libc::MS_NOSUID
    | libc::MS_NODEV
    | libc::MS_NOEXEC
    | libc::MS_NOATIME
    | libc::MS_NODIRATIME
    | libc::MS_RELATIME
    | libc::MS_STRICTATIME;

pub fn parse_options(options: &[String]) -> Result<Opts> {
    let mut o = Opts::default();
    let mut data = Vec::new();
    for opt in options {
        let (set, clear): (c_ulong, c_ulong) = match opt.as_str() {
            "defaults" => (0, 0),
            "ro" => (libc::MS_RDONLY, 0),
            "rw" => (0, libc::MS_RDONLY),
            "suid" => (0, libc::MS_NOSUID),
            "nosuid" => (libc::MS_NOSUID, 0),
            "dev" => (0, libc::MS_NODEV),
            "nodev" => (libc::MS_NODEV, 0),
            "exec" => (0, libc::MS_NOEXEC),
            "noexec" => (libc::MS_NOEXEC, 0),
            "sync" => (libc::MS_SYNCHRONOUS, 0),
            "async" => (0, libc::MS_SYNCHRONOUS),
            "dirsync" => (libc::MS_DIRSYNC, 0),
            "remount" => (libc::MS_REMOUNT, 0),
            "mand" => (libc::MS_MANDLOCK, 0),
            "nomand" => (0, libc::MS_MANDLOCK),
            "atime" => (0, libc::MS_NOATIME),
            "noatime" => (libc::MS_NOATIME, 0),
            "diratime" => (0, libc::MS_NODIRATIME),
            "nodiratime" => (libc::MS_NODIRATIME, 0),
            "relatime" => (libc::MS_RELATIME, 0),
            "norelatime" => (0, libc::MS_RELATIME),
            "strictatime" => (libc::MS_STRICTATIME, 0),
            "nostrictatime" => (0, libc::MS_STRICTATIME),
            "bind" => (libc::MS_BIND, 0),
            "rbind" => (libc::MS_BIND | libc::MS_REC, 0),
            "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" | "unbindable"
            | "runbindable" => {
                o.prop = propagation(opt).unwrap_or(0);
                continue;
            }
            "tmpcopyup" => {
                o.tmpcopyup = true;
                continue;
            }
            // SELinux relabelling is the engine's business; no labels here.
            "z" | "Z" => continue,
            "idmap" | "ridmap" | "rro" | "rrw" | "rnosuid" | "rsuid" | "rnodev" | "rdev"
            | "rnoexec" | "rexec" | "rnoatime" | "ratime" | "rrelatime" | "rnorelatime"
            | "rstrictatime" | "rnostrictatime" | "rnodiratime" | "rdiratime" | "nosymfollow"
            | "rnosymfollow" => {
                return Err(Error(format!(
                    "mount option {opt:?} is not supported by dermaga-runtime"
                )));
            }
            _ => {
                data.push(opt.as_str());
                continue;
            }
        };
        o.flags = (o.flags | set) & !clear;
    }
    o.data = data.join(",");
    Ok(o)
}

pub fn propagation(name: &str) -> Option<c_ulong> {
    Some(match name {
        "private" => libc::MS_PRIVATE,
        "rprivate" => libc::MS_PRIVATE | libc::MS_REC,
        "shared" => libc::MS_SHARED,
        "rshared" => libc::MS_SHARED | libc::MS_REC,
        "slave" => libc::MS_SLAVE,
        "rslave" => libc::MS_SLAVE | libc::MS_REC,
        "unbindable" => libc::MS_UNBINDABLE,
        "runbindable" => libc::MS_UNBINDABLE | libc::MS_REC,
        _ => return None,
    })
}

/// Joins a container path to the rootfs, resolving symlinks as if the rootfs were `/`, so a
/// link in the image can never point a mount outside the container.
pub fn secure_join(root: &Path, unsafe_path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    let mut pending: Vec<OsString> = unsafe_path
        .components()
        .rev()
        .filter_map(component_name)
        .collect();
    let mut links = 0;
    while let Some(c) = pending.pop() {
        if c == ".." {
            out.pop();
            continue;
        }
        let candidate = root.join(&out).join(&c);
        match fs::read_link(&candidate) {
            Ok(target) if links < 255 => {
                links += 1;
                if target.is_absolute() {
                    out = PathBuf::new();
                }
                pending.extend(target.components().rev().filter_map(component_name));
            }
            _ => out.push(&c),
        }
    }
    root.join(out)
}

fn component_name(c: Component<'_>) -> Option<OsString> {
    match c {
        Component::Normal(n) => Some(n.to_owned()),
        Component::ParentDir => Some("..".into()),
        _ => None,
    }
}

fn mkdir_all(p: &Path) -> Result<()> {
    fs::create_dir_all(p).map_err(|e| mount_err("create mount point", p, e))
}

/// Creates an empty file to bind a file over (parents included).
fn touch(p: &Path) -> Result<()> {
    if let Some(parent) = p.parent() {
        mkdir_all(parent)?;
    }
    match fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(p)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EISDIR) => Ok(()),
        Err(e) => Err(mount_err("create mount point", p, e)),
    }
}

/// Flags of the mount that holds `p`, as MS_* (those a bind remount must keep when locked).
fn locked_flags(p: &CStr) -> c_ulong {
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(p.as_ptr(), &mut st) } != 0 {
        return 0;
    }
    let mut f = 0;
    for (st_flag, ms) in [
        (libc::ST_RDONLY, libc::MS_RDONLY),
        (libc::ST_NOSUID, libc::MS_NOSUID),
        (libc::ST_NODEV, libc::MS_NODEV),
        (libc::ST_NOEXEC, libc::MS_NOEXEC),
        (libc::ST_NOATIME, libc::MS_NOATIME),
        (libc::ST_NODIRATIME, libc::MS_NODIRATIME),
        (libc::ST_RELATIME, libc::MS_RELATIME),
    ] {
        if st.f_flag & st_flag != 0 {
            f |= ms;
        }
    }
    f
}

/// Remounts a bind mount with `flags`, keeping flags the kernel has locked (user namespaces).
fn bind_remount(target: &CStr, flags: c_ulong) -> io::Result<()> {
    let base = libc::MS_BIND | libc::MS_REMOUNT;
    match sys_mount(None, target, None, base | flags, None) {
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
            let keep = locked_flags(target)
                & (libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC | libc::MS_RDONLY);
            sys_mount(None, target, None, base | flags | keep, None)
        }
        r => r,
    }
}

/// Step 1: propagation of `/` (rslave unless the spec says otherwise) and the rootfs made a
/// mount point of its own, as pivot_root needs.
pub fn prepare_root(rootfs: &Path, root_propagation: Option<&str>) -> Result<()> {
    let prop = match root_propagation {
        Some(p) if !p.is_empty() => match propagation(p) {
            // pivot_root refuses a shared old root; shared is applied after the pivot.
            Some(f) if f & libc::MS_SHARED != 0 => libc::MS_SLAVE | libc::MS_REC,
            Some(f) => f | libc::MS_REC,
            None => return Err(Error(format!("unknown rootfsPropagation {p:?}"))),
        },
        _ => libc::MS_SLAVE | libc::MS_REC,
    };
    sys_mount(None, c"/", None, prop, None)
        .map_err(|e| mount_err("set propagation of", Path::new("/"), e))?;
    let r = cpath(rootfs);
    sys_mount(Some(&r), &r, None, libc::MS_BIND | libc::MS_REC, None)
        .map_err(|e| mount_err("bind rootfs onto itself at", rootfs, e))
}

/// Step 2: every mount of the spec, in order.
pub fn mount_all(mounts: &[Mount], ctx: &MountCtx<'_>) -> Result<()> {
    // The cgroup file system needs the container's cgroups, which the parent makes while
    // the init mounts (`before_cgroups` waits for them): it goes last when no later mount is
    // under it or above it, so the init's other mounts overlap the parent's cgroup work
    // (about 1 ms, five directories and the device rules) instead of following it.
    let is_cgroup = |m: &Mount| matches!(m.typ().as_deref(), Some("cgroup" | "cgroup2"));
    let last = mounts.iter().position(is_cgroup).filter(|&i| {
        let d = mounts[i].destination();
        mounts[i + 1..].iter().all(|later| {
            let l = later.destination();
            !l.starts_with(d) && !d.starts_with(l)
        })
    });
    for (i, m) in mounts.iter().enumerate() {
        if Some(i) != last {
            mount_one(m, ctx)?;
        }
    }
    if let Some(i) = last {
        mount_one(&mounts[i], ctx)?;
    }
    Ok(())
}

fn mount_one(m: &Mount, ctx: &MountCtx<'_>) -> Result<()> {
    let opts = parse_options(m.options().as_deref().unwrap_or(&[]))?;
    let typ = m.typ().as_deref().unwrap_or("");
    let dest = secure_join(ctx.rootfs, m.destination());
    let cdest = cpath(&dest);
    let source = m.source().as_ref();
    if typ == "bind" || opts.flags & libc::MS_BIND != 0 {
        let src = source.ok_or_else(|| {
            Error(format!(
                "bind mount to {} has no source",
                m.destination().display()
            ))
        })?;
        let meta = fs::metadata(src).map_err(|e| mount_err("bind mount source", src, e))?;
        if meta.is_dir() {
            mkdir_all(&dest)?;
        } else {
            touch(&dest)?;
        }
        let rec = opts.flags & libc::MS_REC;
        sys_mount(Some(&cpath(src)), &cdest, None, libc::MS_BIND | rec, None)
            .map_err(|e| mount_err(&format!("bind mount {} onto", src.display()), &dest, e))?;
        let remount = opts.flags & BIND_REMOUNT_FLAGS;
        if remount != 0 {
            bind_remount(&cdest, remount).map_err(|e| mount_err("remount", &dest, e))?;
        }
        if opts.prop != 0 {
            sys_mount(None, &cdest, None, opts.prop, None)
                .map_err(|e| mount_err("set propagation of", &dest, e))?;
        }
        return Ok(());
    }
    let flags = opts.flags & !libc::MS_REMOUNT;
    let data = (!opts.data.is_empty()).then(|| cstr(&opts.data));
    let src = cstr(
        &source
            .map(|s| s.display().to_string())
            .unwrap_or_else(|| typ.to_string()),
    );
    match typ {
        "cgroup" | "cgroup2" => mount_cgroups(&dest, flags, ctx)?,
        "tmpfs" if opts.tmpcopyup => {
            mkdir_all(&dest)?;
            let under = fs::File::open(&dest).map_err(|e| mount_err("open", &dest, e))?;
            sys_mount(
                Some(&src),
                &cdest,
                Some(c"tmpfs"),
                flags & !libc::MS_RDONLY,
                data.as_deref(),
            )
            .map_err(|e| mount_err("mount tmpfs on", &dest, e))?;
            let from = PathBuf::from(format!("/proc/self/fd/{}", under.as_raw_fd()));
            copy_tree(&from, &dest)
                .map_err(|e| mount_err("copy the image's files into tmpfs", &dest, e))?;
            if flags & libc::MS_RDONLY != 0 {
                sys_mount(
                    None,
                    &cdest,
                    None,
                    libc::MS_REMOUNT | flags,
                    data.as_deref(),
                )
                .map_err(|e| mount_err("remount read-only", &dest, e))?;
            }
        }
        _ => {
            mkdir_all(&dest)?;
            let fstype = cstr(typ);
            match sys_mount(Some(&src), &cdest, Some(&fstype), flags, data.as_deref()) {
                Ok(()) => {}
                // No network namespace of our own (sysfs) or no IPC one (mqueue): bind the
                // host's instance instead, as runc does.
                Err(e)
                    if e.raw_os_error() == Some(libc::EPERM)
                        && (typ == "sysfs" || typ == "mqueue") =>
                {
                    let host = if typ == "sysfs" {
                        c"/sys"
                    } else {
                        c"/dev/mqueue"
                    };
                    sys_mount(Some(host), &cdest, None, libc::MS_BIND | libc::MS_REC, None)
                        .map_err(|e| mount_err(&format!("mount {typ} on"), &dest, e))?;
                    bind_remount(&cdest, flags & BIND_REMOUNT_FLAGS)
                        .map_err(|e| mount_err("remount", &dest, e))?;
                }
                Err(e) => return Err(mount_err(&format!("mount {typ} on"), &dest, e)),
            }
        }
    }
    if opts.prop != 0 {
        sys_mount(None, &cdest, None, opts.prop, None)
            .map_err(|e| mount_err("set propagation of", &dest, e))?;
    }
    Ok(())
}

/// /sys/fs/cgroup inside the container: v1 is a tmpfs with one mount per hierarchy (the
/// hierarchy itself inside a cgroup namespace, else a bind of the container's directory);
/// v2 is one cgroup2 mount.
fn mount_cgroups(dest: &Path, flags: c_ulong, ctx: &MountCtx<'_>) -> Result<()> {
    (ctx.before_cgroups)()?;
    mkdir_all(dest)?;
    let cdest = cpath(dest);
    let ro = flags & libc::MS_RDONLY;
    let base = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    if ctx.cgroups.v2 {
        if ctx.cgroupns {
            sys_mount(
                Some(c"cgroup2"),
                &cdest,
                Some(c"cgroup2"),
                flags | base,
                None,
            )
            .map_err(|e| mount_err("mount cgroup2 on", dest, e))?;
        } else if let Some(d) = ctx.cgroups.dirs.first() {
            sys_mount(
                Some(&cpath(&d.path)),
                &cdest,
                None,
                libc::MS_BIND | libc::MS_REC,
                None,
            )
            .map_err(|e| mount_err("bind cgroup on", dest, e))?;
            bind_remount(&cdest, (flags & BIND_REMOUNT_FLAGS) | base)
                .map_err(|e| mount_err("remount", dest, e))?;
        }
        return Ok(());
    }
    sys_mount(
        Some(c"tmpfs"),
        &cdest,
        Some(c"tmpfs"),
        base,
        Some(c"mode=755"),
    )
    .map_err(|e| mount_err("mount tmpfs on", dest, e))?;
    let mut binds = Vec::new();
    for d in &ctx.cgroups.dirs {
        let Some(name) = d.mount.file_name() else {
            continue;
        };
        let sub = dest.join(name);
        mkdir_all(&sub)?;
        let csub = cpath(&sub);
        if ctx.cgroupns {
            let data = cstr(&d.controllers.join(","));
            sys_mount(
                Some(c"cgroup"),
                &csub,
                Some(c"cgroup"),
                base | ro,
                Some(&data),
            )
            .map_err(|e| mount_err("mount cgroup on", &sub, e))?;
        } else {
            sys_mount(
                Some(&cpath(&d.path)),
                &csub,
                None,
                libc::MS_BIND | libc::MS_REC,
                None,
            )
            .map_err(|e| mount_err("bind cgroup on", &sub, e))?;
            binds.push((sub, csub));
        }
        let n = name.to_string_lossy();
        if n.contains(',') {
            for part in n.split(',') {
                let _ = symlink(&*n, dest.join(part));
            }
        }
    }
    // The binds' flags and the tmpfs's read-only flag in one call over the subtree, where a
    // remount of each bind and of the tmpfs took six (v1 here: five hierarchies; 0.04-0.07
    // ms each in the init). Older kernels (before 5.12), and flags a user namespace has
    // locked, take the remounts.
    if set_tree_flags(&cdest, base | ro) {
        return Ok(());
    }
    for (sub, csub) in &binds {
        bind_remount(csub, base | ro).map_err(|e| mount_err("remount", sub, e))?;
    }
    if ro != 0 {
        sys_mount(
            None,
            &cdest,
            None,
            libc::MS_REMOUNT | base | ro,
            Some(c"mode=755"),
        )
        .map_err(|e| mount_err("remount read-only", dest, e))?;
    }
    Ok(())
}

// From <linux/mount.h>; the libc crate has the system call's number but not these.
pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub const MOUNT_ATTR_NODEV: u64 = 0x4;
pub const MOUNT_ATTR_NOEXEC: u64 = 0x8;
pub const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;

/// `struct mount_attr`, the argument of `mount_setattr(2)`.
#[repr(C)]
pub struct MountAttr {
    pub attr_set: u64,
    pub attr_clr: u64,
    pub propagation: u64,
    pub userns_fd: u64,
}

/// Sets MS_RDONLY, MS_NOSUID, MS_NODEV and MS_NOEXEC of `flags` on the mount at `target`
/// and every mount under it (`mount_setattr` with `AT_RECURSIVE`); false if the kernel
/// refused (no such call, or a locked flag), with nothing changed.
fn set_tree_flags(target: &CStr, flags: c_ulong) -> bool {
    let mut set = 0;
    for (ms, attr) in [
        (libc::MS_RDONLY, MOUNT_ATTR_RDONLY),
        (libc::MS_NOSUID, MOUNT_ATTR_NOSUID),
        (libc::MS_NODEV, MOUNT_ATTR_NODEV),
        (libc::MS_NOEXEC, MOUNT_ATTR_NOEXEC),
    ] {
        if flags & ms != 0 {
            set |= attr;
        }
    }
    let attr = MountAttr {
        attr_set: set,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: a valid C string and a mount_attr of the size passed.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            target.as_ptr(),
            libc::AT_RECURSIVE as libc::c_uint,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    r == 0
}

/// Copies a directory tree with modes, owners and symlinks (tmpcopyup).
fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let meta = fs::metadata(from)?;
    fs::set_permissions(to, fs::Permissions::from_mode(meta.mode() & 0o7777))?;
    let _ = std::os::unix::fs::chown(to, Some(meta.uid()), Some(meta.gid()));
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let src = entry.path();
        let dst = to.join(entry.file_name());
        let m = fs::symlink_metadata(&src)?;
        if m.file_type().is_symlink() {
            symlink(fs::read_link(&src)?, &dst)?;
            let _ = std::os::unix::fs::lchown(&dst, Some(m.uid()), Some(m.gid()));
        } else if m.is_dir() {
            fs::create_dir(&dst)?;
            copy_tree(&src, &dst)?;
        } else if m.is_file() {
            fs::copy(&src, &dst)?;
            let _ = std::os::unix::fs::chown(&dst, Some(m.uid()), Some(m.gid()));
        }
    }
    Ok(())
}

/// The device nodes every container gets (runc's list).
const DEFAULT_DEVICES: &[(&str, u32, u32)] = &[
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("tty", 5, 0),
    ("random", 1, 8),
    ("urandom", 1, 9),
];

/// Step 3: device nodes and the usual /dev links. With `own_dev` (/dev is a tmpfs of ours),
/// the default nodes too. In a user namespace, mknod is not allowed: host nodes are bound.
pub fn create_devices(devices: &[LinuxDevice], own_dev: bool, ctx: &MountCtx<'_>) -> Result<()> {
    let dev = secure_join(ctx.rootfs, Path::new("/dev"));
    if own_dev {
        for (name, major, minor) in DEFAULT_DEVICES {
            make_node(
                &dev.join(name),
                Path::new(&format!("/dev/{name}")),
                libc::S_IFCHR,
                0o666,
                *major,
                *minor,
                0,
                0,
                ctx.userns,
            )?;
        }
    }
    for d in devices {
        let target = secure_join(ctx.rootfs, d.path());
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => libc::S_IFCHR,
            LinuxDeviceType::B => libc::S_IFBLK,
            LinuxDeviceType::P => libc::S_IFIFO,
            LinuxDeviceType::A => {
                return Err(Error(format!(
                    "device {} has type \"a\"",
                    d.path().display()
                )))
            }
        };
        let mode = d.file_mode().unwrap_or(0o666) & 0o7777;
        make_node(
            &target,
            d.path(),
            kind,
            mode,
            d.major() as u32,
            d.minor() as u32,
            d.uid().unwrap_or(0),
            d.gid().unwrap_or(0),
            ctx.userns,
        )?;
    }
    if own_dev {
        for (link, target) in [
            ("fd", "/proc/self/fd"),
            ("stdin", "/proc/self/fd/0"),
            ("stdout", "/proc/self/fd/1"),
            ("stderr", "/proc/self/fd/2"),
        ] {
            let _ = symlink(target, dev.join(link));
        }
        if Path::new("/proc/kcore").exists() {
            let _ = symlink("/proc/kcore", dev.join("core"));
        }
        if dev.join("pts/ptmx").exists() {
            let _ = fs::remove_file(dev.join("ptmx"));
            let _ = symlink("pts/ptmx", dev.join("ptmx"));
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn make_node(
    target: &Path,
    host: &Path,
    kind: libc::mode_t,
    mode: u32,
    major: u32,
    minor: u32,
    uid: u32,
    gid: u32,
    userns: bool,
) -> Result<()> {
    if let Some(parent) = target.parent() {
        mkdir_all(parent)?;
    }
    let c = cpath(target);
    if userns {
        touch(target)?;
        return sys_mount(Some(&cpath(host)), &c, None, libc::MS_BIND, None)
            .map_err(|e| mount_err(&format!("bind device {} onto", host.display()), target, e));
    }
    let r = unsafe { libc::mknod(c.as_ptr(), kind | mode, libc::makedev(major, minor)) };
    if r != 0 {
        let e = errno();
        if e.raw_os_error() != Some(libc::EEXIST) {
            return Err(mount_err("create device", target, e));
        }
    }
    unsafe { libc::chown(c.as_ptr(), uid, gid) };
    Ok(())
}

fn open_dir(p: &CStr) -> io::Result<OwnedFd> {
    let fd = cvt(unsafe {
        libc::open(
            p.as_ptr(),
            libc::O_DIRECTORY | libc::O_RDONLY | libc::O_CLOEXEC,
        )
    })?;
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Step 4: pivot_root into the rootfs without a put_old directory (runc's way: pivot onto
/// itself, then detach the old root from underneath).
///
/// The detach is started, not finished: it runs in a child (see [`OldRoot`]) while the init
/// goes on with its masks and limits, and [`OldRoot::wait`] must return before anything of
/// the container runs (a hook, a seccomp filter, the exec). Until then the old root is
/// stacked on the new one at `/`, where no path of the init reaches it: a lookup starts at
/// the process's root, under that mount, and `..` of the root is the root.
pub fn pivot_root(rootfs: &Path) -> Result<OldRoot> {
    let old = open_dir(c"/").map_err(|e| Error(format!("open /: {e}")))?;
    let new = open_dir(&cpath(rootfs)).map_err(|e| mount_err("open rootfs", rootfs, e))?;
    let step = |what: &str, r: libc::c_int| -> Result<()> {
        if r != 0 {
            return Err(Error(format!(
                "pivot_root into {}: {what}: {}",
                rootfs.display(),
                errno()
            )));
        }
        Ok(())
    };
    unsafe {
        step("fchdir", libc::fchdir(new.as_raw_fd()))?;
        step(
            "pivot_root",
            libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()) as libc::c_int,
        )?;
        step("fchdir", libc::fchdir(old.as_raw_fd()))?;
        step(
            "make old root slave",
            libc::mount(
                std::ptr::null(),
                c".".as_ptr(),
                std::ptr::null(),
                libc::MS_SLAVE | libc::MS_REC,
                std::ptr::null(),
            ),
        )?;
    }
    // The child starts with this process's working directory: the old root.
    let detach = OldRoot::detach_in_child();
    let detach = match detach {
        Some(d) => d,
        None => {
            // No child (a pids limit of 1, say): detached here, waiting as before.
            step("detach old root", unsafe {
                libc::umount2(c".".as_ptr(), libc::MNT_DETACH)
            })?;
            OldRoot {
                child: None,
                _stack: Vec::new(),
            }
        }
    };
    if let Err(e) = step("chdir /", unsafe { libc::chdir(c"/".as_ptr()) }) {
        let _ = detach.wait();
        return Err(e);
    }
    Ok(detach)
}

/// The old root's detach, under way in a child of the init.
///
/// `umount2(MNT_DETACH)` takes the old root's mounts out of the namespace at once, then
/// waits for an RCU grace period before it frees them and returns (`namespace_unlock` →
/// `synchronize_rcu_expedited`): 0.35 ms on a quiet machine, 1.7–5.5 ms under load, all
/// of it on the container's start path when the init waited itself. The child shares the
/// init's memory (`CLONE_VM`, no copy of its pages) and makes only raw system calls on a
/// stack of its own, which write no `errno` (it shares the init's thread-local storage).
/// The child counts against a pids limit only until its exit.
pub struct OldRoot {
    child: Option<libc::pid_t>,
    /// The child's stack, freed once it has exited.
    _stack: Vec<u128>,
}

/// The child's stack: the call below needs a few hundred bytes.
const DETACH_STACK_WORDS: usize = 1024; // 16 KiB

extern "C" fn detach_old_root(_: *mut libc::c_void) -> libc::c_int {
    match rustix::mount::unmount(c".", rustix::mount::UnmountFlags::DETACH) {
        Ok(()) => 0,
        Err(e) => e.raw_os_error(),
    }
}

impl OldRoot {
    fn detach_in_child() -> Option<OldRoot> {
        let mut stack = vec![0u128; DETACH_STACK_WORDS];
        // SAFETY: the stack grows down from its end (16-byte aligned: u128 words); the
        // child runs only `detach_old_root`, which touches nothing of this process's memory
        // but its own stack, and the stack outlives the child (`wait` before it is dropped,
        // or this process exits, which leaves the memory to the child).
        let pid = unsafe {
            let top = stack.as_mut_ptr().add(stack.len()) as *mut libc::c_void;
            libc::clone(
                detach_old_root,
                top,
                libc::CLONE_VM | libc::SIGCHLD,
                std::ptr::null_mut(),
            )
        };
        (pid > 0).then_some(OldRoot {
            child: Some(pid),
            _stack: stack,
        })
    }

    /// Waits until the old root is detached (the child's exit).
    pub fn wait(mut self) -> Result<()> {
        self.finish()
    }

    fn finish(&mut self) -> Result<()> {
        let Some(pid) = self.child.take() else {
            return Ok(());
        };
        let mut status = 0;
        loop {
            let r = unsafe { libc::waitpid(pid, &mut status, 0) };
            if r == pid {
                break;
            }
            let e = errno();
            if e.raw_os_error() != Some(libc::EINTR) {
                return Err(Error(format!("wait for the old root's detach: {e}")));
            }
        }
        match (libc::WIFEXITED(status), libc::WEXITSTATUS(status)) {
            (true, 0) => Ok(()),
            (true, code) => Err(Error(format!(
                "detach the old root: {}",
                io::Error::from_raw_os_error(code)
            ))),
            _ => Err(Error("detach the old root: its child was killed".into())),
        }
    }
}

impl Drop for OldRoot {
    fn drop(&mut self) {
        // Never free the stack under a running child.
        let _ = self.finish();
    }
}

/// Whether the spec's root propagation is shared, which [`finish_root_propagation`] applies
/// after the pivot.
pub fn shares_root(root_propagation: Option<&str>) -> bool {
    root_propagation
        .and_then(propagation)
        .is_some_and(|f| f & libc::MS_SHARED != 0)
}

/// Shared root propagation, applied after the pivot (see `prepare_root`).
pub fn finish_root_propagation(root_propagation: Option<&str>) -> Result<()> {
    if let (true, Some(f)) = (
        shares_root(root_propagation),
        root_propagation.and_then(propagation),
    ) {
        sys_mount(None, c"/", None, f | libc::MS_REC, None)
            .map_err(|e| mount_err("set propagation of", Path::new("/"), e))?;
    }
    Ok(())
}

/// Step 5 (after pivot_root): masked paths get an empty read-only tmpfs (directories) or
/// /dev/null (files); read-only paths a read-only bind of themselves.
pub fn mask_paths(paths: &[String]) -> Result<()> {
    for p in paths {
        let c = cstr(p);
        let meta = match fs::metadata(p) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error(format!("masked path {p}: {e}"))),
        };
        let r = if meta.is_dir() {
            sys_mount(Some(c"tmpfs"), &c, Some(c"tmpfs"), libc::MS_RDONLY, None)
        } else {
            sys_mount(Some(c"/dev/null"), &c, None, libc::MS_BIND, None)
        };
        r.map_err(|e| Error(format!("mask {p}: {e}")))?;
    }
    Ok(())
}

pub fn readonly_paths(paths: &[String]) -> Result<()> {
    for p in paths {
        let c = cstr(p);
        match sys_mount(Some(&c), &c, None, libc::MS_BIND | libc::MS_REC, None) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error(format!("make {p} read-only: {e}"))),
        }
        bind_remount(
            &c,
            libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        )
        .or_else(|_| bind_remount(&c, libc::MS_RDONLY))
        .map_err(|e| Error(format!("make {p} read-only: {e}")))?;
    }
    Ok(())
}

/// `root.readonly`: the root mount becomes read-only (other mounts keep their own flags).
pub fn readonly_root() -> Result<()> {
    bind_remount(c"/", libc::MS_RDONLY)
        .map_err(|e| Error(format!("make the root file system read-only: {e}")))
}

/// Writes `linux.sysctl` entries under /proc/sys.
pub fn sysctl(entries: &std::collections::HashMap<String, String>) -> Result<()> {
    for (k, v) in entries {
        let path = PathBuf::from("/proc/sys").join(k.replace('.', "/"));
        crate::util::write_file(&path, v).map_err(|e| Error(format!("sysctl {k}={v}: {e}")))?;
    }
    Ok(())
}

/// Bind mounts the console pty over /dev/console.
pub fn bind_console(slave: &Path) -> Result<()> {
    let console = Path::new("/dev/console");
    touch(console)?;
    let c = CString::new(slave.as_os_str().as_bytes()).unwrap_or_default();
    sys_mount(Some(&c), c"/dev/console", None, libc::MS_BIND, None)
        .map_err(|e| mount_err("bind console onto", console, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_split_into_flags_and_data() {
        let o = parse_options(&[
            "nosuid".into(),
            "noexec".into(),
            "mode=1777".into(),
            "size=65536k".into(),
            "rprivate".into(),
        ])
        .unwrap();
        assert_eq!(o.flags, libc::MS_NOSUID | libc::MS_NOEXEC);
        assert_eq!(o.data, "mode=1777,size=65536k");
        assert_eq!(o.prop, libc::MS_PRIVATE | libc::MS_REC);
        let o = parse_options(&["ro".into(), "rw".into(), "rbind".into()]).unwrap();
        assert_eq!(o.flags, libc::MS_BIND | libc::MS_REC);
        assert!(parse_options(&["idmap".into()]).is_err());
    }

    #[test]
    fn secure_join_stays_inside() {
        let d = std::env::temp_dir().join(format!("dermaga-sj-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(d.join("a")).unwrap();
        symlink("/etc", d.join("a/abs")).unwrap();
        symlink("../../../..", d.join("a/up")).unwrap();
        assert_eq!(
            secure_join(&d, Path::new("/a/abs/passwd")),
            d.join("etc/passwd")
        );
        assert_eq!(secure_join(&d, Path::new("/a/up/x")), d.join("x"));
        assert_eq!(secure_join(&d, Path::new("../../b")), d.join("b"));
        fs::remove_dir_all(&d).unwrap();
    }
}
