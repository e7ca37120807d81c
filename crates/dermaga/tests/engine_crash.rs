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
