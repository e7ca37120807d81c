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
        // Stop what is left, then remove the store.
        let _ = self.cmd(&["rm", "-f", "-a"]).output();
        let _ = std::fs::remove_dir_all(self.base());
    }
}
