//! The JSON shapes podman prints: `inspect` of a container, `ps --format json` rows and the
//! fields `ps --format` templates read, and volumes.

use serde_json::{json, Value};

use crate::config::MountKind;
use crate::db::{Container, State, Volume};
use crate::engine::Engine;
use crate::util::{human_date, human_duration, rfc3339_nano, since};

fn ts(ns: i64) -> String {
    if ns == 0 {
        "0001-01-01T00:00:00Z".into()
    } else {
        rfc3339_nano(ns)
    }
}

/// podman's status word for a state.
pub fn status_word(c: &Container) -> &'static str {
    match c.state {
        State::Created => "created",
        State::Running => "running",
        State::Exited => "exited",
        State::Removing => "removing",
    }
}

/// "Up 5 seconds", "Exited (0) 2 seconds ago", "Created".
pub fn human_status(c: &Container) -> String {
    match c.state {
        State::Created => "Created".into(),
        State::Running => format!("Up {}", human_duration(since(c.started_ns))),
        State::Exited => format!(
            "Exited ({}) {} ago",
            c.exit_code.unwrap_or(-1),
            human_duration(since(c.finished_ns))
        ),
        State::Removing => "Removing".into(),
    }
}

fn mounts_json(eng: &Engine, c: &Container) -> Value {
    let v: Vec<Value> = c
        .config
        .mounts
        .iter()
        .map(|m| {
            let (ty, src, name) = match m.kind {
                MountKind::Bind => ("bind", m.source.clone(), Value::Null),
                MountKind::Volume => (
                    "volume",
                    eng.volumes_dir()
                        .join(&m.source)
                        .join("_data")
                        .to_string_lossy()
                        .into_owned(),
                    json!(m.source),
                ),
                MountKind::Tmpfs => ("tmpfs", "tmpfs".to_string(), Value::Null),
            };
            let mut o = json!({
                "Type": ty,
                "Source": src,
                "Destination": m.destination,
                "Driver": if m.kind == MountKind::Volume { "local" } else { "" },
                "Mode": "",
                "Options": m.options,
                "RW": !m.readonly,
                "Propagation": if m.kind == MountKind::Bind { "rprivate" } else { "" },
            });
            if !name.is_null() {
                o["Name"] = name;
            }
            o
        })
        .collect();
    Value::Array(v)
}

/// `dermaga inspect CONTAINER`.
pub fn container(eng: &Engine, c: &Container) -> Value {
    let cfg = &c.config;
    let p = eng.paths(&c.id);
    let argv = cfg.argv();
    let rootfs = cfg.rootfs.clone().unwrap_or_else(|| p.merged());
    let error = if c.error.is_empty() {
        String::new()
    } else {
        c.error.clone()
    };
    let mut v = json!({
        "Id": c.id,
        "Created": ts(c.created_ns),
        "Path": argv.first().cloned().unwrap_or_default(),
        "Args": argv.iter().skip(1).collect::<Vec<_>>(),
        "State": {
            "OciVersion": "1.0.2-dev",
            "Status": status_word(c),
            "Running": c.state == State::Running,
            "Paused": false,
            "Restarting": false,
            "OOMKilled": c.oom_killed,
            "Dead": false,
            "Pid": c.pid,
            "ConmonPid": c.monitor_pid,
            "ExitCode": c.exit_code.unwrap_or(0),
            "Error": error,
            "StartedAt": ts(c.started_ns),
            "FinishedAt": ts(c.finished_ns),
            "Health": {"Status": "", "FailingStreak": 0, "Log": null},
        },
        "Image": c.image_id,
        "ImageName": c.image_name,
        "Rootfs": if cfg.rootfs.is_some() { rootfs.to_string_lossy().into_owned() } else { String::new() },
        "ResolvConfPath": p.resolv_conf(),
        "HostnamePath": p.hostname(),
        "HostsPath": p.hosts(),
        "StaticDir": p.dir,
        "OCIConfigPath": p.config_json(),
        "OCIRuntime": cfg.runtime.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        "LogPath": p.log(),
        "LogTag": "",
        "ConmonPidFile": "",
        "PidFile": p.pidfile(),
        "Name": c.name,
        "RestartCount": 0,
        "Driver": "overlay",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "EffectiveCaps": crate::spec::capabilities(cfg).unwrap_or_default(),
        "BoundingCaps": crate::spec::capabilities(cfg).unwrap_or_default(),
        "ExecIDs": [],
        "GraphDriver": {
            "Name": "overlay",
            "Data": {
                "UpperDir": p.upper(),
                "WorkDir": p.work(),
                "MergedDir": rootfs,
                "LowerDir": cfg.layer_dirs.iter().rev().map(|d| eng.root.join(d).to_string_lossy().into_owned()).collect::<Vec<_>>().join(":"),
            }
        },
        "Mounts": mounts_json(eng, c),
        "Dependencies": [],
        "NetworkSettings": {
            "EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0,
            "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
            "MacAddress": "", "Bridge": "", "SandboxID": "", "HairpinMode": false,
            "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0, "Ports": {},
            "SandboxKey": "",
        },
        "Namespace": "",
        "IsInfra": false,
        "IsService": false,
        "Config": {
            "Hostname": cfg.hostname,
            "Domainname": "",
            "User": cfg.user,
            "AttachStdin": false,
            "AttachStdout": false,
            "AttachStderr": false,
            "Tty": cfg.tty,
            "OpenStdin": cfg.interactive,
            "StdinOnce": false,
            "Env": cfg.env,
            "Cmd": cfg.cmd,
            "Image": c.image_name,
            "Volumes": null,
            "WorkingDir": if cfg.workdir.is_empty() { "/" } else { cfg.workdir.as_str() },
            "Entrypoint": cfg.entrypoint.join(" "),
            "OnBuild": null,
            "Labels": cfg.labels,
            "Annotations": cfg.annotations,
            "StopSignal": cfg.stop_signal,
            "StopTimeout": cfg.stop_timeout,
            "CreateCommand": cfg.create_command,
            "Umask": "0022",
            "Timeout": 0,
            "Passwd": true,
        },
        "HostConfig": {
            "Binds": cfg.mounts.iter().filter(|m| m.kind != MountKind::Tmpfs).map(|m| {
                format!("{}:{}:{}", m.source, m.destination, if m.readonly { "ro" } else { "rw" })
            }).collect::<Vec<_>>(),
            "CgroupManager": "cgroupfs",
            "CgroupMode": "host",
            "ContainerIDFile": "",
            "LogConfig": {"Type": "k8s-file", "Config": null, "Path": p.log()},
            "NetworkMode": cfg.network,
            "PortBindings": {},
            "RestartPolicy": {"Name": "", "MaximumRetryCount": 0},
            "AutoRemove": cfg.rm,
            "CapAdd": cfg.cap_add,
            "CapDrop": cfg.cap_drop,
            "Privileged": cfg.privileged,
            "ReadonlyRootfs": cfg.read_only,
            "SecurityOpt": security_opts(c),
            "Tmpfs": cfg.mounts.iter().filter(|m| m.kind == MountKind::Tmpfs)
                .map(|m| (m.destination.clone(), Value::String(m.options.join(","))))
                .collect::<serde_json::Map<_, _>>(),
            "UTSMode": "private",
            "UsernsMode": cfg.userns,
            "ShmSize": 65536000,
            "Runtime": "oci",
            "CgroupParent": "/dermaga",
            "Memory": cfg.memory.unwrap_or(0),
            "NanoCpus": cfg.cpus.map(|c| (c * 1e9) as i64).unwrap_or(0),
            "CpuPeriod": if cfg.cpus.is_some() { 100000 } else { 0 },
            "CpuQuota": cfg.cpus.map(|c| (c * 100000.0) as i64).unwrap_or(0),
            "PidsLimit": cfg.pids_limit.unwrap_or(crate::spec::DEFAULT_PIDS_LIMIT),
            "Ulimits": cfg.ulimits.iter().map(|u| json!({"Name": crate::config::rlimit_resource(&u.name).unwrap_or(""), "Soft": u.soft, "Hard": u.hard})).collect::<Vec<_>>(),
            "Init": cfg.init,
        },
    });
    if !cfg.uid_map.is_empty() || !cfg.gid_map.is_empty() {
        let lines =
            |maps: &[crate::userns::IdMap]| maps.iter().map(|m| m.podman()).collect::<Vec<_>>();
        v["HostConfig"]["IDMappings"] =
            json!({"UidMap": lines(&cfg.uid_map), "GidMap": lines(&cfg.gid_map)});
    }
    v
}

fn security_opts(c: &Container) -> Vec<String> {
    let mut v = Vec::new();
    if c.config.no_new_privileges {
        v.push("no-new-privileges".to_string());
    }
    match &c.config.seccomp {
        crate::config::Seccomp::Unconfined => v.push("seccomp=unconfined".into()),
        crate::config::Seccomp::Profile(_) => v.push("seccomp=profile".into()),
        crate::config::Seccomp::Default => {}
    }
    v
}

/// A `ps --format json` row (podman's field names), plus the fields templates read
/// (`.ID` is the short ID, `.Names` a string, as podman's ps templates see them).
pub fn ps_row(c: &Container, for_template: bool, no_trunc: bool) -> Value {
    let cmd = c.config.argv().join(" ");
    let mut v = json!({
        "AutoRemove": c.config.rm,
        "Command": c.config.argv(),
        "CreatedAt": human_date(c.created_ns),
        "Exited": c.state == State::Exited,
        "ExitedAt": c.finished_ns / 1_000_000_000,
        "ExitCode": c.exit_code.unwrap_or(0),
        "Id": c.id,
        "Image": c.image_name,
        "ImageID": c.image_id,
        "IsInfra": false,
        "Labels": c.config.labels,
        "Mounts": c.config.mounts.iter().map(|m| m.destination.clone()).collect::<Vec<_>>(),
        "Names": [c.name],
        "Namespaces": {},
        "Networks": [],
        "Pid": c.pid,
        "Pod": "",
        "PodName": "",
        "Ports": null,
        "Size": null,
        "StartedAt": c.started_ns / 1_000_000_000,
        "State": status_word(c),
        "Status": human_status(c),
        "Created": c.created_ns / 1_000_000_000,
    });
    if for_template {
        v["ID"] = json!(if no_trunc {
            c.id.clone()
        } else {
            c.id[..12].to_string()
        });
        v["Names"] = json!(c.name);
        v["Command"] = json!(cmd);
        v["Created"] = json!(format!("{} ago", human_duration(since(c.created_ns))));
        v["CreatedHuman"] = v["Created"].clone();
        v["RunningFor"] = v["Created"].clone();
        v["Ports"] = json!("");
        v["Size"] = json!("");
    }
    v
}

/// `volume inspect` (and `volume ls --format json`).
pub fn volume(eng: &Engine, v: &Volume) -> Value {
    json!({
        "Name": v.name,
        "Driver": v.driver,
        "Mountpoint": eng.volumes_dir().join(&v.name).join("_data"),
        "CreatedAt": rfc3339_nano(v.created_ns),
        "Labels": v.labels,
        "Scope": "local",
        "Options": v.options,
        "MountCount": 0,
        "NeedsCopyUp": true,
        "NeedsChown": true,
        "Anonymous": v.anonymous,
    })
}
