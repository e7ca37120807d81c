//! The zone-file scanner and checker on arbitrary text.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let origin = dermaga_dns::parse_name("example.").ok();
        if let Ok(zone) = dermaga_dns::zonefile::parse_zone_str(text, origin.as_ref(), "fuzz.zone")
        {
            let _ = dermaga_dns::zonefile::check_zone(&zone);
        }
    }
});
