//! The spec's `linux.seccomp` translated to classic BPF with `seccompiler` (no C libseccomp),
//! cached by a hash of the profile under `--root`.
//!
//! seccompiler builds filters with one match action and one mismatch action, while an OCI
//! profile gives each rule its own action. The profile becomes a small stack of filters and
//! the kernel's rule (the most restrictive verdict of all filters wins) restores the meaning:
//! - filter 0: every syscall the profile lists (with its argument conditions) → ALLOW,
//!   anything else → the default action (omitted when the default is ALLOW);
//! - one filter per other action A: the rules whose action is A → A, anything else → ALLOW.
//!
//! A listed syscall thus gets its rule's action; an unlisted one (or a listed one whose
//! conditions fail) gets the default. Only x86_64 system calls are filtered; a process that
//! enters the kernel through another ABI (32-bit int 0x80) is killed, as seccompiler's
//! architecture check does.

use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeMap;
use std::fs;
use std::hash::{Hash, Hasher};
use std::io;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator,
};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

use crate::util::{write_atomic, Error, Result};

/// Compiled filters plus the flags to load them with.
#[derive(Debug, Clone, Default)]
pub struct Program {
    pub filters: Vec<BpfProgram>,
    pub flags: libc::c_ulong,
}

pub fn syscall_number(name: &str) -> Option<i64> {
    let t = crate::syscalls::X86_64;
    t.binary_search_by(|(n, _)| n.cmp(&name))
        .ok()
        .map(|i| t[i].1)
}

fn action(a: LinuxSeccompAction, errno: Option<u32>) -> Result<SeccompAction> {
    Ok(match a {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            SeccompAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => SeccompAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => SeccompAction::Trap,
        LinuxSeccompAction::ScmpActErrno => {
            SeccompAction::Errno(errno.unwrap_or(libc::EPERM as u32))
        }
        LinuxSeccompAction::ScmpActTrace => {
            SeccompAction::Trace(errno.unwrap_or(libc::EPERM as u32))
        }
        LinuxSeccompAction::ScmpActLog => SeccompAction::Log,
        LinuxSeccompAction::ScmpActAllow => SeccompAction::Allow,
        LinuxSeccompAction::ScmpActNotify => {
            return Err(Error::new(
                "seccomp action SCMP_ACT_NOTIFY is not supported by dermaga-runtime",
            ))
        }
    })
}

/// Adds a rule (None = unconditional) for a syscall; an unconditional rule absorbs the others.
fn add_rule(map: &mut BTreeMap<i64, Vec<SeccompRule>>, nr: i64, rule: &Option<SeccompRule>) {
    match rule {
        None => {
            map.insert(nr, Vec::new());
        }
        Some(r) => match map.get_mut(&nr) {
            Some(v) if v.is_empty() => {}
            Some(v) => v.push(r.clone()),
            None => {
                map.insert(nr, vec![r.clone()]);
            }
        },
    }
}

fn action_key(a: &SeccompAction) -> u32 {
    u32::from(a.clone())
}

pub fn compile(s: &LinuxSeccomp) -> Result<Program> {
    let default = action(s.default_action(), s.default_errno_ret())?;
    let mut listed: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    let mut by_action: BTreeMap<u32, (SeccompAction, BTreeMap<i64, Vec<SeccompRule>>)> =
        BTreeMap::new();
    for entry in s.syscalls().iter().flatten() {
        let act = action(entry.action(), entry.errno_ret())?;
        if act == default {
            continue;
        }
        let rule = match entry.args() {
            Some(args) if !args.is_empty() => {
                let mut conds = Vec::with_capacity(args.len());
                for a in args {
                    let idx = u8::try_from(a.index())
                        .map_err(|_| Error::new("seccomp argument index too large"))?;
                    let (op, value) = match a.op() {
                        LinuxSeccompOperator::ScmpCmpNe => (SeccompCmpOp::Ne, a.value()),
                        LinuxSeccompOperator::ScmpCmpLt => (SeccompCmpOp::Lt, a.value()),
                        LinuxSeccompOperator::ScmpCmpLe => (SeccompCmpOp::Le, a.value()),
                        LinuxSeccompOperator::ScmpCmpEq => (SeccompCmpOp::Eq, a.value()),
                        LinuxSeccompOperator::ScmpCmpGe => (SeccompCmpOp::Ge, a.value()),
                        LinuxSeccompOperator::ScmpCmpGt => (SeccompCmpOp::Gt, a.value()),
                        // OCI: value is the mask, valueTwo the datum compared with.
                        LinuxSeccompOperator::ScmpCmpMaskedEq => (
                            SeccompCmpOp::MaskedEq(a.value()),
                            a.value_two().unwrap_or(0),
                        ),
                    };
                    conds.push(
                        SeccompCondition::new(idx, SeccompCmpArgLen::Qword, op, value)
                            .map_err(|e| Error(format!("seccomp rule: {e}")))?,
                    );
                }
                Some(SeccompRule::new(conds).map_err(|e| Error(format!("seccomp rule: {e}")))?)
            }
            _ => None,
        };
        for name in entry.names() {
            // Names this kernel table does not know are skipped, as runc does with libseccomp.
            let Some(nr) = syscall_number(name) else {
                continue;
            };
            add_rule(&mut listed, nr, &rule);
            if act != SeccompAction::Allow {
                let slot = by_action
                    .entry(action_key(&act))
                    .or_insert_with(|| (act.clone(), BTreeMap::new()));
                add_rule(&mut slot.1, nr, &rule);
            }
        }
    }
    let arch = TargetArch::x86_64;
    let mut filters = Vec::new();
    if default != SeccompAction::Allow {
        let f = SeccompFilter::new(listed, default, SeccompAction::Allow, arch)
            .map_err(|e| Error(format!("seccomp filter: {e}")))?;
        filters.push(BpfProgram::try_from(f).map_err(|e| Error(format!("seccomp filter: {e}")))?);
    }
    for (_, (act, rules)) in by_action {
        let f = SeccompFilter::new(rules, SeccompAction::Allow, act, arch)
            .map_err(|e| Error(format!("seccomp filter: {e}")))?;
        filters.push(BpfProgram::try_from(f).map_err(|e| Error(format!("seccomp filter: {e}")))?);
    }
    let mut flags: libc::c_ulong = 0;
    for fl in s.flags().iter().flatten() {
        flags |= match fl {
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => libc::SECCOMP_FILTER_FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => {
                libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW
            }
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => 0,
            other => {
                return Err(Error(format!(
                    "seccomp flag {other:?} is not supported by dermaga-runtime"
                )));
            }
        };
    }
    Ok(Program { filters, flags })
}

/// A stable key for a profile: two SipHash passes with different prefixes over its fields.
fn profile_key(s: &LinuxSeccomp) -> String {
    let feed = |h: &mut DefaultHasher| {
        env!("CARGO_PKG_VERSION").hash(h);
        (s.default_action() as u32).hash(h);
        s.default_errno_ret().hash(h);
        for f in s.flags().iter().flatten() {
            format!("{f:?}").hash(h);
        }
        for e in s.syscalls().iter().flatten() {
            e.names().hash(h);
            (e.action() as u32).hash(h);
            e.errno_ret().hash(h);
            for a in e.args().iter().flatten() {
                (a.index(), a.value(), a.value_two(), a.op() as u32).hash(h);
            }
            0xffu8.hash(h);
        }
    };
    let mut a = DefaultHasher::new();
    1u8.hash(&mut a);
    feed(&mut a);
    let mut b = DefaultHasher::new();
    2u8.hash(&mut b);
    feed(&mut b);
    format!("{:016x}{:016x}", a.finish(), b.finish())
}

fn encode(p: &Program) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(b"DSB1");
    out.extend_from_slice(&p.flags.to_le_bytes());
    out.extend_from_slice(&(p.filters.len() as u32).to_le_bytes());
    for f in &p.filters {
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        for i in f {
            out.extend_from_slice(&i.code.to_le_bytes());
            out.push(i.jt);
            out.push(i.jf);
            out.extend_from_slice(&i.k.to_le_bytes());
        }
    }
    out
}

fn decode(b: &[u8]) -> Option<Program> {
    let mut pos = 0;
    let mut take = |n: usize| -> Option<&[u8]> {
        let s = b.get(pos..pos + n)?;
        pos += n;
        Some(s)
    };
    if take(4)? != b"DSB1" {
        return None;
    }
    let flags: libc::c_ulong = u64::from_le_bytes(take(8)?.try_into().ok()?);
    let n = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
    let mut filters = Vec::with_capacity(n);
    for _ in 0..n {
        let len = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
        let raw = take(len * 8)?;
        let f = raw
            .chunks_exact(8)
            .map(|c| seccompiler::sock_filter {
                code: u16::from_le_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect();
        filters.push(f);
    }
    Some(Program { filters, flags })
}

fn cache_path(root: &Path, s: &LinuxSeccomp) -> PathBuf {
    root.join("seccomp-cache")
        .join(format!("{}.bpf", profile_key(s)))
}

/// The compiled profile, from the cache under `root` when there.
pub fn compile_cached(root: &Path, s: &LinuxSeccomp) -> Result<Program> {
    let path = cache_path(root, s);
    if let Ok(b) = fs::read(&path) {
        if let Some(p) = decode(&b) {
            return Ok(p);
        }
    }
    let p = compile(s)?;
    let _ = fs::create_dir_all(path.parent().unwrap_or(root));
    let _ = write_atomic(&path, &encode(&p), 0o600);
    Ok(p)
}

/// Loads the filters into the calling (single-threaded) process.
pub fn apply(p: &Program) -> io::Result<()> {
    for f in &p.filters {
        let prog = libc::sock_fprog {
            len: f.len() as u16,
            filter: f.as_ptr() as *mut libc::sock_filter,
        };
        let r = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                p.flags,
                &prog as *const libc::sock_fprog,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(json: &str) -> LinuxSeccomp {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn table_is_sorted_and_known() {
        let t = crate::syscalls::X86_64;
        assert!(t.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(syscall_number("read"), Some(0));
        assert_eq!(syscall_number("mkdir"), Some(83));
        assert_eq!(syscall_number("clone3"), Some(435));
        assert_eq!(syscall_number("nope"), None);
    }

    #[test]
    fn default_errno_with_allow_list_and_other_errno() {
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":38,"syscalls":[
                {"names":["read","write"],"action":"SCMP_ACT_ALLOW"},
                {"names":["mkdir"],"action":"SCMP_ACT_ERRNO","errnoRet":1},
                {"names":["personality"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":8,"op":"SCMP_CMP_EQ"}]}]}"#,
        );
        let prog = compile(&p).unwrap();
        assert_eq!(prog.filters.len(), 2);
    }

    #[test]
    fn allow_default_only_blocks() {
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}"#,
        );
        assert_eq!(compile(&p).unwrap().filters.len(), 1);
        let p = profile(r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#);
        assert_eq!(compile(&p).unwrap().filters.len(), 0);
    }

    #[test]
    fn cache_round_trip() {
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}"#,
        );
        let c = compile(&p).unwrap();
        let d = decode(&encode(&c)).unwrap();
        assert_eq!(c.filters, d.filters);
        assert_eq!(profile_key(&p), profile_key(&p.clone()));
    }

    #[test]
    fn notify_is_refused() {
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]}"#,
        );
        assert!(compile(&p).is_err());
    }
}
