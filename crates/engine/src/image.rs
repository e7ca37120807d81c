//! The image facts a container needs, from the image store (`dermaga-image`).

use std::path::{Path, PathBuf};

use dermaga_image::ImageStore;

use crate::config::ImageInfo;
use crate::db::Db;
use crate::error::{Error, Result};

/// Resolves an image reference in the store under `root`, over the engine's own database
/// connection (the store shares `dermaga.db`).
pub fn resolve(db: &Db, root: &Path, reference: &str) -> Result<ImageInfo> {
    let store = ImageStore::with_connection(root, db.lend()?).map_err(image_err)?;
    let resolved = store.resolve(reference);
    db.give_back(store.into_connection());
    let img = resolved.map_err(image_err)?;
    let cfg = img.config.config().clone().unwrap_or_default();
    // The store's short links keep overlay options short; they are relative to its root,
    // which is ours.
    let layer_dirs =
        if img.store_root == root || img.store_root.canonicalize().ok().as_deref() == Some(root) {
            img.layer_links.clone()
        } else {
            img.layer_dirs.clone()
        };
    Ok(ImageInfo {
        id: img.id.clone(),
        name: img.names.first().cloned().unwrap_or_else(|| img.id.clone()),
        entrypoint: cfg.entrypoint().clone().unwrap_or_default(),
        cmd: cfg.cmd().clone().unwrap_or_default(),
        env: cfg.env().clone().unwrap_or_default(),
        workdir: cfg.working_dir().clone().unwrap_or_default(),
        user: cfg.user().clone().unwrap_or_default(),
        labels: cfg
            .labels()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect(),
        stop_signal: cfg.stop_signal().clone().unwrap_or_default(),
        layer_dirs,
    })
}

/// Where to mount from and the lower directories (relative ones are relative to the root).
pub fn layer_links(root: &Path, dirs: &[PathBuf]) -> (PathBuf, Vec<PathBuf>) {
    if dirs.is_empty() {
        // An image without layers: overlay needs one lower directory.
        let empty = root.join("empty-layer");
        let _ = std::fs::create_dir_all(&empty);
        return (root.to_path_buf(), vec![empty]);
    }
    (root.to_path_buf(), dirs.to_vec())
}

fn image_err(e: dermaga_image::ImageError) -> Error {
    Error {
        code: e.exit_code(),
        msg: e.to_string(),
    }
}

/// Lets `rmi` know which containers use an image.
pub struct ContainerImageUsers<'a> {
    pub db: &'a crate::db::Db,
}

impl dermaga_image::ImageUsers for ContainerImageUsers<'_> {
    fn containers_using(&self, image_id: &str) -> dermaga_image::Result<Vec<String>> {
        let list = self
            .db
            .list()
            .map_err(|e| dermaga_image::ImageError::Other(e.msg))?;
        Ok(list
            .into_iter()
            .filter(|c| c.image_id == image_id)
            .map(|c| c.name)
            .collect())
    }
}
