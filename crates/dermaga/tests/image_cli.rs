//! The image commands through the built binary, each test with its own `--root`, compared with
//! podman where the output is podman's.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A private temporary directory, removed on drop (the binary crate has no tempfile).
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("dermaga-image-cli-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn dermaga(root: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dermaga"));
    c.arg("--root").arg(root);
    c
}

fn podman(dir: &Path) -> Command {
    let mut c = Command::new("podman");
    c.arg("--root")
        .arg(dir.join("podman-root"))
        .arg("--runroot")
        .arg(dir.join("podman-run"))
        .args(["--storage-driver", "vfs", "--events-backend", "none"])
        .env("TMPDIR", dir);
    c
}

fn out(mut c: Command) -> Output {
    c.output().unwrap_or_else(|e| panic!("running {c:?}: {e}"))
}

fn ok(c: Command) -> String {
    let dbg = format!("{c:?}");
    let o = out(c);
    assert!(
        o.status.success(),
        "{dbg} exited {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// A busybox root file system tarball (Debian's busybox-static), made with /bin/tar.
fn busybox_tarball(dir: &Path) -> PathBuf {
    assert!(
        Path::new("/usr/bin/busybox").exists(),
        "install busybox-static (scripts/test.sh does)"
    );
    let root = dir.join("rootfs");
    fs::create_dir_all(root.join("bin")).unwrap();
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::copy("/usr/bin/busybox", root.join("bin/busybox")).unwrap();
    for a in ["sh", "ls", "true"] {
        symlink("busybox", root.join("bin").join(a)).unwrap();
    }
    fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    let tarball = dir.join("busybox.tar");
    let st = Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&tarball)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success());
    tarball
}

#[test]
fn import_images_inspect_tag_rmi() {
    let t = TempDir::new();
    let root = t.path().join("root");
    let tarball = busybox_tarball(t.path());
    let mut c = dermaga(&root);
    c.arg("import").arg(&tarball).arg("busybox");
    let id = ok(c).trim().trim_start_matches("sha256:").to_string();
    assert_eq!(id.len(), 64);

    // The default table, as podman lays it out.
    let mut c = dermaga(&root);
    c.arg("images");
    let table = ok(c);
    let mut lines = table.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("REPOSITORY"), "{table}");
    for col in ["TAG", "IMAGE ID", "CREATED", "SIZE"] {
        assert!(header.contains(col), "{table}");
    }
    let row = lines.next().unwrap();
    assert!(
        row.starts_with("localhost/busybox  latest      "),
        "{table}"
    );
    assert!(row.contains(&id[..12]) && row.ends_with(" MB"), "{table}");

    // The same template gives the same answer as podman's for the same tarball.
    let mut c = podman(t.path());
    c.arg("import").arg("-q").arg(&tarball).arg("busybox");
    ok(c);
    let fmt = "{{.Repository}}|{{.Tag}}|{{.Size}}|{{.Names}}|{{.Labels}}";
    let mut c = dermaga(&root);
    c.args(["images", "--format", fmt]);
    let mine = ok(c);
    let mut c = podman(t.path());
    c.args(["images", "--format", fmt]);
    assert_eq!(mine, ok(c));

    let mut c = dermaga(&root);
    c.args(["images", "--format", "{{.ID}}\\t{{.Repository}}:{{.Tag}}"]);
    assert_eq!(ok(c), format!("{}\tlocalhost/busybox:latest\n", &id[..12]));
    let mut c = dermaga(&root);
    c.args(["images", "-q", "--no-trunc"]);
    assert_eq!(ok(c), format!("sha256:{id}\n"));
    let mut c = dermaga(&root);
    c.args(["images", "--format", "json"]);
    let json = ok(c);
    assert!(
        json.contains(&format!("\"Id\": \"{id}\"")) && json.contains("\"Names\": ["),
        "{json}"
    );

    // inspect: podman's shape.
    let mut c = dermaga(&root);
    c.args(["image", "inspect", "busybox"]);
    let inspect = ok(c);
    for key in [
        "\"Id\"",
        "\"Digest\"",
        "\"RepoTags\"",
        "\"Config\"",
        "\"RootFS\"",
        "\"Architecture\": \"amd64\"",
        "\"Os\": \"linux\"",
    ] {
        assert!(inspect.contains(key), "{key} missing: {inspect}");
    }
    let mut c = dermaga(&root);
    c.args([
        "image",
        "inspect",
        "--format",
        "{{.Id}} {{.Os}} {{json .RootFS.Type}}",
        "busybox",
    ]);
    assert_eq!(ok(c), format!("{id} linux \"layers\"\n"));

    // tag, rmi by name (untag), rmi by id.
    let mut c = dermaga(&root);
    c.args(["tag", "busybox", "bb:1", "quay.io/x/bb"]);
    ok(c);
    let mut c = dermaga(&root);
    c.args(["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    let names = ok(c);
    assert!(
        names.contains("localhost/bb:1") && names.contains("quay.io/x/bb:latest"),
        "{names}"
    );
    let mut c = dermaga(&root);
    c.args(["rmi", "bb:1"]);
    assert_eq!(ok(c), "Untagged: localhost/bb:1\n");
    // The top-level `untag` verb, as podman's: removes the named name only.
    let mut c = dermaga(&root);
    c.args(["tag", "busybox", "bb:2"]);
    ok(c);
    let mut c = dermaga(&root);
    c.args(["untag", "busybox", "bb:2"]);
    ok(c);
    let mut c = dermaga(&root);
    c.args(["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    let names = ok(c);
    assert!(
        !names.contains("localhost/bb:2") && names.contains("quay.io/x/bb:latest"),
        "{names}"
    );
    let mut c = dermaga(&root);
    c.args(["rmi", &id[..12]]);
    let o = out(c);
    assert_eq!(
        o.status.code(),
        Some(125),
        "several names: refused without -f"
    );
    let mut c = dermaga(&root);
    c.args(["rmi", "-f", &id[..12]]);
    let removed = ok(c);
    assert!(removed.contains(&format!("Deleted: {id}")), "{removed}");

    // Errors: podman's exit statuses, and a hint.
    let mut c = dermaga(&root);
    c.args(["rmi", "nosuch"]);
    assert_eq!(out(c).status.code(), Some(1));
    let mut c = dermaga(&root);
    c.args(["image", "inspect", "nosuch"]);
    let o = out(c);
    assert_eq!(o.status.code(), Some(125));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("dermaga images"),
        "{o:?}"
    );
}

#[test]
fn save_and_load_through_the_binary_and_podman() {
    let t = TempDir::new();
    let root = t.path().join("root");
    let tarball = busybox_tarball(t.path());
    let mut c = dermaga(&root);
    c.arg("import").arg(&tarball).arg("busybox");
    ok(c);
    for format in ["docker-archive", "oci-archive"] {
        let archive = t.path().join(format!("{format}.tar"));
        let mut c = dermaga(&root);
        c.args(["save", "--format", format, "-o"])
            .arg(&archive)
            .arg("busybox");
        ok(c);
        let mut c = podman(t.path());
        c.args(["load", "-i"]).arg(&archive);
        assert!(ok(c).contains("localhost/busybox:latest"));
        // Back again: podman's save into a second dermaga store, from standard input.
        let back = t.path().join(format!("back-{format}.tar"));
        let mut c = podman(t.path());
        c.args(["save", "--format", format, "-o"])
            .arg(&back)
            .arg("localhost/busybox:latest");
        ok(c);
        let mut c = dermaga(&t.path().join(format!("root-{format}")));
        c.arg("load").stdin(fs::File::open(&back).unwrap());
        assert_eq!(ok(c), "Loaded image: localhost/busybox:latest\n");
    }
}

/// `dermaga load` killed with SIGKILL at a spread of moments: the store stays consistent
/// (checked by the image store's own check), each image is wholly there or absent, and a
/// repair leaves no garbage.
#[test]
fn sigkill_during_dermaga_load_leaves_a_consistent_store() {
    use dermaga_image::ImageStore;
    use std::time::{Duration, Instant};
    let t = TempDir::new();
    let src_root = t.path().join("src");
    let mut names = Vec::new();
    for i in 0..12 {
        let dir = t.path().join(format!("img{i}"));
        let rootfs = dir.join("rootfs");
        fs::create_dir_all(rootfs.join(format!("opt/{i}"))).unwrap();
        fs::copy("/usr/bin/busybox", rootfs.join(format!("opt/{i}/busybox"))).unwrap();
        let tarball = dir.join("l.tar");
        let st = Command::new("tar")
            .arg("-C")
            .arg(&rootfs)
            .arg("-cf")
            .arg(&tarball)
            .arg(".")
            .status()
            .unwrap();
        assert!(st.success());
        let mut c = dermaga(&src_root);
        c.arg("import").arg(&tarball).arg(format!("img{i}"));
        ok(c);
        names.push(format!("img{i}"));
    }
    let archive = t.path().join("all.tar");
    let mut c = dermaga(&src_root);
    c.args(["save", "-o"]).arg(&archive).args(&names);
    ok(c);

    let root = t.path().join("root");
    let mut killed_mid_way = 0;
    for round in 0..6u64 {
        let mut child = dermaga(&root)
            .arg("load")
            .arg("-i")
            .arg(&archive)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Readiness: the load has begun staging into tmp/, or has finished.
        let deadline = Instant::now() + Duration::from_secs(60);
        while !fs::read_dir(root.join("tmp"))
            .map(|d| d.count() > 0)
            .unwrap_or(false)
            && child.try_wait().unwrap().is_none()
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(round * 10));
        if child.try_wait().unwrap().is_none() {
            killed_mid_way += 1;
        }
        let _ = child.kill();
        let _ = child.wait();
        let store = ImageStore::open(&root).unwrap();
        let report = store.check(false).unwrap();
        assert!(report.is_consistent(), "round {round}: {report:?}");
        for n in &names {
            if let Ok(img) = store.resolve(n) {
                assert!(
                    img.layer_dirs
                        .iter()
                        .all(|d| d.join(format!("opt/{}/busybox", &n[3..])).is_file()),
                    "{n} half there"
                );
            }
        }
        let repaired = store.check(true).unwrap();
        assert!(repaired.remaining.is_empty(), "round {round}: {repaired:?}");
        let mut c = dermaga(&root);
        c.args(["rmi", "-a", "-f"]);
        ok(c);
        let clean = store.check(false).unwrap();
        assert!(
            clean.is_consistent() && clean.garbage.is_empty(),
            "round {round}: {clean:?}"
        );
    }
    assert!(killed_mid_way > 0, "no round killed the load mid-way");
    let mut c = dermaga(&root);
    c.args(["load", "-i"]).arg(&archive);
    assert_eq!(ok(c).lines().count(), 12);
}

/// `rmi` keeps an image a container uses (exit 2, as podman), and removes it once the
/// container is gone.
#[test]
fn rmi_refuses_an_image_a_container_uses() {
    let t = TempDir::new();
    let root = t.path().join("root");
    let tarball = busybox_tarball(t.path());
    let mut c = dermaga(&root);
    c.arg("import").arg(&tarball).arg("busybox");
    ok(c);
    let mut c = dermaga(&root);
    c.args(["create", "--name", "holder", "busybox", "/bin/true"]);
    ok(c);
    let mut c = dermaga(&root);
    c.args(["rmi", "busybox"]);
    let o = out(c);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("holder"),
        "{o:?}"
    );
    let mut c = dermaga(&root);
    c.args(["image", "prune", "-a"]);
    assert_eq!(ok(c), "", "prune keeps a used image");
    let mut c = dermaga(&root);
    c.args(["rm", "holder"]);
    ok(c);
    let mut c = dermaga(&root);
    c.args(["rmi", "busybox"]);
    assert!(ok(c).contains("Deleted: "));
}

#[test]
fn system_df_counts_images_containers_and_volumes_as_podman_does() {
    let dir = TempDir::new();
    let root = dir.path().join("root");
    let tar = busybox_tarball(dir.path());
    let header = "TYPE           TOTAL       ACTIVE      SIZE        RECLAIMABLE";
    let mut c = dermaga(&root);
    c.arg("import").arg(&tar).arg("localhost/df:1");
    ok(c);
    let mut c = dermaga(&root);
    c.args(["system", "df"]);
    let before = ok(c);
    let lines: Vec<&str> = before.lines().collect();
    assert_eq!(lines[0], header, "{before}");
    let image_line: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(&image_line[..3], ["Images", "1", "0"], "{before}");
    assert!(
        image_line[4].ends_with("(100%)") || image_line[5] == "(100%)",
        "an unused image is reclaimable: {before}"
    );
    assert_eq!(
        lines[2],
        "Containers     0           0           0B          0B (0%)"
    );
    assert_eq!(
        lines[3],
        "Local Volumes  0           0           0B          0B (0%)"
    );

    // A stopped container that wrote 3 bytes, and a volume holding 300,000.
    let mut c = dermaga(&root);
    c.args([
        "run",
        "--name",
        "writer",
        "-v",
        "vol1:/data",
        "localhost/df:1",
        "/bin/sh",
        "-c",
        "head -c 300000 /dev/zero > /data/f && echo hi > /big",
    ]);
    ok(c);
    let mut c = dermaga(&root);
    c.args(["system", "df"]);
    let after = ok(c);
    let lines: Vec<&str> = after.lines().collect();
    assert!(
        lines[1].starts_with("Images         1           1 "),
        "{after}"
    );
    assert!(
        lines[1].ends_with("0B (0%)"),
        "a used image is not reclaimable: {after}"
    );
    assert_eq!(
        lines[2], "Containers     1           0           3B          3B (100%)",
        "{after}"
    );
    assert_eq!(
        lines[3], "Local Volumes  1           1           300kB       0B (0%)",
        "{after}"
    );

    // What is not supported is said, not ignored.
    let mut c = dermaga(&root);
    c.args(["system", "df", "-v"]);
    let o = out(c);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--verbose is not supported"));
}
