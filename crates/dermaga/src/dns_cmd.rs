//! `dermaga dns`: not wired yet.

use std::ffi::OsString;
use std::process::ExitCode;

pub fn main(_args: Vec<OsString>) -> ExitCode {
    eprintln!("dermaga: the dns command is not implemented yet");
    ExitCode::from(125)
}
