//! `exec`: a new process inside a running container.
//!
//! The runtime joins the container's pid namespace for its children only (setns on the pid
//! namespace changes nothing for the caller itself), then forks once; the child joins the
//! container's cgroups and remaining namespaces, sets up its terminal, user, capabilities and
//! seccomp filter from the container's process config (overridden by the command line or
//! `--process`), and execs. The runtime stays the child's parent, so without `-d` it waits
//! for it and returns its exit code.

use std::convert::Infallible;
use std::fs;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

use oci_spec::runtime::{Process, User};

use crate::cli::Global;
use crate::container::{adopt_stdio, load_spec, pipe, read_msgs, send_msg, wait_forwarding};
use crate::state::{State, Status};
use crate::util::{cpath, cvt, errno, write_atomic, Context, Error, Result};
use crate::{console, process, seccomp, terminal};

#[derive(Debug, Default, Clone)]
pub struct ExecOpts {
    pub id: String,
    pub args: Vec<String>,
    pub process_file: Option<PathBuf>,
    pub tty: bool,
    pub console_socket: Option<PathBuf>,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub cwd: Option<String>,
    pub env: Vec<String>,
    pub user: Option<String>,
    pub additional_gids: Vec<u32>,
    pub caps: Vec<String>,
    pub no_new_privs: bool,
    pub preserve_fds: u32,
    /// The process itself, from a caller that runs the runtime in its own process (instead
    /// of `--process FILE`).
    pub process: Option<Process>,
    /// From such a caller: the process's standard input, output and error (see
    /// [`crate::container::CreateOpts::stdio`]). None: the runtime's own.
    pub stdio: Option<[RawFd; 3]>,
}

/// The process to run: `--process FILE`, or the container's process with the command line's
/// overrides (as runc builds it).
fn build_process(base: Option<&Process>, o: &ExecOpts) -> Result<Process> {
    if let Some(p) = &o.process {
        return Ok(p.clone());
    }
    if let Some(f) = &o.process_file {
        let data = fs::read(f).ctx(|| format!("read {}", f.display()))?;
        return serde_json::from_slice(&data).ctx(|| format!("parse {}", f.display()));
    }
    let mut p = base.cloned().unwrap_or_default();
    if o.args.is_empty() {
        crate::bail!("exec needs a command to run");
    }
    p.set_args(Some(o.args.clone()));
    let mut env = p.env().clone().unwrap_or_default();
    for e in &o.env {
        let key = e.split('=').next().unwrap_or("");
        env.retain(|x| x.split('=').next() != Some(key));
        env.push(e.clone());
    }
    p.set_env(Some(env));
    if let Some(c) = &o.cwd {
        p.set_cwd(PathBuf::from(c));
    }
    p.set_terminal(Some(o.tty));
    p.set_console_size(None);
    if let Some(u) = &o.user {
        let (uid, gid) = match u.split_once(':') {
            Some((a, b)) => (a, Some(b)),
            None => (u.as_str(), None),
        };
        let mut user = User::default();
        user.set_uid(
            uid.parse()
                .map_err(|_| Error(format!("--user {u}: uid must be a number")))?,
        );
        user.set_gid(match gid {
            Some(g) => g
                .parse()
                .map_err(|_| Error(format!("--user {u}: gid must be a number")))?,
            None => 0,
        });
        user.set_umask(p.user().umask());
        p.set_user(user);
    }
    if !o.additional_gids.is_empty() {
        let mut user = p.user().clone();
        user.set_additional_gids(Some(o.additional_gids.clone()));
        p.set_user(user);
    }
    if o.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if !o.caps.is_empty() {
        let mut c = p.capabilities().clone().unwrap_or_default();
        for name in &o.caps {
            let cap = serde_json::from_value(serde_json::Value::String(name.clone()))
                .map_err(|_| Error(format!("unknown capability {name}")))?;
            let add = |s: &Option<oci_spec::runtime::Capabilities>| {
                let mut s = s.clone().unwrap_or_default();
                s.insert(cap);
                Some(s)
            };
            let (b, e, p, i, a) = (
                add(c.bounding()),
                add(c.effective()),
                add(c.permitted()),
                add(c.inheritable()),
                add(c.ambient()),
            );
            c.set_bounding(b);
            c.set_effective(e);
            c.set_permitted(p);
            c.set_inheritable(i);
            c.set_ambient(a);
        }
        p.set_capabilities(Some(c));
    }
    Ok(p)
}

const NS_ORDER: &[(&str, libc::c_int)] = &[
    ("user", libc::CLONE_NEWUSER),
    ("ipc", libc::CLONE_NEWIPC),
    ("uts", libc::CLONE_NEWUTS),
    ("net", libc::CLONE_NEWNET),
    ("cgroup", libc::CLONE_NEWCGROUP),
    ("mnt", libc::CLONE_NEWNS),
];

fn same_ns(pid: i32, name: &str) -> bool {
    let a = fs::metadata(format!("/proc/self/ns/{name}"));
    let b = fs::metadata(format!("/proc/{pid}/ns/{name}"));
    match (a, b) {
        (Ok(a), Ok(b)) => {
            use std::os::unix::fs::MetadataExt;
            a.ino() == b.ino() && a.dev() == b.dev()
        }
        _ => false,
    }
}

pub fn exec(g: &Global, o: &ExecOpts) -> Result<i32> {
    let st = State::load(&g.root, &o.id)?;
    match st.status(&g.root) {
        Status::Stopped => crate::bail!("cannot exec in a stopped container"),
        Status::Created | Status::Running => {}
    }
    let (spec, _) = load_spec(&st.bundle)?;
    let proc_cfg = build_process(spec.process().as_ref(), o)?;
    let tty = proc_cfg.terminal() == Some(true);
    // Without a console socket, a foreground exec keeps the terminal's master itself and
    // copies it to and from its own stdio, as runc does.
    let own_terminal = tty && o.console_socket.is_none();
    if own_terminal && o.detach {
        crate::bail!("a detached exec with a terminal (-t -d) needs --console-socket");
    }
    let seccomp = match spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
        Some(s) => {
            let p = seccomp::compile_cached(&g.root, s)?;
            (!p.filters.is_empty()).then_some(p)
        }
        None => None,
    };
    let mut ns_fds: Vec<(libc::c_int, OwnedFd)> = Vec::new();
    for (name, flag) in NS_ORDER {
        if st.namespaces.iter().any(|n| n == name) && !same_ns(st.pid, name) {
            let f = fs::File::open(format!("/proc/{}/ns/{name}", st.pid))
                .ctx(|| format!("open {name} namespace of the container"))?;
            ns_fds.push((*flag, f.into()));
        }
    }
    if st.namespaces.iter().any(|n| n == "pid") && !same_ns(st.pid, "pid") {
        let f = fs::File::open(format!("/proc/{}/ns/pid", st.pid))
            .ctx(|| "open pid namespace of the container")?;
        cvt(unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWPID) })
            .ctx(|| "join the container's pid namespace")?;
    }
    let mut terminal_ours = None;
    let console = match &o.console_socket {
        Some(p) if tty => {
            Some(console::connect(p).ctx(|| format!("connect to console socket {}", p.display()))?)
        }
        None if own_terminal => {
            let (ours, theirs) = socket_pair()?;
            terminal_ours = Some(ours);
            Some(theirs)
        }
        _ => None,
    };
    let (sync_r, sync_w) = pipe()?;
    let attached = !o.detach;
    let mut oldmask: libc::sigset_t = unsafe { std::mem::zeroed() };
    if attached {
        unsafe {
            let mut all: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            libc::sigprocmask(libc::SIG_BLOCK, &all, &mut oldmask);
        }
    }
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        crate::bail!("fork into the container: {}", errno());
    }
    if pid == 0 {
        drop(sync_r);
        let c = Child {
            st: &st,
            proc_cfg: &proc_cfg,
            ns_fds: ns_fds.iter().map(|(f, fd)| (*f, fd.as_raw_fd())).collect(),
            console: console.as_ref().map(|f| f.as_raw_fd()),
            sync_w: sync_w.as_raw_fd(),
            seccomp: seccomp.as_ref(),
            preserve_fds: o.preserve_fds,
            stdio: o.stdio,
        };
        let code = match child(&c) {
            Ok(n) => match n {},
            Err(e) => {
                send_msg(c.sync_w, b'E', &e.0);
                1
            }
        };
        unsafe { libc::_exit(code) };
    }
    drop(sync_w);
    drop(console);
    if let Err(e) = read_msgs(sync_r) {
        unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
        return Err(e);
    }
    if let Some(pf) = &o.pid_file {
        write_atomic(pf, pid.to_string().as_bytes(), 0o644)
            .ctx(|| format!("write pid file {}", pf.display()))?;
    }
    if !attached {
        return Ok(0);
    }
    let code = match terminal_ours {
        Some(sock) => match console::recv_fd(sock.as_raw_fd()) {
            Ok(master) => terminal::proxy(master, pid),
            Err(_) => wait_forwarding(pid),
        },
        None => wait_forwarding(pid),
    };
    unsafe { libc::sigprocmask(libc::SIG_SETMASK, &oldmask, std::ptr::null_mut()) };
    Ok(code)
}

fn socket_pair() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    cvt(unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    })
    .ctx(|| "socketpair for the terminal")?;
    // SAFETY: fresh descriptors we own.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

struct Child<'a> {
    st: &'a State,
    proc_cfg: &'a Process,
    ns_fds: Vec<(libc::c_int, RawFd)>,
    console: Option<RawFd>,
    sync_w: RawFd,
    seccomp: Option<&'a seccomp::Program>,
    preserve_fds: u32,
    stdio: Option<[RawFd; 3]>,
}

fn child(c: &Child<'_>) -> Result<Infallible> {
    process::reset_signals();
    if let Some(stdio) = c.stdio {
        let mut keep = vec![c.sync_w];
        keep.extend(c.console);
        keep.extend(c.ns_fds.iter().map(|(_, fd)| *fd));
        adopt_stdio(stdio, &keep, c.preserve_fds)?;
    }
    c.st.cgroups.join_self()?;
    for (flag, fd) in &c.ns_fds {
        cvt(unsafe { libc::setns(*fd, *flag) })
            .ctx(|| format!("join the container's namespace {flag:#x}"))?;
    }
    let cwd = c.proc_cfg.cwd();
    cvt(unsafe { libc::chdir(cpath(cwd).as_ptr()) })
        .ctx(|| format!("chdir to {}", cwd.display()))?;
    if let Some(sock) = c.console {
        let pty = console::open_pty().ctx(|| "open a pty in the container")?;
        if let Some(size) = c.proc_cfg.console_size() {
            console::set_size(pty.slave.as_raw_fd(), size.height(), size.width());
        }
        console::send_fd(sock, pty.master.as_raw_fd(), "/dev/ptmx")
            .ctx(|| "send the pty to the console socket")?;
        unsafe { libc::close(sock) };
        console::make_controlling(&pty.slave).ctx(|| "make the pty the controlling terminal")?;
    }
    if let Some(w) = process::apply_rlimits(c.proc_cfg)? {
        send_msg(c.sync_w, b'W', &w);
    }
    let launch = process::prepare_launch(c.proc_cfg)?;
    let nnp = c.proc_cfg.no_new_privileges() == Some(true);
    if let (Some(p), false) = (c.seccomp, nnp) {
        seccomp::apply(p).ctx(|| "load seccomp filter")?;
    }
    process::set_identity(c.proc_cfg, true)?;
    process::cloexec_from(c.preserve_fds);
    if let (Some(p), true) = (c.seccomp, nnp) {
        seccomp::apply(p).ctx(|| "load seccomp filter")?;
    }
    let e = process::exec(&launch);
    Err(Error(format!("exec {:?}: {e}", launch.path)))
}
