//! HTTP/2 to servers (`server ... proto h2`, `ssl alpn h2,http/1.1`): HTTP/1.1 and HTTP/2
//! clients (raw sockets, curl, nghttp) through dermaga to an HTTP/2 server (the `h2` crate's),
//! streams multiplexed over shared server connections, bodies and trailers both ways,
//! refused streams retried, health checks over HTTP/2.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use support::h2server::H2Backend;
use support::pki::{curl, run, Ca, TlsBackend};
use support::*;

const DEFAULTS: &str = "defaults\n    mode http\n    timeout connect 2s\n    timeout client 10s\n    timeout server 10s\n\n";

fn proxy_to(server_line: &str) -> (dermaga_proxy::Proxy, SocketAddr) {
    let p = start_proxy(&format!(
        "{DEFAULTS}frontend fe\n    bind 127.0.0.1:0\n    default_backend be\nbackend be\n    {server_line}\n"
    ));
    let addr = p.local_addrs("fe")[0];
    (p, addr)
}

/// Sends `req` on a fresh connection (which it should close) and reads everything back.
fn exchange_raw(addr: SocketAddr, req: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(req).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn http1_clients_share_one_server_connection() {
    let h = H2Backend::start("h2a", 100);
    let (_p, addr) = proxy_to(&format!("server s1 {} proto h2", h.addr));
    let mut c = Client::connect(addr);
    for i in 0..5 {
        let r = c.get(&format!("/r{i}?q=1")).expect("answer");
        assert_eq!(r.status, 200);
        assert_eq!(r.server(), "h2a");
        // `Host` became :authority and the path kept its query.
        assert_eq!(
            r.body_str(),
            format!("h2a GET /r{i}?q=1 authority=test te=-\n")
        );
    }
    // `te: trailers` goes along when the client sent it (a hop-by-hop field in HTTP/1.1).
    c.send(b"GET /te HTTP/1.1\r\nHost: test\r\nTE: trailers\r\nConnection: TE\r\n\r\n");
    let r = c.read(false).expect("answer");
    assert_eq!(r.body_str(), "h2a GET /te authority=test te=trailers\n");
    // A second client connection: still the same server connection.
    assert_eq!(get(addr, "/again").expect("answer").server(), "h2a");
    assert_eq!((h.conns(), h.streams()), (1, 7));
}

#[test]
fn request_bodies_and_trailers_cross_both_ways() {
    let h = H2Backend::start("h2b", 100);
    let (_p, addr) = proxy_to(&format!("server s1 {} proto h2", h.addr));
    // A chunked request with a trailer; the answer is chunked with the server's trailers.
    let got = exchange_raw(
        addr,
        b"POST /trailers HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
          5\r\nhello\r\n6\r\n world\r\n0\r\nx-req: one\r\n\r\n",
    );
    assert!(got.starts_with("HTTP/1.1 200 \r\n"), "{got}");
    assert!(got.contains("transfer-encoding: chunked\r\n"), "{got}");
    assert!(got.contains("hello world"), "{got}");
    assert!(got.contains("\r\n0\r\n"), "{got}");
    assert!(got.contains("x-echo-x-req: one\r\n"), "{got}");
    assert!(got.contains("x-trailer: h2b\r\n"), "{got}");
    // A body with a length, larger than every window on the way (1 MiB up and back).
    let dir = tempdir("h2srv-body");
    let file = dir.join("up");
    let up: Vec<u8> = (0..1024 * 1024).map(|i| b'a' + (i % 26) as u8).collect();
    std::fs::write(&file, &up).unwrap();
    let url = format!("http://{addr}/echo");
    let data = format!("@{}", file.display());
    let (code, out, err) = curl(&["-sS", "--max-time", "20", "--data-binary", &data, &url]);
    assert_eq!(code, 0, "{err}");
    let want = format!("h2b POST /echo authority={addr} te=-\n");
    assert!(
        out.starts_with(&want),
        "{}",
        &out[..want.len().min(out.len())]
    );
    assert_eq!(&out.as_bytes()[want.len()..], &up[..]);
    // A server that answers before taking the body and stops its upload: the client still
    // gets the answer.
    let url = format!("http://{addr}/early");
    let (code, out, err) = curl(&["-sS", "--max-time", "20", "--data-binary", &data, &url]);
    assert_eq!((code, out.as_str()), (0, "early\n"), "{err}");
    // A large answer, and one with a content-length.
    let (code, out, err) = curl(&[
        "-sS",
        "--max-time",
        "20",
        &format!("http://{addr}/big/3000000"),
    ]);
    assert_eq!((code, out.len()), (0, 3_000_000), "{err}");
    let r = get(addr, "/length").expect("answer");
    assert_eq!(r.body_str(), "h2b GET /length authority=test te=-\n");
    assert_eq!(r.header("content-length"), Some("36"));
    assert_eq!(r.header("transfer-encoding"), None);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A chunked request arriving a few bytes at a time: chunk-size lines, CRLFs and trailer
/// lines split across writes, a chunk extension, uppercase hex, and a chunk larger than the
/// server's stream window (sent as its window allows) all reach the server as DATA and
/// trailers, unchanged.
#[test]
fn chunked_request_bodies_split_anywhere_reach_the_server_whole() {
    let h = H2Backend::start("h2p", 100);
    let (_p, addr) = proxy_to(&format!("server s1 {} proto h2", h.addr));
    let big: Vec<u8> = (0..100_000).map(|i| b'a' + (i % 26) as u8).collect();
    let mut req = b"POST /pieces HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
        A;ext=1\r\n0123456789\r\n"
        .to_vec();
    req.extend_from_slice(format!("{:X}\r\n", big.len()).as_bytes());
    req.extend_from_slice(&big);
    req.extend_from_slice(b"\r\n1\r\n!\r\n0\r\nx-req: split\r\nx-two: 2\r\n\r\n");
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_nodelay(true).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let (head_and_first, rest) = req.split_at(120);
    for piece in head_and_first.chunks(3) {
        s.write_all(piece).unwrap();
    }
    for piece in rest.chunks(997) {
        s.write_all(piece).unwrap();
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let got = String::from_utf8_lossy(&out);
    assert!(
        got.starts_with("HTTP/1.1 200 \r\n"),
        "{}",
        &got[..got.len().min(300)]
    );
    let mut want = b"h2p POST /pieces authority=t te=-\n0123456789".to_vec();
    want.extend_from_slice(&big);
    want.push(b'!');
    // The answer is chunked: its payload, unframed, is the echo.
    let body_at = got.find("\r\n\r\n").expect("a head") + 4;
    let mut body = Vec::new();
    let mut rest = &out[body_at..];
    loop {
        let lf = rest.iter().position(|&c| c == b'\n').expect("a chunk line");
        let size =
            usize::from_str_radix(std::str::from_utf8(&rest[..lf - 1]).unwrap(), 16).unwrap();
        rest = &rest[lf + 1..];
        if size == 0 {
            break;
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
    assert_eq!(body.len(), want.len());
    assert!(body == want, "the body changed on the way");
    let trailers = String::from_utf8_lossy(rest);
    assert!(trailers.contains("x-echo-x-req: split\r\n"), "{trailers}");
    assert!(trailers.contains("x-echo-x-two: 2\r\n"), "{trailers}");
}

#[test]
fn grpc_style_trailers_only_answers_and_empty_bodies() {
    let h = H2Backend::start("h2c", 100);
    let (_p, addr) = proxy_to(&format!("server s1 {} proto h2", h.addr));
    let r = get(addr, "/empty").expect("answer");
    assert_eq!((r.status, r.header("content-length")), (200, Some("0")));
    // HTTP/2 client: the answer still ends with its HEADERS frame (nghttp shows no DATA).
    let url = format!("http://{addr}/empty");
    let (code, out, err) = run("nghttp", &["-v", "-t", "10", &url]);
    assert_eq!(code, 0, "{err}{out}");
    assert!(out.contains("recv HEADERS frame"), "{out}");
    assert!(
        out.contains("; END_STREAM | END_HEADERS"),
        "HEADERS ended the stream:\n{out}"
    );
    assert!(!out.contains("recv DATA frame"), "{out}");
}

#[test]
fn http2_clients_multiplex_onto_shared_server_connections() {
    let h = H2Backend::start("h2d", 100);
    let (_p, addr) = proxy_to(&format!("server s1 {} proto h2", h.addr));
    let url = format!("http://{addr}/m");
    let (code, out, err) = run("nghttp", &["-n", "-s", "-m", "30", "-t", "10", &url]);
    assert_eq!(code, 0, "{err}{out}");
    assert_eq!(h.streams(), 30);
    // A burst waits for the connection being opened rather than opening its own.
    assert_eq!(h.conns(), 1);
    // curl --http2-prior-knowledge, with `te: trailers`, which HTTP/2 carries end to end.
    let (code, out, err) = curl(&[
        "-sS",
        "--max-time",
        "10",
        "--http2-prior-knowledge",
        "-H",
        "te: trailers",
        &format!("http://{addr}/p"),
    ]);
    assert_eq!(
        (code, out.as_str()),
        (
            0,
            format!("h2d GET /p authority={addr} te=trailers\n").as_str()
        ),
        "{err}"
    );
    assert_eq!(h.conns(), 1);
}

#[test]
fn a_full_server_connection_makes_another() {
    // The server takes 2 streams per connection; 6 requests are answered only once all 6
    // are open at once, which needs 3 connections.
    let h = H2Backend::start("h2e", 2);
    let (_p, addr) = proxy_to(&format!("server s1 {} proto h2", h.addr));
    let url = format!("http://{addr}/hold/6");
    let (code, out, err) = run("nghttp", &["-n", "-s", "-m", "6", "-t", "10", &url]);
    assert_eq!(code, 0, "{err}{out}");
    assert_eq!(h.streams(), 6);
    assert!(h.conns() >= 3, "{} connections", h.conns());
    assert!(
        h.max_in_flight.load(std::sync::atomic::Ordering::Relaxed) <= 2,
        "the server's limit was exceeded"
    );
}

#[test]
fn a_refused_stream_is_retried() {
    let h = H2Backend::start("h2f", 100);
    let (_p, addr) = proxy_to(&format!("server s1 {} proto h2", h.addr));
    let r = get(addr, "/refuse-once").expect("answer");
    assert_eq!((r.status, r.server()), (200, "h2f".to_string()));
    assert_eq!(h.streams(), 2);
    // Without retries the refusal is the client's 502... (`retries 0`)
    let h2 = H2Backend::start("h2g", 100);
    let p = start_proxy(&format!(
        "{DEFAULTS}frontend fe\n    bind 127.0.0.1:0\n    default_backend be\nbackend be\n    retries 0\n    server s1 {} proto h2\n",
        h2.addr
    ));
    let r = get(p.local_addrs("fe")[0], "/refuse-once").expect("answer");
    assert_eq!(r.status, 502);
}

#[test]
fn default_server_proto_h2_and_balancing() {
    let a = H2Backend::start("a", 100);
    let b = H2Backend::start("b", 100);
    let p = start_proxy(&format!(
        "{DEFAULTS}frontend fe\n    bind 127.0.0.1:0\n    default_backend be\nbackend be\n    balance roundrobin\n    default-server proto h2\n    server a {}\n    server b {}\n",
        a.addr, b.addr
    ));
    let addr = p.local_addrs("fe")[0];
    let seen: Vec<String> = (0..4)
        .map(|i| get(addr, &format!("/{i}")).expect("answer").server())
        .collect();
    assert_eq!(seen, ["a", "b", "a", "b"]);
    assert_eq!((a.conns(), b.conns()), (1, 1));
}

#[test]
fn alpn_picks_http2_or_http1_over_tls() {
    let dir = tempdir("h2srv-tls");
    let ca = Ca::new(&dir, "ca");
    let bundle = ca.server(&dir, "srv.pem", &["srv.test"], false);
    let h = H2Backend::start_tls("tls-h2", &bundle);
    let h1 = TlsBackend::start("tls-h1", &bundle);
    let p = start_proxy(&format!(
        "{DEFAULTS}frontend fe\n    bind 127.0.0.1:0\n    use_backend one if {{ path_beg /one }}\n    default_backend two\n\
         backend two\n    server s {} ssl verify none alpn h2,http/1.1\n\
         backend one\n    server s {} ssl verify none alpn h2,http/1.1\n",
        h.addr, h1.addr
    ));
    let addr = p.local_addrs("fe")[0];
    for _ in 0..3 {
        let r = get(addr, "/x").expect("answer");
        assert_eq!(r.server(), "tls-h2");
        assert_eq!(r.body_str(), "tls-h2 GET /x authority=test te=-\n");
    }
    assert_eq!((h.conns(), h.streams()), (1, 3));
    // A server that does not pick h2 gets HTTP/1.1.
    let r = get(addr, "/one").expect("answer");
    assert_eq!((r.status, r.server()), (200, "tls-h1".to_string()));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn health_checks_speak_http2_to_http2_servers() {
    let h = H2Backend::start("chk", 100);
    let p = start_proxy(&format!(
        "{DEFAULTS}frontend fe\n    bind 127.0.0.1:0\n    default_backend be\nbackend be\n    option httpchk GET /health\n    http-check expect status 200\n    server s1 {} proto h2 check inter 50ms fall 2 rise 1\n",
        h.addr
    ));
    let addr = p.local_addrs("fe")[0];
    // Several checks went by as HTTP/2 streams, and the server stays up.
    assert!(
        eventually(10, || h.streams() >= 4),
        "{} checks",
        h.streams()
    );
    assert_eq!(get(addr, "/x").expect("answer").status, 200);
    // `check-proto h1` forces HTTP/1.1 checks, which an HTTP/2-only server fails: down.
    let h2 = H2Backend::start("chk1", 100);
    let p = start_proxy(&format!(
        "{DEFAULTS}frontend fe\n    bind 127.0.0.1:0\n    default_backend be\nbackend be\n    option httpchk GET /health\n    server s1 {} proto h2 check check-proto h1 inter 50ms fall 1 rise 1\n",
        h2.addr
    ));
    let addr = p.local_addrs("fe")[0];
    assert!(eventually(10, || get(addr, "/x").is_some_and(|r| r.status == 503)));
    // A plain TCP check of an HTTP/2 server works as before.
    let h3 = H2Backend::start("chk2", 100);
    let p = start_proxy(&format!(
        "{DEFAULTS}frontend fe\n    bind 127.0.0.1:0\n    default_backend be\nbackend be\n    server s1 {} proto h2 check inter 50ms fall 1 rise 1\n",
        h3.addr
    ));
    let addr = p.local_addrs("fe")[0];
    assert_eq!(get(addr, "/x").expect("answer").server(), "chk2");
}

#[test]
fn tune_h2_max_concurrent_streams_bounds_server_connections_too() {
    // The server would take 100 streams; dermaga puts at most 2 on each connection.
    let h = H2Backend::start("h2t", 100);
    let p = start_proxy(&format!(
        "global\n    tune.h2.max-concurrent-streams 2\n{DEFAULTS}frontend fe\n    bind 127.0.0.1:0\n    default_backend be\nbackend be\n    server s1 {} proto h2\n",
        h.addr
    ));
    // Six HTTP/1.1 clients at once (the setting bounds HTTP/2 clients to 2 streams too).
    let addr = p.local_addrs("fe")[0];
    let clients: Vec<_> = (0..6)
        .map(|_| std::thread::spawn(move || get(addr, "/hold/6").map(|r| r.status)))
        .collect();
    for c in clients {
        assert_eq!(c.join().unwrap(), Some(200));
    }
    assert_eq!(h.streams(), 6);
    assert!(h.conns() >= 3, "{} connections", h.conns());
    assert!(h.max_in_flight.load(std::sync::atomic::Ordering::Relaxed) <= 2);
}

#[test]
fn logs_stats_and_server_goaway() {
    let h = H2Backend::start("h2l", 100);
    let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let dir = tempdir("h2srv-stats");
    let sock = dir.join("admin.sock");
    let p = start_proxy(&format!(
        "global\n    log 127.0.0.1:{} local0\n    stats socket {} level admin\n{DEFAULTS}frontend fe\n    bind 127.0.0.1:0\n    option httplog\n    log global\n    default_backend be\nbackend be\n    server s1 {} proto h2\n",
        rx.local_addr().unwrap().port(),
        sock.display(),
        h.addr
    ));
    let addr = p.local_addrs("fe")[0];
    assert_eq!(get(addr, "/first").expect("answer").status, 200);
    // The server answers /goaway, then says GOAWAY: the next request takes a new connection.
    assert_eq!(get(addr, "/goaway").expect("answer").status, 200);
    assert_eq!(get(addr, "/after").expect("answer").status, 200);
    assert_eq!((h.conns(), h.streams()), (2, 3));
    // httplog names the server and the status as for HTTP/1.1 servers.
    let mut buf = [0u8; 4096];
    let mut lines = Vec::new();
    while lines.len() < 3 {
        let n = rx.recv(&mut buf).expect("a log line");
        lines.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    let after = lines
        .iter()
        .find(|l| l.contains("GET /after HTTP/1.1"))
        .expect("log of /after");
    assert!(
        after.contains(" fe be/s1 ") && after.contains(" 200 "),
        "{after}"
    );
    // Statistics count the server's answers.
    let stat = stats_command(&sock, "show stat");
    let cols: Vec<&str> = stat
        .lines()
        .next()
        .unwrap()
        .trim_start_matches("# ")
        .split(',')
        .collect();
    let row: Vec<&str> = stat
        .lines()
        .find(|l| l.starts_with("be,s1,"))
        .unwrap()
        .split(',')
        .collect();
    let col = |name: &str| row[cols.iter().position(|c| *c == name).unwrap()];
    assert_eq!((col("stot"), col("hrsp_2xx")), ("3", "3"), "{stat}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn servers_added_at_run_time_take_default_server_proto_h2() {
    let a = H2Backend::start("rt-a", 100);
    let b = H2Backend::start("rt-b", 100);
    let p = start_proxy(&format!(
        "{DEFAULTS}frontend fe\n    bind 127.0.0.1:0\n    default_backend be\nbackend be\n    default-server proto h2\n    server s0 {}\n",
        a.addr
    ));
    let addr = p.local_addrs("fe")[0];
    let h = p.handle();
    assert_eq!(get(addr, "/").expect("answer").server(), "rt-a");
    // s0 goes; s1 comes at another address and may take the same id: its requests must not
    // ride the connection to the old address.
    h.remove_server("be", "s0").unwrap();
    h.add_server("be", "s1", b.addr, 1).unwrap();
    for _ in 0..3 {
        assert_eq!(get(addr, "/").expect("answer").server(), "rt-b");
    }
    assert_eq!((b.conns(), b.streams()), (1, 3));
}

#[test]
fn tls_health_checks_follow_alpn_and_check_alpn() {
    let dir = tempdir("h2srv-tlschk");
    let ca = Ca::new(&dir, "ca");
    let bundle = ca.server(&dir, "srv.pem", &["srv.test"], false);
    // The check offers the server's ALPN (h2), the server picks it: HTTP/2 checks.
    let h = H2Backend::start_tls("tls-chk", &bundle);
    let p = start_proxy(&format!(
        "{DEFAULTS}frontend fe\n    bind 127.0.0.1:0\n    default_backend be\nbackend be\n    option httpchk GET /health\n    server s1 {} ssl verify none alpn h2,http/1.1 check inter 50ms fall 1 rise 1\n",
        h.addr
    ));
    assert!(
        eventually(10, || h.streams() >= 3),
        "{} checks",
        h.streams()
    );
    assert_eq!(
        get(p.local_addrs("fe")[0], "/x").expect("answer").server(),
        "tls-chk"
    );
    // `check-alpn http/1.1`: the server (h2 only) refuses the check's handshake: down.
    let h2 = H2Backend::start_tls("tls-chk2", &bundle);
    let p = start_proxy(&format!(
        "{DEFAULTS}frontend fe\n    bind 127.0.0.1:0\n    default_backend be\nbackend be\n    option httpchk GET /health\n    server s1 {} ssl verify none alpn h2 check check-alpn http/1.1 inter 50ms fall 1 rise 1\n",
        h2.addr
    ));
    let addr = p.local_addrs("fe")[0];
    assert!(eventually(10, || get(addr, "/x").is_some_and(|r| r.status == 503)));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn head_requests_keep_the_length_and_carry_no_body() {
    let h = H2Backend::start("h2h", 100);
    let (_p, addr) = proxy_to(&format!("server s1 {} proto h2", h.addr));
    let mut c = Client::connect(addr);
    c.send(b"HEAD /length HTTP/1.1\r\nHost: test\r\n\r\n");
    let r = c.read(true).expect("answer");
    assert_eq!((r.status, r.server()), (200, "h2h".to_string()));
    assert!(r.header("content-length").is_some(), "{r:?}");
    assert_eq!(r.header("transfer-encoding"), None);
    // The connection is still in step: the next answer is the next request's.
    let r = c.get("/next").expect("answer");
    assert_eq!(r.body_str(), "h2h GET /next authority=test te=-\n");
}

#[test]
fn server_maxconn_counts_streams_and_queues_the_rest() {
    let h = H2Backend::start("mc", 100);
    let dir = tempdir("h2srv-maxconn");
    let sock = dir.join("admin.sock");
    let p = start_proxy(&format!(
        "global\n    stats socket {} level admin\n{DEFAULTS}frontend fe\n    bind 127.0.0.1:0\n    default_backend be\nbackend be\n    timeout queue 10s\n    server s1 {} proto h2 maxconn 1\n",
        sock.display(),
        h.addr
    ));
    let addr = p.local_addrs("fe")[0];
    let qcur = || {
        let stat = stats_command(&sock, "show stat");
        let cols: Vec<String> = stat
            .lines()
            .next()
            .unwrap()
            .trim_start_matches("# ")
            .split(',')
            .map(String::from)
            .collect();
        let row: Vec<String> = stat
            .lines()
            .find(|l| l.starts_with("be,BACKEND,"))
            .unwrap()
            .split(',')
            .map(String::from)
            .collect();
        row[cols.iter().position(|c| c == "qcur").unwrap()].clone()
    };
    // One request held by the server takes the one slot...
    std::thread::spawn(move || get(addr, "/hold/2"));
    assert!(eventually(10, || h.streams() == 1));
    // ...so the next one waits in the backend's queue instead of becoming a second stream.
    std::thread::spawn(move || get(addr, "/hold/2"));
    assert!(eventually(10, || qcur() == "1"), "qcur {}", qcur());
    assert_eq!(h.streams(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}
