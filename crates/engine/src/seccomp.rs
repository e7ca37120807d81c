//! Seccomp profiles in podman's (moby's) file format, turned into the OCI runtime spec's form
//! for the container's capabilities. The default profile is `seccomp.json` beside this file.

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompBuilder,
    LinuxSyscallBuilder,
};
use serde::Deserialize;

use crate::error::{Error, Result};

pub const DEFAULT_PROFILE: &str = include_str!("seccomp.json");

/// A profile in podman's format, read straight into the types it is converted to: each
/// `run` converts the default profile, and going through `serde_json::Value` (a map per
/// rule, then the OCI form rebuilt from a second `Value`) cost about 0.24 ms of it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Profile {
    default_action: LinuxSeccompAction,
    default_errno_ret: Option<u32>,
    arch_map: Option<Vec<ArchMapEntry>>,
    architectures: Option<Vec<Arch>>,
    syscalls: Option<Vec<Rule>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArchMapEntry {
    /// A string, not [`Arch`]: the map may name architectures this build has no use for.
    architecture: String,
    sub_architectures: Option<Vec<Arch>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    names: Option<Vec<String>>,
    name: Option<String>,
    action: Option<LinuxSeccompAction>,
    errno_ret: Option<u32>,
    args: Option<Vec<LinuxSeccompArg>>,
    includes: Option<Condition>,
    excludes: Option<Condition>,
}

#[derive(Deserialize)]
struct Condition {
    caps: Option<Vec<String>>,
    arches: Option<Vec<String>>,
}

/// Converts a podman-format profile to the OCI form, keeping the rules that apply to a
/// container holding `caps` (names like `CAP_SYS_ADMIN`).
pub fn to_oci(profile: &str, caps: &[String]) -> Result<LinuxSeccomp> {
    let p: Profile = serde_json::from_str(profile).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            Error::engine(format!("seccomp profile is not valid JSON: {e}"))
        } else {
            Error::engine(format!("seccomp profile cannot be used: {e}"))
        }
    })?;
    let arch = native_arch();
    let mut arches: Vec<Arch> = Vec::new();
    if let Some(list) = p.arch_map {
        for a in list.into_iter().filter(|a| a.architecture == arch) {
            arches.push(native_arch_enum());
            arches.extend(a.sub_architectures.into_iter().flatten());
        }
    } else if let Some(list) = p.architectures {
        arches = list;
    }
    let held =
        |list: Option<&[String]>| -> Option<bool> { Some(list?.iter().any(|c| caps.contains(c))) };
    let mut rules = Vec::new();
    for s in p.syscalls.into_iter().flatten() {
        if held(s.includes.as_ref().and_then(|c| c.caps.as_deref())) == Some(false) {
            continue;
        }
        if held(s.excludes.as_ref().and_then(|c| c.caps.as_deref())) == Some(true) {
            continue;
        }
        if let Some(a) = s.includes.as_ref().and_then(|c| c.arches.as_ref()) {
            if !a.iter().any(|x| arch_short(arch) == x) {
                continue;
            }
        }
        let names = match (s.names, s.name) {
            (Some(n), _) => n,
            (None, Some(n)) => vec![n],
            _ => continue,
        };
        let mut r = LinuxSyscallBuilder::default()
            .names(names)
            .action(s.action.unwrap_or(LinuxSeccompAction::ScmpActAllow));
        if let Some(e) = s.errno_ret {
            r = r.errno_ret(e);
        }
        if let Some(args) = s.args {
            r = r.args(args);
        }
        rules.push(
            r.build()
                .map_err(|e| Error::engine(format!("seccomp profile cannot be used: {e}")))?,
        );
    }
    let mut oci = LinuxSeccompBuilder::default()
        .default_action(p.default_action)
        .architectures(arches)
        .syscalls(rules);
    if let Some(e) = p.default_errno_ret {
        oci = oci.default_errno_ret(e);
    }
    oci.build()
        .map_err(|e| Error::engine(format!("seccomp profile cannot be used: {e}")))
}

fn native_arch() -> &'static str {
    if cfg!(target_arch = "aarch64") {
        "SCMP_ARCH_AARCH64"
    } else {
        "SCMP_ARCH_X86_64"
    }
}

fn native_arch_enum() -> Arch {
    if cfg!(target_arch = "aarch64") {
        Arch::ScmpArchAarch64
    } else {
        Arch::ScmpArchX86_64
    }
}

fn arch_short(a: &str) -> &'static str {
    if a == "SCMP_ARCH_AARCH64" {
        "arm64"
    } else {
        "amd64"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_profile_follows_capabilities() {
        let plain = to_oci(DEFAULT_PROFILE, &[]).unwrap();
        let names = |s: &LinuxSeccomp| -> Vec<String> {
            s.syscalls()
                .iter()
                .flatten()
                .flat_map(|r| r.names().clone())
                .collect()
        };
        assert!(names(&plain).contains(&"mount".to_string()));
        assert!(names(&plain).contains(&"keyctl".to_string()));
        let admin = to_oci(DEFAULT_PROFILE, &["CAP_SYS_ADMIN".into()]).unwrap();
        assert!(!names(&admin).contains(&"mount".to_string()));
        assert!(names(&admin).contains(&"keyctl".to_string()));
    }

    #[test]
    fn profile_fields_carry_over() {
        let profile = r#"{
            "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38, "comment": "ignored",
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [
                {"name": "personality", "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]},
                {"names": ["read"], "includes": {"arches": ["amd64", "arm64"]}},
                {"names": ["ptrace"], "includes": {"caps": ["CAP_SYS_PTRACE"]}},
                {"names": ["open"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1, "args": null}
            ]
        }"#;
        let s = to_oci(profile, &[]).unwrap();
        assert_eq!(s.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(s.default_errno_ret(), Some(38));
        let rules = s.syscalls().clone().unwrap();
        let names: Vec<_> = rules.iter().map(|r| r.names()[0].as_str()).collect();
        assert_eq!(names, ["personality", "read", "open"]);
        let arg = rules[0].args().clone().unwrap()[0];
        assert_eq!((arg.index(), arg.value()), (0, 8));
        assert_eq!(rules[1].action(), LinuxSeccompAction::ScmpActAllow);
        assert_eq!(rules[2].errno_ret(), Some(1));
        let e = to_oci("{\"defaultAction\": \"SCMP_ACT_NOPE\"}", &[]).unwrap_err();
        assert!(e.to_string().contains("cannot be used"), "{e}");
        let e = to_oci("{", &[]).unwrap_err();
        assert!(e.to_string().contains("not valid JSON"), "{e}");
    }
}
