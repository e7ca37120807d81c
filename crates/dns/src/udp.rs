//! The UDP hot path: one blocking worker thread per socket, reading a batch of queries with
//! one `recvmmsg`, answering each into a buffer reused for the thread's life, and sending the
//! batch's responses with one `sendmmsg`.
//!
//! Responses of equal size to the same peer in one batch leave as one UDP GSO send
//! (`UDP_SEGMENT`): the kernel routes, filters and queues them once and cuts them into
//! separate datagrams on the way out (or, on loopback, just before the receiving socket), so
//! the peer sees ordinary datagrams. A kernel or device that refuses GSO gets the datagrams
//! one by one, and the worker stops asking.
//!
//! A socket bound to a wildcard address (0.0.0.0, ::) reads each query's destination address
//! (`IP_PKTINFO`, `IPV6_RECVPKTINFO`) and answers from it: on a host with several addresses
//! the kernel would otherwise pick the source by route, and clients drop answers from an
//! address they did not ask. A socket bound to one address needs none of this and carries no
//! control message per datagram.

use std::io;
use std::mem::MaybeUninit;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use socket2::{Domain, Protocol, Socket, Type};

use crate::answer::{AnswerConfig, Outcome, Transport, ZoneSet};
use crate::cache::ResponseCache;
use crate::rrl::{self, RateLimit, RateLimiter, Verdict};
use crate::xfr;

/// How long a blocked worker waits before it looks at the stop flag.
const WAKE: Duration = Duration::from_millis(200);
/// Datagrams read (and answered) per system call. 64 rather than 32: under dnsperf's load
/// the larger batch let more responses to one peer share a GSO send (docs/performance.md).
pub(crate) const BATCH: usize = 64;
/// The largest query datagram read; anything longer is cut and then fails to parse.
const QUERY_MAX: usize = 4096;
/// Responses longer than this always leave alone: a GSO segment must fit the path MTU
/// unfragmented, and 1,232 octets fit the IPv6 minimum (RFC 8200's 1,280 less headers).
const GSO_SEGMENT_MAX: usize = 1232;
/// Octets of one GSO send (UDP's 65,535 less headers, with room to spare).
const GSO_BYTES_MAX: usize = 60_000;
/// Segments of one GSO send (the kernel's UDP_MAX_SEGMENTS is 64 before Linux 6.9).
const GSO_SEGMENTS_MAX: usize = 64;

/// A UDP socket for one worker: `SO_REUSEPORT`, so that each worker has its own.
pub(crate) fn bind_udp(addr: SocketAddr) -> io::Result<UdpSocket> {
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.set_reuse_port(true)?;
    s.set_reuse_address(true)?;
    s.set_read_timeout(Some(WAKE))?;
    // Room for bursts: the kernel default drops under load generators.
    let _ = s.set_recv_buffer_size(4 << 20);
    let _ = s.set_send_buffer_size(4 << 20);
    if addr.ip().is_unspecified() {
        let (level, name) = if addr.is_ipv6() {
            (libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO)
        } else {
            (libc::IPPROTO_IP, libc::IP_PKTINFO)
        };
        let on: libc::c_int = 1;
        // SAFETY: a live socket and a c_int option value of the stated size.
        let r = unsafe {
            libc::setsockopt(
                s.as_raw_fd(),
                level,
                name,
                (&on as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r != 0 {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(
                e.kind(),
                format!("udp {addr}: pktinfo: {e}"),
            ));
        }
    }
    s.bind(&addr.into())
        .map_err(|e| io::Error::new(e.kind(), format!("udp {addr}: {e}")))?;
    Ok(s.into())
}

/// One UDP worker: read a batch, answer each datagram, send the batch, until `stop`.
pub(crate) fn udp_worker(
    sock: UdpSocket,
    zones: Arc<ArcSwap<ZoneSet>>,
    cfg: AnswerConfig,
    rate_limit: Option<RateLimit>,
    stop: Arc<AtomicBool>,
) {
    let fd = sock.as_raw_fd();
    let wildcard = sock.local_addr().is_ok_and(|a| a.ip().is_unspecified());
    let mut cache = ResponseCache::new();
    let mut inbox = Inbox::new(wildcard);
    let mut outbox = Outbox::new();
    let mut limiter = rate_limit
        .filter(RateLimit::is_active)
        .map(RateLimiter::new);
    while !stop.load(Ordering::Relaxed) {
        let n = inbox.receive(fd);
        if n == 0 {
            continue; // timeout (stop check), EINTR, or a transient error
        }
        cache.use_zones(&zones.load_full());
        if let Some(l) = limiter.as_mut() {
            l.tick();
        }
        for i in 0..n {
            let (query, peer, peer_len, local) = inbox.datagram(i);
            let out = outbox.buffer();
            let mut len = match cache.respond(query, Transport::Udp, &cfg, out) {
                Outcome::Reply(len) => len,
                // Transfers and NOTIFY are TCP's business; NOTIFY to a primary is refused there.
                Outcome::Transfer | Outcome::Notify => xfr::refuse(query, out),
                Outcome::Drop => 0,
            };
            if let (Some(l), true) = (limiter.as_mut(), len > 0) {
                match l.check(peer, &out[..len]) {
                    Verdict::Send => {}
                    Verdict::Slip => len = rrl::slip(&mut out[..len]),
                    Verdict::Drop => len = 0,
                }
            }
            if len > 0 {
                outbox.commit(len, peer, peer_len, local);
            }
        }
        outbox.send(fd);
    }
}

/// The receive side of a batch: datagrams and their senders, filled by `recvmmsg`.
struct Inbox {
    bufs: Vec<[u8; QUERY_MAX]>,
    peers: Vec<libc::sockaddr_storage>,
    iov: Vec<libc::iovec>,
    hdr: Vec<libc::mmsghdr>,
    /// Control buffers for the destination address, on a wildcard-bound socket only.
    control: Vec<Control>,
}

impl Inbox {
    fn new(wildcard: bool) -> Inbox {
        let mut bufs = vec![[0u8; QUERY_MAX]; BATCH];
        let iov = bufs
            .iter_mut()
            .map(|b| libc::iovec {
                iov_base: b.as_mut_ptr().cast(),
                iov_len: QUERY_MAX,
            })
            .collect();
        Inbox {
            bufs,
            // SAFETY: all-zero bytes are valid values for these plain C structs.
            peers: vec![unsafe { MaybeUninit::zeroed().assume_init() }; BATCH],
            iov,
            hdr: vec![unsafe { MaybeUninit::zeroed().assume_init() }; BATCH],
            control: if wildcard {
                vec![Control([0; CONTROL_LEN]); BATCH]
            } else {
                Vec::new()
            },
        }
    }

    /// Waits for at least one datagram (or the read timeout) and takes what else is queued,
    /// up to a batch. Returns how many arrived.
    fn receive(&mut self, fd: RawFd) -> usize {
        for i in 0..BATCH {
            let h = &mut self.hdr[i].msg_hdr;
            h.msg_name = (&mut self.peers[i] as *mut libc::sockaddr_storage).cast();
            h.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as u32;
            h.msg_iov = &mut self.iov[i];
            h.msg_iovlen = 1;
            match self.control.get_mut(i) {
                Some(c) => {
                    h.msg_control = c.0.as_mut_ptr().cast();
                    h.msg_controllen = CONTROL_LEN;
                }
                None => {
                    h.msg_control = std::ptr::null_mut();
                    h.msg_controllen = 0;
                }
            }
            h.msg_flags = 0;
            self.hdr[i].msg_len = 0;
        }
        // SAFETY: every header points at live buffers of the stated sizes owned by `self`.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                self.hdr.as_mut_ptr(),
                BATCH as u32,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        n.max(0) as usize
    }

    /// Datagram `i` of the last batch, its sender's address and (on a wildcard-bound socket)
    /// the address it was sent to.
    fn datagram(&self, i: usize) -> (&[u8], &libc::sockaddr_storage, u32, LocalAddr) {
        let len = (self.hdr[i].msg_len as usize).min(QUERY_MAX);
        let local = if self.control.is_empty() {
            LocalAddr::Bound
        } else {
            destination(&self.hdr[i].msg_hdr)
        };
        (
            &self.bufs[i][..len],
            &self.peers[i],
            self.hdr[i].msg_hdr.msg_namelen,
            local,
        )
    }
}

/// The address a query was sent to, which its answer must leave from.
#[derive(Clone, Copy)]
pub(crate) enum LocalAddr {
    /// The socket's own (it is bound to one address).
    Bound,
    V4(libc::in_addr),
    /// The address and the interface it came in on (link-local addresses need it).
    V6(libc::in6_addr, u32),
}

impl LocalAddr {
    fn same(&self, other: &LocalAddr) -> bool {
        match (self, other) {
            (LocalAddr::Bound, LocalAddr::Bound) => true,
            (LocalAddr::V4(a), LocalAddr::V4(b)) => a.s_addr == b.s_addr,
            (LocalAddr::V6(a, i), LocalAddr::V6(b, j)) => a.s6_addr == b.s6_addr && i == j,
            _ => false,
        }
    }
}

/// The destination address in a received datagram's control messages.
fn destination(h: &libc::msghdr) -> LocalAddr {
    // SAFETY: the kernel filled msg_control with msg_controllen octets of well-formed control
    // messages; CMSG_FIRSTHDR/NXTHDR stay inside them and the data is read unaligned.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(h);
        while !c.is_null() {
            match ((*c).cmsg_level, (*c).cmsg_type) {
                (libc::IPPROTO_IP, libc::IP_PKTINFO) => {
                    let info: libc::in_pktinfo =
                        std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                    return LocalAddr::V4(info.ipi_addr);
                }
                (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO) => {
                    let info: libc::in6_pktinfo =
                        std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                    return LocalAddr::V6(info.ipi6_addr, info.ipi6_ifindex);
                }
                _ => {}
            }
            c = libc::CMSG_NXTHDR(h, c);
        }
    }
    LocalAddr::Bound
}

/// One response waiting to be sent.
struct Response {
    buf: Vec<u8>,
    len: usize,
    peer: libc::sockaddr_storage,
    peer_len: u32,
    local: LocalAddr,
}

/// Room for the control messages of one datagram: a `UDP_SEGMENT` (24 octets) and an
/// `IPV6_PKTINFO` (40) or `IP_PKTINFO` (32), 8-aligned.
const CONTROL_LEN: usize = 72;

#[derive(Clone, Copy)]
#[repr(C, align(8))]
struct Control([u8; CONTROL_LEN]);

/// The send side of a batch: responses, grouped into messages for `sendmmsg`.
pub(crate) struct Outbox {
    responses: Vec<Response>,
    count: usize,
    grouped: Vec<bool>,
    iov: Vec<libc::iovec>,
    hdr: Vec<libc::mmsghdr>,
    control: Vec<Control>,
    /// Per message: its first iovec, its number of segments, its first response.
    groups: Vec<(usize, usize, usize)>,
    gso: bool,
}

impl Outbox {
    pub(crate) fn new() -> Outbox {
        Outbox {
            responses: (0..BATCH)
                .map(|_| Response {
                    buf: Vec::with_capacity(16 * 1024),
                    len: 0,
                    // SAFETY: all-zero bytes are a valid sockaddr_storage.
                    peer: unsafe { MaybeUninit::zeroed().assume_init() },
                    peer_len: 0,
                    local: LocalAddr::Bound,
                })
                .collect(),
            count: 0,
            grouped: vec![false; BATCH],
            iov: vec![
                libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0,
                };
                BATCH
            ],
            // SAFETY: all-zero bytes are a valid mmsghdr.
            hdr: vec![unsafe { MaybeUninit::zeroed().assume_init() }; BATCH],
            control: vec![Control([0; CONTROL_LEN]); BATCH],
            groups: vec![(0, 0, 0); BATCH],
            gso: true,
        }
    }

    /// The buffer the next response is written into (at most [`BATCH`] per send).
    pub(crate) fn buffer(&mut self) -> &mut Vec<u8> {
        &mut self.responses[self.count].buf
    }

    /// Queues the first `len` octets of [`Outbox::buffer`] for `peer`, to leave from `local`.
    pub(crate) fn commit(
        &mut self,
        len: usize,
        peer: &libc::sockaddr_storage,
        peer_len: u32,
        local: LocalAddr,
    ) {
        let r = &mut self.responses[self.count];
        r.len = len;
        r.local = local;
        r.peer_len = peer_len.min(std::mem::size_of::<libc::sockaddr_storage>() as u32);
        // SAFETY: both are sockaddr_storage; only the address's own octets are copied.
        unsafe {
            std::ptr::copy_nonoverlapping(
                (peer as *const libc::sockaddr_storage).cast::<u8>(),
                (&mut r.peer as *mut libc::sockaddr_storage).cast::<u8>(),
                r.peer_len as usize,
            );
        }
        self.count += 1;
    }

    /// Whether responses `a` and `b` go to the same address and port, from the same address.
    fn same_peer(&self, a: usize, b: usize) -> bool {
        let (a, b) = (&self.responses[a], &self.responses[b]);
        a.peer_len == b.peer_len && a.local.same(&b.local) && {
            // SAFETY: peer_len octets of each address were written by commit().
            let pa = unsafe {
                std::slice::from_raw_parts(
                    (&a.peer as *const libc::sockaddr_storage).cast::<u8>(),
                    a.peer_len as usize,
                )
            };
            let pb = unsafe {
                std::slice::from_raw_parts(
                    (&b.peer as *const libc::sockaddr_storage).cast::<u8>(),
                    b.peer_len as usize,
                )
            };
            pa == pb
        }
    }

    /// Builds the messages: each response is one, except that equal-size responses to one
    /// peer share one (a GSO send), in the order their first response was queued.
    fn group(&mut self) -> usize {
        let n = self.count;
        self.grouped[..n].fill(false);
        let mut messages = 0;
        let mut iovs = 0;
        for i in 0..n {
            if self.grouped[i] {
                continue;
            }
            let len = self.responses[i].len;
            let first = iovs;
            self.iov[iovs] = libc::iovec {
                iov_base: self.responses[i].buf.as_mut_ptr().cast(),
                iov_len: len,
            };
            iovs += 1;
            let mut segments = 1;
            if self.gso && len <= GSO_SEGMENT_MAX {
                let most = GSO_SEGMENTS_MAX.min(GSO_BYTES_MAX / len);
                for j in i + 1..n {
                    if segments == most {
                        break;
                    }
                    if !self.grouped[j] && self.responses[j].len == len && self.same_peer(i, j) {
                        self.grouped[j] = true;
                        self.iov[iovs] = libc::iovec {
                            iov_base: self.responses[j].buf.as_mut_ptr().cast(),
                            iov_len: len,
                        };
                        iovs += 1;
                        segments += 1;
                    }
                }
            }
            let segment = (segments > 1).then_some(len as u16);
            let control = write_control(
                &mut self.control[messages],
                segment,
                self.responses[i].local,
            );
            let h = &mut self.hdr[messages].msg_hdr;
            h.msg_name = (&mut self.responses[i].peer as *mut libc::sockaddr_storage).cast();
            h.msg_namelen = self.responses[i].peer_len;
            h.msg_iov = &mut self.iov[first];
            h.msg_iovlen = segments;
            h.msg_control = control.0;
            h.msg_controllen = control.1;
            h.msg_flags = 0;
            self.groups[messages] = (first, segments, i);
            messages += 1;
        }
        messages
    }

    /// Sends every queued response and empties the outbox.
    pub(crate) fn send(&mut self, fd: RawFd) {
        let m = self.group();
        let mut sent = 0;
        while sent < m {
            // SAFETY: headers sent..m point at live buffers and addresses filled by group().
            let r =
                unsafe { libc::sendmmsg(fd, self.hdr[sent..].as_mut_ptr(), (m - sent) as u32, 0) };
            if r > 0 {
                sent += r as usize;
                continue;
            }
            let err = io::Error::last_os_error().raw_os_error();
            let (first, segments, _) = self.groups[sent];
            if segments > 1 && matches!(err, Some(libc::EIO | libc::EINVAL | libc::ENOPROTOOPT)) {
                // This kernel or device does not do UDP GSO: send these alone, and from now
                // on every response alone.
                self.gso = false;
                self.send_each(fd, sent, first, segments);
            }
            // Anything else (say, an unreachable peer): the datagrams are lost, as UDP allows.
            sent += 1;
        }
        self.count = 0;
    }

    /// Sends the segments of message `message` as datagrams of their own.
    fn send_each(&mut self, fd: RawFd, message: usize, first: usize, segments: usize) {
        let h = self.hdr[message].msg_hdr;
        let local = self.responses[self.groups[message].2].local;
        let mut control = Control([0; CONTROL_LEN]);
        for k in first..first + segments {
            let mut one = h;
            one.msg_iov = &mut self.iov[k];
            one.msg_iovlen = 1;
            (one.msg_control, one.msg_controllen) = write_control(&mut control, None, local);
            // SAFETY: the header points at a live address and one live buffer.
            unsafe { libc::sendmsg(fd, &one, 0) };
        }
    }
}

/// Writes a datagram's control messages into `buf`: `UDP_SEGMENT` with the segment size for
/// a GSO send, the source address for an answer from a wildcard-bound socket. Returns them
/// as msg_control and msg_controllen (null and 0 when there are none).
fn write_control(
    buf: &mut Control,
    segment: Option<u16>,
    local: LocalAddr,
) -> (*mut libc::c_void, usize) {
    let mut at = 0;
    if let Some(size) = segment {
        at += put_cmsg(&mut buf.0[at..], libc::SOL_UDP, libc::UDP_SEGMENT, size);
    }
    match local {
        LocalAddr::Bound => {}
        LocalAddr::V4(addr) => {
            let info = libc::in_pktinfo {
                ipi_ifindex: 0,
                ipi_spec_dst: addr,
                ipi_addr: libc::in_addr { s_addr: 0 },
            };
            at += put_cmsg(&mut buf.0[at..], libc::IPPROTO_IP, libc::IP_PKTINFO, info);
        }
        LocalAddr::V6(addr, ifindex) => {
            let info = libc::in6_pktinfo {
                ipi6_addr: addr,
                ipi6_ifindex: ifindex,
            };
            at += put_cmsg(
                &mut buf.0[at..],
                libc::IPPROTO_IPV6,
                libc::IPV6_PKTINFO,
                info,
            );
        }
    }
    if at == 0 {
        (std::ptr::null_mut(), 0)
    } else {
        (buf.0.as_mut_ptr().cast(), at)
    }
}

/// Writes one control message carrying `data` at the start of `buf` (8-aligned); returns
/// the octets it takes.
fn put_cmsg<T: Copy>(buf: &mut [u8], level: libc::c_int, kind: libc::c_int, data: T) -> usize {
    let len = std::mem::size_of::<T>() as u32;
    // SAFETY: pure arithmetic on sizes.
    let space = unsafe { libc::CMSG_SPACE(len) } as usize;
    assert!(space <= buf.len(), "control buffer too small");
    // SAFETY: `buf` starts 8-aligned (Control is, and every message's space is a multiple of
    // 8) and holds `space` octets: the header and its data lie inside it.
    unsafe {
        let c = buf.as_mut_ptr().cast::<libc::cmsghdr>();
        (*c).cmsg_level = level;
        (*c).cmsg_type = kind;
        (*c).cmsg_len = libc::CMSG_LEN(len) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<T>(), data);
    }
    space
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;

    fn storage(addr: SocketAddr) -> (libc::sockaddr_storage, u32) {
        let s = socket2::SockAddr::from(addr);
        // SAFETY: SockAddr holds a sockaddr_storage of which len() octets are the address.
        (
            unsafe { *s.as_ptr().cast::<libc::sockaddr_storage>() },
            s.len(),
        )
    }

    /// Sends `responses` (peer, octets) through an outbox and returns what each peer reads.
    /// The kernel must take the GSO sends (not make the outbox fall back to single ones).
    fn through_outbox(responses: &[(usize, Vec<u8>)], peers: &[UdpSocket]) -> Vec<Vec<Vec<u8>>> {
        let local = peers[0].local_addr().unwrap();
        let sender = UdpSocket::bind(SocketAddr::new(local.ip(), 0)).unwrap();
        let mut out = Outbox::new();
        for (p, bytes) in responses {
            let (peer, len) = storage(peers[*p].local_addr().unwrap());
            out.buffer().clear();
            out.buffer().extend_from_slice(bytes);
            out.commit(bytes.len(), &peer, len, LocalAddr::Bound);
        }
        out.send(sender.as_raw_fd());
        assert!(out.gso, "the kernel refused a UDP GSO send");
        let mut got = vec![Vec::new(); peers.len()];
        for (p, sock) in peers.iter().enumerate() {
            let want = responses.iter().filter(|(q, _)| *q == p).count();
            sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut buf = [0u8; 70_000];
            for _ in 0..want {
                let n = sock.recv(&mut buf).expect("every datagram arrives");
                got[p].push(buf[..n].to_vec());
            }
        }
        got
    }

    #[test]
    fn equal_responses_to_one_peer_arrive_as_separate_datagrams() {
        let peers: Vec<UdpSocket> = (0..3)
            .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        // Peer 0: five of 100 octets (one GSO send) and one of 60; peer 1: three of 100;
        // peer 2: one of 100. Each response's octets say which it is.
        let mut responses = Vec::new();
        for k in 0..10u8 {
            let (p, len) = match k {
                0..=4 => (0, 100),
                5 => (0, 60),
                6..=8 => (1, 100),
                _ => (2, 100),
            };
            responses.push((p, vec![k; len]));
        }
        // Interleave the peers as a batch would.
        responses.swap(1, 6);
        responses.swap(3, 9);
        let got = through_outbox(&responses, &peers);
        for (p, datagrams) in got.iter().enumerate() {
            let mut want: Vec<Vec<u8>> = responses
                .iter()
                .filter(|(q, _)| *q == p)
                .map(|(_, b)| b.clone())
                .collect();
            let mut have = datagrams.clone();
            want.sort();
            have.sort();
            assert_eq!(have, want, "peer {p}");
        }
        // Within one peer, equal-size responses keep the order they were queued in.
        let order: Vec<u8> = got[0]
            .iter()
            .filter(|d| d.len() == 100)
            .map(|d| d[0])
            .collect();
        let queued: Vec<u8> = responses
            .iter()
            .filter(|(q, b)| *q == 0 && b.len() == 100)
            .map(|(_, b)| b[0])
            .collect();
        assert_eq!(order, queued);
    }

    #[test]
    fn over_ipv6_too() {
        let peers: Vec<UdpSocket> = (0..2)
            .map(|_| UdpSocket::bind("[::1]:0").expect("IPv6 loopback (::1) is needed"))
            .collect();
        let responses: Vec<(usize, Vec<u8>)> =
            (0..12u8).map(|k| ((k % 2) as usize, vec![k; 80])).collect();
        let got = through_outbox(&responses, &peers);
        for (p, datagrams) in got.iter().enumerate() {
            let ids: Vec<u8> = datagrams.iter().map(|d| d[0]).collect();
            let want: Vec<u8> = (0..12u8).filter(|k| (k % 2) as usize == p).collect();
            assert_eq!(ids, want, "peer {p}");
        }
    }

    #[test]
    fn grouping_follows_peer_and_size() {
        let peers: Vec<UdpSocket> = (0..2)
            .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        let mut out = Outbox::new();
        for (p, len) in [(0, 50), (1, 50), (0, 50), (0, 70), (1, 50), (0, 50)] {
            let (peer, plen) = storage(peers[p].local_addr().unwrap());
            out.buffer().resize(len, 0);
            out.commit(len, &peer, plen, LocalAddr::Bound);
        }
        let messages = out.group();
        let segments: Vec<usize> = out.groups[..messages].iter().map(|g| g.1).collect();
        assert_eq!(segments, [3, 2, 1]);
        out.count = 0;
    }

    #[test]
    fn a_full_batch_of_the_largest_segments_to_one_peer_arrives_whole() {
        let peers = [UdpSocket::bind("127.0.0.1:0").unwrap()];
        let responses: Vec<(usize, Vec<u8>)> = (0..BATCH)
            .map(|k| (0, vec![k as u8; GSO_SEGMENT_MAX]))
            .collect();
        let got = through_outbox(&responses, &peers);
        let ids: Vec<u8> = got[0].iter().map(|d| d[0]).collect();
        assert_eq!(ids, (0..BATCH as u8).collect::<Vec<_>>());
        assert!(got[0].iter().all(|d| d.len() == GSO_SEGMENT_MAX));
    }
}
