//! Errors, runc-style logging, RFC 3339 time and small file helpers shared by every verb.

use std::ffi::CString;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Mutex;

/// A runtime error: one sentence saying what failed and why, printed as runc prints its errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub String);

impl Error {
    pub fn new(msg: impl Into<String>) -> Self {
        Error(msg.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// Adds what was being done to an error: `fs::read(p).ctx(|| format!("read {p}"))`.
pub trait Context<T> {
    fn ctx<S: Into<String>>(self, what: impl FnOnce() -> S) -> Result<T>;
}

impl<T, E: fmt::Display> Context<T> for std::result::Result<T, E> {
    fn ctx<S: Into<String>>(self, what: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|e| Error(format!("{}: {e}", what().into())))
    }
}

/// Shorthand for an early error return.
#[macro_export]
macro_rules! bail {
    ($($arg:tt)*) => { return Err($crate::util::Error(format!($($arg)*))) };
}

pub fn errno() -> io::Error {
    io::Error::last_os_error()
}

/// Turns a libc return value into a `Result`, keeping errno.
pub fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(errno())
    } else {
        Ok(ret)
    }
}

pub fn cpath(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).unwrap_or_else(|_| CString::new("/").unwrap())
}

pub fn cstr(s: &str) -> CString {
    CString::new(s).unwrap_or_default()
}

// ---- logging, as runc does it: --log FILE, --log-format text|json ----

struct Log {
    file: Option<File>,
    json: bool,
    /// Where warnings go without a log file, instead of stderr (see `warnings_to`).
    warn_fd: Option<std::os::fd::RawFd>,
}

static LOG: Mutex<Log> = Mutex::new(Log {
    file: None,
    json: false,
    warn_fd: None,
});

/// Runs `f` with warnings written to `fd` instead of stderr: an in-process caller's
/// equivalent of giving an exec'd runtime that descriptor as its stderr.
pub fn warnings_to<T>(fd: std::os::fd::RawFd, f: impl FnOnce() -> T) -> T {
    let set = |v| {
        if let Ok(mut l) = LOG.lock() {
            l.warn_fd = v;
        }
    };
    set(Some(fd));
    let out = f();
    set(None);
    out
}

pub fn init_log(path: Option<&Path>, json: bool) {
    let file = path.and_then(|p| {
        OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o644)
            .open(p)
            .ok()
    });
    if let Ok(mut l) = LOG.lock() {
        l.file = file;
        l.json = json;
    }
}

/// Writes a line to the log file; false when there is none.
fn log_line(level: &str, msg: &str) -> bool {
    let Ok(mut l) = LOG.lock() else { return false };
    let json = l.json;
    if let Some(f) = l.file.as_mut() {
        let time = rfc3339_nano(now_realtime());
        let line = if json {
            let obj = serde_json::json!({"level": level, "msg": msg, "time": time});
            format!("{obj}\n")
        } else {
            format!("time=\"{time}\" level={level} msg={:?}\n", msg)
        };
        let _ = f.write_all(line.as_bytes());
        return true;
    }
    false
}

/// An error: to the log file (if any) and to stderr, as runc's `fatal` does.
pub fn log_error(msg: &str) {
    log_line("error", msg);
    eprintln!("{msg}");
}

/// A warning: to the log file, or to stderr without one (as runc's logrus does; the
/// caller's stderr is often the container's own).
pub fn log_warn(msg: &str) {
    if log_line("warning", msg) {
        return;
    }
    let line = format!("dermaga-runtime: warning: {msg}\n");
    match LOG.lock().ok().and_then(|l| l.warn_fd) {
        // SAFETY: the descriptor is the caller's, open for the span of `warnings_to`.
        Some(fd) => unsafe {
            libc::write(fd, line.as_ptr() as *const libc::c_void, line.len());
        },
        None => eprint!("{line}"),
    }
}

// ---- time ----

/// Wall-clock time as (seconds, nanoseconds) since the epoch.
pub fn now_realtime() -> (i64, u32) {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    (ts.tv_sec, ts.tv_nsec as u32)
}

/// Go's `time.RFC3339Nano` in UTC (trailing zeros of the fraction dropped), as runc prints
/// `created`.
pub fn rfc3339_nano((secs, nanos): (i64, u32)) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    let mut s = format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}");
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// Howard Hinnant's days-to-civil conversion.
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

// ---- files ----

/// Writes a file atomically: a temporary file beside it, then rename.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(data)?;
    }
    fs::rename(&tmp, path)
}

/// Writes a short value to a kernel file (cgroupfs, procfs).
pub fn write_file(path: &Path, data: &str) -> io::Result<()> {
    let mut f = OpenOptions::new().write(true).open(path)?;
    f.write_all(data.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_matches_go() {
        assert_eq!(rfc3339_nano((0, 0)), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339_nano((1_795_933_398, 887_815_725)),
            "2026-11-29T06:23:18.887815725Z"
        );
        assert_eq!(
            rfc3339_nano((951_782_400, 500_000_000)),
            "2000-02-29T00:00:00.5Z"
        );
    }
}
