//! `slipway-serve`: the model serving engine behind `slipway serve`.
//!
//! - [`model`]: what is served: input columns from the signature, the
//!   [`model::Scorer`] trait, and its implementations: Slipway's own
//!   models (`slipway train`), ONNX models (through `slipway-onnx`: the
//!   named features go into the one float tensor in signature order, or, for
//!   a DataFrame pipeline with one input per column, [`onnx_columns`], into
//!   the input of the same name: strings, int64 or floats), and XGBoost /
//!   LightGBM models in the native files `mlflow.xgboost` / `mlflow.lightgbm`
//!   write ([`trees`]: XGBoost `ubj`/`json`/`xgb` through `hessboost`,
//!   LightGBM's text model through its own reader; predictions bit for bit
//!   the Python libraries'). A model the server cannot run (an MLflow
//!   sklearn pickle, a LightGBM scikit-learn wrapper) is refused when loaded
//!   ([`LoadError::Unsupported`]).
//! - [`protocol`]: request/response shapes as plain serde types: the guide's
//!   `/predict` and `/predict/batch`, MLflow's `/invocations`, the Open
//!   Inference Protocol v2.
//! - [`validate`]: rows against the signature; every offending field named.
//! - [`engine`]: the models in their roles (champion, canary, shadow), each
//!   atomically swappable (hot reload), the traffic split, one method per
//!   protocol operation.
//! - [`predlog`]: the prediction log (bounded queue, batches written as
//!   durable Parquet segments, documented schema, reader); [`metrics`]:
//!   Prometheus text.
//! - [`features`]: the feature-store seam ([`features::FeatureSource`]).
//! - [`http`]: the axum router; the only module that knows HTTP.
//!
//! `/invocations` answers what MLflow's pyfunc `predict` returns for the
//! model ([`model::PyfuncPredict`]): for a scikit-learn model logged with the
//! default `predict` (and XGBoost's scikit-learn wrappers), labels for
//! classifiers and values for regressors; for an XGBoost / LightGBM
//! `Booster`, its objective's output (the probability of class 1, or each
//! class's probability). `"params": {"predict_method": "predict_proba"}`
//! returns the `[[P(class 0), P(class 1), ...], ...]` matrix instead.

pub mod engine;
pub mod error;
pub mod features;
pub mod http;
pub mod metrics;
pub mod model;
pub mod onnx_columns;
pub mod predlog;
pub mod protocol;
pub mod trees;
pub mod validate;

pub use engine::{Engine, Role};
pub use error::{LoadError, Problem, ServeError};
pub use model::{
    InputColumn, ModelFormat, ModelIdentity, Output, PyfuncPredict, ScoreRow, Scorer, ServedModel,
};
