//! The haproxy.cfg reader (lexer, conditions, sections, keywords) on arbitrary text.
#![no_main]

struct NoEnv;

impl dermaga_proxy::config::Env for NoEnv {
    fn var(&self, _: &str) -> Option<String> {
        None
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = dermaga_proxy::config::load_str("fuzz.cfg", text, &NoEnv);
    }
});
