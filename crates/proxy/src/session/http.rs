//! HTTP mode: one client connection, any number of requests on it (keep-alive, pipelining),
//! each forwarded to a server connection taken from the thread's idle pool or opened anew.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::io::AsyncWriteExt;

use super::hdrs::HeaderList;
use super::{turnaround, with_deadline, with_timeout, Buf, Conn, Timer};
use crate::config::model::HeaderCapture;
use crate::config::{Balance, CookieMode, HttpConnMode, Proxy, StatsPage};
use crate::http1::{self, BodyKind, ChunkedScanner, Parsed, RequestHead, ResponseHead};
use crate::log::{LogRecord, Retries, Tm};
use crate::parking::Parked;
use crate::rules::{self, Answer, ErrorPages, HttpSample, ReqState, Verdict};
use crate::selection::{hash, Key};
use crate::state::{Backend, Frontend, Server};
use crate::stats_page;
use crate::worker::{NoServer, Worker, RUN};

/// How a transaction ended, for the session loop.
enum Next {
    /// Keep the client connection for another request.
    KeepAlive,
    Close,
    /// No request came for a while: give the memory back and wait in the small, cold state.
    /// Carries when the idleness started and the idle timeout in force.
    Park(Instant, Option<Duration>),
}

/// How long a connection waits for its next request in the hot state (everything kept for an
/// allocation-free request) before parking (buffers and vectors released, small future).
/// Short: a busy client sends its next request within this, while clients that connect,
/// ask once and idle (the many) give their hot state back before the next ones need it, so
/// the freed memory is reused instead of being left in holes between the parked tasks.
const PARK_AFTER: Duration = Duration::from_millis(50);

/// The log line of a request the proxy answered itself (`deny`, `return`, a redirect).
struct LocalLog<'a> {
    /// The proxy whose rule answered: the frontend, or the backend.
    be: &'a str,
    status: u16,
    /// The termination state's first two characters.
    term: [u8; 2],
    /// `%TR` in milliseconds (-1: not measured).
    t_req: i64,
    /// `%Tw` in milliseconds: the tarpit's hold (-1: none).
    t_wait: i64,
    t_start: Instant,
    accept: Tm,
}

/// What an answer made here for a request a backend could not serve needs to know of it
/// (no server left after retries, or a server that failed).
struct FailedRequest {
    mode: HttpConnMode,
    /// Read whole: it has no body.
    keepable: bool,
    /// `%TR` and `%Tw` in milliseconds.
    timers: [i64; 2],
    t_start: Instant,
    accept: Tm,
    /// Where the request starts in the client buffer, and its head's length.
    request: (usize, usize),
}

/// How far a request that a server failed had gone: `%Tc`, whether the whole of it reached
/// the server (its body too, unless the body waits for a 100 or flows on its own task), and
/// the body bytes taken from the client buffer.
struct Sent {
    t_connect: i64,
    whole: bool,
    body_from_buf: usize,
}

impl Sent {
    /// What went to the server: the request is whole unless its body still waits for a
    /// 100 Continue (`deferred`) or flows on its own task (`duplex`).
    fn so_far(t_connect: Duration, deferred: bool, duplex: bool, body_from_buf: usize) -> Sent {
        Sent {
            t_connect: ms(t_connect),
            whole: !deferred && !duplex,
            body_from_buf,
        }
    }
}

/// What the hot loop ended with.
enum Hot {
    Close,
    Parked(Instant, Option<Duration>),
}

struct Session<'a> {
    w: &'a Rc<Worker>,
    fe: &'a Arc<Frontend>,
    cli: &'a mut Conn,
    peer: SocketAddr,
    local: SocketAddr,
    cbuf: Buf,
    sbuf: Buf,
    req: RequestHead,
    resp: ResponseHead,
    hdrs: HeaderList,
    rhdrs: HeaderList,
    out: Vec<u8>,
    uri: Vec<u8>,
    scratch: Vec<u8>,
    reqline: Vec<u8>,
    logline: String,
    /// `capture request header` values for the log line, as `{a|b}` (empty without captures).
    cap_req: String,
    /// `capture response header` values, likewise.
    cap_resp: String,
    /// Length of the request head at the start of `out`.
    scratch_head_len: usize,
    /// The chunked scanner after the body bytes that came with the head.
    chunk_state: std::cell::Cell<Option<ChunkedScanner>>,
    /// Bytes sent to the client for the current response (for the log).
    bytes_out: u64,
    /// When the connection was accepted, while no request was served on it and the frontend
    /// logs: the start of a `<BADREQ>` line.
    opened: Option<SystemTime>,
    /// The current request's connection retries (`%rc`).
    retries: Retries,
    /// Waits for the client's next request.
    cli_timer: Timer,
    /// Waits for a server's answer head.
    srv_timer: Timer,
}

pub async fn run(
    w: &Rc<Worker>,
    fe: &Arc<Frontend>,
    cli: Conn,
    peer: SocketAddr,
    local: SocketAddr,
) {
    serve(w, fe, cli, peer, local, Some(fresh(fe)), false).await;
}

fn logs_to_any(fe: &Frontend) -> bool {
    !fe.model.settings.logs.targets.is_empty()
}

/// A client connection on which no request was served yet.
#[derive(Clone, Copy, Debug)]
pub struct Unserved {
    /// When it was accepted, when the frontend logs: the date and `%Ta` of a `<BADREQ>` line.
    pub opened: Option<SystemTime>,
}

/// Serves an HTTP/1 client connection until it closes, or until it idles between requests:
/// then it is given back, for the worker's parking lot. `unserved`: no request was served on
/// it yet ([`fresh`] at the accept).
pub async fn run_parkable(
    w: &Rc<Worker>,
    fe: &Arc<Frontend>,
    cli: Conn,
    peer: SocketAddr,
    local: SocketAddr,
    unserved: Option<Unserved>,
) -> Option<Parked> {
    serve(w, fe, cli, peer, local, unserved, true).await
}

/// A connection that has not sent its first request yet, accepted now.
pub fn fresh(fe: &Frontend) -> Unserved {
    Unserved {
        opened: logs_to_any(fe).then(SystemTime::now),
    }
}

async fn serve(
    w: &Rc<Worker>,
    fe: &Arc<Frontend>,
    mut cli: Conn,
    peer: SocketAddr,
    local: SocketAddr,
    mut unserved: Option<Unserved>,
    park: bool,
) -> Option<Parked> {
    loop {
        let first = unserved.is_some();
        // The hot state (the session's buffers and vectors, a whole transaction's future)
        // lives in one allocation, made once per connection and again only when a parked
        // connection wakes up: under load no request allocates, and a parked connection costs
        // only its socket and a slot in the parking lot (or this small future).
        let opened = unserved.and_then(|u| u.opened);
        match Box::pin(hot(w, fe, &mut cli, peer, local, first, opened)).await {
            Hot::Close => break,
            Hot::Parked(since, idle_to) => {
                // A connection parks only after a request: its first one came at once (the
                // protocol check waited for it).
                unserved = None;
                if park && cli.tcp().is_some() && *w.stop.borrow() == RUN {
                    let since = tokio::time::Instant::from_std(since);
                    return Some(Parked {
                        conn: cli,
                        fe: fe.clone(),
                        peer,
                        local,
                        deadline: idle_to.map(|t| since + t),
                    });
                }
                let remaining = idle_to.map(|t| t.saturating_sub(since.elapsed()));
                let woke = tokio::select! {
                    r = with_timeout(remaining, cli.readable()) => r.is_ok(),
                    _ = w.stopping.raised() => false,
                };
                if !woke {
                    break;
                }
            }
        }
    }
    if !cli.is_plain() {
        // TLS ends with close_notify, as haproxy ends it; bounded, since the peer may be gone.
        let _ = tokio::time::timeout(Duration::from_millis(200), cli.shutdown()).await;
    }
    None
}

async fn hot(
    w: &Rc<Worker>,
    fe: &Arc<Frontend>,
    cli: &mut Conn,
    peer: SocketAddr,
    local: SocketAddr,
    first: bool,
    opened: Option<SystemTime>,
) -> Hot {
    let mut s = Session::new(w, fe, cli, peer, local, opened);
    let r = s.hot(first).await;
    s.release();
    r
}

/// Answers a client that said nothing before its request timeout as haproxy does: a 408
/// (unless `option http-ignore-probes`) and a `<BADREQ>` line (unless that or `option
/// dontlognull`).
pub async fn answer_silent(
    w: &Rc<Worker>,
    fe: &Arc<Frontend>,
    mut cli: Conn,
    peer: SocketAddr,
    local: SocketAddr,
    unserved: Unserved,
) {
    let mut s = Session::new(w, fe, &mut cli, peer, local, unserved.opened);
    s.probe_timed_out().await;
    s.release();
}

impl<'a> Session<'a> {
    fn new(
        w: &'a Rc<Worker>,
        fe: &'a Arc<Frontend>,
        cli: &'a mut Conn,
        peer: SocketAddr,
        local: SocketAddr,
        opened: Option<SystemTime>,
    ) -> Session<'a> {
        Session {
            w,
            fe,
            cli,
            peer,
            local,
            cbuf: Buf::empty(),
            sbuf: Buf::empty(),
            req: RequestHead::default(),
            resp: ResponseHead::default(),
            hdrs: HeaderList::default(),
            rhdrs: HeaderList::default(),
            out: Vec::new(),
            uri: Vec::new(),
            scratch: Vec::new(),
            reqline: Vec::new(),
            logline: String::new(),
            cap_req: String::new(),
            cap_resp: String::new(),
            scratch_head_len: 0,
            chunk_state: std::cell::Cell::new(None),
            bytes_out: 0,
            opened,
            retries: Retries::default(),
            cli_timer: Timer::default(),
            srv_timer: Timer::default(),
        }
    }

    /// The first request did not come within its timeout.
    async fn probe_timed_out(&mut self) {
        if !self.fe.model.settings.logs.ignore_probes {
            self.error(408, None).await;
        }
        let began = self.opened.unwrap_or_else(SystemTime::now);
        self.log_badreq(408, *b"cR", began, true);
    }
}

/// haproxy's answer to the monitor URI while the service is up.
const MONITOR_OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 58\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n\r\n<html><body><h1>200 OK</h1>\nService ready.\n</body></html>\n";

fn ms(d: Duration) -> i64 {
    d.as_millis() as i64
}

impl Session<'_> {
    /// Requests one after the other while they keep coming.
    async fn hot(&mut self, mut first: bool) -> Hot {
        loop {
            match self.transaction(first).await {
                Next::KeepAlive => {}
                Next::Close => return Hot::Close,
                Next::Park(since, to) => return Hot::Parked(since, to),
            }
            first = false;
            self.opened = None;
            // Buffers go back to the pool while the connection idles.
            if self.cbuf.is_empty() && self.cbuf.is_allocated() {
                self.w.give_buf(std::mem::take(&mut self.cbuf.data));
                self.cbuf.clear();
            }
            if self.sbuf.is_allocated() {
                self.w.give_buf(std::mem::take(&mut self.sbuf.data));
                self.sbuf.clear();
            }
        }
    }

    /// Gives the buffers back to the thread's pool.
    fn release(&mut self) {
        if self.cbuf.is_allocated() {
            self.w.give_buf(std::mem::take(&mut self.cbuf.data));
            self.cbuf.clear();
        }
        if self.sbuf.is_allocated() {
            self.w.give_buf(std::mem::take(&mut self.sbuf.data));
            self.sbuf.clear();
        }
    }

    async fn send_raw(&mut self, bytes: &[u8]) {
        let _ = self.cli.send(bytes).await;
        self.bytes_out = bytes.len() as u64;
    }

    /// Sends a proxy-made response; `close` adds `connection: close`.
    async fn respond(&mut self, mut resp: Vec<u8>, close: bool) {
        // An HTTP/1.0 client keeps the connection only when told to, as haproxy tells it.
        let line: &[u8] = if close {
            b"connection: close\r\n"
        } else if self.req.minor == 0 && !self.cli.is_h2_stream() {
            b"connection: keep-alive\r\n"
        } else {
            b""
        };
        // The answer to a HEAD request has no body (its content-length stays, as haproxy's).
        if self.req.is_head(self.cbuf.pending()) {
            if let Some(p) = find_head_end(&resp) {
                resp.truncate(p + 2);
            }
        }
        if !line.is_empty() {
            if let Some(p) = find_head_end(&resp) {
                resp.splice(p..p, line.iter().copied());
            }
        }
        self.send_raw(&resp).await;
    }

    async fn error(&mut self, status: u16, be: Option<&Proxy>) {
        let page = self.error_page(status, be);
        self.respond(page, true).await;
    }

    /// The page for `status` (the backend's `errorfile`, else the frontend's, else the
    /// built-in one), counted in the frontend's statistics.
    fn error_page(&self, status: u16, be: Option<&Proxy>) -> Vec<u8> {
        self.fe.counters.count_status(status);
        ErrorPages {
            backend: be,
            frontend: &self.fe.model,
        }
        .page(status)
    }

    /// Answers a request the servers could not serve (503, 502, 504) with the error page.
    /// As haproxy, the connection stays open for the next request when this one was read
    /// whole (`keepable`) and the client keeps alive; gives whether it stays.
    async fn error_keeping(
        &mut self,
        status: u16,
        be: &Proxy,
        mode: HttpConnMode,
        keepable: bool,
    ) -> bool {
        let page = self.error_page(status, Some(be));
        let keep = mode != HttpConnMode::Close && self.may_keep(keepable);
        self.respond(page, !keep).await;
        keep
    }

    /// The statistics page of proxy `px` (or haproxy's 401 when `stats auth` accounts do not
    /// match), logged as haproxy logs it (`px/<STATS>`, `LR--`).
    #[allow(clippy::too_many_arguments)]
    async fn stats_page(
        &mut self,
        page: &StatsPage,
        admin: Option<&crate::acl::Condition>,
        px: &str,
        (has_body, buf_start, head_len): (bool, usize, usize),
        t_req: Duration,
        t_start: Instant,
        accept: Tm,
    ) -> Next {
        let buf = &self.cbuf.data[buf_start..self.cbuf.end];
        let authorization = self.hdrs.get(buf, b"authorization");
        let authorized = stats_page::authorized(page, authorization);
        let post = authorized && self.req.method.get(buf) == b"POST";
        let admin = authorized && {
            let sample = self.sample(buf);
            admin.is_some_and(|c| c.eval(&sample))
        };
        let (answer, status) = if post {
            // An admin form: its body (small, with a length) is read whole first.
            let outcome = match self.read_small_body(buf_start + head_len).await {
                Some(form) if admin => stats_page::apply_admin_form(&self.w.shared, &form),
                Some(_) => stats_page::AdminOutcome::Denied,
                None => stats_page::AdminOutcome::Invalid,
            };
            (stats_page::admin_redirect(page, outcome), 303)
        } else if authorized {
            let answer = stats_page::answer(&self.w.shared, page, &self.uri, admin);
            (answer, 200)
        } else {
            (stats_page::unauthorized(page), 401)
        };
        self.fe.counters.count_status(status);
        // haproxy closes after asking for credentials; a request with a body closes too.
        let keep = status == 200 && self.may_keep(!has_body);
        self.respond(answer, !keep).await;
        let tr = if status == 200 { 0 } else { -1 };
        self.log_http(
            px,
            "<STATS>",
            ms(t_req),
            0,
            0,
            tr,
            t_start,
            i32::from(status),
            accept,
            *b"LR",
        );
        self.after_answer(keep, buf_start, head_len)
    }

    /// The request in `buf` (the client buffer from the request's first byte) as the rules
    /// see it.
    fn sample<'s>(&'s self, buf: &'s [u8]) -> HttpSample<'s> {
        HttpSample {
            buf,
            method: self.req.method.get(buf),
            url: &self.uri,
            minor: self.req.minor,
            hdrs: &self.hdrs,
            src: self.peer,
            dst: self.local,
            tls: self.cli.tls_view(),
            shared: &self.w.shared,
        }
    }

    /// The request body starting at `at` in the client buffer, when it has a length of at
    /// most 8 KiB: read whole, within `timeout client`. `None` for any other body.
    async fn read_small_body(&mut self, at: usize) -> Option<Vec<u8>> {
        let n = match self.req.body {
            BodyKind::None => 0,
            BodyKind::Length(n) if n <= 8192 => n as usize,
            _ => return None,
        };
        let to = self.fe.model.settings.timeouts.client;
        // Reading may move the buffer's contents to its front: kept relative to its start.
        let rel = at.checked_sub(self.cbuf.start)?;
        while self.cbuf.len() < rel + n {
            if self.cbuf.is_full() {
                return None;
            }
            match with_timeout(to, self.cbuf.read_from(self.cli)).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
        let from = self.cbuf.start + rel;
        Some(self.cbuf.data[from..from + n].to_vec())
    }

    /// Holds a tarpitted request for `timeout tarpit` (else `timeout connect`), as haproxy;
    /// gives the time held in milliseconds, or `None` for any other answer.
    async fn tarpit(&self, why: Answer, t: &crate::config::Timeouts) -> Option<i64> {
        if why != Answer::Tarpit {
            return None;
        }
        let hold = t.tarpit.or(t.connect).unwrap_or_default();
        tokio::time::sleep(hold).await;
        Some(ms(hold))
    }

    /// The answer to the monitor URI: 200 "Service ready", or the 503 page when a
    /// `monitor fail` condition holds.
    async fn monitor(&mut self, has_body: bool, buf_start: usize, head_len: usize) -> Next {
        let fe = self.fe.clone();
        let failed = !fe.model.monitor_fail.is_empty() && {
            let buf = &self.cbuf.data[buf_start..self.cbuf.end];
            let sample = self.sample(buf);
            fe.model.monitor_fail.iter().any(|c| c.eval(&sample))
        };
        let page = if failed {
            self.error_page(503, None)
        } else {
            self.fe.counters.count_status(200);
            MONITOR_OK.to_vec()
        };
        let keep = self.may_keep(!has_body);
        self.respond(page, !keep).await;
        self.after_answer(keep, buf_start, head_len)
    }

    /// A retry found no server to go to: haproxy's 503 `SC`, logged, the connection kept
    /// as [`Session::error_keeping`] says.
    async fn no_server_left(&mut self, backend: &Backend, f: &FailedRequest) -> Next {
        let keep = self
            .error_keeping(503, &backend.model, f.mode, f.keepable)
            .await;
        let [t_req, t_queue] = f.timers;
        self.log_http(
            &backend.name,
            "<NOSRV>",
            t_req,
            t_queue,
            -1,
            -1,
            f.t_start,
            503,
            f.accept,
            *b"SC",
        );
        self.after_answer(keep, f.request.0, f.request.1)
    }

    /// Whether the connection stays after an answer made here: the request was read whole
    /// (`whole`), the client keeps alive and the proxy is not stopping.
    fn may_keep(&self, whole: bool) -> bool {
        whole && self.req.wants_keep_alive() && !self.w.shared.stopping.load(Relaxed)
    }

    /// After a locally made answer (already logged): the request's `used` bytes leave the
    /// buffer when the connection stays.
    fn after_answer(&mut self, keep: bool, buf_start: usize, used: usize) -> Next {
        if keep {
            self.consume_request(buf_start, used);
            Next::KeepAlive
        } else {
            Next::Close
        }
    }

    /// Waits for and reads one request head; the error says what to do with the connection.
    async fn read_head(&mut self, first: bool) -> Result<Instant, Next> {
        let t = &self.fe.model.settings.timeouts;
        let req_to = t.http_request.or(t.client);
        let idle_to = if first {
            req_to
        } else {
            t.http_keep_alive.or(t.http_request).or(t.client)
        };
        if self.cbuf.is_empty() {
            // Idle: wait for the first byte without holding a buffer, for a while in this hot
            // state, then parked (see `run`).
            // A connection that has not asked anything yet does not park: its silence ends
            // in a 408 and a log line (`probe_timed_out`), as in haproxy.
            let hot_wait = match idle_to {
                _ if first => idle_to,
                Some(t) if t <= PARK_AFTER => Some(t),
                _ => Some(PARK_AFTER),
            };
            let w = self.w;
            let readable = self.cli_timer.run(hot_wait, self.cli.readable());
            // Biased: the request first, and no random draw per wait.
            tokio::select! {
                biased;
                r = readable => {
                    if r.is_err() && first {
                        self.probe_timed_out().await;
                        return Err(Next::Close);
                    }
                    if r.is_err() {
                        return Err(if idle_to.is_some_and(|t| t <= PARK_AFTER) {
                            Next::Close
                        } else {
                            // Idle since the hot wait began (a clock read only when parking).
                            let idle_start = Instant::now() - hot_wait.unwrap_or_default();
                            Next::Park(idle_start, idle_to)
                        });
                    }
                }
                _ = w.stopping.raised(), if !first => return Err(Next::Close),
            }
            if *self.w.stop.borrow() != RUN && !first {
                return Err(Next::Close);
            }
        }
        if !self.cbuf.is_allocated() {
            self.cbuf.data = self.w.take_buf();
        }
        // One clock read gives both the start (for the log) and the deadline.
        let now = tokio::time::Instant::now();
        let start = now.into_std();
        let deadline = req_to.map(|d| now + d);
        // A `<BADREQ>` line starts at the accept for a connection's first request, else at
        // the request's first bytes.
        let began = |opened: Option<SystemTime>| {
            opened.unwrap_or_else(|| SystemTime::now() - start.elapsed())
        };
        loop {
            if !self.cbuf.is_empty() {
                // An HTTP/2 stream's head usually comes parsed by its connection.
                let parsed = match &self.cli {
                    Conn::H2(h) => h.take_parsed_head(&mut self.req, self.cbuf.pending()),
                    _ => false,
                };
                let result = if parsed {
                    Ok(Parsed::Complete(self.req.head_len))
                } else {
                    self.req.parse(self.cbuf.pending())
                };
                match result {
                    Ok(Parsed::Complete(_)) => return Ok(start),
                    Ok(Parsed::Partial) => {
                        if self.cbuf.is_full() {
                            self.fe.counters.req_errors.fetch_add(1, Relaxed);
                            self.error(400, None).await;
                            self.log_badreq(400, *b"PR", began(self.opened), false);
                            return Err(Next::Close);
                        }
                    }
                    Err(e) => {
                        self.fe.counters.req_errors.fetch_add(1, Relaxed);
                        let status = e.status();
                        self.error(status, None).await;
                        self.log_badreq(i32::from(status), *b"PR", began(self.opened), false);
                        return Err(Next::Close);
                    }
                }
            }
            let got = self.cbuf.len();
            let r = match deadline {
                Some(dl) => {
                    match with_deadline(dl, self.cbuf.read_from(self.cli)).await {
                        Some(r) => r,
                        None => {
                            // haproxy answers a first request that never came, too, unless
                            // told these are a browser's pre-connections.
                            let probe = got == 0;
                            if !probe || (first && !self.fe.model.settings.logs.ignore_probes) {
                                self.error(408, None).await;
                            }
                            if !probe || first {
                                self.log_badreq(408, *b"cR", began(self.opened), probe);
                            }
                            return Err(Next::Close);
                        }
                    }
                }
                None => self.cbuf.read_from(self.cli).await,
            };
            match r {
                Ok(0) | Err(_) => {
                    // A keep-alive client that leaves between requests is no bad request;
                    // one that shut its side before a whole request gets haproxy's 400.
                    if got > 0 || first {
                        if got > 0 || !self.fe.model.settings.logs.ignore_probes {
                            self.error(400, None).await;
                        }
                        self.log_badreq(400, *b"CR", began(self.opened), got == 0);
                    }
                    return Err(Next::Close);
                }
                Ok(_) => {}
            }
        }
    }

    async fn transaction(&mut self, first: bool) -> Next {
        let t_start = match self.read_head(first).await {
            Ok(t) => t,
            Err(next) => return next,
        };
        let shared = self.w.shared.clone();
        self.retries = Retries::default();
        shared.total_requests.fetch_add(1, Relaxed);
        self.fe.counters.http_requests.fetch_add(1, Relaxed);
        let logging = !self.fe.model.settings.logs.targets.is_empty();
        // The timings below only feed log lines: without a log, the clock is not read.
        let t_req = Stamp::at(logging, t_start).elapsed();
        let accept_tm = if logging {
            Tm::now()
        } else {
            // No log line will show it: no calendar arithmetic per request.
            Tm::EPOCH
        };

        // Everything below reads the head through spans relative to the buffer's start, which
        // stays where it is until the transaction ends.
        let head_len = self.req.head_len;
        let buf_start = self.cbuf.start;
        self.uri.clear();
        self.uri
            .extend_from_slice(self.req.uri(self.cbuf.pending()));
        self.hdrs.load(&self.req.headers);
        self.cap_req.clear();
        self.cap_resp.clear();
        if logging {
            let b = self.cbuf.pending();
            capture(
                &self.fe.model.capture_request,
                &self.hdrs,
                b,
                &mut self.cap_req,
            );
            self.reqline.clear();
            self.reqline.extend_from_slice(self.req.method(b));
            self.reqline.push(b' ');
            self.reqline.extend_from_slice(self.req.uri(b));
            // An HTTP/2 stream's request is logged as haproxy logs it, `HTTP/2.0`.
            self.reqline.extend_from_slice(if self.cli.is_h2_stream() {
                b" HTTP/2.0"
            } else if self.req.minor == 0 {
                b" HTTP/1.0"
            } else {
                b" HTTP/1.1"
            });
        }
        let is_head = self.req.is_head(self.cbuf.pending());
        let has_body = self.req.body != BodyKind::None;
        // A chunked body whose first bytes are already malformed is refused before any
        // server sees the request.
        if self.req.body == BodyKind::Chunked {
            let start = buf_start + head_len;
            if ChunkedScanner::new()
                .scan(&self.cbuf.data[start..self.cbuf.end])
                .is_err()
            {
                self.fe.counters.req_errors.fetch_add(1, Relaxed);
                self.error(400, None).await;
                return Next::Close;
            }
        }

        // `monitor-uri`: answered here, before any rule, and not logged (as haproxy).
        if let Some(uri) = &self.fe.model.settings.monitor_uri {
            if self.uri == uri.as_bytes() {
                return self.monitor(has_body, buf_start, head_len).await;
            }
        }

        // Frontend rules, then the choice of backend, then the backend's rules.
        let fe_model = &self.fe.model;
        let be_ref_idx: Option<usize>;
        {
            let buf = &self.cbuf.data[buf_start..self.cbuf.end];
            let method = self.req.method.get(buf);
            let mut st = ReqState {
                buf,
                method,
                minor: self.req.minor,
                uri: &mut self.uri,
                hdrs: &mut self.hdrs,
                src: self.peer,
                dst: self.local,
                scratch: &mut self.scratch,
                tls: self.cli.tls_view(),
                shared: &self.w.shared,
            };
            let errors = ErrorPages {
                backend: None,
                frontend: fe_model,
            };
            if let Verdict::Respond(r, status, why) =
                rules::http_request(fe_model, &mut st, &self.fe.name, "", &errors)
            {
                self.fe.counters.count_status(status);
                if status == 403 || why == Answer::Tarpit {
                    self.fe.counters.denied_req.fetch_add(1, Relaxed);
                }
                let held = self.tarpit(why, &self.fe.model.settings.timeouts).await;
                let fe = self.fe.clone();
                let logged = LocalLog {
                    be: &fe.name,
                    status,
                    term: why.term(),
                    t_req: if held.is_some() { -1 } else { ms(t_req) },
                    t_wait: held.unwrap_or(-1),
                    t_start,
                    accept: accept_tm,
                };
                return self
                    .finish_local(r, has_body, buf_start, head_len, logged)
                    .await;
            }
            be_ref_idx = match self.fe.own_backend {
                Some(i) => Some(i),
                None => {
                    let sample = self.sample(buf);
                    rules::select_backend(fe_model, &sample)
                        .and_then(|r| shared.backend_of_proxy.get(r.index).copied().flatten())
                }
            };
        }
        // The frontend's statistics page, after its rules (as haproxy).
        let stats = &self.fe.model.settings.stats_page;
        if stats
            .as_ref()
            .is_some_and(|p| stats_page::asked(p, &self.uri))
        {
            let fe = self.fe.clone();
            if let Some(page) = &fe.model.settings.stats_page {
                return self
                    .stats_page(
                        page,
                        fe.model.stats_admin.as_ref(),
                        &fe.name,
                        (has_body, buf_start, head_len),
                        t_req,
                        t_start,
                        accept_tm,
                    )
                    .await;
            }
        }
        let Some(be_idx) = be_ref_idx else {
            // No backend for it: haproxy's 503 (the connection kept), logged with no request
            // time (`-1`).
            let page = ErrorPages {
                backend: None,
                frontend: &self.fe.model,
            }
            .page(503);
            self.fe.counters.count_status(503);
            let fe = self.fe.clone();
            let logged = LocalLog {
                be: &fe.name,
                status: 503,
                term: *b"SC",
                t_req: -1,
                t_wait: -1,
                t_start,
                accept: accept_tm,
            };
            return self
                .finish_local(page, has_body, buf_start, head_len, logged)
                .await;
        };
        let backend: Arc<Backend> = shared.backends[be_idx].clone();
        let be_model = &backend.model;
        if self.fe.own_backend != Some(be_idx) {
            let buf = &self.cbuf.data[buf_start..self.cbuf.end];
            let method = self.req.method.get(buf);
            let mut st = ReqState {
                buf,
                method,
                minor: self.req.minor,
                uri: &mut self.uri,
                hdrs: &mut self.hdrs,
                src: self.peer,
                dst: self.local,
                scratch: &mut self.scratch,
                tls: self.cli.tls_view(),
                shared: &self.w.shared,
            };
            let errors = ErrorPages {
                backend: Some(be_model),
                frontend: fe_model,
            };
            if let Verdict::Respond(r, status, why) =
                rules::http_request(be_model, &mut st, &self.fe.name, &backend.name, &errors)
            {
                self.fe.counters.count_status(status);
                let held = self.tarpit(why, &be_model.settings.timeouts).await;
                let logged = LocalLog {
                    be: &backend.name,
                    status,
                    term: why.term(),
                    t_req: if held.is_some() { -1 } else { ms(t_req) },
                    t_wait: held.unwrap_or(-1),
                    t_start,
                    accept: accept_tm,
                };
                return self
                    .finish_local(r, has_body, buf_start, head_len, logged)
                    .await;
            }
        }
        // The backend's statistics page, after its rules.
        if self.fe.own_backend != Some(be_idx) {
            if let Some(page) = &be_model.settings.stats_page {
                if stats_page::asked(page, &self.uri) {
                    return self
                        .stats_page(
                            page,
                            be_model.stats_admin.as_ref(),
                            &backend.name,
                            (has_body, buf_start, head_len),
                            t_req,
                            t_start,
                            accept_tm,
                        )
                        .await;
                }
            }
        }
        backend.counters.http_requests.fetch_add(1, Relaxed);
        backend.counters.sessions_total.fetch_add(1, Relaxed);
        let conn_mode = effective_conn_mode(fe_model, be_model);

        // Persistence cookie, then the balancing key.
        let buf = &self.cbuf.data[buf_start..self.cbuf.end];
        let mut persist: Option<usize> = None;
        let servers = self.w.servers(be_idx);
        if let Some(ck) = &backend.settings.cookie {
            if let Some(v) = find_cookie(&self.hdrs, buf, ck.name.as_bytes()) {
                let v = if ck.mode == CookieMode::Prefix {
                    v.split(|&b| b == b'~').next().unwrap_or(v)
                } else {
                    v
                };
                persist = servers.iter().position(|s| {
                    s.opts.cookie.as_deref().map(str::as_bytes) == Some(v)
                        && s.usable_for_persistence()
                });
            }
        }
        let key = self.balance_key(&backend, buf);

        // Server selection, queueing, connection with retries.
        let t_q = Stamp::now(logging);
        let chosen = match persist {
            Some(p) => {
                let redispatch = backend.settings.redispatch.is_some();
                let to = queue_timeout(&backend);
                self.w
                    .assign_persistent(be_idx, p, servers.clone(), redispatch, key, to)
                    .await
            }
            None => {
                self.w
                    .assign(be_idx, key, None, queue_timeout(&backend))
                    .await
            }
        };
        let t_queue = t_q.elapsed();
        let on_failure = FailedRequest {
            mode: conn_mode,
            keepable: !has_body,
            timers: [ms(t_req), ms(t_queue)],
            t_start,
            accept: accept_tm,
            request: (buf_start, head_len),
        };
        let (mut sidx, mut slist) = match chosen {
            Ok(c) => c,
            Err(why) => {
                // As haproxy: the 503 keeps the connection for the client's next request.
                let term = match why {
                    NoServer::Unavailable => *b"SC",
                    NoServer::Queue => *b"sQ",
                };
                let page = ErrorPages {
                    backend: Some(be_model),
                    frontend: &self.fe.model,
                }
                .page(503);
                self.fe.counters.count_status(503);
                let logged = LocalLog {
                    be: &backend.name,
                    status: 503,
                    term,
                    t_req: ms(t_req),
                    t_wait: -1,
                    t_start,
                    accept: accept_tm,
                };
                return self
                    .finish_local(page, has_body, buf_start, head_len, logged)
                    .await;
            }
        };

        let bodyless = !has_body;
        let mut retries_left = backend.settings.retries;
        let mut redispatched = false;
        let t_c = Stamp::now(logging);
        let mut t_connect: Duration;
        // Build the outgoing head once (it does not depend on the server).
        self.build_request_head(buf_start, &backend, conn_mode);
        let body_in_buf = self.initial_body_len(buf_start, head_len);
        let mut body_sent_from_buf: usize;
        // Expect: 100-continue with no body bytes yet: send the head alone and let the server
        // say 100 (or answer at once) before the body is forwarded.
        let defer_body = self.req.expect_continue && has_body && body_in_buf == 0;
        let mut deferred: bool;

        let mut srv: Conn;
        let mut reused;
        let mut duplex;
        loop {
            let server = slist[sidx].clone();
            let target = server.target(self.local.port());
            // An HTTP/2 server's stream, an idle HTTP/1 connection, or a new one.
            let may_reuse = bodyless && conn_mode == HttpConnMode::KeepAlive;
            let c = crate::h2::upstream::open(
                self.w,
                be_idx,
                &server,
                target,
                backend.settings.timeouts.connect,
                may_reuse,
                (self.peer, self.local),
            )
            .await;
            match c {
                Ok((c, r)) => {
                    reused = r;
                    srv = c;
                    t_connect = t_c.elapsed();
                    crate::check::observe_ok(&server);
                }
                Err(e) => {
                    server.counters.conn_errors.fetch_add(1, Relaxed);
                    crate::check::observe_error(&shared, &backend, &server);
                    backend.counters.conn_errors.fetch_add(1, Relaxed);
                    if retries_left == 0 {
                        backend.release(&slist, sidx);
                        let keep = self.error_keeping(503, be_model, conn_mode, bodyless).await;
                        self.log_http(
                            &backend.name,
                            &server.name,
                            ms(t_req),
                            ms(t_queue),
                            -1,
                            -1,
                            t_start,
                            503,
                            accept_tm,
                            *b"SC",
                        );
                        return self.after_answer(keep, buf_start, head_len);
                    }
                    retries_left -= 1;
                    self.retries.count += 1;
                    server.counters.retries.fetch_add(1, Relaxed);
                    backend.counters.retries.fetch_add(1, Relaxed);
                    let same_server = if persist.is_none()
                        && retries_left == 0
                        && backend.settings.redispatch.is_some()
                        && !redispatched
                    {
                        redispatched = true;
                        backend.release(&slist, sidx);
                        backend.counters.redispatches.fetch_add(1, Relaxed);
                        let before = server.id;
                        match self.pick(be_idx, &backend, key, Some(sidx)).await {
                            Some((i, l)) => {
                                sidx = i;
                                slist = l;
                            }
                            None => {
                                return self.no_server_left(&backend, &on_failure).await;
                            }
                        }
                        // haproxy's `+` in the log: the retry went to another server.
                        self.retries.redispatched = slist[sidx].id != before;
                        !self.retries.redispatched
                    } else {
                        true
                    };
                    if same_server {
                        if let Some(pause) = turnaround(backend.settings.timeouts.connect, &e) {
                            tokio::time::sleep(pause).await;
                        }
                    }
                    continue;
                }
            }
            // Send the head with whatever body bytes came with it.
            deferred = defer_body;
            let body_part = body_in_buf;
            let start = buf_start + head_len;
            // The head ends with an empty line; an HTTP/2 server also learns that the client
            // takes trailers (`te` is hop-by-hop in HTTP/1.1, and gRPC servers require it).
            // (Looked up only for an HTTP/2 server: HTTP/1 requests pay nothing for it.)
            let te_trailers = srv.is_h2_stream()
                && self
                    .hdrs
                    .get(&self.cbuf.data[buf_start..self.cbuf.end], b"te")
                    .is_some_and(|v| http1::tokens(v).any(|t| t.eq_ignore_ascii_case(b"trailers")));
            if te_trailers {
                self.out.truncate(self.head_out_len() - 2);
                self.out.extend_from_slice(b"te: trailers\r\n\r\n");
            } else {
                self.out.truncate(self.head_out_len());
            }
            self.out
                .extend_from_slice(&self.cbuf.data[start..start + body_part]);
            // The streams of an HTTP/2 connection arrive together and wake their sessions in
            // one round. Each writing to its server at once would alternate this code with
            // the kernel's send path, and neither stays in the instruction cache; going to
            // the back of the run queue once lets every session of the round build its
            // request first, and the sends then follow one another.
            if self.cli.is_h2_stream() && !srv.is_h2_stream() {
                crate::session::after_the_round().await;
            }
            if srv.send(&self.out).await.is_err() {
                if reused {
                    continue; // the idle connection was dead: take another path, no retry spent
                }
                server.counters.resp_errors.fetch_add(1, Relaxed);
                backend.release(&slist, sidx);
                self.error(502, Some(be_model)).await;
                return Next::Close;
            }
            body_sent_from_buf = body_part;
            // Between two HTTP/2 streams the rest of the body flows on its own task while the
            // answer comes back: a gRPC client may wait for answers before it sends more.
            duplex = !deferred
                && has_body
                && self.cli.is_h2_stream()
                && srv.is_h2_stream()
                && self.lend_request_body(&mut srv, body_part);
            // Request body beyond what was in the buffer.
            if !deferred
                && !duplex
                && has_body
                && !self
                    .forward_request_body(&mut srv, buf_start, head_len, body_part)
                    .await
            {
                backend.release(&slist, sidx);
                return Next::Close;
            }
            if deferred {
                // Whichever speaks first: the server (100 or a final answer) or the client
                // (which stopped waiting and sends its body).
                let client_first = tokio::select! {
                    _ = srv.readable() => false,
                    _ = self.cli.readable() => true,
                };
                if client_first {
                    if !self
                        .forward_request_body(&mut srv, buf_start, head_len, 0)
                        .await
                    {
                        backend.release(&slist, sidx);
                        return Next::Close;
                    }
                    deferred = false;
                }
            }
            // Response head.
            match self.read_response_head(&mut srv, &backend, is_head).await {
                Ok(()) => {}
                Err(RespErr::Empty) if reused => continue,
                // An HTTP/2 server refused the stream before processing it: a connection
                // failure as haproxy counts it (`retry-on conn-failure`, the default).
                Err(RespErr::Empty)
                    if srv.refused()
                        && bodyless
                        && retries_left > 0
                        && backend.settings.retry_on.conn_failure =>
                {
                    retries_left -= 1;
                    self.retries.count += 1;
                    server.counters.retries.fetch_add(1, Relaxed);
                    backend.counters.retries.fetch_add(1, Relaxed);
                    continue;
                }
                Err(e) => {
                    server.counters.resp_errors.fetch_add(1, Relaxed);
                    backend.counters.resp_errors.fetch_add(1, Relaxed);
                    let retry_ok = bodyless
                        && retries_left > 0
                        && ((matches!(e, RespErr::Empty)
                            && backend.settings.retry_on.empty_response)
                            || (matches!(e, RespErr::Timeout)
                                && backend.settings.retry_on.response_timeout));
                    if retry_ok {
                        retries_left -= 1;
                        self.retries.count += 1;
                        backend.counters.retries.fetch_add(1, Relaxed);
                        continue;
                    }
                    backend.release(&slist, sidx);
                    let sent = Sent::so_far(t_connect, deferred, duplex, body_sent_from_buf);
                    return self
                        .server_failed(&e, &backend, &server.name, sent, &on_failure)
                        .await;
                }
            }
            // 1xx: forward, and go on with the body after a 100 Continue.
            while (100..200).contains(&self.resp.status) && self.resp.status != 101 {
                let n = self.resp.head_len;
                let interim = self.sbuf.pending()[..n].to_vec();
                if self.cli.send(&interim).await.is_err() {
                    backend.release(&slist, sidx);
                    return Next::Close;
                }
                self.sbuf.consume(n);
                if self.resp.status == 100 && deferred {
                    if !self
                        .forward_request_body(&mut srv, buf_start, head_len, 0)
                        .await
                    {
                        backend.release(&slist, sidx);
                        return Next::Close;
                    }
                    deferred = false;
                }
                if let Err(e) = self.read_response_head(&mut srv, &backend, is_head).await {
                    backend.release(&slist, sidx);
                    let sent = Sent::so_far(t_connect, deferred, duplex, body_sent_from_buf);
                    return self
                        .server_failed(&e, &backend, &server.name, sent, &on_failure)
                        .await;
                }
            }
            // retry-on <status>: try another server.
            let st = self.resp.status;
            if bodyless && retries_left > 0 && backend.settings.retry_on.statuses.contains(&st) {
                retries_left -= 1;
                backend.counters.retries.fetch_add(1, Relaxed);
                self.sbuf.clear();
                backend.release(&slist, sidx);
                if backend.settings.redispatch.is_some() {
                    match self.pick(be_idx, &backend, key, Some(sidx)).await {
                        Some((i, l)) => {
                            sidx = i;
                            slist = l;
                        }
                        None => {
                            return self.no_server_left(&backend, &on_failure).await;
                        }
                    }
                } else if !self.w.take_specific(be_idx, &slist[sidx]) {
                    return self.no_server_left(&backend, &on_failure).await;
                }
                continue;
            }
            break;
        }
        let _ = reused;
        let server = slist[sidx].clone();
        let t_resp = t_c.elapsed().saturating_sub(t_connect);
        let status = self.resp.status;
        server.counters.count_status(status);
        backend.counters.count_status(status);
        self.fe.counters.count_status(status);

        // Upgrade to a tunnel.
        if status == 101 {
            let n = self.resp.head_len;
            let head = self.sbuf.pending()[..n].to_vec();
            self.sbuf.consume(n);
            let _ = self.cli.send(&head).await;
            if !self.sbuf.is_empty() {
                let rest = self.sbuf.pending().to_vec();
                let _ = self.cli.send(&rest).await;
            }
            let leftover_start = buf_start + head_len + body_sent_from_buf;
            if leftover_start < self.cbuf.end {
                let rest = self.cbuf.data[leftover_start..self.cbuf.end].to_vec();
                let _ = srv.send(&rest).await;
            }
            self.cbuf.clear();
            self.sbuf.clear();
            let to = backend
                .settings
                .timeouts
                .tunnel
                .or(self.fe.model.settings.timeouts.tunnel)
                .or(backend.settings.timeouts.server);
            let limits = super::tunnel::Limits {
                idle: to,
                client_fin: self.fe.model.settings.timeouts.client_fin,
                server_fin: backend.settings.timeouts.server_fin,
            };
            super::tunnel::tunnel(self.cli, &mut srv, limits).await;
            backend.release(&slist, sidx);
            self.log_http(
                &backend.name,
                &server.name,
                ms(t_req),
                ms(t_queue),
                ms(t_connect),
                ms(t_resp),
                t_start,
                101,
                accept_tm,
                *b"--",
            );
            return Next::Close;
        }

        // Response head to the client.
        // A body still flowing on its own task holds the client's pipe: this stream's
        // session ends with the answer.
        let body_done_req = !deferred && !duplex;
        let stopping = shared.stopping.load(Relaxed);
        let client_keep = self.req.wants_keep_alive()
            && conn_mode != HttpConnMode::Close
            && self.resp.body != BodyKind::UntilClose
            && body_done_req
            && !stopping;
        let server_keep =
            conn_mode == HttpConnMode::KeepAlive && self.resp.server_keeps_alive() && body_done_req;
        let head_sent = self.build_response_head(buf_start, &backend, &server, client_keep);
        let n = self.resp.head_len;
        self.sbuf.consume(n);
        let (sent, ok) = self.forward_response_body(&mut srv, &backend).await;
        let sent = head_sent + sent;
        self.bytes_out = sent;
        server.counters.bytes_out.fetch_add(sent, Relaxed);
        backend.counters.bytes_out.fetch_add(sent, Relaxed);
        self.fe.counters.bytes_out.fetch_add(sent, Relaxed);
        if ok
            && server_keep
            && self.sbuf.is_empty()
            && !srv.is_h2_stream()
            && server.opts.send_proxy.is_none()
        {
            let target = server.target(self.local.port());
            self.w.park_conn(be_idx, server.id, target, srv);
        }
        backend.release(&slist, sidx);
        self.log_http(
            &backend.name,
            &server.name,
            ms(t_req),
            ms(t_queue),
            ms(t_connect),
            ms(t_resp),
            t_start,
            status as i32,
            accept_tm,
            if ok { *b"--" } else { *b"SD" },
        );

        // The request is done: drop it from the client buffer (pipelined bytes stay).
        let used = head_len + body_sent_from_buf;
        self.consume_request(buf_start, used);
        if ok && client_keep {
            Next::KeepAlive
        } else {
            Next::Close
        }
    }

    fn consume_request(&mut self, buf_start: usize, used: usize) {
        debug_assert_eq!(self.cbuf.start, buf_start);
        let avail = self.cbuf.len();
        self.cbuf.consume(used.min(avail));
        if !self.scratch.is_empty() {
            // Bytes of the next request read while streaming a chunked body.
            self.cbuf.compact();
            let extra = std::mem::take(&mut self.scratch);
            let room = self.cbuf.data.len() - self.cbuf.end;
            let n = extra.len().min(room);
            self.cbuf.data[self.cbuf.end..self.cbuf.end + n].copy_from_slice(&extra[..n]);
            self.cbuf.end += n;
        }
    }

    /// Sends a locally generated response, then keeps or closes the connection.
    /// Answers and logs a server that failed before its answer's head: 502 `SH` or, when
    /// `timeout server` struck, 504 `sH`. `timers`: `%TR`, `%Tw`, `%Tc` in milliseconds.
    /// A server failed the request (502) or did not answer in time (504): the page, a log
    /// line, and the connection kept when the request reached the server whole.
    async fn server_failed(
        &mut self,
        e: &RespErr,
        backend: &Backend,
        server: &str,
        sent: Sent,
        f: &FailedRequest,
    ) -> Next {
        let (status, term) = e.answer();
        let keep = self
            .error_keeping(status, &backend.model, f.mode, sent.whole)
            .await;
        let [t_req, t_queue] = f.timers;
        self.log_http(
            &backend.name,
            server,
            t_req,
            t_queue,
            sent.t_connect,
            -1,
            f.t_start,
            i32::from(status),
            f.accept,
            term,
        );
        let (buf_start, head_len) = f.request;
        self.after_answer(keep, buf_start, head_len + sent.body_from_buf)
    }

    async fn finish_local(
        &mut self,
        r: Vec<u8>,
        has_body: bool,
        buf_start: usize,
        head_len: usize,
        logged: LocalLog<'_>,
    ) -> Next {
        let keep = self.may_keep(!has_body);
        self.respond(r, !keep).await;
        self.log_http(
            logged.be,
            "<NOSRV>",
            logged.t_req,
            logged.t_wait,
            -1,
            -1,
            logged.t_start,
            i32::from(logged.status),
            logged.accept,
            logged.term,
        );
        self.consume_request(buf_start, head_len);
        if keep {
            Next::KeepAlive
        } else {
            Next::Close
        }
    }

    async fn pick(
        &mut self,
        be_idx: usize,
        backend: &Backend,
        key: Key,
        avoid: Option<usize>,
    ) -> Option<(usize, Arc<Vec<Arc<Server>>>)> {
        self.w
            .assign(be_idx, key, avoid, queue_timeout(backend))
            .await
            .ok()
    }

    fn balance_key(&self, backend: &Backend, buf: &[u8]) -> Key {
        let ht = &backend.settings.hash_type;
        match &backend.settings.balance_or_default() {
            Balance::Source => Key::Hash(hash::source(ht, self.peer.ip())),
            Balance::Uri {
                len,
                depth,
                whole,
                path_only,
            } => {
                let u: &[u8] = if *path_only {
                    http1::strip_authority(&self.uri)
                } else {
                    &self.uri
                };
                Key::Hash(hash::uri(ht, u, *len, *depth, *whole))
            }
            Balance::UrlParam { param, .. } => {
                match hash::url_param(ht, &self.uri, param.as_bytes()) {
                    Some(h) => Key::Hash(h),
                    None => Key::None,
                }
            }
            Balance::Hdr {
                name,
                use_domain_only,
            } => match self.hdrs.get(buf, name.as_bytes()) {
                Some(v) => Key::Hash(hash::hdr(ht, v, *use_domain_only)),
                None => Key::None,
            },
            _ => Key::None,
        }
    }

    fn head_out_len(&self) -> usize {
        self.scratch_head_len
    }

    fn build_request_head(&mut self, buf_start: usize, backend: &Backend, mode: HttpConnMode) {
        let buf = &self.cbuf.data[buf_start..self.cbuf.end];
        let out = &mut self.out;
        out.clear();
        let method = self.req.method.get(buf);
        out.extend_from_slice(method);
        out.push(b' ');
        out.extend_from_slice(&self.uri);
        out.extend_from_slice(if self.req.minor == 0 {
            b" HTTP/1.0\r\n"
        } else {
            b" HTTP/1.1\r\n"
        });
        let upgrade = self.req.is_upgrade();
        let hdrs = &self.hdrs;
        let ck = backend.settings.cookie.as_ref();
        let req_headers = &self.req.headers;
        let other_tokens = self.req.conn.other_tokens;
        hdrs.write(buf, out, |n| {
            let is_upgrade = n.eq_ignore_ascii_case(b"upgrade");
            if is_upgrade {
                return !upgrade;
            }
            http1::is_hop_by_hop(n)
                || (other_tokens && http1::listed_in_connection(req_headers, buf, n))
        });
        // Persistence cookie: with insert+indirect, the server never sees it.
        if let Some(ck) = ck {
            if ck.mode == CookieMode::Insert && ck.indirect {
                strip_cookie(out, ck.name.as_bytes());
            }
        }
        // option forwardfor (the backend's, else the frontend's).
        let ff = backend.settings.forwardfor.as_ref().or(self
            .fe
            .model
            .settings
            .forwardfor
            .as_ref());
        if let Some(ff) = ff {
            let except = ff
                .except
                .as_ref()
                .is_some_and(|n| n.contains(self.peer.ip()));
            let present = ff.if_none && hdrs.has(buf, ff.header.as_bytes());
            if !except && !present {
                use std::io::Write;
                let _ = write!(out, "{}: {}\r\n", ff.header, self.peer.ip());
            }
        }
        if upgrade {
            out.extend_from_slice(b"connection: upgrade\r\n");
        } else if mode != HttpConnMode::KeepAlive {
            out.extend_from_slice(b"connection: close\r\n");
        } else if self.req.minor == 0 {
            out.extend_from_slice(b"connection: keep-alive\r\n");
        }
        out.extend_from_slice(b"\r\n");
        self.scratch_head_len = out.len();
    }

    fn initial_body_len(&self, buf_start: usize, head_len: usize) -> usize {
        let avail = self.cbuf.end - (buf_start + head_len);
        match self.req.body {
            BodyKind::None | BodyKind::UntilClose => 0,
            BodyKind::Length(n) => (n as usize).min(avail),
            BodyKind::Chunked => {
                let mut sc = ChunkedScanner::new();
                let start = buf_start + head_len;
                match sc.scan(&self.cbuf.data[start..self.cbuf.end]) {
                    Ok(n) => {
                        self.chunk_state.set(Some(sc));
                        n
                    }
                    Err(_) => {
                        self.chunk_state.set(None);
                        avail
                    }
                }
            }
        }
    }

    /// Streams the rest of the request body (after `sent` bytes that were in the buffer).
    async fn forward_request_body(
        &mut self,
        srv: &mut Conn,
        _buf_start: usize,
        _head_len: usize,
        sent: usize,
    ) -> bool {
        let to = self.fe.model.settings.timeouts.client;
        if !self.sbuf.is_allocated() {
            self.sbuf.data = self.w.take_buf();
        }
        self.sbuf.clear();
        match self.req.body {
            BodyKind::Length(n) => {
                let mut left = n - sent as u64;
                while left > 0 {
                    self.sbuf.clear();
                    let max = (left as usize).min(self.sbuf.data.len());
                    match with_timeout(to, self.sbuf.read_at_most(self.cli, max)).await {
                        Ok(0) | Err(_) => return false,
                        Ok(k) => {
                            left -= k as u64;
                            self.fe.counters.bytes_in.fetch_add(k as u64, Relaxed);
                            if srv.send(self.sbuf.pending()).await.is_err() {
                                return false;
                            }
                        }
                    }
                }
                self.sbuf.clear();
                true
            }
            BodyKind::Chunked => {
                let Some(mut sc) = self.chunk_state.take() else {
                    self.error(400, None).await;
                    return false;
                };
                while !sc.is_done() {
                    self.sbuf.clear();
                    match with_timeout(to, self.sbuf.read_from(self.cli)).await {
                        Ok(0) | Err(_) => return false,
                        Ok(_) => {}
                    }
                    let k = match sc.scan(self.sbuf.pending()) {
                        Ok(k) => k,
                        Err(_) => return false,
                    };
                    self.fe.counters.bytes_in.fetch_add(k as u64, Relaxed);
                    if srv.send(&self.sbuf.pending()[..k]).await.is_err() {
                        return false;
                    }
                    if sc.is_done() && k < self.sbuf.len() {
                        // Pipelined bytes of the next request.
                        self.scratch.clear();
                        self.scratch.extend_from_slice(&self.sbuf.pending()[k..]);
                    }
                }
                self.sbuf.clear();
                true
            }
            _ => true,
        }
    }

    /// Starts a task that copies the rest of the request body (after `sent` bytes) from the
    /// client's stream to the server's, each pipe lending its direction. False if either
    /// is not a stream's pipe.
    fn lend_request_body(&mut self, srv: &mut Conn, sent: usize) -> bool {
        let Some(wr) = srv.take_writer() else {
            return false;
        };
        let Some(rd) = self.cli.take_reader() else {
            srv.give_back_writer(wr);
            return false;
        };
        let body = RequestBody {
            kind: self.req.body,
            chunks: self.chunk_state.take(),
            sent,
            timeout: self.fe.model.settings.timeouts.client,
            fe: self.fe.clone(),
        };
        let w = self.w.clone();
        tokio::task::spawn_local(async move {
            let mut buf = Buf {
                data: w.take_buf(),
                start: 0,
                end: 0,
            };
            body.copy(rd, wr, &mut buf).await;
            w.give_buf(buf.data);
        });
        true
    }

    async fn read_response_head(
        &mut self,
        srv: &mut Conn,
        backend: &Backend,
        is_head: bool,
    ) -> Result<(), RespErr> {
        if !self.sbuf.is_allocated() {
            self.sbuf.data = self.w.take_buf();
        }
        let to = backend.settings.timeouts.server;
        loop {
            if !self.sbuf.is_empty() {
                match self.resp.parse(self.sbuf.pending(), is_head) {
                    Ok(Parsed::Complete(_)) => return Ok(()),
                    Ok(Parsed::Partial) => {
                        if self.sbuf.is_full() {
                            return Err(RespErr::Invalid);
                        }
                    }
                    Err(_) => return Err(RespErr::Invalid),
                }
            }
            let had = self.sbuf.len();
            match self.srv_timer.run(to, self.sbuf.read_from(srv)).await {
                Ok(0) => {
                    return Err(if had == 0 {
                        RespErr::Empty
                    } else {
                        RespErr::Invalid
                    })
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return Err(RespErr::Timeout),
                Err(_) => {
                    return Err(if had == 0 {
                        RespErr::Empty
                    } else {
                        RespErr::Invalid
                    })
                }
            }
        }
    }

    /// The answer's head for the client, after the http-response rules and cookie
    /// persistence: as HTTP/1.1 text in `out`, or for an HTTP/2 client usually sent at once
    /// as its HEADERS frame (then `out` stays empty). Gives the octets already sent.
    fn build_response_head(
        &mut self,
        buf_start: usize,
        backend: &Backend,
        server: &Server,
        client_keep: bool,
    ) -> u64 {
        let sb = &self.sbuf.data[self.sbuf.start..self.sbuf.end];
        self.rhdrs.load(&self.resp.headers);
        if !self.fe.model.settings.logs.targets.is_empty() {
            capture(
                &self.fe.model.capture_response,
                &self.rhdrs,
                sb,
                &mut self.cap_resp,
            );
        }
        // http-response rules: the backend's, then the frontend's.
        {
            // The rules change the answer's headers while they read the request: the list
            // is moved out for them (its buffers with it, nothing allocated).
            let mut rhdrs = std::mem::take(&mut self.rhdrs);
            let sample = self.sample(&self.cbuf.data[buf_start..self.cbuf.end]);
            rules::http_response(
                &backend.model,
                &mut rhdrs,
                sb,
                &sample,
                &self.fe.name,
                &backend.name,
            );
            if self
                .fe
                .own_backend
                .map(|i| self.w.shared.backends[i].name != backend.name)
                .unwrap_or(true)
            {
                rules::http_response(
                    &self.fe.model,
                    &mut rhdrs,
                    sb,
                    &sample,
                    &self.fe.name,
                    &backend.name,
                );
            }
            self.rhdrs = rhdrs;
        }
        // Cookie persistence.
        if let (Some(ck), Some(val)) = (&backend.settings.cookie, server.opts.cookie.as_deref()) {
            let rb = &self.cbuf.data[buf_start..self.cbuf.end];
            let had = find_cookie(&self.hdrs, rb, ck.name.as_bytes())
                .is_some_and(|v| v == val.as_bytes());
            match ck.mode {
                CookieMode::Insert => {
                    let post_ok = !ck.postonly || self.req.method.get(rb) == b"POST";
                    // Inserted when the client did not already carry the right cookie.
                    if post_ok && !had {
                        let mut c = format!("{}={}; path=/", ck.name, val);
                        for d in &ck.domains {
                            c.push_str("; domain=");
                            c.push_str(d);
                        }
                        if ck.httponly {
                            c.push_str("; HttpOnly");
                        }
                        if ck.secure {
                            c.push_str("; Secure");
                        }
                        for a in &ck.attrs {
                            c.push_str("; ");
                            c.push_str(a);
                        }
                        // nocache: a response a cache could keep is marked private, as
                        // haproxy does (only responses with explicit freshness count).
                        let cacheable = self.rhdrs.get(sb, b"expires").is_some()
                            || self.rhdrs.get(sb, b"cache-control").is_some_and(|v| {
                                let v = String::from_utf8_lossy(v).to_ascii_lowercase();
                                (v.contains("public") || v.contains("max-age"))
                                    && !v.contains("private")
                                    && !v.contains("no-cache")
                                    && !v.contains("no-store")
                            });
                        self.rhdrs.add(b"set-cookie", c.as_bytes());
                        if ck.nocache && cacheable {
                            self.rhdrs.set(sb, b"cache-control", b"private");
                        }
                    }
                }
                CookieMode::Passive => {}
                CookieMode::Prefix | CookieMode::Rewrite => {
                    let name = ck.name.clone();
                    let prefix = ck.mode == CookieMode::Prefix;
                    let mut scratch = Vec::new();
                    self.rhdrs
                        .rewrite(sb, b"set-cookie", &mut scratch, |v, out| {
                            let nv = name.as_bytes();
                            if v.len() > nv.len() && v.starts_with(nv) && v[nv.len()] == b'=' {
                                out.extend_from_slice(nv);
                                out.push(b'=');
                                out.extend_from_slice(val.as_bytes());
                                if prefix {
                                    out.push(b'~');
                                    out.extend_from_slice(&v[nv.len() + 1..]);
                                } else if let Some(p) = memchr::memchr(b';', v) {
                                    out.extend_from_slice(&v[p..]);
                                }
                                true
                            } else {
                                false
                            }
                        });
                }
            }
        }
        let out = &mut self.out;
        out.clear();
        let st = self.resp.status;
        let resp_headers = &self.resp.headers;
        let other_tokens = self.resp.conn.other_tokens;
        let skip = |n: &[u8]| {
            http1::is_hop_by_hop(n)
                || (other_tokens && http1::listed_in_connection(resp_headers, sb, n))
        };
        if let Conn::H2(h) = &self.cli {
            // An HTTP/2 client's head goes out as a HEADERS frame made from the fields: no
            // HTTP/1.1 text to build and convert back.
            let fields = self.rhdrs.iter(sb).filter(|&(n, _)| !skip(n));
            if let Some(sent) = h.give_head(st, self.resp.body, fields) {
                return sent as u64;
            }
        }
        http1::HeadWriter::new(out).status_line(self.resp.minor, st, self.resp.reason.get(sb));
        self.rhdrs.write(sb, out, skip);
        // As haproxy: what an HTTP/1.0 client would not assume is said (keep-alive), and a
        // close is said to every client.
        if client_keep {
            if self.req.minor == 0 {
                out.extend_from_slice(b"connection: keep-alive\r\n");
            }
        } else {
            out.extend_from_slice(b"connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
        if let Conn::H2(h) = &self.cli {
            // The HTTP/2 slot builds its HEADERS frame from the fields, not from the text.
            let fields = self.rhdrs.iter(sb).filter(|&(n, _)| !skip(n));
            h.announce_head(out, st, self.resp.body, fields);
        }
        0
    }

    /// Sends the response head (in `out`) and streams the body. Gives the bytes sent and whether
    /// the response ended cleanly.
    async fn forward_response_body(&mut self, srv: &mut Conn, backend: &Backend) -> (u64, bool) {
        let to = backend.settings.timeouts.server;
        let mut total = 0u64;
        match self.resp.body {
            BodyKind::None => {
                if self.cli.send(&self.out).await.is_err() {
                    return (0, false);
                }
                (self.out.len() as u64, true)
            }
            BodyKind::Length(n) => {
                let first = (n as usize).min(self.sbuf.len());
                self.out.extend_from_slice(&self.sbuf.pending()[..first]);
                self.sbuf.consume(first);
                if self.cli.send(&self.out).await.is_err() {
                    return (0, false);
                }
                total += self.out.len() as u64;
                let mut left = n - first as u64;
                while left > 0 {
                    self.sbuf.clear();
                    let max = (left as usize).min(self.sbuf.data.len());
                    match with_timeout(to, self.sbuf.read_at_most(srv, max)).await {
                        Ok(0) | Err(_) => return (total, false),
                        Ok(k) => {
                            left -= k as u64;
                            if self.cli.send(self.sbuf.pending()).await.is_err() {
                                return (total, false);
                            }
                            total += k as u64;
                        }
                    }
                }
                self.sbuf.clear();
                (total, true)
            }
            BodyKind::Chunked => {
                let mut sc = ChunkedScanner::new();
                let k = match sc.scan(self.sbuf.pending()) {
                    Ok(k) => k,
                    Err(_) => return (0, false),
                };
                self.out.extend_from_slice(&self.sbuf.pending()[..k]);
                self.sbuf.consume(k);
                if self.cli.send(&self.out).await.is_err() {
                    return (0, false);
                }
                total += self.out.len() as u64;
                while !sc.is_done() {
                    self.sbuf.clear();
                    match with_timeout(to, self.sbuf.read_from(srv)).await {
                        Ok(0) | Err(_) => return (total, false),
                        Ok(_) => {}
                    }
                    let k = match sc.scan(self.sbuf.pending()) {
                        Ok(k) => k,
                        Err(_) => return (total, false),
                    };
                    if self.cli.send(&self.sbuf.pending()[..k]).await.is_err() {
                        return (total, false);
                    }
                    total += k as u64;
                    self.sbuf.consume(k);
                }
                // Anything after the end is junk from the server: do not reuse the connection.
                (total, self.sbuf.is_empty())
            }
            BodyKind::UntilClose => {
                self.out.extend_from_slice(self.sbuf.pending());
                self.sbuf.clear();
                if self.cli.send(&self.out).await.is_err() {
                    return (0, false);
                }
                total += self.out.len() as u64;
                loop {
                    self.sbuf.clear();
                    match with_timeout(to, self.sbuf.read_from(srv)).await {
                        Ok(0) => break,
                        Err(_) => return (total, false),
                        Ok(k) => {
                            if self.cli.send(self.sbuf.pending()).await.is_err() {
                                return (total, false);
                            }
                            total += k as u64;
                        }
                    }
                }
                // Delimited by the close: the client connection closes too.
                (total, false)
            }
        }
    }

    /// Logs a request that never became one as haproxy logs it: `"<BADREQ>"`, no server,
    /// timers -1 but the total since `began` (the accept for a connection's first request,
    /// else the request's first bytes). `option dontlognull` leaves out connections that
    /// sent nothing; `option http-ignore-probes` those that sent nothing or timed out.
    fn log_badreq(&mut self, status: i32, term: [u8; 2], began: SystemTime, sent_nothing: bool) {
        let logs = &self.fe.model.settings.logs;
        if logs.targets.is_empty() || self.cli.is_h2_stream() {
            return;
        }
        if sent_nothing && (logs.dontlognull || logs.ignore_probes) {
            return;
        }
        let fe = self.fe.clone();
        self.reqline.clear();
        self.reqline.extend_from_slice(b"<BADREQ>");
        self.cap_req.clear();
        self.cap_resp.clear();
        self.bytes_out = 0;
        let age = SystemTime::now().duration_since(began).unwrap_or_default();
        let t_start = Instant::now().checked_sub(age).unwrap_or_else(Instant::now);
        self.log_http(
            &fe.name,
            "<NOSRV>",
            -1,
            -1,
            -1,
            -1,
            t_start,
            status,
            Tm::from(began),
            term,
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn log_http(
        &mut self,
        be: &str,
        srv: &str,
        t_req: i64,
        t_queue: i64,
        t_connect: i64,
        t_resp: i64,
        t_start: Instant,
        status: i32,
        accept: Tm,
        term: [u8; 2],
    ) {
        let logs = &self.fe.model.settings.logs;
        if logs.targets.is_empty() {
            return;
        }
        let shared = &self.w.shared;
        let rec = LogRecord {
            client: Some(self.peer),
            accept: Some(accept),
            frontend: &self.fe.name,
            backend: be,
            server: srv,
            t_req,
            t_queue,
            t_connect,
            t_resp,
            t_total: ms(t_start.elapsed()),
            status,
            bytes: std::mem::take(&mut self.bytes_out),
            term,
            actconn: shared.cur_conns.load(Relaxed),
            feconn: self.fe.cur_conns.load(Relaxed),
            beconn: shared
                .backend(be)
                .map(|b| b.cur_sessions.load(Relaxed))
                .unwrap_or(0),
            srvconn: 0,
            retries: std::mem::take(&mut self.retries),
            srv_queue: 0,
            be_queue: 0,
            request_line: &self.reqline,
            local: Some(self.local),
            server_addr: shared
                .backend(be)
                .and_then(|b| b.server(srv))
                .map(|s| s.addr),
            tls: !self.cli.is_plain(),
            captured_request: &self.cap_req,
            captured_response: &self.cap_resp,
        };
        self.logline.clear();
        if let Some(f) = &logs.format {
            crate::log::custom(f, &rec, &mut self.logline);
        } else if logs.httplog {
            crate::log::httplog(&rec, &mut self.logline);
        } else if logs.tcplog {
            crate::log::tcplog(&rec, &mut self.logline);
        } else {
            return;
        }
        shared.logger.emit(&logs.targets, 6, &self.logline);
    }
}

/// A request body that flows on its own task (see `Session::lend_request_body`).
struct RequestBody {
    kind: BodyKind,
    /// The chunked scanner after the bytes that came with the head.
    chunks: Option<ChunkedScanner>,
    /// Bytes of the body already sent with the head.
    sent: usize,
    timeout: Option<Duration>,
    fe: Arc<Frontend>,
}

impl RequestBody {
    /// Copies the body as `forward_request_body` does; it ends at the body's end or when
    /// either side goes away (the session then sees a cut request or answer).
    async fn copy(
        self,
        mut rd: crate::h2::server::H2Stream,
        mut wr: crate::h2::upstream::ServerWriter,
        buf: &mut Buf,
    ) {
        let counted = |k: usize| {
            self.fe.counters.bytes_in.fetch_add(k as u64, Relaxed);
        };
        match self.kind {
            BodyKind::Length(n) => {
                let mut left = n.saturating_sub(self.sent as u64);
                while left > 0 {
                    buf.clear();
                    let max = usize::try_from(left).unwrap_or(usize::MAX);
                    match with_timeout(self.timeout, buf.read_at_most(&mut rd, max)).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => {
                            left -= k as u64;
                            counted(k);
                            if wr.write_all(buf.pending()).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            }
            BodyKind::Chunked => {
                let Some(mut sc) = self.chunks else { return };
                while !sc.is_done() {
                    buf.clear();
                    match with_timeout(self.timeout, buf.read_from(&mut rd)).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    let Ok(k) = sc.scan(buf.pending()) else {
                        return;
                    };
                    counted(k);
                    if wr.write_all(&buf.pending()[..k]).await.is_err() {
                        return;
                    }
                }
            }
            _ => {}
        }
    }
}

#[derive(Debug)]
enum RespErr {
    Empty,
    Invalid,
    Timeout,
}

impl RespErr {
    /// The client's answer and the log's termination state: haproxy's 504 `sH` when the
    /// server's timeout struck, 502 `SH` when the server failed.
    fn answer(&self) -> (u16, [u8; 2]) {
        match self {
            RespErr::Timeout => (504, *b"sH"),
            RespErr::Empty | RespErr::Invalid => (502, *b"SH"),
        }
    }
}

fn effective_conn_mode(fe: &Proxy, be: &Proxy) -> HttpConnMode {
    // The most closing of the two wins, as in haproxy.
    let rank = |m: HttpConnMode| match m {
        HttpConnMode::KeepAlive => 0,
        HttpConnMode::ServerClose => 1,
        HttpConnMode::Close => 2,
    };
    let (a, b) = (fe.settings.http_conn_mode, be.settings.http_conn_mode);
    if rank(a) >= rank(b) {
        a
    } else {
        b
    }
}

fn find_head_end(resp: &[u8]) -> Option<usize> {
    memchr::memmem::find(resp, b"\r\n\r\n").map(|p| p + 2)
}

/// The value of cookie `name` in the request's Cookie headers.
fn find_cookie<'a>(hdrs: &'a HeaderList, buf: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    for (n, v) in hdrs.iter(buf) {
        if !n.eq_ignore_ascii_case(b"cookie") {
            continue;
        }
        for part in v.split(|&b| b == b';') {
            let p = http1::trim(part);
            if p.len() > name.len() && p.starts_with(name) && p[name.len()] == b'=' {
                return Some(&p[name.len() + 1..]);
            }
        }
    }
    None
}

/// Removes cookie `name` from the Cookie header lines already written in `out`.
fn strip_cookie(out: &mut Vec<u8>, name: &[u8]) {
    let mut result = Vec::with_capacity(out.len());
    for line in out.split_inclusive(|&b| b == b'\n') {
        if line.len() > 7 && line[..7].eq_ignore_ascii_case(b"cookie:") {
            let body = http1::trim(&line[7..line.len().saturating_sub(2)]);
            let kept: Vec<&[u8]> = body
                .split(|&b| b == b';')
                .map(http1::trim)
                .filter(|p| !(p.len() > name.len() && p.starts_with(name) && p[name.len()] == b'='))
                .collect();
            if kept.is_empty() {
                continue;
            }
            result.extend_from_slice(&line[..7]);
            result.push(b' ');
            result.extend_from_slice(&kept.join(&b"; "[..]));
            result.extend_from_slice(b"\r\n");
        } else {
            result.extend_from_slice(line);
        }
    }
    *out = result;
}

/// Size in bytes of a client connection's session future (what an idle connection costs).
#[doc(hidden)]
pub fn session_future_size() -> usize {
    fn size<F: std::future::Future>(_: &F) -> usize {
        std::mem::size_of::<F>()
    }
    // Never polled: only its size is read.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let _g = rt.enter();
    let std_l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = std_l.local_addr().expect("addr");
    let c = std::net::TcpStream::connect(addr).expect("connect");
    c.set_nonblocking(true).expect("nonblocking");
    let stream = Conn::Plain(tokio::net::TcpStream::from_std(c).expect("stream"));
    let shared = Arc::new(crate::state::Shared::build(
        crate::config::Config::default(),
        1,
    ));
    let (_tx, rx) = tokio::sync::watch::channel(0u8);
    let w = Rc::new(Worker::new(shared, 0, rx));
    let fe_model = crate::config::load_str(
        "x.cfg",
        "frontend fe\n bind 127.0.0.1:1\n",
        &crate::config::ProcessEnv,
    )
    .map(|c| c.0.proxies[0].clone())
    .expect("model");
    let fe = Arc::new(Frontend {
        name: "fe".into(),
        id: 1,
        model: fe_model,
        own_backend: None,
        cur_conns: Default::default(),
        counters: Default::default(),
        maxconn: 1,
    });
    let f = run(&w, &fe, stream, addr, addr);
    size(&f)
}

/// How long a request may wait in a queue: `timeout queue`, else `timeout connect` (haproxy).
fn queue_timeout(backend: &Backend) -> Duration {
    let t = &backend.settings.timeouts;
    t.queue.or(t.connect).unwrap_or(Duration::from_secs(30))
}

/// A point in time, read from the clock only when it will be used (for log lines).
#[derive(Clone, Copy)]
struct Stamp(Option<Instant>);

impl Stamp {
    fn now(on: bool) -> Stamp {
        Stamp(on.then(Instant::now))
    }

    fn at(on: bool, t: Instant) -> Stamp {
        Stamp(on.then_some(t))
    }

    /// Time since the stamp; zero when it was not taken.
    fn elapsed(self) -> Duration {
        self.0.map_or(Duration::ZERO, |t| t.elapsed())
    }
}

/// Renders the captured headers as haproxy logs them: `{value|value}`, each value the last
/// occurrence of its header cut to its length, with `"#{|}` and non-printable bytes written
/// `#XX`. Nothing without captures.
fn capture(caps: &[HeaderCapture], hdrs: &HeaderList, buf: &[u8], out: &mut String) {
    if caps.is_empty() {
        return;
    }
    out.push('{');
    for (i, cap) in caps.iter().enumerate() {
        if i > 0 {
            out.push('|');
        }
        let last = hdrs
            .iter(buf)
            .filter(|(n, _)| n.eq_ignore_ascii_case(cap.name.as_bytes()))
            .last()
            .map(|(_, v)| v);
        let v = last.unwrap_or(b"");
        for &b in &v[..v.len().min(cap.len)] {
            if !(32..127).contains(&b) || matches!(b, b'"' | b'#' | b'{' | b'|' | b'}') {
                let _ = write!(out, "#{b:02X}");
            } else {
                out.push(b as char);
            }
        }
    }
    out.push('}');
}
