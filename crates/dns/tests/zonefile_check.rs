//! `dermaga dns check`: named-checkzone's checks, each with its message and position.

use dermaga_dns::zonefile::{check_zone, format_diagnostics, parse_name, parse_zone_str};

const HEAD: &str =
    "$ORIGIN example.com.\n$TTL 300\n@ SOA ns1 host 1 2 3 4 5\n  NS ns1\nns1 A 192.0.2.1\n";

fn check(text: &str) -> Vec<String> {
    let zone = parse_zone_str(text, Some(&parse_name("example.com.").unwrap()), "t.zone")
        .unwrap_or_else(|e| panic!("{e}"));
    format_diagnostics(&check_zone(&zone))
}

fn check_head(text: &str) -> Vec<String> {
    check(&format!("{HEAD}{text}"))
}

#[test]
fn a_good_zone_has_no_findings() {
    assert_eq!(
        check_head("www A 192.0.2.2\nmail MX 10 ns1\n"),
        Vec::<String>::new()
    );
}

#[test]
fn test_zones_pass() {
    for file in [
        "rich.zone",
        "edge.zone",
        "include-main.zone",
        "signed-nsec.zone",
        "signed-nsec3.zone",
    ] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/zones")
            .join(file);
        let zone = dermaga_dns::zonefile::load_zone_file(&path, None).unwrap();
        let diags: Vec<String> = check_zone(&zone)
            .iter()
            .map(|d| d.message.clone())
            .collect();
        // The signed zones point an SRV at a CNAME on purpose: a warning, not an error.
        let expected: &[&str] = if file.starts_with("signed") {
            &["SRV target www.example.net. is a CNAME (illegal)"]
        } else {
            &[]
        };
        assert_eq!(diags, expected, "{file}");
    }
}

#[test]
fn missing_soa() {
    assert_eq!(
        check("$ORIGIN example.com.\n$TTL 1\n@ NS ns1\nns1 A 192.0.2.1\n"),
        ["t.zone:1:1: error: no SOA record at the zone apex example.com."]
    );
}

#[test]
fn duplicate_soa() {
    assert_eq!(
        check_head("@ SOA ns1 host 2 2 3 4 5\n"),
        ["t.zone:6:1: error: more than one SOA record at example.com. (first at t.zone:3:1)"]
    );
}

#[test]
fn missing_apex_ns() {
    assert_eq!(
        check("$ORIGIN example.com.\n$TTL 1\n@ SOA ns1 host 1 2 3 4 5\nns1 A 192.0.2.1\n"),
        ["t.zone:3:1: error: no NS records at the zone apex example.com."]
    );
}

#[test]
fn cname_and_other_data() {
    assert_eq!(
        check_head("www CNAME ns1\nwww A 192.0.2.9\n"),
        ["t.zone:6:1: error: CNAME and other data at www.example.com. (A at t.zone:7:1)"]
    );
    // RRSIG and NSEC may stand beside a CNAME (RFC 4035 §2.5).
    assert_eq!(check_head("www CNAME ns1\n RRSIG CNAME 8 3 300 1 1 1 example.com. AA==\n NSEC zz CNAME RRSIG NSEC\n"), Vec::<String>::new());
}

#[test]
fn two_cnames() {
    assert_eq!(
        check_head("www CNAME ns1\nwww CNAME other.net.\n"),
        ["t.zone:7:1: error: more than one CNAME at www.example.com. (first at t.zone:6:1)"]
    );
}

#[test]
fn missing_glue_below_a_delegation() {
    assert_eq!(
        check_head("sub NS ns.sub\n    NS ns.other.net.\n"),
        ["t.zone:6:1: error: missing glue: NS target ns.sub.example.com. is below the delegation sub.example.com. but has no A or AAAA record"]
    );
    assert_eq!(
        check_head("sub NS ns.sub\nns.sub AAAA 2001:db8::1\n"),
        Vec::<String>::new()
    );
}

#[test]
fn in_zone_name_server_without_address() {
    assert_eq!(
        check_head("@ NS ns2\n"),
        ["t.zone:6:1: error: NS target ns2.example.com. is in the zone but has no A or AAAA record"]
    );
}

#[test]
fn ns_and_mx_targets_that_are_cnames() {
    assert_eq!(
        check_head("alias CNAME ns1\n@ NS alias\n@ MX 10 alias\n_s._tcp SRV 0 0 1 alias\n"),
        [
            "t.zone:7:1: error: NS target alias.example.com. is a CNAME (illegal)",
            "t.zone:8:1: error: MX target alias.example.com. is a CNAME (illegal)",
            "t.zone:9:1: warning: SRV target alias.example.com. is a CNAME (illegal)",
        ]
    );
}

#[test]
fn mx_target_without_address() {
    assert_eq!(
        check_head("@ MX 10 nomail\n"),
        ["t.zone:6:1: warning: MX target nomail.example.com. has no A or AAAA record"]
    );
}

#[test]
fn duplicate_records() {
    assert_eq!(
        check_head("a A 192.0.2.1\nA a 192.0.2.1\n"),
        ["t.zone:7:1: warning: duplicate A record at A.example.com. (first at t.zone:6:1); it is served once"]
    );
}

#[test]
fn differing_ttls_in_an_rrset() {
    assert_eq!(
        check_head("a 60 A 192.0.2.1\na 120 A 192.0.2.2\n"),
        ["t.zone:7:1: warning: TTL 120 differs from TTL 60 of the same A RRset at a.example.com. (first at t.zone:6:1)"]
    );
}

#[test]
fn check_zone_file_reports_load_errors_warnings_and_checks() {
    let dir = std::env::temp_dir().join(format!("dermaga-zf-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.display();
    std::fs::write(
        dir.join("bad.zone"),
        "$ORIGIN example.com.\n@ SOA ns1 host 1 2 3 4 5\nx A 1.2.3\ny MX x y\n",
    )
    .unwrap();
    let r = dermaga_dns::zonefile::check_zone_file(&dir.join("bad.zone"), None);
    assert_eq!(
        r.lines,
        [
            format!("{d}/bad.zone:3:5: error: A: invalid IPv4 address '1.2.3'"),
            format!("{d}/bad.zone:4:6: error: MX: invalid preference: 'x'"),
        ]
    );
    assert!(!r.ok());
    std::fs::write(
        dir.join("warn.zone"),
        "$ORIGIN example.com.\n@ SOA ns1 host 1 2 3 4 5\n NS ns1\nns1 A 192.0.2.1\n MX 1 nomail\n",
    )
    .unwrap();
    let r = dermaga_dns::zonefile::check_zone_file(&dir.join("warn.zone"), None);
    assert_eq!(
        r.lines,
        [
            format!("{d}/warn.zone:2:1: warning: record without TTL and no $TTL before it: using 3600, as NSD does"),
            format!("{d}/warn.zone:5:2: warning: MX target nomail.example.com. has no A or AAAA record"),
        ]
    );
    assert!(r.ok());
    assert_eq!(
        (r.errors, r.warnings, r.records, r.origin.as_deref()),
        (0, 2, 4, Some("example.com."))
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
