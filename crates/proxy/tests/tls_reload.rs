//! Certificates reload (SIGUSR2 to `dermaga-proxy`): new connections get the new certificate,
//! a connection opened before keeps working.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;

use support::pki::{s_client, Ca};
use support::*;

/// A keep-alive HTTPS client on rustls that trusts `ca`.
struct TlsClient {
    tls: rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
}

impl TlsClient {
    fn connect(addr: SocketAddr, ca: &std::path::Path, name: &str) -> TlsClient {
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls::pki_types::CertificateDer::pem_file_iter(ca).unwrap() {
            roots.add(c.unwrap()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let cfg = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let conn = rustls::ClientConnection::new(
            Arc::new(cfg),
            rustls::pki_types::ServerName::try_from(name.to_string()).unwrap(),
        )
        .unwrap();
        let sock = TcpStream::connect(addr).unwrap();
        sock.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        TlsClient {
            tls: rustls::StreamOwned::new(conn, sock),
        }
    }

    /// One GET; gives the response (head and the 2-byte body of the backend's name).
    fn get(&mut self) -> String {
        self.tls
            .write_all(b"GET / HTTP/1.1\r\nHost: site.test\r\n\r\n")
            .unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&got).ends_with("\r\n\r\ns1") {
            let n = self.tls.read(&mut buf).unwrap();
            assert!(n > 0, "closed after {:?}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&got).into_owned()
    }
}

fn served_cn(addr: SocketAddr) -> String {
    let (_, out) = s_client(addr, &["-servername", "site.test"]);
    out.lines()
        .find_map(|l| l.strip_prefix("subject=CN = "))
        .unwrap_or("none")
        .trim()
        .to_string()
}

#[test]
fn sigusr2_reloads_certificates_without_dropping_connections() {
    let dir = tempdir("tls-reload");
    let ca = Ca::new(&dir, "ca");
    let crt = ca.server(&dir, "site.pem", &["old.test", "site.test"], false);
    let be = HttpBackend::start("s1");
    let port = free_port();
    let cfg = format!(
        "global\n nbthread 1\ndefaults\n mode http\n timeout connect 1s\n timeout client 10s\n timeout server 10s\nfrontend fe\n bind 127.0.0.1:{port} ssl crt {}\n default_backend be\nbackend be\n server s1 {}\n",
        crt.display(),
        be.addr
    );
    let proc = spawn(DERMAGA, &cfg, "reload");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_port(addr);
    assert_eq!(served_cn(addr), "old.test");
    let mut before = TlsClient::connect(addr, &ca.path, "site.test");
    assert!(before.get().starts_with("HTTP/1.1 200"));

    // A new certificate in the same file, then SIGUSR2.
    ca.server(&dir, "site.pem", &["new.test", "site.test"], false);
    // SAFETY: kill(2) on the child this test started.
    assert_eq!(
        unsafe { libc::kill(proc.child.id() as i32, libc::SIGUSR2) },
        0
    );
    assert!(
        eventually(10, || served_cn(addr) == "new.test"),
        "still {}",
        served_cn(addr)
    );
    // The connection opened before the reload goes on.
    assert!(before.get().starts_with("HTTP/1.1 200"));

    // A configuration that no longer loads changes nothing.
    std::fs::write(&crt, "not a certificate").unwrap();
    // SAFETY: as above.
    assert_eq!(
        unsafe { libc::kill(proc.child.id() as i32, libc::SIGUSR2) },
        0
    );
    let mut after = TlsClient::connect(addr, &ca.path, "site.test");
    assert!(after.get().starts_with("HTTP/1.1 200"));
    assert_eq!(served_cn(addr), "new.test");
    drop(proc);
    let _ = std::fs::remove_dir_all(&dir);
}
