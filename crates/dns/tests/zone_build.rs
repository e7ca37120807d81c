//! Indexing a zone's records: errors name the first bad record in file order, and a zone larger
//! than one shrink step of the source list keeps every record, in source order within RRsets.

use dermaga_dns::{parse_zone, Zone};
use domain::base::iana::Class;

fn zone_text(extra: usize) -> String {
    let mut t = String::from(
        "$ORIGIN example.org.\n$TTL 300\n@ IN SOA ns1 hm 1 60 30 600 60\n@ NS ns1\nns1 A 192.0.2.1\n",
    );
    for i in 0..extra {
        t.push_str(&format!(
            "h{i} A 10.{}.{}.{}\n",
            (i >> 16) & 255,
            (i >> 8) & 255,
            i & 255
        ));
    }
    t
}

#[test]
fn the_first_unservable_record_in_file_order_is_reported() {
    let mut loaded = parse_zone(&zone_text(10), None, "t.zone").expect("parses");
    // The scanner refuses other classes; records made elsewhere (edits) may carry them.
    // Records 6 and 9 are h3 (line 9) and h6 (line 12).
    loaded.records[6].class = Class::CH;
    loaded.records[9].class = Class::CH;
    let e = Zone::build(&loaded.origin, loaded.records).expect_err("class CH refused");
    assert!(
        e.message.starts_with("t.zone:9:1: class CH"),
        "{}",
        e.message
    );
}

#[test]
fn a_large_zone_keeps_every_record_and_the_source_order() {
    let mut text = zone_text(70_000);
    // One RRset whose records must stay in file order, at both ends of the file.
    text.push_str("multi A 192.0.2.9\nmulti A 192.0.2.3\nmulti A 192.0.2.7\n");
    let loaded = parse_zone(&text, None, "big.zone").expect("parses");
    let count = loaded.records.len();
    let zone = Zone::build(&loaded.origin, loaded.records).expect("builds");
    let records = zone.records();
    assert_eq!(records.len(), count);
    let multi: Vec<String> = records
        .iter()
        .filter(|r| r.owner.to_string() == "multi.example.org")
        .map(|r| r.data.to_string())
        .collect();
    assert_eq!(multi, ["192.0.2.9", "192.0.2.3", "192.0.2.7"]);
}
