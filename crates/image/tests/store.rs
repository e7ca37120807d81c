//! The store through the library API: import, resolve, tag, remove.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;

use dermaga_image::{ImageError, ImageStore, NoImageUsers};

#[test]
fn import_then_resolve_gives_layer_dirs_with_the_files() {
    let t = tempfile::tempdir().unwrap();
    let tarball = common::busybox_tarball(t.path());
    let root = t.path().join("store");
    let store = ImageStore::open(&root).unwrap();
    let id = store.import_tarball(&tarball, "busybox").unwrap();
    assert_eq!(id.len(), 64);

    for reference in [
        "busybox",
        "busybox:latest",
        "localhost/busybox",
        "localhost/busybox:latest",
        &id[..12],
        &id,
        &format!("sha256:{id}"),
    ] {
        let img = store
            .resolve(reference)
            .unwrap_or_else(|e| panic!("{reference}: {e}"));
        assert_eq!(img.id, id);
    }
    let img = store.resolve("busybox").unwrap();
    assert_eq!(img.names, vec!["localhost/busybox:latest".to_string()]);
    assert_eq!(img.layer_dirs.len(), 1);
    let dir = &img.layer_dirs[0];
    let bb = fs::metadata(dir.join("bin/busybox")).unwrap();
    assert_eq!(bb.len(), fs::metadata(common::BUSYBOX).unwrap().len());
    assert_eq!(
        bb.mode() & 0o777,
        fs::metadata(common::BUSYBOX).unwrap().mode() & 0o777
    );
    assert_eq!(
        fs::read_link(dir.join("bin/sh")).unwrap().to_str(),
        Some("busybox")
    );
    assert_eq!(
        fs::read_to_string(dir.join("etc/passwd")).unwrap(),
        "root:x:0:0:root:/root:/bin/sh\n"
    );
    // The short link reaches the same directory.
    let link = img.store_root.join(&img.layer_links[0]);
    assert_eq!(
        fs::canonicalize(&link).unwrap(),
        fs::canonicalize(dir).unwrap()
    );
    assert!(
        img.layer_links[0].as_os_str().len() <= 16,
        "short link {:?}",
        img.layer_links[0]
    );
    assert_eq!(img.config.architecture().to_string(), "amd64");

    // An unknown image says what to do.
    let e = store.resolve("nosuch").unwrap_err();
    assert!(matches!(e, ImageError::NotFound { .. }));
    assert!(e.to_string().contains("dermaga images"), "{e}");

    // Re-opening finds it again; importing the same tar again reuses the layer.
    drop(store);
    let store = ImageStore::open(&root).unwrap();
    let id2 = store.import_tarball(&tarball, "other:1").unwrap();
    let a = store.resolve(&id).unwrap();
    let b = store.resolve(&id2).unwrap();
    assert_eq!(a.layer_dirs, b.layer_dirs);
}

#[test]
fn tag_untag_and_remove() {
    let t = tempfile::tempdir().unwrap();
    let tarball = common::busybox_tarball(t.path());
    let store = ImageStore::open(&t.path().join("store")).unwrap();
    let id = store.import_tarball(&tarball, "busybox").unwrap();
    assert_eq!(
        store.tag("busybox", "quay.io/me/bb:v1").unwrap(),
        "quay.io/me/bb:v1"
    );
    assert_eq!(store.tag(&id[..6], "bb2").unwrap(), "localhost/bb2:latest");
    assert_eq!(
        store.resolve("me/bb:v1").unwrap().id,
        id,
        "short name finds */me/bb:v1"
    );
    assert!(store.resolve("bb").is_err(), "no bb:latest");
    assert_eq!(store.resolve("bb2").unwrap().id, id);

    // By id with several names: refused without force.
    assert!(store.remove(&id[..12], false, &NoImageUsers).is_err());
    // By name: untags only.
    let out = store.remove("bb2", false, &NoImageUsers).unwrap();
    assert_eq!(out.untagged, vec!["localhost/bb2:latest".to_string()]);
    assert!(out.deleted.is_none());
    assert!(store.resolve("bb2").is_err());
    assert_eq!(store.untag("quay.io/me/bb:v1").unwrap(), "quay.io/me/bb:v1");
    // The last name: the image goes, with its layer directory and blobs.
    let dir = store.resolve("busybox").unwrap().layer_dirs[0].clone();
    let out = store.remove("busybox", false, &NoImageUsers).unwrap();
    assert_eq!(out.deleted.as_deref(), Some(id.as_str()));
    assert!(!dir.exists());
    assert!(store.list().unwrap().is_empty());
    let blobs = fs::read_dir(t.path().join("store/blobs/sha256"))
        .unwrap()
        .count();
    assert_eq!(blobs, 0);
    assert_eq!(fs::read_dir(t.path().join("store/l")).unwrap().count(), 0);

    // In use: refused without force.
    struct Used;
    impl dermaga_image::ImageUsers for Used {
        fn containers_using(&self, _: &str) -> dermaga_image::Result<Vec<String>> {
            Ok(vec!["web".into()])
        }
    }
    store.import_tarball(&tarball, "busybox").unwrap();
    let e = store.remove("busybox", false, &Used).unwrap_err();
    assert!(e.to_string().contains("web"), "{e}");
    store.remove("busybox", true, &Used).unwrap();

    // prune: unnamed images go, named ones stay (unless --all), used ones always stay.
    let named = store.import_tarball(&tarball, "keep").unwrap();
    let other = t.path().join("other.tar");
    let root2 = common::busybox_rootfs(&t.path().join("o"));
    fs::write(root2.join("etc/motd"), "x").unwrap();
    common::tar_dir(&root2, &other);
    let dangling = store.import_tarball(&other, "").unwrap();
    let du = store.disk_usage().unwrap();
    assert_eq!((du.images, du.dangling, du.layers), (2, 1, 2));
    assert!(
        du.reclaimable > 0 && du.reclaimable < du.size && du.blobs_size > 0,
        "{du:?}"
    );
    assert_eq!(store.prune(false, &NoImageUsers).unwrap(), vec![dangling]);
    assert!(store.prune(true, &Used).unwrap().is_empty());
    assert_eq!(store.prune(true, &NoImageUsers).unwrap(), vec![named]);
    assert_eq!(store.disk_usage().unwrap().images, 0);
}
