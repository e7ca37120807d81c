//! The container lifecycle: create (and run), start, state, kill, delete.
//!
//! `create` clones the init process once with every namespace flag of the spec. The two sides
//! then talk over two pipes: the parent writes the uid/gid maps and makes the cgroups, then
//! sends one byte ("go"), on which the init moves itself into them (the parent moves it by
//! pid where it cannot: see `CgroupSet::join_self`); the init builds its root file system,
//! switches user and capabilities, and closes its end of the sync pipe (or sends an error
//! over it). Under `create`, the init then blocks opening `exec.fifo` for writing until
//! `start` opens it for reading, as runc's does; under `run` there is no fifo and the init
//! execs at once.

use std::borrow::Cow;
use std::convert::Infallible;
use std::fs;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::cgroups::{self, CgroupSet};
use crate::cli::Global;
use crate::cpu_placement::{move_off_this_cpu, CpuSet};
use crate::mounts::{self, MountCtx};
use crate::seccomp;
use crate::state::{self, State, Status};
use crate::util::{
    cpath, cvt, errno, log_warn, now_realtime, rfc3339_nano, write_atomic, Context, Error, Result,
};
use crate::{console, hooks, process};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Create,
    Run { detach: bool },
}

#[derive(Debug, Clone, Default)]
pub struct CreateOpts {
    pub id: String,
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub preserve_fds: u32,
    /// For a caller that runs the runtime in its own process ([`create_in_process`]): the
    /// init's standard input, output and error. The init also closes every other
    /// close-on-exec descriptor it inherited from that caller, as an exec'd runtime would
    /// never have had them. None: the init keeps the runtime's own streams (runc's way).
    pub stdio: Option<[RawFd; 3]>,
    /// The spec the caller wrote to the bundle's `config.json` just before, for a caller in
    /// this process: used as it is instead of reading and parsing the file back. None: the
    /// bundle's `config.json` is read.
    pub spec: Option<Spec>,
}

// ---- the sync pipe: messages from a child process to the runtime ----

pub(crate) fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }).ctx(|| "pipe")?;
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Sends one message: a kind byte ('W' warning, 'E' error), a length, the text.
pub(crate) fn send_msg(fd: RawFd, kind: u8, text: &str) {
    let mut buf = Vec::with_capacity(text.len() + 5);
    buf.push(kind);
    buf.extend_from_slice(&(text.len() as u32).to_le_bytes());
    buf.extend_from_slice(text.as_bytes());
    let mut off = 0;
    while off < buf.len() {
        let n = unsafe {
            libc::write(
                fd,
                buf[off..].as_ptr() as *const libc::c_void,
                buf.len() - off,
            )
        };
        if n <= 0 {
            if n < 0 && errno().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return;
        }
        off += n as usize;
    }
}

/// Reads messages until EOF; warnings are logged, an error is returned.
pub(crate) fn read_msgs(fd: OwnedFd) -> Result<()> {
    let mut f = fs::File::from(fd);
    let mut data = Vec::new();
    let _ = f.read_to_end(&mut data);
    let mut pos = 0;
    let mut err = None;
    while pos + 5 <= data.len() {
        let kind = data[pos];
        let len = u32::from_le_bytes(data[pos + 1..pos + 5].try_into().unwrap_or([0; 4])) as usize;
        let text =
            String::from_utf8_lossy(data.get(pos + 5..pos + 5 + len).unwrap_or(&[])).into_owned();
        pos += 5 + len;
        match kind {
            b'W' => log_warn(&text),
            _ => err = Some(text),
        }
    }
    match err {
        Some(e) => Err(Error(e)),
        None => Ok(()),
    }
}

fn read_byte(fd: RawFd) -> io::Result<usize> {
    let mut b = [0u8; 1];
    loop {
        let n = unsafe { libc::read(fd, b.as_mut_ptr() as *mut libc::c_void, 1) };
        if n < 0 {
            let e = errno();
            if e.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(e);
        }
        return Ok(n as usize);
    }
}

fn write_byte(fd: RawFd) -> io::Result<()> {
    let b = [0u8; 1];
    cvt(unsafe { libc::write(fd, b.as_ptr() as *const libc::c_void, 1) } as libc::c_int).map(drop)
}

pub(crate) fn load_spec(bundle: &Path) -> Result<(Spec, Vec<u8>)> {
    let path = bundle.join("config.json");
    let raw = fs::read(&path).ctx(|| format!("read {}", path.display()))?;
    let spec: Spec = serde_json::from_slice(&raw).ctx(|| format!("parse {}", path.display()))?;
    Ok((spec, raw))
}

/// Everything the init process needs, prepared by the parent before the clone.
struct InitCtx<'a> {
    spec: &'a Spec,
    rootfs: PathBuf,
    cgroups: &'a CgroupSet,
    go_r: RawFd,
    sync_w: RawFd,
    fifo: Option<RawFd>,
    console: Option<RawFd>,
    join_ns: Vec<(libc::c_int, RawFd)>,
    user_ns_path: Option<RawFd>,
    cgroupns: bool,
    /// The init moves itself into its cgroups once the parent has made them (see
    /// [`CgroupSet::join_self`]); otherwise the parent moves it by pid.
    joins_cgroups_itself: bool,
    userns: bool,
    uts: bool,
    seccomp: Option<seccomp::Program>,
    preserve_fds: u32,
    stdio: Option<[RawFd; 3]>,
    /// The CPUs the init may use, given back at the gate: the parent first moves it off its
    /// own CPU, so that the root file system is built beside the parent's work.
    allowed: Option<CpuSet>,
    /// A pidfd of the process that clones the init (None before Linux 5.3).
    parent: Option<RawFd>,
}

fn ns_flag(t: LinuxNamespaceType) -> Result<(libc::c_int, &'static str)> {
    Ok(match t {
        LinuxNamespaceType::Pid => (libc::CLONE_NEWPID, "pid"),
        LinuxNamespaceType::Network => (libc::CLONE_NEWNET, "net"),
        LinuxNamespaceType::Mount => (libc::CLONE_NEWNS, "mnt"),
        LinuxNamespaceType::Ipc => (libc::CLONE_NEWIPC, "ipc"),
        LinuxNamespaceType::Uts => (libc::CLONE_NEWUTS, "uts"),
        LinuxNamespaceType::User => (libc::CLONE_NEWUSER, "user"),
        LinuxNamespaceType::Cgroup => (libc::CLONE_NEWCGROUP, "cgroup"),
        LinuxNamespaceType::Time => {
            return Err(Error::new(
                "time namespaces are not supported by dermaga-runtime",
            ))
        }
    })
}

fn open_ro(p: &Path) -> Result<OwnedFd> {
    let c = cpath(p);
    let fd = cvt(unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) })
        .ctx(|| format!("open {}", p.display()))?;
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn write_id_maps(pid: i32, spec: &Spec) -> Result<()> {
    let linux = spec.linux().as_ref();
    let fmt = |maps: &Option<Vec<oci_spec::runtime::LinuxIdMapping>>| {
        maps.iter()
            .flatten()
            .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
            .collect::<String>()
    };
    if let Some(l) = linux {
        let u = fmt(l.uid_mappings());
        let g = fmt(l.gid_mappings());
        if !u.is_empty() {
            crate::util::write_file(Path::new(&format!("/proc/{pid}/uid_map")), &u)
                .ctx(|| "write uid_map")?;
        }
        if !g.is_empty() {
            crate::util::write_file(Path::new(&format!("/proc/{pid}/gid_map")), &g)
                .ctx(|| "write gid_map")?;
        }
    }
    Ok(())
}

/// A fork-like clone with namespace `flags`: 0 in the child, its pid (or -1) in the caller.
///
/// # Safety
/// The caller is single-threaded, as for fork.
unsafe fn clone_flags(flags: libc::c_int) -> libc::c_long {
    libc::syscall(
        libc::SYS_clone,
        (flags | libc::SIGCHLD) as libc::c_ulong,
        0usize,
        0usize,
        0usize,
        0usize,
    )
}

/// [`clone_flags`] from inside the user namespace `user_ns`: a helper joins it and clones
/// the child as the caller's own (CLONE_PARENT), sends its pid back and exits. Returns as
/// [`clone_flags`] does (0 in the child).
///
/// # Safety
/// As [`clone_flags`].
unsafe fn clone_in_user_ns(user_ns: RawFd, flags: libc::c_int) -> libc::c_long {
    let Ok((r, w)) = pipe() else {
        return -1;
    };
    let helper = clone_flags(0);
    if helper == 0 {
        drop(r);
        if libc::setns(user_ns, libc::CLONE_NEWUSER) != 0 {
            let e = errno().raw_os_error().unwrap_or(libc::EPERM);
            let msg = (-(e as i64)).to_ne_bytes();
            libc::write(w.as_raw_fd(), msg.as_ptr().cast(), msg.len());
            libc::_exit(1);
        }
        // With CLONE_PARENT the child's exit signal is the helper's own (SIGCHLD), so the
        // caller reaps it as any child.
        let pid = libc::syscall(
            libc::SYS_clone,
            (flags | libc::CLONE_PARENT) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        );
        if pid == 0 {
            drop(w);
            return 0;
        }
        let v = if pid < 0 {
            -(errno().raw_os_error().unwrap_or(libc::EPERM) as i64)
        } else {
            pid
        };
        let msg = v.to_ne_bytes();
        libc::write(w.as_raw_fd(), msg.as_ptr().cast(), msg.len());
        libc::_exit(0);
    }
    drop(w);
    if helper < 0 {
        return -1;
    }
    let mut buf = [0u8; 8];
    let n = libc::read(r.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len());
    libc::waitpid(helper as i32, std::ptr::null_mut(), 0);
    if n != 8 {
        *libc::__errno_location() = libc::EPROTO;
        return -1;
    }
    let v = i64::from_ne_bytes(buf);
    if v < 0 {
        *libc::__errno_location() = -v as i32;
        return -1;
    }
    v
}

fn kill_and_reap(pid: i32) {
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        libc::waitpid(pid, std::ptr::null_mut(), 0);
    }
}

/// Runs the spec's poststart hooks once the container runs (their failures are warnings,
/// as the runtime spec asks).
fn poststart(spec: &Spec, id: &str, st: &State) -> Result<()> {
    let Some(h) = spec.hooks() else {
        return Ok(());
    };
    let stj = hooks::state_json(
        id,
        "running",
        st.pid,
        &st.bundle.display().to_string(),
        &st.annotations,
    );
    hooks::run(
        "poststart",
        h.poststart().as_deref().unwrap_or(&[]),
        &stj,
        false,
    )
}

/// `create` and `run`. Returns the exit code of the command.
pub fn create(g: &Global, o: &CreateOpts, mode: Mode) -> Result<i32> {
    let s = spawn(g, o, mode, None)?;
    if let Mode::Run { .. } = mode {
        poststart(&s.spec, &o.id, &s.state)?;
    }
    if mode != (Mode::Run { detach: false }) {
        return Ok(0);
    }
    let code = wait_forwarding(s.state.pid);
    unsafe { libc::sigprocmask(libc::SIG_SETMASK, &s.oldmask, std::ptr::null_mut()) };
    destroy(g, &s.state, &s.spec);
    Ok(code)
}

/// `create` for a caller that runs the runtime in its own process instead of exec'ing it
/// (the engine's monitor), with the init's stdio in `o.stdio`; the same state as `create`
/// leaves, so `start`, `kill`, `delete` and `exec` work from either. Returns the init's pid.
///
/// The caller must be single-threaded: the init is a fork-like clone of it.
pub fn create_in_process(g: &Global, o: &CreateOpts) -> Result<i32> {
    Ok(spawn(g, o, Mode::Create, None)?.state.pid)
}

/// `create` and `start` in one for such a caller (see [`create_in_process`]): the init
/// execs its process as soon as it is ready, with no `exec.fifo` to wait on, and `cloned`
/// is called with its pid and spec once the init is let go (in its cgroups, with its state
/// saved), for the caller's own bookkeeping, which then overlaps the init's work on its root
/// file system (a failure there ends the init). The init may have exec'd, even exited, by then.
/// The init dies with the caller until it execs, as a created one does until started.
/// Runs the spec's poststart hooks; returns the init's pid once it is ready.
pub fn run_in_process(g: &Global, o: &CreateOpts, cloned: OnCloned<'_>) -> Result<i32> {
    let s = spawn(g, o, Mode::Run { detach: true }, Some(cloned))?;
    poststart(&s.spec, &o.id, &s.state)?;
    Ok(s.state.pid)
}

/// The caller's bookkeeping once the init is let go: its pid and spec (see
/// [`run_in_process`]).
pub type OnCloned<'a> = &'a mut dyn FnMut(i32, &Spec) -> Result<()>;

/// A created init: its state (saved), its spec, and the signal mask to restore once an
/// attached `run` ends.
struct Spawned<'a> {
    state: State,
    /// The caller's (`CreateOpts::spec`), or the bundle's.
    spec: Cow<'a, Spec>,
    oldmask: libc::sigset_t,
}

fn spawn<'a>(
    g: &Global,
    o: &'a CreateOpts,
    mode: Mode,
    cloned: Option<OnCloned<'_>>,
) -> Result<Spawned<'a>> {
    state::validate_id(&o.id)?;
    let bundle = fs::canonicalize(&o.bundle).ctx(|| format!("bundle {}", o.bundle.display()))?;
    let spec = match &o.spec {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(load_spec(&bundle)?.0),
    };
    let root_cfg = spec
        .root()
        .as_ref()
        .ok_or_else(|| Error::new("config.json has no root"))?;
    let rootfs = fs::canonicalize(bundle.join(root_cfg.path()))
        .ctx(|| format!("rootfs {}", root_cfg.path().display()))?;
    let linux = spec
        .linux()
        .as_ref()
        .ok_or_else(|| Error::new("config.json has no linux section"))?;
    let proc_cfg = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::new("config.json has no process"))?;
    if proc_cfg.terminal() == Some(true) && o.console_socket.is_none() {
        crate::bail!("process.terminal is true, so --console-socket is required");
    }

    let ignored = unsupported_fields(&spec);
    if !ignored.is_empty() {
        log_warn(&format!(
            "config.json sets {}, which dermaga-runtime does not apply",
            ignored.join(", ")
        ));
    }

    fs::create_dir_all(&g.root).ctx(|| format!("create root {}", g.root.display()))?;
    let sdir = state::dir(&g.root, &o.id);
    match fs::create_dir(&sdir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            crate::bail!("container with id exists: {}", o.id)
        }
        Err(e) => crate::bail!("create {}: {e}", sdir.display()),
    }
    let mut guard = Cleanup {
        sdir: sdir.clone(),
        cgroups: None,
        armed: true,
    };

    // Namespaces: new ones are clone flags; ones with a path are joined.
    let mut flags: libc::c_int = 0;
    let mut names = Vec::new();
    let mut join_fds: Vec<(libc::c_int, OwnedFd)> = Vec::new();
    let mut pid_ns_path = None;
    let mut user_ns_path = None;
    let mut cgroupns = false;
    let mut userns = false;
    let mut uts = false;
    for ns in linux.namespaces().iter().flatten() {
        let (flag, name) = ns_flag(ns.typ())?;
        names.push(name.to_string());
        match ns.path() {
            Some(p) if !p.as_os_str().is_empty() => {
                let fd = open_ro(p)?;
                match ns.typ() {
                    LinuxNamespaceType::Pid => pid_ns_path = Some(fd),
                    LinuxNamespaceType::User => {
                        userns = true;
                        user_ns_path = Some(fd)
                    }
                    _ => join_fds.push((flag, fd)),
                }
                if ns.typ() == LinuxNamespaceType::Uts {
                    uts = true;
                }
            }
            _ => match ns.typ() {
                LinuxNamespaceType::Cgroup => cgroupns = true,
                t => {
                    if t == LinuxNamespaceType::User {
                        userns = true;
                    }
                    if t == LinuxNamespaceType::Uts {
                        uts = true;
                    }
                    flags |= flag
                }
            },
        }
    }
    if flags & libc::CLONE_NEWNS == 0 && !join_fds.iter().any(|(f, _)| *f == libc::CLONE_NEWNS) {
        crate::bail!("the spec has no mount namespace; dermaga-runtime needs one to set up the root file system");
    }

    // Only planned here: the directories are made after the clone, while the init builds its
    // root file system on the other core.
    let cgroups = cgroups::plan(
        linux.cgroups_path().as_deref(),
        &o.id,
        linux.resources().as_ref(),
    )?;
    guard.cgroups = Some(cgroups.clone());

    let seccomp = match linux.seccomp() {
        Some(s) => {
            let p = seccomp::compile_cached(&g.root, s)?;
            (!p.filters.is_empty()).then_some(p)
        }
        None => None,
    };
    // An init in a user namespace of its own cannot open the host's cgroup files, and hooks
    // run by the parent before "go" expect the init in its cgroups already: the parent moves
    // those by pid.
    let hooks_before_go = spec.hooks().as_ref().is_some_and(|h| {
        h.prestart().as_ref().is_some_and(|l| !l.is_empty())
            || h.create_runtime().as_ref().is_some_and(|l| !l.is_empty())
    });
    let joins_cgroups_itself = cgroups.self_join_is_free() && !userns && !hooks_before_go;

    let fifo = if mode == Mode::Create {
        let fifo_path = sdir.join("exec.fifo");
        let c = cpath(&fifo_path);
        unsafe {
            let old = libc::umask(0);
            let r = libc::mkfifo(c.as_ptr(), 0o622);
            libc::umask(old);
            cvt(r).ctx(|| format!("mkfifo {}", fifo_path.display()))?;
        }
        let fd = cvt(unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) })
            .ctx(|| "open exec.fifo")?;
        Some(unsafe { OwnedFd::from_raw_fd(fd) })
    } else {
        None
    };
    let console = match &o.console_socket {
        Some(p) if proc_cfg.terminal() == Some(true) => {
            Some(console::connect(p).ctx(|| format!("connect to console socket {}", p.display()))?)
        }
        _ => None,
    };

    let (go_r, go_w) = pipe()?;
    let (sync_r, sync_w) = pipe()?;
    // SAFETY: pidfd_open of this process; a new descriptor (close-on-exec) or -1.
    let parent_pidfd = match unsafe { libc::syscall(libc::SYS_pidfd_open, libc::getpid(), 0) } {
        fd if fd >= 0 => Some(unsafe { OwnedFd::from_raw_fd(fd as RawFd) }),
        _ => None,
    };
    let ctx = InitCtx {
        spec: &spec,
        rootfs: rootfs.clone(),
        cgroups: &cgroups,
        go_r: go_r.as_raw_fd(),
        sync_w: sync_w.as_raw_fd(),
        fifo: fifo.as_ref().map(|f| f.as_raw_fd()),
        console: console.as_ref().map(|f| f.as_raw_fd()),
        join_ns: join_fds
            .iter()
            .map(|(f, fd)| (*f, fd.as_raw_fd()))
            .collect(),
        user_ns_path: user_ns_path.as_ref().map(|f| f.as_raw_fd()),
        cgroupns,
        joins_cgroups_itself,
        userns,
        uts,
        seccomp,
        preserve_fds: o.preserve_fds,
        stdio: o.stdio,
        allowed: CpuSet::allowed(),
        parent: parent_pidfd.as_ref().map(|f| f.as_raw_fd()),
    };

    let attached = mode == Mode::Run { detach: false };
    let mut oldmask: libc::sigset_t = unsafe { std::mem::zeroed() };
    if attached {
        unsafe {
            let mut all: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            libc::sigprocmask(libc::SIG_BLOCK, &all, &mut oldmask);
        }
    }
    if let Some(fd) = &pid_ns_path {
        cvt(unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWPID) })
            .ctx(|| "join pid namespace")?;
    }
    let _ = io::stdout().flush();
    let _ = io::stderr().flush();
    // SAFETY: this process is single-threaded (the runtime is entered from a fresh exec), so
    // a fork-like clone leaves the child with a consistent heap and no held locks.
    let pid = match &user_ns_path {
        None => unsafe { clone_flags(flags) },
        // Namespaces belong to the user namespace their creator is in: to be usable by the
        // container's root, they are made after joining it, by a helper (runc's way).
        Some(user_ns) => unsafe { clone_in_user_ns(user_ns.as_raw_fd(), flags) },
    };
    if pid < 0 {
        let e = errno();
        crate::bail!("clone with namespaces {}: {e}", names.join(","));
    }
    if pid == 0 {
        drop(go_w);
        drop(sync_r);
        init_main(&ctx);
    }
    let pid = pid as i32;
    let allowed = ctx.allowed;
    if let Some(allowed) = &allowed {
        // Then the init's first "go": it waits for it before anything else.
        move_off_this_cpu(pid, allowed);
        if let Err(e) = write_byte(go_w.as_raw_fd()) {
            kill_and_reap(pid);
            return Err(e).ctx(|| "start the container's init");
        }
    }
    drop(go_r);
    drop(sync_w);
    drop(ctx);
    drop(parent_pidfd);

    let setup = || -> Result<()> {
        if userns {
            if user_ns_path.is_none() {
                write_id_maps(pid, &spec)?;
            }
            write_byte(go_w.as_raw_fd()).ctx(|| "start the container's init")?;
        }
        cgroups.create(linux.resources().as_ref())?;
        if !joins_cgroups_itself {
            cgroups.join(pid)?;
        }
        if let Some(adj) = proc_cfg.oom_score_adj() {
            crate::util::write_file(
                Path::new(&format!("/proc/{pid}/oom_score_adj")),
                &adj.to_string(),
            )
            .ctx(|| "set oom_score_adj")?;
        }
        if let Some(h) = spec.hooks() {
            let st = hooks::state_json(
                &o.id,
                "creating",
                pid,
                &bundle.display().to_string(),
                &annotations(&spec),
            );
            let mut list = h.prestart().clone().unwrap_or_default();
            list.extend(h.create_runtime().clone().unwrap_or_default());
            hooks::run("createRuntime", &list, &st, true)?;
        }
        Ok(())
    };
    // The state is written while the init builds its root file system; the guard removes
    // it if the init fails.
    let save = || -> Result<State> {
        let start_time = state::proc_stat(pid).map(|s| s.1).unwrap_or(0);
        let st = State {
            id: o.id.clone(),
            pid,
            start_time,
            bundle: bundle.clone(),
            rootfs: rootfs.clone(),
            created: rfc3339_nano(now_realtime()),
            annotations: annotations(&spec),
            cgroups: cgroups.clone(),
            namespaces: names.clone(),
            seccomp: linux.seccomp().is_some(),
        };
        st.save(&g.root)?;
        Ok(st)
    };
    let res = setup()
        .and_then(|()| write_byte(go_w.as_raw_fd()).ctx(|| "start the container's init"))
        .and_then(|()| save())
        .and_then(|st| {
            // The caller's bookkeeping, while the init builds its root file system (about
            // 3 ms, in which this process would only wait).
            if let Some(f) = cloned {
                f(pid, &spec)?;
            }
            Ok(st)
        });
    // This process only waits from here: the init may run on its CPU too (the other may be
    // busy, or not running at all on a host that runs this machine's CPUs as threads).
    if let Some(allowed) = &allowed {
        allowed.apply_to(pid);
    }
    // The init's own error, if it failed, says more than a broken pipe.
    let st = match (read_msgs(sync_r), res) {
        (Err(e), _) | (Ok(()), Err(e)) => {
            kill_and_reap(pid);
            return Err(e);
        }
        (Ok(()), Ok(st)) => st,
    };
    drop(go_w);

    if let Some(pf) = &o.pid_file {
        write_atomic(pf, pid.to_string().as_bytes(), 0o644)
            .ctx(|| format!("write pid file {}", pf.display()))?;
    }
    guard.armed = false;
    Ok(Spawned {
        state: st,
        spec,
        oldmask,
    })
}

/// Fields of the spec this runtime does not apply; named in one warning, never silently.
fn unsupported_fields(spec: &Spec) -> Vec<&'static str> {
    let mut out = Vec::new();
    if let Some(p) = spec.process() {
        if p.apparmor_profile()
            .as_deref()
            .is_some_and(|v| !v.is_empty())
        {
            out.push("process.apparmorProfile");
        }
        if p.selinux_label().as_deref().is_some_and(|v| !v.is_empty()) {
            out.push("process.selinuxLabel");
        }
        if p.io_priority().is_some() {
            out.push("process.ioPriority");
        }
        if p.scheduler().is_some() {
            out.push("process.scheduler");
        }
    }
    if let Some(l) = spec.linux() {
        if l.mount_label().as_deref().is_some_and(|v| !v.is_empty()) {
            out.push("linux.mountLabel");
        }
        if l.personality().is_some() {
            out.push("linux.personality");
        }
        if l.intel_rdt().is_some() {
            out.push("linux.intelRdt");
        }
        if l.memory_policy().is_some() {
            out.push("linux.memoryPolicy");
        }
        if l.net_devices().as_ref().is_some_and(|d| !d.is_empty()) {
            out.push("linux.netDevices");
        }
    }
    out
}

fn annotations(spec: &Spec) -> std::collections::BTreeMap<String, String> {
    spec.annotations()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect()
}

/// Removes the state directory and cgroups if create fails half-way.
struct Cleanup {
    sdir: PathBuf,
    cgroups: Option<CgroupSet>,
    armed: bool,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if self.armed {
            if let Some(c) = &self.cgroups {
                c.remove();
            }
            let _ = fs::remove_dir_all(&self.sdir);
        }
    }
}

/// Waits for `pid` with every signal blocked, forwarding each signal to it; returns its exit
/// code (128 + signal when killed), reaping other children on the way.
pub(crate) fn wait_forwarding(pid: i32) -> i32 {
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        loop {
            // Reap first: the child may have exited before we got here.
            loop {
                let mut status = 0;
                let r = libc::waitpid(-1, &mut status, libc::WNOHANG);
                if r <= 0 {
                    break;
                }
                if r == pid {
                    return exit_code(status);
                }
            }
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let sig = libc::sigwaitinfo(&all, &mut info);
            if sig <= 0 || sig == libc::SIGCHLD {
                continue;
            }
            libc::kill(pid, sig);
        }
    }
}

pub(crate) fn exit_code(status: libc::c_int) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        255
    }
}

// ---- the init process ----

fn init_main(c: &InitCtx<'_>) -> ! {
    let code = match init_inner(c) {
        Ok(never) => match never {},
        Err(e) => {
            send_msg(c.sync_w, b'E', &e.0);
            1
        }
    };
    unsafe { libc::_exit(code) }
}

fn init_inner(c: &InitCtx<'_>) -> Result<Infallible> {
    // Created by a caller in its own process (the engine's monitor): if that caller dies
    // before `start`, nobody will ever open the fifo, so the init goes with it instead of
    // waiting forever; without a fifo (`run_in_process`), it goes with it until it execs.
    // Cleared once started (below). A `runtime create` command exits after creating, as
    // runc's does, so its init must not be tied to it. Asked for first: the parent is
    // alive while it clones, and its move of the init to another CPU (below) gives it time
    // to die, which a signal asked for afterwards would never report.
    if c.stdio.is_some() {
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) };
        // A parent that died before the signal was asked for never sends it: its pidfd
        // says whether it has (pipes do not, a child of the parent may hold their ends).
        if let Some(fd) = c.parent {
            let mut pfd = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            if unsafe { libc::poll(&mut pfd, 1, 0) } > 0 {
                unsafe { libc::_exit(1) };
            }
        }
    }
    if c.allowed.is_some() {
        // Moved off the parent's CPU first (see `cpu_placement`).
        if read_byte(c.go_r).ok() != Some(1) {
            unsafe { libc::_exit(1) };
        }
    }
    process::reset_signals();
    if let Some(stdio) = c.stdio {
        let mut keep = vec![c.go_r, c.sync_w];
        keep.extend(c.fifo);
        keep.extend(c.console);
        keep.extend(c.user_ns_path);
        keep.extend(c.join_ns.iter().map(|(_, fd)| *fd));
        adopt_stdio(stdio, &keep, c.preserve_fds)?;
    }
    if c.userns {
        // The parent writes the uid/gid maps first.
        if read_byte(c.go_r).ok() != Some(1) {
            unsafe { libc::_exit(1) };
        }
    }
    // The rest of the parent's work (cgroups) goes on while the root file system is built;
    // the gate is passed before anything that needs the cgroups.
    let gate = Gate {
        fd: c.go_r,
        passed: std::cell::Cell::new(false),
        cgroupns: c.cgroupns,
        join: c.joins_cgroups_itself.then_some(c.cgroups),
        allowed: c.allowed,
    };
    let spec = c.spec;
    let linux = spec
        .linux()
        .as_ref()
        .ok_or_else(|| Error::new("no linux section"))?;
    let proc_cfg = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::new("no process"))?;

    for (flag, fd) in &c.join_ns {
        cvt(unsafe { libc::setns(*fd, *flag) }).ctx(|| format!("join namespace {flag:#x}"))?;
    }
    if c.userns {
        // Become the namespace's root (mapped by the parent) for the setup that follows.
        unsafe {
            libc::syscall(libc::SYS_setresgid, 0, 0, 0);
            libc::syscall(libc::SYS_setresuid, 0, 0, 0);
        }
    }
    if c.uts {
        if let Some(h) = spec.hostname() {
            cvt(unsafe { libc::sethostname(h.as_ptr() as *const libc::c_char, h.len()) })
                .ctx(|| format!("set hostname {h}"))?;
        }
        if let Some(d) = spec.domainname() {
            cvt(unsafe { libc::setdomainname(d.as_ptr() as *const libc::c_char, d.len()) })
                .ctx(|| format!("set domainname {d}"))?;
        }
    }
    unsafe { libc::umask(0) };

    let rp = linux.rootfs_propagation().as_deref();
    mounts::prepare_root(&c.rootfs, rp)?;
    let pass = || gate.pass();
    let mctx = MountCtx {
        rootfs: &c.rootfs,
        userns: c.userns,
        cgroupns: c.cgroupns,
        cgroups: c.cgroups,
        before_cgroups: &pass,
    };
    let spec_mounts = spec.mounts().as_deref().unwrap_or(&[]);
    mounts::mount_all(spec_mounts, &mctx)?;
    let own_dev = spec_mounts.iter().any(|m| {
        m.destination() == Path::new("/dev")
            && m.typ().as_deref() != Some("bind")
            && !m
                .options()
                .iter()
                .flatten()
                .any(|o| o == "bind" || o == "rbind")
    });
    mounts::create_devices(linux.devices().as_deref().unwrap_or(&[]), own_dev, &mctx)?;
    if let Some(h) = spec.hooks() {
        hooks::run_in_container("createContainer", h.create_container().as_ref(), "creating")?;
    }
    // The old root's detach goes on in a child until `old_root.wait()`, which comes before
    // anything of the container's runs or is loaded (see `mounts::OldRoot`).
    let mut old_root = Some(mounts::pivot_root(&c.rootfs)?);
    if mounts::shares_root(rp) {
        // A recursive propagation change of `/` would reach the old root stacked on it.
        wait_detached(&mut old_root)?;
    }
    mounts::finish_root_propagation(rp)?;
    if let Some(s) = linux.sysctl() {
        mounts::sysctl(s)?;
    }

    // The terminal: created in the container's own devpts, master sent to the caller.
    let pty = match c.console {
        Some(sock) => {
            let pty = console::open_pty().ctx(|| "open a pty in the container")?;
            if let Some(size) = proc_cfg.console_size() {
                console::set_size(pty.slave.as_raw_fd(), size.height(), size.width());
            }
            console::send_fd(sock, pty.master.as_raw_fd(), "/dev/ptmx")
                .ctx(|| "send the pty to the console socket")?;
            unsafe { libc::close(sock) };
            if own_dev {
                mounts::bind_console(&pty.slave_path)?;
            }
            Some(pty)
        }
        None => None,
    };

    mounts::mask_paths(linux.masked_paths().as_deref().unwrap_or(&[]))?;
    mounts::readonly_paths(linux.readonly_paths().as_deref().unwrap_or(&[]))?;
    if spec.root().as_ref().and_then(|r| r.readonly()) == Some(true) {
        mounts::readonly_root()?;
    }

    let cwd = proc_cfg.cwd();
    if unsafe { libc::chdir(cpath(cwd).as_ptr()) } != 0 {
        let _ = fs::create_dir_all(cwd);
        cvt(unsafe { libc::chdir(cpath(cwd).as_ptr()) })
            .ctx(|| format!("chdir to cwd {} set in config.json", cwd.display()))?;
    }
    match &pty {
        Some(p) => {
            console::make_controlling(&p.slave).ctx(|| "make the pty the controlling terminal")?
        }
        None => {
            unsafe { libc::setsid() };
        }
    }
    drop(pty);

    gate.pass()?;
    if let Some(w) = process::apply_rlimits(proc_cfg)? {
        send_msg(c.sync_w, b'W', &w);
    }
    let launch = process::prepare_launch(proc_cfg)?;
    // Before the seccomp filter (which might not allow the wait), the identity switch, the
    // hooks and the exec: from here on the old root is gone.
    wait_detached(&mut old_root)?;
    let nnp = proc_cfg.no_new_privileges() == Some(true);
    if let (Some(p), false) = (&c.seccomp, nnp) {
        // Without no_new_privileges, loading a filter needs CAP_SYS_ADMIN: load it while the
        // process still has it (runc does the same).
        seccomp::apply(p).ctx(|| "load seccomp filter")?;
    }
    process::set_identity(proc_cfg, !c.userns || linux.gid_mappings().is_some())?;
    process::cloexec_from(c.preserve_fds);

    if let Some(fifo) = c.fifo {
        // Ready: the parent sees EOF on the sync pipe and returns; `start` opens the fifo.
        unsafe { libc::close(c.sync_w) };
        let path = format!("/proc/self/fd/{fifo}");
        let fd = cvt(unsafe {
            libc::open(
                crate::util::cstr(&path).as_ptr(),
                libc::O_WRONLY | libc::O_CLOEXEC,
            )
        })
        .ctx(|| "open exec fifo")?;
        let _ = write_byte(fd);
        unsafe {
            libc::close(fd);
            libc::close(fifo);
            if c.stdio.is_some() {
                // Started: from here the container outlives its monitor, as podman's do.
                libc::prctl(libc::PR_SET_PDEATHSIG, 0 as libc::c_ulong);
            }
        }
        if let Some(h) = spec.hooks() {
            hooks::run_in_container("startContainer", h.start_container().as_ref(), "created")?;
        }
    } else if c.stdio.is_some() {
        // Started at once: from here the container outlives its monitor.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, 0 as libc::c_ulong) };
    }
    if let (Some(p), true) = (&c.seccomp, nnp) {
        seccomp::apply(p).ctx(|| "load seccomp filter")?;
    }
    let e = process::exec(&launch);
    Err(Error(format!("exec {:?}: {e}", launch.path)))
}

/// Waits for the old root's detach, if not waited for yet.
fn wait_detached(old_root: &mut Option<mounts::OldRoot>) -> Result<()> {
    match old_root.take() {
        Some(d) => d.wait(),
        None => Ok(()),
    }
}

/// The init of an in-process create: the caller's chosen streams become 0, 1 and 2, and the
/// caller's other close-on-exec descriptors (its database, its locks) are closed now rather
/// than at the container's exec, as a runtime of its own exec would never have had them.
/// `keep`: the init's own descriptors. `preserve`: how many descriptors from 3 on the
/// container gets (`--preserve-fds`); every other one is closed by its exec anyway
/// (`process::cloexec_from`).
pub(crate) fn adopt_stdio(stdio: [RawFd; 3], keep: &[RawFd], preserve: u32) -> Result<()> {
    // Copies above 2 first, so that a source among 0..2 is not overwritten before its turn.
    let mut copies = [0; 3];
    for (copy, fd) in copies.iter_mut().zip(stdio) {
        *copy = cvt(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) })
            .ctx(|| format!("duplicate the container's stdio descriptor {fd}"))?;
    }
    for (target, copy) in copies.into_iter().enumerate() {
        cvt(unsafe { libc::dup2(copy, target as RawFd) })
            .ctx(|| format!("set the container's descriptor {target}"))?;
    }
    // With nothing preserved, every descriptor but `keep` goes at the exec, whether
    // close-on-exec or not: closed at once by ranges (a few system calls, 0.2 ms less than
    // listing /proc/self/fd in the init, uprobes).
    if preserve == 0 && close_all_but(keep) {
        return Ok(());
    }
    let open: Vec<RawFd> = fs::read_dir("/proc/self/fd")
        .ctx(|| "list /proc/self/fd")?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    for fd in open.into_iter().filter(|fd| *fd > 2 && !keep.contains(fd)) {
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        if flags >= 0 && flags & libc::FD_CLOEXEC != 0 {
            unsafe { libc::close(fd) };
        }
    }
    Ok(())
}

/// Closes every descriptor from 3 on but `keep`, with `close_range`; false if the kernel
/// refused a range (before Linux 5.9), which leaves the rest open.
fn close_all_but(keep: &[RawFd]) -> bool {
    let mut kept: Vec<u32> = keep
        .iter()
        .filter(|fd| **fd > 2)
        .map(|fd| *fd as u32)
        .collect();
    kept.sort_unstable();
    let mut first = 3u32;
    for k in kept.into_iter().chain([u32::MAX]) {
        if k > first {
            let r = unsafe { libc::syscall(libc::SYS_close_range, first, k - 1, 0u32) };
            if r != 0 {
                return false;
            }
        }
        first = k.saturating_add(1);
    }
    true
}

/// The parent's "go": its cgroup work is done, and the init is in its cgroups or moves
/// itself there (`join`) on passing.
struct Gate<'a> {
    fd: RawFd,
    passed: std::cell::Cell<bool>,
    cgroupns: bool,
    join: Option<&'a CgroupSet>,
    allowed: Option<CpuSet>,
}

impl Gate<'_> {
    fn pass(&self) -> Result<()> {
        if self.passed.get() {
            return Ok(());
        }
        if read_byte(self.fd).ok() != Some(1) {
            // The parent failed and says why; nothing to add.
            unsafe { libc::_exit(1) };
        }
        unsafe { libc::close(self.fd) };
        self.passed.set(true);
        if let Some(cgroups) = self.join {
            cgroups
                .join_self()
                .ctx(|| "move the container's init into its cgroups")?;
        }
        if self.cgroupns {
            cvt(unsafe { libc::unshare(libc::CLONE_NEWCGROUP) })
                .ctx(|| "create cgroup namespace")?;
        }
        // The CPUs it was created with (the parent moved it off its own only to start):
        // after the parent's "go", so that the parent's move cannot come after this.
        if let Some(allowed) = &self.allowed {
            allowed.apply_to(0);
        }
        Ok(())
    }
}

// ---- start, state, kill, delete ----

pub fn start(g: &Global, id: &str) -> Result<()> {
    let st = State::load(&g.root, id)?;
    match st.status(&g.root) {
        Status::Created => {}
        Status::Stopped => crate::bail!("cannot start a container that has stopped"),
        Status::Running => crate::bail!("cannot start an already running container"),
    }
    let fifo = st.fifo_path(&g.root);
    let c = cpath(&fifo);
    let fd = cvt(unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    })
    .ctx(|| format!("open {}", fifo.display()))?;
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    loop {
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let r = unsafe { libc::poll(&mut pfd, 1, 50) };
        if r > 0 {
            let mut b = [0u8; 1];
            let n = unsafe { libc::read(fd.as_raw_fd(), b.as_mut_ptr() as *mut libc::c_void, 1) };
            if n == 1 {
                break;
            }
        }
        if !st.init_alive() {
            crate::bail!("cannot start container {id}: its init process exited before start");
        }
    }
    fs::remove_file(&fifo).ctx(|| format!("remove {}", fifo.display()))?;
    if let Ok((spec, _)) = load_spec(&st.bundle) {
        poststart(&spec, id, &st)?;
    }
    Ok(())
}

pub fn state_json(g: &Global, id: &str) -> Result<String> {
    let st = State::load(&g.root, id)?;
    serde_json::to_string_pretty(&st.oci(&g.root)).ctx(|| "encode state")
}

pub fn parse_signal(s: &str) -> Result<i32> {
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
        crate::bail!("invalid signal: {s}");
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    let n = match name {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "ILL" => libc::SIGILL,
        "TRAP" => libc::SIGTRAP,
        "ABRT" | "IOT" => libc::SIGABRT,
        "BUS" => libc::SIGBUS,
        "FPE" => libc::SIGFPE,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "SEGV" => libc::SIGSEGV,
        "USR2" => libc::SIGUSR2,
        "PIPE" => libc::SIGPIPE,
        "ALRM" => libc::SIGALRM,
        "TERM" => libc::SIGTERM,
        "STKFLT" => libc::SIGSTKFLT,
        "CHLD" | "CLD" => libc::SIGCHLD,
        "CONT" => libc::SIGCONT,
        "STOP" => libc::SIGSTOP,
        "TSTP" => libc::SIGTSTP,
        "TTIN" => libc::SIGTTIN,
        "TTOU" => libc::SIGTTOU,
        "URG" => libc::SIGURG,
        "XCPU" => libc::SIGXCPU,
        "XFSZ" => libc::SIGXFSZ,
        "VTALRM" => libc::SIGVTALRM,
        "PROF" => libc::SIGPROF,
        "WINCH" => libc::SIGWINCH,
        "IO" | "POLL" => libc::SIGIO,
        "PWR" => libc::SIGPWR,
        "SYS" => libc::SIGSYS,
        _ => {
            if let Some(off) = name
                .strip_prefix("RTMIN+")
                .and_then(|n| n.parse::<i32>().ok())
            {
                libc::SIGRTMIN() + off
            } else if let Some(off) = name
                .strip_prefix("RTMAX-")
                .and_then(|n| n.parse::<i32>().ok())
            {
                libc::SIGRTMAX() - off
            } else {
                crate::bail!("unknown signal {s:?}")
            }
        }
    };
    Ok(n)
}

pub fn kill(g: &Global, id: &str, sig: i32, all: bool) -> Result<()> {
    let st = State::load(&g.root, id)?;
    if st.status(&g.root) == Status::Stopped && !all {
        crate::bail!("container not running");
    }
    if all {
        for pid in st.cgroups.pids() {
            unsafe { libc::kill(pid, sig) };
        }
        return Ok(());
    }
    cvt(unsafe { libc::kill(st.pid, sig) }).ctx(|| format!("kill container {id}"))?;
    Ok(())
}

/// Waits (up to ~5 s) for the container's processes to be gone.
fn wait_gone(st: &State) {
    for _ in 0..1000 {
        if !st.init_alive() && st.cgroups.pids().is_empty() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

fn destroy(g: &Global, st: &State, spec: &Spec) {
    st.cgroups.remove();
    let _ = fs::remove_dir_all(state::dir(&g.root, &st.id));
    if let Some(h) = spec.hooks() {
        let stj = hooks::state_json(
            &st.id,
            "stopped",
            0,
            &st.bundle.display().to_string(),
            &st.annotations,
        );
        let _ = hooks::run(
            "poststop",
            h.poststop().as_deref().unwrap_or(&[]),
            &stj,
            false,
        );
    }
}

pub fn delete(g: &Global, id: &str, force: bool) -> Result<()> {
    let st = match State::load(&g.root, id) {
        Ok(s) => s,
        Err(e) if force && e.0.starts_with("container does not exist") => return Ok(()),
        Err(e) => return Err(e),
    };
    match st.status(&g.root) {
        Status::Stopped => {}
        Status::Created => {
            unsafe { libc::kill(st.pid, libc::SIGKILL) };
            wait_gone(&st);
        }
        Status::Running if force => {
            unsafe { libc::kill(st.pid, libc::SIGKILL) };
            for pid in st.cgroups.pids() {
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            wait_gone(&st);
        }
        Status::Running => {
            crate::bail!("cannot delete container {id} that is not stopped: running")
        }
    }
    // Processes left behind by a dead init (no pid namespace) go too.
    if !st.namespaces.iter().any(|n| n == "pid") {
        for pid in st.cgroups.pids() {
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
    let spec = load_spec(&st.bundle).map(|s| s.0).unwrap_or_default();
    destroy(g, &st, &spec);
    Ok(())
}

pub fn list_states(g: &Global) -> Vec<State> {
    let mut out: Vec<State> = fs::read_dir(&g.root)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("state.json").exists())
        .filter_map(|e| State::load(&g.root, &e.file_name().to_string_lossy()).ok())
        .collect();
    out.sort_by(|a, b| a.created.cmp(&b.created));
    out
}
