//! The tracking engine's entry points, one per MLflow tracking RPC.

use crate::search::{ExperimentSearch, LoggedModelSearch, Page, RunSearch};
use crate::store::{NewExperiment, NewLoggedModel, NewRun, RunUpdate, TrackingStore};
use crate::validation as v;
use slipway_core::{ids, now_millis, Error, Result};
use slipway_protocol::*;
use std::sync::Arc;

/// Tag holding the run name (MLflow keeps the name both as attribute and tag).
pub const RUN_NAME_TAG: &str = "mlflow.runName";
/// Tag MLflow 2.x appends each logged model's MLmodel dict to.
pub const LOGGED_MODELS_TAG: &str = "mlflow.log-model.history";
/// Tag the client sets on a dataset input to say how it was used.
pub const DATASET_CONTEXT_TAG: &str = "mlflow.data.context";

/// The default page size of `runs/search`.
pub const DEFAULT_RUNS_PAGE: i64 = 1000;
/// The default page size of `experiments/search`.
pub const DEFAULT_EXPERIMENTS_PAGE: i64 = 1000;
/// What `metrics/get-history` returns when `max_results` is absent.
pub const DEFAULT_HISTORY_PAGE: i64 = 25_000;

#[derive(Clone)]
pub struct Tracking {
    store: Arc<dyn TrackingStore>,
}

impl Tracking {
    pub fn new(store: Arc<dyn TrackingStore>) -> Self {
        Tracking { store }
    }

    pub fn store(&self) -> &Arc<dyn TrackingStore> {
        &self.store
    }

    // ---------------- experiments ----------------

    pub async fn create_experiment(&self, req: CreateExperiment) -> Result<String> {
        v::experiment_name(&req.name)?;
        for t in &req.tags {
            v::experiment_tag(t)?;
        }
        let artifact_location = match req.artifact_location.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(loc) => Some(validate_artifact_location(loc)?),
        };
        self.store
            .create_experiment(NewExperiment {
                name: req.name,
                artifact_location,
                tags: req.tags,
                creation_time: now_millis(),
            })
            .await
    }

    pub async fn get_experiment(&self, experiment_id: &str) -> Result<Experiment> {
        v::experiment_id(experiment_id)?;
        self.store.get_experiment(experiment_id).await
    }

    pub async fn get_experiment_by_name(&self, name: &str) -> Result<Experiment> {
        v::require("experiment_name", name)?;
        self.store
            .get_experiment_by_name(name)
            .await?
            .ok_or_else(|| {
                Error::not_found(format!("Could not find experiment with name '{name}'"))
            })
    }

    pub async fn search_experiments(&self, req: SearchExperiments) -> Result<Page<Experiment>> {
        let max = v::max_results(req.max_results, DEFAULT_EXPERIMENTS_PAGE)?;
        let search = ExperimentSearch::parse(req.filter.as_deref().unwrap_or(""), &req.order_by)?;
        let all = self
            .store
            .list_experiments(req.view_type.unwrap_or_default())
            .await?;
        search.apply(all, max, req.page_token.as_deref())
    }

    pub async fn delete_experiment(&self, experiment_id: &str) -> Result<()> {
        v::experiment_id(experiment_id)?;
        if experiment_id == "0" {
            return Err(Error::invalid("Cannot delete the default experiment '0'. This is an internally reserved experiment."));
        }
        self.store
            .delete_experiment(experiment_id, now_millis())
            .await
    }

    pub async fn restore_experiment(&self, experiment_id: &str) -> Result<()> {
        v::experiment_id(experiment_id)?;
        self.store
            .restore_experiment(experiment_id, now_millis())
            .await
    }

    pub async fn update_experiment(&self, experiment_id: &str, new_name: &str) -> Result<()> {
        v::experiment_id(experiment_id)?;
        v::require("new_name", new_name)?;
        v::experiment_name(new_name)?;
        self.store
            .rename_experiment(experiment_id, new_name, now_millis())
            .await
    }

    pub async fn set_experiment_tag(&self, experiment_id: &str, tag: Tag) -> Result<()> {
        v::experiment_id(experiment_id)?;
        v::experiment_tag(&tag)?;
        self.store.set_experiment_tag(experiment_id, tag).await
    }

    pub async fn delete_experiment_tag(&self, experiment_id: &str, key: &str) -> Result<()> {
        v::experiment_id(experiment_id)?;
        v::require("key", key)?;
        self.store.delete_experiment_tag(experiment_id, key).await
    }

    // ---------------- runs ----------------

    pub async fn create_run(&self, req: CreateRun) -> Result<Run> {
        let experiment_id = if req.experiment_id.is_empty() {
            "0".to_string()
        } else {
            req.experiment_id
        };
        v::experiment_id(&experiment_id)?;
        for t in &req.tags {
            v::run_tag(t)?;
        }
        let tag_name = req
            .tags
            .iter()
            .find(|t| t.key == RUN_NAME_TAG)
            .map(|t| t.value.clone());
        let run_name = match (req.run_name.filter(|n| !n.is_empty()), tag_name) {
            (Some(a), Some(b)) if a != b => {
                return Err(Error::invalid(format!(
                    "Both 'run_name' argument and 'mlflow.runName' tag are specified, but with different values (run_name='{a}', mlflow.runName='{b}')."
                )))
            }
            (Some(a), _) => a,
            (None, Some(b)) => b,
            (None, None) => generate_run_name(),
        };
        v::run_name(&run_name)?;
        let mut tags = req.tags;
        if !tags.iter().any(|t| t.key == RUN_NAME_TAG) {
            tags.push(Tag::new(RUN_NAME_TAG, run_name.clone()));
        }
        self.store
            .create_run(NewRun {
                run_id: ids::new_run_id(),
                experiment_id,
                user_id: req.user_id.unwrap_or_default(),
                run_name,
                start_time: req.start_time.unwrap_or_else(now_millis),
                tags,
            })
            .await
    }

    pub async fn get_run(&self, run_id: &str) -> Result<Run> {
        v::run_id(run_id)?;
        self.store.get_run(run_id).await
    }

    pub async fn update_run(&self, run_id: &str, update: RunUpdate) -> Result<RunInfo> {
        v::run_id(run_id)?;
        if let Some(name) = &update.run_name {
            v::run_name(name)?;
        }
        self.store.update_run(run_id, update).await
    }

    pub async fn delete_run(&self, run_id: &str) -> Result<()> {
        v::run_id(run_id)?;
        self.store.delete_run(run_id, now_millis()).await
    }

    pub async fn restore_run(&self, run_id: &str) -> Result<()> {
        v::run_id(run_id)?;
        self.store.restore_run(run_id).await
    }

    pub async fn log_metric(&self, run_id: &str, metric: Metric) -> Result<()> {
        self.log_batch(run_id, vec![metric], vec![], vec![]).await
    }

    pub async fn log_param(&self, run_id: &str, param: Param) -> Result<()> {
        self.log_batch(run_id, vec![], vec![param], vec![]).await
    }

    pub async fn set_tag(&self, run_id: &str, tag: Tag) -> Result<()> {
        self.log_batch(run_id, vec![], vec![], vec![tag]).await
    }

    pub async fn log_batch(
        &self,
        run_id: &str,
        mut metrics: Vec<Metric>,
        params: Vec<Param>,
        tags: Vec<Tag>,
    ) -> Result<()> {
        v::run_id(run_id)?;
        v::batch_sizes(metrics.len(), params.len(), tags.len())?;
        for m in &metrics {
            v::metric(m)?;
        }
        for p in &params {
            v::param(p)?;
        }
        for t in &tags {
            v::run_tag(t)?;
        }
        v::no_conflicting_params(&params)?;
        for m in &mut metrics {
            // The run a metric belongs to is implied by the request.
            m.run_id = None;
        }
        self.store.log_batch(run_id, metrics, params, tags).await
    }

    pub async fn delete_tag(&self, run_id: &str, key: &str) -> Result<()> {
        v::run_id(run_id)?;
        v::require("key", key)?;
        self.store.delete_tag(run_id, key).await
    }

    pub async fn log_inputs(
        &self,
        run_id: &str,
        datasets: Vec<DatasetInput>,
        models: Vec<ModelInput>,
    ) -> Result<()> {
        v::run_id(run_id)?;
        for d in &datasets {
            v::dataset_input(d)?;
        }
        for m in &models {
            v::require("model_id", &m.model_id)?;
        }
        self.store.log_inputs(run_id, datasets, models).await
    }

    pub async fn log_outputs(&self, run_id: &str, models: Vec<ModelOutput>) -> Result<()> {
        v::run_id(run_id)?;
        for m in &models {
            v::require("model_id", &m.model_id)?;
            self.store.get_logged_model(&m.model_id).await?;
        }
        self.store.log_outputs(run_id, models).await
    }

    /// `runs/log-model`: MLflow 2.x appends the MLmodel dict to a run tag.
    pub async fn record_logged_model(&self, run_id: &str, model_json: &str) -> Result<()> {
        v::run_id(run_id)?;
        v::require("model_json", model_json)?;
        let model: serde_json::Value = serde_json::from_str(model_json).map_err(|e| {
            Error::invalid(format!(
                "Malformed model info. 'model_json' is not valid JSON: {e}"
            ))
        })?;
        if !model.is_object() {
            return Err(Error::invalid(
                "Malformed model info. 'model_json' must be a JSON object.",
            ));
        }
        // Appended in the store's transaction: concurrent log_model calls on one
        // run each keep their entry.
        let append = move |current: Option<&str>| -> Result<String> {
            let mut history: Vec<serde_json::Value> = current
                .and_then(|t| serde_json::from_str(t).ok())
                .unwrap_or_default();
            history.push(model);
            let value =
                serde_json::to_string(&history).map_err(|e| Error::internal(e.to_string()))?;
            v::run_tag(&Tag::new(LOGGED_MODELS_TAG, value.clone()))?;
            Ok(value)
        };
        self.store
            .update_run_tag(run_id, LOGGED_MODELS_TAG, Box::new(append))
            .await
    }

    pub async fn get_metric_history(&self, req: &GetMetricHistory) -> Result<Page<Metric>> {
        let run_id = pick_run_id(&req.run_id, &req.run_uuid);
        v::run_id(run_id)?;
        v::require("metric_key", &req.metric_key)?;
        let max = match req.max_results {
            Some(m) if m <= 0 => {
                return Err(Error::invalid(format!(
                    "max_results must be positive, got {m}"
                )))
            }
            Some(m) => m as usize,
            None => DEFAULT_HISTORY_PAGE as usize,
        };
        self.store.get_run(run_id).await?;
        let history = self
            .store
            .get_metric_history(run_id, &req.metric_key)
            .await?;
        crate::search::paginate(history, max, req.page_token.as_deref())
    }

    pub async fn search_runs(&self, req: SearchRuns) -> Result<Page<Run>> {
        let max = v::max_results(req.max_results, DEFAULT_RUNS_PAGE)?;
        let search = RunSearch::parse(req.filter.as_deref().unwrap_or(""), &req.order_by)?;
        for id in &req.experiment_ids {
            v::experiment_id(id)?;
        }
        let runs = self
            .store
            .runs_for_search(&req.experiment_ids, req.run_view_type.unwrap_or_default())
            .await?;
        let page = search.select(&runs, max, req.page_token.as_deref())?;
        Ok(Page {
            items: page.items.into_iter().map(|i| runs[i].clone()).collect(),
            next_page_token: page.next_page_token,
        })
    }

    // ---------------- logged models (MLflow 3) ----------------

    pub async fn create_logged_model(&self, req: CreateLoggedModel) -> Result<LoggedModel> {
        v::experiment_id(&req.experiment_id)?;
        for p in &req.params {
            v::param(p)?;
        }
        for t in &req.tags {
            v::run_tag(t)?;
        }
        if let Some(run_id) = req.source_run_id.as_deref().filter(|r| !r.is_empty()) {
            self.store.get_run(run_id).await?;
        }
        self.store.get_experiment(&req.experiment_id).await?;
        self.store
            .create_logged_model(NewLoggedModel {
                model_id: ids::new_logged_model_id(),
                experiment_id: req.experiment_id,
                name: req
                    .name
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(generate_run_name),
                model_type: req.model_type,
                source_run_id: req.source_run_id.filter(|r| !r.is_empty()),
                params: req.params,
                tags: req.tags,
                creation_time: now_millis(),
            })
            .await
    }

    pub async fn get_logged_model(&self, model_id: &str) -> Result<LoggedModel> {
        v::require("model_id", model_id)?;
        self.store.get_logged_model(model_id).await
    }

    pub async fn finalize_logged_model(
        &self,
        model_id: &str,
        status: LoggedModelStatus,
    ) -> Result<LoggedModel> {
        v::require("model_id", model_id)?;
        if status == LoggedModelStatus::Unspecified {
            return Err(Error::invalid(
                "Missing value for required parameter 'status'.",
            ));
        }
        self.store
            .finalize_logged_model(model_id, status, now_millis())
            .await
    }

    pub async fn set_logged_model_tags(&self, model_id: &str, tags: Vec<Tag>) -> Result<()> {
        v::require("model_id", model_id)?;
        for t in &tags {
            v::run_tag(t)?;
        }
        self.store
            .set_logged_model_tags(model_id, tags, now_millis())
            .await
    }

    pub async fn delete_logged_model_tag(&self, model_id: &str, key: &str) -> Result<()> {
        v::require("model_id", model_id)?;
        v::require("tag_key", key)?;
        self.store.delete_logged_model_tag(model_id, key).await
    }

    pub async fn log_logged_model_params(&self, model_id: &str, params: Vec<Param>) -> Result<()> {
        v::require("model_id", model_id)?;
        for p in &params {
            v::param(p)?;
        }
        self.store.log_logged_model_params(model_id, params).await
    }

    pub async fn delete_logged_model(&self, model_id: &str) -> Result<()> {
        v::require("model_id", model_id)?;
        self.store.delete_logged_model(model_id, now_millis()).await
    }

    pub async fn search_logged_models(&self, req: SearchLoggedModels) -> Result<Page<LoggedModel>> {
        let max = v::max_results(req.max_results, 100)?;
        let search = LoggedModelSearch::parse(
            req.filter.as_deref().unwrap_or(""),
            &req.order_by,
            &req.datasets,
        )?;
        for id in &req.experiment_ids {
            v::experiment_id(id)?;
        }
        let models = self
            .store
            .logged_models_for_search(&req.experiment_ids)
            .await?;
        search.apply(models, max, req.page_token.as_deref())
    }
}

/// Accepts a client-supplied experiment `artifact_location` only if the server
/// can never be tricked into touching its own file system through it.
///
/// The server reads and writes artifacts only through `mlflow-artifacts:`
/// URIs relative to its artifact root. Remote object-store URIs are kept as
/// opaque strings (the client writes there directly, the server never reads
/// them). Local paths, `file:` URIs and anything with traversal, queries or
/// fragments are refused: they were the entry point of CVE-2023-1177 and
/// CVE-2024-1483.
pub fn validate_artifact_location(loc: &str) -> Result<String> {
    let refuse = |why: &str| {
        Err(Error::invalid(format!(
            "Invalid artifact_location '{loc}': {why}. Use an 'mlflow-artifacts:/<path>' URI (served by this server) or a remote object store URI (s3://, gs://, wasbs://)."
        )))
    };
    let (scheme, rest) = match slipway_core::stored_uri::split(loc) {
        Ok(parts) => parts,
        Err(why) => return refuse(why),
    };
    match scheme.as_str() {
        "mlflow-artifacts" => {
            if rest.starts_with("//") {
                return refuse("'mlflow-artifacts://host/...' names another server; use 'mlflow-artifacts:/<path>'");
            }
            let path = rest.trim_start_matches('/');
            if path.is_empty() {
                return refuse("the path after 'mlflow-artifacts:/' is empty");
            }
            Ok(format!("mlflow-artifacts:/{}", path.trim_end_matches('/')))
        }
        s if slipway_core::stored_uri::REMOTE_SCHEMES.contains(&s) => {
            if let Err(why) = slipway_core::stored_uri::check_object_store(rest) {
                return refuse(why);
            }
            Ok(loc.to_string())
        }
        _ => refuse(&format!("scheme '{scheme}' is not allowed")),
    }
}

/// A readable random name like MLflow's (`adjective-animal-123`).
pub fn generate_run_name() -> String {
    const ADJECTIVES: [&str; 24] = [
        "brave", "calm", "clever", "bold", "bright", "crisp", "eager", "gentle", "glad", "keen",
        "kind", "lively", "lucky", "merry", "nimble", "proud", "quick", "quiet", "sharp", "silent",
        "steady", "swift", "warm", "wise",
    ];
    const ANIMALS: [&str; 24] = [
        "ant", "bat", "bear", "bee", "cat", "crab", "crow", "deer", "dove", "eel", "elk", "finch",
        "fox", "goat", "hare", "hawk", "lark", "lynx", "mole", "moth", "owl", "seal", "swan",
        "wolf",
    ];
    let id = ids::new_run_id();
    let n = u64::from_str_radix(&id[..12], 16).unwrap_or(0);
    format!(
        "{}-{}-{}",
        ADJECTIVES[(n % 24) as usize],
        ANIMALS[((n / 24) % 24) as usize],
        (n / 576) % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_locations() {
        assert_eq!(
            validate_artifact_location("mlflow-artifacts:/team/x/").unwrap(),
            "mlflow-artifacts:/team/x"
        );
        assert!(validate_artifact_location("s3://bucket/path").is_ok());
        for bad in [
            "file:///etc/",
            "/etc",
            "etc",
            "http:///#/../../etc/",
            "mlflow-artifacts:/../../etc",
            "mlflow-artifacts:/a/%2e%2e/b",
            "mlflow-artifacts:/a?x=1",
            "file:/tmp",
            "s3:",
            "ftp://host/x",
            "mlflow-artifacts:/",
            "mlflow-artifacts://evil:5000/x",
        ] {
            assert!(
                validate_artifact_location(bad).is_err(),
                "{bad} was accepted"
            );
        }
    }

    #[test]
    fn run_names_look_like_mlflows() {
        let n = generate_run_name();
        assert_eq!(n.split('-').count(), 3, "{n}");
    }
}
