//! A request body the session wrote as HTTP/1.1 bytes, sent on an HTTP/2 server's stream
//! (`upstream`): unframed into DATA as the server's window allows, chunked trailers as a
//! trailing HEADERS frame.

use bytes::{Bytes, BytesMut};
use h2::SendStream;
use http::{HeaderMap, HeaderName, HeaderValue};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::StreamEnd;

/// How much is read from the pipe at once (the unit DATA frames are cut from).
const READ_CHUNK: usize = 16 * 1024;

/// Reads once more from the pipe into `buf`; 0 at its end.
async fn fill<R: AsyncRead + Unpin>(pipe: &mut R, buf: &mut BytesMut) -> Result<usize, StreamEnd> {
    buf.reserve(READ_CHUNK);
    pipe.read_buf(buf)
        .await
        .map_err(|_| StreamEnd::Session("the session's pipe failed"))
}

/// A body of `len` bytes, or up to the pipe's end when `None`.
pub(in crate::h2) async fn copy<R: AsyncRead + Unpin>(
    pipe: &mut R,
    buf: &mut BytesMut,
    stream: &mut SendStream<Bytes>,
    len: Option<u64>,
) -> Result<(), StreamEnd> {
    let mut left = len;
    loop {
        if buf.is_empty() && left != Some(0) && fill(pipe, buf).await? == 0 {
            if left.is_some() {
                return Err(StreamEnd::Session("the response body was cut short"));
            }
            return send(stream, Bytes::new(), true).await;
        }
        let take = match left {
            Some(l) => buf.len().min(usize::try_from(l).unwrap_or(usize::MAX)),
            None => buf.len(),
        };
        let data = buf.split_to(take).freeze();
        if let Some(l) = left.as_mut() {
            *l -= take as u64;
        }
        let end = left == Some(0);
        send(stream, data, end).await?;
        if end {
            return Ok(());
        }
    }
}

/// A chunked body: chunk payloads as DATA, the trailer section as trailers.
pub(in crate::h2) async fn unchunk<R: AsyncRead + Unpin>(
    pipe: &mut R,
    buf: &mut BytesMut,
    stream: &mut SendStream<Bytes>,
) -> Result<(), StreamEnd> {
    let cut = || StreamEnd::Session("the chunked response was cut short or malformed");
    loop {
        let line = read_line(pipe, buf).await?;
        let digits = line
            .iter()
            .position(|c| !c.is_ascii_hexdigit())
            .unwrap_or(line.len());
        let size = std::str::from_utf8(&line[..digits])
            .ok()
            .and_then(|s| u64::from_str_radix(s, 16).ok())
            .ok_or_else(cut)?;
        if size == 0 {
            break;
        }
        let mut left = size;
        while left > 0 {
            if buf.is_empty() && fill(pipe, buf).await? == 0 {
                return Err(cut());
            }
            let take = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            left -= take as u64;
            send(stream, buf.split_to(take).freeze(), false).await?;
        }
        if !read_line(pipe, buf).await?.is_empty() {
            return Err(cut());
        }
    }
    let mut trailers = HeaderMap::new();
    loop {
        let line = read_line(pipe, buf).await?;
        if line.is_empty() {
            break;
        }
        let colon = line.iter().position(|&c| c == b':').ok_or_else(cut)?;
        let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(&line[..colon]),
            HeaderValue::from_bytes(line[colon + 1..].trim_ascii()),
        ) else {
            return Err(cut());
        };
        trailers.append(n, v);
    }
    if trailers.is_empty() {
        send(stream, Bytes::new(), true).await
    } else {
        stream.send_trailers(trailers).map_err(StreamEnd::from)
    }
}

/// One line of chunked framing, CRLF removed (the session checked the framing already).
async fn read_line<R: AsyncRead + Unpin>(
    pipe: &mut R,
    buf: &mut BytesMut,
) -> Result<Bytes, StreamEnd> {
    loop {
        if let Some(lf) = memchr::memchr(b'\n', buf) {
            let mut line = buf.split_to(lf + 1).freeze();
            line.truncate(lf);
            if line.last() == Some(&b'\r') {
                line.truncate(lf - 1);
            }
            return Ok(line);
        }
        if buf.len() > READ_CHUNK || fill(pipe, buf).await? == 0 {
            return Err(StreamEnd::Session("the chunked response was cut short"));
        }
    }
}

/// Sends `data` as the client's window allows.
async fn send(stream: &mut SendStream<Bytes>, mut data: Bytes, end: bool) -> Result<(), StreamEnd> {
    if data.is_empty() {
        if end {
            stream.send_data(data, true)?;
        }
        return Ok(());
    }
    while !data.is_empty() {
        stream.reserve_capacity(data.len());
        let granted = std::future::poll_fn(|cx| stream.poll_capacity(cx))
            .await
            .ok_or(StreamEnd::Session("the stream closed"))??;
        if granted == 0 {
            continue;
        }
        let part = data.split_to(granted.min(data.len()));
        stream.send_data(part, end && data.is_empty())?;
    }
    Ok(())
}
