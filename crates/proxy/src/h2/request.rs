//! An HTTP/2 request as HTTP/1.1 bytes for the stream's session: the head (RFC 9113 §8.3.1
//! pseudo-headers to a request line and `Host`, cookie crumbs joined), then the body as it
//! arrives, with flow-control credit returned to the client as the pipe takes it.

use bytes::Bytes;
use h2::RecvStream;
use http::request::Parts;
use http::HeaderMap;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::StreamEnd;

/// How the body goes to the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// No body (the HEADERS frame ended the stream).
    None,
    /// The client gave `content-length`: the bytes go as they are.
    Length,
    /// No length known: chunked, which also carries the client's trailers.
    Chunked,
}

/// Writes the HTTP/1.1 head of `parts` into `out` and says how the body follows.
/// `end_stream`: the HEADERS frame carried END_STREAM.
pub fn head(parts: &Parts, end_stream: bool, out: &mut Vec<u8>) -> Framing {
    out.extend_from_slice(parts.method.as_str().as_bytes());
    out.push(b' ');
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    out.extend_from_slice(if target.is_empty() {
        b"/"
    } else {
        target.as_bytes()
    });
    out.extend_from_slice(b" HTTP/1.1\r\n");
    if !parts.headers.contains_key(http::header::HOST) {
        if let Some(a) = parts.uri.authority() {
            header(out, b"host", a.as_str().as_bytes());
        }
    }
    let mut cookies = parts
        .headers
        .get_all(http::header::COOKIE)
        .iter()
        .peekable();
    if cookies.peek().is_some() {
        // RFC 9113 §8.2.3: crumbs sent as separate fields become one header again.
        out.extend_from_slice(b"cookie: ");
        for (i, c) in cookies.enumerate() {
            if i > 0 {
                out.extend_from_slice(b"; ");
            }
            out.extend_from_slice(c.as_bytes());
        }
        out.extend_from_slice(b"\r\n");
    }
    for (name, value) in &parts.headers {
        if name == http::header::COOKIE {
            continue;
        }
        header(out, name.as_str().as_bytes(), value.as_bytes());
    }
    let framing = if end_stream {
        Framing::None
    } else if parts.headers.contains_key(http::header::CONTENT_LENGTH) {
        Framing::Length
    } else {
        Framing::Chunked
    };
    if framing == Framing::Chunked {
        header(out, b"transfer-encoding", b"chunked");
    }
    out.extend_from_slice(b"\r\n");
    framing
}

fn header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Copies the request body from the client to the pipe. The client's window is credited
/// only once the pipe took the bytes, so a slow server slows the client down.
pub async fn body<W: AsyncWrite + Unpin>(
    mut body: RecvStream,
    framing: Framing,
    pipe: &mut W,
) -> Result<(), StreamEnd> {
    if framing == Framing::None {
        return Ok(());
    }
    let mut line = Vec::new();
    while let Some(data) = body.data().await {
        let data: Bytes = data?;
        if data.is_empty() {
            continue;
        }
        if framing == Framing::Chunked {
            line.clear();
            line.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
            write(pipe, &line).await?;
            write(pipe, &data).await?;
            write(pipe, b"\r\n").await?;
        } else {
            write(pipe, &data).await?;
        }
        // Fails only for a stream the peer already reset (after sending everything, as a
        // server that answered early may): there is no window to return then.
        let _ = body.flow_control().release_capacity(data.len());
    }
    let trailers = match body.trailers().await {
        Ok(t) => t,
        // The body ended, then the peer stopped the stream without error (a server that
        // answered and no longer wants the request, RFC 9113 §8.1): nothing is missing.
        Err(e) if e.reason() == Some(h2::Reason::NO_ERROR) => None,
        Err(e) => return Err(e.into()),
    };
    if framing == Framing::Chunked {
        line.clear();
        line.extend_from_slice(b"0\r\n");
        if let Some(t) = &trailers {
            trailer_block(t, &mut line);
        }
        line.extend_from_slice(b"\r\n");
        write(pipe, &line).await?;
    }
    // With a content-length there is nowhere to put trailers in HTTP/1.1: they are dropped,
    // as haproxy drops them.
    Ok(())
}

fn trailer_block(t: &HeaderMap, out: &mut Vec<u8>) {
    for (name, value) in t {
        header(out, name.as_str().as_bytes(), value.as_bytes());
    }
}

async fn write<W: AsyncWrite + Unpin>(pipe: &mut W, b: &[u8]) -> Result<(), StreamEnd> {
    pipe.write_all(b)
        .await
        .map_err(|_| StreamEnd::Session("the session stopped reading the request"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(req: http::Request<()>) -> Parts {
        req.into_parts().0
    }

    #[test]
    fn pseudo_headers_become_a_request_line_and_host() {
        let p = parts(
            http::Request::post("https://example.test/a/b?c=1")
                .header("x-one", "1")
                .header("cookie", "a=1")
                .header("cookie", "b=2")
                .body(())
                .unwrap(),
        );
        let mut out = Vec::new();
        assert_eq!(head(&p, false, &mut out), Framing::Chunked);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "POST /a/b?c=1 HTTP/1.1\r\nhost: example.test\r\ncookie: a=1; b=2\r\n\
             x-one: 1\r\ntransfer-encoding: chunked\r\n\r\n"
        );
    }

    #[test]
    fn a_host_header_wins_and_a_length_is_kept() {
        let p = parts(
            http::Request::put("http://a.test/")
                .header("host", "b.test")
                .header("content-length", "3")
                .body(())
                .unwrap(),
        );
        let mut out = Vec::new();
        assert_eq!(head(&p, false, &mut out), Framing::Length);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "PUT / HTTP/1.1\r\nhost: b.test\r\ncontent-length: 3\r\n\r\n"
        );
        let mut out = Vec::new();
        assert_eq!(head(&p, true, &mut out), Framing::None);
    }
}
