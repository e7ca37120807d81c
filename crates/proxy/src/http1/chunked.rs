//! A scanner for chunked bodies: it walks the framing without copying, so the bytes can be
//! forwarded verbatim, and refuses malformed chunk sizes, missing CRLFs and oversized sizes.

/// A chunked-body framing error (the message is then answered 400/502 or cut).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkedError(pub &'static str);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum St {
    /// Expecting the first hex digit of a chunk size.
    SizeStart,
    /// Inside the hex digits.
    Size,
    /// After the digits: optional whitespace, then `;ext` or CR.
    SizeWs,
    /// Inside a chunk extension, until CR.
    Ext,
    /// Expecting LF after the size line's CR.
    SizeLf,
    /// Inside chunk data.
    Data,
    /// Expecting the CR after the data.
    DataCr,
    /// Expecting the LF after the data.
    DataLf,
    /// At the start of a trailer line (an empty one ends the body).
    TrailerStart,
    /// Inside a trailer line.
    Trailer,
    /// Expecting LF after a trailer line's CR.
    TrailerLf,
    /// Expecting the final LF.
    EndLf,
    Done,
}

/// Walks a chunked body. Feed it the bytes as they arrive; it says how many belong to the body.
#[derive(Clone, Debug)]
pub struct ChunkedScanner {
    st: St,
    size: u64,
    digits: u8,
    /// Payload bytes seen so far (without framing).
    pub payload: u64,
}

impl Default for ChunkedScanner {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkedScanner {
    pub fn new() -> Self {
        ChunkedScanner {
            st: St::SizeStart,
            size: 0,
            digits: 0,
            payload: 0,
        }
    }

    pub fn is_done(&self) -> bool {
        self.st == St::Done
    }

    /// Scans `buf`. Returns how many bytes were consumed: all of `buf`, or fewer when the body
    /// ended inside it (what follows belongs to the next message).
    pub fn scan(&mut self, buf: &[u8]) -> Result<usize, ChunkedError> {
        let mut i = 0;
        while i < buf.len() {
            let c = buf[i];
            match self.st {
                St::Done => return Ok(i),
                St::SizeStart | St::Size => {
                    if let Some(d) = hex(c) {
                        if self.digits >= 15 {
                            return Err(ChunkedError("chunk size too large"));
                        }
                        // Leading zeros do not count towards the limit.
                        if self.size != 0 || d != 0 {
                            self.digits += 1;
                        }
                        self.size = self.size * 16 + d as u64;
                        self.st = St::Size;
                    } else if self.st == St::SizeStart {
                        return Err(ChunkedError("bad chunk size"));
                    } else {
                        self.st = St::SizeWs;
                        continue;
                    }
                }
                St::SizeWs => match c {
                    b' ' | b'\t' => {}
                    b';' => self.st = St::Ext,
                    b'\r' => self.st = St::SizeLf,
                    _ => return Err(ChunkedError("bad chunk size")),
                },
                St::Ext => match c {
                    b'\r' => self.st = St::SizeLf,
                    b'\n' => return Err(ChunkedError("bare LF in chunk extension")),
                    0..=8 | 10..=31 | 127 => {
                        return Err(ChunkedError("control character in chunk extension"))
                    }
                    _ => {}
                },
                St::SizeLf => {
                    if c != b'\n' {
                        return Err(ChunkedError("missing LF after chunk size"));
                    }
                    if self.size == 0 {
                        self.st = St::TrailerStart;
                    } else {
                        self.st = St::Data;
                    }
                }
                St::Data => {
                    let take = ((buf.len() - i) as u64).min(self.size) as usize;
                    self.size -= take as u64;
                    self.payload += take as u64;
                    i += take;
                    if self.size == 0 {
                        self.st = St::DataCr;
                    }
                    continue;
                }
                St::DataCr => {
                    if c != b'\r' {
                        return Err(ChunkedError("missing CRLF after chunk data"));
                    }
                    self.st = St::DataLf;
                }
                St::DataLf => {
                    if c != b'\n' {
                        return Err(ChunkedError("missing CRLF after chunk data"));
                    }
                    self.st = St::SizeStart;
                    self.digits = 0;
                }
                St::TrailerStart => match c {
                    b'\r' => self.st = St::EndLf,
                    b'\n' => return Err(ChunkedError("bare LF in trailers")),
                    _ => self.st = St::Trailer,
                },
                St::Trailer => match c {
                    b'\r' => self.st = St::TrailerLf,
                    b'\n' => return Err(ChunkedError("bare LF in trailers")),
                    _ => {}
                },
                St::TrailerLf => {
                    if c != b'\n' {
                        return Err(ChunkedError("bad trailer line"));
                    }
                    self.st = St::TrailerStart;
                }
                St::EndLf => {
                    if c != b'\n' {
                        return Err(ChunkedError("missing final LF"));
                    }
                    self.st = St::Done;
                    return Ok(i + 1);
                }
            }
            i += 1;
        }
        Ok(i)
    }
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}
