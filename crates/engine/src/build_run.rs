//! RUN steps of `dermaga build`: the engine's [`StepRunner`]. Each step is an ordinary
//! container (same spec, runtime, monitor and exit codes as `dermaga run`) over the stage's
//! layers, removed once the builder has taken its upper directory.
//!
//! The container's root file system is volatile (no overlayfs syncs): the builder writes the
//! step's layer from it and the store makes that durable.

use std::path::Path;

use dermaga_image::build::{RunRequest, StepRunner};
use dermaga_image::ImageError;

use crate::config::{CreateOptions, ImageInfo};
use crate::engine::Engine;
use crate::monitor;

/// The image name build step containers carry (they have no image of their own).
const STEP_IMAGE: &str = "dermaga-build";

/// Runs RUN steps as containers of `engine`.
pub struct ContainerStepRunner<'a> {
    engine: &'a Engine,
}

impl<'a> ContainerStepRunner<'a> {
    /// A runner; first removes the step containers of builds that were killed (their monitor,
    /// the build process, is gone), stopping what still runs in them.
    pub fn new(engine: &'a Engine) -> crate::Result<ContainerStepRunner<'a>> {
        for c in engine.db.list()? {
            if c.config.image == STEP_IMAGE && !engine.monitor_alive(&c.id) {
                engine.remove(&c.id, true, true)?;
            }
        }
        Ok(ContainerStepRunner { engine })
    }
}

fn image_err(e: crate::Error) -> ImageError {
    ImageError::Other(e.msg)
}

/// Restores a saved standard output and signal mask on drop (the attached monitor blocks the
/// signals it forwards; the build goes on after the step).
struct StdioGuard {
    saved_stdout: Option<i32>,
    mask: libc::sigset_t,
}

impl StdioGuard {
    fn new(stdout_to_stderr: bool) -> StdioGuard {
        // SAFETY: plain descriptor and signal-mask calls on our own process.
        unsafe {
            let mut mask: libc::sigset_t = std::mem::zeroed();
            libc::sigprocmask(libc::SIG_SETMASK, std::ptr::null(), &mut mask);
            let saved_stdout = if stdout_to_stderr {
                let fd = libc::fcntl(1, libc::F_DUPFD_CLOEXEC, 10);
                if fd >= 0 {
                    libc::dup2(2, 1);
                    Some(fd)
                } else {
                    None
                }
            } else {
                None
            };
            StdioGuard { saved_stdout, mask }
        }
    }
}

impl Drop for StdioGuard {
    fn drop(&mut self) {
        // SAFETY: restores what `new` saved.
        unsafe {
            if let Some(fd) = self.saved_stdout {
                libc::dup2(fd, 1);
                libc::close(fd);
            }
            libc::sigprocmask(libc::SIG_SETMASK, &self.mask, std::ptr::null_mut());
        }
    }
}

impl StepRunner for ContainerStepRunner<'_> {
    fn run(
        &mut self,
        req: &RunRequest,
        upper: &mut dyn FnMut(&Path) -> dermaga_image::Result<()>,
    ) -> dermaga_image::Result<i32> {
        let eng = self.engine;
        let same_root = req.store_root == eng.root
            || req.store_root.canonicalize().ok().as_deref() == Some(eng.root.as_path());
        let layer_dirs = if same_root {
            req.layers.clone()
        } else {
            req.layers.iter().map(|l| req.store_root.join(l)).collect()
        };
        let img = ImageInfo {
            id: String::new(),
            name: STEP_IMAGE.into(),
            env: req.env.clone(),
            workdir: req.workdir.clone(),
            user: req.user.clone(),
            layer_dirs,
            ..ImageInfo::default()
        };
        let opts = CreateOptions {
            image: STEP_IMAGE.into(),
            command: req.argv.clone(),
            network: Some(req.network.clone()),
            volatile_rootfs: true,
            volumes: req
                .files
                .iter()
                .map(|(host, inside)| format!("{}:{inside}:ro", host.display()))
                .collect(),
            create_command: vec!["dermaga".into(), "build".into()],
            ..CreateOptions::default()
        };
        let c = eng.create_with_image(&opts, img).map_err(image_err)?;
        let status = {
            let _guard = StdioGuard::new(req.stdout_to_stderr);
            monitor::run(eng, &c.id, true, None)
        };
        let result = match status {
            Ok(0) => upper(&eng.paths(&c.id).upper()).map(|()| 0),
            Ok(code) => Ok(code),
            Err(e) => Err(image_err(e)),
        };
        let removed = eng.remove(&c.id, true, true);
        let code = result?;
        removed.map_err(image_err)?;
        Ok(code)
    }
}
