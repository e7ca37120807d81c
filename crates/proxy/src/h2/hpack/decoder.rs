//! HPACK decoding (RFC 7541 §6): one connection's request header blocks, its dynamic table
//! bounded by our SETTINGS_HEADER_TABLE_SIZE.
//!
//! Fields are handed to a callback as slices of the block itself, of the tables, or of two
//! reused scratch buffers (Huffman-coded strings): decoding a block allocates nothing, and
//! an entry evicted from the dynamic table lends its buffer to the next one inserted.

use std::collections::VecDeque;

use super::{huffman, static_table};

/// RFC 7541 §4.1: an entry's size counts 32 octets beyond its name and value.
const ENTRY_OVERHEAD: usize = 32;

/// One dynamic table entry: the name, then the value, in one buffer.
struct Entry {
    bytes: Vec<u8>,
    name_len: usize,
}

impl Entry {
    fn name(&self) -> &[u8] {
        &self.bytes[..self.name_len]
    }

    fn value(&self) -> &[u8] {
        &self.bytes[self.name_len..]
    }

    fn size(&self) -> usize {
        self.bytes.len() + ENTRY_OVERHEAD
    }
}

/// Where a decoded string is.
#[derive(Clone, Copy)]
enum Str {
    /// In the block, as sent (not Huffman-coded).
    Block(usize, usize),
    /// Decoded into the scratch buffer of its kind (name or value).
    Scratch,
    /// A table entry's name.
    StaticName(&'static [u8]),
    DynamicName(usize),
}

/// The decoder of one connection's request header blocks.
pub struct Decoder {
    /// Newest first: dynamic index 62 is `table[0]` (RFC 7541 §2.3.3).
    table: VecDeque<Entry>,
    /// The sum of the entries' sizes.
    size: usize,
    /// The size the client last set (a dynamic table size update), at most `limit`.
    max_size: usize,
    /// Our SETTINGS_HEADER_TABLE_SIZE.
    limit: usize,
    name: Vec<u8>,
    value: Vec<u8>,
    /// An evicted entry's buffer, kept for the next insertion.
    spare: Option<Vec<u8>>,
}

/// A block that cannot be decoded: a connection error (COMPRESSION_ERROR), as the table
/// may now be out of step with the client's.
#[derive(Debug, PartialEq, Eq)]
pub struct CompressionError;

impl Decoder {
    /// A decoder whose dynamic table never exceeds `table_size` octets (our
    /// SETTINGS_HEADER_TABLE_SIZE): a larger size update from the client is an error.
    pub fn new(table_size: usize) -> Decoder {
        Decoder {
            table: VecDeque::new(),
            size: 0,
            max_size: table_size,
            limit: table_size,
            name: Vec::new(),
            value: Vec::new(),
            spare: None,
        }
    }

    /// Decodes one complete header block, calling `f` per field.
    pub fn decode(
        &mut self,
        block: &[u8],
        mut f: impl FnMut(&[u8], &[u8]),
    ) -> Result<(), CompressionError> {
        let mut at = 0;
        let mut fields_seen = false;
        while at < block.len() {
            let first = block[at];
            if first & 0x80 != 0 {
                // Indexed field (§6.1).
                let index = integer(block, &mut at, 7)?;
                let (name, value) = self.entry(index)?;
                f(name, value);
                fields_seen = true;
            } else if first & 0xe0 == 0x20 {
                // Dynamic table size update (§6.3): only before the first field (§4.2).
                let size = integer(block, &mut at, 5)?;
                if fields_seen || size > self.limit {
                    return Err(CompressionError);
                }
                self.max_size = size;
                self.evict_to(size);
            } else {
                // Literal field (§6.2): with incremental indexing (01), without (0000),
                // never indexed (0001).
                let indexing = first & 0xc0 == 0x40;
                let prefix = if indexing { 6 } else { 4 };
                let index = integer(block, &mut at, prefix)?;
                let name = if index == 0 {
                    self.string(block, &mut at, true)?
                } else {
                    match static_table::get(index) {
                        Some((n, _)) => Str::StaticName(n),
                        None => {
                            let i = index - static_table::ENTRIES.len() - 1;
                            if i >= self.table.len() {
                                return Err(CompressionError);
                            }
                            Str::DynamicName(i)
                        }
                    }
                };
                let value = self.string(block, &mut at, false)?;
                let (n, v) = (
                    self.resolve(block, name, true),
                    self.resolve(block, value, false),
                );
                f(n, v);
                if indexing {
                    self.insert(block, name, value);
                }
                fields_seen = true;
            }
        }
        Ok(())
    }

    /// The field at `index` of the static table followed by the dynamic one.
    fn entry(&self, index: usize) -> Result<(&[u8], &[u8]), CompressionError> {
        if let Some(e) = static_table::get(index) {
            return Ok(e);
        }
        index
            .checked_sub(static_table::ENTRIES.len() + 1)
            .and_then(|i| self.table.get(i))
            .map(|e| (e.name(), e.value()))
            .ok_or(CompressionError)
    }

    /// A string literal (§5.2) at `at`: where it is, once decoded.
    fn string(
        &mut self,
        block: &[u8],
        at: &mut usize,
        is_name: bool,
    ) -> Result<Str, CompressionError> {
        let huffman = block.get(*at).ok_or(CompressionError)? & 0x80 != 0;
        let len = integer(block, at, 7)?;
        let start = *at;
        let end = start.checked_add(len).ok_or(CompressionError)?;
        let raw = block.get(start..end).ok_or(CompressionError)?;
        *at = end;
        if !huffman {
            return Ok(Str::Block(start, end));
        }
        let dst = if is_name {
            &mut self.name
        } else {
            &mut self.value
        };
        dst.clear();
        huffman::decode(raw, dst).map_err(|_| CompressionError)?;
        Ok(Str::Scratch)
    }

    fn resolve<'a>(&'a self, block: &'a [u8], s: Str, is_name: bool) -> &'a [u8] {
        match s {
            Str::Block(start, end) => &block[start..end],
            Str::Scratch if is_name => &self.name,
            Str::Scratch => &self.value,
            Str::StaticName(n) => n,
            Str::DynamicName(i) => self.table[i].name(),
        }
    }

    /// Adds a field to the dynamic table (§4.4): older entries are evicted to make room; an
    /// entry larger than the table empties it and is not kept.
    fn insert(&mut self, block: &[u8], name: Str, value: Str) {
        let mut bytes = self.spare.take().unwrap_or_default();
        bytes.clear();
        bytes.extend_from_slice(self.resolve(block, name, true));
        let name_len = bytes.len();
        bytes.extend_from_slice(self.resolve(block, value, false));
        let entry = Entry { bytes, name_len };
        let size = entry.size();
        if size > self.max_size {
            self.evict_to(0);
            self.spare = Some(entry.bytes);
            return;
        }
        self.evict_to(self.max_size - size);
        self.size += size;
        self.table.push_front(entry);
    }

    /// Evicts the oldest entries until the table's size is at most `size`.
    fn evict_to(&mut self, size: usize) {
        while self.size > size {
            let Some(e) = self.table.pop_back() else {
                break;
            };
            self.size -= e.size();
            self.spare = Some(e.bytes);
        }
    }
}

/// An integer with an N-bit prefix (§5.1) at `at`; values beyond what a header block can
/// hold are refused rather than left to overflow. Inlined for the one-octet case, which is
/// nearly every index and length.
#[inline(always)]
fn integer(block: &[u8], at: &mut usize, prefix: u8) -> Result<usize, CompressionError> {
    let max = (1usize << prefix) - 1;
    let first = usize::from(*block.get(*at).ok_or(CompressionError)?) & max;
    *at += 1;
    if first < max {
        return Ok(first);
    }
    integer_rest(block, at, max)
}

#[cold]
fn integer_rest(block: &[u8], at: &mut usize, max: usize) -> Result<usize, CompressionError> {
    let mut value = max;
    let mut shift = 0;
    loop {
        let b = *block.get(*at).ok_or(CompressionError)?;
        *at += 1;
        value += usize::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(value);
        }
        shift += 7;
        if shift > 28 {
            return Err(CompressionError);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(
        d: &mut Decoder,
        block: &[u8],
    ) -> Result<Vec<(String, String)>, CompressionError> {
        let mut out = Vec::new();
        d.decode(block, |n, v| {
            out.push((
                String::from_utf8_lossy(n).into_owned(),
                String::from_utf8_lossy(v).into_owned(),
            ))
        })?;
        Ok(out)
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 7541 C.3: three requests without Huffman coding, the table carried between them.
    #[test]
    fn rfc_7541_c3_requests_without_huffman() {
        let mut d = Decoder::new(4096);
        let first = hex("8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d");
        assert_eq!(
            decode_all(&mut d, &first).unwrap(),
            pairs(&[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                (":authority", "www.example.com")
            ])
        );
        assert_eq!(d.size, 57);
        let second = hex("8286 84be 5808 6e6f 2d63 6163 6865");
        assert_eq!(
            decode_all(&mut d, &second).unwrap(),
            pairs(&[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                (":authority", "www.example.com"),
                ("cache-control", "no-cache")
            ])
        );
        assert_eq!(d.size, 110);
        let third = hex("8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65");
        assert_eq!(
            decode_all(&mut d, &third).unwrap(),
            pairs(&[
                (":method", "GET"),
                (":scheme", "https"),
                (":path", "/index.html"),
                (":authority", "www.example.com"),
                ("custom-key", "custom-value")
            ])
        );
        assert_eq!(d.size, 164);
        assert_eq!(d.table[0].name(), b"custom-key");
        assert_eq!(d.table[2].name(), b":authority");
    }

    /// RFC 7541 C.4: the same requests Huffman-coded.
    #[test]
    fn rfc_7541_c4_requests_with_huffman() {
        let mut d = Decoder::new(4096);
        let first = hex("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff");
        assert_eq!(
            decode_all(&mut d, &first).unwrap()[3],
            (":authority".into(), "www.example.com".into())
        );
        let second = hex("8286 84be 5886 a8eb 1064 9cbf");
        assert_eq!(
            decode_all(&mut d, &second).unwrap()[4],
            ("cache-control".into(), "no-cache".into())
        );
        let third = hex("8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf");
        assert_eq!(
            decode_all(&mut d, &third).unwrap()[4],
            ("custom-key".into(), "custom-value".into())
        );
        assert_eq!(d.size, 164);
    }

    /// RFC 7541 C.5's eviction: a 256-octet table holds what the answers' fields leave.
    #[test]
    fn a_full_table_evicts_its_oldest_entries() {
        let mut d = Decoder::new(256);
        let block = hex(
            "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 \
             2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 \
             6c65 2e63 6f6d",
        );
        decode_all(&mut d, &block).unwrap();
        assert_eq!(d.size, 222);
        let next = hex("4803 3330 37c1 c0bf");
        let fields = decode_all(&mut d, &next).unwrap();
        assert_eq!(fields[0], (":status".into(), "307".into()));
        assert_eq!(fields[3].0, "location");
        assert_eq!(d.size, 222);
        assert_eq!(d.table.len(), 4);
    }

    #[test]
    fn a_table_size_update_beyond_ours_is_an_error() {
        let mut d = Decoder::new(4096);
        // Dynamic table size update to 8192 (0x3f, 0xe1, 0x3f), then `:method GET`.
        assert!(d.decode(&[0x3f, 0xe1, 0x3f, 0x82], |_, _| {}).is_err());
        let mut d = Decoder::new(4096);
        assert!(d.decode(&[0x3f, 0xe1, 0x1f, 0x82], |_, _| {}).is_ok());
    }

    #[test]
    fn a_table_size_update_after_a_field_is_an_error() {
        let mut d = Decoder::new(4096);
        assert!(d.decode(&[0x82, 0x20], |_, _| {}).is_err());
    }

    #[test]
    fn bad_blocks_are_errors_not_panics() {
        for block in [
            &[0x80][..],                                 // index 0
            &[0xbe],                                     // dynamic index 62 of an empty table
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f], // an integer too large
            &[0x40, 0x05, b'a'],                         // a name longer than the block
            &[0x40, 0x81, 0xff],                         // Huffman: EOS inside the string
            &[0x00, 0x01, b'a', 0x81, 0x00], // Huffman: padding that is not EOS's prefix
            &[0x7e, 0x00],                   // dynamic name index of an empty table
        ] {
            let mut d = Decoder::new(4096);
            assert_eq!(
                d.decode(block, |_, _| {}),
                Err(CompressionError),
                "{block:x?}"
            );
        }
    }

    #[test]
    fn an_entry_larger_than_the_table_empties_it() {
        let mut d = Decoder::new(64);
        decode_all(&mut d, &hex("4001 6101 62")).unwrap(); // a: b, 34 octets
        assert_eq!(d.table.len(), 1);
        let mut big = hex("4001 6120");
        big.extend_from_slice(&[b'x'; 32]);
        decode_all(&mut d, &big).unwrap();
        assert_eq!((d.table.len(), d.size), (0, 0));
    }
}
