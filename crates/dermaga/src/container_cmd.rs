//! podman-style container commands: `dermaga [GLOBAL FLAGS] VERB ...`.
//!
//! podman's global flags come first (parsed here by hand, as podman accepts them before any
//! verb); image verbs go to `image_cmd`; the container verbs are parsed with clap and carried
//! out by the engine. Exit codes are podman's: 125 engine error, 126 cannot invoke, 127 not
//! found, else the container's own.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use dermaga_engine::config::parse_signal;
use dermaga_engine::db::{Container, State};
use dermaga_engine::engine::{default_root, Engine};
use dermaga_engine::error::EXIT_ENGINE;
use dermaga_engine::template::Template;
use dermaga_engine::{inspect, logs, monitor, procs, CreateOptions, Error, ExecOptions, Result};
use serde_json::Value;

const IMAGE_VERBS: [&str; 13] = [
    "images", "import", "load", "save", "tag", "untag", "rmi", "image", "pull", "push", "build",
    "login", "logout",
];

/// podman's global flags that dermaga reads.
#[derive(Default)]
struct Globals {
    root: Option<PathBuf>,
    runroot: Option<PathBuf>,
    runtime: Option<String>,
}

fn exit(code: i32) -> ExitCode {
    ExitCode::from(code.clamp(0, 255) as u8)
}

/// Ends an attached `run` or an `exec` with its container's code at once: whoever waits for
/// the command waits for this process's exit, and what is left to drop (the database
/// connection, the engine's caches) is the kernel's to free (about 0.2 ms).
fn end_now(out: &mut impl Write, code: i32) -> ! {
    let _ = out.flush();
    std::process::exit(code.clamp(0, 255))
}

fn fail(e: &Error) -> ExitCode {
    eprintln!("Error: {}", e.msg);
    ExitCode::from(e.code)
}

pub fn main(args: Vec<OsString>) -> ExitCode {
    let mut g = Globals::default();
    let mut i = 0;
    let args: Vec<String> = match args.into_iter().map(|a| a.into_string()).collect() {
        Ok(a) => a,
        Err(_) => return fail(&Error::engine("arguments must be valid UTF-8")),
    };
    // Global flags, before the verb.
    while i < args.len() && args[i].starts_with('-') {
        let (flag, inline) = match args[i].split_once('=') {
            Some((f, v)) => (f.to_string(), Some(v.to_string())),
            None => (args[i].clone(), None),
        };
        let takes_value = matches!(
            flag.as_str(),
            "--root"
                | "--runroot"
                | "--runtime"
                | "--log-level"
                | "--storage-driver"
                | "--storage-opt"
                | "--cgroup-manager"
                | "--events-backend"
                | "--tmpdir"
                | "--conmon"
                | "--network-cmd-path"
                | "--network-config-dir"
                | "--runtime-flag"
                | "--hooks-dir"
                | "--volumepath"
                | "--imagestore"
                | "--db-backend"
        );
        let bool_flag = matches!(flag.as_str(), "--syslog" | "--noout" | "--transient-store");
        if !takes_value && !bool_flag {
            return fail(&Error::engine(format!(
                "unknown flag: {flag} (see `dermaga help` for the global flags)"
            )));
        }
        let value = if takes_value {
            match inline {
                Some(v) => Some(v),
                None => {
                    i += 1;
                    match args.get(i) {
                        Some(v) => Some(v.clone()),
                        None => {
                            return fail(&Error::engine(format!("flag needs an argument: {flag}")))
                        }
                    }
                }
            }
        } else {
            None
        };
        match (flag.as_str(), value) {
            ("--root", Some(v)) => g.root = Some(PathBuf::from(v)),
            ("--runroot", Some(v)) => g.runroot = Some(PathBuf::from(v)),
            ("--runtime", Some(v)) => g.runtime = Some(v),
            _ => {}
        }
        i += 1;
    }
    let mut rest: Vec<String> = args[i..].to_vec();
    if rest.is_empty() {
        return fail(&Error::engine("missing command: see `dermaga help`"));
    }
    if rest[0] == "container" && rest.len() > 1 {
        rest.remove(0);
    }
    let root = g.root.clone().unwrap_or_else(default_root);
    if rest[0] == "build" {
        return crate::build_cmd::main(
            &root,
            g.runroot.as_deref(),
            g.runtime.as_deref(),
            rest.split_off(1),
        );
    }
    if IMAGE_VERBS.contains(&rest[0].as_str()) {
        return crate::image_cmd::main(&root, rest.into_iter().map(OsString::from).collect());
    }
    let open = || Engine::open(&root, g.runroot.as_deref(), g.runtime.as_deref());
    match run_verb(&g, &root, rest, &open) {
        Ok(code) => exit(code),
        Err(e) => fail(&e),
    }
}

#[derive(Parser)]
#[command(
    name = "dermaga",
    no_binary_name = true,
    disable_help_subcommand = true
)]
struct Cli {
    #[command(subcommand)]
    verb: Verb,
}

/// `run` and `exec` alone: the commands whose start-up is measured. Clap builds the
/// definitions of every verb (every argument of every subcommand) before it parses, 0.31 ms
/// of `dermaga run`'s start (uprobes, medians of 30), most of it for verbs this command is
/// not; these parse the same `RunArgs` and `ExecArgs` under the same names, so their
/// results, messages and help are the full command line's.
#[derive(Parser)]
#[command(
    name = "dermaga",
    no_binary_name = true,
    disable_help_subcommand = true
)]
struct HotCli {
    #[command(subcommand)]
    verb: HotVerb,
}

// Made once per command and moved into `Verb` at once: its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum HotVerb {
    /// Run a command in a new container.
    Run(RunArgs),
    /// Run a process in a running container.
    Exec(ExecArgs),
}

impl From<HotVerb> for Verb {
    fn from(v: HotVerb) -> Verb {
        match v {
            HotVerb::Run(a) => Verb::Run(a),
            HotVerb::Exec(a) => Verb::Exec(a),
        }
    }
}

/// Parses `rest` (a verb and its arguments): `run` and `exec` through [`HotCli`].
fn parse_verb(rest: &[String]) -> std::result::Result<Verb, clap::Error> {
    match rest.first().map(String::as_str) {
        Some("run" | "exec") => HotCli::try_parse_from(rest).map(|c| c.verb.into()),
        _ => Cli::try_parse_from(rest).map(|c| c.verb),
    }
}

#[derive(Subcommand)]
enum Verb {
    /// Run a command in a new container.
    Run(RunArgs),
    /// Create a container without starting it.
    Create(RunArgs),
    /// Start containers.
    Start {
        #[arg(short = 'a', long)]
        attach: bool,
        #[arg(short = 'i', long)]
        interactive: bool,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Stop containers: the stop signal, then SIGKILL after the timeout.
    Stop {
        #[arg(short = 't', long = "time", visible_alias = "timeout")]
        time: Option<u32>,
        #[arg(short = 'a', long)]
        all: bool,
        containers: Vec<String>,
    },
    /// Send a signal to containers.
    Kill {
        #[arg(short = 's', long, default_value = "KILL")]
        signal: String,
        #[arg(short = 'a', long)]
        all: bool,
        containers: Vec<String>,
    },
    /// Restart containers.
    Restart {
        #[arg(short = 't', long = "time", visible_alias = "timeout")]
        time: Option<u32>,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Remove containers.
    #[command(visible_alias = "remove")]
    Rm {
        #[arg(short = 'f', long)]
        force: bool,
        #[arg(short = 'a', long)]
        all: bool,
        #[arg(short = 'v', long)]
        volumes: bool,
        #[arg(short = 'i', long)]
        ignore: bool,
        #[arg(short = 't', long = "time")]
        time: Option<u32>,
        containers: Vec<String>,
    },
    /// List containers.
    #[command(visible_aliases = ["ls", "list"])]
    Ps {
        #[arg(short = 'a', long)]
        all: bool,
        #[arg(short = 'q', long)]
        quiet: bool,
        #[arg(long = "no-trunc")]
        no_trunc: bool,
        #[arg(long)]
        format: Option<String>,
        #[arg(short = 'f', long)]
        filter: Vec<String>,
        #[arg(short = 'n', long)]
        last: Option<usize>,
        #[arg(short = 'l', long)]
        latest: bool,
        #[arg(short = 's', long)]
        size: bool,
        #[arg(long)]
        noheading: bool,
    },
    /// Print a container's logs.
    Logs {
        #[arg(short = 'f', long)]
        follow: bool,
        #[arg(long, allow_hyphen_values = true)]
        tail: Option<i64>,
        #[arg(short = 't', long)]
        timestamps: bool,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Run a process in a running container.
    Exec(ExecArgs),
    /// Display a container's (or volume's, or image's) configuration.
    Inspect {
        #[arg(short = 'f', long)]
        format: Option<String>,
        #[arg(short = 't', long = "type")]
        kind: Option<String>,
        #[arg(short = 's', long)]
        size: bool,
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Wait for containers to exit; print their exit codes.
    Wait {
        #[arg(long)]
        condition: Option<String>,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Copy files between a container and the host.
    Cp {
        #[arg(short = 'a', long)]
        archive: bool,
        src: String,
        dst: String,
    },
    /// A container's processes.
    Top {
        container: String,
        descriptors: Vec<String>,
    },
    /// Resource use of containers.
    Stats {
        #[arg(long = "no-stream")]
        no_stream: bool,
        #[arg(short = 'a', long)]
        all: bool,
        #[arg(long)]
        format: Option<String>,
        containers: Vec<String>,
    },
    /// Manage volumes.
    Volume {
        #[command(subcommand)]
        cmd: VolumeCmd,
    },
    /// Manage the store.
    System {
        #[command(subcommand)]
        cmd: SystemCmd,
    },
    /// The detached monitor of a container (internal).
    #[command(name = "__monitor", hide = true)]
    Monitor { id: String },
}

#[derive(Subcommand)]
enum VolumeCmd {
    Create {
        #[arg(short = 'l', long)]
        label: Vec<String>,
        #[arg(short = 'd', long, default_value = "local")]
        driver: String,
        #[arg(short = 'o', long = "opt")]
        opt: Vec<String>,
        #[arg(long)]
        ignore: bool,
        name: Option<String>,
    },
    #[command(visible_alias = "list")]
    Ls {
        #[arg(short = 'q', long)]
        quiet: bool,
        #[arg(long)]
        format: Option<String>,
        #[arg(short = 'f', long)]
        filter: Vec<String>,
    },
    Inspect {
        #[arg(short = 'f', long)]
        format: Option<String>,
        #[arg(short = 'a', long)]
        all: bool,
        names: Vec<String>,
    },
    #[command(visible_alias = "remove")]
    Rm {
        #[arg(short = 'f', long)]
        force: bool,
        #[arg(short = 'a', long)]
        all: bool,
        names: Vec<String>,
    },
    Prune {
        #[arg(short = 'f', long)]
        force: bool,
    },
}

#[derive(Subcommand)]
enum SystemCmd {
    /// Check the store for what a crash can leave; --repair fixes it.
    Check {
        #[arg(short = 'r', long)]
        repair: bool,
        #[arg(short = 'q', long)]
        quick: bool,
        #[arg(short = 'f', long)]
        force: bool,
    },
    /// Show how much disk images, containers and volumes use.
    Df {
        #[arg(short = 'v', long)]
        verbose: bool,
        #[arg(long)]
        format: Option<String>,
    },
}

#[derive(Args)]
#[command(disable_help_flag = true)]
struct RunArgs {
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    #[arg(short = 'd', long)]
    detach: bool,
    #[arg(short = 'i', long)]
    interactive: bool,
    #[arg(short = 't', long)]
    tty: bool,
    #[arg(long)]
    rm: bool,
    #[arg(long)]
    name: Option<String>,
    #[arg(short = 'e', long = "env")]
    env: Vec<String>,
    #[arg(long = "env-file")]
    env_file: Vec<PathBuf>,
    #[arg(short = 'v', long = "volume")]
    volume: Vec<String>,
    #[arg(long)]
    mount: Vec<String>,
    #[arg(long)]
    tmpfs: Vec<String>,
    #[arg(short = 'w', long)]
    workdir: Option<String>,
    #[arg(short = 'u', long)]
    user: Option<String>,
    #[arg(long, allow_hyphen_values = true)]
    entrypoint: Option<String>,
    #[arg(short = 'h', long)]
    hostname: Option<String>,
    #[arg(short = 'm', long)]
    memory: Option<String>,
    #[arg(long)]
    cpus: Option<f64>,
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pids_limit: Option<i64>,
    #[arg(long)]
    ulimit: Vec<String>,
    #[arg(long = "read-only")]
    read_only: bool,
    #[arg(long = "read-only-tmpfs", default_value = "true", action = clap::ArgAction::Set)]
    read_only_tmpfs: bool,
    #[arg(long = "cap-add")]
    cap_add: Vec<String>,
    #[arg(long = "cap-drop")]
    cap_drop: Vec<String>,
    #[arg(long)]
    privileged: bool,
    #[arg(long = "security-opt")]
    security_opt: Vec<String>,
    #[arg(long)]
    userns: Option<String>,
    /// CONTAINER:HOST:SIZE; may be given several times.
    #[arg(long)]
    uidmap: Vec<String>,
    /// CONTAINER:HOST:SIZE; may be given several times.
    #[arg(long)]
    gidmap: Vec<String>,
    #[arg(long)]
    init: bool,
    #[arg(long = "init-path")]
    init_path: Option<String>,
    #[arg(long, visible_alias = "net")]
    network: Option<String>,
    #[arg(short = 'l', long)]
    label: Vec<String>,
    #[arg(long)]
    annotation: Vec<String>,
    #[arg(long = "stop-signal")]
    stop_signal: Option<String>,
    #[arg(long = "stop-timeout")]
    stop_timeout: Option<u32>,
    #[arg(short = 'p', long)]
    publish: Vec<String>,
    /// The first argument is a root file system directory, not an image.
    #[arg(long)]
    rootfs: bool,
    #[arg(long)]
    pull: Option<String>,
    #[arg(short = 'q', long)]
    quiet: bool,
    /// IMAGE [COMMAND [ARG...]]
    #[arg(required = true, trailing_var_arg = true, num_args = 1..)]
    image_and_command: Vec<String>,
}

#[derive(Args)]
struct ExecArgs {
    #[arg(short = 'i', long)]
    interactive: bool,
    #[arg(short = 't', long)]
    tty: bool,
    #[arg(short = 'd', long)]
    detach: bool,
    #[arg(short = 'e', long = "env")]
    env: Vec<String>,
    #[arg(long = "env-file")]
    env_file: Vec<PathBuf>,
    #[arg(short = 'w', long)]
    workdir: Option<String>,
    #[arg(short = 'u', long)]
    user: Option<String>,
    #[arg(long)]
    privileged: bool,
    /// CONTAINER COMMAND [ARG...]
    #[arg(required = true, trailing_var_arg = true, num_args = 2..)]
    container_and_command: Vec<String>,
}

fn create_options(a: RunArgs, create_command: Vec<String>) -> CreateOptions {
    let mut it = a.image_and_command.into_iter();
    let image = it.next().unwrap_or_default();
    CreateOptions {
        image,
        command: it.collect(),
        rootfs: a.rootfs,
        name: a.name,
        env: a.env,
        env_files: a.env_file,
        volumes: a.volume,
        mounts: a.mount,
        tmpfs: a.tmpfs,
        workdir: a.workdir,
        user: a.user,
        entrypoint: a.entrypoint,
        hostname: a.hostname,
        memory: a.memory,
        cpus: a.cpus,
        pids_limit: a.pids_limit,
        ulimits: a.ulimit,
        read_only: a.read_only,
        read_only_tmpfs: a.read_only_tmpfs,
        cap_add: a.cap_add,
        cap_drop: a.cap_drop,
        privileged: a.privileged,
        security_opt: a.security_opt,
        userns: a.userns,
        uidmap: a.uidmap,
        gidmap: a.gidmap,
        init: a.init,
        init_path: a.init_path,
        network: a.network,
        labels: a.label,
        annotations: a.annotation,
        stop_signal: a.stop_signal,
        stop_timeout: a.stop_timeout,
        tty: a.tty,
        interactive: a.interactive,
        rm: a.rm,
        volatile_rootfs: false,
        publish: a.publish,
        create_command,
    }
}

fn run_verb(
    g: &Globals,
    root: &Path,
    rest: Vec<String>,
    open: &dyn Fn() -> Result<Engine>,
) -> Result<i32> {
    let create_command: Vec<String> = std::iter::once("dermaga".to_string())
        .chain(rest.iter().cloned())
        .collect();
    let verb = match parse_verb(&rest) {
        Ok(v) => v,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return Ok(0);
            }
            let msg = e.to_string();
            // clap's message up to its usage lines, on one line.
            let first = msg
                .lines()
                .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more"))
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
                .trim_start_matches("error: ")
                .to_string();
            if e.kind() == ErrorKind::InvalidSubcommand {
                return Err(Error::engine(format!(
                    "unrecognized command `dermaga {}`: see `dermaga help`",
                    rest[0]
                )));
            }
            return Err(Error::engine(format!(
                "{first} (see `dermaga {} --help`)",
                rest[0]
            )));
        }
    };
    let out = &mut std::io::stdout().lock();
    match verb {
        Verb::Run(a) => {
            let detach = a.detach;
            let own_userns = a.userns.as_deref().is_some_and(|u| u != "host")
                || !a.uidmap.is_empty()
                || !a.gidmap.is_empty();
            dermaga_engine::runtime::begin_cgroup_move(g.runtime.is_some() || own_userns);
            // An attached run is its own monitor: the namespace is made in this process.
            if !detach && g.runtime.is_none() && !own_userns && a.network.as_deref() != Some("host")
            {
                dermaga_engine::runtime::begin_network_namespace();
            }
            if !detach {
                dermaga_engine::rootfs::mount_early();
            }
            let eng = open()?;
            let c = eng.create(&create_options(a, create_command))?;
            if detach {
                eng.start_detached(&c.id)?;
                let _ = writeln!(out, "{}", c.id);
                return Ok(0);
            }
            let code = monitor::run(&eng, &c.id, true, None)?;
            end_now(out, code)
        }
        Verb::Create(a) => {
            let eng = open()?;
            let c = eng.create(&create_options(a, create_command))?;
            let _ = writeln!(out, "{}", c.id);
            Ok(0)
        }
        Verb::Start {
            attach,
            interactive: _,
            containers,
        } => {
            let eng = open()?;
            if attach {
                if containers.len() != 1 {
                    return Err(Error::engine("start --attach takes one container"));
                }
                let c = eng.get_checked(&containers[0])?;
                return monitor::run(&eng, &c.id, true, None);
            }
            let mut code = 0;
            for name in &containers {
                match eng.get_checked(name).and_then(|c| {
                    if c.state == State::Running {
                        Ok(())
                    } else {
                        eng.start_detached(&c.id)
                    }
                }) {
                    Ok(()) => {
                        let _ = writeln!(out, "{name}");
                    }
                    Err(e) => {
                        eprintln!("Error: {}", e.msg);
                        code = e.code as i32;
                    }
                }
            }
            Ok(code)
        }
        Verb::Stop {
            time,
            all,
            containers,
        } => {
            let eng = open()?;
            let names = targets(&eng, containers, all, true)?;
            each(&names, out, |n| eng.stop(n, time).map(|_| ()))
        }
        Verb::Kill {
            signal,
            all,
            containers,
        } => {
            let eng = open()?;
            let sig = parse_signal(&signal)?;
            let names = targets(&eng, containers, all, true)?;
            each(&names, out, |n| eng.kill(n, sig).map(|_| ()))
        }
        Verb::Restart { time, containers } => {
            let eng = open()?;
            each(&containers, out, |n| {
                let c = eng.stop(n, time)?;
                eng.start_detached(&c.id)
            })
        }
        Verb::Rm {
            force,
            all,
            volumes,
            ignore,
            time: _,
            containers,
        } => {
            let eng = open()?;
            let names = targets(&eng, containers, all, false)?;
            let mut code = 0;
            for n in &names {
                match eng.remove(n, force, volumes) {
                    Ok(c) => {
                        let _ = writeln!(out, "{}", if all { &c.id } else { n });
                    }
                    Err(e) if ignore && e.msg.contains("no such container") => {}
                    Err(e) => {
                        eprintln!("Error: {}", e.msg);
                        code = e.code as i32;
                    }
                }
            }
            Ok(code)
        }
        Verb::Ps {
            all,
            quiet,
            no_trunc,
            format,
            filter,
            last,
            latest,
            size: _,
            noheading,
        } => {
            let eng = open()?;
            ps(
                &eng, out, all, quiet, no_trunc, format, filter, last, latest, noheading,
            )
        }
        Verb::Logs {
            follow,
            tail,
            timestamps,
            containers,
        } => {
            let eng = open()?;
            let opts = logs::LogOptions {
                follow,
                timestamps,
                tail: tail.filter(|t| *t >= 0).map(|t| t as usize),
            };
            for name in &containers {
                let c = eng.get_checked(name)?;
                let path = eng.paths(&c.id).log();
                let id = c.id.clone();
                let mut running = || {
                    eng.monitor_alive(&id)
                        || eng
                            .db
                            .find(&id)
                            .ok()
                            .flatten()
                            .is_some_and(|c| c.state == State::Created)
                };
                logs::print(&path, &opts, out, &mut std::io::stderr(), &mut running)?;
            }
            Ok(0)
        }
        Verb::Exec(a) => {
            dermaga_engine::runtime::begin_cgroup_move(g.runtime.is_some());
            let eng = open()?;
            let mut it = a.container_and_command.into_iter();
            let ctr = it.next().unwrap_or_default();
            let opts = ExecOptions {
                interactive: a.interactive,
                tty: a.tty,
                detach: a.detach,
                env: a.env,
                env_files: a.env_file,
                workdir: a.workdir,
                user: a.user,
            };
            let _ = a.privileged;
            let code = eng.exec(&ctr, it.collect(), &opts)?;
            end_now(out, code)
        }
        Verb::Inspect {
            format,
            kind,
            size: _,
            names,
        } => {
            let eng = open()?;
            inspect_cmd(&eng, root, out, format, kind, names)
        }
        Verb::Wait {
            condition: _,
            containers,
        } => {
            let eng = open()?;
            let mut code = 0;
            for n in &containers {
                match eng.wait(n) {
                    Ok(c) => {
                        let _ = writeln!(out, "{c}");
                    }
                    Err(e) => {
                        eprintln!("Error: {}", e.msg);
                        code = e.code as i32;
                    }
                }
            }
            Ok(code)
        }
        Verb::Cp {
            archive: _,
            src,
            dst,
        } => {
            let eng = open()?;
            eng.copy(&src, &dst)?;
            Ok(0)
        }
        Verb::Top {
            container,
            descriptors,
        } => {
            if !descriptors.is_empty() {
                return Err(Error::engine(
                    "top descriptors are not supported yet; `dermaga top CONTAINER` prints podman's default columns",
                ));
            }
            let eng = open()?;
            let c = eng.get_checked(&container)?;
            let rows = procs::top(&eng, &c)?;
            print_table(out, &rows);
            Ok(0)
        }
        Verb::Stats {
            no_stream,
            all,
            format,
            containers,
        } => {
            let eng = open()?;
            loop {
                let list: Vec<Container> = if containers.is_empty() {
                    eng.db
                        .list()?
                        .into_iter()
                        .filter(|c| c.state == State::Running || all)
                        .collect()
                } else {
                    containers
                        .iter()
                        .map(|n| eng.get_checked(n))
                        .collect::<Result<_>>()?
                };
                let rows: Vec<Value> = list
                    .iter()
                    .filter(|c| c.state == State::Running)
                    .map(procs::stats)
                    .collect();
                match format.as_deref() {
                    Some("json") => {
                        let _ = writeln!(out, "{}", pretty(&Value::Array(rows)));
                    }
                    Some(f) => render_rows(out, f, &rows)?,
                    None => {
                        let mut t = vec![[
                            "ID",
                            "NAME",
                            "CPU %",
                            "MEM USAGE / LIMIT",
                            "MEM %",
                            "NET IO",
                            "BLOCK IO",
                            "PIDS",
                            "CPU TIME",
                            "AVG CPU %",
                        ]
                        .iter()
                        .map(|s| s.to_string())
                        .collect::<Vec<_>>()];
                        for r in &rows {
                            let s = |k: &str| match &r[k] {
                                Value::String(s) => s.clone(),
                                v => v.to_string(),
                            };
                            t.push(vec![
                                s("ID"),
                                s("Name"),
                                s("CPUPerc"),
                                s("MemUsageBytes"),
                                s("MemPerc"),
                                s("NetIO"),
                                s("BlockIO"),
                                s("PIDs"),
                                s("CPUTime"),
                                s("CPUPerc"),
                            ]);
                        }
                        print_table(out, &t);
                    }
                }
                let _ = out.flush();
                if no_stream {
                    return Ok(0);
                }
                std::thread::sleep(std::time::Duration::from_secs(1));
            }
        }
        Verb::Volume { cmd } => {
            let eng = open()?;
            volume_cmd(&eng, out, cmd)
        }
        Verb::System {
            cmd:
                SystemCmd::Check {
                    repair,
                    quick: _,
                    force: _,
                },
        } => {
            let eng = open()?;
            let mut r = eng.check(repair)?;
            // The image store checks itself (its tables, blobs and layers).
            let images = dermaga_image::ImageStore::open(root)
                .and_then(|s| s.check(repair))
                .map_err(|e| Error::engine(format!("checking the image store: {e}")))?;
            r.problems.extend(images.problems);
            r.repairs.extend(images.repaired);
            for p in &r.problems {
                let _ = writeln!(out, "{p}");
            }
            for g in &images.garbage {
                let _ = writeln!(out, "garbage: {g}");
            }
            for p in &r.repairs {
                let _ = writeln!(out, "repaired: {p}");
            }
            if r.problems.is_empty() {
                let _ = writeln!(out, "No problems found");
                Ok(0)
            } else if repair {
                Ok(0)
            } else {
                Err(Error::engine(format!(
                    "found {} problem(s); `dermaga system check --repair` fixes them",
                    r.problems.len()
                )))
            }
        }
        Verb::System {
            cmd: SystemCmd::Df { verbose, format },
        } => {
            if verbose {
                return Err(Error::engine(
                    "system df --verbose is not supported (the summary without it is)",
                ));
            }
            if let Some(f) = format {
                return Err(Error::engine(format!(
                    "system df --format {f:?} is not supported (the table without it is)"
                )));
            }
            let eng = open()?;
            let store = dermaga_image::ImageStore::open(root)
                .map_err(|e| Error::engine(format!("opening the image store: {e}")))?;
            let du = store
                .disk_usage()
                .map_err(|e| Error::engine(format!("sizing the image store: {e}")))?;
            let containers = eng.db.list()?;
            let used: std::collections::HashSet<&str> =
                containers.iter().map(|c| c.image_id.as_str()).collect();
            // As podman: what removing every image no container uses would free.
            let mut kept_layers = std::collections::HashSet::new();
            let mut kept = 0u64;
            for id in &used {
                if let Ok(info) = store.info(id) {
                    for l in info.layers {
                        if kept_layers.insert(l.diff_id) {
                            kept += l.size;
                        }
                    }
                }
            }
            let images = dermaga_engine::system_df::Usage {
                total: du.images,
                active: used.len() as u64,
                size: du.size,
                reclaimable: du.size.saturating_sub(kept),
            };
            let (cu, vu) = dermaga_engine::system_df::containers_and_volumes(&eng)?;
            let _ = writeln!(
                out,
                "{:<15}{:<12}{:<12}{:<12}RECLAIMABLE",
                "TYPE", "TOTAL", "ACTIVE", "SIZE"
            );
            for (name, u) in [
                ("Images", images),
                ("Containers", cu),
                ("Local Volumes", vu),
            ] {
                let pct = (u.reclaimable * 100 + u.size / 2)
                    .checked_div(u.size)
                    .unwrap_or(0);
                let _ = writeln!(
                    out,
                    "{:<15}{:<12}{:<12}{:<12}{} ({pct}%)",
                    name,
                    u.total,
                    u.active,
                    dermaga_engine::util::human_size(u.size),
                    dermaga_engine::util::human_size(u.reclaimable)
                );
            }
            Ok(0)
        }
        Verb::Monitor { id } => {
            let sync = monitor::detach();
            match open() {
                Ok(eng) => Ok(monitor::detached_main(&eng, &id, sync)),
                Err(e) => {
                    if let Some(mut f) = sync {
                        let msg = serde_json::json!({"ok": false, "code": e.code, "msg": e.msg});
                        let _ = writeln!(f, "{msg}");
                    }
                    Err(e)
                }
            }
        }
    }
}

/// The containers a verb acts on: the names given, or all (running ones for stop/kill).
fn targets(eng: &Engine, names: Vec<String>, all: bool, running_only: bool) -> Result<Vec<String>> {
    if !all {
        if names.is_empty() {
            return Err(Error::engine("you must provide at least one name or id"));
        }
        return Ok(names);
    }
    Ok(eng
        .db
        .list()?
        .into_iter()
        .filter(|c| !running_only || c.state == State::Running)
        .map(|c| c.id)
        .collect())
}

fn each(
    names: &[String],
    out: &mut dyn Write,
    mut f: impl FnMut(&str) -> Result<()>,
) -> Result<i32> {
    let mut code = 0;
    for n in names {
        match f(n) {
            Ok(()) => {
                let _ = writeln!(out, "{n}");
            }
            Err(e) => {
                eprintln!("Error: {}", e.msg);
                code = e.code as i32;
            }
        }
    }
    Ok(code)
}

fn pretty(v: &Value) -> String {
    dermaga_engine::util::pretty_json(v)
}

fn print_table(out: &mut dyn Write, rows: &[Vec<String>]) {
    let cols = rows.iter().map(|r| r.len()).max().unwrap_or(0);
    let mut widths = vec![0; cols];
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    for r in rows {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            if i + 1 < r.len() {
                line.push_str(&format!("{c:<w$}", w = widths[i] + 2));
            } else {
                line.push_str(c);
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
}

fn render_rows(out: &mut dyn Write, format: &str, rows: &[Value]) -> Result<()> {
    let t = Template::parse(format)?;
    if t.table {
        let _ = writeln!(out, "{}", t.header());
    }
    for r in rows {
        let _ = writeln!(out, "{}", t.render(r)?);
    }
    Ok(())
}

fn matches_filter(c: &Container, f: &str) -> Result<bool> {
    let (k, v) = f
        .split_once('=')
        .ok_or_else(|| Error::engine(format!("invalid filter {f:?}: expected KEY=VALUE")))?;
    Ok(match k {
        "id" => c.id.starts_with(v),
        "name" => c.name.contains(v),
        "status" => inspect::status_word(c) == v,
        "label" => match v.split_once('=') {
            Some((lk, lv)) => c.config.labels.get(lk).is_some_and(|x| x == lv),
            None => c.config.labels.contains_key(v),
        },
        "exited" => c.state == State::Exited && c.exit_code.map(|x| x.to_string()).as_deref() == Some(v),
        "ancestor" => c.image_name.contains(v) || c.image_id.starts_with(v) || c.config.image == v,
        "volume" => c.config.mounts.iter().any(|m| m.source == v || m.destination == v),
        _ => return Err(Error::engine(format!("invalid filter {k:?}: dermaga's ps filters are id, name, status, label, exited, ancestor, volume"))),
    })
}

#[allow(clippy::too_many_arguments)]
fn ps(
    eng: &Engine,
    out: &mut dyn Write,
    all: bool,
    quiet: bool,
    no_trunc: bool,
    format: Option<String>,
    filters: Vec<String>,
    last: Option<usize>,
    latest: bool,
    noheading: bool,
) -> Result<i32> {
    let mut list = eng.db.list()?;
    let show_all = all || !filters.is_empty() || latest || last.is_some();
    list.retain(|c| show_all || c.state == State::Running);
    for f in &filters {
        let mut keep = Vec::new();
        for c in list {
            if matches_filter(&c, f)? {
                keep.push(c);
            }
        }
        list = keep;
    }
    list.reverse(); // newest first, as podman
    if latest {
        list.truncate(1);
    }
    if let Some(n) = last {
        list.truncate(n);
    }
    if quiet {
        for c in &list {
            let _ = writeln!(out, "{}", if no_trunc { &c.id[..] } else { &c.id[..12] });
        }
        return Ok(0);
    }
    match format.as_deref() {
        Some("json") => {
            let rows: Vec<Value> = list
                .iter()
                .map(|c| inspect::ps_row(c, false, no_trunc))
                .collect();
            let _ = writeln!(out, "{}", pretty(&Value::Array(rows)));
        }
        Some(f) => {
            let rows: Vec<Value> = list
                .iter()
                .map(|c| inspect::ps_row(c, true, no_trunc))
                .collect();
            render_rows(out, f, &rows)?;
        }
        None => {
            let mut rows = Vec::new();
            if !noheading {
                rows.push(
                    [
                        "CONTAINER ID",
                        "IMAGE",
                        "COMMAND",
                        "CREATED",
                        "STATUS",
                        "PORTS",
                        "NAMES",
                    ]
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
                );
            }
            for c in &list {
                let v = inspect::ps_row(c, true, no_trunc);
                let mut cmd = v["Command"].as_str().unwrap_or("").to_string();
                if !no_trunc && cmd.chars().count() > 17 {
                    cmd = format!("{}...", cmd.chars().take(17).collect::<String>());
                }
                rows.push(vec![
                    v["ID"].as_str().unwrap_or("").to_string(),
                    c.image_name.clone(),
                    cmd,
                    v["Created"].as_str().unwrap_or("").to_string(),
                    inspect::human_status(c),
                    String::new(),
                    c.name.clone(),
                ]);
            }
            print_table(out, &rows);
        }
    }
    Ok(0)
}

fn inspect_cmd(
    eng: &Engine,
    root: &Path,
    out: &mut dyn Write,
    format: Option<String>,
    kind: Option<String>,
    names: Vec<String>,
) -> Result<i32> {
    let kind = kind.unwrap_or_else(|| "all".into());
    let mut values = Vec::new();
    let mut code = 0;
    for n in &names {
        if kind == "container" || kind == "all" {
            if let Some(c) = eng.db.find(n)? {
                values.push(inspect::container(eng, &c));
                continue;
            }
        }
        if kind == "volume" || kind == "all" {
            if let Some(v) = eng.db.volume(n)? {
                values.push(inspect::volume(eng, &v));
                continue;
            }
        }
        if kind == "image" || (kind == "all" && names.len() == 1) {
            // Images are the image store's: its own inspect.
            let mut args: Vec<OsString> = vec!["image".into(), "inspect".into()];
            if let Some(f) = &format {
                args.push("--format".into());
                args.push(f.into());
            }
            args.push(n.into());
            let _ = out.flush();
            let c = crate::image_cmd::main(root, args);
            return Ok(if c == ExitCode::SUCCESS {
                0
            } else {
                EXIT_ENGINE as i32
            });
        }
        eprintln!("Error: no such object: \"{n}\"");
        code = EXIT_ENGINE as i32;
    }
    match format.as_deref() {
        None | Some("json") => {
            let _ = writeln!(out, "{}", pretty(&Value::Array(values)));
        }
        Some(f) => render_rows(out, f, &values)?,
    }
    Ok(code)
}

fn volume_cmd(eng: &Engine, out: &mut dyn Write, cmd: VolumeCmd) -> Result<i32> {
    match cmd {
        VolumeCmd::Create {
            label,
            driver,
            opt,
            ignore,
            name,
        } => {
            if driver != "local" {
                return Err(Error::engine(format!(
                    "volume driver {driver:?} is not supported (only \"local\")"
                )));
            }
            if !opt.is_empty() {
                return Err(Error::engine("volume options (-o) are not supported yet"));
            }
            let name = match name {
                Some(n) => n,
                None => dermaga_engine::util::random_id()?,
            };
            let labels = label
                .iter()
                .map(|l| {
                    let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
                    (k.to_string(), v.to_string())
                })
                .collect();
            if !eng.create_volume(&name, labels, false)? && !ignore {
                return Err(Error::engine(format!(
                    "volume with name {name} already exists: volume already exists"
                )));
            }
            let _ = writeln!(out, "{name}");
            Ok(0)
        }
        VolumeCmd::Ls {
            quiet,
            format,
            filter,
        } => {
            let mut vols = eng.db.volumes()?;
            for f in &filter {
                let (k, v) = f.split_once('=').unwrap_or((f.as_str(), ""));
                vols.retain(|vol| match k {
                    "name" => vol.name.contains(v),
                    "label" => match v.split_once('=') {
                        Some((lk, lv)) => vol.labels.get(lk).is_some_and(|x| x == lv),
                        None => vol.labels.contains_key(v),
                    },
                    "driver" => vol.driver == v,
                    "dangling" => {
                        let used = !eng.volume_users(&vol.name).unwrap_or_default().is_empty();
                        (v == "true") != used
                    }
                    _ => true,
                });
            }
            if quiet {
                for v in &vols {
                    let _ = writeln!(out, "{}", v.name);
                }
                return Ok(0);
            }
            let rows: Vec<Value> = vols.iter().map(|v| inspect::volume(eng, v)).collect();
            match format.as_deref() {
                Some("json") => {
                    let _ = writeln!(out, "{}", pretty(&Value::Array(rows)));
                }
                Some(f) => render_rows(out, f, &rows)?,
                None => {
                    let mut t = vec![vec!["DRIVER".to_string(), "VOLUME NAME".to_string()]];
                    for v in &vols {
                        t.push(vec![v.driver.clone(), v.name.clone()]);
                    }
                    print_table(out, &t);
                }
            }
            Ok(0)
        }
        VolumeCmd::Inspect { format, all, names } => {
            let vols = eng.db.volumes()?;
            let mut rows = Vec::new();
            let mut code = 0;
            if all {
                rows = vols.iter().map(|v| inspect::volume(eng, v)).collect();
            } else {
                for n in &names {
                    match vols.iter().find(|v| &v.name == n) {
                        Some(v) => rows.push(inspect::volume(eng, v)),
                        None => {
                            eprintln!("Error: {}", Error::no_such_volume(n).msg);
                            code = EXIT_ENGINE as i32;
                        }
                    }
                }
            }
            match format.as_deref() {
                None | Some("json") => {
                    let _ = writeln!(out, "{}", pretty(&Value::Array(rows)));
                }
                Some(f) => render_rows(out, f, &rows)?,
            }
            Ok(code)
        }
        VolumeCmd::Rm { force, all, names } => {
            let names: Vec<String> = if all {
                eng.db.volumes()?.into_iter().map(|v| v.name).collect()
            } else {
                names
            };
            let mut code = 0;
            for n in &names {
                let r = (|| -> Result<()> {
                    if eng.db.volume(n)?.is_none() {
                        return Err(Error::no_such_volume(n));
                    }
                    let users = eng.volume_users(n)?;
                    if !users.is_empty() {
                        if !force {
                            return Err(Error::engine(format!(
                                "volume {n} is being used by the following container(s): {}: volume is being used \
                                 (remove them first, or use `dermaga volume rm -f`)",
                                users.iter().map(|c| c.id.clone()).collect::<Vec<_>>().join(", ")
                            )));
                        }
                        for c in users {
                            eng.remove(&c.id, true, false)?;
                        }
                    }
                    eng.remove_volume_unchecked(n)
                })();
                match r {
                    Ok(()) => {
                        let _ = writeln!(out, "{n}");
                    }
                    Err(e) => {
                        eprintln!("Error: {}", e.msg);
                        code = if e.msg.contains("being used") {
                            2
                        } else {
                            e.code as i32
                        };
                    }
                }
            }
            Ok(code)
        }
        VolumeCmd::Prune { force: _ } => {
            for v in eng.db.volumes()? {
                if eng.volume_users(&v.name)?.is_empty() {
                    eng.remove_volume_unchecked(&v.name)?;
                    let _ = writeln!(out, "{}", v.name);
                }
            }
            Ok(0)
        }
    }
}
