//! Certificates made by the tests (rcgen): a CA, server certificates for given names, client
//! certificates, written as PEM files; and a small HTTPS backend on rustls.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};

/// A certificate authority that signs the tests' certificates.
pub struct Ca {
    pub cert: rcgen::Certificate,
    pub key: KeyPair,
    /// `ca.pem` in the directory it was made in.
    pub path: PathBuf,
}

impl Ca {
    pub fn new(dir: &Path, name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name = dn(name);
        let cert = p.self_signed(&key).unwrap();
        let path = dir.join(format!("{name}.pem"));
        std::fs::write(&path, cert.pem()).unwrap();
        Ca { cert, key, path }
    }

    /// A server certificate for `names` (first one also as CN), ECDSA P-256, written as one
    /// bundle `FILE` (certificate then key) unless `key_beside`, which writes `FILE.key`.
    pub fn server(&self, dir: &Path, file: &str, names: &[&str], key_beside: bool) -> PathBuf {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap();
        p.distinguished_name = dn(names[0]);
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = p.signed_by(&key, &self.cert, &self.key).unwrap();
        let path = dir.join(file);
        if key_beside {
            std::fs::write(&path, cert.pem()).unwrap();
            std::fs::write(dir.join(format!("{file}.key")), key.serialize_pem()).unwrap();
        } else {
            std::fs::write(&path, format!("{}{}", cert.pem(), key.serialize_pem())).unwrap();
        }
        path
    }

    /// An RSA-2048 server certificate for `names`, made by the openssl command (rcgen's ring
    /// backend cannot make RSA keys), as one bundle `FILE` with a PKCS#1 key
    /// (`BEGIN RSA PRIVATE KEY`, as older tools write them).
    pub fn server_rsa(&self, dir: &Path, file: &str, names: &[&str]) -> PathBuf {
        let ca_key = dir.join(format!("{file}.ca-key"));
        let ca_crt = dir.join(format!("{file}.ca-crt"));
        std::fs::write(&ca_key, self.key.serialize_pem()).unwrap();
        std::fs::write(&ca_crt, self.cert.pem()).unwrap();
        let key = dir.join(format!("{file}.tmpkey"));
        let csr = dir.join(format!("{file}.csr"));
        let crt = dir.join(format!("{file}.crt"));
        let ext = dir.join(format!("{file}.ext"));
        let sans: Vec<String> = names.iter().map(|n| format!("DNS:{n}")).collect();
        std::fs::write(
            &ext,
            format!(
                "subjectAltName={}\nextendedKeyUsage=serverAuth\n",
                sans.join(",")
            ),
        )
        .unwrap();
        let p = |x: &PathBuf| x.to_str().unwrap().to_string();
        let subj = format!("/CN={}", names[0]);
        for args in [
            vec!["genrsa", "-traditional", "-out", &p(&key), "2048"],
            vec![
                "req",
                "-new",
                "-key",
                &p(&key),
                "-subj",
                &subj,
                "-out",
                &p(&csr),
            ],
            vec![
                "x509",
                "-req",
                "-in",
                &p(&csr),
                "-CA",
                &p(&ca_crt),
                "-CAkey",
                &p(&ca_key),
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                &p(&ext),
                "-out",
                &p(&crt),
            ],
        ] {
            let (code, _, err) = run("openssl", &args);
            assert_eq!(code, 0, "openssl {args:?}: {err}");
        }
        let path = dir.join(file);
        std::fs::write(
            &path,
            format!(
                "{}{}",
                std::fs::read_to_string(&crt).unwrap(),
                std::fs::read_to_string(&key).unwrap()
            ),
        )
        .unwrap();
        path
    }

    /// A client certificate: (certificate file, key file).
    pub fn client(&self, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name = dn(name);
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let cert = p.signed_by(&key, &self.cert, &self.key).unwrap();
        let c = dir.join(format!("{name}.crt"));
        let k = dir.join(format!("{name}.key"));
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        (c, k)
    }
}

fn dn(cn: &str) -> DistinguishedName {
    let mut d = DistinguishedName::new();
    d.push(DnType::CommonName, cn);
    d
}

/// An HTTPS/1.1 backend on rustls: answers `200` with `x-server: NAME` and
/// `x-sni: NAME-SENT` (or `-`), body NAME; keeps connections alive.
pub struct TlsBackend {
    pub addr: SocketAddr,
    pub name: String,
    pub hits: Arc<AtomicUsize>,
    /// The SNI of each handshake, in order (`-` without SNI).
    pub snis: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl TlsBackend {
    /// Serves `bundle` (certificate and key in one PEM file).
    pub fn start(name: &str, bundle: &Path) -> TlsBackend {
        Self::start_at(name, bundle, "127.0.0.1:0".parse().unwrap())
    }

    /// Serves `bundle` on `addr` (waiting a little for a previous listener to let it go).
    pub fn start_at(name: &str, bundle: &Path, addr: SocketAddr) -> TlsBackend {
        use rustls::pki_types::pem::PemObject;
        let pem = std::fs::read(bundle).unwrap();
        let certs: Vec<_> = rustls::pki_types::CertificateDer::pem_slice_iter(&pem)
            .map(|c| c.unwrap())
            .collect();
        let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(&pem).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        let cfg = Arc::new(cfg);
        let mut tries = 0;
        let l = loop {
            match TcpListener::bind(addr) {
                Ok(l) => break l,
                Err(e) if tries < 100 => {
                    let _ = e;
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("bind {addr}: {e}"),
            }
        };
        let addr = l.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let snis = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (n, h, s, st) = (name.to_string(), hits.clone(), snis.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in l.incoming() {
                if st.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (cfg, n, h, s) = (cfg.clone(), n.clone(), h.clone(), s.clone());
                std::thread::spawn(move || serve_tls(conn, cfg, &n, &h, &s));
            }
        });
        TlsBackend {
            addr,
            name: name.to_string(),
            hits,
            snis,
            stop,
        }
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = std::net::TcpStream::connect(self.addr);
    }
}

impl Drop for TlsBackend {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve_tls(
    sock: std::net::TcpStream,
    cfg: Arc<rustls::ServerConfig>,
    name: &str,
    hits: &AtomicUsize,
    snis: &Mutex<Vec<String>>,
) {
    let _ = sock.set_read_timeout(Some(Duration::from_secs(10)));
    let Ok(conn) = rustls::ServerConnection::new(cfg) else {
        return;
    };
    let mut tls = rustls::StreamOwned::new(conn, sock);
    // Finish the handshake before anything, to record the SNI.
    while tls.conn.is_handshaking() {
        if tls.conn.complete_io(&mut tls.sock).is_err() {
            return;
        }
    }
    let sni = tls.conn.server_name().unwrap_or("-").to_string();
    snis.lock().unwrap().push(sni.clone());
    let mut r = BufReader::new(tls);
    loop {
        let mut head = String::new();
        loop {
            let mut line = String::new();
            match r.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        hits.fetch_add(1, Ordering::Relaxed);
        let resp = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nx-server: {name}\r\nx-sni: {sni}\r\n\r\n{name}",
            name.len()
        );
        let w = r.get_mut();
        if w.write_all(resp.as_bytes()).is_err() || w.flush().is_err() {
            return;
        }
    }
}

/// Runs `curl ARGS` and gives (exit code, standard output, standard error).
pub fn curl(args: &[&str]) -> (i32, String, String) {
    run("curl", args)
}

/// Splits the output of `curl -i` into its status line, the headers named in `keep` (as
/// `name: value`, names lower-cased, sorted) and the body.
pub fn curl_response<'a>(out: &'a str, keep: &[&str]) -> (String, Vec<String>, &'a str) {
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((out, ""));
    let mut lines = head.lines();
    let status = lines.next().unwrap_or("").trim().to_string();
    let mut kept: Vec<String> = lines
        .filter_map(|l| {
            let (n, v) = l.split_once(':')?;
            let n = n.trim().to_ascii_lowercase();
            keep.contains(&n.as_str())
                .then(|| format!("{n}: {}", v.trim()))
        })
        .collect();
    kept.sort();
    (status, kept, body)
}

/// Runs a program and gives (exit code, standard output, standard error).
pub fn run(program: &str, args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!("{program} cannot run ({e}): install it (scripts/test.sh does)")
        });
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `openssl s_client` against `addr` with extra arguments; gives its whole output (standard
/// output and error) and exit code. Sends no data and closes at once.
pub fn s_client(addr: SocketAddr, extra: &[&str]) -> (i32, String) {
    let connect = addr.to_string();
    let mut args = vec!["s_client", "-connect", connect.as_str()];
    args.extend_from_slice(extra);
    let out = std::process::Command::new("openssl")
        .args(&args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("openssl cannot run: install it (scripts/test.sh does)");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}
