//! Base16, Base64 and Base32hex decoding for rdata fields that may span several tokens.
//!
//! Each decoder keeps its state across tokens and appends to the rdata buffer directly.

/// Decodes hex digits (any number of tokens); call `finish` at the end.
pub(crate) struct Hex {
    half: Option<u8>,
}

impl Hex {
    pub fn new() -> Self {
        Hex { half: None }
    }

    pub fn push(&mut self, text: &[u8], out: &mut Vec<u8>) -> Result<(), &'static str> {
        for &c in text {
            let v = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                b'A'..=b'F' => c - b'A' + 10,
                _ => return Err("invalid hex digit"),
            };
            match self.half.take() {
                Some(h) => out.push(h << 4 | v),
                None => self.half = Some(v),
            }
        }
        Ok(())
    }

    pub fn finish(self) -> Result<(), &'static str> {
        match self.half {
            Some(_) => Err("odd number of hex digits"),
            None => Ok(()),
        }
    }
}

/// Decodes Base64 (RFC 4648 §4, padding required as DNSSEC presentation formats have it).
pub(crate) struct Base64 {
    acc: u32,
    bits: u32,
    pad: u32,
    count: usize,
}

impl Base64 {
    pub fn new() -> Self {
        Base64 {
            acc: 0,
            bits: 0,
            pad: 0,
            count: 0,
        }
    }

    pub fn push(&mut self, text: &[u8], out: &mut Vec<u8>) -> Result<(), &'static str> {
        for &c in text {
            self.count += 1;
            if c == b'=' {
                self.pad += 1;
                if self.pad > 2 {
                    return Err("invalid base64 padding");
                }
                continue;
            }
            if self.pad > 0 {
                return Err("base64 data after padding");
            }
            let v = match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a' + 26,
                b'0'..=b'9' => c - b'0' + 52,
                b'+' => 62,
                b'/' => 63,
                _ => return Err("invalid base64 character"),
            };
            self.acc = (self.acc << 6) | u32::from(v);
            self.bits += 6;
            if self.bits >= 8 {
                self.bits -= 8;
                out.push((self.acc >> self.bits) as u8);
                self.acc &= (1 << self.bits) - 1;
            }
        }
        Ok(())
    }

    pub fn finish(self) -> Result<(), &'static str> {
        if self.count % 4 != 0 {
            return Err("base64 data is not a multiple of 4 characters");
        }
        Ok(())
    }
}

/// Decodes one Base32hex token without padding (RFC 4648 §7; NSEC3 next hashed owner).
pub(crate) fn base32hex(text: &[u8], out: &mut Vec<u8>) -> Result<(), &'static str> {
    let mut acc: u64 = 0;
    let mut bits = 0;
    for &c in text {
        let v = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'v' => c - b'a' + 10,
            b'A'..=b'V' => c - b'A' + 10,
            _ => return Err("invalid base32hex character"),
        };
        acc = (acc << 5) | u64::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    if acc != 0 || bits >= 5 {
        return Err("invalid base32hex length");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoders() {
        let mut out = Vec::new();
        let mut b = Base64::new();
        b.push(b"aGVs", &mut out).unwrap();
        b.push(b"bG8=", &mut out).unwrap();
        b.finish().unwrap();
        assert_eq!(out, b"hello");
        out.clear();
        base32hex(b"CPNMUOJ1E8", &mut out).unwrap();
        assert_eq!(out, b"foobar");
        out.clear();
        let mut h = Hex::new();
        h.push(b"0a0", &mut out).unwrap();
        h.push(b"B", &mut out).unwrap();
        h.finish().unwrap();
        assert_eq!(out, [0x0a, 0x0b]);
    }
}
