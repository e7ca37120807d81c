//! HTTP/2 from clients, served natively: one task per client connection owns the socket,
//! reads and writes frames itself (RFC 9113) with buffers reused for the connection's life,
//! and hands each request to an HTTP session (`crate::session::http`) through a slot
//! ([`stream::H2Stream`]): the request as HTTP/1.1 text, the answer turned into frames as
//! the session writes it. Rules, ACLs, balancing, retries, logging and error pages are the
//! session's, unchanged. A session serves the connection's streams one after the other, as
//! it serves requests on an HTTP/1.1 keep-alive connection, so that neither a task nor a
//! session's buffers are made per request, and the frames of every stream that answered
//! during one wake-up leave in one write.
//!
//! Held here: SETTINGS (`tune.h2.*`), PING, flow control both ways (connection and stream
//! windows, WINDOW_UPDATE as the sessions take request bodies), GOAWAY on soft stop and
//! idle timeout (streams in flight finish), RST_STREAM either way, limits on concurrent
//! streams and header list size, HPACK with a bounded table, and the rapid-reset defence
//! (CVE-2023-44487: a connection whose client resets too many streams is closed with
//! ENHANCE_YOUR_CALM).

mod request;
mod response;
mod stream;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io::Write as _;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

pub use stream::H2Stream;

use super::frame::{self, Head, Reason};
use super::hpack::{self, Decoder};
use super::PREFACE;
use crate::session::Conn;
use crate::state::Frontend;
use crate::tls::facts::{TlsFacts, TlsView};
use crate::worker::{Worker, RUN};
use request::{Framing, HeadBuilder, Verdict};
use stream::{Shared, Slot, StreamState};

/// Streams the client resets within [`RESET_WINDOW`] before the connection is closed with
/// ENHANCE_YOUR_CALM (rapid reset, CVE-2023-44487).
const MAX_CLIENT_RESETS: u32 = 200;
const RESET_WINDOW: Duration = Duration::from_secs(1);
/// Streams dermaga itself resets for the client's errors before it gives up on the
/// connection.
const MAX_LOCAL_ERROR_RESETS: u32 = 256;
/// Frames waiting for the socket beyond which sessions wait before they write more.
const MAX_OUT: usize = 256 * 1024;

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
    let tuning = &w.shared.config.global.h2;
    let max_frame = tuning.frame_size(w.bufsize) as usize;
    let our_window = tuning.initial_window_size;
    let sh = Rc::new(RefCell::new(Shared {
        out: Vec::with_capacity(4096),
        conn_waker: None,
        woken: false,
        slots: Vec::new(),
        idle: Vec::new(),
        free: Vec::new(),
        tls,
        closed: false,
        peer_max_frame: frame::MIN_FRAME_SIZE,
        peer_initial_window: i64::from(frame::DEFAULT_WINDOW),
        send_window: i64::from(frame::DEFAULT_WINDOW),
        conn_credit: 0,
        recv_window: i64::from(frame::DEFAULT_WINDOW),
        open: 0,
        max_out: MAX_OUT,
        our_window,
        max_head: w.bufsize,
    }));
    let mut settings = vec![
        (frame::SETTINGS_HEADER_TABLE_SIZE, tuning.header_table_size),
        (frame::SETTINGS_INITIAL_WINDOW_SIZE, our_window),
        (frame::SETTINGS_MAX_FRAME_SIZE, max_frame as u32),
        (
            frame::SETTINGS_MAX_HEADER_LIST_SIZE,
            u32::try_from(w.bufsize).unwrap_or(u32::MAX),
        ),
    ];
    // `tune.h2.max-concurrent-streams 0` lifts the limit, as in haproxy: nothing announced.
    if tuning.max_concurrent_streams != 0 {
        settings.insert(
            1,
            (
                frame::SETTINGS_MAX_CONCURRENT_STREAMS,
                tuning.max_concurrent_streams,
            ),
        );
    }
    frame::settings(&mut sh.borrow_mut().out, &settings);
    let timeouts = &fe.model.settings.timeouts;
    let mut c = Connection {
        w: w.clone(),
        fe: fe.clone(),
        peer,
        local,
        io: cli,
        sh: sh.clone(),
        // One whole frame at most: frames are handled as they complete.
        rbuf: vec![0; max_frame + frame::HEADER_LEN],
        rstart: 0,
        rend: 0,
        preface_left: PREFACE.len(),
        got_settings: false,
        decoder: Decoder::new(tuning.header_table_size as usize),
        builder: HeadBuilder::default(),
        hblock: Vec::new(),
        continuing: None,
        max_frame,
        max_list: w.bufsize,
        max_streams: match tuning.max_concurrent_streams {
            0 => usize::MAX,
            n => n as usize,
        },
        last_stream: 0,
        goaway: None,
        peer_goaway: false,
        read_closed: false,
        wpos: 0,
        write_deferred: false,
        client_resets: ResetCount::default(),
        local_resets: 0,
        idle: timeouts.http_keep_alive.or(timeouts.client),
        handshake: timeouts.client,
        last_active: tokio::time::Instant::now(),
        started: tokio::time::Instant::now(),
    };
    let mut stop = w.stop.clone();
    let stopped = stop.wait_for(|v| *v != RUN);
    tokio::pin!(stopped);
    let far = tokio::time::Instant::now() + Duration::from_secs(86_400 * 365);
    // The first of the handshake's and the idle deadlines; later ones are set as it fires.
    let first_deadline = [c.handshake, c.idle]
        .into_iter()
        .flatten()
        .map(|d| c.last_active + d)
        .min()
        .unwrap_or(far);
    let timer = tokio::time::sleep_until(first_deadline);
    tokio::pin!(timer);
    let mut stopping = false;
    std::future::poll_fn(|cx| {
        if !stopping && stopped.as_mut().poll(cx).is_ready() {
            stopping = true;
            c.go_away(Reason::NO_ERROR);
        }
        if timer.as_mut().poll(cx).is_ready() {
            let next = c.on_timer(far);
            timer.as_mut().reset(next);
            // Registered again with the timer for the new deadline.
            let _ = timer.as_mut().poll(cx);
        }
        c.poll(cx)
    })
    .await;
    {
        let mut s = sh.borrow_mut();
        s.closed = true;
        for i in 0..s.slots.len() {
            s.wake_slot(i);
        }
    }
    if !c.io.is_plain() {
        // TLS ends with close_notify; bounded, since the peer may be gone.
        let _ = tokio::time::timeout(Duration::from_millis(200), async {
            use tokio::io::AsyncWriteExt;
            c.io.shutdown().await
        })
        .await;
    }
}

/// One client connection: the socket, the read buffer, the HPACK decoder.
struct Connection {
    w: Rc<Worker>,
    fe: Arc<Frontend>,
    peer: SocketAddr,
    local: SocketAddr,
    io: Conn,
    sh: Rc<RefCell<Shared>>,
    rbuf: Vec<u8>,
    rstart: usize,
    rend: usize,
    /// Octets of the client preface still to check.
    preface_left: usize,
    got_settings: bool,
    decoder: Decoder,
    builder: HeadBuilder,
    /// A header block split across HEADERS and CONTINUATION frames.
    hblock: Vec<u8>,
    /// The stream and END_STREAM flag of a header block waiting for CONTINUATION.
    continuing: Option<(u32, bool)>,
    /// Our SETTINGS_MAX_FRAME_SIZE.
    max_frame: usize,
    max_list: usize,
    max_streams: usize,
    /// The highest stream the client opened.
    last_stream: u32,
    /// The GOAWAY we sent: the last stream we take, and whether it was an error.
    goaway: Option<(u32, Reason)>,
    peer_goaway: bool,
    read_closed: bool,
    /// How much of `out` went to the socket.
    wpos: usize,
    /// The write of `out` was put off once, to let the sessions woken with this one add
    /// their answers (see `poll`).
    write_deferred: bool,
    client_resets: ResetCount,
    local_resets: u32,
    idle: Option<Duration>,
    handshake: Option<Duration>,
    last_active: tokio::time::Instant,
    started: tokio::time::Instant,
}

/// A connection error: GOAWAY with this reason, then close.
struct ConnError(Reason);

impl Connection {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        {
            let mut sh = self.sh.borrow_mut();
            sh.woken = false;
            match &sh.conn_waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => sh.conn_waker = Some(cx.waker().clone()),
            }
        }
        let mut read_some = false;
        loop {
            // Reading stops while the output is over its bound (a client that sends PINGs
            // or SETTINGS without reading the answers); once the write made room, it goes on
            // here, since no readiness event would come for bytes already waiting.
            let mut held_back = false;
            while !self.read_closed {
                if self.sh.borrow().out.len() >= MAX_OUT {
                    held_back = true;
                    break;
                }
                if self.rend == self.rbuf.len() {
                    self.rbuf.copy_within(self.rstart..self.rend, 0);
                    self.rend -= self.rstart;
                    self.rstart = 0;
                }
                let mut rb = ReadBuf::new(&mut self.rbuf[self.rend..]);
                match Pin::new(&mut self.io).poll_read(cx, &mut rb) {
                    Poll::Ready(Ok(())) => {
                        let n = rb.filled().len();
                        if n == 0 {
                            self.read_closed = true;
                            break;
                        }
                        self.rend += n;
                        read_some = true;
                        if let Err(ConnError(r)) = self.frames() {
                            self.go_away(r);
                            self.read_closed = true;
                        }
                    }
                    Poll::Ready(Err(_)) => {
                        // Nothing more can be written either.
                        self.read_closed = true;
                        self.sh.borrow_mut().out.clear();
                        self.wpos = 0;
                        return Poll::Ready(());
                    }
                    Poll::Pending => break,
                }
            }
            if read_some {
                self.last_active = tokio::time::Instant::now();
                read_some = false;
            }
            // Answers come from many sessions, each woken by its own server's socket. The
            // first to write wakes this task; writing at once would carry only the answers
            // of the sessions that ran before it, and the rest would cost a write each.
            // Going to the back of the queue once lets those woken in the same round add
            // theirs (haproxy writes once per round of its event loop, after all events).
            if !self.write_deferred && self.wpos == 0 && {
                let out = self.sh.borrow().out.len();
                out > 0 && out < MAX_OUT / 2
            } {
                self.write_deferred = true;
                // Sessions that write meanwhile need not wake it again.
                self.sh.borrow_mut().woken = true;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            self.write_deferred = false;
            match self.flush(cx) {
                Err(()) => return Poll::Ready(()),
                Ok(true) if self.done() => return Poll::Ready(()),
                Ok(_) => {}
            }
            if !(held_back && self.sh.borrow().out.len() < MAX_OUT) {
                return Poll::Pending;
            }
        }
    }

    /// Whether the connection has nothing left to do once its output is written.
    fn done(&self) -> bool {
        let open = self.sh.borrow().open;
        if self.read_closed {
            // The client left (or we ended the connection): streams cannot answer.
            return true;
        }
        open == 0 && (self.goaway.is_some() || self.peer_goaway)
    }

    /// Writes what the streams queued. Ok(true) once all of it is written.
    fn flush(&mut self, cx: &mut Context<'_>) -> Result<bool, ()> {
        let mut sh = self.sh.borrow_mut();
        let had_room = sh.out.len() < MAX_OUT;
        while self.wpos < sh.out.len() {
            match Pin::new(&mut self.io).poll_write(cx, &sh.out[self.wpos..]) {
                Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => return Err(()),
                Poll::Ready(Ok(n)) => self.wpos += n,
                Poll::Pending => break,
            }
        }
        if self.wpos == sh.out.len() {
            sh.out.clear();
            self.wpos = 0;
        } else if self.wpos > sh.out.len() / 2 {
            let w = self.wpos;
            sh.out.drain(..w);
            self.wpos = 0;
        }
        if !self.io.is_plain() {
            match Pin::new(&mut self.io).poll_flush(cx) {
                Poll::Ready(Err(_)) => return Err(()),
                Poll::Ready(Ok(())) => {}
                Poll::Pending => return Ok(false),
            }
        }
        if !had_room && sh.out.len() < MAX_OUT {
            sh.wake_writers();
        }
        Ok(sh.out.is_empty())
    }

    /// The idle timer fired: close an idle connection; returns the next deadline.
    fn on_timer(&mut self, far: tokio::time::Instant) -> tokio::time::Instant {
        let now = tokio::time::Instant::now();
        if !self.got_settings {
            // No preface and SETTINGS within `timeout client`.
            match self.handshake {
                Some(d) if now < self.started + d => return self.started + d,
                _ => {
                    self.read_closed = true;
                    return far;
                }
            }
        }
        let Some(idle) = self.idle else {
            return far;
        };
        let open = self.sh.borrow().open;
        if open > 0 || self.last_active + idle > now {
            return self.last_active.max(now - idle) + idle;
        }
        if self.goaway.is_some() {
            // Idle since GOAWAY: not waited for longer.
            self.read_closed = true;
            return far;
        }
        self.go_away(Reason::NO_ERROR);
        self.last_active = now;
        now + idle
    }

    /// Sends GOAWAY (once): no stream above the last one taken will be.
    fn go_away(&mut self, reason: Reason) {
        if self
            .goaway
            .is_some_and(|(_, r)| r != Reason::NO_ERROR || reason == Reason::NO_ERROR)
        {
            return;
        }
        self.goaway = Some((self.last_stream, reason));
        let mut sh = self.sh.borrow_mut();
        frame::goaway(&mut sh.out, self.last_stream, reason);
        sh.wake_conn();
    }

    /// Handles every complete frame in the read buffer.
    fn frames(&mut self) -> Result<(), ConnError> {
        if self.preface_left > 0 {
            let have = self.rend - self.rstart;
            let at = PREFACE.len() - self.preface_left;
            let n = have.min(self.preface_left);
            if self.rbuf[self.rstart..self.rstart + n] != PREFACE[at..at + n] {
                return Err(ConnError(Reason::PROTOCOL_ERROR));
            }
            self.rstart += n;
            self.preface_left -= n;
            if self.preface_left > 0 {
                return Ok(());
            }
        }
        loop {
            let have = self.rend - self.rstart;
            if have < frame::HEADER_LEN {
                break;
            }
            let mut hb = [0u8; frame::HEADER_LEN];
            hb.copy_from_slice(&self.rbuf[self.rstart..self.rstart + frame::HEADER_LEN]);
            let h = Head::parse(&hb);
            if h.len > self.max_frame {
                return Err(ConnError(Reason::FRAME_SIZE_ERROR));
            }
            if have < frame::HEADER_LEN + h.len {
                break;
            }
            let start = self.rstart + frame::HEADER_LEN;
            self.rstart = start + h.len;
            // The payload is moved out of the way of `self` for the call, then put back.
            let rbuf = std::mem::take(&mut self.rbuf);
            let r = self.frame(h, &rbuf[start..start + h.len]);
            self.rbuf = rbuf;
            r?;
            if self.read_closed {
                break;
            }
        }
        if self.rstart == self.rend {
            self.rstart = 0;
            self.rend = 0;
        }
        Ok(())
    }

    fn frame(&mut self, h: Head, p: &[u8]) -> Result<(), ConnError> {
        let proto = || ConnError(Reason::PROTOCOL_ERROR);
        if !self.got_settings && (h.ty != frame::SETTINGS || h.flags & frame::ACK != 0) {
            return Err(proto());
        }
        if let Some((id, _)) = self.continuing {
            if h.ty != frame::CONTINUATION || h.stream != id {
                return Err(proto());
            }
        }
        match h.ty {
            frame::DATA => self.data(h, p),
            frame::HEADERS => self.headers(h, p),
            frame::CONTINUATION => {
                let Some((id, end_stream)) = self.continuing else {
                    return Err(proto());
                };
                self.hblock.extend_from_slice(p);
                if self.hblock.len() > self.max_list.max(16 * 1024) * 4 {
                    return Err(ConnError(Reason::ENHANCE_YOUR_CALM));
                }
                if h.flags & frame::END_HEADERS != 0 {
                    self.continuing = None;
                    let block = std::mem::take(&mut self.hblock);
                    let r = self.header_block(id, end_stream, &block);
                    self.hblock = block;
                    self.hblock.clear();
                    r?;
                }
                Ok(())
            }
            frame::PRIORITY => {
                if h.stream == 0 {
                    return Err(proto());
                }
                if h.len != 5 {
                    self.stream_error(h.stream, Reason::FRAME_SIZE_ERROR)?;
                }
                Ok(())
            }
            frame::RST_STREAM => self.rst_stream(h),
            frame::SETTINGS => self.settings(h, p),
            frame::PUSH_PROMISE => Err(proto()),
            frame::PING => {
                if h.stream != 0 {
                    return Err(proto());
                }
                if h.len != 8 {
                    return Err(ConnError(Reason::FRAME_SIZE_ERROR));
                }
                if h.flags & frame::ACK == 0 {
                    let mut sh = self.sh.borrow_mut();
                    frame::ping_ack(&mut sh.out, p);
                }
                Ok(())
            }
            frame::GOAWAY => {
                if h.stream != 0 {
                    return Err(proto());
                }
                self.peer_goaway = true;
                Ok(())
            }
            frame::WINDOW_UPDATE => self.window_update(h, p),
            // Unknown types are ignored (RFC 9113 §4.1).
            _ => Ok(()),
        }
    }

    fn settings(&mut self, h: Head, p: &[u8]) -> Result<(), ConnError> {
        if h.stream != 0 {
            return Err(ConnError(Reason::PROTOCOL_ERROR));
        }
        if h.flags & frame::ACK != 0 {
            return if h.len == 0 {
                Ok(())
            } else {
                Err(ConnError(Reason::FRAME_SIZE_ERROR))
            };
        }
        if h.len % 6 != 0 {
            return Err(ConnError(Reason::FRAME_SIZE_ERROR));
        }
        let mut sh = self.sh.borrow_mut();
        for s in p.chunks_exact(6) {
            let id = u16::from_be_bytes([s[0], s[1]]);
            let v = u32::from_be_bytes([s[2], s[3], s[4], s[5]]);
            match id {
                frame::SETTINGS_ENABLE_PUSH if v > 1 => {
                    return Err(ConnError(Reason::PROTOCOL_ERROR))
                }
                frame::SETTINGS_INITIAL_WINDOW_SIZE => {
                    let v = i64::from(v);
                    if v > frame::MAX_WINDOW {
                        return Err(ConnError(Reason::FLOW_CONTROL_ERROR));
                    }
                    let delta = v - sh.peer_initial_window;
                    sh.peer_initial_window = v;
                    for slot in &mut sh.slots {
                        if let Some(st) = slot.stream.as_mut() {
                            st.send_window += delta;
                            if st.send_window > frame::MAX_WINDOW {
                                return Err(ConnError(Reason::FLOW_CONTROL_ERROR));
                            }
                        }
                    }
                    sh.wake_writers();
                }
                frame::SETTINGS_MAX_FRAME_SIZE => {
                    if !(frame::MIN_FRAME_SIZE as u32..=16_777_215).contains(&v) {
                        return Err(ConnError(Reason::PROTOCOL_ERROR));
                    }
                    sh.peer_max_frame = v as usize;
                }
                // The client's table size does not matter: answers use no dynamic table.
                _ => {}
            }
        }
        frame::settings_ack(&mut sh.out);
        self.got_settings = true;
        Ok(())
    }

    fn window_update(&mut self, h: Head, p: &[u8]) -> Result<(), ConnError> {
        if h.len != 4 {
            return Err(ConnError(Reason::FRAME_SIZE_ERROR));
        }
        let inc = i64::from(u32::from_be_bytes([p[0], p[1], p[2], p[3]]) & 0x7fff_ffff);
        let mut sh = self.sh.borrow_mut();
        if h.stream == 0 {
            if inc == 0 {
                return Err(ConnError(Reason::PROTOCOL_ERROR));
            }
            sh.send_window += inc;
            if sh.send_window > frame::MAX_WINDOW {
                return Err(ConnError(Reason::FLOW_CONTROL_ERROR));
            }
            sh.wake_writers();
            return Ok(());
        }
        let Some(i) = sh.slot_of(h.stream) else {
            drop(sh);
            return self.closed_or_idle(h.stream);
        };
        let st = sh.slots[i]
            .stream
            .as_mut()
            .ok_or(ConnError(Reason::INTERNAL_ERROR))?;
        st.send_window += inc;
        let bad = if inc == 0 {
            Some(Reason::PROTOCOL_ERROR)
        } else if st.send_window > frame::MAX_WINDOW {
            Some(Reason::FLOW_CONTROL_ERROR)
        } else {
            None
        };
        match bad {
            Some(r) => {
                drop(sh);
                self.stream_error(h.stream, r)
            }
            None => {
                if let Some(w) = sh.slots[i].writer.take() {
                    w.wake();
                }
                Ok(())
            }
        }
    }

    /// A frame for a stream that is not open: fine if it was (it closed), an error if it
    /// never was.
    fn closed_or_idle(&self, id: u32) -> Result<(), ConnError> {
        if id > self.last_stream {
            Err(ConnError(Reason::PROTOCOL_ERROR))
        } else {
            Ok(())
        }
    }

    /// The client reset a stream (its error code changes nothing here).
    fn rst_stream(&mut self, h: Head) -> Result<(), ConnError> {
        if h.stream == 0 {
            return Err(ConnError(Reason::PROTOCOL_ERROR));
        }
        if h.len != 4 {
            return Err(ConnError(Reason::FRAME_SIZE_ERROR));
        }
        self.closed_or_idle(h.stream)?;
        self.client_resets.add();
        if self.client_resets.too_many() {
            return Err(ConnError(Reason::ENHANCE_YOUR_CALM));
        }
        let mut sh = self.sh.borrow_mut();
        if let Some(i) = sh.slot_of(h.stream) {
            if let Some(st) = sh.slots[i].stream.as_mut() {
                st.reset = true;
                st.req_done = true;
            }
            sh.wake_slot(i);
        }
        Ok(())
    }

    /// Resets a stream for the client's error.
    fn stream_error(&mut self, id: u32, reason: Reason) -> Result<(), ConnError> {
        self.local_resets += 1;
        if self.local_resets > MAX_LOCAL_ERROR_RESETS {
            return Err(ConnError(Reason::ENHANCE_YOUR_CALM));
        }
        let mut sh = self.sh.borrow_mut();
        match sh.slot_of(id) {
            Some(i) => sh.reset(i, reason),
            None => frame::rst_stream(&mut sh.out, id, reason),
        }
        Ok(())
    }

    /// Strips padding (and the priority fields of HEADERS) from a payload.
    fn unpad<'p>(h: &Head, p: &'p [u8], priority: bool) -> Result<&'p [u8], ConnError> {
        let mut p = p;
        let mut pad = 0;
        if h.flags & frame::PADDED != 0 {
            let (&n, rest) = p.split_first().ok_or(ConnError(Reason::FRAME_SIZE_ERROR))?;
            pad = usize::from(n);
            p = rest;
        }
        if priority && h.flags & frame::PRIORITY_FLAG != 0 {
            p = p.get(5..).ok_or(ConnError(Reason::FRAME_SIZE_ERROR))?;
        }
        if pad > p.len() {
            return Err(ConnError(Reason::PROTOCOL_ERROR));
        }
        Ok(&p[..p.len() - pad])
    }

    fn headers(&mut self, h: Head, p: &[u8]) -> Result<(), ConnError> {
        if h.stream == 0 || h.stream % 2 == 0 {
            return Err(ConnError(Reason::PROTOCOL_ERROR));
        }
        let fragment = Self::unpad(&h, p, true)?;
        let end_stream = h.flags & frame::END_STREAM != 0;
        if h.flags & frame::END_HEADERS == 0 {
            self.hblock.clear();
            self.hblock.extend_from_slice(fragment);
            self.continuing = Some((h.stream, end_stream));
            return Ok(());
        }
        self.header_block(h.stream, end_stream, fragment)
    }

    /// A complete header block: a new request, or trailers of an open one.
    fn header_block(&mut self, id: u32, end_stream: bool, block: &[u8]) -> Result<(), ConnError> {
        let compression = || ConnError(Reason::COMPRESSION_ERROR);
        let open = self.sh.borrow().slot_of(id);
        if let Some(i) = open {
            return self.trailers(i, id, end_stream, block);
        }
        if id <= self.last_stream {
            // A stream we refused or reset, whose trailers were in flight: ignored (RFC 9113
            // §5.4.2), decoded all the same so that the table stays in step.
            self.decoder
                .decode(block, |_, _| {})
                .map_err(|_| compression())?;
            return Ok(());
        }
        self.last_stream = id;
        let builder = &mut self.builder;
        builder.start();
        self.decoder
            .decode(block, |n, v| builder.field(n, v))
            .map_err(|_| compression())?;
        if self.goaway.is_some() || self.peer_goaway {
            // Above our GOAWAY's last stream: not taken (the client may send it again).
            return Ok(());
        }
        let mut sh = self.sh.borrow_mut();
        if sh.open >= self.max_streams {
            frame::rst_stream(&mut sh.out, id, Reason::REFUSED_STREAM);
            return Ok(());
        }
        // The head goes straight into the slot's inbox.
        let (i, new) = match sh.idle.pop() {
            Some(i) => (i, false),
            None => match sh.free.pop() {
                Some(i) => (i, true),
                None => {
                    sh.slots.push(Slot::default());
                    (sh.slots.len() - 1, true)
                }
            },
        };
        let verdict = {
            let slot = &mut sh.slots[i];
            slot.inbox.clear();
            slot.inbox_at = 0;
            let (verdict, parsed) =
                self.builder
                    .finish(end_stream, self.max_list, &mut slot.inbox, &mut slot.head);
            slot.head_parsed = parsed;
            if parsed {
                slot.head_text.clear();
                slot.head_text.extend_from_slice(&slot.inbox);
            }
            verdict
        };
        let (framing, head_request) = match verdict {
            Verdict::Request { framing, is_head } => (framing, is_head),
            refused => {
                // The slot was not used after all.
                if new {
                    sh.free.push(i);
                } else {
                    sh.idle.push(i);
                }
                let status = match refused {
                    Verdict::Connect => 501,
                    Verdict::TooLarge => 431,
                    _ => {
                        drop(sh);
                        return self.stream_error(id, Reason::PROTOCOL_ERROR);
                    }
                };
                let mut b = Vec::with_capacity(8);
                hpack::status(&mut b, status);
                hpack::field(&mut b, b"content-length", b"0");
                let max = sh.peer_max_frame;
                frame::headers(&mut sh.out, id, &b, true, max);
                if !end_stream {
                    frame::rst_stream(&mut sh.out, id, Reason::NO_ERROR);
                }
                return Ok(());
            }
        };
        // Until the client acknowledges our SETTINGS it may count on the default window.
        let recv_window = sh.our_window.max(frame::DEFAULT_WINDOW);
        let mut st = StreamState::new(id, sh.peer_initial_window, recv_window);
        st.head_request = head_request;
        match framing {
            Framing::None => st.req_done = true,
            Framing::Length(n) => st.length_left = Some(n),
            Framing::Chunked => st.chunked = true,
        }
        sh.open += 1;
        let slot = &mut sh.slots[i];
        slot.stream = Some(st);
        slot.conv.reset();
        if new {
            slot.session = true;
            drop(sh);
            self.spawn_session(i);
        } else {
            sh.wake_slot(i);
        }
        Ok(())
    }

    fn spawn_session(&self, i: usize) {
        let conn = Conn::H2(H2Stream::new(self.sh.clone(), i));
        let (w, fe, peer, local) = (self.w.clone(), self.fe.clone(), self.peer, self.local);
        w.live.set(w.live.get() + 1);
        tokio::task::spawn_local(async move {
            crate::session::http::run(&w, &fe, conn, peer, local).await;
            w.live.set(w.live.get() - 1);
        });
    }

    /// A header block on an open stream: its trailers (which end it).
    fn trailers(
        &mut self,
        i: usize,
        id: u32,
        end_stream: bool,
        block: &[u8],
    ) -> Result<(), ConnError> {
        let compression = || ConnError(Reason::COMPRESSION_ERROR);
        let mut sh = self.sh.borrow_mut();
        let slot = &mut sh.slots[i];
        let Some(st) = slot.stream.as_mut() else {
            return Err(ConnError(Reason::INTERNAL_ERROR));
        };
        if st.reset {
            // Reset by us with the trailers in flight: ignored, decoded all the same.
            return self
                .decoder
                .decode(block, |_, _| {})
                .map_err(|_| compression());
        }
        let chunked = st.chunked && !st.req_done;
        let closed = st.req_done;
        let inbox = &mut slot.inbox;
        if chunked && end_stream {
            inbox.extend_from_slice(b"0\r\n");
            self.decoder
                .decode(block, |n, v| request::trailer_field(inbox, n, v))
                .map_err(|_| compression())?;
            inbox.extend_from_slice(b"\r\n");
        } else {
            // With a length there is nowhere to put trailers in HTTP/1.1: they are dropped,
            // as haproxy drops them.
            self.decoder
                .decode(block, |_, _| {})
                .map_err(|_| compression())?;
        }
        if closed {
            drop(sh);
            return self.stream_error(id, Reason::STREAM_CLOSED);
        }
        if !end_stream {
            drop(sh);
            return self.stream_error(id, Reason::PROTOCOL_ERROR);
        }
        if let Some(st) = sh.slots[i].stream.as_mut() {
            let short = st.length_left.is_some_and(|n| n > 0);
            st.req_done = true;
            if short {
                drop(sh);
                return self.stream_error(id, Reason::PROTOCOL_ERROR);
            }
        }
        sh.wake_slot(i);
        Ok(())
    }

    fn data(&mut self, h: Head, p: &[u8]) -> Result<(), ConnError> {
        if h.stream == 0 {
            return Err(ConnError(Reason::PROTOCOL_ERROR));
        }
        let len = h.len as i64;
        let mut sh = self.sh.borrow_mut();
        if len > sh.recv_window {
            return Err(ConnError(Reason::FLOW_CONTROL_ERROR));
        }
        sh.recv_window -= len;
        let body = Self::unpad(&h, p, false)?;
        let end = h.flags & frame::END_STREAM != 0;
        let Some(i) = sh.slot_of(h.stream) else {
            // Paid back at once: nobody will read it. A stream we refused or reset may have
            // had DATA in flight: ignored (RFC 9113 §5.4.2).
            return_credit(&mut sh, h.len);
            drop(sh);
            return self.closed_or_idle(h.stream);
        };
        let slot = &mut sh.slots[i];
        let Some(st) = slot.stream.as_mut() else {
            return Err(ConnError(Reason::INTERNAL_ERROR));
        };
        let error = if st.reset {
            // Reset by us: the client had it in flight.
            Some(None)
        } else if st.req_done {
            Some(Some(Reason::STREAM_CLOSED))
        } else if len > st.recv_window {
            Some(Some(Reason::FLOW_CONTROL_ERROR))
        } else {
            match st.length_left {
                Some(left) if body.len() as u64 > left => Some(Some(Reason::PROTOCOL_ERROR)),
                Some(left) if end && body.len() as u64 != left => {
                    Some(Some(Reason::PROTOCOL_ERROR))
                }
                _ => None,
            }
        };
        if let Some(why) = error {
            return_credit(&mut sh, h.len);
            drop(sh);
            return match why {
                Some(r) => self.stream_error(h.stream, r),
                None => Ok(()),
            };
        }
        st.recv_window -= len;
        if body.is_empty() {
            // Nothing for the session to take: the frame's window (padding) is owed now.
            st.credit += h.len as u32;
        } else {
            st.uncredited += h.len as u32;
        }
        if let Some(left) = st.length_left.as_mut() {
            *left -= body.len() as u64;
        }
        let chunked = st.chunked;
        if end {
            st.req_done = true;
        }
        slot.compact_inbox();
        if chunked && !body.is_empty() {
            let _ = write!(slot.inbox, "{:x}\r\n", body.len());
            slot.inbox.extend_from_slice(body);
            slot.inbox.extend_from_slice(b"\r\n");
        } else {
            slot.inbox.extend_from_slice(body);
        }
        if chunked && end {
            slot.inbox.extend_from_slice(b"0\r\n\r\n");
        }
        if body.is_empty() {
            return_credit(&mut sh, h.len);
        }
        sh.wake_slot(i);
        Ok(())
    }
}

/// Returns connection window for DATA no session will read.
fn return_credit(sh: &mut Shared, n: usize) {
    sh.conn_credit += n as u32;
    if sh.conn_credit >= frame::DEFAULT_WINDOW / 2 {
        sh.recv_window += i64::from(sh.conn_credit);
        frame::window_update(&mut sh.out, 0, sh.conn_credit);
        sh.conn_credit = 0;
    }
}

/// Client resets counted over a sliding second.
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
