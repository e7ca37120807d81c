//! HTTP/2. From clients, natively (`server`): our own framing, HPACK decoding by
//! `loona-hpack`, flow control and limits, with each request served by the ordinary HTTP
//! session (`crate::session::http`) so that rules, ACLs, balancing, health, retries, logging
//! and error pages apply unchanged. To servers (`upstream`): the `h2` crate behind a pipe
//! that the session writes HTTP/1.1 to. Limits and windows come from `tune.h2.*` (haproxy's
//! defaults when unset).
//!
//! Not here: server push; CONNECT (extended or not, answered 501).

pub mod frame;
mod hpack;
mod preface;
mod request;
mod response;
pub mod server;
pub mod upstream;

pub use preface::{protocol_of, Protocol, PREFACE};
pub use server::serve;

use h2::Reason;

/// Why a stream's exchange ended early.
#[derive(Debug)]
pub enum StreamEnd {
    /// The client reset the stream before its response began.
    Reset(Reason),
    /// The client reset the stream or the connection failed.
    H2(h2::Error),
    /// The session stopped short of a complete response.
    Session(&'static str),
}

impl From<h2::Error> for StreamEnd {
    fn from(e: h2::Error) -> StreamEnd {
        StreamEnd::H2(e)
    }
}
