//! The one entry point of `slipway train`: a [`ModelSpec`] (model type and
//! scikit-learn-style params from a config file) is checked before any data
//! is read, [`train`] fits it on a [`Matrix`] with a [`FeatureKind`] per
//! column, and the [`TrainedModel`] it returns predicts, saves and loads
//! whatever its type.
//!
//! Saved bytes are a small self-describing container, so a model file says
//! what it is without the config that made it:
//!
//! | bytes | content |
//! |---|---|
//! | 8 | magic `SLPWMODL` |
//! | 4 | format version, u32 LE (1) |
//! | 4 | header length, u32 LE |
//! | n | header: JSON (model type, engine, feature kinds, preprocessing) |
//! | 8 | body length, u64 LE |
//! | m | body: the engine's bytes (hessboost binary, or LR weights as f64 LE) |
//! | 8 | FNV-1a 64 of everything before it, u64 LE |
//!
//! Every part is deterministic, so the same seed and data give the same bytes.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::str::FromStr;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::forest::{self, ForestParams};
use crate::gbm::{
    check_kinds, param_error, GbmModel, GbmParams, GbmTrainer, Matrix, Model, RoundProgress, Task,
    TrainError,
};
use crate::linear::{self, LogisticModel, LogisticParams, Preprocessing};

/// What a feature column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum FeatureKind {
    Numeric,
    /// Codes `0..cardinality` stored as `f64`; NaN (or any other value at
    /// prediction) is a missing or unseen category.
    Categorical {
        cardinality: usize,
    },
}

/// The model types `slipway train` offers; the type sets the task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelType {
    GbmClassifier,
    GbmRegressor,
    LogisticRegression,
    RandomForestClassifier,
    RandomForestRegressor,
}

impl ModelType {
    pub const ALL: [ModelType; 5] = [
        ModelType::GbmClassifier,
        ModelType::GbmRegressor,
        ModelType::LogisticRegression,
        ModelType::RandomForestClassifier,
        ModelType::RandomForestRegressor,
    ];

    pub fn task(self) -> Task {
        match self {
            ModelType::GbmClassifier
            | ModelType::LogisticRegression
            | ModelType::RandomForestClassifier => Task::Binary,
            ModelType::GbmRegressor | ModelType::RandomForestRegressor => Task::Regression,
        }
    }

    /// The config-file name (snake case).
    pub fn as_str(self) -> &'static str {
        match self {
            ModelType::GbmClassifier => "gbm_classifier",
            ModelType::GbmRegressor => "gbm_regressor",
            ModelType::LogisticRegression => "logistic_regression",
            ModelType::RandomForestClassifier => "random_forest_classifier",
            ModelType::RandomForestRegressor => "random_forest_regressor",
        }
    }
}

impl std::fmt::Display for ModelType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ModelType {
    type Err = TrainError;

    fn from_str(s: &str) -> Result<Self, TrainError> {
        ModelType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| TrainError::UnknownModelType {
                name: s.to_string(),
                valid: ModelType::ALL.map(ModelType::as_str).join(", "),
            })
    }
}

/// A model type with its params as written in a config file.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSpec {
    pub model_type: ModelType,
    pub params: serde_json::Map<String, serde_json::Value>,
}

/// Parsed params of one model type.
enum Config {
    Gbm(GbmParams),
    Forest(ForestParams),
    Logistic(LogisticParams),
}

/// Reads params, naming the key of a bad value (serde alone names only
/// unknown keys).
fn parse<T: DeserializeOwned>(
    params: &serde_json::Map<String, serde_json::Value>,
) -> Result<T, TrainError> {
    let value = serde_json::Value::Object(params.clone());
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        if path == "." || path.is_empty() {
            TrainError::Params(e.inner().to_string())
        } else {
            TrainError::Params(format!("`{path}`: {}", e.inner()))
        }
    })
}

impl ModelSpec {
    pub fn new(model_type: ModelType) -> Self {
        ModelSpec {
            model_type,
            params: serde_json::Map::new(),
        }
    }

    fn config(&self) -> Result<Config, TrainError> {
        let task = self.model_type.task();
        let config = match self.model_type {
            ModelType::GbmClassifier | ModelType::GbmRegressor => {
                let mut params = self.params.clone();
                // The model type sets the task: an agreeing `task` is
                // tolerated, a contradicting one refused.
                if let Some(value) = params.remove("task") {
                    let given: Task = serde_json::from_value(value.clone())
                        .map_err(|e| TrainError::Params(format!("`task`: {e}")))?;
                    if given != task {
                        return Err(param_error(
                            "task",
                            format!(
                                "{} is set by the model type {}; remove `task`",
                                task_name(task),
                                self.model_type
                            ),
                        ));
                    }
                }
                let mut gbm: GbmParams = parse(&params)?;
                gbm.task = task;
                gbm.check()?;
                Config::Gbm(gbm)
            }
            ModelType::RandomForestClassifier | ModelType::RandomForestRegressor => {
                let forest: ForestParams = parse(&self.params)?;
                forest.check(task)?;
                Config::Forest(forest)
            }
            ModelType::LogisticRegression => {
                let lr: LogisticParams = parse(&self.params)?;
                lr.check()?;
                Config::Logistic(lr)
            }
        };
        Ok(config)
    }

    /// Parse and check the params now (before any data is read): an unknown
    /// key or bad value is an error naming the key.
    pub fn validate(&self) -> Result<(), TrainError> {
        self.config().map(|_| ())
    }

    /// Every effective hyperparameter (defaults filled in), as strings, for
    /// logging as MLflow params. `threads` is left out: the model does not
    /// depend on it.
    pub fn effective_params(&self) -> Result<BTreeMap<String, String>, TrainError> {
        let task = self.model_type.task();
        let pairs = match self.config()? {
            Config::Gbm(p) => {
                let value =
                    serde_json::to_value(&p).map_err(|e| TrainError::Params(e.to_string()))?;
                let serde_json::Value::Object(map) = value else {
                    unreachable!("GbmParams serializes to an object")
                };
                map.into_iter()
                    .filter(|(k, _)| k != "threads")
                    .map(|(k, v)| {
                        let v = match v {
                            serde_json::Value::String(s) => s,
                            other => other.to_string(),
                        };
                        (k, v)
                    })
                    .collect()
            }
            Config::Forest(p) => p.effective(task),
            Config::Logistic(p) => p.effective(),
        };
        Ok(pairs.into_iter().collect())
    }

    /// Progress units for a progress bar: boosting rounds (GBM), trees
    /// (random forest, reported all at once at the end) or most solver
    /// iterations (logistic regression, which may converge before).
    pub fn total_rounds(&self) -> Result<usize, TrainError> {
        Ok(match self.config()? {
            Config::Gbm(p) => p.num_rounds,
            Config::Forest(p) => p.n_estimators,
            Config::Logistic(p) => p.max_iter,
        })
    }
}

fn task_name(task: Task) -> &'static str {
    match task {
        Task::Binary => "binary",
        Task::Regression => "regression",
    }
}

/// Trains `spec` on `features` (one [`FeatureKind`] per column) and one
/// label per row (0/1 for classifiers). `on_round` sees progress in
/// [`ModelSpec::total_rounds`] units; `Break` stops early, keeping what was
/// fitted (a forest reports once, at the end).
pub fn train(
    spec: &ModelSpec,
    features: Matrix<'_>,
    kinds: &[FeatureKind],
    labels: &[f64],
    on_round: impl FnMut(RoundProgress) -> ControlFlow<()> + Send,
) -> Result<TrainedModel, TrainError> {
    let config = spec.config()?;
    check_kinds(features, kinds)?;
    let task = spec.model_type.task();
    let inner = match config {
        Config::Gbm(params) => Inner::Trees(Box::new(
            GbmTrainer::new(params)
                .feature_kinds(kinds)
                .on_round(on_round)
                .train(features, labels)?,
        )),
        Config::Forest(params) => Inner::Trees(Box::new(forest::train(
            &params, task, features, kinds, labels, on_round,
        )?)),
        Config::Logistic(params) => {
            Inner::Logistic(linear::train(&params, features, kinds, labels, on_round)?)
        }
    };
    Ok(TrainedModel {
        model_type: spec.model_type,
        kinds: kinds.to_vec(),
        inner,
    })
}

#[derive(Debug, Clone)]
enum Inner {
    /// GBM or random forest (boxed: the engine model is large).
    Trees(Box<GbmModel>),
    Logistic(LogisticModel),
}

/// A trained model of any [`ModelType`].
#[derive(Debug, Clone)]
pub struct TrainedModel {
    model_type: ModelType,
    kinds: Vec<FeatureKind>,
    inner: Inner,
}

const MAGIC: &[u8; 8] = b"SLPWMODL";
const FORMAT_VERSION: u32 = 1;
const ENGINE_TREES: &str = "hessboost-0.4.6/binary";
const ENGINE_LOGISTIC: &str = "slipway-logistic/f64le";

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    model_type: ModelType,
    engine: String,
    feature_kinds: Vec<FeatureKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    preprocessing: Option<Preprocessing>,
}

/// FNV-1a, 64-bit: enough to tell a damaged file from a model.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn bad(message: impl Into<String>) -> TrainError {
    TrainError::ModelBytes(message.into())
}

/// Reads `n` bytes at `*at`, or says the input is truncated.
fn take<'b>(bytes: &'b [u8], at: &mut usize, n: usize) -> Result<&'b [u8], TrainError> {
    let end = at
        .checked_add(n)
        .filter(|&end| end <= bytes.len())
        .ok_or_else(|| bad("truncated"))?;
    let out = &bytes[*at..end];
    *at = end;
    Ok(out)
}

impl TrainedModel {
    /// A model from [`Model::save`]'s bytes, any model type. Truncated,
    /// damaged or foreign bytes are an error.
    pub fn load(bytes: &[u8]) -> Result<TrainedModel, TrainError> {
        let mut at = 0;
        if take(bytes, &mut at, 8)? != MAGIC {
            return Err(bad("no Slipway model magic"));
        }
        let version = u32::from_le_bytes(take(bytes, &mut at, 4)?.try_into().expect("4 bytes"));
        if version != FORMAT_VERSION {
            return Err(bad(format!(
                "format version {version}, this build reads {FORMAT_VERSION}"
            )));
        }
        if bytes.len() < 8 + 4 + 4 + 8 + 8 {
            return Err(bad("truncated"));
        }
        let (content, sum) = bytes.split_at(bytes.len() - 8);
        if fnv1a(content) != u64::from_le_bytes(sum.try_into().expect("8 bytes")) {
            return Err(bad("checksum mismatch (truncated or damaged)"));
        }
        let header_len =
            u32::from_le_bytes(take(content, &mut at, 4)?.try_into().expect("4 bytes"));
        let header: Header = serde_json::from_slice(take(content, &mut at, header_len as usize)?)
            .map_err(|e| bad(format!("header: {e}")))?;
        let body_len = u64::from_le_bytes(take(content, &mut at, 8)?.try_into().expect("8 bytes"));
        let body_len = usize::try_from(body_len).map_err(|_| bad("body length"))?;
        let body = take(content, &mut at, body_len)?;
        if at != content.len() {
            return Err(bad("trailing bytes"));
        }
        let n_features = header.feature_kinds.len();
        let inner = match (
            header.model_type,
            header.engine.as_str(),
            header.preprocessing,
        ) {
            (ModelType::LogisticRegression, ENGINE_LOGISTIC, Some(preprocessing)) => {
                let same_kinds = preprocessing.columns.len() == n_features
                    && preprocessing.columns.iter().zip(&header.feature_kinds).all(
                        |(c, k)| match (c, k) {
                            (linear::Column::Numeric { .. }, FeatureKind::Numeric) => true,
                            (
                                linear::Column::Categorical { cardinality: a, .. },
                                FeatureKind::Categorical { cardinality: b },
                            ) => a == b,
                            _ => false,
                        },
                    );
                if !same_kinds {
                    return Err(bad("preprocessing does not match the feature kinds"));
                }
                Inner::Logistic(LogisticModel::from_parts(preprocessing, body)?)
            }
            (ModelType::LogisticRegression, ..) => {
                return Err(bad("logistic regression without its weights"))
            }
            (model_type, ENGINE_TREES, None) => {
                let model = GbmModel::load(body)?;
                if model.task() != model_type.task() || model.n_features() != n_features {
                    return Err(bad("engine model does not match the header"));
                }
                Inner::Trees(Box::new(model))
            }
            (_, engine, _) => return Err(bad(format!("unknown engine `{engine}`"))),
        };
        Ok(TrainedModel {
            model_type: header.model_type,
            kinds: header.feature_kinds,
            inner,
        })
    }

    pub fn model_type(&self) -> ModelType {
        self.model_type
    }

    pub fn feature_kinds(&self) -> &[FeatureKind] {
        &self.kinds
    }
}

impl Model for TrainedModel {
    fn task(&self) -> Task {
        self.model_type.task()
    }

    fn n_features(&self) -> usize {
        self.kinds.len()
    }

    /// Probabilities of class 1 for classifiers, values for regressors.
    /// A categorical value that is not one of the training codes counts as
    /// missing.
    fn predict_proba(&self, rows: Matrix<'_>) -> Result<Vec<f64>, TrainError> {
        if rows.n_cols() != self.kinds.len() {
            return Err(TrainError::FeatureCount {
                expected: self.kinds.len(),
                actual: rows.n_cols(),
            });
        }
        match &self.inner {
            Inner::Trees(model) => model.predict_engine(&rows.to_engine(&self.kinds)?),
            Inner::Logistic(model) => model.predict_proba(rows),
        }
    }

    fn save(&self) -> Result<Vec<u8>, TrainError> {
        let (engine, preprocessing, body) = match &self.inner {
            Inner::Trees(model) => (ENGINE_TREES, None, model.save()?),
            Inner::Logistic(model) => (
                ENGINE_LOGISTIC,
                Some(model.preprocessing.clone()),
                model.weight_bytes(),
            ),
        };
        let header = serde_json::to_vec(&Header {
            model_type: self.model_type,
            engine: engine.to_string(),
            feature_kinds: self.kinds.clone(),
            preprocessing,
        })
        .map_err(|e| TrainError::ModelBytes(e.to_string()))?;
        let header_len = u32::try_from(header.len())
            .map_err(|_| TrainError::ModelBytes("header too large".into()))?;
        let mut out = Vec::with_capacity(32 + header.len() + body.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&header_len.to_le_bytes());
        out.extend_from_slice(&header);
        out.extend_from_slice(&(body.len() as u64).to_le_bytes());
        out.extend_from_slice(&body);
        let sum = fnv1a(&out);
        out.extend_from_slice(&sum.to_le_bytes());
        Ok(out)
    }

    /// Trees: gain importance (XGBoost's `gain`). Logistic regression:
    /// |coefficient| on the standardized feature, summed over a
    /// categorical's one-hot columns.
    fn feature_importance(&self) -> Vec<f64> {
        match &self.inner {
            Inner::Trees(model) => model.feature_importance(),
            Inner::Logistic(model) => model.feature_importance(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_type_names_round_trip() {
        for t in ModelType::ALL {
            assert_eq!(t.as_str().parse::<ModelType>().unwrap(), t);
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, format!("\"{}\"", t.as_str()));
        }
        let err = "gbm".parse::<ModelType>().unwrap_err().to_string();
        assert!(
            err.contains("gbm_classifier") && err.contains("random_forest_regressor"),
            "{err}"
        );
    }

    #[test]
    fn feature_kind_json_shape() {
        let k = FeatureKind::Categorical { cardinality: 3 };
        assert_eq!(
            serde_json::to_string(&k).unwrap(),
            r#"{"kind":"categorical","cardinality":3}"#
        );
        assert_eq!(
            serde_json::to_string(&FeatureKind::Numeric).unwrap(),
            r#"{"kind":"numeric"}"#
        );
    }

    #[test]
    fn load_never_panics_on_damaged_bytes() {
        let x: Vec<f64> = (0..200).map(|i| (i % 7) as f64).collect();
        let y: Vec<f64> = (0..100).map(|i| f64::from(i % 3 == 0)).collect();
        let features = Matrix::new(&x, 100, 2).unwrap();
        let kinds = [
            FeatureKind::Numeric,
            FeatureKind::Categorical { cardinality: 7 },
        ];
        for t in [ModelType::LogisticRegression, ModelType::GbmClassifier] {
            let mut spec = ModelSpec::new(t);
            spec.params.insert("max_iter".into(), 5.into());
            if t == ModelType::GbmClassifier {
                spec.params = serde_json::Map::new();
                spec.params.insert("n_estimators".into(), 3.into());
            }
            let model = train(&spec, features, &kinds, &y, |_| ControlFlow::Continue(())).unwrap();
            let bytes = model.save().unwrap();
            for cut in 0..bytes.len() {
                assert!(TrainedModel::load(&bytes[..cut]).is_err());
            }
            for i in (0..bytes.len()).step_by(7) {
                let mut damaged = bytes.clone();
                damaged[i] ^= 0x55;
                assert!(TrainedModel::load(&damaged).is_err(), "byte {i}");
            }
        }
    }
}
