//! `--format` strings as podman reads them: Go text/template actions over a JSON value.
//!
//! Supported: text with `{{.Field}}`, `{{.A.B}}`, `{{.}}`, functions `json`, `upper`, `lower`,
//! `join LIST SEP`, `index MAP KEY`, `len`, pipelines (`{{.Names | join ","}}`), string
//! literals, a leading `table` (a header row from the field names, columns aligned as podman's
//! tabwriter does: minimum width 12, padding 2) and the `\t` / `\n` escapes podman accepts.
//! `range`, `if` and other control actions are refused by name. Values print as Go's `%v`:
//! lists as `[a b]`, maps as `map[k:v]`, null as `<nil>`.

use serde_json::Value;

use crate::error::{ImageError, Result};

#[derive(Debug, Clone)]
enum Arg {
    Dot(Vec<String>),
    Str(String),
    Func(String),
}

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Action(Vec<Vec<Arg>>),
}

/// A parsed `--format` template.
#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<Node>,
    /// Whether it started with `table`.
    pub table: bool,
    source: String,
}

fn err(src: &str, why: impl std::fmt::Display) -> ImageError {
    ImageError::Other(format!("--format {src:?}: {why}"))
}

/// Replaces the escapes podman accepts in format strings.
fn unescape(s: &str) -> String {
    s.replace("\\t", "\t").replace("\\n", "\n")
}

impl Template {
    /// Parses a template. `json` alone is not a template: callers check for it first.
    pub fn parse(src: &str) -> Result<Template> {
        let mut text = src;
        let mut table = false;
        let owned: String;
        if let Some(rest) = text.strip_prefix("table") {
            if rest.is_empty() || rest.starts_with([' ', '\t']) || rest.starts_with("{{") {
                table = true;
                text = rest.trim_start_matches([' ']);
                // podman reads spaces between actions of a table as column breaks.
                owned = text.replace("}} {{", "}}\t{{");
                text = &owned;
            }
        }
        let mut nodes = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                nodes.push(Node::Text(unescape(&rest[..start])));
            }
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| err(src, "unclosed action `{{`"))?;
            let mut inner = &after[..end];
            inner = inner.trim_start_matches('-').trim_end_matches('-').trim();
            nodes.push(Node::Action(
                parse_pipeline(inner).map_err(|w| err(src, w))?,
            ));
            rest = &after[end + 2..];
        }
        if !rest.is_empty() {
            nodes.push(Node::Text(unescape(rest)));
        }
        Ok(Template {
            nodes,
            table,
            source: src.to_string(),
        })
    }

    /// Renders the template for one value.
    pub fn render(&self, v: &Value) -> Result<String> {
        let mut out = String::new();
        for n in &self.nodes {
            match n {
                Node::Text(t) => out.push_str(t),
                Node::Action(p) => {
                    let r = eval_pipeline(p, v).map_err(|w| err(&self.source, w))?;
                    out.push_str(&go_string(&r));
                }
            }
        }
        Ok(out)
    }

    /// The header row of a `table` template: each action replaced by `header(field name)`.
    pub fn header(&self, header: &dyn Fn(&str) -> String) -> String {
        let mut out = String::new();
        for n in &self.nodes {
            match n {
                Node::Text(t) => out.push_str(t),
                Node::Action(p) => {
                    let name = p
                        .iter()
                        .flatten()
                        .find_map(|a| match a {
                            Arg::Dot(f) if !f.is_empty() => Some(f.join(".")),
                            _ => None,
                        })
                        .unwrap_or_default();
                    out.push_str(&header(&name));
                }
            }
        }
        out
    }

    /// Renders every value, one per line, with a header row and aligned columns for `table`
    /// templates (or whenever `align` is set: podman aligns its default tables the same way).
    pub fn render_all(
        &self,
        values: &[Value],
        header: &dyn Fn(&str) -> String,
        with_header: bool,
    ) -> Result<String> {
        let mut lines = Vec::new();
        if self.table && with_header {
            lines.push(self.header(header));
        }
        for v in values {
            lines.push(self.render(v)?);
        }
        if self.table {
            Ok(align_columns(&lines))
        } else {
            let mut s = String::new();
            for l in lines {
                s.push_str(&l);
                if !l.ends_with('\n') {
                    s.push('\n');
                }
            }
            Ok(s)
        }
    }
}

/// Aligns tab-separated cells as Go's tabwriter(minwidth 12, tabwidth 2, padding 2, ' ').
pub fn align_columns(lines: &[String]) -> String {
    let rows: Vec<Vec<&str>> = lines
        .iter()
        .map(|l| l.trim_end_matches('\n').split('\t').collect())
        .collect();
    let ncols = rows.iter().map(|r| r.len()).max().unwrap_or(0);
    let mut widths = vec![0usize; ncols];
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            if i + 1 < r.len() {
                widths[i] = widths[i].max((c.chars().count() + 2).max(12));
            }
        }
    }
    let mut out = String::new();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            out.push_str(c);
            if i + 1 < r.len() {
                for _ in c.chars().count()..widths[i] {
                    out.push(' ');
                }
            }
        }
        out.push('\n');
    }
    out
}

fn parse_pipeline(s: &str) -> std::result::Result<Vec<Vec<Arg>>, String> {
    let first = s.split_whitespace().next().unwrap_or("");
    if matches!(
        first,
        "range" | "if" | "with" | "end" | "else" | "define" | "template" | "block"
    ) || first.starts_with("/*")
        || first.starts_with('$')
    {
        return Err(format!("`{first}` actions are not supported; use fields, json, index, join, upper, lower or len"));
    }
    let mut cmds = Vec::new();
    for part in split_outside_quotes(s, '|') {
        let mut args = Vec::new();
        for tok in tokenize(part.trim())? {
            args.push(tok);
        }
        if args.is_empty() {
            return Err("empty command in the pipeline".into());
        }
        cmds.push(args);
    }
    if cmds.is_empty() {
        return Err("empty action `{{}}`".into());
    }
    Ok(cmds)
}

fn split_outside_quotes(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut in_q = false;
    let mut start = 0;
    let mut prev = '\0';
    for (i, c) in s.char_indices() {
        if c == '"' && prev != '\\' {
            in_q = !in_q;
        } else if c == sep && !in_q {
            parts.push(&s[start..i]);
            start = i + 1;
        }
        prev = c;
    }
    parts.push(&s[start..]);
    parts
}

fn tokenize(s: &str) -> std::result::Result<Vec<Arg>, String> {
    let mut out = Vec::new();
    let mut chars = s.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        if c == '"' || c == '`' {
            let q = c;
            chars.next();
            let mut lit = String::new();
            let mut closed = false;
            while let Some((_, c)) = chars.next() {
                if c == q {
                    closed = true;
                    break;
                }
                if c == '\\' && q == '"' {
                    match chars.next() {
                        Some((_, 'n')) => lit.push('\n'),
                        Some((_, 't')) => lit.push('\t'),
                        Some((_, o)) => lit.push(o),
                        None => {}
                    }
                } else {
                    lit.push(c);
                }
            }
            if !closed {
                return Err("unterminated string".into());
            }
            out.push(Arg::Str(lit));
            continue;
        }
        let mut end = s.len();
        for (j, c2) in s[i..].char_indices() {
            if c2.is_whitespace() {
                end = i + j;
                break;
            }
        }
        let word = &s[i..end];
        while chars.peek().is_some_and(|&(j, _)| j < end) {
            chars.next();
        }
        if word == "." {
            out.push(Arg::Dot(Vec::new()));
        } else if let Some(path) = word.strip_prefix('.') {
            out.push(Arg::Dot(path.split('.').map(String::from).collect()));
        } else if word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            out.push(Arg::Func(word.to_string()));
        } else {
            return Err(format!("cannot read `{word}`"));
        }
    }
    Ok(out)
}

fn lookup(v: &Value, path: &[String]) -> std::result::Result<Value, String> {
    let mut cur = v.clone();
    for (i, f) in path.iter().enumerate() {
        cur = match &cur {
            Value::Object(m) => match m.get(f) {
                Some(x) => x.clone(),
                None => match m.iter().find(|(k, _)| k.eq_ignore_ascii_case(f)) {
                    Some((_, x)) => x.clone(),
                    None if i > 0 => Value::Null,
                    None => return Err(format!("can't evaluate field {f}")),
                },
            },
            Value::Null => Value::Null,
            _ => return Err(format!("can't evaluate field {f} in a non-object")),
        };
    }
    Ok(cur)
}

fn eval_arg(a: &Arg, dot: &Value) -> std::result::Result<Value, String> {
    match a {
        Arg::Dot(p) => lookup(dot, p),
        Arg::Str(s) => Ok(Value::String(s.clone())),
        Arg::Func(f) => call(f, &[]),
    }
}

fn eval_pipeline(p: &[Vec<Arg>], dot: &Value) -> std::result::Result<Value, String> {
    let mut piped: Option<Value> = None;
    for cmd in p {
        let v = match &cmd[0] {
            Arg::Func(f) => {
                let mut args = Vec::new();
                for a in &cmd[1..] {
                    args.push(eval_arg(a, dot)?);
                }
                if let Some(x) = piped.take() {
                    args.push(x);
                }
                call(f, &args)?
            }
            a => {
                if cmd.len() > 1 {
                    return Err("a field cannot take arguments".into());
                }
                if piped.is_some() {
                    return Err("only functions can be piped into".into());
                }
                eval_arg(a, dot)?
            }
        };
        piped = Some(v);
    }
    Ok(piped.unwrap_or(Value::Null))
}

fn call(f: &str, args: &[Value]) -> std::result::Result<Value, String> {
    let want = |n: usize| -> std::result::Result<(), String> {
        if args.len() == n {
            Ok(())
        } else {
            Err(format!("{f} takes {n} argument(s), got {}", args.len()))
        }
    };
    match f {
        "json" => {
            want(1)?;
            Ok(Value::String(
                serde_json::to_string(&args[0]).unwrap_or_default(),
            ))
        }
        "upper" => {
            want(1)?;
            Ok(Value::String(go_string(&args[0]).to_uppercase()))
        }
        "lower" => {
            want(1)?;
            Ok(Value::String(go_string(&args[0]).to_lowercase()))
        }
        "len" => {
            want(1)?;
            Ok(Value::from(match &args[0] {
                Value::Array(a) => a.len(),
                Value::Object(m) => m.len(),
                Value::String(s) => s.len(),
                _ => 0,
            }))
        }
        "join" => {
            want(2)?;
            // `join LIST SEP`, or `LIST | join SEP` (the piped value comes last).
            let (list, sep) = if args[1].is_array() {
                (&args[1], &args[0])
            } else {
                (&args[0], &args[1])
            };
            let sep = go_string(sep);
            match list {
                Value::Array(a) => Ok(Value::String(
                    a.iter().map(go_string).collect::<Vec<_>>().join(&sep),
                )),
                Value::Null => Ok(Value::String(String::new())),
                other => Ok(Value::String(go_string(other))),
            }
        }
        "index" => {
            if args.len() < 2 {
                return Err("index takes a map or list and a key".into());
            }
            let mut cur = args[0].clone();
            for k in &args[1..] {
                cur = match (&cur, k) {
                    (Value::Object(m), Value::String(k)) => {
                        m.get(k).cloned().unwrap_or(Value::Null)
                    }
                    (Value::Array(a), Value::Number(n)) => a
                        .get(n.as_u64().unwrap_or(u64::MAX) as usize)
                        .cloned()
                        .ok_or("index out of range")?,
                    (Value::Null, _) => Value::Null,
                    _ => return Err("index of a value that is not a map or list".into()),
                };
            }
            Ok(cur)
        }
        other => Err(format!("function \"{other}\" not defined")),
    }
}

/// Go's `%v` of a JSON value.
pub fn go_string(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(go_string).collect::<Vec<_>>().join(" ")
        ),
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            format!(
                "map[{}]",
                keys.iter()
                    .map(|k| format!("{k}:{}", go_string(&m[*k])))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders() {
        let v = json!({"ID": "abc", "Names": ["a", "b"], "Labels": {"k": "v"}, "Config": {"Cmd": null}, "N": 3});
        let r = |t: &str| Template::parse(t).unwrap().render(&v).unwrap();
        assert_eq!(r("{{.ID}}"), "abc");
        assert_eq!(r("id={{ .ID }}\\t{{.N}}"), "id=abc\t3");
        assert_eq!(r("{{.Names}}"), "[a b]");
        assert_eq!(r("{{json .Names}}"), r#"["a","b"]"#);
        assert_eq!(r("{{.Names | join \",\"}}"), "a,b");
        assert_eq!(r("{{join .Names \" \"}}"), "a b");
        assert_eq!(r("{{index .Labels \"k\"}}"), "v");
        assert_eq!(r("{{.Labels}}"), "map[k:v]");
        assert_eq!(r("{{.Config.Cmd}}"), "<nil>");
        assert_eq!(r("{{upper .ID}}"), "ABC");
        assert_eq!(r("{{len .Names}}"), "2");
        assert!(Template::parse("{{.Nope}}").unwrap().render(&v).is_err());
        assert!(Template::parse("{{range .Names}}x{{end}}").is_err());
        assert!(Template::parse("{{.ID").is_err());
    }

    #[test]
    fn tables() {
        let t = Template::parse("table {{.ID}}\t{{.Repository}}").unwrap();
        assert!(t.table);
        let vals = vec![json!({"ID": "a494731ee91b", "Repository": "localhost/busybox"})];
        let out = t
            .render_all(
                &vals,
                &|f| {
                    if f == "ID" {
                        "IMAGE ID".into()
                    } else {
                        f.to_uppercase()
                    }
                },
                true,
            )
            .unwrap();
        assert_eq!(
            out,
            "IMAGE ID      REPOSITORY\na494731ee91b  localhost/busybox\n"
        );
    }
}
