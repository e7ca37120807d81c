//! HTTP/1.x framing: request and response heads parsed with `httparse`, kept as offsets into the
//! connection's buffer so header bytes are forwarded verbatim, plus the body framing rules
//! (RFC 9112 §6) with the strict checks that keep request smuggling out.
//!
//! Nothing here allocates per message: a [`RequestHead`] / [`ResponseHead`] is reused across the
//! requests of one connection (its header vector keeps its capacity).

mod chunked;
mod write;

pub use chunked::{ChunkedError, ChunkedScanner};
pub use write::{HeadWriter, HeaderEdit};

/// Most headers a message may carry (haproxy's `tune.http.maxhdr` default is 101).
pub const MAX_HEADERS: usize = 101;

/// A byte range `[start, end)` into the buffer a head was parsed from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn get<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        &buf[self.start as usize..self.end as usize]
    }
    pub fn len(&self) -> usize {
        (self.end - self.start) as usize
    }
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
}

/// One header line: name and value, both as spans. The value excludes surrounding whitespace.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeaderSpan {
    pub name: Span,
    pub value: Span,
}

/// How a message body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BodyKind {
    /// No body at all.
    #[default]
    None,
    /// `Content-Length: n`.
    Length(u64),
    /// `Transfer-Encoding: ... chunked`.
    Chunked,
    /// Responses only: the body runs until the server closes.
    UntilClose,
}

/// Why a message was refused. Each maps to the status haproxy answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadError {
    /// Not a valid HTTP/1.x message (400, or 502 for a response).
    Invalid(&'static str),
    /// The head does not fit in the buffer (haproxy answers 400 for requests; we do too).
    TooLarge,
    /// A request body in a transfer coding other than chunked (`gzip, chunked`): well
    /// formed, but nothing here decodes it; haproxy answers 422.
    UnsupportedCoding,
}

impl HeadError {
    pub fn reason(&self) -> &'static str {
        match self {
            HeadError::Invalid(r) => r,
            HeadError::TooLarge => "head too large",
            HeadError::UnsupportedCoding => "transfer coding other than chunked",
        }
    }

    /// The status a client is answered with.
    pub fn status(&self) -> u16 {
        match self {
            HeadError::Invalid(_) | HeadError::TooLarge => 400,
            HeadError::UnsupportedCoding => 422,
        }
    }
}

/// Parsing outcome: either the head is complete (with its length in bytes), or more is needed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parsed {
    Complete(usize),
    Partial,
}

/// Flags gathered from the headers that matter to the proxy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnFlags {
    /// `Connection: close` present.
    pub close: bool,
    /// `Connection: keep-alive` present.
    pub keep_alive: bool,
    /// `Connection: upgrade` present.
    pub upgrade_token: bool,
    /// Some other token is listed in `Connection` (a header to drop as hop-by-hop).
    pub other_tokens: bool,
}

/// A parsed request head.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RequestHead {
    pub method: Span,
    pub uri: Span,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor: u8,
    pub headers: Vec<HeaderSpan>,
    /// Length of the head, CRLFs included (body bytes start here).
    pub head_len: usize,
    pub body: BodyKind,
    pub conn: ConnFlags,
    /// An `Upgrade` header is present (with `Connection: upgrade` this asks for a tunnel).
    pub has_upgrade: bool,
    /// `Expect: 100-continue`.
    pub expect_continue: bool,
    /// Index in `headers` of the (first) Host header.
    pub host: Option<usize>,
}

/// A parsed response head.
#[derive(Debug, Default)]
pub struct ResponseHead {
    pub status: u16,
    pub minor: u8,
    /// The reason phrase.
    pub reason: Span,
    pub headers: Vec<HeaderSpan>,
    pub head_len: usize,
    pub body: BodyKind,
    pub conn: ConnFlags,
    pub has_upgrade: bool,
}

fn span_of(buf: &[u8], part: &[u8]) -> Span {
    let start = part.as_ptr() as usize - buf.as_ptr() as usize;
    Span {
        start: start as u32,
        end: (start + part.len()) as u32,
    }
}

fn request_config() -> httparse::ParserConfig {
    // Default httparse is strict: one space between request-line parts, no obs-fold, no space
    // before a colon, no control characters in values. That is what we want.
    httparse::ParserConfig::default()
}

/// Methods are tokens; httparse checks that. Targets must also be non-empty and must not hold
/// bytes haproxy refuses (non-ASCII, `#` fragments are accepted by haproxy only with
/// `option accept-invalid-http-request`).
pub(crate) fn valid_target(method: &[u8], uri: &[u8]) -> bool {
    if uri.is_empty() {
        return false;
    }
    if uri.iter().any(|&b| b <= 0x20 || b >= 0x7f || b == b'#') {
        return false;
    }
    match uri[0] {
        b'/' => true,
        b'*' => uri.len() == 1 && method == b"OPTIONS",
        _ => {
            // absolute-form (scheme://authority...) or authority-form for CONNECT.
            if method == b"CONNECT" {
                return true;
            }
            match memchr::memmem::find(uri, b"://") {
                Some(p) if p > 0 => uri[..p]
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(b)),
                _ => false,
            }
        }
    }
}

/// Parses a Content-Length value. haproxy accepts a comma-separated list of identical values.
fn parse_content_length(v: &[u8]) -> Option<u64> {
    let mut out: Option<u64> = None;
    for part in v.split(|&b| b == b',') {
        let p = trim(part);
        if p.is_empty() || p.len() > 19 || !p.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let n = p.iter().fold(0u64, |a, &d| a * 10 + (d - b'0') as u64);
        match out {
            Some(o) if o != n => return None,
            _ => out = Some(n),
        }
    }
    out
}

pub(crate) fn trim(v: &[u8]) -> &[u8] {
    let s = v
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(v.len());
    let e = v
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map(|p| p + 1)
        .unwrap_or(s);
    &v[s..e]
}

/// Iterates the comma-separated tokens of a header value, trimmed, empty ones skipped.
pub fn tokens(v: &[u8]) -> impl Iterator<Item = &[u8]> {
    v.split(|&b| b == b',').map(trim).filter(|t| !t.is_empty())
}

fn conn_flags(v: &[u8], f: &mut ConnFlags) {
    for t in tokens(v) {
        if t.eq_ignore_ascii_case(b"close") {
            f.close = true;
        } else if t.eq_ignore_ascii_case(b"keep-alive") {
            f.keep_alive = true;
        } else if t.eq_ignore_ascii_case(b"upgrade") {
            f.upgrade_token = true;
        } else {
            f.other_tokens = true;
        }
    }
}

/// The authority of an absolute-form target (`http://user@host:port/path`): `host:port`.
fn absolute_authority(uri: &[u8]) -> Option<&[u8]> {
    // Origin form, nearly every request: nothing to look for.
    if uri.first() == Some(&b'/') {
        return None;
    }
    let scheme_end = memchr::memmem::find(uri, b"://")?;
    let rest = &uri[scheme_end + 3..];
    let end = rest
        .iter()
        .position(|&b| matches!(b, b'/' | b'?' | b'#'))
        .unwrap_or(rest.len());
    let authority = &rest[..end];
    Some(match memchr::memrchr(b'@', authority) {
        Some(at) => &authority[at + 1..],
        None => authority,
    })
}

/// The target's authority and the Host header name the same host and port, the scheme's
/// default port being implied when absent (case does not matter).
fn same_authority(authority: &[u8], host: &[u8], uri: &[u8]) -> bool {
    let default_port: &[u8] = if uri[..uri.len().min(8)].eq_ignore_ascii_case(b"https://") {
        b":443"
    } else {
        b":80"
    };
    let bare = |a: &[u8]| -> usize { a.strip_suffix(default_port).map_or(a.len(), <[u8]>::len) };
    authority[..bare(authority)].eq_ignore_ascii_case(&host[..bare(host)])
}

/// Transfer-Encoding: returns Ok(true) when `chunked` is the final coding (and appears once),
/// Ok(false) when it is absent from the list, Err when it appears misplaced or twice.
fn te_is_chunked(v: &[u8], seen_chunked: &mut bool) -> Result<bool, ()> {
    let mut last_chunked = false;
    for t in tokens(v) {
        if *seen_chunked {
            // Anything after chunked (or chunked twice) is refused.
            return Err(());
        }
        if t.eq_ignore_ascii_case(b"chunked") {
            *seen_chunked = true;
            last_chunked = true;
        } else {
            last_chunked = false;
        }
    }
    Ok(last_chunked)
}

impl RequestHead {
    pub fn clear(&mut self) {
        self.method = Span::default();
        self.uri = Span::default();
        self.minor = 1;
        self.headers.clear();
        self.head_len = 0;
        self.body = BodyKind::None;
        self.conn = ConnFlags::default();
        self.has_upgrade = false;
        self.expect_continue = false;
        self.host = None;
    }

    /// Becomes a copy of `other`, reusing this head's vector (no allocation per request).
    /// Destructured, so that a field added to the head cannot be left out here.
    pub fn copy_from(&mut self, other: &RequestHead) {
        let RequestHead {
            method,
            uri,
            minor,
            headers,
            head_len,
            body,
            conn,
            has_upgrade,
            expect_continue,
            host,
        } = other;
        self.method = *method;
        self.uri = *uri;
        self.minor = *minor;
        self.headers.clear();
        self.headers.extend_from_slice(headers);
        self.head_len = *head_len;
        self.body = *body;
        self.conn = *conn;
        self.has_upgrade = *has_upgrade;
        self.expect_continue = *expect_continue;
        self.host = *host;
    }

    /// A request line with a version other than HTTP/1.0 and 1.1 (httparse takes only those):
    /// as haproxy, any `HTTP/d.d` is taken, above 1.1 as HTTP/1.1 and below 1.0 as HTTP/1.0,
    /// and forwarded as that. The head is parsed from a copy with the version replaced: same
    /// length, so the spans found there hold for `buf`.
    #[cold]
    fn parse_other_version(&mut self, buf: &[u8]) -> Result<Parsed, HeadError> {
        let bad = Err(HeadError::Invalid("bad version"));
        let line_end = memchr::memchr(b'\n', buf).unwrap_or(buf.len());
        let line = buf[..line_end]
            .strip_suffix(b"\r")
            .unwrap_or(&buf[..line_end]);
        let Some(at) = line.len().checked_sub(8) else {
            return bad;
        };
        let (major, minor) = match &line[at..] {
            [b'H', b'T', b'T', b'P', b'/', ma, b'.', mi]
                if ma.is_ascii_digit() && mi.is_ascii_digit() =>
            {
                (ma - b'0', mi - b'0')
            }
            _ => return bad,
        };
        let (as_minor, version): (u8, &[u8]) = match (major, minor) {
            (0, _) => (0, b"1.0"),
            (1, 0 | 1) => return bad, // httparse refused something else in the line
            _ => (1, b"1.1"),
        };
        let mut patched = buf.to_vec();
        patched[at + 5..at + 8].copy_from_slice(version);
        let parsed = self.parse(&patched)?;
        self.minor = as_minor;
        Ok(parsed)
    }

    /// Whether parsing `buf` gives this head (a head built without the parser, as an
    /// HTTP/2 stream's, is checked against it in debug builds).
    pub fn same_as_parse_of(&self, buf: &[u8]) -> bool {
        let mut parsed = RequestHead::default();
        matches!(parsed.parse(buf), Ok(Parsed::Complete(n)) if n == self.head_len)
            && parsed == *self
    }

    /// Parses a request head from the start of `buf`.
    pub fn parse(&mut self, buf: &[u8]) -> Result<Parsed, HeadError> {
        self.clear();
        // Uninitialised slots: a zeroed array of 101 headers is 3 KiB of memset per request.
        let mut raw =
            [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut []);
        let n = match request_config().parse_request_with_uninit_headers(&mut req, buf, &mut raw) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return Ok(Parsed::Partial),
            Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
            Err(httparse::Error::Version) => return self.parse_other_version(buf),
            Err(httparse::Error::Token) => return Err(HeadError::Invalid("bad method")),
            Err(httparse::Error::HeaderName) => return Err(HeadError::Invalid("bad header name")),
            Err(httparse::Error::HeaderValue) => {
                return Err(HeadError::Invalid("bad header value"))
            }
            Err(_) => return Err(HeadError::Invalid("bad request line")),
        };
        let method = req.method.unwrap_or("").as_bytes();
        let uri = req.path.unwrap_or("").as_bytes();
        if !valid_target(method, uri) {
            return Err(HeadError::Invalid("bad request target"));
        }
        self.method = span_of(buf, method);
        self.uri = span_of(buf, uri);
        self.minor = req.version.unwrap_or(1);
        self.head_len = n;
        let mut cl: Option<u64> = None;
        let mut te = false;
        let mut seen_chunked = false;
        let mut host_val: Option<&[u8]> = None;
        for h in req.headers.iter() {
            let name = h.name.as_bytes();
            let value = h.value;
            let hs = HeaderSpan {
                name: span_of(buf, name),
                value: span_of(buf, value),
            };
            let idx = self.headers.len();
            self.headers.push(hs);
            if name.is_empty() {
                return Err(HeadError::Invalid("empty header name"));
            }
            match name.len() {
                4 if name.eq_ignore_ascii_case(b"host") => {
                    let v = trim(value);
                    match host_val {
                        Some(prev) if !prev.eq_ignore_ascii_case(v) => {
                            return Err(HeadError::Invalid("conflicting Host headers"))
                        }
                        Some(_) => {}
                        None => {
                            host_val = Some(v);
                            self.host = Some(idx);
                        }
                    }
                }
                6 if name.eq_ignore_ascii_case(b"expect")
                    && trim(value).eq_ignore_ascii_case(b"100-continue") =>
                {
                    self.expect_continue = true;
                }
                7 if name.eq_ignore_ascii_case(b"upgrade") => self.has_upgrade = true,
                10 if name.eq_ignore_ascii_case(b"connection") => conn_flags(value, &mut self.conn),
                14 if name.eq_ignore_ascii_case(b"content-length") => {
                    let n = parse_content_length(value)
                        .ok_or(HeadError::Invalid("bad Content-Length"))?;
                    match cl {
                        Some(prev) if prev != n => {
                            return Err(HeadError::Invalid("conflicting Content-Length"))
                        }
                        _ => cl = Some(n),
                    }
                }
                17 if name.eq_ignore_ascii_case(b"transfer-encoding") => {
                    te = true;
                    match te_is_chunked(value, &mut seen_chunked) {
                        Ok(_) => {}
                        Err(()) => return Err(HeadError::Invalid("bad Transfer-Encoding")),
                    }
                }
                _ => {}
            }
        }
        if te {
            if cl.is_some() {
                return Err(HeadError::Invalid("Content-Length with Transfer-Encoding"));
            }
            // In a request, chunked must be the final coding, or the length is unknowable.
            let last = self
                .headers
                .iter()
                .rev()
                .find(|h| h.name.get(buf).eq_ignore_ascii_case(b"transfer-encoding"));
            let ok = last.map(|h| {
                tokens(h.value.get(buf))
                    .last()
                    .is_some_and(|t| t.eq_ignore_ascii_case(b"chunked"))
            });
            if ok != Some(true) {
                return Err(HeadError::Invalid(
                    "chunked is not the final transfer coding",
                ));
            }
            let other_coding = self
                .headers
                .iter()
                .filter(|h| h.name.get(buf).eq_ignore_ascii_case(b"transfer-encoding"))
                .flat_map(|h| tokens(h.value.get(buf)))
                .any(|t| !t.eq_ignore_ascii_case(b"chunked"));
            if other_coding {
                return Err(HeadError::UnsupportedCoding);
            }
            self.body = BodyKind::Chunked;
        } else if let Some(n) = cl {
            self.body = if n == 0 {
                BodyKind::None
            } else {
                BodyKind::Length(n)
            };
        }
        if let (Some(host), Some(authority)) = (host_val, absolute_authority(uri)) {
            // An absolute-form target names the host itself: a Host header that says
            // otherwise makes two hosts for one request (haproxy answers 400 too).
            if !same_authority(authority, host, uri) {
                return Err(HeadError::Invalid(
                    "Host differs from the target's authority",
                ));
            }
        }
        Ok(Parsed::Complete(n))
    }

    pub fn method<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        self.method.get(buf)
    }
    pub fn uri<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        self.uri.get(buf)
    }
    /// The path part of the target (absolute-form is reduced to its path).
    pub fn path<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        let uri = self.uri(buf);
        let uri = strip_authority(uri);
        match memchr::memchr(b'?', uri) {
            Some(q) => &uri[..q],
            None => uri,
        }
    }
    /// The query string without the `?`, if any.
    pub fn query<'a>(&self, buf: &'a [u8]) -> Option<&'a [u8]> {
        let uri = self.uri(buf);
        memchr::memchr(b'?', uri).map(|q| &uri[q + 1..])
    }
    /// Whether the client wants the connection kept after this request.
    pub fn wants_keep_alive(&self) -> bool {
        if self.minor == 0 {
            self.conn.keep_alive && !self.conn.close
        } else {
            !self.conn.close
        }
    }
    /// A request that asks to switch protocols (`Connection: upgrade` + `Upgrade`).
    pub fn is_upgrade(&self) -> bool {
        self.has_upgrade && self.conn.upgrade_token
    }
    /// First value of header `name` (case-insensitive).
    pub fn header<'a>(&self, buf: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
        find_header(&self.headers, buf, name)
    }
    /// Whether the method is HEAD.
    pub fn is_head(&self, buf: &[u8]) -> bool {
        self.method(buf) == b"HEAD"
    }
}

/// Strips `scheme://authority` from an absolute-form target, leaving the path (at least "/").
pub fn strip_authority(uri: &[u8]) -> &[u8] {
    if uri.first() == Some(&b'/') {
        return uri;
    }
    if let Some(p) = memchr::memmem::find(uri, b"://") {
        let rest = &uri[p + 3..];
        return match memchr::memchr2(b'/', b'?', rest) {
            Some(s) => &rest[s..],
            None => b"",
        };
    }
    uri
}

pub fn find_header<'a>(headers: &[HeaderSpan], buf: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    headers
        .iter()
        .find(|h| h.name.get(buf).eq_ignore_ascii_case(name))
        .map(|h| h.value.get(buf))
}

impl ResponseHead {
    pub fn clear(&mut self) {
        self.status = 0;
        self.minor = 1;
        self.reason = Span::default();
        self.headers.clear();
        self.head_len = 0;
        self.body = BodyKind::None;
        self.conn = ConnFlags::default();
        self.has_upgrade = false;
    }

    /// Parses a response head. `head_request` tells whether it answers a HEAD (no body then).
    pub fn parse(&mut self, buf: &[u8], head_request: bool) -> Result<Parsed, HeadError> {
        self.clear();
        let mut raw =
            [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut []);
        let n = match httparse::ParserConfig::default()
            .parse_response_with_uninit_headers(&mut resp, buf, &mut raw)
        {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return Ok(Parsed::Partial),
            Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
            Err(_) => return Err(HeadError::Invalid("bad response")),
        };
        self.status = resp.code.unwrap_or(0);
        self.minor = resp.version.unwrap_or(1);
        self.reason = span_of(buf, resp.reason.unwrap_or("").as_bytes());
        if resp.reason.is_none() || resp.reason == Some("") {
            self.reason = Span::default();
        }
        self.head_len = n;
        let mut cl: Option<u64> = None;
        let mut te = false;
        let mut seen_chunked = false;
        let mut chunked_last = false;
        for h in resp.headers.iter() {
            let name = h.name.as_bytes();
            let value = h.value;
            self.headers.push(HeaderSpan {
                name: span_of(buf, name),
                value: span_of(buf, value),
            });
            match name.len() {
                7 if name.eq_ignore_ascii_case(b"upgrade") => self.has_upgrade = true,
                10 if name.eq_ignore_ascii_case(b"connection") => conn_flags(value, &mut self.conn),
                14 if name.eq_ignore_ascii_case(b"content-length") => {
                    let n = parse_content_length(value)
                        .ok_or(HeadError::Invalid("bad Content-Length"))?;
                    match cl {
                        Some(prev) if prev != n => {
                            return Err(HeadError::Invalid("conflicting Content-Length"))
                        }
                        _ => cl = Some(n),
                    }
                }
                17 if name.eq_ignore_ascii_case(b"transfer-encoding") => {
                    te = true;
                    chunked_last = te_is_chunked(value, &mut seen_chunked)
                        .map_err(|_| HeadError::Invalid("bad Transfer-Encoding"))?;
                }
                _ => {}
            }
        }
        let s = self.status;
        self.body = if head_request || (100..200).contains(&s) || s == 204 || s == 304 {
            BodyKind::None
        } else if te {
            if chunked_last {
                BodyKind::Chunked
            } else {
                BodyKind::UntilClose
            }
        } else if let Some(n) = cl {
            BodyKind::Length(n)
        } else {
            BodyKind::UntilClose
        };
        if self.body == BodyKind::Length(0) {
            self.body = BodyKind::None;
        }
        Ok(Parsed::Complete(n))
    }

    pub fn header<'a>(&self, buf: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
        find_header(&self.headers, buf, name)
    }

    /// Whether the server lets the connection be reused after this response.
    pub fn server_keeps_alive(&self) -> bool {
        if self.body == BodyKind::UntilClose {
            return false;
        }
        if self.minor == 0 {
            self.conn.keep_alive && !self.conn.close
        } else {
            !self.conn.close
        }
    }
}

/// True for headers that only concern one hop and are never forwarded as they are.
pub fn is_hop_by_hop(name: &[u8]) -> bool {
    const HOP: [&[u8]; 4] = [b"connection", b"keep-alive", b"proxy-connection", b"te"];
    HOP.iter().any(|h| h.eq_ignore_ascii_case(name))
}

/// Whether `name` is listed as a token of any `Connection` header (a hop-by-hop header then).
pub fn listed_in_connection(headers: &[HeaderSpan], buf: &[u8], name: &[u8]) -> bool {
    headers
        .iter()
        .filter(|h| h.name.get(buf).eq_ignore_ascii_case(b"connection"))
        .any(|h| tokens(h.value.get(buf)).any(|t| t.eq_ignore_ascii_case(name)))
}

/// The reason phrase haproxy uses for a status code it generates itself.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        407 => "Unauthorized",
        408 => "Request Time-out",
        410 => "Gone",
        413 => "Payload Too Large",
        414 => "URI Too Long",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        425 => "Too Early",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Time-out",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests;

/// One fuzzing round (used by the fuzz target and the corpus replay test): parse `data` as a
/// request head; when complete, scan what follows as a chunked body; parse it as a response.
/// Panics only on a broken invariant.
pub fn fuzz_one(data: &[u8]) {
    let mut req = RequestHead::default();
    if let Ok(Parsed::Complete(n)) = req.parse(data) {
        assert!(n <= data.len());
        assert!(req.uri.end as usize <= n && req.method.end as usize <= n);
        for h in &req.headers {
            assert!(h.name.end as usize <= n && h.value.end as usize <= n);
        }
        let mut sc = ChunkedScanner::new();
        if let Ok(k) = sc.scan(&data[n..]) {
            assert!(k <= data.len() - n);
        }
    }
    let mut resp = ResponseHead::default();
    let _ = resp.parse(data, false);
    let mut sc = ChunkedScanner::new();
    let _ = sc.scan(data);
}
