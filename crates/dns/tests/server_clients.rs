//! The server on real sockets, asked by real clients: `dig` and `kdig` over UDP and TCP.

mod common;

use common::{dig, flags, kdig, status, TempDir};
use dermaga_dns::{DnsConfig, ZoneSource};

const ZONE: &str = "\
$ORIGIN example.com.
$TTL 3600
@       IN SOA ns1 hostmaster 2024010101 7200 3600 1209600 300
@       NS ns1
@       MX 10 mail
ns1     A 192.0.2.53
mail    A 192.0.2.25
www     CNAME mail
*.wild  A 192.0.2.99
sub     NS ns.sub
ns.sub  A 192.0.2.54
big     TXT \"0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\"
big     TXT \"1123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\"
big     TXT \"2123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\"
big     TXT \"3123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\"
big     TXT \"4123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\"
big     TXT \"5123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\"
";

fn serve(dir: &TempDir) -> (dermaga_dns::DnsServer, u16) {
    let file = dir.write("example.com.zone", ZONE);
    let mut config = DnsConfig::default();
    config.server.listen.push("127.0.0.1:0".parse().unwrap());
    config.server.udp_workers = 2;
    config.zones.push(ZoneSource::file(file));
    let server = dermaga_dns::start(config).expect("server starts");
    let port = server.local_addrs()[0].port();
    (server, port)
}

#[test]
fn dig_and_kdig_over_udp_and_tcp() {
    let dir = TempDir::new("clients");
    let (server, port) = serve(&dir);
    for tcp in [false, true] {
        let t = if tcp { "+tcp" } else { "+notcp" };
        let out = dig(port, &[t, "www.Example.com", "A"]);
        assert_eq!(status(&out), "NOERROR", "{out}");
        assert!(flags(&out).contains(&"aa".to_string()), "{out}");
        assert!(!flags(&out).contains(&"ra".to_string()), "{out}");
        // Names compress against the question, so they come back in its case.
        let lower = out.to_ascii_lowercase();
        assert!(out.contains("www.Example.com.\t3600\tIN\tCNAME\t"), "{out}");
        assert!(
            lower.contains("www.example.com.\t3600\tin\tcname\tmail.example.com."),
            "{out}"
        );
        assert!(
            lower.contains("mail.example.com.\t3600\tin\ta\t192.0.2.25"),
            "{out}"
        );
        let out = kdig(port, &[t, "nope.example.com", "A"]);
        assert_eq!(status(&out), "NXDOMAIN", "{out}");
        assert!(out.contains("SOA"), "{out}");
        let out = kdig(port, &[t, "a.wild.example.com", "A"]);
        assert!(out.contains("192.0.2.99"), "{out}");
    }
    // A referral: no AA, NS in authority, glue in additional.
    let out = dig(port, &["host.sub.example.com", "A"]);
    assert!(!flags(&out).contains(&"aa".to_string()), "{out}");
    assert!(
        out.contains("ns.sub.example.com.\t3600\tIN\tA\t192.0.2.54"),
        "{out}"
    );
    // Outside the zones: REFUSED.
    assert_eq!(status(&dig(port, &["example.org", "A"])), "REFUSED");
    server.stop();
}

#[test]
fn truncation_then_tcp_retry() {
    let dir = TempDir::new("tc");
    let (server, port) = serve(&dir);
    // Without EDNS the 6 TXT records do not fit 512 octets: TC, empty answer.
    let out = dig(port, &["+noedns", "+ignore", "big.example.com", "TXT"]);
    assert!(flags(&out).contains(&"tc".to_string()), "{out}");
    assert!(out.contains("ANSWER: 0"), "{out}");
    // dig's own retry over TCP gets them all.
    let out = dig(port, &["+noedns", "big.example.com", "TXT"]);
    assert!(out.contains("ANSWER: 6"), "{out}");
    // EDNS with 1232 octets: fits over UDP.
    let out = kdig(port, &["+bufsize=1232", "+notcp", "big.example.com", "TXT"]);
    assert!(!flags(&out).contains(&"tc".to_string()), "{out}");
    server.stop();
}

#[test]
fn edns_probes() {
    let dir = TempDir::new("edns");
    let (server, port) = serve(&dir);
    let out = dig(
        port,
        &["+edns=1", "+noednsnegotiation", "example.com", "SOA"],
    );
    assert_eq!(status(&out), "BADVERS", "{out}");
    let out = dig(port, &["+dnssec", "example.com", "SOA"]);
    assert!(out.contains("flags: do;"), "{out}");
    let out = dig(port, &["+ednsopt=100:abcd", "example.com", "SOA"]);
    assert!(!out.contains("OPT=100"), "unknown option echoed: {out}");
    server.stop();
}

#[test]
fn several_queries_on_one_tcp_connection() {
    let dir = TempDir::new("keepopen");
    let (server, port) = serve(&dir);
    let out = kdig(
        port,
        &[
            "+tcp",
            "+keepopen",
            "mail.example.com",
            "A",
            "ns1.example.com",
            "A",
            "example.com",
            "MX",
        ],
    );
    assert!(
        out.contains("192.0.2.25") && out.contains("192.0.2.53") && out.contains("MX"),
        "{out}"
    );
    server.stop();
}

#[test]
fn idle_tcp_connections_are_closed() {
    use std::io::Read;
    let dir = TempDir::new("idle");
    let file = dir.write("example.com.zone", ZONE);
    let mut config = DnsConfig::default();
    config.server.listen.push("127.0.0.1:0".parse().unwrap());
    config.server.udp_workers = 1;
    config.server.tcp_idle = std::time::Duration::from_millis(300);
    config.zones.push(ZoneSource::file(file));
    let server = dermaga_dns::start(config).expect("server starts");
    let mut s = std::net::TcpStream::connect(server.local_addrs()[0]).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 16];
    // The server closes the silent connection: EOF, not the read timeout.
    assert_eq!(s.read(&mut buf).expect("closed, not timed out"), 0);
    server.stop();
}

/// A query for `name` (dotted, absolute) of type `qtype` with ID `id`, no EDNS.
fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut m = id.to_be_bytes().to_vec();
    m.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        m.push(label.len() as u8);
        m.extend_from_slice(label.as_bytes());
    }
    m.push(0);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&[0, 1]);
    m
}

#[test]
fn a_burst_from_one_client_gets_every_answer_as_a_datagram_of_its_own() {
    // Equal-size answers to one client in one batch leave the server as one UDP GSO send; the
    // client must still read them one datagram each, whole, each with its own ID.
    burst("127.0.0.1:0", [127, 0, 0, 1]);
}

#[test]
fn a_server_on_a_wildcard_address_answers_from_the_address_asked() {
    // Bound to 0.0.0.0, asked at 127.0.0.2 by a client on 127.0.0.1: the kernel's route would
    // pick 127.0.0.1 as the source, and dig drops an answer from an address it did not ask.
    let dir = TempDir::new("wildcard");
    let file = dir.write("example.com.zone", ZONE);
    let mut config = DnsConfig::default();
    config.server.listen.push("0.0.0.0:0".parse().unwrap());
    config.server.udp_workers = 1;
    config.zones.push(ZoneSource::file(file));
    let server = dermaga_dns::start(config).expect("server starts");
    let port = server.local_addrs()[0].port().to_string();
    for ip in ["@127.0.0.2", "@127.0.0.3"] {
        let out = common::run(
            "dig",
            &[
                ip,
                "-p",
                &port,
                "+time=2",
                "+tries=1",
                "mail.example.com",
                "A",
            ],
        );
        assert_eq!(status(&out), "NOERROR", "{ip}: {out}");
        assert!(out.contains("192.0.2.25"), "{ip}: {out}");
    }
    server.stop();
    // And a burst (GSO sends) to a wildcard-bound server carries the source address too.
    burst("0.0.0.0:0", [127, 0, 0, 2]);
}

/// Serves ZONE on `listen`, sends a burst of queries to `ask` at its port from one client
/// socket on 127.0.0.1, and checks every answer arrives alone, whole and from `ask`.
fn burst(listen: &str, ask: [u8; 4]) {
    let dir = TempDir::new("burst");
    let file = dir.write("example.com.zone", ZONE);
    let mut config = DnsConfig::default();
    config.server.listen.push(listen.parse().unwrap());
    config.server.udp_workers = 1;
    config.zones.push(ZoneSource::file(file));
    let server = dermaga_dns::start(config).expect("server starts");
    let addr = std::net::SocketAddr::from((ask, server.local_addrs()[0].port()));
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
    sock.set_recv_buffer_size(4 << 20).unwrap();
    sock.bind(
        &"127.0.0.1:0"
            .parse::<std::net::SocketAddr>()
            .unwrap()
            .into(),
    )
    .unwrap();
    let sock: std::net::UdpSocket = sock.into();
    sock.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    // The answers one at a time first: what each of the burst's must equal but for the ID.
    let single = |q: &[u8]| {
        sock.send_to(q, addr).unwrap();
        let mut buf = [0u8; 4096];
        let (n, from) = sock.recv_from(&mut buf).expect("an answer");
        assert_eq!(from, addr, "the answer's source");
        buf[..n].to_vec()
    };
    let aaaa = single(&query(1, "aaaa.wild.example.com", 1));
    let bbbb = single(&query(2, "bbbb.wild.example.com", 1));
    let big = single(&query(3, "big.example.com", 16));
    assert_eq!(aaaa.len(), bbbb.len(), "two answers of one size");
    assert_ne!(big.len(), aaaa.len(), "and one of another size");
    // Few enough to fit the default socket buffers (rmem_default 212,992) whole.
    const BURST: u16 = 120;
    for id in 0..BURST {
        let q = match id % 3 {
            0 => query(id, "aaaa.wild.example.com", 1),
            1 => query(id, "bbbb.wild.example.com", 1),
            _ => query(id, "big.example.com", 16),
        };
        sock.send_to(&q, addr).unwrap();
    }
    let mut seen = vec![false; BURST as usize];
    let mut buf = [0u8; 65536];
    for _ in 0..BURST {
        let (n, from) = sock
            .recv_from(&mut buf)
            .expect("every answer of the burst arrives");
        assert_eq!(from, addr, "the answer's source");
        let id = u16::from_be_bytes([buf[0], buf[1]]);
        assert!(
            id < BURST && !seen[id as usize],
            "ID {id} answered twice or unasked"
        );
        seen[id as usize] = true;
        let want = match id % 3 {
            0 => &aaaa,
            1 => &bbbb,
            _ => &big,
        };
        assert_eq!(&buf[2..n], &want[2..], "answer to ID {id}");
    }
    server.stop();
}
