//! The persistence interface of the tracking engine.
//!
//! One trait, several backends (embedded SQLite today, PostgreSQL next),
//! exactly as MLflow's `AbstractStore`. Implementations persist and fetch;
//! they do not validate user input (the engine did) but they do enforce
//! what only the store can see atomically: uniqueness, existence, the
//! immutability of params.

use async_trait::async_trait;
use slipway_core::Result;
use slipway_protocol::{
    DatasetInput, Experiment, LoggedModel, LoggedModelStatus, Metric, ModelInput, ModelOutput,
    Param, Run, RunInfo, RunStatus, Tag, ViewType,
};
use std::sync::Arc;

/// Computes a tag's new value from its current one (see [`TrackingStore::update_run_tag`]).
pub type TagUpdate = Box<dyn FnOnce(Option<&str>) -> Result<String> + Send>;

#[derive(Debug, Clone, Default)]
pub struct NewExperiment {
    pub name: String,
    /// `None`: the store derives `{default_artifact_root}/{experiment_id}`.
    pub artifact_location: Option<String>,
    pub tags: Vec<Tag>,
    pub creation_time: i64,
}

#[derive(Debug, Clone, Default)]
pub struct NewRun {
    pub run_id: String,
    pub experiment_id: String,
    pub user_id: String,
    pub run_name: String,
    pub start_time: i64,
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, Default)]
pub struct RunUpdate {
    pub status: Option<RunStatus>,
    pub end_time: Option<i64>,
    pub run_name: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct NewLoggedModel {
    pub model_id: String,
    pub experiment_id: String,
    pub name: String,
    pub model_type: Option<String>,
    pub source_run_id: Option<String>,
    pub params: Vec<Param>,
    pub tags: Vec<Tag>,
    pub creation_time: i64,
}

#[async_trait]
pub trait TrackingStore: Send + Sync + 'static {
    // ---- experiments ----
    /// Creates an experiment and returns its id. `RESOURCE_ALREADY_EXISTS` if the name is taken.
    async fn create_experiment(&self, exp: NewExperiment) -> Result<String>;
    /// `RESOURCE_DOES_NOT_EXIST` if there is none (deleted ones are returned).
    async fn get_experiment(&self, experiment_id: &str) -> Result<Experiment>;
    /// Prefers the active experiment when an active and a deleted one share the name.
    async fn get_experiment_by_name(&self, name: &str) -> Result<Option<Experiment>>;
    async fn list_experiments(&self, view: ViewType) -> Result<Vec<Experiment>>;
    /// Marks the experiment and its runs deleted.
    async fn delete_experiment(&self, experiment_id: &str, now: i64) -> Result<()>;
    async fn restore_experiment(&self, experiment_id: &str, now: i64) -> Result<()>;
    async fn rename_experiment(&self, experiment_id: &str, new_name: &str, now: i64) -> Result<()>;
    async fn set_experiment_tag(&self, experiment_id: &str, tag: Tag) -> Result<()>;
    async fn delete_experiment_tag(&self, experiment_id: &str, key: &str) -> Result<()>;

    // ---- runs ----
    async fn create_run(&self, run: NewRun) -> Result<Run>;
    async fn get_run(&self, run_id: &str) -> Result<Run>;
    async fn update_run(&self, run_id: &str, update: RunUpdate) -> Result<RunInfo>;
    async fn delete_run(&self, run_id: &str, now: i64) -> Result<()>;
    async fn restore_run(&self, run_id: &str) -> Result<()>;
    /// Writes metrics, params and tags atomically. Fails with `INVALID_PARAMETER_VALUE`
    /// (and writes nothing) if a param already has a different value, or the run is not active.
    async fn log_batch(
        &self,
        run_id: &str,
        metrics: Vec<Metric>,
        params: Vec<Param>,
        tags: Vec<Tag>,
    ) -> Result<()>;
    async fn delete_tag(&self, run_id: &str, key: &str) -> Result<()>;
    /// Sets tag `key` to `update(current value)` atomically (no lost update
    /// between concurrent callers); the run must be active.
    async fn update_run_tag(&self, run_id: &str, key: &str, update: TagUpdate) -> Result<()>;
    async fn log_inputs(
        &self,
        run_id: &str,
        datasets: Vec<DatasetInput>,
        models: Vec<ModelInput>,
    ) -> Result<()>;
    async fn log_outputs(&self, run_id: &str, models: Vec<ModelOutput>) -> Result<()>;
    /// Every logged value of `key`, in the order it was logged.
    async fn get_metric_history(&self, run_id: &str, key: &str) -> Result<Vec<Metric>>;
    /// All runs of the given experiments in the given lifecycle view, with latest
    /// metrics, params, tags and inputs: the input of [`crate::search`].
    /// Shared, so a store may hand out a cached snapshot.
    async fn runs_for_search(
        &self,
        experiment_ids: &[String],
        view: ViewType,
    ) -> Result<Arc<Vec<Run>>>;

    // ---- MLflow 3 logged models ----
    async fn create_logged_model(&self, model: NewLoggedModel) -> Result<LoggedModel>;
    async fn get_logged_model(&self, model_id: &str) -> Result<LoggedModel>;
    async fn finalize_logged_model(
        &self,
        model_id: &str,
        status: LoggedModelStatus,
        now: i64,
    ) -> Result<LoggedModel>;
    async fn set_logged_model_tags(&self, model_id: &str, tags: Vec<Tag>, now: i64) -> Result<()>;
    async fn delete_logged_model_tag(&self, model_id: &str, key: &str) -> Result<()>;
    async fn log_logged_model_params(&self, model_id: &str, params: Vec<Param>) -> Result<()>;
    async fn delete_logged_model(&self, model_id: &str, now: i64) -> Result<()>;
    /// Active logged models of the given experiments, with their params, tags and metrics.
    async fn logged_models_for_search(&self, experiment_ids: &[String])
        -> Result<Vec<LoggedModel>>;
}
