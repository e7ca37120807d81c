//! The proxy's HTTP/1 request-head parser and chunked-body scanner on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut head = dermaga_proxy::http1::RequestHead::default();
    let _ = head.parse(data);
    let mut chunked = dermaga_proxy::http1::ChunkedScanner::new();
    let _ = chunked.scan(data);
});
