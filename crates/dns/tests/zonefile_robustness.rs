//! The scanner never panics: mutated zone files and nsd.conf files, deterministic (a fixed
//! seed), so a failure reproduces. Debug builds also check that every name the scanner
//! builds is valid wire form.

use std::path::Path;

use dermaga_dns::nsdconf::parse_nsd_conf_str;
use dermaga_dns::zonefile::{check_zone, parse_name, parse_zone_str};

/// xorshift64*: small, seeded, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const SPECIAL: &[u8] = b"()\";\\\n\t .@$#=,0123456789abcdefABCDEF-:/*";

fn mutate(rng: &mut Rng, base: &[u8]) -> Vec<u8> {
    let mut v = base.to_vec();
    for _ in 0..1 + rng.below(8) {
        let at = rng.below(v.len());
        match rng.below(5) {
            0 => v[at] = SPECIAL[rng.below(SPECIAL.len())],
            1 => v.insert(at, SPECIAL[rng.below(SPECIAL.len())]),
            2 => {
                let end = (at + rng.below(40)).min(v.len());
                v.drain(at..end);
            }
            3 => {
                let end = (at + rng.below(80)).min(v.len());
                let chunk = v[at..end].to_vec();
                let to = rng.below(v.len());
                v.splice(to..to, chunk);
            }
            _ => v[at] = rng.next() as u8,
        }
        if v.is_empty() {
            v.push(b'\n');
        }
    }
    v
}

#[test]
fn mutated_zone_files_never_panic() {
    let base =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/zones/rich.zone"))
            .unwrap();
    let origin = parse_name("example.com.").unwrap();
    let mut rng = Rng(0x00d1_5ea5_e000_0001);
    let (mut ok, mut failed) = (0, 0);
    for _ in 0..3000 {
        let text = String::from_utf8_lossy(&mutate(&mut rng, &base)).into_owned();
        for o in [Some(&origin), None] {
            match parse_zone_str(&text, o, "fuzz.zone") {
                Ok(z) => {
                    ok += 1;
                    let _ = check_zone(&z);
                    for r in &z.records {
                        let _ = r.to_string();
                    }
                }
                Err(e) => {
                    failed += 1;
                    assert!(!e.errors.is_empty());
                }
            }
        }
    }
    // Both outcomes must occur, or the mutations are not exercising anything.
    assert!(ok > 100 && failed > 100, "ok {ok}, failed {failed}");
}

#[test]
fn mutated_nsd_confs_never_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/nsdconf");
    let mut base = std::fs::read(dir.join("full.conf")).unwrap();
    base.extend(std::fs::read(dir.join("conf.d/patterns.conf")).unwrap());
    let base: Vec<u8> = String::from_utf8(base)
        .unwrap()
        .replace("include: \"conf.d/*.conf\"", "")
        .into_bytes();
    let mut rng = Rng(0x5eed_0000_0000_0002);
    for _ in 0..3000 {
        let text = String::from_utf8_lossy(&mutate(&mut rng, &base)).into_owned();
        let _ = parse_nsd_conf_str(&text, Path::new("/nonexistent/fuzz.conf"));
    }
}
