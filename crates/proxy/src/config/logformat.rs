//! `log-format` lines for access logs: haproxy's `%xx` variables, `%{+Q}` quoting and
//! separator spaces (configuration.txt §8.2.4).

use super::model::{AccessLogFormat, AccessVar, LogItem};

/// Reads a `log-format` string. `Err` names what dermaga cannot fill (a `%[sample]`, a flag
/// other than `+Q`, an unknown variable).
pub(crate) fn parse_access_format(text: &str) -> Result<AccessLogFormat, String> {
    let mut items = Vec::new();
    let mut lit = String::new();
    let mut chars = text.char_indices().peekable();
    let flush = |lit: &mut String, items: &mut Vec<LogItem>| {
        if !lit.is_empty() {
            items.push(LogItem::Text(std::mem::take(lit)));
        }
    };
    while let Some((i, c)) = chars.next() {
        match c {
            ' ' => {
                flush(&mut lit, &mut items);
                if items.last() != Some(&LogItem::Separator) {
                    items.push(LogItem::Separator);
                }
            }
            '\\' => {
                if let Some((_, n)) = chars.next() {
                    lit.push(n);
                }
            }
            '%' => {
                let rest = &text[i + 1..];
                if rest.starts_with('%') {
                    chars.next();
                    lit.push('%');
                    continue;
                }
                if rest.starts_with('[') {
                    let end = rest.find(']').map_or(rest.len(), |e| e + 1);
                    return Err(format!("sample expressions such as '%{}'", &rest[..end]));
                }
                let mut quoted = false;
                let mut skip = 0;
                if let Some(flags) = rest.strip_prefix('{') {
                    let Some(end) = flags.find('}') else {
                        return Err(format!("the unterminated flags '%{rest}'"));
                    };
                    for f in flags[..end].split(['+', '-']).filter(|f| !f.is_empty()) {
                        if f != "Q" {
                            return Err(format!("the flag '{f}' in '%{{{}}}'", &flags[..end]));
                        }
                    }
                    quoted = flags[..end].contains("+Q");
                    skip = end + 2;
                }
                let name_start = skip;
                let name: String = rest[name_start..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphabetic())
                    .collect();
                if name.is_empty() {
                    lit.push('%');
                    continue;
                }
                let Some(var) = var_named(&name) else {
                    return Err(format!("the variable '%{name}'"));
                };
                for _ in 0..name_start + name.len() {
                    chars.next();
                }
                flush(&mut lit, &mut items);
                items.push(LogItem::Var { var, quoted });
            }
            _ => lit.push(c),
        }
    }
    flush(&mut lit, &mut items);
    Ok(AccessLogFormat { items })
}

fn var_named(name: &str) -> Option<AccessVar> {
    use AccessVar::*;
    Some(match name {
        "ci" => ClientIp,
        "cp" => ClientPort,
        "fi" => FrontendIp,
        "fp" => FrontendPort,
        "si" | "bi" => ServerIp,
        "sp" | "bp" => ServerPort,
        "t" | "tr" => Date,
        "Ts" => Timestamp,
        "f" => Frontend,
        "ft" => FrontendTransport,
        "b" => Backend,
        "s" => Server,
        "TR" | "Tq" => TimeRequest,
        "Th" | "Ti" => TimeZero,
        "Tw" => TimeQueue,
        "Tc" => TimeConnect,
        "Tr" => TimeResponse,
        "Ta" | "Tt" => TimeTotal,
        "ST" => Status,
        "B" => Bytes,
        "CC" | "CS" => NoCapture,
        "hr" => CapturedRequest,
        "hs" => CapturedResponse,
        "ts" => TermState,
        "tsc" => TermStateCookie,
        "ac" => ActConn,
        "fc" => FeConn,
        "bc" => BeConn,
        "sc" => SrvConn,
        "rc" => Retries,
        "sq" => SrvQueue,
        "bq" => BeQueue,
        "r" => RequestLine,
        "HM" => Method,
        "HU" => Uri,
        "HP" => Path,
        "HQ" => Query,
        "HV" => Version,
        "H" => Hostname,
        "pid" => Pid,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn haproxy_httplog_format_reads() {
        let f = parse_access_format(
            "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r",
        )
        .unwrap();
        assert_eq!(
            f.items.last(),
            Some(&LogItem::Var {
                var: AccessVar::RequestLine,
                quoted: true
            })
        );
        assert_eq!(
            f.items[0],
            LogItem::Var {
                var: AccessVar::ClientIp,
                quoted: false
            }
        );
        assert_eq!(f.items[1], LogItem::Text(":".into()));
    }

    #[test]
    fn what_cannot_be_filled_is_named() {
        assert_eq!(
            parse_access_format("%ci %[src]").unwrap_err(),
            "sample expressions such as '%[src]'"
        );
        assert_eq!(
            parse_access_format("%{+X}Ts").unwrap_err(),
            "the flag 'X' in '%{+X}'"
        );
        assert_eq!(
            parse_access_format("%zz").unwrap_err(),
            "the variable '%zz'"
        );
        assert!(parse_access_format("100%% %{-Q}r").is_ok());
    }
}
