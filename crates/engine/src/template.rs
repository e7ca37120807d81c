//! `--format`: `json`, or Go-template strings over the JSON shapes podman prints
//! (`{{.ID}}`, `{{.Names}}`, `{{.State.Pid}}`, `{{json .}}`, `{{range .Mounts}}…{{end}}`,
//! `{{join .Names ","}}`, `{{index .Labels "k"}}`, `{{lower …}}`, `{{upper …}}`).

use serde_json::Value;

use crate::error::{Error, Result};

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Action(Vec<String>),
    Range(Vec<String>, Vec<Node>),
    If(Vec<String>, Vec<Node>, Vec<Node>),
}

/// A parsed template.
pub struct Template {
    nodes: Vec<Node>,
    /// `table …`: print a header line first.
    pub table: bool,
    header: String,
}

fn tokenize(action: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut chars = action.trim().chars().peekable();
    while let Some(&ch) = chars.peek() {
        if ch.is_whitespace() {
            chars.next();
        } else if ch == '"' {
            chars.next();
            let mut s = String::new();
            loop {
                match chars.next() {
                    None => {
                        return Err(Error::engine(format!(
                            "template: unterminated string in {action:?}"
                        )))
                    }
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some('n') => s.push('\n'),
                        Some('t') => s.push('\t'),
                        Some(c) => s.push(c),
                        None => {}
                    },
                    Some(c) => s.push(c),
                }
            }
            out.push(format!("\"{s}"));
        } else {
            let mut s = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                s.push(c);
                chars.next();
            }
            out.push(s);
        }
    }
    Ok(out)
}

fn parse_nodes(src: &str, pos: &mut usize, stop: &[&str]) -> Result<(Vec<Node>, String)> {
    let mut nodes = Vec::new();
    while *pos < src.len() {
        let rest = &src[*pos..];
        let Some(open) = rest.find("{{") else {
            nodes.push(Node::Text(rest.to_string()));
            *pos = src.len();
            break;
        };
        if open > 0 {
            nodes.push(Node::Text(rest[..open].to_string()));
        }
        let after = &rest[open + 2..];
        let close = after
            .find("}}")
            .ok_or_else(|| Error::engine(format!("template {src:?}: unclosed action")))?;
        let inner = after[..close].trim_matches('-').trim();
        *pos += open + 2 + close + 2;
        let toks = tokenize(inner)?;
        let head = toks.first().map(String::as_str).unwrap_or("");
        if stop.contains(&head) {
            return Ok((nodes, head.to_string()));
        }
        match head {
            "range" => {
                let (body, end) = parse_nodes(src, pos, &["end"])?;
                if end != "end" {
                    return Err(Error::engine("template: range without end"));
                }
                nodes.push(Node::Range(toks[1..].to_vec(), body));
            }
            "if" => {
                let (then, end) = parse_nodes(src, pos, &["end", "else"])?;
                let els = if end == "else" {
                    let (e, end2) = parse_nodes(src, pos, &["end"])?;
                    if end2 != "end" {
                        return Err(Error::engine("template: if without end"));
                    }
                    e
                } else if end == "end" {
                    vec![]
                } else {
                    return Err(Error::engine("template: if without end"));
                };
                nodes.push(Node::If(toks[1..].to_vec(), then, els));
            }
            "" => {}
            _ => nodes.push(Node::Action(toks)),
        }
    }
    if !stop.is_empty() {
        return Ok((nodes, String::new()));
    }
    Ok((nodes, String::new()))
}

/// Column titles podman prints for `table` formats.
fn title(field: &str) -> String {
    match field {
        "ID" => "CONTAINER ID".into(),
        "Names" => "NAMES".into(),
        "Image" => "IMAGE".into(),
        "Command" => "COMMAND".into(),
        "CreatedHuman" | "RunningFor" => "CREATED".into(),
        "Status" => "STATUS".into(),
        "Ports" => "PORTS".into(),
        "Name" => "VOLUME NAME".into(),
        "Driver" => "DRIVER".into(),
        other => other.to_ascii_uppercase(),
    }
}

impl Template {
    pub fn parse(format: &str) -> Result<Template> {
        let unescaped = format.replace("\\t", "\t").replace("\\n", "\n");
        let (table, body) = match unescaped.strip_prefix("table") {
            Some(rest) => (true, rest.trim_start().to_string()),
            None => (false, unescaped),
        };
        let mut pos = 0;
        let (nodes, _) = parse_nodes(&body, &mut pos, &[])?;
        let header = nodes
            .iter()
            .map(|n| match n {
                Node::Text(t) => t.clone(),
                Node::Action(toks) => {
                    title(toks.last().map(|t| t.trim_start_matches('.')).unwrap_or(""))
                }
                _ => String::new(),
            })
            .collect();
        Ok(Template {
            nodes,
            table,
            header,
        })
    }

    pub fn header(&self) -> &str {
        &self.header
    }

    /// Renders the template for one value (a newline is added by the caller).
    pub fn render(&self, v: &Value) -> Result<String> {
        let mut out = String::new();
        render_nodes(&self.nodes, v, &mut out)?;
        Ok(out)
    }
}

fn render_nodes(nodes: &[Node], dot: &Value, out: &mut String) -> Result<()> {
    for n in nodes {
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Action(toks) => out.push_str(&to_text(&eval(toks, dot)?)),
            Node::Range(toks, body) => match eval(toks, dot)? {
                Value::Array(items) => {
                    for it in &items {
                        render_nodes(body, it, out)?;
                    }
                }
                Value::Object(m) => {
                    for (_, it) in m {
                        render_nodes(body, &it, out)?;
                    }
                }
                _ => {}
            },
            Node::If(toks, then, els) => {
                let v = eval(toks, dot)?;
                let truthy = match &v {
                    Value::Null => false,
                    Value::Bool(b) => *b,
                    Value::Number(n) => n.as_f64() != Some(0.0),
                    Value::String(s) => !s.is_empty(),
                    Value::Array(a) => !a.is_empty(),
                    Value::Object(o) => !o.is_empty(),
                };
                render_nodes(if truthy { then } else { els }, dot, out)?;
            }
        }
    }
    Ok(())
}

fn lookup(dot: &Value, path: &str) -> Result<Value> {
    let mut cur = dot.clone();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        cur = match &cur {
            Value::Object(m) => match m.get(part) {
                Some(v) => v.clone(),
                None => match m.iter().find(|(k, _)| k.eq_ignore_ascii_case(part)) {
                    Some((_, v)) => v.clone(),
                    None => {
                        return Err(Error::engine(format!(
                            "template: can't evaluate field {part} in the output"
                        )))
                    }
                },
            },
            _ => Value::Null,
        };
    }
    Ok(cur)
}

fn arg(tok: &str, dot: &Value) -> Result<Value> {
    if let Some(s) = tok.strip_prefix('"') {
        return Ok(Value::String(s.to_string()));
    }
    if tok.starts_with('.') {
        return lookup(dot, tok);
    }
    if let Ok(n) = tok.parse::<i64>() {
        return Ok(Value::from(n));
    }
    Err(Error::engine(format!("template: unknown argument {tok:?}")))
}

fn eval(toks: &[String], dot: &Value) -> Result<Value> {
    let head = toks.first().map(String::as_str).unwrap_or(".");
    let args = || {
        toks[1..]
            .iter()
            .map(|t| arg(t, dot))
            .collect::<Result<Vec<_>>>()
    };
    match head {
        "json" => {
            let a = args()?;
            let v = a.into_iter().next().unwrap_or_else(|| dot.clone());
            Ok(Value::String(serde_json::to_string(&v)?))
        }
        "join" => {
            let a = args()?;
            let sep = a.get(1).map(to_text).unwrap_or_default();
            match a.first() {
                Some(Value::Array(items)) => Ok(Value::String(
                    items.iter().map(to_text).collect::<Vec<_>>().join(&sep),
                )),
                Some(v) => Ok(Value::String(to_text(v))),
                None => Ok(Value::Null),
            }
        }
        "index" => {
            let a = args()?;
            let (Some(coll), Some(key)) = (a.first(), a.get(1)) else {
                return Err(Error::engine("template: index needs two arguments"));
            };
            Ok(match (coll, key) {
                (Value::Object(m), k) => m.get(&to_text(k)).cloned().unwrap_or(Value::Null),
                (Value::Array(v), Value::Number(n)) => v
                    .get(n.as_u64().unwrap_or(0) as usize)
                    .cloned()
                    .unwrap_or(Value::Null),
                _ => Value::Null,
            })
        }
        "lower" | "upper" => {
            let a = args()?;
            let s = a.first().map(to_text).unwrap_or_default();
            Ok(Value::String(if head == "lower" {
                s.to_lowercase()
            } else {
                s.to_uppercase()
            }))
        }
        "len" => {
            let a = args()?;
            Ok(Value::from(match a.first() {
                Some(Value::Array(v)) => v.len(),
                Some(Value::Object(m)) => m.len(),
                Some(Value::String(s)) => s.len(),
                _ => 0,
            }))
        }
        t if t.starts_with('.') || t.starts_with('"') => {
            if toks.len() > 1 {
                return Err(Error::engine(format!("template: unexpected {:?}", toks[1])));
            }
            arg(t, dot)
        }
        other => Err(Error::engine(format!(
            "template: function {other:?} not defined"
        ))),
    }
}

/// A value as Go's text/template prints it.
pub fn to_text(v: &Value) -> String {
    match v {
        Value::Null => "<no value>".into(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) => {
            format!(
                "[{}]",
                items.iter().map(to_text).collect::<Vec<_>>().join(" ")
            )
        }
        Value::Object(m) => format!(
            "map[{}]",
            m.iter()
                .map(|(k, v)| format!("{k}:{}", to_text(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders() {
        let v =
            json!({"Id": "abc", "State": {"Pid": 42}, "Names": ["a", "b"], "Labels": {"k": "v"}});
        let t = |f: &str| Template::parse(f).unwrap().render(&v).unwrap();
        assert_eq!(t("{{.ID}}"), "abc");
        assert_eq!(t("{{.State.Pid}}"), "42");
        assert_eq!(t("{{json .State}}"), "{\"Pid\":42}");
        assert_eq!(t("{{join .Names \",\"}}"), "a,b");
        assert_eq!(t("{{index .Labels \"k\"}}\\t!"), "v\t!");
        assert_eq!(t("{{range .Names}}[{{.}}]{{end}}"), "[a][b]");
        assert_eq!(t("{{if .State.Pid}}up{{else}}down{{end}}"), "up");
        assert!(Template::parse("{{.Nope}}").unwrap().render(&v).is_err());
    }
}
