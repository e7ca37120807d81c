//! OCI hooks: each runs with the container's state JSON on its standard input; a failing
//! prestart/createRuntime/createContainer/startContainer hook fails the container, a failing
//! poststart/poststop hook is a warning (runtime spec, "Lifecycle").

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::Hook;

use crate::util::{log_warn, Error, Result};

pub fn state_json(
    id: &str,
    status: &str,
    pid: i32,
    bundle: &str,
    annotations: &std::collections::BTreeMap<String, String>,
) -> String {
    serde_json::json!({
        "ociVersion": crate::state::OCI_VERSION,
        "id": id,
        "status": status,
        "pid": pid,
        "bundle": bundle,
        "annotations": annotations,
    })
    .to_string()
}

/// Runs hooks that execute inside the container's namespaces (`createContainer`,
/// `startContainer`): the container knows neither its id nor its bundle there, so the state
/// they get carries only the status and the container's own pid.
pub fn run_in_container(kind: &str, hooks: Option<&Vec<Hook>>, status: &str) -> Result<()> {
    let Some(hooks) = hooks.filter(|h| !h.is_empty()) else {
        return Ok(());
    };
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() };
    let state = state_json("", status, pid, "", &Default::default());
    run(kind, hooks, &state, true)
}

pub fn run(kind: &str, hooks: &[Hook], state: &str, fatal: bool) -> Result<()> {
    for h in hooks {
        if let Err(e) = run_one(h, state) {
            let msg = format!("{kind} hook {}: {e}", h.path().display());
            if fatal {
                return Err(Error(msg));
            }
            log_warn(&msg);
        }
    }
    Ok(())
}

fn run_one(h: &Hook, state: &str) -> std::result::Result<(), String> {
    let args = h.args().clone().unwrap_or_default();
    let mut cmd = Command::new(h.path());
    if let Some(a0) = args.first() {
        use std::os::unix::process::CommandExt;
        cmd.arg0(a0);
        cmd.args(&args[1..]);
    }
    cmd.env_clear();
    for e in h.env().iter().flatten() {
        if let Some((k, v)) = e.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| e.to_string())?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(state.as_bytes());
    }
    let deadline = h
        .timeout()
        .map(|t| Instant::now() + Duration::from_secs(t.max(1) as u64));
    loop {
        match child.try_wait().map_err(|e| e.to_string())? {
            Some(status) if status.success() => return Ok(()),
            Some(status) => return Err(format!("exited with {status}")),
            None => {}
        }
        if deadline.is_some_and(|d| Instant::now() > d) {
            let _ = child.kill();
            let _ = child.wait();
            return Err("timed out".into());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}
