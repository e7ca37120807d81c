//! HTTP/2 against haproxy (/usr/sbin/haproxy 2.6): the same configuration with HTTP/2
//! servers (`proto h2`), HTTP/2 clients (curl --http2-prior-knowledge, nghttp) and HTTP/1.1
//! ones; status, the headers that matter, the body and which server answered must match.

mod support;

use std::net::SocketAddr;

use support::h2server::H2Backend;
use support::pki::{curl, curl_response, run};
use support::*;

fn start(program: &str, cfg: &str, tag: &str) -> (Proc, SocketAddr) {
    let port = free_port();
    let p = spawn(program, &cfg.replace("{PORT}", &port.to_string()), tag);
    let a: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_port(a);
    (p, a)
}

/// What a client sees of one request: status line, the headers that matter, the body, with
/// the proxy's port (which differs between the two) written `PORT`.
fn seen(addr: SocketAddr, http2: bool, path: &str, extra: &[&str]) -> String {
    let url = format!("http://{addr}{path}");
    let mut args = vec!["-sS", "-i", "--max-time", "10"];
    if http2 {
        args.push("--http2-prior-knowledge");
    }
    args.extend_from_slice(extra);
    args.push(&url);
    let (code, out, err) = curl(&args);
    if code != 0 {
        return format!("curl exit {code}: {err}");
    }
    let (status, keep, body) =
        curl_response(&out, &["location", "x-server", "x-resp", "content-type"]);
    format!("{status}\n{}\n{}", keep.join("\n"), body).replace(&addr.port().to_string(), "PORT")
}

#[test]
fn http2_to_http2_servers_behaves_as_haproxy() {
    let a = H2Backend::start("a", 100);
    let b = H2Backend::start("b", 100);
    let cfg = format!(
        "global\n nbthread 1\n\
defaults\n mode http\n timeout connect 2s\n timeout client 10s\n timeout server 10s\n\
frontend fe\n bind 127.0.0.1:{{PORT}}\n\
 http-request deny if {{ path_beg /deny }}\n\
 http-request redirect location /moved if {{ path /old }}\n\
 http-request set-header x-added yes\n\
 http-response set-header x-resp fe\n\
 use_backend bb if {{ path_beg /b }}\n\
 default_backend ba\n\
backend ba\n server a {a} proto h2\n\
backend bb\n balance roundrobin\n server a {a} proto h2\n server b {b} proto h2\n",
        a = a.addr,
        b = b.addr
    );
    let hap = start(HAPROXY, &cfg, "h2diff-hap");
    let der = start(DERMAGA, &cfg, "h2diff-der");
    let cases: Vec<(&str, &[&str])> = vec![
        ("/x", &[]),
        ("/hdrs", &["-H", "x-client: c1"]),
        ("/deny/this", &[]),
        ("/old", &[]),
        ("/b/1", &[]),
        ("/b/2", &[]),
        ("/b/3", &[]),
        ("/empty", &[]),
        ("/trailers", &[]),
        ("/echo", &["--data-binary", "hello body"]),
        ("/hdrs?q=1", &["-X", "PUT", "--data-binary", "put body"]),
    ];
    for http2 in [true, false] {
        for (path, extra) in &cases {
            let h = seen(hap.1, http2, path, extra);
            let d = seen(der.1, http2, path, extra);
            assert_eq!(d, h, "{path} (HTTP/2 client: {http2}): dermaga vs haproxy");
        }
    }
    // nghttp, many streams on one client connection: every one answered, by the server
    // haproxy's balancing picks too.
    let count = |addr: SocketAddr| {
        let url = format!("http://{addr}/b/n");
        let (code, out, err) = run("nghttp", &["-n", "-s", "-m", "20", "-t", "10", &url]);
        assert_eq!(code, 0, "{err}{out}");
        out.lines().filter(|l| l.contains("/b/n")).count()
    };
    assert_eq!(count(der.1), count(hap.1));
}
