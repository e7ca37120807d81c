//! Sections and keywords: lines in, [`Config`] out.
//!
//! Each section keyword starts a section; the lines that follow belong to it. A proxy starts
//! from a copy of the settings of its defaults section (the last one before it, or the one
//! named by `from`), as haproxy does, and its own lines change that copy.
//!
//! Keywords dermaga does not implement are errors ("'KEYWORD' is not supported by dermaga"),
//! except the harmless ones listed in [`HARMLESS`], which only warn. Keywords haproxy does not
//! know either get haproxy's own "unknown keyword" message.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::aclparse::{
    self, compile_regex, invalid_acl_name_char, parse_condition, parse_criterion, AclNames, AclRef,
    PendingCond,
};
use super::diag::Diagnostic;
use super::format::parse_format;
use super::keywords::{GLOBAL_KEYWORDS, OPTIONS, PROXY_KEYWORDS};
use super::lexer::{Env, Line};
use super::model::*;
use super::units::{parse_size, parse_time, parse_uint, TimeError};
use crate::acl::{Acl, Criterion, Fetch, IpNet};

/// Keywords that dermaga accepts without implementing them, because ignoring them changes
/// nothing a client or a server can see. Each use gets a warning, never silence.
///
/// | section | keyword | why it is harmless |
/// |---|---|---|
/// | global | `tune.ssl.*` | TLS buffer and cache tuning of OpenSSL; rustls sizes its own |
/// | global | `description`, `node` | only shown on haproxy's stats page |
/// | global | `spread-checks` | jitter between health checks; checks still run at their interval |
/// | global | `log-tag`, `log-send-hostname` | change the syslog header only |
/// | proxies | `description` | only shown on the stats page |
/// | proxies | `fullconn` | only matters with the server option `minconn`, which dermaga refuses |
/// | proxies | `capture cookie` | it only adds a field to log lines |
/// | proxies | `option log-health-checks`, `option dontlog-normal`, `option log-separate-errors` | logging only; dermaga always logs server state changes |
/// | proxies | `option splice-auto`, `splice-request`, `splice-response` | dermaga splices TCP mode by itself |
/// | proxies | `option tcp-smart-accept`, `option tcp-smart-connect` | socket tuning only |
///
/// `http-reuse safe` is accepted without a word: it is what dermaga does. The other
/// `http-reuse` modes are refused.
///
/// Everything else dermaga does not implement is an error, notably the stats page (`stats
/// enable`, `stats uri`, ...): a listener that should serve it would forward traffic instead.
pub const HARMLESS: &[&str] = &[
    "tune.ssl.*",
    "description",
    "node",
    "spread-checks",
    "log-tag",
    "log-send-hostname",
    "fullconn",
    "capture cookie",
    "option log-health-checks",
    "option dontlog-normal",
    "option log-separate-errors",
    "option splice-auto",
    "option splice-request",
    "option splice-response",
    "option tcp-smart-accept",
    "option tcp-smart-connect",
];

/// TLS 1.2 cipher suites (OpenSSL names) that dermaga's TLS stack (rustls) offers.
pub const TLS12_CIPHERS: &[&str] = &[
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-RSA-CHACHA20-POLY1305",
];

/// TLS 1.3 cipher suites that dermaga's TLS stack (rustls) offers.
pub const TLS13_CIPHERSUITES: &[&str] = &[
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];

/// The `tune.maxrewrite` default: half the buffer, at most 1024 bytes.
fn default_maxrewrite(bufsize: usize) -> usize {
    (bufsize / 2).min(1024)
}

/// The TLS options of `bind` that dermaga implements, with their argument counts; the
/// [`crate::tls`] module reads them.
const TLS_BIND_OPTIONS: &[(&str, usize)] = &[
    ("ssl", 0),
    ("crt", 1),
    ("crt-list", 1),
    ("alpn", 1),
    ("ciphers", 1),
    ("ciphersuites", 1),
    ("curves", 1),
    ("ecdhe", 1),
    ("ssl-min-ver", 1),
    ("ssl-max-ver", 1),
    ("ca-file", 1),
    ("verify", 1),
    ("no-sslv3", 0),
    ("no-tlsv10", 0),
    ("no-tlsv11", 0),
    ("no-tlsv12", 0),
    ("no-tlsv13", 0),
    ("force-sslv3", 0),
    ("force-tlsv10", 0),
    ("force-tlsv11", 0),
    ("force-tlsv12", 0),
    ("force-tlsv13", 0),
    ("no-tls-tickets", 0),
    ("strict-sni", 0),
    ("prefer-client-ciphers", 0),
];

/// Bind options dermaga recognises but does not implement, with the number of arguments
/// each takes (the rarer TLS options and NetScaler's client IP are later work).
const PENDING_BIND_OPTIONS: &[(&str, usize)] = &[
    ("npn", 1),
    ("sigalgs", 1),
    ("client-sigalgs", 1),
    ("crl-file", 1),
    ("ca-sign-file", 1),
    ("ca-sign-pass", 1),
    ("allow-0rtt", 0),
    ("generate-certificates", 0),
    ("ca-ignore-err", 1),
    ("crt-ignore-err", 1),
    ("accept-netscaler-cip", 1),
];

/// The TLS options of `server` and `default-server` that dermaga implements, with their
/// argument counts; the [`crate::tls`] module reads them.
const TLS_SERVER_OPTIONS: &[(&str, usize)] = &[
    ("ssl", 0),
    ("no-ssl", 0),
    ("verify", 1),
    ("verifyhost", 1),
    ("ca-file", 1),
    ("crt", 1),
    ("sni", 1),
    ("alpn", 1),
    ("ciphers", 1),
    ("ciphersuites", 1),
    ("curves", 1),
    ("ssl-min-ver", 1),
    ("ssl-max-ver", 1),
    ("ssl-reuse", 0),
    ("no-ssl-reuse", 0),
    ("check-ssl", 0),
    ("no-check-ssl", 0),
    ("check-sni", 1),
    ("check-alpn", 1),
    ("no-tls-tickets", 0),
    ("no-sslv3", 0),
    ("no-tlsv10", 0),
    ("no-tlsv11", 0),
    ("no-tlsv12", 0),
    ("no-tlsv13", 0),
    ("force-tlsv12", 0),
    ("force-tlsv13", 0),
];

/// Other bind options haproxy has, refused by dermaga, with their argument counts.
const UNSUPPORTED_BIND_OPTIONS: &[(&str, usize)] = &[
    ("process", 1),
    ("thread", 1),
    ("tfo", 0),
    ("mss", 1),
    ("mode", 1),
    ("user", 1),
    ("group", 1),
    ("uid", 1),
    ("gid", 1),
    ("level", 1),
    ("severity-output", 1),
    ("expose-fd", 1),
    ("tcp-ut", 1),
    ("id", 1),
    ("nice", 1),
    ("namespace", 1),
    ("shards", 1),
    ("quic-cc-algo", 1),
    ("quic-force-retry", 0),
    ("idle-ping", 1),
];

/// Server options haproxy has and dermaga does not, with their argument counts.
const UNSUPPORTED_SERVER_OPTIONS: &[(&str, usize)] = &[
    ("crl-file", 1),
    ("npn", 1),
    ("check-send-proxy", 0),
    ("check-via-socks4", 0),
    ("send-proxy-v2-ssl", 0),
    ("send-proxy-v2-ssl-cn", 0),
    ("proxy-v2-options", 1),
    ("resolvers", 1),
    ("resolve-prefer", 1),
    ("resolve-net", 1),
    ("resolve-opts", 1),
    ("init-addr", 1),
    ("agent-check", 0),
    ("agent-port", 1),
    ("agent-inter", 1),
    ("agent-addr", 1),
    ("agent-send", 1),
    ("track", 1),
    ("minconn", 1),
    ("redir", 1),
    ("source", 1),
    ("tfo", 0),
    ("pool-max-conn", 1),
    ("pool-low-conn", 1),
    ("pool-purge-delay", 1),
    ("max-reuse", 1),
    ("namespace", 1),
    ("socks4", 1),
    ("id", 1),
    ("usesrc", 1),
    ("tcp-ut", 1),
    ("ws", 1),
    ("log-proto", 1),
    ("shard", 1),
    ("non-stick", 0),
    ("stick", 0),
    ("allow-0rtt", 0),
    ("no-agent-check", 0),
    ("guid", 1),
    ("hash-key", 1),
    ("set-proxy-v2-tlv-fmt", 1),
];

/// The `http-request` actions haproxy has and dermaga does not.
const UNSUPPORTED_HTTP_REQUEST_ACTIONS: &[&str] = &[
    "wait-for-handshake",
    "set-log-level",
    "set-nice",
    "use-service",
    "send-spoe-group",
    "cache-use",
    "capture",
    "disable-l7-retry",
    "early-hint",
    "normalize-uri",
    "reject",
    "replace-pathq",
    "replace-uri",
    "replace-value",
    "set-method",
    "set-pathq",
    "set-query",
    "set-uri",
    "strict-mode",
    "set-timeout",
    "wait-for-body",
    "set-dst",
    "set-dst-port",
    "set-mark",
    "set-src",
    "set-src-port",
    "set-tos",
    "silent-drop",
    "set-priority-class",
    "set-priority-offset",
    "track-sc0",
    "track-sc1",
    "track-sc2",
    "set-bandwidth-limit",
    "set-fc-mark",
    "set-fc-tos",
    "set-retries",
    "do-log",
    "pause",
    "set-header-fmt",
];

const UNSUPPORTED_HTTP_REQUEST_PREFIXES: &[&str] = &[
    "sc-inc-gpc",
    "sc-set-gpt",
    "sc-add-gpc",
    "do-resolve(",
    "add-acl(",
    "del-acl(",
    "del-map(",
    "set-map(",
    "set-var(",
    "set-var-fmt(",
    "unset-var(",
    "track-sc",
];

/// What a proxy or defaults section can set, plus the health-check rules kept aside until the
/// section ends (`http-check` lines may come before `option httpchk`).
#[derive(Debug, Clone)]
struct Inherit {
    settings: ProxySettings,
    check: CheckState,
    /// `default_backend` of a defaults section, for the frontends that inherit it.
    default_backend: Option<(Location, String)>,
}

#[derive(Debug, Clone, Default)]
struct CheckState {
    kind: CheckKind,
    /// `option httpchk` arguments.
    http: Option<HttpCheck>,
    /// `http-check send` lines.
    send: Vec<HttpSend>,
    expect: Vec<HttpCheckExpect>,
    /// Whether the http-check rules above were written in this section (the first one
    /// replaces the inherited ones).
    own_http_rules: bool,
    tcp: Vec<TcpCheckRule>,
    own_tcp_rules: bool,
    /// Where `option httplog` was set (for haproxy's warning in TCP proxies).
    httplog_loc: Option<Location>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum CheckKind {
    #[default]
    Connect,
    Http,
    Tcp,
}

#[derive(Debug, Clone)]
struct HttpSend {
    method: Option<String>,
    uri: Option<String>,
    version: Option<String>,
    headers: Vec<(String, String)>,
    body: Option<String>,
}

struct DefaultsState {
    defaults: Defaults,
    inherit: Inherit,
}

/// A proxy under construction.
struct ProxyState {
    proxy: Proxy,
    check: CheckState,
    /// Named ACLs in declaration order, with their criteria (merged by name).
    acls: Vec<(String, Vec<Criterion>, Vec<Location>)>,
    /// ACL name → position in `acls`.
    acl_index: HashMap<String, usize>,
    use_backends: Vec<(Location, String, Option<PendingCond>)>,
    default_backend: Option<(Location, String)>,
    http_request: Vec<(Location, HttpRequestAction, Option<PendingCond>)>,
    http_response: Vec<(Location, HttpResponseAction, Option<PendingCond>)>,
    tcp_connection: Vec<(Location, TcpAction, Option<PendingCond>)>,
    tcp_content: Vec<(Location, TcpAction, Option<PendingCond>)>,
    redirects: Vec<(Location, Redirect, Option<PendingCond>)>,
    monitor_fail: Vec<(Location, PendingCond)>,
    stats_admin: Option<(Location, PendingCond)>,
    server_lines: HashMap<String, u32>,
    /// Errors haproxy reports after reading everything (duplicate server names).
    late_errors: Vec<Diagnostic>,
    /// Locations of conditions using layer-6 fetches (`req.ssl_sni`), for haproxy's warning in
    /// HTTP proxies.
    l6_fetch_locs: Vec<Location>,
}

impl AclNames for ProxyState {
    fn known(&self, name: &str) -> bool {
        self.acl_index.contains_key(name) || aclparse::predefined(name).is_some()
    }
}

enum Section {
    None,
    Global,
    Defaults(usize),
    Proxy(usize),
    /// A section kind dermaga does not implement: its lines are skipped (the section line
    /// itself was reported).
    Unsupported,
    /// A proxy section whose first line was refused: each of its lines is an error.
    Orphan,
    /// A `userlist` section (index in `Parser::userlists`).
    Userlist(usize),
}

/// The configuration parser: feed it lines with [`Parser::line`], then call
/// [`Parser::finish`].
pub(crate) struct Parser<'e> {
    env: &'e dyn Env,
    pub diags: Vec<Diagnostic>,
    global: Global,
    global_loc: Option<Location>,
    defaults: Vec<DefaultsState>,
    /// The defaults section a proxy inherits from when it names none.
    last_defaults: Option<usize>,
    proxies: Vec<ProxyState>,
    section: Section,
    /// Set when haproxy would stop reading the configuration (e.g. a section without name).
    pub abort: bool,
    /// Backends named by `nbsrv` fetches: where, in which proxy, which backend (`None`: the
    /// proxy itself, by a bare `nbsrv`). They are checked once every section is read, as
    /// haproxy resolves fetch arguments.
    fetch_backend_refs: Vec<(Location, String, Option<String>)>,
    /// Userlists named by `http_auth` fetches: where, in which proxy, which fetch, which list.
    fetch_userlist_refs: Vec<(Location, String, &'static str, String)>,
    userlists: Vec<UserlistState>,
}

/// A `userlist` section being read: its users, and its `group` lines (name, users named
/// there), merged into the users at the end.
struct UserlistState {
    list: Userlist,
    groups: Vec<(String, Vec<String>)>,
}

fn arg(w: &[String], i: usize) -> &str {
    w.get(i).map(String::as_str).unwrap_or("")
}

/// The words from `i` up to the first empty one (haproxy's end of arguments).
fn args_from(w: &[String], i: usize) -> &[String] {
    let rest = &w[i.min(w.len())..];
    let n = rest.iter().position(|s| s.is_empty()).unwrap_or(rest.len());
    &rest[..n]
}

/// Splits rule words at `if`/`unless`: (action words, condition words).
fn split_cond(w: &[String]) -> (&[String], &[String]) {
    match w.iter().position(|s| s == "if" || s == "unless") {
        Some(p) => (&w[..p], &w[p..]),
        None => (w, &[]),
    }
}

fn time_err_text(e: &TimeError, value: &str, kw: &str) -> String {
    match e {
        TimeError::Empty => format!("'{kw}' expects an integer value (in milliseconds)"),
        TimeError::BadChar(c) => format!("unexpected character '{c}' in '{kw}'"),
        TimeError::Overflow => format!(
            "timer overflow in argument '{value}' to '{kw}' (maximum value is 2147483647 ms or ~24.8 days)"
        ),
        TimeError::Underflow => format!(
            "timer underflow in argument '{value}' to '{kw}' (minimum non-null value is 1 ms)"
        ),
    }
}

/// `Some(d)` for a non-zero time, `None` for 0 (no timeout).
fn nonzero(d: Duration) -> Option<Duration> {
    if d.is_zero() {
        None
    } else {
        Some(d)
    }
}

impl<'e> Parser<'e> {
    pub fn new(env: &'e dyn Env) -> Parser<'e> {
        Parser {
            env,
            diags: Vec::new(),
            global: Global {
                bufsize: 16384,
                maxrewrite: 0,
                stats_timeout: Duration::from_secs(10),
                stats_maxconn: 10,
                ..Global::default()
            },
            global_loc: None,
            defaults: Vec::new(),
            last_defaults: None,
            proxies: Vec::new(),
            section: Section::None,
            abort: false,
            fetch_backend_refs: Vec::new(),
            fetch_userlist_refs: Vec::new(),
            userlists: Vec::new(),
        }
    }

    fn alert(&mut self, loc: &Location, msg: String) {
        self.diags.push(Diagnostic::alert(
            Some(loc.clone()),
            format!("parsing [{loc}] : {msg}"),
        ));
    }

    fn warn(&mut self, loc: &Location, msg: String) {
        self.diags.push(Diagnostic::warning(
            Some(loc.clone()),
            format!("parsing [{loc}] : {msg}"),
        ));
    }

    fn unsupported(&mut self, loc: &Location, what: &str) {
        self.alert(loc, format!("'{what}' is not supported by dermaga."));
    }

    fn harmless(&mut self, loc: &Location, what: &str) {
        self.warn(
            loc,
            format!("'{what}' is not implemented by dermaga and is ignored."),
        );
    }

    /// A new file starts: haproxy starts each file outside any section.
    pub fn start_file(&mut self) {
        self.end_section();
        self.section = Section::None;
    }

    /// Handles one line.
    pub fn line(&mut self, line: &Line) {
        let w = &line.words;
        let loc = &line.loc;
        let kw = w[0].as_str();
        if super::lexer::SECTION_KEYWORDS.contains(&kw) {
            self.end_section();
            self.start_section(loc, w);
            return;
        }
        match self.section {
            Section::None => {
                self.diags.push(Diagnostic::alert(
                    Some(loc.clone()),
                    format!("parsing [{loc}]: unknown keyword '{kw}' out of section."),
                ));
            }
            Section::Global => self.global_line(loc, w),
            Section::Defaults(i) => self.proxy_line(loc, w, Target::Defaults(i)),
            Section::Proxy(i) => self.proxy_line(loc, w, Target::Proxy(i)),
            Section::Unsupported => {}
            Section::Orphan => self.alert(loc, "'listen' or 'defaults' expected.".to_string()),
            Section::Userlist(i) => self.userlist_line(loc, w, i),
        }
    }

    fn start_section(&mut self, loc: &Location, w: &[String]) {
        let kw = w[0].as_str();
        match kw {
            "global" => {
                if self.global_loc.is_none() {
                    self.global_loc = Some(loc.clone());
                }
                self.section = Section::Global;
            }
            "defaults" | "frontend" | "backend" | "listen" => self.start_proxy(loc, w),
            "userlist" => self.start_userlist(loc, w),
            _ => {
                self.alert(loc, format!("'{kw}' section is not supported by dermaga."));
                self.section = Section::Unsupported;
            }
        }
    }

    /// An alert or warning worded as haproxy words those of `userlist` sections
    /// (`parsing [file:line]: ...`, no space before the colon).
    fn userlist_diag(&mut self, loc: &Location, alert: bool, msg: String) {
        let text = format!("parsing [{loc}]: {msg}");
        self.diags.push(if alert {
            Diagnostic::alert(Some(loc.clone()), text)
        } else {
            Diagnostic::warning(Some(loc.clone()), text)
        });
    }

    fn start_userlist(&mut self, loc: &Location, w: &[String]) {
        let name = arg(w, 1);
        if name.is_empty() {
            self.userlist_diag(loc, true, "'userlist' expects <name> as arguments.".into());
            self.section = Section::Unsupported;
            return;
        }
        if self.userlists.iter().any(|u| u.list.name == name) {
            self.userlist_diag(
                loc,
                false,
                format!("ignoring duplicated userlist '{name}'."),
            );
            self.section = Section::Unsupported;
            return;
        }
        self.userlists.push(UserlistState {
            list: Userlist {
                name: name.to_string(),
                loc: loc.clone(),
                users: Vec::new(),
            },
            groups: Vec::new(),
        });
        self.section = Section::Userlist(self.userlists.len() - 1);
    }

    /// `group NAME [users U1,U2...]` and `user NAME [password HASH | insecure-password TEXT]
    /// [groups G1,G2...]`.
    fn userlist_line(&mut self, loc: &Location, w: &[String], i: usize) {
        let kw = w[0].as_str();
        let name = arg(w, 1).to_string();
        let list_name = self.userlists[i].list.name.clone();
        let names = |s: &str| -> Vec<String> {
            s.split(',')
                .filter(|n| !n.is_empty())
                .map(str::to_string)
                .collect()
        };
        match kw {
            "group" => {
                if name.is_empty() {
                    self.userlist_diag(loc, true, "'group' expects <name> as arguments.".into());
                    return;
                }
                if self.userlists[i].groups.iter().any(|g| g.0 == name) {
                    let m =
                        format!("ignoring duplicated group '{name}' in userlist '{list_name}'.");
                    self.userlist_diag(loc, false, m);
                    return;
                }
                let mut users = Vec::new();
                let mut k = 2;
                while !arg(w, k).is_empty() {
                    if arg(w, k) == "users" && !arg(w, k + 1).is_empty() {
                        users.extend(names(arg(w, k + 1)));
                        k += 2;
                    } else {
                        self.userlist_diag(
                            loc,
                            true,
                            "'group' only supports 'users' option.".into(),
                        );
                        return;
                    }
                }
                self.userlists[i].groups.push((name, users));
            }
            "user" => {
                if name.is_empty() {
                    self.userlist_diag(loc, true, "'user' expects <name> as arguments.".into());
                    return;
                }
                if self.userlists[i].list.users.iter().any(|u| u.name == name) {
                    let m = format!("ignoring duplicated user '{name}' in userlist '{list_name}'.");
                    self.userlist_diag(loc, false, m);
                    return;
                }
                let mut user = User {
                    name,
                    password: Password::None,
                    groups: Vec::new(),
                };
                let mut k = 2;
                while !arg(w, k).is_empty() {
                    let (opt, val) = (arg(w, k), arg(w, k + 1));
                    match opt {
                        "password" if !val.is_empty() => {
                            user.password = Password::Hashed(val.to_string())
                        }
                        "insecure-password" if !val.is_empty() => {
                            user.password = Password::Plain(val.to_string())
                        }
                        "groups" if !val.is_empty() => user.groups.extend(names(val)),
                        _ => {
                            let m = "'user' only supports 'password', 'insecure-password' and 'groups' options.";
                            self.userlist_diag(loc, true, m.into());
                            return;
                        }
                    }
                    k += 2;
                }
                self.userlists[i].list.users.push(user);
            }
            _ => self.userlist_diag(
                loc,
                true,
                format!("unknown keyword '{kw}' in 'users' section"),
            ),
        }
    }

    /// The userlists, each user given the groups whose `users` name it. A group or user that
    /// names an unknown one is an error; as haproxy, only the first found is reported (users
    /// checked before groups, the last ones first).
    fn finish_userlists(&mut self) -> Vec<Userlist> {
        let states = std::mem::take(&mut self.userlists);
        let mut out = Vec::with_capacity(states.len());
        let mut first_error: Option<String> = None;
        for st in states {
            let mut list = st.list;
            let group_known = |g: &String| st.groups.iter().any(|x| &x.0 == g);
            let user_error = list.users.iter().rev().find_map(|u| {
                u.groups.iter().find(|g| !group_known(g)).map(|g| {
                    format!(
                        "userlist '{}': no such group '{g}' specified in user '{}'",
                        list.name, u.name
                    )
                })
            });
            let group_error = st.groups.iter().rev().find_map(|(g, users)| {
                users
                    .iter()
                    .find(|u| !list.users.iter().any(|x| &x.name == *u))
                    .map(|u| {
                        format!(
                            "userlist '{}': no such user '{u}' specified in group '{g}'",
                            list.name
                        )
                    })
            });
            if first_error.is_none() {
                first_error = user_error.or(group_error);
            }
            for (g, users) in &st.groups {
                for x in list.users.iter_mut().filter(|x| users.contains(&x.name)) {
                    if !x.groups.contains(g) {
                        x.groups.push(g.clone());
                    }
                }
            }
            out.push(list);
        }
        if let Some(e) = first_error {
            self.diags.push(Diagnostic::alert(None, e));
        }
        out
    }

    fn start_proxy(&mut self, loc: &Location, w: &[String]) {
        let kw = w[0].as_str();
        let mut name = arg(w, 1).to_string();
        let mut from: Option<String> = None;
        let mut i = 2;
        if kw == "defaults" && name == "from" {
            name = String::new();
            i = 1;
        }
        if arg(w, i) == "from" {
            if arg(w, i + 1).is_empty() {
                self.alert(
                    loc,
                    format!("'from' expects a defaults section name in '{kw}' section."),
                );
                self.abort = true;
                self.section = Section::Unsupported;
                return;
            }
            from = Some(arg(w, i + 1).to_string());
            i += 2;
        }
        if kw != "defaults" && name.is_empty() {
            self.alert(loc, format!("'{kw}' expects an <id> argument"));
            self.abort = true;
            self.section = Section::Unsupported;
            return;
        }
        if !name.is_empty() {
            if let Some(c) = name
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')))
            {
                self.alert(
                    loc,
                    format!("character '{c}' is not permitted in '{kw}' name '{name}'."),
                );
                self.section = Section::Unsupported;
                return;
            }
        }
        if !arg(w, i).is_empty() {
            if kw == "defaults" {
                self.alert(
                    loc,
                    format!(
                        "'{kw}' takes a name and 'from NAME' only, got '{}'.",
                        arg(w, i)
                    ),
                );
            } else {
                self.alert(
                    loc,
                    "please use the 'bind' keyword for listening addresses.".to_string(),
                );
                // haproxy then has no proxy to put the section's lines in.
                self.section = Section::Orphan;
                return;
            }
            self.section = Section::Unsupported;
            return;
        }
        // Where the settings come from.
        let base: Option<usize> = match &from {
            Some(f) => match self
                .defaults
                .iter()
                .rposition(|d| d.defaults.name.as_deref() == Some(f.as_str()))
            {
                Some(i) => Some(i),
                None => {
                    let what = if kw == "defaults" {
                        "defaults section".to_string()
                    } else {
                        format!("{kw} '{name}'")
                    };
                    self.alert(loc, format!("defaults section '{f}' not found for {what}."));
                    self.abort = true;
                    self.section = Section::Unsupported;
                    return;
                }
            },
            None if kw == "defaults" => None,
            None => self.last_defaults,
        };
        let inherit = match base {
            Some(i) => {
                let mut inh = self.defaults[i].inherit.clone();
                inh.check.own_http_rules = false;
                inh.check.own_tcp_rules = false;
                inh
            }
            None => Inherit {
                settings: ProxySettings::default(),
                check: CheckState::default(),
                default_backend: None,
            },
        };
        if kw == "defaults" {
            let d = Defaults {
                loc: loc.clone(),
                name: if name.is_empty() { None } else { Some(name) },
                from,
                settings: inherit.settings.clone(),
            };
            self.defaults.push(DefaultsState {
                defaults: d,
                inherit,
            });
            let idx = self.defaults.len() - 1;
            self.last_defaults = Some(idx);
            self.section = Section::Defaults(idx);
            return;
        }
        let kind = match kw {
            "frontend" => ProxyKind::Frontend,
            "backend" => ProxyKind::Backend,
            _ => ProxyKind::Listen,
        };
        // Names must be unique among proxies sharing a capability.
        let clash = self.proxies.iter().find(|p| {
            p.proxy.name == name
                && ((p.proxy.kind.is_frontend() && kind.is_frontend())
                    || (p.proxy.kind.is_backend() && kind.is_backend()))
        });
        if let Some(other) = clash {
            let msg = format!(
                "Parsing [{loc}]: {} '{name}' has the same name as {} '{}' declared at {}.",
                kind.type_str(),
                other.proxy.kind.type_str(),
                other.proxy.name,
                other.proxy.loc
            );
            self.diags.push(Diagnostic::alert(Some(loc.clone()), msg));
        }
        let defaults_name = base.and_then(|i| self.defaults[i].defaults.name.clone());
        let proxy = Proxy {
            loc: loc.clone(),
            kind,
            name,
            defaults: defaults_name,
            settings: inherit.settings,
            binds: Vec::new(),
            servers: Vec::new(),
            acls: Vec::new(),
            use_backends: Vec::new(),
            default_backend: None,
            http_request: Vec::new(),
            http_response: Vec::new(),
            tcp_request_connection: Vec::new(),
            tcp_request_content: Vec::new(),
            redirects: Vec::new(),
            capture_request: Vec::new(),
            capture_response: Vec::new(),
            monitor_fail: Vec::new(),
            stats_admin: None,
        };
        let default_backend = if kind.is_frontend() {
            inherit.default_backend
        } else {
            None
        };
        self.proxies.push(ProxyState {
            proxy,
            check: inherit.check,
            acls: Vec::new(),
            acl_index: HashMap::new(),
            use_backends: Vec::new(),
            default_backend,
            http_request: Vec::new(),
            http_response: Vec::new(),
            tcp_connection: Vec::new(),
            tcp_content: Vec::new(),
            redirects: Vec::new(),
            monitor_fail: Vec::new(),
            stats_admin: None,
            server_lines: HashMap::new(),
            late_errors: Vec::new(),
            l6_fetch_locs: Vec::new(),
        });
        self.section = Section::Proxy(self.proxies.len() - 1);
    }

    /// Closes the current section: a defaults section's settings become final.
    fn end_section(&mut self) {
        if let Section::Defaults(i) = self.section {
            let d = &mut self.defaults[i];
            d.defaults.settings = d.inherit.settings.clone();
            d.defaults.settings.health_check =
                build_health_check(&d.inherit.check, &d.defaults.loc);
        }
        self.section = Section::None;
    }

    // -----------------------------------------------------------------------------------------
    // global
    // -----------------------------------------------------------------------------------------

    /// haproxy's check of keywords that take a fixed number of arguments.
    fn too_many_args(&mut self, loc: &Location, w: &[String], table: &[(&str, usize)]) -> bool {
        let kw = w[0].as_str();
        let Some((_, max)) = table.iter().find(|(k, _)| *k == kw) else {
            return false;
        };
        let extra = arg(w, max + 1);
        if extra.is_empty() {
            return false;
        }
        self.alert(
            loc,
            format!("'{kw}' cannot handle unexpected argument '{extra}'."),
        );
        true
    }

    fn global_line(&mut self, loc: &Location, w: &[String]) {
        const FIXED: &[(&str, usize)] = &[
            ("maxconn", 1),
            ("nbthread", 1),
            ("daemon", 0),
            ("zero-warning", 0),
            ("pidfile", 1),
            ("chroot", 1),
            ("user", 1),
            ("group", 1),
            ("uid", 1),
            ("gid", 1),
            ("tune.bufsize", 1),
            ("tune.maxrewrite", 1),
            ("tune.h2.header-table-size", 1),
            ("tune.h2.initial-window-size", 1),
            ("tune.h2.max-concurrent-streams", 1),
            ("tune.h2.max-frame-size", 1),
            ("ca-base", 1),
            ("crt-base", 1),
        ];
        if self.too_many_args(loc, w, FIXED) {
            return;
        }
        let kw = w[0].as_str();
        let a1 = arg(w, 1);
        if kw == "no" || kw == "default" {
            if arg(w, 1) == "log" && kw == "no" {
                self.global.logs.clear();
                return;
            }
            self.alert(loc, "negation/default currently supported only for options, log, busy-polling, set-dumpable, strict-limits, insecure-fork-wanted and numa-cpu-mapping.".to_string());
            return;
        }
        match kw {
            "maxconn" => match parse_uint(a1).and_then(|v| u32::try_from(v).ok()) {
                Some(v) => self.global.maxconn = Some(v),
                None => self.alert(loc, format!("'{kw}' expects an integer argument.")),
            },
            "nbthread" => {
                if a1.is_empty() {
                    self.alert(loc, format!("'{kw}' expects an integer argument."));
                    return;
                }
                match a1.parse::<i64>() {
                    Ok(v) if (1..=4096).contains(&v) => self.global.nbthread = Some(v as u32),
                    Ok(v) => self.alert(
                        loc,
                        format!("'nbthread' value must be between 1 and 4096 (was {v})"),
                    ),
                    Err(_) => self.alert(loc, format!("'{kw}' expects an integer argument.")),
                }
            }
            "daemon" => self.global.daemon = true,
            "zero-warning" => self.global.zero_warning = true,
            "pidfile" => {
                if a1.is_empty() {
                    self.alert(loc, format!("'{kw}' expects a file name as an argument."));
                } else {
                    self.global.pidfile = Some(PathBuf::from(a1));
                }
            }
            "user" | "group" => {
                if a1.is_empty() {
                    let what = if kw == "user" { "user" } else { "group" };
                    self.alert(loc, format!("cannot find {what} id for '' (0:Success)"));
                    return;
                }
                let spec = Some(UserSpec::Name(a1.to_string()));
                if kw == "user" {
                    self.global.user = spec;
                } else {
                    self.global.group = spec;
                }
            }
            "uid" | "gid" => match parse_uint(a1).and_then(|v| u32::try_from(v).ok()) {
                Some(v) => {
                    if kw == "uid" {
                        self.global.user = Some(UserSpec::Id(v));
                    } else {
                        self.global.group = Some(UserSpec::Id(v));
                    }
                }
                None => self.alert(loc, format!("'{kw}' expects an integer argument.")),
            },
            "chroot" => {
                if a1.is_empty() {
                    self.alert(loc, format!("'{kw}' expects a directory as an argument."));
                } else {
                    self.global.chroot = Some(PathBuf::from(a1));
                }
            }
            "tune.bufsize" | "tune.maxrewrite" => {
                match parse_size(a1)
                    .and_then(|v| usize::try_from(v).ok())
                    .filter(|v| *v > 0 || kw == "tune.maxrewrite")
                {
                    Some(v) => {
                        if kw == "tune.bufsize" {
                            self.global.bufsize = v;
                        } else {
                            self.global.maxrewrite = v;
                        }
                    }
                    None => self.alert(loc, format!("'{kw}' expects a positive integer argument.")),
                }
            }
            "tune.h2.header-table-size"
            | "tune.h2.initial-window-size"
            | "tune.h2.max-concurrent-streams"
            | "tune.h2.max-frame-size" => self.tune_h2(loc, kw, a1),
            "ca-base" | "crt-base" => {
                if a1.is_empty() {
                    self.alert(
                        loc,
                        format!("'{kw}' expects a directory path as an argument."),
                    );
                    return;
                }
                let slot = if kw == "ca-base" {
                    &mut self.global.ca_base
                } else {
                    &mut self.global.crt_base
                };
                if slot.is_some() {
                    self.alert(loc, format!("'{kw}' already specified."));
                    return;
                }
                *slot = Some(PathBuf::from(a1));
            }
            k if k.starts_with("ssl-default-bind-") || k.starts_with("ssl-default-server-") => {
                const KNOWN: &[&str] = &[
                    "ciphers",
                    "ciphersuites",
                    "options",
                    "curves",
                    "sigalgs",
                    "client-sigalgs",
                ];
                let sub = k
                    .trim_start_matches("ssl-default-bind-")
                    .trim_start_matches("ssl-default-server-");
                if !KNOWN.contains(&sub) {
                    self.unknown_global(loc, kw);
                    return;
                }
                let rest = args_from(w, 1);
                if rest.is_empty() {
                    self.alert(loc, format!("'{kw}' expects an argument."));
                    return;
                }
                let value = rest.join(" ");
                self.check_tls_defaults(loc, kw, sub, &value);
                self.global.ssl_defaults.insert(kw.to_string(), value);
            }
            "log" => {
                if let Some(t) = self.parse_log(loc, w, true) {
                    self.global.logs.push(t);
                }
            }
            // Applied by the line reader, so that the lines after them see the change.
            "setenv" | "presetenv" => {
                if a1.is_empty() || arg(w, 2).is_empty() {
                    self.diags.push(Diagnostic::alert(
                        Some(loc.clone()),
                        format!("parsing [{loc}]: '{kw}' expects a name and a value."),
                    ));
                }
            }
            "unsetenv" => {
                if a1.is_empty() {
                    self.diags.push(Diagnostic::alert(
                        Some(loc.clone()),
                        format!("parsing [{loc}]: '{kw}' expects at least one variable name."),
                    ));
                }
            }
            "resetenv" => {}
            "stats" => self.global_stats(loc, w),
            k if k.starts_with("tune.ssl.") => self.harmless(loc, kw),
            "ssl-server-verify" => {
                if a1 != "none" && a1 != "required" {
                    self.alert(
                        loc,
                        format!("'{kw}' expects 'none' or 'required' as argument."),
                    );
                    return;
                }
                self.global
                    .ssl_defaults
                    .insert(kw.to_string(), a1.to_string());
            }
            "description" | "node" | "spread-checks" | "log-tag" | "log-send-hostname" => {
                self.harmless(loc, kw)
            }
            _ => {
                if GLOBAL_KEYWORDS.contains(&kw) {
                    self.unsupported(loc, kw);
                } else {
                    self.unknown_global(loc, kw);
                }
            }
        }
    }

    /// Names, in a warning, the ciphers and protocol versions of an `ssl-default-*` keyword
    /// that dermaga's TLS stack cannot offer; an error only when nothing usable remains.
    fn check_tls_defaults(&mut self, loc: &Location, kw: &str, sub: &str, value: &str) {
        let usable: &[&str] = match sub {
            "ciphers" => TLS12_CIPHERS,
            "ciphersuites" => TLS13_CIPHERSUITES,
            "options" => {
                let words: Vec<&str> = value.split_whitespace().collect();
                let old = words.windows(2).any(|w| {
                    w[0] == "ssl-min-ver" && matches!(w[1], "SSLv3" | "TLSv1.0" | "TLSv1.1")
                }) || words
                    .iter()
                    .any(|w| matches!(*w, "force-sslv3" | "force-tlsv10" | "force-tlsv11"));
                if old {
                    self.warn(loc, format!("'{kw}' : dermaga offers TLSv1.2 and TLSv1.3 only; older versions are not available."));
                }
                return;
            }
            _ => return,
        };
        let mut named = Vec::new();
        let mut selector = false;
        for item in value.split([':', ',', ' ']).filter(|i| !i.is_empty()) {
            // OpenSSL selectors (`HIGH`, `!aNULL`, `ECDHE+AESGCM`, `@SECLEVEL=2`) cannot be
            // judged one by one: only explicit cipher names are checked.
            if item.starts_with(['!', '-', '+', '@'])
                || item.contains('+')
                || !item.contains(['-', '_'])
            {
                selector = true;
                continue;
            }
            named.push(item);
        }
        let missing: Vec<&str> = named
            .iter()
            .copied()
            .filter(|n| !usable.contains(n))
            .collect();
        if missing.is_empty() {
            return;
        }
        if missing.len() == named.len() && !selector {
            self.alert(
                loc,
                format!(
                    "'{kw}' : none of the ciphers {} is supported by dermaga.",
                    missing.join(", ")
                ),
            );
        } else {
            self.warn(
                loc,
                format!(
                    "'{kw}' : dermaga cannot offer the ciphers {}; the others are used.",
                    missing.join(", ")
                ),
            );
        }
    }

    fn unknown_global(&mut self, loc: &Location, kw: &str) {
        self.alert(loc, format!("unknown keyword '{kw}' in 'global' section"));
    }

    fn global_stats(&mut self, loc: &Location, w: &[String]) {
        let sub = arg(w, 1);
        match sub {
            "socket" => {
                let a = arg(w, 2);
                if a.is_empty() {
                    self.alert(loc, "'stats socket' in global section expects an address or a path to a UNIX socket".to_string());
                    return;
                }
                let addr = match self.parse_listen_addr(a, true) {
                    Ok(mut v) if v.len() == 1 => v.remove(0),
                    Ok(_) => {
                        self.alert(
                            loc,
                            format!("'stats socket' : a port range is not allowed in '{a}'"),
                        );
                        return;
                    }
                    Err(e) => {
                        self.alert(loc, format!("'stats socket' : {e}"));
                        return;
                    }
                };
                let mut s = StatsSocket {
                    loc: loc.clone(),
                    addr,
                    mode: None,
                    user: None,
                    group: None,
                    level: StatsLevel::Operator,
                    expose_fd_listeners: false,
                };
                let mut i = 3;
                while !arg(w, i).is_empty() {
                    let opt = arg(w, i);
                    let val = arg(w, i + 1);
                    let need = |p: &mut Self, what: &str| -> bool {
                        if val.is_empty() {
                            p.alert(loc, format!("'stats socket' : '{opt}' : missing {what}"));
                            false
                        } else {
                            true
                        }
                    };
                    match opt {
                        "mode" => {
                            if !need(self, "mode") {
                                return;
                            }
                            match u32::from_str_radix(val, 8) {
                                Ok(m) => s.mode = Some(m),
                                Err(_) => {
                                    self.alert(loc, format!("'stats socket' : '{opt}' : invalid mode '{val}' (octal expected)"));
                                    return;
                                }
                            }
                            i += 2;
                        }
                        "level" => {
                            s.level = match val {
                                "user" => StatsLevel::User,
                                "operator" => StatsLevel::Operator,
                                "admin" => StatsLevel::Admin,
                                _ => {
                                    self.alert(loc, format!("'stats socket' : ''level' only supports 'user', 'operator', and 'admin' (got '{val}')'"));
                                    return;
                                }
                            };
                            i += 2;
                        }
                        "user" | "group" => {
                            if !need(self, "name") {
                                return;
                            }
                            let spec = Some(UserSpec::Name(val.to_string()));
                            if opt == "user" {
                                s.user = spec;
                            } else {
                                s.group = spec;
                            }
                            i += 2;
                        }
                        "uid" | "gid" => {
                            let Some(id) = parse_uint(val).and_then(|v| u32::try_from(v).ok())
                            else {
                                self.alert(
                                    loc,
                                    format!(
                                        "'stats socket' : '{opt}' : integer expected, got '{val}'"
                                    ),
                                );
                                return;
                            };
                            if opt == "uid" {
                                s.user = Some(UserSpec::Id(id));
                            } else {
                                s.group = Some(UserSpec::Id(id));
                            }
                            i += 2;
                        }
                        "expose-fd" => {
                            if val != "listeners" {
                                self.alert(loc, format!("'stats socket' : '{opt}' : only 'listeners' is supported, got '{val}'"));
                                return;
                            }
                            s.expose_fd_listeners = true;
                            i += 2;
                        }
                        _ => {
                            if UNSUPPORTED_BIND_OPTIONS.iter().any(|(n, _)| *n == opt)
                                || PENDING_BIND_OPTIONS.iter().any(|(n, _)| *n == opt)
                                || TLS_BIND_OPTIONS.iter().any(|(n, _)| *n == opt)
                            {
                                self.alert(
                                    loc,
                                    format!(
                                        "'stats socket' : '{opt}' is not supported by dermaga."
                                    ),
                                );
                            } else {
                                self.alert(
                                    loc,
                                    format!("'stats socket' : unknown keyword '{opt}'."),
                                );
                            }
                            return;
                        }
                    }
                }
                self.global.stats_sockets.push(s);
            }
            "timeout" | "maxconn" if !arg(w, 3).is_empty() => self.alert(
                loc,
                format!(
                    "'stats {sub}' cannot handle unexpected argument '{}'.",
                    arg(w, 3)
                ),
            ),
            "timeout" => match parse_time(arg(w, 2)) {
                Ok(d) if !d.is_zero() => self.global.stats_timeout = d,
                Ok(_) | Err(TimeError::Empty) => {
                    self.alert(loc, "'stats timeout' expects a positive value".to_string())
                }
                Err(TimeError::BadChar(c)) => {
                    self.alert(loc, format!("'stats timeout' : unexpected character '{c}'"))
                }
                Err(e) => {
                    let t = time_err_text(&e, arg(w, 2), "stats timeout");
                    self.alert(loc, t)
                }
            },
            "maxconn" => match parse_uint(arg(w, 2))
                .and_then(|v| u32::try_from(v).ok())
                .filter(|v| *v > 0)
            {
                Some(v) => self.global.stats_maxconn = v,
                None => self.alert(
                    loc,
                    "'stats maxconn' : a positive value is expected".to_string(),
                ),
            },
            "" => self.alert(
                loc,
                "'stats' expects 'socket', 'maxconn', 'timeout' in 'global' section.".to_string(),
            ),
            _ => {
                if matches!(sub, "bind-process") {
                    self.unsupported(loc, &format!("stats {sub}"));
                } else {
                    self.alert(loc, format!("'stats' only supports 'socket', 'maxconn', 'bind-process' and 'timeout' (got '{sub}')."));
                }
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // addresses
    // -----------------------------------------------------------------------------------------

    /// Reads a listening address: `[IP]:PORT[-PORT]`, `ipv4@`, `ipv6@`, `unix@PATH`, `/PATH`,
    /// `fd@N`, `fd@${NAME}`. Host names are resolved. `allow_unix` lets a path through.
    fn parse_listen_addr(&self, text: &str, allow_unix: bool) -> Result<Vec<ListenAddr>, String> {
        let (prefix, rest) = match text.find('@') {
            Some(i) => (&text[..i], &text[i + 1..]),
            None => ("", text),
        };
        match prefix {
            "fd" => {
                let v =
                    if let Some(name) = rest.strip_prefix("${").and_then(|r| r.strip_suffix('}')) {
                        match self.env.var(name) {
                            Some(v) => v,
                            None => {
                                return Err(format!(
                                    "environment variable '{name}' is not set in '{text}'"
                                ))
                            }
                        }
                    } else {
                        rest.to_string()
                    };
                return match v.trim().parse::<i32>() {
                    Ok(n) if n >= 0 => Ok(vec![ListenAddr::Fd(n)]),
                    _ => Err(format!(
                        "file descriptor '{v}' is not a valid integer in '{text}'"
                    )),
                };
            }
            "unix" => {
                return if allow_unix {
                    Ok(vec![ListenAddr::Unix(PathBuf::from(rest))])
                } else {
                    Err(format!(
                        "UNIX sockets are not supported by dermaga here: '{text}'"
                    ))
                };
            }
            "" | "ipv4" | "ipv6" | "tcp" | "tcp4" | "tcp6" | "stream+ipv4" | "stream+ipv6" => {}
            _ => {
                return Err(format!(
                    "address family '{prefix}@' is not supported by dermaga in '{text}'"
                ))
            }
        }
        if rest.starts_with('/') && prefix.is_empty() {
            return if allow_unix {
                Ok(vec![ListenAddr::Unix(PathBuf::from(rest))])
            } else {
                Err(format!(
                    "UNIX sockets are not supported by dermaga here: '{text}'"
                ))
            };
        }
        let (host, port) = split_host_port(rest)
            .ok_or_else(|| format!("missing port specification in '{text}'"))?;
        let (lo, hi) = match port.split_once('-') {
            Some((a, b)) => (a, b),
            None => (port, port),
        };
        let p = |s: &str| -> Result<u16, String> {
            match s.parse::<u32>() {
                Ok(v) if (1..=65535).contains(&v) => Ok(v as u16),
                _ => Err(format!("invalid port '{s}'")),
            }
        };
        let (lo, hi) = (p(lo)?, p(hi)?);
        if lo > hi {
            return Err(format!("invalid port range '{port}'"));
        }
        let ip: IpAddr = if host.is_empty() || host == "*" {
            if prefix == "ipv6" || prefix == "tcp6" {
                IpAddr::V6(Ipv6Addr::UNSPECIFIED)
            } else {
                IpAddr::V4(Ipv4Addr::UNSPECIFIED)
            }
        } else if let Ok(ip) = host.parse::<IpAddr>() {
            ip
        } else {
            resolve_host(self.env, host, prefix)
                .ok_or_else(|| format!("invalid address: '{host}' in '{text}'"))?
        };
        Ok(vec![ListenAddr::Inet {
            ip,
            ports: (lo, hi),
        }])
    }

    // -----------------------------------------------------------------------------------------
    // log lines
    // -----------------------------------------------------------------------------------------

    /// `log ADDR [len N] [format F] [sample R:S] FACILITY [LEVEL [MINLEVEL]]`.
    fn parse_log(&mut self, loc: &Location, w: &[String], in_global: bool) -> Option<LogTarget> {
        let a = args_from(w, 1);
        if a.len() < 2 && !(a.len() == 1 && a[0] == "global") {
            self.alert(
                loc,
                "log : expects <address> and <facility>  as arguments".to_string(),
            );
            return None;
        }
        let _ = in_global;
        let addr_text = a[0].as_str();
        let addr = match addr_text {
            "stdout" | "fd@1" => LogAddr::Stdout,
            "stderr" | "fd@2" => LogAddr::Stderr,
            t => {
                let (prefix, rest) = match t.find('@') {
                    Some(i) => (&t[..i], &t[i + 1..]),
                    None => ("", t),
                };
                match prefix {
                    "unix" => LogAddr::Unix(PathBuf::from(rest)),
                    "" if rest.starts_with('/') => LogAddr::Unix(PathBuf::from(rest)),
                    "" | "udp" | "udp4" | "udp6" | "ipv4" | "ipv6" => {
                        let (host, port) = match split_host_port(rest) {
                            Some((h, p)) => (h, p),
                            None => (rest, "514"),
                        };
                        let Some(port) = port.parse::<u16>().ok().filter(|p| *p > 0) else {
                            self.alert(loc, format!("log : invalid port '{port}' in '{t}'"));
                            return None;
                        };
                        let ip = match host.parse::<IpAddr>() {
                            Ok(ip) => ip,
                            Err(_) => match resolve_host(self.env, host, prefix) {
                                Some(ip) => ip,
                                None => {
                                    self.alert(
                                        loc,
                                        format!("log : invalid address: '{host}' in '{t}'"),
                                    );
                                    return None;
                                }
                            },
                        };
                        LogAddr::Udp(SocketAddr::new(ip, port))
                    }
                    _ => {
                        self.alert(
                            loc,
                            format!("log : address '{t}' is not supported by dermaga"),
                        );
                        return None;
                    }
                }
            }
        };
        let mut i = 1;
        let mut max_len = 1024;
        let mut format = LogFormatKind::Rfc3164;
        loop {
            match a.get(i).map(String::as_str) {
                Some("len") => {
                    match a
                        .get(i + 1)
                        .and_then(|v| parse_uint(v))
                        .filter(|v| (80..=65535).contains(v))
                    {
                        Some(v) => max_len = v as usize,
                        None => {
                            self.alert(
                                loc,
                                format!(
                                    "log : invalid log length '{}', must be between 80 and 65535",
                                    arg(a, i + 1)
                                ),
                            );
                            return None;
                        }
                    }
                    i += 2;
                }
                Some("format") => {
                    format = match arg(a, i + 1) {
                        "rfc3164" => LogFormatKind::Rfc3164,
                        "rfc5424" => LogFormatKind::Rfc5424,
                        "raw" => LogFormatKind::Raw,
                        "short" => LogFormatKind::Short,
                        "timed" => LogFormatKind::Timed,
                        "iso" => LogFormatKind::Iso,
                        "local" => LogFormatKind::Local,
                        "priority" => LogFormatKind::Priority,
                        f => {
                            self.alert(loc, format!("log : unknown log format '{f}'"));
                            return None;
                        }
                    };
                    i += 2;
                }
                Some("sample") => {
                    self.alert(
                        loc,
                        "log : 'sample' is not supported by dermaga.".to_string(),
                    );
                    return None;
                }
                _ => break,
            }
        }
        let fac = arg(a, i);
        let facility = if fac.is_empty() {
            // haproxy 2.6 wants a facility even for raw logs on stdout.
            self.alert(loc, "log : unknown log facility ''".to_string());
            return None;
        } else {
            match Facility::from_name(fac) {
                Some(f) => Some(f),
                None => {
                    self.alert(loc, format!("log : unknown log facility '{fac}'"));
                    return None;
                }
            }
        };
        let mut max_level = Level::DEBUG;
        let mut min_level = Level::EMERG;
        let lvl = arg(a, i + 1);
        if !lvl.is_empty() {
            match Level::from_name(lvl) {
                Some(l) => max_level = l,
                None => {
                    self.alert(loc, format!("log : unknown optional log level '{lvl}'"));
                    return None;
                }
            }
            let min = arg(a, i + 2);
            if !min.is_empty() {
                match Level::from_name(min) {
                    Some(l) => min_level = l,
                    None => {
                        self.alert(
                            loc,
                            format!("log : unknown optional minimum log level '{min}'"),
                        );
                        return None;
                    }
                }
            }
            if !arg(a, i + 3).is_empty() {
                self.alert(
                    loc,
                    format!("log : unexpected argument '{}'", arg(a, i + 3)),
                );
                return None;
            }
        }
        Some(LogTarget {
            loc: loc.clone(),
            addr,
            max_len,
            format,
            facility,
            max_level,
            min_level,
        })
    }

    // -----------------------------------------------------------------------------------------
    // proxies and defaults
    // -----------------------------------------------------------------------------------------

    fn inherit_mut(&mut self, t: Target) -> (&mut ProxySettings, &mut CheckState) {
        match t {
            Target::Defaults(i) => {
                let d = &mut self.defaults[i].inherit;
                (&mut d.settings, &mut d.check)
            }
            Target::Proxy(i) => {
                let p = &mut self.proxies[i];
                (&mut p.proxy.settings, &mut p.check)
            }
        }
    }

    fn settings(&mut self, t: Target) -> &mut ProxySettings {
        self.inherit_mut(t).0
    }

    /// (keyword of the section, its name, frontend capability, backend capability, whether it
    /// is an anonymous defaults section).
    fn target_info(&self, t: Target) -> (&'static str, String, bool, bool, bool) {
        match t {
            Target::Defaults(i) => {
                let n = self.defaults[i].defaults.name.clone();
                (
                    "defaults",
                    n.clone().unwrap_or_default(),
                    true,
                    true,
                    n.is_none(),
                )
            }
            Target::Proxy(i) => {
                let p = &self.proxies[i].proxy;
                (
                    p.kind.keyword(),
                    p.name.clone(),
                    p.kind.is_frontend(),
                    p.kind.is_backend(),
                    false,
                )
            }
        }
    }

    /// haproxy's capability checks. Returns false when the keyword must be skipped.
    fn check_cap(&mut self, loc: &Location, t: Target, kw: &str, need: Cap) -> bool {
        let (kind, name, fe, be, anon) = self.target_info(t);
        let is_def = matches!(t, Target::Defaults(_));
        match need {
            Cap::NotInDefaults if is_def => {
                self.alert(loc, format!("'{kw}' not allowed in 'defaults' section."));
                false
            }
            Cap::NamedDefaults if is_def => {
                if anon {
                    self.alert(
                        loc,
                        format!("'{kw}' not allowed in anonymous 'defaults' section."),
                    );
                } else {
                    self.alert(
                        loc,
                        format!("'{kw}' in a 'defaults' section is not supported by dermaga."),
                    );
                }
                false
            }
            Cap::Frontend | Cap::FrontendStrict if !is_def && !fe => {
                if need == Cap::FrontendStrict {
                    self.alert(loc, format!("'{kw}' not allowed because {kind} '{name}' has no frontend capability."));
                } else {
                    self.warn(
                        loc,
                        format!(
                            "'{kw}' ignored because {kind} '{name}' has no frontend capability."
                        ),
                    );
                }
                false
            }
            Cap::Backend | Cap::BackendStrict if !is_def && !be => {
                if need == Cap::BackendStrict {
                    let m = format!("[{loc}] : parsing [{loc}] : '{kw}' not allowed because {kind} '{name}' has no backend capability.");
                    self.diags.push(Diagnostic::alert(Some(loc.clone()), m));
                } else {
                    self.warn(
                        loc,
                        format!(
                            "'{kw}' ignored because {kind} '{name}' has no backend capability."
                        ),
                    );
                }
                false
            }
            _ => true,
        }
    }

    fn proxy_line(&mut self, loc: &Location, w: &[String], t: Target) {
        let mut kw = w[0].as_str();
        let mut negate = false;
        let mut w = w;
        if kw == "no" || kw == "default" {
            let k2 = arg(w, 1);
            if k2 != "option" && k2 != "log" {
                self.alert(loc, "negation/default currently supported only for options, log, busy-polling, set-dumpable, strict-limits, insecure-fork-wanted and numa-cpu-mapping.".to_string());
                return;
            }
            negate = kw == "no";
            if kw == "default" {
                self.unsupported(loc, &format!("default {k2}"));
                return;
            }
            w = &w[1..];
            kw = k2;
        }
        const FIXED: &[(&str, usize)] = &[
            ("mode", 1),
            ("retries", 1),
            ("maxconn", 1),
            ("default_backend", 1),
            ("hash-type", 3),
            ("errorfile", 2),
        ];
        if self.too_many_args(loc, w, FIXED) {
            return;
        }
        match kw {
            "mode" => {
                let m = match arg(w, 1) {
                    "http" => Mode::Http,
                    "tcp" => Mode::Tcp,
                    "" => {
                        self.alert(loc, "'mode' expects one argument.".to_string());
                        return;
                    }
                    other => {
                        self.alert(loc, format!("unknown proxy mode '{other}'."));
                        return;
                    }
                };
                self.settings(t).mode = m;
            }
            "bind" => {
                if self.check_cap(loc, t, kw, Cap::NotInDefaults)
                    && self.check_cap(loc, t, kw, Cap::Frontend)
                {
                    self.bind_line(loc, w, t);
                }
            }
            "maxconn" => {
                let (kind, name, fe, _, _) = self.target_info(t);
                if !matches!(t, Target::Defaults(_)) && !fe {
                    self.warn(loc, format!("'maxconn' ignored because {kind} '{name}' has no frontend capability. Maybe you want 'fullconn' instead ?"));
                    return;
                }
                match parse_uint(arg(w, 1)).and_then(|v| u32::try_from(v).ok()) {
                    Some(v) => self.settings(t).maxconn = Some(v),
                    None => self.alert(loc, format!("'{kw}' expects an integer argument.")),
                }
            }
            "timeout" => self.timeout_line(loc, w, t),
            "balance" => {
                if self.check_cap(loc, t, kw, Cap::Backend) {
                    self.balance_line(loc, w, t);
                }
            }
            "hash-type" => {
                if self.check_cap(loc, t, kw, Cap::Backend) {
                    self.hash_type_line(loc, w, t);
                }
            }
            "server" => {
                if matches!(t, Target::Defaults(_)) {
                    let m = format!("[{loc}] : 'server' not allowed in 'defaults' section.");
                    self.diags.push(Diagnostic::alert(Some(loc.clone()), m));
                    return;
                }
                if self.check_cap(loc, t, kw, Cap::BackendStrict) {
                    self.server_line(loc, w, t, false);
                }
            }
            "default-server" => {
                if self.check_cap(loc, t, kw, Cap::BackendStrict) {
                    self.server_line(loc, w, t, true);
                }
            }
            "option" => self.option_line(loc, w, t, negate),
            "log" => {
                if negate {
                    self.settings(t).logs.targets.clear();
                    return;
                }
                if arg(w, 1) == "global" {
                    if !arg(w, 2).is_empty() {
                        self.alert(loc, format!("log : unknown log facility '{}'", arg(w, 2)));
                        return;
                    }
                    let g = self.global.logs.clone();
                    self.settings(t).logs.targets.extend(g);
                    return;
                }
                if let Some(l) = self.parse_log(loc, w, false) {
                    self.settings(t).logs.targets.push(l);
                }
            }
            "retries" => {
                if !self.check_cap(loc, t, kw, Cap::Backend) {
                    return;
                }
                match parse_uint(arg(w, 1)).and_then(|v| u32::try_from(v).ok()) {
                    Some(v) => self.settings(t).retries = v,
                    None => self.alert(
                        loc,
                        format!("'{kw}' expects an integer value (got '{}').", arg(w, 1)),
                    ),
                }
            }
            "retry-on" => {
                if !self.target_info(t).3 {
                    self.alert(loc, "'retry-on' only available in backend or listen section".to_string());
                    return;
                }
                self.retry_on_line(loc, w, t);
            }
            "cookie" => {
                if self.check_cap(loc, t, kw, Cap::Backend) {
                    self.cookie_line(loc, w, t);
                }
            }
            "errorfile" => self.errorfile_line(loc, w, t),
            "http-check" => {
                if self.check_cap(loc, t, kw, Cap::Backend) {
                    self.http_check_line(loc, w, t);
                }
            }
            "tcp-check" => {
                if self.check_cap(loc, t, kw, Cap::Backend) {
                    self.tcp_check_line(loc, w, t);
                }
            }
            "acl" => {
                if self.check_cap(loc, t, kw, Cap::NamedDefaults) {
                    if let Target::Proxy(i) = t {
                        self.acl_line(loc, w, i);
                    }
                }
            }
            "use_backend" => {
                if !(self.check_cap(loc, t, kw, Cap::NotInDefaults)
                    && self.check_cap(loc, t, kw, Cap::Frontend))
                {
                    return;
                }
                let Target::Proxy(i) = t else { return };
                let name = arg(w, 1);
                if name.is_empty() {
                    self.alert(loc, "'use_backend' expects a backend name.".to_string());
                    return;
                }
                if name.contains("%[") {
                    self.alert(
                        loc,
                        "'use_backend' with a dynamic backend name is not supported by dermaga."
                            .to_string(),
                    );
                    return;
                }
                let cond_words = args_from(w, 2);
                if let Some(x) = cond_words.first().filter(|x| *x != "if" && *x != "unless") {
                    self.alert(loc, format!("unexpected keyword '{x}' after switching rule, only 'if' and 'unless' are allowed."));
                    return;
                }
                let cond = if cond_words.is_empty() {
                    None
                } else {
                    match self.condition(loc, i, cond_words, "switching rule", CondContext::Http) {
                        Some(c) => Some(c),
                        None => return,
                    }
                };
                self.proxies[i]
                    .use_backends
                    .push((loc.clone(), name.to_string(), cond));
            }
            "default_backend" => {
                if !self.check_cap(loc, t, kw, Cap::Frontend) {
                    return;
                }
                let name = arg(w, 1);
                if name.is_empty() {
                    self.alert(loc, "'default_backend' expects a backend name.".to_string());
                    return;
                }
                let v = Some((loc.clone(), name.to_string()));
                match t {
                    Target::Proxy(i) => self.proxies[i].default_backend = v,
                    Target::Defaults(i) => self.defaults[i].inherit.default_backend = v,
                }
            }
            "http-request" => {
                if self.check_cap(loc, t, kw, Cap::NamedDefaults) {
                    if let Target::Proxy(i) = t {
                        self.http_request_line(loc, w, i);
                    }
                }
            }
            "http-response" => {
                if self.check_cap(loc, t, kw, Cap::NamedDefaults) {
                    if let Target::Proxy(i) = t {
                        self.http_response_line(loc, w, i);
                    }
                }
            }
            "tcp-request" => self.tcp_request_line(loc, w, t),
            "redirect" => {
                if !self.check_cap(loc, t, kw, Cap::NotInDefaults) {
                    return;
                }
                if let Target::Proxy(i) = t {
                    let (act, cond_w) = split_cond(args_from(w, 1));
                    let name = self.proxies[i].proxy.name.clone();
                    let kind = self.proxies[i].proxy.kind.type_str();
                    let r = match parse_redirect(act) {
                        Ok(r) => r,
                        Err(e) => {
                            self.alert(loc, format!("error detected in {kind} '{name}' while parsing redirect rule : {e}."));
                            return;
                        }
                    };
                    let cond = if cond_w.is_empty() {
                        None
                    } else {
                        match self.condition(loc, i, cond_w, "redirect rule", CondContext::Http) {
                            Some(c) => Some(c),
                            None => return,
                        }
                    };
                    self.proxies[i].redirects.push((loc.clone(), r, cond));
                }
            }
            "monitor-uri" => {
                if !self.check_cap(loc, t, kw, Cap::Frontend) {
                    return;
                }
                let uri = arg(w, 1);
                if uri.is_empty() {
                    self.alert(loc, "'monitor-uri' expects an URI.".to_string());
                    return;
                }
                if !arg(w, 2).is_empty() {
                    self.alert(
                        loc,
                        format!("'monitor-uri' cannot handle unexpected argument '{}'.", arg(w, 2)),
                    );
                    return;
                }
                let uri = uri.to_string();
                self.inherit_mut(t).0.monitor_uri = Some(uri);
            }
            "monitor" => {
                if !(self.check_cap(loc, t, kw, Cap::NotInDefaults)
                    && self.check_cap(loc, t, kw, Cap::Frontend))
                {
                    return;
                }
                let Target::Proxy(i) = t else { return };
                if arg(w, 1) != "fail" {
                    self.alert(loc, "'monitor' only supports 'fail'.".to_string());
                    return;
                }
                let what = "a 'monitor fail' condition";
                if let Some(c) = self.required_condition(loc, i, w, "monitor fail", what) {
                    self.proxies[i].monitor_fail.push((loc.clone(), c));
                }
            }
            "monitor-net" => self.alert(
                loc,
                format!(
                    "'monitor-net' doesn't exist anymore. Please use 'http-request return status 200 if {{ src {} }}' instead.",
                    arg(w, 1)
                ),
            ),
            "description" | "fullconn" => self.harmless(loc, kw),
            "log-format" => self.log_format_line(loc, w, t),
            "capture" if arg(w, 1) == "cookie" => self.harmless(loc, "capture cookie"),
            "capture" if matches!(arg(w, 1), "request" | "response") => {
                self.capture_line(loc, w, t)
            }
            "http-reuse" => match arg(w, 1) {
                // What dermaga does: idle server connections are shared, but a connection's
                // first request never goes over a reused one.
                "safe" => {}
                "never" | "aggressive" | "always" => {
                    self.unsupported(loc, &format!("http-reuse {}", arg(w, 1)))
                }
                other => self.alert(
                    loc,
                    format!("'http-reuse' only supports 'never', 'safe', 'aggressive', 'always' (got '{other}')."),
                ),
            },
            "stats" => self.stats_line(loc, w, t),
            _ => {
                if PROXY_KEYWORDS.contains(&kw) {
                    let what = match kw {
                        "tcp-response"
                        | "http-after-response"
                        | "stick"
                        | "capture"
                        | "email-alert"
                        | "rate-limit"
                        | "http-error" => format!("{kw} {}", arg(w, 1)).trim_end().to_string(),
                        _ => kw.to_string(),
                    };
                    self.unsupported(loc, &what);
                } else {
                    let (kind, ..) = self.target_info(t);
                    self.alert(loc, format!("unknown keyword '{kw}' in '{kind}' section"));
                }
            }
        }
    }

    /// `stats ...` in a proxy or defaults section: the statistics page.
    fn stats_line(&mut self, loc: &Location, w: &[String], t: Target) {
        const EXPECTS: &str = "expects 'admin', 'uri', 'realm', 'auth', 'scope', 'enable', 'hide-version', 'show-node', 'show-desc' or 'show-legends'";
        let sub = arg(w, 1);
        let value = arg(w, 2).to_string();
        let mut page = self.inherit_mut(t).0.stats_page.clone().unwrap_or_default();
        match sub {
            "" => {
                let m = format!("[{loc}]: missing keyword in 'stats', {EXPECTS}.");
                self.diags
                    .push(Diagnostic::alert(Some(loc.clone()), format!("parsing {m}")));
                return;
            }
            "enable" => {}
            "uri" if value.is_empty() => {
                return self.alert(loc, "'uri' needs an URI prefix.".to_string())
            }
            "uri" => page.uri = value,
            "realm" if value.is_empty() => {
                return self.alert(loc, "'realm' needs an realm name.".to_string())
            }
            // haproxy keeps the rest of the line, spaces included.
            "realm" => page.realm = args_from(w, 2).join(" "),
            "auth" if value.is_empty() => {
                return self.alert(loc, "'auth' needs a user:password account.".to_string())
            }
            "auth" => page.auth.push(value),
            "refresh" => match parse_time(&value) {
                Ok(d) => page.refresh = Some(d),
                Err(e) => {
                    let c = match e {
                        TimeError::BadChar(c) => c.to_string(),
                        _ => String::new(),
                    };
                    let m = format!("[{loc}]: unexpected character '{c}' in argument to stats refresh interval.");
                    self.diags
                        .push(Diagnostic::alert(Some(loc.clone()), format!("parsing {m}")));
                    return;
                }
            },
            "hide-version" => page.hide_version = true,
            "show-legends" => page.show_legends = true,
            "show-node" => page.show_node = Some(value),
            "show-desc" => page.show_desc = Some(args_from(w, 2).join(" ")),
            "admin" => {
                let Target::Proxy(i) = t else {
                    let m = format!(
                        "parsing [{loc}]: 'stats admin' not allowed in 'defaults' section."
                    );
                    self.diags.push(Diagnostic::alert(Some(loc.clone()), m));
                    return;
                };
                let what = "a 'stats admin' rule";
                if let Some(c) = self.required_condition(loc, i, w, "stats admin", what) {
                    self.proxies[i].stats_admin = Some((loc.clone(), c));
                }
            }
            "scope" | "http-request" | "show-modules" => {
                return self.unsupported(loc, &format!("stats {sub}"));
            }
            other => {
                let m = format!("[{loc}]: unknown stats parameter '{other}', {EXPECTS}.");
                self.diags
                    .push(Diagnostic::alert(Some(loc.clone()), format!("parsing {m}")));
                return;
            }
        }
        self.inherit_mut(t).0.stats_page = Some(page);
    }

    fn timeout_line(&mut self, loc: &Location, w: &[String], t: Target) {
        let which = arg(w, 1);
        let name = format!("timeout {which}");
        const KNOWN: &[&str] = &[
            "client",
            "server",
            "connect",
            "check",
            "queue",
            "http-keep-alive",
            "http-request",
            "tunnel",
            "tarpit",
            "client-fin",
            "server-fin",
        ];
        if !KNOWN.contains(&which) {
            if which == "client-hs" {
                self.unsupported(loc, &name);
                return;
            }
            self.alert(loc, format!("'timeout' supports 'client', 'server', 'connect', 'check', 'queue', 'http-keep-alive', 'http-request', 'tunnel', 'tarpit', 'client-fin' and 'server-fin' (got '{which}')"));
            return;
        }
        let v = arg(w, 2);
        let d = match parse_time(v) {
            Ok(d) => d,
            Err(e) => {
                let m = time_err_text(&e, v, &name);
                self.alert(loc, m);
                return;
            }
        };
        if !arg(w, 3).is_empty() {
            self.alert(
                loc,
                format!(
                    "'{name}' : unexpected extra argument '{}' after value '{v}'.",
                    arg(w, 3)
                ),
            );
            return;
        }
        // Frontend-side and backend-side timeouts warn when the section lacks that side.
        let fe_side = matches!(
            which,
            "client" | "http-request" | "http-keep-alive" | "client-fin"
        );
        let be_side = matches!(
            which,
            "server" | "connect" | "queue" | "check" | "server-fin"
        );
        let (kind, pxname, fe, be, _) = self.target_info(t);
        let missing = if fe_side && !fe {
            Some("frontend")
        } else if be_side && !be {
            Some("backend")
        } else {
            None
        };
        if let Some(side) = missing {
            self.warn(
                loc,
                format!(
                    "'{name}' will be ignored because {kind} '{pxname}' has no {side} capability"
                ),
            );
            return;
        }
        let d = nonzero(d);
        let to = &mut self.settings(t).timeouts;
        match which {
            "client" => to.client = d,
            "server" => to.server = d,
            "connect" => to.connect = d,
            "check" => to.check = d,
            "queue" => to.queue = d,
            "http-keep-alive" => to.http_keep_alive = d,
            "http-request" => to.http_request = d,
            "tunnel" => to.tunnel = d,
            "client-fin" => to.client_fin = d,
            "tarpit" => to.tarpit = d,
            _ => to.server_fin = d,
        }
    }

    /// `capture request|response header NAME len N`.
    fn capture_line(&mut self, loc: &Location, w: &[String], t: Target) {
        let what = format!("capture {}", arg(w, 1));
        let i = match t {
            Target::Defaults(_) => {
                self.alert(loc, format!("'{what}' not allowed in 'defaults' section."));
                return;
            }
            Target::Proxy(i) => i,
        };
        let (kind, pxname, fe, _, _) = self.target_info(t);
        if !fe {
            self.warn(
                loc,
                format!("'capture' ignored because {kind} '{pxname}' has no frontend capability."),
            );
            return;
        }
        if arg(w, 2) != "header"
            || arg(w, 3).is_empty()
            || arg(w, 4) != "len"
            || arg(w, 5).is_empty()
        {
            self.alert(
                loc,
                format!("'{what}' expects 'header' <header_name> 'len' <len>."),
            );
            return;
        }
        if w.len() > 6 {
            self.alert(
                loc,
                format!(
                    "'{what}' cannot handle unexpected argument '{}'.",
                    arg(w, 6)
                ),
            );
            return;
        }
        // haproxy reads the length with atol: digits up to the first other character.
        let digits: String = arg(w, 5)
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        let cap = HeaderCapture {
            name: arg(w, 3).to_string(),
            len: digits.parse().unwrap_or(0),
        };
        let p = &mut self.proxies[i].proxy;
        if arg(w, 1) == "request" {
            p.capture_request.push(cap);
        } else {
            p.capture_response.push(cap);
        }
    }

    fn log_format_line(&mut self, loc: &Location, w: &[String], t: Target) {
        if w.len() < 2 {
            self.alert(loc, "log-format expects an argument.".to_string());
            return;
        }
        if w.len() > 2 {
            self.alert(
                loc,
                "log-format expects only one argument, don't forget to escape spaces!".to_string(),
            );
            return;
        }
        let (kind, pxname, fe, _, _) = self.target_info(t);
        if !fe && !matches!(t, Target::Defaults(_)) {
            self.warn(
                loc,
                format!("{kind} '{pxname}' : 'log-format' directive is ignored in backends."),
            );
            return;
        }
        match super::logformat::parse_access_format(&w[1]) {
            Ok(f) => self.settings(t).logs.format = Some(f),
            Err(what) => self.warn(
                loc,
                format!("'log-format' uses {what}, which dermaga cannot fill: the lines keep the httplog/tcplog format."),
            ),
        }
    }

    fn balance_line(&mut self, loc: &Location, w: &[String], t: Target) {
        let algo = arg(w, 1);
        let rest = args_from(w, 2);
        let b = if let Some(h) = algo.strip_prefix("hdr(") {
            let Some(name) = h.strip_suffix(')').filter(|n| !n.is_empty()) else {
                self.alert(
                    loc,
                    "balance hdr requires an http header field name.".to_string(),
                );
                return;
            };
            let mut use_domain_only = false;
            for o in rest {
                if o == "use_domain_only" {
                    use_domain_only = true;
                } else {
                    self.alert(
                        loc,
                        format!(
                            "balance hdr only accepts parameter 'use_domain_only' (got '{o}')."
                        ),
                    );
                    return;
                }
            }
            Balance::Hdr {
                name: name.to_ascii_lowercase(),
                use_domain_only,
            }
        } else if algo == "random" || algo.starts_with("random(") {
            let draws = match algo.strip_prefix("random(") {
                None => 2,
                Some(r) => {
                    let digits: String = r.chars().take_while(|c| c.is_ascii_digit()).collect();
                    let after = &r[digits.len()..];
                    if after != ")" || digits.is_empty() {
                        let c = after.chars().next().unwrap_or(')');
                        self.alert(
                            loc,
                            format!("balance random : unexpected character '{c}' after argument."),
                        );
                        return;
                    }
                    match digits.parse::<u32>() {
                        Ok(n) if n >= 1 => n,
                        _ => {
                            self.alert(
                                loc,
                                "balance random : number of draws must be strictly positive."
                                    .to_string(),
                            );
                            return;
                        }
                    }
                }
            };
            if let Some(o) = rest.first() {
                self.alert(loc, format!("balance random : unexpected argument '{o}'."));
                return;
            }
            Balance::Random { draws }
        } else {
            match algo {
                "roundrobin" | "static-rr" | "leastconn" | "first" | "source" => {
                    if let Some(o) = rest.first() {
                        self.alert(loc, format!("balance {algo} : unexpected argument '{o}'."));
                        return;
                    }
                    match algo {
                        "roundrobin" => Balance::RoundRobin,
                        "static-rr" => Balance::StaticRr,
                        "leastconn" => Balance::LeastConn,
                        "first" => Balance::First,
                        _ => Balance::Source,
                    }
                }
                "uri" => {
                    let (mut len, mut depth, mut whole, mut path_only) = (None, None, false, false);
                    let mut i = 0;
                    while i < rest.len() {
                        match rest[i].as_str() {
                            "len" | "depth" => {
                                let Some(v) = rest
                                    .get(i + 1)
                                    .and_then(|v| parse_uint(v))
                                    .and_then(|v| u32::try_from(v).ok())
                                    .filter(|v| *v > 0)
                                else {
                                    self.alert(loc, format!("balance uri : '{}' expects a positive integer (got '{}').", rest[i], arg(rest, i + 1)));
                                    return;
                                };
                                if rest[i] == "len" {
                                    len = Some(v);
                                } else {
                                    depth = Some(v);
                                }
                                i += 2;
                            }
                            "whole" => {
                                whole = true;
                                i += 1;
                            }
                            "path-only" => {
                                path_only = true;
                                i += 1;
                            }
                            o => {
                                self.alert(loc, format!("balance uri only accepts parameters 'len', 'depth', 'path-only', and 'whole' (got '{o}')."));
                                return;
                            }
                        }
                    }
                    Balance::Uri {
                        len,
                        depth,
                        whole,
                        path_only,
                    }
                }
                "url_param" => {
                    let Some(p) = rest.first() else {
                        self.alert(
                            loc,
                            "balance url_param requires an URL parameter name.".to_string(),
                        );
                        return;
                    };
                    if rest.len() > 1 {
                        if rest[1] == "check_post" {
                            self.unsupported(loc, "balance url_param check_post");
                        } else {
                            self.alert(loc, format!("'balance url_param' only accepts check_post modifier (got '{}').", rest[1]));
                        }
                        return;
                    }
                    Balance::UrlParam {
                        param: p.clone(),
                        check_post: false,
                    }
                }
                "rdp-cookie" | "hash" | "log-hash" | "sticky" => {
                    self.unsupported(loc, &format!("balance {algo}"));
                    return;
                }
                a if a.starts_with("rdp-cookie(") => {
                    self.unsupported(loc, "balance rdp-cookie");
                    return;
                }
                _ => {
                    self.alert(loc, "balance only supports 'roundrobin', 'static-rr', 'leastconn', 'source', 'uri', 'url_param', 'hdr(name)' and 'rdp-cookie(name)' options.".to_string());
                    return;
                }
            }
        };
        self.settings(t).balance = Some(b);
    }

    fn hash_type_line(&mut self, loc: &Location, w: &[String], t: Target) {
        let method = match arg(w, 1) {
            "map-based" => HashMethod::MapBased,
            "consistent" => HashMethod::Consistent,
            _ => {
                self.alert(
                    loc,
                    "'hash-type' only supports 'consistent' and 'map-based'.".to_string(),
                );
                return;
            }
        };
        let mut ht = HashType {
            method,
            ..HashType::default()
        };
        let mut i = 2;
        match arg(w, i) {
            "" => {}
            f => {
                ht.function = match f {
                    "sdbm" => HashFunction::Sdbm,
                    "djb2" => HashFunction::Djb2,
                    "wt6" => HashFunction::Wt6,
                    "crc32" => HashFunction::Crc32,
                    "none" => HashFunction::None,
                    _ => {
                        self.alert(loc, "'hash-type' : the hash function must be 'sdbm', 'djb2', 'wt6', 'crc32' or 'none'.".to_string());
                        return;
                    }
                };
                i += 1;
                match arg(w, i) {
                    "" => {}
                    "avalanche" => ht.avalanche = true,
                    m => {
                        self.alert(loc, format!("'hash-type' : unknown modifier '{m}'."));
                        return;
                    }
                }
            }
        }
        self.settings(t).hash_type = ht;
    }

    /// `tune.h2.*`, with haproxy 2.6's bounds and HTTP/2's (RFC 9113 §6.5.2).
    fn tune_h2(&mut self, loc: &Location, kw: &str, a1: &str) {
        let (lo, hi): (u64, u64) = match kw {
            "tune.h2.header-table-size" => (0, 65536),
            "tune.h2.initial-window-size" => (0, 0x7fff_ffff),
            "tune.h2.max-concurrent-streams" => (0, u64::from(u32::MAX)),
            _ => (16384, 16_777_215),
        };
        let Some(v) = parse_uint(a1)
            .filter(|v| (lo..=hi).contains(v))
            .and_then(|v| u32::try_from(v).ok())
        else {
            self.alert(
                loc,
                format!("'{kw}' expects a numeric value between {lo} and {hi}."),
            );
            return;
        };
        let h2 = &mut self.global.h2;
        match kw {
            "tune.h2.header-table-size" => h2.header_table_size = v,
            "tune.h2.initial-window-size" => h2.initial_window_size = v,
            "tune.h2.max-concurrent-streams" => h2.max_concurrent_streams = v,
            _ => h2.max_frame_size = Some(v),
        }
    }

    fn retry_on_line(&mut self, loc: &Location, w: &[String], t: Target) {
        let words = args_from(w, 1);
        if words.is_empty() {
            self.alert(loc, "'retry-on' expects at least one keyword.".to_string());
            return;
        }
        let mut r = RetryOn {
            conn_failure: false,
            ..RetryOn::default()
        };
        for k in words {
            match k.as_str() {
                "none" => {
                    if words.len() > 1 {
                        self.alert(
                            loc,
                            "'retry-on': 'none' must be the only keyword.".to_string(),
                        );
                        return;
                    }
                }
                "conn-failure" => r.conn_failure = true,
                "empty-response" => r.empty_response = true,
                "junk-response" => r.junk_response = true,
                "response-timeout" => r.response_timeout = true,
                "0rtt-rejected" => r.zero_rtt_rejected = true,
                "all-retryable-errors" => {
                    r.conn_failure = true;
                    r.empty_response = true;
                    r.junk_response = true;
                    r.response_timeout = true;
                    r.zero_rtt_rejected = true;
                    for s in [500, 502, 503, 504] {
                        if !r.statuses.contains(&s) {
                            r.statuses.push(s);
                        }
                    }
                }
                s => match s.parse::<u16>() {
                    Ok(code @ (401 | 403 | 404 | 408 | 425 | 500 | 501 | 502 | 503 | 504)) => {
                        if !r.statuses.contains(&code) {
                            r.statuses.push(code);
                        }
                    }
                    _ => {
                        self.alert(loc, format!("'retry-on': unknown keyword '{s}'"));
                        return;
                    }
                },
            }
        }
        self.settings(t).retry_on = r;
    }

    fn cookie_line(&mut self, loc: &Location, w: &[String], t: Target) {
        let name = arg(w, 1);
        if name.is_empty() {
            self.alert(
                loc,
                "'cookie' expects <cookie_name> as argument.".to_string(),
            );
            return;
        }
        let mut c = CookiePersistence {
            name: name.to_string(),
            mode: CookieMode::Passive,
            indirect: false,
            nocache: false,
            postonly: false,
            preserve: false,
            httponly: false,
            secure: false,
            domains: Vec::new(),
            maxidle: None,
            maxlife: None,
            attrs: Vec::new(),
        };
        let a = args_from(w, 2);
        let mut i = 0;
        while i < a.len() {
            match a[i].as_str() {
                "rewrite" => c.mode = CookieMode::Rewrite,
                "insert" => c.mode = CookieMode::Insert,
                "prefix" => c.mode = CookieMode::Prefix,
                "indirect" => c.indirect = true,
                "nocache" => c.nocache = true,
                "postonly" => c.postonly = true,
                "preserve" => c.preserve = true,
                "httponly" => c.httponly = true,
                "secure" => c.secure = true,
                "domain" => {
                    let Some(d) = a.get(i + 1) else {
                        self.diags.push(Diagnostic::alert(
                            Some(loc.clone()),
                            format!("parsing [{loc}]: 'domain' expects <domain> as argument."),
                        ));
                        return;
                    };
                    c.domains.push(d.clone());
                    i += 1;
                }
                "maxidle" | "maxlife" => {
                    let opt = a[i].clone();
                    let v = arg(a, i + 1);
                    match parse_time(v) {
                        Ok(d) => {
                            if opt == "maxidle" {
                                c.maxidle = nonzero(d);
                            } else {
                                c.maxlife = nonzero(d);
                            }
                        }
                        Err(e) => {
                            let m = time_err_text(&e, v, &format!("cookie {opt}"));
                            self.alert(loc, m);
                            return;
                        }
                    }
                    i += 1;
                }
                "attr" => {
                    let Some(v) = a.get(i + 1) else {
                        self.alert(
                            loc,
                            "'cookie' 'attr' option expects an attribute.".to_string(),
                        );
                        return;
                    };
                    c.attrs.push(v.clone());
                    i += 1;
                }
                "dynamic" => {
                    self.unsupported(loc, "cookie dynamic");
                    return;
                }
                _ => {
                    self.alert(loc, "'cookie' supports 'rewrite', 'insert', 'prefix', 'indirect', 'nocache', 'postonly', 'domain', 'maxidle', 'dynamic', 'maxlife' and 'attr' options.".to_string());
                    return;
                }
            }
            i += 1;
        }
        let modes = a
            .iter()
            .filter(|x| matches!(x.as_str(), "rewrite" | "insert" | "prefix"))
            .count();
        if modes > 1 {
            self.alert(
                loc,
                "cookie 'rewrite', 'insert' and 'prefix' modes are incompatible.".to_string(),
            );
            return;
        }
        self.settings(t).cookie = Some(c);
    }

    fn errorfile_line(&mut self, loc: &Location, w: &[String], t: Target) {
        let (code, file) = (arg(w, 1), arg(w, 2));
        if code.is_empty() || file.is_empty() {
            self.alert(
                loc,
                "errorfile : expects <status_code> and <file> as arguments.\n".to_string(),
            );
            return;
        }
        const CODES: &[u16] = &[
            200, 400, 401, 403, 404, 405, 407, 408, 410, 413, 425, 429, 500, 501, 502, 503, 504,
        ];
        let Some(status) = code.parse::<u16>().ok().filter(|c| CODES.contains(c)) else {
            self.alert(
                loc,
                format!("errorfile : status code '{code}' not handled."),
            );
            return;
        };
        let content = match std::fs::read(file) {
            Ok(c) => c,
            Err(_) => {
                self.alert(loc, format!("errorfile : error opening file '{file}'."));
                return;
            }
        };
        if content.is_empty() {
            self.warn(loc, format!("errorfile : ignore empty file '{file}'."));
            return;
        }
        if !content.starts_with(b"HTTP/") {
            self.alert(
                loc,
                format!("errorfile : unable to parse headers (error offset: 0) of file '{file}'."),
            );
            return;
        }
        let ef = ErrorFile {
            loc: loc.clone(),
            path: PathBuf::from(file),
            content: Arc::from(content),
        };
        self.settings(t).errorfiles.insert(status, ef);
    }

    fn option_line(&mut self, loc: &Location, w: &[String], t: Target, negate: bool) {
        let name = arg(w, 1);
        let full = format!("option {name}");
        if name.is_empty() {
            self.alert(loc, "'option' expects an option name.".to_string());
            return;
        }
        let rest = args_from(w, 2);
        let no_args = |p: &mut Self| -> bool {
            if let Some(x) = rest.first() {
                p.alert(
                    loc,
                    format!("'{full}' cannot handle unexpected argument '{x}'."),
                );
                false
            } else {
                true
            }
        };
        match name {
            "httplog" | "tcplog" | "dontlognull" | "http-ignore-probes" => {
                let (kind, pxname, fe, _, _) = self.target_info(t);
                if !fe && !matches!(t, Target::Defaults(_)) {
                    if name == "dontlognull" || name == "http-ignore-probes" {
                        self.warn(loc, format!("'{name}' ignored because {kind} '{pxname}' has no frontend capability."));
                    } else {
                        self.warn(
                            loc,
                            format!(
                                "{kind} '{pxname}' : '{full}' directive is ignored in backends."
                            ),
                        );
                    }
                    return;
                }
                if name == "httplog" && !negate && !rest.is_empty() {
                    if rest.len() == 1 && rest[0] == "clf" {
                        self.inherit_mut(t).1.httplog_loc = Some(loc.clone());
                        let l = &mut self.settings(t).logs;
                        l.httplog = true;
                        l.httplog_clf = true;
                        l.tcplog = false;
                        return;
                    }
                    self.alert(loc, format!("'{full}' only supports option 'clf'."));
                    return;
                }
                if !no_args(self) {
                    return;
                }
                if name == "httplog" {
                    self.inherit_mut(t).1.httplog_loc = Some(loc.clone());
                }
                let l = &mut self.settings(t).logs;
                if !negate && (name == "httplog" || name == "tcplog") {
                    // The later of `log-format` and `option httplog|tcplog` sets the format.
                    l.format = None;
                }
                match name {
                    "httplog" => {
                        l.httplog = !negate;
                        l.httplog_clf = false;
                        if !negate {
                            l.tcplog = false;
                        }
                    }
                    "tcplog" => {
                        l.tcplog = !negate;
                        if !negate {
                            l.httplog = false;
                            l.httplog_clf = false;
                        }
                    }
                    "dontlognull" => l.dontlognull = !negate,
                    _ => l.ignore_probes = !negate,
                }
            }
            "http-server-close" | "httpclose" | "http-keep-alive" => {
                if !no_args(self) {
                    return;
                }
                let s = self.settings(t);
                let mode = match name {
                    "http-server-close" => HttpConnMode::ServerClose,
                    "httpclose" => HttpConnMode::Close,
                    _ => HttpConnMode::KeepAlive,
                };
                if negate {
                    if s.http_conn_mode == mode {
                        s.http_conn_mode = HttpConnMode::KeepAlive;
                    }
                } else {
                    s.http_conn_mode = mode;
                }
            }
            "allbackups" => {
                if !self.check_cap(loc, t, name, Cap::Backend) || !no_args(self) {
                    return;
                }
                self.settings(t).allbackups = !negate;
            }
            "redispatch" => {
                if !self.check_cap(loc, t, name, Cap::Backend) {
                    return;
                }
                if negate {
                    self.settings(t).redispatch = None;
                    return;
                }
                let interval = match rest.first() {
                    None => -1,
                    Some(v) => match v.parse::<i32>() {
                        Ok(n) if n != 0 => n,
                        _ => {
                            self.alert(
                                loc,
                                format!("'{full}' expects a non-null integer (got '{v}')."),
                            );
                            return;
                        }
                    },
                };
                self.settings(t).redispatch = Some(interval);
            }
            "forwardfor" => {
                if negate {
                    self.settings(t).forwardfor = None;
                    return;
                }
                let mut ff = ForwardFor {
                    except: None,
                    header: "X-Forwarded-For".to_string(),
                    if_none: false,
                };
                let mut i = 0;
                while i < rest.len() {
                    match rest[i].as_str() {
                        "except" => {
                            match rest.get(i + 1).and_then(|n| n.parse::<IpNet>().ok()) {
                                Some(n) => ff.except = Some(n),
                                None => {
                                    self.alert(loc, "'option forwardfor except' expects <address>[/mask] as argument.".to_string());
                                    return;
                                }
                            }
                            i += 2;
                        }
                        "header" => {
                            match rest.get(i + 1) {
                                Some(h) => ff.header = h.clone(),
                                None => {
                                    self.alert(
                                        loc,
                                        "'option forwardfor header' expects <header_name> as argument."
                                            .to_string(),
                                    );
                                    return;
                                }
                            }
                            i += 2;
                        }
                        "if-none" => {
                            ff.if_none = true;
                            i += 1;
                        }
                        o => {
                            self.alert(loc, format!("'option forwardfor' only supports optional values 'except', 'header' and 'if-none' (got '{o}')."));
                            return;
                        }
                    }
                }
                self.settings(t).forwardfor = Some(ff);
            }
            "httpchk" => {
                if !self.check_cap(loc, t, name, Cap::Backend) {
                    return;
                }
                let (_, check) = self.inherit_mut(t);
                if negate {
                    check.kind = CheckKind::Connect;
                    return;
                }
                let (method, uri, version) = match rest.len() {
                    0 => ("OPTIONS", "/", "HTTP/1.0"),
                    1 => ("OPTIONS", rest[0].as_str(), "HTTP/1.0"),
                    2 => (rest[0].as_str(), rest[1].as_str(), "HTTP/1.0"),
                    _ => (rest[0].as_str(), rest[1].as_str(), rest[2].as_str()),
                };
                if rest.len() > 3 {
                    self.alert(
                        loc,
                        format!("'{full}' cannot handle unexpected argument '{}'.", rest[3]),
                    );
                    return;
                }
                // The old trick of hiding headers in the version string.
                let mut headers = Vec::new();
                let mut body = None;
                let mut ver = version.to_string();
                if let Some(p) = version.find("\r\n") {
                    let hidden = version[p + 2..].to_string();
                    ver = version[..p].to_string();
                    let (head, b) = match hidden.split_once("\r\n\r\n") {
                        Some((h, b)) => (h.to_string(), Some(b.to_string())),
                        None => (hidden.trim_end_matches("\r\n").to_string(), None),
                    };
                    for h in head.split("\r\n").filter(|h| !h.is_empty()) {
                        let (n, v) = h.split_once(':').unwrap_or((h, ""));
                        headers.push((n.trim().to_string(), v.trim().to_string()));
                    }
                    body = b.filter(|b| !b.is_empty());
                    self.diags.push(Diagnostic::warning(Some(loc.clone()), format!("parsing [{loc}]: '{full}' : hiding headers or body at the end of the version string is deprecated. Please, consider to use 'http-check send' directive instead.")));
                }
                let (_, check) = self.inherit_mut(t);
                check.kind = CheckKind::Http;
                check.http = Some(HttpCheck {
                    loc: loc.clone(),
                    method: method.to_string(),
                    uri: uri.to_string(),
                    version: ver,
                    headers,
                    body,
                    expect: Vec::new(),
                });
            }
            "tcp-check" => {
                if !self.check_cap(loc, t, name, Cap::Backend) || !no_args(self) {
                    return;
                }
                let (_, check) = self.inherit_mut(t);
                check.kind = if negate {
                    CheckKind::Connect
                } else {
                    CheckKind::Tcp
                };
            }
            _ => {
                if HARMLESS.contains(&full.as_str()) {
                    self.harmless(loc, &full);
                } else if OPTIONS.contains(&name) {
                    self.unsupported(loc, &full);
                } else {
                    self.alert(loc, format!("unknown option '{name}'."));
                }
            }
        }
    }

    fn http_check_line(&mut self, loc: &Location, w: &[String], t: Target) {
        let sub = arg(w, 1);
        let a = args_from(w, 2);
        match sub {
            "send" => {
                let mut s = HttpSend { method: None, uri: None, version: None, headers: Vec::new(), body: None };
                let mut i = 0;
                while i < a.len() {
                    let v = arg(a, i + 1);
                    let missing = |p: &mut Self, what: &str| {
                        p.alert(loc, format!("'http-check send' : '{}' expects {what}", a[i]));
                    };
                    match a[i].as_str() {
                        "meth" => {
                            if v.is_empty() {
                                return missing(self, "a string as argument..");
                            }
                            s.method = Some(v.to_string());
                            i += 2;
                        }
                        "uri" => {
                            if v.is_empty() {
                                return missing(self, "a string as argument..");
                            }
                            s.uri = Some(v.to_string());
                            i += 2;
                        }
                        "ver" => {
                            if v.is_empty() {
                                return missing(self, "a string as argument..");
                            }
                            s.version = Some(v.to_string());
                            i += 2;
                        }
                        "hdr" => {
                            let hv = arg(a, i + 2);
                            if v.is_empty() || hv.is_empty() {
                                return missing(self, "<name> and <value> as arguments..");
                            }
                            s.headers.push((v.to_string(), hv.to_string()));
                            i += 3;
                        }
                        "body" => {
                            if v.is_empty() {
                                return missing(self, "a string as argument..");
                            }
                            s.body = Some(v.to_string());
                            i += 2;
                        }
                        "uri-lf" | "body-lf" | "comment" => {
                            self.unsupported(loc, &format!("http-check send {}", a[i]));
                            return;
                        }
                        o => {
                            self.alert(loc, format!("'http-check send' : expects 'comment', 'meth', 'uri', 'uri-lf', 'ver', 'hdr', 'body' and 'body-lf' but got '{o}' as argument."));
                            return;
                        }
                    }
                }
                let (_, check) = self.inherit_mut(t);
                if !check.own_http_rules {
                    check.own_http_rules = true;
                    check.send.clear();
                    check.expect.clear();
                }
                check.send.push(s);
            }
            "expect" => {
                let mut i = 0;
                let mut negate = false;
                if arg(a, 0) == "!" {
                    negate = true;
                    i = 1;
                }
                let kind = arg(a, i);
                let pat = arg(a, i + 1);
                let matcher = match kind {
                    "status" | "rstatus" | "string" | "rstring" if pat.is_empty() => {
                        self.alert(loc, format!("'http-check expect' : '{kind}' expects a <pattern> as argument."));
                        return;
                    }
                    "status" => {
                        let mut ranges = Vec::new();
                        for part in pat.split(',') {
                            let (lo, hi) = part.split_once('-').unwrap_or((part, part));
                            match (lo.parse::<u16>(), hi.parse::<u16>()) {
                                (Ok(l), Ok(h)) if l <= h => ranges.push((l, h)),
                                _ => {
                                    self.alert(loc, format!("'http-check expect' : invalid status code '{part}'."));
                                    return;
                                }
                            }
                        }
                        CheckMatch::Status(ranges)
                    }
                    "rstatus" | "rstring" => match compile_regex(pat, false) {
                        Ok(re) => {
                            if kind == "rstatus" {
                                CheckMatch::Rstatus(re)
                            } else {
                                CheckMatch::Rstring(re)
                            }
                        }
                        Err(e) => {
                            self.alert(loc, format!("'http-check expect' : {e}."));
                            return;
                        }
                    },
                    "string" => CheckMatch::String(pat.as_bytes().to_vec()),
                    "hdr" | "fhdr" | "string-lf" | "min-recv" | "comment" | "ok-status" | "error-status" | "tout-status" | "on-success" | "on-error" | "status-code" => {
                        self.unsupported(loc, &format!("http-check expect {kind}"));
                        return;
                    }
                    o => {
                        self.alert(loc, format!("'http-check expect' : 'only supports min-recv, [!]string', '[!]rstring', '[!]string-lf', '[!]status', '[!]rstatus', [!]hdr, [!]fhdr or comment but got '{o}' as argument.."));
                        return;
                    }
                };
                if !arg(a, i + 2).is_empty() {
                    self.alert(loc, format!("'http-check expect' : unexpected argument '{}'.", arg(a, i + 2)));
                    return;
                }
                let (_, check) = self.inherit_mut(t);
                if !check.own_http_rules {
                    check.own_http_rules = true;
                    check.send.clear();
                    check.expect.clear();
                }
                check.expect.push(HttpCheckExpect { loc: loc.clone(), negate, matcher });
            }
            "" => self.alert(loc, "'http-check' expects 'comment', 'connect', 'disable-on-404', 'expect', 'send', 'send-state', 'set-var' or 'unset-var' as argument.".to_string()),
            "comment" | "connect" | "disable-on-404" | "send-state" | "set-var" | "unset-var" => {
                self.unsupported(loc, &format!("http-check {sub}"))
            }
            o => self.alert(loc, format!("'http-check' expects 'comment', 'connect', 'disable-on-404', 'expect', 'send', 'send-state', 'set-var' or 'unset-var' but got '{o}' as argument.")),
        }
    }

    fn tcp_check_line(&mut self, loc: &Location, w: &[String], t: Target) {
        let sub = arg(w, 1);
        let a = args_from(w, 2);
        let rule = match sub {
            "connect" => {
                let (mut port, mut addr) = (None, None);
                let mut i = 0;
                while i < a.len() {
                    let v = arg(a, i + 1);
                    match a[i].as_str() {
                        "port" => {
                            match v.parse::<u16>().ok().filter(|p| *p > 0) {
                                Some(p) => port = Some(p),
                                None => {
                                    self.alert(loc, format!("'tcp-check connect' : expects a valid port number (got '{v}')."));
                                    return;
                                }
                            }
                            i += 2;
                        }
                        "addr" => {
                            match v.parse::<IpAddr>() {
                                Ok(ip) => addr = Some(ip),
                                Err(_) => {
                                    self.alert(
                                        loc,
                                        format!("'tcp-check connect' : invalid address '{v}'."),
                                    );
                                    return;
                                }
                            }
                            i += 2;
                        }
                        "default" | "linger" => i += 1,
                        o => {
                            self.unsupported(loc, &format!("tcp-check connect {o}"));
                            return;
                        }
                    }
                }
                TcpCheckRule::Connect {
                    loc: loc.clone(),
                    port,
                    addr,
                }
            }
            "send" | "send-binary" => {
                let v = arg(a, 0);
                if v.is_empty() {
                    self.alert(
                        loc,
                        format!(
                            "'tcp-check {sub}' : '{}' expects a send as argument.",
                            if sub == "send" {
                                "string"
                            } else {
                                "binary string"
                            }
                        ),
                    );
                    return;
                }
                let data = if sub == "send" {
                    v.as_bytes().to_vec()
                } else {
                    match decode_hex(v) {
                        Some(d) => d,
                        None => {
                            self.alert(loc, format!("'tcp-check send-binary' : '{v}' is not a valid hexadecimal string."));
                            return;
                        }
                    }
                };
                if a.len() > 1 {
                    self.unsupported(loc, &format!("tcp-check {sub} {}", a[1]));
                    return;
                }
                TcpCheckRule::Send {
                    loc: loc.clone(),
                    data,
                }
            }
            "expect" => {
                let mut i = 0;
                let mut negate = false;
                if arg(a, 0) == "!" {
                    negate = true;
                    i = 1;
                }
                let kind = arg(a, i);
                let pat = arg(a, i + 1);
                let matcher = match kind {
                    "string" | "rstring" | "binary" if pat.is_empty() => {
                        self.alert(
                            loc,
                            format!(
                                "'tcp-check expect' : '{kind}' expects a <pattern> as argument."
                            ),
                        );
                        return;
                    }
                    "string" => CheckMatch::String(pat.as_bytes().to_vec()),
                    "rstring" => match compile_regex(pat, false) {
                        Ok(re) => CheckMatch::Rstring(re),
                        Err(e) => {
                            self.alert(loc, format!("'tcp-check expect' : {e}."));
                            return;
                        }
                    },
                    "binary" => match decode_hex(pat) {
                        Some(d) => CheckMatch::Binary(d),
                        None => {
                            self.alert(loc, format!("'tcp-check expect' : '{pat}' is not a valid hexadecimal string."));
                            return;
                        }
                    },
                    "rbinary" | "string-lf" | "binary-lf" | "min-recv" | "comment"
                    | "ok-status" | "error-status" | "tout-status" | "on-success" | "on-error"
                    | "status-code" => {
                        self.unsupported(loc, &format!("tcp-check expect {kind}"));
                        return;
                    }
                    o => {
                        self.alert(loc, format!("'tcp-check expect' : 'only supports min-recv, [!]string', '[!]rstring', '[!]string-lf', '[!]binary', '[!]rbinary', '[!]binary-lf' or comment but got '{o}' as argument."));
                        return;
                    }
                };
                if !arg(a, i + 2).is_empty() {
                    self.unsupported(loc, &format!("tcp-check expect {}", arg(a, i + 2)));
                    return;
                }
                TcpCheckRule::Expect {
                    loc: loc.clone(),
                    negate,
                    matcher,
                }
            }
            "comment" | "send-lf" | "send-binary-lf" | "set-var" | "unset-var" => {
                self.unsupported(loc, &format!("tcp-check {sub}"));
                return;
            }
            o => {
                self.alert(loc, format!("'tcp-check' expects 'comment', 'connect', 'send', 'send-binary', 'expect', 'set-var' or 'unset-var' but got '{o}' as argument."));
                return;
            }
        };
        let (_, check) = self.inherit_mut(t);
        if !check.own_tcp_rules {
            check.own_tcp_rules = true;
            check.tcp.clear();
        }
        check.tcp.push(rule);
    }

    // -----------------------------------------------------------------------------------------
    // bind and server
    // -----------------------------------------------------------------------------------------

    fn bind_line(&mut self, loc: &Location, w: &[String], t: Target) {
        let Target::Proxy(pi) = t else { return };
        let spec = arg(w, 1);
        if spec.is_empty() {
            self.alert(
                loc,
                "'bind' expects {<path>|[addr1]:port1[-end1]}{,[addr]:port[-end]}... as arguments."
                    .to_string(),
            );
            return;
        }
        let mut addrs = Vec::new();
        for part in spec.split(',') {
            match self.parse_listen_addr(part, false) {
                Ok(a) => addrs.extend(a),
                Err(e) => {
                    self.alert(loc, format!("'bind' : {e}"));
                    return;
                }
            }
        }
        let mut b = Bind {
            loc: loc.clone(),
            text: spec.to_string(),
            addrs,
            name: None,
            maxconn: None,
            v6only: None,
            transparent: false,
            backlog: None,
            defer_accept: false,
            interface: None,
            h2_only: false,
            accept_proxy: false,
            ssl_options: Vec::new(),
            tls: None,
            pending: Vec::new(),
        };
        let a = args_from(w, 2);
        let mut i = 0;
        let head = format!("'bind {spec}'");
        while i < a.len() {
            let opt = a[i].as_str();
            let v = arg(a, i + 1);
            let need_arg = |p: &mut Self| -> bool {
                if v.is_empty() {
                    p.alert(loc, format!("{head} : missing value for '{opt}' option."));
                    false
                } else {
                    true
                }
            };
            match opt {
                "name" => {
                    if !need_arg(self) {
                        return;
                    }
                    b.name = Some(v.to_string());
                    i += 2;
                }
                "maxconn" | "backlog" => {
                    let Some(n) = parse_uint(v).and_then(|x| u32::try_from(x).ok()) else {
                        self.alert(loc, format!("{head} : '{opt}' : invalid value '{v}'."));
                        return;
                    };
                    if opt == "maxconn" {
                        b.maxconn = Some(n);
                    } else {
                        b.backlog = Some(n);
                    }
                    i += 2;
                }
                "interface" => {
                    if !need_arg(self) {
                        return;
                    }
                    b.interface = Some(v.to_string());
                    i += 2;
                }
                "v4v6" => {
                    b.v6only = Some(false);
                    i += 1;
                }
                "v6only" => {
                    b.v6only = Some(true);
                    i += 1;
                }
                "transparent" => {
                    b.transparent = true;
                    i += 1;
                }
                "defer-accept" => {
                    b.defer_accept = true;
                    i += 1;
                }
                "accept-proxy" => {
                    b.accept_proxy = true;
                    i += 1;
                }
                "proto" => {
                    if !need_arg(self) {
                        return;
                    }
                    if v == "h2" {
                        b.h2_only = true;
                    } else {
                        self.alert(
                            loc,
                            format!("{head} : 'proto {v}' is not supported by dermaga (only 'proto h2')."),
                        );
                    }
                    i += 2;
                }
                _ => {
                    if let Some((_, n)) = TLS_BIND_OPTIONS.iter().find(|(k, _)| *k == opt) {
                        if *n == 1 && !need_arg(self) {
                            return;
                        }
                        b.ssl_options.push(RawOption {
                            keyword: opt.to_string(),
                            args: a[i + 1..(i + 1 + n).min(a.len())].to_vec(),
                        });
                        i += 1 + n;
                    } else if let Some((_, n)) =
                        PENDING_BIND_OPTIONS.iter().find(|(k, _)| *k == opt)
                    {
                        let args: Vec<String> = a[i + 1..(i + 1 + n).min(a.len())].to_vec();
                        b.pending.push(RawOption {
                            keyword: opt.to_string(),
                            args,
                        });
                        i += 1 + n;
                    } else if let Some((_, n)) =
                        UNSUPPORTED_BIND_OPTIONS.iter().find(|(k, _)| *k == opt)
                    {
                        self.alert(
                            loc,
                            format!("{head} : '{opt}' is not supported by dermaga."),
                        );
                        i += 1 + n;
                    } else {
                        let kind = self.proxies[pi].proxy.kind.type_str();
                        self.alert(
                            loc,
                            format!("{head} in section '{kind}': unknown keyword '{opt}'."),
                        );
                        return;
                    }
                }
            }
        }
        if !b.pending.is_empty() {
            let names: Vec<String> = b
                .pending
                .iter()
                .map(|o| format!("'{}'", o.keyword))
                .collect();
            let what = if names.len() == 1 { "is" } else { "are" };
            self.alert(loc, format!("{head} : {} {what} not supported by dermaga yet (these options are not implemented).", names.join(", ")));
        }
        self.proxies[pi].proxy.binds.push(b);
    }

    fn server_line(&mut self, loc: &Location, w: &[String], t: Target, default: bool) {
        let pxname = self.target_info(t).1;
        let (name, addr_text, opts_from) = if default {
            (String::new(), String::new(), 1)
        } else {
            let (n, a) = (arg(w, 1), arg(w, 2));
            if n.is_empty() || a.is_empty() {
                let m =
                    format!("[{loc}] : 'server' expects <name> and <addr>[:<port>] as arguments.");
                self.diags.push(Diagnostic::alert(Some(loc.clone()), m));
                return;
            }
            (n.to_string(), a.to_string(), 3)
        };
        let who = if default {
            "default-server".to_string()
        } else {
            format!("server {pxname}/{name}")
        };
        let srv_err = |p: &mut Self, msg: String| {
            let m = format!("[{loc}] : '{who}' : {msg}");
            p.diags.push(Diagnostic::alert(Some(loc.clone()), m));
        };
        let mut o = self.settings(t).default_server.clone();
        let a = args_from(w, opts_from);
        let mut i = 0;
        while i < a.len() {
            let opt = a[i].as_str();
            let v = arg(a, i + 1);
            let time = |p: &mut Self, v: &str| -> Option<Duration> {
                match parse_time(v) {
                    Ok(d) if !d.is_zero() => Some(d),
                    Ok(_) => {
                        srv_err(
                            p,
                            format!("invalid value 0 for argument '{opt}' of server {name}.."),
                        );
                        None
                    }
                    Err(TimeError::Empty) => {
                        srv_err(p, format!("'{opt}' expects a delay as argument.."));
                        None
                    }
                    Err(TimeError::BadChar(c)) => {
                        srv_err(
                            p,
                            format!(
                                "unexpected character '{c}' in '{opt}' argument of server {name}.."
                            ),
                        );
                        None
                    }
                    Err(e) => {
                        srv_err(p, time_err_text(&e, v, opt));
                        None
                    }
                }
            };
            let int = |p: &mut Self, v: &str| -> Option<u32> {
                match parse_uint(v).and_then(|x| u32::try_from(x).ok()) {
                    Some(n) => Some(n),
                    None => {
                        srv_err(
                            p,
                            format!("'{opt}' expects an integer argument (got '{v}')."),
                        );
                        None
                    }
                }
            };
            let mut step = 2;
            match opt {
                "check" => {
                    o.check = true;
                    step = 1;
                }
                "no-check" => {
                    o.check = false;
                    step = 1;
                }
                "backup" => {
                    o.backup = true;
                    step = 1;
                }
                "no-backup" => {
                    o.backup = false;
                    step = 1;
                }
                "disabled" => {
                    o.disabled = true;
                    step = 1;
                }
                "enabled" => {
                    o.disabled = false;
                    step = 1;
                }
                "inter" | "fastinter" | "downinter" | "slowstart" => {
                    let Some(d) = time(self, v) else { return };
                    match opt {
                        "inter" => o.inter = d,
                        "fastinter" => o.fastinter = Some(d),
                        "downinter" => o.downinter = Some(d),
                        _ => o.slowstart = Some(d),
                    }
                }
                "rise" | "fall" => {
                    let Some(n) = int(self, v) else { return };
                    if n == 0 {
                        srv_err(self, format!("'{opt}' has to be > 0.."));
                        return;
                    }
                    if opt == "rise" {
                        o.rise = n;
                    } else {
                        o.fall = n;
                    }
                }
                "weight" => {
                    let Some(n) = int(self, v) else { return };
                    if n > 256 {
                        srv_err(
                            self,
                            format!("weight of server {name} is not within 0 and 256 ({n}).."),
                        );
                        return;
                    }
                    o.weight = n;
                }
                "maxconn" => {
                    let Some(n) = int(self, v) else { return };
                    o.maxconn = n;
                }
                "maxqueue" => {
                    let Some(n) = int(self, v) else { return };
                    o.maxqueue = n;
                }
                "error-limit" => {
                    let Some(n) = int(self, v) else { return };
                    if n == 0 {
                        srv_err(self, format!("'{opt}' has to be > 0.."));
                        return;
                    }
                    o.error_limit = n;
                }
                "cookie" => {
                    if v.is_empty() {
                        srv_err(self, format!("'{opt}' expects <value> as argument.."));
                        return;
                    }
                    o.cookie = Some(v.to_string());
                }
                "port" => match v.parse::<u16>().ok().filter(|p| *p > 0) {
                    Some(p) => o.check_port = Some(p),
                    None => {
                        srv_err(
                            self,
                            format!("'{opt}' expects a valid port number (got '{v}')."),
                        );
                        return;
                    }
                },
                "addr" => match v.parse::<IpAddr>() {
                    Ok(ip) => o.check_addr = Some(ip),
                    Err(_) => match resolve_host(self.env, v, "") {
                        Some(ip) => o.check_addr = Some(ip),
                        None => {
                            srv_err(self, format!("invalid address '{v}' in 'addr' argument."));
                            return;
                        }
                    },
                },
                "observe" => {
                    o.observe = match v {
                        "none" => None,
                        "layer4" => Some(Observe::Layer4),
                        "layer7" => Some(Observe::Layer7),
                        _ => {
                            srv_err(self, format!("'observe' expects one of 'none', 'layer4', 'layer7' but got '{v}'."));
                            return;
                        }
                    };
                }
                "on-error" => {
                    o.on_error = match v {
                        "fastinter" => OnError::FastInter,
                        "fail-check" => OnError::FailCheck,
                        "sudden-death" => OnError::SuddenDeath,
                        "mark-down" => OnError::MarkDown,
                        _ => {
                            srv_err(self, format!("'on-error' expects one of 'fastinter', 'fail-check', 'sudden-death' or 'mark-down' but got '{v}'."));
                            return;
                        }
                    };
                }
                "on-marked-down" | "on-marked-up" => {
                    srv_err(self, format!("'{opt}' is not supported by dermaga."));
                    return;
                }
                "send-proxy" | "send-proxy-v2" => {
                    o.send_proxy = Some(if opt == "send-proxy" {
                        ProxyVersion::V1
                    } else {
                        ProxyVersion::V2
                    });
                    step = 1;
                }
                "no-send-proxy" | "no-send-proxy-v2" => {
                    o.send_proxy = None;
                    step = 1;
                }
                "proto" | "check-proto" => {
                    let p = match v {
                        "h2" => ServerProto::H2,
                        "h1" => ServerProto::H1,
                        "" => {
                            srv_err(self, format!("'{opt}' expects an argument."));
                            return;
                        }
                        _ => {
                            srv_err(
                                self,
                                format!(
                                    "'{opt} {v}' is not supported by dermaga (only 'h1' and 'h2')."
                                ),
                            );
                            return;
                        }
                    };
                    if opt == "proto" {
                        o.proto = Some(p);
                    } else {
                        o.check_proto = Some(p);
                    }
                }
                _ => {
                    if let Some((_, n)) = TLS_SERVER_OPTIONS.iter().find(|(k, _)| *k == opt) {
                        if *n == 1 && v.is_empty() {
                            srv_err(self, format!("'{opt}' expects an argument."));
                            return;
                        }
                        o.ssl_options.push(RawOption {
                            keyword: opt.to_string(),
                            args: a[i + 1..(i + 1 + n).min(a.len())].to_vec(),
                        });
                        step = 1 + n;
                    } else if let Some((_, n)) =
                        UNSUPPORTED_SERVER_OPTIONS.iter().find(|(k, _)| *k == opt)
                    {
                        srv_err(self, format!("'{opt}' is not supported by dermaga."));
                        step = 1 + n;
                    } else {
                        srv_err(self, format!("unknown keyword '{opt}'."));
                        return;
                    }
                }
            }
            i += step;
        }
        // A PROXY header names one client; an HTTP/2 connection carries many clients'
        // streams (haproxy keeps such connections private; dermaga shares them).
        let h2_alpn = o
            .ssl_options
            .iter()
            .any(|r| r.keyword == "alpn" && r.args.iter().any(|a| a.split(',').any(|p| p == "h2")));
        if o.send_proxy.is_some() && (o.proto == Some(ServerProto::H2) || h2_alpn) {
            srv_err(
                self,
                "'send-proxy' to a server spoken to in HTTP/2 ('proto h2' or 'alpn h2') is not supported by dermaga.".to_string(),
            );
            return;
        }
        if default {
            self.settings(t).default_server = o;
            return;
        }
        // `server` is refused in defaults before it gets here.
        let Target::Proxy(pi) = t else { return };
        if let Some(prev) = self.proxies[pi].server_lines.get(&name) {
            // haproxy finds these once everything is read.
            let (kind, _, _, _, _) = self.target_info(t);
            let m = format!("parsing [{loc}] : {kind} '{pxname}', another server named '{name}' was already defined at line {prev}, please use distinct names.");
            self.proxies[pi]
                .late_errors
                .push(Diagnostic::alert(Some(loc.clone()), m));
            return;
        }
        let (addr, port_offset) = match resolve_server_addr(self.env, &addr_text) {
            Ok(v) => v,
            Err(e) => {
                srv_err(self, e);
                return;
            }
        };
        self.proxies[pi].server_lines.insert(name.clone(), loc.line);
        self.proxies[pi].proxy.servers.push(Server {
            loc: loc.clone(),
            name,
            addr_text,
            addr,
            port_offset,
            options: o,
        });
    }

    // -----------------------------------------------------------------------------------------
    // ACLs and rules
    // -----------------------------------------------------------------------------------------

    fn acl_line(&mut self, loc: &Location, w: &[String], pi: usize) {
        let name = arg(w, 1);
        if name.is_empty() {
            self.alert(loc, "'acl' expects an ACL name.".to_string());
            return;
        }
        if let Some(c) = invalid_acl_name_char(name) {
            self.alert(
                loc,
                format!("character '{c}' is not permitted in acl name '{name}'."),
            );
            return;
        }
        let crit_words: Vec<String> = args_from(w, 2).to_vec();
        let mut parsed = match parse_criterion(&crit_words) {
            Ok(p) => p,
            Err(e) => {
                self.alert(
                    loc,
                    format!("error detected while parsing ACL '{name}' : {e}."),
                );
                return;
            }
        };
        if let Some(wn) = parsed.warning.take() {
            self.diags.push(Diagnostic::warning(Some(loc.clone()), wn));
        }
        self.complete_fetch(loc, pi, &mut parsed.criterion);
        let st = &mut self.proxies[pi];
        match st.acl_index.get(name) {
            Some(&k) => {
                st.acls[k].1.push(parsed.criterion);
                st.acls[k].2.push(loc.clone());
            }
            None => {
                st.acl_index.insert(name.to_string(), st.acls.len());
                st.acls
                    .push((name.to_string(), vec![parsed.criterion], vec![loc.clone()]));
            }
        }
    }

    /// Completes a fetch with what depends on where it is written (a bare `nbsrv` counts the
    /// servers of proxy `pi` itself), and notes the backend or userlist it names, for the
    /// check once every section is read.
    fn complete_fetch(&mut self, loc: &Location, pi: usize, c: &mut Criterion) {
        if let Fetch::HttpAuth { userlist } | Fetch::HttpAuthGroup { userlist } = &c.fetch {
            let kw = if matches!(c.fetch, Fetch::HttpAuth { .. }) {
                "http_auth"
            } else {
                "http_auth_group"
            };
            let proxy = self.proxies[pi].proxy.name.clone();
            self.fetch_userlist_refs
                .push((loc.clone(), proxy, kw, userlist.to_string()));
        }
        if let Fetch::NbSrv { backend } = &mut c.fetch {
            let proxy = &self.proxies[pi].proxy.name;
            let named = backend.as_deref().map(str::to_string);
            backend.get_or_insert_with(|| proxy.as_str().into());
            self.fetch_backend_refs
                .push((loc.clone(), proxy.clone(), named));
        }
    }

    /// The `if|unless COND` that two-word keywords such as `monitor fail` and `stats admin`
    /// must end with (from the third word of `w`), read as [`Parser::condition`] reads it;
    /// haproxy's error when it is missing.
    fn required_condition(
        &mut self,
        loc: &Location,
        pi: usize,
        w: &[String],
        keyword: &str,
        what: &str,
    ) -> Option<PendingCond> {
        let cond_w = args_from(w, 2);
        if !matches!(cond_w.first().map(String::as_str), Some("if" | "unless")) {
            let m =
                format!("'{keyword}' requires either 'if' or 'unless' followed by a condition.");
            self.alert(loc, m);
            return None;
        }
        self.condition(loc, pi, cond_w, what, CondContext::Http)
    }

    /// Reads a condition for a rule of proxy `pi`; reports errors itself (`what` names the
    /// rule in haproxy's words).
    fn condition(
        &mut self,
        loc: &Location,
        pi: usize,
        words: &[String],
        what: &str,
        ctx: CondContext,
    ) -> Option<PendingCond> {
        let mut parsed = match parse_condition(words, &self.proxies[pi]) {
            Ok(p) => p,
            Err(e) => {
                self.alert(loc, format!("error detected while parsing {what} : {e}."));
                return None;
            }
        };
        for c in parsed.cond.anonymous_mut() {
            self.complete_fetch(loc, pi, c);
        }
        for wn in parsed.warnings {
            self.diags.push(Diagnostic::warning(Some(loc.clone()), wn));
        }
        // Fetches that cannot work where the rule runs.
        let state = &self.proxies[pi];
        let mut warn = Vec::new();
        for r in parsed.cond.refs() {
            let (label, crits): (String, Vec<&Criterion>) = match r {
                AclRef::Anonymous(c) => ("anonymous acl".to_string(), vec![c]),
                AclRef::Named(n) => (
                    format!("acl '{n}'"),
                    state
                        .acl_index
                        .get(n)
                        .map(|&k| state.acls[k].1.iter().collect())
                        .unwrap_or_default(),
                ),
            };
            for c in crits {
                if matches!(c.fetch, Fetch::ReqSslSni | Fetch::ReqSslHelloType) {
                    warn.push((None, loc.clone()));
                }
                if ctx == CondContext::TcpConnection && c.fetch.needs_content() {
                    warn.push((Some(format!("{label} will never match in 'tcp-request connection' because it uses keyword '{}' which is incompatible with '{} tcp-request connection rule'", fetch_name(&c.fetch), state.proxy.kind.type_str())), loc.clone()));
                }
            }
        }
        for (m, l) in warn {
            match m {
                Some(m) => self.warn(&l, m),
                None => self.proxies[pi].l6_fetch_locs.push(l),
            }
        }
        Some(parsed.cond)
    }

    fn http_request_line(&mut self, loc: &Location, w: &[String], pi: usize) {
        let (act, cond_w) = split_cond(args_from(w, 1));
        let action = arg(act, 0);
        let kind = self.proxies[pi].proxy.kind.type_str();
        let pxname = self.proxies[pi].proxy.name.clone();
        // haproxy stops reading the configuration after a bad http-request rule.
        let rule_err = |p: &mut Self, msg: String| {
            p.alert(loc, format!("error detected in {kind} '{pxname}' while parsing 'http-request {action}' rule : {msg}."));
            p.abort = true;
        };
        // A word the action does not take, where a condition could start.
        let mut unexpected: Option<String> = None;
        let a = &act[1.min(act.len())..];
        let parsed: Result<HttpRequestAction, String> = match action {
            "set-header" | "add-header" => {
                if a.len() != 2 {
                    Err("expects exactly 2 arguments".to_string())
                } else {
                    parse_format(&a[1]).map(|value| {
                        if action == "set-header" {
                            HttpRequestAction::SetHeader {
                                name: a[0].clone(),
                                value,
                            }
                        } else {
                            HttpRequestAction::AddHeader {
                                name: a[0].clone(),
                                value,
                            }
                        }
                    })
                }
            }
            "del-header" => parse_del_header(a)
                .map(|(name, matching)| HttpRequestAction::DelHeader { name, matching }),
            "replace-header" => {
                if a.len() != 3 {
                    Err("expects exactly 3 arguments".to_string())
                } else {
                    match compile_regex(&a[1], false) {
                        Ok(regex) => parse_format(&a[2]).map(|replacement| {
                            HttpRequestAction::ReplaceHeader {
                                name: a[0].clone(),
                                regex,
                                replacement,
                            }
                        }),
                        Err(e) => Err(format!("failed to parse the regex : {e}")),
                    }
                }
            }
            "set-path" => {
                if a.len() != 1 {
                    Err("expects exactly 1 argument".to_string())
                } else {
                    parse_format(&a[0]).map(HttpRequestAction::SetPath)
                }
            }
            "replace-path" => {
                if a.len() != 2 {
                    Err("expects exactly 2 arguments".to_string())
                } else {
                    match compile_regex(&a[0], false) {
                        Ok(regex) => parse_format(&a[1]).map(|replacement| {
                            HttpRequestAction::ReplacePath { regex, replacement }
                        }),
                        Err(e) => Err(format!("failed to parse the regex : {e}")),
                    }
                }
            }
            "redirect" => parse_redirect(a).map(HttpRequestAction::Redirect),
            "deny" | "tarpit" => {
                let mut status = if action == "tarpit" { 500 } else { 403 };
                let mut i = 0;
                let mut res = Ok(());
                while i < a.len() {
                    match a[i].as_str() {
                        "deny_status" => {
                            let v = arg(a, i + 1);
                            match v
                                .parse::<u16>()
                                .ok()
                                .filter(|c| (200..=599).contains(c) && is_known_status(*c))
                            {
                                Some(c) => status = c,
                                None => {
                                    res = Err(if v.is_empty() {
                                        "missing status code.".to_string()
                                    } else {
                                        format!("Unexpected status code '{v}'")
                                    });
                                    break;
                                }
                            }
                            i += 2;
                        }
                        o @ ("content-type" | "string" | "lf-string" | "file" | "lf-file"
                        | "errorfile" | "errorfiles" | "hdr" | "default-errorfiles") => {
                            res = Err(format!(
                                "'{o}' after '{action}' is not supported by dermaga"
                            ));
                            break;
                        }
                        o => {
                            unexpected = Some(o.to_string());
                            res = Err(String::new());
                            break;
                        }
                    }
                }
                res.map(|_| {
                    if action == "tarpit" {
                        HttpRequestAction::Tarpit { status }
                    } else {
                        HttpRequestAction::Deny { status }
                    }
                })
            }
            "allow" => {
                if let Some(x) = a.first() {
                    unexpected = Some(x.clone());
                    Err(String::new())
                } else {
                    Ok(HttpRequestAction::Allow)
                }
            }
            "return" => parse_return(a),
            "auth" => match a {
                [] => Ok(HttpRequestAction::Auth { realm: None }),
                // haproxy's message ends in ".\n", then gets the rule's "." (two lines).
                [r] if r == "realm" => Err("missing realm value.\n".to_string()),
                [r, v] if r == "realm" => Ok(HttpRequestAction::Auth {
                    realm: Some(v.clone()),
                }),
                [r, _, x, ..] if r == "realm" => {
                    unexpected = Some(x.clone());
                    Err(String::new())
                }
                [x, ..] => {
                    unexpected = Some(x.clone());
                    Err(String::new())
                }
            },
            "" => Err("expects an action".to_string()),
            _ => {
                if UNSUPPORTED_HTTP_REQUEST_ACTIONS.contains(&action)
                    || UNSUPPORTED_HTTP_REQUEST_PREFIXES
                        .iter()
                        .any(|p| action.starts_with(p))
                {
                    self.unsupported(loc, &format!("http-request {action}"));
                } else {
                    let m = format!("parsing [{loc}]: 'http-request' expects 'add-header', 'allow', 'auth', 'del-header', 'deny', 'redirect', 'replace-header', 'replace-path', 'return', 'set-header', 'set-path', but got '{action}'.");
                    self.diags.push(Diagnostic::alert(Some(loc.clone()), m));
                    self.abort = true;
                }
                return;
            }
        };
        if let Some(word) = unexpected {
            let m = format!("parsing [{loc}]: 'http-request {action}' expects either 'if' or 'unless' followed by a condition but found '{word}'.");
            self.diags.push(Diagnostic::alert(Some(loc.clone()), m));
            self.abort = true;
            return;
        }
        let action_v = match parsed {
            Ok(a) => a,
            Err(e) => return rule_err(self, e),
        };
        let cond = if cond_w.is_empty() {
            None
        } else {
            match self.condition(
                loc,
                pi,
                cond_w,
                &format!("an 'http-request {action}' condition"),
                CondContext::Http,
            ) {
                Some(c) => Some(c),
                None => {
                    self.abort = true;
                    return;
                }
            }
        };
        self.proxies[pi]
            .http_request
            .push((loc.clone(), action_v, cond));
    }

    fn http_response_line(&mut self, loc: &Location, w: &[String], pi: usize) {
        let (act, cond_w) = split_cond(args_from(w, 1));
        let action = arg(act, 0);
        let kind = self.proxies[pi].proxy.kind.type_str();
        let pxname = self.proxies[pi].proxy.name.clone();
        let a = &act[1.min(act.len())..];
        let parsed: Result<HttpResponseAction, String> = match action {
            "set-header" | "add-header" => {
                if a.len() != 2 {
                    Err("expects exactly 2 arguments".to_string())
                } else {
                    parse_format(&a[1]).map(|value| {
                        if action == "set-header" {
                            HttpResponseAction::SetHeader {
                                name: a[0].clone(),
                                value,
                            }
                        } else {
                            HttpResponseAction::AddHeader {
                                name: a[0].clone(),
                                value,
                            }
                        }
                    })
                }
            }
            "del-header" => parse_del_header(a)
                .map(|(name, matching)| HttpResponseAction::DelHeader { name, matching }),
            "allow"
            | "deny"
            | "redirect"
            | "replace-header"
            | "replace-value"
            | "return"
            | "set-status"
            | "set-log-level"
            | "set-var"
            | "capture"
            | "cache-store"
            | "set-map"
            | "del-map"
            | "add-acl"
            | "del-acl"
            | "set-nice"
            | "set-mark"
            | "set-tos"
            | "silent-drop"
            | "strict-mode"
            | "track-sc0"
            | "track-sc1"
            | "track-sc2"
            | "wait-for-body"
            | "set-var-fmt"
            | "unset-var"
            | "sc-inc-gpc"
            | "sc-set-gpt"
            | "do-log"
            | "send-spoe-group"
            | "set-timeout"
            | "set-bandwidth-limit" => {
                self.unsupported(loc, &format!("http-response {action}"));
                return;
            }
            _ if action.contains('(') => {
                self.unsupported(loc, &format!("http-response {action}"));
                return;
            }
            _ => {
                let m = format!("parsing [{loc}]: 'http-response' expects 'add-header', 'del-header', 'set-header', but got '{action}'.");
                self.diags.push(Diagnostic::alert(Some(loc.clone()), m));
                self.abort = true;
                return;
            }
        };
        let act_v = match parsed {
            Ok(a) => a,
            Err(e) => {
                self.alert(loc, format!("error detected in {kind} '{pxname}' while parsing 'http-response {action}' rule : {e}."));
                self.abort = true;
                return;
            }
        };
        let cond = if cond_w.is_empty() {
            None
        } else {
            match self.condition(
                loc,
                pi,
                cond_w,
                &format!("an 'http-response {action}' condition"),
                CondContext::Http,
            ) {
                Some(c) => Some(c),
                None => {
                    self.abort = true;
                    return;
                }
            }
        };
        self.proxies[pi]
            .http_response
            .push((loc.clone(), act_v, cond));
    }

    fn tcp_request_line(&mut self, loc: &Location, w: &[String], t: Target) {
        let sub = arg(w, 1);
        let (kind, name, fe, _, anon) = self.target_info(t);
        let is_def = matches!(t, Target::Defaults(_));
        match sub {
            "inspect-delay" => {
                if is_def && anon {
                    self.alert(loc, "tcp-request inspect-delay is not allowed in anonymous 'defaults' sections".to_string());
                    return;
                }
                let v = arg(w, 2);
                match parse_time(v) {
                    Ok(d) if !arg(w, 3).is_empty() => {
                        let _ = d;
                        self.alert(loc, format!("'tcp-request inspect-delay' : unexpected argument '{}'", arg(w, 3)));
                    }
                    Ok(d) => self.settings(t).inspect_delay = nonzero(d),
                    Err(e) => {
                        let why = match e {
                            TimeError::BadChar(c) => format!(" (unexpected character '{c}')"),
                            _ => String::new(),
                        };
                        self.alert(loc, format!("'tcp-request inspect-delay' expects a positive delay in milliseconds, in {kind} '{name}'{why}"))
                    }
                }
            }
            "connection" | "content" => {
                if is_def {
                    if anon {
                        self.alert(loc, format!("tcp-request {sub} is not allowed in anonymous 'defaults' sections"));
                    } else {
                        self.unsupported(loc, &format!("tcp-request {sub}' in a 'defaults"));
                    }
                    return;
                }
                if sub == "connection" && !fe {
                    self.alert(loc, format!("tcp-request connection is not allowed because {kind} {name} is not a frontend"));
                    return;
                }
                let Target::Proxy(pi) = t else { return };
                let (act, cond_w) = split_cond(args_from(w, 2));
                let action = match arg(act, 0) {
                    "accept" => TcpAction::Accept,
                    "reject" => TcpAction::Reject,
                    "" => {
                        self.alert(loc, format!("'tcp-request {sub}' expects 'accept', 'reject', ..."));
                        return;
                    }
                    other => {
                        self.unsupported(loc, &format!("tcp-request {sub} {other}"));
                        return;
                    }
                };
                if act.len() > 1 {
                    self.alert(loc, format!("'tcp-request {sub} {}' : unexpected argument '{}'", act[0], act[1]));
                    return;
                }
                let ctx = if sub == "connection" { CondContext::TcpConnection } else { CondContext::TcpContent };
                let cond = if cond_w.is_empty() {
                    None
                } else {
                    match self.condition(loc, pi, cond_w, &format!("'tcp-request {sub}' rule"), ctx) {
                        Some(c) => Some(c),
                        None => return,
                    }
                };
                let p = &mut self.proxies[pi];
                if sub == "connection" {
                    p.tcp_connection.push((loc.clone(), action, cond));
                } else {
                    p.tcp_content.push((loc.clone(), action, cond));
                }
            }
            "session" => self.unsupported(loc, "tcp-request session"),
            _ => self.alert(loc, format!("'tcp-request' expects 'inspect-delay', 'connection', 'session' or 'content', got '{sub}'.")),
        }
    }

    // -----------------------------------------------------------------------------------------
    // the end
    // -----------------------------------------------------------------------------------------

    /// Resolves cross-references, applies the last checks, and returns the model.
    pub fn finish(mut self) -> (Config, Vec<Diagnostic>) {
        self.end_section();
        let mut global = std::mem::take(&mut self.global);
        global.loc = self.global_loc.clone();
        if global.maxrewrite == 0 {
            global.maxrewrite = default_maxrewrite(global.bufsize);
        } else if global.maxrewrite >= global.bufsize {
            let loc = global.loc.clone();
            self.diags.push(Diagnostic::alert(
                loc,
                format!(
                    "tune.maxrewrite ({}) must be lower than tune.bufsize ({}).",
                    global.maxrewrite, global.bufsize
                ),
            ));
        }
        // Names of backends, for references.
        let backend_index: HashMap<String, usize> = self
            .proxies
            .iter()
            .enumerate()
            .filter(|(_, p)| p.proxy.kind.is_backend())
            .map(|(i, p)| (p.proxy.name.clone(), i))
            .collect();
        let find_backend = |n: &str| backend_index.get(n).copied();
        // Fetch arguments naming backends, reported as haproxy reports them: one alert, or
        // one alert listing them all.
        let mut unresolved: Vec<(Location, String)> = Vec::new();
        for (loc, proxy, named) in &self.fetch_backend_refs {
            let what = "arg 1 of ACL keyword 'nbsrv'";
            match named {
                Some(be) if find_backend(be).is_none() => unresolved.push((loc.clone(), format!(
                    "parsing [{loc}]: unable to find backend '{be}' referenced in {what} in proxy '{proxy}'."
                ))),
                None if find_backend(proxy).is_none() => unresolved.push((loc.clone(), format!(
                    "parsing [{loc}]: proxy '{proxy}', referenced in {what} in proxy '{proxy}', has not backend capability."
                ))),
                _ => {}
            }
        }
        for (loc, proxy, kw, list) in &self.fetch_userlist_refs {
            if !self.userlists.iter().any(|u| &u.list.name == list) {
                unresolved.push((loc.clone(), format!(
                    "parsing [{loc}]: unable to find userlist '{list}' referenced in arg 1 of ACL keyword '{kw}' in proxy '{proxy}'."
                )));
            }
        }
        // haproxy reports them in the order of the lines.
        unresolved.sort_by(|a, b| a.0.cmp(&b.0));
        let mut unresolved: Vec<String> = unresolved.into_iter().map(|(_, m)| m).collect();
        match unresolved.len() {
            0 => {}
            1 => self
                .diags
                .push(Diagnostic::alert(None, unresolved.remove(0))),
            _ => self.diags.push(Diagnostic::alert(
                None,
                format!(
                    "multiple argument resolution errors:\n        {}",
                    unresolved.join("\n        ")
                ),
            )),
        }

        let states = std::mem::take(&mut self.proxies);
        let mut proxies = Vec::with_capacity(states.len());
        for st in states {
            let mut p = st.proxy;
            let acls: Vec<Arc<Acl>> = st
                .acls
                .iter()
                .map(|(n, c, l)| {
                    Arc::new(Acl {
                        name: n.clone(),
                        criteria: c.clone(),
                        locs: l.clone(),
                    })
                })
                .collect();
            let lookup = |n: &str| -> Option<Arc<Acl>> {
                st.acl_index
                    .get(n)
                    .map(|&k| acls[k].clone())
                    .or_else(|| aclparse::predefined(n))
            };
            let resolve = |c: &Option<PendingCond>, loc: &Location| {
                c.as_ref().map(|c| c.resolve(&lookup, loc))
            };
            let kind = p.kind;
            let name = p.name.clone();
            for (loc, be, cond) in &st.use_backends {
                match find_backend(be) {
                    Some(index) => p.use_backends.push(UseBackend {
                        loc: loc.clone(),
                        backend: BackendRef {
                            name: be.clone(),
                            index,
                        },
                        cond: resolve(cond, loc),
                    }),
                    None => self.diags.push(Diagnostic::alert(
                        Some(loc.clone()),
                        format!("Proxy '{name}': unable to find required use_backend: '{be}'."),
                    )),
                }
            }
            if let Some((loc, be)) = &st.default_backend {
                match find_backend(be) {
                    Some(index) => {
                        p.default_backend = Some(BackendRef {
                            name: be.clone(),
                            index,
                        })
                    }
                    None => self.diags.push(Diagnostic::alert(
                        Some(loc.clone()),
                        format!("Proxy '{name}': unable to find required default_backend: '{be}'."),
                    )),
                }
            }
            p.http_request = st
                .http_request
                .iter()
                .map(|(l, a, c)| HttpRequestRule {
                    loc: l.clone(),
                    action: a.clone(),
                    cond: resolve(c, l),
                })
                .collect();
            p.http_response = st
                .http_response
                .iter()
                .map(|(l, a, c)| HttpResponseRule {
                    loc: l.clone(),
                    action: a.clone(),
                    cond: resolve(c, l),
                })
                .collect();
            p.tcp_request_connection = st
                .tcp_connection
                .iter()
                .map(|(l, a, c)| TcpRequestRule {
                    loc: l.clone(),
                    action: *a,
                    cond: resolve(c, l),
                })
                .collect();
            p.tcp_request_content = st
                .tcp_content
                .iter()
                .map(|(l, a, c)| TcpRequestRule {
                    loc: l.clone(),
                    action: *a,
                    cond: resolve(c, l),
                })
                .collect();
            p.redirects = st
                .redirects
                .iter()
                .map(|(l, r, c)| RedirectRule {
                    loc: l.clone(),
                    redirect: r.clone(),
                    cond: resolve(c, l),
                })
                .collect();
            p.monitor_fail = st
                .monitor_fail
                .iter()
                .filter_map(|(l, c)| resolve(&Some(c.clone()), l))
                .collect();
            p.stats_admin = st
                .stats_admin
                .as_ref()
                .and_then(|(l, c)| resolve(&Some(c.clone()), l));
            p.acls = acls.clone();
            if kind.is_backend() {
                p.settings.health_check = build_health_check(&st.check, &p.loc);
                let c = &st.check;
                let ty = kind.type_str();
                if (!c.send.is_empty() || !c.expect.is_empty()) && c.kind != CheckKind::Http {
                    self.diags.push(Diagnostic::warning(Some(p.loc.clone()), format!("{ty} '{name}' uses http-check rules without 'option httpchk', so the rules are ignored.")));
                }
                if !c.tcp.is_empty() && c.kind != CheckKind::Tcp {
                    self.diags.push(Diagnostic::warning(Some(p.loc.clone()), format!("{ty} '{name}' uses tcp-check rules without 'option tcp-check', so the rules are ignored.")));
                }
            } else {
                p.settings.health_check = HealthCheck::TcpConnect;
            }

            let http = p.settings.mode == Mode::Http;
            let ty = kind.type_str();
            let warn = |d: &mut Vec<Diagnostic>, loc: &Location, m: String| {
                d.push(Diagnostic::warning(Some(loc.clone()), m));
            };
            let to = &p.settings.timeouts;
            if (kind.is_frontend() && to.client.is_none())
                || (kind.is_backend() && (to.connect.is_none() || to.server.is_none()))
            {
                warn(&mut self.diags, &p.loc, format!("missing timeouts for {ty} '{name}'.\n   | While not properly invalid, you will certainly encounter various problems\n   | with such a configuration. To fix this, please ensure that all following\n   | timeouts are set to a non-zero value: 'client', 'connect', 'server'."));
            }
            self.diags.extend(st.late_errors.iter().cloned());
            if !http && kind.is_frontend() {
                for b in p.binds.iter().filter(|b| b.h2_only) {
                    self.diags.push(Diagnostic::alert(
                        Some(b.loc.clone()),
                        format!(
                            "parsing [{}] : 'bind {}' : 'proto h2' needs 'mode http' in {ty} '{name}'.",
                            b.loc, b.text
                        ),
                    ));
                }
            }
            if kind.is_backend() {
                for sv in &p.servers {
                    let at = &sv.loc;
                    let bad = if !http && sv.options.proto == Some(ServerProto::H2) {
                        Some(format!("'proto h2' needs 'mode http' in {ty} '{name}'"))
                    } else if sv.options.check_proto == Some(ServerProto::H2)
                        && sv.options.check
                        && !matches!(p.settings.health_check, HealthCheck::Http(_))
                    {
                        Some(format!(
                            "'check-proto h2' needs HTTP checks ('option httpchk') in {ty} '{name}'"
                        ))
                    } else {
                        None
                    };
                    if let Some(m) = bad {
                        self.diags.push(Diagnostic::alert(
                            Some(at.clone()),
                            format!("parsing [{at}] : 'server {name}/{}' : {m}.", sv.name),
                        ));
                    }
                }
            }
            if http {
                for l in &st.l6_fetch_locs {
                    warn(&mut self.diags, l, format!("Proxy '{name}': L6 sample fetches ignored on HTTP proxies (declared at {l})."));
                }
            } else {
                if kind.is_backend() && p.settings.cookie.is_some() {
                    warn(
                        &mut self.diags,
                        &p.loc,
                        format!("cookie will be ignored for {ty} '{name}' (needs 'mode http')."),
                    );
                    p.settings.cookie = None;
                }
                if p.settings.logs.httplog && kind.is_frontend() {
                    let at = st
                        .check
                        .httplog_loc
                        .clone()
                        .unwrap_or_else(|| p.loc.clone());
                    warn(&mut self.diags, &at, format!("parsing [{at}] : 'option httplog' not usable with {ty} '{name}' (needs 'mode http'). Falling back to 'option tcplog'."));
                    p.settings.logs.httplog = false;
                    p.settings.logs.httplog_clf = false;
                    p.settings.logs.tcplog = true;
                }
            }
            if kind.is_frontend()
                && (p.settings.logs.httplog || p.settings.logs.tcplog)
                && p.settings.logs.targets.is_empty()
            {
                warn(
                    &mut self.diags,
                    &p.loc,
                    format!("log format ignored for {ty} '{name}' since it has no log address."),
                );
            }
            if !http {
                if p.settings.forwardfor.is_some() {
                    warn(&mut self.diags, &p.loc, format!("'option forwardfor' ignored for {ty} '{name}' as it requires HTTP mode."));
                    p.settings.forwardfor = None;
                }
                if !p.http_request.is_empty() {
                    warn(&mut self.diags, &p.loc, format!("'http-request' rules ignored for {ty} '{name}' as they require HTTP mode."));
                    p.http_request.clear();
                }
                if !p.http_response.is_empty() {
                    warn(&mut self.diags, &p.loc, format!("'http-response' rules ignored for {ty} '{name}' as they require HTTP mode."));
                    p.http_response.clear();
                }
                if !p.redirects.is_empty() {
                    warn(
                        &mut self.diags,
                        &p.loc,
                        format!(
                            "'redirect' rules ignored for {ty} '{name}' as they require HTTP mode."
                        ),
                    );
                    p.redirects.clear();
                }
                if kind.is_backend()
                    && matches!(
                        p.settings.balance,
                        Some(Balance::Uri { .. } | Balance::UrlParam { .. } | Balance::Hdr { .. })
                    )
                {
                    warn(&mut self.diags, &p.loc, format!("Layer 7 hash not possible for backend '{name}' (needs 'mode http'). Falling back to round robin."));
                    p.settings.balance = Some(Balance::RoundRobin);
                }
                for srv in &mut p.servers {
                    if srv.options.cookie.is_some() {
                        warn(&mut self.diags, &srv.loc, format!("{ty} '{name}' : ignoring cookie for server '{}' as HTTP mode is disabled.", srv.name));
                        srv.options.cookie = None;
                    }
                }
            }
            proxies.push(p);
        }
        // An HTTP frontend cannot hand its requests to a TCP backend (the other way round is
        // an upgrade, which haproxy allows).
        for p in &proxies {
            if !p.kind.is_frontend() || p.settings.mode != Mode::Http {
                continue;
            }
            let mut targets: Vec<(&BackendRef, &str)> = p
                .use_backends
                .iter()
                .map(|u| (&u.backend, "in a 'use_backend' rule"))
                .collect();
            if let Some(d) = &p.default_backend {
                targets.push((d, "as its default backend"));
            }
            for (b, how) in targets {
                let be = &proxies[b.index];
                if be.settings.mode == Mode::Tcp && !std::ptr::eq(be, p) {
                    self.diags.push(Diagnostic::alert(
                        Some(p.loc.clone()),
                        format!(
                            "http {} '{}' ({}) tries to use incompatible tcp {} '{}' ({}) {how} (see 'mode').",
                            p.kind.type_str(),
                            p.name,
                            p.loc,
                            be.kind.type_str(),
                            be.name,
                            be.loc
                        ),
                    ));
                }
            }
        }
        let mut proxies = proxies;
        crate::tls::build_all(&global, &mut proxies, &mut self.diags);
        let userlists = self.finish_userlists();
        let defaults = self.defaults.into_iter().map(|d| d.defaults).collect();
        (
            Config {
                global,
                defaults,
                proxies,
                userlists,
            },
            self.diags,
        )
    }
}

#[derive(Clone, Copy)]
enum Target {
    Defaults(usize),
    Proxy(usize),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Cap {
    /// Anywhere but `defaults`.
    NotInDefaults,
    /// Not in an anonymous `defaults` (and dermaga refuses it in named ones).
    NamedDefaults,
    /// Needs a frontend side; ignored with a warning otherwise.
    Frontend,
    /// Needs a frontend side; an error otherwise.
    #[allow(dead_code)]
    FrontendStrict,
    /// Needs a backend side; ignored with a warning otherwise.
    Backend,
    /// Needs a backend side; an error otherwise.
    BackendStrict,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum CondContext {
    Http,
    TcpConnection,
    TcpContent,
}

fn fetch_name(f: &Fetch) -> String {
    match f {
        Fetch::Hdr { .. } => "hdr".to_string(),
        Fetch::HdrCnt { .. } => "hdr_cnt".to_string(),
        Fetch::UrlParam { .. } => "url_param".to_string(),
        other => other.to_string(),
    }
}

fn build_health_check(c: &CheckState, loc: &Location) -> HealthCheck {
    match c.kind {
        CheckKind::Connect => HealthCheck::TcpConnect,
        CheckKind::Tcp => HealthCheck::Tcp(c.tcp.clone()),
        CheckKind::Http => {
            let mut h = c.http.clone().unwrap_or(HttpCheck {
                loc: loc.clone(),
                method: "OPTIONS".to_string(),
                uri: "/".to_string(),
                version: "HTTP/1.0".to_string(),
                headers: Vec::new(),
                body: None,
                expect: Vec::new(),
            });
            for s in &c.send {
                if let Some(m) = &s.method {
                    h.method = m.clone();
                }
                if let Some(u) = &s.uri {
                    h.uri = u.clone();
                }
                if let Some(v) = &s.version {
                    h.version = v.clone();
                }
                h.headers.extend(s.headers.iter().cloned());
                if s.body.is_some() {
                    h.body = s.body.clone();
                }
            }
            h.expect = c.expect.clone();
            HealthCheck::Http(h)
        }
    }
}

fn is_known_status(c: u16) -> bool {
    matches!(
        c,
        200 | 400
            | 401
            | 403
            | 404
            | 405
            | 407
            | 408
            | 410
            | 413
            | 425
            | 429
            | 500
            | 501
            | 502
            | 503
            | 504
    )
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if b.len() % 2 != 0 {
        return None;
    }
    b.chunks(2)
        .map(|pair| {
            let hi = (pair[0] as char).to_digit(16)?;
            let lo = (pair[1] as char).to_digit(16)?;
            Some((hi * 16 + lo) as u8)
        })
        .collect()
}

/// Splits `host:port` (`[v6]:port`, `v6:port` with the port after the last colon, `:port`).
/// `None` when there is no port.
fn split_host_port(s: &str) -> Option<(&str, &str)> {
    if let Some(rest) = s.strip_prefix('[') {
        let end = rest.find(']')?;
        let host = &rest[..end];
        let port = rest[end + 1..].strip_prefix(':')?;
        return Some((host, port));
    }
    let i = s.rfind(':')?;
    Some((&s[..i], &s[i + 1..]))
}

/// Resolves a host name through `env`, keeping the family an `ipv4@`/`ipv6@` prefix asks for
/// (IPv4 first otherwise, as haproxy's default `init-addr` does with libc).
fn resolve_host(env: &dyn Env, host: &str, prefix: &str) -> Option<IpAddr> {
    let addrs = env.resolve_host(host);
    let want6 = prefix.ends_with('6');
    let want4 = prefix.ends_with('4');
    addrs
        .iter()
        .find(|a| if want6 { a.is_ipv6() } else { a.is_ipv4() })
        .or_else(|| if want4 || want6 { None } else { addrs.first() })
        .copied()
}

/// Checks a port's characters as haproxy does.
fn port_chars(p: &str, text: &str) -> Result<(), String> {
    match p.chars().find(|c| !c.is_ascii_digit()) {
        Some(c) => Err(format!(
            "invalid character '{c}' in port number '{p}' in '{text}'\n"
        )),
        None => Ok(()),
    }
}

/// A server address: `host[:port]`, `[v6]:port`, `ip:+N` / `ip:-N` (port offset), with the
/// `ipv4@`/`ipv6@` prefixes. Host names are resolved now.
fn resolve_server_addr(env: &dyn Env, text: &str) -> Result<(SocketAddr, Option<i32>), String> {
    let (prefix, rest) = match text.find('@') {
        Some(i) => (&text[..i], &text[i + 1..]),
        None => ("", text),
    };
    if !matches!(prefix, "" | "ipv4" | "ipv6" | "tcp" | "tcp4" | "tcp6") || rest.starts_with('/') {
        return Err(format!(
            "address '{text}' is not supported by dermaga (only IP addresses and host names)."
        ));
    }
    // A bare IPv6 address has colons and no port.
    if let Ok(ip) = rest.parse::<IpAddr>() {
        return Ok((SocketAddr::new(ip, 0), Some(0)));
    }
    let (host, port) = match split_host_port(rest) {
        Some((h, p)) => (h, Some(p)),
        None => (rest, None),
    };
    let (port, offset) = match port {
        None | Some("") => (0u16, Some(0)),
        Some(p) if p.starts_with('+') || p.starts_with('-') => {
            port_chars(&p[1..], text)?;
            match p.parse::<i32>() {
                Ok(n) if n.abs() <= 65535 => (0, Some(n)),
                _ => return Err(format!("invalid port '{p}'")),
            }
        }
        Some(p) => {
            port_chars(p, text)?;
            match p.parse::<u32>() {
                Ok(0) => (0, Some(0)),
                Ok(v) if v <= 65535 => (v as u16, None),
                _ => return Err(format!("invalid port '{p}'")),
            }
        }
    };
    let ip = match host.parse::<IpAddr>() {
        Ok(ip) => ip,
        Err(_) => resolve_host(env, host, prefix)
            .ok_or_else(|| format!("could not resolve address '{host}'."))?,
    };
    Ok((SocketAddr::new(ip, port), offset))
}

/// `del-header NAME [-m str|beg|end|sub|reg]`.
fn parse_del_header(a: &[String]) -> Result<(String, HeaderNameMatch), String> {
    let Some(name) = a.first() else {
        return Err("expects at least 1 argument".to_string());
    };
    let matching = match a.get(1).map(String::as_str) {
        None => HeaderNameMatch::Str,
        Some("-m") => match arg(a, 2) {
            "str" => HeaderNameMatch::Str,
            "beg" => HeaderNameMatch::Beg,
            "end" => HeaderNameMatch::End,
            "sub" => HeaderNameMatch::Sub,
            "reg" => HeaderNameMatch::Reg(
                compile_regex(name, true)
                    .map_err(|e| format!("failed to parse the regex : {e}"))?,
            ),
            "" => return Err("-m flag expects exactly 1 argument".to_string()),
            m => return Err(format!("-m with unsupported matching method '{m}'")),
        },
        Some(o) => return Err(format!("unexpected argument '{o}'")),
    };
    if a.len() > 3 {
        return Err(format!("unexpected argument '{}'", a[3]));
    }
    Ok((name.clone(), matching))
}

/// `redirect location|prefix|scheme TARGET [code N] [drop-query] [append-slash]
/// [set-cookie X] [clear-cookie X]` (the words after `redirect`).
fn parse_redirect(a: &[String]) -> Result<Redirect, String> {
    let mut kind = None;
    let mut target = None;
    let mut r = Redirect {
        kind: RedirectKind::Location,
        target: FormatString::literal(""),
        code: 302,
        drop_query: false,
        append_slash: false,
        set_cookie: None,
        clear_cookie: None,
    };
    let mut i = 0;
    while i < a.len() {
        let w = a[i].as_str();
        let v = arg(a, i + 1);
        match w {
            "location" | "prefix" | "scheme" => {
                if v.is_empty() {
                    return Err(format!("missing argument for '{w}'"));
                }
                kind = Some(match w {
                    "location" => RedirectKind::Location,
                    "prefix" => RedirectKind::Prefix,
                    _ => RedirectKind::Scheme,
                });
                target = Some(v.to_string());
                i += 2;
            }
            "code" => {
                match v.parse::<u16>() {
                    Ok(c @ (301 | 302 | 303 | 307 | 308)) => r.code = c,
                    _ => return Err(format!("'code': unsupported HTTP code '{v}' (must be one of 301, 302, 303, 307 or 308)")),
                }
                i += 2;
            }
            "drop-query" => {
                r.drop_query = true;
                i += 1;
            }
            "append-slash" => {
                r.append_slash = true;
                i += 1;
            }
            "set-cookie" | "clear-cookie" => {
                if v.is_empty() {
                    return Err(format!("missing argument for '{w}'"));
                }
                if w == "set-cookie" {
                    r.set_cookie = Some(v.to_string());
                } else {
                    r.clear_cookie = Some(v.to_string());
                }
                i += 2;
            }
            "ignore-empty" | "keep-query" => return Err(format!("'{w}' is not supported by dermaga")),
            _ => return Err(format!("expects 'code', 'prefix', 'location', 'scheme', 'set-cookie', 'clear-cookie', 'drop-query', 'ignore-empty' or 'append-slash' (was '{w}')")),
        }
    }
    let (Some(k), Some(t)) = (kind, target) else {
        return Err("redirection type expected ('prefix', 'location', or 'scheme')".to_string());
    };
    r.kind = k;
    r.target = parse_format(&t)?;
    Ok(r)
}

/// `return [status N] [content-type T] [string S | file F | errorfile F]`.
fn parse_return(a: &[String]) -> Result<HttpRequestAction, String> {
    let mut status = 200;
    let mut content_type = None;
    let mut headers = Vec::new();
    let mut body = ReturnBody::None;
    let mut i = 0;
    while i < a.len() {
        let w = a[i].as_str();
        let v = arg(a, i + 1);
        match w {
            "status" => {
                match v.parse::<u16>().ok().filter(|c| (200..=599).contains(c)) {
                    Some(c) => status = c,
                    None => return Err(format!("Unexpected status code '{v}'")),
                }
                i += 2;
            }
            "content-type" => {
                if v.is_empty() {
                    return Err("'content-type' expects an argument".to_string());
                }
                content_type = Some(v.to_string());
                i += 2;
            }
            "hdr" => {
                if a.get(i + 2).is_none() {
                    return Err("'hdr' expects <name> and <value> as arguments".to_string());
                }
                headers.push((v.to_ascii_lowercase(), parse_format(&a[i + 2])?));
                i += 3;
            }
            "string" => {
                if v.is_empty() && a.get(i + 1).is_none() {
                    return Err("'string' expects an argument".to_string());
                }
                body = ReturnBody::Bytes(v.as_bytes().to_vec());
                i += 2;
            }
            "lf-string" => {
                if a.get(i + 1).is_none() {
                    return Err("'lf-string' expects <fmt> as argument".to_string());
                }
                body = ReturnBody::Format(parse_format(v)?);
                i += 2;
            }
            "file" | "errorfile" => {
                let data = std::fs::read(v).map_err(|_| format!("failed to open file '{v}'"))?;
                body = ReturnBody::Bytes(data);
                i += 2;
                if w == "errorfile" {
                    return Err(
                        "'errorfile' in a 'return' action is not supported by dermaga".to_string(),
                    );
                }
            }
            "lf-file" => {
                let data =
                    std::fs::read(v).map_err(|_| format!("error opening file '{v}'"))?;
                body = ReturnBody::Format(parse_format(&String::from_utf8_lossy(&data))?);
                i += 2;
            }
            "errorfiles" | "default-errorfiles" => {
                return Err(format!("'{w}' is not supported by dermaga"));
            }
            _ => {
                return Err(format!(
                    "expects 'status', 'content-type', 'hdr', 'string', 'lf-string', 'file' or 'lf-file' but got '{w}'"
                ))
            }
        }
    }
    if !matches!(body, ReturnBody::None) && content_type.is_none() {
        return Err("a 'content-type' must be set with a response payload".to_string());
    }
    Ok(HttpRequestAction::Return {
        status,
        content_type,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_forms() {
        assert_eq!(split_host_port(":80"), Some(("", "80")));
        assert_eq!(split_host_port("*:80"), Some(("*", "80")));
        assert_eq!(split_host_port(":::80"), Some(("::", "80")));
        assert_eq!(split_host_port("[::1]:80"), Some(("::1", "80")));
        assert_eq!(split_host_port("10.0.0.1"), None);
    }

    #[test]
    fn server_addresses() {
        let (a, off) =
            resolve_server_addr(&super::super::lexer::ProcessEnv, "127.0.0.1:8080").unwrap();
        assert_eq!((a.to_string().as_str(), off), ("127.0.0.1:8080", None));
        let (a, off) = resolve_server_addr(&super::super::lexer::ProcessEnv, "127.0.0.1").unwrap();
        assert_eq!((a.port(), off), (0, Some(0)));
        let (_, off) =
            resolve_server_addr(&super::super::lexer::ProcessEnv, "127.0.0.1:+1000").unwrap();
        assert_eq!(off, Some(1000));
        let (a, _) = resolve_server_addr(&super::super::lexer::ProcessEnv, "[::1]:80").unwrap();
        assert!(a.is_ipv6());
        let (a, _) = resolve_server_addr(&super::super::lexer::ProcessEnv, "::1").unwrap();
        assert!(a.is_ipv6());
        let (a, _) = resolve_server_addr(&super::super::lexer::ProcessEnv, "localhost:80").unwrap();
        assert!(a.ip().is_loopback());
        assert!(resolve_server_addr(&super::super::lexer::ProcessEnv, "127.0.0.1:70000").is_err());
        assert!(resolve_server_addr(&super::super::lexer::ProcessEnv, "/run/x.sock").is_err());
    }

    #[test]
    fn redirects() {
        let w = |s: &str| s.split(' ').map(str::to_string).collect::<Vec<_>>();
        let r = parse_redirect(&w("scheme https code 301")).unwrap();
        assert_eq!((r.kind, r.code), (RedirectKind::Scheme, 301));
        let r = parse_redirect(&w("prefix /new drop-query append-slash")).unwrap();
        assert!(r.drop_query && r.append_slash);
        assert!(parse_redirect(&w("code 301")).is_err());
        assert!(parse_redirect(&w("location /x code 305"))
            .unwrap_err()
            .contains("305"));
    }
}
