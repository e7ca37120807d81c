//! dermaga's authoritative DNS server, in NSD's and Knot's class.
//!
//! It loads RFC 1035 zone files with exact error positions, answers queries from an in-memory
//! zone index over UDP and TCP, and acts as a primary for real secondaries. It is not a
//! resolver: it never recurses. It knows nothing of containers; the engine and the stack add
//! and remove records through its handle.

pub mod nsdconf;
pub mod zonefile;

pub mod answer;
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

/// Reads a zone file (and the files it includes) with this crate's scanner.
pub fn load_zone(path: &Path, origin: Option<&Name<Bytes>>) -> Result<LoadedZone, ZoneFileErrors> {
    zonefile::load_zone_file(path, origin)
}

/// Reads zone text; `name` is what error positions call the text.
pub fn parse_zone(
    text: &str,
    origin: Option<&Name<Bytes>>,
    name: &str,
) -> Result<LoadedZone, ZoneFileErrors> {
    zonefile::parse_zone_str(text, origin, name)
}

/// Parses records in zone-file form (one or more lines, names relative to `origin`), for
/// callers of [`DnsHandle`]: `parse_records("www 300 IN A 192.0.2.7", &origin)`.
pub fn parse_records(text: &str, origin: &DomainName) -> Result<Vec<ZoneRecord>, ZoneFileErrors> {
    parse_zone(text, Some(origin), "<records>").map(|z| z.records)
}
