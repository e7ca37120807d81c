//! The registry client: `pull`, `push`, `login` and `logout` over the OCI distribution spec,
//! as podman and skopeo do them, sharing their files.
//!
//! - Manifests: OCI image manifests and Docker schema-2 manifests; OCI image indexes and Docker
//!   manifest lists, from which the host's platform (`linux/amd64` on x86-64) is picked.
//! - Blobs: every blob is verified against its digest while it streams to a temporary file;
//!   layers download and upload on several threads, and an interrupted transfer is retried
//!   (a download resumes with a `Range` request). Uploads skip blobs the registry already has
//!   (`HEAD`), mount blobs from another repository of the same registry when the store knows
//!   one, and upload either in one `PUT` or in `PATCH` chunks.
//! - Auth: the `WWW-Authenticate` challenge decides: `Bearer` (token endpoint, anonymous or with
//!   credentials) or `Basic`. Credentials come from `--creds` or podman's `auth.json`
//!   ([`AuthFile`]); `login` writes that file so podman, skopeo and dermaga share it.
//! - Transport: HTTPS, verified unless `--tls-verify=false` or the registry is marked
//!   `insecure = true` in `registries.conf`; an unverified registry that does not speak TLS is
//!   reached over plain HTTP, as podman does.
//! - Names: short names are resolved through `unqualified-search-registries` as podman does
//!   ([`RegistriesConf`]).
//!
//! What it is not: a registry server, a signature verifier, or a mirror resolver.

mod auth;
mod client;
mod conf;
mod manifest;
mod pull;
mod push;

use std::path::PathBuf;
use std::sync::Arc;

pub use auth::{login, logout, AuthFile, Credentials};
pub use conf::{RegistriesConf, ShortNameMode};
pub use manifest::{media_types, Descriptor, ImageManifest, Index, Platform};
pub use pull::{pull, PullOutcome};
pub use push::{push, PushOutcome};

use crate::error::ImageError;

pub use indicatif::{MultiProgress, ProgressDrawTarget};

/// A progress line sink (`Copying blob sha256:1234... done`); called from transfer threads.
pub type Progress = Arc<dyn Fn(&str) + Send + Sync>;

/// What every registry operation takes from the command line.
#[derive(Clone, Default)]
pub struct RegistryOptions {
    /// `--tls-verify`: `Some(false)` skips certificate checks and allows plain HTTP; `None`
    /// follows `registries.conf` (verify unless the registry is marked insecure).
    pub tls_verify: Option<bool>,
    /// `--authfile`; otherwise podman's places (see [`AuthFile::default_path`]).
    pub authfile: Option<PathBuf>,
    /// `--creds USER[:PASS]`, used instead of the auth file.
    pub credentials: Option<Credentials>,
    /// `registries.conf` to read instead of the default places (also `$CONTAINERS_REGISTRIES_CONF`).
    pub registries_conf: Option<PathBuf>,
    /// The platform to pick from an index (`--platform`, `--arch`, `--os`); default: the host's.
    pub platform: Option<Platform>,
    /// Concurrent layer transfers; 0 means the default (3).
    pub jobs: usize,
    /// Attempts per blob transfer before giving up; 0 means the default (3).
    pub attempts: u32,
    /// Uploads larger than this go in `PATCH` chunks of this size; 0 means monolithic `PUT`
    /// uploads always.
    pub chunk_size: u64,
    /// Where progress lines go; `None` is quiet.
    pub progress: Option<Progress>,
    /// A bar per layer transfer (on a terminal); progress lines are then printed above them.
    pub bars: Option<indicatif::MultiProgress>,
}

impl RegistryOptions {
    pub(crate) fn jobs(&self) -> usize {
        if self.jobs == 0 {
            3
        } else {
            self.jobs
        }
    }

    pub(crate) fn attempts(&self) -> u32 {
        if self.attempts == 0 {
            3
        } else {
            self.attempts
        }
    }

    pub(crate) fn say(&self, line: &str) {
        match (&self.bars, &self.progress) {
            (Some(bars), Some(_)) => {
                let _ = bars.println(line);
            }
            (_, Some(p)) => p(line),
            _ => {}
        }
    }

    /// A progress bar for one blob of `size` bytes, when bars are on.
    pub(crate) fn bar(&self, digest: &str, size: u64) -> Option<indicatif::ProgressBar> {
        let bars = self.bars.as_ref()?;
        self.progress.as_ref()?;
        let style = indicatif::ProgressStyle::with_template(
            "Copying blob {prefix} [{bar:30}] {bytes} / {total_bytes} {bytes_per_sec}",
        )
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
        let bar = bars.add(indicatif::ProgressBar::new(size).with_style(style));
        bar.set_prefix(pull::short(digest));
        Some(bar)
    }
}

impl std::fmt::Debug for RegistryOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryOptions")
            .field("tls_verify", &self.tls_verify)
            .field("authfile", &self.authfile)
            .field("registries_conf", &self.registries_conf)
            .field("platform", &self.platform)
            .field("jobs", &self.jobs)
            .finish_non_exhaustive()
    }
}

/// What went wrong talking to a registry, worded for the user.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry could not be reached or the connection broke.
    #[error("{url}: {why}")]
    Transport { url: String, why: String },
    /// The registry answered with an error status.
    #[error("{method} {url}: {status}{detail}")]
    Status {
        method: &'static str,
        url: String,
        status: u16,
        /// The registry's own error codes and messages, if it sent any (starts with `: `).
        detail: String,
    },
    /// Authentication failed or is needed.
    #[error("{registry}: {why}")]
    Auth { registry: String, why: String },
    /// The image is not in any of the registries tried.
    #[error("{reference}: {why}")]
    NotFound { reference: String, why: String },
    /// A short name cannot be resolved to one registry.
    #[error("{name}: {why}")]
    ShortName { name: String, why: String },
    /// A manifest, index or config is not usable.
    #[error("{what}: {why}")]
    BadManifest { what: String, why: String },
    /// A configuration file (registries.conf, auth.json) is malformed.
    #[error("{path}: {why}")]
    Config { path: String, why: String },
    /// The image store failed (or a blob did not match its digest).
    #[error(transparent)]
    Image(#[from] ImageError),
}

impl RegistryError {
    /// podman's exit status: 125 for every error of the engine.
    pub fn exit_code(&self) -> u8 {
        125
    }

    /// Whether retrying the same transfer may help (a broken connection, a 5xx, a 429).
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            RegistryError::Transport { .. } => true,
            RegistryError::Status { status, .. } => *status >= 500 || *status == 429,
            RegistryError::Image(ImageError::DigestMismatch { .. }) => true,
            RegistryError::Image(ImageError::Io { .. }) => true,
            _ => false,
        }
    }
}

/// Result with [`RegistryError`].
pub type Result<T, E = RegistryError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests;
