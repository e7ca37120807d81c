//! Driving an OCI runtime: any runtime (runc, `--runtime PATH`) through runc's command line;
//! our own, when this process may enter it, by calling the runtime crate in-process (one
//! execution of the binary fewer per verb), else through the same command line.
//!
//! "May enter it": the runtime clones this process for a container's init (and forks for
//! `exec`), which is sound only in a single-threaded process (design.md). The engine's
//! monitor and the `dermaga exec` command are; a threaded caller (a supervisor) is not and
//! goes through the command line.

use std::ffi::OsString;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use dermaga_runtime::cli::Global;
use dermaga_runtime::container::CreateOpts;

use crate::error::{Error, Result};

/// The command line that invokes a runtime: its program and the arguments before runc's
/// global flags (`["/usr/bin/dermaga", "runtime"]` for our own).
#[derive(Clone, Debug)]
pub struct OciRuntime {
    pub argv: Vec<OsString>,
    /// `--root` for the runtime's own state.
    pub state_root: PathBuf,
    /// The runtime is this very binary's (`dermaga runtime`), so it can be called in-process.
    pub own: bool,
}

/// Whether `argv` invokes this very binary's runtime: `[this binary, "runtime"]`.
pub fn is_own_runtime(argv: &[OsString]) -> bool {
    let [exe, verb] = argv else {
        return false;
    };
    if verb != "runtime" {
        return false;
    }
    let Ok(me) = std::env::current_exe() else {
        return false;
    };
    if me.as_os_str() == exe {
        return true;
    }
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(&me), std::fs::metadata(exe)) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}

/// Whether this process has one thread (field 20 of /proc/self/stat).
pub fn single_threaded() -> bool {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return false;
    };
    // Fields after the command name, which may hold spaces: state is field 3.
    let Some((_, rest)) = stat.rsplit_once(") ") else {
        return false;
    };
    rest.split(' ').nth(17) == Some("1")
}

/// Call before creating and starting a container, or exec'ing into one: the kernel's wait
/// before the first move of a process between cgroups by pid then passes while the engine
/// prepares (see `dermaga_runtime::cgroups::start_move_grace_period`). `by_pid`: whether a
/// process will be moved by pid (an external runtime such as runc; an init in a user
/// namespace). Otherwise our runtime's processes move themselves, which on v1 hierarchies
/// has no such wait (`CgroupSet::join_self`), and the early child (a fork of the command,
/// 0.6–0.8 ms in front of everything else) is not made.
pub fn begin_cgroup_move(by_pid: bool) {
    if !by_pid && dermaga_runtime::cgroups::host_self_join_is_free() {
        return;
    }
    let _ = dermaga_runtime::cgroups::start_move_grace_period();
}

/// A network namespace made while the command prepares (see `dermaga_runtime::netns`).
static NETWORK_NAMESPACE: std::sync::Mutex<Option<dermaga_runtime::netns::Pending>> =
    std::sync::Mutex::new(None);

/// Call before creating and starting a container with a network namespace of its own, made
/// by our runtime in this process: a child makes the namespace on the other core meanwhile,
/// and [`take_network_namespace`] gives it to the container.
pub fn begin_network_namespace() {
    if let Ok(mut slot) = NETWORK_NAMESPACE.lock() {
        *slot = dermaga_runtime::netns::start();
    }
}

/// The namespace [`begin_network_namespace`] made, if it made one.
pub fn take_network_namespace() -> Option<OwnedFd> {
    NETWORK_NAMESPACE.lock().ok()?.take()?.take()
}

/// A new container's standard streams, as the monitor holds them.
pub struct ContainerStdio {
    pub stdin: OwnedFd,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
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
    /// Whether this process calls the runtime itself rather than exec'ing it: our own
    /// runtime, in a single-threaded process.
    pub fn in_process(&self) -> bool {
        self.own && single_threaded()
    }

    fn global(&self) -> Global {
        Global {
            root: self.state_root.clone(),
            log: None,
            log_json: false,
            debug: false,
            systemd_cgroup: false,
        }
    }

    /// The error of an in-process call, worded as the command line's.
    fn failed(&self, what: &str, e: dermaga_runtime::util::Error) -> Error {
        Error::engine(format!("OCI runtime {} {what}: {}", self.name(), e.0))
    }

    /// `create` and `start` in this process (see [`OciRuntime::in_process`]): the init gets
    /// `stdio` and execs as soon as it is ready; `cloned` gets its pid and `spec` first,
    /// while it builds its root file system (see `dermaga_runtime::container::run_in_process`).
    /// The runtime's warnings go to the container's stderr, as an exec'd runtime's would.
    /// `spec` is handed over as it is: the runtime does not read the bundle's `config.json`,
    /// which `cloned` may write.
    /// Returns the init's pid; the error reads as the command line's.
    pub fn run_in_process(
        &self,
        id: &str,
        bundle: &Path,
        spec: oci_spec::runtime::Spec,
        stdio: &ContainerStdio,
        console_socket: Option<PathBuf>,
        cloned: &mut dyn FnMut(i32, &oci_spec::runtime::Spec) -> Result<()>,
    ) -> std::result::Result<i32, String> {
        let fds: [RawFd; 3] = [
            stdio.stdin.as_raw_fd(),
            stdio.stdout.as_raw_fd(),
            stdio.stderr.as_raw_fd(),
        ];
        let o = CreateOpts {
            id: id.to_string(),
            bundle: bundle.to_path_buf(),
            pid_file: None,
            console_socket,
            preserve_fds: 0,
            stdio: Some(fds),
            spec: Some(spec),
        };
        let g = self.global();
        let mut cloned =
            |pid, spec: &_| cloned(pid, spec).map_err(|e| dermaga_runtime::util::Error(e.msg));
        dermaga_runtime::util::warnings_to(fds[2], || {
            dermaga_runtime::container::run_in_process(&g, &o, &mut cloned)
        })
        .map_err(|e| e.0)
    }

    /// `exec` in this process (see [`OciRuntime::in_process`]) of `process` (a runtime spec
    /// `process` object) with the given streams; its exit code, or 1 after saying on stderr
    /// why it could not start (as the command line does).
    pub fn exec_in_process(
        &self,
        id: &str,
        process: serde_json::Value,
        detach: bool,
        stdio: [RawFd; 3],
    ) -> Result<i32> {
        let process: oci_spec::runtime::Process = serde_json::from_value(process)
            .map_err(|e| Error::engine(format!("the exec process: {e}")))?;
        let o = dermaga_runtime::exec::ExecOpts {
            id: id.to_string(),
            tty: process.terminal() == Some(true),
            detach,
            process: Some(process),
            stdio: Some(stdio),
            ..Default::default()
        };
        match dermaga_runtime::exec::exec(&self.global(), &o) {
            Ok(code) => Ok(code),
            Err(e) => {
                dermaga_runtime::util::log_error(&e.0);
                Ok(1)
            }
        }
    }

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
        if self.own {
            return dermaga_runtime::container::start(&self.global(), id)
                .map_err(|e| self.failed("start", e));
        }
        let mut c = self.command();
        c.arg("start").arg(id);
        self.run(c, "start").map(|_| ())
    }

    pub fn kill(&self, id: &str, signal: i32, all: bool) -> Result<()> {
        if self.own {
            return dermaga_runtime::container::kill(&self.global(), id, signal, all)
                .map_err(|e| self.failed("kill", e));
        }
        let mut c = self.command();
        c.arg("kill");
        if all {
            c.arg("--all");
        }
        c.arg(id).arg(signal.to_string());
        self.run(c, "kill").map(|_| ())
    }

    pub fn delete(&self, id: &str, force: bool) -> Result<()> {
        if self.own {
            return dermaga_runtime::container::delete(&self.global(), id, force)
                .map_err(|e| self.failed("delete", e));
        }
        let mut c = self.command();
        c.arg("delete");
        if force {
            c.arg("--force");
        }
        c.arg(id);
        self.run(c, "delete").map(|_| ())
    }

    /// Ids of the containers our own runtime keeps state for; none for an external runtime
    /// (whose state is asked for per container).
    pub fn state_ids(&self) -> Vec<String> {
        if !self.own {
            return Vec::new();
        }
        dermaga_runtime::container::list_states(&self.global())
            .into_iter()
            .map(|s| s.id)
            .collect()
    }

    /// The runtime's state of a container (`status`, `pid`, ...), None if it has none.
    pub fn state(&self, id: &str) -> Result<Option<serde_json::Value>> {
        if self.own {
            let g = self.global();
            return Ok(dermaga_runtime::container::state_json(&g, id)
                .ok()
                .and_then(|s| serde_json::from_str(&s).ok()));
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_runtime_is_this_binary_with_the_runtime_verb() {
        let me: OsString = std::env::current_exe().unwrap().into();
        assert!(is_own_runtime(&[me.clone(), "runtime".into()]));
        assert!(!is_own_runtime(&[me.clone(), "exec".into()]));
        assert!(!is_own_runtime(&[me]));
        assert!(!is_own_runtime(&["/usr/sbin/runc".into()]));
        assert!(!is_own_runtime(&["/bin/sh".into(), "runtime".into()]));
    }

    #[test]
    fn a_test_harness_is_not_single_threaded() {
        // The harness runs this test on a thread of its own beside the main one: the
        // runtime must not be entered here, and the check says so.
        let other = std::thread::spawn(single_threaded);
        assert!(!other.join().unwrap());
        assert!(!single_threaded());
    }
}
