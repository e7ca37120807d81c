//! Containerfile text → stages of typed instructions, each with its line.
//!
//! Lines: parser directives (`# escape=`, `# syntax=`, `# check=`) at the very top; comments;
//! continuations with the escape character at the end of a line (comment and empty lines
//! inside a continuation are skipped, as BuildKit does); heredocs (`<<EOF`, `<<-EOF`,
//! `<<"EOF"`) for RUN, COPY and ADD. Words of the instructions that BuildKit expands keep their
//! quotes here; the planner expands them.

use super::expand::split_words;
use super::{ContainerfileError, Result};

/// A parsed Containerfile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Containerfile {
    /// The file name used in messages.
    pub file: String,
    /// The escape character (`\` or `` ` ``).
    pub escape: char,
    /// The `# syntax=` directive, accepted and recorded (no frontend image is run).
    pub syntax: Option<String>,
    /// ARG instructions before the first FROM (usable in FROM lines).
    pub global_args: Vec<Located<Vec<ArgDecl>>>,
    pub stages: Vec<Stage>,
}

/// A value with the line it starts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located<T> {
    pub line: usize,
    /// The instruction as written (continuations joined, heredoc bodies not included).
    pub text: String,
    pub value: T,
}

/// One `FROM ... [AS name]` and the instructions after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stage {
    /// 0-based position among the stages.
    pub index: usize,
    /// The `AS` name, lowercased (stage names are case-insensitive).
    pub name: Option<String>,
    /// The base as written (unexpanded): `scratch`, an image or an earlier stage's name/index.
    pub base: String,
    /// `--platform=` as written.
    pub platform: Option<String>,
    pub line: usize,
    pub instructions: Vec<Located<Instruction>>,
}

/// An `ARG NAME[=default]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArgDecl {
    pub name: String,
    /// The default as written (quotes kept), if any.
    pub default: Option<String>,
}

/// Shell form (run by the stage's SHELL) or exec form (a JSON array).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Shell(String),
    Exec(Vec<String>),
}

/// A here-document attached to RUN, COPY or ADD.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter word (`EOF`).
    pub name: String,
    /// The body, each line ending in `\n`.
    pub body: String,
    /// Unquoted delimiter: variables in the body are expanded.
    pub expand: bool,
}

/// COPY or ADD.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopySpec {
    /// `--from=` (COPY only): a stage name or index, or an image.
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    /// Sources (context paths or globs; heredoc names for `<<EOF` sources).
    pub sources: Vec<String>,
    pub dest: String,
    pub heredocs: Vec<Heredoc>,
}

/// HEALTHCHECK.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Healthcheck {
    /// `HEALTHCHECK NONE`: disable the base image's check.
    None,
    Check {
        /// `CMD` argument: exec form, or shell form to run as `CMD-SHELL`.
        test: Command,
        /// Nanoseconds; 0 = inherit / default.
        interval: u64,
        timeout: u64,
        start_period: u64,
        start_interval: u64,
        retries: u32,
    },
}

/// One instruction. Words of ENV, LABEL, COPY, ADD, WORKDIR, USER, EXPOSE, VOLUME, STOPSIGNAL
/// and ARG defaults are kept as written (quotes and `$VAR` intact) until the planner expands
/// them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Instruction {
    Run {
        command: Command,
        heredocs: Vec<Heredoc>,
    },
    Copy(CopySpec),
    Add(CopySpec),
    Env(Vec<(String, String)>),
    Arg(Vec<ArgDecl>),
    Workdir(String),
    User(String),
    Cmd(Command),
    Entrypoint(Command),
    Expose(Vec<String>),
    Label(Vec<(String, String)>),
    Volume(Vec<String>),
    StopSignal(String),
    Healthcheck(Healthcheck),
    Shell(Vec<String>),
    /// ONBUILD: the trigger instruction's text, kept for the image config.
    Onbuild(String),
}

impl Instruction {
    /// The keyword, upper case.
    pub fn keyword(&self) -> &'static str {
        match self {
            Instruction::Run { .. } => "RUN",
            Instruction::Copy(_) => "COPY",
            Instruction::Add(_) => "ADD",
            Instruction::Env(_) => "ENV",
            Instruction::Arg(_) => "ARG",
            Instruction::Workdir(_) => "WORKDIR",
            Instruction::User(_) => "USER",
            Instruction::Cmd(_) => "CMD",
            Instruction::Entrypoint(_) => "ENTRYPOINT",
            Instruction::Expose(_) => "EXPOSE",
            Instruction::Label(_) => "LABEL",
            Instruction::Volume(_) => "VOLUME",
            Instruction::StopSignal(_) => "STOPSIGNAL",
            Instruction::Healthcheck(_) => "HEALTHCHECK",
            Instruction::Shell(_) => "SHELL",
            Instruction::Onbuild(_) => "ONBUILD",
        }
    }
}

/// One logical line: its first physical line, text, and heredoc bodies.
struct LogicalLine {
    line: usize,
    text: String,
    heredocs: Vec<Heredoc>,
}

/// Parses the text of a Containerfile; `file` names it in messages.
pub fn parse(file: &str, text: &str) -> Result<Containerfile> {
    let err = |line: usize, msg: String| ContainerfileError {
        file: file.to_string(),
        line,
        msg,
    };
    let lines: Vec<&str> = text.lines().collect();
    // Directives: `# key=value` lines at the very top.
    let mut escape = '\\';
    let mut syntax = None;
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i].trim();
        let Some(rest) = l.strip_prefix('#') else {
            break;
        };
        let Some((k, v)) = rest.split_once('=') else {
            break;
        };
        let k = k.trim().to_ascii_lowercase();
        let v = v.trim();
        if k.contains(char::is_whitespace) {
            break;
        }
        match k.as_str() {
            "escape" => {
                escape = match v {
                    "\\" => '\\',
                    "`" => '`',
                    other => {
                        return Err(err(
                            i + 1,
                            format!("escape directive: {other:?} is not \\ or `"),
                        ))
                    }
                }
            }
            "syntax" => syntax = Some(v.to_string()),
            "check" => {}
            _ => break,
        }
        i += 1;
    }

    let logical = logical_lines(&lines, i, escape).map_err(|(l, m)| err(l, m))?;
    let mut cf = Containerfile {
        file: file.to_string(),
        escape,
        syntax,
        global_args: Vec::new(),
        stages: Vec::new(),
    };
    for ll in logical {
        let (kw, rest) = split_keyword(&ll.text);
        let kw_up = kw.to_ascii_uppercase();
        let e = |m: String| err(ll.line, m);
        if kw_up == "FROM" {
            let stage = parse_from(rest, cf.stages.len(), ll.line, escape).map_err(e)?;
            if let Some(n) = &stage.name {
                if cf.stages.iter().any(|s| s.name.as_deref() == Some(n)) {
                    return Err(err(ll.line, format!("duplicate stage name {n:?}")));
                }
            }
            cf.stages.push(stage);
            continue;
        }
        let value = parse_instruction(&kw_up, rest, ll.heredocs, escape).map_err(e)?;
        let located = Located {
            line: ll.line,
            text: ll.text.clone(),
            value,
        };
        match cf.stages.last_mut() {
            Some(s) => s.instructions.push(located),
            None => match located.value {
                Instruction::Arg(a) => cf.global_args.push(Located {
                    line: located.line,
                    text: located.text,
                    value: a,
                }),
                other => {
                    return Err(err(
                        ll.line,
                        format!(
                            "{} before the first FROM (only ARG may come before FROM)",
                            other.keyword()
                        ),
                    ))
                }
            },
        }
    }
    if cf.stages.is_empty() {
        return Err(err(
            lines.len().max(1),
            "no FROM instruction: a Containerfile starts its first stage with FROM".into(),
        ));
    }
    Ok(cf)
}

/// Joins continuations, drops comments and blank lines, and reads heredoc bodies.
fn logical_lines(
    lines: &[&str],
    start: usize,
    escape: char,
) -> std::result::Result<Vec<LogicalLine>, (usize, String)> {
    let mut out = Vec::new();
    let mut i = start;
    while i < lines.len() {
        let first = lines[i];
        let t = first.trim_start();
        if t.is_empty() || t.starts_with('#') {
            i += 1;
            continue;
        }
        let line_no = i + 1;
        let mut text = String::new();
        let mut cur = first.to_string();
        loop {
            let trimmed = cur.trim_end();
            if let Some(body) = trimmed.strip_suffix(escape) {
                // An escaped escape at the end is not a continuation.
                let escaped_escape = body.ends_with(escape)
                    && body.chars().rev().take_while(|&c| c == escape).count() % 2 == 1;
                if !escaped_escape {
                    text.push_str(body);
                    i += 1;
                    // Skip comment and empty lines inside the continuation.
                    while i < lines.len() {
                        let t = lines[i].trim_start();
                        if t.starts_with('#') || t.is_empty() {
                            i += 1;
                        } else {
                            break;
                        }
                    }
                    if i >= lines.len() {
                        break;
                    }
                    cur = lines[i].to_string();
                    continue;
                }
            }
            text.push_str(&cur);
            i += 1;
            break;
        }
        let text = text.trim().to_string();
        // Heredocs: only for RUN, COPY and ADD.
        let (kw, _) = split_keyword(&text);
        let mut heredocs = Vec::new();
        if matches!(kw.to_ascii_uppercase().as_str(), "RUN" | "COPY" | "ADD") {
            for (name, strip_tabs, expand) in heredoc_markers(&text) {
                let mut body = String::new();
                let mut found = false;
                while i < lines.len() {
                    let l = lines[i];
                    i += 1;
                    let cmp = if strip_tabs {
                        l.trim_start_matches('\t')
                    } else {
                        l
                    };
                    if cmp == name {
                        found = true;
                        break;
                    }
                    body.push_str(cmp);
                    body.push('\n');
                }
                if !found {
                    return Err((
                        line_no,
                        format!("heredoc <<{name} is not terminated by a line {name}"),
                    ));
                }
                heredocs.push(Heredoc { name, body, expand });
            }
        }
        out.push(LogicalLine {
            line: line_no,
            text,
            heredocs,
        });
    }
    Ok(out)
}

/// `<<EOF`, `<<-EOF`, `<<'EOF'`, `<<"EOF"` markers in a line: (name, strip tabs, expand).
fn heredoc_markers(text: &str) -> Vec<(String, bool, bool)> {
    let mut out = Vec::new();
    let b = text.as_bytes();
    let mut i = 0;
    while i + 2 < b.len() {
        if &b[i..i + 2] == b"<<" && (i == 0 || b[i - 1] != b'<') {
            let mut j = i + 2;
            let strip = b.get(j) == Some(&b'-');
            if strip {
                j += 1;
            }
            let quote = match b.get(j) {
                Some(&q @ (b'\'' | b'"')) => {
                    j += 1;
                    Some(q)
                }
                _ => None,
            };
            let s = j;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                j += 1;
            }
            if j > s {
                let name = text[s..j].to_string();
                if let Some(q) = quote {
                    if b.get(j) == Some(&q) {
                        j += 1;
                    }
                }
                out.push((name, strip, quote.is_none()));
                i = j;
                continue;
            }
        }
        i += 1;
    }
    out
}

fn split_keyword(text: &str) -> (&str, &str) {
    match text.find(char::is_whitespace) {
        Some(i) => (&text[..i], text[i..].trim_start()),
        None => (text, ""),
    }
}

/// Leading `--name[=value]` flags of an instruction; the rest of the text.
fn take_flags(rest: &str) -> (Vec<(String, Option<String>)>, &str) {
    let mut flags = Vec::new();
    let mut r = rest;
    while let Some(f) = r.strip_prefix("--") {
        let end = f.find(char::is_whitespace).unwrap_or(f.len());
        let word = &f[..end];
        match word.split_once('=') {
            Some((n, v)) => flags.push((n.to_string(), Some(v.to_string()))),
            None => flags.push((word.to_string(), None)),
        }
        r = f[end..].trim_start();
    }
    (flags, r)
}

/// Refuses flags other than `allowed`, by name.
fn check_flags(
    kw: &str,
    flags: &[(String, Option<String>)],
    allowed: &[&str],
) -> Result<(), String> {
    for (n, v) in flags {
        if !allowed.contains(&n.as_str()) {
            return Err(format!("{kw} --{n}: not supported by dermaga"));
        }
        if v.is_none() {
            return Err(format!("{kw} --{n} needs a value (--{n}=VALUE)"));
        }
    }
    Ok(())
}

fn flag(flags: &[(String, Option<String>)], name: &str) -> Option<String> {
    flags
        .iter()
        .rev()
        .find(|(n, _)| n == name)
        .and_then(|(_, v)| v.clone())
}

fn parse_from(rest: &str, index: usize, line: usize, escape: char) -> Result<Stage, String> {
    let (flags, rest) = take_flags(rest);
    check_flags("FROM", &flags, &["platform"])?;
    let words = split_words(rest, escape)?;
    let (base, name) = match words.as_slice() {
        [b] => (b.clone(), None),
        [b, as_, n] if as_.eq_ignore_ascii_case("as") => {
            let n = n.to_ascii_lowercase();
            let ok = n.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
            if !ok {
                return Err(format!(
                    "invalid stage name {n:?}: letters, digits, - _ . starting with a letter"
                ));
            }
            (b.clone(), Some(n))
        }
        [] => return Err("FROM needs an image (or scratch, or an earlier stage)".into()),
        _ => return Err("FROM takes IMAGE [AS NAME]".into()),
    };
    Ok(Stage {
        index,
        name,
        base,
        platform: flag(&flags, "platform"),
        line,
        instructions: Vec::new(),
    })
}

/// Exec form if the text is a JSON array of strings.
fn command(rest: &str) -> Command {
    if rest.starts_with('[') {
        if let Ok(v) = serde_json::from_str::<Vec<String>>(rest) {
            return Command::Exec(v);
        }
    }
    Command::Shell(rest.to_string())
}

/// `k=v k2="v 2"` pairs, or the legacy single `k v` form.
fn name_values(kw: &str, rest: &str, escape: char) -> Result<Vec<(String, String)>, String> {
    let words = split_words(rest, escape)?;
    if words.is_empty() {
        return Err(format!("{kw} needs at least one KEY=VALUE"));
    }
    if !words[0].contains('=') {
        // Legacy form: the first word is the key, the rest of the line the value.
        let key = words[0].clone();
        let value = rest[rest.find(&key).unwrap_or(0) + key.len()..]
            .trim()
            .to_string();
        if value.is_empty() && kw == "ENV" {
            return Err(format!("ENV {key} needs a value (ENV {key}=VALUE)"));
        }
        return Ok(vec![(key, value)]);
    }
    words
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(format!("{kw} {w}: expected KEY=VALUE")),
        })
        .collect()
}

fn parse_instruction(
    kw: &str,
    rest: &str,
    heredocs: Vec<Heredoc>,
    escape: char,
) -> Result<Instruction, String> {
    let need = |what: &str| -> Result<(), String> {
        if rest.trim().is_empty() {
            Err(format!("{kw} needs {what}"))
        } else {
            Ok(())
        }
    };
    Ok(match kw {
        "RUN" => {
            let (flags, rest) = take_flags(rest);
            if let Some((n, _)) = flags.first() {
                return Err(format!(
                    "RUN --{n}: not supported by dermaga (no RUN flags are)"
                ));
            }
            if rest.trim().is_empty() {
                return Err("RUN needs a command".into());
            }
            Instruction::Run {
                command: command(rest),
                heredocs,
            }
        }
        "COPY" | "ADD" => {
            let (flags, rest) = take_flags(rest);
            let allowed: &[&str] = if kw == "COPY" {
                &["from", "chown", "chmod"]
            } else {
                &["chown", "chmod"]
            };
            check_flags(kw, &flags, allowed)?;
            let words: Vec<String> = if rest.starts_with('[') {
                serde_json::from_str::<Vec<String>>(rest)
                    .map_err(|e| format!("{kw}: bad JSON array: {e}"))?
                    .into_iter()
                    .map(|w| format!("'{}'", w.replace('\'', "'\"'\"'")))
                    .collect()
            } else {
                split_words(rest, escape)?
            };
            if words.len() < 2 && heredocs.is_empty() {
                return Err(format!("{kw} needs at least one source and a destination"));
            }
            let Some((dest, sources)) = words.split_last() else {
                return Err(format!("{kw} needs a destination"));
            };
            if kw == "ADD" {
                for s in sources {
                    let l = s.trim_matches(['"', '\'']).to_ascii_lowercase();
                    if l.starts_with("http://") || l.starts_with("https://") || l.starts_with("git@") {
                        return Err(format!(
                            "ADD {s}: sources from URLs are not supported by dermaga; download in a RUN step or COPY a local file"
                        ));
                    }
                }
            }
            let spec = CopySpec {
                from: flag(&flags, "from"),
                chown: flag(&flags, "chown"),
                chmod: flag(&flags, "chmod"),
                sources: sources.to_vec(),
                dest: dest.clone(),
                heredocs,
            };
            if let Some(m) = &spec.chmod {
                if !(m.len() <= 4 && !m.is_empty() && m.chars().all(|c| ('0'..='7').contains(&c))) {
                    return Err(format!("{kw} --chmod={m}: expected an octal mode such as 755"));
                }
            }
            if kw == "COPY" {
                Instruction::Copy(spec)
            } else {
                Instruction::Add(spec)
            }
        }
        "ENV" => Instruction::Env(name_values("ENV", rest, escape)?),
        "LABEL" => Instruction::Label(name_values("LABEL", rest, escape)?),
        "MAINTAINER" => {
            need("a name")?;
            Instruction::Label(vec![("maintainer".into(), format!("'{}'", rest.replace('\'', "'\"'\"'")))])
        }
        "ARG" => {
            let words = split_words(rest, escape)?;
            if words.is_empty() {
                return Err("ARG needs a NAME[=DEFAULT]".into());
            }
            let mut decls = Vec::new();
            for w in words {
                let (name, default) = match w.split_once('=') {
                    Some((n, d)) => (n.to_string(), Some(d.to_string())),
                    None => (w.clone(), None),
                };
                if name.is_empty()
                    || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                {
                    return Err(format!("ARG {w}: invalid name"));
                }
                decls.push(ArgDecl { name, default });
            }
            Instruction::Arg(decls)
        }
        "WORKDIR" => {
            need("a path")?;
            Instruction::Workdir(rest.to_string())
        }
        "USER" => {
            need("a user[:group]")?;
            Instruction::User(rest.to_string())
        }
        "CMD" => {
            need("a command")?;
            Instruction::Cmd(command(rest))
        }
        "ENTRYPOINT" => {
            need("a command")?;
            Instruction::Entrypoint(command(rest))
        }
        "EXPOSE" => {
            let w = split_words(rest, escape)?;
            if w.is_empty() {
                return Err("EXPOSE needs a port".into());
            }
            Instruction::Expose(w)
        }
        "VOLUME" => {
            let v = if rest.starts_with('[') {
                serde_json::from_str::<Vec<String>>(rest)
                    .map_err(|e| format!("VOLUME: bad JSON array: {e}"))?
                    .into_iter()
                    .map(|w| format!("'{}'", w.replace('\'', "'\"'\"'")))
                    .collect()
            } else {
                split_words(rest, escape)?
            };
            if v.is_empty() {
                return Err("VOLUME needs a path".into());
            }
            Instruction::Volume(v)
        }
        "STOPSIGNAL" => {
            need("a signal")?;
            Instruction::StopSignal(rest.to_string())
        }
        "SHELL" => match command(rest) {
            Command::Exec(v) if !v.is_empty() => Instruction::Shell(v),
            _ => return Err("SHELL takes a JSON array: SHELL [\"/bin/sh\", \"-c\"]".into()),
        },
        "HEALTHCHECK" => Instruction::Healthcheck(parse_healthcheck(rest)?),
        "ONBUILD" => {
            let (trigger, _) = split_keyword(rest);
            match trigger.to_ascii_uppercase().as_str() {
                "" => return Err("ONBUILD needs an instruction".into()),
                "ONBUILD" | "FROM" | "MAINTAINER" => {
                    return Err(format!("ONBUILD {trigger}: not allowed as a trigger"))
                }
                _ => {}
            }
            Instruction::Onbuild(rest.to_string())
        }
        other => {
            return Err(format!(
                "unknown instruction {other} (dermaga reads FROM RUN COPY ADD ENV ARG WORKDIR USER CMD ENTRYPOINT EXPOSE LABEL VOLUME STOPSIGNAL HEALTHCHECK SHELL ONBUILD MAINTAINER)"
            ))
        }
    })
}

fn parse_healthcheck(rest: &str) -> Result<Healthcheck, String> {
    let (flags, rest) = take_flags(rest);
    let (kw, cmd) = split_keyword(rest);
    match kw.to_ascii_uppercase().as_str() {
        "NONE" => {
            if !flags.is_empty() || !cmd.is_empty() {
                return Err("HEALTHCHECK NONE takes no flags or arguments".into());
            }
            Ok(Healthcheck::None)
        }
        "CMD" => {
            check_flags(
                "HEALTHCHECK",
                &flags,
                &[
                    "interval",
                    "timeout",
                    "start-period",
                    "start-interval",
                    "retries",
                ],
            )?;
            if cmd.is_empty() {
                return Err("HEALTHCHECK CMD needs a command".into());
            }
            let dur = |n: &str| -> Result<u64, String> {
                match flag(&flags, n) {
                    None => Ok(0),
                    Some(v) => parse_duration(&v).ok_or_else(|| {
                        format!("HEALTHCHECK --{n}={v}: expected a duration such as 30s or 1m30s")
                    }),
                }
            };
            let retries = match flag(&flags, "retries") {
                None => 0,
                Some(v) => v.parse::<u32>().ok().filter(|&n| n > 0).ok_or_else(|| {
                    format!("HEALTHCHECK --retries={v}: expected a number above 0")
                })?,
            };
            Ok(Healthcheck::Check {
                test: command(cmd),
                interval: dur("interval")?,
                timeout: dur("timeout")?,
                start_period: dur("start-period")?,
                start_interval: dur("start-interval")?,
                retries,
            })
        }
        _ => Err("HEALTHCHECK takes NONE or [OPTIONS] CMD command".into()),
    }
}

/// A Go-style duration (`1h2m3.5s`, `500ms`, `10us`, `0`) in nanoseconds.
pub fn parse_duration(s: &str) -> Option<u64> {
    if s == "0" {
        return Some(0);
    }
    let mut total: f64 = 0.0;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_end == 0 {
            return None;
        }
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += n * mult;
        rest = &rest[unit_end..];
    }
    Some(total as u64)
}
