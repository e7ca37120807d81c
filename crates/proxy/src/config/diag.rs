//! Diagnostics: errors, warnings and notices, printed exactly as haproxy 2.6 prints them.

use std::fmt;

use super::model::Location;

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The configuration cannot be used (`[ALERT]`).
    Alert,
    /// Usable, but probably not what was meant (`[WARNING]`).
    Warning,
    /// Information (`[NOTICE]`), e.g. from `.notice`.
    Notice,
}

impl Severity {
    /// haproxy's label: `[ALERT]`, `[WARNING]`, `[NOTICE]`.
    pub fn label(self) -> &'static str {
        match self {
            Severity::Alert => "[ALERT]",
            Severity::Warning => "[WARNING]",
            Severity::Notice => "[NOTICE]",
        }
    }
}

/// One message about the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// The line it is about, when there is one.
    pub loc: Option<Location>,
    /// The text haproxy prints after `[LEVEL]    (PID) : config : `, e.g.
    /// `parsing [haproxy.cfg:12] : unknown keyword 'foo' in 'global' section`. It may span
    /// several lines (a caret under the faulty character, or haproxy's `   | ` continuation
    /// lines).
    pub message: String,
}

impl Diagnostic {
    /// An error.
    pub fn alert(loc: Option<Location>, message: String) -> Diagnostic {
        Diagnostic {
            severity: Severity::Alert,
            loc,
            message,
        }
    }

    /// A warning.
    pub fn warning(loc: Option<Location>, message: String) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            loc,
            message,
        }
    }

    /// A notice.
    pub fn notice(loc: Option<Location>, message: String) -> Diagnostic {
        Diagnostic {
            severity: Severity::Notice,
            loc,
            message,
        }
    }

    /// Whether it is an error.
    pub fn is_alert(&self) -> bool {
        self.severity == Severity::Alert
    }

    /// The line haproxy would print for it, with process id `pid`, without a final newline:
    /// `[ALERT]    (1234) : config : parsing [a.cfg:3] : ...`.
    pub fn render(&self, pid: u32) -> String {
        format!(
            "{:<11}({pid}) : config : {}",
            self.severity.label(),
            self.message
        )
    }
}

impl fmt::Display for Diagnostic {
    /// The message with its label, without a process id: `[ALERT] parsing [a.cfg:3] : ...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.severity.label(), self.message)
    }
}

impl std::error::Error for Diagnostic {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_haproxy() {
        let d = Diagnostic::alert(None, "parsing [a.cfg:3] : unknown keyword 'foo'".into());
        assert_eq!(
            d.render(42),
            "[ALERT]    (42) : config : parsing [a.cfg:3] : unknown keyword 'foo'"
        );
        let w = Diagnostic::warning(None, "x".into());
        assert_eq!(w.render(7), "[WARNING]  (7) : config : x");
        let n = Diagnostic::notice(None, "y".into());
        assert_eq!(n.render(7), "[NOTICE]   (7) : config : y");
    }
}
