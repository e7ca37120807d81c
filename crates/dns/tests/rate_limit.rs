//! Response rate limiting against real clients: dnsperf floods at a bounded rate, dig looks
//! at the truncated "slip" answers. Only counts are asserted, never timings: a flow is
//! limited per second, so a flood of many times the limit must lose some answers however the
//! machine schedules it, and a flow of fewer queries than the limit can lose none.

mod common;

use std::process::{Child, Command, Stdio};

use common::{dig, flags, program, run, wait_until, TempDir};
use dermaga_dns::{DnsConfig, RateLimit, ZoneSource};

const ZONE: &str = "\
$ORIGIN example.com.
$TTL 3600
@       IN SOA ns1 hostmaster 2024010101 7200 3600 1209600 300
@       NS ns1
ns1     A 192.0.2.53
www     A 192.0.2.80
mail    A 192.0.2.25
web     A 192.0.2.81
";

fn serve(dir: &TempDir, ratelimit: u32, slip: u32) -> (dermaga_dns::DnsServer, u16) {
    let file = dir.write("example.com.zone", ZONE);
    let mut config = DnsConfig::default();
    config.server.listen.push("127.0.0.1:0".parse().unwrap());
    config.server.udp_workers = 1;
    config.server.rate_limit = Some(RateLimit {
        ratelimit,
        slip,
        size: 4096,
        ..RateLimit::nsd_defaults()
    });
    config.zones.push(ZoneSource::file(file));
    let server = dermaga_dns::start(config).expect("server starts");
    let port = server.local_addrs()[0].port();
    (server, port)
}

/// dnsperf sends `count` queries for `query` ("NAME TYPE") at most `rate` per second, waiting
/// at most one second for each answer; returns (completed, lost).
fn dnsperf(dir: &TempDir, port: u16, query: &str, count: u32, rate: u32) -> (u64, u64) {
    let file = dir.write(
        &format!("q-{}", query.replace(' ', "-")),
        &format!("{query}\n"),
    );
    let out = std::process::Command::new(program("dnsperf"))
        .args(["-s", "127.0.0.1", "-p", &port.to_string(), "-d"])
        .arg(&file)
        .args([
            "-n",
            &count.to_string(),
            "-Q",
            &rate.to_string(),
            "-t",
            "1",
            "-c",
            "1",
        ])
        .output()
        .expect("dnsperf runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("dnsperf printed no {name:?}:\n{text}"))
    };
    let (sent, completed, lost) = (
        field("Queries sent:"),
        field("Queries completed:"),
        field("Queries lost:"),
    );
    assert_eq!(sent, count as u64, "{text}");
    (completed, lost)
}

#[test]
fn a_flood_over_the_limit_loses_answers_and_a_flow_under_it_none() {
    let dir = TempDir::new("rrl-drop");
    let (server, port) = serve(&dir, 20, 2);
    // 600 queries for one name from one client, 30 times the limit per second.
    let (completed, lost) = dnsperf(&dir, port, "www.example.com A", 600, 3000);
    assert!(lost > 0, "no answer was dropped: {completed} completed");
    assert!(
        completed >= 20,
        "even the limit was not answered: {completed}"
    );
    // Half of what is over the limit slips (TC answers count as completed for dnsperf).
    assert!(lost < 600 - 20, "nothing slipped: {lost} lost");
    // Another name is another flow: 15 queries, under the limit of 20, all answered.
    let (completed, lost) = dnsperf(&dir, port, "mail.example.com A", 15, 3000);
    assert_eq!((completed, lost), (15, 0));
    // And dig on a third name gets a full answer.
    let out = dig(port, &["+ignore", "+tries=1", "web.example.com", "A"]);
    assert!(!flags(&out).contains(&"tc".to_string()), "{out}");
    assert!(out.contains("192.0.2.81"), "{out}");
    server.stop();
}

#[test]
fn with_slip_1_every_answer_over_the_limit_is_truncated_and_none_lost() {
    let dir = TempDir::new("rrl-slip");
    let (server, port) = serve(&dir, 5, 1);
    let (completed, lost) = dnsperf(&dir, port, "www.example.com A", 1000, 5000);
    assert_eq!((completed, lost), (1000, 0));
    // The flow's average is now far over the limit and halves each second: it stays over
    // for several seconds, so dig's query right after the flood slips: TC, no records.
    let out = dig(port, &["+ignore", "+tries=1", "www.example.com", "A"]);
    assert!(flags(&out).contains(&"tc".to_string()), "{out}");
    assert!(out.contains("ANSWER: 0"), "{out}");
    server.stop();
}

#[test]
fn whitelisted_answers_get_the_whitelist_limit() {
    let dir = TempDir::new("rrl-white");
    let file = dir.write("example.com.zone", ZONE);
    let mut config = DnsConfig::default();
    config.server.listen.push("127.0.0.1:0".parse().unwrap());
    config.server.udp_workers = 1;
    let mut rrl = RateLimit {
        ratelimit: 5,
        slip: 0,
        whitelist_ratelimit: 0,
        size: 4096,
        ..RateLimit::nsd_defaults()
    };
    let zone = dermaga_dns::parse_name("example.com").unwrap();
    rrl.whitelist.add(&zone, "positive").unwrap();
    config.server.rate_limit = Some(rrl);
    config.zones.push(ZoneSource::file(file));
    let server = dermaga_dns::start(config).expect("server starts");
    let port = server.local_addrs()[0].port();
    // Positive answers in example.com are whitelisted, and the whitelist limit is 0 (none).
    assert_eq!(
        dnsperf(&dir, port, "www.example.com A", 300, 3000),
        (300, 0)
    );
    // NXDOMAIN is not: the ordinary limit of 5, no slip.
    let (completed, lost) = dnsperf(&dir, port, "nothere.example.com A", 300, 3000);
    assert!(
        lost > 0 && completed >= 5,
        "{completed} completed, {lost} lost"
    );
    server.stop();
}

#[test]
fn off_when_the_limit_is_0() {
    let dir = TempDir::new("rrl-off");
    let (server, port) = serve(&dir, 0, 2);
    let (completed, lost) = dnsperf(&dir, port, "www.example.com A", 600, 3000);
    assert_eq!((completed, lost), (600, 0));
    server.stop();
}

/// NSD on `port` with `rrl-ratelimit` and `rrl-slip` set, serving ZONE; killed when dropped.
struct Nsd(Child);

impl Drop for Nsd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

use dermaga_test_ports::port as free_port;

fn start_nsd(dir: &TempDir, ratelimit: u32, slip: u32) -> (Nsd, u16) {
    let port = free_port();
    let d = dir.path().display();
    let zone = dir.write("nsd-example.com.zone", ZONE);
    let conf = dir.write(
        "nsd.conf",
        &format!(
            "server:\n  ip-address: 127.0.0.1@{port}\n  port: {port}\n  username: \"\"\n  chroot: \"\"\n  \
             zonesdir: \"{d}\"\n  pidfile: \"{d}/nsd.pid\"\n  database: \"\"\n  xfrdfile: \"{d}/xfrd.state\"\n  \
             zonelistfile: \"{d}/zone.list\"\n  xfrdir: \"{d}\"\n  logfile: \"{d}/nsd.log\"\n  \
             minimal-responses: yes\n  server-count: 1\n  rrl-ratelimit: {ratelimit}\n  rrl-slip: {slip}\n\
             remote-control:\n  control-enable: no\n\
             zone:\n  name: example.com\n  zonefile: \"{}\"\n",
            zone.display()
        ),
    );
    let child = Command::new(program("nsd"))
        .args(["-d", "-c"])
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nsd starts");
    let nsd = Nsd(child);
    wait_until("nsd to answer", 20, || {
        let p = port.to_string();
        let out = Command::new(program("dig"))
            .args([
                "@127.0.0.1",
                "-p",
                &p,
                "+time=1",
                "+tries=1",
                "example.com",
                "SOA",
            ])
            .output();
        out.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("status: NOERROR"))
    });
    (nsd, port)
}

/// The parts of dig's output a slip answer is compared by: status, flags, section counts,
/// the EDNS line.
fn shape(out: &str) -> Vec<String> {
    out.lines()
        .filter(|l| l.contains("status:") || l.contains("flags:") || l.starts_with("; EDNS"))
        .map(|l| match l.find("status:") {
            Some(i) => l[i..].split(',').next().unwrap_or("").to_string(),
            None => l.to_string(),
        })
        .collect()
}

#[test]
fn slip_answers_look_like_nsds() {
    let dir = TempDir::new("rrl-nsd");
    let (nsd, nsd_port) = start_nsd(&dir, 5, 1);
    let (server, port) = serve(&dir, 5, 1);
    let mut shapes = Vec::new();
    for p in [nsd_port, port] {
        assert_eq!(dnsperf(&dir, p, "www.example.com A", 1000, 5000), (1000, 0));
        let mut both = Vec::new();
        for edns in ["+edns=0", "+noedns"] {
            let port = p.to_string();
            let out = run(
                "dig",
                &[
                    "@127.0.0.1",
                    "-p",
                    &port,
                    "+ignore",
                    "+tries=1",
                    "+time=2",
                    edns,
                    "www.example.com",
                    "A",
                ],
            );
            assert!(flags(&out).contains(&"tc".to_string()), "{out}");
            both.push(shape(&out));
        }
        shapes.push(both);
    }
    // Status, flags and counts, and with EDNS its line: NSD keeps OPT in a slip answer.
    assert_eq!(
        (shapes[0][0].len(), shapes[0][1].len()),
        (3, 2),
        "{:?}",
        shapes[0]
    );
    assert_eq!(shapes[1], shapes[0], "dermaga's slip answers, then NSD's");
    drop(nsd);
    server.stop();
}
