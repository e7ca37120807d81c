//! The last steps before exec, shared by a container's init and by `exec`'d processes:
//! rlimits, user and groups, capabilities, no_new_privileges, the executable's lookup and
//! execve itself.

use std::collections::HashSet;
use std::ffi::CString;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use caps::{CapSet, Capability, CapsHashSet};
use oci_spec::runtime::{Capabilities, PosixRlimitType, Process};

use crate::util::{cstr, Error, Result};

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The resolved command: what execve gets.
pub struct Launch {
    pub path: CString,
    pub argv: Vec<CString>,
    pub envp: Vec<CString>,
}

fn env_path(env: &[String]) -> &str {
    env.iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH)
}

fn is_executable(p: &Path) -> bool {
    fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Looks up args[0] in the container (after pivot_root or setns), with runc's messages, which
/// engines map to exit codes 127 (not found) and 126 (cannot invoke).
pub fn prepare_launch(process: &Process) -> Result<Launch> {
    let args = process.args().as_deref().unwrap_or(&[]);
    let Some(arg0) = args.first() else {
        return Err(Error::new("args must not be empty"));
    };
    let env = process.env().as_deref().unwrap_or(&[]);
    let path: PathBuf = if arg0.contains('/') {
        let p = PathBuf::from(arg0);
        match fs::metadata(&p) {
            Ok(m) if m.is_dir() => {
                return Err(Error(format!(
                    "exec: {arg0:?}: is a directory: permission denied"
                )))
            }
            Ok(m) if m.permissions().mode() & 0o111 == 0 => {
                return Err(Error(format!("exec: {arg0:?}: permission denied")))
            }
            Ok(_) => p,
            Err(e) => {
                let msg = io_msg(&e);
                return Err(Error(format!("exec: {arg0:?}: stat {arg0}: {msg}")));
            }
        }
    } else {
        env_path(env)
            .split(':')
            .map(|d| Path::new(if d.is_empty() { "." } else { d }).join(arg0))
            .find(|p| is_executable(p))
            .ok_or_else(|| {
                Error(format!(
                    "exec: {arg0:?}: executable file not found in $PATH"
                ))
            })?
    };
    Ok(Launch {
        path: CString::new(path.as_os_str().as_bytes()).unwrap_or_default(),
        argv: args.iter().map(|a| cstr(a)).collect(),
        envp: env.iter().map(|e| cstr(e)).collect(),
    })
}

/// "no such file or directory", as Go spells errno messages.
fn io_msg(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "no such file or directory".into(),
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

fn resource(t: PosixRlimitType) -> Option<libc::__rlimit_resource_t> {
    Some(match t {
        PosixRlimitType::RlimitCpu => libc::RLIMIT_CPU,
        PosixRlimitType::RlimitFsize => libc::RLIMIT_FSIZE,
        PosixRlimitType::RlimitData => libc::RLIMIT_DATA,
        PosixRlimitType::RlimitStack => libc::RLIMIT_STACK,
        PosixRlimitType::RlimitCore => libc::RLIMIT_CORE,
        PosixRlimitType::RlimitRss => libc::RLIMIT_RSS,
        PosixRlimitType::RlimitNproc => libc::RLIMIT_NPROC,
        PosixRlimitType::RlimitNofile => libc::RLIMIT_NOFILE,
        PosixRlimitType::RlimitMemlock => libc::RLIMIT_MEMLOCK,
        PosixRlimitType::RlimitAs => libc::RLIMIT_AS,
        PosixRlimitType::RlimitLocks => libc::RLIMIT_LOCKS,
        PosixRlimitType::RlimitSigpending => libc::RLIMIT_SIGPENDING,
        PosixRlimitType::RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        PosixRlimitType::RlimitNice => libc::RLIMIT_NICE,
        PosixRlimitType::RlimitRtprio => libc::RLIMIT_RTPRIO,
        PosixRlimitType::RlimitRttime => libc::RLIMIT_RTTIME,
        #[allow(unreachable_patterns)]
        _ => return None,
    })
}

/// Sets the process's rlimits. A limit that cannot be raised (no CAP_SYS_RESOURCE) is kept as
/// it is and named in the returned warning, not treated as fatal.
pub fn apply_rlimits(process: &Process) -> Result<Option<String>> {
    let mut kept = Vec::new();
    for r in process.rlimits().iter().flatten() {
        let Some(res) = resource(r.typ()) else {
            return Err(Error(format!("rlimit {:?} is not known", r.typ())));
        };
        let new = libc::rlimit {
            rlim_cur: r.soft(),
            rlim_max: r.hard(),
        };
        if unsafe { libc::setrlimit(res, &new) } != 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EPERM) {
                let mut cur = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: 0,
                };
                unsafe { libc::getrlimit(res, &mut cur) };
                kept.push(format!(
                    "{} (wanted soft {} hard {}, kept soft {} hard {})",
                    rlimit_name(r.typ()),
                    r.soft(),
                    r.hard(),
                    cur.rlim_cur,
                    cur.rlim_max
                ));
                continue;
            }
            return Err(Error(format!("setrlimit {}: {e}", rlimit_name(r.typ()))));
        }
    }
    if kept.is_empty() {
        return Ok(None);
    }
    Ok(Some(format!(
        "rlimits kept because raising them needs CAP_SYS_RESOURCE, which this process lacks: {}",
        kept.join(", ")
    )))
}

fn rlimit_name(t: PosixRlimitType) -> String {
    t.to_string()
}

fn capset(c: &Option<Capabilities>) -> CapsHashSet {
    c.iter()
        .flatten()
        .filter_map(|cap| Capability::from_str(&format!("CAP_{cap}")).ok())
        .collect::<HashSet<_>>()
}

fn caps_err(what: &str, e: impl std::fmt::Display) -> Error {
    Error(format!("{what}: {e}"))
}

/// Switches to the process's user and groups and sets its capability sets, runc's order:
/// drop the bounding set, keep capabilities across setuid, set groups, gid, uid, then the
/// inheritable, effective, permitted and ambient sets; then no_new_privileges and umask.
pub fn set_identity(process: &Process, may_setgroups: bool) -> Result<()> {
    let caps_cfg = process.capabilities().as_ref();
    if let Some(c) = caps_cfg {
        let bounding = capset(c.bounding());
        for cap in caps::all() {
            if !bounding.contains(&cap) {
                if let Err(e) = caps::drop(None, CapSet::Bounding, cap) {
                    // Capabilities the kernel does not have cannot be dropped, nor need to be.
                    if !e.to_string().contains("Invalid argument") {
                        return Err(caps_err(&format!("drop {cap} from the bounding set"), e));
                    }
                }
            }
        }
    }
    let user = process.user();
    unsafe {
        if libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0 {
            return Err(Error(format!(
                "prctl(PR_SET_KEEPCAPS): {}",
                io::Error::last_os_error()
            )));
        }
        if may_setgroups {
            let groups: Vec<libc::gid_t> = user.additional_gids().clone().unwrap_or_default();
            if libc::setgroups(groups.len(), groups.as_ptr()) != 0 {
                return Err(Error(format!(
                    "setgroups {groups:?}: {}",
                    io::Error::last_os_error()
                )));
            }
        }
        if libc::syscall(libc::SYS_setresgid, user.gid(), user.gid(), user.gid()) != 0 {
            return Err(Error(format!(
                "setgid {}: {}",
                user.gid(),
                io::Error::last_os_error()
            )));
        }
        if libc::syscall(libc::SYS_setresuid, user.uid(), user.uid(), user.uid()) != 0 {
            return Err(Error(format!(
                "setuid {}: {}",
                user.uid(),
                io::Error::last_os_error()
            )));
        }
        libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0);
    }
    if let Some(c) = caps_cfg {
        caps::set(None, CapSet::Inheritable, &capset(c.inheritable()))
            .map_err(|e| caps_err("set inheritable capabilities", e))?;
        caps::set(None, CapSet::Effective, &capset(c.effective()))
            .map_err(|e| caps_err("set effective capabilities", e))?;
        caps::set(None, CapSet::Permitted, &capset(c.permitted()))
            .map_err(|e| caps_err("set permitted capabilities", e))?;
        // As runc: an ambient capability that is not also inheritable and permitted cannot be
        // raised, and that is not an error.
        for cap in capset(c.ambient()) {
            let _ = caps::raise(None, CapSet::Ambient, cap);
        }
    }
    if process.no_new_privileges() == Some(true)
        && unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0
    {
        return Err(Error(format!(
            "prctl(PR_SET_NO_NEW_PRIVS): {}",
            io::Error::last_os_error()
        )));
    }
    unsafe { libc::umask(user.umask().unwrap_or(0o022) as libc::mode_t) };
    Ok(())
}

/// Restores default dispositions and an empty signal mask (the runtime ignores SIGPIPE and
/// blocks signals while it forwards them; the container must not inherit either).
pub fn reset_signals() {
    unsafe {
        for sig in 1..libc::SIGRTMAX() {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
}

/// Marks every descriptor from `3 + preserve` on close-on-exec.
pub fn cloexec_from(preserve: u32) {
    let first = 3 + preserve;
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if r != 0 {
        // Older kernels: walk /proc/self/fd.
        if let Ok(dir) = fs::read_dir("/proc/self/fd") {
            let fds: Vec<i32> = dir
                .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .filter(|fd| *fd >= first as i32)
                .collect();
            for fd in fds {
                unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
            }
        }
    }
}

/// execve; returns only on failure.
pub fn exec(l: &Launch) -> io::Error {
    let mut argv: Vec<*const libc::c_char> = l.argv.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = l.envp.iter().map(|a| a.as_ptr()).collect();
    envp.push(std::ptr::null());
    unsafe { libc::execve(l.path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    io::Error::last_os_error()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oci_capability_names_map_to_caps() {
        let c: Capabilities =
            serde_json::from_str(r#"["CAP_CHOWN","CAP_NET_BIND_SERVICE","CAP_SYS_CHROOT"]"#)
                .unwrap();
        let s = capset(&Some(c));
        assert!(s.contains(&Capability::CAP_CHOWN));
        assert!(s.contains(&Capability::CAP_NET_BIND_SERVICE));
        assert!(s.contains(&Capability::CAP_SYS_CHROOT));
        assert_eq!(s.len(), 3);
    }

    #[test]
    fn rlimit_names() {
        assert_eq!(rlimit_name(PosixRlimitType::RlimitNofile), "RLIMIT_NOFILE");
    }
}
