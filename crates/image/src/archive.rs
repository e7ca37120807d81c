//! Image archives: docker-archive and oci-archive, read and written.

/// The archive formats of `save --format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArchiveFormat {
    DockerArchive,
    OciArchive,
}

/// An image that `load` stored.
#[derive(Clone, Debug)]
pub struct LoadedImage {
    pub id: String,
    pub names: Vec<String>,
}
