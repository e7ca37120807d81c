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
    let mut filters = Vec::new();
    if default != SeccompAction::Allow {
        filters.push(searched_filter(listed, default, SeccompAction::Allow)?);
    }
    for (_, (act, rules)) in by_action {
        filters.push(searched_filter(rules, SeccompAction::Allow, act)?);
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

/// Syscalls per part of a filter (see [`searched_filter`]).
const PART: usize = 8;

/// One filter of seccompiler's (`rules` → `matched`, anything else → `mismatch`), built as a
/// binary search on the syscall number over parts of [`PART`] syscalls, each part a filter
/// of seccompiler's for the numbers from its first syscall to the next part's.
///
/// seccompiler's filter tests the listed syscalls one after another, two instructions each
/// for a syscall that is not the one tested. When a filter is loaded the kernel runs it for
/// every syscall number (to learn which ones it always allows): loading the default profile's
/// 60-syscall filter took 0.25–0.45 ms, on the container's path to its exec, and every
/// system call of the container not in the list went through the whole list. Behind the
/// search, a syscall goes through about log2(parts) comparisons and one part. The result is
/// the same for every number: a number between two parts' first syscalls goes to the lower
/// part, which lists none of the numbers it is not given.
fn searched_filter(
    rules: BTreeMap<i64, Vec<SeccompRule>>,
    mismatch: SeccompAction,
    matched: SeccompAction,
) -> Result<BpfProgram> {
    let compile = |part: BTreeMap<i64, Vec<SeccompRule>>| -> Result<BpfProgram> {
        let f = SeccompFilter::new(part, mismatch.clone(), matched.clone(), TargetArch::x86_64)
            .map_err(|e| Error(format!("seccomp filter: {e}")))?;
        BpfProgram::try_from(f).map_err(|e| Error(format!("seccomp filter: {e}")))
    };
    if rules.len() <= PART {
        return compile(rules);
    }
    let mut firsts = Vec::new();
    let mut parts = Vec::new();
    let entries: Vec<(i64, Vec<SeccompRule>)> = rules.into_iter().collect();
    for chunk in entries.chunks(PART) {
        let first = u32::try_from(chunk[0].0)
            .map_err(|_| Error(format!("seccomp: syscall number {}", chunk[0].0)))?;
        firsts.push(first);
        parts.push(compile(chunk.iter().cloned().collect())?);
    }
    let prog = dispatch(&firsts, parts);
    // BPF_MAXINSNS
    if prog.len() > 4096 {
        return Err(Error(format!(
            "seccomp filter of {} instructions, above the kernel's 4096",
            prog.len()
        )));
    }
    Ok(prog)
}

const LD_NR: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS (the syscall number is at offset 0)
const JA: u16 = 0x05; // BPF_JMP | BPF_JA
const JGE: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K

fn insn(code: u16, jt: u8, jf: u8, k: u32) -> seccompiler::sock_filter {
    seccompiler::sock_filter { code, jt, jf, k }
}

/// Loads the syscall number, searches `firsts` (ascending) and jumps to the part it falls in;
/// the parts follow, each whole (they end in returns).
fn dispatch(firsts: &[u32], parts: Vec<BpfProgram>) -> BpfProgram {
    // (instruction, the part a leaf's jump goes to).
    fn tree(
        firsts: &[u32],
        a: usize,
        b: usize,
        out: &mut Vec<(seccompiler::sock_filter, Option<usize>)>,
    ) {
        if b - a == 1 {
            out.push((insn(JA, 0, 0, 0), Some(a)));
            return;
        }
        let m = (a + b) / 2;
        let mut left = Vec::new();
        tree(firsts, a, m, &mut left);
        // nr >= firsts[m]: on to the jump over the left half; else into the left half.
        out.push((insn(JGE, 0, 1, firsts[m]), None));
        out.push((insn(JA, 0, 0, left.len() as u32), None));
        out.extend(left);
        tree(firsts, m, b, out);
    }
    let mut head = vec![(insn(LD_NR, 0, 0, 0), None)];
    tree(firsts, 0, firsts.len(), &mut head);
    let mut starts = Vec::with_capacity(parts.len());
    let mut at = head.len();
    for p in &parts {
        starts.push(at);
        at += p.len();
    }
    let mut prog: BpfProgram = head
        .into_iter()
        .enumerate()
        .map(|(i, (ins, leaf))| match leaf {
            Some(part) => insn(JA, 0, 0, (starts[part] - (i + 1)) as u32),
            None => ins,
        })
        .collect();
    for p in parts {
        prog.extend(p);
    }
    prog
}

/// A stable key for a profile: two SipHash passes with different prefixes over its fields.
fn profile_key(s: &LinuxSeccomp) -> String {
    let feed = |h: &mut DefaultHasher| {
        env!("CARGO_PKG_VERSION").hash(h);
        // The filters' layout: searched parts (searched_filter).
        "searched-8".hash(h);
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

    /// Runs a classic BPF seccomp program as the kernel does, on a syscall number, an
    /// architecture and arguments (the opcodes seccompiler and `dispatch` emit).
    fn run_bpf(prog: &[seccompiler::sock_filter], nr: u32, arch: u32, args: [u64; 6]) -> u32 {
        let mut data = [0u8; 64];
        data[0..4].copy_from_slice(&nr.to_ne_bytes());
        data[4..8].copy_from_slice(&arch.to_ne_bytes());
        for (i, a) in args.iter().enumerate() {
            data[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_ne_bytes());
        }
        let (mut acc, mut pc) = (0u32, 0usize);
        loop {
            let i = &prog[pc];
            pc += 1;
            let jump = |c: bool| if c { i.jt } else { i.jf } as usize;
            match i.code {
                0x20 => {
                    let k = i.k as usize;
                    acc = u32::from_ne_bytes(data[k..k + 4].try_into().unwrap());
                }
                0x54 => acc &= i.k,
                0x05 => pc += i.k as usize,
                0x15 => pc += jump(acc == i.k),
                0x25 => pc += jump(acc > i.k),
                0x35 => pc += jump(acc >= i.k),
                0x06 => return i.k,
                c => panic!("opcode {c:#x} at {}", pc - 1),
            }
        }
    }

    /// The searched filter gives seccompiler's single filter's verdict for every number
    /// (the x32 ones too), both architectures and arguments that meet or miss the rules.
    #[test]
    fn searched_filter_decides_as_the_single_filter() {
        let eq = |idx, v| {
            SeccompRule::new(vec![SeccompCondition::new(
                idx,
                SeccompCmpArgLen::Qword,
                SeccompCmpOp::Eq,
                v,
            )
            .unwrap()])
            .unwrap()
        };
        let masked = SeccompRule::new(vec![SeccompCondition::new(
            0,
            SeccompCmpArgLen::Qword,
            SeccompCmpOp::MaskedEq(0x7e02_0000),
            0,
        )
        .unwrap()])
        .unwrap();
        for (count, step) in [(60usize, 7i64), (300, 1), (9, 40), (3, 100)] {
            let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
            for k in 0..count as i64 {
                let nr = (k * step) % 460;
                let r = match k % 5 {
                    1 => vec![eq(0, 8), eq(1, 0xffff_ffff)],
                    3 => vec![masked.clone()],
                    _ => vec![],
                };
                rules.insert(nr, r);
            }
            for (mismatch, matched) in [
                (SeccompAction::Allow, SeccompAction::Errno(1)),
                (SeccompAction::Errno(38), SeccompAction::Allow),
            ] {
                let single = BpfProgram::try_from(
                    SeccompFilter::new(
                        rules.clone(),
                        mismatch.clone(),
                        matched.clone(),
                        TargetArch::x86_64,
                    )
                    .unwrap(),
                )
                .unwrap();
                let searched =
                    searched_filter(rules.clone(), mismatch.clone(), matched.clone()).unwrap();
                if count > PART {
                    assert_ne!(single, searched);
                }
                let numbers = (0..470u32).chain([0x4000_0000, 0x4000_0001, 0x4000_00ff, u32::MAX]);
                for nr in numbers {
                    for arch in [0xc000_003e_u32, 0x4000_0003] {
                        for args in [
                            [0; 6],
                            [8, 0xffff_ffff, 0, 0, 0, 0],
                            [8, 1, 0, 0, 0, 0],
                            [0x1_0000_0008, 0xffff_ffff, 0, 0, 0, 0],
                            [0x0200_0000, 0, 0, 0, 0, 0],
                            [u64::MAX; 6],
                        ] {
                            assert_eq!(
                                run_bpf(&single, nr, arch, args),
                                run_bpf(&searched, nr, arch, args),
                                "{count} syscalls: nr {nr}, arch {arch:#x}, args {args:?}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn notify_is_refused() {
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]}"#,
        );
        assert!(compile(&p).is_err());
    }
}
