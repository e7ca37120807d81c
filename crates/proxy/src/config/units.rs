//! Time and size values (configuration.txt §2.5 and §2.6).

use std::time::Duration;

/// Why a time value was refused, in the words haproxy uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeError {
    /// No value at all.
    Empty,
    /// A character that is neither a digit nor a known unit.
    BadChar(char),
    /// More than 2147483647 ms.
    Overflow,
    /// Non-zero but less than 1 ms.
    Underflow,
}

/// Reads a time such as `5000`, `5s`, `1m`, `250ms`, `100us`, `2h`, `1d` (no unit:
/// milliseconds). Values must be integers. Like haproxy, the result is kept in whole
/// milliseconds and must fit in 2147483647 ms (~24.8 days); a non-zero value below 1 ms is
/// refused.
pub fn parse_time(s: &str) -> Result<Duration, TimeError> {
    let b = s.as_bytes();
    if b.is_empty() {
        return Err(TimeError::Empty);
    }
    let digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 {
        return Err(TimeError::BadChar(b[0] as char));
    }
    let mut value: u64 = 0;
    for &d in &b[..digits] {
        value = value.saturating_mul(10).saturating_add(u64::from(d - b'0'));
    }
    let unit = &s[digits..];
    // Unit as a ratio to milliseconds: (multiplier, divisor).
    let (mul, div) = match unit {
        "" | "ms" => (1u64, 1u64),
        "us" => (1, 1000),
        "s" => (1000, 1),
        "m" => (60_000, 1),
        "h" => (3_600_000, 1),
        "d" => (86_400_000, 1),
        _ => {
            // Point at the first character that is not part of a unit, as haproxy does.
            let bad = unit
                .char_indices()
                .find(|&(i, c)| !matches!((i, c), (0, 'u' | 'm' | 's' | 'h' | 'd') | (1, 's')))
                .map(|(_, c)| c)
                .unwrap_or_else(|| unit.chars().next().unwrap_or('?'));
            return Err(TimeError::BadChar(bad));
        }
    };
    let ms = value.saturating_mul(mul) / div;
    if value != 0 && ms == 0 {
        return Err(TimeError::Underflow);
    }
    if ms > i32::MAX as u64 {
        return Err(TimeError::Overflow);
    }
    Ok(Duration::from_millis(ms))
}

/// Reads a size such as `16384`, `16k`, `1m`, `1g` (case-insensitive units, powers of 1024).
pub fn parse_size(s: &str) -> Option<u64> {
    let digits = s.bytes().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    let n: u64 = s[..digits].parse().ok()?;
    let mul = match s[digits..].to_ascii_lowercase().as_str() {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(mul)
}

/// Reads a non-negative integer that must be written whole (no sign, no trailing garbage).
pub fn parse_uint(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time("5000"), Ok(Duration::from_millis(5000)));
        assert_eq!(parse_time("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_time("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_time("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_time("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_time("1d"), Ok(Duration::from_secs(86400)));
        assert_eq!(parse_time("3000us"), Ok(Duration::from_millis(3)));
        assert_eq!(parse_time("0"), Ok(Duration::ZERO));
        assert_eq!(parse_time("10x"), Err(TimeError::BadChar('x')));
        assert_eq!(parse_time("1.5s"), Err(TimeError::BadChar('.')));
        assert_eq!(parse_time("5mx"), Err(TimeError::BadChar('x')));
        assert_eq!(parse_time("s"), Err(TimeError::BadChar('s')));
        assert_eq!(parse_time(""), Err(TimeError::Empty));
        assert_eq!(parse_time("99999999999"), Err(TimeError::Overflow));
        assert_eq!(parse_time("25d"), Err(TimeError::Overflow));
        assert_eq!(parse_time("24d"), Ok(Duration::from_secs(24 * 86400)));
        assert_eq!(parse_time("500us"), Err(TimeError::Underflow));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("16384"), Some(16384));
        assert_eq!(parse_size("16k"), Some(16384));
        assert_eq!(parse_size("16K"), Some(16384));
        assert_eq!(parse_size("1m"), Some(1 << 20));
        assert_eq!(parse_size("2g"), Some(2 << 30));
        assert_eq!(parse_size("1x"), None);
        assert_eq!(parse_size(""), None);
        assert_eq!(parse_uint("12"), Some(12));
        assert_eq!(parse_uint("-1"), None);
        assert_eq!(parse_uint("1a"), None);
    }
}
