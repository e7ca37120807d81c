//! Seccomp profiles in podman's (moby's) file format, turned into the OCI runtime spec's form
//! for the container's capabilities. The default profile is `seccomp.json` beside this file.

use oci_spec::runtime::LinuxSeccomp;
use serde_json::{json, Value};

use crate::error::{Error, Result};

pub const DEFAULT_PROFILE: &str = include_str!("seccomp.json");

/// Converts a podman-format profile to the OCI form, keeping the rules that apply to a
/// container holding `caps` (names like `CAP_SYS_ADMIN`).
pub fn to_oci(profile: &str, caps: &[String]) -> Result<LinuxSeccomp> {
    let p: Value = serde_json::from_str(profile)
        .map_err(|e| Error::engine(format!("seccomp profile is not valid JSON: {e}")))?;
    let default_action = p
        .get("defaultAction")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::engine("seccomp profile lacks defaultAction"))?;
    let arch = native_arch();
    let mut arches: Vec<Value> = Vec::new();
    if let Some(list) = p.get("archMap").and_then(Value::as_array) {
        for a in list {
            if a.get("architecture").and_then(Value::as_str) == Some(arch) {
                arches.push(json!(arch));
                if let Some(sub) = a.get("subArchitectures").and_then(Value::as_array) {
                    arches.extend(sub.iter().cloned());
                }
            }
        }
    } else if let Some(list) = p.get("architectures").and_then(Value::as_array) {
        arches.extend(list.iter().cloned());
    }
    let has = |list: Option<&Value>| -> Option<bool> {
        let l = list?.as_array()?;
        Some(
            l.iter()
                .any(|c| c.as_str().is_some_and(|c| caps.iter().any(|x| x == c))),
        )
    };
    let mut rules = Vec::new();
    for s in p
        .get("syscalls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if has(s.pointer("/includes/caps")) == Some(false) {
            continue;
        }
        if has(s.pointer("/excludes/caps")) == Some(true) {
            continue;
        }
        if let Some(a) = s.pointer("/includes/arches").and_then(Value::as_array) {
            if !a
                .iter()
                .any(|x| x.as_str().is_some_and(|x| arch_short(arch) == x))
            {
                continue;
            }
        }
        let mut r = serde_json::Map::new();
        let names = match (s.get("names"), s.get("name")) {
            (Some(n), _) => n.clone(),
            (None, Some(n)) => json!([n]),
            _ => continue,
        };
        r.insert("names".into(), names);
        r.insert(
            "action".into(),
            s.get("action").cloned().unwrap_or(json!("SCMP_ACT_ALLOW")),
        );
        if let Some(e) = s.get("errnoRet") {
            r.insert("errnoRet".into(), e.clone());
        }
        if let Some(args) = s.get("args").filter(|a| !a.is_null()) {
            r.insert("args".into(), args.clone());
        }
        rules.push(Value::Object(r));
    }
    let mut oci = json!({
        "defaultAction": default_action,
        "architectures": arches,
        "syscalls": rules,
    });
    if let Some(e) = p.get("defaultErrnoRet") {
        oci["defaultErrnoRet"] = e.clone();
    }
    serde_json::from_value(oci)
        .map_err(|e| Error::engine(format!("seccomp profile cannot be used: {e}")))
}

fn native_arch() -> &'static str {
    if cfg!(target_arch = "aarch64") {
        "SCMP_ARCH_AARCH64"
    } else {
        "SCMP_ARCH_X86_64"
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
}
