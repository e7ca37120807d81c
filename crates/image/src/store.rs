//! The image store: tables in the shared state database, content-addressed blobs, extracted
//! layers and their short link names.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use oci_spec::image::ImageConfiguration;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use crate::digest::{digest_hex, sha256_digest, HashingReader, HashingWriter};
use crate::error::{ImageError, IoContext, Result};
use crate::fsutil::{self, FileLock};
use crate::layer;
use crate::reference::{self, Reference};

/// The tables of the image store in `dermaga.db`. Other components keep their own tables in
/// the same file; every statement here is idempotent.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS images (
    id              TEXT PRIMARY KEY,   -- hex sha256 of the config blob (podman's image id)
    manifest_digest TEXT NOT NULL,      -- sha256:... of the OCI manifest blob kept for this image
    created         TEXT,               -- the config's `created`
    size            INTEGER NOT NULL,   -- sum of the uncompressed layer sizes
    added           INTEGER NOT NULL    -- unix seconds when stored
);
CREATE TABLE IF NOT EXISTS image_names (
    name     TEXT PRIMARY KEY,          -- fully qualified domain/path:tag
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS image_names_by_image ON image_names(image_id);
CREATE TABLE IF NOT EXISTS layers (
    diff_id     TEXT PRIMARY KEY,       -- sha256:... of the uncompressed layer tar
    short       TEXT NOT NULL UNIQUE,   -- link name: l/<short> -> ../layers/<diff hex>
    blob_digest TEXT NOT NULL,          -- sha256:... of the layer blob kept in blobs/
    media_type  TEXT NOT NULL,          -- OCI layer media type of that blob
    blob_size   INTEGER NOT NULL,
    size        INTEGER NOT NULL        -- uncompressed tar size
);
CREATE TABLE IF NOT EXISTS image_layers (
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,          -- 0 = lowest
    diff_id  TEXT NOT NULL REFERENCES layers(diff_id),
    PRIMARY KEY (image_id, position)
);
CREATE INDEX IF NOT EXISTS image_layers_by_layer ON image_layers(diff_id);
CREATE TABLE IF NOT EXISTS build_cache (
    key      TEXT PRIMARY KEY,          -- a build step's cache key (containerfile::Step)
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,  -- the image after it
    added    INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS build_cache_by_image ON build_cache(image_id);
";

pub(crate) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub(crate) const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";

/// An image ready to run: what the engine needs to build a container's root file system.
#[derive(Clone, Debug)]
pub struct ResolvedImage {
    /// Hex sha256 of the config blob: podman's image id (64 hex digits, no `sha256:`).
    pub id: String,
    /// The image's names, fully qualified (`localhost/busybox:latest`), sorted.
    pub names: Vec<String>,
    /// The image configuration (entrypoint, cmd, env, user, working dir, ...).
    pub config: ImageConfiguration,
    /// The extracted layer directories, absolute, **lowest first**. Read-only; shared by every
    /// image holding the layer. For overlayfs `lowerdir=` (which lists the *topmost* first),
    /// reverse this list.
    pub layer_dirs: Vec<PathBuf>,
    /// The same layers as short link names relative to [`ResolvedImage::store_root`]
    /// (`l/<short>`, a symlink to `../layers/<diff hex>`), lowest first. With the mounting
    /// process's working directory at `store_root`, `lowerdir=l/aaaa:l/bbbb` keeps the mount
    /// options of an image with 100+ layers under the page-size limit (as podman's `l/` does).
    pub layer_links: Vec<PathBuf>,
    /// The store root the `layer_links` are relative to.
    pub store_root: PathBuf,
    /// `sha256:` digest of the image's manifest as stored.
    pub digest: String,
    /// Sum of the uncompressed layer sizes, in bytes.
    pub size: u64,
}

/// One layer of a stored image.
#[derive(Clone, Debug, Serialize)]
pub struct LayerInfo {
    pub diff_id: String,
    pub short: String,
    pub blob_digest: String,
    pub media_type: String,
    pub blob_size: u64,
    pub size: u64,
}

/// A stored image's record, for listing and inspection.
#[derive(Clone, Debug)]
pub struct ImageInfo {
    pub id: String,
    pub names: Vec<String>,
    pub digest: String,
    pub created: Option<String>,
    /// Unix seconds when the image was stored.
    pub added: i64,
    pub size: u64,
    pub layers: Vec<LayerInfo>,
}

/// Whether a stored image is used by containers: the engine implements this, so `rmi` refuses
/// to remove an image a container needs (unless forced).
pub trait ImageUsers {
    /// Names (or ids) of the containers using image `image_id` (hex); empty if none.
    fn containers_using(&self, image_id: &str) -> Result<Vec<String>>;
}

/// No containers exist (until the engine provides its [`ImageUsers`]).
pub struct NoImageUsers;

impl ImageUsers for NoImageUsers {
    fn containers_using(&self, _image_id: &str) -> Result<Vec<String>> {
        Ok(Vec::new())
    }
}

/// What `remove` did.
#[derive(Debug, Default)]
pub struct RemoveOutcome {
    /// Names removed from images that stay.
    pub untagged: Vec<String>,
    /// The id of the image deleted, if it was.
    pub deleted: Option<String>,
}

/// What `system df` reports for images.
#[derive(Clone, Debug, Default)]
pub struct DiskUsage {
    /// Stored images.
    pub images: u64,
    /// Images without a name.
    pub dangling: u64,
    /// Distinct layers.
    pub layers: u64,
    /// Uncompressed size of the distinct layers (what the extracted layers hold).
    pub size: u64,
    /// Bytes in blobs/ (kept layer blobs, configs, manifests).
    pub blobs_size: u64,
    /// Uncompressed size of the layers only dangling images use (what `image prune` frees).
    pub reclaimable: u64,
}

/// Options for [`ImageStore::import_tarball_with`] (`podman import`).
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// The name to give the image (`busybox`, `localhost/app:1`); `None` leaves it unnamed.
    pub name: Option<String>,
    /// The comment recorded in the history (`--message`).
    pub message: Option<String>,
    /// Dockerfile-style config changes (`--change 'CMD ["/bin/sh"]'`, `ENV K=V`, ...).
    pub changes: Vec<String>,
    /// `--os`, `--arch`, `--variant`: the platform recorded in the config (default: the host's).
    pub os: Option<String>,
    pub arch: Option<String>,
    pub variant: Option<String>,
}

/// A layer extracted into a temporary directory, not yet part of the store.
pub(crate) struct StagedLayer {
    pub diff_id: String,
    pub blob_digest: String,
    pub media_type: String,
    pub blob_size: u64,
    pub size: u64,
    pub tmp_blob: PathBuf,
    pub tmp_dir: PathBuf,
}

/// Everything needed to record one image.
pub(crate) struct NewImage {
    pub config_bytes: Vec<u8>,
    /// The manifest as received, kept if its layer blobs are the ones the store keeps.
    pub manifest_bytes: Option<Vec<u8>>,
    /// The image's layers, lowest first: diff ids (all present in the store or in `staged`).
    pub diff_ids: Vec<String>,
    pub names: Vec<String>,
}

/// The image store under a root directory. See the crate documentation for the layout.
pub struct ImageStore {
    root: PathBuf,
    pub(crate) db: Connection,
}

impl ImageStore {
    /// Opens (creating if needed) the store under `root`: `dermaga.db`, `blobs/sha256/`,
    /// `layers/`, `l/`, `tmp/`.
    pub fn open(root: &Path) -> Result<ImageStore> {
        for d in ["blobs/sha256", "layers", "l", "tmp"] {
            let p = root.join(d);
            fs::create_dir_all(&p).ctx(|| format!("creating {}", p.display()))?;
        }
        let root = fs::canonicalize(root).ctx(|| format!("resolving {}", root.display()))?;
        let db = open_db(&root.join("dermaga.db"))?;
        Ok(ImageStore { root, db })
    }

    /// The store under `root` over a connection to its `dermaga.db` that another user of the
    /// database opened (the engine's) and set up with [`set_up_shared_connection`]: one
    /// connection per command instead of two, since opening one reads and parses the whole
    /// schema. [`ImageStore::into_connection`] hands it back.
    pub fn with_connection(root: &Path, db: Connection) -> Result<ImageStore> {
        let root = fs::canonicalize(root).ctx(|| format!("resolving {}", root.display()))?;
        Ok(ImageStore { root, db })
    }

    /// The connection, back to whoever lent it ([`ImageStore::with_connection`]).
    pub fn into_connection(self) -> Connection {
        self.db
    }

    /// The store root (absolute).
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn blob_path(&self, digest: &str) -> Result<PathBuf> {
        Ok(self.root.join("blobs/sha256").join(digest_hex(digest)?))
    }

    pub(crate) fn layer_dir(&self, diff_id: &str) -> Result<PathBuf> {
        Ok(self.root.join("layers").join(digest_hex(diff_id)?))
    }

    pub(crate) fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Takes the store's write lock (held by every writer and by `check`).
    pub(crate) fn lock(&self) -> Result<FileLock> {
        FileLock::exclusive(&self.root.join("images.lock"))
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction.
    pub(crate) fn write_tx<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        self.db.execute_batch("BEGIN IMMEDIATE")?;
        match f(&self.db) {
            Ok(v) => match self.db.execute_batch("COMMIT") {
                Ok(()) => Ok(v),
                Err(e) => {
                    let _ = self.db.execute_batch("ROLLBACK");
                    Err(e.into())
                }
            },
            Err(e) => {
                let _ = self.db.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// The image id (hex) a reference names: a full or short (at least 3 digits) id, with or
    /// without `sha256:`; a name (`busybox`, `busybox:1`, `localhost/busybox:latest`); or
    /// `name@sha256:<manifest digest>`. Short names resolve as podman's do: `localhost/NAME`,
    /// then `docker.io/library/NAME`, then the one stored `*/NAME`.
    pub fn find_id(&self, reference: &str) -> Result<String> {
        let not_found = || ImageError::NotFound {
            reference: reference.to_string(),
        };
        let id_part = reference.strip_prefix("sha256:").unwrap_or(reference);
        if id_part.len() >= 3 && id_part.bytes().all(|b| b.is_ascii_hexdigit()) {
            let lower = id_part.to_ascii_lowercase();
            let mut stmt = self
                .db
                .prepare_cached("SELECT id FROM images WHERE substr(id, 1, ?1) = ?2 LIMIT 3")?;
            let ids: Vec<String> = stmt
                .query_map(params![lower.len() as i64, lower], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            match ids.len() {
                1 => return Ok(ids.into_iter().next().unwrap()),
                0 if reference.starts_with("sha256:") => return Err(not_found()),
                0 => {}
                _ => {
                    return Err(ImageError::Ambiguous {
                        reference: reference.to_string(),
                        candidates: ids.iter().map(|i| &i[..12]).collect::<Vec<_>>().join(", "),
                    })
                }
            }
        }
        let r = match Reference::parse(reference) {
            Ok(r) => r,
            Err(_) => return Err(not_found()),
        };
        if let Some(d) = &r.digest {
            let mut stmt = self
                .db
                .prepare_cached("SELECT id FROM images WHERE manifest_digest = ?1")?;
            let id: Option<String> = stmt.query_row([d], |r| r.get(0)).optional()?;
            return id.ok_or_else(not_found);
        }
        let tag = r.tag.as_deref().unwrap_or("latest");
        let lookup = |name: &str| -> Result<Option<String>> {
            let mut stmt = self
                .db
                .prepare_cached("SELECT image_id FROM image_names WHERE name = ?1")?;
            Ok(stmt.query_row([name], |r| r.get(0)).optional()?)
        };
        if let Some(domain) = &r.domain {
            return lookup(&format!("{domain}/{}:{tag}", r.path))?.ok_or_else(not_found);
        }
        if let Some(id) = lookup(&format!("localhost/{}:{tag}", r.path))? {
            return Ok(id);
        }
        if !r.path.contains('/') {
            if let Some(id) = lookup(&format!("docker.io/library/{}:{tag}", r.path))? {
                return Ok(id);
            }
        }
        let suffix = format!("/{}:{tag}", r.path);
        let mut stmt = self.db.prepare_cached(
            "SELECT name, image_id FROM image_names WHERE substr(name, -?1) = ?2",
        )?;
        let hits: Vec<(String, String)> = stmt
            .query_map(params![suffix.len() as i64, suffix], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        let ids: HashSet<&String> = hits.iter().map(|(_, id)| id).collect();
        match ids.len() {
            0 => Err(not_found()),
            1 => Ok(hits[0].1.clone()),
            _ => Err(ImageError::Ambiguous {
                reference: reference.to_string(),
                candidates: hits
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    /// Resolves a reference (see [`ImageStore::find_id`]) to what a container needs.
    pub fn resolve(&self, reference: &str) -> Result<ResolvedImage> {
        let id = self.find_id(reference)?;
        let info = self.info(&id)?;
        let config = self.config(&id)?;
        let mut layer_dirs = Vec::with_capacity(info.layers.len());
        let mut layer_links = Vec::with_capacity(info.layers.len());
        for l in &info.layers {
            layer_dirs.push(self.layer_dir(&l.diff_id)?);
            layer_links.push(PathBuf::from("l").join(&l.short));
        }
        Ok(ResolvedImage {
            id,
            names: info.names,
            config,
            layer_dirs,
            layer_links,
            store_root: self.root.clone(),
            digest: info.digest,
            size: info.size,
        })
    }

    /// The raw config blob of image `id`.
    pub fn config_bytes(&self, id: &str) -> Result<Vec<u8>> {
        let p = self.blob_path(&format!("sha256:{id}"))?;
        fs::read(&p).map_err(|e| ImageError::Corrupt {
            root: self.root.clone(),
            why: format!("config blob of image {id} unreadable ({e})"),
        })
    }

    /// The parsed config of image `id`.
    pub fn config(&self, id: &str) -> Result<ImageConfiguration> {
        let bytes = self.config_bytes(id)?;
        parse_config(&bytes, &format!("config of image {id}"))
    }

    /// The raw manifest blob kept for image `id`.
    pub fn manifest_bytes(&self, id: &str) -> Result<Vec<u8>> {
        let info = self.info(id)?;
        let p = self.blob_path(&info.digest)?;
        fs::read(&p).map_err(|e| ImageError::Corrupt {
            root: self.root.clone(),
            why: format!("manifest blob of image {id} unreadable ({e})"),
        })
    }

    /// The record of image `id` (full hex id).
    pub fn info(&self, id: &str) -> Result<ImageInfo> {
        let row: Option<(String, Option<String>, i64, i64)> = self
            .db
            .prepare_cached(
                "SELECT manifest_digest, created, added, size FROM images WHERE id = ?1",
            )?
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .optional()?;
        let (digest, created, added, size) = row.ok_or_else(|| ImageError::NotFound {
            reference: id.to_string(),
        })?;
        let names = self.names_of(id)?;
        let layers = self.layers_of(id)?;
        Ok(ImageInfo {
            id: id.to_string(),
            names,
            digest,
            created,
            added,
            size: size as u64,
            layers,
        })
    }

    fn names_of(&self, id: &str) -> Result<Vec<String>> {
        let mut stmt = self
            .db
            .prepare_cached("SELECT name FROM image_names WHERE image_id = ?1 ORDER BY name")?;
        let v = stmt
            .query_map([id], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(v)
    }

    fn layers_of(&self, id: &str) -> Result<Vec<LayerInfo>> {
        let mut stmt = self.db.prepare_cached(
            "SELECT l.diff_id, l.short, l.blob_digest, l.media_type, l.blob_size, l.size
             FROM image_layers il JOIN layers l ON l.diff_id = il.diff_id
             WHERE il.image_id = ?1 ORDER BY il.position",
        )?;
        let v = stmt
            .query_map([id], |r| {
                Ok(LayerInfo {
                    diff_id: r.get(0)?,
                    short: r.get(1)?,
                    blob_digest: r.get(2)?,
                    media_type: r.get(3)?,
                    blob_size: r.get::<_, i64>(4)? as u64,
                    size: r.get::<_, i64>(5)? as u64,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(v)
    }

    /// Every stored image, newest first.
    pub fn list(&self) -> Result<Vec<ImageInfo>> {
        let ids: Vec<String> = self
            .db
            .prepare("SELECT id FROM images ORDER BY added DESC, id")?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        ids.iter().map(|id| self.info(id)).collect()
    }

    /// Adds the name `new_name` (normalised as podman's `tag` does: `localhost/` for a name
    /// without a registry, `:latest` for one without a tag) to the image `reference` names.
    /// The name moves if another image had it. Returns the stored name.
    pub fn tag(&self, reference: &str, new_name: &str) -> Result<String> {
        let name = reference::normalize_new_name(new_name)?;
        let _lock = self.lock()?;
        let id = self.find_id(reference)?;
        self.write_tx(|db| {
            db.execute(
                "INSERT INTO image_names(name, image_id) VALUES (?1, ?2)
                 ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id",
                params![name, id],
            )?;
            Ok(())
        })?;
        Ok(name)
    }

    /// Gives image `id` (full hex id) every name of `names` (already normalised) in one
    /// transaction; names move from other images. A build names its result this way.
    pub fn name_image(&self, id: &str, names: &[String]) -> Result<()> {
        let _lock = self.lock()?;
        self.write_tx(|db| {
            for n in names {
                db.execute(
                    "INSERT INTO image_names(name, image_id) VALUES (?1, ?2)
                     ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id",
                    params![n, id],
                )?;
            }
            Ok(())
        })
    }

    /// Removes the name `name` from its image (`podman untag`); the image stays.
    pub fn untag(&self, name: &str) -> Result<String> {
        let _lock = self.lock()?;
        let id = self.find_id(name)?;
        let full = self.full_name_for(name, &id)?;
        self.write_tx(|db| {
            db.execute("DELETE FROM image_names WHERE name = ?1", [&full])?;
            Ok(())
        })?;
        Ok(full)
    }

    /// The stored name of `id` that `reference` matched (for untagging by a short name).
    fn full_name_for(&self, reference: &str, id: &str) -> Result<String> {
        let names = self.names_of(id)?;
        let r = Reference::parse(reference)?;
        let tag = r.tag.as_deref().unwrap_or("latest");
        let want_suffix = format!("/{}:{tag}", r.path);
        let exact = r.domain.as_ref().map(|d| format!("{d}/{}:{tag}", r.path));
        names
            .into_iter()
            .find(|n| match &exact {
                Some(e) => n == e,
                None => n.ends_with(&want_suffix),
            })
            .ok_or_else(|| ImageError::NotFound {
                reference: reference.to_string(),
            })
    }

    /// `podman rmi`: given a name of an image with other names, removes that name only;
    /// otherwise removes the image (refused while containers use it, unless `force`; refused
    /// for an id that several names share, unless `force`). Layers no image uses any more are
    /// deleted with their blobs.
    pub fn remove(
        &self,
        reference: &str,
        force: bool,
        users: &dyn ImageUsers,
    ) -> Result<RemoveOutcome> {
        let _lock = self.lock()?;
        let id = self.find_id(reference)?;
        let names = self.names_of(&id)?;
        let by_id = {
            let r = reference.strip_prefix("sha256:").unwrap_or(reference);
            id.starts_with(&r.to_ascii_lowercase()) && r.bytes().all(|b| b.is_ascii_hexdigit())
        };
        let mut out = RemoveOutcome::default();
        if !by_id && names.len() > 1 && !force {
            let full = self.full_name_for(reference, &id)?;
            self.write_tx(|db| {
                db.execute("DELETE FROM image_names WHERE name = ?1", [&full])?;
                Ok(())
            })?;
            out.untagged.push(full);
            return Ok(out);
        }
        if by_id && names.len() > 1 && !force {
            return Err(ImageError::Other(format!(
                "unable to delete image {} by id with more than one name ({}): remove the names one by one or use --force",
                &id[..12],
                names.join(", ")
            )));
        }
        let containers = users.containers_using(&id)?;
        if !containers.is_empty() && !force {
            return Err(ImageError::InUse {
                id: id[..12].to_string(),
                containers: containers.join(", "),
            });
        }
        let info = self.info(&id)?;
        let gone_layers: Vec<LayerInfo> = self.write_tx(|db| {
            db.execute("DELETE FROM image_names WHERE image_id = ?1", [&id])?;
            db.execute("DELETE FROM image_layers WHERE image_id = ?1", [&id])?;
            db.execute("DELETE FROM images WHERE id = ?1", [&id])?;
            let mut gone = Vec::new();
            for l in &info.layers {
                let still: i64 = db.query_row(
                    "SELECT count(*) FROM image_layers WHERE diff_id = ?1",
                    [&l.diff_id],
                    |r| r.get(0),
                )?;
                if still == 0 && !gone.iter().any(|g: &LayerInfo| g.diff_id == l.diff_id) {
                    db.execute("DELETE FROM layers WHERE diff_id = ?1", [&l.diff_id])?;
                    gone.push(l.clone());
                }
            }
            Ok(gone)
        })?;
        // Files after the commit: a crash here leaves garbage that `check` removes, never a
        // reference to something missing.
        self.delete_unreferenced_blob(&format!("sha256:{id}"))?;
        self.delete_unreferenced_blob(&info.digest)?;
        for l in gone_layers {
            let _ = fs::remove_file(self.root.join("l").join(&l.short));
            fsutil::remove_any(&self.layer_dir(&l.diff_id)?)?;
            self.delete_unreferenced_blob(&l.blob_digest)?;
        }
        out.untagged = names;
        out.deleted = Some(id);
        Ok(out)
    }

    /// `podman image prune`: removes unnamed images (with `all`, every image) that no
    /// container uses. Returns the ids removed.
    pub fn prune(&self, all: bool, users: &dyn ImageUsers) -> Result<Vec<String>> {
        let mut removed = Vec::new();
        for info in self.list()? {
            if (!all && !info.names.is_empty()) || !users.containers_using(&info.id)?.is_empty() {
                continue;
            }
            match self.remove(&info.id, true, users) {
                Ok(out) => removed.extend(out.deleted),
                // Removed meanwhile by another command.
                Err(ImageError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(removed)
    }

    /// Sizes for `system df`.
    pub fn disk_usage(&self) -> Result<DiskUsage> {
        let q = |sql: &str| -> Result<u64> {
            Ok(self.db.query_row(sql, [], |r| r.get::<_, i64>(0))? as u64)
        };
        let mut du = DiskUsage {
            images: q("SELECT count(*) FROM images")?,
            dangling: q(
                "SELECT count(*) FROM images WHERE id NOT IN (SELECT image_id FROM image_names)",
            )?,
            layers: q("SELECT count(*) FROM layers")?,
            size: q("SELECT coalesce(sum(size), 0) FROM layers")?,
            blobs_size: 0,
            reclaimable: q(
                "SELECT coalesce(sum(size), 0) FROM layers WHERE diff_id NOT IN (
                    SELECT il.diff_id FROM image_layers il
                    WHERE il.image_id IN (SELECT image_id FROM image_names))",
            )?,
        };
        if let Ok(rd) = fs::read_dir(self.root.join("blobs/sha256")) {
            for e in rd.flatten() {
                du.blobs_size += e.metadata().map(|m| m.len()).unwrap_or(0);
            }
        }
        Ok(du)
    }

    /// Whether any row still refers to blob `digest`.
    pub(crate) fn blob_referenced(&self, digest: &str) -> Result<bool> {
        let hex = digest_hex(digest)?;
        let n: i64 = self.db.query_row(
            "SELECT (SELECT count(*) FROM images WHERE id = ?2 OR manifest_digest = ?1)
                  + (SELECT count(*) FROM layers WHERE blob_digest = ?1)",
            params![digest, hex],
            |r| r.get(0),
        )?;
        Ok(n > 0)
    }

    fn delete_unreferenced_blob(&self, digest: &str) -> Result<()> {
        if !self.blob_referenced(digest)? {
            let p = self.blob_path(digest)?;
            match fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(ImageError::io(format!("removing {}", p.display()), e)),
            }
        }
        Ok(())
    }

    /// Whether layer `diff_id` is recorded in the store.
    pub(crate) fn has_layer(&self, diff_id: &str) -> Result<bool> {
        let n: i64 = self.db.query_row(
            "SELECT count(*) FROM layers WHERE diff_id = ?1",
            [diff_id],
            |r| r.get(0),
        )?;
        Ok(n > 0)
    }

    /// Stages one layer blob read from `src`: keeps a copy of the blob, extracts the tar it
    /// holds (gzip and zstd recognised by their magic bytes) into a temporary directory and
    /// computes both digests. `what` names the layer in errors. The caller holds the lock.
    pub(crate) fn stage_layer(&self, src: impl Read, what: &str) -> Result<StagedLayer> {
        stage_layer_in(&self.tmp_dir(), src, what)
    }

    /// Removes a staged layer's temporary files.
    pub(crate) fn discard_staged(&self, s: &StagedLayer) {
        discard_staged_in(s);
    }

    /// Moves staged layers and the image's blobs into place and records the images in one
    /// transaction. The caller holds the lock. Returns the image ids, in order.
    pub(crate) fn commit_images(
        &self,
        staged: Vec<StagedLayer>,
        images: Vec<NewImage>,
    ) -> Result<Vec<String>> {
        let res = self.commit_images_inner(&staged, images);
        for s in &staged {
            self.discard_staged(s);
        }
        res
    }

    fn commit_images_inner(
        &self,
        staged: &[StagedLayer],
        images: Vec<NewImage>,
    ) -> Result<Vec<String>> {
        // 1. Layers: blob and directory into place (anything already there that no row refers
        //    to is a leftover of an interrupted run and is replaced), then the short link.
        let mut new_layers: Vec<(&StagedLayer, String)> = Vec::new();
        let mut seen = HashSet::new();
        let mut shorts_taken = HashSet::new();
        for s in staged {
            if self.has_layer(&s.diff_id)? || !seen.insert(s.diff_id.clone()) {
                continue;
            }
            if !self.blob_referenced(&s.blob_digest)? {
                let dst = self.blob_path(&s.blob_digest)?;
                fs::rename(&s.tmp_blob, &dst)
                    .ctx(|| format!("moving blob into {}", dst.display()))?;
            }
            let dst = self.layer_dir(&s.diff_id)?;
            fsutil::remove_any(&dst)?;
            fs::rename(&s.tmp_dir, &dst).ctx(|| format!("moving layer into {}", dst.display()))?;
            let short = self.pick_short(&s.diff_id, &shorts_taken)?;
            shorts_taken.insert(short.clone());
            let link = self.root.join("l").join(&short);
            let tmp_link = fsutil::temp_path(&self.tmp_dir(), "link");
            std::os::unix::fs::symlink(format!("../layers/{}", digest_hex(&s.diff_id)?), &tmp_link)
                .ctx(|| format!("creating {}", tmp_link.display()))?;
            fs::rename(&tmp_link, &link).ctx(|| format!("creating {}", link.display()))?;
            new_layers.push((s, short));
        }
        // 2. Config and manifest blobs.
        let mut prepared = Vec::new();
        for img in images {
            let config_digest = sha256_digest(&img.config_bytes);
            let id = digest_hex(&config_digest)?.to_string();
            let config = parse_config(&img.config_bytes, &format!("config {config_digest}"))?;
            let mut layer_rows = Vec::new();
            for d in &img.diff_ids {
                if let Some((s, short)) = new_layers.iter().find(|(s, _)| &s.diff_id == d) {
                    layer_rows.push(LayerInfo {
                        diff_id: d.clone(),
                        short: short.clone(),
                        blob_digest: s.blob_digest.clone(),
                        media_type: s.media_type.clone(),
                        blob_size: s.blob_size,
                        size: s.size,
                    });
                } else {
                    layer_rows.push(self.layer_row(d)?.ok_or_else(|| {
                        ImageError::Other(format!("layer {d} is neither stored nor given"))
                    })?);
                }
            }
            let manifest = match &img.manifest_bytes {
                Some(m) if manifest_matches(m, &config_digest, &layer_rows) => m.clone(),
                _ => build_manifest(&img.config_bytes, &layer_rows),
            };
            let manifest_digest = sha256_digest(&manifest);
            for (digest, bytes) in [
                (&config_digest, &img.config_bytes),
                (&manifest_digest, &manifest),
            ] {
                let p = self.blob_path(digest)?;
                if !(self.blob_referenced(digest)? && p.exists()) {
                    fsutil::write_atomic(&p, bytes)?;
                }
            }
            let size: u64 = layer_rows.iter().map(|l| l.size).sum();
            prepared.push((
                id,
                manifest_digest,
                config.created().clone(),
                size,
                layer_rows,
                img.names,
            ));
        }
        // 3. Make everything above durable, then record it.
        fsutil::syncfs(&self.root)?;
        let now = chrono::Utc::now().timestamp();
        self.write_tx(|db| {
            for (s, short) in &new_layers {
                db.execute(
                    "INSERT OR IGNORE INTO layers(diff_id, short, blob_digest, media_type, blob_size, size)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![s.diff_id, short, s.blob_digest, s.media_type, s.blob_size as i64, s.size as i64],
                )?;
            }
            let mut ids = Vec::new();
            for (id, manifest_digest, created, size, layer_rows, names) in &prepared {
                let exists: i64 = db.query_row("SELECT count(*) FROM images WHERE id = ?1", [id], |r| r.get(0))?;
                if exists == 0 {
                    db.execute(
                        "INSERT INTO images(id, manifest_digest, created, size, added) VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![id, manifest_digest, created, *size as i64, now],
                    )?;
                    for (i, l) in layer_rows.iter().enumerate() {
                        db.execute(
                            "INSERT INTO image_layers(image_id, position, diff_id) VALUES (?1, ?2, ?3)",
                            params![id, i as i64, l.diff_id],
                        )?;
                    }
                }
                for n in names {
                    db.execute(
                        "INSERT INTO image_names(name, image_id) VALUES (?1, ?2)
                         ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id",
                        params![n, id],
                    )?;
                }
                ids.push(id.clone());
            }
            Ok(ids)
        })
    }

    pub(crate) fn layer_row(&self, diff_id: &str) -> Result<Option<LayerInfo>> {
        Ok(self
            .db
            .prepare_cached("SELECT diff_id, short, blob_digest, media_type, blob_size, size FROM layers WHERE diff_id = ?1")?
            .query_row([diff_id], |r| {
                Ok(LayerInfo {
                    diff_id: r.get(0)?,
                    short: r.get(1)?,
                    blob_digest: r.get(2)?,
                    media_type: r.get(3)?,
                    blob_size: r.get::<_, i64>(4)? as u64,
                    size: r.get::<_, i64>(5)? as u64,
                })
            })
            .optional()?)
    }

    /// A short link name for a new layer: the first 12 hex digits of its diff id, longer on a
    /// clash.
    fn pick_short(&self, diff_id: &str, taken: &HashSet<String>) -> Result<String> {
        let hex = digest_hex(diff_id)?;
        for len in [12, 16, 20, 32, 64] {
            let s = &hex[..len];
            let n: i64 =
                self.db
                    .query_row("SELECT count(*) FROM layers WHERE short = ?1", [s], |r| {
                        r.get(0)
                    })?;
            if n == 0 && !taken.contains(s) {
                return Ok(s.to_string());
            }
        }
        Err(ImageError::Other(format!(
            "no free short name for layer {diff_id}"
        )))
    }

    /// `podman import TARBALL NAME`: a root file system tar (plain, gzip or zstd; `-` reads
    /// standard input) becomes a one-layer image named `name` (normalised as podman does:
    /// `busybox` → `localhost/busybox:latest`; an empty name leaves the image unnamed).
    /// Returns the image id (hex).
    pub fn import_tarball(&self, path: &Path, name: &str) -> Result<String> {
        self.import_tarball_with(
            path,
            &ImportOptions {
                name: (!name.is_empty()).then(|| name.to_string()),
                ..Default::default()
            },
        )
    }

    /// [`ImageStore::import_tarball`] with `--message` and `--change`.
    pub fn import_tarball_with(&self, path: &Path, opts: &ImportOptions) -> Result<String> {
        let name = opts
            .name
            .as_deref()
            .map(reference::normalize_new_name)
            .transpose()?;
        let mut config_patch = crate::config::ConfigPatch::default();
        for c in &opts.changes {
            config_patch.apply_change(c)?;
        }
        let _lock = self.lock()?;
        let staged = if path == Path::new("-") {
            self.stage_layer(io::stdin().lock(), "standard input")?
        } else {
            let f = File::open(path).ctx(|| format!("opening {}", path.display()))?;
            self.stage_layer(f, &path.display().to_string())?
        };
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let comment = opts
            .message
            .clone()
            .unwrap_or_else(|| "imported from tarball".to_string());
        let mut config = serde_json::json!({
            "created": now,
            "architecture": opts.arch.as_deref().unwrap_or(crate::config::host_arch()),
            "os": opts.os.as_deref().unwrap_or("linux"),
            "config": config_patch.into_json(),
            "rootfs": {"type": "layers", "diff_ids": [staged.diff_id]},
            "history": [{
                "created": now,
                "created_by": format!("/bin/sh -c #(nop) ADD file:{} in /", digest_hex(&staged.diff_id)?),
                "comment": comment,
            }],
        });
        if let Some(v) = &opts.variant {
            config["variant"] = serde_json::Value::String(v.clone());
        }
        let config_bytes = serde_json::to_vec(&config).expect("json");
        let diff_id = staged.diff_id.clone();
        let ids = self.commit_images(
            vec![staged],
            vec![NewImage {
                config_bytes,
                manifest_bytes: None,
                diff_ids: vec![diff_id],
                names: name.into_iter().collect(),
            }],
        )?;
        Ok(ids.into_iter().next().expect("one image"))
    }
}

/// Says on standard error what extraction kept out (device nodes, whiteouts or xattrs it may
/// not make without privileges): never silently.
fn report_warnings(what: &str, report: &layer::ExtractReport) {
    for w in report.warnings.iter().take(10) {
        eprintln!("dermaga: warning: {what}: {w}");
    }
    if report.warnings.len() > 10 {
        eprintln!(
            "dermaga: warning: {what}: and {} more like these",
            report.warnings.len() - 10
        );
    }
}

/// Removes a staged layer's temporary files.
pub(crate) fn discard_staged_in(s: &StagedLayer) {
    let _ = fs::remove_file(&s.tmp_blob);
    let _ = fsutil::remove_any(&s.tmp_dir);
}

/// Stages a directory tree already under the store's `tmp/` (a build step's changes) as a
/// layer without extracting anything: the tree itself becomes the extracted layer and its tar
/// ([`layer::write_layer_tar`]), hashed as it is written, the layer blob (uncompressed, so the
/// diff id is the blob digest). `from_overlay`: the tree is an overlayfs upper directory, whose
/// overlay bookkeeping (xattrs other than the opaque marker) and sockets are removed first.
pub(crate) fn stage_tree_in(tmp: &Path, tree: &Path, from_overlay: bool) -> Result<StagedLayer> {
    if from_overlay {
        layer::clean_upper_dir(tree)?;
    }
    let tmp_blob = fsutil::temp_path(tmp, "blob");
    let res = (|| {
        let f = File::create(&tmp_blob).ctx(|| format!("creating {}", tmp_blob.display()))?;
        let mut w = HashingWriter::new(BufWriter::with_capacity(256 * 1024, f));
        layer::write_layer_tar(tree, &mut w)?;
        w.flush()
            .ctx(|| format!("writing {}", tmp_blob.display()))?;
        let digest = w.hasher.clone().digest();
        let size = w.hasher.len();
        Ok(StagedLayer {
            diff_id: digest.clone(),
            blob_digest: digest,
            media_type: layer::Compression::None.oci_layer_media_type().to_string(),
            blob_size: size,
            size,
            tmp_blob: tmp_blob.clone(),
            tmp_dir: tree.to_path_buf(),
        })
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp_blob);
    }
    res
}

/// [`ImageStore::stage_layer`] without the store, so layers can be staged on several threads:
/// `tmp` is the store's `tmp/`.
///
/// Two threads share the work: this one reads the blob, hashes it and writes its kept copy,
/// handing it on in chunks; the other decompresses, hashes and extracts the tar. The blob's copy
/// and the layer's files are written at the same time, and a blob streamed from a registry is
/// read as fast as the slower of the two sides, not their sum.
pub(crate) fn stage_layer_in(tmp: &Path, src: impl Read, what: &str) -> Result<StagedLayer> {
    let tmp_blob = fsutil::temp_path(tmp, "blob");
    let tmp_dir = fsutil::temp_path(tmp, "layer");
    let res = (|| {
        let blob_file =
            File::create(&tmp_blob).ctx(|| format!("creating {}", tmp_blob.display()))?;
        let mut blob_writer = BufWriter::with_capacity(256 * 1024, blob_file);
        fs::create_dir(&tmp_dir).ctx(|| format!("creating {}", tmp_dir.display()))?;
        let (compression, diff_hasher, blob_hasher) =
            pipe_and_extract(src, &mut blob_writer, &tmp_dir, what)?;
        blob_writer
            .flush()
            .ctx(|| format!("writing {}", tmp_blob.display()))?;
        let size = diff_hasher.len();
        let blob_size = blob_hasher.len();
        Ok(StagedLayer {
            diff_id: diff_hasher.digest(),
            blob_digest: blob_hasher.digest(),
            media_type: compression.oci_layer_media_type().to_string(),
            blob_size,
            size,
            tmp_blob: tmp_blob.clone(),
            tmp_dir: tmp_dir.clone(),
        })
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp_blob);
        let _ = fsutil::remove_any(&tmp_dir);
    }
    res
}

/// Bytes handed from the blob reader to the extractor at a time.
const PIPE_CHUNK: usize = 256 * 1024;
/// Chunks in flight between the two threads.
const PIPE_DEPTH: usize = 8;

/// Reads `src` to its end (hashing it and copying it to `copy`) on this thread while another
/// decompresses and extracts it into `dir`. Returns the compression found, the hash of the
/// tar stream and the hash of the blob.
fn pipe_and_extract(
    mut src: impl Read,
    copy: &mut impl Write,
    dir: &Path,
    what: &str,
) -> Result<(
    layer::Compression,
    crate::digest::Hasher,
    crate::digest::Hasher,
)> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(PIPE_DEPTH);
    let (spare_tx, spare_rx) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::scope(|s| {
        let extractor = s.spawn(
            move || -> Result<(layer::Compression, crate::digest::Hasher)> {
                let chunks = ChunkReader {
                    rx,
                    spare: spare_tx,
                    cur: Vec::new(),
                    pos: 0,
                };
                let buffered = BufReader::with_capacity(PIPE_CHUNK, chunks);
                let (compression, tar_stream) = layer::decompress(buffered, what)?;
                let mut diff_reader = HashingReader::new(tar_stream);
                report_warnings(what, &layer::extract(&mut diff_reader, dir, what)?);
                let (h, _) = diff_reader.finish().map_err(|e| ImageError::BadLayer {
                    layer: what.to_string(),
                    why: format!("reading the layer stream: {e}"),
                })?;
                Ok((compression, h))
            },
        );
        let mut blob_hasher = crate::digest::Hasher::default();
        // Once the extractor has stopped (at the tar's end, or on an error), the rest of the
        // blob is still read and hashed: its digest covers every byte.
        let mut handing_on = true;
        let read_all = (|| -> Result<()> {
            loop {
                let mut buf = spare_rx.try_recv().unwrap_or_default();
                buf.resize(PIPE_CHUNK, 0);
                let n = loop {
                    match src.read(&mut buf) {
                        Ok(n) => break n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(ImageError::io(format!("reading {what}"), e)),
                    }
                };
                if n == 0 {
                    return Ok(());
                }
                buf.truncate(n);
                blob_hasher.update(&buf);
                copy.write_all(&buf)
                    .map_err(|e| ImageError::io(format!("copying {what}"), e))?;
                if handing_on && tx.send(buf).is_err() {
                    handing_on = false;
                }
            }
        })();
        // The extractor sees the end of the stream (or of a broken one) here.
        drop(tx);
        let extracted = extractor.join().unwrap_or_else(|_| {
            Err(ImageError::BadLayer {
                layer: what.to_string(),
                why: "the extracting thread panicked".into(),
            })
        });
        read_all?;
        let (compression, diff_hasher) = extracted?;
        Ok((compression, diff_hasher, blob_hasher))
    })
}

/// The extractor's side of [`pipe_and_extract`]: the chunks as one stream; spent chunks go
/// back to the reader for reuse.
struct ChunkReader {
    rx: std::sync::mpsc::Receiver<Vec<u8>>,
    spare: std::sync::mpsc::Sender<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.cur.len() {
            match self.rx.recv() {
                Ok(next) => {
                    let spent = std::mem::replace(&mut self.cur, next);
                    if spent.capacity() > 0 {
                        let _ = self.spare.send(spent);
                    }
                    self.pos = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len() - self.pos);
        buf[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Opens the shared state database with WAL, a busy timeout and foreign keys, and creates the
/// image store's tables.
fn open_db(path: &Path) -> Result<Connection> {
    let db = Connection::open(path)?;
    db.busy_timeout(Duration::from_secs(30))?;
    // Turning a new database to WAL needs an exclusive lock, and when another process does the
    // same at that moment SQLite answers "database is locked" at once instead of waiting.
    retry_while_busy(|| db.pragma_update(None, "journal_mode", "WAL"))?;
    db.pragma_update(None, "synchronous", "NORMAL")?;
    // As the engine's connections (dermaga_engine::db): a short WAL, cheap to read back.
    db.pragma_update(None, "wal_autocheckpoint", 64)?;
    db.pragma_update(None, "foreign_keys", "ON")?;
    ensure_schema(&db, SCHEMA)?;
    Ok(db)
}

/// Creates what `schema` (`CREATE … IF NOT EXISTS` statements) names, in one `BEGIN
/// IMMEDIATE` transaction, unless all of it is there already. That is the common case, and
/// then it costs one query over `sqlite_master` (whose read SQLite needs anyway) instead of a
/// write transaction and the parsing of every statement, for each command that opens the
/// database. IMMEDIATE takes the write lock first, through the busy timeout, so processes
/// creating the tables at once wait for each other instead of failing on a lock upgrade.
pub fn ensure_schema(db: &Connection, schema: &str) -> rusqlite::Result<()> {
    ensure_schemas(db, &[schema])
}

/// [`ensure_schema`] for several schemas sharing the database, with one query for all.
pub fn ensure_schemas(db: &Connection, schemas: &[&str]) -> rusqlite::Result<()> {
    let names: Vec<&str> = schemas
        .iter()
        .flat_map(|schema| schema.split("IF NOT EXISTS").skip(1))
        .filter_map(|rest| {
            rest.split(|c: char| c.is_whitespace() || c == '(')
                .find(|w| !w.is_empty())
        })
        .collect();
    let list = names
        .iter()
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(",");
    let present: i64 = db.query_row(
        &format!("SELECT count(*) FROM sqlite_master WHERE name IN ({list})"),
        [],
        |r| r.get(0),
    )?;
    if present == names.len() as i64 {
        return Ok(());
    }
    db.execute_batch(&format!("BEGIN IMMEDIATE;\n{}\nCOMMIT;", schemas.concat()))
}

/// Gives a connection that another user of `dermaga.db` opened (the engine's) this store's
/// settings, and checks this store's tables and `other_schema`'s (that user's) with one
/// query: each command opens one connection, and the second check cost 0.06–0.1 ms.
/// A connection set up so is what [`ImageStore::with_connection`] takes.
pub fn set_up_shared_connection(db: &Connection, other_schema: &str) -> rusqlite::Result<()> {
    db.pragma_update(None, "foreign_keys", "ON")?;
    ensure_schemas(db, &[SCHEMA, other_schema])
}

/// Runs `f` again while SQLite reports the database busy, for up to about ten seconds.
pub fn retry_while_busy(mut f: impl FnMut() -> rusqlite::Result<()>) -> rusqlite::Result<()> {
    let mut tries = 0;
    loop {
        match f() {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy && tries < 1000 =>
            {
                tries += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

/// Parses a config blob.
pub(crate) fn parse_config(bytes: &[u8], what: &str) -> Result<ImageConfiguration> {
    serde_json::from_slice(bytes).map_err(|e| ImageError::BadJson {
        what: what.to_string(),
        why: e.to_string(),
    })
}

#[derive(Serialize)]
struct ManifestOut<'a> {
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    #[serde(rename = "mediaType")]
    media_type: &'a str,
    config: DescriptorOut,
    layers: Vec<DescriptorOut>,
}

#[derive(Serialize, serde::Deserialize)]
pub(crate) struct DescriptorOut {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
}

/// An OCI image manifest for a config and the layer blobs the store keeps.
pub(crate) fn build_manifest(config_bytes: &[u8], layers: &[LayerInfo]) -> Vec<u8> {
    let m = ManifestOut {
        schema_version: 2,
        media_type: OCI_MANIFEST,
        config: DescriptorOut {
            media_type: OCI_CONFIG.to_string(),
            digest: sha256_digest(config_bytes),
            size: config_bytes.len() as u64,
        },
        layers: layers
            .iter()
            .map(|l| DescriptorOut {
                media_type: l.media_type.clone(),
                digest: l.blob_digest.clone(),
                size: l.blob_size,
            })
            .collect(),
    };
    serde_json::to_vec(&m).expect("json")
}

/// Whether a received manifest names exactly this config and these layer blobs.
fn manifest_matches(manifest: &[u8], config_digest: &str, layers: &[LayerInfo]) -> bool {
    #[derive(serde::Deserialize)]
    struct M {
        config: DescriptorOut,
        layers: Vec<DescriptorOut>,
    }
    let Ok(m) = serde_json::from_slice::<M>(manifest) else {
        return false;
    };
    m.config.digest == config_digest
        && m.layers.len() == layers.len()
        && m.layers
            .iter()
            .zip(layers)
            .all(|(a, b)| a.digest == b.blob_digest && a.size == b.blob_size)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(db: &Connection, name: &str) -> i64 {
        db.query_row(
            "SELECT count(*) FROM sqlite_master WHERE name = ?1",
            [name],
            |r| r.get(0),
        )
        .unwrap()
    }

    #[test]
    fn shared_connection_gets_both_schemas_and_settings() {
        let db = Connection::open_in_memory().unwrap();
        let other = "CREATE TABLE IF NOT EXISTS others (id TEXT PRIMARY KEY);\n";
        set_up_shared_connection(&db, other).unwrap();
        assert_eq!(count(&db, "images"), 1);
        assert_eq!(count(&db, "others"), 1);
        let fk: i64 = db
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .unwrap();
        assert_eq!(fk, 1);
        // Either side missing brings it back; nothing is created twice.
        db.execute_batch("DROP TABLE others").unwrap();
        set_up_shared_connection(&db, other).unwrap();
        assert_eq!(count(&db, "others"), 1);
        assert_eq!(count(&db, "images"), 1);
    }

    #[test]
    fn ensure_schema_creates_only_what_is_missing() {
        let db = Connection::open_in_memory().unwrap();
        ensure_schema(&db, SCHEMA).unwrap();
        for name in [
            "images",
            "image_names",
            "image_names_by_image",
            "build_cache_by_image",
        ] {
            assert_eq!(count(&db, name), 1, "{name}");
        }
        // A store from before an index existed gets it; a complete one is left as it is.
        db.execute_batch("DROP INDEX image_layers_by_layer")
            .unwrap();
        ensure_schema(&db, SCHEMA).unwrap();
        assert_eq!(count(&db, "image_layers_by_layer"), 1);
        ensure_schema(&db, SCHEMA).unwrap();
        let tables: i64 = db
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .unwrap();
        assert!(tables >= 8, "{tables}");
    }
}
