//! `server ... ssl` → a rustls client configuration: verification (`verify none|required`,
//! `ca-file`, `verifyhost`), SNI (`sni str(NAME)`), ALPN, versions, ciphers, a client
//! certificate (`crt`), session reuse; with `ssl-default-server-*` and `ssl-server-verify`.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{Resumption, WebPkiServerVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, Error, SignatureScheme};

use super::names;
use super::pem;
use super::{provider, Protocols};
use crate::config::{Global, RawOption, ServerTls};

/// The TLS sides of a server: for traffic (`ssl`) and for health checks (`check-ssl`, or
/// `ssl` without a separate check `port`/`addr`).
pub struct Built {
    pub tls: Option<ServerTls>,
    pub check_tls: Option<ServerTls>,
    pub warnings: Vec<String>,
}

/// Builds the TLS sides of a server line from its TLS options (those of `default-server`
/// first) and the globals. `separate_check` says the checks go to another port or address.
pub fn build(opts: &[RawOption], global: &Global, separate_check: bool) -> Result<Built, String> {
    let mut warnings = Vec::new();
    let mut ssl = false;
    let mut check_ssl = None;
    let mut verify: Option<bool> = None;
    let mut verifyhost: Option<&str> = None;
    let mut ca_file = None;
    let mut crt = None;
    let mut sni: Option<&str> = None;
    let mut check_sni: Option<&str> = None;
    let mut alpn: Option<&str> = None;
    let mut check_alpn: Option<&str> = None;
    let mut ciphers = None;
    let mut suites = None;
    let mut curves = None;
    let mut reuse = true;
    let mut proto = Protocols::default();
    if let Some(d) = global.ssl_defaults.get("ssl-default-server-options") {
        proto
            .apply_line(d)
            .map_err(|e| format!("'ssl-default-server-options' : {e}"))?;
    }
    for o in opts {
        let a = o.args.first().map(String::as_str).unwrap_or("");
        match o.keyword.as_str() {
            "ssl" => ssl = true,
            "no-ssl" => ssl = false,
            "check-ssl" => check_ssl = Some(true),
            "no-check-ssl" => check_ssl = Some(false),
            "verify" => {
                verify = Some(match a {
                    "none" => false,
                    "required" => true,
                    _ => {
                        return Err(format!(
                            "'verify' : unknown verify method '{a}', only 'none' and 'required' are supported"
                        ))
                    }
                })
            }
            "verifyhost" => verifyhost = Some(a),
            "ca-file" => ca_file = Some(pem::resolve(global.ca_base.as_deref(), a)),
            "crt" => crt = Some(pem::resolve(global.crt_base.as_deref(), a)),
            "sni" => sni = Some(a),
            "check-sni" => check_sni = Some(a),
            "alpn" => alpn = Some(a),
            "check-alpn" => check_alpn = Some(a),
            "ciphers" => ciphers = Some(a),
            "ciphersuites" => suites = Some(a),
            "curves" => curves = Some(a),
            "ssl-reuse" => reuse = true,
            "no-ssl-reuse" => reuse = false,
            kw => proto.apply(kw, o.args.first().map(String::as_str))?,
        }
    }
    let checks = check_ssl.unwrap_or(ssl && !separate_check);
    if !ssl && !checks {
        return Ok(Built {
            tls: None,
            check_tls: None,
            warnings,
        });
    }
    let versions = proto.versions()?;
    let default = |k: &str| global.ssl_defaults.get(k).map(String::as_str);
    let mut offered = Vec::new();
    for (list, tls13, kw) in [
        (
            suites.or(default("ssl-default-server-ciphersuites")),
            true,
            "ciphersuites",
        ),
        (
            ciphers.or(default("ssl-default-server-ciphers")),
            false,
            "ciphers",
        ),
    ] {
        match list {
            Some(l) => {
                let c = names::ciphers(l, tls13).map_err(|e| format!("'{kw}' : {e}."))?;
                if !c.dropped.is_empty() {
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
    let groups = match curves.or(default("ssl-default-server-curves")) {
        Some(l) => Some(names::curves(l).map_err(|e| format!("'curves' : {e}."))?.0),
        None => None,
    };
    let provider = provider(offered, groups);

    // haproxy verifies servers unless told not to (`verify none`, `ssl-server-verify none`).
    let verify = verify.unwrap_or(default("ssl-server-verify") != Some("none"));
    let sni_name = match sni {
        Some(expr) => Some(literal_name(expr, "sni")?),
        None => None,
    };
    let check_name = match check_sni {
        Some(n) => Some(server_name(n, "check-sni")?),
        None => sni_name.clone(),
    };
    let host = match verifyhost {
        Some(h) => Some(server_name(h, "verifyhost")?),
        None => None,
    };
    if let (Some(h), Some(s)) = (&host, &sni_name) {
        if h != s {
            return Err(format!(
                "'verifyhost' naming another host than 'sni' is not supported by dermaga (verifyhost {}, sni {}).",
                name_text(h),
                name_text(s)
            ));
        }
    }
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| format!("no usable TLS setup: {e}."))?;
    let verifier: Arc<dyn ServerCertVerifier> = if verify {
        let Some(ca) = &ca_file else {
            return Err("verify is enabled by default but no CA file specified. If you're running on a LAN where you're certain to trust the server's certificate, please set an explicit 'verify none' statement on the 'server' line, or use 'ssl-server-verify none' in the global section to disable server-side verifications by default.".into());
        };
        let roots = pem::load_ca(ca)?;
        let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| format!("unusable 'ca-file' : {e}."))?;
        Arc::new(ChainVerifier {
            inner,
            check_name: sni_name.is_some() || host.is_some(),
        })
    } else {
        Arc::new(NoVerifier(provider.clone()))
    };
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut cfg = match &crt {
        Some(path) => {
            let l = pem::load_bundle(path, &provider)?;
            builder.with_client_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(l.key)))
        }
        None => builder.with_no_client_auth(),
    };
    let mut alpn_list = |kw: &str, a: &str| {
        let (keep, dropped) = names::alpn(a, true);
        if !dropped.is_empty() {
            warnings.push(format!(
                "'{kw} {a}' : dermaga speaks HTTP/1.1 and HTTP/2 to servers; {} is not offered.",
                dropped.join(", ")
            ));
        }
        keep
    };
    if let Some(a) = alpn {
        cfg.alpn_protocols = alpn_list("alpn", a);
    }
    // Checks offer `check-alpn` when set, else the server's `alpn` (haproxy's rule).
    let check_protocols = check_alpn.map(|a| alpn_list("check-alpn", a));
    if !reuse {
        cfg.resumption = Resumption::disabled();
    }
    // `verifyhost` alone names the host to verify without sending it as SNI, as haproxy.
    cfg.enable_sni = sni_name.is_some();
    // Checks send `check-sni` even when traffic sends no SNI.
    let check_config = if (check_sni.is_some() && !cfg.enable_sni) || check_protocols.is_some() {
        let mut c = cfg.clone();
        c.enable_sni |= check_sni.is_some();
        if let Some(p) = check_protocols {
            c.alpn_protocols = p;
        }
        Some(Arc::new(c))
    } else {
        None
    };
    let config = Arc::new(cfg);
    let name = sni_name.or(host);
    let tls = ssl.then(|| ServerTls {
        config: config.clone(),
        sni: name.clone(),
    });
    let check_tls = checks.then(|| ServerTls {
        config: check_config.unwrap_or(config),
        sni: check_name.or(name),
    });
    Ok(Built {
        tls,
        check_tls,
        warnings,
    })
}

/// `sni str(NAME)`: the one form dermaga takes (a name per server, so connections to it
/// can be pooled).
fn literal_name(expr: &str, kw: &str) -> Result<ServerName<'static>, String> {
    let inner = expr
        .strip_prefix("str(")
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| {
            format!(
                "'{kw} {expr}' : only a constant name, 'sni str(NAME)', is supported by dermaga."
            )
        })?;
    server_name(inner, kw)
}

fn server_name(name: &str, kw: &str) -> Result<ServerName<'static>, String> {
    ServerName::try_from(name.to_string())
        .map_err(|_| format!("'{kw}' : '{name}' is not a valid host name."))
}

fn name_text(n: &ServerName<'_>) -> String {
    match n {
        ServerName::DnsName(d) => d.as_ref().to_string(),
        ServerName::IpAddress(ip) => format!("{:?}", std::net::IpAddr::from(*ip)),
        _ => String::new(),
    }
}

/// `verify required`: the chain must lead to the CA file; the name is checked only when
/// the line names one (`sni`, `verifyhost`), as haproxy does.
#[derive(Debug)]
struct ChainVerifier {
    inner: Arc<WebPkiServerVerifier>,
    check_name: bool,
}

impl ServerCertVerifier for ChainVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        match self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            r => r,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// `verify none`: any certificate is accepted; the handshake's signatures are still checked
/// (they prove the peer holds the key of the certificate it sent).
#[derive(Debug)]
struct NoVerifier(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerifier {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
