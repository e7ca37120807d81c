//! The network side: blocking UDP workers and the TCP listener.
//!
//! UDP is the hot path ([`crate::udp`]): one OS thread per worker, each with its own
//! `SO_REUSEPORT` socket, reading and answering batches with `recvmmsg`/`sendmmsg` into
//! buffers reused for the life of the thread, with no async runtime in between. TCP (length-prefixed messages, several per
//! connection, an idle timeout) and zone transfers run on a small tokio runtime of their own.
//! Both read the zones through one [`ArcSwap`], so a reload swaps them without a lock and
//! without dropping a query.

use std::io;
use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use arc_swap::ArcSwap;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::answer::{respond, AnswerConfig, Outcome, Transport, ZoneSet};
use crate::rrl::RateLimit;
use crate::udp::{bind_udp, udp_worker};
use crate::xfr::{self, TransferPolicy};

/// What a server listens on and how it answers.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Addresses to serve UDP and TCP on (port 0 picks one, the same for UDP and TCP).
    pub listen: Vec<SocketAddr>,
    /// UDP worker threads per address (0: one per core).
    pub udp_workers: usize,
    pub answer: AnswerConfig,
    /// A TCP connection with no complete query for this long is closed.
    pub tcp_idle: Duration,
    /// Who may transfer which zone, and whom to NOTIFY.
    pub transfer: TransferPolicy,
    /// Response rate limiting on UDP (None, or a `ratelimit` of 0: off).
    pub rate_limit: Option<RateLimit>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: Vec::new(),
            udp_workers: 0,
            answer: AnswerConfig::default(),
            tcp_idle: Duration::from_secs(10),
            transfer: TransferPolicy::default(),
            rate_limit: None,
        }
    }
}

/// A running server; stopping it (or dropping it) ends its threads.
pub struct Server {
    zones: Arc<ArcSwap<ZoneSet>>,
    stop: Arc<AtomicBool>,
    udp: Vec<JoinHandle<()>>,
    tcp: Option<(tokio::sync::watch::Sender<bool>, JoinHandle<()>)>,
    local: Vec<SocketAddr>,
    policy: Arc<ArcSwap<TransferPolicy>>,
    runtime: tokio::runtime::Handle,
}

impl Server {
    /// Binds every address and starts serving `zones`.
    pub fn start(config: ServerConfig, zones: Arc<ArcSwap<ZoneSet>>) -> io::Result<Server> {
        let stop = Arc::new(AtomicBool::new(false));
        let workers = if config.udp_workers == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            config.udp_workers
        };
        let mut udp_sockets = Vec::new();
        let mut tcp_listeners = Vec::new();
        let mut local = Vec::new();
        for addr in &config.listen {
            // TCP first: with port 0 the kernel picks a port, UDP then takes the same.
            let tcp = bind_tcp(*addr)?;
            let bound = tcp.local_addr()?;
            for _ in 0..workers {
                udp_sockets.push(bind_udp(bound)?);
            }
            tcp_listeners.push(tcp);
            local.push(bound);
        }
        let policy = Arc::new(ArcSwap::from_pointee(config.transfer.clone()));
        let mut udp = Vec::new();
        for (i, sock) in udp_sockets.into_iter().enumerate() {
            let zones = zones.clone();
            let stop = stop.clone();
            let cfg = config.answer;
            let rate_limit = config.rate_limit.clone();
            udp.push(
                std::thread::Builder::new()
                    .name(format!("dns-udp-{i}"))
                    .spawn(move || udp_worker(sock, zones, cfg, rate_limit, stop))?,
            );
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let runtime = rt.handle().clone();
        let (tx, rx) = tokio::sync::watch::channel(false);
        let tcp_zones = zones.clone();
        let tcp_policy = policy.clone();
        let cfg = config.clone();
        let tcp_thread = std::thread::Builder::new()
            .name("dns-tcp".into())
            .spawn(move || {
                rt.block_on(async move {
                    let mut tasks = Vec::new();
                    for l in tcp_listeners {
                        let Ok(l) = TcpListener::from_std(l) else {
                            continue;
                        };
                        tasks.push(tokio::spawn(tcp_accept(
                            l,
                            tcp_zones.clone(),
                            tcp_policy.clone(),
                            cfg.clone(),
                            rx.clone(),
                        )));
                    }
                    let mut rx = rx;
                    while !*rx.borrow() {
                        if rx.changed().await.is_err() {
                            break;
                        }
                    }
                    for t in tasks {
                        t.abort();
                    }
                });
            })?;
        Ok(Server {
            zones,
            stop,
            udp,
            tcp: Some((tx, tcp_thread)),
            local,
            policy,
            runtime,
        })
    }

    /// The addresses actually bound (ports resolved), in the order given.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local
    }

    /// The published zones: store a new set to change what is served.
    pub fn zones(&self) -> &Arc<ArcSwap<ZoneSet>> {
        &self.zones
    }

    /// The transfer policy in force (replaced on reload).
    pub fn transfer_policy(&self) -> &Arc<ArcSwap<TransferPolicy>> {
        &self.policy
    }

    /// The runtime that carries TCP, transfers and NOTIFY.
    pub fn runtime(&self) -> &tokio::runtime::Handle {
        &self.runtime
    }

    /// Stops every thread and waits for them.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some((tx, t)) = self.tcp.take() {
            let _ = tx.send(true);
            let _ = t.join();
        }
        for t in self.udp.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn bind_tcp(addr: SocketAddr) -> io::Result<StdTcpListener> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.set_reuse_address(true)?;
    s.set_nonblocking(true)?;
    s.bind(&addr.into())
        .map_err(|e| io::Error::new(e.kind(), format!("tcp {addr}: {e}")))?;
    s.listen(1024)?;
    Ok(s.into())
}

async fn tcp_accept(
    l: TcpListener,
    zones: Arc<ArcSwap<ZoneSet>>,
    policy: Arc<ArcSwap<TransferPolicy>>,
    cfg: ServerConfig,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let Ok((stream, peer)) = l.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let zones = zones.clone();
        let policy = policy.clone();
        let cfg = cfg.clone();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = tcp_connection(stream, peer, zones, policy, cfg) => {}
                _ = stop.changed() => {}
            }
        });
    }
}

/// One TCP connection: queries answered in order until the client closes or idles out.
async fn tcp_connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    zones: Arc<ArcSwap<ZoneSet>>,
    policy: Arc<ArcSwap<TransferPolicy>>,
    cfg: ServerConfig,
) {
    let mut msg = vec![0u8; 65535];
    let mut out = Vec::with_capacity(65535);
    let mut frame = Vec::with_capacity(65537);
    loop {
        let mut lenb = [0u8; 2];
        match tokio::time::timeout(cfg.tcp_idle, stream.read_exact(&mut lenb)).await {
            Ok(Ok(_)) => {}
            _ => return,
        }
        let len = u16::from_be_bytes(lenb) as usize;
        match tokio::time::timeout(cfg.tcp_idle, stream.read_exact(&mut msg[..len])).await {
            Ok(Ok(_)) => {}
            _ => return,
        }
        let query = &msg[..len];
        let outcome = respond(&zones.load(), query, Transport::Tcp, &cfg.answer, &mut out);
        let n = match outcome {
            Outcome::Drop => return,
            Outcome::Reply(n) => n,
            Outcome::Transfer => {
                let set = zones.load_full();
                let pol = policy.load_full();
                if xfr::serve_transfer(&mut stream, peer, query, &set, &pol)
                    .await
                    .is_err()
                {
                    return;
                }
                continue;
            }
            Outcome::Notify => xfr::refuse(query, &mut out),
        };
        if n == 0 {
            continue;
        }
        frame.clear();
        frame.extend_from_slice(&(n as u16).to_be_bytes());
        frame.extend_from_slice(&out[..n]);
        if stream.write_all(&frame).await.is_err() {
            return;
        }
    }
}
