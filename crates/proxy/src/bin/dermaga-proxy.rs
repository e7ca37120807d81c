//! `dermaga-proxy`: the proxy's command line alone (haproxy's), the same as `dermaga proxy`.
//! Built with the proxy crate so its own tests can run it as a process.

fn main() -> std::process::ExitCode {
    dermaga_proxy::cli::main(std::env::args_os().skip(1).collect())
}
