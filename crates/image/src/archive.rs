//! Image archives, read and written as podman reads and writes them:
//!
//! - **docker-archive** (`docker save`, `podman save`): `manifest.json` (`Config`, `RepoTags`,
//!   `Layers`), `repositories`, the config as `<id>.json` and each layer as an uncompressed
//!   `<diff hex>.tar`. Older archives with `<id>/layer.tar` (or symlinks to the layer tars)
//!   read too, as do compressed layers.
//! - **oci-archive**: a tar of an OCI image layout: `oci-layout`, `index.json` (names in the
//!   `org.opencontainers.image.ref.name` annotation, as podman writes them) and
//!   `blobs/sha256/<hex>`; nested indexes are followed to the host's platform.
//!
//! `load` accepts either, plain or compressed (gzip, zstd), from a file or standard input;
//! every blob is verified against its digest and every layer against its diff id before the
//! image is recorded. `save` writes through a temporary file renamed into place.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;

use serde::Deserialize;
use serde_json::Value;

use crate::digest::{digest_hex, sha256_digest};
use crate::error::{ImageError, IoContext, Result};
use crate::fsutil;
use crate::layer::{self, Compression};
use crate::reference;
use crate::store::{
    discard_staged_in, stage_layer_in, ImageStore, NewImage, StagedLayer, OCI_MANIFEST,
};

/// The archive formats of `save --format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArchiveFormat {
    DockerArchive,
    OciArchive,
}

impl FromStr for ArchiveFormat {
    type Err = ImageError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "docker-archive" => Ok(ArchiveFormat::DockerArchive),
            "oci-archive" => Ok(ArchiveFormat::OciArchive),
            other => Err(ImageError::Other(format!(
                "--format {other}: not supported; use docker-archive or oci-archive"
            ))),
        }
    }
}

/// An image that `load` stored.
#[derive(Clone, Debug)]
pub struct LoadedImage {
    /// Hex image id.
    pub id: String,
    /// The names it was given (fully qualified); empty if the archive named none.
    pub names: Vec<String>,
}

const REF_NAME: &str = "org.opencontainers.image.ref.name";
const CONTAINERD_NAME: &str = "io.containerd.image.name";

/// One member of an archive, located without reading it.
#[derive(Clone, Debug)]
struct Member {
    offset: u64,
    size: u64,
    /// Target of a symlink or hard link member, already resolved to a member name.
    link: Option<String>,
}

/// A tar archive on disk with its members indexed by normalised name.
struct IndexedArchive {
    file: File,
    members: HashMap<String, Member>,
    what: String,
}

/// Reads `[pos, end)` of a file with `pread`, so several readers can share one file.
struct SliceReader<'a> {
    file: &'a File,
    pos: u64,
    end: u64,
}

impl Read for SliceReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.end - self.pos;
        if left == 0 {
            return Ok(0);
        }
        let want = buf.len().min(left as usize);
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "archive member is cut short",
            ));
        }
        self.pos += n as u64;
        Ok(n)
    }
}

/// Lexically normalises a member name (`./a/../b` → `b`); `None` if it leaves the archive.
fn normalize_member(name: &Path) -> Option<String> {
    let mut out: Vec<String> = Vec::new();
    for c in name.components() {
        match c {
            Component::CurDir | Component::RootDir => {}
            Component::Normal(n) => out.push(n.to_string_lossy().into_owned()),
            Component::ParentDir => {
                out.pop()?;
            }
            Component::Prefix(_) => return None,
        }
    }
    Some(out.join("/"))
}

impl IndexedArchive {
    fn open(file: File, what: &str) -> Result<IndexedArchive> {
        let bad = |why: String| ImageError::BadArchive {
            path: what.to_string(),
            why,
        };
        let mut members = HashMap::new();
        {
            let mut ar = tar::Archive::new(&file);
            let entries = ar
                .entries_with_seek()
                .map_err(|e| bad(format!("not a tar archive: {e}")))?;
            for entry in entries {
                let entry = entry.map_err(|e| bad(format!("reading the tar: {e}")))?;
                let path = entry
                    .path()
                    .map_err(|e| bad(format!("bad member name: {e}")))?;
                let Some(name) = normalize_member(&path) else {
                    continue;
                };
                let kind = entry.header().entry_type();
                let link = match kind {
                    tar::EntryType::Symlink | tar::EntryType::Link => {
                        let target = entry
                            .link_name()
                            .map_err(|e| bad(format!("{name}: bad link target: {e}")))?
                            .map(|t| t.into_owned());
                        let Some(target) = target else { continue };
                        let resolved = if kind == tar::EntryType::Symlink {
                            Path::new(&name)
                                .parent()
                                .unwrap_or(Path::new(""))
                                .join(target)
                        } else {
                            target
                        };
                        normalize_member(&resolved)
                    }
                    tar::EntryType::Regular | tar::EntryType::Continuous => None,
                    _ => continue,
                };
                members.insert(
                    name,
                    Member {
                        offset: entry.raw_file_position(),
                        size: entry.size(),
                        link,
                    },
                );
            }
        }
        Ok(IndexedArchive {
            file,
            members,
            what: what.to_string(),
        })
    }

    fn find(&self, name: &str) -> Result<&Member> {
        let mut name = normalize_member(Path::new(name)).unwrap_or_default();
        for _ in 0..16 {
            let m = self
                .members
                .get(&name)
                .ok_or_else(|| ImageError::BadArchive {
                    path: self.what.clone(),
                    why: format!("member {name} is missing"),
                })?;
            match &m.link {
                Some(t) => name = t.clone(),
                None => return Ok(m),
            }
        }
        Err(ImageError::BadArchive {
            path: self.what.clone(),
            why: format!("member {name}: too many links"),
        })
    }

    fn has(&self, name: &str) -> bool {
        self.members.contains_key(name)
    }

    fn reader(&self, name: &str) -> Result<SliceReader<'_>> {
        let m = self.find(name)?;
        Ok(SliceReader {
            file: &self.file,
            pos: m.offset,
            end: m.offset + m.size,
        })
    }

    fn read_small(&self, name: &str) -> Result<Vec<u8>> {
        let m = self.find(name)?;
        if m.size > 64 << 20 {
            return Err(ImageError::BadArchive {
                path: self.what.clone(),
                why: format!("{name} is {} bytes, too large for a JSON document", m.size),
            });
        }
        let mut v = Vec::with_capacity(m.size as usize);
        self.reader(name)?
            .read_to_end(&mut v)
            .ctx(|| format!("{}: reading {name}", self.what))?;
        Ok(v)
    }

    fn json<T: for<'de> Deserialize<'de>>(&self, name: &str) -> Result<T> {
        let bytes = self.read_small(name)?;
        serde_json::from_slice(&bytes).map_err(|e| ImageError::BadJson {
            what: format!("{}: {name}", self.what),
            why: e.to_string(),
        })
    }
}

#[derive(Deserialize)]
struct DockerManifestEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

#[derive(Deserialize, Clone)]
struct Descriptor {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: String,
    #[serde(default)]
    size: u64,
    #[serde(default)]
    annotations: Option<HashMap<String, String>>,
    #[serde(default)]
    platform: Option<Platform>,
}

#[derive(Deserialize, Clone)]
struct Platform {
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    os: String,
}

#[derive(Deserialize)]
struct IndexDoc {
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct ManifestDoc {
    config: Descriptor,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

/// The `rootfs.diff_ids` of a config.
fn diff_ids_of(config: &[u8], what: &str) -> Result<Vec<String>> {
    let v: Value = serde_json::from_slice(config).map_err(|e| ImageError::BadJson {
        what: what.to_string(),
        why: e.to_string(),
    })?;
    let ids = v
        .get("rootfs")
        .and_then(|r| r.get("diff_ids"))
        .and_then(|d| d.as_array())
        .ok_or_else(|| ImageError::BadJson {
            what: what.to_string(),
            why: "no rootfs.diff_ids".into(),
        })?;
    ids.iter()
        .map(|d| {
            let s = d.as_str().ok_or_else(|| ImageError::BadJson {
                what: what.to_string(),
                why: "a diff id is not a string".into(),
            })?;
            digest_hex(s)?;
            Ok(s.to_string())
        })
        .collect()
}

fn is_index_type(mt: &str) -> bool {
    mt == "application/vnd.oci.image.index.v1+json"
        || mt == "application/vnd.docker.distribution.manifest.list.v2+json"
}

/// The work of one `load`: layers to stage, staged layers and images to record.
struct LoadPlan {
    jobs: Vec<StageJob>,
    staged: Vec<StagedLayer>,
    staged_ids: HashSet<String>,
    images: Vec<NewImage>,
}

/// One layer member of an archive to stage.
struct StageJob {
    member: String,
    diff_id: String,
    /// The blob digest the archive states (OCI), checked too.
    blob_digest: Option<String>,
}

/// Stages one layer member and checks its digests.
fn stage_job(ar: &IndexedArchive, tmp: &Path, job: &StageJob) -> Result<StagedLayer> {
    let what = format!("{}: {}", ar.what, job.member);
    let s = stage_layer_in(tmp, ar.reader(&job.member)?, &what)?;
    let check = (|| {
        if let Some(b) = &job.blob_digest {
            if s.blob_digest != *b {
                return Err(ImageError::DigestMismatch {
                    what: what.clone(),
                    expected: b.clone(),
                    actual: s.blob_digest.clone(),
                });
            }
        }
        if s.diff_id != job.diff_id {
            return Err(ImageError::DigestMismatch {
                what: format!("{what} (uncompressed)"),
                expected: job.diff_id.clone(),
                actual: s.diff_id.clone(),
            });
        }
        Ok(())
    })();
    match check {
        Ok(()) => Ok(s),
        Err(e) => {
            discard_staged_in(&s);
            Err(e)
        }
    }
}

impl ImageStore {
    /// `podman load`: stores every image of a docker-archive or oci-archive (plain, gzip or
    /// zstd) read from `path`, or from standard input when `path` is `None` or `-`.
    pub fn load(&self, path: Option<&Path>) -> Result<Vec<LoadedImage>> {
        let _lock = self.lock()?;
        let mut spooled: Option<PathBuf> = None;
        let res = (|| {
            let (file, what) = match path {
                Some(p) if p != Path::new("-") => {
                    let what = p.display().to_string();
                    let mut f = File::open(p).ctx(|| format!("opening {what}"))?;
                    let mut head = [0u8; 6];
                    let n = read_head(&mut f, &mut head).ctx(|| format!("reading {what}"))?;
                    let c =
                        Compression::detect(&head[..n]).map_err(|why| ImageError::BadArchive {
                            path: what.clone(),
                            why: why.into(),
                        })?;
                    if c == Compression::None {
                        (File::open(p).ctx(|| format!("opening {what}"))?, what)
                    } else {
                        let f = File::open(p).ctx(|| format!("opening {what}"))?;
                        let tmp = self.spool(f, &what)?;
                        let file = File::open(&tmp).ctx(|| format!("opening {}", tmp.display()))?;
                        spooled = Some(tmp);
                        (file, what)
                    }
                }
                _ => {
                    let what = "standard input".to_string();
                    let tmp = self.spool(io::stdin().lock(), &what)?;
                    let file = File::open(&tmp).ctx(|| format!("opening {}", tmp.display()))?;
                    spooled = Some(tmp);
                    (file, what)
                }
            };
            let ar = IndexedArchive::open(file, &what)?;
            let mut plan = LoadPlan {
                jobs: Vec::new(),
                staged: Vec::new(),
                staged_ids: HashSet::new(),
                images: Vec::new(),
            };
            let res = if ar.has("manifest.json") {
                self.plan_docker(&ar, &mut plan)
            } else if ar.has("index.json") {
                self.plan_oci(&ar, &mut plan)
            } else {
                Err(ImageError::BadArchive {
                    path: what.clone(),
                    why: "neither a docker-archive (no manifest.json) nor an oci-archive (no index.json)".into(),
                })
            };
            let res = res.and_then(|()| self.run_jobs(&ar, &mut plan));
            if let Err(e) = res {
                for s in &plan.staged {
                    self.discard_staged(s);
                }
                return Err(e);
            }
            let names: Vec<Vec<String>> = plan.images.iter().map(|i| i.names.clone()).collect();
            let ids = self.commit_images(plan.staged, plan.images)?;
            Ok(ids
                .into_iter()
                .zip(names)
                .map(|(id, names)| LoadedImage { id, names })
                .collect())
        })();
        if let Some(t) = spooled {
            let _ = fs::remove_file(t);
        }
        res
    }

    /// Copies a (possibly compressed) stream, decompressed, to a temporary file in the store.
    fn spool(&self, src: impl Read, what: &str) -> Result<PathBuf> {
        let tmp = fsutil::temp_path(&self.tmp_dir(), "archive");
        let res = (|| {
            let (_, mut r) = layer::decompress(BufReader::with_capacity(256 * 1024, src), what)?;
            let mut out = BufWriter::with_capacity(
                256 * 1024,
                File::create(&tmp).ctx(|| format!("creating {}", tmp.display()))?,
            );
            io::copy(&mut r, &mut out).ctx(|| format!("reading {what}"))?;
            out.flush().ctx(|| format!("writing {}", tmp.display()))?;
            Ok(())
        })();
        match res {
            Ok(()) => Ok(tmp),
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                Err(e)
            }
        }
    }

    /// Queues layer `member` for staging unless the store or this load already has `diff_id`.
    fn stage_member(
        &self,
        member: &str,
        diff_id: &str,
        blob_digest: Option<&str>,
        plan: &mut LoadPlan,
    ) -> Result<()> {
        if plan.staged_ids.contains(diff_id) || self.has_layer(diff_id)? {
            return Ok(());
        }
        plan.staged_ids.insert(diff_id.to_string());
        plan.jobs.push(StageJob {
            member: member.to_string(),
            diff_id: diff_id.to_string(),
            blob_digest: blob_digest.map(str::to_string),
        });
        Ok(())
    }

    /// Stages the queued layers, several at a time (extraction waits on the file system more
    /// than on the CPU), checking each one's diff id and blob digest.
    fn run_jobs(&self, ar: &IndexedArchive, plan: &mut LoadPlan) -> Result<()> {
        let jobs = std::mem::take(&mut plan.jobs);
        let workers = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            .clamp(2, 4)
            .min(jobs.len().max(1));
        let next = std::sync::atomic::AtomicUsize::new(0);
        let tmp = self.tmp_dir();
        let results: Vec<(usize, Result<StagedLayer>)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers)
                .map(|_| {
                    scope.spawn(|| {
                        let mut done = Vec::new();
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(job) = jobs.get(i) else { break };
                            let r = stage_job(ar, &tmp, job);
                            let failed = r.is_err();
                            done.push((i, r));
                            if failed {
                                // Stop the others early: no more jobs are taken.
                                next.store(jobs.len(), std::sync::atomic::Ordering::Relaxed);
                                break;
                            }
                        }
                        done
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_default())
                .collect()
        });
        let mut results = results;
        results.sort_by_key(|(i, _)| *i);
        let mut first_err = None;
        for (_, r) in results {
            match r {
                Ok(s) => plan.staged.push(s),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn plan_docker(&self, ar: &IndexedArchive, plan: &mut LoadPlan) -> Result<()> {
        let entries: Vec<DockerManifestEntry> = ar.json("manifest.json")?;
        if entries.is_empty() {
            return Err(ImageError::BadArchive {
                path: ar.what.clone(),
                why: "manifest.json lists no image".into(),
            });
        }
        for e in entries {
            let config_bytes = ar.read_small(&e.config)?;
            // Docker names the config after its digest; check it when it does.
            let config_digest = sha256_digest(&config_bytes);
            let stem = Path::new(&e.config)
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("");
            if crate::digest::is_hex64(stem) && stem != digest_hex(&config_digest)? {
                return Err(ImageError::DigestMismatch {
                    what: format!("{}: {}", ar.what, e.config),
                    expected: format!("sha256:{stem}"),
                    actual: config_digest,
                });
            }
            let diff_ids = diff_ids_of(&config_bytes, &format!("{}: {}", ar.what, e.config))?;
            if diff_ids.len() != e.layers.len() {
                return Err(ImageError::BadArchive {
                    path: ar.what.clone(),
                    why: format!(
                        "{} lists {} layers but its config {} diff ids",
                        e.config,
                        e.layers.len(),
                        diff_ids.len()
                    ),
                });
            }
            for (member, diff_id) in e.layers.iter().zip(&diff_ids) {
                self.stage_member(member, diff_id, None, plan)?;
            }
            let names = e
                .repo_tags
                .unwrap_or_default()
                .iter()
                .map(|t| reference::normalize_docker_name(t))
                .collect::<Result<Vec<_>>>()?;
            plan.images.push(NewImage {
                config_bytes,
                manifest_bytes: None,
                diff_ids,
                names,
            });
        }
        Ok(())
    }

    fn plan_oci(&self, ar: &IndexedArchive, plan: &mut LoadPlan) -> Result<()> {
        let index: IndexDoc = ar.json("index.json")?;
        if index.manifests.is_empty() {
            return Err(ImageError::BadArchive {
                path: ar.what.clone(),
                why: "index.json lists no manifest".into(),
            });
        }
        for desc in index.manifests {
            let name = desc.annotations.as_ref().and_then(|a| {
                a.get(CONTAINERD_NAME)
                    .and_then(|n| reference::normalize_docker_name(n).ok())
                    .or_else(|| {
                        a.get(REF_NAME)
                            .and_then(|n| reference::normalize_new_name(n).ok())
                    })
            });
            let manifest_desc = self.pick_manifest(ar, desc, 0)?;
            let manifest_bytes = self.read_blob(ar, &manifest_desc)?;
            let m: ManifestDoc =
                serde_json::from_slice(&manifest_bytes).map_err(|e| ImageError::BadJson {
                    what: format!("{}: manifest {}", ar.what, manifest_desc.digest),
                    why: e.to_string(),
                })?;
            let config_bytes = self.read_blob(ar, &m.config)?;
            let diff_ids = diff_ids_of(
                &config_bytes,
                &format!("{}: config {}", ar.what, m.config.digest),
            )?;
            if diff_ids.len() != m.layers.len() {
                return Err(ImageError::BadArchive {
                    path: ar.what.clone(),
                    why: format!(
                        "manifest {} lists {} layers but its config {} diff ids",
                        manifest_desc.digest,
                        m.layers.len(),
                        diff_ids.len()
                    ),
                });
            }
            for (l, diff_id) in m.layers.iter().zip(&diff_ids) {
                if Compression::from_media_type(&l.media_type).is_none() && !l.media_type.is_empty()
                {
                    return Err(ImageError::BadArchive {
                        path: ar.what.clone(),
                        why: format!(
                            "layer {}: media type {} is not supported",
                            l.digest, l.media_type
                        ),
                    });
                }
                let member = format!("blobs/sha256/{}", digest_hex(&l.digest)?);
                self.stage_member(&member, diff_id, Some(&l.digest), plan)?;
            }
            plan.images.push(NewImage {
                config_bytes,
                manifest_bytes: Some(manifest_bytes),
                diff_ids,
                names: name.into_iter().collect(),
            });
        }
        Ok(())
    }

    /// Follows nested indexes to the manifest for this host's platform.
    fn pick_manifest(
        &self,
        ar: &IndexedArchive,
        desc: Descriptor,
        depth: u32,
    ) -> Result<Descriptor> {
        if !is_index_type(&desc.media_type) {
            return Ok(desc);
        }
        if depth > 4 {
            return Err(ImageError::BadArchive {
                path: ar.what.clone(),
                why: "indexes nested too deep".into(),
            });
        }
        let bytes = self.read_blob(ar, &desc)?;
        let idx: IndexDoc = serde_json::from_slice(&bytes).map_err(|e| ImageError::BadJson {
            what: format!("{}: index {}", ar.what, desc.digest),
            why: e.to_string(),
        })?;
        let arch = crate::config::host_arch();
        let pick = idx
            .manifests
            .iter()
            .find(|d| {
                d.platform
                    .as_ref()
                    .is_some_and(|p| p.os == "linux" && p.architecture == arch)
            })
            .or_else(|| idx.manifests.iter().find(|d| d.platform.is_none()))
            .cloned()
            .ok_or_else(|| ImageError::BadArchive {
                path: ar.what.clone(),
                why: format!("index {} has no linux/{arch} image", desc.digest),
            })?;
        self.pick_manifest(ar, pick, depth + 1)
    }

    /// Reads a small blob of an OCI layout and checks its size and digest.
    fn read_blob(&self, ar: &IndexedArchive, desc: &Descriptor) -> Result<Vec<u8>> {
        let digest = &desc.digest;
        let bytes = ar.read_small(&format!("blobs/sha256/{}", digest_hex(digest)?))?;
        if desc.size != 0 && bytes.len() as u64 != desc.size {
            return Err(ImageError::BadArchive {
                path: ar.what.clone(),
                why: format!(
                    "blob {digest} is {} bytes, its descriptor says {}",
                    bytes.len(),
                    desc.size
                ),
            });
        }
        let actual = sha256_digest(&bytes);
        if actual != *digest {
            return Err(ImageError::DigestMismatch {
                what: format!("{}: blob", ar.what),
                expected: digest.to_string(),
                actual,
            });
        }
        Ok(bytes)
    }

    /// `podman save -o PATH`: writes the images `references` name to `out` (through a
    /// temporary file renamed into place), or to standard output when `out` is `-`.
    pub fn save(&self, references: &[String], format: ArchiveFormat, out: &Path) -> Result<()> {
        if out == Path::new("-") {
            let stdout = io::stdout().lock();
            let mut w = BufWriter::with_capacity(256 * 1024, stdout);
            self.save_to(references, format, &mut w)?;
            return w.flush().ctx(|| "writing standard output".into());
        }
        let dir = match out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let tmp = fsutil::temp_path(&dir, "save");
        let res = (|| {
            let f = File::create(&tmp).ctx(|| format!("creating {}", tmp.display()))?;
            let mut w = BufWriter::with_capacity(256 * 1024, f);
            self.save_to(references, format, &mut w)?;
            let f = w.into_inner().map_err(|e| {
                ImageError::io(format!("writing {}", tmp.display()), e.into_error())
            })?;
            f.sync_all().ctx(|| format!("syncing {}", tmp.display()))?;
            fs::rename(&tmp, out).ctx(|| format!("renaming into {}", out.display()))
        })();
        if res.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        res
    }

    /// Writes an archive of the images `references` name to `w`.
    pub fn save_to(
        &self,
        references: &[String],
        format: ArchiveFormat,
        w: &mut dyn Write,
    ) -> Result<()> {
        if references.is_empty() {
            return Err(ImageError::Other("save: name at least one image".into()));
        }
        // (id, names to record)
        let mut picks: Vec<(String, Vec<String>)> = Vec::new();
        for r in references {
            let id = self.find_id(r)?;
            let info = self.info(&id)?;
            let by_id = {
                let x = r.strip_prefix("sha256:").unwrap_or(r);
                x.bytes().all(|b| b.is_ascii_hexdigit()) && id.starts_with(x)
            };
            let names = if by_id {
                info.names.clone()
            } else {
                let r = reference::Reference::parse(r)?;
                let tag = r.tag.clone().unwrap_or_else(|| "latest".into());
                let suffix = format!("/{}:{tag}", r.path);
                let exact = r.domain.as_ref().map(|d| format!("{d}/{}:{tag}", r.path));
                info.names
                    .iter()
                    .filter(|n| match &exact {
                        Some(e) => *n == e,
                        None => n.ends_with(&suffix),
                    })
                    .take(1)
                    .cloned()
                    .collect()
            };
            match picks.iter_mut().find(|(i, _)| *i == id) {
                Some((_, ns)) => ns.extend(names),
                None => picks.push((id, names)),
            }
        }
        let mut b = tar::Builder::new(w);
        match format {
            ArchiveFormat::DockerArchive => self.write_docker(&mut b, &picks)?,
            ArchiveFormat::OciArchive => self.write_oci(&mut b, &picks)?,
        }
        b.into_inner().ctx(|| "finishing the archive".into())?;
        Ok(())
    }

    fn write_docker(
        &self,
        b: &mut tar::Builder<&mut dyn Write>,
        picks: &[(String, Vec<String>)],
    ) -> Result<()> {
        let mut written = HashSet::new();
        let mut manifest = Vec::new();
        let mut repositories: serde_json::Map<String, Value> = serde_json::Map::new();
        for (id, names) in picks {
            let info = self.info(id)?;
            let mut layer_names = Vec::new();
            for l in &info.layers {
                let name = format!("{}.tar", digest_hex(&l.diff_id)?);
                if written.insert(name.clone()) {
                    let blob = self.blob_path(&l.blob_digest)?;
                    let r = layer::open_decompressed(&blob)?;
                    append(b, &name, l.size, r)?;
                }
                layer_names.push(name);
            }
            let config_name = format!("{id}.json");
            let config = self.config_bytes(id)?;
            append(b, &config_name, config.len() as u64, &config[..])?;
            for n in names {
                let (repo, tag) = reference::split_repo_tag(n);
                let top = info
                    .layers
                    .last()
                    .map(|l| digest_hex(&l.diff_id).map(str::to_string))
                    .transpose()?
                    .unwrap_or_default();
                repositories
                    .entry(repo.to_string())
                    .or_insert_with(|| Value::Object(Default::default()))
                    .as_object_mut()
                    .expect("object")
                    .insert(tag.to_string(), Value::String(top));
            }
            manifest.push(serde_json::json!({
                "Config": config_name,
                "RepoTags": if names.is_empty() { Value::Null } else { serde_json::json!(names) },
                "Layers": layer_names,
            }));
        }
        let m = serde_json::to_vec(&manifest).expect("json");
        append(b, "manifest.json", m.len() as u64, &m[..])?;
        let r = serde_json::to_vec(&repositories).expect("json");
        append(b, "repositories", r.len() as u64, &r[..])?;
        Ok(())
    }

    fn write_oci(
        &self,
        b: &mut tar::Builder<&mut dyn Write>,
        picks: &[(String, Vec<String>)],
    ) -> Result<()> {
        append_dir(b, "blobs/")?;
        append_dir(b, "blobs/sha256/")?;
        let layout = br#"{"imageLayoutVersion": "1.0.0"}"#;
        append(b, "oci-layout", layout.len() as u64, &layout[..])?;
        let mut written = HashSet::new();
        let mut index_entries = Vec::new();
        for (id, names) in picks {
            let info = self.info(id)?;
            for l in &info.layers {
                if written.insert(l.blob_digest.clone()) {
                    let p = self.blob_path(&l.blob_digest)?;
                    let f = File::open(&p).map_err(|e| ImageError::Corrupt {
                        root: self.root().to_path_buf(),
                        why: format!("layer blob {} unreadable ({e})", l.blob_digest),
                    })?;
                    append(
                        b,
                        &format!("blobs/sha256/{}", digest_hex(&l.blob_digest)?),
                        l.blob_size,
                        BufReader::with_capacity(256 * 1024, f),
                    )?;
                }
            }
            let config = self.config_bytes(id)?;
            if written.insert(format!("sha256:{id}")) {
                append(
                    b,
                    &format!("blobs/sha256/{id}"),
                    config.len() as u64,
                    &config[..],
                )?;
            }
            let manifest = self.manifest_bytes(id)?;
            let mt = serde_json::from_slice::<Value>(&manifest)
                .ok()
                .and_then(|v| {
                    v.get("mediaType")
                        .and_then(|m| m.as_str())
                        .map(str::to_string)
                })
                .unwrap_or_else(|| OCI_MANIFEST.to_string());
            if written.insert(info.digest.clone()) {
                append(
                    b,
                    &format!("blobs/sha256/{}", digest_hex(&info.digest)?),
                    manifest.len() as u64,
                    &manifest[..],
                )?;
            }
            let entry = |name: Option<&String>| {
                let mut e = serde_json::json!({"mediaType": mt, "digest": info.digest, "size": manifest.len()});
                if let Some(n) = name {
                    e["annotations"] = serde_json::json!({ REF_NAME: n });
                }
                e
            };
            if names.is_empty() {
                index_entries.push(entry(None));
            } else {
                for n in names {
                    index_entries.push(entry(Some(n)));
                }
            }
        }
        let index = serde_json::to_vec(
            &serde_json::json!({"schemaVersion": 2, "manifests": index_entries}),
        )
        .expect("json");
        append(b, "index.json", index.len() as u64, &index[..])?;
        Ok(())
    }
}

fn read_head(f: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        let k = f.read(&mut buf[n..])?;
        if k == 0 {
            break;
        }
        n += k;
    }
    Ok(n)
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h
}

fn append(
    b: &mut tar::Builder<&mut dyn Write>,
    name: &str,
    size: u64,
    data: impl Read,
) -> Result<()> {
    let mut h = header(tar::EntryType::Regular, 0o444, size);
    b.append_data(&mut h, name, data)
        .ctx(|| format!("writing {name} into the archive"))
}

fn append_dir(b: &mut tar::Builder<&mut dyn Write>, name: &str) -> Result<()> {
    let mut h = header(tar::EntryType::Directory, 0o755, 0);
    b.append_data(&mut h, name, io::empty())
        .ctx(|| format!("writing {name} into the archive"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_names() {
        assert_eq!(
            normalize_member(Path::new("./a/../b.tar")).as_deref(),
            Some("b.tar")
        );
        assert_eq!(normalize_member(Path::new("x/../../b")), None);
        assert_eq!(
            normalize_member(Path::new("abc/layer.tar")).as_deref(),
            Some("abc/layer.tar")
        );
        assert!("docker-archive".parse::<ArchiveFormat>().is_ok());
        assert!("oci-dir".parse::<ArchiveFormat>().is_err());
    }
}
