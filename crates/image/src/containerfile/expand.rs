//! Shell-style words as BuildKit reads them in ENV, LABEL, COPY, WORKDIR, ...: splitting on
//! blanks outside quotes, then quote removal, escapes and variable substitution (`$V`, `${V}`,
//! `${V:-word}`, `${V-word}`, `${V:+word}`, `${V+word}`; `${V:?msg}` is an error when unset).

/// Splits `s` into words at unquoted, unescaped blanks; quotes and escapes stay in the words
/// (they are processed by [`expand`]).
pub fn split_words(s: &str, escape: char) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                cur.push(c);
                if c == escape && q == '"' {
                    if let Some(n) = chars.next() {
                        cur.push(n);
                    }
                } else if c == q {
                    quote = None;
                }
            }
            None if c == escape => {
                cur.push(c);
                in_word = true;
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            None if c == '\'' || c == '"' => {
                cur.push(c);
                in_word = true;
                quote = Some(c);
            }
            None if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            None => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if let Some(q) = quote {
        return Err(format!("unterminated {q} quote"));
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// Processes one word: removes quotes, applies escapes, substitutes variables from `lookup`
/// (not inside single quotes).
pub fn expand(
    word: &str,
    escape: char,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let chars: Vec<char> = word.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    let mut quote: Option<char> = None;
    while i < chars.len() {
        let c = chars[i];
        match (quote, c) {
            (Some('\''), '\'') => quote = None,
            (Some('\''), _) => out.push(c),
            (Some('"'), '"') => quote = None,
            (None, '\'') | (None, '"') => quote = Some(c),
            (q, e) if e == escape => {
                i += 1;
                if let Some(&n) = chars.get(i) {
                    // Inside double quotes only $, ", the escape and newline are special.
                    if q == Some('"') && n != '$' && n != '"' && n != escape {
                        out.push(e);
                    }
                    out.push(n);
                } else {
                    out.push(e);
                }
            }
            (_, '$') => {
                let (text, next) = substitute(&chars, i, escape, lookup)?;
                out.push_str(&text);
                i = next;
                continue;
            }
            _ => out.push(c),
        }
        i += 1;
    }
    if let Some(q) = quote {
        return Err(format!("unterminated {q} quote in {word}"));
    }
    Ok(out)
}

/// Expands `$NAME` or `${...}` at `chars[start]` (a `$`); returns the text and the index after.
fn substitute(
    chars: &[char],
    start: usize,
    escape: char,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(String, usize), String> {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut i = start + 1;
    if chars.get(i) == Some(&'{') {
        i += 1;
        let name_start = i;
        while i < chars.len() && is_name(chars[i]) {
            i += 1;
        }
        let name: String = chars[name_start..i].iter().collect();
        if name.is_empty() {
            return Err("bad substitution: ${} without a name".into());
        }
        let value = lookup(&name);
        match chars.get(i) {
            Some('}') => return Ok((value.unwrap_or_default(), i + 1)),
            None => return Err(format!("missing }} after ${{{name}")),
            _ => {}
        }
        let colon = chars[i] == ':';
        if colon {
            i += 1;
        }
        let op = *chars
            .get(i)
            .ok_or_else(|| format!("missing }} after ${{{name}"))?;
        i += 1;
        // The word runs to the matching brace (nested ${...} allowed).
        let word_start = i;
        let mut depth = 1;
        while i < chars.len() {
            if chars[i] == escape {
                i += 2;
                continue;
            }
            if chars[i] == '{' {
                depth += 1;
            } else if chars[i] == '}' {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            i += 1;
        }
        if i >= chars.len() {
            return Err(format!("missing }} after ${{{name}"));
        }
        let word: String = chars[word_start..i].iter().collect();
        let set = match &value {
            Some(v) => !(colon && v.is_empty()),
            None => false,
        };
        let text = match op {
            '-' => {
                if set {
                    value.unwrap_or_default()
                } else {
                    expand(&word, escape, lookup)?
                }
            }
            '+' => {
                if set {
                    expand(&word, escape, lookup)?
                } else {
                    String::new()
                }
            }
            '?' => {
                if set {
                    value.unwrap_or_default()
                } else {
                    let msg = expand(&word, escape, lookup)?;
                    return Err(format!(
                        "{name}: {}",
                        if msg.is_empty() { "is not set" } else { &msg }
                    ));
                }
            }
            other => {
                return Err(format!(
                    "unsupported modifier ({other}) in substitution ${{{name}...}}"
                ))
            }
        };
        Ok((text, i + 1))
    } else {
        let name_start = i;
        while i < chars.len() && is_name(chars[i]) {
            i += 1;
        }
        if i == name_start {
            return Ok(("$".into(), i));
        }
        let name: String = chars[name_start..i].iter().collect();
        Ok((lookup(&name).unwrap_or_default(), i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "A" => Some("a".into()),
            "EMPTY" => Some(String::new()),
            "SP" => Some("x y".into()),
            _ => None,
        }
    }

    #[test]
    fn expansion_table() {
        let cases: &[(&str, &str)] = &[
            ("$A", "a"),
            ("${A}", "a"),
            ("pre${A}post", "preapost"),
            ("$Apost", ""),
            ("${NOPE:-dflt}", "dflt"),
            ("${EMPTY:-dflt}", "dflt"),
            ("${EMPTY-dflt}", ""),
            ("${A:-dflt}", "a"),
            ("${A:+alt}", "alt"),
            ("${EMPTY:+alt}", ""),
            ("${EMPTY+alt}", "alt"),
            ("${NOPE:+alt}", ""),
            ("${NOPE:-${A}x}", "ax"),
            ("'$A'", "$A"),
            ("\"$A b\"", "a b"),
            ("\\$A", "$A"),
            ("a\\ b", "a b"),
            ("\"a\\tb\"", "a\\tb"),
            ("$", "$"),
            ("${SP}", "x y"),
        ];
        for (input, want) in cases {
            assert_eq!(&expand(input, '\\', &env).unwrap(), want, "input {input}");
        }
        assert_eq!(expand("`$A", '`', &env).unwrap(), "$A");
        assert!(expand("${NOPE:?must be set}", '\\', &env)
            .unwrap_err()
            .contains("must be set"));
        assert!(expand("${A", '\\', &env).unwrap_err().contains("missing }"));
        assert!(expand("${A/x/y}", '\\', &env)
            .unwrap_err()
            .contains("unsupported modifier"));
        assert!(expand("'abc", '\\', &env)
            .unwrap_err()
            .contains("unterminated"));
    }

    #[test]
    fn word_splitting() {
        assert_eq!(
            split_words(r#"a "b c" d\ e 'f g'"#, '\\').unwrap(),
            vec!["a", "\"b c\"", "d\\ e", "'f g'"]
        );
        assert_eq!(split_words("  ", '\\').unwrap(), Vec::<String>::new());
        assert!(split_words("\"abc", '\\').is_err());
    }
}
