//! What a container is made of: the options a `create`/`run` command line gives, and the
//! resolved configuration stored with the container (and turned into config.json at start).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The options of `dermaga create`/`run`, as the command line gives them (podman's spelling).
#[derive(Clone, Debug, Default)]
pub struct CreateOptions {
    pub image: String,
    pub command: Vec<String>,
    /// `--rootfs`: `image` is a directory used as the root file system, not an image.
    pub rootfs: bool,
    pub name: Option<String>,
    pub env: Vec<String>,
    pub env_files: Vec<PathBuf>,
    pub volumes: Vec<String>,
    pub mounts: Vec<String>,
    pub tmpfs: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub entrypoint: Option<String>,
    pub hostname: Option<String>,
    pub memory: Option<String>,
    pub cpus: Option<f64>,
    pub pids_limit: Option<i64>,
    pub ulimits: Vec<String>,
    pub read_only: bool,
    pub read_only_tmpfs: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub privileged: bool,
    pub security_opt: Vec<String>,
    pub userns: Option<String>,
    /// `--uidmap`/`--gidmap`, each `CONTAINER:HOST:SIZE`.
    pub uidmap: Vec<String>,
    pub gidmap: Vec<String>,
    pub init: bool,
    pub init_path: Option<String>,
    pub network: Option<String>,
    pub labels: Vec<String>,
    pub annotations: Vec<String>,
    pub stop_signal: Option<String>,
    pub stop_timeout: Option<u32>,
    pub tty: bool,
    pub interactive: bool,
    pub rm: bool,
    /// The root file system's upper directory need not survive a crash (build containers):
    /// overlayfs skips its syncs.
    pub volatile_rootfs: bool,
    pub publish: Vec<String>,
    pub create_command: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    Bind,
    Volume,
    Tmpfs,
}

/// One mount of the container, beyond the defaults every container gets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountSpec {
    pub kind: MountKind,
    /// Host path (bind), volume name (volume), empty (tmpfs).
    pub source: String,
    pub destination: String,
    pub readonly: bool,
    /// Further mount options (`nosuid`, `size=64m`, `mode=1777`, propagation, ...).
    pub options: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ulimit {
    pub name: String,
    pub soft: u64,
    pub hard: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Seccomp {
    #[default]
    Default,
    Unconfined,
    /// A profile file's contents, read at create time (podman's seccomp=FILE).
    Profile(String),
}

/// The configuration stored with a container.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerConfig {
    /// The image reference as given (or the --rootfs directory).
    pub image: String,
    pub rootfs: Option<PathBuf>,
    /// Image layer directories, lowest first.
    pub layer_dirs: Vec<PathBuf>,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub workdir: String,
    pub user: String,
    pub hostname: String,
    pub tty: bool,
    pub interactive: bool,
    pub rm: bool,
    /// See [`CreateOptions::volatile_rootfs`].
    pub volatile_rootfs: bool,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub stop_signal: String,
    pub stop_timeout: u32,
    pub mounts: Vec<MountSpec>,
    pub memory: Option<i64>,
    pub cpus: Option<f64>,
    pub pids_limit: Option<i64>,
    pub ulimits: Vec<Ulimit>,
    pub read_only: bool,
    pub read_only_tmpfs: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub privileged: bool,
    pub no_new_privileges: bool,
    pub seccomp: Seccomp,
    /// inspect's UsernsMode: "" (the host's user namespace), "private" (a new one with the
    /// maps below) or "ns:PATH" (joined).
    pub userns: String,
    /// The new user namespace's maps (empty for the host's or a joined one).
    pub uid_map: Vec<crate::userns::IdMap>,
    pub gid_map: Vec<crate::userns::IdMap>,
    pub init: bool,
    pub init_path: String,
    pub network: String,
    /// The OCI runtime that runs this container (runc's command line).
    pub runtime: PathBuf,
    pub create_command: Vec<String>,
}

impl ContainerConfig {
    /// The process arguments: entrypoint then command.
    pub fn argv(&self) -> Vec<String> {
        let mut v = self.entrypoint.clone();
        v.extend(self.cmd.iter().cloned());
        v
    }

    pub fn env_value(&self, key: &str) -> Option<&str> {
        self.env
            .iter()
            .rev()
            .find_map(|e| e.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
    }
}

/// The image facts a container needs, from the image store (or a --rootfs directory).
#[derive(Clone, Debug, Default)]
pub struct ImageInfo {
    pub id: String,
    pub name: String,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub workdir: String,
    pub user: String,
    pub labels: BTreeMap<String, String>,
    pub stop_signal: String,
    pub layer_dirs: Vec<PathBuf>,
}

/// `-v SRC:DST[:OPTS]`: a host path (absolute or ./relative) binds; any other source names a
/// volume; `-v /dst` alone is an anonymous volume.
pub fn parse_volume_flag(s: &str) -> Result<MountSpec> {
    let parts: Vec<&str> = s.split(':').collect();
    let (src, dst, opts) = match parts.as_slice() {
        [dst] => ("", *dst, ""),
        [src, dst] => (*src, *dst, ""),
        [src, dst, opts] => (*src, *dst, *opts),
        _ => {
            return Err(Error::engine(format!(
                "invalid volume specification {s:?}: too many colons"
            )))
        }
    };
    if !dst.starts_with('/') {
        return Err(Error::engine(format!(
            "invalid volume specification {s:?}: the container path {dst:?} must be absolute"
        )));
    }
    let mut readonly = false;
    let mut options = Vec::new();
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => readonly = true,
            "rw" => readonly = false,
            "z" | "Z" => {} // SELinux relabelling: nothing to do without SELinux.
            "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" | "nosuid"
            | "nodev" | "noexec" | "suid" | "dev" | "exec" | "bind" | "rbind" => {
                options.push(o.to_string())
            }
            "O" | "U" | "idmap" => {
                return Err(Error::engine(format!(
                    "volume option {o:?} in {s:?} is not supported by dermaga yet"
                )))
            }
            _ => {
                return Err(Error::engine(format!(
                    "invalid volume option {o:?} in {s:?}"
                )))
            }
        }
    }
    let kind = if src.is_empty() || !(src.starts_with('/') || src.starts_with('.')) {
        MountKind::Volume
    } else {
        MountKind::Bind
    };
    let source = if kind == MountKind::Bind {
        absolutize(src)?
    } else {
        src.to_string()
    };
    Ok(MountSpec {
        kind,
        source,
        destination: clean(dst),
        readonly,
        options,
    })
}

fn absolutize(p: &str) -> Result<String> {
    let path = std::path::Path::new(p);
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| Error::engine(format!("current directory: {e}")))?
            .join(path)
    };
    Ok(clean(&abs.to_string_lossy()))
}

fn clean(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    format!("/{}", out.join("/"))
}

/// `--mount type=bind,source=/a,target=/b,readonly` (podman's keys and their aliases).
pub fn parse_mount_flag(s: &str) -> Result<MountSpec> {
    let mut kind = None;
    let mut source = String::new();
    let mut destination = String::new();
    let mut readonly = false;
    let mut options = Vec::new();
    for field in s.split(',') {
        let (k, v) = match field.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (field, None),
        };
        match (k, v) {
            ("type", Some(t)) => {
                kind = Some(match t {
                    "bind" => MountKind::Bind,
                    "volume" => MountKind::Volume,
                    "tmpfs" => MountKind::Tmpfs,
                    other => {
                        return Err(Error::engine(format!(
                            "--mount type={other} is not supported (bind, volume and tmpfs are)"
                        )))
                    }
                })
            }
            ("source" | "src", Some(v)) => source = v.to_string(),
            ("target" | "destination" | "dst", Some(v)) => destination = v.to_string(),
            ("readonly" | "ro", None) => readonly = true,
            ("readonly" | "ro", Some(v)) => readonly = v == "true" || v == "1",
            ("rw", None) => readonly = false,
            ("tmpfs-size", Some(v)) => options.push(format!("size={v}")),
            ("tmpfs-mode", Some(v)) => options.push(format!("mode={v}")),
            ("bind-propagation", Some(v)) => options.push(v.to_string()),
            ("z" | "Z" | "relabel", _) => {}
            ("nosuid" | "nodev" | "noexec" | "suid" | "dev" | "exec", None) => {
                options.push(k.to_string())
            }
            _ => {
                return Err(Error::engine(format!(
                    "--mount {s:?}: unknown option {field:?}"
                )))
            }
        }
    }
    let kind = kind.ok_or_else(|| Error::engine(format!("--mount {s:?}: type= is required")))?;
    if destination.is_empty() {
        return Err(Error::engine(format!("--mount {s:?}: target= is required")));
    }
    if kind == MountKind::Bind {
        if source.is_empty() {
            return Err(Error::engine(format!(
                "--mount {s:?}: source= is required for a bind"
            )));
        }
        source = absolutize(&source)?;
    }
    Ok(MountSpec {
        kind,
        source,
        destination: clean(&destination),
        readonly,
        options,
    })
}

/// `--tmpfs /run[:opts]`.
pub fn parse_tmpfs_flag(s: &str) -> Result<MountSpec> {
    let (dst, opts) = s.split_once(':').unwrap_or((s, ""));
    if !dst.starts_with('/') {
        return Err(Error::engine(format!(
            "--tmpfs {s:?}: the path must be absolute"
        )));
    }
    let mut readonly = false;
    let mut options = Vec::new();
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        if o == "ro" {
            readonly = true;
        } else if o != "rw" {
            options.push(o.to_string());
        }
    }
    Ok(MountSpec {
        kind: MountKind::Tmpfs,
        source: String::new(),
        destination: clean(dst),
        readonly,
        options,
    })
}

/// `--ulimit nofile=1024:2048` (or `nofile=1024`, or `-1` for unlimited).
pub fn parse_ulimit(s: &str) -> Result<Ulimit> {
    let bad = || Error::engine(format!("invalid --ulimit {s:?}: expected NAME=SOFT[:HARD]"));
    let (name, vals) = s.split_once('=').ok_or_else(bad)?;
    let num = |v: &str| -> Result<u64> {
        if v == "-1" || v == "unlimited" {
            Ok(u64::MAX)
        } else {
            v.parse().map_err(|_| bad())
        }
    };
    let (soft, hard) = match vals.split_once(':') {
        Some((a, b)) => (num(a)?, num(b)?),
        None => (num(vals)?, num(vals)?),
    };
    if soft > hard {
        return Err(Error::engine(format!(
            "invalid --ulimit {s:?}: soft limit above hard limit"
        )));
    }
    if rlimit_resource(name).is_none() {
        return Err(Error::engine(format!(
            "invalid --ulimit {s:?}: unknown limit {name:?}"
        )));
    }
    Ok(Ulimit {
        name: name.to_string(),
        soft,
        hard,
    })
}

/// The RLIMIT_ name for a --ulimit name.
pub fn rlimit_resource(name: &str) -> Option<&'static str> {
    Some(match name {
        "core" => "RLIMIT_CORE",
        "cpu" => "RLIMIT_CPU",
        "data" => "RLIMIT_DATA",
        "fsize" => "RLIMIT_FSIZE",
        "locks" => "RLIMIT_LOCKS",
        "memlock" => "RLIMIT_MEMLOCK",
        "msgqueue" => "RLIMIT_MSGQUEUE",
        "nice" => "RLIMIT_NICE",
        "nofile" => "RLIMIT_NOFILE",
        "nproc" => "RLIMIT_NPROC",
        "rss" => "RLIMIT_RSS",
        "rtprio" => "RLIMIT_RTPRIO",
        "rttime" => "RLIMIT_RTTIME",
        "sigpending" => "RLIMIT_SIGPENDING",
        "stack" => "RLIMIT_STACK",
        "as" => "RLIMIT_AS",
        _ => return None,
    })
}

/// A signal by name (`TERM`, `SIGTERM`, `sigkill`) or number.
pub fn parse_signal(s: &str) -> Result<i32> {
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    let n = match name {
        "HUP" => 1,
        "INT" => 2,
        "QUIT" => 3,
        "ILL" => 4,
        "TRAP" => 5,
        "ABRT" | "IOT" => 6,
        "BUS" => 7,
        "FPE" => 8,
        "KILL" => 9,
        "USR1" => 10,
        "SEGV" => 11,
        "USR2" => 12,
        "PIPE" => 13,
        "ALRM" => 14,
        "TERM" => 15,
        "STKFLT" => 16,
        "CHLD" | "CLD" => 17,
        "CONT" => 18,
        "STOP" => 19,
        "TSTP" => 20,
        "TTIN" => 21,
        "TTOU" => 22,
        "URG" => 23,
        "XCPU" => 24,
        "XFSZ" => 25,
        "VTALRM" => 26,
        "PROF" => 27,
        "WINCH" => 28,
        "IO" | "POLL" => 29,
        "PWR" => 30,
        "SYS" => 31,
        _ => {
            if let Some(r) = name
                .strip_prefix("RTMIN+")
                .and_then(|x| x.parse::<i32>().ok())
            {
                34 + r
            } else {
                return Err(Error::engine(format!("invalid signal {s:?}")));
            }
        }
    };
    Ok(n)
}

pub fn signal_name(n: i32) -> String {
    const NAMES: [&str; 32] = [
        "", "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV",
        "USR2", "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU",
        "URG", "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS",
    ];
    match NAMES.get(n as usize) {
        Some(s) if !s.is_empty() => format!("SIG{s}"),
        _ => n.to_string(),
    }
}

/// `KEY=VALUE` lines of an --env-file (blank lines and # comments skipped; a bare KEY takes
/// the host's value, as podman does).
pub fn read_env_file(path: &std::path::Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::engine(format!("--env-file {}: {e}", path.display())))?;
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        out.extend(expand_env_flag(line));
    }
    Ok(out)
}

/// `-e KEY=VALUE`, or `-e KEY` to pass the host's value (skipped when the host has none), or
/// `-e PREFIX*` for every host variable starting with PREFIX.
pub fn expand_env_flag(s: &str) -> Vec<String> {
    if s.contains('=') {
        return vec![s.to_string()];
    }
    if let Some(prefix) = s.strip_suffix('*') {
        return std::env::vars()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
    }
    match std::env::var(s) {
        Ok(v) => vec![format!("{s}={v}")],
        Err(_) => vec![],
    }
}

/// Sets or replaces KEY in an environment list.
pub fn env_set(env: &mut Vec<String>, kv: &str) {
    let key = kv.split('=').next().unwrap_or(kv);
    env.retain(|e| e.split('=').next() != Some(key));
    env.push(kv.to_string());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_flags() {
        let m = parse_volume_flag("/tmp:/data:ro").unwrap();
        assert_eq!(m.kind, MountKind::Bind);
        assert!(m.readonly);
        let m = parse_volume_flag("cache:/var/cache").unwrap();
        assert_eq!(m.kind, MountKind::Volume);
        assert_eq!(m.source, "cache");
        assert!(parse_volume_flag("/a:rel").is_err());
        let m = parse_mount_flag("type=tmpfs,target=/t,tmpfs-size=1m").unwrap();
        assert_eq!(m.options, vec!["size=1m"]);
    }

    #[test]
    fn ulimits_and_signals() {
        assert_eq!(parse_ulimit("nofile=10:20").unwrap().hard, 20);
        assert!(parse_ulimit("nofile=30:20").is_err());
        assert_eq!(parse_signal("SIGKILL").unwrap(), 9);
        assert_eq!(parse_signal("term").unwrap(), 15);
        assert_eq!(parse_signal("2").unwrap(), 2);
        assert_eq!(signal_name(15), "SIGTERM");
    }
}
