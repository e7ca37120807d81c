//! COPY and ADD: the files a step adds, written into a fresh directory tree that becomes the
//! step's layer. Parent directories that exist in the image are recreated with their mode,
//! owner and time (as an overlay copy-up would), so the layer changes nothing but what the
//! step copies.
//!
//! Rules (Docker's): a directory source copies its contents; a file source lands at the
//! destination, or inside it when the destination ends with `/` or is a directory in the
//! image; several sources need a directory destination. Files from the context are owned by
//! 0:0 unless `--chown`; files from another stage keep their owners. `--chmod` sets the mode
//! of everything copied. ADD unpacks local tar archives (plain, gzip, zstd) into the
//! destination, keeping the archive's owners.

use std::fs::{self, File, Metadata};
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::tree::{set_meta, set_times, FileJob, Pending};
use super::view::LayerView;
use crate::containerfile::{clean_path, has_glob, match_elements, IgnoreRules};

/// uid and gid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
}

/// Where a step's sources come from.
pub enum SourceRoot<'a> {
    /// The build context with its ignore rules.
    Context {
        dir: &'a Path,
        ignore: &'a IgnoreRules,
    },
    /// Another stage's (or image's) file system.
    View(&'a LayerView),
}

/// One thing to copy: where it is on the host, the name it gets at the destination, and
/// whether it is a directory whose contents are copied.
struct Source {
    host: PathBuf,
    /// In-source components (for walking a context directory with ignore rules).
    comps: Vec<String>,
    name: String,
    is_dir: bool,
}

/// What a COPY/ADD does.
pub struct CopyRequest<'a> {
    pub sources: &'a [String],
    /// Absolute in-image destination; a trailing `/` means a directory.
    pub dest: &'a str,
    pub chown: Option<Owner>,
    pub chmod: Option<u32>,
    /// ADD: unpack local archives.
    pub unpack: bool,
    /// Heredoc sources: (name as written in the sources, body).
    pub heredocs: Vec<(String, String)>,
}

/// Resolves `user[:group]` (names or numbers) in the image's /etc/passwd and /etc/group.
pub fn resolve_owner(view: &LayerView, spec: &str) -> std::result::Result<Owner, String> {
    let (u, g) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let passwd =
        String::from_utf8_lossy(&view.read("/etc/passwd").unwrap_or_default()).into_owned();
    let group = String::from_utf8_lossy(&view.read("/etc/group").unwrap_or_default()).into_owned();
    let (uid, primary) = match u.parse::<u32>() {
        Ok(n) => (n, None),
        Err(_) => {
            let f = passwd
                .lines()
                .map(|l| l.split(':').collect::<Vec<_>>())
                .find(|f| f.len() >= 4 && f[0] == u)
                .ok_or_else(|| {
                    format!("--chown={spec}: no user {u:?} in the image's /etc/passwd")
                })?;
            (
                f[2].parse()
                    .map_err(|_| format!("--chown={spec}: bad uid in /etc/passwd"))?,
                f[3].parse::<u32>().ok(),
            )
        }
    };
    let gid = match g {
        None => primary.unwrap_or(uid),
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => group
                .lines()
                .map(|l| l.split(':').collect::<Vec<_>>())
                .find(|f| f.len() >= 3 && f[0] == g)
                .and_then(|f| f[2].parse().ok())
                .ok_or_else(|| {
                    format!("--chown={spec}: no group {g:?} in the image's /etc/group")
                })?,
        },
    };
    Ok(Owner { uid, gid })
}

/// Copies `req`'s sources from `from` into `tree` (the new layer), with `image` the file
/// system the layer goes on top of. Errors are worded for the step (the caller adds file:line).
pub fn copy_into(
    tree: &Path,
    image: &LayerView,
    from: &SourceRoot<'_>,
    req: &CopyRequest<'_>,
) -> std::result::Result<(), String> {
    let mut pending = Pending::default();
    copy_sources(tree, image, from, req, &mut pending)?;
    pending.finish()
}

fn copy_sources(
    tree: &Path,
    image: &LayerView,
    from: &SourceRoot<'_>,
    req: &CopyRequest<'_>,
    p: &mut Pending,
) -> std::result::Result<(), String> {
    let mut sources = Vec::new();
    for s in req.sources {
        if let Some((_, body)) = req.heredocs.iter().find(|(n, _)| n == s) {
            sources.push((s.clone(), Some(body.clone())));
        } else {
            sources.push((s.clone(), None));
        }
    }
    let mut found: Vec<(Source, Option<String>)> = Vec::new();
    for (s, body) in &sources {
        if let Some(b) = body {
            let name = s
                .trim_start_matches("<<")
                .trim_start_matches('-')
                .trim_matches(['"', '\'']);
            found.push((
                Source {
                    host: PathBuf::new(),
                    comps: Vec::new(),
                    name: name.to_string(),
                    is_dir: false,
                },
                Some(b.clone()),
            ));
            continue;
        }
        for src in expand_source(from, s)? {
            found.push((src, None));
        }
    }
    let dest_comps = clean_path(req.dest);
    let dest_says_dir = req.dest.ends_with('/') || req.dest.ends_with("/.");
    let dest_is_dir_in_image = image
        .resolve(req.dest, true)
        .is_some_and(|(_, _, md)| md.is_dir());
    let multiple = found.len() > 1 || req.sources.len() > 1;
    if multiple && !dest_says_dir && !dest_is_dir_in_image {
        return Err(format!(
            "{}: with more than one source file the destination must be a directory and end with a /",
            req.dest
        ));
    }
    for (src, body) in found {
        if let Some(body) = body {
            let target = if dest_says_dir || dest_is_dir_in_image {
                ensure_dir(tree, image, &dest_comps, req.chown, p)?;
                [dest_comps.clone(), vec![src.name.clone()]].concat()
            } else {
                dest_comps.clone()
            };
            let host = ensure_parents(tree, image, &target, req.chown, p)?;
            fs::write(&host, body.as_bytes())
                .map_err(|e| format!("writing {}: {e}", show(&target)))?;
            set_meta(
                &host,
                req.chmod.unwrap_or(0o644),
                req.chown.unwrap_or(Owner { uid: 0, gid: 0 }),
                None,
            )?;
            continue;
        }
        if src.is_dir {
            let host = ensure_dir(tree, image, &dest_comps, req.chown, p)?;
            copy_dir_contents(from, &src, &host, req, p)?;
            continue;
        }
        if req.unpack && matches!(from, SourceRoot::Context { .. }) && is_archive(&src.host) {
            let host = ensure_dir(tree, image, &dest_comps, None, p)?;
            let f = File::open(&src.host).map_err(|e| format!("{}: {e}", src.name))?;
            let (_, stream) = crate::layer::decompress(BufReader::new(f), &src.name)
                .map_err(|e| e.to_string())?;
            crate::layer::extract(stream, &host, &src.name)
                .map_err(|e| format!("ADD {}: {e}", src.name))?;
            continue;
        }
        let target = if dest_says_dir || dest_is_dir_in_image {
            // A directory the step creates gets the step's owner (buildah's and Docker's).
            ensure_dir(tree, image, &dest_comps, req.chown, p)?;
            [dest_comps.clone(), vec![src.name.clone()]].concat()
        } else {
            dest_comps.clone()
        };
        if target.is_empty() {
            return Err(format!("{}: cannot copy a file onto /", src.name));
        }
        let host = ensure_parents(tree, image, &target, req.chown, p)?;
        copy_entry(from, &src.host, &host, req, p)?;
    }
    Ok(())
}

/// Creates `req.dest` as a directory (WORKDIR on an image without it).
pub fn make_dir(
    tree: &Path,
    image: &LayerView,
    req: &CopyRequest<'_>,
) -> std::result::Result<(), String> {
    let mut pending = Pending::default();
    ensure_dir(tree, image, &clean_path(req.dest), req.chown, &mut pending)?;
    pending.finish()
}

fn show(comps: &[String]) -> String {
    format!("/{}", comps.join("/"))
}

/// The entries a source names: a path, or a glob's matches.
fn expand_source(from: &SourceRoot<'_>, s: &str) -> std::result::Result<Vec<Source>, String> {
    let pat = clean_path(s);
    match from {
        SourceRoot::Context { dir, ignore } => {
            let matches: Vec<Vec<String>> = if has_glob(s) {
                let all = ignore
                    .walk(dir)
                    .map_err(|e| format!("reading the build context {}: {e}", dir.display()))?;
                all.iter()
                    .map(|p| clean_path(p))
                    .filter(|e| match_elements(&pat, e))
                    .collect()
            } else {
                if !pat.is_empty() && ignore.is_ignored(&pat.join("/")) {
                    return Err(format!(
                        "{s}: excluded by {}",
                        ignore
                            .file
                            .as_ref()
                            .map(|f| f.display().to_string())
                            .unwrap_or_default()
                    ));
                }
                vec![pat.clone()]
            };
            if matches.is_empty() {
                return Err(format!("{s}: no file in the build context matches"));
            }
            let mut out = Vec::new();
            let root = dir
                .canonicalize()
                .map_err(|e| format!("build context {}: {e}", dir.display()))?;
            for m in matches {
                // The source itself is followed if a symlink (as Docker does), but never out
                // of the context.
                let host = dir
                    .join(m.join("/"))
                    .canonicalize()
                    .map_err(|e| format!("{s}: {e}"))?;
                if !host.starts_with(&root) {
                    return Err(format!("{s}: points outside the build context"));
                }
                let md = fs::metadata(&host).map_err(|e| format!("{s}: {e}"))?;
                let comps = host
                    .strip_prefix(&root)
                    .map(|r| clean_path(&r.to_string_lossy()))
                    .unwrap_or_default();
                out.push(Source {
                    name: m.last().cloned().unwrap_or_default(),
                    is_dir: md.is_dir(),
                    host,
                    comps,
                });
            }
            Ok(out)
        }
        SourceRoot::View(view) => {
            let matches = if has_glob(s) {
                view.glob(&pat)
            } else {
                vec![pat.clone()]
            };
            let mut out = Vec::new();
            for m in matches {
                let (comps, host, md) = view
                    .resolve(&show(&m), true)
                    .ok_or_else(|| format!("{s}: no such file or directory in the source stage"))?;
                out.push(Source {
                    name: m.last().cloned().unwrap_or_default(),
                    is_dir: md.is_dir(),
                    host,
                    comps,
                });
            }
            if out.is_empty() {
                return Err(format!("{s}: nothing in the source stage matches"));
            }
            Ok(out)
        }
    }
}

/// Whether a context file is a tar archive ADD unpacks (plain, gzip or zstd).
fn is_archive(path: &Path) -> bool {
    let Ok(f) = File::open(path) else {
        return false;
    };
    let mut r = BufReader::new(f);
    let Ok(head) = r.fill_buf() else { return false };
    match crate::layer::Compression::detect(head) {
        Ok(crate::layer::Compression::None) => {
            let mut block = [0u8; 512];
            let mut f = match File::open(path) {
                Ok(f) => f,
                Err(_) => return false,
            };
            f.read_exact(&mut block).is_ok() && &block[257..262] == b"ustar"
        }
        Ok(_) => true,
        Err(_) => false,
    }
}

/// Creates the parents of `comps` in the tree (with the image's metadata where they exist
/// there, else owned by `owner` — the step's `--chown` — or root, as buildah does); returns
/// the host path of `comps` itself (not created).
fn ensure_parents(
    tree: &Path,
    image: &LayerView,
    comps: &[String],
    owner: Option<Owner>,
    p: &mut Pending,
) -> std::result::Result<PathBuf, String> {
    let mut host = tree.to_path_buf();
    for i in 0..comps.len().saturating_sub(1) {
        host.push(&comps[i]);
        make_dir_like_image(&host, image, &comps[..=i], owner, p)?;
    }
    if let Some(last) = comps.last() {
        host.push(last);
    }
    Ok(host)
}

/// Creates directory `comps` and its parents in the tree; a directory new to the image gets
/// `owner` (the `--chown` of the step) or root.
fn ensure_dir(
    tree: &Path,
    image: &LayerView,
    comps: &[String],
    owner: Option<Owner>,
    p: &mut Pending,
) -> std::result::Result<PathBuf, String> {
    let host = ensure_parents(tree, image, comps, owner, p)?;
    if !comps.is_empty() {
        make_dir_like_image(&host, image, comps, owner, p)?;
    }
    Ok(host)
}

fn make_dir_like_image(
    host: &Path,
    image: &LayerView,
    comps: &[String],
    new_owner: Option<Owner>,
    p: &mut Pending,
) -> std::result::Result<(), String> {
    if fs::symlink_metadata(host).is_ok_and(|m| m.is_dir()) {
        return Ok(());
    }
    fs::create_dir(host).map_err(|e| format!("creating {}: {e}", show(comps)))?;
    match image.resolve(&show(comps), false) {
        Some((_, _, md)) if md.is_dir() => {
            p.dir_time(host, &md);
            set_meta(
                host,
                md.mode() & 0o7777,
                Owner {
                    uid: md.uid(),
                    gid: md.gid(),
                },
                None,
            )
        }
        Some((_, _, md)) if md.file_type().is_symlink() => Err(format!(
            "{} is a symbolic link in the image; dermaga does not copy through it",
            show(comps)
        )),
        Some(_) => Err(format!(
            "{} exists in the image and is not a directory",
            show(comps)
        )),
        None => set_meta(
            host,
            0o755,
            new_owner.unwrap_or(Owner { uid: 0, gid: 0 }),
            None,
        ),
    }
}

fn owner_for(from: &SourceRoot<'_>, req: &CopyRequest<'_>, md: &Metadata) -> Owner {
    match (req.chown, from) {
        (Some(o), _) => o,
        (None, SourceRoot::Context { .. }) => Owner { uid: 0, gid: 0 },
        (None, SourceRoot::View(_)) => Owner {
            uid: md.uid(),
            gid: md.gid(),
        },
    }
}

/// Copies one entry (file, symlink, special file or directory tree) to `dst`.
fn copy_entry(
    from: &SourceRoot<'_>,
    src: &Path,
    dst: &Path,
    req: &CopyRequest<'_>,
    p: &mut Pending,
) -> std::result::Result<(), String> {
    let md = fs::symlink_metadata(src).map_err(|e| format!("{}: {e}", src.display()))?;
    let owner = owner_for(from, req, &md);
    let ft = md.file_type();
    if dst.exists() || fs::symlink_metadata(dst).is_ok() {
        crate::fsutil::remove_any(dst).map_err(|e| e.to_string())?;
    }
    if !ft.is_file() {
        // Whatever comes last at a path wins, as with sequential copies.
        p.replaced(dst);
    }
    if ft.is_dir() {
        fs::create_dir(dst).map_err(|e| format!("creating {}: {e}", dst.display()))?;
        let src_entry = Source {
            host: src.to_path_buf(),
            comps: Vec::new(),
            name: String::new(),
            is_dir: true,
        };
        copy_children(from, &src_entry, dst, req, p)?;
        set_meta(dst, req.chmod.unwrap_or(md.mode() & 0o7777), owner, None)?;
        p.dir_time(dst, &md);
    } else if ft.is_symlink() {
        let t = fs::read_link(src).map_err(|e| format!("{}: {e}", src.display()))?;
        std::os::unix::fs::symlink(&t, dst).map_err(|e| format!("{}: {e}", dst.display()))?;
        std::os::unix::fs::lchown(dst, Some(owner.uid), Some(owner.gid))
            .map_err(|e| format!("chown {}: {e}", dst.display()))?;
        set_times(dst, &md).map_err(|e| format!("{}: {e}", dst.display()))?;
    } else if ft.is_file() {
        p.file(FileJob {
            src: src.to_path_buf(),
            dst: dst.to_path_buf(),
            mode: req.chmod.unwrap_or(md.mode() & 0o7777),
            owner,
            md,
        });
    } else if ft.is_fifo() || ft.is_char_device() || ft.is_block_device() {
        let kind = if ft.is_fifo() {
            rustix::fs::FileType::Fifo
        } else if ft.is_char_device() {
            rustix::fs::FileType::CharacterDevice
        } else {
            rustix::fs::FileType::BlockDevice
        };
        rustix::fs::mknodat(
            rustix::fs::CWD,
            dst,
            kind,
            rustix::fs::Mode::from_raw_mode(md.mode() & 0o7777),
            md.rdev(),
        )
        .map_err(|e| format!("creating {}: {}", dst.display(), std::io::Error::from(e)))?;
        set_meta(
            dst,
            req.chmod.unwrap_or(md.mode() & 0o7777),
            owner,
            Some(&md),
        )?;
    }
    // Sockets are not copied (as tar does not carry them).
    Ok(())
}

/// Copies the contents of a directory source into `dst` (which exists).
fn copy_dir_contents(
    from: &SourceRoot<'_>,
    src: &Source,
    dst: &Path,
    req: &CopyRequest<'_>,
    p: &mut Pending,
) -> std::result::Result<(), String> {
    copy_children(from, src, dst, req, p)
}

fn copy_children(
    from: &SourceRoot<'_>,
    src: &Source,
    dst: &Path,
    req: &CopyRequest<'_>,
    p: &mut Pending,
) -> std::result::Result<(), String> {
    match from {
        SourceRoot::Context { ignore, .. } => {
            for sub in context_children(src)? {
                let d = dst.join(sub.host.file_name().unwrap_or_default());
                if ignore.is_ignored(&sub.comps.join("/")) {
                    // An exception may re-include something inside an ignored directory.
                    if sub.is_dir && ignore_has_exceptions(ignore) {
                        copy_ignored_dir(from, &sub, &d, req, p)?;
                    }
                    continue;
                }
                if sub.is_dir {
                    let md = fs::symlink_metadata(&sub.host).map_err(|e| e.to_string())?;
                    p.replaced(&d);
                    fs::create_dir(&d).map_err(|e| format!("creating {}: {e}", d.display()))?;
                    copy_children(from, &sub, &d, req, p)?;
                    set_meta(
                        &d,
                        req.chmod.unwrap_or(md.mode() & 0o7777),
                        owner_for(from, req, &md),
                        None,
                    )?;
                    p.dir_time(&d, &md);
                } else {
                    copy_entry(from, &sub.host, &d, req, p)?;
                }
            }
            Ok(())
        }
        SourceRoot::View(view) => {
            let entries = if src.comps.is_empty() && src.name.is_empty() {
                // A plain host directory (inside a single layer) reached by recursion.
                let mut m = std::collections::BTreeMap::new();
                for e in fs::read_dir(&src.host)
                    .map_err(|e| e.to_string())?
                    .flatten()
                {
                    m.insert(e.file_name(), e.path());
                }
                m
            } else {
                view.list_dir(&src.comps)
            };
            for (n, host) in entries {
                let md = fs::symlink_metadata(&host).map_err(|e| e.to_string())?;
                let d = dst.join(&n);
                if md.is_dir() && !(src.comps.is_empty() && src.name.is_empty()) {
                    let mut comps = src.comps.clone();
                    comps.push(n.to_string_lossy().into_owned());
                    p.replaced(&d);
                    fs::create_dir(&d).map_err(|e| format!("creating {}: {e}", d.display()))?;
                    let sub = Source {
                        host: host.clone(),
                        comps,
                        name: n.to_string_lossy().into_owned(),
                        is_dir: true,
                    };
                    copy_children(from, &sub, &d, req, p)?;
                    set_meta(
                        &d,
                        req.chmod.unwrap_or(md.mode() & 0o7777),
                        owner_for(from, req, &md),
                        None,
                    )?;
                    p.dir_time(&d, &md);
                } else {
                    copy_entry(from, &host, &d, req, p)?;
                }
            }
            Ok(())
        }
    }
}

fn ignore_has_exceptions(ignore: &IgnoreRules) -> bool {
    ignore.has_exceptions()
}

/// An ignored directory that may hold re-included entries: only those are copied (their
/// parent directories with them).
fn copy_ignored_dir(
    from: &SourceRoot<'_>,
    src: &Source,
    dst: &Path,
    req: &CopyRequest<'_>,
    p: &mut Pending,
) -> std::result::Result<(), String> {
    let SourceRoot::Context { ignore, .. } = from else {
        return Ok(());
    };
    for sub in context_children(src)? {
        if !ignore.is_ignored(&sub.comps.join("/")) || sub.is_dir {
            if !dst.exists() {
                fs::create_dir_all(dst).map_err(|e| format!("creating {}: {e}", dst.display()))?;
            }
            let d = dst.join(sub.host.file_name().unwrap_or_default());
            if sub.is_dir {
                if ignore.is_ignored(&sub.comps.join("/")) {
                    copy_ignored_dir(from, &sub, &d, req, p)?;
                } else {
                    fs::create_dir(&d).map_err(|e| format!("creating {}: {e}", d.display()))?;
                    copy_children(from, &sub, &d, req, p)?;
                }
            } else {
                copy_entry(from, &sub.host, &d, req, p)?;
            }
        }
    }
    Ok(())
}

/// The entries of a context directory, sorted by name, each with its in-context components.
fn context_children(src: &Source) -> std::result::Result<Vec<Source>, String> {
    let mut names: Vec<_> = fs::read_dir(&src.host)
        .map_err(|e| format!("reading {}: {e}", src.host.display()))?
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .collect();
    names.sort();
    Ok(names
        .into_iter()
        .map(|n| {
            let name = n.to_string_lossy().into_owned();
            let mut comps = src.comps.clone();
            comps.push(name.clone());
            let host = src.host.join(&n);
            let is_dir = fs::symlink_metadata(&host).is_ok_and(|m| m.is_dir());
            Source {
                host,
                comps,
                name,
                is_dir,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;
    use std::os::unix::fs::PermissionsExt;

    fn ctx() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let c = d.path();
        fs::create_dir_all(c.join("dir/sub")).unwrap();
        fs::write(c.join("a.txt"), "a").unwrap();
        fs::write(c.join("b.txt"), "bb").unwrap();
        fs::write(c.join("dir/sub/x"), "x").unwrap();
        fs::write(c.join("dir/skip.log"), "no").unwrap();
        std::os::unix::fs::symlink("/etc", c.join("escape")).unwrap();
        d
    }

    fn copy(
        c: &Path,
        image: &LayerView,
        sources: &[&str],
        dest: &str,
        chmod: Option<u32>,
    ) -> std::result::Result<tempfile::TempDir, String> {
        let tree = tempfile::tempdir().unwrap();
        let ignore = IgnoreRules::parse("*.log\n**/*.log\n");
        let sources: Vec<String> = sources.iter().map(|s| s.to_string()).collect();
        copy_into(
            tree.path(),
            image,
            &SourceRoot::Context {
                dir: c,
                ignore: &ignore,
            },
            &CopyRequest {
                sources: &sources,
                dest,
                chown: None,
                chmod,
                unpack: false,
                heredocs: Vec::new(),
            },
        )?;
        Ok(tree)
    }

    #[test]
    fn destination_rules() {
        let c = ctx();
        let empty = LayerView::default();
        // A file onto a path: renamed.
        let t = copy(c.path(), &empty, &["a.txt"], "/app/renamed", None).unwrap();
        assert_eq!(fs::read(t.path().join("app/renamed")).unwrap(), b"a");
        // Into a directory (trailing slash), with --chmod.
        let t = copy(c.path(), &empty, &["a.txt"], "/app/", Some(0o600)).unwrap();
        let md = fs::metadata(t.path().join("app/a.txt")).unwrap();
        assert_eq!(md.mode() & 0o7777, 0o600);
        assert_eq!(
            fs::metadata(t.path().join("app")).unwrap().mode() & 0o7777,
            0o755
        );
        // A directory copies its contents, without what the ignore file excludes.
        let t = copy(c.path(), &empty, &["dir"], "/d", None).unwrap();
        assert!(t.path().join("d/sub/x").is_file());
        assert!(!t.path().join("d/skip.log").exists());
        // Globs, and several sources need a directory.
        let t = copy(c.path(), &empty, &["*.txt"], "/g/", None).unwrap();
        assert!(t.path().join("g/a.txt").is_file() && t.path().join("g/b.txt").is_file());
        let e = copy(c.path(), &empty, &["*.txt"], "/g", None).unwrap_err();
        assert!(e.contains("must be a directory"), "{e}");
        // Never out of the context through a symlink.
        let e = copy(c.path(), &empty, &["escape"], "/x", None).unwrap_err();
        assert!(e.contains("outside the build context"), "{e}");
    }

    #[test]
    fn parents_keep_the_image_metadata() {
        let c = ctx();
        let layer = tempfile::tempdir().unwrap();
        fs::create_dir(layer.path().join("tmp")).unwrap();
        fs::set_permissions(layer.path().join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
        let image = LayerView::new(vec![layer.path().to_path_buf()]);
        let t = copy(c.path(), &image, &["a.txt"], "/tmp/a", None).unwrap();
        assert_eq!(
            fs::metadata(t.path().join("tmp")).unwrap().mode() & 0o7777,
            0o1777
        );
        // An existing directory destination takes the file inside it.
        let t = copy(c.path(), &image, &["a.txt"], "/tmp", None).unwrap();
        assert!(t.path().join("tmp/a.txt").is_file());
    }

    #[test]
    fn owners_from_the_image() {
        let layer = tempfile::tempdir().unwrap();
        fs::create_dir(layer.path().join("etc")).unwrap();
        fs::write(
            layer.path().join("etc/passwd"),
            "root:x:0:0::/:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n",
        )
        .unwrap();
        fs::write(layer.path().join("etc/group"), "root:x:0:\nstaff:x:50:\n").unwrap();
        let v = LayerView::new(vec![layer.path().to_path_buf()]);
        assert_eq!(
            resolve_owner(&v, "app").unwrap(),
            Owner {
                uid: 1000,
                gid: 1001
            }
        );
        assert_eq!(
            resolve_owner(&v, "app:staff").unwrap(),
            Owner { uid: 1000, gid: 50 }
        );
        assert_eq!(resolve_owner(&v, "7").unwrap(), Owner { uid: 7, gid: 7 });
        assert!(resolve_owner(&v, "ghost").is_err());
        assert!(resolve_owner(&v, "app:ghosts").is_err());
    }
}
