//! `dermaga system check` for the image store: every row's files present and verified, and
//! the leftovers of interrupted writes found (and, with `repair`, removed).
//!
//! A *problem* is a row that refers to something missing or damaged: the store is not
//! consistent. *Garbage* is a file no row refers to (what a kill -9 in the middle of a write
//! leaves): harmless, and removed by `repair`. Repair re-extracts a layer directory from its
//! blob when it can, recreates short links, and as a last resort forgets images whose content
//! is lost (saying which).

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, BufReader};
use std::path::Path;

use rusqlite::params;

use crate::digest::{digest_hex, is_hex64, HashingReader};
use crate::error::{IoContext, Result};
use crate::fsutil;
use crate::store::ImageStore;

/// What a check found and did.
#[derive(Clone, Debug, Default)]
pub struct CheckReport {
    /// Inconsistencies: rows referring to missing or damaged content.
    pub problems: Vec<String>,
    /// Files no row refers to (left by interrupted writes); not a consistency problem.
    pub garbage: Vec<String>,
    /// What `repair` did.
    pub repaired: Vec<String>,
    /// Problems that remain after this run (all of them when not repairing).
    pub remaining: Vec<String>,
}

impl CheckReport {
    /// No row refers to anything missing or damaged (garbage allowed).
    pub fn is_consistent(&self) -> bool {
        self.problems.is_empty()
    }
}

fn hash_file(path: &Path) -> io::Result<(String, u64)> {
    let f = File::open(path)?;
    let mut r = HashingReader::new(BufReader::with_capacity(256 * 1024, f));
    io::copy(&mut r, &mut io::sink())?;
    let (h, _) = r.finish()?;
    let len = h.len();
    Ok((h.digest(), len))
}

impl ImageStore {
    /// Checks the store (taking its write lock, so no write is in flight); with `repair`,
    /// fixes what can be fixed and removes garbage.
    pub fn check(&self, repair: bool) -> Result<CheckReport> {
        let _lock = self.lock()?;
        let mut rep = CheckReport::default();

        let qc: String = self.db.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
        if qc != "ok" {
            rep.problems.push(format!("state database: {qc}"));
            rep.remaining.push(format!("state database: {qc}"));
        }

        // Layers first: a layer whose directory can be rebuilt from its blob is not lost.
        let layers: Vec<(String, String, String, i64)> = self
            .db
            .prepare("SELECT diff_id, short, blob_digest, blob_size FROM layers")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut lost_layers: HashSet<String> = HashSet::new();
        for (diff_id, short, blob_digest, blob_size) in &layers {
            let blob = self.blob_path(blob_digest)?;
            let blob_ok = match hash_file(&blob) {
                Ok((d, n)) if d == *blob_digest && n as i64 == *blob_size => true,
                Ok((d, _)) => {
                    rep.problems.push(format!(
                        "layer {diff_id}: blob {blob_digest} is damaged (hashes to {d})"
                    ));
                    false
                }
                Err(e) => {
                    rep.problems.push(format!(
                        "layer {diff_id}: blob {blob_digest} unreadable ({e})"
                    ));
                    false
                }
            };
            let dir = self.layer_dir(diff_id)?;
            let dir_ok = fs::symlink_metadata(&dir)
                .map(|m| m.is_dir())
                .unwrap_or(false);
            if !dir_ok {
                let p = format!("layer {diff_id}: directory {} missing", dir.display());
                rep.problems.push(p.clone());
                if repair && blob_ok {
                    match self.reextract(diff_id, &blob) {
                        Ok(()) => rep
                            .repaired
                            .push(format!("layer {diff_id}: re-extracted from its blob")),
                        Err(e) => {
                            rep.remaining
                                .push(format!("{p}; re-extracting failed: {e}"));
                            lost_layers.insert(diff_id.clone());
                        }
                    }
                } else if repair {
                    lost_layers.insert(diff_id.clone());
                } else {
                    rep.remaining.push(p);
                }
            }
            if !blob_ok {
                // The directory still serves containers; only `save` needs the blob. Nothing
                // here can recreate it byte for byte: removing the images is the user's call.
                rep.remaining.push(format!(
                    "layer {diff_id}: blob {blob_digest} not usable; images with this layer cannot be saved (remove and re-load them)"
                ));
            }
            let link = self.root().join("l").join(short);
            let want = format!("../layers/{}", digest_hex(diff_id)?);
            let link_ok = fs::read_link(&link)
                .map(|t| t == Path::new(&want))
                .unwrap_or(false);
            if !link_ok {
                let p = format!("layer {diff_id}: short link l/{short} missing or wrong");
                rep.problems.push(p.clone());
                if repair {
                    let _ = fs::remove_file(&link);
                    std::os::unix::fs::symlink(&want, &link)
                        .ctx(|| format!("creating {}", link.display()))?;
                    rep.repaired
                        .push(format!("layer {diff_id}: short link l/{short} recreated"));
                } else {
                    rep.remaining.push(p);
                }
            }
        }

        // Images: config and manifest blobs, layer rows.
        let images: Vec<(String, String)> = self
            .db
            .prepare("SELECT id, manifest_digest FROM images")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut lost_images: Vec<(String, String)> = Vec::new();
        for (id, manifest_digest) in &images {
            let mut why = Vec::new();
            for (what, digest) in [
                ("config", format!("sha256:{id}")),
                ("manifest", manifest_digest.clone()),
            ] {
                match hash_file(&self.blob_path(&digest)?) {
                    Ok((d, _)) if d == digest => {}
                    Ok((d, _)) => why.push(format!("{what} blob {digest} damaged (hashes to {d})")),
                    Err(e) => why.push(format!("{what} blob {digest} unreadable ({e})")),
                }
            }
            let rows: Vec<(i64, String, Option<String>)> = self
                .db
                .prepare("SELECT il.position, il.diff_id, l.diff_id FROM image_layers il LEFT JOIN layers l ON l.diff_id = il.diff_id WHERE il.image_id = ?1 ORDER BY il.position")?
                .query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<rusqlite::Result<_>>()?;
            for (i, (pos, diff_id, present)) in rows.iter().enumerate() {
                if *pos != i as i64 {
                    why.push(format!("layer positions not contiguous at {pos}"));
                }
                if present.is_none() {
                    why.push(format!("layer {diff_id} not recorded"));
                } else if lost_layers.contains(diff_id) {
                    why.push(format!("layer {diff_id} lost"));
                }
            }
            for w in &why {
                if !w.contains(" lost") {
                    rep.problems.push(format!("image {}: {w}", &id[..12]));
                }
            }
            if !why.is_empty() {
                if repair {
                    lost_images.push((id.clone(), why.join("; ")));
                } else {
                    rep.remaining
                        .extend(why.iter().map(|w| format!("image {}: {w}", &id[..12])));
                }
            }
        }
        if repair && !lost_images.is_empty() {
            self.write_tx(|db| {
                for (id, _) in &lost_images {
                    db.execute("DELETE FROM image_names WHERE image_id = ?1", [id])?;
                    db.execute("DELETE FROM image_layers WHERE image_id = ?1", [id])?;
                    db.execute("DELETE FROM images WHERE id = ?1", [id])?;
                }
                Ok(())
            })?;
            for (id, why) in &lost_images {
                rep.repaired.push(format!(
                    "image {}: removed from the store, its content is lost ({why})",
                    &id[..12]
                ));
            }
        }
        if repair {
            // Layers no image uses any more, and lost layers, go.
            let orphans: Vec<String> = self
                .db
                .prepare("SELECT diff_id FROM layers WHERE diff_id NOT IN (SELECT diff_id FROM image_layers)")?
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            if !orphans.is_empty() {
                self.write_tx(|db| {
                    for d in &orphans {
                        db.execute("DELETE FROM layers WHERE diff_id = ?1", params![d])?;
                    }
                    Ok(())
                })?;
                for d in &orphans {
                    rep.repaired
                        .push(format!("layer {d}: no image uses it; removed"));
                }
            }
        } else {
            let n: i64 = self.db.query_row(
                "SELECT count(*) FROM layers WHERE diff_id NOT IN (SELECT diff_id FROM image_layers)",
                [],
                |r| r.get(0),
            )?;
            if n > 0 {
                rep.garbage
                    .push(format!("{n} layer(s) recorded that no image uses"));
            }
        }

        self.sweep_garbage(repair, &mut rep)?;
        Ok(rep)
    }

    /// Rebuilds a layer directory from its blob.
    fn reextract(&self, diff_id: &str, blob: &Path) -> Result<()> {
        let f = File::open(blob).ctx(|| format!("opening {}", blob.display()))?;
        let s = self.stage_layer(f, &format!("layer {diff_id}"))?;
        let res = (|| {
            if s.diff_id != diff_id {
                return Err(crate::ImageError::DigestMismatch {
                    what: format!("layer {diff_id}"),
                    expected: diff_id.to_string(),
                    actual: s.diff_id.clone(),
                });
            }
            let dst = self.layer_dir(diff_id)?;
            fsutil::remove_any(&dst)?;
            fs::rename(&s.tmp_dir, &dst).ctx(|| format!("moving layer into {}", dst.display()))?;
            fsutil::syncfs(self.root())
        })();
        self.discard_staged(&s);
        res
    }

    /// Files no row refers to: in tmp/, blobs/, layers/ and l/.
    fn sweep_garbage(&self, repair: bool, rep: &mut CheckReport) -> Result<()> {
        let mut blobs: HashSet<String> = HashSet::new();
        let mut stmt = self.db.prepare("SELECT id, manifest_digest FROM images")?;
        for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))? {
            let (id, m) = row?;
            blobs.insert(id);
            blobs.insert(digest_hex(&m)?.to_string());
        }
        let mut layer_dirs: HashSet<String> = HashSet::new();
        let mut shorts: HashSet<String> = HashSet::new();
        let mut stmt = self
            .db
            .prepare("SELECT diff_id, short, blob_digest FROM layers")?;
        for row in stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })? {
            let (d, s, b) = row?;
            layer_dirs.insert(digest_hex(&d)?.to_string());
            shorts.insert(s);
            blobs.insert(digest_hex(&b)?.to_string());
        }
        // (directory, whether an entry of it is referenced)
        type Wanted<'a> = Box<dyn Fn(&str) -> bool + 'a>;
        let dirs: [(&str, Wanted); 4] = [
            ("tmp", Box::new(|_| false)),
            (
                "blobs/sha256",
                Box::new(|n| is_hex64(n) && blobs.contains(n)),
            ),
            (
                "layers",
                Box::new(|n| is_hex64(n) && layer_dirs.contains(n)),
            ),
            ("l", Box::new(|n| shorts.contains(n))),
        ];
        for (sub, wanted) in dirs.iter() {
            let dir = self.root().join(sub);
            let rd = match fs::read_dir(&dir) {
                Ok(rd) => rd,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(crate::ImageError::io(
                        format!("reading {}", dir.display()),
                        e,
                    ))
                }
            };
            for e in rd {
                let e = e.ctx(|| format!("reading {}", dir.display()))?;
                let name = e.file_name().to_string_lossy().into_owned();
                if wanted(&name) {
                    continue;
                }
                let rel = format!("{sub}/{name}");
                if repair {
                    fsutil::remove_any(&e.path())?;
                    rep.repaired
                        .push(format!("{rel}: removed (left by an interrupted write)"));
                } else {
                    rep.garbage.push(rel);
                }
            }
        }
        Ok(())
    }
}
