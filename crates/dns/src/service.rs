//! The DNS server as a whole: zones loaded from files, served, reloaded, edited at run time.
//!
//! This is what `dermaga dns` runs and what other parts of dermaga embed:
//!
//! ```no_run
//! use dermaga_dns::{DnsConfig, ZoneSource};
//! let mut config = DnsConfig::default();
//! config.server.listen.push("127.0.0.1:5353".parse().unwrap());
//! config.zones.push(ZoneSource::file("example.com.zone"));
//! let server = dermaga_dns::start(config).expect("zones load and ports bind");
//! let handle = server.handle();            // cheap to clone, usable from any thread
//! // handle.add_record(record)?;           // served at once, SOA serial bumped, NOTIFY sent
//! server.stop();
//! ```
//!
//! Every change — a reload, an edit through [`DnsHandle`] — builds a new [`Zone`] beside the
//! old one and publishes a new [`ZoneSet`] with one atomic swap: queries in flight finish on
//! the old set, the next ones see the new, none is dropped. A zone that fails to load keeps
//! serving its previous version.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use arc_swap::ArcSwap;
use bytes::Bytes;
use domain::base::iana::Rtype;
use domain::base::{Name, Serial, ToName};
use domain::rdata::{Soa, ZoneRecordData};

use crate::answer::ZoneSet;
use crate::nsdconf::{AclAddress, AclKey, NsdConf};
use crate::rrl::RateLimit;
use crate::server::{Server, ServerConfig};
use crate::tsig::TsigKey;
use crate::wire;
use crate::xfr::{self, TransferPolicy, ZoneTransfer};
use crate::xfr::{NotifyTarget, TransferAcl};
use crate::zone::Zone;
use crate::zonefile::ZoneRecord;

/// Where a zone comes from.
#[derive(Clone, Debug)]
pub struct ZoneSource {
    /// The origin; without it, the file's SOA owner (or `$ORIGIN`) decides.
    pub origin: Option<Name<Bytes>>,
    pub file: PathBuf,
    /// allow-transfer and notify of this zone.
    pub transfer: ZoneTransfer,
}

impl ZoneSource {
    pub fn file(path: impl Into<PathBuf>) -> ZoneSource {
        ZoneSource {
            origin: None,
            file: path.into(),
            transfer: ZoneTransfer::default(),
        }
    }
}

/// Everything a DNS server needs to start.
#[derive(Clone, Debug, Default)]
pub struct DnsConfig {
    pub server: ServerConfig,
    pub zones: Vec<ZoneSource>,
    /// Written with the process id while serving (`dermaga dns reload` reads it).
    pub pidfile: Option<PathBuf>,
}

impl DnsConfig {
    /// The configuration an nsd.conf describes. The second value lists what is accepted but
    /// served differently (NSD options dermaga does not implement), for the caller to warn.
    pub fn from_nsd_conf(conf: &NsdConf) -> Result<(DnsConfig, Vec<String>), String> {
        let mut notes = Vec::new();
        let mut config = DnsConfig::default();
        let s = &conf.server;
        if s.ip_addresses.is_empty() {
            config
                .server
                .listen
                .push(SocketAddr::from(([0, 0, 0, 0], s.port)));
            config
                .server
                .listen
                .push(SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, s.port)));
        }
        for (ip, port) in &s.ip_addresses {
            config
                .server
                .listen
                .push(SocketAddr::new(*ip, port.unwrap_or(s.port)));
        }
        config.server.udp_workers = s.server_count.max(1) as usize;
        config.pidfile = s.pidfile.clone();
        if !s.minimal_responses {
            notes.push(
                "minimal-responses: no: dermaga always answers minimally (as with yes)".into(),
            );
        }
        if s.rrl.size as usize > crate::rrl::MAX_SIZE {
            notes.push(format!(
                "rrl-size: {}: dermaga's tables hold at most {} buckets; using that",
                s.rrl.size,
                crate::rrl::MAX_SIZE
            ));
        }
        // As NSD: on unless `rrl-ratelimit: 0` (Debian's NSD has it on at 200 per second);
        // kept when off, so that a command-line limit starts from the file's other settings.
        config.server.rate_limit = Some(RateLimit {
            ratelimit: s.rrl.ratelimit,
            slip: s.rrl.slip,
            ipv4_prefix_length: s.rrl.ipv4_prefix_length,
            ipv6_prefix_length: s.rrl.ipv6_prefix_length,
            whitelist_ratelimit: s.rrl.whitelist_ratelimit,
            size: s.rrl.size as usize,
            whitelist: Default::default(),
        });
        let mut keys: HashMap<String, Arc<TsigKey>> = HashMap::new();
        for k in &conf.keys {
            let key = TsigKey::from_secret(&k.name, &k.algorithm, &k.secret)
                .map_err(|e| format!("{}: {e}", k.location))?;
            keys.insert(
                k.name.trim_end_matches('.').to_ascii_lowercase(),
                Arc::new(key),
            );
        }
        let key_of = |k: &AclKey, what: &str| -> Result<(Option<Arc<TsigKey>>, bool), String> {
            match k {
                AclKey::NoKey => Ok((None, false)),
                AclKey::Blocked => Ok((None, true)),
                AclKey::Key(name) => keys
                    .get(&name.trim_end_matches('.').to_ascii_lowercase())
                    .cloned()
                    .map(|k| (Some(k), false))
                    .ok_or_else(|| format!("{what}: key {name} is not defined")),
            }
        };
        for z in &conf.zones {
            let mut src = ZoneSource::file(&z.zonefile);
            src.origin = Some(z.name.clone());
            for acl in &z.provide_xfr {
                let (key, blocked) = key_of(&acl.key, &format!("{}: provide-xfr", z.location))?;
                src.transfer.allow.push(TransferAcl {
                    address: acl.address.clone(),
                    key,
                    blocked,
                });
            }
            for n in &z.notify {
                let (key, _) = key_of(&n.key, &format!("{}: notify", z.location))?;
                let AclAddress::Subnet(ip, len) = n.address else {
                    return Err(format!(
                        "{}: notify: {n} is not a single address",
                        z.location
                    ));
                };
                if len != if ip.is_ipv4() { 32 } else { 128 } {
                    return Err(format!(
                        "{}: notify: {n} is not a single address",
                        z.location
                    ));
                }
                src.transfer.notify.push(NotifyTarget {
                    addr: SocketAddr::new(ip, n.port.unwrap_or(53)),
                    key,
                });
            }
            for kind in &z.rrl_whitelist {
                if let Some(r) = config.server.rate_limit.as_mut() {
                    r.whitelist
                        .add(&z.name, kind)
                        .map_err(|e| format!("{}: {e}", z.location))?;
                }
            }
            config.zones.push(src);
        }
        Ok((config, notes))
    }
}

/// Why a server could not start or a change was refused.
#[derive(Debug)]
pub enum DnsError {
    /// A zone file did not load (every error of the file, with positions).
    Zone { file: PathBuf, message: String },
    /// Binding a listening address (or starting a thread) failed.
    Io(io::Error),
    /// An edit names a zone that is not served.
    NoSuchZone(String),
    /// An edit would make the zone unservable.
    Invalid(String),
}

impl std::fmt::Display for DnsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DnsError::Zone { file, message } => write!(f, "zone {}: {message}", file.display()),
            DnsError::Io(e) => write!(f, "{e}"),
            DnsError::NoSuchZone(z) => write!(f, "zone {z} is not served"),
            DnsError::Invalid(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for DnsError {}

impl From<io::Error> for DnsError {
    fn from(e: io::Error) -> Self {
        DnsError::Io(e)
    }
}

/// Loads and indexes one zone file.
pub fn load_source(src: &ZoneSource) -> Result<Zone, DnsError> {
    Zone::load_file(&src.file, src.origin.as_ref()).map_err(|e| DnsError::Zone {
        file: src.file.clone(),
        message: e.to_string(),
    })
}

/// The state a reload compares against: each file's modification time when last loaded.
struct Loaded {
    sources: Vec<ZoneSource>,
    mtimes: HashMap<PathBuf, Option<SystemTime>>,
}

/// A running DNS server.
pub struct DnsServer {
    server: Server,
    handle: DnsHandle,
    loaded: Mutex<Loaded>,
    pidfile: Option<PathBuf>,
}

/// Starts serving: loads every zone (any failure stops the start), binds, writes the pid file.
pub fn start(config: DnsConfig) -> Result<DnsServer, DnsError> {
    let mut zones = Vec::new();
    let mut policy = TransferPolicy::default();
    let mut mtimes = HashMap::new();
    for src in &config.zones {
        let zone = load_source(src)?;
        *policy.zone_mut(zone.origin()) = src.transfer.clone();
        mtimes.insert(src.file.clone(), mtime(&src.file));
        zones.push(Arc::new(zone));
    }
    release_free_memory();
    let mut server_config = config.server.clone();
    for (k, v) in &config.server.transfer.zones {
        policy.zones.entry(k.clone()).or_insert_with(|| v.clone());
    }
    server_config.transfer = policy.clone();
    let set = Arc::new(ArcSwap::from_pointee(ZoneSet::new(zones)));
    let server = Server::start(server_config, set.clone())?;
    if let Some(p) = &config.pidfile {
        std::fs::write(p, format!("{}\n", std::process::id())).map_err(|e| {
            DnsError::Io(io::Error::new(
                e.kind(),
                format!("pid file {}: {e}", p.display()),
            ))
        })?;
    }
    let handle = DnsHandle {
        zones: set,
        policy: server.transfer_policy().clone(),
        runtime: server.runtime().clone(),
        edit: Arc::new(Mutex::new(())),
    };
    // Secondaries learn of the zones now served (NSD notifies on start as well).
    xfr::notify_changed(
        &handle.runtime,
        &ZoneSet::default(),
        &handle.zones.load(),
        &policy,
    );
    Ok(DnsServer {
        server,
        handle,
        loaded: Mutex::new(Loaded {
            sources: config.zones,
            mtimes,
        }),
        pidfile: config.pidfile,
    })
}

/// Hands the memory the zone-file reader used back to the system: the loaded records are gone
/// once the index is built, but the allocator would otherwise keep their pages.
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of the allocator.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn mtime(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

impl DnsServer {
    /// A handle to edit the served zones.
    pub fn handle(&self) -> DnsHandle {
        self.handle.clone()
    }

    /// The bound addresses (with ports resolved).
    pub fn local_addrs(&self) -> &[std::net::SocketAddr] {
        self.server.local_addrs()
    }

    /// Reloads every zone file that changed since it was loaded. A zone that fails keeps its
    /// previous version; the errors are returned (and the rest still reloads).
    pub fn reload(&self) -> Vec<DnsError> {
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        let mut errors = Vec::new();
        let mut fresh = Vec::new();
        let sources = loaded.sources.clone();
        for src in &sources {
            let now = mtime(&src.file);
            if loaded.mtimes.get(&src.file) == Some(&now) {
                continue;
            }
            match load_source(src) {
                Ok(z) => {
                    loaded.mtimes.insert(src.file.clone(), now);
                    fresh.push(Arc::new(z));
                }
                Err(e) => errors.push(e),
            }
        }
        if !fresh.is_empty() {
            self.handle.replace_zones(fresh);
            release_free_memory();
        }
        errors
    }

    /// Serves until SIGTERM or SIGINT; SIGHUP reloads changed zones (errors go to stderr).
    /// Call before any other thread of the process could take these signals; the server's own
    /// threads do not, they were started with them blocked (see [`block_signals`]).
    pub fn run_until_signalled(self) {
        while wait_signal() == libc::SIGHUP {
            for e in self.reload() {
                eprintln!("dermaga dns: reload: {e} (previous version kept)");
            }
        }
        self.stop();
    }

    /// Stops serving and removes the pid file.
    pub fn stop(self) {
        if let Some(p) = &self.pidfile {
            let _ = std::fs::remove_file(p);
        }
        self.server.stop();
    }
}

const SIGNALS: [libc::c_int; 3] = [libc::SIGHUP, libc::SIGTERM, libc::SIGINT];

fn signal_set() -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the set; sigaddset adds valid signal numbers.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in SIGNALS {
            libc::sigaddset(&mut set, s);
        }
        set
    }
}

/// Blocks SIGHUP, SIGTERM and SIGINT in the calling thread (and the threads it starts after),
/// so that [`DnsServer::run_until_signalled`] receives them with `sigwait`.
pub fn block_signals() {
    let set = signal_set();
    // SAFETY: a valid set; the old mask is not needed.
    unsafe {
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

fn wait_signal() -> libc::c_int {
    let set = signal_set();
    let mut sig: libc::c_int = 0;
    // SAFETY: a valid set and an out pointer to a live integer.
    loop {
        let r = unsafe { libc::sigwait(&set, &mut sig) };
        if r == 0 {
            return sig;
        }
    }
}

/// Sends SIGHUP to the server whose pid file is `pidfile` (`dermaga dns reload`).
pub fn signal_reload(pidfile: &Path) -> Result<u32, String> {
    let text = std::fs::read_to_string(pidfile)
        .map_err(|e| format!("pid file {}: {e}", pidfile.display()))?;
    let pid: i32 = text
        .trim()
        .parse()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("pid file {}: no process id in it", pidfile.display()))?;
    // SAFETY: kill with a positive pid and a valid signal number.
    if unsafe { libc::kill(pid, libc::SIGHUP) } != 0 {
        return Err(format!(
            "process {pid} (from {}): {}",
            pidfile.display(),
            io::Error::last_os_error()
        ));
    }
    Ok(pid as u32)
}

/// Edits the served zones while they are served. Cheap to clone; every clone edits the same
/// server. Each edit rebuilds the zone it touches (cost grows with the zone's size), bumps its
/// SOA serial, publishes it atomically and NOTIFYs the zone's secondaries.
#[derive(Clone)]
pub struct DnsHandle {
    zones: Arc<ArcSwap<ZoneSet>>,
    policy: Arc<ArcSwap<TransferPolicy>>,
    runtime: tokio::runtime::Handle,
    edit: Arc<Mutex<()>>,
}

impl std::fmt::Debug for DnsHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsHandle")
            .field("zones", &self.zones.load())
            .finish()
    }
}

impl DnsHandle {
    /// The zones served right now.
    pub fn zones(&self) -> Arc<ZoneSet> {
        self.zones.load_full()
    }

    /// The SOA serial of a served zone.
    pub fn serial(&self, origin: &Name<Bytes>) -> Option<u32> {
        self.zones.load().zone(origin).map(|z| z.serial())
    }

    /// Adds a record to the zone that holds its owner (the longest served origin). A record
    /// already present is not doubled. Returns the zone's new serial.
    pub fn add_record(&self, record: ZoneRecord) -> Result<u32, DnsError> {
        let owner = record.owner.clone();
        self.edit_zone_of(&owner, move |records| {
            if !records.iter().any(|r| same_record(r, &record)) {
                records.push(record);
            }
        })
    }

    /// Removes the records of `owner` of type `rtype` (every type but SOA when `None`).
    /// Returns the zone's new serial.
    pub fn remove_records(
        &self,
        owner: &Name<Bytes>,
        rtype: Option<Rtype>,
    ) -> Result<u32, DnsError> {
        let key = wire::canonical(owner.as_slice());
        self.edit_zone_of(owner, move |records| {
            records.retain(|r| {
                let hit = *wire::canonical(r.owner.as_slice()) == *key
                    && r.rtype() != Rtype::SOA
                    && rtype.is_none_or(|t| t == r.rtype());
                !hit
            })
        })
    }

    /// Removes one record (owner, type and data equal). Returns the zone's new serial.
    pub fn remove_record(&self, record: &ZoneRecord) -> Result<u32, DnsError> {
        let record = record.clone();
        self.edit_zone_of(&record.owner.clone(), move |records| {
            records.retain(|r| !same_record(r, &record))
        })
    }

    /// Serves a new zone, or replaces one with the same origin.
    pub fn put_zone(
        &self,
        origin: &Name<Bytes>,
        records: Vec<ZoneRecord>,
    ) -> Result<u32, DnsError> {
        let zone = Zone::build(origin, records).map_err(|e| DnsError::Invalid(e.to_string()))?;
        let serial = zone.serial();
        self.replace_zones(vec![Arc::new(zone)]);
        Ok(serial)
    }

    /// Stops serving a zone.
    pub fn remove_zone(&self, origin: &Name<Bytes>) -> Result<(), DnsError> {
        let _guard = self.edit.lock().unwrap_or_else(|e| e.into_inner());
        let old = self.zones.load_full();
        if old.zone(origin).is_none() {
            return Err(DnsError::NoSuchZone(origin.to_string()));
        }
        let key = wire::canonical(origin.as_slice());
        let rest: Vec<Arc<Zone>> = old
            .zones()
            .filter(|z| *wire::canonical(z.origin().as_slice()) != *key)
            .cloned()
            .collect();
        self.zones.store(Arc::new(ZoneSet::new(rest)));
        Ok(())
    }

    /// Publishes `fresh` zones in place of those with the same origins, and NOTIFYs.
    pub(crate) fn replace_zones(&self, fresh: Vec<Arc<Zone>>) {
        let _guard = self.edit.lock().unwrap_or_else(|e| e.into_inner());
        let old = self.zones.load_full();
        let mut all: Vec<Arc<Zone>> = old.zones().cloned().collect();
        all.extend(fresh);
        let new = Arc::new(ZoneSet::new(all));
        self.zones.store(new.clone());
        xfr::notify_changed(&self.runtime, &old, &new, &self.policy.load());
    }

    fn edit_zone_of(
        &self,
        owner: &Name<Bytes>,
        change: impl FnOnce(&mut Vec<ZoneRecord>),
    ) -> Result<u32, DnsError> {
        let _guard = self.edit.lock().unwrap_or_else(|e| e.into_inner());
        let old = self.zones.load_full();
        let key = wire::canonical(owner.as_slice());
        let zone = old
            .zones()
            .filter(|z| wire::is_subdomain(&key, &wire::canonical(z.origin().as_slice())))
            .max_by_key(|z| z.origin_labels)
            .ok_or_else(|| DnsError::NoSuchZone(owner.to_string()))?
            .clone();
        let mut records = zone.records();
        change(&mut records);
        let serial = bump_serial(&mut records, zone.serial())
            .ok_or_else(|| DnsError::Invalid("zone has no SOA".into()))?;
        let new_zone =
            Zone::build(zone.origin(), records).map_err(|e| DnsError::Invalid(e.to_string()))?;
        let mut all: Vec<Arc<Zone>> = old.zones().cloned().collect();
        all.push(Arc::new(new_zone));
        let new = Arc::new(ZoneSet::new(all));
        self.zones.store(new.clone());
        xfr::notify_changed(&self.runtime, &old, &new, &self.policy.load());
        Ok(serial)
    }
}

fn same_record(a: &ZoneRecord, b: &ZoneRecord) -> bool {
    a.owner.name_eq(&b.owner) && a.rtype() == b.rtype() && a.data == b.data
}

/// Sets the SOA serial to one past `current` (RFC 1982 arithmetic); returns it.
fn bump_serial(records: &mut [ZoneRecord], current: u32) -> Option<u32> {
    let rec = records.iter_mut().find(|r| r.rtype() == Rtype::SOA)?;
    let ZoneRecordData::Soa(soa) = &rec.data else {
        return None;
    };
    let serial = Serial::from(current).add(1);
    rec.data = ZoneRecordData::Soa(Soa::new(
        soa.mname().clone(),
        soa.rname().clone(),
        serial,
        soa.refresh(),
        soa.retry(),
        soa.expire(),
        soa.minimum(),
    ));
    Some(serial.into())
}
