//! Rules on loopback: use_backend, http-request/http-response actions, redirects,
//! forwardfor, cookie persistence, tcp-request rules.

mod support;

use support::*;

fn fe(p: &dermaga_proxy::Proxy) -> std::net::SocketAddr {
    p.local_addrs("fe")[0]
}

#[test]
fn use_backend_by_path_and_host() {
    let (a, b, c) = (
        HttpBackend::start("app"),
        HttpBackend::start("api"),
        HttpBackend::start("static"),
    );
    let p = start_proxy(&format!(
        "defaults\n mode http\n timeout connect 2s\n timeout client 5s\n timeout server 5s\n\
frontend fe\n bind 127.0.0.1:0\n acl is_api hdr(host) -i api.example.com\n acl is_static path_beg /static /images\n\
 use_backend be_api if is_api\n use_backend be_static if is_static\n default_backend be_app\n\
backend be_app\n server app {}\nbackend be_api\n server api {}\nbackend be_static\n server static {}\n",
        a.addr, b.addr, c.addr
    ));
    assert_eq!(get(fe(&p), "/").unwrap().server(), "app");
    assert_eq!(get(fe(&p), "/static/x.css").unwrap().server(), "static");
    assert_eq!(get(fe(&p), "/images/a.png").unwrap().server(), "static");
    let r = raw(
        fe(&p),
        b"GET /v1 HTTP/1.1\r\nHost: API.example.com\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    assert_eq!(r.server(), "api");
    p.stop();
    p.wait();
}

#[test]
fn http_request_actions() {
    let a = HttpBackend::start("s1");
    let p = start_proxy(&format!(
        "defaults\n mode http\n timeout connect 2s\n timeout client 5s\n timeout server 5s\n\
frontend fe\n bind 127.0.0.1:0\n\
 http-request deny if {{ path_beg /admin }}\n\
 http-request deny deny_status 429 if {{ path_beg /slow }}\n\
 http-request return status 200 content-type text/plain string pong if {{ path /ping }}\n\
 http-request redirect location /new code 301 if {{ path /old }}\n\
 http-request redirect scheme https if {{ path /secure }}\n\
 http-request redirect prefix /v2 if {{ path_beg /v1 }}\n\
 http-request set-header X-Set yes\n\
 http-request add-header X-Added a\n\
 http-request del-header X-Remove\n\
 http-request replace-header X-Rep (.*)-old \\1-new\n\
 http-request set-path /echo if {{ path /setpath }}\n\
 http-request replace-path /rp/(.*) /echo/\\1\n\
 http-response set-header X-Resp r1\n\
 http-response del-header x-server\n\
 default_backend be\nbackend be\n server s1 {}\n",
        a.addr
    ));
    let f = fe(&p);
    assert_eq!(get(f, "/admin").unwrap().status, 403);
    assert_eq!(get(f, "/slow").unwrap().status, 429);
    let r = get(f, "/ping").unwrap();
    assert_eq!(
        (r.status, r.body_str().as_str(), r.header("content-type")),
        (200, "pong", Some("text/plain"))
    );
    let r = get(f, "/old").unwrap();
    assert_eq!((r.status, r.header("location")), (301, Some("/new")));
    let r = get(f, "/secure?a=1").unwrap();
    assert_eq!(
        (r.status, r.header("location")),
        (302, Some("https://test/secure?a=1"))
    );
    let r = get(f, "/v1/x").unwrap();
    assert_eq!(r.header("location"), Some("/v2/v1/x"));
    let r = raw(f, b"GET /setpath?q=1 HTTP/1.1\r\nHost: t\r\nX-Remove: 1\r\nX-Rep: v-old\r\nX-Set: no\r\nConnection: close\r\n\r\n").unwrap();
    let echoed = r.body_str().to_ascii_lowercase();
    assert!(echoed.starts_with("get /echo?q=1 http/1.1"), "{echoed}");
    assert!(
        echoed.contains("x-set: yes") && !echoed.contains("x-set: no"),
        "{echoed}"
    );
    assert!(echoed.contains("x-added: a"), "{echoed}");
    assert!(!echoed.contains("x-remove"), "{echoed}");
    assert!(echoed.contains("x-rep: v-new"), "{echoed}");
    assert_eq!(r.header("x-resp"), Some("r1"));
    assert_eq!(r.header("x-server"), None);
    let r = get(f, "/rp/abc").unwrap();
    assert!(
        r.body_str()
            .to_ascii_lowercase()
            .starts_with("get /echo/abc "),
        "{}",
        r.body_str()
    );
    // a denied request on a keep-alive connection leaves the connection usable
    let mut c = Client::connect(f);
    assert_eq!(c.get("/admin").unwrap().status, 403);
    assert_eq!(c.get("/ping").unwrap().status, 200);
    p.stop();
    p.wait();
}

#[test]
fn forwardfor_and_hop_by_hop() {
    let a = HttpBackend::start("s1");
    let p = start_proxy(&format!(
        "defaults\n mode http\n timeout connect 2s\n timeout client 5s\n timeout server 5s\n option forwardfor\n\
frontend fe\n bind 127.0.0.1:0\n default_backend be\nbackend be\n server s1 {}\n",
        a.addr
    ));
    let r = raw(fe(&p), b"GET /echo HTTP/1.1\r\nHost: t\r\nConnection: close, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: 5\r\n\r\n").unwrap();
    let e = r.body_str().to_ascii_lowercase();
    assert!(e.contains("x-forwarded-for: 127.0.0.1"), "{e}");
    assert!(!e.contains("x-hop"), "{e}");
    assert!(!e.contains("keep-alive: 5"), "{e}");
    p.stop();
    p.wait();
}

#[test]
fn cookie_insert_persistence() {
    let (a, b) = (HttpBackend::start("s1"), HttpBackend::start("s2"));
    let p = start_proxy(&format!(
        "defaults\n mode http\n timeout connect 2s\n timeout client 5s\n timeout server 5s\n\
frontend fe\n bind 127.0.0.1:0\n default_backend be\n\
backend be\n balance roundrobin\n cookie SRV insert indirect nocache\n server s1 {} cookie c1\n server s2 {} cookie c2\n",
        a.addr, b.addr
    ));
    let r = get(fe(&p), "/").unwrap();
    assert_eq!(r.server(), "s1");
    assert_eq!(r.header("set-cookie"), Some("SRV=c1; path=/"));
    assert_eq!(
        r.header("cache-control"),
        None,
        "not cacheable: nothing to mark private"
    );
    for _ in 0..3 {
        let r = raw(fe(&p), b"GET /echo HTTP/1.1\r\nHost: t\r\nCookie: SRV=c2; other=1\r\nConnection: close\r\n\r\n").unwrap();
        assert_eq!(r.server(), "s2");
        assert_eq!(r.header("set-cookie"), None);
        let e = r.body_str();
        assert!(
            e.contains("other=1") && !e.contains("SRV=c2"),
            "indirect: the server never sees the cookie: {e}"
        );
    }
    p.stop();
    p.wait();
}

#[test]
fn tcp_request_connection_reject() {
    let a = HttpBackend::start("s1");
    let p = start_proxy(&format!(
        "defaults\n mode http\n timeout connect 2s\n timeout client 5s\n timeout server 5s\n\
frontend fe\n bind 127.0.0.1:0\n tcp-request connection reject if {{ src 127.0.0.0/8 }}\n default_backend be\nbackend be\n server s1 {}\n",
        a.addr
    ));
    assert!(get(fe(&p), "/").is_none());
    assert_eq!(a.hits(), 0);
    p.stop();
    p.wait();
}

#[test]
fn errorfile_replaces_builtin_page() {
    let dir = tempdir("errorfile");
    let ef = dir.join("503.http");
    std::fs::write(&ef, "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: 4\r\n\r\nsorry").unwrap();
    let p = start_proxy(&format!(
        "defaults\n mode http\n timeout connect 2s\n timeout client 5s\n timeout server 5s\n errorfile 503 {}\n\
frontend fe\n bind 127.0.0.1:0\n default_backend be\nbackend be\n",
        ef.display()
    ));
    let r = get(fe(&p), "/").unwrap();
    assert_eq!(r.status, 503);
    assert_eq!(r.body_str(), "sorr");
    p.stop();
    p.wait();
}
