//! One request to an HTTP/2 server: the session's HTTP/1.1 request, read from the stream's
//! pipe, goes out as an HTTP/2 stream (request line and `Host` to pseudo-headers, the body
//! as DATA as the server's window allows, chunked trailers as trailers); the server's answer
//! comes back into the pipe as HTTP/1.1 (trailers as a chunked trailer section).

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use bytes::BytesMut;
use h2::Reason;
use http::header::{HeaderName, HeaderValue};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Method, Request, Uri};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, DuplexStream};

use super::pool::Slot;
use crate::h2::request::Framing;
use crate::h2::{request, response, StreamEnd};
use crate::http1::{self, BodyKind, Parsed, RequestHead};

/// How much is read from the pipe at once.
const READ_CHUNK: usize = 16 * 1024;

/// Fields of an HTTP/1.1 request that HTTP/2 does not carry (RFC 9113 §8.2.2), or that
/// become pseudo-headers (`host`), or that dermaga answers itself (`expect`).
const NOT_FORWARDED: [&[u8]; 8] = [
    b"connection",
    b"keep-alive",
    b"proxy-connection",
    b"transfer-encoding",
    b"upgrade",
    b"te",
    b"host",
    b"expect",
];

/// Where requests go: the scheme, and the address that names the authority when the
/// request has no `Host`.
pub struct Target {
    pub scheme: Scheme,
    pub addr: std::net::SocketAddr,
}

/// Runs one exchange over `slot`. `refused` is set when the server did not process the
/// request (REFUSED_STREAM, a GOAWAY below its stream, or a connection that was already
/// gone): the session may then retry it elsewhere, as a connection failure.
pub async fn run(
    slot: Slot,
    pipe: DuplexStream,
    target: &Target,
    max_head: usize,
    refused: &AtomicBool,
) {
    let (mut rd, mut wr) = tokio::io::split(pipe);
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    let Some((req, body, head_request, expect)) =
        read_request(&mut rd, &mut buf, target, max_head).await
    else {
        return;
    };
    let mut send = slot.send.clone();
    let sent = match std::future::poll_fn(|cx| send.poll_ready(cx)).await {
        Ok(()) => send.send_request(req, body == BodyKind::None),
        Err(e) => Err(e),
    };
    let (response, mut up) = match sent {
        Ok(s) => s,
        Err(_) => {
            // The connection is gone (the server closed it while idle, or a GOAWAY): the
            // request never left.
            slot.state.close();
            refused.store(true, Relaxed);
            return;
        }
    };
    if expect
        && wr
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .await
            .is_err()
    {
        return;
    }
    let upload = async {
        let r = match body {
            BodyKind::Length(n) => response::copy(&mut rd, &mut buf, &mut up, Some(n)).await,
            BodyKind::Chunked => response::unchunk(&mut rd, &mut buf, &mut up).await,
            _ => Ok(()),
        };
        if let Err(StreamEnd::Session(_)) = r {
            // The session stopped short of the body (its client left): the server learns.
            up.send_reset(Reason::CANCEL);
        }
        // What the server did not take (it may answer, then stop the upload with RST_STREAM
        // NO_ERROR, RFC 9113 §8.1) is read and dropped, so that a session still sending the
        // body reaches the answer; this ends when the session lets the pipe go.
        drain(&mut rd, &mut buf).await;
    };
    // True when the whole answer is in the pipe.
    let download = async {
        let resp = match response.await {
            Ok(r) => r,
            Err(e) => {
                if is_refusal(&e) {
                    refused.store(true, Relaxed);
                }
                if e.is_go_away() {
                    slot.state.close();
                }
                return false;
            }
        };
        let (parts, recv) = resp.into_parts();
        let mut head = Vec::with_capacity(512);
        let framing = response_head(&parts, recv.is_end_stream(), head_request, &mut head);
        wr.write_all(&head).await.is_ok() && request::body(recv, framing, &mut wr).await.is_ok()
    };
    tokio::pin!(upload);
    tokio::select! {
        // The session let the pipe go: nothing is waited for any longer (an unfinished
        // stream is reset as it is dropped).
        _ = &mut upload => {}
        // The whole answer is in the pipe: the pipe stays until the session is done with
        // it. Without one, the pipe closes now and the session sees what it got.
        whole = download => {
            if whole {
                upload.await;
            }
        }
    }
}

/// Reads and drops what comes from `pipe` until its end.
async fn drain<R: AsyncRead + Unpin>(pipe: &mut R, buf: &mut BytesMut) {
    loop {
        buf.clear();
        buf.reserve(READ_CHUNK);
        match pipe.read_buf(buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// A refused stream (RFC 9113 §8.7): the server says it did not process it.
fn is_refusal(e: &h2::Error) -> bool {
    e.reason() == Some(Reason::REFUSED_STREAM) || (e.is_go_away() && e.is_remote())
}

/// Reads the session's request head from the pipe; gives the HTTP/2 request, how its body
/// follows, whether it is a HEAD request and whether it expects `100 Continue`.
async fn read_request<R: AsyncRead + Unpin>(
    pipe: &mut R,
    buf: &mut BytesMut,
    target: &Target,
    max_head: usize,
) -> Option<(Request<()>, BodyKind, bool, bool)> {
    let mut head = RequestHead::default();
    let n = loop {
        if !buf.is_empty() {
            match head.parse(buf) {
                Ok(Parsed::Complete(n)) => break n,
                Ok(Parsed::Partial) if buf.len() < max_head => {}
                _ => return None,
            }
        }
        buf.reserve(READ_CHUNK);
        if pipe.read_buf(buf).await.ok()? == 0 {
            return None;
        }
    };
    let raw = buf.split_to(n);
    let method = Method::from_bytes(head.method(&raw)).ok()?;
    let uri = target_uri(head.uri(&raw), head.header(&raw, b"host"), target)?;
    let mut req = Request::new(());
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    *req.version_mut() = http::Version::HTTP_2;
    let h = req.headers_mut();
    for f in &head.headers {
        let name = f.name.get(&raw);
        let value = f.value.get(&raw);
        // `te: trailers` is the one TE HTTP/2 carries (RFC 9113 §8.2.2); the session adds it
        // when the client sent it.
        let te_trailers = name.eq_ignore_ascii_case(b"te") && value == b"trailers";
        if !te_trailers
            && (NOT_FORWARDED.iter().any(|c| c.eq_ignore_ascii_case(name))
                || http1::listed_in_connection(&head.headers, &raw, name))
        {
            continue;
        }
        let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) else {
            return None;
        };
        h.append(n, v);
    }
    let is_head = req.method() == Method::HEAD;
    Some((req, head.body, is_head, head.expect_continue))
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

/// Writes the HTTP/1.1 head of an HTTP/2 response and says how its body follows: as sent
/// when the server gave a length, else chunked (which carries trailers); a response that
/// ended with its HEADERS frame (a gRPC "trailers-only" answer) gets `content-length: 0`.
fn response_head(
    parts: &http::response::Parts,
    end_stream: bool,
    head_request: bool,
    out: &mut Vec<u8>,
) -> Framing {
    let status = parts.status.as_u16();
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

fn header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
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
    fn response_framing_follows_the_server() {
        let parts = |b: http::response::Builder| b.body(()).unwrap().into_parts().0;
        let mut out = Vec::new();
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
