//! Registry commands with podman's command lines: `pull`, `push`, `login`, `logout`.
//!
//! Wiring only: the work is in `dermaga_image::registry`. Progress goes to standard error as
//! podman's plain lines (`Copying blob 0123456789ab done`); `pull` prints the image id on
//! standard output. Exit statuses are podman's: 0, or 125 for an error.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use dermaga_image::registry::{self, Credentials, Platform, RegistryError, RegistryOptions};
use dermaga_image::ImageStore;

/// Flags every registry command shares: `(name, takes a value)`.
const COMMON: &[(&str, bool)] = &[
    ("--tls-verify", false),
    ("--authfile", true),
    ("--creds", true),
    ("--quiet", false),
    ("-q", false),
    ("--retry", true),
];

/// Flags podman has that dermaga does not implement: refused by name, never ignored.
const UNSUPPORTED: &[&str] = &[
    "--cert-dir",
    "--all-tags",
    "-a",
    "--sign-by",
    "--sign-by-sigstore",
    "--sign-by-sigstore-private-key",
    "--sign-passphrase-file",
    "--signature-policy",
    "--remove-signatures",
    "--decryption-key",
    "--encryption-key",
    "--encrypt-layer",
    "--compression-format",
    "--compression-level",
    "--force-compression",
    "--format",
    "--disable-content-trust",
    "--retry-delay",
];

/// Parsed flags and positional arguments.
struct Parsed {
    flags: Vec<(String, Option<String>)>,
    positional: Vec<String>,
}

impl Parsed {
    fn value(&self, name: &str) -> Option<&str> {
        self.flags
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.as_deref())
    }

    fn has(&self, name: &str) -> bool {
        self.flags.iter().any(|(n, _)| n == name)
    }
}

/// Parses `--flag VALUE`, `--flag=VALUE`, boolean `--flag[=true|false]`; `extra` adds the
/// command's own flags to [`COMMON`]; `unsupported` are refused by name.
fn parse(
    cmd: &str,
    args: &[String],
    extra: &[(&str, bool)],
    unsupported: &[&str],
) -> Result<Parsed, String> {
    let mut flags = Vec::new();
    let mut positional = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--" {
            positional.extend(it.by_ref().cloned());
            break;
        }
        if !a.starts_with('-') || a == "-" {
            positional.push(a.clone());
            continue;
        }
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (a.as_str(), None),
        };
        if unsupported.contains(&name) {
            return Err(format!("{cmd}: {name} is not supported by dermaga"));
        }
        let Some(&(_, takes)) = COMMON.iter().chain(extra.iter()).find(|(n, _)| *n == name) else {
            return Err(format!("{cmd}: unknown flag {name}"));
        };
        let value = if takes {
            match inline {
                Some(v) => Some(v),
                None => Some(
                    it.next()
                        .ok_or_else(|| format!("{cmd}: {name} needs a value"))?
                        .clone(),
                ),
            }
        } else {
            inline
        };
        flags.push((name.to_string(), value));
    }
    Ok(Parsed { flags, positional })
}

/// `--tls-verify[=BOOL]`: `None` when not given (registries.conf decides).
fn tls_verify(p: &Parsed) -> Result<Option<bool>, String> {
    if !p.has("--tls-verify") {
        return Ok(None);
    }
    match p.value("--tls-verify") {
        None | Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(other) => Err(format!("--tls-verify={other}: expected true or false")),
    }
}

/// The options common to every command, progress to standard error unless `-q`.
fn options(p: &Parsed) -> Result<RegistryOptions, String> {
    let mut o = RegistryOptions {
        tls_verify: tls_verify(p)?,
        authfile: p.value("--authfile").map(PathBuf::from),
        ..Default::default()
    };
    if let Some(c) = p.value("--creds") {
        o.credentials = Some(
            Credentials::parse(c).ok_or_else(|| "--creds: expected USER[:PASSWORD]".to_string())?,
        );
    }
    if let Some(r) = p.value("--retry") {
        let n: u32 = r
            .parse()
            .map_err(|_| format!("--retry {r}: expected a number"))?;
        o.attempts = n + 1;
    }
    if !(p.has("--quiet") || p.has("-q")) {
        o.progress = Some(Arc::new(|line: &str| {
            let _ = writeln!(std::io::stderr().lock(), "{line}");
        }));
        // On a terminal, as podman: a bar per layer, the lines printed above the bars.
        if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            o.bars = Some(dermaga_image::registry::MultiProgress::with_draw_target(
                dermaga_image::registry::ProgressDrawTarget::stderr(),
            ));
        }
    }
    Ok(o)
}

fn fail(msg: &str) -> ExitCode {
    eprintln!("Error: {msg}");
    ExitCode::from(125)
}

fn fail_err(e: &RegistryError) -> ExitCode {
    eprintln!("Error: {e}");
    ExitCode::from(e.exit_code())
}

fn open(root: &Path) -> Result<ImageStore, ExitCode> {
    ImageStore::open(root).map_err(|e| {
        eprintln!("Error: {e}");
        ExitCode::from(e.exit_code())
    })
}

/// `pull [--tls-verify] [--authfile F] [--creds U:P] [--platform OS/ARCH[/VARIANT]]
/// [--arch A] [--os O] [--variant V] [-q] [--retry N] IMAGE`
pub fn pull(root: &Path, args: Vec<String>) -> ExitCode {
    let extra = [
        ("--platform", true),
        ("--arch", true),
        ("--os", true),
        ("--variant", true),
    ];
    let p = match parse("pull", &args, &extra, UNSUPPORTED) {
        Ok(p) => p,
        Err(e) => return fail(&e),
    };
    let [image] = p.positional.as_slice() else {
        return fail("pull: give exactly one IMAGE (podman pull [options] IMAGE)");
    };
    let mut opts = match options(&p) {
        Ok(o) => o,
        Err(e) => return fail(&e),
    };
    let mut platform = Platform::host();
    if let Some(s) = p.value("--platform") {
        match Platform::parse(s) {
            Some(pl) => platform = pl,
            None => return fail(&format!("--platform {s}: expected OS/ARCH[/VARIANT]")),
        }
    }
    if let Some(a) = p.value("--arch") {
        platform.architecture = a.to_string();
        platform.variant = None;
    }
    if let Some(o) = p.value("--os") {
        platform.os = o.to_string();
    }
    if let Some(v) = p.value("--variant") {
        platform.variant = Some(v.to_string());
    }
    opts.platform = Some(platform);
    let store = match open(root) {
        Ok(s) => s,
        Err(c) => return c,
    };
    match registry::pull(&store, image, &opts) {
        Ok(out) => {
            println!("{}", out.id);
            ExitCode::SUCCESS
        }
        Err(e) => fail_err(&e),
    }
}

/// `push [--tls-verify] [--authfile F] [--creds U:P] [--digestfile F] [-q] [--retry N]
/// IMAGE [DESTINATION]` (DESTINATION: `[docker://]host[:port]/path[:tag]`; without it, the
/// image's own name).
pub fn push(root: &Path, args: Vec<String>) -> ExitCode {
    let extra = [("--digestfile", true)];
    let p = match parse("push", &args, &extra, UNSUPPORTED) {
        Ok(p) => p,
        Err(e) => return fail(&e),
    };
    let (source, dest) = match p.positional.as_slice() {
        [s] => (s.clone(), s.clone()),
        [s, d] => (s.clone(), d.clone()),
        _ => {
            return fail(
                "push: give IMAGE [DESTINATION] (podman push [options] IMAGE [DESTINATION])",
            )
        }
    };
    let dest = match dest.split_once("://") {
        None => dest,
        Some(("docker", rest)) => rest.to_string(),
        Some((transport, _)) => {
            return fail(&format!(
                "push: transport {transport}: is not supported; push to a registry (docker://) or use `dermaga save`"
            ))
        }
    };
    let opts = match options(&p) {
        Ok(o) => o,
        Err(e) => return fail(&e),
    };
    let store = match open(root) {
        Ok(s) => s,
        Err(c) => return c,
    };
    match registry::push(&store, &source, &dest, &opts) {
        Ok(out) => {
            if let Some(f) = p.value("--digestfile") {
                if let Err(e) = std::fs::write(f, &out.manifest_digest) {
                    return fail(&format!("--digestfile {f}: {e}"));
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail_err(&e),
    }
}

/// `login [-u USER] [-p PASS | --password-stdin] [--authfile F] [--tls-verify] [--get-login]
/// REGISTRY`
pub fn login(_root: &Path, args: Vec<String>) -> ExitCode {
    let extra = [
        ("--username", true),
        ("-u", true),
        ("--password", true),
        ("-p", true),
        ("--password-stdin", false),
        ("--get-login", false),
    ];
    let p = match parse(
        "login",
        &args,
        &extra,
        &["--cert-dir", "--compat-auth-file"],
    ) {
        Ok(p) => p,
        Err(e) => return fail(&e),
    };
    let [registry_host] = p.positional.as_slice() else {
        return fail("login: give exactly one REGISTRY (podman login [options] REGISTRY)");
    };
    let mut opts = match options(&p) {
        Ok(o) => o,
        Err(e) => return fail(&e),
    };
    opts.progress = None;
    let path = opts
        .authfile
        .clone()
        .unwrap_or_else(registry::AuthFile::default_path);
    if p.has("--get-login") {
        return match registry::AuthFile::open(&path).and_then(|f| f.lookup(registry_host)) {
            Ok(Some(c)) => {
                println!("{}", c.username);
                ExitCode::SUCCESS
            }
            Ok(None) => fail(&format!("not logged into {registry_host}")),
            Err(e) => fail_err(&e),
        };
    }
    let user = p.value("--username").or(p.value("-u"));
    let pass_flag = p.value("--password").or(p.value("-p"));
    let Some(user) = user else {
        return fail("login: give --username (dermaga does not prompt)");
    };
    let password = if p.has("--password-stdin") {
        let mut line = String::new();
        if let Err(e) = std::io::stdin().lock().read_line(&mut line) {
            return fail(&format!(
                "login: reading the password from standard input: {e}"
            ));
        }
        line.trim_end_matches(['\n', '\r']).to_string()
    } else if let Some(pw) = pass_flag {
        pw.to_string()
    } else {
        return fail("login: give --password or --password-stdin (dermaga does not prompt)");
    };
    let creds = Credentials {
        username: user.to_string(),
        password,
    };
    match registry::login(registry_host, &creds, &opts) {
        Ok(_) => {
            println!("Login Succeeded!");
            ExitCode::SUCCESS
        }
        Err(e) => fail_err(&e),
    }
}

/// `logout [--authfile F] [-a|--all] [REGISTRY]`
pub fn logout(_root: &Path, args: Vec<String>) -> ExitCode {
    let extra = [("--all", false), ("-a", false)];
    let p = match parse("logout", &args, &extra, &["--compat-auth-file"]) {
        Ok(p) => p,
        Err(e) => return fail(&e),
    };
    let all = p.has("--all") || p.has("-a");
    let host = match (p.positional.as_slice(), all) {
        ([], true) => None,
        ([h], false) => Some(h.as_str()),
        _ => return fail("logout: give one REGISTRY or --all"),
    };
    let opts = match options(&p) {
        Ok(o) => o,
        Err(e) => return fail(&e),
    };
    match registry::logout(host, &opts) {
        Ok(_) => {
            match host {
                Some(h) => println!("Removed login credentials for {h}"),
                None => println!("Removed login credentials for all registries"),
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail_err(&e),
    }
}
