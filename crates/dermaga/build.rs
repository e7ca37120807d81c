//! Links the `dermaga` executable at a fixed address (not position-independent).
//!
//! A PIE of this size carries 33,000 relative relocations: every process of it (each
//! `run`, `exec`, and every container's monitor) spends time in the dynamic loader applying
//! them and keeps the relocated pages (`.data.rel.ro`, the GOT, about 470 kB) as private dirty
//! memory for its whole life. Linked without PIE, those pages stay clean and shared with the
//! file. See docs/decisions.md (2026-11-26, the executable is not position-independent).
fn main() {
    println!("cargo:rustc-link-arg-bin=dermaga=-no-pie");
}
