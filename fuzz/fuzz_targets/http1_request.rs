//! The proxy's HTTP/1 request-head parser and chunked-body scanner on arbitrary bytes: no
//! panic, and a complete head never claims more bytes than it was given.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    dermaga_proxy::http1::fuzz_one(data);
});
