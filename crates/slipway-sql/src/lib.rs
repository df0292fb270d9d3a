//! SQL metadata stores.
//!
//! [`SqliteStore`] is the embedded default: one file, no server. Its design
//! decides Slipway's write throughput:
//!
//! * **One write connection with group commit.** Every write is a closure
//!   queued for the writer; the caller that finds the connection free
//!   becomes the leader, runs everything queued, each closure in its own
//!   SAVEPOINT (a failing write rolls back alone), inside one transaction,
//!   commits once, and only then answers each caller. Eight concurrent
//!   clients cost one commit, not eight, and never contend on SQLite's lock
//!   (MLflow on SQLite serialises them with retries); a lone write runs on
//!   the caller's own thread with no hand-off.
//! * **Readers on their own connections** (WAL mode), so searches never wait
//!   for writes.
//! * **Acknowledged means committed.** WAL with `synchronous=NORMAL` keeps
//!   every committed transaction across a process crash (`kill -9`); only an
//!   OS crash or power loss can lose the last commits. `--sync full`-style
//!   power-loss durability is a pragma away (`SqliteOptions::synchronous_full`).
//!
//! SQL here sticks to what SQLite and PostgreSQL share (`ON CONFLICT`,
//! no `AUTOINCREMENT`), so the PostgreSQL backend can reuse the statements.

mod metric_log;
mod pool;
mod registry;
mod schema;
mod tracking;
mod webhooks;

pub use pool::SqliteOptions;

use pool::{ReaderPool, Writer};
use slipway_core::{Error, Result};
use std::path::Path;
use std::sync::Arc;

/// The embedded SQLite metadata store.
pub struct SqliteStore {
    writer: Writer,
    readers: Arc<ReaderPool>,
    default_artifact_root: String,
    search_cache: tracking::SearchCache,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`. New experiments get
    /// `{default_artifact_root}/{experiment_id}` as artifact location.
    pub fn open(path: &Path, default_artifact_root: &str) -> Result<Self> {
        Self::open_with(path, default_artifact_root, SqliteOptions::default())
    }

    pub fn open_with(
        path: &Path,
        default_artifact_root: &str,
        options: SqliteOptions,
    ) -> Result<Self> {
        let root = default_artifact_root.trim_end_matches('/').to_string();
        let conn = pool::open_connection(path, &options, false)?;
        schema::migrate(&conn, &root)?;
        let writer = Writer::new(conn, options.max_group);
        let readers = Arc::new(ReaderPool::open(path, &options)?);
        Ok(SqliteStore {
            writer,
            readers,
            default_artifact_root: root,
            search_cache: tracking::SearchCache::default(),
        })
    }

    /// Runs `f` on a reader connection.
    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Connection) -> Result<T> + Send + 'static,
    {
        // Reads are short (indexed lookups, bounded scans): running them on
        // the calling worker beats a hand-off to the blocking pool.
        self.readers.with(f)
    }

    /// Runs `f` in the writer's next group commit; resolves after the commit.
    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Connection) -> Result<T> + Send + 'static,
    {
        self.writer.submit(f).await
    }
}

/// Maps a SQLite failure to an internal error (never shown as a client error).
pub(crate) fn db_err(e: rusqlite::Error) -> Error {
    Error::internal(format!("database error: {e}"))
}

/// A UNIQUE or PRIMARY KEY constraint refused the write (a name already taken).
pub(crate) fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation)
}
