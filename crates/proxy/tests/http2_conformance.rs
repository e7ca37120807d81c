//! HTTP/2 conformance of dermaga's client side, frame by frame after RFC 9113 and RFC 7541,
//! driven by independent clients: raw frames over a TcpStream for what a well-behaved
//! client would never send (and to check the windows frame by frame), and the `h2` crate's
//! client for the rest.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use support::*;

const DEFAULTS: &str = "defaults\n    mode http\n    timeout connect 2s\n    timeout client 10s\n    timeout server 10s\n\n";

const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;

const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;

const REFUSED_STREAM: u32 = 0x7;
const CANCEL: u32 = 0x8;
const ENHANCE_YOUR_CALM: u32 = 0xb;

/// HPACK (RFC 7541 appendix A): `:method GET`, `:scheme http`, `:path /`, and `:authority a`
/// as a literal without indexing.
const GET_ROOT: &[u8] = &[0x82, 0x86, 0x84, 0x01, 0x01, b'a'];

#[derive(Debug)]
struct Frame {
    ty: u8,
    flags: u8,
    id: u32,
    payload: Vec<u8>,
}

/// A client that writes frames by hand.
struct Raw {
    s: TcpStream,
    /// The server's first SETTINGS frame, as (identifier, value).
    settings: Vec<(u16, u32)>,
}

fn frame(ty: u8, flags: u8, id: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, ty, flags];
    f.extend_from_slice(&id.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

impl Raw {
    /// Connects, sends the preface and empty SETTINGS, and reads the server's SETTINGS.
    fn connect(addr: SocketAddr) -> Raw {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut r = Raw {
            s,
            settings: Vec::new(),
        };
        let mut hello = dermaga_proxy::h2::PREFACE.to_vec();
        hello.extend(frame(SETTINGS, 0, 0, &[]));
        r.write(&hello);
        let f = r.next().expect("the server's SETTINGS");
        assert_eq!((f.ty, f.flags & ACK), (SETTINGS, 0), "{f:?}");
        r.settings = f
            .payload
            .chunks(6)
            .map(|c| {
                (
                    u16::from_be_bytes([c[0], c[1]]),
                    u32::from_be_bytes([c[2], c[3], c[4], c[5]]),
                )
            })
            .collect();
        r
    }

    fn write(&mut self, b: &[u8]) {
        self.s.write_all(b).expect("write");
    }

    /// The next frame (the server's SETTINGS and PINGs acknowledged on the way), `None` at the end.
    fn next(&mut self) -> Option<Frame> {
        loop {
            let mut h = [0u8; 9];
            if self.s.read_exact(&mut h).is_err() {
                return None;
            }
            let len = (usize::from(h[0]) << 16) | (usize::from(h[1]) << 8) | usize::from(h[2]);
            let mut payload = vec![0u8; len];
            self.s.read_exact(&mut payload).ok()?;
            let f = Frame {
                ty: h[3],
                flags: h[4],
                id: u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff,
                payload,
            };
            if f.ty == SETTINGS && f.flags & ACK == 0 && !self.settings.is_empty() {
                self.write(&frame(SETTINGS, ACK, 0, &[]));
                continue;
            }
            if f.ty == PING && f.flags & ACK == 0 {
                // As a real client: the server's PING (it follows a graceful GOAWAY) is
                // answered.
                self.write(&frame(PING, ACK, 0, &f.payload));
                continue;
            }
            if f.ty == SETTINGS && f.flags & ACK == 0 {
                self.write(&frame(SETTINGS, ACK, 0, &[]));
            }
            return Some(f);
        }
    }

    /// Reads until a frame satisfies `f`; panics at the end of the connection.
    fn until(&mut self, what: &str, mut f: impl FnMut(&Frame) -> bool) -> Frame {
        loop {
            match self.next() {
                Some(fr) if f(&fr) => return fr,
                Some(_) => {}
                None => panic!("connection ended before {what}"),
            }
        }
    }
}

fn code(payload: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([
        payload[at],
        payload[at + 1],
        payload[at + 2],
        payload[at + 3],
    ])
}

fn one_backend_proxy() -> (HttpBackend, dermaga_proxy::Proxy, SocketAddr) {
    let a = HttpBackend::start("a");
    let p = start_proxy(&format!(
        "{DEFAULTS}frontend fe\n    bind 127.0.0.1:0\n    default_backend be\nbackend be\n    server a {}\n",
        a.addr
    ));
    let addr = p.local_addrs("fe")[0];
    (a, p, addr)
}

#[test]
fn settings_announce_limits_and_ping_is_answered() {
    let (_a, _p, addr) = one_backend_proxy();
    let mut c = Raw::connect(addr);
    let get = |id: u16| c.settings.iter().find(|(k, _)| *k == id).map(|(_, v)| *v);
    // SETTINGS_MAX_CONCURRENT_STREAMS (0x3) as haproxy's default; SETTINGS_MAX_HEADER_LIST_SIZE
    // (0x6) as the request buffer.
    assert_eq!(get(0x3), Some(100), "{:?}", c.settings);
    assert_eq!(get(0x6), Some(16384), "{:?}", c.settings);
    c.write(&frame(PING, 0, 0, b"dermaga!"));
    let f = c.until("PING ack", |f| f.ty == PING);
    assert_eq!((f.flags, f.payload.as_slice()), (ACK, &b"dermaga!"[..]));
}

#[test]
fn streams_beyond_100_are_refused() {
    let (a, _p, addr) = one_backend_proxy();
    let mut c = Raw::connect(addr);
    // 101 POSTs whose bodies never come: each stream stays open.
    let post: Vec<u8> = [0x83, 0x86, 0x84, 0x01, 0x01, b'a'].to_vec();
    let mut burst = Vec::new();
    for i in 0..101u32 {
        burst.extend(frame(HEADERS, END_HEADERS, 1 + 2 * i, &post));
    }
    c.write(&burst);
    let f = c.until("RST_STREAM", |f| f.ty == RST_STREAM);
    assert_eq!((f.id, code(&f.payload, 0)), (201, REFUSED_STREAM));
    // The 100 others are in flight: each reached the server.
    assert!(eventually(10, || a.hits() == 100), "{} hits", a.hits());
}

#[test]
fn rapid_reset_ends_in_goaway_enhance_your_calm() {
    let (_a, _p, addr) = one_backend_proxy();
    let mut c = Raw::connect(addr);
    let mut burst = Vec::new();
    for i in 0..1000u32 {
        let id = 1 + 2 * i;
        burst.extend(frame(HEADERS, END_HEADERS | END_STREAM, id, GET_ROOT));
        burst.extend(frame(RST_STREAM, 0, id, &CANCEL.to_be_bytes()));
    }
    // The server may close while the burst is still being written.
    let _ = c.s.write_all(&burst);
    let f = c.until("GOAWAY", |f| f.ty == GOAWAY);
    assert_eq!(code(&f.payload, 4), ENHANCE_YOUR_CALM, "{f:?}");
    // Other clients are still served.
    let (code, out, err) = support::pki::curl(&[
        "-sS",
        "--max-time",
        "10",
        "--http2-prior-knowledge",
        &format!("http://{addr}/x"),
    ]);
    assert_eq!((code, out.as_str()), (0, "a"), "{err}");
}

#[test]
fn soft_stop_sends_goaway_and_the_stream_in_flight_completes() {
    let (a, p, addr) = one_backend_proxy();
    let mut c = Raw::connect(addr);
    // POST /echo with content-length 10 (a literal without indexing, name index 28).
    let mut head = vec![0x83, 0x86, 0x04, 0x05];
    head.extend_from_slice(b"/echo");
    head.extend_from_slice(&[0x01, 0x01, b'a', 0x0f, 0x0d, 0x02]);
    head.extend_from_slice(b"10");
    c.write(&frame(HEADERS, END_HEADERS, 1, &head));
    c.write(&frame(DATA, 0, 1, b"01234"));
    // The request head reached the server: the stream is in flight.
    assert!(eventually(10, || a.hits() == 1));
    p.soft_stop();
    let f = c.until("GOAWAY", |f| f.ty == GOAWAY);
    assert_eq!(code(&f.payload, 4), 0, "NO_ERROR expected: {f:?}");
    c.write(&frame(DATA, END_STREAM, 1, b"56789"));
    let mut body = Vec::new();
    let mut status = None;
    loop {
        let f = c.until("the response", |f| f.id == 1 || f.ty == GOAWAY);
        match f.ty {
            // :status 200 is index 8 of the static table.
            HEADERS => status = Some(f.payload.first() == Some(&0x88)),
            DATA => body.extend_from_slice(&f.payload),
            _ => continue,
        }
        if f.flags & END_STREAM != 0 {
            break;
        }
    }
    assert_eq!(status, Some(true));
    assert!(
        body.ends_with(b"\r\n\r\n0123456789"),
        "{}",
        String::from_utf8_lossy(&body)
    );
    // Then the connection ends and the proxy exits.
    while c.next().is_some() {}
    p.wait();
}

fn h2_client<F, Fut>(addr: SocketAddr, f: F)
where
    F: FnOnce(h2::client::SendRequest<bytes::Bytes>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let (send, conn) = h2::client::handshake(tcp).await.expect("h2 handshake");
        tokio::spawn(async move {
            let _ = conn.await;
        });
        tokio::time::timeout(Duration::from_secs(10), f(send))
            .await
            .expect("in time");
    });
}

async fn body_of(mut body: h2::RecvStream) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(d) = body.data().await {
        let d = d.expect("data");
        body.flow_control().release_capacity(d.len()).unwrap();
        out.extend_from_slice(&d);
    }
    out
}

#[test]
fn trailers_both_ways_and_a_body_without_length() {
    let (_a, _p, addr) = one_backend_proxy();
    h2_client(addr, |mut send| async move {
        // Request: no content-length, DATA then trailers; the server sees chunked framing
        // with the trailer.
        let req = http::Request::post(format!("http://{addr}/echo"))
            .body(())
            .unwrap();
        let (resp, mut stream) = send.send_request(req, false).unwrap();
        stream
            .send_data(bytes::Bytes::from_static(b"abc"), false)
            .unwrap();
        let mut t = http::HeaderMap::new();
        t.insert("x-sum", "900150983cd24fb0".parse().unwrap());
        stream.send_trailers(t).unwrap();
        let resp = resp.await.expect("response");
        assert_eq!(resp.status(), 200);
        let body = String::from_utf8(body_of(resp.into_body()).await).unwrap();
        assert!(body.contains("transfer-encoding: chunked\r\n"), "{body}");
        assert!(
            body.ends_with("\r\n\r\nabcx-sum: 900150983cd24fb0\r\n"),
            "{body:?}"
        );
        // Response: chunked with a trailer from the server.
        let mut send = send.ready().await.unwrap();
        let req = http::Request::get(format!("http://{addr}/trailers"))
            .body(())
            .unwrap();
        let (resp, _) = send.send_request(req, true).unwrap();
        let resp = resp.await.expect("response");
        assert!(resp.headers().get("transfer-encoding").is_none());
        let mut body = resp.into_body();
        let mut data = Vec::new();
        while let Some(d) = body.data().await {
            data.extend_from_slice(&d.unwrap());
        }
        assert_eq!(data, b"a");
        let t = body.trailers().await.unwrap().expect("trailers");
        assert_eq!(t.get("x-trailer").unwrap(), "a");
    });
}

#[test]
fn an_oversized_header_list_is_answered_431_and_the_connection_lives() {
    let (a, _p, addr) = one_backend_proxy();
    h2_client(addr, |mut send| async move {
        let req = http::Request::get(format!("http://{addr}/big-headers"))
            .header("x-big", "v".repeat(20_000))
            .body(())
            .unwrap();
        let (resp, _) = send.send_request(req, true).unwrap();
        let resp = resp.await.expect("response");
        assert_eq!(resp.status(), 431);
        let mut send = send.ready().await.unwrap();
        let req = http::Request::get(format!("http://{addr}/x"))
            .body(())
            .unwrap();
        let (resp, _) = send.send_request(req, true).unwrap();
        let resp = resp.await.expect("response");
        assert_eq!(body_of(resp.into_body()).await, b"a");
    });
    assert_eq!(a.hits(), 1);
}

#[test]
fn a_large_response_follows_the_client_window() {
    let (_a, _p, addr) = one_backend_proxy();
    h2_client(addr, |mut send| async move {
        let req = http::Request::get(format!("http://{addr}/big"))
            .body(())
            .unwrap();
        let (resp, _) = send.send_request(req, true).unwrap();
        let resp = resp.await.expect("response");
        assert_eq!(resp.headers().get("content-length").unwrap(), "1048576");
        let body = body_of(resp.into_body()).await;
        assert_eq!(body.len(), 1 << 20);
    });
}

#[test]
fn tune_h2_settings_are_announced_and_enforced() {
    let a = HttpBackend::start("a");
    let p = start_proxy(&format!(
        "global\n    tune.bufsize 65536\n    tune.h2.header-table-size 8192\n    tune.h2.initial-window-size 1048576\n    tune.h2.max-concurrent-streams 7\n    tune.h2.max-frame-size 32768\n{DEFAULTS}frontend fe\n    bind 127.0.0.1:0\n    default_backend be\nbackend be\n    server a {}\n",
        a.addr
    ));
    let mut c = Raw::connect(p.local_addrs("fe")[0]);
    let get = |id: u16| c.settings.iter().find(|(k, _)| *k == id).map(|(_, v)| *v);
    // HEADER_TABLE_SIZE, MAX_CONCURRENT_STREAMS, INITIAL_WINDOW_SIZE, MAX_FRAME_SIZE.
    assert_eq!(
        (get(0x1), get(0x3), get(0x4), get(0x5)),
        (Some(8192), Some(7), Some(1_048_576), Some(32768)),
        "{:?}",
        c.settings
    );
    // The eighth open stream is refused.
    let post: Vec<u8> = [0x83, 0x86, 0x84, 0x01, 0x01, b'a'].to_vec();
    let mut burst = Vec::new();
    for i in 0..8u32 {
        burst.extend(frame(HEADERS, END_HEADERS, 1 + 2 * i, &post));
    }
    c.write(&burst);
    let f = c.until("RST_STREAM", |f| f.ty == RST_STREAM);
    assert_eq!((f.id, code(&f.payload, 0)), (15, REFUSED_STREAM));
}

#[test]
fn tune_h2_errors_name_the_keyword() {
    let load = |line: &str| {
        dermaga_proxy::config::load_str(
            "t.cfg",
            &format!("global\n    {line}\n"),
            &dermaga_proxy::config::ProcessEnv,
        )
        .map(|_| ())
        .unwrap_err()
        .iter()
        .map(|d| d.render(0))
        .collect::<Vec<_>>()
        .join("\n")
    };
    let e = load("tune.h2.max-frame-size 1000");
    assert!(
        e.contains("[t.cfg:2] : 'tune.h2.max-frame-size' expects a numeric value between 16384 and 16777215."),
        "{e}"
    );
    let e = load("tune.h2.header-table-size 70000");
    assert!(
        e.contains("'tune.h2.header-table-size' expects a numeric value between 0 and 65536."),
        "{e}"
    );
    // The other tune.h2 keywords stay errors.
    let e = load("tune.h2.fe.max-total-streams 10");
    assert!(
        e.contains("[t.cfg:2]") && e.contains("tune.h2.fe.max-total-streams"),
        "{e}"
    );
    let e = load("tune.h2.bogus 1");
    assert!(
        e.contains("[t.cfg:2]") && e.contains("tune.h2.bogus"),
        "{e}"
    );
}

const WINDOW_UPDATE: u8 = 0x8;
const PROTOCOL_ERROR: u32 = 0x1;

impl Raw {
    /// As [`Raw::connect`], announcing `settings` as (identifier, value).
    fn connect_with(addr: SocketAddr, settings: &[(u16, u32)]) -> Raw {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut r = Raw {
            s,
            settings: Vec::new(),
        };
        let mut payload = Vec::new();
        for (id, v) in settings {
            payload.extend_from_slice(&id.to_be_bytes());
            payload.extend_from_slice(&v.to_be_bytes());
        }
        let mut hello = dermaga_proxy::h2::PREFACE.to_vec();
        hello.extend(frame(SETTINGS, 0, 0, &payload));
        r.write(&hello);
        let f = r.next().expect("the server's SETTINGS");
        assert_eq!(f.ty, SETTINGS);
        r.settings = vec![(0, 0)];
        r
    }
}

/// An HPACK literal field without indexing, with a new name (both shorter than 127 octets).
fn literal(name: &str, value: &str) -> Vec<u8> {
    let mut b = vec![0x00, name.len() as u8];
    b.extend_from_slice(name.as_bytes());
    b.push(value.len() as u8);
    b.extend_from_slice(value.as_bytes());
    b
}

/// `:method GET`, `:scheme http`, `:authority a` and `:path` as given.
fn get(path: &str) -> Vec<u8> {
    let mut b = vec![0x82, 0x86, 0x01, 0x01, b'a', 0x04, path.len() as u8];
    b.extend_from_slice(path.as_bytes());
    b
}

#[test]
fn many_streams_share_the_windows_and_never_overrun_them() {
    let (_a, _p, addr) = one_backend_proxy();
    // Stream windows of 16 KiB (SETTINGS_INITIAL_WINDOW_SIZE), the connection's 64 KiB: five
    // 1 MiB answers at once must wait for WINDOW_UPDATEs, on both levels.
    let mut c = Raw::connect_with(addr, &[(0x4, 16_384)]);
    let streams = [1u32, 3, 5, 7, 9];
    let mut burst = Vec::new();
    for id in streams {
        burst.extend(frame(HEADERS, END_HEADERS | END_STREAM, id, &get("/big")));
    }
    c.write(&burst);
    let mut conn_window: i64 = 65_535;
    let mut window = [16_384i64; 5];
    let mut got = [0usize; 5];
    let mut ended = [false; 5];
    while !ended.iter().all(|&e| e) {
        let f = c.next().expect("the answers");
        let Some(k) = streams.iter().position(|&s| s == f.id) else {
            continue;
        };
        if f.ty == DATA {
            let n = f.payload.len() as i64;
            assert!(n <= window[k], "stream {} overran its window", f.id);
            assert!(
                n <= conn_window,
                "stream {} overran the connection window",
                f.id
            );
            window[k] -= n;
            conn_window -= n;
            got[k] += f.payload.len();
            let mut updates = Vec::new();
            if window[k] == 0 {
                updates.extend(frame(WINDOW_UPDATE, 0, f.id, &16_384u32.to_be_bytes()));
                window[k] += 16_384;
            }
            if conn_window < 32_768 {
                let inc = 65_535 - conn_window;
                updates.extend(frame(WINDOW_UPDATE, 0, 0, &(inc as u32).to_be_bytes()));
                conn_window += inc;
            }
            c.write(&updates);
        }
        if f.flags & END_STREAM != 0 {
            ended[k] = true;
        }
    }
    assert_eq!(got, [1 << 20; 5]);
}

#[test]
fn malformed_requests_are_reset_and_never_reach_a_server() {
    let (a, _p, addr) = one_backend_proxy();
    let mut c = Raw::connect(addr);
    let mut smuggle = get("/x");
    smuggle.extend(literal("x-a", "1\r\nx-smuggled: 1"));
    let mut upper = get("/x");
    upper.extend(literal("X-Upper", "1"));
    let mut hop = get("/x");
    hop.extend(literal("connection", "close"));
    let mut burst = Vec::new();
    for (id, block) in [(1, &smuggle), (3, &upper), (5, &hop)] {
        burst.extend(frame(HEADERS, END_HEADERS | END_STREAM, id, block));
    }
    c.write(&burst);
    for id in [1, 3, 5] {
        let f = c.until("RST_STREAM", |f| f.ty == RST_STREAM && f.id == id);
        assert_eq!(code(&f.payload, 0), PROTOCOL_ERROR);
    }
    // The connection lives on, and nothing reached the server.
    c.write(&frame(HEADERS, END_HEADERS | END_STREAM, 7, &get("/x")));
    let f = c.until("the answer", |f| f.id == 7 && f.ty == DATA);
    assert_eq!(f.payload, b"a");
    assert_eq!(a.hits(), 1);
}

#[test]
fn data_beyond_the_content_length_is_a_stream_error() {
    let (_a, _p, addr) = one_backend_proxy();
    let mut c = Raw::connect(addr);
    // POST /echo, content-length 3 (name index 28), then 6 octets.
    let mut head = vec![0x83, 0x86, 0x01, 0x01, b'a', 0x04, 0x05];
    head.extend_from_slice(b"/echo");
    head.extend_from_slice(&[0x0f, 0x0d, 0x01, b'3']);
    c.write(&frame(HEADERS, END_HEADERS, 1, &head));
    c.write(&frame(DATA, END_STREAM, 1, b"abcdef"));
    let f = c.until("RST_STREAM", |f| f.ty == RST_STREAM && f.id == 1);
    assert_eq!(code(&f.payload, 0), PROTOCOL_ERROR);
}

#[test]
fn connect_is_answered_501() {
    let (a, _p, addr) = one_backend_proxy();
    let mut c = Raw::connect(addr);
    // :method CONNECT (name index 2), :authority a:443 (name index 1).
    let mut head = vec![0x02, 0x07];
    head.extend_from_slice(b"CONNECT");
    head.extend_from_slice(&[0x01, 0x05]);
    head.extend_from_slice(b"a:443");
    c.write(&frame(HEADERS, END_HEADERS, 1, &head));
    let f = c.until("the answer", |f| f.id == 1 && f.ty == HEADERS);
    // :status as a literal with name index 8.
    assert!(
        f.payload.starts_with(&[0x08, 0x03, b'5', b'0', b'1']),
        "{f:?}"
    );
    assert_eq!(a.hits(), 0);
}

#[test]
fn a_stream_reset_mid_answer_leaves_the_connection_serving() {
    let (_a, _p, addr) = one_backend_proxy();
    let mut c = Raw::connect(addr);
    c.write(&frame(HEADERS, END_HEADERS | END_STREAM, 1, &get("/big")));
    c.until("the first DATA", |f| f.id == 1 && f.ty == DATA);
    c.write(&frame(RST_STREAM, 0, 1, &CANCEL.to_be_bytes()));
    // Give the connection window back so that it cannot be what stops the next answer.
    c.write(&frame(WINDOW_UPDATE, 0, 0, &(1u32 << 30).to_be_bytes()));
    c.write(&frame(HEADERS, END_HEADERS | END_STREAM, 3, &get("/x")));
    let f = c.until("the next answer", |f| f.id == 3 && f.ty == DATA);
    assert_eq!(f.payload, b"a");
}

#[test]
fn bodies_larger_than_the_windows_flow_and_never_mix_between_streams() {
    let (a, _p, addr) = one_backend_proxy();
    h2_client(addr, |send| async move {
        // Three 200 KB bodies at once: more than the connection's and each stream's 64 KiB
        // window, so dermaga must credit the client as the sessions take the bytes.
        let mut answers = Vec::new();
        for i in 0..3u8 {
            let mut send = send.clone().ready().await.unwrap();
            let body = vec![b'a' + i; 200_000];
            let req = http::Request::post(format!("http://{addr}/echo/{i}"))
                .header("content-length", body.len())
                .body(())
                .unwrap();
            let (resp, mut stream) = send.send_request(req, false).unwrap();
            answers.push(tokio::spawn(async move {
                let mut left = bytes::Bytes::from(body);
                while !left.is_empty() {
                    stream.reserve_capacity(left.len());
                    let n = std::future::poll_fn(|cx| stream.poll_capacity(cx))
                        .await
                        .expect("capacity")
                        .expect("capacity");
                    let part = left.split_to(n.min(left.len()));
                    stream.send_data(part, left.is_empty()).unwrap();
                }
                let resp = resp.await.expect("response");
                body_of(resp.into_body()).await
            }));
        }
        for (i, a) in answers.into_iter().enumerate() {
            let got = a.await.unwrap();
            let want = vec![b'a' + i as u8; 200_000];
            assert!(got.ends_with(&want), "stream {i}: {} octets", got.len());
            let head = String::from_utf8_lossy(&got[..got.len() - want.len()]).into_owned();
            assert!(
                head.starts_with(&format!("POST /echo/{i} HTTP/1.1\r\n")),
                "{head}"
            );
        }
        // Then one after the other on the same connection: the sessions serve the next
        // streams (keep-alive) and each answer is its own.
        for i in 0..20 {
            let mut send = send.clone().ready().await.unwrap();
            let req = http::Request::post(format!("http://{addr}/echo/seq{i}"))
                .body(())
                .unwrap();
            let (resp, mut stream) = send.send_request(req, false).unwrap();
            stream
                .send_data(bytes::Bytes::from(format!("body{i}")), true)
                .unwrap();
            let got = body_of(resp.await.expect("response").into_body()).await;
            let got = String::from_utf8(got).unwrap();
            assert!(got.starts_with(&format!("POST /echo/seq{i} ")), "{got}");
            assert!(got.ends_with(&format!("\r\n\r\nbody{i}")), "{got:?}");
        }
    });
    assert_eq!(a.hits(), 23);
}

#[test]
fn an_idle_connection_ends_with_goaway_at_the_keep_alive_timeout() {
    let a = HttpBackend::start("a");
    let p = start_proxy(&format!(
        "defaults\n    mode http\n    timeout connect 2s\n    timeout client 10s\n    timeout server 10s\n    timeout http-keep-alive 200ms\nfrontend fe\n    bind 127.0.0.1:0\n    default_backend be\nbackend be\n    server a {}\n",
        a.addr
    ));
    let mut c = Raw::connect(p.local_addrs("fe")[0]);
    c.write(&frame(HEADERS, END_HEADERS | END_STREAM, 1, &get("/x")));
    let f = c.until("the answer", |f| f.id == 1 && f.flags & END_STREAM != 0);
    assert_eq!(f.payload, b"a");
    // Then nothing: the server says GOAWAY (NO_ERROR, last stream 1) and closes.
    let f = c.until("GOAWAY", |f| f.ty == GOAWAY);
    assert_eq!((code(&f.payload, 0), code(&f.payload, 4)), (1, 0), "{f:?}");
    assert!(
        c.next().is_none(),
        "the connection should close after GOAWAY"
    );
}

#[test]
fn pings_from_a_client_that_reads_late_are_all_answered() {
    let (_a, _p, addr) = one_backend_proxy();
    let mut c = Raw::connect(addr);
    // 200,000 PINGs (3.4 MB) written before the client reads anything: the answers fill the
    // socket and dermaga's output bound, so dermaga stops reading for a while and must
    // resume by itself once the client reads.
    const N: usize = 200_000;
    let mut w = c.s.try_clone().unwrap();
    let (half, halfway) = std::sync::mpsc::channel();
    let writer = std::thread::spawn(move || {
        let ping = frame(PING, 0, 0, b"12345678");
        let batch: Vec<u8> = ping
            .iter()
            .copied()
            .cycle()
            .take(ping.len() * 1000)
            .collect();
        for i in 0..N / 1000 {
            w.write_all(&batch).expect("write");
            if i == N / 2000 {
                let _ = half.send(());
            }
        }
    });
    halfway.recv().expect("half the PINGs written");
    let mut acks = 0;
    while acks < N {
        let f = c.next().expect("a PING ack");
        if f.ty == PING && f.flags & ACK != 0 {
            assert_eq!(f.payload, b"12345678");
            acks += 1;
        }
    }
    writer.join().unwrap();
}

#[test]
fn connection_errors_end_in_goaway_with_their_code_and_others_are_served() {
    let (_a, _p, addr) = one_backend_proxy();
    const FLOW_CONTROL_ERROR: u32 = 0x3;
    const FRAME_SIZE_ERROR: u32 = 0x6;
    const COMPRESSION_ERROR: u32 = 0x9;
    const CONTINUATION: u8 = 0x9;
    let cases: [(&str, Vec<u8>, u32); 6] = [
        ("DATA on stream 0", frame(DATA, 0, 0, b"x"), PROTOCOL_ERROR),
        (
            "a frame above SETTINGS_MAX_FRAME_SIZE",
            frame(DATA, 0, 1, &[0u8; 16_385]),
            FRAME_SIZE_ERROR,
        ),
        (
            "a connection window above 2^31-1",
            frame(WINDOW_UPDATE, 0, 0, &0x7fff_ffffu32.to_be_bytes()),
            FLOW_CONTROL_ERROR,
        ),
        (
            "an HPACK index beyond the tables",
            frame(HEADERS, END_HEADERS | END_STREAM, 1, &[0xff, 0x7f]),
            COMPRESSION_ERROR,
        ),
        (
            "CONTINUATION without HEADERS",
            frame(CONTINUATION, END_HEADERS, 1, &get("/")),
            PROTOCOL_ERROR,
        ),
        (
            "HEADERS on an even stream",
            frame(HEADERS, END_HEADERS | END_STREAM, 2, &get("/")),
            PROTOCOL_ERROR,
        ),
    ];
    for (what, bytes, want) in cases {
        let mut c = Raw::connect(addr);
        c.write(&bytes);
        let f = c.until(what, |f| f.ty == GOAWAY);
        assert_eq!(code(&f.payload, 4), want, "{what}: {f:?}");
        assert!(c.next().is_none(), "{what}: the connection should close");
    }
    let mut c = Raw::connect(addr);
    c.write(&frame(HEADERS, END_HEADERS | END_STREAM, 1, &get("/x")));
    let f = c.until("the answer", |f| f.id == 1 && f.ty == DATA);
    assert_eq!(f.payload, b"a");
}

#[test]
fn random_frames_never_panic_and_the_proxy_keeps_serving() {
    // Any panic anywhere in the process (a worker's task included) is remembered.
    static PANICKED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICKED.store(true, std::sync::atomic::Ordering::SeqCst);
        default(info);
    }));
    let (_a, _p, addr) = one_backend_proxy();
    // A fixed-seed generator: the same frames every run.
    let mut seed: u64 = 0x5eed_1234_abcd_0001;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as u32
    };
    for _ in 0..40 {
        let mut c = Raw::connect(addr);
        c.s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut burst = Vec::new();
        for _ in 0..60 {
            let ty = (next() % 11) as u8;
            let flags = (next() & 0x2d) as u8;
            let id = next() % 8;
            let payload: Vec<u8> = if ty == HEADERS && next() % 2 == 0 {
                get("/x")
            } else {
                (0..next() % 40).map(|_| next() as u8).collect()
            };
            burst.extend(frame(ty, flags, id, &payload));
        }
        // The server may close while the burst is still being written.
        let _ = c.s.write_all(&burst);
        // Read until the server closes (or goes quiet).
        while c.next().is_some() {}
    }
    let mut c = Raw::connect(addr);
    c.write(&frame(HEADERS, END_HEADERS | END_STREAM, 1, &get("/x")));
    let f = c.until("the answer", |f| f.id == 1 && f.ty == DATA);
    assert_eq!(f.payload, b"a");
    assert!(
        !PANICKED.load(std::sync::atomic::Ordering::SeqCst),
        "a panic happened"
    );
}
