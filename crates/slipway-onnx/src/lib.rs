//! `slipway-onnx`: serve ONNX models trained in Python, in pure Rust.
//!
//! A small interpreter of the ONNX and ONNX-ML operators that skl2onnx
//! (scikit-learn) and onnxmltools (XGBoost, LightGBM) emit for tabular models:
//! tree ensembles, linear models and their preprocessing. Decoding uses
//! hand-written `prost` messages for the subset of `onnx.proto` it reads.
//! Every operator is checked when the model is loaded: a model that uses
//! anything else is refused by [`OnnxModel::load`] with an error naming the
//! operator and its domain, never at the first request.
//!
//! Numerics follow onnxruntime's CPU kernels (f32 evaluation, tree sums in the
//! threshold type, the same binary-classifier conventions), so predictions
//! match onnxruntime within 1e-5 (see `tests/parity.rs` and
//! `docs/decisions/onnx-runtime.md`).

mod attrs;
mod graph;
mod ops;
pub mod proto;
mod tensor;
mod tree;

pub use graph::OnnxModel;

/// Element type of a graph input or output (`TensorProto.DataType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElementType {
    Float,
    Double,
    Int64,
    Int32,
    String,
    Bool,
    /// Any other `TensorProto.DataType` code.
    Other(i32),
}

impl ElementType {
    pub(crate) fn from_code(code: i32) -> ElementType {
        match code {
            proto::data_type::FLOAT => ElementType::Float,
            proto::data_type::DOUBLE => ElementType::Double,
            proto::data_type::INT64 => ElementType::Int64,
            proto::data_type::INT32 => ElementType::Int32,
            proto::data_type::STRING => ElementType::String,
            proto::data_type::BOOL => ElementType::Bool,
            other => ElementType::Other(other),
        }
    }
}

/// What a graph input or output holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    Tensor,
    /// skl2onnx's / onnxmltools' `ZipMap` output: a sequence of
    /// `{class label: probability}` maps. [`OnnxModel::run_f32`] returns it as
    /// the probability matrix with [`OnnxOutputs::class_labels`].
    SequenceOfMaps,
}

/// A graph input or output.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    pub elem_type: ElementType,
    /// Dimensions; -1 where unknown (symbolic batch size).
    pub shape: Vec<i64>,
    pub kind: ValueKind,
}

/// Class labels or predicted labels.
#[derive(Debug, Clone, PartialEq)]
pub enum Labels {
    Int64(Vec<i64>),
    String(Vec<String>),
}

impl Labels {
    pub fn len(&self) -> usize {
        match self {
            Labels::Int64(v) => v.len(),
            Labels::String(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Values of one graph input for [`OnnxModel::run_columns`]: `[n_rows, width]`
/// row-major, where `width` is the input's declared second dimension (1 for a
/// `[N]` or `[N, 1]` input).
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    Float(Vec<f32>),
    Int64(Vec<i64>),
    String(Vec<String>),
}

/// How a model uses one string input ([`OnnxModel::string_input_use`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StringInputUse {
    /// The strings the model tells apart, sorted and deduplicated; it treats
    /// every other string alike (a one-hot row of zeros).
    pub categories: Vec<String>,
    /// True when a string outside `categories` makes the model fail
    /// (OneHotEncoder `zeros=0`: scikit-learn's `handle_unknown="error"`).
    pub unknown_fails: bool,
}

/// The outputs of one call, one entry per row.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OnnxOutputs {
    /// Predicted label per row (classifiers).
    pub label: Option<Labels>,
    /// Row-major `[n_rows, n_classes]` probabilities (classifiers) and `n_classes`.
    pub probabilities: Option<(Vec<f32>, usize)>,
    /// Row-major `[n_rows, n_targets]` values (regressors) and `n_targets`.
    pub values: Option<(Vec<f32>, usize)>,
    /// The class of each probability column, in column order.
    pub class_labels: Option<Labels>,
}

/// Why a model could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    #[error("not a readable ONNX model: {0}")]
    Decode(String),
    #[error(
        "unsupported ONNX operator {op_type} (domain {domain}) in node '{node}': Slipway runs the \
         tree-ensemble, linear and preprocessing operators of skl2onnx/onnxmltools models"
    )]
    UnsupportedOperator {
        op_type: String,
        domain: String,
        node: String,
    },
    #[error("invalid ONNX model: {0}")]
    InvalidModel(String),
    #[error("node '{node}' ({op_type}): {message}")]
    InvalidNode {
        node: String,
        op_type: String,
        message: String,
    },
    #[error("bad input: {0}")]
    BadInput(String),
    /// A OneHotEncoder that refuses unknown categories (skl2onnx's
    /// `handle_unknown="error"`) met one: the input is at fault, not the
    /// model.
    #[error("node '{node}' ({op_type}): {message}")]
    UnknownCategory {
        node: String,
        op_type: String,
        message: String,
    },
    #[error("evaluation failed in node '{node}' ({op_type}): {message}")]
    Eval {
        node: String,
        op_type: String,
        message: String,
    },
}
