//! The stats socket (haproxy's runtime CLI): `show info`, `show stat` (CSV), `show servers
//! state`, `show backend`, `set server B/S state|weight`, `enable|disable server`, `get weight`,
//! `set weight`, `help`, `prompt`, `quit`; several commands per line separated by `;`; haproxy
//! 2.6's output formats and error messages.

use std::fmt::Write as _;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::config::{ListenAddr, Mode, StatsLevel};
use crate::proxy::{AdminState, ProxyHandle};
use crate::state::{now_secs, Backend, Server, Shared};

/// haproxy 2.6's `show stat` header (129 columns).
pub const STAT_HEADER: &str = "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie,mode,algo,conn_rate,conn_rate_max,conn_tot,intercepted,dcon,dses,wrew,connect,reuse,cache_lookups,cache_hits,srv_icur,src_ilim,qtime_max,ctime_max,rtime_max,ttime_max,eint,idle_conn_cur,safe_conn_cur,used_conn_cur,need_conn_est,uweight,agg_server_status,agg_server_check_status,agg_check_status,-,ssl_sess,ssl_reused_sess,ssl_failed_handshake,h2_headers_rcvd,h2_data_rcvd,h2_settings_rcvd,h2_rst_stream_rcvd,h2_goaway_rcvd,h2_detected_conn_protocol_errors,h2_detected_strm_protocol_errors,h2_rst_stream_resp,h2_goaway_resp,h2_open_connections,h2_backend_open_streams,h2_total_connections,h2_backend_total_streams,h1_open_connections,h1_open_streams,h1_total_connections,h1_total_streams,h1_bytes_in,h1_bytes_out,h1_spliced_bytes_in,h1_spliced_bytes_out,";

/// A bound stats socket.
pub enum StatsListener {
    Unix(std::os::unix::net::UnixListener, StatsLevel),
    Tcp(std::net::TcpListener, StatsLevel),
}

/// Binds every `stats socket` of the global section.
pub fn bind_all(shared: &Shared) -> io::Result<Vec<StatsListener>> {
    let mut out = Vec::new();
    for s in &shared.config.global.stats_sockets {
        match &s.addr {
            ListenAddr::Unix(p) => {
                let _ = std::fs::remove_file(p);
                let l = std::os::unix::net::UnixListener::bind(p).map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!("{}: cannot bind stats socket {}: {e}", s.loc, p.display()),
                    )
                })?;
                if let Some(m) = s.mode {
                    let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(m));
                }
                l.set_nonblocking(true)?;
                out.push(StatsListener::Unix(l, s.level));
            }
            ListenAddr::Inet { .. } => {
                for a in s.addr.socket_addrs() {
                    let l = std::net::TcpListener::bind(a)?;
                    l.set_nonblocking(true)?;
                    out.push(StatsListener::Tcp(l, s.level));
                }
            }
            ListenAddr::Fd(fd) => {
                use std::os::fd::FromRawFd;
                // SAFETY: dup of an inherited descriptor, owned from here on.
                let d = unsafe { libc::dup(*fd) };
                if d < 0 {
                    return Err(io::Error::last_os_error());
                }
                // SAFETY: `d` is ours.
                let l = unsafe { std::os::unix::net::UnixListener::from_raw_fd(d) };
                l.set_nonblocking(true)?;
                out.push(StatsListener::Unix(l, s.level));
            }
        }
    }
    Ok(out)
}

/// Serves every stats socket on the current LocalSet.
pub fn serve_all(h: ProxyHandle, listeners: Vec<StatsListener>) {
    for l in listeners {
        let h = h.clone();
        match l {
            StatsListener::Unix(l, level) => {
                tokio::task::spawn_local(async move {
                    let Ok(l) = tokio::net::UnixListener::from_std(l) else {
                        return;
                    };
                    while let Ok((s, _)) = l.accept().await {
                        let h = h.clone();
                        tokio::task::spawn_local(async move {
                            let (r, w) = s.into_split();
                            session(h, BufReader::new(r), w, level).await;
                        });
                    }
                });
            }
            StatsListener::Tcp(l, level) => {
                tokio::task::spawn_local(async move {
                    let Ok(l) = tokio::net::TcpListener::from_std(l) else {
                        return;
                    };
                    while let Ok((s, _)) = l.accept().await {
                        let h = h.clone();
                        tokio::task::spawn_local(async move {
                            let (r, w) = s.into_split();
                            session(h, BufReader::new(r), w, level).await;
                        });
                    }
                });
            }
        }
    }
}

async fn session<R, W>(h: ProxyHandle, mut r: BufReader<R>, mut w: W, level: StatsLevel)
where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    let timeout = h.shared().config.global.stats_timeout;
    let timeout = if timeout.is_zero() {
        std::time::Duration::from_secs(10)
    } else {
        timeout
    };
    let mut interactive = false;
    let mut line = String::new();
    loop {
        line.clear();
        match tokio::time::timeout(timeout, r.read_line(&mut line)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return,
            Ok(Ok(_)) => {}
        }
        let text = line.trim_end_matches(['\n', '\r']);
        let mut out = String::new();
        let mut quit = false;
        for cmd in split_commands(text) {
            let words: Vec<&str> = cmd.split_whitespace().collect();
            if words.is_empty() {
                continue;
            }
            match words.as_slice() {
                ["quit"] => {
                    quit = true;
                    break;
                }
                ["prompt"] => {
                    interactive = !interactive;
                    continue;
                }
                _ => {}
            }
            execute(&h, &words, level, &mut out);
        }
        if interactive && !quit {
            out.push_str("> ");
        }
        if w.write_all(out.as_bytes()).await.is_err() {
            return;
        }
        if quit || !interactive {
            let _ = w.shutdown().await;
            return;
        }
    }
}

/// Splits a line on unescaped `;`.
fn split_commands(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            ';' => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

const HELP: &[(&str, &str)] = &[
    (
        "disable server (DEPRECATED)",
        "disable a server for maintenance (use 'set server' instead)",
    ),
    (
        "enable server  (DEPRECATED)",
        "enable a disabled server (use 'set server' instead)",
    ),
    ("get weight <bk>/<srv>", "report a server's current weight"),
    (
        "set server <bk>/<srv> [opts]",
        "change a server's state, weight, address or ssl",
    ),
    (
        "set weight <bk>/<srv>  (DEPRECATED)",
        "change a server's weight (use 'set server' instead)",
    ),
    (
        "show backend",
        "list backends in the current running config",
    ),
    (
        "show info [desc|json|typed|float]*",
        "report information about the running process",
    ),
    (
        "show servers state [<backend>]",
        "dump volatile server information (all or for a single backend)",
    ),
    (
        "show stat [desc|json|no-maint|typed|up]*",
        "report counters for each proxy and server",
    ),
    ("help [<command>]", "list matching or all commands"),
    ("prompt", "toggle interactive mode with prompt"),
    ("quit", "disconnect"),
];

fn help_line(out: &mut String, (cmd, desc): (&str, &str)) {
    let _ = writeln!(out, "  {cmd:<40}: {desc}");
}

fn help(out: &mut String) {
    out.push_str("The following commands are valid at this level:\n");
    for h in HELP {
        help_line(out, *h);
    }
    out.push('\n');
}

fn unknown(words: &[&str], out: &mut String) {
    out.push_str("Unknown command, but maybe one of the following ones is a better match:\n");
    // The help lines sharing the most words with what was typed, as haproxy suggests.
    let mut scored: Vec<(usize, &(&str, &str))> = HELP
        .iter()
        .map(|h| {
            (
                words
                    .iter()
                    .filter(|w| h.0.split_whitespace().any(|k| k == **w))
                    .count(),
                h,
            )
        })
        .filter(|(n, _)| *n > 0)
        .collect();
    scored.sort_by_key(|s| std::cmp::Reverse(s.0));
    if scored.is_empty() {
        for h in HELP.iter().rev().take(3) {
            help_line(out, *h);
        }
    } else {
        for (_, h) in scored.iter().take(5) {
            help_line(out, **h);
        }
    }
    out.push('\n');
}

fn denied(out: &mut String) {
    out.push_str("Permission denied\n\n");
}

fn execute(h: &ProxyHandle, w: &[&str], level: StatsLevel, out: &mut String) {
    let shared = h.shared().clone();
    match w {
        ["help", ..] => help(out),
        ["show", "info", ..] => show_info(&shared, out),
        ["show", "stat", ..] => show_stat(&shared, out),
        ["show", "backend"] => {
            out.push_str("# name\n");
            for b in &shared.backends {
                let _ = writeln!(out, "{}", b.name);
            }
            out.push('\n');
        }
        ["show", "servers", "state"] => show_servers_state(&shared, None, out),
        ["show", "servers", "state", be] => show_servers_state(&shared, Some(be), out),
        ["set", "server" | "weight", ..] if level < StatsLevel::Admin => denied(out),
        ["set", "server"] => out.push_str("Require 'backend/server'.\n\n"),
        ["set", "server", bs] => {
            if bs.contains('/') {
                out.push_str("usage: set server <backend>/<server> addr | agent | agent-addr | agent-port | agent-send | check-addr | check-port | fqdn | health | ssl | state | weight\n\n");
            } else {
                out.push_str("Require 'backend/server'.\n\n");
            }
        }
        ["set", "server", bs, what, args @ ..] => set_server(h, bs, what, args, out),
        ["set", "weight", bs, v] => match split_bs(bs) {
            Some((b, s)) => weight(h, &shared, b, s, v, out),
            None => out.push_str("Require 'backend/server'.\n\n"),
        },
        ["get", "weight", bs] => match split_bs(bs).and_then(|(b, s)| find(&shared, b, s).ok()) {
            Some((_, s)) => {
                let _ = writeln!(
                    out,
                    "{} (initial {})\n",
                    s.uweight.load(Relaxed),
                    s.opts.weight
                );
            }
            None => out.push_str("No such server.\n\n"),
        },
        ["enable", "server", bs] | ["disable", "server", bs] => {
            if level < StatsLevel::Admin {
                return denied(out);
            }
            let Some((b, s)) = split_bs(bs) else {
                out.push_str("Require 'backend/server'.\n\n");
                return;
            };
            let st = if w[0] == "enable" {
                AdminState::Ready
            } else {
                AdminState::Maint
            };
            match find(&shared, b, s) {
                Ok(_) => {
                    let _ = h.set_server_state(b, s, st);
                    out.push('\n');
                }
                Err(e) => {
                    out.push_str(e);
                    out.push_str("\n\n");
                }
            }
        }
        _ => unknown(w, out),
    }
}

fn split_bs(bs: &str) -> Option<(&str, &str)> {
    bs.split_once('/')
}

fn find<'a>(
    shared: &'a Shared,
    b: &str,
    s: &str,
) -> Result<(&'a Arc<Backend>, Arc<Server>), &'static str> {
    let be = shared.backend(b).ok_or("No such backend.")?;
    let sv = be.server(s).ok_or("No such server.")?;
    Ok((be, sv))
}

fn weight(h: &ProxyHandle, shared: &Shared, b: &str, s: &str, v: &str, out: &mut String) {
    let (_, srv) = match find(shared, b, s) {
        Ok(x) => x,
        Err(e) => {
            out.push_str(e);
            out.push_str("\n\n");
            return;
        }
    };
    let n = if let Some(p) = v.strip_suffix('%') {
        p.parse::<u32>().ok().map(|p| srv.opts.weight * p / 100)
    } else {
        v.parse::<u32>().ok()
    };
    match n {
        Some(n) if n <= 256 => {
            let _ = h.set_server_weight(b, s, n);
            out.push('\n');
        }
        Some(_) => out.push_str("Absolute weight can only be between 0 and 256 inclusive.\n\n"),
        None => out.push_str("Require <weight> or <weight%>.\n\n"),
    }
}

fn set_server(h: &ProxyHandle, bs: &str, what: &str, args: &[&str], out: &mut String) {
    let shared = h.shared().clone();
    let Some((b, s)) = split_bs(bs) else {
        out.push_str("Require 'backend/server'.\n\n");
        return;
    };
    if let Err(e) = find(&shared, b, s) {
        out.push_str(e);
        out.push_str("\n\n");
        return;
    }
    match (what, args) {
        ("state", [st]) => {
            let st = match *st {
                "ready" => AdminState::Ready,
                "drain" => AdminState::Drain,
                "maint" => AdminState::Maint,
                _ => {
                    out.push_str("'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n\n");
                    return;
                }
            };
            let _ = h.set_server_state(b, s, st);
            out.push('\n');
        }
        ("state", _) => out.push_str("'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n\n"),
        ("weight", [v]) => weight(h, &shared, b, s, v, out),
        ("weight", _) => out.push_str("Require <weight> or <weight%>.\n\n"),
        _ => out.push_str("usage: set server <backend>/<server> addr | agent | agent-addr | agent-port | agent-send | check-addr | check-port | fqdn | health | ssl | state | weight\n\n"),
    }
}

fn show_info(shared: &Shared, out: &mut String) {
    let up = shared.uptime().as_secs();
    let (d, hh, mm, ss) = (up / 86400, (up % 86400) / 3600, (up % 3600) / 60, up % 60);
    let lines: Vec<(&str, String)> = vec![
        ("Name", "HAProxy".into()),
        (
            "Version",
            concat!("dermaga-", env!("CARGO_PKG_VERSION")).into(),
        ),
        ("Release_date", "2026/11/26".into()),
        ("Nbthread", shared.nbthread.to_string()),
        ("Nbproc", "1".into()),
        ("Process_num", "1".into()),
        ("Pid", shared.pid.to_string()),
        ("Uptime", format!("{d}d {hh}h{mm:02}m{ss:02}s")),
        ("Uptime_sec", up.to_string()),
        ("Memmax_MB", "0".into()),
        ("PoolAlloc_MB", "0".into()),
        ("PoolUsed_MB", "0".into()),
        ("PoolFailed", "0".into()),
        ("Ulimit-n", ulimit_n().to_string()),
        ("Maxsock", ulimit_n().to_string()),
        ("Maxconn", shared.maxconn.to_string()),
        ("Hard_maxconn", shared.maxconn.to_string()),
        ("CurrConns", shared.cur_conns.load(Relaxed).to_string()),
        ("CumConns", shared.total_conns.load(Relaxed).to_string()),
        ("CumReq", shared.total_requests.load(Relaxed).to_string()),
        ("MaxSslConns", "0".into()),
        ("CurrSslConns", "0".into()),
        ("CumSslConns", "0".into()),
        ("Maxpipes", "0".into()),
        ("PipesUsed", "0".into()),
        ("PipesFree", "0".into()),
        ("ConnRate", "0".into()),
        ("ConnRateLimit", "0".into()),
        ("MaxConnRate", "0".into()),
        ("SessRate", "0".into()),
        ("SessRateLimit", "0".into()),
        ("MaxSessRate", "0".into()),
        ("SslRate", "0".into()),
        ("SslRateLimit", "0".into()),
        ("MaxSslRate", "0".into()),
        ("SslFrontendKeyRate", "0".into()),
        ("SslFrontendMaxKeyRate", "0".into()),
        ("SslFrontendSessionReuse_pct", "0".into()),
        ("SslBackendKeyRate", "0".into()),
        ("SslBackendMaxKeyRate", "0".into()),
        ("SslCacheLookups", "0".into()),
        ("SslCacheMisses", "0".into()),
        ("CompressBpsIn", "0".into()),
        ("CompressBpsOut", "0".into()),
        ("CompressBpsRateLim", "0".into()),
        ("Tasks", "0".into()),
        ("Run_queue", "0".into()),
        ("Idle_pct", "100".into()),
        ("node", node_name()),
        (
            "Stopping",
            (shared.stopping.load(Relaxed) as u8).to_string(),
        ),
        ("Jobs", shared.cur_conns.load(Relaxed).to_string()),
        ("Unstoppable Jobs", "0".into()),
        (
            "Listeners",
            shared
                .frontends
                .iter()
                .map(|f| f.model.binds.iter().map(|b| b.addrs.len()).sum::<usize>())
                .sum::<usize>()
                .to_string(),
        ),
        ("ActivePeers", "0".into()),
        ("ConnectedPeers", "0".into()),
        ("DroppedLogs", "0".into()),
        ("BusyPolling", "0".into()),
        ("FailedResolutions", "0".into()),
        (
            "TotalBytesOut",
            shared
                .frontends
                .iter()
                .map(|f| f.counters.bytes_out.load(Relaxed))
                .sum::<u64>()
                .to_string(),
        ),
        ("TotalSplicdedBytesOut", "0".into()),
        ("BytesOutRate", "0".into()),
        ("DebugCommandsIssued", "0".into()),
        ("CumRecvLogs", "0".into()),
        (
            "Build info",
            concat!("dermaga-", env!("CARGO_PKG_VERSION")).into(),
        ),
        ("Memmax_bytes", "0".into()),
        ("PoolAlloc_bytes", "0".into()),
        ("PoolUsed_bytes", "0".into()),
        ("Start_time_sec", shared.start_secs.to_string()),
        ("Tainted", "0".into()),
    ];
    for (k, v) in lines {
        let _ = writeln!(out, "{k}: {v}");
    }
    out.push('\n');
}

fn ulimit_n() -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: valid pointer to an rlimit.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) };
    r.rlim_cur
}

fn node_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

struct Row {
    cols: Vec<String>,
}

impl Row {
    fn new() -> Row {
        Row {
            cols: vec![String::new(); STAT_HEADER.split(',').count() - 1],
        }
    }
    fn set(&mut self, name: &str, v: impl ToString) {
        if let Some(i) = STAT_HEADER
            .trim_start_matches("# ")
            .split(',')
            .position(|c| c == name)
        {
            if i < self.cols.len() {
                self.cols[i] = v.to_string();
            }
        }
    }
    fn write(&self, out: &mut String) {
        for c in &self.cols {
            out.push_str(c);
            out.push(',');
        }
        out.push('\n');
    }
}

fn mode_name(m: Mode) -> &'static str {
    match m {
        Mode::Http => "http",
        Mode::Tcp => "tcp",
    }
}

fn algo_name(b: &Backend) -> &'static str {
    use crate::config::Balance::*;
    match b.settings.balance_or_default() {
        RoundRobin => "roundrobin",
        StaticRr => "static-rr",
        LeastConn => "leastconn",
        First => "first",
        Source => "source",
        Uri { .. } => "uri",
        UrlParam { .. } => "url_param",
        Hdr { .. } => "hdr",
        Random { .. } => "random",
    }
}

fn counters(r: &mut Row, c: &crate::state::Counters) {
    r.set("stot", c.sessions_total.load(Relaxed));
    r.set("bin", c.bytes_in.load(Relaxed));
    r.set("bout", c.bytes_out.load(Relaxed));
    r.set("smax", c.max_sessions.load(Relaxed));
    for (i, n) in [
        "hrsp_1xx",
        "hrsp_2xx",
        "hrsp_3xx",
        "hrsp_4xx",
        "hrsp_5xx",
        "hrsp_other",
    ]
    .iter()
    .enumerate()
    {
        r.set(n, c.hrsp[i].load(Relaxed));
    }
}

pub(crate) fn show_stat(shared: &Shared, out: &mut String) {
    out.push_str(STAT_HEADER);
    out.push('\n');
    let pid = 1;
    let now = now_secs();
    for p in &shared.config.proxies {
        if let Some(fe) = shared
            .frontends
            .iter()
            .find(|f| f.name == p.name && f.model.loc == p.loc)
        {
            let mut r = Row::new();
            r.set("pxname", &fe.name);
            r.set("svname", "FRONTEND");
            r.set("scur", fe.cur_conns.load(Relaxed));
            r.set("slim", fe.maxconn);
            counters(&mut r, &fe.counters);
            r.set("dreq", fe.counters.denied_req.load(Relaxed));
            r.set("dresp", 0);
            r.set("ereq", fe.counters.req_errors.load(Relaxed));
            r.set(
                "status",
                if shared.stopping.load(Relaxed) {
                    "STOP"
                } else {
                    "OPEN"
                },
            );
            r.set("pid", pid);
            r.set("iid", fe.id);
            r.set("sid", 0);
            r.set("type", 0);
            r.set("rate", 0);
            r.set("rate_lim", 0);
            r.set("rate_max", 0);
            if fe.model.settings.mode == Mode::Http {
                r.set("req_rate", 0);
                r.set("req_rate_max", 0);
                r.set("req_tot", fe.counters.http_requests.load(Relaxed));
            }
            r.set("mode", mode_name(fe.model.settings.mode));
            r.set("conn_rate", 0);
            r.set("conn_rate_max", 0);
            r.set("conn_tot", fe.counters.sessions_total.load(Relaxed));
            r.write(out);
        }
        let Some(b) = shared
            .backends
            .iter()
            .find(|b| b.name == p.name && b.model.loc == p.loc)
        else {
            continue;
        };
        let servers = b.servers();
        for s in servers.iter() {
            let mut r = Row::new();
            r.set("pxname", &b.name);
            r.set("svname", &s.name);
            r.set("qcur", s.queued.load(Relaxed));
            r.set("qmax", 0);
            r.set("scur", s.served.load(Relaxed));
            if s.opts.maxconn > 0 {
                r.set("slim", s.opts.maxconn);
            }
            counters(&mut r, &s.counters);
            r.set("dresp", 0);
            r.set("econ", s.counters.conn_errors.load(Relaxed));
            r.set("eresp", s.counters.resp_errors.load(Relaxed));
            r.set("wretr", s.counters.retries.load(Relaxed));
            r.set("wredis", s.counters.redispatches.load(Relaxed));
            r.set("status", s.status_text());
            r.set("weight", s.uweight.load(Relaxed));
            r.set("act", (!s.opts.backup) as u8);
            r.set("bck", s.opts.backup as u8);
            if s.check {
                r.set("chkfail", s.check_fails.load(Relaxed));
                r.set("chkdown", s.down_transitions.load(Relaxed));
                r.set("downtime", 0);
                if let Ok(c) = s.last_check.lock() {
                    if !c.status.is_empty() {
                        r.set("check_status", c.status);
                        if let Some(code) = c.code {
                            r.set("check_code", code);
                        }
                        r.set("check_duration", c.duration_ms);
                    }
                }
                r.set("check_rise", s.opts.rise);
                r.set("check_fall", s.opts.fall);
                r.set("check_health", s.health.load(Relaxed));
            }
            r.set("lastchg", now.saturating_sub(s.last_change.load(Relaxed)));
            if s.opts.maxqueue > 0 {
                r.set("qlimit", s.opts.maxqueue);
            }
            r.set("pid", pid);
            r.set("iid", b.id);
            r.set("sid", s.id);
            r.set("lbtot", s.counters.sessions_total.load(Relaxed));
            r.set("type", 2);
            r.set("rate", 0);
            r.set("rate_max", 0);
            r.set("cli_abrt", 0);
            r.set("srv_abrt", 0);
            let last = s.counters.last_session.load(Relaxed);
            r.set(
                "lastsess",
                if last == 0 {
                    -1
                } else {
                    now.saturating_sub(last) as i64
                },
            );
            r.set("qtime", 0);
            r.set("ctime", 0);
            r.set("rtime", 0);
            r.set("ttime", 0);
            r.set("addr", s.addr);
            if let Some(c) = &s.opts.cookie {
                r.set("cookie", c);
            }
            r.set("mode", mode_name(b.settings.mode));
            r.set("uweight", s.uweight.load(Relaxed));
            r.write(out);
        }
        let mut r = Row::new();
        r.set("pxname", &b.name);
        r.set("svname", "BACKEND");
        r.set("qcur", b.queued.load(Relaxed));
        r.set("qmax", 0);
        r.set("scur", b.cur_sessions.load(Relaxed));
        counters(&mut r, &b.counters);
        r.set("dreq", b.counters.denied_req.load(Relaxed));
        r.set("dresp", 0);
        r.set("econ", b.counters.conn_errors.load(Relaxed));
        r.set("eresp", b.counters.resp_errors.load(Relaxed));
        r.set("wretr", b.counters.retries.load(Relaxed));
        r.set("wredis", b.counters.redispatches.load(Relaxed));
        let (act, bck) = b.usable_counts();
        // haproxy calls a backend without any server UP (its stats page's own, for one).
        let up = act + bck > 0 || servers.is_empty();
        r.set("status", if up { "UP" } else { "DOWN" });
        let wsum: u32 = servers
            .iter()
            .filter(|s| s.usable() && (!s.opts.backup || act == 0))
            .map(|s| s.uweight.load(Relaxed))
            .sum();
        r.set("weight", wsum);
        r.set("act", act);
        r.set("bck", bck);
        r.set(
            "chkdown",
            servers
                .iter()
                .map(|s| s.down_transitions.load(Relaxed))
                .sum::<u64>(),
        );
        r.set("lastchg", now.saturating_sub(b.last_change.load(Relaxed)));
        r.set("downtime", 0);
        r.set("pid", pid);
        r.set("iid", b.id);
        r.set("sid", 0);
        r.set("lbtot", b.counters.sessions_total.load(Relaxed));
        r.set("type", 1);
        r.set("rate", 0);
        r.set("rate_max", 0);
        if b.settings.mode == Mode::Http {
            r.set("req_tot", b.counters.http_requests.load(Relaxed));
        }
        r.set("cli_abrt", 0);
        r.set("srv_abrt", 0);
        r.set("mode", mode_name(b.settings.mode));
        r.set("algo", algo_name(b));
        r.set("uweight", wsum);
        r.write(out);
    }
    out.push('\n');
}

fn show_servers_state(shared: &Shared, only: Option<&str>, out: &mut String) {
    if let Some(name) = only {
        if shared.backend(name).is_none() {
            out.push_str("Can't find backend.\n\n");
            return;
        }
    }
    out.push_str("1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n");
    let now = now_secs();
    for b in &shared.backends {
        if only.is_some_and(|n| n != b.name) {
            continue;
        }
        for s in b.servers().iter() {
            let op = if s.is_up() { 2 } else { 0 };
            let admin = (if s.in_maint() { 1 } else { 0 }) | (if s.draining() { 8 } else { 0 });
            // srv_check_status: haproxy's HCHK_STATUS_* number; result: 0 unknown, 1 failed, 2 passed.
            let (cst, cres) = if !s.check {
                (1, 0)
            } else {
                match s.last_check.lock().map(|c| c.status).unwrap_or("") {
                    "L4OK" => (15, 2),
                    "L7OK" => (20, 2),
                    "L4CON" => (12, 1),
                    "L4TOUT" => (11, 1),
                    "L7STS" => (19, 1),
                    "L7RSP" => (17, 1),
                    "L7TOUT" => (16, 1),
                    _ => (0, 0),
                }
            };
            let chk_state = if s.check { 6 } else { 0 };
            let check_port = s.opts.check_port.unwrap_or(0);
            let _ = writeln!(
                out,
                "{} {} {} {} {} {} {} {} {} {} {} {} {} {} 0 0 0 - {} - 0 {} - - 0",
                b.id,
                b.name,
                s.id,
                s.name,
                s.addr.ip(),
                op,
                admin,
                s.uweight.load(Relaxed),
                s.opts.weight,
                now.saturating_sub(s.last_change.load(Relaxed)),
                cst,
                cres,
                s.health.load(Relaxed),
                chk_state,
                s.addr.port(),
                check_port
            );
        }
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_has_haproxy_columns() {
        assert_eq!(STAT_HEADER.split(',').count(), 129);
        assert!(STAT_HEADER.starts_with("# pxname,svname,qcur"));
    }

    #[test]
    fn commands_split_on_semicolons() {
        assert_eq!(
            split_commands("show info;show stat"),
            vec!["show info", "show stat"]
        );
        assert_eq!(split_commands(r"a\;b;c"), vec!["a;b", "c"]);
    }
}
