//! dermaga as a primary for real secondaries: Knot (with TSIG) and NSD (without) transfer a
//! zone from dermaga, and follow a change made through the handle after dermaga's NOTIFY.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use common::{program, TempDir};
use dermaga_dns::{DnsConfig, NotifyTarget, TransferAcl, TsigKey, ZoneSource};

const ZONE: &str = "\
$ORIGIN xfr.test.
$TTL 300
@       IN SOA ns1 hostmaster 100 60 30 600 60
@       NS ns1
ns1     A 192.0.2.53
www     A 192.0.2.80
*.wild  TXT \"wild\"
";

const SECRET: &str = "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=";

use dermaga_test_ports::port as free_port;

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The A records a server has for `name`, asked with dig (empty on any failure).
fn a_records(port: u16, name: &str) -> String {
    let out = Command::new(program("dig"))
        .args([
            "@127.0.0.1",
            "-p",
            &port.to_string(),
            "+norec",
            "+short",
            "+time=1",
            "+tries=1",
            name,
            "A",
        ])
        .output();
    out.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn serial(port: u16) -> String {
    let out = Command::new(program("dig"))
        .args([
            "@127.0.0.1",
            "-p",
            &port.to_string(),
            "+norec",
            "+short",
            "+time=1",
            "+tries=1",
            "xfr.test",
            "SOA",
        ])
        .output();
    out.map(|o| {
        String::from_utf8_lossy(&o.stdout)
            .split_whitespace()
            .nth(2)
            .unwrap_or("")
            .to_string()
    })
    .unwrap_or_default()
}

fn primary(dir: &Path, secondary_port: u16, key: Option<Arc<TsigKey>>) -> dermaga_dns::DnsServer {
    let file = dir.join("primary.zone");
    std::fs::write(&file, ZONE).unwrap();
    let mut config = DnsConfig::default();
    config.server.listen.push("127.0.0.1:0".parse().unwrap());
    config.server.udp_workers = 1;
    let mut src = ZoneSource::file(file);
    src.transfer
        .allow
        .push(TransferAcl::parse("127.0.0.0/8", key.clone()).unwrap());
    src.transfer.notify.push(NotifyTarget {
        addr: ([127, 0, 0, 1], secondary_port).into(),
        key,
    });
    config.zones.push(src);
    dermaga_dns::start(config).expect("primary starts")
}

fn follow_a_change(server: &dermaga_dns::DnsServer, sec_port: u16, log: &Path) {
    let log_text = || std::fs::read_to_string(log).unwrap_or_default();
    common::wait_until(
        &format!("the secondary to transfer (log: {})", log.display()),
        60,
        || a_records(sec_port, "www.xfr.test") == "192.0.2.80",
    );
    assert_eq!(serial(sec_port), "100", "{}", log_text());
    let origin = dermaga_dns::parse_name("xfr.test").unwrap();
    let recs = dermaga_dns::parse_records("new 300 IN A 192.0.2.201", &origin).unwrap();
    let handle = server.handle();
    let new_serial = handle.add_record(recs.into_iter().next().unwrap()).unwrap();
    assert_eq!(new_serial, 101);
    common::wait_until(
        &format!(
            "the secondary to follow the NOTIFY (log: {})",
            log.display()
        ),
        60,
        || a_records(sec_port, "new.xfr.test") == "192.0.2.201",
    );
    assert_eq!(serial(sec_port), "101");
}

#[test]
fn knot_secondary_with_tsig_follows_notify() {
    let dir = TempDir::new("xfr-knot");
    let key = Arc::new(TsigKey::new("xfr-key", "hmac-sha256", SECRET).unwrap());
    let sec_port = free_port();
    let server = primary(dir.path(), sec_port, Some(key));
    let prim_port = server.local_addrs()[0].port();
    let d = dir.path().display();
    let conf = format!(
        "server:\n  rundir: \"{d}\"\n  listen: 127.0.0.1@{sec_port}\n  udp-workers: 1\n  tcp-workers: 1\n  background-workers: 1\n\
         log:\n  - target: stderr\n    any: info\n\
         database:\n  storage: \"{d}\"\n\
         key:\n  - id: xfr-key\n    algorithm: hmac-sha256\n    secret: {SECRET}\n\
         remote:\n  - id: primary\n    address: 127.0.0.1@{prim_port}\n    key: xfr-key\n\
         acl:\n  - id: notify\n    address: 127.0.0.1\n    key: xfr-key\n    action: notify\n\
         template:\n  - id: default\n    storage: \"{d}\"\n    journal-content: none\n    zonefile-sync: -1\n\
         zone:\n  - domain: xfr.test\n    master: primary\n    acl: notify\n    file: \"{d}/secondary.zone\"\n"
    );
    std::fs::write(dir.path().join("knot.conf"), conf).unwrap();
    let log = dir.path().join("knot.log");
    let _knot = Kill(
        Command::new(program("knotd"))
            .arg("-c")
            .arg(dir.path().join("knot.conf"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("knotd starts"),
    );
    follow_a_change(&server, sec_port, &log);
    server.stop();
}

#[test]
fn nsd_secondary_without_tsig_follows_notify() {
    let dir = TempDir::new("xfr-nsd");
    let sec_port = free_port();
    let server = primary(dir.path(), sec_port, None);
    let prim_port = server.local_addrs()[0].port();
    let d = dir.path().display();
    let conf = format!(
        "server:\n  ip-address: 127.0.0.1@{sec_port}\n  port: {sec_port}\n  username: \"\"\n  chroot: \"\"\n  zonesdir: \"{d}\"\n  \
         pidfile: \"{d}/nsd.pid\"\n  database: \"\"\n  xfrdfile: \"{d}/xfrd.state\"\n  zonelistfile: \"{d}/zone.list\"\n  \
         xfrdir: \"{d}\"\n  logfile: \"{d}/nsd.log\"\n  rrl-ratelimit: 0\n  server-count: 1\n  verbosity: 2\n\
         remote-control:\n  control-enable: no\n\
         zone:\n  name: xfr.test\n  zonefile: \"{d}/secondary.zone\"\n  request-xfr: AXFR 127.0.0.1@{prim_port} NOKEY\n  \
         allow-notify: 127.0.0.1 NOKEY\n"
    );
    std::fs::write(dir.path().join("nsd.conf"), conf).unwrap();
    let _nsd = Kill(
        Command::new(program("nsd"))
            .args(["-d", "-c"])
            .arg(dir.path().join("nsd.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nsd starts"),
    );
    follow_a_change(&server, sec_port, &dir.path().join("nsd.log"));
    server.stop();
}

#[test]
fn transfers_are_refused_outside_the_allow_list_and_without_the_key() {
    let dir = TempDir::new("xfr-acl");
    let key = Arc::new(TsigKey::new("xfr-key", "hmac-sha256", SECRET).unwrap());
    let server = primary(dir.path(), free_port(), Some(key));
    let port = server.local_addrs()[0].port().to_string();
    // No key: refused.
    let out = common::run(
        "dig",
        &[
            "@127.0.0.1",
            "-p",
            &port,
            "+time=2",
            "+tries=1",
            "xfr.test",
            "AXFR",
        ],
    );
    assert!(
        out.contains("Transfer failed") || out.contains("REFUSED"),
        "{out}"
    );
    // The right key: the whole zone, SOA first and last.
    let y = format!("hmac-sha256:xfr-key:{SECRET}");
    let out = common::run(
        "dig",
        &[
            "@127.0.0.1",
            "-p",
            &port,
            "+time=2",
            "+tries=1",
            "-y",
            &y,
            "xfr.test",
            "AXFR",
        ],
    );
    let soas = out.lines().filter(|l| l.contains("\tSOA\t")).count();
    assert_eq!(soas, 2, "{out}");
    assert!(
        out.contains("www.xfr.test.") && out.contains("*.wild.xfr.test."),
        "{out}"
    );
    assert!(!out.contains("failed"), "{out}");
    // A wrong key: refused.
    let bad = "hmac-sha256:xfr-key:b3RoZXJvdGhlcm90aGVyb3RoZXI=";
    let out = common::run(
        "dig",
        &[
            "@127.0.0.1",
            "-p",
            &port,
            "+time=2",
            "+tries=1",
            "-y",
            bad,
            "xfr.test",
            "AXFR",
        ],
    );
    assert!(!out.contains("www.xfr.test."), "{out}");
    server.stop();
}
