//! A connection as the sessions see it: plain TCP, or TLS over TCP on either side (a client
//! on a `bind ... ssl` listener, or a `server ... ssl`). One type for both, so that the HTTP
//! and TCP sessions, the idle pool and the tunnels are written once.

use std::io::{self, BufRead};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

/// A client or server connection.
pub enum Conn {
    Plain(TcpStream),
    /// A client's connection to a TLS listener (the handshake done).
    TlsServer(Box<tokio_rustls::server::TlsStream<TcpStream>>),
    /// A connection to a TLS server (the handshake done).
    TlsClient(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl From<TcpStream> for Conn {
    fn from(s: TcpStream) -> Conn {
        Conn::Plain(s)
    }
}

impl Conn {
    /// The TCP socket underneath.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Conn::Plain(s) => s,
            Conn::TlsServer(t) => t.get_ref().0,
            Conn::TlsClient(t) => t.get_ref().0,
        }
    }

    /// The TLS state of a client connection to a TLS listener (for the `ssl_fc*` and
    /// `ssl_c_*` fetches, and the negotiated ALPN protocol).
    pub fn tls_server(&self) -> Option<&rustls::ServerConnection> {
        match self {
            Conn::TlsServer(t) => Some(t.get_ref().1),
            _ => None,
        }
    }

    /// The ALPN protocol the client and dermaga agreed on (`http/1.1`; `h2` once HTTP/2
    /// exists), for the session to pick its protocol by.
    pub fn alpn(&self) -> Option<&[u8]> {
        self.tls_server().and_then(|c| c.alpn_protocol())
    }

    /// Whether this is plain TCP (splice(2) can move its bytes).
    pub fn is_plain(&self) -> bool {
        matches!(self, Conn::Plain(_))
    }

    /// Writes all of `bytes` and, on TLS, pushes the encrypted records out too (a TLS write
    /// can leave records queued when the socket is full; nothing else would send them).
    pub async fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.write_all(bytes).await?;
        if !self.is_plain() {
            self.flush().await?;
        }
        Ok(())
    }

    /// Waits until a read would not block. With TLS, decrypted bytes may already wait inside
    /// the TLS state while the socket itself has nothing more to say: those count.
    pub async fn readable(&mut self) -> io::Result<()> {
        let buffered = match self {
            Conn::Plain(_) => false,
            Conn::TlsServer(t) => has_plaintext(t.get_mut().1.reader().fill_buf()),
            Conn::TlsClient(t) => has_plaintext(t.get_mut().1.reader().fill_buf()),
        };
        if buffered {
            return Ok(());
        }
        self.tcp().readable().await
    }
}

fn has_plaintext(r: io::Result<&[u8]>) -> bool {
    // An error here (end of stream, a closed TLS session) is also something a read returns
    // at once.
    !matches!(r, Err(ref e) if e.kind() == io::ErrorKind::WouldBlock)
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::TlsServer(t) => Pin::new(t.as_mut()).poll_read(cx, buf),
            Conn::TlsClient(t) => Pin::new(t.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::TlsServer(t) => Pin::new(t.as_mut()).poll_write(cx, buf),
            Conn::TlsClient(t) => Pin::new(t.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::TlsServer(t) => Pin::new(t.as_mut()).poll_flush(cx),
            Conn::TlsClient(t) => Pin::new(t.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::TlsServer(t) => Pin::new(t.as_mut()).poll_shutdown(cx),
            Conn::TlsClient(t) => Pin::new(t.as_mut()).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Conn::TlsServer(t) => Pin::new(t.as_mut()).poll_write_vectored(cx, bufs),
            Conn::TlsClient(t) => Pin::new(t.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Conn::Plain(s) => s.is_write_vectored(),
            Conn::TlsServer(t) => t.is_write_vectored(),
            Conn::TlsClient(t) => t.is_write_vectored(),
        }
    }
}
