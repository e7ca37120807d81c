//! HPACK (RFC 7541) for the client side. Decoding keeps the connection's bounded dynamic
//! table (see `decoder`); encoding is deliberately small: answers go out as literals without
//! indexing (names from the static table where they are in it, never Huffman-coded), so the
//! encoder keeps no dynamic table and the client's SETTINGS_HEADER_TABLE_SIZE never matters.
//! A few octets per answer more than a stateful encoder, for no state and no allocation.

mod decoder;
mod huffman;
mod static_table;

pub use decoder::Decoder;

/// Appends `:status` (indexed for the seven codes the static table has).
pub fn status(out: &mut Vec<u8>, code: u16) {
    let indexed = match code {
        200 => 8,
        204 => 9,
        206 => 10,
        304 => 11,
        400 => 12,
        404 => 13,
        500 => 14,
        _ => 0,
    };
    if indexed != 0 {
        out.push(0x80 | indexed);
        return;
    }
    // Literal without indexing, name index 8 (`:status`).
    out.push(0x08);
    let d = [
        b'0' + (code / 100 % 10) as u8,
        b'0' + (code / 10 % 10) as u8,
        b'0' + (code % 10) as u8,
    ];
    string(out, &d);
}

/// Appends one field as a literal without indexing; `name` is lowercased on the way (HTTP/2
/// field names are lowercase, HTTP/1 servers write them as they like).
pub fn field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    // The name is written lowercased as a literal first, then replaced by its static index
    // when it has one: one pass over it either way.
    let at = out.len();
    out.push(0x00);
    integer(out, 0x00, 7, name.len());
    let name_at = out.len();
    out.extend_from_slice(name);
    out[name_at..].make_ascii_lowercase();
    if let Some(i) = static_name(&out[name_at..]) {
        out.truncate(at);
        integer(out, 0x00, 4, i);
    }
    string(out, value);
}

fn string(out: &mut Vec<u8>, s: &[u8]) {
    integer(out, 0x00, 7, s.len());
    out.extend_from_slice(s);
}

/// An integer with an N-bit prefix (RFC 7541 §5.1), `first` holding the bits above it.
/// Inlined: answer fields write three of them each, mostly in one octet, and the call cost
/// several times the octet's push.
#[inline(always)]
fn integer(out: &mut Vec<u8>, first: u8, prefix: u8, v: usize) {
    let max = (1usize << prefix) - 1;
    if v < max {
        out.push(first | v as u8);
    } else {
        integer_long(out, first, max, v);
    }
}

fn integer_long(out: &mut Vec<u8>, first: u8, max: usize, mut v: usize) {
    out.push(first | max as u8);
    v -= max;
    while v >= 128 {
        out.push((v % 128) as u8 | 0x80);
        v /= 128;
    }
    out.push(v as u8);
}

/// The static table index (RFC 7541 appendix A) of the answer fields servers send most;
/// `name` is lowercase.
fn static_name(name: &[u8]) -> Option<usize> {
    Some(match name {
        b"accept-ranges" => 18,
        b"access-control-allow-origin" => 20,
        b"age" => 21,
        b"cache-control" => 24,
        b"content-disposition" => 25,
        b"content-encoding" => 26,
        b"content-language" => 27,
        b"content-length" => 28,
        b"content-location" => 29,
        b"content-range" => 30,
        b"content-type" => 31,
        b"date" => 33,
        b"etag" => 34,
        b"expires" => 36,
        b"last-modified" => 44,
        b"link" => 45,
        b"location" => 46,
        b"retry-after" => 53,
        b"server" => 54,
        b"set-cookie" => 55,
        b"vary" => 59,
        b"www-authenticate" => 61,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_decode_with_an_independent_decoder() {
        let mut out = Vec::new();
        status(&mut out, 200);
        status(&mut out, 431);
        field(&mut out, b"Content-Length", b"12");
        field(&mut out, b"X-Custom-Header", b"v");
        field(&mut out, b"x-long", &[b'a'; 300]);
        let mut d = loona_hpack::Decoder::new();
        let mut seen = Vec::new();
        d.decode_with_cb(&out, |n, v| seen.push((n.to_vec(), v.to_vec())))
            .unwrap();
        let s = |a: &str, b: &[u8]| (a.as_bytes().to_vec(), b.to_vec());
        assert_eq!(
            seen,
            [
                s(":status", b"200"),
                s(":status", b"431"),
                s("content-length", b"12"),
                s("x-custom-header", b"v"),
                s("x-long", &[b'a'; 300]),
            ]
        );
    }

    #[test]
    fn the_encoders_name_indices_are_the_static_tables() {
        let mut found = 0;
        for (i, (name, _)) in static_table::ENTRIES.iter().enumerate() {
            if let Some(index) = static_name(name) {
                // The first entry of that name (for `:status` and the like the encoder has
                // none: it indexes only regular answer fields).
                let first = static_table::ENTRIES.iter().position(|(n, _)| n == name);
                assert_eq!(
                    (index, first),
                    (i + 1, Some(i)),
                    "{}",
                    String::from_utf8_lossy(name)
                );
                found += 1;
            }
        }
        assert_eq!(found, 22);
    }
}
