//! Splits zone-file text into entries and tokens.
//!
//! An entry is one logical line: a physical line, or several joined by parentheses. Tokens are
//! byte ranges into the caller's buffer (no allocation per token); escapes stay in the text and
//! are decoded by whoever reads the token, since names and character strings decode them
//! differently.

/// One token of an entry.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Token {
    /// Byte range in the buffer, quotes excluded.
    pub start: usize,
    pub end: usize,
    pub line: u32,
    pub column: u32,
    /// Written in double quotes.
    pub quoted: bool,
    /// Holds at least one backslash.
    pub escaped: bool,
}

/// What one call to [`Lexer::next_entry`] found.
pub(crate) enum Entry {
    /// An entry (possibly without tokens: a blank or comment line). `owner_omitted` says the
    /// entry's first line began with blank space. The tokens are in the lexer's `tokens`.
    Complete { owner_omitted: bool },
    /// The entry is broken; the message and its position. The rest of the entry was skipped.
    Error {
        line: u32,
        column: u32,
        message: &'static str,
    },
    /// The buffer ends before the entry does; give more text (or say it is the end).
    NeedMore,
    /// Nothing left.
    End,
}

/// Walks a buffer entry by entry; the buffer may grow between calls (streaming).
pub(crate) struct Lexer {
    /// Offset of the next entry.
    pub pos: usize,
    /// Line number at `pos` (1-based) and the offset where that line starts.
    pub line: u32,
    pub line_start: usize,
    pub tokens: Vec<Token>,
}

impl Lexer {
    pub fn new() -> Self {
        Lexer {
            pos: 0,
            line: 1,
            line_start: 0,
            tokens: Vec::with_capacity(32),
        }
    }

    /// Moves the lexer after the buffer dropped its first `n` bytes.
    pub fn shift(&mut self, n: usize) {
        self.pos -= n;
        self.line_start = self.line_start.saturating_sub(n);
    }

    /// Reads the next entry of `buf`. `eof` says `buf` holds the rest of the input.
    pub fn next_entry(&mut self, buf: &[u8], eof: bool) -> Entry {
        self.tokens.clear();
        if self.pos >= buf.len() {
            return if eof { Entry::End } else { Entry::NeedMore };
        }
        let mut p = self.pos;
        let mut line = self.line;
        let mut line_start = self.line_start;
        let mut depth = 0u32;
        let mut paren_line = 0;
        let mut paren_col = 0;
        let owner_omitted = matches!(buf[p], b' ' | b'\t');
        let mut error: Option<(u32, u32, &'static str)> = None;

        macro_rules! col {
            ($at:expr) => {
                ($at - line_start + 1) as u32
            };
        }

        loop {
            if p >= buf.len() {
                if !eof {
                    return Entry::NeedMore;
                }
                if depth > 0 && error.is_none() {
                    error = Some((
                        paren_line,
                        paren_col,
                        "unbalanced parentheses: '(' never closed",
                    ));
                }
                break;
            }
            match buf[p] {
                b'\n' => {
                    p += 1;
                    line += 1;
                    line_start = p;
                    if depth == 0 {
                        break;
                    }
                }
                b' ' | b'\t' | b'\r' => p += 1,
                b';' => {
                    while p < buf.len() && buf[p] != b'\n' {
                        p += 1;
                    }
                }
                b'(' => {
                    if depth > 0 && error.is_none() {
                        error = Some((line, col!(p), "nested parentheses"));
                    }
                    depth += 1;
                    paren_line = line;
                    paren_col = col!(p);
                    p += 1;
                }
                b')' => {
                    if depth == 0 {
                        if error.is_none() {
                            error =
                                Some((line, col!(p), "unbalanced parentheses: ')' without '('"));
                        }
                    } else {
                        depth -= 1;
                    }
                    p += 1;
                }
                b'"' => {
                    let (tline, tcol) = (line, col!(p));
                    p += 1;
                    let start = p;
                    let mut escaped = false;
                    loop {
                        if p >= buf.len() {
                            if !eof {
                                return Entry::NeedMore;
                            }
                            if error.is_none() {
                                error = Some((tline, tcol, "quoted string never closed"));
                            }
                            break;
                        }
                        match buf[p] {
                            b'"' => break,
                            b'\\' => {
                                escaped = true;
                                if p + 1 < buf.len() && buf[p + 1] == b'\n' {
                                    line += 1;
                                    line_start = p + 2;
                                }
                                p += 2;
                            }
                            b'\n' => {
                                line += 1;
                                p += 1;
                                line_start = p;
                            }
                            _ => p += 1,
                        }
                    }
                    let end = p.min(buf.len());
                    p = (p + 1).min(buf.len());
                    self.tokens.push(Token {
                        start,
                        end,
                        line: tline,
                        column: tcol,
                        quoted: true,
                        escaped,
                    });
                }
                _ => {
                    let start = p;
                    let mut escaped = false;
                    while p < buf.len() {
                        match buf[p] {
                            b' ' | b'\t' | b'\r' | b'\n' | b';' | b'(' | b')' | b'"' => break,
                            b'\\' => {
                                escaped = true;
                                p += 2;
                            }
                            _ => p += 1,
                        }
                    }
                    if p >= buf.len() && !eof {
                        return Entry::NeedMore;
                    }
                    let end = p.min(buf.len());
                    p = end;
                    self.tokens.push(Token {
                        start,
                        end,
                        line,
                        column: col!(start),
                        quoted: false,
                        escaped,
                    });
                }
            }
        }
        self.pos = p;
        self.line = line;
        self.line_start = line_start;
        match error {
            Some((line, column, message)) => Entry::Error {
                line,
                column,
                message,
            },
            None => Entry::Complete { owner_omitted },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> Vec<(String, u32, u32)> {
        let mut lx = Lexer::new();
        let mut out = Vec::new();
        loop {
            match lx.next_entry(text.as_bytes(), true) {
                Entry::Complete { .. } => {
                    for t in &lx.tokens {
                        out.push((text[t.start..t.end].to_string(), t.line, t.column));
                    }
                }
                Entry::End => return out,
                Entry::Error { message, .. } => panic!("{message}"),
                Entry::NeedMore => unreachable!(),
            }
        }
    }

    #[test]
    fn parentheses_join_lines_and_keep_positions() {
        let t = tokens("a SOA ( ns ; c\n  host \"x y\" )\nb A 1\n");
        let want = [
            ("a", 1, 1),
            ("SOA", 1, 3),
            ("ns", 1, 9),
            ("host", 2, 3),
            ("x y", 2, 8),
            ("b", 3, 1),
            ("A", 3, 3),
            ("1", 3, 5),
        ];
        let got: Vec<_> = t.iter().map(|(s, l, c)| (s.as_str(), *l, *c)).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn need_more_until_entry_is_whole() {
        let mut lx = Lexer::new();
        assert!(matches!(lx.next_entry(b"a A (1", false), Entry::NeedMore));
        assert!(matches!(
            lx.next_entry(b"a A (1\n2)\n", false),
            Entry::Complete { .. }
        ));
        assert_eq!(lx.tokens.len(), 4);
    }
}
