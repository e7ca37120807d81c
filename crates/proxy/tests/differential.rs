//! The differential suite: haproxy (/usr/sbin/haproxy) and dermaga's proxy run the same
//! configuration against the same backends; what clients see must match (status, the headers
//! that matter, which server answered, the order of servers under each algorithm, failover).

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use support::*;

/// Both proxies on the same configuration; `{PORT}` is replaced by each one's own port.
struct Pair {
    hap: (Proc, SocketAddr),
    der: (Proc, SocketAddr),
}

fn pair(cfg: &str) -> Pair {
    let start = |prog: &str, tag: &str| {
        let port = free_port();
        let c = cfg.replace("{PORT}", &port.to_string());
        let p = spawn(prog, &c, tag);
        let a: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        wait_port(a);
        (p, a)
    };
    Pair {
        hap: start(HAPROXY, "hap"),
        der: start(DERMAGA, "der"),
    }
}

const DEFAULTS: &str = "global\n nbthread 1\ndefaults\n mode http\n timeout connect 1s\n timeout client 5s\n timeout server 5s\n";

fn servers(names: &[&str]) -> Vec<HttpBackend> {
    names.iter().map(|n| HttpBackend::start(n)).collect()
}

fn server_lines(bs: &[HttpBackend], extra: &[&str]) -> String {
    bs.iter()
        .enumerate()
        .map(|(i, b)| {
            format!(
                " server {} {} {}\n",
                b.name,
                b.addr,
                extra.get(i).copied().unwrap_or("")
            )
        })
        .collect()
}

/// The servers answering `paths`, one fresh connection each.
fn order(addr: SocketAddr, paths: &[String]) -> Vec<String> {
    paths
        .iter()
        .map(|p| {
            get(addr, p)
                .map(|r| r.server())
                .unwrap_or_else(|| "none".into())
        })
        .collect()
}

fn same_order(balance: &str, weights: &[&str], paths: Vec<String>) {
    let bs = servers(&["s1", "s2", "s3", "s4"]);
    let cfg = format!(
        "{DEFAULTS}frontend fe\n bind 127.0.0.1:{{PORT}}\n default_backend be\nbackend be\n {balance}\n{}",
        server_lines(&bs, weights)
    );
    let p = pair(&cfg);
    let h = order(p.hap.1, &paths);
    let d = order(p.der.1, &paths);
    assert_eq!(
        d, h,
        "balance {balance} weights {weights:?}: dermaga vs haproxy"
    );
}

fn slash(n: usize) -> Vec<String> {
    (0..n).map(|_| "/".to_string()).collect()
}

#[test]
fn roundrobin_equal_weights() {
    same_order("balance roundrobin", &[], slash(12));
}

#[test]
fn roundrobin_unequal_weights() {
    same_order(
        "balance roundrobin",
        &["weight 3", "weight 1", "weight 2", "weight 5"],
        slash(33),
    );
}

#[test]
fn static_rr_unequal_weights() {
    same_order(
        "balance static-rr",
        &["weight 3", "weight 1", "weight 2", "weight 1"],
        slash(21),
    );
}

#[test]
fn leastconn_sequential() {
    same_order("balance leastconn", &[], slash(8));
}

#[test]
fn first_sequential() {
    same_order(
        "balance first",
        &["maxconn 5", "maxconn 5", "", ""],
        slash(6),
    );
}

#[test]
fn source_hash() {
    same_order("balance source", &["weight 2", "", "", ""], slash(3));
}

fn paths() -> Vec<String> {
    [
        "/",
        "/a",
        "/b/c",
        "/images/x.png?v=1",
        "/api/v1/users?id=7",
        "/zz",
        "/static/app.js",
        "/a/b/c/d",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

#[test]
fn uri_hash_map_based() {
    same_order("balance uri", &[], paths());
}

#[test]
fn uri_hash_depth_and_whole() {
    same_order("balance uri depth 2", &["weight 2"], paths());
    same_order("balance uri whole", &[], paths());
}

#[test]
fn uri_hash_consistent() {
    same_order("balance uri\n hash-type consistent", &["weight 2"], paths());
}

#[test]
fn url_param_hash() {
    let p: Vec<String> = [
        "/?user=bob",
        "/?user=alice",
        "/x?a=1&user=carol",
        "/?user=dave",
        "/nouser",
        "/nouser",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    same_order("balance url_param user", &[], p);
}

#[test]
fn statuses_and_headers_of_rules() {
    let bs = servers(&["s1"]);
    let cfg = format!(
        "{DEFAULTS}frontend fe\n bind 127.0.0.1:{{PORT}}\n\
 http-request deny if {{ path_beg /admin }}\n\
 http-request deny deny_status 429 if {{ path_beg /slow }}\n\
 http-request return status 200 content-type text/plain string pong if {{ path /ping }}\n\
 http-request redirect location /new code 301 if {{ path /old }}\n\
 http-request redirect scheme https if {{ path /secure }}\n\
 http-request redirect prefix /v2 if {{ path_beg /v1 }}\n\
 http-request redirect location /t code 307 set-cookie T=1 if {{ path /temp }}\n\
 http-request redirect location /p code 308 clear-cookie P= if {{ path /perm }}\n\
 redirect prefix /o drop-query if {{ path_beg /legacy }}\n\
 http-response set-header X-Resp r1\n\
 default_backend be\nbackend be\n{}",
        server_lines(&bs, &[])
    );
    let p = pair(&cfg);
    for path in [
        "/",
        "/admin",
        "/slow",
        "/ping",
        "/old",
        "/secure?x=1",
        "/v1/a",
        "/status/404",
        "/status/503",
        "/temp",
        "/perm",
        "/legacy/x?q=1",
    ] {
        let h = get(p.hap.1, path).unwrap();
        let d = get(p.der.1, path).unwrap();
        assert_eq!(d.status, h.status, "{path}");
        for name in [
            "location",
            "content-type",
            "x-resp",
            "x-server",
            "set-cookie",
            "cache-control",
            "content-length",
        ] {
            assert_eq!(d.header(name), h.header(name), "{path}: header {name}");
        }
        if h.status >= 400 && h.header("x-server").is_none() {
            assert_eq!(d.body, h.body, "{path}: error page");
        }
    }
}

#[test]
fn no_server_and_bad_requests() {
    let cfg = format!(
        "{DEFAULTS}frontend fe\n bind 127.0.0.1:{{PORT}}\n default_backend be\nbackend be\n"
    );
    let p = pair(&cfg);
    let h = get(p.hap.1, "/").unwrap();
    let d = get(p.der.1, "/").unwrap();
    assert_eq!((d.status, &d.body), (h.status, &h.body));
    for req in [
        &b"GET /a#b HTTP/1.1\r\nHost: t\r\n\r\n"[..],
        b"G(T / HTTP/1.1\r\nHost: t\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        // Codings other than chunked: well formed, refused with 422.
        b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        // An absolute-form target and a Host header naming different hosts.
        b"GET http://other/x HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET http://t:8080/x HTTP/1.1\r\nHost: t\r\n\r\n",
        // Versions: any one-digit HTTP/d.d is taken, anything longer is not.
        b"GET / HTTP/2.0\r\nHost: t\r\n\r\n",
        b"GET / HTTP/1.2\r\nHost: t\r\n\r\n",
        b"GET / HTTP/1.10\r\nHost: t\r\n\r\n",
        b"GET / HTTP/12.0\r\nHost: t\r\n\r\n",
    ] {
        let h = raw(p.hap.1, req).unwrap();
        let d = raw(p.der.1, req).unwrap();
        assert_eq!(
            (d.status, &d.body),
            (h.status, &h.body),
            "{:?}",
            String::from_utf8_lossy(req)
        );
    }
}

#[test]
fn cookie_insert() {
    let bs = servers(&["s1", "s2"]);
    let cfg = format!(
        "{DEFAULTS}frontend fe\n bind 127.0.0.1:{{PORT}}\n default_backend be\nbackend be\n cookie SRV insert indirect nocache\n{}",
        server_lines(&bs, &["cookie c1", "cookie c2"])
    );
    let p = pair(&cfg);
    let h = get(p.hap.1, "/").unwrap();
    let d = get(p.der.1, "/").unwrap();
    assert_eq!(d.server(), h.server());
    assert_eq!(d.header("set-cookie"), h.header("set-cookie"));
    assert_eq!(d.header("cache-control"), h.header("cache-control"));
    let req = b"GET / HTTP/1.1\r\nHost: t\r\nCookie: SRV=c2\r\nConnection: close\r\n\r\n";
    let h = raw(p.hap.1, req).unwrap();
    let d = raw(p.der.1, req).unwrap();
    assert_eq!(
        (d.server(), d.header("set-cookie")),
        (h.server(), h.header("set-cookie"))
    );
}

#[test]
fn failover_and_recovery_with_checks() {
    let s1 = HttpBackend::start("s1");
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}frontend fe\n bind 127.0.0.1:{{PORT}}\n default_backend be\nbackend be\n option httpchk GET /health\n default-server inter 100ms fall 2 rise 2\n server s1 {} check\n server s2 127.0.0.1:{port} check\n server bk 127.0.0.1:{port} check backup\n",
        s1.addr
    );
    let p = pair(&cfg);
    // s2 is down on both: every request goes to s1
    assert!(eventually(5, || order(p.hap.1, &slash(4)) == ["s1"; 4]));
    assert!(eventually(5, || order(p.der.1, &slash(4)) == ["s1"; 4]));
    // s2 (and the backup on the same port) comes up: both alternate again, in the same order
    let _s2 = HttpBackend::start_on(&format!("127.0.0.1:{port}"), "s2");
    assert!(eventually(5, || order(p.hap.1, &slash(4)).contains(&"s2".to_string())));
    assert!(eventually(5, || order(p.der.1, &slash(4)).contains(&"s2".to_string())));
    std::thread::sleep(Duration::from_millis(300));
    // s1 goes away: s2 takes everything, the backup stays idle
    s1.stop();
    drop(s1);
    std::thread::sleep(Duration::from_millis(800));
    let h = order(p.hap.1, &slash(4));
    let d = order(p.der.1, &slash(4));
    assert_eq!(d, h);
}

#[test]
fn stats_socket_shapes() {
    let bs = servers(&["s1", "s2"]);
    let mk = |sock: &std::path::Path| {
        format!(
            "global\n nbthread 1\n stats socket {} level admin\ndefaults\n mode http\n timeout connect 1s\n timeout client 5s\n timeout server 5s\nfrontend fe\n bind 127.0.0.1:{{PORT}}\n default_backend be\nbackend be\n{}",
            sock.display(),
            server_lines(&bs, &["", "weight 4"])
        )
    };
    let dir = tempdir("diffstats");
    let hs = dir.join("h.sock");
    let ds = dir.join("d.sock");
    let hport = free_port();
    let dport = free_port();
    let _h = spawn(
        HAPROXY,
        &mk(&hs).replace("{PORT}", &hport.to_string()),
        "hs",
    );
    let _d = spawn(
        DERMAGA,
        &mk(&ds).replace("{PORT}", &dport.to_string()),
        "ds",
    );
    assert!(eventually(5, || hs.exists() && ds.exists()));
    wait_port(format!("127.0.0.1:{hport}").parse().unwrap());
    wait_port(format!("127.0.0.1:{dport}").parse().unwrap());
    let cli = |sock: &std::path::Path, cmd: &str| {
        use std::io::{Read, Write};
        let mut s = std::os::unix::net::UnixStream::connect(sock).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(format!("{cmd}\n").as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    };
    for cmd in [
        "set server be/s1 state drain",
        "set server be/s1 state foo",
        "set server be/zz weight 5",
        "set server bx/s1 weight 5",
        "set server be/s1 weight 300",
        "set server be/s2 weight 7",
        "get weight be/s2",
        "show backend",
        "show servers state zz",
        "disable server be/s1",
        "enable server be/s1",
    ] {
        assert_eq!(cli(&ds, cmd), cli(&hs, cmd), "{cmd}");
    }
    // show stat: same header, same columns, same names and statuses
    let h = cli(&hs, "show stat");
    let d = cli(&ds, "show stat");
    let hl: Vec<&str> = h.lines().collect();
    let dl: Vec<&str> = d.lines().collect();
    assert_eq!(dl[0], hl[0]);
    assert_eq!(dl.len(), hl.len());
    let col = |l: &str, i: usize| l.split(',').nth(i).unwrap_or("").to_string();
    let idx = |name: &str| {
        hl[0]
            .trim_start_matches("# ")
            .split(',')
            .position(|c| c == name)
            .unwrap()
    };
    for (a, b) in dl.iter().zip(&hl).skip(1) {
        for c in [
            "pxname", "svname", "status", "weight", "act", "bck", "type", "mode", "algo", "iid",
            "sid",
        ] {
            assert_eq!(col(a, idx(c)), col(b, idx(c)), "column {c}: {a} vs {b}");
        }
    }
    // show servers state: same header and the same columns that do not depend on time
    let h = cli(&hs, "show servers state");
    let d = cli(&ds, "show servers state");
    let hl: Vec<&str> = h.lines().collect();
    let dl: Vec<&str> = d.lines().collect();
    assert_eq!(dl[..2], hl[..2]);
    for (a, b) in dl.iter().zip(&hl).skip(2) {
        let (a, b): (Vec<&str>, Vec<&str>) = (a.split(' ').collect(), b.split(' ').collect());
        assert_eq!(a.len(), b.len());
        for i in [1, 2, 3, 4, 5, 6, 7, 8, 18] {
            assert_eq!(a.get(i), b.get(i), "show servers state column {i}");
        }
    }
}

/// A server that answers every request with `reply` and keeps the connection, or says
/// nothing when `reply` is empty.
fn scripted_server(reply: &'static [u8]) -> SocketAddr {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while matches!(c.read(&mut buf), Ok(n) if n > 0) {
                    if !reply.is_empty() && c.write_all(reply).is_err() {
                        return;
                    }
                }
            });
        }
    });
    a
}

#[test]
fn answers_for_failed_requests_keep_the_connection_as_haproxy_does() {
    let bs = servers(&["s1"]);
    let garbage = scripted_server(b"garbage\r\n\r\n");
    let silent = scripted_server(b"");
    let refused = free_port();
    let cfg = format!(
        "global\n nbthread 1\ndefaults\n mode http\n timeout connect 1s\n timeout client 5s\n timeout server 500ms\n retries 1\n\
frontend fe\n bind 127.0.0.1:{{PORT}}\n\
 use_backend none if {{ path_beg /none }}\n use_backend garbage if {{ path_beg /garbage }}\n\
 use_backend silent if {{ path_beg /silent }}\n use_backend refused if {{ path_beg /refused }}\n\
 default_backend be\n\
backend be\n{}\
backend none\n\
backend garbage\n server g {garbage}\n\
backend silent\n server s {silent}\n\
backend refused\n server r 127.0.0.1:{refused}\n",
        server_lines(&bs, &[])
    );
    let p = pair(&cfg);
    for path in ["/none", "/garbage", "/silent", "/refused"] {
        let mut seen = Vec::new();
        for a in [p.hap.1, p.der.1] {
            let mut c = Client::connect(a);
            let first = c
                .get(path)
                .map(|r| (r.status, r.header("connection").map(str::to_owned)));
            // The same connection serves the next request, or is closed.
            let next = c.get("/").map(|r| r.status);
            seen.push((first, next));
        }
        assert_eq!(seen[1], seen[0], "{path}: dermaga then haproxy");
        assert_eq!(seen[0].1, Some(200), "{path}: haproxy keeps the connection");
    }
    // A request with a body, whole, that the server never answered.
    let mut seen = Vec::new();
    for a in [p.hap.1, p.der.1] {
        let mut c = Client::connect(a);
        c.send(b"POST /silent HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc");
        let first = c.read(false).map(|r| r.status);
        seen.push((first, c.get("/").map(|r| r.status)));
    }
    assert_eq!(seen[1], seen[0], "POST: dermaga then haproxy");
}

#[test]
fn connection_headers_tell_http_1_0_clients_what_haproxy_tells_them() {
    let bs = servers(&["s1"]);
    let cfg = format!(
        "{DEFAULTS}frontend fe\n bind 127.0.0.1:{{PORT}}\n use_backend none if {{ path_beg /none }}\n\
 http-request deny if {{ path_beg /deny }}\n default_backend be\nbackend be\n{}backend none\n",
        server_lines(&bs, &[])
    );
    let p = pair(&cfg);
    for req in [
        &b"GET / HTTP/1.0\r\n\r\n"[..],
        b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        b"HEAD / HTTP/1.0\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET /none HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        b"GET /none HTTP/1.0\r\n\r\n",
        b"GET /deny HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    ] {
        let seen = |a| {
            let mut c = Client::connect(a);
            c.send(req);
            let r = c.read(req.starts_with(b"HEAD")).expect("an answer");
            (
                r.status,
                r.header("connection").map(str::to_ascii_lowercase),
            )
        };
        assert_eq!(
            seen(p.der.1),
            seen(p.hap.1),
            "{:?}",
            String::from_utf8_lossy(req)
        );
    }
}

#[test]
fn monitor_uri_answers_as_haproxy_does() {
    let bs = servers(&["s1"]);
    let cfg = format!(
        "{DEFAULTS} monitor-uri /healthz\nfrontend fe\n bind 127.0.0.1:{{PORT}}\n\
 acl failing hdr(x-fail) -m found\n monitor fail if failing\n default_backend be\nbackend be\n{}",
        server_lines(&bs, &[])
    );
    let p = pair(&cfg);
    for req in [
        &b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"[..],
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Fail: 1\r\n\r\n",
        b"HEAD /healthz HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET /healthz HTTP/1.0\r\n\r\n",
        // Only the exact target: these go to the server.
        b"GET /healthz?x=1 HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET /healthz/ HTTP/1.1\r\nHost: t\r\n\r\n",
    ] {
        let head = req.starts_with(b"HEAD");
        let seen = |a| {
            let mut c = Client::connect(a);
            c.send(req);
            let r = c.read(head).expect("an answer");
            let mut hdrs: Vec<(String, String)> = r
                .headers
                .iter()
                .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
                .collect();
            hdrs.sort();
            // The connection serves a next request (or was closed, for HTTP/1.0).
            let next = c.get("/").map(|r| r.status);
            (r.status, hdrs, r.body_str().to_string(), next)
        };
        let (h, d) = (seen(p.hap.1), seen(p.der.1));
        assert_eq!(d, h, "{:?}", String::from_utf8_lossy(req));
    }
}

#[test]
fn the_statistics_page_answers_as_haproxy_does() {
    let bs = servers(&["s1"]);
    let stats_port = free_port();
    let cfg = format!(
        "{DEFAULTS}listen stats\n bind 127.0.0.1:{{STATS}}\n stats enable\n stats uri /stats\n stats refresh 10s\n stats auth admin:secret\n stats realm Private\n\
frontend fe\n bind 127.0.0.1:{{PORT}}\n stats enable\n default_backend be\nbackend be\n{}",
        server_lines(&bs, &[])
    );
    // Each proxy gets its own stats port: the pair helper fills {PORT} only.
    let hap_stats = stats_port;
    let der_stats = free_port();
    let p = Pair {
        hap: {
            let port = free_port();
            let c = cfg
                .replace("{PORT}", &port.to_string())
                .replace("{STATS}", &hap_stats.to_string());
            let proc = spawn(HAPROXY, &c, "hap-stats");
            let a: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
            wait_port(a);
            (proc, a)
        },
        der: {
            let port = free_port();
            let c = cfg
                .replace("{PORT}", &port.to_string())
                .replace("{STATS}", &der_stats.to_string());
            let proc = spawn(DERMAGA, &c, "der-stats");
            let a: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
            wait_port(a);
            (proc, a)
        },
    };
    let addr = |port: u16| -> SocketAddr { format!("127.0.0.1:{port}").parse().unwrap() };
    // admin:secret in Basic form.
    let auth = "Authorization: Basic YWRtaW46c2VjcmV0\r\n";
    let ask = |a: SocketAddr, target: &str, extra: &str| {
        let req = format!("GET {target} HTTP/1.1\r\nHost: t\r\n{extra}\r\n");
        let mut c = Client::connect(a);
        c.send(req.as_bytes());
        let r = c.read(false).expect("an answer");
        let next = c.get("/").map(|r| r.status);
        (r, next)
    };
    for (target, extra) in [
        ("/stats", ""),
        ("/stats", "Authorization: Basic YWRtaW46bm9wZQ==\r\n"),
        ("/stats", auth),
        ("/stats;csv", auth),
        ("/stats;csv;norefresh", auth),
    ] {
        let (h, hn) = ask(addr(hap_stats), target, extra);
        let (d, dn) = ask(addr(der_stats), target, extra);
        let summary = |r: &Response| {
            (
                r.status,
                r.header("content-type").map(str::to_owned),
                r.header("refresh").map(str::to_owned),
                r.header("www-authenticate").map(str::to_owned),
            )
        };
        assert_eq!(summary(&d), summary(&h), "{target} {extra:?}");
        assert_eq!(dn, hn, "{target}: the connection afterwards");
        if target.contains(";csv") {
            // The same rows (proxy, service, status) under the same header.
            let rows = |r: &Response| -> Vec<String> {
                r.body_str()
                    .lines()
                    .map(|l| {
                        l.split(',')
                            .take(2)
                            .chain(l.split(',').nth(17))
                            .collect::<Vec<_>>()
                            .join(",")
                    })
                    .collect()
            };
            assert_eq!(rows(&d), rows(&h), "{target}");
        }
    }
    // The frontend's page at haproxy's default URI; other targets reach the server.
    for path in ["/haproxy?stats", "/haproxy?stats;csv", "/other"] {
        let h = get(p.hap.1, path).unwrap();
        let d = get(p.der.1, path).unwrap();
        assert_eq!(
            (d.status, d.header("content-type"), d.header("x-server")),
            (h.status, h.header("content-type"), h.header("x-server")),
            "{path}"
        );
    }
}

#[test]
fn return_answers_with_headers_and_formats_as_haproxy_does() {
    let dir = tempdir("return-lf");
    let lf = dir.join("body.lf");
    std::fs::write(&lf, "file:%[path]\n").unwrap();
    let bs = servers(&["s1"]);
    let cfg = format!(
        "{DEFAULTS}frontend fe\n bind 127.0.0.1:{{PORT}}\n\
 http-request return status 200 content-type text/plain hdr X-A 1 hdr X-P \"%[path]\" lf-string \"p=%[path] h=%[req.hdr(host)]\" if {{ path_beg /both }}\n\
 http-request return status 204 hdr Access-Control-Allow-Origin \"*\" if {{ path_beg /cors }}\n\
 http-request return content-type text/plain lf-file {} if {{ path_beg /lff }}\n\
 http-request return status 404 content-type application/json string \"{{}}\" if {{ path_beg /json }}\n\
 default_backend be\nbackend be\n{}",
        lf.display(),
        server_lines(&bs, &[])
    );
    let p = pair(&cfg);
    for path in ["/both/x", "/cors", "/lff/y", "/json"] {
        let seen = |a| {
            let mut c = Client::connect(a);
            let r = c.get(path).expect("an answer");
            let hdrs: Vec<(String, String)> = r
                .headers
                .iter()
                .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
                .collect();
            // The connection stays for the next request.
            let next = c.get("/").map(|r| r.status);
            (r.status, hdrs, r.body_str().to_string(), next)
        };
        assert_eq!(seen(p.der.1), seen(p.hap.1), "{path}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `nbsrv(be)` counts what haproxy counts: no usable server, then one backup standing in.
/// It drives `monitor fail` and a failover `use_backend`, identically on both proxies.
#[test]
fn nbsrv_drives_monitor_fail_and_failover_as_in_haproxy() {
    let spare = HttpBackend::start("spare");
    let (active, backup) = (free_port(), free_port());
    let cfg = format!(
        "{DEFAULTS}frontend fe\n bind 127.0.0.1:{{PORT}}\n monitor-uri /up\n monitor fail if {{ nbsrv(be) lt 1 }}\n acl be_down nbsrv(be) lt 1\n use_backend b2 if be_down\n default_backend be\nbackend be\n option httpchk GET /health\n default-server inter 100ms fall 1 rise 1\n server s1 127.0.0.1:{active} check\n server bk 127.0.0.1:{backup} check backup\nbackend b2\n server spare {}\n",
        spare.addr
    );
    let p = pair(&cfg);
    let seen = |a: SocketAddr| {
        let up = get(a, "/up").map(|r| r.status);
        (up, order(a, &slash(2)))
    };
    // Both proxies come to `want` (health checks take their time).
    let both_reach = |want: (Option<u16>, Vec<String>)| {
        for (name, a) in [("haproxy", p.hap.1), ("dermaga", p.der.1)] {
            assert!(eventually(5, || seen(a) == want), "{name}: {:?}", seen(a));
        }
    };
    // Nothing of `be` is up: the monitor fails and requests go to `b2`.
    both_reach((Some(503), vec!["spare".to_string(); 2]));
    // The backup comes up: nbsrv counts it as one, so `be` serves again, from the backup.
    let _bk = HttpBackend::start_on(&format!("127.0.0.1:{backup}"), "bk");
    both_reach((Some(200), vec!["bk".to_string(); 2]));
}

/// `http-request auth` and `http_auth`/`http_auth_group` over a userlist with a plain and a
/// crypt(3)-hashed password: what clients see is haproxy's, request by request.
#[test]
fn userlist_basic_authentication_as_in_haproxy() {
    use base64::Engine as _;
    let s = HttpBackend::start("app");
    // `openssl passwd -6 -salt abcdefgh s3cret`
    let hash = "$6$abcdefgh$Z7KfoKnKTSZrzo5VZ0YubGLQOj9ov6sHo9TmE3zIU/LHKhpE30zCnZ0mcIXYf9r9rQ4DYaXoxAFSPFlcWdxjB.";
    let cfg = format!(
        "{DEFAULTS}userlist L\n group admins users alice\n group ops\n user alice insecure-password wonder\n user bob password {hash} groups ops\nfrontend fe\n bind 127.0.0.1:{{PORT}}\n http-request auth realm Private if !{{ http_auth(L) }}\n http-request deny if {{ path_beg /admin }} !{{ http_auth_group(L) admins }}\n default_backend be\nbackend be\n http-request auth if {{ path_beg /be-only }} !{{ http_auth_group(L) ops }}\n server app {}\n",
        s.addr
    );
    let p = pair(&cfg);
    let ask = |a: SocketAddr, path: &str, creds: Option<&str>| {
        let auth = creds
            .map(|c| {
                let b = base64::engine::general_purpose::STANDARD.encode(c);
                format!("Authorization: Basic {b}\r\n")
            })
            .unwrap_or_default();
        let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n");
        raw(a, req.as_bytes()).map(|r| {
            (
                r.status,
                r.header("www-authenticate").map(str::to_string),
                r.server(),
                r.body_str(),
            )
        })
    };
    let cases = [
        ("/", None),
        ("/", Some("alice:wrong")),
        ("/", Some("nobody:wonder")),
        ("/", Some("alice:wonder")),
        ("/", Some("bob:s3cret")),
        ("/", Some("bob:s3cre")),
        ("/admin", Some("alice:wonder")),
        ("/admin", Some("bob:s3cret")),
        ("/be-only", Some("alice:wonder")),
        ("/be-only", Some("bob:s3cret")),
    ];
    for (path, creds) in cases {
        let h = ask(p.hap.1, path, creds);
        let d = ask(p.der.1, path, creds);
        assert!(h.is_some(), "haproxy gave no answer to {path} {creds:?}");
        assert_eq!(d, h, "{path} with {creds:?}");
    }
    // The cases above say something: each kind of answer was seen.
    let statuses: Vec<u16> = cases
        .iter()
        .filter_map(|(path, creds)| ask(p.der.1, path, *creds).map(|r| r.0))
        .collect();
    assert_eq!(statuses, [401, 401, 401, 200, 200, 401, 200, 403, 401, 200]);
}

/// `bind ... accept-proxy`: the PROXY header's addresses stand for the client's in rules,
/// `option forwardfor` and `%[dst]`, for both header versions; a `LOCAL` or `UNKNOWN` one
/// keeps the connection's own, and a connection without a header is closed unanswered.
#[test]
fn accept_proxy_takes_the_addresses_haproxy_takes() {
    use ppp::v2;
    let s = HttpBackend::start("app");
    let cfg = format!(
        "{DEFAULTS}frontend fe\n bind 127.0.0.1:{{PORT}} accept-proxy\n option forwardfor\n http-request deny if {{ src 203.0.113.0/24 }}\n http-request set-header x-dst %[dst]:%[dst_port]\n default_backend be\nbackend be\n server app {}\n",
        s.addr
    );
    let p = pair(&cfg);
    let v2_header = |cmd: v2::Command, src: &str, dst: &str| {
        v2::Builder::with_addresses(
            v2::Version::Two | cmd,
            v2::Protocol::Stream,
            (
                src.parse::<SocketAddr>().unwrap(),
                dst.parse::<SocketAddr>().unwrap(),
            ),
        )
        .build()
        .unwrap()
    };
    let headers: Vec<(&str, Vec<u8>)> = vec![
        (
            "v1 tcp4",
            b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n".to_vec(),
        ),
        (
            "v1 tcp6",
            b"PROXY TCP6 2001:db8::1 2001:db8::2 4000 8443\r\n".to_vec(),
        ),
        (
            "v2 tcp4",
            v2_header(v2::Command::Proxy, "192.0.2.9:1234", "198.51.100.7:80"),
        ),
        (
            "v2 local",
            v2_header(v2::Command::Local, "192.0.2.9:1234", "198.51.100.7:80"),
        ),
        ("v1 unknown", b"PROXY UNKNOWN\r\n".to_vec()),
        (
            "v1 denied source",
            b"PROXY TCP4 203.0.113.5 198.51.100.2 1000 80\r\n".to_vec(),
        ),
        ("no header", Vec::new()),
    ];
    let value = |body: &str, name: &str| {
        body.lines()
            .find_map(|l| {
                let (n, v) = l.split_once(':')?;
                n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
            })
            .unwrap_or_default()
    };
    for (what, header) in &headers {
        let ask = |a: SocketAddr| {
            let mut req = header.clone();
            req.extend_from_slice(b"GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            // The connection's own destination is each proxy's own port.
            let own = format!("{}:{}", a.ip(), a.port());
            raw(a, &req).map(|r| {
                let body = r.body_str();
                let dst = value(&body, "x-dst").replace(&own, "itself");
                (r.status, value(&body, "x-forwarded-for"), dst)
            })
        };
        let (h, d) = (ask(p.hap.1), ask(p.der.1));
        assert_eq!(d, h, "{what}");
        let expected_status = match *what {
            "no header" => None,
            "v1 denied source" => Some(403),
            _ => Some(200),
        };
        assert_eq!(d.as_ref().map(|r| r.0), expected_status, "{what}: {d:?}");
    }
    // The announced addresses were the ones used (not loopback's).
    let mut req = headers[0].1.clone();
    req.extend_from_slice(b"GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let body = raw(p.der.1, &req).map(|r| r.body_str()).unwrap_or_default();
    assert_eq!(value(&body, "x-forwarded-for"), "192.0.2.1");
    assert_eq!(value(&body, "x-dst"), "198.51.100.2:443");
}

/// `server ... send-proxy` and `send-proxy-v2`: the server (here a haproxy that requires the
/// header, `bind ... accept-proxy`) learns the client's address and port and the address it
/// connected to, on traffic and on health checks, from haproxy and from dermaga alike.
#[test]
fn send_proxy_names_the_client_to_the_server() {
    use std::io::{Read, Write};
    let app = HttpBackend::start("app");
    let s_port = free_port();
    let s_cfg = format!(
        "{DEFAULTS}frontend s\n bind 127.0.0.1:{s_port} accept-proxy\n http-request set-header x-src %[src]:%[src_port]\n http-request set-header x-dst %[dst]:%[dst_port]\n default_backend app\nbackend app\n server app {}\n",
        app.addr
    );
    let _s = spawn(HAPROXY, &s_cfg, "s");
    wait_port(format!("127.0.0.1:{s_port}").parse().unwrap());
    let dir = tempdir("send-proxy");
    let sock = dir.join("p-{PORT}.sock");
    let cfg = format!(
        "global\n stats socket {}\n{DEFAULTS}frontend fe\n bind 127.0.0.1:{{PORT}}\n use_backend v2 if {{ path_beg /echo/v2 }}\n default_backend v1\nbackend v1\n option httpchk GET /health\n server s 127.0.0.1:{s_port} send-proxy check inter 100ms\nbackend v2\n option httpchk GET /health\n server s 127.0.0.1:{s_port} send-proxy-v2 check inter 100ms\n",
        sock.display()
    );
    let p = pair(&cfg);
    // The checks pass only if they too begin with the header (the server requires it).
    for a in [p.hap.1, p.der.1] {
        let sock = dir.join(format!("p-{}.sock", a.port()));
        let checked = || {
            let csv = stats_command(&sock, "show stat");
            ["v1,s,", "v2,s,"].iter().all(|row| {
                csv.lines()
                    .any(|l| l.starts_with(row) && l.contains(",L7OK,"))
            })
        };
        assert!(
            eventually(5, checked),
            "{a}: {}",
            stats_command(&sock, "show stat")
        );
    }
    // One request from a client whose address and port are known; the server's view.
    let ask = |a: SocketAddr, path: &str| {
        let mut c = std::net::TcpStream::connect(a).ok()?;
        c.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        let me = c.local_addr().ok()?;
        c.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .ok()?;
        let mut out = String::new();
        let _ = c.read_to_string(&mut out);
        let status = out.split_whitespace().nth(1)?.to_string();
        let value = |name: &str| {
            out.lines()
                .find_map(|l| {
                    let (n, v) = l.split_once(':')?;
                    n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
                })
                .unwrap_or_default()
        };
        Some((
            status,
            value("x-src") == me.to_string(),
            value("x-dst") == a.to_string(),
        ))
    };
    let good = Some(("200".to_string(), true, true));
    for path in ["/echo/v1", "/echo/v2"] {
        // The servers come up only if the checks, too, begin with the header.
        assert!(
            eventually(5, || ask(p.hap.1, path) == good),
            "haproxy {path}: {:?}",
            ask(p.hap.1, path)
        );
        assert!(
            eventually(5, || ask(p.der.1, path) == good),
            "dermaga {path}: {:?}",
            ask(p.der.1, path)
        );
    }
}

/// `stats admin if COND`: the page's form POSTs set servers' states as haproxy's do, and
/// both proxies send the client back to the page with the same `;st=` outcome.
#[test]
fn stats_admin_forms_act_as_in_haproxy() {
    let dir = tempdir("stats-admin");
    let sock = dir.join("p-{PORT}.sock");
    let cfg = format!(
        "global\n stats socket {}\n{DEFAULTS}listen stats\n bind 127.0.0.1:{{PORT}}\n stats enable\n stats uri /stats\n stats admin if {{ hdr(x-admin) yes }}\nbackend be\n server s1 127.0.0.1:9\n server s2 127.0.0.1:9\n",
        sock.display()
    );
    let p = pair(&cfg);
    let status_of = |a: SocketAddr, server: &str| {
        let csv = stats_command(&dir.join(format!("p-{}.sock", a.port())), "show stat");
        csv.lines()
            .find(|l| l.starts_with(&format!("be,{server},")))
            .and_then(|l| l.split(',').nth(17))
            .unwrap_or("")
            .to_string()
    };
    let be_id = |a: SocketAddr| {
        let csv = stats_command(&dir.join(format!("p-{}.sock", a.port())), "show stat");
        csv.lines()
            .find(|l| l.starts_with("be,BACKEND,"))
            .and_then(|l| l.split(',').nth(27))
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(be_id(p.hap.1), be_id(p.der.1), "backend ids");
    let id = be_id(p.der.1);
    let post = |a: SocketAddr, form: &str, admin: bool| {
        let hdr = if admin { "x-admin: yes\r\n" } else { "" };
        let req = format!(
            "POST /stats HTTP/1.1\r\nHost: x\r\n{hdr}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{form}",
            form.len()
        );
        raw(a, req.as_bytes()).map(|r| (r.status, r.header("location").map(str::to_string)))
    };
    let cases = [
        (format!("s=s1&action=maint&b=%23{id}"), true, "s1", "MAINT"),
        (format!("s=s2&action=drain&b=%23{id}"), true, "s2", "DRAIN"),
        (
            format!("s=s1&s=s2&action=ready&b=%23{id}"),
            true,
            "s1",
            "no check",
        ),
        (format!("action=maint&b=%23{id}"), true, "s1", "no check"),
        (
            format!("s=s1&action=bogus&b=%23{id}"),
            true,
            "s1",
            "no check",
        ),
        (
            "s=s1&action=maint&b=%2399".to_string(),
            true,
            "s1",
            "no check",
        ),
        (
            format!("s=s1&action=maint&b=%23{id}"),
            false,
            "s1",
            "no check",
        ),
    ];
    for (form, admin, server, state) in &cases {
        let h = post(p.hap.1, form, *admin);
        let d = post(p.der.1, form, *admin);
        assert_eq!(d, h, "{form} (admin: {admin})");
        assert_eq!(status_of(p.hap.1, server), *state, "haproxy after {form}");
        assert_eq!(status_of(p.der.1, server), *state, "dermaga after {form}");
    }
    // Each outcome was seen.
    let seen: Vec<String> = cases
        .iter()
        .filter_map(|(f, a, ..)| post(p.der.1, f, *a).and_then(|r| r.1))
        .collect();
    for st in ["DONE", "NONE", "ERRP", "DENY"] {
        assert!(
            seen.iter().any(|l| l.ends_with(&format!(";st={st}"))),
            "{st} in {seen:?}"
        );
    }
    // The page of an admin has the form; anyone else's does not.
    let page = |admin: bool| {
        let hdr = if admin { "x-admin: yes\r\n" } else { "" };
        let req = format!("GET /stats HTTP/1.1\r\nHost: x\r\n{hdr}Connection: close\r\n\r\n");
        raw(p.der.1, req.as_bytes())
            .map(|r| r.body_str())
            .unwrap_or_default()
    };
    assert!(page(true).contains("name=\"s\" value=\"s1\""));
    assert!(!page(false).contains("name=\"s\""));
}
