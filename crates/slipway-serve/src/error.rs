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

/// Why scoring failed.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ScoreError {
    /// The model failed (a 500).
    #[error("{0}")]
    Failed(String),
    /// The model refused a value of the request, e.g. an ONNX OneHotEncoder
    /// that takes only the categories it knows (a 422).
    #[error("{0}")]
    Rejected(String),
}

impl From<slipway_onnx::OnnxError> for ScoreError {
    fn from(e: slipway_onnx::OnnxError) -> Self {
        match e {
            slipway_onnx::OnnxError::UnknownCategory { .. } => ScoreError::Rejected(format!(
                "a feature has a value the model refuses ({e}); send one of the categories it \
                 was trained on"
            )),
            other => ScoreError::Failed(other.to_string()),
        }
    }
}

impl From<ScoreError> for ServeError {
    fn from(e: ScoreError) -> Self {
        match e {
            ScoreError::Failed(m) => ServeError::Model(m),
            ScoreError::Rejected(m) => ServeError::Invalid(vec![Problem::new("features", m)]),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_the_model_refuses_is_a_4xx_and_a_model_failure_a_500() {
        let onnx = slipway_onnx::OnnxError::UnknownCategory {
            node: "enc".into(),
            op_type: "OneHotEncoder".into(),
            message: "unknown category 9".into(),
        };
        let e = ServeError::from(ScoreError::from(onnx));
        assert_eq!(e.status(), 422);
        assert!(e.to_string().contains("unknown category 9"), "{e}");
        let e = ServeError::from(ScoreError::from(slipway_onnx::OnnxError::BadInput(
            "x".into(),
        )));
        assert_eq!(e.status(), 500);
    }
}
