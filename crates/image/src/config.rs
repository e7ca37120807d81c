//! Image config helpers: the host architecture in OCI spelling and `--change` instructions
//! (`podman import --change 'CMD ["/bin/sh"]'`).

use serde_json::{Map, Value};

use crate::error::{ImageError, Result};

/// The host architecture as OCI configs spell it (GOARCH names).
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        "arm" => "arm",
        other => other,
    }
}

/// The `config` object of an image config, built from `--change` instructions.
#[derive(Default)]
pub struct ConfigPatch {
    obj: Map<String, Value>,
}

fn words_or_json(arg: &str) -> Value {
    let t = arg.trim();
    if t.starts_with('[') {
        if let Ok(v @ Value::Array(_)) = serde_json::from_str::<Value>(t) {
            return v;
        }
    }
    // Shell form, as podman records it.
    Value::Array(vec!["/bin/sh".into(), "-c".into(), t.into()])
}

impl ConfigPatch {
    /// Applies one instruction: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME,
    /// WORKDIR. Anything else is refused by name.
    pub fn apply_change(&mut self, change: &str) -> Result<()> {
        let change = change.trim();
        let (instr, arg) = change.split_once([' ', '\t', '=']).unwrap_or((change, ""));
        let arg = arg.trim();
        let bad = |why: &str| ImageError::Other(format!("--change {change:?}: {why}"));
        match instr.to_ascii_uppercase().as_str() {
            "CMD" => {
                self.obj.insert("Cmd".into(), words_or_json(arg));
            }
            "ENTRYPOINT" => {
                self.obj.insert("Entrypoint".into(), words_or_json(arg));
            }
            "ENV" => {
                let env = self.obj.entry("Env").or_insert_with(|| Value::Array(vec![]));
                let (k, v) = match arg.split_once('=') {
                    Some((k, v)) => (k.trim(), v.trim()),
                    None => arg.split_once(' ').map(|(k, v)| (k, v.trim())).ok_or_else(|| bad("ENV needs KEY=VALUE"))?,
                };
                let v = v.trim_matches('"');
                if let Value::Array(a) = env {
                    a.retain(|e| !e.as_str().is_some_and(|s| s.starts_with(&format!("{k}="))));
                    a.push(Value::String(format!("{k}={v}")));
                }
            }
            "EXPOSE" => {
                let ports = self.obj.entry("ExposedPorts").or_insert_with(|| Value::Object(Map::new()));
                for p in arg.split_whitespace() {
                    let p = if p.contains('/') { p.to_string() } else { format!("{p}/tcp") };
                    if let Value::Object(m) = ports {
                        m.insert(p, Value::Object(Map::new()));
                    }
                }
            }
            "LABEL" => {
                let labels = self.obj.entry("Labels").or_insert_with(|| Value::Object(Map::new()));
                let (k, v) = arg.split_once('=').ok_or_else(|| bad("LABEL needs KEY=VALUE"))?;
                if let Value::Object(m) = labels {
                    m.insert(k.trim().trim_matches('"').into(), Value::String(v.trim().trim_matches('"').into()));
                }
            }
            "STOPSIGNAL" => {
                self.obj.insert("StopSignal".into(), Value::String(arg.into()));
            }
            "USER" => {
                self.obj.insert("User".into(), Value::String(arg.into()));
            }
            "WORKDIR" => {
                self.obj.insert("WorkingDir".into(), Value::String(arg.into()));
            }
            "VOLUME" => {
                let vols = self.obj.entry("Volumes").or_insert_with(|| Value::Object(Map::new()));
                let list: Vec<String> = match serde_json::from_str::<Vec<String>>(arg) {
                    Ok(v) => v,
                    Err(_) => arg.split_whitespace().map(String::from).collect(),
                };
                if let Value::Object(m) = vols {
                    for v in list {
                        m.insert(v, Value::Object(Map::new()));
                    }
                }
            }
            other => return Err(bad(&format!("instruction {other} is not supported here (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR are)"))),
        }
        Ok(())
    }

    pub fn into_json(self) -> Value {
        Value::Object(self.obj)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes() {
        let mut p = ConfigPatch::default();
        p.apply_change(r#"CMD ["/bin/sh"]"#).unwrap();
        p.apply_change("ENV A=1").unwrap();
        p.apply_change("WORKDIR /tmp").unwrap();
        p.apply_change("EXPOSE 80").unwrap();
        assert!(p.apply_change("RUN true").is_err());
        let v = p.into_json();
        assert_eq!(v["Cmd"][0], "/bin/sh");
        assert_eq!(v["Env"][0], "A=1");
        assert_eq!(v["WorkingDir"], "/tmp");
        assert!(v["ExposedPorts"]["80/tcp"].is_object());
    }
}
