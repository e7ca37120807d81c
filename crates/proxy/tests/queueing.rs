//! Server queues, against haproxy: requests that persistence or a hashing algorithm sends to
//! a full server wait in that server's own queue, `maxqueue` bounds it (503 or a redispatch),
//! and `timeout client-fin` / `timeout server-fin` cut half-closed tunnels short.
//!
//! Every scenario runs on haproxy and on dermaga's binary with the same configuration, and
//! both must give the same outcome.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use support::*;

/// An HTTP server that announces each request it receives and answers only once its gate
/// opens, so a test can hold a connection slot for as long as it needs.
struct HeldServer {
    addr: SocketAddr,
    arrived: mpsc::Receiver<String>,
    gate: Arc<(Mutex<bool>, Condvar)>,
}

impl HeldServer {
    fn start(name: &'static str) -> HeldServer {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let (tx, arrived) = mpsc::channel();
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let g = gate.clone();
        std::thread::spawn(move || {
            for c in l.incoming() {
                let Ok(c) = c else { continue };
                let (tx, g) = (tx.clone(), g.clone());
                std::thread::spawn(move || serve_held(c, name, &tx, &g));
            }
        });
        HeldServer {
            addr,
            arrived,
            gate,
        }
    }

    /// Waits until a request reached the server; gives its path.
    fn next_request(&self) -> String {
        self.arrived
            .recv_timeout(Duration::from_secs(10))
            .expect("a request reaches the held server")
    }

    fn open(&self) {
        let (m, cv) = &*self.gate;
        *m.lock().unwrap() = true;
        cv.notify_all();
    }
}

fn serve_held(c: TcpStream, name: &str, tx: &mpsc::Sender<String>, gate: &(Mutex<bool>, Condvar)) {
    let mut r = BufReader::new(c.try_clone().unwrap());
    let mut w = c;
    loop {
        let mut first = String::new();
        if r.read_line(&mut first).unwrap_or(0) == 0 {
            return;
        }
        loop {
            let mut l = String::new();
            if r.read_line(&mut l).unwrap_or(0) == 0 {
                return;
            }
            if l == "\r\n" {
                break;
            }
        }
        let path = first.split_whitespace().nth(1).unwrap_or("/").to_string();
        let _ = tx.send(path);
        let (m, cv) = gate;
        let mut open = m.lock().unwrap();
        while !*open {
            open = cv.wait(open).unwrap();
        }
        drop(open);
        let resp = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nx-server: {name}\r\n\r\n{name}",
            name.len()
        );
        if w.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

/// One proxy (haproxy or dermaga) on a configuration with `{PORT}` and `{SOCK}` filled in.
struct Running {
    _proc: Proc,
    addr: SocketAddr,
    sock: PathBuf,
}

fn run(program: &str, cfg: &str, tag: &str) -> Running {
    let port = free_port();
    let sock = tempdir(&format!("{tag}-sock")).join("stats.sock");
    let cfg = cfg
        .replace("{PORT}", &port.to_string())
        .replace("{SOCK}", &sock.display().to_string());
    let p = spawn(program, &cfg, tag);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_port(addr);
    Running {
        _proc: p,
        addr,
        sock,
    }
}

/// `qcur` of server `be/srv` in `show stat`.
fn queued(sock: &Path, be: &str, srv: &str) -> u32 {
    let stat = stats_command(sock, "show stat");
    let prefix = format!("{be},{srv},");
    stat.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|rest| rest.split(',').next())
        .and_then(|q| q.parse().ok())
        .unwrap_or_else(|| panic!("no {be}/{srv} in show stat:\n{stat}"))
}

/// Sends a GET for `path` with `cookie` (if any) and leaves the answer for later.
fn send(addr: SocketAddr, path: &str, cookie: Option<&str>) -> Client {
    let mut c = Client::connect(addr);
    let ck = cookie
        .map(|v| format!("Cookie: SRV={v}\r\n"))
        .unwrap_or_default();
    c.send(format!("GET {path} HTTP/1.1\r\nHost: t\r\n{ck}\r\n").as_bytes());
    c
}

/// "STATUS SERVER" of the answer on `c`.
fn outcome(c: &mut Client) -> String {
    match c.read(false) {
        Some(r) if r.status == 200 => format!("200 {}", r.server()),
        Some(r) => r.status.to_string(),
        None => "none".into(),
    }
}

const GLOBAL: &str = "global\n nbthread 1\n stats socket {SOCK} level admin\n";

/// A request whose cookie names a full server waits in that server's queue (it does not go
/// elsewhere); one more than `maxqueue` gets 503 without `option redispatch`, or another
/// server with it.
fn persistence_scenario(redispatch: bool) -> Vec<String> {
    let mut results = Vec::new();
    for program in [HAPROXY, DERMAGA] {
        let s1 = HeldServer::start("s1");
        let s2 = HttpBackend::start("s2");
        let cfg = format!(
            "{GLOBAL}defaults\n mode http\n timeout connect 1s\n timeout client 30s\n timeout server 30s\n timeout queue 60s\n{}\
frontend fe\n bind 127.0.0.1:{{PORT}}\n default_backend be\n\
backend be\n cookie SRV insert indirect nocache\n server s1 {} maxconn 1 maxqueue 1 cookie s1\n server s2 {} cookie s2\n",
            if redispatch { " option redispatch\n" } else { "" },
            s1.addr,
            s2.addr
        );
        let p = run(program, &cfg, "persist");
        let mut a = send(p.addr, "/a", Some("s1"));
        assert_eq!(s1.next_request(), "/a");
        let mut b = send(p.addr, "/b", Some("s1"));
        assert!(
            eventually(10, || queued(&p.sock, "be", "s1") == 1),
            "{program}: the second request waits in s1's queue"
        );
        // s1 is full and its queue is at maxqueue: the answer comes while /a is still held.
        let mut c = send(p.addr, "/c", Some("s1"));
        let c_out = outcome(&mut c);
        s1.open();
        let a_out = outcome(&mut a);
        let b_out = outcome(&mut b);
        results.push(format!("{program}: a={a_out} b={b_out} c={c_out}"));
    }
    results
}

fn same(results: Vec<String>) -> String {
    let strip = |r: &str| {
        r.split_once(": ")
            .map(|x| x.1.to_string())
            .unwrap_or_default()
    };
    assert_eq!(
        strip(&results[0]),
        strip(&results[1]),
        "haproxy and dermaga differ: {results:#?}"
    );
    strip(&results[1])
}

#[test]
fn persistent_requests_queue_on_their_server_and_maxqueue_refuses() {
    let got = same(persistence_scenario(false));
    assert_eq!(got, "a=200 s1 b=200 s1 c=503");
}

#[test]
fn maxqueue_with_redispatch_sends_the_overflow_elsewhere() {
    let got = same(persistence_scenario(true));
    assert_eq!(got, "a=200 s1 b=200 s1 c=200 s2");
}

/// `balance uri`: a second request for the same URI waits for its hashed server instead of
/// going to another one.
#[test]
fn hashed_requests_wait_for_their_server() {
    let mut results = Vec::new();
    for program in [HAPROXY, DERMAGA] {
        let s1 = HeldServer::start("s1");
        let s2 = HeldServer::start("s2");
        let cfg = format!(
            "{GLOBAL}defaults\n mode http\n timeout connect 1s\n timeout client 30s\n timeout server 30s\n timeout queue 60s\n\
frontend fe\n bind 127.0.0.1:{{PORT}}\n default_backend be\n\
backend be\n balance uri\n server s1 {} maxconn 1\n server s2 {} maxconn 1\n",
            s1.addr, s2.addr
        );
        let p = run(program, &cfg, "hash");
        let mut a = send(p.addr, "/same", None);
        // Whichever server the hash picked holds /same.
        let mut holder = None;
        assert!(
            eventually(10, || {
                if s1.arrived.try_recv().is_ok() {
                    holder = Some(("s1", "s2"));
                } else if s2.arrived.try_recv().is_ok() {
                    holder = Some(("s2", "s1"));
                }
                holder.is_some()
            }),
            "{program}: /same reached no server"
        );
        let (holder, other) = holder.unwrap();
        let mut b = send(p.addr, "/same", None);
        assert!(
            eventually(10, || queued(&p.sock, "be", holder) == 1),
            "{program}: the second /same waits in {holder}'s queue"
        );
        assert_eq!(queued(&p.sock, "be", other), 0);
        s1.open();
        s2.open();
        let a_out = outcome(&mut a);
        let b_out = outcome(&mut b);
        results.push(format!(
            "{program}: {}",
            format!("a={a_out} b={b_out}").replace(holder, "H")
        ));
    }
    assert_eq!(same(results), "a=200 H b=200 H");
}

/// TCP mode: once one side has closed, the other is dropped after its fin timeout instead of
/// the (much longer) client/server timeout.
#[test]
fn fin_timeouts_end_half_closed_tunnels() {
    for program in [HAPROXY, DERMAGA] {
        // The server says hello, then shuts its write side and waits for the proxy to close.
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let saddr = l.local_addr().unwrap();
        let (closed_tx, closed) = mpsc::channel();
        std::thread::spawn(move || {
            for c in l.incoming() {
                let Ok(mut c) = c else { continue };
                let tx = closed_tx.clone();
                std::thread::spawn(move || {
                    // The readiness probe of `run` connects and says nothing: not a session.
                    let mut go = [0u8; 3];
                    if c.read_exact(&mut go).is_err() {
                        return;
                    }
                    let _ = c.write_all(b"bye\n");
                    let _ = c.shutdown(std::net::Shutdown::Write);
                    let mut buf = [0u8; 64];
                    let n = c.read(&mut buf).unwrap_or(0);
                    let _ = tx.send(n);
                });
            }
        });
        let cfg = format!(
            "{GLOBAL}defaults\n mode tcp\n timeout connect 1s\n timeout client 120s\n timeout server 120s\n timeout client-fin 200ms\n\
listen fe\n bind 127.0.0.1:{{PORT}}\n server s1 {saddr}\n"
        );
        let p = run(program, &cfg, "fin");
        let mut c = TcpStream::connect(p.addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c.write_all(b"go\n").unwrap();
        let mut r = BufReader::new(c);
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        assert_eq!(line, "bye\n", "{program}");
        // The client got the server's FIN and now stays silent: after client-fin the proxy
        // drops the whole session, which the server sees as end of stream (0 bytes).
        let mut rest = Vec::new();
        r.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty(), "{program}");
        let n = closed
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("{program}: the server side was not closed"));
        assert_eq!(n, 0, "{program}");
    }
}

#[test]
fn server_fin_ends_a_tunnel_the_client_half_closed() {
    for program in [HAPROXY, DERMAGA] {
        // A server that never says anything and never closes.
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let saddr = l.local_addr().unwrap();
        let (eof_tx, eof) = mpsc::channel();
        std::thread::spawn(move || {
            let mut keep = Vec::new();
            for c in l.incoming() {
                let Ok(c) = c else { continue };
                let mut r = c.try_clone().unwrap();
                let tx = eof_tx.clone();
                std::thread::spawn(move || {
                    let mut buf = Vec::new();
                    let _ = r.read_to_end(&mut buf);
                    // The readiness probe of `run` connects and says nothing: not a session.
                    if !buf.is_empty() {
                        let _ = tx.send(buf);
                    }
                });
                keep.push(c);
            }
        });
        let cfg = format!(
            "{GLOBAL}defaults\n mode tcp\n timeout connect 1s\n timeout client 120s\n timeout server 120s\n timeout server-fin 200ms\n\
listen fe\n bind 127.0.0.1:{{PORT}}\n server s1 {saddr}\n"
        );
        let p = run(program, &cfg, "sfin");
        let mut c = TcpStream::connect(p.addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        c.write_all(b"hi").unwrap();
        c.shutdown(std::net::Shutdown::Write).unwrap();
        // The server reads the client's bytes and the FIN passed on.
        let got = eof
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("{program}: the server never saw the client's FIN"));
        assert_eq!(got, b"hi", "{program}");
        // The server stays silent: after server-fin the proxy closes the client's side.
        let mut rest = Vec::new();
        let r = c.read_to_end(&mut rest);
        assert!(
            r.is_ok() && rest.is_empty(),
            "{program}: the proxy closes the client after server-fin: {r:?}"
        );
    }
}
