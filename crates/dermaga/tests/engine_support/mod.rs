//! Shared by the engine_* tests: a temporary store with a busybox image, and a way to run the
//! built binary against it. Containers need root: a test run without it fails loudly.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

pub const IMAGE: &str = "localhost/busybox:latest";

pub fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc_geteuid() };
    assert_eq!(
        uid, 0,
        "the engine tests run containers and need root (run them as root)"
    );
    assert!(
        Path::new("/usr/bin/busybox").exists(),
        "the engine tests need Debian's busybox-static (/usr/bin/busybox): apt-get install busybox-static"
    );
}

extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

/// A temporary store root with the busybox image imported.
pub struct Store {
    pub root: PathBuf,
    pub runroot: PathBuf,
    pub runtime: Option<String>,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A busybox root file system: the static binary, its applets as links, /etc files.
pub fn busybox_rootfs(dir: &Path) {
    for d in [
        "bin", "etc", "proc", "sys", "dev", "tmp", "root", "home/app", "var/tmp", "run",
    ] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    std::fs::copy("/usr/bin/busybox", dir.join("bin/busybox")).unwrap();
    let out = Command::new("/usr/bin/busybox")
        .arg("--list")
        .output()
        .unwrap();
    for applet in String::from_utf8_lossy(&out.stdout).lines() {
        if applet != "busybox" {
            let _ = std::os::unix::fs::symlink("busybox", dir.join("bin").join(applet));
        }
    }
    std::fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("etc/group"),
        "root:x:0:\napp:x:1000:\nextra:x:2000:app\nnogroup:x:65534:\n",
    )
    .unwrap();
    std::fs::write(dir.join("bin/not-executable"), "#!/bin/sh\necho no\n").unwrap();
}

impl Store {
    pub fn new(tag: &str) -> Store {
        require_root();
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let base =
            std::env::temp_dir().join(format!("dermaga-engine-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        let root = base.join("root");
        let store = Store {
            root: root.clone(),
            runroot: base.join("run"),
            runtime: std::env::var("DERMAGA_TEST_RUNTIME").ok(),
        };
        let rootfs = base.join("rootfs");
        busybox_rootfs(&rootfs);
        let tar = base.join("busybox.tar");
        let st = Command::new("tar")
            .arg("-C")
            .arg(&rootfs)
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .unwrap();
        assert!(st.success(), "tar failed");
        std::fs::create_dir_all(&root).unwrap();
        let out = store.dermaga(&["import", tar.to_str().unwrap(), IMAGE]);
        assert!(
            out.status.success(),
            "dermaga import failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        store
    }

    pub fn base(&self) -> PathBuf {
        self.root.parent().unwrap().to_path_buf()
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_dermaga"));
        c.arg("--root")
            .arg(&self.root)
            .arg("--runroot")
            .arg(&self.runroot);
        if let Some(rt) = &self.runtime {
            c.arg("--runtime").arg(rt);
        }
        c.args(args).stdin(Stdio::null());
        c
    }

    pub fn dermaga(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("running dermaga")
    }

    /// Runs and expects success; stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.dermaga(args);
        assert!(
            out.status.success(),
            "dermaga {args:?} failed with {:?}\nstdout: {}\nstderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs and returns (exit code, stdout, stderr).
    pub fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.dermaga(args);
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        // Stop what is left, then remove the store. `run --rm` and `rm` leave the unmount and
        // removal to a child that holds the store's lock; `system check` takes the lock
        // exclusively, so it returns once they are done. Otherwise the test's end could kill
        // that child mid-removal and leave its overlay mounted on the host.
        let _ = self.cmd(&["rm", "-f", "-a"]).output();
        let _ = self.cmd(&["system", "check"]).output();
        let _ = std::fs::remove_dir_all(self.base());
    }
}

/// podman as the differential reference: its own short-pathed store (podman refuses a run root
/// longer than 50 characters), runc and cgroupfs, ulimits this sandbox can grant, and its
/// documented default capabilities (Debian's containers.conf adds three). Starts empty.
pub struct Podman {
    args: Vec<String>,
    conf: PathBuf,
    dir: PathBuf,
}

impl Podman {
    pub fn new() -> Podman {
        assert!(
            Command::new("podman")
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success()),
            "podman is needed for the differential tests (apt-get install podman)"
        );
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = PathBuf::from(format!("/tmp/dmp-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let conf = dir.join("containers.conf");
        let hard = |flag: &str| {
            let o = Command::new("sh")
                .arg("-c")
                .arg(format!("ulimit -H{flag}"))
                .output()
                .unwrap();
            String::from_utf8_lossy(&o.stdout).trim().to_string()
        };
        std::fs::write(
            &conf,
            format!(
                "[containers]\n\
                 default_capabilities = [\"CHOWN\", \"DAC_OVERRIDE\", \"FOWNER\", \"FSETID\", \"KILL\", \
                 \"NET_BIND_SERVICE\", \"SETFCAP\", \"SETGID\", \"SETPCAP\", \"SETUID\", \"SYS_CHROOT\"]\n\
                 default_ulimits = [\"nofile={n}:{n}\", \"nproc=4096:4096\"]\n\
                 [engine]\nruntime = \"runc\"\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"none\"\n\
                 tmp_dir = \"{tmp}\"\n",
                n = hard("n"),
                // Its own tmp_dir: podmans started at once share /run/libpod otherwise.
                tmp = dir.join("podman-tmp").display(),
            ),
        )
        .unwrap();
        let args = vec![
            "--root".into(),
            dir.join("root").to_string_lossy().into_owned(),
            "--runroot".into(),
            dir.join("run").to_string_lossy().into_owned(),
            "--storage-driver".into(),
            "overlay".into(),
            "--runtime".into(),
            "runc".into(),
            "--cgroup-manager".into(),
            "cgroupfs".into(),
        ];
        Podman { args, conf, dir }
    }

    /// Runs podman; its exit code, standard output and standard error.
    pub fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new("podman")
            .args(&self.args)
            .args(args)
            .env("CONTAINERS_CONF", &self.conf)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.run(&["rm", "-f", "-a"]);
        let _ = self.run(&["system", "reset", "-f"]);
        let _ = Command::new("umount")
            .arg("-R")
            .arg(self.dir.join("root/overlay"))
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
