//! scikit-learn models logged with `mlflow.sklearn.log_model` (or the
//! LightGBM flavor's sklearn wrapper) converted to ONNX once, with parity.
//!
//! [`convert_sklearn`] runs the embedded script `python/convert_sklearn.py`
//! in the model's environment: it loads the model with MLflow's loader for
//! its flavor, converts it with skl2onnx, draws the parity rows (the input
//! example plus [`ConvertOptions::rows`] rows drawn from the signature, the
//! training data profile and the OneHotEncoders' categories, seeded) and
//! scores them with the Python model. [`check_parity`] then loads the ONNX
//! bytes with `slipway-serve`'s [`ServedModel::load`], exactly as serving
//! does, encodes the same rows through serving's validation, scores them,
//! and compares: labels equal, probabilities within [`PARITY_TOLERANCE`]
//! (regressors: values within it, absolute below 1 in magnitude, relative
//! above).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use slipway_serve::model::{ModelFormat, ModelIdentity, Output, ServedModel};

use crate::env::{EnvSpec, Requirement};

/// The converter pins installed into a model's environment.
pub const SKL2ONNX: &str = "skl2onnx==1.20.0";
pub const ONNX: &str = "onnx==1.23.2";
/// For LightGBM / XGBoost estimators inside sklearn wrappers and pipelines.
pub const ONNXMLTOOLS: &str = "onnxmltools==1.16.0";

/// Labels must be equal and probabilities within this (absolute).
pub const PARITY_TOLERANCE: f64 = 1e-5;

/// Generated parity rows besides the input example (at least 1,000).
pub const DEFAULT_PARITY_ROWS: usize = 2000;

/// Rows scored per call in the parity check (as a large request would be).
const PARITY_BATCH: usize = 512;

/// Differing rows shown in a parity failure.
const SHOWN_DIFFERENCES: usize = 5;

/// The converter script, run with the model's interpreter.
pub const SCRIPT: &str = include_str!("../python/convert_sklearn.py");

/// Why a model did not get an ONNX graph that serves as it predicts.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// The model (or a step inside it) has no ONNX conversion.
    #[error("{estimator} cannot be converted to ONNX: {message}")]
    Unconvertible { estimator: String, message: String },
    /// The graph converted but the serving engine cannot load or run it.
    #[error("the converted ONNX graph cannot be served: {0}")]
    Unservable(String),
    /// The served graph does not predict as the Python model.
    #[error("{}", .0.failure_summary())]
    Parity(Box<ParityReport>),
    /// The converter script failed for another reason.
    #[error("the converter failed: {message}{}", if output.is_empty() { String::new() } else { format!("\n--- converter output (last lines) ---\n{output}") })]
    Script { message: String, output: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ConvertError {
    let context = context.into();
    move |source| ConvertError::Io { context, source }
}

/// What `MLmodel` says about a scikit-learn model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SklearnModel {
    /// `sklearn`, `lightgbm` (its sklearn wrapper) or `python_function`.
    pub flavor: String,
    /// The serialized model (`model.skops`, `model.pkl`).
    pub file: String,
    /// `skops`, `pickle`, `cloudpickle`.
    pub serialization_format: Option<String>,
    pub sklearn_version: Option<String>,
    pub mlflow_version: Option<String>,
}

fn yaml_str(v: Option<&serde_yaml_ng::Value>) -> Option<String> {
    match v? {
        serde_yaml_ng::Value::String(s) => Some(s.clone()),
        serde_yaml_ng::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The scikit-learn model an `MLmodel` describes, or why it is not one.
pub fn sklearn_model(mlmodel: &[u8]) -> Result<SklearnModel, String> {
    let doc: serde_yaml_ng::Value =
        serde_yaml_ng::from_slice(mlmodel).map_err(|e| format!("MLmodel is not YAML: {e}"))?;
    let flavors = doc.get("flavors").and_then(|f| f.as_mapping());
    let names: Vec<String> = flavors
        .map(|m| {
            m.keys()
                .filter_map(|k| k.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let flavor = |name: &str| doc.get("flavors").and_then(|f| f.get(name));
    let mlflow_version = yaml_str(doc.get("mlflow_version"));
    let build = |flavor: &str, conf: &serde_yaml_ng::Value, file_key: &str| -> Result<_, String> {
        let file = yaml_str(conf.get(file_key))
            .ok_or_else(|| format!("the {flavor} flavor in MLmodel names no `{file_key}`"))?;
        Ok(SklearnModel {
            flavor: flavor.to_string(),
            file,
            serialization_format: yaml_str(conf.get("serialization_format")),
            sklearn_version: yaml_str(conf.get("sklearn_version")),
            mlflow_version: mlflow_version.clone(),
        })
    };
    if let Some(conf) = flavor("sklearn") {
        return build("sklearn", conf, "pickled_model");
    }
    if let Some(conf) = flavor("lightgbm") {
        let class = yaml_str(conf.get("model_class")).unwrap_or_default();
        if class.starts_with("lightgbm.sklearn.") {
            return build("lightgbm", conf, "data");
        }
    }
    if let Some(conf) = flavor("python_function") {
        if yaml_str(conf.get("loader_module")).as_deref() == Some("mlflow.sklearn") {
            return build("python_function", conf, "model_path");
        }
    }
    Err(format!(
        "flavors [{}] are not a scikit-learn model",
        names.join(", ")
    ))
}

/// What the converter needs in the model's environment: `extras` to
/// install on top of the model's requirements (the pinned converters, and
/// mlflow when the requirements lack it), and `model_modules` the model's
/// requirements must provide.
pub fn converter_requirements(
    model: &SklearnModel,
    spec: Option<&EnvSpec>,
) -> (Vec<Requirement>, Vec<Requirement>) {
    let mut extras = vec![
        Requirement::new("skl2onnx", SKL2ONNX),
        Requirement::new("onnx", ONNX),
    ];
    let gbdt = model.flavor == "lightgbm"
        || spec.is_some_and(|s| s.requires("lightgbm") || s.requires("xgboost"));
    if gbdt {
        extras.push(Requirement::new("onnxmltools", ONNXMLTOOLS));
    }
    let mlflow = match &model.mlflow_version {
        Some(v) => format!("mlflow=={v}"),
        None => "mlflow".into(),
    };
    if let Some(spec) = spec {
        if !spec.requires("mlflow") && !spec.requires("mlflow-skinny") {
            extras.push(Requirement::new("mlflow", mlflow.clone()));
        }
    }
    let sklearn = match &model.sklearn_version {
        Some(v) => format!("scikit-learn=={v}"),
        None => "scikit-learn".into(),
    };
    let mut modules = vec![
        Requirement::new("mlflow", mlflow),
        Requirement::new("sklearn", sklearn),
    ];
    if model.flavor == "lightgbm" {
        modules.push(Requirement::new("lightgbm", "lightgbm"));
    }
    (extras, modules)
}

/// How the parity rows are drawn.
#[derive(Debug, Clone)]
pub struct ConvertOptions {
    /// Rows drawn besides the input example's.
    pub rows: usize,
    pub seed: u64,
    /// The run's training data profile (`data_profile.json`), if it has one.
    pub profile: Option<PathBuf>,
    /// The converter process is stopped after this long.
    pub timeout: Duration,
}

impl Default for ConvertOptions {
    fn default() -> Self {
        ConvertOptions {
            rows: DEFAULT_PARITY_ROWS,
            seed: 0,
            profile: None,
            timeout: CONVERTER_TIMEOUT,
        }
    }
}

/// What the Python model predicts for the parity rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "task", rename_all = "lowercase")]
pub enum Expected {
    Classifier {
        classes: Vec<Value>,
        labels: Vec<Value>,
        proba: Vec<Vec<f64>>,
    },
    Regressor {
        values: Vec<f64>,
    },
}

/// The parity rows (raw values, in `columns` order) and the Python model's answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParityRows {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
    /// The first `example_rows` rows are the logged input example.
    pub example_rows: usize,
    #[serde(flatten)]
    pub expected: Expected,
}

/// A converted model, not yet checked.
#[derive(Debug, Clone)]
pub struct Conversion {
    pub onnx: Vec<u8>,
    pub flavor: String,
    /// The serialized model file the converter loaded (relative to the model directory).
    pub source_file: Option<String>,
    pub serialization_format: Option<String>,
    /// The converted estimator's class (`sklearn.pipeline.Pipeline`).
    pub estimator: String,
    /// `columns` (one input per column) or `tensor` (one float tensor).
    pub inputs: String,
    /// python, mlflow, scikit-learn, skl2onnx, onnx, numpy (+ onnxmltools, lightgbm, xgboost).
    pub versions: BTreeMap<String, String>,
    /// Scalers folded into the trees' thresholds instead of converted (so the float32
    /// graph decides as scikit-learn's float64 scaling does).
    pub folded_scalers: Vec<String>,
    pub parity_rows: ParityRows,
    /// Wall time of the converter process (Python start-up included).
    pub seconds: f64,
}

#[derive(Debug, Deserialize)]
struct ScriptResult {
    status: String,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    traceback: Option<String>,
    #[serde(default)]
    flavor: Option<String>,
    #[serde(default)]
    source_file: Option<String>,
    #[serde(default)]
    serialization_format: Option<String>,
    #[serde(default)]
    estimator: Option<String>,
    #[serde(default)]
    unconvertible_estimator: Option<String>,
    #[serde(default)]
    inputs: Option<String>,
    #[serde(default)]
    versions: BTreeMap<String, String>,
    #[serde(default)]
    folded_into_trees: Vec<String>,
}

/// Lines of converter output kept for an error.
const OUTPUT_TAIL_LINES: usize = 30;

/// The converter is stopped after this long by default (loading, converting
/// and scoring a model takes seconds; a large forest, a minute or two).
pub const CONVERTER_TIMEOUT: Duration = Duration::from_secs(20 * 60);

/// Converts the model in `model_dir` with the interpreter `python` (the
/// model's environment, holding skl2onnx and onnx) and scores the parity rows.
pub fn convert_sklearn(
    python: &Path,
    model_dir: &Path,
    options: &ConvertOptions,
) -> Result<Conversion, ConvertError> {
    let work = tempfile::Builder::new()
        .prefix("slipway-convert-")
        .tempdir()
        .map_err(io("cannot create a temporary directory"))?;
    let script = work.path().join("convert_sklearn.py");
    std::fs::write(&script, SCRIPT).map_err(io("cannot write the converter script"))?;
    let out_dir = work.path().join("out");
    let mut cmd = Command::new(python);
    cmd.arg(&script)
        .arg(model_dir)
        .arg(&out_dir)
        .args(["--rows", &options.rows.to_string()])
        .args(["--seed", &options.seed.to_string()]);
    if let Some(p) = &options.profile {
        cmd.arg("--profile").arg(p);
    }
    cmd.env("MLFLOW_DISABLE_TELEMETRY", "true")
        .env("DO_NOT_TRACK", "true")
        .env("PYTHONUNBUFFERED", "1")
        .current_dir(work.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    tracing::debug!("running {cmd:?}");
    let mut child = cmd
        .spawn()
        .map_err(io(format!("cannot run {}", python.display())))?;
    let (output, timed_out) = collect_lines(&mut child, options.timeout);
    let status = child
        .wait()
        .map_err(io(format!("waiting for {}", python.display())))?;
    let seconds = started.elapsed().as_secs_f64();
    let tail = output[output.len().saturating_sub(OUTPUT_TAIL_LINES)..].join("\n");
    if timed_out {
        return Err(ConvertError::Script {
            message: format!(
                "stopped after {} s without finishing",
                options.timeout.as_secs()
            ),
            output: tail,
        });
    }
    let result: ScriptResult = match std::fs::read(out_dir.join("result.json")) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| ConvertError::Script {
            message: format!("unreadable result.json: {e}"),
            output: tail.clone(),
        })?,
        Err(_) => {
            return Err(ConvertError::Script {
                message: format!("{} exited with {status} without a result", python.display()),
                output: tail,
            })
        }
    };
    match result.status.as_str() {
        "ok" => {}
        "unconvertible" => {
            return Err(ConvertError::Unconvertible {
                estimator: result
                    .unconvertible_estimator
                    .or(result.estimator)
                    .unwrap_or_else(|| "the model".into()),
                message: result.message.unwrap_or_default(),
            })
        }
        _ => {
            let mut output = tail;
            if let Some(tb) = result.traceback {
                output = tb.trim_end().to_string();
            }
            return Err(ConvertError::Script {
                message: result.message.unwrap_or_else(|| format!("exit {status}")),
                output,
            });
        }
    }
    let onnx = std::fs::read(out_dir.join("model.onnx")).map_err(io("cannot read model.onnx"))?;
    let parity_rows: ParityRows = serde_json::from_slice(
        &std::fs::read(out_dir.join("parity.json")).map_err(io("cannot read parity.json"))?,
    )
    .map_err(|e| ConvertError::Script {
        message: format!("unreadable parity.json: {e}"),
        output: String::new(),
    })?;
    Ok(Conversion {
        onnx,
        flavor: result.flavor.unwrap_or_default(),
        source_file: result.source_file,
        serialization_format: result.serialization_format,
        estimator: result.estimator.unwrap_or_default(),
        inputs: result.inputs.unwrap_or_default(),
        versions: result.versions,
        folded_scalers: result.folded_into_trees,
        parity_rows,
        seconds,
    })
}

/// Every line the child writes to stdout and stderr (logged at debug);
/// true when it ran past `timeout` and was killed.
fn collect_lines(child: &mut std::process::Child, timeout: Duration) -> (Vec<String>, bool) {
    let (rx, readers) = crate::lines::child_lines(child);
    let deadline = Instant::now() + timeout;
    let mut lines = Vec::new();
    let mut timed_out = false;
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => {
                tracing::debug!(target: "slipway_python::converter", "{line}");
                lines.push(line);
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                // A converter that hangs must not hold a server's start forever.
                let _ = child.kill();
                timed_out = true;
                break;
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    for r in readers {
        let _ = r.join();
    }
    (lines, timed_out)
}

/// One row where serving and Python disagree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowDifference {
    /// Index in the parity rows (the example's rows first).
    pub row: usize,
    /// The row's values by column.
    pub input: serde_json::Map<String, Value>,
    /// Python's label (classifiers) or value (regressors).
    pub expected: Value,
    /// Serving's answer.
    pub got: Value,
    /// Python's and serving's probability (classifiers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_probability: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub got_probability: Option<f64>,
    /// The difference compared with the tolerance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub difference: Option<f64>,
    /// Why serving refused the row, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}

/// The parity check's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParityReport {
    pub rows: usize,
    pub example_rows: usize,
    /// `classifier` or `regressor`.
    pub task: String,
    pub tolerance: f64,
    /// Classifiers: largest |P(serving) - P(Python)| over the rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_probability_diff: Option<f64>,
    /// Regressors: largest |a - b| / max(1, |b|) (absolute below 1, relative above).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_value_diff: Option<f64>,
    pub label_mismatches: usize,
    /// Rows whose probability (classifiers) or value (regressors) differs by more than the tolerance.
    pub value_mismatches: usize,
    /// Rows serving's validation refused.
    pub refused_rows: usize,
    /// Rows with any difference (a label, a value, or refused).
    pub differing_rows: usize,
    /// The first rows that differ.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub differences: Vec<RowDifference>,
}

impl ParityReport {
    pub fn holds(&self) -> bool {
        self.label_mismatches == 0 && self.value_mismatches == 0 && self.refused_rows == 0
    }

    /// "2003 rows (3 from the input example): labels equal, max probability difference 2.4e-8 (tolerance 1e-5)".
    pub fn summary(&self) -> String {
        let rows = if self.example_rows > 0 {
            format!(
                "{} rows ({} from the input example)",
                self.rows, self.example_rows
            )
        } else {
            format!("{} rows", self.rows)
        };
        match self.task.as_str() {
            "classifier" => format!(
                "{rows}: {}, max probability difference {:.1e} (tolerance {:.0e})",
                if self.label_mismatches == 0 {
                    "labels equal".to_string()
                } else {
                    format!("{} labels differ", self.label_mismatches)
                },
                self.max_probability_diff.unwrap_or(0.0),
                self.tolerance
            ),
            _ => format!(
                "{rows}: max value difference {:.1e} (absolute, relative above 1; tolerance {:.0e})",
                self.max_value_diff.unwrap_or(0.0),
                self.tolerance
            ),
        }
    }

    /// Which rows differ, and how.
    pub fn failure_summary(&self) -> String {
        let bad = self.differing_rows;
        let mut parts = Vec::new();
        if self.label_mismatches > 0 {
            parts.push(format!("labels differ on {}", self.label_mismatches));
        }
        if self.value_mismatches > 0 {
            let (what, max) = if self.task == "classifier" {
                ("probabilities", self.max_probability_diff)
            } else {
                ("values", self.max_value_diff)
            };
            parts.push(format!(
                "{what} differ by more than {:.0e} on {} (up to {:.2e})",
                self.tolerance,
                self.value_mismatches,
                max.unwrap_or(f64::NAN)
            ));
        }
        if self.refused_rows > 0 {
            parts.push(format!("serving refuses {}", self.refused_rows));
        }
        let mut s = format!(
            "the ONNX graph does not predict as the Python model on {bad} of {} parity rows ({})",
            self.rows,
            parts.join(", ")
        );
        for d in &self.differences {
            s.push_str(&format!(
                "\n  row {}: {}",
                d.row,
                Value::Object(d.input.clone())
            ));
            if let Some(r) = &d.refused {
                s.push_str(&format!(" refused: {r}"));
                continue;
            }
            s.push_str(&format!(" Python {}", d.expected));
            if let Some(p) = d.expected_probability {
                s.push_str(&format!(" (P={p:.6})"));
            }
            s.push_str(&format!(", ONNX {}", d.got));
            if let Some(p) = d.got_probability {
                s.push_str(&format!(" (P={p:.6})"));
            }
            if let Some(diff) = d.difference {
                s.push_str(&format!(", difference {diff:.2e}"));
            }
        }
        s
    }
}

/// Labels equal as values: numbers by value (`1` equals `1.0`).
fn same_label(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Bool(x), Value::Number(y)) | (Value::Number(y), Value::Bool(x)) => {
            y.as_f64() == Some(f64::from(u8::from(*x)))
        }
        _ => a == b,
    }
}

/// Loads `onnx` with serving's loader and the model's `MLmodel` (its
/// signature), as `slipway serve` does.
pub fn load_served(onnx: &[u8], mlmodel: &[u8]) -> Result<ServedModel, ConvertError> {
    let format = ModelFormat::Onnx {
        file: "model.onnx".into(),
    };
    ServedModel::load(ModelIdentity::default(), mlmodel, &format, |name| {
        (name == "model.onnx").then(|| onnx.to_vec())
    })
    .map_err(|e| ConvertError::Unservable(e.to_string()))
}

/// Scores the parity rows with serving's ONNX path and compares them with
/// the Python model's answers. `Err(Parity)` when they differ.
pub fn check_parity(conversion: &Conversion, mlmodel: &[u8]) -> Result<ParityReport, ConvertError> {
    let model = load_served(&conversion.onnx, mlmodel)?;
    let parity = &conversion.parity_rows;
    // Serving's column order, from the parity rows' order.
    let index: Vec<usize> = model
        .columns
        .iter()
        .map(|c| {
            parity
                .columns
                .iter()
                .position(|p| *p == c.name)
                .ok_or_else(|| {
                    ConvertError::Unservable(format!(
                    "the served model takes a column `{}` that the signature's parity rows lack",
                    c.name
                ))
                })
        })
        .collect::<Result<_, _>>()?;
    match (&model.output, &parity.expected) {
        (Output::Classifier { classes, .. }, Expected::Classifier { classes: want, .. }) => {
            if classes.len() != want.len()
                || !classes.iter().zip(want).all(|(a, b)| same_label(a, b))
            {
                return Err(ConvertError::Unservable(format!(
                    "the ONNX graph's classes {} differ from the model's {}",
                    Value::from(classes.clone()),
                    Value::from(want.clone())
                )));
            }
        }
        (Output::Regressor, Expected::Regressor { .. }) => {}
        (Output::Classifier { .. }, _) => {
            return Err(ConvertError::Unservable(
                "the ONNX graph is a classifier but the model is a regressor".into(),
            ))
        }
        (Output::Regressor, _) => {
            return Err(ConvertError::Unservable(
                "the ONNX graph is a regressor but the model is a classifier".into(),
            ))
        }
        (Output::Json { .. }, _) => {
            return Err(ConvertError::Unservable(
                "the ONNX graph was loaded as a Python model, not a classifier or regressor".into(),
            ))
        }
    }
    let n = parity.rows.len();
    let mut report = ParityReport {
        rows: n,
        example_rows: parity.example_rows,
        task: match parity.expected {
            Expected::Classifier { .. } => "classifier".into(),
            Expected::Regressor { .. } => "regressor".into(),
        },
        tolerance: PARITY_TOLERANCE,
        max_probability_diff: None,
        max_value_diff: None,
        label_mismatches: 0,
        value_mismatches: 0,
        refused_rows: 0,
        differing_rows: 0,
        differences: Vec::new(),
    };
    let input_of = |r: usize| -> serde_json::Map<String, Value> {
        parity
            .columns
            .iter()
            .cloned()
            .zip(parity.rows[r].iter().cloned())
            .collect()
    };
    let width = model.columns.len();
    let mut start = 0;
    while start < n {
        let end = (start + PARITY_BATCH).min(n);
        // Rows serving's validation accepts, encoded as serving encodes them.
        let mut encoded = Vec::with_capacity((end - start) * width);
        let mut accepted = Vec::with_capacity(end - start);
        for r in start..end {
            let row: Vec<Value> = index
                .iter()
                .map(|&i| parity.rows[r].get(i).cloned().unwrap_or(Value::Null))
                .collect();
            let mut problems = Vec::new();
            let mut cells = Vec::with_capacity(width);
            slipway_serve::validate::encode_row_values(
                &model.columns,
                &row,
                &format!("[{r}]"),
                &mut cells,
                &mut problems,
            );
            if problems.is_empty() {
                encoded.extend(cells);
                accepted.push(r);
            } else {
                report.refused_rows += 1;
                report.differing_rows += 1;
                if report.differences.len() < SHOWN_DIFFERENCES {
                    report.differences.push(RowDifference {
                        row: r,
                        input: input_of(r),
                        expected: Value::Null,
                        got: Value::Null,
                        expected_probability: None,
                        got_probability: None,
                        difference: None,
                        refused: Some(
                            problems
                                .iter()
                                .map(ToString::to_string)
                                .collect::<Vec<_>>()
                                .join("; "),
                        ),
                    });
                }
            }
        }
        let scored = model
            .scorer
            .score(&encoded, accepted.len())
            .map_err(|e| ConvertError::Unservable(format!("scoring the parity rows: {e}")))?;
        for (&r, got) in accepted.iter().zip(&scored) {
            let difference = match &parity.expected {
                Expected::Classifier {
                    classes,
                    labels,
                    proba,
                } => {
                    let label_ok = same_label(&labels[r], &got.prediction);
                    // The probability serving returns: the positive class's
                    // (binary), else the predicted class's.
                    let k = if classes.len() == 2 {
                        Some(1)
                    } else {
                        classes.iter().position(|c| same_label(c, &got.prediction))
                    };
                    let want = k.and_then(|k| proba[r].get(k).copied());
                    let diff = match (want, got.probability) {
                        (Some(w), Some(g)) => (w - g).abs(),
                        _ => f64::INFINITY,
                    };
                    let max = report.max_probability_diff.get_or_insert(0.0);
                    *max = max.max(diff);
                    let value_ok = diff <= PARITY_TOLERANCE;
                    if !label_ok {
                        report.label_mismatches += 1;
                    }
                    if !value_ok {
                        report.value_mismatches += 1;
                    }
                    (!(label_ok && value_ok)).then(|| RowDifference {
                        row: r,
                        input: input_of(r),
                        expected: labels[r].clone(),
                        got: got.prediction.clone(),
                        expected_probability: want,
                        got_probability: got.probability,
                        difference: Some(diff),
                        refused: None,
                    })
                }
                Expected::Regressor { values } => {
                    let want = values[r];
                    let g = got.prediction.as_f64().unwrap_or(f64::NAN);
                    let diff = (g - want).abs() / want.abs().max(1.0);
                    let diff = if diff.is_nan() { f64::INFINITY } else { diff };
                    let max = report.max_value_diff.get_or_insert(0.0);
                    *max = max.max(diff);
                    if diff > PARITY_TOLERANCE {
                        report.value_mismatches += 1;
                    }
                    (diff > PARITY_TOLERANCE).then(|| RowDifference {
                        row: r,
                        input: input_of(r),
                        expected: Value::from(want),
                        got: got.prediction.clone(),
                        expected_probability: None,
                        got_probability: None,
                        difference: Some(diff),
                        refused: None,
                    })
                }
            };
            if let Some(d) = difference {
                report.differing_rows += 1;
                if report.differences.len() < SHOWN_DIFFERENCES {
                    report.differences.push(d);
                }
            }
        }
        start = end;
    }
    if report.holds() {
        Ok(report)
    } else {
        Err(ConvertError::Parity(Box::new(report)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SKOPS_MLMODEL: &str = "flavors:\n  python_function:\n    env:\n      conda: conda.yaml\n      virtualenv: python_env.yaml\n    loader_module: mlflow.sklearn\n    model_path: model.skops\n    predict_fn: predict\n    python_version: 3.11.7\n  sklearn:\n    code: null\n    pickled_model: model.skops\n    serialization_format: skops\n    sklearn_version: 1.9.1\n    skops_trusted_types:\n    - sklearn.tree._tree.Tree\n    - numpy.dtype\nmlflow_version: 3.17.2\nsignature:\n  inputs: '[{\"type\": \"long\", \"name\": \"tenure\", \"required\": true}, {\"type\": \"double\", \"name\": \"charges\", \"required\": true}]'\n";

    #[test]
    fn reads_the_sklearn_flavor() {
        let m = sklearn_model(SKOPS_MLMODEL.as_bytes()).unwrap();
        assert_eq!(m.flavor, "sklearn");
        assert_eq!(m.file, "model.skops");
        assert_eq!(m.serialization_format.as_deref(), Some("skops"));
        assert_eq!(m.sklearn_version.as_deref(), Some("1.9.1"));
        assert_eq!(m.mlflow_version.as_deref(), Some("3.17.2"));
    }

    #[test]
    fn reads_lightgbm_wrappers_and_pyfunc_only_models() {
        let lgb = "flavors:\n  lightgbm:\n    data: model.skops\n    model_class: lightgbm.sklearn.LGBMClassifier\n    serialization_format: skops\n";
        let m = sklearn_model(lgb.as_bytes()).unwrap();
        assert_eq!(
            (m.flavor.as_str(), m.file.as_str()),
            ("lightgbm", "model.skops")
        );
        let booster =
            "flavors:\n  lightgbm:\n    data: model.lgb\n    model_class: lightgbm.basic.Booster\n";
        let err = sklearn_model(booster.as_bytes()).unwrap_err();
        assert!(err.contains("[lightgbm]"), "{err}");
        let pyfunc = "flavors:\n  python_function:\n    loader_module: mlflow.sklearn\n    model_path: model.pkl\n";
        assert_eq!(
            sklearn_model(pyfunc.as_bytes()).unwrap().flavor,
            "python_function"
        );
        let custom = "flavors:\n  python_function:\n    loader_module: mlflow.pyfunc.model\n    python_model: python_model.pkl\n";
        assert!(sklearn_model(custom.as_bytes())
            .unwrap_err()
            .contains("not a scikit-learn model"));
    }

    #[test]
    fn converter_requirements_follow_the_model() {
        let m = sklearn_model(SKOPS_MLMODEL.as_bytes()).unwrap();
        let spec = EnvSpec {
            requirements: vec!["mlflow==3.17.2".into(), "scikit-learn==1.9.1".into()],
            ..Default::default()
        };
        let (extras, modules) = converter_requirements(&m, Some(&spec));
        let extras: Vec<&str> = extras.iter().map(|r| r.requirement.as_str()).collect();
        assert_eq!(extras, [SKL2ONNX, ONNX]);
        let modules: Vec<&str> = modules.iter().map(|r| r.requirement.as_str()).collect();
        assert_eq!(modules, ["mlflow==3.17.2", "scikit-learn==1.9.1"]);
        // LightGBM inside: onnxmltools; no mlflow in the requirements: added.
        let spec = EnvSpec {
            requirements: vec!["lightgbm==4.7.0".into()],
            ..Default::default()
        };
        let (extras, _) = converter_requirements(&m, Some(&spec));
        let extras: Vec<&str> = extras.iter().map(|r| r.requirement.as_str()).collect();
        assert_eq!(extras, [SKL2ONNX, ONNX, ONNXMLTOOLS, "mlflow==3.17.2"]);
    }

    fn diff_report() -> ParityReport {
        ParityReport {
            rows: 2003,
            example_rows: 3,
            task: "classifier".into(),
            tolerance: PARITY_TOLERANCE,
            max_probability_diff: Some(2.5e-3),
            max_value_diff: None,
            label_mismatches: 1,
            value_mismatches: 2,
            refused_rows: 0,
            differing_rows: 2,
            differences: vec![RowDifference {
                row: 17,
                input: serde_json::from_str(r#"{"tenure": 3, "plan": "basic"}"#).unwrap(),
                expected: Value::from(1),
                got: Value::from(0),
                expected_probability: Some(0.5012),
                got_probability: Some(0.4987),
                difference: Some(2.5e-3),
                refused: None,
            }],
        }
    }

    #[test]
    fn parity_failures_name_the_rows() {
        let r = diff_report();
        assert!(!r.holds());
        let s = r.failure_summary();
        assert!(
            s.starts_with(
                "the ONNX graph does not predict as the Python model on 2 of 2003 parity rows \
                 (labels differ on 1, probabilities differ by more than 1e-5 on 2 (up to 2.50e-3))"
            ),
            "{s}"
        );
        assert!(
            s.contains("row 17: {\"plan\":\"basic\",\"tenure\":3} Python 1 (P=0.501200), ONNX 0 (P=0.498700), difference 2.50e-3"),
            "{s}"
        );
        let err = ConvertError::Parity(Box::new(r)).to_string();
        assert!(err.contains("row 17"), "{err}");
    }

    #[test]
    fn parity_summaries() {
        let mut r = diff_report();
        r.label_mismatches = 0;
        r.value_mismatches = 0;
        r.max_probability_diff = Some(2.4e-8);
        r.differences.clear();
        assert!(r.holds());
        assert_eq!(
            r.summary(),
            "2003 rows (3 from the input example): labels equal, max probability difference 2.4e-8 (tolerance 1e-5)"
        );
        r.task = "regressor".into();
        r.max_value_diff = Some(3e-7);
        assert!(
            r.summary().contains("max value difference 3.0e-7"),
            "{}",
            r.summary()
        );
    }

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/onnx/fixtures");

    /// tests/onnx's skl2onnx DataFrame pipeline (one input per column), with
    /// onnxruntime's answers as the "Python" side and its signature.
    fn frame_fixture() -> (Conversion, Vec<u8>) {
        let exp: Value = serde_json::from_str(
            &std::fs::read_to_string(format!("{FIXTURES}/gbc_frame_churn.expected.json")).unwrap(),
        )
        .unwrap();
        let onnx = std::fs::read(format!("{FIXTURES}/gbc_frame_churn.onnx")).unwrap();
        let cols = exp["columns"].as_object().unwrap();
        let columns: Vec<String> = cols.keys().cloned().collect();
        let n = exp["n_rows"].as_u64().unwrap() as usize;
        let rows = (0..n)
            .map(|r| columns.iter().map(|c| cols[c][r][0].clone()).collect())
            .collect();
        let labels = exp["label"].as_array().unwrap().clone();
        let proba = exp["probabilities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                p.as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_f64().unwrap())
                    .collect()
            })
            .collect();
        let signature = r#"[{"type": "string", "name": "plan", "required": true}, {"type": "string", "name": "region", "required": true}, {"type": "string", "name": "contract", "required": true}, {"type": "long", "name": "tenure_months", "required": true}, {"type": "float", "name": "monthly_charges", "required": false}, {"type": "long", "name": "support_tickets", "required": true}, {"type": "long", "name": "addons", "required": true}]"#;
        let mlmodel = format!(
            "flavors:\n  sklearn:\n    pickled_model: model.pkl\nsignature:\n  inputs: '{signature}'\n"
        );
        let conversion = Conversion {
            onnx,
            flavor: "sklearn".into(),
            source_file: Some("model.pkl".into()),
            serialization_format: Some("cloudpickle".into()),
            estimator: "sklearn.pipeline.Pipeline".into(),
            inputs: "columns".into(),
            versions: BTreeMap::new(),
            folded_scalers: Vec::new(),
            parity_rows: ParityRows {
                columns,
                rows,
                example_rows: 0,
                expected: Expected::Classifier {
                    classes: vec![Value::from(0), Value::from(1)],
                    labels,
                    proba,
                },
            },
            seconds: 0.0,
        };
        (conversion, mlmodel.into_bytes())
    }

    #[test]
    fn parity_holds_through_the_serving_path() {
        let (conversion, mlmodel) = frame_fixture();
        let report = check_parity(&conversion, &mlmodel).unwrap();
        assert_eq!(report.rows, 240);
        assert_eq!((report.label_mismatches, report.refused_rows), (0, 0));
        let max = report.max_probability_diff.unwrap();
        assert!(max <= PARITY_TOLERANCE, "{max}");
    }

    #[test]
    fn parity_failures_come_from_the_rows_that_differ() {
        let (mut conversion, mlmodel) = frame_fixture();
        let Expected::Classifier { labels, proba, .. } = &mut conversion.parity_rows.expected
        else {
            unreachable!()
        };
        // Row 3: a probability off by 1e-3; row 5: the other label.
        proba[3][1] += 1e-3;
        labels[5] = Value::from(1 - labels[5].as_i64().unwrap());
        // Row 7: a contract the model's encoder refuses (handle_unknown="error").
        let contract = conversion
            .parity_rows
            .columns
            .iter()
            .position(|c| c == "contract")
            .unwrap();
        conversion.parity_rows.rows[7][contract] = Value::from("weekly");
        let Err(ConvertError::Parity(report)) = check_parity(&conversion, &mlmodel) else {
            panic!("parity held")
        };
        assert_eq!(
            (
                report.label_mismatches,
                report.value_mismatches,
                report.refused_rows
            ),
            (1, 1, 1)
        );
        let rows: Vec<usize> = report.differences.iter().map(|d| d.row).collect();
        assert_eq!(rows, [7, 3, 5]);
        assert!(report.differences[0]
            .refused
            .as_deref()
            .unwrap()
            .contains("unknown category string \"weekly\""));
        let diff = report.differences[1].difference.unwrap();
        assert!((diff - 1e-3).abs() < 1e-5, "{diff}");
        let text = ConvertError::Parity(report).to_string();
        assert!(text.contains("on 3 of 240 parity rows"), "{text}");
    }

    #[test]
    fn a_graph_the_signature_does_not_fit_is_unservable() {
        let (conversion, _) = frame_fixture();
        let mlmodel = "flavors:\n  sklearn:\n    pickled_model: model.pkl\nsignature:\n  inputs: '[{\"type\": \"double\", \"name\": \"x\", \"required\": true}]'\n";
        let err = check_parity(&conversion, mlmodel.as_bytes()).unwrap_err();
        assert!(matches!(err, ConvertError::Unservable(_)), "{err}");
        assert!(err.to_string().contains("signature does not name"), "{err}");
    }

    /// A stand-in interpreter: a shell script.
    #[cfg(unix)]
    fn fake_python(dir: &Path, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join("python");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[cfg(unix)]
    #[test]
    fn a_converter_without_a_result_or_that_hangs_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let python = fake_python(tmp.path(), "echo 'Traceback: boom' >&2; exit 1");
        let err = convert_sklearn(&python, tmp.path(), &ConvertOptions::default()).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, ConvertError::Script { .. }), "{text}");
        assert!(
            text.contains("without a result") && text.contains("Traceback: boom"),
            "{text}"
        );

        let python = fake_python(tmp.path(), "exec sleep 30");
        let started = Instant::now();
        let options = ConvertOptions {
            timeout: Duration::from_millis(300),
            ..ConvertOptions::default()
        };
        let err = convert_sklearn(&python, tmp.path(), &options)
            .unwrap_err()
            .to_string();
        assert!(err.contains("stopped after"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[cfg(unix)]
    #[test]
    fn the_script_result_names_the_unconvertible_estimator() {
        // What the script writes for a step skl2onnx has no converter for.
        let tmp = tempfile::tempdir().unwrap();
        let python = fake_python(
            tmp.path(),
            r#"mkdir -p "$3" && printf '%s' '{"status": "unconvertible", "estimator": "sklearn.pipeline.Pipeline", "unconvertible_estimator": "__main__.Clip", "message": "skl2onnx has no converter for __main__.Clip (MissingShapeCalculator)"}' > "$3/result.json"; exit 3"#,
        );
        let err = convert_sklearn(&python, tmp.path(), &ConvertOptions::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "__main__.Clip cannot be converted to ONNX: skl2onnx has no converter for __main__.Clip (MissingShapeCalculator)"
        );
    }

    #[test]
    fn labels_compare_by_value() {
        assert!(same_label(&Value::from(1), &serde_json::json!(1.0)));
        assert!(same_label(&Value::from("yes"), &Value::from("yes")));
        assert!(!same_label(&Value::from("1"), &Value::from(1)));
        assert!(same_label(&Value::from(true), &Value::from(1)));
    }

    #[test]
    fn parity_rows_read_the_script_output() {
        let json = r#"{"columns": ["a", "b"], "types": ["long", "string"], "example_rows": 1,
            "rows": [[1, "x"], [2, null]], "task": "classifier", "classes": [0, 1],
            "labels": [0, 1], "proba": [[0.9, 0.1], [0.2, 0.8]]}"#;
        let rows: ParityRows = serde_json::from_str(json).unwrap();
        assert_eq!(rows.rows.len(), 2);
        let Expected::Classifier { proba, .. } = &rows.expected else {
            panic!("{rows:?}")
        };
        assert_eq!(proba[1], [0.2, 0.8]);
        let json = r#"{"columns": ["a"], "example_rows": 0, "rows": [[1.5]], "task": "regressor", "values": [3.25]}"#;
        let rows: ParityRows = serde_json::from_str(json).unwrap();
        assert_eq!(rows.expected, Expected::Regressor { values: vec![3.25] });
    }
}
