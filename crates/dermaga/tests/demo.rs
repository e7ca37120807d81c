//! The README's first command: `dermaga demo` serves what it prints, on loopback.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Kills the demo when the test ends, however it ends.
struct Demo(Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A base port whose next three neighbours are reserved too (the demo's example servers).
fn free_port_block() -> u16 {
    dermaga_test_ports::block(4)
}

use dermaga_test_ports::port as free_udp_port;

fn http_get(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the demo balancer");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: demo\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).expect("a response");
    out
}

#[test]
fn demo_balances_across_three_servers_and_answers_dns() {
    // Ports are picked free, then bound by the demo: another test may take one in between,
    // in which case the demo exits without its banner and is started again on new ports.
    let mut attempt = 0;
    let (http, dns, _demo, lines) = loop {
        attempt += 1;
        let http = free_port_block();
        let dns = free_udp_port();
        let mut child = Command::new(env!("CARGO_BIN_EXE_dermaga"))
            .args(["demo", "--http-port", &http.to_string()])
            .args(["--dns-port", &dns.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start dermaga demo");
        let stdout = child.stdout.take().expect("piped stdout");
        let demo = Demo(child);
        // The demo prints its "what to try" text once every server listens.
        let mut lines = BufReader::new(stdout).lines();
        match lines.next() {
            Some(Ok(first)) => {
                assert!(first.contains("dermaga demo is running"), "got: {first}");
                break (http, dns, demo, lines);
            }
            _ if attempt < 5 => continue,
            _ => panic!("the demo did not start in {attempt} attempts (see its stderr above)"),
        }
    };
    let text: Vec<String> = lines.take(8).map_while(Result::ok).collect();
    assert!(
        text.iter()
            .any(|l| l.contains(&format!("127.0.0.1:{http}"))),
        "the printed text names the balancer's address: {text:?}"
    );

    // One worker thread: strict rotation, app1, app2, app3, app1, ...
    let mut seen = Vec::new();
    for _ in 0..6 {
        let resp = http_get(http, "/");
        assert!(resp.starts_with("HTTP/1.1 200"), "got: {resp}");
        let body = resp
            .rsplit("\r\n\r\n")
            .next()
            .unwrap_or("")
            .trim()
            .to_string();
        seen.push(body);
    }
    let first = seen[0].clone();
    let start = ["hello from app1", "hello from app2", "hello from app3"]
        .iter()
        .position(|s| *s == first)
        .unwrap_or_else(|| panic!("unexpected answer {first:?}"));
    let expected: Vec<String> = (0..6)
        .map(|i| format!("hello from app{}", (start + i) % 3 + 1))
        .collect();
    assert_eq!(
        seen, expected,
        "round robin rotates through the example servers"
    );

    // DNS: an A query for the zone apex over UDP, built by hand so that no client library
    // stands between the test and the server.
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut query = vec![0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in ["demo", "example"] {
        query.push(label.len() as u8);
        query.extend_from_slice(label.as_bytes());
    }
    query.extend_from_slice(&[0, 0, 1, 0, 1]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 512];
    let n = loop {
        sock.send_to(&query, ("127.0.0.1", dns)).unwrap();
        match sock.recv(&mut buf) {
            Ok(n) => break n,
            Err(_) if Instant::now() < deadline => continue,
            Err(e) => panic!("no DNS answer from the demo: {e}"),
        }
    };
    let resp = &buf[..n];
    assert_eq!(
        &resp[..2],
        &[0x12, 0x34],
        "the answer carries the query's id"
    );
    assert_eq!(resp[3] & 0x0f, 0, "rcode NOERROR");
    assert_ne!(resp[2] & 0x04, 0, "authoritative answer");
    assert_eq!(
        u16::from_be_bytes([resp[6], resp[7]]),
        1,
        "one answer record"
    );
    assert_eq!(&resp[n - 4..], &[127, 0, 0, 1], "demo.example. A 127.0.0.1");
}
