//! Driving an OCI runtime through runc's command line: our own (`dermaga runtime`) or any
//! other (`--runtime /usr/sbin/runc`).

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::error::{Error, Result};

/// The command line that invokes a runtime: its program and the arguments before runc's
/// global flags (`["/usr/bin/dermaga", "runtime"]` for our own).
#[derive(Clone, Debug)]
pub struct OciRuntime {
    pub argv: Vec<OsString>,
    /// `--root` for the runtime's own state.
    pub state_root: PathBuf,
}

/// Finds a runtime named on the command line: a path, or a name looked up as podman does.
pub fn find_runtime(name: &str) -> Result<Vec<OsString>> {
    if name == "dermaga" || name == "dermaga-runtime" {
        return own_runtime();
    }
    if name.contains('/') {
        let p = Path::new(name);
        if !p.exists() {
            return Err(Error::engine(format!("OCI runtime {name} not found")));
        }
        if p.file_name().is_some_and(|n| n == "dermaga") {
            return Ok(vec![p.into(), "runtime".into()]);
        }
        return Ok(vec![p.into()]);
    }
    let path = std::env::var("PATH").unwrap_or_default();
    let dirs = path.split(':').chain([
        "/usr/sbin",
        "/usr/bin",
        "/usr/local/bin",
        "/usr/libexec/podman",
    ]);
    for d in dirs.filter(|d| !d.is_empty()) {
        let p = Path::new(d).join(name);
        if p.is_file() {
            return Ok(vec![p.into()]);
        }
    }
    Err(Error::engine(format!(
        "OCI runtime {name:?} not found in $PATH: give its path (--runtime /usr/sbin/runc)"
    )))
}

/// Our own runtime: this very binary, `dermaga runtime ...`.
pub fn own_runtime() -> Result<Vec<OsString>> {
    let exe = std::env::current_exe()
        .map_err(|e| Error::engine(format!("cannot find the dermaga binary: {e}")))?;
    Ok(vec![exe.into(), "runtime".into()])
}

/// Unblocks every signal in a child before exec (the monitor blocks some for its signalfd,
/// and a blocked mask is inherited across exec).
pub fn reset_signals(cmd: &mut Command) {
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
            Ok(())
        });
    }
}

impl OciRuntime {
    pub fn command(&self) -> Command {
        let mut c = Command::new(&self.argv[0]);
        c.args(&self.argv[1..]);
        c.arg("--root").arg(&self.state_root);
        reset_signals(&mut c);
        c
    }

    fn name(&self) -> String {
        let p = Path::new(&self.argv[0]);
        let base = p
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        if self.argv.len() > 1 {
            format!("{base} {}", self.argv[1].to_string_lossy())
        } else {
            base
        }
    }

    fn run(&self, mut cmd: Command, what: &str) -> Result<Output> {
        cmd.stdin(Stdio::null());
        let out = cmd.output().map_err(|e| {
            Error::engine(format!("cannot run the OCI runtime {}: {e}", self.name()))
        })?;
        if !out.status.success() {
            return Err(Error::engine(format!(
                "OCI runtime {} {what}: {}",
                self.name(),
                error_text(&out.stderr, &out.stdout)
            )));
        }
        Ok(out)
    }

    pub fn start(&self, id: &str) -> Result<()> {
        let mut c = self.command();
        c.arg("start").arg(id);
        self.run(c, "start").map(|_| ())
    }

    pub fn kill(&self, id: &str, signal: i32, all: bool) -> Result<()> {
        let mut c = self.command();
        c.arg("kill");
        if all {
            c.arg("--all");
        }
        c.arg(id).arg(signal.to_string());
        self.run(c, "kill").map(|_| ())
    }

    pub fn delete(&self, id: &str, force: bool) -> Result<()> {
        let mut c = self.command();
        c.arg("delete");
        if force {
            c.arg("--force");
        }
        c.arg(id);
        self.run(c, "delete").map(|_| ())
    }

    /// The runtime's state of a container (`status`, `pid`, ...), None if it has none.
    pub fn state(&self, id: &str) -> Result<Option<serde_json::Value>> {
        let mut c = self.command();
        c.arg("state").arg(id).stdin(Stdio::null());
        let out = c.output().map_err(|e| {
            Error::engine(format!("cannot run the OCI runtime {}: {e}", self.name()))
        })?;
        if !out.status.success() {
            return Ok(None);
        }
        Ok(serde_json::from_slice(&out.stdout).ok())
    }
}

/// The useful part of a runtime's error output (runc prints JSON log lines or plain text).
pub fn error_text(stderr: &[u8], stdout: &[u8]) -> String {
    let text = String::from_utf8_lossy(if stderr.is_empty() { stdout } else { stderr });
    let mut msgs = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
            if let Some(m) = v.get("msg").and_then(|m| m.as_str()) {
                msgs.push(m.to_string());
                continue;
            }
        }
        msgs.push(line.trim().to_string());
    }
    if msgs.is_empty() {
        "failed without a message".into()
    } else {
        msgs.join("; ")
    }
}

/// podman's mapping of a runtime's start failure to an exit code: 127 when the command is not
/// found, 126 when it cannot be invoked, 125 otherwise.
pub fn classify_start_error(msg: &str) -> u8 {
    let m = msg.to_ascii_lowercase();
    if m.contains("executable file not found") || m.contains("no such file or directory") {
        crate::error::EXIT_NOT_FOUND
    } else if m.contains("permission denied") || m.contains("exec format error") {
        crate::error::EXIT_CANNOT_INVOKE
    } else {
        crate::error::EXIT_ENGINE
    }
}
