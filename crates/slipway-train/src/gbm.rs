//! Gradient-boosted trees for binary classification and regression, on
//! `hessboost` (see `docs/decisions/training-engine.md`). The engine's
//! types stay behind [`GbmTrainer`], [`GbmModel`] and the [`Model`] trait, so
//! it can be swapped.
//!
//! Features are a dense row-major `f64` matrix with NaN meaning missing.
//! The engine works in `f32` (as XGBoost does), so every value is rounded
//! to the nearest `f32`; a finite value beyond the `f32` range is an error.

use std::ops::ControlFlow;

use hessboost::data::FeatureType;
use hessboost::model::{BoostedModel, ImportanceType, Iterations, ModelFormat};
use hessboost::prelude::{DMatrix, Objective, RegLoss, Trainer, TrainingParams, TreeMethod};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::model::FeatureKind;

/// Why training, prediction or (de)serialization failed.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum TrainError {
    /// A parameter set could not be read (an unknown key, a wrong type); the
    /// message names the key.
    #[error("invalid parameters: {0}")]
    Params(String),
    /// A parameter value the engine refuses.
    #[error("invalid parameter value: {0}")]
    ParamValue(String),
    /// A parameter value out of its range, checked before any data is read.
    #[error("invalid parameter `{key}`: {message}")]
    Param { key: String, message: String },
    #[error("{kinds} feature kinds for {n_cols} feature columns")]
    FeatureKinds { kinds: usize, n_cols: usize },
    /// Category codes are stored in `f32` by the engine, exact up to 2^24.
    #[error(
        "categorical feature {feature} has cardinality {cardinality}, above the limit of 16777216"
    )]
    Cardinality { feature: usize, cardinality: usize },
    /// A training value of a categorical feature that is not one of its codes
    /// `0..cardinality` (NaN is allowed: missing).
    #[error("value {value} at row {row}, categorical feature {feature} is not a code in 0..{cardinality}")]
    CategoryCode {
        row: usize,
        feature: usize,
        value: f64,
        cardinality: usize,
    },
    /// Logistic regression keeps about 25 vectors of this width (L-BFGS
    /// memory), so the one-hot width is bounded.
    #[error("logistic regression needs {weights} weights (numeric features plus one-hot categories), above the limit of {limit}; use fewer categories or a tree model")]
    TooManyWeights { weights: usize, limit: usize },
    #[error("unknown model type `{name}`; valid types: {valid}")]
    UnknownModelType { name: String, valid: String },
    /// Bytes that are not a saved Slipway model (truncated, corrupt, or
    /// another format).
    #[error("not a valid Slipway model: {0}")]
    ModelBytes(String),
    #[error("feature matrix has {values} values, which is not {n_rows} rows of {n_cols} features")]
    Shape {
        values: usize,
        n_rows: usize,
        n_cols: usize,
    },
    #[error("the feature matrix has no rows or no features")]
    EmptyMatrix,
    #[error("{labels} labels for {n_rows} rows")]
    LabelCount { labels: usize, n_rows: usize },
    #[error("label {value} at row {row} is not 0 or 1 (binary classification)")]
    NonBinaryLabel { row: usize, value: f64 },
    #[error("label {value} at row {row} is not a finite number within f32 range")]
    NonFiniteLabel { row: usize, value: f64 },
    #[error(
        "feature value {value} at row {row}, feature {feature} is infinite or beyond f32 range"
    )]
    FeatureValue {
        row: usize,
        feature: usize,
        value: f64,
    },
    #[error("the model expects {expected} features, got rows of {actual}")]
    FeatureCount { expected: usize, actual: usize },
    #[error("model bytes hold an unsupported objective `{0}`")]
    UnsupportedObjective(String),
    /// An error reported by the training engine.
    #[error("training engine: {0}")]
    Engine(String),
}

pub(crate) fn engine(e: hessboost::prelude::HessboostError) -> TrainError {
    TrainError::Engine(e.to_string())
}

/// What a model predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// Labels 0/1; predictions are probabilities of class 1 (logistic loss).
    Binary,
    /// Real-valued labels; predictions are values (squared error).
    Regression,
}

/// GBM parameters. Every field has Slipway's default (the decision record's
/// scikit-learn-like defaults), and unknown keys are refused, so a typo in a
/// config is an error that names the key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GbmParams {
    pub task: Task,
    /// Boosting rounds (trees per output). `n_estimators` is scikit-learn's
    /// name for it.
    #[serde(alias = "n_estimators")]
    pub num_rounds: usize,
    pub max_depth: usize,
    #[serde(alias = "eta")]
    pub learning_rate: f64,
    /// Histogram bins per feature.
    pub max_bin: usize,
    pub min_child_weight: f64,
    /// L2 regularization of leaf weights.
    pub lambda: f64,
    /// Minimum loss reduction to split.
    pub gamma: f64,
    pub subsample: f64,
    pub colsample_bytree: f64,
    pub colsample_bynode: f64,
    pub seed: u64,
    /// Worker threads; `None` uses every core. The model does not depend on
    /// the thread count.
    pub threads: Option<usize>,
}

impl Default for GbmParams {
    fn default() -> Self {
        GbmParams {
            task: Task::Binary,
            num_rounds: 100,
            max_depth: 3,
            learning_rate: 0.1,
            max_bin: 256,
            min_child_weight: 1.0,
            lambda: 1.0,
            gamma: 0.0,
            subsample: 1.0,
            colsample_bytree: 1.0,
            colsample_bynode: 1.0,
            seed: 0,
            threads: None,
        }
    }
}

impl GbmParams {
    /// Parameters from a JSON object; absent keys keep their defaults.
    pub fn from_json(json: &str) -> Result<Self, TrainError> {
        serde_json::from_str(json).map_err(|e| TrainError::Params(e.to_string()))
    }

    /// Range checks with the user's key names, so a bad config fails before
    /// any data is read (the engine checks again when it builds its params).
    pub(crate) fn check(&self) -> Result<(), TrainError> {
        check_min("num_rounds", self.num_rounds as f64, 1.0)?;
        check_min("max_depth", self.max_depth as f64, 1.0)?;
        check_min("max_bin", self.max_bin as f64, 2.0)?;
        check_positive("learning_rate", self.learning_rate)?;
        check_min("min_child_weight", self.min_child_weight, 0.0)?;
        check_min("lambda", self.lambda, 0.0)?;
        check_min("gamma", self.gamma, 0.0)?;
        check_fraction("subsample", self.subsample)?;
        check_fraction("colsample_bytree", self.colsample_bytree)?;
        check_fraction("colsample_bynode", self.colsample_bynode)?;
        if self.threads == Some(0) {
            return Err(param_error("threads", "must be at least 1"));
        }
        self.engine_params().map(|_| ())
    }

    pub(crate) fn engine_params(&self) -> Result<TrainingParams, TrainError> {
        let objective = match self.task {
            Task::Binary => Objective::BinaryLogistic(RegLoss::default()),
            Task::Regression => Objective::SquaredError(RegLoss::default()),
        };
        let mut builder = TrainingParams::builder()
            .objective(objective)
            .tree_method(TreeMethod::Hist)
            .eta(self.learning_rate)
            .max_depth(self.max_depth)
            .min_child_weight(self.min_child_weight)
            .lambda(self.lambda)
            .gamma(self.gamma)
            .max_bin(self.max_bin)
            .subsample(self.subsample)
            .colsample_bytree(self.colsample_bytree)
            .colsample_bynode(self.colsample_bynode)
            .seed(self.seed);
        if let Some(threads) = self.threads {
            builder = builder.nthread(threads);
        }
        builder
            .build()
            .map_err(|e| TrainError::ParamValue(e.to_string()))
    }
}

pub(crate) fn param_error(key: &str, message: impl Into<String>) -> TrainError {
    TrainError::Param {
        key: key.to_string(),
        message: message.into(),
    }
}

pub(crate) fn check_min(key: &str, value: f64, min: f64) -> Result<(), TrainError> {
    if value.is_finite() && value >= min {
        Ok(())
    } else {
        Err(param_error(
            key,
            format!("must be at least {min}, got {value}"),
        ))
    }
}

pub(crate) fn check_positive(key: &str, value: f64) -> Result<(), TrainError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(param_error(key, format!("must be above 0, got {value}")))
    }
}

pub(crate) fn check_fraction(key: &str, value: f64) -> Result<(), TrainError> {
    if value > 0.0 && value <= 1.0 {
        Ok(())
    } else {
        Err(param_error(key, format!("must be in (0, 1], got {value}")))
    }
}

/// Checks feature kinds against a matrix and the training values of its
/// categorical columns: every value NaN or a code in `0..cardinality`.
pub(crate) fn check_kinds(features: Matrix<'_>, kinds: &[FeatureKind]) -> Result<(), TrainError> {
    if kinds.len() != features.n_cols {
        return Err(TrainError::FeatureKinds {
            kinds: kinds.len(),
            n_cols: features.n_cols,
        });
    }
    for (feature, kind) in kinds.iter().enumerate() {
        let FeatureKind::Categorical { cardinality } = *kind else {
            continue;
        };
        if cardinality > MAX_CARDINALITY {
            return Err(TrainError::Cardinality {
                feature,
                cardinality,
            });
        }
        for row in 0..features.n_rows {
            let value = features.values[row * features.n_cols + feature];
            if !value.is_nan() && category_code(value, cardinality).is_none() {
                return Err(TrainError::CategoryCode {
                    row,
                    feature,
                    value,
                    cardinality,
                });
            }
        }
    }
    Ok(())
}

/// Largest cardinality: codes must be exact in the engine's `f32`.
pub(crate) const MAX_CARDINALITY: usize = 1 << 24;

/// `value` as a category code, `None` when it is not one of `0..cardinality`.
#[inline]
pub(crate) fn category_code(value: f64, cardinality: usize) -> Option<usize> {
    (value >= 0.0 && value < cardinality as f64 && value.fract() == 0.0).then_some(value as usize)
}

/// A dense row-major feature matrix borrowed from the caller; NaN is missing.
#[derive(Debug, Clone, Copy)]
pub struct Matrix<'a> {
    values: &'a [f64],
    n_rows: usize,
    n_cols: usize,
}

impl<'a> Matrix<'a> {
    /// `values` holds `n_rows * n_cols` values, row after row.
    pub fn new(values: &'a [f64], n_rows: usize, n_cols: usize) -> Result<Self, TrainError> {
        if n_rows.checked_mul(n_cols) != Some(values.len()) {
            return Err(TrainError::Shape {
                values: values.len(),
                n_rows,
                n_cols,
            });
        }
        if n_rows == 0 || n_cols == 0 {
            return Err(TrainError::EmptyMatrix);
        }
        Ok(Matrix {
            values,
            n_rows,
            n_cols,
        })
    }

    pub fn n_rows(&self) -> usize {
        self.n_rows
    }

    pub fn n_cols(&self) -> usize {
        self.n_cols
    }

    /// The values, row after row.
    pub fn values(&self) -> &'a [f64] {
        self.values
    }

    /// The values as the engine reads them: `f32`, and for a categorical
    /// feature any value that is not one of its codes (an unseen category)
    /// becomes NaN, missing.
    pub(crate) fn to_engine(self, kinds: &[FeatureKind]) -> Result<Vec<f32>, TrainError> {
        let mut x = self.to_f32()?;
        if kinds.iter().all(|k| *k == FeatureKind::Numeric) {
            return Ok(x);
        }
        for row in x.chunks_exact_mut(self.n_cols) {
            for (value, kind) in row.iter_mut().zip(kinds) {
                if let FeatureKind::Categorical { cardinality } = *kind {
                    if category_code(f64::from(*value), cardinality).is_none() {
                        *value = f32::NAN;
                    }
                }
            }
        }
        Ok(x)
    }

    /// The values as `f32`, NaN kept as missing.
    fn to_f32(self) -> Result<Vec<f32>, TrainError> {
        self.values
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let f = v as f32;
                if v.is_nan() || f.is_finite() {
                    Ok(f)
                } else {
                    Err(TrainError::FeatureValue {
                        row: i / self.n_cols,
                        feature: i % self.n_cols,
                        value: v,
                    })
                }
            })
            .collect()
    }
}

/// Progress after one boosting round, given to [`GbmTrainer::on_round`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoundProgress {
    /// Rounds completed so far (1 after the first round).
    pub completed: usize,
    /// Rounds asked for.
    pub total: usize,
}

type RoundHook<'a> = Box<dyn FnMut(RoundProgress) -> ControlFlow<()> + Send + 'a>;

/// Trains one GBM with [`GbmParams`].
pub struct GbmTrainer<'a> {
    params: GbmParams,
    kinds: Option<Vec<FeatureKind>>,
    on_round: Option<RoundHook<'a>>,
}

impl<'a> GbmTrainer<'a> {
    pub fn new(params: GbmParams) -> Self {
        GbmTrainer {
            params,
            kinds: None,
            on_round: None,
        }
    }

    /// The kind of each feature column: categorical columns become the
    /// engine's native categorical features (set splits on codes, so a
    /// non-monotone effect needs no one-hot). Without it every column is
    /// numeric.
    #[must_use]
    pub fn feature_kinds(mut self, kinds: &[FeatureKind]) -> Self {
        self.kinds = Some(kinds.to_vec());
        self
    }

    pub fn params(&self) -> &GbmParams {
        &self.params
    }

    /// Call `hook` after every boosting round (for a progress bar). It does
    /// not change the model; returning `ControlFlow::Break` stops training
    /// after that round, keeping the rounds completed.
    #[must_use]
    pub fn on_round(
        mut self,
        hook: impl FnMut(RoundProgress) -> ControlFlow<()> + Send + 'a,
    ) -> Self {
        self.on_round = Some(Box::new(hook));
        self
    }

    /// Train on `features` with one label per row: 0/1 for
    /// [`Task::Binary`], any finite value for [`Task::Regression`].
    pub fn train(self, features: Matrix<'_>, labels: &[f64]) -> Result<GbmModel, TrainError> {
        let engine_params = self.params.engine_params()?;
        let total = self.params.num_rounds;
        let hook = self.on_round.map(|mut hook| {
            Box::new(move |completed| hook(RoundProgress { completed, total }))
                as Box<dyn FnMut(usize) -> ControlFlow<()> + Send + 'a>
        });
        fit(
            &engine_params,
            total,
            self.params.task,
            features,
            self.kinds.as_deref(),
            labels,
            hook,
        )
    }
}

/// Checks the labels for `task`: 0/1 for binary, finite `f32` values for
/// regression.
pub(crate) fn check_labels(task: Task, labels: &[f64], n_rows: usize) -> Result<(), TrainError> {
    if labels.len() != n_rows {
        return Err(TrainError::LabelCount {
            labels: labels.len(),
            n_rows,
        });
    }
    for (row, &value) in labels.iter().enumerate() {
        if !(value as f32).is_finite() {
            return Err(TrainError::NonFiniteLabel { row, value });
        }
        if task == Task::Binary && value != 0.0 && value != 1.0 {
            return Err(TrainError::NonBinaryLabel { row, value });
        }
    }
    Ok(())
}

/// One engine fit of `rounds` rounds, shared by the GBM and the random
/// forest (which is one round of many parallel trees). `hook` gets the
/// rounds completed after each round.
pub(crate) fn fit<'a>(
    engine_params: &TrainingParams,
    rounds: usize,
    task: Task,
    features: Matrix<'_>,
    kinds: Option<&[FeatureKind]>,
    labels: &[f64],
    hook: Option<Box<dyn FnMut(usize) -> ControlFlow<()> + Send + 'a>>,
) -> Result<GbmModel, TrainError> {
    check_labels(task, labels, features.n_rows)?;
    let x = match kinds {
        Some(kinds) => {
            check_kinds(features, kinds)?;
            features.to_engine(kinds)?
        }
        None => features.to_f32()?,
    };
    let y: Vec<f32> = labels.iter().map(|&v| v as f32).collect();
    let mut dtrain = DMatrix::from_dense(&x, features.n_rows, features.n_cols)
        .and_then(|m| m.with_labels(&y))
        .map_err(engine)?;
    if let Some(kinds) = kinds.filter(|k| k.iter().any(|k| *k != FeatureKind::Numeric)) {
        let types: Vec<FeatureType> = kinds
            .iter()
            .map(|k| match k {
                FeatureKind::Numeric => FeatureType::Numerical,
                FeatureKind::Categorical { .. } => FeatureType::Categorical,
            })
            .collect();
        dtrain = dtrain.with_feature_types(&types).map_err(engine)?;
    }
    let mut trainer = Trainer::new(engine_params, &dtrain, rounds);
    if let Some(mut hook) = hook {
        trainer = trainer.on_round(move |round| hook(round.iteration() + 1));
    }
    let result = trainer.train().map_err(engine)?;
    Ok(GbmModel {
        inner: result.model,
        task,
    })
}

/// A trained model, as the rest of Slipway sees it.
pub trait Model: Send + Sync {
    fn task(&self) -> Task;
    fn n_features(&self) -> usize;
    /// One prediction per row: the probability of class 1 for
    /// [`Task::Binary`], the predicted value for [`Task::Regression`].
    fn predict_proba(&self, rows: Matrix<'_>) -> Result<Vec<f64>, TrainError>;
    /// The model as bytes: for [`GbmModel::load`] from a [`GbmModel`], for
    /// [`crate::model::TrainedModel::load`] from a trained model of any type.
    fn save(&self) -> Result<Vec<u8>, TrainError>;
    /// Importance of each feature (length [`Self::n_features`]); 0 for a
    /// feature never used.
    fn feature_importance(&self) -> Vec<f64>;
}

/// A trained gradient-boosted tree ensemble.
#[derive(Debug, Clone)]
pub struct GbmModel {
    inner: BoostedModel,
    task: Task,
}

impl GbmModel {
    /// A model from [`Model::save`]'s bytes (hessboost's native binary
    /// format, zstd-compressed and checksummed).
    pub fn load(bytes: &[u8]) -> Result<Self, TrainError> {
        let inner = BoostedModel::decode(bytes, ModelFormat::Binary).map_err(engine)?;
        let task = match inner.objective().name() {
            "binary:logistic" => Task::Binary,
            "reg:squarederror" => Task::Regression,
            other => return Err(TrainError::UnsupportedObjective(other.to_string())),
        };
        Ok(GbmModel { inner, task })
    }

    /// Boosting rounds the model holds.
    pub fn num_rounds(&self) -> usize {
        self.inner.num_boost_rounds()
    }

    /// Predictions for rows already in the engine's form (see
    /// [`Matrix::to_engine`]). One row goes through the engine's row path,
    /// which builds no matrix and, after the first call, allocates nothing.
    pub(crate) fn predict_engine(&self, x: &[f32]) -> Result<Vec<f64>, TrainError> {
        if x.len() == self.n_features() {
            let p = self
                .inner
                .predict_row(x, Iterations::Best)
                .map_err(engine)?;
            return Ok(vec![f64::from(p)]);
        }
        let predictions = self
            .inner
            .predict_rows(x, Iterations::Best)
            .map_err(engine)?;
        Ok(predictions
            .as_slice()
            .iter()
            .map(|&p| f64::from(p))
            .collect())
    }
}

impl Model for GbmModel {
    fn task(&self) -> Task {
        self.task
    }

    fn n_features(&self) -> usize {
        self.inner.n_features()
    }

    fn predict_proba(&self, rows: Matrix<'_>) -> Result<Vec<f64>, TrainError> {
        if rows.n_cols != self.n_features() {
            return Err(TrainError::FeatureCount {
                expected: self.n_features(),
                actual: rows.n_cols,
            });
        }
        self.predict_engine(&rows.to_f32()?)
    }

    fn save(&self) -> Result<Vec<u8>, TrainError> {
        self.inner.encode(ModelFormat::Binary).map_err(engine)
    }

    /// Gain importance as XGBoost's `gain`: the average loss reduction of the
    /// splits on each feature.
    fn feature_importance(&self) -> Vec<f64> {
        let mut importance = vec![0.0; self.n_features()];
        for (feature, gain) in self.inner.feature_importance(ImportanceType::Gain) {
            if let Some(slot) = importance.get_mut(feature) {
                *slot = gain;
            }
        }
        importance
    }
}
