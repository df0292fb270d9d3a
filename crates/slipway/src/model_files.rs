//! Loading a Slipway model directory through the tracking server: the
//! run's logged model, or whatever a `models:/` URI resolves to (the one
//! resolver, on the server). Validation loads models exactly as serving does.

use anyhow::Context;
use slipway_client::{Run, SlipwayClient};
use slipway_train::package::{ModelPackage, METADATA_FILE, MLMODEL_FILE, MODEL_FILE};
use std::collections::HashMap;

/// A loaded model and where it came from.
pub struct LoadedModel {
    pub package: ModelPackage,
    /// `models:/m-…` or the URI it was resolved from.
    pub uri: String,
    pub run_id: Option<String>,
    pub name: Option<String>,
    pub version: Option<String>,
    pub model_id: Option<String>,
    pub artifact_uri: String,
}

impl LoadedModel {
    /// "models:/churn/Production (version 3)", for reports.
    pub fn describe(&self) -> String {
        match (&self.name, &self.version) {
            (Some(n), Some(v)) if !self.uri.ends_with(&format!("/{v}")) => {
                format!("{} ({n} version {v})", self.uri)
            }
            _ => self.uri.clone(),
        }
    }
}

async fn read_files(client: &SlipwayClient, artifact_uri: &str) -> anyhow::Result<ModelPackage> {
    let mut files = HashMap::new();
    for name in [MLMODEL_FILE, METADATA_FILE, MODEL_FILE] {
        match client.read_artifact(artifact_uri, name).await {
            Ok(bytes) => {
                files.insert(name, bytes.to_vec());
            }
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e).with_context(|| format!("cannot read {name} of the model")),
        }
    }
    if !files.contains_key(MLMODEL_FILE) {
        anyhow::bail!("no MLmodel file at {artifact_uri}: not an MLflow model directory");
    }
    if !files.contains_key(MODEL_FILE) {
        let mlmodel = String::from_utf8_lossy(&files[MLMODEL_FILE]).into_owned();
        let flavors = flavors_of(&mlmodel);
        anyhow::bail!(
            "the model at {artifact_uri} has flavors [{}], not `slipway`: train it with `slipway train` \
             (other flavors will be served through ONNX)",
            flavors.join(", ")
        );
    }
    ModelPackage::from_files(|n| files.get(n).cloned())
        .with_context(|| format!("cannot load the model at {artifact_uri}"))
}

fn flavors_of(mlmodel: &str) -> Vec<String> {
    let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(mlmodel).unwrap_or_default();
    value
        .get("flavors")
        .and_then(|f| f.as_mapping())
        .map(|m| {
            m.keys()
                .filter_map(|k| k.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The model a run logged (the MLflow 3 logged model `slipway train` creates).
pub async fn from_run(client: &SlipwayClient, run: &Run) -> anyhow::Result<LoadedModel> {
    let run_id = &run.info.run_id;
    let uri = format!("runs:/{run_id}/model");
    let resolved = client
        .resolve_model_uri(&uri)
        .await
        .with_context(|| format!("run {run_id} has no logged model named `model`"))?;
    let package = read_files(client, &resolved.artifact_uri).await?;
    Ok(LoadedModel {
        package,
        uri: resolved
            .model_id
            .as_ref()
            .map_or(uri, |id| format!("models:/{id}")),
        run_id: Some(run_id.clone()),
        name: resolved.name,
        version: resolved.version,
        model_id: resolved.model_id,
        artifact_uri: resolved.artifact_uri,
    })
}

/// What a `models:/…` (or `runs:/…`) URI resolves to; `Ok(None)` when it
/// names nothing yet (no Production version, no such alias).
pub async fn from_uri(client: &SlipwayClient, uri: &str) -> anyhow::Result<Option<LoadedModel>> {
    let resolved = match client.resolve_model_uri(uri).await {
        Ok(r) => r,
        Err(e) if e.is_not_found() => return Ok(None),
        // MLflow answers a missing alias with INVALID_PARAMETER_VALUE.
        Err(e) if e.to_string().contains("alias") && e.to_string().contains("not found") => {
            return Ok(None)
        }
        Err(e) => return Err(e).with_context(|| format!("cannot resolve {uri}")),
    };
    let package = read_files(client, &resolved.artifact_uri).await?;
    Ok(Some(LoadedModel {
        package,
        uri: uri.to_string(),
        run_id: resolved.run_id,
        name: resolved.name,
        version: resolved.version,
        model_id: resolved.model_id,
        artifact_uri: resolved.artifact_uri,
    }))
}
