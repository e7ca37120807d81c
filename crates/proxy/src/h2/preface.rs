//! Which protocol a client speaks on an HTTP frontend: HTTP/2 when TLS's ALPN chose `h2`, or,
//! in cleartext, when the connection opens with the HTTP/2 preface (prior knowledge), which
//! haproxy also detects on its HTTP frontends without being told.

use std::time::Duration;

use tokio::net::TcpStream;

use crate::session::Conn;

/// The client connection preface (RFC 9113 §3.4).
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The protocol a client connection speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Http1,
    Http2,
    /// It said nothing within the request timeout: closed without a word, as the HTTP/1
    /// session closes a connection that never sent a byte.
    Silent,
}

/// Which protocol `conn` carries. A cleartext connection is peeked, not read: an HTTP/1
/// session still gets every byte. `wait` bounds how long a client may take to say anything
/// (`timeout http-request`, else `timeout client`).
pub async fn protocol_of(conn: &Conn, wait: Option<Duration>) -> Protocol {
    let h2 = |yes: bool| {
        if yes {
            Protocol::Http2
        } else {
            Protocol::Http1
        }
    };
    if let Some(alpn) = conn.alpn() {
        return h2(alpn == b"h2");
    }
    match (conn.is_plain(), conn.tcp()) {
        (true, Some(tcp)) => match wait {
            Some(d) => match tokio::time::timeout(d, opens_with_preface(tcp)).await {
                Ok(yes) => h2(yes),
                Err(_) => Protocol::Silent,
            },
            None => h2(opens_with_preface(tcp).await),
        },
        _ => Protocol::Http1,
    }
}

async fn opens_with_preface(tcp: &TcpStream) -> bool {
    let mut head = [0u8; PREFACE.len()];
    loop {
        let n = match tcp.peek(&mut head).await {
            Ok(n) => n,
            Err(_) => return false,
        };
        if n == 0 || head[..n] != PREFACE[..n] {
            return false;
        }
        if n == PREFACE.len() {
            return true;
        }
        // A preface split across segments (rare: it is 24 bytes): peek returns at once while
        // anything is queued, so wait a moment for the rest instead of spinning.
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}
