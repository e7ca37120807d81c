//! Replays the fuzz corpus (crates/proxy/fuzz/corpus/*) as an ordinary test, so CI checks the
//! cases the fuzzer found without running a fuzzer.

#[test]
fn http1_request_corpus() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/http1_request");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).expect("corpus directory") {
        let data = std::fs::read(e.unwrap().path()).unwrap();
        dermaga_proxy::http1::fuzz_one(&data);
        // and every prefix, as bytes arrive in pieces
        for cut in 0..data.len() {
            dermaga_proxy::http1::fuzz_one(&data[..cut]);
        }
        n += 1;
    }
    assert!(n >= 5, "corpus has {n} files");
}
