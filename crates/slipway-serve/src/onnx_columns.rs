//! ONNX models with one input per column: skl2onnx pipelines converted from a
//! DataFrame (a ColumnTransformer over string, int64 and float columns, each
//! column a `[None, 1]` graph input). Which request column feeds which graph
//! input, with which type, and the scorer that builds the inputs.
//!
//! String columns travel through the request path as category codes, as for
//! Slipway's own models, so validation and the fast parsers are the same for
//! every model: the graph only compares a string input with its
//! OneHotEncoders' category lists (checked at load by
//! [`OnnxModel::string_input_use`]), so a code maps back to its category and
//! every other string to one stand-in, which the graph treats exactly as it
//! treats any unknown string (zeros for `handle_unknown="ignore"`; an encoder
//! that refuses unknown strings makes the column strict, and validation
//! refuses them naming the field; so does one on an int64 column).

use slipway_onnx::{Column, ElementType, OnnxError, OnnxModel, OnnxOutputs, TensorInfo};
use slipway_train::dataset::ColumnType;

use crate::error::{LoadError, ScoreError};
use crate::model::{onnx_score_rows, InputColumn, ScoreRow, Scorer};

/// How one graph input is built from its column of encoded values.
#[derive(Debug)]
enum Feed {
    Float,
    Int64,
    /// Codes index `categories`; anything else (NaN: an unseen category or a
    /// missing value) becomes `unknown`, a string outside `categories`.
    Text {
        categories: Vec<String>,
        unknown: String,
    },
}

#[derive(Debug)]
struct GraphInput {
    name: String,
    /// Index of the column in the served model's columns.
    column: usize,
    feed: Feed,
}

/// Scores encoded rows with a multi-input ONNX model.
pub struct ColumnsScorer {
    model: OnnxModel,
    inputs: Vec<GraphInput>,
    /// Columns per encoded row.
    width: usize,
}

fn refuse(message: impl Into<String>) -> LoadError {
    LoadError::Onnx(message.into())
}

fn type_name(e: ElementType) -> &'static str {
    match e {
        ElementType::Float => "float",
        ElementType::Double => "double",
        ElementType::Int64 => "int64",
        ElementType::Int32 => "int32",
        ElementType::String => "string",
        ElementType::Bool => "bool",
        ElementType::Other(_) => "an unsupported type",
    }
}

/// Whether a signature column of type `t` can feed a graph input of type `e`
/// without changing its values.
fn fits(t: ColumnType, e: ElementType) -> bool {
    matches!(
        (t, e),
        (ColumnType::String, ElementType::String)
            | (
                ColumnType::Long | ColumnType::Integer | ColumnType::Boolean,
                ElementType::Int64 | ElementType::Float
            )
            | (ColumnType::Double | ColumnType::Float, ElementType::Float)
    )
}

/// A string outside `categories` (sorted), fed for every unknown one.
fn stand_in(categories: &[String]) -> String {
    let mut s = String::from("\u{0}slipway:unknown");
    while categories.binary_search(&s).is_ok() {
        s.push('\u{0}');
    }
    s
}

/// The served columns and the scorer for a model with several inputs (or
/// one that is not a float tensor). `signature`: the MLmodel's column
/// signature, if any; without one, the graph's inputs name and type the
/// columns.
pub fn plan(
    model: OnnxModel,
    signature: Option<Vec<InputColumn>>,
) -> Result<(Vec<InputColumn>, ColumnsScorer), LoadError> {
    let infos: Vec<TensorInfo> = model.inputs().to_vec();
    for info in &infos {
        if let [_, w] = info.shape.as_slice() {
            if *w > 1 {
                return Err(refuse(format!(
                    "ONNX input `{}` takes {w} columns; a model with several inputs is served with one \
                     [None, 1] input per column, named as the signature's columns (skl2onnx: \
                     initial_types=[(column, FloatTensorType([None, 1]) / Int64TensorType / \
                     StringTensorType), ...] for each DataFrame column)",
                    info.name
                )));
            }
        }
        if info.shape.len() > 2 {
            return Err(refuse(format!(
                "ONNX input `{}` has shape {:?}; Slipway feeds [N] or [N, 1] inputs",
                info.name, info.shape
            )));
        }
    }
    let mut columns = match signature {
        Some(cols) => {
            for info in &infos {
                let Some(col) = cols.iter().find(|c| c.name == info.name) else {
                    return Err(refuse(format!(
                        "the ONNX model takes an input `{}` ({}) that the signature does not name \
                         (signature columns: {}); log the model with the signature of the DataFrame \
                         it was converted from",
                        info.name,
                        type_name(info.elem_type),
                        crate::validate::names(&cols)
                    )));
                };
                if !fits(col.column_type, info.elem_type) {
                    return Err(refuse(format!(
                        "signature column `{}` is {} but the ONNX input `{}` is {}",
                        col.name,
                        col.column_type.as_str(),
                        info.name,
                        type_name(info.elem_type)
                    )));
                }
            }
            for col in &cols {
                if !infos.iter().any(|i| i.name == col.name) {
                    tracing::info!(
                        "signature column `{}` is not an input of the ONNX model: validated, not fed",
                        col.name
                    );
                }
            }
            cols
        }
        None => infos
            .iter()
            .map(|info| {
                let column_type = match info.elem_type {
                    ElementType::String => ColumnType::String,
                    ElementType::Int64 => ColumnType::Long,
                    ElementType::Float => ColumnType::Float,
                    other => {
                        return Err(refuse(format!(
                            "ONNX input `{}` is {}; Slipway feeds float, int64 and string inputs",
                            info.name,
                            type_name(other)
                        )))
                    }
                };
                Ok(InputColumn {
                    name: info.name.clone(),
                    column_type,
                    nullable: true,
                    categories: None,
                    strict_categories: false,
                })
            })
            .collect::<Result<_, _>>()?,
    };
    let mut inputs = Vec::with_capacity(infos.len());
    for info in &infos {
        let column = columns
            .iter()
            .position(|c| c.name == info.name)
            .ok_or_else(|| refuse(format!("no column for ONNX input `{}`", info.name)))?;
        let col = &mut columns[column];
        let feed = match info.elem_type {
            ElementType::Float => Feed::Float,
            // An int64 tensor has no missing value.
            ElementType::Int64 => {
                col.nullable = false;
                if let Some(cats) = model.int_input_strict_categories(&info.name) {
                    // Booleans are 0/1 whatever the encoder knows: left alone.
                    if col.column_type != ColumnType::Boolean {
                        let mut texts: Vec<String> = cats.iter().map(i64::to_string).collect();
                        texts.sort();
                        col.categories = Some(texts);
                        col.strict_categories = true;
                    }
                }
                Feed::Int64
            }
            ElementType::String => {
                let used = model.string_input_use(&info.name).ok_or_else(|| {
                    refuse(format!(
                        "the ONNX model uses its string input `{}` for more than one-hot encoding; \
                         Slipway serves string inputs that feed OneHotEncoders",
                        info.name
                    ))
                })?;
                // A missing string would be an unknown one: refused too when strict.
                col.nullable &= !used.unknown_fails;
                col.strict_categories = used.unknown_fails;
                let unknown = stand_in(&used.categories);
                col.categories = Some(used.categories.clone());
                Feed::Text {
                    categories: used.categories,
                    unknown,
                }
            }
            other => {
                return Err(refuse(format!(
                    "ONNX input `{}` is {}; Slipway feeds float, int64 and string inputs",
                    info.name,
                    type_name(other)
                )))
            }
        };
        inputs.push(GraphInput {
            name: info.name.clone(),
            column,
            feed,
        });
    }
    let width = columns.len();
    Ok((
        columns,
        ColumnsScorer {
            model,
            inputs,
            width,
        },
    ))
}

impl ColumnsScorer {
    /// Runs the graph on `n_rows` encoded rows.
    pub fn run(&self, rows: &[f64], n_rows: usize) -> Result<OnnxOutputs, ScoreError> {
        let k = self.width;
        if n_rows.checked_mul(k) != Some(rows.len()) {
            return Err(ScoreError::Failed(format!(
                "{} values for {n_rows} rows of {k} columns",
                rows.len()
            )));
        }
        let cells = |j: usize| (0..n_rows).map(move |r| rows[r * k + j]);
        let mut feeds = Vec::with_capacity(self.inputs.len());
        for input in &self.inputs {
            let j = input.column;
            let column = match &input.feed {
                Feed::Float => Column::Float(cells(j).map(|v| v as f32).collect()),
                Feed::Int64 => Column::Int64(
                    cells(j)
                        .map(|v| {
                            // Validation lets only integers into an int64 column.
                            if v.is_finite() && v.fract() == 0.0 {
                                Ok(v as i64)
                            } else {
                                Err(ScoreError::Failed(format!(
                                    "int64 input `{}` got {v}",
                                    input.name
                                )))
                            }
                        })
                        .collect::<Result<_, _>>()?,
                ),
                Feed::Text {
                    categories,
                    unknown,
                } => Column::String(
                    cells(j)
                        .map(|code| {
                            let known = code >= 0.0 && code.fract() == 0.0;
                            known
                                .then(|| categories.get(code as usize))
                                .flatten()
                                .unwrap_or(unknown)
                                .clone()
                        })
                        .collect(),
                ),
            };
            feeds.push((input.name.as_str(), column));
        }
        self.model
            .run_inputs(feeds, n_rows)
            .map_err(|e: OnnxError| ScoreError::from(e))
    }
}

impl Scorer for ColumnsScorer {
    fn score(&self, rows: &[f64], n_rows: usize) -> Result<Vec<ScoreRow>, ScoreError> {
        Ok(onnx_score_rows(&self.run(rows, n_rows)?, n_rows))
    }
}
