//! gRPC end to end through dermaga, HTTP/2 on both sides, with real gRPC peers (Debian's
//! python3-grpcio as client and server, `tests/support/grpc_peer.py`): unary and streaming
//! calls (bidirectional ones in ping-pong too), large messages, and error statuses in
//! trailers, in cleartext (prior knowledge,
//! `proto h2`) and over TLS (`bind ... ssl alpn h2`, `server ... ssl alpn h2`).

mod support;

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use support::pki::{run, Ca};
use support::*;

const PYTHON: &str = "/usr/bin/python3";
const DEFAULTS: &str = "defaults\n    mode http\n    timeout connect 2s\n    timeout client 20s\n    timeout server 20s\n\n";

/// What the client prints when every call went as the server meant it to.
const EXPECTED: &str = "unary echo:hi\n\
unary-big 300005\n\
unary-fail PERMISSION_DENIED no entry\n\
server-stream item0 item1 item2\n\
server-stream-fail one two RESOURCE_EXHAUSTED enough\n\
client-stream a+b+c\n\
bidi X Y Z\n\
bidi-pingpong A AB ABB ABBB\n";

fn peer_script() -> String {
    format!("{}/tests/support/grpc_peer.py", env!("CARGO_MANIFEST_DIR"))
}

/// The gRPC server, killed when dropped.
struct GrpcServer {
    child: Child,
    port: u16,
}

impl GrpcServer {
    /// Starts it (over TLS with `cert` and `key`) and waits for the port it prints.
    fn start(tls: Option<(&Path, &Path)>) -> GrpcServer {
        let mut cmd = Command::new(PYTHON);
        cmd.arg(peer_script()).arg("server");
        if let Some((c, k)) = tls {
            cmd.arg(c).arg(k);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("{PYTHON} cannot run ({e}): install python3-grpcio (scripts/test.sh does)")
            });
        let mut line = String::new();
        let _ = BufReader::new(child.stdout.take().unwrap()).read_line(&mut line);
        let port = line
            .strip_prefix("port ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| {
                let _ = child.kill();
                let mut err = String::new();
                let _ = child.stderr.take().unwrap().read_to_string(&mut err);
                panic!("the gRPC server did not start (python3-grpcio missing?): {line}{err}")
            });
        GrpcServer { child, port }
    }
}

impl Drop for GrpcServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client(args: &[&str]) -> String {
    let script = peer_script();
    let mut all = vec![script.as_str(), "client"];
    all.extend_from_slice(args);
    let (code, out, err) = run(PYTHON, &all);
    assert_eq!(code, 0, "gRPC client failed:\n{out}{err}");
    out
}

#[test]
fn grpc_over_cleartext_http2_end_to_end() {
    let g = GrpcServer::start(None);
    // Directly first: the reference for what dermaga must not change.
    assert_eq!(client(&[&format!("127.0.0.1:{}", g.port)]), EXPECTED);
    let p = start_proxy(&format!(
        "{DEFAULTS}frontend fe\n    bind 127.0.0.1:0\n    default_backend be\nbackend be\n    server g 127.0.0.1:{} proto h2\n",
        g.port
    ));
    let addr: SocketAddr = p.local_addrs("fe")[0];
    assert_eq!(client(&[&addr.to_string()]), EXPECTED);
}

#[test]
fn grpc_over_tls_end_to_end() {
    let dir = tempdir("grpc-tls");
    let ca = Ca::new(&dir, "ca");
    let front = ca.server(&dir, "front.pem", &["site.test"], false);
    let back = ca.server(&dir, "back.pem", &["back.test"], true);
    let back_key = dir.join("back.pem.key");
    let g = GrpcServer::start(Some((&back, &back_key)));
    let p = start_proxy(&format!(
        "{DEFAULTS}frontend fe\n    bind 127.0.0.1:0 ssl crt {} alpn h2\n    default_backend be\nbackend be\n    server g 127.0.0.1:{} ssl verify none alpn h2\n",
        front.display(),
        g.port
    ));
    let addr: SocketAddr = p.local_addrs("fe")[0];
    let ca_path = ca.path.to_str().unwrap();
    assert_eq!(client(&[&addr.to_string(), ca_path, "site.test"]), EXPECTED);
    let _ = std::fs::remove_dir_all(&dir);
}
