//! A connection as the sessions see it: plain TCP, or TLS over TCP on either side (a client
//! on a `bind ... ssl` listener, or a `server ... ssl`). One type for both, so that the HTTP
//! and TCP sessions, the idle pool and the tunnels are written once. HTTP/2 streams are ones
//! too: a client's streams (`H2`, served one after the other by one session, see
//! `crate::h2::server`) and a stream to an HTTP/2 server (`Stream`, converted as the session
//! reads and writes it, see `crate::h2::upstream`).

use std::io::{self, BufRead};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::ReadBuf;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::h2::server::H2Stream;
use crate::h2::upstream::{ServerStream, ServerWriter};
use crate::tls::facts::TlsView;

/// A client or server connection.
pub enum Conn {
    Plain(TcpStream),
    /// A client's connection to a TLS listener (the handshake done).
    TlsServer(Box<tokio_rustls::server::TlsStream<TcpStream>>),
    /// A connection to a TLS server (the handshake done).
    TlsClient(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    /// A stream to an HTTP/2 server, seen as an HTTP/1.1 connection (see `crate::h2::upstream`).
    Stream(ServerStream),
    /// A client's HTTP/2 streams, seen as an HTTP/1.1 keep-alive connection.
    H2(H2Stream),
}

impl From<TcpStream> for Conn {
    fn from(s: TcpStream) -> Conn {
        Conn::Plain(s)
    }
}

impl Conn {
    /// The TCP socket underneath (none under an HTTP/2 stream).
    pub fn tcp(&self) -> Option<&TcpStream> {
        match self {
            Conn::Plain(s) => Some(s),
            Conn::TlsServer(t) => Some(t.get_ref().0),
            Conn::TlsClient(t) => Some(t.get_ref().0),
            Conn::Stream(_) | Conn::H2(_) => None,
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

    /// The client's TLS session as the `ssl_fc*` and `ssl_c_*` fetches see it: the live one,
    /// or the facts an HTTP/2 client's slot carries from its connection.
    pub fn tls_view(&self) -> Option<TlsView<'_>> {
        match self {
            Conn::TlsServer(t) => Some(TlsView::Live(t.get_ref().1)),
            Conn::H2(h) => h.tls().map(TlsView::Captured),
            _ => None,
        }
    }

    /// The ALPN protocol the client and dermaga agreed on (`http/1.1` or `h2`), for the
    /// session to pick its protocol by.
    pub fn alpn(&self) -> Option<&[u8]> {
        self.tls_server().and_then(|c| c.alpn_protocol())
    }

    /// The protocol a TLS server picked by ALPN.
    pub fn server_alpn(&self) -> Option<&[u8]> {
        match self {
            Conn::TlsClient(t) => t.get_ref().1.alpn_protocol(),
            _ => None,
        }
    }

    /// Whether an HTTP/2 server left this stream unprocessed (REFUSED_STREAM, GOAWAY), so
    /// that the request may go again.
    pub fn refused(&self) -> bool {
        match self {
            Conn::Stream(s) => s.refused(),
            _ => false,
        }
    }

    /// Lends out the reading direction of a client's HTTP/2 stream (none for sockets).
    pub fn take_reader(&mut self) -> Option<H2Stream> {
        match self {
            Conn::H2(h) => h.lend_reader(),
            _ => None,
        }
    }

    /// Lends out the writing direction of a stream to an HTTP/2 server (none for sockets).
    pub fn take_writer(&mut self) -> Option<ServerWriter> {
        match self {
            Conn::Stream(s) => s.lend_writer(),
            _ => None,
        }
    }

    /// Returns a writing direction lent out by [`Conn::take_writer`].
    pub fn give_back_writer(&mut self, w: ServerWriter) {
        if let Conn::Stream(s) = self {
            s.give_back_writer(w);
        }
    }

    /// Whether this carries HTTP/2 streams (a client's, or a pipe to an HTTP/2 server).
    pub fn is_h2_stream(&self) -> bool {
        matches!(self, Conn::Stream(_) | Conn::H2(_))
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
    /// Whether bytes already wait above the socket (decrypted TLS data, an HTTP/2 stream's
    /// pipe), so that the socket's readiness says nothing about them.
    pub fn has_buffered_input(&mut self) -> bool {
        match self {
            Conn::Plain(_) => false,
            Conn::TlsServer(t) => has_plaintext(t.get_mut().1.reader().fill_buf()),
            Conn::TlsClient(t) => has_plaintext(t.get_mut().1.reader().fill_buf()),
            Conn::Stream(_) | Conn::H2(_) => true,
        }
    }

    pub async fn readable(&mut self) -> io::Result<()> {
        let buffered = match self {
            Conn::Plain(_) => false,
            Conn::TlsServer(t) => has_plaintext(t.get_mut().1.reader().fill_buf()),
            Conn::TlsClient(t) => has_plaintext(t.get_mut().1.reader().fill_buf()),
            // End of stream counts as readable, as it does for a socket.
            Conn::Stream(s) => return std::future::poll_fn(|cx| s.poll_readable(cx)).await,
            Conn::H2(h) => return std::future::poll_fn(|cx| h.poll_readable(cx)).await,
        };
        if buffered {
            return Ok(());
        }
        match self.tcp() {
            Some(t) => t.readable().await,
            None => Ok(()),
        }
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
            Conn::Stream(s) => Pin::new(s).poll_read(cx, buf),
            Conn::H2(h) => Pin::new(h).poll_read(cx, buf),
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
            Conn::Stream(s) => Pin::new(s).poll_write(cx, buf),
            Conn::H2(h) => Pin::new(h).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::TlsServer(t) => Pin::new(t.as_mut()).poll_flush(cx),
            Conn::TlsClient(t) => Pin::new(t.as_mut()).poll_flush(cx),
            Conn::Stream(s) => Pin::new(s).poll_flush(cx),
            Conn::H2(h) => Pin::new(h).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::TlsServer(t) => Pin::new(t.as_mut()).poll_shutdown(cx),
            Conn::TlsClient(t) => Pin::new(t.as_mut()).poll_shutdown(cx),
            Conn::Stream(s) => Pin::new(s).poll_shutdown(cx),
            Conn::H2(h) => Pin::new(h).poll_shutdown(cx),
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
            Conn::Stream(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Conn::H2(h) => Pin::new(h).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Conn::Plain(s) => s.is_write_vectored(),
            Conn::TlsServer(t) => t.is_write_vectored(),
            Conn::TlsClient(t) => t.is_write_vectored(),
            Conn::Stream(_) | Conn::H2(_) => false,
        }
    }
}
