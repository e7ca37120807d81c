//! The `dermaga` binary: command lines and wiring only, no logic of its own.
//!
//! One binary carries every tool. The first argument picks the tool (`proxy`, `dns`, `up`, …);
//! anything else is read as a podman-style container command. Invoked under the name
//! `dermaga-runtime`, the binary is an OCI runtime with runc's command line.

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;

mod build_cmd;
mod container_cmd;
mod demo_cmd;
mod dns_cmd;
mod image_cmd;
mod proxy_cmd;
mod registry_cmd;
mod runtime_cmd;

const USAGE: &str = "\
dermaga: load balancer, container engine and authoritative DNS in one binary

usage:
  dermaga demo                     run the demo on loopback and print what to try
  dermaga proxy -f haproxy.cfg     the load balancer (haproxy's command line)
  dermaga dns [options]            the authoritative DNS server (see `dermaga dns --help`)
  dermaga [--root DIR] VERB ...    podman-style container commands (run, ps, images, ...)
  dermaga-runtime VERB ...         an OCI runtime with runc's command line
";

fn main() -> ExitCode {
    let mut args: Vec<OsString> = std::env::args_os().collect();
    let invoked_as = args
        .first()
        .and_then(|a| {
            Path::new(a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    if invoked_as == "dermaga-runtime" {
        args.remove(0);
        return runtime_cmd::main(args);
    }
    if args.len() < 2 {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    }
    args.remove(0);
    let tool = args[0].to_string_lossy().into_owned();
    match tool.as_str() {
        "proxy" | "haproxy" => proxy_cmd::main(args.split_off(1)),
        "dns" => dns_cmd::main(args.split_off(1)),
        "demo" => demo_cmd::main(args.split_off(1)),
        "runtime" => runtime_cmd::main(args.split_off(1)),
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        "version" | "--version" => {
            println!("dermaga {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        _ => container_cmd::main(args),
    }
}
