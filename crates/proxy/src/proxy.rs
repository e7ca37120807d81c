//! The running proxy: [`Proxy::start`] binds every listener, starts the worker threads and the
//! control thread (health checks, stats sockets), and gives a [`ProxyHandle`] to change servers
//! at run time and to stop it.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::sync::watch;

use crate::config::{self, Config, ListenAddr};
use crate::state::{Server, Shared, ADMIN_DRAIN, ADMIN_MAINT};
use crate::worker::{self, HARD_STOP, RUN, SOFT_STOP};

/// Options that do not come from the configuration.
#[derive(Clone, Debug, Default)]
pub struct StartOptions {
    /// Worker threads; `None`: the configuration's `nbthread`, else one per core.
    pub nbthread: Option<usize>,
}

/// Why the proxy could not start.
#[derive(Debug)]
pub enum StartError {
    /// A listener could not be bound (haproxy: "cannot bind socket").
    Bind {
        what: String,
        loc: config::Location,
        source: io::Error,
    },
    /// Anything else from the system.
    Io(io::Error),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Bind { what, loc, source } => {
                write!(f, "{loc}: {what}: cannot bind socket: {source}")
            }
            StartError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for StartError {}

impl From<io::Error> for StartError {
    fn from(e: io::Error) -> Self {
        StartError::Io(e)
    }
}

/// The administrative state of a server (`set server B/S state ...`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdminState {
    /// Takes traffic (when health allows).
    Ready,
    /// Takes no new traffic except persistent sessions; existing ones finish.
    Drain,
    /// Takes no traffic at all.
    Maint,
}

/// A running proxy.
pub struct Proxy {
    handle: ProxyHandle,
    threads: Vec<JoinHandle<()>>,
    bound: Vec<(String, SocketAddr)>,
}

/// A cheap, cloneable handle to a running proxy, usable from any thread.
#[derive(Clone)]
pub struct ProxyHandle {
    shared: Arc<Shared>,
    stop: Arc<watch::Sender<u8>>,
    tls: Arc<Vec<TlsListener>>,
}

/// The TLS configuration of one `bind ... ssl` line of a running proxy.
struct TlsListener {
    frontend: String,
    /// The line's index among its frontend's `bind` lines.
    bind: usize,
    slot: crate::tls::TlsSlot,
}

impl Proxy {
    /// Binds the listeners, starts the worker threads and the control thread.
    pub fn start(config: Config, opts: StartOptions) -> Result<Proxy, StartError> {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let nbthread = opts
            .nbthread
            .or(config.global.nbthread.map(|n| n as usize))
            .unwrap_or(cores)
            .max(1);
        let shared = Arc::new(Shared::build(config, nbthread));

        // Bind everything before starting anything, so a bind error stops the start cleanly.
        let mut per_thread: Vec<Vec<worker::Listener>> =
            (0..nbthread).map(|_| Vec::new()).collect();
        let mut bound: Vec<(String, SocketAddr)> = Vec::new();
        let mut tls_slots: Vec<TlsListener> = Vec::new();
        for (fe_idx, fe) in shared.frontends.iter().enumerate() {
            for (bind_idx, b) in fe.model.binds.iter().enumerate() {
                let tls: Option<crate::tls::TlsSlot> = b.tls.as_ref().map(|t| {
                    let slot = Arc::new(arc_swap::ArcSwap::new(t.config.clone()));
                    tls_slots.push(TlsListener {
                        frontend: fe.name.clone(),
                        bind: bind_idx,
                        slot: slot.clone(),
                    });
                    slot
                });
                let label: Arc<str> = match &b.name {
                    Some(n) => n.as_str().into(),
                    None => (bind_idx + 1).to_string().into(),
                };
                let listener = |socket| worker::Listener {
                    frontend: fe_idx,
                    tls: tls.clone(),
                    label: label.clone(),
                    h2_only: b.h2_only,
                    accept_proxy: b.accept_proxy,
                    socket,
                };
                let backlog = b.backlog.unwrap_or(fe.maxconn.clamp(128, 65535));
                for a in &b.addrs {
                    match a {
                        ListenAddr::Inet { .. } => {
                            for sa in a.socket_addrs() {
                                let bind = |addr: SocketAddr| {
                                    worker::bind_reuseport(addr, backlog, b.v6only).map_err(|e| {
                                        StartError::Bind {
                                            what: format!(
                                                "{} '{}' (address {addr})",
                                                fe.model.kind.keyword(),
                                                fe.name
                                            ),
                                            loc: b.loc.clone(),
                                            source: e,
                                        }
                                    })
                                };
                                let first = bind(sa)?;
                                // With port 0 every thread shares the port the first one got.
                                let real = first.local_addr()?;
                                bound.push((fe.name.clone(), real));
                                per_thread[0].push(listener(first));
                                for list in per_thread.iter_mut().skip(1) {
                                    list.push(listener(bind(real)?));
                                }
                            }
                        }
                        ListenAddr::Fd(fd) => {
                            for list in per_thread.iter_mut() {
                                let l = worker::adopt_fd(*fd).map_err(|e| StartError::Bind {
                                    what: format!("fd@{fd}"),
                                    loc: b.loc.clone(),
                                    source: e,
                                })?;
                                list.push(listener(l));
                            }
                        }
                        ListenAddr::Unix(p) => {
                            return Err(StartError::Bind {
                                what: format!("unix@{}", p.display()),
                                loc: b.loc.clone(),
                                source: io::Error::new(
                                    io::ErrorKind::Unsupported,
                                    "UNIX stream listeners are not supported by dermaga",
                                ),
                            })
                        }
                    }
                }
            }
        }
        let stats = crate::stats::bind_all(&shared)?;

        let (tx, rx) = watch::channel(RUN);
        let mut threads = Vec::new();
        for (i, listeners) in per_thread.into_iter().enumerate() {
            let sh = shared.clone();
            let rx = rx.clone();
            let t = std::thread::Builder::new()
                .name(format!("dermaga-proxy-{i}"))
                .spawn(move || {
                    if let Err(e) = worker::run_worker(sh, i, listeners, rx) {
                        eprintln!("[ALERT] worker thread {i}: {e}");
                    }
                })?;
            threads.push(t);
        }
        let handle = ProxyHandle {
            shared: shared.clone(),
            stop: Arc::new(tx),
            tls: Arc::new(tls_slots),
        };
        let h2 = handle.clone();
        let rx2 = rx.clone();
        let control = std::thread::Builder::new()
            .name("dermaga-proxy-ctl".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        eprintln!("[ALERT] control thread: {e}");
                        return;
                    }
                };
                let local = tokio::task::LocalSet::new();
                local.block_on(&rt, async move {
                    crate::check::start_all(&h2.shared);
                    crate::stats::serve_all(h2.clone(), stats);
                    let mut rx = rx2;
                    let _ = rx.wait_for(|v| *v != RUN).await;
                });
            })?;
        threads.push(control);
        Ok(Proxy {
            handle,
            threads,
            bound,
        })
    }

    /// The handle to change servers and stop the proxy.
    pub fn handle(&self) -> ProxyHandle {
        self.handle.clone()
    }

    /// The addresses the frontend (or listen section) called `name` listens on; with port 0
    /// in the configuration, the ports the system chose.
    pub fn local_addrs(&self, name: &str) -> Vec<SocketAddr> {
        self.bound
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, a)| *a)
            .collect()
    }

    /// Stops now: listeners close, connections are cut.
    pub fn stop(&self) {
        self.handle.stop();
    }

    /// Stops accepting, lets in-flight requests end, then stops.
    pub fn soft_stop(&self) {
        self.handle.soft_stop();
    }

    /// Waits for every thread to end (after a stop).
    pub fn wait(self) {
        for t in self.threads {
            let _ = t.join();
        }
    }
}

impl ProxyHandle {
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    pub fn stop(&self) {
        self.shared.stopping.store(true, Relaxed);
        let _ = self.stop.send(HARD_STOP);
    }

    pub fn soft_stop(&self) {
        self.shared.stopping.store(true, Relaxed);
        self.stop.send_if_modified(|v| {
            if *v == RUN {
                *v = SOFT_STOP;
                true
            } else {
                false
            }
        });
    }

    /// Whether a stop was asked.
    pub fn stopping(&self) -> bool {
        self.shared.stopping.load(Relaxed)
    }

    fn find(
        &self,
        backend: &str,
        server: &str,
    ) -> Result<(Arc<crate::state::Backend>, Arc<Server>), String> {
        let b = self
            .shared
            .backend(backend)
            .ok_or_else(|| "No such backend.".to_string())?;
        let s = b
            .server(server)
            .ok_or_else(|| "No such server.".to_string())?;
        Ok((b.clone(), s))
    }

    /// `set server B/S state ready|drain|maint`.
    pub fn set_server_state(
        &self,
        backend: &str,
        server: &str,
        st: AdminState,
    ) -> Result<(), String> {
        let (b, s) = self.find(backend, server)?;
        set_admin_state(&self.shared, &b, &s, st);
        Ok(())
    }

    /// `set server B/S weight N`.
    pub fn set_server_weight(
        &self,
        backend: &str,
        server: &str,
        weight: u32,
    ) -> Result<(), String> {
        if weight > 256 {
            return Err("Absolute weight can only be between 0 and 256 inclusive.".into());
        }
        let (b, s) = self.find(backend, server)?;
        s.uweight.store(weight, Relaxed);
        b.bump();
        Ok(())
    }

    /// Adds a server to a backend (it takes traffic at once, without health checks).
    pub fn add_server(
        &self,
        backend: &str,
        name: &str,
        addr: SocketAddr,
        weight: u32,
    ) -> Result<(), String> {
        let b = self
            .shared
            .backend(backend)
            .ok_or_else(|| "No such backend.".to_string())?
            .clone();
        if b.server(name).is_some() {
            return Err(format!(
                "Already exists a server with the same name in backend '{backend}'."
            ));
        }
        let mut list = b
            .servers
            .write()
            .map_err(|_| "internal error".to_string())?;
        let id = list.iter().map(|s| s.id).max().unwrap_or(0) + 1;
        let model = config::Server {
            loc: config::Location::new("<runtime>", 0),
            name: name.to_string(),
            addr_text: addr.to_string(),
            addr,
            port_offset: None,
            options: config::ServerOptions {
                weight,
                ..b.settings.default_server.clone()
            },
        };
        let mut v: Vec<Arc<Server>> = list.as_ref().clone();
        v.push(Arc::new(Server::from_model(&model, backend, id)));
        *list = Arc::new(v);
        drop(list);
        b.bump();
        Ok(())
    }

    /// Removes a server from a backend; connections in flight finish.
    pub fn remove_server(&self, backend: &str, name: &str) -> Result<(), String> {
        let b = self
            .shared
            .backend(backend)
            .ok_or_else(|| "No such backend.".to_string())?
            .clone();
        let mut list = b
            .servers
            .write()
            .map_err(|_| "internal error".to_string())?;
        let before = list.len();
        let v: Vec<Arc<Server>> = list.iter().filter(|s| s.name != name).cloned().collect();
        if v.len() == before {
            return Err("No such server.".into());
        }
        if let Some(s) = list.iter().find(|s| s.name == name) {
            s.removed.store(true, Relaxed);
        }
        *list = Arc::new(v);
        drop(list);
        b.bump();
        Ok(())
    }

    /// Names and states of a backend's servers (`UP`, `DOWN`, `MAINT`, `DRAIN`, ...).
    pub fn server_states(&self, backend: &str) -> Option<Vec<(String, String)>> {
        let b = self.shared.backend(backend)?;
        Some(
            b.servers()
                .iter()
                .map(|s| (s.name.clone(), s.status_text()))
                .collect(),
        )
    }

    /// Takes the certificates and TLS settings of `config`'s `bind ... ssl` lines (loaded
    /// again from their files by [`config::load`]): new connections use them, connections
    /// already open keep theirs. Each TLS bind of the running proxy must still be there, as
    /// the same frontend's bind line of the same rank with `ssl`; the error names the first
    /// that is not, and then nothing is changed. Gives how many listeners changed.
    pub fn reload_tls(&self, config: &Config) -> Result<usize, String> {
        let mut updates = Vec::new();
        for l in self.tls.iter() {
            let fe = config
                .frontends()
                .find(|p| p.name == l.frontend)
                .ok_or_else(|| format!("frontend '{}' is gone", l.frontend))?;
            let tls = fe
                .binds
                .get(l.bind)
                .and_then(|b| b.tls.as_ref())
                .ok_or_else(|| {
                    format!(
                        "frontend '{}' has no 'bind ... ssl' line of rank {} any more",
                        l.frontend,
                        l.bind + 1
                    )
                })?;
            updates.push((&l.slot, tls.config.clone()));
        }
        let n = updates.len();
        for (slot, cfg) in updates {
            slot.store(cfg);
        }
        Ok(n)
    }

    /// Writes every server's state to the logs (SIGHUP).
    pub fn log_server_states(&self) {
        crate::check::log_all_states(&self.shared);
    }
}

/// Puts server `s` of backend `b` in administrative state `st` (the stats socket's `set
/// server ... state` and the statistics page's admin forms), logged as haproxy logs it.
pub(crate) fn set_admin_state(
    shared: &Shared,
    b: &crate::state::Backend,
    s: &Server,
    st: AdminState,
) {
    let before = s.usable();
    match st {
        AdminState::Ready => s.admin.store(0, Relaxed),
        AdminState::Drain => s.admin.store(ADMIN_DRAIN, Relaxed),
        AdminState::Maint => s.admin.store(ADMIN_MAINT, Relaxed),
    }
    if before != s.usable() {
        s.last_change.store(crate::state::now_secs(), Relaxed);
    }
    crate::check::log_admin_change(shared, b, s, st);
    b.bump();
}
