//! `dermaga system check` for the image store.

/// What a check found.
#[derive(Clone, Debug, Default)]
pub struct CheckReport {
    pub problems: Vec<String>,
    pub garbage: Vec<String>,
    pub repaired: Vec<String>,
}
