#![recursion_limit = "256"]
//! Containers as podman users know them: lifecycle verbs, the state database, the per-container
//! monitor process, volumes and health checks. No daemon.
//!
//! It builds OCI bundles from images and hands them to the runtime: an external one such as
//! runc through runc's command line, its own by calling the runtime crate in-process when the
//! calling process is single-threaded (else through the same command line). It does not
//! isolate processes itself.
//! It also runs the RUN steps of `dermaga build` ([`build_run::ContainerStepRunner`]).
//!
//! Under the store root: `dermaga.db` (tables `containers`, `volumes`, beside the image
//! store's), `containers/<id>/` (upper, work and merged directories, the log),
//! `volumes/<name>/_data`, `engine.lock` (held shared by creates and removals, exclusively by
//! `system check`), `userns.lock` (held while `--userns=auto` picks ranges). Under the run
//! root (a tmpfs): `containers/<id>/` (the bundle's config.json, the /etc files bound into the
//! container, `monitor.lock`, the pid file; written again at a start after a reboot) and the
//! runtime's state.

pub mod build_run;
pub mod check;
pub mod config;
pub mod cp;
pub mod db;
pub mod deferred_removal;
pub mod engine;
pub mod error;
pub mod exec;
pub mod image;
pub mod inspect;
pub mod logs;
pub mod monitor;
pub mod procs;
pub mod rootfs;
pub mod runtime;
pub mod seccomp;
pub mod spec;
pub mod system_df;
pub mod template;
pub mod userns;
pub mod util;

pub use config::CreateOptions;
pub use engine::Engine;
pub use error::{Error, Result};
pub use exec::ExecOptions;
