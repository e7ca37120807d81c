//! Archives against the real peers: podman loads what dermaga saves (and the reverse), in both
//! docker-archive and oci-archive formats, and skopeo accepts what dermaga writes.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use dermaga_image::{ArchiveFormat, ImageStore};

/// podman with a private store under `dir` (vfs: no mounts to leave behind).
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

fn run(mut c: Command) -> Output {
    let out = c.output().unwrap_or_else(|e| {
        panic!("running {c:?}: {e} (is it installed? scripts/test.sh installs it)")
    });
    assert!(
        out.status.success(),
        "{c:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(c: Command) -> String {
    String::from_utf8(run(c).stdout).unwrap()
}

fn dermaga_save_then_podman_load(
    format: ArchiveFormat,
    podman_format: &str,
    skopeo_transport: &str,
) {
    let t = tempfile::tempdir().unwrap();
    let tarball = common::busybox_tarball(t.path());
    let store = ImageStore::open(&t.path().join("store")).unwrap();
    let id = store.import_tarball(&tarball, "busybox").unwrap();
    store.tag("busybox", "quay.io/dermaga/bb:1").unwrap();
    let archive = t.path().join(format!("{podman_format}.tar"));
    store
        .save(&["busybox".to_string()], format, &archive)
        .unwrap();

    // skopeo reads it and sees the one layer and the config.
    let mut c = Command::new("skopeo");
    c.args(["inspect", "--raw"])
        .arg(format!("{skopeo_transport}:{}", archive.display()));
    let raw = stdout(c);
    assert!(raw.contains("\"layers\""), "skopeo --raw: {raw}");
    let mut c = Command::new("skopeo");
    c.args(["inspect", "--config"])
        .arg(format!("{skopeo_transport}:{}", archive.display()));
    let config = stdout(c);
    assert!(config.contains("diff_ids"), "skopeo --config: {config}");

    // podman loads it under the same name and the same image id.
    let mut c = podman(t.path());
    c.args(["load", "-i"]).arg(&archive);
    let loaded = stdout(c);
    assert!(
        loaded.contains("localhost/busybox:latest"),
        "podman load said: {loaded}"
    );
    let mut c = podman(t.path());
    c.args([
        "images",
        "--no-trunc",
        "--format",
        "{{.Repository}}:{{.Tag}} {{.ID}}",
    ]);
    let images = stdout(c);
    assert!(
        images.contains(&format!("localhost/busybox:latest sha256:{id}")),
        "podman images: {images}"
    );

    // And podman sees the files: mount the image's root file system through podman.
    let mut c = podman(t.path());
    c.args(["image", "mount", "localhost/busybox:latest"]);
    let mnt = stdout(c);
    let mnt = Path::new(mnt.trim());
    assert!(
        mnt.join("bin/busybox").is_file(),
        "podman's view of the image lacks bin/busybox"
    );
    let mut c = podman(t.path());
    c.args(["image", "unmount", "localhost/busybox:latest"]);
    run(c);
}

#[test]
fn podman_loads_dermaga_docker_archive() {
    dermaga_save_then_podman_load(
        ArchiveFormat::DockerArchive,
        "docker-archive",
        "docker-archive",
    );
}

#[test]
fn podman_loads_dermaga_oci_archive() {
    dermaga_save_then_podman_load(ArchiveFormat::OciArchive, "oci-archive", "oci-archive");
}

fn podman_save_then_dermaga_load(podman_format: &str) {
    let t = tempfile::tempdir().unwrap();
    let tarball = common::busybox_tarball(t.path());
    let mut c = podman(t.path());
    c.args(["import", "-q", "--change", "CMD [\"/bin/sh\"]"])
        .arg(&tarball)
        .arg("busybox");
    let pid = stdout(c).trim().trim_start_matches("sha256:").to_string();
    let archive = t.path().join("podman.tar");
    let mut c = podman(t.path());
    c.args(["save", "--format", podman_format, "-o"])
        .arg(&archive)
        .arg("localhost/busybox:latest");
    run(c);

    let store = ImageStore::open(&t.path().join("store")).unwrap();
    let loaded = store.load(Some(&archive)).unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].id, pid, "same image id as podman's");
    assert_eq!(
        loaded[0].names,
        vec!["localhost/busybox:latest".to_string()]
    );
    let img = store.resolve("busybox").unwrap();
    assert_eq!(img.id, pid);
    assert!(img.layer_dirs[0].join("bin/busybox").is_file());
    assert_eq!(
        std::fs::read_link(img.layer_dirs[0].join("bin/sh")).unwrap(),
        Path::new("busybox")
    );
    assert_eq!(
        img.config
            .config()
            .as_ref()
            .unwrap()
            .cmd()
            .as_ref()
            .unwrap(),
        &vec!["/bin/sh".to_string()]
    );

    // Loading it again is a no-op that keeps the image; a second store round-trips it.
    assert_eq!(store.load(Some(&archive)).unwrap()[0].id, pid);
    let again = t.path().join("again.tar");
    store
        .save(
            &["busybox".to_string()],
            podman_format.parse().unwrap(),
            &again,
        )
        .unwrap();
    let other = ImageStore::open(&t.path().join("store2")).unwrap();
    assert_eq!(other.load(Some(&again)).unwrap()[0].id, pid);
    assert_eq!(
        other.resolve("busybox").unwrap().digest,
        img.digest,
        "the manifest survives a round trip"
    );
}

#[test]
fn dermaga_loads_podman_docker_archive() {
    podman_save_then_dermaga_load("docker-archive");
}

#[test]
fn dermaga_loads_podman_oci_archive() {
    podman_save_then_dermaga_load("oci-archive");
}

#[test]
fn compressed_archives_and_multi_image_docker_archives_load() {
    let t = tempfile::tempdir().unwrap();
    let tarball = common::busybox_tarball(t.path());
    let store = ImageStore::open(&t.path().join("store")).unwrap();
    let a = store.import_tarball(&tarball, "one").unwrap();
    let other_root = common::busybox_rootfs(&t.path().join("b"));
    std::fs::write(other_root.join("etc/hostname"), "two\n").unwrap();
    let tb = t.path().join("two.tar");
    common::tar_dir(&other_root, &tb);
    let b = store.import_tarball(&tb, "two").unwrap();
    let archive = t.path().join("multi.tar");
    store
        .save(
            &["one".to_string(), "two".to_string()],
            ArchiveFormat::DockerArchive,
            &archive,
        )
        .unwrap();
    let gz = t.path().join("multi.tar.gz");
    let mut c = Command::new("gzip");
    c.args(["-k", "-1"]).arg(&archive);
    run(c);
    let fresh = ImageStore::open(&t.path().join("fresh")).unwrap();
    let loaded = fresh.load(Some(&gz)).unwrap();
    let ids: Vec<&str> = loaded.iter().map(|l| l.id.as_str()).collect();
    assert_eq!(ids, vec![a.as_str(), b.as_str()]);
    assert!(fresh.resolve("two").unwrap().layer_dirs[0]
        .join("etc/hostname")
        .exists());
    // podman reads the multi-image archive too.
    let mut c = podman(t.path());
    c.args(["load", "-i"]).arg(&archive);
    let out = stdout(c);
    assert!(
        out.contains("localhost/one:latest") && out.contains("localhost/two:latest"),
        "podman load: {out}"
    );
}
