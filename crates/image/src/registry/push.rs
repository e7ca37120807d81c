//! `push`: a stored image's layer blobs, config and manifest to a registry. Blobs the registry
//! has are skipped (`HEAD`); blobs another repository of the same registry has (known from the
//! store's names) are mounted; the rest upload in one `PUT` or in `PATCH` chunks, several at a
//! time, each retried when the transfer breaks.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::sync::Mutex;

use super::client::{header, status_error, with_auth, RegistryClient};
use super::conf::ReferenceExt;
use super::manifest::media_types;
use super::pull::short;
use super::{RegistryError, RegistryOptions, Result};
use crate::digest::sha256_digest;
use crate::error::ImageError;
use crate::reference::Reference;
use crate::store::ImageStore;

/// What `push` did.
#[derive(Clone, Debug)]
pub struct PushOutcome {
    /// The digest of the manifest as pushed.
    pub manifest_digest: String,
    /// Blobs uploaded (the rest the registry had or mounted).
    pub blobs_uploaded: usize,
    /// Blobs mounted from another repository.
    pub blobs_mounted: usize,
    /// Blobs skipped because the registry had them.
    pub blobs_skipped: usize,
}

/// One blob to send.
struct Blob {
    digest: String,
    size: u64,
    /// A file holding it, or its bytes.
    source: BlobSource,
}

enum BlobSource {
    File(std::path::PathBuf),
    Bytes(Vec<u8>),
}

enum Sent {
    Uploaded,
    Mounted,
    Skipped,
}

/// Pushes stored image `source` (any reference the store resolves) to `destination`
/// (`host[:port]/path[:tag]`; it must name the registry).
pub fn push(
    store: &ImageStore,
    source: &str,
    destination: &str,
    opts: &RegistryOptions,
) -> Result<PushOutcome> {
    let id = store.find_id(source)?;
    let dest = Reference::parse(destination)?;
    let Some(host) = dest.domain.clone().filter(|d| d != "localhost") else {
        return Err(RegistryError::ShortName {
            name: destination.to_string(),
            why: "a push destination names its registry (host[:port]/path[:tag])".into(),
        });
    };
    if dest.digest.is_some() {
        return Err(RegistryError::ShortName {
            name: destination.to_string(),
            why: "cannot push to a digest; give a tag".into(),
        });
    }
    let info = store.info(&id)?;
    let manifest = store.manifest_bytes(&id)?;
    let config = store.config_bytes(&id)?;
    let manifest_type = manifest_media_type(&manifest);

    // A repository of the same registry that already holds the image's blobs (a name it was
    // pulled or pushed under) lets the registry mount them instead of receiving them again.
    let mount_from: Option<String> = info.names.iter().find_map(|n| {
        let r = Reference::parse(n).ok()?;
        (r.domain.as_deref() == Some(host.as_str()) && r.path != dest.path).then_some(r.path)
    });
    let mut scope = format!("repository:{}:pull,push", dest.path);
    if let Some(m) = &mount_from {
        scope.push_str(&format!(" repository:{m}:pull"));
    }
    let client = RegistryClient::for_repo(&host, &dest.repository(), opts)?;
    opts.say("Getting image source signatures");

    let mut blobs = Vec::new();
    for l in &info.layers {
        blobs.push(Blob {
            digest: l.blob_digest.clone(),
            size: l.blob_size,
            source: BlobSource::File(store.blob_path(&l.blob_digest)?),
        });
    }
    let layer_count = blobs.len();
    let ctx = Ctx {
        client: &client,
        path: &dest.path,
        scope: &scope,
        mount_from: mount_from.as_deref(),
        opts,
    };
    let queue = Mutex::new((0..layer_count).rev().collect::<Vec<_>>());
    let results: Mutex<Vec<Result<Sent>>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..opts.jobs().min(layer_count.max(1)) {
            s.spawn(|| loop {
                let next = queue.lock().unwrap_or_else(|p| p.into_inner()).pop();
                let Some(i) = next else { break };
                let r = ctx.send_blob(&blobs[i], "blob");
                let failed = r.is_err();
                results.lock().unwrap_or_else(|p| p.into_inner()).push(r);
                if failed {
                    queue.lock().unwrap_or_else(|p| p.into_inner()).clear();
                }
            });
        }
    });
    let mut outcome = PushOutcome {
        manifest_digest: sha256_digest(&manifest),
        blobs_uploaded: 0,
        blobs_mounted: 0,
        blobs_skipped: 0,
    };
    let mut tally = |s: Sent| match s {
        Sent::Uploaded => outcome.blobs_uploaded += 1,
        Sent::Mounted => outcome.blobs_mounted += 1,
        Sent::Skipped => outcome.blobs_skipped += 1,
    };
    for r in results.into_inner().unwrap_or_else(|p| p.into_inner()) {
        tally(r?);
    }
    let config_blob = Blob {
        digest: format!("sha256:{id}"),
        size: config.len() as u64,
        source: BlobSource::Bytes(config),
    };
    tally(ctx.send_blob(&config_blob, "config")?);

    let tag = dest.tag.clone().unwrap_or_else(|| "latest".into());
    let url = client.url(&format!("/v2/{}/manifests/{tag}", dest.path));
    let resp = client.send("PUT", &url, &scope, &mut |agent, auth| {
        with_auth(agent.put(&url), auth)
            .header("Content-Type", &manifest_type)
            .send(&manifest[..])
    })?;
    if !resp.status().is_success() {
        return Err(status_error("PUT", &url, resp));
    }
    if let Some(d) = header(&resp, "docker-content-digest") {
        if d != outcome.manifest_digest {
            return Err(ImageError::DigestMismatch {
                what: format!("manifest pushed to {}", dest.whole()),
                expected: outcome.manifest_digest.clone(),
                actual: d.to_string(),
            }
            .into());
        }
    }
    opts.say("Writing manifest to image destination");
    Ok(outcome)
}

/// The media type a manifest declares (OCI when it declares none).
fn manifest_media_type(manifest: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Peek {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
    }
    serde_json::from_slice::<Peek>(manifest)
        .ok()
        .and_then(|p| p.media_type)
        .unwrap_or_else(|| media_types::OCI_MANIFEST.to_string())
}

struct Ctx<'a> {
    client: &'a RegistryClient,
    path: &'a str,
    scope: &'a str,
    mount_from: Option<&'a str>,
    opts: &'a RegistryOptions,
}

impl Ctx<'_> {
    /// Sends one blob unless the registry has it, retrying a broken transfer; `what` names it
    /// in the progress lines as podman does ("blob" for layers, "config").
    fn send_blob(&self, b: &Blob, what: &str) -> Result<Sent> {
        let bar = if what == "blob" {
            self.opts.bar(&b.digest, b.size)
        } else {
            None
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            if let Some(bar) = &bar {
                bar.set_position(0);
            }
            let sent = self.send_blob_once(b, bar.as_ref());
            if let (Some(bar), false) = (
                &bar,
                matches!(&sent, Err(e) if e.is_transient() && attempt < self.opts.attempts()),
            ) {
                bar.finish_and_clear();
            }
            match sent {
                Ok(s) => {
                    let word = match s {
                        Sent::Skipped => "skipped: already exists",
                        Sent::Mounted => "mounted",
                        Sent::Uploaded => "done",
                    };
                    self.opts
                        .say(&format!("Copying {what} {} {word}", short(&b.digest)));
                    return Ok(s);
                }
                Err(e) if e.is_transient() && attempt < self.opts.attempts() => {
                    self.opts.say(&format!(
                        "Copying {what} {}: {e}; retrying ({attempt}/{})",
                        short(&b.digest),
                        self.opts.attempts()
                    ));
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn send_blob_once(&self, b: &Blob, bar: Option<&indicatif::ProgressBar>) -> Result<Sent> {
        let c = self.client;
        let blob_url = c.url(&format!("/v2/{}/blobs/{}", self.path, b.digest));
        let resp = c.head(&blob_url, self.scope, &[])?;
        if resp.status().is_success() {
            return Ok(Sent::Skipped);
        }
        // Start an upload, asking for a mount when another repository has the blob.
        let start = match self.mount_from {
            Some(from) => format!(
                "/v2/{}/blobs/uploads/?mount={}&from={from}",
                self.path, b.digest
            ),
            None => format!("/v2/{}/blobs/uploads/", self.path),
        };
        let start_url = c.url(&start);
        let resp = c.send("POST", &start_url, self.scope, &mut |agent, auth| {
            with_auth(agent.post(&start_url), auth)
                .header("Content-Length", "0")
                .send_empty()
        })?;
        match resp.status().as_u16() {
            201 if self.mount_from.is_some() => return Ok(Sent::Mounted),
            202 => {}
            _ => return Err(status_error("POST", &start_url, resp)),
        }
        let mut location = header(&resp, "location")
            .map(str::to_string)
            .ok_or_else(|| RegistryError::BadManifest {
                what: start_url.clone(),
                why: "the upload reply has no Location".into(),
            })?;
        let chunk = self.opts.chunk_size;
        if chunk > 0 && b.size > chunk {
            // Chunked: PATCH each piece with its Content-Range; each reply names the next
            // location.
            let mut offset = 0u64;
            while offset < b.size {
                let len = chunk.min(b.size - offset);
                let url = c.url(&location);
                let range = format!("{}-{}", offset, offset + len - 1);
                let resp = c.send("PATCH", &url, self.scope, &mut |agent, auth| {
                    let body = read_piece(&b.source, offset, len, bar)?;
                    with_auth(agent.patch(&url), auth)
                        .header("Content-Type", "application/octet-stream")
                        .header("Content-Range", &range)
                        .header("Content-Length", len.to_string())
                        .send(body)
                })?;
                if resp.status().as_u16() != 202 {
                    return Err(status_error("PATCH", &url, resp));
                }
                if let Some(l) = header(&resp, "location") {
                    location = l.to_string();
                }
                offset += len;
            }
            let url = with_digest(&c.url(&location), &b.digest);
            let resp = c.send("PUT", &url, self.scope, &mut |agent, auth| {
                with_auth(agent.put(&url), auth)
                    .header("Content-Length", "0")
                    .send_empty()
            })?;
            if resp.status().as_u16() != 201 {
                return Err(status_error("PUT", &url, resp));
            }
        } else {
            let url = with_digest(&c.url(&location), &b.digest);
            let resp = c.send("PUT", &url, self.scope, &mut |agent, auth| {
                let body = read_piece(&b.source, 0, b.size, bar)?;
                with_auth(agent.put(&url), auth)
                    .header("Content-Type", "application/octet-stream")
                    .header("Content-Length", b.size.to_string())
                    .send(body)
            })?;
            if resp.status().as_u16() != 201 {
                return Err(status_error("PUT", &url, resp));
            }
        }
        Ok(Sent::Uploaded)
    }
}

/// `location` with `digest=` added to its query.
fn with_digest(location: &str, digest: &str) -> String {
    let sep = if location.contains('?') { '&' } else { '?' };
    format!("{location}{sep}digest={digest}")
}

/// `len` bytes of a blob from `offset`, as a request body; `bar` follows what is read.
fn read_piece(
    source: &BlobSource,
    offset: u64,
    len: u64,
    bar: Option<&indicatif::ProgressBar>,
) -> std::result::Result<ureq::SendBody<'static>, ureq::Error> {
    let reader: Box<dyn Read + Send> = match source {
        BlobSource::Bytes(b) => {
            let end = (offset + len).min(b.len() as u64) as usize;
            Box::new(std::io::Cursor::new(b[offset as usize..end].to_vec()))
        }
        BlobSource::File(p) => {
            let mut f = File::open(p)?;
            f.seek(SeekFrom::Start(offset))?;
            Box::new(f.take(len))
        }
    };
    Ok(match bar {
        Some(bar) => {
            bar.set_position(offset);
            ureq::SendBody::from_owned_reader(bar.wrap_read(reader))
        }
        None => ureq::SendBody::from_owned_reader(reader),
    })
}
