//! What an nsd.conf says, after patterns are merged into zones.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

use bytes::Bytes;
use domain::base::Name;

use crate::zonefile::SourceLocation;

/// The whole configuration.
#[derive(Clone, Debug, Default)]
pub struct NsdConf {
    pub server: ServerOptions,
    pub keys: Vec<KeyConfig>,
    /// Zones in file order, with their patterns merged in.
    pub zones: Vec<ZoneConfig>,
    /// Options NSD knows but dermaga does not use, and similar remarks.
    pub warnings: Vec<ConfError>,
}

impl NsdConf {
    pub fn key(&self, name: &str) -> Option<&KeyConfig> {
        self.keys.iter().find(|k| k.name.eq_ignore_ascii_case(name))
    }
}

/// `server:` options dermaga uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerOptions {
    /// `ip-address:` / `interface:`, each with its own port if written `addr@port`.
    pub ip_addresses: Vec<(IpAddr, Option<u16>)>,
    /// `port:` (53 by default).
    pub port: u16,
    pub zonesdir: Option<PathBuf>,
    pub pidfile: Option<PathBuf>,
    /// `server-count:` (1 by default).
    pub server_count: u32,
    /// `minimal-responses:` (no by default, as NSD 4.6).
    pub minimal_responses: bool,
    pub rrl: RrlOptions,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            ip_addresses: Vec::new(),
            port: 53,
            zonesdir: None,
            pidfile: None,
            server_count: 1,
            minimal_responses: false,
            rrl: RrlOptions::default(),
        }
    }
}

/// Response rate limiting, with NSD's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RrlOptions {
    pub size: u32,
    /// Queries per second per client block; 0 turns rate limiting off.
    pub ratelimit: u32,
    pub slip: u32,
    pub ipv4_prefix_length: u8,
    pub ipv6_prefix_length: u8,
    pub whitelist_ratelimit: u32,
}

impl Default for RrlOptions {
    fn default() -> Self {
        RrlOptions {
            size: 1_000_000,
            ratelimit: 200,
            slip: 2,
            ipv4_prefix_length: 24,
            ipv6_prefix_length: 64,
            whitelist_ratelimit: 2000,
        }
    }
}

/// A `key:` for TSIG.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyConfig {
    pub name: String,
    /// As written, lowercased: `hmac-sha256` and friends.
    pub algorithm: String,
    /// The decoded secret.
    pub secret: Vec<u8>,
    pub location: SourceLocation,
}

/// A `zone:` with its patterns applied.
#[derive(Clone, Debug)]
pub struct ZoneConfig {
    pub name: Name<Bytes>,
    /// The zone file, `%s`-style patterns expanded and made absolute against `zonesdir` (or
    /// the configuration file's folder without one).
    pub zonefile: PathBuf,
    /// `notify:` targets: secondaries to tell of a new serial.
    pub notify: Vec<AclEntry>,
    /// `provide-xfr:`: who may transfer the zone.
    pub provide_xfr: Vec<AclEntry>,
    /// `rrl-whitelist:`: answer kinds that get `rrl-whitelist-ratelimit` (lowercased, each
    /// one of [`crate::rrl::KINDS`]).
    pub rrl_whitelist: Vec<String>,
    pub location: SourceLocation,
}

/// One access-control entry: `ip-spec key-name|NOKEY|BLOCKED`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AclEntry {
    pub address: AclAddress,
    pub port: Option<u16>,
    pub key: AclKey,
}

impl fmt::Display for AclEntry {
    /// NSD's own form, as `nsd-checkconf -o provide-xfr` prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.address {
            AclAddress::Subnet(a, len) if len == if a.is_ipv4() { 32 } else { 128 } => {
                write!(f, "{a}")?
            }
            AclAddress::Subnet(a, len) => write!(f, "{a}/{len}")?,
            AclAddress::Masked(a, m) => write!(f, "{a}&{m}")?,
            AclAddress::Range(a, b) => write!(f, "{a}-{b}")?,
        }
        if let Some(p) = self.port {
            write!(f, "@{p}")?;
        }
        match &self.key {
            AclKey::NoKey => f.write_str(" NOKEY"),
            AclKey::Blocked => f.write_str(" BLOCKED"),
            AclKey::Key(k) => write!(f, " {k}"),
        }
    }
}

/// The address part of an ACL entry (nsd.conf(5): plain, subnet, masked or range).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AclAddress {
    /// An address and a prefix length (a plain address has the full length).
    Subnet(IpAddr, u8),
    /// `a&mask`.
    Masked(IpAddr, IpAddr),
    /// `a-b`, inclusive.
    Range(IpAddr, IpAddr),
}

impl AclAddress {
    /// Whether `ip` is in this entry's addresses.
    pub fn contains(&self, ip: IpAddr) -> bool {
        fn bits(ip: IpAddr) -> (u128, bool) {
            match ip {
                IpAddr::V4(a) => (u32::from(a).into(), true),
                IpAddr::V6(a) => (u128::from(a), false),
            }
        }
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        let (x, x4) = bits(ip);
        match *self {
            AclAddress::Subnet(net, len) => {
                let (n, n4) = bits(net);
                let width = if n4 { 32 } else { 128 };
                if n4 != x4 {
                    return false;
                }
                let shift = width - u32::from(len);
                shift >= width || (n >> shift) == (x >> shift)
            }
            AclAddress::Masked(net, mask) => {
                let ((n, n4), (m, _)) = (bits(net), bits(mask));
                n4 == x4 && (n & m) == (x & m)
            }
            AclAddress::Range(a, b) => {
                let ((lo, l4), (hi, _)) = (bits(a), bits(b));
                l4 == x4 && lo <= x && x <= hi
            }
        }
    }
}

/// The key part of an ACL entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AclKey {
    NoKey,
    Blocked,
    Key(String),
}

/// An error or warning with its position: the same shape as a zone file's, so that both
/// print as `file:line:column: message`.
pub type ConfError = crate::zonefile::ZoneFileError;

/// Every error of a configuration, in the order found.
pub type ConfErrors = crate::zonefile::ZoneFileErrors;
