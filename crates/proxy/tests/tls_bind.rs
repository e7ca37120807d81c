//! HTTPS on `bind ... ssl` with real clients (curl, openssl s_client) on loopback:
//! certificates by SNI, versions, ALPN, client certificates, the `ssl_*` fetches,
//! redirects to HTTPS and HSTS.

mod support;

use std::net::SocketAddr;
use std::path::Path;

use support::pki::{curl, s_client, Ca};
use support::*;

const DEFAULTS: &str = "defaults\n    mode http\n    timeout connect 2s\n    timeout client 10s\n    timeout server 10s\n\n";

fn fe_addr(p: &dermaga_proxy::Proxy, name: &str) -> SocketAddr {
    p.local_addrs(name)[0]
}

/// `curl` over HTTPS to `host` (resolved to `addr`), trusting `ca`; gives (exit, body,
/// response headers).
fn https_get(
    ca: &Path,
    host: &str,
    addr: SocketAddr,
    path: &str,
    extra: &[&str],
) -> (i32, String, String) {
    let resolve = format!("{host}:{}:127.0.0.1", addr.port());
    let url = format!("https://{host}:{}{path}", addr.port());
    let dir = tempdir("curl-hdrs");
    let hdrs = dir.join("h");
    let mut args = vec![
        "-sS",
        "--max-time",
        "10",
        "--cacert",
        ca.to_str().unwrap(),
        "--resolve",
        resolve.as_str(),
        "-D",
        hdrs.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    args.push(url.as_str());
    let (code, out, err) = curl(&args);
    let h = std::fs::read_to_string(&hdrs).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    (code, out, format!("{h}{err}"))
}

/// The subject CN of the certificate the server sends for `servername` (None: no SNI).
fn served_cn(addr: SocketAddr, servername: Option<&str>) -> String {
    let mut extra = vec![];
    match servername {
        Some(n) => {
            extra.push("-servername");
            extra.push(n);
        }
        None => extra.push("-noservername"),
    }
    let (_, out) = s_client(addr, &extra);
    out.lines()
        .find_map(|l| l.strip_prefix("subject=CN = "))
        .or_else(|| out.lines().find_map(|l| l.strip_prefix("subject=CN=")))
        .unwrap_or_else(|| panic!("no subject in s_client output:\n{out}"))
        .trim()
        .to_string()
}

#[test]
fn certificates_by_sni_exact_wildcard_and_default() {
    let dir = tempdir("tls-sni");
    let ca = Ca::new(&dir, "ca");
    let d = ca.server(&dir, "default.pem", &["default.test"], false);
    // The key of this one lives beside it, as haproxy also reads it.
    let a = ca.server(&dir, "a.pem", &["a.test"], true);
    let b = ca.server(&dir, "b.pem", &["b.test", "b2.test"], false);
    let w = ca.server(&dir, "w.pem", &["*.w.test"], false);
    let be = HttpBackend::start("s1");
    let cfg = format!(
        "{DEFAULTS}frontend fe\n    bind 127.0.0.1:0 ssl crt {} crt {} crt {} crt {}\n    default_backend be\nfrontend strict\n    bind 127.0.0.1:0 ssl crt {} crt {} strict-sni\n    default_backend be\nbackend be\n    server s1 {}\n",
        d.display(),
        a.display(),
        b.display(),
        w.display(),
        d.display(),
        a.display(),
        be.addr
    );
    let p = start_proxy(&cfg);
    let addr = fe_addr(&p, "fe");
    for host in ["a.test", "b.test", "b2.test", "x.w.test", "default.test"] {
        let (code, body, err) = https_get(&ca.path, host, addr, "/", &[]);
        assert_eq!(code, 0, "curl to {host}: {err}");
        assert_eq!(body, "s1", "{host}");
    }
    assert_eq!(served_cn(addr, Some("a.test")), "a.test");
    assert_eq!(served_cn(addr, Some("b2.test")), "b.test");
    assert_eq!(served_cn(addr, Some("deep.w.test")), "*.w.test");
    // A wildcard covers one label only; unknown names and no SNI get the first certificate.
    assert_eq!(served_cn(addr, Some("a.b.w.test")), "default.test");
    assert_eq!(served_cn(addr, Some("nosuch.test")), "default.test");
    assert_eq!(served_cn(addr, None), "default.test");
    // curl refuses the default certificate for a name it does not cover.
    let (code, _, _) = https_get(&ca.path, "nosuch.test", addr, "/", &[]);
    assert_ne!(code, 0);
    // strict-sni: no default certificate; an unknown name or no SNI ends the handshake.
    let strict = fe_addr(&p, "strict");
    assert_eq!(served_cn(strict, Some("a.test")), "a.test");
    for extra in [&["-servername", "nosuch.test"][..], &["-noservername"][..]] {
        let (code, out) = s_client(strict, extra);
        assert_ne!(code, 0, "{out}");
        assert!(out.contains("no peer certificate available"), "{out}");
    }
    p.stop();
    p.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ecdsa_and_rsa_certificates_for_one_name_follow_the_client() {
    let dir = tempdir("tls-dual");
    let ca = Ca::new(&dir, "ca");
    let ec = ca.server(&dir, "dual-ec.pem", &["dual.test"], false);
    let rsa = ca.server_rsa(&dir, "dual-rsa.pem", &["dual.test"]);
    let be = HttpBackend::start("s1");
    let cfg = format!(
        "{DEFAULTS}frontend fe\n    bind 127.0.0.1:0 ssl crt {} crt {}\n    default_backend be\nbackend be\n    server s1 {}\n",
        ec.display(),
        rsa.display(),
        be.addr
    );
    let p = start_proxy(&cfg);
    let addr = fe_addr(&p, "fe");
    let key_bits = |sigalgs: &str| {
        let (code, out) = s_client(addr, &["-servername", "dual.test", "-sigalgs", sigalgs]);
        assert_eq!(code, 0, "{out}");
        out.lines()
            .find_map(|l| l.strip_prefix("Server public key is "))
            .unwrap_or("none")
            .to_string()
    };
    assert_eq!(key_bits("ECDSA+SHA256"), "256 bit");
    assert_eq!(key_bits("rsa_pss_rsae_sha256"), "2048 bit");
    // A client that takes both gets the first one loaded.
    assert_eq!(key_bits("ECDSA+SHA256:rsa_pss_rsae_sha256"), "256 bit");
    let (code, body, err) = https_get(&ca.path, "dual.test", addr, "/", &[]);
    assert_eq!((code, body.as_str()), (0, "s1"), "{err}");
    p.stop();
    p.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn certificate_directory_and_crt_list_with_filters() {
    let dir = tempdir("tls-crtlist");
    let ca = Ca::new(&dir, "ca");
    let certs = dir.join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    ca.server(&certs, "10-one.pem", &["one.test"], false);
    ca.server(&certs, "20-two.pem", &["two.test"], true);
    let listed = ca.server(&dir, "listed.pem", &["listed.test", "other.test"], false);
    let list = dir.join("list.txt");
    std::fs::write(
        &list,
        format!(
            "# certificates\n{} [ ] listed.test alias.test !other.test\n",
            listed.display()
        ),
    )
    .unwrap();
    let be = HttpBackend::start("s1");
    let cfg = format!(
        "global\n    crt-base {}\n{DEFAULTS}frontend fe\n    bind 127.0.0.1:0 ssl crt certs crt-list {}\n    default_backend be\nbackend be\n    server s1 {}\n",
        dir.display(),
        list.display(),
        be.addr
    );
    let p = start_proxy(&cfg);
    let addr = fe_addr(&p, "fe");
    assert_eq!(served_cn(addr, Some("one.test")), "one.test");
    assert_eq!(served_cn(addr, Some("two.test")), "two.test");
    assert_eq!(served_cn(addr, Some("alias.test")), "listed.test");
    assert_eq!(served_cn(addr, Some("listed.test")), "listed.test");
    // Excluded by `!other.test`: the default (the directory's first file) answers.
    assert_eq!(served_cn(addr, Some("other.test")), "one.test");
    let (code, body, err) = https_get(&ca.path, "two.test", addr, "/", &[]);
    assert_eq!((code, body.as_str()), (0, "s1"), "{err}");
    p.stop();
    p.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn versions_and_alpn_with_openssl_s_client() {
    let dir = tempdir("tls-versions");
    let ca = Ca::new(&dir, "ca");
    let crt = ca.server(&dir, "site.pem", &["site.test"], false);
    let be = HttpBackend::start("s1");
    let text = format!(
        "{DEFAULTS}frontend fe\n    bind 127.0.0.1:0 ssl crt {c} alpn h2,http/1.1\n    default_backend be\nfrontend only13\n    bind 127.0.0.1:0 ssl crt {c} ssl-min-ver TLSv1.3\n    default_backend be\nbackend be\n    server s1 {}\n",
        be.addr,
        c = crt.display()
    );
    let (_, warnings) = dermaga_proxy::config::load_str(
        "t.cfg",
        &with_ports(&text),
        &dermaga_proxy::config::ProcessEnv,
    )
    .expect("loads");
    let w: Vec<String> = warnings.iter().map(|d| d.message.clone()).collect();
    // h2 is served now: nothing is dropped from the list.
    assert!(!w.iter().any(|m| m.contains("alpn")), "{w:?}");
    let p = start_proxy(&text);
    let addr = fe_addr(&p, "fe");
    let (code, out) = s_client(addr, &["-servername", "site.test", "-alpn", "h2,http/1.1"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("ALPN protocol: h2"), "{out}");
    let (code, out) = s_client(addr, &["-servername", "site.test", "-alpn", "http/1.1"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("ALPN protocol: http/1.1"), "{out}");
    let (_, out) = s_client(addr, &["-tls1_2"]);
    assert!(
        out.contains("New, TLSv1.2, Cipher is ECDHE-ECDSA-"),
        "{out}"
    );
    let (_, out) = s_client(addr, &["-tls1_3"]);
    assert!(out.contains("New, TLSv1.3, Cipher is TLS_"), "{out}");
    // TLS 1.1 is refused by the server (the client is allowed to try it).
    let (code, out) = s_client(addr, &["-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("Cipher is (NONE)"), "{out}");
    // rustls answers a ClientHello without TLS 1.2 or 1.3 with a handshake-failure alert.
    assert!(out.contains("alert handshake failure"), "{out}");
    // ssl-min-ver TLSv1.3 refuses TLS 1.2.
    let only13 = fe_addr(&p, "only13");
    let (code, out) = s_client(only13, &["-tls1_2"]);
    assert_ne!(code, 0, "{out}");
    let (code, out) = s_client(only13, &["-tls1_3"]);
    assert_eq!(code, 0, "{out}");
    p.stop();
    p.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn client_certificates_required_and_optional_with_ssl_c_fetches() {
    let dir = tempdir("tls-clientcert");
    let ca = Ca::new(&dir, "ca");
    let client_ca = Ca::new(&dir, "clientca");
    let other_ca = Ca::new(&dir, "otherca");
    let crt = ca.server(&dir, "site.pem", &["site.test"], false);
    let (cc, ck) = client_ca.client(&dir, "alice");
    let (oc, ok) = other_ca.client(&dir, "mallory");
    let be = HttpBackend::start("s1");
    let rules = "    http-request set-header X-Used %[ssl_c_used]\n    http-request set-header X-Verify %[ssl_c_verify]\n";
    let cfg = format!(
        "{DEFAULTS}frontend req\n    bind 127.0.0.1:0 ssl crt {c} verify required ca-file {ca}\n{rules}    default_backend be\nfrontend opt\n    bind 127.0.0.1:0 ssl crt {c} verify optional ca-file {ca}\n{rules}    http-request deny if !{{ ssl_c_used }} {{ path_beg /private }}\n    default_backend be\nbackend be\n    server s1 {}\n",
        be.addr,
        c = crt.display(),
        ca = client_ca.path.display()
    );
    let p = start_proxy(&cfg);
    let req = fe_addr(&p, "req");
    let opt = fe_addr(&p, "opt");
    let cert_args = [
        "--cert",
        cc.to_str().unwrap(),
        "--key",
        ck.to_str().unwrap(),
    ];
    let bad_args = [
        "--cert",
        oc.to_str().unwrap(),
        "--key",
        ok.to_str().unwrap(),
    ];

    // required: no certificate, or one from another CA, ends the handshake.
    let (code, _, _) = https_get(&ca.path, "site.test", req, "/echo", &[]);
    assert_ne!(code, 0);
    let (code, _, _) = https_get(&ca.path, "site.test", req, "/echo", &bad_args);
    assert_ne!(code, 0);
    let (code, body, err) = https_get(&ca.path, "site.test", req, "/echo", &cert_args);
    assert_eq!(code, 0, "{err}");
    assert!(body.contains("X-Used: 1\r\n"), "{body}");
    assert!(body.contains("X-Verify: 0\r\n"), "{body}");

    // optional: without a certificate the request goes on, and rules can tell.
    let (code, body, err) = https_get(&ca.path, "site.test", opt, "/echo", &[]);
    assert_eq!(code, 0, "{err}");
    assert!(body.contains("X-Used: 0\r\n"), "{body}");
    let (_, _, hdrs) = https_get(&ca.path, "site.test", opt, "/private", &[]);
    assert!(hdrs.starts_with("HTTP/1.1 403"), "{hdrs}");
    let (code, body, _) = https_get(&ca.path, "site.test", opt, "/private", &cert_args);
    assert_eq!((code, body.as_str()), (0, "s1"));
    p.stop();
    p.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn redirect_to_https_unless_ssl_fc_hsts_and_session_fetches() {
    let dir = tempdir("tls-redirect");
    let ca = Ca::new(&dir, "ca");
    let crt = ca.server(&dir, "site.pem", &["site.test"], false);
    let be = HttpBackend::start("s1");
    let cfg = format!(
        "{DEFAULTS}frontend fe\n    bind 127.0.0.1:0\n    bind 127.0.0.1:0 ssl crt {}\n    http-request redirect scheme https unless {{ ssl_fc }}\n    http-request set-header X-Forwarded-Proto https if {{ ssl_fc }}\n    http-request set-header X-SNI %[ssl_fc_sni]\n    http-request set-header X-Proto %[ssl_fc_protocol]\n    http-request set-header X-Cipher %[ssl_fc_cipher]\n    http-response set-header Strict-Transport-Security \"max-age=63072000\"\n    default_backend be\nbackend be\n    server s1 {}\n",
        crt.display(),
        be.addr
    );
    let p = start_proxy(&cfg);
    let addrs = p.local_addrs("fe");
    let (plain, tls) = (addrs[0], addrs[1]);
    let r = raw(plain, b"GET /a?b=c HTTP/1.1\r\nHost: site.test\r\n\r\n").expect("redirect");
    assert_eq!(r.status, 302);
    assert_eq!(r.header("location"), Some("https://site.test/a?b=c"));

    let (code, body, hdrs) = https_get(&ca.path, "site.test", tls, "/echo", &["--tlsv1.3"]);
    assert_eq!(code, 0, "{hdrs}");
    assert!(hdrs.starts_with("HTTP/1.1 200"), "{hdrs}");
    assert!(
        hdrs.to_ascii_lowercase()
            .contains("strict-transport-security: max-age=63072000"),
        "{hdrs}"
    );
    assert!(body.contains("X-Forwarded-Proto: https\r\n"), "{body}");
    assert!(body.contains("X-SNI: site.test\r\n"), "{body}");
    assert!(body.contains("X-Proto: TLSv1.3\r\n"), "{body}");
    assert!(body.contains("X-Cipher: TLS_AES_"), "{body}");
    p.stop();
    p.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn keep_alive_and_large_bodies_over_tls() {
    let dir = tempdir("tls-keepalive");
    let ca = Ca::new(&dir, "ca");
    let crt = ca.server(&dir, "site.pem", &["site.test"], false);
    let be = HttpBackend::start("s1");
    let cfg = format!(
        "{DEFAULTS}frontend fe\n    bind 127.0.0.1:0 ssl crt {}\n    default_backend be\nbackend be\n    server s1 {}\n",
        crt.display(),
        be.addr
    );
    let p = start_proxy(&cfg);
    let addr = fe_addr(&p, "fe");
    let resolve = format!("site.test:{}:127.0.0.1", addr.port());
    let small = format!("https://site.test:{}/", addr.port());
    let big = format!("https://site.test:{}/big", addr.port());
    // Several requests on one connection (curl reuses it), one of them 1 MiB.
    let (code, out, err) = curl(&[
        "-sS",
        "--max-time",
        "20",
        "--cacert",
        ca.path.to_str().unwrap(),
        "--resolve",
        &resolve,
        "-w",
        "|%{num_connects}|%{size_download}\n",
        &small,
        &big,
        &small,
    ]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out:.200}");
    assert!(lines[0].ends_with("s1|1|2"), "{:.100}", lines[0]);
    assert!(
        lines[1].ends_with("|0|1048576"),
        "{:.100}",
        &lines[1][lines[1].len() - 40..]
    );
    assert!(lines[2].ends_with("s1|0|2"), "{}", lines[2]);
    // A 1 MiB upload.
    let body = dir.join("body");
    std::fs::write(&body, vec![b'y'; 1 << 20]).unwrap();
    let at = format!("@{}", body.display());
    let echo = format!("https://site.test:{}/echo", addr.port());
    let (code, out, err) = curl(&[
        "-sS",
        "--max-time",
        "20",
        "--cacert",
        ca.path.to_str().unwrap(),
        "--resolve",
        &resolve,
        "--data-binary",
        &at,
        &echo,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.ends_with(&"y".repeat(1000)), "{}", out.len());
    assert!(out.len() > 1 << 20);
    p.stop();
    p.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn tcp_mode_terminates_tls_too() {
    let dir = tempdir("tls-tcpmode");
    let ca = Ca::new(&dir, "ca");
    let crt = ca.server(&dir, "site.pem", &["site.test"], false);
    let be = HttpBackend::start("s1");
    let cfg = format!(
        "defaults\n    mode tcp\n    timeout connect 2s\n    timeout client 10s\n    timeout server 10s\nfrontend fe\n    bind 127.0.0.1:0 ssl crt {}\n    default_backend be\nbackend be\n    server s1 {}\n",
        crt.display(),
        be.addr
    );
    let p = start_proxy(&cfg);
    let (code, body, err) = https_get(&ca.path, "site.test", fe_addr(&p, "fe"), "/", &[]);
    assert_eq!((code, body.as_str()), (0, "s1"), "{err}");
    p.stop();
    p.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

/// The part of a syslog line after its header, with digits runs replaced by `#`.
fn log_tail_shape(line: &str) -> String {
    let tail = line.split(": ").skip(1).collect::<Vec<_>>().join(": ");
    let mut out = String::new();
    let mut last_digit = false;
    for c in tail.trim_end().chars() {
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
    out
}

#[test]
fn failed_handshakes_are_logged_as_haproxy_logs_them() {
    use std::net::UdpSocket;
    let dir = tempdir("tls-hslog");
    let ca = Ca::new(&dir, "ca");
    let crt = ca.server(&dir, "site.pem", &["site.test"], false);
    let mut lines = Vec::new();
    for program in ["haproxy", "dermaga"] {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let port = free_port();
        let cfg = format!(
            "global\n nbthread 1\ndefaults\n mode http\n log 127.0.0.1:{} local0\n option httplog\n timeout connect 1s\n timeout client 5s\n timeout server 5s\nfrontend fe\n bind 127.0.0.1:{port} ssl crt {}\n http-request return status 200 content-type text/plain string ok\n",
            rx.local_addr().unwrap().port(),
            crt.display()
        );
        let bin = if program == "haproxy" {
            HAPROXY
        } else {
            DERMAGA
        };
        let _p = spawn(bin, &cfg, program);
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        wait_port(addr);
        let (code, _) = s_client(addr, &["-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"]);
        assert_ne!(code, 0);
        let mut buf = [0u8; 2048];
        let line = loop {
            let n = rx.recv(&mut buf).expect("a log line");
            let l = String::from_utf8_lossy(&buf[..n]).into_owned();
            if l.contains("SSL handshake failure") {
                break l;
            }
        };
        lines.push(log_tail_shape(&line));
    }
    assert_eq!(lines[1], lines[0], "dermaga vs haproxy");
    assert_eq!(
        lines[0],
        "#.#.#.#:# [#/Nov/#:#:#:#.#] fe/#: SSL handshake failure"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
