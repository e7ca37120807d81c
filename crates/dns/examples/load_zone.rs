//! Loads one zone file into the served index and exits: the start-up path of `dermaga dns`
//! without sockets, for measuring a large zone's load time and peak memory
//! (`/usr/bin/time -v target/release/examples/load_zone FILE [ORIGIN]`, beside
//! `nsd-checkzone ORIGIN FILE`; bench/dns/load.sh runs both). Prints the peak resident size
//! after scanning and after indexing, to show which phase sets it.

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
    // The same two steps as the server's start (service::load_source), measured apart.
    let loaded = match dermaga_dns::load_zone(std::path::Path::new(&file), origin.as_ref()) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    let records = loaded.records.len();
    println!("{file}: scanned {records} records, peak {} MB", peak_mb());
    match dermaga_dns::Zone::build(&loaded.origin, loaded.records) {
        Ok(zone) => {
            println!(
                "{file}: indexed, serial {}, peak {} MB",
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
