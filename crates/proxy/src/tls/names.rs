//! haproxy's (OpenSSL's) names for protocol versions, cipher suites and curves, read into
//! what rustls offers. A list keeps what rustls can do and names the rest; a list with
//! nothing usable, or a version rustls cannot speak, is an error that names it.

use rustls::crypto::{aws_lc_rs, SupportedKxGroup};
use rustls::{CipherSuite, NamedGroup, SupportedCipherSuite};

/// A protocol version as haproxy names it (`ssl-min-ver`, `no-tlsv11`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Version {
    Ssl3,
    Tls10,
    Tls11,
    Tls12,
    Tls13,
}

impl Version {
    /// `SSLv3`, `TLSv1.0`, ... as `ssl-min-ver` takes them.
    pub fn parse(s: &str) -> Option<Version> {
        Some(match s {
            "SSLv3" => Version::Ssl3,
            "TLSv1.0" => Version::Tls10,
            "TLSv1.1" => Version::Tls11,
            "TLSv1.2" => Version::Tls12,
            "TLSv1.3" => Version::Tls13,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Version::Ssl3 => "SSLv3",
            Version::Tls10 => "TLSv1.0",
            Version::Tls11 => "TLSv1.1",
            Version::Tls12 => "TLSv1.2",
            Version::Tls13 => "TLSv1.3",
        }
    }

    /// The version of `force-*` / `no-*` keywords (`force-tlsv12` → TLSv1.2).
    pub fn of_keyword(kw: &str) -> Option<Version> {
        let v = kw
            .strip_prefix("force-")
            .or_else(|| kw.strip_prefix("no-"))?;
        Some(match v {
            "sslv3" => Version::Ssl3,
            "tlsv10" => Version::Tls10,
            "tlsv11" => Version::Tls11,
            "tlsv12" => Version::Tls12,
            "tlsv13" => Version::Tls13,
            _ => return None,
        })
    }
}

/// What a version name in a fetch looks like (`ssl_fc_protocol`).
pub fn protocol_name(v: rustls::ProtocolVersion) -> &'static str {
    match v {
        rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3",
        rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2",
        rustls::ProtocolVersion::TLSv1_1 => "TLSv1.1",
        rustls::ProtocolVersion::TLSv1_0 => "TLSv1",
        _ => "",
    }
}

/// OpenSSL's names of the TLS 1.2 suites rustls offers, with rustls' identifiers.
const TLS12: &[(&str, CipherSuite)] = &[
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "ECDHE-RSA-AES128-GCM-SHA256",
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "ECDHE-RSA-AES256-GCM-SHA384",
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "ECDHE-RSA-CHACHA20-POLY1305",
        CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
];

/// The TLS 1.3 suites, whose names OpenSSL and rustls share.
const TLS13: &[(&str, CipherSuite)] = &[
    (
        "TLS_AES_128_GCM_SHA256",
        CipherSuite::TLS13_AES_128_GCM_SHA256,
    ),
    (
        "TLS_AES_256_GCM_SHA384",
        CipherSuite::TLS13_AES_256_GCM_SHA384,
    ),
    (
        "TLS_CHACHA20_POLY1305_SHA256",
        CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
    ),
];

fn suite(id: CipherSuite) -> Option<SupportedCipherSuite> {
    aws_lc_rs::ALL_CIPHER_SUITES
        .iter()
        .copied()
        .find(|s| s.suite() == id)
}

/// The OpenSSL name of a negotiated suite (`ssl_fc_cipher`).
pub fn cipher_name(s: SupportedCipherSuite) -> &'static str {
    TLS12
        .iter()
        .chain(TLS13)
        .find(|(_, id)| *id == s.suite())
        .map(|(n, _)| *n)
        .unwrap_or("")
}

/// What reading a cipher list gave: the suites to offer, and the names dropped.
pub struct CipherChoice {
    pub suites: Vec<SupportedCipherSuite>,
    pub dropped: Vec<String>,
}

/// Reads an OpenSSL cipher list (`ciphers`, TLS 1.2 and below; `tls13` false) or a TLS 1.3
/// suite list (`ciphersuites`; `tls13` true).
///
/// Explicit names are kept in the order given when rustls has them and reported in
/// `dropped` otherwise. OpenSSL selectors (`HIGH`, `ECDHE+AESGCM`, `!aNULL`, `@SECLEVEL=2`)
/// cannot be judged one by one: a list with any of them also offers rustls' other suites
/// (all of them strong), after the named ones; `!NAME` of an explicit name removes it.
pub fn ciphers(list: &str, tls13: bool) -> Result<CipherChoice, String> {
    let table = if tls13 { TLS13 } else { TLS12 };
    let mut suites = Vec::new();
    let mut dropped = Vec::new();
    let mut excluded = Vec::new();
    let mut selector = false;
    let mut named = 0usize;
    for item in list.split([':', ',', ' ']).filter(|i| !i.is_empty()) {
        if let Some(x) = item.strip_prefix(['!', '-']) {
            excluded.push(x);
            continue;
        }
        if item.starts_with(['+', '@']) || item.contains('+') || !item.contains(['-', '_']) {
            selector = true;
            continue;
        }
        named += 1;
        match table
            .iter()
            .find(|(n, _)| *n == item)
            .and_then(|(_, id)| suite(*id))
        {
            Some(s) => {
                if !suites.contains(&s) {
                    suites.push(s);
                }
            }
            None => dropped.push(item.to_string()),
        }
    }
    if selector {
        for (_, id) in table {
            if let Some(s) = suite(*id) {
                if !suites.contains(&s) {
                    suites.push(s);
                }
            }
        }
    }
    suites.retain(|s| !excluded.contains(&cipher_name(*s)));
    if suites.is_empty() {
        let what = if named == 0 {
            format!("'{list}' leaves no cipher")
        } else {
            format!(
                "none of the ciphers {} is supported by dermaga",
                dropped.join(", ")
            )
        };
        let offered: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
        return Err(format!("{what} (it offers {})", offered.join(", ")));
    }
    Ok(CipherChoice { suites, dropped })
}

/// Reads a curve list (`curves X25519:P-256`, `ecdhe prime256v1`): the groups rustls has,
/// and the names it has not.
pub fn curves(list: &str) -> Result<(Vec<&'static dyn SupportedKxGroup>, Vec<String>), String> {
    let mut groups: Vec<&'static dyn SupportedKxGroup> = Vec::new();
    let mut dropped = Vec::new();
    for name in list.split([':', ',']).filter(|i| !i.is_empty()) {
        let id = match name {
            "X25519" | "x25519" => Some(NamedGroup::X25519),
            "P-256" | "prime256v1" | "secp256r1" => Some(NamedGroup::secp256r1),
            "P-384" | "secp384r1" => Some(NamedGroup::secp384r1),
            "P-521" | "secp521r1" => Some(NamedGroup::secp521r1),
            "X25519MLKEM768" => Some(NamedGroup::X25519MLKEM768),
            _ => None,
        };
        let g = id.and_then(|id| {
            aws_lc_rs::ALL_KX_GROUPS
                .iter()
                .copied()
                .find(|g| g.name() == id)
        });
        match g {
            Some(g) => groups.push(g),
            None => dropped.push(name.to_string()),
        }
    }
    if groups.is_empty() {
        return Err(format!(
            "none of the curves {} is supported by dermaga (it offers X25519, P-256, P-384)",
            dropped.join(", ")
        ));
    }
    Ok((groups, dropped))
}

/// Reads an ALPN list (`alpn h2,http/1.1`): the protocols dermaga serves, in order, and the
/// ones it does not serve yet. `h2` is served to clients (`bind`), not spoken to servers.
pub fn alpn(list: &str, h2: bool) -> (Vec<Vec<u8>>, Vec<String>) {
    let mut keep = Vec::new();
    let mut dropped = Vec::new();
    for p in list.split(',').filter(|p| !p.is_empty()) {
        if p == "http/1.1" || p == "http/1.0" || (h2 && p == "h2") {
            keep.push(p.as_bytes().to_vec());
        } else {
            dropped.push(p.to_string());
        }
    }
    (keep, dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_stock_cipher_line_keeps_ecdhe_and_names_dhe() {
        let line = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384";
        let c = ciphers(line, false).unwrap();
        assert_eq!(c.suites.len(), 6);
        assert_eq!(
            c.dropped,
            ["DHE-RSA-AES128-GCM-SHA256", "DHE-RSA-AES256-GCM-SHA384"]
        );
        assert_eq!(cipher_name(c.suites[0]), "ECDHE-ECDSA-AES128-GCM-SHA256");
    }

    #[test]
    fn nothing_usable_is_an_error_naming_the_ciphers() {
        let e = ciphers("DHE-RSA-AES128-SHA:AES128-SHA", false)
            .err()
            .unwrap();
        assert!(e.contains("DHE-RSA-AES128-SHA, AES128-SHA"), "{e}");
    }

    #[test]
    fn selectors_offer_everything_but_exclusions() {
        let c = ciphers("HIGH:!aNULL:!ECDHE-RSA-CHACHA20-POLY1305", false).unwrap();
        assert_eq!(c.suites.len(), 5);
        assert!(c.dropped.is_empty());
    }

    #[test]
    fn curves_and_alpn() {
        let (g, d) = curves("X25519:P-256:brainpoolP256r1").unwrap();
        assert_eq!(g.len(), 2);
        assert_eq!(d, ["brainpoolP256r1"]);
        assert!(curves("brainpoolP256r1").is_err());
        let (k, d) = alpn("h2,http/1.1", false);
        assert_eq!(k, [b"http/1.1".to_vec()]);
        assert_eq!(d, ["h2"]);
        let (k, d) = alpn("h2,http/1.1,spdy/3", true);
        assert_eq!(k, [b"h2".to_vec(), b"http/1.1".to_vec()]);
        assert_eq!(d, ["spdy/3"]);
    }
}
