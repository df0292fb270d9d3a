//! [`LocalArtifactStore`]: artifacts as files under one directory.

use crate::path::TEMP_PREFIX;
use crate::store::{ArtifactFile, ArtifactStore, ByteStream};
use crate::SafePath;
use async_trait::async_trait;
use futures_util::StreamExt;
use slipway_core::{Error, Result};
use slipway_protocol::FileInfo;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

/// Upload bytes gathered before each write to disk.
const WRITE_BUFFER: usize = 1024 * 1024;

/// A store rooted at a local directory (`--artifacts-destination`).
///
/// Every operation walks the path one component at a time from the
/// canonical root. A symbolic link met on the way is followed only if its
/// canonical target is still inside the root; otherwise the request is
/// refused with `INVALID_PARAMETER_VALUE`. Uploads are streamed into a
/// temporary file next to the destination (same filesystem), fsynced, then
/// renamed over the destination, and the directory is fsynced: a reader
/// sees the old file or the whole new one, and an acknowledged upload
/// survives a crash.
#[derive(Debug, Clone)]
pub struct LocalArtifactStore {
    /// Canonical (absolute, symlink-free) root.
    root: PathBuf,
}

/// Where a path leads, after the symlink checks.
enum Lookup {
    /// It exists: its canonical location and metadata (symlinks followed).
    Found {
        fs_path: PathBuf,
        meta: fs::Metadata,
    },
    /// It does not exist. `existing` is the deepest existing ancestor
    /// (canonical); `rest` the components below it, the first one missing.
    /// `existing_is_dir` is false when the walk hit a file before the end.
    Missing {
        existing: PathBuf,
        existing_is_dir: bool,
        rest: Vec<String>,
    },
}

impl LocalArtifactStore {
    /// Opens (creating it if needed) the store rooted at `root`.
    pub fn open(root: &Path) -> Result<Self> {
        fs::create_dir_all(root).map_err(|e| {
            Error::internal(format!(
                "cannot create the artifact root {}: {e}",
                root.display()
            ))
        })?;
        let canonical = fs::canonicalize(root).map_err(|e| {
            Error::internal(format!(
                "cannot resolve the artifact root {}: {e}",
                root.display()
            ))
        })?;
        if !canonical.is_dir() {
            return Err(Error::internal(format!(
                "the artifact root {} is not a directory",
                root.display()
            )));
        }
        Ok(LocalArtifactStore { root: canonical })
    }

    /// The canonical root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The filesystem location of `path`, after checking that no existing
    /// component leads out of the root through a symbolic link. The location
    /// need not exist. Blocking (it inspects the filesystem).
    pub fn resolve(&self, path: &SafePath) -> Result<PathBuf> {
        Ok(match self.lookup(path)? {
            Lookup::Found { fs_path, .. } => fs_path,
            Lookup::Missing { existing, rest, .. } => rest.iter().fold(existing, |p, c| p.join(c)),
        })
    }

    fn lookup(&self, path: &SafePath) -> Result<Lookup> {
        let mut cur = self.root.clone();
        let mut meta = fs::metadata(&cur).map_err(|e| io_error("inspect", path, e))?;
        let comps: Vec<&str> = path.components().collect();
        for (i, comp) in comps.iter().enumerate() {
            let rest = || comps[i..].iter().map(|c| c.to_string()).collect();
            if !meta.is_dir() {
                return Ok(Lookup::Missing {
                    existing: cur,
                    existing_is_dir: false,
                    rest: rest(),
                });
            }
            let next = cur.join(comp);
            let lmeta = match fs::symlink_metadata(&next) {
                Ok(m) => m,
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    return Ok(Lookup::Missing {
                        existing: cur,
                        existing_is_dir: true,
                        rest: rest(),
                    })
                }
                Err(e) => return Err(io_error("inspect", path, e)),
            };
            if lmeta.file_type().is_symlink() {
                let target = match fs::canonicalize(&next) {
                    Ok(t) => t,
                    Err(e) if e.kind() == ErrorKind::NotFound => {
                        tracing::warn!(path = %path, "refused: a dangling symbolic link in the artifact root");
                        return Err(symlink_refusal(path, "a symbolic link that points nowhere"));
                    }
                    Err(e) => return Err(io_error("inspect", path, e)),
                };
                if !target.starts_with(&self.root) {
                    tracing::warn!(path = %path, "refused: a symbolic link leads out of the artifact root");
                    return Err(symlink_refusal(
                        path,
                        "a symbolic link that leads outside the artifact root",
                    ));
                }
                meta = fs::metadata(&target).map_err(|e| io_error("inspect", path, e))?;
                cur = target;
            } else {
                meta = lmeta;
                cur = next;
            }
        }
        Ok(Lookup::Found { fs_path: cur, meta })
    }

    /// Makes sure the parent directory of `path` exists (creating what is
    /// missing, inside the root) and that `path` is not a directory. Returns
    /// the canonical parent directory.
    fn prepare_parent(&self, path: &SafePath) -> Result<PathBuf> {
        let parent = path.parent().unwrap_or_default();
        let name = path.file_name().unwrap_or_default();
        let blocked = || {
            Error::invalid(format!(
                "Cannot write artifact '{path}': a parent path is an existing file, not a directory."
            ))
        };
        // Retried when another upload creates the same directories concurrently.
        for _ in 0..16 {
            match self.lookup(&parent)? {
                Lookup::Found { fs_path, meta } if meta.is_dir() => {
                    if let Ok(m) = fs::symlink_metadata(fs_path.join(name)) {
                        if m.is_dir() {
                            return Err(Error::invalid(format!(
                                "Cannot write artifact '{path}': it is an existing directory."
                            )));
                        }
                    }
                    return Ok(fs_path);
                }
                Lookup::Found { .. } => return Err(blocked()),
                Lookup::Missing {
                    existing_is_dir: false,
                    ..
                } => return Err(blocked()),
                Lookup::Missing { existing, rest, .. } => {
                    let mut cur = existing;
                    for comp in rest {
                        let next = cur.join(&comp);
                        match fs::create_dir(&next) {
                            Ok(()) => {
                                sync_dir(&cur);
                                cur = next;
                            }
                            Err(e) if e.kind() == ErrorKind::AlreadyExists => break,
                            Err(e) => return Err(io_error("create the directory for", path, e)),
                        }
                    }
                    // Walk again: verifies what exists now with the same checks.
                }
            }
        }
        Err(Error::internal(format!(
            "Cannot write artifact '{path}': its directory keeps changing concurrently."
        )))
    }
}

#[async_trait]
impl ArtifactStore for LocalArtifactStore {
    async fn put(&self, path: &SafePath, mut body: ByteStream) -> Result<u64> {
        if path.is_root() {
            return Err(Error::invalid(
                "Invalid artifact path \"\": cannot write to the artifact root.",
            ));
        }
        let store = self.clone();
        let p = path.clone();
        let dir = blocking(move || store.prepare_parent(&p)).await?;
        let tmp = dir.join(format!("{TEMP_PREFIX}{}", uuid::Uuid::new_v4().simple()));
        let mut guard = TempFile(Some(tmp.clone()));
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .await
            .map_err(|e| io_error("create", path, e))?;
        // Network chunks are small; write to disk in large blocks.
        let mut file = tokio::io::BufWriter::with_capacity(WRITE_BUFFER, file);
        let mut written: u64 = 0;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| {
                tracing::info!(path = %path, written, error = %e, "upload interrupted");
                Error::bad_request(format!(
                    "The upload of '{path}' was interrupted after {written} bytes: {e}"
                ))
            })?;
            file.write_all(&chunk)
                .await
                .map_err(|e| io_error("write", path, e))?;
            written += chunk.len() as u64;
        }
        file.flush().await.map_err(|e| io_error("write", path, e))?;
        file.get_mut()
            .sync_all()
            .await
            .map_err(|e| io_error("sync", path, e))?;
        drop(file);

        let p = path.clone();
        let dest = dir.join(path.file_name().unwrap_or_default());
        blocking(move || {
            fs::rename(&tmp, &dest).map_err(|e| match e.kind() {
                ErrorKind::IsADirectory | ErrorKind::DirectoryNotEmpty => Error::invalid(format!(
                    "Cannot write artifact '{p}': it is an existing directory."
                )),
                _ => io_error("store", &p, e),
            })?;
            sync_dir(&dir);
            Ok(())
        })
        .await?;
        guard.keep();
        tracing::debug!(path = %path, bytes = written, "artifact stored");
        Ok(written)
    }

    async fn open(&self, path: &SafePath) -> Result<ArtifactFile> {
        let store = self.clone();
        let p = path.clone();
        let (file, meta) = blocking(move || match store.lookup(&p)? {
            Lookup::Found { fs_path, meta } if meta.is_file() => {
                let file = fs::File::open(&fs_path).map_err(|e| io_error("open", &p, e))?;
                let meta = file.metadata().map_err(|e| io_error("open", &p, e))?;
                Ok((file, meta))
            }
            Lookup::Found { meta, .. } if meta.is_dir() => Err(Error::invalid(format!(
                "Artifact '{p}' is a directory, not a file."
            ))),
            Lookup::Found { .. } => Err(Error::invalid(format!(
                "Artifact '{p}' is not a regular file."
            ))),
            Lookup::Missing { .. } => {
                Err(Error::not_found(format!("Artifact '{p}' does not exist.")))
            }
        })
        .await?;
        Ok(ArtifactFile {
            reader: Box::new(tokio::fs::File::from_std(file)),
            size: meta.len(),
            modified: meta.modified().ok(),
        })
    }

    async fn list(&self, dir: &SafePath) -> Result<Vec<FileInfo>> {
        let store = self.clone();
        let p = dir.clone();
        blocking(move || {
            let fs_path = match store.lookup(&p)? {
                Lookup::Found { fs_path, meta } if meta.is_dir() => fs_path,
                _ => return Ok(Vec::new()),
            };
            let entries = match fs::read_dir(&fs_path) {
                Ok(e) => e,
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
                Err(e) => return Err(io_error("list", &p, e)),
            };
            let mut files = Vec::new();
            for entry in entries {
                let Ok(entry) = entry else { continue };
                let Ok(name) = entry.file_name().into_string() else {
                    tracing::debug!(dir = %p, "skipping a name that is not UTF-8");
                    continue;
                };
                // Only what a request could address: no temp files, no odd names.
                if name.starts_with(TEMP_PREFIX) || SafePath::parse(&name).map(|n| n.as_str() != name).unwrap_or(true) {
                    continue;
                }
                let Ok(file_type) = entry.file_type() else { continue };
                let meta = if file_type.is_symlink() {
                    match fs::canonicalize(entry.path()) {
                        Ok(target) if target.starts_with(&store.root) => fs::metadata(&target).ok(),
                        _ => {
                            tracing::warn!(dir = %p, name = %name, "not listing a symbolic link that leads outside the artifact root");
                            None
                        }
                    }
                } else {
                    entry.metadata().ok()
                };
                let Some(meta) = meta else { continue };
                if meta.is_dir() {
                    files.push(FileInfo {
                        path: name,
                        is_dir: true,
                        file_size: None,
                    });
                } else if meta.is_file() {
                    files.push(FileInfo {
                        path: name,
                        is_dir: false,
                        file_size: Some(i64::try_from(meta.len()).unwrap_or(i64::MAX)),
                    });
                }
            }
            files.sort_by(|a, b| a.path.cmp(&b.path));
            Ok(files)
        })
        .await
    }

    async fn delete(&self, path: &SafePath) -> Result<bool> {
        if path.is_root() {
            return Err(Error::invalid(
                "Invalid artifact path \"\": refusing to delete the artifact root.",
            ));
        }
        let store = self.clone();
        let p = path.clone();
        blocking(move || {
            let parent = p.parent().unwrap_or_default();
            let dir = match store.lookup(&parent)? {
                Lookup::Found { fs_path, meta } if meta.is_dir() => fs_path,
                _ => return Ok(false),
            };
            let target = dir.join(p.file_name().unwrap_or_default());
            let removed = match fs::symlink_metadata(&target) {
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(false),
                Err(e) => return Err(io_error("delete", &p, e)),
                // A symlink is removed itself, never followed.
                Ok(m) if m.is_dir() => fs::remove_dir_all(&target),
                Ok(_) => fs::remove_file(&target),
            };
            match removed {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(io_error("delete", &p, e)),
            }
            sync_dir(&dir);
            tracing::debug!(path = %p, "artifact deleted");
            Ok(true)
        })
        .await
    }
}

/// Removes the temporary upload file unless the upload completed (also when
/// the upload future is dropped midway, e.g. the client disconnected).
struct TempFile(Option<PathBuf>);

impl TempFile {
    fn keep(&mut self) {
        self.0 = None;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            if let Err(e) = fs::remove_file(&path) {
                if e.kind() != ErrorKind::NotFound {
                    tracing::warn!(path = %path.display(), error = %e, "cannot remove an aborted upload");
                }
            }
        }
    }
}

/// Makes a directory entry change (create, rename, unlink) durable.
fn sync_dir(dir: &Path) {
    if let Err(e) = fs::File::open(dir).and_then(|d| d.sync_all()) {
        tracing::warn!(dir = %dir.display(), error = %e, "cannot fsync a directory");
    }
}

fn symlink_refusal(path: &SafePath, what: &str) -> Error {
    Error::invalid(format!(
        "Invalid artifact path {:?}: it goes through {what}.",
        path.as_str()
    ))
}

/// A filesystem failure that is not the client's fault. The message names
/// the relative path only, never the server's directory layout.
fn io_error(op: &str, path: &SafePath, e: std::io::Error) -> Error {
    tracing::error!(path = %path, error = %e, "cannot {op} artifact");
    Error::internal(format!("Cannot {op} artifact '{path}': {e}"))
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::internal(format!("artifact store task failed: {e}")))?
}
