//! `dermaga runtime ...` and `dermaga-runtime ...`: the OCI runtime with runc's command line.
//! Everything is in the `dermaga-runtime` crate; this only passes the arguments on.

use std::ffi::OsString;
use std::process::ExitCode;

pub fn main(args: Vec<OsString>) -> ExitCode {
    let code = dermaga_runtime::main(args);
    ExitCode::from(u8::try_from(code).unwrap_or(255))
}
