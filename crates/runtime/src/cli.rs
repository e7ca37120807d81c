//! runc's command line, parsed by hand: global flags, then a verb, its flags, then positional
//! arguments. As in runc (urfave/cli), a verb's flags end at its first positional argument, so
//! `exec ID ls -l` passes `-l` to `ls`.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;

use crate::util::{Error, Result};

pub const DEFAULT_ROOT: &str = "/run/dermaga-runtime";

#[derive(Debug, Clone)]
pub struct Global {
    pub root: PathBuf,
    pub log: Option<PathBuf>,
    pub log_json: bool,
    pub debug: bool,
    pub systemd_cgroup: bool,
}

/// One verb's parsed flags and positional arguments.
#[derive(Debug, Default)]
pub struct Parsed {
    values: HashMap<&'static str, Vec<String>>,
    pub args: Vec<String>,
}

impl Parsed {
    pub fn flag(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }
    pub fn value(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .and_then(|v| v.last())
            .map(String::as_str)
    }
    pub fn values(&self, name: &str) -> &[String] {
        self.values.get(name).map(Vec::as_slice).unwrap_or(&[])
    }
}

/// A flag a verb accepts: its canonical name, its aliases and whether it takes a value.
pub struct FlagSpec {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub takes_value: bool,
}

const fn f(name: &'static str, aliases: &'static [&'static str], takes_value: bool) -> FlagSpec {
    FlagSpec {
        name,
        aliases,
        takes_value,
    }
}

pub const CREATE_FLAGS: &[FlagSpec] = &[
    f("bundle", &["b"], true),
    f("console-socket", &[], true),
    f("pidfd-socket", &[], true),
    f("pid-file", &[], true),
    f("no-pivot", &[], false),
    f("no-new-keyring", &[], false),
    f("preserve-fds", &[], true),
];

pub const RUN_FLAGS: &[FlagSpec] = &[
    f("bundle", &["b"], true),
    f("console-socket", &[], true),
    f("pidfd-socket", &[], true),
    f("pid-file", &[], true),
    f("no-pivot", &[], false),
    f("no-new-keyring", &[], false),
    f("preserve-fds", &[], true),
    f("detach", &["d"], false),
    f("keep", &[], false),
    f("no-subreaper", &[], false),
];

pub const EXEC_FLAGS: &[FlagSpec] = &[
    f("console-socket", &[], true),
    f("pidfd-socket", &[], true),
    f("cwd", &[], true),
    f("env", &["e"], true),
    f("tty", &["t"], false),
    f("user", &["u"], true),
    f("additional-gids", &["g"], true),
    f("process", &["p"], true),
    f("detach", &["d"], false),
    f("pid-file", &[], true),
    f("process-label", &[], true),
    f("apparmor", &[], true),
    f("no-new-privs", &[], false),
    f("cap", &["c"], true),
    f("preserve-fds", &[], true),
    f("cgroup", &[], true),
    f("ignore-paused", &[], false),
];

pub const KILL_FLAGS: &[FlagSpec] = &[f("all", &["a"], false)];
pub const DELETE_FLAGS: &[FlagSpec] = &[f("force", &["f"], false)];
pub const LIST_FLAGS: &[FlagSpec] = &[f("format", &["f"], true), f("quiet", &["q"], false)];
pub const PS_FLAGS: &[FlagSpec] = &[f("format", &["f"], true)];
pub const EVENTS_FLAGS: &[FlagSpec] = &[f("stats", &[], false), f("interval", &[], true)];
pub const NO_FLAGS: &[FlagSpec] = &[];

/// Parses a verb's flags up to the first positional argument (or `--`).
pub fn parse_verb(args: &[String], specs: &[FlagSpec]) -> Result<Parsed> {
    let mut p = Parsed::default();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == "--" {
            i += 1;
            break;
        }
        if !a.starts_with('-') || a == "-" {
            break;
        }
        let body = a.trim_start_matches('-');
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        let spec = specs
            .iter()
            .find(|s| s.name == name || s.aliases.contains(&name))
            .ok_or_else(|| Error(format!("flag provided but not defined: -{name}")))?;
        let value = if spec.takes_value {
            match inline {
                Some(v) => v,
                None => {
                    i += 1;
                    args.get(i)
                        .cloned()
                        .ok_or_else(|| Error(format!("flag needs an argument: -{name}")))?
                }
            }
        } else {
            match inline.as_deref() {
                None | Some("true") => String::new(),
                Some("false") => {
                    i += 1;
                    continue;
                }
                Some(v) => return Err(Error(format!("invalid boolean value {v:?} for -{name}"))),
            }
        };
        p.values.entry(spec.name).or_default().push(value);
        i += 1;
    }
    p.args = args[i..].to_vec();
    Ok(p)
}

/// Splits runc's global flags from the verb and its arguments.
pub fn parse_global(args: Vec<OsString>) -> Result<(Global, Option<String>, Vec<String>)> {
    let args: Vec<String> = args
        .into_iter()
        .map(|a| {
            a.into_string()
                .map_err(|a| Error(format!("argument is not UTF-8: {a:?}")))
        })
        .collect::<Result<_>>()?;
    let mut g = Global {
        root: PathBuf::from(DEFAULT_ROOT),
        log: None,
        log_json: false,
        debug: false,
        systemd_cgroup: false,
    };
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if !a.starts_with('-') {
            break;
        }
        let body = a.trim_start_matches('-');
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        let value = |i: &mut usize| -> Result<String> {
            match &inline {
                Some(v) => Ok(v.clone()),
                None => {
                    *i += 1;
                    args.get(*i)
                        .cloned()
                        .ok_or_else(|| Error(format!("flag needs an argument: --{name}")))
                }
            }
        };
        match name {
            "root" => g.root = PathBuf::from(value(&mut i)?),
            "log" => g.log = Some(PathBuf::from(value(&mut i)?)),
            "log-format" => {
                let v = value(&mut i)?;
                g.log_json = match v.as_str() {
                    "json" => true,
                    "text" => false,
                    _ => return Err(Error(format!("invalid log-format: {v}"))),
                }
            }
            "criu" | "rootless" => {
                value(&mut i)?;
            }
            "debug" => g.debug = true,
            "systemd-cgroup" => g.systemd_cgroup = true,
            "help" | "h" => return Ok((g, Some("help".into()), vec![])),
            "version" | "v" => return Ok((g, Some("--version".into()), vec![])),
            _ => return Err(Error(format!("flag provided but not defined: -{name}"))),
        }
        i += 1;
    }
    let verb = args.get(i).cloned();
    let rest = if i < args.len() {
        args[i + 1..].to_vec()
    } else {
        vec![]
    };
    Ok((g, verb, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn flags_stop_at_first_positional() {
        let p = parse_verb(
            &s(&["-t", "--env", "A=1", "-e=B=2", "ctr", "ls", "-l"]),
            EXEC_FLAGS,
        )
        .unwrap();
        assert!(p.flag("tty"));
        assert_eq!(p.values("env"), &["A=1".to_string(), "B=2".to_string()]);
        assert_eq!(p.args, s(&["ctr", "ls", "-l"]));
    }

    #[test]
    fn globals_then_verb() {
        let args = [
            "--root",
            "/tmp/r",
            "--log=/tmp/l",
            "--log-format",
            "json",
            "create",
            "--bundle",
            "b",
            "x",
        ];
        let (g, verb, rest) = parse_global(args.iter().map(OsString::from).collect()).unwrap();
        assert_eq!(g.root, PathBuf::from("/tmp/r"));
        assert!(g.log_json);
        assert_eq!(verb.as_deref(), Some("create"));
        let p = parse_verb(&rest, CREATE_FLAGS).unwrap();
        assert_eq!(p.value("bundle"), Some("b"));
        assert_eq!(p.args, s(&["x"]));
    }

    #[test]
    fn unknown_flag_is_refused() {
        assert!(parse_verb(&s(&["--nope", "x"]), KILL_FLAGS).is_err());
    }
}
