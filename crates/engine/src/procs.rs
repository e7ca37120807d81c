//! `top` and `stats`: a running container's processes and resource use, from /proc and its
//! cgroup.

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};

use crate::db::{Container, State};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::spec::cgroup_path;
use crate::util::{human_size, resolve_in_root};

fn cgroup_file(id: &str, controller: &str, file: &str) -> Option<PathBuf> {
    let cg = cgroup_path(id);
    [
        format!("/sys/fs/cgroup/{controller}{cg}/{file}"),
        format!("/sys/fs/cgroup/unified{cg}/{file}"),
        format!("/sys/fs/cgroup{cg}/{file}"),
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

fn read_num(p: Option<PathBuf>) -> Option<u64> {
    fs::read_to_string(p?)
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The host pids in the container's cgroup.
pub fn pids(c: &Container) -> Vec<i32> {
    let mut out: Vec<i32> = Vec::new();
    for ctl in ["pids", "memory", "cpu", "systemd"] {
        if let Some(p) = cgroup_file(&c.id, ctl, "cgroup.procs") {
            if let Ok(s) = fs::read_to_string(p) {
                out = s.lines().filter_map(|l| l.trim().parse().ok()).collect();
                if !out.is_empty() {
                    break;
                }
            }
        }
    }
    if out.is_empty() && c.pid > 0 {
        out.push(c.pid);
    }
    out.sort();
    out
}

fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

fn uptime_secs() -> f64 {
    fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

fn fmt_clock(secs: u64) -> String {
    format!(
        "{:02}:{:02}:{:02}",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

fn fmt_elapsed(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 60.0 {
        format!("{:.9}s", s).trim_end_matches('0').to_string()
    } else {
        format!("{}m{}s", (s / 60.0) as u64, (s % 60.0) as u64)
    }
}

/// `top`: podman's default columns (USER PID PPID %CPU ELAPSED TTY TIME COMMAND), pids as the
/// container sees them.
pub fn top(eng: &Engine, c: &Container) -> Result<Vec<Vec<String>>> {
    if c.state != State::Running {
        return Err(Error::engine(format!(
            "top can only be used on running containers: {} is {}",
            c.name,
            c.state.as_str()
        )));
    }
    let rootfs = c
        .config
        .rootfs
        .clone()
        .unwrap_or_else(|| eng.paths(&c.id).merged());
    let passwd =
        fs::read_to_string(resolve_in_root(&rootfs, "/etc/passwd", true)).unwrap_or_default();
    let ticks = clock_ticks();
    let up = uptime_secs();
    let mut rows = vec![[
        "USER", "PID", "PPID", "%CPU", "ELAPSED", "TTY", "TIME", "COMMAND",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()];
    for pid in pids(c) {
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Ok(status) = fs::read_to_string(format!("/proc/{pid}/status")) else {
            continue;
        };
        let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let f: Vec<&str> = after.split_whitespace().collect();
        let utime: u64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0);
        let stime: u64 = f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
        let start: u64 = f.get(19).and_then(|v| v.parse().ok()).unwrap_or(0);
        let tty_nr: i64 = f.get(4).and_then(|v| v.parse().ok()).unwrap_or(0);
        let field = |k: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(k))
                .map(|v| v.trim().to_string())
        };
        let nspid = field("NSpid:")
            .and_then(|v| v.split_whitespace().last().map(str::to_string))
            .unwrap_or(pid.to_string());
        let ppid_host: i32 = field("PPid:").and_then(|v| v.parse().ok()).unwrap_or(0);
        let ppid = fs::read_to_string(format!("/proc/{ppid_host}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("NSpid:"))
                    .and_then(|v| v.split_whitespace().last().map(str::to_string))
            })
            .filter(|_| ppid_host != 0 && pids(c).contains(&ppid_host))
            .unwrap_or_else(|| "0".into());
        let uid = field("Uid:")
            .and_then(|v| v.split_whitespace().next().map(str::to_string))
            .unwrap_or_default();
        let user = passwd
            .lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .find(|p| p.len() > 2 && p[2] == uid)
            .map(|p| p[0].to_string())
            .unwrap_or(uid);
        let elapsed = (up - start as f64 / ticks as f64).max(0.0);
        let cpu_secs = (utime + stime) as f64 / ticks as f64;
        let pcpu = if elapsed > 0.0 {
            100.0 * cpu_secs / elapsed
        } else {
            0.0
        };
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmdline)
            .split('\0')
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        let tty = if tty_nr == 0 {
            "?".to_string()
        } else {
            format!("pts/{}", tty_nr & 0xff)
        };
        rows.push(vec![
            user,
            nspid,
            ppid,
            format!("{pcpu:.3}"),
            fmt_elapsed(Duration::from_secs_f64(elapsed)),
            tty,
            fmt_clock(cpu_secs as u64),
            cmd,
        ]);
    }
    Ok(rows)
}

/// `stats --no-stream` for one container: podman's fields.
pub fn stats(c: &Container) -> Value {
    let mem = read_num(cgroup_file(&c.id, "memory", "memory.usage_in_bytes"))
        .or_else(|| read_num(cgroup_file(&c.id, "memory", "memory.current")))
        .unwrap_or(0);
    let host_mem = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .unwrap_or(0)
        * 1024;
    let limit = c.config.memory.map(|m| m as u64).unwrap_or(host_mem);
    let cpu_ns = read_num(cgroup_file(&c.id, "cpuacct", "cpuacct.usage")).unwrap_or(0);
    let pids = read_num(cgroup_file(&c.id, "pids", "pids.current")).unwrap_or(0);
    let up = crate::util::since(c.started_ns).as_nanos() as f64;
    let avg_cpu = if up > 0.0 {
        100.0 * cpu_ns as f64 / up
    } else {
        0.0
    };
    json!({
        "ContainerID": c.id,
        "ID": &c.id[..12],
        "Name": c.name,
        "CPU": avg_cpu,
        "CPUPerc": format!("{avg_cpu:.2}%"),
        "AvgCPU": avg_cpu,
        "CPUNano": cpu_ns,
        "CPUTime": format!("{:?}", Duration::from_nanos(cpu_ns)),
        "MemUsage": mem,
        "MemLimit": limit,
        "MemPerc": if limit > 0 { format!("{:.2}%", 100.0 * mem as f64 / limit as f64) } else { "--".into() },
        "MemUsageBytes": format!("{} / {}", human_size(mem), human_size(limit)),
        "NetIO": "0B / 0B",
        "BlockIO": "0B / 0B",
        "PIDs": pids,
    })
}
