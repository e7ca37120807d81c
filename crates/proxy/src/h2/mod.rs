//! HTTP/2 from clients, as a gateway: the `h2` crate speaks the protocol (framing, HPACK,
//! flow control, SETTINGS, PING, GOAWAY, RST_STREAM), and each stream it accepts becomes one
//! HTTP/1.1 exchange on an in-memory pipe, served by the ordinary HTTP session
//! (`crate::session::http`) as if a client had connected. Rules, ACLs, balancing, health,
//! retries, logging and error pages therefore apply to HTTP/2 requests unchanged.
//!
//! HTTP/2 to servers is the same idea the other way round (`upstream`). Limits and windows
//! come from `tune.h2.*` (haproxy's defaults when unset).
//!
//! Not here: server push; CONNECT (extended or not).

mod preface;
mod request;
mod response;
pub mod upstream;

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use h2::server::SendResponse;
use h2::{Reason, RecvStream};
use http::Request;

use crate::http1::BodyKind;

pub use preface::{protocol_of, Protocol, PREFACE};

use crate::session::conn::StreamConn;
use crate::session::Conn;
use crate::state::Frontend;
use crate::tls::facts::{TlsFacts, TlsView};
use crate::worker::{Worker, RUN};

/// Streams opened and reset by the client before dermaga took them, before the connection is
/// closed with ENHANCE_YOUR_CALM (rapid reset, CVE-2023-44487).
const MAX_PENDING_ACCEPT_RESETS: usize = 20;
/// Streams dermaga itself reset for the client's errors before it gives up on the connection.
const MAX_LOCAL_ERROR_RESETS: usize = 256;
/// Streams the client cancels within [`RESET_WINDOW`] before their answer, beyond which the
/// connection is closed with ENHANCE_YOUR_CALM: the rapid reset pattern spread out enough
/// that each stream was accepted first.
const MAX_CLIENT_RESETS: u32 = 200;
const RESET_WINDOW: Duration = Duration::from_secs(1);
/// Response bytes buffered per stream ahead of the client's window.
const MAX_SEND_BUFFER: usize = 64 * 1024;
/// The in-memory pipe between a stream and its session, each way.
const PIPE: usize = 64 * 1024;

/// Why a stream's exchange ended early.
#[derive(Debug)]
pub enum StreamEnd {
    /// The client reset the stream before its response began.
    Reset(Reason),
    /// The client reset the stream or the connection failed.
    H2(h2::Error),
    /// The session stopped short of a complete response.
    Session(&'static str),
}

impl From<h2::Error> for StreamEnd {
    fn from(e: h2::Error) -> StreamEnd {
        StreamEnd::H2(e)
    }
}

/// Serves one client connection that speaks HTTP/2, until the client leaves, it idles out, or
/// the worker stops (soft stop: GOAWAY, then the streams in flight finish).
pub async fn serve(
    w: &Rc<Worker>,
    fe: &Arc<Frontend>,
    cli: Conn,
    peer: SocketAddr,
    local: SocketAddr,
) {
    let tls = cli.tls_view().map(|v| {
        Arc::new(match v {
            TlsView::Live(c) => TlsFacts::of(c),
            TlsView::Captured(f) => f.clone(),
        })
    });
    let timeouts = &fe.model.settings.timeouts;
    let idle = timeouts.http_keep_alive.or(timeouts.client);
    let tuning = &w.shared.config.global.h2;
    let mut builder = h2::server::Builder::new();
    // `tune.h2.max-concurrent-streams 0` lifts the limit, as in haproxy.
    let streams = match tuning.max_concurrent_streams {
        0 => u32::MAX,
        n => n,
    };
    builder
        .max_concurrent_streams(streams)
        .max_header_list_size(u32::try_from(w.bufsize).unwrap_or(u32::MAX))
        .header_table_size(tuning.header_table_size)
        .initial_window_size(tuning.initial_window_size)
        .max_frame_size(tuning.frame_size(w.bufsize))
        .max_pending_accept_reset_streams(MAX_PENDING_ACCEPT_RESETS)
        .max_local_error_reset_streams(Some(MAX_LOCAL_ERROR_RESETS))
        .max_send_buffer_size(MAX_SEND_BUFFER);
    let handshake = builder.handshake::<_, Bytes>(cli);
    let mut conn = match timeouts.client {
        Some(d) => match tokio::time::timeout(d, handshake).await {
            Ok(Ok(c)) => c,
            _ => return,
        },
        None => match handshake.await {
            Ok(c) => c,
            Err(_) => return,
        },
    };
    let resets = Rc::new(ResetCount::default());
    let mut stop = w.stop.clone();
    let mut stopping = false;
    let mut last_active = tokio::time::Instant::now();
    loop {
        let idle_at = idle.map(|d| last_active + d);
        let next = tokio::select! {
            n = conn.accept() => n,
            _ = stop.wait_for(|v| *v != RUN), if !stopping => {
                // Soft stop: GOAWAY with the last stream taken; those finish, then the
                // connection ends. A hard stop ends the whole worker anyway.
                conn.graceful_shutdown();
                stopping = true;
                continue;
            }
            _ = sleep_until(idle_at) => {
                if conn.has_streams() {
                    last_active = tokio::time::Instant::now();
                } else if stopping {
                    // Idle since GOAWAY: a client that does not answer its PING or close
                    // is not waited for longer.
                    break;
                } else {
                    conn.graceful_shutdown();
                    stopping = true;
                    last_active = tokio::time::Instant::now();
                }
                continue;
            }
        };
        let (req, respond) = match next {
            Some(Ok(s)) => s,
            Some(Err(_)) | None => break,
        };
        last_active = tokio::time::Instant::now();
        if resets.too_many() {
            conn.abrupt_shutdown(Reason::ENHANCE_YOUR_CALM);
            continue;
        }
        let (w2, fe2, tls2, resets2) = (w.clone(), fe.clone(), tls.clone(), resets.clone());
        w.live.set(w.live.get() + 1);
        tokio::task::spawn_local(async move {
            stream(&w2, &fe2, req, respond, peer, local, tls2, &resets2).await;
            w2.live.set(w2.live.get() - 1);
        });
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Client resets of streams not yet answered, counted over a sliding second.
#[derive(Default)]
struct ResetCount {
    since: Cell<Option<Instant>>,
    n: Cell<u32>,
}

impl ResetCount {
    fn add(&self) {
        let now = Instant::now();
        match self.since.get() {
            Some(t) if now.duration_since(t) < RESET_WINDOW => self.n.set(self.n.get() + 1),
            _ => {
                self.since.set(Some(now));
                self.n.set(1);
            }
        }
    }

    fn too_many(&self) -> bool {
        self.n.get() > MAX_CLIENT_RESETS
            && self.since.get().is_some_and(|t| t.elapsed() < RESET_WINDOW)
    }
}

/// One stream: its session on one end of a pipe, the gateway on the other.
#[allow(clippy::too_many_arguments)]
async fn stream(
    w: &Rc<Worker>,
    fe: &Arc<Frontend>,
    req: Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
    peer: SocketAddr,
    local: SocketAddr,
    tls: Option<Arc<TlsFacts>>,
    resets: &ResetCount,
) {
    let (ours, theirs) = tokio::io::duplex(PIPE);
    let session = crate::session::http::run(
        w,
        fe,
        Conn::Stream(Box::new(StreamConn::new(theirs, tls))),
        peer,
        local,
    );
    let gateway = async {
        let r = exchange(req, &mut respond, ours, w.bufsize).await;
        match r {
            Ok(()) => {}
            Err(StreamEnd::Reset(_)) => resets.add(),
            Err(StreamEnd::H2(e)) => {
                if e.is_remote() && e.is_reset() {
                    resets.add();
                }
            }
            Err(StreamEnd::Session(_)) => respond.send_reset(Reason::INTERNAL_ERROR),
        }
    };
    tokio::join!(session, gateway);
}

/// Writes the request into the pipe and reads the response out of it, both at once (a
/// server may answer before the body ends). Dropping the pipe at the end ends the session.
async fn exchange(
    req: Request<RecvStream>,
    respond: &mut SendResponse<Bytes>,
    pipe: tokio::io::DuplexStream,
    max_head: usize,
) -> Result<(), StreamEnd> {
    let (parts, body) = req.into_parts();
    let is_head = parts.method == http::Method::HEAD;
    if parts.method == http::Method::CONNECT {
        let mut r = http::Response::new(());
        *r.status_mut() = http::StatusCode::NOT_IMPLEMENTED;
        respond.send_response(r, true)?;
        return Ok(());
    }
    let mut head = Vec::with_capacity(512);
    let framing = request::head(&parts, body.is_end_stream(), &mut head);
    let (mut rd, mut wr) = tokio::io::split(pipe);
    let up = async {
        use tokio::io::AsyncWriteExt;
        wr.write_all(&head)
            .await
            .map_err(|_| StreamEnd::Session("the session did not take the request"))?;
        request::body(body, framing, &mut wr).await?;
        // The write half stays open: a session reads a closed client as one that left.
        std::future::pending::<()>().await;
        Ok::<(), StreamEnd>(())
    };
    tokio::pin!(up);
    // Until the response begins, a client reset ends the exchange at once: the pipe closes
    // and the session abandons the server's request (rapid reset costs the server little).
    let mut head = tokio::select! {
        h = response::head(&mut rd, is_head, max_head) => h?,
        r = std::future::poll_fn(|cx| respond.poll_reset(cx)) => return Err(StreamEnd::Reset(r?)),
        r = &mut up => return r,
    };
    // An empty answer ends with its HEADERS frame: gRPC's "trailers-only" responses come
    // back from an HTTP/2 server that way and must leave as they came.
    let no_body = matches!(head.body, BodyKind::None | BodyKind::Length(0));
    let mut stream = respond.send_response(std::mem::take(&mut head.response), no_body)?;
    tokio::select! {
        r = response::body(&mut rd, head, &mut stream) => r,
        r = &mut up => r,
    }
}
