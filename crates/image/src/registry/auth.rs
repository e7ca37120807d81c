//! Credentials: podman's `auth.json` (containers-auth.json(5)), `WWW-Authenticate` challenges,
//! and `login`/`logout`.

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{Map, Value};

use super::client::RegistryClient;
use super::{RegistryError, RegistryOptions, Result};
use crate::fsutil;

/// A user name and password (or token).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, ***)", self.username)
    }
}

impl Credentials {
    /// Parses `--creds USER[:PASSWORD]`.
    pub fn parse(s: &str) -> Option<Credentials> {
        let (u, p) = s.split_once(':').unwrap_or((s, ""));
        (!u.is_empty()).then(|| Credentials {
            username: u.to_string(),
            password: p.to_string(),
        })
    }

    /// The `Authorization: Basic ...` value.
    pub fn basic_header(&self) -> String {
        format!(
            "Basic {}",
            STANDARD.encode(format!("{}:{}", self.username, self.password))
        )
    }
}

/// podman's `auth.json`: `{"auths": {"host[/path]": {"auth": base64("user:pass")}}}`. Other
/// keys (`credHelpers`, identity tokens) are kept as they are when the file is rewritten.
#[derive(Debug)]
pub struct AuthFile {
    pub path: PathBuf,
    doc: Map<String, Value>,
}

impl AuthFile {
    /// Where podman keeps it: `$REGISTRY_AUTH_FILE`, else `$XDG_RUNTIME_DIR/containers/auth.json`,
    /// else (root without a runtime dir) `/run/containers/0/auth.json`.
    pub fn default_path() -> PathBuf {
        if let Some(p) = std::env::var_os("REGISTRY_AUTH_FILE").filter(|p| !p.is_empty()) {
            return PathBuf::from(p);
        }
        if let Some(d) = std::env::var_os("XDG_RUNTIME_DIR").filter(|p| !p.is_empty()) {
            return PathBuf::from(d).join("containers/auth.json");
        }
        let uid = rustix::process::geteuid().as_raw();
        PathBuf::from(format!("/run/containers/{uid}/auth.json"))
    }

    /// Reads `path` (a missing file is an empty one).
    pub fn open(path: &Path) -> Result<AuthFile> {
        let bad = |why: String| RegistryError::Config {
            path: path.display().to_string(),
            why,
        };
        let doc = match std::fs::read(path) {
            Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Map::new(),
            Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
                Ok(Value::Object(m)) => m,
                Ok(_) => return Err(bad("not a JSON object".into())),
                Err(e) => return Err(bad(format!("not valid JSON: {e}"))),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Map::new(),
            Err(e) => return Err(bad(e.to_string())),
        };
        Ok(AuthFile {
            path: path.to_path_buf(),
            doc,
        })
    }

    fn auths(&self) -> Option<&Map<String, Value>> {
        self.doc.get("auths").and_then(Value::as_object)
    }

    /// The credentials stored for `repo` (`host/path`): the most specific key wins
    /// (`host/ns/repo`, then `host/ns`, then `host`), as containers/image looks them up. Keys
    /// written by docker (`https://host/v1/`) match their host.
    pub fn lookup(&self, repo: &str) -> Result<Option<Credentials>> {
        let Some(auths) = self.auths() else {
            return Ok(None);
        };
        let mut key = repo;
        loop {
            for (k, v) in auths {
                if normalize_key(k) == key {
                    return decode_entry(v, k, &self.path).map(Some);
                }
            }
            match key.rfind('/') {
                Some(i) => key = &key[..i],
                None => return Ok(None),
            }
        }
    }

    /// Records credentials for `key` (`host` or `host/path`).
    pub fn set(&mut self, key: &str, creds: &Credentials) {
        let auths = self
            .doc
            .entry("auths")
            .or_insert_with(|| Value::Object(Map::new()));
        if !auths.is_object() {
            *auths = Value::Object(Map::new());
        }
        if let Some(m) = auths.as_object_mut() {
            let enc = STANDARD.encode(format!("{}:{}", creds.username, creds.password));
            m.insert(key.to_string(), serde_json::json!({ "auth": enc }));
        }
    }

    /// Removes the entry for `key`; whether there was one.
    pub fn remove(&mut self, key: &str) -> bool {
        let Some(m) = self.doc.get_mut("auths").and_then(Value::as_object_mut) else {
            return false;
        };
        let found: Vec<String> = m
            .keys()
            .filter(|k| normalize_key(k) == key)
            .cloned()
            .collect();
        for k in &found {
            m.remove(k);
        }
        !found.is_empty()
    }

    /// Removes every entry; whether there was any.
    pub fn remove_all(&mut self) -> bool {
        match self.doc.get_mut("auths").and_then(Value::as_object_mut) {
            Some(m) if !m.is_empty() => {
                m.clear();
                true
            }
            _ => false,
        }
    }

    /// Writes the file (mode 0600, its directory 0700 when created) through a temporary file.
    pub fn save(&self) -> Result<()> {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        let io = |e: std::io::Error| RegistryError::Config {
            path: self.path.display().to_string(),
            why: e.to_string(),
        };
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(io)?;
        }
        let mut bytes = serde_json::to_vec_pretty(&Value::Object(self.doc.clone()))
            .map_err(|e| io(std::io::Error::other(e)))?;
        bytes.push(b'\n');
        fsutil::write_atomic(&self.path, &bytes)?;
        std::fs::set_permissions(&self.path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
        Ok(())
    }
}

/// `https://host/v1/` → `host`; `host/path` stays.
fn normalize_key(k: &str) -> &str {
    let k = k
        .strip_prefix("https://")
        .or_else(|| k.strip_prefix("http://"))
        .unwrap_or(k);
    if k.len() != k.trim_end_matches('/').len() || k.ends_with("/v1") || k.ends_with("/v2") {
        let k = k.trim_end_matches('/');
        return k
            .strip_suffix("/v1")
            .or_else(|| k.strip_suffix("/v2"))
            .unwrap_or(k);
    }
    k
}

fn decode_entry(v: &Value, key: &str, path: &Path) -> Result<Credentials> {
    let bad = |why: &str| RegistryError::Config {
        path: path.display().to_string(),
        why: format!("auths.{key}: {why}"),
    };
    let auth = v
        .get("auth")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("no \"auth\" field (credential helpers are not supported)"))?;
    let raw = STANDARD
        .decode(auth.trim())
        .map_err(|_| bad("\"auth\" is not base64"))?;
    let text = String::from_utf8(raw).map_err(|_| bad("\"auth\" is not UTF-8"))?;
    let (u, p) = text
        .split_once(':')
        .ok_or_else(|| bad("\"auth\" is not user:password"))?;
    Ok(Credentials {
        username: u.to_string(),
        password: p.to_string(),
    })
}

/// The credentials for `repo`: `--creds`, else the auth file in use, else podman's other
/// places (`$HOME/.config/containers/auth.json`, `$HOME/.docker/config.json`).
pub(crate) fn credentials_for(opts: &RegistryOptions, repo: &str) -> Result<Option<Credentials>> {
    if let Some(c) = &opts.credentials {
        return Ok(Some(c.clone()));
    }
    let primary = opts.authfile.clone().unwrap_or_else(AuthFile::default_path);
    if let Some(c) = AuthFile::open(&primary)?.lookup(repo)? {
        return Ok(Some(c));
    }
    if opts.authfile.is_none() {
        if let Some(home) = std::env::var_os("HOME") {
            let home = PathBuf::from(home);
            for p in [".config/containers/auth.json", ".docker/config.json"] {
                let p = home.join(p);
                if p.exists() {
                    if let Some(c) = AuthFile::open(&p)?.lookup(repo)? {
                        return Ok(Some(c));
                    }
                }
            }
        }
    }
    Ok(None)
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// Parses `Bearer realm="...",service="...",scope="..."` or `Basic realm="..."`.
pub(crate) fn parse_challenge(h: &str) -> Option<Challenge> {
    let h = h.trim();
    let (scheme, rest) = h.split_once(char::is_whitespace).unwrap_or((h, ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut params = Vec::new();
    let mut s = rest.trim_start();
    while !s.is_empty() {
        let (k, after) = s.split_once('=')?;
        let k = k.trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (v, next) = if let Some(q) = after.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = q.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, c2)) = chars.next() {
                            out.push(c2);
                        }
                    }
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    c => out.push(c),
                }
            }
            (out, &q[end?..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_string(), &after[end..])
        };
        params.push((k, v));
        s = next.trim_start().trim_start_matches(',').trim_start();
    }
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    Some(Challenge::Bearer {
        realm: get("realm")?,
        service: get("service"),
        scope: get("scope"),
    })
}

/// `login HOST`: checks the credentials against the registry and records them in the auth
/// file. `host` may carry a repository path (`host/ns`), as podman allows.
pub fn login(host: &str, creds: &Credentials, opts: &RegistryOptions) -> Result<PathBuf> {
    let key = normalize_key(host).to_string();
    let registry = key.split('/').next().unwrap_or(&key).to_string();
    let mut o = opts.clone();
    o.credentials = Some(creds.clone());
    let client = RegistryClient::new(&registry, &o)?;
    client.check_login()?;
    let path = opts.authfile.clone().unwrap_or_else(AuthFile::default_path);
    let mut file = AuthFile::open(&path)?;
    file.set(&key, creds);
    file.save()?;
    Ok(path)
}

/// `logout HOST` (or every registry with `host = None`, `--all`). Returns the file changed.
pub fn logout(host: Option<&str>, opts: &RegistryOptions) -> Result<PathBuf> {
    let path = opts.authfile.clone().unwrap_or_else(AuthFile::default_path);
    let mut file = AuthFile::open(&path)?;
    let removed = match host {
        Some(h) => file.remove(normalize_key(h)),
        None => file.remove_all(),
    };
    if !removed {
        let what = host.unwrap_or("any registry");
        return Err(RegistryError::Auth {
            registry: what.to_string(),
            why: format!("not logged in (no entry in {})", path.display()),
        });
    }
    file.save()?;
    Ok(path)
}
