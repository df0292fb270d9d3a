//! Artifacts through the server's proxy (`/api/2.0/mlflow-artifacts/artifacts`).
//!
//! A run's `artifact_uri` is `mlflow-artifacts:/<rel>`; its files live at
//! `{base}/api/2.0/mlflow-artifacts/artifacts/<rel>/<path>`. Uploads and
//! downloads are streamed: a file is never held in memory whole.

use crate::{
    encode_segment, Error, FileInfo, ListArtifactsResponse, ProxyListResponse, Result,
    SlipwayClient,
};
use futures_util::StreamExt;
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

const PROXY: &str = "/api/2.0/mlflow-artifacts/artifacts";

/// The proxy-relative location of an `mlflow-artifacts:` URI:
/// `mlflow-artifacts:/1/abc/artifacts` and `mlflow-artifacts://host:5000/1/abc/artifacts`
/// both give `1/abc/artifacts`.
pub fn artifact_uri_to_relative(artifact_uri: &str) -> Result<String> {
    let rest = artifact_uri.strip_prefix("mlflow-artifacts:").ok_or_else(|| {
        Error::InvalidInput(format!(
            "artifact URI '{artifact_uri}' is not an mlflow-artifacts: URI; only proxied artifacts are supported"
        ))
    })?;
    let path = match rest.strip_prefix("//") {
        // `mlflow-artifacts://authority/path`: the authority names the server, which is us.
        Some(with_authority) => with_authority
            .find('/')
            .map_or("", |i| &with_authority[i..]),
        None => rest,
    };
    Ok(path.trim_matches('/').to_string())
}

/// Joins relative artifact paths with `/`, skipping empty parts.
fn join(parts: &[&str]) -> String {
    parts
        .iter()
        .flat_map(|p| p.split('/'))
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("/")
}

/// Percent-encodes each segment of a relative path; rejects `.` and `..`.
fn encode_path(path: &str) -> Result<String> {
    let mut out = Vec::new();
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        if seg == "." || seg == ".." {
            return Err(Error::InvalidInput(format!(
                "invalid artifact path '{path}': '.' and '..' segments are not allowed"
            )));
        }
        out.push(encode_segment(seg));
    }
    Ok(out.join("/"))
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn file_name_of(path: &Path) -> Result<String> {
    path.file_name()
        .and_then(|n| n.to_str())
        .map(str::to_string)
        .ok_or_else(|| Error::InvalidInput(format!("'{}' has no usable file name", path.display())))
}

impl SlipwayClient {
    /// The proxy URL of `path` under `artifact_uri`
    /// (`mlflow-artifacts:/1/r/artifacts` + `plots/a b.png` →
    /// `{base}/api/2.0/mlflow-artifacts/artifacts/1/r/artifacts/plots/a%20b.png`).
    pub fn artifact_url(&self, artifact_uri: &str, path: &str) -> Result<String> {
        let rel = artifact_uri_to_relative(artifact_uri)?;
        let full = encode_path(&join(&[&rel, path]))?;
        Ok(format!("{}{PROXY}/{full}", self.base_url()))
    }

    /// Uploads the local file `local_path` under `artifact_uri`, in directory
    /// `artifact_dir` (None: the root), keeping its file name. The body is
    /// streamed from disk. Returns the artifact's path relative to `artifact_uri`.
    pub async fn upload_artifact(
        &self,
        artifact_uri: &str,
        local_path: impl AsRef<Path>,
        artifact_dir: Option<&str>,
    ) -> Result<String> {
        let local = local_path.as_ref();
        let name = file_name_of(local)?;
        let rel = join(&[artifact_dir.unwrap_or(""), &name]);
        let file = tokio::fs::File::open(local).await.map_err(io_err(local))?;
        let meta = file.metadata().await.map_err(io_err(local))?;
        if !meta.is_file() {
            return Err(Error::InvalidInput(format!(
                "'{}' is not a file (use log_artifacts for a directory)",
                local.display()
            )));
        }
        let url = self.artifact_url(artifact_uri, &rel)?;
        let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(file));
        let req = self
            .http
            .put(&url)
            .header(reqwest::header::CONTENT_LENGTH, meta.len())
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(body);
        self.send_transfer(req, &url).await?;
        Ok(rel)
    }

    /// Uploads `bytes` as the artifact `path` under `artifact_uri`.
    pub async fn upload_artifact_bytes(
        &self,
        artifact_uri: &str,
        path: &str,
        bytes: impl Into<bytes::Bytes>,
    ) -> Result<()> {
        let url = self.artifact_url(artifact_uri, path)?;
        let req = self
            .http
            .put(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(bytes.into());
        self.send_transfer(req, &url).await.map(|_| ())
    }

    /// Uploads every file under the local directory `local_dir` (recursively)
    /// under `artifact_uri`/`artifact_dir`. Returns the uploaded paths.
    pub async fn upload_artifacts_dir(
        &self,
        artifact_uri: &str,
        local_dir: impl AsRef<Path>,
        artifact_dir: Option<&str>,
    ) -> Result<Vec<String>> {
        let mut uploaded = Vec::new();
        let mut pending: Vec<(PathBuf, String)> = vec![(
            local_dir.as_ref().to_path_buf(),
            artifact_dir.unwrap_or("").to_string(),
        )];
        while let Some((dir, prefix)) = pending.pop() {
            let mut entries = tokio::fs::read_dir(&dir).await.map_err(io_err(&dir))?;
            let mut names = Vec::new();
            while let Some(entry) = entries.next_entry().await.map_err(io_err(&dir))? {
                names.push(entry.path());
            }
            names.sort();
            for path in names {
                let meta = tokio::fs::metadata(&path).await.map_err(io_err(&path))?;
                if meta.is_dir() {
                    let sub = join(&[&prefix, &file_name_of(&path)?]);
                    pending.push((path, sub));
                } else {
                    let dir = (!prefix.is_empty()).then_some(prefix.as_str());
                    uploaded.push(self.upload_artifact(artifact_uri, &path, dir).await?);
                }
            }
        }
        Ok(uploaded)
    }

    /// Lists the directory `path` (None: the root) under `artifact_uri`
    /// through the proxy. As MLflow's proxy does, entry paths are relative to
    /// the listed directory.
    pub async fn list_artifacts_at(
        &self,
        artifact_uri: &str,
        path: Option<&str>,
    ) -> Result<Vec<FileInfo>> {
        let rel = artifact_uri_to_relative(artifact_uri)?;
        let full = join(&[&rel, path.unwrap_or("")]);
        encode_path(&full)?; // rejects `..`
        let resp: ProxyListResponse = self.get_json(PROXY, &[("path", full.as_str())]).await?;
        Ok(resp.files)
    }

    /// Walks the tree under `artifact_uri` breadth-first: every file and
    /// directory, paths relative to the root, sorted by path; at most
    /// `limit` entries (the flag says the walk stopped there).
    pub async fn list_artifact_tree(
        &self,
        artifact_uri: &str,
        limit: usize,
    ) -> Result<(Vec<FileInfo>, bool)> {
        let mut out = Vec::new();
        let mut dirs = std::collections::VecDeque::from([String::new()]);
        let mut truncated = false;
        'walk: while let Some(dir) = dirs.pop_front() {
            let listed = self
                .list_artifacts_at(artifact_uri, (!dir.is_empty()).then_some(dir.as_str()))
                .await?;
            let mut entries: Vec<FileInfo> = listed
                .into_iter()
                .map(|mut f| {
                    let name = f
                        .path
                        .rsplit('/')
                        .find(|s| !s.is_empty())
                        .unwrap_or("")
                        .to_string();
                    f.path = if dir.is_empty() {
                        name
                    } else {
                        format!("{dir}/{name}")
                    };
                    f
                })
                .collect();
            entries.sort_by(|a, b| a.path.cmp(&b.path));
            for f in entries {
                if out.len() >= limit {
                    truncated = true;
                    break 'walk;
                }
                if f.is_dir {
                    dirs.push_back(f.path.clone());
                }
                out.push(f);
            }
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok((out, truncated))
    }

    /// Downloads every file under `artifact_uri` into the directory `dest`
    /// (created), keeping the tree; at most `limit` entries, more is an
    /// error rather than a partial copy. Returns the files' relative paths.
    pub async fn download_artifact_dir(
        &self,
        artifact_uri: &str,
        dest: &Path,
        limit: usize,
    ) -> Result<Vec<String>> {
        let (entries, truncated) = self.list_artifact_tree(artifact_uri, limit).await?;
        if truncated {
            return Err(Error::InvalidInput(format!(
                "{artifact_uri} holds more than {limit} files and directories"
            )));
        }
        tokio::fs::create_dir_all(dest)
            .await
            .map_err(io_err(dest))?;
        let mut files = Vec::new();
        for f in entries.into_iter().filter(|f| !f.is_dir) {
            // `..` and absolute paths are refused by the proxy path encoder.
            encode_path(&f.path)?;
            self.download_artifact(artifact_uri, &f.path, dest.join(&f.path))
                .await?;
            files.push(f.path);
        }
        Ok(files)
    }

    /// Downloads the artifact `path` under `artifact_uri` to `dest`, streaming
    /// it to disk. If `dest` is an existing directory the file keeps its name
    /// inside it. The file appears whole or not at all (it is written to a
    /// temporary name first). Returns the written file's path. A file that
    /// does not exist is `RESOURCE_DOES_NOT_EXIST` ([`Error::is_not_found`]),
    /// also from MLflow 2.x's proxy, which answers it with a 500.
    pub async fn download_artifact(
        &self,
        artifact_uri: &str,
        path: &str,
        dest: impl AsRef<Path>,
    ) -> Result<PathBuf> {
        let url = self.artifact_url(artifact_uri, path)?;
        let mut dest = dest.as_ref().to_path_buf();
        if tokio::fs::metadata(&dest)
            .await
            .map(|m| m.is_dir())
            .unwrap_or(false)
        {
            let name = path
                .rsplit('/')
                .find(|s| !s.is_empty())
                .unwrap_or("artifact");
            dest.push(name);
        }
        if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(io_err(parent))?;
        }
        let resp = match self.send_transfer(self.http.get(&url), &url).await {
            Ok(resp) => resp,
            Err(e) => return Err(self.absent_or(e, artifact_uri, path).await),
        };
        let mut tmp_name = dest.file_name().unwrap_or_default().to_os_string();
        tmp_name.push(".part");
        let tmp = dest.with_file_name(tmp_name);
        let result = async {
            let mut file = tokio::fs::File::create(&tmp).await.map_err(io_err(&tmp))?;
            let mut stream = resp.bytes_stream();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|source| Error::Transport {
                    url: url.clone(),
                    source,
                })?;
                file.write_all(&chunk).await.map_err(io_err(&tmp))?;
            }
            file.flush().await.map_err(io_err(&tmp))?;
            file.sync_all().await.map_err(io_err(&tmp))?;
            drop(file);
            tokio::fs::rename(&tmp, &dest).await.map_err(io_err(&dest))
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        result.map(|_| dest)
    }

    /// Deletes the artifact (file or directory) `path` under `artifact_uri`.
    pub async fn delete_artifact(&self, artifact_uri: &str, path: &str) -> Result<()> {
        let url = self.artifact_url(artifact_uri, path)?;
        self.send_transfer(self.http.delete(&url), &url)
            .await
            .map(|_| ())
    }

    /// Downloads the artifact `path` into memory (small files only). A file
    /// that does not exist is `RESOURCE_DOES_NOT_EXIST`
    /// ([`Error::is_not_found`]), from any server (see [`download_artifact`](Self::download_artifact)).
    pub async fn read_artifact(&self, artifact_uri: &str, path: &str) -> Result<bytes::Bytes> {
        let url = self.artifact_url(artifact_uri, path)?;
        let resp = match self.send_transfer(self.http.get(&url), &url).await {
            Ok(resp) => resp,
            Err(e) => return Err(self.absent_or(e, artifact_uri, path).await),
        };
        resp.bytes()
            .await
            .map_err(|source| Error::Transport { url, source })
    }

    // ---- run-level helpers: resolve the run's artifact_uri first ----

    /// Uploads a local file to run `run_id`'s artifacts (in `artifact_dir`, None: the root).
    /// Reads the run for its `artifact_uri`, then streams the file.
    pub async fn log_artifact(
        &self,
        run_id: &str,
        local_path: impl AsRef<Path>,
        artifact_dir: Option<&str>,
    ) -> Result<String> {
        let run = self.get_run(run_id).await?;
        self.upload_artifact(&run.info.artifact_uri, local_path, artifact_dir)
            .await
    }

    /// Uploads a local directory, recursively, to run `run_id`'s artifacts.
    pub async fn log_artifacts(
        &self,
        run_id: &str,
        local_dir: impl AsRef<Path>,
        artifact_dir: Option<&str>,
    ) -> Result<Vec<String>> {
        let run = self.get_run(run_id).await?;
        self.upload_artifacts_dir(&run.info.artifact_uri, local_dir, artifact_dir)
            .await
    }

    /// Lists run `run_id`'s artifacts in directory `path` (None: the root),
    /// as MLflow's `list_artifacts` does: entry paths are relative to the
    /// run's artifact root (`plots/roc.png`, not `roc.png`).
    pub async fn list_artifacts(&self, run_id: &str, path: Option<&str>) -> Result<Vec<FileInfo>> {
        let run = self.get_run(run_id).await?;
        let dir = path.unwrap_or("");
        let mut files = self.list_artifacts_at(&run.info.artifact_uri, path).await?;
        for f in &mut files {
            let name = f
                .path
                .rsplit('/')
                .find(|s| !s.is_empty())
                .unwrap_or("")
                .to_string();
            f.path = join(&[dir, &name]);
        }
        Ok(files)
    }

    /// Downloads run `run_id`'s artifact `path` to `dest` (see [`download_artifact`](Self::download_artifact)).
    pub async fn download_run_artifact(
        &self,
        run_id: &str,
        path: &str,
        dest: impl AsRef<Path>,
    ) -> Result<PathBuf> {
        let run = self.get_run(run_id).await?;
        self.download_artifact(&run.info.artifact_uri, path, dest)
            .await
    }

    /// The tracking API's own listing, `GET /api/2.0/mlflow/artifacts/list`
    /// (paths relative to the run's artifact root; `root_uri` set).
    pub async fn list_artifacts_tracking(
        &self,
        run_id: &str,
        path: Option<&str>,
    ) -> Result<ListArtifactsResponse> {
        let mut query = vec![("run_id", run_id)];
        if let Some(p) = path {
            query.push(("path", p));
        }
        self.get_json("/api/2.0/mlflow/artifacts/list", &query)
            .await
    }

    /// `err`, the failed download of `path`, as `RESOURCE_DOES_NOT_EXIST`
    /// when the file is not there. MLflow 2.x's proxy answers a missing file
    /// with a 500 `INTERNAL_ERROR` (3.x and Slipway with a 404), so on a
    /// server error the listing of the file's directory decides; anything
    /// else keeps the server's answer.
    async fn absent_or(&self, err: Error, artifact_uri: &str, path: &str) -> Error {
        if !matches!(err, Error::Api { status, .. } if status >= 500) {
            return err;
        }
        let path = path.trim_matches('/');
        let (dir, name) = match path.rsplit_once('/') {
            Some((dir, name)) => (Some(dir), name),
            None => (None, path),
        };
        match self.list_artifacts_at(artifact_uri, dir).await {
            Ok(files)
                if !files
                    .iter()
                    .any(|f| f.path.rsplit('/').next() == Some(name)) =>
            {
                Error::Api {
                    status: 404,
                    code: crate::ApiErrorCode::Known(crate::ErrorCode::ResourceDoesNotExist),
                    message: format!("No such artifact: '{path}' under {artifact_uri}"),
                }
            }
            _ => err,
        }
    }

    /// Sends an artifact request (no total timeout: transfers may be long)
    /// and maps a non-success answer to [`Error::Api`].
    async fn send_transfer(
        &self,
        req: reqwest::RequestBuilder,
        url: &str,
    ) -> Result<reqwest::Response> {
        let resp = req.send().await.map_err(|source| Error::Transport {
            url: url.to_string(),
            source,
        })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let body = resp.bytes().await.unwrap_or_default();
        Err(Error::from_response(status.as_u16(), &body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_uris() {
        assert_eq!(
            artifact_uri_to_relative("mlflow-artifacts:/1/abc/artifacts").unwrap(),
            "1/abc/artifacts"
        );
        assert_eq!(
            artifact_uri_to_relative("mlflow-artifacts://h:5000/1/abc/artifacts").unwrap(),
            "1/abc/artifacts"
        );
        assert_eq!(artifact_uri_to_relative("mlflow-artifacts:").unwrap(), "");
        assert!(artifact_uri_to_relative("s3://b/k").is_err());
    }

    #[test]
    fn urls_are_encoded_per_segment() {
        let c = SlipwayClient::new("http://h:1/").unwrap();
        assert_eq!(
            c.artifact_url("mlflow-artifacts:/1/r/artifacts", "plots/a b#?.png")
                .unwrap(),
            "http://h:1/api/2.0/mlflow-artifacts/artifacts/1/r/artifacts/plots/a%20b%23%3F.png"
        );
        assert!(c
            .artifact_url("mlflow-artifacts:/1/r/artifacts", "../../etc/passwd")
            .is_err());
    }
}
