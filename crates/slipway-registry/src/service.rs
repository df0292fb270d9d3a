//! The registry's entry points, one per MLflow registry RPC, plus URI
//! resolution and lineage.

use crate::source::validate_source;
use crate::stage::Stage;
use crate::store::{EventDraft, NewModelVersion, RegistryStore};
use crate::uri::{parse_model_uri, ModelRef, ResolvedModel};
use serde::Serialize;
use slipway_core::{now_millis, Error, Result};
use slipway_protocol::*;
use slipway_tracking::search::{ModelVersionSearch, Page, RegisteredModelSearch};
use slipway_tracking::TrackingStore;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

const MAX_ALIAS_LENGTH: usize = 255;

/// The longest a long poll of the event feed waits ([`Registry::wait_for_events`]);
/// a longer `wait_ms` is cut to this.
pub const MAX_EVENT_WAIT: Duration = Duration::from_secs(60);

/// How often a waiting long poll re-reads the store: writers in other
/// processes sharing the database (the CLI's embedded store) do not reach
/// this process's broadcast, and `id > after` is one indexed read.
pub const EVENT_RECHECK_INTERVAL: Duration = Duration::from_millis(250);

#[derive(Clone)]
pub struct Registry {
    store: Arc<dyn RegistryStore>,
    tracking: Arc<dyn TrackingStore>,
    events: broadcast::Sender<RegistryEvent>,
    /// `true` once the server shuts down: long polls answer at once.
    closing: Arc<watch::Sender<bool>>,
}

/// A model version with the run and data it came from.
#[derive(Debug, Clone, Serialize)]
pub struct Lineage {
    pub model_version: ModelVersion,
    pub run: Option<Run>,
    pub logged_model: Option<LoggedModel>,
    /// The run's training data (`mlflow.log_input`).
    pub datasets: Vec<DatasetInput>,
}

fn version_number(version: &str) -> Result<i64> {
    version.trim().parse::<i64>().map_err(|_| {
        if version.is_empty() {
            Error::invalid("Missing value for required parameter 'version'. See the API docs for more information about request parameters.")
        } else {
            Error::invalid(format!("Parameter 'version' must be an integer, got '{version}'."))
        }
    })
}

/// MLflow's `_validate_model_name`: names become paths and URI parts, so
/// they may not contain `/` or `:` nor resolve to another path.
fn model_name(name: &str) -> Result<&str> {
    if name.trim().is_empty() {
        return Err(Error::invalid("Registered model name cannot be empty."));
    }
    if name.contains('/') || name.contains(':') {
        return Err(Error::invalid(format!(
            "Invalid model name '{name}'. Names cannot contain '/' or ':'."
        )));
    }
    if name == "." || name.starts_with("..") || name.contains('\\') || name.contains('\0') {
        return Err(Error::invalid(format!(
            "Invalid model name '{name}'. Names may be treated as files in certain cases, and must not resolve to other names when treated as such."
        )));
    }
    Ok(name)
}

/// MLflow's `_validate_model_alias_name`.
pub fn validate_alias(alias: &str) -> Result<()> {
    if alias.is_empty() {
        return Err(Error::invalid(
            "Registered model alias name cannot be empty.",
        ));
    }
    if !alias
        .chars()
        .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
    {
        return Err(Error::invalid(format!(
            "Invalid alias name: '{alias}'. Names may only contain alphanumerics, underscores (_), and dashes (-)."
        )));
    }
    if alias.chars().count() > MAX_ALIAS_LENGTH {
        return Err(Error::invalid(format!(
            "Registered model alias name '{alias}' had length {}, which exceeded length limit of {MAX_ALIAS_LENGTH}",
            alias.chars().count()
        )));
    }
    if alias.eq_ignore_ascii_case("latest") {
        return Err(Error::invalid(
            "'latest' alias name (case insensitive) is reserved.",
        ));
    }
    let mut chars = alias.chars();
    if matches!(chars.next(), Some('v' | 'V'))
        && alias.len() > 1
        && chars.all(|c| c.is_ascii_digit())
    {
        return Err(Error::invalid(format!(
            "Version alias name '{alias}' is reserved."
        )));
    }
    Ok(())
}

impl Registry {
    pub fn new(store: Arc<dyn RegistryStore>, tracking: Arc<dyn TrackingStore>) -> Self {
        let (events, _) = broadcast::channel(1024);
        Registry {
            store,
            tracking,
            events,
            closing: Arc::new(watch::Sender::new(false)),
        }
    }

    /// Ends every waiting long poll now and makes later ones answer without
    /// waiting, so a graceful shutdown does not wait out [`MAX_EVENT_WAIT`].
    pub fn close_waiters(&self) {
        self.closing.send_replace(true);
    }

    /// Committed registry events, as they happen (serving's hot reload, webhooks).
    pub fn subscribe(&self) -> broadcast::Receiver<RegistryEvent> {
        self.events.subscribe()
    }

    fn publish(&self, events: Vec<RegistryEvent>) {
        for e in events {
            tracing::info!(kind = %e.kind, name = %e.name, version = ?e.version, to = ?e.to, "registry event");
            // No subscriber is fine: the event is already stored.
            let _ = self.events.send(e);
        }
    }

    fn draft(user: Option<String>, reason: Option<String>) -> EventDraft {
        EventDraft {
            user,
            reason,
            now: now_millis(),
        }
    }

    // ---------------- registered models ----------------

    pub async fn create_registered_model(
        &self,
        req: CreateRegisteredModel,
        user: Option<String>,
    ) -> Result<RegisteredModel> {
        model_name(&req.name)?;
        for t in &req.tags {
            slipway_tracking::validation::run_tag(t)?;
        }
        let (model, events) = self
            .store
            .create_registered_model(
                &req.name,
                req.tags,
                req.description,
                Self::draft(user, None),
            )
            .await?;
        self.publish(events);
        Ok(model)
    }

    pub async fn get_registered_model(&self, name: &str) -> Result<RegisteredModel> {
        self.store.get_registered_model(model_name(name)?).await
    }

    pub async fn rename_registered_model(
        &self,
        name: &str,
        new_name: &str,
        user: Option<String>,
    ) -> Result<RegisteredModel> {
        model_name(name)?;
        model_name(new_name)?;
        let (model, events) = self
            .store
            .rename_registered_model(name, new_name, Self::draft(user, None))
            .await?;
        self.publish(events);
        Ok(model)
    }

    pub async fn update_registered_model(
        &self,
        name: &str,
        description: Option<String>,
    ) -> Result<RegisteredModel> {
        self.store
            .update_registered_model(model_name(name)?, description, now_millis())
            .await
    }

    pub async fn delete_registered_model(&self, name: &str, user: Option<String>) -> Result<()> {
        let events = self
            .store
            .delete_registered_model(model_name(name)?, Self::draft(user, None))
            .await?;
        self.publish(events);
        Ok(())
    }

    pub async fn search_registered_models(
        &self,
        req: SearchRegistry,
    ) -> Result<Page<RegisteredModel>> {
        let max = RegisteredModelSearch::max_results(req.max_results)?;
        let search =
            RegisteredModelSearch::parse(req.filter.as_deref().unwrap_or(""), &req.order_by)?;
        let models = self.store.list_registered_models().await?;
        search.apply(models, max, req.page_token.as_deref())
    }

    pub async fn set_registered_model_tag(&self, name: &str, tag: Tag) -> Result<()> {
        slipway_tracking::validation::run_tag(&tag)?;
        self.store
            .set_registered_model_tag(model_name(name)?, tag, now_millis())
            .await
    }

    pub async fn delete_registered_model_tag(&self, name: &str, key: &str) -> Result<()> {
        slipway_tracking::validation::require("key", key)?;
        self.store
            .delete_registered_model_tag(model_name(name)?, key)
            .await
    }

    pub async fn get_latest_versions(
        &self,
        name: &str,
        stages: &[String],
    ) -> Result<Vec<ModelVersion>> {
        let wanted: Vec<Stage> = if stages.is_empty() {
            Stage::ALL.to_vec()
        } else {
            stages
                .iter()
                .map(|s| Stage::parse(s))
                .collect::<Result<_>>()?
        };
        let model = self.store.get_registered_model(model_name(name)?).await?;
        let mut versions = self.store.list_model_versions(Some(&model.name)).await?;
        versions.sort_by_key(|v| std::cmp::Reverse(v.version.parse::<i64>().unwrap_or(0)));
        let mut out = Vec::new();
        for stage in wanted {
            if let Some(v) = versions.iter().find(|v| v.current_stage == stage.as_str()) {
                out.push(v.clone());
            }
        }
        Ok(out)
    }

    // ---------------- model versions ----------------

    pub async fn create_model_version(
        &self,
        req: CreateModelVersion,
        user: Option<String>,
    ) -> Result<ModelVersion> {
        model_name(&req.name)?;
        validate_source(&req.source)?;
        for t in &req.tags {
            slipway_tracking::validation::run_tag(t)?;
        }
        let mut run_id = req.run_id.filter(|r| !r.is_empty());
        let mut model_id = req.model_id.filter(|m| !m.is_empty());
        match parse_model_uri(&req.source) {
            // `models:/m-…`: MLflow 3's logged model, which knows its run.
            Ok(ModelRef::LoggedModel { model_id: id }) => {
                model_id.get_or_insert(id);
            }
            // A copy of another version (`models:/NAME/1`, `@alias`, a stage):
            // it inherits that version's lineage, as in MLflow.
            Ok(
                reference @ (ModelRef::Version { .. }
                | ModelRef::Alias { .. }
                | ModelRef::Stage { .. }
                | ModelRef::Latest { .. }),
            ) => {
                let origin = self.version_of(reference).await?;
                if run_id.is_none() {
                    run_id = origin.run_id;
                }
                if model_id.is_none() {
                    model_id = origin.model_id;
                }
            }
            _ => {}
        }
        if let Some(run_id) = &run_id {
            self.tracking.get_run(run_id).await?;
        }
        if let Some(id) = &model_id {
            let logged = self.tracking.get_logged_model(id).await?;
            if run_id.is_none() {
                run_id = logged.info.source_run_id;
            }
        } else {
            self.check_source_belongs_to_run(&req.source, run_id.as_deref())
                .await?;
        }
        let (mv, events) = self
            .store
            .create_model_version(NewModelVersion {
                name: req.name,
                source: req.source,
                run_id,
                run_link: req.run_link.filter(|r| !r.is_empty()),
                description: req.description,
                model_id,
                tags: req.tags,
                user,
                now: now_millis(),
            })
            .await?;
        self.publish(events);
        Ok(mv)
    }

    /// MLflow's rule for sources inside this server's store: the `run_id`
    /// parameter must name the run whose artifacts contain the source, so a
    /// version can neither expose another run's files nor claim false lineage.
    async fn check_source_belongs_to_run(&self, source: &str, run_id: Option<&str>) -> Result<()> {
        let refuse = || {
            Err(Error::invalid(format!(
                "Invalid model version source: '{source}'. The run_id request parameter must identify the \
                 resource that contains the source (the run whose artifacts hold it)."
            )))
        };
        if let Ok(ModelRef::Run { run_id: owner, .. }) = parse_model_uri(source) {
            return if run_id == Some(owner.as_str()) {
                Ok(())
            } else {
                refuse()
            };
        }
        if source.to_ascii_lowercase().starts_with("mlflow-artifacts:") {
            let Some(run_id) = run_id else {
                return refuse();
            };
            let root = self.tracking.get_run(run_id).await?.info.artifact_uri;
            let root = root.trim_end_matches('/');
            let inside = source == root || source.starts_with(&format!("{root}/"));
            return if inside { Ok(()) } else { refuse() };
        }
        Ok(())
    }

    /// The version a registry URI points at.
    async fn version_of(&self, reference: ModelRef) -> Result<ModelVersion> {
        match reference {
            ModelRef::Version { name, version } => {
                self.store.get_model_version(&name, version).await
            }
            ModelRef::Alias { name, alias } => self.get_version_by_alias(&name, &alias).await,
            ModelRef::Stage { name, stage } => self
                .get_latest_versions(&name, &[stage.as_str().to_string()])
                .await?
                .into_iter()
                .next()
                .ok_or_else(|| {
                    Error::not_found(format!(
                        "No versions of model '{name}' are in stage '{}'",
                        stage.as_str()
                    ))
                }),
            ModelRef::Latest { name } => self.latest_version(&name).await,
            ModelRef::LoggedModel { model_id }
            | ModelRef::Run {
                run_id: model_id, ..
            } => Err(Error::invalid(format!(
                "'{model_id}' does not name a registered model version"
            ))),
        }
    }

    async fn latest_version(&self, name: &str) -> Result<ModelVersion> {
        let mut versions = self.store.list_model_versions(Some(name)).await?;
        if versions.is_empty() {
            self.store.get_registered_model(name).await?;
        }
        versions.sort_by_key(|v| v.version.parse::<i64>().unwrap_or(0));
        versions
            .pop()
            .ok_or_else(|| Error::not_found(format!("Registered model '{name}' has no versions")))
    }

    pub async fn get_model_version(&self, name: &str, version: &str) -> Result<ModelVersion> {
        self.store
            .get_model_version(model_name(name)?, version_number(version)?)
            .await
    }

    pub async fn update_model_version(
        &self,
        name: &str,
        version: &str,
        description: Option<String>,
    ) -> Result<ModelVersion> {
        self.store
            .update_model_version(
                model_name(name)?,
                version_number(version)?,
                description,
                now_millis(),
            )
            .await
    }

    pub async fn delete_model_version(
        &self,
        name: &str,
        version: &str,
        user: Option<String>,
    ) -> Result<()> {
        let events = self
            .store
            .delete_model_version(
                model_name(name)?,
                version_number(version)?,
                Self::draft(user, None),
            )
            .await?;
        self.publish(events);
        Ok(())
    }

    pub async fn search_model_versions(&self, req: SearchRegistry) -> Result<Page<ModelVersion>> {
        let max = ModelVersionSearch::max_results(req.max_results)?;
        let search = ModelVersionSearch::parse(req.filter.as_deref().unwrap_or(""), &req.order_by)?;
        let versions = self.store.list_model_versions(None).await?;
        search.apply(versions, max, req.page_token.as_deref())
    }

    pub async fn transition_stage(
        &self,
        req: TransitionModelVersionStage,
        user: Option<String>,
    ) -> Result<ModelVersion> {
        model_name(&req.name)?;
        let version = version_number(&req.version)?;
        if req.stage.is_empty() {
            return Err(Error::invalid("Missing value for required parameter 'stage'. See the API docs for more information about request parameters."));
        }
        let stage = Stage::parse(&req.stage)?;
        let archive = req.archive_existing_versions.unwrap_or(false);
        if archive && !matches!(stage, Stage::Staging | Stage::Production) {
            return Err(Error::invalid(format!(
                "Model version transition cannot archive existing model versions because '{}' is not an Active stage. Valid stages are Staging and Production.",
                stage.as_str()
            )));
        }
        let (mv, events) = self
            .store
            .transition_stage(
                &req.name,
                version,
                stage,
                archive,
                Self::draft(user, req.comment),
            )
            .await?;
        self.publish(events);
        Ok(mv)
    }

    pub async fn set_model_version_tag(&self, name: &str, version: &str, tag: Tag) -> Result<()> {
        slipway_tracking::validation::run_tag(&tag)?;
        self.store
            .set_model_version_tag(
                model_name(name)?,
                version_number(version)?,
                tag,
                now_millis(),
            )
            .await
    }

    pub async fn delete_model_version_tag(
        &self,
        name: &str,
        version: &str,
        key: &str,
    ) -> Result<()> {
        slipway_tracking::validation::require("key", key)?;
        self.store
            .delete_model_version_tag(model_name(name)?, version_number(version)?, key)
            .await
    }

    pub async fn set_alias(
        &self,
        name: &str,
        alias: &str,
        version: &str,
        user: Option<String>,
    ) -> Result<()> {
        model_name(name)?;
        validate_alias(alias)?;
        let events = self
            .store
            .set_alias(
                name,
                alias,
                version_number(version)?,
                Self::draft(user, None),
            )
            .await?;
        self.publish(events);
        Ok(())
    }

    pub async fn delete_alias(&self, name: &str, alias: &str, user: Option<String>) -> Result<()> {
        model_name(name)?;
        validate_alias(alias)?;
        let events = self
            .store
            .delete_alias(name, alias, Self::draft(user, None))
            .await?;
        self.publish(events);
        Ok(())
    }

    pub async fn get_version_by_alias(&self, name: &str, alias: &str) -> Result<ModelVersion> {
        model_name(name)?;
        if alias.is_empty() {
            return Err(Error::invalid(
                "Registered model alias name cannot be empty.",
            ));
        }
        // 'latest' is reserved: it always means the newest version, as in MLflow.
        if alias.eq_ignore_ascii_case("latest") {
            return self.latest_version(name).await;
        }
        self.store.get_version_by_alias(name, alias).await
    }

    /// Where a version's files are (`model-versions/get-download-uri`).
    pub async fn download_uri(&self, name: &str, version: &str) -> Result<String> {
        let mv = self.get_model_version(name, version).await?;
        self.artifact_uri_of(&mv).await
    }

    async fn artifact_uri_of(&self, mv: &ModelVersion) -> Result<String> {
        if let Some(model_id) = &mv.model_id {
            return Ok(self
                .tracking
                .get_logged_model(model_id)
                .await?
                .info
                .artifact_uri);
        }
        self.source_to_artifact_uri(&mv.source).await
    }

    /// Turns a registered `source` into an artifact URI the server can serve.
    async fn source_to_artifact_uri(&self, source: &str) -> Result<String> {
        match parse_model_uri(source) {
            Ok(ModelRef::Run { run_id, path }) => {
                let run = self.tracking.get_run(&run_id).await?;
                Ok(join_uri(&run.info.artifact_uri, &path))
            }
            Ok(ModelRef::LoggedModel { model_id }) => Ok(self
                .tracking
                .get_logged_model(&model_id)
                .await?
                .info
                .artifact_uri),
            Ok(
                reference @ (ModelRef::Version { .. }
                | ModelRef::Alias { .. }
                | ModelRef::Stage { .. }
                | ModelRef::Latest { .. }),
            ) => {
                // A copy of another version: its files are that version's files.
                let origin = self.version_of(reference).await?;
                Box::pin(self.artifact_uri_of(&origin)).await
            }
            _ => Ok(source.to_string()),
        }
    }

    /// Resolves `models:/NAME/VERSION|STAGE|latest`, `models:/NAME@ALIAS`,
    /// `models:/m-…` and `runs:/RUN_ID/PATH` to the model's files.
    pub async fn resolve(&self, uri: &str) -> Result<ResolvedModel> {
        let reference = parse_model_uri(uri)?;
        let mv = match reference {
            reference @ (ModelRef::Version { .. }
            | ModelRef::Alias { .. }
            | ModelRef::Stage { .. }
            | ModelRef::Latest { .. }) => self.version_of(reference).await?,
            ModelRef::LoggedModel { model_id } => {
                let model = self.tracking.get_logged_model(&model_id).await?;
                return Ok(ResolvedModel {
                    uri: uri.to_string(),
                    name: None,
                    version: None,
                    run_id: model.info.source_run_id.clone(),
                    model_id: Some(model_id),
                    artifact_uri: model.info.artifact_uri,
                });
            }
            ModelRef::Run { run_id, path } => {
                let run = self.tracking.get_run(&run_id).await?;
                // MLflow 3 keeps `log_model(name=path)` under the logged model, not the run.
                let outputs = self
                    .tracking
                    .logged_models_for_search(std::slice::from_ref(&run.info.experiment_id))
                    .await?;
                let logged = outputs.into_iter().find(|m| {
                    m.info.source_run_id.as_deref() == Some(run_id.as_str()) && m.info.name == path
                });
                return Ok(match logged {
                    Some(m) => ResolvedModel {
                        uri: uri.to_string(),
                        name: None,
                        version: None,
                        run_id: Some(run_id),
                        model_id: Some(m.info.model_id),
                        artifact_uri: m.info.artifact_uri,
                    },
                    None => ResolvedModel {
                        uri: uri.to_string(),
                        name: None,
                        version: None,
                        artifact_uri: join_uri(&run.info.artifact_uri, &path),
                        run_id: Some(run_id),
                        model_id: None,
                    },
                });
            }
        };
        Ok(ResolvedModel {
            uri: uri.to_string(),
            artifact_uri: self.artifact_uri_of(&mv).await?,
            name: Some(mv.name),
            version: Some(mv.version),
            run_id: mv.run_id,
            model_id: mv.model_id,
        })
    }

    /// The chain behind a version: source run, logged model, training data.
    pub async fn lineage(&self, name: &str, version: &str) -> Result<Lineage> {
        let mv = self.get_model_version(name, version).await?;
        let logged_model = match &mv.model_id {
            Some(id) => self.tracking.get_logged_model(id).await.ok(),
            None => None,
        };
        let run_id = mv.run_id.clone().or_else(|| {
            logged_model
                .as_ref()
                .and_then(|m| m.info.source_run_id.clone())
        });
        let run = match run_id {
            Some(id) => self.tracking.get_run(&id).await.ok(),
            None => None,
        };
        let datasets = run
            .as_ref()
            .map(|r| r.inputs.dataset_inputs.clone())
            .unwrap_or_default();
        Ok(Lineage {
            model_version: mv,
            run,
            logged_model,
            datasets,
        })
    }

    /// The recorded change history (`slipway models history`).
    pub async fn events(
        &self,
        name: Option<&str>,
        after: i64,
        limit: usize,
    ) -> Result<Vec<RegistryEvent>> {
        self.store.events(name, after, limit.clamp(1, 10_000)).await
    }

    /// [`events`](Self::events) as a long poll: when no event after `after`
    /// exists yet, waits up to `wait_ms` milliseconds (at most
    /// [`MAX_EVENT_WAIT`]) for one to be committed, then answers, possibly
    /// with nothing. Commits in this process wake it at once; commits by
    /// other processes on the same database are seen within
    /// [`EVENT_RECHECK_INTERVAL`].
    pub async fn wait_for_events(
        &self,
        name: Option<&str>,
        after: i64,
        limit: usize,
        wait_ms: i64,
    ) -> Result<Vec<RegistryEvent>> {
        if wait_ms < 0 {
            return Err(Error::invalid(format!(
                "Invalid value for parameter 'wait_ms': {wait_ms}. It must be a number of milliseconds >= 0 (at most {}).",
                MAX_EVENT_WAIT.as_millis()
            )));
        }
        let wait = Duration::from_millis(wait_ms as u64).min(MAX_EVENT_WAIT);
        // Subscribe before the first read, so a commit between the two still wakes us.
        let mut commits = Some(self.events.subscribe());
        let mut closing = self.closing.subscribe();
        let found = self.events(name, after, limit).await?;
        if !found.is_empty() || wait.is_zero() || *closing.borrow_and_update() {
            return Ok(found);
        }
        let deadline = Instant::now() + wait;
        loop {
            // Fixed before waiting, so a stream of other models' events cannot postpone it.
            let recheck =
                tokio::time::sleep_until(deadline.min(Instant::now() + EVENT_RECHECK_INTERVAL));
            tokio::pin!(recheck);
            loop {
                tokio::select! {
                    received = async {
                        match commits.as_mut() {
                            Some(rx) => rx.recv().await,
                            None => std::future::pending().await,
                        }
                    } => match received {
                        // Another model's event: nothing new for this poll.
                        Ok(e) if name.is_some_and(|n| n != e.name) => continue,
                        Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => break,
                        // Cannot happen while `self` holds the sender; the timer still runs.
                        Err(broadcast::error::RecvError::Closed) => commits = None,
                    },
                    _ = &mut recheck => break,
                    _ = closing.wait_for(|closed| *closed) => return Ok(Vec::new()),
                }
            }
            let found = self.events(name, after, limit).await?;
            if !found.is_empty() || Instant::now() >= deadline {
                return Ok(found);
            }
        }
    }
}

fn join_uri(base: &str, path: &str) -> String {
    let path = path.trim_matches('/');
    if path.is_empty() {
        base.trim_end_matches('/').to_string()
    } else {
        format!("{}/{}", base.trim_end_matches('/'), path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_follow_mlflow_rules() {
        assert!(validate_alias("champion").is_ok());
        assert!(validate_alias("challenger-2").is_ok());
        assert!(validate_alias("latest").is_err());
        assert!(validate_alias("V3").is_err());
        assert!(validate_alias("a b").is_err());
        assert!(validate_alias("").is_err());
    }

    #[test]
    fn versions_must_be_integers() {
        assert_eq!(version_number("3").unwrap(), 3);
        assert!(version_number("x").unwrap_err().message.contains("'x'"));
        assert!(version_number("").unwrap_err().message.contains("version"));
    }
}
