//! The build plan: which stages a build needs (for `--target`), in what order, every word
//! expanded as BuildKit expands it (ARG scoping, build args, ENV, platform args), and the
//! layer-cache key of each step: parent key + instruction as expanded + digest of the files a
//! COPY/ADD takes from the context.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::expand::expand;
use super::ignore::{clean, has_glob, match_elements, IgnoreRules};
use super::parse::{ArgDecl, Command, Containerfile, CopySpec, Healthcheck, Instruction};
use super::{ContainerfileError, Result};

/// ARGs every build has without declaring them (BuildKit's proxy args); never reported unused.
const PREDEFINED: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// Looks up the stored image id of an image name.
pub type ImageIdFn<'a> = dyn Fn(&str) -> Option<String> + 'a;

/// What a plan depends on besides the file.
#[derive(Default)]
pub struct PlanOptions<'a> {
    /// `--build-arg K=V`.
    pub build_args: BTreeMap<String, String>,
    /// `--target STAGE` (a name or index); the last stage otherwise.
    pub target: Option<String>,
    /// The target platform `os/arch[/variant]` (TARGETPLATFORM...); default `linux/<host>`.
    pub platform: Option<String>,
    /// The build context; without it COPY/ADD keys carry no file digest.
    pub context: Option<&'a Path>,
    /// Ignore rules for the context (default: none).
    pub ignore: Option<&'a IgnoreRules>,
    /// The stored image id of a base image name (for cache keys); `None` keys by name.
    pub image_id: Option<&'a ImageIdFn<'a>>,
}

/// A stage's base.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Base {
    Scratch,
    /// An image reference, expanded.
    Image(String),
    /// An earlier stage, by index.
    Stage(usize),
}

/// Where COPY --from takes files from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CopyFrom {
    Context,
    Stage(usize),
    Image(String),
}

/// One step of a planned stage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub line: usize,
    /// The instruction with every expandable word expanded (and CMD/ENTRYPOINT shell forms
    /// turned into exec form with the stage's SHELL).
    pub instruction: Instruction,
    /// For COPY/ADD: the source.
    pub copy_from: Option<CopyFrom>,
    /// For RUN: the ARG values in scope (they are its environment, with the image's ENV).
    pub run_args: Vec<(String, String)>,
    /// For COPY/ADD from the context: sha256 over the copied files' paths, modes and contents.
    pub files_digest: Option<String>,
    /// `sha256:` of parent key + instruction + files digest.
    pub cache_key: String,
}

/// A stage the build needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedStage {
    pub index: usize,
    pub name: Option<String>,
    pub base: Base,
    pub platform: Option<String>,
    pub line: usize,
    pub steps: Vec<Step>,
    /// ENV at the end of the stage (what a `FROM stage` inherits).
    pub env: Vec<(String, String)>,
    /// The key of the stage's last step (its base's key when it has none).
    pub cache_key: String,
}

/// The plan of a build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The needed stages in build order (the target last).
    pub stages: Vec<PlannedStage>,
    /// Index of the target stage.
    pub target: usize,
    /// Build args no needed ARG consumed (podman warns about them).
    pub unused_build_args: Vec<String>,
}

/// Plans a parsed file.
pub fn plan(cf: &Containerfile, opts: &PlanOptions) -> Result<Plan> {
    let err = |line: usize, msg: String| ContainerfileError {
        file: cf.file.clone(),
        line,
        msg,
    };
    let esc = cf.escape;
    let platform = opts
        .platform
        .clone()
        .unwrap_or_else(|| format!("linux/{}", crate::config::host_arch()));
    let host = format!("linux/{}", crate::config::host_arch());
    let mut platform_args = BTreeMap::new();
    for (prefix, p) in [("TARGET", &platform), ("BUILD", &host)] {
        let mut parts = p.split('/');
        platform_args.insert(format!("{prefix}PLATFORM"), p.clone());
        platform_args.insert(
            format!("{prefix}OS"),
            parts.next().unwrap_or("").to_string(),
        );
        platform_args.insert(
            format!("{prefix}ARCH"),
            parts.next().unwrap_or("").to_string(),
        );
        platform_args.insert(
            format!("{prefix}VARIANT"),
            parts.next().unwrap_or("").to_string(),
        );
    }
    let mut consumed: BTreeSet<String> = BTreeSet::new();

    // Global scope: platform args, then global ARGs.
    let mut global: BTreeMap<String, String> = platform_args.clone();
    for a in &cf.global_args {
        for d in &a.value {
            let v =
                arg_value(d, &global, &BTreeMap::new(), opts, esc).map_err(|m| err(a.line, m))?;
            if opts.build_args.contains_key(&d.name) {
                consumed.insert(d.name.clone());
            }
            if let Some(v) = v {
                global.insert(d.name.clone(), v);
            }
        }
    }

    // Every stage is planned (its errors are errors even if unused), then the needed ones kept.
    let mut planned: Vec<PlannedStage> = Vec::new();
    let mut deps: Vec<BTreeSet<usize>> = Vec::new();
    let mut consumed_by: Vec<BTreeSet<String>> = Vec::new();
    for st in &cf.stages {
        let lookup_g = |n: &str| global.get(n).cloned();
        let base_name = expand(&st.base, esc, &lookup_g).map_err(|m| err(st.line, m))?;
        let platform_s = st
            .platform
            .as_ref()
            .map(|p| expand(p, esc, &lookup_g))
            .transpose()
            .map_err(|m| err(st.line, m))?;
        let lower = base_name.to_ascii_lowercase();
        let base = if lower == "scratch" {
            Base::Scratch
        } else if let Some(i) = cf.stages[..st.index]
            .iter()
            .position(|s| s.name.as_deref() == Some(lower.as_str()))
        {
            Base::Stage(i)
        } else {
            if base_name.is_empty() {
                return Err(err(
                    st.line,
                    format!("FROM {}: expands to an empty name", st.base),
                ));
            }
            Base::Image(base_name.clone())
        };
        let mut my_deps = BTreeSet::new();
        let (mut env, base_key) = match &base {
            Base::Scratch => (Vec::new(), key_of(&["scratch"])),
            Base::Image(n) => {
                let id = opts
                    .image_id
                    .and_then(|f| f(n))
                    .unwrap_or_else(|| n.clone());
                (Vec::new(), key_of(&["image", &id]))
            }
            Base::Stage(i) => {
                my_deps.insert(*i);
                (planned[*i].env.clone(), planned[*i].cache_key.clone())
            }
        };
        let mut args: BTreeMap<String, String> = BTreeMap::new();
        let mut my_consumed = BTreeSet::new();
        let mut shell = vec!["/bin/sh".to_string(), "-c".to_string()];
        let mut workdir = "/".to_string();
        let mut key = base_key;
        let mut steps = Vec::new();
        for ins in &st.instructions {
            let e = |m: String| err(ins.line, m);
            let env_map: BTreeMap<String, String> = env.iter().cloned().collect();
            let lookup = |n: &str| env_map.get(n).cloned().or_else(|| args.get(n).cloned());
            let x = |w: &str| expand(w, esc, &lookup).map_err(e);
            let mut copy_from = None;
            let mut files_digest = None;
            let mut run_args = Vec::new();
            let instruction = match &ins.value {
                Instruction::Run { command, heredocs } => {
                    run_args = args.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                    Instruction::Run {
                        command: command.clone(),
                        heredocs: heredocs.clone(),
                    }
                }
                Instruction::Copy(c) | Instruction::Add(c) => {
                    let is_add = matches!(ins.value, Instruction::Add(_));
                    let mut spec = CopySpec {
                        from: c.from.as_deref().map(&x).transpose()?,
                        chown: c.chown.as_deref().map(&x).transpose()?,
                        chmod: c.chmod.clone(),
                        sources: c.sources.iter().map(|s| x(s)).collect::<Result<_>>()?,
                        dest: x(&c.dest)?,
                        heredocs: c.heredocs.clone(),
                    };
                    for h in spec.heredocs.iter_mut().filter(|h| h.expand) {
                        h.body = x(&format!("\"{}\"", h.body.replace('"', "\\\"")))?;
                    }
                    if !spec.dest.starts_with('/') {
                        spec.dest = join(&workdir, &spec.dest);
                    }
                    let from = match &spec.from {
                        None => CopyFrom::Context,
                        Some(f) => {
                            let fl = f.to_ascii_lowercase();
                            let by_name = cf.stages[..st.index]
                                .iter()
                                .position(|s| s.name.as_deref() == Some(fl.as_str()));
                            let by_index = f.parse::<usize>().ok();
                            match (by_name, by_index) {
                                (Some(i), _) => CopyFrom::Stage(i),
                                (None, Some(i)) if i < st.index => CopyFrom::Stage(i),
                                (None, Some(i)) => {
                                    return Err(e(format!(
                                        "COPY --from={i}: stage {i} is not an earlier stage"
                                    )))
                                }
                                (None, None) => CopyFrom::Image(f.clone()),
                            }
                        }
                    };
                    let heredoc_names: Vec<String> = spec
                        .heredocs
                        .iter()
                        .map(|h| format!("<<{}", h.name))
                        .collect();
                    let real_sources: Vec<String> = spec
                        .sources
                        .iter()
                        .filter(|s| !s.starts_with("<<") && !heredoc_names.contains(s))
                        .cloned()
                        .collect();
                    let mut key_parts: Vec<String> = Vec::new();
                    match &from {
                        CopyFrom::Stage(i) => {
                            my_deps.insert(*i);
                            key_parts.push(planned[*i].cache_key.clone());
                        }
                        CopyFrom::Image(n) => {
                            let id = opts
                                .image_id
                                .and_then(|f| f(n))
                                .unwrap_or_else(|| n.clone());
                            key_parts.push(format!("image:{id}"));
                        }
                        CopyFrom::Context => {
                            if let Some(ctx) = opts.context {
                                let d = context_digest(ctx, opts.ignore, &real_sources, is_add)
                                    .map_err(|m| e(format!("{} {m}", ins.value.keyword())))?;
                                files_digest = Some(d);
                            }
                        }
                    }
                    for h in &spec.heredocs {
                        key_parts.push(h.body.clone());
                    }
                    if !key_parts.is_empty() {
                        let joined: Vec<&str> = key_parts.iter().map(String::as_str).collect();
                        let k = key_of(&joined);
                        files_digest = Some(match files_digest {
                            Some(f) => key_of(&[&f, &k]),
                            None => k,
                        });
                    }
                    copy_from = Some(from);
                    if is_add {
                        Instruction::Add(spec)
                    } else {
                        Instruction::Copy(spec)
                    }
                }
                Instruction::Env(pairs) => {
                    let mut out = Vec::new();
                    for (k, v) in pairs {
                        out.push((k.clone(), x(v)?));
                    }
                    for (k, v) in &out {
                        env.retain(|(ek, _)| ek != k);
                        env.push((k.clone(), v.clone()));
                    }
                    Instruction::Env(out)
                }
                Instruction::Label(pairs) => Instruction::Label(
                    pairs
                        .iter()
                        .map(|(k, v)| Ok((x(k)?, x(v)?)))
                        .collect::<Result<_>>()?,
                ),
                Instruction::Arg(decls) => {
                    let mut out = Vec::new();
                    for d in decls {
                        let v = arg_value(d, &global, &env_map_with(&env, &args), opts, esc)
                            .map_err(e)?;
                        // A platform arg declared in a stage gets its value.
                        let v = v.or_else(|| {
                            (d.default.is_none())
                                .then(|| platform_args.get(&d.name).cloned())
                                .flatten()
                        });
                        if opts.build_args.contains_key(&d.name) {
                            my_consumed.insert(d.name.clone());
                        }
                        if let Some(v) = &v {
                            args.insert(d.name.clone(), v.clone());
                        }
                        out.push(ArgDecl {
                            name: d.name.clone(),
                            default: v,
                        });
                    }
                    Instruction::Arg(out)
                }
                Instruction::Workdir(w) => {
                    let w = x(w)?;
                    workdir = if w.starts_with('/') {
                        clean_abs(&w)
                    } else {
                        join(&workdir, &w)
                    };
                    Instruction::Workdir(workdir.clone())
                }
                Instruction::User(u) => Instruction::User(x(u)?),
                Instruction::StopSignal(s) => {
                    let s = x(s)?;
                    check_signal(&s).map_err(e)?;
                    Instruction::StopSignal(s)
                }
                Instruction::Expose(ports) => {
                    let mut out = Vec::new();
                    for p in ports {
                        out.push(normalize_port(&x(p)?).map_err(e)?);
                    }
                    Instruction::Expose(out)
                }
                Instruction::Volume(v) => {
                    Instruction::Volume(v.iter().map(|w| x(w)).collect::<Result<_>>()?)
                }
                Instruction::Cmd(c) => Instruction::Cmd(exec_form(c, &shell)),
                Instruction::Entrypoint(c) => Instruction::Entrypoint(exec_form(c, &shell)),
                Instruction::Healthcheck(h) => Instruction::Healthcheck(h.clone()),
                Instruction::Shell(s) => {
                    shell = s.clone();
                    Instruction::Shell(s.clone())
                }
                Instruction::Onbuild(t) => Instruction::Onbuild(t.clone()),
            };
            let mut text = format!("{instruction:?}");
            if !run_args.is_empty() {
                text.push_str(&format!(" args={run_args:?}"));
            }
            key = key_of(&[&key, &text, files_digest.as_deref().unwrap_or("")]);
            steps.push(Step {
                line: ins.line,
                instruction,
                copy_from,
                run_args,
                files_digest,
                cache_key: key.clone(),
            });
        }
        planned.push(PlannedStage {
            index: st.index,
            name: st.name.clone(),
            base,
            platform: platform_s,
            line: st.line,
            steps,
            env,
            cache_key: key,
        });
        deps.push(my_deps);
        consumed_by.push(my_consumed);
    }

    // The target and the stages it needs.
    let target = match &opts.target {
        None => cf.stages.len() - 1,
        Some(t) => {
            let tl = t.to_ascii_lowercase();
            cf.stages
                .iter()
                .position(|s| s.name.as_deref() == Some(tl.as_str()))
                .or_else(|| t.parse::<usize>().ok().filter(|&i| i < cf.stages.len()))
                .ok_or_else(|| {
                    let names: Vec<String> =
                        cf.stages.iter().filter_map(|s| s.name.clone()).collect();
                    err(
                        cf.stages[0].line,
                        format!(
                            "--target {t}: no such stage (stages: {})",
                            if names.is_empty() {
                                "none named".into()
                            } else {
                                names.join(", ")
                            }
                        ),
                    )
                })?
        }
    };
    let mut needed = BTreeSet::new();
    let mut todo = vec![target];
    while let Some(i) = todo.pop() {
        if needed.insert(i) {
            todo.extend(deps[i].iter().copied());
        }
    }
    for i in &needed {
        consumed.extend(consumed_by[*i].iter().cloned());
    }
    let unused_build_args = opts
        .build_args
        .keys()
        .filter(|k| !consumed.contains(*k) && !PREDEFINED.contains(&k.as_str()))
        .cloned()
        .collect();
    let stages = planned
        .into_iter()
        .filter(|s| needed.contains(&s.index))
        .collect();
    Ok(Plan {
        stages,
        target,
        unused_build_args,
    })
}

fn env_map_with(
    env: &[(String, String)],
    args: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut m = args.clone();
    for (k, v) in env {
        m.insert(k.clone(), v.clone());
    }
    m
}

/// The value of an ARG: the build arg if given, else the default expanded in `scope`, else
/// (in a stage, no default) the global ARG of that name.
fn arg_value(
    d: &ArgDecl,
    global: &BTreeMap<String, String>,
    scope: &BTreeMap<String, String>,
    opts: &PlanOptions,
    esc: char,
) -> std::result::Result<Option<String>, String> {
    if let Some(v) = opts.build_args.get(&d.name) {
        return Ok(Some(v.clone()));
    }
    match &d.default {
        Some(def) => {
            let lookup = |n: &str| scope.get(n).cloned().or_else(|| global.get(n).cloned());
            expand(def, esc, &lookup).map(Some)
        }
        None => Ok(global.get(&d.name).cloned()),
    }
}

fn exec_form(c: &Command, shell: &[String]) -> Command {
    match c {
        Command::Exec(v) => Command::Exec(v.clone()),
        Command::Shell(s) => {
            let mut v = shell.to_vec();
            v.push(s.clone());
            Command::Exec(v)
        }
    }
}

/// `sha256:` over parts separated by NUL.
fn key_of(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    format!("sha256:{}", crate::digest::hex(&h.finalize()))
}

fn clean_abs(p: &str) -> String {
    format!("/{}", clean(p).join("/"))
}

fn join(base: &str, rel: &str) -> String {
    let trailing = rel.ends_with('/');
    let mut s = clean_abs(&format!("{base}/{rel}"));
    if trailing && s != "/" {
        s.push('/');
    }
    s
}

/// `80` → `80/tcp`; `53/udp`; `8000-8010/tcp`.
fn normalize_port(p: &str) -> std::result::Result<String, String> {
    let (ports, proto) = p.split_once('/').unwrap_or((p, "tcp"));
    let proto = proto.to_ascii_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!(
            "EXPOSE {p}: protocol {proto} is not tcp, udp or sctp"
        ));
    }
    let ok = |s: &str| s.parse::<u16>().is_ok_and(|n| n > 0);
    let valid = match ports.split_once('-') {
        Some((a, b)) => ok(a) && ok(b) && a.parse::<u16>().ok() <= b.parse::<u16>().ok(),
        None => ok(ports),
    };
    if !valid {
        return Err(format!("EXPOSE {p}: not a port (1-65535) or port range"));
    }
    Ok(format!("{ports}/{proto}"))
}

fn check_signal(s: &str) -> std::result::Result<(), String> {
    if s.parse::<u32>().is_ok_and(|n| (1..=64).contains(&n)) {
        return Ok(());
    }
    let name = s.strip_prefix("SIG").unwrap_or(s);
    const NAMES: &[&str] = &[
        "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2",
        "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG",
        "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS",
    ];
    if NAMES.contains(&name)
        || name
            .strip_prefix("RTMIN+")
            .or_else(|| name.strip_prefix("RTMAX-"))
            .is_some_and(|n| n.parse::<u32>().is_ok())
        || name == "RTMIN"
        || name == "RTMAX"
    {
        Ok(())
    } else {
        Err(format!("STOPSIGNAL {s}: not a signal name or number"))
    }
}

/// sha256 over the context entries the sources select: path, type, mode and content (or link
/// target), in path order. A source that selects nothing, or leaves the context, is an error.
pub fn context_digest(
    context: &Path,
    ignore: Option<&IgnoreRules>,
    sources: &[String],
    is_add: bool,
) -> std::result::Result<String, String> {
    let default_rules = IgnoreRules::default();
    let rules = ignore.unwrap_or(&default_rules);
    let all = rules
        .walk(context)
        .map_err(|e| format!("reading the build context {}: {e}", context.display()))?;
    let all_elems: Vec<Vec<String>> = all.iter().map(|p| clean(p)).collect();
    let mut selected: BTreeSet<usize> = BTreeSet::new();
    for s in sources {
        if leaves_context(s) {
            return Err(format!("{s}: outside the build context"));
        }
        let pat = clean(s);
        let mut hit = false;
        for (i, e) in all_elems.iter().enumerate() {
            let matches_self = if pat.is_empty() {
                true
            } else if has_glob(s) {
                match_elements(&pat, e)
                    || (e.len() > pat.len() && match_elements(&pat, &e[..pat.len()]))
            } else {
                e.starts_with(&pat)
            };
            if matches_self {
                selected.insert(i);
                hit = true;
            }
        }
        if !hit {
            return Err(format!(
                "{s}: no such file or directory in the build context{}",
                if rules.file.is_some() {
                    " (or excluded by the ignore file)"
                } else {
                    ""
                }
            ));
        }
        if is_add {
            // Local archives are unpacked by ADD; xz and bzip2 are not readable here.
            let p = context.join(pat.join("/"));
            if p.is_file() {
                let mut head = [0u8; 6];
                let n = std::fs::File::open(&p)
                    .and_then(|mut f| f.read(&mut head))
                    .unwrap_or(0);
                let h = &head[..n];
                if h.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) || h.starts_with(b"BZh") {
                    return Err(format!(
                        "{s}: xz and bzip2 archives are not supported by dermaga (gzip, zstd and plain tar are)"
                    ));
                }
            }
        }
    }
    let mut h = Sha256::new();
    for i in selected {
        let rel = &all[i];
        let p = context.join(rel);
        let md = std::fs::symlink_metadata(&p).map_err(|e| format!("{rel}: {e}"))?;
        h.update(rel.as_bytes());
        h.update([0u8]);
        h.update(format!("{:o}", md.permissions().mode()).as_bytes());
        h.update([0u8]);
        if md.file_type().is_symlink() {
            let t = std::fs::read_link(&p).map_err(|e| format!("{rel}: {e}"))?;
            h.update(t.as_os_str().as_encoded_bytes());
        } else if md.is_file() {
            let mut f = std::fs::File::open(&p).map_err(|e| format!("{rel}: {e}"))?;
            std::io::copy(&mut f, &mut h).map_err(|e| format!("{rel}: {e}"))?;
        }
        h.update([0u8]);
    }
    Ok(format!("sha256:{}", crate::digest::hex(&h.finalize())))
}

impl Healthcheck {
    /// The config's `Test` array: `["NONE"]`, `["CMD", ...]` or `["CMD-SHELL", "..."]`.
    pub fn test(&self) -> Vec<String> {
        match self {
            Healthcheck::None => vec!["NONE".into()],
            Healthcheck::Check { test, .. } => match test {
                Command::Exec(v) => std::iter::once("CMD".to_string())
                    .chain(v.iter().cloned())
                    .collect(),
                Command::Shell(s) => vec!["CMD-SHELL".into(), s.clone()],
            },
        }
    }
}

/// Whether a relative path climbs above its start (`../x`, `a/../../x`).
fn leaves_context(p: &str) -> bool {
    let mut depth: i64 = 0;
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                depth -= 1;
                if depth < 0 {
                    return true;
                }
            }
            _ => depth += 1,
        }
    }
    false
}
