//! Logging as haproxy does it: `log` targets (stdout/stderr, UDP syslog, UNIX datagram sockets
//! such as /dev/log) in the raw, rfc3164 or rfc5424 formats, and the default `httplog` and
//! `tcplog` line layouts.
//!
//! Lines are written with one `write(2)`/`send(2)` each, so threads never interleave them and no
//! lock is taken.

use std::fmt::Write as _;
use std::net::UdpSocket;
use std::os::unix::net::UnixDatagram;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::{Config, LogAddr, LogFormatKind, LogTarget};

/// The process-wide log sinks (one socket per UDP family, one for UNIX datagram targets).
pub struct Logger {
    udp4: Option<UdpSocket>,
    udp6: Option<UdpSocket>,
    unix: Option<UnixDatagram>,
    hostname: String,
    pid: u32,
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A broken-down UTC time.
#[derive(Clone, Copy, Debug)]
pub struct Tm {
    pub year: i64,
    pub mon: u32,
    pub day: u32,
    pub hour: u32,
    pub min: u32,
    pub sec: u32,
    pub ms: u32,
    pub us: u32,
}

impl Tm {
    /// 1970-01-01 00:00:00 UTC, what `Tm::from(UNIX_EPOCH)` computes.
    pub const EPOCH: Tm = Tm {
        year: 1970,
        mon: 1,
        day: 1,
        hour: 0,
        min: 0,
        sec: 0,
        ms: 0,
        us: 0,
    };

    pub fn now() -> Tm {
        Tm::from(SystemTime::now())
    }

    pub fn from(t: SystemTime) -> Tm {
        let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = d.as_secs() as i64;
        let days = secs.div_euclid(86400);
        let rem = secs.rem_euclid(86400);
        // Howard Hinnant's civil_from_days.
        let z = days + 719468;
        let era = z.div_euclid(146097);
        let doe = z - era * 146097;
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        let y = yoe + era * 400;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let mon = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = if mon <= 2 { y + 1 } else { y };
        Tm {
            year,
            mon,
            day,
            hour: (rem / 3600) as u32,
            min: ((rem % 3600) / 60) as u32,
            sec: (rem % 60) as u32,
            ms: d.subsec_millis(),
            us: d.subsec_micros(),
        }
    }

    /// `26/Nov/2026:06:30:00.123` (haproxy's `%tr` / accept date).
    pub fn haproxy_date(&self, out: &mut String) {
        let _ = write!(
            out,
            "{:02}/{}/{}:{:02}:{:02}:{:02}.{:03}",
            self.day,
            MONTHS[(self.mon - 1) as usize],
            self.year,
            self.hour,
            self.min,
            self.sec,
            self.ms
        );
    }

    /// `Nov 26 06:30:00` (RFC 3164 timestamp; the day space-padded).
    pub fn rfc3164(&self, out: &mut String) {
        let _ = write!(
            out,
            "{} {:>2} {:02}:{:02}:{:02}",
            MONTHS[(self.mon - 1) as usize],
            self.day,
            self.hour,
            self.min,
            self.sec
        );
    }

    /// `2026-11-26T06:30:00.123456+00:00`.
    pub fn rfc5424(&self, out: &mut String) {
        let _ = write!(
            out,
            "{}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}+00:00",
            self.year, self.mon, self.day, self.hour, self.min, self.sec, self.us
        );
    }
}

impl Logger {
    pub fn new(config: &Config) -> Logger {
        let mut need4 = false;
        let mut need6 = false;
        let mut need_unix = false;
        let all = config.global.logs.iter().chain(
            config
                .proxies
                .iter()
                .flat_map(|p| p.settings.logs.targets.iter()),
        );
        for t in all {
            match &t.addr {
                LogAddr::Udp(a) if a.is_ipv4() => need4 = true,
                LogAddr::Udp(_) => need6 = true,
                LogAddr::Unix(_) => need_unix = true,
                _ => {}
            }
        }
        let udp = |bind: &str| {
            UdpSocket::bind(bind)
                .and_then(|s| s.set_nonblocking(true).map(|_| s))
                .ok()
        };
        Logger {
            udp4: if need4 { udp("0.0.0.0:0") } else { None },
            udp6: if need6 { udp("[::]:0") } else { None },
            unix: if need_unix {
                UnixDatagram::unbound().ok()
            } else {
                None
            },
            hostname: hostname(),
            pid: std::process::id(),
        }
    }

    /// Sends `msg` at syslog `level` to every target.
    pub fn emit(&self, targets: &[LogTarget], level: u8, msg: &str) {
        if targets.is_empty() {
            return;
        }
        let tm = Tm::now();
        let mut line = String::with_capacity(msg.len() + 64);
        for t in targets {
            if level > t.max_level.0 {
                continue;
            }
            let level = level.max(t.min_level.0);
            line.clear();
            let fac = t.facility.map(|f| f.0).unwrap_or(1);
            let pri = fac as u32 * 8 + level as u32;
            match t.format {
                LogFormatKind::Raw => {}
                LogFormatKind::Short => {
                    let _ = write!(line, "<{level}>");
                }
                LogFormatKind::Priority => {
                    let _ = write!(line, "<{pri}>");
                }
                LogFormatKind::Rfc5424 => {
                    let _ = write!(line, "<{pri}>1 ");
                    tm.rfc5424(&mut line);
                    let _ = write!(line, " {} haproxy {} - - ", self.hostname, self.pid);
                }
                LogFormatKind::Timed | LogFormatKind::Iso => {
                    let _ = write!(line, "<{pri}>");
                    tm.rfc5424(&mut line);
                    line.push(' ');
                }
                LogFormatKind::Rfc3164 | LogFormatKind::Local => {
                    let _ = write!(line, "<{pri}>");
                    tm.rfc3164(&mut line);
                    let _ = write!(line, " haproxy[{}]: ", self.pid);
                }
            }
            line.push_str(msg);
            if line.len() > t.max_len {
                let mut cut = t.max_len;
                while !line.is_char_boundary(cut) {
                    cut -= 1;
                }
                line.truncate(cut);
            }
            // haproxy ends every message with a newline, on every kind of target.
            line.push('\n');
            match &t.addr {
                LogAddr::Stdout | LogAddr::Stderr => {
                    let fd = if t.addr == LogAddr::Stdout { 1 } else { 2 };
                    // SAFETY: writing a valid buffer to a file descriptor the process owns.
                    unsafe { libc::write(fd, line.as_ptr() as *const libc::c_void, line.len()) };
                }
                LogAddr::Udp(a) => {
                    let s = if a.is_ipv4() { &self.udp4 } else { &self.udp6 };
                    if let Some(s) = s {
                        let _ = s.send_to(line.as_bytes(), a);
                    }
                }
                LogAddr::Unix(p) => {
                    if let Some(s) = &self.unix {
                        let _ = s.send_to(line.as_bytes(), p);
                    }
                }
            }
        }
    }
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length.
    let r = unsafe { libc::gethostname(buf.as_mut_ptr() as *mut libc::c_char, buf.len()) };
    if r != 0 {
        return "localhost".into();
    }
    let n = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// What one HTTP transaction or TCP session leaves for its log line.
#[derive(Default)]
pub struct LogRecord<'a> {
    pub client: Option<std::net::SocketAddr>,
    pub accept: Option<Tm>,
    pub frontend: &'a str,
    pub backend: &'a str,
    pub server: &'a str,
    /// %TR (request head received), %Tw (queue), %Tc (connect), %Tr (response), %Ta/%Tt.
    pub t_req: i64,
    pub t_queue: i64,
    pub t_connect: i64,
    pub t_resp: i64,
    pub t_total: i64,
    pub status: i32,
    pub bytes: u64,
    /// Termination state, two characters (`--`, `CD`, `SC`, ...).
    pub term: [u8; 2],
    pub actconn: u32,
    pub feconn: u32,
    pub beconn: u32,
    pub srvconn: u32,
    pub retries: Retries,
    pub srv_queue: u32,
    pub be_queue: u32,
    pub request_line: &'a [u8],
    /// The address the client connected to (`%fi:%fp`).
    pub local: Option<std::net::SocketAddr>,
    /// The server's address (`%si:%sp`).
    pub server_addr: Option<std::net::SocketAddr>,
    /// The client came in over TLS (`%ft` ends with `~`).
    pub tls: bool,
    /// `capture request header` values, `{a|b}` (empty without captures): `%hr`.
    pub captured_request: &'a str,
    /// `capture response header` values: `%hs`.
    pub captured_response: &'a str,
}

/// `%rc`: the connection retries a request or connection needed, with haproxy's `+` in front
/// when the last one went to another server (`option redispatch`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Retries {
    pub count: u32,
    pub redispatched: bool,
}

impl std::fmt::Display for Retries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.redispatched {
            f.write_str("+")?;
        }
        write!(f, "{}", self.count)
    }
}

/// A line in a `log-format` format.
pub fn custom(f: &crate::config::model::AccessLogFormat, r: &LogRecord, out: &mut String) {
    use crate::config::model::{AccessVar as V, LogItem};
    // A separator prints one space, and none right after another or at the start.
    let mut pending_space = false;
    let mut value = String::new();
    for item in &f.items {
        let (var, quoted) = match item {
            LogItem::Separator => {
                pending_space = true;
                continue;
            }
            LogItem::Text(t) => {
                if pending_space && !out.is_empty() {
                    out.push(' ');
                }
                pending_space = false;
                out.push_str(t);
                continue;
            }
            LogItem::Var { var, quoted } => (*var, *quoted),
        };
        value.clear();
        let line = r.request_line;
        let mut words = line.split(|&b| b == b' ');
        let (method, uri, version) = (words.next(), words.next(), words.next());
        let lossy = |b: Option<&[u8]>| String::from_utf8_lossy(b.unwrap_or(b"")).into_owned();
        let _ = match var {
            V::ClientIp => write_opt(&mut value, r.client.map(|a| a.ip().to_string())),
            V::ClientPort => write_opt(&mut value, r.client.map(|a| a.port().to_string())),
            V::FrontendIp => write_opt(&mut value, r.local.map(|a| a.ip().to_string())),
            V::FrontendPort => write_opt(&mut value, r.local.map(|a| a.port().to_string())),
            V::ServerIp => write_opt(&mut value, r.server_addr.map(|a| a.ip().to_string())),
            V::ServerPort => write_opt(&mut value, r.server_addr.map(|a| a.port().to_string())),
            V::Date => {
                r.accept.unwrap_or_else(Tm::now).haproxy_date(&mut value);
                Ok(())
            }
            V::Timestamp => {
                let secs = SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0);
                write!(value, "{secs}")
            }
            V::Frontend => write!(value, "{}", r.frontend),
            V::FrontendTransport => {
                write!(value, "{}{}", r.frontend, if r.tls { "~" } else { "" })
            }
            V::Backend => write!(value, "{}", r.backend),
            V::Server => write!(value, "{}", r.server),
            V::TimeRequest => write!(value, "{}", r.t_req),
            V::TimeZero => write!(value, "0"),
            V::TimeQueue => write!(value, "{}", r.t_queue),
            V::TimeConnect => write!(value, "{}", r.t_connect),
            V::TimeResponse => write!(value, "{}", r.t_resp),
            V::TimeTotal => write!(value, "{}", r.t_total),
            V::Status => write!(value, "{}", r.status),
            V::Bytes => write!(value, "{}", r.bytes),
            V::NoCapture => write!(value, "-"),
            V::CapturedRequest => write!(value, "{}", r.captured_request),
            V::CapturedResponse => write!(value, "{}", r.captured_response),
            V::TermState => write!(value, "{}{}", r.term[0] as char, r.term[1] as char),
            V::TermStateCookie => {
                write!(value, "{}{}--", r.term[0] as char, r.term[1] as char)
            }
            V::ActConn => write!(value, "{}", r.actconn),
            V::FeConn => write!(value, "{}", r.feconn),
            V::BeConn => write!(value, "{}", r.beconn),
            V::SrvConn => write!(value, "{}", r.srvconn),
            V::Retries => write!(value, "{}", r.retries),
            V::SrvQueue => write!(value, "{}", r.srv_queue),
            V::BeQueue => write!(value, "{}", r.be_queue),
            V::RequestLine => write!(value, "{}", String::from_utf8_lossy(line)),
            V::Method => write!(value, "{}", lossy(method)),
            V::Uri => write!(value, "{}", lossy(uri)),
            V::Path => {
                let u = uri.unwrap_or(b"");
                let end = u.iter().position(|&b| b == b'?').unwrap_or(u.len());
                write!(value, "{}", lossy(Some(&u[..end])))
            }
            V::Query => {
                let u = uri.unwrap_or(b"");
                let start = u.iter().position(|&b| b == b'?').unwrap_or(u.len());
                write!(value, "{}", lossy(Some(&u[start..])))
            }
            V::Version => write!(value, "{}", lossy(version)),
            V::Hostname => write!(value, "{}", hostname()),
            V::Pid => write!(value, "{}", std::process::id()),
        };
        if value.is_empty() && !quoted {
            // Nothing printed: the separators around it make one space.
            continue;
        }
        if pending_space && !out.is_empty() {
            out.push(' ');
        }
        pending_space = false;
        if quoted {
            out.push('"');
            out.push_str(&value);
            out.push('"');
        } else {
            out.push_str(&value);
        }
    }
}

fn write_opt(out: &mut String, v: Option<String>) -> std::fmt::Result {
    match v {
        Some(v) => write!(out, "{v}"),
        None => write!(out, "-"),
    }
}

fn t(v: i64, out: &mut String) {
    let _ = write!(out, "{v}");
}

/// haproxy's default `option httplog` line.
pub fn httplog(r: &LogRecord, out: &mut String) {
    if let Some(c) = r.client {
        let _ = write!(out, "{}:{} [", c.ip(), c.port());
    } else {
        out.push_str("-:- [");
    }
    r.accept.unwrap_or_else(Tm::now).haproxy_date(out);
    let _ = write!(out, "] {} {}/{} ", r.frontend, r.backend, r.server);
    t(r.t_req, out);
    out.push('/');
    t(r.t_queue, out);
    out.push('/');
    t(r.t_connect, out);
    out.push('/');
    t(r.t_resp, out);
    out.push('/');
    t(r.t_total, out);
    let _ = write!(
        out,
        " {} {} - - {}{}-- {}/{}/{}/{}/{} {}/{}",
        r.status,
        r.bytes,
        r.term[0] as char,
        r.term[1] as char,
        r.actconn,
        r.feconn,
        r.beconn,
        r.srvconn,
        r.retries,
        r.srv_queue,
        r.be_queue
    );
    for captured in [r.captured_request, r.captured_response] {
        if !captured.is_empty() {
            out.push(' ');
            out.push_str(captured);
        }
    }
    out.push_str(" \"");
    out.push_str(&String::from_utf8_lossy(r.request_line));
    out.push('"');
}

/// haproxy's default `option tcplog` line.
pub fn tcplog(r: &LogRecord, out: &mut String) {
    if let Some(c) = r.client {
        let _ = write!(out, "{}:{} [", c.ip(), c.port());
    } else {
        out.push_str("-:- [");
    }
    r.accept.unwrap_or_else(Tm::now).haproxy_date(out);
    let _ = write!(
        out,
        "] {} {}/{} {}/{}/{} {} {}{} {}/{}/{}/{}/{} {}/{}",
        r.frontend,
        r.backend,
        r.server,
        r.t_queue,
        r.t_connect,
        r.t_total,
        r.bytes,
        r.term[0] as char,
        r.term[1] as char,
        r.actconn,
        r.feconn,
        r.beconn,
        r.srvconn,
        r.retries,
        r.srv_queue,
        r.be_queue
    );
}

/// haproxy's default log line when neither httplog nor tcplog is set:
/// `Connect from IP:PORT to IP:PORT (frontend/MODE)`.
pub fn connect_line(
    client: std::net::SocketAddr,
    local: std::net::SocketAddr,
    fe: &str,
    mode: &str,
) -> String {
    format!(
        "Connect from {}:{} to {}:{} ({}/{})",
        client.ip(),
        client.port(),
        local.ip(),
        local.port(),
        fe,
        mode
    )
}

static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// `-q`: no messages on stderr.
pub fn set_quiet(q: bool) {
    QUIET.store(q, std::sync::atomic::Ordering::Relaxed);
}

/// Whether `-q` was given.
pub fn quiet() -> bool {
    QUIET.load(std::sync::atomic::Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        let t = Tm::from(UNIX_EPOCH + std::time::Duration::from_millis(1_795_000_000_123));
        let mut s = String::new();
        t.haproxy_date(&mut s);
        assert_eq!(s, "18/Nov/2026:11:06:40.123");
        let mut s = String::new();
        Tm::from(UNIX_EPOCH).rfc3164(&mut s);
        assert_eq!(s, "Jan  1 00:00:00");
        let (a, b) = (Tm::from(UNIX_EPOCH), Tm::EPOCH);
        assert_eq!(
            (a.year, a.mon, a.day, a.hour, a.min, a.sec, a.ms, a.us),
            (b.year, b.mon, b.day, b.hour, b.min, b.sec, b.ms, b.us)
        );
    }

    #[test]
    fn httplog_layout() {
        let r = LogRecord {
            client: Some("127.0.0.1:4000".parse().unwrap()),
            accept: Some(Tm::from(UNIX_EPOCH)),
            frontend: "fe",
            backend: "be",
            server: "s1",
            t_req: 0,
            t_queue: 0,
            t_connect: 1,
            t_resp: 2,
            t_total: 3,
            status: 200,
            bytes: 120,
            term: *b"--",
            actconn: 1,
            feconn: 1,
            beconn: 0,
            srvconn: 0,
            retries: Retries::default(),
            request_line: b"GET / HTTP/1.1",
            ..Default::default()
        };
        let mut s = String::new();
        httplog(&r, &mut s);
        assert_eq!(
            s,
            "127.0.0.1:4000 [01/Jan/1970:00:00:00.000] fe be/s1 0/0/1/2/3 200 120 - - ---- 1/1/0/0/0 0/0 \"GET / HTTP/1.1\""
        );
    }
}
