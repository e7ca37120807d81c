//! The options NSD 4 knows, section by section (nsd.conf(5)), and which of them dermaga uses.

/// The sections of nsd.conf.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Section {
    Server,
    Zone,
    Pattern,
    Key,
    RemoteControl,
    Verify,
    Dnstap,
    TlsAuth,
}

impl Section {
    pub fn from_name(name: &str) -> Option<Section> {
        Some(match name {
            "server" => Section::Server,
            "zone" => Section::Zone,
            "pattern" => Section::Pattern,
            "key" => Section::Key,
            "remote-control" => Section::RemoteControl,
            "verify" => Section::Verify,
            "dnstap" => Section::Dnstap,
            "tls-auth" => Section::TlsAuth,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Section::Server => "server",
            Section::Zone => "zone",
            Section::Pattern => "pattern",
            Section::Key => "key",
            Section::RemoteControl => "remote-control",
            Section::Verify => "verify",
            Section::Dnstap => "dnstap",
            Section::TlsAuth => "tls-auth",
        }
    }
}

/// Server options dermaga reads.
const SERVER_USED: &[&str] = &[
    "ip-address",
    "interface",
    "port",
    "zonesdir",
    "pidfile",
    "server-count",
    "minimal-responses",
    "rrl-size",
    "rrl-ratelimit",
    "rrl-slip",
    "rrl-ipv4-prefix-length",
    "rrl-ipv6-prefix-length",
    "rrl-whitelist-ratelimit",
];

/// Server options NSD knows that dermaga does not use.
const SERVER_UNUSED: &[&str] = &[
    "answer-cookie",
    "chroot",
    "cookie-secret",
    "cookie-secret-file",
    "cpu-affinity",
    "database",
    "debug-mode",
    "difffile",
    "do-ip4",
    "do-ip6",
    "drop-updates",
    "hide-identity",
    "hide-version",
    "identity",
    "ip-freebind",
    "ip-transparent",
    "ipv4-edns-size",
    "ipv6-edns-size",
    "log-only-syslog",
    "log-time-ascii",
    "logfile",
    "nsid",
    "receive-buffer-size",
    "refuse-any",
    "reuseport",
    "round-robin",
    "send-buffer-size",
    "statistics",
    "tcp-count",
    "tcp-mss",
    "tcp-query-count",
    "tcp-reject-overflow",
    "tcp-timeout",
    "tls-cert-bundle",
    "tls-port",
    "tls-service-key",
    "tls-service-ocsp",
    "tls-service-pem",
    "use-systemd",
    "username",
    "verbosity",
    "version",
    "xfrd-cpu-affinity",
    "xfrd-reload-timeout",
    "xfrd-tcp-max",
    "xfrd-tcp-pipeline",
    "xfrdfile",
    "xfrdir",
    "zonefiles-check",
    "zonefiles-write",
    "zonelistfile",
];

/// Zone (and pattern) options dermaga reads.
const ZONE_USED: &[&str] = &[
    "name",
    "zonefile",
    "notify",
    "provide-xfr",
    "include-pattern",
    "rrl-whitelist",
];

/// Zone options NSD knows that dermaga does not use (mostly those of a secondary).
const ZONE_UNUSED: &[&str] = &[
    "allow-axfr-fallback",
    "allow-notify",
    "allow-query",
    "create-ixfr",
    "ixfr-number",
    "ixfr-size",
    "max-refresh-time",
    "max-retry-time",
    "min-expire-time",
    "min-refresh-time",
    "min-retry-time",
    "multi-master-check",
    "notify-retry",
    "outgoing-interface",
    "request-xfr",
    "size-limit-xfr",
    "store-ixfr",
    "verifier",
    "verifier-feed-zone",
    "verifier-timeout",
    "verify-zone",
    "zonestats",
];

const KEY_USED: &[&str] = &["name", "algorithm", "secret"];

const REMOTE_CONTROL: &[&str] = &[
    "control-enable",
    "control-interface",
    "control-port",
    "server-key-file",
    "server-cert-file",
    "control-key-file",
    "control-cert-file",
];

const VERIFY: &[&str] = &[
    "enable",
    "ip-address",
    "port",
    "verify-zones",
    "verifier",
    "verifier-count",
    "verifier-feed-zone",
    "verifier-timeout",
];

const DNSTAP: &[&str] = &[
    "dnstap-enable",
    "dnstap-socket-path",
    "dnstap-send-identity",
    "dnstap-send-version",
    "dnstap-identity",
    "dnstap-version",
    "dnstap-log-auth-query-messages",
    "dnstap-log-auth-response-messages",
];

const TLS_AUTH: &[&str] = &[
    "name",
    "auth-domain-name",
    "client-cert",
    "client-key",
    "client-key-pw",
];

/// What to do with an option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Known {
    Used,
    /// NSD's, unused here: warn.
    Unused,
    /// Not an NSD option in this section: error.
    Unknown,
}

pub(crate) fn classify(section: Section, option: &str) -> Known {
    let (used, unused): (&[&str], &[&str]) = match section {
        Section::Server => {
            // server-N-cpu-affinity for any N.
            if option
                .strip_prefix("server-")
                .and_then(|r| r.strip_suffix("-cpu-affinity"))
                .is_some_and(|n| n.parse::<u32>().is_ok())
            {
                return Known::Unused;
            }
            (SERVER_USED, SERVER_UNUSED)
        }
        Section::Zone | Section::Pattern => (ZONE_USED, ZONE_UNUSED),
        Section::Key => (KEY_USED, &[]),
        Section::RemoteControl => (&[], REMOTE_CONTROL),
        Section::Verify => (&[], VERIFY),
        Section::Dnstap => (&[], DNSTAP),
        Section::TlsAuth => (&[], TLS_AUTH),
    };
    if used.contains(&option) {
        Known::Used
    } else if unused.contains(&option) {
        Known::Unused
    } else {
        Known::Unknown
    }
}
