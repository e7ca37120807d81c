//! Writing heads: the request or status line and the headers kept, edited or added, into an
//! output buffer that is reused from message to message.

use super::HeaderSpan;

/// What to do with one header of the incoming head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderEdit {
    Keep,
    Drop,
}

/// Appends head lines to `out`.
pub struct HeadWriter<'a> {
    pub out: &'a mut Vec<u8>,
}

impl<'a> HeadWriter<'a> {
    pub fn new(out: &'a mut Vec<u8>) -> Self {
        HeadWriter { out }
    }

    pub fn request_line(&mut self, method: &[u8], uri: &[u8], minor: u8) {
        self.out.extend_from_slice(method);
        self.out.push(b' ');
        self.out.extend_from_slice(uri);
        self.out.extend_from_slice(if minor == 0 {
            b" HTTP/1.0\r\n"
        } else {
            b" HTTP/1.1\r\n"
        });
    }

    pub fn status_line(&mut self, minor: u8, status: u16, reason: &[u8]) {
        self.out.extend_from_slice(if minor == 0 {
            b"HTTP/1.0 "
        } else {
            b"HTTP/1.1 "
        });
        let mut b = itoa_buf(status as u64);
        self.out.extend_from_slice(b.as_bytes());
        self.out.push(b' ');
        self.out.extend_from_slice(reason);
        self.out.extend_from_slice(b"\r\n");
    }

    /// Copies a header line from the source buffer as it was (name, ": ", value).
    pub fn copy(&mut self, src: &[u8], h: &HeaderSpan) {
        self.header(h.name.get(src), h.value.get(src));
    }

    pub fn header(&mut self, name: &[u8], value: &[u8]) {
        self.out.extend_from_slice(name);
        self.out.extend_from_slice(b": ");
        self.out.extend_from_slice(value);
        self.out.extend_from_slice(b"\r\n");
    }

    pub fn end(&mut self) {
        self.out.extend_from_slice(b"\r\n");
    }
}

/// A small stack buffer for formatting integers without allocating.
pub struct ItoaBuf {
    buf: [u8; 20],
    start: usize,
}

impl ItoaBuf {
    pub fn as_bytes(&mut self) -> &[u8] {
        &self.buf[self.start..]
    }
}

pub fn itoa_buf(mut n: u64) -> ItoaBuf {
    let mut buf = [0u8; 20];
    let mut i = 20;
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    ItoaBuf { buf, start: i }
}
