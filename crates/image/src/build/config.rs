//! The image configuration a build carries from step to step: the OCI config JSON (kept as a
//! JSON value so that fields the OCI types lack — `Healthcheck`, `Shell`, `OnBuild`, as
//! Docker's format has them — survive), its layer list and its history.

use serde_json::{json, Map, Value};

use crate::containerfile::{Command, Healthcheck, Instruction};

/// The PATH a build gives an image that has none (buildah's and Docker's default).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A config being built.
#[derive(Clone, Debug)]
pub struct BuildConfig {
    pub json: Value,
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

impl BuildConfig {
    /// The config of `FROM scratch`.
    pub fn scratch() -> BuildConfig {
        BuildConfig {
            json: json!({
                "architecture": crate::config::host_arch(),
                "os": "linux",
                "config": {},
                "rootfs": {"type": "layers", "diff_ids": []},
                "history": [],
            }),
        }
    }

    /// A stored image's config.
    pub fn from_bytes(bytes: &[u8], what: &str) -> crate::Result<BuildConfig> {
        let mut json: Value =
            serde_json::from_slice(bytes).map_err(|e| crate::ImageError::BadJson {
                what: what.to_string(),
                why: e.to_string(),
            })?;
        if !json["config"].is_object() {
            json["config"] = json!({});
        }
        if !json["rootfs"]["diff_ids"].is_array() {
            json["rootfs"] = json!({"type": "layers", "diff_ids": []});
        }
        if !json["history"].is_array() {
            json["history"] = json!([]);
        }
        Ok(BuildConfig { json })
    }

    fn cfg(&mut self) -> &mut Map<String, Value> {
        if !self.json["config"].is_object() {
            self.json["config"] = json!({});
        }
        self.json["config"].as_object_mut().expect("object")
    }

    fn strings(&self, key: &str) -> Vec<String> {
        self.json["config"][key]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The diff ids of the layers, lowest first.
    pub fn diff_ids(&self) -> Vec<String> {
        self.json["rootfs"]["diff_ids"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn env(&self) -> Vec<String> {
        self.strings("Env")
    }

    pub fn workdir(&self) -> String {
        self.json["config"]["WorkingDir"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    pub fn user(&self) -> String {
        self.json["config"]["User"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// Adds the default PATH to the environment if it has none; whether it did.
    pub fn ensure_path(&mut self) -> bool {
        if self.env().iter().any(|e| e.starts_with("PATH=")) {
            return false;
        }
        let mut env: Vec<Value> = self.env().into_iter().map(Value::String).collect();
        env.insert(0, Value::String(format!("PATH={DEFAULT_PATH}")));
        self.cfg().insert("Env".into(), Value::Array(env));
        true
    }

    /// The shell of shell-form RUN (SHELL, default `/bin/sh -c`).
    pub fn shell(&self) -> Vec<String> {
        let s = self.strings("Shell");
        if s.is_empty() {
            vec!["/bin/sh".into(), "-c".into()]
        } else {
            s
        }
    }

    /// ONBUILD triggers of the base (which dermaga does not run).
    pub fn onbuild(&self) -> Vec<String> {
        self.strings("OnBuild")
    }

    /// Adds a layer and its history entry.
    pub fn add_layer(&mut self, diff_id: &str, created_by: &str) {
        if let Some(a) = self.json["rootfs"]["diff_ids"].as_array_mut() {
            a.push(Value::String(diff_id.to_string()));
        }
        self.history(created_by, false);
    }

    /// A history entry (`empty_layer` for steps that change only the config).
    pub fn history(&mut self, created_by: &str, empty_layer: bool) {
        let mut h = json!({"created": now(), "created_by": created_by});
        if empty_layer {
            h["empty_layer"] = Value::Bool(true);
        }
        if let Some(a) = self.json["history"].as_array_mut() {
            a.push(h);
        }
    }

    /// Sets `created` and returns the bytes to store.
    pub fn finish(&mut self) -> Vec<u8> {
        self.json["created"] = Value::String(now());
        serde_json::to_vec(&self.json).expect("json")
    }

    /// Applies a config-only instruction (ENV, LABEL, WORKDIR, USER, CMD, ENTRYPOINT,
    /// EXPOSE, VOLUME, STOPSIGNAL, HEALTHCHECK, SHELL, ONBUILD). `cmd_set_here`: whether CMD
    /// was given in this stage (ENTRYPOINT clears an inherited CMD, as Docker does).
    pub fn apply(&mut self, ins: &Instruction, cmd_set_here: bool) {
        let c = self.cfg();
        match ins {
            Instruction::Env(pairs) => {
                let mut env: Vec<Value> = c
                    .get("Env")
                    .and_then(|v| v.as_array().cloned())
                    .unwrap_or_default();
                for (k, v) in pairs {
                    let prefix = format!("{k}=");
                    env.retain(|e| !e.as_str().is_some_and(|s| s.starts_with(&prefix)));
                    env.push(Value::String(format!("{k}={v}")));
                }
                c.insert("Env".into(), Value::Array(env));
            }
            Instruction::Label(pairs) => {
                let labels = c.entry("Labels").or_insert_with(|| json!({}));
                if !labels.is_object() {
                    *labels = json!({});
                }
                for (k, v) in pairs {
                    labels[k] = Value::String(v.clone());
                }
            }
            Instruction::Workdir(w) => {
                c.insert("WorkingDir".into(), Value::String(w.clone()));
            }
            Instruction::User(u) => {
                c.insert("User".into(), Value::String(u.clone()));
            }
            Instruction::Cmd(cmd) => {
                c.insert("Cmd".into(), json!(exec_words(cmd)));
            }
            Instruction::Entrypoint(cmd) => {
                c.insert("Entrypoint".into(), json!(exec_words(cmd)));
                if !cmd_set_here {
                    c.remove("Cmd");
                }
            }
            Instruction::Expose(ports) => {
                let e = c.entry("ExposedPorts").or_insert_with(|| json!({}));
                if !e.is_object() {
                    *e = json!({});
                }
                for p in ports {
                    e[p] = json!({});
                }
            }
            Instruction::Volume(vols) => {
                let e = c.entry("Volumes").or_insert_with(|| json!({}));
                if !e.is_object() {
                    *e = json!({});
                }
                for v in vols {
                    e[v] = json!({});
                }
            }
            Instruction::StopSignal(s) => {
                c.insert("StopSignal".into(), Value::String(s.clone()));
            }
            Instruction::Healthcheck(h) => {
                let v = match h {
                    Healthcheck::None => json!({"Test": ["NONE"]}),
                    Healthcheck::Check {
                        interval,
                        timeout,
                        start_period,
                        start_interval,
                        retries,
                        ..
                    } => {
                        let mut v = json!({"Test": h.test()});
                        for (k, n) in [
                            ("Interval", *interval),
                            ("Timeout", *timeout),
                            ("StartPeriod", *start_period),
                            ("StartInterval", *start_interval),
                        ] {
                            if n > 0 {
                                v[k] = json!(n);
                            }
                        }
                        if *retries > 0 {
                            v["Retries"] = json!(retries);
                        }
                        v
                    }
                };
                c.insert("Healthcheck".into(), v);
            }
            Instruction::Shell(s) => {
                c.insert("Shell".into(), json!(s));
            }
            Instruction::Onbuild(t) => {
                let e = c.entry("OnBuild").or_insert_with(|| json!([]));
                if let Some(a) = e.as_array_mut() {
                    a.push(Value::String(t.clone()));
                }
            }
            Instruction::Run { .. }
            | Instruction::Copy(_)
            | Instruction::Add(_)
            | Instruction::Arg(_) => {}
        }
    }
}

fn exec_words(c: &Command) -> Vec<String> {
    match c {
        Command::Exec(v) => v.clone(),
        Command::Shell(s) => vec!["/bin/sh".into(), "-c".into(), s.clone()],
    }
}

/// The `created_by` text of a step's history entry, as buildah writes it.
pub fn created_by(ins: &Instruction, text: &str, shell: &[String]) -> String {
    match ins {
        Instruction::Run {
            command: Command::Shell(s),
            ..
        } => format!("{} {s}", shell.join(" ")),
        _ => format!("/bin/sh -c #(nop) {text}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entrypoint_clears_inherited_cmd() {
        let mut c = BuildConfig::scratch();
        c.apply(&Instruction::Cmd(Command::Exec(vec!["sh".into()])), true);
        c.apply(
            &Instruction::Entrypoint(Command::Exec(vec!["/bin/app".into()])),
            false,
        );
        assert!(c.json["config"].get("Cmd").is_none());
        c.apply(
            &Instruction::Env(vec![("A".into(), "1".into()), ("A".into(), "2".into())]),
            false,
        );
        assert_eq!(c.env(), vec!["A=2".to_string()]);
        c.apply(&Instruction::Expose(vec!["80/tcp".into()]), false);
        assert!(c.json["config"]["ExposedPorts"]["80/tcp"].is_object());
    }
}
