//! `pull`: manifest (through an index to the wanted platform), config and layers from a
//! registry into the store. Layers download on several threads into temporary files, each
//! verified against its digest; the store's lock is held from the first download to the one
//! transaction that records the image, so no half-image is ever visible.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Mutex;

use super::client::{header, read_small, status_error, RegistryClient};
use super::conf::{ReferenceExt, RegistriesConf};
use super::manifest::{self, media_types, Descriptor, Fetched, ImageManifest, Platform};
use super::{RegistryError, RegistryOptions, Result};
use crate::digest::{digest_hex, sha256_digest, Hasher};
use crate::error::ImageError;
use crate::fsutil;
use crate::reference::Reference;
use crate::store::{ImageStore, NewImage, StagedLayer};

/// What `pull` stored.
#[derive(Clone, Debug)]
pub struct PullOutcome {
    /// The image id (hex sha256 of the config).
    pub id: String,
    /// The name it was pulled as (`host/path:tag`; `host/path@digest` when pulled by digest).
    pub name: String,
    /// The manifest's digest (of the platform's image manifest, not of an index).
    pub manifest_digest: String,
    /// Layers downloaded (the rest were already in the store).
    pub layers_fetched: usize,
}

/// Pulls `name` (short names resolved through `registries.conf`) into `store`.
pub fn pull(store: &ImageStore, name: &str, opts: &RegistryOptions) -> Result<PullOutcome> {
    let conf = RegistriesConf::load(opts.registries_conf.as_deref())?;
    let candidates = conf.pull_candidates(name)?;
    let mut failures = Vec::new();
    for r in &candidates {
        match pull_one(store, r, opts) {
            Ok(o) => return Ok(o),
            // Only "not there" moves on to the next search registry; anything else is an error.
            Err(e @ RegistryError::NotFound { .. }) if candidates.len() > 1 => {
                failures.push(e.to_string())
            }
            Err(e) => return Err(e),
        }
    }
    Err(RegistryError::NotFound {
        reference: name.to_string(),
        why: format!("not found in any search registry: {}", failures.join("; ")),
    })
}

fn pull_one(store: &ImageStore, r: &Reference, opts: &RegistryOptions) -> Result<PullOutcome> {
    let host = r.domain.clone().unwrap_or_default();
    let whole = r.whole();
    opts.say(&format!("Trying to pull {whole}..."));
    let client = RegistryClient::for_repo(&host, &r.repository(), opts)?;
    let scope = format!("repository:{}:pull", r.path);
    let want = opts.platform.clone().unwrap_or_else(Platform::host);

    let (mut body, mut ct, mut digest) = fetch_manifest(&client, r, &r.manifest_ref(), &scope)?;
    let image = match manifest::classify(&body, ct.as_deref(), &whole)? {
        Fetched::Image(m) => m,
        Fetched::Index(index) => {
            let d = manifest::choose(&index, &want, &whole)?.clone();
            (body, ct, digest) = fetch_manifest(&client, r, &d.digest, &scope)?;
            if digest != d.digest {
                return Err(ImageError::DigestMismatch {
                    what: format!("{whole}: manifest for {want}"),
                    expected: d.digest,
                    actual: digest,
                }
                .into());
            }
            match manifest::classify(&body, ct.as_deref(), &whole)? {
                Fetched::Image(m) => m,
                Fetched::Index(_) => {
                    return Err(RegistryError::BadManifest {
                        what: whole,
                        why: "an index entry for the platform is itself an index".into(),
                    })
                }
            }
        }
    };
    check_manifest(&image, &whole)?;

    let config_bytes = fetch_small_blob(&client, r, &image.config, &scope)?;
    let diff_ids = config_diff_ids(&config_bytes, &whole)?;
    if diff_ids.len() != image.layers.len() {
        return Err(RegistryError::BadManifest {
            what: whole,
            why: format!(
                "the manifest lists {} layers but the config {}",
                image.layers.len(),
                diff_ids.len()
            ),
        });
    }

    let _lock = store.lock()?;
    let mut needed: Vec<(usize, Descriptor)> = Vec::new();
    for (i, (l, d)) in image.layers.iter().zip(&diff_ids).enumerate() {
        if store.has_layer(d)? {
            opts.say(&format!(
                "Copying blob {} skipped: already exists",
                short(&l.digest)
            ));
        } else if !needed.iter().any(|(_, n)| n.digest == l.digest) {
            needed.push((i, l.clone()));
        }
    }
    let layers_fetched = needed.len();
    let staged = download_and_stage(store, &client, r, &scope, &needed, &diff_ids, opts)?;
    opts.say(&format!(
        "Copying config {} done",
        short(&image.config.digest)
    ));
    let name = match &r.digest {
        Some(_) => None,
        None => Some(whole.clone()),
    };
    let ids = store.commit_images(
        staged,
        vec![NewImage {
            config_bytes,
            manifest_bytes: Some(body),
            diff_ids,
            names: name.into_iter().collect(),
        }],
    )?;
    opts.say("Writing manifest to image destination");
    let id = ids.into_iter().next().ok_or_else(|| {
        RegistryError::Image(ImageError::Other("the store recorded no image".into()))
    })?;
    Ok(PullOutcome {
        id,
        name: whole,
        manifest_digest: digest,
        layers_fetched,
    })
}

/// GETs a manifest by tag or digest; returns its body, content type and digest (verified when
/// asked by digest; compared with `Docker-Content-Digest` otherwise).
fn fetch_manifest(
    client: &RegistryClient,
    r: &Reference,
    reference: &str,
    scope: &str,
) -> Result<(Vec<u8>, Option<String>, String)> {
    let url = client.url(&format!("/v2/{}/manifests/{reference}", r.path));
    let mut resp = client.get(&url, scope, &[("Accept", media_types::ACCEPT)])?;
    let status = resp.status().as_u16();
    if status == 404 {
        return Err(RegistryError::NotFound {
            reference: format!("{}:{reference}", r.repository()).replace(":sha256:", "@sha256:"),
            why: "manifest unknown to the registry".into(),
        });
    }
    if !(200..300).contains(&status) {
        return Err(status_error("GET", &url, resp));
    }
    let ct = header(&resp, "content-type").map(str::to_string);
    let claimed = header(&resp, "docker-content-digest").map(str::to_string);
    let body = read_small(&url, &mut resp)?;
    let actual = sha256_digest(&body);
    let expected = if reference.starts_with("sha256:") {
        Some(reference.to_string())
    } else {
        claimed.filter(|c| c.starts_with("sha256:"))
    };
    if let Some(e) = expected {
        if e != actual {
            return Err(ImageError::DigestMismatch {
                what: format!("manifest {url}"),
                expected: e,
                actual,
            }
            .into());
        }
    }
    Ok((body, ct, actual))
}

fn check_manifest(m: &ImageManifest, what: &str) -> Result<()> {
    let bad = |why: String| RegistryError::BadManifest {
        what: what.to_string(),
        why,
    };
    let cmt = m.config.media_type.as_str();
    if cmt != media_types::OCI_CONFIG && cmt != media_types::DOCKER_CONFIG {
        return Err(bad(format!(
            "config media type {cmt} is not an image config (an artifact, not an image?)"
        )));
    }
    for l in &m.layers {
        if !media_types::is_layer(&l.media_type) {
            return Err(bad(format!(
                "layer {} has media type {}, which is not a tar layer",
                l.digest, l.media_type
            )));
        }
        digest_hex(&l.digest)?;
    }
    digest_hex(&m.config.digest)?;
    Ok(())
}

fn config_diff_ids(config: &[u8], what: &str) -> Result<Vec<String>> {
    #[derive(serde::Deserialize)]
    struct RootFs {
        diff_ids: Vec<String>,
    }
    #[derive(serde::Deserialize)]
    struct Config {
        rootfs: RootFs,
    }
    let c: Config = serde_json::from_slice(config).map_err(|e| RegistryError::BadManifest {
        what: format!("{what}: config"),
        why: e.to_string(),
    })?;
    for d in &c.rootfs.diff_ids {
        digest_hex(d)?;
    }
    Ok(c.rootfs.diff_ids)
}

/// A config (or other small blob), verified.
fn fetch_small_blob(
    client: &RegistryClient,
    r: &Reference,
    d: &Descriptor,
    scope: &str,
) -> Result<Vec<u8>> {
    let url = client.url(&format!("/v2/{}/blobs/{}", r.path, d.digest));
    let mut resp = client.get(&url, scope, &[])?;
    if !resp.status().is_success() {
        return Err(status_error("GET", &url, resp));
    }
    let body = read_small(&url, &mut resp)?;
    let actual = sha256_digest(&body);
    if actual != d.digest {
        return Err(ImageError::DigestMismatch {
            what: format!("blob {url}"),
            expected: d.digest.clone(),
            actual,
        }
        .into());
    }
    Ok(body)
}

/// Downloads `needed` layers on `opts.jobs()` threads into the store's temporary directory and
/// stages each (extraction, diff id) on this thread as it arrives. Every staged layer's diff id
/// must be the one the config names.
fn download_and_stage(
    store: &ImageStore,
    client: &RegistryClient,
    r: &Reference,
    scope: &str,
    needed: &[(usize, Descriptor)],
    diff_ids: &[String],
    opts: &RegistryOptions,
) -> Result<Vec<StagedLayer>> {
    let tmp = store.tmp_dir();
    let queue = Mutex::new(needed.iter().collect::<Vec<_>>());
    let (tx, rx) = mpsc::channel::<(usize, Result<PathBuf>)>();
    let mut staged: Vec<StagedLayer> = Vec::new();
    let result: Result<()> = std::thread::scope(|s| {
        for _ in 0..opts.jobs().min(needed.len().max(1)) {
            let tx = tx.clone();
            let queue = &queue;
            let tmp = &tmp;
            s.spawn(move || loop {
                let next = queue.lock().unwrap_or_else(|p| p.into_inner()).pop();
                let Some((i, d)) = next else { break };
                let res = download_blob(client, r, d, scope, tmp, opts);
                if tx.send((*i, res)).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        let mut first_err = None;
        for (i, res) in rx {
            if first_err.is_some() {
                if let Ok(p) = res {
                    let _ = std::fs::remove_file(p);
                }
                continue;
            }
            let staged_one = res.and_then(|path| {
                let what = format!("{} layer {}", r.whole(), image_layer_digest(needed, i));
                let f =
                    File::open(&path).map_err(|e| ImageError::io(path.display().to_string(), e));
                let out = f
                    .map_err(RegistryError::from)
                    .and_then(|f| store.stage_layer(f, &what).map_err(RegistryError::from));
                let _ = std::fs::remove_file(&path);
                out
            });
            match staged_one {
                Ok(s) if s.diff_id == diff_ids[i] => staged.push(s),
                Ok(s) => {
                    let e = ImageError::DigestMismatch {
                        what: format!("layer {} (uncompressed)", image_layer_digest(needed, i)),
                        expected: diff_ids[i].clone(),
                        actual: s.diff_id.clone(),
                    };
                    store.discard_staged(&s);
                    first_err = Some(e.into());
                }
                Err(e) => first_err = Some(e),
            }
            if first_err.is_some() {
                // Stop the other threads from taking more work.
                queue.lock().unwrap_or_else(|p| p.into_inner()).clear();
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    });
    if let Err(e) = result {
        for s in &staged {
            store.discard_staged(s);
        }
        return Err(e);
    }
    Ok(staged)
}

fn image_layer_digest(needed: &[(usize, Descriptor)], i: usize) -> String {
    needed
        .iter()
        .find(|(j, _)| *j == i)
        .map(|(_, d)| short(&d.digest))
        .unwrap_or_default()
}

/// Downloads one blob into a temporary file, verifying size and digest; an interrupted
/// download resumes with `Range` up to `opts.attempts()` times.
fn download_blob(
    client: &RegistryClient,
    r: &Reference,
    d: &Descriptor,
    scope: &str,
    tmp: &Path,
    opts: &RegistryOptions,
) -> Result<PathBuf> {
    let url = client.url(&format!("/v2/{}/blobs/{}", r.path, d.digest));
    let path = fsutil::temp_path(tmp, "pull");
    let file = OpenOptions::new()
        .create_new(true)
        .write(true)
        .open(&path)
        .map_err(|e| ImageError::io(format!("creating {}", path.display()), e))?;
    let mut out = BufWriter::with_capacity(256 * 1024, file);
    let mut hasher = Hasher::default();
    let mut attempt = 0;
    let res = loop {
        attempt += 1;
        let fetched =
            fetch_range(client, &url, scope, &mut out, &mut hasher, d.size).and_then(|()| {
                // A body that ends early without an error is an interrupted transfer too.
                if hasher.len() < d.size {
                    Err(RegistryError::Transport {
                        url: url.clone(),
                        why: format!("download ended after {} of {} bytes", hasher.len(), d.size),
                    })
                } else {
                    Ok(())
                }
            });
        match fetched {
            Ok(()) => break Ok(()),
            Err(e) if e.is_transient() && attempt < opts.attempts() => {
                opts.say(&format!(
                    "Copying blob {}: {e}; retrying ({attempt}/{})",
                    short(&d.digest),
                    opts.attempts()
                ));
            }
            Err(e) => break Err(e),
        }
    };
    let res = res.and_then(|()| {
        out.flush()
            .map_err(|e| ImageError::io(format!("writing {}", path.display()), e).into())
    });
    let res = res.and_then(|()| {
        let got = hasher.len();
        let actual = std::mem::take(&mut hasher).digest();
        if got != d.size {
            Err(RegistryError::BadManifest {
                what: format!("blob {url}"),
                why: format!("{got} bytes received, the manifest says {}", d.size),
            })
        } else if actual != d.digest {
            Err(ImageError::DigestMismatch {
                what: format!("blob {url}"),
                expected: d.digest.clone(),
                actual,
            }
            .into())
        } else {
            Ok(())
        }
    });
    match res {
        Ok(()) => {
            opts.say(&format!("Copying blob {} done", short(&d.digest)));
            Ok(path)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            Err(e)
        }
    }
}

/// GETs the rest of a blob (from `hasher.len()` on) into `out`.
fn fetch_range(
    client: &RegistryClient,
    url: &str,
    scope: &str,
    out: &mut impl Write,
    hasher: &mut Hasher,
    size: u64,
) -> Result<()> {
    let have = hasher.len();
    let range = format!("bytes={have}-");
    let headers: Vec<(&str, &str)> = if have > 0 {
        vec![("Range", range.as_str())]
    } else {
        vec![]
    };
    let resp = client.get(url, scope, &headers)?;
    let status = resp.status().as_u16();
    if have > 0 && status == 200 {
        // The server ignored the range: start over is not possible on a hashed stream, so
        // skip what we already have.
        return copy_body(resp, out, hasher, url, Some(have), size);
    }
    if !(200..300).contains(&status) {
        return Err(status_error("GET", url, resp));
    }
    copy_body(resp, out, hasher, url, None, size)
}

fn copy_body(
    resp: ureq::http::Response<ureq::Body>,
    out: &mut impl Write,
    hasher: &mut Hasher,
    url: &str,
    mut skip: Option<u64>,
    size: u64,
) -> Result<()> {
    let mut reader = resp
        .into_body()
        .into_with_config()
        .limit(size.saturating_add(1))
        .reader();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(RegistryError::Transport {
                    url: url.to_string(),
                    why: format!("download broke off: {e}"),
                })
            }
        };
        let mut chunk = &buf[..n];
        if let Some(s) = skip.as_mut() {
            let drop = (*s).min(chunk.len() as u64) as usize;
            chunk = &chunk[drop..];
            *s -= drop as u64;
        }
        if chunk.is_empty() {
            continue;
        }
        hasher.update(chunk);
        out.write_all(chunk)
            .map_err(|e| ImageError::io("writing a downloaded blob", e))?;
    }
}

/// `sha256:0123456789ab` (the first 12 hex digits, as podman prints them).
pub(crate) fn short(digest: &str) -> String {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    hex.chars().take(12).collect()
}
