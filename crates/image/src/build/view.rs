//! A read-only view of a stack of extracted layers, resolved in user space as overlayfs would
//! merge them: the topmost entry of a path wins, a whiteout (0:0 character device) hides what
//! is below, an opaque directory (`trusted.overlay.opaque=y`) hides the directories below it.
//!
//! The builder reads through it what COPY needs from the image being built (does the
//! destination exist, the metadata of parent directories, `/etc/passwd` for `--chown`) and
//! the files `COPY --from` takes from another stage, without mounting anything.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::Metadata;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::containerfile::match_element;

/// Layers, lowest first.
#[derive(Clone, Debug, Default)]
pub struct LayerView {
    pub layers: Vec<PathBuf>,
}

fn is_whiteout(md: &Metadata) -> bool {
    md.file_type().is_char_device() && md.rdev() == 0
}

fn is_opaque(path: &Path) -> bool {
    let mut v = [0u8; 4];
    matches!(rustix::fs::lgetxattr(path, "trusted.overlay.opaque", &mut v[..]), Ok(1) if v[0] == b'y')
}

/// How many symlinks a lookup follows before giving up (as Linux's MAXSYMLINKS).
const MAX_LINKS: usize = 40;

impl LayerView {
    pub fn new(layers: Vec<PathBuf>) -> LayerView {
        LayerView { layers }
    }

    /// The host path holding `rel` (components, no symlinks followed) and its metadata.
    fn lookup_exact(&self, comps: &[String]) -> Option<(PathBuf, Metadata)> {
        'layers: for (i, layer) in self.layers.iter().enumerate().rev() {
            let mut p = layer.clone();
            for (k, c) in comps.iter().enumerate() {
                p.push(c);
                if k + 1 < comps.len() {
                    // A parent that is not a directory here (or a whiteout) ends the search
                    // in lower layers too; an opaque parent ends it after this layer.
                    match std::fs::symlink_metadata(&p) {
                        Ok(md) if md.is_dir() => {}
                        Ok(_) => return None,
                        Err(_) => continue 'layers,
                    }
                }
            }
            match std::fs::symlink_metadata(&p) {
                Ok(md) if is_whiteout(&md) => return None,
                Ok(md) => return Some((p, md)),
                Err(_) => {
                    // An opaque directory on the way hides the lower layers.
                    let mut q = layer.clone();
                    for c in &comps[..comps.len().saturating_sub(1)] {
                        q.push(c);
                        if is_opaque(&q) {
                            return None;
                        }
                    }
                    let _ = i;
                }
            }
        }
        None
    }

    /// Resolves `path` (absolute inside the image) following symlinks inside the view; with
    /// `follow_last` the last component too. Returns the cleaned in-image components, the host
    /// path and metadata of what is there, or `None` if nothing is.
    pub fn resolve(
        &self,
        path: &str,
        follow_last: bool,
    ) -> Option<(Vec<String>, PathBuf, Metadata)> {
        let mut todo: Vec<String> = crate::containerfile::clean_path(path);
        todo.reverse();
        let mut done: Vec<String> = Vec::new();
        let mut links = 0;
        let mut last: Option<(PathBuf, Metadata)> = None;
        if todo.is_empty() {
            let (p, md) = self.root_entry()?;
            return Some((Vec::new(), p, md));
        }
        while let Some(c) = todo.pop() {
            if c == ".." {
                done.pop();
                continue;
            }
            done.push(c);
            let (p, md) = self.lookup_exact(&done)?;
            let is_last = todo.is_empty();
            if md.file_type().is_symlink() && (!is_last || follow_last) {
                links += 1;
                if links > MAX_LINKS {
                    return None;
                }
                let target = std::fs::read_link(&p).ok()?;
                let t = target.to_string_lossy().into_owned();
                done.pop();
                if t.starts_with('/') {
                    done.clear();
                }
                let mut parts: Vec<String> = t
                    .split('/')
                    .filter(|s| !s.is_empty() && *s != ".")
                    .map(String::from)
                    .collect();
                parts.reverse();
                todo.extend(parts);
                if todo.is_empty() {
                    let (p, md) = if done.is_empty() {
                        self.root_entry()?
                    } else {
                        self.lookup_exact(&done)?
                    };
                    return Some((done, p, md));
                }
                continue;
            }
            last = Some((p, md));
        }
        let (p, md) = last?;
        Some((done, p, md))
    }

    fn root_entry(&self) -> Option<(PathBuf, Metadata)> {
        let top = self.layers.last()?;
        let md = std::fs::symlink_metadata(top).ok()?;
        Some((top.clone(), md))
    }

    /// The merged entries of directory `comps` (no symlinks on the way): name → host path.
    pub fn list_dir(&self, comps: &[String]) -> BTreeMap<OsString, PathBuf> {
        let mut out: BTreeMap<OsString, PathBuf> = BTreeMap::new();
        let mut hidden: std::collections::HashSet<OsString> = Default::default();
        for layer in self.layers.iter().rev() {
            let mut p = layer.clone();
            let mut blocked = false;
            for c in comps {
                p.push(c);
            }
            match std::fs::symlink_metadata(&p) {
                Ok(md) if md.is_dir() => {}
                Ok(_) => break,
                Err(_) => {
                    // Missing here: an opaque parent would hide lower layers.
                    let mut q = layer.clone();
                    for c in comps {
                        q.push(c);
                        if is_opaque(&q) {
                            blocked = true;
                        }
                    }
                    if blocked {
                        break;
                    }
                    continue;
                }
            }
            if let Ok(rd) = std::fs::read_dir(&p) {
                for e in rd.flatten() {
                    let name = e.file_name();
                    if out.contains_key(&name) || hidden.contains(&name) {
                        continue;
                    }
                    match e.metadata() {
                        Ok(md) if is_whiteout(&md) => {
                            hidden.insert(name);
                        }
                        Ok(_) => {
                            out.insert(name, e.path());
                        }
                        Err(_) => {}
                    }
                }
            }
            if is_opaque(&p) {
                break;
            }
        }
        out
    }

    /// Reads a file of the image (following symlinks); `None` if absent.
    pub fn read(&self, path: &str) -> Option<Vec<u8>> {
        let (_, p, md) = self.resolve(path, true)?;
        if !md.is_file() {
            return None;
        }
        std::fs::read(p).ok()
    }

    /// The paths under `dir` (in-image components) whose names match a glob pattern's
    /// elements, as in-image paths; the matches of `pat` as COPY --from sources.
    pub fn glob(&self, pat: &[String]) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        self.glob_into(&mut Vec::new(), pat, &mut out);
        out
    }

    fn glob_into(&self, at: &mut Vec<String>, pat: &[String], out: &mut Vec<Vec<String>>) {
        let Some((first, rest)) = pat.split_first() else {
            out.push(at.clone());
            return;
        };
        for (name, host) in self.list_dir(at) {
            let n = name.to_string_lossy().into_owned();
            if !match_element(first, &n) {
                continue;
            }
            at.push(n);
            if rest.is_empty() || std::fs::metadata(&host).is_ok_and(|m| m.is_dir()) {
                self.glob_into(at, rest, out);
            }
            at.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upper_layers_win_and_links_resolve() {
        let d = tempfile::tempdir().unwrap();
        let (l1, l2) = (d.path().join("l1"), d.path().join("l2"));
        std::fs::create_dir_all(l1.join("etc")).unwrap();
        std::fs::create_dir_all(l2.join("etc")).unwrap();
        std::fs::write(l1.join("etc/a"), "low").unwrap();
        std::fs::write(l1.join("etc/b"), "low").unwrap();
        std::fs::write(l2.join("etc/a"), "high").unwrap();
        std::os::unix::fs::symlink("etc", l2.join("link")).unwrap();
        let v = LayerView::new(vec![l1, l2]);
        assert_eq!(v.read("/etc/a").unwrap(), b"high");
        assert_eq!(v.read("/link/b").unwrap(), b"low");
        let names: Vec<_> = v.list_dir(&["etc".into()]).into_keys().collect();
        assert_eq!(names, vec![OsString::from("a"), OsString::from("b")]);
        assert!(v.read("/etc/missing").is_none());
    }
}
