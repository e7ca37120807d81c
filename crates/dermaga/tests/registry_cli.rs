//! `dermaga push` and `dermaga pull` through a real registry (Debian's docker-registry) on
//! loopback, then `dermaga run` of the pulled image.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

struct Registry(Child);

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A directory of this test's own, removed when the test ends.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(what: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("dermaga-{what}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn dermaga(root: &Path, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_dermaga"))
        .arg("--root")
        .arg(root.join("root"))
        .arg("--runroot")
        .arg(root.join("run"))
        .args(args)
        .output()
        .expect("dermaga runs");
    assert!(
        out.status.success(),
        "dermaga {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Debian's docker-registry serving from `dir` on a free loopback port, once it listens.
fn start_registry(dir: &Path) -> (Registry, u16) {
    let registry_bin = Path::new("/usr/bin/docker-registry");
    assert!(
        registry_bin.exists(),
        "docker-registry is missing: scripts/test.sh installs it"
    );
    let port = dermaga_test_ports::port();
    std::fs::write(
        dir.join("registry.yml"),
        format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.join("storage").display()
        ),
    )
    .unwrap();
    let registry = Registry(
        Command::new(registry_bin)
            .arg("serve")
            .arg(dir.join("registry.yml"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry starts"),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "docker-registry never listened");
        std::thread::sleep(Duration::from_millis(20));
    }

    (registry, port)
}

/// A one-layer busybox image as a tarball in `dir`.
fn busybox_tarball(dir: &Path) -> std::path::PathBuf {
    let rootfs = dir.join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    std::fs::copy("/usr/bin/busybox", rootfs.join("bin/busybox")).expect("busybox-static");
    std::os::unix::fs::symlink("busybox", rootfs.join("bin/sh")).unwrap();
    std::os::unix::fs::symlink("busybox", rootfs.join("bin/echo")).unwrap();
    let tarball = dir.join("rootfs.tar");
    let tar = Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .arg("-cf")
        .arg(&tarball)
        .arg(".")
        .status()
        .unwrap();
    assert!(tar.success());
    tarball
}

/// podman with its own store under `dir`, runc, cgroupfs and limits this host can grant.
fn podman(dir: &Path, args: &[&str]) -> String {
    let conf = dir.join("containers.conf");
    if !conf.exists() {
        let o = Command::new("sh")
            .args(["-c", "ulimit -Hn"])
            .output()
            .unwrap();
        let n = String::from_utf8_lossy(&o.stdout).trim().to_string();
        std::fs::write(
            &conf,
            format!(
                "[containers]\ndefault_ulimits = [\"nofile={n}:{n}\", \"nproc=4096:4096\"]\n\
                 [engine]\nruntime = \"runc\"\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"none\"\n\
                 tmp_dir = \"{tmp}\"\n",
                // Its own tmp_dir: podmans started at once share /run/libpod otherwise, and one
                // can find another's half-made `alive` file gone.
                tmp = dir.join("podman-tmp").display()
            ),
        )
        .unwrap();
    }
    let out = Command::new("podman")
        .arg("--root")
        .arg(dir.join("podman-root"))
        .arg("--runroot")
        .arg(dir.join("podman-run"))
        .args([
            "--storage-driver",
            "overlay",
            "--runtime",
            "runc",
            "--cgroup-manager",
            "cgroupfs",
        ])
        .args(args)
        .env("CONTAINERS_CONF", &conf)
        .stdin(Stdio::null())
        .output()
        .expect("podman is needed (scripts/test.sh installs it)");
    assert!(
        out.status.success(),
        "podman {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn dermaga_and_podman_run_what_the_other_pushed() {
    let tmp = TempDir::new("registry-podman");
    let dir = tmp.0.as_path();
    let (_registry, port) = start_registry(dir);
    let tarball = busybox_tarball(dir);
    let store = dir.join("store");
    dermaga(
        &store,
        &["import", tarball.to_str().unwrap(), "localhost/bb:1"],
    );

    // dermaga push -> skopeo inspect -> podman pull -> podman run.
    let ours = format!("127.0.0.1:{port}/from/dermaga:1");
    dermaga(
        &store,
        &["push", "--tls-verify=false", "localhost/bb:1", &ours],
    );
    let inspect = Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", &format!("docker://{ours}")])
        .output()
        .expect("skopeo (scripts/test.sh installs it)");
    assert!(
        inspect.status.success(),
        "{}",
        String::from_utf8_lossy(&inspect.stderr)
    );
    assert!(String::from_utf8_lossy(&inspect.stdout).contains("\"Digest\": \"sha256:"));
    podman(dir, &["pull", "-q", "--tls-verify=false", &ours]);
    let said = podman(
        dir,
        &[
            "run",
            "--rm",
            "--network",
            "none",
            &ours,
            "/bin/echo",
            "from dermaga",
        ],
    );
    assert_eq!(said.trim(), "from dermaga");

    // podman push (it recompresses the layer) -> dermaga pull -> dermaga run.
    let theirs = format!("127.0.0.1:{port}/from/podman:1");
    podman(dir, &["push", "-q", "--tls-verify=false", &ours, &theirs]);
    let other = dir.join("other");
    dermaga(&other, &["pull", "-q", "--tls-verify=false", &theirs]);
    let ran = dermaga(
        &other,
        &["run", "--rm", &theirs, "/bin/echo", "from podman"],
    );
    assert_eq!(String::from_utf8_lossy(&ran.stdout).trim(), "from podman");
}

#[test]
fn push_then_pull_through_docker_registry_and_run() {
    let tmp = TempDir::new("registry-cli");
    let dir = tmp.0.as_path();
    let (_registry, port) = start_registry(dir);

    // A one-layer busybox image, imported into the pushing store.
    let tarball = busybox_tarball(dir);
    let pusher = dir.join("pusher");
    let puller = dir.join("puller");
    let imported = dermaga(
        &pusher,
        &["import", tarball.to_str().unwrap(), "localhost/bb:1"],
    );
    let id = String::from_utf8_lossy(&imported.stdout)
        .trim()
        .trim_start_matches("sha256:")
        .to_string();

    let remote = format!("127.0.0.1:{port}/bb:1");
    dermaga(
        &pusher,
        &["push", "--tls-verify=false", "localhost/bb:1", &remote],
    );
    let pulled = dermaga(&puller, &["pull", "--tls-verify=false", &remote]);
    assert_eq!(
        String::from_utf8_lossy(&pulled.stdout).trim(),
        id,
        "pull prints the same image id as the pushed image's"
    );
    let listed = dermaga(&puller, &["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(
        String::from_utf8_lossy(&listed.stdout).contains(&remote),
        "the pulled image is listed under its name"
    );
    // Off a terminal, progress comes as plain lines (no bars, no escapes).
    let err = String::from_utf8_lossy(&pulled.stderr);
    assert!(err.contains("Copying blob"), "{err}");
    assert!(
        !err.contains('\u{1b}'),
        "no terminal escapes off a terminal: {err}"
    );

    // On a terminal (script(1) gives it one), each layer gets a progress bar.
    let on_tty = |root: &Path, args: &str| -> String {
        let cmd = format!(
            "{} --root {} --runroot {} {args}",
            env!("CARGO_BIN_EXE_dermaga"),
            root.join("root").display(),
            root.join("run").display()
        );
        let o = Command::new("script")
            .args(["-qefc", &cmd, "/dev/null"])
            .output()
            .expect("script(1) from util-linux (scripts/test.sh installs it)");
        let text = String::from_utf8_lossy(&o.stdout).to_string();
        assert!(o.status.success(), "{cmd}: {text}");
        text
    };
    let pushed_tty = on_tty(
        &pusher,
        &format!("push --tls-verify=false localhost/bb:1 127.0.0.1:{port}/bb-tty:1"),
    );
    let pulled_tty = on_tty(
        &dir.join("puller-tty"),
        &format!("pull --tls-verify=false 127.0.0.1:{port}/bb-tty:1"),
    );
    for text in [&pushed_tty, &pulled_tty] {
        assert!(
            text.contains("Copying blob") && text.contains(" / ") && text.contains("iB"),
            "a bar with bytes done and total: {text:?}"
        );
        assert!(text.contains('['), "a bar: {text:?}");
    }
    let ran = dermaga(
        &puller,
        &[
            "run",
            "--rm",
            &remote,
            "/bin/sh",
            "-c",
            "echo pulled and running",
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(&ran.stdout).trim(),
        "pulled and running"
    );
}
