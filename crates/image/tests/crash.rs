//! Crash safety: a `load` killed with SIGKILL at any moment leaves a store that `check` finds
//! consistent; damage done behind the store's back is found and repaired; concurrent loads
//! are safe.
//!
//! The child that gets killed is this test binary re-executed (never a fork of the threaded
//! harness), running `child_load` with the store and archive named in its environment.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dermaga_image::{ArchiveFormat, ImageError, ImageStore};

const ROOT_ENV: &str = "DERMAGA_IMAGE_TEST_CHILD_ROOT";
const ARCHIVE_ENV: &str = "DERMAGA_IMAGE_TEST_CHILD_ARCHIVE";

/// The child's side: load the archive into the store. Does nothing when run as a normal test.
#[test]
fn child_load() {
    let (Some(root), Some(archive)) = (std::env::var_os(ROOT_ENV), std::env::var_os(ARCHIVE_ENV))
    else {
        return;
    };
    let store = ImageStore::open(Path::new(&root)).unwrap();
    store.load(Some(Path::new(&archive))).unwrap();
}

/// An archive of one image with many layers (busybox under a different path in each), so a
/// load takes long enough to be killed in the middle.
fn many_layer_archive(dir: &Path, layers: usize) -> (PathBuf, String) {
    let build = dir.join("build");
    let store = ImageStore::open(&build).unwrap();
    // Build a docker-archive by hand from `layers` layer tars.
    let mut layer_tars = Vec::new();
    for i in 0..layers {
        let root = dir.join(format!("l{i}"));
        fs::create_dir_all(root.join(format!("opt/l{i}"))).unwrap();
        fs::copy(common::BUSYBOX, root.join(format!("opt/l{i}/busybox"))).unwrap();
        fs::write(root.join(format!("opt/l{i}/id")), format!("{i}\n")).unwrap();
        let t = dir.join(format!("l{i}.tar"));
        common::tar_dir(&root, &t);
        layer_tars.push(fs::read(&t).unwrap());
    }
    let diff_ids: Vec<String> = layer_tars
        .iter()
        .map(|l| dermaga_image::digest::sha256_digest(l))
        .collect();
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    })
    .to_string();
    let config_hex = dermaga_image::digest::sha256_digest(config.as_bytes())[7..].to_string();
    let archive = dir.join("many.tar");
    let mut b = tar::Builder::new(fs::File::create(&archive).unwrap());
    let mut names = Vec::new();
    for (l, d) in layer_tars.iter().zip(&diff_ids) {
        let n = format!("{}.tar", &d[7..]);
        let mut h = tar::Header::new_ustar();
        h.set_size(l.len() as u64);
        h.set_mode(0o444);
        b.append_data(&mut h, &n, &l[..]).unwrap();
        names.push(n);
    }
    for (name, data) in [
        (format!("{config_hex}.json"), config.clone().into_bytes()),
        (
            "manifest.json".to_string(),
            serde_json::json!([{"Config": format!("{config_hex}.json"), "RepoTags": ["many:latest"], "Layers": names}])
                .to_string()
                .into_bytes(),
        ),
    ] {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o444);
        b.append_data(&mut h, &name, &data[..]).unwrap();
    }
    b.into_inner().unwrap();
    drop(store);
    (archive, config_hex)
}

fn spawn_child(root: &Path, archive: &Path) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_load", "--nocapture", "--test-threads=1"])
        .env(ROOT_ENV, root)
        .env(ARCHIVE_ENV, archive)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Whether the image is wholly there (every layer directory present) or wholly absent.
fn all_or_nothing(store: &ImageStore, id: &str) -> bool {
    match store.resolve(id) {
        Ok(img) => {
            assert!(
                img.layer_dirs.iter().all(|d| d.is_dir()),
                "a recorded image lacks a layer dir"
            );
            assert!(
                img.layer_links
                    .iter()
                    .all(|l| img.store_root.join(l).is_dir()),
                "a recorded image lacks a short link"
            );
            true
        }
        Err(ImageError::NotFound { .. }) => false,
        Err(e) => panic!("resolve after a kill: {e}"),
    }
}

#[test]
fn sigkill_during_load_leaves_a_consistent_store() {
    let t = tempfile::tempdir().unwrap();
    let (archive, id) = many_layer_archive(t.path(), 24);
    let root = t.path().join("store");
    ImageStore::open(&root).unwrap();
    let mut complete_seen = 0;
    let mut killed_mid_way = 0;
    // Kill at a spread of moments after the child has started writing into tmp/.
    for round in 0..8u64 {
        let mut child = spawn_child(&root, &archive);
        let deadline = Instant::now() + Duration::from_secs(60);
        // Readiness: the child has begun staging (a file in tmp/) or has already finished.
        loop {
            let busy = fs::read_dir(root.join("tmp"))
                .map(|d| d.count() > 0)
                .unwrap_or(false);
            if busy || child.try_wait().unwrap().is_some() || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        // Spread the kill over the load: 0, 15, 30, ... ms after it started writing.
        std::thread::sleep(Duration::from_millis(round * 15));
        let finished = child.try_wait().unwrap().is_some();
        let _ = child.kill();
        let _ = child.wait();
        if !finished {
            killed_mid_way += 1;
        }
        let store = ImageStore::open(&root).unwrap();
        let report = store.check(false).unwrap();
        assert!(report.is_consistent(), "round {round}: {report:?}");
        if all_or_nothing(&store, &id) {
            complete_seen += 1;
            // Start the next round from an empty store again.
            store
                .remove(&id, true, &dermaga_image::NoImageUsers)
                .unwrap();
        }
        let repaired = store.check(true).unwrap();
        assert!(repaired.is_consistent(), "round {round}: {repaired:?}");
        let clean = store.check(false).unwrap();
        assert!(
            clean.garbage.is_empty() && clean.problems.is_empty(),
            "round {round} after repair: {clean:?}"
        );
    }
    assert!(
        killed_mid_way > 0,
        "no round killed the load mid-way (complete {complete_seen})"
    );
    // And after all that, a load goes through.
    let store = ImageStore::open(&root).unwrap();
    store.load(Some(&archive)).unwrap();
    assert!(all_or_nothing(&store, &id));
    let r = store.check(false).unwrap();
    assert!(r.is_consistent() && r.garbage.is_empty(), "{r:?}");
}

#[test]
fn check_finds_and_repairs_damage() {
    let t = tempfile::tempdir().unwrap();
    let tarball = common::busybox_tarball(t.path());
    let root = t.path().join("store");
    let store = ImageStore::open(&root).unwrap();
    let id = store.import_tarball(&tarball, "busybox").unwrap();
    let other = common::busybox_rootfs(&t.path().join("o"));
    fs::write(other.join("etc/motd"), "hi\n").unwrap();
    let tb = t.path().join("o.tar");
    common::tar_dir(&other, &tb);
    let id2 = store.import_tarball(&tb, "other").unwrap();
    assert!(store.check(false).unwrap().problems.is_empty());

    // A lost layer directory and a lost short link: found, then rebuilt from the blob.
    let img = store.resolve(&id).unwrap();
    fs::remove_dir_all(&img.layer_dirs[0]).unwrap();
    fs::remove_file(img.store_root.join(&img.layer_links[0])).unwrap();
    // Garbage of an interrupted write.
    fs::write(root.join("tmp/.tmp-1-0-0-blob"), b"half").unwrap();
    fs::create_dir(root.join("layers").join("0".repeat(64))).unwrap();
    let r = store.check(false).unwrap();
    assert!(!r.is_consistent(), "{r:?}");
    assert_eq!(r.problems.len(), 2, "{r:?}");
    assert_eq!(r.garbage.len(), 2, "{r:?}");
    let r = store.check(true).unwrap();
    assert!(r.remaining.is_empty(), "{r:?}");
    assert!(
        img.layer_dirs[0].join("bin/busybox").is_file(),
        "re-extracted"
    );
    let r = store.check(false).unwrap();
    assert!(r.is_consistent() && r.garbage.is_empty(), "{r:?}");

    // A damaged config blob: the image cannot be trusted; repair forgets it, keeps the other.
    fs::write(root.join("blobs/sha256").join(&id2), b"{}").unwrap();
    let r = store.check(false).unwrap();
    assert!(r.problems.iter().any(|p| p.contains(&id2[..12])), "{r:?}");
    let r = store.check(true).unwrap();
    assert!(r.repaired.iter().any(|p| p.contains(&id2[..12])), "{r:?}");
    assert!(store.resolve("other").is_err());
    assert_eq!(store.resolve("busybox").unwrap().id, id);
    let r = store.check(false).unwrap();
    assert!(r.is_consistent() && r.garbage.is_empty(), "{r:?}");
}

#[test]
fn concurrent_loads_of_the_same_archive() {
    let t = tempfile::tempdir().unwrap();
    let tarball = common::busybox_tarball(t.path());
    let src = ImageStore::open(&t.path().join("src")).unwrap();
    let id = src.import_tarball(&tarball, "busybox").unwrap();
    let archive = t.path().join("a.tar");
    src.save(
        &["busybox".to_string()],
        ArchiveFormat::OciArchive,
        &archive,
    )
    .unwrap();
    let root = t.path().join("store");
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let store = ImageStore::open(&root).unwrap();
                let loaded = store.load(Some(&archive)).unwrap();
                assert_eq!(loaded[0].id, id);
                store.resolve("busybox").unwrap();
            });
        }
    });
    let store = ImageStore::open(&root).unwrap();
    let r = store.check(false).unwrap();
    assert!(r.is_consistent() && r.garbage.is_empty(), "{r:?}");
    assert_eq!(store.list().unwrap().len(), 1);
}
