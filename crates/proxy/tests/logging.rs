//! Logging: httplog/tcplog lines sent to a UDP syslog receiver, in the same shape as haproxy's.

mod support;

use std::net::UdpSocket;
use std::time::Duration;

use support::*;

fn receiver() -> (UdpSocket, u16) {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let p = s.local_addr().unwrap().port();
    (s, p)
}

fn recv_matching(s: &UdpSocket, needle: &str) -> String {
    let mut buf = [0u8; 4096];
    for _ in 0..50 {
        let n = s.recv(&mut buf).expect("a log line");
        let l = String::from_utf8_lossy(&buf[..n]).into_owned();
        if l.contains(needle) {
            return l;
        }
    }
    panic!("no log line with {needle}");
}

/// Replaces the parts that differ between runs (numbers, dates, pids) with `#`.
fn shape(line: &str) -> String {
    let mut out = String::new();
    let mut last_digit = false;
    for c in line.chars() {
        if c.is_ascii_digit() {
            if !last_digit {
                out.push('#');
            }
            last_digit = true;
        } else {
            out.push(c);
            last_digit = false;
        }
    }
    out.replace("haproxy[#]", "haproxy[pid]")
}

/// Runs haproxy, then dermaga, with an HTTP frontend `fe` (lines `fe_opts`) and a TCP listen
/// `tl` (lines `tl_opts`) logging to a UDP receiver; sends one GET of `path` and opens one TCP
/// connection; gives each proxy's (HTTP line, TCP line), haproxy's first.
fn http_and_tcp_lines(fe_opts: &str, tl_opts: &str, path: &str) -> Vec<(String, String)> {
    let a = HttpBackend::start("s1");
    let t = TcpBackend::start("t1");
    let mut lines = Vec::new();
    for prog in [HAPROXY, DERMAGA] {
        let (rx, lport) = receiver();
        let hport = free_port();
        let tport = free_port();
        let cfg = format!(
            "global\n log 127.0.0.1:{lport} local0\ndefaults\n log global\n timeout connect 1s\n timeout client 5s\n timeout server 5s\n\
frontend fe\n mode http\n{fe_opts} bind 127.0.0.1:{hport}\n default_backend be\n\
backend be\n mode http\n server s1 {}\n\
listen tl\n mode tcp\n{tl_opts} bind 127.0.0.1:{tport}\n server t1 {}\n",
            a.addr, t.addr
        );
        let _p = spawn(prog, &cfg, "log");
        let haddr = format!("127.0.0.1:{hport}").parse().unwrap();
        wait_port(haddr);
        assert_eq!(get(haddr, path).unwrap().status, 200);
        let http = recv_matching(&rx, "fe be/s1");
        {
            use std::io::Read;
            let mut s = std::net::TcpStream::connect(("127.0.0.1", tport)).unwrap();
            let mut b = [0u8; 3];
            s.read_exact(&mut b).unwrap();
        }
        let tcp = recv_matching(&rx, "tl tl/t1");
        lines.push((http, tcp));
    }
    lines
}

#[test]
fn httplog_and_tcplog_lines_have_haproxy_shape() {
    let lines = http_and_tcp_lines(" option httplog\n", " option tcplog\n", "/x?y=1");
    let (h, d) = (&lines[0], &lines[1]);
    assert!(d.0.starts_with("<134>"), "{}", d.0);
    assert!(
        d.0.contains(" 200 ") && d.0.trim_end().ends_with("\"GET /x?y=1 HTTP/1.1\""),
        "{}",
        d.0
    );
    assert_eq!(
        shape(&d.0),
        shape(&h.0),
        "httplog\n dermaga: {}\n haproxy: {}",
        d.0,
        h.0
    );
    assert_eq!(
        shape(&d.1),
        shape(&h.1),
        "tcplog\n dermaga: {}\n haproxy: {}",
        d.1,
        h.1
    );
}

/// `log-format` lines, HTTP and TCP, as haproxy writes them for the same format.
#[test]
fn log_format_lines_match_haproxy() {
    let http_fmt = "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r %HM %HU %HP %HQ %HV %fi:%fp %si:%sp %Tt 100%%";
    let tcp_fmt = "%ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq";
    let lines = http_and_tcp_lines(
        &format!(" log-format \"{http_fmt}\"\n"),
        &format!(" log-format \"{tcp_fmt}\"\n"),
        "/x/y?z=1",
    );
    let (h, d) = (&lines[0], &lines[1]);
    assert!(
        d.0.contains("\"GET /x/y?z=1 HTTP/1.1\" GET /x/y?z=1 /x/y ?z=1 HTTP/1.1 "),
        "{}",
        d.0
    );
    assert_eq!(
        shape(&d.0),
        shape(&h.0),
        "HTTP\n dermaga: {}\n haproxy: {}",
        d.0,
        h.0
    );
    assert_eq!(
        shape(&d.1),
        shape(&h.1),
        "TCP\n dermaga: {}\n haproxy: {}",
        d.1,
        h.1
    );
}

/// Captured headers in httplog lines and in `%hr`/`%hs`, as haproxy logs them.
#[test]
fn captured_headers_are_logged_as_haproxy_logs_them() {
    let a = HttpBackend::start("s1");
    let mut lines = Vec::new();
    for prog in [HAPROXY, DERMAGA] {
        let (rx, lport) = receiver();
        let hport = free_port();
        let fport = free_port();
        let cfg = format!(
            "global\n log 127.0.0.1:{lport} local0\ndefaults\n log global\n mode http\n timeout connect 1s\n timeout client 5s\n timeout server 5s\n\
frontend fe\n option httplog\n bind 127.0.0.1:{hport}\n default_backend be\n\
 capture request header X-Tag len 6\n capture request header X-Missing len 10\n capture response header x-server len 20\n\
frontend ff\n log-format \"%ft %hr %hs %{{+Q}}r\"\n bind 127.0.0.1:{fport}\n default_backend be\n\
 capture request header X-Tag len 64\n\
backend be\n server s1 {}\n",
            a.addr
        );
        let _p = spawn(prog, &cfg, "capture");
        for port in [hport, fport] {
            let addr = format!("127.0.0.1:{port}").parse().unwrap();
            wait_port(addr);
            let r = raw(
                addr,
                b"GET /c HTTP/1.1\r\nHost: t\r\nX-Tag: first\r\nX-Tag: a|b{c}#\"d\"-long-value\r\n\r\n",
            )
            .unwrap();
            assert_eq!(r.status, 200);
        }
        let http = recv_matching(&rx, "fe be/s1");
        let fmt = recv_matching(&rx, "ff {");
        lines.push((http, fmt));
    }
    let (h, d) = (&lines[0], &lines[1]);
    assert!(
        d.0.contains(" {a#7Cb#7Bc#7D|} {s1} \"GET /c HTTP/1.1\""),
        "{}",
        d.0
    );
    assert_eq!(
        shape(&d.0),
        shape(&h.0),
        "httplog\n dermaga: {}\n haproxy: {}",
        d.0,
        h.0
    );
    assert_eq!(
        shape(&d.1),
        shape(&h.1),
        "log-format\n dermaga: {}\n haproxy: {}",
        d.1,
        h.1
    );
}

/// What a client of [`bad_request_cases`] saw: the status line it was answered with, if any.
fn first_line(s: &mut std::net::TcpStream) -> String {
    use std::io::Read;
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    let text = String::from_utf8_lossy(&got).into_owned();
    text.lines().next().unwrap_or("").to_string()
}

/// Requests that never become requests, one connection each: an invalid one, an empty
/// connection, a cut head, silence until the request timeout, a cut head until it, a head too
/// large, and a bad request after a good one on a kept-alive connection; then a marker
/// request. Gives what each client saw.
fn bad_request_cases(addr: std::net::SocketAddr) -> Vec<String> {
    use std::io::Write;
    use std::net::{Shutdown, TcpStream};
    let connect = || {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s
    };
    let mut seen = Vec::new();
    let mut s = connect();
    s.write_all(b"BAD\r\n\r\n").unwrap();
    seen.push(first_line(&mut s));
    let mut s = connect();
    s.shutdown(Shutdown::Write).unwrap();
    seen.push(first_line(&mut s));
    let mut s = connect();
    s.write_all(b"GET / HT").unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    seen.push(first_line(&mut s));
    let mut s = connect();
    seen.push(first_line(&mut s));
    let mut s = connect();
    s.write_all(b"GET / HT").unwrap();
    seen.push(first_line(&mut s));
    let mut s = connect();
    let big = format!(
        "GET / HTTP/1.1\r\nhost: a\r\nx: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    let _ = s.write_all(big.as_bytes());
    seen.push(first_line(&mut s));
    let mut c = Client::connect(addr);
    assert_eq!(c.get("/ok").unwrap().status, 200);
    c.send(b"GET /\x01 HTTP/1.1\r\nhost: a\r\n\r\n");
    seen.push(
        c.read(false)
            .map(|r| r.status.to_string())
            .unwrap_or_default(),
    );
    assert!(c.closed());
    // A kept-alive client that leaves between requests is not logged.
    let mut c = Client::connect(addr);
    assert_eq!(c.get("/ok").unwrap().status, 200);
    drop(c);
    assert_eq!(get(addr, "/end").unwrap().status, 200);
    seen
}

/// `<BADREQ>` lines: what haproxy logs for connections whose request never came, was cut or
/// was invalid, and what `option dontlognull` and `option http-ignore-probes` leave out; the
/// same lines (shapes) and the same answers from dermaga.
#[test]
fn bad_requests_are_logged_as_haproxy_logs_them() {
    let a = HttpBackend::start("s1");
    for opts in ["", " option dontlognull\n", " option http-ignore-probes\n"] {
        let mut runs = Vec::new();
        for prog in [HAPROXY, DERMAGA] {
            let (rx, lport) = receiver();
            let hport = free_port();
            let cfg = format!(
                "global\n log 127.0.0.1:{lport} local0\ndefaults\n log global\n timeout connect 1s\n timeout client 5s\n timeout server 5s\n timeout http-request 300ms\n\
frontend fe\n mode http\n option httplog\n{opts} bind 127.0.0.1:{hport}\n default_backend be\n\
backend be\n mode http\n server s1 {}\n",
                a.addr
            );
            let _p = spawn(prog, &cfg, "badreq");
            let addr = format!("127.0.0.1:{hport}").parse().unwrap();
            // Not wait_port: its probe connection would be logged as an empty one. The first
            // connection that gets through carries a request; refused ones log nothing.
            let mut first = None;
            assert!(eventually(10, || {
                first = std::net::TcpStream::connect(addr).ok();
                first.is_some()
            }));
            if let Some(mut s) = first {
                use std::io::Write;
                s.write_all(b"GET /start HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
                    .unwrap();
                assert!(first_line(&mut s).contains(" 200 "));
            }
            recv_matching(&rx, "/start");
            let seen = bad_request_cases(addr);
            let mut lines = Vec::new();
            let mut buf = [0u8; 4096];
            let mut ended = false;
            loop {
                // haproxy logs a kept-alive connection's last request when the connection
                // closes, which may come after the marker: after it, a quiet 300 ms (there
                // is no other signal that no line is left) ends the count.
                let got = match rx.recv(&mut buf) {
                    Ok(n) => String::from_utf8_lossy(&buf[..n]).into_owned(),
                    Err(_) if ended => break,
                    Err(e) => panic!("no log line: {e}"),
                };
                if got.contains("/end") {
                    ended = true;
                    rx.set_read_timeout(Some(Duration::from_millis(300)))
                        .unwrap();
                    continue;
                }
                lines.push(shape(&got));
            }
            lines.sort();
            runs.push((seen, lines));
        }
        let (h, d) = (&runs[0], &runs[1]);
        assert_eq!(d.0, h.0, "answers with [{opts}]: dermaga then haproxy");
        assert_eq!(d.1, h.1, "log lines with [{opts}]: dermaga then haproxy");
        if opts.is_empty() {
            assert_eq!(
                d.1.iter().filter(|l| l.contains("\"<BADREQ>\"")).count(),
                7,
                "{:#?}",
                d.1
            );
        }
    }
}

/// Requests the proxy answers itself are logged as haproxy logs them: `deny` (`PR--`),
/// `return` and redirects (`LR--`), from the frontend's rules or the backend's (`fe
/// be/<NOSRV>`), and a request no backend takes (503, `SC--`, no request time).
#[test]
fn locally_answered_requests_are_logged_as_haproxy_logs_them() {
    let a = HttpBackend::start("s1");
    let paths = [
        "/deny",
        "/d429",
        "/ret",
        "/redir",
        "/pre/a",
        "/none",
        "/be/deny",
        "/b2/ret",
        "/tarpit",
        "/be/tarpit",
    ];
    let mut runs = Vec::new();
    for prog in [HAPROXY, DERMAGA] {
        let (rx, lport) = receiver();
        let hport = free_port();
        let cfg = format!(
            "global\n log 127.0.0.1:{lport} local0\ndefaults\n mode http\n log global\n option httplog\n timeout connect 1s\n timeout client 5s\n timeout server 5s\n timeout tarpit 100ms\n\
frontend fe\n bind 127.0.0.1:{hport}\n http-request tarpit if {{ path_beg /tarpit }}\n http-request deny if {{ path_beg /deny }}\n http-request deny deny_status 429 if {{ path_beg /d429 }}\n\
 http-request return status 200 content-type text/plain string hello if {{ path_beg /ret }}\n http-request redirect location /x code 301 if {{ path_beg /redir }}\n\
 redirect prefix /p if {{ path_beg /pre }}\n use_backend be if {{ path_beg /be }}\n use_backend be2 if {{ path_beg /b2 }}\n\
backend be\n http-request deny if {{ path_beg /be/deny }}\n http-request tarpit deny_status 403 if {{ path_beg /be/tarpit }}\n server s1 {addr}\n\
backend be2\n http-request return status 404 if {{ path_beg /b2/ret }}\n server s1 {addr}\n",
            addr = a.addr
        );
        let _p = spawn(prog, &cfg, "local");
        let addr = format!("127.0.0.1:{hport}").parse().unwrap();
        wait_port(addr);
        let mut seen = Vec::new();
        for path in paths {
            // One kept-alive connection for all: each answer leaves it open as haproxy does.
            let mut c = Client::connect(addr);
            let r = c.get(path).expect("an answer");
            let l = recv_matching(&rx, &format!("\"GET {path} HTTP/1.1\""));
            seen.push((path, r.status, shape(&l)));
        }
        runs.push(seen);
    }
    assert!(
        runs[1][0].1 == 403
            && runs[1][0]
                .2
                .contains(" fe fe/<NOSRV> #/-#/-#/-#/# # # - - PR-- "),
        "{:?}",
        runs[1][0]
    );
    for (h, d) in runs[0].iter().zip(&runs[1]) {
        assert_eq!(d, h, "dermaga then haproxy");
    }
}

/// A server that refuses connections is retried as haproxy retries it: after a turn-around
/// of `min(timeout connect, 1 s)` each time, the retries counted in the log line (`%rc`), and
/// a 503 `SC--` when they run out.
#[test]
fn refused_connections_are_retried_and_logged_as_haproxy_does() {
    let refused = free_port();
    let mut runs = Vec::new();
    for prog in [HAPROXY, DERMAGA] {
        let (rx, lport) = receiver();
        let hport = free_port();
        let cfg = format!(
            "global\n log 127.0.0.1:{lport} local0\ndefaults\n mode http\n log global\n option httplog\n retries 2\n timeout connect 200ms\n timeout client 5s\n timeout server 5s\n\
frontend fe\n bind 127.0.0.1:{hport}\n default_backend be\n\
backend be\n server s1 127.0.0.1:{refused}\n"
        );
        let _p = spawn(prog, &cfg, "retries");
        let addr = format!("127.0.0.1:{hport}").parse().unwrap();
        wait_port(addr);
        assert_eq!(get(addr, "/r").unwrap().status, 503);
        let line = recv_matching(&rx, "\"GET /r HTTP/1.1\"");
        // ".../Ta 503 bytes - - SC-- act/fe/be/srv/retries ..."
        let words: Vec<&str> = line.split_whitespace().collect();
        let at = words.iter().position(|w| *w == "503").expect("a 503 line");
        let total: i64 = words[at - 1].rsplit('/').next().unwrap().parse().unwrap();
        let retries = words[at + 5].rsplit('/').next().unwrap().to_string();
        runs.push((words[at + 4].to_string(), retries, total, shape(&line)));
    }
    let (h, d) = (&runs[0], &runs[1]);
    assert_eq!(
        (&d.0, &d.1),
        (&h.0, &h.1),
        "termination and retries: {d:?} {h:?}"
    );
    assert_eq!(d.1, "2");
    assert_eq!(d.3, h.3);
    // Two turn-arounds of 200 ms lie between the first attempt and the last.
    assert!(d.2 >= 400, "{d:?}");
}

/// A server that reads the request and closes (502, `SH--`) or stays silent past `timeout
/// server` (504, `sH--`): the same answers and log lines as haproxy's.
#[test]
fn server_failures_are_logged_as_haproxy_logs_them() {
    use std::io::Read;
    use std::net::TcpListener;
    // A server thread per behaviour; each connection is read once, then closed at once or
    // held until the proxy gives up on it.
    let server = |hold: bool| {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            for c in l.incoming() {
                let Ok(mut c) = c else { return };
                std::thread::spawn(move || {
                    let mut b = [0u8; 4096];
                    let _ = c.read(&mut b);
                    if hold {
                        // Until the proxy closes its side (its server timeout).
                        while matches!(c.read(&mut b), Ok(n) if n > 0) {}
                    }
                });
            }
        });
        addr
    };
    let closes = server(false);
    let hangs = server(true);
    let mut runs = Vec::new();
    for prog in [HAPROXY, DERMAGA] {
        let (rx, lport) = receiver();
        let hport = free_port();
        let cfg = format!(
            "global\n log 127.0.0.1:{lport} local0\ndefaults\n mode http\n log global\n option httplog\n retries 0\n timeout connect 1s\n timeout client 5s\n timeout server 300ms\n\
frontend fe\n bind 127.0.0.1:{hport}\n use_backend closes if {{ path_beg /closes }}\n default_backend hangs\n\
backend closes\n server s1 {closes}\n\
backend hangs\n server s1 {hangs}\n"
        );
        let _p = spawn(prog, &cfg, "srvfail");
        let addr = format!("127.0.0.1:{hport}").parse().unwrap();
        wait_port(addr);
        let mut seen = Vec::new();
        for path in ["/closes", "/hangs"] {
            let status = get(addr, path).map(|r| r.status);
            let line = recv_matching(&rx, &format!("\"GET {path} HTTP/1.1\""));
            seen.push((status, shape(&line)));
        }
        runs.push(seen);
    }
    assert!(runs[1][1].1.contains(" # # - - sH-- "), "{:?}", runs[1]);
    assert_eq!(runs[1], runs[0], "dermaga then haproxy");
}

/// In TCP mode too: a refusing server is retried after the turn-around, and the tcplog line
/// counts the retries as haproxy's does.
#[test]
fn refused_tcp_connections_are_retried_and_logged_as_haproxy_does() {
    let refused = free_port();
    let mut runs = Vec::new();
    for prog in [HAPROXY, DERMAGA] {
        let (rx, lport) = receiver();
        let tport = free_port();
        let cfg = format!(
            "global\n log 127.0.0.1:{lport} local0\ndefaults\n log global\n retries 2\n timeout connect 200ms\n timeout client 5s\n timeout server 5s\n\
listen tl\n mode tcp\n option tcplog\n bind 127.0.0.1:{tport}\n server t1 127.0.0.1:{refused}\n"
        );
        let _p = spawn(prog, &cfg, "tcpretries");
        let addr: std::net::SocketAddr = format!("127.0.0.1:{tport}").parse().unwrap();
        wait_port(addr);
        {
            use std::io::Read;
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut b = [0u8; 16];
            // Closed by the proxy once the retries ran out.
            let _ = s.read(&mut b);
        }
        let line = recv_matching(&rx, " SC");
        let counters = line
            .split_whitespace()
            .find(|w| w.matches('/').count() == 4)
            .expect("the connection counters")
            .to_string();
        runs.push((
            counters.rsplit('/').next().unwrap().to_string(),
            shape(&line),
        ));
    }
    assert_eq!(runs[1].0, "2", "{:?}", runs[1]);
    assert_eq!(runs[1], runs[0], "dermaga then haproxy");
}

/// Requests for the monitor URI are answered and not logged, as haproxy does not log them.
#[test]
fn monitor_uri_requests_are_not_logged() {
    let a = HttpBackend::start("s1");
    for prog in [HAPROXY, DERMAGA] {
        let (rx, lport) = receiver();
        let hport = free_port();
        let cfg = format!(
            "global\n log 127.0.0.1:{lport} local0\ndefaults\n mode http\n log global\n option httplog\n timeout connect 1s\n timeout client 5s\n timeout server 5s\n\
frontend fe\n bind 127.0.0.1:{hport}\n monitor-uri /healthz\n monitor fail if {{ hdr(x-fail) -m found }}\n default_backend be\n\
backend be\n server s1 {}\n",
            a.addr
        );
        let _p = spawn(prog, &cfg, "monitor");
        let addr = format!("127.0.0.1:{hport}").parse().unwrap();
        wait_port(addr);
        let mut c = Client::connect(addr);
        assert_eq!(c.get("/healthz").unwrap().status, 200, "{prog}");
        c.send(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Fail: 1\r\n\r\n");
        assert_eq!(c.read(false).unwrap().status, 503, "{prog}");
        assert_eq!(c.get("/after").unwrap().status, 200, "{prog}");
        // (The readiness probe's connection is logged as a bad request first.)
        let first = recv_matching(&rx, "\"GET ");
        assert!(first.contains("\"GET /after HTTP/1.1\""), "{prog}: {first}");
    }
}
