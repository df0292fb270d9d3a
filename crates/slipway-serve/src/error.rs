//! Typed errors. A [`ServeError`] carries the HTTP status it maps to (as a
//! number: the engine has no HTTP types); each protocol renders it in its
//! own error shape.

use thiserror::Error;

/// One offending field of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where: `features.tenure`, `dataframe_records[3].tenure`, `inputs[0].shape`, ...
    pub field: String,
    pub message: String,
}

impl Problem {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

fn join(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Why a request got no predictions.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ServeError {
    /// The body is not what the protocol expects (not JSON, wrong shape).
    #[error("{0}")]
    BadRequest(String),
    /// The rows do not match the model's signature: every offending field.
    #[error("invalid input: {}", join(.0))]
    Invalid(Vec<Problem>),
    #[error("request body is {size} bytes, over the limit of {limit} bytes (--max-body-bytes)")]
    TooLarge { size: usize, limit: usize },
    #[error("unsupported content type {0:?}: send application/json (or text/csv to /invocations)")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    NotFound(String),
    #[error("no model is loaded")]
    NotReady,
    /// The model failed on validated input (a bug, not the client's fault).
    #[error("the model failed: {0}")]
    Model(String),
}

impl ServeError {
    /// The HTTP status this error maps to.
    pub fn status(&self) -> u16 {
        match self {
            ServeError::BadRequest(_) => 400,
            ServeError::Invalid(_) => 422,
            ServeError::TooLarge { .. } => 413,
            ServeError::UnsupportedMediaType(_) => 415,
            ServeError::NotFound(_) => 404,
            ServeError::NotReady => 503,
            ServeError::Model(_) => 500,
        }
    }

    /// The offending fields, for structured error bodies.
    pub fn problems(&self) -> &[Problem] {
        match self {
            ServeError::Invalid(p) => p,
            _ => &[],
        }
    }
}

/// The model failed while scoring.
#[derive(Debug, Clone, PartialEq, Error)]
#[error("{0}")]
pub struct ScoreError(pub String);

impl From<ScoreError> for ServeError {
    fn from(e: ScoreError) -> Self {
        ServeError::Model(e.0)
    }
}

/// Why a model cannot be served (reported at start-up, never at a request).
#[derive(Debug, Clone, PartialEq, Error)]
pub enum LoadError {
    #[error("the model directory has no `{0}` file")]
    MissingFile(String),
    #[error("`{file}` is not valid: {message}")]
    Invalid { file: String, message: String },
    #[error(
        "Slipway cannot run a model with flavors [{}]: it serves models from `slipway train` and ONNX models. \
         For a scikit-learn (or XGBoost/LightGBM) model, convert it with skl2onnx (onnxmltools) and log it \
         with `mlflow.onnx.log_model(onnx_model, name=\"model\", signature=signature)`, or log the converted \
         file as a `model.onnx` artifact next to its MLmodel",
        .flavors.join(", ")
    )]
    Unsupported { flavors: Vec<String> },
    #[error("cannot load the ONNX model: {0}")]
    Onnx(String),
    #[error("the model failed to score its warm-up rows: {0}")]
    WarmUp(String),
}
