//! Names on the wire: the few operations the answer path needs, on plain byte slices.
//!
//! Inside the zone index every name is kept as its uncompressed wire form, lower-cased
//! ("canonical" form, RFC 4034 §6.2), so that a lookup is one hash of a byte slice. Owner
//! names that go back to clients keep the case they were written with.

use std::cmp::Ordering;

/// The longest name on the wire, in octets (RFC 1035 §3.1).
pub const MAX_NAME_LEN: usize = 255;

/// Lower-cases ASCII letters; other octets unchanged (DNS case folding, RFC 4343).
#[inline]
pub fn fold(b: u8) -> u8 {
    b.to_ascii_lowercase()
}

/// The canonical (lower-cased) copy of an uncompressed wire name.
pub fn canonical(name: &[u8]) -> Box<[u8]> {
    name.iter().map(|&b| fold(b)).collect()
}

/// Offsets of each label's length octet in an uncompressed wire name, the root label excluded.
/// Returns the number of labels written to `out`.
pub fn label_starts(name: &[u8], out: &mut [u8; 128]) -> usize {
    let mut n = 0;
    let mut pos = 0;
    while pos < name.len() {
        let len = name[pos] as usize;
        if len == 0 {
            break;
        }
        out[n] = pos as u8;
        n += 1;
        pos += len + 1;
    }
    n
}

/// The number of labels of a wire name, the root label excluded.
pub fn label_count(name: &[u8]) -> usize {
    let mut n = 0;
    let mut pos = 0;
    while pos < name.len() && name[pos] != 0 {
        n += 1;
        pos += name[pos] as usize + 1;
    }
    n
}

/// Whether `name` equals `suffix` or ends with it on a label boundary (both canonical).
pub fn is_subdomain(name: &[u8], suffix: &[u8]) -> bool {
    if suffix.len() > name.len() {
        return false;
    }
    let start = name.len() - suffix.len();
    if name[start..] != *suffix {
        return false;
    }
    // The cut must fall on a label boundary.
    let mut pos = 0;
    while pos < start {
        pos += name[pos] as usize + 1;
    }
    pos == start
}

/// Case-insensitive equality of two uncompressed wire names.
pub fn eq_fold(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| fold(*x) == fold(*y))
}

/// Reads one uncompressed wire name that starts at `pos`; returns its end.
pub fn name_end(buf: &[u8], mut pos: usize) -> Option<usize> {
    let start = pos;
    loop {
        let len = *buf.get(pos)? as usize;
        if len & 0xC0 != 0 {
            return None;
        }
        pos += 1 + len;
        if pos - start > MAX_NAME_LEN {
            return None;
        }
        if len == 0 {
            return Some(pos);
        }
    }
}

/// Reads a possibly compressed name at `pos` in `msg` into `out` (uncompressed wire form, case
/// kept). Returns the position just after the name as it sits at `pos`, and the name's length.
pub fn read_name(msg: &[u8], pos: usize, out: &mut [u8; MAX_NAME_LEN]) -> Option<(usize, usize)> {
    let mut p = pos;
    let mut end = None;
    let mut len = 0;
    let mut jumps = 0;
    loop {
        let b = *msg.get(p)? as usize;
        match b & 0xC0 {
            0x00 => {
                if len + b + 1 > MAX_NAME_LEN {
                    return None;
                }
                out[len] = b as u8;
                out[len + 1..len + 1 + b].copy_from_slice(msg.get(p + 1..p + 1 + b)?);
                len += b + 1;
                p += b + 1;
                if b == 0 {
                    return Some((end.unwrap_or(p), len));
                }
            }
            0xC0 => {
                let target = ((b & 0x3F) << 8) | *msg.get(p + 1)? as usize;
                if end.is_none() {
                    end = Some(p + 2);
                }
                jumps += 1;
                if jumps > 64 || target >= p {
                    return None;
                }
                p = target;
            }
            _ => return None,
        }
    }
}

/// Compares two canonical wire names in DNSSEC canonical order (RFC 4034 §6.1): label by
/// label from the right, each label as an octet string.
pub fn canonical_cmp(a: &[u8], b: &[u8]) -> Ordering {
    let mut la = [0u8; 128];
    let mut lb = [0u8; 128];
    let na = label_starts(a, &mut la);
    let nb = label_starts(b, &mut lb);
    let (mut i, mut j) = (na, nb);
    while i > 0 && j > 0 {
        i -= 1;
        j -= 1;
        let pa = la[i] as usize;
        let pb = lb[j] as usize;
        let x = &a[pa + 1..pa + 1 + a[pa] as usize];
        let y = &b[pb + 1..pb + 1 + b[pb] as usize];
        match x.cmp(y) {
            Ordering::Equal => {}
            o => return o,
        }
    }
    na.cmp(&nb)
}

/// Presentation form of a wire name, for logs and errors.
pub fn display(name: &[u8]) -> String {
    let mut s = String::new();
    let mut pos = 0;
    while pos < name.len() {
        let len = name[pos] as usize;
        if len == 0 {
            break;
        }
        for &b in &name[pos + 1..pos + 1 + len] {
            match b {
                b'.' | b'\\' => {
                    s.push('\\');
                    s.push(b as char);
                }
                0x21..=0x7E => s.push(b as char),
                _ => s.push_str(&format!("\\{b:03}")),
            }
        }
        s.push('.');
        pos += len + 1;
    }
    if s.is_empty() {
        s.push('.');
    }
    s
}

/// Appends a big-endian u16.
#[inline]
pub fn put_u16(v: &mut Vec<u8>, x: u16) {
    v.extend_from_slice(&x.to_be_bytes());
}

/// Appends a big-endian u32.
#[inline]
pub fn put_u32(v: &mut Vec<u8>, x: u32) {
    v.extend_from_slice(&x.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Vec<u8> {
        let mut v = Vec::new();
        for l in s.split('.').filter(|l| !l.is_empty()) {
            v.push(l.len() as u8);
            v.extend_from_slice(l.as_bytes());
        }
        v.push(0);
        v
    }

    #[test]
    fn subdomain_respects_label_boundaries() {
        assert!(is_subdomain(&w("a.example.com"), &w("example.com")));
        assert!(is_subdomain(&w("example.com"), &w("example.com")));
        assert!(!is_subdomain(&w("aexample.com"), &w("example.com")));
        assert!(is_subdomain(&w("x.y"), &w("")));
    }

    #[test]
    fn canonical_order_matches_rfc4034() {
        // RFC 4034 §6.1 example order.
        let names = [
            "example",
            "a.example",
            "yljkjljk.a.example",
            "Z.a.example",
            "zABC.a.EXAMPLE",
            "z.example",
            "\\001.z.example",
            "*.z.example",
            "\\200.z.example",
        ];
        let mut v: Vec<Vec<u8>> = names.iter().map(|n| canonical(&w(n)).into_vec()).collect();
        // \001 and \200 are written literally by w(); patch them.
        v[6] = canonical(&[
            1, 1, 1, b'z', 7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 0,
        ])
        .into_vec();
        v[8] = canonical(&[
            1, 200, 1, b'z', 7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 0,
        ])
        .into_vec();
        for pair in v.windows(2) {
            assert_eq!(
                canonical_cmp(&pair[0], &pair[1]),
                Ordering::Less,
                "{:?}",
                pair
            );
        }
    }

    #[test]
    fn reads_compressed_names() {
        let mut msg = vec![0u8; 12];
        msg.extend_from_slice(&w("example.com"));
        let p = msg.len();
        msg.extend_from_slice(&[3, b'w', b'w', b'w', 0xC0, 12]);
        let mut out = [0u8; MAX_NAME_LEN];
        let (end, len) = read_name(&msg, p, &mut out).unwrap();
        assert_eq!(end, msg.len());
        assert_eq!(&out[..len], &w("www.example.com")[..]);
        // A pointer forward (or to itself) is refused.
        let mut bad = vec![0u8; 12];
        bad.extend_from_slice(&[0xC0, 12]);
        assert!(read_name(&bad, 12, &mut out).is_none());
    }
}
