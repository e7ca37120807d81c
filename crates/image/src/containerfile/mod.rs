//! Containerfile (Dockerfile) reading and build planning.
//!
//! [`parse`] turns the text into stages of typed instructions, each with its line; [`plan`]
//! decides which stages a build needs (for `--target`), expands every word as BuildKit does
//! (global and per-stage ARG, `--build-arg`, ENV, `${V:-x}`/`${V:+x}`, platform args) and gives
//! each step its layer-cache key (parent key + instruction + digest of the copied files).
//! [`IgnoreRules`] is `.containerignore`/`.dockerignore`.
//!
//! What it is not: the executor. RUN steps go through the engine; this module only says what
//! to run, in what order, and when a cached layer may be reused. Anything it does not support
//! (RUN --mount, ADD from a URL, an unknown instruction) is an error naming file and line.

mod expand;
mod ignore;
mod parse;
mod plan;

pub use expand::{expand, split_words};
pub use ignore::{clean as clean_path, has_glob, match_element, match_elements, IgnoreRules};
pub use parse::{
    parse, parse_duration, ArgDecl, Command, Containerfile, CopySpec, Healthcheck, Heredoc,
    Instruction, Located, Stage,
};
pub use plan::{
    context_digest, plan, Base, CopyFrom, ImageIdFn, Plan, PlanOptions, PlannedStage, Step,
};

/// A Containerfile error at `file:line`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {msg}")]
pub struct ContainerfileError {
    pub file: String,
    pub line: usize,
    pub msg: String,
}

/// Result with [`ContainerfileError`].
pub type Result<T, E = ContainerfileError> = std::result::Result<T, E>;

/// Reads and parses a Containerfile from disk.
pub fn parse_file(path: &std::path::Path) -> Result<Containerfile> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ContainerfileError {
        file: name.clone(),
        line: 0,
        msg: e.to_string(),
    })?;
    parse(&name, &text)
}
