//! An HTTP/2 server for the tests (the `h2` crate's server side, on its own thread), in
//! cleartext (prior knowledge) or over TLS with ALPN `h2`.
//!
//! Every answer is `200` with `x-server: NAME` and `x-conn: N` (which of the server's
//! connections carried it), and a body `NAME METHOD PATH authority=A te=T\n` (A: the
//! :authority, else the `host` field) followed by the request body; request trailers come back as response trailers named `x-echo-NAME`.
//! Paths: `/trailers` adds the trailer `x-trailer: NAME`; `/length` answers with a
//! content-length; `/big/N` answers N bytes; `/empty` ends with the HEADERS frame;
//! `/refuse-once` is refused (RST_STREAM REFUSED_STREAM) the first time; `/hold/N` is
//! answered only once N such requests are open at once; `/goaway` is answered, then the
//! connection says GOAWAY; `/hdrs...` adds a line listing the
//! request's `x-*` fields, sorted.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use h2::server::SendResponse;
use h2::RecvStream;
use http::{HeaderMap, HeaderValue, Request, Response};
use tokio::sync::watch;

pub struct H2Backend {
    pub addr: SocketAddr,
    pub name: String,
    /// Connections accepted.
    pub conns: Arc<AtomicUsize>,
    /// Streams served (refused ones included).
    pub streams: Arc<AtomicUsize>,
    /// The most streams open at once on one connection.
    pub max_in_flight: Arc<AtomicUsize>,
    stop: watch::Sender<bool>,
}

#[derive(Default)]
struct Shared {
    refused: Mutex<HashMap<String, bool>>,
    held: Mutex<usize>,
}

impl H2Backend {
    /// A cleartext server announcing `max_streams` concurrent streams.
    pub fn start(name: &str, max_streams: u32) -> H2Backend {
        Self::start_with(name, max_streams, None)
    }

    /// A TLS server (ALPN `h2` only) serving the PEM bundle `bundle`.
    pub fn start_tls(name: &str, bundle: &std::path::Path) -> H2Backend {
        use rustls::pki_types::pem::PemObject;
        let pem = std::fs::read(bundle).unwrap();
        let certs: Vec<_> = rustls::pki_types::CertificateDer::pem_slice_iter(&pem)
            .map(|c| c.unwrap())
            .collect();
        let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(&pem).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        cfg.alpn_protocols = vec![b"h2".to_vec()];
        Self::start_with(name, 100, Some(Arc::new(cfg)))
    }

    fn start_with(
        name: &str,
        max_streams: u32,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> H2Backend {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind h2 backend");
        l.set_nonblocking(true).unwrap();
        let addr = l.local_addr().unwrap();
        let conns = Arc::new(AtomicUsize::new(0));
        let streams = Arc::new(AtomicUsize::new(0));
        let max_in_flight = Arc::new(AtomicUsize::new(0));
        let (stop, mut stopped) = watch::channel(false);
        let (n, c, s, m) = (
            name.to_string(),
            conns.clone(),
            streams.clone(),
            max_in_flight.clone(),
        );
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let local = tokio::task::LocalSet::new();
            local.block_on(&rt, async move {
                let l = tokio::net::TcpListener::from_std(l).unwrap();
                let shared = Arc::new(Shared::default());
                let (held_tx, _) = watch::channel(0usize);
                let held_tx = Arc::new(held_tx);
                loop {
                    let sock = tokio::select! {
                        r = l.accept() => match r { Ok((s, _)) => s, Err(_) => continue },
                        _ = stopped.changed() => return,
                    };
                    let idx = c.fetch_add(1, Ordering::Relaxed) + 1;
                    let (n, s, m, sh, ht) = (
                        n.clone(),
                        s.clone(),
                        m.clone(),
                        shared.clone(),
                        held_tx.clone(),
                    );
                    let tls = tls.clone();
                    tokio::task::spawn_local(async move {
                        match tls {
                            None => serve_conn(sock, idx, max_streams, &n, &s, &m, &sh, &ht).await,
                            Some(cfg) => {
                                let Ok(t) = tokio_rustls::TlsAcceptor::from(cfg).accept(sock).await
                                else {
                                    return;
                                };
                                serve_conn(t, idx, max_streams, &n, &s, &m, &sh, &ht).await
                            }
                        }
                    });
                }
            });
        });
        H2Backend {
            addr,
            name: name.to_string(),
            conns,
            streams,
            max_in_flight,
            stop,
        }
    }

    pub fn conns(&self) -> usize {
        self.conns.load(Ordering::Relaxed)
    }

    pub fn streams(&self) -> usize {
        self.streams.load(Ordering::Relaxed)
    }
}

impl Drop for H2Backend {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

#[allow(clippy::too_many_arguments)]
async fn serve_conn<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    io: T,
    idx: usize,
    max_streams: u32,
    name: &str,
    streams: &Arc<AtomicUsize>,
    max_in_flight: &Arc<AtomicUsize>,
    shared: &Arc<Shared>,
    held: &Arc<watch::Sender<usize>>,
) {
    let Ok(mut conn) = h2::server::Builder::new()
        .max_concurrent_streams(max_streams)
        .handshake::<_, Bytes>(io)
        .await
    else {
        return;
    };
    let in_flight = Arc::new(AtomicUsize::new(0));
    while let Some(Ok((req, respond))) = conn.accept().await {
        if req.uri().path() == "/goaway" {
            // Answered, but the connection takes no stream after it.
            conn.graceful_shutdown();
        }
        streams.fetch_add(1, Ordering::Relaxed);
        let now = in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        max_in_flight.fetch_max(now, Ordering::Relaxed);
        let (name, inf, sh, ht) = (
            name.to_string(),
            in_flight.clone(),
            shared.clone(),
            held.clone(),
        );
        tokio::task::spawn_local(async move {
            let _ = answer(req, respond, idx, &name, &sh, &ht).await;
            inf.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

async fn answer(
    req: Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
    idx: usize,
    name: &str,
    shared: &Shared,
    held: &watch::Sender<usize>,
) -> Result<(), h2::Error> {
    let (parts, mut body) = req.into_parts();
    let path = parts.uri.path().to_string();
    if path == "/refuse-once" {
        let first = shared
            .refused
            .lock()
            .unwrap()
            .insert(path.clone(), true)
            .is_none();
        if first {
            respond.send_reset(h2::Reason::REFUSED_STREAM);
            return Ok(());
        }
    }
    if path == "/early" {
        // Answered without reading the body: once the stream's handles are dropped, h2
        // stops the upload with RST_STREAM NO_ERROR after the answer (RFC 9113 §8.1).
        let r = Response::builder().status(200).header("x-server", name);
        let mut send = respond.send_response(r.body(()).unwrap(), false)?;
        send.send_data(Bytes::from_static(b"early\n"), true)?;
        return Ok(());
    }
    if let Some(n) = path.strip_prefix("/hold/") {
        let want: usize = n.parse().unwrap_or(1);
        let mut rx = held.subscribe();
        {
            let mut h = shared.held.lock().unwrap();
            *h += 1;
            held.send_replace(*h);
        }
        let _ = rx.wait_for(|v| *v >= want).await;
    }
    let mut text = format!(
        "{name} {} {} authority={} te={}\n",
        parts.method,
        parts.uri.path_and_query().map_or("", |p| p.as_str()),
        // The host the request names, as :authority or as a `host` field (haproxy sends
        // the latter for HTTP/1.1 clients' origin-form requests).
        parts.uri.authority().map_or_else(
            || {
                parts
                    .headers
                    .get("host")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
            },
            |a| a.as_str()
        ),
        parts
            .headers
            .get("te")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-"),
    )
    .into_bytes();
    if path.starts_with("/hdrs") {
        let mut xs: Vec<String> = parts
            .headers
            .iter()
            .filter(|(n, _)| n.as_str().starts_with("x-"))
            .map(|(n, v)| format!("{}={}", n, v.to_str().unwrap_or("?")))
            .collect();
        xs.sort();
        text.extend_from_slice(format!("{}\n", xs.join(",")).as_bytes());
    }
    while let Some(d) = body.data().await {
        let d = d?;
        body.flow_control().release_capacity(d.len())?;
        text.extend_from_slice(&d);
    }
    let req_trailers = body.trailers().await?;
    let mut r = Response::builder()
        .status(200)
        .header("x-server", name)
        .header("x-conn", idx.to_string());
    if let Some(n) = path.strip_prefix("/big/") {
        text = vec![b'x'; n.parse().unwrap_or(0)];
    }
    if path == "/length" {
        r = r.header("content-length", text.len().to_string());
    }
    let end = path == "/empty";
    let mut send = respond.send_response(r.body(()).unwrap(), end)?;
    if end {
        return Ok(());
    }
    let mut data = Bytes::from(text);
    while !data.is_empty() {
        send.reserve_capacity(data.len());
        let n = match std::future::poll_fn(|cx| send.poll_capacity(cx)).await {
            Some(n) => n?,
            None => return Ok(()),
        };
        if n > 0 {
            send.send_data(data.split_to(n.min(data.len())), false)?;
        }
    }
    let mut trailers = HeaderMap::new();
    if let Some(t) = req_trailers {
        for (k, v) in &t {
            let n = format!("x-echo-{}", k.as_str());
            trailers.insert(
                http::HeaderName::from_bytes(n.as_bytes()).unwrap(),
                v.clone(),
            );
        }
    }
    if path == "/trailers" {
        trailers.insert("x-trailer", HeaderValue::from_str(name).unwrap());
    }
    if trailers.is_empty() || path == "/length" {
        send.send_data(Bytes::new(), true)?;
    } else {
        send.send_trailers(trailers)?;
    }
    Ok(())
}
