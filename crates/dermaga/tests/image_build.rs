//! `dermaga build` end to end: real containers for RUN, a busybox base image, each test with
//! its own store; and the same Containerfile built by `podman build` for comparison.

mod engine_support;

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use engine_support::{Podman, Store, IMAGE};

/// A build context under the store's temporary directory.
fn context(s: &Store, name: &str, containerfile: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = s.base().join(name);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("Containerfile"), containerfile).unwrap();
    for (p, body) in files {
        let p = dir.join(p);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, body).unwrap();
    }
    dir
}

/// A gzip tar of `dir/` (relative to `base`) written to `base/out`.
fn tar_gz(base: &Path, dir: &str, out: &str) {
    let st = Command::new("tar")
        .arg("-C")
        .arg(base)
        .arg("--owner=0")
        .arg("--group=0")
        .arg("-czf")
        .arg(base.join(out))
        .arg(dir)
        .status()
        .unwrap();
    assert!(st.success());
}

fn build(s: &Store, ctx: &Path, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec!["build"];
    args.extend_from_slice(extra);
    args.push(ctx.to_str().unwrap());
    s.run(&args)
}

fn build_ok(s: &Store, ctx: &Path, extra: &[&str]) -> (String, String) {
    let (code, out, err) = build(s, ctx, extra);
    assert_eq!(code, 0, "build failed\nstdout:\n{out}\nstderr:\n{err}");
    let id = out.lines().last().unwrap_or("").to_string();
    assert_eq!(id.len(), 64, "last line is the id: {out}");
    (id, out)
}

const APP: &str = r#"# a multi-stage build
ARG GREETING=hello
FROM localhost/busybox AS builder
ARG GREETING
WORKDIR /work
COPY src/ ./src/
RUN echo "$GREETING from the builder" > /work/out.txt \
 && cat src/part1 src/part2 > /work/joined.txt \
 && rm /bin/vi
RUN ["/bin/sh", "-c", "echo exec form > /work/exec.txt"]

FROM localhost/busybox
ENV APP_MODE=production PATH=/app/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
WORKDIR /app
COPY --from=builder /work/out.txt /work/joined.txt ./
COPY --from=builder /work/exec.txt /app/exec.txt
ADD payload.tar.gz /opt/
COPY --chown=app:app --chmod=640 conf/app.conf /etc/app/
RUN mkdir -p /app/bin && printf '#!/bin/sh\necho "mode=$APP_MODE user=$(id -un) cwd=$(pwd)"\ncat /app/out.txt /app/joined.txt /app/exec.txt /opt/payload/data.txt\n' > /app/bin/show && chmod 755 /app/bin/show
USER app
LABEL org.example.name="demo app" version=1
EXPOSE 8080 53/udp
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["show"]
"#;

fn app_context(s: &Store) -> PathBuf {
    let ctx = context(
        s,
        "app",
        APP,
        &[
            ("src/part1", "one\n"),
            ("src/part2", "two\n"),
            ("conf/app.conf", "key=value\n"),
            ("payload/data.txt", "from the archive\n"),
        ],
    );
    tar_gz(&ctx, "payload", "payload.tar.gz");
    ctx
}

#[test]
fn multistage_build_runs() {
    let s = Store::new("build-multi");
    let ctx = app_context(&s);
    let (id, out) = build_ok(&s, &ctx, &["-t", "demo:1"]);
    assert!(
        out.contains("[1/2] STEP 1/6: FROM localhost/busybox AS builder"),
        "{out}"
    );
    assert!(out.contains("[2/2] STEP 13/13: CMD [\"show\"]"), "{out}");
    assert!(out.contains("COMMIT demo:1"), "{out}");
    assert!(
        out.contains("Successfully tagged localhost/demo:1"),
        "{out}"
    );
    let run = s.ok(&["run", "--rm", "demo:1"]);
    assert_eq!(
        run,
        "mode=production user=app cwd=/app\nhello from the builder\none\ntwo\nexec form\nfrom the archive\n"
    );
    // --build-arg reaches the builder's RUN.
    let (_, _) = build_ok(&s, &ctx, &["-t", "demo:2", "--build-arg", "GREETING=hi"]);
    let run = s.ok(&["run", "--rm", "demo:2"]);
    assert!(run.contains("hi from the builder"), "{run}");
    // The config.
    let cfg = s.ok(&["image", "inspect", "--format", "{{json .Config}}", "demo:1"]);
    let cfg: serde_json::Value = serde_json::from_str(&cfg).unwrap();
    assert_eq!(cfg["User"], "app");
    assert_eq!(cfg["WorkingDir"], "/app");
    assert_eq!(cfg["Entrypoint"], serde_json::json!(["/bin/sh", "-c"]));
    assert_eq!(cfg["Cmd"], serde_json::json!(["show"]));
    assert_eq!(cfg["Labels"]["org.example.name"], "demo app");
    assert!(cfg["ExposedPorts"]["8080/tcp"].is_object());
    assert!(cfg["ExposedPorts"]["53/udp"].is_object());
    assert!(cfg["Env"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("APP_MODE=production")));
    // --chown and --chmod, and the builder's deletion stays in the builder.
    let ls = s.ok(&[
        "run",
        "--rm",
        "--user",
        "0",
        "--entrypoint",
        "",
        "demo:1",
        "sh",
        "-c",
        "stat -c '%a %U:%G' /etc/app/app.conf; test -e /bin/vi && echo vi-present",
    ]);
    assert_eq!(ls, "640 app:app\nvi-present\n");
    // The target stage alone.
    let (_, out) = build_ok(&s, &ctx, &["--target", "builder", "-t", "builder-only"]);
    assert!(!out.contains("[2/2]"), "{out}");
    let ls = s.ok(&["run", "--rm", "builder-only", "cat", "/work/out.txt"]);
    assert_eq!(ls, "hello from the builder\n");
    let _ = id;
}

#[test]
fn second_build_is_cached_and_no_cache_rebuilds() {
    let s = Store::new("build-cache");
    let ctx = context(
        &s,
        "c",
        "FROM localhost/busybox\nCOPY f /f\nRUN cat /proc/sys/kernel/random/uuid > /id\nENV A=1\nCMD [\"cat\", \"/id\"]\n",
        &[("f", "content\n")],
    );
    let (id1, _) = build_ok(&s, &ctx, &["-t", "c"]);
    let (id2, out) = build_ok(&s, &ctx, &["-t", "c"]);
    assert_eq!(id1, id2, "a fully cached build gives the same image");
    assert_eq!(out.matches("--> Using cache").count(), 4, "{out}");
    let first = s.ok(&["run", "--rm", "c"]);
    // A changed context file invalidates the COPY and everything after it.
    fs::write(ctx.join("f"), "changed\n").unwrap();
    let (id3, out) = build_ok(&s, &ctx, &["-t", "c"]);
    assert_ne!(id3, id1);
    assert!(!out.contains("Using cache"), "{out}");
    // --no-cache runs every step again: a new uuid, a new image.
    let (id4, out) = build_ok(&s, &ctx, &["-t", "c", "--no-cache"]);
    assert!(!out.contains("Using cache"), "{out}");
    assert_ne!(id4, id3);
    let second = s.ok(&["run", "--rm", "c"]);
    assert_ne!(first, second);
    // Intermediate images are hidden from `images` but listed by `images -a`.
    let plain = s.ok(&["images", "-q"]);
    let all = s.ok(&["images", "-a", "-q"]);
    assert!(
        all.lines().count() > plain.lines().count(),
        "{plain}\n{all}"
    );
    // -q: only the id on standard output.
    let (code, out, _) = build(&s, &ctx, &["-q", "-t", "c"]);
    assert_eq!(code, 0);
    assert_eq!(out, format!("{id4}\n"));
}

/// The GraphDriver directories of an image: (lower dirs topmost first, upper).
fn layer_dirs(s: &Store, image: &str) -> Vec<PathBuf> {
    let out = s.ok(&["image", "inspect", "--format", "json", image]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let data = &v[0]["GraphDriver"]["Data"];
    let mut dirs = vec![PathBuf::from(data["UpperDir"].as_str().unwrap())];
    if let Some(l) = data["LowerDir"].as_str() {
        dirs.extend(l.split(':').map(PathBuf::from));
    }
    dirs
}

#[test]
fn deletions_become_whiteouts_and_opaque_directories() {
    let s = Store::new("build-whiteout");
    let ctx = context(
        &s,
        "w",
        "FROM localhost/busybox\nRUN mkdir -p /data/old && touch /data/old/a /data/keep\nRUN rm /bin/vi && rm -rf /data/old && mkdir /data/old && touch /data/old/b\n",
        &[],
    );
    build_ok(&s, &ctx, &["-t", "w"]);
    let out = s.ok(&[
        "run",
        "--rm",
        "w",
        "sh",
        "-c",
        "ls /data/old; ls /data; test -e /bin/vi || echo no-vi",
    ]);
    assert_eq!(out, "b\nkeep\nold\nno-vi\n");
    // The top layer holds the deletion as a whiteout and the recreated directory as opaque.
    let top = &layer_dirs(&s, "w")[0];
    let vi = fs::symlink_metadata(top.join("bin/vi")).unwrap();
    assert!(
        vi.file_type().is_char_device() && vi.rdev() == 0,
        "bin/vi is a whiteout"
    );
    // In the image as saved (OCI encoding): `.wh.vi` and an opaque marker.
    let dir = s.base().join("w-saved");
    fs::create_dir_all(&dir).unwrap();
    let archive = dir.join("w.tar");
    s.ok(&["save", "-o", archive.to_str().unwrap(), "w"]);
    let st = Command::new("tar")
        .arg("-C")
        .arg(&dir)
        .arg("-xf")
        .arg(&archive)
        .status()
        .unwrap();
    assert!(st.success());
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let top_tar = manifest[0]["Layers"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .as_str()
        .unwrap();
    let list = Command::new("tar")
        .arg("-tf")
        .arg(dir.join(top_tar))
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(
        list.lines()
            .any(|l| l.trim_start_matches("./") == "bin/.wh.vi"),
        "{list}"
    );
    assert!(
        list.lines()
            .any(|l| l.trim_start_matches("./") == "data/old/.wh..wh..opq"),
        "{list}"
    );
    // No mount point the runtime made for the step leaked into the layer.
    for p in ["etc/hosts", "etc/resolv.conf", "etc/hostname"] {
        assert!(!top.join(p).exists(), "{p} leaked into the layer");
    }
}

#[test]
fn heredocs_shell_ignore_file_and_globs() {
    let s = Store::new("build-heredoc");
    let cf = "FROM localhost/busybox\n\
ARG WHO=world\n\
RUN <<EOF\n\
echo \"hello $WHO\" > /greeting\n\
echo second line >> /greeting\n\
EOF\n\
COPY <<-EOT /etc/motd\n\
\tmotd for ${WHO}\n\
\tEOT\n\
RUN <<SCRIPT\n\
#!/bin/sh\n\
echo \"script $0\" > /script\n\
SCRIPT\n\
SHELL [\"/bin/sh\", \"-ec\"]\n\
RUN test \"$0\" = /bin/sh && echo shell-ok > /shell\n\
COPY *.txt /txt/\n\
COPY tree /tree\n";
    let ctx = context(
        &s,
        "h",
        cf,
        &[
            ("a.txt", "a\n"),
            ("b.txt", "b\n"),
            ("skip.txt", "ignored\n"),
            ("tree/keep", "k\n"),
            ("tree/cache/x", "ignored\n"),
            (".containerignore", "skip.txt\ntree/cache\n"),
        ],
    );
    build_ok(&s, &ctx, &["-t", "h"]);
    let out = s.ok(&[
        "run",
        "--rm",
        "h",
        "sh",
        "-c",
        "cat /greeting /etc/motd /shell /script; ls /txt; ls /tree",
    ]);
    assert_eq!(
        out,
        "hello world\nsecond line\nmotd for world\nshell-ok\nscript /dev/pipes/SCRIPT\na.txt\nb.txt\nkeep\n"
    );
}

#[test]
fn bad_input_is_an_error_with_file_and_line() {
    let s = Store::new("build-errors");
    let cases: &[(&str, &str)] = &[
        (
            "FROM localhost/busybox\nRUN true\nFROBNICATE x\n",
            "Containerfile:3:",
        ),
        ("FROM localhost/busybox\n\nRUN exit 3\n", "Containerfile:3:"),
        (
            "FROM localhost/busybox\nCOPY missing /x\n",
            "Containerfile:2:",
        ),
        ("FROM no-such-image\n", "Containerfile:1:"),
        (
            "FROM localhost/busybox\nCOPY --chown=nobody-here f /f\n",
            "Containerfile:2:",
        ),
        (
            "FROM localhost/busybox\nADD https://example.com/x /x\n",
            "Containerfile:2:",
        ),
        (
            "FROM --platform=linux/s390x localhost/busybox\n",
            "Containerfile:1:",
        ),
        (
            "FROM localhost/busybox\nRUN --mount=type=cache,target=/c true\n",
            "Containerfile:2:",
        ),
        (
            "FROM localhost/busybox\nUSER ghost\nRUN true\n",
            "Containerfile:3:",
        ),
    ];
    for (i, (cf, want)) in cases.iter().enumerate() {
        let ctx = context(&s, &format!("e{i}"), cf, &[("f", "x")]);
        let (code, out, err) = build(&s, &ctx, &["-t", "bad"]);
        assert_eq!(code, 125, "{cf}: {out}{err}");
        let line = err.lines().find(|l| l.starts_with("Error:")).unwrap_or("");
        assert!(line.contains(want), "{cf:?}: {err}");
    }
    let ctx = s.base().join("e1");
    let (_, _, err) = build(&s, &ctx, &["-t", "bad"]);
    assert!(err.contains("status 3"), "{err}");
    // Nothing got the name.
    let (code, _, _) = s.run(&["image", "exists", "bad"]);
    assert_ne!(code, 0);
}

#[test]
fn kill_during_build_leaves_no_half_image() {
    let s = Store::new("build-kill");
    let ctx = context(
        &s,
        "k",
        "FROM localhost/busybox\nCOPY f /f\nRUN echo started && sleep 60\n",
        &[("f", "x")],
    );
    let mut child = s
        .cmd(&["build", "-t", "killed", ctx.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    loop {
        let l = lines.next().expect("build ended early").unwrap();
        if l == "started" {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let (code, _, _) = s.run(&["image", "exists", "killed"]);
    assert_ne!(code, 0, "no image got the name");
    // The killed step's container is still there, its monitor (the build) gone.
    assert_eq!(s.ok(&["ps", "-a", "-q"]).lines().count(), 1);
    // A new build removes it, takes what was committed (the COPY) from the cache, finishes.
    fs::write(
        ctx.join("Containerfile"),
        "FROM localhost/busybox\nCOPY f /f\nRUN echo again\n",
    )
    .unwrap();
    let (_, out) = build_ok(&s, &ctx, &["-t", "killed"]);
    assert!(out.contains("--> Using cache"), "{out}");
    assert_eq!(s.ok(&["ps", "-a", "-q"]), "");
    let out = s.ok(&["system", "check"]);
    assert!(out.contains("No problems found"), "{out}");
}

/// A podman with its own store, the busybox image loaded from `dermaga save`.
fn podman_with_base(s: &Store) -> Podman {
    let p = Podman::new();
    let archive = s.base().join("busybox-save.tar");
    s.ok(&["save", "-o", archive.to_str().unwrap(), IMAGE]);
    let (code, _, err) = p.run(&["load", "-q", "-i", archive.to_str().unwrap()]);
    assert_eq!(code, 0, "podman load: {err}");
    p
}

/// Every entry of a tree: path → "type mode uid:gid size-or-target". Directory sizes and
/// times are left out (file-system details, not image content).
fn listing(root: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, rel: &Path, out: &mut BTreeMap<String, String>) {
        let mut names: Vec<_> = fs::read_dir(root.join(rel))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        for n in names {
            let r = rel.join(&n);
            let p = root.join(&r);
            let md = fs::symlink_metadata(&p).unwrap();
            let ft = md.file_type();
            let what = if ft.is_dir() {
                "dir".to_string()
            } else if ft.is_symlink() {
                format!("link -> {}", fs::read_link(&p).unwrap().display())
            } else if ft.is_file() {
                format!("file {}", md.len())
            } else {
                format!("special {:x}", md.rdev())
            };
            out.insert(
                format!("/{}", r.display()),
                format!("{what} {:o} {}:{}", md.mode() & 0o7777, md.uid(), md.gid()),
            );
            if ft.is_dir() {
                walk(root, &r, out);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, Path::new(""), &mut out);
    out
}

/// Mounts an image's layers read-only at `at` (topmost first); returns whether it mounted.
fn mount_layers(dirs: &[PathBuf], at: &Path) {
    fs::create_dir_all(at).unwrap();
    if dirs.len() == 1 {
        let st = Command::new("mount")
            .args(["--bind", "-o", "ro"])
            .arg(&dirs[0])
            .arg(at)
            .status()
            .unwrap();
        assert!(st.success());
        return;
    }
    let lower: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    let st = Command::new("mount")
        .args(["-t", "overlay", "overlay", "-o"])
        .arg(format!("lowerdir={}", lower.join(":")))
        .arg(at)
        .status()
        .unwrap();
    assert!(st.success(), "mounting the image's layers");
}

fn config_fields(cfg: &serde_json::Value) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    for k in [
        "Entrypoint",
        "Cmd",
        "Env",
        "WorkingDir",
        "User",
        "ExposedPorts",
        "Labels",
        "Volumes",
        "StopSignal",
    ] {
        let mut v = cfg.get(k).cloned().unwrap_or(serde_json::Value::Null);
        if k == "Labels" {
            // buildah stamps its version on every image it builds.
            if let Some(m) = v.as_object_mut() {
                m.remove("io.buildah.version");
            }
        }
        if v.as_object().is_some_and(|m| m.is_empty()) || v.as_str() == Some("") {
            v = serde_json::Value::Null;
        }
        out.insert(k.to_string(), v);
    }
    serde_json::Value::Object(out)
}

const DIFF: &str = r#"FROM localhost/busybox AS build
ARG VERSION=1.2
WORKDIR /build
COPY src ./src
RUN mkdir -p out && for f in src/*; do tr a-z A-Z < "$f" > "out/$(basename "$f")"; done \
 && echo "$VERSION" > out/version && chmod 600 out/version && rm /bin/vi && rm -rf /home
RUN ["/bin/sh", "-c", "ln -s /build/out/version /build/out/current && mkdir -p /build/empty"]

FROM localhost/busybox AS base
CMD ["echo", "inherited"]

FROM base
ARG VERSION=1.2
ENV APP_HOME=/srv/app APP_VERSION=$VERSION
WORKDIR $APP_HOME
COPY --from=build /build/out/ ./data/
COPY --from=build /build/empty /srv/empty
COPY --chown=app:app conf/*.conf /etc/app/
COPY --chmod=751 tools/ /usr/local/bin/
ADD bundle.tar.gz /opt/
ADD plain.tar /plain/
COPY --chown=app:app tools /new/parents/here/
COPY --chown=1000 conf/app.conf /other/new/app.conf
COPY conf/app.conf /etc
RUN adduser -D -H -u 1234 svc 2>/dev/null || echo 'svc:x:1234:1234::/:/bin/sh' >> /etc/passwd; \
    mkdir -p /var/lib/app && chown 1234:0 /var/lib/app && rm -rf /tmp && mkdir -m 1777 /tmp && touch /tmp/.keep
USER svc
VOLUME /var/lib/app
EXPOSE 8080/tcp 9090/udp
STOPSIGNAL SIGINT
LABEL org.opencontainers.image.title="diff test" tier=backend
ENTRYPOINT ["/bin/sh", "-c"]
"#;

/// podman's lock table is shared by every store of a user, so the podman side is one test.
#[test]
fn same_tree_and_config_as_podman_build() {
    let s = Store::new("build-podman");
    let p = podman_with_base(&s);
    let ctx = context(
        &s,
        "d",
        DIFF,
        &[
            ("src/a", "alpha\n"),
            ("src/b", "beta\n"),
            ("conf/app.conf", "x=1\n"),
            ("conf/log.conf", "level=info\n"),
            ("tools/run.sh", "#!/bin/sh\necho run\n"),
            ("tools/sub/helper", "helper\n"),
            ("bundle/share/readme", "bundled\n"),
            ("ignored.log", "no\n"),
            (".containerignore", "*.log\n"),
        ],
    );
    tar_gz(&ctx, "bundle", "bundle.tar.gz");
    let st = Command::new("tar")
        .arg("-C")
        .arg(&ctx)
        .args(["--owner=0", "--group=0", "-cf"])
        .arg(ctx.join("plain.tar"))
        .arg("tools")
        .status()
        .unwrap();
    assert!(st.success());
    let (id, _) = build_ok(&s, &ctx, &["-t", "diff"]);
    let (code, out, err) = p.run(&["build", "-q", "-t", "diff", ctx.to_str().unwrap()]);
    assert_eq!(code, 0, "podman build: {out}{err}");
    // Config fields.
    let ours = s.ok(&["image", "inspect", "--format", "{{json .Config}}", &id]);
    let (code, theirs, err) = p.run(&["image", "inspect", "--format", "{{json .Config}}", "diff"]);
    assert_eq!(code, 0, "{err}");
    let ours: serde_json::Value = serde_json::from_str(&ours).unwrap();
    let theirs_cfg: serde_json::Value = serde_json::from_str(&theirs).unwrap();
    assert_eq!(config_fields(&ours), config_fields(&theirs_cfg));
    // File trees.
    let mnt = s.base().join("mnt-ours");
    mount_layers(&layer_dirs(&s, &id), &mnt);
    let ours = listing(&mnt);
    let _ = Command::new("umount").arg(&mnt).status();
    let (code, theirs_dir, err) = p.run(&["image", "mount", "diff"]);
    assert_eq!(code, 0, "podman image mount: {err}");
    let mut theirs = listing(Path::new(theirs_dir.trim()));
    // buildah leaves the files it bind-mounted over during RUN in the image, empty (mode
    // 755); dermaga removes the mount points it made (as BuildKit does). See decisions.md.
    for p in ["/etc/hosts", "/etc/hostname", "/etc/resolv.conf"] {
        if theirs.get(p).is_some_and(|v| v == "file 0 755 0:0") && !ours.contains_key(p) {
            theirs.remove(p);
        }
    }
    let _ = p.run(&["image", "umount", "diff"]);
    let diff: Vec<String> = ours
        .keys()
        .chain(theirs.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .filter(|k| ours.get(*k) != theirs.get(*k))
        .map(|k| format!("{k}: dermaga {:?}, podman {:?}", ours.get(k), theirs.get(k)))
        .collect();
    assert!(diff.is_empty(), "trees differ:\n{}", diff.join("\n"));
    assert!(ours.contains_key("/srv/app/data/current"));
    assert_eq!(ours["/tmp"], "dir 1777 0:0");
    assert_eq!(ours["/etc/app/log.conf"], "file 11 644 1000:1000");
    assert_eq!(ours["/usr/local/bin/sub"], "dir 751 0:0");
    assert_eq!(ours["/new/parents"], "dir 755 1000:1000");
    assert!(ours.contains_key("/etc/app.conf") && ours.contains_key("/plain/tools/run.sh"));
    assert_eq!(config_fields(&theirs_cfg)["Cmd"], serde_json::Value::Null);
}

#[test]
fn command_line_errors_say_what() {
    let s = Store::new("build-cli");
    let ctx = context(&s, "cli", "FROM localhost/busybox\nCMD [\"true\"]\n", &[]);
    let c = ctx.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["build", "--network", "bridge", c], "--network bridge"),
        (&["build", "--format", "docker", c], "--format docker"),
        (&["build", "--pull=always", c], "does not pull"),
        (&["build", "--frobnicate", c], "unknown flag --frobnicate"),
        (
            &["build", "-f", "/nonexistent/Containerfile", c],
            "/nonexistent/Containerfile",
        ),
        (
            &["build", "/nonexistent-context"],
            "no Containerfile or Dockerfile",
        ),
        (&["build", c, c], "one context directory"),
    ];
    for (args, want) in cases {
        let (code, _, err) = s.run(args);
        assert_eq!(code, 125, "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
    // A Dockerfile is found when there is no Containerfile; --layers=false builds afresh.
    fs::rename(ctx.join("Containerfile"), ctx.join("Dockerfile")).unwrap();
    build_ok(&s, &ctx, &["-t", "cli"]);
    let (_, out) = build_ok(&s, &ctx, &["--layers=false", "-t", "cli"]);
    assert!(!out.contains("Using cache"), "{out}");
}
