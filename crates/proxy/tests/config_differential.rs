//! dermaga's checker against the installed haproxy (`/usr/sbin/haproxy -c`, 2.6 in Debian 12):
//! both must accept the good files and reject the broken ones, with the same first error;
//! files using what dermaga does not implement are accepted by haproxy and refused by
//! dermaga. `-cc` conditions must evaluate the same way.
//!
//! haproxy is a required test peer (scripts/test.sh installs it): without it these tests fail.

use std::path::{Path, PathBuf};
use std::process::Command;

use dermaga_proxy::config::{self, Severity};

const HAPROXY: &str = "/usr/sbin/haproxy";

/// Environment given to both checkers.
const ENV: &[(&str, &str)] = &[
    ("DERMAGA_TEST_PORT", "8095"),
    ("DERMAGA_TEST_MODE", "plain"),
];

/// Good files haproxy cannot check here, and why.
const NOT_FOR_HAPROXY: &[(&str, &str)] = &[(
    "good/fd-bind.cfg",
    "haproxy -c verifies that inherited file descriptors are open sockets",
)];

/// Files whose messages differ from haproxy's on purpose, and why. Every other file must
/// give exactly haproxy's standard error (process ids aside).
const DIFFERENT_WORDS: &[(&str, &str)] = &[
    (
        "bad/http-request-unknown.cfg",
        "dermaga lists the actions it implements, not haproxy's",
    ),
    (
        "bad/nbthread-zero.cfg",
        "dermaga allows up to 4096 threads, haproxy 2.6 64",
    ),
    (
        "good/defaults-backend.cfg",
        "dermaga warns about the harmless keywords it ignores",
    ),
    (
        "debian-stock.cfg",
        "dermaga names the ciphers its TLS stack cannot offer",
    ),
];

struct Outcome {
    exit: i32,
    first_alert: Option<String>,
    /// Standard error with process ids replaced by `P`, without haproxy's start-up notices.
    stderr: String,
}

fn normalize(stderr: &str) -> String {
    stderr
        .lines()
        .filter(|l| {
            !l.contains(" : haproxy version is ") && !l.contains(" : path to executable is ")
        })
        .map(|l| match (l.starts_with('['), l.find('('), l.find(')')) {
            (true, Some(a), Some(b)) if a < b => format!("{}(P){}", &l[..a], &l[b + 1..]),
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn haproxy_check(path: &Path) -> Outcome {
    let mut cmd = Command::new(HAPROXY);
    cmd.arg("-c").arg("-f").arg(path);
    for (k, v) in ENV {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {HAPROXY} (install the haproxy package): {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let first_alert = stderr
        .lines()
        .find(|l| l.starts_with("[ALERT]"))
        .and_then(|l| l.split_once(" : config : ").map(|(_, m)| m.to_string()));
    Outcome {
        exit: out.status.code().unwrap_or(-1),
        first_alert,
        stderr: normalize(&stderr),
    }
}

fn dermaga_check(path: &Path) -> Outcome {
    let env: std::collections::HashMap<String, String> = ENV
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let r = config::check_with_env(&[path.to_path_buf()], &env);
    let first_alert = r
        .diagnostics
        .iter()
        .find(|d| d.severity == Severity::Alert)
        .map(|d| d.message.lines().next().unwrap_or("").to_string());
    Outcome {
        exit: r.exit_code,
        first_alert,
        stderr: normalize(&r.render_stderr(0)),
    }
}

fn files(dir: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(format!("tests/data/configs/{dir}"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cfg"))
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no files in {dir}");
    v
}

fn short(p: &Path) -> String {
    let s = p.to_string_lossy();
    s.trim_start_matches("tests/data/configs/").to_string()
}

#[test]
fn good_files_are_accepted_by_both() {
    let mut list = files("good");
    list.push(PathBuf::from("tests/data/configs/debian-stock.cfg"));
    let mut failures = Vec::new();
    for p in list {
        let name = short(&p);
        let ours = dermaga_check(&p);
        if ours.exit != 0 {
            failures.push(format!(
                "{name}: dermaga exit {} ({:?})",
                ours.exit, ours.first_alert
            ));
        }
        if NOT_FOR_HAPROXY.iter().any(|(n, _)| *n == name) {
            continue;
        }
        let theirs = haproxy_check(&p);
        if theirs.exit != 0 {
            failures.push(format!(
                "{name}: haproxy exit {} ({:?})",
                theirs.exit, theirs.first_alert
            ));
        }
        if !DIFFERENT_WORDS.iter().any(|(n, _)| *n == name) && ours.stderr != theirs.stderr {
            failures.push(format!(
                "{name}: messages differ\n--- dermaga\n{}\n--- haproxy\n{}",
                ours.stderr, theirs.stderr
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn broken_files_are_rejected_by_both_with_the_same_error() {
    let mut failures = Vec::new();
    for p in files("bad") {
        let name = short(&p);
        let (ours, theirs) = (dermaga_check(&p), haproxy_check(&p));
        if ours.exit != 1 || theirs.exit != 1 {
            failures.push(format!(
                "{name}: dermaga exit {}, haproxy exit {}",
                ours.exit, theirs.exit
            ));
            continue;
        }
        if DIFFERENT_WORDS.iter().any(|(n, _)| *n == name) {
            continue;
        }
        if ours.stderr != theirs.stderr {
            failures.push(format!(
                "{name}: messages differ\n--- dermaga\n{}\n--- haproxy\n{}",
                ours.stderr, theirs.stderr
            ));
        }
        if ours.first_alert != theirs.first_alert {
            failures.push(format!(
                "{name}:\n  dermaga: {:?}\n  haproxy: {:?}",
                ours.first_alert, theirs.first_alert
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn unimplemented_features_are_refused_by_dermaga_only() {
    let mut failures = Vec::new();
    for p in files("unsupported") {
        let name = short(&p);
        let (ours, theirs) = (dermaga_check(&p), haproxy_check(&p));
        if theirs.exit == 1 {
            failures.push(format!(
                "{name}: haproxy rejects it too: {:?}",
                theirs.first_alert
            ));
        }
        match &ours.first_alert {
            Some(m) if ours.exit == 1 && m.contains("supported by dermaga") => {}
            other => failures.push(format!("{name}: dermaga exit {}: {other:?}", ours.exit)),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn cc_conditions_evaluate_as_haproxy() {
    let exprs = [
        "",
        "0",
        "1",
        "-1",
        "0x10",
        "!0",
        "!!1",
        "! 1",
        "1 && 0",
        "0 || 1",
        "1 && 0 || 1",
        "0 && (0 || 1)",
        "!(0 || 0) && 1",
        "defined(HOME)",
        "defined(DERMAGA_NOPE)",
        "defined()",
        "defined(HOME) && !defined(DERMAGA_NOPE)",
        "streq(a,a)",
        "streq(a, a)",
        "strneq(a,b)",
        "streq(,)",
        "\"streq($DERMAGA_TEST_MODE,plain)\"",
        "streq(\"$DERMAGA_TEST_MODE\",plain)",
        "feature(THREAD)",
        "feature(EPOLL)",
        "feature(NO_SUCH_FEATURE)",
        "version_atleast(2.4)",
        "version_atleast(2.6)",
        "version_atleast(2.7)",
        "version_before(3.0)",
        "version_before(2.2)",
        "version_atleast(2.6-dev1)",
        "foo(x)",
        "streq(a)",
        "streq(a,b,c)",
        "1 2",
        "(1",
        "1 &&",
        "1 || foo",
    ];
    let mut failures = Vec::new();
    for e in exprs {
        let mut cmd = Command::new(HAPROXY);
        cmd.arg("-cc").arg(e);
        for (k, v) in ENV {
            cmd.env(k, v);
        }
        let out = cmd
            .output()
            .unwrap_or_else(|err| panic!("cannot run {HAPROXY}: {err}"));
        let theirs = out.status.code().unwrap_or(-1);
        let env: std::collections::HashMap<String, String> = ENV
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .chain(std::env::var("HOME").ok().map(|h| ("HOME".to_string(), h)))
            .collect();
        let ours = match config::eval_condition_expr_with_env(e, &env) {
            Ok(true) => 0,
            Ok(false) => 1,
            Err(_) => 2,
        };
        if ours != theirs {
            failures.push(format!("{e:?}: dermaga {ours}, haproxy {theirs}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
