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
//!   the Python libraries'). A model it does not run itself but that has a
//!   `python_function` flavor is a [`model::RawScorer`] (Python worker
//!   processes, built by the caller): it takes the validated values as sent
//!   and answers any JSON. Anything else is refused when loaded
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
//!
//! A `python_function` model ([`model::Output::Json`]) answers what its
//! `predict` returns. `/invocations`: `{"predictions": ...}` exactly as
//! `mlflow models serve` (a DataFrame as a list of records, an array as
//! nested lists; NaN as null, where MLflow writes a bare `NaN`; `params`
//! are not passed to the model). `/predict`, `/predict/batch` and v2 need
//! one answer per row and show each as [`model::answer_row`] maps it: a
//! record's `prediction` (or `label`, or its only) field is `prediction`,
//! its numeric `probability` field is `probability` (null without one); a
//! plain value is the prediction. v2 outputs `predict` (INT64, FP64 or BOOL
//! when every value is one, else BYTES: strings as they are, other values
//! as JSON text) and `probability` (FP64, null where absent). The model
//! raising on a request is a 4xx naming the exception (MLflow answers 400);
//! a worker dying while scoring it is a 500 saying it is being restarted.
//! Every request for such a model runs on the blocking pool
//! ([`engine::Engine::blocking`]), so that many wait for the workers at
//! once and their rows are batched.

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
    InputColumn, ModelFormat, ModelIdentity, Output, PyfuncPredict, RawScorer, ScoreRow, Scorer,
    ServedModel, WorkerStats,
};
