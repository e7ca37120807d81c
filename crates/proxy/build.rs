//! Links the `dermaga-proxy` executable with the functions the benchmarked paths run laid
//! out first (see `link/order.rs`).

include!("../../link/order.rs");

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    for arg in hot_functions_first(env!("CARGO_MANIFEST_DIR")) {
        println!("cargo:rustc-link-arg-bin=dermaga-proxy={arg}");
    }
}
