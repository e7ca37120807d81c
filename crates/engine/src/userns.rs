//! A container's user namespace as podman's root user asks for it: `--userns=host|auto[:…]|ns:PATH`,
//! `--uidmap`/`--gidmap`, the ranges `auto` takes from /etc/subuid and /etc/subgid for the user
//! `containers` (none of them used by another container of the store), and a namespace handle
//! with a mapping, for idmapped mounts of the image's layers.
//!
//! It does not enter namespaces for processes: the runtime does, from the spec's mappings.

use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One line of a uid or gid map: `size` ids from `container` inside are `host` outside.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdMap {
    pub container: u32,
    pub host: u32,
    pub size: u32,
}

impl IdMap {
    /// Podman's spelling, `CONTAINER:HOST:SIZE` (inspect's IDMappings).
    pub fn podman(&self) -> String {
        format!("{}:{}:{}", self.container, self.host, self.size)
    }

    fn host_range(&self) -> Range {
        Range::new(self.host, self.size)
    }

    fn container_range(&self) -> Range {
        Range::new(self.container, self.size)
    }
}

/// The user namespace a container asked for, resolved at create time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserNs {
    /// What inspect's UsernsMode shows: "" (host), "private" (mappings), "ns:PATH".
    pub mode: String,
    pub uid_map: Vec<IdMap>,
    pub gid_map: Vec<IdMap>,
}

/// `--userns` as parsed, before `auto` has its ranges.
#[derive(Debug, PartialEq, Eq)]
pub enum Request {
    Host,
    /// Explicit `--uidmap`/`--gidmap`.
    Maps {
        uid: Vec<IdMap>,
        gid: Vec<IdMap>,
    },
    Auto(AutoOptions),
    Path(PathBuf),
    /// `container:NAME`: the user namespace of another container of the store.
    Container(String),
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct AutoOptions {
    pub size: Option<u32>,
    pub uid_mappings: Vec<IdMap>,
    pub gid_mappings: Vec<IdMap>,
}

/// podman's bounds for `auto` without `size=` (containers-storage's defaults).
const AUTO_MIN_SIZE: u32 = 1024;
const AUTO_MAX_SIZE: u32 = 65536;
/// The user whose subordinate ranges `auto` takes, as podman's as root.
pub const AUTO_USER: &str = "containers";

/// Parses `CONTAINER:HOST:SIZE`; `flag` names the option in errors.
pub fn parse_map(flag: &str, s: &str) -> Result<IdMap> {
    let bad = |why: &str| Error::engine(format!("{flag} {s:?}: {why}"));
    let parts: Vec<&str> = s.split(':').collect();
    let [c, h, n] = parts.as_slice() else {
        return Err(bad("expected CONTAINER_ID:HOST_ID:SIZE"));
    };
    let num = |v: &str, what: &str| {
        v.parse::<u32>().map_err(|_| {
            bad(&format!(
                "{what} {v:?} is not a number from 0 to 4294967295"
            ))
        })
    };
    let m = IdMap {
        container: num(c, "the container id")?,
        host: num(h, "the host id")?,
        size: num(n, "the size")?,
    };
    if m.size == 0 {
        return Err(bad("the size must be at least 1"));
    }
    if u64::from(m.container) + u64::from(m.size) > 1 << 32
        || u64::from(m.host) + u64::from(m.size) > 1 << 32
    {
        return Err(bad("the range goes past id 4294967295"));
    }
    Ok(m)
}

/// Parses `--userns`, `--uidmap` and `--gidmap` together, with podman's rules and words.
pub fn parse(userns: Option<&str>, uidmap: &[String], gidmap: &[String]) -> Result<Request> {
    let mode = userns.unwrap_or("");
    let has_maps = !uidmap.is_empty() || !gidmap.is_empty();
    if has_maps && !(mode.is_empty()) {
        return Err(Error::engine(
            "--userns and --uidmap/--gidmap are mutually exclusive",
        ));
    }
    if has_maps {
        let uid = uidmap
            .iter()
            .map(|m| parse_map("--uidmap", m))
            .collect::<Result<Vec<_>>>()?;
        let gid = gidmap
            .iter()
            .map(|m| parse_map("--gidmap", m))
            .collect::<Result<Vec<_>>>()?;
        // podman: a map given for one kind of id only is used for both.
        let (uid, gid) = match (uid.is_empty(), gid.is_empty()) {
            (true, _) => (gid.clone(), gid),
            (_, true) => (uid.clone(), uid),
            _ => (uid, gid),
        };
        check_disjoint("--uidmap", &uid)?;
        check_disjoint("--gidmap", &gid)?;
        return Ok(Request::Maps { uid, gid });
    }
    let (name, opts) = mode.split_once(':').unwrap_or((mode, ""));
    match name {
        "" | "host" => Ok(Request::Host),
        "auto" => parse_auto(opts).map(Request::Auto),
        "ns" => {
            if opts.is_empty() {
                return Err(Error::engine(
                    "--userns ns: needs the path of a user namespace (ns:/proc/PID/ns/user)",
                ));
            }
            let p = PathBuf::from(opts);
            std::fs::metadata(&p).map_err(|e| {
                Error::engine(format!(
                    "--userns {mode}: cannot find the user namespace path {opts}: {e}"
                ))
            })?;
            Ok(Request::Path(p))
        }
        "container" if !opts.is_empty() => Ok(Request::Container(opts.to_string())),
        "container" => Err(Error::engine(
            "--userns container: needs the name or id of a container (container:NAME)",
        )),
        "private" => Err(Error::engine(
            "--userns private: must provide at least one UID or GID mapping to configure a user \
             namespace (--uidmap/--gidmap), or use --userns=auto",
        )),
        "keep-id" | "nomap" => Err(Error::engine(format!(
            "--userns {mode}: {name} is only supported in rootless mode (podman refuses it for \
             root too); as root use --userns=auto or --uidmap/--gidmap"
        ))),
        _ => Err(Error::engine(format!(
            "--userns {mode}: unrecognized user namespace mode; dermaga accepts host, \
             auto[:size=N,uidmapping=C:H:N,gidmapping=C:H:N], ns:PATH and container:NAME"
        ))),
    }
}

fn parse_auto(opts: &str) -> Result<AutoOptions> {
    let mut a = AutoOptions::default();
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        let (k, v) = o.split_once('=').unwrap_or((o, ""));
        match k {
            "size" => {
                let n: u32 = v.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                    Error::engine(format!(
                        "--userns auto:{opts}: size={v:?} is not a number of ids above 0"
                    ))
                })?;
                a.size = Some(n);
            }
            "uidmapping" => a
                .uid_mappings
                .push(parse_map("--userns auto:uidmapping=", v)?),
            "gidmapping" => a
                .gid_mappings
                .push(parse_map("--userns auto:gidmapping=", v)?),
            _ => {
                return Err(Error::engine(format!(
                    "--userns auto:{opts}: unknown option {k:?} (size, uidmapping and gidmapping \
                     are known)"
                )))
            }
        }
    }
    check_disjoint("--userns auto:uidmapping", &a.uid_mappings)?;
    check_disjoint("--userns auto:gidmapping", &a.gid_mappings)?;
    Ok(a)
}

/// The kernel refuses maps whose ranges overlap inside or outside; say so by flag.
fn check_disjoint(flag: &str, maps: &[IdMap]) -> Result<()> {
    for (i, a) in maps.iter().enumerate() {
        for b in &maps[i + 1..] {
            if a.container_range().overlaps(&b.container_range()) {
                return Err(Error::engine(format!(
                    "{flag}: {} and {} map the same container ids",
                    a.podman(),
                    b.podman()
                )));
            }
            if a.host_range().overlaps(&b.host_range()) {
                return Err(Error::engine(format!(
                    "{flag}: {} and {} map the same host ids",
                    a.podman(),
                    b.podman()
                )));
            }
        }
    }
    Ok(())
}

// ---- id ranges ----

/// `[start, end)` of ids, in u64 so that the end of the 32-bit space is representable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Range {
    start: u64,
    end: u64,
}

impl Range {
    fn new(start: u32, size: u32) -> Range {
        Range {
            start: start.into(),
            end: u64::from(start) + u64::from(size),
        }
    }

    fn overlaps(&self, o: &Range) -> bool {
        self.start < o.end && o.start < self.end
    }
}

/// A set of ids as sorted, disjoint ranges.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct IdSet(Vec<Range>);

impl IdSet {
    fn from_ranges(mut v: Vec<Range>) -> IdSet {
        v.retain(|r| r.start < r.end);
        v.sort_by_key(|r| r.start);
        let mut out: Vec<Range> = Vec::new();
        for r in v {
            match out.last_mut() {
                Some(l) if r.start <= l.end => l.end = l.end.max(r.end),
                _ => out.push(r),
            }
        }
        IdSet(out)
    }

    fn subtract(&self, other: &IdSet) -> IdSet {
        let mut out = Vec::new();
        for r in &self.0 {
            let mut start = r.start;
            for o in other.0.iter().filter(|o| o.overlaps(r)) {
                if o.start > start {
                    out.push(Range {
                        start,
                        end: o.start,
                    });
                }
                start = start.max(o.end);
            }
            if start < r.end {
                out.push(Range { start, end: r.end });
            }
        }
        IdSet(out)
    }

    fn size(&self) -> u64 {
        self.0.iter().map(|r| r.end - r.start).sum()
    }

    /// The first `n` ids of the set (lowest first), or None if it has fewer.
    fn take(&self, n: u64) -> Option<IdSet> {
        let mut left = n;
        let mut out = Vec::new();
        for r in &self.0 {
            if left == 0 {
                break;
            }
            let len = (r.end - r.start).min(left);
            out.push(Range {
                start: r.start,
                end: r.start + len,
            });
            left -= len;
        }
        (left == 0).then_some(IdSet(out))
    }

    /// Pairs the ids of `self` (host) with those of `inside` (container), in order, as map
    /// lines; both hold the same number of ids.
    fn zip(&self, inside: &IdSet) -> Vec<IdMap> {
        let mut out = Vec::new();
        let (mut h, mut c) = (self.0.iter().copied(), inside.0.iter().copied());
        let (mut hr, mut cr) = (h.next(), c.next());
        while let (Some(a), Some(b)) = (hr.as_mut(), cr.as_mut()) {
            let len = (a.end - a.start).min(b.end - b.start);
            // Both ends fit u32 by construction: every range comes from u32 ids and sizes.
            out.push(IdMap {
                container: b.start as u32,
                host: a.start as u32,
                size: len as u32,
            });
            a.start += len;
            b.start += len;
            if a.start == a.end {
                hr = h.next();
            }
            if b.start == b.end {
                cr = c.next();
            }
        }
        out
    }
}

fn host_ids(maps: &[IdMap]) -> IdSet {
    IdSet::from_ranges(maps.iter().map(IdMap::host_range).collect())
}

/// The ranges /etc/subuid (or /etc/subgid) gives `user`: lines `NAME:START:COUNT`.
pub fn subordinate_ranges(file: &Path, user: &str) -> Result<Vec<IdMap>> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        Error::engine(format!(
            "--userns=auto: reading {}: {e} (auto takes its ids from the ranges of the user \
             \"{user}\" there, as podman does; add a line such as {user}:2147483647:2147483648)",
            file.display()
        ))
    })?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let mut f = line.trim().split(':');
        if f.next() != Some(user) {
            continue;
        }
        let (Some(start), Some(count)) = (f.next(), f.next()) else {
            return Err(Error::engine(format!(
                "{}:{}: expected NAME:START:COUNT",
                file.display(),
                n + 1
            )));
        };
        let m = parse_map(
            &format!("{}:{}:", file.display(), n + 1),
            &format!("0:{start}:{count}"),
        )?;
        out.push(m);
    }
    if out.is_empty() {
        return Err(Error::engine(format!(
            "--userns=auto: {} has no range for the user \"{user}\" (add a line such as \
             {user}:2147483647:2147483648, as podman needs too)",
            file.display()
        )));
    }
    Ok(out)
}

/// The size `auto` gives a container without `size=`: the highest uid or gid the image's
/// /etc/passwd and /etc/group name (nobody aside) plus one, within podman's bounds.
pub fn auto_size(passwd: &str, group: &str) -> Result<u32> {
    let mut size: u64 = 0;
    let mut see = |name: &str, id: Option<&str>| {
        if let Some(id) = id.and_then(|v| v.parse::<u64>().ok()) {
            if name != "nobody" && name != "nogroup" && id != 65534 {
                size = size.max(id + 1);
            }
        }
    };
    for l in passwd.lines() {
        let f: Vec<&str> = l.split(':').collect();
        see(f[0], f.get(2).copied());
        see(f[0], f.get(3).copied());
    }
    for l in group.lines() {
        let f: Vec<&str> = l.split(':').collect();
        see(f[0], f.get(2).copied());
    }
    let size = size.max(AUTO_MIN_SIZE.into());
    if size > AUTO_MAX_SIZE.into() {
        return Err(Error::engine(format!(
            "--userns=auto: the image names ids up to {}, more than the {AUTO_MAX_SIZE} auto \
             gives without size=; give --userns=auto:size=N",
            size - 1
        )));
    }
    Ok(size as u32)
}

/// Allocates `auto`'s maps: `size` container ids from 0 (those of the explicit mappings
/// aside) onto the first free host ids of `available`, none of them in `used`.
pub fn allocate(
    size: u32,
    available_uids: &[IdMap],
    available_gids: &[IdMap],
    used_uids: &[IdMap],
    used_gids: &[IdMap],
    opts: &AutoOptions,
) -> Result<(Vec<IdMap>, Vec<IdMap>)> {
    let one = |kind: &str, avail: &[IdMap], used: &[IdMap], extra: &[IdMap]| {
        let wanted = IdSet::from_ranges(vec![Range::new(0, size)]).subtract(&IdSet::from_ranges(
            extra.iter().map(IdMap::container_range).collect(),
        ));
        let mut taken = used.to_vec();
        taken.extend_from_slice(extra);
        let free = host_ids(avail).subtract(&host_ids(&taken));
        let hosts = free.take(wanted.size()).ok_or_else(|| {
            Error::engine(format!(
                "--userns=auto: not enough free {kind}s left for {} ids ({} free of the user \
                 \"{AUTO_USER}\"'s ranges after the other containers' ones)",
                wanted.size(),
                free.size()
            ))
        })?;
        let mut maps = hosts.zip(&wanted);
        maps.extend_from_slice(extra);
        Ok::<_, Error>(maps)
    };
    Ok((
        one("uid", available_uids, used_uids, &opts.uid_mappings)?,
        one("gid", available_gids, used_gids, &opts.gid_mappings)?,
    ))
}

/// Whether a container with this UsernsMode joins a user namespace that exists already
/// (`ns:PATH`, `container:ID`) rather than getting its own.
pub fn joins_existing(mode: &str) -> bool {
    mode.starts_with("ns:") || mode.starts_with("container:")
}

/// The host id that `id` inside is, if mapped.
pub fn to_host(maps: &[IdMap], id: u32) -> Option<u32> {
    maps.iter()
        .find(|m| id >= m.container && u64::from(id) < u64::from(m.container) + u64::from(m.size))
        .map(|m| m.host + (id - m.container))
}

/// A user namespace with these maps, held by its descriptor (for `mount_setattr`'s
/// MOUNT_ATTR_IDMAP). A child is cloned into a new user namespace and waits; this process
/// writes its maps, opens its namespace and lets it exit.
pub fn namespace_with(uid_map: &[IdMap], gid_map: &[IdMap]) -> Result<OwnedFd> {
    let (r, w) = pipe()?;
    use std::os::fd::AsRawFd;
    // SAFETY: the child only reads a pipe and exits (async-signal-safe), so this is sound in a
    // threaded caller too.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (libc::CLONE_NEWUSER | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    if pid == 0 {
        let mut b = 0u8;
        // SAFETY: closing our copy of the write end (else the read never sees EOF), reading
        // one byte into a local; _exit never returns.
        unsafe {
            libc::close(w.as_raw_fd());
            libc::read(r.as_raw_fd(), (&mut b as *mut u8).cast(), 1);
            libc::_exit(0);
        }
    }
    if pid < 0 {
        return Err(Error::engine(format!(
            "creating a user namespace for the idmapped root file system: {}",
            std::io::Error::last_os_error()
        )));
    }
    let pid = pid as i32;
    let lines = |maps: &[IdMap]| {
        maps.iter()
            .map(|m| format!("{} {} {}\n", m.container, m.host, m.size))
            .collect::<String>()
    };
    let res = (|| {
        std::fs::write(format!("/proc/{pid}/uid_map"), lines(uid_map))
            .map_err(|e| Error::engine(format!("writing the uid map of a user namespace: {e}")))?;
        std::fs::write(format!("/proc/{pid}/gid_map"), lines(gid_map))
            .map_err(|e| Error::engine(format!("writing the gid map of a user namespace: {e}")))?;
        let f = std::fs::File::open(format!("/proc/{pid}/ns/user"))
            .map_err(|e| Error::engine(format!("opening a user namespace: {e}")))?;
        Ok(OwnedFd::from(f))
    })();
    drop(w);
    drop(r);
    // SAFETY: reaping our own child.
    unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
    res
}

/// A close-on-exec pipe: (read end, write end).
fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    let mut p = [0; 2];
    // SAFETY: p has room for two descriptors.
    if unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(Error::engine(format!(
            "pipe: {}",
            std::io::Error::last_os_error()
        )));
    }
    // SAFETY: both descriptors were just created and are ours.
    Ok(unsafe { (OwnedFd::from_raw_fd(p[0]), OwnedFd::from_raw_fd(p[1])) })
}

/// The maps of an existing user namespace (`--userns=ns:PATH`), as its own processes read
/// them: a child joins it and sends back its /proc/self/uid_map and gid_map.
pub fn maps_of(path: &Path) -> Result<(Vec<IdMap>, Vec<IdMap>)> {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    let ns = std::fs::File::open(path).map_err(|e| {
        Error::engine(format!(
            "opening the user namespace {}: {e}",
            path.display()
        ))
    })?;
    let (r, w) = pipe()?;
    let r = std::fs::File::from(r);
    // SAFETY: the child uses only async-signal-safe calls on buffers of its stack, then exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: as above; every pointer is to a NUL-terminated literal or a stack buffer.
        unsafe {
            if libc::setns(ns.as_raw_fd(), libc::CLONE_NEWUSER) != 0 {
                libc::_exit(1);
            }
            let mut buf = [0u8; 8192];
            for f in [c"/proc/self/uid_map", c"/proc/self/gid_map"] {
                let fd = libc::open(f.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
                let n = if fd < 0 {
                    0
                } else {
                    libc::read(fd, buf.as_mut_ptr().cast(), buf.len()).max(0) as usize
                };
                libc::write(w.as_raw_fd(), buf.as_ptr().cast(), n);
                libc::write(w.as_raw_fd(), c"=".as_ptr().cast(), 1);
            }
            libc::_exit(0);
        }
    }
    drop(w);
    if pid < 0 {
        return Err(Error::engine(format!(
            "fork: {}",
            std::io::Error::last_os_error()
        )));
    }
    let mut text = String::new();
    let read = (&r).read_to_string(&mut text);
    let mut status = 0;
    // SAFETY: reaping our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    let parts: Vec<&str> = text.split('=').collect();
    let (Ok(_), [uids, gids, ..]) = (read, parts.as_slice()) else {
        return Err(Error::engine(format!(
            "--userns ns:{}: cannot join it to read its maps (is it a user namespace?)",
            path.display()
        )));
    };
    let parse = |t: &str| -> Result<Vec<IdMap>> {
        t.lines()
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                parse_map(
                    &format!("the uid/gid map of {}", path.display()),
                    &f.join(":"),
                )
            })
            .collect()
    };
    Ok((parse(uids)?, parse(gids)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(container: u32, host: u32, size: u32) -> IdMap {
        IdMap {
            container,
            host,
            size,
        }
    }

    #[test]
    fn flags_parse_with_podmans_rules() {
        assert_eq!(parse(None, &[], &[]).unwrap(), Request::Host);
        assert_eq!(parse(Some("host"), &[], &[]).unwrap(), Request::Host);
        let r = parse(None, &["0:100000:5000".into()], &[]).unwrap();
        assert_eq!(
            r,
            Request::Maps {
                uid: vec![m(0, 100000, 5000)],
                gid: vec![m(0, 100000, 5000)]
            }
        );
        let e = parse(Some("auto"), &["0:1:2".into()], &[]).unwrap_err();
        assert!(e.msg.contains("mutually exclusive"), "{}", e.msg);
        let e = parse(None, &["0:100000".into()], &[]).unwrap_err();
        assert!(e.msg.contains("--uidmap \"0:100000\""), "{}", e.msg);
        let e = parse(Some("keep-id"), &[], &[]).unwrap_err();
        assert!(
            e.msg.contains("only supported in rootless mode"),
            "{}",
            e.msg
        );
        let e = parse(Some("auto:foo=1"), &[], &[]).unwrap_err();
        assert!(e.msg.contains("unknown option \"foo\""), "{}", e.msg);
        let e = parse(Some("auto:size=x"), &[], &[]).unwrap_err();
        assert!(e.msg.contains("size=\"x\""), "{}", e.msg);
        let Request::Auto(a) = parse(Some("auto:size=10,uidmapping=0:5:1"), &[], &[]).unwrap()
        else {
            panic!("not auto")
        };
        assert_eq!(a.size, Some(10));
        assert_eq!(a.uid_mappings, vec![m(0, 5, 1)]);
        let e = parse(None, &["0:1:10".into(), "5:100:10".into()], &[]).unwrap_err();
        assert!(e.msg.contains("same container ids"), "{}", e.msg);
        let e = parse(None, &["0:4294967295:2".into()], &[]).unwrap_err();
        assert!(e.msg.contains("past id"), "{}", e.msg);
    }

    #[test]
    fn auto_takes_free_ranges_around_used_and_explicit_ones() {
        let avail = [m(0, 1000, 10_000)];
        let none = AutoOptions::default();
        let (u, g) = allocate(1024, &avail, &avail, &[], &[], &none).unwrap();
        assert_eq!(u, vec![m(0, 1000, 1024)]);
        assert_eq!(g, u);
        // A second container skips the first one's range.
        let (u2, _) = allocate(1024, &avail, &avail, &u, &g, &none).unwrap();
        assert_eq!(u2, vec![m(0, 2024, 1024)]);
        // A hole too small for the whole size is used, then the rest follows.
        let used = [m(0, 1100, 2000)];
        let (u3, _) = allocate(200, &avail, &avail, &used, &used, &none).unwrap();
        assert_eq!(u3, vec![m(0, 1000, 100), m(100, 3100, 100)]);
        // Explicit mappings keep their container ids and host ids out of the allocation.
        let opts = AutoOptions {
            size: None,
            uid_mappings: vec![m(0, 1000, 1)],
            gid_mappings: vec![],
        };
        let (u4, g4) = allocate(10, &avail, &avail, &[], &[], &opts).unwrap();
        assert_eq!(u4, vec![m(1, 1001, 9), m(0, 1000, 1)]);
        assert_eq!(g4, vec![m(0, 1000, 10)]);
        let e = allocate(20_000, &avail, &avail, &[], &[], &none).unwrap_err();
        assert!(e.msg.contains("not enough free uids"), "{}", e.msg);
    }

    #[test]
    fn auto_size_follows_the_images_users() {
        let passwd = "root:x:0:0::/:/bin/sh\napp:x:1000:1000::/:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n";
        assert_eq!(auto_size(passwd, "root:x:0:\n").unwrap(), 1024);
        assert_eq!(auto_size("big:x:5000:5000::/:\n", "").unwrap(), 5001);
        assert!(auto_size("huge:x:100000:0::/:\n", "").is_err());
        assert_eq!(to_host(&[m(0, 1000, 10), m(10, 5000, 5)], 12), Some(5002));
        assert_eq!(to_host(&[m(0, 1000, 10)], 10), None);
    }
}
