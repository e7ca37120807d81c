//! The `dermaga-proxy` binary (the same command line as `dermaga proxy`): haproxy's options,
//! exit codes and signals.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use support::*;

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(DERMAGA)
        .args(args)
        .output()
        .expect("run dermaga-proxy");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn write_cfg(dir: &std::path::Path, text: &str) -> String {
    let p = dir.join("h.cfg");
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[test]
fn check_mode_valid_and_invalid() {
    let dir = tempdir("cli-check");
    let ok = write_cfg(&dir, "defaults\n mode http\n timeout connect 1s\n timeout client 1s\n timeout server 1s\nfrontend fe\n bind 127.0.0.1:8080\n default_backend be\nbackend be\n server s 127.0.0.1:1\n");
    let (code, out, _) = run(&["-c", "-f", &ok]);
    assert_eq!(code, 0);
    assert!(out.contains("Configuration file is valid"), "{out}");
    let bad = dir.join("bad.cfg");
    std::fs::write(&bad, "frontend fe\n bind 127.0.0.1:8080\n frobnicate yes\n").unwrap();
    let (code, _, err) = run(&["-c", "-f", bad.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        err.contains("[ALERT]") && err.contains("bad.cfg:3"),
        "{err}"
    );
}

#[test]
fn version_and_conditions() {
    let (code, out, _) = run(&["-v"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("dermaga proxy version"));
    let (code, out, _) = run(&["-vv"]);
    assert_eq!(code, 0);
    assert!(out.contains("Feature list"));
    assert_eq!(run(&["-cc", "1"]).0, 0);
    assert_eq!(run(&["-cc", "0"]).0, 1);
}

#[test]
fn master_worker_options_are_refused_by_name() {
    for opt in ["-W", "-Ws", "-S", "-sf", "-st", "-x"] {
        let (code, _, err) = run(&[opt, "-f", "/nonexistent"]);
        assert_eq!(code, 1, "{opt}");
        assert!(
            err.contains(&format!("'{opt}'")) && err.contains("not supported"),
            "{opt}: {err}"
        );
    }
    let (code, _, err) = run(&[]);
    assert_eq!(code, 1);
    assert!(err.contains("Usage"));
}

fn signal(child: &std::process::Child, sig: i32) {
    // SAFETY: sending a signal to our own child.
    unsafe { libc::kill(child.id() as i32, sig) };
}

fn wait_exit(child: &mut std::process::Child) -> Option<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        if let Ok(Some(s)) = child.try_wait() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[test]
fn runs_serves_and_stops_on_signals() {
    let a = HttpBackend::start("s1");
    let port = free_port();
    let dir = tempdir("cli-run");
    let pidfile = dir.join("p.pid");
    let cfg = write_cfg(
        &dir,
        &format!("defaults\n mode http\n timeout connect 1s\n timeout client 5s\n timeout server 5s\nfrontend fe\n bind 127.0.0.1:{port}\n default_backend be\nbackend be\n server s1 {}\n", a.addr),
    );
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    // SIGUSR1: soft stop, exit 0
    let mut child = Command::new(DERMAGA)
        .args(["-db", "-f", &cfg, "-p", pidfile.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_port(addr);
    assert_eq!(get(addr, "/").unwrap().server(), "s1");
    let pid: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(pid, child.id());
    signal(&child, libc::SIGHUP); // logs states, keeps running
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(get(addr, "/").unwrap().status, 200);
    signal(&child, libc::SIGUSR1);
    let st = wait_exit(&mut child).expect("exits after SIGUSR1");
    assert!(st.success());
    // SIGTERM: immediate stop
    let mut child = Command::new(DERMAGA)
        .args(["-db", "-f", &cfg])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_port(addr);
    signal(&child, libc::SIGTERM);
    assert!(wait_exit(&mut child).is_some());
}

#[test]
fn soft_stop_finishes_the_request_in_flight() {
    use std::io::{Read, Write};
    // a backend that answers after a delay
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let baddr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            std::thread::spawn(move || {
                let mut b = [0u8; 1024];
                let _ = c.read(&mut b);
                std::thread::sleep(Duration::from_millis(500));
                let _ = c.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nslow");
            });
        }
    });
    let port = free_port();
    let dir = tempdir("cli-soft");
    let cfg = write_cfg(
        &dir,
        &format!("defaults\n mode http\n timeout connect 1s\n timeout client 5s\n timeout server 5s\nfrontend fe\n bind 127.0.0.1:{port}\n default_backend be\nbackend be\n server s1 {baddr}\n"),
    );
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut child = Command::new(DERMAGA)
        .args(["-db", "-f", &cfg])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_port(addr);
    let t = std::thread::spawn(move || get(addr, "/"));
    std::thread::sleep(Duration::from_millis(150));
    signal(&child, libc::SIGUSR1);
    let r = t
        .join()
        .unwrap()
        .expect("the request in flight is answered");
    assert_eq!(r.body_str(), "slow");
    assert!(wait_exit(&mut child).unwrap().success());
}

#[test]
fn daemon_mode_writes_pidfile_and_detaches() {
    let a = HttpBackend::start("s1");
    let port = free_port();
    let dir = tempdir("cli-daemon");
    let pidfile = dir.join("d.pid");
    let cfg = write_cfg(
        &dir,
        &format!("defaults\n mode http\n timeout connect 1s\n timeout client 5s\n timeout server 5s\nfrontend fe\n bind 127.0.0.1:{port}\n default_backend be\nbackend be\n server s1 {}\n", a.addr),
    );
    let st = Command::new(DERMAGA)
        .args(["-D", "-f", &cfg, "-p", pidfile.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(st.success());
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_port(addr);
    assert!(eventually(5, || pidfile.exists()));
    assert_eq!(get(addr, "/").unwrap().status, 200);
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // SAFETY: stopping the daemon we started.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    assert!(eventually(5, || std::net::TcpStream::connect(addr).is_err()));
}

#[test]
fn bind_fd_adopts_an_inherited_socket() {
    use std::os::fd::AsRawFd;
    let a = HttpBackend::start("s1");
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let fd = l.as_raw_fd();
    // Let the child inherit it: clear close-on-exec.
    // SAFETY: fcntl on a descriptor we own.
    unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
    let dir = tempdir("cli-fd");
    let cfg = write_cfg(
        &dir,
        &format!("defaults\n mode http\n timeout connect 1s\n timeout client 5s\n timeout server 5s\nfrontend fe\n bind \"fd@${{FE}}\"\n default_backend be\nbackend be\n server s1 {}\n", a.addr),
    );
    let mut child = Command::new(DERMAGA)
        .args(["-db", "-f", &cfg])
        .env("FE", fd.to_string())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(eventually(5, || get(addr, "/").is_some_and(|r| r.server() == "s1")));
    signal(&child, libc::SIGINT);
    assert!(wait_exit(&mut child).is_some());
    drop(l);
}
