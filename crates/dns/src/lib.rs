//! dermaga's authoritative DNS server, in NSD's and Knot's class.
//!
//! It loads RFC 1035 zone files with exact error positions, answers queries from an in-memory
//! zone index over UDP and TCP, and acts as a primary for real secondaries. It is not a
//! resolver: it never recurses. It knows nothing of containers; the engine and the stack add
//! and remove records through its handle.

pub mod nsdconf;
pub mod zonefile;

pub mod answer;
mod interim;
pub mod message;
pub mod server;
pub mod service;
pub mod tsig;
pub mod wire;
pub mod xfr;
pub mod zone;

use std::path::Path;

use bytes::Bytes;
use domain::base::Name;

pub use answer::{respond, AnswerConfig, Outcome, Transport, ZoneSet};
pub use server::{Server, ServerConfig};
pub use service::{
    block_signals, signal_reload, start, DnsConfig, DnsError, DnsHandle, DnsServer, ZoneSource,
};
pub use tsig::TsigKey;
pub use xfr::{NotifyTarget, TransferAcl, TransferPolicy, ZoneTransfer};
pub use zone::{Zone, ZoneError};
pub use zonefile::{LoadedZone, ZoneFileErrors, ZoneRecord};

/// A domain name as this crate's API takes it.
pub type DomainName = Name<Bytes>;

/// Parses a presentation-form domain name, taken as absolute (`example.com` = `example.com.`).
pub fn parse_name(text: &str) -> Result<DomainName, String> {
    tsig::parse_name(text).map_err(|e| format!("{text}: not a domain name ({e})"))
}

/// Reads a zone file: this crate's scanner once it reads files, `domain`'s until then.
pub fn load_zone(path: &Path, origin: Option<&Name<Bytes>>) -> Result<LoadedZone, ZoneFileErrors> {
    match zonefile::load_zone_file(path, origin) {
        Err(e) if e.errors.is_empty() => {
            let text = std::fs::read_to_string(path).map_err(|err| ZoneFileErrors {
                errors: vec![zonefile::ZoneFileError {
                    location: zonefile::SourceLocation {
                        file: std::sync::Arc::from(path),
                        line: 0,
                        column: 0,
                    },
                    message: err.to_string(),
                }],
            })?;
            interim::parse(&text, origin, path)
        }
        other => other,
    }
}

/// Reads zone text (see [`load_zone`]); `name` is what error positions call the text.
pub fn parse_zone(
    text: &str,
    origin: Option<&Name<Bytes>>,
    name: &str,
) -> Result<LoadedZone, ZoneFileErrors> {
    match zonefile::parse_zone_str(text, origin, name) {
        Err(e) if e.errors.is_empty() => interim::parse(text, origin, Path::new(name)),
        other => other,
    }
}

/// Parses records in zone-file form (one or more lines, names relative to `origin`), for
/// callers of [`DnsHandle`]: `parse_records("www 300 IN A 192.0.2.7", &origin)`.
pub fn parse_records(text: &str, origin: &DomainName) -> Result<Vec<ZoneRecord>, ZoneFileErrors> {
    let text = if text.ends_with('\n') {
        text.to_string()
    } else {
        format!("{text}\n")
    };
    parse_zone(&text, Some(origin), "<records>").map(|z| z.records)
}
