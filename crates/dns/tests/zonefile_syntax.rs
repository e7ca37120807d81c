//! The zone-file scanner, one syntax rule per test.

use dermaga_dns::zonefile::{parse_name, parse_zone_str, LoadedZone, ZoneRecord};

const HEAD: &str = "$ORIGIN example.com.\n$TTL 300\n@ SOA ns1 host 1 2 3 4 5\n";

fn load(text: &str) -> LoadedZone {
    parse_zone_str(text, Some(&parse_name("example.com.").unwrap()), "t.zone")
        .unwrap_or_else(|e| panic!("{e}"))
}

fn load_no_origin(text: &str) -> LoadedZone {
    parse_zone_str(text, None, "t.zone").unwrap_or_else(|e| panic!("{e}"))
}

/// The records after the SOA, as `owner TTL class type rdata` lines.
fn lines(text: &str) -> Vec<String> {
    load(&format!("{HEAD}{text}")).records[1..]
        .iter()
        .map(ZoneRecord::to_string)
        .collect()
}

fn one(text: &str) -> String {
    let l = lines(text);
    assert_eq!(l.len(), 1, "{l:?}");
    l.into_iter().next().unwrap()
}

#[test]
fn origin_directive_and_relative_names() {
    assert_eq!(
        one("www A 192.0.2.1"),
        "www.example.com. 300 IN A 192.0.2.1"
    );
    assert_eq!(
        one("$ORIGIN sub.example.com.\nwww A 192.0.2.1"),
        "www.sub.example.com. 300 IN A 192.0.2.1"
    );
    // A relative $ORIGIN is relative to the current one.
    assert_eq!(
        one("$ORIGIN sub\nwww A 192.0.2.1"),
        "www.sub.example.com. 300 IN A 192.0.2.1"
    );
}

#[test]
fn at_sign_is_the_origin() {
    assert_eq!(one("@ A 192.0.2.1"), "example.com. 300 IN A 192.0.2.1");
    assert_eq!(one("x CNAME @"), "x.example.com. 300 IN CNAME example.com.");
}

#[test]
fn absolute_names_stay_absolute() {
    assert_eq!(
        one("x.example.com. A 192.0.2.1"),
        "x.example.com. 300 IN A 192.0.2.1"
    );
    assert_eq!(
        one("x NS ns.other.net."),
        "x.example.com. 300 IN NS ns.other.net."
    );
}

#[test]
fn omitted_owner_is_the_previous_one() {
    assert_eq!(
        lines("a A 192.0.2.1\n  A 192.0.2.2\n\tTXT x"),
        [
            "a.example.com. 300 IN A 192.0.2.1",
            "a.example.com. 300 IN A 192.0.2.2",
            "a.example.com. 300 IN TXT \"x\""
        ]
    );
}

#[test]
fn ttl_directive_and_default_ttl() {
    assert_eq!(
        one("$TTL 60\na A 192.0.2.1"),
        "a.example.com. 60 IN A 192.0.2.1"
    );
    // As NSD: an omitted TTL is $TTL, not the previous record's TTL.
    assert_eq!(
        lines("a 7 A 192.0.2.1\nb A 192.0.2.2"),
        [
            "a.example.com. 7 IN A 192.0.2.1",
            "b.example.com. 300 IN A 192.0.2.2"
        ]
    );
    // Without any $TTL, NSD's default of 3600, with a warning.
    let z = load("$ORIGIN example.com.\n@ SOA ns host 1 2 3 4 5\n");
    assert_eq!(z.records[0].ttl.as_secs(), 3600);
    assert_eq!(
        z.warnings[0].to_string(),
        "t.zone:2:1: record without TTL and no $TTL before it: using 3600, as NSD does"
    );
}

#[test]
fn ttl_units() {
    let ttl = |t: &str| {
        load(&format!("{HEAD}a {t} A 192.0.2.1")).records[1]
            .ttl
            .as_secs()
    };
    assert_eq!(ttl("1h30m"), 5400);
    assert_eq!(ttl("1w"), 604800);
    assert_eq!(
        ttl("1W2D3H4M5S"),
        604800 + 2 * 86400 + 3 * 3600 + 4 * 60 + 5
    );
    assert_eq!(ttl("0"), 0);
    assert_eq!(ttl("2147483647"), 2147483647);
    assert_eq!(
        one("$TTL 2h\na A 192.0.2.1"),
        "a.example.com. 7200 IN A 192.0.2.1"
    );
    // SOA timers take units too.
    let z = load("$TTL 1\n@ SOA ns host 1 1h 30m 2w 1d\n");
    assert_eq!(
        z.records[0].to_string(),
        "example.com. 1 IN SOA ns.example.com. host.example.com. 1 3600 1800 1209600 86400"
    );
}

#[test]
fn ttl_above_2_pow_31_becomes_zero_with_warning() {
    let z = load(&format!("{HEAD}a 4294967295 A 192.0.2.1"));
    assert_eq!(z.records[1].ttl.as_secs(), 0);
    assert_eq!(
        z.warnings[0].to_string(),
        "t.zone:4:1: TTL 4294967295 is above 2147483647 (RFC 2181 §8): using 0"
    );
}

#[test]
fn class_and_ttl_in_either_order() {
    assert_eq!(
        one("a IN 60 A 192.0.2.1"),
        "a.example.com. 60 IN A 192.0.2.1"
    );
    assert_eq!(
        one("a 60 IN A 192.0.2.1"),
        "a.example.com. 60 IN A 192.0.2.1"
    );
    assert_eq!(one("a in a 192.0.2.1"), "a.example.com. 300 IN A 192.0.2.1");
}

#[test]
fn a_token_in_column_one_is_an_owner_even_if_it_looks_like_a_class() {
    // NSD reads this as owner `IN`.
    assert_eq!(one("IN A 192.0.2.1"), "IN.example.com. 300 IN A 192.0.2.1");
}

#[test]
fn parentheses_span_lines_with_comments() {
    let z = load("$ORIGIN example.com.\n$TTL 1\n@ SOA ns host ( ; start\n 1 ; serial\n 2\n\n 3 4 5 ) ; end\nnext A 192.0.2.1\n");
    assert_eq!(
        z.records[0].to_string(),
        "example.com. 1 IN SOA ns.example.com. host.example.com. 1 2 3 4 5"
    );
    assert_eq!(z.records[1].location.line, 8);
}

#[test]
fn comments_and_blank_lines() {
    assert_eq!(
        lines("; only a comment\n\n   \na A 192.0.2.1 ; trailing\n"),
        ["a.example.com. 300 IN A 192.0.2.1"]
    );
}

#[test]
fn quoted_strings_keep_spaces_semicolons_and_parentheses() {
    assert_eq!(
        one(r#"t TXT "a b;c(d)""#),
        r#"t.example.com. 300 IN TXT "a b;c(d)""#
    );
}

#[test]
fn txt_several_strings_and_unquoted_words() {
    assert_eq!(
        one(r#"t TXT "one" two "three""#),
        r#"t.example.com. 300 IN TXT "one" "two" "three""#
    );
}

#[test]
fn escapes_decimal_and_character() {
    assert_eq!(
        one(r#"t TXT "\065\066\"\\x""#),
        r#"t.example.com. 300 IN TXT "AB\"\\x""#
    );
    // In names: an escaped dot is part of a label, \DDD any octet.
    let z = load(&format!("{HEAD}a\\.b A 192.0.2.1\n\\065x A 192.0.2.2"));
    assert_eq!(
        z.records[1].owner.as_slice(),
        b"\x03a.b\x07example\x03com\x00"
    );
    assert_eq!(
        z.records[2].owner.as_slice(),
        b"\x02Ax\x07example\x03com\x00"
    );
}

#[test]
fn owner_case_is_preserved() {
    let z = load(&format!("{HEAD}MiXeD A 192.0.2.1"));
    assert_eq!(&z.records[1].owner.as_slice()[..6], b"\x05MiXeD");
}

#[test]
fn txt_255_octets_is_the_limit() {
    let s = "x".repeat(255);
    assert_eq!(
        one(&format!("t TXT \"{s}\"")),
        format!("t.example.com. 300 IN TXT \"{s}\"")
    );
}

#[test]
fn generic_form_for_unknown_and_known_types() {
    assert_eq!(
        one(r"x TYPE65534 \# 4 0a000001"),
        r"x.example.com. 300 IN TYPE65534 \# 4 0a 00 00 01"
    );
    assert_eq!(
        one(r"x TYPE65534 \# 0"),
        r"x.example.com. 300 IN TYPE65534 \# 0"
    );
    assert_eq!(
        one(r"x A \# 4 C0000201"),
        "x.example.com. 300 IN A 192.0.2.1"
    );
    assert_eq!(
        one(r"x TYPE1 \# 4 C0 00 02 01"),
        "x.example.com. 300 IN A 192.0.2.1"
    );
    assert_eq!(
        one(r"x MX \# ( 8 000a 04 6d61696c 00 )"),
        "x.example.com. 300 IN MX 10 mail."
    );
}

#[test]
fn generic_form_may_be_empty_even_for_txt() {
    // NSD takes an empty TXT in generic form (and prints it as a bare `TXT`).
    let z = load(&format!("{HEAD}x TXT \\# 0"));
    let mut wire = Vec::new();
    domain::base::rdata::ComposeRecordData::compose_rdata(&z.records[1].data, &mut wire).unwrap();
    assert_eq!(
        (z.records[1].rtype(), wire.len()),
        (domain::base::iana::Rtype::TXT, 0)
    );
}

#[test]
fn address_types() {
    assert_eq!(one("a A 192.0.2.1"), "a.example.com. 300 IN A 192.0.2.1");
    assert_eq!(
        one("a AAAA 2001:db8::1"),
        "a.example.com. 300 IN AAAA 2001:db8::1"
    );
    assert_eq!(
        one("a AAAA ::ffff:192.0.2.1"),
        "a.example.com. 300 IN AAAA ::ffff:192.0.2.1"
    );
}

#[test]
fn name_types() {
    assert_eq!(one("a NS ns"), "a.example.com. 300 IN NS ns.example.com.");
    assert_eq!(
        one("a CNAME b"),
        "a.example.com. 300 IN CNAME b.example.com."
    );
    assert_eq!(one("a PTR b."), "a.example.com. 300 IN PTR b.");
    assert_eq!(one("a DNAME b.net."), "a.example.com. 300 IN DNAME b.net.");
    assert_eq!(
        one("a MX 10 mail"),
        "a.example.com. 300 IN MX 10 mail.example.com."
    );
    assert_eq!(
        one("_s._tcp SRV 1 2 3 t"),
        "_s._tcp.example.com. 300 IN SRV 1 2 3 t.example.com."
    );
    assert_eq!(
        one("a RP mbox txt"),
        "a.example.com. 300 IN RP mbox.example.com. txt.example.com."
    );
}

#[test]
fn text_types() {
    assert_eq!(
        one(r#"a HINFO "PC" Linux"#),
        r#"a.example.com. 300 IN HINFO "PC" "Linux""#
    );
    assert_eq!(
        one(r#"a CAA 0 issue "ca.example.net""#),
        r#"a.example.com. 300 IN CAA 0 issue "ca.example.net""#
    );
    assert_eq!(
        one(r#"a NAPTR 100 10 "S" "SIP+D2U" "" _sip._udp"#),
        r#"a.example.com. 300 IN NAPTR 100 10 "S" "SIP+D2U" "" _sip._udp.example.com."#
    );
}

#[test]
fn hex_types_split_across_tokens() {
    assert_eq!(
        one("a SSHFP 1 1 ( 0123 4567 )"),
        "a.example.com. 300 IN SSHFP 1 1 01234567"
    );
    assert_eq!(
        one("a TLSA 3 1 1 ABCD ef01"),
        "a.example.com. 300 IN TLSA 3 1 1 ABCDEF01"
    );
}

#[test]
fn dnssec_types() {
    assert_eq!(
        one("a DS 60485 RSASHA1 1 2BB183AF5F22588179A53B0A98631FAD1A292118"),
        "a.example.com. 300 IN DS 60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118"
    );
    assert_eq!(
        one("a DNSKEY 256 3 8 ( AwEAAQ== )"),
        "a.example.com. 300 IN DNSKEY 256 3 8 AwEAAQ=="
    );
    assert_eq!(
        one("a RRSIG A 8 3 300 20260101000000 1767225600 1234 example.com. aGVsbG8="),
        "a.example.com. 300 IN RRSIG A 8 3 300 1767225600 1767225600 1234 example.com. aGVsbG8="
    );
    assert_eq!(
        one("a NSEC b A NS TYPE1234"),
        "a.example.com. 300 IN NSEC b.example.com. A NS TYPE1234"
    );
    assert_eq!(
        one("a NSEC3 1 1 12 AABB 2vptu5timamqttgl4luu9kg21e0aor3s A RRSIG"),
        "a.example.com. 300 IN NSEC3 1 1 12 AABB 2VPTU5TIMAMQTTGL4LUU9KG21E0AOR3S A RRSIG"
    );
    assert_eq!(
        one("a NSEC3PARAM 1 0 0 -"),
        "a.example.com. 300 IN NSEC3PARAM 1 0 0 -"
    );
}

#[test]
fn svcb_and_https_params_sorted_and_quoted() {
    assert_eq!(
        one(r#"a HTTPS 1 . port=8443 alpn="h2,h3" ipv4hint=192.0.2.1,192.0.2.2 mandatory=port"#),
        r#"a.example.com. 300 IN HTTPS 1 . mandatory=port alpn=h2,h3 port=8443 ipv4hint=192.0.2.1,192.0.2.2"#
    );
    assert_eq!(
        one("a SVCB 2 t no-default-alpn alpn=h3 ech=AEP+DQA/ ipv6hint=2001:db8::1 key65333=ex"),
        // `domain` 0.12 prints key 2 as `nodefaultalpn` (RFC 9460 says `no-default-alpn`); the
        // wire form is right, which the differential test against NSD checks.
        "a.example.com. 300 IN SVCB 2 t.example.com. alpn=h3 nodefaultalpn ech=AEP+DQA/ ipv6hint=2001:db8::1 key65333=ex"
    );
    assert_eq!(
        one("a SVCB 0 alias.example.net."),
        "a.example.com. 300 IN SVCB 0 alias.example.net."
    );
    // An escaped comma is part of an alpn id (RFC 9460 Appendix A.1).
    let z = load(&format!("{HEAD}a HTTPS 1 . alpn=\"a\\\\,b,c\""));
    let mut wire = Vec::new();
    domain::base::rdata::ComposeRecordData::compose_rdata(&z.records[1].data, &mut wire).unwrap();
    assert_eq!(&wire[3..], b"\x00\x01\x00\x06\x03a,b\x01c");
}

#[test]
fn include_with_origin_and_restored_origin() {
    let dir = std::env::temp_dir().join(format!("dermaga-zf-inc-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(
        dir.join("sub/part.inc"),
        "h A 192.0.2.5\n$INCLUDE more.inc\n",
    )
    .unwrap();
    std::fs::write(dir.join("sub/more.inc"), "m A 192.0.2.6\n").unwrap();
    std::fs::write(
        dir.join("main.zone"),
        format!("{HEAD}$INCLUDE sub/part.inc inner\nafter A 192.0.2.7\n"),
    )
    .unwrap();
    let z = dermaga_dns::zonefile::load_zone_file(
        &dir.join("main.zone"),
        Some(&parse_name("example.com").unwrap()),
    )
    .unwrap();
    let got: Vec<String> = z.records[1..]
        .iter()
        .map(|r| format!("{} {}", r, r.location))
        .collect();
    let d = dir.display();
    assert_eq!(
        got,
        [
            format!("h.inner.example.com. 300 IN A 192.0.2.5 {d}/sub/part.inc:1:1"),
            format!("m.inner.example.com. 300 IN A 192.0.2.6 {d}/sub/more.inc:1:1"),
            format!("after.example.com. 300 IN A 192.0.2.7 {d}/main.zone:5:1"),
        ]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn origin_from_soa_owner_or_origin_directive() {
    let z = load_no_origin("example.net. 60 SOA ns.example.net. host.example.net. 1 2 3 4 5\n");
    assert_eq!(z.origin.to_string(), "example.net");
    let z = load_no_origin("$ORIGIN example.org.\n$TTL 1\n@ SOA ns host 1 2 3 4 5\n");
    assert_eq!(z.origin.to_string(), "example.org");
}

#[test]
fn positions_are_line_and_column() {
    let z = load(&format!("{HEAD}a A 192.0.2.1\n   AAAA ::1"));
    assert_eq!(
        (z.records[1].location.line, z.records[1].location.column),
        (4, 1)
    );
    assert_eq!(
        (z.records[2].location.line, z.records[2].location.column),
        (5, 4)
    );
}

#[test]
fn large_file_streams_across_chunks() {
    // Larger than the scanner's read chunk, with entries that straddle chunk borders.
    let dir = std::env::temp_dir().join(format!("dermaga-zf-big-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut text = String::from(HEAD);
    text.push_str("@ NS ns1\nns1 A 192.0.2.1\n");
    for i in 0..20000 {
        text.push_str(&format!(
            "h{i} ( A\n 10.{}.{}.{} ) ; c\n",
            i / 65536,
            (i / 256) % 256,
            i % 256
        ));
    }
    let path = dir.join("big.zone");
    std::fs::write(&path, &text).unwrap();
    let z = dermaga_dns::zonefile::load_zone_file(&path, None).unwrap();
    assert_eq!(z.records.len(), 20003);
    let last = z.records.last().unwrap();
    assert_eq!(last.to_string(), "h19999.example.com. 300 IN A 10.0.78.31");
    assert_eq!(last.location.line, 6 + 2 * 19999);
    std::fs::remove_dir_all(&dir).unwrap();
}
