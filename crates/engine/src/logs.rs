//! Container logs in podman's k8s-file format: one line per record,
//! `<RFC 3339 time> <stdout|stderr> <F|P> <text>` (F: a full line, P: part of one).

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Context, Result};
use crate::util::{now_ns, rfc3339_nano};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// A container's log, created with its first record: a container that prints nothing (most
/// `run --rm` commands) costs no file, and `logs` reads a missing file as an empty log.
pub struct LogWriter {
    path: PathBuf,
    file: Option<File>,
    buf: Vec<u8>,
}

impl LogWriter {
    pub fn new(path: &Path) -> LogWriter {
        LogWriter {
            path: path.to_path_buf(),
            file: None,
            buf: Vec::new(),
        }
    }

    fn file(&mut self) -> Result<&mut File> {
        if self.file.is_none() {
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .ctx(|| format!("opening log {}", self.path.display()))?;
            self.file = Some(f);
        }
        self.file
            .as_mut()
            .ok_or_else(|| crate::Error::engine("the log is not open"))
    }

    /// Records a chunk of output; a chunk not ending in a newline makes a partial record.
    pub fn write(&mut self, stream: Stream, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let ts = rfc3339_nano(now_ns());
        self.buf.clear();
        let mut rest = data;
        while !rest.is_empty() {
            let (line, tag, next) = match rest.iter().position(|&b| b == b'\n') {
                Some(i) => (&rest[..i], "F", &rest[i + 1..]),
                None => (rest, "P", &rest[rest.len()..]),
            };
            self.buf.extend_from_slice(ts.as_bytes());
            self.buf.push(b' ');
            self.buf.extend_from_slice(stream.as_str().as_bytes());
            self.buf.push(b' ');
            self.buf.extend_from_slice(tag.as_bytes());
            self.buf.push(b' ');
            self.buf.extend_from_slice(line);
            self.buf.push(b'\n');
            rest = next;
        }
        // A full disk (or a log that cannot be created) loses log lines, not the container.
        let buf = std::mem::take(&mut self.buf);
        if let Ok(f) = self.file() {
            let _ = f.write_all(&buf);
        }
        self.buf = buf;
    }
}

/// One record read back.
pub struct Record {
    pub time: String,
    pub stream: Stream,
    pub full: bool,
    pub text: Vec<u8>,
}

fn parse(line: &[u8]) -> Option<Record> {
    let mut it = line.splitn(4, |&b| b == b' ');
    let time = String::from_utf8_lossy(it.next()?).into_owned();
    let stream = match it.next()? {
        b"stderr" => Stream::Stderr,
        _ => Stream::Stdout,
    };
    let full = it.next()? != b"P";
    let text = it.next().unwrap_or(b"").to_vec();
    Some(Record {
        time,
        stream,
        full,
        text,
    })
}

pub struct LogOptions {
    pub follow: bool,
    pub timestamps: bool,
    /// Only the last N lines (None: all).
    pub tail: Option<usize>,
}

/// Prints a container's log to `out`/`err`; with `follow`, keeps printing until `running()`
/// turns false and the file has been read to its end.
pub fn print(
    path: &Path,
    opts: &LogOptions,
    out: &mut dyn Write,
    err: &mut dyn Write,
    running: &mut dyn FnMut() -> bool,
) -> Result<()> {
    // The monitor creates the log with the container's first output. Following one that has
    // none yet waits for it; the reader never creates it (it once did, write-only, so its
    // first read failed with EBADF, and with truncation, which could cut a first record).
    let file = loop {
        match File::open(path) {
            Ok(f) => break f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if !opts.follow {
                    return Ok(());
                }
                let alive = running();
                if let Ok(f) = File::open(path) {
                    break f;
                }
                if !alive {
                    return Ok(());
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => {
                return Err(crate::Error::engine(format!(
                    "reading {}: {e}",
                    path.display()
                )))
            }
        }
    };
    let mut reader = BufReader::new(file);
    let mut records: Vec<Record> = Vec::new();
    let mut line = Vec::new();
    // Whether the next text starts a line (for --timestamps prefixes).
    let mut at_line_start = [true, true];
    let emit = |r: &Record, out: &mut dyn Write, err: &mut dyn Write, start: &mut [bool; 2]| {
        let w: &mut dyn Write = if r.stream == Stream::Stderr { err } else { out };
        let i = (r.stream == Stream::Stderr) as usize;
        if opts.timestamps && start[i] {
            let _ = w.write_all(r.time.as_bytes());
            let _ = w.write_all(b" ");
        }
        let _ = w.write_all(&r.text);
        if r.full {
            let _ = w.write_all(b"\n");
        }
        start[i] = r.full;
    };
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .ctx(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        if let Some(r) = parse(&line) {
            records.push(r);
        }
    }
    let skip = match opts.tail {
        Some(n) => {
            // Count full lines from the end.
            let mut full = 0;
            let mut start = records.len();
            for (i, r) in records.iter().enumerate().rev() {
                if r.full {
                    if full == n {
                        break;
                    }
                    full += 1;
                }
                start = i;
            }
            if n == 0 {
                records.len()
            } else {
                start
            }
        }
        None => 0,
    };
    for r in &records[skip..] {
        emit(r, out, err, &mut at_line_start);
    }
    let _ = out.flush();
    let _ = err.flush();
    if !opts.follow {
        return Ok(());
    }
    let mut pos = reader.stream_position().unwrap_or(0);
    let mut pending = Vec::new();
    loop {
        let alive = running();
        let mut f = reader.into_inner();
        f.seek(SeekFrom::Start(pos)).ok();
        reader = BufReader::new(f);
        loop {
            line.clear();
            let n = reader.read_until(b'\n', &mut line).unwrap_or(0);
            if n == 0 {
                break;
            }
            if line.last() != Some(&b'\n') {
                // A record being written: read it again next round.
                pending = line.clone();
                break;
            }
            pos += n as u64;
            line.pop();
            if let Some(r) = parse(&line) {
                emit(&r, out, err, &mut at_line_start);
            }
        }
        let _ = out.flush();
        let _ = err.flush();
        if !alive {
            return Ok(());
        }
        pending.clear();
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let p = std::env::temp_dir().join(format!("dermaga-log-{}", std::process::id()));
        let _ = std::fs::remove_file(&p);
        let mut w = LogWriter::new(&p);
        w.write(Stream::Stdout, b"one\ntwo\nthr");
        w.write(Stream::Stdout, b"ee\n");
        w.write(Stream::Stderr, b"oops\n");
        let (mut o, mut e) = (Vec::new(), Vec::new());
        let opts = LogOptions {
            follow: false,
            timestamps: false,
            tail: None,
        };
        print(&p, &opts, &mut o, &mut e, &mut || false).unwrap();
        assert_eq!(o, b"one\ntwo\nthree\n");
        assert_eq!(e, b"oops\n");
        let (mut o, mut e) = (Vec::new(), Vec::new());
        let opts = LogOptions {
            follow: false,
            timestamps: false,
            tail: Some(2),
        };
        print(&p, &opts, &mut o, &mut e, &mut || false).unwrap();
        assert_eq!(o, b"three\n");
        assert_eq!(e, b"oops\n");
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn follow_waits_for_the_log_and_never_creates_it() {
        let p = std::env::temp_dir().join(format!("dermaga-log-follow-{}", std::process::id()));
        let _ = std::fs::remove_file(&p);
        let opts = LogOptions {
            follow: true,
            timestamps: false,
            tail: None,
        };
        // No log and the container gone: nothing, and no file made.
        let (mut o, mut e) = (Vec::new(), Vec::new());
        print(&p, &opts, &mut o, &mut e, &mut || false).unwrap();
        assert!(o.is_empty() && !p.exists());
        // The monitor writes the first record while `logs -f` waits for the file.
        let mut calls = 0;
        let mut running = || {
            calls += 1;
            if calls == 1 {
                LogWriter::new(&p).write(Stream::Stdout, b"late\n");
            }
            calls == 1
        };
        print(&p, &opts, &mut o, &mut e, &mut running).unwrap();
        assert_eq!(o, b"late\n");
        std::fs::remove_file(&p).unwrap();
    }
}
