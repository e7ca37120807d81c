//! Queries in, responses out: the parser of incoming messages and the response builder.
//!
//! Both work on plain byte buffers. The builder writes into a caller's `Vec<u8>` that is
//! reused from query to query (its capacity stays), compresses names with its own small table,
//! and never splits an RRset: an RRset that does not fit is taken back whole.

use crate::wire::{self, fold, MAX_NAME_LEN};
use crate::zone::{compressed_names, NamePart, Rrs};

/// Header flag bits (second 16-bit word of the header).
pub mod flag {
    pub const QR: u16 = 0x8000;
    pub const AA: u16 = 0x0400;
    pub const TC: u16 = 0x0200;
    pub const RD: u16 = 0x0100;
    pub const RA: u16 = 0x0080;
    pub const AD: u16 = 0x0020;
    pub const CD: u16 = 0x0010;
}

/// Response codes (the 12-bit extended ones split across header and OPT).
pub mod rcode {
    pub const NOERROR: u16 = 0;
    pub const FORMERR: u16 = 1;
    pub const SERVFAIL: u16 = 2;
    pub const NXDOMAIN: u16 = 3;
    pub const NOTIMP: u16 = 4;
    pub const REFUSED: u16 = 5;
    pub const YXDOMAIN: u16 = 6;
    pub const NOTAUTH: u16 = 9;
    pub const BADVERS: u16 = 16;
}

/// Opcodes.
pub mod opcode {
    pub const QUERY: u8 = 0;
    pub const NOTIFY: u8 = 4;
}

/// The EDNS(0) part of a query (RFC 6891).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Edns {
    pub payload: u16,
    pub version: u8,
    pub dnssec_ok: bool,
}

/// A parsed query: the header fields, the question (name lower-cased for lookups; the
/// original bytes stay in the message) and EDNS.
#[derive(Clone)]
pub struct Query {
    pub id: u16,
    /// The second header word as received.
    pub flags: u16,
    pub opcode: u8,
    /// End of the question section in the message.
    pub question_end: usize,
    /// The query name, canonical (lower-cased) wire form.
    pub qname: [u8; MAX_NAME_LEN],
    pub qname_len: usize,
    /// Offsets of the labels of `qname`.
    pub starts: [u8; 128],
    pub labels: usize,
    pub qtype: u16,
    pub qclass: u16,
    pub edns: Option<Edns>,
    /// Start of a TSIG record (the last in the message), if there is one.
    pub tsig_at: Option<usize>,
}

impl std::fmt::Debug for Query {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Query")
            .field("id", &self.id)
            .field("opcode", &self.opcode)
            .field("qname", &wire::display(self.qname()))
            .field("qtype", &self.qtype)
            .field("edns", &self.edns)
            .finish()
    }
}

impl Query {
    #[inline]
    pub fn qname(&self) -> &[u8] {
        &self.qname[..self.qname_len]
    }
}

/// Why a message gets no normal answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Not worth an answer (too short to carry a header, or itself a response).
    Drop,
    /// Answer FORMERR; `question` says whether the question section was read completely, so
    /// the error can echo it.
    FormErr { question_end: Option<usize> },
}

/// Parses a query message. Records in the answer and authority sections are allowed (NOTIFY
/// carries an SOA, IXFR one in authority) but skipped; the additional section may hold one
/// OPT and a TSIG, the latter last.
pub fn parse_query(msg: &[u8]) -> Result<Query, ParseError> {
    if msg.len() < 12 {
        return Err(ParseError::Drop);
    }
    let flags = u16::from_be_bytes([msg[2], msg[3]]);
    if flags & flag::QR != 0 {
        return Err(ParseError::Drop);
    }
    let qd = u16::from_be_bytes([msg[4], msg[5]]);
    let an = u16::from_be_bytes([msg[6], msg[7]]);
    let ns = u16::from_be_bytes([msg[8], msg[9]]);
    let ar = u16::from_be_bytes([msg[10], msg[11]]);
    let formerr = ParseError::FormErr { question_end: None };
    if qd != 1 {
        return Err(formerr);
    }
    let mut q = Query {
        id: u16::from_be_bytes([msg[0], msg[1]]),
        flags,
        opcode: ((flags >> 11) & 0xF) as u8,
        question_end: 0,
        qname: [0; MAX_NAME_LEN],
        qname_len: 0,
        starts: [0; 128],
        labels: 0,
        qtype: 0,
        qclass: 0,
        edns: None,
        tsig_at: None,
    };
    // The question name: uncompressed (nothing precedes it to point at).
    let mut pos = 12;
    loop {
        let len = *msg.get(pos).ok_or(formerr)? as usize;
        if len & 0xC0 != 0 {
            return Err(formerr);
        }
        if q.qname_len + len + 1 > MAX_NAME_LEN {
            return Err(formerr);
        }
        let label = msg.get(pos..pos + 1 + len).ok_or(formerr)?;
        if len != 0 {
            q.starts[q.labels] = q.qname_len as u8;
            q.labels += 1;
        }
        for (i, &b) in label.iter().enumerate() {
            q.qname[q.qname_len + i] = fold(b);
        }
        q.qname_len += len + 1;
        pos += len + 1;
        if len == 0 {
            break;
        }
    }
    let tail = msg.get(pos..pos + 4).ok_or(formerr)?;
    q.qtype = u16::from_be_bytes([tail[0], tail[1]]);
    q.qclass = u16::from_be_bytes([tail[2], tail[3]]);
    pos += 4;
    q.question_end = pos;
    let formerr = ParseError::FormErr {
        question_end: Some(pos),
    };

    let mut scratch = [0u8; MAX_NAME_LEN];
    for _ in 0..(an as usize + ns as usize) {
        pos = skip_rr(msg, pos, &mut scratch).ok_or(formerr)?.0;
    }
    for i in 0..ar {
        let start = pos;
        let (end, rtype, name_len) = skip_rr(msg, pos, &mut scratch).ok_or(formerr)?;
        match rtype {
            crate::zone::rtype::OPT => {
                if q.edns.is_some() || name_len != 1 || q.tsig_at.is_some() {
                    return Err(formerr);
                }
                // Root owner (one octet), then type, class = payload, TTL = ext-rcode, version, flags.
                let h = &msg[start + 1..start + 11];
                let payload = u16::from_be_bytes([h[2], h[3]]);
                let version = h[5];
                let eflags = u16::from_be_bytes([h[6], h[7]]);
                // Options must fit their rdata exactly.
                let mut o = start + 11;
                while o < end {
                    if o + 4 > end {
                        return Err(formerr);
                    }
                    let olen = u16::from_be_bytes([msg[o + 2], msg[o + 3]]) as usize;
                    o += 4 + olen;
                }
                if o != end {
                    return Err(formerr);
                }
                q.edns = Some(Edns {
                    payload,
                    version,
                    dnssec_ok: eflags & 0x8000 != 0,
                });
            }
            crate::zone::rtype::TSIG => {
                if i != ar - 1 {
                    return Err(formerr);
                }
                q.tsig_at = Some(start);
            }
            _ => return Err(formerr),
        }
        pos = end;
    }
    Ok(q)
}

/// Skips one resource record; returns its end, its type and its owner's wire length.
fn skip_rr(
    msg: &[u8],
    pos: usize,
    scratch: &mut [u8; MAX_NAME_LEN],
) -> Option<(usize, u16, usize)> {
    let (p, name_len) = wire::read_name(msg, pos, scratch)?;
    let h = msg.get(p..p + 10)?;
    let rtype = u16::from_be_bytes([h[0], h[1]]);
    let rdlen = u16::from_be_bytes([h[8], h[9]]) as usize;
    let end = p + 10 + rdlen;
    if end > msg.len() {
        return None;
    }
    Some((end, rtype, name_len))
}

/// Sections of a message the builder writes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    Answer = 0,
    Authority = 1,
    Additional = 2,
}

/// How an owner name is written.
#[derive(Clone, Copy, Debug)]
pub enum Owner<'a> {
    /// A compression pointer to a name already in the message (the question name is at 12).
    Ptr(u16),
    /// A name in uncompressed wire form, compressed against what the message holds.
    Name(&'a [u8]),
}

/// The RRset did not fit in the size limit; nothing of it was kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Full;

const COMP_MAX: usize = 64;

/// Writes a response into a reused buffer.
pub struct Builder<'a> {
    buf: &'a mut Vec<u8>,
    limit: usize,
    counts: [u16; 3],
    comp_hash: [u32; COMP_MAX],
    comp_off: [u16; COMP_MAX],
    comp_n: usize,
}

/// The hash of a label chained onto the hash of the labels after it (case-insensitive).
#[inline]
fn hash_label(label: &[u8], next: u32) -> u32 {
    let mut h = next ^ 0x811c_9dc5;
    for &b in label {
        h = (h ^ fold(b) as u32).wrapping_mul(0x0100_0193);
    }
    h
}

impl<'a> Builder<'a> {
    /// Starts a response to `q` (read from `msg`): header, the question copied as received
    /// (so the name keeps its case), size limit `limit` for everything but the OPT record.
    pub fn new(buf: &'a mut Vec<u8>, msg: &[u8], q: &Query, limit: usize) -> Builder<'a> {
        buf.clear();
        buf.extend_from_slice(&msg[..2]);
        let f = (q.flags & (0x7800 | flag::RD | flag::CD)) | flag::QR;
        buf.extend_from_slice(&f.to_be_bytes());
        buf.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
        buf.extend_from_slice(&msg[12..q.question_end]);
        let mut b = Builder {
            buf,
            limit,
            counts: [0; 3],
            comp_hash: [0; COMP_MAX],
            comp_off: [0; COMP_MAX],
            comp_n: 0,
        };
        // The question name's suffixes are compression targets.
        let mut h = [0u32; 128];
        let mut next = 0u32;
        for i in (0..q.labels).rev() {
            let s = q.starts[i] as usize;
            next = hash_label(&q.qname[s..s + 1 + q.qname[s] as usize], next);
            h[i] = next;
        }
        let n = q.labels.min(COMP_MAX);
        b.comp_hash[..n].copy_from_slice(&h[..n]);
        for (off, &s) in b.comp_off[..n].iter_mut().zip(&q.starts) {
            *off = 12 + s as u16;
        }
        b.comp_n = n;
        b
    }

    /// Starts a response with only a header (for errors where the question could not be read).
    pub fn header_only(buf: &'a mut Vec<u8>, msg: &[u8], limit: usize) -> Builder<'a> {
        buf.clear();
        buf.extend_from_slice(&msg[..2]);
        let flags = u16::from_be_bytes([msg[2], msg[3]]);
        let f = (flags & (0x7800 | flag::RD | flag::CD)) | flag::QR;
        buf.extend_from_slice(&f.to_be_bytes());
        buf.extend_from_slice(&[0; 8]);
        Builder {
            buf,
            limit,
            counts: [0; 3],
            comp_hash: [0; COMP_MAX],
            comp_off: [0; COMP_MAX],
            comp_n: 0,
        }
    }

    /// Starts a response with a question section holding `qname` (canonical) and `qtype`
    /// (for messages dermaga originates, such as transfers and NOTIFY).
    pub fn with_question(
        buf: &'a mut Vec<u8>,
        id: u16,
        flags: u16,
        qname: &[u8],
        qtype: u16,
        limit: usize,
    ) -> Builder<'a> {
        buf.clear();
        buf.extend_from_slice(&id.to_be_bytes());
        buf.extend_from_slice(&flags.to_be_bytes());
        buf.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
        let mut b = Builder {
            buf,
            limit,
            counts: [0; 3],
            comp_hash: [0; COMP_MAX],
            comp_off: [0; COMP_MAX],
            comp_n: 0,
        };
        b.name(qname);
        b.buf.extend_from_slice(&qtype.to_be_bytes());
        b.buf.extend_from_slice(&1u16.to_be_bytes());
        b
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn count(&self, s: Section) -> u16 {
        self.counts[s as usize]
    }

    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit;
    }

    /// Sets header flag bits.
    pub fn set_flags(&mut self, bits: u16) {
        let f = u16::from_be_bytes([self.buf[2], self.buf[3]]) | bits;
        self.buf[2..4].copy_from_slice(&f.to_be_bytes());
    }

    /// Clears header flag bits.
    pub fn clear_flags(&mut self, bits: u16) {
        let f = u16::from_be_bytes([self.buf[2], self.buf[3]]) & !bits;
        self.buf[2..4].copy_from_slice(&f.to_be_bytes());
    }

    /// Sets the header's 4-bit RCODE.
    pub fn set_rcode(&mut self, rc: u16) {
        self.buf[3] = (self.buf[3] & 0xF0) | (rc & 0xF) as u8;
    }

    /// Drops every record written so far (keeps header and question).
    pub fn truncate_to(&mut self, mark: Mark) {
        self.buf.truncate(mark.len);
        self.counts = mark.counts;
        self.comp_n = mark.comp_n;
    }

    /// A point to roll back to.
    pub fn mark(&self) -> Mark {
        Mark {
            len: self.buf.len(),
            counts: self.counts,
            comp_n: self.comp_n,
        }
    }

    /// Writes `name` (uncompressed wire form, any case), compressed against earlier names.
    fn name(&mut self, name: &[u8]) {
        let mut starts = [0u8; 128];
        let n = wire::label_starts(name, &mut starts);
        let mut h = [0u32; 128];
        let mut next = 0u32;
        for i in (0..n).rev() {
            let s = starts[i] as usize;
            next = hash_label(&name[s..s + 1 + name[s] as usize], next);
            h[i] = next;
        }
        // The longest suffix already in the message.
        let mut found = None;
        'outer: for i in 0..n {
            for j in 0..self.comp_n {
                if self.comp_hash[j] == h[i]
                    && self.same_name(self.comp_off[j] as usize, &name[starts[i] as usize..])
                {
                    found = Some((i, self.comp_off[j]));
                    break 'outer;
                }
            }
        }
        let upto = found.map_or(n, |(i, _)| i);
        for i in 0..upto {
            let s = starts[i] as usize;
            let off = self.buf.len();
            if off < 0x4000 && self.comp_n < COMP_MAX {
                self.comp_hash[self.comp_n] = h[i];
                self.comp_off[self.comp_n] = off as u16;
                self.comp_n += 1;
            }
            self.buf
                .extend_from_slice(&name[s..s + 1 + name[s] as usize]);
        }
        match found {
            Some((_, off)) => self.buf.extend_from_slice(&(0xC000 | off).to_be_bytes()),
            None => self.buf.push(0),
        }
    }

    /// Whether the name at `off` in the message equals `name` (case-insensitive).
    fn same_name(&self, mut off: usize, name: &[u8]) -> bool {
        let buf = &self.buf[..];
        let mut p = 0;
        let mut hops = 0;
        loop {
            let Some(&b) = buf.get(off) else { return false };
            if b & 0xC0 == 0xC0 {
                hops += 1;
                if hops > 32 || off + 1 >= buf.len() {
                    return false;
                }
                off = (((b & 0x3F) as usize) << 8) | buf[off + 1] as usize;
                continue;
            }
            let len = b as usize;
            if p >= name.len() || name[p] as usize != len {
                return false;
            }
            if len == 0 {
                return true;
            }
            let Some(a) = buf.get(off + 1..off + 1 + len) else {
                return false;
            };
            if !wire::eq_fold(a, &name[p + 1..p + 1 + len]) {
                return false;
            }
            p += 1 + len;
            off += 1 + len;
        }
    }

    /// Writes an owner; returns what later records of the same RRset can use.
    fn owner(&mut self, owner: Owner<'_>) -> Owner<'static> {
        match owner {
            Owner::Ptr(p) => {
                self.buf.extend_from_slice(&(0xC000 | p).to_be_bytes());
                Owner::Ptr(p)
            }
            Owner::Name(n) => {
                let at = self.buf.len();
                self.name(n);
                if at < 0x4000 {
                    // A name written as a bare pointer: reuse that pointer.
                    if self.buf.len() == at + 2 && self.buf[at] & 0xC0 == 0xC0 {
                        Owner::Ptr(u16::from_be_bytes([self.buf[at] & 0x3F, self.buf[at + 1]]))
                    } else {
                        Owner::Ptr(at as u16)
                    }
                } else {
                    // Too far for a pointer: write it out again each time (rare: >16 KiB).
                    Owner::Name(&[])
                }
            }
        }
    }

    /// Appends an RRset (or its signatures) to `section`. Returns [`Full`] and writes nothing
    /// if the whole RRset does not fit within the limit.
    pub(crate) fn rrset(
        &mut self,
        section: Section,
        owner: Owner<'_>,
        rrs: Rrs<'_>,
    ) -> Result<(), Full> {
        self.rrset_ttl(section, owner, rrs, None)
    }

    /// As [`Builder::rrset`], with every record's TTL replaced when `ttl` is given.
    pub(crate) fn rrset_ttl(
        &mut self,
        section: Section,
        owner: Owner<'_>,
        rrs: Rrs<'_>,
        ttl: Option<u32>,
    ) -> Result<(), Full> {
        if rrs.count == 0 {
            return Ok(());
        }
        let mark = self.mark();
        let rtype = u16::from_be_bytes([rrs.wire[0], rrs.wire[1]]);
        let parts = compressed_names(rtype);
        // After the first record, the owner is a pointer to where it was written.
        let mut own_ptr: Option<u16> = None;
        for (h, rd) in rrs.iter() {
            match own_ptr {
                Some(p) => self.buf.extend_from_slice(&(0xC000 | p).to_be_bytes()),
                None => {
                    if let Owner::Ptr(p) = self.owner(owner) {
                        own_ptr = Some(p);
                    }
                }
            }
            self.buf.extend_from_slice(&h[..4]);
            match ttl {
                Some(t) => self.buf.extend_from_slice(&t.to_be_bytes()),
                None => self.buf.extend_from_slice(&h[4..8]),
            }
            if parts.is_empty() {
                self.buf.extend_from_slice(&h[8..10]);
                self.buf.extend_from_slice(rd);
            } else {
                let len_at = self.buf.len();
                self.buf.extend_from_slice(&[0, 0]);
                let mut p = 0;
                for part in parts {
                    match *part {
                        NamePart::Name => {
                            let end = wire::name_end(rd, p).unwrap_or(rd.len());
                            self.name(&rd[p..end]);
                            p = end;
                        }
                        NamePart::Fixed(n) => {
                            let end = (p + n).min(rd.len());
                            self.buf.extend_from_slice(&rd[p..end]);
                            p = end;
                        }
                    }
                }
                self.buf.extend_from_slice(&rd[p..]);
                let rdlen = (self.buf.len() - len_at - 2) as u16;
                self.buf[len_at..len_at + 2].copy_from_slice(&rdlen.to_be_bytes());
            }
            if self.buf.len() > self.limit {
                self.truncate_to(mark);
                return Err(Full);
            }
        }
        self.counts[section as usize] += rrs.count;
        Ok(())
    }

    /// Appends one record given by parts (for synthesised records: the CNAME of a DNAME).
    pub fn record(
        &mut self,
        section: Section,
        owner: Owner<'_>,
        rtype: u16,
        ttl: u32,
        rdata_name: &[u8],
    ) -> Result<(), Full> {
        let mark = self.mark();
        self.owner(owner);
        self.buf.extend_from_slice(&rtype.to_be_bytes());
        self.buf.extend_from_slice(&1u16.to_be_bytes());
        self.buf.extend_from_slice(&ttl.to_be_bytes());
        let len_at = self.buf.len();
        self.buf.extend_from_slice(&[0, 0]);
        if compressed_names(rtype).is_empty() {
            self.buf.extend_from_slice(rdata_name);
        } else {
            self.name(rdata_name);
        }
        let rdlen = (self.buf.len() - len_at - 2) as u16;
        self.buf[len_at..len_at + 2].copy_from_slice(&rdlen.to_be_bytes());
        if self.buf.len() > self.limit {
            self.truncate_to(mark);
            return Err(Full);
        }
        self.counts[section as usize] += 1;
        Ok(())
    }

    /// Appends raw record bytes (already complete, owner included) to a section.
    pub fn raw_record(&mut self, section: Section, bytes: &[u8]) -> Result<(), Full> {
        if self.buf.len() + bytes.len() > self.limit {
            return Err(Full);
        }
        self.buf.extend_from_slice(bytes);
        self.counts[section as usize] += 1;
        Ok(())
    }

    /// Appends an OPT record (never limited: its room is kept out of the limit by the caller).
    pub fn opt(&mut self, payload: u16, ext_rcode: u8, dnssec_ok: bool) {
        self.buf.push(0);
        self.buf
            .extend_from_slice(&crate::zone::rtype::OPT.to_be_bytes());
        self.buf.extend_from_slice(&payload.to_be_bytes());
        self.buf.push(ext_rcode);
        self.buf.push(0);
        self.buf
            .extend_from_slice(&(if dnssec_ok { 0x8000u16 } else { 0 }).to_be_bytes());
        self.buf.extend_from_slice(&[0, 0]);
        self.counts[2] += 1;
    }

    /// Writes the section counts into the header and returns the message length.
    pub fn finish(self) -> usize {
        for i in 0..3 {
            self.buf[6 + 2 * i..8 + 2 * i].copy_from_slice(&self.counts[i].to_be_bytes());
        }
        self.buf.len()
    }
}

/// A point in a response to roll back to.
#[derive(Clone, Copy, Debug)]
pub struct Mark {
    len: usize,
    counts: [u16; 3],
    comp_n: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &[u8], qtype: u16, edns: Option<(u16, bool)>) -> Vec<u8> {
        let mut m = vec![
            0x12,
            0x34,
            0x01,
            0x00,
            0,
            1,
            0,
            0,
            0,
            0,
            0,
            edns.is_some() as u8,
        ];
        m.extend_from_slice(name);
        m.extend_from_slice(&qtype.to_be_bytes());
        m.extend_from_slice(&1u16.to_be_bytes());
        if let Some((size, d)) = edns {
            m.push(0);
            m.extend_from_slice(&41u16.to_be_bytes());
            m.extend_from_slice(&size.to_be_bytes());
            m.extend_from_slice(&[0, 0, if d { 0x80 } else { 0 }, 0, 0, 0]);
        }
        m
    }

    #[test]
    fn parses_a_query_with_edns() {
        let m = query(b"\x03WwW\x07example\x03com\x00", 1, Some((4096, true)));
        let q = parse_query(&m).unwrap();
        assert_eq!(q.qname(), b"\x03www\x07example\x03com\x00");
        assert_eq!(q.labels, 3);
        assert_eq!(
            q.edns,
            Some(Edns {
                payload: 4096,
                version: 0,
                dnssec_ok: true
            })
        );
        assert_eq!(q.qtype, 1);
    }

    #[test]
    fn rejects_two_opts_and_bad_counts() {
        let mut m = query(b"\x01a\x00", 1, Some((1232, false)));
        m[11] = 2;
        m.extend_from_slice(&[0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 0]);
        assert!(matches!(
            parse_query(&m),
            Err(ParseError::FormErr {
                question_end: Some(_)
            })
        ));
        let mut m = query(b"\x01a\x00", 1, None);
        m[5] = 2;
        assert!(matches!(
            parse_query(&m),
            Err(ParseError::FormErr { question_end: None })
        ));
        assert!(matches!(parse_query(&[0; 5]), Err(ParseError::Drop)));
    }

    #[test]
    fn compresses_against_the_question() {
        let m = query(b"\x03www\x07example\x03com\x00", 1, None);
        let q = parse_query(&m).unwrap();
        let mut buf = Vec::new();
        let mut b = Builder::new(&mut buf, &m, &q, 512);
        // An NS record whose target is mail.EXAMPLE.com: the suffix compresses to offset 16.
        let mut w = vec![0, 2, 0, 1, 0, 0, 0, 60];
        let target = b"\x04mail\x07EXAMPLE\x03com\x00";
        w.extend_from_slice(&(target.len() as u16).to_be_bytes());
        w.extend_from_slice(target);
        let rrs = Rrs { count: 1, wire: &w };
        b.rrset(Section::Answer, Owner::Name(b"\x07example\x03com\x00"), rrs)
            .unwrap();
        let len = b.finish();
        let tail = &buf[m.len()..len];
        // owner: pointer to "example.com" in the question (12 + 4)
        assert_eq!(&tail[..2], &[0xC0, 16]);
        // rdata: "mail" then pointer to 16
        assert_eq!(&tail[10..12], &[0, 7]);
        assert_eq!(&tail[12..], b"\x04mail\xC0\x10");
    }
}
