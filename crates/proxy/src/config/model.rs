//! The configuration model: what a set of haproxy.cfg files means once parsed.
//!
//! This is the contract between the configuration parser and the proxy's data path. Everything
//! in it is already validated and resolved:
//!
//! - time values are [`Duration`]s (haproxy's default unit, milliseconds, applied);
//! - sizes are bytes;
//! - server addresses are [`SocketAddr`]s (host names resolved once, at load);
//! - `fd@${NAME}` bind addresses carry the file descriptor number read from the environment;
//! - `defaults` sections have been applied: each [`Proxy`] carries its effective settings, so
//!   the data path never looks at [`Defaults`] (they are kept for diagnostics only);
//! - ACL names in conditions point at the ACL itself ([`crate::acl::Condition`] is
//!   self-contained and evaluates against a [`crate::acl::SampleSource`]);
//! - `errorfile` contents are loaded;
//! - every item carries the [`Location`] (file, line) of the line that declared it, so the
//!   data path can name it in its own messages (e.g. "server be/s1 declared at a.cfg:12").
//!
//! What dermaga does not implement never reaches this model: the parser reports it as an error
//! (or, for the few documented harmless keywords, as a warning) and leaves it out.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::acl::{Condition, Fetch, IpNet};

/// Where a configuration item comes from: a file and a 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Location {
    /// The file name as given on the command line (or found in a `-f DIR`), as haproxy prints it.
    pub file: Arc<str>,
    /// 1-based line number.
    pub line: u32,
}

impl Location {
    /// A location, for tests and for items built by code rather than read from a file.
    pub fn new(file: &str, line: u32) -> Location {
        Location {
            file: Arc::from(file),
            line,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// A whole configuration: the `global` section and every proxy, in file order.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// The `global` section (all `global` sections merged, later lines winning).
    pub global: Global,
    /// Every `defaults` section, in file order. Informational: their settings are already
    /// applied to the proxies that inherit from them.
    pub defaults: Vec<Defaults>,
    /// Every `frontend`, `backend` and `listen` section, in file order. Names are unique among
    /// proxies with a frontend capability and among proxies with a backend capability (a
    /// frontend and a backend may share a name, as in haproxy).
    pub proxies: Vec<Proxy>,
    /// Every `userlist` section, in file order (names unique).
    pub userlists: Vec<Userlist>,
}

/// A `userlist` section: accounts for `http_auth` and `http_auth_group`.
#[derive(Debug, Clone)]
pub struct Userlist {
    pub name: String,
    pub loc: Location,
    pub users: Vec<User>,
}

/// One `user` line, its groups merged with those of the `group ... users` lines.
#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub password: Password,
    pub groups: Vec<String>,
}

/// How a user's password is given. Its `Debug` shows which kind, never the secret.
#[derive(Clone, PartialEq, Eq)]
pub enum Password {
    /// `password HASH`: a crypt(3) hash (`$6$...`, `$5$...`, `$y$...`, ...).
    Hashed(String),
    /// `insecure-password TEXT`.
    Plain(String),
    /// Neither: no password can match.
    None,
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Password::Hashed(_) => "Hashed(..)",
            Password::Plain(_) => "Plain(..)",
            Password::None => "None",
        })
    }
}

impl Config {
    /// The proxies that accept connections (`frontend` and `listen`).
    pub fn frontends(&self) -> impl Iterator<Item = &Proxy> {
        self.proxies.iter().filter(|p| p.kind.is_frontend())
    }

    /// The proxies that have servers (`backend` and `listen`).
    pub fn backends(&self) -> impl Iterator<Item = &Proxy> {
        self.proxies.iter().filter(|p| p.kind.is_backend())
    }

    /// The backend (or listen) section named `name`.
    pub fn backend(&self, name: &str) -> Option<&Proxy> {
        self.backends().find(|p| p.name == name)
    }

    /// The `userlist` section named `name`.
    pub fn userlist(&self, name: &str) -> Option<&Userlist> {
        self.userlists.iter().find(|u| u.name == name)
    }

    /// The frontend (or listen) section named `name`.
    pub fn frontend(&self, name: &str) -> Option<&Proxy> {
        self.frontends().find(|p| p.name == name)
    }
}

// ---------------------------------------------------------------------------------------------
// global
// ---------------------------------------------------------------------------------------------

/// The `global` section.
#[derive(Debug, Clone, Default)]
pub struct Global {
    /// Location of the first `global` line, if any.
    pub loc: Option<Location>,
    /// `maxconn N`: the process-wide connection limit. `None`: not set (haproxy then derives it
    /// from the file-descriptor limit).
    pub maxconn: Option<u32>,
    /// `nbthread N`. `None`: not set, which means one thread per available core.
    pub nbthread: Option<u32>,
    /// `daemon`: fork into the background at start-up (also `-D` on the command line).
    pub daemon: bool,
    /// `zero-warning`: any warning makes the configuration fail (the loader applies it).
    pub zero_warning: bool,
    /// `pidfile PATH` (the command line's `-p` wins over it).
    pub pidfile: Option<PathBuf>,
    /// `log` lines of the global section, used by proxies that say `log global`.
    pub logs: Vec<LogTarget>,
    /// `user NAME` or `uid N`: drop to this user after binding, when started as root.
    pub user: Option<UserSpec>,
    /// `group NAME` or `gid N`.
    pub group: Option<UserSpec>,
    /// `chroot DIR`: chroot after binding, when started as root.
    pub chroot: Option<PathBuf>,
    /// `tune.bufsize N` in bytes (haproxy's default 16384).
    pub bufsize: usize,
    /// `tune.maxrewrite N` in bytes (haproxy's default: half of bufsize, at most 1024).
    pub maxrewrite: usize,
    /// `tune.h2.*`: the HTTP/2 settings dermaga announces, to clients and to servers.
    pub h2: H2Tuning,
    /// `ca-base DIR`: where relative CA file names are looked up (kept for the TLS work).
    pub ca_base: Option<PathBuf>,
    /// `crt-base DIR`: where relative certificate names are looked up (kept for the TLS work).
    pub crt_base: Option<PathBuf>,
    /// `ssl-default-bind-*` / `ssl-default-server-*` keywords, kept verbatim: keyword → the rest
    /// of the line joined by single spaces (e.g. `"ssl-default-bind-options"` →
    /// `"ssl-min-ver TLSv1.2 no-tls-tickets"`). Not used until dermaga terminates TLS.
    pub ssl_defaults: BTreeMap<String, String>,
    /// `stats socket` lines, in order.
    pub stats_sockets: Vec<StatsSocket>,
    /// `stats timeout T`: idle timeout of a stats-socket session (haproxy's default 10s).
    pub stats_timeout: Duration,
    /// `stats maxconn N`: concurrent stats-socket sessions (haproxy's default 10).
    pub stats_maxconn: u32,
}

/// `tune.h2.header-table-size`, `tune.h2.initial-window-size`,
/// `tune.h2.max-concurrent-streams`, `tune.h2.max-frame-size` (haproxy 2.6's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct H2Tuning {
    /// The HPACK dynamic table dermaga keeps for a peer (default 4096, at most 65536).
    pub header_table_size: u32,
    /// The flow-control window each stream starts with (default 65535).
    pub initial_window_size: u32,
    /// Streams a client may have open at once (default 100; 0: no limit).
    pub max_concurrent_streams: u32,
    /// The largest frame dermaga accepts; `None`: haproxy's default, the larger of 16384
    /// and `tune.bufsize`.
    pub max_frame_size: Option<u32>,
}

impl Default for H2Tuning {
    fn default() -> H2Tuning {
        H2Tuning {
            header_table_size: 4096,
            initial_window_size: 65535,
            max_concurrent_streams: 100,
            max_frame_size: None,
        }
    }
}

impl H2Tuning {
    /// The frame size announced: `tune.h2.max-frame-size` (the parser keeps it within
    /// 16384..=16777215, RFC 9113 §6.5.2), never more than the larger of 16384 and the buffer
    /// size, as haproxy.
    pub fn frame_size(&self, bufsize: usize) -> u32 {
        let d = u32::try_from(bufsize).unwrap_or(u32::MAX).max(16384);
        self.max_frame_size.unwrap_or(d).min(d)
    }
}

/// A user or group given by name (`user haproxy`) or number (`uid 100`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserSpec {
    /// A name to look up in the system's user/group database at start-up.
    Name(String),
    /// A numeric id.
    Id(u32),
}

/// `stats socket ADDR [mode M] [level L] [user U] [group G] [expose-fd listeners]`.
#[derive(Debug, Clone)]
pub struct StatsSocket {
    pub loc: Location,
    pub addr: ListenAddr,
    /// `mode OCTAL` for a UNIX socket's file permissions.
    pub mode: Option<u32>,
    /// `uid`/`user` for a UNIX socket's owner.
    pub user: Option<UserSpec>,
    /// `gid`/`group` for a UNIX socket's group.
    pub group: Option<UserSpec>,
    /// `level user|operator|admin` (haproxy's default: operator).
    pub level: StatsLevel,
    /// `expose-fd listeners` (accepted for master-worker reloads; no effect until then).
    pub expose_fd_listeners: bool,
}

/// The privilege level of a stats socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum StatsLevel {
    /// Read-only commands that show no sensitive data.
    User,
    /// Read-only plus a few non-destructive changes (haproxy's default).
    Operator,
    /// Everything.
    Admin,
}

// ---------------------------------------------------------------------------------------------
// logging
// ---------------------------------------------------------------------------------------------

/// One `log` line of a section.
#[derive(Debug, Clone)]
pub struct LogTarget {
    pub loc: Location,
    /// Where log lines go.
    pub addr: LogAddr,
    /// `len N`: the maximum line length (haproxy's default 1024).
    pub max_len: usize,
    /// `format raw|rfc3164|rfc5424|short|...` (haproxy's default rfc3164).
    pub format: LogFormatKind,
    /// The syslog facility (required except for `stdout`/`stderr`/`fd@` with `raw` or `short`).
    pub facility: Option<Facility>,
    /// The maximum level sent (messages above it are dropped). Default: all (`debug`).
    pub max_level: Level,
    /// The minimum level: messages below it are raised to it. Default: `emerg` (no change).
    pub min_level: Level,
}

/// The destination of a `log` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogAddr {
    /// `stdout` (same as `fd@1`).
    Stdout,
    /// `stderr` (same as `fd@2`).
    Stderr,
    /// A UDP syslog server: `HOST:PORT`, `udp@HOST:PORT` (port 514 when not given).
    Udp(SocketAddr),
    /// A UNIX datagram socket such as `/dev/log`.
    Unix(PathBuf),
}

/// The wire format of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormatKind {
    Rfc3164,
    Rfc5424,
    Raw,
    Short,
    Timed,
    Iso,
    Local,
    Priority,
}

/// A syslog facility (`kern` = 0 … `local7` = 23).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facility(pub u8);

impl Facility {
    /// haproxy's facility names, in numeric order.
    pub const NAMES: [&'static str; 24] = [
        "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "auth2",
        "ftp", "ntp", "audit", "alert", "cron2", "local0", "local1", "local2", "local3", "local4",
        "local5", "local6", "local7",
    ];

    /// The facility called `name`.
    pub fn from_name(name: &str) -> Option<Facility> {
        Self::NAMES
            .iter()
            .position(|n| *n == name)
            .map(|i| Facility(i as u8))
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        Self::NAMES[self.0 as usize]
    }
}

/// A syslog level (`emerg` = 0 … `debug` = 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Level(pub u8);

impl Level {
    /// haproxy's level names, in numeric order.
    pub const NAMES: [&'static str; 8] = [
        "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
    ];
    pub const EMERG: Level = Level(0);
    pub const ERR: Level = Level(3);
    pub const NOTICE: Level = Level(5);
    pub const INFO: Level = Level(6);
    pub const DEBUG: Level = Level(7);

    /// The level called `name`.
    pub fn from_name(name: &str) -> Option<Level> {
        Self::NAMES
            .iter()
            .position(|n| *n == name)
            .map(|i| Level(i as u8))
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        Self::NAMES[self.0 as usize]
    }
}

/// The `log` lines that apply to a proxy.
#[derive(Debug, Clone, Default)]
pub struct ProxyLogs {
    /// The targets, with `log global` already replaced by the global section's targets.
    pub targets: Vec<LogTarget>,
    /// `option httplog [clf]`: the HTTP log line format.
    pub httplog: bool,
    /// `option httplog clf`: the CLF variant of the HTTP log line.
    pub httplog_clf: bool,
    /// `option tcplog`: the TCP log line format.
    pub tcplog: bool,
    /// `option dontlognull`: do not log connections that sent no data.
    pub dontlognull: bool,
    /// `option http-ignore-probes`: a connection that sends nothing before its request
    /// timeout is closed without a 408 and without a log line.
    pub ignore_probes: bool,
    /// `log-format`: the line format of each request's (or connection's) log line, in place
    /// of the httplog/tcplog ones.
    pub format: Option<AccessLogFormat>,
}

/// A `log-format` string for access log lines (configuration.txt §8.2.4).
#[derive(Debug, Clone, PartialEq)]
pub struct AccessLogFormat {
    pub items: Vec<LogItem>,
}

/// A piece of an [`AccessLogFormat`].
#[derive(Debug, Clone, PartialEq)]
pub enum LogItem {
    /// Text copied as it is.
    Text(String),
    /// A space: several in a row, or around variables that print nothing, make one.
    Separator,
    /// A variable; `quoted`: the `+Q` flag.
    Var { var: AccessVar, quoted: bool },
}

/// The access-log variables dermaga fills (haproxy's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessVar {
    ClientIp,
    ClientPort,
    FrontendIp,
    FrontendPort,
    ServerIp,
    ServerPort,
    /// `%t`, `%tr`: the accept date.
    Date,
    /// `%Ts`, `%Tl`... : the date as a UNIX timestamp.
    Timestamp,
    /// `%f`.
    Frontend,
    /// `%ft`: the frontend, `~` after it on a TLS listener.
    FrontendTransport,
    /// `%b`.
    Backend,
    /// `%s`.
    Server,
    /// `%TR`, `%Tq`: the request head's time (dermaga counts no handshake or idle time in it).
    TimeRequest,
    /// `%Th`, `%Ti`: handshake and idle times, which dermaga does not split out (0).
    TimeZero,
    /// `%Tw`.
    TimeQueue,
    /// `%Tc`.
    TimeConnect,
    /// `%Tr`.
    TimeResponse,
    /// `%Ta`, `%Tt`.
    TimeTotal,
    /// `%ST`.
    Status,
    /// `%B`.
    Bytes,
    /// `%CC`, `%CS`: captured cookies (dermaga captures none: `-`).
    NoCapture,
    /// `%hr`: the captured request headers (`{a|b}`; nothing without captures).
    CapturedRequest,
    /// `%hs`: the captured response headers.
    CapturedResponse,
    /// `%ts`.
    TermState,
    /// `%tsc`: the termination state and the cookie flags.
    TermStateCookie,
    /// `%ac`.
    ActConn,
    /// `%fc`.
    FeConn,
    /// `%bc`.
    BeConn,
    /// `%sc`.
    SrvConn,
    /// `%rc`.
    Retries,
    /// `%sq`.
    SrvQueue,
    /// `%bq`.
    BeQueue,
    /// `%r`.
    RequestLine,
    /// `%HM`.
    Method,
    /// `%HU`.
    Uri,
    /// `%HP`: the path, without the query.
    Path,
    /// `%HQ`: the query with its `?`.
    Query,
    /// `%HV`.
    Version,
    /// `%H`.
    Hostname,
    /// `%pid`.
    Pid,
}

// ---------------------------------------------------------------------------------------------
// defaults and proxies
// ---------------------------------------------------------------------------------------------

/// A `defaults` section. Its settings are already applied to the proxies that use it.
#[derive(Debug, Clone)]
pub struct Defaults {
    pub loc: Location,
    /// `defaults NAME`; `None` for an anonymous section.
    pub name: Option<String>,
    /// `defaults [NAME] from OTHER`.
    pub from: Option<String>,
    /// The settings it passes on.
    pub settings: ProxySettings,
}

/// What a section is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyKind {
    Frontend,
    Backend,
    /// A frontend and a backend in one section.
    Listen,
}

impl ProxyKind {
    /// Accepts connections (`frontend`, `listen`).
    pub fn is_frontend(self) -> bool {
        matches!(self, ProxyKind::Frontend | ProxyKind::Listen)
    }

    /// Has servers (`backend`, `listen`).
    pub fn is_backend(self) -> bool {
        matches!(self, ProxyKind::Backend | ProxyKind::Listen)
    }

    /// How haproxy names it in messages: `frontend`, `backend`, or `proxy` for a listen.
    pub fn type_str(self) -> &'static str {
        match self {
            ProxyKind::Frontend => "frontend",
            ProxyKind::Backend => "backend",
            ProxyKind::Listen => "proxy",
        }
    }

    /// The section keyword.
    pub fn keyword(self) -> &'static str {
        match self {
            ProxyKind::Frontend => "frontend",
            ProxyKind::Backend => "backend",
            ProxyKind::Listen => "listen",
        }
    }
}

/// `mode http|tcp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Plain TCP forwarding (haproxy's default).
    #[default]
    Tcp,
    /// HTTP/1.1 processing.
    Http,
}

/// A `frontend`, `backend` or `listen` section, with its defaults applied.
#[derive(Debug, Clone)]
pub struct Proxy {
    pub loc: Location,
    pub kind: ProxyKind,
    pub name: String,
    /// The defaults section it inherited from: its name, or `None` for an anonymous one (or none
    /// at all). Informational.
    pub defaults: Option<String>,
    /// Everything that can also be set in `defaults`, after inheritance.
    pub settings: ProxySettings,
    /// `bind` lines (frontends and listens).
    pub binds: Vec<Bind>,
    /// `server` lines (backends and listens), in order; `default-server` already applied.
    pub servers: Vec<Server>,
    /// Named ACLs declared in this section, in order of first declaration (several `acl` lines
    /// with the same name are merged into one [`crate::acl::Acl`], as haproxy ORs them).
    pub acls: Vec<Arc<crate::acl::Acl>>,
    /// `use_backend` rules, in order: the first whose condition holds picks the backend.
    pub use_backends: Vec<UseBackend>,
    /// `default_backend NAME` (frontends and listens).
    pub default_backend: Option<BackendRef>,
    /// `http-request` rules in order (dermaga refuses rules in `defaults` sections).
    pub http_request: Vec<HttpRequestRule>,
    /// `http-response` rules in order.
    pub http_response: Vec<HttpResponseRule>,
    /// `tcp-request connection` rules in order.
    pub tcp_request_connection: Vec<TcpRequestRule>,
    /// `tcp-request content` rules in order.
    pub tcp_request_content: Vec<TcpRequestRule>,
    /// `redirect` rules in order (evaluated after `http-request` rules, as in haproxy).
    pub redirects: Vec<RedirectRule>,
    /// `capture request header NAME len N` lines (frontends and listens), in order.
    pub capture_request: Vec<HeaderCapture>,
    /// `capture response header NAME len N` lines, in order.
    pub capture_response: Vec<HeaderCapture>,
    /// `monitor fail if|unless COND` lines: the monitor URI answers 503 when one holds.
    pub monitor_fail: Vec<Condition>,
    /// `stats admin if|unless COND`: when it holds, the statistics page has the forms that
    /// change servers' states, and takes their POSTs.
    pub stats_admin: Option<Condition>,
}

/// A header whose value goes into the log line (`%hr`/`%hs`, httplog's `{...}` blocks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderCapture {
    pub name: String,
    /// At most this many bytes of the value are kept.
    pub len: usize,
}

/// A `use_backend NAME [if|unless COND]` rule.
#[derive(Debug, Clone)]
pub struct UseBackend {
    pub loc: Location,
    pub backend: BackendRef,
    /// `None`: always.
    pub cond: Option<Condition>,
}

/// A reference to a backend from `use_backend`/`default_backend`: its name, and its index in
/// [`Config::proxies`] (checked to exist and to have a backend capability).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendRef {
    pub name: String,
    pub index: usize,
}

/// Everything a `defaults` section can set and a proxy inherits.
///
/// Values that haproxy leaves unset when neither the proxy nor its defaults set them are
/// `Option`s; the others carry haproxy's default.
#[derive(Debug, Clone)]
pub struct ProxySettings {
    /// `mode http|tcp` (default tcp).
    pub mode: Mode,
    /// `maxconn N` of a frontend. `None`: the global maxconn applies.
    pub maxconn: Option<u32>,
    /// `timeout ...` values.
    pub timeouts: Timeouts,
    /// `balance ...`. `None`: not set, which means [`Balance::RoundRobin`] in dermaga as in
    /// haproxy before 3.3 (haproxy 3.3 and later pick `random` instead).
    pub balance: Option<Balance>,
    /// `hash-type ...` (default map-based).
    pub hash_type: HashType,
    /// `default-server ...` options, the base of every `server` line.
    pub default_server: ServerOptions,
    /// The health check to run on servers that have `check`.
    pub health_check: HealthCheck,
    /// `retries N` (default 3).
    pub retries: u32,
    /// `option redispatch [INTERVAL]`: retry the last attempt on another server. `Some(n)`:
    /// redispatch every n-th retry (haproxy's default interval is -1: the last retry only).
    pub redispatch: Option<i32>,
    /// `retry-on ...` (default: connect-failure).
    pub retry_on: RetryOn,
    /// `option forwardfor ...`.
    pub forwardfor: Option<ForwardFor>,
    /// HTTP connection handling: `option http-keep-alive` (default), `option
    /// http-server-close`, `option httpclose`.
    pub http_conn_mode: HttpConnMode,
    /// `option allbackups`: when every active server is down, use all backups at once instead of
    /// the first one.
    pub allbackups: bool,
    /// `cookie NAME ...` persistence.
    pub cookie: Option<CookiePersistence>,
    /// `errorfile CODE FILE`: status code → the file's bytes (a complete HTTP response).
    pub errorfiles: BTreeMap<u16, ErrorFile>,
    /// `log ...` lines and the log `option`s.
    pub logs: ProxyLogs,
    /// `tcp-request inspect-delay T`.
    pub inspect_delay: Option<Duration>,
    /// `monitor-uri URI`: a request for exactly this target is answered by the proxy itself,
    /// 200 while no `monitor fail` condition holds, 503 otherwise, and not logged.
    pub monitor_uri: Option<String>,
    /// The statistics page (`stats enable`, `stats uri`, ...); `None`: not served.
    pub stats_page: Option<StatsPage>,
}

/// `stats enable|uri|refresh|realm|auth|hide-version|show-*` of a proxy: the statistics page
/// haproxy serves on requests whose target begins with `uri`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsPage {
    /// The target prefix (haproxy's default `/haproxy?stats`).
    pub uri: String,
    /// `stats refresh`: the page asks the browser to reload itself this often.
    pub refresh: Option<Duration>,
    /// `stats realm` (default "HAProxy Statistics").
    pub realm: String,
    /// `stats auth USER:PASS` accounts; empty: no authentication asked.
    pub auth: Vec<String>,
    /// `stats hide-version`.
    pub hide_version: bool,
    /// `stats show-node [NAME]`: the node name shown (`Some("")`: the host name).
    pub show_node: Option<String>,
    /// `stats show-desc [TEXT]`.
    pub show_desc: Option<String>,
    /// `stats show-legends`.
    pub show_legends: bool,
}

impl Default for StatsPage {
    fn default() -> StatsPage {
        StatsPage {
            uri: "/haproxy?stats".to_string(),
            refresh: None,
            realm: "HAProxy Statistics".to_string(),
            auth: Vec::new(),
            hide_version: false,
            show_node: None,
            show_desc: None,
            show_legends: false,
        }
    }
}

impl Default for ProxySettings {
    fn default() -> ProxySettings {
        ProxySettings {
            mode: Mode::Tcp,
            maxconn: None,
            timeouts: Timeouts::default(),
            balance: None,
            hash_type: HashType::default(),
            default_server: ServerOptions::default(),
            health_check: HealthCheck::TcpConnect,
            retries: 3,
            redispatch: None,
            retry_on: RetryOn::default(),
            forwardfor: None,
            http_conn_mode: HttpConnMode::KeepAlive,
            allbackups: false,
            cookie: None,
            errorfiles: BTreeMap::new(),
            logs: ProxyLogs::default(),
            inspect_delay: None,
            monitor_uri: None,
            stats_page: None,
        }
    }
}

impl ProxySettings {
    /// The balance algorithm in force: the configured one, or roundrobin.
    pub fn balance_or_default(&self) -> Balance {
        self.balance.clone().unwrap_or(Balance::RoundRobin)
    }
}

/// `timeout ...` values. `None`: not set, i.e. no timeout (haproxy warns about missing client,
/// connect and server timeouts, and so does dermaga).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Option<Duration>,
    pub client: Option<Duration>,
    pub server: Option<Duration>,
    /// `timeout http-request`: the whole request head must arrive within it (else 408).
    pub http_request: Option<Duration>,
    /// `timeout http-keep-alive`: idle time between two requests on a client connection.
    /// When not set, `http_request` applies, then `client`.
    pub http_keep_alive: Option<Duration>,
    /// `timeout queue`: time a request may wait for a server slot (503 after). When not set,
    /// `connect` applies.
    pub queue: Option<Duration>,
    /// `timeout tunnel`: idle timeout of a tunnel (WebSocket, CONNECT, TCP after upgrade).
    pub tunnel: Option<Duration>,
    /// `timeout check`: extra read timeout of a health check, after the connection succeeded.
    pub check: Option<Duration>,
    /// `timeout client-fin`: inactivity once the client has closed its side.
    pub client_fin: Option<Duration>,
    /// `timeout server-fin`: inactivity once the server has closed its side.
    pub server_fin: Option<Duration>,
    /// `timeout tarpit`: how long `http-request tarpit` holds a request (`connect`'s when
    /// unset).
    pub tarpit: Option<Duration>,
}

/// HTTP connection handling mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpConnMode {
    /// `option http-keep-alive` (haproxy's default): keep both sides alive.
    #[default]
    KeepAlive,
    /// `option http-server-close`: keep the client side alive, close the server side after
    /// each response.
    ServerClose,
    /// `option httpclose`: close both sides after each response.
    Close,
}

/// `option forwardfor [except NET] [header NAME] [if-none]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardFor {
    /// Do not add the header for clients in this network.
    pub except: Option<IpNet>,
    /// The header name (default `X-Forwarded-For`).
    pub header: String,
    /// Only add it when the request has no such header already.
    pub if_none: bool,
}

/// `retry-on` keywords (`none` clears everything; `all-retryable-errors` sets every flag
/// and 500 502 503 504).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryOn {
    /// `conn-failure` (the default): the connection to the server failed.
    pub conn_failure: bool,
    pub empty_response: bool,
    pub junk_response: bool,
    pub response_timeout: bool,
    /// `0rtt-rejected`.
    pub zero_rtt_rejected: bool,
    /// Status codes among 401 403 404 408 425 500 501 502 503 504.
    pub statuses: Vec<u16>,
}

impl Default for RetryOn {
    fn default() -> RetryOn {
        RetryOn {
            conn_failure: true,
            empty_response: false,
            junk_response: false,
            response_timeout: false,
            zero_rtt_rejected: false,
            statuses: Vec::new(),
        }
    }
}

/// `errorfile CODE FILE`.
#[derive(Debug, Clone)]
pub struct ErrorFile {
    pub loc: Location,
    pub path: PathBuf,
    /// The file's content: a complete HTTP/1.x response, sent as it is.
    pub content: Arc<[u8]>,
}

// ---------------------------------------------------------------------------------------------
// load balancing
// ---------------------------------------------------------------------------------------------

/// `balance ALGORITHM [ARGS]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Balance {
    /// Weighted round robin, dynamic weights.
    RoundRobin,
    /// Weighted round robin, static weights.
    StaticRr,
    /// Fewest active connections (round robin among equals).
    LeastConn,
    /// The first server (by id) with a free connection slot.
    First,
    /// Hash of the client's source address.
    Source,
    /// Hash of the URI.
    Uri {
        /// `len N`: only the first N characters.
        len: Option<u32>,
        /// `depth N`: only the first N directories.
        depth: Option<u32>,
        /// `whole`: include the query string.
        whole: bool,
        /// `path-only`: hash the path, not the authority (for absolute URIs).
        path_only: bool,
    },
    /// Hash of a URL parameter's value; roundrobin when it is absent.
    UrlParam {
        param: String,
        /// `check_post`: also look into a POST body's first bytes (not implemented: refused at
        /// parse time).
        check_post: bool,
    },
    /// Hash of a request header's value; roundrobin when it is absent.
    Hdr {
        /// Header name, lower-cased.
        name: String,
        /// `use_domain_only`: hash only the domain part of a Host-like value.
        use_domain_only: bool,
    },
    /// Power of `draws` random choices (`random` alone: draws = 2).
    Random { draws: u32 },
}

/// `hash-type METHOD [FUNCTION] [MODIFIER]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HashType {
    pub method: HashMethod,
    pub function: HashFunction,
    /// `avalanche` modifier.
    pub avalanche: bool,
}

/// How a hash picks a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HashMethod {
    /// `map-based` (default): hash modulo the total weight; servers' changes reshuffle.
    #[default]
    MapBased,
    /// `consistent`: a hash ring; a server's change moves only its share.
    Consistent,
}

/// The hash function of `hash-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HashFunction {
    #[default]
    Sdbm,
    Djb2,
    Wt6,
    Crc32,
    None,
}

// ---------------------------------------------------------------------------------------------
// servers and health checks
// ---------------------------------------------------------------------------------------------

/// A `server NAME ADDRESS [OPTIONS]` line.
#[derive(Debug, Clone)]
pub struct Server {
    pub loc: Location,
    pub name: String,
    /// The address as written (e.g. `app1.internal:8080`), for messages and the stats socket.
    pub addr_text: String,
    /// The resolved address. A port of 0 with [`Server::port_offset`] `None` never happens:
    /// when the line gives no port, `port_offset` is `Some(0)` (use the port the client
    /// connected to).
    pub addr: SocketAddr,
    /// `Some(k)` when the address has no port or a `+N`/`-N` port: the connection goes to the
    /// frontend's destination port plus `k`.
    pub port_offset: Option<i32>,
    /// Options from `default-server` then from this line.
    pub options: ServerOptions,
}

/// Options of `server` and `default-server`. Defaults are haproxy's.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerOptions {
    /// `check` / `no-check`: run health checks.
    pub check: bool,
    /// `inter T` (default 2s): check interval while up.
    pub inter: Duration,
    /// `fastinter T`: interval while going up or down (default: `inter`).
    pub fastinter: Option<Duration>,
    /// `downinter T`: interval while fully down (default: `inter`).
    pub downinter: Option<Duration>,
    /// `rise N` (default 2): consecutive successes to go up.
    pub rise: u32,
    /// `fall N` (default 3): consecutive failures to go down.
    pub fall: u32,
    /// `weight N` (0..=256, default 1).
    pub weight: u32,
    /// `backup`: used only when no active server is up.
    pub backup: bool,
    /// `disabled`: starts in maintenance (`enabled` clears it).
    pub disabled: bool,
    /// `maxconn N`: concurrent connections; more wait in the queue. 0: unlimited.
    pub maxconn: u32,
    /// `maxqueue N`: queue length limit; 0: unlimited.
    pub maxqueue: u32,
    /// `slowstart T`: weight ramps up over this time after the server comes up.
    pub slowstart: Option<Duration>,
    /// `cookie VALUE` for cookie persistence.
    pub cookie: Option<String>,
    /// `port N`: health checks go to this port.
    pub check_port: Option<u16>,
    /// `addr IP`: health checks go to this address.
    pub check_addr: Option<IpAddr>,
    /// `observe layer4|layer7`: passive health from traffic.
    pub observe: Option<Observe>,
    /// `error-limit N` (default 10): consecutive observed errors that trigger `on-error`.
    pub error_limit: u32,
    /// `on-error ...` (default fastinter).
    pub on_error: OnError,
    /// The TLS options of `default-server` then of this line (`ssl`, `verify`, `ca-file`,
    /// `sni`, `check-ssl`, ...), in order, as written; later ones win.
    pub ssl_options: Vec<RawOption>,
    /// With `ssl`: the TLS setup for connections to the server.
    pub tls: Option<ServerTls>,
    /// Health checks over TLS: `check-ssl`, or `ssl` without a separate check `port`/`addr`.
    pub check_tls: Option<ServerTls>,
    /// `proto h1|h2`: the HTTP version spoken to the server whatever TLS's ALPN says.
    /// `None`: HTTP/1.1, or HTTP/2 when `ssl ... alpn` offers `h2` and the server picks it.
    pub proto: Option<ServerProto>,
    /// `check-proto h1|h2` (`None`: as the traffic, see [`ServerOptions::proto`]).
    pub check_proto: Option<ServerProto>,
    /// `send-proxy` / `send-proxy-v2`: each connection to the server starts with a PROXY
    /// protocol header naming the client (health checks too, unless `port` or `addr` send
    /// them elsewhere, as in haproxy).
    pub send_proxy: Option<ProxyVersion>,
}

/// The version of the PROXY protocol header sent to a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyVersion {
    /// The text header (`send-proxy`).
    V1,
    /// The binary header (`send-proxy-v2`), without TLVs.
    V2,
}

/// The HTTP version a `server` line asks for (`proto`, `check-proto`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerProto {
    H1,
    H2,
}

impl Default for ServerOptions {
    fn default() -> ServerOptions {
        ServerOptions {
            check: false,
            inter: Duration::from_secs(2),
            fastinter: None,
            downinter: None,
            rise: 2,
            fall: 3,
            weight: 1,
            backup: false,
            disabled: false,
            maxconn: 0,
            maxqueue: 0,
            slowstart: None,
            cookie: None,
            check_port: None,
            check_addr: None,
            observe: None,
            error_limit: 10,
            on_error: OnError::FastInter,
            ssl_options: Vec::new(),
            tls: None,
            check_tls: None,
            proto: None,
            check_proto: None,
            send_proxy: None,
        }
    }
}

/// `observe layer4|layer7`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observe {
    Layer4,
    Layer7,
}

/// `on-error fastinter|fail-check|sudden-death|mark-down`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnError {
    #[default]
    FastInter,
    FailCheck,
    SuddenDeath,
    MarkDown,
}

/// The health check of a backend's servers that have `check`.
#[derive(Debug, Clone, Default)]
pub enum HealthCheck {
    /// A TCP connection that succeeds (haproxy's default).
    #[default]
    TcpConnect,
    /// `option httpchk` plus `http-check` rules.
    Http(HttpCheck),
    /// `option tcp-check` plus `tcp-check` rules (no rule: a connect).
    Tcp(Vec<TcpCheckRule>),
}

/// `option httpchk [METH] [URI] [VER [HOST]]` plus `http-check send` / `expect`.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpCheck {
    pub loc: Location,
    /// Request method (default `OPTIONS`).
    pub method: String,
    /// Request URI (default `/`).
    pub uri: String,
    /// HTTP version (default `HTTP/1.0`).
    pub version: String,
    /// Headers sent: from the old `option httpchk GET / "HTTP/1.1\r\nHost: x"` form or from
    /// `http-check send hdr NAME VALUE`, in order.
    pub headers: Vec<(String, String)>,
    /// `http-check send body STRING`.
    pub body: Option<String>,
    /// `http-check expect` rules; empty: any 2xx or 3xx status passes.
    pub expect: Vec<HttpCheckExpect>,
}

/// `http-check expect [!] status|rstatus|string|rstring PATTERN`.
#[derive(Debug, Clone)]
pub struct HttpCheckExpect {
    pub loc: Location,
    /// `!`: the check passes when the pattern does NOT match.
    pub negate: bool,
    pub matcher: CheckMatch,
}

impl PartialEq for HttpCheckExpect {
    fn eq(&self, other: &Self) -> bool {
        self.negate == other.negate && self.matcher == other.matcher
    }
}

/// What a check's response is matched against.
#[derive(Debug, Clone)]
pub enum CheckMatch {
    /// `status 200` or `status 200-399,404`: the status code is in one of the ranges.
    Status(Vec<(u16, u16)>),
    /// `rstatus REGEX`: on the status code's three digits.
    Rstatus(Regex),
    /// `string TEXT`: the body contains TEXT (tcp-check: the data received).
    String(Vec<u8>),
    /// `rstring REGEX`.
    Rstring(Regex),
    /// `binary HEX` (tcp-check only).
    Binary(Vec<u8>),
}

impl PartialEq for CheckMatch {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (CheckMatch::Status(a), CheckMatch::Status(b)) => a == b,
            (CheckMatch::Rstatus(a), CheckMatch::Rstatus(b)) => a.as_str() == b.as_str(),
            (CheckMatch::String(a), CheckMatch::String(b)) => a == b,
            (CheckMatch::Rstring(a), CheckMatch::Rstring(b)) => a.as_str() == b.as_str(),
            (CheckMatch::Binary(a), CheckMatch::Binary(b)) => a == b,
            _ => false,
        }
    }
}

/// A compiled regular expression (bytes flavour) with its source text.
pub type Regex = regex::bytes::Regex;

/// A `tcp-check` rule.
#[derive(Debug, Clone, PartialEq)]
pub enum TcpCheckRule {
    /// `tcp-check connect [port N] [addr IP]`: (re)connect.
    Connect {
        loc: Location,
        port: Option<u16>,
        addr: Option<IpAddr>,
    },
    /// `tcp-check send STRING` / `send-binary HEX`: the bytes to send.
    Send { loc: Location, data: Vec<u8> },
    /// `tcp-check expect [!] string|rstring|binary PATTERN`.
    Expect {
        loc: Location,
        negate: bool,
        matcher: CheckMatch,
    },
}

// ---------------------------------------------------------------------------------------------
// binds
// ---------------------------------------------------------------------------------------------

/// A `bind ADDR[,ADDR...] [OPTIONS]` line.
#[derive(Debug, Clone)]
pub struct Bind {
    pub loc: Location,
    /// The address list as written (`:443`, `127.0.0.1:80,[::1]:80`), for messages.
    pub text: String,
    /// The addresses, each to be bound (a port range gives one listener per port).
    pub addrs: Vec<ListenAddr>,
    /// `name NAME`.
    pub name: Option<String>,
    /// `maxconn N` on this listener.
    pub maxconn: Option<u32>,
    /// `v4v6` (`Some(false)`): an IPv6 wildcard also accepts IPv4. `v6only` (`Some(true)`):
    /// it does not. `None`: the system's default (dual stack on Linux unless the
    /// `net.ipv6.bindv6only` sysctl says otherwise).
    pub v6only: Option<bool>,
    /// `transparent` (IP_TRANSPARENT).
    pub transparent: bool,
    /// `backlog N`.
    pub backlog: Option<u32>,
    /// `defer-accept`.
    pub defer_accept: bool,
    /// `interface NAME` (SO_BINDTODEVICE).
    pub interface: Option<String>,
    /// `proto h2`: every connection speaks HTTP/2, whatever ALPN says or the first bytes are.
    pub h2_only: bool,
    /// `accept-proxy`: each connection starts with a PROXY protocol header (v1 or v2), whose
    /// addresses stand for the connection's everywhere but in `tcp-request connection` rules.
    pub accept_proxy: bool,
    /// The TLS options of the line (`ssl`, `crt FILE`, `alpn LIST`, `verify ...`), in order,
    /// as written.
    pub ssl_options: Vec<RawOption>,
    /// With `ssl`: the TLS setup built from [`Bind::ssl_options`] and the global
    /// `ssl-default-bind-*` keywords, certificates loaded.
    pub tls: Option<BindTls>,
    /// Options dermaga recognises but does not implement yet (`npn`, ...),
    /// kept with their arguments for the work that will. The parser reports each of them as
    /// an error today, so a configuration that loads without errors has none.
    pub pending: Vec<RawOption>,
}

/// The TLS side of a `bind ... ssl` line, ready to accept handshakes.
#[derive(Clone)]
pub struct BindTls {
    /// The rustls configuration: certificates by SNI, versions, ciphers, client
    /// verification, ALPN.
    pub config: Arc<rustls::ServerConfig>,
    /// The certificate files loaded (for messages and the stats socket).
    pub files: Vec<PathBuf>,
}

impl fmt::Debug for BindTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BindTls")
            .field("files", &self.files)
            .finish()
    }
}

/// The TLS side of a `server ... ssl` line, ready to connect.
#[derive(Clone)]
pub struct ServerTls {
    /// The rustls configuration: versions, ciphers, verification, ALPN, client certificate.
    pub config: Arc<rustls::ClientConfig>,
    /// The name sent as SNI and verified (`sni str(NAME)`); else the server's address is
    /// used for the handshake and only the chain is verified, as haproxy does.
    pub sni: Option<rustls::pki_types::ServerName<'static>>,
}

impl fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerTls").field("sni", &self.sni).finish()
    }
}

impl PartialEq for ServerTls {
    fn eq(&self, other: &ServerTls) -> bool {
        Arc::ptr_eq(&self.config, &other.config) && self.sni == other.sni
    }
}

/// An option kept verbatim: its keyword and arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawOption {
    pub keyword: String,
    pub args: Vec<String>,
}

/// A listening address of `bind` or `stats socket`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    /// An IP address and an inclusive port range (`:80` → 0.0.0.0 port 80..=80;
    /// `:::80` or `[::]:80` → the IPv6 wildcard; `10.0.0.1:8000-8010`).
    Inet { ip: IpAddr, ports: (u16, u16) },
    /// A UNIX stream socket path (`/run/x.sock`, `unix@/run/x.sock`).
    Unix(PathBuf),
    /// An inherited, already listening socket: `fd@N` or `fd@${NAME}` (the variable resolved).
    Fd(i32),
}

impl ListenAddr {
    /// The socket addresses of an `Inet` address, one per port.
    pub fn socket_addrs(&self) -> Vec<SocketAddr> {
        match self {
            ListenAddr::Inet { ip, ports } => (ports.0..=ports.1)
                .map(|p| SocketAddr::new(*ip, p))
                .collect(),
            _ => Vec::new(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// rules
// ---------------------------------------------------------------------------------------------

/// A string with haproxy log-format substitutions (`%[fetch]`, `%ci`, ...), as used by
/// `http-request set-header` values, `redirect location` and the like.
#[derive(Debug, Clone, PartialEq)]
pub struct FormatString {
    /// The text as written, for messages.
    pub text: String,
    pub parts: Vec<FormatPart>,
}

impl FormatString {
    /// A format string without substitutions.
    pub fn literal(s: &str) -> FormatString {
        FormatString {
            text: s.to_string(),
            parts: vec![FormatPart::Literal(s.as_bytes().to_vec())],
        }
    }

    /// `Some(bytes)` when it contains no substitution.
    pub fn as_literal(&self) -> Option<&[u8]> {
        match self.parts.as_slice() {
            [] => Some(b""),
            [FormatPart::Literal(l)] => Some(l),
            _ => None,
        }
    }
}

/// A piece of a [`FormatString`].
#[derive(Debug, Clone, PartialEq)]
pub enum FormatPart {
    /// Bytes copied as they are.
    Literal(Vec<u8>),
    /// `%[fetch]`: the fetched sample, rendered as text (nothing when absent).
    Sample(Fetch),
    /// `%ci` and friends.
    Var(LogVar),
}

/// The log-format variables dermaga substitutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogVar {
    /// `%ci`: client IP.
    ClientIp,
    /// `%cp`: client port.
    ClientPort,
    /// `%fi`: frontend (local) IP.
    FrontendIp,
    /// `%fp`: frontend (local) port.
    FrontendPort,
    /// `%H`: host name of the machine.
    Hostname,
    /// `%pid`: process id.
    Pid,
    /// `%Ts`: request date as a UNIX timestamp.
    Timestamp,
    /// `%r`: the request line.
    RequestLine,
    /// `%ID`: the unique id (empty: dermaga has no `unique-id-format`).
    UniqueId,
    /// `%f`: frontend name.
    FrontendName,
    /// `%b`: backend name.
    BackendName,
}

/// `http-request ACTION ... [if|unless COND]`.
#[derive(Debug, Clone)]
pub struct HttpRequestRule {
    pub loc: Location,
    pub action: HttpRequestAction,
    /// `None`: always.
    pub cond: Option<Condition>,
}

/// The `http-request` actions dermaga implements.
#[derive(Debug, Clone)]
pub enum HttpRequestAction {
    /// `set-header NAME FMT`: replace every `NAME` header with one.
    SetHeader { name: String, value: FormatString },
    /// `add-header NAME FMT`: append one.
    AddHeader { name: String, value: FormatString },
    /// `del-header NAME [-m str|beg|end|sub|reg]`: remove matching headers (default: exact name,
    /// case-insensitive).
    DelHeader {
        name: String,
        matching: HeaderNameMatch,
    },
    /// `replace-header NAME REGEX FMT`: rewrite each comma-separated value of `NAME` matching
    /// `REGEX` (whole value), `\1`..`\9` back-references allowed in the replacement.
    ReplaceHeader {
        name: String,
        regex: Regex,
        replacement: FormatString,
    },
    /// `set-path FMT`: replace the path, keep the query string.
    SetPath(FormatString),
    /// `replace-path REGEX FMT`: rewrite the path (query excluded) when it matches.
    ReplacePath {
        regex: Regex,
        replacement: FormatString,
    },
    /// `redirect ...`.
    Redirect(Redirect),
    /// `deny [deny_status N]`: answer N (default 403) and close.
    Deny { status: u16 },
    /// `tarpit [deny_status N]`: hold the request for `timeout tarpit`, then answer as `deny`
    /// (500 by default).
    Tarpit { status: u16 },
    /// `allow`: stop evaluating `http-request` rules.
    Allow,
    /// `auth [realm REALM]`: answer 401 asking for Basic credentials (the realm defaults to
    /// the proxy's name).
    Auth { realm: Option<String> },
    /// `return [status N] [content-type T] [string S | file F | errorfile F]`.
    Return {
        status: u16,
        content_type: Option<String>,
        /// `hdr NAME FMT` lines, names lower-cased as haproxy writes them.
        headers: Vec<(String, FormatString)>,
        body: ReturnBody,
    },
}

/// The payload of `http-request return`.
#[derive(Debug, Clone, Default)]
pub enum ReturnBody {
    #[default]
    None,
    /// `string TEXT` or `file PATH`: the same bytes every time.
    Bytes(Vec<u8>),
    /// `lf-string FMT` or `lf-file PATH`: rendered for each request.
    Format(FormatString),
}

/// How `del-header` matches names.
#[derive(Debug, Clone)]
pub enum HeaderNameMatch {
    Str,
    Beg,
    End,
    Sub,
    Reg(Regex),
}

/// `http-response ACTION ... [if|unless COND]`.
#[derive(Debug, Clone)]
pub struct HttpResponseRule {
    pub loc: Location,
    pub action: HttpResponseAction,
    pub cond: Option<Condition>,
}

/// The `http-response` actions dermaga implements.
#[derive(Debug, Clone)]
pub enum HttpResponseAction {
    SetHeader {
        name: String,
        value: FormatString,
    },
    AddHeader {
        name: String,
        value: FormatString,
    },
    DelHeader {
        name: String,
        matching: HeaderNameMatch,
    },
}

/// A redirect, from `redirect ...` or `http-request redirect ...`.
#[derive(Debug, Clone, PartialEq)]
pub struct Redirect {
    pub kind: RedirectKind,
    /// The location, prefix or scheme (may contain substitutions).
    pub target: FormatString,
    /// `code N`: 301, 302 (default), 303, 307 or 308.
    pub code: u16,
    /// `drop-query`: remove the query string (prefix form).
    pub drop_query: bool,
    /// `append-slash`: add a `/` to a URL that has none at the end (with drop-query).
    pub append_slash: bool,
    /// `set-cookie NAME[=VALUE]`.
    pub set_cookie: Option<String>,
    /// `clear-cookie NAME[=]`.
    pub clear_cookie: Option<String>,
}

/// The three forms of a redirect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedirectKind {
    /// `location URL`: the Location header is URL.
    Location,
    /// `prefix PFX`: the Location header is PFX followed by the original URI.
    Prefix,
    /// `scheme SCH`: `SCH://` + the Host header + the original URI.
    Scheme,
}

/// A `redirect ... [if|unless COND]` rule.
#[derive(Debug, Clone)]
pub struct RedirectRule {
    pub loc: Location,
    pub redirect: Redirect,
    pub cond: Option<Condition>,
}

/// A `tcp-request connection|content accept|reject [if|unless COND]` rule.
#[derive(Debug, Clone)]
pub struct TcpRequestRule {
    pub loc: Location,
    pub action: TcpAction,
    pub cond: Option<Condition>,
}

/// `accept` or `reject`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpAction {
    Accept,
    Reject,
}

// ---------------------------------------------------------------------------------------------
// cookies
// ---------------------------------------------------------------------------------------------

/// `cookie NAME [insert|prefix|rewrite] [indirect] [nocache] [postonly] [preserve] [httponly]
/// [secure] [domain D]* [maxidle T] [maxlife T] [attr A]*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookiePersistence {
    pub name: String,
    pub mode: CookieMode,
    /// `indirect`: do not send the cookie to the server (insert) / do not re-insert it when the
    /// client already has it.
    pub indirect: bool,
    /// `nocache`: add `Cache-Control: private` when inserting.
    pub nocache: bool,
    /// `postonly`: insert only on POST responses.
    pub postonly: bool,
    /// `preserve`: keep a cookie the server set itself.
    pub preserve: bool,
    pub httponly: bool,
    pub secure: bool,
    /// `domain D` (repeatable).
    pub domains: Vec<String>,
    /// `maxidle T`.
    pub maxidle: Option<Duration>,
    /// `maxlife T`.
    pub maxlife: Option<Duration>,
    /// `attr VALUE` (repeatable): extra attributes added as they are.
    pub attrs: Vec<String>,
}

/// How the persistence cookie is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookieMode {
    /// `insert`: dermaga sets the cookie `NAME=<server cookie>` in responses.
    Insert,
    /// `prefix`: the server's cookie `NAME` is prefixed with `<server cookie>~`.
    Prefix,
    /// `rewrite`: the server sets `NAME`, dermaga rewrites its value.
    Rewrite,
    /// No mode given: dermaga only reads the cookie to pick the server; the server sets it.
    Passive,
}
