//! Request and response bodies of MLflow's tracking REST API.
//!
//! Requests use `#[serde(default)]` so that a missing field reaches the
//! engine as empty and is rejected there with MLflow's own message
//! ("Missing value for required parameter 'experiment_id'"), rather than as a
//! generic JSON error.

use crate::entities::*;
use serde::{Deserialize, Serialize};
use slipway_core::json::{de_i64, de_opt_f64, de_opt_i64, ser_opt_f64};

fn is_empty(s: &str) -> bool {
    s.is_empty()
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CreateExperiment {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact_location: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CreateExperimentResponse {
    pub experiment_id: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SearchExperiments {
    #[serde(
        deserialize_with = "de_opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_results: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub order_by: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub view_type: Option<ViewType>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SearchExperimentsResponse {
    #[serde(default)]
    pub experiments: Vec<Experiment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ExperimentIdRequest {
    pub experiment_id: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct GetExperimentByName {
    pub experiment_name: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExperimentResponse {
    pub experiment: Experiment,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct UpdateExperiment {
    pub experiment_id: String,
    pub new_name: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SetExperimentTag {
    pub experiment_id: String,
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct DeleteExperimentTag {
    pub experiment_id: String,
    pub key: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CreateRun {
    pub experiment_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_name: Option<String>,
    #[serde(
        deserialize_with = "de_opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub start_time: Option<i64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunResponse {
    pub run: Run,
}

/// Any request that names a run. MLflow clients send `run_id`, the
/// deprecated `run_uuid`, or both.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RunIdRequest {
    #[serde(skip_serializing_if = "is_empty")]
    pub run_id: String,
    #[serde(skip_serializing_if = "is_empty")]
    pub run_uuid: String,
}

impl RunIdRequest {
    pub fn id(&self) -> &str {
        pick_run_id(&self.run_id, &self.run_uuid)
    }
}

/// `run_id` if given, else the deprecated `run_uuid`.
pub fn pick_run_id<'a>(run_id: &'a str, run_uuid: &'a str) -> &'a str {
    if run_id.is_empty() {
        run_uuid
    } else {
        run_id
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct UpdateRun {
    #[serde(skip_serializing_if = "is_empty")]
    pub run_id: String,
    #[serde(skip_serializing_if = "is_empty")]
    pub run_uuid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<RunStatus>,
    #[serde(
        deserialize_with = "de_opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub end_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_name: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct UpdateRunResponse {
    pub run_info: RunInfo,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct LogMetric {
    #[serde(skip_serializing_if = "is_empty")]
    pub run_id: String,
    #[serde(skip_serializing_if = "is_empty")]
    pub run_uuid: String,
    pub key: String,
    /// Required; `None` only so that its absence is reported by name.
    #[serde(
        deserialize_with = "de_opt_f64",
        serialize_with = "ser_opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub value: Option<f64>,
    /// Required, like `value`.
    #[serde(
        deserialize_with = "de_opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub timestamp: Option<i64>,
    #[serde(deserialize_with = "de_i64")]
    pub step: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset_digest: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct LogParam {
    #[serde(skip_serializing_if = "is_empty")]
    pub run_id: String,
    #[serde(skip_serializing_if = "is_empty")]
    pub run_uuid: String,
    pub key: String,
    pub value: String,
}

/// `runs/set-tag` and `runs/delete-tag` (the latter ignores `value`).
pub type SetTag = LogParam;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct LogBatch {
    pub run_id: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<Metric>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<Param>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct LogInputs {
    pub run_id: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub datasets: Vec<DatasetInput>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<ModelInput>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct LogOutputs {
    pub run_id: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<ModelOutput>,
}

/// `runs/log-model` (MLflow 2.x records each logged model's MLmodel JSON on the run).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct LogModel {
    pub run_id: String,
    pub model_json: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SearchRuns {
    pub experiment_ids: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_view_type: Option<ViewType>,
    #[serde(
        deserialize_with = "de_opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_results: Option<i64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub order_by: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_token: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SearchRunsResponse {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runs: Vec<Run>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct GetMetricHistory {
    #[serde(skip_serializing_if = "is_empty")]
    pub run_id: String,
    #[serde(skip_serializing_if = "is_empty")]
    pub run_uuid: String,
    pub metric_key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_token: Option<String>,
    #[serde(
        deserialize_with = "de_opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_results: Option<i64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GetMetricHistoryResponse {
    #[serde(default)]
    pub metrics: Vec<Metric>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ListArtifacts {
    #[serde(skip_serializing_if = "is_empty")]
    pub run_id: String,
    #[serde(skip_serializing_if = "is_empty")]
    pub run_uuid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_token: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ListArtifactsResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_uri: Option<String>,
    #[serde(default)]
    pub files: Vec<FileInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

/// The artifact proxy's listing (`GET /api/2.0/mlflow-artifacts/artifacts?path=`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ProxyListResponse {
    #[serde(default)]
    pub files: Vec<FileInfo>,
}

// ---- MLflow 3 logged models ----

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CreateLoggedModel {
    pub experiment_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_run_id: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<Param>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LoggedModelResponse {
    pub model: LoggedModel,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct FinalizeLoggedModel {
    pub model_id: String,
    pub status: LoggedModelStatus,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SetLoggedModelTags {
    pub model_id: String,
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct LogLoggedModelParams {
    pub model_id: String,
    pub params: Vec<Param>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct LoggedModelOrderBy {
    pub field_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ascending: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset_digest: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct LoggedModelDatasetFilter {
    pub dataset_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset_digest: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SearchLoggedModels {
    pub experiment_ids: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub datasets: Vec<LoggedModelDatasetFilter>,
    #[serde(
        deserialize_with = "de_opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_results: Option<i64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub order_by: Vec<LoggedModelOrderBy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_token: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SearchLoggedModelsResponse {
    #[serde(default)]
    pub models: Vec<LoggedModel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

/// MLflow's error body.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ErrorResponse {
    pub error_code: String,
    pub message: String,
}

/// An empty JSON object: what most write endpoints answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Empty {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_metric_accepts_python_client_body() {
        let body = r#"{"run_id":"abc","run_uuid":"abc","key":"loss","value":0.5,"timestamp":1700000000000,"step":3}"#;
        let m: LogMetric = serde_json::from_str(body).unwrap();
        assert_eq!(m.step, 3);
        assert_eq!(m.timestamp, Some(1_700_000_000_000));
    }

    #[test]
    fn run_id_falls_back_to_run_uuid() {
        let r: RunIdRequest = serde_json::from_str(r#"{"run_uuid":"x"}"#).unwrap();
        assert_eq!(r.id(), "x");
    }

    #[test]
    fn metric_serializes_step_zero_and_nan() {
        let m = Metric {
            key: "k".into(),
            value: f64::NAN,
            timestamp: 5,
            step: 0,
            ..Default::default()
        };
        let s = serde_json::to_string(&m).unwrap();
        assert_eq!(s, r#"{"key":"k","value":"NaN","timestamp":5,"step":0}"#);
    }

    #[test]
    fn view_type_names() {
        let s: SearchRuns =
            serde_json::from_str(r#"{"experiment_ids":["0"],"run_view_type":"ALL"}"#).unwrap();
        assert_eq!(s.run_view_type, Some(ViewType::All));
    }
}
