//! The session's HTTP/1.1 answer, as it writes it, turned into frames in place: the head
//! into a HEADERS frame (interim 1xx answers into HEADERS frames of their own, connection-specific fields left out,
//! RFC 9113 §8.2.2), the body into DATA frames as far as the flow-control windows allow
//! (the rest is not taken, so the session waits, and with it the server), chunked framing
//! removed and its trailer section sent as a trailing HEADERS frame. Every frame goes
//! straight into the connection's output buffer: no copy of the answer is kept.

use super::super::{frame, hpack, CONNECTION_SPECIFIC};
use crate::http1::{listed_in_connection, BodyKind, Parsed, ResponseHead};

/// The longest chunk-size or trailer line accepted.
const MAX_LINE: usize = 8 * 1024;

/// Where the conversion of one answer stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Head,
    Length(u64),
    UntilClose,
    ChunkSize,
    ChunkData(u64),
    ChunkEnd,
    Trailers,
    Done,
}

/// Why the session's bytes could not be taken.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// The flow-control windows are closed: try again after a WINDOW_UPDATE.
    Blocked,
    /// The answer cannot be carried (unreadable head, bad chunking, a head too large).
    Invalid,
}

/// What one stream's answer is written against.
pub struct Target<'a> {
    pub out: &'a mut Vec<u8>,
    pub stream: u32,
    pub conn_window: &'a mut i64,
    pub stream_window: &'a mut i64,
    pub max_frame: usize,
    pub head_request: bool,
    pub max_head: usize,
}

/// One slot's converter, reused from stream to stream.
pub struct Converter {
    phase: Phase,
    /// A head, chunk-size line or trailer section split across writes.
    pending: Vec<u8>,
    /// The HPACK block being built.
    block: Vec<u8>,
    head: ResponseHead,
    /// The head the session announced it is about to write (see [`Converter::announce`]),
    /// its HPACK block already in `block`.
    announced: Announced,
    /// A HEADERS frame went out (the answer began).
    pub began: bool,
}

/// A head announced by the session: its text, to recognise it by, and what parsing it would
/// have told.
#[derive(Default)]
struct Announced {
    live: bool,
    text: Vec<u8>,
    status: u16,
    body: BodyKind,
}

impl Default for Converter {
    fn default() -> Converter {
        Converter {
            phase: Phase::Head,
            pending: Vec::new(),
            block: Vec::new(),
            head: ResponseHead::default(),
            announced: Announced::default(),
            began: false,
        }
    }
}

impl Converter {
    /// Ready for the next stream's answer.
    pub fn reset(&mut self) {
        self.phase = Phase::Head;
        self.pending.clear();
        self.block.clear();
        self.announced.live = false;
        self.began = false;
    }

    /// The session is about to write `text`, the head of a final answer it built from
    /// `status`, `body` and `fields`: the HPACK block is made from those, so that the text
    /// need not be parsed again when it comes. A write that does not begin with `text` is
    /// parsed as usual.
    pub fn announce<'a>(
        &mut self,
        text: &[u8],
        status: u16,
        body: BodyKind,
        fields: impl Iterator<Item = (&'a [u8], &'a [u8])>,
    ) {
        if self.phase != Phase::Head || !self.pending.is_empty() || (100..200).contains(&status) {
            return;
        }
        let a = &mut self.announced;
        a.live = true;
        a.text.clear();
        a.text.extend_from_slice(text);
        a.status = status;
        a.body = body;
        answer_block(&mut self.block, status, fields);
    }

    /// The head of a final answer, given as its parts instead of as text: its HEADERS frame
    /// goes out now. False (nothing done) where the answer has begun already or the status is
    /// interim; the session then writes the head as text. Gives the octets it added to the
    /// connection's output.
    pub fn give_head<'a>(
        &mut self,
        status: u16,
        body: BodyKind,
        fields: impl Iterator<Item = (&'a [u8], &'a [u8])>,
        t: &mut Target<'_>,
    ) -> Option<usize> {
        if self.phase != Phase::Head || !self.pending.is_empty() || (100..200).contains(&status) {
            return None;
        }
        self.announced.live = false;
        answer_block(&mut self.block, status, fields);
        let before = t.out.len();
        self.final_head(body, t);
        Some(t.out.len() - before)
    }

    /// Whether END_STREAM went out.
    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// Takes as much of `input` as can go out now; returns how much was taken. Zero with
    /// `Blocked` means nothing could be taken (the windows are closed).
    pub fn write(&mut self, input: &[u8], t: &mut Target<'_>) -> Result<usize, Refused> {
        let mut at = 0;
        while at < input.len() {
            let rest = &input[at..];
            let taken = match self.phase {
                Phase::Head => self.head(rest, t)?,
                Phase::Length(left) => {
                    let n = rest.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    let sent = data(&rest[..n], left == n as u64, t);
                    if sent == 0 {
                        return stalled(at);
                    }
                    let left = left - sent as u64;
                    self.phase = if left == 0 {
                        Phase::Done
                    } else {
                        Phase::Length(left)
                    };
                    sent
                }
                Phase::UntilClose => {
                    let sent = data(rest, false, t);
                    if sent == 0 {
                        return stalled(at);
                    }
                    sent
                }
                Phase::ChunkSize => match self.line(rest)? {
                    (n, None) => n,
                    (n, Some(())) => {
                        let size = chunk_size(&self.pending).ok_or(Refused::Invalid)?;
                        self.pending.clear();
                        self.phase = if size == 0 {
                            Phase::Trailers
                        } else {
                            Phase::ChunkData(size)
                        };
                        n
                    }
                },
                Phase::ChunkData(left) => {
                    let n = rest.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    let sent = data(&rest[..n], false, t);
                    if sent == 0 {
                        return stalled(at);
                    }
                    let left = left - sent as u64;
                    self.phase = if left == 0 {
                        Phase::ChunkEnd
                    } else {
                        Phase::ChunkData(left)
                    };
                    sent
                }
                Phase::ChunkEnd => match self.line(rest)? {
                    (n, None) => n,
                    (n, Some(())) => {
                        if !self.pending.is_empty() {
                            return Err(Refused::Invalid);
                        }
                        self.phase = Phase::ChunkSize;
                        n
                    }
                },
                Phase::Trailers => self.trailers(rest, t)?,
                // Bytes after the end of the answer have nowhere to go.
                Phase::Done => rest.len(),
            };
            at += taken;
        }
        Ok(at)
    }

    /// The session ended: whether the answer was complete (END_STREAM sent now for one
    /// delimited by the close).
    pub fn finish(&mut self, t: &mut Target<'_>) -> bool {
        match self.phase {
            Phase::Done => true,
            Phase::UntilClose => {
                frame::data(t.out, t.stream, &[], true, t.max_frame);
                self.phase = Phase::Done;
                true
            }
            _ => false,
        }
    }

    fn head(&mut self, rest: &[u8], t: &mut Target<'_>) -> Result<usize, Refused> {
        if std::mem::take(&mut self.announced.live)
            && self.pending.is_empty()
            && rest.starts_with(&self.announced.text)
        {
            debug_assert!(self.announced_as_parsed(t.head_request));
            self.final_head(self.announced.body, t);
            return Ok(self.announced.text.len());
        }
        // Most heads come whole in one write: parsed where they are.
        let (parsed, from_pending) = if self.pending.is_empty() {
            (self.head.parse(rest, t.head_request), false)
        } else {
            (Ok(Parsed::Partial), true)
        };
        let (n, buf_is_rest) = match parsed {
            Ok(Parsed::Complete(n)) if !from_pending => (n, true),
            Ok(Parsed::Partial) | Ok(Parsed::Complete(_)) => {
                let before = self.pending.len();
                self.pending.extend_from_slice(rest);
                match self.head.parse(&self.pending, t.head_request) {
                    Ok(Parsed::Complete(n)) => (n.saturating_sub(before), false),
                    Ok(Parsed::Partial) if self.pending.len() <= t.max_head => {
                        return Ok(rest.len())
                    }
                    _ => return Err(Refused::Invalid),
                }
            }
            Err(_) => return Err(Refused::Invalid),
        };
        let taken = n;
        let raw: &[u8] = if buf_is_rest {
            &rest[..n]
        } else {
            &self.pending[..]
        };
        let interim = (100..200).contains(&self.head.status);
        // 101 cannot happen: HTTP/2 has no upgrade, and none is asked of the server.
        if self.head.status == 101 {
            return Err(Refused::Invalid);
        }
        answer_block(
            &mut self.block,
            self.head.status,
            parsed_fields(&self.head, raw),
        );
        if interim {
            // An interim answer (100 Continue, 103 Early Hints) is a HEADERS frame of its own
            // before the final one (RFC 9113 §8.1); the answer has not begun: an error now
            // can still be answered with a status.
            frame::headers(t.out, t.stream, &self.block, false, t.max_frame);
            self.pending.clear();
            return Ok(taken);
        }
        self.pending.clear();
        self.final_head(self.head.body, t);
        Ok(taken)
    }

    /// The HEADERS frame of the final answer, from `block`; the body is read as `body` says.
    fn final_head(&mut self, body: BodyKind, t: &mut Target<'_>) {
        let end = matches!(body, BodyKind::None | BodyKind::Length(0));
        frame::headers(t.out, t.stream, &self.block, end, t.max_frame);
        self.began = true;
        self.phase = match body {
            BodyKind::None | BodyKind::Length(0) => Phase::Done,
            BodyKind::Length(n) => Phase::Length(n),
            BodyKind::Chunked => Phase::ChunkSize,
            BodyKind::UntilClose => Phase::UntilClose,
        };
    }

    /// Whether parsing the announced text tells what the session announced (checked in
    /// debug builds, so that every test of HTTP/2 clients checks the shortcut).
    fn announced_as_parsed(&self, head_request: bool) -> bool {
        let a = &self.announced;
        let mut head = ResponseHead::default();
        let mut block = Vec::new();
        let parsed = matches!(head.parse(&a.text, head_request), Ok(Parsed::Complete(n)) if n == a.text.len());
        if parsed {
            answer_block(&mut block, head.status, parsed_fields(&head, &a.text));
        }
        parsed && head.status == a.status && head.body == a.body && block == self.block
    }

    /// Collects a line into `pending`, CRLF or LF removed; `Some` once it is whole.
    fn line(&mut self, rest: &[u8]) -> Result<(usize, Option<()>), Refused> {
        match memchr::memchr(b'\n', rest) {
            Some(lf) => {
                self.pending.extend_from_slice(&rest[..lf]);
                if self.pending.last() == Some(&b'\r') {
                    self.pending.pop();
                }
                Ok((lf + 1, Some(())))
            }
            None if self.pending.len() + rest.len() <= MAX_LINE => {
                self.pending.extend_from_slice(rest);
                Ok((rest.len(), None))
            }
            None => Err(Refused::Invalid),
        }
    }

    /// The trailer section, up to its empty line, then END_STREAM (with the trailers as a
    /// HEADERS frame when there are any).
    fn trailers(&mut self, rest: &[u8], t: &mut Target<'_>) -> Result<usize, Refused> {
        // `pending` keeps whole lines (each ended by "\n") and the start of the next.
        let mut at = 0;
        while at < rest.len() {
            let Some(lf) = memchr::memchr(b'\n', &rest[at..]) else {
                if self.pending.len() + rest.len() - at > MAX_LINE {
                    return Err(Refused::Invalid);
                }
                self.pending.extend_from_slice(&rest[at..]);
                return Ok(rest.len());
            };
            let line_start = self
                .pending
                .iter()
                .rposition(|&c| c == b'\n')
                .map_or(0, |p| p + 1);
            let started = &self.pending[line_start..];
            let line_empty = if started.is_empty() {
                trim_cr(&rest[at..at + lf]).is_empty()
            } else {
                lf == 0 && started == b"\r"
            };
            self.pending.extend_from_slice(&rest[at..at + lf + 1]);
            at += lf + 1;
            if !line_empty {
                if self.pending.len() > MAX_LINE {
                    return Err(Refused::Invalid);
                }
                continue;
            }
            // The empty line: the trailer section is whole.
            self.block.clear();
            for line in self.pending.split(|&c| c == b'\n') {
                let line = trim_cr(line);
                if line.is_empty() {
                    continue;
                }
                let colon = memchr::memchr(b':', line).ok_or(Refused::Invalid)?;
                let name = &line[..colon];
                if CONNECTION_SPECIFIC
                    .iter()
                    .any(|c| c.eq_ignore_ascii_case(name))
                {
                    continue;
                }
                hpack::field(&mut self.block, name, line[colon + 1..].trim_ascii());
            }
            if self.block.is_empty() {
                frame::data(t.out, t.stream, &[], true, t.max_frame);
            } else {
                frame::headers(t.out, t.stream, &self.block, true, t.max_frame);
            }
            self.pending.clear();
            self.phase = Phase::Done;
            return Ok(at);
        }
        Ok(at)
    }
}

/// An answer head's HPACK block into `block` (cleared first): `:status`, then the fields
/// HTTP/2 can carry (connection-specific ones left out, RFC 9113 §8.2.2).
fn answer_block<'a>(
    block: &mut Vec<u8>,
    status: u16,
    fields: impl Iterator<Item = (&'a [u8], &'a [u8])>,
) {
    block.clear();
    hpack::status(block, status);
    for (name, value) in fields {
        if !CONNECTION_SPECIFIC
            .iter()
            .any(|c| c.eq_ignore_ascii_case(name))
        {
            hpack::field(block, name, value);
        }
    }
}

/// The fields of a parsed answer head in `raw`, without those its `Connection` header lists.
fn parsed_fields<'a>(
    head: &'a ResponseHead,
    raw: &'a [u8],
) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
    head.headers
        .iter()
        .map(move |f| (f.name.get(raw), f.value.get(raw)))
        .filter(move |&(name, _)| !listed_in_connection(&head.headers, raw, name))
}

fn stalled(at: usize) -> Result<usize, Refused> {
    if at == 0 {
        Err(Refused::Blocked)
    } else {
        Ok(at)
    }
}

fn trim_cr(l: &[u8]) -> &[u8] {
    l.strip_suffix(b"\r").unwrap_or(l)
}

/// A chunk-size line's size (extensions after `;` ignored).
fn chunk_size(line: &[u8]) -> Option<u64> {
    let digits = line
        .iter()
        .position(|c| !c.is_ascii_hexdigit())
        .unwrap_or(line.len());
    if digits == 0 || digits > 15 {
        return None;
    }
    let s = std::str::from_utf8(&line[..digits]).ok()?;
    u64::from_str_radix(s, 16).ok()
}

/// Sends as much of `bytes` as the windows allow as DATA (END_STREAM on the last when `end`
/// and all of it went); returns how much went.
fn data(bytes: &[u8], end: bool, t: &mut Target<'_>) -> usize {
    if bytes.is_empty() {
        if end {
            frame::data(t.out, t.stream, &[], true, t.max_frame);
        }
        return 0;
    }
    let allowed = (*t.conn_window).min(*t.stream_window).max(0);
    let n = bytes
        .len()
        .min(usize::try_from(allowed).unwrap_or(usize::MAX));
    if n == 0 {
        return 0;
    }
    frame::data(
        t.out,
        t.stream,
        &bytes[..n],
        end && n == bytes.len(),
        t.max_frame,
    );
    *t.conn_window -= n as i64;
    *t.stream_window -= n as i64;
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::h2::frame::Head;

    struct Sink {
        out: Vec<u8>,
        conn: i64,
        stream: i64,
    }

    impl Sink {
        fn new(window: i64) -> Sink {
            Sink {
                out: Vec::new(),
                conn: window,
                stream: window,
            }
        }
        fn write(&mut self, c: &mut Converter, b: &[u8]) -> Result<usize, Refused> {
            let mut t = Target {
                out: &mut self.out,
                stream: 1,
                conn_window: &mut self.conn,
                stream_window: &mut self.stream,
                max_frame: 16_384,
                head_request: false,
                max_head: 16_384,
            };
            c.write(b, &mut t)
        }
        /// (type, flags, payload) of each frame written.
        fn frames(&self) -> Vec<(u8, u8, Vec<u8>)> {
            let mut at = 0;
            let mut v = Vec::new();
            while at < self.out.len() {
                let h = Head::parse(self.out[at..at + 9].try_into().unwrap());
                v.push((h.ty, h.flags, self.out[at + 9..at + 9 + h.len].to_vec()));
                at += 9 + h.len;
            }
            v
        }
    }

    fn decode(block: &[u8]) -> Vec<(String, String)> {
        let mut d = hpack::Decoder::new(4096);
        let mut v = Vec::new();
        d.decode(block, |n, val| {
            v.push((
                String::from_utf8_lossy(n).into_owned(),
                String::from_utf8_lossy(val).into_owned(),
            ))
        })
        .unwrap();
        v
    }

    #[test]
    fn a_head_and_body_in_one_write_become_headers_and_data() {
        let mut c = Converter::default();
        let mut s = Sink::new(65_535);
        let r =
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\nX-A: 1\r\n\r\nhi";
        assert_eq!(s.write(&mut c, r), Ok(r.len()));
        let f = s.frames();
        assert_eq!(f.len(), 2);
        assert_eq!((f[0].0, f[0].1), (frame::HEADERS, frame::END_HEADERS));
        assert_eq!(
            decode(&f[0].2),
            [
                (":status".into(), "200".into()),
                ("content-length".into(), "2".into()),
                ("x-a".into(), "1".into())
            ]
        );
        assert_eq!(f[1], (frame::DATA, frame::END_STREAM, b"hi".to_vec()));
        assert!(c.is_done());
    }

    #[test]
    fn a_split_head_interim_answers_and_chunked_trailers() {
        let mut c = Converter::default();
        let mut s = Sink::new(65_535);
        let all = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n1\r\nd\r\n0\r\nX-Trailer: a\r\nX-Two: b\r\n\r\n";
        // One byte at a time: every state split everywhere.
        for b in all.chunks(1) {
            assert_eq!(s.write(&mut c, b), Ok(1));
        }
        let f = s.frames();
        // The interim answer is a HEADERS frame of its own, without END_STREAM.
        assert_eq!((f[0].0, f[0].1), (frame::HEADERS, frame::END_HEADERS));
        assert_eq!(decode(&f[0].2), [(":status".into(), "100".into())]);
        assert_eq!(decode(&f[1].2), [(":status".into(), "200".into())]);
        let body: Vec<u8> = f[2..f.len() - 1]
            .iter()
            .inspect(|d| assert_eq!((d.0, d.1), (frame::DATA, 0)))
            .flat_map(|d| d.2.clone())
            .collect();
        assert_eq!(body, b"abcd");
        let last = &f[f.len() - 1];
        assert_eq!(
            (last.0, last.1),
            (frame::HEADERS, frame::END_STREAM | frame::END_HEADERS)
        );
        assert_eq!(
            decode(&last.2),
            [
                ("x-trailer".into(), "a".into()),
                ("x-two".into(), "b".into())
            ]
        );
        assert!(c.is_done());
    }

    #[test]
    fn an_interim_answer_alone_leaves_the_answer_unbegun() {
        let mut c = Converter::default();
        let mut s = Sink::new(65_535);
        let r = b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\nConnection: x\r\n\r\n";
        assert_eq!(s.write(&mut c, r), Ok(r.len()));
        assert!(
            !c.began,
            "a failure now can still be answered with a status"
        );
        let f = s.frames();
        assert_eq!(f.len(), 1);
        assert_eq!(
            decode(&f[0].2),
            [
                (":status".into(), "103".into()),
                ("link".into(), "</s.css>; rel=preload".into())
            ]
        );
    }

    #[test]
    fn a_chunked_body_without_trailers_ends_with_empty_data() {
        let mut c = Converter::default();
        let mut s = Sink::new(65_535);
        let r = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n";
        assert_eq!(s.write(&mut c, r), Ok(r.len()));
        let f = s.frames();
        assert_eq!(
            f.last().unwrap(),
            &(frame::DATA, frame::END_STREAM, Vec::new())
        );
    }

    #[test]
    fn the_windows_bound_what_is_taken() {
        let mut c = Converter::default();
        let mut s = Sink::new(3);
        let r = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabcde";
        assert_eq!(s.write(&mut c, r), Ok(r.len() - 2));
        assert_eq!(s.write(&mut c, b"de"), Err(Refused::Blocked));
        s.conn = 10;
        s.stream = 10;
        assert_eq!(s.write(&mut c, b"de"), Ok(2));
        let f = s.frames();
        assert_eq!(f[1], (frame::DATA, 0, b"abc".to_vec()));
        assert_eq!(f[2], (frame::DATA, frame::END_STREAM, b"de".to_vec()));
    }

    #[test]
    fn a_body_until_close_ends_when_the_session_does() {
        let mut c = Converter::default();
        let mut s = Sink::new(65_535);
        let r = b"HTTP/1.0 200 OK\r\n\r\nsome";
        assert_eq!(s.write(&mut c, r), Ok(r.len()));
        let mut t = Target {
            out: &mut s.out,
            stream: 1,
            conn_window: &mut s.conn,
            stream_window: &mut s.stream,
            max_frame: 16_384,
            head_request: false,
            max_head: 16_384,
        };
        assert!(c.finish(&mut t));
        assert_eq!(
            s.frames().last().unwrap(),
            &(frame::DATA, frame::END_STREAM, Vec::new())
        );
    }

    #[test]
    fn bad_chunking_is_refused() {
        let mut c = Converter::default();
        let mut s = Sink::new(65_535);
        let r = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
        assert_eq!(s.write(&mut c, r), Err(Refused::Invalid));
    }
}
