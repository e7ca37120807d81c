//! The engine: a store root, its state database, and the container verbs.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::config::{
    self, parse_mount_flag, parse_tmpfs_flag, parse_volume_flag, ContainerConfig, CreateOptions,
    ImageInfo, MountKind, Seccomp,
};
use crate::db::{Container, Db, State, Volume};
use crate::error::{Context, Error, Result};
use crate::rootfs;
use crate::runtime::{self, OciRuntime};
use crate::userns;
use crate::util::{self, lock_held, now_ns, wait_lock_released, FileLock};

/// The store root's paths and database, and the runtime chosen on the command line.
pub struct Engine {
    pub root: PathBuf,
    pub runroot: PathBuf,
    pub db: Db,
    /// `--runtime`: the runtime for new containers (None: the default).
    pub runtime_override: Option<Vec<OsString>>,
}

/// Where a container's files live: what must survive a reboot (the upper directory, the log)
/// under the store root; what each start writes again (the bundle's config.json, the /etc
/// files bound into it, the monitor's lock, the pid file) under the run root, a tmpfs, as
/// podman keeps its `userdata` (on ext4 their inodes cost a `run --rm` about 0.3 ms of CPU).
pub struct ContainerPaths {
    pub dir: PathBuf,
    /// The bundle directory.
    pub run: PathBuf,
}

impl ContainerPaths {
    pub fn upper(&self) -> PathBuf {
        self.dir.join("upper")
    }
    pub fn work(&self) -> PathBuf {
        self.dir.join("work")
    }
    pub fn merged(&self) -> PathBuf {
        self.dir.join("merged")
    }
    pub fn log(&self) -> PathBuf {
        self.dir.join("ctr.log")
    }
    pub fn lock(&self) -> PathBuf {
        self.run.join("monitor.lock")
    }
    pub fn pidfile(&self) -> PathBuf {
        self.run.join("pidfile")
    }
    pub fn hosts(&self) -> PathBuf {
        self.run.join("hosts")
    }
    pub fn hostname(&self) -> PathBuf {
        self.run.join("hostname")
    }
    pub fn resolv_conf(&self) -> PathBuf {
        self.run.join("resolv.conf")
    }
    pub fn config_json(&self) -> PathBuf {
        self.run.join("config.json")
    }
}

/// The default store root: /var/lib/dermaga as root, $XDG_DATA_HOME/dermaga otherwise.
pub fn default_root() -> PathBuf {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return PathBuf::from("/var/lib/dermaga");
    }
    match std::env::var_os("XDG_DATA_HOME") {
        Some(d) if !d.is_empty() => PathBuf::from(d).join("dermaga"),
        _ => PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/tmp".into()))
            .join(".local/share/dermaga"),
    }
}

/// The default run root (runtime state, cleared at boot): one per store root under /run.
pub fn default_runroot(root: &Path) -> PathBuf {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    root.hash(&mut h);
    // SAFETY: geteuid has no preconditions.
    let base = if unsafe { libc::geteuid() } == 0 {
        PathBuf::from("/run/dermaga")
    } else {
        std::env::var_os("XDG_RUNTIME_DIR")
            .map(|d| PathBuf::from(d).join("dermaga"))
            .unwrap_or_else(|| std::env::temp_dir().join("dermaga-run"))
    };
    base.join(format!("{:016x}", h.finish()))
}

/// The runtime new containers get when none is named: our own (this binary's `runtime`
/// verb, runc's command line); `--runtime runc` picks runc.
pub fn default_runtime() -> Result<Vec<OsString>> {
    runtime::own_runtime()
}

impl Engine {
    pub fn open(root: &Path, runroot: Option<&Path>, runtime: Option<&str>) -> Result<Engine> {
        fs::create_dir_all(root.join("containers"))
            .ctx(|| format!("creating the store at {}", root.display()))?;
        let root = root
            .canonicalize()
            .ctx(|| format!("store root {}", root.display()))?;
        let runroot = runroot
            .map(Path::to_path_buf)
            .unwrap_or_else(|| default_runroot(&root));
        let db = Db::open(&root)?;
        let runtime_override = runtime.map(runtime::find_runtime).transpose()?;
        Ok(Engine {
            root,
            runroot,
            db,
            runtime_override,
        })
    }

    pub fn paths(&self, id: &str) -> ContainerPaths {
        ContainerPaths {
            dir: self.root.join("containers").join(id),
            run: self.runroot.join("containers").join(id),
        }
    }

    pub fn volumes_dir(&self) -> PathBuf {
        self.root.join("volumes")
    }

    /// The runtime a container was created with.
    pub fn runtime_for(&self, cfg: &ContainerConfig) -> OciRuntime {
        let argv: Vec<OsString> = if cfg.runtime.as_os_str().is_empty() {
            self.runtime_override
                .clone()
                .unwrap_or_else(|| default_runtime().unwrap_or_default())
        } else if cfg.runtime.file_name().is_some_and(|n| n == "dermaga") {
            vec![cfg.runtime.clone().into(), "runtime".into()]
        } else {
            vec![cfg.runtime.clone().into()]
        };
        OciRuntime {
            own: runtime::is_own_runtime(&argv),
            argv,
            state_root: self.runroot.join("runtime"),
        }
    }

    pub(crate) fn lock_store(&self) -> Result<FileLock> {
        FileLock::shared(&self.root.join("engine.lock"))
    }

    /// Takes the store's lock exclusively (system check), waiting for creates and removals.
    pub fn lock_store_exclusive(&self) -> Result<FileLock> {
        FileLock::exclusive(&self.root.join("engine.lock"))
    }

    fn resolve_image(&self, opts: &CreateOptions) -> Result<ImageInfo> {
        if opts.rootfs {
            let dir = Path::new(&opts.image)
                .canonicalize()
                .ctx(|| format!("--rootfs {}", opts.image))?;
            return Ok(ImageInfo {
                id: String::new(),
                name: dir.to_string_lossy().into_owned(),
                layer_dirs: vec![dir],
                ..ImageInfo::default()
            });
        }
        crate::image::resolve(&self.db, &self.root, &opts.image)
    }

    /// `dermaga create`: the container's record and files, not started.
    pub fn create(&self, opts: &CreateOptions) -> Result<Container> {
        self.check_create_options(opts)?;
        let img = self.resolve_image(opts)?;
        self.create_with_image(opts, img)
    }

    /// The options `create` refuses before looking at the image.
    fn check_create_options(&self, opts: &CreateOptions) -> Result<()> {
        if let Some(p) = opts.publish.first() {
            return Err(Error::engine(format!(
                "-p/--publish {p}: publishing ports needs a bridge network, which dermaga does not \
                 have yet; use --network host and have the service listen on a host port"
            )));
        }
        let network = opts.network.clone().unwrap_or_else(|| "none".into());
        if network != "none" && network != "host" {
            return Err(Error::engine(format!(
                "--network {network}: dermaga supports only \"none\" (the default) and \"host\" \
                 until bridge networks exist"
            )));
        }
        let userns = userns::parse(opts.userns.as_deref(), &opts.uidmap, &opts.gidmap)?;
        if opts.rootfs && userns != userns::Request::Host {
            return Err(Error::engine(
                "--rootfs with a user namespace: dermaga idmaps only image layers; use an image \
                 (dermaga import) or the host's user namespace",
            ));
        }
        Ok(())
    }

    /// A container over an image already resolved (or over layers that are not an image yet,
    /// as a build's RUN step has).
    pub fn create_with_image(&self, opts: &CreateOptions, img: ImageInfo) -> Result<Container> {
        self.check_create_options(opts)?;
        let id = util::random_id()?;
        let name = opts.name.clone().unwrap_or_else(|| util::random_name(&id));
        if name.is_empty()
            || !name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric())
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        {
            return Err(Error::engine(format!(
                "container name {name:?} is invalid: names must match [a-zA-Z0-9][a-zA-Z0-9_.-]*"
            )));
        }
        let request = userns::parse(opts.userns.as_deref(), &opts.uidmap, &opts.gidmap)?;
        // auto's ranges are free until the container's row holds them: one create at a time
        // picks them.
        let _userns_lock = match request {
            userns::Request::Auto(_) => Some(FileLock::exclusive(&self.root.join("userns.lock"))?),
            _ => None,
        };
        let ns = self.resolve_userns(request, &img)?;
        let mut cfg = self.build_config(opts, &img, &id)?;
        cfg.userns = ns.mode;
        cfg.uid_map = ns.uid_map;
        cfg.gid_map = ns.gid_map;
        let now = now_ns();
        let mut c = Container {
            id: id.clone(),
            name,
            image_id: img.id.clone(),
            image_name: img.name.clone(),
            created_ns: now,
            state: State::Created,
            pid: 0,
            monitor_pid: 0,
            exit_code: None,
            oom_killed: false,
            started_ns: 0,
            finished_ns: 0,
            error: String::new(),
            config: cfg,
        };
        let _lock = self.lock_store()?;
        self.ensure_volumes(&c.config)?;
        let p = self.paths(&id);
        // Whatever fails from here leaves no directory of the container behind.
        if let Err(e) = self.lay_out_and_record(&mut c, &p, opts.name.is_none()) {
            if rootfs::finish_early_mount(&id) {
                let _ = rootfs::unmount_container(&p.dir);
            }
            let _ = fs::remove_dir_all(&p.dir);
            let _ = fs::remove_dir_all(&p.run);
            return Err(e);
        }
        Ok(c)
    }

    /// Makes the container's directories and files and records it. A generated name may be
    /// taken (1,008 of them: 20 concurrent creates pick the same one about once in six):
    /// with `generated_name`, another is picked, as podman does.
    fn lay_out_and_record(
        &self,
        c: &mut Container,
        p: &ContainerPaths,
        generated_name: bool,
    ) -> Result<()> {
        for d in [p.upper(), p.work(), p.merged(), p.run.clone()] {
            fs::create_dir_all(&d).ctx(|| format!("creating {}", d.display()))?;
        }
        self.start_early_mount(c, p)?;
        self.write_etc_files(c)?;
        self.chown_to_mapped_root(c)?;
        self.let_mapped_root_through(c)?;
        let mut tries = 0;
        while let Err(e) = self.db.insert(c) {
            tries += 1;
            let retry = generated_name
                && tries < 100
                && matches!(self.db.find(&c.name), Ok(Some(other)) if other.id != c.id);
            if !retry {
                return Err(e);
            }
            c.name = util::random_name(&util::random_id()?);
            self.write_etc_files(c)?; // /etc/hosts names it
        }
        Ok(())
    }

    fn build_config(
        &self,
        o: &CreateOptions,
        img: &ImageInfo,
        id: &str,
    ) -> Result<ContainerConfig> {
        let mut env = img.env.clone();
        if !env.iter().any(|e| e.starts_with("PATH=")) {
            env.insert(0, format!("PATH={}", crate::spec::DEFAULT_PATH));
        }
        for f in &o.env_files {
            for kv in config::read_env_file(f)? {
                config::env_set(&mut env, &kv);
            }
        }
        for e in &o.env {
            for kv in config::expand_env_flag(e) {
                config::env_set(&mut env, &kv);
            }
        }
        let mut entrypoint = img.entrypoint.clone();
        let mut cmd = img.cmd.clone();
        if let Some(ep) = &o.entrypoint {
            entrypoint = if ep.trim_start().starts_with('[') {
                serde_json::from_str(ep).map_err(|e| {
                    Error::engine(format!(
                        "--entrypoint {ep:?} is not a JSON array of strings: {e}"
                    ))
                })?
            } else if ep.is_empty() {
                vec![]
            } else {
                vec![ep.clone()]
            };
            cmd = vec![];
        }
        if !o.command.is_empty() {
            cmd = o.command.clone();
        }
        if entrypoint.is_empty() && cmd.is_empty() {
            return Err(Error::engine(
                "no command or entrypoint provided, and no CMD or ENTRYPOINT from the image: \
                 give the command after the image name",
            ));
        }
        let mut mounts = Vec::new();
        for v in &o.volumes {
            mounts.push(parse_volume_flag(v)?);
        }
        for m in &o.mounts {
            mounts.push(parse_mount_flag(m)?);
        }
        for t in &o.tmpfs {
            mounts.push(parse_tmpfs_flag(t)?);
        }
        for m in &mut mounts {
            if m.kind == MountKind::Volume && m.source.is_empty() {
                m.source = util::random_id()?;
            }
            if m.kind == MountKind::Bind && !Path::new(&m.source).exists() {
                return Err(Error::engine(format!(
                    "statfs {}: no such file or directory (the host path of a bind mount must exist)",
                    m.source
                )));
            }
        }
        let mut dsts = std::collections::HashSet::new();
        for m in &mounts {
            if !dsts.insert(m.destination.clone()) {
                return Err(Error::engine(format!(
                    "{}: duplicate mount destination",
                    m.destination
                )));
            }
        }
        let mut no_new_privileges = false;
        let mut seccomp = Seccomp::Default;
        for s in &o.security_opt {
            let (k, v) = s.split_once(['=', ':']).unwrap_or((s.as_str(), ""));
            match (k, v) {
                ("no-new-privileges", "" | "true") => no_new_privileges = true,
                ("no-new-privileges", "false") => no_new_privileges = false,
                ("seccomp", "unconfined") => seccomp = Seccomp::Unconfined,
                ("seccomp", file) if !file.is_empty() => {
                    let text = fs::read_to_string(file)
                        .ctx(|| format!("--security-opt seccomp={file}"))?;
                    crate::seccomp::to_oci(&text, &[])
                        .map_err(|e| e.context(format!("--security-opt seccomp={file}")))?;
                    seccomp = Seccomp::Profile(text);
                }
                ("label", _) | ("apparmor", _) | ("mask", _) | ("unmask", _) => {
                    return Err(Error::engine(format!(
                        "--security-opt {s}: not supported by dermaga yet"
                    )))
                }
                _ => return Err(Error::engine(format!("invalid --security-opt {s:?}"))),
            }
        }
        let mut labels = img.labels.clone();
        for l in &o.labels {
            let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
            labels.insert(k.to_string(), v.to_string());
        }
        let mut annotations = BTreeMap::new();
        for a in &o.annotations {
            let (k, v) = a.split_once('=').unwrap_or((a.as_str(), ""));
            annotations.insert(k.to_string(), v.to_string());
        }
        let stop_signal = o
            .stop_signal
            .clone()
            .or_else(|| (!img.stop_signal.is_empty()).then(|| img.stop_signal.clone()))
            .unwrap_or_else(|| "SIGTERM".into());
        let stop_signal = config::signal_name(config::parse_signal(&stop_signal)?);
        let memory = o.memory.as_deref().map(util::parse_size).transpose()?;
        if let Some(m) = memory {
            if m < 6 * 1024 * 1024 {
                return Err(Error::engine("minimum memory limit allowed is 6MB"));
            }
        }
        if let Some(c) = o.cpus {
            if c <= 0.0 {
                return Err(Error::engine("--cpus must be above 0"));
            }
        }
        let ulimits = o
            .ulimits
            .iter()
            .map(|u| config::parse_ulimit(u))
            .collect::<Result<_>>()?;
        for c in o.cap_add.iter().chain(&o.cap_drop) {
            crate::spec::normalize_cap(c)?;
        }
        let init_path = if o.init {
            let p = o
                .init_path
                .clone()
                .unwrap_or_else(|| "/usr/libexec/podman/catatonit".into());
            let cands = [
                p.clone(),
                "/usr/bin/catatonit".into(),
                "/usr/bin/tini-static".into(),
            ];
            cands.into_iter().find(|c| Path::new(c).is_file()).ok_or_else(|| {
                Error::engine(format!(
                    "--init needs an init binary ({p}): install catatonit (apt-get install catatonit) \
                     or give --init-path"
                ))
            })?
        } else {
            String::new()
        };
        let runtime = match &self.runtime_override {
            Some(v) if v.len() == 1 => PathBuf::from(&v[0]),
            Some(v) => PathBuf::from(&v[0]), // [dermaga, runtime]
            None => default_runtime()?
                .first()
                .map(PathBuf::from)
                .unwrap_or_default(),
        };
        let (layer_dirs, rootfs) = if o.rootfs {
            (vec![], img.layer_dirs.first().cloned())
        } else {
            (img.layer_dirs.clone(), None)
        };
        Ok(ContainerConfig {
            image: o.image.clone(),
            rootfs,
            layer_dirs,
            entrypoint,
            cmd,
            env,
            workdir: o.workdir.clone().unwrap_or_else(|| img.workdir.clone()),
            user: o.user.clone().unwrap_or_else(|| img.user.clone()),
            hostname: o.hostname.clone().unwrap_or_else(|| id[..12].to_string()),
            tty: o.tty,
            interactive: o.interactive,
            rm: o.rm,
            volatile_rootfs: o.volatile_rootfs,
            labels,
            annotations,
            stop_signal,
            stop_timeout: o.stop_timeout.unwrap_or(10),
            mounts,
            memory,
            cpus: o.cpus,
            pids_limit: o.pids_limit,
            ulimits,
            read_only: o.read_only,
            read_only_tmpfs: o.read_only_tmpfs,
            cap_add: o.cap_add.clone(),
            cap_drop: o.cap_drop.clone(),
            privileged: o.privileged,
            no_new_privileges,
            seccomp,
            // Resolved by the caller (resolve_userns).
            userns: String::new(),
            uid_map: Vec::new(),
            gid_map: Vec::new(),
            init: o.init,
            init_path,
            network: if o.network.as_deref() == Some("host") {
                "host".into()
            } else {
                "none".into()
            },
            runtime,
            create_command: o.create_command.clone(),
        })
    }

    /// The user namespace a create asks for, with `auto`'s ranges picked (the caller holds
    /// `userns.lock`).
    fn resolve_userns(&self, request: userns::Request, img: &ImageInfo) -> Result<userns::UserNs> {
        use userns::{Request, UserNs};
        Ok(match request {
            Request::Host => UserNs::default(),
            Request::Maps { uid, gid } => UserNs {
                mode: "private".into(),
                uid_map: uid,
                gid_map: gid,
            },
            Request::Path(p) => {
                // The maps go into the spec too: runc wants them even for a joined namespace.
                let (uid_map, gid_map) = userns::maps_of(&p)?;
                UserNs {
                    mode: format!("ns:{}", p.display()),
                    uid_map,
                    gid_map,
                }
            }
            Request::Container(name) => {
                let other = self.db.get(&name)?;
                if other.config.uid_map.is_empty() && other.config.gid_map.is_empty() {
                    // Its namespace is the host's: joining it is the default.
                    UserNs::default()
                } else {
                    UserNs {
                        mode: format!("container:{}", other.id),
                        uid_map: other.config.uid_map,
                        gid_map: other.config.gid_map,
                    }
                }
            }
            Request::Auto(opts) => {
                let uids = userns::subordinate_ranges(Path::new("/etc/subuid"), userns::AUTO_USER)?;
                let gids = userns::subordinate_ranges(Path::new("/etc/subgid"), userns::AUTO_USER)?;
                let (mut used_uids, mut used_gids) = (Vec::new(), Vec::new());
                for c in self.db.list()? {
                    used_uids.extend(c.config.uid_map);
                    used_gids.extend(c.config.gid_map);
                }
                let size = match opts.size {
                    Some(n) => n,
                    None => {
                        let read = |f: &str| self.image_file(img, f).unwrap_or_default();
                        userns::auto_size(&read("etc/passwd"), &read("etc/group"))?
                    }
                };
                let (uid_map, gid_map) =
                    userns::allocate(size, &uids, &gids, &used_uids, &used_gids, &opts)?;
                UserNs {
                    mode: "private".into(),
                    uid_map,
                    gid_map,
                }
            }
        })
    }

    /// A file of the image as its top-most layer has it (whiteouts aside).
    fn image_file(&self, img: &ImageInfo, rel: &str) -> Option<String> {
        img.layer_dirs
            .iter()
            .rev()
            .find_map(|d| fs::read_to_string(self.root.join(d).join(rel)).ok())
    }

    /// In a user namespace, the container's root owns the root of its upper directory and
    /// the /etc files bound into it, as under podman: else they would be the overflow user's
    /// and read-only to it.
    /// The run root's files of a container, written again if a reboot emptied the run root.
    pub(crate) fn ensure_run_files(&self, c: &Container) -> Result<()> {
        let p = self.paths(&c.id);
        if p.hosts().exists() {
            return Ok(());
        }
        fs::create_dir_all(&p.run).ctx(|| format!("creating {}", p.run.display()))?;
        self.write_etc_files(c)?;
        self.chown_to_mapped_root(c)
    }

    /// The container's init resolves its root file system and the /etc files it binds as
    /// the mapped root, which host root's directories grant only what they grant others: the
    /// store's and the run root's own directories (and /run/dermaga, the default run roots'
    /// parent) get search permission for others (0711 at least, as containers-storage gives
    /// its directories), never read. Directories that are not dermaga's are left as they are;
    /// if they forbid the way, the runtime's error names the file.
    fn let_mapped_root_through(&self, c: &Container) -> Result<()> {
        if c.config.uid_map.is_empty() && !userns::joins_existing(&c.config.userns) {
            return Ok(());
        }
        use std::os::unix::fs::PermissionsExt;
        let mut dirs = vec![
            self.root.clone(),
            self.root.join("containers"),
            self.runroot.clone(),
            self.runroot.join("containers"),
        ];
        if self.runroot == default_runroot(&self.root) {
            dirs.extend(self.runroot.parent().map(Path::to_path_buf));
        }
        for d in dirs {
            let Ok(meta) = fs::metadata(&d) else { continue };
            let mode = meta.permissions().mode() & 0o7777;
            if mode & 0o001 == 0 {
                fs::set_permissions(&d, fs::Permissions::from_mode(mode | 0o011)).ctx(|| {
                    format!(
                        "letting the container's mapped root through {}",
                        d.display()
                    )
                })?;
            }
        }
        Ok(())
    }

    fn chown_to_mapped_root(&self, c: &Container) -> Result<()> {
        let (Some(uid), Some(gid)) = (
            userns::to_host(&c.config.uid_map, 0),
            userns::to_host(&c.config.gid_map, 0),
        ) else {
            return Ok(());
        };
        let p = self.paths(&c.id);
        for f in [p.upper(), p.hosts(), p.hostname(), p.resolv_conf()] {
            std::os::unix::fs::chown(&f, Some(uid), Some(gid)).ctx(|| {
                format!(
                    "giving {} to the container's root ({uid}:{gid})",
                    f.display()
                )
            })?;
        }
        Ok(())
    }

    fn write_etc_files(&self, c: &Container) -> Result<()> {
        let p = self.paths(&c.id);
        let host_net = c.config.network == "host";
        let hosts = if host_net {
            fs::read_to_string("/etc/hosts").unwrap_or_default()
        } else {
            format!(
                "127.0.0.1\tlocalhost localhost.localdomain localhost4 localhost4.localdomain4\n\
                 ::1\tlocalhost localhost.localdomain localhost6 localhost6.localdomain6\n\
                 127.0.1.1\t{} {}\n",
                c.config.hostname, c.name
            )
        };
        fs::write(p.hosts(), hosts).ctx(|| "writing /etc/hosts".into())?;
        let hostname = if host_net {
            fs::read_to_string("/etc/hostname").unwrap_or_default()
        } else {
            format!("{}\n", c.config.hostname)
        };
        fs::write(p.hostname(), hostname).ctx(|| "writing /etc/hostname".into())?;
        let resolv = fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        fs::write(p.resolv_conf(), resolv).ctx(|| "writing /etc/resolv.conf".into())?;
        Ok(())
    }

    /// Creates the named volumes a container uses that do not exist yet.
    fn ensure_volumes(&self, cfg: &ContainerConfig) -> Result<()> {
        for m in cfg.mounts.iter().filter(|m| m.kind == MountKind::Volume) {
            if self.db.volume(&m.source)?.is_none() {
                let anonymous = m.source.len() == 64;
                self.create_volume(&m.source, BTreeMap::new(), anonymous)?;
                // As podman does for a new volume: the container's root (here the mapped
                // one) owns it, else a container in a user namespace could not write to it.
                if let (Some(uid), Some(gid)) = (
                    userns::to_host(&cfg.uid_map, 0),
                    userns::to_host(&cfg.gid_map, 0),
                ) {
                    let data = self.volumes_dir().join(&m.source).join("_data");
                    std::os::unix::fs::chown(&data, Some(uid), Some(gid))
                        .ctx(|| format!("giving {} to the container's root", data.display()))?;
                }
            }
        }
        Ok(())
    }

    pub fn create_volume(
        &self,
        name: &str,
        labels: BTreeMap<String, String>,
        anonymous: bool,
    ) -> Result<bool> {
        let dir = self.volumes_dir().join(name).join("_data");
        fs::create_dir_all(&dir).ctx(|| format!("creating {}", dir.display()))?;
        self.db.insert_volume(&Volume {
            name: name.to_string(),
            created_ns: now_ns(),
            driver: "local".into(),
            labels,
            options: BTreeMap::new(),
            anonymous,
        })
    }

    /// Starts a container in the background under its own monitor; returns when it runs.
    pub fn start_detached(&self, id: &str) -> Result<()> {
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
        let exe = std::env::current_exe().ctx(|| "finding the dermaga binary".into())?;
        let mut cmd = Command::new(exe);
        cmd.arg("--root")
            .arg(&self.root)
            .arg("--runroot")
            .arg(&self.runroot);
        cmd.arg("__monitor")
            .arg(id)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let wfd = w.as_raw_fd();
        runtime::reset_signals(&mut cmd);
        // SAFETY: dup2 and setsid are async-signal-safe.
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(wfd, 3) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::setsid();
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .ctx(|| "starting the container's monitor".into())?;
        drop(w);
        let mut msg = String::new();
        let mut f = fs::File::from(r);
        let _ = f.read_to_string(&mut msg);
        let _ = child.wait();
        crate::monitor::parse_sync(&msg)
    }

    /// The container, with a lost monitor noticed: if the state says running but nobody holds
    /// the monitor's lock, the monitor died (kill -9): the container is stopped and recorded.
    pub fn get_checked(&self, key: &str) -> Result<Container> {
        let c = self.db.get(key)?;
        if c.state == State::Running && !lock_held(&self.paths(&c.id).lock()) {
            return self.recover_lost_monitor(&c);
        }
        Ok(c)
    }

    /// Stops a container whose monitor is gone and records it as exited.
    pub fn recover_lost_monitor(&self, c: &Container) -> Result<Container> {
        let p = self.paths(&c.id);
        let Some(_lock) = FileLock::try_exclusive(&p.lock())? else {
            return self.db.get(&c.id);
        };
        let fresh = self.db.get(&c.id)?;
        if fresh.state != State::Running {
            return Ok(fresh);
        }
        let rt = self.runtime_for(&c.config);
        let _ = rt.kill(&c.id, libc::SIGKILL, true);
        let _ = rt.delete(&c.id, true);
        let _ = rootfs::unmount_container(&p.dir);
        self.db.set_exited(
            &c.id,
            137,
            false,
            now_ns(),
            "the container's monitor was lost (killed)",
        )?;
        self.db.get(&c.id)
    }

    /// `stop`: the stop signal, then SIGKILL after `timeout` seconds.
    pub fn stop(&self, key: &str, timeout: Option<u32>) -> Result<Container> {
        let c = self.get_checked(key)?;
        if c.state != State::Running {
            return Ok(c);
        }
        let p = self.paths(&c.id);
        let rt = self.runtime_for(&c.config);
        let sig = config::parse_signal(&c.config.stop_signal).unwrap_or(libc::SIGTERM);
        let t = timeout.unwrap_or(c.config.stop_timeout);
        if t > 0 {
            let _ = rt.kill(&c.id, sig, false);
        }
        if !wait_lock_released(&p.lock(), Some(Duration::from_secs(t as u64))) {
            if t > 0 {
                eprintln!(
                    "WARN[{t:04}] StopSignal {} failed to stop container {} in {t} seconds, resorting to SIGKILL",
                    c.config.stop_signal, c.name
                );
            }
            let _ = rt.kill(&c.id, libc::SIGKILL, true);
            wait_lock_released(&p.lock(), None);
        }
        Ok(self.db.find(&c.id)?.unwrap_or(c))
    }

    /// `kill`: a signal to the container's main process.
    pub fn kill(&self, key: &str, signal: i32) -> Result<Container> {
        let c = self.get_checked(key)?;
        if c.state != State::Running {
            return Err(Error::engine(format!(
                "can only kill running containers. {} is in state {}: container state improper",
                c.id,
                c.state.as_str()
            )));
        }
        self.runtime_for(&c.config).kill(&c.id, signal, false)?;
        Ok(c)
    }

    /// `rm`: with `force`, a running container is killed first.
    pub fn remove(&self, key: &str, force: bool, volumes: bool) -> Result<Container> {
        let c = self.get_checked(key)?;
        let p = self.paths(&c.id);
        if c.state == State::Running {
            if !force {
                // podman answers this one with exit code 2.
                return Err(Error {
                    code: 2,
                    msg: format!(
                        "cannot remove container {} as it is running - running or paused \
                         containers cannot be removed without force: container state improper \
                         (stop it first, or use `dermaga rm -f`)",
                        c.id
                    ),
                });
            }
            let _ = self.runtime_for(&c.config).kill(&c.id, libc::SIGKILL, true);
            wait_lock_released(&p.lock(), None);
        }
        let _lock = FileLock::exclusive(&p.lock())?;
        let Some(c) = self.db.find(&c.id)? else {
            // Its monitor removed it (--rm).
            return Ok(c);
        };
        if c.state == State::Running {
            return self.remove(&c.id, force, volumes);
        }
        self.remove_locked(&c, volumes)?;
        Ok(c)
    }

    /// Removes a container whose monitor lock the caller holds.
    pub fn remove_locked(&self, c: &Container, volumes: bool) -> Result<()> {
        let _store = self.lock_store()?;
        self.remove_files(c, volumes)
    }

    /// Removes a container's files and record; the caller holds its monitor lock and the
    /// store lock (shared, or exclusively as `system check` does).
    pub(crate) fn remove_files(&self, c: &Container, volumes: bool) -> Result<()> {
        self.db.set_state(&c.id, State::Removing)?;
        self.remove_files_marked(c, volumes)
    }

    /// The end of a container that goes with its exit (--rm): its exit recorded as the start
    /// of its removal in one transaction (one fewer than exit, then removal), under the store
    /// lock as every removal is, then its files and record removed.
    pub fn record_exit_and_remove(&self, c: &Container, code: i32, oom: bool) -> Result<()> {
        let _store = self.lock_store()?;
        self.db
            .set_ended(&c.id, State::Removing, code, oom, now_ns(), "")?;
        self.remove_files_marked(c, true)
    }

    fn remove_files_marked(&self, c: &Container, volumes: bool) -> Result<()> {
        let p = self.paths(&c.id);
        rootfs::unmount_container(&p.dir)?;
        if p.dir.exists() {
            fs::remove_dir_all(&p.dir).ctx(|| format!("removing {}", p.dir.display()))?;
        }
        if p.run.exists() {
            fs::remove_dir_all(&p.run).ctx(|| format!("removing {}", p.run.display()))?;
        }
        self.db.delete(&c.id)?;
        // Anonymous volumes go with their container (podman's --rm and rm -v).
        for m in c
            .config
            .mounts
            .iter()
            .filter(|m| m.kind == MountKind::Volume)
        {
            let anon = self.db.volume(&m.source)?.is_some_and(|v| v.anonymous);
            if anon && (volumes || c.config.rm) {
                let _ = self.remove_volume_unchecked(&m.source);
            }
        }
        Ok(())
    }

    pub fn remove_volume_unchecked(&self, name: &str) -> Result<()> {
        let dir = self.volumes_dir().join(name);
        if dir.exists() {
            fs::remove_dir_all(&dir).ctx(|| format!("removing {}", dir.display()))?;
        }
        self.db.delete_volume(name)
    }

    /// Containers (any state) whose configuration mounts volume `name`.
    pub fn volume_users(&self, name: &str) -> Result<Vec<Container>> {
        Ok(self
            .db
            .list()?
            .into_iter()
            .filter(|c| {
                c.config
                    .mounts
                    .iter()
                    .any(|m| m.kind == MountKind::Volume && m.source == name)
            })
            .collect())
    }

    /// `wait`: blocks until the container exits; its exit code.
    pub fn wait(&self, key: &str) -> Result<i32> {
        let mut c = self.get_checked(key)?;
        loop {
            match c.state {
                State::Running => {
                    wait_lock_released(&self.paths(&c.id).lock(), None);
                }
                State::Exited | State::Removing => return Ok(c.exit_code.unwrap_or(-1)),
                State::Created => std::thread::sleep(Duration::from_millis(50)),
            }
            c = match self.db.find(&c.id)? {
                Some(c) => c,
                // Removed after it exited (--rm): podman reports the code it had.
                None => return Err(Error::no_such_container(key)),
            };
            if c.state == State::Running && !lock_held(&self.paths(&c.id).lock()) {
                std::thread::sleep(Duration::from_millis(5));
                c = self.get_checked(&c.id)?;
            }
        }
    }

    /// Whether a running container's monitor is alive.
    pub fn monitor_alive(&self, id: &str) -> bool {
        lock_held(&self.paths(id).lock())
    }

    /// Mounts the container's root file system if needed; its path.
    /// With [`rootfs::mount_early`], starts mounting the new container's overlay on the
    /// other CPU (see [`rootfs::PendingOverlay`]); [`Engine::mount_rootfs`] waits for it.
    /// Only the plain case: an image's layers, no user namespace (idmapped layers).
    fn start_early_mount(&self, c: &Container, p: &ContainerPaths) -> Result<()> {
        let cfg = &c.config;
        if !rootfs::early_mounts_wanted()
            || cfg.rootfs.is_some()
            || !cfg.uid_map.is_empty()
            || !cfg.gid_map.is_empty()
            || self.userns_path(cfg)?.is_some()
        {
            return Ok(());
        }
        if let Some(m) = rootfs::start_overlay(&self.overlay(c, p)) {
            rootfs::keep_early_mount(&c.id, m);
        }
        Ok(())
    }

    /// Container `c`'s overlay: its image's layers under its own directories, volatile (no
    /// syncs) when the container goes with its exit.
    fn overlay(&self, c: &Container, p: &ContainerPaths) -> rootfs::Overlay {
        let (store_root, links) = crate::image::layer_links(&self.root, &c.config.layer_dirs);
        rootfs::Overlay {
            store_root,
            links,
            upper: p.upper(),
            work: p.work(),
            merged: p.merged(),
            volatile: c.config.rm || c.config.volatile_rootfs,
        }
    }

    pub fn mount_rootfs(&self, c: &Container) -> Result<PathBuf> {
        if let Some(r) = &c.config.rootfs {
            return Ok(r.clone());
        }
        rootfs::finish_early_mount(&c.id);
        let p = self.paths(&c.id);
        let cfg = &c.config;
        let userns = if let Some(path) = self.userns_path(cfg)? {
            Some(OwnedFd::from(fs::File::open(&path).ctx(|| {
                format!("opening the user namespace {}", path.display())
            })?))
        } else if !cfg.uid_map.is_empty() || !cfg.gid_map.is_empty() {
            Some(userns::namespace_with(&cfg.uid_map, &cfg.gid_map)?)
        } else {
            None
        };
        let staging = p.dir.join(rootfs::IDMAP_STAGING);
        let idmap = userns.as_ref().map(|ns| rootfs::Idmap {
            userns: ns.as_fd(),
            staging: &staging,
        });
        rootfs::mount_overlay(&self.overlay(c, &p), idmap)?;
        Ok(p.merged())
    }

    /// The user namespace a container joins (`ns:PATH`, or the namespace of the running
    /// container it names); None when it has its own or the host's.
    pub fn userns_path(&self, cfg: &ContainerConfig) -> Result<Option<PathBuf>> {
        if let Some(path) = cfg.userns.strip_prefix("ns:") {
            return Ok(Some(PathBuf::from(path)));
        }
        let Some(id) = cfg.userns.strip_prefix("container:") else {
            return Ok(None);
        };
        let other = self.db.get(id)?;
        if other.state != State::Running || other.pid <= 0 {
            return Err(Error::engine(format!(
                "--userns container:{}: that container is not running, so it has no user \
                 namespace to join (start it first)",
                other.name
            )));
        }
        Ok(Some(PathBuf::from(format!("/proc/{}/ns/user", other.pid))))
    }

    pub fn unmount_rootfs(&self, c: &Container) -> Result<()> {
        if c.config.rootfs.is_some() {
            return Ok(());
        }
        rootfs::unmount_container(&self.paths(&c.id).dir)
    }

    /// The OCI runtime for this engine's new containers.
    pub fn runtime_new(&self) -> Result<Vec<OsString>> {
        match &self.runtime_override {
            Some(v) => Ok(v.clone()),
            None => default_runtime(),
        }
    }
}

/// Closes the fd on drop (for raw fds handed over from a parent).
pub fn owned(fd: i32) -> OwnedFd {
    // SAFETY: the caller passes a descriptor it owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}
