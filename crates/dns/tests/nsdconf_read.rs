//! nsd.conf: what dermaga reads, checked against NSD's own nsd-checkconf where it can be.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use dermaga_dns::nsdconf::{load_nsd_conf, parse_nsd_conf_str, AclAddress, AclKey, NsdConf};
use dermaga_dns::zonefile::parse_name;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/nsdconf")
        .join(name)
}

fn nsd_checkconf() -> PathBuf {
    for p in ["/usr/sbin/nsd-checkconf", "/usr/bin/nsd-checkconf"] {
        if Path::new(p).exists() {
            return p.into();
        }
    }
    panic!("nsd-checkconf is not installed (package nsd; scripts/test.sh installs it)");
}

/// Runs nsd-checkconf in the file's folder (NSD resolves `include:` against its working
/// directory, dermaga against the including file's folder).
fn checkconf(file: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(nsd_checkconf())
        .current_dir(file.parent().unwrap())
        .args(args)
        .arg(file)
        .output()
        .expect("run nsd-checkconf");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

fn errors(text: &str) -> Vec<String> {
    match parse_nsd_conf_str(text, Path::new("/etc/nsd/t.conf")) {
        Ok(c) => panic!("no error; read {c:#?}"),
        Err(e) => e.errors.iter().map(|e| e.to_string()).collect(),
    }
}

fn read(text: &str) -> NsdConf {
    parse_nsd_conf_str(text, Path::new("/etc/nsd/t.conf")).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn full_config_matches_nsd_checkconf() {
    let path = data("full.conf");
    let (ok, out) = checkconf(&path, &[]);
    assert!(ok, "nsd-checkconf rejects full.conf: {out}");
    let conf = load_nsd_conf(&path).unwrap_or_else(|e| panic!("{e}"));

    let s = &conf.server;
    assert_eq!(
        checkconf(&path, &["-o", "port"]).1.trim(),
        s.port.to_string()
    );
    assert_eq!(s.port, 5300);
    assert_eq!(
        s.ip_addresses,
        [
            ("127.0.0.1".parse::<IpAddr>().unwrap(), None),
            ("::1".parse().unwrap(), Some(5353))
        ]
    );
    assert_eq!(
        s.zonesdir.as_deref(),
        Some(Path::new("/var/lib/dermaga-test/zones"))
    );
    assert_eq!(
        s.pidfile.as_deref(),
        Some(Path::new("/run/dermaga-test/nsd.pid"))
    );
    assert_eq!((s.server_count, s.minimal_responses), (2, true));
    assert_eq!(
        (
            s.rrl.ratelimit,
            s.rrl.slip,
            s.rrl.ipv4_prefix_length,
            s.rrl.ipv6_prefix_length
        ),
        (0, 3, 20, 64)
    );

    assert_eq!(conf.keys.len(), 1);
    assert_eq!(
        (conf.keys[0].name.as_str(), conf.keys[0].algorithm.as_str()),
        ("xfr.key", "hmac-sha256")
    );
    assert_eq!(conf.keys[0].secret.len(), 16);

    assert_eq!(conf.zones.len(), 2);
    for zone in &conf.zones {
        let name = zone.name.to_string();
        for (option, ours) in [("provide-xfr", &zone.provide_xfr), ("notify", &zone.notify)] {
            let (_, theirs) = checkconf(&path, &["-z", &name, "-o", option]);
            let ours: Vec<String> = ours.iter().map(ToString::to_string).collect();
            assert_eq!(
                ours,
                theirs.lines().collect::<Vec<_>>(),
                "{option} of {name}"
            );
        }
    }
    // Statement order as NSD: the pattern's zonefile comes after the zone's own for
    // example.com, before it for example.org.
    assert_eq!(conf.zones[0].name, parse_name("example.com").unwrap());
    assert_eq!(
        conf.zones[0].zonefile,
        Path::new("/var/lib/dermaga-test/zones/example.com.zone")
    );
    assert_eq!(
        conf.zones[1].zonefile,
        Path::new("/srv/zones/example.org.zone")
    );
    assert_eq!(conf.zones[0].provide_xfr[1].key, AclKey::Blocked);
    assert_eq!(
        conf.zones[0].provide_xfr[0].address,
        AclAddress::Subnet("192.0.2.0".parse().unwrap(), 24)
    );

    let warnings: Vec<String> = conf.warnings.iter().map(ToString::to_string).collect();
    let d = path.parent().unwrap().display();
    assert_eq!(
        warnings,
        [
            format!("{d}/full.conf:14:2: option 'verbosity:' in server: is NSD's but dermaga does not use it; ignored"),
            format!("{d}/full.conf:15:2: option 'hide-version:' in server: is NSD's but dermaga does not use it; ignored"),
            format!("{d}/conf.d/patterns.conf:4:2: option 'notify-retry:' in pattern: is NSD's but dermaga does not use it; ignored"),
            format!("{d}/full.conf:35:1: section 'remote-control:' is NSD's but dermaga does not use it"),
        ]
    );
}

#[test]
fn unknown_options_are_errors_with_position_as_in_nsd() {
    let path = data("unknown.conf");
    let (ok, out) = checkconf(&path, &[]);
    assert!(
        !ok && out.contains("unknown.conf:3:"),
        "nsd-checkconf: {out}"
    );
    let e = load_nsd_conf(&path).unwrap_err();
    let d = path.parent().unwrap().display();
    assert_eq!(
        e.errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
        [
            format!("{d}/unknown.conf:3:2: unknown option 'no-such-option:' in server:"),
            format!("{d}/unknown.conf:7:2: unknown option 'also-bogus:' in zone:"),
        ]
    );
}

#[test]
fn debian_default_nsd_conf() {
    let path = Path::new("/etc/nsd/nsd.conf");
    assert!(
        path.exists(),
        "/etc/nsd/nsd.conf is missing: the nsd package installs it (scripts/test.sh)"
    );
    let conf = load_nsd_conf(path).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        conf.warnings.iter().any(|w| w.message == "option 'log-only-syslog:' in server: is NSD's but dermaga does not use it; ignored"),
        "{:#?}",
        conf.warnings
    );
    assert_eq!(conf.server.port, 53);
}

#[test]
fn acl_forms() {
    let c = read(
        "key:\n name: k\n algorithm: hmac-sha512\n secret: \"AAAA\"\nzone:\n name: example.com\n zonefile: z\n \
         provide-xfr: 10.0.0.0/8 k\n provide-xfr: 10.1.2.3&255.255.0.0 NOKEY\n provide-xfr: 10.0.0.1-10.0.0.9@53 NOKEY\n provide-xfr: ::/0 NOKEY\n",
    );
    let acl = &c.zones[0].provide_xfr;
    let texts: Vec<String> = acl.iter().map(ToString::to_string).collect();
    assert_eq!(
        texts,
        [
            "10.0.0.0/8 k",
            "10.1.2.3&255.255.0.0 NOKEY",
            "10.0.0.1-10.0.0.9@53 NOKEY",
            "::/0 NOKEY"
        ]
    );
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    assert!(acl[0].address.contains(ip("10.200.0.1")) && !acl[0].address.contains(ip("11.0.0.1")));
    assert!(acl[1].address.contains(ip("10.1.99.99")) && !acl[1].address.contains(ip("10.2.2.3")));
    assert!(acl[2].address.contains(ip("10.0.0.9")) && !acl[2].address.contains(ip("10.0.0.10")));
    assert!(acl[3].address.contains(ip("2001:db8::1")) && !acl[3].address.contains(ip("10.0.0.1")));
    assert_eq!(c.zones[0].zonefile, Path::new("/etc/nsd/z"));
}

#[test]
fn zonefile_substitutions() {
    let c = read("zone:\n name: www.example.com\n zonefile: \"/z/%1/%2/%z/%y/%x/%s.%%\"\n");
    assert_eq!(
        c.zones[0].zonefile,
        Path::new("/z/w/w/com/example/www/www.example.com.%")
    );
}

#[test]
fn configuration_errors() {
    assert_eq!(errors("port: 53\n"), ["/etc/nsd/t.conf:1:1: option 'port:' outside a section (server:, zone:, pattern:, key:, ...)"]);
    assert_eq!(
        errors("server:\n port: x\n"),
        ["/etc/nsd/t.conf:2:8: port: 'x' is not a valid number here"]
    );
    assert_eq!(
        errors("server:\n minimal-responses: maybe\n"),
        ["/etc/nsd/t.conf:2:21: minimal-responses: expected yes or no, not 'maybe'"]
    );
    assert_eq!(
        errors("server:\n ip-address: 1.2.3\n"),
        ["/etc/nsd/t.conf:2:14: ip-address: invalid IP address '1.2.3'"]
    );
    assert_eq!(
        errors("server:\n server-count: 0\n"),
        ["/etc/nsd/t.conf:2:2: server-count: must be at least 1"]
    );
    assert_eq!(
        errors("zone:\n zonefile: z\n"),
        ["/etc/nsd/t.conf:1:1: zone: without name"]
    );
    assert_eq!(
        errors("zone:\n name: a.test\n"),
        ["/etc/nsd/t.conf:1:1: zone 'a.test' has no zonefile: (dermaga serves zones as a primary only)"]
    );
    assert_eq!(
        errors("zone:\n name: a.test\n zonefile: a\nzone:\n name: A.test.\n zonefile: b\n"),
        ["/etc/nsd/t.conf:5:8: zone 'A.test.' is defined twice"]
    );
    assert_eq!(
        errors("zone:\n name: a.test\n zonefile: a\n notify: 192.0.2.1 nokey.here\n"),
        ["/etc/nsd/t.conf:4:20: notify: key 'nokey.here' is not defined by any key: section"]
    );
    assert_eq!(
        errors("zone:\n name: a.test\n zonefile: a\n provide-xfr: 192.0.2.1/33 NOKEY\n"),
        ["/etc/nsd/t.conf:4:15: provide-xfr: invalid prefix length '33'"]
    );
    assert_eq!(
        errors("zone:\n name: a.test\n zonefile: a\n notify: 192.0.2.1\n"),
        ["/etc/nsd/t.conf:4:2: notify: takes an address and a key name (or NOKEY)"]
    );
    assert_eq!(
        errors("zone:\n name: a.test\n include-pattern: nope\n zonefile: a\n"),
        ["/etc/nsd/t.conf:3:19: include-pattern: no pattern named 'nope'"]
    );
    assert_eq!(
        errors("key:\n name: k\n algorithm: hmac-sha256\n"),
        ["/etc/nsd/t.conf:1:1: key: without secret"]
    );
    assert_eq!(
        errors("key:\n name: k\n algorithm: rot13\n secret: AAAA\n"),
        ["/etc/nsd/t.conf:3:13: algorithm: unknown TSIG algorithm 'rot13' (expected one of hmac-md5, hmac-sha1, hmac-sha224, hmac-sha256, hmac-sha384, hmac-sha512)", "/etc/nsd/t.conf:1:1: key: without algorithm"]
    );
    assert_eq!(
        errors("key:\n name: k\n algorithm: hmac-sha256\n secret: \"!!\"\n"),
        [
            "/etc/nsd/t.conf:4:10: secret: not valid base64",
            "/etc/nsd/t.conf:1:1: key: without secret"
        ]
    );
    assert_eq!(
        errors("server:\n identity: \"open\n"),
        ["/etc/nsd/t.conf:2:12: quoted string not closed on its line"]
    );
    assert_eq!(
        errors("server:\n stray\n"),
        ["/etc/nsd/t.conf:2:2: 'stray' is not an option: expected 'name:'"]
    );
}

#[test]
fn includes_missing_and_looping() {
    let dir = std::env::temp_dir().join(format!("dermaga-nsdconf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("a.conf"), "server:\ninclude: b.conf\n").unwrap();
    std::fs::write(dir.join("b.conf"), "include: a.conf\n").unwrap();
    std::fs::write(
        dir.join("main.conf"),
        "include: a.conf\ninclude: missing.conf\ninclude: none-*.conf\n",
    )
    .unwrap();
    let e = load_nsd_conf(&dir.join("main.conf")).unwrap_err();
    let got: Vec<String> = e.errors.iter().map(ToString::to_string).collect();
    let d = dir.display();
    assert_eq!(got.len(), 2, "{got:#?}");
    assert!(
        got[0].starts_with(&format!(
            "{d}/b.conf:1:10: include loop: {d}/a.conf is already being read"
        )),
        "{}",
        got[0]
    );
    assert!(
        got[1].starts_with(&format!(
            "{d}/main.conf:2:10: cannot read {d}/missing.conf: "
        )),
        "{}",
        got[1]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn rrl_whitelist_per_zone_and_from_patterns() {
    let conf = read(
        "pattern:\n name: p\n rrl-whitelist: nxdomain\n\
         zone:\n name: a.test\n zonefile: a\n rrl-whitelist: Positive\n include-pattern: p\n\
         zone:\n name: b.test\n zonefile: b\n",
    );
    assert_eq!(conf.zones[0].rrl_whitelist, ["positive", "nxdomain"]);
    assert!(conf.zones[1].rrl_whitelist.is_empty());
    assert!(conf.warnings.is_empty(), "{:?}", conf.warnings);
    assert_eq!(
        errors("zone:\n name: a.test\n zonefile: a\n rrl-whitelist: sometimes\n"),
        ["/etc/nsd/t.conf:4:17: rrl-whitelist: unknown type 'sometimes' (one of nxdomain, error, referral, any, rrsig, wildcard, nodata, dnskey, positive, all)"]
    );
    // nsd.conf's rrl-* reach the server's configuration, the whitelist included.
    let conf = read(
        "server:\n rrl-ratelimit: 50\n rrl-slip: 3\n rrl-ipv4-prefix-length: 16\n rrl-size: 999\n\
         zone:\n name: a.test\n zonefile: a\n rrl-whitelist: positive\n",
    );
    let (config, _) = dermaga_dns::DnsConfig::from_nsd_conf(&conf).unwrap();
    let r = config.server.rate_limit.expect("rate limiting on");
    assert_eq!(
        (
            r.ratelimit,
            r.slip,
            r.ipv4_prefix_length,
            r.ipv6_prefix_length,
            r.size
        ),
        (50, 3, 16, 64, 999)
    );
    assert!(!r.whitelist.is_empty());
    // A table past dermaga's cap is named in a note, not silently cut.
    let conf = read("server:\n rrl-size: 300000000\n");
    let (_, notes) = dermaga_dns::DnsConfig::from_nsd_conf(&conf).unwrap();
    assert!(
        notes.iter().any(|n| n.starts_with("rrl-size: 300000000:")),
        "{notes:?}"
    );
}
