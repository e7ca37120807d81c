//! cgroups through cgroupfs: v1 (including hybrid mode, which is v1 with a cgroup2 mount at
//! /sys/fs/cgroup/unified, treated as v1 as runc and youki do) and pure v2.
//!
//! The container gets one directory per v1 hierarchy (every mounted one, as runc joins them all),
//! or one v2 directory. Limits are written before the init process is added.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType, LinuxResources};
use serde::{Deserialize, Serialize};

use crate::util::{log_warn, write_file, Context, Error, Result};

const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

/// One cgroup directory of the container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CgroupDir {
    /// Where the hierarchy is mounted on the host, e.g. /sys/fs/cgroup/memory.
    pub mount: PathBuf,
    /// Controllers of the hierarchy ("memory", "cpu", "name=systemd"); empty for v2.
    pub controllers: Vec<String>,
    /// The container's directory inside it.
    pub path: PathBuf,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CgroupSet {
    pub v2: bool,
    pub dirs: Vec<CgroupDir>,
}

#[derive(Clone)]
struct Hierarchy {
    mount: PathBuf,
    controllers: Vec<String>,
}

/// The mounted cgroup hierarchies, found once per process: `run` asks before the container
/// exists (the early move) and again to plan its cgroups, and each scan of
/// /proc/self/mountinfo costs about 0.2 ms.
fn hierarchies() -> Result<(bool, Vec<Hierarchy>)> {
    static FOUND: std::sync::OnceLock<(bool, Vec<Hierarchy>)> = std::sync::OnceLock::new();
    if let Some(found) = FOUND.get() {
        return Ok(found.clone());
    }
    let found = scan_hierarchies()?;
    let _ = FOUND.set(found.clone());
    Ok(found)
}

/// Finds the mounted cgroup hierarchies. Pure v2 when /sys/fs/cgroup itself is cgroup2.
fn scan_hierarchies() -> Result<(bool, Vec<Hierarchy>)> {
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    let root = c"/sys/fs/cgroup";
    if unsafe { libc::statfs(root.as_ptr(), &mut st) } == 0 && st.f_type == CGROUP2_SUPER_MAGIC {
        return Ok((
            true,
            vec![Hierarchy {
                mount: PathBuf::from("/sys/fs/cgroup"),
                controllers: vec![],
            }],
        ));
    }
    let info = fs::read_to_string("/proc/self/mountinfo").ctx(|| "read /proc/self/mountinfo")?;
    let mut out = Vec::new();
    for line in info.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let mut post = post.split(' ');
        if post.next() != Some("cgroup") {
            continue;
        }
        let super_opts = post.nth(1).unwrap_or("");
        let mount = match pre.split(' ').nth(4) {
            Some(m) => PathBuf::from(unescape_mountinfo(m)),
            None => continue,
        };
        let controllers: Vec<String> = super_opts
            .split(',')
            .filter(|o| {
                !matches!(
                    *o,
                    "rw" | "ro" | "relatime" | "noatime" | "nosuid" | "nodev" | "noexec"
                ) && !o.starts_with("release_agent")
                    && *o != "clone_children"
                    && *o != "xattr"
                    && *o != "noprefix"
                    && *o != "cpuset_v2_mode"
                    && *o != "favordynmods"
            })
            .map(String::from)
            .collect();
        if controllers.is_empty() || out.iter().any(|h: &Hierarchy| h.controllers == controllers) {
            continue;
        }
        out.push(Hierarchy { mount, controllers });
    }
    if out.is_empty() {
        return Err(Error::new(
            "no cgroup hierarchy is mounted (neither v1 under /sys/fs/cgroup nor cgroup2)",
        ));
    }
    Ok((false, out))
}

fn unescape_mountinfo(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// The runtime's own cgroup in a hierarchy, from /proc/self/cgroup (for relative cgroupsPath).
fn own_cgroup(data: &str, v2: bool, controllers: &[String]) -> String {
    for line in data.lines() {
        let mut it = line.splitn(3, ':');
        let (_, ctrls, path) = (it.next(), it.next().unwrap_or(""), it.next().unwrap_or("/"));
        if v2 {
            if ctrls.is_empty() {
                return path.to_string();
            }
        } else if !ctrls.is_empty() {
            let set: Vec<&str> = ctrls.split(',').collect();
            if controllers.iter().all(|c| set.contains(&c.as_str())) {
                return path.to_string();
            }
        }
    }
    "/".to_string()
}

fn join_rel(base: &Path, sub: &Path) -> PathBuf {
    let mut p = base.to_path_buf();
    for c in sub.components() {
        if let std::path::Component::Normal(n) = c {
            p.push(n);
        }
    }
    p
}

/// v1 hierarchies every container joins: limits and accounting the engine reads (memory
/// and its OOM counter, pids, cpu and cpuacct) and the device allow-list.
/// Starts, in a child process, the wait that the next move of a process between cgroups will
/// have, so that it passes while the caller prepares a container rather than in front of the
/// container's start.
///
/// A move takes the kernel's `cgroup_threadgroup_rwsem` for writing, and the first writer
/// after a quiet spell waits for an RCU grace period (6–16 ms measured on a busy 2-core
/// machine), while writers during the following grace period do not wait. The child moves
/// itself into the cgroup it is in already (no change at all), which starts that wait; the
/// later move of a container's init (or of an exec'd process) finds it passed or under way.
/// The child only opens, writes and exits, so this is sound after a fork of any process. It
/// is reaped by whoever waits for any child, or by init after the caller exits; it exits
/// with 1 if it could not move itself. Returns its pid.
pub fn start_move_grace_period() -> Option<i32> {
    let own = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let procs = match conventional_procs(&own) {
        Some(p) => p,
        None => {
            let (v2, hs) = hierarchies().ok()?;
            let h = hs.first()?;
            let rel = own_cgroup(&own, v2, &h.controllers);
            join_rel(&h.mount, Path::new(&rel)).join("cgroup.procs")
        }
    };
    let path = std::ffi::CString::new(procs.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: the child calls only open, write and _exit on memory prepared before the fork.
    unsafe {
        let pid = libc::fork();
        if pid == 0 {
            let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
            let moved = fd >= 0 && libc::write(fd, b"0".as_ptr() as *const libc::c_void, 1) == 1;
            libc::_exit(if moved { 0 } else { 1 });
        }
        (pid > 0).then_some(pid)
    }
}

/// Whether processes that move themselves into their cgroups ([`CgroupSet::join_self`]) do
/// so without the grace-period wait on this host: v1 hierarchies (not pure v2).
pub fn host_self_join_is_free() -> bool {
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    let v2 = unsafe { libc::statfs(c"/sys/fs/cgroup".as_ptr(), &mut st) } == 0
        && st.f_type == CGROUP2_SUPER_MAGIC;
    !v2
}

/// Our own `cgroup.procs` where hierarchies are mounted as systemd and every distribution
/// mount them (/sys/fs/cgroup, or /sys/fs/cgroup/CONTROLLERS for v1), if it is there: `exec`
/// then needs no scan of /proc/self/mountinfo (0.2 ms) for its early move.
fn conventional_procs(own: &str) -> Option<PathBuf> {
    let base = Path::new("/sys/fs/cgroup");
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    let v2 = unsafe { libc::statfs(c"/sys/fs/cgroup".as_ptr(), &mut st) } == 0
        && st.f_type == CGROUP2_SUPER_MAGIC;
    let candidate = own.lines().find_map(|line| {
        let mut it = line.splitn(3, ':');
        let (_, ctrls, rel) = (it.next()?, it.next()?, it.next()?);
        match (v2, ctrls) {
            (true, "") => Some(join_rel(base, Path::new(rel))),
            (false, c) if !c.is_empty() && !c.starts_with("name=") => {
                Some(join_rel(&base.join(c), Path::new(rel)))
            }
            _ => None,
        }
    })?;
    let procs = candidate.join("cgroup.procs");
    procs.exists().then_some(procs)
}

const V1_ALWAYS: &[&str] = &["memory", "pids", "cpu", "cpuacct", "devices"];

/// Whether a v1 hierarchy is needed: always for the core controllers, otherwise only when
/// the spec sets something it controls. (runc joins every hierarchy; creating a v1 cgroup
/// costs 0.1–0.3 ms each, so the unused ones — freezer, name=systemd, perf_event, … — are
/// left out.)
fn wanted_v1(controllers: &[String], res: Option<&LinuxResources>) -> bool {
    let used = |c: &str| -> bool {
        let Some(r) = res else { return false };
        match c {
            "cpuset" => r
                .cpu()
                .as_ref()
                .is_some_and(|c| c.cpus().is_some() || c.mems().is_some()),
            "blkio" => r.block_io().is_some(),
            "hugetlb" => r.hugepage_limits().as_ref().is_some_and(|h| !h.is_empty()),
            "net_cls" => r.network().as_ref().is_some_and(|n| n.class_id().is_some()),
            "net_prio" => r
                .network()
                .as_ref()
                .is_some_and(|n| n.priorities().is_some()),
            _ => false,
        }
    };
    controllers
        .iter()
        .any(|c| V1_ALWAYS.contains(&c.as_str()) || used(c))
}

/// Works out the container's cgroup directories without touching them (before the clone).
/// `cgroups_path` as in the spec; absolute paths are relative to each hierarchy's root,
/// relative ones (and the default, the container id) to the runtime's own cgroup, as runc
/// does.
pub fn plan(
    cgroups_path: Option<&Path>,
    id: &str,
    res: Option<&LinuxResources>,
) -> Result<CgroupSet> {
    let (v2, hs) = hierarchies()?;
    if let Some(p) = cgroups_path {
        if p.to_string_lossy().contains(':') && !p.is_absolute() {
            crate::bail!(
                "cgroupsPath {} is in systemd's slice:prefix:name form; dermaga-runtime manages cgroupfs paths only",
                p.display()
            );
        }
    }
    let own = match cgroups_path {
        Some(p) if p.is_absolute() => String::new(),
        _ => fs::read_to_string("/proc/self/cgroup").unwrap_or_default(),
    };
    let mut set = CgroupSet {
        v2,
        dirs: Vec::with_capacity(hs.len()),
    };
    for h in hs {
        if !v2 && !wanted_v1(&h.controllers, res) {
            continue;
        }
        let rel: PathBuf = match cgroups_path {
            Some(p) if p.is_absolute() => p.to_path_buf(),
            Some(p) => PathBuf::from(own_cgroup(&own, v2, &h.controllers)).join(p),
            None => PathBuf::from(own_cgroup(&own, v2, &h.controllers)).join(id),
        };
        let path = join_rel(&h.mount, &rel);
        set.dirs.push(CgroupDir {
            mount: h.mount,
            controllers: h.controllers,
            path,
        });
    }
    Ok(set)
}

impl CgroupSet {
    /// Creates the planned directories and writes the limits.
    pub fn create(&self, res: Option<&LinuxResources>) -> Result<()> {
        for dir in &self.dirs {
            if self.v2 {
                create_v2(dir)?;
            } else {
                create_v1(dir)?;
            }
        }
        if let Some(res) = res {
            if self.v2 {
                apply_v2(&self.dirs[0], res)?;
            } else {
                apply_v1(self, res)?;
            }
        }
        Ok(())
    }
}

fn create_v1(dir: &CgroupDir) -> Result<()> {
    let is_cpuset = dir.controllers.iter().any(|c| c == "cpuset");
    if !is_cpuset {
        return fs::create_dir_all(&dir.path)
            .ctx(|| format!("create cgroup {}", dir.path.display()));
    }
    // A new cpuset cgroup has empty cpus/mems, and a task cannot join it until they are set:
    // copy them down from the parent at each level created.
    let mut missing = Vec::new();
    let mut p = dir.path.as_path();
    while !p.exists() {
        missing.push(p.to_path_buf());
        p = match p.parent() {
            Some(pp) => pp,
            None => break,
        };
    }
    for d in missing.into_iter().rev() {
        match fs::create_dir(&d) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error(format!("create cgroup {}: {e}", d.display()))),
        }
        let parent = d.parent().unwrap_or(Path::new("/"));
        for f in ["cpuset.cpus", "cpuset.mems"] {
            let cur = fs::read_to_string(d.join(f)).unwrap_or_default();
            if cur.trim().is_empty() {
                let v = fs::read_to_string(parent.join(f)).unwrap_or_default();
                write_file(&d.join(f), v.trim())
                    .ctx(|| format!("write {}", d.join(f).display()))?;
            }
        }
    }
    Ok(())
}

fn create_v2(dir: &CgroupDir) -> Result<()> {
    // Enable the controllers we use down the tree, then create the leaf.
    let avail = fs::read_to_string(dir.mount.join("cgroup.controllers")).unwrap_or_default();
    let wanted: Vec<&str> = avail
        .split_whitespace()
        .filter(|c| matches!(*c, "cpu" | "memory" | "pids" | "cpuset" | "io"))
        .collect();
    let rel = dir.path.strip_prefix(&dir.mount).unwrap_or(Path::new(""));
    let mut cur = dir.mount.clone();
    for c in rel.components() {
        let ctl = wanted
            .iter()
            .map(|c| format!("+{c}"))
            .collect::<Vec<_>>()
            .join(" ");
        if !ctl.is_empty() {
            let _ = write_file(&cur.join("cgroup.subtree_control"), &ctl);
        }
        cur.push(c);
        match fs::create_dir(&cur) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error(format!("create cgroup {}: {e}", cur.display()))),
        }
    }
    Ok(())
}

fn set(dir: &Path, file: &str, value: &str) -> Result<()> {
    write_file(&dir.join(file), value)
        .ctx(|| format!("set cgroup {} to {value}", dir.join(file).display()))
}

fn has(d: &CgroupDir, ctl: &str) -> bool {
    d.controllers.iter().any(|c| c == ctl)
}

fn apply_v1(setv: &CgroupSet, res: &LinuxResources) -> Result<()> {
    for d in &setv.dirs {
        let p = &d.path;
        if has(d, "memory") {
            if let Some(m) = res.memory() {
                if let Some(r) = m.reservation().filter(|v| *v != 0) {
                    set(p, "memory.soft_limit_in_bytes", &r.to_string())?;
                }
                if let Some(l) = m.limit().filter(|v| *v != 0) {
                    set(p, "memory.limit_in_bytes", &l.to_string())?;
                }
                if let Some(s) = m.swap().filter(|v| *v != 0) {
                    let f = p.join("memory.memsw.limit_in_bytes");
                    if f.exists() {
                        set(p, "memory.memsw.limit_in_bytes", &s.to_string())?;
                    } else {
                        log_warn("swap limit not set: the kernel has no swap accounting (memory.memsw.*)");
                    }
                }
                if let Some(sw) = m.swappiness().filter(|v| *v <= 100) {
                    set(p, "memory.swappiness", &sw.to_string())?;
                }
                if m.disable_oom_killer() == Some(true) {
                    set(p, "memory.oom_control", "1")?;
                }
            }
        }
        if has(d, "cpu") {
            if let Some(c) = res.cpu() {
                if let Some(s) = c.shares().filter(|v| *v != 0) {
                    set(p, "cpu.shares", &s.to_string())?;
                }
                if let Some(per) = c.period().filter(|v| *v != 0) {
                    set(p, "cpu.cfs_period_us", &per.to_string())?;
                }
                if let Some(q) = c.quota().filter(|v| *v != 0) {
                    set(p, "cpu.cfs_quota_us", &q.to_string())?;
                }
                if let Some(rp) = c.realtime_period().filter(|v| *v != 0) {
                    set(p, "cpu.rt_period_us", &rp.to_string())?;
                }
                if let Some(rr) = c.realtime_runtime().filter(|v| *v != 0) {
                    set(p, "cpu.rt_runtime_us", &rr.to_string())?;
                }
            }
        }
        if has(d, "cpuset") {
            if let Some(c) = res.cpu() {
                if let Some(cpus) = c.cpus().as_deref().filter(|v| !v.is_empty()) {
                    set(p, "cpuset.cpus", cpus)?;
                }
                if let Some(mems) = c.mems().as_deref().filter(|v| !v.is_empty()) {
                    set(p, "cpuset.mems", mems)?;
                }
            }
        }
        if has(d, "pids") {
            if let Some(pl) = res.pids() {
                let v = if pl.limit() > 0 {
                    pl.limit().to_string()
                } else {
                    "max".to_string()
                };
                set(p, "pids.max", &v)?;
            }
        }
        if has(d, "devices") {
            if let Some(rules) = res.devices() {
                apply_devices_v1(p, rules)?;
            }
        }
        if has(d, "blkio") {
            if let Some(b) = res.block_io() {
                if let Some(w) = b.weight() {
                    set(p, "blkio.weight", &w.to_string())?;
                }
                let throttles = [
                    (
                        "blkio.throttle.read_bps_device",
                        b.throttle_read_bps_device(),
                    ),
                    (
                        "blkio.throttle.write_bps_device",
                        b.throttle_write_bps_device(),
                    ),
                    (
                        "blkio.throttle.read_iops_device",
                        b.throttle_read_iops_device(),
                    ),
                    (
                        "blkio.throttle.write_iops_device",
                        b.throttle_write_iops_device(),
                    ),
                ];
                for (file, list) in throttles {
                    for t in list.iter().flatten() {
                        set(
                            p,
                            file,
                            &format!("{}:{} {}", t.major(), t.minor(), t.rate()),
                        )?;
                    }
                }
                for wd in b.weight_device().iter().flatten() {
                    if let Some(w) = wd.weight() {
                        set(
                            p,
                            "blkio.weight_device",
                            &format!("{}:{} {w}", wd.major(), wd.minor()),
                        )?;
                    }
                }
            }
        }
        if has(d, "hugetlb") {
            for h in res.hugepage_limits().iter().flatten() {
                set(
                    p,
                    &format!("hugetlb.{}.limit_in_bytes", h.page_size()),
                    &h.limit().to_string(),
                )?;
            }
        }
        if has(d, "net_cls") {
            if let Some(id) = res.network().as_ref().and_then(|n| n.class_id()) {
                set(p, "net_cls.classid", &id.to_string())?;
            }
        }
        if has(d, "net_prio") {
            for prio in res
                .network()
                .as_ref()
                .and_then(|n| n.priorities().clone())
                .unwrap_or_default()
            {
                set(
                    p,
                    "net_prio.ifpriomap",
                    &format!("{} {}", prio.name(), prio.priority()),
                )?;
            }
        }
    }
    if res.unified().as_ref().is_some_and(|u| !u.is_empty()) {
        crate::bail!(
            "linux.resources.unified is set, but this host uses cgroup v1 (hybrid counts as v1)"
        );
    }
    if res
        .hugepage_limits()
        .as_ref()
        .is_some_and(|h| !h.is_empty())
        && !setv.dirs.iter().any(|d| has(d, "hugetlb"))
    {
        crate::bail!("hugepage limits are set, but the hugetlb cgroup controller is not mounted");
    }
    Ok(())
}

/// The devices runc always allows, beside the spec's own rules.
const DEFAULT_ALLOWED_DEVICES: &[&str] = &[
    "c *:* m",
    "b *:* m",
    "c 1:3 rwm",
    "c 1:8 rwm",
    "c 1:7 rwm",
    "c 5:0 rwm",
    "c 1:5 rwm",
    "c 1:9 rwm",
    "c 5:1 rwm",
    "c 136:* rwm",
    "c 5:2 rwm",
    "c 10:200 rwm",
];

fn device_rule(r: &LinuxDeviceCgroup) -> String {
    let t = match r.typ() {
        Some(LinuxDeviceType::C) | Some(LinuxDeviceType::U) => "c",
        Some(LinuxDeviceType::B) => "b",
        _ => "a",
    };
    if t == "a" && r.major().is_none() && r.minor().is_none() {
        return "a".to_string();
    }
    let num = |n: Option<i64>| {
        n.filter(|v| *v >= 0)
            .map_or("*".to_string(), |v| v.to_string())
    };
    let access = r.access().clone().unwrap_or_else(|| "rwm".to_string());
    format!("{t} {}:{} {access}", num(r.major()), num(r.minor()))
}

/// v1 takes one rule per write; each file is opened once for all of its rules (21 rules by
/// default: 42 system calls fewer than opening it for each).
fn apply_devices_v1(p: &Path, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    use std::io::Write;
    let open = |name: &str| {
        fs::OpenOptions::new()
            .write(true)
            .open(p.join(name))
            .ctx(|| format!("open cgroup {}", p.join(name).display()))
    };
    let (mut allow, mut deny) = (None, None);
    let mut write = |name: &'static str, rule: &str| -> Result<()> {
        let slot = if name == "devices.allow" {
            &mut allow
        } else {
            &mut deny
        };
        if slot.is_none() {
            *slot = Some(open(name)?);
        }
        if let Some(f) = slot.as_mut() {
            f.write_all(rule.as_bytes())
                .ctx(|| format!("set cgroup {} to {rule}", p.join(name).display()))?;
        }
        Ok(())
    };
    for r in rules {
        let file = if r.allow() {
            "devices.allow"
        } else {
            "devices.deny"
        };
        write(file, &device_rule(r))?;
    }
    for r in DEFAULT_ALLOWED_DEVICES {
        write("devices.allow", r)?;
    }
    Ok(())
}

fn apply_v2(d: &CgroupDir, res: &LinuxResources) -> Result<()> {
    let p = &d.path;
    if let Some(m) = res.memory() {
        if let Some(r) = m.reservation().filter(|v| *v != 0) {
            set(p, "memory.low", &r.to_string())?;
        }
        let limit = m.limit().filter(|v| *v != 0);
        if let Some(l) = limit {
            set(
                p,
                "memory.max",
                &if l < 0 {
                    "max".to_string()
                } else {
                    l.to_string()
                },
            )?;
        }
        if let Some(s) = m.swap().filter(|v| *v != 0) {
            // v1's swap figure is memory+swap; v2's memory.swap.max is swap alone.
            let v = match (s, limit) {
                (s, _) if s < 0 => "max".to_string(),
                (s, Some(l)) if l > 0 => (s - l).max(0).to_string(),
                (s, _) => s.to_string(),
            };
            if p.join("memory.swap.max").exists() {
                set(p, "memory.swap.max", &v)?;
            }
        }
    }
    if let Some(c) = res.cpu() {
        if let Some(s) = c.shares().filter(|v| *v != 0) {
            let w = 1 + ((s.clamp(2, 262_144) - 2) * 9999) / 262_142;
            set(p, "cpu.weight", &w.to_string())?;
        }
        if c.quota().is_some() || c.period().is_some() {
            let period = c.period().filter(|v| *v != 0).unwrap_or(100_000);
            let quota = match c.quota() {
                Some(q) if q > 0 => q.to_string(),
                _ => "max".to_string(),
            };
            set(p, "cpu.max", &format!("{quota} {period}"))?;
        }
        if let Some(cpus) = c.cpus().as_deref().filter(|v| !v.is_empty()) {
            set(p, "cpuset.cpus", cpus)?;
        }
        if let Some(mems) = c.mems().as_deref().filter(|v| !v.is_empty()) {
            set(p, "cpuset.mems", mems)?;
        }
    }
    if let Some(pl) = res.pids() {
        let v = if pl.limit() > 0 {
            pl.limit().to_string()
        } else {
            "max".to_string()
        };
        set(p, "pids.max", &v)?;
    }
    for (k, v) in res.unified().iter().flatten() {
        set(p, k, v)?;
    }
    if res
        .devices()
        .as_ref()
        .is_some_and(|d| d.iter().any(|r| r.allow() || r.typ().is_some()))
    {
        log_warn("device cgroup rules need an eBPF program on cgroup v2, which dermaga-runtime does not load yet; access to device nodes is limited by the nodes present in /dev only");
    }
    Ok(())
}

impl CgroupSet {
    /// Moves a process into every directory of the set.
    pub fn join(&self, pid: i32) -> Result<()> {
        let s = pid.to_string();
        for d in &self.dirs {
            set(&d.path, "cgroup.procs", &s)?;
        }
        Ok(())
    }

    /// Moves the calling process, which must have one thread, into every directory of the
    /// set. Under v1 it writes 0 to each `tasks` file: the kernel moves the calling thread
    /// alone without taking `cgroup_threadgroup_rwsem`, so this does not wait for the RCU
    /// grace period (7.5 ms on a quiet 2-core machine, 10–20 ms under load) that a write
    /// to `cgroup.procs`, or of any other pid, waits for after a quiet spell. For a process
    /// of one thread the result is the same as moving the process. v2 has no such file for
    /// a domain cgroup: `cgroup.procs` there.
    pub fn join_self(&self) -> Result<()> {
        let file = if self.v2 { "cgroup.procs" } else { "tasks" };
        for d in &self.dirs {
            set(&d.path, file, "0")?;
        }
        Ok(())
    }

    /// Whether [`join_self`](Self::join_self) avoids the grace-period wait here (v1).
    pub fn self_join_is_free(&self) -> bool {
        !self.v2
    }

    /// The directory whose cgroup.procs lists the container's processes.
    fn main_dir(&self) -> Option<&CgroupDir> {
        self.dirs
            .iter()
            .find(|d| has(d, "pids"))
            .or_else(|| self.dirs.iter().find(|d| has(d, "memory")))
            .or_else(|| self.dirs.first())
    }

    pub fn pids(&self) -> Vec<i32> {
        let Some(d) = self.main_dir() else {
            return vec![];
        };
        fs::read_to_string(d.path.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    /// How many times the kernel's OOM killer killed a process of the container.
    pub fn oom_kills(&self) -> u64 {
        let (dir, file) = if self.v2 {
            match self.dirs.first() {
                Some(d) => (d, "memory.events"),
                None => return 0,
            }
        } else {
            match self.dirs.iter().find(|d| has(d, "memory")) {
                Some(d) => (d, "memory.oom_control"),
                None => return 0,
            }
        };
        fs::read_to_string(dir.path.join(file))
            .unwrap_or_default()
            .lines()
            .find_map(|l| {
                l.strip_prefix("oom_kill ")
                    .and_then(|v| v.trim().parse().ok())
            })
            .unwrap_or(0)
    }

    pub fn memory_stats(&self) -> Option<(u64, u64)> {
        let d = if self.v2 {
            self.dirs.first()?
        } else {
            self.dirs.iter().find(|d| has(d, "memory"))?
        };
        let read = |f: &str| {
            fs::read_to_string(d.path.join(f))
                .ok()?
                .trim()
                .parse::<u64>()
                .ok()
        };
        if self.v2 {
            Some((
                read("memory.current")?,
                read("memory.max").unwrap_or(u64::MAX),
            ))
        } else {
            Some((
                read("memory.usage_in_bytes")?,
                read("memory.limit_in_bytes")?,
            ))
        }
    }

    /// Removes the container's directories (leaves only: parents others may share stay).
    /// Retries briefly while exiting processes leave.
    pub fn remove(&self) {
        for d in &self.dirs {
            for attempt in 0..200 {
                match fs::remove_dir(&d.path) {
                    Ok(()) => break,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                    Err(e) if e.raw_os_error() == Some(libc::EBUSY) && attempt < 199 => {
                        std::thread::sleep(std::time::Duration::from_millis(5))
                    }
                    Err(e) => {
                        log_warn(&format!("remove cgroup {}: {e}", d.path.display()));
                        break;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grace_period_child_moves_itself_and_changes_nothing() {
        let before = fs::read_to_string("/proc/self/cgroup").unwrap();
        let pid = start_move_grace_period().expect("a cgroup hierarchy and fork");
        let mut status = 0;
        // SAFETY: waiting for our own child.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "the child could not write its cgroup.procs (needs root): status {status}"
        );
        assert_eq!(fs::read_to_string("/proc/self/cgroup").unwrap(), before);
    }

    #[test]
    fn a_process_moves_itself_into_every_directory_of_its_set() {
        use std::os::unix::process::CommandExt;
        let id = format!("join-self-{}", std::process::id());
        let rel = format!("/dermaga-test/{id}");
        let set = plan(Some(Path::new(&rel)), &id, None).unwrap();
        set.create(None)
            .expect("cgroup directories (the test needs root)");
        let moved = set.clone();
        let mut cmd = std::process::Command::new("sleep");
        cmd.arg("10");
        // SAFETY: the child is single-threaded after the fork, as join_self requires.
        unsafe {
            cmd.pre_exec(move || moved.join_self().map_err(|e| std::io::Error::other(e.0)));
        }
        let mut child = cmd.spawn().expect("a process that joins its cgroups");
        let pid = child.id() as i32;
        let seen = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
        let listed = set.pids();
        let _ = child.kill();
        let _ = child.wait();
        set.remove();
        for d in &set.dirs {
            let _ = d.path.parent().map(fs::remove_dir);
        }
        for d in &set.dirs {
            let ctrl = d.controllers.join(",");
            assert!(
                seen.lines().any(|l| l.ends_with(&format!(":{ctrl}:{rel}"))),
                "{ctrl} of {pid}: {seen}"
            );
        }
        assert_eq!(listed, vec![pid]);
        assert!(set.dirs.iter().all(|d| !d.path.exists()));
    }
}
