//! TCP mode on loopback: forwarding (splice), balancing, SNI routing with inspect-delay.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

use support::*;

fn hello(sock: &mut BufReader<TcpStream>) -> String {
    let mut l = String::new();
    sock.read_line(&mut l).unwrap();
    l.trim().to_string()
}

#[test]
fn tcp_forwarding_roundrobin_and_bulk() {
    let (a, b) = (TcpBackend::start("t1"), TcpBackend::start("t2"));
    let p = start_proxy(&format!(
        "defaults\n mode tcp\n timeout connect 2s\n timeout client 5s\n timeout server 5s\n\
listen fe\n bind 127.0.0.1:0\n balance roundrobin\n server t1 {}\n server t2 {}\n",
        a.addr, b.addr
    ));
    let addr = p.local_addrs("fe")[0];
    let mut names = Vec::new();
    for _ in 0..4 {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let mut r = BufReader::new(s);
        names.push(hello(&mut r));
    }
    assert_eq!(names, ["t1", "t2", "t1", "t2"]);
    // 4 MiB through the proxy and back
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    let _ = hello(&mut r);
    let data: Vec<u8> = (0..4 << 20).map(|i| (i % 251) as u8).collect();
    let d2 = data.clone();
    let writer = std::thread::spawn(move || {
        w.write_all(&d2).unwrap();
        w.shutdown(std::net::Shutdown::Write).unwrap();
    });
    let mut back = Vec::new();
    r.read_to_end(&mut back).unwrap();
    writer.join().unwrap();
    assert_eq!(back.len(), data.len());
    assert!(back == data);
    p.stop();
    p.wait();
}

fn client_hello(name: &str) -> Vec<u8> {
    let n = name.as_bytes();
    let list_len = 3 + n.len();
    let mut ext = vec![0, 0];
    ext.extend_from_slice(&((list_len + 2) as u16).to_be_bytes());
    ext.extend_from_slice(&(list_len as u16).to_be_bytes());
    ext.push(0);
    ext.extend_from_slice(&(n.len() as u16).to_be_bytes());
    ext.extend_from_slice(n);
    let mut body = vec![3, 3];
    body.extend_from_slice(&[0u8; 32]);
    body.push(0);
    body.extend_from_slice(&[0, 2, 0x13, 0x01, 1, 0]);
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    let mut hs = vec![1];
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    let mut rec = vec![0x16, 3, 1];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

#[test]
fn sni_routing_with_inspect_delay() {
    let (a, b) = (TcpBackend::start("a"), TcpBackend::start("b"));
    let p = start_proxy(&format!(
        "defaults\n mode tcp\n timeout connect 2s\n timeout client 5s\n timeout server 5s\n\
frontend fe\n bind 127.0.0.1:0\n tcp-request inspect-delay 2s\n tcp-request content accept if {{ req.ssl_hello_type 1 }}\n\
 use_backend be_b if {{ req.ssl_sni -i b.example.com }}\n default_backend be_a\n\
backend be_a\n server a {}\nbackend be_b\n server b {}\n",
        a.addr, b.addr
    ));
    let addr = p.local_addrs("fe")[0];
    for (sni, want) in [("b.example.com", "b"), ("other.example.com", "a")] {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        s.write_all(&client_hello(sni)).unwrap();
        let mut r = BufReader::new(s);
        assert_eq!(hello(&mut r), want);
    }
    p.stop();
    p.wait();
}
