//! The running proxy's shared state, built from the configuration model: backends with their
//! servers (state, weight, live load, counters, queue), frontends with their counters.
//!
//! Everything the forwarding path reads per request is an atomic; locks are taken only on slow
//! paths (a request that must queue, a stats-socket command, a change of servers).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::oneshot;

use crate::config::{self, Proxy as ProxyModel, ProxySettings, ServerOptions};
use crate::selection::{Loads, SrvInfo, BE_WEIGHT_SCALE};

/// Milliseconds since the UNIX epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Seconds since the UNIX epoch, from the clock the kernel updates each tick: a second's
/// resolution needs no time-stamp counter read (one per request, for `last_session`).
pub fn now_secs() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec it is given.
    if unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut ts) } != 0 {
        return 0;
    }
    u64::try_from(ts.tv_sec).unwrap_or(0)
}

/// Administrative flags (`set server ... state`, `disable server`).
pub const ADMIN_MAINT: u8 = 1;
pub const ADMIN_DRAIN: u8 = 2;

/// Operational state from health checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OperState {
    Down = 0,
    /// Up, but failing checks (counting towards `fall`).
    Stopping = 1,
    /// Down, but passing checks (counting towards `rise`).
    Starting = 2,
    Up = 3,
}

/// Result of the last health check, for `show stat` and the logs.
#[derive(Clone, Debug, Default)]
pub struct CheckReport {
    /// haproxy's short status: `L4OK`, `L4CON`, `L4TOUT`, `L7OK`, `L7STS`, `L7RSP`, ...
    pub status: &'static str,
    pub code: Option<u16>,
    pub duration_ms: u64,
    pub info: String,
}

/// One server of a backend.
pub struct Server {
    pub name: String,
    pub backend: String,
    /// `puid`: 1, 2, ... in declaration order.
    pub id: u32,
    pub addr: SocketAddr,
    pub addr_text: String,
    pub port_offset: Option<i32>,
    pub opts: ServerOptions,
    /// Runs health checks.
    pub check: bool,
    /// Current user weight (0..=256).
    pub uweight: AtomicU32,
    pub admin: AtomicU8,
    oper: AtomicU8,
    /// Health-check counter: consecutive results in the current direction (haproxy's `health`,
    /// 0..rise+fall-1).
    pub health: AtomicU32,
    /// Connections being served.
    pub served: AtomicU32,
    /// Requests waiting for this server specifically (persistence).
    pub queued: AtomicU32,
    /// For leastconn ordering among equals.
    pub repositioned: AtomicU64,
    pub last_change: AtomicU64,
    pub counters: Counters,
    pub check_fails: AtomicU64,
    pub down_transitions: AtomicU64,
    pub last_check: Mutex<CheckReport>,
    /// Requests waiting for a slot on this server (cookie persistence).
    pub queue: Mutex<VecDeque<oneshot::Sender<()>>>,
    /// Removed at run time: takes no new traffic.
    pub removed: AtomicBool,
    /// When the server last came up (ms since the epoch), for `slowstart`; 0: not ramping.
    pub up_since_ms: AtomicU64,
    /// Consecutive errors seen on live traffic (`observe layer4`).
    pub observed_errors: AtomicU32,
}

/// Traffic counters (what `show stat` prints).
#[derive(Default)]
pub struct Counters {
    pub sessions_total: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    pub max_sessions: AtomicU32,
    pub conn_errors: AtomicU64,
    pub resp_errors: AtomicU64,
    pub retries: AtomicU64,
    pub redispatches: AtomicU64,
    pub denied_req: AtomicU64,
    pub req_errors: AtomicU64,
    pub http_requests: AtomicU64,
    /// Connection handshakes that failed or timed out: TLS on a `bind ... ssl` listener, the
    /// PROXY protocol header on a `bind ... accept-proxy` one.
    pub failed_handshakes: AtomicU64,
    /// 1xx, 2xx, 3xx, 4xx, 5xx, other.
    pub hrsp: [AtomicU64; 6],
    pub last_session: AtomicU64,
}

impl Counters {
    pub fn count_status(&self, status: u16) {
        let i = match status {
            100..=199 => 0,
            200..=299 => 1,
            300..=399 => 2,
            400..=499 => 3,
            500..=599 => 4,
            _ => 5,
        };
        self.hrsp[i].fetch_add(1, Relaxed);
    }
}

impl Server {
    pub fn from_model(m: &config::Server, backend: &str, id: u32) -> Server {
        let disabled = m.options.disabled;
        // Servers without checks start UP; with checks haproxy also starts them UP (and lets the
        // first checks bring them down), with the health counter at rise.
        Server {
            name: m.name.clone(),
            backend: backend.to_string(),
            id,
            addr: m.addr,
            addr_text: m.addr_text.clone(),
            port_offset: m.port_offset,
            check: m.options.check,
            uweight: AtomicU32::new(m.options.weight),
            admin: AtomicU8::new(if disabled { ADMIN_MAINT } else { 0 }),
            oper: AtomicU8::new(OperState::Up as u8),
            health: AtomicU32::new(m.options.rise),
            served: AtomicU32::new(0),
            queued: AtomicU32::new(0),
            repositioned: AtomicU64::new(id as u64),
            last_change: AtomicU64::new(now_secs()),
            counters: Counters::default(),
            check_fails: AtomicU64::new(0),
            down_transitions: AtomicU64::new(0),
            last_check: Mutex::new(CheckReport::default()),
            queue: Mutex::new(VecDeque::new()),
            removed: AtomicBool::new(false),
            up_since_ms: AtomicU64::new(0),
            observed_errors: AtomicU32::new(0),
            opts: m.options.clone(),
        }
    }

    pub fn oper(&self) -> OperState {
        match self.oper.load(Relaxed) {
            0 => OperState::Down,
            1 => OperState::Stopping,
            2 => OperState::Starting,
            _ => OperState::Up,
        }
    }

    pub fn set_oper(&self, s: OperState) {
        self.oper.store(s as u8, Relaxed);
    }

    /// Counts as up for traffic (UP, or failing but not yet down).
    pub fn is_up(&self) -> bool {
        matches!(self.oper(), OperState::Up | OperState::Stopping)
    }

    pub fn in_maint(&self) -> bool {
        self.admin.load(Relaxed) & ADMIN_MAINT != 0
    }

    pub fn draining(&self) -> bool {
        self.admin.load(Relaxed) & ADMIN_DRAIN != 0
    }

    /// Takes new load-balanced traffic.
    pub fn usable(&self) -> bool {
        self.is_up() && !self.in_maint() && !self.draining() && !self.removed.load(Relaxed)
    }

    /// Takes persistent traffic (cookie): also when draining.
    pub fn usable_for_persistence(&self) -> bool {
        self.is_up() && !self.in_maint() && !self.removed.load(Relaxed)
    }

    /// haproxy's status word for `show stat`.
    pub fn status_text(&self) -> String {
        if self.in_maint() {
            return "MAINT".into();
        }
        let base = match self.oper() {
            OperState::Up => "UP",
            OperState::Down => "DOWN",
            OperState::Stopping => {
                let fall = self.opts.fall;
                let h = self.health.load(Relaxed).saturating_sub(self.opts.rise);
                return format!("UP {}/{}", h + 1, fall);
            }
            OperState::Starting => {
                let h = self.health.load(Relaxed);
                return format!("DOWN {}/{}", h, self.opts.rise);
            }
        };
        if self.draining() && base == "UP" {
            return "DRAIN".into();
        }
        if !self.check && base == "UP" {
            return "no check".into();
        }
        base.into()
    }

    /// The effective weight: user weight × 16, ramped up linearly during `slowstart` after
    /// the server came back up (never below 1 while it ramps, as in haproxy).
    pub fn eweight(&self) -> u32 {
        let full = self.uweight.load(Relaxed) * BE_WEIGHT_SCALE;
        let Some(ss) = self.opts.slowstart else {
            return full;
        };
        let since = self.up_since_ms.load(Relaxed);
        if since == 0 || full == 0 {
            return full;
        }
        let elapsed = now_ms().saturating_sub(since);
        let total = ss.as_millis() as u64;
        if total == 0 || elapsed >= total {
            return full;
        }
        ((full as u64 * elapsed / total) as u32).max(1)
    }

    pub fn info(&self) -> SrvInfo {
        SrvInfo {
            eweight: self.eweight(),
            backup: self.opts.backup,
            usable: self.usable(),
            id: self.id,
            maxconn: self.opts.maxconn,
            maxqueue: self.opts.maxqueue,
        }
    }

    /// The address to connect to for a client that came in on `dst_port`.
    pub fn target(&self, dst_port: u16) -> SocketAddr {
        match self.port_offset {
            Some(k) => {
                let mut a = self.addr;
                a.set_port((dst_port as i32 + k).clamp(0, 65535) as u16);
                a
            }
            None => self.addr,
        }
    }

    /// The address health checks go to.
    pub fn check_target(&self) -> SocketAddr {
        let mut a = self.addr;
        if let Some(ip) = self.opts.check_addr {
            a.set_ip(ip);
        }
        if let Some(p) = self.opts.check_port {
            a.set_port(p);
        }
        a
    }
}

/// A waiter in a backend queue, handed a server index when a slot frees up.
pub type QueueWaiter = oneshot::Sender<usize>;

/// One backend (a `backend` or the backend half of a `listen`).
pub struct Backend {
    pub name: String,
    pub id: u32,
    pub settings: ProxySettings,
    pub model: ProxyModel,
    pub servers: RwLock<Arc<Vec<Arc<Server>>>>,
    /// Bumped whenever a server's state, weight or the list changes: worker threads rebuild
    /// their balancers when they see a new value.
    pub generation: AtomicU64,
    pub counters: Counters,
    pub cur_sessions: AtomicU32,
    /// Requests waiting for any server of the backend.
    pub queue: Mutex<VecDeque<QueueWaiter>>,
    pub queued: AtomicU32,
    reposition_seq: AtomicU64,
    pub last_change: AtomicU64,
}

impl Backend {
    pub fn from_model(m: &ProxyModel, id: u32) -> Backend {
        let servers: Vec<Arc<Server>> = m
            .servers
            .iter()
            .enumerate()
            .map(|(i, s)| Arc::new(Server::from_model(s, &m.name, i as u32 + 1)))
            .collect();
        Backend {
            name: m.name.clone(),
            id,
            settings: m.settings.clone(),
            model: m.clone(),
            servers: RwLock::new(Arc::new(servers)),
            generation: AtomicU64::new(1),
            counters: Counters::default(),
            cur_sessions: AtomicU32::new(0),
            queue: Mutex::new(VecDeque::new()),
            queued: AtomicU32::new(0),
            reposition_seq: AtomicU64::new(1 << 32),
            last_change: AtomicU64::new(now_secs()),
        }
    }

    pub fn servers(&self) -> Arc<Vec<Arc<Server>>> {
        self.servers
            .read()
            .map(|g| g.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    pub fn bump(&self) {
        self.generation.fetch_add(1, Relaxed);
        self.last_change.store(now_secs(), Relaxed);
    }

    pub fn server(&self, name: &str) -> Option<Arc<Server>> {
        self.servers().iter().find(|s| s.name == name).cloned()
    }

    /// Active and backup servers usable now.
    pub fn usable_counts(&self) -> (usize, usize) {
        let s = self.servers();
        let act = s.iter().filter(|s| !s.opts.backup && s.usable()).count();
        let bck = s.iter().filter(|s| s.opts.backup && s.usable()).count();
        (act, bck)
    }

    /// haproxy's `nbsrv`: the active servers that take load-balanced traffic now (weight
    /// above zero); without any, 1 when a backup stands in (all the backups with `option
    /// allbackups`), else 0.
    pub fn usable_servers(&self) -> usize {
        let s = self.servers();
        let usable = |backup: bool| {
            s.iter()
                .filter(|s| s.opts.backup == backup && s.usable() && s.eweight() > 0)
                .count()
        };
        match (usable(false), usable(true)) {
            (0, bck) if self.settings.allbackups => bck,
            (0, bck) => bck.min(1),
            (act, _) => act,
        }
    }

    /// Marks server `s` as holding one more connection.
    pub fn take(&self, s: &Server) {
        let n = s.served.fetch_add(1, Relaxed) + 1;
        s.counters.max_sessions.fetch_max(n, Relaxed);
        s.counters.sessions_total.fetch_add(1, Relaxed);
        s.counters.last_session.store(now_secs(), Relaxed);
        s.repositioned
            .store(self.reposition_seq.fetch_add(1, Relaxed), Relaxed);
    }

    /// Releases a connection slot of server `idx`; hands it to a queued request if one waits.
    pub fn release(&self, servers: &[Arc<Server>], idx: usize) {
        let s = &servers[idx];
        // A request queued on this server specifically goes first, then the backend's queue.
        if s.queued.load(Relaxed) > 0 {
            if let Ok(mut q) = s.queue.lock() {
                while let Some(w) = q.pop_front() {
                    s.queued.fetch_sub(1, Relaxed);
                    if w.send(()).is_ok() {
                        // The slot passes to the waiter: served stays as it is.
                        s.counters.sessions_total.fetch_add(1, Relaxed);
                        return;
                    }
                }
            }
        }
        if self.queued.load(Relaxed) > 0 && s.usable() {
            if let Ok(mut q) = self.queue.lock() {
                while let Some(w) = q.pop_front() {
                    self.queued.fetch_sub(1, Relaxed);
                    if w.send(idx).is_ok() {
                        // The slot passes to the waiter: served stays as it is.
                        s.counters.sessions_total.fetch_add(1, Relaxed);
                        return;
                    }
                }
            }
        }
        s.served.fetch_sub(1, Relaxed);
        s.repositioned
            .store(self.reposition_seq.fetch_add(1, Relaxed), Relaxed);
    }
}

impl Backend {
    /// Hands free slots of server `s` to requests waiting in its queue. Called after a
    /// request joins the queue: a slot released just before found nobody to hand to.
    pub fn kick_server(&self, s: &Server) {
        loop {
            let Ok(mut q) = s.queue.lock() else {
                return;
            };
            if q.is_empty() || !take_free_slot(s) {
                return;
            }
            let Some(w) = q.pop_front() else {
                s.served.fetch_sub(1, Relaxed);
                return;
            };
            s.queued.fetch_sub(1, Relaxed);
            drop(q);
            if w.send(()).is_ok() {
                self.took(s);
                return;
            }
            // That waiter gave up meanwhile: give the slot back and try the next one.
            s.served.fetch_sub(1, Relaxed);
        }
    }

    /// Hands free slots of usable servers to requests waiting in the backend's queue (see
    /// [`Backend::kick_server`]).
    pub fn kick_queue(&self, servers: &[Arc<Server>]) {
        for (i, s) in servers.iter().enumerate() {
            if !s.usable() || s.queued.load(Relaxed) > 0 {
                continue;
            }
            loop {
                let Ok(mut q) = self.queue.lock() else {
                    return;
                };
                if q.is_empty() {
                    return;
                }
                if !take_free_slot(s) {
                    break;
                }
                let Some(w) = q.pop_front() else {
                    s.served.fetch_sub(1, Relaxed);
                    return;
                };
                self.queued.fetch_sub(1, Relaxed);
                drop(q);
                if w.send(i).is_ok() {
                    self.took(s);
                } else {
                    s.served.fetch_sub(1, Relaxed);
                }
            }
        }
    }

    /// Counts a slot taken on `s` (its `served` already raised).
    fn took(&self, s: &Server) {
        s.counters
            .max_sessions
            .fetch_max(s.served.load(Relaxed), Relaxed);
        s.counters.sessions_total.fetch_add(1, Relaxed);
        s.counters.last_session.store(now_secs(), Relaxed);
        s.repositioned
            .store(self.reposition_seq.fetch_add(1, Relaxed), Relaxed);
    }
}

/// Raises `s.served` when it is below `maxconn` (which must be set); false when full.
fn take_free_slot(s: &Server) -> bool {
    let max = s.opts.maxconn;
    max > 0
        && s.served
            .fetch_update(
                Relaxed,
                Relaxed,
                |v| if v < max { Some(v + 1) } else { None },
            )
            .is_ok()
}

/// Live loads of a backend's servers, for the balancers.
pub struct LiveLoads<'a>(pub &'a [Arc<Server>]);

impl Loads for LiveLoads<'_> {
    fn served(&self, i: usize) -> u32 {
        self.0[i].served.load(Relaxed)
    }
    fn queued(&self, i: usize) -> u32 {
        self.0[i].queued.load(Relaxed)
    }
    fn repositioned(&self, i: usize) -> u64 {
        self.0[i].repositioned.load(Relaxed)
    }
}

/// One frontend (a `frontend` or the frontend half of a `listen`).
pub struct Frontend {
    pub name: String,
    pub id: u32,
    pub model: ProxyModel,
    /// Index into [`Shared::backends`] of the `listen` section's own backend, if it is one.
    pub own_backend: Option<usize>,
    pub cur_conns: AtomicU32,
    pub counters: Counters,
    pub maxconn: u32,
}

/// Everything the threads share.
pub struct Shared {
    pub config: config::Config,
    pub frontends: Vec<Arc<Frontend>>,
    pub backends: Vec<Arc<Backend>>,
    /// Index of each model proxy (by position in `config.proxies`) in `backends`.
    pub backend_of_proxy: Vec<Option<usize>>,
    pub started: Instant,
    pub start_secs: u64,
    pub pid: u32,
    pub nbthread: usize,
    pub stopping: AtomicBool,
    pub cur_conns: AtomicU32,
    pub total_conns: AtomicU64,
    pub total_requests: AtomicU64,
    pub maxconn: u32,
    pub logger: crate::log::Logger,
}

impl Shared {
    pub fn build(config: config::Config, nbthread: usize) -> Shared {
        let mut backends = Vec::new();
        let mut backend_of_proxy = Vec::new();
        // haproxy numbers proxies from 1, after its own "GLOBAL" proxy when a stats socket
        // exists (it then takes id 1).
        let first_id = if config.global.stats_sockets.is_empty() {
            1u32
        } else {
            2
        };
        let mut ids = Vec::new();
        for (i, p) in config.proxies.iter().enumerate() {
            ids.push(first_id + i as u32);
            if p.kind.is_backend() {
                backend_of_proxy.push(Some(backends.len()));
                backends.push(Arc::new(Backend::from_model(p, *ids.last().unwrap_or(&0))));
            } else {
                backend_of_proxy.push(None);
            }
        }
        let maxconn = config.global.maxconn.unwrap_or(4096);
        let frontends = config
            .proxies
            .iter()
            .enumerate()
            .filter(|(_, p)| p.kind.is_frontend())
            .map(|(i, p)| {
                Arc::new(Frontend {
                    name: p.name.clone(),
                    id: ids[i],
                    model: p.clone(),
                    own_backend: if p.kind.is_backend() {
                        backend_of_proxy[i]
                    } else {
                        None
                    },
                    cur_conns: AtomicU32::new(0),
                    counters: Counters::default(),
                    maxconn: p.settings.maxconn.unwrap_or(maxconn),
                })
            })
            .collect();
        let logger = crate::log::Logger::new(&config);
        Shared {
            frontends,
            backends,
            backend_of_proxy,
            started: Instant::now(),
            start_secs: now_secs(),
            pid: std::process::id(),
            nbthread,
            stopping: AtomicBool::new(false),
            cur_conns: AtomicU32::new(0),
            total_conns: AtomicU64::new(0),
            total_requests: AtomicU64::new(0),
            maxconn,
            logger,
            config,
        }
    }

    pub fn backend(&self, name: &str) -> Option<&Arc<Backend>> {
        self.backends.iter().find(|b| b.name == name)
    }

    /// The backend a model reference points at.
    pub fn backend_by_ref(&self, r: &config::BackendRef) -> Option<&Arc<Backend>> {
        self.backend_of_proxy
            .get(r.index)
            .copied()
            .flatten()
            .map(|i| &self.backends[i])
    }

    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(slowstart: Option<Duration>) -> Server {
        let m = config::Server {
            loc: config::Location::new("t.cfg", 1),
            name: "s1".into(),
            addr_text: "127.0.0.1:80".into(),
            addr: "127.0.0.1:80".parse().unwrap(),
            port_offset: None,
            options: ServerOptions {
                weight: 10,
                slowstart,
                ..ServerOptions::default()
            },
        };
        Server::from_model(&m, "be", 1)
    }

    #[test]
    fn nbsrv_counts_as_haproxy_counts() {
        let backend = |allbackups: &str| {
            let text = format!(
                "backend be\n {allbackups}\n server a1 127.0.0.1:1\n server a2 127.0.0.1:2\n server b1 127.0.0.1:3 backup\n server b2 127.0.0.1:4 backup\n"
            );
            let (cfg, _) =
                config::load_str("t.cfg", &text, &config::ProcessEnv).expect("configuration");
            Backend::from_model(&cfg.proxies[0], 1)
        };
        let b = backend("");
        let named = |n: &str| b.server(n).expect("server");
        assert_eq!(b.usable_servers(), 2, "both active servers");
        named("a1").admin.store(ADMIN_MAINT, Relaxed);
        assert_eq!(b.usable_servers(), 1);
        // Weight 0 takes no load-balanced traffic: not counted.
        named("a2").uweight.store(0, Relaxed);
        assert_eq!(b.usable_servers(), 1, "a backup stands in, counted once");
        named("b1").admin.store(ADMIN_DRAIN, Relaxed);
        named("b2").admin.store(ADMIN_MAINT, Relaxed);
        assert_eq!(b.usable_servers(), 0);
        let all = backend("option allbackups");
        for n in ["a1", "a2"] {
            all.server(n)
                .expect("server")
                .admin
                .store(ADMIN_MAINT, Relaxed);
        }
        assert_eq!(
            all.usable_servers(),
            2,
            "with allbackups, every backup counts"
        );
    }

    #[test]
    fn slowstart_ramps_the_effective_weight() {
        let s = server(Some(Duration::from_secs(10)));
        assert_eq!(s.eweight(), 160, "not ramping: full weight");
        s.up_since_ms.store(now_ms() - 5000, Relaxed);
        let w = s.eweight();
        assert!((70..=90).contains(&w), "half way: {w}");
        s.up_since_ms.store(now_ms() - 20000, Relaxed);
        assert_eq!(s.eweight(), 160);
        assert_eq!(server(None).eweight(), 160);
    }

    #[test]
    fn states_and_status_words() {
        let s = server(None);
        assert!(s.usable());
        assert_eq!(s.status_text(), "no check");
        s.admin.store(ADMIN_DRAIN, Relaxed);
        assert!(!s.usable() && s.usable_for_persistence());
        s.admin.store(ADMIN_MAINT, Relaxed);
        assert_eq!(s.status_text(), "MAINT");
        assert!(!s.usable_for_persistence());
    }
}
