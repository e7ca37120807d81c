//! dermaga's load balancer and reverse proxy, in HAProxy's class.
//!
//! It reads haproxy.cfg files as they are ([`config`]), runs per-core workers that forward
//! HTTP/1.1 and HTTP/2 (over TLS too, from clients and to servers) and TCP traffic to
//! health-checked servers, and offers a handle to change servers at run time. It knows
//! nothing of containers: the stack and the engine drive it through that handle.
//!
//! Embedding (what `dermaga demo` and the stack do):
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config: dermaga_proxy::config::Config = todo!("load or build a configuration");
//! let proxy = dermaga_proxy::Proxy::start(config, dermaga_proxy::StartOptions::default())?;
//! proxy.handle().set_server_state("be_app", "app1", dermaga_proxy::AdminState::Drain)?;
//! proxy.stop(); // immediate; `soft_stop()` lets in-flight requests end
//! proxy.wait();
//! # Ok(()) }
//! ```

pub mod acl;
pub mod auth;
pub mod check;
pub mod cli;
pub mod config;
pub mod h2;
pub mod http1;
pub mod log;
pub mod parking;
mod proxy;
pub mod proxy_protocol;
pub mod rules;
pub mod selection;
pub mod session;
pub mod state;
pub mod stats;
pub mod stats_page;
pub mod stop_signal;
pub mod tls;
pub mod worker;

pub use proxy::{AdminState, Proxy, ProxyHandle, StartError, StartOptions};
