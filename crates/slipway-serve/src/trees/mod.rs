//! XGBoost and LightGBM models in their native files, as `mlflow.xgboost` /
//! `mlflow.lightgbm` log them, scored in process with the library's own
//! arithmetic (the `xgboost` and `lightgbm` submodules name the rules followed).
//!
//! What a row predicts follows the Python object MLflow loads:
//! - a `Booster` (either library): `predict` is the objective's output, so a
//!   binary model's pyfunc returns the probability of class 1 and a
//!   multiclass one the class probabilities; here the prediction is the
//!   class (`p > 0.5`, or the first largest probability, as the libraries'
//!   scikit-learn wrappers decide) with that probability, and `/invocations`
//!   answers the probabilities, as `mlflow models serve` does
//!   ([`crate::model::PyfuncPredict`]);
//! - `XGBClassifier` / `XGBRegressor` (saved natively by `mlflow.xgboost`):
//!   `predict` gives the class (`p > 0.5`, argmax) / the value, with the
//!   early-stopping `best_iteration` when the model has one.
//!
//! Classes are the booster's indices `0..k`. Inputs are the signature's
//! columns in order (the libraries take them by position; XGBoost also
//! checks their names), `NaN` for a missing value.

mod lightgbm;
mod ubjson;
mod xgboost;

use serde_json::Value;
use slipway_train::dataset::ColumnType;
use thiserror::Error;

use crate::error::{LoadError, ScoreError};
use crate::model::{InputColumn, Output, PyfuncPredict, ScoreRow, Scorer};

/// Why a model file cannot be served natively.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum TreeError {
    /// The file is not a model of the library, or is inconsistent.
    #[error("{0}")]
    Malformed(String),
    /// A valid model using something scored here only approximately or not
    /// at all (named), so it is refused rather than mispredicted.
    #[error("not supported natively: {0}")]
    Unsupported(String),
}

/// The library of a native model file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Library {
    XgBoost,
    LightGbm,
}

impl Library {
    /// The MLflow flavor name.
    pub fn flavor(self) -> &'static str {
        match self {
            Library::XgBoost => "xgboost",
            Library::LightGbm => "lightgbm",
        }
    }

    /// The Python classes whose files are scored natively (the flavor's
    /// `model_class`); anything else (a LightGBM scikit-learn wrapper is a
    /// skops/pickle file) is left to a Python worker.
    pub fn native_classes(self) -> &'static [&'static str] {
        match self {
            Library::XgBoost => &[BOOSTER_XGB, XGB_CLASSIFIER, XGB_REGRESSOR],
            Library::LightGbm => &[BOOSTER_LGB],
        }
    }
}

const BOOSTER_XGB: &str = "xgboost.core.Booster";
const XGB_CLASSIFIER: &str = "xgboost.sklearn.XGBClassifier";
const XGB_REGRESSOR: &str = "xgboost.sklearn.XGBRegressor";
const BOOSTER_LGB: &str = "lightgbm.basic.Booster";

/// What a model predicts per row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Task {
    /// `P(class 1)`.
    Binary,
    /// One probability per class.
    Multiclass(usize),
    /// A value.
    Regression,
}

enum Booster {
    XgBoost(Box<xgboost::XgBoost>),
    LightGbm(lightgbm::LightGbm),
}

/// Scores rows with a native XGBoost or LightGBM model.
pub struct TreeScorer {
    booster: Booster,
    task: Task,
    width: usize,
    /// LightGBM: columns typed `float` in the signature, which MLflow hands
    /// to LightGBM as `float32` (XGBoost reads every input as `float32`).
    float32_columns: Vec<usize>,
    /// Input column names, for errors.
    names: Vec<String>,
}

/// A loaded native model: its input columns, what it predicts, what its
/// pyfunc `predict` returns, and the scorer.
pub struct Loaded {
    pub columns: Vec<InputColumn>,
    pub output: Output,
    pub pyfunc: PyfuncPredict,
    pub scorer: TreeScorer,
}

/// Loads a model file of `library` logged as `model_class`; `signature`: the
/// MLmodel's input columns (None: the booster's feature names).
pub fn load(
    library: Library,
    file: &str,
    bytes: &[u8],
    model_class: &str,
    signature: Option<Vec<InputColumn>>,
) -> Result<Loaded, LoadError> {
    let invalid = |message: String| LoadError::Invalid {
        file: file.to_string(),
        message,
    };
    if !library.native_classes().contains(&model_class) {
        return Err(invalid(format!(
            "model_class {model_class} is not scored natively (natively: {})",
            library.native_classes().join(", ")
        )));
    }
    let wrapper = model_class != BOOSTER_XGB && model_class != BOOSTER_LGB;
    let (booster, task, n_features, names, objective) = match library {
        Library::XgBoost => {
            let m = xgboost::XgBoost::load(bytes, wrapper).map_err(|e| invalid(e.to_string()))?;
            let task = match m.kind {
                xgboost::Kind::Binary => Task::Binary,
                xgboost::Kind::Multiclass => Task::Multiclass(m.outputs()),
                xgboost::Kind::Value => Task::Regression,
            };
            let (n, names, objective) =
                (m.n_features(), m.feature_names.clone(), m.objective.clone());
            (Booster::XgBoost(Box::new(m)), task, n, names, objective)
        }
        Library::LightGbm => {
            let text = std::str::from_utf8(bytes)
                .map_err(|_| invalid("not a LightGBM text model (not UTF-8)".into()))?;
            let m = lightgbm::LightGbm::parse(text).map_err(|e| invalid(e.to_string()))?;
            let task = match m.kind {
                lightgbm::Kind::Binary => Task::Binary,
                lightgbm::Kind::Multiclass => Task::Multiclass(m.outputs()),
                lightgbm::Kind::Value => Task::Regression,
            };
            let (n, names, objective) =
                (m.n_features(), m.feature_names.clone(), m.objective.clone());
            (Booster::LightGbm(m), task, n, names, objective)
        }
    };
    match (model_class, task) {
        (XGB_CLASSIFIER, Task::Regression)
        | (XGB_REGRESSOR, Task::Binary | Task::Multiclass(_)) => {
            return Err(invalid(format!(
                "a {model_class} with objective `{objective}`"
            )))
        }
        _ => {}
    }
    let columns = input_columns(library, signature, n_features, &names).map_err(invalid)?;
    let float32_columns = match library {
        Library::LightGbm => columns
            .iter()
            .enumerate()
            .filter(|(_, c)| c.column_type == ColumnType::Float)
            .map(|(i, _)| i)
            .collect(),
        Library::XgBoost => Vec::new(),
    };
    let output = match task {
        Task::Binary => Output::Classifier {
            classes: vec![Value::from(0), Value::from(1)],
            positive: 1,
        },
        Task::Multiclass(k) => Output::Classifier {
            classes: (0..k as i64).map(Value::from).collect(),
            positive: 0,
        },
        Task::Regression => Output::Regressor,
    };
    let pyfunc = match (wrapper, task) {
        (false, Task::Binary) => PyfuncPredict::Probability,
        (false, Task::Multiclass(_)) => PyfuncPredict::ClassProbabilities,
        _ => PyfuncPredict::Prediction,
    };
    let width = match task {
        Task::Multiclass(k) => k,
        _ => 1,
    };
    tracing::debug!(
        "{} model: objective {objective}, {n_features} features, {width} output(s)",
        library.flavor()
    );
    let names = columns.iter().map(|c| c.name.clone()).collect();
    Ok(Loaded {
        columns,
        output,
        pyfunc,
        scorer: TreeScorer {
            booster,
            task,
            width,
            float32_columns,
            names,
        },
    })
}

/// The model's input columns: the signature's, checked against the
/// booster, or the booster's feature names.
fn input_columns(
    library: Library,
    signature: Option<Vec<InputColumn>>,
    n_features: usize,
    names: &[String],
) -> Result<Vec<InputColumn>, String> {
    let Some(columns) = signature else {
        let names: Vec<String> = if names.is_empty() {
            // XGBoost's own default names.
            (0..n_features).map(|i| format!("f{i}")).collect()
        } else {
            names.to_vec()
        };
        return Ok(names
            .into_iter()
            .map(|name| InputColumn {
                name,
                column_type: ColumnType::Double,
                nullable: true,
                categories: None,
                strict_categories: false,
            })
            .collect());
    };
    if columns.len() != n_features {
        return Err(format!(
            "the signature names {} columns but the model takes {n_features} features",
            columns.len()
        ));
    }
    if let Some(c) = columns.iter().find(|c| c.column_type == ColumnType::String) {
        return Err(format!(
            "signature column `{}` is a string; the model takes numbers (encode categories as \
             integer codes)",
            c.name
        ));
    }
    // XGBoost checks the DataFrame's column names against the booster's
    // (`validate_features`), so a model whose names differ from its
    // signature fails every request in MLflow too.
    if library == Library::XgBoost && !names.is_empty() {
        let signature_names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
        if signature_names != names.iter().map(String::as_str).collect::<Vec<_>>() {
            return Err(format!(
                "the signature's columns [{}] are not the booster's feature names [{}] in order",
                signature_names.join(", "),
                names.join(", ")
            ));
        }
    }
    Ok(columns)
}

impl TreeScorer {
    /// The model's outputs for `n` rows: `width` values per row.
    fn outputs(&self, rows: &[f64], n: usize) -> Result<Vec<f64>, ScoreError> {
        let n_features = match &self.booster {
            Booster::XgBoost(m) => m.n_features(),
            Booster::LightGbm(m) => m.n_features(),
        };
        if rows.len() != n * n_features || n_features == 0 {
            return Err(ScoreError::Failed(format!(
                "{} values for {n} rows of {n_features} features",
                rows.len()
            )));
        }
        match &self.booster {
            Booster::XgBoost(m) => {
                // XGBoost reads every input as float32.
                let mut x = Vec::with_capacity(rows.len());
                for (i, &v) in rows.iter().enumerate() {
                    let f = v as f32;
                    if f.is_infinite() {
                        return Err(ScoreError::Rejected(format!(
                            "row {}: `{}` is {v:e}, beyond the float32 range XGBoost reads",
                            i / n_features,
                            self.names.get(i % n_features).map_or("?", String::as_str)
                        )));
                    }
                    x.push(f);
                }
                let out = m.predict(&mut x, n).map_err(ScoreError::Failed)?;
                Ok(out.into_iter().map(f64::from).collect())
            }
            Booster::LightGbm(m) => {
                let mut out = vec![0.0; n * self.width];
                let mut row = vec![0.0; n_features];
                for (values, out) in rows
                    .chunks_exact(n_features)
                    .zip(out.chunks_exact_mut(self.width))
                {
                    for (r, &v) in row.iter_mut().zip(values) {
                        *r = lightgbm::LightGbm::prepare(v);
                    }
                    for &c in &self.float32_columns {
                        row[c] = lightgbm::LightGbm::prepare(f64::from(values[c] as f32));
                    }
                    m.predict_row(&row, out);
                }
                Ok(out)
            }
        }
    }
}

impl Scorer for TreeScorer {
    fn score(&self, rows: &[f64], n_rows: usize) -> Result<Vec<ScoreRow>, ScoreError> {
        let out = self.outputs(rows, n_rows)?;
        Ok(match self.task {
            Task::Binary => out
                .iter()
                .map(|&p| ScoreRow {
                    prediction: Value::from(i64::from(p > 0.5)),
                    probability: Some(p),
                })
                .collect(),
            Task::Multiclass(k) => out
                .chunks_exact(k)
                .map(|p| {
                    // The first largest, as numpy's argmax.
                    let mut best = 0;
                    for (i, &v) in p.iter().enumerate() {
                        if v > p[best] {
                            best = i;
                        }
                    }
                    ScoreRow {
                        prediction: Value::from(best as i64),
                        probability: Some(p[best]),
                    }
                })
                .collect(),
            Task::Regression => out
                .iter()
                .map(|&v| ScoreRow {
                    prediction: Value::from(v),
                    probability: None,
                })
                .collect(),
        })
    }

    fn class_probabilities(
        &self,
        rows: &[f64],
        n_rows: usize,
    ) -> Option<Result<Vec<f64>, ScoreError>> {
        match self.task {
            Task::Multiclass(_) => Some(self.outputs(rows, n_rows)),
            // `[1 - p, p]` as the scikit-learn wrappers compute it: XGBoost
            // in float32, LightGBM in float64.
            Task::Binary => Some(self.outputs(rows, n_rows).map(|p| {
                match self.booster {
                    Booster::XgBoost(_) => p
                        .into_iter()
                        .flat_map(|p| [f64::from(1.0 - p as f32), p])
                        .collect(),
                    Booster::LightGbm(_) => p.into_iter().flat_map(|p| [1.0 - p, p]).collect(),
                }
            })),
            Task::Regression => None,
        }
    }
}
