//! Image names as podman reads them: `[domain/]path[:tag][@digest]`.
//!
//! Names are stored fully qualified (`localhost/busybox:latest`,
//! `docker.io/library/busybox:latest`). A name typed without a domain gets `localhost/` when it
//! names something new (`import`, `tag`), as podman does; when looking an image up, a short name
//! matches `localhost/NAME`, then `docker.io/library/NAME`, then any one stored `*/NAME`.

use crate::error::{ImageError, Result};

/// A parsed image reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    /// The domain, if the reference names one (`localhost`, `quay.io`, `host:5000`).
    pub domain: Option<String>,
    /// The repository path without domain (`busybox`, `library/busybox`).
    pub path: String,
    /// The tag, if given.
    pub tag: Option<String>,
    /// A `sha256:` digest, if given.
    pub digest: Option<String>,
}

impl Reference {
    /// Parses and validates a reference as typed by a user.
    pub fn parse(s: &str) -> Result<Reference> {
        let bad = |why: &str| ImageError::InvalidReference {
            reference: s.to_string(),
            why: why.to_string(),
        };
        if s.is_empty() {
            return Err(bad("empty"));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => {
                crate::digest::digest_hex(d)
                    .map_err(|_| bad("the digest is not sha256:<64 hex digits>"))?;
                (r, Some(d.to_string()))
            }
            None => (s, None),
        };
        let last_slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (repo, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (
                &rest[..last_slash + i],
                Some(rest[last_slash + i + 1..].to_string()),
            ),
            None => (rest, None),
        };
        if let Some(t) = &tag {
            let ok = !t.is_empty()
                && t.len() <= 128
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
                && !t.starts_with(['.', '-']);
            if !ok {
                return Err(bad(
                    "a tag is 1 to 128 of [A-Za-z0-9_.-], not starting with . or -",
                ));
            }
        }
        let (domain, path) = match repo.split_once('/') {
            Some((first, p))
                if first.contains(['.', ':'])
                    || first == "localhost"
                    || first.chars().any(|c| c.is_ascii_uppercase()) =>
            {
                (Some(first.to_string()), p.to_string())
            }
            _ => (None, repo.to_string()),
        };
        if path.is_empty() {
            return Err(bad("no repository name"));
        }
        for comp in path.split('/') {
            let ok = !comp.is_empty()
                && comp
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
                && comp.as_bytes()[0].is_ascii_alphanumeric()
                && comp.as_bytes()[comp.len() - 1].is_ascii_alphanumeric();
            if !ok {
                return Err(bad(
                    "repository names are lowercase letters, digits and . _ - between slashes",
                ));
            }
        }
        if let Some(d) = &domain {
            if d.is_empty()
                || !d
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
            {
                return Err(bad("the registry part is not a host name"));
            }
        }
        Ok(Reference {
            domain,
            path,
            tag,
            digest,
        })
    }

    /// The fully qualified `domain/path:tag` this reference names when used to name something
    /// new, a missing domain read as `default_domain` (podman: `localhost`) and a missing tag as
    /// `latest`.
    pub fn qualified(&self, default_domain: &str) -> String {
        let domain = self.domain.as_deref().unwrap_or(default_domain);
        let path =
            if self.domain.is_none() && default_domain == "docker.io" && !self.path.contains('/') {
                format!("library/{}", self.path)
            } else {
                self.path.clone()
            };
        format!(
            "{domain}/{path}:{}",
            self.tag.as_deref().unwrap_or("latest")
        )
    }
}

/// A name for a new image (`import`, `tag`): domain defaults to `localhost`, tag to `latest`.
pub fn normalize_new_name(s: &str) -> Result<String> {
    let r = Reference::parse(s)?;
    if r.digest.is_some() {
        return Err(ImageError::InvalidReference {
            reference: s.to_string(),
            why: "a new name cannot carry a digest".into(),
        });
    }
    Ok(r.qualified("localhost"))
}

/// A name read from a docker-archive's `RepoTags`: docker's normalisation (`busybox` →
/// `docker.io/library/busybox:latest`), as podman applies to docker archives.
pub fn normalize_docker_name(s: &str) -> Result<String> {
    let r = Reference::parse(s)?;
    Ok(r.qualified("docker.io"))
}

/// Splits a stored `domain/path:tag` name into (`domain/path`, `tag`).
pub fn split_repo_tag(name: &str) -> (&str, &str) {
    let last_slash = name.rfind('/').map(|i| i + 1).unwrap_or(0);
    match name[last_slash..].rfind(':') {
        Some(i) => (&name[..last_slash + i], &name[last_slash + i + 1..]),
        None => (name, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            normalize_new_name("busybox").unwrap(),
            "localhost/busybox:latest"
        );
        assert_eq!(
            normalize_new_name("busybox:1.35").unwrap(),
            "localhost/busybox:1.35"
        );
        assert_eq!(
            normalize_new_name("quay.io/a/b:c").unwrap(),
            "quay.io/a/b:c"
        );
        assert_eq!(
            normalize_new_name("localhost:5000/a").unwrap(),
            "localhost:5000/a:latest"
        );
        assert_eq!(
            normalize_docker_name("busybox:latest").unwrap(),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(
            normalize_docker_name("me/app").unwrap(),
            "docker.io/me/app:latest"
        );
        assert!(normalize_new_name("Busybox").is_err());
        assert!(normalize_new_name("a:b:c").is_err());
        assert!(normalize_new_name("").is_err());
        assert_eq!(
            split_repo_tag("localhost:5000/a:v1"),
            ("localhost:5000/a", "v1")
        );
        let r = Reference::parse(
            "busybox@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        )
        .unwrap();
        assert!(r.digest.is_some() && r.tag.is_none());
    }
}
