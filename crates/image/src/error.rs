//! The one error type of the image crate.

use std::path::PathBuf;

/// What went wrong in the image store, worded for the user: each message says what happened
/// and, where there is one, what to do.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// No stored image matches the reference.
    #[error("{reference}: image not known; `dermaga images` lists the stored images, `dermaga import` or `dermaga load -i` adds one")]
    NotFound { reference: String },
    /// A short id or short name matches more than one image.
    #[error("{reference}: matches more than one image ({candidates}); give more of the id or the full name")]
    Ambiguous {
        reference: String,
        candidates: String,
    },
    /// The reference is not a valid image name.
    #[error("{reference}: not a valid image name: {why}")]
    InvalidReference { reference: String, why: String },
    /// The image is used by containers and `--force` was not given.
    #[error("image {id} is in use by container(s) {containers}; remove them first or use --force")]
    InUse { id: String, containers: String },
    /// An archive or tarball is not what it claims to be.
    #[error("{path}: {why}")]
    BadArchive { path: String, why: String },
    /// A layer could not be extracted safely.
    #[error("layer {layer}: {why}")]
    BadLayer { layer: String, why: String },
    /// A blob's content does not match its digest.
    #[error("{what}: digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    /// A JSON document (config, manifest, index) is malformed.
    #[error("{what}: {why}")]
    BadJson { what: String, why: String },
    /// The store on disk is damaged in a way this operation cannot work around.
    #[error("image store at {root}: {why}; run `dermaga system check --repair`")]
    Corrupt { root: PathBuf, why: String },
    /// A file-system operation failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// The state database failed.
    #[error("state database: {0}")]
    Db(#[from] rusqlite::Error),
    /// Anything else, worded by the caller.
    #[error("{0}")]
    Other(String),
}

impl ImageError {
    /// An I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        ImageError::Io {
            context: context.into(),
            source,
        }
    }

    /// podman's exit status for this error: 125 ("error in the engine") for all of them;
    /// kept as a method so a later distinction lands in one place.
    pub fn exit_code(&self) -> u8 {
        125
    }
}

/// Result with [`ImageError`].
pub type Result<T, E = ImageError> = std::result::Result<T, E>;

/// Adds context to `std::io::Result`.
pub(crate) trait IoContext<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| ImageError::io(context(), e))
    }
}

impl<T> IoContext<T> for rustix::io::Result<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| ImageError::io(context(), e.into()))
    }
}
