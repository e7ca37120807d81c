//! Health checks (TCP connect, `option httpchk` with `http-check send/expect`, `tcp-check`)
//! with haproxy's rise/fall hysteresis, and the state-change messages haproxy writes.
//!
//! Checks run on the control thread, one task per checked server. A result moves the server's
//! health counter; crossing `rise` or reaching 0 changes the server's state, bumps the backend's
//! generation (so worker threads rebuild their balancers) and is logged.

use std::io;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use crate::session::Conn;

use crate::config::{CheckMatch, HealthCheck, HttpCheck, TcpCheckRule};
use crate::proxy::AdminState;
use crate::state::{Backend, CheckReport, OperState, Server, Shared};

/// Starts a check task for every server that has `check` (on the current LocalSet).
pub fn start_all(shared: &Arc<Shared>) {
    for b in &shared.backends {
        for s in b.servers().iter() {
            if s.check {
                tokio::task::spawn_local(check_loop(shared.clone(), b.clone(), s.clone()));
            }
        }
    }
}

/// The outcome of one check.
pub struct Outcome {
    pub ok: bool,
    pub report: CheckReport,
}

fn fail(status: &'static str, info: impl Into<String>) -> Outcome {
    Outcome {
        ok: false,
        report: CheckReport {
            status,
            info: info.into(),
            ..Default::default()
        },
    }
}

fn pass(status: &'static str) -> Outcome {
    Outcome {
        ok: true,
        report: CheckReport {
            status,
            ..Default::default()
        },
    }
}

async fn check_loop(shared: Arc<Shared>, b: Arc<Backend>, s: Arc<Server>) {
    let inter = s.opts.inter.max(Duration::from_millis(10));
    // Spread the first checks a little, as haproxy does.
    tokio::time::sleep(Duration::from_millis(
        (s.id as u64 * 7) % inter.as_millis().max(1) as u64,
    ))
    .await;
    loop {
        if s.removed.load(Relaxed) || shared.stopping.load(Relaxed) {
            return;
        }
        let start = Instant::now();
        let mut out = run_check(&shared, &b, &s, inter).await;
        out.report.duration_ms = start.elapsed().as_millis() as u64;
        apply(&shared, &b, &s, out);
        let rise_fall_max = s.opts.rise + s.opts.fall - 1;
        let h = s.health.load(Relaxed);
        let next = if h == 0 {
            s.opts.downinter.unwrap_or(inter)
        } else if h < rise_fall_max {
            s.opts.fastinter.unwrap_or(inter)
        } else {
            inter
        };
        tokio::time::sleep(next).await;
    }
}

/// Runs one check of server `s`.
pub async fn run_check(shared: &Shared, b: &Backend, s: &Server, inter: Duration) -> Outcome {
    let t = &b.settings.timeouts;
    let conn_to = t.connect.map(|c| c.min(inter)).unwrap_or(inter);
    let read_to = t.check.unwrap_or(inter);
    let addr = s.check_target();
    let tls = s.opts.check_tls.as_ref();
    // As haproxy: checks begin with the server's PROXY header unless `port` or `addr` send
    // them elsewhere.
    let proxy = s
        .opts
        .send_proxy
        .filter(|_| s.opts.check_port.is_none() && s.opts.check_addr.is_none());
    match &b.settings.health_check {
        HealthCheck::TcpConnect => match connect(addr, conn_to, tls, proxy).await {
            Ok(c) if c.is_plain() => pass("L4OK"),
            Ok(_) => pass("L6OK"),
            Err(o) => o,
        },
        HealthCheck::Http(h) => {
            let c = match connect(addr, conn_to, tls, proxy).await {
                Ok(c) => c,
                Err(o) => return o,
            };
            // HTTP/2 servers (`check-proto h2`, `proto h2`, or ALPN) get the same request
            // as a stream, through the gateway servers' traffic uses.
            let g = &shared.config.global;
            let bufsize = g.bufsize.max(1024);
            let mut c = match tokio::time::timeout(
                conn_to,
                crate::h2::upstream::for_check(c, s, &g.h2, bufsize),
            )
            .await
            {
                Ok(Ok(c)) => c,
                Ok(Err(e)) => return fail("L6RSP", format!("HTTP/2 handshake failure ({e})")),
                Err(_) => return fail("L6TOUT", ""),
            };
            http_check(&mut c, h, read_to).await
        }
        HealthCheck::Tcp(rules) => tcp_check(addr, rules, conn_to, read_to, tls, proxy).await,
    }
}

/// Connects for a check, with a TLS handshake when the server's checks use TLS (a failed
/// handshake is a layer 6 failure, as haproxy reports it).
async fn connect(
    addr: std::net::SocketAddr,
    to: Duration,
    tls: Option<&crate::config::ServerTls>,
    proxy: Option<crate::config::ProxyVersion>,
) -> Result<Conn, Outcome> {
    let deadline = tokio::time::Instant::now() + to;
    let mut tcp = match tokio::time::timeout_at(deadline, TcpStream::connect(addr)).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return Err(fail("L4CON", conn_error_text(&e))),
        Err(_) => return Err(fail("L4TOUT", "")),
    };
    if let Some(v) = proxy {
        // The check's own connection is what the header names.
        let local = tcp.local_addr().unwrap_or(addr);
        let h = crate::proxy_protocol::header(v, local, addr);
        if let Err(e) = tokio::io::AsyncWriteExt::write_all(&mut tcp, &h).await {
            return Err(fail("L4CON", conn_error_text(&e)));
        }
    }
    let Some(tls) = tls else {
        return Ok(Conn::Plain(tcp));
    };
    match tokio::time::timeout_at(deadline, crate::tls::connect(tls, tcp, addr)).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(fail("L6RSP", format!("SSL handshake failure ({e})"))),
        Err(_) => Err(fail("L6TOUT", "")),
    }
}

fn conn_error_text(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => "Connection refused".into(),
        io::ErrorKind::ConnectionReset => "Connection reset by peer".into(),
        _ => {
            let s = e.to_string();
            s.split(" (os error").next().unwrap_or(&s).to_string()
        }
    }
}

async fn read_all(
    c: &mut Conn,
    to: Duration,
    until: impl Fn(&[u8]) -> bool,
) -> Result<Vec<u8>, Outcome> {
    let mut buf = Vec::with_capacity(1024);
    let deadline = tokio::time::Instant::now() + to;
    let mut tmp = [0u8; 4096];
    loop {
        if until(&buf) || buf.len() > 16384 {
            return Ok(buf);
        }
        match tokio::time::timeout_at(deadline, c.read(&mut tmp)).await {
            Ok(Ok(0)) => return Ok(buf),
            Ok(Ok(n)) => buf.extend_from_slice(&tmp[..n]),
            Ok(Err(e)) => {
                if buf.is_empty() {
                    return Err(fail("L4CON", conn_error_text(&e)));
                }
                return Ok(buf);
            }
            Err(_) => {
                if buf.is_empty() {
                    return Err(fail("L7TOUT", ""));
                }
                return Ok(buf);
            }
        }
    }
}

async fn http_check(c: &mut Conn, h: &HttpCheck, to: Duration) -> Outcome {
    let mut req = format!("{} {} {}\r\n", h.method, h.uri, h.version);
    for (n, v) in &h.headers {
        req.push_str(n);
        req.push_str(": ");
        req.push_str(v);
        req.push_str("\r\n");
    }
    if let Some(body) = &h.body {
        req.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    if let Some(body) = &h.body {
        req.push_str(body);
    }
    if c.send(req.as_bytes()).await.is_err() {
        return fail("L4CON", "Connection reset by peer");
    }
    let needs_body = h
        .expect
        .iter()
        .any(|e| matches!(e.matcher, CheckMatch::String(_) | CheckMatch::Rstring(_)));
    let data = match read_all(c, to, |b| complete_response(b, needs_body)).await {
        Ok(d) => d,
        Err(o) => return o,
    };
    let mut raw = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut raw);
    let head_len = match resp.parse(&data) {
        Ok(httparse::Status::Complete(n)) => n,
        _ => {
            return fail(
                "L7RSP",
                if data.is_empty() {
                    "Empty response"
                } else {
                    "Invalid response"
                },
            )
        }
    };
    let code = resp.code.unwrap_or(0);
    let reason = resp.reason.unwrap_or("").to_string();
    let body = &data[head_len..];
    let mut out = if h.expect.is_empty() {
        if (200..400).contains(&code) {
            pass("L7OK")
        } else {
            fail("L7STS", reason.clone())
        }
    } else {
        let mut result = pass("L7OK");
        for e in &h.expect {
            let text = format!("{code}");
            let m = match &e.matcher {
                CheckMatch::Status(ranges) => ranges.iter().any(|(a, b)| (*a..=*b).contains(&code)),
                CheckMatch::Rstatus(r) => r.is_match(text.as_bytes()),
                CheckMatch::String(s) => memchr::memmem::find(body, s).is_some(),
                CheckMatch::Rstring(r) => r.is_match(body),
                CheckMatch::Binary(b) => memchr::memmem::find(body, b).is_some(),
            };
            if m == e.negate {
                let status = match e.matcher {
                    CheckMatch::Status(_) | CheckMatch::Rstatus(_) => "L7STS",
                    _ => "L7RSP",
                };
                result = fail(status, reason.clone());
                break;
            }
        }
        result
    };
    out.report.code = Some(code);
    if out.ok {
        out.report.info = reason;
    }
    out
}

fn complete_response(b: &[u8], needs_body: bool) -> bool {
    let Some(p) = memchr::memmem::find(b, b"\r\n\r\n") else {
        return false;
    };
    if !needs_body {
        return true;
    }
    let head = &b[..p];
    let cl = head
        .split(|&c| c == b'\n')
        .find(|l| l.len() > 15 && l[..15].eq_ignore_ascii_case(b"content-length:"))
        .and_then(|l| std::str::from_utf8(&l[15..]).ok())
        .and_then(|s| s.trim().parse::<usize>().ok());
    match cl {
        Some(n) => b.len() >= p + 4 + n,
        None => false,
    }
}

async fn tcp_check(
    addr: std::net::SocketAddr,
    rules: &[TcpCheckRule],
    conn_to: Duration,
    to: Duration,
    tls: Option<&crate::config::ServerTls>,
    proxy: Option<crate::config::ProxyVersion>,
) -> Outcome {
    let mut conn: Option<Conn> = None;
    let mut received: Vec<u8> = Vec::new();
    let first_is_connect = matches!(rules.first(), Some(TcpCheckRule::Connect { .. }));
    if !first_is_connect {
        match connect(addr, conn_to, tls, proxy).await {
            Ok(c) => conn = Some(c),
            Err(o) => return o,
        }
    }
    for r in rules {
        match r {
            TcpCheckRule::Connect { port, addr: a, .. } => {
                let mut target = addr;
                if let Some(p) = port {
                    target.set_port(*p);
                }
                if let Some(ip) = a {
                    target.set_ip(*ip);
                }
                let same = port.is_none() && a.is_none();
                match connect(target, conn_to, tls, proxy.filter(|_| same)).await {
                    Ok(c) => conn = Some(c),
                    Err(o) => return o,
                }
                received.clear();
            }
            TcpCheckRule::Send { data, .. } => {
                let Some(c) = conn.as_mut() else {
                    return fail("L4CON", "");
                };
                if c.send(data).await.is_err() {
                    return fail("L4CON", "Connection reset by peer");
                }
            }
            TcpCheckRule::Expect {
                negate, matcher, ..
            } => {
                let Some(c) = conn.as_mut() else {
                    return fail("L4CON", "");
                };
                let matches = |b: &[u8]| match matcher {
                    CheckMatch::String(s) | CheckMatch::Binary(s) => {
                        memchr::memmem::find(b, s).is_some()
                    }
                    CheckMatch::Rstring(r) => r.is_match(b),
                    _ => false,
                };
                let deadline = tokio::time::Instant::now() + to;
                let mut tmp = [0u8; 4096];
                while !matches(&received) {
                    match tokio::time::timeout_at(deadline, c.read(&mut tmp)).await {
                        Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
                        Ok(Ok(n)) => received.extend_from_slice(&tmp[..n]),
                    }
                    if received.len() > 16384 {
                        break;
                    }
                }
                let m = matches(&received);
                if m == *negate {
                    return fail("L7RSP", "TCPCHK did not match content");
                }
            }
        }
    }
    pass(
        if rules
            .iter()
            .any(|r| matches!(r, TcpCheckRule::Expect { .. }))
        {
            "L7OK"
        } else {
            "L4OK"
        },
    )
}

/// Moves the health counter as haproxy does and changes the state when a threshold is crossed.
pub fn apply(shared: &Shared, b: &Arc<Backend>, s: &Server, out: Outcome) {
    let rise = s.opts.rise.max(1);
    let max = rise + s.opts.fall.max(1) - 1;
    let mut h = s.health.load(Relaxed);
    let was_up = h >= rise;
    if out.ok {
        if h < max {
            h += 1;
            if h >= rise {
                h = max;
            }
        }
    } else if h > 0 {
        s.check_fails.fetch_add(1, Relaxed);
        h -= 1;
        if h < rise {
            h = 0;
        }
    }
    s.health.store(h, Relaxed);
    let now_up = h >= rise;
    let oper = match (now_up, h) {
        (true, h) if h == max => OperState::Up,
        (true, _) => OperState::Stopping,
        (false, 0) => OperState::Down,
        (false, _) => OperState::Starting,
    };
    s.set_oper(oper);
    let report = out.report;
    if let Ok(mut r) = s.last_check.lock() {
        *r = report.clone();
    }
    if was_up != now_up {
        s.last_change.store(crate::state::now_secs(), Relaxed);
        if !now_up {
            s.down_transitions.fetch_add(1, Relaxed);
            s.up_since_ms.store(0, Relaxed);
        } else if let Some(ss) = s.opts.slowstart {
            s.up_since_ms.store(crate::state::now_ms(), Relaxed);
            ramp(b, ss);
        }
        b.bump();
        log_transition(shared, b, s, now_up, &report);
    }
}

/// During `slowstart`, makes the workers recompute weights a few times a second.
fn ramp(b: &Arc<Backend>, ss: Duration) {
    let steps = (ss.as_millis() / 250).clamp(1, 400) as u32;
    let step = ss / steps;
    let b = b.clone();
    tokio::task::spawn_local(async move {
        for _ in 0..=steps {
            tokio::time::sleep(step).await;
            b.bump();
        }
    });
}

/// Passive health (`observe layer4`): an error on live traffic. After `error-limit`
/// consecutive ones, `on-error` decides: fail-check counts one failed check, sudden-death
/// leaves one check before down, mark-down takes the server down at once, fastinter only
/// makes the next checks come sooner (nothing to do here: checks already run at fastinter
/// while a server is failing).
pub fn observe_error(shared: &Shared, b: &Arc<Backend>, s: &Server) {
    if s.opts.observe.is_none() {
        return;
    }
    let n = s.observed_errors.fetch_add(1, Relaxed) + 1;
    if n < s.opts.error_limit.max(1) {
        return;
    }
    s.observed_errors.store(0, Relaxed);
    let report = CheckReport {
        status: "L4CON",
        info: "observed errors on live traffic".into(),
        ..Default::default()
    };
    let rise = s.opts.rise.max(1);
    match s.opts.on_error {
        crate::config::OnError::FastInter => {}
        crate::config::OnError::FailCheck => apply(shared, b, s, Outcome { ok: false, report }),
        crate::config::OnError::SuddenDeath => {
            // One failure short of down: the next failed check takes it down.
            if s.health.load(Relaxed) > rise + 1 {
                s.health.store(rise + 1, Relaxed);
            }
            apply(shared, b, s, Outcome { ok: false, report });
        }
        crate::config::OnError::MarkDown => {
            if s.health.load(Relaxed) > rise {
                s.health.store(rise, Relaxed);
            }
            apply(shared, b, s, Outcome { ok: false, report });
        }
    }
}

/// Passive health: a success on live traffic resets the error count.
pub fn observe_ok(s: &Server) {
    if s.opts.observe.is_some() && s.observed_errors.load(Relaxed) != 0 {
        s.observed_errors.store(0, Relaxed);
    }
}

fn reason_text(r: &CheckReport) -> String {
    let what = match r.status {
        "L4OK" => "Layer4 check passed".to_string(),
        "L4CON" => "Layer4 connection problem".to_string(),
        "L4TOUT" => "Layer4 timeout".to_string(),
        "L7OK" => "Layer7 check passed".to_string(),
        "L7STS" => "Layer7 wrong status".to_string(),
        "L7RSP" => "Layer7 invalid response".to_string(),
        "L7TOUT" => "Layer7 timeout".to_string(),
        other => other.to_string(),
    };
    let mut s = format!("reason: {what}");
    if let Some(c) = r.code {
        s.push_str(&format!(", code: {c}"));
    }
    if !r.info.is_empty() {
        s.push_str(&format!(", info: \"{}\"", r.info));
    }
    s.push_str(&format!(", check duration: {}ms", r.duration_ms));
    s
}

fn emit(shared: &Shared, b: &Backend, level: u8, msg: &str) {
    let targets = if b.settings.logs.targets.is_empty() {
        &shared.config.global.logs
    } else {
        &b.settings.logs.targets
    };
    shared.logger.emit(targets, level, msg);
    if !crate::log::quiet() {
        let label = if level <= 1 {
            "[ALERT]"
        } else if level <= 4 {
            "[WARNING]"
        } else {
            "[NOTICE]"
        };
        eprintln!("{label:<11}({}) : {msg}", shared.pid);
    }
}

fn log_transition(shared: &Shared, b: &Backend, s: &Server, up: bool, r: &CheckReport) {
    let (act, bck) = b.usable_counts();
    let msg = if up {
        format!(
            "Server {}/{} is UP, {}. {} active and {} backup servers online. 0 sessions requeued, 0 total in queue.",
            b.name,
            s.name,
            reason_text(r),
            act,
            bck
        )
    } else {
        format!(
            "Server {}/{} is DOWN, {}. {} active and {} backup servers left. {} sessions active, 0 requeued, 0 remaining in queue.",
            b.name,
            s.name,
            reason_text(r),
            act,
            bck,
            s.served.load(Relaxed)
        )
    };
    emit(shared, b, if up { 5 } else { 1 }, &msg);
    if !up && act == 0 && bck == 0 {
        emit(
            shared,
            b,
            0,
            &format!("backend {} has no server available!", b.name),
        );
    }
}

/// Logs a change made through the stats socket or the handle.
pub fn log_admin_change(shared: &Shared, b: &Backend, s: &Server, st: AdminState) {
    let (act, bck) = b.usable_counts();
    let msg = match st {
        AdminState::Maint => format!(
            "Server {}/{} is going DOWN for maintenance. {} active and {} backup servers left. {} sessions active, 0 requeued, 0 remaining in queue.",
            b.name,
            s.name,
            act,
            bck,
            s.served.load(Relaxed)
        ),
        AdminState::Drain => format!("Server {}/{} enters drain state.", b.name, s.name),
        AdminState::Ready => format!(
            "Server {}/{} is UP/READY (leaving forced maintenance). {} active and {} backup servers online.",
            b.name, s.name, act, bck
        ),
    };
    emit(shared, b, 5, &msg);
}

/// SIGHUP: one line per server with its state.
pub fn log_all_states(shared: &Shared) {
    for b in &shared.backends {
        for s in b.servers().iter() {
            let msg = format!(
                "SIGHUP: Server {}/{} is {}. Conn: {} act, 0 pend, {} tot. Req: 0 tot.",
                b.name,
                s.name,
                s.status_text(),
                s.served.load(Relaxed),
                s.counters.sessions_total.load(Relaxed)
            );
            emit(shared, b, 5, &msg);
        }
        let (act, bck) = b.usable_counts();
        emit(
            shared,
            b,
            5,
            &format!(
                "SIGHUP: Proxy {} has {} active servers and {} backup servers available.",
                b.name, act, bck
            ),
        );
    }
}
