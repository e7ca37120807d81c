//! The zone-file scanner's driver: reads files in chunks, runs directives and `$INCLUDE`s, and
//! turns each entry into a record.
//!
//! Files are read in chunks of [`CHUNK`] bytes and only the entry being read is kept whole, so
//! a large zone never sits in memory as text. Names and rdata are copied once into a shared
//! arena (one allocation per [`ARENA_BLOCK`] bytes), so a record costs no allocation of its own
//! beyond the record vector.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use domain::base::iana::{Class, Rtype};
use domain::base::{Name, RecordData as _, Ttl};

use super::lexer::{Entry, Lexer, Token};
use super::names::{self, name_from_wire, NameBuf};
use super::rdata::{self, parse_ttl, Rd};
use super::{LoadedZone, SourceLocation, ZoneFileError, ZoneFileErrors, ZoneRecord};

/// Bytes read from a file at a time.
const CHUNK: usize = 256 * 1024;
/// Size of one arena block for names and rdata.
const ARENA_BLOCK: usize = 256 * 1024;
/// NSD's limit on nested `$INCLUDE`s.
const MAX_INCLUDE_DEPTH: usize = 10;
/// The TTL of records without one before any `$TTL`, as NSD has it.
const DEFAULT_TTL: u32 = 3600;

pub(crate) enum Input<'a> {
    File(PathBuf),
    Text { text: &'a [u8], name: PathBuf },
}

/// Shared octets for names and rdata, handed out in slices of large blocks.
struct Arena {
    block: BytesMut,
}

impl Arena {
    fn push(&mut self, data: &[u8]) -> Bytes {
        if self.block.capacity() - self.block.len() < data.len() {
            self.block = BytesMut::with_capacity(ARENA_BLOCK.max(data.len()));
        }
        self.block.extend_from_slice(data);
        self.block.split().freeze()
    }
}

/// The text of one file: all of it (text input) or a window that slides over the file.
struct Source<'a> {
    buf: std::borrow::Cow<'a, [u8]>,
    file: Option<File>,
    eof: bool,
}

impl Source<'_> {
    /// Drops what the lexer has consumed and reads the next chunk.
    fn refill(&mut self, lexer: &mut Lexer) -> std::io::Result<()> {
        let Some(file) = self.file.as_mut() else {
            self.eof = true;
            return Ok(());
        };
        let buf = self.buf.to_mut();
        let consumed = lexer.pos;
        buf.drain(..consumed);
        lexer.shift(consumed);
        // Read at least as much as is pending, so an entry that never ends (an unclosed
        // parenthesis) costs O(n log n) re-scans rather than O(n²).
        let len = buf.len();
        buf.resize(len + CHUNK.max(len), 0);
        let n = loop {
            match file.read(&mut buf[len..]) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                r => break r,
            }
        };
        let n = match n {
            Ok(n) => n,
            Err(e) => {
                buf.truncate(len);
                return Err(e);
            }
        };
        buf.truncate(len + n);
        if n == 0 {
            self.eof = true;
        }
        Ok(())
    }
}

/// What one file's scan carries from entry to entry.
struct FileState {
    file: Arc<Path>,
    origin: Option<Vec<u8>>,
}

/// Where scanned records go, in file order: a list (checks, edits) or straight into a zone
/// index being built, so that a large zone never sits in memory as parsed records.
pub(crate) trait RecordSink {
    /// Takes one record.
    fn record(&mut self, rec: ZoneRecord);
    /// Once the zone's origin is known after the scan: adds an error for each record outside
    /// it, in file order.
    fn check_in_zone(&mut self, origin: &Name<Bytes>, errors: &mut Vec<ZoneFileError>);
}

impl RecordSink for Vec<ZoneRecord> {
    fn record(&mut self, rec: ZoneRecord) {
        self.push(rec);
    }

    fn check_in_zone(&mut self, origin: &Name<Bytes>, errors: &mut Vec<ZoneFileError>) {
        // Out-of-zone data is an error, as NSD has it.
        for r in self.iter() {
            if !r.owner.ends_with(origin) {
                errors.push(out_of_zone(r, origin));
            }
        }
    }
}

/// The error for a record outside the zone.
pub(crate) fn out_of_zone(r: &ZoneRecord, origin: &Name<Bytes>) -> ZoneFileError {
    ZoneFileError {
        location: r.location.clone(),
        message: format!(
            "out of zone data: {} is outside the zone {}",
            fqdn(&r.owner),
            fqdn(origin)
        ),
    }
}

struct Loader<S> {
    sink: S,
    /// The owner of the first SOA record: the zone's origin when none is given.
    first_soa_owner: Option<Name<Bytes>>,
    errors: Vec<ZoneFileError>,
    warnings: Vec<ZoneFileError>,
    arena: Arena,
    out: Vec<u8>,
    scratch: Vec<u8>,
    /// Files being read, outermost first, to find `$INCLUDE` loops.
    include_stack: Vec<PathBuf>,
    first_origin: Option<Vec<u8>>,
    last_owner: Option<Name<Bytes>>,
    default_ttl: Option<u32>,
    warned_default_ttl: bool,
}

pub(crate) fn load(
    input: Input<'_>,
    origin: Option<&Name<Bytes>>,
) -> Result<LoadedZone, ZoneFileErrors> {
    let (origin, records, warnings) = load_into(input, origin, Vec::new())?;
    Ok(LoadedZone {
        origin,
        records,
        warnings,
    })
}

/// Scans `input` into `sink`. Returns the zone's origin (the one given, else the first SOA's
/// owner, else the first `$ORIGIN`), the sink, and the warnings; or every error of the files.
pub(crate) fn load_into<S: RecordSink>(
    input: Input<'_>,
    origin: Option<&Name<Bytes>>,
    sink: S,
) -> Result<(Name<Bytes>, S, Vec<ZoneFileError>), ZoneFileErrors> {
    let mut loader = Loader {
        sink,
        first_soa_owner: None,
        errors: Vec::new(),
        warnings: Vec::new(),
        arena: Arena {
            block: BytesMut::with_capacity(ARENA_BLOCK),
        },
        out: Vec::with_capacity(512),
        scratch: Vec::with_capacity(512),
        include_stack: Vec::new(),
        first_origin: None,
        last_owner: None,
        default_ttl: None,
        warned_default_ttl: false,
    };
    let origin_wire = origin.map(|o| o.as_slice().to_vec());
    let top_file: Arc<Path> = match &input {
        Input::File(p) => Arc::from(p.as_path()),
        Input::Text { name, .. } => Arc::from(name.as_path()),
    };
    match input {
        Input::File(path) => loader.load_file(&path, origin_wire, None),
        Input::Text { text, name } => {
            let src = Source {
                buf: std::borrow::Cow::Borrowed(text),
                file: None,
                eof: true,
            };
            loader.scan(
                src,
                FileState {
                    file: Arc::from(name.as_path()),
                    origin: origin_wire,
                },
            );
        }
    }

    let zone_origin = match origin {
        Some(o) => Some(o.clone()),
        None => loader.first_soa_owner.take().or_else(|| {
            loader
                .first_origin
                .take()
                .map(|o| name_from_wire(Bytes::from(o)))
        }),
    };
    let Some(zone_origin) = zone_origin else {
        if loader.errors.is_empty() {
            loader.errors.push(ZoneFileError {
                location: SourceLocation {
                    file: top_file,
                    line: 1,
                    column: 1,
                },
                message: "no origin: give one, or start the file with $ORIGIN or an SOA record"
                    .into(),
            });
        }
        return Err(ZoneFileErrors {
            errors: loader.errors,
        });
    };
    loader.sink.check_in_zone(&zone_origin, &mut loader.errors);
    if !loader.errors.is_empty() {
        return Err(ZoneFileErrors {
            errors: loader.errors,
        });
    }
    Ok((zone_origin, loader.sink, loader.warnings))
}

/// A name with its final dot (`domain` displays names without it).
pub(crate) fn fqdn(name: &Name<Bytes>) -> String {
    if name.is_root() {
        ".".into()
    } else {
        format!("{name}.")
    }
}

impl<S: RecordSink> Loader<S> {
    fn error(&mut self, file: &Arc<Path>, line: u32, column: u32, message: impl Into<String>) {
        self.errors.push(ZoneFileError {
            location: SourceLocation {
                file: file.clone(),
                line,
                column,
            },
            message: message.into(),
        });
    }

    fn warn(&mut self, file: &Arc<Path>, line: u32, column: u32, message: impl Into<String>) {
        self.warnings.push(ZoneFileError {
            location: SourceLocation {
                file: file.clone(),
                line,
                column,
            },
            message: message.into(),
        });
    }

    /// Reads one file; `from` is the `$INCLUDE` position that asked for it.
    fn load_file(
        &mut self,
        path: &Path,
        origin: Option<Vec<u8>>,
        from: Option<(&Arc<Path>, u32, u32)>,
    ) {
        let report = |loader: &mut Self, msg: String| match from {
            Some((f, l, c)) => loader.error(f, l, c, msg),
            None => loader.error(&Arc::from(path), 1, 1, msg),
        };
        let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        if self.include_stack.contains(&canonical) {
            let chain: Vec<String> = self
                .include_stack
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            report(
                self,
                format!(
                    "$INCLUDE loop: {} includes {} again",
                    chain.join(" includes "),
                    path.display()
                ),
            );
            return;
        }
        if self.include_stack.len() > MAX_INCLUDE_DEPTH {
            report(
                self,
                format!("$INCLUDE nested more than {MAX_INCLUDE_DEPTH} deep"),
            );
            return;
        }
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) => {
                report(self, format!("cannot open {}: {e}", path.display()));
                return;
            }
        };
        self.include_stack.push(canonical);
        let src = Source {
            buf: std::borrow::Cow::Owned(Vec::with_capacity(CHUNK)),
            file: Some(file),
            eof: false,
        };
        self.scan(
            src,
            FileState {
                file: Arc::from(path),
                origin,
            },
        );
        self.include_stack.pop();
    }

    fn scan(&mut self, mut src: Source<'_>, mut st: FileState) {
        let mut lexer = Lexer::new();
        loop {
            match lexer.next_entry(&src.buf, src.eof) {
                Entry::End => break,
                Entry::NeedMore => {
                    if let Err(e) = src.refill(&mut lexer) {
                        let (line, col) = (lexer.line, 1);
                        self.error(
                            &st.file,
                            line,
                            col,
                            format!("cannot read {}: {e}", st.file.display()),
                        );
                        break;
                    }
                }
                Entry::Error {
                    line,
                    column,
                    message,
                } => self.error(&st.file, line, column, message),
                Entry::Complete { owner_omitted } => {
                    if !lexer.tokens.is_empty() {
                        self.entry(&mut st, &src.buf, &lexer.tokens, owner_omitted);
                    }
                }
            }
        }
    }

    fn text<'b>(buf: &'b [u8], t: &Token) -> &'b [u8] {
        &buf[t.start..t.end]
    }

    fn entry(&mut self, st: &mut FileState, buf: &[u8], toks: &[Token], owner_omitted: bool) {
        let t0 = toks[0];
        let first = Self::text(buf, &t0);
        if !owner_omitted && !t0.quoted && first.first() == Some(&b'$') {
            return self.directive(st, buf, toks);
        }
        let mut idx = 0;
        let owner = if owner_omitted {
            match &self.last_owner {
                Some(o) => o.clone(),
                None => {
                    return self.error(
                        &st.file,
                        t0.line,
                        t0.column,
                        "no owner name: the first record of a file must name its owner",
                    )
                }
            }
        } else {
            idx = 1;
            let mut nb = NameBuf::new();
            if let Err(e) = names::parse_into(first, st.origin.as_deref(), &mut nb) {
                return self.error(
                    &st.file,
                    t0.line,
                    t0.column,
                    format!("invalid owner name: {e}"),
                );
            }
            match &self.last_owner {
                Some(o) if o.as_slice() == nb.as_slice() => o.clone(),
                _ => {
                    let o = name_from_wire(self.arena.push(nb.as_slice()));
                    self.last_owner = Some(o.clone());
                    o
                }
            }
        };

        // [TTL] [class] or [class] [TTL], then the type.
        let mut ttl: Option<u32> = None;
        let mut class_seen = false;
        for _ in 0..2 {
            let Some(t) = toks.get(idx) else { break };
            let text = Self::text(buf, t);
            if t.quoted {
                break;
            }
            if ttl.is_none() && text.first().is_some_and(u8::is_ascii_digit) {
                match parse_ttl(text) {
                    Ok(v) => ttl = Some(v),
                    Err(e) => {
                        return self.error(
                            &st.file,
                            t.line,
                            t.column,
                            format!("invalid TTL '{}': {e}", String::from_utf8_lossy(text)),
                        )
                    }
                }
                idx += 1;
            } else if !class_seen && is_class(text) {
                if !text.eq_ignore_ascii_case(b"IN") {
                    return self.error(
                        &st.file,
                        t.line,
                        t.column,
                        format!(
                            "only class IN is supported, not {}",
                            String::from_utf8_lossy(text)
                        ),
                    );
                }
                class_seen = true;
                idx += 1;
            } else {
                break;
            }
        }
        let Some(tt) = toks.get(idx) else {
            let last = toks[toks.len() - 1];
            return self.error(&st.file, last.line, last.column, "missing record type");
        };
        let type_text = Self::text(buf, tt);
        let rtype = match rdata::rtype_from_text(type_text) {
            Some(r) if !tt.quoted => r,
            _ => {
                return self.error(
                    &st.file,
                    tt.line,
                    tt.column,
                    format!(
                        "unknown record type '{}'",
                        String::from_utf8_lossy(type_text)
                    ),
                )
            }
        };
        let rtoks = &toks[idx + 1..];
        let generic = rtoks
            .first()
            .is_some_and(|t| !t.quoted && Self::text(buf, t) == b"\\#");
        self.out.clear();
        let mut rd = Rd {
            buf,
            toks: rtoks,
            i: usize::from(generic),
            origin: st.origin.as_deref(),
            out: &mut self.out,
            scratch: &mut self.scratch,
        };
        let parsed = if generic {
            rdata::parse_generic(&mut rd)
        } else if rdata::has_text_form(rtype) {
            rdata::parse_text(rtype, &mut rd)
        } else {
            return self.error(
                &st.file,
                tt.line,
                tt.column,
                format!("type {rtype} is not supported in presentation form; write it in RFC 3597 form (\\# length hex)"),
            );
        };
        if let Err(f) = parsed {
            let (line, column) = match rtoks.get(f.at) {
                Some(t) => (t.line, t.column),
                None => {
                    let last = toks[toks.len() - 1];
                    (last.line, last.column + (last.end - last.start) as u32)
                }
            };
            return self.error(&st.file, line, column, format!("{rtype}: {}", f.message));
        }
        let wire = self.arena.push(&self.out);
        let data = match rdata::to_record_data(rtype, wire, !generic) {
            Ok(d) => d,
            Err(e) => return self.error(&st.file, tt.line, tt.column, format!("{rtype}: {e}")),
        };
        let ttl = match ttl {
            Some(v) if v > i32::MAX as u32 => {
                self.warn(
                    &st.file,
                    t0.line,
                    t0.column,
                    format!("TTL {v} is above 2147483647 (RFC 2181 §8): using 0"),
                );
                0
            }
            Some(v) => v,
            None => match self.default_ttl {
                Some(v) => v,
                None => {
                    if !self.warned_default_ttl {
                        self.warned_default_ttl = true;
                        self.warn(
                            &st.file,
                            t0.line,
                            t0.column,
                            format!("record without TTL and no $TTL before it: using {DEFAULT_TTL}, as NSD does"),
                        );
                    }
                    DEFAULT_TTL
                }
            },
        };
        if self.first_soa_owner.is_none() && data.rtype() == Rtype::SOA {
            self.first_soa_owner = Some(owner.clone());
        }
        self.sink.record(ZoneRecord {
            owner,
            class: Class::IN,
            ttl: Ttl::from_secs(ttl),
            data,
            location: SourceLocation {
                file: st.file.clone(),
                line: t0.line,
                column: t0.column,
            },
        });
    }

    fn directive(&mut self, st: &mut FileState, buf: &[u8], toks: &[Token]) {
        let t0 = toks[0];
        let name = Self::text(buf, &t0);
        let args = &toks[1..];
        let arg_count = |min: usize, max: usize| args.len() >= min && args.len() <= max;
        if name.eq_ignore_ascii_case(b"$ORIGIN") {
            if !arg_count(1, 1) {
                return self.error(
                    &st.file,
                    t0.line,
                    t0.column,
                    "$ORIGIN takes one domain name",
                );
            }
            let a = args[0];
            let mut nb = NameBuf::new();
            match names::parse_into(Self::text(buf, &a), st.origin.as_deref(), &mut nb) {
                Ok(()) => {
                    let o = nb.as_slice().to_vec();
                    if self.first_origin.is_none() {
                        self.first_origin = Some(o.clone());
                    }
                    st.origin = Some(o);
                }
                Err(e) => self.error(&st.file, a.line, a.column, format!("invalid $ORIGIN: {e}")),
            }
        } else if name.eq_ignore_ascii_case(b"$TTL") {
            if !arg_count(1, 1) {
                return self.error(&st.file, t0.line, t0.column, "$TTL takes one TTL");
            }
            let a = args[0];
            let text = Self::text(buf, &a);
            match parse_ttl(text) {
                Ok(v) if v > i32::MAX as u32 => {
                    self.warn(
                        &st.file,
                        a.line,
                        a.column,
                        format!("$TTL {v} is above 2147483647 (RFC 2181 §8): using 0"),
                    );
                    self.default_ttl = Some(0);
                }
                Ok(v) => self.default_ttl = Some(v),
                Err(e) => self.error(
                    &st.file,
                    a.line,
                    a.column,
                    format!("invalid $TTL '{}': {e}", String::from_utf8_lossy(text)),
                ),
            }
        } else if name.eq_ignore_ascii_case(b"$INCLUDE") {
            if !arg_count(1, 2) {
                return self.error(
                    &st.file,
                    t0.line,
                    t0.column,
                    "$INCLUDE takes a file name and an optional origin",
                );
            }
            let a = args[0];
            self.scratch.clear();
            let text = Self::text(buf, &a);
            let mut p = 0;
            while p < text.len() {
                if text[p] == b'\\' {
                    match names::unescape(text, p) {
                        Ok((b, used)) => {
                            self.scratch.push(b);
                            p += used;
                        }
                        Err(e) => return self.error(&st.file, a.line, a.column, e),
                    }
                } else {
                    self.scratch.push(text[p]);
                    p += 1;
                }
            }
            let Ok(file_name) = std::str::from_utf8(&self.scratch) else {
                return self.error(
                    &st.file,
                    a.line,
                    a.column,
                    "$INCLUDE file name is not UTF-8",
                );
            };
            let file_name = PathBuf::from(file_name);
            let path = if file_name.is_absolute() {
                file_name
            } else {
                st.file
                    .parent()
                    .map(|d| d.join(&file_name))
                    .unwrap_or(file_name)
            };
            let inc_origin = match args.get(1) {
                Some(o) => {
                    let mut nb = NameBuf::new();
                    match names::parse_into(Self::text(buf, o), st.origin.as_deref(), &mut nb) {
                        Ok(()) => Some(nb.as_slice().to_vec()),
                        Err(e) => {
                            return self.error(
                                &st.file,
                                o.line,
                                o.column,
                                format!("invalid $INCLUDE origin: {e}"),
                            )
                        }
                    }
                }
                None => st.origin.clone(),
            };
            // The included file gets its own origin; ours is unchanged after it (RFC 1035 §5.1).
            let file = st.file.clone();
            self.load_file(&path, inc_origin, Some((&file, a.line, a.column)));
        } else if name.eq_ignore_ascii_case(b"$GENERATE") {
            self.error(
                &st.file,
                t0.line,
                t0.column,
                "$GENERATE is a BIND extension that is not supported (NSD does not take it either)",
            );
        } else {
            self.error(
                &st.file,
                t0.line,
                t0.column,
                format!("unknown directive {}", String::from_utf8_lossy(name)),
            );
        }
    }
}

fn is_class(text: &[u8]) -> bool {
    matches!(text.len(), 2)
        && [b"IN", b"CH", b"HS", b"CS"]
            .iter()
            .any(|c| text.eq_ignore_ascii_case(*c))
        || text.eq_ignore_ascii_case(b"NONE")
        || text.eq_ignore_ascii_case(b"ANY")
        || (text.len() > 5
            && text[..5].eq_ignore_ascii_case(b"CLASS")
            && rdata::parse_decimal(&text[5..]).is_some())
}
