//! Domain names in presentation form, written straight into wire form.

use bytes::Bytes;
use domain::base::Name;

/// The longest name in wire form (RFC 1035 §3.1).
pub(crate) const MAX_NAME_LEN: usize = 255;

/// A name in wire form on the stack, so a name costs no allocation until it is kept.
pub(crate) struct NameBuf {
    pub buf: [u8; MAX_NAME_LEN],
    pub len: usize,
}

impl NameBuf {
    pub fn new() -> Self {
        NameBuf {
            buf: [0; MAX_NAME_LEN],
            len: 0,
        }
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// Decodes one escape at `text[i]` (a backslash): `\DDD` or `\X`. Returns the byte and the
/// number of input bytes used.
pub(crate) fn unescape(text: &[u8], i: usize) -> Result<(u8, usize), &'static str> {
    match text.get(i + 1) {
        None => Err("backslash at the end of a token"),
        Some(d) if d.is_ascii_digit() => {
            let digits = text
                .get(i + 1..i + 4)
                .filter(|d| d.iter().all(u8::is_ascii_digit));
            match digits {
                Some(d) => {
                    let v = u32::from(d[0] - b'0') * 100
                        + u32::from(d[1] - b'0') * 10
                        + u32::from(d[2] - b'0');
                    u8::try_from(v)
                        .map(|b| (b, 4))
                        .map_err(|_| "escape \\DDD above \\255")
                }
                None => Err("escape \\DDD needs exactly three digits"),
            }
        }
        Some(&c) => Ok((c, 2)),
    }
}

/// Parses a name token into `out`. `@` is the origin; names without a final dot are relative
/// to `origin` (wire form, absolute), which must then be present.
pub(crate) fn parse_into(
    text: &[u8],
    origin: Option<&[u8]>,
    out: &mut NameBuf,
) -> Result<(), &'static str> {
    if text == b"@" {
        let origin = origin.ok_or("'@' used but no origin is known (no $ORIGIN and none given)")?;
        out.buf[..origin.len()].copy_from_slice(origin);
        out.len = origin.len();
        return Ok(());
    }
    if text == b"." {
        out.buf[0] = 0;
        out.len = 1;
        return Ok(());
    }
    if text.is_empty() {
        return Err("empty domain name");
    }
    let buf = &mut out.buf;
    let mut label_start = 0;
    let mut len = 1;
    let mut label_len = 0u8;
    let mut ended_with_dot = false;
    let mut i = 0;
    while i < text.len() {
        let c = text[i];
        if c == b'.' {
            if label_len == 0 {
                return Err("empty label in domain name");
            }
            buf[label_start] = label_len;
            if len >= MAX_NAME_LEN {
                return Err("domain name longer than 255 octets");
            }
            label_start = len;
            len += 1;
            label_len = 0;
            i += 1;
            ended_with_dot = i == text.len();
            continue;
        }
        let (byte, used) = if c == b'\\' {
            unescape(text, i)?
        } else {
            (c, 1)
        };
        i += used;
        if label_len == 63 {
            return Err("label longer than 63 octets");
        }
        if len >= MAX_NAME_LEN {
            return Err("domain name longer than 255 octets");
        }
        buf[len] = byte;
        len += 1;
        label_len += 1;
    }
    if ended_with_dot {
        buf[label_start] = 0;
        out.len = len;
        return Ok(());
    }
    buf[label_start] = label_len;
    let origin =
        origin.ok_or("relative domain name but no origin is known (no $ORIGIN and none given)")?;
    if len + origin.len() > MAX_NAME_LEN {
        return Err("domain name longer than 255 octets");
    }
    buf[len..len + origin.len()].copy_from_slice(origin);
    out.len = len + origin.len();
    Ok(())
}

/// Length of the (trusted, uncompressed) wire name at the start of `wire`.
pub(crate) fn wire_len(wire: &[u8]) -> usize {
    let mut p = 0;
    while p < wire.len() {
        let l = wire[p] as usize;
        p += 1 + l;
        if l == 0 {
            break;
        }
    }
    p
}

/// A wire name held in shared octets. The caller guarantees the octets are a valid absolute
/// name (this module wrote them).
pub(crate) fn name_from_wire(octets: Bytes) -> Name<Bytes> {
    debug_assert!(Name::from_octets(octets.clone()).is_ok());
    // SAFETY: `parse_into` (or `Name` validation for generic rdata) produced valid wire names.
    unsafe { Name::from_octets_unchecked(octets) }
}

/// Parses an absolute name for command lines and configuration files (a missing final dot is
/// implied).
pub(crate) fn parse_absolute(text: &[u8]) -> Result<Name<Bytes>, String> {
    let mut nb = NameBuf::new();
    parse_into(text, Some(&[0]), &mut nb)
        .map_err(|e| format!("{e}: {}", String::from_utf8_lossy(text)))?;
    Ok(name_from_wire(Bytes::copy_from_slice(nb.as_slice())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, origin: &[u8]) -> Result<Vec<u8>, &'static str> {
        let mut nb = NameBuf::new();
        parse_into(text.as_bytes(), Some(origin), &mut nb).map(|()| nb.as_slice().to_vec())
    }

    #[test]
    fn relative_absolute_and_escapes() {
        let org = b"\x03com\x00";
        assert_eq!(parse("a.b", org).unwrap(), b"\x01a\x01b\x03com\x00");
        assert_eq!(parse("a.", org).unwrap(), b"\x01a\x00");
        assert_eq!(parse("@", org).unwrap(), org);
        assert_eq!(parse(".", org).unwrap(), b"\x00");
        assert_eq!(parse("a\\.b.", org).unwrap(), b"\x03a.b\x00");
        assert_eq!(parse("\\065.", org).unwrap(), b"\x01A\x00");
        assert_eq!(parse("a..b", org), Err("empty label in domain name"));
        assert_eq!(parse("\\256.", org), Err("escape \\DDD above \\255"));
        assert_eq!(
            parse(&"x".repeat(64), org),
            Err("label longer than 63 octets")
        );
        let long = vec!["a".repeat(63); 4].join(".");
        assert_eq!(
            parse(&(long + "."), org),
            Err("domain name longer than 255 octets")
        );
    }
}
