//! Idle keep-alive client connections: after a short idle spell they leave their session
//! task for the worker's parking lot; their next request wakes them, their keep-alive timeout
//! closes them, and so does a stop.

mod support;

use std::time::Duration;

use support::*;

/// Longer than the hot wait before parking (50 ms), so the connections below are parked.
const IDLE_SPELL: Duration = Duration::from_millis(200);

const DEFAULTS: &str =
    "defaults\n mode http\n timeout connect 1s\n timeout client 30s\n timeout server 5s\n";

#[test]
fn parked_connections_serve_their_next_requests() {
    let a = HttpBackend::start("s1");
    let p = start_proxy(&format!(
        "{DEFAULTS}frontend fe\n bind 127.0.0.1:0\n default_backend be\nbackend be\n server s1 {}\n",
        a.addr
    ));
    let f = p.local_addrs("fe")[0];
    let mut clients: Vec<Client> = (0..200).map(|_| Client::connect(f)).collect();
    for round in 0..3 {
        for (i, c) in clients.iter_mut().enumerate() {
            let r = c
                .get(&format!("/r{round}/c{i}"))
                .unwrap_or_else(|| panic!("round {round}, client {i}: no answer"));
            assert_eq!((r.status, r.server()), (200, "s1".to_string()));
        }
        // Everyone idles: the connections park, and the next round wakes them.
        std::thread::sleep(IDLE_SPELL);
    }
    // Pipelined requests arriving at once on a parked connection are all answered.
    clients[0].send(b"GET /a HTTP/1.1\r\nHost: t\r\n\r\nGET /b HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(clients[0].read(false).map(|r| r.status), Some(200));
    assert_eq!(clients[0].read(false).map(|r| r.status), Some(200));
    p.stop();
    p.wait();
}

#[test]
fn keep_alive_timeout_closes_a_parked_connection() {
    let a = HttpBackend::start("s1");
    let p = start_proxy(&format!(
        "{DEFAULTS} timeout http-keep-alive 300ms\nfrontend fe\n bind 127.0.0.1:0\n default_backend be\nbackend be\n server s1 {}\n",
        a.addr
    ));
    let f = p.local_addrs("fe")[0];
    let mut c = Client::connect(f);
    assert_eq!(c.get("/").map(|r| r.status), Some(200));
    // `timeout client` (30 s) is far beyond the client's 10 s read timeout: only the
    // keep-alive timeout of the parked connection can close it in time.
    assert!(
        c.closed(),
        "the idle connection is closed after timeout http-keep-alive"
    );
    p.stop();
    p.wait();
}

#[test]
fn soft_stop_closes_parked_connections() {
    let a = HttpBackend::start("s1");
    let p = start_proxy(&format!(
        "{DEFAULTS}frontend fe\n bind 127.0.0.1:0\n default_backend be\nbackend be\n server s1 {}\n",
        a.addr
    ));
    let f = p.local_addrs("fe")[0];
    let mut clients: Vec<Client> = (0..20).map(|_| Client::connect(f)).collect();
    for c in &mut clients {
        assert_eq!(c.get("/").map(|r| r.status), Some(200));
    }
    std::thread::sleep(IDLE_SPELL);
    p.soft_stop();
    for (i, c) in clients.iter_mut().enumerate() {
        assert!(c.closed(), "client {i} is closed by the soft stop");
    }
    // With its idle clients gone, the proxy finishes.
    p.wait();
}

/// Idle server connections belong to a server's address: a server added at run time in place
/// of a removed one (which may take its id) never gets the removed one's connections.
#[test]
fn a_replacement_server_does_not_inherit_idle_server_connections() {
    let old = HttpBackend::start("old");
    let new = HttpBackend::start("new");
    let p = start_proxy(&format!(
        "{DEFAULTS}frontend fe\n bind 127.0.0.1:0\n default_backend be\nbackend be\n server s1 {}\n",
        old.addr
    ));
    let f = p.local_addrs("fe")[0];
    assert_eq!(get(f, "/").map(|r| r.server()), Some("old".to_string()));
    let h = p.handle();
    h.remove_server("be", "s1").unwrap();
    h.add_server("be", "s1", new.addr, 1).unwrap();
    for _ in 0..3 {
        assert_eq!(get(f, "/").map(|r| r.server()), Some("new".to_string()));
    }
    p.stop();
    p.wait();
}
