//! `dermaga dns -c nsd.conf`: an NSD configuration becomes a running server.

mod common;

use common::{dig, status, TempDir};
use dermaga_dns::DnsConfig;

#[test]
fn an_nsd_conf_serves_its_zones_with_its_transfer_rules() {
    let dir = TempDir::new("nsdconf-serve");
    dir.write(
        "example.org.zone",
        "$ORIGIN example.org.\n$TTL 300\n@ IN SOA ns1 hm 5 60 30 600 60\n@ NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.2\n",
    );
    // A port no other test process takes meanwhile (a port-0 probe can be handed out again
    // before the server binds it, for TCP as well as UDP).
    let port = dermaga_test_ports::port();
    let secret = "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=";
    let conf = dir.write(
        "nsd.conf",
        &format!(
            "server:\n  ip-address: 127.0.0.1\n  port: {port}\n  zonesdir: \"{d}\"\n  pidfile: \"{d}/nsd.pid\"\n  \
             server-count: 2\n  minimal-responses: yes\n  rrl-ratelimit: 0\n\
             key:\n  name: xfr-key\n  algorithm: hmac-sha256\n  secret: \"{secret}\"\n\
             pattern:\n  name: secondaries\n  provide-xfr: 127.0.0.1 xfr-key\n  notify: 127.0.0.1@9 xfr-key\n\
             zone:\n  name: example.org\n  zonefile: \"%s.zone\"\n  include-pattern: secondaries\n",
            d = dir.path().display()
        ),
    );
    let nsd = dermaga_dns::nsdconf::load_nsd_conf(&conf).expect("nsd.conf reads");
    let (config, notes) = DnsConfig::from_nsd_conf(&nsd).expect("translates");
    assert!(notes.is_empty(), "{notes:?}");
    assert_eq!(
        config.server.listen,
        vec![format!("127.0.0.1:{port}").parse().unwrap()]
    );
    assert_eq!(config.server.udp_workers, 2);
    assert_eq!(config.zones.len(), 1);
    assert_eq!(config.zones[0].transfer.notify.len(), 1);
    let server = dermaga_dns::start(config).expect("serves");
    assert!(dir.path().join("nsd.pid").exists(), "pid file written");
    let out = dig(port, &["www.example.org", "A"]);
    assert_eq!(status(&out), "NOERROR", "{out}");
    assert!(out.contains("192.0.2.2"), "{out}");
    // provide-xfr with the key: AXFR signed with it works, unsigned does not.
    let p = port.to_string();
    let y = format!("hmac-sha256:xfr-key:{secret}");
    let out = common::run(
        "dig",
        &[
            "@127.0.0.1",
            "-p",
            &p,
            "+time=2",
            "+tries=1",
            "-y",
            &y,
            "example.org",
            "AXFR",
        ],
    );
    assert_eq!(
        out.lines().filter(|l| l.contains("\tSOA\t")).count(),
        2,
        "{out}"
    );
    let out = common::run(
        "dig",
        &[
            "@127.0.0.1",
            "-p",
            &p,
            "+time=2",
            "+tries=1",
            "example.org",
            "AXFR",
        ],
    );
    assert!(!out.contains("www.example.org."), "{out}");
    server.stop();
    assert!(!dir.path().join("nsd.pid").exists(), "pid file removed");
}
