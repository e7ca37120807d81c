//! Layer extraction through real archives: whiteouts and opaque directories (checked through a
//! real overlay mount), ownership, modes, hard links, xattrs, compression, and path-escape
//! attempts.

mod common;

use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::process::Command;

use common::TarBuilder;
use dermaga_image::digest::sha256_digest;
use dermaga_image::ImageStore;

/// A docker-archive with the given layer tars (lowest first), named `name`.
fn docker_archive(path: &Path, name: &str, layers: &[Vec<u8>]) {
    docker_archive_with(path, name, layers, false)
}

/// With `swap`, the manifest lists the layer files in reverse: each fails its diff id.
fn docker_archive_with(path: &Path, name: &str, layers: &[Vec<u8>], swap: bool) {
    let diff_ids: Vec<String> = layers.iter().map(|l| sha256_digest(l)).collect();
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{"Cmd":["/bin/sh"]}},"rootfs":{{"type":"layers","diff_ids":[{}]}}}}"#,
        diff_ids
            .iter()
            .map(|d| format!("\"{d}\""))
            .collect::<Vec<_>>()
            .join(",")
    );
    let config_hex = sha256_digest(config.as_bytes())["sha256:".len()..].to_string();
    let mut b = tar::Builder::new(fs::File::create(path).unwrap());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, data).unwrap();
    };
    let mut layer_names = Vec::new();
    for (l, d) in layers.iter().zip(&diff_ids) {
        let n = format!("{}.tar", &d["sha256:".len()..]);
        add(&n, l);
        layer_names.push(format!("\"{n}\""));
    }
    add(&format!("{config_hex}.json"), config.as_bytes());
    if swap {
        layer_names.reverse();
    }
    let manifest = format!(
        r#"[{{"Config":"{config_hex}.json","RepoTags":["{name}"],"Layers":[{}]}}]"#,
        layer_names.join(",")
    );
    add("manifest.json", manifest.as_bytes());
    b.into_inner().unwrap().flush().unwrap();
}

fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    match rustix::fs::lgetxattr(path, name, &mut buf[..]) {
        Ok(n) => Some(buf[..n].to_vec()),
        Err(_) => None,
    }
}

#[test]
fn whiteouts_and_opaque_dirs_become_overlay_ones() {
    let t = tempfile::tempdir().unwrap();
    let lower = TarBuilder::new()
        .dir("a/")
        .file("a/keep", b"keep")
        .file("a/gone", b"gone")
        .dir("o/")
        .file("o/old", b"old")
        .dir("o/sub/")
        .file("o/sub/deep", b"deep")
        .finish();
    let upper = TarBuilder::new()
        .dir("a/")
        .file("a/.wh.gone", b"")
        .dir("o/")
        .file("o/.wh..wh..opq", b"")
        .file("o/new", b"new")
        .finish();
    let archive = t.path().join("two.tar");
    docker_archive(&archive, "two:layers", &[lower, upper]);
    let store = ImageStore::open(&t.path().join("store")).unwrap();
    let loaded = store.load(Some(&archive)).unwrap();
    assert_eq!(
        loaded[0].names,
        vec!["docker.io/library/two:layers".to_string()]
    );
    let img = store.resolve("two:layers").unwrap();
    assert_eq!(img.layer_dirs.len(), 2);
    let top = &img.layer_dirs[1];
    let wh = fs::symlink_metadata(top.join("a/gone")).unwrap();
    assert!(
        wh.file_type().is_char_device(),
        "whiteout is a character device"
    );
    assert_eq!(wh.rdev(), 0, "whiteout is 0:0");
    assert!(!top.join("a/.wh.gone").exists());
    assert!(!top.join("o/.wh..wh..opq").exists());
    assert_eq!(
        xattr(&top.join("o"), "trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
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

    // Through a real overlay mount, as a container sees it.
    let mnt = t.path().join("mnt");
    let work = t.path().join("work");
    let upperdir = t.path().join("upper");
    for d in [&mnt, &work, &upperdir] {
        fs::create_dir(d).unwrap();
    }
    let lowers: Vec<String> = img
        .layer_links
        .iter()
        .rev()
        .map(|p| p.display().to_string())
        .collect();
    let opts = format!(
        "lowerdir={},upperdir={},workdir={}",
        lowers.join(":"),
        upperdir.display(),
        work.display()
    );
    let st = Command::new("mount")
        .current_dir(&img.store_root)
        .args(["-t", "overlay", "overlay", "-o", &opts])
        .arg(&mnt)
        .status()
        .expect("running mount");
    assert!(
        st.success(),
        "overlay mount with short lower links failed (needs root and overlayfs)"
    );
    // Unmount even when an assertion fails.
    let seen = std::panic::catch_unwind(|| {
        assert_eq!(fs::read(mnt.join("a/keep")).unwrap(), b"keep");
        assert!(!mnt.join("a/gone").exists(), "whited-out file hidden");
        assert!(
            !mnt.join("o/old").exists(),
            "opaque dir hides the lower content"
        );
        assert!(
            !mnt.join("o/sub").exists(),
            "opaque dir hides lower subdirectories"
        );
        assert_eq!(fs::read(mnt.join("o/new")).unwrap(), b"new");
    });
    let _ = Command::new("umount").arg(&mnt).status();
    if let Err(panic) = seen {
        std::panic::resume_unwind(panic);
    }
}

#[test]
fn ownership_modes_links_xattrs_and_times_are_kept() {
    let t = tempfile::tempdir().unwrap();
    // Built by hand: setuid file owned by 1000:1000, a hard link, an xattr, a fifo, a device.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o750);
    h.set_uid(1000);
    h.set_gid(1000);
    h.set_mtime(1_600_000_000);
    h.set_size(0);
    b.append_data(&mut h, "home/", &[][..]).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o4755);
    h.set_uid(1000);
    h.set_gid(1001);
    h.set_mtime(1_500_000_000);
    h.set_size(5);
    b.append_pax_extensions([("SCHILY.xattr.user.note", &b"hello"[..]), ("SCHILY.xattr.security.capability", &b"\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"[..])]).unwrap();
    b.append_data(&mut h, "home/tool", &b"tool\n"[..]).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Link);
    h.set_size(0);
    h.set_mode(0o4755);
    b.append_link(&mut h, "home/tool-link", "home/tool")
        .unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Fifo);
    h.set_mode(0o600);
    h.set_size(0);
    b.append_data(&mut h, "home/fifo", &[][..]).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Char);
    h.set_mode(0o666);
    h.set_device_major(1).unwrap();
    h.set_device_minor(3).unwrap();
    h.set_size(0);
    b.append_data(&mut h, "dev/null", &[][..]).unwrap();
    let layer = b.into_inner().unwrap();

    // zstd-compressed this time.
    let zst = zstd::encode_all(&layer[..], 3).unwrap();
    let tarball = t.path().join("layer.tar.zst");
    fs::write(&tarball, &zst).unwrap();
    let store = ImageStore::open(&t.path().join("store")).unwrap();
    let id = store.import_tarball(&tarball, "meta").unwrap();
    let img = store.resolve(&id).unwrap();
    let d = &img.layer_dirs[0];
    let tool = fs::metadata(d.join("home/tool")).unwrap();
    assert_eq!((tool.uid(), tool.gid()), (1000, 1001));
    assert_eq!(tool.mode() & 0o7777, 0o4755, "setuid kept");
    assert_eq!(tool.mtime(), 1_500_000_000);
    let home = fs::metadata(d.join("home")).unwrap();
    assert_eq!(
        (home.mode() & 0o7777, home.uid(), home.mtime()),
        (0o750, 1000, 1_600_000_000)
    );
    let link = fs::metadata(d.join("home/tool-link")).unwrap();
    assert_eq!(link.ino(), tool.ino(), "hard link kept");
    assert_eq!(
        xattr(&d.join("home/tool"), "user.note").as_deref(),
        Some(&b"hello"[..])
    );
    assert!(
        xattr(&d.join("home/tool"), "security.capability").is_some(),
        "file capability kept"
    );
    assert!(fs::symlink_metadata(d.join("home/fifo"))
        .unwrap()
        .file_type()
        .is_fifo());
    let null = fs::symlink_metadata(d.join("dev/null")).unwrap();
    assert!(null.file_type().is_char_device());
    assert_eq!(null.rdev(), rustix::fs::makedev(1, 3));
    // The stored blob is the zstd one, and the manifest says so.
    let info = store.info(&id).unwrap();
    assert_eq!(
        info.layers[0].media_type,
        "application/vnd.oci.image.layer.v1.tar+zstd"
    );
    assert_eq!(info.layers[0].diff_id, sha256_digest(&layer));
}

#[test]
fn gzip_layers_import() {
    let t = tempfile::tempdir().unwrap();
    let tarball = common::busybox_tarball(t.path());
    let gz = t.path().join("busybox.tar.gz");
    let mut enc =
        flate2::write::GzEncoder::new(fs::File::create(&gz).unwrap(), flate2::Compression::fast());
    enc.write_all(&fs::read(&tarball).unwrap()).unwrap();
    enc.finish().unwrap();
    let store = ImageStore::open(&t.path().join("store")).unwrap();
    let a = store.import_tarball(&gz, "gz").unwrap();
    let info = store.info(&a).unwrap();
    assert_eq!(
        info.layers[0].media_type,
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    assert_eq!(
        info.layers[0].diff_id,
        sha256_digest(&fs::read(&tarball).unwrap())
    );
    assert!(store.resolve("gz").unwrap().layer_dirs[0]
        .join("bin/busybox")
        .exists());
}

/// Each escape attempt is refused, and nothing outside the layer is touched.
#[test]
fn path_escapes_are_refused() {
    let t = tempfile::tempdir().unwrap();
    let outside = t.path().join("outside");
    fs::create_dir(&outside).unwrap();
    let store = ImageStore::open(&t.path().join("store")).unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "dot-dot",
            TarBuilder::new()
                .file("../../../outside/pwned", b"x")
                .finish(),
        ),
        (
            "dot-dot inside",
            TarBuilder::new()
                .dir("a/")
                .file("a/../../outside/pwned", b"x")
                .finish(),
        ),
        (
            "absolute",
            TarBuilder::new()
                .file(&format!("{}/pwned", outside.display()), b"x")
                .finish(),
        ),
        (
            "symlink then write through it",
            TarBuilder::new()
                .symlink("evil", outside.to_str().unwrap())
                .file("evil/pwned", b"x")
                .finish(),
        ),
        (
            "relative symlink then write through it",
            TarBuilder::new()
                .dir("d/")
                .symlink("d/up", "../../../../outside")
                .file("d/up/pwned", b"x")
                .finish(),
        ),
        (
            "symlink dir then mkdir through it",
            TarBuilder::new()
                .symlink("evil", outside.to_str().unwrap())
                .dir("evil/sub/")
                .finish(),
        ),
        (
            "hard link to a file outside",
            TarBuilder::new()
                .hardlink("stolen", "../../../../../../etc/passwd")
                .finish(),
        ),
        (
            "hard link through a symlink",
            TarBuilder::new()
                .symlink("etc", "/etc")
                .hardlink("stolen", "etc/passwd")
                .finish(),
        ),
        (
            "whiteout through a symlink",
            TarBuilder::new()
                .symlink("evil", outside.to_str().unwrap())
                .file("evil/.wh.x", b"")
                .finish(),
        ),
    ];
    for (what, layer) in cases {
        let p = t.path().join("bad.tar");
        fs::write(&p, &layer).unwrap();
        let e = store.import_tarball(&p, "bad").expect_err(what);
        let msg = e.to_string();
        assert!(
            msg.contains("refused") || msg.contains("escape") || msg.contains("symbolic link"),
            "{what}: {msg}"
        );
        assert_eq!(
            fs::read_dir(&outside).unwrap().count(),
            0,
            "{what}: wrote outside the layer"
        );
        assert!(store.resolve("bad").is_err(), "{what}: no image recorded");
    }
    // Nothing half-done stays behind.
    let report = store.check(false).unwrap();
    assert!(report.is_consistent(), "{report:?}");
    assert!(report.garbage.is_empty(), "{report:?}");
}

/// A container's upper directory (made by a real overlay mount: a file deleted, a directory
/// replaced) becomes a layer tar with OCI whiteouts, and that tar extracts back to the same
/// overlay whiteouts.
#[test]
fn upper_dir_diffs_into_a_layer_with_whiteouts() {
    let t = tempfile::tempdir().unwrap();
    let tarball = common::busybox_tarball(t.path());
    let store = ImageStore::open(&t.path().join("store")).unwrap();
    store.import_tarball(&tarball, "base").unwrap();
    let img = store.resolve("base").unwrap();
    let (mnt, work, upper) = (
        t.path().join("mnt"),
        t.path().join("work"),
        t.path().join("upper"),
    );
    for d in [&mnt, &work, &upper] {
        fs::create_dir(d).unwrap();
    }
    let opts = format!(
        "lowerdir={},upperdir={},workdir={}",
        img.layer_dirs[0].display(),
        upper.display(),
        work.display()
    );
    let st = Command::new("mount")
        .args(["-t", "overlay", "overlay", "-o", &opts])
        .arg(&mnt)
        .status()
        .unwrap();
    assert!(
        st.success(),
        "overlay mount failed (needs root and overlayfs)"
    );
    let changed = std::panic::catch_unwind(|| {
        fs::remove_file(mnt.join("etc/passwd")).unwrap();
        fs::remove_dir_all(mnt.join("tmp")).unwrap();
        fs::create_dir(mnt.join("tmp")).unwrap(); // replaced: overlay makes it opaque
        fs::write(mnt.join("tmp/new"), b"new").unwrap();
        fs::hard_link(mnt.join("tmp/new"), mnt.join("tmp/new2")).unwrap();
    });
    let _ = Command::new("umount").arg(&mnt).status();
    if let Err(p) = changed {
        std::panic::resume_unwind(p);
    }
    let mut buf = Vec::new();
    dermaga_image::layer::write_layer_tar(&upper, &mut buf).unwrap();
    let mut names = Vec::new();
    for e in tar::Archive::new(&buf[..]).entries().unwrap() {
        let e = e.unwrap();
        names.push((
            e.path().unwrap().display().to_string(),
            e.header().entry_type(),
        ));
    }
    let has = |n: &str| names.iter().any(|(p, _)| p == n);
    assert!(has("etc/.wh.passwd"), "{names:?}");
    assert!(has("tmp/.wh..wh..opq"), "{names:?}");
    assert!(
        names
            .iter()
            .any(|(p, k)| p == "tmp/new2" && *k == tar::EntryType::Link),
        "{names:?}"
    );
    // Deterministic.
    let mut again = Vec::new();
    dermaga_image::layer::write_layer_tar(&upper, &mut again).unwrap();
    assert_eq!(buf, again);
    // Extracting it gives overlay whiteouts back.
    let out = t.path().join("extracted");
    fs::create_dir(&out).unwrap();
    dermaga_image::layer::extract(&buf[..], &out, "diff").unwrap();
    let wh = fs::symlink_metadata(out.join("etc/passwd")).unwrap();
    assert!(wh.file_type().is_char_device() && wh.rdev() == 0);
    assert_eq!(
        xattr(&out.join("tmp"), "trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
    assert_eq!(
        fs::metadata(out.join("tmp/new")).unwrap().ino(),
        fs::metadata(out.join("tmp/new2")).unwrap().ino()
    );
}

#[test]
fn a_layer_that_fails_its_diff_id_is_refused_and_leaves_nothing() {
    let t = tempfile::tempdir().unwrap();
    let layers: Vec<Vec<u8>> = (0..4)
        .map(|i| {
            TarBuilder::new()
                .file(&format!("f{i}"), format!("{i}").as_bytes())
                .finish()
        })
        .collect();
    let archive = t.path().join("bad.tar");
    docker_archive_with(&archive, "bad", &layers, true);
    let store = ImageStore::open(&t.path().join("store")).unwrap();
    let e = store.load(Some(&archive)).unwrap_err();
    assert!(e.to_string().contains("digest mismatch"), "{e}");
    assert!(store.list().unwrap().is_empty());
    let r = store.check(false).unwrap();
    assert!(r.is_consistent() && r.garbage.is_empty(), "{r:?}");
    // The right archive loads, all four layers in order.
    let good = t.path().join("good.tar");
    docker_archive(&good, "good", &layers);
    store.load(Some(&good)).unwrap();
    let img = store.resolve("good").unwrap();
    for (i, d) in img.layer_dirs.iter().enumerate() {
        assert_eq!(
            fs::read_to_string(d.join(format!("f{i}"))).unwrap(),
            i.to_string()
        );
    }
}

/// An image of 150 layers mounts through the short links: the overlay options stay under the
/// page-size limit that the full layer paths would exceed.
#[test]
fn an_image_of_150_layers_mounts_through_short_links() {
    let t = tempfile::tempdir().unwrap();
    let layers: Vec<Vec<u8>> = (0..150)
        .map(|i| {
            TarBuilder::new()
                .dir("l/")
                .file(&format!("l/{i}"), format!("{i}").as_bytes())
                .finish()
        })
        .collect();
    let archive = t.path().join("tall.tar");
    docker_archive(&archive, "tall", &layers);
    let store = ImageStore::open(&t.path().join("store")).unwrap();
    store.load(Some(&archive)).unwrap();
    let img = store.resolve("tall").unwrap();
    assert_eq!(img.layer_links.len(), 150);
    let full: usize = img.layer_dirs.iter().map(|d| d.as_os_str().len() + 1).sum();
    assert!(
        full > 4096,
        "the full paths alone would not fit ({full} bytes)"
    );
    let lowers: Vec<String> = img
        .layer_links
        .iter()
        .rev()
        .map(|p| p.display().to_string())
        .collect();
    let (mnt, work, upper) = (
        t.path().join("mnt"),
        t.path().join("work"),
        t.path().join("upper"),
    );
    for d in [&mnt, &work, &upper] {
        fs::create_dir(d).unwrap();
    }
    let opts = format!(
        "lowerdir={},upperdir={},workdir={}",
        lowers.join(":"),
        upper.display(),
        work.display()
    );
    assert!(opts.len() < 4096, "options are {} bytes", opts.len());
    let st = Command::new("mount")
        .current_dir(&img.store_root)
        .args(["-t", "overlay", "overlay", "-o", &opts])
        .arg(&mnt)
        .status()
        .unwrap();
    assert!(st.success(), "overlay mount of 150 layers failed");
    let seen = std::panic::catch_unwind(|| {
        assert_eq!(fs::read_dir(mnt.join("l")).unwrap().count(), 150);
        assert_eq!(fs::read_to_string(mnt.join("l/0")).unwrap(), "0");
        assert_eq!(fs::read_to_string(mnt.join("l/149")).unwrap(), "149");
    });
    let _ = Command::new("umount").arg(&mnt).status();
    if let Err(p) = seen {
        std::panic::resume_unwind(p);
    }
}
