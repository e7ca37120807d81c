//! `registries.conf` (containers-registries.conf(5), version 2) as far as pulling and pushing
//! need it: `unqualified-search-registries`, `short-name-mode`, and `[[registry]]` tables with
//! `prefix`/`location`, `insecure` and `blocked`. Mirrors and aliases are reported, not ignored.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{RegistryError, Result};
use crate::reference::Reference;

/// How short names are resolved (`short-name-mode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ShortNameMode {
    /// More than one search registry is an error without a terminal to ask on (podman's
    /// default).
    #[default]
    Enforcing,
    /// Each search registry is tried in order.
    Permissive,
    /// As permissive.
    Disabled,
}

/// One `[[registry]]` table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegistryEntry {
    /// What the table applies to (`prefix`, defaulting to `location`): `host[:port][/path]`.
    pub prefix: String,
    /// Where it is served from (without mirrors).
    pub location: String,
    pub insecure: bool,
    pub blocked: bool,
}

/// The parsed `registries.conf`.
#[derive(Clone, Debug, Default)]
pub struct RegistriesConf {
    /// The file it came from, for messages (`None`: no file).
    pub path: Option<PathBuf>,
    pub unqualified_search_registries: Vec<String>,
    pub short_name_mode: ShortNameMode,
    pub registries: Vec<RegistryEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawConf {
    #[serde(default)]
    unqualified_search_registries: Vec<String>,
    short_name_mode: Option<String>,
    #[serde(default)]
    registry: Vec<RawRegistry>,
}

#[derive(Deserialize)]
struct RawRegistry {
    location: Option<String>,
    prefix: Option<String>,
    #[serde(default)]
    insecure: bool,
    #[serde(default)]
    blocked: bool,
    #[serde(default)]
    mirror: Vec<toml::Value>,
}

impl RegistriesConf {
    /// Reads the file podman would: `explicit`, else `$CONTAINERS_REGISTRIES_CONF`, else
    /// `$HOME/.config/containers/registries.conf` (when not root and present), else
    /// `/etc/containers/registries.conf`. A missing default file is an empty configuration.
    pub fn load(explicit: Option<&Path>) -> Result<RegistriesConf> {
        if let Some(p) = explicit {
            return Self::read(p);
        }
        if let Some(p) = std::env::var_os("CONTAINERS_REGISTRIES_CONF") {
            return Self::read(Path::new(&p));
        }
        if !rustix::process::geteuid().is_root() {
            if let Some(home) = std::env::var_os("HOME") {
                let p = PathBuf::from(home).join(".config/containers/registries.conf");
                if p.exists() {
                    return Self::read(&p);
                }
            }
        }
        let p = Path::new("/etc/containers/registries.conf");
        if p.exists() {
            Self::read(p)
        } else {
            Ok(RegistriesConf::default())
        }
    }

    /// Reads one file.
    pub fn read(path: &Path) -> Result<RegistriesConf> {
        let text = std::fs::read_to_string(path).map_err(|e| RegistryError::Config {
            path: path.display().to_string(),
            why: e.to_string(),
        })?;
        let mut conf = Self::parse(&text).map_err(|why| RegistryError::Config {
            path: path.display().to_string(),
            why,
        })?;
        conf.path = Some(path.to_path_buf());
        Ok(conf)
    }

    /// Parses the text of a `registries.conf`.
    pub fn parse(text: &str) -> std::result::Result<RegistriesConf, String> {
        let raw: RawConf = toml::from_str(text).map_err(|e| e.to_string())?;
        let short_name_mode = match raw.short_name_mode.as_deref() {
            None | Some("enforcing") => ShortNameMode::Enforcing,
            Some("permissive") => ShortNameMode::Permissive,
            Some("disabled") => ShortNameMode::Disabled,
            Some(other) => {
                return Err(format!(
                    "short-name-mode = {other:?}: expected enforcing, permissive or disabled"
                ))
            }
        };
        let mut registries = Vec::new();
        for r in raw.registry {
            let location = r.location.clone().or(r.prefix.clone()).unwrap_or_default();
            let prefix = r.prefix.unwrap_or_else(|| location.clone());
            if prefix.is_empty() {
                return Err("a [[registry]] table needs a location or a prefix".into());
            }
            if !r.mirror.is_empty() {
                return Err(format!(
                    "[[registry]] {prefix}: mirrors are not supported by dermaga"
                ));
            }
            if location != prefix {
                return Err(format!(
                    "[[registry]] prefix {prefix} with location {location}: remapping a prefix to another location is not supported by dermaga"
                ));
            }
            registries.push(RegistryEntry {
                prefix,
                location,
                insecure: r.insecure,
                blocked: r.blocked,
            });
        }
        Ok(RegistriesConf {
            path: None,
            unqualified_search_registries: raw.unqualified_search_registries,
            short_name_mode,
            registries,
        })
    }

    /// The `[[registry]]` table that applies to `repo` (`host/path`): the longest matching
    /// prefix, as containers/image picks it.
    pub fn entry_for(&self, repo: &str) -> Option<&RegistryEntry> {
        self.registries
            .iter()
            .filter(|e| {
                repo == e.prefix
                    || repo
                        .strip_prefix(e.prefix.as_str())
                        .is_some_and(|rest| rest.starts_with('/') || rest.starts_with(':'))
            })
            .max_by_key(|e| e.prefix.len())
    }

    /// Whether `host` is marked `insecure = true`.
    pub fn insecure(&self, host: &str) -> bool {
        self.entry_for(host).is_some_and(|e| e.insecure)
    }

    /// The fully qualified names a pull of `name` tries, in order. A qualified name is itself;
    /// a short name gets each `unqualified-search-registries` entry as podman does (with
    /// `library/` for docker.io), and is an error when there is none, or when there are
    /// several in enforcing mode (podman would ask on a terminal; dermaga never prompts).
    pub fn pull_candidates(&self, name: &str) -> Result<Vec<Reference>> {
        let r = Reference::parse(name)?;
        if r.domain.is_some() {
            return Ok(vec![r]);
        }
        let conf_name = self
            .path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "registries.conf (none found)".into());
        let search = &self.unqualified_search_registries;
        if search.is_empty() {
            return Err(RegistryError::ShortName {
                name: name.to_string(),
                why: format!(
                    "short name with no unqualified-search-registries in {conf_name}; give a fully qualified name such as docker.io/library/{name}"
                ),
            });
        }
        if search.len() > 1 && self.short_name_mode == ShortNameMode::Enforcing {
            let options: Vec<String> = search.iter().map(|d| qualify(&r, d).whole()).collect();
            return Err(RegistryError::ShortName {
                name: name.to_string(),
                why: format!(
                    "short name is ambiguous: it could be {} (short-name-mode is enforcing in {conf_name}); give the fully qualified name",
                    options.join(", ")
                ),
            });
        }
        Ok(search.iter().map(|d| qualify(&r, d)).collect())
    }
}

/// `r` (which has no domain) in registry `domain`.
fn qualify(r: &Reference, domain: &str) -> Reference {
    let path = if domain == "docker.io" && !r.path.contains('/') {
        format!("library/{}", r.path)
    } else {
        r.path.clone()
    };
    Reference {
        domain: Some(domain.to_string()),
        path,
        tag: r.tag.clone(),
        digest: r.digest.clone(),
    }
}

/// Display helpers for a qualified reference.
pub(crate) trait ReferenceExt {
    /// `domain/path`.
    fn repository(&self) -> String;
    /// `domain/path:tag` or `domain/path@digest` (tag `latest` when neither is given).
    fn whole(&self) -> String;
    /// The tag or digest the manifest is fetched by.
    fn manifest_ref(&self) -> String;
}

impl ReferenceExt for Reference {
    fn repository(&self) -> String {
        format!(
            "{}/{}",
            self.domain.as_deref().unwrap_or("localhost"),
            self.path
        )
    }

    fn whole(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => format!("{}@{d}", self.repository()),
            (None, t) => format!("{}:{}", self.repository(), t.as_deref().unwrap_or("latest")),
        }
    }

    fn manifest_ref(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.clone(),
            (None, t) => t.clone().unwrap_or_else(|| "latest".into()),
        }
    }
}
