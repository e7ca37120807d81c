//! TLS with rustls (crypto by aws-lc-rs): what `bind ... ssl` and `server ... ssl` lines
//! become, built once when the configuration loads (certificates read, ciphers and versions
//! checked, errors and warnings with file and line), and the handshakes the sessions run.
//!
//! Not here: HTTP/2 itself (`crate::h2`; ALPN offers `h2` to clients), OCSP stapling, CRLs,
//! per-certificate `crt-list` options, TLS 1.0/1.1 (rustls does not speak them).

mod bind;
mod client;
pub mod facts;
pub mod names;
mod pem;
mod sni;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use rustls::crypto::{aws_lc_rs, CryptoProvider, SupportedKxGroup};
use rustls::pki_types::ServerName;
use rustls::{SupportedCipherSuite, SupportedProtocolVersion};
use tokio::net::TcpStream;

use crate::config::{Diagnostic, Global, Location, Proxy, ServerTls};
use crate::session::Conn;
use names::Version;

/// The TLS configuration of one `bind ... ssl` line, shared by its listeners on every
/// thread and replaced whole when certificates are reloaded.
pub type TlsSlot = Arc<arc_swap::ArcSwap<rustls::ServerConfig>>;

/// A crypto provider offering `suites` and, when given, only `groups`.
fn provider(
    suites: Vec<SupportedCipherSuite>,
    groups: Option<Vec<&'static dyn SupportedKxGroup>>,
) -> Arc<CryptoProvider> {
    let mut p = aws_lc_rs::default_provider();
    p.cipher_suites = suites;
    if let Some(g) = groups {
        p.kx_groups = g;
    }
    Arc::new(p)
}

/// Protocol-level options shared by binds, servers and the `ssl-default-*-options` lines.
#[derive(Default)]
struct Protocols {
    min: Option<Version>,
    max: Option<Version>,
    force: Option<Version>,
    disabled: Vec<Version>,
    no_tickets: bool,
    prefer_client_ciphers: bool,
    strict_sni: bool,
}

impl Protocols {
    /// Applies one keyword (`ssl-min-ver TLSv1.2`, `no-tlsv13`, `no-tls-tickets`, ...).
    fn apply(&mut self, kw: &str, arg: Option<&str>) -> Result<(), String> {
        match kw {
            "ssl-min-ver" | "ssl-max-ver" => {
                let a = arg.unwrap_or("");
                let v = Version::parse(a).ok_or_else(|| {
                    format!("'{kw}' : unknown version '{a}' (expected one of SSLv3, TLSv1.0, TLSv1.1, TLSv1.2, TLSv1.3).")
                })?;
                if kw == "ssl-min-ver" {
                    if v < Version::Tls12 {
                        return Err(format!("'ssl-min-ver {a}' : dermaga cannot offer {a}; it speaks TLSv1.2 and TLSv1.3 only (use 'ssl-min-ver TLSv1.2')."));
                    }
                    self.min = Some(v);
                } else {
                    if v < Version::Tls12 {
                        return Err(format!("'ssl-max-ver {a}' : dermaga cannot offer {a}; it speaks TLSv1.2 and TLSv1.3 only."));
                    }
                    self.max = Some(v);
                }
            }
            "no-tls-tickets" => self.no_tickets = true,
            "prefer-client-ciphers" => self.prefer_client_ciphers = true,
            "strict-sni" => self.strict_sni = true,
            _ => {
                let v = Version::of_keyword(kw)
                    .ok_or_else(|| format!("'{kw}' is not supported by dermaga."))?;
                if kw.starts_with("force-") {
                    if v < Version::Tls12 {
                        return Err(format!(
                            "'{kw}' : dermaga cannot offer {}; it speaks TLSv1.2 and TLSv1.3 only.",
                            v.name()
                        ));
                    }
                    self.force = Some(v);
                } else if !self.disabled.contains(&v) {
                    self.disabled.push(v);
                }
            }
        }
        Ok(())
    }

    /// Applies an `ssl-default-*-options` line.
    fn apply_line(&mut self, line: &str) -> Result<(), String> {
        let mut words = line.split_whitespace();
        while let Some(w) = words.next() {
            let arg = if w == "ssl-min-ver" || w == "ssl-max-ver" {
                words.next()
            } else {
                None
            };
            self.apply(w, arg)?;
        }
        Ok(())
    }

    /// The versions to offer.
    fn versions(&self) -> Result<Vec<&'static SupportedProtocolVersion>, String> {
        let all = [
            (Version::Tls12, &rustls::version::TLS12),
            (Version::Tls13, &rustls::version::TLS13),
        ];
        let out: Vec<&'static SupportedProtocolVersion> = all
            .iter()
            .filter(|(v, _)| match self.force {
                Some(f) => *v == f,
                None => {
                    self.min.is_none_or(|m| *v >= m)
                        && self.max.is_none_or(|m| *v <= m)
                        && !self.disabled.contains(v)
                }
            })
            .map(|(_, p)| *p)
            .collect();
        if out.is_empty() {
            return Err(
                "no protocol version left to offer (dermaga speaks TLSv1.2 and TLSv1.3).".into(),
            );
        }
        Ok(out)
    }
}

/// Builds every TLS setup of the configuration: binds with `ssl`, servers with `ssl` or
/// `check-ssl`, and `default-server` (for servers added at run time). Errors and warnings go
/// to `diags` with the line they come from.
pub(crate) fn build_all(global: &Global, proxies: &mut [Proxy], diags: &mut Vec<Diagnostic>) {
    let alert = |d: &mut Vec<Diagnostic>, loc: &Location, what: &str, m: &str| {
        d.push(Diagnostic::alert(
            Some(loc.clone()),
            format!("parsing [{loc}] : {what} : {m}"),
        ));
    };
    let warn = |d: &mut Vec<Diagnostic>, loc: &Location, what: &str, m: &str| {
        d.push(Diagnostic::warning(
            Some(loc.clone()),
            format!("parsing [{loc}] : {what} : {m}"),
        ));
    };
    for p in proxies.iter_mut() {
        for b in p.binds.iter_mut() {
            if b.ssl_options.is_empty() {
                continue;
            }
            let what = format!("'bind {}'", b.text);
            match bind::build(&b.ssl_options, global) {
                Ok(built) => {
                    for w in &built.warnings {
                        warn(diags, &b.loc, &what, w);
                    }
                    b.tls = built.tls;
                }
                Err(e) => alert(diags, &b.loc, &what, &e),
            }
        }
        let pname = p.name.clone();
        for s in p.servers.iter_mut() {
            if s.options.ssl_options.is_empty() {
                continue;
            }
            let what = format!("'server {pname}/{}'", s.name);
            let separate = s.options.check_port.is_some() || s.options.check_addr.is_some();
            match client::build(&s.options.ssl_options, global, separate) {
                Ok(built) => {
                    for w in &built.warnings {
                        warn(diags, &s.loc, &what, w);
                    }
                    s.options.tls = built.tls;
                    s.options.check_tls = built.check_tls;
                }
                Err(e) => alert(diags, &s.loc, &what, &e),
            }
        }
        // The servers above reported any error of default-server's options already.
        let d = &mut p.settings.default_server;
        if !d.ssl_options.is_empty() {
            let separate = d.check_port.is_some() || d.check_addr.is_some();
            if let Ok(built) = client::build(&d.ssl_options, global, separate) {
                d.tls = built.tls;
                d.check_tls = built.check_tls;
            }
        }
    }
}

/// Runs the server side of a handshake on an accepted connection.
pub async fn accept(cfg: &Arc<rustls::ServerConfig>, tcp: TcpStream) -> io::Result<Conn> {
    let s = tokio_rustls::TlsAcceptor::from(cfg.clone())
        .accept(tcp)
        .await?;
    Ok(Conn::TlsServer(Box::new(s)))
}

/// Runs the client side of a handshake to a server at `addr`.
pub async fn connect(tls: &ServerTls, tcp: TcpStream, addr: SocketAddr) -> io::Result<Conn> {
    let name = match &tls.sni {
        Some(n) => n.clone(),
        None => ServerName::IpAddress(addr.ip().into()),
    };
    let s = tokio_rustls::TlsConnector::from(tls.config.clone())
        .connect(name, tcp)
        .await?;
    Ok(Conn::TlsClient(Box::new(s)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn versions(line: &str) -> Result<Vec<&'static str>, String> {
        let mut p = Protocols::default();
        p.apply_line(line)?;
        Ok(p.versions()?
            .iter()
            .map(|v| match v.version {
                rustls::ProtocolVersion::TLSv1_2 => "1.2",
                _ => "1.3",
            })
            .collect())
    }

    #[test]
    fn protocol_options_give_the_versions_offered() {
        assert_eq!(versions("").unwrap(), ["1.2", "1.3"]);
        assert_eq!(
            versions("ssl-min-ver TLSv1.2 no-tls-tickets").unwrap(),
            ["1.2", "1.3"]
        );
        assert_eq!(versions("ssl-min-ver TLSv1.3").unwrap(), ["1.3"]);
        assert_eq!(versions("ssl-max-ver TLSv1.2").unwrap(), ["1.2"]);
        assert_eq!(versions("no-tlsv13").unwrap(), ["1.2"]);
        assert_eq!(versions("force-tlsv12").unwrap(), ["1.2"]);
        assert_eq!(
            versions("no-sslv3 no-tlsv10 no-tlsv11").unwrap(),
            ["1.2", "1.3"]
        );
        assert!(versions("no-tlsv12 no-tlsv13")
            .unwrap_err()
            .starts_with("no protocol version left"));
        assert!(versions("ssl-min-ver TLSv1.1")
            .unwrap_err()
            .starts_with("'ssl-min-ver TLSv1.1' : dermaga cannot offer TLSv1.1"));
        assert!(versions("ssl-min-ver TLSv9")
            .unwrap_err()
            .contains("unknown version 'TLSv9'"));
        assert_eq!(
            versions("allow-0rtt").unwrap_err(),
            "'allow-0rtt' is not supported by dermaga."
        );
    }
}
