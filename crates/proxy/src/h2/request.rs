//! An HTTP/2 server's answer body (h2's `RecvStream`) as HTTP/1.1 bytes on the session's pipe
//! (`upstream`): as it arrives, chunked where no length was given (with the trailers), with
//! flow-control credit returned to the server as the pipe takes it.

use bytes::Bytes;
use h2::RecvStream;
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
