//! The OCI bundle's config.json (through `oci-spec`'s types), from a container's stored
//! configuration with podman's defaults: capabilities, mounts, masked and read-only paths,
//! rlimits, cgroup limits and the default seccomp profile.

use std::path::Path;

use oci_spec::runtime::Spec;
use serde_json::{json, Value};

use crate::config::{ContainerConfig, MountKind, Seccomp};
use crate::error::{Error, Result};
use crate::seccomp;
use crate::userns::IdMap;
use crate::util::resolve_in_root;

/// podman's default capability set.
pub const DEFAULT_CAPS: [&str; 11] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_NET_BIND_SERVICE",
    "CAP_SETFCAP",
    "CAP_SETGID",
    "CAP_SETPCAP",
    "CAP_SETUID",
    "CAP_SYS_CHROOT",
];

/// Every capability, at its bit number.
const ALL_CAPS: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The capabilities this process may pass on (its bounding set): `--privileged` and
/// `--cap-add all` get these, as podman's do.
fn bounding_caps() -> Vec<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let bnd = status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(u64::MAX);
    ALL_CAPS
        .iter()
        .enumerate()
        .filter(|(i, _)| bnd & (1u64 << i) != 0)
        .map(|(_, c)| c.to_string())
        .collect()
}

/// podman's masked paths (a read of them finds nothing).
pub const MASKED_PATHS: [&str; 11] = [
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/fs/selinux",
    "/sys/dev/block",
];

/// podman's read-only paths.
pub const READONLY_PATHS: [&str; 6] = [
    "/proc/asound",
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// podman's default pids limit.
pub const DEFAULT_PIDS_LIMIT: i64 = 2048;

/// A capability name as the spec spells it (`CAP_NET_ADMIN`).
pub fn normalize_cap(c: &str) -> Result<String> {
    let up = c.trim().to_ascii_uppercase();
    let name = if up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    };
    if name == "CAP_ALL" || ALL_CAPS.contains(&name.as_str()) {
        Ok(name)
    } else {
        Err(Error::engine(format!("unknown capability {c:?}")))
    }
}

/// The container's capability set after --privileged, --cap-add and --cap-drop.
pub fn capabilities(cfg: &ContainerConfig) -> Result<Vec<String>> {
    if cfg.privileged {
        return Ok(bounding_caps());
    }
    let mut caps: Vec<String> = DEFAULT_CAPS.iter().map(|s| s.to_string()).collect();
    for d in &cfg.cap_drop {
        let d = normalize_cap(d)?;
        if d == "CAP_ALL" {
            caps.clear();
        } else {
            caps.retain(|c| *c != d);
        }
    }
    for a in &cfg.cap_add {
        let a = normalize_cap(a)?;
        if a == "CAP_ALL" {
            caps = bounding_caps();
        } else if !caps.contains(&a) {
            caps.push(a);
        }
    }
    caps.sort();
    Ok(caps)
}

/// The numeric identity the process runs as, from the image's /etc/passwd and /etc/group.
#[derive(Clone, Debug, Default)]
pub struct ExecUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub home: String,
}

/// Resolves `user` (`name`, `uid`, `name:group`, `uid:gid`) inside the root file system.
pub fn resolve_user(rootfs: &Path, user: &str) -> Result<ExecUser> {
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let u = if u.is_empty() { "0" } else { u };
    let passwd =
        std::fs::read_to_string(resolve_in_root(rootfs, "/etc/passwd", true)).unwrap_or_default();
    let group =
        std::fs::read_to_string(resolve_in_root(rootfs, "/etc/group", true)).unwrap_or_default();
    let entry = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 7 && (f[0] == u || (u.parse::<u32>().is_ok() && f[2] == u)));
    let (uid, mut gid, home, uname) = match (&entry, u.parse::<u32>()) {
        (Some(f), _) => (
            f[2].parse().unwrap_or(0),
            f[3].parse().unwrap_or(0),
            f[5].to_string(),
            Some(f[0].to_string()),
        ),
        (None, Ok(n)) => (n, 0, "/".to_string(), None),
        (None, Err(_)) => {
            return Err(Error::engine(format!(
                "unable to find user {u}: no matching entries in passwd file"
            )))
        }
    };
    if let Some(g) = g {
        gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => group
                .lines()
                .map(|l| l.split(':').collect::<Vec<_>>())
                .find(|f| f.len() >= 3 && f[0] == g)
                .and_then(|f| f[2].parse().ok())
                .ok_or_else(|| {
                    Error::engine(format!(
                        "unable to find group {g}: no matching entries in group file"
                    ))
                })?,
        };
    }
    let mut additional_gids = Vec::new();
    if let (Some(name), None) = (&uname, g) {
        // As initgroups(3): the primary group, then the groups listing the user.
        additional_gids.push(gid);
        for f in group.lines().map(|l| l.split(':').collect::<Vec<_>>()) {
            if f.len() >= 4 && f[3].split(',').any(|m| m == name) {
                if let Ok(n) = f[2].parse::<u32>() {
                    if !additional_gids.contains(&n) {
                        additional_gids.push(n);
                    }
                }
            }
        }
    }
    Ok(ExecUser {
        uid,
        gid,
        additional_gids,
        home: if home.is_empty() { "/".into() } else { home },
    })
}

/// The current hard limit of a resource (the sandbox may forbid raising it).
fn hard_limit(res: &str) -> u64 {
    let r = match res {
        "RLIMIT_NOFILE" => libc::RLIMIT_NOFILE,
        "RLIMIT_NPROC" => libc::RLIMIT_NPROC,
        "RLIMIT_CORE" => libc::RLIMIT_CORE,
        "RLIMIT_CPU" => libc::RLIMIT_CPU,
        "RLIMIT_DATA" => libc::RLIMIT_DATA,
        "RLIMIT_FSIZE" => libc::RLIMIT_FSIZE,
        "RLIMIT_LOCKS" => libc::RLIMIT_LOCKS,
        "RLIMIT_MEMLOCK" => libc::RLIMIT_MEMLOCK,
        "RLIMIT_MSGQUEUE" => libc::RLIMIT_MSGQUEUE,
        "RLIMIT_NICE" => libc::RLIMIT_NICE,
        "RLIMIT_RSS" => libc::RLIMIT_RSS,
        "RLIMIT_RTPRIO" => libc::RLIMIT_RTPRIO,
        "RLIMIT_RTTIME" => libc::RLIMIT_RTTIME,
        "RLIMIT_SIGPENDING" => libc::RLIMIT_SIGPENDING,
        "RLIMIT_STACK" => libc::RLIMIT_STACK,
        "RLIMIT_AS" => libc::RLIMIT_AS,
        _ => return u64::MAX,
    };
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills the struct we pass.
    if unsafe { libc::getrlimit(r, &mut lim) } != 0 {
        return u64::MAX;
    }
    lim.rlim_max
}

fn can_raise_rlimits() -> bool {
    // CAP_SYS_RESOURCE is capability 24; read our effective set.
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << 24) != 0)
}

/// The rlimits for the process: podman's defaults and --ulimit, kept at or below the current
/// hard limit where the host forbids raising it. Returns the limits and the notes to say once.
pub fn rlimits(cfg: &ContainerConfig) -> (Vec<Value>, Vec<String>) {
    let mut wanted: Vec<(String, u64, u64)> = vec![
        ("RLIMIT_NOFILE".into(), 1_048_576, 1_048_576),
        ("RLIMIT_NPROC".into(), 4_194_304, 4_194_304),
    ];
    for u in &cfg.ulimits {
        let res = crate::config::rlimit_resource(&u.name)
            .unwrap_or("RLIMIT_NOFILE")
            .to_string();
        wanted.retain(|w| w.0 != res);
        wanted.push((res, u.soft, u.hard));
    }
    let raise = can_raise_rlimits();
    let mut notes = Vec::new();
    let mut out = Vec::new();
    for (res, soft, hard) in wanted {
        let (mut s, mut h) = (soft, hard);
        if !raise {
            let cur = hard_limit(&res);
            if h > cur {
                notes.push(format!(
                    "{res} {h} is above the current hard limit {cur}, which this host does not \
                     let dermaga raise (no CAP_SYS_RESOURCE): keeping {cur}"
                ));
                h = cur;
                s = s.min(cur);
            }
        }
        out.push(json!({"type": res, "soft": s, "hard": h}));
    }
    (out, notes)
}

/// Paths a container's bundle refers to.
pub struct BundlePaths<'a> {
    pub rootfs: &'a Path,
    pub hosts: &'a Path,
    pub hostname: &'a Path,
    pub resolv_conf: &'a Path,
    pub volumes_dir: &'a Path,
    /// The existing user namespace the container joins ([`crate::Engine::userns_path`]).
    pub userns_path: Option<&'a Path>,
    /// A network namespace made for the container ahead of its clone
    /// (`runtime::take_network_namespace`); None: the runtime makes a new one.
    pub netns_path: Option<&'a Path>,
}

/// Builds the runtime spec. `user` comes from [`resolve_user`] on the mounted root.
pub fn build(
    id: &str,
    cfg: &ContainerConfig,
    paths: &BundlePaths<'_>,
    user: &ExecUser,
    rlimits: Vec<Value>,
) -> Result<Spec> {
    let caps = capabilities(cfg)?;
    let mut env = cfg.env.clone();
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, format!("PATH={DEFAULT_PATH}"));
    }
    let set_default = |env: &mut Vec<String>, k: &str, v: &str| {
        if !env.iter().any(|e| e.split('=').next() == Some(k)) {
            env.push(format!("{k}={v}"));
        }
    };
    // podman sets TERM whether or not there is a terminal.
    set_default(&mut env, "TERM", "xterm");
    set_default(&mut env, "container", "dermaga");
    set_default(&mut env, "HOSTNAME", &cfg.hostname);
    set_default(&mut env, "HOME", &user.home);

    let mut args = cfg.argv();
    if cfg.init {
        let mut a = vec!["/run/dermaga-init".to_string(), "--".to_string()];
        a.append(&mut args);
        args = a;
    }
    let cwd = if cfg.workdir.is_empty() {
        "/".to_string()
    } else {
        cfg.workdir.clone()
    };

    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": devpts_options(cfg)}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
    ];
    if cfg.network == "host" {
        mounts.push(json!({"destination": "/sys", "type": "bind", "source": "/sys", "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]}));
    } else {
        mounts.push(json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}));
        mounts.push(json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}));
    }
    mounts.push(json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}));
    let bind = |src: &Path, dst: &str, ro: bool| {
        let mut o = vec!["rbind", "rprivate"];
        if ro {
            o.push("ro");
        }
        json!({"destination": dst, "type": "bind", "source": src, "options": o})
    };
    let user_dsts: Vec<&str> = cfg.mounts.iter().map(|m| m.destination.as_str()).collect();
    for (src, dst) in [
        (paths.hosts, "/etc/hosts"),
        (paths.hostname, "/etc/hostname"),
        (paths.resolv_conf, "/etc/resolv.conf"),
    ] {
        if !user_dsts.contains(&dst) {
            mounts.push(bind(src, dst, false));
        }
    }
    if cfg.read_only && cfg.read_only_tmpfs {
        for dst in ["/tmp", "/var/tmp", "/run"] {
            if !user_dsts.contains(&dst) {
                mounts.push(json!({"destination": dst, "type": "tmpfs", "source": "tmpfs", "options": ["rw", "rprivate", "nosuid", "nodev", "tmpcopyup"]}));
            }
        }
    }
    if cfg.init {
        mounts.push(bind(Path::new(&cfg.init_path), "/run/dermaga-init", true));
    }
    for m in &cfg.mounts {
        let mut opts: Vec<String> = Vec::new();
        match m.kind {
            MountKind::Tmpfs => {
                opts.extend(["nosuid".into(), "nodev".into()]);
                opts.extend(m.options.iter().cloned());
                if m.readonly {
                    opts.push("ro".into());
                }
                mounts.push(json!({"destination": m.destination, "type": "tmpfs", "source": "tmpfs", "options": opts}));
            }
            MountKind::Bind | MountKind::Volume => {
                let src = if m.kind == MountKind::Volume {
                    paths.volumes_dir.join(&m.source).join("_data")
                } else {
                    Path::new(&m.source).to_path_buf()
                };
                if !m.options.iter().any(|o| o == "bind") {
                    opts.push("rbind".into());
                }
                if !m
                    .options
                    .iter()
                    .any(|o| o.contains("private") || o.contains("shared") || o.contains("slave"))
                {
                    opts.push("rprivate".into());
                }
                opts.extend(m.options.iter().cloned());
                if m.readonly {
                    opts.push("ro".into());
                }
                mounts.push(json!({"destination": m.destination, "type": "bind", "source": src, "options": opts}));
            }
        }
    }

    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
    ];
    match cfg.network.as_str() {
        "host" => {}
        _ => namespaces.push(match paths.netns_path {
            Some(p) => json!({"type": "network", "path": p}),
            None => json!({"type": "network"}),
        }),
    }
    if let Some(path) = paths.userns_path {
        namespaces.push(json!({"type": "user", "path": path}));
    } else if !cfg.uid_map.is_empty() || !cfg.gid_map.is_empty() {
        namespaces.push(json!({"type": "user"}));
    }

    let devices_allowed = [
        ("c", 1, 3),
        ("c", 1, 5),
        ("c", 1, 7),
        ("c", 1, 8),
        ("c", 1, 9),
        ("c", 5, 0),
        ("c", 5, 1),
        ("c", 5, 2),
    ];
    let mut dev_rules = vec![json!({"allow": cfg.privileged, "access": "rwm"})];
    if !cfg.privileged {
        for (t, maj, min) in devices_allowed {
            dev_rules.push(
                json!({"allow": true, "type": t, "major": maj, "minor": min, "access": "rwm"}),
            );
        }
        dev_rules.push(json!({"allow": true, "type": "c", "major": 136, "access": "rwm"}));
    }
    let mut resources = json!({"devices": dev_rules});
    if let Some(m) = cfg.memory {
        resources["memory"] = json!({"limit": m});
    }
    if let Some(c) = cfg.cpus {
        resources["cpu"] = json!({"quota": (c * 100_000.0) as i64, "period": 100_000u64});
    }
    let pids = cfg.pids_limit.unwrap_or(DEFAULT_PIDS_LIMIT);
    if pids > 0 {
        resources["pids"] = json!({"limit": pids});
    }

    let mut linux = json!({
        "namespaces": namespaces,
        "resources": resources,
        "cgroupsPath": cgroup_path(id),
    });
    if !cfg.uid_map.is_empty() || !cfg.gid_map.is_empty() {
        let lines = |maps: &[IdMap]| {
            maps.iter()
                .map(|m| json!({"containerID": m.container, "hostID": m.host, "size": m.size}))
                .collect::<Vec<_>>()
        };
        linux["uidMappings"] = json!(lines(&cfg.uid_map));
        linux["gidMappings"] = json!(lines(&cfg.gid_map));
    }
    if !cfg.privileged {
        linux["maskedPaths"] = json!(MASKED_PATHS);
        linux["readonlyPaths"] = json!(READONLY_PATHS);
    }
    let seccomp = match (&cfg.seccomp, cfg.privileged) {
        (_, true) | (Seccomp::Unconfined, _) => None,
        (Seccomp::Default, _) => Some(seccomp::to_oci(seccomp::DEFAULT_PROFILE, &caps)?),
        (Seccomp::Profile(p), _) => Some(seccomp::to_oci(p, &caps)?),
    };
    // Set on the typed spec below: through JSON it would be written out and read back,
    // about a fifth of this function's time for podman's profile.

    let mut process = json!({
        "terminal": cfg.tty,
        "user": {"uid": user.uid, "gid": user.gid},
        "args": args,
        "env": env,
        "cwd": cwd,
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        "rlimits": rlimits,
        "noNewPrivileges": cfg.no_new_privileges,
    });
    if !user.additional_gids.is_empty() {
        process["user"]["additionalGids"] = json!(user.additional_gids);
    }
    let mut annotations = json!({"io.container.manager": "dermaga"});
    for (k, v) in &cfg.annotations {
        annotations[k] = json!(v);
    }
    let spec = json!({
        "ociVersion": "1.0.2-dev",
        "process": process,
        "root": {"path": paths.rootfs, "readonly": cfg.read_only},
        "hostname": cfg.hostname,
        "mounts": mounts,
        "annotations": annotations,
        "linux": linux,
    });
    let mut spec: Spec = serde_json::from_value(spec)
        .map_err(|e| Error::engine(format!("building the runtime spec: {e}")))?;
    if let (Some(s), Some(linux)) = (seccomp, spec.linux_mut()) {
        linux.set_seccomp(Some(s));
    }
    Ok(spec)
}

/// devpts gives new terminals the group tty (5); in a user namespace that does not map 5,
/// the kernel refuses the option, so it goes (podman does the same).
fn devpts_options(cfg: &ContainerConfig) -> Vec<&'static str> {
    let mut o = vec![
        "nosuid",
        "noexec",
        "newinstance",
        "ptmxmode=0666",
        "mode=0620",
    ];
    let in_userns = !cfg.gid_map.is_empty() || crate::userns::joins_existing(&cfg.userns);
    if !in_userns || crate::userns::to_host(&cfg.gid_map, 5).is_some() {
        o.push("gid=5");
    }
    o
}

/// The cgroup the runtime puts the container in (relative to each hierarchy's root).
pub fn cgroup_path(id: &str) -> String {
    format!("/dermaga/dermaga-{id}")
}

/// Builds the process of an `exec` (runc's `--process` file) from the container's spec.
pub fn exec_process(
    base: &Spec,
    args: Vec<String>,
    extra_env: &[String],
    workdir: Option<&str>,
    user: Option<&ExecUser>,
    tty: bool,
) -> Result<Value> {
    let p = base
        .process()
        .as_ref()
        .ok_or_else(|| Error::engine("the container's runtime spec has no process"))?;
    let mut v = serde_json::to_value(p)?;
    let mut env: Vec<String> = p.env().clone().unwrap_or_default();
    for e in extra_env {
        crate::config::env_set(&mut env, e);
    }
    if tty {
        crate::config::env_set(&mut env, "TERM=xterm");
    }
    v["env"] = json!(env);
    v["args"] = json!(args);
    v["terminal"] = json!(tty);
    if let Some(w) = workdir {
        v["cwd"] = json!(w);
    }
    if let Some(u) = user {
        v["user"] = json!({"uid": u.uid, "gid": u.gid});
        if !u.additional_gids.is_empty() {
            v["user"]["additionalGids"] = json!(u.additional_gids);
        }
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps() {
        let mut c = ContainerConfig::default();
        assert_eq!(capabilities(&c).unwrap().len(), 11);
        c.cap_drop = vec!["all".into()];
        c.cap_add = vec!["net_admin".into()];
        assert_eq!(capabilities(&c).unwrap(), vec!["CAP_NET_ADMIN".to_string()]);
        c.cap_add = vec!["bogus".into()];
        assert!(capabilities(&c).is_err());
    }

    #[test]
    fn users() {
        let d = std::env::temp_dir().join(format!("dermaga-users-{}", std::process::id()));
        std::fs::create_dir_all(d.join("etc")).unwrap();
        std::fs::write(
            d.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nweb:x:100:101:web:/srv:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            d.join("etc/group"),
            "root:x:0:\nweb:x:101:\nextra:x:200:web\n",
        )
        .unwrap();
        let u = resolve_user(&d, "web").unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (100, 101, "/srv"));
        assert_eq!(u.additional_gids, vec![101, 200]);
        let u = resolve_user(&d, "1000:web").unwrap();
        assert_eq!((u.uid, u.gid), (1000, 101));
        assert!(resolve_user(&d, "nobody").is_err());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
