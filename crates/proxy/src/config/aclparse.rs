//! Reading ACLs and conditions (configuration.txt §7): `acl NAME FETCH [FLAGS] [PATTERNS]`,
//! anonymous `{ FETCH ... }` ACLs, and `if|unless` conditions.
//!
//! Fetches dermaga knows (and the match method each implies):
//!
//! | fetch | sample | implied match |
//! |---|---|---|
//! | `hdr(name[,occ])`, `req.hdr(name[,occ])` | each header value | `str` |
//! | `hdr_beg/end/sub/reg/dom/dir/len/val/ip(name)` | each header value | as the suffix says |
//! | `hdr_cnt(name)`, `req.hdr_cnt(name)` | number of values | `int` |
//! | `path`, `path_beg/end/sub/reg/dom/dir/len` | the path | |
//! | `url`, `url_beg/end/sub/reg/dom/dir/len` | the request target | |
//! | `url_param(name)`, `urlp(name)`, `urlp_beg/...` | each value of a query parameter | |
//! | `method` | the method | `str` |
//! | `src`, `dst` | addresses | `ip` |
//! | `src_port`, `dst_port` | ports | `int` |
//! | `req.ssl_sni`, `req_ssl_sni` | SNI of a ClientHello | `str` |
//! | `req.ssl_hello_type`, `req_ssl_hello_type` | TLS handshake type | `int` |
//! | `req.ver`, `req_ver` | HTTP version | `str` |
//! | `ssl_fc`, `ssl_c_used` | TLS client connection / client certificate sent | `bool` |
//! | `ssl_fc_sni`, `ssl_fc_protocol`, `ssl_fc_alpn`, `ssl_fc_cipher` | TLS session facts | `str` |
//! | `ssl_c_verify` | client certificate verification result (0: OK) | `int` |
//! | `always_true`, `always_false` | constants | `bool` |
//!
//! Flags: `-i`, `-m METHOD`, `-f FILE` (patterns one per line, `#` comments), `-n`, `--`.
//! Converters (`hdr(host),lower`) are refused: dermaga does not implement them.
//!
//! Predefined ACLs: `TRUE`, `FALSE`, `LOCALHOST`, `METH_CONNECT`, `METH_DELETE`,
//! `METH_GET`, `METH_HEAD`, `METH_OPTIONS`, `METH_POST`, `METH_PUT`, `METH_TRACE`,
//! `HTTP_1.0`, `HTTP_1.1`, `HTTP_URL_ABS`, `HTTP_URL_SLASH`, `HTTP_URL_STAR`.

use std::path::Path;

use super::model::Location;
use std::sync::Arc;

use crate::acl::{
    Acl, Condition, Criterion, Fetch, IntRange, IpNet, IpSet, MatchMethod, Patterns, Polarity, Term,
};

/// A reference from a condition to an ACL, before names are resolved (an `acl` line that
/// comes later can still add criteria to a name a condition already uses, as in haproxy).
#[derive(Debug, Clone)]
pub(crate) enum AclRef {
    Named(String),
    Anonymous(Criterion),
}

/// A condition whose named ACLs are not yet resolved.
#[derive(Debug, Clone)]
pub(crate) struct PendingCond {
    pub polarity: Polarity,
    pub alternatives: Vec<Vec<(bool, AclRef)>>,
}

impl PendingCond {
    /// Resolves names through `lookup` (which knows the section's ACLs and the predefined
    /// ones). Names were checked when the condition was read, so a miss cannot happen; it
    /// would resolve to an ACL that never matches.
    /// `loc` is the rule's line, recorded on its anonymous ACLs.
    pub fn resolve(&self, lookup: &dyn Fn(&str) -> Option<Arc<Acl>>, loc: &Location) -> Condition {
        let alternatives = self
            .alternatives
            .iter()
            .map(|suite| {
                suite
                    .iter()
                    .map(|(negate, r)| Term {
                        negate: *negate,
                        acl: match r {
                            AclRef::Named(n) => lookup(n).unwrap_or_else(|| {
                                Arc::new(Acl {
                                    name: n.clone(),
                                    criteria: Vec::new(),
                                    locs: Vec::new(),
                                })
                            }),
                            AclRef::Anonymous(c) => Arc::new(Acl {
                                name: "anonymous".to_string(),
                                criteria: vec![c.clone()],
                                locs: vec![loc.clone()],
                            }),
                        },
                    })
                    .collect()
            })
            .collect();
        Condition {
            polarity: self.polarity,
            alternatives,
        }
    }

    /// The criteria of its anonymous ACLs and the names it uses.
    pub fn refs(&self) -> impl Iterator<Item = &AclRef> {
        self.alternatives.iter().flatten().map(|(_, r)| r)
    }

    /// The criteria of its anonymous ACLs, to complete them where they are written.
    pub fn anonymous_mut(&mut self) -> impl Iterator<Item = &mut Criterion> {
        self.alternatives
            .iter_mut()
            .flatten()
            .filter_map(|(_, r)| match r {
                AclRef::Anonymous(c) => Some(c),
                AclRef::Named(_) => None,
            })
    }
}

/// A parsed criterion and the warning haproxy gives for it, if any.
pub(crate) struct ParsedCriterion {
    pub criterion: Criterion,
    pub warning: Option<String>,
}

/// Reads `FETCH [FLAGS] [PATTERNS]` (the words after the ACL name, or inside `{ }`).
/// Errors are haproxy's text without location.
pub(crate) fn parse_criterion(words: &[String]) -> Result<ParsedCriterion, String> {
    let Some(expr) = words.first().filter(|w| !w.is_empty()) else {
        return Err("missing fetch method in ACL expression".to_string());
    };
    let (fetch, implied) = parse_fetch(expr)?;
    let mut i = 1;
    let mut ignore_case = false;
    let mut method: Option<MatchMethod> = None;
    let mut files: Vec<String> = Vec::new();
    let mut end_of_flags = false;
    while let Some(w) = words.get(i) {
        if !w.starts_with('-') || w.len() < 2 {
            break;
        }
        match w.as_str() {
            "-i" => ignore_case = true,
            "-n" => {}
            "--" => {
                i += 1;
                end_of_flags = true;
                break;
            }
            "-m" => {
                i += 1;
                let m = words.get(i).map(String::as_str).unwrap_or("");
                if m.is_empty() {
                    return Err("'-m' expects a match method.".to_string());
                }
                match MatchMethod::from_name(m) {
                    Some(mm) => method = Some(mm),
                    None if m == "bin" => {
                        return Err("match method 'bin' is not supported by dermaga".to_string())
                    }
                    None => return Err(format!("unknown matching method '{m}' for ACL")),
                }
            }
            "-f" => {
                i += 1;
                let f = words.get(i).map(String::as_str).unwrap_or("");
                if f.is_empty() {
                    return Err("'-f' expects a file name.".to_string());
                }
                files.push(f.to_string());
            }
            "-M" | "-u" => {
                return Err(format!("ACL flag '{w}' is not supported by dermaga"));
            }
            _ => return Err(format!("'{w}' is not a valid ACL option. Please use '--' before any pattern beginning with a '-'.")),
        }
        i += 1;
    }
    let method = method.unwrap_or(implied);
    let mut pattern_words: Vec<String> = words[i.min(words.len())..]
        .iter()
        .take_while(|w| !w.is_empty())
        .cloned()
        .collect();
    for f in &files {
        let text = std::fs::read(Path::new(f))
            .map_err(|e| format!("failed to open pattern file <{f}> : {}", io_reason(&e)))?;
        for line in String::from_utf8_lossy(&text).lines() {
            let t = line.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            pattern_words.push(t.to_string());
        }
    }
    let patterns = build_patterns(method, ignore_case, &pattern_words)?;
    let warning = if patterns.is_empty()
        && files.is_empty()
        && !end_of_flags
        && !matches!(method, MatchMethod::Found | MatchMethod::Bool)
    {
        Some(format!(
            "parsing acl keyword '{}' :\n  no pattern to match against were provided, so this ACL will never match.\n  If this is what you intended, please add '--' to get rid of this warning.\n  If you intended to match only for existence, please use '-m found'.\n  If you wanted to force an int to match as a bool, please use '-m bool'.\n",
            fetch_keyword(expr)
        ))
    } else {
        None
    };
    Ok(ParsedCriterion {
        criterion: Criterion {
            fetch,
            method,
            ignore_case,
            patterns,
        },
        warning,
    })
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "No such file or directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "Permission denied".to_string(),
        _ => e.to_string(),
    }
}

fn fetch_keyword(expr: &str) -> &str {
    let end = expr.find(['(', ',']).unwrap_or(expr.len());
    &expr[..end]
}

/// Splits `name(arg1,arg2)` into the name and its arguments; refuses converters.
fn split_fetch(expr: &str) -> Result<(&str, Vec<&str>), String> {
    let open = expr.find('(');
    let comma = expr.find(',');
    let Some(open) = open.filter(|o| comma.is_none_or(|c| *o < c)) else {
        if let Some(comma) = comma {
            return Err(converter_error(&expr[comma + 1..]));
        }
        return Ok((expr, Vec::new()));
    };
    let name = &expr[..open];
    let Some(close_rel) = expr[open..].find(')') else {
        return Err(format!("missing closing ')' after arguments to fetch keyword '{name}' in ACL expression '{expr}'"));
    };
    let close = open + close_rel;
    let inner = &expr[open + 1..close];
    let rest = &expr[close + 1..];
    if let Some(conv) = rest.strip_prefix(',') {
        return Err(converter_error(conv));
    }
    if !rest.is_empty() {
        return Err(format!("unexpected characters '{rest}' after fetch keyword '{name}' in ACL expression '{expr}'"));
    }
    let args = if inner.is_empty() {
        Vec::new()
    } else {
        inner.split(',').collect()
    };
    Ok((name, args))
}

fn converter_error(conv: &str) -> String {
    let name = conv.split(['(', ',']).next().unwrap_or(conv);
    format!("converter '{name}' is not supported by dermaga")
}

/// Fetch names haproxy has that dermaga does not implement (so the error says so, rather
/// than calling them unknown).
const KNOWN_UNSUPPORTED_FETCH_PREFIXES: &[&str] = &[
    "ssl_",
    "base",
    "cook",
    "req.cook",
    "res.",
    "status",
    "sc_",
    "sc0_",
    "sc1_",
    "sc2_",
    "src_",
    "req.len",
    "req_len",
    "query",
    "var",
    "fc_",
    "bc_",
    "be_",
    "fe_",
    "so_",
    "env",
    "str",
    "int",
    "bool",
    "capture.",
    "req.body",
    "req.payload",
    "payload",
    "req.rdp",
    "rdp_",
    "req.proto_http",
    "req_proto_http",
    "req.fhdr",
    "hdr_names",
    "req.hdrs",
    "http_first_req",
    "stopping",
    "uuid",
    "rand",
    "date",
    "srv_",
    "connslots",
    "avg_queue",
    "queue",
    "table_",
    "lat_",
    "wait_end",
    "req.ssl_",
    "req_ssl_",
    "ipv4",
    "ipv6",
    "url32",
    "url_ip",
    "url_port",
    "path,",
    "pathq",
    "req.hdr_",
    "quic_",
];

/// The fetch and the match method its name implies.
pub(crate) fn parse_fetch(expr: &str) -> Result<(Fetch, MatchMethod), String> {
    let (name, args) = split_fetch(expr)?;
    let header_arg = |kw: &str| -> Result<(Box<[u8]>, Option<i32>), String> {
        let Some(h) = args.first().filter(|a| !a.is_empty()) else {
            return Err(format!(
                "fetch method '{kw}' without a header name is not supported by dermaga"
            ));
        };
        let occ = match args.get(1) {
            None => None,
            Some(o) => Some(o.trim().parse::<i32>().map_err(|_| {
                format!("invalid occurrence '{o}' in argument 2 to fetch keyword '{kw}'")
            })?),
        };
        if args.len() > 2 {
            return Err(format!("too many arguments to fetch keyword '{kw}'"));
        }
        Ok((h.to_ascii_lowercase().into_bytes().into_boxed_slice(), occ))
    };
    let no_args = |f: Fetch, m: MatchMethod| -> Result<(Fetch, MatchMethod), String> {
        if !args.is_empty() {
            return Err(format!(
                "fetch method '{name}' : no argument supported, but got '{}'",
                args.join(",")
            ));
        }
        Ok((f, m))
    };
    let suffix_method = |s: &str| -> Option<MatchMethod> {
        Some(match s {
            "" => MatchMethod::Str,
            "_beg" => MatchMethod::Beg,
            "_end" => MatchMethod::End,
            "_sub" => MatchMethod::Sub,
            "_reg" => MatchMethod::Reg,
            "_dom" => MatchMethod::Dom,
            "_dir" => MatchMethod::Dir,
            "_len" => MatchMethod::Len,
            _ => return None,
        })
    };
    if let Some(sfx) = name.strip_prefix("hdr") {
        match sfx {
            "_cnt" => {
                let (h, _) = header_arg(name)?;
                return Ok((Fetch::HdrCnt { name: h }, MatchMethod::Int));
            }
            "_val" => {
                let (h, occ) = header_arg(name)?;
                return Ok((Fetch::Hdr { name: h, occ }, MatchMethod::Int));
            }
            "_ip" => {
                let (h, occ) = header_arg(name)?;
                return Ok((Fetch::Hdr { name: h, occ }, MatchMethod::Ip));
            }
            _ => {
                if let Some(m) = suffix_method(sfx) {
                    let (h, occ) = header_arg(name)?;
                    return Ok((Fetch::Hdr { name: h, occ }, m));
                }
            }
        }
    }
    match name {
        "req.hdr" => {
            let (h, occ) = header_arg(name)?;
            return Ok((Fetch::Hdr { name: h, occ }, MatchMethod::Str));
        }
        "req.hdr_cnt" => {
            let (h, _) = header_arg(name)?;
            return Ok((Fetch::HdrCnt { name: h }, MatchMethod::Int));
        }
        "url_param" | "urlp" => {
            let Some(p) = args.first().filter(|a| !a.is_empty()) else {
                return Err(format!("fetch method '{name}' : missing parameter name"));
            };
            if args.len() > 1 {
                return Err(format!(
                    "a delimiter argument to fetch keyword '{name}' is not supported by dermaga"
                ));
            }
            return Ok((
                Fetch::UrlParam {
                    name: p.as_bytes().to_vec().into_boxed_slice(),
                },
                MatchMethod::Str,
            ));
        }
        "method" => return no_args(Fetch::Method, MatchMethod::Str),
        "src" => return no_args(Fetch::Src, MatchMethod::Ip),
        "dst" => return no_args(Fetch::Dst, MatchMethod::Ip),
        "src_port" => return no_args(Fetch::SrcPort, MatchMethod::Int),
        "dst_port" => return no_args(Fetch::DstPort, MatchMethod::Int),
        "req.ssl_sni" | "req_ssl_sni" => return no_args(Fetch::ReqSslSni, MatchMethod::Str),
        "req.ssl_hello_type" | "req_ssl_hello_type" => {
            return no_args(Fetch::ReqSslHelloType, MatchMethod::Int)
        }
        "req.ver" | "req_ver" => return no_args(Fetch::ReqVer, MatchMethod::Str),
        "ssl_fc" | "ssl_c_used" => {
            let t = crate::acl::TlsFetch::ALL
                .into_iter()
                .find(|t| t.name() == name)
                .unwrap_or(crate::acl::TlsFetch::Fc);
            return no_args(Fetch::Tls(t), MatchMethod::Bool);
        }
        "ssl_c_verify" => {
            return no_args(Fetch::Tls(crate::acl::TlsFetch::CVerify), MatchMethod::Int)
        }
        "ssl_fc_sni" | "ssl_fc_protocol" | "ssl_fc_alpn" | "ssl_fc_cipher" => {
            let t = crate::acl::TlsFetch::ALL
                .into_iter()
                .find(|t| t.name() == name)
                .unwrap_or(crate::acl::TlsFetch::FcSni);
            return no_args(Fetch::Tls(t), MatchMethod::Str);
        }
        "http_auth" | "http_auth_group" => {
            let Some(list) = args.first().filter(|a| !a.is_empty()) else {
                return Err(format!("fetch method '{name}' : missing userlist name"));
            };
            if args.len() > 1 {
                return Err(format!("too many arguments to fetch keyword '{name}'"));
            }
            let userlist: Box<str> = (*list).into();
            return Ok(if name == "http_auth" {
                (Fetch::HttpAuth { userlist }, MatchMethod::Bool)
            } else {
                (Fetch::HttpAuthGroup { userlist }, MatchMethod::Str)
            });
        }
        "nbsrv" => {
            let backend = match args.as_slice() {
                [] => None,
                [b] if !b.is_empty() => Some((*b).into()),
                _ => {
                    return Err(format!(
                        "fetch method '{name}' expects at most one backend name"
                    ))
                }
            };
            return Ok((Fetch::NbSrv { backend }, MatchMethod::Int));
        }
        "always_true" => return no_args(Fetch::Const(true), MatchMethod::Bool),
        "always_false" => return no_args(Fetch::Const(false), MatchMethod::Bool),
        _ => {}
    }
    for (base, fetch) in [("path", Fetch::Path), ("url", Fetch::Url)] {
        if let Some(sfx) = name.strip_prefix(base) {
            if let Some(m) = suffix_method(sfx) {
                return no_args(fetch, m);
            }
        }
    }
    if let Some(sfx) = name.strip_prefix("urlp") {
        if let Some(m) = suffix_method(sfx) {
            let Some(p) = args.first().filter(|a| !a.is_empty()) else {
                return Err(format!("fetch method '{name}' : missing parameter name"));
            };
            return Ok((
                Fetch::UrlParam {
                    name: p.as_bytes().to_vec().into_boxed_slice(),
                },
                m,
            ));
        }
    }
    if KNOWN_UNSUPPORTED_FETCH_PREFIXES
        .iter()
        .any(|p| name.starts_with(p))
    {
        return Err(format!("fetch method '{name}' is not supported by dermaga"));
    }
    Err(format!(
        "unknown fetch method '{name}' in ACL expression '{name}'"
    ))
}

/// Converts pattern words for `method`.
pub(crate) fn build_patterns(
    method: MatchMethod,
    ignore_case: bool,
    words: &[String],
) -> Result<Patterns, String> {
    Ok(match method {
        MatchMethod::Found | MatchMethod::Bool => {
            if let Some(w) = words.first() {
                return Err(format!(
                    "'{w}' : match method '{}' takes no pattern",
                    method.name()
                ));
            }
            Patterns::None
        }
        MatchMethod::Int | MatchMethod::Len => Patterns::Int(parse_int_patterns(words)?),
        MatchMethod::Ip => {
            let mut nets = Vec::new();
            for w in words {
                nets.push(
                    w.parse::<IpNet>()
                        .map_err(|_| format!("'{w}' is not a valid IPv4 or IPv6 address"))?,
                );
            }
            Patterns::Ip(IpSet::new(nets))
        }
        MatchMethod::Reg => {
            let mut res = Vec::new();
            for w in words {
                res.push(compile_regex(w, ignore_case)?);
            }
            Patterns::Regex(res)
        }
        MatchMethod::Str
        | MatchMethod::Beg
        | MatchMethod::End
        | MatchMethod::Sub
        | MatchMethod::Dom
        | MatchMethod::Dir => {
            let mut pats: Vec<Box<[u8]>> = words
                .iter()
                .map(|w| w.as_bytes().to_vec().into_boxed_slice())
                .collect();
            if method == MatchMethod::Str {
                // Sorted (lower-cased with -i) for the binary search of large lists.
                if ignore_case {
                    pats.iter_mut().for_each(|p| p.make_ascii_lowercase());
                }
                pats.sort_unstable();
                pats.dedup();
            }
            Patterns::Bytes(pats)
        }
    })
}

/// Compiles a haproxy (PCRE-style) regular expression on bytes.
pub(crate) fn compile_regex(src: &str, ignore_case: bool) -> Result<regex::bytes::Regex, String> {
    regex::bytes::RegexBuilder::new(src)
        .case_insensitive(ignore_case)
        .unicode(false)
        .build()
        .or_else(|_| {
            // Patterns with non-ASCII literals need Unicode mode.
            regex::bytes::RegexBuilder::new(src)
                .case_insensitive(ignore_case)
                .build()
        })
        .map_err(|e| {
            let first = e.to_string();
            let reason = first.lines().last().unwrap_or("invalid").trim().to_string();
            format!("regex '{src}' is invalid: {reason}")
        })
}

fn parse_int_patterns(words: &[String]) -> Result<Vec<IntRange>, String> {
    let mut out = Vec::new();
    let mut op: Option<&str> = None;
    for w in words {
        match w.as_str() {
            "eq" | "ge" | "gt" | "le" | "lt" => {
                op = Some(w.as_str());
                continue;
            }
            _ => {}
        }
        let bad = || format!("'{w}' is not a number");
        let num = |s: &str| -> Result<i64, String> { s.parse::<i64>().map_err(|_| bad()) };
        let range = if let Some((a, b)) = w.split_once(':') {
            let min = if a.is_empty() { i64::MIN } else { num(a)? };
            let max = if b.is_empty() { i64::MAX } else { num(b)? };
            IntRange { min, max }
        } else {
            let v = num(w)?;
            match op.unwrap_or("eq") {
                "ge" => IntRange {
                    min: v,
                    max: i64::MAX,
                },
                "gt" => IntRange {
                    min: v.saturating_add(1),
                    max: i64::MAX,
                },
                "le" => IntRange {
                    min: i64::MIN,
                    max: v,
                },
                "lt" => IntRange {
                    min: i64::MIN,
                    max: v.saturating_sub(1),
                },
                _ => IntRange { min: v, max: v },
            }
        };
        out.push(range);
    }
    Ok(out)
}

/// A predefined ACL (configuration.txt §7.4), or `None`.
pub(crate) fn predefined(name: &str) -> Option<Arc<Acl>> {
    let crit = |fetch: Fetch, method: MatchMethod, words: &[&str]| -> Criterion {
        let words: Vec<String> = words.iter().map(|s| s.to_string()).collect();
        let patterns = match build_patterns(method, false, &words) {
            Ok(p) => p,
            Err(_) => Patterns::None,
        };
        Criterion {
            fetch,
            method,
            ignore_case: false,
            patterns,
        }
    };
    let c = match name {
        "TRUE" => crit(Fetch::Const(true), MatchMethod::Bool, &[]),
        "FALSE" => crit(Fetch::Const(false), MatchMethod::Bool, &[]),
        "LOCALHOST" => crit(Fetch::Src, MatchMethod::Ip, &["127.0.0.1/8", "::1"]),
        "METH_CONNECT" => crit(Fetch::Method, MatchMethod::Str, &["CONNECT"]),
        "METH_DELETE" => crit(Fetch::Method, MatchMethod::Str, &["DELETE"]),
        "METH_GET" => crit(Fetch::Method, MatchMethod::Str, &["GET", "HEAD"]),
        "METH_HEAD" => crit(Fetch::Method, MatchMethod::Str, &["HEAD"]),
        "METH_OPTIONS" => crit(Fetch::Method, MatchMethod::Str, &["OPTIONS"]),
        "METH_POST" => crit(Fetch::Method, MatchMethod::Str, &["POST"]),
        "METH_PUT" => crit(Fetch::Method, MatchMethod::Str, &["PUT"]),
        "METH_TRACE" => crit(Fetch::Method, MatchMethod::Str, &["TRACE"]),
        "HTTP_1.0" => crit(Fetch::ReqVer, MatchMethod::Str, &["1.0"]),
        "HTTP_1.1" => crit(Fetch::ReqVer, MatchMethod::Str, &["1.1"]),
        "HTTP_URL_ABS" => crit(Fetch::Url, MatchMethod::Reg, &["^[^/:]*://"]),
        "HTTP_URL_SLASH" => crit(Fetch::Url, MatchMethod::Beg, &["/"]),
        "HTTP_URL_STAR" => crit(Fetch::Url, MatchMethod::Str, &["*"]),
        _ => return None,
    };
    Some(Arc::new(Acl {
        name: name.to_string(),
        criteria: vec![c],
        locs: Vec::new(),
    }))
}

/// Predefined ACL names haproxy has and dermaga does not.
pub(crate) fn predefined_unsupported(name: &str) -> bool {
    matches!(
        name,
        "HTTP" | "HTTP_CONTENT" | "REQ_CONTENT" | "RDP_COOKIE" | "WAIT_END" | "HTTP_2.0"
    )
}

/// What a condition reader needs to know about the section's ACLs.
pub(crate) trait AclNames {
    /// Whether `name` is declared in the section (before this line) or predefined.
    fn known(&self, name: &str) -> bool;
}

/// A condition read from words, with the warnings its anonymous ACLs produced.
pub(crate) struct ParsedCond {
    pub cond: PendingCond,
    pub warnings: Vec<String>,
}

/// Reads a condition: `words[0]` is `if` or `unless`.
pub(crate) fn parse_condition(
    words: &[String],
    names: &dyn AclNames,
) -> Result<ParsedCond, String> {
    let polarity = match words.first().map(String::as_str) {
        Some("if") => Polarity::If,
        Some("unless") => Polarity::Unless,
        _ => return Err("expects 'if' or 'unless' followed by a condition".to_string()),
    };
    let words: Vec<&String> = words[1..].iter().take_while(|w| !w.is_empty()).collect();
    let mut alternatives: Vec<Vec<(bool, AclRef)>> = vec![Vec::new()];
    let mut warnings = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let mut w = words[i].as_str();
        if w == "||" || w == "or" {
            if alternatives.last().is_some_and(|s| s.is_empty()) {
                return Err(format!("missing ACL before '{w}'"));
            }
            alternatives.push(Vec::new());
            i += 1;
            continue;
        }
        let mut negate = false;
        while let Some(rest) = w.strip_prefix('!') {
            negate = !negate;
            w = rest;
        }
        if w.is_empty() {
            // A lone `!` applies to the next word.
            i += 1;
            let Some(next) = words.get(i) else {
                return Err("missing ACL after '!'".to_string());
            };
            w = next.as_str();
            while let Some(rest) = w.strip_prefix('!') {
                negate = !negate;
                w = rest;
            }
        }
        if w == "{" {
            let start = i + 1;
            let Some(len) = words[start..].iter().position(|x| x.as_str() == "}") else {
                return Err("missing closing '}' in condition".to_string());
            };
            let inner: Vec<String> = words[start..start + len]
                .iter()
                .map(|s| s.to_string())
                .collect();
            if inner.is_empty() {
                return Err("missing fetch method in ACL expression".to_string());
            }
            let parsed = parse_criterion(&inner)?;
            if let Some(wn) = parsed.warning {
                warnings.push(wn);
            }
            push(
                &mut alternatives,
                (negate, AclRef::Anonymous(parsed.criterion)),
            );
            i = start + len + 1;
            continue;
        }
        if w == "}" {
            return Err("unexpected '}' in condition".to_string());
        }
        if !names.known(w) {
            if predefined_unsupported(w) {
                return Err(format!("predefined ACL '{w}' is not supported by dermaga"));
            }
            return Err(format!("no such ACL : '{w}'"));
        }
        push(&mut alternatives, (negate, AclRef::Named(w.to_string())));
        i += 1;
    }
    if alternatives.iter().any(|s| s.is_empty()) {
        if alternatives.len() == 1 {
            return Err("no condition found after 'if'/'unless'".to_string());
        }
        return Err("missing ACL after '||'".to_string());
    }
    Ok(ParsedCond {
        cond: PendingCond {
            polarity,
            alternatives,
        },
        warnings,
    })
}

fn push(alts: &mut [Vec<(bool, AclRef)>], t: (bool, AclRef)) {
    if let Some(last) = alts.last_mut() {
        last.push(t);
    }
}

/// Whether a name is acceptable for an ACL (letters, digits, `-`, `_`, `.`, `:`).
pub(crate) fn invalid_acl_name_char(name: &str) -> Option<char> {
    name.chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_string).collect()
    }

    #[test]
    fn fetch_names_and_implied_methods() {
        let c = parse_criterion(&w("hdr_beg(host) -i api."))
            .unwrap()
            .criterion;
        assert_eq!(
            c.fetch,
            Fetch::Hdr {
                name: b"host".to_vec().into(),
                occ: None
            }
        );
        assert_eq!(c.method, MatchMethod::Beg);
        assert!(c.ignore_case);
        let c = parse_criterion(&w("hdr(Host,-1) -m dom example.com"))
            .unwrap()
            .criterion;
        assert_eq!(
            c.fetch,
            Fetch::Hdr {
                name: b"host".to_vec().into(),
                occ: Some(-1)
            }
        );
        assert_eq!(c.method, MatchMethod::Dom);
        let c = parse_criterion(&w("path_dir api")).unwrap().criterion;
        assert_eq!((c.fetch, c.method), (Fetch::Path, MatchMethod::Dir));
        let c = parse_criterion(&w("src 10.0.0.0/8 192.168.1.1"))
            .unwrap()
            .criterion;
        assert_eq!(c.method, MatchMethod::Ip);
        assert_eq!(c.patterns.len(), 2);
        let c = parse_criterion(&w("dst_port 80 8000:8080"))
            .unwrap()
            .criterion;
        assert_eq!(c.method, MatchMethod::Int);
        let c = parse_criterion(&w("hdr_cnt(x-forwarded-for) gt 1"))
            .unwrap()
            .criterion;
        assert!(
            matches!(&c.patterns, Patterns::Int(r) if r[0] == IntRange { min: 2, max: i64::MAX })
        );
        let c = parse_criterion(&w("url_param(user) -m found"))
            .unwrap()
            .criterion;
        assert_eq!(c.method, MatchMethod::Found);
        let c = parse_criterion(&w("req.ssl_sni -i a.example"))
            .unwrap()
            .criterion;
        assert_eq!(c.fetch, Fetch::ReqSslSni);
        let c = parse_criterion(&w("method GET HEAD")).unwrap().criterion;
        assert_eq!(c.fetch, Fetch::Method);
    }

    #[test]
    fn criterion_errors() {
        let e = |s: &str| parse_criterion(&w(s)).err().unwrap();
        assert_eq!(
            e("nosuchfetch foo"),
            "unknown fetch method 'nosuchfetch' in ACL expression 'nosuchfetch'"
        );
        assert_eq!(
            e("ssl_c_s_dn"),
            "fetch method 'ssl_c_s_dn' is not supported by dermaga"
        );
        assert_eq!(
            e("hdr(host),lower foo"),
            "converter 'lower' is not supported by dermaga"
        );
        assert_eq!(
            e("src not-an-ip"),
            "'not-an-ip' is not a valid IPv4 or IPv6 address"
        );
        assert_eq!(
            e("path -m nope x"),
            "unknown matching method 'nope' for ACL"
        );
        assert!(e("path_reg (unclosed").starts_with("regex '(unclosed' is invalid"));
        assert!(e("path -f /nonexistent/file").contains("failed to open pattern file"));
    }

    #[test]
    fn empty_patterns_warn_unless_found_or_dashes() {
        assert!(parse_criterion(&w("path_beg")).unwrap().warning.is_some());
        assert!(parse_criterion(&w("path_beg --"))
            .unwrap()
            .warning
            .is_none());
        assert!(parse_criterion(&w("hdr(x) -m found"))
            .unwrap()
            .warning
            .is_none());
        assert!(parse_criterion(&w("always_true"))
            .unwrap()
            .warning
            .is_none());
    }

    #[test]
    fn flags_stop_at_first_pattern() {
        let c = parse_criterion(&w("path /a -i")).unwrap().criterion;
        assert!(!c.ignore_case);
        assert_eq!(c.patterns.len(), 2);
        let c = parse_criterion(&w("path -- -i")).unwrap().criterion;
        assert_eq!(c.patterns.len(), 1);
    }

    struct Names(Vec<&'static str>);
    impl AclNames for Names {
        fn known(&self, n: &str) -> bool {
            self.0.contains(&n) || predefined(n).is_some()
        }
    }

    #[test]
    fn conditions() {
        let names = Names(vec!["a", "b", "c"]);
        let p = parse_condition(&w("if a !b || c or { path / } TRUE"), &names).unwrap();
        assert_eq!(p.cond.polarity, Polarity::If);
        assert_eq!(p.cond.alternatives.len(), 3);
        assert_eq!(p.cond.alternatives[0].len(), 2);
        assert!(p.cond.alternatives[0][1].0);
        assert_eq!(p.cond.alternatives[2].len(), 2);
        let p = parse_condition(&w("unless ! a"), &names).unwrap();
        assert_eq!(p.cond.polarity, Polarity::Unless);
        assert!(p.cond.alternatives[0][0].0);
        let e = |s: &str| parse_condition(&w(s), &names).err().unwrap();
        assert_eq!(e("if nosuch"), "no such ACL : 'nosuch'");
        assert_eq!(e("if { path /"), "missing closing '}' in condition");
        assert_eq!(e("if a ||"), "missing ACL after '||'");
        assert_eq!(
            e("if HTTP"),
            "predefined ACL 'HTTP' is not supported by dermaga"
        );
    }
}
