//! Isolation as podman gives it: host processes invisible, image layers unwritable, mounts and
//! clock changes refused, podman's capability set, the seccomp profile, memory and pids limits,
//! --read-only.

mod engine_support;

use engine_support::{Store, IMAGE};

#[test]
fn processes_capabilities_and_refusals() {
    let s = Store::new("isolation");
    // Only the container's own processes are visible.
    let procs = s.ok(&[
        "run",
        "--rm",
        IMAGE,
        "sh",
        "-c",
        "ls /proc | grep -c '^[0-9]'",
    ]);
    assert!(procs.trim().parse::<u32>().unwrap() <= 3, "{procs}");
    assert_eq!(s.ok(&["run", "--rm", IMAGE, "sh", "-c", "echo $$"]), "1\n");
    // podman's 11 default capabilities.
    let caps = s.ok(&["run", "--rm", IMAGE, "grep", "CapEff", "/proc/self/status"]);
    assert_eq!(
        caps.split_whitespace().nth(1),
        Some("00000000800405fb"),
        "{caps}"
    );
    let caps = s.ok(&[
        "run",
        "--rm",
        "--cap-drop",
        "all",
        "--cap-add",
        "kill",
        IMAGE,
        "grep",
        "CapEff",
        "/proc/self/status",
    ]);
    assert_eq!(
        caps.split_whitespace().nth(1),
        Some("0000000000000020"),
        "{caps}"
    );
    // Mounts and the clock are refused.
    assert_ne!(
        s.run(&["run", "--rm", IMAGE, "mount", "-t", "tmpfs", "tmpfs", "/tmp"])
            .0,
        0
    );
    let date = s.ok(&[
        "run",
        "--rm",
        IMAGE,
        "sh",
        "-c",
        "date -s 2001-01-01 2>&1 | grep -c 'not permitted'",
    ]);
    assert_eq!(date, "1\n", "setting the clock was not refused");
    // --privileged lifts that.
    assert_eq!(
        s.run(&[
            "run",
            "--rm",
            "--privileged",
            IMAGE,
            "mount",
            "-t",
            "tmpfs",
            "tmpfs",
            "/tmp"
        ])
        .0,
        0
    );
    // Seccomp: the default profile is on, a profile file replaces it, unconfined turns it off.
    let seccomp = s.ok(&[
        "run",
        "--rm",
        IMAGE,
        "grep",
        "Seccomp:",
        "/proc/self/status",
    ]);
    assert_eq!(seccomp.split_whitespace().nth(1), Some("2"), "{seccomp}");
    assert_ne!(
        s.run(&["run", "--rm", IMAGE, "nsenter", "-t", "1", "-n", "true"])
            .0,
        0
    );
    let profile = s.base().join("no-mkdir.json");
    std::fs::write(
        &profile,
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}"#,
    )
    .unwrap();
    let opt = format!("seccomp={}", profile.display());
    assert_eq!(s.run(&["run", "--rm", IMAGE, "mkdir", "/tmp/d"]).0, 0);
    let (code, _, err) = s.run(&[
        "run",
        "--rm",
        "--security-opt",
        &opt,
        IMAGE,
        "mkdir",
        "/tmp/d",
    ]);
    assert!(
        code != 0 && err.contains("Operation not permitted"),
        "{code} {err}"
    );
    let unconfined = s.ok(&[
        "run",
        "--rm",
        "--security-opt",
        "seccomp=unconfined",
        IMAGE,
        "grep",
        "Seccomp:",
        "/proc/self/status",
    ]);
    assert_eq!(
        unconfined.split_whitespace().nth(1),
        Some("0"),
        "{unconfined}"
    );
    let nnp = s.ok(&[
        "run",
        "--rm",
        "--security-opt",
        "no-new-privileges",
        IMAGE,
        "grep",
        "NoNewPrivs",
        "/proc/self/status",
    ]);
    assert_eq!(nnp.split_whitespace().nth(1), Some("1"));
    // Masked paths.
    assert_eq!(
        s.ok(&["run", "--rm", IMAGE, "sh", "-c", "wc -c < /proc/timer_list"])
            .trim(),
        "0"
    );
    // Hostname, user, workdir, entrypoint.
    assert_eq!(
        s.ok(&["run", "--rm", "--hostname", "box1", IMAGE, "hostname"]),
        "box1\n"
    );
    assert_eq!(
        s.ok(&["run", "--rm", "-u", "app", IMAGE, "id"]),
        "uid=1000(app) gid=1000(app) groups=1000(app),2000(extra)\n"
    );
    assert_eq!(
        s.ok(&[
            "run",
            "--rm",
            "-u",
            "1234:5",
            "-w",
            "/var/tmp",
            IMAGE,
            "sh",
            "-c",
            "id -u; id -g; pwd"
        ]),
        "1234\n5\n/var/tmp\n"
    );
    assert_eq!(
        s.ok(&[
            "run",
            "--rm",
            "--entrypoint",
            "echo",
            IMAGE,
            "via",
            "entrypoint"
        ]),
        "via entrypoint\n"
    );
    // --network none: only loopback.
    let ifs = s.ok(&["run", "--rm", IMAGE, "ls", "/sys/class/net"]);
    assert_eq!(ifs, "lo\n");
}

#[test]
fn image_layers_are_unwritable() {
    let s = Store::new("layers");
    let (code, _, err) = s.run(&[
        "run",
        "--rm",
        IMAGE,
        "sh",
        "-c",
        "echo changed > /etc/passwd && rm /bin/ls && touch /bin/new",
    ]);
    assert_eq!(code, 0, "{err}");
    // A new container sees the image as it was.
    assert_eq!(
        s.ok(&[
            "run",
            "--rm",
            IMAGE,
            "sh",
            "-c",
            "head -c 4 /etc/passwd; test -e /bin/ls && echo ls; test -e /bin/new || echo nonew"
        ]),
        "rootls\nnonew\n"
    );
    // The layer on disk is untouched, and its files are not writable through the store.
    let passwd = walk_find(&s.root.join("layers"), "passwd");
    assert!(
        !passwd.is_empty(),
        "no extracted layer found under {}",
        s.root.display()
    );
    for p in passwd {
        assert!(
            std::fs::read_to_string(&p).unwrap().starts_with("root:"),
            "{}",
            p.display()
        );
    }
    // --read-only: the root file system refuses writes, /tmp stays writable.
    assert_ne!(
        s.run(&["run", "--rm", "--read-only", IMAGE, "touch", "/x"])
            .0,
        0
    );
    assert_eq!(
        s.run(&["run", "--rm", "--read-only", IMAGE, "touch", "/tmp/x"])
            .0,
        0
    );
    assert_ne!(
        s.run(&[
            "run",
            "--rm",
            "--read-only",
            "--read-only-tmpfs=false",
            IMAGE,
            "touch",
            "/tmp/x"
        ])
        .0,
        0
    );
}

fn walk_find(dir: &std::path::Path, name: &str) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        let ft = e.file_type().unwrap();
        if ft.is_dir() {
            out.extend(walk_find(&p, name));
        } else if ft.is_file() && e.file_name() == name {
            out.push(p);
        }
    }
    out
}

#[test]
fn memory_and_pids_limits() {
    let s = Store::new("limits");
    // The OOM killer ends a container over its memory limit, and inspect says so.
    let (code, _, _) = s.run(&[
        "run",
        "--name",
        "hog",
        "--memory",
        "16m",
        IMAGE,
        "sh",
        "-c",
        "tail /dev/zero",
    ]);
    assert_eq!(code, 137);
    assert_eq!(
        s.ok(&[
            "inspect",
            "-f",
            "{{.State.OOMKilled}} {{.State.ExitCode}}",
            "hog"
        ]),
        "true 137\n"
    );
    assert_eq!(
        s.ok(&["inspect", "-f", "{{.HostConfig.Memory}}", "hog"]),
        format!("{}\n", 16 << 20)
    );
    // The pids limit stops a fork bomb.
    let (code, out, err) = s.run(&[
        "run",
        "--rm",
        "--pids-limit",
        "10",
        IMAGE,
        "sh",
        "-c",
        "for i in $(seq 30); do sleep 1 & done; echo looped",
    ]);
    assert!(
        code != 0 && err.contains("can't fork"),
        "30 processes forked under a limit of 10: {code} {out} {err}"
    );
    assert_eq!(
        s.ok(&[
            "run",
            "--rm",
            "--pids-limit",
            "10",
            IMAGE,
            "cat",
            "/sys/fs/cgroup/pids/pids.max"
        ]),
        "10\n"
    );
    // --ulimit and --cpus reach the container.
    assert_eq!(
        s.ok(&[
            "run",
            "--rm",
            "--ulimit",
            "nofile=100:200",
            IMAGE,
            "sh",
            "-c",
            "ulimit -n; ulimit -Hn"
        ]),
        "100\n200\n"
    );
    assert_eq!(
        s.ok(&[
            "run",
            "--rm",
            "--cpus",
            "0.5",
            IMAGE,
            "cat",
            "/sys/fs/cgroup/cpu/cpu.cfs_quota_us"
        ]),
        "50000\n"
    );
}
