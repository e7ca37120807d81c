//! dermaga's authoritative DNS server, in NSD's and Knot's class.
//!
//! It loads RFC 1035 zone files with exact error positions, answers queries from an in-memory
//! zone index over UDP and TCP, and acts as a primary for real secondaries. It is not a
//! resolver: it never recurses. It knows nothing of containers; the engine and the stack add
//! and remove records through its handle.
//!
//! How a query travels:
//!
//! - [`server`]: one blocking thread per UDP worker (`SO_REUSEPORT`, `recvmmsg`/`sendmmsg`,
//!   buffers reused for the thread's life, equal responses to one peer as one UDP GSO send);
//!   TCP and transfers on a small tokio runtime.
//! - [`message`]: the query parsed in place; the response written by a builder with its own
//!   name compression into the reused buffer.
//! - [`answer`]: the answer logic over a [`ZoneSet`] read lock-free through `arc-swap`.
//! - [`zone`]: the zone index — every name one hash lookup away, RRsets precompiled to wire.
//! - [`rrl`]: response rate limiting on UDP, as NSD's `rrl-*` options configure it.
//! - [`xfr`], [`tsig`]: AXFR/IXFR out, NOTIFY, allow-transfer lists, HMAC-SHA256 TSIG.
//! - [`service`]: [`start`] a server from a [`DnsConfig`] (or an nsd.conf through
//!   [`DnsConfig::from_nsd_conf`]); reload changed files; edit zones through a [`DnsHandle`].
//!
//! Zone files are read by [`zonefile`] (the crate's own scanner) and nsd.conf by [`nsdconf`].
//!
//! Embedding (the demo and the stack do this):
//!
//! ```no_run
//! let mut config = dermaga_dns::DnsConfig::default();
//! config.server.listen.push("127.0.0.1:5353".parse().unwrap());
//! config.zones.push(dermaga_dns::ZoneSource::file("example.com.zone"));
//! let server = dermaga_dns::start(config).expect("zones load and ports bind");
//! let origin = dermaga_dns::parse_name("example.com").unwrap();
//! let records = dermaga_dns::parse_records("app 30 IN A 10.88.0.5", &origin).unwrap();
//! for r in records {
//!     server.handle().add_record(r).unwrap(); // served at once; serial bumped; NOTIFY sent
//! }
//! server.stop();
//! ```

pub mod nsdconf;
pub mod zonefile;

pub mod answer;
pub mod cache;
pub mod message;
pub mod rrl;
pub mod server;
pub mod service;
pub mod tsig;
mod udp;
pub mod wire;
pub mod xfr;
pub mod zone;

use std::path::Path;

use bytes::Bytes;
use domain::base::Name;

pub use answer::{respond, AnswerConfig, Outcome, Transport, ZoneSet};
pub use rrl::RateLimit;
pub use server::{Server, ServerConfig};
pub use service::{
    block_signals, signal_reload, start, DnsConfig, DnsError, DnsHandle, DnsServer, ZoneSource,
};
pub use tsig::TsigKey;
pub use xfr::{NotifyTarget, TransferAcl, TransferPolicy, ZoneTransfer};
pub use zone::{LoadError, Zone, ZoneError};
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
