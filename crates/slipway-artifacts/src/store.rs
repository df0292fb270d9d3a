//! The storage interface the HTTP layer talks to.

use crate::SafePath;
use async_trait::async_trait;
use bytes::Bytes;
use futures_util::Stream;
use slipway_core::Result;
use slipway_protocol::FileInfo;
use std::pin::Pin;
use std::time::SystemTime;
use tokio::io::{AsyncRead, AsyncSeek};

/// The body of an upload: chunks as they arrive from the network.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

/// A readable, seekable artifact (seeking serves HTTP range requests).
pub trait ArtifactRead: AsyncRead + AsyncSeek + Send + Unpin {}
impl<T: AsyncRead + AsyncSeek + Send + Unpin> ArtifactRead for T {}

/// An artifact opened for reading.
pub struct ArtifactFile {
    pub reader: Box<dyn ArtifactRead>,
    /// Size in bytes at the time it was opened.
    pub size: u64,
    /// Last modification time, when the store knows it.
    pub modified: Option<SystemTime>,
}

impl std::fmt::Debug for ArtifactFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArtifactFile")
            .field("size", &self.size)
            .field("modified", &self.modified)
            .finish_non_exhaustive()
    }
}

/// A store of artifacts addressed by relative paths such as
/// `1/<run_id>/artifacts/dir/file.csv`.
///
/// Every path is a [`SafePath`], so a store never sees `..`, an absolute path
/// or an encoded separator; a store backed by a filesystem must still check
/// that symlinks do not lead out of its root.
#[async_trait]
pub trait ArtifactStore: Send + Sync + 'static {
    /// Writes `body` to `path`, replacing any file there, and returns the
    /// number of bytes written. Atomic: until the whole body is durably
    /// stored the previous content (or nothing) is visible; a failed or
    /// aborted upload leaves nothing behind. Missing parent directories are
    /// created. Refused for the root and for an existing directory.
    async fn put(&self, path: &SafePath, body: ByteStream) -> Result<u64>;

    /// Opens a file for reading. `RESOURCE_DOES_NOT_EXIST` if there is none;
    /// `INVALID_PARAMETER_VALUE` if `path` is a directory.
    async fn open(&self, path: &SafePath) -> Result<ArtifactFile>;

    /// The direct children of directory `dir`, sorted by path. Each
    /// `FileInfo::path` is the child's name (relative to `dir`); directories
    /// have `is_dir` and no size. As MLflow's local repository does, a
    /// directory that does not exist and a path naming a file both list as
    /// empty (the client relies on the latter to tell files from directories).
    async fn list(&self, dir: &SafePath) -> Result<Vec<FileInfo>>;

    /// Deletes a file or a whole directory tree. Returns whether anything
    /// was there (deleting nothing is not an error, as in MLflow). Refused
    /// for the root.
    async fn delete(&self, path: &SafePath) -> Result<bool>;
}
