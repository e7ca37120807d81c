// Included by the build scripts of crates/dermaga and crates/proxy (`include!`): the linker
// arguments that lay out the functions listed in link/hot-functions.txt first, in its order.
//
// Why: a request through the proxy, or a `dermaga run`, runs a few hundred functions spread
// over 13 MB of code. Laid out together they share instruction-cache lines, TLB entries and
// pages: the proxy's user time per HTTP/2 request fell by 2-10 % in A/B runs, and a `run`
// faults in fewer pages of code. See docs/decisions.md (2026-11-27, hot functions first) and
// bench/hot-functions.sh, which writes the list.
//
// Only where the linker is LLD, which takes `--symbol-ordering-file`: Rust's default linker
// for x86_64 Linux since 1.90, unless the build names another linker. Elsewhere the binaries
// link as before. Names in the list that the code lacks (a renamed function) are skipped
// without a warning: a stale list costs speed only.

/// The `-C link-arg`s for the binaries of the package at `manifest_dir` (two levels below
/// the workspace root); prints the `rerun-if-changed` and `rerun-if-env-changed` lines.
fn hot_functions_first(manifest_dir: &str) -> Vec<String> {
    let list = std::path::Path::new(manifest_dir).join("../../link/hot-functions.txt");
    println!("cargo:rerun-if-changed={}", list.display());
    println!("cargo:rerun-if-env-changed=RUSTC_LINKER");
    let env = |k: &str| std::env::var(k).unwrap_or_default();
    let linked_by_lld = env("TARGET") == "x86_64-unknown-linux-gnu"
        && rustc_minor(&env("RUSTC")).is_some_and(|minor| minor >= 90)
        // A linker named by the build (`-C linker`, `-C linker-flavor`, `-C link-self-contained`,
        // `[target] linker`) may not be LLD.
        && env("RUSTC_LINKER").is_empty()
        && !env("CARGO_ENCODED_RUSTFLAGS").contains("link");
    if !linked_by_lld || !list.exists() {
        return Vec::new();
    }
    vec![
        format!("-Wl,--symbol-ordering-file={}", list.display()),
        "-Wl,--no-warn-symbol-ordering".to_string(),
    ]
}

/// The minor version of the compiler at `rustc` (`rustc 1.95.0 (...)`: 95).
fn rustc_minor(rustc: &str) -> Option<u32> {
    let rustc = if rustc.is_empty() { "rustc" } else { rustc };
    let out = std::process::Command::new(rustc)
        .arg("--version")
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let version = text.split_whitespace().nth(1)?;
    version.split('.').nth(1)?.parse().ok()
}
