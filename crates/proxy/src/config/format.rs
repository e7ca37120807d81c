//! haproxy log-format strings as used in rule arguments (`http-request set-header X
//! "%[src]"`, `redirect location`, ...): literal text with `%[fetch]` samples and `%xx`
//! variables (configuration.txt §8.2.6).

use super::aclparse::parse_fetch;
use super::model::{FormatPart, FormatString, LogVar};
use crate::acl::{Fetch, MatchMethod, SampleType};

/// Reads a log-format string. Errors are haproxy-style texts without location.
pub(crate) fn parse_format(text: &str) -> Result<FormatString, String> {
    let mut parts: Vec<FormatPart> = Vec::new();
    let mut lit: Vec<u8> = Vec::new();
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'%' {
            lit.push(b[i]);
            i += 1;
            continue;
        }
        match b.get(i + 1) {
            Some(b'%') => {
                lit.push(b'%');
                i += 2;
            }
            Some(b'[') => {
                let Some(end) = text[i + 2..].find(']') else {
                    return Err(format!(
                        "missing closing ']' in sample expression at '{}'",
                        &text[i..]
                    ));
                };
                let expr = &text[i + 2..i + 2 + end];
                let fetch = parse_sample_fetch(expr).map_err(|e| {
                    if e.starts_with("unknown fetch method") {
                        let name = expr.split(['(', ',']).next().unwrap_or(expr);
                        format!(
                            "failed to parse sample expression <{}> : unknown fetch method '{name}'",
                            &text[i + 2..]
                        )
                    } else {
                        e
                    }
                })?;
                if !lit.is_empty() {
                    parts.push(FormatPart::Literal(std::mem::take(&mut lit)));
                }
                parts.push(FormatPart::Sample(fetch));
                i += 2 + end + 1;
            }
            Some(b'{') => {
                return Err(format!(
                    "log-format flags ('{}') are not supported by dermaga",
                    text[i..].split('}').next().unwrap_or("").to_string() + "}"
                ));
            }
            Some(c) if c.is_ascii_alphabetic() => {
                let len = b[i + 1..]
                    .iter()
                    .take_while(|c| c.is_ascii_alphanumeric())
                    .count();
                let name = &text[i + 1..i + 1 + len];
                let var = match name {
                    "ci" => LogVar::ClientIp,
                    "cp" => LogVar::ClientPort,
                    "fi" => LogVar::FrontendIp,
                    "fp" => LogVar::FrontendPort,
                    "H" => LogVar::Hostname,
                    "pid" => LogVar::Pid,
                    "Ts" => LogVar::Timestamp,
                    "r" => LogVar::RequestLine,
                    "ID" => LogVar::UniqueId,
                    "f" => LogVar::FrontendName,
                    "b" => LogVar::BackendName,
                    _ => {
                        return Err(format!(
                            "log-format variable '%{name}' is not supported by dermaga"
                        ))
                    }
                };
                if !lit.is_empty() {
                    parts.push(FormatPart::Literal(std::mem::take(&mut lit)));
                }
                parts.push(FormatPart::Var(var));
                i += 1 + len;
            }
            _ => {
                // A lone '%' is kept as it is, as haproxy does at the end of a string.
                lit.push(b'%');
                i += 1;
            }
        }
    }
    if !lit.is_empty() || parts.is_empty() {
        parts.push(FormatPart::Literal(lit));
    }
    Ok(FormatString {
        text: text.to_string(),
        parts,
    })
}

/// A sample fetch as written inside `%[...]` (no ACL match suffixes such as `_beg`).
pub(crate) fn parse_sample_fetch(expr: &str) -> Result<Fetch, String> {
    let (fetch, implied) =
        parse_fetch(expr).map_err(|e| e.replace(" in ACL expression", " in sample expression"))?;
    if matches!(fetch, Fetch::NbSrv { .. }) {
        // Its backend is checked where ACLs are read; sample expressions are not.
        return Err(
            "fetch 'nbsrv' in a sample expression is not supported by dermaga (it works in ACLs)"
                .to_string(),
        );
    }
    let natural = match fetch.sample_type() {
        SampleType::Str => MatchMethod::Str,
        SampleType::Int => MatchMethod::Int,
        SampleType::Ip => MatchMethod::Ip,
        SampleType::Bool => MatchMethod::Bool,
    };
    if implied != natural {
        let name = expr.split('(').next().unwrap_or(expr);
        return Err(format!(
            "unknown fetch method '{name}' in sample expression '{expr}'."
        ));
    }
    Ok(fetch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_samples_and_vars() {
        let f = parse_format("https://%[req.hdr(host)]%[path]?x=%ci:%cp 100%%").unwrap();
        assert_eq!(
            f.parts,
            vec![
                FormatPart::Literal(b"https://".to_vec()),
                FormatPart::Sample(Fetch::Hdr {
                    name: b"host".to_vec().into(),
                    occ: None
                }),
                FormatPart::Sample(Fetch::Path),
                FormatPart::Literal(b"?x=".to_vec()),
                FormatPart::Var(LogVar::ClientIp),
                FormatPart::Literal(b":".to_vec()),
                FormatPart::Var(LogVar::ClientPort),
                FormatPart::Literal(b" 100%".to_vec()),
            ]
        );
        assert_eq!(
            parse_format("plain").unwrap().as_literal(),
            Some(&b"plain"[..])
        );
        assert_eq!(parse_format("").unwrap().as_literal(), Some(&b""[..]));
    }

    #[test]
    fn refusals() {
        assert!(parse_format("%[src,ipmask(24)]")
            .unwrap_err()
            .contains("converter 'ipmask'"));
        assert!(parse_format("%[ssl_c_s_dn]")
            .unwrap_err()
            .contains("not supported by dermaga"));
        assert!(parse_format("%[path_beg]")
            .unwrap_err()
            .contains("unknown fetch method"));
        assert!(parse_format("%Tr")
            .unwrap_err()
            .contains("'%Tr' is not supported"));
        assert!(parse_format("%{+Q}r").unwrap_err().contains("flags"));
        assert!(parse_format("%[src")
            .unwrap_err()
            .contains("missing closing ']'"));
    }
}
