//! HTTP/2 frames as bytes (RFC 9113 §4, §6): the 9-octet frame header, the frame types and
//! flags the client side uses, error codes, and writers that append whole frames to an
//! output buffer (so that many frames leave in one write).

/// Frame types (RFC 9113 §6).
pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const PRIORITY: u8 = 0x2;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const PUSH_PROMISE: u8 = 0x5;
pub const PING: u8 = 0x6;
pub const GOAWAY: u8 = 0x7;
pub const WINDOW_UPDATE: u8 = 0x8;
pub const CONTINUATION: u8 = 0x9;

/// Flags.
pub const END_STREAM: u8 = 0x1;
pub const ACK: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;
pub const PADDED: u8 = 0x8;
pub const PRIORITY_FLAG: u8 = 0x20;

/// SETTINGS identifiers (RFC 9113 §6.5.2).
pub const SETTINGS_HEADER_TABLE_SIZE: u16 = 0x1;
pub const SETTINGS_ENABLE_PUSH: u16 = 0x2;
pub const SETTINGS_MAX_CONCURRENT_STREAMS: u16 = 0x3;
pub const SETTINGS_INITIAL_WINDOW_SIZE: u16 = 0x4;
pub const SETTINGS_MAX_FRAME_SIZE: u16 = 0x5;
pub const SETTINGS_MAX_HEADER_LIST_SIZE: u16 = 0x6;

/// Error codes (RFC 9113 §7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reason(pub u32);

impl Reason {
    pub const NO_ERROR: Reason = Reason(0x0);
    pub const PROTOCOL_ERROR: Reason = Reason(0x1);
    pub const INTERNAL_ERROR: Reason = Reason(0x2);
    pub const FLOW_CONTROL_ERROR: Reason = Reason(0x3);
    pub const STREAM_CLOSED: Reason = Reason(0x5);
    pub const FRAME_SIZE_ERROR: Reason = Reason(0x6);
    pub const REFUSED_STREAM: Reason = Reason(0x7);
    pub const CANCEL: Reason = Reason(0x8);
    pub const COMPRESSION_ERROR: Reason = Reason(0x9);
    pub const ENHANCE_YOUR_CALM: Reason = Reason(0xb);
}

/// The largest flow-control window (RFC 9113 §6.9.1).
pub const MAX_WINDOW: i64 = (1 << 31) - 1;
/// The window every stream and the connection start with (RFC 9113 §6.5.2).
pub const DEFAULT_WINDOW: u32 = 65_535;
/// The smallest SETTINGS_MAX_FRAME_SIZE (RFC 9113 §6.5.2).
pub const MIN_FRAME_SIZE: usize = 16_384;
/// The frame header's length.
pub const HEADER_LEN: usize = 9;

/// A parsed frame header.
#[derive(Clone, Copy, Debug)]
pub struct Head {
    pub len: usize,
    pub ty: u8,
    pub flags: u8,
    pub stream: u32,
}

impl Head {
    /// The header at the start of `b` (at least [`HEADER_LEN`] octets).
    pub fn parse(b: &[u8; HEADER_LEN]) -> Head {
        Head {
            len: (usize::from(b[0]) << 16) | (usize::from(b[1]) << 8) | usize::from(b[2]),
            ty: b[3],
            flags: b[4],
            // The reserved bit is ignored on receipt (RFC 9113 §4.1).
            stream: u32::from_be_bytes([b[5], b[6], b[7], b[8]]) & 0x7fff_ffff,
        }
    }
}

/// Appends a frame header.
pub fn head(out: &mut Vec<u8>, len: usize, ty: u8, flags: u8, stream: u32) {
    let l = len as u32;
    out.extend_from_slice(&[(l >> 16) as u8, (l >> 8) as u8, l as u8, ty, flags]);
    out.extend_from_slice(&stream.to_be_bytes());
}

/// Appends our SETTINGS frame.
pub fn settings(out: &mut Vec<u8>, values: &[(u16, u32)]) {
    head(out, values.len() * 6, SETTINGS, 0, 0);
    for (id, v) in values {
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&v.to_be_bytes());
    }
}

pub fn settings_ack(out: &mut Vec<u8>) {
    head(out, 0, SETTINGS, ACK, 0);
}

pub fn ping_ack(out: &mut Vec<u8>, payload: &[u8]) {
    head(out, payload.len(), PING, ACK, 0);
    out.extend_from_slice(payload);
}

pub fn rst_stream(out: &mut Vec<u8>, stream: u32, reason: Reason) {
    head(out, 4, RST_STREAM, 0, stream);
    out.extend_from_slice(&reason.0.to_be_bytes());
}

pub fn goaway(out: &mut Vec<u8>, last_stream: u32, reason: Reason) {
    head(out, 8, GOAWAY, 0, 0);
    out.extend_from_slice(&last_stream.to_be_bytes());
    out.extend_from_slice(&reason.0.to_be_bytes());
}

pub fn window_update(out: &mut Vec<u8>, stream: u32, increment: u32) {
    head(out, 4, WINDOW_UPDATE, 0, stream);
    out.extend_from_slice(&increment.to_be_bytes());
}

/// Appends DATA frames carrying `data` (cut at `max_frame`), END_STREAM on the last when
/// `end`. An empty `data` with `end` is one empty frame.
pub fn data(out: &mut Vec<u8>, stream: u32, data: &[u8], end: bool, max_frame: usize) {
    if data.is_empty() {
        if end {
            head(out, 0, DATA, END_STREAM, stream);
        }
        return;
    }
    let mut chunks = data.chunks(max_frame).peekable();
    while let Some(c) = chunks.next() {
        let last = chunks.peek().is_none();
        head(
            out,
            c.len(),
            DATA,
            if end && last { END_STREAM } else { 0 },
            stream,
        );
        out.extend_from_slice(c);
    }
}

/// Appends a header block as HEADERS plus CONTINUATION frames of at most `max_frame` octets.
pub fn headers(out: &mut Vec<u8>, stream: u32, block: &[u8], end_stream: bool, max_frame: usize) {
    let es = if end_stream { END_STREAM } else { 0 };
    if block.len() <= max_frame {
        head(out, block.len(), HEADERS, es | END_HEADERS, stream);
        out.extend_from_slice(block);
        return;
    }
    let mut chunks = block.chunks(max_frame).enumerate().peekable();
    while let Some((i, c)) = chunks.next() {
        let last = chunks.peek().is_none();
        let eh = if last { END_HEADERS } else { 0 };
        if i == 0 {
            head(out, c.len(), HEADERS, es | eh, stream);
        } else {
            head(out, c.len(), CONTINUATION, eh, stream);
        }
        out.extend_from_slice(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_round_trips_and_the_reserved_bit_is_ignored() {
        let mut out = Vec::new();
        head(&mut out, 0x12345, HEADERS, END_HEADERS, 7);
        out[5] |= 0x80;
        let h = Head::parse(out[..9].try_into().unwrap());
        assert_eq!(
            (h.len, h.ty, h.flags, h.stream),
            (0x12345, HEADERS, END_HEADERS, 7)
        );
    }

    #[test]
    fn data_is_cut_at_the_frame_size_and_ends_on_the_last() {
        let mut out = Vec::new();
        data(&mut out, 1, &[7u8; 40_000], true, 16_384);
        let mut at = 0;
        let mut seen = Vec::new();
        while at < out.len() {
            let h = Head::parse(out[at..at + 9].try_into().unwrap());
            seen.push((h.len, h.flags));
            at += 9 + h.len;
        }
        assert_eq!(seen, [(16_384, 0), (16_384, 0), (7_232, END_STREAM)]);
    }

    #[test]
    fn a_large_header_block_continues() {
        let mut out = Vec::new();
        headers(&mut out, 3, &[1u8; 20_000], true, 16_384);
        let h = Head::parse(out[..9].try_into().unwrap());
        assert_eq!((h.ty, h.flags, h.len), (HEADERS, END_STREAM, 16_384));
        let c = Head::parse(out[9 + 16_384..9 + 16_384 + 9].try_into().unwrap());
        assert_eq!((c.ty, c.flags, c.len), (CONTINUATION, END_HEADERS, 3_616));
    }
}
