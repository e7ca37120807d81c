//! Domain names in presentation form.

use bytes::Bytes;
use domain::base::Name;

pub(crate) fn parse_absolute(text: &[u8]) -> Result<Name<Bytes>, String> {
    let s = std::str::from_utf8(text).map_err(|e| e.to_string())?;
    let s = if s.ends_with('.') { s.to_string() } else { format!("{s}.") };
    Name::<Bytes>::from_chars(s.chars()).map_err(|e| e.to_string())
}
