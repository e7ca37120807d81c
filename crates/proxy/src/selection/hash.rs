//! The keys hashing algorithms hash, extracted as haproxy does (backend.c: get_server_sh,
//! get_server_uh, get_server_ph, get_server_hh), and haproxy's hash functions.

use std::net::IpAddr;

use crate::config::{HashFunction, HashMethod, HashType};

/// `hash_sdbm`.
pub fn sdbm(key: &[u8]) -> u32 {
    let mut h: u32 = 0;
    for &c in key {
        h = (c as u32)
            .wrapping_add(h << 6)
            .wrapping_add(h << 16)
            .wrapping_sub(h);
    }
    h
}

/// `hash_djb2`.
pub fn djb2(key: &[u8]) -> u32 {
    let mut h: u32 = 5381;
    for &c in key {
        h = (h << 5).wrapping_add(h).wrapping_add(c as u32);
    }
    h
}

/// `hash_wt6`.
pub fn wt6(key: &[u8]) -> u32 {
    let mut h0: u32 = 0xa53c965a;
    let mut h1: u32 = 0x5ca6953a;
    let mut step0: u32 = 6;
    let mut step1: u32 = 18;
    for &c in key {
        let t = c as u32;
        h0 = !(h0 ^ t);
        h1 = !(h1.wrapping_add(t));
        h0 = h0.wrapping_add(h0 << step1);
        h1 = h1.wrapping_add(h1 << step0);
        h0 ^= h0 >> 5;
        h1 ^= h1 >> 3;
        step0 = (step0 + 1) & 31;
        step1 = (step1 + 1) & 31;
    }
    h0.wrapping_add(h1)
}

/// `hash_crc32` (the IEEE polynomial, as haproxy's).
pub fn crc32(key: &[u8]) -> u32 {
    let mut c: u32 = 0xffff_ffff;
    for &b in key {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xedb8_8320
            } else {
                c >> 1
            };
        }
    }
    !c
}

/// Bob Jenkins' full avalanche hash, then spread by a large prime (haproxy's `full_hash`).
pub fn full_hash(mut a: u32) -> u32 {
    a = a.wrapping_add(0x7ed55d16).wrapping_add(a << 12);
    a = (a ^ 0xc761c23c) ^ (a >> 19);
    a = a.wrapping_add(0x165667b1).wrapping_add(a << 5);
    a = a.wrapping_add(0xd3a2646c) ^ (a << 9);
    a = a.wrapping_add(0xfd7046c5).wrapping_add(a << 3);
    a = (a ^ 0xb55a4f09) ^ (a >> 16);
    a.wrapping_mul(3221225473)
}

/// `gen_hash` with the backend's hash function (the avalanche modifier applied by callers).
pub fn gen_hash(ht: &HashType, key: &[u8]) -> u32 {
    let h = match ht.function {
        HashFunction::Sdbm => sdbm(key),
        HashFunction::Djb2 => djb2(key),
        HashFunction::Wt6 => wt6(key),
        HashFunction::Crc32 => crc32(key),
        HashFunction::None => {
            // "none": the key is read as a number when it is one, else sdbm.
            std::str::from_utf8(key)
                .ok()
                .and_then(|s| s.parse::<u32>().ok())
                .unwrap_or_else(|| sdbm(key))
        }
    };
    finish(ht, h)
}

/// Whether the avalanche modifier applies. haproxy applies it by default with
/// `hash-type consistent` when no hash function is named; the configuration model cannot tell
/// that case from an explicit `consistent sdbm`, so consistent+sdbm is taken as the default.
fn avalanche(ht: &HashType) -> bool {
    ht.avalanche || (ht.method == HashMethod::Consistent && ht.function == HashFunction::Sdbm)
}

fn finish(ht: &HashType, h: u32) -> u32 {
    if avalanche(ht) {
        full_hash(h)
    } else {
        h
    }
}

/// `balance source`: the address XOR-folded in 32-bit big-endian words.
pub fn source(ht: &HashType, ip: IpAddr) -> u32 {
    let mut h: u32 = 0;
    let mut fold = |bytes: &[u8]| {
        for w in bytes.chunks_exact(4) {
            h ^= u32::from_be_bytes([w[0], w[1], w[2], w[3]]);
        }
    };
    match ip {
        IpAddr::V4(a) => fold(&a.octets()),
        IpAddr::V6(a) => fold(&a.octets()),
    }
    finish(ht, h)
}

/// `balance uri [len N] [depth N] [whole]`: hash of the URI up to the `?` (unless whole), at
/// most `len` characters, at most `depth` directories.
pub fn uri(ht: &HashType, uri: &[u8], len: Option<u32>, depth: Option<u32>, whole: bool) -> u32 {
    let mut u = uri;
    if let Some(l) = len {
        if l > 0 && (l as usize) < u.len() {
            u = &u[..l as usize];
        }
    }
    let max_slashes = depth.map(|d| d + 1).unwrap_or(0);
    let mut slashes = 0;
    let mut end = 0;
    while end < u.len() {
        let c = u[end];
        if c == b'/' {
            slashes += 1;
            if slashes == max_slashes {
                break;
            }
        } else if c == b'?' && !whole {
            break;
        }
        end += 1;
    }
    gen_hash(ht, &u[..end])
}

/// `balance url_param NAME`: hash of the parameter's value; `None` when absent.
pub fn url_param(ht: &HashType, uri: &[u8], name: &[u8]) -> Option<u32> {
    let q = memchr::memchr(b'?', uri)?;
    for part in uri[q + 1..].split(|&b| b == b'&' || b == b';') {
        if part.len() > name.len() && part.starts_with(name) && part[name.len()] == b'=' {
            return Some(gen_hash(ht, &part[name.len() + 1..]));
        }
    }
    None
}

/// `balance hdr(NAME) [use_domain_only]` on the header's value.
pub fn hdr(ht: &HashType, value: &[u8], use_domain_only: bool) -> u32 {
    if !use_domain_only {
        return gen_hash(ht, value);
    }
    // Walk back from the end: skip the TLD, hash the label before it.
    let len0 = value.len();
    let mut p = len0; // index one past the char examined (haproxy starts at p = start + len)
    let mut len = len0;
    let mut end = len0;
    let mut dohash = false;
    while len > 0 {
        if dohash {
            if p > 0 && value[p - 1] == b'.' {
                break;
            }
        } else if p < len0 && value[p] == b'.' {
            end = p;
            dohash = true;
        }
        p -= 1;
        len -= 1;
    }
    let start = p;
    gen_hash(ht, &value[start..end.max(start)])
}
