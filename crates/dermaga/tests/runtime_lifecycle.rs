//! The runtime's command line end to end: create/start/state/kill/delete, run, exec, exit
//! codes, signals, list and ps, the console socket. Drives the built binary as
//! `dermaga runtime ...`, each test with its own `--root`.

mod runtime_support;

use std::collections::BTreeSet;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;
use std::time::Duration;

use dermaga_runtime::oci_spec::runtime::LinuxNamespaceType;
use runtime_support::{unique, Bundle, Runtime};

#[test]
fn exit_codes_propagate() {
    let rt = Runtime::dermaga();
    let b = Bundle::new("exit", &["sh", "-c", "echo out; echo err >&2; exit 7"]);
    let (code, out, err) = rt.run(&b, &unique("exit"));
    assert_eq!(code, 7, "stderr: {err}");
    assert_eq!(out, "out\n");
    assert!(err.contains("err"), "stderr: {err}");

    let b = Bundle::new("true", &["true"]);
    assert_eq!(rt.run(&b, &unique("true")).0, 0);

    // Killed by a signal: 128 + the signal, as a shell reports it. (A pid namespace's init
    // cannot be killed from inside, so this container shares the host's pid namespace.)
    let mut b = Bundle::new("sig", &["sh", "-c", "kill -KILL $$"]);
    b.edit(|s| {
        let mut l = s.linux().clone().unwrap();
        let ns = l
            .namespaces()
            .clone()
            .unwrap()
            .into_iter()
            .filter(|n| n.typ() != LinuxNamespaceType::Pid)
            .collect();
        l.set_namespaces(Some(ns));
        s.set_linux(Some(l));
    });
    assert_eq!(rt.run(&b, &unique("sig")).0, 137);
}

#[test]
fn missing_executable_is_reported_like_runc() {
    let rt = Runtime::dermaga();
    let b = Bundle::new("noexe", &["/nope"]);
    let id = unique("noexe");
    let o = rt.output(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no such file or directory"), "{err}");
    let b = Bundle::new("noexe2", &["nope"]);
    let o = rt.output(&[
        "run",
        "--bundle",
        b.path().to_str().unwrap(),
        &unique("noexe"),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("executable file not found in $PATH"), "{err}");
    // Nothing is left behind.
    assert_eq!(rt.ok(&["list", "-q"]), "");
}

#[test]
fn create_start_state_kill_delete() {
    let rt = Runtime::dermaga();
    let b = Bundle::new(
        "life",
        &[
            "sh",
            "-c",
            "trap 'exit 42' TERM; while true; do sleep 0.05; done",
        ],
    );
    let id = unique("life");
    let pid_file = b.path().join("pid");
    rt.ok_detached(
        &[
            "create",
            "--bundle",
            b.path().to_str().unwrap(),
            "--pid-file",
            pid_file.to_str().unwrap(),
            &id,
        ],
        b.path(),
    );
    let st = rt.state(&id);
    assert_eq!(st["status"], "created");
    assert_eq!(st["id"], id.as_str());
    let pid = st["pid"].as_i64().unwrap();
    assert!(pid > 0);
    assert_eq!(std::fs::read_to_string(&pid_file).unwrap(), pid.to_string());
    assert_eq!(
        st["bundle"],
        b.path().canonicalize().unwrap().to_str().unwrap()
    );
    assert_eq!(
        st["rootfs"],
        b.rootfs().canonicalize().unwrap().to_str().unwrap()
    );

    // The init has not run the command yet: it is still the runtime's image.
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    assert_ne!(comm.trim(), "sh");

    rt.ok(&["start", &id]);
    assert_eq!(rt.status(&id), "running");
    let o = rt.output(&["start", &id]);
    assert!(!o.status.success(), "a second start must fail");

    assert!(rt
        .ok(&["list"])
        .lines()
        .any(|l| l.starts_with(&id) && l.contains("running")));
    let ps = rt.ok(&["ps", "--format", "json", &id]);
    assert!(ps.contains(&pid.to_string()), "{ps}");

    // SIGTERM reaches the trap inside the container.
    rt.ok(&["kill", &id, "TERM"]);
    rt.wait_status(&id, "stopped");
    assert_eq!(rt.state(&id)["pid"], 0);
    rt.ok(&["delete", &id]);
    let o = rt.output(&["state", &id]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("does not exist"));
}

#[test]
fn delete_refuses_running_unless_forced() {
    let rt = Runtime::dermaga();
    let b = Bundle::new("del", &["sleep", "100"]);
    let id = unique("del");
    rt.ok_detached(
        &["run", "-d", "--bundle", b.path().to_str().unwrap(), &id],
        b.path(),
    );
    assert_eq!(rt.status(&id), "running");
    let o = rt.output(&["delete", &id]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("not stopped"));
    rt.ok(&["delete", "--force", &id]);
    assert_eq!(rt.ok(&["list", "-q"]), "");
    // Deleting what does not exist: an error, unless forced.
    assert!(!rt.output(&["delete", &id]).status.success());
    rt.ok(&["delete", "--force", &id]);
}

#[test]
fn kill_all_and_sigkill() {
    let rt = Runtime::dermaga();
    let b = Bundle::new("killall", &["sh", "-c", "sleep 100 & sleep 100 & wait"]);
    let id = unique("killall");
    rt.ok_detached(
        &["run", "-d", "--bundle", b.path().to_str().unwrap(), &id],
        b.path(),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let pids: Vec<i64> = runtime_support_json(&rt.ok(&["ps", "--format", "json", &id]));
        if pids.len() == 3 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "expected 3 processes, got {pids:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    rt.ok(&["kill", "--all", &id, "KILL"]);
    rt.wait_status(&id, "stopped");
    rt.ok(&["delete", &id]);
}

fn runtime_support_json(s: &str) -> Vec<i64> {
    dermaga_runtime::serde_json::from_str(s).unwrap()
}

#[test]
fn exec_runs_inside_the_container() {
    let rt = Runtime::dermaga();
    let b = Bundle::new("exec", &["sleep", "100"]);
    let id = unique("exec");
    rt.ok_detached(
        &["run", "-d", "--bundle", b.path().to_str().unwrap(), &id],
        b.path(),
    );

    assert_eq!(rt.ok(&["exec", &id, "hostname"]), "dermaga-test\n");
    // Same pid namespace: the init is pid 1 and the exec'd ps sees it.
    let ps = rt.ok(&["exec", &id, "ps", "-o", "pid,comm"]);
    assert!(
        ps.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["1", "sleep"]),
        "{ps}"
    );
    // Exit codes, environment, working directory and user overrides.
    let o = rt.output(&["exec", &id, "sh", "-c", "exit 5"]);
    assert_eq!(o.status.code(), Some(5));
    assert_eq!(
        rt.ok(&["exec", "--env", "FOO=bar", &id, "sh", "-c", "echo $FOO"]),
        "bar\n"
    );
    assert_eq!(rt.ok(&["exec", "--cwd", "/tmp", &id, "pwd"]), "/tmp\n");
    assert_eq!(
        rt.ok(&["exec", "--user", "65534:65534", &id, "id", "-u"]),
        "65534\n"
    );

    // --process FILE, detached, with a pid file.
    let pf = b.path().join("exec.pid");
    let proc_json = b.path().join("process.json");
    let mut p = b.spec.process().clone().unwrap();
    p.set_args(Some(vec!["sleep".into(), "30".into()]));
    std::fs::write(
        &proc_json,
        dermaga_runtime::serde_json::to_string(&p).unwrap(),
    )
    .unwrap();
    rt.ok_detached(
        &[
            "exec",
            "--process",
            proc_json.to_str().unwrap(),
            "-d",
            "--pid-file",
            pf.to_str().unwrap(),
            &id,
        ],
        b.path(),
    );
    let pid: i32 = std::fs::read_to_string(&pf).unwrap().parse().unwrap();
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    let pids: Vec<i64> = runtime_support_json(&rt.ok(&["ps", "--format", "json", &id]));
    assert!(
        pids.contains(&(pid as i64)),
        "exec'd process not in the container's cgroup: {pids:?}"
    );

    rt.ok(&["delete", "--force", &id]);
}

#[test]
fn console_socket_receives_the_pty_master() {
    let rt = Runtime::dermaga();
    let mut b = Bundle::new(
        "tty",
        &[
            "sh",
            "-c",
            "test -t 0 && test -t 1 && echo tty-ok; readlink /proc/self/fd/0",
        ],
    );
    b.edit(|s| {
        let mut p = s.process().clone().unwrap();
        p.set_terminal(Some(true));
        s.set_process(Some(p));
    });
    let id = unique("tty");
    let sock_path = b.path().join("console.sock");
    let listener = UnixListener::bind(&sock_path).unwrap();
    let mut child = rt
        .command(&[
            "run",
            "--bundle",
            b.path().to_str().unwrap(),
            "--console-socket",
            sock_path.to_str().unwrap(),
            &id,
        ])
        .spawn()
        .unwrap();
    let (conn, _) = listener.accept().unwrap();
    let master =
        dermaga_runtime::console::recv_fd(conn.as_raw_fd()).expect("pty master over SCM_RIGHTS");
    let mut out = Vec::new();
    let mut f = std::fs::File::from(master);
    // Read until the slave side closes (EIO on Linux).
    let _ = std::io::Read::read_to_end(&mut f, &mut out);
    let status = child.wait().unwrap();
    assert!(status.success(), "run with a terminal failed: {status}");
    let text = String::from_utf8_lossy(&out);
    assert!(text.contains("tty-ok"), "{text:?}");
    assert!(text.contains("/dev/pts/"), "{text:?}");
}

#[test]
fn state_json_has_runcs_shape() {
    let ours = Runtime::dermaga();
    let runc = Runtime::runc();
    let b = Bundle::new("shape", &["sleep", "100"]);
    let (id1, id2) = (unique("shape"), unique("shape"));
    ours.ok_detached(
        &["create", "--bundle", b.path().to_str().unwrap(), &id1],
        b.path(),
    );
    runc.ok_detached(
        &["create", "--bundle", b.path().to_str().unwrap(), &id2],
        b.path(),
    );
    let keys = |v: &dermaga_runtime::serde_json::Value| {
        v.as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<BTreeSet<_>>()
    };
    let (a, b) = (ours.state(&id1), runc.state(&id2));
    assert_eq!(keys(&a), keys(&b), "ours {a}\nrunc {b}");
    assert_eq!(a["status"], b["status"]);
    assert_eq!(a["bundle"], b["bundle"]);
    assert_eq!(a["rootfs"], b["rootfs"]);
    // The raw text too: two-space pretty JSON without a trailing newline, fields in order.
    let raw_ours = ours.ok(&["state", &id1]);
    let raw_runc = runc.ok(&["state", &id2]);
    let field_order = |s: &str| {
        s.lines()
            .filter_map(|l| l.trim().split('"').nth(1).map(String::from))
            .collect::<Vec<_>>()
    };
    assert_eq!(field_order(&raw_ours), field_order(&raw_runc));
    assert!(!raw_ours.ends_with('\n') && !raw_runc.ends_with('\n'));

    ours.ok(&["start", &id1]);
    runc.ok(&["start", &id2]);
    assert_eq!(ours.status(&id1), "running");
    assert_eq!(runc.status(&id2), "running");
    ours.ok(&["kill", &id1, "KILL"]);
    runc.ok(&["kill", &id2, "KILL"]);
    ours.wait_status(&id1, "stopped");
    runc.wait_status(&id2, "stopped");
    assert_eq!(ours.state(&id1)["pid"], runc.state(&id2)["pid"]);
    ours.ok(&["delete", &id1]);
    runc.ok(&["delete", &id2]);

    // The list tables have the same header.
    let head = |s: String| {
        s.lines()
            .next()
            .unwrap_or("")
            .split_whitespace()
            .map(String::from)
            .collect::<Vec<_>>()
    };
    assert_eq!(head(ours.ok(&["list"])), head(runc.ok(&["list"])));
}

#[test]
fn invoked_as_dermaga_runtime_with_a_json_log() {
    let dir = runtime_support::TempDir::new("link");
    let link = dir.path().join("dermaga-runtime");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_dermaga"), &link).unwrap();
    let log = dir.path().join("log.json");
    let o = std::process::Command::new(&link)
        .args(["--root", dir.path().join("root").to_str().unwrap()])
        .args([
            "--log",
            log.to_str().unwrap(),
            "--log-format",
            "json",
            "state",
            "nope",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("container does not exist: nope"));
    let line = std::fs::read_to_string(&log).unwrap();
    let v: dermaga_runtime::serde_json::Value =
        dermaga_runtime::serde_json::from_str(line.trim()).unwrap();
    assert_eq!(v["level"], "error");
    assert_eq!(v["msg"], "container does not exist: nope");
    assert!(v["time"].as_str().unwrap().ends_with('Z'));
}

/// A foreground `exec -t` without `--console-socket`: the runtime keeps the terminal and
/// copies it to its own stdio, as runc does; same result from both.
#[test]
fn exec_tty_without_console_socket_like_runc() {
    for rt in [Runtime::dermaga(), Runtime::runc()] {
        let b = Bundle::new("exec-tty", &["sleep", "100"]);
        let id = unique("exectty");
        rt.ok_detached(
            &["run", "-d", "--bundle", b.path().to_str().unwrap(), &id],
            b.path(),
        );
        let cmd = rt.command(&["exec", "-t", &id, "sh", "-c", "tty; exit 6"]);
        let mut line: Vec<String> = vec![cmd.get_program().to_string_lossy().into_owned()];
        line.extend(cmd.get_args().map(|a| {
            let a = a.to_string_lossy();
            if a.contains(' ') {
                format!("'{a}'")
            } else {
                a.into_owned()
            }
        }));
        let out = std::process::Command::new("script")
            .args(["-qec", &line.join(" "), "/dev/null"])
            .stdin(std::process::Stdio::null())
            .output()
            .expect("script(1) from util-linux");
        let which = if rt.runc { "runc" } else { "dermaga runtime" };
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("/dev/pts/"),
            "{which}: {out:?}"
        );
        assert_eq!(out.status.code(), Some(6), "{which}: {out:?}");
        rt.ok(&["delete", "--force", &id]);
    }
}
