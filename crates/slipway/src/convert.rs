//! scikit-learn models served natively: the one workflow behind `slipway
//! serve` (a model with the `sklearn` flavor) and `slipway models convert`.
//!
//! resolve → local copy of the model directory → is there a stored, still
//! valid conversion? → else: the model's Python environment → skl2onnx →
//! parity through serving's ONNX path → store the graph with the model
//! (`<model dir>/slipway/model.onnx`, `slipway/conversion.json`, and the
//! tag `slipway.onnx` on the model version, or on the logged model when the
//! URI names no version), so the next start loads it instead of converting.
//!
//! A stored conversion is valid while its record's format is this one, the
//! model file it was converted from has the same SHA-256, and the stored
//! graph has the SHA-256 the record names.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use slipway_client::{ResolvedModel, SlipwayClient, Tag};
use slipway_python::convert::{self as sk, ConvertOptions, SklearnModel};
use slipway_python::env::{self, EnvManager, EnvOptions, EnvProgress, EnvRequest, EnvSpec};
use slipway_serve::model::{ModelFormat, ModelIdentity, ServedModel};

/// The model version (or logged model) tag recording the stored conversion.
pub const TAG: &str = "slipway.onnx";
/// The stored graph, relative to the model's artifact directory.
pub const ONNX_ARTIFACT: &str = "slipway/model.onnx";
/// The stored conversion record, beside it.
pub const RECORD_ARTIFACT: &str = "slipway/conversion.json";
/// Bump when a conversion made before must not be reused.
pub const RECORD_FORMAT: &str = "slipway-conversion/1";

/// `--env-manager`: where the converter's (and workers') Python comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EnvManagerArg {
    /// A virtual environment built from the model's requirements (cached under $SLIPWAY_HOME/envs)
    Virtualenv,
    /// The current Python ($SLIPWAY_PYTHON, else python3) as it is
    Local,
}

impl From<EnvManagerArg> for EnvManager {
    fn from(a: EnvManagerArg) -> EnvManager {
        match a {
            EnvManagerArg::Virtualenv => EnvManager::Virtualenv,
            EnvManagerArg::Local => EnvManager::Local,
        }
    }
}

/// The file the served graph is loaded as.
const SERVED_FILE: &str = "model.onnx";

/// What a conversion was made from, with what, and how well it predicts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversionRecord {
    pub format: String,
    /// The graph, relative to the model's artifact directory.
    pub onnx: String,
    pub onnx_sha256: String,
    pub source: SourceRecord,
    /// `columns` (one ONNX input per column) or `tensor`.
    pub inputs: String,
    /// python, mlflow, scikit-learn, skl2onnx, onnx, numpy (+ onnxmltools, lightgbm, xgboost).
    pub converter: BTreeMap<String, String>,
    /// Scalers folded into the trees' thresholds rather than converted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub folded_scalers: Vec<String>,
    pub parity: ParitySummary,
    pub env_manager: EnvManager,
    pub converted_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceRecord {
    /// `sklearn`, `lightgbm` or `python_function`.
    pub flavor: String,
    pub file: String,
    pub sha256: String,
    #[serde(default)]
    pub serialization_format: Option<String>,
    /// The converted estimator's class.
    pub estimator: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParitySummary {
    pub rows: usize,
    pub example_rows: usize,
    pub task: String,
    pub tolerance: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_probability_diff: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_value_diff: Option<f64>,
    pub label_mismatches: usize,
}

impl ParitySummary {
    fn of(r: &sk::ParityReport) -> ParitySummary {
        ParitySummary {
            rows: r.rows,
            example_rows: r.example_rows,
            task: r.task.clone(),
            tolerance: r.tolerance,
            max_probability_diff: r.max_probability_diff,
            max_value_diff: r.max_value_diff,
            label_mismatches: r.label_mismatches,
        }
    }

    /// "2003 rows, max probability difference 2.4e-8".
    pub fn describe(&self) -> String {
        match (self.max_probability_diff, self.max_value_diff) {
            (Some(p), _) => format!(
                "{} rows, labels equal, max probability difference {p:.1e}",
                self.rows
            ),
            (_, Some(v)) => format!("{} rows, max value difference {v:.1e}", self.rows),
            _ => format!("{} rows", self.rows),
        }
    }
}

impl ConversionRecord {
    /// "skl2onnx 1.20.0, onnx 1.23.2, scikit-learn 1.9.1, Python 3.11.7".
    pub fn converter_versions(&self) -> String {
        let mut parts = Vec::new();
        for key in [
            "skl2onnx",
            "onnxmltools",
            "onnx",
            "scikit-learn",
            "lightgbm",
            "xgboost",
            "mlflow",
        ] {
            if let Some(v) = self.converter.get(key) {
                parts.push(format!("{key} {v}"));
            }
        }
        if let Some(v) = self.converter.get("python") {
            parts.push(format!("Python {v}"));
        }
        parts.join(", ")
    }
}

/// Seconds spent in each step of a conversion.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct ConvertTimes {
    pub env: f64,
    pub convert: f64,
    pub parity: f64,
    pub store: f64,
}

/// Where a conversion was stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredAt {
    /// The graph's artifact location.
    pub artifact: String,
    /// "model version churn/3", "logged model m-…", or none.
    pub tag_on: Option<String>,
}

/// How the served graph was obtained.
#[derive(Debug, Clone, PartialEq)]
pub enum Obtained {
    /// Loaded from the conversion stored with the model.
    Stored,
    /// Converted now; `stored` says where it was saved, or why it was not.
    Converted {
        times: ConvertTimes,
        stored: Result<StoredAt, String>,
    },
}

/// A scikit-learn model as an ONNX graph that serves as it predicts.
#[derive(Debug)]
pub struct NativeModel {
    pub onnx: Vec<u8>,
    /// The model's `MLmodel` (its signature names and types the columns).
    pub mlmodel: Vec<u8>,
    pub input_example: Option<Vec<u8>>,
    pub record: ConversionRecord,
    pub obtained: Obtained,
}

impl NativeModel {
    /// Loads and warms it with serving's ONNX path.
    pub fn load(self, identity: ModelIdentity) -> anyhow::Result<ServedModel> {
        let format = ModelFormat::Onnx {
            file: SERVED_FILE.into(),
        };
        let mut files: HashMap<String, Vec<u8>> = HashMap::new();
        files.insert(SERVED_FILE.into(), self.onnx);
        if let Some(example) = self.input_example {
            files.insert(slipway_train::package::INPUT_EXAMPLE_FILE.into(), example);
        }
        let model = ServedModel::load(identity, &self.mlmodel, &format, |n| files.remove(n))
            .context("cannot load the converted ONNX graph")?;
        model
            .warm_up()
            .context("the converted ONNX graph fails on its input example")?;
        Ok(model)
    }
}

/// What [`native_onnx_for`] found.
#[derive(Debug)]
pub enum ConvertOutcome {
    Native(Box<NativeModel>),
    /// No native path: which estimator, which rows, or which package.
    NotConvertible {
        reason: String,
    },
}

/// Whether `MLmodel` describes a model this module converts (its sklearn,
/// LightGBM-wrapper or sklearn-pyfunc flavor).
pub fn is_sklearn(mlmodel: &[u8]) -> bool {
    sk::sklearn_model(mlmodel).is_ok()
}

/// The serialized model's SHA-256.
fn sha256_file(path: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// "churn-classifier version 3" / "logged model m-…" / the artifact URI.
fn what(resolved: &ResolvedModel) -> String {
    match (&resolved.name, &resolved.version, &resolved.model_id) {
        (Some(n), Some(v), _) => format!("{n} version {v}"),
        (_, _, Some(id)) => format!("logged model {id}"),
        _ => resolved.artifact_uri.clone(),
    }
}

/// The record a tag or `slipway/conversion.json` holds, if any.
async fn stored_record(
    client: &SlipwayClient,
    resolved: &ResolvedModel,
) -> Option<ConversionRecord> {
    let tag = match (&resolved.name, &resolved.version, &resolved.model_id) {
        (Some(name), Some(version), _) => match client.get_model_version(name, version).await {
            Ok(v) => v.tags.into_iter().find(|t| t.key == TAG).map(|t| t.value),
            Err(e) => {
                tracing::debug!("cannot read the tags of {name} version {version}: {e}");
                None
            }
        },
        (_, _, Some(id)) => match client.get_logged_model(id).await {
            Ok(m) => m
                .info
                .tags
                .into_iter()
                .find(|t| t.key == TAG)
                .map(|t| t.value),
            Err(e) => {
                tracing::debug!("cannot read the tags of logged model {id}: {e}");
                None
            }
        },
        _ => None,
    };
    let text = match tag {
        Some(t) => t.into_bytes(),
        // A conversion stored where no tag could be set (a runs:/ URI).
        None => client
            .read_artifact(&resolved.artifact_uri, RECORD_ARTIFACT)
            .await
            .ok()?
            .to_vec(),
    };
    match serde_json::from_slice(&text) {
        Ok(r) => Some(r),
        Err(e) => {
            tracing::warn!(
                "{}: the stored conversion record is unreadable ({e}): converting again",
                what(resolved)
            );
            None
        }
    }
}

/// The stored graph, when the record is valid for this model file.
async fn stored_graph(
    client: &SlipwayClient,
    resolved: &ResolvedModel,
    record: &ConversionRecord,
    source_sha256: &str,
) -> Option<Vec<u8>> {
    let stale = |why: &str| {
        tracing::info!(
            "{}: the stored ONNX conversion is not used ({why}): converting again",
            what(resolved)
        );
        None
    };
    if let Some(why) = stale_record(record, source_sha256) {
        return stale(&why);
    }
    let bytes = match client
        .read_artifact(&resolved.artifact_uri, &record.onnx)
        .await
    {
        Ok(b) => b.to_vec(),
        Err(e) => return stale(&format!("cannot read {}: {e}", record.onnx)),
    };
    if sha256(&bytes) != record.onnx_sha256 {
        return stale(&format!(
            "{} does not match its recorded SHA-256",
            record.onnx
        ));
    }
    Some(bytes)
}

/// Why a stored record does not describe a conversion of this model file, if it does not.
fn stale_record(record: &ConversionRecord, source_sha256: &str) -> Option<String> {
    if record.format != RECORD_FORMAT {
        return Some(format!("format {} is not {RECORD_FORMAT}", record.format));
    }
    if record.source.sha256 != source_sha256 {
        return Some("it was made from another model file".into());
    }
    // The graph must sit under the model's own directory (a tag names the path).
    if record.onnx.starts_with('/') || record.onnx.split('/').any(|s| s.is_empty() || s == "..") {
        return Some(format!(
            "{} is not a path inside the model directory",
            record.onnx
        ));
    }
    None
}

/// Stores the graph and its record with the model.
async fn store(
    client: &SlipwayClient,
    resolved: &ResolvedModel,
    onnx: &[u8],
    record: &ConversionRecord,
) -> anyhow::Result<StoredAt> {
    let base = &resolved.artifact_uri;
    client
        .upload_artifact_bytes(base, ONNX_ARTIFACT, onnx.to_vec())
        .await
        .with_context(|| format!("cannot upload {ONNX_ARTIFACT} to {base}"))?;
    client
        .upload_artifact_bytes(
            base,
            RECORD_ARTIFACT,
            serde_json::to_vec_pretty(record).expect("serialisable record"),
        )
        .await
        .with_context(|| format!("cannot upload {RECORD_ARTIFACT} to {base}"))?;
    let value = serde_json::to_string(record).expect("serialisable record");
    let tag_on = match (&resolved.name, &resolved.version, &resolved.model_id) {
        (Some(name), Some(version), _) => {
            client
                .set_model_version_tag(name, version, TAG, &value)
                .await
                .with_context(|| format!("cannot tag {name} version {version}"))?;
            Some(format!("model version {name}/{version}"))
        }
        (_, _, Some(id)) => {
            client
                .set_logged_model_tags(
                    id,
                    vec![Tag {
                        key: TAG.into(),
                        value,
                    }],
                )
                .await
                .with_context(|| format!("cannot tag logged model {id}"))?;
            Some(format!("logged model {id}"))
        }
        _ => None,
    };
    Ok(StoredAt {
        artifact: format!("{}/{ONNX_ARTIFACT}", base.trim_end_matches('/')),
        tag_on,
    })
}

/// The run's training data profile (`data_profile.json`, as `slipway
/// train` logs it), written into `dir`, when the run has one.
async fn run_profile(
    client: &SlipwayClient,
    resolved: &ResolvedModel,
    dir: &Path,
) -> Option<PathBuf> {
    let run = client.get_run(resolved.run_id.as_deref()?).await.ok()?;
    let bytes = client
        .read_artifact(&run.info.artifact_uri, "data_profile.json")
        .await
        .ok()?;
    if let Err(e) = serde_json::from_slice::<slipway_data::profile::DatasetProfile>(&bytes) {
        tracing::debug!("the run's data_profile.json is not a Slipway profile ({e}): not used");
        return None;
    }
    let path = dir.join("data_profile.json");
    std::fs::write(&path, &bytes).ok()?;
    Some(path)
}

/// Installer output worth showing while an environment builds (the rest is
/// at debug level, and all of it in the error when the install fails).
fn is_milestone(line: &str) -> bool {
    let t = line.trim_start();
    [
        "Resolved ",
        "Prepared ",
        "Installed ",
        "Uninstalled ",
        "Audited ",
        "Collecting ",
        "Successfully installed",
    ]
    .iter()
    .any(|p| t.starts_with(p))
}

/// Shows environment progress as log lines.
pub fn show_progress(label: &str, event: EnvProgress) {
    match event {
        EnvProgress::Reusing { dir } => {
            tracing::info!("{label}: using the Python environment {}", dir.display())
        }
        EnvProgress::Warning(w) => tracing::warn!("{label}: {w}"),
        EnvProgress::InstallingUv { dir } => tracing::info!(
            "{label}: installing {} into {} (once)",
            env::UV_REQUIREMENT,
            dir.display()
        ),
        EnvProgress::Creating {
            dir,
            python,
            installer,
        } => tracing::info!(
            "{label}: creating the Python environment {} (Python {python}, {installer})",
            dir.display()
        ),
        EnvProgress::Installing {
            step,
            count,
            packages,
        } => {
            let shown: Vec<&str> = packages.iter().take(6).map(String::as_str).collect();
            let more = packages.len().saturating_sub(shown.len());
            tracing::info!(
                "{label}: {step}: {count} package{} ({}{})",
                if count == 1 { "" } else { "s" },
                shown.join(", "),
                if more > 0 {
                    format!(", +{more} more")
                } else {
                    String::new()
                }
            )
        }
        EnvProgress::Output(line) => {
            if is_milestone(&line) {
                tracing::info!("{label}:   {}", line.trim())
            } else {
                tracing::debug!("{label}:   {line}")
            }
        }
        EnvProgress::Built { dir, seconds } => tracing::info!(
            "{label}: Python environment ready in {seconds:.1} s ({})",
            dir.display()
        ),
    }
}

/// The ONNX graph to serve the scikit-learn model in `model_dir` with: the
/// stored conversion when valid, else converted now (and stored).
pub async fn native_onnx_for(
    client: &SlipwayClient,
    resolved: &ResolvedModel,
    model_dir: &Path,
    env_manager: EnvManager,
    home: &Path,
) -> anyhow::Result<ConvertOutcome> {
    native_onnx(client, resolved, model_dir, env_manager, home, false).await
}

/// [`native_onnx_for`]; `force` converts even when a valid conversion is stored.
pub async fn native_onnx(
    client: &SlipwayClient,
    resolved: &ResolvedModel,
    model_dir: &Path,
    env_manager: EnvManager,
    home: &Path,
    force: bool,
) -> anyhow::Result<ConvertOutcome> {
    let label = what(resolved);
    let mlmodel_path = model_dir.join("MLmodel");
    let mlmodel = std::fs::read(&mlmodel_path)
        .with_context(|| format!("cannot read {}", mlmodel_path.display()))?;
    let model: SklearnModel = match sk::sklearn_model(&mlmodel) {
        Ok(m) => m,
        Err(reason) => return Ok(ConvertOutcome::NotConvertible { reason }),
    };
    let source = model_dir.join(&model.file);
    if !source.is_file() {
        return Ok(ConvertOutcome::NotConvertible {
            reason: format!(
                "MLmodel names {} ({} flavor) but the model directory has no such file",
                model.file, model.flavor
            ),
        });
    }
    let source_sha256 = sha256_file(&source)?;
    let input_example =
        std::fs::read(model_dir.join(slipway_train::package::INPUT_EXAMPLE_FILE)).ok();

    if !force {
        if let Some(record) = stored_record(client, resolved).await {
            if let Some(onnx) = stored_graph(client, resolved, &record, &source_sha256).await {
                return Ok(ConvertOutcome::Native(Box::new(NativeModel {
                    onnx,
                    mlmodel,
                    input_example,
                    record,
                    obtained: Obtained::Stored,
                })));
            }
        }
    }

    tracing::info!(
        "{label}: converting the scikit-learn model ({}, {}) to ONNX (once: the result is stored with the model)",
        model.file,
        model.serialization_format.as_deref().unwrap_or(&model.flavor)
    );
    let work = tempfile::Builder::new()
        .prefix("slipway-convert-")
        .tempdir()
        .context("cannot create a temporary directory")?;
    let profile = run_profile(client, resolved, work.path()).await;
    if profile.is_some() {
        tracing::info!("{label}: parity rows drawn from the run's training data profile too");
    }
    let blocking = {
        let model_dir = model_dir.to_path_buf();
        let home = home.to_path_buf();
        let mlmodel = mlmodel.clone();
        let label = label.clone();
        tokio::task::spawn_blocking(move || {
            convert_blocking(
                &label,
                &model,
                &model_dir,
                &mlmodel,
                env_manager,
                &home,
                profile,
            )
        })
    };
    let converted = blocking.await.context("the conversion panicked")?;
    let (conversion, report, mut times) = match converted? {
        Ok(done) => done,
        Err(reason) => return Ok(ConvertOutcome::NotConvertible { reason }),
    };
    let record = ConversionRecord {
        format: RECORD_FORMAT.into(),
        onnx: ONNX_ARTIFACT.into(),
        onnx_sha256: sha256(&conversion.onnx),
        source: SourceRecord {
            flavor: conversion.flavor.clone(),
            file: conversion.source_file.clone().unwrap_or_else(|| {
                sk::sklearn_model(&mlmodel)
                    .map(|m| m.file)
                    .unwrap_or_default()
            }),
            sha256: source_sha256,
            serialization_format: conversion.serialization_format.clone(),
            estimator: conversion.estimator.clone(),
        },
        inputs: conversion.inputs.clone(),
        converter: conversion.versions.clone(),
        folded_scalers: conversion.folded_scalers.clone(),
        parity: ParitySummary::of(&report),
        env_manager,
        converted_ms: slipway_core::now_millis(),
    };
    tracing::info!(
        "{label}: converted {} in {:.1} s; parity holds on {}",
        record.source.estimator,
        times.convert,
        report.summary()
    );
    let started = Instant::now();
    let stored = store(client, resolved, &conversion.onnx, &record)
        .await
        .map_err(|e| crate::error_chain(&e));
    times.store = started.elapsed().as_secs_f64();
    match &stored {
        Ok(at) => tracing::info!(
            "{label}: stored the ONNX graph as {}{}",
            at.artifact,
            at.tag_on
                .as_ref()
                .map(|t| format!(" (tag {TAG} on {t})"))
                .unwrap_or_default()
        ),
        Err(e) => tracing::warn!(
            "{label}: serving the converted graph, but it could not be stored with the model \
             (the next start converts again): {e}"
        ),
    }
    Ok(ConvertOutcome::Native(Box::new(NativeModel {
        onnx: conversion.onnx,
        mlmodel,
        input_example,
        record,
        obtained: Obtained::Converted { times, stored },
    })))
}

type Converted = (sk::Conversion, sk::ParityReport, ConvertTimes);

/// Environment, conversion and parity (blocking: processes and scoring).
/// `Ok(Err(reason))` when the model has no native path.
fn convert_blocking(
    label: &str,
    model: &SklearnModel,
    model_dir: &Path,
    mlmodel: &[u8],
    env_manager: EnvManager,
    home: &Path,
    profile: Option<PathBuf>,
) -> anyhow::Result<Result<Converted, String>> {
    let mut times = ConvertTimes::default();
    let spec = EnvSpec::read(model_dir).ok();
    let (extras, modules) = sk::converter_requirements(model, spec.as_ref());
    let started = Instant::now();
    let python = env::python_for_model(
        env_manager,
        &EnvRequest {
            model_dir,
            extras: &extras,
            model_modules: &modules,
        },
        &EnvOptions::from_env(home),
        &mut |event| show_progress(label, event),
    );
    times.env = started.elapsed().as_secs_f64();
    let python = match python {
        Ok(p) => p,
        Err(e) => {
            return Ok(Err(format!(
                "no Python environment for the converter (--env-manager {env_manager}): {e}"
            )))
        }
    };
    let started = Instant::now();
    let conversion = match sk::convert_sklearn(
        &python.python,
        model_dir,
        &ConvertOptions {
            profile,
            ..ConvertOptions::default()
        },
    ) {
        Ok(c) => c,
        Err(e) => return Ok(Err(e.to_string())),
    };
    times.convert = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let report = sk::check_parity(&conversion, mlmodel);
    times.parity = started.elapsed().as_secs_f64();
    match report {
        Ok(report) => Ok(Ok((conversion, report, times))),
        Err(e) => Ok(Err(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> ConversionRecord {
        ConversionRecord {
            format: RECORD_FORMAT.into(),
            onnx: ONNX_ARTIFACT.into(),
            onnx_sha256: "ab".repeat(32),
            source: SourceRecord {
                flavor: "sklearn".into(),
                file: "model.skops".into(),
                sha256: "cd".repeat(32),
                serialization_format: Some("skops".into()),
                estimator: "sklearn.pipeline.Pipeline".into(),
            },
            inputs: "columns".into(),
            converter: [
                ("python", "3.11.7"),
                ("skl2onnx", "1.20.0"),
                ("onnx", "1.23.2"),
                ("scikit-learn", "1.9.1"),
                ("mlflow", "3.17.2"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            folded_scalers: Vec::new(),
            parity: ParitySummary {
                rows: 2003,
                example_rows: 3,
                task: "classifier".into(),
                tolerance: 1e-5,
                max_probability_diff: Some(2.4e-8),
                max_value_diff: None,
                label_mismatches: 0,
            },
            env_manager: EnvManager::Local,
            converted_ms: 1_700_000_000_000,
        }
    }

    #[test]
    fn the_record_round_trips_and_fits_in_a_tag() {
        let r = record();
        let tag = serde_json::to_string(&r).unwrap();
        // MLflow's limit on a model version tag's value.
        assert!(tag.len() < 5000, "{}", tag.len());
        assert_eq!(serde_json::from_str::<ConversionRecord>(&tag).unwrap(), r);
        assert!(tag.contains(r#""env_manager":"local""#), "{tag}");
        assert_eq!(
            r.converter_versions(),
            "skl2onnx 1.20.0, onnx 1.23.2, scikit-learn 1.9.1, mlflow 3.17.2, Python 3.11.7"
        );
        assert_eq!(
            r.parity.describe(),
            "2003 rows, labels equal, max probability difference 2.4e-8"
        );
    }

    #[test]
    fn a_stored_record_is_used_only_for_the_file_it_was_made_from() {
        let r = record();
        let source = r.source.sha256.clone();
        assert_eq!(stale_record(&r, &source), None);
        let why = stale_record(&r, &"ef".repeat(32)).unwrap();
        assert!(why.contains("another model file"), "{why}");
        let mut old = r.clone();
        old.format = "slipway-conversion/0".into();
        assert!(stale_record(&old, &source)
            .unwrap()
            .contains("slipway-conversion/0"));
        for path in [
            "../../other/model.onnx",
            "/etc/passwd",
            "slipway//model.onnx",
        ] {
            let mut elsewhere = r.clone();
            elsewhere.onnx = path.into();
            assert!(stale_record(&elsewhere, &source).is_some(), "{path}");
        }
    }

    #[test]
    fn installer_milestones() {
        assert!(is_milestone("Resolved 41 packages in 1.20s"));
        assert!(is_milestone("Installed 41 packages in 80ms"));
        assert!(is_milestone("Collecting numpy==2.4.6"));
        assert!(!is_milestone(" + numpy==2.4.6"));
        assert!(!is_milestone("  Downloading numpy-2.4.6.whl (16.9 MB)"));
    }
}
