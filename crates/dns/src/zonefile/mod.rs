//! Zone files: our own RFC 1035 master-file scanner, loader and checker.
//!
//! The scanner is ours rather than `domain`'s (see design.md): every error carries an exact
//! file:line:column, every error of a file is reported rather than only the first, and TTLs take
//! units (`1h30m`, `1w`). Records come out as `domain` types so the server can compose them to
//! the wire directly.
//!
//! Syntax: `$ORIGIN`, `$TTL`, `$INCLUDE file [origin]` (relative paths against the including
//! file's folder; loops detected), `@`, relative and absolute names, omitted owner/TTL/class
//! carried over, parentheses across lines, `;` comments, quoted strings, `\DDD` and `\X`
//! escapes, TTL units (case-insensitive `s m h d w`) and the RFC 3597 generic form
//! (`TYPE65534 \# 4 0a000001`, also for known types).
//!
//! Where RFC 1035 and the anchors differ, this follows NSD 4 (the server's reference):
//! - an omitted TTL is the last `$TTL`, or 3600 before any `$TTL` (not the previous record's
//!   TTL, as RFC 1035 and BIND would have it);
//! - only class IN is accepted; another class is an error;
//! - a character string longer than 255 octets is an error, not split;
//! - a TTL above 2^31-1 is kept as 0 with a warning (RFC 2181 §8; NSD 4.6 substitutes its
//!   default TTL instead).
//!
//! Every type the issue names has a `domain` type, so none of them come out as
//! [`ZoneRecordData::Unknown`]; that variant carries only types given by number
//! (`TYPEnnnn`) that `domain` does not know, with their wire rdata exactly as written.

mod check;
mod encoding;
mod lexer;
mod names;
mod rdata;
pub(crate) mod scanner;
mod svcb;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use domain::base::iana::Class;
use domain::base::zonefile_fmt::{DisplayKind, ZonefileFmt};
use domain::base::{Name, RecordData as _, Ttl};

pub use check::{
    check_zone, check_zone_file, format_diagnostics, CheckReport, Diagnostic, Severity,
};

/// The record data of one zone-file record: `domain`'s zone record enum over shared octets.
pub type RecordData = domain::rdata::ZoneRecordData<Bytes, Name<Bytes>>;

/// Where a record, error or warning comes from: a file (or the name given to
/// [`parse_zone_str`]), a 1-based line and a 1-based column (in bytes).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SourceLocation {
    pub file: Arc<Path>,
    pub line: u32,
    pub column: u32,
}

impl fmt::Display for SourceLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// One resource record as written in a zone file, with absolute names.
#[derive(Clone, Debug)]
pub struct ZoneRecord {
    pub owner: Name<Bytes>,
    pub class: Class,
    pub ttl: Ttl,
    pub data: RecordData,
    pub location: SourceLocation,
}

impl ZoneRecord {
    /// The record's type.
    pub fn rtype(&self) -> domain::base::iana::Rtype {
        self.data.rtype()
    }
}

impl fmt::Display for ZoneRecord {
    /// Presentation format: `owner TTL class type rdata`, names absolute.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {} {}",
            scanner::fqdn(&self.owner),
            self.ttl.as_secs(),
            self.class,
            self.data.rtype(),
            self.data.display_zonefile(DisplayKind::Simple)
        )
    }
}

/// A zone file read completely and without errors.
#[derive(Clone, Debug)]
pub struct LoadedZone {
    /// The zone's origin: the one given, else the SOA owner, else the first `$ORIGIN`.
    pub origin: Name<Bytes>,
    /// Every record in file order (included files in place of their `$INCLUDE`).
    pub records: Vec<ZoneRecord>,
    /// Things the scanner accepted but that deserve a look.
    pub warnings: Vec<ZoneFileError>,
}

/// One error (or warning) of a zone file, with its position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneFileError {
    pub location: SourceLocation,
    pub message: String,
}

impl fmt::Display for ZoneFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// Every error of a zone file (and its included files), in the order they were found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneFileErrors {
    pub errors: Vec<ZoneFileError>,
}

impl fmt::Display for ZoneFileErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ZoneFileErrors {}

/// Reads the zone file at `path` (and the files it includes).
///
/// `origin` is the zone's origin; without it, the origin is the SOA owner (or the file's first
/// `$ORIGIN`), and relative names before any `$ORIGIN` are errors. Returns every error of the
/// file, never a half-loaded zone.
pub fn load_zone_file(
    path: &Path,
    origin: Option<&Name<Bytes>>,
) -> Result<LoadedZone, ZoneFileErrors> {
    scanner::load(scanner::Input::File(path.to_path_buf()), origin)
}

/// Reads zone-file text; `file_name` is what positions name. `$INCLUDE` paths are relative to
/// the current directory.
pub fn parse_zone_str(
    text: &str,
    origin: Option<&Name<Bytes>>,
    file_name: &str,
) -> Result<LoadedZone, ZoneFileErrors> {
    scanner::load(
        scanner::Input::Text {
            text: text.as_bytes(),
            name: PathBuf::from(file_name),
        },
        origin,
    )
}

/// Parses a domain name in presentation form (`example.com.`; relative names are taken
/// relative to the root), for command lines and configuration files.
pub fn parse_name(text: &str) -> Result<Name<Bytes>, String> {
    names::parse_absolute(text.as_bytes())
}
