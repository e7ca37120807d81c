//! `dermaga dns`: the authoritative DNS server's command line.
//!
//! ```text
//! dermaga dns --listen ADDR:PORT ... --zone [ORIGIN=]FILE ... [options]
//! dermaga dns -c nsd.conf
//! dermaga dns check FILE [--origin NAME]
//! dermaga dns reload [--pidfile FILE | -c nsd.conf]
//! ```

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use dermaga_dns::{DnsConfig, NotifyTarget, RateLimit, TransferAcl, TsigKey, ZoneSource};

const USAGE: &str = "\
usage:
  dermaga dns --listen ADDR:PORT [--listen ...] --zone [ORIGIN=]FILE [--zone ...] [options]
  dermaga dns -c nsd.conf
  dermaga dns check FILE [--origin NAME]
  dermaga dns reload [--pidfile FILE | -c nsd.conf]

options:
  -c nsd.conf                 NSD's configuration: server (ip-address, port, pidfile,
                              server-count, ...), zone (name, zonefile, provide-xfr, notify),
                              key, pattern; options dermaga does not use are named in warnings
  --listen ADDR:PORT          serve UDP and TCP here (repeatable; default 127.0.0.1:53)
  --zone [ORIGIN=]FILE        serve a zone file; without ORIGIN= the file's SOA owner decides
  --workers N                 UDP worker threads per address (default: one per core)
  --pidfile FILE              write the process id here (read by `dermaga dns reload`)
  --key NAME:ALGORITHM:SECRET a TSIG key (algorithm hmac-sha256, secret in base64)
  --allow-transfer ZONE=NET[:KEY]   let NET (address or CIDR) transfer ZONE, signed with KEY
  --notify ZONE=ADDR:PORT[:KEY]     NOTIFY this secondary when ZONE's serial changes
  --rrl-ratelimit N           response rate limiting (UDP), as NSD's rrl-ratelimit: N
                              responses per second per client network and answer; over it,
                              drop (default 0: off; with -c, the file's setting, NSD's 200)
  --rrl-slip N                over the limit, every Nth response goes out truncated (TC) so
                              the client can retry over TCP; 0 none, 1 all (default 2)
  --rrl-ipv4-prefix-length N  client networks for RRL: IPv4 /N (default 24)
  --rrl-ipv6-prefix-length N  client networks for RRL: IPv6 /N (default 64)
  --rrl-whitelist ZONE=TYPE   answers of TYPE (nxdomain, error, referral, any, rrsig,
                              wildcard, nodata, dnskey, positive, all) in ZONE get the
                              whitelist limit (repeatable; nsd.conf's zone rrl-whitelist)
  --rrl-whitelist-ratelimit N the limit for whitelisted answers (default 2000; 0: none)
  --rrl-size N                buckets in each UDP worker's RRL table (default 1000000,
                              at most 268435456)

signals: SIGHUP reloads zones whose files changed (a zone that fails keeps its previous
version), SIGTERM and SIGINT stop.
";

/// The pid file used when none is given.
fn default_pidfile() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d).join("dermaga-dns.pid"),
        _ => PathBuf::from("/run/dermaga-dns.pid"),
    }
}

pub fn main(args: Vec<OsString>) -> ExitCode {
    let args: Vec<String> = match args.into_iter().map(|a| a.into_string()).collect() {
        Ok(a) => a,
        Err(a) => {
            eprintln!("dermaga dns: argument {a:?} is not UTF-8");
            return ExitCode::from(2);
        }
    };
    match args.first().map(String::as_str) {
        Some("check") => check(&args[1..]),
        Some("reload") => reload(&args[1..]),
        Some("--help" | "-h" | "help") => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => serve(&args),
    }
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("dermaga dns: {msg}");
    ExitCode::from(2)
}

/// Takes the value of an option at `i`.
fn value<'a>(args: &'a [String], i: &mut usize) -> Result<&'a str, String> {
    let opt = &args[*i];
    *i += 1;
    args.get(*i)
        .map(String::as_str)
        .ok_or_else(|| format!("{opt} needs a value"))
}

fn parse_name(text: &str) -> Result<dermaga_dns::DomainName, String> {
    dermaga_dns::parse_name(text)
}

fn check(args: &[String]) -> ExitCode {
    let mut file = None;
    let mut origin = None;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--origin" | "-o" => match value(args, &mut i).and_then(parse_name) {
                Ok(n) => origin = Some(n),
                Err(e) => return fail(e),
            },
            a if a.starts_with('-') => return fail(format!("check: unknown option {a}\n{USAGE}")),
            a => {
                if file.replace(PathBuf::from(a)).is_some() {
                    return fail("check takes one zone file");
                }
            }
        }
        i += 1;
    }
    let Some(file) = file else {
        return fail(format!("check needs a zone file\n{USAGE}"));
    };
    let loaded = match dermaga_dns::load_zone(&file, origin.as_ref()) {
        Ok(z) => z,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    for w in &loaded.warnings {
        eprintln!("{w}");
    }
    let diags = dermaga_dns::zonefile::check_zone(&loaded);
    let mut errors = 0;
    for d in &diags {
        eprintln!("{d}");
        if d.severity == dermaga_dns::zonefile::Severity::Error {
            errors += 1;
        }
    }
    // The index refuses what cannot be served (no SOA, CNAME beside data, ...); said once.
    if errors > 0 {
        return ExitCode::from(1);
    }
    // Built once, from the records themselves: a million-record zone is not copied.
    let origin = loaded.origin;
    let serial = match dermaga_dns::Zone::build(&origin, loaded.records) {
        Ok(z) => z.serial(),
        Err(e) => {
            eprintln!("{}: error: {e}", file.display());
            return ExitCode::from(1);
        }
    };
    println!("zone {origin}/IN: loaded serial {serial}");
    println!("OK");
    ExitCode::SUCCESS
}

fn reload(args: &[String]) -> ExitCode {
    let mut pidfile = None;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--pidfile" | "-P" => match value(args, &mut i) {
                Ok(p) => pidfile = Some(PathBuf::from(p)),
                Err(e) => return fail(e),
            },
            "-c" | "--config" => match value(args, &mut i) {
                Ok(p) => match nsd_config(std::path::Path::new(p)) {
                    Ok(c) => pidfile = c.pidfile.or(pidfile),
                    Err(code) => return code,
                },
                Err(e) => return fail(e),
            },
            a => return fail(format!("reload: unknown argument {a}\n{USAGE}")),
        }
        i += 1;
    }
    let pidfile = pidfile.unwrap_or_else(default_pidfile);
    match dermaga_dns::signal_reload(&pidfile) {
        Ok(pid) => {
            println!("reload signalled to process {pid}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

/// `--key NAME:ALG:SECRET`
fn parse_key(text: &str) -> Result<(String, Arc<TsigKey>), String> {
    let mut parts = text.splitn(3, ':');
    let (Some(name), Some(alg), Some(secret)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!("--key {text}: expected NAME:ALGORITHM:SECRET"));
    };
    Ok((
        name.trim_end_matches('.').to_ascii_lowercase(),
        Arc::new(TsigKey::new(name, alg, secret)?),
    ))
}

fn key_ref(keys: &[(String, Arc<TsigKey>)], name: &str) -> Result<Arc<TsigKey>, String> {
    let n = name.trim_end_matches('.').to_ascii_lowercase();
    keys.iter()
        .find(|(k, _)| *k == n)
        .map(|(_, k)| k.clone())
        .ok_or_else(|| format!("key {name} is not defined (use --key first)"))
}

fn serve(args: &[String]) -> ExitCode {
    let mut config = DnsConfig::default();
    let mut keys: Vec<(String, Arc<TsigKey>)> = Vec::new();
    let mut acls: Vec<(String, String)> = Vec::new();
    let mut notifies: Vec<(String, String)> = Vec::new();
    let mut pidfile = None;
    let mut conf_file: Option<PathBuf> = None;
    let mut rrl_args: Vec<(&str, &str)> = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let r: Result<(), String> = (|| {
            match args[i].as_str() {
                "--listen" | "-l" => {
                    let v = value(args, &mut i)?;
                    config.server.listen.push(
                        v.parse()
                            .map_err(|_| format!("--listen {v}: expected ADDR:PORT"))?,
                    );
                }
                "--zone" | "-z" => {
                    let v = value(args, &mut i)?;
                    config.zones.push(parse_zone_arg(v)?);
                }
                "--workers" => {
                    let v = value(args, &mut i)?;
                    config.server.udp_workers = v
                        .parse()
                        .map_err(|_| format!("--workers {v}: expected a number"))?;
                }
                "--pidfile" | "-P" => pidfile = Some(PathBuf::from(value(args, &mut i)?)),
                "--key" => keys.push(parse_key(value(args, &mut i)?)?),
                "--allow-transfer" => {
                    let v = value(args, &mut i)?;
                    let (z, rest) = v
                        .split_once('=')
                        .ok_or_else(|| format!("--allow-transfer {v}: expected ZONE=NET[:KEY]"))?;
                    acls.push((z.to_string(), rest.to_string()));
                }
                "--notify" => {
                    let v = value(args, &mut i)?;
                    let (z, rest) = v
                        .split_once('=')
                        .ok_or_else(|| format!("--notify {v}: expected ZONE=ADDR:PORT[:KEY]"))?;
                    notifies.push((z.to_string(), rest.to_string()));
                }
                "-c" | "--config" => conf_file = Some(PathBuf::from(value(args, &mut i)?)),
                a @ ("--rrl-ratelimit"
                | "--rrl-slip"
                | "--rrl-ipv4-prefix-length"
                | "--rrl-ipv6-prefix-length"
                | "--rrl-whitelist"
                | "--rrl-whitelist-ratelimit"
                | "--rrl-size") => rrl_args.push((a, value(args, &mut i)?)),
                a => return Err(format!("unknown argument {a}\n{USAGE}")),
            }
            Ok(())
        })();
        if let Err(e) = r {
            return fail(e);
        }
        i += 1;
    }
    if let Some(path) = &conf_file {
        if !config.zones.is_empty() || !config.server.listen.is_empty() {
            return fail("-c nsd.conf replaces --listen and --zone; give one or the other");
        }
        match nsd_config(path) {
            Ok(c) => {
                let workers = config.server.udp_workers;
                config = c;
                if workers != 0 {
                    config.server.udp_workers = workers;
                }
                if pidfile.is_none() {
                    pidfile = config.pidfile.clone();
                }
            }
            Err(code) => return code,
        }
    }
    if !rrl_args.is_empty() {
        match rate_limit(config.server.rate_limit.take(), &rrl_args) {
            Ok(r) => config.server.rate_limit = Some(r),
            Err(e) => return fail(e),
        }
    }
    if config.zones.is_empty() {
        return fail(format!("no zone to serve (--zone FILE)\n{USAGE}"));
    }
    if config.server.listen.is_empty() {
        config
            .server
            .listen
            .push("127.0.0.1:53".parse().expect("literal address"));
    }
    // Transfer settings go to the zones they name; the zone's origin is known once loaded,
    // so they are matched by name against each --zone's ORIGIN or its file's SOA owner.
    for (zone, spec) in &acls {
        let (net, key) = split_acl(spec);
        let key = match key.map(|k| key_ref(&keys, k)).transpose() {
            Ok(k) => k,
            Err(e) => return fail(e),
        };
        match TransferAcl::parse(net, key) {
            Ok(acl) => match zone_transfer(&mut config, zone) {
                Ok(t) => t.allow.push(acl),
                Err(e) => return fail(e),
            },
            Err(e) => return fail(format!("--allow-transfer: {e}")),
        }
    }
    for (zone, spec) in &notifies {
        let (addr, key) = match spec.parse::<std::net::SocketAddr>() {
            Ok(a) => (a, None),
            Err(_) => {
                let Some((a, k)) = spec.rsplit_once(':') else {
                    return fail(format!("--notify {spec}: expected ADDR:PORT[:KEY]"));
                };
                let Ok(a) = a.parse() else {
                    return fail(format!("--notify {spec}: expected ADDR:PORT[:KEY]"));
                };
                match key_ref(&keys, k) {
                    Ok(k) => (a, Some(k)),
                    Err(e) => return fail(e),
                }
            }
        };
        match zone_transfer(&mut config, zone) {
            Ok(t) => t.notify.push(NotifyTarget { addr, key }),
            Err(e) => return fail(e),
        }
    }
    config.pidfile = Some(pidfile.unwrap_or_else(default_pidfile));
    // Signals are blocked before any server thread exists, so the main thread takes them all.
    dermaga_dns::block_signals();
    let server = match dermaga_dns::start(config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("dermaga dns: {e}");
            return ExitCode::from(1);
        }
    };
    for a in server.local_addrs() {
        eprintln!("dermaga dns: serving on {a} (udp, tcp)");
    }
    server.run_until_signalled();
    ExitCode::SUCCESS
}

/// The `--rrl-*` options applied over `base` (nsd.conf's settings, or NSD's defaults with
/// rate limiting off).
fn rate_limit(base: Option<RateLimit>, args: &[(&str, &str)]) -> Result<RateLimit, String> {
    let mut r = base.unwrap_or(RateLimit {
        ratelimit: 0,
        ..RateLimit::nsd_defaults()
    });
    for (flag, v) in args {
        let number = |max: u32| {
            v.parse::<u32>()
                .ok()
                .filter(|n| *n <= max)
                .ok_or_else(|| format!("{flag} {v}: expected a number from 0 to {max}"))
        };
        match *flag {
            "--rrl-ratelimit" => r.ratelimit = number(u32::MAX)?,
            "--rrl-slip" => r.slip = number(u32::MAX)?,
            "--rrl-ipv4-prefix-length" => r.ipv4_prefix_length = number(32)? as u8,
            "--rrl-ipv6-prefix-length" => r.ipv6_prefix_length = number(128)? as u8,
            "--rrl-whitelist-ratelimit" => r.whitelist_ratelimit = number(u32::MAX)?,
            "--rrl-whitelist" => {
                let (zone, kind) = v
                    .split_once('=')
                    .ok_or_else(|| format!("{flag} {v}: expected ZONE=TYPE"))?;
                let zone = parse_name(zone).map_err(|e| format!("{flag} {v}: {e}"))?;
                r.whitelist
                    .add(&zone, kind)
                    .map_err(|e| format!("{flag} {v}: {e}"))?;
            }
            _ => r.size = number(dermaga_dns::rrl::MAX_SIZE as u32)? as usize,
        }
    }
    Ok(r)
}

/// `NET[:KEY]`, where NET may be an IPv6 address or a CIDR.
fn split_acl(spec: &str) -> (&str, Option<&str>) {
    if spec.parse::<std::net::IpAddr>().is_ok() {
        return (spec, None);
    }
    if let Some(slash) = spec.find('/') {
        return match spec[slash..].find(':') {
            Some(c) => (&spec[..slash + c], Some(&spec[slash + c + 1..])),
            None => (spec, None),
        };
    }
    match spec.rsplit_once(':') {
        Some((n, k)) => (n, Some(k)),
        None => (spec, None),
    }
}

/// Reads an nsd.conf into a server configuration, printing its warnings.
fn nsd_config(path: &std::path::Path) -> Result<DnsConfig, ExitCode> {
    let conf = dermaga_dns::nsdconf::load_nsd_conf(path).map_err(|e| {
        eprintln!("{e}");
        ExitCode::from(1)
    })?;
    for w in &conf.warnings {
        eprintln!("{w}");
    }
    let (config, notes) = DnsConfig::from_nsd_conf(&conf).map_err(|e| {
        eprintln!("dermaga dns: {e}");
        ExitCode::from(1)
    })?;
    for n in notes {
        eprintln!("{}: warning: {n}", path.display());
    }
    Ok(config)
}

fn parse_zone_arg(v: &str) -> Result<ZoneSource, String> {
    if let Some((o, f)) = v.split_once('=') {
        if !o.contains('/') && !o.is_empty() {
            let origin = parse_name(o)?;
            let mut src = ZoneSource::file(f);
            src.origin = Some(origin);
            return Ok(src);
        }
    }
    Ok(ZoneSource::file(v))
}

/// The transfer settings of the `--zone` whose origin (given or read from its file) is `zone`.
fn zone_transfer<'c>(
    config: &'c mut DnsConfig,
    zone: &str,
) -> Result<&'c mut dermaga_dns::ZoneTransfer, String> {
    let want = parse_name(zone)?;
    for src in config.zones.iter_mut() {
        let origin = match &src.origin {
            Some(o) => o.clone(),
            None => {
                let loaded = dermaga_dns::load_zone(&src.file, None).map_err(|e| e.to_string())?;
                src.origin = Some(loaded.origin.clone());
                loaded.origin
            }
        };
        if origin.to_string().eq_ignore_ascii_case(&want.to_string()) {
            return Ok(&mut src.transfer);
        }
    }
    Err(format!("{zone}: no --zone serves this zone"))
}
