#![no_main]
//! Any bytes as a request head, then as a chunked body: no panic, and a complete head never
//! claims more bytes than it was given.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    dermaga_proxy::http1::fuzz_one(data);
});
