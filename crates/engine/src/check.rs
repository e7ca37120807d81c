//! `dermaga system check [--repair]`: finds (and fixes) what a crash or a kill -9 can leave:
//! containers recorded running whose monitor is gone, half-removed containers, directories
//! without a record, records without a directory, root file systems left mounted, runtime
//! state of containers that are not running or have no record.

use std::fs;

use crate::db::State;
use crate::engine::Engine;
use crate::error::Result;
use crate::rootfs;
use crate::util::{lock_held, FileLock};

#[derive(Debug, Default)]
pub struct CheckReport {
    /// What was found, one line each.
    pub problems: Vec<String>,
    /// What was done about it (with repair).
    pub repairs: Vec<String>,
}

impl Engine {
    pub fn check(&self, repair: bool) -> Result<CheckReport> {
        let _store = self.lock_store_exclusive()?;
        let mut r = CheckReport::default();
        let containers = self.db.list()?;
        for c in &containers {
            let p = self.paths(&c.id);
            if !p.dir.exists() && c.state != State::Removing {
                r.problems.push(format!(
                    "container {} ({}): its directory {} is missing",
                    c.name,
                    &c.id[..12],
                    p.dir.display()
                ));
                if repair {
                    let _ = self.runtime_for(&c.config).delete(&c.id, true);
                    self.db.delete(&c.id)?;
                    r.repairs
                        .push(format!("container {}: record removed", c.name));
                }
                continue;
            }
            // A monitor that holds the lock is alive: the container is fine.
            if lock_held(&p.lock()) {
                continue;
            }
            match c.state {
                State::Running => {
                    r.problems.push(format!(
                        "container {} ({}): recorded as running but its monitor is gone",
                        c.name,
                        &c.id[..12]
                    ));
                    if repair {
                        let c2 = self.recover_lost_monitor(c)?;
                        r.repairs.push(format!(
                            "container {}: stopped and recorded as exited",
                            c.name
                        ));
                        if c2.config.rm {
                            if let Some(_l) = FileLock::try_exclusive(&p.lock())? {
                                self.remove_files(&c2, true)?;
                                r.repairs
                                    .push(format!("container {}: removed (--rm)", c.name));
                            }
                        }
                    }
                }
                State::Removing => {
                    r.problems.push(format!(
                        "container {} ({}): removal was interrupted",
                        c.name,
                        &c.id[..12]
                    ));
                    if repair {
                        if let Some(_l) = FileLock::try_exclusive(&p.lock()).unwrap_or(None) {
                            let _ = self.runtime_for(&c.config).delete(&c.id, true);
                            self.remove_files(c, true)?;
                        } else {
                            let _ = rootfs::unmount_container(&p.dir);
                            let _ = fs::remove_dir_all(&p.dir);
                            let _ = fs::remove_dir_all(&p.run);
                            self.db.delete(&c.id)?;
                        }
                        r.repairs
                            .push(format!("container {}: removal finished", c.name));
                    }
                }
                State::Created | State::Exited => {
                    if c.config.rootfs.is_none() && rootfs::is_mounted(&p.merged()) {
                        r.problems.push(format!(
                            "container {} ({}): root file system left mounted",
                            c.name,
                            &c.id[..12]
                        ));
                        if repair {
                            rootfs::unmount_container(&p.dir)?;
                            r.repairs.push(format!("container {}: unmounted", c.name));
                        }
                    }
                    let rt = self.runtime_for(&c.config);
                    if rt.state(&c.id)?.is_some() {
                        r.problems.push(format!(
                            "container {} ({}): the OCI runtime still has it, but it is not running under a monitor",
                            c.name,
                            &c.id[..12]
                        ));
                        if repair {
                            let _ = rt.kill(&c.id, libc::SIGKILL, true);
                            let _ = rt.delete(&c.id, true);
                            r.repairs
                                .push(format!("container {}: runtime state deleted", c.name));
                        }
                    }
                    if c.config.rm && c.state == State::Exited {
                        r.problems.push(format!(
                            "container {} ({}): exited with --rm but was not removed",
                            c.name,
                            &c.id[..12]
                        ));
                        if repair {
                            if let Some(_l) = FileLock::try_exclusive(&p.lock())? {
                                self.remove_files(c, true)?;
                                r.repairs.push(format!("container {}: removed", c.name));
                            }
                        }
                    }
                }
            }
        }
        // Directories without a record: a create or a removal cut short.
        if let Ok(rd) = fs::read_dir(self.root.join("containers")) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if containers.iter().any(|c| c.id == name) {
                    continue;
                }
                r.problems.push(format!(
                    "containers/{name}: a directory with no container record"
                ));
                if repair {
                    let dir = e.path();
                    let _ = rootfs::unmount_container(&dir);
                    fs::remove_dir_all(&dir).ok();
                    r.repairs.push(format!("containers/{name}: removed"));
                }
            }
        }
        // The same under the run root (bundles, /etc files, locks): a removal cut short
        // between the two directories.
        if let Ok(rd) = fs::read_dir(self.runroot.join("containers")) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if containers.iter().any(|c| c.id == name) {
                    continue;
                }
                r.problems.push(format!(
                    "{}: a run-root directory with no container record",
                    e.path().display()
                ));
                if repair {
                    fs::remove_dir_all(e.path()).ok();
                    r.repairs.push(format!("{}: removed", e.path().display()));
                }
            }
        }
        // Runtime state (and the cgroups it names) without a record: a removal after the
        // record went, cut short (see `deferred_removal`).
        let rt = self.runtime_for(&Default::default());
        for id in rt.state_ids() {
            if containers.iter().any(|c| c.id == id) {
                continue;
            }
            r.problems.push(format!(
                "runtime state of {} with no container record",
                &id[..id.len().min(12)]
            ));
            if repair {
                rt.delete(&id, true)?;
                r.repairs.push(format!(
                    "runtime state of {}: deleted with its cgroups",
                    &id[..id.len().min(12)]
                ));
            }
        }
        // Volume directories without a record, and records without a directory.
        let vols = self.db.volumes()?;
        if let Ok(rd) = fs::read_dir(self.volumes_dir()) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if !vols.iter().any(|v| v.name == name) {
                    r.problems
                        .push(format!("volumes/{name}: a directory with no volume record"));
                    if repair {
                        fs::remove_dir_all(e.path()).ok();
                        r.repairs.push(format!("volumes/{name}: removed"));
                    }
                }
            }
        }
        for v in &vols {
            let d = self.volumes_dir().join(&v.name).join("_data");
            if !d.exists() {
                r.problems
                    .push(format!("volume {}: its directory is missing", v.name));
                if repair {
                    fs::create_dir_all(&d).ok();
                    r.repairs
                        .push(format!("volume {}: directory recreated (empty)", v.name));
                }
            }
        }
        Ok(r)
    }
}
