//! Container state under `--root`: one directory per container holding `state.json` (our
//! bookkeeping) and, between `create` and `start`, the `exec.fifo` the init process waits
//! on. The spec stays in the bundle (`exec` reads the container's process from there), as
//! the engine keeps the bundle for the container's life. The status is computed, as runc does:
//! no live init → stopped; fifo present → created; else running.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cgroups::CgroupSet;
use crate::util::{write_atomic, Context, Error, Result};

pub const OCI_VERSION: &str = "1.2.0";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub id: String,
    pub pid: i32,
    /// Start time of the init process (field 22 of /proc/PID/stat), so a recycled pid is not
    /// mistaken for the container.
    pub start_time: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    pub cgroups: CgroupSet,
    /// Namespace types the init was given (its own or joined), e.g. "pid", "mnt".
    pub namespaces: Vec<String>,
    /// The init's seccomp profile was not unconfined (exec'd processes get the same).
    #[serde(default)]
    pub seccomp: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Created,
    Running,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Stopped => "stopped",
        }
    }
}

/// runc's `state` output, field for field and in its order.
#[derive(Debug, Serialize, Deserialize)]
pub struct OciState {
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    pub status: String,
    pub bundle: String,
    pub rootfs: String,
    pub created: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub annotations: BTreeMap<String, String>,
    pub owner: String,
    /// dermaga's addition: present (and true) only when the kernel's OOM killer killed a
    /// process of the container's memory cgroup.
    #[serde(
        rename = "oomKilled",
        skip_serializing_if = "std::ops::Not::not",
        default
    )]
    pub oom_killed: bool,
}

pub fn validate_id(id: &str) -> Result<()> {
    if id.is_empty()
        || id == "."
        || id == ".."
        || id.len() > 1024
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+-.".contains(&b))
    {
        crate::bail!("invalid id format: {id}");
    }
    Ok(())
}

pub fn dir(root: &Path, id: &str) -> PathBuf {
    root.join(id)
}

impl State {
    pub fn load(root: &Path, id: &str) -> Result<State> {
        validate_id(id)?;
        let path = dir(root, id).join("state.json");
        let data = match fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(Error(format!("container does not exist: {id}")))
            }
            Err(e) => return Err(Error(format!("read {}: {e}", path.display()))),
        };
        serde_json::from_slice(&data).ctx(|| format!("parse {}", path.display()))
    }

    pub fn save(&self, root: &Path) -> Result<()> {
        let path = dir(root, &self.id).join("state.json");
        let data = serde_json::to_vec(self).ctx(|| "encode state")?;
        write_atomic(&path, &data, 0o600).ctx(|| format!("write {}", path.display()))
    }

    pub fn fifo_path(&self, root: &Path) -> PathBuf {
        dir(root, &self.id).join("exec.fifo")
    }

    /// Whether the init process is still the one we started, and not a zombie.
    pub fn init_alive(&self) -> bool {
        if self.pid <= 0 {
            return false;
        }
        match proc_stat(self.pid) {
            Some((state, start)) => start == self.start_time && state != 'Z' && state != 'X',
            None => false,
        }
    }

    pub fn status(&self, root: &Path) -> Status {
        if !self.init_alive() {
            return Status::Stopped;
        }
        if self.fifo_path(root).exists() {
            Status::Created
        } else {
            Status::Running
        }
    }

    pub fn oci(&self, root: &Path) -> OciState {
        let status = self.status(root);
        OciState {
            oci_version: OCI_VERSION.to_string(),
            id: self.id.clone(),
            pid: if status == Status::Stopped {
                0
            } else {
                self.pid
            },
            status: status.as_str().to_string(),
            bundle: self.bundle.display().to_string(),
            rootfs: self.rootfs.display().to_string(),
            created: self.created.clone(),
            annotations: self.annotations.clone(),
            owner: String::new(),
            oom_killed: self.cgroups.oom_kills() > 0,
        }
    }

    /// Owner of the state directory, by name, as `runc list` shows it.
    pub fn owner_name(root: &Path, id: &str) -> String {
        let uid = fs::metadata(dir(root, id)).map(|m| m.uid()).unwrap_or(0);
        user_name(uid).unwrap_or_else(|| format!("#{uid}"))
    }
}

fn user_name(uid: u32) -> Option<String> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let mut it = l.split(':');
        let name = it.next()?;
        it.next()?;
        (it.next()?.parse::<u32>().ok()? == uid).then(|| name.to_string())
    })
}

/// (state letter, start time) of a process, from /proc/PID/stat.
pub fn proc_stat(pid: i32) -> Option<(char, u64)> {
    let data = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain anything; fields follow the last ')'.
    let rest = &data[data.rfind(')')? + 2..];
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    // After the state letter come fields 4..; start time is field 22, so 18 more on.
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(validate_id("abc-1_2.3").is_ok());
        assert!(validate_id("../x").is_err());
        assert!(validate_id("").is_err());
        assert!(validate_id("a/b").is_err());
    }

    #[test]
    fn own_stat_parses() {
        let (state, start) = proc_stat(std::process::id() as i32).unwrap();
        assert!(state == 'R' || state == 'S');
        assert!(start > 0);
    }
}
