//! ACLs: what a condition is made of, and how it is evaluated against a request.
//!
//! The configuration parser ([`crate::config`]) builds these types from `acl` lines and
//! `if`/`unless` conditions; the data path evaluates them with [`Condition::eval`], giving it
//! a [`SampleSource`] that it implements over its own request and connection state.
//!
//! Evaluation allocates nothing: header values are visited in place through
//! [`SampleSource::for_each_header`], strings are compared as bytes (case-insensitively with
//! `-i`, without lower-casing copies), and regular expressions run on the borrowed bytes.
//!
//! Semantics follow haproxy (configuration.txt §7):
//! - an ACL is true when any of its patterns matches any of the fetched values (a header
//!   fetch yields each comma-separated value of each occurrence; several `acl` lines with the
//!   same name are ORed);
//! - a missing sample (no such header, no SNI, ...) matches nothing, so `!acl` is then true;
//! - a condition is a list of AND-ed terms separated by `||`/`or`; `unless` negates the
//!   whole.

mod eval;
mod net;

pub use eval::render_sample;
pub use net::{IpNet, IpSet};

use std::fmt;
use std::net::IpAddr;
use std::ops::ControlFlow;
use std::sync::Arc;

/// What the data path gives the ACL engine to look at: one request on one connection.
///
/// Byte slices are borrowed from the data path's buffers; nothing is copied.
pub trait SampleSource {
    /// The request method (`GET`, ...). Empty in TCP mode.
    fn method(&self) -> &[u8];

    /// The request target exactly as received (`/a/b?c=d`, or `http://h/a` in absolute form).
    /// Empty in TCP mode.
    fn url(&self) -> &[u8];

    /// The HTTP version of the request, as `1.0` or `1.1`. Empty in TCP mode.
    fn http_version(&self) -> &[u8] {
        b"1.1"
    }

    /// Calls `f` with the value of each header field named `name` (compared
    /// case-insensitively; `name` is given lower-case), in order, until `f` breaks. Values are
    /// whole field values (the ACL engine splits them on commas where haproxy does).
    fn for_each_header(&self, name: &[u8], f: &mut dyn FnMut(&[u8]) -> ControlFlow<()>);

    /// The client's address (the connection's source).
    fn src(&self) -> Option<IpAddr>;

    /// The client's source port.
    fn src_port(&self) -> Option<u16> {
        None
    }

    /// The local address the client connected to.
    fn dst(&self) -> Option<IpAddr> {
        None
    }

    /// The local port the client connected to.
    fn dst_port(&self) -> Option<u16>;

    /// The SNI of a TLS ClientHello read from the request buffer (`req.ssl_sni`), when the
    /// data path has one. The data path should have waited for the ClientHello (within
    /// `tcp-request inspect-delay`) before evaluating rules that use it.
    fn ssl_sni(&self) -> Option<&[u8]> {
        None
    }

    /// The TLS handshake record type found in the request buffer (`req.ssl_hello_type`:
    /// 1 for a ClientHello), when the buffer starts with one.
    fn ssl_hello_type(&self) -> Option<u8> {
        None
    }

    /// The TLS session of the client connection, when it came through `bind ... ssl`
    /// (`ssl_fc`, `ssl_fc_sni`, `ssl_c_used`, ...).
    fn tls(&self) -> Option<crate::tls::facts::TlsView<'_>> {
        None
    }

    /// The number of usable servers of the backend (or listen section) called `backend`, as
    /// haproxy counts them for `nbsrv`.
    fn usable_servers(&self, backend: &str) -> Option<i64> {
        let _ = backend;
        None
    }

    /// The `userlist` section called `name`.
    fn userlist(&self, name: &str) -> Option<&crate::config::Userlist> {
        let _ = name;
        None
    }
}

/// The fetches about the client connection's TLS session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsFetch {
    /// `ssl_fc`: the connection came over TLS (boolean).
    Fc,
    /// `ssl_fc_sni`: the SNI the client sent.
    FcSni,
    /// `ssl_fc_protocol`: `TLSv1.2` or `TLSv1.3`.
    FcProtocol,
    /// `ssl_fc_alpn`: the ALPN protocol negotiated.
    FcAlpn,
    /// `ssl_fc_cipher`: the cipher suite, by its OpenSSL name.
    FcCipher,
    /// `ssl_c_used`: the client sent a certificate (boolean).
    CUsed,
    /// `ssl_c_verify`: the verification result of the client certificate (0: OK; a failed
    /// verification ends the handshake, so a session only ever sees 0).
    CVerify,
}

impl TlsFetch {
    pub fn name(self) -> &'static str {
        match self {
            TlsFetch::Fc => "ssl_fc",
            TlsFetch::FcSni => "ssl_fc_sni",
            TlsFetch::FcProtocol => "ssl_fc_protocol",
            TlsFetch::FcAlpn => "ssl_fc_alpn",
            TlsFetch::FcCipher => "ssl_fc_cipher",
            TlsFetch::CUsed => "ssl_c_used",
            TlsFetch::CVerify => "ssl_c_verify",
        }
    }

    /// Every one of them, for the parser.
    pub const ALL: [TlsFetch; 7] = [
        TlsFetch::Fc,
        TlsFetch::FcSni,
        TlsFetch::FcProtocol,
        TlsFetch::FcAlpn,
        TlsFetch::FcCipher,
        TlsFetch::CUsed,
        TlsFetch::CVerify,
    ];
}

/// A sample fetch: where an ACL takes its value from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetch {
    /// `hdr(name[,occ])`, `req.hdr(name[,occ])`: each comma-separated value of the header.
    /// `occ`: only that occurrence (1 first, -1 last). `name` is lower-case; `None` is
    /// `hdr()` without a name, which is refused by the parser.
    Hdr { name: Box<[u8]>, occ: Option<i32> },
    /// `hdr_cnt(name)`, `req.hdr_cnt(name)`: the number of values (integer).
    HdrCnt { name: Box<[u8]> },
    /// `path`: the path part of the URL (no query; scheme and authority stripped from an
    /// absolute URL).
    Path,
    /// `url`: the whole request target.
    Url,
    /// `url_param(name)`, `urlp(name)`: each value of the query parameter `name`.
    UrlParam { name: Box<[u8]> },
    /// `method`.
    Method,
    /// `req.ver`, `req_ver`: `1.0` or `1.1`.
    ReqVer,
    /// `src`: the client's IP address.
    Src,
    /// `src_port` (integer).
    SrcPort,
    /// `dst`: the local IP address.
    Dst,
    /// `dst_port` (integer).
    DstPort,
    /// `req.ssl_sni`, `req_ssl_sni`: the SNI of the ClientHello (TCP mode).
    ReqSslSni,
    /// `req.ssl_hello_type`, `req_ssl_hello_type` (integer).
    ReqSslHelloType,
    /// A constant boolean, used by the predefined `TRUE`/`FALSE` ACLs (`always_true`,
    /// `always_false`).
    Const(bool),
    /// `ssl_fc`, `ssl_fc_sni`, `ssl_c_used`, ...: the client connection's TLS session.
    Tls(TlsFetch),
    /// `nbsrv(backend)`: the backend's usable servers now (integer). `None` is the bare
    /// `nbsrv` (the proxy of the rule), which the configuration parser fills in.
    NbSrv { backend: Option<Box<str>> },
    /// `http_auth(userlist)`: the request's Basic credentials are an account of the list
    /// (boolean).
    HttpAuth { userlist: Box<str> },
    /// `http_auth_group(userlist)`: the groups of the account the credentials name (each a
    /// string sample), none when they name no account.
    HttpAuthGroup { userlist: Box<str> },
}

impl Fetch {
    /// The type of sample it yields.
    pub fn sample_type(&self) -> SampleType {
        match self {
            Fetch::Hdr { .. }
            | Fetch::Path
            | Fetch::Url
            | Fetch::UrlParam { .. }
            | Fetch::Method
            | Fetch::ReqVer
            | Fetch::ReqSslSni
            | Fetch::HttpAuthGroup { .. } => SampleType::Str,
            Fetch::HdrCnt { .. }
            | Fetch::SrcPort
            | Fetch::DstPort
            | Fetch::ReqSslHelloType
            | Fetch::NbSrv { .. } => SampleType::Int,
            Fetch::Src | Fetch::Dst => SampleType::Ip,
            Fetch::Const(_)
            | Fetch::Tls(TlsFetch::Fc | TlsFetch::CUsed)
            | Fetch::HttpAuth { .. } => SampleType::Bool,
            Fetch::Tls(TlsFetch::CVerify) => SampleType::Int,
            Fetch::Tls(_) => SampleType::Str,
        }
    }

    /// Needs an HTTP request (refused in TCP-only rules such as `tcp-request connection`).
    pub fn needs_http(&self) -> bool {
        matches!(
            self,
            Fetch::Hdr { .. }
                | Fetch::HdrCnt { .. }
                | Fetch::Path
                | Fetch::Url
                | Fetch::UrlParam { .. }
                | Fetch::Method
                | Fetch::ReqVer
                | Fetch::HttpAuth { .. }
                | Fetch::HttpAuthGroup { .. }
        )
    }

    /// Needs request content (allowed in `tcp-request content`, not in
    /// `tcp-request connection`).
    pub fn needs_content(&self) -> bool {
        self.needs_http()
            || matches!(
                self,
                Fetch::ReqSslSni | Fetch::ReqSslHelloType | Fetch::Tls(_)
            )
    }
}

/// The type of a fetched sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleType {
    Str,
    Int,
    Ip,
    Bool,
}

/// How an ACL compares the sample with its patterns (`-m ...` or implied by the fetch name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchMethod {
    /// `-m found`: the sample exists.
    Found,
    /// `-m bool`: the sample is non-zero / true.
    Bool,
    /// `-m int`: integer comparison (`eq`, `ge`, ..., ranges `a:b`).
    Int,
    /// `-m ip`: address in one of the networks.
    Ip,
    /// `-m str`: exact string.
    Str,
    /// `-m beg`: prefix.
    Beg,
    /// `-m end`: suffix.
    End,
    /// `-m sub`: substring.
    Sub,
    /// `-m reg`: regular expression.
    Reg,
    /// `-m dom`: the pattern appears delimited by `/`, `?`, `.`, `:` or the ends.
    Dom,
    /// `-m dir`: the pattern appears delimited by `/`, `?` or the ends.
    Dir,
    /// `-m len`: the sample's length compared as an integer.
    Len,
}

impl MatchMethod {
    /// The name used after `-m`.
    pub fn name(self) -> &'static str {
        match self {
            MatchMethod::Found => "found",
            MatchMethod::Bool => "bool",
            MatchMethod::Int => "int",
            MatchMethod::Ip => "ip",
            MatchMethod::Str => "str",
            MatchMethod::Beg => "beg",
            MatchMethod::End => "end",
            MatchMethod::Sub => "sub",
            MatchMethod::Reg => "reg",
            MatchMethod::Dom => "dom",
            MatchMethod::Dir => "dir",
            MatchMethod::Len => "len",
        }
    }

    /// The method called `name` after `-m`.
    pub fn from_name(name: &str) -> Option<MatchMethod> {
        Some(match name {
            "found" => MatchMethod::Found,
            "bool" => MatchMethod::Bool,
            "int" => MatchMethod::Int,
            "ip" => MatchMethod::Ip,
            "str" => MatchMethod::Str,
            "beg" => MatchMethod::Beg,
            "end" => MatchMethod::End,
            "sub" => MatchMethod::Sub,
            "reg" => MatchMethod::Reg,
            "dom" => MatchMethod::Dom,
            "dir" => MatchMethod::Dir,
            "len" => MatchMethod::Len,
            _ => return None,
        })
    }
}

/// An integer pattern: `N`, `eq N`, `ge N`, `gt N`, `le N`, `lt N`, `A:B`, `:B`, `A:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntRange {
    /// Inclusive lower bound.
    pub min: i64,
    /// Inclusive upper bound.
    pub max: i64,
}

impl IntRange {
    /// Whether `v` is inside.
    pub fn contains(&self, v: i64) -> bool {
        self.min <= v && v <= self.max
    }
}

/// The patterns of a criterion, already converted for its match method.
#[derive(Debug, Clone)]
pub enum Patterns {
    /// For `found` and `bool`: no patterns.
    None,
    /// Byte strings, for str/beg/end/sub/dom/dir. For `str`, they are sorted (and lower-cased
    /// with `-i`) so that large lists are searched in O(log n).
    Bytes(Vec<Box<[u8]>>),
    /// Regular expressions (`-i` compiled in as case-insensitivity).
    Regex(Vec<regex::bytes::Regex>),
    /// Integer ranges, for int/len.
    Int(Vec<IntRange>),
    /// Networks, for ip (searched in O(log n)).
    Ip(IpSet),
}

impl Patterns {
    /// The number of patterns.
    pub fn len(&self) -> usize {
        match self {
            Patterns::None => 0,
            Patterns::Bytes(v) => v.len(),
            Patterns::Regex(v) => v.len(),
            Patterns::Int(v) => v.len(),
            Patterns::Ip(v) => v.len(),
        }
    }

    /// No pattern at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One `acl` line (or one anonymous `{ ... }` ACL): a fetch, a match method and patterns.
#[derive(Debug, Clone)]
pub struct Criterion {
    pub fetch: Fetch,
    pub method: MatchMethod,
    /// `-i`: case-insensitive string matching.
    pub ignore_case: bool,
    pub patterns: Patterns,
}

/// A named ACL: the criteria of every `acl` line with that name, ORed.
#[derive(Debug, Clone)]
pub struct Acl {
    /// The name (`anonymous` for `{ ... }` ACLs, as haproxy calls them).
    pub name: String,
    pub criteria: Vec<Criterion>,
    /// The lines that declared it (one per `acl` line; the rule's line for an anonymous ACL;
    /// none for a predefined ACL).
    pub locs: Vec<crate::config::Location>,
}

/// One term of a condition: an ACL, possibly negated with `!`.
#[derive(Debug, Clone)]
pub struct Term {
    pub negate: bool,
    pub acl: Arc<Acl>,
}

/// `if` or `unless`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Polarity {
    If,
    Unless,
}

/// A condition: `if|unless TERM [TERM ...] [|| TERM ...]`.
///
/// `alternatives` is an OR of AND-suites: `a b || !c` is `[[a, b], [!c]]`.
#[derive(Debug, Clone)]
pub struct Condition {
    pub polarity: Polarity,
    pub alternatives: Vec<Vec<Term>>,
}

impl Condition {
    /// Whether the condition holds for this request.
    pub fn eval<S: SampleSource + ?Sized>(&self, src: &S) -> bool {
        let any = self
            .alternatives
            .iter()
            .any(|suite| suite.iter().all(|t| t.acl.eval(src) != t.negate));
        match self.polarity {
            Polarity::If => any,
            Polarity::Unless => !any,
        }
    }

    /// The fetches it uses, for checks such as "this rule needs an HTTP request".
    pub fn fetches(&self) -> impl Iterator<Item = &Fetch> {
        self.alternatives
            .iter()
            .flatten()
            .flat_map(|t| t.acl.criteria.iter().map(|c| &c.fetch))
    }
}

impl Acl {
    /// Whether any criterion matches.
    pub fn eval<S: SampleSource + ?Sized>(&self, src: &S) -> bool {
        self.criteria.iter().any(|c| c.eval(src))
    }
}

impl fmt::Display for Fetch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        match self {
            Fetch::Hdr { name, occ: None } => write!(f, "req.hdr({})", s(name)),
            Fetch::Hdr { name, occ: Some(o) } => write!(f, "req.hdr({},{o})", s(name)),
            Fetch::HdrCnt { name } => write!(f, "req.hdr_cnt({})", s(name)),
            Fetch::Path => f.write_str("path"),
            Fetch::Url => f.write_str("url"),
            Fetch::UrlParam { name } => write!(f, "url_param({})", s(name)),
            Fetch::Method => f.write_str("method"),
            Fetch::ReqVer => f.write_str("req.ver"),
            Fetch::Src => f.write_str("src"),
            Fetch::SrcPort => f.write_str("src_port"),
            Fetch::Dst => f.write_str("dst"),
            Fetch::DstPort => f.write_str("dst_port"),
            Fetch::ReqSslSni => f.write_str("req.ssl_sni"),
            Fetch::ReqSslHelloType => f.write_str("req.ssl_hello_type"),
            Fetch::Const(true) => f.write_str("always_true"),
            Fetch::Const(false) => f.write_str("always_false"),
            Fetch::Tls(t) => f.write_str(t.name()),
            Fetch::NbSrv { backend: None } => f.write_str("nbsrv"),
            Fetch::NbSrv { backend: Some(b) } => write!(f, "nbsrv({b})"),
            Fetch::HttpAuth { userlist } => write!(f, "http_auth({userlist})"),
            Fetch::HttpAuthGroup { userlist } => write!(f, "http_auth_group({userlist})"),
        }
    }
}
