//! Manifests as registries serve them: OCI image manifests and indexes, Docker schema-2
//! manifests and manifest lists. Read leniently (unknown fields kept out of the way), checked
//! strictly where the content matters (media types, digests, sizes).

use serde::Deserialize;

use super::{RegistryError, Result};

/// The media types the client reads and writes.
pub mod media_types {
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    pub const DOCKER_SCHEMA1_SIGNED: &str =
        "application/vnd.docker.distribution.manifest.v1+prettyjws";
    pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";

    /// What a manifest GET accepts.
    pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

    /// Layer media types whose content is a tar, plain, gzip or zstd.
    pub fn is_layer(mt: &str) -> bool {
        matches!(
            mt,
            "application/vnd.oci.image.layer.v1.tar"
                | "application/vnd.oci.image.layer.v1.tar+gzip"
                | "application/vnd.oci.image.layer.v1.tar+zstd"
                | "application/vnd.docker.image.rootfs.diff.tar.gzip"
                | "application/vnd.docker.image.rootfs.diff.tar"
                | "application/vnd.oci.image.layer.nondistributable.v1.tar"
                | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
                | "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
        )
    }
}

/// A content descriptor.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Descriptor {
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default)]
    pub platform: Option<Platform>,
    #[serde(default)]
    pub urls: Option<Vec<String>>,
}

/// A platform in an index entry (`os`, `architecture`, `variant`).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    #[serde(default)]
    pub variant: Option<String>,
}

impl Platform {
    /// The host's platform, as podman picks by default (`linux/amd64` on x86-64).
    pub fn host() -> Platform {
        let architecture = crate::config::host_arch().to_string();
        let variant = (architecture == "arm64").then(|| "v8".to_string());
        Platform {
            os: "linux".into(),
            architecture,
            variant,
        }
    }

    /// Parses `os/arch[/variant]` (`--platform`).
    pub fn parse(s: &str) -> Option<Platform> {
        let mut it = s.split('/');
        let os = it.next().filter(|s| !s.is_empty())?.to_string();
        let architecture = it.next().filter(|s| !s.is_empty())?.to_string();
        let variant = it.next().map(str::to_string);
        if it.next().is_some() {
            return None;
        }
        Some(Platform {
            os,
            architecture,
            variant,
        })
    }

    fn matches(&self, other: &Platform) -> bool {
        if self.os != other.os || self.architecture != other.architecture {
            return false;
        }
        match (&self.variant, &other.variant) {
            (Some(want), Some(have)) => want == have,
            _ => true,
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// An image manifest (OCI or Docker schema 2).
#[derive(Clone, Debug, Deserialize)]
pub struct ImageManifest {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(rename = "mediaType", default)]
    pub media_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

/// An index or manifest list.
#[derive(Clone, Debug, Deserialize)]
pub struct Index {
    pub manifests: Vec<Descriptor>,
}

/// A fetched manifest, classified.
#[derive(Debug)]
pub enum Fetched {
    Image(ImageManifest),
    Index(Index),
}

/// Classifies a manifest body by the `Content-Type` the registry gave (falling back to its own
/// `mediaType`, then to its shape).
pub fn classify(body: &[u8], content_type: Option<&str>, what: &str) -> Result<Fetched> {
    use media_types::*;
    let bad = |why: String| RegistryError::BadManifest {
        what: what.to_string(),
        why,
    };
    #[derive(Deserialize)]
    struct Peek {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
        #[serde(rename = "schemaVersion")]
        schema_version: Option<u32>,
        manifests: Option<serde_json::Value>,
    }
    let peek: Peek = serde_json::from_slice(body).map_err(|e| bad(format!("not JSON: {e}")))?;
    let ct = content_type
        .map(|c| c.split(';').next().unwrap_or("").trim().to_string())
        .filter(|c| !c.is_empty() && c != "application/json" && c != "text/plain");
    let mt = ct.or(peek.media_type.clone()).unwrap_or_else(|| {
        if peek.manifests.is_some() {
            OCI_INDEX.to_string()
        } else {
            OCI_MANIFEST.to_string()
        }
    });
    match mt.as_str() {
        OCI_INDEX | DOCKER_LIST => Ok(Fetched::Index(
            serde_json::from_slice(body).map_err(|e| bad(format!("index: {e}")))?,
        )),
        OCI_MANIFEST | DOCKER_MANIFEST => {
            let m: ImageManifest =
                serde_json::from_slice(body).map_err(|e| bad(format!("manifest: {e}")))?;
            if m.schema_version != 2 {
                return Err(bad(format!(
                    "schemaVersion {} is not supported",
                    m.schema_version
                )));
            }
            Ok(Fetched::Image(m))
        }
        DOCKER_SCHEMA1 | DOCKER_SCHEMA1_SIGNED => Err(bad(
            "Docker schema 1 manifests are not supported (deprecated since 2017); re-push the image with a current client".into(),
        )),
        other if peek.schema_version == Some(1) => Err(bad(format!(
            "{other}: schema 1 manifests are not supported"
        ))),
        other => Err(bad(format!("media type {other} is not an image manifest or index"))),
    }
}

/// The entry of `index` for `want`: the first whose platform matches (an entry without a
/// platform never does), as containers/image chooses.
pub fn choose<'a>(index: &'a Index, want: &Platform, what: &str) -> Result<&'a Descriptor> {
    index
        .manifests
        .iter()
        .find(|d| d.platform.as_ref().is_some_and(|p| want.matches(p)))
        .ok_or_else(|| {
            let have: Vec<String> = index
                .manifests
                .iter()
                .filter_map(|d| d.platform.as_ref().map(|p| p.to_string()))
                .collect();
            RegistryError::NotFound {
                reference: what.to_string(),
                why: format!(
                    "no image for platform {want} in the index (it has: {})",
                    if have.is_empty() {
                        "none".to_string()
                    } else {
                        have.join(", ")
                    }
                ),
            }
        })
}
