//! dermaga's load balancer and reverse proxy, in HAProxy's class.
//!
//! It reads haproxy.cfg files as they are ([`config`]), runs per-core workers that forward
//! HTTP/1.1 and TCP traffic to health-checked servers, and offers a handle to change servers
//! at run time. It knows nothing of containers: the stack and the engine drive it through
//! that handle.

pub mod acl;
pub mod config;
pub mod http1;
pub mod selection;
