//! dermaga's authoritative DNS server, in NSD's and Knot's class.
//!
//! It loads RFC 1035 zone files with exact error positions, answers queries from an in-memory
//! zone index over UDP and TCP, and acts as a primary for real secondaries. It is not a
//! resolver: it never recurses. It knows nothing of containers; the engine and the stack add
//! and remove records through its handle.

pub mod nsdconf;
pub mod zonefile;
