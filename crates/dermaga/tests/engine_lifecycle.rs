//! Container lifecycle through the command line: run (attached and -d) with --rm, exit codes,
//! ps, logs, stop/kill/rm, exec, inspect, wait, cp, volumes, top, stats.

mod engine_support;

use engine_support::{Store, IMAGE};

#[test]
fn run_attached_exit_codes_and_output() {
    let s = Store::new("attached");
    let (code, out, _) = s.run(&["run", "--rm", IMAGE, "echo", "hello"]);
    assert_eq!((code, out.as_str()), (0, "hello\n"));
    let (code, _, _) = s.run(&["run", "--rm", IMAGE, "sh", "-c", "exit 3"]);
    assert_eq!(code, 3);
    let (code, out, err) = s.run(&["run", "--rm", IMAGE, "sh", "-c", "echo out; echo err >&2"]);
    assert_eq!((code, out.as_str(), err.as_str()), (0, "out\n", "err\n"));
    // The init starts on another CPU than the engine's and is given every CPU back before
    // the container's command runs: the container may use the CPUs its caller may.
    let cpus = |status: &str| {
        status
            .lines()
            .find(|l| l.starts_with("Cpus_allowed_list:"))
            .map(str::to_string)
    };
    let ours = cpus(&std::fs::read_to_string("/proc/self/status").unwrap());
    assert!(ours.is_some());
    let (code, out, err) = s.run(&["run", "--rm", IMAGE, "cat", "/proc/self/status"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(cpus(&out), ours);
    let (code, out, err) = s.run(&["run", "--rm", IMAGE, "sh", "-c", "cat /proc/self/status"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(cpus(&out), ours, "a child of the container's init");
    // Not found: 127; not executable: 126; engine error: 125.
    let (code, _, err) = s.run(&["run", "--rm", IMAGE, "no-such-command"]);
    assert_eq!(code, 127, "{err}");
    let (code, _, err) = s.run(&["run", "--rm", IMAGE, "/bin/not-executable"]);
    assert_eq!(code, 126, "{err}");
    let (code, _, err) = s.run(&["run", "--rm", "localhost/no-such-image", "true"]);
    assert_eq!(code, 125);
    assert!(err.contains("dermaga images"), "{err}");
    // Killed by a signal: 128 + n (the container's init ignores signals from inside, so a
    // child is killed and the shell passes its status on).
    let (code, _, _) = s.run(&[
        "run",
        "--rm",
        IMAGE,
        "sh",
        "-c",
        "sh -c 'kill -9 $$'; exit $?",
    ]);
    assert_eq!(code, 137);
    // --rm leaves nothing behind.
    assert_eq!(s.ok(&["ps", "-a", "-q"]), "");
    // -p is refused by name.
    let (code, _, err) = s.run(&["run", "--rm", "-p", "8080:80", IMAGE, "true"]);
    assert_eq!(code, 125);
    assert!(err.contains("--publish"), "{err}");
    // stdin with -i.
    let mut child = s
        .cmd(&["run", "--rm", "-i", IMAGE, "cat"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"piped input\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "piped input\n");
}

#[test]
fn detached_lifecycle_logs_exec_inspect() {
    let s = Store::new("detached");
    let id = s.ok(&["run", "-d", "--name", "web", "-e", "GREETING=hi", IMAGE, "sh", "-c",
        "echo started; echo $GREETING >&2; trap 'echo bye; exit 0' TERM; while true; do sleep 0.1; done"]);
    let id = id.trim();
    assert_eq!(id.len(), 64);
    let ps = s.ok(&["ps"]);
    assert!(ps.contains("web") && ps.contains(&id[..12]), "{ps}");
    assert_eq!(
        s.ok(&["ps", "--format", "{{.ID}} {{.Names}} {{.State}}"]),
        format!("{} web running\n", &id[..12])
    );
    // The name is taken.
    let (code, _, err) = s.run(&["run", "-d", "--name", "web", IMAGE, "true"]);
    assert_eq!(code, 125);
    assert!(err.contains("already in use"), "{err}");
    // An attached run mounts its overlay while it records the container: refused for the
    // name, it leaves neither a mount nor a directory behind.
    let (code, _, err) = s.run(&["run", "--rm", "--name", "web", IMAGE, "true"]);
    assert_eq!(code, 125);
    assert!(err.contains("already in use"), "{err}");
    let dirs: Vec<_> = std::fs::read_dir(s.root.join("containers"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(dirs, [id.to_string()]);
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let ours = mounts
        .lines()
        .filter(|l| l.contains(s.root.join("containers").to_str().unwrap()))
        .count();
    assert_eq!(ours, 1, "only web's overlay:\n{mounts}");
    // Logs, with and without timestamps.
    let mut logs = String::new();
    for _ in 0..100 {
        logs = s.ok(&["logs", "web"]);
        if logs.contains("started") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(logs, "started\n");
    let out = s.dermaga(&["logs", "-t", "web"]);
    let stamped = String::from_utf8_lossy(&out.stdout);
    assert!(
        stamped.ends_with(" started\n") && stamped.starts_with("20"),
        "{stamped}"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "{} hi\n",
            String::from_utf8_lossy(&out.stderr)
                .split(' ')
                .next()
                .unwrap()
        )
    );
    // exec: output, exit codes, env, workdir, user.
    assert_eq!(s.ok(&["exec", "web", "echo", "in"]), "in\n");
    assert_eq!(s.run(&["exec", "web", "sh", "-c", "exit 5"]).0, 5);
    assert_eq!(s.run(&["exec", "web", "no-such-command"]).0, 127);
    assert_eq!(
        s.ok(&["exec", "-e", "X=1", "web", "sh", "-c", "echo $X $GREETING"]),
        "1 hi\n"
    );
    assert_eq!(s.ok(&["exec", "-w", "/tmp", "web", "pwd"]), "/tmp\n");
    assert_eq!(s.ok(&["exec", "-u", "app", "web", "id", "-u"]), "1000\n");
    // inspect.
    let pid = s.ok(&["inspect", "--format", "{{.State.Pid}}", "web"]);
    assert!(pid.trim().parse::<i32>().unwrap() > 1, "{pid}");
    assert_eq!(
        s.ok(&[
            "inspect",
            "-f",
            "{{.ID}} {{.Name}} {{.State.Status}}",
            "web"
        ]),
        format!("{id} web running\n")
    );
    let json: serde_json::Value = serde_json::from_str(&s.ok(&["inspect", "web"])).unwrap();
    assert_eq!(json[0]["Id"], id);
    assert_eq!(json[0]["State"]["Running"], true);
    assert!(json[0]["Config"]["Env"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e == "GREETING=hi"));
    // top sees the shell as pid 1.
    let top = s.ok(&["top", "web"]);
    assert!(
        top.starts_with("USER")
            && top
                .lines()
                .any(|l| l.split_whitespace().nth(1) == Some("1")),
        "{top}"
    );
    let stats = s.ok(&["stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}"]);
    assert!(stats.starts_with("web "), "{stats}");
    // stop: the TERM trap runs and the exit is recorded.
    assert_eq!(s.ok(&["stop", "web"]), "web\n");
    assert_eq!(
        s.ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}}",
            "web"
        ]),
        "exited 0\n"
    );
    assert!(s.ok(&["logs", "web"]).contains("bye"));
    assert_eq!(s.ok(&["ps", "-q"]), "");
    assert!(s.ok(&["ps", "-a"]).contains("Exited (0)"));
    // start again, kill, wait.
    assert_eq!(s.ok(&["start", "web"]), "web\n");
    assert_eq!(
        s.ok(&["inspect", "-f", "{{.State.Running}}", "web"]),
        "true\n"
    );
    s.ok(&["kill", "web"]);
    assert_eq!(s.ok(&["wait", "web"]), "137\n");
    // rm, and rm of a running container needs -f.
    s.ok(&["start", "web"]);
    let (code, _, err) = s.run(&["rm", "web"]);
    assert_eq!(code, 2);
    assert!(err.contains("running"), "{err}");
    assert_eq!(s.ok(&["rm", "-f", "web"]), "web\n");
    assert_eq!(s.ok(&["ps", "-a", "-q"]), "");
    let (code, _, err) = s.run(&["logs", "web"]);
    assert_eq!(code, 125);
    assert!(err.contains("no such container"), "{err}");
}

#[test]
fn create_start_wait_and_restart() {
    let s = Store::new("create");
    let id = s.ok(&[
        "create",
        "--name",
        "job",
        IMAGE,
        "sh",
        "-c",
        "echo ran; exit 7",
    ]);
    assert_eq!(
        s.ok(&["ps", "-a", "--format", "{{.Names}} {{.State}}"]),
        "job created\n"
    );
    assert_eq!(s.ok(&["start", id.trim()]), format!("{}\n", id.trim()));
    assert_eq!(s.ok(&["wait", "job"]), "7\n");
    assert_eq!(s.ok(&["logs", "job"]), "ran\n");
    s.ok(&["restart", "job"]);
    assert_eq!(s.ok(&["wait", "job"]), "7\n");
    assert_eq!(s.ok(&["logs", "--tail", "1", "job"]), "ran\n");
    assert_eq!(s.ok(&["logs", "job"]), "ran\nran\n");
    // -d --rm: the monitor removes it when it exits.
    let id = s.ok(&["run", "-d", "--rm", IMAGE, "true"]);
    for _ in 0..200 {
        if !s.ok(&["ps", "-a", "-q", "--no-trunc"]).contains(id.trim()) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(!s.ok(&["ps", "-a", "-q", "--no-trunc"]).contains(id.trim()));
    // logs -f follows until the container exits.
    s.ok(&[
        "run",
        "-d",
        "--name",
        "talker",
        IMAGE,
        "sh",
        "-c",
        "echo a; sleep 0.5; echo b",
    ]);
    assert_eq!(s.ok(&["logs", "-f", "talker"]), "a\nb\n");
    // --stop-signal, --label, --env-file.
    let envf = s.base().join("env");
    std::fs::write(&envf, "# comment\nFROM_FILE=yes\n").unwrap();
    s.ok(&[
        "run",
        "-d",
        "--name",
        "sig",
        "--stop-signal",
        "USR1",
        "--label",
        "tier=web",
        "--env-file",
        envf.to_str().unwrap(),
        IMAGE,
        "sh",
        "-c",
        "trap 'exit 3' USR1; echo $FROM_FILE; while true; do sleep 0.1; done",
    ]);
    assert_eq!(
        s.ok(&["ps", "--filter", "label=tier=web", "--format", "{{.Names}}"]),
        "sig\n"
    );
    s.ok(&["stop", "sig"]);
    assert_eq!(
        s.ok(&[
            "inspect",
            "-f",
            "{{.State.ExitCode}} {{.Config.StopSignal}}",
            "sig"
        ]),
        "3 SIGUSR1\n"
    );
    assert_eq!(s.ok(&["logs", "sig"]), "yes\n");
    let filtered = s.ok(&["ps", "-a", "--filter", "exited=7", "--format", "{{.Names}}"]);
    assert_eq!(filtered, "job\n");
    let json: serde_json::Value =
        serde_json::from_str(&s.ok(&["ps", "-a", "--format", "json"])).unwrap();
    // Newest first, as podman lists them.
    let names: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["Names"][0].as_str().unwrap())
        .collect();
    assert_eq!(names, ["sig", "talker", "job"]);
}

#[test]
fn volumes_binds_and_cp() {
    let s = Store::new("volumes");
    assert_eq!(s.ok(&["volume", "create", "data"]), "data\n");
    s.ok(&[
        "run",
        "--rm",
        "-v",
        "data:/data",
        IMAGE,
        "sh",
        "-c",
        "echo kept > /data/f",
    ]);
    assert_eq!(
        s.ok(&[
            "run",
            "--rm",
            "-v",
            "data:/data:ro",
            IMAGE,
            "cat",
            "/data/f"
        ]),
        "kept\n"
    );
    let (code, _, _) = s.run(&[
        "run",
        "--rm",
        "-v",
        "data:/data:ro",
        IMAGE,
        "touch",
        "/data/g",
    ]);
    assert_ne!(code, 0, "a read-only volume took a write");
    assert!(s.ok(&["volume", "ls"]).contains("data"));
    let mp = s.ok(&["volume", "inspect", "--format", "{{.Mountpoint}}", "data"]);
    assert_eq!(
        std::fs::read_to_string(format!("{}/f", mp.trim())).unwrap(),
        "kept\n"
    );
    // In use: rm refuses.
    s.ok(&[
        "create",
        "--name",
        "user",
        "-v",
        "data:/data",
        IMAGE,
        "true",
    ]);
    let (code, _, err) = s.run(&["volume", "rm", "data"]);
    assert_ne!(code, 0);
    assert!(err.contains("being used"), "{err}");
    s.ok(&["rm", "user"]);
    assert_eq!(s.ok(&["volume", "rm", "data"]), "data\n");
    s.ok(&["volume", "create", "spare"]);
    assert_eq!(s.ok(&["volume", "prune", "-f"]), "spare\n");
    // A bind mount and --mount, --tmpfs.
    let host = s.base().join("hostdir");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("in"), "from host\n").unwrap();
    let bind = format!("{}:/mnt", host.display());
    assert_eq!(
        s.ok(&["run", "--rm", "-v", &bind, IMAGE, "cat", "/mnt/in"]),
        "from host\n"
    );
    let m = format!("type=bind,source={},target=/m,readonly", host.display());
    assert_eq!(
        s.run(&["run", "--rm", "--mount", &m, IMAGE, "touch", "/m/x"])
            .0,
        1
    );
    assert_eq!(
        s.ok(&[
            "run",
            "--rm",
            "--tmpfs",
            "/scratch",
            IMAGE,
            "sh",
            "-c",
            "mount | grep -c ' /scratch type tmpfs'"
        ]),
        "1\n"
    );
    // cp both ways, running or not.
    s.ok(&["create", "--name", "box", IMAGE, "cat", "/etc/copied"]);
    s.ok(&["cp", host.join("in").to_str().unwrap(), "box:/etc/copied"]);
    s.ok(&["start", "box"]);
    assert_eq!(s.ok(&["wait", "box"]), "0\n");
    assert_eq!(s.ok(&["logs", "box"]), "from host\n");
    let back = s.base().join("back");
    s.ok(&["cp", "box:/etc/copied", back.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&back).unwrap(), "from host\n");
    assert_ne!(s.run(&["cp", "box:/no/such", back.to_str().unwrap()]).0, 0);
}

#[test]
fn runtime_flag_selects_runc() {
    let s = Store::new("runc");
    // Our own runtime unless told otherwise.
    s.ok(&["create", "--name", "own", IMAGE, "true"]);
    assert_eq!(
        s.ok(&["inspect", "-f", "{{.OCIRuntime}}", "own"]),
        "dermaga\n"
    );
    // --runtime PATH drives runc through the same command line, and sticks to the container.
    let run = |args: &[&str]| {
        let mut a = vec!["--runtime", "/usr/sbin/runc"];
        a.extend_from_slice(args);
        s.ok(&a)
    };
    assert_eq!(
        run(&["run", "--rm", IMAGE, "echo", "via runc"]),
        "via runc\n"
    );
    run(&["run", "-d", "--name", "r", IMAGE, "sleep", "1000"]);
    assert_eq!(s.ok(&["inspect", "-f", "{{.OCIRuntime}}", "r"]), "runc\n");
    assert_eq!(
        s.ok(&["exec", "r", "echo", "exec via runc"]),
        "exec via runc\n"
    );
    assert_eq!(s.ok(&["stop", "-t", "0", "r"]), "r\n");
    assert_eq!(
        s.ok(&["inspect", "-f", "{{.State.ExitCode}}", "r"]),
        "137\n"
    );
    assert_eq!(s.ok(&["system", "check"]), "No problems found\n");
}

/// Our own runtime (called in-process by the monitor and by `exec`) and runc (through its
/// command line) give a container the same streams, exit codes and descriptors.
#[test]
fn own_runtime_and_runc_give_the_same_streams() {
    for runtime in [None, Some("/usr/sbin/runc")] {
        let mut s = Store::new("streams");
        s.runtime = runtime.map(String::from);
        let which = runtime.unwrap_or("own runtime");
        // The store's first run notes the rlimits this host keeps (once per store).
        s.ok(&["run", "--rm", IMAGE, "true"]);
        let (code, out, err) = s.run(&["run", "--rm", IMAGE, "sh", "-c", "echo out; echo err >&2"]);
        assert_eq!(
            (code, out.as_str(), err.as_str()),
            (0, "out\n", "err\n"),
            "{which}"
        );
        assert_eq!(
            s.run(&["run", "--rm", IMAGE, "sh", "-c", "exit 3"]).0,
            3,
            "{which}"
        );
        assert_eq!(
            s.run(&["run", "--rm", IMAGE, "no-such-command"]).0,
            127,
            "{which}"
        );
        // Nothing of the monitor's leaks into the container: only its three streams (and the
        // directory `ls` opens).
        assert_eq!(
            s.ok(&["run", "--rm", IMAGE, "ls", "/proc/self/fd"]),
            "0\n1\n2\n3\n",
            "{which}"
        );
        let piped = |args: &[&str], input: &[u8]| {
            let mut child = s
                .cmd(args)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            use std::io::Write;
            child.stdin.take().unwrap().write_all(input).unwrap();
            let out = child.wait_with_output().unwrap();
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        assert_eq!(
            piped(&["run", "--rm", "-i", IMAGE, "cat"], b"to run\n"),
            "to run\n",
            "{which}"
        );
        // A terminal with -t (script(1) gives the command one).
        let mut args = vec!["--root".to_string(), s.root.display().to_string()];
        args.extend(["--runroot".into(), s.runroot.display().to_string()]);
        if let Some(rt) = runtime {
            args.extend(["--runtime".into(), rt.into()]);
        }
        args.extend(["run", "--rm", "-t", IMAGE, "tty"].map(String::from));
        let in_terminal = |args: &[String]| {
            let line = format!("{} {}", env!("CARGO_BIN_EXE_dermaga"), args.join(" "));
            std::process::Command::new("script")
                .args(["-qec", &line, "/dev/null"])
                .stdin(std::process::Stdio::null())
                .output()
                .expect("script(1) from util-linux")
        };
        let out = in_terminal(&args);
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("/dev/pts/0"),
            "{which}: {out:?}"
        );

        // exec into a detached container: streams, stdin, -d, exit codes.
        s.ok(&["run", "-d", "--name", "box", IMAGE, "sleep", "1000"]);
        let pid = s.ok(&["inspect", "-f", "{{.State.Pid}}", "box"]);
        let fds: Vec<String> = std::fs::read_dir(format!("/proc/{}/fd", pid.trim()))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        let mut fds = fds;
        fds.sort();
        assert_eq!(fds, ["0", "1", "2"], "{which}");
        let (code, out, err) = s.run(&["exec", "box", "sh", "-c", "echo in; echo e >&2; exit 4"]);
        assert_eq!(
            (code, out.as_str(), err.as_str()),
            (4, "in\n", "e\n"),
            "{which}"
        );
        assert_eq!(
            piped(&["exec", "-i", "box", "cat"], b"to exec\n"),
            "to exec\n"
        );
        assert_eq!(
            s.ok(&["exec", "box", "ls", "/proc/self/fd"]),
            "0\n1\n2\n3\n"
        );
        assert_eq!(s.run(&["exec", "box", "no-such-command"]).0, 127, "{which}");
        assert_eq!(s.ok(&["exec", "-d", "box", "touch", "/tmp/mark"]), "");
        let mut marked = false;
        for _ in 0..200 {
            if s.run(&["exec", "box", "test", "-f", "/tmp/mark"]).0 == 0 {
                marked = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(marked, "{which}: exec -d did not run");
        // exec -t: the process gets a terminal of the container's own, and its exit code.
        let mut args = args[..args.len() - 5].to_vec();
        args.extend(["exec", "-t", "box", "sh", "-c", "'tty; exit 6'"].map(String::from));
        let out = in_terminal(&args);
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("/dev/pts/"),
            "{which}: {out:?}"
        );
        assert_eq!(out.status.code(), Some(6), "{which}: {out:?}");
        assert_eq!(s.ok(&["stop", "-t", "0", "box"]), "box\n");
        assert_eq!(s.ok(&["system", "check"]), "No problems found\n", "{which}");
    }
}

/// The run root (a tmpfs) holds the bundle, the /etc files and the monitor's lock; a reboot
/// empties it, and a stopped container starts again as before, its files written anew.
#[test]
fn starts_again_after_the_run_root_is_emptied() {
    let s = Store::new("runroot");
    s.ok(&["create", "--name", "again", IMAGE, "cat", "/etc/hostname"]);
    let first = s.ok(&["start", "-a", "again"]);
    std::fs::remove_dir_all(&s.runroot).unwrap();
    assert_eq!(s.ok(&["start", "-a", "again"]), first);
    assert_eq!(s.ok(&["system", "check"]), "No problems found\n");
    s.ok(&["rm", "again"]);
    assert!(
        !s.runroot.join("containers").exists()
            || std::fs::read_dir(s.runroot.join("containers"))
                .unwrap()
                .next()
                .is_none(),
        "rm leaves nothing in the run root"
    );
}
