//! The artifact proxy (`mlflow server --serve-artifacts`) and run artifact listing.
//!
//! - `PUT|GET|DELETE /api/2.0/mlflow-artifacts/artifacts/{path}`: upload
//!   (streamed, no body limit), download (streamed, single-range support),
//!   delete;
//! - `GET /api/2.0/mlflow-artifacts/artifacts?path=`: list a directory;
//! - `GET /api/2.0/mlflow/artifacts/list?run_id=&path=`: list a run's artifacts;
//! - `GET /api/3.0/mlflow/server-info`: the client's multipart capability probe;
//! - `GET /get-artifact?run_uuid=&path=`: the MLflow UI's download endpoint.
//!
//! All but `get-artifact` are also mounted under `/ajax-api`, as MLflow does.
//! Every path from a request goes through [`SafePath::parse`] before the
//! store sees it; the store then refuses symlinks leading out of its root.

use crate::extract::Params;
use crate::{ApiError, AppState};
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};
use slipway_artifacts::{ArtifactFile, SafePath};
use slipway_core::Error;
use slipway_protocol::{pick_run_id, FileInfo, ListArtifacts};
use std::time::UNIX_EPOCH;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

/// Read buffer for downloads.
const DOWNLOAD_CHUNK: usize = 256 * 1024;

pub fn routes() -> Router<AppState> {
    let mut router = Router::new();
    for prefix in ["/api", "/ajax-api"] {
        router = router
            .route(
                &format!("{prefix}/2.0/mlflow-artifacts/artifacts"),
                get(list_proxy),
            )
            .route(
                &format!("{prefix}/2.0/mlflow-artifacts/artifacts/{{*path}}"),
                get(download)
                    .put(upload)
                    .delete(delete)
                    // Uploads are streamed to disk: no size limit but the disk.
                    .layer(DefaultBodyLimit::disable()),
            )
            .route(
                &format!("{prefix}/2.0/mlflow/artifacts/list"),
                get(list_run_artifacts),
            )
            .route(
                &format!("{prefix}/3.0/mlflow/server-info"),
                get(server_info),
            );
    }
    router
        .route("/get-artifact", get(get_artifact))
        .route(
            "/model-versions/get-artifact",
            get(get_model_version_artifact),
        )
        .route(
            "/ajax-api/2.0/mlflow/model-versions/get-artifact",
            get(get_model_version_artifact),
        )
}

/// `{}`: the body of MLflow's empty responses.
#[derive(Serialize)]
struct EmptyReply {}

/// A listing as MLflow renders it: unset fields and empty lists omitted
/// (an empty directory answers `{}`).
#[derive(Serialize)]
struct ListReply {
    #[serde(skip_serializing_if = "Option::is_none")]
    root_uri: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    files: Vec<FileInfo>,
}

// ---------------- mlflow-artifacts proxy ----------------

/// The `{*path}` of a proxy URL (percent-decoded once by axum), validated.
fn url_path(path: Result<Path<String>, PathRejection>) -> Result<SafePath, ApiError> {
    let Path(raw) =
        path.map_err(|e| ApiError::invalid(format!("Invalid artifact path: {}", e.body_text())))?;
    Ok(SafePath::parse(&raw)?)
}

async fn upload(
    State(s): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    body: Body,
) -> Result<Json<EmptyReply>, ApiError> {
    let path = url_path(path)?;
    let stream = body.into_data_stream().map_err(std::io::Error::other);
    let bytes = s.artifacts.put(&path, Box::pin(stream)).await?;
    tracing::info!(path = %path, bytes, "artifact uploaded");
    Ok(Json(EmptyReply {}))
}

async fn download(
    State(s): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let path = url_path(path)?;
    let file = s.artifacts.open(&path).await?;
    send_file(&path, file, &headers).await
}

async fn delete(
    State(s): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<EmptyReply>, ApiError> {
    let path = url_path(path)?;
    let existed = s.artifacts.delete(&path).await?;
    tracing::info!(path = %path, existed, "artifact deleted");
    Ok(Json(EmptyReply {}))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ListQuery {
    path: Option<String>,
}

async fn list_proxy(
    State(s): State<AppState>,
    Params(q): Params<ListQuery>,
) -> Result<Json<ListReply>, ApiError> {
    let dir = match q.path.as_deref() {
        None => SafePath::root(),
        Some(raw) => SafePath::parse(raw)?,
    };
    let files = s.artifacts.list(&dir).await?;
    Ok(Json(ListReply {
        root_uri: None,
        files,
    }))
}

async fn server_info() -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "store_type": "SqlStore",
        "workspaces_enabled": false,
        "trace_archival_enabled": false,
        // Uploads stream through a single PUT; downloads support ranges.
        "multipart_uploads_enabled": false,
        "multipart_downloads_enabled": false,
    }))
}

// ---------------- run-based endpoints ----------------

/// The store directory of a run's `mlflow-artifacts:` artifact URI. Any other
/// scheme is a location the client writes to directly: the server does not
/// proxy it and never touches its own filesystem for it.
fn proxied_root(artifact_uri: &str) -> Result<SafePath, ApiError> {
    const SCHEME: &str = "mlflow-artifacts:";
    let rest = match artifact_uri.get(..SCHEME.len()) {
        Some(s) if s.eq_ignore_ascii_case(SCHEME) => &artifact_uri[SCHEME.len()..],
        _ => {
            return Err(ApiError::invalid(format!(
                "The run's artifact location '{artifact_uri}' is not served by this server \
                 (it proxies only 'mlflow-artifacts:' locations); access it directly."
            )))
        }
    };
    // `mlflow-artifacts://host:port/path`: the authority names the server, the path follows.
    let path = match rest.strip_prefix("//") {
        Some(after) => after.find('/').map_or("", |i| &after[i..]),
        None => rest,
    };
    let invalid = |why: &str| {
        ApiError::invalid(format!(
            "The run's artifact location '{artifact_uri}' is invalid: {why}"
        ))
    };
    let root = SafePath::parse(path.trim_start_matches('/')).map_err(|e| invalid(&e.message))?;
    if root.is_root() {
        return Err(invalid("it has no path"));
    }
    Ok(root)
}

/// An optional run-relative path from a query string (`""` is the run root).
fn run_relative(path: Option<&str>) -> Result<SafePath, ApiError> {
    Ok(SafePath::parse(path.unwrap_or(""))?)
}

async fn list_run_artifacts(
    State(s): State<AppState>,
    Params(req): Params<ListArtifacts>,
) -> Result<Json<ListReply>, ApiError> {
    let rel = run_relative(req.path.as_deref())?;
    let run = s
        .tracking
        .get_run(pick_run_id(&req.run_id, &req.run_uuid))
        .await?;
    let root_uri = run.info.artifact_uri;
    let base = proxied_root(&root_uri)?;
    let files = s
        .artifacts
        .list(&base.join(&rel))
        .await?
        .into_iter()
        .map(|f| FileInfo {
            // Paths relative to the run's artifact root, as MLflow answers.
            path: if rel.is_root() {
                f.path
            } else {
                format!("{rel}/{}", f.path)
            },
            ..f
        })
        .collect();
    Ok(Json(ListReply {
        root_uri: Some(root_uri),
        files,
    }))
}

/// The required `path` query parameter of the UI download endpoints, checked
/// before anything else happens.
fn file_param(raw: Option<&str>) -> Result<SafePath, ApiError> {
    let raw =
        raw.ok_or_else(|| ApiError::invalid("Missing value for required parameter 'path'."))?;
    let rel = SafePath::parse(raw)?;
    if rel.is_root() {
        return Err(ApiError::invalid(
            "Parameter 'path' must name an artifact file.",
        ));
    }
    Ok(rel)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct GetArtifactQuery {
    path: Option<String>,
    run_id: String,
    run_uuid: String,
}

/// `GET /get-artifact?path=&run_uuid=`: the MLflow UI's download endpoint
/// (the target of CVE-2023-1177-style traversal). The path is validated
/// before anything else happens.
async fn get_artifact(
    State(s): State<AppState>,
    Params(q): Params<GetArtifactQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let rel = file_param(q.path.as_deref())?;
    let run = s
        .tracking
        .get_run(pick_run_id(&q.run_id, &q.run_uuid))
        .await?;
    let full = proxied_root(&run.info.artifact_uri)?.join(&rel);
    let file = s.artifacts.open(&full).await?;
    send_file(&full, file, &headers).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ModelVersionArtifactQuery {
    name: String,
    version: String,
    path: Option<String>,
}

/// `GET /model-versions/get-artifact?name=&version=&path=`: the UI's download
/// of a registered model's file. The last step of the CVE-2024-1483 chain:
/// the version's location is resolved by the registry and served only if it
/// is under this server's artifact root.
async fn get_model_version_artifact(
    State(s): State<AppState>,
    Params(q): Params<ModelVersionArtifactQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let rel = file_param(q.path.as_deref())?;
    let location = s.registry.download_uri(&q.name, &q.version).await?;
    let full = proxied_root(&location)?.join(&rel);
    let file = s.artifacts.open(&full).await?;
    send_file(&full, file, &headers).await
}

// ---------------- file responses ----------------

/// Streams `file` with the headers MLflow sends, honouring one `Range`.
async fn send_file(
    path: &SafePath,
    file: ArtifactFile,
    req_headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let ArtifactFile {
        mut reader,
        size,
        modified,
    } = file;
    let name = path.file_name().unwrap_or("artifact");
    let mtime_nanos = modified
        .and_then(|m| m.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let etag = format!("\"{mtime_nanos:x}-{size:x}\"");
    let last_modified = modified.map(httpdate::fmt_http_date);

    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(guess_mime_type(name)),
    );
    headers.insert(header::CONTENT_DISPOSITION, content_disposition(name));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(header::ETAG, header_value(&etag));
    if let Some(lm) = &last_modified {
        headers.insert(header::LAST_MODIFIED, header_value(lm));
    }

    let range = if if_range_matches(req_headers, &etag, last_modified.as_deref()) {
        parse_range(req_headers.get(header::RANGE), size)
    } else {
        ByteRange::Full
    };
    let (status, start, len) = match range {
        ByteRange::Full => (StatusCode::OK, 0, size),
        ByteRange::Partial(start, end) => {
            headers.insert(
                header::CONTENT_RANGE,
                header_value(&format!("bytes {start}-{end}/{size}")),
            );
            (StatusCode::PARTIAL_CONTENT, start, end - start + 1)
        }
        ByteRange::Unsatisfiable => {
            headers.insert(
                header::CONTENT_RANGE,
                header_value(&format!("bytes */{size}")),
            );
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(0u64));
            return Ok((StatusCode::RANGE_NOT_SATISFIABLE, headers).into_response());
        }
    };
    if start > 0 {
        reader
            .seek(std::io::SeekFrom::Start(start))
            .await
            .map_err(|e| {
                tracing::error!(path = %path, error = %e, "cannot seek in artifact");
                ApiError(Error::internal(format!(
                    "Cannot read artifact '{path}': {e}"
                )))
            })?;
    }
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    // `take`: never send more than announced, even if the file grows meanwhile.
    let body = Body::from_stream(ReaderStream::with_capacity(
        reader.take(len),
        DOWNLOAD_CHUNK,
    ));
    tracing::debug!(path = %path, status = status.as_u16(), bytes = len, "artifact download");
    Ok((status, headers, body).into_response())
}

fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `attachment; filename=NAME` as MLflow sends it for plain names; names with
/// spaces, quotes or non-ASCII characters get an ASCII fallback plus the
/// RFC 6266 `filename*` form.
fn content_disposition(name: &str) -> HeaderValue {
    let plain = |c: char| c.is_ascii_alphanumeric() || "!#$&+-.^_`|~".contains(c);
    if name.chars().all(plain) {
        return header_value(&format!("attachment; filename={name}"));
    }
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded = percent_encoding::utf8_percent_encode(name, RFC5987).to_string();
    header_value(&format!(
        "attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"
    ))
}

/// RFC 5987 `attr-char`: everything else is percent-encoded.
const RFC5987: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// MLflow's `_guess_mime_type`: its text extensions (and the extension-less
/// `MLmodel` / `MLproject`) are `text/plain`; otherwise Python's `mimetypes`
/// answer for common types; `application/octet-stream` for the rest.
fn guess_mime_type(name: &str) -> &'static str {
    const TEXT: &[&str] = &[
        "txt",
        "log",
        "err",
        "cfg",
        "conf",
        "cnf",
        "cf",
        "ini",
        "properties",
        "prop",
        "hocon",
        "toml",
        "yaml",
        "yml",
        "xml",
        "json",
        "js",
        "py",
        "py3",
        "csv",
        "tsv",
        "md",
        "rst",
        "MLmodel",
        "MLproject",
    ];
    // Python's `os.path.splitext`: a leading dot does not start an extension.
    let ext = match name.rfind('.') {
        Some(i) if name[..i].chars().any(|c| c != '.') => &name[i + 1..],
        _ => "",
    };
    if TEXT.contains(&if ext.is_empty() { name } else { ext }) {
        return "text/plain";
    }
    // `mimetypes.guess_type` (case-insensitive) for the common binary and web types.
    match ext.to_ascii_lowercase().as_str() {
        "txt" => "text/plain",
        "csv" => "text/csv",
        "json" => "application/json",
        "html" | "htm" => "text/html",
        "css" => "text/css",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "webp" => "image/webp",
        "bmp" => "image/bmp",
        "tif" | "tiff" => "image/tiff",
        "ico" => "image/vnd.microsoft.icon",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "tar" => "application/x-tar",
        "mp4" => "video/mp4",
        "mp3" => "audio/mpeg",
        "wav" => "audio/x-wav",
        _ => "application/octet-stream",
    }
}

#[derive(Debug, PartialEq, Eq)]
enum ByteRange {
    Full,
    /// First and last byte, inclusive.
    Partial(u64, u64),
    Unsatisfiable,
}

/// One `bytes=` range (RFC 9110 §14). Anything else (other units, several
/// ranges, malformed specs) is ignored and the whole file is sent, which the
/// RFC allows.
fn parse_range(value: Option<&HeaderValue>, size: u64) -> ByteRange {
    let Some(spec) = value
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("bytes="))
    else {
        return ByteRange::Full;
    };
    if spec.contains(',') {
        return ByteRange::Full;
    }
    let Some((first, last)) = spec.split_once('-') else {
        return ByteRange::Full;
    };
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        // `bytes=-N`: the last N bytes.
        return match last.parse::<u64>() {
            Ok(0) => ByteRange::Unsatisfiable,
            Ok(_) if size == 0 => ByteRange::Unsatisfiable,
            Ok(n) => ByteRange::Partial(size - n.min(size), size - 1),
            Err(_) => ByteRange::Full,
        };
    }
    let Ok(start) = first.parse::<u64>() else {
        return ByteRange::Full;
    };
    let end = if last.is_empty() {
        u64::MAX
    } else {
        match last.parse::<u64>() {
            Ok(end) if end >= start => end,
            _ => return ByteRange::Full,
        }
    };
    if start >= size {
        return ByteRange::Unsatisfiable;
    }
    ByteRange::Partial(start, end.min(size - 1))
}

/// `If-Range`: the range applies only if the validator still matches.
fn if_range_matches(headers: &HeaderMap, etag: &str, last_modified: Option<&str>) -> bool {
    match headers.get(header::IF_RANGE).and_then(|v| v.to_str().ok()) {
        None => true,
        Some(v) => v.trim() == etag || Some(v.trim()) == last_modified,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ServerConfig;
    use axum::http::{Method, Request};
    use bytes::Bytes;
    use http_body_util::BodyExt;
    use slipway_protocol::{CreateExperiment, CreateRun};
    use tower::ServiceExt;

    struct Server {
        tmp: tempfile::TempDir,
        app: Router,
        state: AppState,
    }

    impl Server {
        fn new() -> Server {
            let tmp = tempfile::tempdir().unwrap();
            let state = crate::open_state(&ServerConfig::with_home(tmp.path())).unwrap();
            let app = crate::app(state.clone());
            Server { tmp, app, state }
        }

        fn artifacts_dir(&self) -> std::path::PathBuf {
            self.tmp.path().join("artifacts")
        }

        async fn send(&self, req: Request<Body>) -> (StatusCode, HeaderMap, Bytes) {
            let resp = self.app.clone().oneshot(req).await.unwrap();
            let status = resp.status();
            let headers = resp.headers().clone();
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            (status, headers, body)
        }

        async fn request(
            &self,
            method: Method,
            uri: &str,
            body: Body,
        ) -> (StatusCode, HeaderMap, Bytes) {
            let req = Request::builder()
                .method(method)
                .uri(uri)
                .body(body)
                .unwrap();
            self.send(req).await
        }

        async fn get(&self, uri: &str) -> (StatusCode, HeaderMap, Bytes) {
            self.request(Method::GET, uri, Body::empty()).await
        }

        async fn get_json(&self, uri: &str) -> (StatusCode, serde_json::Value) {
            let (status, headers, body) = self.get(uri).await;
            assert_eq!(headers[header::CONTENT_TYPE], "application/json", "{uri}");
            (status, serde_json::from_slice(&body).unwrap())
        }

        async fn put(&self, path: &str, data: impl Into<Body>) -> (StatusCode, HeaderMap, Bytes) {
            let uri = format!("/api/2.0/mlflow-artifacts/artifacts/{path}");
            self.request(Method::PUT, &uri, data.into()).await
        }

        async fn put_ok(&self, path: &str, data: &'static [u8]) {
            let (status, _, body) = self.put(path, data).await;
            assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
            assert_eq!(&body[..], b"{}");
        }

        async fn new_run(&self, artifact_location: Option<&str>) -> (String, String) {
            let experiment_id = self
                .state
                .tracking
                .create_experiment(CreateExperiment {
                    name: format!("exp-{}", uuid_like()),
                    artifact_location: artifact_location.map(str::to_string),
                    tags: vec![],
                })
                .await
                .unwrap();
            let run = self
                .state
                .tracking
                .create_run(CreateRun {
                    experiment_id,
                    ..Default::default()
                })
                .await
                .unwrap();
            (run.info.run_id.clone(), run.info.artifact_uri.clone())
        }
    }

    fn uuid_like() -> String {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        format!(
            "{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        )
    }

    fn pseudo_random(len: usize) -> Vec<u8> {
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    /// FNV-1a 64.
    fn checksum(data: &[u8]) -> u64 {
        data.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ *b as u64).wrapping_mul(0x100_0000_01b3)
        })
    }

    fn run_rel(artifact_uri: &str) -> String {
        artifact_uri
            .strip_prefix("mlflow-artifacts:/")
            .unwrap()
            .to_string()
    }

    #[tokio::test]
    async fn a_20_mb_upload_streams_in_and_out() {
        let srv = Server::new();
        let data = pseudo_random(20 * 1024 * 1024);
        let sum = checksum(&data);
        let chunks: Vec<Result<Bytes, std::io::Error>> = data
            .chunks(1024 * 1024 - 7)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let body = Body::from_stream(futures_util::stream::iter(chunks));
        let (status, _, reply) = srv.put("1/run/artifacts/model/model.bin", body).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&reply)
        );
        assert_eq!(&reply[..], b"{}");

        let (status, headers, body) = srv
            .get("/api/2.0/mlflow-artifacts/artifacts/1/run/artifacts/model/model.bin")
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body.len(), data.len());
        assert_eq!(checksum(&body), sum);
        assert!(body[..] == data[..]);
        assert_eq!(
            headers[header::CONTENT_LENGTH],
            (20 * 1024 * 1024).to_string().as_str()
        );
        assert_eq!(headers[header::CONTENT_TYPE], "application/octet-stream");
        assert_eq!(
            headers[header::CONTENT_DISPOSITION],
            "attachment; filename=model.bin"
        );
        assert_eq!(headers[header::ACCEPT_RANGES], "bytes");
        assert!(headers.contains_key(header::ETAG));
        assert!(
            httpdate::parse_http_date(headers[header::LAST_MODIFIED].to_str().unwrap()).is_ok()
        );

        // Also under the ajax-api prefix the UI uses.
        let (status, _, body) = srv
            .get("/ajax-api/2.0/mlflow-artifacts/artifacts/1/run/artifacts/model/model.bin")
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(checksum(&body), sum);
    }

    #[tokio::test]
    async fn download_headers_follow_mlflow() {
        let srv = Server::new();
        for (name, mime) in [
            ("feature_importance.csv", "text/plain"),
            ("MLmodel", "text/plain"),
            ("conda.yaml", "text/plain"),
            ("requirements.txt", "text/plain"),
            ("config.json", "text/plain"),
            ("plot.png", "image/png"),
            ("model.skops", "application/octet-stream"),
            ("model.pkl", "application/octet-stream"),
        ] {
            srv.put_ok(&format!("d/{name}"), b"x").await;
            let (status, headers, body) = srv
                .get(&format!("/api/2.0/mlflow-artifacts/artifacts/d/{name}"))
                .await;
            assert_eq!(status, StatusCode::OK, "{name}");
            assert_eq!(&body[..], b"x");
            assert_eq!(headers[header::CONTENT_TYPE], mime, "{name}");
            assert_eq!(
                headers[header::CONTENT_DISPOSITION],
                format!("attachment; filename={name}").as_str()
            );
            assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        }
        // Non-ASCII names: URL-encoded in the request, RFC 6266 in the answer.
        srv.put_ok("d/na%C3%AFve%20caf%C3%A9.txt", b"unicode").await;
        let (status, headers, body) = srv
            .get("/api/2.0/mlflow-artifacts/artifacts/d/na%C3%AFve%20caf%C3%A9.txt")
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(&body[..], b"unicode");
        assert_eq!(
            headers[header::CONTENT_DISPOSITION],
            "attachment; filename=\"na_ve caf_.txt\"; filename*=UTF-8''na%C3%AFve%20caf%C3%A9.txt"
        );
        let (_, listing) = srv
            .get_json("/api/2.0/mlflow-artifacts/artifacts?path=d")
            .await;
        assert!(
            listing["files"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["path"] == "naïve café.txt"),
            "{listing}"
        );
    }

    #[tokio::test]
    async fn listing_shapes_match_mlflow() {
        let srv = Server::new();
        srv.put_ok("1/r/artifacts/feature_importance.csv", b"a,b\n1,2\n")
            .await;
        srv.put_ok("1/r/artifacts/notes/readme.txt", b"hello").await;
        let (status, v) = srv
            .get_json("/api/2.0/mlflow-artifacts/artifacts?path=1%2Fr%2Fartifacts")
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            v,
            serde_json::json!({"files": [
                {"path": "feature_importance.csv", "is_dir": false, "file_size": 8},
                {"path": "notes", "is_dir": true},
            ]})
        );
        let (_, v) = srv
            .get_json("/api/2.0/mlflow-artifacts/artifacts?path=1/r/artifacts/notes/")
            .await;
        assert_eq!(
            v,
            serde_json::json!({"files": [{"path": "readme.txt", "is_dir": false, "file_size": 5}]})
        );
        // No path: the root.
        let (_, v) = srv.get_json("/api/2.0/mlflow-artifacts/artifacts").await;
        assert_eq!(
            v,
            serde_json::json!({"files": [{"path": "1", "is_dir": true}]})
        );
        // Missing directory, and a file path: `{}` (MLflow omits the empty list).
        for q in ["1/nope/artifacts", "1/r/artifacts/feature_importance.csv"] {
            let (status, _, body) = srv
                .get(&format!("/api/2.0/mlflow-artifacts/artifacts?path={q}"))
                .await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(&body[..], b"{}", "{q}");
        }
    }

    #[tokio::test]
    async fn range_requests() {
        let srv = Server::new();
        srv.put_ok("r/f.bin", b"0123456789").await;
        let uri = "/api/2.0/mlflow-artifacts/artifacts/r/f.bin";
        let ranged = |range: &'static str| {
            Request::builder()
                .uri(uri)
                .header(header::RANGE, range)
                .body(Body::empty())
                .unwrap()
        };
        for (range, body, content_range) in [
            ("bytes=2-5", &b"2345"[..], "bytes 2-5/10"),
            ("bytes=7-", b"789", "bytes 7-9/10"),
            ("bytes=-3", b"789", "bytes 7-9/10"),
            ("bytes=0-0", b"0", "bytes 0-0/10"),
            ("bytes=8-100", b"89", "bytes 8-9/10"),
            ("bytes=-100", b"0123456789", "bytes 0-9/10"),
        ] {
            let (status, headers, got) = srv.send(ranged(range)).await;
            assert_eq!(status, StatusCode::PARTIAL_CONTENT, "{range}");
            assert_eq!(&got[..], body, "{range}");
            assert_eq!(headers[header::CONTENT_RANGE], content_range, "{range}");
            assert_eq!(
                headers[header::CONTENT_LENGTH],
                body.len().to_string().as_str()
            );
        }
        for range in ["bytes=10-", "bytes=20-30", "bytes=-0"] {
            let (status, headers, got) = srv.send(ranged(range)).await;
            assert_eq!(status, StatusCode::RANGE_NOT_SATISFIABLE, "{range}");
            assert_eq!(headers[header::CONTENT_RANGE], "bytes */10");
            assert!(got.is_empty());
        }
        // Ignored: malformed, reversed, several ranges, other units.
        for range in [
            "bytes=5-2",
            "bytes=a-b",
            "bytes=0-1,3-4",
            "items=0-1",
            "bytes=1",
        ] {
            let (status, _, got) = srv.send(ranged(range)).await;
            assert_eq!(status, StatusCode::OK, "{range}");
            assert_eq!(&got[..], b"0123456789");
        }
        // If-Range with a stale validator: the whole file.
        let req = Request::builder()
            .uri(uri)
            .header(header::RANGE, "bytes=0-1")
            .header(header::IF_RANGE, "\"stale\"")
            .body(Body::empty())
            .unwrap();
        let (status, headers, _) = srv.send(req).await;
        assert_eq!(status, StatusCode::OK);
        let etag = headers[header::ETAG].clone();
        let req = Request::builder()
            .uri(uri)
            .header(header::RANGE, "bytes=0-1")
            .header(header::IF_RANGE, etag)
            .body(Body::empty())
            .unwrap();
        let (status, _, got) = srv.send(req).await;
        assert_eq!(status, StatusCode::PARTIAL_CONTENT);
        assert_eq!(&got[..], b"01");
    }

    #[tokio::test]
    async fn missing_files_directories_and_deletes() {
        let srv = Server::new();
        let (status, v) = srv
            .get_json("/api/2.0/mlflow-artifacts/artifacts/nope/x.txt")
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(v["error_code"], "RESOURCE_DOES_NOT_EXIST");

        srv.put_ok("d/sub/a.txt", b"a").await;
        srv.put_ok("d/b.txt", b"b").await;
        let (status, v) = srv
            .get_json("/api/2.0/mlflow-artifacts/artifacts/d/sub")
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(v["error_code"], "INVALID_PARAMETER_VALUE");
        let (status, _, body) = srv.put("d/sub", "x").await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{}",
            String::from_utf8_lossy(&body)
        );

        let (status, _, body) = srv
            .request(
                Method::DELETE,
                "/api/2.0/mlflow-artifacts/artifacts/d/b.txt",
                Body::empty(),
            )
            .await;
        assert_eq!((status, &body[..]), (StatusCode::OK, &b"{}"[..]));
        let (status, _) = srv
            .get_json("/api/2.0/mlflow-artifacts/artifacts/d/b.txt")
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _, _) = srv
            .request(
                Method::DELETE,
                "/api/2.0/mlflow-artifacts/artifacts/d",
                Body::empty(),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let (_, _, body) = srv.get("/api/2.0/mlflow-artifacts/artifacts?path=d").await;
        assert_eq!(&body[..], b"{}");
        // Deleting what is not there is fine, as in MLflow.
        let (status, _, _) = srv
            .request(
                Method::DELETE,
                "/api/2.0/mlflow-artifacts/artifacts/d",
                Body::empty(),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
    }

    #[tokio::test]
    async fn server_info_disables_multipart() {
        let srv = Server::new();
        for uri in [
            "/api/3.0/mlflow/server-info",
            "/ajax-api/3.0/mlflow/server-info",
        ] {
            let (status, v) = srv.get_json(uri).await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(v["store_type"], "SqlStore");
            assert_eq!(v["multipart_uploads_enabled"], false);
            assert_eq!(v["multipart_downloads_enabled"], false);
        }
    }

    #[tokio::test]
    async fn run_listing_is_relative_to_the_run_root() {
        let srv = Server::new();
        let (run_id, artifact_uri) = srv.new_run(None).await;
        assert!(
            artifact_uri.starts_with("mlflow-artifacts:/"),
            "{artifact_uri}"
        );
        let rel = run_rel(&artifact_uri);
        srv.put_ok(&format!("{rel}/feature_importance.csv"), b"a,b\n")
            .await;
        srv.put_ok(&format!("{rel}/notes/readme.txt"), b"hello")
            .await;

        let (status, v) = srv
            .get_json(&format!("/api/2.0/mlflow/artifacts/list?run_id={run_id}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_eq!(
            v,
            serde_json::json!({"root_uri": artifact_uri, "files": [
                {"path": "feature_importance.csv", "is_dir": false, "file_size": 4},
                {"path": "notes", "is_dir": true},
            ]})
        );
        let (_, v) = srv
            .get_json(&format!(
                "/api/2.0/mlflow/artifacts/list?run_uuid={run_id}&path=notes"
            ))
            .await;
        assert_eq!(
            v,
            serde_json::json!({"root_uri": artifact_uri, "files": [
                {"path": "notes/readme.txt", "is_dir": false, "file_size": 5},
            ]})
        );
        let (_, v) = srv
            .get_json(&format!(
                "/ajax-api/2.0/mlflow/artifacts/list?run_id={run_id}&path=nothing"
            ))
            .await;
        assert_eq!(v, serde_json::json!({"root_uri": artifact_uri}));
        let (status, v) = srv
            .get_json("/api/2.0/mlflow/artifacts/list?run_id=0123456789abcdef0123456789abcdef")
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(v["error_code"], "RESOURCE_DOES_NOT_EXIST");
    }

    #[tokio::test]
    async fn runs_with_an_object_store_location_are_not_proxied() {
        let srv = Server::new();
        let (run_id, artifact_uri) = srv.new_run(Some("s3://bucket/prefix")).await;
        assert!(artifact_uri.starts_with("s3://"), "{artifact_uri}");
        let (status, v) = srv
            .get_json(&format!("/api/2.0/mlflow/artifacts/list?run_id={run_id}"))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(v["error_code"], "INVALID_PARAMETER_VALUE");
        assert!(
            v["message"]
                .as_str()
                .unwrap()
                .contains("not served by this server"),
            "{v}"
        );
        let (status, v) = srv
            .get_json(&format!("/get-artifact?run_uuid={run_id}&path=x.txt"))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(v["error_code"], "INVALID_PARAMETER_VALUE");
    }

    #[test]
    fn proxied_roots() {
        assert_eq!(
            proxied_root("mlflow-artifacts:/1/abc/artifacts")
                .unwrap()
                .as_str(),
            "1/abc/artifacts"
        );
        assert_eq!(
            proxied_root("mlflow-artifacts:///1/abc/artifacts")
                .unwrap()
                .as_str(),
            "1/abc/artifacts"
        );
        assert_eq!(
            proxied_root("mlflow-artifacts://host:5000/1/abc/artifacts")
                .unwrap()
                .as_str(),
            "1/abc/artifacts"
        );
        assert_eq!(
            proxied_root("mlflow-artifacts:1/abc").unwrap().as_str(),
            "1/abc"
        );
        for bad in [
            "s3://bucket/x",
            "file:///etc",
            "/etc/passwd",
            "mlflow-artifacts:/",
            "mlflow-artifacts://host",
            "mlflow-artifacts:/1/../../etc",
            "mlflow-artifacts:/1/%2e%2e/x",
        ] {
            assert!(proxied_root(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn legacy_get_artifact() {
        let srv = Server::new();
        let (run_id, artifact_uri) = srv.new_run(None).await;
        srv.put_ok(
            &format!("{}/notes/readme.txt", run_rel(&artifact_uri)),
            b"hello",
        )
        .await;
        let (status, headers, body) = srv
            .get(&format!(
                "/get-artifact?path=notes/readme.txt&run_uuid={run_id}"
            ))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(&body[..], b"hello");
        assert_eq!(headers[header::CONTENT_TYPE], "text/plain");
        assert_eq!(
            headers[header::CONTENT_DISPOSITION],
            "attachment; filename=readme.txt"
        );
        let (status, v) = srv
            .get_json(&format!(
                "/get-artifact?path=notes/missing.txt&run_id={run_id}"
            ))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(v["error_code"], "RESOURCE_DOES_NOT_EXIST");
        let (status, v) = srv
            .get_json(&format!("/get-artifact?run_uuid={run_id}"))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(v["error_code"], "INVALID_PARAMETER_VALUE");
    }

    /// Traversal payloads, as they would appear in a URL (raw), and the same
    /// payloads percent-encoded once and twice.
    fn payloads() -> Vec<String> {
        let raw = [
            "../../etc/passwd",
            "../secret.txt",
            "a/../../secret.txt",
            "..%2fsecret.txt",
            "%2e%2e%2fsecret.txt",
            "%2e%2e/%2e%2e/etc/passwd",
            "%252e%252e%252fsecret.txt",
            "..%252fsecret.txt",
            "%2fetc%2fpasswd",
            "%5c..%5csecret.txt",
            "..%5csecret.txt",
            "a%00b",
            "C:%5cWindows%5cwin.ini",
            "C:/Windows/win.ini",
            "a/./../secret.txt",
        ];
        let mut all: Vec<String> = raw.iter().map(|s| s.to_string()).collect();
        for s in raw {
            let once = percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
            let twice =
                percent_encoding::utf8_percent_encode(&once, percent_encoding::NON_ALPHANUMERIC)
                    .to_string();
            all.push(once);
            all.push(twice);
        }
        all
    }

    /// A 4xx MLflow JSON error that leaks no file content.
    fn assert_refused(what: &str, status: StatusCode, headers: &HeaderMap, body: &[u8]) {
        assert!(
            status.is_client_error(),
            "{what}: {status} {}",
            String::from_utf8_lossy(body)
        );
        assert_eq!(headers[header::CONTENT_TYPE], "application/json", "{what}");
        let v: serde_json::Value =
            serde_json::from_slice(body).unwrap_or_else(|_| panic!("{what}: not JSON"));
        assert!(v["error_code"].is_string(), "{what}: {v}");
        let text = String::from_utf8_lossy(body);
        assert!(
            !text.contains("TOP SECRET") && !text.contains("root:x:0"),
            "{what}: leaked {text}"
        );
    }

    fn plant_secret(srv: &Server) {
        std::fs::write(srv.tmp.path().join("secret.txt"), b"TOP SECRET").unwrap();
    }

    #[tokio::test]
    async fn traversal_in_the_url_path_is_refused() {
        let srv = Server::new();
        plant_secret(&srv);
        srv.put_ok("1/run/artifacts/ok.txt", b"fine").await;
        for payload in payloads() {
            for method in [Method::GET, Method::PUT, Method::DELETE] {
                for prefix in [
                    "/api/2.0/mlflow-artifacts/artifacts/",
                    "/api/2.0/mlflow-artifacts/artifacts/1/run/artifacts/",
                ] {
                    let uri = format!("{prefix}{payload}");
                    let Ok(req) = Request::builder()
                        .method(method.clone())
                        .uri(&uri)
                        .body(Body::from("PWNED"))
                    else {
                        continue; // not even a valid URI: never reaches a handler
                    };
                    let (status, headers, body) = srv.send(req).await;
                    assert_refused(&format!("{method} {uri}"), status, &headers, &body);
                }
            }
        }
        // Nothing was written or removed outside (or inside) the root.
        assert_eq!(
            std::fs::read(srv.tmp.path().join("secret.txt")).unwrap(),
            b"TOP SECRET"
        );
        let mut outside: Vec<_> = std::fs::read_dir(srv.tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| !n.starts_with("mlflow.db"))
            .collect();
        outside.sort();
        assert_eq!(outside, ["artifacts", "secret.txt"]);
        let (_, v) = srv
            .get_json("/api/2.0/mlflow-artifacts/artifacts?path=1/run/artifacts")
            .await;
        assert_eq!(
            v,
            serde_json::json!({"files": [{"path": "ok.txt", "is_dir": false, "file_size": 4}]})
        );
    }

    #[tokio::test]
    async fn traversal_in_query_strings_is_refused() {
        let srv = Server::new();
        plant_secret(&srv);
        let (run_id, _) = srv.new_run(None).await;
        for payload in payloads() {
            for uri in [
                format!("/api/2.0/mlflow-artifacts/artifacts?path={payload}"),
                format!("/api/2.0/mlflow/artifacts/list?run_id={run_id}&path={payload}"),
                format!("/get-artifact?path={payload}&run_uuid={run_id}"),
                format!("/get-artifact?path={payload}&run_uuid=0123456789abcdef0123456789abcdef"),
            ] {
                let Ok(req) = Request::builder().uri(&uri).body(Body::empty()) else {
                    continue;
                };
                let (status, headers, body) = srv.send(req).await;
                assert_refused(&uri, status, &headers, &body);
            }
        }
        // The CVE-2023-1177 request itself.
        let (status, headers, body) = srv
            .get(&format!(
                "/get-artifact?path=../../etc/passwd&run_uuid={run_id}"
            ))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_refused("get-artifact CVE", status, &headers, &body);
        // Absolute paths in the query string too.
        let (status, headers, body) = srv
            .get("/api/2.0/mlflow-artifacts/artifacts?path=/etc")
            .await;
        assert_refused("list /etc", status, &headers, &body);
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_symlink_planted_in_the_root_is_refused() {
        let srv = Server::new();
        plant_secret(&srv);
        let root = srv.artifacts_dir();
        std::fs::create_dir_all(root.join("1/run/artifacts")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("1/run/artifacts/etc")).unwrap();
        std::os::unix::fs::symlink(srv.tmp.path(), root.join("1/run/artifacts/home")).unwrap();
        std::os::unix::fs::symlink(
            srv.tmp.path().join("secret.txt"),
            root.join("1/run/artifacts/secret.txt"),
        )
        .unwrap();
        for uri in [
            "/api/2.0/mlflow-artifacts/artifacts/1/run/artifacts/etc/passwd",
            "/api/2.0/mlflow-artifacts/artifacts/1/run/artifacts/home/secret.txt",
            "/api/2.0/mlflow-artifacts/artifacts/1/run/artifacts/secret.txt",
            "/api/2.0/mlflow-artifacts/artifacts?path=1/run/artifacts/etc",
            "/api/2.0/mlflow-artifacts/artifacts?path=1/run/artifacts/home",
        ] {
            let (status, headers, body) = srv.get(uri).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
            assert_refused(uri, status, &headers, &body);
        }
        let (status, headers, body) = srv.put("1/run/artifacts/home/planted.txt", "x").await;
        assert_refused("PUT through symlink", status, &headers, &body);
        assert!(!srv.tmp.path().join("planted.txt").exists());
        // The links are not listed either.
        let (_, _, body) = srv
            .get("/api/2.0/mlflow-artifacts/artifacts?path=1/run/artifacts")
            .await;
        assert_eq!(&body[..], b"{}");
        // Through the run-based endpoints as well.
        let (run_id, artifact_uri) = srv.new_run(None).await;
        let rel = run_rel(&artifact_uri);
        std::fs::create_dir_all(root.join(&rel)).unwrap();
        std::os::unix::fs::symlink("/etc", root.join(&rel).join("etc")).unwrap();
        for uri in [
            format!("/get-artifact?path=etc/passwd&run_uuid={run_id}"),
            format!("/api/2.0/mlflow/artifacts/list?run_id={run_id}&path=etc"),
        ] {
            let (status, headers, body) = srv.get(&uri).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
            assert_refused(&uri, status, &headers, &body);
        }
    }

    #[test]
    fn range_parsing() {
        let h = |s: &'static str| HeaderValue::from_static(s);
        assert_eq!(parse_range(None, 10), ByteRange::Full);
        assert_eq!(
            parse_range(Some(&h("bytes=0-")), 10),
            ByteRange::Partial(0, 9)
        );
        assert_eq!(
            parse_range(Some(&h("bytes=0-")), 0),
            ByteRange::Unsatisfiable
        );
        assert_eq!(
            parse_range(Some(&h("bytes=-5")), 0),
            ByteRange::Unsatisfiable
        );
        assert_eq!(
            parse_range(Some(&h(" bytes=3-4 ")), 10),
            ByteRange::Partial(3, 4)
        );
        assert_eq!(
            parse_range(Some(&h("bytes=18446744073709551615-")), 10),
            ByteRange::Unsatisfiable
        );
        assert_eq!(
            parse_range(Some(&h("bytes=99999999999999999999-")), 10),
            ByteRange::Full
        );
    }

    #[test]
    fn mime_types() {
        assert_eq!(guess_mime_type("MLmodel"), "text/plain");
        assert_eq!(guess_mime_type("MLproject"), "text/plain");
        assert_eq!(guess_mime_type("python_env.yaml"), "text/plain");
        assert_eq!(guess_mime_type("REPORT.TXT"), "text/plain");
        assert_eq!(guess_mime_type("index.html"), "text/html");
        assert_eq!(guess_mime_type("model"), "application/octet-stream");
        assert_eq!(guess_mime_type(".bashrc"), "application/octet-stream");
        assert_eq!(guess_mime_type("weights.npy"), "application/octet-stream");
        assert_eq!(guess_mime_type("txt"), "text/plain");
        assert_eq!(guess_mime_type("..txt"), "application/octet-stream");
        assert_eq!(
            guess_mime_type("archive.tar.gz"),
            "application/octet-stream"
        );
    }
}
