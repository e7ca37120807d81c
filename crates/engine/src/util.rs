//! Small helpers: identifiers, names, clocks, file locks and atomic writes.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{Context, Error, Result};

/// A 64-hex-digit identifier from the kernel's random source, as podman's container IDs.
pub fn random_id() -> Result<String> {
    let mut buf = [0u8; 32];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .ctx(|| "reading /dev/urandom".into())?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

const ADJECTIVES: &[&str] = &[
    "agile", "bold", "brave", "bright", "calm", "clever", "cool", "crisp", "eager", "fair",
    "fancy", "gentle", "happy", "hardy", "keen", "kind", "lively", "lucid", "merry", "nimble",
    "noble", "proud", "quick", "quiet", "rapid", "serene", "sharp", "steady", "sunny", "swift",
    "tidy", "vivid", "warm", "wise", "witty", "zesty",
];
const NOUNS: &[&str] = &[
    "albatross",
    "badger",
    "condor",
    "dolphin",
    "egret",
    "falcon",
    "gecko",
    "heron",
    "ibis",
    "jaguar",
    "kestrel",
    "lemur",
    "marlin",
    "narwhal",
    "ocelot",
    "otter",
    "pelican",
    "quokka",
    "raven",
    "salmon",
    "tapir",
    "toucan",
    "urchin",
    "viper",
    "walrus",
    "wombat",
    "yak",
    "zebra",
];

/// A readable random name (`adjective_animal`), as podman gives unnamed containers.
pub fn random_name(id: &str) -> String {
    let n = u64::from_str_radix(&id[..12], 16).unwrap_or(0);
    let a = ADJECTIVES[(n % ADJECTIVES.len() as u64) as usize];
    let b = NOUNS[((n / 64) % NOUNS.len() as u64) as usize];
    format!("{a}_{b}")
}

pub fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// Days since the epoch to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// RFC 3339 with nanoseconds in UTC, the form podman's logs and inspect use.
pub fn rfc3339_nano(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let nanos = ns.rem_euclid(1_000_000_000);
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    )
}

/// "2024-05-01 10:00:00 +0000 UTC", as podman prints creation times.
pub fn human_date(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02} +0000 UTC",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    )
}

/// Go's units.HumanDuration, which podman uses for "Up 5 seconds" and "2 minutes ago".
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s < 1 {
        return "Less than a second".into();
    }
    if s == 1 {
        return "1 second".into();
    }
    if s < 60 {
        return format!("{s} seconds");
    }
    let m = s / 60;
    if m == 1 {
        return "About a minute".into();
    }
    if m < 60 {
        return format!("{m} minutes");
    }
    let h = (s as f64 / 3600.0).round() as u64;
    if h == 1 {
        return "About an hour".into();
    }
    if h < 48 {
        return format!("{h} hours");
    }
    if h < 24 * 7 * 2 {
        return format!("{} days", h / 24);
    }
    if h < 24 * 30 * 2 {
        return format!("{} weeks", h / 24 / 7);
    }
    if h < 24 * 365 * 2 {
        return format!("{} months", h / 24 / 30);
    }
    format!("{} years", h / 24 / 365)
}

pub fn since(ns: i64) -> Duration {
    Duration::from_nanos((now_ns() - ns).max(0) as u64)
}

/// An advisory lock on a file, released when dropped (or when the process dies).
pub struct FileLock {
    file: File,
}

impl FileLock {
    fn open(path: &Path) -> Result<File> {
        let open = || {
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(path)
        };
        match open() {
            // A lock in the run root, which a reboot empties.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).ctx(|| format!("creating {}", dir.display()))?;
                }
                open()
            }
            r => r,
        }
        .ctx(|| format!("opening lock {}", path.display()))
    }

    /// Takes the lock, waiting for it.
    pub fn exclusive(path: &Path) -> Result<FileLock> {
        let file = Self::open(path)?;
        flock(&file, libc::LOCK_EX).ctx(|| format!("locking {}", path.display()))?;
        Ok(FileLock { file })
    }

    pub fn shared(path: &Path) -> Result<FileLock> {
        let file = Self::open(path)?;
        flock(&file, libc::LOCK_SH).ctx(|| format!("locking {}", path.display()))?;
        Ok(FileLock { file })
    }

    /// Takes the lock if it is free; None if someone holds it.
    pub fn try_exclusive(path: &Path) -> Result<Option<FileLock>> {
        let file = Self::open(path)?;
        match flock(&file, libc::LOCK_EX | libc::LOCK_NB) {
            Ok(()) => Ok(Some(FileLock { file })),
            Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) => Ok(None),
            Err(e) => Err(Error::engine(format!("locking {}: {e}", path.display()))),
        }
    }

    pub fn fd(&self) -> i32 {
        self.file.as_raw_fd()
    }
}

fn flock(f: &File, op: i32) -> std::io::Result<()> {
    loop {
        // SAFETY: flock on a descriptor we own.
        let r = unsafe { libc::flock(f.as_raw_fd(), op) };
        if r == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
}

/// Whether anyone holds the lock at `path` (a missing file means nobody does).
pub fn lock_held(path: &Path) -> bool {
    let Ok(file) = OpenOptions::new().read(true).open(path) else {
        return false;
    };
    match flock(&file, libc::LOCK_SH | libc::LOCK_NB) {
        Ok(()) => false,
        Err(e) => e.raw_os_error() == Some(libc::EWOULDBLOCK),
    }
}

/// Waits until nobody holds the lock at `path`, or the timeout passes. True if it was released.
pub fn wait_lock_released(path: &Path, timeout: Option<Duration>) -> bool {
    let Ok(file) = OpenOptions::new().read(true).open(path) else {
        return true;
    };
    let Some(timeout) = timeout else {
        return flock(&file, libc::LOCK_SH).is_ok();
    };
    let deadline = std::time::Instant::now() + timeout;
    let mut nap = Duration::from_millis(1);
    loop {
        if flock(&file, libc::LOCK_SH | libc::LOCK_NB).is_ok() {
            return true;
        }
        let now = std::time::Instant::now();
        if now >= deadline {
            return false;
        }
        std::thread::sleep(nap.min(deadline - now));
        nap = (nap * 2).min(Duration::from_millis(20));
    }
}

/// Writes a file whole: temp file, fsync, rename.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .ctx(|| format!("creating {}", tmp.display()))?;
    f.write_all(data)
        .ctx(|| format!("writing {}", tmp.display()))?;
    f.sync_all().ctx(|| format!("syncing {}", tmp.display()))?;
    fs::rename(&tmp, path).ctx(|| format!("renaming {}", tmp.display()))
}

/// Resolves `path` inside `root` as the container would see it: symbolic links are followed
/// but never leave `root`. The last component is followed too unless `follow_last` is false.
pub fn resolve_in_root(root: &Path, path: &str, follow_last: bool) -> PathBuf {
    let mut parts: Vec<String> = Vec::new();
    let mut pending: Vec<String> = split(path).into_iter().rev().collect();
    let mut hops = 0;
    while let Some(part) = pending.pop() {
        match part.as_str() {
            "." | "" => continue,
            ".." => {
                parts.pop();
                continue;
            }
            _ => {}
        }
        let mut cand = root.to_path_buf();
        cand.extend(parts.iter());
        cand.push(&part);
        let is_last = pending.is_empty();
        if (follow_last || !is_last) && hops < 40 {
            if let Ok(target) = fs::read_link(&cand) {
                hops += 1;
                let t = target.to_string_lossy().into_owned();
                if t.starts_with('/') {
                    parts.clear();
                }
                for p in split(&t).into_iter().rev() {
                    pending.push(p);
                }
                continue;
            }
        }
        parts.push(part);
    }
    let mut out = root.to_path_buf();
    out.extend(parts.iter());
    out
}

fn split(path: &str) -> Vec<String> {
    Path::new(path)
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect()
}

/// Parses a size as podman does: `512`, `512b`, `64k`, `64m`, `1g` (binary units).
pub fn parse_size(s: &str) -> Result<i64> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').filter(|x| !x.is_empty()).unwrap_or(&t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let v: f64 = num
        .parse()
        .map_err(|_| Error::engine(format!("invalid size {s:?}")))?;
    if v < 0.0 {
        return Err(Error::engine(format!("invalid size {s:?}: negative")));
    }
    Ok((v * mult as f64) as i64)
}

/// Bytes as podman prints them ("1.5MB", base 1000 like Go's units.HumanSize).
pub fn human_size(n: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1000.0 && i < units.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    // Go's %.4g: four significant digits, trailing zeros of the fraction dropped.
    let decimals = if v >= 100.0 {
        1
    } else if v >= 10.0 {
        2
    } else {
        3
    };
    let s = format!("{v:.decimals$}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}{}", units[i])
}

/// Reads a whole small file to a string, None if absent.
pub fn read_opt(path: &Path) -> Option<String> {
    fs::read_to_string(path).ok()
}

/// JSON indented by four spaces, as podman prints it.
pub fn pretty_json(v: &serde_json::Value) -> String {
    use serde::Serialize;
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    let _ = v.serialize(&mut ser);
    String::from_utf8(buf).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(rfc3339_nano(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            rfc3339_nano(1_700_000_000_123_456_789),
            "2023-11-14T22:13:20.123456789Z"
        );
        assert_eq!(human_duration(Duration::from_secs(5)), "5 seconds");
        assert_eq!(human_duration(Duration::from_secs(90)), "About a minute");
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64m").unwrap(), 64 << 20);
        assert_eq!(parse_size("1g").unwrap(), 1 << 30);
        assert_eq!(parse_size("100").unwrap(), 100);
        assert_eq!(parse_size("10mb").unwrap(), 10 << 20);
        assert!(parse_size("x").is_err());
        assert_eq!(human_size(1_500_000), "1.5MB");
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(300_000), "300kB");
        assert_eq!(human_size(1_997_312), "1.997MB");
        assert_eq!(human_size(10_240), "10.24kB");
    }

    #[test]
    fn resolve_stays_in_root() {
        let d = std::env::temp_dir().join(format!("dermaga-resolve-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(d.join("bin")).unwrap();
        std::os::unix::fs::symlink("/etc/../../..", d.join("bin/up")).unwrap();
        std::os::unix::fs::symlink("busybox", d.join("bin/sh")).unwrap();
        assert_eq!(resolve_in_root(&d, "/bin/up/x", true), d.join("x"));
        assert_eq!(resolve_in_root(&d, "/bin/sh", true), d.join("bin/busybox"));
        assert_eq!(resolve_in_root(&d, "/bin/sh", false), d.join("bin/sh"));
        let _ = fs::remove_dir_all(&d);
    }
}
