//! Rules execution: `tcp-request`, `http-request`, `http-response`, `redirect`, `use_backend`,
//! `option forwardfor`, format strings, and the proxy's own responses (errors, redirects,
//! `return`), in haproxy's order and with haproxy's response layouts.

use std::io::Write as _;
use std::net::SocketAddr;
use std::ops::ControlFlow;

use crate::acl::{render_sample, SampleSource};
use crate::config::{
    FormatPart, FormatString, HeaderNameMatch, HttpRequestAction, HttpResponseAction, LogVar,
    Proxy, Redirect, RedirectKind, ReturnBody, TcpAction, TcpRequestRule, Userlist,
};
use crate::http1::reason_phrase;
use crate::session::hdrs::HeaderList;
use crate::state::Shared;
use crate::tls::facts::TlsView;

/// The request as the ACL engine sees it.
pub struct HttpSample<'a> {
    pub buf: &'a [u8],
    pub method: &'a [u8],
    pub url: &'a [u8],
    pub minor: u8,
    pub hdrs: &'a HeaderList,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    /// The client connection's TLS session, on a `bind ... ssl` listener.
    pub tls: Option<TlsView<'a>>,
    /// The running proxy: its backends (`nbsrv`) and userlists (`http_auth`).
    pub shared: &'a Shared,
}

/// `nbsrv(name)` in the running proxy.
fn usable_servers(shared: &Shared, name: &str) -> Option<i64> {
    let b = shared.backends.iter().find(|b| b.name == name)?;
    Some(b.usable_servers() as i64)
}

impl SampleSource for HttpSample<'_> {
    fn method(&self) -> &[u8] {
        self.method
    }
    fn url(&self) -> &[u8] {
        self.url
    }
    fn http_version(&self) -> &[u8] {
        if self.minor == 0 {
            b"1.0"
        } else {
            b"1.1"
        }
    }
    fn for_each_header(&self, name: &[u8], f: &mut dyn FnMut(&[u8]) -> ControlFlow<()>) {
        for (n, v) in self.hdrs.iter(self.buf) {
            if n.eq_ignore_ascii_case(name) && f(v).is_break() {
                return;
            }
        }
    }
    fn src(&self) -> Option<std::net::IpAddr> {
        Some(self.src.ip())
    }
    fn src_port(&self) -> Option<u16> {
        Some(self.src.port())
    }
    fn dst(&self) -> Option<std::net::IpAddr> {
        Some(self.dst.ip())
    }
    fn dst_port(&self) -> Option<u16> {
        Some(self.dst.port())
    }
    fn tls(&self) -> Option<TlsView<'_>> {
        self.tls
    }
    fn usable_servers(&self, backend: &str) -> Option<i64> {
        usable_servers(self.shared, backend)
    }
    fn userlist(&self, name: &str) -> Option<&Userlist> {
        self.shared.config.userlist(name)
    }
}

/// A TCP connection (and what was read of it) as the ACL engine sees it.
pub struct TcpSample<'a> {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub sni: Option<&'a [u8]>,
    pub hello_type: Option<u8>,
    /// The client connection's TLS session, on a `bind ... ssl` listener.
    pub tls: Option<TlsView<'a>>,
    /// The running proxy: its backends (`nbsrv`) and userlists (`http_auth`).
    pub shared: &'a Shared,
}

impl SampleSource for TcpSample<'_> {
    fn method(&self) -> &[u8] {
        b""
    }
    fn url(&self) -> &[u8] {
        b""
    }
    fn http_version(&self) -> &[u8] {
        b""
    }
    fn for_each_header(&self, _: &[u8], _: &mut dyn FnMut(&[u8]) -> ControlFlow<()>) {}
    fn src(&self) -> Option<std::net::IpAddr> {
        Some(self.src.ip())
    }
    fn src_port(&self) -> Option<u16> {
        Some(self.src.port())
    }
    fn dst(&self) -> Option<std::net::IpAddr> {
        Some(self.dst.ip())
    }
    fn dst_port(&self) -> Option<u16> {
        Some(self.dst.port())
    }
    fn ssl_sni(&self) -> Option<&[u8]> {
        self.sni
    }
    fn ssl_hello_type(&self) -> Option<u8> {
        self.hello_type
    }
    fn tls(&self) -> Option<TlsView<'_>> {
        self.tls
    }
    fn usable_servers(&self, backend: &str) -> Option<i64> {
        usable_servers(self.shared, backend)
    }
    fn userlist(&self, name: &str) -> Option<&Userlist> {
        self.shared.config.userlist(name)
    }
}

/// `tcp-request connection` rules: false when the connection is to be rejected.
pub fn tcp_connection_allows(
    fe: &Proxy,
    src: SocketAddr,
    dst: SocketAddr,
    shared: &Shared,
) -> bool {
    let s = TcpSample {
        src,
        dst,
        sni: None,
        hello_type: None,
        tls: None,
        shared,
    };
    tcp_rules_verdict(&fe.tcp_request_connection, &s) != Some(TcpAction::Reject)
}

/// The first `tcp-request` rule whose condition holds decides.
pub fn tcp_rules_verdict(rules: &[TcpRequestRule], s: &dyn SampleSource) -> Option<TcpAction> {
    for r in rules {
        if r.cond.as_ref().is_none_or(|c| c.eval(s)) {
            return Some(r.action);
        }
    }
    None
}

/// Renders a format string.
pub fn render(fmt: &FormatString, s: &HttpSample, fe: &str, be: &str, out: &mut Vec<u8>) {
    for p in &fmt.parts {
        match p {
            FormatPart::Literal(l) => out.extend_from_slice(l),
            FormatPart::Sample(f) => render_sample(f, s, out),
            FormatPart::Var(v) => {
                use std::io::Write;
                let _ = match v {
                    LogVar::ClientIp => write!(out, "{}", s.src.ip()),
                    LogVar::ClientPort => write!(out, "{}", s.src.port()),
                    LogVar::FrontendIp => write!(out, "{}", s.dst.ip()),
                    LogVar::FrontendPort => write!(out, "{}", s.dst.port()),
                    LogVar::Hostname => write!(out, "{}", hostname()),
                    LogVar::Pid => write!(out, "{}", std::process::id()),
                    LogVar::Timestamp => write!(out, "{}", crate::state::now_secs()),
                    LogVar::RequestLine => {
                        out.extend_from_slice(s.method);
                        out.push(b' ');
                        out.extend_from_slice(s.url);
                        out.extend_from_slice(if s.minor == 0 {
                            b" HTTP/1.0"
                        } else {
                            b" HTTP/1.1"
                        });
                        Ok(())
                    }
                    LogVar::UniqueId => Ok(()),
                    LogVar::FrontendName => write!(out, "{fe}"),
                    LogVar::BackendName => write!(out, "{be}"),
                };
            }
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// What `http-request` rules decided.
pub enum Verdict {
    /// Go on (the message may have been edited).
    Continue,
    /// Answer with these bytes (a complete response) and close or go on with the next request.
    Respond(Vec<u8>, u16, Answer),
}

/// Why the proxy answered a request itself, for the log line's termination state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// `deny`: haproxy's `PR--`.
    Denied,
    /// `return` and redirects: haproxy's `LR--`.
    Local,
    /// `tarpit`: held for `timeout tarpit` before the answer goes out; haproxy's `PT--`.
    Tarpit,
}

impl Answer {
    /// The first two characters of the termination state.
    pub fn term(self) -> [u8; 2] {
        match self {
            Answer::Denied => *b"PR",
            Answer::Local => *b"LR",
            Answer::Tarpit => *b"PT",
        }
    }
}

/// The request being processed, editable by rules.
pub struct ReqState<'a> {
    pub buf: &'a [u8],
    pub method: &'a [u8],
    pub minor: u8,
    /// The target, possibly rewritten.
    pub uri: &'a mut Vec<u8>,
    pub hdrs: &'a mut HeaderList,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub scratch: &'a mut Vec<u8>,
    pub tls: Option<TlsView<'a>>,
    pub shared: &'a Shared,
}

impl ReqState<'_> {
    fn sample(&self) -> HttpSample<'_> {
        HttpSample {
            buf: self.buf,
            method: self.method,
            url: self.uri,
            minor: self.minor,
            hdrs: self.hdrs,
            src: self.src,
            dst: self.dst,
            tls: self.tls,
            shared: self.shared,
        }
    }
}

fn name_matches(m: &HeaderNameMatch, pat: &str, name: &[u8]) -> bool {
    let p = pat.as_bytes();
    match m {
        HeaderNameMatch::Str => name.eq_ignore_ascii_case(p),
        HeaderNameMatch::Beg => name.len() >= p.len() && name[..p.len()].eq_ignore_ascii_case(p),
        HeaderNameMatch::End => {
            name.len() >= p.len() && name[name.len() - p.len()..].eq_ignore_ascii_case(p)
        }
        HeaderNameMatch::Sub => name
            .windows(p.len().max(1))
            .any(|w| w.eq_ignore_ascii_case(p)),
        HeaderNameMatch::Reg(r) => r.is_match(name),
    }
}

/// Expands `\1`..`\9` in `repl` with the captures of `re` on `subject`.
fn regex_replace(re: &regex::bytes::Regex, subject: &[u8], repl: &[u8], out: &mut Vec<u8>) -> bool {
    let Some(caps) = re.captures(subject) else {
        return false;
    };
    let m0 = caps.get(0).map(|m| (m.start(), m.end())).unwrap_or((0, 0));
    // haproxy's replace-header/replace-path replace the whole value with the expansion.
    let _ = m0;
    let mut i = 0;
    while i < repl.len() {
        if repl[i] == b'\\' && i + 1 < repl.len() && repl[i + 1].is_ascii_digit() {
            let n = (repl[i + 1] - b'0') as usize;
            if let Some(m) = caps.get(n) {
                out.extend_from_slice(m.as_bytes());
            }
            i += 2;
        } else {
            out.push(repl[i]);
            i += 1;
        }
    }
    true
}

/// Runs `http-request` rules then `redirect` rules of one proxy.
pub fn http_request(
    p: &Proxy,
    st: &mut ReqState,
    fe_name: &str,
    be_name: &str,
    errors: &ErrorPages,
) -> Verdict {
    let mut val = Vec::new();
    for r in &p.http_request {
        if let Some(c) = &r.cond {
            if !c.eval(&st.sample()) {
                continue;
            }
        }
        match &r.action {
            HttpRequestAction::SetHeader { name, value } => {
                val.clear();
                render(value, &st.sample(), fe_name, be_name, &mut val);
                st.hdrs.set(st.buf, name.as_bytes(), &val);
            }
            HttpRequestAction::AddHeader { name, value } => {
                val.clear();
                render(value, &st.sample(), fe_name, be_name, &mut val);
                st.hdrs.add(name.as_bytes(), &val);
            }
            HttpRequestAction::DelHeader { name, matching } => {
                st.hdrs
                    .delete_where(st.buf, |n| name_matches(matching, name, n));
            }
            HttpRequestAction::ReplaceHeader {
                name,
                regex,
                replacement,
            } => {
                val.clear();
                render(replacement, &st.sample(), fe_name, be_name, &mut val);
                let repl = val.clone();
                let mut scratch = std::mem::take(st.scratch);
                st.hdrs
                    .rewrite(st.buf, name.as_bytes(), &mut scratch, |v, out| {
                        regex_replace(regex, v, &repl, out)
                    });
                *st.scratch = scratch;
            }
            HttpRequestAction::SetPath(fmt) => {
                val.clear();
                render(fmt, &st.sample(), fe_name, be_name, &mut val);
                let q = memchr::memchr(b'?', st.uri)
                    .map(|i| st.uri[i..].to_vec())
                    .unwrap_or_default();
                let (prefix, _) = split_authority(st.uri);
                let mut n = prefix.to_vec();
                n.extend_from_slice(&val);
                n.extend_from_slice(&q);
                *st.uri = n;
            }
            HttpRequestAction::ReplacePath { regex, replacement } => {
                val.clear();
                render(replacement, &st.sample(), fe_name, be_name, &mut val);
                let (prefix, rest) = split_authority(st.uri);
                let qpos = memchr::memchr(b'?', rest).unwrap_or(rest.len());
                let path = &rest[..qpos];
                let mut out = Vec::new();
                if regex_replace(regex, path, &val, &mut out) {
                    let mut n = prefix.to_vec();
                    n.extend_from_slice(&out);
                    n.extend_from_slice(&rest[qpos..]);
                    *st.uri = n;
                }
            }
            HttpRequestAction::Redirect(rd) => {
                let s = st.sample();
                return Verdict::Respond(
                    redirect_response(rd, &s, fe_name, be_name),
                    rd.code,
                    Answer::Local,
                );
            }
            HttpRequestAction::Deny { status } => {
                return Verdict::Respond(errors.page(*status), *status, Answer::Denied);
            }
            HttpRequestAction::Tarpit { status } => {
                return Verdict::Respond(errors.page(*status), *status, Answer::Tarpit);
            }
            HttpRequestAction::Allow => break,
            HttpRequestAction::Auth { realm } => {
                let realm = realm.as_deref().unwrap_or(&p.name);
                return Verdict::Respond(crate::auth::unauthorized(realm), 401, Answer::Local);
            }
            HttpRequestAction::Return {
                status,
                content_type,
                headers,
                body,
            } => {
                let s = st.sample();
                let mut out = Vec::with_capacity(128);
                let mut rendered = Vec::new();
                let payload: &[u8] = match body {
                    ReturnBody::None => b"",
                    ReturnBody::Bytes(b) => b,
                    ReturnBody::Format(f) => {
                        render(f, &s, fe_name, be_name, &mut rendered);
                        &rendered
                    }
                };
                let _ = write!(out, "HTTP/1.1 {} {}\r\n", status, reason_phrase(*status));
                for (name, value) in headers {
                    val.clear();
                    render(value, &s, fe_name, be_name, &mut val);
                    out.extend_from_slice(name.as_bytes());
                    out.extend_from_slice(b": ");
                    out.extend_from_slice(&val);
                    out.extend_from_slice(b"\r\n");
                }
                return_tail(&mut out, *status, content_type.as_deref(), payload);
                return Verdict::Respond(out, *status, Answer::Local);
            }
        }
    }
    for r in &p.redirects {
        if r.cond.as_ref().is_none_or(|c| c.eval(&st.sample())) {
            let s = st.sample();
            return Verdict::Respond(
                redirect_response(&r.redirect, &s, fe_name, be_name),
                r.redirect.code,
                Answer::Local,
            );
        }
    }
    Verdict::Continue
}

/// Splits an absolute-form target into `scheme://authority` and the rest.
fn split_authority(uri: &[u8]) -> (&[u8], &[u8]) {
    if uri.first() == Some(&b'/') {
        return (b"", uri);
    }
    if let Some(p) = memchr::memmem::find(uri, b"://") {
        let rest = &uri[p + 3..];
        let s = memchr::memchr2(b'/', b'?', rest).unwrap_or(rest.len());
        return uri.split_at(p + 3 + s);
    }
    (b"", uri)
}

/// Runs `http-response` rules of one proxy on a response's headers.
pub fn http_response(
    p: &Proxy,
    hdrs: &mut HeaderList,
    buf: &[u8],
    req: &HttpSample,
    fe: &str,
    be: &str,
) {
    let mut val = Vec::new();
    for r in &p.http_response {
        if let Some(c) = &r.cond {
            if !c.eval(req) {
                continue;
            }
        }
        match &r.action {
            HttpResponseAction::SetHeader { name, value } => {
                val.clear();
                render(value, req, fe, be, &mut val);
                hdrs.set(buf, name.as_bytes(), &val);
            }
            HttpResponseAction::AddHeader { name, value } => {
                val.clear();
                render(value, req, fe, be, &mut val);
                hdrs.add(name.as_bytes(), &val);
            }
            HttpResponseAction::DelHeader { name, matching } => {
                hdrs.delete_where(buf, |n| name_matches(matching, name, n));
            }
        }
    }
}

/// A redirect response as haproxy builds it.
pub fn redirect_response(rd: &Redirect, s: &HttpSample, fe: &str, be: &str) -> Vec<u8> {
    let mut target = Vec::new();
    render(&rd.target, s, fe, be, &mut target);
    let mut loc = Vec::new();
    let orig = if rd.drop_query {
        let q = memchr::memchr(b'?', s.url).unwrap_or(s.url.len());
        &s.url[..q]
    } else {
        s.url
    };
    match rd.kind {
        RedirectKind::Location => loc.extend_from_slice(&target),
        RedirectKind::Prefix => {
            if target != b"/" {
                loc.extend_from_slice(&target);
            }
            loc.extend_from_slice(orig);
            if rd.append_slash && !loc.ends_with(b"/") {
                loc.push(b'/');
            }
        }
        RedirectKind::Scheme => {
            loc.extend_from_slice(&target);
            loc.extend_from_slice(b"://");
            let mut host = None;
            s.for_each_header(b"host", &mut |v| {
                host = Some(v.to_vec());
                ControlFlow::Break(())
            });
            if let Some(h) = host {
                loc.extend_from_slice(&h);
            }
            loc.extend_from_slice(orig);
            if rd.append_slash && !loc.ends_with(b"/") {
                loc.push(b'/');
            }
        }
    }
    let mut out = Vec::with_capacity(128 + loc.len());
    out.extend_from_slice(
        format!(
            "HTTP/1.1 {} {}\r\ncontent-length: 0\r\nlocation: ",
            rd.code,
            reason_phrase(rd.code)
        )
        .as_bytes(),
    );
    out.extend_from_slice(&loc);
    out.extend_from_slice(b"\r\n");
    // haproxy keeps caches from storing the temporary redirects.
    if matches!(rd.code, 302 | 303 | 307) {
        out.extend_from_slice(b"cache-control: no-cache\r\n");
    }
    // The cookie lines as haproxy 2.6 writes them, trailing semicolon included.
    if let Some(c) = &rd.set_cookie {
        out.extend_from_slice(format!("set-cookie: {c}; path=/;\r\n").as_bytes());
    }
    if let Some(c) = &rd.clear_cookie {
        out.extend_from_slice(format!("set-cookie: {c}; path=/; Max-Age=0;\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// `http-request return` response.
pub fn return_response(status: u16, ctype: Option<&str>, body: Option<&[u8]>) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {} {}\r\n", status, reason_phrase(status)).into_bytes();
    return_tail(&mut out, status, ctype, body.unwrap_or(b""));
    out
}

/// The end of a `return` answer after its status line and `hdr` lines: the length (none for
/// 204 and 304, which have no body), the content type, the payload.
fn return_tail(out: &mut Vec<u8>, status: u16, ctype: Option<&str>, body: &[u8]) {
    if !matches!(status, 204 | 304) {
        let _ = write!(out, "content-length: {}\r\n", body.len());
    }
    if let Some(t) = ctype {
        let _ = write!(out, "content-type: {t}\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if !matches!(status, 204 | 304) {
        out.extend_from_slice(body);
    }
}

/// haproxy's built-in error messages.
fn error_text(status: u16) -> &'static str {
    match status {
        400 => "Your browser sent an invalid request.",
        401 => "You need a valid user and password to access this content.",
        403 => "Request forbidden by administrative rules.",
        404 => "The resource could not be found.",
        405 => {
            "A request was made of a resource using a request method not supported by that resource"
        }
        407 => "You need a valid user and password to access this content.",
        408 => "Your browser didn't send a complete request in time.",
        410 => "The resource is no longer available and will not be available again.",
        413 => "The request entity exceeds the maximum allowed.",
        422 => "The server cannot process the contained instructions.",
        425 => "Your browser sent early data.",
        429 => "You have sent too many requests in a given amount of time.",
        500 => "An internal server error occurred.",
        501 => "The server does not support the functionality required to fulfill the request.",
        502 => "The server returned an invalid or incomplete response.",
        503 => "No server is available to handle this request.",
        504 => "The server didn't respond in time.",
        _ => "",
    }
}

/// A built-in error page, as haproxy 2.6 sends it.
pub fn builtin_error(status: u16) -> Vec<u8> {
    let body = format!(
        "<html><body><h1>{} {}</h1>\n{}\n</body></html>\n",
        status,
        reason_phrase(status),
        error_text(status)
    );
    format!(
        "HTTP/1.1 {} {}\r\ncontent-length: {}\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n\r\n{}",
        status,
        reason_phrase(status),
        body.len(),
        body
    )
    .into_bytes()
}

/// The error pages of a frontend/backend pair: `errorfile` contents, else the built-in ones.
pub struct ErrorPages<'a> {
    pub backend: Option<&'a Proxy>,
    pub frontend: &'a Proxy,
}

impl ErrorPages<'_> {
    pub fn page(&self, status: u16) -> Vec<u8> {
        if let Some(b) = self.backend {
            if let Some(e) = b.settings.errorfiles.get(&status) {
                return e.content.to_vec();
            }
        }
        if let Some(e) = self.frontend.settings.errorfiles.get(&status) {
            return e.content.to_vec();
        }
        builtin_error(status)
    }
}

/// Picks the backend: the first `use_backend` whose condition holds, else `default_backend`.
pub fn select_backend<'a>(
    fe: &'a Proxy,
    s: &dyn SampleSource,
) -> Option<&'a crate::config::BackendRef> {
    for u in &fe.use_backends {
        if u.cond.as_ref().is_none_or(|c| c.eval(s)) {
            return Some(&u.backend);
        }
    }
    fe.default_backend.as_ref()
}

/// `tcp-request content` rules verdict on the TCP sample.
pub fn tcp_content_rejects(p: &Proxy, s: &dyn SampleSource) -> bool {
    tcp_rules_verdict(&p.tcp_request_content, s) == Some(TcpAction::Reject)
}
