//! RUN steps: the command line a step runs (shell or exec form, heredocs), the request the
//! engine's [`StepRunner`] gets, and turning the container's upper directory into the step's
//! layer.

use std::path::{Path, PathBuf};

use super::{Builder, LayerView, StageState};
use crate::containerfile::{self, Command, Instruction, Step};
use crate::error::{IoContext, Result};
use crate::fsutil;

/// A RUN step for the [`StepRunner`].
#[derive(Clone, Debug)]
pub struct RunRequest {
    /// The store root the layer links are relative to.
    pub store_root: PathBuf,
    /// The stage's layers as `l/<short>` links relative to `store_root`, lowest first.
    pub layers: Vec<PathBuf>,
    pub argv: Vec<String>,
    pub env: Vec<String>,
    pub workdir: String,
    pub user: String,
    /// `none` or `host`.
    pub network: String,
    /// Send the process's standard output to standard error (`-q`: stdout carries the id).
    pub stdout_to_stderr: bool,
    /// Host files bound read-only into the container: (host path, container path). A RUN
    /// heredoc with a `#!` line runs as such a file, at `/dev/pipes/NAME` as BuildKit has it.
    pub files: Vec<(PathBuf, String)>,
}

/// Runs RUN steps: implemented by the engine, which knows containers.
pub trait StepRunner {
    /// Runs `req.argv` in a container whose root file system is `req.layers` under a fresh
    /// upper directory. When the process exits with status 0, `upper` is called with that
    /// directory (overlayfs whiteouts and opaque markers as the kernel left them) before the
    /// container is removed. Returns the exit status.
    fn run(&mut self, req: &RunRequest, upper: &mut dyn FnMut(&Path) -> Result<()>) -> Result<i32>;
}

impl Builder<'_> {
    /// Runs a RUN step in a container and commits its changes; the image id.
    pub(super) fn run_step(
        &mut self,
        state: &mut StageState,
        step: &Step,
        text: &str,
        created_by: &str,
    ) -> Result<String> {
        let Instruction::Run { command, heredocs } = &step.instruction else {
            return Err(self.err(step.line, format!("{text}: not a RUN step")));
        };
        let shell = state.config.shell();
        let mut files = Vec::new();
        let argv = match command {
            Command::Exec(v) => v.clone(),
            Command::Shell(s) => match lone_heredoc(s, heredocs) {
                Some(h) if h.body.starts_with("#!") => {
                    // A script with its own interpreter: run as an executable file.
                    let host = fsutil::temp_path(&self.store.tmp_dir(), "heredoc");
                    std::fs::write(&host, &h.body).ctx(|| format!("writing {}", host.display()))?;
                    std::fs::set_permissions(
                        &host,
                        std::os::unix::fs::PermissionsExt::from_mode(0o755),
                    )
                    .ctx(|| format!("chmod {}", host.display()))?;
                    let inside = format!("/dev/pipes/{}", h.name);
                    files.push((host, inside.clone()));
                    vec![inside]
                }
                _ => {
                    let mut v = shell.to_vec();
                    v.push(run_script(s, heredocs));
                    v
                }
            },
        };
        if argv.is_empty() {
            return Err(self.err(step.line, "RUN []: no command"));
        }
        let mut env = state.config.env();
        for (k, v) in &step.run_args {
            if !env.iter().any(|e| e.split('=').next() == Some(k.as_str())) {
                env.push(format!("{k}={v}"));
            }
        }
        let req = RunRequest {
            store_root: self.store.root().to_path_buf(),
            layers: self.layer_links(&state.config)?,
            argv,
            env,
            workdir: state.config.workdir(),
            user: state.config.user(),
            network: if self.opts.network.is_empty() {
                "none".into()
            } else {
                self.opts.network.clone()
            },
            stdout_to_stderr: self.quiet,
            files,
        };
        let tmp = fsutil::temp_path(&self.store.tmp_dir(), "run-layer");
        let mut staged_tree: Option<PathBuf> = None;
        let mut take = |upper: &Path| -> Result<()> {
            // The upper directory is the container's; move it aside so the layer is
            // written after the container is gone (same file system, a rename).
            std::fs::rename(upper, &tmp)
                .ctx(|| format!("taking the RUN step's changes from {}", upper.display()))?;
            staged_tree = Some(tmp.clone());
            Ok(())
        };
        let status = self.runner.run(&req, &mut take);
        for (host, _) in &req.files {
            let _ = std::fs::remove_file(host);
        }
        let status = match status {
            Ok(s) => s,
            Err(e) => {
                let _ = fsutil::remove_any(&tmp);
                return Err(self.err(step.line, format!("{text}: {e}")));
            }
        };
        if status != 0 {
            let _ = fsutil::remove_any(&tmp);
            return Err(self.err(
                step.line,
                format!("{text}: the command exited with status {status}"),
            ));
        }
        let tree = staged_tree
            .ok_or_else(|| self.err(step.line, format!("{text}: the runner gave no changes")))?;
        prune_mount_points(&tree, &LayerView::new(self.layer_dirs(&state.config)?));
        let res = self.commit(state, Some((&tree, true)), created_by, &step.cache_key);
        let _ = fsutil::remove_any(&tree);
        res
    }
}

/// The script of a shell-form RUN: the command line, then its heredocs as the shell reads
/// them; a RUN that is only a heredoc (`RUN <<EOF`) runs the heredoc's body as the script.
fn run_script(cmd: &str, heredocs: &[containerfile::Heredoc]) -> String {
    if heredocs.is_empty() {
        return cmd.to_string();
    }
    if let Some(h) = lone_heredoc(cmd, heredocs) {
        return h.body.clone();
    }
    let mut s = cmd.to_string();
    s.push('\n');
    for h in heredocs {
        s.push_str(&h.body);
        s.push_str(&h.name);
        s.push('\n');
    }
    s
}

/// The heredoc a RUN consists of alone (`RUN <<EOF`), if it does.
fn lone_heredoc<'h>(
    cmd: &str,
    heredocs: &'h [containerfile::Heredoc],
) -> Option<&'h containerfile::Heredoc> {
    let [h] = heredocs else { return None };
    let n = &h.name;
    let t = cmd.trim();
    let forms = [
        format!("<<{n}"),
        format!("<<-{n}"),
        format!("<<\"{n}\""),
        format!("<<'{n}'"),
        format!("<<-\"{n}\""),
        format!("<<-'{n}'"),
    ];
    forms.iter().any(|f| f == t).then_some(h)
}

/// Removes from a RUN step's changes the mount points the runtime created for the container
/// (`/etc/hosts`, `/etc/hostname`, `/etc/resolv.conf`, `/proc`, `/sys`, `/dev` ...) when the
/// image did not have them: they belong to the container, not the image (buildah does the
/// same). The directories that held them stay (copied up, unchanged).
fn prune_mount_points(tree: &Path, image: &LayerView) {
    for p in [
        "etc/hosts",
        "etc/hostname",
        "etc/resolv.conf",
        "run/.containerenv",
        "proc",
        "sys",
        "dev",
    ] {
        let host = tree.join(p);
        let Ok(md) = std::fs::symlink_metadata(&host) else {
            continue;
        };
        if image.resolve(&format!("/{p}"), false).is_some() {
            continue;
        }
        let empty = if md.is_dir() {
            std::fs::read_dir(&host).is_ok_and(|mut d| d.next().is_none())
        } else {
            md.len() == 0
        };
        if empty {
            let _ = fsutil::remove_any(&host);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::containerfile::Heredoc;

    fn heredoc(name: &str, body: &str) -> Heredoc {
        Heredoc {
            name: name.into(),
            body: body.into(),
            expand: true,
        }
    }
    #[test]
    fn heredoc_scripts() {
        let h = [heredoc("EOF", "echo a\necho b\n")];
        assert_eq!(run_script("<<EOF", &h), "echo a\necho b\n");
        assert_eq!(
            run_script("cat > /f <<EOF", &h),
            "cat > /f <<EOF\necho a\necho b\nEOF\n"
        );
        assert_eq!(run_script("echo plain", &[]), "echo plain");
    }

    #[test]
    fn mount_points_the_image_lacks_are_pruned() {
        let tree = tempfile::tempdir().unwrap();
        let t = tree.path();
        std::fs::create_dir_all(t.join("etc")).unwrap();
        std::fs::create_dir_all(t.join("proc")).unwrap();
        std::fs::write(t.join("etc/hosts"), "").unwrap();
        std::fs::write(t.join("etc/resolv.conf"), "nameserver 1.1.1.1\n").unwrap();
        let image = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(image.path().join("proc")).unwrap();
        prune_mount_points(t, &LayerView::new(vec![image.path().to_path_buf()]));
        assert!(!t.join("etc/hosts").exists(), "empty mount point removed");
        assert!(
            t.join("etc/resolv.conf").exists(),
            "a file with content is the step's"
        );
        assert!(t.join("proc").exists(), "the image has /proc");
    }
}
