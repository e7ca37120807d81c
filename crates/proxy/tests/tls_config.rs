//! What loading says about TLS configurations: errors that name the file, version or cipher
//! (`-c` included), and warnings that name what rustls does not offer.

mod support;

use dermaga_proxy::config::{load_str, ProcessEnv, Severity};
use support::pki::{run, s_client, Ca};
use support::*;

const DEFAULTS: &str = "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n";

/// The messages of a load that must fail.
fn errors(text: &str) -> Vec<String> {
    load_str("t.cfg", text, &ProcessEnv)
        .map(|_| ())
        .unwrap_err()
        .iter()
        .filter(|d| d.severity == Severity::Alert)
        .map(|d| d.message.clone())
        .collect()
}

/// The warnings of a load that must succeed.
fn warnings(text: &str) -> Vec<String> {
    load_str("t.cfg", text, &ProcessEnv)
        .unwrap_or_else(|d| panic!("{:?}", d.iter().map(|d| &d.message).collect::<Vec<_>>()))
        .1
        .iter()
        .map(|d| d.message.clone())
        .collect()
}

#[test]
fn bind_errors_name_what_is_wrong() {
    let dir = tempdir("tlscfg-bind");
    let ca = Ca::new(&dir, "ca");
    let crt = ca.server(&dir, "site.pem", &["site.test"], false);
    let c = crt.display();
    let fe = |opts: &str| format!("{DEFAULTS}frontend fe\n    bind 127.0.0.1:8443 {opts}\n");
    let cases: Vec<(String, String)> = vec![
        (
            fe("ssl crt /nonexistent/site.pem"),
            "parsing [t.cfg:7] : 'bind 127.0.0.1:8443' : unable to stat SSL certificate from file '/nonexistent/site.pem' : No such file or directory.".into(),
        ),
        (
            fe(&format!("ssl crt {c} ssl-min-ver TLSv1.0")),
            "parsing [t.cfg:7] : 'bind 127.0.0.1:8443' : 'ssl-min-ver TLSv1.0' : dermaga cannot offer TLSv1.0; it speaks TLSv1.2 and TLSv1.3 only (use 'ssl-min-ver TLSv1.2').".into(),
        ),
        (
            fe(&format!("ssl crt {c} force-tlsv11")),
            "parsing [t.cfg:7] : 'bind 127.0.0.1:8443' : 'force-tlsv11' : dermaga cannot offer TLSv1.1; it speaks TLSv1.2 and TLSv1.3 only.".into(),
        ),
        (
            fe(&format!("ssl crt {c} ciphers DHE-RSA-AES128-SHA:AES128-SHA")),
            "parsing [t.cfg:7] : 'bind 127.0.0.1:8443' : 'ciphers' : none of the ciphers DHE-RSA-AES128-SHA, AES128-SHA is supported by dermaga (it offers ECDHE-ECDSA-AES128-GCM-SHA256, ECDHE-ECDSA-AES256-GCM-SHA384, ECDHE-ECDSA-CHACHA20-POLY1305, ECDHE-RSA-AES128-GCM-SHA256, ECDHE-RSA-AES256-GCM-SHA384, ECDHE-RSA-CHACHA20-POLY1305).".into(),
        ),
        (
            fe(&format!("ssl crt {c} curves brainpoolP256r1")),
            "parsing [t.cfg:7] : 'bind 127.0.0.1:8443' : 'curves' : none of the curves brainpoolP256r1 is supported by dermaga (it offers X25519, P-256, P-384).".into(),
        ),
        (
            fe("ssl"),
            "parsing [t.cfg:7] : 'bind 127.0.0.1:8443' : 'ssl' needs a certificate: 'crt FILE|DIR' or 'crt-list FILE'.".into(),
        ),
        (
            fe(&format!("ssl crt {c} verify required")),
            "parsing [t.cfg:7] : 'bind 127.0.0.1:8443' : verify is enabled but no CA file specified.".into(),
        ),
        (
            fe(&format!("ssl crt {c} verify sometimes ca-file {}", ca.path.display())),
            "parsing [t.cfg:7] : 'bind 127.0.0.1:8443' : 'verify' : unknown verify method 'sometimes', only 'none', 'optional', and 'required' are supported".into(),
        ),
        (
            fe(&format!("ssl crt {c} npn http/1.1")),
            "parsing [t.cfg:7] : 'bind 127.0.0.1:8443' : 'npn' is not supported by dermaga yet (these options are not implemented).".into(),
        ),
    ];
    for (text, want) in cases {
        let got = errors(&text);
        assert_eq!(got.first(), Some(&want), "all: {got:?}");
    }
    // A certificate whose key belongs to another one.
    let other = ca.server(&dir, "other.pem", &["other.test"], true);
    std::fs::write(
        dir.join("mixed.pem"),
        format!(
            "{}{}",
            std::fs::read_to_string(&crt)
                .unwrap()
                .split("-----BEGIN PRIVATE KEY-----")
                .next()
                .unwrap(),
            std::fs::read_to_string(format!("{}.key", other.display())).unwrap()
        ),
    )
    .unwrap();
    let got = errors(&fe(&format!("ssl crt {}", dir.join("mixed.pem").display())));
    assert!(
        got[0].contains("inconsistencies between private key and certificate"),
        "{got:?}"
    );
    // crt-list per-certificate options.
    let list = dir.join("list");
    std::fs::write(&list, format!("{c} [alpn h2] site.test\n")).unwrap();
    let got = errors(&fe(&format!("ssl crt-list {}", list.display())));
    assert!(
        got[0].ends_with(
            "line 1 : per-certificate options '[alpn h2]' are not supported by dermaga."
        ),
        "{got:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn server_errors_name_what_is_wrong() {
    let be = |opts: &str| format!("{DEFAULTS}backend be\n    server s1 127.0.0.1:8443 {opts}\n");
    let cases = [
        (
            be("ssl"),
            "[t.cfg:7] : 'server be/s1' : verify is enabled by default but no CA file specified.",
        ),
        (
            be("proto fcgi"),
            "[t.cfg:7] : 'server be/s1' : 'proto fcgi' is not supported by dermaga (only 'h1' and 'h2').",
        ),
        (
            be("check-proto"),
            "[t.cfg:7] : 'server be/s1' : 'check-proto' expects an argument.",
        ),
        (
            be("ssl verify none sni req.hdr(host)"),
            "'sni req.hdr(host)' : only a constant name, 'sni str(NAME)', is supported by dermaga.",
        ),
        (
            be("ssl verify none ssl-max-ver TLSv1.1"),
            "'ssl-max-ver TLSv1.1' : dermaga cannot offer TLSv1.1; it speaks TLSv1.2 and TLSv1.3 only.",
        ),
    ];
    for (text, want) in cases {
        let got = errors(&text);
        assert!(got[0].contains(want), "want {want}\ngot {got:?}");
    }
    // `ssl-server-verify none` makes `verify none` the default.
    let text = format!("global\n    ssl-server-verify none\n{}", be("ssl"));
    assert!(warnings(&text).is_empty());
    // HTTP/2 to servers is offered; what dermaga does not speak is named.
    assert!(warnings(&be("ssl verify none alpn h2,http/1.1")).is_empty());
    assert_eq!(
        warnings(&be("ssl verify none alpn h3,h2 check-alpn spdy/3,http/1.1")),
        [
            "parsing [t.cfg:7] : 'server be/s1' : 'alpn h3,h2' : dermaga speaks HTTP/1.1 and HTTP/2 to servers; h3 is not offered.",
            "parsing [t.cfg:7] : 'server be/s1' : 'check-alpn spdy/3,http/1.1' : dermaga speaks HTTP/1.1 and HTTP/2 to servers; spdy/3 is not offered."
        ]
    );
    // `proto h2` needs an HTTP backend, `check-proto h2` HTTP checks.
    let tcp = format!(
        "{DEFAULTS}backend be
    mode tcp
    server s1 127.0.0.1:8443 proto h2
"
    );
    assert!(
        errors(&tcp)[0].ends_with("'server be/s1' : 'proto h2' needs 'mode http' in backend 'be'."),
        "{:?}",
        errors(&tcp)
    );
    let chk = be("check check-proto h2");
    assert!(
        errors(&chk)[0].ends_with(
            "'server be/s1' : 'check-proto h2' needs HTTP checks ('option httpchk') in backend 'be'."
        ),
        "{:?}",
        errors(&chk)
    );
}

#[test]
fn debian_stock_cipher_lines_warn_once_and_offer_only_what_they_keep() {
    let dir = tempdir("tlscfg-debian");
    let ca = Ca::new(&dir, "ca");
    ca.server(&dir, "site.pem", &["site.test"], false);
    let b = HttpBackend::start("s1");
    // Debian's /etc/haproxy/haproxy.cfg lines, with crt-base where the certificate is.
    let text = format!(
        "global\n\
         \tca-base /etc/ssl/certs\n\
         \tcrt-base {}\n\
         \tssl-default-bind-ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384\n\
         \tssl-default-bind-ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256\n\
         \tssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets\n\
         {DEFAULTS}frontend fe\n    bind 127.0.0.1:0 ssl crt site.pem alpn h2,http/1.1\n    default_backend be\nbackend be\n    server s1 {}\n",
        dir.display(),
        b.addr
    );
    let text = with_ports(&text);
    let w = warnings(&text);
    // `alpn h2,http/1.1` is served as it is: only the DHE ciphers are named.
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0], "parsing [t.cfg:4] : 'ssl-default-bind-ciphers' : dermaga cannot offer the ciphers DHE-RSA-AES128-GCM-SHA256, DHE-RSA-AES256-GCM-SHA384; the others are used.");
    let p = start_proxy(&text);
    let addr = p.local_addrs("fe")[0];
    let (code, out) = s_client(addr, &["-tls1_2", "-cipher", "DHE-RSA-AES128-GCM-SHA256"]);
    assert_ne!(code, 0, "{out}");
    let (code, out) = s_client(
        addr,
        &["-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384"],
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("Cipher is ECDHE-ECDSA-AES256-GCM-SHA384"),
        "{out}"
    );
    // no-tls-tickets: no ticket in TLS 1.3 either.
    assert!(!out.contains("TLS session ticket:"), "{out}");
    p.stop();
    p.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_mode_reports_tls_errors_with_file_and_line() {
    let dir = tempdir("tlscfg-cli");
    let cfg = dir.join("h.cfg");
    std::fs::write(
        &cfg,
        format!(
            "{DEFAULTS}frontend fe\n    bind 127.0.0.1:8443 ssl crt {}/missing.pem\n",
            dir.display()
        ),
    )
    .unwrap();
    let (code, out, err) = run(DERMAGA, &["-c", "-f", cfg.to_str().unwrap()]);
    assert_ne!(code, 0, "{out}{err}");
    let want = format!(
        "parsing [{}:7] : 'bind 127.0.0.1:8443' : unable to stat SSL certificate from file '{}/missing.pem' : No such file or directory.",
        cfg.display(),
        dir.display()
    );
    assert!(err.contains(&want), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
