//! Evaluation of criteria against a [`SampleSource`], without allocating.

use std::io::Write;
use std::net::IpAddr;
use std::ops::ControlFlow;

use crate::config::User;
use crate::tls::facts::TlsView;

use super::{Criterion, Fetch, MatchMethod, Patterns, SampleSource, TlsFetch};

impl Criterion {
    /// Whether this criterion matches the request.
    pub fn eval<S: SampleSource + ?Sized>(&self, src: &S) -> bool {
        match &self.fetch {
            Fetch::Const(b) => match self.method {
                MatchMethod::Found => true,
                _ => *b,
            },
            Fetch::Hdr { name, occ } => {
                let mut found = false;
                for_each_value(src, name, *occ, &mut |v| {
                    if self.match_bytes(v) {
                        found = true;
                        ControlFlow::Break(())
                    } else {
                        ControlFlow::Continue(())
                    }
                });
                found
            }
            Fetch::UrlParam { name } => {
                let mut found = false;
                for_each_url_param(src.url(), name, &mut |v| {
                    if self.match_bytes(v) {
                        found = true;
                        ControlFlow::Break(())
                    } else {
                        ControlFlow::Continue(())
                    }
                });
                found
            }
            Fetch::Path => match path_of(src.url()) {
                Some(p) => self.match_bytes(p),
                None => false,
            },
            Fetch::Url => self.match_opt_bytes(non_empty(src.url())),
            Fetch::Method => self.match_opt_bytes(non_empty(src.method())),
            Fetch::ReqVer => self.match_opt_bytes(non_empty(src.http_version())),
            Fetch::ReqSslSni => self.match_opt_bytes(src.ssl_sni()),
            Fetch::HdrCnt { name } => {
                let mut n = 0i64;
                for_each_value(src, name, None, &mut |_| {
                    n += 1;
                    ControlFlow::Continue(())
                });
                self.match_int(n)
            }
            Fetch::SrcPort => src.src_port().is_some_and(|p| self.match_int(i64::from(p))),
            Fetch::DstPort => src.dst_port().is_some_and(|p| self.match_int(i64::from(p))),
            Fetch::ReqSslHelloType => src
                .ssl_hello_type()
                .is_some_and(|t| self.match_int(i64::from(t))),
            Fetch::HttpAuth { userlist } => {
                self.match_int(i64::from(authenticated(src, userlist).is_some()))
            }
            Fetch::HttpAuthGroup { userlist } => authenticated(src, userlist)
                .is_some_and(|u| u.groups.iter().any(|g| self.match_bytes(g.as_bytes()))),
            Fetch::NbSrv { backend } => backend
                .as_deref()
                .and_then(|b| src.usable_servers(b))
                .is_some_and(|n| self.match_int(n)),
            Fetch::Src => src.src().is_some_and(|ip| self.match_ip(ip)),
            Fetch::Dst => src.dst().is_some_and(|ip| self.match_ip(ip)),
            Fetch::Tls(t) => {
                let tls = src.tls();
                match t {
                    TlsFetch::Fc => self.match_int(i64::from(tls.is_some())),
                    TlsFetch::CUsed => {
                        self.match_int(i64::from(tls.is_some_and(|c| c.client_cert())))
                    }
                    TlsFetch::CVerify => tls.is_some_and(|_| self.match_int(0)),
                    _ => self.match_opt_bytes(tls.and_then(|c| tls_text(*t, c))),
                }
            }
        }
    }

    fn match_opt_bytes(&self, v: Option<&[u8]>) -> bool {
        match v {
            Some(v) => self.match_bytes(v),
            None => false,
        }
    }

    /// Matches one string sample.
    pub fn match_bytes(&self, v: &[u8]) -> bool {
        let icase = self.ignore_case;
        match (&self.method, &self.patterns) {
            (MatchMethod::Found, _) => true,
            (MatchMethod::Bool, _) => !v.is_empty(),
            (MatchMethod::Int, Patterns::Int(r)) => {
                parse_int_prefix(v).is_some_and(|n| r.iter().any(|r| r.contains(n)))
            }
            (MatchMethod::Len, Patterns::Int(r)) => {
                let n = v.len() as i64;
                r.iter().any(|r| r.contains(n))
            }
            (MatchMethod::Ip, Patterns::Ip(nets)) => match parse_ip(v) {
                Some(ip) => nets.contains(ip),
                None => false,
            },
            (MatchMethod::Reg, Patterns::Regex(res)) => res.iter().any(|re| re.is_match(v)),
            (MatchMethod::Str, Patterns::Bytes(pats)) if pats.len() > 8 => {
                match_sorted(pats, v, icase)
            }
            (m, Patterns::Bytes(pats)) => pats.iter().any(|p| match_str(*m, icase, v, p)),
            _ => false,
        }
    }

    /// Matches an integer sample.
    pub fn match_int(&self, n: i64) -> bool {
        match (&self.method, &self.patterns) {
            (MatchMethod::Found, _) => true,
            (MatchMethod::Bool, _) => n != 0,
            (MatchMethod::Int, Patterns::Int(r)) => r.iter().any(|r| r.contains(n)),
            _ => {
                // A string method on an integer: compare its decimal form, as haproxy casts.
                let mut buf = [0u8; 24];
                let len = {
                    let mut w = &mut buf[..];
                    let _ = write!(w, "{n}");
                    24 - w.len()
                };
                self.match_bytes(&buf[..len])
            }
        }
    }

    /// Matches an address sample.
    pub fn match_ip(&self, ip: IpAddr) -> bool {
        match (&self.method, &self.patterns) {
            (MatchMethod::Found, _) => true,
            (MatchMethod::Bool, _) => true,
            (MatchMethod::Ip, Patterns::Ip(nets)) => nets.contains(ip),
            _ => {
                let mut buf = [0u8; 48];
                let len = {
                    let mut w = &mut buf[..];
                    let _ = write!(w, "{ip}");
                    48 - w.len()
                };
                self.match_bytes(&buf[..len])
            }
        }
    }
}

fn non_empty(v: &[u8]) -> Option<&[u8]> {
    if v.is_empty() {
        None
    } else {
        Some(v)
    }
}

/// Exact match in a sorted list (lower-cased with `-i`), without allocating: a sample longer
/// than the stack buffer cannot be lower-cased there and is compared one by one.
fn match_sorted(pats: &[Box<[u8]>], v: &[u8], icase: bool) -> bool {
    if !icase {
        return pats.binary_search_by(|p| (**p).cmp(v)).is_ok();
    }
    let mut buf = [0u8; 256];
    if v.len() > buf.len() {
        return pats.iter().any(|p| p.eq_ignore_ascii_case(v));
    }
    let lower = &mut buf[..v.len()];
    lower.copy_from_slice(v);
    lower.make_ascii_lowercase();
    pats.binary_search_by(|p| (**p).cmp(lower)).is_ok()
}

fn eq_bytes(icase: bool, a: &[u8], b: &[u8]) -> bool {
    if icase {
        a.eq_ignore_ascii_case(b)
    } else {
        a == b
    }
}

fn match_str(m: MatchMethod, icase: bool, v: &[u8], p: &[u8]) -> bool {
    match m {
        MatchMethod::Str => eq_bytes(icase, v, p),
        MatchMethod::Beg => v.len() >= p.len() && eq_bytes(icase, &v[..p.len()], p),
        MatchMethod::End => v.len() >= p.len() && eq_bytes(icase, &v[v.len() - p.len()..], p),
        MatchMethod::Sub => contains(icase, v, p),
        MatchMethod::Dom => match_word(icase, v, p, b"/?.:"),
        MatchMethod::Dir => match_word(icase, v, p, b"/?"),
        _ => false,
    }
}

fn contains(icase: bool, v: &[u8], p: &[u8]) -> bool {
    if p.is_empty() {
        return true;
    }
    if p.len() > v.len() {
        return false;
    }
    if !icase {
        return memchr::memmem::find(v, p).is_some();
    }
    v.windows(p.len()).any(|w| w.eq_ignore_ascii_case(p))
}

/// haproxy's `match_word`: `p` (its own leading and trailing delimiters ignored) appears in `v`
/// with a delimiter or an end of `v` on each side.
fn match_word(icase: bool, v: &[u8], p: &[u8], delims: &[u8]) -> bool {
    let is_delim = |c: u8| delims.contains(&c);
    let mut p = p;
    while let [first, rest @ ..] = p {
        if is_delim(*first) {
            p = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = p {
        if is_delim(*last) {
            p = rest;
        } else {
            break;
        }
    }
    if p.is_empty() || p.len() > v.len() {
        return false;
    }
    let mut may_match = true;
    for i in 0..=(v.len() - p.len()) {
        let c = v[i];
        if is_delim(c) {
            may_match = true;
            continue;
        }
        if may_match
            && eq_bytes(icase, &v[i..i + p.len()], p)
            && (i + p.len() == v.len() || is_delim(v[i + p.len()]))
        {
            return true;
        }
        may_match = false;
    }
    false
}

/// Leading optional sign then digits, as haproxy's string-to-integer cast reads them.
fn parse_int_prefix(v: &[u8]) -> Option<i64> {
    let (neg, digits) = match v.first() {
        Some(b'-') => (true, &v[1..]),
        Some(b'+') => (false, &v[1..]),
        _ => (false, v),
    };
    let end = digits
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(digits.len());
    if end == 0 {
        return None;
    }
    let mut n: i64 = 0;
    for &d in &digits[..end] {
        n = n.checked_mul(10)?.checked_add(i64::from(d - b'0'))?;
    }
    Some(if neg { -n } else { n })
}

fn parse_ip(v: &[u8]) -> Option<IpAddr> {
    std::str::from_utf8(v).ok()?.trim().parse().ok()
}

fn trim_ows(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

/// Visits each comma-separated value of header `name` (or only occurrence `occ`: 1 is the
/// first, -1 the last; 0 means all).
pub(crate) fn for_each_value<S: SampleSource + ?Sized>(
    src: &S,
    name: &[u8],
    occ: Option<i32>,
    f: &mut dyn FnMut(&[u8]) -> ControlFlow<()>,
) {
    let occ = occ.unwrap_or(0);
    let target: i64 = if occ >= 0 {
        i64::from(occ)
    } else {
        // Count first, then pick from the end.
        let mut total = 0i64;
        src.for_each_header(name, &mut |line| {
            total += line.split(|&b| b == b',').count() as i64;
            ControlFlow::Continue(())
        });
        let t = total + 1 + i64::from(occ);
        if t < 1 {
            return;
        }
        t
    };
    let mut idx = 0i64;
    src.for_each_header(name, &mut |line| {
        for part in line.split(|&b| b == b',') {
            idx += 1;
            if target == 0 || idx == target {
                f(trim_ows(part))?;
                if target != 0 {
                    return ControlFlow::Break(());
                }
            }
        }
        ControlFlow::Continue(())
    });
}

/// The path of a request target: up to the `?`, with `scheme://authority` removed from an
/// absolute URL. `None` when there is no path (`*`, or an absolute URL without one).
pub(crate) fn path_of(url: &[u8]) -> Option<&[u8]> {
    let start = if url.first() == Some(&b'/') {
        0
    } else {
        let s = memchr::memmem::find(url, b"://")? + 3;
        s + url[s..].iter().position(|&b| b == b'/')?
    };
    let rest = &url[start..];
    let end = rest.iter().position(|&b| b == b'?').unwrap_or(rest.len());
    Some(&rest[..end])
}

/// Visits each value of query parameter `name` (the text after `name=` up to the next `&`).
pub(crate) fn for_each_url_param(
    url: &[u8],
    name: &[u8],
    f: &mut dyn FnMut(&[u8]) -> ControlFlow<()>,
) {
    let Some(q) = url.iter().position(|&b| b == b'?') else {
        return;
    };
    for part in url[q + 1..].split(|&b| b == b'&') {
        if part.len() > name.len()
            && part.starts_with(name)
            && part[name.len()] == b'='
            && f(&part[name.len() + 1..]).is_break()
        {
            return;
        }
    }
}

/// Appends the text form of a fetch's sample to `out`, as a `%[fetch]` substitution does:
/// the last occurrence of a header (unless an occurrence is given), the first URL parameter,
/// the decimal form of integers, the usual text form of addresses; nothing when absent.
pub fn render_sample<S: SampleSource + ?Sized>(fetch: &Fetch, src: &S, out: &mut Vec<u8>) {
    match fetch {
        Fetch::Hdr { name, occ } => {
            let occ = occ.or(Some(-1));
            for_each_value(src, name, occ, &mut |v| {
                out.extend_from_slice(v);
                ControlFlow::Break(())
            });
        }
        Fetch::HdrCnt { name } => {
            let mut n = 0u64;
            for_each_value(src, name, None, &mut |_| {
                n += 1;
                ControlFlow::Continue(())
            });
            let _ = write!(out, "{n}");
        }
        Fetch::Path => {
            if let Some(p) = path_of(src.url()) {
                out.extend_from_slice(p);
            }
        }
        Fetch::Url => out.extend_from_slice(src.url()),
        Fetch::UrlParam { name } => for_each_url_param(src.url(), name, &mut |v| {
            out.extend_from_slice(v);
            ControlFlow::Break(())
        }),
        Fetch::Method => out.extend_from_slice(src.method()),
        Fetch::ReqVer => out.extend_from_slice(src.http_version()),
        Fetch::Src => {
            if let Some(ip) = src.src() {
                let _ = write!(out, "{ip}");
            }
        }
        Fetch::Dst => {
            if let Some(ip) = src.dst() {
                let _ = write!(out, "{ip}");
            }
        }
        Fetch::SrcPort => {
            if let Some(p) = src.src_port() {
                let _ = write!(out, "{p}");
            }
        }
        Fetch::DstPort => {
            if let Some(p) = src.dst_port() {
                let _ = write!(out, "{p}");
            }
        }
        Fetch::ReqSslSni => {
            if let Some(s) = src.ssl_sni() {
                out.extend_from_slice(s);
            }
        }
        Fetch::ReqSslHelloType => {
            if let Some(t) = src.ssl_hello_type() {
                let _ = write!(out, "{t}");
            }
        }
        Fetch::Const(b) => out.push(if *b { b'1' } else { b'0' }),
        Fetch::HttpAuth { userlist } => out.push(if authenticated(src, userlist).is_some() {
            b'1'
        } else {
            b'0'
        }),
        Fetch::HttpAuthGroup { userlist } => {
            if let Some(g) = authenticated(src, userlist).and_then(|u| u.groups.first()) {
                out.extend_from_slice(g.as_bytes());
            }
        }
        Fetch::NbSrv { backend } => {
            if let Some(n) = backend.as_deref().and_then(|b| src.usable_servers(b)) {
                let _ = write!(out, "{n}");
            }
        }
        Fetch::Tls(t) => {
            let tls = src.tls();
            match t {
                TlsFetch::Fc => out.push(if tls.is_some() { b'1' } else { b'0' }),
                TlsFetch::CUsed => out.push(if tls.is_some_and(|c| c.client_cert()) {
                    b'1'
                } else {
                    b'0'
                }),
                TlsFetch::CVerify => {
                    if tls.is_some() {
                        out.push(b'0');
                    }
                }
                _ => {
                    if let Some(v) = tls.and_then(|c| tls_text(*t, c)) {
                        out.extend_from_slice(v);
                    }
                }
            }
        }
    }
}

/// The account of userlist `name` that the request's Basic credentials name, when the
/// password is right.
fn authenticated<'s, S: SampleSource + ?Sized>(src: &'s S, name: &str) -> Option<&'s User> {
    let list = src.userlist(name)?;
    let mut found = None;
    src.for_each_header(b"authorization", &mut |v| {
        found = crate::auth::basic_credentials(v)
            .and_then(|(user, pass)| crate::auth::check(list, &user, &pass));
        ControlFlow::Break(())
    });
    found
}

/// The text samples of a TLS session.
fn tls_text(t: TlsFetch, c: TlsView<'_>) -> Option<&[u8]> {
    match t {
        TlsFetch::FcSni => c.sni(),
        TlsFetch::FcProtocol => c.protocol().map(str::as_bytes),
        TlsFetch::FcAlpn => c.alpn(),
        TlsFetch::FcCipher => c.cipher().map(str::as_bytes),
        TlsFetch::Fc | TlsFetch::CUsed | TlsFetch::CVerify => None,
    }
}
