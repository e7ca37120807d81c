//! One error type for the engine, carrying podman's exit code for the command line.

use std::fmt;

/// podman's exit codes: 125 for an engine error, 126 when the command cannot be invoked,
/// 127 when it is not found; anything else is the container's own status.
pub const EXIT_ENGINE: u8 = 125;
pub const EXIT_CANNOT_INVOKE: u8 = 126;
pub const EXIT_NOT_FOUND: u8 = 127;

#[derive(Debug)]
pub struct Error {
    pub code: u8,
    pub msg: String,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn engine(msg: impl Into<String>) -> Error {
        Error {
            code: EXIT_ENGINE,
            msg: msg.into(),
        }
    }
    pub fn cannot_invoke(msg: impl Into<String>) -> Error {
        Error {
            code: EXIT_CANNOT_INVOKE,
            msg: msg.into(),
        }
    }
    pub fn not_found(msg: impl Into<String>) -> Error {
        Error {
            code: EXIT_NOT_FOUND,
            msg: msg.into(),
        }
    }
    pub fn no_such_container(name: &str) -> Error {
        Error::engine(format!(
            "no container with name or ID \"{name}\" found: no such container (see `dermaga ps -a`)"
        ))
    }
    pub fn no_such_volume(name: &str) -> Error {
        Error::engine(format!(
            "no volume with name \"{name}\" found: no such volume (see `dermaga volume ls`)"
        ))
    }
    /// Prefixes the message with what was being done.
    pub fn context(mut self, what: impl fmt::Display) -> Error {
        self.msg = format!("{what}: {}", self.msg);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for Error {}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Error {
        Error::engine(format!("state database: {e}"))
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Error {
        Error::engine(format!("json: {e}"))
    }
}

impl From<nix::Error> for Error {
    fn from(e: nix::Error) -> Error {
        Error::engine(e.to_string())
    }
}

/// Adds "what was being done" to io and other errors.
pub trait Context<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: fmt::Display> Context<T> for std::result::Result<T, E> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::engine(format!("{}: {e}", what())))
    }
}
