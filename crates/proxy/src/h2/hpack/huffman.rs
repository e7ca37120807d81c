//! Decoding of HPACK's Huffman-coded strings (RFC 7541 §5.2, appendix B), four bits at a
//! time: a state is a node of the code's tree, and one table lookup per half-octet gives the
//! next node and the symbol completed on the way, if any. The table is built once from the
//! code (`httlib_huffman`'s copy of appendix B) on first use.

use std::sync::OnceLock;

/// The code's end-of-string symbol: never valid inside a string.
const EOS: usize = 256;

/// One transition: from a node, on four bits.
#[derive(Clone, Copy, Default)]
struct Step {
    next: u8,
    symbol: u8,
    flags: u8,
}

/// A symbol was completed on the way (`Step::symbol`).
const EMITS: u8 = 1;
/// The bits lead to EOS: the string is invalid.
const FAILS: u8 = 2;

/// 256 internal nodes (the code has 257 symbols) × 16 half-octets.
struct Table {
    steps: Vec<[Step; 16]>,
    /// Whether a string may end at a node: the bits since the last symbol are a prefix of
    /// EOS (all ones) shorter than eight (§5.2's padding rule). The root may.
    accepts: Vec<bool>,
}

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(build)
}

fn build() -> Table {
    // The tree: internal nodes hold two children, each a node index or a leaf symbol.
    #[derive(Clone, Copy)]
    enum Child {
        None,
        Node(usize),
        Leaf(usize),
    }
    let mut nodes: Vec<[Child; 2]> = vec![[Child::None; 2]];
    for (symbol, &(len, code)) in httlib_huffman::encoder::table::ENCODE_TABLE
        .iter()
        .enumerate()
    {
        let mut at = 0;
        for i in (0..len).rev() {
            let bit = ((code >> i) & 1) as usize;
            if i == 0 {
                nodes[at][bit] = Child::Leaf(symbol);
            } else {
                at = match nodes[at][bit] {
                    Child::Node(n) => n,
                    _ => {
                        nodes.push([Child::None; 2]);
                        let n = nodes.len() - 1;
                        nodes[at][bit] = Child::Node(n);
                        n
                    }
                };
            }
        }
    }
    // Nodes on the all-ones path from the root, at depth 7 or less, end a string validly.
    let mut accepts = vec![false; nodes.len()];
    let mut at = 0;
    accepts[0] = true;
    for _ in 1..8 {
        match nodes[at][1] {
            Child::Node(n) => {
                accepts[n] = true;
                at = n;
            }
            _ => break,
        }
    }
    // A complete prefix code of 257 symbols has 256 internal nodes: they fit `Step::next`.
    debug_assert_eq!(nodes.len(), 256);
    let mut steps = vec![[Step::default(); 16]; nodes.len()];
    for (from, row) in steps.iter_mut().enumerate() {
        for (nibble, step) in row.iter_mut().enumerate() {
            let mut at = from;
            for i in (0..4).rev() {
                match nodes[at][(nibble >> i) & 1] {
                    Child::Node(n) => at = n,
                    Child::Leaf(s) if s != EOS => {
                        // Codes are five bits or longer: at most one per half-octet.
                        step.symbol = s as u8;
                        step.flags |= EMITS;
                        at = 0;
                    }
                    _ => {
                        step.flags |= FAILS;
                        break;
                    }
                }
            }
            step.next = at as u8;
        }
    }
    Table { steps, accepts }
}

/// Appends the decoding of `coded` to `out`; `Err` for an invalid string (EOS inside it,
/// or padding that is not a short prefix of EOS).
pub fn decode(coded: &[u8], out: &mut Vec<u8>) -> Result<(), ()> {
    let t = table();
    let mut state = 0usize;
    for &b in coded {
        for nibble in [b >> 4, b & 0x0f] {
            let step = t.steps[state][usize::from(nibble)];
            if step.flags & FAILS != 0 {
                return Err(());
            }
            if step.flags & EMITS != 0 {
                out.push(step.symbol);
            }
            state = usize::from(step.next);
        }
    }
    if t.accepts[state] {
        Ok(())
    } else {
        Err(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(s: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        httlib_huffman::encode(s, &mut out).unwrap();
        out
    }

    #[test]
    fn every_octet_round_trips() {
        let all: Vec<u8> = (0..=255).collect();
        let mut out = Vec::new();
        decode(&encode(&all), &mut out).unwrap();
        assert_eq!(out, all);
        for b in 0..=255u8 {
            out.clear();
            decode(&encode(&[b, b'a', b]), &mut out).unwrap();
            assert_eq!(out, [b, b'a', b]);
        }
    }

    #[test]
    fn rfc_7541_c4_strings() {
        let mut out = Vec::new();
        decode(
            &[
                0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab, 0x90, 0xf4, 0xff,
            ],
            &mut out,
        )
        .unwrap();
        assert_eq!(out, b"www.example.com");
    }

    #[test]
    fn bad_padding_and_eos_are_refused() {
        let mut out = Vec::new();
        // '0' (00000) then three zero bits: padding must be ones.
        assert!(decode(&[0x00], &mut out).is_err());
        // Eight ones: padding longer than seven bits.
        assert!(decode(&[0xff], &mut out).is_err());
        // EOS itself (thirty ones) inside the string.
        assert!(decode(&[0xff, 0xff, 0xff, 0xff], &mut out).is_err());
        // '0' then three one bits: valid.
        out.clear();
        assert!(decode(&[0x07], &mut out).is_ok());
        assert_eq!(out, b"0");
        assert!(decode(&[], &mut out).is_ok());
    }
}
