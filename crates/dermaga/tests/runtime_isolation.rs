//! Isolation the runtime gives a container: host processes invisible, hostname, read-only
//! root, mounts and clock changes refused without the capabilities, seccomp, memory limit
//! ending in an OOM kill that `state` reports, the pids limit against a fork bomb, masked
//! paths, rlimits that cannot be raised kept with one warning.

mod runtime_support;

use dermaga_runtime::oci_spec::runtime::{
    LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResourcesBuilder, LinuxSeccomp, PosixRlimitBuilder,
    PosixRlimitType,
};
use runtime_support::{unique, Bundle, Runtime};

#[test]
fn host_processes_are_invisible() {
    let rt = Runtime::dermaga();
    let b = Bundle::new("pidns", &["ps", "-o", "pid,comm"]);
    let (code, out, err) = rt.run(&b, &unique("pidns"));
    assert_eq!(code, 0, "{err}");
    let rows: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(
        rows.len(),
        1,
        "only the container's own process may be seen:\n{out}"
    );
    assert_eq!(rows[0].split_whitespace().collect::<Vec<_>>(), ["1", "ps"]);
    // /proc shows no host pid either.
    let b = Bundle::new("pidns2", &["sh", "-c", "ls /proc | grep -c '^[0-9]'"]);
    let (_, out, _) = rt.run(&b, &unique("pidns"));
    let n: u32 = out.trim().parse().unwrap();
    assert!(n <= 3, "the container's /proc lists {n} processes");
}

#[test]
fn hostname_and_network_namespace() {
    let rt = Runtime::dermaga();
    let b = Bundle::new("uts", &["sh", "-c", "hostname; ls /sys/class/net"]);
    let (code, out, err) = rt.run(&b, &unique("uts"));
    assert_eq!(code, 0, "{err}");
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("dermaga-test"));
    // A new network namespace has only its loopback device.
    assert_eq!(lines.collect::<Vec<_>>(), ["lo"]);
}

#[test]
fn read_only_root_holds() {
    let rt = Runtime::dermaga();
    let mut b = Bundle::new(
        "ro",
        &[
            "sh",
            "-c",
            "touch /etc/x 2>&1; echo rc=$?; touch /tmp/y 2>&1; touch /dev/shm/z && echo shm-ok",
        ],
    );
    b.edit(|s| {
        let mut root = s.root().clone().unwrap();
        root.set_readonly(Some(true));
        s.set_root(Some(root));
    });
    let (code, out, err) = rt.run(&b, &unique("ro"));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Read-only file system"), "{out}");
    assert!(out.contains("rc=1"), "{out}");
    // Mounts of their own (a tmpfs here) stay writable.
    assert!(out.contains("shm-ok"), "{out}");
    assert!(!b.rootfs().join("etc/x").exists());
}

#[test]
fn mount_and_clock_changes_are_refused_without_capabilities() {
    let rt = Runtime::dermaga();
    let b = Bundle::new(
        "caps",
        &["sh", "-c", "mount -t tmpfs none /tmp 2>&1; echo mount=$?; date -s 2001-01-01 2>&1; echo date=$?; grep Cap /proc/self/status"],
    );
    let (code, out, err) = rt.run(&b, &unique("caps"));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("mount=1") || out.contains("mount=255"),
        "{out}"
    );
    // busybox's date reports the failure but exits 0.
    assert!(
        out.contains("can't set date: Operation not permitted"),
        "{out}"
    );
    assert!(out.contains("mount: permission denied"), "{out}");
    // podman's 11 capabilities, nothing more: 0x00000000800405fb.
    assert!(out.contains("CapEff:\t00000000800405fb"), "{out}");
    assert!(out.contains("CapBnd:\t00000000800405fb"), "{out}");
}

#[test]
fn seccomp_blocks_a_syscall() {
    let rt = Runtime::dermaga();
    let mut b = Bundle::new("seccomp", &["sh", "-c", "mkdir /tmp/a 2>&1; echo rc=$?; grep -E '^Seccomp:' /proc/self/status; touch /tmp/ok && echo touch-ok"]);
    let profile: LinuxSeccomp = dermaga_runtime::serde_json::from_str(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
            {"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]}"#,
    )
    .unwrap();
    b.edit(|s| {
        let mut l = s.linux().clone().unwrap();
        l.set_seccomp(Some(profile));
        s.set_linux(Some(l));
    });
    let (code, out, err) = rt.run(&b, &unique("seccomp"));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Operation not permitted"), "{out}");
    assert!(out.contains("rc=1"), "{out}");
    assert!(out.contains("Seccomp:\t2"), "{out}");
    assert!(out.contains("touch-ok"), "{out}");
    assert!(!b.rootfs().join("tmp/a").exists());
}

#[test]
fn default_deny_seccomp_profile_runs_busybox() {
    // podman's default profile shape: default ERRNO(ENOSYS), an allow list, one EPERM rule.
    let rt = Runtime::dermaga();
    let mut b = Bundle::new(
        "seccomp2",
        &["sh", "-c", "echo hi; unshare 2>&1; echo rc=$?"],
    );
    let allow = [
        "read",
        "write",
        "openat",
        "open",
        "close",
        "fstat",
        "newfstatat",
        "stat",
        "lstat",
        "mmap",
        "munmap",
        "mprotect",
        "brk",
        "rt_sigaction",
        "rt_sigprocmask",
        "rt_sigreturn",
        "ioctl",
        "execve",
        "exit",
        "exit_group",
        "getpid",
        "getppid",
        "getuid",
        "geteuid",
        "getgid",
        "getegid",
        "fcntl",
        "dup2",
        "dup3",
        "wait4",
        "clone",
        "fork",
        "vfork",
        "arch_prctl",
        "set_tid_address",
        "uname",
        "getcwd",
        "chdir",
        "access",
        "faccessat",
        "faccessat2",
        "prlimit64",
        "getrlimit",
        "setrlimit",
        "capget",
        "capset",
        "prctl",
        "setgroups",
        "setresuid",
        "setresgid",
        "setuid",
        "setgid",
        "close_range",
        "getdents64",
        "lseek",
        "readlink",
        "pipe",
        "pipe2",
        "poll",
        "ppoll",
        "pselect6",
        "select",
        "getpgrp",
        "setpgid",
        "getpgid",
        "kill",
        "rt_sigsuspend",
        "statx",
        "futex",
        "set_robust_list",
        "rseq",
        "sysinfo",
        "umask",
        "madvise",
        "mremap",
        "sigaltstack",
        "tgkill",
        "getrandom",
        "seccomp",
    ];
    let json = format!(
        r#"{{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":38,"syscalls":[
            {{"names":{},"action":"SCMP_ACT_ALLOW"}},
            {{"names":["unshare"],"action":"SCMP_ACT_ERRNO","errnoRet":1}}]}}"#,
        dermaga_runtime::serde_json::to_string(&allow[..]).unwrap()
    );
    let profile: LinuxSeccomp = dermaga_runtime::serde_json::from_str(&json).unwrap();
    b.edit(|s| {
        let mut l = s.linux().clone().unwrap();
        l.set_seccomp(Some(profile));
        s.set_linux(Some(l));
    });
    std::os::unix::fs::symlink("busybox", b.rootfs().join("bin/unshare")).unwrap();
    let (code, out, err) = rt.run(&b, &unique("seccomp2"));
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("hi\n"), "{out}");
    assert!(out.contains("rc=1"), "{out}");
    assert!(out.contains("Operation not permitted"), "{out}");
}

#[test]
fn memory_limit_ends_in_an_oom_kill_that_state_reports() {
    let rt = Runtime::dermaga();
    let limit = 32 * 1024 * 1024i64;
    let mut b = Bundle::new(
        "oom",
        &["dd", "if=/dev/zero", "of=/dev/null", "bs=128M", "count=1"],
    );
    b.edit(|s| {
        let mut l = s.linux().clone().unwrap();
        let mem = LinuxMemoryBuilder::default()
            .limit(limit)
            .swap(limit)
            .build()
            .unwrap();
        l.set_resources(Some(
            LinuxResourcesBuilder::default()
                .memory(mem)
                .build()
                .unwrap(),
        ));
        s.set_linux(Some(l));
    });
    let id = unique("oom");
    rt.ok_detached(
        &["create", "--bundle", b.path().to_str().unwrap(), &id],
        b.path(),
    );
    assert!(rt.state(&id).get("oomKilled").is_none());
    rt.ok(&["start", &id]);
    rt.wait_status(&id, "stopped");
    let st = rt.state(&id);
    assert_eq!(st["oomKilled"], true, "{st}");
    let ev = rt.ok(&["events", "--stats", &id]);
    assert!(ev.contains("\"oom_kill\":1"), "{ev}");
    rt.ok(&["delete", &id]);

    // In the foreground, the exit code says SIGKILL.
    let (code, _, _) = rt.run(&b, &unique("oom"));
    assert_eq!(code, 137);
}

#[test]
fn pids_limit_stops_a_fork_bomb() {
    let rt = Runtime::dermaga();
    // The bomb runs in a child shell, which dies at its first refused fork; the init then
    // becomes a sleep (exec, no fork) and keeps the namespace and the bomb's sleeps alive.
    let mut b = Bundle::new(
        "pids",
        &[
            "sh",
            "-c",
            "sh -c 'while true; do sleep 30 & done' 2>&1; echo bomb-stopped; exec sleep 30",
        ],
    );
    b.edit(|s| {
        let mut l = s.linux().clone().unwrap();
        let pids = LinuxPidsBuilder::default().limit(10).build().unwrap();
        l.set_resources(Some(
            LinuxResourcesBuilder::default().pids(pids).build().unwrap(),
        ));
        s.set_linux(Some(l));
    });
    let id = unique("pids");
    rt.ok_detached(
        &["run", "-d", "--bundle", b.path().to_str().unwrap(), &id],
        b.path(),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let out = loop {
        let out = std::fs::read_to_string(b.path().join("ctr.out")).unwrap_or_default();
        if out.contains("bomb-stopped") {
            break out;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the fork bomb was not stopped: {out}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(out.contains("can't fork"), "{out}");
    let pids: Vec<i64> =
        dermaga_runtime::serde_json::from_str(&rt.ok(&["ps", "--format", "json", &id])).unwrap();
    assert!(
        (2..=10).contains(&pids.len()),
        "{} processes under a limit of 10",
        pids.len()
    );
    rt.ok(&["delete", "--force", &id]);
}

#[test]
fn masked_and_readonly_paths() {
    let rt = Runtime::dermaga();
    let b = Bundle::new("mask", &["sh", "-c", "exec 2>&1; cat /proc/keys | wc -c; ls /sys/firmware | wc -l; echo 1 > /proc/sys/kernel/domainname; echo rc=$?"]);
    let (code, out, err) = rt.run(&b, &unique("mask"));
    assert_eq!(code, 0, "{err}");
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("0"), "{out}");
    assert_eq!(lines.next(), Some("0"), "{out}");
    assert!(out.contains("Read-only file system"), "{out}");
}

#[test]
fn unraisable_rlimit_is_kept_with_one_warning() {
    let rt = Runtime::dermaga();
    let mut b = Bundle::new("rlimit", &["sh", "-c", "ulimit -n; ulimit -Hn"]);
    let mut hard = 0u64;
    for l in std::fs::read_to_string("/proc/self/limits")
        .unwrap()
        .lines()
    {
        if l.starts_with("Max open files") {
            hard = l.split_whitespace().nth(4).unwrap().parse().unwrap();
        }
    }
    let cap_sys_resource = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("CapEff:"))
        .map(|l| {
            u64::from_str_radix(l.split_whitespace().nth(1).unwrap(), 16).unwrap() & (1 << 24) != 0
        })
        .unwrap();
    b.edit(|s| {
        let mut p = s.process().clone().unwrap();
        p.set_rlimits(Some(vec![
            PosixRlimitBuilder::default()
                .typ(PosixRlimitType::RlimitNofile)
                .soft(hard * 2)
                .hard(hard * 2)
                .build()
                .unwrap(),
            PosixRlimitBuilder::default()
                .typ(PosixRlimitType::RlimitNproc)
                .soft(hard * 4)
                .hard(hard * 4)
                .build()
                .unwrap(),
        ]));
        s.set_process(Some(p));
    });
    let (code, out, err) = rt.run(&b, &unique("rlimit"));
    assert_eq!(code, 0, "{err}");
    if cap_sys_resource {
        assert_eq!(out, format!("{}\n{}\n", hard * 2, hard * 2));
    } else {
        assert_eq!(out.lines().nth(1), Some(hard.to_string().as_str()), "{out}");
        assert_eq!(
            err.matches("warning").count(),
            1,
            "one warning for all kept rlimits: {err}"
        );
        assert!(
            err.contains("RLIMIT_NOFILE") && err.contains("CAP_SYS_RESOURCE"),
            "{err}"
        );
    }
}

#[test]
fn user_namespace_maps_root_to_an_unprivileged_host_uid() {
    use dermaga_runtime::oci_spec::runtime::{
        LinuxIdMappingBuilder, LinuxNamespaceBuilder, LinuxNamespaceType,
    };
    let rt = Runtime::dermaga();
    let mut b = Bundle::new(
        "userns",
        &["sh", "-c", "id -u; cat /proc/self/uid_map; sleep 2"],
    );
    b.edit(|s| {
        let mut l = s.linux().clone().unwrap();
        let mut ns = l.namespaces().clone().unwrap();
        ns.push(
            LinuxNamespaceBuilder::default()
                .typ(LinuxNamespaceType::User)
                .build()
                .unwrap(),
        );
        l.set_namespaces(Some(ns));
        let map = LinuxIdMappingBuilder::default()
            .container_id(0u32)
            .host_id(200_000u32)
            .size(65_536u32)
            .build()
            .unwrap();
        l.set_uid_mappings(Some(vec![map]));
        l.set_gid_mappings(Some(vec![map]));
        s.set_linux(Some(l));
    });
    let id = unique("userns");
    rt.ok_detached(
        &["run", "-d", "--bundle", b.path().to_str().unwrap(), &id],
        b.path(),
    );
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    // Seen from the host, the container's root is uid 200000.
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid_line = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .unwrap()
        .to_string();
    assert_eq!(
        uid_line.split_whitespace().nth(1),
        Some("200000"),
        "{uid_line}"
    );
    rt.wait_status(&id, "stopped");
    let out = std::fs::read_to_string(b.path().join("ctr.out")).unwrap();
    let err = std::fs::read_to_string(b.path().join("ctr.err")).unwrap();
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("0"), "{out}{err}");
    assert_eq!(
        lines
            .next()
            .map(|l| l.split_whitespace().collect::<Vec<_>>()),
        Some(vec!["0", "200000", "65536"]),
        "{out}"
    );
    rt.ok(&["delete", &id]);
}
