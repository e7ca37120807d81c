//! The line syntax of haproxy.cfg (configuration.txt §2.1–2.4), as haproxy 2.6 reads it.
//!
//! A file is read line by line. Each line is cut into words: unquoted spaces and tabs
//! separate words, `#` starts a comment, `"..."` quotes weakly (environment variables
//! `$NAME`, `${NAME}`, `${NAME-default}` and `${NAME[*]}` are expanded inside, and only
//! inside, double quotes), `'...'` quotes strongly (nothing is interpreted), and a backslash
//! escapes `\ `, `\\`, `\#`, `\'`, `\"`, `\$` (in double quotes), `\n`, `\r`, `\t` and `\xNN`;
//! any other backslash is kept as it is (so `\1` stays `\1`).
//!
//! Lines starting with `.` are directives: `.if` / `.elif` / `.else` / `.endif` keep or drop
//! the lines that follow (conditions as `-cc` evaluates them), and `.notice` / `.warning` /
//! `.alert` / `.diag` report a message.
//!
//! Words are bytes turned into `String`s; a `\xNN` escape that makes invalid UTF-8 is
//! replaced by U+FFFD (haproxy.cfg keywords and values are ASCII in practice).

use super::cond;
use super::diag::Diagnostic;
use super::model::Location;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// haproxy's limit of words on one line (`MAX_LINE_ARGS`).
pub const MAX_LINE_ARGS: usize = 64;

/// haproxy's limit of nested `.if` blocks (`MAXNESTEDCONDS`).
const MAX_NESTED_CONDS: usize = 128;

/// What a configuration reads from the world around it: environment variables, and the
/// addresses of host names (resolved once, at load).
pub trait Env {
    /// The value of variable `name`, if it is set.
    fn var(&self, name: &str) -> Option<String>;

    /// The addresses of `host`, in the resolver's order; empty when it has none. The default
    /// asks the system resolver (`/etc/hosts`, then DNS).
    fn resolve_host(&self, host: &str) -> Vec<std::net::IpAddr> {
        use std::net::ToSocketAddrs;
        match (host, 0u16).to_socket_addrs() {
            Ok(addrs) => addrs.map(|a| a.ip()).collect(),
            Err(_) => Vec::new(),
        }
    }
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
    }
}

impl Env for HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// Variables changed by the `global` keywords `setenv`, `presetenv`, `unsetenv` and
/// `resetenv`, over the environment the load started from. Lines after such a keyword (in
/// the same file or a later one) see the change, as in haproxy.
#[derive(Debug, Clone, Default)]
pub struct EnvChanges {
    /// Variables set (`Some`) or unset (`None`).
    set: HashMap<String, Option<String>>,
    /// After `resetenv`: the starting environment is hidden.
    reset: bool,
}

/// The starting environment with the changes applied.
struct Layered<'a> {
    base: &'a dyn Env,
    changes: &'a EnvChanges,
}

impl Env for Layered<'_> {
    fn var(&self, name: &str) -> Option<String> {
        match self.changes.set.get(name) {
            Some(v) => v.clone(),
            None if self.changes.reset => None,
            None => self.base.var(name),
        }
    }

    fn resolve_host(&self, host: &str) -> Vec<std::net::IpAddr> {
        self.base.resolve_host(host)
    }
}

impl EnvChanges {
    /// Applies a `global` line if it is one of the environment keywords with valid
    /// arguments (the parser reports invalid ones).
    fn apply(&mut self, base: &dyn Env, words: &[String]) {
        let arg = |n: usize| words.get(n).map(String::as_str).unwrap_or("");
        match words[0].as_str() {
            "setenv" | "presetenv" if !arg(1).is_empty() && !arg(2).is_empty() => {
                let exists = Layered {
                    base,
                    changes: self,
                }
                .var(arg(1))
                .is_some();
                if words[0] == "setenv" || !exists {
                    self.set
                        .insert(arg(1).to_string(), Some(arg(2).to_string()));
                }
            }
            "unsetenv" => {
                for n in words[1..].iter().take_while(|w| !w.is_empty()) {
                    self.set.insert(n.clone(), None);
                }
            }
            "resetenv" => {
                let keep: HashSet<&str> = words[1..]
                    .iter()
                    .take_while(|w| !w.is_empty())
                    .map(String::as_str)
                    .collect();
                let kept: HashMap<String, Option<String>> = keep
                    .iter()
                    .filter_map(|n| {
                        Layered {
                            base,
                            changes: self,
                        }
                        .var(n)
                        .map(|v| (n.to_string(), Some(v)))
                    })
                    .collect();
                self.set = kept;
                self.reset = true;
            }
            _ => {}
        }
    }
}

/// One line of configuration, cut into words, with its location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub loc: Location,
    /// The words; at least one, none of them a directive. A word may be empty (`""`).
    pub words: Vec<String>,
}

/// Why a line could not be cut into words. The position is a byte offset in the raw line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LexError {
    UnmatchedQuote(usize),
    UnmatchedBrace(usize),
    BadVarName(usize),
    BadHex(usize),
    BadExpand(usize),
    TooManyWords { word: String, pos: usize },
}

/// What a line's pseudo-variables (`${.FILE}`, `${.LINE}`, `${.SECTION}`) resolve to.
pub struct LineContext<'a> {
    pub file: &'a str,
    pub line: u32,
    pub section: &'a str,
}

/// Cuts one line (without its end-of-line) into words, as haproxy's `parse_line()` does with
/// environment expansion, both quotes, backslashes, comments and word expansion enabled.
///
/// A trailing separator produces no extra word, but `""` gives an empty word.
pub fn split_words(
    line: &[u8],
    env: &dyn Env,
    ctx: &LineContext<'_>,
) -> Result<Vec<Vec<u8>>, LexError> {
    let mut words: Vec<Vec<u8>> = Vec::new();
    let mut cur: Vec<u8> = Vec::new();
    // Whether `cur` is a started word (so a separator ends it, even when empty).
    let mut started = false;
    let mut squote = false;
    let mut dquote = false;
    let mut quote_pos = 0usize;
    let mut i = 0usize;
    let at = |i: usize| line.get(i).copied().unwrap_or(0);

    loop {
        let c = at(i);
        if c == 0 || c == b'\n' || c == b'\r' {
            break;
        }
        if c == b'#' && !squote && !dquote {
            break;
        }
        if c == b'"' && !squote {
            dquote = !dquote;
            quote_pos = i;
            started = true;
            i += 1;
            continue;
        }
        if c == b'\'' && !dquote {
            squote = !squote;
            quote_pos = i;
            started = true;
            i += 1;
            continue;
        }
        if c == b'\\' && !squote {
            let mut tosend = c;
            match at(i + 1) {
                b' ' | b'\\' => {
                    tosend = at(i + 1);
                    i += 1;
                }
                b't' => {
                    tosend = b'\t';
                    i += 1;
                }
                b'n' => {
                    tosend = b'\n';
                    i += 1;
                }
                b'r' => {
                    tosend = b'\r';
                    i += 1;
                }
                b'#' | b'\'' | b'"' => {
                    i += 1;
                    tosend = at(i);
                }
                b'$' if dquote => {
                    i += 1;
                    tosend = at(i);
                }
                b'x' => {
                    let (h1, h2) = (at(i + 2), at(i + 3));
                    if !h1.is_ascii_hexdigit() || !h2.is_ascii_hexdigit() {
                        return Err(LexError::BadHex(i));
                    }
                    tosend = (hex_val(h1) << 4) | hex_val(h2);
                    i += 3;
                }
                _ => {}
            }
            i += 1;
            cur.push(tosend);
            started = true;
            continue;
        }
        if is_space(c) && !squote && !dquote {
            while is_space(at(i)) {
                i += 1;
            }
            words.push(std::mem::take(&mut cur));
            started = false;
            if words.len() >= MAX_LINE_ARGS {
                let word = String::from_utf8_lossy(&words[MAX_LINE_ARGS - 1]).into_owned();
                return Err(LexError::TooManyWords { word, pos: i });
            }
            continue;
        }
        if c == b'$' && dquote {
            i += 1;
            let brace = if at(i) == b'{' {
                i += 1;
                Some(i - 1)
            } else {
                None
            };
            let name_start = i;
            let first = at(i);
            if !(first.is_ascii_alphabetic() || first == b'_' || first == b'.') {
                return Err(LexError::BadVarName(i));
            }
            if first == b'.' {
                i += 1;
            }
            while at(i).is_ascii_alphanumeric() || at(i) == b'_' {
                i += 1;
            }
            let name = String::from_utf8_lossy(&line[name_start..i]).into_owned();
            let mut value: Option<String> = if let Some(pseudo) = name.strip_prefix('.') {
                match pseudo {
                    "LINE" => Some(ctx.line.to_string()),
                    "FILE" => Some(ctx.file.to_string()),
                    "SECTION" => Some(ctx.section.to_string()),
                    _ => return Err(LexError::BadVarName(name_start)),
                }
            } else {
                env.var(&name)
            };
            let mut expand = false;
            if at(i) == b'[' && brace.is_some() {
                let e = i;
                if at(i + 1) != b'*' || at(i + 2) != b']' {
                    return Err(LexError::BadExpand(e));
                }
                i += 3;
                expand = true;
            }
            if let Some(b) = brace {
                if at(i) == b'-' {
                    let def_start = i + 1;
                    while at(i) != 0 && at(i) != b'}' {
                        i += 1;
                    }
                    if at(i) == 0 {
                        return Err(LexError::UnmatchedBrace(b));
                    }
                    if value.is_none() {
                        value = Some(String::from_utf8_lossy(&line[def_start..i]).into_owned());
                    }
                } else if at(i) != b'}' {
                    return Err(LexError::UnmatchedBrace(b));
                }
                i += 1;
            }
            started = true;
            if let Some(v) = value {
                if expand {
                    let mut parts = v.split(|c: char| c.is_ascii_whitespace()).peekable();
                    // haproxy cuts on each run of spaces; leading spaces yield an empty word.
                    while let Some(p) = parts.next() {
                        cur.extend_from_slice(p.as_bytes());
                        if parts.peek().is_some() {
                            words.push(std::mem::take(&mut cur));
                            while parts.peek() == Some(&"") {
                                parts.next();
                            }
                        }
                    }
                } else {
                    cur.extend_from_slice(v.as_bytes());
                }
            }
            continue;
        }
        cur.push(c);
        started = true;
        i += 1;
    }
    if squote || dquote {
        return Err(LexError::UnmatchedQuote(quote_pos));
    }
    if started || !cur.is_empty() || words.is_empty() {
        words.push(cur);
    }
    // A line of only spaces or a comment gives one empty word: drop it.
    if words.len() == 1 && words[0].is_empty() && !started {
        words.clear();
    }
    Ok(words)
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\x0b' | b'\x0c')
}

fn hex_val(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => c - b'A' + 10,
    }
}

/// haproxy's `sanitize_for_printing()`: the line made printable and cut to `width` columns
/// around `pos`; returns the text and the new position of `pos` in it.
pub fn sanitize_for_printing(line: &[u8], pos: usize, width: usize) -> (String, usize) {
    let mut out = String::new();
    let mut shift = 0;
    let mut start = 0;
    let mut limit = width;
    if pos >= width {
        shift = pos - width / 2;
        start = shift + 3;
        limit = width - 3;
        out.push_str("...");
    }
    let room = limit.saturating_sub(out.len());
    for &c in line.iter().skip(start).take(room) {
        if c == 0 {
            break;
        }
        out.push(if c.is_ascii_whitespace() {
            ' '
        } else if c.is_ascii_graphic() {
            c as char
        } else {
            '?'
        });
    }
    if pos >= width {
        out.push_str("...");
    }
    (out, pos - shift)
}

/// The section keywords haproxy 2.6 knows (for `${.SECTION}` and section detection).
pub const SECTION_KEYWORDS: &[&str] = &[
    "global",
    "defaults",
    "frontend",
    "backend",
    "listen",
    "userlist",
    "peers",
    "mailers",
    "resolvers",
    "cache",
    "program",
    "http-errors",
    "ring",
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Cond {
    IfTake,
    IfDrop,
    IfSkip,
    ElifTake,
    ElifDrop,
    ElifSkip,
    ElseTake,
    ElseDrop,
}

impl Cond {
    fn drops(self) -> bool {
        matches!(
            self,
            Cond::IfDrop | Cond::IfSkip | Cond::ElifDrop | Cond::ElifSkip | Cond::ElseDrop
        )
    }
}

/// The result of reading one file.
#[derive(Debug, Default)]
pub struct FileLines {
    /// The lines kept, in order.
    pub lines: Vec<Line>,
    /// Reading stopped early on an error haproxy treats as fatal for the whole load
    /// (`.alert`, a bad `.if`): nothing after this file should be parsed.
    pub abort: bool,
}

/// Reads a whole file's text: cuts each line into words and applies the directives.
/// Problems are appended to `diags`.
pub fn read_lines(
    file: &Arc<str>,
    content: &[u8],
    base_env: &dyn Env,
    changes: &mut EnvChanges,
    diags: &mut Vec<Diagnostic>,
) -> FileLines {
    let mut out = FileLines::default();
    let mut conds: Vec<Cond> = Vec::new();
    let mut section = String::new();
    let mut section_kind = String::new();
    let mut fatal = 0;
    let mut linenum: u32 = 0;
    let mut rest = content;
    let mut last_line_len = 0usize;
    let mut missing_lf = false;

    while !rest.is_empty() {
        let (raw, next, had_lf) = match rest.iter().position(|&b| b == b'\n') {
            Some(p) => (&rest[..p], &rest[p + 1..], true),
            None => (rest, &rest[rest.len()..], false),
        };
        rest = next;
        linenum += 1;
        let loc = Location {
            file: file.clone(),
            line: linenum,
        };
        if fatal >= 50 {
            diags.push(Diagnostic::alert(
                Some(loc.clone()),
                format!("parsing [{loc}]: too many fatal errors ({fatal}), stopping now."),
            ));
            break;
        }
        if let Some(nul) = raw.iter().position(|&b| b == 0) {
            // fgets() stops at the NUL: what follows is read as the next "line".
            diags.push(Diagnostic::alert(
                Some(loc.clone()),
                format!(
                    "parsing [{loc}]: Stray NUL character at position {}.",
                    nul + 1
                ),
            ));
            break;
        }
        if !had_lf {
            missing_lf = true;
            last_line_len = raw.len();
        }
        let lead = raw.iter().take_while(|&&b| b.is_ascii_whitespace()).count();
        let line = &raw[lead..];
        let snapshot = changes.clone();
        let layered = Layered {
            base: base_env,
            changes: &snapshot,
        };
        let env: &dyn Env = &layered;
        let ctx = LineContext {
            file,
            line: linenum,
            section: &section,
        };
        let words = match split_words(line, env, &ctx) {
            Ok(w) => w,
            Err(e) => {
                diags.push(lex_error_diag(&loc, raw, lead, &e));
                fatal += 1;
                continue;
            }
        };
        if words.is_empty() || (words.len() == 1 && words[0].is_empty()) {
            continue;
        }
        let words: Vec<String> = words
            .into_iter()
            .map(|w| String::from_utf8_lossy(&w).into_owned())
            .collect();
        let w0 = words[0].as_str();
        let arg = |n: usize| words.get(n).map(String::as_str).unwrap_or("");

        if w0.starts_with('.') {
            match w0 {
                ".if" | ".elif" => {
                    let expr = words[1..].join(" ");
                    if w0 == ".if" {
                        if conds.len() + 1 >= MAX_NESTED_CONDS {
                            diags.push(Diagnostic::alert(
                                Some(loc.clone()),
                                format!(
                                    "parsing [{loc}]: too many nested '.if', max is {MAX_NESTED_CONDS}."
                                ),
                            ));
                            out.abort = true;
                            return out;
                        }
                        if conds.last().is_some_and(|c| c.drops()) {
                            conds.push(Cond::IfSkip);
                            continue;
                        }
                    } else {
                        let Some(top) = conds.last().copied() else {
                            diags.push(Diagnostic::alert(
                                Some(loc.clone()),
                                format!("parsing [{loc}]: lone '.elif' with no matching '.if'."),
                            ));
                            out.abort = true;
                            return out;
                        };
                        if matches!(top, Cond::ElseTake | Cond::ElseDrop) {
                            diags.push(Diagnostic::alert(
                                Some(loc.clone()),
                                format!("parsing [{loc}]: '.elif' after '.else' is not permitted."),
                            ));
                            out.abort = true;
                            return out;
                        }
                        if matches!(
                            top,
                            Cond::IfTake | Cond::IfSkip | Cond::ElifTake | Cond::ElifSkip
                        ) {
                            if let Some(t) = conds.last_mut() {
                                *t = Cond::ElifSkip;
                            }
                            continue;
                        }
                    }
                    match cond::eval_str(&expr, env) {
                        Ok(v) => {
                            let state = match (w0, v) {
                                (".if", true) => Cond::IfTake,
                                (".if", false) => Cond::IfDrop,
                                (_, true) => Cond::ElifTake,
                                (_, false) => Cond::ElifDrop,
                            };
                            if w0 == ".if" {
                                conds.push(state);
                            } else if let Some(t) = conds.last_mut() {
                                *t = state;
                            }
                        }
                        Err(e) => {
                            let width = if w0 == ".if" { 76 } else { 74 };
                            let (shown, newpos) =
                                sanitize_for_printing(expr.as_bytes(), e.pos, width);
                            diags.push(Diagnostic::alert(
                                Some(loc.clone()),
                                format!(
                                    "parsing [{loc}]: {} in '{w0}' at position {}:\n  {w0} {shown}\n  {:>w$}",
                                    e.message,
                                    e.pos + 1,
                                    "^",
                                    w = newpos + w0.len() + 2
                                ),
                            ));
                            out.abort = true;
                            return out;
                        }
                    }
                    continue;
                }
                ".else" | ".endif" => {
                    if !arg(1).is_empty() {
                        diags.push(Diagnostic::alert(
                            Some(loc.clone()),
                            format!(
                                "parsing [{loc}]: Unexpected argument '{}' for '{w0}'.",
                                arg(1)
                            ),
                        ));
                        break;
                    }
                    let Some(top) = conds.last().copied() else {
                        diags.push(Diagnostic::alert(
                            Some(loc.clone()),
                            format!("parsing [{loc}]: lone '{w0}' with no matching '.if'."),
                        ));
                        out.abort = true;
                        return out;
                    };
                    if w0 == ".endif" {
                        conds.pop();
                        continue;
                    }
                    if matches!(top, Cond::ElseTake | Cond::ElseDrop) {
                        diags.push(Diagnostic::alert(
                            Some(loc.clone()),
                            format!("parsing [{loc}]: '.else' after '.else' is not permitted."),
                        ));
                        out.abort = true;
                        return out;
                    }
                    let new = if matches!(
                        top,
                        Cond::IfTake | Cond::IfSkip | Cond::ElifTake | Cond::ElifSkip
                    ) {
                        Cond::ElseDrop
                    } else {
                        Cond::ElseTake
                    };
                    if let Some(t) = conds.last_mut() {
                        *t = new;
                    }
                    continue;
                }
                _ => {}
            }
        }

        if conds.last().is_some_and(|c| c.drops()) {
            continue;
        }

        if w0.starts_with('.') {
            match w0 {
                ".alert" | ".warning" | ".notice" | ".diag" => {
                    if !arg(2).is_empty() {
                        diags.push(Diagnostic::alert(
                            Some(loc.clone()),
                            format!(
                                "parsing [{loc}]: Unexpected argument '{}' for '{w0}'. Use quotes if the message should contain spaces.",
                                arg(2)
                            ),
                        ));
                        continue;
                    }
                    let msg = format!("parsing [{loc}]: '{}'.", arg(1));
                    match w0 {
                        ".alert" => {
                            diags.push(Diagnostic::alert(Some(loc.clone()), msg));
                            out.abort = true;
                            return out;
                        }
                        ".warning" => diags.push(Diagnostic::warning(Some(loc.clone()), msg)),
                        ".notice" => diags.push(Diagnostic::notice(Some(loc.clone()), msg)),
                        // `.diag` only prints in haproxy's diagnostic mode (-dD).
                        _ => {}
                    }
                    continue;
                }
                _ => {
                    diags.push(Diagnostic::alert(
                        Some(loc.clone()),
                        format!("parsing [{loc}]: unknown directive '{w0}'."),
                    ));
                    break;
                }
            }
        }

        if SECTION_KEYWORDS.contains(&w0) {
            section = if arg(1).is_empty() {
                w0.to_string()
            } else {
                arg(1).to_string()
            };
            section_kind = w0.to_string();
        } else if section_kind == "global" {
            changes.apply(base_env, &words);
        }
        out.lines.push(Line { loc, words });
    }

    if missing_lf && rest.is_empty() {
        let loc = Location {
            file: file.clone(),
            line: linenum,
        };
        diags.push(Diagnostic::alert(
            Some(loc.clone()),
            format!(
                "parsing [{loc}]: Missing LF on last line, file might have been truncated at position {}.",
                last_line_len + 1
            ),
        ));
    }
    if !conds.is_empty() {
        let loc = Location {
            file: file.clone(),
            line: linenum,
        };
        diags.push(Diagnostic::alert(
            Some(loc.clone()),
            format!("parsing [{loc}]: non-terminated '.if' block."),
        ));
        out.abort = true;
    }
    out
}

fn lex_error_diag(loc: &Location, raw: &[u8], lead: usize, e: &LexError) -> Diagnostic {
    let line = &raw[lead..];
    let (what, pos) = match e {
        LexError::UnmatchedQuote(p) => ("unmatched quote", *p),
        LexError::UnmatchedBrace(p) => ("unmatched brace in environment variable name", *p),
        LexError::BadVarName(p) => ("forbidden first char in environment variable name", *p),
        LexError::BadHex(p) => ("truncated or invalid hexadecimal sequence", *p),
        LexError::BadExpand(p) => ("truncated or invalid word expansion sequence", *p),
        LexError::TooManyWords { word, pos } => {
            return Diagnostic::alert(
                Some(loc.clone()),
                format!(
                    "parsing [{loc}]: too many words, truncating after word {MAX_LINE_ARGS}, position {}: <{word}>.",
                    pos + 1
                ),
            );
        }
    };
    let (shown, newpos) = sanitize_for_printing(line, pos, 80);
    Diagnostic::alert(
        Some(loc.clone()),
        format!(
            "parsing [{loc}]: {what} at position {}:\n  {shown}\n  {:>w$}",
            pos + lead + 1,
            "^",
            w = newpos + 1
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> HashMap<String, String> {
        let mut m = HashMap::new();
        m.insert("HOST".to_string(), "10.0.0.1".to_string());
        m.insert("EMPTY".to_string(), String::new());
        m.insert("LIST".to_string(), "a b  c".to_string());
        m.insert("FD_APP".to_string(), "5".to_string());
        m
    }

    fn words(s: &str) -> Vec<String> {
        let ctx = LineContext {
            file: "t.cfg",
            line: 7,
            section: "fe",
        };
        split_words(s.as_bytes(), &env(), &ctx)
            .unwrap()
            .into_iter()
            .map(|w| String::from_utf8(w).unwrap())
            .collect()
    }

    fn err(s: &str) -> LexError {
        let ctx = LineContext {
            file: "t.cfg",
            line: 7,
            section: "fe",
        };
        split_words(s.as_bytes(), &env(), &ctx).unwrap_err()
    }

    #[test]
    fn plain_words_and_comments() {
        assert_eq!(words("bind :80   # comment"), ["bind", ":80"]);
        assert_eq!(words("  \t maxconn\t100 "), ["", "maxconn", "100"]);
        assert!(words("# only a comment").is_empty());
        assert!(words("").is_empty());
        assert!(words("    ").is_empty());
        assert_eq!(words("a#b"), ["a"]);
    }

    #[test]
    fn quotes() {
        assert_eq!(words(r#"log-format "%t %s""#), ["log-format", "%t %s"]);
        assert_eq!(words("x '%t %s'"), ["x", "%t %s"]);
        assert_eq!(words(r#"x "a"' b'\ c"#), ["x", "a b c"]);
        assert_eq!(words(r#"x "it's""#), ["x", "it's"]);
        assert_eq!(words(r#"x 'say "hi"'"#), ["x", "say \"hi\""]);
        assert_eq!(words(r##"x "#not a comment""##), ["x", "#not a comment"]);
        assert_eq!(words(r#"x "" y"#), ["x", "", "y"]);
        assert_eq!(err(r#"x "abc"#), LexError::UnmatchedQuote(2));
        assert_eq!(err("x 'abc"), LexError::UnmatchedQuote(2));
    }

    #[test]
    fn escapes() {
        assert_eq!(words(r"a\ b"), ["a b"]);
        assert_eq!(words(r"a\\b"), [r"a\b"]);
        assert_eq!(words(r"a\#b"), ["a#b"]);
        assert_eq!(words(r"\x41\x62"), ["Ab"]);
        assert_eq!(words(r"a\tb\nc\rd"), ["a\tb\nc\rd"]);
        // Not an escape: kept as it is (regex back-references, \d, ...).
        assert_eq!(words(r"\1\d\."), [r"\1\d\."]);
        // Inside single quotes nothing is interpreted.
        assert_eq!(words(r"'\x41\\'"), [r"\x41\\"]);
        // \$ only means $ inside double quotes.
        assert_eq!(words(r#"\$ "\$""#), [r"\$", "$"]);
        assert_eq!(words(r#""a\"b""#), ["a\"b"]);
        assert_eq!(err(r"x \xZZ"), LexError::BadHex(2));
        assert_eq!(err(r"x \x4"), LexError::BadHex(2));
    }

    #[test]
    fn environment() {
        assert_eq!(words(r#""${HOST}:80""#), ["10.0.0.1:80"]);
        assert_eq!(words(r#""$HOST:80""#), ["10.0.0.1:80"]);
        // Not expanded outside double quotes.
        assert_eq!(words(r"${HOST}"), ["${HOST}"]);
        assert_eq!(words(r#"'${HOST}'"#), ["${HOST}"]);
        assert_eq!(words(r#""${NOPE-127.0.0.1}:514""#), ["127.0.0.1:514"]);
        // The default replaces only unset variables, not empty ones.
        assert_eq!(words(r#"x "${EMPTY-def}""#), ["x", ""]);
        assert_eq!(words(r#""${NOPE}""#), [""]);
        assert_eq!(words(r#""fd@${FD_APP}""#), ["fd@5"]);
        assert_eq!(words(r#"x "${LIST[*]}" y"#), ["x", "a", "b", "c", "y"]);
        assert_eq!(
            words(r#""${.LINE}" "${.FILE}" "${.SECTION}""#),
            ["7", "t.cfg", "fe"]
        );
        assert_eq!(err(r#""${HOST""#), LexError::UnmatchedBrace(2));
        assert_eq!(err(r#""$1""#), LexError::BadVarName(2));
        assert_eq!(err(r#""${.NOPE}""#), LexError::BadVarName(3));
        assert_eq!(err(r#""${LIST[x]}""#), LexError::BadExpand(7));
    }

    #[test]
    fn too_many_words() {
        let line = (0..70).map(|i| i.to_string()).collect::<Vec<_>>().join(" ");
        assert!(matches!(err(&line), LexError::TooManyWords { .. }));
    }

    fn read(text: &str) -> (Vec<Vec<String>>, Vec<String>) {
        let mut diags = Vec::new();
        let f: Arc<str> = Arc::from("t.cfg");
        let out = read_lines(
            &f,
            text.as_bytes(),
            &env(),
            &mut EnvChanges::default(),
            &mut diags,
        );
        (
            out.lines.into_iter().map(|l| l.words).collect(),
            diags.into_iter().map(|d| d.message).collect(),
        )
    }

    #[test]
    fn conditional_blocks() {
        let (lines, diags) = read(
            ".if defined(HOST)\na\n.elif 1\nb\n.else\nc\n.endif\n\
             .if 0\nd\n.elif streq(\"$HOST\",10.0.0.1)\ne\n.else\nf\n.endif\n\
             .if 0\n.if 1\ng\n.endif\n.else\nh\n.endif\n",
        );
        assert!(diags.is_empty(), "{diags:?}");
        let flat: Vec<&str> = lines.iter().map(|l| l[0].as_str()).collect();
        assert_eq!(flat, ["a", "e", "h"]);
    }

    #[test]
    fn directive_errors() {
        let (_, d) = read(".endif\n");
        assert_eq!(
            d,
            ["parsing [t.cfg:1]: lone '.endif' with no matching '.if'."]
        );
        let (_, d) = read(".if 1\n.else x\n.endif\n");
        assert_eq!(
            d,
            [
                "parsing [t.cfg:2]: Unexpected argument 'x' for '.else'.",
                "parsing [t.cfg:2]: non-terminated '.if' block."
            ]
        );
        let (_, d) = read(".if 1\n.else\n.elif 1\n.endif\n");
        assert_eq!(
            d,
            ["parsing [t.cfg:3]: '.elif' after '.else' is not permitted."]
        );
        let (_, d) = read(".if 1\n");
        assert_eq!(d, ["parsing [t.cfg:1]: non-terminated '.if' block."]);
        let (_, d) = read(".bogus\nx\n");
        assert_eq!(d, ["parsing [t.cfg:1]: unknown directive '.bogus'."]);
        let (_, d) = read(".if foo(x)\n.endif\n");
        assert_eq!(
            d,
            ["parsing [t.cfg:1]: unparsable conditional expression 'foo(x)' in '.if' at position 1:\n  .if foo(x)\n      ^"]
        );
    }

    #[test]
    fn messages() {
        let mut diags = Vec::new();
        let f: Arc<str> = Arc::from("t.cfg");
        let out = read_lines(
            &f,
            b".notice \"hello there\"\n.warning careful\n.warning a b\n.alert 'stop'\nx\n",
            &env(),
            &mut EnvChanges::default(),
            &mut diags,
        );
        assert!(out.abort);
        assert!(out.lines.is_empty());
        let m: Vec<(String, String)> = diags
            .iter()
            .map(|d| (d.severity.label().to_string(), d.message.clone()))
            .collect();
        assert_eq!(
            m,
            [
                ("[NOTICE]".to_string(), "parsing [t.cfg:1]: 'hello there'.".to_string()),
                ("[WARNING]".to_string(), "parsing [t.cfg:2]: 'careful'.".to_string()),
                (
                    "[ALERT]".to_string(),
                    "parsing [t.cfg:3]: Unexpected argument 'b' for '.warning'. Use quotes if the message should contain spaces.".to_string()
                ),
                ("[ALERT]".to_string(), "parsing [t.cfg:4]: 'stop'.".to_string()),
            ]
        );
    }

    #[test]
    fn lexer_error_shapes() {
        let (_, d) = read("global\n  log \"abc\n");
        assert_eq!(
            d,
            ["parsing [t.cfg:2]: unmatched quote at position 7:\n  log \"abc\n      ^"]
        );
        let (_, d) = read("global\n  maxconn \\xZZ\n");
        assert_eq!(
            d,
            ["parsing [t.cfg:2]: truncated or invalid hexadecimal sequence at position 11:\n  maxconn \\xZZ\n          ^"]
        );
    }

    #[test]
    fn missing_final_lf_and_crlf() {
        let (_, d) = read("global\n  maxconn 10");
        assert_eq!(
            d,
            ["parsing [t.cfg:2]: Missing LF on last line, file might have been truncated at position 13."]
        );
        let (l, d) = read("global\r\n  maxconn 10\r\n");
        assert!(d.is_empty());
        assert_eq!(
            l,
            [
                vec!["global".to_string()],
                vec!["maxconn".to_string(), "10".to_string()]
            ]
        );
    }
}

#[cfg(test)]
mod env_keyword_tests {
    use super::*;

    #[test]
    fn setenv_family_changes_later_lines() {
        let mut base = HashMap::new();
        base.insert("HOME".to_string(), "/root".to_string());
        base.insert("KEEP".to_string(), "k".to_string());
        let text = "global\n  setenv FOO bar\n  presetenv FOO baz\n  presetenv NEW n\n\
  x \"$FOO\" \"$NEW\" \"$HOME\"\n  unsetenv FOO\n  x \"${FOO-gone}\"\n\
  resetenv KEEP\n  x \"${HOME-none}\" \"$KEEP\" \"${NEW-none}\"\n\
frontend fe\n  setenv AFTER 1\n  x \"${AFTER-no}\"\n";
        let mut changes = EnvChanges::default();
        let mut diags = Vec::new();
        let f: Arc<str> = Arc::from("t.cfg");
        let out = read_lines(&f, text.as_bytes(), &base, &mut changes, &mut diags);
        let xs: Vec<Vec<String>> = out
            .lines
            .into_iter()
            .filter(|l| l.words[0] == "x")
            .map(|l| l.words[1..].to_vec())
            .collect();
        assert_eq!(
            xs,
            [
                vec!["bar".to_string(), "n".to_string(), "/root".to_string()],
                vec!["gone".to_string()],
                vec!["none".to_string(), "k".to_string(), "none".to_string()],
                vec!["no".to_string()],
            ]
        );
    }
}
