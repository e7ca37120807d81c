//! What a client connection's streams share with the HTTP sessions that serve them, and the
//! session's end of it: [`H2Stream`], a virtual client connection (`Conn::H2`) on which a
//! session reads requests as HTTP/1.1 text and writes answers that become frames.
//!
//! A session is not made per stream: when its answer is complete and the session comes
//! back for the next request, as on a keep-alive connection, the slot takes the next stream
//! the client opens. Sessions, their buffers and their tasks thus live as long as the
//! connection's concurrency needs them, not once per request.

use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::response::{Converter, Refused, Target};
use crate::h2::frame::{self, Reason};
use crate::http1::{BodyKind, RequestHead};
use crate::tls::facts::TlsFacts;

/// State shared by a connection's task and its sessions (one thread: `Rc<RefCell>`).
pub struct Shared {
    /// Frames waiting to be written, from every stream: one write per wake-up.
    pub out: Vec<u8>,
    /// The connection task, to wake when `out` grows or a stream changes.
    pub conn_waker: Option<Waker>,
    /// Set when the connection task was woken and has not run since.
    pub woken: bool,
    pub slots: Vec<Slot>,
    /// Slots whose sessions wait for a stream.
    pub idle: Vec<usize>,
    /// Slots no handle refers to.
    pub free: Vec<usize>,
    pub tls: Option<Arc<TlsFacts>>,
    /// The connection is gone: sessions read end of stream and writes fail.
    pub closed: bool,
    /// The client's SETTINGS_MAX_FRAME_SIZE.
    pub peer_max_frame: usize,
    /// The client's SETTINGS_INITIAL_WINDOW_SIZE.
    pub peer_initial_window: i64,
    /// What the connection may still send (the client's connection window).
    pub send_window: i64,
    /// Request body octets the sessions took and the client has not been credited for.
    pub conn_credit: u32,
    /// What the client may still send on the connection.
    pub recv_window: i64,
    /// Streams open (from HEADERS until both ends are done and the session let go).
    pub open: usize,
    /// `out` beyond this makes writers wait for the socket.
    pub max_out: usize,
    /// The initial stream window we announced (stream credit is returned by halves of it).
    pub our_window: u32,
    /// The longest answer head accepted from a session.
    pub max_head: usize,
}

/// One session's place.
#[derive(Default)]
pub struct Slot {
    /// The session's handle exists.
    pub session: bool,
    /// The reading direction is lent out (a request body copied on its own task).
    pub lent: bool,
    pub stream: Option<StreamState>,
    /// The current request as HTTP/1.1 text, from `inbox_at` on not yet read.
    pub inbox: Vec<u8>,
    pub inbox_at: usize,
    /// The head at the start of `inbox`, parsed (when `head_parsed`: see
    /// [`H2Stream::take_parsed_head`]).
    pub head: RequestHead,
    pub head_parsed: bool,
    /// The head's text, to recognise it at the start of what the session read.
    pub head_text: Vec<u8>,
    pub reader: Option<Waker>,
    pub writer: Option<Waker>,
    pub conv: Converter,
}

impl Slot {
    /// Drops the part of the inbox the session already read, before more is appended: a
    /// long upload the session reads as it comes would otherwise never let it shrink.
    pub fn compact_inbox(&mut self) {
        if self.inbox_at > 0 && self.inbox_at >= self.inbox.len() / 2 {
            self.inbox.drain(..self.inbox_at);
            self.inbox_at = 0;
        }
    }
}

/// A stream bound to a slot.
pub struct StreamState {
    pub id: u32,
    /// What we may still send on it.
    pub send_window: i64,
    /// What the client may still send on it.
    pub recv_window: i64,
    /// Request body octets delivered to the inbox, not yet credited.
    pub uncredited: u32,
    /// Credit owed to the client on this stream.
    pub credit: u32,
    /// The client ended its side (END_STREAM) or it does not matter any more.
    pub req_done: bool,
    /// A chunked request body: DATA is framed as chunks, END_STREAM adds the last chunk.
    pub chunked: bool,
    /// Octets still due with a `content-length`.
    pub length_left: Option<u64>,
    /// The stream was reset (either way): the session sees its client leave.
    pub reset: bool,
    pub head_request: bool,
    /// The session read some of this request.
    pub touched: bool,
}

impl StreamState {
    pub fn new(id: u32, send_window: i64, recv_window: u32) -> StreamState {
        StreamState {
            id,
            send_window,
            recv_window: i64::from(recv_window),
            uncredited: 0,
            credit: 0,
            req_done: false,
            chunked: false,
            length_left: None,
            reset: false,
            head_request: false,
            touched: false,
        }
    }
}

impl Shared {
    /// Slot `i`'s answer converter and what it writes against, while its stream is open and
    /// not reset.
    fn answer_target(&mut self, i: usize) -> Option<(&mut Converter, Target<'_>)> {
        let Shared {
            out,
            slots,
            send_window,
            peer_max_frame,
            max_head,
            ..
        } = self;
        let s = &mut slots[i];
        let st = s.stream.as_mut().filter(|st| !st.reset)?;
        let t = Target {
            out,
            stream: st.id,
            conn_window: send_window,
            stream_window: &mut st.send_window,
            max_frame: *peer_max_frame,
            head_request: st.head_request,
            max_head: *max_head,
        };
        Some((&mut s.conv, t))
    }

    /// Wakes the connection task (once until it runs).
    pub fn wake_conn(&mut self) {
        if !self.woken {
            if let Some(w) = &self.conn_waker {
                w.wake_by_ref();
                self.woken = true;
            }
        }
    }

    /// Wakes a slot's session wherever it waits.
    pub fn wake_slot(&mut self, i: usize) {
        let s = &mut self.slots[i];
        if let Some(w) = s.reader.take() {
            w.wake();
        }
        if let Some(w) = s.writer.take() {
            w.wake();
        }
    }

    /// Writers wait for window or room in `out`: all of them try again.
    pub fn wake_writers(&mut self) {
        for s in &mut self.slots {
            if let Some(w) = s.writer.take() {
                w.wake();
            }
        }
    }

    /// The slot of an open stream.
    pub fn slot_of(&self, id: u32) -> Option<usize> {
        self.slots
            .iter()
            .position(|s| s.stream.as_ref().is_some_and(|st| st.id == id))
    }

    /// Resets a stream from our side.
    pub fn reset(&mut self, i: usize, reason: Reason) {
        let Some(st) = self.slots[i].stream.as_mut() else {
            return;
        };
        if !st.reset {
            st.reset = true;
            st.req_done = true;
            frame::rst_stream(&mut self.out, st.id, reason);
            self.wake_conn();
        }
        self.wake_slot(i);
    }

    /// Closes a slot's stream for good.
    fn close_stream(&mut self, i: usize) {
        if self.slots[i].stream.take().is_some() {
            self.open -= 1;
        }
        let s = &mut self.slots[i];
        s.inbox.clear();
        s.inbox_at = 0;
        s.conv.reset();
    }

    /// The stream is complete both ways: the slot is ready for another.
    fn finished(&self, i: usize) -> bool {
        let s = &self.slots[i];
        s.stream.as_ref().is_some_and(|st| {
            (st.reset || st.req_done && s.conv.is_done()) && s.inbox_at >= s.inbox.len()
        })
    }

    /// Returns request body credit as WINDOW_UPDATE frames once it is worth a frame.
    fn credit(&mut self, i: usize, n: usize) {
        let our_window = self.our_window;
        let Some(st) = self.slots[i].stream.as_mut() else {
            return;
        };
        let n = u32::try_from(n).unwrap_or(u32::MAX).min(st.uncredited);
        let drained = self.slots[i].inbox_at >= self.slots[i].inbox.len();
        let Some(st) = self.slots[i].stream.as_mut() else {
            return;
        };
        // Chunk framing is counted as if it were body; what is left is paid when the inbox
        // is drained.
        let n = if drained { st.uncredited } else { n };
        if n == 0 {
            return;
        }
        st.uncredited -= n;
        self.conn_credit += n;
        let mut wrote = false;
        if !st.req_done {
            st.credit += n;
            if st.credit >= our_window / 2 {
                st.recv_window += i64::from(st.credit);
                frame::window_update(&mut self.out, st.id, st.credit);
                st.credit = 0;
                wrote = true;
            }
        }
        if self.conn_credit >= frame::DEFAULT_WINDOW / 2 {
            self.recv_window += i64::from(self.conn_credit);
            frame::window_update(&mut self.out, 0, self.conn_credit);
            self.conn_credit = 0;
            wrote = true;
        }
        if wrote {
            self.wake_conn();
        }
    }
}

/// The session's end of a slot: a virtual client connection. The reading direction can be
/// lent to a second handle (`Conn::take_reader`) that copies a request body on its own task.
pub struct H2Stream {
    sh: Rc<RefCell<Shared>>,
    slot: usize,
    lent_reader: bool,
    /// The connection's TLS facts, here so that the fetches can borrow them.
    tls: Option<Arc<TlsFacts>>,
}

impl H2Stream {
    pub(super) fn new(sh: Rc<RefCell<Shared>>, slot: usize) -> H2Stream {
        let tls = sh.borrow().tls.clone();
        H2Stream {
            sh,
            slot,
            lent_reader: false,
            tls,
        }
    }

    /// The TLS facts of the connection (for the `ssl_fc*` fetches).
    pub fn tls(&self) -> Option<&TlsFacts> {
        self.tls.as_deref()
    }

    /// Lends the reading direction out, once.
    pub fn lend_reader(&self) -> Option<H2Stream> {
        let mut sh = self.sh.borrow_mut();
        let s = &mut sh.slots[self.slot];
        if self.lent_reader || s.lent {
            return None;
        }
        s.lent = true;
        Some(H2Stream {
            sh: self.sh.clone(),
            slot: self.slot,
            lent_reader: true,
            tls: None,
        })
    }

    /// The session is about to write `text`, a final answer head it built: see
    /// [`Converter::announce`].
    pub fn announce_head<'a>(
        &self,
        text: &[u8],
        status: u16,
        body: BodyKind,
        fields: impl Iterator<Item = (&'a [u8], &'a [u8])>,
    ) {
        let mut sh = self.sh.borrow_mut();
        if !self.lent_reader {
            sh.slots[self.slot]
                .conv
                .announce(text, status, body, fields);
        }
    }

    /// The final answer's head, given as its parts: its HEADERS frame goes out at once, and
    /// the session writes only the body; gives the octets of that frame. None where the head
    /// must come as text after all (the answer began, an interim status, a full output buffer
    /// the text would wait on, or a stream already gone, whose write then fails as any write
    /// would).
    pub fn give_head<'a>(
        &self,
        status: u16,
        body: BodyKind,
        fields: impl Iterator<Item = (&'a [u8], &'a [u8])>,
    ) -> Option<usize> {
        let mut sh = self.sh.borrow_mut();
        if self.lent_reader || sh.closed || sh.out.len() >= sh.max_out {
            return None;
        }
        let (conv, mut t) = sh.answer_target(self.slot)?;
        let sent = conv.give_head(status, body, fields, &mut t)?;
        sh.wake_conn();
        Some(sent)
    }

    /// The request head at the start of `buf` (the session's read of this stream), parsed
    /// already by the connection when it was simple: copied into `head`, and true. False
    /// when the session must parse `buf` itself.
    pub fn take_parsed_head(&self, head: &mut RequestHead, buf: &[u8]) -> bool {
        let mut sh = self.sh.borrow_mut();
        let s = &mut sh.slots[self.slot];
        if !std::mem::take(&mut s.head_parsed) || self.lent_reader {
            return false;
        }
        // Anything else at the start of `buf` (or a head not whole there yet) is parsed the
        // ordinary way.
        if !buf.starts_with(&s.head_text) {
            return false;
        }
        head.copy_from(&s.head);
        debug_assert!(head.same_as_parse_of(buf), "{head:?}");
        true
    }

    /// Ready when a read would not wait (bytes, or the end of the client).
    pub fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut sh = self.sh.borrow_mut();
        match self.read_state(&mut sh) {
            ReadState::Bytes | ReadState::End => Poll::Ready(Ok(())),
            ReadState::Wait => {
                register(&mut sh.slots[self.slot].reader, cx);
                Poll::Pending
            }
        }
    }

    fn read_state(&self, sh: &mut Shared) -> ReadState {
        let i = self.slot;
        if !self.lent_reader && sh.finished(i) && !sh.slots[i].lent {
            // The session came back for more: the stream is over, the slot waits for the
            // next one.
            sh.close_stream(i);
            if !sh.closed {
                sh.idle.push(i);
                sh.wake_conn();
            }
        }
        let s = &sh.slots[i];
        match &s.stream {
            _ if s.inbox_at < s.inbox.len() => ReadState::Bytes,
            None if sh.closed => ReadState::End,
            None => ReadState::Wait,
            Some(st) if st.reset || sh.closed => ReadState::End,
            // The lent reader copies a body: its end is the end of the request.
            Some(st) if st.req_done && self.lent_reader => ReadState::End,
            Some(_) => ReadState::Wait,
        }
    }
}

enum ReadState {
    Bytes,
    End,
    Wait,
}

fn register(slot: &mut Option<Waker>, cx: &mut Context<'_>) {
    match slot {
        Some(w) if w.will_wake(cx.waker()) => {}
        _ => *slot = Some(cx.waker().clone()),
    }
}

impl AsyncRead for H2Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let mut sh = this.sh.borrow_mut();
        match this.read_state(&mut sh) {
            ReadState::End => Poll::Ready(Ok(())),
            ReadState::Wait => {
                register(&mut sh.slots[this.slot].reader, cx);
                Poll::Pending
            }
            ReadState::Bytes => {
                let s = &mut sh.slots[this.slot];
                let avail = &s.inbox[s.inbox_at..];
                let n = avail.len().min(buf.remaining());
                buf.put_slice(&avail[..n]);
                s.inbox_at += n;
                if s.inbox_at == s.inbox.len() {
                    s.inbox.clear();
                    s.inbox_at = 0;
                }
                if let Some(st) = s.stream.as_mut() {
                    st.touched = true;
                }
                sh.credit(this.slot, n);
                Poll::Ready(Ok(()))
            }
        }
    }
}

impl AsyncWrite for H2Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let mut sh = this.sh.borrow_mut();
        let gone = || Poll::Ready(Err(io::Error::from(io::ErrorKind::BrokenPipe)));
        if sh.closed || this.lent_reader {
            return gone();
        }
        if sh.out.len() >= sh.max_out {
            register(&mut sh.slots[this.slot].writer, cx);
            return Poll::Pending;
        }
        let Some((conv, mut t)) = sh.answer_target(this.slot) else {
            return gone();
        };
        match conv.write(buf, &mut t) {
            Ok(n) => {
                sh.wake_conn();
                Poll::Ready(Ok(n))
            }
            Err(Refused::Blocked) => {
                register(&mut sh.slots[this.slot].writer, cx);
                Poll::Pending
            }
            Err(Refused::Invalid) => {
                sh.reset(this.slot, Reason::INTERNAL_ERROR);
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "an answer HTTP/2 cannot carry",
                )))
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl Drop for H2Stream {
    fn drop(&mut self) {
        let Ok(mut sh) = self.sh.try_borrow_mut() else {
            return;
        };
        let i = self.slot;
        if self.lent_reader {
            sh.slots[i].lent = false;
        } else {
            sh.slots[i].session = false;
            sh.idle.retain(|&j| j != i);
            end_answer(&mut sh, i);
        }
        let s = &sh.slots[i];
        if s.session || s.lent {
            return;
        }
        // Nobody reads the request any more: the client is told to stop sending.
        if let Some(st) = s.stream.as_ref() {
            if !st.req_done && !st.reset {
                let reason = if s.conv.is_done() {
                    Reason::NO_ERROR
                } else {
                    Reason::CANCEL
                };
                sh.reset(i, reason);
            }
        }
        sh.close_stream(i);
        sh.free.push(i);
        sh.wake_conn();
    }
}

/// The session let go of its stream: an answer delimited by the close ends cleanly, one
/// cut short is reset (REFUSED_STREAM when the session never read the request, so that the
/// client may send it again).
fn end_answer(sh: &mut Shared, i: usize) {
    if sh.closed {
        return;
    }
    let Some((conv, mut t)) = sh.answer_target(i) else {
        return;
    };
    if conv.finish(&mut t) {
        sh.wake_conn();
        return;
    }
    let touched = sh.slots[i].stream.as_ref().is_some_and(|st| st.touched);
    let reason = if touched {
        Reason::INTERNAL_ERROR
    } else {
        Reason::REFUSED_STREAM
    };
    sh.reset(i, reason);
}
