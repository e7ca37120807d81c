//! dermaga's low-level container runtime: an OCI runtime spec in, an isolated process out.
//!
//! Synchronous and single-threaded by design (clone, unshare, pivot_root): it is entered only
//! from a single-threaded process, never from a fork of a multi-threaded one: a freshly
//! exec'd `dermaga runtime`, or an engine process that checked it has one thread (its monitor,
//! `dermaga exec`) and calls [`container::create_in_process`] and [`exec::exec`] directly. It
//! is not a container manager; lifecycle bookkeeping lives in the engine.
//!
//! The command line is runc's (`dermaga-runtime [--root DIR] [--log FILE] [--log-format
//! text|json] VERB ...` with `create`, `start`, `state`, `kill`, `delete`, `run`, `exec`, `ps`,
//! `list`, `events`), so an engine can drive it exactly as it drives runc.

pub mod cgroups;
pub mod cli;
pub mod console;
pub mod container;
pub mod cpu_placement;
pub mod exec;
mod hooks;
pub mod mounts;
pub mod netns;
pub mod process;
pub mod seccomp;
pub mod state;
mod syscalls;
mod terminal;
pub mod util;

/// The spec types this crate speaks, for callers that build bundles (the engine, tests).
pub use oci_spec;
pub use serde_json;

use std::ffi::OsString;
use std::path::PathBuf;

use cli::{parse_global, parse_verb, Global};
use container::{CreateOpts, Mode};
use util::{init_log, log_error, Error, Result};

const USAGE: &str = "\
dermaga-runtime: an OCI runtime with runc's command line

usage: dermaga-runtime [--root DIR] [--log FILE] [--log-format text|json] COMMAND [ARGS]

commands:
  create --bundle DIR [--pid-file F] [--console-socket S] [--preserve-fds N] ID
  start ID
  run --bundle DIR [-d|--detach] [--pid-file F] [--console-socket S] ID
  state ID
  kill [--all] ID [SIGNAL]
  delete [--force] ID
  exec [--process FILE] [-t] [--console-socket S] [-d] [--pid-file F] [--cwd D] [-e K=V]
       [-u UID[:GID]] [-g GID] [--cap CAP] [--no-new-privs] ID [COMMAND ARGS...]
  ps [--format table|json] ID [PS_ARGS...]
  list [--format table|json] [-q]
  events [--stats] [--interval 5s] ID
";

/// Runs the runtime command line (`args` start at the global flags or the verb).
/// Returns the process exit code.
pub fn main(args: Vec<OsString>) -> i32 {
    let (g, verb, rest) = match parse_global(args) {
        Ok(v) => v,
        Err(e) => {
            log_error(&e.0);
            return 1;
        }
    };
    init_log(g.log.as_deref(), g.log_json);
    match run_verb(&g, verb.as_deref(), &rest) {
        Ok(code) => code,
        Err(e) => {
            log_error(&e.0);
            1
        }
    }
}

fn one_id(args: &[String], verb: &str) -> Result<String> {
    match args {
        [id] => Ok(id.clone()),
        [] => Err(Error(format!("{verb}: a container id is required"))),
        _ => Err(Error(format!(
            "{verb}: expected one container id, got {}",
            args.len()
        ))),
    }
}

fn create_opts(p: &cli::Parsed, verb: &str) -> Result<CreateOpts> {
    let id = one_id(&p.args, verb)?;
    let bundle = PathBuf::from(p.value("bundle").unwrap_or("."));
    let preserve_fds = match p.value("preserve-fds") {
        Some(v) => v
            .parse()
            .map_err(|_| Error(format!("--preserve-fds {v}: not a number")))?,
        None => 0,
    };
    if p.flag("pidfd-socket") {
        crate::bail!("--pidfd-socket is not supported by dermaga-runtime");
    }
    Ok(CreateOpts {
        id,
        bundle,
        pid_file: p.value("pid-file").map(PathBuf::from),
        console_socket: p.value("console-socket").map(PathBuf::from),
        preserve_fds,
        stdio: None,
        spec: None,
    })
}

fn run_verb(g: &Global, verb: Option<&str>, rest: &[String]) -> Result<i32> {
    if g.systemd_cgroup {
        crate::bail!("--systemd-cgroup: dermaga-runtime manages cgroups through cgroupfs only");
    }
    let Some(verb) = verb else {
        eprint!("{USAGE}");
        return Ok(2);
    };
    match verb {
        "create" => {
            let p = parse_verb(rest, cli::CREATE_FLAGS)?;
            container::create(g, &create_opts(&p, verb)?, Mode::Create)
        }
        "run" => {
            let p = parse_verb(rest, cli::RUN_FLAGS)?;
            let detach = p.flag("detach");
            container::create(g, &create_opts(&p, verb)?, Mode::Run { detach })
        }
        "start" => {
            let p = parse_verb(rest, cli::NO_FLAGS)?;
            container::start(g, &one_id(&p.args, verb)?)?;
            Ok(0)
        }
        "state" => {
            let p = parse_verb(rest, cli::NO_FLAGS)?;
            let out = container::state_json(g, &one_id(&p.args, verb)?)?;
            print!("{out}");
            Ok(0)
        }
        "kill" => {
            let p = parse_verb(rest, cli::KILL_FLAGS)?;
            let (id, sig) = match p.args.as_slice() {
                [id] => (id.clone(), libc::SIGTERM),
                [id, s] => (id.clone(), container::parse_signal(s)?),
                _ => crate::bail!("kill: usage: kill [--all] ID [SIGNAL]"),
            };
            container::kill(g, &id, sig, p.flag("all"))?;
            Ok(0)
        }
        "delete" => {
            let p = parse_verb(rest, cli::DELETE_FLAGS)?;
            container::delete(g, &one_id(&p.args, verb)?, p.flag("force"))?;
            Ok(0)
        }
        "exec" => {
            let p = parse_verb(rest, cli::EXEC_FLAGS)?;
            let Some((id, args)) = p.args.split_first() else {
                crate::bail!("exec: a container id is required");
            };
            let mut gids = Vec::new();
            for v in p.values("additional-gids") {
                for g in v.split(',') {
                    gids.push(
                        g.parse()
                            .map_err(|_| Error(format!("--additional-gids {g}: not a number")))?,
                    );
                }
            }
            let o = exec::ExecOpts {
                id: id.clone(),
                args: args.to_vec(),
                process_file: p.value("process").map(PathBuf::from),
                tty: p.flag("tty"),
                console_socket: p.value("console-socket").map(PathBuf::from),
                detach: p.flag("detach"),
                pid_file: p.value("pid-file").map(PathBuf::from),
                cwd: p.value("cwd").map(String::from),
                env: p.values("env").to_vec(),
                user: p.value("user").map(String::from),
                additional_gids: gids,
                caps: p.values("cap").to_vec(),
                no_new_privs: p.flag("no-new-privs"),
                preserve_fds: match p.value("preserve-fds") {
                    Some(v) => v
                        .parse()
                        .map_err(|_| Error(format!("--preserve-fds {v}: not a number")))?,
                    None => 0,
                },
                process: None,
                stdio: None,
            };
            if p.flag("cgroup") || p.flag("pidfd-socket") {
                crate::bail!(
                    "exec: --cgroup and --pidfd-socket are not supported by dermaga-runtime"
                );
            }
            exec::exec(g, &o)
        }
        "list" => {
            let p = parse_verb(rest, cli::LIST_FLAGS)?;
            print!(
                "{}",
                list(g, p.value("format").unwrap_or("table"), p.flag("quiet"))?
            );
            Ok(0)
        }
        "ps" => {
            let p = parse_verb(rest, cli::PS_FLAGS)?;
            let Some((id, ps_args)) = p.args.split_first() else {
                crate::bail!("ps: a container id is required");
            };
            ps(g, id, p.value("format").unwrap_or("table"), ps_args)
        }
        "events" => {
            let p = parse_verb(rest, cli::EVENTS_FLAGS)?;
            let id = one_id(&p.args, verb)?;
            let interval = parse_duration(p.value("interval").unwrap_or("5s"))?;
            events(g, &id, p.flag("stats"), interval)
        }
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            Ok(0)
        }
        "--version" | "version" => {
            println!(
                "dermaga-runtime version {}\nspec: {}",
                env!("CARGO_PKG_VERSION"),
                state::OCI_VERSION
            );
            Ok(0)
        }
        other => Err(Error(format!(
            "unknown command {other:?}; see `dermaga-runtime --help`"
        ))),
    }
}

/// `runc list`: a tabwriter table (min width 12, padding 3), `-q` ids, or JSON.
fn list(g: &Global, format: &str, quiet: bool) -> Result<String> {
    let states = container::list_states(g);
    if quiet {
        return Ok(states.iter().map(|s| format!("{}\n", s.id)).collect());
    }
    let rows: Vec<state::OciState> = states
        .iter()
        .map(|s| {
            let mut o = s.oci(&g.root);
            o.owner = state::State::owner_name(&g.root, &s.id);
            o
        })
        .collect();
    match format {
        "json" => Ok(format!(
            "{}\n",
            serde_json::to_string(&rows).unwrap_or_else(|_| "[]".into())
        )),
        "table" => {
            let mut table = vec![vec![
                "ID".to_string(),
                "PID".into(),
                "STATUS".into(),
                "BUNDLE".into(),
                "CREATED".into(),
                "OWNER".into(),
            ]];
            for r in &rows {
                table.push(vec![
                    r.id.clone(),
                    r.pid.to_string(),
                    r.status.clone(),
                    r.bundle.clone(),
                    r.created.clone(),
                    r.owner.clone(),
                ]);
            }
            Ok(tabwrite(&table))
        }
        f => Err(Error(format!("invalid format option {f:?}"))),
    }
}

fn tabwrite(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0; cols];
    for r in rows {
        for (i, c) in r.iter().enumerate().take(cols.saturating_sub(1)) {
            widths[i] = widths[i].max((c.len() + 3).max(12));
        }
    }
    let mut out = String::new();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i + 1 < r.len() {
                out.push_str(&format!("{c:<w$}", w = widths[i]));
            } else {
                out.push_str(c);
            }
        }
        out.push('\n');
    }
    out
}

/// `runc ps`: the container's pids as JSON, or the host's `ps` output filtered to them.
fn ps(g: &Global, id: &str, format: &str, ps_args: &[String]) -> Result<i32> {
    let st = state::State::load(&g.root, id)?;
    let pids = st.cgroups.pids();
    match format {
        "json" => {
            println!(
                "{}",
                serde_json::to_string(&pids).unwrap_or_else(|_| "[]".into())
            );
            Ok(0)
        }
        "table" => {
            let args: Vec<String> = if ps_args.is_empty() {
                vec!["-ef".into()]
            } else {
                ps_args.to_vec()
            };
            let out = std::process::Command::new("ps")
                .args(&args)
                .output()
                .map_err(|e| Error(format!("run ps: {e}")))?;
            if !out.status.success() {
                crate::bail!(
                    "ps {}: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
            let text = String::from_utf8_lossy(&out.stdout);
            let mut lines = text.lines();
            let header = lines.next().unwrap_or("");
            let col = header
                .split_whitespace()
                .position(|h| h == "PID")
                .ok_or_else(|| Error::new("ps output has no PID column"))?;
            println!("{header}");
            for l in lines {
                if let Some(p) = l
                    .split_whitespace()
                    .nth(col)
                    .and_then(|p| p.parse::<i32>().ok())
                {
                    if pids.contains(&p) {
                        println!("{l}");
                    }
                }
            }
            Ok(0)
        }
        f => Err(Error(format!("invalid format option {f:?}"))),
    }
}

fn parse_duration(s: &str) -> Result<std::time::Duration> {
    let (num, unit) = s.split_at(
        s.find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(s.len()),
    );
    let n: f64 = num
        .parse()
        .map_err(|_| Error(format!("invalid duration {s:?}")))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" | "" => n,
        "m" => n * 60.0,
        _ => crate::bail!("invalid duration {s:?}"),
    };
    Ok(std::time::Duration::from_secs_f64(secs.max(0.001)))
}

fn stats_json(id: &str, st: &state::State) -> serde_json::Value {
    let (usage, limit) = st.cgroups.memory_stats().unwrap_or((0, 0));
    serde_json::json!({
        "type": "stats",
        "id": id,
        "data": {
            "memory": { "usage": { "usage": usage, "limit": limit }, "oom_kill": st.cgroups.oom_kills() },
            "pids": { "current": st.cgroups.pids().len() },
        }
    })
}

/// `runc events`: with `--stats` one stats object; otherwise a stream of `oom` events (and a
/// stats object every interval) until the container stops.
fn events(g: &Global, id: &str, stats: bool, interval: std::time::Duration) -> Result<i32> {
    let st = state::State::load(&g.root, id)?;
    if stats {
        println!("{}", stats_json(id, &st));
        return Ok(0);
    }
    let mut ooms = st.cgroups.oom_kills();
    let mut last = std::time::Instant::now();
    loop {
        if st.status(&g.root) == state::Status::Stopped {
            let now = st.cgroups.oom_kills();
            if now > ooms {
                println!("{}", serde_json::json!({"type": "oom", "id": id}));
            }
            return Ok(0);
        }
        let now = st.cgroups.oom_kills();
        if now > ooms {
            ooms = now;
            println!("{}", serde_json::json!({"type": "oom", "id": id}));
        }
        if last.elapsed() >= interval {
            last = std::time::Instant::now();
            println!("{}", stats_json(id, &st));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_like_runc() {
        let rows = vec![
            vec!["ID".into(), "PID".into(), "CREATED".into(), "OWNER".into()],
            vec![
                "t1".into(),
                "11681".into(),
                "2026-11-26T06:23:18.887815725Z".into(),
                "root".into(),
            ],
        ];
        let t = tabwrite(&rows);
        assert_eq!(
            t,
            "ID          PID         CREATED                          OWNER\n\
             t1          11681       2026-11-26T06:23:18.887815725Z   root\n"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration("5s").unwrap(),
            std::time::Duration::from_secs(5)
        );
        assert_eq!(
            parse_duration("250ms").unwrap(),
            std::time::Duration::from_millis(250)
        );
    }
}
