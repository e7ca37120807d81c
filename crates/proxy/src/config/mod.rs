//! haproxy.cfg: the file syntax, the keywords dermaga implements, and the model they produce.
//!
//! - [`load`] reads the files given with `-f` (a directory gives its `*.cfg` files in lexical
//!   order) into a [`Config`] ([`model`] is the contract with the data path).
//! - [`check`] does what `haproxy -c` does and returns what it prints, in haproxy 2.6's exact
//!   words and shapes (`[ALERT]    (PID) : config : parsing [FILE:LINE] : ...`).
//! - [`eval_condition_expr`] evaluates a `.if` condition, for `-cc`.
//!
//! Where a file uses something dermaga does not implement, loading fails with
//! `parsing [FILE:LINE] : 'KEYWORD' is not supported by dermaga.`, except for the few
//! harmless keywords in [`HARMLESS`], which only warn. Nothing is ignored silently.
//!
//! ```
//! use std::collections::HashMap;
//! use dermaga_proxy::config::{self, Balance, Mode};
//!
//! let text = "\
//! defaults
//!     mode http
//!     timeout connect 5s
//!     timeout client 30s
//!     timeout server 30s
//! frontend www
//!     bind 127.0.0.1:8080
//!     acl is_api path_beg /api
//!     use_backend api if is_api
//!     default_backend web
//! backend api
//!     balance leastconn
//!     server a1 127.0.0.1:9001 check
//! backend web
//!     server w1 127.0.0.1:9002 check inter 1s
//! ";
//! let env: HashMap<String, String> = HashMap::new();
//! let (cfg, warnings) = config::load_str("example.cfg", text, &env).unwrap();
//! assert!(warnings.is_empty());
//! let www = cfg.frontend("www").unwrap();
//! assert_eq!(www.settings.mode, Mode::Http);
//! let rule = &www.use_backends[0];
//! assert_eq!(cfg.proxies[rule.backend.index].settings.balance, Some(Balance::LeastConn));
//! assert_eq!(rule.loc.to_string(), "example.cfg:9");
//! ```
//!
//! Module map: [`lexer`] cuts lines into words and applies `.if` blocks; `cond` evaluates
//! conditions; `parser` turns lines into the model; `aclparse` reads ACLs and conditions;
//! `format` reads log-format strings; `units` reads times and sizes.
//!
//! # Where dermaga departs from haproxy 2.6 on purpose
//!
//! - Numbers are checked: `maxconn abc`, `retries -1`, `weight x` or `bind :8x0` are errors,
//!   where haproxy reads them as 0 (or 8) without a word.
//! - `nbthread` goes up to 4096 (haproxy 2.6 stops at 64).
//! - `.if version_atleast()`/`version_before()` compare with [`HAPROXY_COMPAT_VERSION`];
//!   `feature()` knows [`FEATURES`] (no `OPENSSL`, `LUA`, `PCRE`...), and the `openssl_*`
//!   predicates fail to evaluate, as in a haproxy built without OpenSSL. `.diag` messages are
//!   not printed (haproxy prints them only with `-dD`).
//! - A backend without `balance` uses roundrobin, as haproxy before 3.3 (3.3 and later pick
//!   `random`).
//! - Named `defaults` sections holding `acl`, `http-request`, `http-response` or
//!   `tcp-request connection|content` rules are refused (haproxy 2.5+ runs those rules first).
//! - `-c` does not look at `fd@N` sockets (haproxy checks that they are open sockets); the
//!   proxy does at start-up. `fd@${NAME}` is also resolved outside double quotes.
//! - The "'http-request' expects ..." error lists the actions dermaga implements.
//! - `setenv` and friends change the variables seen by the configuration only, not the
//!   process environment.
//! - Every keyword dermaga does not implement is an error naming it; haproxy would accept it.

mod aclparse;
mod cond;
mod diag;
mod format;
mod keywords;
pub mod lexer;
mod logformat;
pub mod model;
mod parser;
mod units;

pub use cond::{has_feature, FEATURES, HAPROXY_COMPAT_VERSION};
pub use diag::{Diagnostic, Severity};
pub use lexer::{Env, ProcessEnv};
pub use model::*;
pub use parser::{HARMLESS, TLS12_CIPHERS, TLS13_CIPHERSUITES};
pub use units::{parse_size, parse_time, TimeError};

use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The files a list of `-f` arguments names, in order: a file as it is, a directory as its
/// `*.cfg` regular files (hidden ones excepted) in lexical order, as haproxy does.
pub fn config_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Diagnostic> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| cannot_open(p, &e))?;
        if !meta.is_dir() {
            out.push(p.clone());
            continue;
        }
        let mut names: Vec<PathBuf> = std::fs::read_dir(p)
            .map_err(|e| cannot_open(p, &e))?
            .filter_map(|e| e.ok())
            .filter(|e| {
                let n = e.file_name();
                let n = n.to_string_lossy();
                !n.starts_with('.') && n.ends_with(".cfg") && n.len() > 4
            })
            .filter(|e| {
                std::fs::metadata(e.path())
                    .map(|m| m.is_file())
                    .unwrap_or(false)
            })
            .map(|e| e.path())
            .collect();
        names.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
        out.extend(names);
    }
    Ok(out)
}

fn cannot_open(p: &Path, e: &std::io::Error) -> Diagnostic {
    let reason = match e.kind() {
        std::io::ErrorKind::NotFound => "No such file or directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "Permission denied".to_string(),
        _ => e.to_string(),
    };
    Diagnostic::alert(
        None,
        format!(
            "Cannot open configuration file/directory {} : {reason}",
            p.display()
        ),
    )
}

/// What [`check`] found: the messages haproxy would print and its exit status.
#[derive(Debug, Clone)]
pub struct CheckReport {
    /// Everything for standard error, in order, including haproxy's closing lines
    /// (`Error(s) found in configuration file : FILE`, `Fatal errors found in configuration.`).
    pub diagnostics: Vec<Diagnostic>,
    /// Lines for standard output: `Configuration file is valid` (with `Warnings were found.`
    /// before it when there were warnings), or haproxy's "no listener" line.
    pub stdout: Vec<String>,
    /// 0 valid, 1 errors, 2 valid but nothing to listen on (as haproxy -c).
    pub exit_code: i32,
    /// The model, when the configuration is usable.
    pub config: Option<Config>,
}

impl CheckReport {
    /// Standard error as haproxy prints it, for process id `pid`.
    pub fn render_stderr(&self, pid: u32) -> String {
        let mut s = String::new();
        for d in &self.diagnostics {
            s.push_str(&d.render(pid));
            s.push('\n');
        }
        s
    }

    /// Whether the configuration has no error.
    pub fn is_valid(&self) -> bool {
        self.exit_code != 1
    }
}

/// Loads configuration files from the process environment. On success, returns the model
/// and the warnings; on failure, every diagnostic (errors and warnings).
pub fn load(paths: &[PathBuf]) -> Result<(Config, Vec<Diagnostic>), Vec<Diagnostic>> {
    load_with_env(paths, &ProcessEnv)
}

/// [`load`] with another source of environment variables.
pub fn load_with_env(
    paths: &[PathBuf],
    env: &dyn Env,
) -> Result<(Config, Vec<Diagnostic>), Vec<Diagnostic>> {
    let r = check_with_env(paths, env);
    match r.config {
        Some(c) if r.exit_code != 1 => Ok((c, r.diagnostics)),
        _ => Err(r.diagnostics),
    }
}

/// Loads a configuration held in memory, as if it were the file `name`.
pub fn load_str(
    name: &str,
    text: &str,
    env: &dyn Env,
) -> Result<(Config, Vec<Diagnostic>), Vec<Diagnostic>> {
    let r = check_sources(vec![(name.to_string(), Ok(text.as_bytes().to_vec()))], env);
    match r.config {
        Some(c) if r.exit_code != 1 => Ok((c, r.diagnostics)),
        _ => Err(r.diagnostics),
    }
}

/// `haproxy -c -f ...`: reads the files and reports as haproxy 2.6 does.
pub fn check(paths: &[PathBuf]) -> CheckReport {
    check_with_env(paths, &ProcessEnv)
}

/// [`check`] with another source of environment variables.
pub fn check_with_env(paths: &[PathBuf], env: &dyn Env) -> CheckReport {
    let files = match config_files(paths) {
        Ok(f) => f,
        Err(d) => {
            return CheckReport {
                diagnostics: vec![d],
                stdout: Vec::new(),
                exit_code: 1,
                config: None,
            }
        }
    };
    let sources = files
        .into_iter()
        .map(|f| {
            let content = std::fs::read(&f).map_err(|e| cannot_open(&f, &e));
            (f.display().to_string(), content)
        })
        .collect();
    check_sources(sources, env)
}

fn check_sources(
    sources: Vec<(String, Result<Vec<u8>, Diagnostic>)>,
    env: &dyn Env,
) -> CheckReport {
    let mut p = parser::Parser::new(env);
    let mut diags: Vec<Diagnostic> = Vec::new();
    let mut parse_errors = false;
    let mut aborted = false;
    let mut env_changes = lexer::EnvChanges::default();
    for (name, content) in sources {
        let content = match content {
            Ok(c) => c,
            Err(d) => {
                diags.push(d);
                return CheckReport {
                    diagnostics: diags,
                    stdout: Vec::new(),
                    exit_code: 1,
                    config: None,
                };
            }
        };
        let file: Arc<str> = Arc::from(name.as_str());
        let mut file_diags = Vec::new();
        let lines = lexer::read_lines(&file, &content, env, &mut env_changes, &mut file_diags);
        p.start_file();
        // Directive messages and lexer errors come out in line order with the parser's.
        let mut lex = file_diags.into_iter().peekable();
        for line in &lines.lines {
            while let Some(d) =
                lex.next_if(|d| d.loc.as_ref().is_some_and(|l| l.line < line.loc.line))
            {
                p.diags.push(d);
            }
            p.line(line);
            if p.abort {
                break;
            }
        }
        p.diags.extend(lex);
        p.start_file();
        let file_has_errors = p.diags.iter().any(Diagnostic::is_alert);
        diags.append(&mut p.diags);
        if file_has_errors {
            parse_errors = true;
            diags.push(Diagnostic::alert(
                None,
                format!("Error(s) found in configuration file : {name}"),
            ));
        }
        if lines.abort || p.abort {
            aborted = true;
            break;
        }
    }
    if aborted {
        return CheckReport {
            diagnostics: diags,
            stdout: Vec::new(),
            exit_code: 1,
            config: None,
        };
    }
    if parse_errors {
        diags.push(Diagnostic::alert(
            None,
            "Fatal errors found in configuration.".to_string(),
        ));
        return CheckReport {
            diagnostics: diags,
            stdout: Vec::new(),
            exit_code: 1,
            config: None,
        };
    }
    let (config, post) = p.finish();
    let post_errors = post.iter().any(Diagnostic::is_alert);
    diags.extend(post);
    if post_errors {
        diags.push(Diagnostic::alert(
            None,
            "Fatal errors found in configuration.".to_string(),
        ));
        return CheckReport {
            diagnostics: diags,
            stdout: Vec::new(),
            exit_code: 1,
            config: None,
        };
    }
    let mut stdout = Vec::new();
    let warned = diags.iter().any(|d| d.severity == Severity::Warning);
    if warned && config.global.zero_warning {
        diags.push(Diagnostic::alert(
            None,
            "Some warnings were found and 'zero-warning' is set. Aborting.".to_string(),
        ));
        return CheckReport {
            diagnostics: diags,
            stdout,
            exit_code: 1,
            config: None,
        };
    }
    if warned {
        stdout.push("Warnings were found.".to_string());
    }
    // haproxy counts the stats sockets as listeners too.
    let listens =
        config.frontends().any(|p| !p.binds.is_empty()) || !config.global.stats_sockets.is_empty();
    let exit_code = if listens {
        stdout.push("Configuration file is valid".to_string());
        0
    } else {
        stdout.push(
            "Configuration file has no error but will not start (no listener) => exit(2)."
                .to_string(),
        );
        2
    };
    CheckReport {
        diagnostics: diags,
        stdout,
        exit_code,
        config: Some(config),
    }
}

/// Evaluates a condition as `.if` does (for `-cc EXPR`): the text is cut into words as a
/// configuration line is (double quotes expand `"$VAR"`), re-joined by single spaces, then
/// evaluated. The error is haproxy's "Failed to evaluate condition: ..." message.
pub fn eval_condition_expr(expr: &str) -> Result<bool, Diagnostic> {
    eval_condition_expr_with_env(expr, &ProcessEnv)
}

/// [`eval_condition_expr`] with another source of environment variables.
pub fn eval_condition_expr_with_env(expr: &str, env: &dyn Env) -> Result<bool, Diagnostic> {
    let ctx = lexer::LineContext {
        file: "",
        line: 0,
        section: "",
    };
    let words = lexer::split_words(expr.as_bytes(), env, &ctx)
        .map_err(|e| Diagnostic::alert(None, format!("Failed to parse the condition: {e:?}")))?;
    let joined = words
        .iter()
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    cond::eval_str(&joined, env).map_err(|e| {
        Diagnostic::alert(None, format!("Failed to evaluate condition: {}", e.message))
    })
}
