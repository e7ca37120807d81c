//! `pull`: manifest (through an index to the wanted platform), config and layers from a
//! registry into the store. Layers stream on several threads straight into staging, each
//! verified against its digest; the store's lock is held from the first download to the one
//! transaction that records the image, so no half-image is ever visible.

use std::io::{self, Read};
use std::path::Path;
use std::sync::mpsc;
use std::sync::Mutex;

use super::client::{header, read_small, status_error, RegistryClient};
use super::conf::{ReferenceExt, RegistriesConf};
use super::manifest::{self, media_types, Descriptor, Fetched, ImageManifest, Platform};
use super::{RegistryError, RegistryOptions, Result};
use crate::digest::{digest_hex, sha256_digest};
use crate::error::ImageError;
use crate::reference::Reference;
use crate::store::{discard_staged_in, stage_layer_in, ImageStore, NewImage, StagedLayer};

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

/// Downloads and stages `needed` layers on `opts.jobs()` threads: each blob streams from the
/// registry straight into staging (kept blob copy, decompression, extraction and both digests
/// in one pass), so a layer is written once, not downloaded to a file and read back. Every
/// staged layer's blob must have the manifest's digest and size, and its diff id must be the
/// one the config names; otherwise it is discarded and the pull fails.
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
    let (tx, rx) = mpsc::channel::<(usize, Result<StagedLayer>)>();
    let mut staged: Vec<StagedLayer> = Vec::new();
    let result: Result<()> = std::thread::scope(|s| {
        for _ in 0..opts.jobs().min(needed.len().max(1)) {
            let tx = tx.clone();
            let queue = &queue;
            let tmp = &tmp;
            s.spawn(move || loop {
                let next = queue.lock().unwrap_or_else(|p| p.into_inner()).pop();
                let Some((i, d)) = next else { break };
                let what = format!("{} layer {}", r.whole(), short(&d.digest));
                let res = fetch_and_stage(client, r, d, scope, tmp, opts, &what);
                if tx.send((*i, res)).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        let mut first_err = None;
        for (i, res) in rx {
            if first_err.is_some() {
                if let Ok(s) = res {
                    store.discard_staged(&s);
                }
                continue;
            }
            match res {
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

/// Streams one blob into staging and checks it against its descriptor.
fn fetch_and_stage(
    client: &RegistryClient,
    r: &Reference,
    d: &Descriptor,
    scope: &str,
    tmp: &Path,
    opts: &RegistryOptions,
    what: &str,
) -> Result<StagedLayer> {
    let url = client.url(&format!("/v2/{}/blobs/{}", r.path, d.digest));
    let mut stream = BlobStream {
        client,
        url: url.clone(),
        scope,
        opts,
        digest: &d.digest,
        size: d.size,
        body: None,
        got: 0,
        skip: 0,
        attempt: 0,
        error: None,
        bar: opts.bar(&d.digest, d.size),
    };
    let staged = stage_layer_in(tmp, &mut stream, what);
    if let Some(bar) = stream.bar.take() {
        bar.finish_and_clear();
    }
    let staged = match staged {
        Ok(s) => s,
        // The transfer's own error says more than the staging's "reading" one.
        Err(e) => return Err(stream.error.take().unwrap_or_else(|| e.into())),
    };
    let check = if staged.blob_size != d.size {
        Err(RegistryError::BadManifest {
            what: format!("blob {url}"),
            why: format!(
                "{} bytes received, the manifest says {}",
                staged.blob_size, d.size
            ),
        })
    } else if staged.blob_digest != d.digest {
        Err(ImageError::DigestMismatch {
            what: format!("blob {url}"),
            expected: d.digest.clone(),
            actual: staged.blob_digest.clone(),
        }
        .into())
    } else {
        Ok(())
    };
    match check {
        Ok(()) => {
            opts.say(&format!("Copying blob {} done", short(&d.digest)));
            Ok(staged)
        }
        Err(e) => {
            discard_staged_in(&staged);
            Err(e)
        }
    }
}

/// A blob's body as one stream: a transfer that breaks off (or ends early) is resumed with
/// `Range` from where it stopped, up to `opts.attempts()` times, unseen by the reader. The
/// real error behind a failed read is kept in `error`.
struct BlobStream<'a> {
    client: &'a RegistryClient,
    url: String,
    scope: &'a str,
    opts: &'a RegistryOptions,
    digest: &'a str,
    size: u64,
    body: Option<ureq::BodyReader<'static>>,
    /// Bytes handed to the reader so far.
    got: u64,
    /// Bytes still to drop from a body that ignored the range and starts from the beginning.
    skip: u64,
    attempt: u32,
    error: Option<RegistryError>,
    bar: Option<indicatif::ProgressBar>,
}

impl BlobStream<'_> {
    /// Opens the body from `got` on.
    fn open(&mut self) -> Result<ureq::BodyReader<'static>> {
        let range = format!("bytes={}-", self.got);
        let headers: Vec<(&str, &str)> = if self.got > 0 {
            vec![("Range", range.as_str())]
        } else {
            vec![]
        };
        let resp = self.client.get(&self.url, self.scope, &headers)?;
        let status = resp.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(status_error("GET", &self.url, resp));
        }
        // A server that ignores the range sends everything again: skip what was read.
        self.skip = if self.got > 0 && status == 200 {
            self.got
        } else {
            0
        };
        let rest = self.size.saturating_sub(self.got) + self.skip;
        Ok(resp
            .into_body()
            .into_with_config()
            .limit(rest.saturating_add(1))
            .reader())
    }

    /// Decides, after `e`, whether to try again; the error to report otherwise.
    fn retry_or(&mut self, e: RegistryError) -> io::Result<()> {
        self.body = None;
        if e.is_transient() && self.attempt < self.opts.attempts() {
            self.opts.say(&format!(
                "Copying blob {}: {e}; retrying ({}/{})",
                short(self.digest),
                self.attempt,
                self.opts.attempts()
            ));
            return Ok(());
        }
        let msg = e.to_string();
        self.error = Some(e);
        Err(io::Error::other(msg))
    }
}

impl Read for BlobStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.body.is_none() {
                self.attempt += 1;
                match self.open() {
                    Ok(b) => self.body = Some(b),
                    Err(e) => {
                        self.retry_or(e)?;
                        continue;
                    }
                }
            }
            let Some(body) = self.body.as_mut() else {
                continue;
            };
            match body.read(buf) {
                Ok(0) if self.got >= self.size => return Ok(0),
                Ok(0) => {
                    let e = RegistryError::Transport {
                        url: self.url.clone(),
                        why: format!("download ended after {} of {} bytes", self.got, self.size),
                    };
                    self.retry_or(e)?;
                }
                Ok(n) => {
                    let drop = self.skip.min(n as u64) as usize;
                    self.skip -= drop as u64;
                    if drop == n {
                        continue;
                    }
                    if drop > 0 {
                        buf.copy_within(drop..n, 0);
                    }
                    let n = n - drop;
                    self.got += n as u64;
                    if let Some(bar) = &self.bar {
                        bar.set_position(self.got);
                    }
                    if self.got > self.size {
                        let e = RegistryError::BadManifest {
                            what: format!("blob {}", self.url),
                            why: format!("more than the {} bytes the manifest says", self.size),
                        };
                        self.error = Some(e);
                        return Err(io::Error::other("blob longer than its descriptor"));
                    }
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let e = RegistryError::Transport {
                        url: self.url.clone(),
                        why: format!("download broke off: {e}"),
                    };
                    self.retry_or(e)?;
                }
            }
        }
    }
}

/// `sha256:0123456789ab` (the first 12 hex digits, as podman prints them).
pub(crate) fn short(digest: &str) -> String {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    hex.chars().take(12).collect()
}
