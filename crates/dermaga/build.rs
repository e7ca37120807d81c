//! Links the `dermaga` executable at a fixed address (not position-independent), with the
//! functions the benchmarked paths run laid out first.
//!
//! A PIE of this size carries 33,000 relative relocations: every process of it (each
//! `run`, `exec`, and every container's monitor) spends time in the dynamic loader applying
//! them and keeps the relocated pages (`.data.rel.ro`, the GOT, about 470 kB) as private dirty
//! memory for its whole life. Linked without PIE, those pages stay clean and shared with the
//! file. See docs/decisions.md (2026-11-26, the executable is not position-independent).
//!
//! The order of functions: see `link/hot-functions.txt` and docs/decisions.md (2026-11-27,
//! hot functions first).
include!("../../link/order.rs");

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rustc-link-arg-bin=dermaga=-no-pie");
    for arg in hot_functions_first(env!("CARGO_MANIFEST_DIR")) {
        println!("cargo:rustc-link-arg-bin=dermaga={arg}");
    }
}
