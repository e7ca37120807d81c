//! Replays the fuzz corpora (`fuzz/corpus/<target>/`) through the same entry points as the
//! fuzz targets in `fuzz/fuzz_targets/`, so CI catches a crash on any saved input without a
//! fuzzer installed. A panic on any input fails the test and names the file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use dermaga_dns::{AnswerConfig, Transport, Zone, ZoneSet};

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut inputs: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("a corpus entry").path();
            let bytes = std::fs::read(&path).expect("a readable corpus file");
            (path, bytes)
        })
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "corpus {} is empty", dir.display());
    inputs
}

fn replay(target: &str, run: impl Fn(&[u8]) + std::panic::RefUnwindSafe) {
    for (path, bytes) in corpus(target) {
        if std::panic::catch_unwind(|| run(&bytes)).is_err() {
            panic!("{target}: input {} panicked", path.display());
        }
    }
}

#[test]
fn http1_request_corpus() {
    replay("http1_request", |data| {
        // Every prefix too: bytes arrive in pieces.
        for cut in 0..=data.len() {
            dermaga_proxy::http1::fuzz_one(&data[..cut]);
        }
    });
}

struct NoEnv;

impl dermaga_proxy::config::Env for NoEnv {
    fn var(&self, _: &str) -> Option<String> {
        None
    }
}

#[test]
fn haproxy_cfg_corpus() {
    replay("haproxy_cfg", |data| {
        if let Ok(text) = std::str::from_utf8(data) {
            let _ = dermaga_proxy::config::load_str("fuzz.cfg", text, &NoEnv);
        }
    });
}

const FUZZ_ZONE: &str = "$ORIGIN example.\n$TTL 300\n\
@ SOA ns1 host 1 3600 900 604800 300\n@ NS ns1\nns1 A 192.0.2.1\n@ MX 10 mail\n\
mail A 192.0.2.2\nwww CNAME @\n* TXT \"wild\"\nsub NS ns.sub\nns.sub A 192.0.2.3\n";

#[test]
fn dns_query_corpus() {
    let loaded =
        dermaga_dns::parse_zone(FUZZ_ZONE, None, "fuzz.zone").expect("the fuzz zone loads");
    let zone = Zone::build(&loaded.origin, loaded.records).expect("the fuzz zone indexes");
    let zones = ZoneSet::new([Arc::new(zone)]);
    replay("dns_query", |data| {
        let mut out = Vec::with_capacity(65535);
        for transport in [Transport::Udp, Transport::Tcp] {
            let _ =
                dermaga_dns::respond(&zones, data, transport, &AnswerConfig::default(), &mut out);
        }
    });
}

#[test]
fn zone_file_corpus() {
    let origin = dermaga_dns::parse_name("example.").ok();
    replay("zone_file", |data| {
        if let Ok(text) = std::str::from_utf8(data) {
            if let Ok(zone) =
                dermaga_dns::zonefile::parse_zone_str(text, origin.as_ref(), "fuzz.zone")
            {
                let _ = dermaga_dns::zonefile::check_zone(&zone);
            }
        }
    });
}
