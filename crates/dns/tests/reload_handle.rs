//! Reloading zone files and editing zones through the handle, while queries keep flowing.

mod common;

use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::TempDir;
use dermaga_dns::{DnsConfig, ZoneSource};

fn zone(serial: u32, www: &str) -> String {
    format!(
        "$ORIGIN reload.test.\n$TTL 300\n@ IN SOA ns1 hostmaster {serial} 60 30 600 60\n@ NS ns1\nns1 A 192.0.2.53\nwww A {www}\n"
    )
}

/// Asks `name` A over UDP with a plain client; returns the first A record's address, if any.
fn ask_a(port: u16, name: &str, id: u16) -> Option<String> {
    let s = UdpSocket::bind("127.0.0.1:0").ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let mut m = id.to_be_bytes().to_vec();
    m.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    for l in name.split('.') {
        m.push(l.len() as u8);
        m.extend_from_slice(l.as_bytes());
    }
    m.extend_from_slice(&[0, 0, 1, 0, 1]);
    s.send_to(&m, ("127.0.0.1", port)).ok()?;
    let mut buf = [0u8; 512];
    let (n, _) = s.recv_from(&mut buf).ok()?;
    let msg = domain::base::Message::from_octets(buf[..n].to_vec()).ok()?;
    for rr in msg.answer().ok()? {
        let rr = rr.ok()?;
        if let Ok(Some(r)) = rr.to_record::<domain::rdata::A>() {
            return Some(r.data().addr().to_string());
        }
    }
    Some(String::new())
}

fn start(dir: &TempDir) -> (dermaga_dns::DnsServer, u16, std::path::PathBuf) {
    let file = dir.write("reload.test.zone", &zone(1, "192.0.2.1"));
    let mut config = DnsConfig::default();
    config.server.listen.push("127.0.0.1:0".parse().unwrap());
    config.server.udp_workers = 2;
    config.zones.push(ZoneSource::file(&file));
    let server = dermaga_dns::start(config).expect("server starts");
    let port = server.local_addrs()[0].port();
    (server, port, file)
}

#[test]
fn reload_picks_up_changes_and_keeps_a_broken_zone_at_its_last_version() {
    let dir = TempDir::new("reload");
    let (server, port, file) = start(&dir);
    assert_eq!(
        ask_a(port, "www.reload.test", 1).as_deref(),
        Some("192.0.2.1")
    );
    // Unchanged file: nothing to do.
    assert!(server.reload().is_empty());
    std::fs::write(&file, zone(2, "192.0.2.2")).unwrap();
    // Make sure the modification time moves even on coarse clocks.
    let later = std::time::SystemTime::now() + Duration::from_secs(2);
    std::fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(later)
        .unwrap();
    assert!(server.reload().is_empty());
    assert_eq!(
        ask_a(port, "www.reload.test", 2).as_deref(),
        Some("192.0.2.2")
    );
    // A broken file: the error comes back, the previous version keeps serving.
    std::fs::write(&file, "$ORIGIN reload.test.\n@ IN A 192.0.2.9\n").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(later + Duration::from_secs(2))
        .unwrap();
    let errors = server.reload();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].to_string().contains("reload.test.zone"),
        "{}",
        errors[0]
    );
    assert_eq!(
        ask_a(port, "www.reload.test", 3).as_deref(),
        Some("192.0.2.2")
    );
    server.stop();
}

#[test]
fn reloads_and_edits_never_drop_a_query() {
    let dir = TempDir::new("nodrop");
    let (server, port, file) = start(&dir);
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let lost = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..2)
        .map(|c| {
            let (stop, answered, lost) = (stop.clone(), answered.clone(), lost.clone());
            std::thread::spawn(move || {
                let mut i = 0u16;
                // Bounded: at most 5000 queries per client.
                while !stop.load(Ordering::Relaxed) && i < 5000 {
                    i += 1;
                    match ask_a(port, "www.reload.test", c * 10000 + i) {
                        Some(a) if a.starts_with("192.0.2.") => {
                            answered.fetch_add(1, Ordering::Relaxed)
                        }
                        _ => lost.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    let handle = server.handle();
    let origin = dermaga_dns::parse_name("reload.test").unwrap();
    for round in 0..20u32 {
        std::fs::write(&file, zone(10 + round, &format!("192.0.2.{}", 10 + round))).unwrap();
        let t = std::time::SystemTime::now() + Duration::from_secs(10 + round as u64);
        std::fs::File::options()
            .write(true)
            .open(&file)
            .unwrap()
            .set_modified(t)
            .unwrap();
        assert!(server.reload().is_empty());
        let rec = dermaga_dns::parse_records(&format!("extra{round} 60 IN A 192.0.2.200"), &origin)
            .unwrap();
        handle.add_record(rec.into_iter().next().unwrap()).unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    assert_eq!(
        lost.load(Ordering::Relaxed),
        0,
        "queries lost during reloads"
    );
    assert!(answered.load(Ordering::Relaxed) > 0);
    server.stop();
}

#[test]
fn the_handle_adds_and_removes_records_and_bumps_the_serial() {
    let dir = TempDir::new("handle");
    let (server, port, _) = start(&dir);
    let handle = server.handle();
    let origin = dermaga_dns::parse_name("reload.test").unwrap();
    assert_eq!(handle.serial(&origin), Some(1));
    let rec = dermaga_dns::parse_records("app 60 IN A 192.0.2.77", &origin)
        .unwrap()
        .remove(0);
    assert_eq!(handle.add_record(rec.clone()).unwrap(), 2);
    assert_eq!(
        ask_a(port, "app.reload.test", 1).as_deref(),
        Some("192.0.2.77")
    );
    // Adding it again changes nothing but the serial.
    assert_eq!(handle.add_record(rec.clone()).unwrap(), 3);
    assert_eq!(handle.remove_record(&rec).unwrap(), 4);
    assert_eq!(ask_a(port, "app.reload.test", 2).as_deref(), Some(""));
    let rec2 = dermaga_dns::parse_records("app2 60 IN A 192.0.2.78", &origin)
        .unwrap()
        .remove(0);
    handle.add_record(rec2).unwrap();
    let owner = dermaga_dns::parse_name("app2.reload.test").unwrap();
    handle.remove_records(&owner, None).unwrap();
    assert_eq!(ask_a(port, "app2.reload.test", 3).as_deref(), Some(""));
    // A record outside every served zone is refused with a clear error.
    let elsewhere = dermaga_dns::parse_name("other.test").unwrap();
    let stray = dermaga_dns::parse_records("x 60 IN A 192.0.2.1", &elsewhere)
        .unwrap()
        .remove(0);
    let err = handle.add_record(stray).unwrap_err();
    assert!(err.to_string().contains("not served"), "{err}");
    // Zones come and go.
    let other = dermaga_dns::parse_name("other.test").unwrap();
    let recs = dermaga_dns::parse_records(
        "@ 60 IN SOA ns hm 7 60 30 600 60\n@ 60 IN NS ns\nns 60 IN A 192.0.2.5",
        &other,
    )
    .unwrap();
    assert_eq!(handle.put_zone(&other, recs).unwrap(), 7);
    assert_eq!(
        ask_a(port, "ns.other.test", 4).as_deref(),
        Some("192.0.2.5")
    );
    handle.remove_zone(&other).unwrap();
    assert_eq!(ask_a(port, "ns.other.test", 5).as_deref(), Some(""));
    server.stop();
}
