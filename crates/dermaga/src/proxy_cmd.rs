//! `dermaga proxy ARGS` (also `dermaga haproxy ARGS`): haproxy's command line. The parsing and
//! the process handling (daemon, pidfile, signals, privileges) live in `dermaga_proxy::cli`.

use std::ffi::OsString;
use std::process::ExitCode;

pub fn main(args: Vec<OsString>) -> ExitCode {
    dermaga_proxy::cli::main(args)
}
