//! The DNS answer path (message parser, lookup, response builder) on arbitrary messages.
#![no_main]

use std::sync::{Arc, OnceLock};

use dermaga_dns::{AnswerConfig, Transport, Zone, ZoneSet};

const ZONE: &str = "$ORIGIN example.\n$TTL 300\n\
@ SOA ns1 host 1 3600 900 604800 300\n@ NS ns1\nns1 A 192.0.2.1\n@ MX 10 mail\n\
mail A 192.0.2.2\nwww CNAME @\n* TXT \"wild\"\nsub NS ns.sub\nns.sub A 192.0.2.3\n";

fn zones() -> &'static ZoneSet {
    static ZONES: OnceLock<ZoneSet> = OnceLock::new();
    ZONES.get_or_init(|| {
        let loaded = dermaga_dns::parse_zone(ZONE, None, "fuzz.zone").expect("the fuzz zone loads");
        let zone = Zone::build(&loaded.origin, loaded.records).expect("the fuzz zone indexes");
        ZoneSet::new([Arc::new(zone)])
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut out = Vec::with_capacity(65535);
    for transport in [Transport::Udp, Transport::Tcp] {
        let _ = dermaga_dns::respond(zones(), data, transport, &AnswerConfig::default(), &mut out);
    }
});
