//! `dermaga dns` end to end: the built binary, real `dig` over UDP and TCP, real signals.
//!
//! Each test has its own temp dir and its own ephemeral loopback port (free for both UDP and
//! TCP); readiness and reloads are awaited by polling with a bounded deadline, never by sleeping
//! a fixed time.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_dermaga");
const DEADLINE: Duration = Duration::from_secs(20);

/// A directory removed when the test ends.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "dermaga-dns-cli-{tag}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).expect("write test file");
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

use dermaga_test_ports::port as free_port;

fn zone_text(serial: u32, extra: &str) -> String {
    format!(
        "$ORIGIN example.org.\n$TTL 300\n@ IN SOA ns1 hostmaster {serial} 60 30 600 60\n\
         @ NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.2\n{extra}"
    )
}

fn dermaga(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("run the dermaga binary")
}

/// `dig @127.0.0.1 -p PORT ARGS... +short`-like run; returns stdout (dig must exist).
fn dig(port: u16, args: &[&str]) -> String {
    let p = port.to_string();
    let out = Command::new("dig")
        .args(["@127.0.0.1", "-p", &p, "+time=2", "+tries=1"])
        .args(args)
        .output()
        .expect("dig is installed (the test needs it)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn status(dig_out: &str) -> &str {
    dig_out
        .split("status: ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap_or("")
}

/// A running `dermaga dns`, its stderr collected as it comes; killed if the test fails.
struct Server {
    child: Child,
    stderr: Arc<Mutex<String>>,
    pidfile: PathBuf,
    port: u16,
}

impl Server {
    fn start(args: &[&str], pidfile: &Path, port: u16) -> Server {
        let mut child = Command::new(BIN)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start dermaga dns");
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().expect("stderr is piped");
        let sink = stderr.clone();
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let mut server = Server {
            child,
            stderr,
            pidfile: pidfile.to_path_buf(),
            port,
        };
        // Ready once the pid file is written (after binding) and a query is answered.
        server.wait_for("the server to answer", |s| {
            s.pidfile.exists() && status(&dig(s.port, &["example.org", "SOA"])) == "NOERROR"
        });
        server
    }

    fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Polls `ready` until it holds; fails (with the server's stderr) at the deadline or if the
    /// server exits.
    fn wait_for(&mut self, what: &str, mut ready: impl FnMut(&Server) -> bool) {
        let start = Instant::now();
        loop {
            if ready(self) {
                return;
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!(
                    "dermaga dns exited ({st}) waiting for {what}:\n{}",
                    self.stderr()
                );
            }
            assert!(
                start.elapsed() < DEADLINE,
                "timed out waiting for {what}; stderr:\n{}",
                self.stderr()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn signal(&self, sig: &str) {
        let st = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(st.success(), "kill -{sig} failed");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn check_accepts_a_good_zone() {
    let dir = TempDir::new("check-good");
    let zone = dir.write("good.zone", &zone_text(7, "mail MX 10 www\n"));
    let out = dermaga(&["dns", "check", zone.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        stdout.contains("zone example.org/IN: loaded serial 7"),
        "{stdout}"
    );
    assert!(stdout.contains("OK"), "{stdout}");
}

#[test]
fn check_reports_every_error_with_file_line_column() {
    let dir = TempDir::new("check-bad");
    let zone = dir.write(
        "bad.zone",
        &zone_text(7, "bad1 A 192.0.2.300\nbad2 AAAA nothex\n"),
    );
    let out = dermaga(&["dns", "check", zone.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let z = zone.display();
    assert!(stderr.contains(&format!("{z}:7:8: ")), "{stderr}");
    assert!(stderr.contains("192.0.2.300"), "{stderr}");
    assert!(stderr.contains(&format!("{z}:8:11: ")), "{stderr}");
    assert!(stderr.contains("nothex"), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("OK"));
}

#[test]
fn check_refuses_a_zone_that_cannot_be_served() {
    let dir = TempDir::new("check-cname");
    let zone = dir.write("cname.zone", &zone_text(7, "www CNAME ns1\n"));
    let out = dermaga(&["dns", "check", zone.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(stderr.contains(&zone.display().to_string()), "{stderr}");
    assert!(stderr.to_ascii_lowercase().contains("cname"), "{stderr}");
}

#[test]
fn serves_over_udp_and_tcp_reloads_and_stops_on_sigterm() {
    let dir = TempDir::new("serve");
    let zone = dir.write("example.org.zone", &zone_text(1, ""));
    let pidfile = dir.path().join("dns.pid");
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut server = Server::start(
        &[
            "dns",
            "--listen",
            &listen,
            "--zone",
            zone.to_str().unwrap(),
            "--pidfile",
            pidfile.to_str().unwrap(),
            "--workers",
            "1",
        ],
        &pidfile,
        port,
    );
    let pid_text = std::fs::read_to_string(&pidfile).expect("pid file");
    assert_eq!(pid_text.trim(), server.child.id().to_string());

    // UDP and TCP both answer, authoritatively.
    for transport in ["+notcp", "+tcp"] {
        let out = dig(port, &[transport, "www.example.org", "A"]);
        assert_eq!(status(&out), "NOERROR", "{transport}: {out}");
        assert!(out.contains("192.0.2.2"), "{transport}: {out}");
        assert!(out.contains(" aa"), "{transport}: {out}");
    }
    let out = dig(port, &["nope.example.org", "A"]);
    assert_eq!(status(&out), "NXDOMAIN", "{out}");

    // An edit and `dermaga dns reload --pidfile` make the new record visible.
    std::fs::write(&zone, zone_text(2, "new A 192.0.2.77\n")).expect("edit zone");
    let out = dermaga(&["dns", "reload", "--pidfile", pidfile.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    server.wait_for("the reloaded record", |s| {
        dig(s.port, &["new.example.org", "A"]).contains("192.0.2.77")
    });

    // A broken edit, then SIGHUP: the previous version stays, the error is on stderr.
    std::fs::write(
        &zone,
        zone_text(3, "new A 192.0.2.77\nbroken A 192.0.2.999\n"),
    )
    .expect("break zone");
    server.signal("HUP");
    server.wait_for("the reload error on stderr", |s| {
        s.stderr().contains("previous version kept")
    });
    let log = server.stderr();
    assert!(log.contains("192.0.2.999"), "{log}");
    assert!(
        log.contains(&format!("{}:8:", zone.display())),
        "the error names file:line: {log}"
    );
    let out = dig(port, &["new.example.org", "A"]);
    assert!(
        out.contains("192.0.2.77"),
        "previous version still served: {out}"
    );
    let out = dig(port, &["example.org", "SOA"]);
    assert!(
        out.contains("hostmaster.example.org. 2 "),
        "serial 2 kept: {out}"
    );

    // SIGTERM stops the server and removes the pid file.
    server.signal("TERM");
    let start = Instant::now();
    let st = loop {
        if let Some(st) = server.child.try_wait().expect("wait for server") {
            break st;
        }
        assert!(start.elapsed() < DEADLINE, "server did not stop on SIGTERM");
        thread::sleep(Duration::from_millis(20));
    };
    assert!(st.success(), "exit status {st}: {}", server.stderr());
    assert!(!pidfile.exists(), "pid file removed on SIGTERM");
}

#[test]
fn serves_from_an_nsd_conf() {
    let dir = TempDir::new("nsdconf");
    dir.write("example.org.zone", &zone_text(4, ""));
    let pidfile = dir.path().join("nsd.pid");
    let port = free_port();
    let conf = dir.write(
        "nsd.conf",
        &format!(
            "server:\n  ip-address: 127.0.0.1\n  port: {port}\n  zonesdir: \"{d}\"\n  \
             pidfile: \"{p}\"\n  server-count: 1\n\
             zone:\n  name: example.org\n  zonefile: \"%s.zone\"\n",
            d = dir.path().display(),
            p = pidfile.display()
        ),
    );
    let server = Server::start(&["dns", "-c", conf.to_str().unwrap()], &pidfile, port);
    for transport in ["+notcp", "+tcp"] {
        let out = dig(port, &[transport, "www.example.org", "A"]);
        assert_eq!(status(&out), "NOERROR", "{transport}: {out}");
        assert!(out.contains("192.0.2.2"), "{transport}: {out}");
    }
    // `reload -c nsd.conf` finds the server through the configuration's pid file.
    let out = dermaga(&["dns", "reload", "-c", conf.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = dig(port, &["other.example.net", "A"]);
    assert_eq!(status(&out), "REFUSED", "{out}");
    drop(server);
}

#[test]
fn bad_command_lines_get_clear_errors() {
    let dir = TempDir::new("badargs");
    let zone = dir.write("example.org.zone", &zone_text(1, ""));
    let zone = zone.to_str().unwrap();
    let missing = dir.path().join("missing.zone");
    let missing = missing.to_str().unwrap();
    let pidfile = dir.path().join("dns.pid");
    let pidfile = pidfile.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["dns", "--bogus"], "unknown argument --bogus"),
        (
            &["dns", "--listen", "nope", "--zone", zone],
            "--listen nope: expected ADDR:PORT",
        ),
        (&["dns", "--listen"], "--listen needs a value"),
        (&["dns", "--listen", "127.0.0.1:0"], "no zone to serve"),
        (
            &[
                "dns",
                "--listen",
                "127.0.0.1:0",
                "--zone",
                missing,
                "--pidfile",
                pidfile,
            ],
            "missing.zone",
        ),
        (&["dns", "check"], "check needs a zone file"),
        (&["dns", "check", "--what", zone], "unknown option --what"),
        (&["dns", "check", missing], "missing.zone"),
        (&["dns", "reload", "--pidfile", missing], "pid file"),
        (
            &["dns", "--zone", zone, "--rrl-ipv4-prefix-length", "33"],
            "--rrl-ipv4-prefix-length 33: expected a number from 0 to 32",
        ),
        (
            &["dns", "--zone", zone, "--rrl-ratelimit", "many"],
            "--rrl-ratelimit many: expected a number",
        ),
        (
            &[
                "dns",
                "--zone",
                zone,
                "--rrl-whitelist",
                "example.org=often",
            ],
            "--rrl-whitelist example.org=often: rrl-whitelist: unknown type 'often'",
        ),
    ];
    for (args, want) in cases {
        let out = dermaga(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} should fail: {out:?}");
        assert!(
            stderr.contains(want),
            "{args:?}: want {want:?} in\n{stderr}"
        );
    }
    assert!(
        !Path::new(pidfile).exists(),
        "a server that failed to start leaves no pid file"
    );
}

#[test]
fn rrl_flags_limit_a_flood_and_slip_truncated_answers() {
    let dir = TempDir::new("rrl");
    let zone = dir.write("example.org.zone", &zone_text(1, ""));
    let pidfile = dir.path().join("dns.pid");
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let server = Server::start(
        &[
            "dns",
            "--listen",
            &listen,
            "--zone",
            zone.to_str().unwrap(),
            "--pidfile",
            pidfile.to_str().unwrap(),
            "--workers",
            "1",
            "--rrl-ratelimit",
            "5",
            "--rrl-slip",
            "1",
        ],
        &pidfile,
        port,
    );
    // 500 queries for one name at up to 5,000 a second: a hundred times the limit. With slip 1
    // every answer over the limit goes out truncated, so none is lost.
    let queries = dir.write("queries", "www.example.org A\n");
    let out = Command::new("dnsperf")
        .args(["-s", "127.0.0.1", "-p", &port.to_string(), "-d"])
        .arg(&queries)
        .args(["-n", "500", "-Q", "5000", "-t", "1", "-c", "1"])
        .output()
        .expect("dnsperf runs (scripts/test.sh installs it)");
    let text = String::from_utf8_lossy(&out.stdout);
    let count = |name: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .and_then(|r| r.split_whitespace().next()?.parse::<u32>().ok())
    };
    assert_eq!(count("Queries completed:"), Some(500), "{text}");
    assert_eq!(count("Queries lost:"), Some(0), "{text}");
    // The flow is still over its limit (its average halves each second): dig gets TC.
    let out = dig(port, &["+ignore", "+tries=1", "www.example.org", "A"]);
    assert!(out.contains(" tc"), "{out}");
    assert!(out.contains("ANSWER: 0"), "{out}");
    drop(server);
}
