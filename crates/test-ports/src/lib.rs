//! Loopback ports for tests that hand a port number to another process (haproxy, NSD,
//! dermaga itself) instead of binding port 0 themselves.
//!
//! Asking the kernel for port 0 and closing the socket gives a port that is free *now*; two
//! test processes running side by side can be given the same one a moment apart. Proxies bind
//! with `SO_REUSEPORT`, so two of them then share the port without an error and the kernel
//! splits one test's connections between both servers: a rare failure with another test's
//! answers. This crate instead takes ports below the kernel's ephemeral range (which `bind`
//! to port 0 and `connect` never hand out) and reserves each with a lock file that stays
//! locked until the test process ends, so no two test processes get the same port.
//!
//! This is test support only: nothing outside `[dev-dependencies]` uses it.

use std::fs::{File, OpenOptions};
use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

/// Lock files of the ports this process holds; their locks last as long as the process.
static HELD: Mutex<Vec<File>> = Mutex::new(Vec::new());
/// Spreads successive calls of one process over the range.
static CALLS: AtomicU32 = AtomicU32::new(0);

/// A loopback port free for both TCP and UDP on 127.0.0.1, reserved for this process.
///
/// # Panics
/// When no port of the range can be reserved: a test needs its ports and fails loudly.
pub fn port() -> u16 {
    block(1)
}

/// The first of `len` consecutive loopback ports, each free for TCP and UDP on 127.0.0.1 and
/// reserved for this process.
///
/// # Panics
/// As [`port`].
pub fn block(len: u16) -> u16 {
    let (low, high) = range();
    let span = u32::from(high - low);
    let len = len.max(1);
    let seed = std::process::id()
        .wrapping_mul(2_654_435_761)
        .wrapping_add(CALLS.fetch_add(1, Ordering::Relaxed).wrapping_mul(97));
    for step in 0..span {
        let first = low + ((seed.wrapping_add(step)) % span) as u16;
        if u32::from(first) + u32::from(len) > u32::from(high) {
            continue;
        }
        let mut locks = Vec::with_capacity(usize::from(len));
        for p in first..first + len {
            match reserve(p) {
                Some(lock) => locks.push(lock),
                None => break,
            }
        }
        if locks.len() == usize::from(len) {
            HELD.lock().unwrap_or_else(|e| e.into_inner()).extend(locks);
            return first;
        }
    }
    panic!("no block of {len} free loopback ports in {low}..{high}");
}

/// Locks `port`'s file and checks that nothing listens on it; the lock is released when the
/// returned file is dropped.
fn reserve(port: u16) -> Option<File> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock_dir().join(port.to_string()))
        .ok()?;
    file.try_lock().ok()?;
    let tcp = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).ok()?;
    let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).ok()?;
    drop((tcp, udp));
    Some(file)
}

fn lock_dir() -> PathBuf {
    let dir = std::env::temp_dir().join("dermaga-test-ports");
    // Shared by every user's tests on the machine: anyone may add a lock file.
    if std::fs::create_dir(&dir).is_ok() {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1777));
    }
    dir
}

/// Ports below the kernel's ephemeral range, or above it when the range starts too low.
fn range() -> (u16, u16) {
    let ephemeral = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| {
            let mut it = s.split_whitespace().map(|n| n.parse::<u16>().ok());
            Some((it.next()??, it.next()??))
        })
        .unwrap_or((32768, 60999));
    if ephemeral.0 >= 12_000 {
        (10_000, ephemeral.0)
    } else if ephemeral.1 < 63_000 {
        (ephemeral.1 + 1, u16::MAX)
    } else {
        // The whole space is ephemeral: the locks still keep test processes apart.
        (10_000, u16::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_distinct_and_free() {
        let a = port();
        let b = port();
        let c = block(4);
        assert_ne!(a, b);
        assert!(!(c..c + 4).contains(&a) && !(c..c + 4).contains(&b));
        for p in [a, b, c, c + 3] {
            TcpListener::bind((Ipv4Addr::LOCALHOST, p)).expect("reserved port is free");
        }
        // Another open file description of the same lock is refused while this one holds it.
        let again = OpenOptions::new()
            .write(true)
            .open(lock_dir().join(a.to_string()))
            .expect("lock file exists");
        assert!(again.try_lock().is_err(), "port {a} reserved twice");
    }
}
