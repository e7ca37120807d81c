//! Health checks, server states, backups, queueing, the stats socket and the runtime handle.

mod support;

use std::time::Duration;

use dermaga_proxy::AdminState;
use support::*;

#[test]
fn failing_checks_take_a_server_out_and_back_in() {
    let a = HttpBackend::start("s1");
    let port = free_port();
    let p = start_proxy(&format!(
        "defaults\n mode http\n timeout connect 500ms\n timeout client 5s\n timeout server 5s\n\
frontend fe\n bind 127.0.0.1:0\n default_backend be\n\
backend be\n option httpchk GET /health\n default-server inter 50ms rise 2 fall 2\n server s1 {} check\n server s2 127.0.0.1:{port} check\n",
        a.addr
    ));
    let h = p.handle();
    assert!(
        eventually(5, || h.server_states("be").unwrap()[1].1 == "DOWN"),
        "{:?}",
        h.server_states("be")
    );
    assert_eq!(h.server_states("be").unwrap()[0].1, "UP");
    let f = p.local_addrs("fe")[0];
    for _ in 0..4 {
        assert_eq!(get(f, "/").unwrap().server(), "s1");
    }
    // s2 comes to life: after `rise` good checks it serves again
    let b = HttpBackend::start_on(&format!("127.0.0.1:{port}"), "s2");
    assert!(eventually(5, || h.server_states("be").unwrap()[1].1 == "UP"));
    let seen: std::collections::HashSet<String> =
        (0..4).map(|_| get(f, "/").unwrap().server()).collect();
    assert!(seen.contains("s2"));
    drop(b);
    p.stop();
    p.wait();
}

#[test]
fn backups_serve_only_when_actives_are_down() {
    let (a, b1, b2) = (
        HttpBackend::start("act"),
        HttpBackend::start("bk1"),
        HttpBackend::start("bk2"),
    );
    let p = start_proxy(&format!(
        "defaults\n mode http\n timeout connect 500ms\n timeout client 5s\n timeout server 5s\n\
frontend fe\n bind 127.0.0.1:0\n default_backend be\n\
backend be\n server act {} \n server bk1 {} backup\n server bk2 {} backup\n",
        a.addr, b1.addr, b2.addr
    ));
    let f = p.local_addrs("fe")[0];
    let h = p.handle();
    assert_eq!(get(f, "/").unwrap().server(), "act");
    h.set_server_state("be", "act", AdminState::Maint).unwrap();
    for _ in 0..3 {
        assert_eq!(
            get(f, "/").unwrap().server(),
            "bk1",
            "only the first backup without allbackups"
        );
    }
    h.set_server_state("be", "act", AdminState::Ready).unwrap();
    assert_eq!(get(f, "/").unwrap().server(), "act");
    p.stop();
    p.wait();
}

#[test]
fn drain_and_weight_through_the_handle() {
    let (a, b) = (HttpBackend::start("s1"), HttpBackend::start("s2"));
    let p = start_proxy(&format!(
        "defaults\n mode http\n timeout connect 500ms\n timeout client 5s\n timeout server 5s\n\
frontend fe\n bind 127.0.0.1:0\n default_backend be\nbackend be\n server s1 {}\n server s2 {}\n",
        a.addr, b.addr
    ));
    let f = p.local_addrs("fe")[0];
    let h = p.handle();
    h.set_server_state("be", "s1", AdminState::Drain).unwrap();
    assert_eq!(h.server_states("be").unwrap()[0].1, "DRAIN");
    for _ in 0..3 {
        assert_eq!(get(f, "/").unwrap().server(), "s2");
    }
    h.set_server_state("be", "s1", AdminState::Ready).unwrap();
    h.set_server_weight("be", "s2", 0).unwrap();
    for _ in 0..3 {
        assert_eq!(get(f, "/").unwrap().server(), "s1");
    }
    // add and remove servers at run time
    let c = HttpBackend::start("s3");
    h.remove_server("be", "s1").unwrap();
    h.add_server("be", "s3", c.addr, 1).unwrap();
    for _ in 0..3 {
        assert_eq!(get(f, "/").unwrap().server(), "s3");
    }
    p.stop();
    p.wait();
}

#[test]
fn maxconn_queue_times_out_with_503() {
    use std::net::TcpListener;
    // a server that accepts and never answers
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut keep = Vec::new();
        for c in l.incoming() {
            keep.push(c);
        }
    });
    let p = start_proxy(&format!(
        "defaults\n mode http\n timeout connect 1s\n timeout client 10s\n timeout server 5s\n timeout queue 300ms\n\
frontend fe\n bind 127.0.0.1:0\n default_backend be\nbackend be\n server s1 {addr} maxconn 1\n"
    ));
    let f = p.local_addrs("fe")[0];
    let mut first = Client::connect(f);
    first.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    std::thread::sleep(Duration::from_millis(100));
    let r = get(f, "/").unwrap();
    assert_eq!(r.status, 503);
    p.stop();
    p.wait();
}

#[test]
fn stats_socket_commands() {
    let a = HttpBackend::start("s1");
    let dir = tempdir("stats");
    let sock = dir.join("admin.sock");
    let p = start_proxy(&format!(
        "global\n stats socket {} level admin\ndefaults\n mode http\n timeout connect 1s\n timeout client 5s\n timeout server 5s\n\
frontend fe\n bind 127.0.0.1:0\n default_backend be\nbackend be\n server s1 {}\n server s2 {} weight 3\n",
        sock.display(),
        a.addr,
        a.addr
    ));
    let f = p.local_addrs("fe")[0];
    assert_eq!(get(f, "/").unwrap().status, 200);
    let info = stats_command(&sock, "show info");
    assert!(info.starts_with("Name: HAProxy\n"), "{info}");
    assert!(info.contains("\nCumReq: 1\n"), "{info}");
    let stat = stats_command(&sock, "show stat");
    let lines: Vec<&str> = stat.lines().collect();
    assert!(lines[0].starts_with("# pxname,svname,qcur,qmax,scur"));
    let ncols = lines[0].split(',').count();
    for l in &lines[1..4] {
        assert_eq!(l.split(',').count(), ncols, "{l}");
    }
    assert!(lines[1].starts_with("fe,FRONTEND,"));
    assert!(lines[2].starts_with("be,s1,"));
    assert!(lines[4].starts_with("be,BACKEND,"));
    assert_eq!(stats_command(&sock, "set server be/s1 state maint"), "\n");
    assert!(stats_command(&sock, "show stat").contains("be,s1,0,0,0,"));
    assert!(stats_command(&sock, "show stat")
        .lines()
        .find(|l| l.starts_with("be,s1,"))
        .unwrap()
        .contains(",MAINT,"));
    assert_eq!(stats_command(&sock, "set server be/s1 state ready"), "\n");
    assert_eq!(
        stats_command(&sock, "set server be/s1 state foo"),
        "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n\n"
    );
    assert_eq!(
        stats_command(&sock, "set server be/zz weight 5"),
        "No such server.\n\n"
    );
    assert_eq!(
        stats_command(&sock, "set server bx/zz weight 5"),
        "No such backend.\n\n"
    );
    assert_eq!(
        stats_command(&sock, "set server be/s1 weight 500"),
        "Absolute weight can only be between 0 and 256 inclusive.\n\n"
    );
    assert_eq!(stats_command(&sock, "set server be/s1 weight 7"), "\n");
    assert_eq!(
        stats_command(&sock, "get weight be/s1"),
        "7 (initial 1)\n\n"
    );
    let st = stats_command(&sock, "show servers state");
    assert!(
        st.starts_with("1\n# be_id be_name srv_id srv_name srv_addr srv_op_state"),
        "{st}"
    );
    assert!(
        st.lines()
            .any(|l| l.contains(" be 1 s1 127.0.0.1 2 0 7 1 ")),
        "{st}"
    );
    assert_eq!(
        stats_command(&sock, "show servers state zz"),
        "Can't find backend.\n\n"
    );
    assert_eq!(stats_command(&sock, "disable server be/s2"), "\n");
    assert_eq!(p.handle().server_states("be").unwrap()[1].1, "MAINT");
    assert_eq!(stats_command(&sock, "enable server be/s2"), "\n");
    assert!(stats_command(&sock, "foo")
        .starts_with("Unknown command, but maybe one of the following ones is a better match:\n"));
    let two = stats_command(&sock, "show backend;get weight be/s2");
    assert_eq!(two, "# name\nbe\n\n3 (initial 3)\n\n");
    assert!(stats_command(&sock, "help")
        .starts_with("The following commands are valid at this level:\n"));
    p.stop();
    p.wait();
}

#[test]
fn observed_errors_mark_a_server_down() {
    let a = HttpBackend::start("s1");
    let b = HttpBackend::start("s2");
    let p = start_proxy(&format!(
        "defaults\n mode http\n timeout connect 500ms\n timeout client 5s\n timeout server 5s\n retries 0\n\
frontend fe\n bind 127.0.0.1:0\n default_backend be\n\
backend be\n server s1 {} check inter 10m observe layer4 error-limit 2 on-error mark-down\n server s2 {}\n",
        a.addr, b.addr
    ));
    let f = p.local_addrs("fe")[0];
    let h = p.handle();
    assert!(eventually(5, || h.server_states("be").unwrap()[0].1 == "UP"));
    // The first health check must be over before s1 goes: a check that finds it gone
    // would mark it down before the observed errors do.
    assert!(eventually(5, || a
        .conns
        .load(std::sync::atomic::Ordering::Relaxed)
        >= 1));
    a.stop();
    drop(a);
    // roundrobin sends every other request to s1, which now refuses connections
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(get(f, "/").unwrap().status);
    }
    assert!(statuses.contains(&503), "{statuses:?}");
    assert_eq!(h.server_states("be").unwrap()[0].1, "DOWN");
    for _ in 0..4 {
        assert_eq!(get(f, "/").unwrap().server(), "s2");
    }
    p.stop();
    p.wait();
}
