//! Differential tests against podman: the same image, the same command lines, the same
//! observable container (capabilities, seccomp, masked paths, network, identity, exit codes).
//! podman runs with runc and cgroupfs, ulimits this sandbox can grant, its documented default
//! capabilities (Debian's containers.conf adds three), and its own store.

mod engine_support;

use engine_support::{Podman, Store, IMAGE};

/// podman's lock table is one shared-memory segment for every store of a user, so the podman
/// side runs in one test, step after step.
#[test]
fn same_as_podman() {
    let s = Store::new("podman");
    let p = Podman::new();
    let tar = s.base().join("busybox.tar");
    let (code, _, err) = p.run(&["import", "-q", tar.to_str().unwrap(), IMAGE]);
    assert_eq!(code, 0, "podman import: {err}");
    same_container(&s, &p);
    same_lifecycle(&s, &p);
}

fn same_container(s: &Store, p: &Podman) {
    let probes: &[&[&str]] = &[
        &[
            "run",
            "--rm",
            IMAGE,
            "grep",
            "-E",
            "^(CapEff|CapBnd|CapPrm|Seccomp|NoNewPrivs):",
            "/proc/self/status",
        ],
        &[
            "run",
            "--rm",
            "--cap-drop",
            "chown",
            "--cap-add",
            "net_admin",
            IMAGE,
            "grep",
            "CapEff",
            "/proc/self/status",
        ],
        &[
            "run",
            "--rm",
            "--security-opt",
            "no-new-privileges",
            IMAGE,
            "grep",
            "NoNewPrivs",
            "/proc/self/status",
        ],
        &[
            "run",
            "--rm",
            "--network",
            "none",
            IMAGE,
            "sh",
            "-c",
            "wc -c < /proc/timer_list; ls /sys/class/net; echo $$",
        ],
        &[
            "run",
            "--rm",
            "--network",
            "none",
            IMAGE,
            "cat",
            "/proc/net/dev",
        ],
        &[
            "run", "--rm", "-u", "app", "-w", "/tmp", IMAGE, "sh", "-c", "id; pwd",
        ],
        &["run", "--rm", "--hostname", "h1", IMAGE, "hostname"],
        &[
            "run",
            "--rm",
            "-e",
            "A=1",
            "--entrypoint",
            "sh",
            IMAGE,
            "-c",
            "echo $A $HOME",
        ],
        &["run", "--rm", IMAGE, "sh", "-c", "exit 42"],
        &["run", "--rm", IMAGE, "no-such-command"],
        &["run", "--rm", IMAGE, "/bin/not-executable"],
        &["run", "--rm", IMAGE, "unshare", "-U", "true"],
        &[
            "run",
            "--rm",
            IMAGE,
            "sh",
            "-c",
            "mount -t tmpfs t /tmp 2>/dev/null; echo $?",
        ],
        &[
            "run",
            "--rm",
            "--read-only",
            IMAGE,
            "sh",
            "-c",
            "touch /x 2>/dev/null; echo $?; touch /tmp/x; echo $?",
        ],
        &[
            "run",
            "--rm",
            "--memory",
            "64m",
            "--pids-limit",
            "50",
            IMAGE,
            "sh",
            "-c",
            "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max",
        ],
    ];
    for probe in probes {
        let (pc, po, _) = p.run(probe);
        let (dc, dout, derr) = s.run(probe);
        assert_eq!(
            dc, pc,
            "exit code of {probe:?}: dermaga {dc} ({derr}), podman {pc}"
        );
        if pc == 0 {
            assert_eq!(dout, po, "output of {probe:?}");
        }
    }
}

fn same_lifecycle(s: &Store, p: &Podman) {
    for tool in [0, 1] {
        let run = |args: &[&str]| if tool == 0 { p.run(args) } else { s.run(args) };
        let (code, _, _) = run(&["run", "-d", "--name", "w", IMAGE, "sleep", "1000"]);
        assert_eq!(code, 0);
        // Same answers to the same mistakes, and to the same verbs.
        assert_eq!(
            run(&["run", "-d", "--name", "w", IMAGE, "true"]).0,
            125,
            "tool {tool}"
        );
        assert_eq!(run(&["rm", "w"]).0, 2, "tool {tool}");
        assert_eq!(
            run(&["exec", "w", "sh", "-c", "exit 9"]).0,
            9,
            "tool {tool}"
        );
        assert_eq!(run(&["exec", "w", "nope"]).0, 127, "tool {tool}");
        assert_eq!(run(&["kill", "w"]).1, "w\n", "tool {tool}");
        assert_eq!(run(&["wait", "w"]).1, "137\n", "tool {tool}");
        assert_eq!(
            run(&[
                "inspect",
                "-f",
                "{{.State.Status}} {{.State.ExitCode}}",
                "w"
            ])
            .1,
            "exited 137\n",
            "tool {tool}"
        );
        assert_eq!(run(&["logs", "nope"]).0, 125, "tool {tool}");
        assert_eq!(run(&["rm", "w"]).1, "w\n", "tool {tool}");
        assert_eq!(run(&["ps", "-a", "-q"]).1, "", "tool {tool}");
    }
}
