//! HTTP/2 to servers (`server ... proto h2`, or `ssl alpn h2,...` when the server picks
//! `h2`): the session still speaks HTTP/1.1, to a [`ServerStream`] that turns each of its
//! writes and reads into one stream of a shared HTTP/2 connection ([`pool`]) as they happen,
//! so that rules, balancing, `maxconn`, retries, logging and statistics stay the HTTP/1
//! session's.
//!
//! Not here: server push (refused in our SETTINGS), CONNECT and websockets to HTTP/2
//! servers (RFC 8441). Request and answer bodies flow at once only when the client is an
//! HTTP/2 stream too (the session lends the stream's writing direction to a body task).

mod pool;
mod stream;

use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use http::uri::Scheme;

pub use pool::Pool;
pub use stream::{ServerStream, ServerWriter};

use crate::config::{H2Tuning, ServerProto};
use crate::session::{connect_server, with_timeout, Conn};
use crate::state::Server;
use crate::worker::Worker;

/// How a server's traffic picks its HTTP version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Version {
    Http1,
    Http2,
    /// HTTP/2 when TLS's ALPN picks `h2`.
    ByAlpn,
}

fn version(proto: Option<ServerProto>, tls: Option<&crate::config::ServerTls>) -> Version {
    match proto {
        Some(ServerProto::H2) => Version::Http2,
        Some(ServerProto::H1) => Version::Http1,
        None if tls.is_some_and(|t| t.config.alpn_protocols.iter().any(|p| p == b"h2")) => {
            Version::ByAlpn
        }
        None => Version::Http1,
    }
}

/// A connection for one request to `server`: a stream on a shared HTTP/2 connection (that
/// the session speaks HTTP/1.1 to), else an HTTP/1 connection, idle or new. The flag
/// says an idle HTTP/1 connection was reused (it may have been closed meanwhile).
pub async fn open(
    w: &Rc<Worker>,
    be: usize,
    server: &Server,
    addr: SocketAddr,
    timeout: Option<Duration>,
    may_reuse: bool,
    client: (SocketAddr, SocketAddr),
) -> io::Result<(Conn, bool)> {
    let v = version(server.opts.proto, server.opts.tls.as_ref());
    let tuning = &w.shared.config.global.h2;
    let limit = match tuning.max_concurrent_streams {
        0 => usize::MAX,
        n => n as usize,
    };
    let key = (be, server.id, addr);
    if v != Version::Http1 {
        // Room on an open connection, or on the one being opened (bounded: each round
        // waits for a connection that then exists or failed).
        for _ in 0..4 {
            if let Some(slot) = w.h2.take(key, limit) {
                return Ok((stream(w, slot, server, addr), false));
            }
            let opened = w.h2.wait_opening(key);
            if !matches!(
                with_timeout(timeout, async { Ok(opened.await) }).await,
                Ok(true)
            ) {
                break;
            }
        }
    }
    // A connection that began with a PROXY header is the client's alone (never pooled).
    let may_reuse = may_reuse && server.opts.send_proxy.is_none();
    if v != Version::Http2 && may_reuse {
        if let Some(c) = w.idle_conn(be, server.id, addr) {
            return Ok((c, true));
        }
    }
    let _opening = (v != Version::Http1).then(|| w.h2.opening(key));
    let conn = connect_server(server, addr, timeout, client).await?;
    if v == Version::Http1 || (v == Version::ByAlpn && conn.server_alpn() != Some(b"h2")) {
        return Ok((conn, false));
    }
    let (send, state) = with_timeout(timeout, handshake(conn, tuning, w.bufsize)).await?;
    let slot = w.h2.add(key, send, state);
    Ok((stream(w, slot, server, addr), false))
}

/// Opens HTTP/2 on `conn` and drives it on its own task until it ends.
async fn handshake(
    conn: Conn,
    tuning: &H2Tuning,
    bufsize: usize,
) -> io::Result<(h2::client::SendRequest<Bytes>, Rc<pool::ConnState>)> {
    let mut b = h2::client::Builder::new();
    b.enable_push(false)
        .header_table_size(tuning.header_table_size)
        .initial_window_size(tuning.initial_window_size)
        .max_frame_size(tuning.frame_size(bufsize))
        .max_header_list_size(u32::try_from(bufsize).unwrap_or(u32::MAX))
        // Until the server's SETTINGS say otherwise, as haproxy assumes.
        .initial_max_send_streams(100);
    let h2err = |e: h2::Error| io::Error::other(e.to_string());
    let (send, mut driver) = b.handshake::<_, Bytes>(conn).await.map_err(h2err)?;
    let ping = driver.ping_pong();
    let state = pool::ConnState::new();
    let st = state.clone();
    tokio::task::spawn_local(async move {
        let _ = driver.await;
        st.close();
    });
    // The server's SETTINGS come before its answer to a PING: once that is back, its
    // SETTINGS_MAX_CONCURRENT_STREAMS is known, and streams are counted against it.
    if let Some(mut p) = ping {
        p.ping(h2::Ping::opaque()).await.map_err(h2err)?;
    }
    Ok((send, state))
}

/// One request's stream on `slot`, as the session's connection to the server.
fn stream(w: &Rc<Worker>, slot: pool::Slot, server: &Server, addr: SocketAddr) -> Conn {
    Conn::Stream(ServerStream::new(slot, target_of(server, addr), w.bufsize))
}

fn target_of(server: &Server, addr: SocketAddr) -> stream::Target {
    let scheme = if server.opts.tls.is_some() {
        Scheme::HTTPS
    } else {
        Scheme::HTTP
    };
    stream::Target { scheme, addr }
}

/// A health check's connection as the HTTP check sees it: a stream of the check's own HTTP/2
/// connection when `check-proto h2`, `proto h2` or the check's ALPN says so; else as is.
pub async fn for_check(
    conn: Conn,
    server: &Server,
    tuning: &H2Tuning,
    bufsize: usize,
) -> io::Result<Conn> {
    let proto = server.opts.check_proto.or(server.opts.proto);
    let h2 = match version(proto, server.opts.check_tls.as_ref()) {
        Version::Http2 => true,
        Version::Http1 => false,
        Version::ByAlpn => conn.server_alpn() == Some(b"h2"),
    };
    if !h2 {
        return Ok(conn);
    }
    let addr = server.check_target();
    let (send, state) = handshake(conn, tuning, bufsize).await?;
    let slot = pool::Slot::single(send, state);
    Ok(Conn::Stream(ServerStream::new(
        slot,
        target_of(server, addr),
        bufsize,
    )))
}
