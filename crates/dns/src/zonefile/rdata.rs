//! Record data: presentation form to wire form, and wire form to `domain` record data.
//!
//! Every type is first written in wire form into a reused buffer; the loader then copies it
//! into its arena and [`to_record_data`] wraps the shared octets in `domain`'s types without
//! copying again. The RFC 3597 generic form (`\# len hex`) yields the same wire form for any
//! type, so both paths meet there.

use std::borrow::Cow;
use std::net::{Ipv4Addr, Ipv6Addr};

use bytes::Bytes;
use domain::base::charstr::CharStr;
use domain::base::iana::{Rtype, SecurityAlgorithm};
use domain::base::name::FlattenInto;
use domain::base::rdata::UnknownRecordData;
use domain::base::{Name, ParseRecordData, Serial, Ttl};
use domain::dep::octseq::Parser;
use domain::rdata::dnssec::{RtypeBitmap, Timestamp};
use domain::rdata::svcb::SvcParams;
use domain::rdata::{
    Cname, Dname, Https, Mx, Naptr, Ns, Nsec, Ptr, Rrsig, Soa, Srv, Svcb, ZoneRecordData,
};

use super::encoding::{base32hex, Base64, Hex};
use super::lexer::Token;
use super::names::{self, name_from_wire, NameBuf};
use super::{svcb, RecordData};

/// Where rdata parsing failed: the index of the offending token (the number of tokens when one
/// is missing) and what went wrong.
pub(crate) struct Fail {
    pub at: usize,
    pub message: Cow<'static, str>,
}

pub(crate) type Result<T> = std::result::Result<T, Fail>;

fn fail<T>(at: usize, message: impl Into<Cow<'static, str>>) -> Result<T> {
    Err(Fail {
        at,
        message: message.into(),
    })
}

/// The rdata tokens of one record and the buffer they point into.
pub(crate) struct Rd<'a> {
    pub buf: &'a [u8],
    pub toks: &'a [Token],
    pub i: usize,
    pub origin: Option<&'a [u8]>,
    pub out: &'a mut Vec<u8>,
    pub scratch: &'a mut Vec<u8>,
}

impl<'a> Rd<'a> {
    fn text(&self, t: &Token) -> &'a [u8] {
        &self.buf[t.start..t.end]
    }

    fn more(&self) -> bool {
        self.i < self.toks.len()
    }

    /// The next token, or an error naming what is missing.
    fn next(&mut self, what: &str) -> Result<(usize, Token)> {
        match self.toks.get(self.i) {
            Some(t) => {
                self.i += 1;
                Ok((self.i - 1, *t))
            }
            None => fail(self.i, format!("missing {what}")),
        }
    }

    fn end(&self) -> Result<()> {
        if self.more() {
            fail(self.i, "trailing data after the record data")
        } else {
            Ok(())
        }
    }

    fn plain(&mut self, what: &str) -> Result<(usize, &'a [u8])> {
        let (i, t) = self.next(what)?;
        if t.escaped {
            return fail(i, format!("invalid {what}: escapes are not allowed here"));
        }
        Ok((i, self.text(&t)))
    }

    fn number(&mut self, what: &str, max: u64) -> Result<u64> {
        let (i, text) = self.plain(what)?;
        match parse_decimal(text) {
            Some(v) if v <= max => Ok(v),
            Some(_) => fail(i, format!("{what} out of range (at most {max})")),
            None => fail(
                i,
                format!("invalid {what}: '{}'", String::from_utf8_lossy(text)),
            ),
        }
    }

    fn u8(&mut self, what: &str) -> Result<u8> {
        let v = self.number(what, u8::MAX.into())? as u8;
        self.out.push(v);
        Ok(v)
    }

    fn u16(&mut self, what: &str) -> Result<u16> {
        let v = self.number(what, u16::MAX.into())? as u16;
        self.out.extend_from_slice(&v.to_be_bytes());
        Ok(v)
    }

    fn u32(&mut self, what: &str) -> Result<()> {
        let v = self.number(what, u32::MAX.into())? as u32;
        self.out.extend_from_slice(&v.to_be_bytes());
        Ok(())
    }

    /// A TTL-like 32-bit field (TTL units allowed), as in SOA timers and RRSIG's original TTL.
    fn period(&mut self, what: &str) -> Result<()> {
        let (i, text) = self.plain(what)?;
        match parse_ttl(text) {
            Ok(v) => {
                self.out.extend_from_slice(&v.to_be_bytes());
                Ok(())
            }
            Err(e) => fail(i, format!("invalid {what}: {e}")),
        }
    }

    fn name(&mut self, what: &str) -> Result<()> {
        let (i, t) = self.next(what)?;
        if t.quoted {
            return fail(i, format!("{what} must not be quoted"));
        }
        let mut nb = NameBuf::new();
        names::parse_into(self.text(&t), self.origin, &mut nb).map_err(|e| Fail {
            at: i,
            message: e.into(),
        })?;
        self.out.extend_from_slice(nb.as_slice());
        Ok(())
    }

    /// Decodes a token's escapes into `scratch`.
    fn decode(&mut self, i: usize, t: &Token) -> Result<()> {
        let text = self.text(t);
        self.scratch.clear();
        if !t.escaped {
            self.scratch.extend_from_slice(text);
            return Ok(());
        }
        let mut p = 0;
        while p < text.len() {
            if text[p] == b'\\' {
                let (b, used) = names::unescape(text, p).map_err(|e| Fail {
                    at: i,
                    message: e.into(),
                })?;
                self.scratch.push(b);
                p += used;
            } else {
                self.scratch.push(text[p]);
                p += 1;
            }
        }
        Ok(())
    }

    /// One character string (RFC 1035 §3.3): a length octet and at most 255 octets.
    fn charstr(&mut self, what: &str) -> Result<()> {
        let (i, t) = self.next(what)?;
        self.charstr_token(i, &t)
    }

    fn charstr_token(&mut self, i: usize, t: &Token) -> Result<()> {
        self.decode(i, t)?;
        if self.scratch.len() > 255 {
            return fail(
                i,
                format!("text string is {} octets long, longer than 255: split it into several quoted strings", self.scratch.len()),
            );
        }
        self.out.push(self.scratch.len() as u8);
        self.out.extend_from_slice(self.scratch);
        Ok(())
    }

    /// The remaining tokens as hex; `allow_empty` lets none follow (`-`-less fields).
    fn hex_rest(&mut self, what: &str, allow_empty: bool) -> Result<()> {
        if !self.more() && !allow_empty {
            return fail(self.i, format!("missing {what}"));
        }
        let mut hex = Hex::new();
        let mut last = self.i;
        while self.more() {
            let (i, text) = self.plain(what)?;
            last = i;
            hex.push(text, self.out).map_err(|e| Fail {
                at: i,
                message: format!("{what}: {e}").into(),
            })?;
        }
        hex.finish().map_err(|e| Fail {
            at: last,
            message: format!("{what}: {e}").into(),
        })
    }

    fn base64_rest(&mut self, what: &str) -> Result<()> {
        if !self.more() {
            return fail(self.i, format!("missing {what}"));
        }
        let mut b64 = Base64::new();
        let mut last = self.i;
        while self.more() {
            let (i, text) = self.plain(what)?;
            last = i;
            b64.push(text, self.out).map_err(|e| Fail {
                at: i,
                message: format!("{what}: {e}").into(),
            })?;
        }
        b64.finish().map_err(|e| Fail {
            at: last,
            message: format!("{what}: {e}").into(),
        })
    }

    fn algorithm(&mut self) -> Result<u8> {
        let (i, text) = self.plain("algorithm")?;
        let v = match parse_decimal(text) {
            Some(v) if v <= 255 => v as u8,
            Some(_) => return fail(i, "algorithm out of range (at most 255)"),
            None => match SecurityAlgorithm::from_mnemonic(text) {
                Some(a) => a.to_int(),
                None => {
                    return fail(
                        i,
                        format!("unknown algorithm '{}'", String::from_utf8_lossy(text)),
                    )
                }
            },
        };
        self.out.push(v);
        Ok(v)
    }

    fn rtype(&mut self, what: &str) -> Result<Rtype> {
        let (i, text) = self.plain(what)?;
        match rtype_from_text(text) {
            Some(t) => Ok(t),
            None => fail(
                i,
                format!("unknown type '{}'", String::from_utf8_lossy(text)),
            ),
        }
    }

    /// The remaining tokens as a type bitmap (RFC 4034 §4.1.2).
    fn type_bitmap(&mut self) -> Result<()> {
        let mut types: Vec<u16> = Vec::new();
        while self.more() {
            types.push(self.rtype("type")?.to_int());
        }
        types.sort_unstable();
        types.dedup();
        let mut k = 0;
        while k < types.len() {
            let window = (types[k] >> 8) as u8;
            let mut bits = [0u8; 32];
            let mut len = 0;
            while k < types.len() && (types[k] >> 8) as u8 == window {
                let low = (types[k] & 0xff) as usize;
                bits[low / 8] |= 0x80 >> (low % 8);
                len = low / 8 + 1;
                k += 1;
            }
            self.out.push(window);
            self.out.push(len as u8);
            self.out.extend_from_slice(&bits[..len]);
        }
        Ok(())
    }

    /// An RRSIG time: `YYYYMMDDHHmmSS` or seconds since the epoch.
    fn timestamp(&mut self, what: &str) -> Result<()> {
        let (i, text) = self.plain(what)?;
        let v = if text.len() == 14 {
            parse_datetime(text)
        } else {
            parse_decimal(text).filter(|v| *v <= u64::from(u32::MAX))
        };
        match v {
            Some(v) => {
                // Serial arithmetic (RFC 4034 §3.1.5): times wrap modulo 2^32.
                self.out.extend_from_slice(&(v as u32).to_be_bytes());
                Ok(())
            }
            None => fail(
                i,
                format!("invalid {what}: expected YYYYMMDDHHmmSS or seconds"),
            ),
        }
    }

    /// NSEC3 salt: `-` for none, else hex with a length octet.
    fn salt(&mut self) -> Result<()> {
        let (i, text) = self.plain("salt")?;
        if text == b"-" {
            self.out.push(0);
            return Ok(());
        }
        let at = self.out.len();
        self.out.push(0);
        let mut hex = Hex::new();
        hex.push(text, self.out)
            .and_then(|()| hex.finish())
            .map_err(|e| Fail {
                at: i,
                message: format!("salt: {e}").into(),
            })?;
        let len = self.out.len() - at - 1;
        if len > 255 {
            return fail(i, "salt longer than 255 octets");
        }
        self.out[at] = len as u8;
        Ok(())
    }
}

/// Decimal digits only, no sign, no overflow past u64.
pub(crate) fn parse_decimal(text: &[u8]) -> Option<u64> {
    if text.is_empty() || text.len() > 19 {
        return None;
    }
    let mut v = 0u64;
    for &c in text {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u64::from(c - b'0');
    }
    Some(v)
}

/// A TTL: seconds, or numbers with units `s m h d w` in any case (`1h30m`, `1W`).
pub(crate) fn parse_ttl(text: &[u8]) -> std::result::Result<u32, &'static str> {
    if text.is_empty() {
        return Err("empty TTL");
    }
    if let Some(v) = parse_decimal(text) {
        return u32::try_from(v).map_err(|_| "TTL above 4294967295");
    }
    let mut total: u64 = 0;
    let mut cur: Option<u64> = None;
    for &c in text {
        if c.is_ascii_digit() {
            let v = cur.unwrap_or(0) * 10 + u64::from(c - b'0');
            if v > u64::from(u32::MAX) {
                return Err("TTL above 4294967295");
            }
            cur = Some(v);
            continue;
        }
        let unit = match c.to_ascii_lowercase() {
            b's' => 1,
            b'm' => 60,
            b'h' => 3600,
            b'd' => 86400,
            b'w' => 604800,
            _ => return Err("expected digits and the units s, m, h, d, w"),
        };
        let n = cur.take().ok_or("a TTL unit must follow a number")?;
        total += n * unit;
        if total > u64::from(u32::MAX) {
            return Err("TTL above 4294967295");
        }
    }
    if cur.is_some() {
        return Err("a number after a unit needs a unit too");
    }
    Ok(total as u32)
}

/// `YYYYMMDDHHmmSS` (UTC) to seconds since the epoch.
fn parse_datetime(text: &[u8]) -> Option<u64> {
    let d = |a: usize, b: usize| parse_decimal(&text[a..b]);
    let (y, mo, da, h, mi, s) = (
        d(0, 4)?,
        d(4, 6)?,
        d(6, 8)?,
        d(8, 10)?,
        d(10, 12)?,
        d(12, 14)?,
    );
    if !(1970..=9999).contains(&y)
        || !(1..=12).contains(&mo)
        || !(1..=31).contains(&da)
        || h > 23
        || mi > 59
        || s > 60
    {
        return None;
    }
    // Days from the civil date (proleptic Gregorian), after H. Hinnant's algorithm.
    let y = if mo <= 2 { y - 1 } else { y } as i64;
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + da as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    Some(days as u64 * 86400 + h * 3600 + mi * 60 + s)
}

/// A type from its mnemonic (any case) or `TYPEnnn`.
pub(crate) fn rtype_from_text(text: &[u8]) -> Option<Rtype> {
    if text.len() > 4 && text[..4].eq_ignore_ascii_case(b"TYPE") {
        return parse_decimal(&text[4..])
            .filter(|v| *v <= 65535)
            .map(|v| Rtype::from_int(v as u16));
    }
    let mut up = [0u8; 12];
    if text.len() > up.len() {
        return None;
    }
    for (u, c) in up.iter_mut().zip(text) {
        *u = c.to_ascii_uppercase();
    }
    Some(match &up[..text.len()] {
        b"A" => Rtype::A,
        b"NS" => Rtype::NS,
        b"CNAME" => Rtype::CNAME,
        b"SOA" => Rtype::SOA,
        b"PTR" => Rtype::PTR,
        b"MX" => Rtype::MX,
        b"TXT" => Rtype::TXT,
        b"AAAA" => Rtype::AAAA,
        b"SRV" => Rtype::SRV,
        b"RRSIG" => Rtype::RRSIG,
        b"NSEC" => Rtype::NSEC,
        b"DS" => Rtype::DS,
        b"DNSKEY" => Rtype::DNSKEY,
        _ => return Rtype::from_mnemonic(text),
    })
}

/// Whether rdata of this type may be written in its own presentation form here.
pub(crate) fn has_text_form(rtype: Rtype) -> bool {
    matches!(
        rtype,
        Rtype::A
            | Rtype::NS
            | Rtype::CNAME
            | Rtype::SOA
            | Rtype::PTR
            | Rtype::MX
            | Rtype::TXT
            | Rtype::SPF
            | Rtype::AAAA
            | Rtype::SRV
            | Rtype::NAPTR
            | Rtype::CAA
            | Rtype::SSHFP
            | Rtype::TLSA
            | Rtype::HINFO
            | Rtype::DNAME
            | Rtype::SVCB
            | Rtype::HTTPS
            | Rtype::DS
            | Rtype::CDS
            | Rtype::DNSKEY
            | Rtype::CDNSKEY
            | Rtype::RRSIG
            | Rtype::NSEC
            | Rtype::NSEC3
            | Rtype::NSEC3PARAM
            | Rtype::RP
    )
}

/// Writes the wire form of `rtype`'s rdata, given in presentation form, into `rd.out`.
pub(crate) fn parse_text(rtype: Rtype, rd: &mut Rd<'_>) -> Result<()> {
    match rtype {
        Rtype::A => {
            let (i, text) = rd.plain("IPv4 address")?;
            let addr = std::str::from_utf8(text).ok().and_then(|s| s.parse::<Ipv4Addr>().ok());
            match addr {
                Some(a) => rd.out.extend_from_slice(&a.octets()),
                None => return fail(i, format!("invalid IPv4 address '{}'", String::from_utf8_lossy(text))),
            }
        }
        Rtype::AAAA => {
            let (i, text) = rd.plain("IPv6 address")?;
            let addr = std::str::from_utf8(text).ok().and_then(|s| s.parse::<Ipv6Addr>().ok());
            match addr {
                Some(a) => rd.out.extend_from_slice(&a.octets()),
                None => return fail(i, format!("invalid IPv6 address '{}'", String::from_utf8_lossy(text))),
            }
        }
        Rtype::NS | Rtype::CNAME | Rtype::PTR | Rtype::DNAME => rd.name("target name")?,
        Rtype::MX => {
            rd.u16("preference")?;
            rd.name("mail exchange")?;
        }
        Rtype::SOA => {
            rd.name("primary name server (MNAME)")?;
            rd.name("mailbox (RNAME)")?;
            rd.u32("serial")?;
            rd.period("refresh")?;
            rd.period("retry")?;
            rd.period("expire")?;
            rd.period("minimum")?;
        }
        Rtype::TXT | Rtype::SPF => {
            rd.charstr("text")?;
            while rd.more() {
                rd.charstr("text")?;
            }
        }
        Rtype::HINFO => {
            rd.charstr("CPU")?;
            rd.charstr("OS")?;
        }
        Rtype::SRV => {
            rd.u16("priority")?;
            rd.u16("weight")?;
            rd.u16("port")?;
            rd.name("target")?;
        }
        Rtype::NAPTR => {
            rd.u16("order")?;
            rd.u16("preference")?;
            rd.charstr("flags")?;
            rd.charstr("services")?;
            rd.charstr("regexp")?;
            rd.name("replacement")?;
        }
        Rtype::CAA => {
            rd.u8("flags")?;
            let (i, t) = rd.next("tag")?;
            let tag = rd.text(&t);
            if t.escaped || tag.is_empty() || !tag.iter().all(u8::is_ascii_alphanumeric) {
                return fail(i, "CAA tag must be letters and digits");
            }
            if tag.len() > 255 {
                return fail(i, "CAA tag longer than 255 octets");
            }
            rd.out.push(tag.len() as u8);
            rd.out.extend_from_slice(tag);
            let (i, t) = rd.next("value")?;
            rd.decode(i, &t)?;
            rd.out.extend_from_slice(rd.scratch);
        }
        Rtype::SSHFP => {
            rd.u8("algorithm")?;
            rd.u8("fingerprint type")?;
            rd.hex_rest("fingerprint", false)?;
        }
        Rtype::TLSA => {
            rd.u8("certificate usage")?;
            rd.u8("selector")?;
            rd.u8("matching type")?;
            rd.hex_rest("certificate association data", false)?;
        }
        Rtype::DS | Rtype::CDS => {
            rd.u16("key tag")?;
            rd.algorithm()?;
            rd.u8("digest type")?;
            rd.hex_rest("digest", false)?;
        }
        Rtype::DNSKEY | Rtype::CDNSKEY => {
            rd.u16("flags")?;
            rd.u8("protocol")?;
            rd.algorithm()?;
            rd.base64_rest("public key")?;
        }
        Rtype::RRSIG => {
            let covered = rd.rtype("type covered")?;
            rd.out.extend_from_slice(&covered.to_int().to_be_bytes());
            rd.algorithm()?;
            rd.u8("labels")?;
            rd.period("original TTL")?;
            rd.timestamp("signature expiration")?;
            rd.timestamp("signature inception")?;
            rd.u16("key tag")?;
            rd.name("signer's name")?;
            rd.base64_rest("signature")?;
        }
        Rtype::NSEC => {
            rd.name("next domain name")?;
            rd.type_bitmap()?;
        }
        Rtype::NSEC3 => {
            rd.u8("hash algorithm")?;
            rd.u8("flags")?;
            rd.u16("iterations")?;
            rd.salt()?;
            let (i, text) = rd.plain("next hashed owner name")?;
            let at = rd.out.len();
            rd.out.push(0);
            base32hex(text, rd.out).map_err(|e| Fail { at: i, message: format!("next hashed owner name: {e}").into() })?;
            let len = rd.out.len() - at - 1;
            if len == 0 || len > 255 {
                return fail(i, "next hashed owner name must be 1 to 255 octets");
            }
            rd.out[at] = len as u8;
            rd.type_bitmap()?;
        }
        Rtype::NSEC3PARAM => {
            rd.u8("hash algorithm")?;
            rd.u8("flags")?;
            rd.u16("iterations")?;
            rd.salt()?;
        }
        Rtype::SVCB | Rtype::HTTPS => {
            rd.u16("priority")?;
            rd.name("target name")?;
            svcb::parse_params(rd)?;
        }
        Rtype::RP => {
            rd.name("mailbox")?;
            rd.name("TXT domain name")?;
        }
        _ => return fail(rd.i, format!("type {rtype} has no presentation form here; use the RFC 3597 form (\\# length hex)")),
    }
    rd.end()
}

/// Parses the RFC 3597 generic form after `\#`: a length, then that many octets in hex.
pub(crate) fn parse_generic(rd: &mut Rd<'_>) -> Result<()> {
    let (i, text) = rd.plain("rdata length")?;
    let len = match parse_decimal(text) {
        Some(v) if v <= 65535 => v as usize,
        _ => return fail(i, "invalid rdata length after \\#"),
    };
    let before = rd.out.len();
    rd.hex_rest("rdata", true)?;
    let got = rd.out.len() - before;
    if got != len {
        return fail(i, format!("\\# says {len} octets but {got} follow"));
    }
    Ok(())
}

/// Wraps wire rdata in `domain`'s record data. `trusted` says this module wrote the wire form
/// (names valid and uncompressed); otherwise (the generic form) it is checked by `domain`'s
/// parser first.
pub(crate) fn to_record_data(
    rtype: Rtype,
    data: Bytes,
    trusted: bool,
) -> std::result::Result<RecordData, String> {
    if !trusted {
        return from_untrusted_wire(rtype, data);
    }
    let name_at = |from: usize| -> (Name<Bytes>, usize) {
        let len = names::wire_len(&data[from..]);
        (name_from_wire(data.slice(from..from + len)), from + len)
    };
    let u16_at = |at: usize| u16::from_be_bytes([data[at], data[at + 1]]);
    let u32_at =
        |at: usize| u32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
    Ok(match rtype {
        Rtype::NS => ZoneRecordData::Ns(Ns::new(name_at(0).0)),
        Rtype::CNAME => ZoneRecordData::Cname(Cname::new(name_at(0).0)),
        Rtype::PTR => ZoneRecordData::Ptr(Ptr::new(name_at(0).0)),
        Rtype::DNAME => ZoneRecordData::Dname(Dname::new(name_at(0).0)),
        Rtype::MX => ZoneRecordData::Mx(Mx::new(u16_at(0), name_at(2).0)),
        Rtype::SRV => ZoneRecordData::Srv(Srv::new(u16_at(0), u16_at(2), u16_at(4), name_at(6).0)),
        Rtype::SOA => {
            let (mname, p) = name_at(0);
            let (rname, p) = name_at(p);
            ZoneRecordData::Soa(Soa::new(
                mname,
                rname,
                Serial(u32_at(p)),
                Ttl::from_secs(u32_at(p + 4)),
                Ttl::from_secs(u32_at(p + 8)),
                Ttl::from_secs(u32_at(p + 12)),
                Ttl::from_secs(u32_at(p + 16)),
            ))
        }
        Rtype::NAPTR => {
            let mut p = 4;
            let mut cs = || {
                let len = data[p] as usize;
                let s = data.slice(p + 1..p + 1 + len);
                p += 1 + len;
                // SAFETY: at most 255 octets, written by `charstr`.
                unsafe { CharStr::from_octets_unchecked(s) }
            };
            let (flags, services, regexp) = (cs(), cs(), cs());
            let (replacement, _) = name_at(p);
            ZoneRecordData::Naptr(Naptr::new(
                u16_at(0),
                u16_at(2),
                flags,
                services,
                regexp,
                replacement,
            ))
        }
        Rtype::RRSIG => {
            let (signer, p) = name_at(18);
            let rrsig = Rrsig::new(
                Rtype::from_int(u16_at(0)),
                SecurityAlgorithm::from_int(data[2]),
                data[3],
                Ttl::from_secs(u32_at(4)),
                Timestamp::from(u32_at(8)),
                Timestamp::from(u32_at(12)),
                u16_at(16),
                signer,
                data.slice(p..),
            )
            .map_err(|e| e.to_string())?;
            ZoneRecordData::Rrsig(rrsig)
        }
        Rtype::NSEC => {
            let (next, p) = name_at(0);
            let types = RtypeBitmap::from_octets(data.slice(p..)).map_err(|e| e.to_string())?;
            ZoneRecordData::Nsec(Nsec::new(next, types))
        }
        Rtype::SVCB | Rtype::HTTPS => {
            let (target, p) = name_at(2);
            let params = SvcParams::from_octets(data.slice(p..))
                .map_err(|_| "invalid service parameters".to_string())?;
            if rtype == Rtype::SVCB {
                ZoneRecordData::Svcb(
                    Svcb::new(u16_at(0), target, params).map_err(|e| e.to_string())?,
                )
            } else {
                ZoneRecordData::Https(
                    Https::new(u16_at(0), target, params).map_err(|e| e.to_string())?,
                )
            }
        }
        _ => return from_untrusted_wire(rtype, data),
    })
}

/// `domain`'s own wire parser over the rdata; names get flattened (this path is for types
/// without names or for the generic form).
fn from_untrusted_wire(rtype: Rtype, data: Bytes) -> std::result::Result<RecordData, String> {
    let mut parser = Parser::from_ref(&data);
    let parsed =
        ZoneRecordData::<Bytes, domain::base::ParsedName<Bytes>>::parse_rdata(rtype, &mut parser)
            .map_err(|e| format!("rdata is not valid {rtype} data: {e}"))?;
    if parser.remaining() != 0 {
        return Err(format!(
            "rdata is not valid {rtype} data: {} octets left over",
            parser.remaining()
        ));
    }
    match parsed {
        Some(data) => {
            FlattenInto::try_flatten_into(data).map_err(|_| format!("invalid {rtype} rdata"))
        }
        None => Ok(ZoneRecordData::Unknown(
            UnknownRecordData::from_octets(rtype, data).map_err(|e| e.to_string())?,
        )),
    }
}
