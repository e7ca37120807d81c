//! Conditions of `.if` / `.elif` and of the command line's `-cc` (configuration.txt §2.4).
//!
//! Grammar, as haproxy 2.6 parses it (the whole expression is parsed before anything is
//! evaluated, so an unknown predicate is an error even where it would not be reached):
//!
//! ```text
//! expr := and [ "||" expr ]
//! and  := term [ "&&" and ]
//! term := "!"* ( INTEGER | "(" expr ")" | PREDICATE [ "(" args ")" ] )
//! ```
//!
//! An integer is true when non-zero (`strtol` syntax: `0x10`, `-1`...). Predicate arguments
//! are split on `,` and end at `)`, with no quoting of their own (the line's quotes were
//! already removed), and surrounding spaces are part of them. An empty expression is false.
//!
//! Predicates: `defined(VAR)`, `feature(NAME)` (against [`FEATURES`]), `streq(A,B)`,
//! `strneq(A,B)`, `version_atleast(V)`, `version_before(V)` (against
//! [`HAPROXY_COMPAT_VERSION`]); `openssl_version_atleast`, `openssl_version_before` and
//! `ssllib_name_startswith` fail to evaluate, as in a haproxy built without OpenSSL.

use super::lexer::Env;

/// The haproxy version whose configuration language dermaga follows: `version_atleast()` and
/// `version_before()` compare against it.
pub const HAPROXY_COMPAT_VERSION: &str = "2.6.12";

/// The build features `feature()` knows, in haproxy's `-vv` "Feature list" form: a `+` for
/// what dermaga has, a `-` for what it lacks (TLS, Lua, PCRE and the Prometheus exporter are
/// not there, so `.if feature(OPENSSL)` blocks are skipped).
pub const FEATURES: &str = "+ACCEPT4 +CPU_AFFINITY +EPOLL +GETADDRINFO +LINUX_SPLICE \
+NETFILTER +POLL +PRCTL +REGEX +TFO +THREAD -LUA -OPENSSL -PCRE -PCRE2 -PROMEX -QUIC -ZLIB";

/// Why a condition could not be evaluated: haproxy's message and the byte position (in the
/// expression) of the faulty part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CondError {
    pub message: String,
    pub pos: usize,
}

#[derive(Debug)]
enum Term {
    Const(bool),
    Paren(Box<Expr>),
    Pred(Pred, Vec<String>),
}

#[derive(Debug)]
struct NegTerm {
    neg: bool,
    term: Term,
}

/// OR of AND-lists.
#[derive(Debug)]
struct Expr(Vec<Vec<NegTerm>>);

#[derive(Debug, Clone, Copy)]
enum Pred {
    Defined,
    Feature,
    Streq,
    Strneq,
    VersionAtleast,
    VersionBefore,
    OsslVersionAtleast,
    OsslVersionBefore,
    SsllibNameStartswith,
}

const PREDICATES: &[(&str, Pred, usize)] = &[
    ("defined", Pred::Defined, 1),
    ("feature", Pred::Feature, 1),
    ("streq", Pred::Streq, 2),
    ("strneq", Pred::Strneq, 2),
    ("version_atleast", Pred::VersionAtleast, 1),
    ("version_before", Pred::VersionBefore, 1),
    ("openssl_version_atleast", Pred::OsslVersionAtleast, 1),
    ("openssl_version_before", Pred::OsslVersionBefore, 1),
    ("ssllib_name_startswith", Pred::SsllibNameStartswith, 1),
];

/// Evaluates an expression (already cut into words and re-joined by single spaces, as `.if`
/// does).
pub fn eval_str(text: &str, env: &dyn Env) -> Result<bool, CondError> {
    let b = text.as_bytes();
    if b.is_empty() {
        return Ok(false);
    }
    let mut p = Parser { s: b };
    let mut pos = 0;
    match p.expr(&mut pos, 1024)? {
        Some(e) => {
            while matches!(b.get(pos), Some(b' ' | b'\t')) {
                pos += 1;
            }
            if let Some(&c) = b.get(pos) {
                return Err(CondError {
                    message: format!(
                        "unexpected character '{}' at the end of conditional expression '{text}'",
                        c as char
                    ),
                    pos,
                });
            }
            eval_expr(&e, env)
        }
        None => Err(CondError {
            message: format!("unparsable conditional expression '{text}'"),
            pos,
        }),
    }
}

struct Parser<'a> {
    s: &'a [u8],
}

impl Parser<'_> {
    fn at(&self, i: usize) -> u8 {
        self.s.get(i).copied().unwrap_or(0)
    }

    fn rest(&self, i: usize) -> String {
        String::from_utf8_lossy(&self.s[i.min(self.s.len())..]).into_owned()
    }

    fn skip_ws(&self, i: &mut usize) {
        while matches!(self.at(*i), b' ' | b'\t') {
            *i += 1;
        }
    }

    /// `Ok(None)`: nothing to parse here (empty), `*text` unchanged.
    fn expr(&mut self, text: &mut usize, depth: u32) -> Result<Option<Expr>, CondError> {
        let mut input = *text;
        if self.at(input) == 0 {
            return Ok(None);
        }
        if depth == 0 {
            return Err(CondError {
                message: format!("unparsable conditional expression '{}'", self.rest(input)),
                pos: input,
            });
        }
        let Some(left) = self.and(&mut input, depth - 1)? else {
            return Err(CondError {
                message: format!("unparsable conditional expression '{}'", self.rest(input)),
                pos: input,
            });
        };
        self.skip_ws(&mut input);
        *text = input;
        let mut alts = vec![left];
        if self.at(input) != b'|' || self.at(input + 1) != b'|' {
            return Ok(Some(Expr(alts)));
        }
        input += 2;
        self.skip_ws(&mut input);
        match self.expr(&mut input, depth - 1)? {
            Some(Expr(more)) => {
                *text = input;
                alts.extend(more);
                Ok(Some(Expr(alts)))
            }
            None => Ok(None),
        }
    }

    fn and(&mut self, text: &mut usize, depth: u32) -> Result<Option<Vec<NegTerm>>, CondError> {
        let mut input = *text;
        if self.at(input) == 0 {
            return Ok(None);
        }
        if depth == 0 {
            return Err(CondError {
                message: format!(
                    "unparsable conditional sub-expression '{}'",
                    self.rest(input)
                ),
                pos: input,
            });
        }
        let Some(left) = self.term(&mut input, depth - 1)? else {
            return Err(CondError {
                message: format!(
                    "unparsable conditional sub-expression '{}'",
                    self.rest(input)
                ),
                pos: input,
            });
        };
        self.skip_ws(&mut input);
        *text = input;
        let mut terms = vec![left];
        if self.at(input) != b'&' || self.at(input + 1) != b'&' {
            return Ok(Some(terms));
        }
        input += 2;
        self.skip_ws(&mut input);
        match self.and(&mut input, depth - 1)? {
            Some(more) => {
                *text = input;
                terms.extend(more);
                Ok(Some(terms))
            }
            None => Ok(None),
        }
    }

    fn term(&mut self, text: &mut usize, depth: u32) -> Result<Option<NegTerm>, CondError> {
        let start = *text;
        let mut input = start;
        self.skip_ws(&mut input);
        if self.at(input) == 0 {
            return Ok(None);
        }
        let fail0 = |p: &Self| CondError {
            message: format!("unparsable conditional expression '{}'", p.rest(start)),
            pos: start,
        };
        if depth == 0 {
            return Err(fail0(self));
        }
        let mut neg = false;
        while self.at(input) == b'!' {
            neg = !neg;
            input += 1;
            self.skip_ws(&mut input);
        }
        if let Some((v, used)) = strtol(&self.s[input..]) {
            *text = input + used;
            return Ok(Some(NegTerm {
                neg,
                term: Term::Const(v != 0),
            }));
        }
        if self.at(input) == b'(' {
            input += 1;
            self.skip_ws(&mut input);
            let Some(e) = self.expr(&mut input, depth - 1)? else {
                return Err(fail0(self));
            };
            self.skip_ws(&mut input);
            if self.at(input) != b')' {
                return Err(CondError {
                    message: format!(
                        "expected ')' after conditional expression '{}'",
                        self.rest(start)
                    ),
                    pos: start,
                });
            }
            input += 1;
            self.skip_ws(&mut input);
            *text = input;
            return Ok(Some(NegTerm {
                neg,
                term: Term::Paren(Box::new(e)),
            }));
        }
        let word_len = self.s[input..].iter().position(|&c| c == b' ' || c == b'(');
        let word = &self.s[input..input + word_len.unwrap_or(self.s.len() - input)];
        let Some(&(name, pred, nargs)) = PREDICATES.iter().find(|(n, _, _)| n.as_bytes() == word)
        else {
            return Err(fail0(self));
        };
        input += name.len();
        let args = self.arg_list(&mut input, name, nargs)?;
        *text = input;
        Ok(Some(NegTerm {
            neg,
            term: Term::Pred(pred, args),
        }))
    }

    /// haproxy 2.6's `make_arg_list()` for string arguments: `(a,b)`; no parenthesis or `()`
    /// give one empty argument.
    fn arg_list(
        &self,
        input: &mut usize,
        pred: &str,
        nargs: usize,
    ) -> Result<Vec<String>, CondError> {
        let ctx = format!("of predicate '{pred}' used in conditional expression");
        let mut args = Vec::new();
        if self.at(*input) != b'(' {
            args.push(String::new());
        } else {
            *input += 1;
            let mut cur = Vec::new();
            loop {
                match self.at(*input) {
                    0 => {
                        return Err(CondError {
                            message: format!(
                                "expected ')' in argument {} {ctx}",
                                args.len().max(1)
                            ),
                            pos: *input,
                        });
                    }
                    b')' => {
                        *input += 1;
                        args.push(String::from_utf8_lossy(&cur).into_owned());
                        break;
                    }
                    b',' => {
                        args.push(String::from_utf8_lossy(&std::mem::take(&mut cur)).into_owned());
                        if args.len() >= nargs {
                            return Err(CondError {
                                message: format!(
                                    "expected ')' before '{}' in argument {} {ctx}",
                                    self.rest(*input),
                                    nargs.saturating_sub(1).max(1)
                                ),
                                pos: *input,
                            });
                        }
                        *input += 1;
                    }
                    c => {
                        cur.push(c);
                        *input += 1;
                    }
                }
            }
        }
        if args.len() < nargs {
            // haproxy points at the closing parenthesis (or the end).
            let at = if self.at(input.saturating_sub(1)) == b')' {
                *input - 1
            } else {
                *input
            };
            return Err(CondError {
                message: format!(
                    "missing arguments (got {}/{nargs}), type 'string' expected in argument {} {ctx}",
                    args.len(),
                    args.len()
                ),
                pos: at,
            });
        }
        Ok(args)
    }
}

/// C's `strtol(s, &end, 0)`: the value and the bytes used, or `None` when no digit was read.
fn strtol(s: &[u8]) -> Option<(i64, usize)> {
    let mut i = 0;
    while matches!(
        s.get(i),
        Some(b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c')
    ) {
        i += 1;
    }
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let (radix, digits_start) = if s.get(i) == Some(&b'0')
        && matches!(s.get(i + 1), Some(b'x' | b'X'))
        && s.get(i + 2).is_some_and(|c| c.is_ascii_hexdigit())
    {
        (16, i + 2)
    } else if s.get(i) == Some(&b'0') {
        (8, i)
    } else {
        (10, i)
    };
    let mut j = digits_start;
    let mut v: i64 = 0;
    while let Some(d) = s.get(j).and_then(|&c| (c as char).to_digit(radix)) {
        v = v
            .saturating_mul(i64::from(radix))
            .saturating_add(i64::from(d));
        j += 1;
    }
    if j == digits_start {
        return None;
    }
    Some((if neg { -v } else { v }, j))
}

fn eval_expr(e: &Expr, env: &dyn Env) -> Result<bool, CondError> {
    for suite in &e.0 {
        let mut all = true;
        for t in suite {
            if !eval_term(t, env)? {
                all = false;
                break;
            }
        }
        if all {
            return Ok(true);
        }
    }
    Ok(false)
}

fn eval_term(t: &NegTerm, env: &dyn Env) -> Result<bool, CondError> {
    let v = match &t.term {
        Term::Const(b) => *b,
        Term::Paren(e) => eval_expr(e, env)?,
        Term::Pred(p, args) => match p {
            Pred::Defined => env.var(&args[0]).is_some(),
            Pred::Feature => has_feature(&args[0]),
            Pred::Streq => args[0] == args[1],
            Pred::Strneq => args[0] != args[1],
            Pred::VersionAtleast => {
                compare_version(&args[0], HAPROXY_COMPAT_VERSION) != std::cmp::Ordering::Greater
            }
            Pred::VersionBefore => {
                compare_version(&args[0], HAPROXY_COMPAT_VERSION) == std::cmp::Ordering::Greater
            }
            Pred::OsslVersionAtleast | Pred::OsslVersionBefore | Pred::SsllibNameStartswith => {
                return Err(CondError {
                    message: "dermaga has no OpenSSL library to compare with".to_string(),
                    pos: 0,
                })
            }
        },
    };
    Ok(v != t.neg)
}

/// haproxy's `feature()`: `name` appears in [`FEATURES`] right after a `+`.
pub fn has_feature(name: &str) -> bool {
    FEATURES
        .split(' ')
        .any(|f| f.strip_prefix('+') == Some(name))
}

/// A version as haproxy's `split_version()` reads it: up to four numbers, then the kind of
/// pre-release (`-devN` < `-preN` < `-rcN` < release) and its number. Unreadable text reads as
/// version 0.
fn version_key(v: &str) -> [u64; 6] {
    let mut key = [0u64, 0, 0, 0, 3, 0];
    let (nums, suffix) = match v.find('-') {
        Some(i) => (&v[..i], &v[i + 1..]),
        None => (v, ""),
    };
    for (k, part) in nums.split('.').take(4).enumerate() {
        match part.parse::<u64>() {
            Ok(n) => key[k] = n,
            Err(_) => return [0; 6],
        }
    }
    for (prefix, rank) in [("dev", 0u64), ("pre", 1), ("rc", 2)] {
        if let Some(n) = suffix.strip_prefix(prefix) {
            key[4] = rank;
            key[5] = n.parse().unwrap_or(0);
        }
    }
    key
}

/// Compares version `a` with `b`.
fn compare_version(a: &str, b: &str) -> std::cmp::Ordering {
    version_key(a).cmp(&version_key(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn ev(s: &str) -> Result<bool, String> {
        let mut env = HashMap::new();
        env.insert("SET".to_string(), "yes".to_string());
        env.insert("EMPTY".to_string(), String::new());
        eval_str(s, &env).map_err(|e| e.message)
    }

    #[test]
    fn constants_and_operators() {
        assert_eq!(ev(""), Ok(false));
        assert_eq!(ev("0"), Ok(false));
        assert_eq!(ev("1"), Ok(true));
        assert_eq!(ev("-1"), Ok(true));
        assert_eq!(ev("0x10"), Ok(true));
        assert_eq!(ev("!0"), Ok(true));
        assert_eq!(ev("!!1"), Ok(true));
        assert_eq!(ev("! 1"), Ok(false));
        assert_eq!(ev("1 && 0"), Ok(false));
        assert_eq!(ev("0 || 1"), Ok(true));
        assert_eq!(ev("1 && 0 || 1"), Ok(true));
        assert_eq!(ev("0 && (0 || 1)"), Ok(false));
        assert_eq!(ev("!(0 || 0) && 1"), Ok(true));
        assert_eq!(ev("1 || (0 && 1)"), Ok(true));
    }

    #[test]
    fn predicates() {
        assert_eq!(ev("defined(SET)"), Ok(true));
        assert_eq!(ev("defined(EMPTY)"), Ok(true));
        assert_eq!(ev("defined(NOPE)"), Ok(false));
        assert_eq!(ev("defined()"), Ok(false));
        assert_eq!(ev("defined"), Ok(false));
        assert_eq!(ev("defined(SET) && !defined(NOPE)"), Ok(true));
        assert_eq!(ev("streq(a,a)"), Ok(true));
        assert_eq!(ev("streq(a, a)"), Ok(false));
        assert_eq!(ev("streq(a b,a b)"), Ok(true));
        assert_eq!(ev("strneq(a,b)"), Ok(true));
        assert_eq!(ev("streq(,)"), Ok(true));
        assert_eq!(ev("feature(THREAD)"), Ok(true));
        assert_eq!(ev("feature(OPENSSL)"), Ok(false));
        assert_eq!(ev("feature(NOPE)"), Ok(false));
        assert_eq!(ev("version_atleast(2.4)"), Ok(true));
        assert_eq!(ev("version_atleast(2.6.12)"), Ok(true));
        assert_eq!(ev("version_atleast(2.6.12.1)"), Ok(false));
        assert_eq!(ev("version_atleast(2.6-dev1)"), Ok(true));
        assert_eq!(ev("version_atleast(2.7)"), Ok(false));
        assert_eq!(ev("version_before(2.6.12)"), Ok(false));
        assert_eq!(ev("version_before(2.6.13-dev1)"), Ok(true));
        assert_eq!(ev("version_atleast(abc)"), Ok(true));
        assert_eq!(ev("version_before(abc)"), Ok(false));
    }

    #[test]
    fn errors_as_haproxy_words_them() {
        assert_eq!(
            ev("foo(x)"),
            Err("unparsable conditional expression 'foo(x)'".into())
        );
        assert_eq!(
            ev("streq(a)"),
            Err("missing arguments (got 1/2), type 'string' expected in argument 1 of predicate 'streq' used in conditional expression".into())
        );
        assert_eq!(
            ev("streq(a,b,c)"),
            Err("expected ')' before ',c)' in argument 1 of predicate 'streq' used in conditional expression".into())
        );
        assert_eq!(
            ev("defined(a,b)"),
            Err("expected ')' before ',b)' in argument 1 of predicate 'defined' used in conditional expression".into())
        );
        assert_eq!(
            ev("defined(HOME"),
            Err(
                "expected ')' in argument 1 of predicate 'defined' used in conditional expression"
                    .into()
            )
        );
        assert_eq!(
            ev("1 && "),
            Err("unparsable conditional expression '&& '".into())
        );
        assert_eq!(
            ev("(1"),
            Err("expected ')' after conditional expression '(1'".into())
        );
        assert_eq!(
            ev("1 2"),
            Err("unexpected character '2' at the end of conditional expression '1 2'".into())
        );
        assert_eq!(
            ev("1||"),
            Err("unparsable conditional expression '1||'".into())
        );
        assert_eq!(
            ev("1 &&&& 1"),
            Err("unparsable conditional expression '&& 1'".into())
        );
        assert_eq!(
            ev("defined(PATH)x"),
            Err(
                "unexpected character 'x' at the end of conditional expression 'defined(PATH)x'"
                    .into()
            )
        );
        // Parsed whole before evaluation: an unknown predicate fails even after a true term.
        assert_eq!(
            ev("1 || foo"),
            Err("unparsable conditional expression 'foo'".into())
        );
    }
}
