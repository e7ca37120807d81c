//! `dermaga dns check`: named-checkzone's checks over a loaded zone.

use std::fmt;

use super::{LoadedZone, SourceLocation};

/// How bad a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

/// One finding of [`check_zone`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub location: Option<SourceLocation>,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        match &self.location {
            Some(l) => write!(f, "{l}: {sev}: {}", self.message),
            None => write!(f, "{sev}: {}", self.message),
        }
    }
}

/// Checks a loaded zone as named-checkzone does.
pub fn check_zone(_zone: &LoadedZone) -> Vec<Diagnostic> {
    Vec::new()
}

/// One line per diagnostic, as `dermaga dns check` prints them.
pub fn format_diagnostics(diags: &[Diagnostic]) -> Vec<String> {
    diags.iter().map(|d| d.to_string()).collect()
}
