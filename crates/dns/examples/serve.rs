//! A DNS server with `dermaga dns`'s serving options and nothing else of dermaga, for
//! benchmarking the server without building the whole binary:
//! `cargo run --release -p dermaga-dns --example serve -- dns --listen 127.0.0.1:5353 --zone ORIGIN=FILE --workers 1`

use dermaga_dns::{DnsConfig, RateLimit, ZoneSource};

fn main() {
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().map(String::as_str) == Some("dns") {
        args.next();
    }
    let mut config = DnsConfig::default();
    while let Some(a) = args.next() {
        let v = args.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--listen" => config.server.listen.push(v.parse().expect("ADDR:PORT")),
            "--workers" => config.server.udp_workers = v.parse().expect("a number"),
            "--pidfile" => config.pidfile = Some(v.into()),
            "--zone" => {
                let mut src = ZoneSource::file(v.split_once('=').map_or(v.as_str(), |(_, f)| f));
                src.origin = v
                    .split_once('=')
                    .map(|(o, _)| dermaga_dns::parse_name(o).expect("origin"));
                config.zones.push(src);
            }
            "--rrl-ratelimit" => {
                let mut r = config
                    .server
                    .rate_limit
                    .unwrap_or(RateLimit::nsd_defaults());
                r.ratelimit = v.parse().expect("a number");
                config.server.rate_limit = Some(r);
            }
            other => panic!("unknown option {other}"),
        }
    }
    dermaga_dns::block_signals();
    let server = dermaga_dns::start(config).expect("server starts");
    server.run_until_signalled();
}
