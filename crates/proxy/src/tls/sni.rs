//! Certificate choice by SNI: exact names, then wildcards (`*.example.com` covers one label),
//! then the bind's first certificate (none with `strict-sni`). Several certificates for one
//! name (ECDSA and RSA) are tried in load order and the first whose key the client can
//! verify wins. Built once at load time; a lookup allocates nothing.

use std::collections::HashMap;
use std::sync::Arc;

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

#[derive(Debug, Default)]
pub struct SniResolver {
    exact: HashMap<Box<str>, Vec<Arc<CertifiedKey>>>,
    /// Keyed by what follows `*.`.
    wildcard: HashMap<Box<str>, Vec<Arc<CertifiedKey>>>,
    default: Vec<Arc<CertifiedKey>>,
}

impl SniResolver {
    /// Adds `key` for `name` (`www.example.com` or `*.example.com`, lower-case).
    pub fn add(&mut self, name: &str, key: &Arc<CertifiedKey>) {
        let (map, k) = match name.strip_prefix("*.") {
            Some(rest) => (&mut self.wildcard, rest),
            None => (&mut self.exact, name),
        };
        let list = map.entry(k.into()).or_default();
        if !list.iter().any(|x| Arc::ptr_eq(x, key)) {
            list.push(key.clone());
        }
    }

    /// Adds a certificate used when no name matches (or no SNI was sent).
    pub fn add_default(&mut self, key: &Arc<CertifiedKey>) {
        self.default.push(key.clone());
    }

    fn candidates(&self, sni: Option<&str>) -> &[Arc<CertifiedKey>] {
        let Some(name) = sni else {
            return &self.default;
        };
        // rustls hands SNI over lower-cased already; a name with capitals would still
        // compare here as haproxy does (case-insensitively) through the lower-case copy.
        let mut lower = [0u8; 253];
        let name = if name.bytes().any(|b| b.is_ascii_uppercase()) && name.len() <= lower.len() {
            let l = &mut lower[..name.len()];
            l.copy_from_slice(name.as_bytes());
            l.make_ascii_lowercase();
            std::str::from_utf8(l).unwrap_or(name)
        } else {
            name
        };
        if let Some(l) = self.exact.get(name) {
            return l;
        }
        if let Some((_, parent)) = name.split_once('.') {
            if let Some(l) = self.wildcard.get(parent) {
                return l;
            }
        }
        &self.default
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let list = self.candidates(hello.server_name());
        let schemes = hello.signature_schemes();
        list.iter()
            .find(|k| k.key.choose_scheme(schemes).is_some())
            .or_else(|| list.first())
            .cloned()
    }
}
