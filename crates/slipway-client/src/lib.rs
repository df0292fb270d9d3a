//! A typed async client for the MLflow tracking REST API, as served by
//! `slipway server` (and by `mlflow server`).
//!
//! The request and response bodies are the [`slipway_protocol`] types the
//! server itself uses, so the two cannot drift apart. Errors keep MLflow's
//! `error_code` ([`Error::Api`]), so callers can branch on
//! `RESOURCE_DOES_NOT_EXIST` / `RESOURCE_ALREADY_EXISTS` as MLflow clients do.
//!
//! # Example
//!
//! ```no_run
//! use slipway_client::{SlipwayClient, RunStatus};
//!
//! # async fn demo() -> slipway_client::Result<()> {
//! let client = SlipwayClient::new("http://127.0.0.1:5000")?;
//!
//! // Convenience layer: get-or-create the experiment and start a run.
//! let run = client.run("churn").await?;
//! let experiment_id = run.experiment_id().to_string();
//! run.log_param("learning_rate", 0.01).await?;
//! for step in 0..10 {
//!     run.log_metric("loss", 1.0 / (step + 1) as f64, step).await?;
//! }
//! run.set_tag("team", "growth").await?;
//! run.log_artifact("feature_importance.csv").await?;
//! run.end(RunStatus::Finished).await?;
//!
//! // Typed REST calls.
//! let best = client
//!     .search_runs_all(slipway_client::SearchRuns {
//!         experiment_ids: vec![experiment_id],
//!         filter: Some("metrics.loss < 0.2".into()),
//!         order_by: vec!["metrics.loss ASC".into()],
//!         ..Default::default()
//!     })
//!     .await?;
//! println!("{} matching runs", best.len());
//!
//! // Errors carry MLflow's error code.
//! let err = client.get_run("0123456789abcdef0123456789abcdef").await.unwrap_err();
//! assert!(err.is_not_found());
//! # Ok(())
//! # }
//! ```
//!
//! Every method is one REST call unless its doc says otherwise (`*_all`
//! methods follow page tokens; the run-level artifact helpers first read the
//! run to resolve its `artifact_uri`).
//!
//! # Model registry
//!
//! ```no_run
//! use slipway_client::SlipwayClient;
//!
//! # async fn demo(run_id: &str) -> slipway_client::Result<()> {
//! // Registry changes are recorded with who made them (default: $USER).
//! let client = SlipwayClient::new("http://127.0.0.1:5000")?.with_user("ana");
//! match client.create_registered_model("churn").await {
//!     Ok(_) => {}
//!     Err(e) if e.is_already_exists() => {}
//!     Err(e) => return Err(e),
//! }
//! let mv = client
//!     .create_model_version("churn", &format!("runs:/{run_id}/model"), Some(run_id))
//!     .await?;
//! client
//!     .transition_model_version_stage("churn", &mv.version, "Production", true, Some("beats v1 on AUC"))
//!     .await?;
//! client.set_registered_model_alias("churn", "champion", &mv.version).await?;
//! let resolved = client.resolve_model_uri("models:/churn@champion").await?;
//! println!("{}", resolved.artifact_uri);
//! # Ok(())
//! # }
//! ```

mod artifacts;
mod error;
mod mlflow_resolve;
mod model_registry;
mod run;

pub use artifacts::artifact_uri_to_relative;
pub use error::{ApiErrorCode, Error, Result};
pub use model_registry::{Lineage, ResolvedModel, EVENT_WAIT_MARGIN, MAX_EVENT_WAIT};
pub use run::ActiveRun;
pub use slipway_core::ErrorCode;
pub use slipway_protocol::*;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::header::HeaderValue;
use reqwest::{Method, RequestBuilder, Url};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

/// Characters escaped in a URL path segment: everything but RFC 3986's unreserved set.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes one path segment (`/` included, so it cannot split the segment).
pub(crate) fn encode_segment(segment: &str) -> String {
    utf8_percent_encode(segment, SEGMENT).to_string()
}

const API: &str = "/api/2.0/mlflow";
/// The header registry writes read to record who made a change.
pub const USER_HEADER: &str = "X-Slipway-User";
/// The page size the `*_all` helpers ask for when the request leaves it unset.
const DEFAULT_PAGE_SIZE: i64 = 1000;
/// `metrics/get-history` page size (what the Python client asks for).
const HISTORY_PAGE_SIZE: i64 = 25_000;

/// Builder for [`SlipwayClient`] with non-default timeouts or a custom `reqwest::Client`.
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    base_url: String,
    timeout: Duration,
    connect_timeout: Duration,
    transfer_idle_timeout: Duration,
    http: Option<reqwest::Client>,
    user: Option<String>,
}

impl ClientBuilder {
    /// Total time allowed for one JSON API call (default 60 s). Artifact
    /// transfers are not bounded in total, only by the idle timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Time allowed to establish a connection (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Longest pause allowed while reading a response (default 120 s).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.transfer_idle_timeout = timeout;
        self
    }

    /// Uses this `reqwest::Client` (its own timeouts and pool settings apply).
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// The user sent as `X-Slipway-User` (recorded by registry writes as who
    /// made the change); `None` sends no header. Default: `$USER`, else `$LOGNAME`.
    pub fn user(mut self, user: Option<String>) -> Self {
        self.user = user;
        self
    }

    pub fn build(self) -> Result<SlipwayClient> {
        let base = parse_base_url(&self.base_url)?;
        let http = match self.http {
            Some(http) => http,
            None => reqwest::Client::builder()
                .user_agent(concat!("slipway-client/", env!("CARGO_PKG_VERSION")))
                .connect_timeout(self.connect_timeout)
                .read_timeout(self.transfer_idle_timeout)
                .pool_idle_timeout(Duration::from_secs(90))
                .tcp_keepalive(Duration::from_secs(60))
                .tcp_nodelay(true)
                .build()
                .map_err(|e| Error::InvalidInput(format!("cannot build the HTTP client: {e}")))?,
        };
        Ok(SlipwayClient {
            http,
            base,
            timeout: self.timeout,
            user: user_header(self.user.as_deref()),
            resolve_endpoint_missing: Arc::new(AtomicBool::new(false)),
        })
    }
}

/// `$USER`, else `$LOGNAME` (ignoring empty values).
fn default_user() -> Option<String> {
    ["USER", "LOGNAME"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .map(|u| u.trim().to_string())
        .find(|u| !u.is_empty())
}

/// The header value for `user`; `None` for no user or one a header cannot
/// carry (control characters).
fn user_header(user: Option<&str>) -> Option<HeaderValue> {
    let user = user.map(str::trim).filter(|u| !u.is_empty())?;
    HeaderValue::from_bytes(user.as_bytes()).ok()
}

fn parse_base_url(raw: &str) -> Result<String> {
    let trimmed = raw.trim().trim_end_matches('/');
    let url = Url::parse(trimmed)
        .map_err(|e| Error::InvalidInput(format!("invalid tracking URI '{raw}': {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(Error::InvalidInput(format!(
            "invalid tracking URI '{raw}': expected http://HOST:PORT or https://HOST:PORT"
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::InvalidInput(format!(
            "invalid tracking URI '{raw}': no query string or fragment allowed"
        )));
    }
    Ok(trimmed.to_string())
}

/// A client for one tracking server. Cheap to clone (the connection pool is shared).
#[derive(Debug, Clone)]
pub struct SlipwayClient {
    http: reqwest::Client,
    /// Tracking URI without a trailing slash, e.g. `http://127.0.0.1:5000`.
    base: String,
    timeout: Duration,
    /// `X-Slipway-User`, sent with every API call.
    user: Option<HeaderValue>,
    /// Set once the server answered that it has no
    /// `/api/2.0/slipway/registry/resolve` (a plain `mlflow server`), so
    /// URIs resolve through MLflow's standard API without asking again.
    /// Shared by clones: they talk to the same server.
    resolve_endpoint_missing: Arc<AtomicBool>,
}

impl SlipwayClient {
    /// A client for the server at `base_url` (e.g. `http://127.0.0.1:5000`;
    /// a path prefix such as `https://host/mlflow` is kept). Uses rustls,
    /// keep-alive connections, a 10 s connect timeout and a 60 s timeout per
    /// API call.
    pub fn new(base_url: impl Into<String>) -> Result<Self> {
        Self::builder(base_url).build()
    }

    /// A [`ClientBuilder`] to adjust timeouts.
    pub fn builder(base_url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            base_url: base_url.into(),
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            transfer_idle_timeout: Duration::from_secs(120),
            http: None,
            user: default_user(),
        }
    }

    /// This client sending `X-Slipway-User: name`, which registry writes
    /// record as who made the change (shown by `slipway models history`).
    /// An empty name sends no header; so does one with control characters.
    pub fn with_user(mut self, name: impl AsRef<str>) -> Self {
        self.user = user_header(Some(name.as_ref()));
        self
    }

    /// This client sending no `X-Slipway-User` header.
    pub fn without_user(mut self) -> Self {
        self.user = None;
        self
    }

    /// The user sent as `X-Slipway-User`, if any.
    pub fn user(&self) -> Option<&str> {
        self.user.as_ref().and_then(|v| v.to_str().ok())
    }

    /// The tracking URI this client talks to (no trailing slash).
    pub fn base_url(&self) -> &str {
        &self.base
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A request carrying the `X-Slipway-User` header when a user is set.
    fn request(&self, method: Method, url: &str) -> RequestBuilder {
        let req = self.http.request(method, url);
        match &self.user {
            Some(user) => req.header(USER_HEADER, user.clone()),
            None => req,
        }
    }

    // ---------------------------------------------------------------
    // Raw JSON calls (public: the escape hatch for endpoints or fields
    // the typed methods do not cover, and for printing raw JSON).
    // ---------------------------------------------------------------

    /// `GET {base}{path}?{query}` and decodes the JSON answer.
    /// `path` starts with `/`, e.g. `/api/2.0/mlflow/runs/get`.
    pub async fn get_json<R: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<R> {
        let url = self.url(path);
        let req = self.request(Method::GET, &url).query(query);
        self.send_json(req, url).await
    }

    /// `{method} {base}{path}` with a JSON body, and decodes the JSON answer.
    pub async fn send_json_body<B: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &B,
    ) -> Result<R> {
        let url = self.url(path);
        let req = self.request(method, &url).json(body);
        self.send_json(req, url).await
    }

    /// `POST {base}{path}` with a JSON body, and decodes the JSON answer.
    pub async fn post_json<B: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<R> {
        self.send_json_body(Method::POST, path, body).await
    }

    async fn send_json<R: DeserializeOwned>(&self, req: RequestBuilder, url: String) -> Result<R> {
        self.send_json_within(req, url, self.timeout).await
    }

    /// [`send_json`](Self::send_json) with its own total time limit (long polls).
    async fn send_json_within<R: DeserializeOwned>(
        &self,
        req: RequestBuilder,
        url: String,
        timeout: Duration,
    ) -> Result<R> {
        let resp = req
            .timeout(timeout)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|source| Error::Transport {
                url: url.clone(),
                source,
            })?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|source| Error::Transport {
            url: url.clone(),
            source,
        })?;
        if !status.is_success() {
            return Err(Error::from_response(status.as_u16(), &body));
        }
        // Some endpoints answer 200 with an empty body; treat it as `{}`.
        let slice: &[u8] = if body.iter().all(|b| b.is_ascii_whitespace()) {
            b"{}"
        } else {
            &body
        };
        serde_json::from_slice(slice).map_err(|e| Error::Decode {
            url,
            message: e.to_string(),
        })
    }

    /// `DELETE {base}{path}` without a body, ignoring the JSON answer.
    async fn delete(&self, path: &str) -> Result<()> {
        let url = self.url(path);
        let req = self.request(Method::DELETE, &url);
        let _: serde_json::Value = self.send_json(req, url).await?;
        Ok(())
    }

    /// `DELETE {base}{API}{endpoint}` with a JSON body (as MLflow's client
    /// sends DELETE parameters), ignoring the JSON answer.
    async fn delete_with_body<B: Serialize + ?Sized>(
        &self,
        endpoint: &str,
        body: &B,
    ) -> Result<()> {
        let _: serde_json::Value = self
            .send_json_body(Method::DELETE, &format!("{API}{endpoint}"), body)
            .await?;
        Ok(())
    }

    async fn patch<B: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        endpoint: &str,
        body: &B,
    ) -> Result<R> {
        self.send_json_body(Method::PATCH, &format!("{API}{endpoint}"), body)
            .await
    }

    async fn post<B: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        endpoint: &str,
        body: &B,
    ) -> Result<R> {
        self.post_json(&format!("{API}{endpoint}"), body).await
    }

    async fn post_empty<B: Serialize + ?Sized>(&self, endpoint: &str, body: &B) -> Result<()> {
        let _: serde_json::Value = self.post(endpoint, body).await?;
        Ok(())
    }

    async fn get<R: DeserializeOwned>(&self, endpoint: &str, query: &[(&str, &str)]) -> Result<R> {
        self.get_json(&format!("{API}{endpoint}"), query).await
    }

    // ---------------------------------------------------------------
    // Server
    // ---------------------------------------------------------------

    /// `GET /health`: `Ok(())` when the server answers 200.
    pub async fn health(&self) -> Result<()> {
        let url = self.url("/health");
        let resp = self
            .http
            .get(&url)
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|source| Error::Transport {
                url: url.clone(),
                source,
            })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let body = resp.bytes().await.unwrap_or_default();
        Err(Error::from_response(status.as_u16(), &body))
    }

    /// `GET /api/3.0/mlflow/server-info` (store type, multipart capabilities).
    pub async fn server_info(&self) -> Result<serde_json::Value> {
        self.get_json("/api/3.0/mlflow/server-info", &[]).await
    }

    // ---------------------------------------------------------------
    // Experiments
    // ---------------------------------------------------------------

    /// `experiments/create` with just a name; returns the new experiment id.
    pub async fn create_experiment(&self, name: &str) -> Result<String> {
        self.create_experiment_with(CreateExperiment {
            name: name.to_string(),
            ..Default::default()
        })
        .await
    }

    /// `experiments/create` with tags or an artifact location; returns the id.
    pub async fn create_experiment_with(&self, req: CreateExperiment) -> Result<String> {
        let resp: CreateExperimentResponse = self.post("/experiments/create", &req).await?;
        Ok(resp.experiment_id)
    }

    /// `experiments/get`.
    pub async fn get_experiment(&self, experiment_id: &str) -> Result<Experiment> {
        let resp: ExperimentResponse = self
            .get("/experiments/get", &[("experiment_id", experiment_id)])
            .await?;
        Ok(resp.experiment)
    }

    /// `experiments/get-by-name`; `Ok(None)` when no experiment has that name
    /// (the server's `RESOURCE_DOES_NOT_EXIST`).
    pub async fn get_experiment_by_name(&self, name: &str) -> Result<Option<Experiment>> {
        match self
            .get::<ExperimentResponse>("/experiments/get-by-name", &[("experiment_name", name)])
            .await
        {
            Ok(resp) => Ok(Some(resp.experiment)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The id of experiment `name`, creating it if it does not exist (safe
    /// against a concurrent create of the same name).
    pub async fn get_or_create_experiment(&self, name: &str) -> Result<String> {
        if let Some(exp) = self.get_experiment_by_name(name).await? {
            return Ok(exp.experiment_id);
        }
        match self.create_experiment(name).await {
            Ok(id) => Ok(id),
            Err(e) if e.is_already_exists() => match self.get_experiment_by_name(name).await? {
                Some(exp) => Ok(exp.experiment_id),
                None => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    /// `experiments/search`: one page.
    pub async fn search_experiments(
        &self,
        req: &SearchExperiments,
    ) -> Result<SearchExperimentsResponse> {
        self.post("/experiments/search", req).await
    }

    /// `experiments/search`, following `next_page_token` until the last page.
    /// `max_results` is used as the page size (default 1000).
    pub async fn search_experiments_all(
        &self,
        mut req: SearchExperiments,
    ) -> Result<Vec<Experiment>> {
        req.max_results.get_or_insert(DEFAULT_PAGE_SIZE);
        let mut all = Vec::new();
        loop {
            let page = self.search_experiments(&req).await?;
            all.extend(page.experiments);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(token) => req.page_token = Some(token),
                None => return Ok(all),
            }
        }
    }

    /// `experiments/update` (rename).
    pub async fn update_experiment(&self, experiment_id: &str, new_name: &str) -> Result<()> {
        self.post_empty(
            "/experiments/update",
            &UpdateExperiment {
                experiment_id: experiment_id.to_string(),
                new_name: new_name.to_string(),
            },
        )
        .await
    }

    /// `experiments/delete` (soft delete).
    pub async fn delete_experiment(&self, experiment_id: &str) -> Result<()> {
        self.post_empty("/experiments/delete", &experiment_id_req(experiment_id))
            .await
    }

    /// `experiments/restore`.
    pub async fn restore_experiment(&self, experiment_id: &str) -> Result<()> {
        self.post_empty("/experiments/restore", &experiment_id_req(experiment_id))
            .await
    }

    /// `experiments/set-experiment-tag`.
    pub async fn set_experiment_tag(
        &self,
        experiment_id: &str,
        key: &str,
        value: &str,
    ) -> Result<()> {
        self.post_empty(
            "/experiments/set-experiment-tag",
            &SetExperimentTag {
                experiment_id: experiment_id.to_string(),
                key: key.to_string(),
                value: value.to_string(),
            },
        )
        .await
    }

    /// `experiments/delete-experiment-tag`.
    pub async fn delete_experiment_tag(&self, experiment_id: &str, key: &str) -> Result<()> {
        self.post_empty(
            "/experiments/delete-experiment-tag",
            &DeleteExperimentTag {
                experiment_id: experiment_id.to_string(),
                key: key.to_string(),
            },
        )
        .await
    }

    // ---------------------------------------------------------------
    // Runs
    // ---------------------------------------------------------------

    /// `runs/create`. Leave `start_time` unset to let the server use its clock.
    pub async fn create_run(&self, req: CreateRun) -> Result<Run> {
        let resp: RunResponse = self.post("/runs/create", &req).await?;
        Ok(resp.run)
    }

    /// `runs/get`.
    pub async fn get_run(&self, run_id: &str) -> Result<Run> {
        let resp: RunResponse = self.get("/runs/get", &[("run_id", run_id)]).await?;
        Ok(resp.run)
    }

    /// `runs/update` (status, end time, name); returns the updated info.
    pub async fn update_run(&self, req: UpdateRun) -> Result<RunInfo> {
        let resp: UpdateRunResponse = self.post("/runs/update", &req).await?;
        Ok(resp.run_info)
    }

    /// Ends a run: `runs/update` with `status` and `end_time` = now.
    pub async fn end_run(&self, run_id: &str, status: RunStatus) -> Result<RunInfo> {
        self.update_run(UpdateRun {
            run_id: run_id.to_string(),
            status: Some(status),
            end_time: Some(slipway_core::now_millis()),
            ..Default::default()
        })
        .await
    }

    /// `runs/delete` (soft delete).
    pub async fn delete_run(&self, run_id: &str) -> Result<()> {
        self.post_empty("/runs/delete", &run_id_req(run_id)).await
    }

    /// `runs/restore`.
    pub async fn restore_run(&self, run_id: &str) -> Result<()> {
        self.post_empty("/runs/restore", &run_id_req(run_id)).await
    }

    /// `runs/search`: one page.
    pub async fn search_runs(&self, req: &SearchRuns) -> Result<SearchRunsResponse> {
        self.post("/runs/search", req).await
    }

    /// `runs/search`, following `next_page_token` until the last page.
    /// `max_results` is used as the page size (default 1000).
    pub async fn search_runs_all(&self, mut req: SearchRuns) -> Result<Vec<Run>> {
        req.max_results.get_or_insert(DEFAULT_PAGE_SIZE);
        let mut all = Vec::new();
        loop {
            let page = self.search_runs(&req).await?;
            all.extend(page.runs);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(token) => req.page_token = Some(token),
                None => return Ok(all),
            }
        }
    }

    /// `runs/log-metric` with the current time as timestamp.
    pub async fn log_metric(&self, run_id: &str, key: &str, value: f64, step: i64) -> Result<()> {
        self.log_metric_with(LogMetric {
            run_id: run_id.to_string(),
            key: key.to_string(),
            value: Some(value),
            timestamp: Some(slipway_core::now_millis()),
            step,
            ..Default::default()
        })
        .await
    }

    /// `runs/log-metric` with every field under the caller's control
    /// (timestamp, `model_id`, dataset).
    pub async fn log_metric_with(&self, req: LogMetric) -> Result<()> {
        self.post_empty("/runs/log-metric", &req).await
    }

    /// `runs/log-parameter`.
    pub async fn log_param(&self, run_id: &str, key: &str, value: &str) -> Result<()> {
        self.post_empty(
            "/runs/log-parameter",
            &LogParam {
                run_id: run_id.to_string(),
                key: key.to_string(),
                value: value.to_string(),
                ..Default::default()
            },
        )
        .await
    }

    /// `runs/log-batch`: metrics, params and tags in one call.
    pub async fn log_batch(
        &self,
        run_id: &str,
        metrics: Vec<Metric>,
        params: Vec<Param>,
        tags: Vec<Tag>,
    ) -> Result<()> {
        self.post_empty(
            "/runs/log-batch",
            &LogBatch {
                run_id: run_id.to_string(),
                metrics,
                params,
                tags,
            },
        )
        .await
    }

    /// `runs/set-tag`.
    pub async fn set_tag(&self, run_id: &str, key: &str, value: &str) -> Result<()> {
        self.post_empty(
            "/runs/set-tag",
            &SetTag {
                run_id: run_id.to_string(),
                key: key.to_string(),
                value: value.to_string(),
                ..Default::default()
            },
        )
        .await
    }

    /// `runs/delete-tag`.
    pub async fn delete_tag(&self, run_id: &str, key: &str) -> Result<()> {
        #[derive(Serialize)]
        struct DeleteTag<'a> {
            run_id: &'a str,
            key: &'a str,
        }
        self.post_empty("/runs/delete-tag", &DeleteTag { run_id, key })
            .await
    }

    /// `runs/log-inputs`: datasets (and MLflow 3 model inputs) used by the run.
    pub async fn log_inputs(
        &self,
        run_id: &str,
        datasets: Vec<DatasetInput>,
        models: Vec<ModelInput>,
    ) -> Result<()> {
        self.post_empty(
            "/runs/log-inputs",
            &LogInputs {
                run_id: run_id.to_string(),
                datasets,
                models,
            },
        )
        .await
    }

    /// `runs/outputs`: links logged models to the run as outputs.
    pub async fn log_outputs(&self, run_id: &str, models: Vec<ModelOutput>) -> Result<()> {
        self.post_empty(
            "/runs/outputs",
            &LogOutputs {
                run_id: run_id.to_string(),
                models,
            },
        )
        .await
    }

    /// `runs/log-model` (MLflow 2.x): records an MLmodel JSON on the run.
    pub async fn log_model_json(&self, run_id: &str, model_json: &str) -> Result<()> {
        self.post_empty(
            "/runs/log-model",
            &LogModel {
                run_id: run_id.to_string(),
                model_json: model_json.to_string(),
            },
        )
        .await
    }

    /// `metrics/get-history`: every logged value of `metric_key`, following page tokens.
    pub async fn get_metric_history(&self, run_id: &str, metric_key: &str) -> Result<Vec<Metric>> {
        let page_size = HISTORY_PAGE_SIZE.to_string();
        let mut token: Option<String> = None;
        let mut all = Vec::new();
        loop {
            let mut query = vec![
                ("run_id", run_id),
                ("metric_key", metric_key),
                ("max_results", page_size.as_str()),
            ];
            if let Some(t) = token.as_deref() {
                query.push(("page_token", t));
            }
            let page: GetMetricHistoryResponse = self.get("/metrics/get-history", &query).await?;
            all.extend(page.metrics);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => return Ok(all),
            }
        }
    }

    // ---------------------------------------------------------------
    // Logged models (MLflow 3)
    // ---------------------------------------------------------------

    /// `POST /logged-models`: creates a model in status PENDING.
    pub async fn create_logged_model(&self, req: CreateLoggedModel) -> Result<LoggedModel> {
        let resp: LoggedModelResponse = self.post("/logged-models", &req).await?;
        Ok(resp.model)
    }

    /// `GET /logged-models/{model_id}`.
    pub async fn get_logged_model(&self, model_id: &str) -> Result<LoggedModel> {
        let resp: LoggedModelResponse = self
            .get(&format!("/logged-models/{}", encode_segment(model_id)), &[])
            .await?;
        Ok(resp.model)
    }

    /// `PATCH /logged-models/{model_id}`: sets the final status (READY after the uploads).
    pub async fn finalize_logged_model(
        &self,
        model_id: &str,
        status: LoggedModelStatus,
    ) -> Result<LoggedModel> {
        let resp: LoggedModelResponse = self
            .send_json_body(
                Method::PATCH,
                &format!("{API}/logged-models/{}", encode_segment(model_id)),
                &FinalizeLoggedModel {
                    model_id: model_id.to_string(),
                    status,
                },
            )
            .await?;
        Ok(resp.model)
    }

    /// `PATCH /logged-models/{model_id}/tags`.
    pub async fn set_logged_model_tags(&self, model_id: &str, tags: Vec<Tag>) -> Result<()> {
        let _: serde_json::Value = self
            .send_json_body(
                Method::PATCH,
                &format!("{API}/logged-models/{}/tags", encode_segment(model_id)),
                &SetLoggedModelTags {
                    model_id: model_id.to_string(),
                    tags,
                },
            )
            .await?;
        Ok(())
    }

    /// `DELETE /logged-models/{model_id}`.
    pub async fn delete_logged_model(&self, model_id: &str) -> Result<()> {
        self.delete(&format!("{API}/logged-models/{}", encode_segment(model_id)))
            .await
    }

    /// `DELETE /logged-models/{model_id}/tags/{tag_key}`.
    pub async fn delete_logged_model_tag(&self, model_id: &str, key: &str) -> Result<()> {
        self.delete(&format!(
            "{API}/logged-models/{}/tags/{}",
            encode_segment(model_id),
            encode_segment(key)
        ))
        .await
    }

    /// `POST /logged-models/{model_id}/params`.
    pub async fn log_logged_model_params(&self, model_id: &str, params: Vec<Param>) -> Result<()> {
        self.post_empty(
            &format!("/logged-models/{}/params", encode_segment(model_id)),
            &LogLoggedModelParams {
                model_id: model_id.to_string(),
                params,
            },
        )
        .await
    }

    /// `POST /logged-models/search`: one page.
    pub async fn search_logged_models(
        &self,
        req: &SearchLoggedModels,
    ) -> Result<SearchLoggedModelsResponse> {
        self.post("/logged-models/search", req).await
    }

    /// `POST /logged-models/search`, following page tokens.
    pub async fn search_logged_models_all(
        &self,
        mut req: SearchLoggedModels,
    ) -> Result<Vec<LoggedModel>> {
        let mut all = Vec::new();
        loop {
            let page = self.search_logged_models(&req).await?;
            all.extend(page.models);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(token) => req.page_token = Some(token),
                None => return Ok(all),
            }
        }
    }
}

fn experiment_id_req(experiment_id: &str) -> ExperimentIdRequest {
    ExperimentIdRequest {
        experiment_id: experiment_id.to_string(),
    }
}

fn run_id_req(run_id: &str) -> RunIdRequest {
    RunIdRequest {
        run_id: run_id.to_string(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        assert_eq!(
            parse_base_url("http://127.0.0.1:5000/").unwrap(),
            "http://127.0.0.1:5000"
        );
        assert_eq!(
            parse_base_url("https://h/mlflow/").unwrap(),
            "https://h/mlflow"
        );
        assert!(parse_base_url("127.0.0.1:5000").is_err());
        assert!(parse_base_url("file:///tmp/x").is_err());
        assert!(parse_base_url("http://h:5000?x=1").is_err());
    }

    #[test]
    fn segments_are_escaped() {
        assert_eq!(encode_segment("m-1a"), "m-1a");
        assert_eq!(encode_segment("a b/c?d#e%"), "a%20b%2Fc%3Fd%23e%25");
        assert_eq!(encode_segment("é"), "%C3%A9");
    }
}
