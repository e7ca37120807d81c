//! HTTPS against haproxy (/usr/sbin/haproxy, Debian's build with OpenSSL): the same
//! configuration, the same certificates and backends; what curl and openssl see must match.
//! And testssl.sh (Debian's) on a dermaga bind: no protocol or cipher the configuration did
//! not ask for.

mod support;

use std::net::SocketAddr;
use std::path::Path;

use support::pki::{curl, curl_response, run, s_client, Ca, TlsBackend};
use support::*;

/// One proxy run: the process and its plain and TLS ports.
struct Run {
    _proc: Proc,
    plain: SocketAddr,
    tls: SocketAddr,
}

fn start(program: &str, cfg: &str, tag: &str) -> Run {
    let (a, b) = (free_port(), free_port());
    let c = cfg
        .replace("{PLAIN}", &a.to_string())
        .replace("{TLS}", &b.to_string());
    let p = spawn(program, &c, tag);
    let plain: SocketAddr = format!("127.0.0.1:{a}").parse().unwrap();
    let tls: SocketAddr = format!("127.0.0.1:{b}").parse().unwrap();
    wait_port(plain);
    wait_port(tls);
    Run {
        _proc: p,
        plain,
        tls,
    }
}

/// What a client sees of one HTTPS request: status line, the headers that matter, body.
fn seen(ca: &Path, host: &str, addr: SocketAddr, path: &str, extra: &[&str]) -> String {
    let resolve = format!("{host}:{}:127.0.0.1", addr.port());
    let url = format!("https://{host}:{}{path}", addr.port());
    let mut args = vec![
        "-sS",
        "-i",
        "--max-time",
        "10",
        "--cacert",
        ca.to_str().unwrap(),
        "--resolve",
        resolve.as_str(),
    ];
    args.extend_from_slice(extra);
    args.push(url.as_str());
    let (code, out, _) = curl(&args);
    if code != 0 {
        return format!("curl exit {code}");
    }
    let (status, keep, body) = curl_response(
        &out,
        &["location", "strict-transport-security", "x-server", "x-sni"],
    );
    // The echoed request: only the headers the rules set (names lower-cased: haproxy 2.6
    // lower-cases the names it forwards, dermaga keeps them as written).
    let echoed: Vec<String> = body
        .lines()
        .filter(|l| l.to_ascii_lowercase().starts_with("x-"))
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap_or((l, ""));
            format!("{}:{}", n.to_ascii_lowercase(), v.trim_end())
        })
        .collect();
    format!("{status}\n{}\n{}", keep.join("\n"), echoed.join("\n"))
}

fn cn(addr: SocketAddr, sni: &str) -> String {
    let (_, out) = s_client(addr, &["-servername", sni]);
    out.lines()
        .find_map(|l| l.strip_prefix("subject=CN = "))
        .unwrap_or("none")
        .trim()
        .to_string()
}

#[test]
fn https_configuration_behaves_as_haproxy() {
    let dir = tempdir("tlsdiff");
    let ca = Ca::new(&dir, "ca");
    let client_ca = Ca::new(&dir, "clientca");
    ca.server(&dir, "default.pem", &["default.test"], false);
    ca.server(&dir, "a.pem", &["a.test"], true);
    ca.server(&dir, "w.pem", &["*.w.test"], false);
    let srv = ca.server(&dir, "srv.pem", &["srv.test"], false);
    let (cc, ck) = client_ca.client(&dir, "alice");
    let web = HttpBackend::start("web");
    let secure = TlsBackend::start("secure", &srv);
    // Debian's global TLS lines, SNI certificates, optional client certificates, the classic
    // redirect and HSTS, TLS to a server with verification and SNI.
    let cfg = format!(
        "global\n nbthread 1\n crt-base {d}\n ca-base {d}\n\
 ssl-default-bind-ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384\n\
 ssl-default-bind-ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256\n\
 ssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets\n\
defaults\n mode http\n timeout connect 1s\n timeout client 5s\n timeout server 5s\n\
frontend fe\n bind 127.0.0.1:{{PLAIN}}\n bind 127.0.0.1:{{TLS}} ssl crt default.pem crt a.pem crt w.pem verify optional ca-file clientca.pem\n\
 http-request redirect scheme https unless {{ ssl_fc }}\n\
 http-request set-header X-Forwarded-Proto https if {{ ssl_fc }}\n\
 http-request set-header X-SNI %[ssl_fc_sni]\n\
 http-request set-header X-Proto %[ssl_fc_protocol]\n\
 http-request set-header X-Client-Cert %[ssl_c_used]\n\
 http-response set-header Strict-Transport-Security \"max-age=63072000\"\n\
 use_backend secure if {{ path_beg /secure }}\n\
 default_backend web\n\
backend web\n server web {}\n\
backend secure\n server secure {} ssl verify required ca-file ca.pem sni str(srv.test)\n",
        web.addr,
        secure.addr,
        d = dir.display()
    );
    let hap = start(HAPROXY, &cfg, "hap-tls");
    let der = start(DERMAGA, &cfg, "der-tls");
    let cert = [
        "--cert",
        cc.to_str().unwrap(),
        "--key",
        ck.to_str().unwrap(),
    ];
    let cases: Vec<(&str, &str, Vec<&str>)> = vec![
        ("a.test", "/echo", vec![]),
        ("x.w.test", "/echo", vec!["--tlsv1.2", "--tls-max", "1.2"]),
        ("default.test", "/echo", cert.to_vec()),
        ("a.test", "/secure", vec![]),
        ("nosuch.w.test.example", "/", vec![]),
    ];
    for (host, path, extra) in &cases {
        let h = seen(&ca.path, host, hap.tls, path, extra);
        let d = seen(&ca.path, host, der.tls, path, extra);
        assert_eq!(d, h, "https://{host}{path} {extra:?}: dermaga vs haproxy");
        assert!(
            !h.starts_with("curl exit") || host.ends_with("example"),
            "{h}"
        );
    }
    for sni in ["a.test", "b.w.test", "a.b.w.test", "unknown.test"] {
        assert_eq!(cn(der.tls, sni), cn(hap.tls, sni), "certificate for {sni}");
    }
    // The plain port redirects both ways alike.
    let h = raw(hap.plain, b"GET /x?y HTTP/1.1\r\nHost: a.test\r\n\r\n").unwrap();
    let d = raw(der.plain, b"GET /x?y HTTP/1.1\r\nHost: a.test\r\n\r\n").unwrap();
    assert_eq!(
        (d.status, d.header("location")),
        (h.status, h.header("location"))
    );
    assert_eq!(h.header("location"), Some("https://a.test/x?y"));
    // Versions: TLS 1.1 refused by both, TLS 1.3 offered by both.
    for addr in [hap.tls, der.tls] {
        let (code, _) = s_client(addr, &["-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"]);
        assert_ne!(code, 0);
        let (code, out) = s_client(addr, &["-tls1_3", "-servername", "a.test"]);
        assert_eq!(code, 0, "{out}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn testssl_finds_only_what_the_configuration_asks_for() {
    let dir = tempdir("testssl");
    let ca = Ca::new(&dir, "ca");
    let crt = ca.server(&dir, "site.pem", &["site.test"], false);
    let cfg = format!(
        "global\n nbthread 1\n ssl-default-bind-options ssl-min-ver TLSv1.2\n\
defaults\n mode http\n timeout connect 1s\n timeout client 5s\n timeout server 5s\n\
frontend fe\n bind 127.0.0.1:{{PLAIN}}\n bind 127.0.0.1:{{TLS}} ssl crt {} ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:DHE-RSA-AES128-GCM-SHA256 ciphersuites TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256\n\
 http-request return status 200 content-type text/plain string ok\n",
        crt.display()
    );
    let der = start(DERMAGA, &cfg, "der-testssl");
    let csv = dir.join("testssl.csv");
    let target = der.tls.to_string();
    // Protocols, then each cipher (--fast: OpenSSL's list, not testssl's own sockets).
    let (code, out, err) = run(
        "testssl",
        &[
            "--quiet",
            "--color",
            "0",
            "--warnings",
            "off",
            "--openssl",
            "/usr/bin/openssl",
            "--fast",
            "-p",
            "-e",
            "--csvfile",
            csv.to_str().unwrap(),
            &target,
        ],
    );
    let text = std::fs::read_to_string(&csv)
        .unwrap_or_else(|e| panic!("testssl wrote no CSV ({e}), exit {code}:\n{out}\n{err}"));
    let mut protocols = Vec::new();
    let mut ciphers = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.trim_matches('"').split("\",\"").collect();
        let (id, finding) = (f[0], f.get(4).copied().unwrap_or(""));
        if ["SSLv2", "SSLv3", "TLS1", "TLS1_1", "TLS1_2", "TLS1_3"].contains(&id)
            && finding.starts_with("offered")
        {
            protocols.push(id.to_string());
        }
        if id.starts_with("cipher_x") {
            // The OpenSSL name is the second column of the finding.
            if let Some(name) = finding.split_whitespace().nth(1) {
                ciphers.push(name.to_string());
            }
        }
    }
    ciphers.sort();
    assert_eq!(protocols, ["TLS1_2", "TLS1_3"], "{text}");
    assert_eq!(
        ciphers,
        [
            "ECDHE-ECDSA-AES128-GCM-SHA256",
            "ECDHE-ECDSA-AES256-GCM-SHA384",
            "TLS_AES_256_GCM_SHA384",
            "TLS_CHACHA20_POLY1305_SHA256",
        ],
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
