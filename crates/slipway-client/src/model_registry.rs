//! The MLflow model registry API (`/api/2.0/mlflow/registered-models/...`,
//! `/api/2.0/mlflow/model-versions/...`) and Slipway's registry extensions
//! (`/api/2.0/slipway/registry/...`: event history, lineage, URI resolution).
//!
//! Requests use the HTTP methods of MLflow's protos (GET for reads and
//! searches, PATCH for updates, DELETE with a JSON body for deletes, as
//! MLflow's Python client sends them), so they work against `mlflow server`
//! too, except the Slipway extensions.

use crate::{
    CreateModelVersion, CreateRegisteredModel, DatasetInput, DownloadUriResponse,
    GetLatestVersions, LoggedModel, ModelName, ModelVersion, ModelVersionRef, ModelVersionResponse,
    ModelVersionsResponse, RegisteredModel, RegisteredModelAliasRequest, RegisteredModelResponse,
    RegistryEvent, RenameRegisteredModel, Result, Run, SearchRegisteredModelsResponse,
    SearchRegistry, SetModelVersionTag, SetRegisteredModelTag, SlipwayClient,
    TransitionModelVersionStage, UpdateModelVersion, UpdateRegisteredModel, DEFAULT_PAGE_SIZE,
};
use serde::{Deserialize, Serialize};
use std::sync::atomic::Ordering;
use std::time::Duration;

const SLIPWAY_REGISTRY: &str = "/api/2.0/slipway/registry";
/// Page size of [`SlipwayClient::registry_events_all`].
const EVENTS_PAGE_SIZE: i64 = 1000;
/// The longest wait the server grants a long poll of the event feed
/// ([`SlipwayClient::wait_registry_events`]); longer waits are cut to it.
pub const MAX_EVENT_WAIT: Duration = Duration::from_secs(60);
/// Time a long poll may take beyond its wait (the server's last store read,
/// the network) before the client gives up on it.
pub const EVENT_WAIT_MARGIN: Duration = Duration::from_secs(30);

#[derive(Deserialize)]
struct EventsPage {
    #[serde(default)]
    events: Vec<RegistryEvent>,
}

/// A model version with the run and data it came from
/// (`GET /api/2.0/slipway/registry/lineage`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Lineage {
    pub model_version: ModelVersion,
    /// The source run (the version's `run_id`, else the logged model's run);
    /// `None` when the version has no run or the run is gone.
    #[serde(default)]
    pub run: Option<Run>,
    /// The MLflow 3 logged model the version was registered from, if any.
    #[serde(default)]
    pub logged_model: Option<LoggedModel>,
    /// The run's dataset inputs (`mlflow.log_input`), with their context tags.
    #[serde(default)]
    pub datasets: Vec<DatasetInput>,
}

/// What a `models:/…` or `runs:/…` URI points at
/// (`GET /api/2.0/slipway/registry/resolve`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedModel {
    /// The URI as given.
    pub uri: String,
    /// Registered model name, when the URI went through the registry.
    #[serde(default)]
    pub name: Option<String>,
    /// Registered model version, when the URI went through the registry.
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub run_id: Option<String>,
    /// The MLflow 3 logged model (`m-…`), when there is one.
    #[serde(default)]
    pub model_id: Option<String>,
    /// Where the model directory is (`mlflow-artifacts:/…` for files the server holds).
    pub artifact_uri: String,
}

/// The query string of a registry search (its GET form).
fn search_query(req: &SearchRegistry) -> Vec<(&'static str, String)> {
    let mut q = Vec::new();
    if let Some(f) = req.filter.as_deref().filter(|f| !f.is_empty()) {
        q.push(("filter", f.to_string()));
    }
    if let Some(n) = req.max_results {
        q.push(("max_results", n.to_string()));
    }
    for o in &req.order_by {
        q.push(("order_by", o.clone()));
    }
    if let Some(t) = req.page_token.as_deref().filter(|t| !t.is_empty()) {
        q.push(("page_token", t.to_string()));
    }
    q
}

fn as_pairs<'a>(q: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    q.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

fn version_ref(name: &str, version: &str) -> ModelVersionRef {
    ModelVersionRef {
        name: name.to_string(),
        version: version.to_string(),
    }
}

impl SlipwayClient {
    // ---------------------------------------------------------------
    // Registered models
    // ---------------------------------------------------------------

    /// `registered-models/create` with just a name. A name already taken is
    /// `RESOURCE_ALREADY_EXISTS` ([`Error::is_already_exists`](crate::Error::is_already_exists)).
    pub async fn create_registered_model(&self, name: &str) -> Result<RegisteredModel> {
        self.create_registered_model_with(CreateRegisteredModel {
            name: name.to_string(),
            ..Default::default()
        })
        .await
    }

    /// `registered-models/create` with tags and a description.
    pub async fn create_registered_model_with(
        &self,
        req: CreateRegisteredModel,
    ) -> Result<RegisteredModel> {
        let resp: RegisteredModelResponse = self.post("/registered-models/create", &req).await?;
        Ok(resp.registered_model)
    }

    /// `registered-models/get` (with its latest version per stage, tags and aliases).
    pub async fn get_registered_model(&self, name: &str) -> Result<RegisteredModel> {
        let resp: RegisteredModelResponse = self
            .get("/registered-models/get", &[("name", name)])
            .await?;
        Ok(resp.registered_model)
    }

    /// `registered-models/rename`; returns the renamed model.
    pub async fn rename_registered_model(
        &self,
        name: &str,
        new_name: &str,
    ) -> Result<RegisteredModel> {
        let resp: RegisteredModelResponse = self
            .post(
                "/registered-models/rename",
                &RenameRegisteredModel {
                    name: name.to_string(),
                    new_name: new_name.to_string(),
                },
            )
            .await?;
        Ok(resp.registered_model)
    }

    /// `registered-models/update` (PATCH): sets the description.
    pub async fn update_registered_model(
        &self,
        name: &str,
        description: &str,
    ) -> Result<RegisteredModel> {
        let resp: RegisteredModelResponse = self
            .patch(
                "/registered-models/update",
                &UpdateRegisteredModel {
                    name: name.to_string(),
                    description: Some(description.to_string()),
                },
            )
            .await?;
        Ok(resp.registered_model)
    }

    /// `registered-models/delete` (DELETE): the model and all its versions.
    pub async fn delete_registered_model(&self, name: &str) -> Result<()> {
        self.delete_with_body(
            "/registered-models/delete",
            &ModelName {
                name: name.to_string(),
            },
        )
        .await
    }

    /// `registered-models/search` (GET): one page. The server's default page
    /// size is 100, its maximum 1000.
    pub async fn search_registered_models(
        &self,
        req: &SearchRegistry,
    ) -> Result<SearchRegisteredModelsResponse> {
        let q = search_query(req);
        self.get("/registered-models/search", &as_pairs(&q)).await
    }

    /// `registered-models/search`, following `next_page_token` until the last
    /// page. `max_results` is used as the page size (default 1000).
    pub async fn search_registered_models_all(
        &self,
        mut req: SearchRegistry,
    ) -> Result<Vec<RegisteredModel>> {
        req.max_results.get_or_insert(DEFAULT_PAGE_SIZE);
        let mut all = Vec::new();
        loop {
            let page = self.search_registered_models(&req).await?;
            all.extend(page.registered_models);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(token) => req.page_token = Some(token),
                None => return Ok(all),
            }
        }
    }

    /// `registered-models/set-tag`.
    pub async fn set_registered_model_tag(&self, name: &str, key: &str, value: &str) -> Result<()> {
        self.post_empty(
            "/registered-models/set-tag",
            &SetRegisteredModelTag {
                name: name.to_string(),
                key: key.to_string(),
                value: value.to_string(),
            },
        )
        .await
    }

    /// `registered-models/delete-tag` (DELETE).
    pub async fn delete_registered_model_tag(&self, name: &str, key: &str) -> Result<()> {
        #[derive(Serialize)]
        struct DeleteTag<'a> {
            name: &'a str,
            key: &'a str,
        }
        self.delete_with_body("/registered-models/delete-tag", &DeleteTag { name, key })
            .await
    }

    /// `registered-models/get-latest-versions`: the newest version in each of
    /// `stages` (every stage when empty). Stages are case-insensitive.
    pub async fn get_latest_versions(
        &self,
        name: &str,
        stages: &[&str],
    ) -> Result<Vec<ModelVersion>> {
        let resp: ModelVersionsResponse = self
            .post(
                "/registered-models/get-latest-versions",
                &GetLatestVersions {
                    name: name.to_string(),
                    stages: stages.iter().map(|s| s.to_string()).collect(),
                },
            )
            .await?;
        Ok(resp.model_versions)
    }

    // ---------------------------------------------------------------
    // Aliases
    // ---------------------------------------------------------------

    /// `registered-models/alias` (POST): points `alias` at `version`
    /// (moving it if it pointed elsewhere).
    pub async fn set_registered_model_alias(
        &self,
        name: &str,
        alias: &str,
        version: &str,
    ) -> Result<()> {
        self.post_empty(
            "/registered-models/alias",
            &RegisteredModelAliasRequest {
                name: name.to_string(),
                alias: alias.to_string(),
                version: version.to_string(),
            },
        )
        .await
    }

    /// `registered-models/alias` (DELETE).
    pub async fn delete_registered_model_alias(&self, name: &str, alias: &str) -> Result<()> {
        self.delete_with_body(
            "/registered-models/alias",
            &RegisteredModelAliasRequest {
                name: name.to_string(),
                alias: alias.to_string(),
                version: String::new(),
            },
        )
        .await
    }

    /// `registered-models/alias` (GET): the version `alias` points at.
    pub async fn get_model_version_by_alias(
        &self,
        name: &str,
        alias: &str,
    ) -> Result<ModelVersion> {
        let resp: ModelVersionResponse = self
            .get(
                "/registered-models/alias",
                &[("name", name), ("alias", alias)],
            )
            .await?;
        Ok(resp.model_version)
    }

    // ---------------------------------------------------------------
    // Model versions
    // ---------------------------------------------------------------

    /// `model-versions/create`: registers `source` (`runs:/RUN_ID/PATH`,
    /// `models:/m-…`, `mlflow-artifacts:/…`) as the next version of `name`.
    pub async fn create_model_version(
        &self,
        name: &str,
        source: &str,
        run_id: Option<&str>,
    ) -> Result<ModelVersion> {
        self.create_model_version_with(CreateModelVersion {
            name: name.to_string(),
            source: source.to_string(),
            run_id: run_id.map(str::to_string),
            ..Default::default()
        })
        .await
    }

    /// `model-versions/create` with every field (tags, description, run link,
    /// MLflow 3 `model_id`).
    pub async fn create_model_version_with(&self, req: CreateModelVersion) -> Result<ModelVersion> {
        let resp: ModelVersionResponse = self.post("/model-versions/create", &req).await?;
        Ok(resp.model_version)
    }

    /// `model-versions/get`. An unknown version is `RESOURCE_DOES_NOT_EXIST`.
    pub async fn get_model_version(&self, name: &str, version: &str) -> Result<ModelVersion> {
        let resp: ModelVersionResponse = self
            .get(
                "/model-versions/get",
                &[("name", name), ("version", version)],
            )
            .await?;
        Ok(resp.model_version)
    }

    /// `model-versions/update` (PATCH): sets the description.
    pub async fn update_model_version(
        &self,
        name: &str,
        version: &str,
        description: &str,
    ) -> Result<ModelVersion> {
        let resp: ModelVersionResponse = self
            .patch(
                "/model-versions/update",
                &UpdateModelVersion {
                    name: name.to_string(),
                    version: version.to_string(),
                    description: Some(description.to_string()),
                },
            )
            .await?;
        Ok(resp.model_version)
    }

    /// `model-versions/delete` (DELETE).
    pub async fn delete_model_version(&self, name: &str, version: &str) -> Result<()> {
        self.delete_with_body("/model-versions/delete", &version_ref(name, version))
            .await
    }

    /// `model-versions/search` (GET): one page.
    pub async fn search_model_versions(
        &self,
        req: &SearchRegistry,
    ) -> Result<ModelVersionsResponse> {
        let q = search_query(req);
        self.get("/model-versions/search", &as_pairs(&q)).await
    }

    /// `model-versions/search`, following `next_page_token` until the last
    /// page. `max_results` is used as the page size (default 1000).
    pub async fn search_model_versions_all(
        &self,
        mut req: SearchRegistry,
    ) -> Result<Vec<ModelVersion>> {
        req.max_results.get_or_insert(DEFAULT_PAGE_SIZE);
        let mut all = Vec::new();
        loop {
            let page = self.search_model_versions(&req).await?;
            all.extend(page.model_versions);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(token) => req.page_token = Some(token),
                None => return Ok(all),
            }
        }
    }

    /// `model-versions/transition-stage`: moves a version to `stage` (`None`,
    /// `Staging`, `Production`, `Archived`; case-insensitive; anything else
    /// is `INVALID_PARAMETER_VALUE`). With `archive_existing_versions`, the
    /// other versions in `stage` move to `Archived`. `comment` is Slipway's
    /// extension: the reason, kept in the event history (MLflow ignores it).
    pub async fn transition_model_version_stage(
        &self,
        name: &str,
        version: &str,
        stage: &str,
        archive_existing_versions: bool,
        comment: Option<&str>,
    ) -> Result<ModelVersion> {
        let resp: ModelVersionResponse = self
            .post(
                "/model-versions/transition-stage",
                &TransitionModelVersionStage {
                    name: name.to_string(),
                    version: version.to_string(),
                    stage: stage.to_string(),
                    archive_existing_versions: Some(archive_existing_versions),
                    comment: comment.filter(|c| !c.is_empty()).map(str::to_string),
                },
            )
            .await?;
        Ok(resp.model_version)
    }

    /// `model-versions/set-tag`.
    pub async fn set_model_version_tag(
        &self,
        name: &str,
        version: &str,
        key: &str,
        value: &str,
    ) -> Result<()> {
        self.post_empty(
            "/model-versions/set-tag",
            &SetModelVersionTag {
                name: name.to_string(),
                version: version.to_string(),
                key: key.to_string(),
                value: value.to_string(),
            },
        )
        .await
    }

    /// `model-versions/delete-tag` (DELETE).
    pub async fn delete_model_version_tag(
        &self,
        name: &str,
        version: &str,
        key: &str,
    ) -> Result<()> {
        #[derive(Serialize)]
        struct DeleteTag<'a> {
            name: &'a str,
            version: &'a str,
            key: &'a str,
        }
        self.delete_with_body(
            "/model-versions/delete-tag",
            &DeleteTag { name, version, key },
        )
        .await
    }

    /// `model-versions/get-download-uri`: where the version's files are.
    pub async fn get_model_version_download_uri(
        &self,
        name: &str,
        version: &str,
    ) -> Result<String> {
        let resp: DownloadUriResponse = self
            .get(
                "/model-versions/get-download-uri",
                &[("name", name), ("version", version)],
            )
            .await?;
        Ok(resp.artifact_uri)
    }

    // ---------------------------------------------------------------
    // Slipway extensions (not served by `mlflow server`)
    // ---------------------------------------------------------------

    /// `GET /api/2.0/slipway/registry/events`: recorded registry changes with
    /// id greater than `after`, oldest first, at most `max_results` (server
    /// default 1000, at most 10000); only model `name`'s when given.
    pub async fn registry_events(
        &self,
        name: Option<&str>,
        after: i64,
        max_results: Option<i64>,
    ) -> Result<Vec<RegistryEvent>> {
        let after = after.to_string();
        let max = max_results.map(|m| m.to_string());
        let mut q = vec![("after", after.as_str())];
        if let Some(n) = name {
            q.push(("name", n));
        }
        if let Some(m) = max.as_deref() {
            q.push(("max_results", m));
        }
        let resp: EventsPage = self
            .get_json(&format!("{SLIPWAY_REGISTRY}/events"), &q)
            .await?;
        Ok(resp.events)
    }

    /// The long poll of `GET /api/2.0/slipway/registry/events` (`wait_ms`):
    /// like [`registry_events`](Self::registry_events), but when no event
    /// after `after` exists yet the server answers as soon as one is
    /// committed, or with an empty list once `wait` (at most
    /// [`MAX_EVENT_WAIT`]) has passed. The request may take that long, so its
    /// time limit is the wait plus [`EVENT_WAIT_MARGIN`], not the client's.
    /// Servers without the feed (`mlflow server`) answer 404
    /// `ENDPOINT_NOT_FOUND`.
    pub async fn wait_registry_events(
        &self,
        name: Option<&str>,
        after: i64,
        max_results: Option<i64>,
        wait: Duration,
    ) -> Result<Vec<RegistryEvent>> {
        let wait = wait.min(MAX_EVENT_WAIT);
        let after = after.to_string();
        let wait_ms = wait.as_millis().to_string();
        let max = max_results.map(|m| m.to_string());
        let mut q = vec![("after", after.as_str()), ("wait_ms", wait_ms.as_str())];
        if let Some(n) = name {
            q.push(("name", n));
        }
        if let Some(m) = max.as_deref() {
            q.push(("max_results", m));
        }
        let url = self.url(&format!("{SLIPWAY_REGISTRY}/events"));
        let req = self.request(reqwest::Method::GET, &url).query(&q);
        let resp: EventsPage = self
            .send_json_within(req, url, wait + EVENT_WAIT_MARGIN)
            .await?;
        Ok(resp.events)
    }

    /// Every recorded registry change (of model `name` when given), oldest
    /// first, paging by event id.
    pub async fn registry_events_all(&self, name: Option<&str>) -> Result<Vec<RegistryEvent>> {
        let mut all: Vec<RegistryEvent> = Vec::new();
        let mut after = 0;
        loop {
            let page = self
                .registry_events(name, after, Some(EVENTS_PAGE_SIZE))
                .await?;
            let full = page.len() as i64 >= EVENTS_PAGE_SIZE;
            let last = page.last().map(|e| e.id);
            all.extend(page);
            match last {
                // Ids only grow; a page that does not move forward would loop.
                Some(id) if full && id > after => after = id,
                _ => return Ok(all),
            }
        }
    }

    /// `GET /api/2.0/slipway/registry/lineage`: the version, its source run,
    /// logged model and training datasets.
    pub async fn model_version_lineage(&self, name: &str, version: &str) -> Result<Lineage> {
        self.get_json(
            &format!("{SLIPWAY_REGISTRY}/lineage"),
            &[("name", name), ("version", version)],
        )
        .await
    }

    /// What `models:/NAME/VERSION`, `models:/NAME/STAGE`, `models:/NAME/latest`,
    /// `models:/NAME@ALIAS`, `models:/m-…` or `runs:/RUN_ID/PATH` points at:
    /// `GET /api/2.0/slipway/registry/resolve`, or, against a server without
    /// that endpoint (a plain `mlflow server`), MLflow's standard registry,
    /// run and logged-model API
    /// ([`resolve_model_uri_with_mlflow_api`](Self::resolve_model_uri_with_mlflow_api)).
    /// The client remembers a missing endpoint and does not ask again.
    pub async fn resolve_model_uri(&self, uri: &str) -> Result<ResolvedModel> {
        if !self.resolve_endpoint_missing.load(Ordering::Relaxed) {
            match self
                .get_json(&format!("{SLIPWAY_REGISTRY}/resolve"), &[("uri", uri)])
                .await
            {
                Err(e) if e.is_endpoint_missing() => {
                    if !self.resolve_endpoint_missing.swap(true, Ordering::Relaxed) {
                        tracing::info!(
                            "{} has no Slipway resolve endpoint (a plain MLflow server?): \
                             resolving model URIs through MLflow's registry API",
                            self.base_url()
                        );
                    }
                }
                answer => return answer,
            }
        }
        self.resolve_model_uri_with_mlflow_api(uri).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_queries_repeat_order_by_and_skip_empty_values() {
        let q = search_query(&SearchRegistry {
            filter: Some("name LIKE 'churn%'".into()),
            max_results: Some(5),
            order_by: vec!["name ASC".into(), "last_updated_timestamp DESC".into()],
            page_token: Some(String::new()),
        });
        assert_eq!(
            as_pairs(&q),
            vec![
                ("filter", "name LIKE 'churn%'"),
                ("max_results", "5"),
                ("order_by", "name ASC"),
                ("order_by", "last_updated_timestamp DESC"),
            ]
        );
        assert!(search_query(&SearchRegistry::default()).is_empty());
    }
}
