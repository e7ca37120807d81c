//! The PROXY protocol (haproxy's `proxy-protocol.txt`, versions 1 and 2) on accepted
//! connections: `bind ... accept-proxy` reads the header a load balancer in front sends
//! first, and the addresses it names stand for the connection's own.
//!
//! The header is taken off the socket exactly, never a byte of what follows, so that the
//! session (TLS or HTTP) starts where it would without it: version 2 says its length in its
//! first 16 octets; version 1 ends at its CRLF, which is looked for in what the socket holds
//! (`peek`) before the bytes up to it are read. Parsing is the `ppp` crate's.
//!
//! `server ... send-proxy[-v2]` writes one ([`header`]) first on each connection to the
//! server, before TLS.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use ppp::{v1, v2, HeaderResult};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// The longest version 1 header (`PROXY TCP6` with the longest addresses, CRLF included).
const V1_MAX: usize = 107;
/// Version 2's fixed part: the signature, version and command, family, length.
const V2_FIXED: usize = 16;
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// The largest version 2 header taken (addresses and TLVs); haproxy's limit is its buffer.
const V2_MAX: usize = 16 * 1024;

/// Reads the PROXY header at the start of `stream` within `wait`: the source and destination
/// it announces, or `None` for a `LOCAL` (health check) or `UNKNOWN` header, which keep the
/// connection's own. An error for anything that is not a whole, valid header.
pub async fn read_header(
    stream: &mut TcpStream,
    wait: Option<Duration>,
) -> io::Result<Option<(SocketAddr, SocketAddr)>> {
    let read = async {
        let header = take_header(stream).await?;
        addresses(&header)
    };
    match wait {
        Some(d) => tokio::time::timeout(d, read)
            .await
            .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))?,
        None => read.await,
    }
}

/// The header's octets, read off the socket and nothing after them.
async fn take_header(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
    let mut header = Vec::with_capacity(V2_FIXED);
    let mut peeked = [0u8; V1_MAX];
    loop {
        let n = stream.peek(&mut peeked).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let seen = &peeked[..n];
        let start = header.len();
        // The first octet tells the version: '\r' (version 2) or 'P' (version 1).
        if header.is_empty() && seen[0] == V2_SIGNATURE[0] {
            // The fixed part first, then exactly the length it gives.
            let mut fixed = [0u8; V2_FIXED];
            stream.read_exact(&mut fixed).await?;
            if &fixed[..12] != V2_SIGNATURE {
                return Err(invalid("not a PROXY protocol header"));
            }
            let len = usize::from(u16::from_be_bytes([fixed[14], fixed[15]]));
            if V2_FIXED + len > V2_MAX {
                return Err(invalid("PROXY protocol header too long"));
            }
            header.extend_from_slice(&fixed);
            header.resize(V2_FIXED + len, 0);
            stream.read_exact(&mut header[V2_FIXED..]).await?;
            return Ok(header);
        }
        // Version 1: up to the CRLF, which may not have come yet.
        let room = V1_MAX - start;
        let seen = &seen[..seen.len().min(room)];
        let upto = match memchr::memchr(b'\n', seen) {
            Some(lf) => lf + 1,
            None if seen.len() == room => return Err(invalid("PROXY protocol header too long")),
            None => seen.len(),
        };
        header.resize(start + upto, 0);
        stream.read_exact(&mut header[start..]).await?;
        if !b"PROXY ".starts_with(&header[..header.len().min(6)]) {
            return Err(invalid("not a PROXY protocol header"));
        }
        if header.ends_with(b"\n") {
            return Ok(header);
        }
    }
}

/// A source and a destination, as socket addresses.
fn pair<A: Into<std::net::IpAddr>>(
    src: A,
    sport: u16,
    dst: A,
    dport: u16,
) -> (SocketAddr, SocketAddr) {
    (
        SocketAddr::new(src.into(), sport),
        SocketAddr::new(dst.into(), dport),
    )
}

/// The addresses a whole header announces.
fn addresses(header: &[u8]) -> io::Result<Option<(SocketAddr, SocketAddr)>> {
    let invalid = || io::Error::new(io::ErrorKind::InvalidData, "invalid PROXY protocol header");
    match HeaderResult::parse(header) {
        HeaderResult::V1(Ok(h)) => Ok(match h.addresses {
            v1::Addresses::Tcp4(a) => Some(pair(
                a.source_address,
                a.source_port,
                a.destination_address,
                a.destination_port,
            )),
            v1::Addresses::Tcp6(a) => Some(pair(
                a.source_address,
                a.source_port,
                a.destination_address,
                a.destination_port,
            )),
            v1::Addresses::Unknown => None,
        }),
        HeaderResult::V2(Ok(h)) => {
            if h.command == v2::Command::Local {
                return Ok(None);
            }
            Ok(match h.addresses {
                v2::Addresses::IPv4(a) => Some(pair(
                    a.source_address,
                    a.source_port,
                    a.destination_address,
                    a.destination_port,
                )),
                v2::Addresses::IPv6(a) => Some(pair(
                    a.source_address,
                    a.source_port,
                    a.destination_address,
                    a.destination_port,
                )),
                // UNIX sockets and unspecified families keep the connection's addresses.
                _ => None,
            })
        }
        _ => Err(invalid()),
    }
}

/// The header announcing a connection from `src` to `dst`. Mixed families are written as
/// IPv6, the IPv4 address mapped, as haproxy writes them.
pub fn header(version: crate::config::ProxyVersion, src: SocketAddr, dst: SocketAddr) -> Vec<u8> {
    let v6 = |a: SocketAddr| match a {
        SocketAddr::V4(v4) => SocketAddr::from((v4.ip().to_ipv6_mapped(), v4.port())),
        v6 => v6,
    };
    let (src, dst) = if src.is_ipv4() == dst.is_ipv4() {
        (src, dst)
    } else {
        (v6(src), v6(dst))
    };
    match version {
        crate::config::ProxyVersion::V1 => v1::Addresses::from((src, dst)).to_string().into_bytes(),
        crate::config::ProxyVersion::V2 => {
            v2::Builder::with_addresses(
                v2::Version::Two | v2::Command::Proxy,
                v2::Protocol::Stream,
                (src, dst),
            )
            .build()
            // Building writes into a Vec: it cannot fail; an empty header is refused by
            // the server like any broken one.
            .unwrap_or_default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_of_both_versions_give_their_addresses() {
        let v1 = b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n";
        assert_eq!(
            addresses(v1).unwrap(),
            Some((
                "192.0.2.1:56324".parse().unwrap(),
                "198.51.100.2:443".parse().unwrap()
            ))
        );
        assert_eq!(addresses(b"PROXY UNKNOWN\r\n").unwrap(), None);
        let v2 = v2::Builder::with_addresses(
            v2::Version::Two | v2::Command::Proxy,
            v2::Protocol::Stream,
            (
                "[2001:db8::1]:1000".parse::<SocketAddr>().unwrap(),
                "[2001:db8::2]:80".parse::<SocketAddr>().unwrap(),
            ),
        )
        .build()
        .unwrap();
        assert_eq!(
            addresses(&v2).unwrap(),
            Some((
                "[2001:db8::1]:1000".parse().unwrap(),
                "[2001:db8::2]:80".parse().unwrap()
            ))
        );
        assert!(addresses(b"GET / HTTP/1.1\r\n").is_err());
        // What we send reads back as what it says, mixed families included.
        use crate::config::ProxyVersion;
        let (a, b): (SocketAddr, SocketAddr) = (
            "192.0.2.1:5".parse().unwrap(),
            "[2001:db8::2]:80".parse().unwrap(),
        );
        for v in [ProxyVersion::V1, ProxyVersion::V2] {
            let h = header(v, a, b);
            let (src, dst) = addresses(&h).unwrap().unwrap();
            assert_eq!(src, "[::ffff:192.0.2.1]:5".parse::<SocketAddr>().unwrap());
            assert_eq!(dst, b);
        }
        assert_eq!(
            header(
                ProxyVersion::V1,
                "10.0.0.1:1".parse().unwrap(),
                "10.0.0.2:2".parse().unwrap()
            ),
            b"PROXY TCP4 10.0.0.1 10.0.0.2 1 2\r\n"
        );
        assert!(addresses(b"PROXY TCP4 1.2.3.4\r\n").is_err());
    }
}
