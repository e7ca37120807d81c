//! Concurrency and crash safety: 20 concurrent `run --rm`; kill -9 of a monitor and of the
//! command line at awkward moments, then `system check` finds and repairs what is left.

mod engine_support;

use std::time::Duration;

use engine_support::{Store, IMAGE};

fn mounted_under(dir: &std::path::Path) -> Vec<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let d = dir.to_string_lossy().into_owned();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.starts_with(&d))
        .map(str::to_string)
        .collect()
}

#[test]
fn twenty_concurrent_runs() {
    let s = Store::new("concurrent");
    let children: Vec<_> = (0..20)
        .map(|i| {
            s.cmd(&[
                "run",
                "--rm",
                "--name",
                &format!("c{i}"),
                IMAGE,
                "sh",
                "-c",
                &format!("echo run{i}"),
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    for (i, c) in children.into_iter().enumerate() {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "run {i}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), format!("run{i}\n"));
    }
    assert_eq!(s.ok(&["ps", "-a", "-q"]), "");
    assert_eq!(s.ok(&["system", "check"]), "No problems found\n");
    assert!(mounted_under(&s.root).is_empty());
}

fn alive(pid: i32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

#[test]
fn monitor_killed_then_system_check() {
    let s = Store::new("monitor-kill");
    s.ok(&["run", "-d", "--name", "victim", IMAGE, "sleep", "1000"]);
    let pids = s.ok(&[
        "inspect",
        "-f",
        "{{.State.ConmonPid}} {{.State.Pid}}",
        "victim",
    ]);
    let v: Vec<i32> = pids
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    let (monitor, ctr) = (v[0], v[1]);
    assert!(alive(monitor) && alive(ctr));
    let st = std::process::Command::new("kill")
        .arg("-9")
        .arg(monitor.to_string())
        .status()
        .unwrap();
    assert!(st.success());
    std::thread::sleep(Duration::from_millis(100));
    let (code, out, _) = s.run(&["system", "check"]);
    assert_eq!(code, 125);
    assert!(
        out.contains("victim") && out.contains("monitor is gone"),
        "{out}"
    );
    let out = s.ok(&["system", "check", "--repair"]);
    assert!(out.contains("repaired"), "{out}");
    assert_eq!(s.ok(&["system", "check"]), "No problems found\n");
    assert_eq!(
        s.ok(&["ps", "-a", "--format", "{{.Names}} {{.State}}"]),
        "victim exited\n"
    );
    assert!(
        !alive(ctr),
        "the container process {ctr} outlived the repair"
    );
    assert!(mounted_under(&s.root).is_empty());
    // The store works on: start it again.
    s.ok(&["start", "victim"]);
    s.ok(&["rm", "-f", "victim"]);
}

#[test]
fn cli_killed_at_awkward_moments() {
    let s = Store::new("cli-kill");
    // Kill the attached command line at moments from "just started" to "container running".
    for (i, delay_ms) in [0u64, 5, 10, 20, 40, 80, 150, 300, 600, 1000]
        .into_iter()
        .enumerate()
    {
        let mut child = s
            .cmd(&[
                "run",
                "--rm",
                "--name",
                &format!("k{i}"),
                IMAGE,
                "sleep",
                "1001",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let _ = s.ok(&["system", "check", "--repair"]);
    assert_eq!(s.ok(&["system", "check"]), "No problems found\n");
    // Nothing is left running, and every container left is recorded as stopped (those with
    // --rm that had started are gone).
    for line in s
        .ok(&["ps", "-a", "--format", "{{.Names}} {{.State}}"])
        .lines()
    {
        assert!(!line.ends_with("running"), "{line}");
    }
    assert!(
        mounted_under(&s.root.join("containers")).is_empty(),
        "{:?}",
        mounted_under(&s.root)
    );
    let left = std::process::Command::new("pgrep")
        .args(["-f", "sleep 1001"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&left.stdout).trim().is_empty(),
        "container processes survived"
    );
    // And new containers run.
    assert_eq!(s.ok(&["run", "--rm", IMAGE, "echo", "ok"]), "ok\n");
}

/// A removal cut short between the store's directory and the run root's leaves the latter:
/// `system check` names it and `--repair` removes it.
#[test]
fn check_finds_a_run_root_directory_without_a_record() {
    let s = Store::new("runroot-orphan");
    let id = s.ok(&["create", IMAGE, "true"]);
    let left = s.runroot.join("containers").join(id.trim());
    assert!(
        left.join("hosts").exists(),
        "the /etc files live in the run root"
    );
    s.ok(&["rm", id.trim()]);
    assert!(!left.exists(), "rm removes the run root's directory");
    std::fs::create_dir_all(&left).unwrap();
    std::fs::write(left.join("hosts"), "left\n").unwrap();
    let (code, out, _) = s.run(&["system", "check"]);
    assert_eq!(code, 125, "{out}");
    assert!(
        out.contains("a run-root directory with no container record"),
        "{out}"
    );
    s.ok(&["system", "check", "--repair"]);
    assert!(!left.exists());
    assert_eq!(s.ok(&["system", "check"]), "No problems found\n");
}

/// The container's cgroup directories that exist, in every hierarchy.
fn cgroup_dirs_of(id: &str) -> Vec<std::path::PathBuf> {
    let rel = format!("dermaga/dermaga-{id}");
    let mut out = Vec::new();
    let v2 = std::path::Path::new("/sys/fs/cgroup").join(&rel);
    if v2.exists() {
        out.push(v2);
    }
    for h in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        let d = h.path().join(&rel);
        if d.exists() {
            out.push(d);
        }
    }
    out
}

/// The container id in the output of `cat /proc/self/cgroup` run in it.
fn id_from_cgroup_lines(out: &str) -> String {
    let at = out.find("dermaga-").expect("a cgroup of the container") + "dermaga-".len();
    out[at..at + 64].to_string()
}

/// An attached `run --rm` returns once the container's record is gone; its runtime state,
/// cgroups, mount and directories go just after (deferred_removal). Every command after
/// it finds the container gone and its name free; `system check` waits for the removal and
/// finds nothing left.
#[test]
fn run_rm_is_gone_when_it_returns_and_leaves_nothing() {
    let s = Store::new("rm-deferred");
    let out = s.ok(&[
        "run",
        "--rm",
        "--name",
        "once",
        IMAGE,
        "cat",
        "/proc/self/cgroup",
    ]);
    let id = id_from_cgroup_lines(&out);
    assert_eq!(s.ok(&["ps", "-a", "-q"]), "");
    let (code, _, err) = s.run(&["inspect", &id]);
    assert_ne!(code, 0, "{err}");
    s.ok(&["run", "--rm", "--name", "once", IMAGE, "true"]);
    assert_eq!(s.ok(&["system", "check"]), "No problems found\n");
    assert!(!s.root.join("containers").join(&id).exists());
    assert!(!s.runroot.join("containers").join(&id).exists());
    assert!(!s.runroot.join("runtime").join(&id).exists());
    assert!(mounted_under(&s.root).is_empty());
    assert!(cgroup_dirs_of(&id).is_empty(), "{:?}", cgroup_dirs_of(&id));
}

/// A removal killed after the record went (the child that removes the rest, killed while
/// a cgroup it removes is kept busy) leaves runtime state, cgroups, a mount and directories:
/// `system check` names them, `--repair` removes them all.
#[test]
fn removal_killed_after_the_record_went_is_repaired() {
    use std::io::{BufRead, BufReader, Write};
    let s = Store::new("rm-killed");
    let mut run = s
        .cmd(&[
            "run",
            "--rm",
            "-i",
            IMAGE,
            "sh",
            "-c",
            "cat /proc/self/cgroup; read x",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(run.stdout.take().unwrap());
    let mut out = String::new();
    while !out.contains(":pids:") && !out.contains("0::/") {
        assert_ne!(lines.read_line(&mut out).unwrap(), 0, "{out}");
    }
    let id = id_from_cgroup_lines(&out);
    // A host process in one of the container's cgroups keeps its removal retrying.
    let dirs = cgroup_dirs_of(&id);
    let busy = dirs
        .iter()
        .find(|d| d.to_string_lossy().contains("/pids/"))
        .unwrap_or(&dirs[0])
        .clone();
    let mut keeper = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .unwrap();
    std::fs::write(busy.join("cgroup.procs"), keeper.id().to_string()).unwrap();
    run.stdin.take().unwrap().write_all(b"go\n").unwrap();
    assert!(run.wait().unwrap().success());
    // The command has returned: what runs with the store root on its command line now is
    // the child removing the rest.
    let root = s.root.to_string_lossy().into_owned();
    let mut cleaner = None;
    for _ in 0..200 {
        cleaner = std::fs::read_dir("/proc").unwrap().flatten().find_map(|e| {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            (cmd.contains(&root) && cmd.contains(" run ") && alive(pid)).then_some(pid)
        });
        if cleaner.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let cleaner = cleaner.expect("the removal still running (it retries the busy cgroup)");
    let st = std::process::Command::new("kill")
        .arg("-9")
        .arg(cleaner.to_string())
        .status()
        .unwrap();
    assert!(st.success());
    while alive(cleaner) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = keeper.kill();
    let _ = keeper.wait();
    assert_eq!(s.ok(&["ps", "-a", "-q"]), "");
    let (code, report, _) = s.run(&["system", "check"]);
    assert_eq!(code, 125, "{report}");
    assert!(
        report.contains("runtime state of") && report.contains("with no container record"),
        "{report}"
    );
    s.ok(&["system", "check", "--repair"]);
    assert_eq!(s.ok(&["system", "check"]), "No problems found\n");
    assert!(!s.root.join("containers").join(&id).exists());
    assert!(!s.runroot.join("containers").join(&id).exists());
    assert!(!s.runroot.join("runtime").join(&id).exists());
    assert!(mounted_under(&s.root).is_empty());
    assert!(cgroup_dirs_of(&id).is_empty(), "{:?}", cgroup_dirs_of(&id));
}
