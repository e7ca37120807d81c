//! Image commands (`images`, `import`, `load`, `save`, `tag`, `rmi`, `image ...`, `pull`, `push`,
//! `build`, `login`, `logout`): not wired yet.

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;

/// `root` is the store's `--root`, already resolved by the container command line;
/// `args` starts at the verb.
pub fn main(_root: &Path, _args: Vec<OsString>) -> ExitCode {
    eprintln!("dermaga: image commands are not implemented yet");
    ExitCode::from(125)
}
