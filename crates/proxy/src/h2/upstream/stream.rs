//! One request to an HTTP/2 server, driven by the session's own reads and writes: the
//! session writes an HTTP/1.1 request and reads an HTTP/1.1 answer as from any server, and
//! each write or read turns into the stream's HTTP/2 at once, in the session's task (no
//! pipe, no task of its own). The head becomes pseudo-headers and fields, the body DATA as
//! the server's window allows (chunked framing removed, chunked trailers as trailers); the
//! answer comes back as an HTTP/1.1 head, its DATA as they arrive (chunked when the server
//! gave no length, with its trailers), credit returned to the server as the session takes it.
//!
//! The writing direction can be lent to another task ([`ServerStream::lend_writer`]) so that
//! a request body flows while the session reads the answer (gRPC between HTTP/2 peers).

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use h2::client::ResponseFuture;
use h2::{Reason, RecvStream, SendStream};
use http::header::{HeaderName, HeaderValue};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderMap, Method, Request, Uri};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::super::CONNECTION_SPECIFIC;
use super::pool::Slot;
use crate::http1::{self, BodyKind, Parsed, RequestHead};

/// Fields of an HTTP/1.1 request that HTTP/2 does not carry besides the connection-specific
/// ones: `te` (only `trailers` goes, added where asked), `host` (the `:authority`), `expect`
/// (answered by dermaga).
const NOT_FORWARDED: [&[u8]; 3] = [b"te", b"host", b"expect"];

/// The longest chunk-size or trailer line taken from the session (it checked the framing).
const MAX_LINE: usize = 16 * 1024;

/// Where requests go: the scheme, and the address that names the authority when the
/// request has no `Host`.
pub struct Target {
    pub scheme: Scheme,
    pub addr: std::net::SocketAddr,
}

/// The session's side of one stream to an HTTP/2 server.
pub struct ServerStream {
    ex: Rc<RefCell<Exchange>>,
    /// The writing direction is lent out ([`ServerStream::lend_writer`]).
    writer_lent: bool,
}

/// A writing direction lent to a request body's task.
pub struct ServerWriter {
    ex: Rc<RefCell<Exchange>>,
    /// Taken back by the session ([`ServerStream::give_back_writer`]): dropping it then
    /// says nothing about the body.
    given_back: bool,
}

struct Exchange {
    /// The stream's place on its connection (given back when the exchange is dropped).
    slot: Slot,
    target: Target,
    max_head: usize,
    /// The server did not process the request (REFUSED_STREAM, a GOAWAY below its stream,
    /// or a connection that was already gone): the session may retry it elsewhere.
    refused: bool,
    /// A request head that came in more than one write (rare: the session writes its head
    /// at once).
    partial_head: Vec<u8>,
    send: Send,
    recv: Recv,
    /// HTTP/1.1 bytes for the session: the answer's head, chunk framing and trailers, the
    /// payload of chunked DATA.
    out: BytesMut,
    /// A DATA frame's payload not yet read by the session (bodies with a length).
    data: Bytes,
}

/// The request's way out.
enum Send {
    /// The head is not complete yet.
    Head,
    /// `left` more bytes of a body with a length.
    Length { up: SendStream<Bytes>, left: u64 },
    /// A chunked body, unframed as it comes.
    Chunked {
        up: SendStream<Bytes>,
        at: Chunk,
        line: Vec<u8>,
        trailers: HeaderMap,
    },
    /// Everything was sent, or the server stopped taking it (it may answer, then stop the
    /// upload with RST_STREAM NO_ERROR, RFC 9113 §8.1): what the session still writes is
    /// dropped, so that it reaches the answer.
    Done,
}

/// Where a chunked body is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Chunk {
    Size,
    Data(u64),
    DataEnd,
    Trailers,
}

/// The answer's way back.
enum Recv {
    /// No request sent yet.
    NotSent,
    Waiting {
        response: ResponseFuture,
        head_request: bool,
    },
    Body {
        body: RecvStream,
        chunked: bool,
        /// The DATA are over; the trailers (or the stream's end) come next.
        trailers: bool,
    },
    /// The whole answer is in `out`, or it failed (the session sees its end).
    End,
}

impl ServerStream {
    pub fn new(slot: Slot, target: Target, max_head: usize) -> ServerStream {
        ServerStream {
            ex: Rc::new(RefCell::new(Exchange {
                slot,
                target,
                max_head,
                refused: false,
                partial_head: Vec::new(),
                send: Send::Head,
                recv: Recv::NotSent,
                out: BytesMut::new(),
                data: Bytes::new(),
            })),
            writer_lent: false,
        }
    }

    /// Whether the server left the request unprocessed, so that it may go again.
    pub fn refused(&self) -> bool {
        self.ex.borrow().refused
    }

    /// Lends the writing direction out, once; the session keeps reading the answer.
    pub fn lend_writer(&mut self) -> Option<ServerWriter> {
        if self.writer_lent {
            return None;
        }
        self.writer_lent = true;
        Some(ServerWriter {
            ex: self.ex.clone(),
            given_back: false,
        })
    }

    /// Takes back a writing direction lent out.
    pub fn give_back_writer(&mut self, mut w: ServerWriter) {
        if Rc::ptr_eq(&w.ex, &self.ex) {
            w.given_back = true;
            self.writer_lent = false;
        }
    }

    /// Ready when a read would not wait (answer bytes, or its end).
    pub fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.ex.borrow_mut().poll_fill(cx).map(Ok)
    }
}

impl Exchange {
    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        match &mut self.send {
            Send::Head => self.write_head(cx, buf),
            Send::Length { up, left } => {
                let want = buf.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                if want == 0 {
                    self.send = Send::Done;
                    return Poll::Ready(Ok(buf.len()));
                }
                match send_some(up, cx, &buf[..want], *left == want as u64) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(Some(k)) => {
                        *left -= k as u64;
                        if *left == 0 {
                            self.send = Send::Done;
                        }
                        Poll::Ready(Ok(k))
                    }
                    Poll::Ready(None) => {
                        self.send = Send::Done;
                        Poll::Ready(Ok(buf.len()))
                    }
                }
            }
            Send::Chunked { .. } => self.write_chunked(cx, buf),
            Send::Done => Poll::Ready(Ok(buf.len())),
        }
    }

    /// Takes the request head (and nothing after it) and sends the request.
    fn write_head(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        // Room for a stream first: nothing is taken from `buf` while waiting.
        let ready = match self.slot.send.poll_ready(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(r) => r.is_ok(),
        };
        let prior = self.partial_head.len();
        let mut head = RequestHead::default();
        let parsed = if prior == 0 {
            head.parse(buf)
        } else {
            self.partial_head.extend_from_slice(buf);
            head.parse(&self.partial_head)
        };
        let n = match parsed {
            Ok(Parsed::Complete(n)) => n,
            Ok(Parsed::Partial) if prior + buf.len() < self.max_head => {
                if prior == 0 {
                    self.partial_head.extend_from_slice(buf);
                }
                return Poll::Ready(Ok(buf.len()));
            }
            _ => {
                self.send = Send::Done;
                self.recv = Recv::End;
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "the request head does not go to HTTP/2",
                )));
            }
        };
        let taken = n - prior;
        let raw = std::mem::take(&mut self.partial_head);
        let raw: &[u8] = if prior == 0 { &buf[..n] } else { &raw[..n] };
        let Some(req) = build_request(raw, &head, &self.target) else {
            self.send = Send::Done;
            self.recv = Recv::End;
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the request head does not go to HTTP/2",
            )));
        };
        let head_request = req.method() == Method::HEAD;
        let body = head.body;
        let no_body = matches!(body, BodyKind::None | BodyKind::Length(0));
        let sent = if ready {
            self.slot.send.send_request(req, no_body)
        } else {
            Err(h2::Error::from(Reason::REFUSED_STREAM))
        };
        let (response, up) = match sent {
            Ok(s) => s,
            Err(_) => {
                // The connection is gone (the server closed it while idle, or a GOAWAY): the
                // request never left.
                self.slot.state.close();
                self.refused = true;
                self.send = Send::Done;
                self.recv = Recv::End;
                return Poll::Ready(Ok(taken));
            }
        };
        self.recv = Recv::Waiting {
            response,
            head_request,
        };
        if head.expect_continue {
            self.out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
        }
        self.send = match body {
            BodyKind::Length(n) if n > 0 => Send::Length { up, left: n },
            BodyKind::Chunked => Send::Chunked {
                up,
                at: Chunk::Size,
                line: Vec::new(),
                trailers: HeaderMap::new(),
            },
            _ => Send::Done,
        };
        Poll::Ready(Ok(taken))
    }

    /// Unframes chunked bytes: payloads go as DATA, the trailer section as trailers.
    fn write_chunked(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let Send::Chunked {
            up,
            at,
            line,
            trailers,
        } = &mut self.send
        else {
            return Poll::Ready(Ok(buf.len()));
        };
        let malformed = || {
            Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the chunked request body is malformed",
            )))
        };
        let mut used = 0;
        while used < buf.len() {
            let rest = &buf[used..];
            match *at {
                Chunk::Data(left) => {
                    let want = rest.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    match send_some(up, cx, &rest[..want], false) {
                        Poll::Pending if used > 0 => return Poll::Ready(Ok(used)),
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Some(k)) => {
                            used += k;
                            *at = match left - k as u64 {
                                0 => Chunk::DataEnd,
                                l => Chunk::Data(l),
                            };
                        }
                        Poll::Ready(None) => {
                            self.send = Send::Done;
                            return Poll::Ready(Ok(buf.len()));
                        }
                    }
                }
                Chunk::Size | Chunk::DataEnd | Chunk::Trailers => {
                    let (k, complete) = match memchr::memchr(b'\n', rest) {
                        Some(lf) => (lf + 1, true),
                        None => (rest.len(), false),
                    };
                    line.extend_from_slice(&rest[..k]);
                    used += k;
                    if !complete {
                        if line.len() > MAX_LINE {
                            return malformed();
                        }
                        continue;
                    }
                    let text = line.trim_ascii_end();
                    match *at {
                        Chunk::Size => {
                            let digits = text
                                .iter()
                                .position(|c| !c.is_ascii_hexdigit())
                                .unwrap_or(text.len());
                            let Some(size) = std::str::from_utf8(&text[..digits])
                                .ok()
                                .and_then(|s| u64::from_str_radix(s, 16).ok())
                            else {
                                return malformed();
                            };
                            *at = if size == 0 {
                                Chunk::Trailers
                            } else {
                                Chunk::Data(size)
                            };
                        }
                        Chunk::DataEnd if text.is_empty() => *at = Chunk::Size,
                        Chunk::DataEnd => return malformed(),
                        _ if text.is_empty() => {
                            let t = std::mem::take(trailers);
                            // A failure here is the server's reset: its answer says more.
                            let _ = if t.is_empty() {
                                up.send_data(Bytes::new(), true)
                            } else {
                                up.send_trailers(t)
                            };
                            self.send = Send::Done;
                            return Poll::Ready(Ok(buf.len()));
                        }
                        _ => {
                            let Some(colon) = text.iter().position(|&c| c == b':') else {
                                return malformed();
                            };
                            let (Ok(n), Ok(v)) = (
                                HeaderName::from_bytes(&text[..colon]),
                                HeaderValue::from_bytes(text[colon + 1..].trim_ascii()),
                            ) else {
                                return malformed();
                            };
                            trailers.append(n, v);
                        }
                    }
                    line.clear();
                }
            }
        }
        Poll::Ready(Ok(used))
    }

    /// Advances the answer until bytes wait for the session or it ended.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            if !self.out.is_empty() || !self.data.is_empty() {
                return Poll::Ready(());
            }
            match &mut self.recv {
                Recv::NotSent | Recv::End => return Poll::Ready(()),
                Recv::Waiting {
                    response,
                    head_request,
                } => {
                    let r = match Pin::new(response).poll(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(r) => r,
                    };
                    let head_request = *head_request;
                    self.recv = match r {
                        Ok(resp) => {
                            let (parts, body) = resp.into_parts();
                            let end = body.is_end_stream();
                            match response_head(&parts, end, head_request, &mut self.out) {
                                Framing::None => Recv::End,
                                Framing::Length => Recv::Body {
                                    body,
                                    chunked: false,
                                    trailers: false,
                                },
                                Framing::Chunked => Recv::Body {
                                    body,
                                    chunked: true,
                                    trailers: false,
                                },
                            }
                        }
                        Err(e) => {
                            if is_refusal(&e) {
                                self.refused = true;
                            }
                            if e.is_go_away() {
                                self.slot.state.close();
                            }
                            Recv::End
                        }
                    };
                }
                Recv::Body {
                    body,
                    chunked,
                    trailers: false,
                } => match body.poll_data(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Some(Ok(data))) => {
                        if data.is_empty() {
                            continue;
                        }
                        // Credit goes back at once: at most this frame waits here.
                        let _ = body.flow_control().release_capacity(data.len());
                        if *chunked {
                            chunk_header(&mut self.out, data.len());
                            self.out.extend_from_slice(&data);
                            self.out.extend_from_slice(b"\r\n");
                        } else {
                            self.data = data;
                        }
                    }
                    // Cut short: the session sees the end before the body's.
                    Poll::Ready(Some(Err(_))) => self.recv = Recv::End,
                    Poll::Ready(None) => {
                        if let Recv::Body { trailers, .. } = &mut self.recv {
                            *trailers = true;
                        }
                    }
                },
                Recv::Body {
                    body,
                    chunked,
                    trailers: true,
                } => {
                    let trailers = match body.poll_trailers(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Ok(t)) => t,
                        // The body ended, then the server stopped the stream without error
                        // (it no longer wants the request, RFC 9113 §8.1): nothing is missing.
                        Poll::Ready(Err(e)) if e.reason() == Some(Reason::NO_ERROR) => None,
                        Poll::Ready(Err(_)) => {
                            self.recv = Recv::End;
                            continue;
                        }
                    };
                    // With a length there is nowhere to put trailers in HTTP/1.1: they are
                    // dropped, as haproxy drops them.
                    if *chunked {
                        self.out.extend_from_slice(b"0\r\n");
                        if let Some(t) = &trailers {
                            for (name, value) in t {
                                header(&mut self.out, name.as_str().as_bytes(), value.as_bytes());
                            }
                        }
                        self.out.extend_from_slice(b"\r\n");
                    }
                    self.recv = Recv::End;
                }
            }
        }
    }

    /// Gives the session all that is there, up to the room it has: the answer's head and
    /// the DATA that came with it in one read, so that the session forwards them in one
    /// write (one system call to an HTTP/1.1 client).
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let mut gave = false;
        loop {
            if self.poll_fill(cx).is_pending() {
                return if gave {
                    Poll::Ready(Ok(()))
                } else {
                    Poll::Pending
                };
            }
            if !self.out.is_empty() {
                let k = self.out.len().min(buf.remaining());
                buf.put_slice(&self.out[..k]);
                self.out.advance(k);
            } else if !self.data.is_empty() {
                let k = self.data.len().min(buf.remaining());
                buf.put_slice(&self.data[..k]);
                self.data.advance(k);
            } else {
                // The end of the answer.
                return Poll::Ready(Ok(()));
            }
            gave = true;
            if buf.remaining() == 0 {
                return Poll::Ready(Ok(()));
            }
        }
    }

    /// The request body stopped short (the session's client left): the server learns.
    fn cancel_unfinished_body(&mut self) {
        match &mut self.send {
            Send::Length { up, .. } | Send::Chunked { up, .. } => up.send_reset(Reason::CANCEL),
            Send::Head | Send::Done => {}
        }
        self.send = Send::Done;
    }
}

/// Sends up to `data.len()` bytes as the server's window allows: how many went, or `None`
/// when the stream no longer takes any (reset, or the connection failed).
fn send_some(
    up: &mut SendStream<Bytes>,
    cx: &mut Context<'_>,
    data: &[u8],
    end: bool,
) -> Poll<Option<usize>> {
    up.reserve_capacity(data.len());
    loop {
        match up.poll_capacity(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Some(Ok(0))) => continue,
            Poll::Ready(Some(Ok(granted))) => {
                let k = granted.min(data.len());
                let last = end && k == data.len();
                return Poll::Ready(
                    up.send_data(Bytes::copy_from_slice(&data[..k]), last)
                        .ok()
                        .map(|()| k),
                );
            }
            Poll::Ready(_) => return Poll::Ready(None),
        }
    }
}

fn chunk_header(out: &mut BytesMut, len: usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut digits = [0u8; 16];
    let mut i = digits.len();
    let mut n = len;
    loop {
        i -= 1;
        digits[i] = HEX[n & 15];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
    out.extend_from_slice(b"\r\n");
}

/// A refused stream (RFC 9113 §8.7): the server says it did not process it.
fn is_refusal(e: &h2::Error) -> bool {
    e.reason() == Some(Reason::REFUSED_STREAM) || (e.is_go_away() && e.is_remote())
}

/// The HTTP/2 request for the session's HTTP/1.1 head.
fn build_request(raw: &[u8], head: &RequestHead, target: &Target) -> Option<Request<()>> {
    let method = Method::from_bytes(head.method(raw)).ok()?;
    let uri = target_uri(head.uri(raw), head.header(raw, b"host"), target)?;
    let mut req = Request::new(());
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    *req.version_mut() = http::Version::HTTP_2;
    // Room for every field at once: the map does not grow field by field.
    *req.headers_mut() = HeaderMap::with_capacity(head.headers.len());
    let h = req.headers_mut();
    for f in &head.headers {
        let name = f.name.get(raw);
        let value = f.value.get(raw);
        // `te: trailers` is the one TE HTTP/2 carries (RFC 9113 §8.2.2); the session adds it
        // when the client sent it.
        let te_trailers = name.eq_ignore_ascii_case(b"te") && value == b"trailers";
        if !te_trailers
            && (CONNECTION_SPECIFIC
                .iter()
                .chain(&NOT_FORWARDED)
                .any(|c| c.eq_ignore_ascii_case(name))
                || http1::listed_in_connection(&head.headers, raw, name))
        {
            continue;
        }
        let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) else {
            return None;
        };
        h.append(n, v);
    }
    Some(req)
}

/// `http://host/path` as the request gave it, else the scheme, `Host` (or the server's
/// address) and the origin-form target.
fn target_uri(target_text: &[u8], host: Option<&[u8]>, target: &Target) -> Option<Uri> {
    if target_text.starts_with(b"http://") || target_text.starts_with(b"https://") {
        return Uri::try_from(target_text).ok();
    }
    let authority = match host {
        Some(h) => Authority::try_from(h).ok()?,
        None => Authority::try_from(target.addr.to_string()).ok()?,
    };
    let path = if target_text.is_empty() {
        PathAndQuery::from_static("/")
    } else {
        PathAndQuery::try_from(target_text).ok()?
    };
    Uri::builder()
        .scheme(target.scheme.clone())
        .authority(authority)
        .path_and_query(path)
        .build()
        .ok()
}

/// How the answer's body goes to the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    /// No body (the HEADERS frame ended the stream, or none is allowed).
    None,
    /// The server gave `content-length`: the bytes go as they are.
    Length,
    /// No length known: chunked, which also carries the server's trailers.
    Chunked,
}

/// Writes the HTTP/1.1 head of an HTTP/2 response and says how its body follows: as sent
/// when the server gave a length, else chunked (which carries trailers); a response that
/// ended with its HEADERS frame (a gRPC "trailers-only" answer) gets `content-length: 0`.
fn response_head(
    parts: &http::response::Parts,
    end_stream: bool,
    head_request: bool,
    out: &mut BytesMut,
) -> Framing {
    let status = parts.status.as_u16();
    // One allocation for the whole head (growing field by field reallocated three or four
    // times per answer).
    let fields: usize = parts
        .headers
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len() + 4)
        .sum();
    out.reserve(fields + 64);
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(parts.status.as_str().as_bytes());
    // HTTP/2 has no reason phrase; none is made up (haproxy sends none either).
    out.extend_from_slice(b" \r\n");
    for (name, value) in &parts.headers {
        header(out, name.as_str().as_bytes(), value.as_bytes());
    }
    let bodyless = head_request || status == 204 || status == 304 || (100..200).contains(&status);
    let has_length = parts.headers.contains_key(http::header::CONTENT_LENGTH);
    let framing = if bodyless || (end_stream && has_length) {
        Framing::None
    } else if end_stream {
        header(out, b"content-length", b"0");
        Framing::None
    } else if has_length {
        Framing::Length
    } else {
        header(out, b"transfer-encoding", b"chunked");
        Framing::Chunked
    };
    out.extend_from_slice(b"\r\n");
    framing
}

fn header(out: &mut BytesMut, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

impl AsyncRead for ServerStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.ex.borrow_mut().poll_read(cx, buf)
    }
}

fn lent() -> io::Error {
    io::Error::other("the writing direction of the server stream is lent out")
}

impl AsyncWrite for ServerStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.writer_lent {
            return Poll::Ready(Err(lent()));
        }
        self.ex.borrow_mut().poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for ServerWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.ex.borrow_mut().poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl Drop for ServerWriter {
    /// A lent writer let go before the body was whole: its task stopped (the client left).
    fn drop(&mut self) {
        if self.given_back {
            return;
        }
        if let Ok(mut ex) = self.ex.try_borrow_mut() {
            ex.cancel_unfinished_body();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target {
            scheme: Scheme::HTTP,
            addr: "10.0.0.1:8080".parse().unwrap(),
        }
    }

    #[test]
    fn origin_form_takes_host_else_the_server_address() {
        let u = target_uri(b"/a?b=1", Some(b"site.test"), &target()).unwrap();
        assert_eq!(u.to_string(), "http://site.test/a?b=1");
        let u = target_uri(b"/", None, &target()).unwrap();
        assert_eq!(u.to_string(), "http://10.0.0.1:8080/");
        let u = target_uri(b"https://x.test/p", Some(b"y.test"), &target()).unwrap();
        assert_eq!(u.to_string(), "https://x.test/p");
    }

    #[test]
    fn chunk_headers_are_lowercase_hex() {
        let mut out = BytesMut::new();
        chunk_header(&mut out, 0x1f40);
        chunk_header(&mut out, 1);
        assert_eq!(&out[..], b"1f40\r\n1\r\n");
    }

    #[test]
    fn response_framing_follows_the_server() {
        let parts = |b: http::response::Builder| b.body(()).unwrap().into_parts().0;
        let mut out = BytesMut::new();
        let p = parts(
            http::Response::builder()
                .status(200)
                .header("grpc-status", "5"),
        );
        assert_eq!(response_head(&p, true, false, &mut out), Framing::None);
        assert_eq!(
            String::from_utf8_lossy(&out),
            "HTTP/1.1 200 \r\ngrpc-status: 5\r\ncontent-length: 0\r\n\r\n"
        );
        out.clear();
        let p = parts(http::Response::builder().status(200));
        assert_eq!(response_head(&p, false, false, &mut out), Framing::Chunked);
        out.clear();
        let p = parts(
            http::Response::builder()
                .status(200)
                .header("content-length", "3"),
        );
        assert_eq!(response_head(&p, false, false, &mut out), Framing::Length);
        out.clear();
        let p = parts(http::Response::builder().status(204));
        assert_eq!(response_head(&p, true, false, &mut out), Framing::None);
        assert_eq!(String::from_utf8_lossy(&out), "HTTP/1.1 204 \r\n\r\n");
    }
}
