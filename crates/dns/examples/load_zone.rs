//! Loads one zone file into the served index and exits: the start-up path of `dermaga dns`
//! without sockets, for measuring a large zone's load time and peak memory
//! (`/usr/bin/time -v target/release/examples/load_zone FILE [ORIGIN]`, beside
//! `nsd-checkzone ORIGIN FILE`; bench/dns/load.sh runs both).

use std::process::ExitCode;

/// The process's peak resident size so far (VmHWM), in megabytes.
fn peak_mb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024)
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(file) = args.next() else {
        eprintln!("usage: load_zone FILE [ORIGIN]");
        return ExitCode::from(2);
    };
    let origin = match args.next().map(|o| dermaga_dns::parse_name(&o)) {
        None => None,
        Some(Ok(n)) => Some(n),
        Some(Err(e)) => {
            eprintln!("origin: {e}");
            return ExitCode::from(2);
        }
    };
    // The server's start-up path (service::load_source): scanned straight into the index.
    match dermaga_dns::Zone::load_file(std::path::Path::new(&file), origin.as_ref()) {
        Ok(zone) => {
            println!(
                "{file}: {} names indexed, serial {}, peak {} MB",
                zone.name_count(),
                zone.serial(),
                peak_mb()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{file}: {e}");
            ExitCode::from(1)
        }
    }
}
