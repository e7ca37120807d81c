//! The state database: containers and volumes in `<root>/dermaga.db`, the SQLite file the
//! image store shares (its own tables beside ours). WAL mode and a busy timeout let concurrent
//! commands write safely; every change is one transaction, so a kill -9 leaves it consistent.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::config::ContainerConfig;
use crate::error::{Error, Result};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS containers (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    image_id    TEXT NOT NULL,
    image_name  TEXT NOT NULL,
    created_ns  INTEGER NOT NULL,
    state       TEXT NOT NULL,
    pid         INTEGER NOT NULL DEFAULT 0,
    monitor_pid INTEGER NOT NULL DEFAULT 0,
    exit_code   INTEGER,
    oom_killed  INTEGER NOT NULL DEFAULT 0,
    started_ns  INTEGER NOT NULL DEFAULT 0,
    finished_ns INTEGER NOT NULL DEFAULT 0,
    error       TEXT NOT NULL DEFAULT '',
    config      TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS volumes (
    name       TEXT PRIMARY KEY,
    created_ns INTEGER NOT NULL,
    driver     TEXT NOT NULL,
    labels     TEXT NOT NULL,
    options    TEXT NOT NULL,
    anonymous  INTEGER NOT NULL DEFAULT 0
);
";

/// A container's life, as podman names its states.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Created,
    Running,
    Exited,
    /// Being removed: a crash here is finished by `system check --repair`.
    Removing,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Created => "created",
            State::Running => "running",
            State::Exited => "exited",
            State::Removing => "removing",
        }
    }
    fn parse(s: &str) -> State {
        match s {
            "running" => State::Running,
            "exited" => State::Exited,
            "removing" => State::Removing,
            _ => State::Created,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Container {
    pub id: String,
    pub name: String,
    pub image_id: String,
    pub image_name: String,
    pub created_ns: i64,
    pub state: State,
    pub pid: i32,
    pub monitor_pid: i32,
    pub exit_code: Option<i32>,
    pub oom_killed: bool,
    pub started_ns: i64,
    pub finished_ns: i64,
    pub error: String,
    pub config: ContainerConfig,
}

#[derive(Clone, Debug)]
pub struct Volume {
    pub name: String,
    pub created_ns: i64,
    pub driver: String,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
    pub anonymous: bool,
}

/// The engine's tables in the shared state database. The connection can be closed while a
/// long-lived process (a container's monitor) has nothing to record, and opens again on the
/// next use.
pub struct Db {
    path: std::path::PathBuf,
    conn: std::cell::RefCell<Option<Connection>>,
}

const COLUMNS: &str = "id, name, image_id, image_name, created_ns, state, pid, monitor_pid, \
                       exit_code, oom_killed, started_ns, finished_ns, error, config";

fn container_from_row(row: &Row<'_>) -> rusqlite::Result<(Container, String)> {
    Ok((
        Container {
            id: row.get(0)?,
            name: row.get(1)?,
            image_id: row.get(2)?,
            image_name: row.get(3)?,
            created_ns: row.get(4)?,
            state: State::parse(&row.get::<_, String>(5)?),
            pid: row.get(6)?,
            monitor_pid: row.get(7)?,
            exit_code: row.get(8)?,
            oom_killed: row.get::<_, i64>(9)? != 0,
            started_ns: row.get(10)?,
            finished_ns: row.get(11)?,
            error: row.get(12)?,
            config: ContainerConfig::default(),
        },
        row.get(13)?,
    ))
}

/// Opens the database with WAL, a busy timeout, the engine's tables and the image store's.
fn connect(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)
        .map_err(|e| Error::engine(format!("opening {}: {e}", path.display())))?;
    conn.busy_timeout(Duration::from_secs(30))?;
    // WAL: readers never wait for the writer; NORMAL sync is crash-safe in WAL mode.
    // Another process turning a new database to WAL at the same moment makes SQLite
    // answer "busy" at once, without the timeout: retry (bounded).
    dermaga_image::retry_while_busy(|| conn.pragma_update(None, "journal_mode", "WAL"))?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // Every command closes its connection; a checkpoint (and its fsyncs) at each close
    // would be paid by every `run`. SQLite's automatic checkpoints keep the WAL short.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
        true,
    )?;
    // But the first connection after all others closed reads the whole WAL back (SQLite
    // rebuilds its shared index then): checkpoint at 64 pages rather than 1,000, so that read
    // stays near 256 KiB instead of up to 4 MiB for every command.
    conn.pragma_update(None, "wal_autocheckpoint", 64)?;
    // The image store's settings and tables with ours: it borrows this connection.
    dermaga_image::set_up_shared_connection(&conn, SCHEMA)?;
    Ok(conn)
}

fn finish(pair: (Container, String)) -> Result<Container> {
    let (mut c, cfg) = pair;
    c.config = serde_json::from_str(&cfg)
        .map_err(|e| Error::engine(format!("container {}: stored configuration: {e}", c.id)))?;
    Ok(c)
}

impl Db {
    pub fn open(root: &Path) -> Result<Db> {
        let path = root.join("dermaga.db");
        let conn = connect(&path)?;
        Ok(Db {
            path,
            conn: std::cell::RefCell::new(Some(conn)),
        })
    }

    /// The open connection, opened again after [`Db::close_while_idle`].
    fn conn(&self) -> Result<std::cell::RefMut<'_, Connection>> {
        let mut slot = self.conn.borrow_mut();
        if slot.is_none() {
            *slot = Some(connect(&self.path)?);
        }
        Ok(std::cell::RefMut::map(slot, |c| match c {
            Some(c) => c,
            None => unreachable!("opened just above"),
        }))
    }

    /// Lends the connection to another user of the same database file (the image store),
    /// opening it if needed; [`Db::give_back`] returns it. Until then, a use of this `Db`
    /// opens a connection of its own.
    pub fn lend(&self) -> Result<Connection> {
        match self.conn.borrow_mut().take() {
            Some(c) => Ok(c),
            None => connect(&self.path),
        }
    }

    /// Takes back a connection lent with [`Db::lend`].
    pub fn give_back(&self, conn: Connection) {
        *self.conn.borrow_mut() = Some(conn);
    }

    /// Closes the connection (its caches and the shared-memory index go with it) until the
    /// next use.
    pub fn close_while_idle(&self) {
        self.conn.borrow_mut().take();
    }

    pub fn insert(&self, c: &Container) -> Result<()> {
        let cfg = serde_json::to_string(&c.config)?;
        let r = self.conn()?.execute(
            &format!("INSERT INTO containers ({COLUMNS}) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14)"),
            params![
                c.id,
                c.name,
                c.image_id,
                c.image_name,
                c.created_ns,
                c.state.as_str(),
                c.pid,
                c.monitor_pid,
                c.exit_code,
                c.oom_killed as i64,
                c.started_ns,
                c.finished_ns,
                c.error,
                cfg
            ],
        );
        match r {
            Ok(_) => Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Err(Error::engine(format!(
                    "the container name \"{}\" is already in use by another container. \
                     You have to remove that container to be able to reuse that name \
                     (`dermaga rm {}`)",
                    c.name, c.name
                )))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Finds a container by full ID, name, or unique ID prefix.
    pub fn find(&self, key: &str) -> Result<Option<Container>> {
        let q = format!("SELECT {COLUMNS} FROM containers WHERE id = ?1 OR name = ?1");
        let found = self
            .conn()?
            .query_row(&q, [key], container_from_row)
            .optional()?;
        if let Some(p) = found {
            return finish(p).map(Some);
        }
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let q = format!("SELECT {COLUMNS} FROM containers WHERE id >= ?1 AND id < ?2 LIMIT 2");
        let hi = format!("{key}g");
        let conn = self.conn()?;
        let mut st = conn.prepare(&q)?;
        let rows: Vec<_> = st
            .query_map(params![key, hi], container_from_row)?
            .collect::<rusqlite::Result<_>>()?;
        match rows.len() {
            0 => Ok(None),
            1 => finish(rows.into_iter().next().unwrap()).map(Some),
            _ => Err(Error::engine(format!(
                "more than one container matches the ID prefix \"{key}\": give more of the ID"
            ))),
        }
    }

    pub fn get(&self, key: &str) -> Result<Container> {
        self.find(key)?.ok_or_else(|| Error::no_such_container(key))
    }

    pub fn list(&self) -> Result<Vec<Container>> {
        let q = format!("SELECT {COLUMNS} FROM containers ORDER BY created_ns");
        let conn = self.conn()?;
        let mut st = conn.prepare(&q)?;
        let rows: Vec<_> = st
            .query_map([], container_from_row)?
            .collect::<rusqlite::Result<_>>()?;
        rows.into_iter().map(finish).collect()
    }

    pub fn set_running(&self, id: &str, pid: i32, monitor_pid: i32, started_ns: i64) -> Result<()> {
        self.conn()?.execute(
            "UPDATE containers SET state = 'running', pid = ?2, monitor_pid = ?3, started_ns = ?4, \
             exit_code = NULL, oom_killed = 0, error = '' WHERE id = ?1",
            params![id, pid, monitor_pid, started_ns],
        )?;
        Ok(())
    }

    pub fn set_exited(
        &self,
        id: &str,
        exit_code: i32,
        oom: bool,
        finished_ns: i64,
        error: &str,
    ) -> Result<()> {
        self.set_ended(id, State::Exited, exit_code, oom, finished_ns, error)
    }

    /// The end of a run, in one transaction: `state` is `Exited`, or `Removing` for a
    /// container that goes with its exit (--rm), whose removal follows.
    pub fn set_ended(
        &self,
        id: &str,
        state: State,
        exit_code: i32,
        oom: bool,
        finished_ns: i64,
        error: &str,
    ) -> Result<()> {
        self.conn()?.execute(
            "UPDATE containers SET state = ?6, pid = 0, monitor_pid = 0, exit_code = ?2, \
             oom_killed = ?3, finished_ns = ?4, error = ?5 WHERE id = ?1",
            params![
                id,
                exit_code,
                oom as i64,
                finished_ns,
                error,
                state.as_str()
            ],
        )?;
        Ok(())
    }

    pub fn set_state(&self, id: &str, state: State) -> Result<()> {
        self.conn()?.execute(
            "UPDATE containers SET state = ?2 WHERE id = ?1",
            params![id, state.as_str()],
        )?;
        Ok(())
    }

    /// Records an error on a container that never ran (it stays `created`, as podman's does).
    pub fn set_error(&self, id: &str, error: &str) -> Result<()> {
        self.conn()?.execute(
            "UPDATE containers SET state = CASE state WHEN 'running' THEN 'exited' ELSE state END, \
             pid = 0, monitor_pid = 0, error = ?2 WHERE id = ?1",
            params![id, error],
        )?;
        Ok(())
    }

    pub fn delete(&self, id: &str) -> Result<()> {
        self.conn()?
            .execute("DELETE FROM containers WHERE id = ?1", [id])?;
        Ok(())
    }

    /// Removes a container's record and the records of `volumes` (its anonymous volumes) in
    /// one transaction.
    pub fn delete_with_volumes(&self, id: &str, volumes: &[String]) -> Result<()> {
        let mut conn = self.conn()?;
        let tx = conn.transaction()?;
        tx.execute("DELETE FROM containers WHERE id = ?1", [id])?;
        for v in volumes {
            tx.execute("DELETE FROM volumes WHERE name = ?1", [v])?;
        }
        tx.commit()?;
        Ok(())
    }

    pub fn insert_volume(&self, v: &Volume) -> Result<bool> {
        let n = self.conn()?.execute(
            "INSERT OR IGNORE INTO volumes (name, created_ns, driver, labels, options, anonymous) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                v.name,
                v.created_ns,
                v.driver,
                serde_json::to_string(&v.labels)?,
                serde_json::to_string(&v.options)?,
                v.anonymous as i64
            ],
        )?;
        Ok(n == 1)
    }

    pub fn volumes(&self) -> Result<Vec<Volume>> {
        let conn = self.conn()?;
        let mut st = conn.prepare(
            "SELECT name, created_ns, driver, labels, options, anonymous FROM volumes ORDER BY name",
        )?;
        let rows = st.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, i64>(5)?,
            ))
        })?;
        let mut out = Vec::new();
        for r in rows {
            let (name, created_ns, driver, labels, options, anon) = r?;
            out.push(Volume {
                name,
                created_ns,
                driver,
                labels: serde_json::from_str(&labels)?,
                options: serde_json::from_str(&options)?,
                anonymous: anon != 0,
            });
        }
        Ok(out)
    }

    pub fn volume(&self, name: &str) -> Result<Option<Volume>> {
        Ok(self.volumes()?.into_iter().find(|v| v.name == name))
    }

    pub fn delete_volume(&self, name: &str) -> Result<()> {
        self.conn()?
            .execute("DELETE FROM volumes WHERE name = ?1", [name])?;
        Ok(())
    }
}
