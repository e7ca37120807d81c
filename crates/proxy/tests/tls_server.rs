//! TLS to servers (`server ... ssl`) and health checks over TLS (`check-ssl`), against an
//! HTTPS backend on loopback.

mod support;

use std::net::SocketAddr;

use support::pki::{Ca, TlsBackend};
use support::*;

const DEFAULTS: &str = "defaults\n    mode http\n    timeout connect 2s\n    timeout client 10s\n    timeout server 10s\n\n";

fn fe(p: &dermaga_proxy::Proxy) -> SocketAddr {
    p.local_addrs("fe")[0]
}

#[test]
fn ssl_verify_none_reaches_a_self_signed_server() {
    let dir = tempdir("srv-none");
    let ca = Ca::new(&dir, "ca");
    let bundle = ca.server(&dir, "srv.pem", &["srv.test"], false);
    let be = TlsBackend::start("t1", &bundle);
    let cfg = format!(
        "{DEFAULTS}frontend fe\n    bind 127.0.0.1:0\n    default_backend be\nbackend be\n    server t1 {} ssl verify none\n",
        be.addr
    );
    let p = start_proxy(&cfg);
    let mut c = Client::connect(fe(&p));
    for _ in 0..3 {
        let r = c.get("/").expect("response");
        assert_eq!((r.status, r.server()), (200, "t1".to_string()));
        // No `sni`: nothing is sent, as haproxy does.
        assert_eq!(r.header("x-sni"), Some("-"));
    }
    // Keep-alive to the server: one handshake for the three requests.
    assert_eq!(be.snis.lock().unwrap().len(), 1);
    p.stop();
    p.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ssl_verify_required_with_ca_file_and_sni() {
    let dir = tempdir("srv-required");
    let ca = Ca::new(&dir, "ca");
    let other = Ca::new(&dir, "other");
    let bundle = ca.server(&dir, "srv.pem", &["srv.test"], false);
    let be = TlsBackend::start("t1", &bundle);
    let cfg = format!(
        "global\n    ca-base {d}\n{DEFAULTS}frontend fe\n    bind 127.0.0.1:0\n    use_backend wrongca if {{ path_beg /wrongca }}\n    use_backend wrongname if {{ path_beg /wrongname }}\n    use_backend nosni if {{ path_beg /nosni }}\n    use_backend host if {{ path_beg /host }}\n    use_backend badhost if {{ path_beg /badhost }}\n    default_backend good\n\
backend host\n    server t1 {a} ssl verify required ca-file ca.pem verifyhost srv.test\n\
backend badhost\n    server t1 {a} ssl verify required ca-file ca.pem verifyhost other.test\n\
backend good\n    server t1 {a} ssl verify required ca-file ca.pem sni str(srv.test)\n\
backend wrongca\n    server t1 {a} ssl verify required ca-file {o} sni str(srv.test)\n\
backend wrongname\n    server t1 {a} ssl verify required ca-file ca.pem sni str(other.test)\n\
backend nosni\n    server t1 {a} ssl ca-file ca.pem\n",
        d = dir.display(),
        a = be.addr,
        o = other.path.display()
    );
    let p = start_proxy(&cfg);
    let r = get(fe(&p), "/").expect("response");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-sni"), Some("srv.test"));
    // A certificate from another CA, or for another name, is refused.
    assert_eq!(get(fe(&p), "/wrongca").unwrap().status, 503);
    assert_eq!(get(fe(&p), "/wrongname").unwrap().status, 503);
    // verify required by default; without `sni` only the chain is verified (as haproxy).
    let r = get(fe(&p), "/nosni").expect("response");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-sni"), Some("-"));
    // verifyhost checks the name without sending it.
    let r = get(fe(&p), "/host").expect("response");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-sni"), Some("-"));
    assert_eq!(get(fe(&p), "/badhost").unwrap().status, 503);
    p.stop();
    p.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_ssl_marks_servers_down_and_up() {
    let dir = tempdir("srv-checkssl");
    let ca = Ca::new(&dir, "ca");
    let bundle = ca.server(&dir, "srv.pem", &["srv.test"], false);
    let tls = TlsBackend::start("t1", &bundle);
    let t1_addr = tls.addr;
    // A plain HTTP server: a TLS health check fails its handshake (layer 6).
    let plain = HttpBackend::start("p1");
    // A plain server checked over TLS on another port (`check-ssl` with `port`).
    let checked_elsewhere = HttpBackend::start("e1");
    let cfg = format!(
        "{DEFAULTS}frontend fe\n    bind 127.0.0.1:0\n    default_backend be\nbackend be\n    option httpchk GET /\n    default-server inter 100ms rise 1 fall 1 ssl verify none\n    server t1 {} check check-sni chk.test\n    server p1 {} check\n    server e1 {} no-ssl check check-ssl port {}\n",
        t1_addr,
        plain.addr,
        checked_elsewhere.addr,
        t1_addr.port()
    );
    let p = start_proxy(&cfg);
    let h = p.handle();
    let state = |s: &str| {
        h.server_states("be")
            .unwrap()
            .into_iter()
            .find(|(n, _)| n == s)
            .unwrap()
            .1
    };
    assert!(
        eventually(10, || state("t1").starts_with("UP")
            && state("p1").starts_with("DOWN")
            && state("e1").starts_with("UP")),
        "t1 {} p1 {} e1 {}",
        state("t1"),
        state("p1"),
        state("e1")
    );
    // t1's checks sent the SNI `check-sni` names.
    assert!(
        tls.snis.lock().unwrap().iter().any(|n| n == "chk.test"),
        "{:?}",
        tls.snis.lock().unwrap()
    );
    // Traffic goes to the two that are up: t1 over TLS, e1 in plain HTTP.
    let mut seen: Vec<String> = (0..4).map(|_| get(fe(&p), "/").unwrap().server()).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen, ["e1", "t1"]);
    // The TLS server goes away: both servers checked on its port go down...
    drop(tls);
    assert!(
        eventually(10, || state("t1").starts_with("DOWN")
            && state("e1").starts_with("DOWN")),
        "t1 {} e1 {}",
        state("t1"),
        state("e1")
    );
    // ...and up again when it is back.
    let tls = TlsBackend::start_at("t1", &bundle, t1_addr);
    assert!(
        eventually(10, || state("t1").starts_with("UP")
            && state("e1").starts_with("UP")),
        "t1 {} e1 {}",
        state("t1"),
        state("e1")
    );
    // Servers added at run time take default-server's TLS settings.
    let tls2 = TlsBackend::start("t2", &bundle);
    h.add_server("be", "t2", tls2.addr, 1).unwrap();
    h.set_server_state("be", "t1", dermaga_proxy::AdminState::Maint)
        .unwrap();
    h.set_server_state("be", "e1", dermaga_proxy::AdminState::Maint)
        .unwrap();
    let r = get(fe(&p), "/").expect("response");
    assert_eq!((r.status, r.server()), (200, "t2".to_string()));
    drop(tls);
    p.stop();
    p.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn client_certificate_to_a_server_that_requires_one() {
    let dir = tempdir("srv-clientcert");
    let ca = Ca::new(&dir, "ca");
    let client_ca = Ca::new(&dir, "clientca");
    let site = ca.server(&dir, "site.pem", &["site.test"], false);
    let (cc, ck) = client_ca.client(&dir, "proxy");
    // The client certificate as one bundle, and as a certificate with its key beside it.
    let bundle = dir.join("proxy-bundle.pem");
    std::fs::write(
        &bundle,
        format!(
            "{}{}",
            std::fs::read_to_string(&cc).unwrap(),
            std::fs::read_to_string(&ck).unwrap()
        ),
    )
    .unwrap();
    let be = HttpBackend::start("s1");
    // One proxy plays both parts: `inner` terminates TLS and requires a client certificate;
    // `fe` forwards to it over TLS with or without one.
    let inner = free_port();
    let cfg = format!(
        "{DEFAULTS}frontend fe\n    bind 127.0.0.1:0\n    use_backend nocert if {{ path_beg /nocert }}\n    default_backend withcert\n\
backend withcert\n    server in 127.0.0.1:{inner} ssl verify required ca-file {ca} sni str(site.test) crt {bundle}\n\
backend nocert\n    server in 127.0.0.1:{inner} ssl verify required ca-file {ca} sni str(site.test)\n\
frontend inner\n    bind 127.0.0.1:{inner} ssl crt {site} verify required ca-file {cca}\n    http-request set-header X-Client-Cert %[ssl_c_used]\n    default_backend be\n\
backend be\n    server s1 {}\n",
        be.addr,
        ca = ca.path.display(),
        bundle = bundle.display(),
        site = site.display(),
        cca = client_ca.path.display(),
    );
    let p = start_proxy(&cfg);
    let r = get(fe(&p), "/echo").expect("response");
    assert_eq!(r.status, 200);
    assert!(
        r.body_str().contains("X-Client-Cert: 1\r\n"),
        "{}",
        r.body_str()
    );
    // Without one, the TLS 1.3 handshake completes on the client side before the server
    // refuses it, so the refusal comes as the answer to the request: 502.
    assert_eq!(get(fe(&p), "/nocert").unwrap().status, 502);
    p.stop();
    p.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
