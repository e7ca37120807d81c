//! HTTP/2 from real clients (curl, nghttp) on loopback: cleartext by prior knowledge and
//! over TLS by ALPN, through rules, ACLs, balancing and logging to HTTP/1.1 backends.

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::time::Duration;

use support::pki::{curl, run, Ca};
use support::*;

const DEFAULTS: &str = "defaults\n    mode http\n    timeout connect 2s\n    timeout client 10s\n    timeout server 10s\n\n";

fn h2c(addr: SocketAddr, path: &str, extra: &[&str]) -> (i32, String, String) {
    let url = format!("http://{addr}{path}");
    let mut args = vec!["-sS", "--max-time", "10", "--http2-prior-knowledge"];
    args.extend_from_slice(extra);
    args.push(&url);
    curl(&args)
}

fn h2_tls(ca: &Path, addr: SocketAddr, path: &str, extra: &[&str]) -> (i32, String, String) {
    let resolve = format!("site.test:{}:127.0.0.1", addr.port());
    let url = format!("https://site.test:{}{path}", addr.port());
    let mut args = vec![
        "-sS",
        "--max-time",
        "10",
        "--http2",
        "--cacert",
        ca.to_str().unwrap(),
        "--resolve",
        &resolve,
    ];
    args.extend_from_slice(extra);
    args.push(&url);
    curl(&args)
}

#[test]
fn curl_prior_knowledge_reaches_servers_in_turn() {
    let a = HttpBackend::start("a");
    let b = HttpBackend::start("b");
    let p = start_proxy(&format!(
        "{DEFAULTS}frontend fe\n    bind 127.0.0.1:0\n    default_backend be\nbackend be\n    balance roundrobin\n    server a {}\n    server b {}\n",
        a.addr, b.addr
    ));
    let addr = p.local_addrs("fe")[0];
    // (curl 7.88 cannot reuse a prior-knowledge connection for a second URL, haproxy or not:
    // one connection per request here; nghttp below multiplexes.)
    let mut seen = String::new();
    for i in 0..4 {
        let (code, out, err) = h2c(addr, &format!("/r{i}"), &["-w", " %{http_version}\n"]);
        assert_eq!(code, 0, "{err}");
        seen.push_str(&out);
    }
    assert_eq!(seen, "a 2\nb 2\na 2\nb 2\n");
    // HTTP/1.1 on the same listener is untouched.
    assert_eq!(get(addr, "/x").expect("h1 answer").body_str(), "a");
}

#[test]
fn curl_prior_knowledge_bodies_large_responses_and_trailers() {
    let a = HttpBackend::start("a");
    let p = start_proxy(&format!(
        "{DEFAULTS}frontend fe\n    bind 127.0.0.1:0\n    default_backend be\nbackend be\n    server a {}\n",
        a.addr
    ));
    let addr = p.local_addrs("fe")[0];
    // A POST with a length: the length reaches the server with the body.
    let (code, out, err) = h2c(addr, "/echo", &["-d", "hello=h2"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("POST /echo HTTP/1.1\r\n"), "{out}");
    assert!(out.contains("content-length: 8\r\n"), "{out}");
    assert!(out.ends_with("\r\n\r\nhello=h2"), "{out}");
    // 1 MiB through the client's flow-control window.
    let dir = tempdir("h2-big");
    let file = dir.join("big");
    let f = file.to_str().unwrap();
    let (code, out, err) = h2c(
        addr,
        "/big",
        &["-o", f, "-w", "%{size_download} %{http_version}"],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "1048576 2");
    assert!(std::fs::read(&file).unwrap().iter().all(|&c| c == b'x'));
    // A chunked response with a trailer: body unframed, the trailer as HTTP/2 trailers.
    let (code, out, err) = h2c(addr, "/trailers", &["-i"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("HTTP/2 200"), "{out}");
    assert!(!out.contains("transfer-encoding"), "{out}");
    assert!(out.ends_with("\r\n\r\nax-trailer: a\r\n"), "{out:?}");
}

#[test]
fn curl_over_tls_negotiates_h2_and_ssl_fc_holds() {
    let dir = tempdir("h2-tls");
    let ca = Ca::new(&dir, "ca");
    let crt = ca.server(&dir, "site.pem", &["site.test"], false);
    let a = HttpBackend::start("a");
    let b = HttpBackend::start("b");
    let p = start_proxy(&format!(
        "{DEFAULTS}frontend fe\n    bind 127.0.0.1:0\n    bind 127.0.0.1:0 ssl crt {} alpn h2,http/1.1\n    http-request redirect scheme https unless {{ ssl_fc }}\n    http-request set-header X-SNI %[ssl_fc_sni]\n    http-request set-header X-ALPN %[ssl_fc_alpn]\n    http-request set-header X-Proto %[ssl_fc_protocol]\n    default_backend be\nbackend be\n    balance roundrobin\n    server a {}\n    server b {}\n",
        crt.display(),
        a.addr,
        b.addr
    ));
    let addrs = p.local_addrs("fe");
    let (plain, tls) = (addrs[0], addrs[1]);
    let (code, out, err) = h2_tls(&ca.path, tls, "/echo", &["-w", "%{http_version}"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("GET /echo HTTP/1.1\r\n"), "{out}");
    assert!(out.contains("X-SNI: site.test\r\n"), "{out}");
    assert!(out.contains("X-ALPN: h2\r\n"), "{out}");
    assert!(out.contains("X-Proto: TLSv1.3\r\n"), "{out}");
    assert!(out.ends_with("\r\n2"), "not HTTP/2: {out}");
    let (code, out, err) = h2_tls(&ca.path, tls, "/x", &["-w", " %{http_version}"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "b 2");
    // Cleartext HTTP/2 is redirected: ssl_fc is false there.
    let (code, out, err) = h2c(
        plain,
        "/x",
        &["-o", "/dev/null", "-w", "%{http_code} %{redirect_url}"],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, format!("302 https://{plain}/x"));
    // A client that offers only HTTP/1.1 still gets it.
    let (code, out, err) = h2_tls(
        &ca.path,
        tls,
        "/x",
        &["--http1.1", "-w", " %{http_version}"],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "a 1.1");
}

#[test]
fn rules_apply_to_h2_requests() {
    let a = HttpBackend::start("a");
    let p = start_proxy(&format!(
        "{DEFAULTS}frontend fe\n    bind 127.0.0.1:0\n    acl admin path_beg /admin\n    http-request deny if admin\n    http-request set-header X-Seen h2-gateway\n    http-response set-header X-Resp yes\n    default_backend be\nbackend be\n    server a {}\n",
        a.addr
    ));
    let addr = p.local_addrs("fe")[0];
    let (code, out, err) = h2c(addr, "/admin/x", &["-i"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("HTTP/2 403"), "{out}");
    assert_eq!(a.hits(), 0);
    let (code, out, err) = h2c(
        addr,
        "/echo",
        &["-i", "-H", "Cookie: a=1", "-H", "Cookie: b=2"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("HTTP/2 200"), "{out}");
    assert!(out.contains("x-resp: yes\r\n"), "{out}");
    assert!(out.contains("X-Seen: h2-gateway\r\n"), "{out}");
    assert!(out.contains("host: 127.0.0.1:"), "{out}");
}

#[test]
fn nghttp_parallel_streams_on_one_connection() {
    let a = HttpBackend::start("a");
    let b = HttpBackend::start("b");
    let p = start_proxy(&format!(
        "{DEFAULTS}frontend fe\n    bind 127.0.0.1:0\n    default_backend be\nbackend be\n    balance roundrobin\n    server a {}\n    server b {}\n",
        a.addr, b.addr
    ));
    let addr = p.local_addrs("fe")[0];
    let url = format!("http://{addr}/x");
    // -m 40: the same request 40 times, all at once on one connection.
    let (code, out, err) = run("nghttp", &["-n", "-s", "-m", "40", "-t", "10", &url]);
    assert_eq!(code, 0, "{out}{err}");
    let answered = out.lines().filter(|l| l.contains(" 200 ")).count();
    assert_eq!(answered, 40, "{out}");
    assert_eq!((a.hits(), b.hits()), (20, 20));
}

#[test]
fn an_h2_request_is_logged_as_http_2() {
    let a = HttpBackend::start("a");
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let lport = rx.local_addr().unwrap().port();
    let p = start_proxy(&format!(
        "global\n    log 127.0.0.1:{lport} local0\n{DEFAULTS}frontend fe\n    log global\n    option httplog\n    bind 127.0.0.1:0\n    default_backend be\nbackend be\n    server a {}\n",
        a.addr
    ));
    let addr = p.local_addrs("fe")[0];
    let (code, _, err) = h2c(addr, "/logged?q=1", &[]);
    assert_eq!(code, 0, "{err}");
    let mut buf = [0u8; 4096];
    let n = rx.recv(&mut buf).expect("a log line");
    let line = String::from_utf8_lossy(&buf[..n]);
    assert!(line.contains(" fe be/a "), "{line}");
    assert!(line.contains(" 200 "), "{line}");
    assert!(
        line.ends_with("\"GET /logged?q=1 HTTP/2.0\"\n")
            || line.ends_with("\"GET /logged?q=1 HTTP/2.0\""),
        "{line:?}"
    );
}

#[test]
fn a_proto_h2_bind_speaks_only_http2() {
    let a = HttpBackend::start("a");
    let p = start_proxy(&format!(
        "{DEFAULTS}frontend fe\n    bind 127.0.0.1:0 proto h2\n    default_backend be\nbackend be\n    server a {}\n",
        a.addr
    ));
    let addr = p.local_addrs("fe")[0];
    let (code, out, err) = h2c(addr, "/x", &["-w", " %{http_version}"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "a 2");
    // An HTTP/1.1 request is not HTTP/2: no answer, as with haproxy.
    assert!(get(addr, "/x").is_none());
    assert_eq!(a.hits(), 1);
}

#[test]
fn proto_options_dermaga_cannot_honour_are_errors() {
    let load = |text: &str| {
        dermaga_proxy::config::load_str("t.cfg", text, &dermaga_proxy::config::ProcessEnv)
            .err()
            .map(|d| d.iter().map(|d| d.render(0)).collect::<Vec<_>>().join("\n"))
            .unwrap_or_default()
    };
    let e = load(&format!(
        "{DEFAULTS}frontend fe\n    mode tcp\n    bind 127.0.0.1:8443 proto h2\n    default_backend be\nbackend be\n    mode tcp\n    server a 127.0.0.1:1\n"
    ));
    assert!(
        e.contains(
            "[t.cfg:9] : 'bind 127.0.0.1:8443' : 'proto h2' needs 'mode http' in frontend 'fe'."
        ),
        "{e}"
    );
    let e = load(&format!(
        "{DEFAULTS}frontend fe\n    bind 127.0.0.1:8443 proto quic\n    default_backend be\nbackend be\n    server a 127.0.0.1:1\n"
    ));
    assert!(
        e.contains("[t.cfg:8] : 'bind 127.0.0.1:8443' : 'proto quic' is not supported by dermaga (only 'proto h2')."),
        "{e}"
    );
}

#[test]
fn a_client_that_says_nothing_is_closed_at_the_request_timeout() {
    use std::io::Read;
    let a = HttpBackend::start("a");
    let p = start_proxy(&format!(
        "{DEFAULTS}frontend fe\n    timeout http-request 200ms\n    bind 127.0.0.1:0\n    default_backend be\nbackend be\n    server a {}\n",
        a.addr
    ));
    let addr = p.local_addrs("fe")[0];
    // Waiting for the preface or a request line is bounded like the request itself, and
    // ends as haproxy ends it: a 408, then the close.
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).expect("closed, not timed out");
    assert!(
        got.starts_with(b"HTTP/1.1 408 "),
        "{}",
        String::from_utf8_lossy(&got)
    );
    assert_eq!(a.hits(), 0);
}

#[test]
fn nghttp_over_tls_many_large_answers_at_once() {
    // Eight 1 MiB answers on one TLS connection: coalesced frames of several streams, the
    // client's windows and TLS writes that fill the socket, all at once.
    let dir = tempdir("h2-tls-big");
    let ca = Ca::new(&dir, "ca");
    let crt = ca.server(&dir, "site.pem", &["site.test"], false);
    let a = HttpBackend::start("a");
    let p = start_proxy(&format!(
        "{DEFAULTS}frontend fe\n    bind 127.0.0.1:0 ssl crt {} alpn h2,http/1.1\n    default_backend be\nbackend be\n    server a {}\n",
        crt.display(),
        a.addr
    ));
    let addr = p.local_addrs("fe")[0];
    let url = format!("https://127.0.0.1:{}/big", addr.port());
    let (code, out, err) = run("nghttp", &["-n", "-s", "-m", "8", "-t", "10", &url]);
    assert_eq!(code, 0, "{out}{err}");
    // nghttp -s prints one line per stream with the answer's size (1M) and status.
    let answered = out
        .lines()
        .filter(|l| l.contains(" 200 ") && l.contains(" 1M "))
        .count();
    assert_eq!(answered, 8, "{out}");
    assert_eq!(a.hits(), 8);
}

#[test]
fn a_servers_100_continue_reaches_an_h2_client() {
    use std::io::{BufRead, BufReader, Read, Write};
    // A server that answers `Expect: 100-continue` with 100 Continue before reading the body,
    // then says how many body bytes it got.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let server = l.local_addr().unwrap();
    std::thread::spawn(move || {
        let Ok((c, _)) = l.accept() else { return };
        let mut w = c.try_clone().unwrap();
        let mut r = BufReader::new(c);
        let (mut expect, mut length) = (false, 0usize);
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let lower = line.to_ascii_lowercase();
            expect |= lower.starts_with("expect:") && lower.contains("100-continue");
            if let Some(v) = lower.strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
            if line == "\r\n" {
                break;
            }
        }
        if expect {
            w.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").unwrap();
        }
        let mut body = vec![0u8; length];
        r.read_exact(&mut body).unwrap();
        let text = format!("got {} expect {expect}", body.len());
        write!(
            w,
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{text}",
            text.len()
        )
        .unwrap();
    });
    let p = start_proxy(&format!(
        "{DEFAULTS}frontend fe\n    bind 127.0.0.1:0\n    default_backend be\nbackend be\n    server s {server}\n"
    ));
    let addr = p.local_addrs("fe")[0];
    let body = "x".repeat(5000);
    // curl holds the body until the 100 comes or its expect timeout (30 s here) runs out;
    // --max-time 10 fails the transfer unless the 100 came through.
    let (code, out, err) = h2c(
        addr,
        "/upload",
        &[
            "-v",
            "-H",
            "Expect: 100-continue",
            "--expect100-timeout",
            "30",
            "--data-binary",
            &body,
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "got 5000 expect true");
    assert!(err.contains("< HTTP/2 100"), "{err}");
    assert!(err.contains("< HTTP/2 200"), "{err}");
}
