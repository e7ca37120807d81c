//! TCP mode: `tcp-request content` rules (with `inspect-delay` for the TLS SNI), the choice of
//! backend and server, then bytes forwarded both ways with splice(2).

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;

use super::tls_sni::{self, Hello};
use super::{connect_server, turnaround, Buf, Conn};
use crate::config::Balance;
use crate::log::{LogRecord, Retries, Tm};
use crate::rules::{self, TcpSample};
use crate::selection::{hash, Key};
use crate::state::Frontend;
use crate::worker::Worker;

type ServerList = Arc<Vec<Arc<crate::state::Server>>>;

fn needs_content(fe: &crate::config::Proxy) -> bool {
    let uses = |c: &Option<crate::acl::Condition>| {
        c.as_ref()
            .is_some_and(|c| c.fetches().any(|f| f.needs_content()))
    };
    fe.tcp_request_content.iter().any(|r| uses(&r.cond))
        || fe.use_backends.iter().any(|u| uses(&u.cond))
}

pub async fn run(
    w: &Rc<Worker>,
    fe: &Arc<Frontend>,
    mut cli: Conn,
    peer: SocketAddr,
    local: SocketAddr,
) {
    let t0 = Instant::now();
    let accept = Tm::now();
    let model = &fe.model;
    let mut buf = Buf::empty();
    // Content inspection: read until the rules can decide or inspect-delay expires.
    let mut sni: Option<Vec<u8>> = None;
    let mut hello_type = None;
    if needs_content(model) {
        if let Some(delay) = model.settings.inspect_delay {
            buf.data = w.take_buf();
            let deadline = tokio::time::Instant::now() + delay;
            loop {
                match tls_sni::parse(buf.pending()) {
                    Hello::Complete(s) => {
                        sni = s.map(|s| s.to_vec());
                        hello_type = Some(1);
                        break;
                    }
                    Hello::NotTls => break,
                    Hello::Incomplete => {}
                }
                if buf.is_full() {
                    break;
                }
                match tokio::time::timeout_at(deadline, buf.read_from(&mut cli)).await {
                    Ok(Ok(0)) | Ok(Err(_)) => return,
                    Ok(Ok(_)) => {}
                    Err(_) => break,
                }
            }
        }
    }
    let sample = TcpSample {
        src: peer,
        dst: local,
        sni: sni.as_deref(),
        hello_type,
        tls: cli.tls_view(),
        shared: &w.shared,
    };
    if rules::tcp_content_rejects(model, &sample) {
        fe.counters.denied_req.fetch_add(1, Relaxed);
        give(w, buf);
        return;
    }
    let shared = w.shared.clone();
    let be_idx = match fe.own_backend {
        Some(i) => Some(i),
        None => rules::select_backend(model, &sample)
            .and_then(|r| shared.backend_of_proxy.get(r.index).copied().flatten()),
    };
    let Some(be_idx) = be_idx else {
        give(w, buf);
        return;
    };
    let backend = shared.backends[be_idx].clone();
    backend.cur_sessions.fetch_add(1, Relaxed);
    backend.counters.sessions_total.fetch_add(1, Relaxed);
    let key = match backend.settings.balance_or_default() {
        Balance::Source => Key::Hash(hash::source(&backend.settings.hash_type, peer.ip())),
        _ => Key::None,
    };
    let t = &backend.settings.timeouts;
    let t_q = Instant::now();
    let queue_timeout = t.queue.or(t.connect).unwrap_or(Duration::from_secs(30));
    let mut chosen = w.assign(be_idx, key, None, queue_timeout).await.ok();
    let t_queue = t_q.elapsed();
    let mut retries_left = backend.settings.retries;
    let mut srv_name = String::from("<NOSRV>");
    let mut redispatched = false;
    let mut retries = Retries::default();
    let t_c = Instant::now();
    let mut result: Option<(Conn, usize, ServerList)> = None;
    while let Some((i, list)) = chosen.take() {
        let server = list[i].clone();
        srv_name = server.name.clone();
        match connect_server(
            &server,
            server.target(local.port()),
            t.connect,
            (peer, local),
        )
        .await
        {
            Ok(s) => {
                result = Some((s, i, list));
                break;
            }
            Err(e) => {
                server.counters.conn_errors.fetch_add(1, Relaxed);
                crate::check::observe_error(&shared, &backend, &server);
                backend.counters.conn_errors.fetch_add(1, Relaxed);
                if retries_left == 0 {
                    backend.release(&list, i);
                    break;
                }
                retries_left -= 1;
                retries.count += 1;
                backend.counters.retries.fetch_add(1, Relaxed);
                let same_server = if retries_left == 0
                    && backend.settings.redispatch.is_some()
                    && !redispatched
                {
                    redispatched = true;
                    backend.release(&list, i);
                    chosen = w.assign(be_idx, key, Some(i), queue_timeout).await.ok();
                    let other = chosen.as_ref().is_some_and(|(j, l)| l[*j].id != server.id);
                    retries.redispatched = other;
                    chosen.is_some() && !other
                } else {
                    chosen = Some((i, list));
                    true
                };
                if same_server {
                    // haproxy's turn-around before the same server again.
                    if let Some(pause) = turnaround(t.connect, &e) {
                        tokio::time::sleep(pause).await;
                    }
                }
            }
        }
    }
    let t_connect = t_c.elapsed();
    let Some((mut srv, sidx, list)) = result else {
        backend.cur_sessions.fetch_sub(1, Relaxed);
        log_tcp(
            w,
            fe,
            &backend.name,
            &srv_name,
            peer,
            accept,
            t_queue,
            None,
            t0,
            0,
            retries,
            *b"SC",
        );
        give(w, buf);
        return;
    };
    let server = list[sidx].clone();
    let mut up = 0u64;
    if !buf.is_empty() {
        up += buf.len() as u64;
        if srv.send(buf.pending()).await.is_err() {
            backend.release(&list, sidx);
            backend.cur_sessions.fetch_sub(1, Relaxed);
            give(w, buf);
            return;
        }
    }
    give(w, buf);
    let ft = &model.settings.timeouts;
    let idle = match (ft.client, t.server) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    let limits = super::tunnel::Limits {
        idle,
        client_fin: ft.client_fin,
        server_fin: t.server_fin,
    };
    let (a, b) = match (cli.is_plain(), srv.is_plain(), cli.tcp(), srv.tcp()) {
        (true, true, Some(c), Some(s)) => super::splice::splice_both(c, s, limits).await,
        _ => super::tunnel::tunnel(&mut cli, &mut srv, limits).await,
    };
    let _ = cli.shutdown().await;
    up += a;
    fe.counters.bytes_in.fetch_add(up, Relaxed);
    fe.counters.bytes_out.fetch_add(b, Relaxed);
    server.counters.bytes_in.fetch_add(up, Relaxed);
    server.counters.bytes_out.fetch_add(b, Relaxed);
    backend.counters.bytes_in.fetch_add(up, Relaxed);
    backend.counters.bytes_out.fetch_add(b, Relaxed);
    backend.release(&list, sidx);
    backend.cur_sessions.fetch_sub(1, Relaxed);
    if model.settings.logs.dontlognull && up == 0 {
        return;
    }
    log_tcp(
        w,
        fe,
        &backend.name,
        &server.name,
        peer,
        accept,
        t_queue,
        Some(t_connect),
        t0,
        b,
        retries,
        *b"--",
    );
}

fn give(w: &Worker, buf: Buf) {
    if buf.is_allocated() {
        w.give_buf(buf.data);
    }
}

#[allow(clippy::too_many_arguments)]
fn log_tcp(
    w: &Worker,
    fe: &Frontend,
    be: &str,
    srv: &str,
    peer: SocketAddr,
    accept: Tm,
    t_queue: Duration,
    t_connect: Option<Duration>,
    t0: Instant,
    bytes: u64,
    retries: Retries,
    term: [u8; 2],
) {
    let logs = &fe.model.settings.logs;
    if logs.targets.is_empty() {
        return;
    }
    let shared = &w.shared;
    let rec = LogRecord {
        client: Some(peer),
        accept: Some(accept),
        frontend: &fe.name,
        backend: be,
        server: srv,
        t_queue: t_queue.as_millis() as i64,
        t_connect: t_connect.map(|d| d.as_millis() as i64).unwrap_or(-1),
        t_total: t0.elapsed().as_millis() as i64,
        bytes,
        term,
        actconn: shared.cur_conns.load(Relaxed),
        feconn: fe.cur_conns.load(Relaxed),
        retries,
        ..Default::default()
    };
    // Without a format (tcplog, httplog or log-format), haproxy logs only the "Connect from"
    // line at accept.
    if !(logs.tcplog || logs.httplog || logs.format.is_some()) {
        return;
    }
    let mut line = String::new();
    match &logs.format {
        Some(f) => crate::log::custom(f, &rec, &mut line),
        None => crate::log::tcplog(&rec, &mut line),
    }
    shared.logger.emit(&logs.targets, 6, &line);
}
