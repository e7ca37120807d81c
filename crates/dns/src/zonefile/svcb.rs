//! SVCB/HTTPS service parameters in presentation form (RFC 9460 §2.1, §7 and Appendix A).

use std::net::{Ipv4Addr, Ipv6Addr};

use super::encoding::Base64;
use super::names;
use super::rdata::{parse_decimal, Fail, Rd, Result};

const MANDATORY: u16 = 0;
const ALPN: u16 = 1;
const NO_DEFAULT_ALPN: u16 = 2;
const PORT: u16 = 3;
const IPV4HINT: u16 = 4;
const ECH: u16 = 5;
const IPV6HINT: u16 = 6;

fn key_from_text(text: &[u8]) -> Option<u16> {
    Some(match text {
        b"mandatory" => MANDATORY,
        b"alpn" => ALPN,
        b"no-default-alpn" => NO_DEFAULT_ALPN,
        b"port" => PORT,
        b"ipv4hint" => IPV4HINT,
        b"ech" => ECH,
        b"ipv6hint" => IPV6HINT,
        _ => {
            let n = text.strip_prefix(b"key")?;
            // keyNNNN without leading zeros (RFC 9460 §2.1), 65535 reserved.
            if n.len() > 1 && n[0] == b'0' {
                return None;
            }
            return parse_decimal(n).filter(|v| *v < 65535).map(|v| v as u16);
        }
    })
}

fn fail<T>(at: usize, message: impl Into<std::borrow::Cow<'static, str>>) -> Result<T> {
    Err(Fail {
        at,
        message: message.into(),
    })
}

/// Decodes character-string escapes of `text` into `out`.
fn unescape_into(text: &[u8], out: &mut Vec<u8>) -> std::result::Result<(), &'static str> {
    let mut p = 0;
    while p < text.len() {
        if text[p] == b'\\' {
            let (b, used) = names::unescape(text, p)?;
            out.push(b);
            p += used;
        } else {
            out.push(text[p]);
            p += 1;
        }
    }
    Ok(())
}

/// Splits a decoded value list on commas; `\,` and `\\` stand for themselves (Appendix A.1).
fn split_list(value: &[u8]) -> Vec<Vec<u8>> {
    let mut items = vec![Vec::new()];
    let mut p = 0;
    while p < value.len() {
        match value[p] {
            b'\\' if p + 1 < value.len() => {
                if let Some(i) = items.last_mut() {
                    i.push(value[p + 1]);
                }
                p += 2;
            }
            b',' => {
                items.push(Vec::new());
                p += 1;
            }
            c => {
                if let Some(i) = items.last_mut() {
                    i.push(c);
                }
                p += 1;
            }
        }
    }
    items
}

/// Reads the remaining tokens as SvcParams and writes them in wire form, sorted by key.
pub(crate) fn parse_params(rd: &mut Rd<'_>) -> Result<()> {
    // (key, token index, value in wire form)
    let mut params: Vec<(u16, usize, Vec<u8>)> = Vec::new();
    while rd.i < rd.toks.len() {
        let i = rd.i;
        let t = rd.toks[i];
        rd.i += 1;
        if t.quoted {
            return fail(i, "a service parameter must start with its key");
        }
        let text = &rd.buf[t.start..t.end];
        let (key_text, raw_value) = match text.iter().position(|&c| c == b'=') {
            Some(eq) => (&text[..eq], Some(&text[eq + 1..])),
            None => (text, None),
        };
        let key = key_from_text(key_text).ok_or_else(|| Fail {
            at: i,
            message: format!(
                "unknown service parameter key '{}'",
                String::from_utf8_lossy(key_text)
            )
            .into(),
        })?;
        // `key="quoted value"` lexes as `key=` followed at once by a quoted token.
        let mut value = Vec::new();
        let mut has_value = false;
        if let Some(raw) = raw_value {
            has_value = true;
            let next = rd.toks.get(rd.i).copied();
            match next {
                Some(n) if raw.is_empty() && n.quoted && n.start == t.end + 1 => {
                    rd.i += 1;
                    unescape_into(&rd.buf[n.start..n.end], &mut value).map_err(|e| Fail {
                        at: i,
                        message: e.into(),
                    })?;
                }
                _ => unescape_into(raw, &mut value).map_err(|e| Fail {
                    at: i,
                    message: e.into(),
                })?,
            }
        }
        let wire = encode_value(key, has_value, &value).map_err(|m| Fail {
            at: i,
            message: m.into(),
        })?;
        params.push((key, i, wire));
    }
    params.sort_by_key(|p| p.0);
    for w in params.windows(2) {
        if w[0].0 == w[1].0 {
            return fail(w[1].1, "service parameter key given twice");
        }
    }
    // Every key named by `mandatory` must be present (RFC 9460 §8).
    if let Some((_, i, m)) = params.iter().find(|p| p.0 == MANDATORY) {
        for k in m.chunks(2) {
            let k = u16::from_be_bytes([k[0], k[1]]);
            if k == MANDATORY {
                return fail(*i, "'mandatory' must not list itself");
            }
            if !params.iter().any(|p| p.0 == k) {
                return fail(*i, format!("mandatory key key{k} is missing"));
            }
        }
    }
    for (key, _, wire) in &params {
        rd.out.extend_from_slice(&key.to_be_bytes());
        rd.out.extend_from_slice(&(wire.len() as u16).to_be_bytes());
        rd.out.extend_from_slice(wire);
    }
    Ok(())
}

fn encode_value(key: u16, has_value: bool, value: &[u8]) -> std::result::Result<Vec<u8>, String> {
    let mut out = Vec::new();
    if key == NO_DEFAULT_ALPN {
        if has_value {
            return Err("no-default-alpn takes no value".into());
        }
        return Ok(out);
    }
    if !has_value && key <= IPV6HINT {
        return Err(format!("service parameter key{key} needs a value"));
    }
    match key {
        MANDATORY => {
            let mut keys = Vec::new();
            for item in split_list(value) {
                keys.push(key_from_text(&item).ok_or_else(|| {
                    format!(
                        "unknown key '{}' in mandatory",
                        String::from_utf8_lossy(&item)
                    )
                })?);
            }
            keys.sort_unstable();
            if keys.windows(2).any(|w| w[0] == w[1]) {
                return Err("mandatory lists a key twice".into());
            }
            for k in keys {
                out.extend_from_slice(&k.to_be_bytes());
            }
        }
        ALPN => {
            for item in split_list(value) {
                if item.is_empty() || item.len() > 255 {
                    return Err("an alpn id must be 1 to 255 octets".into());
                }
                out.push(item.len() as u8);
                out.extend_from_slice(&item);
            }
        }
        PORT => {
            let port = parse_decimal(value)
                .filter(|v| *v <= 65535)
                .ok_or("invalid port")?;
            out.extend_from_slice(&(port as u16).to_be_bytes());
        }
        IPV4HINT => {
            for item in split_list(value) {
                let a: Ipv4Addr = std::str::from_utf8(&item)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or("invalid IPv4 address in ipv4hint")?;
                out.extend_from_slice(&a.octets());
            }
        }
        IPV6HINT => {
            for item in split_list(value) {
                let a: Ipv6Addr = std::str::from_utf8(&item)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or("invalid IPv6 address in ipv6hint")?;
                out.extend_from_slice(&a.octets());
            }
        }
        ECH => {
            let mut b = Base64::new();
            b.push(value, &mut out)
                .and_then(|()| b.finish())
                .map_err(|e| format!("ech: {e}"))?;
        }
        _ => out.extend_from_slice(value),
    }
    if out.len() > 65535 {
        return Err("service parameter value longer than 65535 octets".into());
    }
    Ok(out)
}
