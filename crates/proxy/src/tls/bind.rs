//! `bind ... ssl` → a rustls server configuration: certificates (`crt`, `crt-list`) chosen by
//! SNI, protocol versions, ciphers, curves, ALPN, client certificates (`verify`, `ca-file`),
//! tickets; with the global `ssl-default-bind-*` keywords and `crt-base`/`ca-base`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::server::{ServerSessionMemoryCache, WebPkiClientVerifier};
use rustls::ServerConfig;

use super::names;
use super::pem::{self, Loaded};
use super::sni::SniResolver;
use super::{provider, Protocols};
use crate::config::{BindTls, Global, RawOption};

/// What a bind line's TLS options give: the setup (when it says `ssl`) and the warnings to
/// print.
pub struct Built {
    pub tls: Option<BindTls>,
    pub warnings: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Verify {
    None,
    Optional,
    Required,
}

/// Builds the TLS side of a bind line from its TLS options (in order) and the globals.
pub fn build(opts: &[RawOption], global: &Global) -> Result<Built, String> {
    let mut warnings = Vec::new();
    let mut ssl = false;
    let mut crts: Vec<PathBuf> = Vec::new();
    let mut lists: Vec<PathBuf> = Vec::new();
    let mut alpn: Option<&str> = None;
    let mut ciphers = None;
    let mut suites = None;
    let mut curves = None;
    let mut verify = Verify::None;
    let mut ca_file: Option<PathBuf> = None;
    let mut proto = Protocols::default();
    if let Some(d) = global.ssl_defaults.get("ssl-default-bind-options") {
        proto
            .apply_line(d)
            .map_err(|e| format!("'ssl-default-bind-options' : {e}"))?;
    }
    let crt_base = global.crt_base.as_deref();
    let ca_base = global.ca_base.as_deref();
    for o in opts {
        let a = o.args.first().map(String::as_str).unwrap_or("");
        match o.keyword.as_str() {
            "ssl" => ssl = true,
            "crt" => crts.push(pem::resolve(crt_base, a)),
            "crt-list" => lists.push(pem::resolve(crt_base, a)),
            "alpn" => alpn = Some(a),
            "ciphers" => ciphers = Some(a),
            "ciphersuites" => suites = Some(a),
            "curves" | "ecdhe" => curves = Some(a),
            "ca-file" => ca_file = Some(pem::resolve(ca_base, a)),
            "verify" => {
                verify = match a {
                    "none" => Verify::None,
                    "optional" => Verify::Optional,
                    "required" => Verify::Required,
                    _ => {
                        return Err(format!(
                            "'verify' : unknown verify method '{a}', only 'none', 'optional', and 'required' are supported"
                        ))
                    }
                }
            }
            kw => proto.apply(kw, o.args.first().map(String::as_str))?,
        }
    }
    if !ssl {
        if !opts.is_empty() {
            let names: Vec<String> = opts.iter().map(|o| format!("'{}'", o.keyword)).collect();
            warnings.push(format!(
                "{} without 'ssl' on the line: the listener speaks plain TCP and these are not used.",
                names.join(", ")
            ));
        }
        return Ok(Built {
            tls: None,
            warnings,
        });
    }
    if crts.is_empty() && lists.is_empty() {
        return Err("'ssl' needs a certificate: 'crt FILE|DIR' or 'crt-list FILE'.".into());
    }
    let versions = proto.versions()?;

    // Ciphers and curves: the bind line's, else the global defaults'.
    let default = |k: &str| global.ssl_defaults.get(k).map(String::as_str);
    let mut offered = Vec::new();
    let tls13_list = suites.or(default("ssl-default-bind-ciphersuites"));
    let tls12_list = ciphers.or(default("ssl-default-bind-ciphers"));
    for (list, tls13, kw, from_line) in [
        (tls13_list, true, "ciphersuites", suites.is_some()),
        (tls12_list, false, "ciphers", ciphers.is_some()),
    ] {
        match list {
            Some(l) => {
                let c = names::ciphers(l, tls13).map_err(|e| format!("'{kw}' : {e}."))?;
                if from_line && !c.dropped.is_empty() {
                    warnings.push(format!(
                        "'{kw}' : dermaga cannot offer the ciphers {}; the others are used.",
                        c.dropped.join(", ")
                    ));
                }
                offered.extend(c.suites);
            }
            None => offered.extend(
                rustls::crypto::aws_lc_rs::DEFAULT_CIPHER_SUITES
                    .iter()
                    .filter(|s| (s.version() == &rustls::version::TLS13) == tls13),
            ),
        }
    }
    let groups = match curves.or(default("ssl-default-bind-curves")) {
        Some(l) => {
            let (g, dropped) = names::curves(l).map_err(|e| format!("'curves' : {e}."))?;
            if !dropped.is_empty() {
                warnings.push(format!(
                    "'curves' : dermaga cannot offer {}; the others are used.",
                    dropped.join(", ")
                ));
            }
            Some(g)
        }
        None => None,
    };
    let provider = provider(offered, groups);

    // Certificates.
    let mut resolver = SniResolver::default();
    let mut files = Vec::new();
    let mut first = true;
    let mut add = |loaded: &Loaded, filters: &[String], resolver: &mut SniResolver| {
        if first && !proto.strict_sni {
            resolver.add_default(&loaded.key);
        }
        first = false;
        let positive: Vec<&str> = filters
            .iter()
            .filter(|f| !f.starts_with('!'))
            .map(String::as_str)
            .collect();
        let negative: Vec<&str> = filters.iter().filter_map(|f| f.strip_prefix('!')).collect();
        let own: Vec<&str> = loaded.names.iter().map(String::as_str).collect();
        let names = if positive.is_empty() { own } else { positive };
        for n in names {
            if !negative.contains(&n) {
                resolver.add(&n.to_ascii_lowercase(), &loaded.key);
            }
        }
    };
    for c in &crts {
        for l in pem::load_crt(c, &provider)? {
            add(&l, &[], &mut resolver);
            files.push(l.path);
        }
    }
    for list in &lists {
        for (file, filters) in read_crt_list(list, crt_base)? {
            for l in pem::load_crt(&file, &provider)? {
                add(&l, &filters, &mut resolver);
                files.push(l.path);
            }
        }
    }

    // Client certificates.
    let roots = match &ca_file {
        Some(p) => Some(pem::load_ca(p)?),
        None => None,
    };
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| format!("no usable TLS setup: {e}."))?;
    let builder = match (verify, roots) {
        (Verify::None, _) => builder.with_no_client_auth(),
        (_, None) => return Err("verify is enabled but no CA file specified.".into()),
        (v, Some(roots)) => {
            let b = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
            let b = if v == Verify::Optional {
                b.allow_unauthenticated()
            } else {
                b
            };
            builder.with_client_cert_verifier(
                b.build()
                    .map_err(|e| format!("unusable 'ca-file' for client certificates: {e}."))?,
            )
        }
    };
    let mut cfg = builder.with_cert_resolver(Arc::new(resolver));
    if let Some(a) = alpn {
        let (keep, dropped) = names::alpn(a, true);
        if !dropped.is_empty() {
            warnings.push(format!(
                "'alpn {a}' : dermaga does not serve {} yet; it offers {} only.",
                dropped.join(", "),
                if keep.is_empty() {
                    "no ALPN protocol".to_string()
                } else {
                    keep.iter()
                        .map(|p| String::from_utf8_lossy(p).into_owned())
                        .collect::<Vec<_>>()
                        .join(",")
                }
            ));
        }
        cfg.alpn_protocols = keep;
    }
    // haproxy sets the server's cipher preference unless told `prefer-client-ciphers`.
    cfg.ignore_client_order = !proto.prefer_client_ciphers;
    cfg.session_storage = ServerSessionMemoryCache::new(20_000);
    if proto.no_tickets {
        cfg.send_tls13_tickets = 0;
    } else {
        cfg.ticketer = rustls::crypto::aws_lc_rs::Ticketer::new()
            .map_err(|e| format!("cannot set up TLS session tickets: {e}."))?;
    }
    Ok(Built {
        tls: Some(BindTls {
            config: Arc::new(cfg),
            files,
        }),
        warnings,
    })
}

/// Reads a `crt-list` file: one certificate per line, with optional SNI filters
/// (`!name` excludes). Per-certificate `[options]` are refused by name.
fn read_crt_list(path: &Path, base: Option<&Path>) -> Result<Vec<(PathBuf, Vec<String>)>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("unable to open crt-list file '{}' : {}.", path.display(), e))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace();
        let Some(file) = words.next() else { continue };
        let rest: Vec<&str> = words.collect();
        let mut filters = Vec::new();
        let mut i = 0;
        if rest.first().is_some_and(|w| w.starts_with('[')) {
            let mut opts = Vec::new();
            while i < rest.len() {
                let w = rest[i].trim_start_matches('[');
                let end = w.ends_with(']');
                let w = w.trim_end_matches(']');
                if !w.is_empty() {
                    opts.push(w);
                }
                i += 1;
                if end {
                    break;
                }
            }
            if !opts.is_empty() {
                return Err(format!(
                    "crt-list '{}' line {} : per-certificate options '[{}]' are not supported by dermaga.",
                    path.display(),
                    n + 1,
                    opts.join(" ")
                ));
            }
        }
        filters.extend(rest[i..].iter().map(|s| s.to_string()));
        out.push((pem::resolve(base, file), filters));
    }
    if out.is_empty() {
        return Err(format!(
            "crt-list '{}' lists no certificate.",
            path.display()
        ));
    }
    Ok(out)
}
