//! Worker threads: one current-thread tokio runtime each, with its own SO_REUSEPORT listener
//! per bind address, its own balancer state per backend, its own idle server-connection pool
//! and buffer pool. Connections never leave the thread that accepted them.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{FromRawFd, IntoRawFd};
use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};

use crate::config::{ListenAddr, Mode};
use crate::h2::Protocol as ClientProtocol;
use crate::parking::{Park, Parked, ParkingLot};
use crate::selection::{new_balancer, Balancer, Key, SrvInfo};
use crate::state::{Backend, Frontend, LiveLoads, Server, Shared};

/// Stop levels sent to workers.
pub const RUN: u8 = 0;
pub const SOFT_STOP: u8 = 1;
pub const HARD_STOP: u8 = 2;

/// A listening socket prepared before the threads start (so bind errors are reported at once).
pub struct ListenSpec {
    pub frontend: usize,
    pub addr: ListenAddr,
    pub sockaddr: Option<SocketAddr>,
    pub backlog: u32,
    pub v6only: Option<bool>,
}

/// A listening socket of one thread, with what its `bind` line says about TLS.
pub struct Listener {
    pub frontend: usize,
    /// `bind ... ssl`: the handshake every accepted connection goes through first; swapped
    /// when certificates are reloaded (connections keep the configuration they started with).
    pub tls: Option<crate::tls::TlsSlot>,
    /// The bind line's `name`, else its rank in the frontend, as haproxy's logs name it.
    pub label: Arc<str>,
    /// `proto h2`: HTTP/2 without looking.
    pub h2_only: bool,
    /// `accept-proxy`: a PROXY protocol header comes first.
    pub accept_proxy: bool,
    pub socket: std::net::TcpListener,
}

/// Creates one SO_REUSEPORT listener for `addr`.
pub fn bind_reuseport(
    addr: SocketAddr,
    backlog: u32,
    v6only: Option<bool>,
) -> io::Result<std::net::TcpListener> {
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    sock.set_reuse_address(true)?;
    sock.set_reuse_port(true)?;
    if addr.is_ipv6() {
        if let Some(v) = v6only {
            sock.set_only_v6(v)?;
        }
    }
    sock.set_nonblocking(true)?;
    sock.bind(&addr.into())?;
    sock.listen(backlog as i32)?;
    Ok(sock.into())
}

/// Adopts an inherited listening socket (`bind fd@N`): a duplicate per thread.
pub fn adopt_fd(fd: i32) -> io::Result<std::net::TcpListener> {
    // SAFETY: dup() of a descriptor the parent handed us; the new descriptor is owned here.
    let d = unsafe { libc::dup(fd) };
    if d < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `d` is a fresh descriptor we own.
    let l = unsafe { std::net::TcpListener::from_raw_fd(d) };
    l.set_nonblocking(true)?;
    Ok(l)
}

struct LbState {
    generation: u64,
    servers: Arc<Vec<Arc<Server>>>,
    infos: Vec<SrvInfo>,
    balancer: Box<dyn Balancer>,
}

struct Idle {
    stream: crate::session::Conn,
    /// When it was parked, on the coarse clock.
    since: Duration,
}

/// The per-thread context shared by the sessions of one worker.
pub struct Worker {
    pub shared: Arc<Shared>,
    pub index: usize,
    lb: RefCell<Vec<LbState>>,
    idle: RefCell<HashMap<IdleKey, Vec<Idle>, foldhash::fast::FixedState>>,
    bufs: RefCell<Vec<Vec<u8>>>,
    pub bufsize: usize,
    pub stop: watch::Receiver<u8>,
    /// `stop` as sessions wait for it between requests (raised when `stop` leaves RUN).
    pub stopping: crate::stop_signal::StopSignal,
    pub live: std::cell::Cell<u32>,
    /// Idle HTTP/1 client connections between requests.
    pub parking: ParkingLot,
    /// HTTP/2 connections to servers, shared by this thread's requests.
    pub h2: crate::h2::upstream::Pool,
}

/// What server selection gives.
pub enum Choice {
    /// A server, with its slot already taken.
    Server(usize, Arc<Vec<Arc<Server>>>),
    /// The balancer chose a server that is full (a hashing algorithm, or leastconn within
    /// `maxqueue`): wait in that server's queue.
    ServerQueue(usize, Arc<Vec<Arc<Server>>>),
    /// Every usable server is full: wait in the backend's queue.
    Queue,
    /// No usable server.
    None,
}

/// Why no server could be assigned to a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoServer {
    /// No usable server (haproxy's `SC` termination).
    Unavailable,
    /// The queue wait ran out (`timeout queue`), or the server's queue was at `maxqueue`
    /// (haproxy's `sQ` termination).
    Queue,
}

/// A server with its slot taken, and the server list it indexes.
pub type Assigned = (usize, Arc<Vec<Arc<Server>>>);

/// Idle server connections are kept per backend, server id and address: a server added at
/// run time may take a removed one's id, and `port` offsets give one server several addresses.
type IdleKey = (usize, u32, SocketAddr);

const MAX_IDLE_PER_SERVER: usize = 512;
/// Buffers kept for reuse: a session holds two while it forwards, and an HTTP/2 client
/// connection runs a session per stream (100 streams by default), so a few busy HTTP/2
/// connections need hundreds; past the bound, buffers are freed (and zeroed when made again).
const MAX_POOLED_BUFS: usize = 256;
const IDLE_MAX_AGE: Duration = Duration::from_secs(30);

/// The monotonic clock at the kernel tick's resolution (a few ms): enough to age idle
/// connections by the second, and it reads a variable where the precise clock reads the
/// time-stamp counter, twice per request.
fn coarse_now() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

impl Worker {
    pub fn new(shared: Arc<Shared>, index: usize, stop: watch::Receiver<u8>) -> Worker {
        let lb = shared
            .backends
            .iter()
            .map(|b| {
                let balance = b.settings.balance_or_default();
                LbState {
                    generation: 0,
                    servers: Arc::new(Vec::new()),
                    infos: Vec::new(),
                    balancer: new_balancer(&balance, &b.settings.hash_type),
                }
            })
            .collect();
        let bufsize = shared.config.global.bufsize.max(1024);
        Worker {
            shared,
            index,
            lb: RefCell::new(lb),
            idle: RefCell::new(HashMap::default()),
            bufs: RefCell::new(Vec::new()),
            bufsize,
            stop,
            stopping: Default::default(),
            live: std::cell::Cell::new(0),
            parking: ParkingLot::default(),
            h2: Default::default(),
        }
    }

    /// A buffer of `bufsize` bytes from the thread's pool.
    pub fn take_buf(&self) -> Vec<u8> {
        self.bufs
            .borrow_mut()
            .pop()
            .unwrap_or_else(|| vec![0u8; self.bufsize])
    }

    /// Gives a buffer back (kept for reuse, up to a bound).
    pub fn give_buf(&self, b: Vec<u8>) {
        let mut bufs = self.bufs.borrow_mut();
        // A bounded pool: enough for bursts, without pinning memory after one.
        if bufs.len() < MAX_POOLED_BUFS && b.len() == self.bufsize {
            bufs.push(b);
        }
    }

    fn refresh(&self, be: usize) {
        let backend = &self.shared.backends[be];
        let g = backend.generation.load(Relaxed);
        let mut lb = self.lb.borrow_mut();
        let st = &mut lb[be];
        if st.generation != g {
            st.servers = backend.servers();
            st.infos = st.servers.iter().map(|s| s.info()).collect();
            st.balancer.rebuild(&st.infos, backend.settings.allbackups);
            st.generation = g;
        }
    }

    /// The current server list of backend `be`.
    pub fn servers(&self, be: usize) -> Arc<Vec<Arc<Server>>> {
        self.refresh(be);
        self.lb.borrow()[be].servers.clone()
    }

    /// Picks a server of backend `be` for a request with hashing key `key`, avoiding `avoid`,
    /// and takes a connection slot on it.
    pub fn choose(&self, be: usize, key: Key, avoid: Option<usize>) -> Choice {
        self.refresh(be);
        let backend = &self.shared.backends[be];
        let mut lb = self.lb.borrow_mut();
        let st = &mut lb[be];
        let servers = st.servers.clone();
        let loads = LiveLoads(&servers);
        // A few attempts: another thread may fill the chosen server between pick and take.
        for _ in 0..4 {
            let Some(i) = st.balancer.pick(key, &st.infos, &loads, avoid) else {
                break;
            };
            if try_take(backend, &servers[i]) {
                return Choice::Server(i, servers);
            }
            if st.infos[i].maxconn > 0 && !saturated_now(&servers[i]) {
                // Another thread took the last slot between pick and take: pick again.
                continue;
            }
            return Choice::ServerQueue(i, servers);
        }
        if servers.iter().any(|s| s.usable() && s.opts.maxconn > 0)
            && st.infos.iter().any(|i| i.usable)
        {
            Choice::Queue
        } else {
            Choice::None
        }
    }

    /// Takes a slot on a specific server (cookie persistence); false when it is full.
    pub fn take_specific(&self, be: usize, server: &Server) -> bool {
        try_take(&self.shared.backends[be], server)
    }

    /// An idle connection to server `sid` of backend `be` at `target`, if one is still alive.
    pub fn idle_conn(
        &self,
        be: usize,
        sid: u32,
        target: SocketAddr,
    ) -> Option<crate::session::Conn> {
        let mut idle = self.idle.borrow_mut();
        let list = idle.get_mut(&(be, sid, target))?;
        // No liveness probe here (it would cost a syscall per request): a connection the
        // server closed meanwhile fails at the first write or read, and the session then
        // retries on a fresh connection, which is safe because only requests without a body
        // go on reused connections.
        while let Some(c) = list.pop() {
            if coarse_now().saturating_sub(c.since) <= IDLE_MAX_AGE {
                return Some(c.stream);
            }
        }
        None
    }

    /// Parks a connection to server `sid` of backend `be` at `target` for reuse.
    pub fn park_conn(&self, be: usize, sid: u32, target: SocketAddr, stream: crate::session::Conn) {
        if self.shared.stopping.load(Relaxed) {
            return;
        }
        let mut idle = self.idle.borrow_mut();
        let list = idle.entry((be, sid, target)).or_default();
        if list.len() < MAX_IDLE_PER_SERVER {
            list.push(Idle {
                stream,
                since: coarse_now(),
            });
        }
    }

    /// Drops idle connections older than the limit (run periodically).
    pub fn purge_idle(&self) {
        self.h2.purge();
        let mut idle = self.idle.borrow_mut();
        let now = coarse_now();
        for list in idle.values_mut() {
            list.retain(|c| now.saturating_sub(c.since) <= IDLE_MAX_AGE);
        }
    }

    /// Assigns a server of backend `be` to a request with hashing key `key`, avoiding `avoid`,
    /// waiting in a queue for up to `timeout` when the servers are full, as haproxy's
    /// `assign_server_and_queue` does.
    pub async fn assign(
        &self,
        be: usize,
        key: Key,
        avoid: Option<usize>,
        timeout: Duration,
    ) -> Result<Assigned, NoServer> {
        match self.choose(be, key, avoid) {
            Choice::Server(i, l) => Ok((i, l)),
            Choice::None => Err(NoServer::Unavailable),
            Choice::Queue => match self.wait_in_queue(be, timeout).await {
                Some(i) => Ok((i, self.servers(be))),
                None => Err(NoServer::Queue),
            },
            Choice::ServerQueue(i, l) => {
                let maxq = l[i].opts.maxqueue;
                if maxq > 0 && l[i].queued.load(Relaxed) >= maxq {
                    return Err(NoServer::Queue);
                }
                if self.wait_for_server(be, &l[i], timeout).await {
                    Ok((i, l))
                } else {
                    Err(NoServer::Queue)
                }
            }
        }
    }

    /// Assigns server `i` of `list` to a request that persistence (a cookie) sends there:
    /// its slot if one is free, else a place in its queue. A queue at `maxqueue` sends the
    /// request through the balancer when `redispatch` allows, else fails as haproxy does.
    pub async fn assign_persistent(
        &self,
        be: usize,
        i: usize,
        list: Arc<Vec<Arc<Server>>>,
        redispatch: bool,
        key: Key,
        timeout: Duration,
    ) -> Result<Assigned, NoServer> {
        let backend = &self.shared.backends[be];
        let s = &list[i];
        if try_take(backend, s) {
            return Ok((i, list));
        }
        let maxq = s.opts.maxqueue;
        if maxq > 0 && s.queued.load(Relaxed) >= maxq {
            if redispatch {
                return self.assign(be, key, None, timeout).await;
            }
            return Err(NoServer::Queue);
        }
        if self.wait_for_server(be, s, timeout).await {
            Ok((i, list))
        } else {
            Err(NoServer::Queue)
        }
    }

    /// Waits in backend `be`'s queue for a slot, up to `timeout`. Gives the server index.
    pub async fn wait_in_queue(&self, be: usize, timeout: Duration) -> Option<usize> {
        let backend = &self.shared.backends[be];
        let (tx, rx) = oneshot::channel();
        {
            let mut q = backend.queue.lock().ok()?;
            q.push_back(tx);
            backend.queued.fetch_add(1, Relaxed);
        }
        // A slot freed between the choice and the push found nobody waiting: look again.
        backend.kick_queue(&self.servers(be));
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(i)) => Some(i),
            _ => None,
        }
    }

    /// Waits in server `s`'s own queue for one of its slots, up to `timeout`.
    async fn wait_for_server(&self, be: usize, s: &Server, timeout: Duration) -> bool {
        let backend = &self.shared.backends[be];
        let (tx, rx) = oneshot::channel();
        {
            let Ok(mut q) = s.queue.lock() else {
                return false;
            };
            q.push_back(tx);
            s.queued.fetch_add(1, Relaxed);
        }
        backend.kick_server(s);
        matches!(tokio::time::timeout(timeout, rx).await, Ok(Ok(())))
    }
}

/// Whether server `s` has no free slot now (or others already wait for one).
fn saturated_now(s: &Server) -> bool {
    let max = s.opts.maxconn;
    max > 0 && (s.queued.load(Relaxed) > 0 || s.served.load(Relaxed) >= max)
}

fn try_take(backend: &Backend, s: &Server) -> bool {
    let max = s.opts.maxconn;
    if max == 0 {
        backend.take(s);
        return true;
    }
    // Requests already waiting for this server go first.
    if s.queued.load(Relaxed) > 0 {
        return false;
    }
    let ok = s
        .served
        .fetch_update(
            Relaxed,
            Relaxed,
            |v| if v < max { Some(v + 1) } else { None },
        )
        .is_ok();
    if ok {
        // `take` would add again: undo its increment of served.
        s.served.fetch_sub(1, Relaxed);
        backend.take(s);
    }
    ok
}

/// Runs one worker thread until stopped.
pub fn run_worker(
    shared: Arc<Shared>,
    index: usize,
    listeners: Vec<Listener>,
    stop: watch::Receiver<u8>,
) -> io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    let worker = Rc::new(Worker::new(shared.clone(), index, stop.clone()));
    local.block_on(&rt, async move {
        let mut accepts = Vec::new();
        for l in listeners {
            let sock = TcpListener::from_std(l.socket)?;
            let w = worker.clone();
            let how = AcceptHow {
                label: l.label,
                h2_only: l.h2_only,
                accept_proxy: l.accept_proxy,
            };
            accepts.push(tokio::task::spawn_local(accept_loop(
                w, l.frontend, l.tls, how, sock,
            )));
        }
        tokio::task::spawn_local(tend_parking_lot(worker.clone()));
        // Idle-pool purge.
        let w = worker.clone();
        tokio::task::spawn_local(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                w.purge_idle();
            }
        });
        let mut stop = stop;
        loop {
            if *stop.borrow() != RUN {
                break;
            }
            if stop.changed().await.is_err() {
                break;
            }
        }
        worker.stopping.raise();
        for a in &accepts {
            a.abort();
        }
        if *stop.borrow() == SOFT_STOP {
            // Let in-flight sessions end; idle keep-alive clients are closed by the sessions
            // themselves when they see the stop.
            while worker.live.get() > 0 {
                if *stop.borrow() == HARD_STOP {
                    break;
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(20)) => {}
                    _ = stop.changed() => {}
                }
            }
        }
        Ok::<(), io::Error>(())
    })?;
    drop(rt);
    Ok(())
}

/// What a listener's `bind` line says about its connections.
struct AcceptHow {
    /// The bind line's label, for logs.
    label: Arc<str>,
    /// `proto h2`.
    h2_only: bool,
    /// `accept-proxy`.
    accept_proxy: bool,
}

async fn accept_loop(
    w: Rc<Worker>,
    fe_idx: usize,
    tls: Option<crate::tls::TlsSlot>,
    how: AcceptHow,
    l: TcpListener,
) {
    let AcceptHow {
        label,
        h2_only,
        accept_proxy,
    } = how;
    let fe: Arc<Frontend> = w.shared.frontends[fe_idx].clone();
    loop {
        let (stream, peer) = match l.accept().await {
            Ok(x) => x,
            Err(e) => {
                // EMFILE and friends: back off briefly instead of spinning.
                if e.raw_os_error() == Some(libc::EMFILE) || e.raw_os_error() == Some(libc::ENFILE)
                {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                continue;
            }
        };
        let shared = &w.shared;
        if fe.cur_conns.load(Relaxed) >= fe.maxconn
            || shared.cur_conns.load(Relaxed) >= shared.maxconn
        {
            drop(stream);
            continue;
        }
        let local = stream.local_addr().unwrap_or(peer);
        // tcp-request connection rules: decided on addresses alone.
        if !crate::rules::tcp_connection_allows(&fe.model, peer, local, &w.shared) {
            fe.counters.denied_req.fetch_add(1, Relaxed);
            drop(stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        let logs = &fe.model.settings.logs;
        if !logs.targets.is_empty() && !logs.httplog && !logs.tcplog && logs.format.is_none() {
            let mode = if fe.model.settings.mode == Mode::Http {
                "HTTP"
            } else {
                "TCP"
            };
            shared.logger.emit(
                &logs.targets,
                6,
                &crate::log::connect_line(peer, local, &fe.name, mode),
            );
        }
        fe.cur_conns.fetch_add(1, Relaxed);
        fe.counters.sessions_total.fetch_add(1, Relaxed);
        shared.cur_conns.fetch_add(1, Relaxed);
        shared.total_conns.fetch_add(1, Relaxed);
        let n = fe.cur_conns.load(Relaxed);
        fe.counters.max_sessions.fetch_max(n, Relaxed);
        let w2 = w.clone();
        let fe2 = fe.clone();
        let tls = tls.as_ref().map(|t| t.load_full());
        let label = label.clone();
        w.live.set(w.live.get() + 1);
        // The task's future is as large as its largest state, for its whole life: the TLS
        // handshake, HTTP/2 and TCP sessions are boxed so that an idle HTTP/1 keep-alive
        // connection (the many) holds only the HTTP session's parked state.
        tokio::task::spawn_local(async move {
            let (mut stream, mut peer, mut local) = (stream, peer, local);
            if accept_proxy {
                let wait = fe2.model.settings.timeouts.client;
                match Box::pin(crate::proxy_protocol::read_header(&mut stream, wait)).await {
                    Ok(Some((src, dst))) => (peer, local) = (src, dst),
                    Ok(None) => {}
                    Err(_) => {
                        // Not a PROXY header, or none in time: haproxy closes the connection.
                        fe2.counters.failed_handshakes.fetch_add(1, Relaxed);
                        closed(&w2, &fe2);
                        return;
                    }
                }
            }
            let shaken = Box::pin(handshake(&w2, &fe2, tls.as_ref(), stream, peer, &label)).await;
            let mut parked = None;
            if let Some(conn) = shaken {
                match fe2.model.settings.mode {
                    Mode::Http => {
                        let unserved = crate::session::http::fresh(&fe2);
                        let t = &fe2.model.settings.timeouts;
                        let wait = t.http_request.or(t.client);
                        let proto = if h2_only {
                            ClientProtocol::Http2
                        } else {
                            Box::pin(crate::h2::protocol_of(&conn, wait)).await
                        };
                        match proto {
                            ClientProtocol::Http2 => {
                                Box::pin(crate::h2::serve(&w2, &fe2, conn, peer, local)).await
                            }
                            ClientProtocol::Http1 => {
                                parked = crate::session::http::run_parkable(
                                    &w2,
                                    &fe2,
                                    conn,
                                    peer,
                                    local,
                                    Some(unserved),
                                )
                                .await
                            }
                            ClientProtocol::Silent => {
                                crate::session::http::answer_silent(
                                    &w2, &fe2, conn, peer, local, unserved,
                                )
                                .await
                            }
                        }
                    }
                    Mode::Tcp => {
                        Box::pin(crate::session::tcp::run(&w2, &fe2, conn, peer, local)).await
                    }
                }
            }
            match parked {
                Some(p) => park_or_resume(&w2, p),
                None => closed(&w2, &fe2),
            }
        });
    }
}

/// Counts a client connection that ended.
fn closed(w: &Worker, fe: &Frontend) {
    fe.cur_conns.fetch_sub(1, Relaxed);
    w.shared.cur_conns.fetch_sub(1, Relaxed);
    w.live.set(w.live.get() - 1);
}

/// Hands an idle connection to the parking lot, or serves it again at once when its next
/// request is already there.
fn park_or_resume(w: &Rc<Worker>, p: Parked) {
    if let Park::Resume(p) = w.parking.park(p) {
        resume(w.clone(), p);
    }
}

/// Serves a parked connection whose next request arrived, in a task of its own.
fn resume(w: Rc<Worker>, p: Parked) {
    tokio::task::spawn_local(async move {
        let Parked {
            conn,
            fe,
            peer,
            local,
            ..
        } = p;
        match crate::session::http::run_parkable(&w, &fe, conn, peer, local, None).await {
            Some(p) => park_or_resume(&w, p),
            None => closed(&w, &fe),
        }
    });
}

/// The parking lot's task: wakes connections whose next request arrived, closes those idle
/// past their timeout, and closes them all when the worker stops.
async fn tend_parking_lot(w: Rc<Worker>) {
    let mut batch = Vec::new();
    let mut stop = w.stop.clone();
    loop {
        tokio::select! {
            _ = w.parking.wait() => {}
            _ = stop.wait_for(|v| *v != RUN) => {
                w.parking.take_all(&mut batch);
                for p in batch.drain(..) {
                    closed(&w, &p.fe);
                }
                return;
            }
        }
        w.parking.take_woken(&mut batch);
        for p in batch.drain(..) {
            resume(w.clone(), p);
        }
        w.parking.take_expired(&mut batch);
        for p in batch.drain(..) {
            closed(&w, &p.fe);
        }
    }
}

/// The TLS handshake of a `bind ... ssl` connection, within the client timeout (as haproxy
/// bounds it); a plain connection as it is. `None`: the handshake failed, which is logged as
/// haproxy logs it (`CLIENT [DATE] FRONTEND/BIND: SSL handshake failure`).
async fn handshake(
    w: &Worker,
    fe: &Frontend,
    tls: Option<&Arc<rustls::ServerConfig>>,
    stream: TcpStream,
    peer: SocketAddr,
    label: &str,
) -> Option<crate::session::Conn> {
    let Some(cfg) = tls else {
        return Some(stream.into());
    };
    let to = fe.model.settings.timeouts.client;
    match crate::session::with_timeout(to, crate::tls::accept(cfg, stream)).await {
        Ok(c) => Some(c),
        Err(_) => {
            fe.counters.failed_handshakes.fetch_add(1, Relaxed);
            let logs = &fe.model.settings.logs;
            if !logs.targets.is_empty() {
                let mut line = format!("{}:{} [", peer.ip(), peer.port());
                crate::log::Tm::now().haproxy_date(&mut line);
                line.push_str(&format!("] {}/{label}: SSL handshake failure", fe.name));
                w.shared.logger.emit(&logs.targets, 6, &line);
            }
            None
        }
    }
}

/// Turns a std listener into a raw fd and back, to hand the same socket to several threads.
pub fn dup_listener(l: &std::net::TcpListener) -> io::Result<std::net::TcpListener> {
    let c = l.try_clone()?;
    let fd = c.into_raw_fd();
    // SAFETY: `fd` was just released by `into_raw_fd` and is owned here.
    Ok(unsafe { std::net::TcpListener::from_raw_fd(fd) })
}
