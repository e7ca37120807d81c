//! A client's request header block as the HTTP/1.1 head the session parses: pseudo-header
//! fields to a request line and `Host` (RFC 9113 §8.3.1), cookie crumbs joined (§8.2.3),
//! `transfer-encoding: chunked` where a body comes without a length. HTTP/1.1 text is the
//! session's internal form here (as HTX is haproxy's), so the fields are checked against
//! what would change its meaning: malformed requests (§8.1.1) never reach the session.

use std::ops::Range;

use super::super::CONNECTION_SPECIFIC;
use crate::http1::{self, BodyKind, HeaderSpan, RequestHead, Span};

/// How the request body follows the head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// The HEADERS frame ended the stream.
    None,
    /// `content-length` given: DATA goes as it is, and must add up to it.
    Length(u64),
    /// No length: chunked, which also carries trailers.
    Chunked,
}

/// What a header block said.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Request {
        framing: Framing,
        is_head: bool,
    },
    /// CONNECT (answered 501: not supported).
    Connect,
    /// Larger than SETTINGS_MAX_HEADER_LIST_SIZE: answered 431.
    TooLarge,
    /// Malformed (RFC 9113 §8.1.1): the stream is reset with PROTOCOL_ERROR.
    Malformed,
}

/// The connection's reusable scratch for building heads.
#[derive(Default)]
pub struct HeadBuilder {
    method: Range<usize>,
    path: Range<usize>,
    authority: Option<Range<usize>>,
    scheme: bool,
    /// Pseudo-header values, back to back.
    pseudo: Vec<u8>,
    /// Regular fields as `name: value\r\n`.
    fields: Vec<u8>,
    /// Where each line of `fields` has its name and value (offsets into `fields`).
    field_spans: Vec<HeaderSpan>,
    /// The head the text will be can also be given parsed (see `finish`): nothing in it
    /// needs the HTTP/1 parser's judgement (no length, `host` or `expect` field, no value
    /// that parser would trim or refuse).
    simple: bool,
    cookie: Vec<u8>,
    content_length: Option<u64>,
    has_host: bool,
    regular_seen: bool,
    size: usize,
    bad: bool,
}

impl HeadBuilder {
    /// Starts a new request header block.
    pub fn start(&mut self) {
        self.method = 0..0;
        self.path = 0..0;
        self.authority = None;
        self.scheme = false;
        self.pseudo.clear();
        self.fields.clear();
        self.field_spans.clear();
        self.simple = true;
        self.cookie.clear();
        self.content_length = None;
        self.has_host = false;
        self.regular_seen = false;
        self.size = 0;
        self.bad = false;
    }

    /// Takes one decoded field (HPACK's callback).
    pub fn field(&mut self, name: &[u8], value: &[u8]) {
        // RFC 9113 §6.5.2: the size of a field list counts 32 octets per field.
        self.size += name.len() + value.len() + 32;
        if self.bad {
            return;
        }
        // One pass over the value in the usual case: no control character at all.
        if value.iter().any(|&c| c < 0x20 || c == 0x7f) {
            if value.iter().any(|&c| c == 0 || c == b'\r' || c == b'\n') {
                self.bad = true;
                return;
            }
            self.simple = false;
        } else if matches!(value.first(), Some(b' ')) || matches!(value.last(), Some(b' ')) {
            self.simple = false;
        }
        if let Some(pseudo) = name.strip_prefix(b":") {
            if self.regular_seen {
                self.bad = true;
                return;
            }
            let at = self.pseudo.len();
            self.pseudo.extend_from_slice(value);
            let r = at..self.pseudo.len();
            let seen = match pseudo {
                b"method" => std::mem::replace(&mut self.method, r).end > 0,
                b"path" => std::mem::replace(&mut self.path, r).end > 0,
                b"authority" => self.authority.replace(r).is_some(),
                b"scheme" => std::mem::replace(&mut self.scheme, true),
                _ => true,
            };
            self.bad |= seen;
            return;
        }
        self.regular_seen = true;
        if name.is_empty() || !name.iter().all(|&c| is_lower_tchar(c)) {
            self.bad = true;
            return;
        }
        if CONNECTION_SPECIFIC.contains(&name) || (name == b"te" && value != b"trailers") {
            self.bad = true;
            return;
        }
        match name {
            b"cookie" => {
                if !self.cookie.is_empty() {
                    self.cookie.extend_from_slice(b"; ");
                }
                self.cookie.extend_from_slice(value);
                return;
            }
            b"content-length" => {
                let n = std::str::from_utf8(value)
                    .ok()
                    .and_then(|s| s.parse::<u64>().ok());
                match (n, self.content_length) {
                    (Some(n), None) => self.content_length = Some(n),
                    (Some(n), Some(m)) if n == m => {}
                    _ => {
                        self.bad = true;
                        return;
                    }
                }
                self.simple = false;
            }
            b"host" => {
                self.has_host = true;
                self.simple = false;
            }
            b"expect" => self.simple = false,
            _ => {}
        }
        let at = self.fields.len() as u32;
        self.fields.extend_from_slice(name);
        self.fields.extend_from_slice(b": ");
        self.fields.extend_from_slice(value);
        self.fields.extend_from_slice(b"\r\n");
        let name_end = at + name.len() as u32;
        self.field_spans.push(HeaderSpan {
            name: Span {
                start: at,
                end: name_end,
            },
            value: Span {
                start: name_end + 2,
                end: name_end + 2 + value.len() as u32,
            },
        });
    }

    /// Ends the block: writes the HTTP/1.1 head into `out` (empty) when the request can go
    /// on, and for a simple request also the head as the session's parser would give it into
    /// `parsed` (true then), so that the session need not parse the text again.
    /// `end_stream`: the HEADERS frame carried END_STREAM. `max_list`: our
    /// SETTINGS_MAX_HEADER_LIST_SIZE.
    pub fn finish(
        &self,
        end_stream: bool,
        max_list: usize,
        out: &mut Vec<u8>,
        parsed: &mut RequestHead,
    ) -> (Verdict, bool) {
        let v = self.finish_text(end_stream, max_list, out);
        let simple = match v {
            Verdict::Request { framing, .. } => self.parsed(out, framing, parsed),
            _ => false,
        };
        (v, simple)
    }

    /// The head written by `finish_text` into `text`, parsed, when it is simple: the
    /// request line, `host` from `:authority` first, the joined cookies, the fields, then
    /// `transfer-encoding` for a body without length.
    fn parsed(&self, text: &[u8], framing: Framing, head: &mut RequestHead) -> bool {
        let method = &self.pseudo[self.method.clone()];
        let path = &self.pseudo[self.path.clone()];
        if !self.simple
            || !path.starts_with(b"/")
            || !http1::valid_target(method, path)
            || !plain_value(&self.cookie)
            || self.field_spans.len() + 3 > http1::MAX_HEADERS
        {
            return false;
        }
        head.clear();
        let span = |start: usize, len: usize| Span {
            start: start as u32,
            end: (start + len) as u32,
        };
        head.method = span(0, method.len());
        head.uri = span(method.len() + 1, path.len());
        head.minor = 1;
        let mut at = method.len() + 1 + path.len() + b" HTTP/1.1\r\n".len();
        if let Some(a) = self.authority.clone() {
            head.host = Some(0);
            push_line(head, &mut at, b"host".len(), a.len());
        }
        if !self.cookie.is_empty() {
            push_line(head, &mut at, b"cookie".len(), self.cookie.len());
        }
        let base = at as u32;
        head.headers
            .extend(self.field_spans.iter().map(|h| HeaderSpan {
                name: Span {
                    start: base + h.name.start,
                    end: base + h.name.end,
                },
                value: Span {
                    start: base + h.value.start,
                    end: base + h.value.end,
                },
            }));
        at += self.fields.len();
        if framing == Framing::Chunked {
            push_line(head, &mut at, b"transfer-encoding".len(), b"chunked".len());
            head.body = BodyKind::Chunked;
        }
        head.head_len = at + 2;
        head.head_len == text.len()
    }

    fn finish_text(&self, end_stream: bool, max_list: usize, out: &mut Vec<u8>) -> Verdict {
        if self.bad || self.method.is_empty() {
            return Verdict::Malformed;
        }
        if self.size > max_list {
            return Verdict::TooLarge;
        }
        let method = &self.pseudo[self.method.clone()];
        if !method.iter().all(|&c| is_tchar(c)) {
            return Verdict::Malformed;
        }
        if method == b"CONNECT" {
            return Verdict::Connect;
        }
        let path = &self.pseudo[self.path.clone()];
        // §8.3.1: :scheme and a non-empty :path for every other method. Both are printed
        // into the request line, so nothing that would split it may pass.
        if !self.scheme || path.is_empty() || !path.iter().all(|&c| c > b' ' && c != 0x7f) {
            return Verdict::Malformed;
        }
        let authority = self.authority.clone().map(|r| &self.pseudo[r]);
        if authority.is_some_and(|a| !a.iter().all(|&c| c > b' ' && c != 0x7f)) {
            return Verdict::Malformed;
        }
        let framing = match (end_stream, self.content_length) {
            (true, _) => Framing::None,
            (false, Some(n)) => Framing::Length(n),
            (false, None) => Framing::Chunked,
        };
        out.extend_from_slice(method);
        out.push(b' ');
        out.extend_from_slice(path);
        out.extend_from_slice(b" HTTP/1.1\r\n");
        if let (false, Some(a)) = (self.has_host, authority) {
            out.extend_from_slice(b"host: ");
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        if !self.cookie.is_empty() {
            out.extend_from_slice(b"cookie: ");
            out.extend_from_slice(&self.cookie);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(&self.fields);
        if framing == Framing::Chunked {
            out.extend_from_slice(b"transfer-encoding: chunked\r\n");
        }
        out.extend_from_slice(b"\r\n");
        Verdict::Request {
            framing,
            is_head: method == b"HEAD",
        }
    }
}

/// Appends one trailer field of a chunked request body (`0\r\n` before the first, an empty
/// line after the last are the caller's); fields HTTP/1.1 could not carry are left out.
pub fn trailer_field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    let ok = !name.is_empty()
        && name.iter().all(|&c| is_lower_tchar(c))
        && !value.iter().any(|&c| c == 0 || c == b'\r' || c == b'\n');
    if ok {
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
}

/// The spans of a `name: value\r\n` line written at `at`, which moves past it.
fn push_line(head: &mut RequestHead, at: &mut usize, name_len: usize, value_len: usize) {
    let value_at = *at + name_len + 2;
    head.headers.push(HeaderSpan {
        name: Span {
            start: *at as u32,
            end: (*at + name_len) as u32,
        },
        value: Span {
            start: value_at as u32,
            end: (value_at + value_len) as u32,
        },
    });
    *at = value_at + value_len + 2;
}

/// A field value the HTTP/1 parser takes as it is: no surrounding whitespace to trim, no
/// control character it would refuse.
fn plain_value(v: &[u8]) -> bool {
    let edge = |c: Option<&u8>| !matches!(c, Some(b' ' | b'\t'));
    edge(v.first()) && edge(v.last()) && v.iter().all(|&c| c == b'\t' || (c >= 0x20 && c != 0x7f))
}

fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

/// A token character that is not an uppercase letter (HTTP/2 field names), by table: names
/// are checked a byte at a time on every request.
fn is_lower_tchar(c: u8) -> bool {
    LOWER_TCHAR[usize::from(c)]
}

const LOWER_TCHAR: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_lowercase()
            || b.is_ascii_digit()
            || matches!(
                b,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        c += 1;
    }
    t
};

#[cfg(test)]
mod tests {
    use super::*;

    fn build(fields: &[(&str, &str)], end: bool) -> (Verdict, String) {
        let (v, text, _) = build_head(fields, end);
        (v, text)
    }

    /// The verdict, the text and whether the head came parsed too (checked against the
    /// parser then).
    fn build_head(fields: &[(&str, &str)], end: bool) -> (Verdict, String, bool) {
        let mut b = HeadBuilder::default();
        b.start();
        for (n, v) in fields {
            b.field(n.as_bytes(), v.as_bytes());
        }
        let mut out = Vec::new();
        let mut parsed = RequestHead::default();
        let (v, simple) = b.finish(end, 16384, &mut out, &mut parsed);
        if simple {
            assert!(parsed.same_as_parse_of(&out), "{parsed:?}");
        }
        (v, String::from_utf8(out).unwrap(), simple)
    }

    const GET: [(&str, &str); 4] = [
        (":method", "GET"),
        (":scheme", "https"),
        (":authority", "example.test"),
        (":path", "/a?b=1"),
    ];

    #[test]
    fn pseudo_headers_become_a_request_line_and_host_and_cookies_join() {
        let mut f = GET.to_vec();
        f.extend([("cookie", "a=1"), ("x-one", "1"), ("cookie", "b=2")]);
        let (v, head) = build(&f, false);
        assert_eq!(
            v,
            Verdict::Request {
                framing: Framing::Chunked,
                is_head: false
            }
        );
        assert_eq!(
            head,
            "GET /a?b=1 HTTP/1.1\r\nhost: example.test\r\ncookie: a=1; b=2\r\nx-one: 1\r\n\
             transfer-encoding: chunked\r\n\r\n"
        );
    }

    #[test]
    fn a_host_header_wins_and_a_length_frames_the_body() {
        let mut f = GET.to_vec();
        f.extend([("host", "b.test"), ("content-length", "3")]);
        let (v, head) = build(&f, false);
        assert!(matches!(
            v,
            Verdict::Request {
                framing: Framing::Length(3),
                ..
            }
        ));
        assert_eq!(
            head,
            "GET /a?b=1 HTTP/1.1\r\nhost: b.test\r\ncontent-length: 3\r\n\r\n"
        );
        assert!(matches!(
            build(&f, true).0,
            Verdict::Request {
                framing: Framing::None,
                ..
            }
        ));
    }

    #[test]
    fn malformed_requests_never_become_text() {
        let with = |extra: (&'static str, &'static str)| {
            let mut f = GET.to_vec();
            f.push(extra);
            build(&f, true).0
        };
        for bad in [
            ("x-a", "1\r\nx-smuggled: 1"),
            ("X-Upper", "1"),
            ("connection", "close"),
            ("transfer-encoding", "chunked"),
            ("te", "gzip"),
            (":path", "/again"),
            (":protocol", "websocket"),
            ("content-length", "x"),
        ] {
            assert_eq!(with(bad), Verdict::Malformed, "{bad:?}");
        }
        assert!(matches!(with(("te", "trailers")), Verdict::Request { .. }));
        let (v, _) = build(
            &[(":method", "GET"), (":scheme", "http"), (":path", "/a b")],
            true,
        );
        assert_eq!(v, Verdict::Malformed);
        let (v, _) = build(&[(":method", "GET"), (":path", "/")], true);
        assert_eq!(v, Verdict::Malformed);
        let (v, _) = build(&[("x-a", "1"), (":method", "GET")], true);
        assert_eq!(v, Verdict::Malformed);
    }

    #[test]
    fn oversized_lists_and_connect_are_told_apart() {
        let big = "v".repeat(20_000);
        let mut f = GET.to_vec();
        f.push(("x-big", &big));
        assert_eq!(build(&f, true).0, Verdict::TooLarge);
        let (v, _) = build(&[(":method", "CONNECT"), (":authority", "a:443")], true);
        assert_eq!(v, Verdict::Connect);
    }

    #[test]
    fn simple_heads_come_parsed_and_agree_with_the_parser() {
        let simple = |fields: &[(&str, &str)], end: bool| {
            let (v, _, simple) = build_head(fields, end);
            assert!(matches!(v, Verdict::Request { .. }), "{v:?}");
            simple
        };
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut f = GET.to_vec();
            f.extend_from_slice(extra);
            f
        };
        assert!(simple(&GET, true));
        assert!(simple(&GET, false), "a body without length: chunked");
        assert!(simple(
            &with(&[("cookie", "a=1"), ("x-a", "1"), ("cookie", "b=2")]),
            true
        ));
        assert!(simple(
            &[(":method", "GET"), (":scheme", "http"), (":path", "/")],
            true
        ));
        // What the HTTP/1 parser must judge goes through it.
        for extra in [
            ("content-length", "0"),
            ("host", "a.test"),
            ("expect", "100-continue"),
            ("x-a", " leading"),
            ("x-a", "trailing "),
            ("x-a", "a\tb"),
            ("x-a", "bell\x07"),
        ] {
            assert!(!simple(&with(&[extra]), true), "{extra:?}");
        }
        assert!(!simple(
            &[(":method", "OPTIONS"), (":scheme", "http"), (":path", "*")],
            true
        ));
    }

    #[test]
    fn the_name_table_is_tchar_without_uppercase() {
        for c in 0..=255u8 {
            assert_eq!(
                is_lower_tchar(c),
                is_tchar(c) && !c.is_ascii_uppercase(),
                "{c}"
            );
        }
    }
}
