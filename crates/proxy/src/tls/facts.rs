//! What the `ssl_fc*` and `ssl_c_*` fetches read about a client's TLS session, either from the
//! live rustls connection (HTTP/1 sessions own it) or from a copy taken once after the
//! handshake (an HTTP/2 stream's session runs apart from the connection that carries it).

use super::names;

/// The facts about a finished server-side handshake the fetches need, copied out of rustls.
#[derive(Clone, Debug, Default)]
pub struct TlsFacts {
    pub sni: Option<Box<str>>,
    pub protocol: Option<&'static str>,
    pub alpn: Option<Box<[u8]>>,
    pub cipher: Option<&'static str>,
    pub client_cert: bool,
}

impl TlsFacts {
    pub fn of(c: &rustls::ServerConnection) -> TlsFacts {
        let v = TlsView::Live(c);
        TlsFacts {
            sni: c.server_name().map(Into::into),
            protocol: v.protocol(),
            alpn: c.alpn_protocol().map(Into::into),
            cipher: v.cipher(),
            client_cert: v.client_cert(),
        }
    }
}

/// A client's TLS session as the fetches see it.
#[derive(Clone, Copy)]
pub enum TlsView<'a> {
    Live(&'a rustls::ServerConnection),
    Captured(&'a TlsFacts),
}

impl<'a> TlsView<'a> {
    /// `ssl_fc_sni`.
    pub fn sni(self) -> Option<&'a [u8]> {
        match self {
            TlsView::Live(c) => c.server_name().map(str::as_bytes),
            TlsView::Captured(f) => f.sni.as_deref().map(str::as_bytes),
        }
    }

    /// `ssl_fc_protocol`, in OpenSSL's spelling (`TLSv1.3`).
    pub fn protocol(self) -> Option<&'static str> {
        match self {
            TlsView::Live(c) => c.protocol_version().map(names::protocol_name),
            TlsView::Captured(f) => f.protocol,
        }
    }

    /// `ssl_fc_alpn`.
    pub fn alpn(self) -> Option<&'a [u8]> {
        match self {
            TlsView::Live(c) => c.alpn_protocol(),
            TlsView::Captured(f) => f.alpn.as_deref(),
        }
    }

    /// `ssl_fc_cipher`, in OpenSSL's spelling.
    pub fn cipher(self) -> Option<&'static str> {
        match self {
            TlsView::Live(c) => c.negotiated_cipher_suite().map(names::cipher_name),
            TlsView::Captured(f) => f.cipher,
        }
    }

    /// `ssl_c_used`: the client presented a certificate.
    pub fn client_cert(self) -> bool {
        match self {
            TlsView::Live(c) => c.peer_certificates().is_some(),
            TlsView::Captured(f) => f.client_cert,
        }
    }
}
