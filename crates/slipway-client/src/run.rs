//! The convenience layer: an active run you log to, then end.

use crate::{CreateRun, Metric, Param, Result, RunInfo, RunStatus, SlipwayClient, Tag};
use std::fmt::Display;
use std::path::Path;

/// A run started by [`SlipwayClient::run`] / [`SlipwayClient::start_run`].
///
/// Every method is one REST call. Nothing happens on drop: call
/// [`end`](Self::end) (or [`finish`](Self::finish)) to mark the run
/// terminated, as MLflow's `with start_run()` does on exit.
#[derive(Debug, Clone)]
pub struct ActiveRun {
    client: SlipwayClient,
    info: RunInfo,
}

impl SlipwayClient {
    /// Gets or creates experiment `experiment_name` and starts a run in it
    /// (the server picks the run name).
    pub async fn run(&self, experiment_name: &str) -> Result<ActiveRun> {
        self.start_run(experiment_name, None).await
    }

    /// Like [`run`](Self::run) with an explicit run name.
    pub async fn start_run(
        &self,
        experiment_name: &str,
        run_name: Option<&str>,
    ) -> Result<ActiveRun> {
        let experiment_id = self.get_or_create_experiment(experiment_name).await?;
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("USERNAME"))
            .ok()
            .filter(|u| !u.is_empty());
        let mut tags = vec![Tag::new("mlflow.source.type", "LOCAL")];
        if let Some(exe) = std::env::args().next() {
            tags.push(Tag::new("mlflow.source.name", exe));
        }
        if let Some(u) = &user {
            tags.push(Tag::new("mlflow.user", u.clone()));
        }
        let run = self
            .create_run(CreateRun {
                experiment_id,
                user_id: user,
                run_name: run_name.map(str::to_string),
                start_time: Some(slipway_core::now_millis()),
                tags,
            })
            .await?;
        Ok(ActiveRun {
            client: self.clone(),
            info: run.info,
        })
    }
}

impl ActiveRun {
    /// Wraps an existing run (e.g. one resumed by id) to log to it.
    pub fn from_info(client: SlipwayClient, info: RunInfo) -> Self {
        ActiveRun { client, info }
    }

    /// The run id (32 hex characters).
    pub fn id(&self) -> &str {
        &self.info.run_id
    }

    /// The run's experiment id.
    pub fn experiment_id(&self) -> &str {
        &self.info.experiment_id
    }

    /// The run's name (chosen by the server when not given).
    pub fn name(&self) -> &str {
        &self.info.run_name
    }

    /// The run's info as returned when it was created.
    pub fn info(&self) -> &RunInfo {
        &self.info
    }

    /// The client this run logs through.
    pub fn client(&self) -> &SlipwayClient {
        &self.client
    }

    /// Logs one metric value at `step` (timestamp: now).
    pub async fn log_metric(&self, key: &str, value: f64, step: i64) -> Result<()> {
        self.client.log_metric(self.id(), key, value, step).await
    }

    /// Logs several metrics at the same step in one call.
    pub async fn log_metrics(&self, metrics: &[(&str, f64)], step: i64) -> Result<()> {
        let timestamp = slipway_core::now_millis();
        let metrics = metrics
            .iter()
            .map(|(key, value)| Metric {
                key: key.to_string(),
                value: *value,
                timestamp,
                step,
                ..Default::default()
            })
            .collect();
        self.client
            .log_batch(self.id(), metrics, vec![], vec![])
            .await
    }

    /// Logs a parameter (params are immutable: logging a different value
    /// for the same key is an error).
    pub async fn log_param(&self, key: &str, value: impl Display) -> Result<()> {
        self.client
            .log_param(self.id(), key, &value.to_string())
            .await
    }

    /// Logs several parameters in one call.
    pub async fn log_params<K: Display, V: Display>(
        &self,
        params: impl IntoIterator<Item = (K, V)>,
    ) -> Result<()> {
        let params: Vec<Param> = params
            .into_iter()
            .map(|(k, v)| Param::new(k.to_string(), v.to_string()))
            .collect();
        self.client
            .log_batch(self.id(), vec![], params, vec![])
            .await
    }

    /// Sets a tag (tags are mutable).
    pub async fn set_tag(&self, key: &str, value: impl Display) -> Result<()> {
        self.client
            .set_tag(self.id(), key, &value.to_string())
            .await
    }

    /// Uploads a local file to the root of the run's artifacts; returns its artifact path.
    pub async fn log_artifact(&self, local_path: impl AsRef<Path>) -> Result<String> {
        self.client
            .upload_artifact(&self.info.artifact_uri, local_path, None)
            .await
    }

    /// Uploads a local file into directory `artifact_dir` of the run's artifacts.
    pub async fn log_artifact_to(
        &self,
        local_path: impl AsRef<Path>,
        artifact_dir: &str,
    ) -> Result<String> {
        self.client
            .upload_artifact(&self.info.artifact_uri, local_path, Some(artifact_dir))
            .await
    }

    /// Uploads a local directory, recursively, into the run's artifacts.
    pub async fn log_artifacts(
        &self,
        local_dir: impl AsRef<Path>,
        artifact_dir: Option<&str>,
    ) -> Result<Vec<String>> {
        self.client
            .upload_artifacts_dir(&self.info.artifact_uri, local_dir, artifact_dir)
            .await
    }

    /// Ends the run with `status` (end time: now); returns the final info.
    pub async fn end(self, status: RunStatus) -> Result<RunInfo> {
        self.client.end_run(self.id(), status).await
    }

    /// `end(RunStatus::Finished)`.
    pub async fn finish(self) -> Result<RunInfo> {
        self.end(RunStatus::Finished).await
    }
}
