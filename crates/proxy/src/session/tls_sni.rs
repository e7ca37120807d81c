//! Reads the server name (SNI) from a TLS ClientHello at the start of a TCP stream, for
//! `req.ssl_sni` in `tcp-request content` rules and `use_backend` conditions.

/// What the buffer holds so far.
#[derive(Debug, PartialEq, Eq)]
pub enum Hello<'a> {
    /// Not a TLS handshake record.
    NotTls,
    /// A ClientHello, possibly incomplete: more bytes may give the SNI.
    Incomplete,
    /// A complete ClientHello, with its SNI if it has one.
    Complete(Option<&'a [u8]>),
}

/// Parses the first TLS record of `buf`.
pub fn parse(buf: &[u8]) -> Hello<'_> {
    if buf.is_empty() {
        return Hello::Incomplete;
    }
    if buf[0] != 0x16 {
        return Hello::NotTls;
    }
    if buf.len() < 5 {
        return Hello::Incomplete;
    }
    let rec_len = u16::from_be_bytes([buf[3], buf[4]]) as usize;
    if buf.len() < 5 + rec_len {
        return Hello::Incomplete;
    }
    let h = &buf[5..5 + rec_len];
    match sni(h) {
        Some(r) => Hello::Complete(r),
        None => Hello::NotTls,
    }
}

/// The SNI of a handshake message; `None` when malformed, `Some(None)` when absent.
fn sni(h: &[u8]) -> Option<Option<&[u8]>> {
    if *h.first()? != 1 {
        return None; // not a ClientHello
    }
    let mut p = 4 + 2 + 32; // type+len, version, random
    let sid = *h.get(p)? as usize;
    p += 1 + sid;
    let cs = u16::from_be_bytes([*h.get(p)?, *h.get(p + 1)?]) as usize;
    p += 2 + cs;
    let cm = *h.get(p)? as usize;
    p += 1 + cm;
    if p == h.len() {
        return Some(None);
    }
    let ext_len = u16::from_be_bytes([*h.get(p)?, *h.get(p + 1)?]) as usize;
    p += 2;
    let end = (p + ext_len).min(h.len());
    while p + 4 <= end {
        let ty = u16::from_be_bytes([h[p], h[p + 1]]);
        let len = u16::from_be_bytes([h[p + 2], h[p + 3]]) as usize;
        p += 4;
        if ty == 0 {
            let e = h.get(p..p + len)?;
            // server_name_list: len(2), then type(1) len(2) name
            if e.len() < 5 || e[2] != 0 {
                return None;
            }
            let nl = u16::from_be_bytes([e[3], e[4]]) as usize;
            return Some(Some(e.get(5..5 + nl)?));
        }
        p += len;
    }
    Some(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello(name: &str) -> Vec<u8> {
        let mut ext = Vec::new();
        let n = name.as_bytes();
        let list_len = 3 + n.len();
        ext.extend_from_slice(&[0, 0]);
        ext.extend_from_slice(&((list_len + 2) as u16).to_be_bytes());
        ext.extend_from_slice(&(list_len as u16).to_be_bytes());
        ext.push(0);
        ext.extend_from_slice(&(n.len() as u16).to_be_bytes());
        ext.extend_from_slice(n);
        let mut body = vec![3, 3];
        body.extend_from_slice(&[0u8; 32]);
        body.push(0);
        body.extend_from_slice(&[0, 2, 0x13, 0x01]);
        body.extend_from_slice(&[1, 0]);
        body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
        body.extend_from_slice(&ext);
        let mut hs = vec![1];
        hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        hs.extend_from_slice(&body);
        let mut rec = vec![0x16, 3, 1];
        rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
        rec.extend_from_slice(&hs);
        rec
    }

    #[test]
    fn finds_sni() {
        let h = hello("example.com");
        assert_eq!(parse(&h), Hello::Complete(Some(&b"example.com"[..])));
        assert_eq!(parse(&h[..10]), Hello::Incomplete);
        assert_eq!(parse(b"GET / HTTP/1.1\r\n"), Hello::NotTls);
    }
}
