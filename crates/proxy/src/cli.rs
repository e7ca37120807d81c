//! haproxy's command line (`dermaga proxy ARGS`), parsed by hand to match it exactly.
//!
//! `-f FILE|DIR` (repeatable), `-c`, `-d` (and the other `-d…`), `-D`, `-p PIDFILE`, `-q`, `-V`,
//! `-v`/`-vv`, `-L NAME`, `-cc EXPR`. The master-worker and seamless-reload options (`-W`,
//! `-Ws`, `-S`, `-sf`, `-st`, `-x`) are refused by name. Signals as haproxy: SIGUSR1 soft stop,
//! SIGTERM/SIGINT immediate stop, SIGHUP logs the servers' states; SIGUSR2 (haproxy's reload
//! in master-worker mode) reloads the certificates and TLS settings of the listeners.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::config;
use crate::{Proxy, StartOptions};

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn usage() -> String {
    format!(
        "dermaga proxy {VERSION} (haproxy 2.6 command line)\n\
Usage : dermaga proxy [-f <cfgfile|cfgdir>]* [ -vdVD ] [ -n <maxconn> ] [ -N <maxpconn> ]\n\
        [ -p <pidfile> ] [ -m <max megs> ] [ -C <dir> ] [-- <cfgfile>*]\n\
        -v displays version ; -vv shows known build options.\n\
        -d enters debug mode ; -db only disables background mode.\n\
        -dM[<byte>,help,...] debug memory (default: poison with <byte>/0x50)\n\
        -V enters verbose mode (disables quiet mode)\n\
        -D goes daemon ; -C changes to <dir> before loading files.\n\
        -W master-worker mode (not supported by dermaga yet).\n\
        -q quiet mode : don't display messages\n\
        -c check mode : only check config files and exit\n\
        -cc check condition : evaluate a condition and exit\n\
        -n sets the maximum total # of connections (uses ulimit -n)\n\
        -m limits the usable amount of memory (in MB)\n\
        -N sets the default, per-proxy maximum # of connections (0)\n\
        -L set local peer name (default to hostname)\n\
        -p writes pids of all children to this file\n\
        -dS disables splice usage (broken on old kernels)\n\
        -dr ignores server address resolution failures\n\
        -sf/-st [pid ]* finishes/terminates old pids (not supported by dermaga yet).\n\
        -x <unix_socket> get listening sockets from a unix socket (not supported by dermaga yet)\n\
        -S <bind>[,<bind options>...] new master CLI (not supported by dermaga yet)\n\
\n"
    )
}

#[derive(Default)]
struct Args {
    files: Vec<PathBuf>,
    check: bool,
    cond: Option<String>,
    debug: bool,
    daemon: bool,
    foreground: bool,
    pidfile: Option<PathBuf>,
    quiet: bool,
    verbose: bool,
    version: u8,
    maxconn: Option<u32>,
    chdir: Option<PathBuf>,
}

enum Parsed {
    Run(Args),
    Exit(ExitCode),
}

fn refuse(opt: &str, what: &str) -> Parsed {
    eprintln!(
        "[ALERT]    ({}) : '{opt}' ({what}) is not supported by dermaga yet.",
        std::process::id()
    );
    Parsed::Exit(ExitCode::from(1))
}

fn parse(args: Vec<OsString>) -> Parsed {
    let args: Vec<String> = args
        .into_iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let mut a = Args::default();
    let mut i = 0;
    let bad = || {
        eprint!("{}", usage());
        Parsed::Exit(ExitCode::from(1))
    };
    while i < args.len() {
        let arg = args[i].as_str();
        let value = |i: &mut usize| -> Option<String> {
            *i += 1;
            args.get(*i).cloned()
        };
        match arg {
            "--" => {
                a.files.extend(args[i + 1..].iter().map(PathBuf::from));
                break;
            }
            "-f" => match value(&mut i) {
                Some(v) => a.files.push(PathBuf::from(v)),
                None => return bad(),
            },
            "-c" => a.check = true,
            "-cc" => match value(&mut i) {
                Some(v) => a.cond = Some(v),
                None => return bad(),
            },
            "-D" => a.daemon = true,
            "-q" => a.quiet = true,
            "-V" => a.verbose = true,
            "-v" => a.version = a.version.max(1),
            "-vv" => a.version = 2,
            "-p" => match value(&mut i) {
                Some(v) => a.pidfile = Some(PathBuf::from(v)),
                None => return bad(),
            },
            "-L" | "-N" | "-m" => {
                if value(&mut i).is_none() {
                    return bad();
                }
            }
            "-n" => match value(&mut i).and_then(|v| v.parse().ok()) {
                Some(v) => a.maxconn = Some(v),
                None => return bad(),
            },
            "-C" => match value(&mut i) {
                Some(v) => a.chdir = Some(PathBuf::from(v)),
                None => return bad(),
            },
            "-W" => return refuse("-W", "master-worker mode"),
            "-Ws" => return refuse("-Ws", "master-worker mode with systemd notify"),
            "-S" => return refuse("-S", "master CLI"),
            "-sf" => return refuse("-sf", "soft reload of old processes"),
            "-st" => return refuse("-st", "hard reload of old processes"),
            "-x" => return refuse("-x", "listening sockets from a UNIX socket"),
            _ if arg.starts_with("-d") => {
                // -d, -db (foreground), -dS, -dr, -dM..., -dW, -dD, -dV, ...: accepted.
                if arg == "-d" {
                    a.debug = true;
                }
                a.foreground = true;
            }
            _ if arg.starts_with('-') => return bad(),
            _ => {
                // haproxy takes trailing non-option arguments as configuration files too.
                a.files.push(PathBuf::from(arg));
            }
        }
        i += 1;
    }
    Parsed::Run(a)
}

fn print_version(level: u8) {
    println!(
        "dermaga proxy version {VERSION} (haproxy {} compatible)",
        config::HAPROXY_COMPAT_VERSION
    );
    println!("Status: development.");
    if level >= 2 {
        println!();
        println!(
            "Build options : Rust, tokio current-thread runtime per thread, httparse, splice(2)"
        );
        println!();
        println!("Feature list : {}", config::FEATURES);
        println!();
        println!("Default settings :");
        println!("  bufsize = 16384, maxrewrite = 1024, maxpollevents = 200");
        println!();
        println!("Available polling systems :");
        println!("      epoll : pref=300,  test result OK");
        println!("Total: 1 (1 usable), will use epoll.");
        println!();
        println!("Available multiplexer protocols :");
        println!("              h1 : mode=HTTP  side=FE|BE  mux=H1  flags=HTX");
        println!("            none : mode=TCP   side=FE|BE  mux=PASS  flags=");
    }
}

/// Runs the command line; returns the process exit status.
pub fn main(args: Vec<OsString>) -> ExitCode {
    let a = match parse(args) {
        Parsed::Run(a) => a,
        Parsed::Exit(c) => return c,
    };
    let pid = std::process::id();
    if a.version > 0 {
        print_version(a.version);
        return ExitCode::SUCCESS;
    }
    if let Some(expr) = &a.cond {
        return match config::eval_condition_expr(expr) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::from(1),
            Err(d) => {
                eprintln!("{}", d.render(pid));
                ExitCode::from(2)
            }
        };
    }
    if let Some(dir) = &a.chdir {
        if let Err(e) = std::env::set_current_dir(dir) {
            eprintln!("[ALERT]    ({pid}) : Can't chdir({}) : {e}", dir.display());
            return ExitCode::from(1);
        }
    }
    if a.files.is_empty() {
        eprint!("{}", usage());
        return ExitCode::from(1);
    }
    crate::log::set_quiet(a.quiet && !a.verbose);
    let report = config::check(&a.files);
    if a.check {
        let quiet = a.quiet && report.is_valid();
        if !quiet {
            eprint!("{}", report.render_stderr(pid));
            for l in &report.stdout {
                println!("{l}");
            }
        }
        return ExitCode::from(report.exit_code.clamp(0, 255) as u8);
    }
    if !report.is_valid() {
        eprint!("{}", report.render_stderr(pid));
        return ExitCode::from(1);
    }
    if !a.quiet {
        eprint!("{}", report.render_stderr(pid));
    }
    let Some(mut cfg) = report.config else {
        return ExitCode::from(1);
    };
    if let Some(m) = a.maxconn {
        cfg.global.maxconn = Some(m);
    }
    if !cfg.frontends().any(|p| !p.binds.is_empty()) {
        eprintln!("[ALERT]    ({pid}) : [dermaga proxy.main()] No enabled listener found (check for 'bind' directives) ! Exiting.");
        return ExitCode::from(1);
    }
    let daemon = (a.daemon || cfg.global.daemon) && !a.foreground && !a.debug;
    let pidfile = a.pidfile.clone().or(cfg.global.pidfile.clone());
    if daemon && !daemonize() {
        return ExitCode::SUCCESS; // the parent
    }
    let global = cfg.global.clone();
    // Written before the listeners open: whoever sees the port open finds the pid there.
    if let Some(p) = &pidfile {
        if let Err(e) = std::fs::write(p, format!("{}\n", std::process::id())) {
            eprintln!(
                "[ALERT]    ({}) : Cannot create pidfile {} : {e}",
                std::process::id(),
                p.display()
            );
        }
    }
    let proxy = match Proxy::start(cfg, StartOptions::default()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("[ALERT]    ({}) : Starting proxy: {e}", std::process::id());
            if let Some(p) = &pidfile {
                let _ = std::fs::remove_file(p);
            }
            return ExitCode::from(1);
        }
    };
    if let Err(e) = drop_privileges(&global) {
        eprintln!("[ALERT]    ({}) : {e}", std::process::id());
        proxy.stop();
        proxy.wait();
        return ExitCode::from(1);
    }
    if daemon {
        detach_stdio();
    }
    if a.debug {
        eprintln!(
            "[NOTICE]   ({}) : dermaga proxy {VERSION} started",
            std::process::id()
        );
    }
    let code = wait_for_signals(&proxy, &a.files);
    proxy.wait();
    if let Some(p) = &pidfile {
        let _ = std::fs::remove_file(p);
    }
    let _ = std::io::stdout().flush();
    code
}

/// Waits for haproxy's signals; returns when the proxy is asked to stop. SIGUSR2 reads the
/// configuration `files` again and applies their certificates and TLS settings.
fn wait_for_signals(proxy: &Proxy, files: &[std::path::PathBuf]) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("[ALERT]    ({}) : {e}", std::process::id());
            proxy.stop();
            return ExitCode::from(1);
        }
    };
    let h = proxy.handle();
    rt.block_on(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut usr1), Ok(mut usr2), Ok(mut term), Ok(mut int), Ok(mut hup)) = (
            signal(SignalKind::user_defined1()),
            signal(SignalKind::user_defined2()),
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::hangup()),
        ) else {
            h.stop();
            return ExitCode::from(1);
        };
        loop {
            tokio::select! {
                _ = usr1.recv() => {
                    if !crate::log::quiet() {
                        eprintln!("[WARNING]  ({}) : Stopping frontends (soft stop).", std::process::id());
                    }
                    h.soft_stop();
                    return ExitCode::SUCCESS;
                }
                _ = term.recv() => { h.stop(); return ExitCode::SUCCESS; }
                _ = int.recv() => { h.stop(); return ExitCode::from(130); }
                _ = hup.recv() => h.log_server_states(),
                _ = usr2.recv() => reload_tls(&h, files),
            }
        }
    })
}

/// SIGUSR2: the configuration read again; its certificates and TLS settings replace those of
/// the running listeners (new connections use them, open ones keep theirs). A configuration
/// that does not load changes nothing. Other changes need a restart, and the notice says so.
fn reload_tls(h: &crate::ProxyHandle, files: &[std::path::PathBuf]) {
    let pid = std::process::id();
    let report = config::check(files);
    let Some(cfg) = report.config.as_ref().filter(|_| report.is_valid()) else {
        eprint!("{}", report.render_stderr(pid));
        eprintln!("[ALERT]    ({pid}) : Reload of the TLS certificates failed: the configuration does not load; nothing was changed.");
        return;
    };
    match h.reload_tls(cfg) {
        Ok(n) => eprintln!("[NOTICE]   ({pid}) : Reloaded the certificates and TLS settings of {n} listener(s); other configuration changes take effect at the next start."),
        Err(e) => eprintln!("[ALERT]    ({pid}) : Reload of the TLS certificates failed: {e}; nothing was changed."),
    }
}

/// Forks into the background. Returns true in the child, false in the parent.
fn daemonize() -> bool {
    // SAFETY: fork before any thread is started; the child continues alone.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        eprintln!("[ALERT]    ({}) : Cannot fork.", std::process::id());
        std::process::exit(1);
    }
    if pid > 0 {
        return false;
    }
    // SAFETY: plain syscall in the child.
    unsafe { libc::setsid() };
    true
}

fn detach_stdio() {
    let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    else {
        return;
    };
    use std::os::fd::AsRawFd;
    for fd in 0..=2 {
        // SAFETY: dup2 onto the standard descriptors.
        unsafe { libc::dup2(null.as_raw_fd(), fd) };
    }
}

/// `chroot`, `group`, `user` of the global section, applied when running as root.
fn drop_privileges(g: &config::Global) -> Result<(), String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(());
    }
    let uid = match &g.user {
        Some(config::UserSpec::Id(n)) => Some(*n),
        Some(config::UserSpec::Name(n)) => Some(lookup_user(n).ok_or_else(|| {
            format!("[dermaga proxy.main()] Cannot find user id for '{n}' (0:Success)")
        })?),
        None => None,
    };
    let gid = match &g.group {
        Some(config::UserSpec::Id(n)) => Some(*n),
        Some(config::UserSpec::Name(n)) => Some(lookup_group(n).ok_or_else(|| {
            format!("[dermaga proxy.main()] Cannot find group id for '{n}' (0:Success)")
        })?),
        None => None,
    };
    if let Some(dir) = &g.chroot {
        let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes())
            .map_err(|e| e.to_string())?;
        // SAFETY: valid C string.
        if unsafe { libc::chroot(c.as_ptr()) } != 0 || std::env::set_current_dir("/").is_err() {
            return Err(format!(
                "[dermaga proxy.main()] Cannot chroot({}).",
                dir.display()
            ));
        }
    }
    if let Some(gid) = gid {
        // SAFETY: plain syscalls.
        if unsafe { libc::setgroups(0, std::ptr::null()) } != 0 || unsafe { libc::setgid(gid) } != 0
        {
            return Err(format!("[dermaga proxy.main()] Cannot set gid {gid}."));
        }
    }
    if let Some(uid) = uid {
        // SAFETY: plain syscall.
        if unsafe { libc::setuid(uid) } != 0 {
            return Err(format!("[dermaga proxy.main()] Cannot set uid {uid}."));
        }
    }
    Ok(())
}

fn lookup_user(name: &str) -> Option<u32> {
    let c = std::ffi::CString::new(name).ok()?;
    // SAFETY: getpwnam returns a pointer to static storage or null.
    let p = unsafe { libc::getpwnam(c.as_ptr()) };
    if p.is_null() {
        None
    } else {
        // SAFETY: non-null pointer from getpwnam.
        Some(unsafe { (*p).pw_uid })
    }
}

fn lookup_group(name: &str) -> Option<u32> {
    let c = std::ffi::CString::new(name).ok()?;
    // SAFETY: getgrnam returns a pointer to static storage or null.
    let p = unsafe { libc::getgrnam(c.as_ptr()) };
    if p.is_null() {
        None
    } else {
        // SAFETY: non-null pointer from getgrnam.
        Some(unsafe { (*p).gr_gid })
    }
}
