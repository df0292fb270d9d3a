//! Connections: the group-commit writer thread and the reader pool.

use crate::db_err;
use rusqlite::{Connection, OpenFlags};
use slipway_core::{Error, Result};
use std::path::Path;
use std::sync::mpsc;
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
/// A queued write; called with `None` when no transaction could be opened.
type Job = Box<dyn FnOnce(Option<&Connection>) -> Finish + Send>;

/// Handle to the writer thread.
pub struct Writer {
    tx: mpsc::Sender<Job>,
}

impl Writer {
    pub fn start(conn: Connection) -> Result<Self> {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("slipway-sqlite-writer".into())
            .spawn(move || writer_loop(conn, rx, SqliteOptions::default().max_group))
            .map_err(|e| Error::internal(format!("cannot start the writer thread: {e}")))?;
        Ok(Writer { tx })
    }

    pub async fn submit<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let (reply_tx, reply_rx) = tokio::sync::oneshot::channel::<Result<T>>();
        let job: Job = Box::new(move |conn: Option<&Connection>| {
            let result = match conn {
                Some(conn) => run_in_savepoint(conn, f),
                None => Err(Error::internal("could not open a write transaction")),
            };
            Box::new(move |committed: bool| {
                let result = match result {
                    Ok(_) if !committed => {
                        Err(Error::internal("the transaction could not be committed"))
                    }
                    other => other,
                };
                let _ = reply_tx.send(result);
            })
        });
        self.tx
            .send(job)
            .map_err(|_| Error::internal("the database writer has stopped"))?;
        reply_rx
            .await
            .map_err(|_| Error::internal("the database writer dropped a request"))?
    }
}

fn run_in_savepoint<T>(conn: &Connection, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
    conn.execute_batch("SAVEPOINT op").map_err(db_err)?;
    // A panic inside a write must not take the writer thread down with it.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(conn)))
        .unwrap_or_else(|_| Err(Error::internal("a database write panicked")));
    let end = if result.is_ok() {
        "RELEASE op"
    } else {
        "ROLLBACK TO op; RELEASE op"
    };
    if let Err(e) = conn.execute_batch(end) {
        return Err(db_err(e));
    }
    result
}

fn writer_loop(conn: Connection, rx: mpsc::Receiver<Job>, max_group: usize) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < max_group {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            tracing::error!(error = %e, "cannot begin a write transaction");
            for job in jobs {
                job(None)(false);
            }
            continue;
        }
        let finishers: Vec<Finish> = jobs.into_iter().map(|job| job(Some(&conn))).collect();
        let committed = match conn.execute_batch("COMMIT") {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(error = %e, "commit failed; rolling back the group");
                let _ = conn.execute_batch("ROLLBACK");
                false
            }
        };
        for finish in finishers {
            finish(committed);
        }
    }
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
