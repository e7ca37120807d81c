//! OCI images: the content-addressed blob and layer store, image archives, the registry client,
//! the Containerfile parser and build planner, and the build executor ([`build`]).
//!
//! It knows nothing of running containers: a Containerfile's RUN steps go through a trait
//! ([`build::StepRunner`]) that the engine implements, and `rmi` asks an [`ImageUsers`]
//! whether containers use an image.
//!
//! # The store on disk
//!
//! Under the store root (`--root`, default `/var/lib/dermaga` as root):
//!
//! | path | what |
//! |---|---|
//! | `dermaga.db` | SQLite (WAL, busy timeout) shared with the engine; the image store's tables are `images`, `image_names`, `layers`, `image_layers`, `build_cache` |
//! | `blobs/sha256/<hex>` | content-addressed blobs (configs, manifests, layer blobs as received), verified on the way in |
//! | `layers/<diff hex>/` | each layer extracted once, shared read-only by every image that has it; OCI whiteouts already turned into overlayfs ones |
//! | `l/<short>` | symlink `-> ../layers/<diff hex>`: short names for overlay `lowerdir=` (see [`ResolvedImage::layer_links`]) |
//! | `tmp/` | work in progress; anything left here after a crash is garbage |
//! | `images.lock` | flock held by every writer and by [`ImageStore::check`] |
//!
//! Every write is a temporary file or directory renamed into place, made durable (syncfs)
//! before the one SQLite transaction that records it. A row never refers to a file that is not
//! complete, so a kill -9 at any moment leaves a consistent store; the files of an interrupted
//! write are garbage that [`ImageStore::check`] reports and `repair` removes.
//!
//! # Using it (the engine's view)
//!
//! ```no_run
//! use dermaga_image::ImageStore;
//! let store = ImageStore::open(std::path::Path::new("/var/lib/dermaga"))?;
//! let img = store.resolve("busybox")?; // localhost/busybox:latest, docker.io/library/busybox, an id...
//! let mut lower: Vec<_> = img.layer_links.clone();
//! lower.reverse(); // overlayfs lists the topmost lower dir first
//! // chdir(img.store_root) then mount overlay with lowerdir=l/...:l/...
//! # Ok::<(), dermaga_image::ImageError>(())
//! ```

pub mod archive;
pub mod build;
pub mod check;
pub mod config;
pub mod containerfile;
pub mod digest;
mod error;
pub mod fsutil;
pub mod layer;
pub mod reference;
pub mod registry;
pub mod report;
mod store;
pub mod template;

pub use archive::{ArchiveFormat, LoadedImage};
pub use check::CheckReport;
pub use error::{ImageError, Result};
pub use report::ImagesOptions;
pub use store::{
    ensure_schema, ensure_schemas, retry_while_busy, set_up_shared_connection, ImageInfo,
    ImageStore, ImageUsers, ImportOptions, LayerInfo, NoImageUsers, RemoveOutcome, ResolvedImage,
};

/// The OCI spec types used in this crate's API (same version for every user).
pub use oci_spec;
/// The SQLite binding of the shared state database: use this re-export so the workspace links
/// one copy of SQLite.
pub use rusqlite;
