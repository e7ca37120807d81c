//! `dermaga build`: podman's command line for building an image from a Containerfile.
//!
//! Wiring only: `dermaga_image::build` executes the plan, the engine's
//! [`ContainerStepRunner`] runs RUN steps. Progress goes to standard output as podman prints
//! it (`STEP i/n: ...`, `--> id`, `COMMIT name`), then the full image id; with `-q` only the id
//! (and RUN's output on standard error).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use dermaga_engine::build_run::ContainerStepRunner;
use dermaga_engine::Engine;
use dermaga_image::build::{self, BuildOptions};
use dermaga_image::ImageStore;

use crate::image_cmd::{parse, Spec};

const USAGE: &str = "\
usage: dermaga build [-t NAME[:TAG]]... [-f FILE] [--build-arg K=V]... [--target STAGE]
                     [--no-cache] [--layers[=false]] [--network none|host] [-q] [CONTEXT]
";

fn fail(msg: &str) -> ExitCode {
    eprintln!("Error: {msg}");
    ExitCode::from(125)
}

pub fn main(
    root: &Path,
    runroot: Option<&Path>,
    runtime: Option<&str>,
    args: Vec<String>,
) -> ExitCode {
    let spec = Spec {
        with_value: &[
            "-t|--tag",
            "-f|--file",
            "--build-arg",
            "--target",
            "--network|--net",
            "--format",
            "--platform",
        ],
        boolean: &[
            "-q|--quiet",
            "--no-cache",
            "--layers",
            "--rm",
            "--force-rm",
            // podman's --pull takes an optional value (`--pull`, `--pull=never`).
            "--pull",
            "-h|--help",
        ],
    };
    let p = match parse(&args, &spec) {
        Ok(p) => p,
        Err(e) => return fail(&format!("{e}\n{USAGE}")),
    };
    if p.has("-h|--help") {
        print!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    if p.positional.len() > 1 {
        return fail(&format!(
            "build takes one context directory, got {}\n{USAGE}",
            p.positional.join(" ")
        ));
    }
    if let Some(f) = p.value("--format") {
        if f != "oci" {
            return fail(&format!(
                "--format {f}: dermaga writes OCI images only (--format oci)"
            ));
        }
    }
    if let Some(pl) = p.value("--platform") {
        let host = format!("linux/{}", dermaga_image::config::host_arch());
        if pl != host {
            return fail(&format!(
                "--platform {pl}: dermaga builds for the host platform ({host}) only"
            ));
        }
    }
    if let Some(pull) = p.value("--pull") {
        if !matches!(pull, "never" | "missing" | "false") {
            return fail(&format!(
                "--pull {pull}: dermaga build does not pull; `dermaga pull` the base images first"
            ));
        }
    }
    let network = p.value("--network|--net").unwrap_or("none").to_string();
    if network != "none" && network != "host" {
        return fail(&format!(
            "--network {network}: RUN steps support only none (the default) and host"
        ));
    }
    let context = PathBuf::from(p.positional.first().map(String::as_str).unwrap_or("."));
    let file = match p.value("-f|--file") {
        Some(f) => PathBuf::from(f),
        None => match ["Containerfile", "Dockerfile"]
            .iter()
            .map(|n| context.join(n))
            .find(|p| p.is_file())
        {
            Some(f) => f,
            None => {
                return fail(&format!(
                    "no Containerfile or Dockerfile in {} (give one with -f)",
                    context.display()
                ))
            }
        },
    };
    let mut build_args = BTreeMap::new();
    for a in p.values("--build-arg") {
        match a.split_once('=') {
            Some((k, v)) => {
                build_args.insert(k.to_string(), v.to_string());
            }
            None => {
                if let Ok(v) = std::env::var(&a) {
                    build_args.insert(a.clone(), v);
                }
            }
        }
    }
    let layers = p.value("--layers").is_none_or(|v| v != "false");
    let opts = BuildOptions {
        file,
        context,
        tags: p.values("-t|--tag"),
        build_args,
        target: p.value("--target").map(String::from),
        no_cache: p.has("--no-cache") || !layers,
        network,
    };
    let quiet = p.has("-q|--quiet");
    let store = match ImageStore::open(root) {
        Ok(s) => s,
        Err(e) => return fail(&e.to_string()),
    };
    let engine = match Engine::open(root, runroot, runtime) {
        Ok(e) => e,
        Err(e) => return fail(&e.msg),
    };
    let mut runner = match ContainerStepRunner::new(&engine) {
        Ok(r) => r,
        Err(e) => return fail(&e.msg),
    };
    let stdout = std::io::stdout();
    let mut sink = std::io::sink();
    let mut out_lock;
    let progress: &mut dyn Write = if quiet {
        &mut sink
    } else {
        out_lock = stdout.lock();
        &mut out_lock
    };
    let res = build::build(&store, &opts, &mut runner, progress, quiet);
    match res {
        Ok(b) => {
            println!("{}", b.id);
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e.to_string()),
    }
}
