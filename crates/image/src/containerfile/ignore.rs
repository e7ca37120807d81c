//! `.containerignore` / `.dockerignore`: which files of the build context a build sees, with
//! the rules of moby's pattern matcher: one pattern a line, `#` comments, `!` re-includes, the
//! last matching pattern wins, `*`/`?`/`[...]` within a path element, `**` across elements,
//! and a pattern that matches a directory matches everything under it. Also the glob matcher
//! COPY and ADD sources use.

use std::path::{Path, PathBuf};

/// The parsed ignore file of a build context.
#[derive(Clone, Debug, Default)]
pub struct IgnoreRules {
    /// (path elements of the pattern, is an exception `!`).
    patterns: Vec<(Vec<String>, bool)>,
    /// The file read, if any.
    pub file: Option<PathBuf>,
}

impl IgnoreRules {
    /// Reads `CONTEXT/.containerignore`, else `CONTEXT/.dockerignore` (as podman does); no
    /// file means nothing is ignored.
    pub fn load(context: &Path) -> std::io::Result<IgnoreRules> {
        for name in [".containerignore", ".dockerignore"] {
            let p = context.join(name);
            match std::fs::read_to_string(&p) {
                Ok(text) => {
                    let mut r = Self::parse(&text);
                    r.file = Some(p);
                    return Ok(r);
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(IgnoreRules::default())
    }

    /// Parses the text of an ignore file.
    pub fn parse(text: &str) -> IgnoreRules {
        let mut patterns = Vec::new();
        for line in text.lines() {
            let l = line.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            let (neg, pat) = match l.strip_prefix('!') {
                Some(p) => (true, p.trim()),
                None => (false, l),
            };
            let comps = clean(pat);
            if comps.is_empty() {
                continue;
            }
            patterns.push((comps, neg));
        }
        IgnoreRules {
            patterns,
            file: None,
        }
    }

    /// Whether `rel` (a path relative to the context, `/`-separated) is excluded.
    pub fn is_ignored(&self, rel: &str) -> bool {
        let path = clean(rel);
        if path.is_empty() {
            return false;
        }
        let mut ignored = false;
        for (pat, neg) in &self.patterns {
            // The pattern matches the path or one of its parent directories.
            let hit = (1..=path.len()).any(|n| match_elements(pat, &path[..n]));
            if hit {
                ignored = !neg;
            }
        }
        ignored
    }

    /// Whether some pattern re-includes (`!`) what an earlier one excluded.
    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|(_, neg)| *neg)
    }

    /// The files, symlinks and directories of `context` a build sees, relative, sorted.
    pub fn walk(&self, context: &Path) -> std::io::Result<Vec<String>> {
        let mut out = Vec::new();
        walk_into(context, "", self, &mut out)?;
        out.sort();
        Ok(out)
    }
}

fn walk_into(
    base: &Path,
    rel: &str,
    rules: &IgnoreRules,
    out: &mut Vec<String>,
) -> std::io::Result<()> {
    let dir = if rel.is_empty() {
        base.to_path_buf()
    } else {
        base.join(rel)
    };
    for e in std::fs::read_dir(&dir)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        let r = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let is_dir = e.file_type()?.is_dir();
        if !rules.is_ignored(&r) {
            out.push(r.clone());
        }
        // Walk into ignored directories too: an exception may re-include something inside.
        if is_dir {
            walk_into(base, &r, rules, out)?;
        }
    }
    Ok(())
}

/// Lexically cleaned path elements (`./a//b/../c/` → `a`, `c`); a leading `/` is dropped.
pub fn clean(p: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c.to_string()),
        }
    }
    out
}

/// Whether pattern elements match path elements (`**` spans zero or more elements).
pub fn match_elements(pat: &[String], path: &[String]) -> bool {
    match pat.split_first() {
        None => path.is_empty(),
        Some((p, rest)) if p == "**" => (0..=path.len()).any(|k| match_elements(rest, &path[k..])),
        Some((p, rest)) => match path.split_first() {
            Some((first, prest)) => match_element(p, first) && match_elements(rest, prest),
            None => false,
        },
    }
}

/// Matches one path element against `*`, `?`, `[...]` (with `^`/`!` negation and ranges) and
/// `\` escapes.
pub fn match_element(pat: &str, name: &str) -> bool {
    let p: Vec<char> = pat.chars().collect();
    let n: Vec<char> = name.chars().collect();
    fn go(p: &[char], n: &[char]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some('*') => (0..=n.len()).any(|k| go(&p[1..], &n[k..])),
            Some('?') => !n.is_empty() && go(&p[1..], &n[1..]),
            Some('[') => {
                let Some(c) = n.first() else { return false };
                let mut i = 1;
                let negate = matches!(p.get(1), Some('^') | Some('!'));
                if negate {
                    i += 1;
                }
                let mut matched = false;
                let mut first = true;
                while i < p.len() && (p[i] != ']' || first) {
                    first = false;
                    let lo = p[i];
                    if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
                        if lo <= *c && *c <= p[i + 2] {
                            matched = true;
                        }
                        i += 3;
                    } else {
                        if lo == *c {
                            matched = true;
                        }
                        i += 1;
                    }
                }
                if i >= p.len() {
                    // No closing bracket: a literal `[`.
                    return *c == '[' && go(&p[1..], &n[1..]);
                }
                matched != negate && go(&p[i + 1..], &n[1..])
            }
            Some('\\') if p.len() > 1 => n.first() == Some(&p[1]) && go(&p[2..], &n[1..]),
            Some(ch) => n.first() == Some(ch) && go(&p[1..], &n[1..]),
        }
    }
    go(&p, &n)
}

/// Whether a COPY source has glob characters.
pub fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignore_table() {
        let rules = IgnoreRules::parse(
            "# comment\n*.log\n!keep.log\nbuild/\n**/*.tmp\n/secret\ndocs/**/draft*\n[ab]?.bin\n",
        );
        let cases: &[(&str, bool)] = &[
            ("a.log", true),
            ("keep.log", false),
            ("sub/a.log", false), // *.log is anchored at the context root
            ("build", true),
            ("build/x/y.c", true),
            ("x.tmp", true),
            ("deep/er/x.tmp", true),
            ("secret", true),
            ("secret/k", true),
            ("docs/draft1", true),
            ("docs/a/b/draft2", true),
            ("docs/final", false),
            ("a1.bin", true),
            ("c1.bin", false),
            ("main.rs", false),
            ("./a.log", true),
        ];
        for (path, want) in cases {
            assert_eq!(rules.is_ignored(path), *want, "{path}");
        }
        // Exceptions after a directory exclusion re-include files inside it.
        let rules = IgnoreRules::parse("vendor\n!vendor/keep/**\n");
        assert!(rules.is_ignored("vendor/x"));
        assert!(!rules.is_ignored("vendor/keep/a/b"));
        // Last match wins.
        let rules = IgnoreRules::parse("!a\na\n");
        assert!(rules.is_ignored("a"));
    }

    #[test]
    fn element_globs() {
        assert!(match_element("*.rs", "main.rs"));
        assert!(!match_element("*.rs", "main.rc"));
        assert!(match_element("a?c", "abc"));
        assert!(match_element("[a-c]x", "bx"));
        assert!(!match_element("[^a-c]x", "bx"));
        assert!(match_element("[!a-c]x", "dx"));
        assert!(match_element("\\*", "*"));
        assert!(!match_element("\\*", "a"));
        assert!(match_elements(&clean("**"), &clean("a/b/c")));
        assert!(match_elements(&clean("a/**/c"), &clean("a/c")));
        assert!(match_elements(&clean("a/**/c"), &clean("a/x/y/c")));
        assert!(!match_elements(&clean("a/*/c"), &clean("a/x/y/c")));
    }

    #[test]
    fn walk_context() {
        let d = tempfile::tempdir().unwrap();
        for f in ["a.txt", "b.log", "src/main.rs", "target/x", "src/gen.tmp"] {
            let p = d.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, f).unwrap();
        }
        std::fs::write(d.path().join(".dockerignore"), "*.log\ntarget\n**/*.tmp\n").unwrap();
        let rules = IgnoreRules::load(d.path()).unwrap();
        assert_eq!(
            rules.file.as_deref(),
            Some(d.path().join(".dockerignore").as_path())
        );
        assert_eq!(
            rules.walk(d.path()).unwrap(),
            vec![".dockerignore", "a.txt", "src", "src/main.rs"]
        );
        // .containerignore wins over .dockerignore.
        std::fs::write(d.path().join(".containerignore"), "a.txt\n").unwrap();
        let rules = IgnoreRules::load(d.path()).unwrap();
        assert!(rules.is_ignored("a.txt") && !rules.is_ignored("b.log"));
    }
}
