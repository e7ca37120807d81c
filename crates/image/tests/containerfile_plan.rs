//! The Containerfile parser and build planner, table-driven: exact instructions, expansions,
//! stage selection, cache keys and errors with file:line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use dermaga_image::containerfile::{
    parse, parse_file, plan, Base, Command, CopyFrom, Healthcheck, IgnoreRules, Instruction,
    PlanOptions,
};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/containerfiles")
        .join(name)
}

fn context() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("src")).unwrap();
    std::fs::write(d.path().join("src/main.c"), "int main(){}\n").unwrap();
    std::fs::write(d.path().join("src/debug.log"), "noise\n").unwrap();
    std::fs::write(d.path().join("a.txt"), "a\n").unwrap();
    d
}

fn args(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

#[test]
fn containerfile_multistage_parse_and_plan() {
    let cf = parse_file(&data("multistage.Containerfile")).unwrap();
    assert_eq!(cf.syntax.as_deref(), Some("docker/dockerfile:1"));
    assert_eq!(cf.global_args.len(), 2);
    assert_eq!(cf.stages.len(), 3);
    assert_eq!(
        cf.stages
            .iter()
            .map(|s| (s.name.clone(), s.line))
            .collect::<Vec<_>>(),
        vec![
            (Some("builder".into()), 6),
            (Some("unused".into()), 14),
            (None, 17)
        ]
    );
    // Continuation: ENV on line 8 spans two lines.
    assert_eq!(cf.stages[0].instructions[1].line, 8);
    assert_eq!(cf.stages[0].instructions[2].line, 10);

    let ctx = context();
    let p = plan(
        &cf,
        &PlanOptions {
            build_args: args(&[("VERSION", "2.5"), ("UNUSED", "x")]),
            context: Some(ctx.path()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(p.target, 2);
    assert_eq!(
        p.stages.iter().map(|s| s.index).collect::<Vec<_>>(),
        vec![0, 2]
    );
    assert_eq!(p.unused_build_args, vec!["UNUSED".to_string()]);
    let builder = &p.stages[0];
    assert_eq!(builder.base, Base::Image("busybox:latest".into()));
    let ins: Vec<&Instruction> = builder.steps.iter().map(|s| &s.instruction).collect();
    assert_eq!(
        ins[0],
        &Instruction::Arg(vec![dermaga_image::containerfile::ArgDecl {
            name: "VERSION".into(),
            default: Some("2.5".into()),
        }])
    );
    assert_eq!(
        ins[1],
        &Instruction::Env(vec![
            ("APP_HOME".into(), "/app".into()),
            ("GREETING".into(), "hello world".into())
        ])
    );
    assert_eq!(ins[2], &Instruction::Workdir("/app".into()));
    let Instruction::Copy(c) = ins[3] else {
        panic!("{:?}", ins[3])
    };
    assert_eq!(
        (c.sources.clone(), c.dest.as_str()),
        (s(&["src/"]), "/app/src/")
    );
    assert_eq!(builder.steps[3].copy_from, Some(CopyFrom::Context));
    assert!(builder.steps[3].files_digest.is_some());
    assert_eq!(
        ins[4],
        &Instruction::Run {
            command: Command::Shell("echo building ${VERSION} > /app/version".into()),
            heredocs: vec![]
        }
    );
    assert_eq!(
        builder.steps[4].run_args,
        vec![("VERSION".into(), "2.5".into())]
    );

    let fin = &p.stages[1];
    assert_eq!(fin.base, Base::Image("busybox".into()));
    let ins: Vec<&Instruction> = fin.steps.iter().map(|s| &s.instruction).collect();
    // VERSION is not declared in this stage yet: $VERSION is empty on line 18.
    assert_eq!(
        ins[0],
        &Instruction::Label(vec![
            ("org.opencontainers.image.version".into(), "".into()),
            ("maintainer".into(), "me <me@example.com>".into())
        ])
    );
    assert_eq!(
        ins[2],
        &Instruction::Label(vec![
            ("version".into(), "2.5".into()),
            ("flavour".into(), "plain".into()),
            ("extra".into(), "yes".into())
        ])
    );
    let Instruction::Copy(c) = ins[3] else {
        panic!()
    };
    assert_eq!(c.from.as_deref(), Some("builder"));
    assert_eq!(c.chown.as_deref(), Some("1000:1000"));
    assert_eq!(c.chmod.as_deref(), Some("755"));
    assert_eq!(fin.steps[3].copy_from, Some(CopyFrom::Stage(0)));
    assert_eq!(
        ins[4],
        &Instruction::Expose(s(&["80/tcp", "53/udp", "8000-8010/tcp"]))
    );
    assert_eq!(ins[5], &Instruction::User("1000:1000".into()));
    assert_eq!(ins[6], &Instruction::StopSignal("SIGQUIT".into()));
    let Instruction::Healthcheck(h) = ins[7] else {
        panic!()
    };
    assert_eq!(
        h,
        &Healthcheck::Check {
            test: Command::Shell("wget -q -O- http://127.0.0.1/ || exit 1".into()),
            interval: 30_000_000_000,
            timeout: 90_000_000_000,
            start_period: 500_000_000,
            start_interval: 0,
            retries: 3,
        }
    );
    assert_eq!(
        h.test(),
        s(&["CMD-SHELL", "wget -q -O- http://127.0.0.1/ || exit 1"])
    );
    assert_eq!(ins[8], &Instruction::Volume(s(&["/data", "/logs"])));
    assert_eq!(
        ins[9],
        &Instruction::Entrypoint(Command::Exec(s(&["/bin/sh", "-c"])))
    );
    assert_eq!(
        ins[10],
        &Instruction::Cmd(Command::Exec(s(&["/bin/sh", "-c", "echo $GREETING"])))
    );
    assert_eq!(fin.steps[10].line, 28);

    // --target and --build-arg BASE change the plan.
    let p = plan(
        &cf,
        &PlanOptions {
            target: Some("UNUSED".into()),
            build_args: args(&[("BASE", "alpine")]),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(p.target, 1);
    assert_eq!(
        p.stages.iter().map(|s| s.index).collect::<Vec<_>>(),
        vec![0, 1]
    );
    assert_eq!(p.stages[0].base, Base::Image("alpine:latest".into()));
    assert_eq!(p.stages[1].base, Base::Scratch);
    assert_eq!(
        p.stages[0].steps[0].instruction,
        Instruction::Arg(vec![dermaga_image::containerfile::ArgDecl {
            name: "VERSION".into(),
            default: Some("1.0".into())
        }])
    );
    let e = plan(
        &cf,
        &PlanOptions {
            target: Some("nope".into()),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .ends_with("--target nope: no such stage (stages: builder, unused)"),
        "{e}"
    );
}

#[test]
fn containerfile_cache_keys_follow_inputs() {
    let cf = parse_file(&data("multistage.Containerfile")).unwrap();
    let ctx = context();
    let keys = |ignore: Option<&IgnoreRules>, ids: bool| -> Vec<Vec<String>> {
        let f = |n: &str| (n == "busybox").then(|| "b".repeat(64));
        let p = plan(
            &cf,
            &PlanOptions {
                context: Some(ctx.path()),
                ignore,
                image_id: if ids { Some(&f) } else { None },
                ..Default::default()
            },
        )
        .unwrap();
        p.stages
            .iter()
            .map(|s| s.steps.iter().map(|st| st.cache_key.clone()).collect())
            .collect()
    };
    let k1 = keys(None, false);
    assert_eq!(k1, keys(None, false), "deterministic");
    // A changed file under src/ changes the COPY step (index 3) and everything after it, in
    // both stages (the final stage copies from the builder), but not the steps before.
    std::fs::write(ctx.path().join("src/main.c"), "int main(){return 1;}\n").unwrap();
    let k2 = keys(None, false);
    assert_eq!(k1[0][..3], k2[0][..3]);
    assert!(k1[0][3..].iter().zip(&k2[0][3..]).all(|(a, b)| a != b));
    assert_eq!(k1[1][..3], k2[1][..3]);
    assert_ne!(k1[1][3], k2[1][3]);
    // A file outside the copied sources changes nothing.
    std::fs::write(ctx.path().join("a.txt"), "changed\n").unwrap();
    assert_eq!(k2, keys(None, false));
    // An ignored file changes nothing either.
    let rules = IgnoreRules::parse("**/*.log\n");
    let k3 = keys(Some(&rules), false);
    std::fs::write(ctx.path().join("src/debug.log"), "other noise\n").unwrap();
    assert_eq!(k3, keys(Some(&rules), false));
    assert_ne!(k3, keys(None, false));
    // The base image's id is part of the key.
    assert_ne!(keys(None, true)[1][0], keys(None, false)[1][0]);
}

#[test]
fn containerfile_heredocs_and_escape_directive() {
    let cf = parse_file(&data("heredoc.Dockerfile")).unwrap();
    let p = plan(&cf, &PlanOptions::default()).unwrap();
    let steps = &p.stages[0].steps;
    let Instruction::Run { command, heredocs } = &steps[1].instruction else {
        panic!()
    };
    assert_eq!(command, &Command::Shell("<<EOF".into()));
    assert_eq!(heredocs[0].body, "echo hello\necho $NAME\n");
    let Instruction::Copy(c) = &steps[2].instruction else {
        panic!()
    };
    assert_eq!(
        (c.dest.as_str(), c.heredocs[0].body.as_str()),
        ("/etc/greeting", "hello world\n")
    );
    let Instruction::Copy(c) = &steps[3].instruction else {
        panic!()
    };
    assert_eq!(c.heredocs[0].body, "$NAME stays\n");
    assert!(!c.heredocs[0].expand);
    assert_eq!(steps[3].line, 10);

    let cf = parse_file(&data("escape.Containerfile")).unwrap();
    assert_eq!(cf.escape, '`');
    let ins: Vec<_> = cf.stages[0]
        .instructions
        .iter()
        .map(|i| (i.line, i.value.clone()))
        .collect();
    assert_eq!(ins[0].0, 3);
    assert_eq!(
        ins[0].1,
        Instruction::Run {
            command: Command::Shell("echo a     b".into()),
            heredocs: vec![]
        }
    );
    assert_eq!(ins[1].0, 5);
    let p = plan(&cf, &PlanOptions::default()).unwrap();
    assert_eq!(
        p.stages[0].steps[2].instruction,
        Instruction::Label(vec![
            ("path".into(), "C:\\\\x".into()),
            ("lit".into(), "$HOME".into())
        ])
    );
}

/// (text, exact error) — every unsupported or malformed input names file and line.
#[test]
fn containerfile_errors_table() {
    let cases: &[(&str, &str)] = &[
        ("", "Containerfile:1: no FROM instruction: a Containerfile starts its first stage with FROM"),
        ("RUN true\nFROM a", "Containerfile:1: RUN before the first FROM (only ARG may come before FROM)"),
        ("FROM a\nFOO bar", "Containerfile:2: unknown instruction FOO (dermaga reads FROM RUN COPY ADD ENV ARG WORKDIR USER CMD ENTRYPOINT EXPOSE LABEL VOLUME STOPSIGNAL HEALTHCHECK SHELL ONBUILD MAINTAINER)"),
        ("FROM a\nRUN --mount=type=cache,target=/x true", "Containerfile:2: RUN --mount: not supported by dermaga (no RUN flags are)"),
        ("FROM a\nADD https://example.com/x.tgz /x", "Containerfile:2: ADD https://example.com/x.tgz: sources from URLs are not supported by dermaga; download in a RUN step or COPY a local file"),
        ("FROM a\nCOPY --link a /b", "Containerfile:2: COPY --link: not supported by dermaga"),
        ("FROM a\nADD --from=x a /b", "Containerfile:2: ADD --from: not supported by dermaga"),
        ("FROM a\nCOPY a", "Containerfile:2: COPY needs at least one source and a destination"),
        ("FROM a\nCOPY --chmod=u+x a /b", "Containerfile:2: COPY --chmod=u+x: expected an octal mode such as 755"),
        ("FROM a\nENV A", "Containerfile:2: ENV A needs a value (ENV A=VALUE)"),
        ("FROM a\nENV =x", "Containerfile:2: ENV =x: expected KEY=VALUE"),
        ("FROM a\nENV A=\"x", "Containerfile:2: unterminated \" quote"),
        ("FROM a\n\nSHELL /bin/bash -c", "Containerfile:3: SHELL takes a JSON array: SHELL [\"/bin/sh\", \"-c\"]"),
        ("FROM a\nHEALTHCHECK --interval=soon CMD true", "Containerfile:2: HEALTHCHECK --interval=soon: expected a duration such as 30s or 1m30s"),
        ("FROM a\nHEALTHCHECK --retries=0 CMD true", "Containerfile:2: HEALTHCHECK --retries=0: expected a number above 0"),
        ("FROM a\nHEALTHCHECK NONE --x", "Containerfile:2: HEALTHCHECK NONE takes no flags or arguments"),
        ("FROM a\nHEALTHCHECK true", "Containerfile:2: HEALTHCHECK takes NONE or [OPTIONS] CMD command"),
        ("FROM a\nONBUILD FROM b", "Containerfile:2: ONBUILD FROM: not allowed as a trigger"),
        ("FROM a AS 1x", "Containerfile:1: invalid stage name \"1x\": letters, digits, - _ . starting with a letter"),
        ("FROM a AS x\nFROM b AS X", "Containerfile:2: duplicate stage name \"x\""),
        ("FROM a b", "Containerfile:1: FROM takes IMAGE [AS NAME]"),
        ("FROM --network=host a", "Containerfile:1: FROM --network: not supported by dermaga"),
        ("FROM a\nRUN <<EOF\necho\n", "Containerfile:2: heredoc <<EOF is not terminated by a line EOF"),
        ("# escape=x\nFROM a", "Containerfile:1: escape directive: \"x\" is not \\ or `"),
        ("FROM a\nARG 9-x", "Containerfile:2: ARG 9-x: invalid name"),
        ("FROM a\nWORKDIR", "Containerfile:2: WORKDIR needs a path"),
    ];
    for (text, want) in cases {
        let got = parse("Containerfile", text)
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert_eq!(&got, want, "for {text:?}");
    }
    // Errors found while planning (expansion, values) also carry file:line.
    let plan_cases: &[(&str, &str)] = &[
        (
            "FROM a\nEXPOSE 80/xtp",
            "Containerfile:2: EXPOSE 80/xtp: protocol xtp is not tcp, udp or sctp",
        ),
        (
            "FROM a\nEXPOSE 0",
            "Containerfile:2: EXPOSE 0: not a port (1-65535) or port range",
        ),
        (
            "FROM a\nSTOPSIGNAL SIGNOPE",
            "Containerfile:2: STOPSIGNAL SIGNOPE: not a signal name or number",
        ),
        (
            "FROM a\nENV X=${Y:?must_be_given}",
            "Containerfile:2: Y: must_be_given",
        ),
        (
            "ARG B\nFROM ${B}",
            "Containerfile:2: FROM ${B}: expands to an empty name",
        ),
        (
            "FROM a\nCOPY --from=3 /x /y",
            "Containerfile:2: COPY --from=3: stage 3 is not an earlier stage",
        ),
    ];
    for (text, want) in plan_cases {
        let cf = parse("Containerfile", text).unwrap();
        let got = plan(&cf, &PlanOptions::default()).unwrap_err().to_string();
        assert_eq!(&got, want, "for {text:?}");
    }
}

/// COPY/ADD sources checked against the context: missing files, escapes, globs, ignores.
#[test]
fn containerfile_context_sources() {
    let ctx = context();
    let cases: &[(&str, Option<&str>)] = &[
        ("COPY src/*.c /x/", None),
        ("COPY a.txt src /x/", None),
        ("COPY . /x/", None),
        ("COPY ./src/../a.txt /x", None),
        (
            "COPY missing.txt /x",
            Some(
                "Containerfile:2: COPY missing.txt: no such file or directory in the build context",
            ),
        ),
        (
            "COPY *.none /x",
            Some("Containerfile:2: COPY *.none: no such file or directory in the build context"),
        ),
        (
            "COPY ../etc/passwd /x",
            Some("Containerfile:2: COPY ../etc/passwd: outside the build context"),
        ),
        (
            "COPY src/../../x /x",
            Some("Containerfile:2: COPY src/../../x: outside the build context"),
        ),
    ];
    for (line, want) in cases {
        let cf = parse("Containerfile", &format!("FROM a\n{line}")).unwrap();
        let got = plan(
            &cf,
            &PlanOptions {
                context: Some(ctx.path()),
                ..Default::default()
            },
        );
        match want {
            None => assert!(got.is_ok(), "{line}: {:?}", got.err()),
            Some(w) => assert_eq!(got.unwrap_err().to_string(), *w, "{line}"),
        }
    }
    // A glob and the explicit file it selects give the same digest.
    let digest = |line: &str| {
        let cf = parse("Containerfile", &format!("FROM a\n{line}")).unwrap();
        plan(
            &cf,
            &PlanOptions {
                context: Some(ctx.path()),
                ..Default::default()
            },
        )
        .unwrap()
        .stages[0]
            .steps[0]
            .files_digest
            .clone()
    };
    assert_eq!(digest("COPY src/*.c /x/"), digest("COPY src/main.c /x/"));
    assert_ne!(digest("COPY src /x/"), digest("COPY src/main.c /x/"));
    // Ignored files are not in the context.
    let rules = IgnoreRules::parse("*.txt\n");
    let cf = parse("Containerfile", "FROM a\nCOPY a.txt /x").unwrap();
    let e = plan(
        &cf,
        &PlanOptions {
            context: Some(ctx.path()),
            ignore: Some(&rules),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "Containerfile:2: COPY a.txt: no such file or directory in the build context"
    );
    // ADD of an xz archive is refused by name.
    std::fs::write(
        ctx.path().join("x.tar.xz"),
        [0xfd, b'7', b'z', b'X', b'Z', 0, 1, 2],
    )
    .unwrap();
    let cf = parse("Containerfile", "FROM a\nADD x.tar.xz /").unwrap();
    let e = plan(
        &cf,
        &PlanOptions {
            context: Some(ctx.path()),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("xz and bzip2 archives are not supported"),
        "{e}"
    );
}

/// Instruction forms, table-driven: text → the planned instruction.
#[test]
fn containerfile_instruction_table() {
    let cases: &[(&str, Instruction)] = &[
        (
            "ENV A B C",
            Instruction::Env(vec![("A".into(), "B C".into())]),
        ),
        (
            "ENV A=1 B=\"2 3\" C=a\\ b",
            Instruction::Env(vec![
                ("A".into(), "1".into()),
                ("B".into(), "2 3".into()),
                ("C".into(), "a b".into()),
            ]),
        ),
        (
            "LABEL \"com.x\"=y",
            Instruction::Label(vec![("com.x".into(), "y".into())]),
        ),
        (
            "MAINTAINER Jane <j@x>",
            Instruction::Label(vec![("maintainer".into(), "Jane <j@x>".into())]),
        ),
        ("WORKDIR a/b", Instruction::Workdir("/a/b".into())),
        (
            "CMD [\"a\", \"b\"]",
            Instruction::Cmd(Command::Exec(s(&["a", "b"]))),
        ),
        (
            "CMD [not json",
            Instruction::Cmd(Command::Exec(s(&["/bin/sh", "-c", "[not json"]))),
        ),
        (
            "ENTRYPOINT top -b",
            Instruction::Entrypoint(Command::Exec(s(&["/bin/sh", "-c", "top -b"]))),
        ),
        (
            "RUN [\"/bin/echo\", \"x\"]",
            Instruction::Run {
                command: Command::Exec(s(&["/bin/echo", "x"])),
                heredocs: vec![],
            },
        ),
        ("VOLUME /a /b", Instruction::Volume(s(&["/a", "/b"]))),
        ("STOPSIGNAL 9", Instruction::StopSignal("9".into())),
        (
            "STOPSIGNAL RTMIN+3",
            Instruction::StopSignal("RTMIN+3".into()),
        ),
        (
            "HEALTHCHECK NONE",
            Instruction::Healthcheck(Healthcheck::None),
        ),
        (
            "HEALTHCHECK CMD [\"/bin/true\"]",
            Instruction::Healthcheck(Healthcheck::Check {
                test: Command::Exec(s(&["/bin/true"])),
                interval: 0,
                timeout: 0,
                start_period: 0,
                start_interval: 0,
                retries: 0,
            }),
        ),
        (
            "SHELL [\"/bin/bash\", \"-ec\"]",
            Instruction::Shell(s(&["/bin/bash", "-ec"])),
        ),
        ("ONBUILD RUN make", Instruction::Onbuild("RUN make".into())),
        ("EXPOSE 8080/TCP", Instruction::Expose(s(&["8080/tcp"]))),
        ("USER ${U:-nobody}", Instruction::User("nobody".into())),
    ];
    for (line, want) in cases {
        let cf = parse("Containerfile", &format!("FROM a\n{line}")).unwrap();
        let p = plan(&cf, &PlanOptions::default()).unwrap();
        assert_eq!(&p.stages[0].steps[0].instruction, want, "{line}");
    }
    // SHELL changes how later shell forms run; WORKDIR is relative to the previous one.
    let cf = parse("Containerfile", "FROM a\nWORKDIR /x\nWORKDIR y/../z\nSHELL [\"/bin/bash\", \"-c\"]\nCMD ls\nCOPY a.txt rel/\n").unwrap();
    let p = plan(&cf, &PlanOptions::default()).unwrap();
    let ins: Vec<_> = p.stages[0]
        .steps
        .iter()
        .map(|s| s.instruction.clone())
        .collect();
    assert_eq!(ins[1], Instruction::Workdir("/x/z".into()));
    assert_eq!(
        ins[3],
        Instruction::Cmd(Command::Exec(s(&["/bin/bash", "-c", "ls"])))
    );
    let Instruction::Copy(c) = &ins[4] else {
        panic!()
    };
    assert_eq!(c.dest, "/x/z/rel/");
    // ENV on one line sees the values from before that line; ENV wins over ARG.
    let cf = parse(
        "Containerfile",
        "FROM a\nARG V=arg\nENV A=1\nENV A=2 B=$A\nENV V=env\nLABEL v=$V b=$B\n",
    )
    .unwrap();
    let p = plan(&cf, &PlanOptions::default()).unwrap();
    assert_eq!(
        p.stages[0].steps[4].instruction,
        Instruction::Label(vec![("v".into(), "env".into()), ("b".into(), "1".into())])
    );
    // Platform args: global automatically, in a stage only when declared.
    let cf = parse(
        "Containerfile",
        "FROM img-${TARGETARCH}\nLABEL a=x$TARGETARCH\nARG TARGETARCH\nLABEL b=$TARGETARCH\n",
    )
    .unwrap();
    let p = plan(
        &cf,
        &PlanOptions {
            platform: Some("linux/arm64".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(p.stages[0].base, Base::Image("img-arm64".into()));
    assert_eq!(
        p.stages[0].steps[0].instruction,
        Instruction::Label(vec![("a".into(), "x".into())])
    );
    assert_eq!(
        p.stages[0].steps[2].instruction,
        Instruction::Label(vec![("b".into(), "arm64".into())])
    );
    // FROM an earlier stage inherits its ENV; COPY --from by index.
    let cf = parse(
        "Containerfile",
        "FROM a AS one\nENV P=/opt\nFROM one\nWORKDIR $P\nCOPY --from=0 /x /y\n",
    )
    .unwrap();
    let p = plan(&cf, &PlanOptions::default()).unwrap();
    assert_eq!(p.stages[1].base, Base::Stage(0));
    assert_eq!(
        p.stages[1].steps[0].instruction,
        Instruction::Workdir("/opt".into())
    );
    assert_eq!(p.stages[1].steps[1].copy_from, Some(CopyFrom::Stage(0)));
    // COPY --from an image that is not a stage.
    let cf = parse(
        "Containerfile",
        "FROM a\nCOPY --from=docker.io/library/busybox:latest /bin/busybox /\n",
    )
    .unwrap();
    let p = plan(&cf, &PlanOptions::default()).unwrap();
    assert_eq!(
        p.stages[0].steps[0].copy_from,
        Some(CopyFrom::Image("docker.io/library/busybox:latest".into()))
    );
}
