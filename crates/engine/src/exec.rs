//! `dermaga exec`: a process in a running container, through the runtime's `exec`.

use std::fs;
use std::os::fd::AsRawFd;
use std::process::Stdio;

use oci_spec::runtime::Spec;

use crate::db::State;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::monitor::{check_executable, exec_command};
use crate::runtime::OciRuntime;
use crate::spec;
use crate::util;

#[derive(Clone, Debug, Default)]
pub struct ExecOptions {
    pub interactive: bool,
    pub tty: bool,
    pub detach: bool,
    pub env: Vec<String>,
    pub env_files: Vec<std::path::PathBuf>,
    pub workdir: Option<String>,
    pub user: Option<String>,
}

impl Engine {
    /// Runs `args` in the container; its exit code (detached: 0 once started).
    pub fn exec(&self, key: &str, args: Vec<String>, o: &ExecOptions) -> Result<i32> {
        let c = self.get_checked(key)?;
        if c.state != State::Running {
            return Err(Error::engine(format!(
                "can only create exec sessions on running containers: container state improper \
                 ({} is {}; start it with `dermaga start {}`)",
                c.name,
                c.state.as_str(),
                c.name
            )));
        }
        if args.is_empty() {
            return Err(Error::engine("exec needs a command to run"));
        }
        let p = self.paths(&c.id);
        let base = Spec::load(p.config_json())
            .map_err(|e| Error::engine(format!("reading the container's runtime spec: {e}")))?;
        let rootfs = base
            .root()
            .as_ref()
            .map(|r| r.path().clone())
            .unwrap_or_else(|| p.merged());
        let user = o
            .user
            .as_deref()
            .map(|u| spec::resolve_user(&rootfs, u))
            .transpose()?;
        let mut env = Vec::new();
        for f in &o.env_files {
            env.extend(crate::config::read_env_file(f)?);
        }
        for e in &o.env {
            env.extend(crate::config::expand_env_flag(e));
        }
        let process = spec::exec_process(
            &base,
            args.clone(),
            &env,
            o.workdir.as_deref(),
            user.as_ref(),
            o.tty,
        )?;
        let path_env = process["env"]
            .as_array()
            .and_then(|a| {
                a.iter()
                    .filter_map(|v| v.as_str())
                    .rev()
                    .find_map(|e| e.strip_prefix("PATH="))
            })
            .map(str::to_string);
        let cwd = process["cwd"].as_str().unwrap_or("/").to_string();
        let dsts: Vec<&str> = c
            .config
            .mounts
            .iter()
            .map(|m| m.destination.as_str())
            .collect();
        check_executable(&rootfs, &args[0], path_env.as_deref(), &cwd, &dsts)?;
        let rt = self.runtime_for(&c.config);
        if rt.in_process() {
            return self.exec_in_process(&rt, &c.id, process, o);
        }
        let file = p
            .run
            .join(format!("exec-{}.json", &util::random_id()?[..16]));
        fs::write(&file, serde_json::to_vec(&process)?)
            .map_err(|e| Error::engine(format!("writing {}: {e}", file.display())))?;
        let mut cmd = exec_command(&rt, &c.id, &file, o.tty, o.detach);
        if !o.interactive {
            cmd.stdin(Stdio::null());
        }
        if o.detach {
            cmd.stdout(Stdio::null()).stderr(Stdio::null());
        }
        let status = cmd.status();
        let _ = fs::remove_file(&file);
        let status =
            status.map_err(|e| Error::engine(format!("cannot run the OCI runtime: {e}")))?;
        use std::os::unix::process::ExitStatusExt;
        Ok(match (status.code(), status.signal()) {
            (Some(c), _) => c,
            (None, Some(s)) => 128 + s,
            _ => 125,
        })
    }

    /// `exec` through our own runtime called in this (single-threaded) process: no process
    /// file, no second execution of the binary. The streams are ours, as an exec'd runtime's
    /// would be, with /dev/null for stdin unless `-i` and for the output with `-d`.
    fn exec_in_process(
        &self,
        rt: &OciRuntime,
        id: &str,
        process: serde_json::Value,
        o: &ExecOptions,
    ) -> Result<i32> {
        let null = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null")
            .map_err(|e| Error::engine(format!("opening /dev/null: {e}")))?;
        let n = null.as_raw_fd();
        let stdin = if o.interactive { 0 } else { n };
        let stdio = if o.detach {
            [stdin, n, n]
        } else {
            [stdin, 1, 2]
        };
        rt.exec_in_process(id, process, o.detach, stdio)
    }
}
