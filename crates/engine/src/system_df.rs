//! `system df`: what containers and volumes hold on disk (the image store sizes itself).

use std::collections::HashSet;
use std::fs;
use std::path::Path;

use crate::config::MountKind;
use crate::db::State;
use crate::engine::Engine;
use crate::error::Result;

/// One line of `system df`: how many, how many in use, their size and what removing the unused
/// ones would free.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub total: u64,
    pub active: u64,
    pub size: u64,
    pub reclaimable: u64,
}

/// Containers (their read-write layers) and local volumes, as podman counts them: a container
/// is active while it runs, a volume while any container names it.
pub fn containers_and_volumes(eng: &Engine) -> Result<(Usage, Usage)> {
    let containers = eng.db.list()?;
    let mut cu = Usage::default();
    let mut used_volumes: HashSet<String> = HashSet::new();
    for c in &containers {
        let size = tree_size(&eng.paths(&c.id).upper());
        cu.total += 1;
        cu.size += size;
        if c.state == State::Running {
            cu.active += 1;
        } else {
            cu.reclaimable += size;
        }
        for m in &c.config.mounts {
            if m.kind == MountKind::Volume {
                used_volumes.insert(m.source.clone());
            }
        }
    }
    let mut vu = Usage::default();
    for v in eng.db.volumes()? {
        let size = tree_size(&eng.volumes_dir().join(&v.name).join("_data"));
        vu.total += 1;
        vu.size += size;
        if used_volumes.contains(&v.name) {
            vu.active += 1;
        } else {
            vu.reclaimable += size;
        }
    }
    Ok((cu, vu))
}

/// Bytes of the regular files under `dir` (a hard-linked file counted once); 0 if it is gone.
pub fn tree_size(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut seen: HashSet<(u64, u64)> = HashSet::new();
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let Ok(md) = e.metadata() else { continue };
            if md.is_dir() {
                stack.push(e.path());
            } else if md.is_file() && (md.nlink() == 1 || seen.insert((md.dev(), md.ino()))) {
                total += md.len();
            }
        }
    }
    total
}
