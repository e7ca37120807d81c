//! Test support: real HTTP/TCP backends on loopback, a raw HTTP client, free ports, and
//! helpers to run dermaga's proxy (in-process or as the `dermaga-proxy` binary) and haproxy.
#![allow(dead_code)]

pub mod h2server;
pub mod pki;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A tiny HTTP/1.1 server: answers `200` with `x-server: NAME` and body NAME, keeps
/// connections alive, reads Content-Length and chunked request bodies.
/// Paths: `/status/N` answers N; `/echo` answers the request head as its body;
/// `/health` answers 200 "ok"; `/chunked` answers a chunked body; `/trailers` answers a
/// chunked body with the trailer `x-trailer: NAME`; `/close` answers without length and
/// closes. The trailers of a chunked request body follow the body in `/echo`'s answer.
pub struct HttpBackend {
    pub addr: SocketAddr,
    pub name: String,
    pub hits: Arc<AtomicUsize>,
    pub conns: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl HttpBackend {
    pub fn start(name: &str) -> HttpBackend {
        Self::start_on("127.0.0.1:0", name)
    }

    pub fn start_on(bind: &str, name: &str) -> HttpBackend {
        let l = TcpListener::bind(bind).expect("bind backend");
        let addr = l.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let conns = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (n, h, c, s) = (name.to_string(), hits.clone(), conns.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in l.incoming() {
                if s.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                c.fetch_add(1, Ordering::Relaxed);
                let (n, h) = (n.clone(), h.clone());
                std::thread::spawn(move || serve_http(conn, &n, &h));
            }
        });
        HttpBackend {
            addr,
            name: name.to_string(),
            hits,
            conns,
            stop,
        }
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::Relaxed)
    }

    /// Stops accepting (the listener closes at the next connection attempt).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(self.addr);
    }
}

impl Drop for HttpBackend {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve_http(conn: TcpStream, name: &str, hits: &AtomicUsize) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut r = BufReader::new(conn.try_clone().unwrap());
    let mut w = conn;
    loop {
        let mut head = String::new();
        loop {
            let mut line = String::new();
            match r.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if line == "\r\n" || line == "\n" {
                if head.is_empty() {
                    continue;
                }
                break;
            }
            head.push_str(&line);
        }
        hits.fetch_add(1, Ordering::Relaxed);
        let lower = head.to_ascii_lowercase();
        let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
        let http10 = head.lines().next().is_some_and(|l| l.ends_with("HTTP/1.0"));
        // request body
        let mut body = Vec::new();
        let mut trailers = String::new();
        if let Some(cl) = lower
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
        {
            let n: usize = cl.trim().parse().unwrap_or(0);
            body.resize(n, 0);
            if r.read_exact(&mut body).is_err() {
                return;
            }
        } else if lower.contains("transfer-encoding: chunked") {
            loop {
                let mut size = String::new();
                if r.read_line(&mut size).unwrap_or(0) == 0 {
                    return;
                }
                let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                    .unwrap_or(0);
                if n == 0 {
                    // Trailer lines up to the empty one.
                    loop {
                        let mut t = String::new();
                        if r.read_line(&mut t).unwrap_or(0) == 0 || t == "\r\n" || t == "\n" {
                            break;
                        }
                        trailers.push_str(&t);
                    }
                    break;
                }
                let mut chunk = vec![0u8; n + 2];
                if r.read_exact(&mut chunk).is_err() {
                    return;
                }
                body.extend_from_slice(&chunk[..n]);
            }
        }
        let close = lower.contains("connection: close")
            || (http10 && !lower.contains("connection: keep-alive"));
        let resp: Vec<u8> = if let Some(code) = path.strip_prefix("/status/") {
            let code: u16 = code.parse().unwrap_or(500);
            format!(
                "HTTP/1.1 {code} X\r\ncontent-length: {}\r\nx-server: {name}\r\n\r\n{name}",
                name.len()
            )
            .into_bytes()
        } else if path.starts_with("/echo") {
            let mut b = head.clone().into_bytes();
            b.extend_from_slice(b"\r\n");
            b.extend_from_slice(&body);
            b.extend_from_slice(trailers.as_bytes());
            let mut out = format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nx-server: {name}\r\n\r\n",
                b.len()
            )
            .into_bytes();
            out.extend_from_slice(&b);
            out
        } else if path.starts_with("/chunked") {
            format!("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nx-server: {name}\r\n\r\n3\r\nabc\r\n{:x}\r\n{name}\r\n0\r\n\r\n", name.len()).into_bytes()
        } else if path.starts_with("/trailers") {
            format!("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ntrailer: x-trailer\r\nx-server: {name}\r\n\r\n{:x}\r\n{name}\r\n0\r\nx-trailer: {name}\r\n\r\n", name.len()).into_bytes()
        } else if path.starts_with("/close") {
            let _ = w
                .write_all(format!("HTTP/1.1 200 OK\r\nx-server: {name}\r\n\r\n{name}").as_bytes());
            return;
        } else if path.starts_with("/health") {
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok".to_vec()
        } else if path.starts_with("/big") {
            let n = 1 << 20;
            let mut out =
                format!("HTTP/1.1 200 OK\r\ncontent-length: {n}\r\nx-server: {name}\r\n\r\n")
                    .into_bytes();
            out.extend(std::iter::repeat_n(b'x', n));
            out
        } else {
            format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nx-server: {name}\r\n\r\n{name}",
                name.len()
            )
            .into_bytes()
        };
        if w.write_all(&resp).is_err() {
            return;
        }
        if close {
            return;
        }
    }
}

/// A TCP echo server that first says its name and a newline.
pub struct TcpBackend {
    pub addr: SocketAddr,
}

impl TcpBackend {
    pub fn start(name: &str) -> TcpBackend {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let name = name.to_string();
        std::thread::spawn(move || {
            for c in l.incoming() {
                let Ok(mut c) = c else { continue };
                let name = name.clone();
                std::thread::spawn(move || {
                    let _ = c.write_all(format!("{name}\n").as_bytes());
                    let mut buf = [0u8; 65536];
                    loop {
                        match c.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => {
                                if c.write_all(&buf[..n]).is_err() {
                                    return;
                                }
                            }
                        }
                    }
                });
            }
        });
        TcpBackend { addr }
    }
}

/// A loopback port reserved for this test process (see the `dermaga-test-ports` crate).
pub use dermaga_test_ports::port as free_port;

/// A parsed HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn server(&self) -> String {
        self.header("x-server").unwrap_or("-").to_string()
    }
    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A client connection that can send several requests.
pub struct Client {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let s = TcpStream::connect(addr).expect("connect to proxy");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Client {
            r: BufReader::new(s.try_clone().unwrap()),
            w: s,
        }
    }

    pub fn send(&mut self, raw: &[u8]) {
        self.w.write_all(raw).unwrap();
    }

    /// Reads one response; `head` says it answers a HEAD request.
    pub fn read(&mut self, head: bool) -> Option<Response> {
        let mut status_line = String::new();
        if self.r.read_line(&mut status_line).ok()? == 0 {
            return None;
        }
        let status: u16 = status_line.split_whitespace().nth(1)?.parse().ok()?;
        let mut headers = Vec::new();
        loop {
            let mut l = String::new();
            if self.r.read_line(&mut l).ok()? == 0 {
                return None;
            }
            let l = l.trim_end();
            if l.is_empty() {
                break;
            }
            let (n, v) = l.split_once(':')?;
            headers.push((n.trim().to_string(), v.trim().to_string()));
        }
        let mut resp = Response {
            status,
            headers,
            body: Vec::new(),
        };
        if head || status == 204 || status == 304 || (100..200).contains(&status) {
            return Some(resp);
        }
        if let Some(cl) = resp.header("content-length") {
            let n: usize = cl.parse().ok()?;
            let mut b = vec![0u8; n];
            self.r.read_exact(&mut b).ok()?;
            resp.body = b;
        } else if resp
            .header("transfer-encoding")
            .is_some_and(|v| v.contains("chunked"))
        {
            loop {
                let mut size = String::new();
                self.r.read_line(&mut size).ok()?;
                let n = usize::from_str_radix(size.trim(), 16).ok()?;
                if n == 0 {
                    let mut end = String::new();
                    self.r.read_line(&mut end).ok()?;
                    break;
                }
                let mut chunk = vec![0u8; n + 2];
                self.r.read_exact(&mut chunk).ok()?;
                resp.body.extend_from_slice(&chunk[..n]);
            }
        } else {
            let _ = self.r.read_to_end(&mut resp.body);
        }
        Some(resp)
    }

    pub fn get(&mut self, path: &str) -> Option<Response> {
        self.send(format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes());
        self.read(false)
    }

    /// True when the server closed the connection.
    pub fn closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(self.r.read(&mut b), Ok(0))
    }
}

/// One request on a fresh connection.
pub fn get(addr: SocketAddr, path: &str) -> Option<Response> {
    let mut c = Client::connect(addr);
    c.send(format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").as_bytes());
    c.read(false)
}

/// Sends raw bytes on a fresh connection and reads one response.
pub fn raw(addr: SocketAddr, bytes: &[u8]) -> Option<Response> {
    let mut c = Client::connect(addr);
    c.send(bytes);
    c.read(false)
}

/// Waits until `addr` accepts connections.
pub fn wait_port(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if TcpStream::connect(addr).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("nothing listens on {addr}");
}

/// Polls `f` until it holds, for at most `secs` seconds.
pub fn eventually(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    false
}

/// Starts dermaga's proxy in-process from configuration text.
pub fn start_proxy(cfg: &str) -> dermaga_proxy::Proxy {
    let cfg = with_ports(cfg);
    let cfg = cfg.as_str();
    let (config, _warnings) =
        dermaga_proxy::config::load_str("test.cfg", cfg, &dermaga_proxy::config::ProcessEnv)
            .unwrap_or_else(|d| {
                panic!(
                    "config refused: {:?}",
                    d.iter().map(|d| d.render(0)).collect::<Vec<_>>()
                )
            });
    dermaga_proxy::Proxy::start(config, dermaga_proxy::StartOptions { nbthread: Some(1) })
        .expect("proxy starts")
}

/// Replaces each `bind 127.0.0.1:0` with a free port (haproxy's syntax refuses port 0).
pub fn with_ports(cfg: &str) -> String {
    let mut out = String::new();
    for line in cfg.lines() {
        if line.trim_start().starts_with("bind 127.0.0.1:0") {
            out.push_str(&line.replacen("127.0.0.1:0", &format!("127.0.0.1:{}", free_port()), 1));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// A running process (haproxy or dermaga-proxy), killed when dropped.
pub struct Proc {
    pub child: Child,
    pub dir: std::path::PathBuf,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A fresh temporary directory.
pub fn tempdir(tag: &str) -> std::path::PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "dermaga-proxy-test-{}-{}-{}",
        tag,
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub const HAPROXY: &str = "/usr/sbin/haproxy";
pub const DERMAGA: &str = env!("CARGO_BIN_EXE_dermaga-proxy");

/// Runs `program -f cfg` in the foreground (`-db`), writing the config into a temp dir.
pub fn spawn(program: &str, cfg: &str, tag: &str) -> Proc {
    assert!(
        std::path::Path::new(program).exists(),
        "{program} is missing: install it (scripts/test.sh does)"
    );
    let dir = tempdir(tag);
    let path = dir.join("test.cfg");
    std::fs::write(&path, cfg).unwrap();
    let child = Command::new(program)
        .arg("-db")
        .arg("-f")
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn proxy");
    Proc { child, dir }
}

/// Sends one command line to a stats socket and gives the whole answer.
pub fn stats_command(sock: &std::path::Path, cmd: &str) -> String {
    let mut s = std::os::unix::net::UnixStream::connect(sock).expect("stats socket");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(format!("{cmd}\n").as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}
