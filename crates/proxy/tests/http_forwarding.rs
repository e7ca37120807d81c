//! HTTP mode on loopback: real backends, the proxy in-process, raw clients.

mod support;

use std::net::SocketAddr;

use support::*;

fn cfg(backend_lines: &str, servers: &[&HttpBackend]) -> String {
    let mut s = String::from(
        "defaults\n    mode http\n    timeout connect 2s\n    timeout client 10s\n    timeout server 10s\n\nfrontend fe\n    bind 127.0.0.1:0\n    default_backend be\n\nbackend be\n",
    );
    s.push_str(backend_lines);
    for b in servers {
        s.push_str(&format!("    server {} {}\n", b.name, b.addr));
    }
    s
}

fn addr(p: &dermaga_proxy::Proxy) -> SocketAddr {
    p.local_addrs("fe")[0]
}

#[test]
fn roundrobin_in_declaration_order_over_keep_alive() {
    let (a, b, c) = (
        HttpBackend::start("s1"),
        HttpBackend::start("s2"),
        HttpBackend::start("s3"),
    );
    let p = start_proxy(&cfg("    balance roundrobin\n", &[&a, &b, &c]));
    let mut cl = Client::connect(addr(&p));
    let order: Vec<String> = (0..6)
        .map(|_| cl.get("/").expect("response").server())
        .collect();
    assert_eq!(order, ["s1", "s2", "s3", "s1", "s2", "s3"]);
    p.stop();
    p.wait();
}

#[test]
fn server_connections_are_reused() {
    let a = HttpBackend::start("s1");
    let p = start_proxy(&cfg("", &[&a]));
    for _ in 0..3 {
        let mut cl = Client::connect(addr(&p));
        for _ in 0..5 {
            assert_eq!(cl.get("/").unwrap().status, 200);
        }
    }
    assert_eq!(a.hits(), 15);
    assert!(
        a.conns.load(std::sync::atomic::Ordering::Relaxed) <= 2,
        "server connections: {}",
        a.conns.load(std::sync::atomic::Ordering::Relaxed)
    );
    p.stop();
    p.wait();
}

#[test]
fn request_bodies_content_length_and_chunked() {
    let a = HttpBackend::start("s1");
    let p = start_proxy(&cfg("", &[&a]));
    let mut cl = Client::connect(addr(&p));
    cl.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello");
    let r = cl.read(false).unwrap();
    assert!(r.body_str().ends_with("hello"), "{}", r.body_str());
    cl.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
    let r = cl.read(false).unwrap();
    assert!(r.body_str().ends_with("abcde"), "{}", r.body_str());
    // a large body, streamed
    let big = vec![b'z'; 200_000];
    let mut req = format!(
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
        big.len()
    )
    .into_bytes();
    req.extend_from_slice(&big);
    cl.send(&req);
    let r = cl.read(false).unwrap();
    assert!(r.body.ends_with(&big));
    p.stop();
    p.wait();
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let (a, b) = (HttpBackend::start("s1"), HttpBackend::start("s2"));
    let p = start_proxy(&cfg("", &[&a, &b]));
    let mut cl = Client::connect(addr(&p));
    cl.send(b"GET /1 HTTP/1.1\r\nHost: t\r\n\r\nGET /2 HTTP/1.1\r\nHost: t\r\n\r\nGET /3 HTTP/1.1\r\nHost: t\r\n\r\n");
    let s: Vec<String> = (0..3).map(|_| cl.read(false).unwrap().server()).collect();
    assert_eq!(s, ["s1", "s2", "s1"]);
    p.stop();
    p.wait();
}

#[test]
fn response_framings_head_chunked_close() {
    let a = HttpBackend::start("s1");
    let p = start_proxy(&cfg("", &[&a]));
    let mut cl = Client::connect(addr(&p));
    cl.send(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = cl.read(true).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("2"));
    let r = cl.get("/chunked").unwrap();
    assert_eq!(r.body_str(), "abcs1");
    let r = cl.get("/big").unwrap();
    assert_eq!(r.body.len(), 1 << 20);
    let r = cl.get("/close").unwrap();
    assert_eq!(r.body_str(), "s1");
    assert_eq!(r.header("connection"), Some("close"));
    p.stop();
    p.wait();
}

#[test]
fn http10_client_gets_close_or_keep_alive() {
    let a = HttpBackend::start("s1");
    let p = start_proxy(&cfg("", &[&a]));
    let mut cl = Client::connect(addr(&p));
    cl.send(b"GET / HTTP/1.0\r\n\r\n");
    let r = cl.read(false).unwrap();
    assert_eq!(r.status, 200);
    assert!(cl.closed());
    let mut cl = Client::connect(addr(&p));
    cl.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let r = cl.read(false).unwrap();
    assert_eq!(r.header("connection"), Some("keep-alive"));
    cl.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(cl.read(false).unwrap().status, 200);
    p.stop();
    p.wait();
}

#[test]
fn smuggling_attempts_get_400() {
    let a = HttpBackend::start("s1");
    let p = start_proxy(&cfg("", &[&a]));
    for req in [
        &b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"[..],
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
        b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: t\r\nX: a\x01\r\n\r\n",
        b"G@T / HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET /a#b HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET http://other/ HTTP/1.1\r\nHost: t\r\n\r\n",
    ] {
        let r = raw(addr(&p), req).expect("an answer");
        assert_eq!(r.status, 400, "{:?}", String::from_utf8_lossy(req));
    }
    // a bad chunk size mid-body cuts the connection
    let mut cl = Client::connect(addr(&p));
    cl.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
    assert!(cl.read(false).is_none_or(|r| r.status == 400));
    assert_eq!(a.hits(), 0);
    // The same host said both ways is one host: the scheme's port implied, case ignored.
    for req in [
        &b"GET http://T:80/ HTTP/1.1\r\nHost: t\r\n\r\n"[..],
        b"GET https://t/ HTTP/1.1\r\nHost: t:443\r\n\r\n",
    ] {
        let r = raw(addr(&p), req).expect("an answer");
        assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(req));
    }
    let r = raw(
        addr(&p),
        b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    )
    .expect("an answer");
    assert_eq!(r.status, 422);
    p.stop();
    p.wait();
}

#[test]
fn oversized_head_gets_400() {
    let a = HttpBackend::start("s1");
    let p = start_proxy(&cfg("", &[&a]));
    let mut req = b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: ".to_vec();
    req.extend(std::iter::repeat_n(b'a', 20000));
    req.extend_from_slice(b"\r\n\r\n");
    let r = raw(addr(&p), &req).unwrap();
    assert_eq!(r.status, 400);
    p.stop();
    p.wait();
}

#[test]
fn no_server_gives_503_and_dead_server_gives_503_after_retries() {
    let a = HttpBackend::start("s1");
    let dead = free_port();
    let p = start_proxy(&format!(
        "defaults\n mode http\n timeout connect 500ms\n timeout client 5s\n timeout server 5s\n retries 1\nfrontend fe\n bind 127.0.0.1:0\n default_backend be\nbackend be\n server dead 127.0.0.1:{dead}\nbackend empty\n"
    ));
    let r = get(addr(&p), "/").unwrap();
    assert_eq!(r.status, 503);
    assert!(r.body_str().contains("No server is available"));
    drop(a);
    p.stop();
    p.wait();
}

#[test]
fn redispatch_moves_to_a_live_server() {
    let a = HttpBackend::start("s2");
    let dead = free_port();
    let p = start_proxy(&format!(
        "defaults\n mode http\n timeout connect 500ms\n timeout client 5s\n timeout server 5s\n retries 2\n option redispatch\nfrontend fe\n bind 127.0.0.1:0\n default_backend be\nbackend be\n server s1 127.0.0.1:{dead}\n server s2 {}\n",
        a.addr
    ));
    for _ in 0..4 {
        let r = get(addr(&p), "/").unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.server(), "s2");
    }
    p.stop();
    p.wait();
}

#[test]
fn expect_100_continue() {
    let a = HttpBackend::start("s1");
    let p = start_proxy(&cfg("", &[&a]));
    let mut cl = Client::connect(addr(&p));
    cl.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n");
    // our backend never sends 100; send the body anyway, as clients do after a while
    cl.send(b"abc");
    let r = cl.read(false).unwrap();
    assert_eq!(r.status, 200);
    assert!(r.body_str().ends_with("abc"));
    p.stop();
    p.wait();
}

#[test]
fn websocket_upgrade_becomes_a_tunnel() {
    use std::io::{Read, Write};
    // a backend that accepts the upgrade then echoes
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let baddr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        let (mut c, _) = l.accept().unwrap();
        let mut buf = [0u8; 4096];
        let n = c.read(&mut buf).unwrap();
        let head = String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase();
        assert!(head.contains("upgrade: websocket"));
        assert!(head.contains("connection: upgrade"));
        c.write_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n").unwrap();
        loop {
            let n = c.read(&mut buf).unwrap_or(0);
            if n == 0 {
                return;
            }
            c.write_all(&buf[..n]).unwrap();
        }
    });
    let p = start_proxy(&format!(
        "defaults\n mode http\n timeout connect 2s\n timeout client 5s\n timeout server 5s\n timeout tunnel 5s\nfrontend fe\n bind 127.0.0.1:0\n default_backend be\nbackend be\n server ws {baddr}\n"
    ));
    let mut s = std::net::TcpStream::connect(addr(&p)).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    s.write_all(
        b"GET /ws HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
    )
    .unwrap();
    let mut buf = [0u8; 4096];
    let mut got = Vec::new();
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
    }
    assert!(got.starts_with(b"HTTP/1.1 101"));
    s.write_all(b"ping").unwrap();
    let mut echo = [0u8; 4];
    s.read_exact(&mut echo).unwrap();
    assert_eq!(&echo, b"ping");
    p.stop();
    p.wait();
}

#[test]
fn idle_keep_alive_connections_park_and_time_out() {
    let a = HttpBackend::start("s1");
    let p = start_proxy(&format!(
        "defaults\n mode http\n timeout connect 2s\n timeout client 10s\n timeout server 10s\n timeout http-keep-alive 1500ms\n\
frontend fe\n bind 127.0.0.1:0\n default_backend be\nbackend be\n server s1 {}\n",
        a.addr
    ));
    let mut cl = Client::connect(addr(&p));
    assert_eq!(cl.get("/").unwrap().status, 200);
    // longer than the hot wait (500 ms): the connection parks, then wakes up for this one
    std::thread::sleep(std::time::Duration::from_millis(800));
    assert_eq!(cl.get("/").unwrap().status, 200);
    // longer than timeout http-keep-alive: closed
    std::thread::sleep(std::time::Duration::from_millis(1800));
    assert!(cl.closed());
    p.stop();
    p.wait();
}

#[test]
fn other_http_versions_go_to_the_server_as_http_1_1() {
    let a = HttpBackend::start("s1");
    let p = start_proxy(&cfg("", &[&a]));
    let r = raw(addr(&p), b"GET /echo HTTP/2.0\r\nHost: t\r\n\r\n").unwrap();
    assert_eq!(r.status, 200);
    assert!(
        r.body_str().starts_with("GET /echo HTTP/1.1\r\n"),
        "{}",
        r.body_str()
    );
    p.stop();
    p.wait();
}
