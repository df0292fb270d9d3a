//! Connections: the group-commit writer thread and the reader pool.

use crate::db_err;
use rusqlite::{Connection, OpenFlags};
use slipway_core::{Error, Result};
use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};

#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// fsync every commit (survives power loss, not just a process crash).
    pub synchronous_full: bool,
    /// Reader connections.
    pub readers: usize,
    /// Most writes folded into one commit.
    pub max_group: usize,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            synchronous_full: false,
            readers: 4,
            max_group: 512,
        }
    }
}

pub fn open_connection(
    path: &Path,
    options: &SqliteOptions,
    read_only: bool,
) -> Result<Connection> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI
    };
    let conn = Connection::open_with_flags(path, flags).map_err(|e| {
        Error::internal(format!(
            "cannot open SQLite database {}: {e}",
            path.display()
        ))
    })?;
    let sync = if options.synchronous_full {
        "FULL"
    } else {
        "NORMAL"
    };
    let pragmas = if read_only {
        "PRAGMA busy_timeout = 10000; PRAGMA cache_size = -32000;".to_string()
    } else {
        format!(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = {sync}; PRAGMA busy_timeout = 10000; \
             PRAGMA foreign_keys = ON; PRAGMA cache_size = -32000;"
        )
    };
    conn.execute_batch(&pragmas).map_err(db_err)?;
    conn.set_prepared_statement_cache_capacity(128);
    Ok(conn)
}

type Finish = Box<dyn FnOnce(bool) + Send>;
/// A queued write, given the connection and whether it shares the
/// transaction with others (`None`: no transaction could be opened). It
/// returns how to answer its caller once the commit outcome is known, and
/// whether it succeeded.
type Job = Box<dyn FnOnce(Option<(&Connection, bool)>) -> (Finish, bool) + Send>;

/// The single write connection, shared by "combining": whoever finds the
/// connection free becomes the leader and commits every queued write (its
/// own and those that arrived meanwhile) in one transaction, then answers
/// each caller. No dedicated thread, so an uncontended write costs no
/// thread hand-off; under contention, writes are grouped into one commit.
pub struct Writer {
    conn: Mutex<Connection>,
    queue: Mutex<VecDeque<Job>>,
    max_group: usize,
    /// Committed transactions so far: a cheap "has anything changed?" for caches.
    commits: AtomicU64,
    /// Commits by other processes (`slipway train` on the embedded store
    /// while `slipway server` runs), seen through SQLite's `data_version`.
    external: AtomicU64,
    last_data_version: AtomicU64,
}

impl Writer {
    pub fn new(conn: Connection, max_group: usize) -> Self {
        Writer {
            conn: Mutex::new(conn),
            queue: Mutex::new(VecDeque::new()),
            max_group: max_group.max(1),
            commits: AtomicU64::new(0),
            external: AtomicU64::new(0),
            last_data_version: AtomicU64::new(0),
        }
    }

    /// Increases with every commit (read it before reading data to tag a cache entry).
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Acquire)
    }

    /// A cache tag that changes whenever the database does, by our commits
    /// or another connection's; `None` while a write holds the connection.
    /// Both counters only grow, so their sum identifies a state.
    pub fn version(&self) -> Option<u64> {
        let conn = self.conn.try_lock().ok()?;
        let data_version: i64 = conn
            .query_row("PRAGMA data_version", [], |r| r.get(0))
            .ok()?;
        let data_version = data_version as u64;
        if self.last_data_version.swap(data_version, Ordering::AcqRel) != data_version {
            self.external.fetch_add(1, Ordering::AcqRel);
        }
        Some(
            self.commits()
                .wrapping_add(self.external.load(Ordering::Acquire)),
        )
    }

    pub async fn submit<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let (reply_tx, reply_rx) = tokio::sync::oneshot::channel::<Result<T>>();
        let job: Job = Box::new(move |conn: Option<(&Connection, bool)>| {
            let result = match conn {
                Some((conn, isolated)) => run_job(conn, f, isolated),
                None => Err(Error::internal("could not open a write transaction")),
            };
            let ok = result.is_ok();
            let finish: Finish = Box::new(move |committed: bool| {
                let result = match result {
                    Ok(_) if !committed => {
                        Err(Error::internal("the transaction could not be committed"))
                    }
                    other => other,
                };
                let _ = reply_tx.send(result);
            });
            (finish, ok)
        });
        self.queue
            .lock()
            .map_err(|_| Error::internal("write queue poisoned"))?
            .push_back(job);
        self.drain();
        reply_rx
            .await
            .map_err(|_| Error::internal("the database writer dropped a request"))?
    }

    /// Commits queued writes until the queue is empty, unless another caller
    /// already holds the connection (it will see our job).
    fn drain(&self) {
        loop {
            let Ok(conn) = self.conn.try_lock() else {
                return;
            };
            loop {
                let jobs: Vec<Job> = match self.queue.lock() {
                    Ok(mut q) => {
                        let n = q.len().min(self.max_group);
                        q.drain(..n).collect()
                    }
                    Err(_) => return,
                };
                if jobs.is_empty() {
                    break;
                }
                if commit_group(&conn, jobs) {
                    self.commits.fetch_add(1, Ordering::AcqRel);
                }
            }
            drop(conn);
            // A job queued after our last look but before we let go of the
            // connection found it locked: pick it up.
            if self.queue.lock().map(|q| q.is_empty()).unwrap_or(true) {
                return;
            }
        }
    }
}

/// Runs one control statement (`BEGIN`, `SAVEPOINT`, ...) from the statement cache.
fn control(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// Runs `f`; inside a shared group its effects are confined to a SAVEPOINT
/// so that its failure rolls back only its own writes.
fn run_job<T>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> Result<T>,
    isolated: bool,
) -> Result<T> {
    if isolated {
        control(conn, "SAVEPOINT op").map_err(db_err)?;
    }
    // A panic inside a write must not poison the connection for everyone.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(conn)))
        .unwrap_or_else(|_| Err(Error::internal("a database write panicked")));
    if isolated {
        let ended = if result.is_ok() {
            control(conn, "RELEASE op")
        } else {
            control(conn, "ROLLBACK TO op").and_then(|_| control(conn, "RELEASE op"))
        };
        ended.map_err(db_err)?;
    }
    result
}

/// One transaction for `jobs`; each caller is answered after the commit.
/// Returns whether anything may have changed.
fn commit_group(conn: &Connection, jobs: Vec<Job>) -> bool {
    if let Err(e) = control(conn, "BEGIN IMMEDIATE") {
        tracing::error!(error = %e, "cannot begin a write transaction");
        for job in jobs {
            job(None).0(false);
        }
        return false;
    }
    // A lone write needs no savepoint: if it fails, the whole transaction is its own.
    let isolated = jobs.len() > 1;
    let mut any_ok = false;
    let finishers: Vec<Finish> = jobs
        .into_iter()
        .map(|job| {
            let (finish, ok) = job(Some((conn, isolated)));
            any_ok |= ok;
            finish
        })
        .collect();
    let committed = if !isolated && !any_ok {
        // The single write failed: undo whatever it did.
        let _ = control(conn, "ROLLBACK");
        true
    } else {
        match control(conn, "COMMIT") {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(error = %e, "commit failed; rolling back the group");
                let _ = control(conn, "ROLLBACK");
                false
            }
        }
    };
    for finish in finishers {
        finish(committed);
    }
    committed && any_ok
}

/// A fixed set of read-only connections.
pub struct ReaderPool {
    idle: Mutex<Vec<Connection>>,
    available: Condvar,
}

impl ReaderPool {
    pub fn open(path: &Path, options: &SqliteOptions) -> Result<Self> {
        let mut conns = Vec::new();
        for _ in 0..options.readers.max(1) {
            conns.push(open_connection(path, options, true)?);
        }
        Ok(ReaderPool {
            idle: Mutex::new(conns),
            available: Condvar::new(),
        })
    }

    pub fn with<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = {
            let mut idle = self
                .idle
                .lock()
                .map_err(|_| Error::internal("reader pool poisoned"))?;
            loop {
                if let Some(c) = idle.pop() {
                    break c;
                }
                idle = self
                    .available
                    .wait(idle)
                    .map_err(|_| Error::internal("reader pool poisoned"))?;
            }
        };
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&conn)))
            .unwrap_or_else(|_| Err(Error::internal("a database read panicked")));
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(conn);
        }
        self.available.notify_one();
        result
    }
}
