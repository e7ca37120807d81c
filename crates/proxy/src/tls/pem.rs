//! Certificate files as haproxy reads them: a PEM bundle with the certificate, its chain and
//! its key in one file, or the key in `FILE.key` (or `NAME.key` for `NAME.pem`) beside it;
//! a directory gives every bundle in it; CA files give trust anchors.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use rustls::RootCertStore;

/// A loaded certificate with its key, and the DNS names it is for.
pub struct Loaded {
    pub path: PathBuf,
    pub key: Arc<CertifiedKey>,
    /// Subject alternative names (DNS), lower-case; `*.example.com` for wildcards.
    pub names: Vec<String>,
}

/// `path` relative to `base` (`crt-base`, `ca-base`) unless absolute.
pub fn resolve(base: Option<&Path>, path: &str) -> PathBuf {
    let p = Path::new(path);
    match base {
        Some(b) if p.is_relative() => b.join(p),
        _ => p.to_path_buf(),
    }
}

/// Files of a certificate directory that are not bundles themselves.
const SIDE_FILES: &[&str] = &["key", "ocsp", "issuer", "sctl", "dh"];

/// Loads `path`: a bundle, or every bundle in a directory (in name order).
pub fn load_crt(path: &Path, provider: &CryptoProvider) -> Result<Vec<Loaded>, String> {
    let meta = std::fs::metadata(path).map_err(|e| {
        format!(
            "unable to stat SSL certificate from file '{}' : {}.",
            path.display(),
            io_reason(&e)
        )
    })?;
    if !meta.is_dir() {
        return Ok(vec![load_bundle(path, provider)?]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| {
            format!(
                "unable to scan directory '{}' : {}.",
                path.display(),
                io_reason(&e)
            )
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .filter(|p| {
            let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
            let hidden = p
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'));
            !hidden && !SIDE_FILES.contains(&ext)
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!(
            "no certificate found in directory '{}'.",
            path.display()
        ));
    }
    files.iter().map(|f| load_bundle(f, provider)).collect()
}

/// Loads one bundle: certificate and chain, key in it or beside it.
pub fn load_bundle(path: &Path, provider: &CryptoProvider) -> Result<Loaded, String> {
    let shown = path.display();
    let pem = std::fs::read(path).map_err(|e| {
        format!(
            "unable to load SSL certificate file '{shown}' : {}.",
            io_reason(&e)
        )
    })?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("unable to read SSL certificate file '{shown}' : {e}."))?;
    if chain.is_empty() {
        return Err(format!(
            "unable to load SSL certificate from PEM file '{shown}' : no certificate in it."
        ));
    }
    let key = match PrivateKeyDer::from_pem_slice(&pem) {
        Ok(k) => k,
        Err(rustls::pki_types::pem::Error::NoItemsFound) => key_beside(path)?,
        Err(e) => {
            return Err(format!(
                "unable to read the private key in '{shown}' : {e}."
            ))
        }
    };
    let signer = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| format!("unusable private key for '{shown}' : {e}."))?;
    let names = dns_names(&chain[0])
        .map_err(|e| format!("unable to read the certificate in '{shown}' : {e}."))?;
    let key = CertifiedKey::new(chain, signer);
    key.keys_match().map_err(|_| {
        format!(
            "inconsistencies between private key and certificate loaded from PEM file '{shown}'."
        )
    })?;
    Ok(Loaded {
        path: path.to_path_buf(),
        key: Arc::new(key),
        names,
    })
}

/// The key of a bundle that has none: `FILE.key`, else `NAME.key` for `NAME.EXT`.
fn key_beside(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let mut candidates = vec![PathBuf::from(format!("{}.key", path.display()))];
    if path.extension().is_some() {
        candidates.push(path.with_extension("key"));
    }
    for c in &candidates {
        if let Ok(pem) = std::fs::read(c) {
            return PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
                format!("unable to read the private key in '{}' : {e}.", c.display())
            });
        }
    }
    Err(format!(
        "no private key in '{}' nor in '{}'.",
        path.display(),
        candidates[0].display()
    ))
}

/// The DNS names of a certificate (subject alternative names), lower-case.
fn dns_names(cert: &CertificateDer<'_>) -> Result<Vec<String>, String> {
    let ee = webpki::EndEntityCert::try_from(cert).map_err(|e| e.to_string())?;
    Ok(ee
        .valid_dns_names()
        .map(|n| n.to_ascii_lowercase())
        .collect())
}

/// Loads a CA file (`ca-file`): every certificate in it becomes a trust anchor.
pub fn load_ca(path: &Path) -> Result<RootCertStore, String> {
    let shown = path.display();
    let pem = std::fs::read(path)
        .map_err(|e| format!("unable to load CA file '{shown}' : {}.", io_reason(&e)))?;
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(&pem) {
        let c = c.map_err(|e| format!("unable to read CA file '{shown}' : {e}."))?;
        roots
            .add(c)
            .map_err(|e| format!("unusable CA certificate in '{shown}' : {e}."))?;
    }
    if roots.is_empty() {
        return Err(format!("no CA certificate in '{shown}'."));
    }
    Ok(roots)
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "No such file or directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "Permission denied".to_string(),
        _ => e.to_string(),
    }
}
