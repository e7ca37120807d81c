//! Indexing a zone's records: errors name the first bad record in file order, and a zone larger
//! than one shrink step of the source list keeps every record, in source order within RRsets.

mod common;

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

/// The zone `text`, written to a file of its own, loaded straight into an index.
fn load_file(text: &str, origin: Option<&str>) -> Result<Zone, String> {
    let dir = common::TempDir::new("zone-build");
    let path = dir.write("z.zone", text);
    let origin = origin.map(|o| dermaga_dns::parse_name(o).expect("origin"));
    Zone::load_file(&path, origin.as_ref()).map_err(|e| e.to_string())
}

/// Every record of a zone as text, in the index's order.
fn dump(zone: &Zone) -> Vec<String> {
    zone.records().iter().map(|r| r.to_string()).collect()
}

#[test]
fn loading_a_file_into_the_index_equals_building_from_parsed_records() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/zones");
    for (file, origin) in [
        ("rich.zone", None),
        ("edge.zone", None),
        ("signed-nsec.zone", None),
        ("signed-nsec3.zone", None),
        ("rich.zone", Some("example.com.")),
    ] {
        let path = dir.join(file);
        let origin = origin.map(|o| dermaga_dns::parse_name(o).expect("origin"));
        let loaded = match dermaga_dns::load_zone(&path, origin.as_ref()) {
            Ok(l) => l,
            // A fixture for another origin: both paths must refuse it alike.
            Err(e) => {
                let streamed = Zone::load_file(&path, origin.as_ref()).expect_err(file);
                assert_eq!(streamed.to_string(), e.to_string(), "{file}");
                continue;
            }
        };
        let built = Zone::build(&loaded.origin, loaded.records).expect(file);
        let streamed = Zone::load_file(&path, origin.as_ref()).expect(file);
        assert_eq!(streamed.origin(), built.origin(), "{file}");
        assert_eq!(streamed.serial(), built.serial(), "{file}");
        assert_eq!(streamed.name_count(), built.name_count(), "{file}");
        assert_eq!(dump(&streamed), dump(&built), "{file}");
    }
}

#[test]
fn records_before_the_soa_are_indexed_once_the_scan_names_the_origin() {
    // No origin given and the SOA is not first: the records wait for the scan's end.
    let text = "$TTL 300\nwww.example.net. A 192.0.2.8\nexample.net. SOA ns1.example.net. hm.example.net. 7 60 30 600 60\nexample.net. NS ns1.example.net.\nns1.example.net. A 192.0.2.1\n";
    let zone = load_file(text, None).expect("loads");
    assert_eq!(zone.origin().to_string(), "example.net");
    assert_eq!(zone.serial(), 7);
    assert!(dump(&zone)
        .iter()
        .any(|r| r.contains("www.example.net") && r.contains("192.0.2.8")));
}

#[test]
fn out_of_zone_records_are_errors_with_their_lines_whichever_way_the_origin_is_known() {
    let text = "$ORIGIN example.org.\n$TTL 300\n@ SOA ns1 hm 1 60 30 600 60\n@ NS ns1\nns1 A 192.0.2.1\nwww.other.test. A 192.0.2.2\nmail.other.test. A 192.0.2.3\n";
    for origin in [None, Some("example.org.")] {
        let e = load_file(text, origin).expect_err("out of zone");
        assert!(
            e.contains(":6:1: out of zone data: www.other.test. is outside the zone example.org."),
            "{e}"
        );
        assert!(
            e.contains(":7:1: out of zone data: mail.other.test."),
            "{e}"
        );
    }
    // Records before the SOA, without an origin: the same errors after the scan.
    let late = "$TTL 300\nwww.other.test. A 192.0.2.2\nexample.org. SOA ns1.example.org. hm.example.org. 1 60 30 600 60\nexample.org. NS ns1.example.org.\n";
    let e = load_file(late, None).expect_err("out of zone");
    assert!(e.contains(":2:1: out of zone data: www.other.test."), "{e}");
}

#[test]
fn a_file_that_is_not_a_servable_zone_is_refused_whole() {
    let cname_and_data = "$ORIGIN example.org.\n$TTL 300\n@ SOA ns1 hm 1 60 30 600 60\n@ NS ns1\nns1 A 192.0.2.1\nwww CNAME ns1\nwww TXT \"x\"\n";
    let e = load_file(cname_and_data, None).expect_err("CNAME and other data");
    assert!(
        e.contains("www.example.org") && e.contains("CNAME and other data"),
        "{e}"
    );
    let no_soa = "$ORIGIN example.org.\n$TTL 300\n@ NS ns1\nns1 A 192.0.2.1\n";
    let e = load_file(no_soa, None).expect_err("no SOA");
    assert!(e.contains("no SOA"), "{e}");
    let syntax = "$ORIGIN example.org.\n$TTL 300\n@ SOA ns1 hm 1 60 30 600 60\nbad A 300.1.1.1\nalso AAAA nope\n";
    let e = load_file(syntax, None).expect_err("syntax errors");
    assert!(
        e.contains(":4:") && e.contains(":5:"),
        "every error of the file: {e}"
    );
}
