//! Helpers for the runtime's end-to-end tests: busybox bundles built with oci-spec, the built
//! `dermaga` binary (as `dermaga runtime ...`) and runc side by side, each test with its own
//! temporary `--root`.
//!
//! The tests need root, busybox-static (/usr/bin/busybox) and, for the differential ones,
//! runc; without them they fail loudly.

#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use dermaga_runtime::oci_spec::runtime::{
    Capability, LinuxCapabilitiesBuilder, LinuxNamespaceBuilder, LinuxNamespaceType,
    ProcessBuilder, Spec,
};

pub const BUSYBOX: &str = "/usr/bin/busybox";

pub const APPLETS: &[&str] = &[
    "sh", "true", "false", "cat", "id", "hostname", "ps", "sleep", "ls", "mount", "umount", "date",
    "mkdir", "touch", "dd", "head", "tail", "seq", "echo", "grep", "env", "kill", "wc", "sort",
    "stat", "readlink", "pwd", "test",
];

/// podman's default capability set.
pub const PODMAN_CAPS: &[Capability] = &[
    Capability::Chown,
    Capability::DacOverride,
    Capability::Fowner,
    Capability::Fsetid,
    Capability::Kill,
    Capability::NetBindService,
    Capability::Setfcap,
    Capability::Setgid,
    Capability::Setpcap,
    Capability::Setuid,
    Capability::SysChroot,
];

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub fn require_root() {
    assert_eq!(
        unsafe_geteuid(),
        0,
        "the runtime tests need root (this sandbox runs as root)"
    );
    assert!(
        Path::new(BUSYBOX).exists(),
        "busybox-static is needed at {BUSYBOX} (apt-get install busybox-static)"
    );
}

fn unsafe_geteuid() -> u32 {
    // Without libc as a dependency: the owner of /proc/self is our effective uid.
    use std::os::unix::fs::MetadataExt;
    fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(u32::MAX)
}

/// A unique name for containers and directories of this test process.
pub fn unique(tag: &str) -> String {
    format!(
        "{tag}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// A directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir()
            .join("dermaga-runtime-tests")
            .join(unique(tag));
        fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A bundle: `rootfs/` with busybox and its applets, and `config.json` from `spec`.
pub struct Bundle {
    pub dir: TempDir,
    pub spec: Spec,
}

impl Bundle {
    /// A bundle shaped like `runc spec`'s (pid, net, ipc, uts, mount, cgroup namespaces, the
    /// usual mounts, masked and read-only paths) running `args`, with podman's capabilities.
    pub fn new(tag: &str, args: &[&str]) -> Bundle {
        require_root();
        let dir = TempDir::new(tag);
        let rootfs = dir.path().join("rootfs");
        for d in ["bin", "tmp", "etc", "proc", "sys", "dev"] {
            fs::create_dir_all(rootfs.join(d)).unwrap();
        }
        fs::copy(BUSYBOX, rootfs.join("bin/busybox")).unwrap();
        for a in APPLETS {
            symlink("busybox", rootfs.join("bin").join(a)).unwrap();
        }
        fs::write(
            rootfs.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n",
        )
        .unwrap();
        fs::write(rootfs.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();

        let mut spec = Spec::default();
        let caps: std::collections::HashSet<Capability> = PODMAN_CAPS.iter().copied().collect();
        let process = ProcessBuilder::default()
            .terminal(false)
            .args(args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .env(vec![
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
                "TERM=xterm".to_string(),
            ])
            .cwd("/")
            .capabilities(
                LinuxCapabilitiesBuilder::default()
                    .bounding(caps.clone())
                    .effective(caps.clone())
                    .permitted(caps.clone())
                    // The builder's defaults are not empty sets: say so explicitly.
                    .inheritable(std::collections::HashSet::new())
                    .ambient(std::collections::HashSet::new())
                    .build()
                    .unwrap(),
            )
            .no_new_privileges(true)
            .build()
            .unwrap();
        spec.set_process(Some(process));
        spec.set_hostname(Some("dermaga-test".to_string()));
        let mut root = spec.root().clone().unwrap();
        root.set_readonly(Some(false));
        spec.set_root(Some(root));
        let mut linux = spec.linux().clone().unwrap();
        linux.set_namespaces(Some(
            [
                LinuxNamespaceType::Pid,
                LinuxNamespaceType::Network,
                LinuxNamespaceType::Ipc,
                LinuxNamespaceType::Uts,
                LinuxNamespaceType::Mount,
                LinuxNamespaceType::Cgroup,
            ]
            .into_iter()
            .map(|t| LinuxNamespaceBuilder::default().typ(t).build().unwrap())
            .collect(),
        ));
        spec.set_linux(Some(linux));
        let b = Bundle { dir, spec };
        b.write();
        b
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    pub fn write(&self) {
        fs::write(
            self.dir.path().join("config.json"),
            serde_json_string(&self.spec),
        )
        .unwrap();
    }

    /// Changes the spec (and rewrites config.json).
    pub fn edit(&mut self, f: impl FnOnce(&mut Spec)) {
        f(&mut self.spec);
        self.write();
    }

    pub fn set_args(&mut self, args: &[&str]) {
        self.edit(|s| {
            let mut p = s.process().clone().unwrap();
            p.set_args(Some(args.iter().map(|a| a.to_string()).collect()));
            s.set_process(Some(p));
        });
    }
}

pub fn serde_json_string(spec: &Spec) -> String {
    dermaga_runtime::serde_json::to_string_pretty(spec).unwrap()
}

/// A runtime (ours or runc) with its own `--root`.
pub struct Runtime {
    pub root: TempDir,
    pub runc: bool,
}

impl Runtime {
    pub fn dermaga() -> Runtime {
        require_root();
        Runtime {
            root: TempDir::new("root"),
            runc: false,
        }
    }

    pub fn runc() -> Runtime {
        require_root();
        assert!(
            Path::new("/usr/sbin/runc").exists()
                || Command::new("runc").arg("--version").output().is_ok(),
            "runc is needed for the differential tests (apt-get install runc)"
        );
        Runtime {
            root: TempDir::new("runc-root"),
            runc: true,
        }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = if self.runc {
            Command::new("runc")
        } else {
            let mut c = Command::new(env!("CARGO_BIN_EXE_dermaga"));
            c.arg("runtime");
            c
        };
        c.arg("--root").arg(self.root.path()).args(args);
        c.stdin(Stdio::null());
        c
    }

    pub fn output(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("start the runtime")
    }

    /// Runs a command that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.output(args);
        assert!(
            o.status.success(),
            "{} {:?} failed ({}):\nstdout: {}\nstderr: {}",
            if self.runc { "runc" } else { "dermaga runtime" },
            args,
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// A command that leaves a container process behind (`create`, `run -d`): the container
    /// inherits the command's stdio, so it goes to files in `dir` (`ctr.out`, `ctr.err`)
    /// rather than to pipes that would stay open as long as the container runs.
    pub fn ok_detached(&self, args: &[&str], dir: &Path) {
        let out = fs::File::create(dir.join("ctr.out")).unwrap();
        let err = fs::File::create(dir.join("ctr.err")).unwrap();
        let status = self
            .command(args)
            .stdout(out)
            .stderr(err)
            .status()
            .expect("start the runtime");
        assert!(
            status.success(),
            "{} {:?} failed ({status}):\nstderr: {}",
            if self.runc { "runc" } else { "dermaga runtime" },
            args,
            fs::read_to_string(dir.join("ctr.err")).unwrap_or_default()
        );
    }

    /// `run` in the foreground: (exit code, stdout, stderr).
    pub fn run(&self, bundle: &Bundle, id: &str) -> (i32, String, String) {
        let o = self.output(&["run", "--bundle", bundle.path().to_str().unwrap(), id]);
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }

    pub fn state(&self, id: &str) -> dermaga_runtime::serde_json::Value {
        let out = self.ok(&["state", id]);
        dermaga_runtime::serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("state JSON {out:?}: {e}"))
    }

    pub fn status(&self, id: &str) -> String {
        self.state(id)["status"].as_str().unwrap_or("").to_string()
    }

    /// Waits until the container's status is `want` (up to 10 s).
    pub fn wait_status(&self, id: &str, want: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let s = self.status(id);
            if s == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "container {id} stayed {s}, expected {want}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn cleanup(&self, id: &str) {
        let _ = self.output(&["delete", "--force", id]);
    }
}
