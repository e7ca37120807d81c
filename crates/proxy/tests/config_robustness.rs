//! The loader never panics, whatever the bytes: every test configuration, cut short at
//! every line and mutated at random (deterministically), must load or fail with diagnostics.
//! (A cargo-fuzz target can drive `config::load_str` the same way.)

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use dermaga_proxy::config::{load_str, Env};

/// No environment and no network: only `localhost` resolves.
struct Offline;

impl Env for Offline {
    fn var(&self, name: &str) -> Option<String> {
        (name == "SET").then(|| "value with spaces".to_string())
    }
    fn resolve_host(&self, host: &str) -> Vec<IpAddr> {
        if host == "localhost" {
            vec![IpAddr::from([127, 0, 0, 1])]
        } else {
            Vec::new()
        }
    }
}

fn all_configs(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            all_configs(&p, out);
        } else if p.extension().is_some_and(|x| x == "cfg") {
            out.push(p);
        }
    }
}

/// xorshift64*: reproducible without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const SPECIAL: &[&str] = &[
    "\"",
    "'",
    "\\",
    "\\x",
    "$",
    "${",
    "}",
    "{",
    "#",
    "%[",
    "]",
    "(",
    ")",
    ",",
    ":",
    "é",
    "\0",
    "\n",
    "!",
    "||",
    "&&",
    " ",
    "\t",
    "-",
    "if",
    "unless",
    ".if 1\n",
    ".endif\n",
    "\"${SET}\"",
    "\"${SET[*]}\"",
    "99999999999",
    "0",
    "fd@",
    "ipv6@",
    "[",
    "::",
    "/",
    "*",
    "-m",
    "-i",
    "-f",
];

#[test]
fn truncated_and_mutated_configs_never_panic() {
    let mut files = Vec::new();
    all_configs(Path::new("tests/data/configs"), &mut files);
    files.sort();
    assert!(files.len() > 50);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut runs = 0;
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let name = f.display().to_string();
        // Every prefix made of whole lines.
        let mut end = 0;
        for line in text.split_inclusive('\n') {
            end += line.len();
            let _ = load_str(&name, &text[..end], &Offline);
            runs += 1;
        }
        // Random edits at character boundaries.
        let chars: Vec<char> = text.chars().collect();
        for _ in 0..200 {
            let mut c = chars.clone();
            for _ in 0..1 + rng.below(3) {
                let at = rng.below(c.len() + 1);
                let piece: Vec<char> = SPECIAL[rng.below(SPECIAL.len())].chars().collect();
                match rng.below(3) {
                    0 => {
                        c.splice(at..at, piece);
                    }
                    1 if at < c.len() => {
                        let to = (at + piece.len()).min(c.len());
                        c.splice(at..to, piece);
                    }
                    _ if at < c.len() => {
                        let to = (at + 1 + rng.below(8)).min(c.len());
                        c.drain(at..to);
                    }
                    _ => {}
                }
            }
            let mutated: String = c.into_iter().collect();
            let _ = load_str(&name, &mutated, &Offline);
            runs += 1;
        }
    }
    assert!(runs > 5000, "{runs} runs");
}
