//! What the server scores with: a model's input columns (from its signature),
//! what it predicts, and a [`Scorer`] that turns encoded rows into
//! predictions. Slipway's own models, ONNX models (one float tensor here;
//! one input per column in [`crate::onnx_columns`]) and XGBoost / LightGBM
//! models in their native files ([`crate::trees`]) are the scorers; all are
//! built from the model directory's files (no I/O here: the caller reads the
//! files). A model Slipway does not run itself (an MLflow `python_function`
//! model, scored by Python worker processes) is a [`RawScorer`]: it takes
//! the validated values as sent and answers any JSON ([`Output::Json`]).

use std::sync::Arc;

use serde_json::Value;
use slipway_onnx::{ElementType, Labels, OnnxModel, OnnxOutputs};
use slipway_train::dataset::ColumnType;
use slipway_train::gbm::Task;
use slipway_train::package::{ModelPackage, INPUT_EXAMPLE_FILE, METADATA_FILE, MODEL_FILE};

use crate::error::{LoadError, ScoreError};
use crate::trees::Library;

/// One input column of the model, in the order the model takes them.
#[derive(Debug, Clone, PartialEq)]
pub struct InputColumn {
    pub name: String,
    /// MLflow's column type (`long`, `double`, `string`, ...).
    pub column_type: ColumnType,
    /// False when the signature says `required: true` (no missing values).
    pub nullable: bool,
    /// String columns: the categories seen in training, sorted; a value's
    /// code is its index, anything else is an unseen category (missing).
    pub categories: Option<Vec<String>>,
    /// True when the model fails on a value outside `categories` (an ONNX
    /// OneHotEncoder from scikit-learn's `handle_unknown="error"`, on a
    /// string or an int64 column; then `categories` holds the int64 ones as
    /// text), so such a value is refused as invalid input instead of being
    /// an unseen category.
    pub strict_categories: bool,
}

impl InputColumn {
    pub fn is_numeric(&self) -> bool {
        !matches!(self.column_type, ColumnType::String | ColumnType::Boolean)
    }
}

/// What a model predicts.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// A classifier. `classes` in probability-column order (sorted, as
    /// scikit-learn's `classes_`); `positive` indexes the class whose
    /// probability `/predict` returns (binary models).
    Classifier {
        classes: Vec<Value>,
        positive: usize,
    },
    Regressor,
    /// A model that answers any JSON (an MLflow `python_function` model):
    /// `/invocations` returns its answer as `mlflow models serve` does,
    /// `/predict` and v2 show each row's answer as [`answer_row`] maps it.
    /// `datatype`: the v2 datatype of `predict` when the signature's outputs
    /// name one column type.
    Json {
        datatype: Option<&'static str>,
    },
}

/// One scored row.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreRow {
    /// The predicted label (classifiers: the class value as in training,
    /// an integer for numeric labels) or value (regressors).
    pub prediction: Value,
    /// Classifiers: probability of the positive class; regressors: None.
    pub probability: Option<f64>,
}

/// Scores encoded rows: `rows` is row-major, `n_rows x columns.len()`, NaN
/// for a missing value, categories as their codes.
pub trait Scorer: Send + Sync {
    fn score(&self, rows: &[f64], n_rows: usize) -> Result<Vec<ScoreRow>, ScoreError>;

    /// Whether the scorer can answer now. In-process scorers are ready once
    /// loaded; one backed by other processes may not be (one restarting).
    fn ready(&self) -> bool {
        true
    }

    /// Every class's probability, `n_rows x classes` row-major in class
    /// order, for a classifier whose scorer has them (None: only
    /// [`ScoreRow::probability`] is known).
    fn class_probabilities(
        &self,
        _rows: &[f64],
        _n_rows: usize,
    ) -> Option<Result<Vec<f64>, ScoreError>> {
        None
    }

    /// Some for a model scored from the raw values instead ([`RawScorer`]):
    /// the engine then never calls [`Scorer::score`].
    fn raw(&self) -> Option<&dyn RawScorer> {
        None
    }
}

/// What MLflow's pyfunc `predict` returns for the model, i.e. what
/// `/invocations` answers (as `mlflow models serve` does) unless asked for
/// `predict_proba`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PyfuncPredict {
    /// Each row's [`ScoreRow::prediction`]: labels (classifiers, e.g. a
    /// scikit-learn model) or values (regressors).
    #[default]
    Prediction,
    /// Each row's probability of the positive class: an XGBoost / LightGBM
    /// `Booster` with a binary objective.
    Probability,
    /// Each row's class probabilities ([`Scorer::class_probabilities`]): a
    /// `Booster` with a multiclass objective.
    ClassProbabilities,
}

/// A model scored from the validated values as sent, not an encoded matrix
/// (strings stay strings: such a model has no categories), which answers
/// any JSON: a `python_function` model in Python worker processes.
pub trait RawScorer: Send + Sync {
    /// `rows`: each row's values in column order, validated against the
    /// signature, in the column's JSON type (null: missing). Returns the
    /// model's answer for them, what `mlflow models serve` puts under
    /// `"predictions"`. Blocks until answered, so it is only called off the
    /// async runtime's worker threads. `ScoreError::Rejected`: the model
    /// refused these rows (it raised); `Failed`: no answer (a worker died).
    fn score_raw(&self, rows: Vec<Vec<Value>>) -> Result<Value, ScoreError>;

    /// The processes scoring, for `/health` and `/metrics`.
    fn workers(&self) -> Option<WorkerStats> {
        None
    }

    /// Stops what the scorer runs (worker processes); requests it still
    /// gets fail. Called once no request uses the model (after a hot swap)
    /// and at shutdown.
    fn close(&self) {}
}

/// A snapshot of a [`RawScorer`]'s worker processes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerStats {
    /// Configured worker processes.
    pub workers: usize,
    /// Process ids of the workers running now.
    pub pids: Vec<u32>,
    /// Workers started again after one died or was killed.
    pub restarts: u64,
    /// Batches sent to the workers, the requests and rows in them.
    pub batches: u64,
    pub batch_requests: u64,
    pub batch_rows: u64,
    /// (rows, batches of at most that many rows), cumulative, as
    /// Prometheus histogram buckets (`batches` is the +Inf bucket).
    pub batch_rows_le: Vec<(u64, u64)>,
}

/// One row's answer from a model that answers JSON ([`Output::Json`]), as
/// `/predict`, `/predict/batch` and v2 show it:
/// - an object (a row of a DataFrame answer, a dict): `probability` is its
///   `probability` field when that is a number (else none); `prediction`
///   is its `prediction` field, else its `label` field, else its one field
///   other than `probability`, else the whole object;
/// - anything else (a label, a number, a list): the prediction as it is.
pub fn answer_row(answer: &Value) -> ScoreRow {
    let Value::Object(fields) = answer else {
        return ScoreRow {
            prediction: answer.clone(),
            probability: None,
        };
    };
    let probability = fields.get("probability").and_then(Value::as_f64);
    let prediction = match (fields.get("prediction"), fields.get("label")) {
        (Some(p), _) | (None, Some(p)) => p.clone(),
        _ => {
            let mut others = fields.iter().filter(|(k, _)| *k != "probability");
            match (others.next(), others.next()) {
                (Some((_, only)), None) => only.clone(),
                _ => answer.clone(),
            }
        }
    };
    ScoreRow {
        prediction,
        probability,
    }
}

/// A JSON model's answer for `n` rows, row by row: a list of `n` answers,
/// an object of `n`-long columns (a dict of lists), or, for one row, an
/// answer that is neither. None: the model did not answer row by row.
pub fn answer_rows(predictions: &Value, n: usize) -> Option<Vec<ScoreRow>> {
    match predictions {
        Value::Array(items) if items.len() == n => Some(items.iter().map(answer_row).collect()),
        Value::Object(columns)
            if !columns.is_empty()
                && columns
                    .values()
                    .all(|c| c.as_array().is_some_and(|a| a.len() == n)) =>
        {
            Some(
                (0..n)
                    .map(|i| {
                        let row: serde_json::Map<String, Value> = columns
                            .iter()
                            .map(|(k, c)| (k.clone(), c[i].clone()))
                            .collect();
                        answer_row(&Value::Object(row))
                    })
                    .collect(),
            )
        }
        Value::Array(_) => None,
        one if n == 1 => Some(vec![answer_row(one)]),
        _ => None,
    }
}

/// A validated value as a [`RawScorer`] receives it: as sent, in the
/// column's JSON type (an integer for `long`/`integer`, true/false for a
/// boolean), null for a missing value (null, absent, `"NaN"`). `encoded`
/// is what validation encoded it to.
pub(crate) fn raw_value(col: &InputColumn, value: Option<&Value>, encoded: f64) -> Value {
    match col.column_type {
        // No categories: validation took any string as it is.
        ColumnType::String => match value {
            Some(Value::String(s)) => Value::String(s.clone()),
            _ => Value::Null,
        },
        _ if encoded.is_nan() => Value::Null,
        ColumnType::Boolean => Value::Bool(encoded != 0.0),
        ColumnType::Long | ColumnType::Integer => match value {
            Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Value::Number(n.clone()),
            _ => Value::from(encoded as i64),
        },
        ColumnType::Double | ColumnType::Float => match value {
            Some(Value::Number(n)) => Value::Number(n.clone()),
            _ => Value::from(encoded),
        },
    }
}

/// A loaded model with where it came from.
pub struct ServedModel {
    /// Registered model name (or the logged model id when not registered).
    pub name: String,
    /// Registered model version ("" when not registered).
    pub version: String,
    /// The URI it was loaded from (what the server follows).
    pub uri: String,
    pub run_id: Option<String>,
    pub model_id: Option<String>,
    /// `slipway`, `onnx`, `xgboost` or `lightgbm`.
    pub flavor: &'static str,
    pub columns: Vec<InputColumn>,
    pub output: Output,
    /// What `/invocations` answers by default.
    pub pyfunc: PyfuncPredict,
    pub scorer: Box<dyn Scorer>,
    /// The model's input example as raw rows in column order, if it has one.
    pub example: Option<Vec<Vec<Value>>>,
}

impl std::fmt::Debug for ServedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServedModel")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("uri", &self.uri)
            .field("flavor", &self.flavor)
            .field("columns", &self.columns.len())
            .finish()
    }
}

/// Where a model came from (filled by the caller that resolved the URI).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelIdentity {
    pub name: String,
    pub version: String,
    pub uri: String,
    pub run_id: Option<String>,
    pub model_id: Option<String>,
}

/// What kind of model directory an `MLmodel` file describes.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelFormat {
    /// `slipway train`'s model: read `model.slipway`, `slipway_model.json`.
    Slipway,
    /// An ONNX model: read this file (the onnx flavor's `data`, else `model.onnx`).
    Onnx { file: String },
    /// An XGBoost or LightGBM model in its native file (the flavor's `data`:
    /// `model.ubj`/`.json`/`.xgb`, `model.lgb`), logged as `model_class`.
    Native {
        library: Library,
        file: String,
        model_class: String,
    },
}

impl ModelFormat {
    /// The files to read besides `MLmodel` (optional ones may be absent).
    pub fn files(&self) -> Vec<String> {
        match self {
            ModelFormat::Slipway => vec![
                MODEL_FILE.into(),
                METADATA_FILE.into(),
                INPUT_EXAMPLE_FILE.into(),
            ],
            ModelFormat::Onnx { file } | ModelFormat::Native { file, .. } => {
                vec![file.clone(), INPUT_EXAMPLE_FILE.into()]
            }
        }
    }
}

fn parse_mlmodel(mlmodel: &[u8]) -> Result<serde_yaml_ng::Value, LoadError> {
    serde_yaml_ng::from_slice(mlmodel).map_err(|e| LoadError::Invalid {
        file: "MLmodel".into(),
        message: e.to_string(),
    })
}

fn flavors(doc: &serde_yaml_ng::Value) -> Vec<String> {
    doc.get("flavors")
        .and_then(|f| f.as_mapping())
        .map(|m| {
            m.keys()
                .filter_map(|k| k.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The native file of an `xgboost` / `lightgbm` flavor, when its
/// `model_class` is one scored natively (a Booster, or XGBoost's
/// scikit-learn wrappers, which `mlflow.xgboost` saves in XGBoost's own
/// format). A LightGBM scikit-learn wrapper is a skops/pickle file: None.
fn native_format(doc: &serde_yaml_ng::Value) -> Option<ModelFormat> {
    let flavors = doc.get("flavors")?;
    for (library, default_class) in [
        (Library::XgBoost, "xgboost.core.Booster"),
        (Library::LightGbm, "lightgbm.basic.Booster"),
    ] {
        let Some(flavor) = flavors.get(library.flavor()) else {
            continue;
        };
        // MLmodels written before mlflow 1.22 name no class: a Booster.
        let class = flavor
            .get("model_class")
            .and_then(|c| c.as_str())
            .unwrap_or(default_class);
        let file = flavor.get("data").and_then(|d| d.as_str());
        if let (Some(file), true) = (file, library.native_classes().contains(&class)) {
            return Some(ModelFormat::Native {
                library,
                file: file.to_string(),
                model_class: class.to_string(),
            });
        }
    }
    None
}

/// Decides from `MLmodel` how to load the directory; `has_model_onnx` says
/// whether the directory has a `model.onnx` file (a plain ONNX artifact).
/// A model the server cannot run is refused here, with how to log it instead.
pub fn detect_format(mlmodel: &[u8], has_model_onnx: bool) -> Result<ModelFormat, LoadError> {
    let doc = parse_mlmodel(mlmodel)?;
    let names = flavors(&doc);
    if names.iter().any(|f| f == "slipway") {
        return Ok(ModelFormat::Slipway);
    }
    if let Some(onnx) = doc.get("flavors").and_then(|f| f.get("onnx")) {
        let file = onnx
            .get("data")
            .and_then(|d| d.as_str())
            .unwrap_or("model.onnx")
            .to_string();
        return Ok(ModelFormat::Onnx { file });
    }
    if let Some(native) = native_format(&doc) {
        return Ok(native);
    }
    if has_model_onnx {
        return Ok(ModelFormat::Onnx {
            file: "model.onnx".into(),
        });
    }
    Err(LoadError::Unsupported { flavors: names })
}

/// The flavors `MLmodel` lists (`python_function`, `sklearn`, ...).
pub fn flavor_names(mlmodel: &[u8]) -> Result<Vec<String>, LoadError> {
    Ok(flavors(&parse_mlmodel(mlmodel)?))
}

/// The v2 datatype of a model's answer when the signature's outputs name
/// one column type (`[{"type": "long"}]`), else None.
fn output_datatype(doc: &serde_yaml_ng::Value) -> Option<&'static str> {
    let outputs = doc.get("signature")?.get("outputs")?.as_str()?;
    let specs: Vec<Value> = serde_json::from_str(outputs).ok()?;
    let [spec] = specs.as_slice() else {
        return None;
    };
    Some(match spec.get("type")?.as_str()? {
        "long" | "integer" => "INT64",
        "double" => "FP64",
        "float" => "FP32",
        "boolean" => "BOOL",
        "string" => "BYTES",
        _ => return None,
    })
}

/// The input columns of a model scored from raw values
/// ([`ServedModel::from_raw_scorer`]): its signature's, which it must have.
pub fn raw_model_columns(mlmodel: &[u8]) -> Result<Vec<InputColumn>, LoadError> {
    signature_columns(mlmodel)?.ok_or_else(|| LoadError::Invalid {
        file: "MLmodel".into(),
        message: "the model has no column signature (named columns of MLflow types), which \
                  Slipway validates every request against: log it with \
                  signature=mlflow.models.infer_signature(X, model.predict(X))"
            .into(),
    })
}

/// The signature's input columns from `MLmodel` (column-based signatures
/// only; `None` for a tensor signature or none).
pub fn signature_columns(mlmodel: &[u8]) -> Result<Option<Vec<InputColumn>>, LoadError> {
    let doc = parse_mlmodel(mlmodel)?;
    let Some(inputs) = doc
        .get("signature")
        .and_then(|s| s.get("inputs"))
        .and_then(|i| i.as_str())
    else {
        return Ok(None);
    };
    let specs: Vec<Value> = serde_json::from_str(inputs).map_err(|e| LoadError::Invalid {
        file: "MLmodel".into(),
        message: format!("signature inputs: {e}"),
    })?;
    let mut columns = Vec::with_capacity(specs.len());
    for spec in &specs {
        let Some(name) = spec.get("name").and_then(Value::as_str) else {
            return Ok(None);
        };
        let column_type = match spec.get("type").and_then(Value::as_str) {
            Some("long") => ColumnType::Long,
            Some("integer") => ColumnType::Integer,
            Some("double") => ColumnType::Double,
            Some("float") => ColumnType::Float,
            Some("boolean") => ColumnType::Boolean,
            Some("string") => ColumnType::String,
            // Tensor specs and other types: not a named-column signature.
            _ => return Ok(None),
        };
        columns.push(InputColumn {
            name: name.to_string(),
            column_type,
            nullable: !spec
                .get("required")
                .and_then(Value::as_bool)
                .unwrap_or(true),
            categories: None,
            strict_categories: false,
        });
    }
    Ok(Some(columns))
}

/// Raw example rows from `input_example.json` (`{"columns", "data"}`),
/// reordered to `columns`' order (null for an optional column it leaves
/// out); None when it does not fit.
fn example_rows(bytes: Option<&[u8]>, columns: &[InputColumn]) -> Option<Vec<Vec<Value>>> {
    let v: Value = serde_json::from_slice(bytes?).ok()?;
    let names: Vec<&str> = v
        .get("columns")?
        .as_array()?
        .iter()
        .map(|c| c.as_str())
        .collect::<Option<_>>()?;
    let data = v.get("data")?.as_array()?;
    // An optional column the example leaves out is missing in every row.
    let index: Vec<Option<usize>> = columns
        .iter()
        .map(|c| match names.iter().position(|n| *n == c.name) {
            Some(i) => Some(Some(i)),
            None if c.nullable => Some(None),
            None => None,
        })
        .collect::<Option<_>>()?;
    let mut rows = Vec::new();
    for row in data {
        let row = row.as_array()?;
        rows.push(
            index
                .iter()
                .map(|i| i.and_then(|i| row.get(i)).cloned().unwrap_or(Value::Null))
                .collect(),
        );
    }
    (!rows.is_empty()).then_some(rows)
}

/// A label as JSON: an integer when the training label was numeric.
fn label_value(s: &str) -> Value {
    match s.parse::<i64>() {
        Ok(i) => Value::from(i),
        Err(_) => Value::from(s),
    }
}

/// Slipway's own models (`slipway train`).
pub struct SlipwayScorer {
    package: ModelPackage,
    positive: Value,
    negative: Value,
}

impl Scorer for SlipwayScorer {
    fn score(&self, rows: &[f64], _n_rows: usize) -> Result<Vec<ScoreRow>, ScoreError> {
        let values = self
            .package
            .predict_encoded(rows)
            .map_err(|e| ScoreError::Failed(e.to_string()))?;
        Ok(match self.package.metadata.label.task {
            Task::Binary => {
                let t = self.package.metadata.threshold;
                values
                    .into_iter()
                    .map(|p| ScoreRow {
                        prediction: if p >= t {
                            self.positive.clone()
                        } else {
                            self.negative.clone()
                        },
                        probability: Some(p),
                    })
                    .collect()
            }
            Task::Regression => values
                .into_iter()
                .map(|v| ScoreRow {
                    prediction: Value::from(v),
                    probability: None,
                })
                .collect(),
        })
    }
}

/// ONNX models with one float tensor input (skl2onnx, onnxmltools), through
/// `slipway-onnx`: the named features go into the tensor in signature order.
/// Models with one input per column: [`crate::onnx_columns`].
pub struct OnnxScorer {
    model: OnnxModel,
}

fn label_at(labels: &Labels, i: usize) -> Value {
    match labels {
        Labels::Int64(v) => v.get(i).map_or(Value::Null, |&x| Value::from(x)),
        Labels::String(v) => v.get(i).map_or(Value::Null, |x| Value::from(x.as_str())),
    }
}

fn all_labels(labels: &Labels) -> Vec<Value> {
    (0..labels.len()).map(|i| label_at(labels, i)).collect()
}

/// Scored rows from an ONNX model's outputs: a regressor's first value; a
/// classifier's label, and the positive class's probability (binary) or the
/// predicted class's (multi-class).
pub(crate) fn onnx_score_rows(out: &OnnxOutputs, n_rows: usize) -> Vec<ScoreRow> {
    let mut result = Vec::with_capacity(n_rows);
    if let Some((values, k)) = &out.values {
        for r in 0..n_rows {
            let v = values.get(r * k.max(&1)).copied().unwrap_or(f32::NAN);
            result.push(ScoreRow {
                prediction: Value::from(f64::from(v)),
                probability: None,
            });
        }
        return result;
    }
    for r in 0..n_rows {
        let prediction = out.label.as_ref().map_or(Value::Null, |l| label_at(l, r));
        let probability = out.probabilities.as_ref().and_then(|(p, k)| {
            let k = *k;
            if k == 2 {
                p.get(r * 2 + 1).map(|&v| f64::from(v))
            } else {
                // Multi-class: the predicted class's probability.
                let classes = out.class_labels.as_ref().map(all_labels)?;
                let i = classes.iter().position(|c| *c == prediction)?;
                p.get(r * k + i).map(|&v| f64::from(v))
            }
        });
        result.push(ScoreRow {
            prediction,
            probability,
        });
    }
    result
}

/// What an ONNX model predicts, learnt from one run (`probe`).
fn onnx_output(probe: &OnnxOutputs) -> Output {
    if probe.values.is_some() && probe.label.is_none() {
        Output::Regressor
    } else {
        let classes = probe
            .class_labels
            .as_ref()
            .map(all_labels)
            .unwrap_or_else(|| vec![Value::from(0), Value::from(1)]);
        let positive = if classes.len() == 2 { 1 } else { 0 };
        Output::Classifier { classes, positive }
    }
}

impl Scorer for OnnxScorer {
    fn score(&self, rows: &[f64], n_rows: usize) -> Result<Vec<ScoreRow>, ScoreError> {
        let x: Vec<f32> = rows.iter().map(|&v| v as f32).collect();
        let out = self.model.run_f32(&x, n_rows).map_err(ScoreError::from)?;
        Ok(onnx_score_rows(&out, n_rows))
    }
}

/// One row every column accepts: a known category in a strict column, a
/// missing value where allowed (an unseen category for other string
/// columns), else zero (warm-up and output probing).
fn neutral_row(columns: &[InputColumn]) -> Vec<f64> {
    columns
        .iter()
        .map(|c| match c.column_type {
            ColumnType::String
                if c.strict_categories && c.categories.as_ref().is_some_and(|v| !v.is_empty()) =>
            {
                0.0
            }
            ColumnType::String => f64::NAN,
            _ if c.nullable => f64::NAN,
            _ if c.strict_categories => c
                .categories
                .iter()
                .flatten()
                .find_map(|t| t.parse().ok())
                .unwrap_or(0.0),
            _ => 0.0,
        })
        .collect()
}

impl ServedModel {
    /// Builds the model from its files (`read(name)`: the file's bytes or None).
    pub fn load(
        identity: ModelIdentity,
        mlmodel: &[u8],
        format: &ModelFormat,
        mut read: impl FnMut(&str) -> Option<Vec<u8>>,
    ) -> Result<ServedModel, LoadError> {
        let example = read(INPUT_EXAMPLE_FILE);
        match format {
            ModelFormat::Slipway => {
                let package = ModelPackage::from_files(|n| {
                    if n == "MLmodel" {
                        Some(mlmodel.to_vec())
                    } else {
                        read(n)
                    }
                })
                .map_err(|e| LoadError::Invalid {
                    file: "model".into(),
                    message: e.to_string(),
                })?;
                let columns: Vec<InputColumn> = package
                    .metadata
                    .encoder
                    .columns
                    .iter()
                    .map(|c| InputColumn {
                        name: c.name.clone(),
                        column_type: c.column_type,
                        nullable: c.nullable,
                        categories: c.categories.clone(),
                        strict_categories: false,
                    })
                    .collect();
                let label = &package.metadata.label;
                let (output, positive, negative) = match label.task {
                    Task::Binary => {
                        let pos = label.positive.clone().unwrap_or_else(|| "1".into());
                        let neg = label.negative.clone().unwrap_or_else(|| "0".into());
                        let (pv, nv) = (label_value(&pos), label_value(&neg));
                        // Probability columns in sorted class order, as scikit-learn.
                        let pos_first = match (&pv, &nv) {
                            (Value::Number(a), Value::Number(b)) => {
                                a.as_i64().unwrap_or(1) < b.as_i64().unwrap_or(0)
                            }
                            _ => pos < neg,
                        };
                        let (classes, positive) = if pos_first {
                            (vec![pv.clone(), nv.clone()], 0)
                        } else {
                            (vec![nv.clone(), pv.clone()], 1)
                        };
                        (Output::Classifier { classes, positive }, pv, nv)
                    }
                    Task::Regression => (Output::Regressor, Value::Null, Value::Null),
                };
                let example = example_rows(example.as_deref(), &columns);
                let scorer = SlipwayScorer {
                    package,
                    positive,
                    negative,
                };
                Ok(ServedModel::assemble(
                    identity,
                    "slipway",
                    columns,
                    output,
                    Box::new(scorer),
                    example,
                ))
            }
            ModelFormat::Onnx { file } => {
                let bytes = read(file).ok_or_else(|| LoadError::MissingFile(file.clone()))?;
                let model = OnnxModel::load(&bytes).map_err(|e| LoadError::Onnx(e.to_string()))?;
                let inputs = model.inputs();
                if inputs.len() != 1 || inputs[0].elem_type != ElementType::Float {
                    // A DataFrame pipeline: one input per column, by name.
                    let (columns, scorer) =
                        crate::onnx_columns::plan(model, signature_columns(mlmodel)?)?;
                    let probe = scorer
                        .run(&neutral_row(&columns), 1)
                        .map_err(|e| LoadError::Onnx(e.to_string()))?;
                    let example = example_rows(example.as_deref(), &columns);
                    return Ok(ServedModel::assemble(
                        identity,
                        "onnx",
                        columns,
                        onnx_output(&probe),
                        Box::new(scorer),
                        example,
                    ));
                }
                let width = match inputs[0].shape.as_slice() {
                    [_, w] if *w > 0 => Some(*w as usize),
                    _ => None,
                };
                let columns = match signature_columns(mlmodel)? {
                    Some(cols) => {
                        if let Some(bad) = cols.iter().find(|c| c.column_type == ColumnType::String)
                        {
                            return Err(LoadError::Onnx(format!(
                                "signature column `{}` is a string, but the ONNX model takes one float \
                                 tensor: convert the pipeline with one input per DataFrame column \
                                 (StringTensorType([None, 1]) for string columns) so the graph encodes \
                                 the categories",
                                bad.name
                            )));
                        }
                        if let Some(w) = width {
                            if w != cols.len() {
                                return Err(LoadError::Onnx(format!(
                                    "the signature names {} columns but the ONNX input has {w}",
                                    cols.len()
                                )));
                            }
                        }
                        cols
                    }
                    None => {
                        let w = width.ok_or_else(|| {
                            LoadError::Onnx(
                                "the model has no column signature and its input width is unknown: \
                                 log it with a signature (mlflow.models.infer_signature)"
                                    .into(),
                            )
                        })?;
                        (0..w)
                            .map(|i| InputColumn {
                                name: format!("f{i}"),
                                column_type: ColumnType::Float,
                                nullable: true,
                                categories: None,
                                strict_categories: false,
                            })
                            .collect()
                    }
                };
                // Learn the outputs from one run on a row of zeros.
                let probe = model
                    .run_f32(&vec![0.0; columns.len()], 1)
                    .map_err(|e| LoadError::Onnx(e.to_string()))?;
                let output = onnx_output(&probe);
                let example = example_rows(example.as_deref(), &columns);
                Ok(ServedModel::assemble(
                    identity,
                    "onnx",
                    columns,
                    output,
                    Box::new(OnnxScorer { model }),
                    example,
                ))
            }
            ModelFormat::Native {
                library,
                file,
                model_class,
            } => {
                let bytes = read(file).ok_or_else(|| LoadError::MissingFile(file.clone()))?;
                let loaded = crate::trees::load(
                    *library,
                    file,
                    &bytes,
                    model_class,
                    signature_columns(mlmodel)?,
                )?;
                let example = example_rows(example.as_deref(), &loaded.columns);
                let mut model = ServedModel::assemble(
                    identity,
                    library.flavor(),
                    loaded.columns,
                    loaded.output,
                    Box::new(loaded.scorer),
                    example,
                );
                model.pyfunc = loaded.pyfunc;
                Ok(model)
            }
        }
    }

    /// Builds a model around any scorer (tests, future flavors).
    pub fn from_scorer(
        identity: ModelIdentity,
        columns: Vec<InputColumn>,
        output: Output,
        scorer: Box<dyn Scorer>,
    ) -> ServedModel {
        ServedModel::assemble(identity, "custom", columns, output, scorer, None)
    }

    /// A model scored from raw values by `scorer` (whose [`Scorer::raw`] is
    /// Some), e.g. a `python_function` model in Python workers: its columns
    /// are the signature's (required: requests are validated against it),
    /// its output any JSON; `example`: the `input_example.json` bytes.
    pub fn from_raw_scorer(
        identity: ModelIdentity,
        mlmodel: &[u8],
        scorer: Box<dyn Scorer>,
        example: Option<&[u8]>,
    ) -> Result<ServedModel, LoadError> {
        let doc = parse_mlmodel(mlmodel)?;
        let columns = raw_model_columns(mlmodel)?;
        let example = example_rows(example, &columns);
        Ok(ServedModel::assemble(
            identity,
            "python_function",
            columns,
            Output::Json {
                datatype: output_datatype(&doc),
            },
            scorer,
            example,
        ))
    }

    /// Whether the model takes raw values ([`RawScorer`]) rather than an
    /// encoded matrix.
    pub fn takes_raw(&self) -> bool {
        self.scorer.raw().is_some()
    }

    fn assemble(
        identity: ModelIdentity,
        flavor: &'static str,
        columns: Vec<InputColumn>,
        output: Output,
        scorer: Box<dyn Scorer>,
        example: Option<Vec<Vec<Value>>>,
    ) -> ServedModel {
        ServedModel {
            name: identity.name,
            version: identity.version,
            uri: identity.uri,
            run_id: identity.run_id,
            model_id: identity.model_id,
            flavor,
            columns,
            output,
            pyfunc: PyfuncPredict::Prediction,
            scorer,
            example,
        }
    }

    pub fn is_classifier(&self) -> bool {
        matches!(self.output, Output::Classifier { .. })
    }

    /// Binary classifiers: `[P(class 0), P(class 1)]` in class order.
    pub fn proba_row(&self, p: f64) -> Option<[f64; 2]> {
        match &self.output {
            Output::Classifier { classes, positive } if classes.len() == 2 => {
                Some(if *positive == 1 {
                    [1.0 - p, p]
                } else {
                    [p, 1.0 - p]
                })
            }
            _ => None,
        }
    }

    /// Scores the input example (or a row of missing values): a model that
    /// cannot score is refused before it serves.
    pub fn warm_up(&self) -> Result<(), LoadError> {
        if let Some(raw) = self.scorer.raw() {
            return self.warm_up_raw(raw);
        }
        let rows: Vec<f64> = match &self.example {
            Some(rows) => {
                let (encoded, problems) = crate::validate::encode_positional(&self.columns, rows);
                if !problems.is_empty() {
                    // An example that does not validate still warms the model.
                    neutral_row(&self.columns)
                } else {
                    encoded
                }
            }
            None => neutral_row(&self.columns),
        };
        let n = rows.len() / self.columns.len().max(1);
        for _ in 0..3 {
            self.scorer
                .score(&rows, n)
                .map_err(|e| LoadError::WarmUp(e.to_string()))?;
        }
        Ok(())
    }

    /// A raw model scores its input example once (a Python model is slow
    /// and was already loaded by its workers); without a valid example
    /// there is no row it is known to accept, and loading was the check.
    fn warm_up_raw(&self, raw: &dyn RawScorer) -> Result<(), LoadError> {
        let Some(rows) = &self.example else {
            return Ok(());
        };
        let (encoded, problems) = crate::validate::encode_positional(&self.columns, rows);
        if !problems.is_empty() {
            return Ok(());
        }
        let width = self.columns.len();
        let values = rows
            .iter()
            .enumerate()
            .map(|(r, row)| {
                self.columns
                    .iter()
                    .enumerate()
                    .map(|(c, col)| raw_value(col, row.get(c), encoded[r * width + c]))
                    .collect()
            })
            .collect();
        raw.score_raw(values)
            .map(|_| ())
            .map_err(|e| LoadError::WarmUp(e.to_string()))
    }
}

/// A shared, swappable model.
pub type ModelRef = Arc<ServedModel>;
