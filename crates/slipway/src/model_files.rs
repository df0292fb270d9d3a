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
            "the model at {artifact_uri} has flavors [{}], not `slipway`: validation scores models \
             trained with `slipway train` (`slipway serve` runs the other flavors)",
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

/// Most files a model directory may hold when copied locally.
const MAX_MODEL_DIR_ENTRIES: usize = 10_000;

/// A local copy of the model directory at `artifact_uri` (every file, the
/// tree kept), for what needs the files on disk: Python workers and the ONNX
/// converter. Kept under `$SLIPWAY_HOME/models/<digest of server and URI>`
/// and reused: a model version's files do not change. The copy appears
/// whole or not at all (downloaded beside it, then renamed).
pub async fn local_model_dir(
    client: &SlipwayClient,
    artifact_uri: &str,
    home: &std::path::Path,
) -> anyhow::Result<std::path::PathBuf> {
    use sha2::{Digest, Sha256};
    let key = hex::encode(Sha256::digest(
        format!("{}\n{artifact_uri}", client.base_url()).as_bytes(),
    ));
    let root = home.join("models");
    let dir = root.join(&key[..32]);
    if tokio::fs::metadata(dir.join("MLmodel")).await.is_ok() {
        return Ok(dir);
    }
    tokio::fs::create_dir_all(&root)
        .await
        .with_context(|| format!("cannot create {}", root.display()))?;
    let partial = tempfile::Builder::new()
        .prefix(&format!(".{}-", &key[..32]))
        .tempdir_in(&root)
        .with_context(|| format!("cannot create a directory in {}", root.display()))?;
    let files = client
        .download_artifact_dir(artifact_uri, partial.path(), MAX_MODEL_DIR_ENTRIES)
        .await
        .with_context(|| format!("cannot download the model at {artifact_uri}"))?;
    if !files.iter().any(|f| f == "MLmodel") {
        anyhow::bail!("no MLmodel file at {artifact_uri}: not an MLflow model directory");
    }
    let partial = partial.keep();
    match tokio::fs::rename(&partial, &dir).await {
        Ok(()) => Ok(dir),
        // Another process finished the same copy first.
        Err(_) if tokio::fs::metadata(dir.join("MLmodel")).await.is_ok() => {
            let _ = tokio::fs::remove_dir_all(&partial).await;
            Ok(dir)
        }
        Err(e) => {
            let _ = tokio::fs::remove_dir_all(&partial).await;
            Err(e).with_context(|| format!("cannot move the model into {}", dir.display()))
        }
    }
}
