//! HTTP/2. From clients, natively (`server`): our own framing, HPACK decoding (`hpack`),
//! flow control and limits, with each request served by the ordinary HTTP
//! session (`crate::session::http`) so that rules, ACLs, balancing, health, retries, logging
//! and error pages apply unchanged. To servers (`upstream`): streams of the `h2` crate's
//! client connections, converted from and to HTTP/1.1 as the session writes and reads
//! them. Limits and windows come from `tune.h2.*` (haproxy's
//! defaults when unset).
//!
//! Not here: server push; CONNECT (extended or not, answered 501).

pub mod frame;
mod hpack;
mod preface;
pub mod server;
pub mod upstream;

pub use preface::{protocol_of, Protocol, PREFACE};

/// Fields that only describe an HTTP/1 connection: HTTP/2 forbids them (RFC 9113 §8.2.2).
const CONNECTION_SPECIFIC: [&[u8]; 5] = [
    b"connection",
    b"keep-alive",
    b"proxy-connection",
    b"transfer-encoding",
    b"upgrade",
];
pub use server::serve;
