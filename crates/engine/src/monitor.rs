//! The monitor: the process that starts a container through the runtime and stays with it.
//! It holds the container's stdio, writes its log, reaps it (as a child subreaper), records
//! its exit status and applies `--rm`. `run -d` and `start` re-exec the binary as a detached
//! monitor (`dermaga __monitor`); an attached `run` is its own monitor.
//!
//! The monitor holds `monitor.lock` for as long as the container may run, so a free lock with
//! a "running" state means a lost monitor, and `wait`/`stop` wait on the lock.

use std::fs::{self, File};
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::db::{Container, State};
use crate::deferred_removal::{hold_mount_namespace, Remover};
use crate::engine::Engine;
use crate::error::{Error, Result, EXIT_CANNOT_INVOKE, EXIT_NOT_FOUND};
use crate::logs::{LogWriter, Stream};
use crate::runtime::{classify_start_error, error_text, ContainerStdio, OciRuntime};
use crate::spec::{self, BundlePaths};
use crate::util::{now_ns, resolve_in_root, FileLock};
use dermaga_runtime::console::{copy_winsize, next_signal};

/// Signals the monitor takes through a signalfd: SIGCHLD to reap, the rest forwarded to the
/// container (podman's --sig-proxy).
const FORWARDED: [i32; 6] = [
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
];

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills the array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(Error::engine(format!(
            "pipe: {}",
            std::io::Error::last_os_error()
        )));
    }
    // SAFETY: fresh descriptors we own.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn set_nonblock(fd: RawFd) {
    // SAFETY: fcntl on a descriptor we own.
    unsafe {
        let fl = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK);
    }
}

fn read_fd(fd: RawFd, buf: &mut [u8]) -> isize {
    // SAFETY: buf is valid for its length.
    unsafe { libc::read(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) }
}

fn write_all_fd(fd: RawFd, mut data: &[u8]) {
    while !data.is_empty() {
        // SAFETY: data is valid for its length.
        let n = unsafe { libc::write(fd, data.as_ptr() as *const libc::c_void, data.len()) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            if e.raw_os_error() == Some(libc::EAGAIN) {
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
            return;
        }
        data = &data[n as usize..];
    }
}

/// The sync message a detached monitor sends its starter: one JSON line.
fn send_sync(sync: &mut Option<File>, r: std::result::Result<i32, &Error>) {
    if let Some(f) = sync.as_mut() {
        let msg = match r {
            Ok(pid) => serde_json::json!({"ok": true, "pid": pid}),
            Err(e) => serde_json::json!({"ok": false, "code": e.code, "msg": e.msg}),
        };
        let _ = writeln!(f, "{msg}");
    }
    *sync = None;
}

/// Reads the sync message (see `send_sync`).
pub fn parse_sync(msg: &str) -> Result<()> {
    let v: serde_json::Value = serde_json::from_str(msg.trim()).map_err(|_| {
        Error::engine(
            "the container's monitor died before starting it (see `dermaga system check`)",
        )
    })?;
    if v["ok"].as_bool() == Some(true) {
        return Ok(());
    }
    Err(Error {
        code: v["code"].as_u64().unwrap_or(125) as u8,
        msg: v["msg"].as_str().unwrap_or("unknown error").to_string(),
    })
}

/// Blocks the monitor's signals so they arrive on a signalfd; returns it.
fn signalfd() -> Result<OwnedFd> {
    // SAFETY: plain signal-set manipulation and signalfd creation.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGCHLD);
        libc::sigaddset(&mut set, libc::SIGWINCH);
        for s in FORWARDED {
            libc::sigaddset(&mut set, s);
        }
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        let fd = libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC);
        if fd < 0 {
            return Err(Error::engine(format!(
                "signalfd: {}",
                std::io::Error::last_os_error()
            )));
        }
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

/// Runs a container under this process as its monitor, to its end. `attached`: its stdio is
/// ours. `sync` (detached monitors): where to say that it started, or why not.
/// Returns the container's exit code.
pub fn run(eng: &Engine, id: &str, attached: bool, mut sync: Option<File>) -> Result<i32> {
    let p = eng.paths(id);
    let lock = match FileLock::try_exclusive(&p.lock()) {
        Ok(Some(l)) => l,
        Ok(None) => {
            let e = Error::engine(format!("container {id} is already running"));
            send_sync(&mut sync, Err(&e));
            return Err(e);
        }
        Err(e) => {
            send_sync(&mut sync, Err(&e));
            return Err(e);
        }
    };
    let sigfd = signalfd()?;
    let c = match eng.db.get(id) {
        Ok(c) => c,
        Err(e) => {
            send_sync(&mut sync, Err(&e));
            return Err(e);
        }
    };
    if c.state == State::Running {
        let e = Error::engine(format!("container {} is already running", c.name));
        send_sync(&mut sync, Err(&e));
        return Err(e);
    }
    let rt = eng.runtime_for(&c.config);
    let started = match start(eng, &c, &rt, attached) {
        Ok(s) => s,
        Err(e) => {
            let _ = rt.delete(&c.id, true);
            let _ = eng.unmount_rootfs(&c);
            let _ = eng.db.set_error(&c.id, &e.msg);
            if c.config.rm {
                let _ = eng.remove_locked(&c, true);
            }
            send_sync(&mut sync, Err(&e));
            return Err(e);
        }
    };
    send_sync(&mut sync, Ok(started.pid));
    let mut started = started;
    let held: Vec<OwnedFd> = started.mount_ns.take().into_iter().collect();
    let remover = started.remover.take();
    let (status, oom) = supervise(eng, &c, started, attached, &sigfd);
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        -1
    };
    if let Some(remover) = remover {
        // Someone waits for this command: what the container leaves on the host goes after
        // it returns (see `deferred_removal`).
        eng.remove_exited_handing_over(&c, remover)?;
        drop(lock);
        return Ok(code);
    }
    if c.config.rm && attached {
        eng.remove_exited_deferring_files(&c, &rt, held)?;
        drop(lock);
        return Ok(code);
    }
    drop(held);
    let _ = rt.delete(&c.id, true);
    let _ = eng.unmount_rootfs(&c);
    if c.config.rm {
        eng.record_exit_and_remove(&c, code, oom)?;
    } else {
        eng.db.set_exited(&c.id, code, oom, now_ns(), "")?;
    }
    drop(lock);
    Ok(code)
}

/// A container created and started, with the monitor's ends of its stdio.
struct Started {
    pid: i32,
    stdin: Option<OwnedFd>,
    stdout: Option<OwnedFd>,
    stderr: Option<OwnedFd>,
    console: Option<OwnedFd>,
    /// The container's mount namespace, for an attached `--rm` (see
    /// `deferred_removal::hold_mount_namespace`).
    mount_ns: Option<OwnedFd>,
    /// For an attached `--rm`: the child that removes what the container leaves.
    remover: Option<Remover>,
}

/// Checks that the command exists and is executable in the root file system, as podman's
/// exit codes need (127, 126) and faster than asking the runtime.
pub fn check_executable(
    rootfs: &Path,
    cmd: &str,
    path_env: Option<&str>,
    cwd: &str,
    mount_dsts: &[&str],
) -> Result<()> {
    let under_mount = |p: &str| {
        mount_dsts
            .iter()
            .any(|d| p == *d || p.starts_with(&format!("{d}/")))
    };
    let candidates: Vec<String> = if cmd.contains('/') {
        let full = if cmd.starts_with('/') {
            cmd.to_string()
        } else {
            format!("{cwd}/{cmd}")
        };
        vec![full]
    } else {
        path_env
            .unwrap_or(spec::DEFAULT_PATH)
            .split(':')
            .filter(|d| !d.is_empty())
            .map(|d| format!("{d}/{cmd}"))
            .collect()
    };
    let mut denied = None;
    for cand in &candidates {
        if under_mount(cand) {
            return Ok(());
        }
        let real = resolve_in_root(rootfs, cand, true);
        let Ok(md) = fs::metadata(&real) else {
            continue;
        };
        use std::os::unix::fs::PermissionsExt;
        if md.is_file() && md.permissions().mode() & 0o111 != 0 {
            return Ok(());
        }
        denied = Some(cand.clone());
        if cmd.contains('/') {
            break;
        }
    }
    if let Some(d) = denied {
        return Err(Error {
            code: EXIT_CANNOT_INVOKE,
            msg: format!(
                "crun: {d}: permission denied: OCI permission denied (the file is not executable)"
            )
            .replacen("crun: ", "", 1),
        });
    }
    let what = if cmd.contains('/') {
        format!("{cmd}: no such file or directory")
    } else {
        format!("executable file `{cmd}` not found in $PATH: No such file or directory")
    };
    Err(Error {
        code: EXIT_NOT_FOUND,
        msg: format!("{what}: OCI runtime attempted to invoke a command that was not found"),
    })
}

fn say_rlimit_notes_once(eng: &Engine, notes: &[String]) {
    if notes.is_empty() {
        return;
    }
    let marker = eng.root.join(".rlimits-noted");
    if marker.exists() {
        return;
    }
    let _ = fs::write(&marker, notes.join("\n"));
    for n in notes {
        eprintln!("dermaga: note: {n} (said once per store)");
    }
}

fn start(eng: &Engine, c: &Container, rt: &OciRuntime, attached: bool) -> Result<Started> {
    let p = eng.paths(&c.id);
    let cfg = &c.config;
    eng.ensure_run_files(c)?;
    let rootfs = eng.mount_rootfs(c)?;
    let user = spec::resolve_user(&rootfs, &cfg.user)?;
    let (rlimits, notes) = spec::rlimits(cfg);
    if attached {
        say_rlimit_notes_once(eng, &notes);
    }
    let volumes_dir = eng.volumes_dir();
    let (hosts, hostname, resolv) = (p.hosts(), p.hostname(), p.resolv_conf());
    let userns_path = eng.userns_path(cfg)?;
    // Our runtime in this process joins a namespace by path as it makes one; an external
    // runtime, or a user namespace (which must own the network namespace), makes its own.
    let own_userns = userns_path.is_some() || !cfg.uid_map.is_empty() || !cfg.gid_map.is_empty();
    let netns = (rt.in_process() && cfg.network != "host" && !own_userns)
        .then(crate::runtime::take_network_namespace)
        .flatten();
    let netns_path = netns
        .as_ref()
        .map(|fd| std::path::PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd())));
    let bp = BundlePaths {
        rootfs: &rootfs,
        hosts: &hosts,
        hostname: &hostname,
        resolv_conf: &resolv,
        volumes_dir: &volumes_dir,
        userns_path: userns_path.as_deref(),
        netns_path: netns_path.as_deref(),
    };
    let spec = spec::build(&c.id, cfg, &bp, &user, rlimits)?;
    let cwd = if cfg.workdir.is_empty() {
        "/"
    } else {
        cfg.workdir.as_str()
    };
    if cwd != "/" {
        let d = resolve_in_root(&rootfs, cwd, true);
        if !d.exists() {
            let _ = fs::create_dir_all(&d);
        }
    }
    let argv = cfg.argv();
    let dsts: Vec<&str> = cfg.mounts.iter().map(|m| m.destination.as_str()).collect();
    check_executable(&rootfs, &argv[0], cfg.env_value("PATH"), cwd, &dsts)?;
    let write_config = |spec: &oci_spec::runtime::Spec| -> Result<()> {
        let json = serde_json::to_vec(spec)?;
        fs::write(p.config_json(), json)
            .map_err(|e| Error::engine(format!("writing config.json: {e}")))
    };
    let in_process = rt.in_process();
    if !in_process {
        write_config(&spec)?;
    }

    // SAFETY: prctl with constant arguments.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    let (err_r, err_w) = pipe()?;
    let mut ours = Started {
        pid: 0,
        stdin: None,
        stdout: None,
        stderr: None,
        console: None,
        mount_ns: None,
        remover: None,
    };
    let mut listener = None;
    let mut console_sock = None;
    let mut socket_file = None;
    let (stdin, stdout) = if cfg.tty {
        // In the run root, not the container's directory: a socket's path must fit in
        // sockaddr_un (108 bytes), which a store root of 30 characters already overflows.
        let _ = fs::create_dir_all(&eng.runroot);
        let sock = eng.runroot.join(format!("console-{}.sock", &c.id[..12]));
        let _ = fs::remove_file(&sock);
        let l =
            UnixListener::bind(&sock).map_err(|e| Error::engine(format!("console socket: {e}")))?;
        socket_file = Some(RemoveOnDrop(sock.clone()));
        l.set_nonblocking(true).ok();
        listener = Some(l);
        console_sock = Some(sock);
        (dev_null()?, dev_null()?)
    } else {
        let (out_r, out_w) = pipe()?;
        ours.stdout = Some(out_r);
        let stdin = if cfg.interactive {
            let (in_r, in_w) = pipe()?;
            ours.stdin = Some(in_w);
            in_r
        } else {
            dev_null()?
        };
        (stdin, out_w)
    };
    let stdio = ContainerStdio {
        stdin,
        stdout,
        stderr: err_w,
    };
    let pid = if in_process {
        // Recorded as running while the init builds its root file system: it execs as
        // soon as it is ready, with no `start` after. The bundle's config.json (for
        // `exec`, `delete` and other runtimes; ours takes the spec as it is) is written
        // then too, off the start's path, before the record says "running".
        let mut cloned = |pid: i32, spec: &oci_spec::runtime::Spec| -> Result<()> {
            write_config(spec)?;
            eng.db
                .set_running(&c.id, pid, std::process::id() as i32, now_ns())?;
            if attached && cfg.rm {
                ours.remover = eng.fork_remover(c, rt, hold_mount_namespace(pid));
            }
            Ok(())
        };
        let created = rt.run_in_process(
            &c.id,
            &p.run,
            spec,
            &stdio,
            console_sock.clone(),
            &mut cloned,
        );
        drop(stdio); // our copies of the container's ends
        drop(netns); // the init is in it, or gone
        let pid = created.map_err(|msg| Error {
            code: classify_start_error(&msg),
            msg: format!("OCI runtime error: {msg}"),
        })?;
        if let Some(l) = &listener {
            // The init sent the terminal before create returned: it waits in the backlog.
            match l.accept() {
                Ok((conn, _)) => ours.console = Some(receive_fd(conn.as_raw_fd())?),
                Err(e) => return Err(Error::engine(format!("console socket: {e}"))),
            }
        }
        pid
    } else {
        let console = console_sock.as_deref().zip(listener.as_ref());
        let (pid, terminal) =
            create_by_command(rt, &c.id, &p.run, &p.pidfile(), stdio, console, &err_r)?;
        ours.console = terminal;
        pid
    };
    drop(socket_file);
    if cfg.tty {
        if ours.console.is_none() {
            return Err(Error::engine(
                "the OCI runtime did not send the container's terminal",
            ));
        }
    } else {
        ours.stderr = Some(err_r);
    }
    ours.pid = pid;
    if in_process {
        return Ok(ours);
    }
    if attached && cfg.rm {
        ours.mount_ns = hold_mount_namespace(pid);
    }
    eng.db
        .set_running(&c.id, pid, std::process::id() as i32, now_ns())?;
    if let Err(e) = rt.start(&c.id) {
        let _ = rt.kill(&c.id, libc::SIGKILL, true);
        let code = classify_start_error(&e.msg);
        return Err(Error { code, msg: e.msg });
    }
    Ok(ours)
}

/// A file removed when this goes out of scope, on every path.
struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// /dev/null for a stream the container does not get from us.
fn dev_null() -> Result<OwnedFd> {
    fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map(OwnedFd::from)
        .map_err(|e| Error::engine(format!("opening /dev/null: {e}")))
}

/// `create` through the runtime's command line: the runtime's own stdio is the container's
/// (its stderr also carries its error, read back from `err_r`), the pid comes back in a pid
/// file, and with a terminal (`console`: the socket's path and our listener) the runtime
/// sends it over the socket. Returns the pid and the terminal.
fn create_by_command(
    rt: &OciRuntime,
    id: &str,
    bundle: &Path,
    pidfile: &Path,
    stdio: ContainerStdio,
    console: Option<(&Path, &UnixListener)>,
    err_r: &OwnedFd,
) -> Result<(i32, Option<OwnedFd>)> {
    let _ = fs::remove_file(pidfile);
    let mut cmd = rt.command();
    cmd.arg("create")
        .arg("--bundle")
        .arg(bundle)
        .arg("--pid-file")
        .arg(pidfile);
    if let Some((sock, _)) = console {
        cmd.arg("--console-socket").arg(sock);
    }
    cmd.stdin(Stdio::from(stdio.stdin))
        .stdout(Stdio::from(stdio.stdout))
        .stderr(Stdio::from(stdio.stderr));
    cmd.arg(id);
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::engine(format!("cannot run the OCI runtime: {e}")))?;
    drop(cmd); // our copies of the container's ends
    let mut terminal = None;
    if let Some((_, l)) = console {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match l.accept() {
                Ok((conn, _)) => {
                    terminal = Some(receive_fd(conn.as_raw_fd())?);
                    break;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if let Ok(Some(_)) = child.try_wait() {
                        break;
                    }
                    if Instant::now() > deadline {
                        let _ = child.kill();
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => return Err(Error::engine(format!("console socket: {e}"))),
            }
        }
    }
    let status = child
        .wait()
        .map_err(|e| Error::engine(format!("waiting for the runtime: {e}")))?;
    if !status.success() {
        let mut text = Vec::new();
        set_nonblock(err_r.as_raw_fd());
        let mut buf = [0u8; 4096];
        loop {
            let n = read_fd(err_r.as_raw_fd(), &mut buf);
            if n <= 0 {
                break;
            }
            text.extend_from_slice(&buf[..n as usize]);
        }
        let msg = error_text(&text, b"");
        return Err(Error {
            code: classify_start_error(&msg),
            msg: format!("OCI runtime error: {msg}"),
        });
    }
    let pid = fs::read_to_string(pidfile)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| Error::engine("the OCI runtime wrote no pid file"))?;
    Ok((pid, terminal))
}

fn receive_fd(sock: RawFd) -> Result<OwnedFd> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let mut buf = [0u8; 4096];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    // The connection is blocking; the runtime sends right after connecting.
    let msg = recvmsg::<()>(sock, &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)
        .map_err(|e| Error::engine(format!("receiving the container's terminal: {e}")))?;
    for cm in msg
        .cmsgs()
        .map_err(|e| Error::engine(format!("console socket: {e}")))?
    {
        if let ControlMessageOwned::ScmRights(fds) = cm {
            if let Some(&fd) = fds.first() {
                // SAFETY: the kernel just gave us this descriptor.
                return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
    }
    Err(Error::engine("the OCI runtime sent no terminal descriptor"))
}

struct RawTerminal {
    saved: Option<nix::sys::termios::Termios>,
}

impl RawTerminal {
    fn enter() -> RawTerminal {
        use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
        let stdin = std::io::stdin();
        let Ok(saved) = tcgetattr(&stdin) else {
            return RawTerminal { saved: None };
        };
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        let _ = tcsetattr(&stdin, SetArg::TCSANOW, &raw);
        RawTerminal { saved: Some(saved) }
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        if let Some(s) = &self.saved {
            let _ = nix::sys::termios::tcsetattr(
                std::io::stdin(),
                nix::sys::termios::SetArg::TCSANOW,
                s,
            );
        }
    }
}

/// Gives back the pages start-up touched (argument parsing, the database, the spec): a
/// detached monitor lives as long as its container and needs only its copy loop, whose pages
/// come back from the page cache on first use.
///
/// Read-only file mappings (the binary's code and constants, the libraries') are dropped
/// from this process with `MADV_DONTNEED`: their contents are the file's, so nothing is lost,
/// and unlike `MADV_PAGEOUT` it works while the `dermaga` that started us still maps the same
/// pages. In a mapping that also holds copied-on-write pages (relocated data), only the pages
/// still the file's go, as /proc/self/pagemap tells them apart. The allocator returns its free
/// memory first, and the binary's own mappings go last (from the highest address down): each
/// page of code touched after its mapping is dropped comes back with up to 15 neighbours (the
/// kernel's fault-around), so as little as possible runs after.
fn release_startup_pages() {
    let Ok(smaps) = fs::read_to_string("/proc/self/smaps") else {
        return;
    };
    let pagemap = File::open("/proc/self/pagemap").ok();
    // (start, end, read-only, has copied-on-write pages) of each file mapping.
    let mut maps: Vec<(usize, usize, bool, bool)> = Vec::new();
    let mut current: Option<(usize, usize, bool)> = None;
    for line in smaps.lines() {
        let mut f = line.split_whitespace();
        let first = f.next().unwrap_or_default();
        if let Some((a, b)) = first.split_once('-') {
            // A mapping's header: range perms offset dev inode [path].
            let (Some(perms), Some(_), Some(_), Some(inode)) =
                (f.next(), f.next(), f.next(), f.next())
            else {
                current = None;
                continue;
            };
            let parsed = usize::from_str_radix(a, 16)
                .ok()
                .zip(usize::from_str_radix(b, 16).ok());
            current = match parsed {
                Some((a, b)) if inode != "0" => Some((a, b, !perms.contains('w'))),
                _ => None,
            };
        } else if first == "Anonymous:" {
            // The header's fields are all read by now.
            if let Some((a, b, ro)) = current.take() {
                maps.push((a, b, ro, f.next() != Some("0")));
            }
        }
    }
    // SAFETY: glibc's malloc_trim only returns free memory to the system.
    unsafe { libc::malloc_trim(0) };
    release_unused_stack(&smaps);
    drop(smaps);
    for &(a, b, ro, cow) in maps.iter().rev() {
        match (ro, cow) {
            // SAFETY: a read-only, file-backed mapping of our own with no private copies:
            // dropped pages are read again from the file when touched.
            (true, false) => unsafe {
                libc::madvise(a as *mut libc::c_void, b - a, libc::MADV_DONTNEED);
            },
            (true, true) => {
                if let Some(pm) = &pagemap {
                    release_file_pages(pm, a, b);
                }
            }
            _ => {}
        }
    }
}

/// Drops the pages of the read-only file mapping `a..b` that are still the file's (pagemap's
/// bit 61), keeping the copied-on-write ones, which hold what the file does not.
fn release_file_pages(pagemap: &File, a: usize, b: usize) {
    use std::os::unix::fs::FileExt;
    const PAGE: usize = 4096;
    const FILE_PAGE: u64 = 1 << 61;
    let n = (b - a) / PAGE;
    let mut raw = vec![0u8; n * 8];
    if pagemap
        .read_exact_at(&mut raw, (a / PAGE * 8) as u64)
        .is_err()
    {
        return;
    }
    let is_file = |i: usize| {
        let mut e = [0u8; 8];
        e.copy_from_slice(&raw[i * 8..i * 8 + 8]);
        u64::from_ne_bytes(e) & FILE_PAGE != 0
    };
    let mut i = 0;
    while i < n {
        if !is_file(i) {
            i += 1;
            continue;
        }
        let run = i;
        while i < n && is_file(i) {
            i += 1;
        }
        // SAFETY: these pages of our own read-only mapping are the file's unchanged pages;
        // touched again, they are read from the file as they were.
        unsafe {
            libc::madvise(
                (a + run * PAGE) as *mut libc::c_void,
                (i - run) * PAGE,
                libc::MADV_DONTNEED,
            )
        };
    }
}

/// Drops the pages of this thread's stack below the current frame (deep start-up calls left
/// them dirty); what is below the stack pointer holds nothing, and pages touched again come
/// back zeroed. A page of margin stays for the frames of the calls right after this one.
fn release_unused_stack(smaps: &str) {
    let marker = 0u8;
    let sp = std::hint::black_box(&marker) as *const u8 as usize;
    let page = 4096usize;
    for line in smaps.lines() {
        if !line.ends_with("[stack]") {
            continue;
        }
        let Some((a, b)) = line
            .split_whitespace()
            .next()
            .and_then(|r| r.split_once('-'))
        else {
            return;
        };
        let (Ok(lo), Ok(hi)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16)) else {
            return;
        };
        if !(lo..hi).contains(&sp) {
            return;
        }
        let end = (sp & !(page - 1)).saturating_sub(16 * page);
        if end > lo {
            // SAFETY: the range lies wholly below the live part of our own stack.
            unsafe { libc::madvise(lo as *mut libc::c_void, end - lo, libc::MADV_DONTNEED) };
        }
        return;
    }
}

/// Copies the container's output to its log (and our stdio when attached), forwards signals
/// and input, and reaps. Returns the wait status and whether the OOM killer struck.
fn supervise(
    eng: &Engine,
    c: &Container,
    s: Started,
    attached: bool,
    sigfd: &OwnedFd,
) -> (i32, bool) {
    let p = eng.paths(&c.id);
    let mut log = LogWriter::new(&p.log());
    if !attached {
        // Nothing is recorded until the container ends: the connection's memory and its
        // shared-memory index are given back meanwhile.
        eng.db.close_while_idle();
    }
    // Start-up pages go right before the first wait, so that little code runs after.
    let mut release_pending = !attached;
    let _raw = (attached && c.config.tty && c.config.interactive).then(RawTerminal::enter);
    let mut stdin_open = attached && c.config.interactive;
    let mut container_in = s.stdin;
    let console = s.console;
    if let (Some(con), true) = (&console, attached) {
        copy_winsize(0, con.as_raw_fd());
    }
    let mut outs: Vec<(OwnedFd, Stream)> = Vec::new();
    if let Some(o) = s.stdout {
        outs.push((o, Stream::Stdout));
    }
    if let Some(e) = s.stderr {
        outs.push((e, Stream::Stderr));
    }
    for (fd, _) in &outs {
        set_nonblock(fd.as_raw_fd());
    }
    if let Some(con) = &console {
        set_nonblock(con.as_raw_fd());
    }
    let console_fd = console.as_ref().map(|c| c.as_raw_fd());
    let mut console_open = console.is_some();
    let mut status: Option<i32> = None;
    let mut exited_at: Option<Instant> = None;
    // As conmon's: a container's output moves through in pipe-sized reads, and a larger buffer
    // would be resident for the container's whole life.
    let mut buf = vec![0u8; 16384];
    loop {
        let outputs_open = !outs.is_empty() || console_open;
        if status.is_some()
            && (!outputs_open
                || exited_at.is_some_and(|t| t.elapsed() > Duration::from_millis(500)))
        {
            break;
        }
        let mut pfds: Vec<libc::pollfd> = Vec::new();
        pfds.push(libc::pollfd {
            fd: sigfd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        });
        for (fd, _) in &outs {
            pfds.push(libc::pollfd {
                fd: fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        if console_open {
            pfds.push(libc::pollfd {
                fd: console_fd.unwrap(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        let stdin_idx = pfds.len();
        if stdin_open {
            pfds.push(libc::pollfd {
                fd: 0,
                events: libc::POLLIN,
                revents: 0,
            });
        }
        let timeout = if status.is_some() { 50 } else { -1 };
        if std::mem::take(&mut release_pending) {
            release_startup_pages();
        }
        // SAFETY: pfds is a valid array of pollfd.
        let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, timeout) };
        if n < 0 {
            continue;
        }
        // Signals.
        if pfds[0].revents != 0 {
            while let Some(sig) = next_signal(sigfd.as_raw_fd()) {
                if sig == libc::SIGWINCH {
                    if let (Some(con), true) = (console_fd, attached) {
                        copy_winsize(0, con);
                    }
                } else if sig != libc::SIGCHLD && status.is_none() {
                    // SAFETY: signalling the container's init, which we reap (no reuse yet).
                    unsafe { libc::kill(s.pid, sig) };
                }
            }
            // Reap whatever exited: the container, or orphans of it given to us.
            loop {
                let mut st = 0;
                // SAFETY: waitpid with a valid status pointer.
                let r = unsafe { libc::waitpid(-1, &mut st, libc::WNOHANG) };
                if r <= 0 {
                    break;
                }
                if r == s.pid {
                    status = Some(st);
                    exited_at = Some(Instant::now());
                }
            }
        }
        // Output.
        let mut i = 1;
        let mut closed = Vec::new();
        for (k, (fd, stream)) in outs.iter().enumerate() {
            if pfds[i].revents != 0 {
                let n = read_fd(fd.as_raw_fd(), &mut buf);
                if n > 0 {
                    let data = &buf[..n as usize];
                    log.write(*stream, data);
                    if attached {
                        write_all_fd(if *stream == Stream::Stderr { 2 } else { 1 }, data);
                    }
                } else if n == 0
                    || std::io::Error::last_os_error().raw_os_error() != Some(libc::EAGAIN)
                {
                    closed.push(k);
                }
            }
            i += 1;
        }
        for k in closed.into_iter().rev() {
            outs.remove(k);
        }
        if console_open && pfds[i].revents != 0 {
            let n = read_fd(console_fd.unwrap(), &mut buf);
            if n > 0 {
                let data = &buf[..n as usize];
                log.write(Stream::Stdout, data);
                if attached {
                    write_all_fd(1, data);
                }
            } else if n == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EAGAIN)
            {
                console_open = false;
            }
        }
        // Input.
        if stdin_open && pfds[stdin_idx].revents != 0 {
            let n = read_fd(0, &mut buf);
            if n > 0 {
                let data = &buf[..n as usize];
                if let Some(con) = console_fd {
                    write_all_fd(con, data);
                } else if let Some(w) = &container_in {
                    write_all_fd(w.as_raw_fd(), data);
                }
            } else {
                stdin_open = false;
                container_in = None; // EOF for the container
            }
        }
    }
    drop(container_in);
    let status = status.unwrap_or(0);
    (status, oom_killed(&c.id))
}

/// Whether the kernel's OOM killer struck in the container's memory cgroup.
fn oom_killed(id: &str) -> bool {
    let cg = spec::cgroup_path(id);
    let v1 = format!("/sys/fs/cgroup/memory{cg}/memory.oom_control");
    let v2 = format!("/sys/fs/cgroup{cg}/memory.events");
    for (path, key) in [(v1, "oom_kill "), (v2, "oom_kill ")] {
        if let Ok(text) = fs::read_to_string(&path) {
            if let Some(n) = text.lines().find_map(|l| l.strip_prefix(key)) {
                return n.trim().parse::<u64>().unwrap_or(0) > 0;
            }
        }
    }
    false
}

/// `dermaga __monitor`, first step: keeps the sync pipe (fd 3) from the runtime and the
/// container, and detaches (fork; the parent exits at once). Call it before opening the
/// database: an SQLite connection must not cross a fork.
pub fn detach() -> Option<File> {
    // SAFETY: fcntl on fd 3, which our starter set up.
    let sync = unsafe {
        if libc::fcntl(3, libc::F_SETFD, libc::FD_CLOEXEC) == 0 {
            Some(File::from_raw_fd(3))
        } else {
            None
        }
    };
    // SAFETY: single-threaded here; the child continues, the parent exits at once.
    match unsafe { libc::fork() } {
        -1 => {}
        0 => {}
        _ => unsafe { libc::_exit(0) },
    }
    sync
}

/// `dermaga __monitor`, second step: runs the container; its exit code.
pub fn detached_main(eng: &Engine, id: &str, sync: Option<File>) -> i32 {
    match run(eng, id, false, sync) {
        Ok(code) => code,
        Err(e) => e.code as i32,
    }
}

/// Runs `runtime exec` for a container; used by `dermaga exec`.
pub fn exec_command(
    rt: &OciRuntime,
    id: &str,
    process_file: &Path,
    tty: bool,
    detach: bool,
) -> Command {
    let mut cmd = rt.command();
    cmd.arg("exec").arg("--process").arg(process_file);
    if tty {
        cmd.arg("--tty");
    }
    if detach {
        cmd.arg("--detach");
    }
    cmd.arg(id);
    cmd
}
