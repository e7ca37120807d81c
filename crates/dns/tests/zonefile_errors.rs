//! Zone-file errors: each with its exact message and position, and all of a file at once.

use dermaga_dns::zonefile::{parse_name, parse_zone_str};

const HEAD: &str = "$ORIGIN example.com.\n$TTL 300\n@ SOA ns1 host 1 2 3 4 5\n";

/// The errors of `HEAD` + `text`, one `file:line:column: message` string each.
fn errors(text: &str) -> Vec<String> {
    match parse_zone_str(
        &format!("{HEAD}{text}"),
        Some(&parse_name("example.com.").unwrap()),
        "t.zone",
    ) {
        Ok(_) => panic!("no error for {text:?}"),
        Err(e) => e.errors.iter().map(|e| e.to_string()).collect(),
    }
}

fn error(text: &str) -> String {
    let e = errors(text);
    assert_eq!(e.len(), 1, "{e:#?}");
    e.into_iter().next().unwrap()
}

#[test]
fn every_error_of_a_file_is_reported() {
    let text =
        "a A 300.1.1.1\nb A 192.0.2.1\nc MX mail\nd BOGUS x\n  e\nf TXT \"ok\"\ng 1x A 192.0.2.1\n";
    assert_eq!(
        errors(text),
        [
            "t.zone:4:5: A: invalid IPv4 address '300.1.1.1'",
            "t.zone:6:6: MX: invalid preference: 'mail'",
            "t.zone:7:3: unknown record type 'BOGUS'",
            "t.zone:8:3: unknown record type 'e'",
            "t.zone:10:3: invalid TTL '1x': expected digits and the units s, m, h, d, w",
        ]
    );
}

#[test]
fn bad_addresses() {
    assert_eq!(
        error("a A 1.2.3"),
        "t.zone:4:5: A: invalid IPv4 address '1.2.3'"
    );
    assert_eq!(
        error("a AAAA 2001:db8::g"),
        "t.zone:4:8: AAAA: invalid IPv6 address '2001:db8::g'"
    );
    assert_eq!(error("a A"), "t.zone:4:4: A: missing IPv4 address");
}

#[test]
fn trailing_data() {
    assert_eq!(
        error("a A 192.0.2.1 192.0.2.2"),
        "t.zone:4:15: A: trailing data after the record data"
    );
}

#[test]
fn names_too_long_or_broken() {
    let label = "x".repeat(64);
    assert_eq!(
        error(&format!("{label} A 192.0.2.1")),
        "t.zone:4:1: invalid owner name: label longer than 63 octets"
    );
    assert_eq!(
        error("a..b A 192.0.2.1"),
        "t.zone:4:1: invalid owner name: empty label in domain name"
    );
    let long = vec!["y".repeat(63); 4].join(".");
    assert_eq!(
        error(&format!("a NS {long}.")),
        "t.zone:4:6: NS: domain name longer than 255 octets"
    );
    assert_eq!(
        error("a\\256 A 192.0.2.1"),
        "t.zone:4:1: invalid owner name: escape \\DDD above \\255"
    );
    assert_eq!(
        error("a\\12 A 192.0.2.1"),
        "t.zone:4:1: invalid owner name: escape \\DDD needs exactly three digits"
    );
}

#[test]
fn relative_name_without_origin() {
    let e = parse_zone_str("$TTL 1\nwww A 192.0.2.1\n", None, "t.zone").unwrap_err();
    assert_eq!(
        e.to_string(),
        "t.zone:2:1: invalid owner name: relative domain name but no origin is known (no $ORIGIN and none given)"
    );
}

#[test]
fn no_origin_at_all() {
    let e = parse_zone_str("; nothing\n", None, "t.zone").unwrap_err();
    assert_eq!(
        e.to_string(),
        "t.zone:1:1: no origin: give one, or start the file with $ORIGIN or an SOA record"
    );
}

#[test]
fn first_record_needs_an_owner() {
    let e = parse_zone_str(
        "$TTL 1\n  A 192.0.2.1\n",
        Some(&parse_name("example.com").unwrap()),
        "t.zone",
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "t.zone:2:3: no owner name: the first record of a file must name its owner"
    );
}

#[test]
fn class_other_than_in() {
    assert_eq!(
        error("a CH A 192.0.2.1"),
        "t.zone:4:3: only class IN is supported, not CH"
    );
    assert_eq!(
        error("a 60 CLASS3 A 192.0.2.1"),
        "t.zone:4:6: only class IN is supported, not CLASS3"
    );
}

#[test]
fn txt_longer_than_255_octets() {
    let s = "x".repeat(256);
    assert_eq!(
        error(&format!("t TXT \"{s}\"")),
        "t.zone:4:7: TXT: text string is 256 octets long, longer than 255: split it into several quoted strings"
    );
}

#[test]
fn unbalanced_parentheses_and_quotes() {
    assert_eq!(
        error("a A ( 192.0.2.1\nb A 192.0.2.2\n"),
        "t.zone:4:5: unbalanced parentheses: '(' never closed"
    );
    assert_eq!(
        error("a A 192.0.2.1 )"),
        "t.zone:4:15: unbalanced parentheses: ')' without '('"
    );
    assert_eq!(error("a TXT ( ( x ) )"), "t.zone:4:9: nested parentheses");
    assert_eq!(
        error("a TXT \"open"),
        "t.zone:4:7: quoted string never closed"
    );
}

#[test]
fn numbers_out_of_range() {
    assert_eq!(
        error("a MX 65536 mail"),
        "t.zone:4:6: MX: preference out of range (at most 65535)"
    );
    assert_eq!(
        error("a CAA 256 issue \"x\""),
        "t.zone:4:7: CAA: flags out of range (at most 255)"
    );
    assert_eq!(
        error("@ SOA ns host 4294967296 1 2 3 4"),
        "t.zone:4:15: SOA: serial out of range (at most 4294967295)"
    );
    assert_eq!(
        error("a 4294967296 A 192.0.2.1"),
        "t.zone:4:3: invalid TTL '4294967296': TTL above 4294967295"
    );
}

#[test]
fn soa_missing_fields() {
    assert_eq!(
        error("@ SOA ns host 1 2 3 4"),
        "t.zone:4:22: SOA: missing minimum"
    );
}

#[test]
fn generic_form_errors() {
    assert_eq!(
        error("a TYPE65534 \\# 3 0a0000 01"),
        "t.zone:4:16: TYPE65534: \\# says 3 octets but 4 follow"
    );
    assert_eq!(
        error("a TYPE65534 \\# 2 0a0"),
        "t.zone:4:18: TYPE65534: rdata: odd number of hex digits"
    );
    assert_eq!(
        error("a TYPE65534 \\# x"),
        "t.zone:4:16: TYPE65534: invalid rdata length after \\#"
    );
    // A known type in generic form must still be valid data of that type.
    assert_eq!(
        error("a A \\# 3 0a0000"),
        "t.zone:4:3: A: rdata is not valid A data: unexpected end of input"
    );
}

#[test]
fn unsupported_type_in_presentation_form() {
    assert_eq!(
        error("a LOC 52 22 23.000 N 4 53 32.000 E -2.00m 0.00m 10000m 10m"),
        "t.zone:4:3: type LOC is not supported in presentation form; write it in RFC 3597 form (\\# length hex)"
    );
}

#[test]
fn directives() {
    assert_eq!(error("$TTL"), "t.zone:4:1: $TTL takes one TTL");
    assert_eq!(
        error("$TTL 1y"),
        "t.zone:4:6: invalid $TTL '1y': expected digits and the units s, m, h, d, w"
    );
    assert_eq!(
        error("$ORIGIN a..b."),
        "t.zone:4:9: invalid $ORIGIN: empty label in domain name"
    );
    assert_eq!(error("$FOO bar"), "t.zone:4:1: unknown directive $FOO");
    assert_eq!(
        error("$GENERATE 1-10 h$ A 10.0.0.$"),
        "t.zone:4:1: $GENERATE is a BIND extension that is not supported (NSD does not take it either)"
    );
}

#[test]
fn include_missing_and_loop() {
    let dir = std::env::temp_dir().join(format!("dermaga-zf-err-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("a.inc"), "x A 192.0.2.1\n$INCLUDE b.inc\n").unwrap();
    std::fs::write(dir.join("b.inc"), "$INCLUDE a.inc\n").unwrap();
    std::fs::write(
        dir.join("main.zone"),
        format!("{HEAD}$INCLUDE a.inc\n$INCLUDE missing.inc\n"),
    )
    .unwrap();
    let e = dermaga_dns::zonefile::load_zone_file(&dir.join("main.zone"), None).unwrap_err();
    let d = std::fs::canonicalize(&dir).unwrap();
    let got: Vec<String> = e.errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(got.len(), 2, "{got:#?}");
    assert!(
        got[0].starts_with(&format!("{}/b.inc:1:10: $INCLUDE loop: ", dir.display()))
            && got[0].ends_with(&format!(
                "{}/a.inc includes {}/b.inc includes {}/a.inc again",
                d.display(),
                d.display(),
                dir.display()
            )),
        "{}",
        got[0]
    );
    assert!(
        got[1].starts_with(&format!(
            "{}/main.zone:5:10: cannot open {}/missing.inc: ",
            dir.display(),
            dir.display()
        )),
        "{}",
        got[1]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn out_of_zone_data() {
    assert_eq!(
        error("www.example.org. A 192.0.2.1"),
        "t.zone:4:1: out of zone data: www.example.org. is outside the zone example.com."
    );
}

#[test]
fn svcb_errors() {
    assert_eq!(
        error("a HTTPS 1 . alpn=h2 alpn=h3"),
        "t.zone:4:21: HTTPS: service parameter key given twice"
    );
    assert_eq!(
        error("a HTTPS 1 . mandatory=port"),
        "t.zone:4:13: HTTPS: mandatory key key3 is missing"
    );
    assert_eq!(
        error("a HTTPS 1 . bogus=1"),
        "t.zone:4:13: HTTPS: unknown service parameter key 'bogus'"
    );
    assert_eq!(
        error("a HTTPS 1 . no-default-alpn=x"),
        "t.zone:4:13: HTTPS: no-default-alpn takes no value"
    );
    assert_eq!(
        error("a HTTPS 1 . port=x"),
        "t.zone:4:13: HTTPS: invalid port"
    );
}

#[test]
fn dnssec_field_errors() {
    assert_eq!(
        error("a DS 1 FOO 2 00"),
        "t.zone:4:8: DS: unknown algorithm 'FOO'"
    );
    assert_eq!(
        error("a DNSKEY 256 3 8 !!!!"),
        "t.zone:4:18: DNSKEY: public key: invalid base64 character"
    );
    assert_eq!(
        error("a RRSIG A 8 2 300 2026010100000 1 1 x. AA=="),
        "t.zone:4:19: RRSIG: invalid signature expiration: expected YYYYMMDDHHmmSS or seconds"
    );
    assert_eq!(
        error("a NSEC b A BOGUS"),
        "t.zone:4:12: NSEC: unknown type 'BOGUS'"
    );
    assert_eq!(
        error("a NSEC3 1 0 0 - zz A"),
        "t.zone:4:17: NSEC3: next hashed owner name: invalid base32hex character"
    );
}

#[test]
fn unclosed_parenthesis_in_a_large_file() {
    // The entry runs past many read chunks; the error still names where it opened.
    let dir = std::env::temp_dir().join(format!("dermaga-zf-paren-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut text = format!("{HEAD}bad TXT ( \"open\"\n");
    for i in 0..40000 {
        text.push_str(&format!("h{i} A 10.0.{}.{}\n", (i / 256) % 256, i % 256));
    }
    std::fs::write(dir.join("big.zone"), &text).unwrap();
    let e = dermaga_dns::zonefile::load_zone_file(&dir.join("big.zone"), None).unwrap_err();
    let got: Vec<String> = e.errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        got,
        [format!(
            "{}/big.zone:4:9: unbalanced parentheses: '(' never closed",
            dir.display()
        )]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
