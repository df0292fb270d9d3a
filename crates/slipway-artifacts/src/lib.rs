//! Artifact storage for Slipway's artifact proxy (`mlflow server --serve-artifacts`).
//!
//! This crate knows nothing of HTTP. It offers:
//!
//! - [`SafePath`] / [`resolve`]: the single validation every path from a
//!   request goes through (no `..`, no absolute paths, no backslashes, no
//!   NUL, no double-encoded separators, no drive letters);
//! - [`ArtifactStore`]: streaming put / open / list / delete by relative path;
//! - [`LocalArtifactStore`]: the filesystem implementation, which also
//!   refuses symbolic links leading out of its root and writes atomically
//!   and durably (temp file, fsync, rename, fsync of the directory).

mod local;
pub mod path;
mod store;

pub use local::LocalArtifactStore;
pub use path::{resolve, SafePath};
pub use store::{ArtifactFile, ArtifactRead, ArtifactStore, ByteStream};
