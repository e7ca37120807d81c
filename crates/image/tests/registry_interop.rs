//! The registry client against real peers: Debian's docker-registry on 127.0.0.1 (plain HTTP,
//! reached with `--tls-verify=false` as podman does) and skopeo as the second client.

mod common;

use std::sync::{Arc, Mutex};

use dermaga_image::registry::{self, Credentials, Platform, RegistryOptions};
use dermaga_image::{ArchiveFormat, ImageStore, ImportOptions};

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const DOCKER_REGISTRY: &str = "/usr/bin/docker-registry";
const SKOPEO: &str = "/usr/bin/skopeo";

/// A running docker-registry, stopped on drop.
pub struct Registry {
    child: Child,
    pub addr: String,
    pub dir: PathBuf,
}

impl Registry {
    /// Starts a registry with plain HTTP and no auth.
    pub fn start(dir: &Path) -> Registry {
        Self::start_with(dir, "")
    }

    /// Starts a registry; `extra` is appended to its config (an `auth:` section).
    pub fn start_with(dir: &Path, extra: &str) -> Registry {
        assert!(
            Path::new(DOCKER_REGISTRY).exists(),
            "{DOCKER_REGISTRY} is missing: install Debian's docker-registry (scripts/test.sh does)"
        );
        let dir = dir.join("registry");
        std::fs::create_dir_all(dir.join("storage")).unwrap();
        let port = dermaga_test_ports::port();
        let addr = format!("127.0.0.1:{port}");
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n{extra}",
            dir.join("storage").display()
        );
        let conf_path = dir.join("config.yml");
        std::fs::write(&conf_path, config).unwrap();
        let log = std::fs::File::create(dir.join("registry.log")).unwrap();
        let child = Command::new(DOCKER_REGISTRY)
            .arg("serve")
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("starting docker-registry");
        let mut reg = Registry { child, addr, dir };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if TcpStream::connect(&reg.addr).is_ok() {
                break;
            }
            if let Ok(Some(st)) = reg.child.try_wait() {
                panic!(
                    "docker-registry exited ({st}): {}",
                    std::fs::read_to_string(reg.dir.join("registry.log")).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "docker-registry did not listen on {}",
                reg.addr
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        reg
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("registry.log")).unwrap_or_default()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs skopeo with `args`; panics with its output on failure; returns stdout.
pub fn skopeo(args: &[&str]) -> String {
    assert!(
        Path::new(SKOPEO).exists(),
        "{SKOPEO} is missing: install skopeo (scripts/test.sh does)"
    );
    let out = Command::new(SKOPEO)
        .args(args)
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .output()
        .expect("running skopeo");
    assert!(
        out.status.success(),
        "skopeo {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Options for a loopback registry over plain HTTP; progress lines collected.
fn insecure(dir: &Path) -> (RegistryOptions, Arc<Mutex<Vec<String>>>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    let opts = RegistryOptions {
        tls_verify: Some(false),
        authfile: Some(dir.join("auth.json")),
        registries_conf: Some(empty_conf(dir)),
        progress: Some(Arc::new(move |l: &str| {
            sink.lock().unwrap().push(l.to_string())
        })),
        ..Default::default()
    };
    (opts, lines)
}

fn empty_conf(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("registries.conf");
    if !p.exists() {
        std::fs::write(&p, "").unwrap();
    }
    p
}

/// A store holding a busybox image named `localhost/busybox:latest`; returns it and the id.
fn busybox_store(dir: &Path) -> (ImageStore, String) {
    let store = ImageStore::open(&dir.join("root")).unwrap();
    let tarball = common::busybox_tarball(dir);
    let id = store
        .import_tarball_with(
            &tarball,
            &ImportOptions {
                name: Some("busybox".into()),
                changes: vec!["CMD [\"/bin/sh\"]".into(), "ENV A=1".into()],
                ..Default::default()
            },
        )
        .unwrap();
    (store, id)
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap()
}

#[test]
fn registry_push_skopeo_reads_it_and_pull_round_trips() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = Registry::start(tmp.path());
    let (store, id) = busybox_store(tmp.path());
    let (opts, lines) = insecure(tmp.path());
    let dest = format!("{}/test/busybox:1", reg.addr);

    let out = registry::push(&store, "busybox", &dest, &opts).unwrap();
    assert_eq!(out.blobs_uploaded, 2, "{out:?}"); // one layer + the config
    assert_eq!(out.manifest_digest, store.info(&id).unwrap().digest);
    {
        // As podman prints them: one line per layer, one for the config, nothing twice.
        let lines = lines.lock().unwrap();
        let count = |prefix: &str| {
            lines
                .iter()
                .filter(|l| l.starts_with(prefix) && l.ends_with(" done"))
                .count()
        };
        assert_eq!(count("Copying blob "), 1, "{lines:?}");
        assert_eq!(count("Copying config "), 1, "{lines:?}");
    }

    // skopeo sees the same manifest and config.
    let inspect = json(&skopeo(&[
        "inspect",
        "--tls-verify=false",
        &format!("docker://{dest}"),
    ]));
    assert_eq!(inspect["Digest"], out.manifest_digest.as_str());
    assert_eq!(inspect["Env"][0], "A=1");
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{dest}"),
    ]);
    assert_eq!(raw.as_bytes(), &store.manifest_bytes(&id).unwrap()[..]);

    // skopeo copies it to an OCI layout with the same manifest digest.
    let layout = tmp.path().join("layout");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        "--dest-oci-accept-uncompressed-layers",
        "--preserve-digests",
        &format!("docker://{dest}"),
        &format!("oci:{}:v1", layout.display()),
    ]);
    let index = json(&std::fs::read_to_string(layout.join("index.json")).unwrap());
    assert_eq!(
        index["manifests"][0]["digest"],
        out.manifest_digest.as_str()
    );

    // Pushing again skips every blob.
    let again = registry::push(&store, &id, &dest, &opts).unwrap();
    assert_eq!(
        (again.blobs_uploaded, again.blobs_skipped),
        (0, 2),
        "{again:?}"
    );

    // Pulled into a fresh store: the same image, its layer extracted.
    let store2 = ImageStore::open(&tmp.path().join("root2")).unwrap();
    let pulled = registry::pull(&store2, &dest, &opts).unwrap();
    assert_eq!(pulled.id, id);
    assert_eq!(pulled.layers_fetched, 1);
    assert_eq!(pulled.manifest_digest, out.manifest_digest);
    let img = store2.resolve(&dest).unwrap();
    assert_eq!(img.digest, out.manifest_digest);
    assert!(img.layer_dirs[0].join("bin/busybox").is_file());
    assert_eq!(img.names, vec![dest.clone()]);

    // Pulling again fetches no layer.
    let again = registry::pull(&store2, &dest, &opts).unwrap();
    assert_eq!(again.layers_fetched, 0);

    // By digest too.
    let by_digest = format!("{}/test/busybox@{}", reg.addr, out.manifest_digest);
    assert_eq!(registry::pull(&store2, &by_digest, &opts).unwrap().id, id);
}

#[test]
fn registry_skopeo_pushes_oci_archive_and_dermaga_pulls_it() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = Registry::start(tmp.path());
    let (store, id) = busybox_store(tmp.path());
    let archive = tmp.path().join("bb.oci.tar");
    store
        .save(
            &["busybox".to_string()],
            ArchiveFormat::OciArchive,
            &archive,
        )
        .unwrap();
    let dest = format!("{}/from/skopeo:v2", reg.addr);
    // skopeo compresses the layer on the way (tar+gzip): a blob the store never had.
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("oci-archive:{}", archive.display()),
        &format!("docker://{dest}"),
    ]);
    let (opts, _) = insecure(tmp.path());
    let store2 = ImageStore::open(&tmp.path().join("root2")).unwrap();
    let pulled = registry::pull(&store2, &dest, &opts).unwrap();
    assert_eq!(pulled.id, id, "same config, same id");
    let img = store2.resolve(&dest).unwrap();
    assert_eq!(
        img.config
            .config()
            .as_ref()
            .unwrap()
            .cmd()
            .as_ref()
            .unwrap(),
        &["/bin/sh".to_string()]
    );
    let original = store.info(&id).unwrap();
    let info = store2.info(&id).unwrap();
    assert_eq!(info.layers.len(), 1);
    assert_eq!(info.layers[0].diff_id, original.layers[0].diff_id);
    assert_eq!(
        info.layers[0].media_type,
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{dest}"),
    ]);
    assert_eq!(sha256(raw.as_bytes()), pulled.manifest_digest);
    assert!(img.layer_dirs[0].join("etc/passwd").is_file());
}

#[test]
fn registry_chunked_upload_and_cross_repo_mount() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = Registry::start(tmp.path());
    let (store, id) = busybox_store(tmp.path());
    let (mut opts, _) = insecure(tmp.path());
    opts.chunk_size = 256 * 1024; // busybox is ~2 MB: several PATCHes
    let first = format!("{}/a/busybox:1", reg.addr);
    let out = registry::push(&store, &id, &first, &opts).unwrap();
    assert_eq!(out.blobs_uploaded, 2);
    // Pull it back so the store knows the image under the registry's name; a push to another
    // repository then mounts the layer from `a/busybox`.
    let store2 = ImageStore::open(&tmp.path().join("root2")).unwrap();
    registry::pull(&store2, &first, &opts).unwrap();
    let second = format!("{}/b/busybox:1", reg.addr);
    let out2 = registry::push(&store2, &first, &second, &opts).unwrap();
    assert_eq!(out2.blobs_mounted, 2, "{out2:?}");
    assert_eq!(out2.manifest_digest, out.manifest_digest);
    let inspect = json(&skopeo(&[
        "inspect",
        "--tls-verify=false",
        &format!("docker://{second}"),
    ]));
    assert_eq!(inspect["Digest"], out.manifest_digest.as_str());
}

#[test]
fn registry_index_picks_the_host_platform() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = Registry::start(tmp.path());
    let store = ImageStore::open(&tmp.path().join("root")).unwrap();
    let tarball = common::busybox_tarball(tmp.path());
    let host = Platform::host();
    let other_arch = if host.architecture == "amd64" {
        "arm64"
    } else {
        "amd64"
    };
    let mut digests = Vec::new();
    let (opts, _) = insecure(tmp.path());
    for (arch, tag) in [(other_arch, "other"), (host.architecture.as_str(), "host")] {
        let id = store
            .import_tarball_with(
                &tarball,
                &ImportOptions {
                    name: Some(format!("multi:{tag}")),
                    arch: Some(arch.to_string()),
                    ..Default::default()
                },
            )
            .unwrap();
        let out = registry::push(&store, &id, &format!("{}/multi:{tag}", reg.addr), &opts).unwrap();
        digests.push((arch.to_string(), out.manifest_digest, id));
    }
    // An OCI index listing the other platform first, put with a plain HTTP request.
    let manifests: Vec<serde_json::Value> = digests
        .iter()
        .map(|(arch, d, id)| {
            let size = store.manifest_bytes(id).unwrap().len();
            serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": d, "size": size, "platform": {"os": "linux", "architecture": arch}})
        })
        .collect();
    let index = serde_json::to_vec(&serde_json::json!({"schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests}))
    .unwrap();
    let resp = ureq::put(&format!("http://{}/v2/multi/manifests/list", reg.addr))
        .header("Content-Type", "application/vnd.oci.image.index.v1+json")
        .send(&index[..])
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201, "{}", reg.log());

    let store2 = ImageStore::open(&tmp.path().join("root2")).unwrap();
    let pulled = registry::pull(&store2, &format!("{}/multi:list", reg.addr), &opts).unwrap();
    assert_eq!(pulled.id, digests[1].2, "the host's entry");
    let img = store2.resolve(&pulled.id).unwrap();
    assert_eq!(img.config.architecture().to_string(), host.architecture);

    let mut o = opts.clone();
    o.platform = Some(Platform::parse(&format!("linux/{other_arch}")).unwrap());
    let pulled = registry::pull(&store2, &format!("{}/multi:list", reg.addr), &o).unwrap();
    assert_eq!(pulled.id, digests[0].2);
    o.platform = Some(Platform::parse("linux/s390x").unwrap());
    let e = registry::pull(&store2, &format!("{}/multi:list", reg.addr), &o).unwrap_err();
    assert!(
        e.to_string().contains("no image for platform linux/s390x"),
        "{e}"
    );
}

#[test]
fn registry_errors_name_what_and_where() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = Registry::start(tmp.path());
    let (store, _) = busybox_store(tmp.path());
    let (opts, _) = insecure(tmp.path());
    let e = registry::pull(&store, &format!("{}/nothing/here:1", reg.addr), &opts).unwrap_err();
    assert!(e.to_string().contains("manifest unknown"), "{e}");
    let e = registry::pull(&store, "busybox", &opts).unwrap_err();
    assert!(
        e.to_string().contains("no unqualified-search-registries"),
        "{e}"
    );
    // A short name resolved through the search registries.
    let conf = tmp.path().join("search.conf");
    std::fs::write(
        &conf,
        format!("unqualified-search-registries = [\"{}\"]\n[[registry]]\nlocation = \"{}\"\ninsecure = true\n", reg.addr, reg.addr),
    )
    .unwrap();
    let mut o = opts.clone();
    o.tls_verify = None; // insecure = true in the file allows plain HTTP
    o.registries_conf = Some(conf);
    registry::push(
        &store,
        "busybox",
        &format!("{}/busybox:latest", reg.addr),
        &o,
    )
    .unwrap();
    let store2 = ImageStore::open(&tmp.path().join("root2")).unwrap();
    let pulled = registry::pull(&store2, "busybox", &o).unwrap();
    assert_eq!(pulled.name, format!("{}/busybox:latest", reg.addr));
    // Without --tls-verify=false or insecure = true, plain HTTP is refused.
    let mut strict = opts.clone();
    strict.tls_verify = None;
    let e = registry::pull(&store2, &format!("{}/busybox:latest", reg.addr), &strict).unwrap_err();
    assert!(e.to_string().contains(&reg.addr), "{e}");
    let e = registry::push(&store, "busybox", "busybox:1", &opts).unwrap_err();
    assert!(e.to_string().contains("names its registry"), "{e}");
}

#[test]
fn registry_basic_auth_login_push_pull_logout() {
    let tmp = tempfile::tempdir().unwrap();
    let hash = bcrypt::hash("s3cret", 5).unwrap();
    let htpasswd = tmp.path().join("htpasswd");
    std::fs::write(&htpasswd, format!("alice:{hash}\n")).unwrap();
    let reg = Registry::start_with(
        tmp.path(),
        &format!(
            "auth:\n  htpasswd:\n    realm: test\n    path: {}\n",
            htpasswd.display()
        ),
    );
    let (store, id) = busybox_store(tmp.path());
    let (opts, _) = insecure(tmp.path());
    let dest = format!("{}/private/busybox:1", reg.addr);

    let e = registry::push(&store, &id, &dest, &opts).unwrap_err();
    assert!(e.to_string().contains("authentication required"), "{e}");
    let bad = Credentials::parse("alice:wrong").unwrap();
    let e = registry::login(&reg.addr, &bad, &opts).unwrap_err();
    assert!(
        e.to_string().contains("invalid username or password"),
        "{e}"
    );
    assert!(!tmp.path().join("auth.json").exists());

    let good = Credentials::parse("alice:s3cret").unwrap();
    let path = registry::login(&reg.addr, &good, &opts).unwrap();
    assert_eq!(path, tmp.path().join("auth.json"));
    let auth = json(&std::fs::read_to_string(&path).unwrap());
    assert_eq!(auth["auths"][reg.addr.as_str()]["auth"], "YWxpY2U6czNjcmV0");

    registry::push(&store, &id, &dest, &opts).unwrap();
    // skopeo reads the same auth file.
    let inspect = json(&skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--authfile",
        path.to_str().unwrap(),
        &format!("docker://{dest}"),
    ]));
    assert_eq!(inspect["Env"][0], "A=1");
    let store2 = ImageStore::open(&tmp.path().join("root2")).unwrap();
    assert_eq!(registry::pull(&store2, &dest, &opts).unwrap().id, id);
    // --creds instead of the file.
    let mut with_creds = opts.clone();
    with_creds.authfile = Some(tmp.path().join("none.json"));
    with_creds.credentials = Some(good);
    registry::pull(&store2, &dest, &with_creds).unwrap();

    registry::logout(Some(&reg.addr), &opts).unwrap();
    let e = registry::pull(&store2, &dest, &opts).unwrap_err();
    assert!(e.to_string().contains("authentication required"), "{e}");
    let e = registry::logout(Some(&reg.addr), &opts).unwrap_err();
    assert!(e.to_string().contains("not logged in"), "{e}");
}

/// A token service as docker-registry's `auth: token:` expects one: ES256 JWTs whose `x5c`
/// header carries the self-signed certificate the registry trusts, granting the scopes asked
/// for. With `password` set it wants Basic `alice:<password>`; without, it serves anyone.
struct TokenService {
    addr: String,
    requests: Arc<Mutex<Vec<String>>>,
}

impl TokenService {
    fn start(dir: &Path, password: Option<&'static str>) -> (TokenService, std::path::PathBuf) {
        use base64::Engine;
        use std::io::{BufRead, BufReader, Write};
        let ck = rcgen::generate_simple_self_signed(vec!["token-issuer".to_string()]).unwrap();
        let cert_path = dir.join("token-cert.pem");
        std::fs::write(&cert_path, ck.cert.pem()).unwrap();
        let rng = ring::rand::SystemRandom::new();
        let key = ring::signature::EcdsaKeyPair::from_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &ck.key_pair.serialize_der(),
            &rng,
        )
        .unwrap();
        let x5c = base64::engine::general_purpose::STANDARD.encode(ck.cert.der());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = requests.clone();
        std::thread::spawn(move || {
            let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).is_err() {
                    continue;
                }
                let mut auth = None;
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = h.split_once(':') {
                        if k.eq_ignore_ascii_case("authorization") {
                            auth = Some(v.trim().to_string());
                        }
                    }
                }
                log.lock().unwrap().push(request_line.clone());
                let target = request_line.split(' ').nth(1).unwrap_or("").to_string();
                let query = target.split_once('?').map(|(_, q)| q).unwrap_or("");
                let mut access = Vec::new();
                let mut subject = "anonymous".to_string();
                for kv in query.split('&') {
                    if let Some(v) = kv.strip_prefix("scope=") {
                        let v = v
                            .replace("%3A", ":")
                            .replace("%2F", "/")
                            .replace("%2C", ",");
                        let parts: Vec<&str> = v.splitn(3, ':').collect();
                        if parts.len() == 3 {
                            access.push(serde_json::json!({"type": parts[0], "name": parts[1],
                                "actions": parts[2].split(',').collect::<Vec<_>>()}));
                        }
                    }
                }
                if let Some(pw) = password {
                    let want = format!(
                        "Basic {}",
                        base64::engine::general_purpose::STANDARD.encode(format!("alice:{pw}"))
                    );
                    if auth.as_deref() != Some(want.as_str()) {
                        let _ = stream.write_all(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                        continue;
                    }
                    subject = "alice".into();
                }
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_secs();
                let header = serde_json::json!({"typ": "JWT", "alg": "ES256", "x5c": [x5c]});
                let claims = serde_json::json!({"iss": "test-issuer", "sub": subject,
                    "aud": "test-registry", "exp": now + 300, "nbf": now - 10, "iat": now,
                    "jti": format!("{now}-{}", access.len()), "access": access});
                let signing_input = format!(
                    "{}.{}",
                    b64.encode(serde_json::to_vec(&header).unwrap()),
                    b64.encode(serde_json::to_vec(&claims).unwrap())
                );
                let sig = key.sign(&rng, signing_input.as_bytes()).unwrap();
                let token = format!("{signing_input}.{}", b64.encode(sig.as_ref()));
                let body = serde_json::json!({"token": token, "expires_in": 300}).to_string();
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        (TokenService { addr, requests }, cert_path)
    }

    fn registry_auth(&self, cert: &Path) -> String {
        format!(
            "auth:\n  token:\n    realm: http://{}/token\n    service: test-registry\n    issuer: test-issuer\n    rootcertbundle: {}\n",
            self.addr,
            cert.display()
        )
    }
}

#[test]
fn registry_bearer_token_anonymous_and_with_credentials() {
    // Anonymous tokens: push and pull with no credentials at all.
    let tmp = tempfile::tempdir().unwrap();
    let (tokens, cert) = TokenService::start(tmp.path(), None);
    let reg = Registry::start_with(tmp.path(), &tokens.registry_auth(&cert));
    let (store, id) = busybox_store(tmp.path());
    let (opts, _) = insecure(tmp.path());
    let dest = format!("{}/open/busybox:1", reg.addr);
    registry::push(&store, &id, &dest, &opts).unwrap();
    let store2 = ImageStore::open(&tmp.path().join("root2")).unwrap();
    assert_eq!(registry::pull(&store2, &dest, &opts).unwrap().id, id);
    let asked = tokens.requests.lock().unwrap().clone();
    assert!(
        asked.iter().any(
            |r| r.contains("scope=repository%3Aopen%2Fbusybox%3Apull%2Cpush")
                || r.contains("scope=repository:open/busybox:pull,push")
        ),
        "{asked:?}"
    );
    assert!(
        asked.iter().any(|r| r.contains("service=test-registry")),
        "{asked:?}"
    );

    // A token service that wants credentials: login checks them, auth.json carries them.
    let tmp = tempfile::tempdir().unwrap();
    let (tokens, cert) = TokenService::start(tmp.path(), Some("tokpass"));
    let reg = Registry::start_with(tmp.path(), &tokens.registry_auth(&cert));
    let (store, id) = busybox_store(tmp.path());
    let (opts, _) = insecure(tmp.path());
    let dest = format!("{}/closed/busybox:1", reg.addr);
    let e = registry::push(&store, &id, &dest, &opts).unwrap_err();
    assert!(e.to_string().contains("token service refused"), "{e}");
    let e =
        registry::login(&reg.addr, &Credentials::parse("alice:nope").unwrap(), &opts).unwrap_err();
    assert!(e.to_string().contains("refused the credentials"), "{e}");
    registry::login(
        &reg.addr,
        &Credentials::parse("alice:tokpass").unwrap(),
        &opts,
    )
    .unwrap();
    registry::push(&store, &id, &dest, &opts).unwrap();
    let store2 = ImageStore::open(&tmp.path().join("root2")).unwrap();
    assert_eq!(registry::pull(&store2, &dest, &opts).unwrap().id, id);
    let inspect = json(&skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--authfile",
        tmp.path().join("auth.json").to_str().unwrap(),
        &format!("docker://{dest}"),
    ]));
    assert_eq!(inspect["Env"][0], "A=1");
}

#[test]
fn registry_zstd_and_gzip_layers_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = Registry::start(tmp.path());
    let tarball = common::busybox_tarball(tmp.path());
    let raw = std::fs::read(&tarball).unwrap();
    let (opts, _) = insecure(tmp.path());
    for (kind, bytes, media_type) in [
        (
            "zstd",
            zstd::encode_all(&raw[..], 3).unwrap(),
            "application/vnd.oci.image.layer.v1.tar+zstd",
        ),
        (
            "gzip",
            {
                use std::io::Write;
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                e.write_all(&raw).unwrap();
                e.finish().unwrap()
            },
            "application/vnd.oci.image.layer.v1.tar+gzip",
        ),
    ] {
        // A store keeps one blob per layer (the first it got): one store pair per kind.
        let store = ImageStore::open(&tmp.path().join(format!("root-{kind}"))).unwrap();
        let store2 = ImageStore::open(&tmp.path().join(format!("root2-{kind}"))).unwrap();
        let path = tmp.path().join(format!("busybox.tar.{kind}"));
        std::fs::write(&path, &bytes).unwrap();
        let id = store.import_tarball(&path, &format!("bb-{kind}")).unwrap();
        let dest = format!("{}/layers/{kind}:1", reg.addr);
        registry::push(&store, &id, &dest, &opts).unwrap();
        let raw_manifest = json(&skopeo(&[
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{dest}"),
        ]));
        assert_eq!(raw_manifest["layers"][0]["mediaType"], media_type);
        let pulled = registry::pull(&store2, &dest, &opts).unwrap();
        assert_eq!(pulled.id, id);
        let info = store2.info(&id).unwrap();
        assert_eq!(info.layers[0].media_type, media_type);
        assert_eq!(info.layers[0].blob_size, bytes.len() as u64);
        assert!(store2.resolve(&id).unwrap().layer_dirs[0]
            .join("bin/busybox")
            .is_file());
    }
}

/// What a [`relay`] does to the traffic it carries.
enum Fault {
    /// Ends the first response to a GET of `blob` after `after` bytes (headers included).
    CutDownload { blob: String, after: usize },
    /// Changes the byte `at` bytes into every response to a GET of `blob`.
    FlipDownloadByte { blob: String, at: usize },
    /// Ends the first blob upload (a `PUT` or `PATCH` to `/blobs/uploads/`) after `after`
    /// bytes of the request.
    CutUpload { after: usize },
}

/// A TCP relay to `upstream` that relays faithfully but for `fault`. Returns its address and
/// how many times the fault struck.
fn relay(upstream: String, fault: Fault) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let struck = Arc::new(AtomicUsize::new(0));
    let struck_out = struck.clone();
    let fault = Arc::new(fault);
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            let Ok(server) = TcpStream::connect(&upstream) else {
                continue;
            };
            // A GET of the blob the fault is about has gone out on this connection.
            let armed = Arc::new(AtomicBool::new(false));
            let (mut c_in, mut s_out) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            let (c_kill, s_kill) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            let (fault_up, armed_w, struck_up) = (fault.clone(), armed.clone(), struck.clone());
            std::thread::spawn(move || {
                let mut buf = [0u8; 16384];
                let mut upload_at: Option<usize> = None;
                let mut sent = 0usize;
                while let Ok(n) = c_in.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let text = String::from_utf8_lossy(&buf[..n]);
                    match &*fault_up {
                        Fault::CutDownload { blob, .. } | Fault::FlipDownloadByte { blob, .. } => {
                            let once = matches!(*fault_up, Fault::CutDownload { .. });
                            if (!once || struck_up.load(Ordering::SeqCst) == 0)
                                && text.starts_with("GET ")
                                && text.contains(&format!("/blobs/{blob}"))
                            {
                                armed_w.store(true, Ordering::SeqCst);
                            }
                        }
                        Fault::CutUpload { after } => {
                            if upload_at.is_none()
                                && struck_up.load(Ordering::SeqCst) == 0
                                && (text.starts_with("PUT ") || text.starts_with("PATCH "))
                                && text.contains("/blobs/uploads/")
                            {
                                upload_at = Some(sent);
                            }
                            if let Some(at) = upload_at {
                                if sent + n - at >= *after {
                                    let room = after - (sent - at);
                                    let _ = s_out.write_all(&buf[..room]);
                                    struck_up.fetch_add(1, Ordering::SeqCst);
                                    let _ = s_kill.shutdown(std::net::Shutdown::Both);
                                    // End the client's side for writing only and swallow the
                                    // rest of its body: a client blocked on a full socket would
                                    // never see the connection end.
                                    let _ = c_kill.shutdown(std::net::Shutdown::Write);
                                    while matches!(c_in.read(&mut buf), Ok(n) if n > 0) {}
                                    break;
                                }
                            }
                        }
                    }
                    if s_out.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    sent += n;
                }
                let _ = s_out.shutdown(std::net::Shutdown::Write);
            });
            let (mut s_in, mut c_out) = (server, client);
            let (fault, struck) = (fault.clone(), struck.clone());
            std::thread::spawn(move || {
                let mut buf = [0u8; 16384];
                let mut since_armed = 0usize;
                while let Ok(n) = s_in.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if armed.load(Ordering::SeqCst) {
                        match &*fault {
                            Fault::CutDownload { after, .. } => {
                                let room = after.saturating_sub(since_armed).min(n);
                                let _ = c_out.write_all(&buf[..room]);
                                since_armed += room;
                                if since_armed >= *after {
                                    struck.fetch_add(1, Ordering::SeqCst);
                                    let _ = c_out.shutdown(std::net::Shutdown::Both);
                                    let _ = s_in.shutdown(std::net::Shutdown::Both);
                                    break;
                                }
                                continue;
                            }
                            Fault::FlipDownloadByte { at, .. } => {
                                if (since_armed..since_armed + n).contains(at) {
                                    buf[at - since_armed] ^= 0xff;
                                    struck.fetch_add(1, Ordering::SeqCst);
                                    armed.store(false, Ordering::SeqCst);
                                }
                                since_armed += n;
                            }
                            Fault::CutUpload { .. } => {}
                        }
                    }
                    if c_out.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = c_out.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    (addr, struck_out)
}

#[test]
fn registry_interrupted_download_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = Registry::start(tmp.path());
    let (store, id) = busybox_store(tmp.path());
    let (opts, lines) = insecure(tmp.path());
    registry::push(&store, &id, &format!("{}/flaky/busybox:1", reg.addr), &opts).unwrap();
    let blob = store.info(&id).unwrap().layers[0].blob_digest.clone();
    let (relay, broken) = relay(
        reg.addr.clone(),
        Fault::CutDownload {
            blob,
            after: 300_000,
        },
    );
    let store2 = ImageStore::open(&tmp.path().join("root2")).unwrap();
    let pulled = registry::pull(&store2, &format!("{relay}/flaky/busybox:1"), &opts).unwrap();
    assert_eq!(pulled.id, id);
    assert_eq!(
        broken.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the relay broke one download"
    );
    let lines = lines.lock().unwrap();
    assert!(
        lines.iter().any(|l| l.contains("retrying (1/3)")),
        "{lines:?}"
    );
    assert!(store2.resolve(&id).unwrap().layer_dirs[0]
        .join("bin/busybox")
        .is_file());
}

/// podman with its own storage in the test's directory.
fn podman(dir: &Path, args: &[&str]) -> String {
    const PODMAN: &str = "/usr/bin/podman";
    assert!(
        Path::new(PODMAN).exists(),
        "{PODMAN} is missing: install podman (scripts/test.sh does)"
    );
    let root = dir.join("podman-root");
    let runroot = dir.join("podman-run");
    let out = Command::new(PODMAN)
        .arg("--root")
        .arg(&root)
        .arg("--runroot")
        .arg(&runroot)
        .args([
            "--storage-driver",
            "vfs",
            "--events-backend",
            "file",
            "--cgroup-manager",
            "cgroupfs",
        ])
        .args(args)
        .env("XDG_RUNTIME_DIR", dir)
        .env("CONTAINERS_REGISTRIES_CONF", empty_conf(dir))
        .output()
        .expect("running podman");
    assert!(
        out.status.success(),
        "podman {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn registry_podman_pulls_what_dermaga_pushes_and_back() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = Registry::start(tmp.path());
    let (store, id) = busybox_store(tmp.path());
    let (opts, _) = insecure(tmp.path());
    let dest = format!("{}/to/podman:1", reg.addr);
    let pushed = registry::push(&store, &id, &dest, &opts).unwrap();
    podman(tmp.path(), &["pull", "-q", "--tls-verify=false", &dest]);
    let inspect = json(&podman(tmp.path(), &["image", "inspect", &dest]));
    assert_eq!(inspect[0]["Id"], id.as_str());
    assert_eq!(inspect[0]["Digest"], pushed.manifest_digest.as_str());
    // podman pushes it on (compressing the layer); dermaga pulls that.
    let back = format!("{}/from/podman:2", reg.addr);
    podman(
        tmp.path(),
        &["push", "-q", "--tls-verify=false", &dest, &back],
    );
    let store2 = ImageStore::open(&tmp.path().join("root2")).unwrap();
    let pulled = registry::pull(&store2, &back, &opts).unwrap();
    assert_eq!(pulled.id, id);
    assert!(store2.resolve(&back).unwrap().layer_dirs[0]
        .join("bin/busybox")
        .is_file());
}

fn sha256(b: &[u8]) -> String {
    dermaga_image::digest::sha256_digest(b)
}

#[test]
fn registry_pull_of_a_tampered_blob_fails_and_leaves_nothing_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = Registry::start(tmp.path());
    let (store, id) = busybox_store(tmp.path());
    let (opts, _) = insecure(tmp.path());
    registry::push(&store, &id, &format!("{}/bad/busybox:1", reg.addr), &opts).unwrap();
    let blob = store.info(&id).unwrap().layers[0].blob_digest.clone();
    let (relay, _) = relay(
        reg.addr.clone(),
        Fault::FlipDownloadByte {
            blob: blob.clone(),
            at: 300_000,
        },
    );
    let root2 = tmp.path().join("root2");
    let store2 = ImageStore::open(&root2).unwrap();
    let err = registry::pull(&store2, &format!("{relay}/bad/busybox:1"), &opts)
        .expect_err("a blob that does not match its digest is refused")
        .to_string();
    assert!(
        err.contains(&blob) && err.to_lowercase().contains("digest"),
        "the error names the blob and the digest: {err}"
    );
    assert!(store2.resolve(&id).is_err(), "no image was recorded");
    assert!(store2.list().unwrap().is_empty(), "no image was recorded");
    let leftovers: Vec<_> = std::fs::read_dir(root2.join("tmp"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "staging cleaned up: {leftovers:?}");
}

#[test]
fn registry_interrupted_upload_is_sent_again() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = Registry::start(tmp.path());
    let (store, id) = busybox_store(tmp.path());
    let (opts, lines) = insecure(tmp.path());
    let (relay, broken) = relay(reg.addr.clone(), Fault::CutUpload { after: 300_000 });
    registry::push(&store, &id, &format!("{relay}/flaky-up/busybox:1"), &opts)
        .expect("the push retries the broken upload");
    assert_eq!(
        broken.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the relay broke one upload"
    );
    {
        let lines = lines.lock().unwrap();
        assert!(
            lines.iter().any(|l| l.contains("retrying (1/3)")),
            "{lines:?}"
        );
    }
    // What arrived is whole: a pull straight from the registry gives the same image.
    let store2 = ImageStore::open(&tmp.path().join("root2")).unwrap();
    let pulled =
        registry::pull(&store2, &format!("{}/flaky-up/busybox:1", reg.addr), &opts).unwrap();
    assert_eq!(pulled.id, id);
}
