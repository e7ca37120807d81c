//! Image commands with podman's command lines: `images`, `import`, `load`, `save`, `tag`,
//! `untag`, `rmi`, and `image inspect|ls|list|rm|tag|untag|prune|import|load|save|exists`.
//! `pull`, `push`, `login` and `logout` go to [`crate::registry_cmd`]; `build` to
//! [`crate::build_cmd`].
//!
//! Wiring only: the work is in `dermaga_image`. Exit statuses are podman's: 0, 125 for an
//! error; `rmi` 1 when an image is not known and 2 when one is in use.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use dermaga_image::{
    ArchiveFormat, ImageError, ImageStore, ImageUsers, ImagesOptions, ImportOptions,
};

const USAGE: &str = "\
image commands (podman's command lines):
  images [-q] [-n] [--no-trunc] [--digests] [--format json|TEMPLATE] [--filter dangling=B] [REPO[:TAG]]
  import [-c CHANGE]... [-m MESSAGE] [-q] TARBALL|- [NAME]
  load [-i FILE] [-q]                     (standard input without -i)
  save [-o FILE] [--format docker-archive|oci-archive] [-q] IMAGE...
  tag IMAGE NAME...         untag IMAGE [NAME...]
  rmi [-f] [-a] IMAGE...
  image inspect [--format json|TEMPLATE] IMAGE...
  image ls|list|rm|tag|untag|prune [-a] [-f]|import|load|save|exists IMAGE
  pull [--tls-verify=false] [--authfile F] [--creds U:P] [--platform OS/ARCH] [-q] IMAGE
  push [--tls-verify=false] [--authfile F] [--digestfile F] IMAGE [DESTINATION]
  build [-t NAME[:TAG]]... [-f FILE] [--build-arg K=V]... [--target STAGE] [--no-cache] [-q] CONTEXT
  login [-u USER] [-p PASSWORD | --password-stdin] [--authfile F] REGISTRY
  logout [--authfile F] REGISTRY | -a
";

/// `root` is the store's `--root`, already resolved by the container command line;
/// `args` starts at the verb.
pub fn main(root: &Path, args: Vec<OsString>) -> ExitCode {
    let args: Vec<String> = match args.into_iter().map(|a| a.into_string()).collect() {
        Ok(a) => a,
        Err(bad) => return fail(&format!("argument {bad:?} is not valid UTF-8")),
    };
    let Some((verb, rest)) = args.split_first() else {
        eprint!("{USAGE}");
        return ExitCode::from(125);
    };
    let rest = rest.to_vec();
    match verb.as_str() {
        "image" => {
            let Some((sub, rest)) = rest.split_first() else {
                eprint!("{USAGE}");
                return ExitCode::from(125);
            };
            let rest = rest.to_vec();
            match sub.as_str() {
                "inspect" => inspect(root, rest),
                "ls" | "list" => images(root, rest),
                "rm" => rmi(root, rest),
                "prune" => prune(root, rest),
                "exists" => exists(root, rest),
                "--help" | "-h" | "help" => {
                    print!("{USAGE}");
                    ExitCode::SUCCESS
                }
                other => dispatch(root, other, rest),
            }
        }
        other => dispatch(root, other, rest),
    }
}

fn dispatch(root: &Path, verb: &str, rest: Vec<String>) -> ExitCode {
    match verb {
        "images" => images(root, rest),
        "import" => import(root, rest),
        "load" => load(root, rest),
        "save" => save(root, rest),
        "tag" => tag(root, rest),
        "untag" => untag(root, rest),
        "rmi" => rmi(root, rest),
        "pull" => crate::registry_cmd::pull(root, rest),
        "push" => crate::registry_cmd::push(root, rest),
        "login" => crate::registry_cmd::login(root, rest),
        "logout" => crate::registry_cmd::logout(root, rest),
        "build" => crate::build_cmd::main(root, None, None, rest),
        "--help" | "-h" | "help" => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        other => fail(&format!("unknown image command `{other}`\n{USAGE}")),
    }
}

fn fail(msg: &str) -> ExitCode {
    eprintln!("Error: {msg}");
    ExitCode::from(125)
}

fn fail_err(e: &ImageError) -> ExitCode {
    eprintln!("Error: {e}");
    ExitCode::from(e.exit_code())
}

/// Flags of one command: which take a value, which are booleans.
pub(crate) struct Spec {
    pub with_value: &'static [&'static str],
    pub boolean: &'static [&'static str],
}

/// Parsed flags: (name as written in `with_value`/`boolean`, value), and the positionals.
pub(crate) struct Parsed {
    pub flags: Vec<(&'static str, String)>,
    pub positional: Vec<String>,
}

impl Parsed {
    pub(crate) fn value(&self, name: &str) -> Option<&str> {
        self.flags
            .iter()
            .rev()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
    pub(crate) fn values(&self, name: &str) -> Vec<String> {
        self.flags
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
            .collect()
    }
    pub(crate) fn has(&self, name: &str) -> bool {
        self.flags.iter().any(|(n, v)| *n == name && v != "false")
    }
}

/// Parses podman-style flags. Each spec entry is `"-s|--long"` or `"--long"`; the first long
/// name is the key. `--flag=value`, `--flag value`, `-s value`, `-abc` (booleans) and `--`.
pub(crate) fn parse(args: &[String], spec: &Spec) -> Result<Parsed, String> {
    let key_of = |list: &'static [&'static str], arg: &str| -> Option<&'static str> {
        list.iter()
            .copied()
            .find(|s| s.split('|').any(|n| n == arg))
    };
    let mut flags = Vec::new();
    let mut positional = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if a == "--" {
            positional.extend(args[i..].iter().cloned());
            break;
        }
        if !a.starts_with('-') || a == "-" {
            positional.push(a.clone());
            continue;
        }
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) if a.starts_with("--") => (n, Some(v.to_string())),
            _ => (a.as_str(), None),
        };
        if let Some(k) = key_of(spec.with_value, name) {
            let v = match inline {
                Some(v) => v,
                None => {
                    let v = args
                        .get(i)
                        .cloned()
                        .ok_or_else(|| format!("flag {name} needs a value"))?;
                    i += 1;
                    v
                }
            };
            flags.push((k, v));
        } else if let Some(k) = key_of(spec.boolean, name) {
            flags.push((k, inline.unwrap_or_else(|| "true".into())));
        } else if !name.starts_with("--") && name.len() > 2 {
            // -abc: several boolean short flags.
            for c in name[1..].chars() {
                let short = format!("-{c}");
                let k =
                    key_of(spec.boolean, &short).ok_or_else(|| format!("unknown flag {short}"))?;
                flags.push((k, "true".into()));
            }
        } else {
            return Err(format!("unknown flag {name}"));
        }
    }
    Ok(Parsed { flags, positional })
}

fn open(root: &Path) -> Result<ImageStore, ExitCode> {
    ImageStore::open(root).map_err(|e| fail_err(&e))
}

fn print(s: &str) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match out.write_all(s.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe (`| head`) is not an error worth a message.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => fail(&format!("writing standard output: {e}")),
    }
}

macro_rules! parse_or_fail {
    ($args:expr, $spec:expr) => {
        match parse(&$args, &$spec) {
            Ok(p) => p,
            Err(e) => return fail(&e),
        }
    };
}

macro_rules! store_or_fail {
    ($root:expr) => {
        match open($root) {
            Ok(s) => s,
            Err(code) => return code,
        }
    };
}

fn images(root: &Path, args: Vec<String>) -> ExitCode {
    let p = parse_or_fail!(
        args,
        Spec {
            with_value: &["--format", "-f|--filter", "--sort"],
            boolean: &[
                "-q|--quiet",
                "-n|--noheading",
                "--no-trunc",
                "--digests",
                "-a|--all"
            ],
        }
    );
    let mut opts = ImagesOptions {
        format: p.value("--format").map(String::from),
        quiet: p.has("-q|--quiet"),
        noheading: p.has("-n|--noheading"),
        no_trunc: p.has("--no-trunc"),
        digests: p.has("--digests"),
        filter_name: p.positional.first().cloned(),
        dangling: None,
        all: p.has("-a|--all"),
    };
    for f in p.values("-f|--filter") {
        match f.split_once('=') {
            Some(("dangling", v)) => opts.dangling = Some(v == "true"),
            Some(("reference", v)) => opts.filter_name = Some(v.to_string()),
            _ => {
                return fail(&format!(
                    "--filter {f}: only dangling=true|false and reference=NAME are supported"
                ))
            }
        }
    }
    if let Some(s) = p.value("--sort") {
        if s != "created" {
            return fail(&format!(
                "--sort {s}: only `created` (the default) is supported"
            ));
        }
    }
    if p.positional.len() > 1 {
        return fail("images takes at most one REPOSITORY[:TAG]");
    }
    let store = store_or_fail!(root);
    match dermaga_image::report::images_output(&store, &opts) {
        Ok(s) => print(&s),
        Err(e) => fail_err(&e),
    }
}

fn inspect(root: &Path, args: Vec<String>) -> ExitCode {
    let p = parse_or_fail!(
        args,
        Spec {
            with_value: &["-f|--format"],
            boolean: &[]
        }
    );
    if p.positional.is_empty() {
        return fail("image inspect needs at least one image");
    }
    let store = store_or_fail!(root);
    let (out, errs) =
        dermaga_image::report::inspect_output(&store, &p.positional, p.value("-f|--format"));
    let code = print(&out);
    if let Some(e) = errs.first() {
        for e in &errs {
            eprintln!("Error: {e}");
        }
        return ExitCode::from(e.exit_code());
    }
    code
}

fn exists(root: &Path, args: Vec<String>) -> ExitCode {
    let p = parse_or_fail!(
        args,
        Spec {
            with_value: &[],
            boolean: &[]
        }
    );
    let [r] = p.positional.as_slice() else {
        return fail("image exists takes one image");
    };
    let store = store_or_fail!(root);
    match store.find_id(r) {
        Ok(_) => ExitCode::SUCCESS,
        Err(ImageError::NotFound { .. }) => ExitCode::from(1),
        Err(e) => fail_err(&e),
    }
}

fn import(root: &Path, args: Vec<String>) -> ExitCode {
    let p = parse_or_fail!(
        args,
        Spec {
            with_value: &["-c|--change", "-m|--message", "--os", "--arch", "--variant"],
            boolean: &["-q|--quiet"]
        }
    );
    let (src, name) = match p.positional.as_slice() {
        [src] => (src.clone(), None),
        [src, name] => (src.clone(), Some(name.clone())),
        _ => return fail("import takes TARBALL (or - for standard input) and an optional NAME"),
    };
    if src.starts_with("http://") || src.starts_with("https://") {
        return fail(&format!(
            "{src}: importing from a URL is not supported; download it first"
        ));
    }
    let store = store_or_fail!(root);
    let opts = ImportOptions {
        name,
        message: p.value("-m|--message").map(String::from),
        changes: p.values("-c|--change"),
        os: p.value("--os").map(String::from),
        arch: p.value("--arch").map(String::from),
        variant: p.value("--variant").map(String::from),
    };
    match store.import_tarball_with(Path::new(&src), &opts) {
        Ok(id) => print(&format!("sha256:{id}\n")),
        Err(e) => fail_err(&e),
    }
}

fn load(root: &Path, args: Vec<String>) -> ExitCode {
    let p = parse_or_fail!(
        args,
        Spec {
            with_value: &["-i|--input"],
            boolean: &["-q|--quiet"]
        }
    );
    if !p.positional.is_empty() {
        return fail("load takes no positional arguments; name the archive with -i FILE");
    }
    let input = p.value("-i|--input").map(PathBuf::from);
    if input.is_none() && std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        return fail("no archive to load: give -i FILE or pipe one into standard input");
    }
    let store = store_or_fail!(root);
    match store.load(input.as_deref()) {
        Ok(images) => {
            let mut out = String::new();
            for i in images {
                if i.names.is_empty() {
                    out.push_str(&format!("Loaded image: sha256:{}\n", i.id));
                }
                for n in i.names {
                    out.push_str(&format!("Loaded image: {n}\n"));
                }
            }
            print(&out)
        }
        Err(e) => fail_err(&e),
    }
}

fn save(root: &Path, args: Vec<String>) -> ExitCode {
    let p = parse_or_fail!(
        args,
        Spec {
            with_value: &["-o|--output", "--format"],
            boolean: &["-q|--quiet", "-m|--multi-image-archive"]
        }
    );
    if p.positional.is_empty() {
        return fail("save needs at least one image");
    }
    let format = match p
        .value("--format")
        .unwrap_or("docker-archive")
        .parse::<ArchiveFormat>()
    {
        Ok(f) => f,
        Err(e) => return fail_err(&e),
    };
    let out = match p.value("-o|--output") {
        Some(o) => PathBuf::from(o),
        None => {
            if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                return fail("refusing to write an archive to a terminal; use -o FILE or redirect standard output");
            }
            PathBuf::from("-")
        }
    };
    let store = store_or_fail!(root);
    match store.save(&p.positional, format, &out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail_err(&e),
    }
}

fn tag(root: &Path, args: Vec<String>) -> ExitCode {
    let p = parse_or_fail!(
        args,
        Spec {
            with_value: &[],
            boolean: &[]
        }
    );
    let [image, names @ ..] = p.positional.as_slice() else {
        return fail("tag takes IMAGE and at least one NAME");
    };
    if names.is_empty() {
        return fail("tag takes IMAGE and at least one NAME");
    }
    let store = store_or_fail!(root);
    for n in names {
        if let Err(e) = store.tag(image, n) {
            return fail_err(&e);
        }
    }
    ExitCode::SUCCESS
}

fn untag(root: &Path, args: Vec<String>) -> ExitCode {
    let p = parse_or_fail!(
        args,
        Spec {
            with_value: &[],
            boolean: &[]
        }
    );
    let [image, names @ ..] = p.positional.as_slice() else {
        return fail("untag takes IMAGE and optional NAMEs");
    };
    let store = store_or_fail!(root);
    let names: Vec<String> = if names.is_empty() {
        match store.find_id(image).and_then(|id| store.info(&id)) {
            Ok(info) => info.names,
            Err(e) => return fail_err(&e),
        }
    } else {
        names.to_vec()
    };
    for n in names {
        if let Err(e) = store.untag(&n) {
            return fail_err(&e);
        }
    }
    ExitCode::SUCCESS
}

/// The engine's containers, as users of images: `rmi` and `image prune` keep what they use.
struct EngineImageUsers(dermaga_engine::db::Db);

impl ImageUsers for EngineImageUsers {
    fn containers_using(&self, image_id: &str) -> dermaga_image::Result<Vec<String>> {
        dermaga_engine::image::ContainerImageUsers { db: &self.0 }.containers_using(image_id)
    }
}

/// Opens the engine's container table; failing closed, since without it `rmi` could remove
/// an image a container needs.
fn image_users(root: &Path) -> Result<Box<dyn ImageUsers>, ExitCode> {
    match dermaga_engine::db::Db::open(root) {
        Ok(db) => Ok(Box::new(EngineImageUsers(db))),
        Err(e) => Err(fail(&format!(
            "reading the containers that use images: {}",
            e.msg
        ))),
    }
}

fn rmi(root: &Path, args: Vec<String>) -> ExitCode {
    let p = parse_or_fail!(
        args,
        Spec {
            with_value: &[],
            boolean: &["-f|--force", "-a|--all", "-i|--ignore"]
        }
    );
    let store = store_or_fail!(root);
    let force = p.has("-f|--force");
    let mut targets = p.positional.clone();
    if p.has("-a|--all") {
        match store.list() {
            Ok(list) => targets.extend(list.into_iter().map(|i| i.id)),
            Err(e) => return fail_err(&e),
        }
    }
    if targets.is_empty() {
        if p.has("-a|--all") {
            return ExitCode::SUCCESS;
        }
        return fail("rmi needs at least one image (or --all)");
    }
    let users = match image_users(root) {
        Ok(u) => u,
        Err(code) => return code,
    };
    let mut code = 0u8;
    let mut out = String::new();
    for t in targets {
        match store.remove(&t, force, users.as_ref()) {
            Ok(r) => {
                for n in r.untagged {
                    out.push_str(&format!("Untagged: {n}\n"));
                }
                if let Some(id) = r.deleted {
                    out.push_str(&format!("Deleted: {id}\n"));
                }
            }
            Err(ImageError::NotFound { .. }) if p.has("-i|--ignore") || p.has("-a|--all") => {}
            Err(e) => {
                eprintln!("Error: {e}");
                let c = match e {
                    ImageError::NotFound { .. } => 1,
                    ImageError::InUse { .. } => 2,
                    _ => 125,
                };
                code = code.max(c);
            }
        }
    }
    let printed = print(&out);
    if code != 0 {
        return ExitCode::from(code);
    }
    printed
}

fn prune(root: &Path, args: Vec<String>) -> ExitCode {
    let p = parse_or_fail!(
        args,
        Spec {
            with_value: &["--filter"],
            boolean: &["-a|--all", "-f|--force"]
        }
    );
    if p.value("--filter").is_some() {
        return fail("image prune --filter is not supported yet");
    }
    let store = store_or_fail!(root);
    let users = match image_users(root) {
        Ok(u) => u,
        Err(code) => return code,
    };
    match store.prune(p.has("-a|--all"), users.as_ref()) {
        Ok(ids) => print(&ids.iter().map(|id| format!("{id}\n")).collect::<String>()),
        Err(e) => fail_err(&e),
    }
}
