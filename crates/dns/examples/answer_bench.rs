//! The answer path alone, without sockets: nanoseconds per query for bench/dns's query mix.
//! `cargo run --release -p dermaga-dns --example answer_bench -- bench/dns/bench.zone bench/dns/queries.txt`

use std::sync::Arc;
use std::time::Duration;

/// CPU time of this thread (wall time would count other processes on a busy machine).
fn cpu_now() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and a pointer to a live timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

use dermaga_dns::{AnswerConfig, Outcome, Transport, Zone, ZoneSet};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let zone_file = args.get(1).map_or("bench/dns/bench.zone", String::as_str);
    let query_file = args.get(2).map_or("bench/dns/queries.txt", String::as_str);
    let loaded = dermaga_dns::load_zone(zone_file.as_ref(), None).expect("zone loads");
    let zone = Zone::build(&loaded.origin, loaded.records).expect("zone builds");
    let zones = ZoneSet::new([Arc::new(zone)]);
    let mut queries = Vec::new();
    for line in std::fs::read_to_string(query_file)
        .expect("query file")
        .lines()
    {
        let mut parts = line.split_whitespace();
        let (Some(name), Some(t)) = (parts.next(), parts.next()) else {
            continue;
        };
        let qtype: u16 = match t {
            "A" => 1,
            "NS" => 2,
            "CNAME" => 5,
            "SOA" => 6,
            "MX" => 15,
            "TXT" => 16,
            "AAAA" => 28,
            _ => 255,
        };
        let mut m = vec![0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1];
        for l in name.split('.').filter(|l| !l.is_empty()) {
            m.push(l.len() as u8);
            m.extend_from_slice(l.as_bytes());
        }
        m.push(0);
        m.extend_from_slice(&qtype.to_be_bytes());
        m.extend_from_slice(&[0, 1, 0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0]);
        queries.push(m);
    }
    let mut out = Vec::with_capacity(65536);
    let zones = Arc::new(zones);
    let mut cache = dermaga_dns::cache::ResponseCache::new();
    cache.use_zones(&zones);
    let rounds = 1_000_000 / queries.len().max(1);
    for cached in [false, true] {
        let mut bytes = 0usize;
        let start = cpu_now();
        for _ in 0..rounds {
            for q in &queries {
                let o = if cached {
                    cache.respond(q, Transport::Udp, &AnswerConfig::default(), &mut out)
                } else {
                    dermaga_dns::respond(
                        &zones,
                        q,
                        Transport::Udp,
                        &AnswerConfig::default(),
                        &mut out,
                    )
                };
                if let Outcome::Reply(n) = o {
                    bytes += n;
                }
            }
        }
        let el = cpu_now() - start;
        let n = rounds * queries.len();
        let what = if cached { "cached" } else { "answer logic" };
        println!(
            "{what}: {n} answers, {:.0} ns each (thread CPU time), {bytes} bytes",
            el.as_nanos() as f64 / n as f64
        );
    }
}
