//! Model URI resolution through MLflow's standard REST API, for tracking
//! servers without Slipway's `/api/2.0/slipway/registry/resolve` (a plain
//! `mlflow server`, 2.x or 3.x).
//!
//! The URI is parsed by the one parser (`slipway_core::model_uri`), and the
//! answer is filled as Slipway's own resolver fills it (name and version for
//! registry URIs; the run and MLflow 3 logged model behind them, following a
//! version's `source`), so a server that follows the URI compares the same
//! fields whichever server answered, and a poll that finds the same version
//! finds the same identity.
//!
//! Calls used: `registered-models/get-latest-versions` (stages, `latest`),
//! `registered-models/alias`, `model-versions/get`,
//! `model-versions/get-download-uri` (where a version's files are),
//! `runs/get`, `logged-models/{id}` and `logged-models/search` (MLflow 3).

use crate::{
    ApiErrorCode, Error, ErrorCode, LoggedModel, ModelVersion, ResolvedModel, Result,
    SearchLoggedModels, SlipwayClient,
};
use slipway_core::model_uri::{parse_model_uri, ModelRef, Stage};
use std::future::Future;
use std::pin::Pin;

/// How many versions a chain of `source`s may cross (a version registered
/// from `models:/OTHER/1`, itself registered from ...) before it is taken
/// for a cycle.
const MAX_SOURCE_HOPS: usize = 8;

/// The error Slipway's resolver answers when a registry URI names nothing
/// (no version in that stage, no version at all), so callers see the same
/// `RESOURCE_DOES_NOT_EXIST` whichever server they talk to.
fn names_nothing(message: String) -> Error {
    Error::Api {
        status: 404,
        code: ApiErrorCode::Known(ErrorCode::ResourceDoesNotExist),
        message,
    }
}

/// MLflow answers absent optional strings as `""`.
fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

/// `artifact_uri` + `/path` (the run root itself for an empty path).
fn join_uri(artifact_uri: &str, path: &str) -> String {
    if path.is_empty() {
        artifact_uri.to_string()
    } else {
        format!("{}/{}", artifact_uri.trim_end_matches('/'), path)
    }
}

/// The newest of `versions` by version number.
fn newest(versions: Vec<ModelVersion>) -> Option<ModelVersion> {
    versions
        .into_iter()
        .max_by_key(|v| v.version.parse::<i64>().unwrap_or(0))
}

type Resolving<'a> = Pin<Box<dyn Future<Output = Result<ResolvedModel>> + Send + 'a>>;

impl SlipwayClient {
    /// Resolves `models:/NAME/VERSION|STAGE|latest`, `models:/NAME@ALIAS`,
    /// `models:/m-…` and `runs:/RUN_ID/PATH` with MLflow's standard REST API
    /// only (no Slipway extension). [`resolve_model_uri`](Self::resolve_model_uri)
    /// falls back to it when the server has no resolve endpoint.
    pub async fn resolve_model_uri_with_mlflow_api(&self, uri: &str) -> Result<ResolvedModel> {
        self.resolve_hops(uri.to_string(), 0).await
    }

    fn resolve_hops(&self, uri: String, hops: usize) -> Resolving<'_> {
        Box::pin(async move {
            if hops > MAX_SOURCE_HOPS {
                return Err(Error::InvalidInput(format!(
                    "cannot resolve {uri}: its versions' sources refer to each other more than {MAX_SOURCE_HOPS} times (a cycle?)"
                )));
            }
            let reference = parse_model_uri(&uri).map_err(|e| Error::InvalidInput(e.message))?;
            match reference {
                ModelRef::LoggedModel { model_id } => {
                    let model = self.logged_model_for(&uri, &model_id).await?;
                    Ok(ResolvedModel {
                        uri,
                        name: None,
                        version: None,
                        run_id: non_empty(model.info.source_run_id),
                        model_id: Some(model_id),
                        artifact_uri: model.info.artifact_uri,
                    })
                }
                ModelRef::Run { run_id, path } => self.resolve_run(uri, &run_id, &path).await,
                registry => {
                    let mv = self.version_named_by(registry).await?;
                    self.resolve_version(uri, mv, hops).await
                }
            }
        })
    }

    /// The registered version a registry URI points at now.
    async fn version_named_by(&self, reference: ModelRef) -> Result<ModelVersion> {
        match reference {
            ModelRef::Version { name, version } => {
                self.get_model_version(&name, &version.to_string()).await
            }
            // 'latest' is reserved in MLflow (no alias may take the name); in
            // Slipway it means the newest version.
            ModelRef::Alias { name, alias } if alias.eq_ignore_ascii_case("latest") => {
                self.newest_version(&name).await
            }
            ModelRef::Alias { name, alias } => self.get_model_version_by_alias(&name, &alias).await,
            ModelRef::Stage { name, stage } => {
                newest(self.get_latest_versions(&name, &[stage.as_str()]).await?).ok_or_else(|| {
                    names_nothing(format!(
                        "No versions of model '{name}' are in stage '{}'",
                        stage.as_str()
                    ))
                })
            }
            ModelRef::Latest { name } => self.newest_version(&name).await,
            ModelRef::LoggedModel { model_id: id } | ModelRef::Run { run_id: id, .. } => Err(
                Error::InvalidInput(format!("'{id}' does not name a registered model version")),
            ),
        }
    }

    /// The newest version of `name`, as MLflow's `models:/NAME/latest`:
    /// the highest of the newest version in each stage.
    async fn newest_version(&self, name: &str) -> Result<ModelVersion> {
        let every_stage: Vec<&str> = Stage::ALL.iter().map(|s| s.as_str()).collect();
        newest(self.get_latest_versions(name, &every_stage).await?)
            .ok_or_else(|| names_nothing(format!("Registered model '{name}' has no versions")))
    }

    /// A registered version's files (`get-download-uri`) and lineage: its
    /// run and logged model, inherited from its `source` when the version
    /// does not carry them (MLflow 3.x sends no `model_id` on a version
    /// registered from `models:/m-…`).
    async fn resolve_version(
        &self,
        uri: String,
        mv: ModelVersion,
        hops: usize,
    ) -> Result<ResolvedModel> {
        let download = self
            .get_model_version_download_uri(&mv.name, &mv.version)
            .await?;
        let origin = match parse_model_uri(&mv.source) {
            Ok(_) => Some(self.resolve_hops(mv.source.clone(), hops + 1).await?),
            Err(_) => None,
        };
        let artifact_uri = if parse_model_uri(&download).is_err() {
            download
        } else {
            match &origin {
                Some(o) if download == mv.source => o.artifact_uri.clone(),
                _ => self.resolve_hops(download, hops + 1).await?.artifact_uri,
            }
        };
        let (origin_run, origin_model) = origin.map(|o| (o.run_id, o.model_id)).unwrap_or_default();
        Ok(ResolvedModel {
            uri,
            artifact_uri,
            run_id: non_empty(mv.run_id).or(origin_run),
            model_id: non_empty(mv.model_id).or(origin_model),
            name: Some(mv.name),
            version: Some(mv.version),
        })
    }

    /// `runs:/RUN_ID/PATH`: the MLflow 3 logged model the run logged under
    /// that name (MLflow 3 keeps `log_model(name=PATH)` there, not in the
    /// run's artifacts), else `PATH` in the run's artifacts (MLflow 2.x).
    async fn resolve_run(&self, uri: String, run_id: &str, path: &str) -> Result<ResolvedModel> {
        let run = self.get_run(run_id).await?;
        let logged = if path.is_empty() {
            None
        } else {
            self.logged_model_of_run(&run.info.experiment_id, &run.info.run_id, path)
                .await?
        };
        Ok(match logged {
            Some(m) => ResolvedModel {
                uri,
                name: None,
                version: None,
                run_id: Some(run.info.run_id),
                model_id: Some(m.info.model_id),
                artifact_uri: m.info.artifact_uri,
            },
            None => ResolvedModel {
                uri,
                name: None,
                version: None,
                artifact_uri: join_uri(&run.info.artifact_uri, path),
                run_id: Some(run.info.run_id),
                model_id: None,
            },
        })
    }

    /// The logged model named `name` whose source is run `run_id`; `None`
    /// when there is none or the server has no logged models (MLflow 2.x).
    async fn logged_model_of_run(
        &self,
        experiment_id: &str,
        run_id: &str,
        name: &str,
    ) -> Result<Option<LoggedModel>> {
        // `run_id` comes from the server's own run record (hex), safe to quote.
        let search = SearchLoggedModels {
            experiment_ids: vec![experiment_id.to_string()],
            filter: Some(format!("source_run_id = '{run_id}'")),
            ..Default::default()
        };
        match self.search_logged_models_all(search).await {
            Ok(models) => Ok(models
                .into_iter()
                .find(|m| m.info.name == name && m.info.source_run_id.as_deref() == Some(run_id))),
            Err(e) if e.is_endpoint_missing() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `logged-models/{id}`, explaining a server that has no logged models.
    async fn logged_model_for(&self, uri: &str, model_id: &str) -> Result<LoggedModel> {
        self.get_logged_model(model_id).await.map_err(|e| {
            if e.is_endpoint_missing() {
                Error::InvalidInput(format!(
                    "{uri} names an MLflow 3 logged model, but {} has no logged-model API \
                     (an MLflow 2.x server?); use models:/NAME/VERSION or runs:/RUN_ID/PATH",
                    self.base_url()
                ))
            } else {
                e
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(v: &str) -> ModelVersion {
        ModelVersion {
            name: "m".into(),
            version: v.into(),
            ..Default::default()
        }
    }

    #[test]
    fn newest_compares_version_numbers_not_strings() {
        let picked = newest(vec![version("9"), version("10"), version("2")]).unwrap();
        assert_eq!(picked.version, "10");
        assert!(newest(Vec::new()).is_none());
    }

    #[test]
    fn run_paths_join_with_one_slash() {
        assert_eq!(
            join_uri("mlflow-artifacts:/1/r/artifacts/", "model"),
            "mlflow-artifacts:/1/r/artifacts/model"
        );
        assert_eq!(
            join_uri("mlflow-artifacts:/1/r/artifacts", ""),
            "mlflow-artifacts:/1/r/artifacts"
        );
    }

    #[test]
    fn a_uri_naming_nothing_is_not_found() {
        assert!(names_nothing("x".into()).is_not_found());
    }
}
