//! The build executor: walks a [`Plan`](crate::containerfile::Plan) stage by stage and step by
//! step, and commits the result to the store.
//!
//! - Config steps (ENV, LABEL, CMD, ...) change the config and add an `empty_layer` history
//!   entry.
//! - RUN goes through a [`StepRunner`] (the engine runs it in a container over the stage's
//!   layers); the container's upper directory — overlayfs whiteouts and opaque directories
//!   included — becomes the step's layer.
//! - COPY/ADD write the copied files into a fresh tree that becomes the step's layer
//!   ([`copy`]); WORKDIR adds a layer with the directory when the image lacks it.
//!
//! Every layer step commits an (unnamed) image and records it in the layer cache under the
//! step's key from the planner (parent key + instruction + digest of the copied files); the
//! stage's last step does too. A later build starts each stage from the furthest step whose
//! key is cached (unless `no_cache`). Commits go through the store's one-transaction path, so
//! a kill -9 mid-build leaves no half image, and the final image is named only once complete.

mod cache;
mod config;
pub mod copy;
mod run;
mod tree;
mod view;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

pub use cache::cached_image_ids;
pub use config::BuildConfig;
pub use run::{RunRequest, StepRunner};
pub use view::LayerView;

use crate::containerfile::{
    self, Base, ContainerfileError, CopyFrom, IgnoreRules, Instruction, PlanOptions, PlannedStage,
    Step,
};
use crate::error::{ImageError, IoContext, Result};
use crate::fsutil;
use crate::store::{ImageStore, NewImage};

/// What `dermaga build` was asked.
#[derive(Clone, Debug, Default)]
pub struct BuildOptions {
    /// The Containerfile.
    pub file: PathBuf,
    /// The build context directory.
    pub context: PathBuf,
    /// `-t` names (normalised as `tag` does).
    pub tags: Vec<String>,
    pub build_args: BTreeMap<String, String>,
    pub target: Option<String>,
    pub no_cache: bool,
    /// RUN's network: `none` (default) or `host`.
    pub network: String,
}

/// What a build produced.
#[derive(Clone, Debug)]
pub struct Built {
    /// The image id (hex).
    pub id: String,
    /// The names it got.
    pub names: Vec<String>,
    /// Steps taken from the cache and steps run.
    pub cached_steps: usize,
    pub run_steps: usize,
}

/// One stage's state as steps go.
#[derive(Clone)]
struct StageState {
    config: BuildConfig,
    /// The committed image this state is (None: config changes not committed yet).
    image_id: Option<String>,
    /// CMD given in this stage (ENTRYPOINT clears an inherited one).
    cmd_set_here: bool,
}

/// The executor's context for one build.
struct Builder<'a> {
    store: &'a ImageStore,
    opts: &'a BuildOptions,
    file: String,
    context: PathBuf,
    ignore: IgnoreRules,
    runner: &'a mut dyn StepRunner,
    out: &'a mut dyn Write,
    quiet: bool,
    cached_steps: usize,
    run_steps: usize,
    /// The image of each finished stage (for COPY --from).
    stage_images: BTreeMap<usize, String>,
}

fn cf_err(file: &str, line: usize, msg: impl Into<String>) -> ImageError {
    ImageError::Other(
        ContainerfileError {
            file: file.to_string(),
            line,
            msg: msg.into(),
        }
        .to_string(),
    )
}

/// Builds the image `opts` describes. Progress lines go to `out` (podman's `STEP i/n: ...`,
/// `--> id`, `COMMIT`); `quiet` also sends RUN's standard output to standard error.
pub fn build(
    store: &ImageStore,
    opts: &BuildOptions,
    runner: &mut dyn StepRunner,
    out: &mut dyn Write,
    quiet: bool,
) -> Result<Built> {
    let cf = containerfile::parse_file(&opts.file).map_err(|e| ImageError::Other(e.to_string()))?;
    let context = opts
        .context
        .canonicalize()
        .ctx(|| format!("build context {}", opts.context.display()))?;
    if !context.is_dir() {
        return Err(ImageError::Other(format!(
            "build context {}: not a directory",
            opts.context.display()
        )));
    }
    let ignore = IgnoreRules::load(&context)
        .ctx(|| format!("reading the ignore file of {}", context.display()))?;
    let image_id = |n: &str| store.find_id(n).ok();
    let plan = containerfile::plan(
        &cf,
        &PlanOptions {
            build_args: opts.build_args.clone(),
            target: opts.target.clone(),
            platform: None,
            context: Some(&context),
            ignore: Some(&ignore),
            image_id: Some(&image_id),
        },
    )
    .map_err(|e| ImageError::Other(e.to_string()))?;
    for a in &plan.unused_build_args {
        let _ = writeln!(
            out,
            "[Warning] one or more build args were not consumed: [{a}]"
        );
    }
    let names: Vec<String> = opts
        .tags
        .iter()
        .map(|t| crate::reference::normalize_new_name(t))
        .collect::<Result<_>>()?;
    let mut b = Builder {
        store,
        opts,
        file: cf.file.clone(),
        context,
        ignore,
        runner,
        out,
        quiet,
        cached_steps: 0,
        run_steps: 0,
        stage_images: BTreeMap::new(),
    };
    let mut finals: BTreeMap<usize, StageState> = BTreeMap::new();
    let n_stages = plan.stages.len();
    let stage_texts: Vec<&containerfile::Stage> = cf.stages.iter().collect();
    for (k, st) in plan.stages.iter().enumerate() {
        let prefix = if n_stages > 1 {
            format!("[{}/{}] ", k + 1, n_stages)
        } else {
            String::new()
        };
        let state = b.stage(st, &prefix, stage_texts[st.index], &finals)?;
        if let Some(id) = &state.image_id {
            b.stage_images.insert(st.index, id.clone());
        }
        finals.insert(st.index, state);
    }
    let target = finals
        .remove(&plan.target)
        .ok_or_else(|| ImageError::Other("the target stage was not built".into()))?;
    let id = target
        .image_id
        .ok_or_else(|| ImageError::Other("the target stage has no image".into()))?;
    let prefix = if n_stages > 1 {
        format!("[{}/{}] ", n_stages, n_stages)
    } else {
        String::new()
    };
    let _ = writeln!(
        b.out,
        "{prefix}COMMIT{}",
        opts.tags
            .first()
            .map(|t| format!(" {t}"))
            .unwrap_or_default()
    );
    store.name_image(&id, &names)?;
    let _ = writeln!(b.out, "--> {}", &id[..12]);
    for n in &names {
        let _ = writeln!(b.out, "Successfully tagged {n}");
    }
    Ok(Built {
        id,
        names,
        cached_steps: b.cached_steps,
        run_steps: b.run_steps,
    })
}

impl Builder<'_> {
    fn err(&self, line: usize, msg: impl Into<String>) -> ImageError {
        cf_err(&self.file, line, msg)
    }

    /// The state a stage starts from.
    fn base_state(
        &mut self,
        st: &PlannedStage,
        finals: &BTreeMap<usize, StageState>,
    ) -> Result<StageState> {
        if let Some(p) = &st.platform {
            let host = format!("linux/{}", crate::config::host_arch());
            if p != &host && !p.starts_with(&format!("{host}/")) {
                return Err(self.err(
                    st.line,
                    format!(
                        "FROM --platform={p}: dermaga builds for the host platform ({host}) only"
                    ),
                ));
            }
        }
        match &st.base {
            Base::Scratch => {
                let mut config = BuildConfig::scratch();
                config.ensure_path();
                Ok(StageState {
                    config,
                    image_id: None,
                    cmd_set_here: false,
                })
            }
            Base::Stage(i) => {
                let mut s = finals
                    .get(i)
                    .cloned()
                    .ok_or_else(|| self.err(st.line, format!("stage {i} was not built")))?;
                s.cmd_set_here = false;
                Ok(s)
            }
            Base::Image(name) => {
                let id = self.store.find_id(name).map_err(|e| {
                    self.err(
                        st.line,
                        format!(
                            "FROM {name}: {e} (dermaga build does not pull: `dermaga pull {name}` first)"
                        ),
                    )
                })?;
                let mut config = self.load_config(&id)?;
                // As buildah does: a base without PATH gets the default one (a change of
                // config, so the stage is not the base image any more).
                let image_id = (!config.ensure_path()).then_some(id);
                if !config.onbuild().is_empty() {
                    return Err(self.err(
                        st.line,
                        format!(
                            "FROM {name}: the image has ONBUILD triggers ({}), which dermaga does not run",
                            config.onbuild().join("; ")
                        ),
                    ));
                }
                Ok(StageState {
                    config,
                    image_id,
                    cmd_set_here: false,
                })
            }
        }
    }

    fn load_config(&self, id: &str) -> Result<BuildConfig> {
        let bytes = self.store.config_bytes(id)?;
        BuildConfig::from_bytes(&bytes, &format!("config of image {id}"))
    }

    /// The extracted layer directories of a config (absolute, lowest first).
    fn layer_dirs(&self, config: &BuildConfig) -> Result<Vec<PathBuf>> {
        config
            .diff_ids()
            .iter()
            .map(|d| self.store.layer_dir(d))
            .collect()
    }

    /// The `l/<short>` links of a config's layers.
    fn layer_links(&self, config: &BuildConfig) -> Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        for d in config.diff_ids() {
            let row = self
                .store
                .layer_row(&d)?
                .ok_or_else(|| ImageError::Corrupt {
                    root: self.store.root().to_path_buf(),
                    why: format!("layer {d} of the build is not in the store"),
                })?;
            out.push(PathBuf::from("l").join(row.short));
        }
        Ok(out)
    }

    /// Commits the state (plus a new layer from `tree`, if given) as an unnamed image. The
    /// tree (under the store's `tmp/`) becomes the layer's directory; `from_overlay` says it is
    /// a container's upper directory.
    fn commit(
        &self,
        state: &mut StageState,
        tree: Option<(&Path, bool)>,
        created_by: &str,
        key: &str,
    ) -> Result<String> {
        let mut staged = Vec::new();
        if let Some((tree, from_overlay)) = tree {
            let s = crate::store::stage_tree_in(&self.store.tmp_dir(), tree, from_overlay)?;
            state.config.add_layer(&s.diff_id, created_by);
            staged.push(s);
        }
        let config_bytes = state.config.finish();
        let diff_ids = state.config.diff_ids();
        let _lock = self.store.lock()?;
        let ids = self.store.commit_images(
            staged,
            vec![NewImage {
                config_bytes,
                manifest_bytes: None,
                diff_ids,
                names: Vec::new(),
            }],
        )?;
        let id = ids
            .into_iter()
            .next()
            .ok_or_else(|| ImageError::Other("commit returned no image".into()))?;
        self.cache_record(key, &id);
        state.image_id = Some(id.clone());
        Ok(id)
    }

    fn stage(
        &mut self,
        st: &PlannedStage,
        prefix: &str,
        text: &containerfile::Stage,
        finals: &BTreeMap<usize, StageState>,
    ) -> Result<StageState> {
        let total = st.steps.len() + 1;
        let from_text = match &text.name {
            Some(n) => format!("FROM {} AS {n}", text.base),
            None => format!("FROM {}", text.base),
        };
        let _ = writeln!(self.out, "{prefix}STEP 1/{total}: {from_text}");
        let mut state = self.base_state(st, finals)?;
        // The furthest step already in the cache: every step up to it is taken from there.
        let mut hit: Option<(usize, String)> = None;
        if !self.opts.no_cache {
            for (j, step) in st.steps.iter().enumerate().rev() {
                if let Some(id) = self.cache_lookup(&step.cache_key)? {
                    hit = Some((j, id));
                    break;
                }
            }
        }
        let texts: BTreeMap<usize, &str> = text
            .instructions
            .iter()
            .map(|i| (i.line, i.text.as_str()))
            .collect();
        let mut cmd_set_here = false;
        for (j, step) in st.steps.iter().enumerate() {
            let step_text = texts.get(&step.line).copied().unwrap_or("");
            let _ = writeln!(self.out, "{prefix}STEP {}/{total}: {step_text}", j + 2);
            if let Instruction::Cmd(_) = step.instruction {
                cmd_set_here = true;
            }
            if let Some((hj, id)) = &hit {
                if j <= *hj {
                    self.cached_steps += 1;
                    if j == *hj {
                        let _ = writeln!(self.out, "--> Using cache {id}");
                        let _ = writeln!(self.out, "--> {}", &id[..12]);
                        state = StageState {
                            config: self.load_config(id)?,
                            image_id: Some(id.clone()),
                            cmd_set_here,
                        };
                    } else {
                        let _ = writeln!(self.out, "--> Using cache");
                    }
                    continue;
                }
            }
            let started = Instant::now();
            self.run_steps += 1;
            state.cmd_set_here = cmd_set_here;
            let last = j + 1 == st.steps.len();
            let committed = self.step(&mut state, step, step_text, last)?;
            let secs = started.elapsed().as_secs_f64();
            match committed {
                Some(id) => {
                    let _ = writeln!(self.out, "--> {} ({secs:.3}s)", &id[..12]);
                }
                None => {
                    let _ = writeln!(self.out, "--> config only ({secs:.3}s)");
                }
            }
        }
        if state.image_id.is_none() {
            // FROM scratch with no steps: an empty image.
            self.commit(&mut state, None, "", &st.cache_key)?;
        }
        Ok(state)
    }

    /// Runs one step; the id of the image committed for it, if it committed one.
    fn step(
        &mut self,
        state: &mut StageState,
        step: &Step,
        text: &str,
        last: bool,
    ) -> Result<Option<String>> {
        let shell = state.config.shell();
        let created_by = config::created_by(&step.instruction, text, &shell);
        match &step.instruction {
            Instruction::Run { .. } => self.run_step(state, step, text, &created_by).map(Some),
            Instruction::Copy(spec) | Instruction::Add(spec) => {
                let is_add = matches!(step.instruction, Instruction::Add(_));
                let image = LayerView::new(self.layer_dirs(&state.config)?);
                let chown = spec
                    .chown
                    .as_deref()
                    .map(|c| copy::resolve_owner(&image, c))
                    .transpose()
                    .map_err(|m| self.err(step.line, m))?;
                let chmod = spec
                    .chmod
                    .as_deref()
                    .map(|m| u32::from_str_radix(m, 8))
                    .transpose()
                    .map_err(|_| self.err(step.line, "--chmod: not an octal mode"))?;
                let from_view;
                let root = match step.copy_from.as_ref().unwrap_or(&CopyFrom::Context) {
                    CopyFrom::Context => copy::SourceRoot::Context {
                        dir: &self.context,
                        ignore: &self.ignore,
                    },
                    CopyFrom::Stage(_) | CopyFrom::Image(_) => {
                        let cfg = self.copy_source(step)?;
                        from_view = LayerView::new(self.layer_dirs(&cfg)?);
                        copy::SourceRoot::View(&from_view)
                    }
                };
                let heredocs = spec
                    .heredocs
                    .iter()
                    .flat_map(|h| {
                        [
                            (format!("<<{}", h.name), h.body.clone()),
                            (format!("<<-{}", h.name), h.body.clone()),
                            (format!("<<\"{}\"", h.name), h.body.clone()),
                            (format!("<<'{}'", h.name), h.body.clone()),
                        ]
                    })
                    .collect();
                let req = copy::CopyRequest {
                    sources: &spec.sources,
                    dest: &spec.dest,
                    chown,
                    chmod,
                    unpack: is_add,
                    heredocs,
                };
                let tree = fsutil::temp_path(&self.store.tmp_dir(), "copy-layer");
                std::fs::create_dir(&tree).ctx(|| format!("creating {}", tree.display()))?;
                let res = copy::copy_into(&tree, &image, &root, &req)
                    .map_err(|m| {
                        self.err(step.line, format!("{}: {m}", step.instruction.keyword()))
                    })
                    .and_then(|()| {
                        self.commit(state, Some((&tree, false)), &created_by, &step.cache_key)
                    });
                let _ = fsutil::remove_any(&tree);
                res.map(Some)
            }
            Instruction::Workdir(w) => {
                state.config.apply(&step.instruction, state.cmd_set_here);
                let image = LayerView::new(self.layer_dirs(&state.config)?);
                if image.resolve(w, true).is_none() {
                    let tree = fsutil::temp_path(&self.store.tmp_dir(), "workdir-layer");
                    std::fs::create_dir(&tree).ctx(|| format!("creating {}", tree.display()))?;
                    let req = copy::CopyRequest {
                        sources: &[],
                        dest: w,
                        chown: None,
                        chmod: None,
                        unpack: false,
                        heredocs: Vec::new(),
                    };
                    let res = copy::make_dir(&tree, &image, &req)
                        .map_err(|m| self.err(step.line, format!("WORKDIR: {m}")))
                        .and_then(|()| {
                            self.commit(state, Some((&tree, false)), &created_by, &step.cache_key)
                        });
                    let _ = fsutil::remove_any(&tree);
                    return res.map(Some);
                }
                self.config_step(state, step, &created_by, last)
            }
            Instruction::Arg(_) => {
                if last {
                    return self
                        .commit(state, None, &created_by, &step.cache_key)
                        .map(Some);
                }
                state.image_id = None;
                Ok(None)
            }
            _ => {
                state.config.apply(&step.instruction, state.cmd_set_here);
                self.config_step(state, step, &created_by, last)
            }
        }
    }

    fn config_step(
        &mut self,
        state: &mut StageState,
        step: &Step,
        created_by: &str,
        last: bool,
    ) -> Result<Option<String>> {
        state.config.history(created_by, true);
        state.image_id = None;
        if last {
            return self
                .commit(state, None, created_by, &step.cache_key)
                .map(Some);
        }
        Ok(None)
    }

    /// The config (layers) COPY --from takes files from.
    fn copy_source(&self, step: &Step) -> Result<BuildConfig> {
        match step.copy_from.as_ref() {
            Some(CopyFrom::Stage(i)) => {
                let id = self.stage_image(*i).ok_or_else(|| {
                    self.err(step.line, format!("COPY --from: stage {i} was not built"))
                })?;
                self.load_config(&id)
            }
            Some(CopyFrom::Image(name)) => {
                let id = self.store.find_id(name).map_err(|e| {
                    self.err(
                        step.line,
                        format!("COPY --from={name}: {e} (dermaga build does not pull)"),
                    )
                })?;
                self.load_config(&id)
            }
            _ => Ok(BuildConfig::scratch()),
        }
    }

    fn stage_image(&self, i: usize) -> Option<String> {
        self.stage_images.get(&i).cloned()
    }
}
