//! Reading nsd.conf: words and `option:` keys, `include:` files, then sections into the model.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::model::{
    AclAddress, AclEntry, AclKey, ConfError, ConfErrors, KeyConfig, NsdConf, ZoneConfig,
};
use super::options::{classify, Known, Section};
use crate::zonefile::{parse_name, SourceLocation};

/// NSD's limit on nested includes is its stack of open files; this keeps loops finite.
const MAX_INCLUDE_DEPTH: usize = 16;

/// One `option: value...` statement.
struct Statement {
    key: String,
    values: Vec<(String, SourceLocation)>,
    location: SourceLocation,
}

struct Reader {
    statements: Vec<Statement>,
    errors: Vec<ConfError>,
    stack: Vec<PathBuf>,
}

fn err(location: &SourceLocation, message: impl Into<String>) -> ConfError {
    ConfError {
        location: location.clone(),
        message: message.into(),
    }
}

/// A word that names an option: `name:` with letters, digits and dashes.
fn option_key(word: &str) -> Option<&str> {
    let k = word.strip_suffix(':')?;
    (!k.is_empty()
        && k.as_bytes()[0].is_ascii_alphabetic()
        && k.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-'))
    .then_some(k)
}

impl Reader {
    fn read_file(&mut self, path: &Path, from: Option<&SourceLocation>) {
        let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let at = from.cloned().unwrap_or(SourceLocation {
            file: Arc::from(path),
            line: 1,
            column: 1,
        });
        if self.stack.contains(&canonical) {
            self.errors.push(err(
                &at,
                format!("include loop: {} is already being read", path.display()),
            ));
            return;
        }
        if self.stack.len() >= MAX_INCLUDE_DEPTH {
            self.errors.push(err(&at, "includes nested too deep"));
            return;
        }
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                self.errors
                    .push(err(&at, format!("cannot read {}: {e}", path.display())));
                return;
            }
        };
        self.stack.push(canonical);
        self.read_text(&text, Arc::from(path));
        self.stack.pop();
    }

    fn read_text(&mut self, text: &str, file: Arc<Path>) {
        let mut current: Option<Statement> = None;
        for (lineno, line) in text.lines().enumerate() {
            let bytes = line.as_bytes();
            let mut p = 0;
            while p < bytes.len() {
                let c = bytes[p];
                if c == b' ' || c == b'\t' || c == b'\r' {
                    p += 1;
                    continue;
                }
                if c == b'#' {
                    break;
                }
                let location = SourceLocation {
                    file: file.clone(),
                    line: lineno as u32 + 1,
                    column: p as u32 + 1,
                };
                let (word, quoted) = if c == b'"' || c == b'\'' {
                    let start = p + 1;
                    match bytes[start..].iter().position(|&b| b == c) {
                        Some(len) => {
                            p = start + len + 1;
                            (&line[start..start + len], true)
                        }
                        None => {
                            self.errors
                                .push(err(&location, "quoted string not closed on its line"));
                            p = bytes.len();
                            (&line[start..], true)
                        }
                    }
                } else {
                    let start = p;
                    while p < bytes.len() && !matches!(bytes[p], b' ' | b'\t' | b'\r' | b'#') {
                        p += 1;
                    }
                    (&line[start..p], false)
                };
                match option_key(word).filter(|_| !quoted) {
                    Some(key) => {
                        if let Some(s) = current.take() {
                            self.finish(s);
                        }
                        let statement = Statement {
                            key: key.to_string(),
                            values: Vec::new(),
                            location,
                        };
                        // A section header takes no values: words after it are errors.
                        if Section::from_name(key).is_some() {
                            self.finish(statement);
                        } else {
                            current = Some(statement);
                        }
                    }
                    None => match current.as_mut() {
                        Some(s) => s.values.push((word.to_string(), location)),
                        None => self.errors.push(err(
                            &location,
                            format!("'{word}' is not an option: expected 'name:'"),
                        )),
                    },
                }
            }
        }
        if let Some(s) = current.take() {
            self.finish(s);
        }
    }

    /// Keeps a statement, or runs it if it is an `include:`.
    fn finish(&mut self, s: Statement) {
        if s.key != "include" {
            self.statements.push(s);
            return;
        }
        if s.values.len() != 1 {
            self.errors.push(err(
                &s.location,
                "include: takes one file name or glob pattern",
            ));
            return;
        }
        let (pattern, at) = &s.values[0];
        let base = at.file.parent().map(Path::to_path_buf).unwrap_or_default();
        let full = if Path::new(pattern).is_absolute() {
            PathBuf::from(pattern)
        } else {
            base.join(pattern)
        };
        let full_text = full.to_string_lossy().into_owned();
        if !full_text.contains(['*', '?', '[']) {
            return self.read_file(&full, Some(at));
        }
        match glob::glob(&full_text) {
            // A glob that matches nothing includes nothing, as in NSD.
            Ok(paths) => {
                let mut paths: Vec<PathBuf> = paths.filter_map(Result::ok).collect();
                paths.sort();
                for p in paths {
                    self.read_file(&p, Some(at));
                }
            }
            Err(e) => self
                .errors
                .push(err(at, format!("invalid include pattern: {e}"))),
        }
    }
}

/// A zone option that patterns can also set, in statement order: NSD applies
/// `include-pattern:` where it stands, later single values win and lists append.
#[derive(Clone)]
enum ZoneItem {
    Zonefile(String, SourceLocation),
    Notify(Vec<(String, SourceLocation)>, SourceLocation),
    ProvideXfr(Vec<(String, SourceLocation)>, SourceLocation),
    IncludePattern(String, SourceLocation),
    RrlWhitelist(String),
}

/// A zone or pattern as written, before patterns are merged.
struct RawZone {
    name: Option<(String, SourceLocation)>,
    items: Vec<ZoneItem>,
    location: SourceLocation,
}

impl RawZone {
    fn new(location: &SourceLocation) -> Self {
        RawZone {
            name: None,
            items: Vec::new(),
            location: location.clone(),
        }
    }
}

struct RawKey {
    name: Option<String>,
    algorithm: Option<String>,
    secret: Option<Vec<u8>>,
    location: SourceLocation,
}

pub(crate) fn load(path: &Path) -> Result<NsdConf, ConfErrors> {
    let mut r = Reader {
        statements: Vec::new(),
        errors: Vec::new(),
        stack: Vec::new(),
    };
    r.read_file(path, None);
    interpret(r, path)
}

pub(crate) fn load_str(text: &str, file_name: &Path) -> Result<NsdConf, ConfErrors> {
    let mut r = Reader {
        statements: Vec::new(),
        errors: Vec::new(),
        stack: vec![file_name.to_path_buf()],
    };
    r.read_text(text, Arc::from(file_name));
    interpret(r, file_name)
}

fn one_value<'s>(
    s: &'s Statement,
    errors: &mut Vec<ConfError>,
) -> Option<&'s (String, SourceLocation)> {
    if s.values.len() == 1 {
        Some(&s.values[0])
    } else {
        errors.push(err(
            &s.location,
            format!("{}: takes one value, not {}", s.key, s.values.len()),
        ));
        None
    }
}

fn number<T: std::str::FromStr>(s: &Statement, errors: &mut Vec<ConfError>) -> Option<T> {
    let (v, at) = one_value(s, errors)?;
    match v.parse() {
        Ok(n) => Some(n),
        Err(_) => {
            errors.push(err(
                at,
                format!("{}: '{v}' is not a valid number here", s.key),
            ));
            None
        }
    }
}

fn yes_no(s: &Statement, errors: &mut Vec<ConfError>) -> Option<bool> {
    let (v, at) = one_value(s, errors)?;
    match v.as_str() {
        "yes" => Some(true),
        "no" => Some(false),
        _ => {
            errors.push(err(at, format!("{}: expected yes or no, not '{v}'", s.key)));
            None
        }
    }
}

/// `addr[@port]`.
fn addr_port(text: &str) -> Result<(IpAddr, Option<u16>), String> {
    let (a, port) = match text.rsplit_once('@') {
        Some((a, p)) => (
            a,
            Some(
                p.parse::<u16>()
                    .map_err(|_| format!("invalid port '{p}'"))?,
            ),
        ),
        None => (text, None),
    };
    let ip = a
        .parse::<IpAddr>()
        .map_err(|_| format!("invalid IP address '{a}'"))?;
    Ok((ip, port))
}

/// An nsd.conf ip-spec: `a`, `a/len`, `a&mask` or `a-b`, each with an optional `@port`.
fn acl_address(text: &str) -> Result<(AclAddress, Option<u16>), String> {
    let (spec, port) = match text.rsplit_once('@') {
        Some((s, p)) => (
            s,
            Some(
                p.parse::<u16>()
                    .map_err(|_| format!("invalid port '{p}'"))?,
            ),
        ),
        None => (text, None),
    };
    let ip = |s: &str| {
        s.parse::<IpAddr>()
            .map_err(|_| format!("invalid IP address '{s}'"))
    };
    let addr = if let Some((a, len)) = spec.split_once('/') {
        let a = ip(a)?;
        let max = if a.is_ipv4() { 32 } else { 128 };
        let len = len
            .parse::<u8>()
            .ok()
            .filter(|l| *l <= max)
            .ok_or_else(|| format!("invalid prefix length '{len}'"))?;
        AclAddress::Subnet(a, len)
    } else if let Some((a, m)) = spec.split_once('&') {
        AclAddress::Masked(ip(a)?, ip(m)?)
    } else if let Some((a, b)) = spec.split_once('-') {
        AclAddress::Range(ip(a)?, ip(b)?)
    } else {
        let a = ip(spec)?;
        AclAddress::Subnet(a, if a.is_ipv4() { 32 } else { 128 })
    };
    Ok((addr, port))
}

fn acl(
    values: &[(String, SourceLocation)],
    what: &str,
    at: &SourceLocation,
    keys: &NsdConf,
    allow_blocked: bool,
    errors: &mut Vec<ConfError>,
) -> Option<AclEntry> {
    if values.len() != 2 {
        errors.push(err(
            at,
            format!(
                "{what}: takes an address and a key name (or NOKEY{})",
                if allow_blocked { ", BLOCKED" } else { "" }
            ),
        ));
        return None;
    }
    let (address, port) = match acl_address(&values[0].0) {
        Ok(a) => a,
        Err(e) => {
            errors.push(err(&values[0].1, format!("{what}: {e}")));
            return None;
        }
    };
    let key = match values[1].0.as_str() {
        "NOKEY" => AclKey::NoKey,
        "BLOCKED" if allow_blocked => AclKey::Blocked,
        name => {
            if keys.key(name).is_none() {
                errors.push(err(
                    &values[1].1,
                    format!("{what}: key '{name}' is not defined by any key: section"),
                ));
                return None;
            }
            AclKey::Key(name.to_string())
        }
    };
    Some(AclEntry { address, port, key })
}

/// Expands NSD's zonefile patterns: `%s` zone name, `%1`-`%3` its first characters, `%z`
/// `%y` `%x` its last labels, `%%` a percent sign.
fn expand_zonefile(pattern: &str, zone: &str) -> Result<String, String> {
    let zone = zone.trim_end_matches('.');
    let labels: Vec<&str> = zone.split('.').collect();
    let label_from_end = |n: usize| {
        labels
            .len()
            .checked_sub(n + 1)
            .map(|i| labels[i])
            .unwrap_or("")
    };
    let mut out = String::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('s') => out.push_str(zone),
            Some(d @ '1'..='3') => {
                let i = d as usize - '1' as usize;
                out.push(zone.chars().nth(i).unwrap_or('.'));
            }
            Some('z') => out.push_str(label_from_end(0)),
            Some('y') => out.push_str(label_from_end(1)),
            Some('x') => out.push_str(label_from_end(2)),
            Some('%') => out.push('%'),
            other => {
                return Err(format!(
                    "unknown zonefile substitution %{}",
                    other.map(String::from).unwrap_or_default()
                ))
            }
        }
    }
    Ok(out)
}

fn interpret(r: Reader, top: &Path) -> Result<NsdConf, ConfErrors> {
    let mut errors = r.errors;
    let mut conf = NsdConf::default();
    let mut zones: Vec<RawZone> = Vec::new();
    let mut patterns: Vec<RawZone> = Vec::new();
    let mut keys: Vec<RawKey> = Vec::new();
    let mut section: Option<Section> = None;

    // Keys first, so ACLs anywhere may name keys defined later.
    for s in &r.statements {
        if let Some(sec) = Section::from_name(&s.key) {
            section = Some(sec);
            if sec == Section::Key {
                keys.push(RawKey {
                    name: None,
                    algorithm: None,
                    secret: None,
                    location: s.location.clone(),
                });
            }
            continue;
        }
        if section != Some(Section::Key) {
            continue;
        }
        let Some(k) = keys.last_mut() else { continue };
        match s.key.as_str() {
            "name" => k.name = one_value(s, &mut errors).map(|v| v.0.clone()),
            "algorithm" => {
                if let Some((v, at)) = one_value(s, &mut errors) {
                    let alg = v.to_ascii_lowercase();
                    const ALGS: &[&str] = &[
                        "hmac-md5",
                        "hmac-sha1",
                        "hmac-sha224",
                        "hmac-sha256",
                        "hmac-sha384",
                        "hmac-sha512",
                    ];
                    if ALGS.contains(&alg.as_str()) {
                        k.algorithm = Some(alg);
                    } else {
                        errors.push(err(
                            at,
                            format!(
                                "algorithm: unknown TSIG algorithm '{v}' (expected one of {})",
                                ALGS.join(", ")
                            ),
                        ));
                    }
                }
            }
            "secret" => {
                if let Some((v, at)) = one_value(s, &mut errors) {
                    match domain::utils::base64::decode::<Vec<u8>>(v) {
                        Ok(b) => k.secret = Some(b),
                        Err(_) => errors.push(err(at, "secret: not valid base64")),
                    }
                }
            }
            _ => {}
        }
    }
    for k in keys {
        let at = k.location;
        match (k.name, k.algorithm, k.secret) {
            (Some(name), Some(algorithm), Some(secret)) => {
                if conf.key(&name).is_some() {
                    errors.push(err(&at, format!("key '{name}' is defined twice")));
                }
                conf.keys.push(KeyConfig {
                    name,
                    algorithm,
                    secret,
                    location: at,
                });
            }
            (name, alg, secret) => {
                let mut missing = Vec::new();
                if name.is_none() {
                    missing.push("name");
                }
                if alg.is_none() {
                    missing.push("algorithm");
                }
                if secret.is_none() {
                    missing.push("secret");
                }
                errors.push(err(&at, format!("key: without {}", missing.join(", "))));
            }
        }
    }

    section = None;
    let mut warned_sections: Vec<Section> = Vec::new();
    for s in &r.statements {
        if let Some(sec) = Section::from_name(&s.key) {
            section = Some(sec);
            match sec {
                Section::Zone => zones.push(RawZone::new(&s.location)),
                Section::Pattern => patterns.push(RawZone::new(&s.location)),
                Section::RemoteControl | Section::Verify | Section::Dnstap | Section::TlsAuth
                    if !warned_sections.contains(&sec) =>
                {
                    warned_sections.push(sec);
                    conf.warnings.push(err(
                        &s.location,
                        format!(
                            "section '{}:' is NSD's but dermaga does not use it",
                            sec.name()
                        ),
                    ));
                }
                _ => {}
            }
            continue;
        }
        let Some(sec) = section else {
            errors.push(err(
                &s.location,
                format!(
                    "option '{}:' outside a section (server:, zone:, pattern:, key:, ...)",
                    s.key
                ),
            ));
            continue;
        };
        match classify(sec, &s.key) {
            Known::Unknown => {
                errors.push(err(
                    &s.location,
                    format!("unknown option '{}:' in {}:", s.key, sec.name()),
                ));
                continue;
            }
            Known::Unused => {
                if matches!(sec, Section::Server | Section::Zone | Section::Pattern) {
                    conf.warnings.push(err(
                        &s.location,
                        format!(
                            "option '{}:' in {}: is NSD's but dermaga does not use it; ignored",
                            s.key,
                            sec.name()
                        ),
                    ));
                }
                continue;
            }
            Known::Used => {}
        }
        match sec {
            Section::Server => server_option(&mut conf, s, &mut errors),
            Section::Zone | Section::Pattern => {
                let list = if sec == Section::Zone {
                    &mut zones
                } else {
                    &mut patterns
                };
                let Some(z) = list.last_mut() else { continue };
                match s.key.as_str() {
                    "name" => z.name = one_value(s, &mut errors).cloned(),
                    "zonefile" => {
                        if let Some((v, at)) = one_value(s, &mut errors) {
                            z.items.push(ZoneItem::Zonefile(v.clone(), at.clone()));
                        }
                    }
                    "notify" => z
                        .items
                        .push(ZoneItem::Notify(s.values.clone(), s.location.clone())),
                    "provide-xfr" => z
                        .items
                        .push(ZoneItem::ProvideXfr(s.values.clone(), s.location.clone())),
                    "include-pattern" => {
                        if let Some((v, at)) = one_value(s, &mut errors) {
                            z.items
                                .push(ZoneItem::IncludePattern(v.clone(), at.clone()));
                        }
                    }
                    "rrl-whitelist" => {
                        if let Some((v, at)) = one_value(s, &mut errors) {
                            let kind = v.to_ascii_lowercase();
                            if crate::rrl::KINDS.contains(&kind.as_str()) {
                                z.items.push(ZoneItem::RrlWhitelist(kind));
                            } else {
                                errors.push(err(
                                    at,
                                    format!(
                                        "rrl-whitelist: unknown type '{v}' (one of {})",
                                        crate::rrl::KINDS.join(", ")
                                    ),
                                ));
                            }
                        }
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }

    // Patterns by name.
    let mut pattern_names: Vec<String> = Vec::new();
    for p in &patterns {
        match &p.name {
            Some((n, at)) => {
                if pattern_names.contains(n) {
                    errors.push(err(at, format!("pattern '{n}' is defined twice")));
                }
                pattern_names.push(n.clone());
            }
            None => errors.push(err(&p.location, "pattern: without name")),
        }
    }

    let base = match &conf.server.zonesdir {
        Some(d) => d.clone(),
        None => top.parent().map(Path::to_path_buf).unwrap_or_default(),
    };
    for z in &zones {
        let at = z.location.clone();
        let Some((name_text, name_at)) = &z.name else {
            errors.push(err(&at, "zone: without name"));
            continue;
        };
        let name = match parse_name(name_text) {
            Ok(n) => n,
            Err(e) => {
                errors.push(err(name_at, format!("name: {e}")));
                continue;
            }
        };
        if conf.zones.iter().any(|o| o.name == name) {
            errors.push(err(name_at, format!("zone '{name_text}' is defined twice")));
            continue;
        }
        // Apply the zone's items in order, patterns expanded where they are included.
        let mut zonefile: Option<(String, SourceLocation)> = None;
        let mut notify = Vec::new();
        let mut provide = Vec::new();
        let mut rrl_whitelist = Vec::new();
        let mut todo: Vec<ZoneItem> = z.items.iter().rev().cloned().collect();
        let mut expanded = 0;
        while let Some(item) = todo.pop() {
            match item {
                ZoneItem::Zonefile(f, at) => zonefile = Some((f, at)),
                ZoneItem::Notify(v, at) => notify.push((v, at)),
                ZoneItem::ProvideXfr(v, at) => provide.push((v, at)),
                ZoneItem::RrlWhitelist(kind) => rrl_whitelist.push(kind),
                ZoneItem::IncludePattern(pname, pat_at) => {
                    expanded += 1;
                    if expanded > 64 {
                        errors.push(err(
                            &pat_at,
                            "include-pattern: patterns include each other in a loop",
                        ));
                        break;
                    }
                    match patterns
                        .iter()
                        .find(|p| p.name.as_ref().is_some_and(|n| n.0 == pname))
                    {
                        Some(p) => todo.extend(p.items.iter().rev().cloned()),
                        None => errors.push(err(
                            &pat_at,
                            format!("include-pattern: no pattern named '{pname}'"),
                        )),
                    }
                }
            }
        }
        let Some((file_pattern, file_at)) = zonefile else {
            errors.push(err(
                &at,
                format!(
                    "zone '{name_text}' has no zonefile: (dermaga serves zones as a primary only)"
                ),
            ));
            continue;
        };
        let file = match expand_zonefile(&file_pattern, name_text) {
            Ok(f) => f,
            Err(e) => {
                errors.push(err(&file_at, format!("zonefile: {e}")));
                continue;
            }
        };
        let file = PathBuf::from(file);
        let zonefile = if file.is_absolute() {
            file
        } else {
            base.join(file)
        };
        let notify = notify
            .iter()
            .filter_map(|(v, at)| acl(v, "notify", at, &conf, false, &mut errors))
            .collect();
        let provide_xfr = provide
            .iter()
            .filter_map(|(v, at)| acl(v, "provide-xfr", at, &conf, true, &mut errors))
            .collect();
        conf.zones.push(ZoneConfig {
            name,
            zonefile,
            notify,
            provide_xfr,
            rrl_whitelist,
            location: at,
        });
    }

    if errors.is_empty() {
        Ok(conf)
    } else {
        Err(ConfErrors { errors })
    }
}

fn server_option(conf: &mut NsdConf, s: &Statement, errors: &mut Vec<ConfError>) {
    let server = &mut conf.server;
    match s.key.as_str() {
        "ip-address" | "interface" => {
            // NSD allows socket options after the address (servers=, bindtodevice=, setfib=).
            let Some((v, at)) = s.values.first() else {
                errors.push(err(&s.location, format!("{}: takes an address", s.key)));
                return;
            };
            if s.values.len() > 1 {
                conf.warnings.push(err(
                    &s.values[1].1,
                    format!(
                        "{}: socket options after the address are NSD's; dermaga ignores them",
                        s.key
                    ),
                ));
            }
            match addr_port(v) {
                Ok(a) => server.ip_addresses.push(a),
                Err(e) => errors.push(err(at, format!("{}: {e}", s.key))),
            }
        }
        "port" => {
            if let Some(p) = number(s, errors) {
                server.port = p;
            }
        }
        "zonesdir" => server.zonesdir = one_value(s, errors).map(|v| PathBuf::from(&v.0)),
        "pidfile" => server.pidfile = one_value(s, errors).map(|v| PathBuf::from(&v.0)),
        "server-count" => match number::<u32>(s, errors) {
            Some(0) => errors.push(err(&s.location, "server-count: must be at least 1")),
            Some(n) => server.server_count = n,
            None => {}
        },
        "minimal-responses" => {
            if let Some(b) = yes_no(s, errors) {
                server.minimal_responses = b;
            }
        }
        "rrl-size" => {
            if let Some(n) = number(s, errors) {
                server.rrl.size = n;
            }
        }
        "rrl-ratelimit" => {
            if let Some(n) = number(s, errors) {
                server.rrl.ratelimit = n;
            }
        }
        "rrl-slip" => {
            if let Some(n) = number(s, errors) {
                server.rrl.slip = n;
            }
        }
        "rrl-ipv4-prefix-length" => match number::<u8>(s, errors) {
            Some(n) if n <= 32 => server.rrl.ipv4_prefix_length = n,
            Some(_) => errors.push(err(&s.location, "rrl-ipv4-prefix-length: at most 32")),
            None => {}
        },
        "rrl-ipv6-prefix-length" => match number::<u8>(s, errors) {
            Some(n) if n <= 128 => server.rrl.ipv6_prefix_length = n,
            Some(_) => errors.push(err(&s.location, "rrl-ipv6-prefix-length: at most 128")),
            None => {}
        },
        "rrl-whitelist-ratelimit" => {
            if let Some(n) = number(s, errors) {
                server.rrl.whitelist_ratelimit = n;
            }
        }
        _ => {}
    }
}
