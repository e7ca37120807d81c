//! Helpers shared by the DNS integration tests: zones on disk, servers on loopback, and the
//! real clients (`dig`, `kdig`) run against them.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// A fresh directory under the system temp dir, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let p = std::env::temp_dir().join(format!("dermaga-dns-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).expect("write file");
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Finds a client or server program; fails loudly when it is missing.
pub fn program(name: &str) -> PathBuf {
    for dir in [
        "/usr/bin",
        "/usr/sbin",
        "/usr/local/bin",
        "/usr/local/sbin",
        "/bin",
        "/sbin",
    ] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return p;
        }
    }
    panic!("{name} is not installed (scripts/test.sh installs it)");
}

/// Runs a program and returns its standard output; panics with stderr on failure.
pub fn run(prog: &str, args: &[&str]) -> String {
    let out = Command::new(program(prog))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{prog}: {e}"));
    assert!(
        out.status.success(),
        "{prog} {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `dig` against a loopback server: returns its whole output.
pub fn dig(port: u16, args: &[&str]) -> String {
    let p = port.to_string();
    let mut a = vec!["@127.0.0.1", "-p", &p, "+norec", "+time=2", "+tries=2"];
    a.extend_from_slice(args);
    run("dig", &a)
}

/// `kdig` against a loopback server.
pub fn kdig(port: u16, args: &[&str]) -> String {
    let p = port.to_string();
    let mut a = vec!["@127.0.0.1", "-p", &p, "+norec", "+time=2", "+retry=1"];
    a.extend_from_slice(args);
    run("kdig", &a)
}

/// The `flags:` list of a dig/kdig header line, e.g. `["qr", "aa"]`.
pub fn flags(out: &str) -> Vec<String> {
    for line in out.lines() {
        if let Some(i) = line.to_ascii_lowercase().find("flags:") {
            let rest = &line[i + 6..];
            let end = rest.find(';').unwrap_or(rest.len());
            return rest[..end].split_whitespace().map(str::to_string).collect();
        }
    }
    Vec::new()
}

/// The status word (`NOERROR`, `NXDOMAIN`, ...) of a dig/kdig answer.
pub fn status(out: &str) -> String {
    for line in out.lines() {
        if let Some(i) = line.find("status: ") {
            let rest = &line[i + 8..];
            return rest
                .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
                .next()
                .unwrap_or("")
                .to_string();
        }
    }
    String::new()
}

/// Waits (bounded) until `f` holds.
pub fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}
