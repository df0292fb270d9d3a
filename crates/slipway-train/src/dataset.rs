//! From Arrow tables to the dense matrices the models train on: column
//! checks, label decoding, a deterministic (stratified) split, and the
//! [`FeatureEncoder`] that turns named raw values into model inputs. The
//! encoder is stored with the model, so serving encodes exactly as training
//! did. Pure computation, no I/O.

use std::collections::{BTreeSet, HashMap};

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Schema};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::gbm::Task;
use crate::model::FeatureKind;

/// Why a table cannot be turned into training data; every message names the
/// column (or setting) at fault.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum DatasetError {
    #[error("the table has no rows")]
    Empty,
    #[error("column `{column}` not found; the table has: {available}")]
    UnknownColumn { column: String, available: String },
    #[error("no feature columns left after removing the label and `drop:`")]
    NoFeatures,
    #[error("column `{column}` has type {data_type}, which a model cannot use; list it under `drop:` or convert it to a number")]
    UnsupportedType { column: String, data_type: String },
    #[error("column `{column}` has {distinct} distinct strings in {rows} rows: it looks like an identifier; list it under `drop:`")]
    LooksLikeIdentifier {
        column: String,
        distinct: usize,
        rows: usize,
    },
    #[error("column `{column}` holds an infinite value at row {row}")]
    Infinite { column: String, row: usize },
    #[error("label column `{column}` has {count} missing values (first at row {first_row})")]
    MissingLabels {
        column: String,
        count: usize,
        first_row: usize,
    },
    #[error("label column `{column}` has only one class ({value}); a classifier needs rows of both classes")]
    SingleClass { column: String, value: String },
    #[error("label column `{column}` has {count} classes ({examples}); only binary classification is supported: two classes, or use a regressor")]
    TooManyClasses {
        column: String,
        count: usize,
        examples: String,
    },
    #[error("label column `{column}` has values {a:?} and {b:?}: say which one is the positive class with `positive_label:`")]
    AmbiguousPositive {
        column: String,
        a: String,
        b: String,
    },
    #[error("`positive_label: {value}` is not a value of label column `{column}` (it has {a:?} and {b:?})")]
    UnknownPositive {
        column: String,
        value: String,
        a: String,
        b: String,
    },
    #[error("label column `{column}` must be numeric for a regressor, but has type {data_type}")]
    NonNumericLabel { column: String, data_type: String },
    #[error("label column `{column}` holds {value} at row {row}; a binary label must be 0 or 1 (or two distinct strings)")]
    NonBinaryLabel {
        column: String,
        value: f64,
        row: usize,
    },
    #[error("`split.test_size` must be between 0 and 1 (exclusive), got {0}")]
    TestSize(f64),
    #[error("the split leaves {train} training and {test} test rows; both need at least {min}")]
    SplitTooSmall {
        train: usize,
        test: usize,
        min: usize,
    },
    #[error("the {which} set has only one class ({value}); metrics like AUC need both")]
    SplitSingleClass { which: &'static str, value: String },
    #[error("the test table does not match the training table: {0}")]
    TestSchema(String),
    #[error("column `{column}` has type {found}, but the model was trained on {expected} values")]
    ColumnKindChanged {
        column: String,
        expected: &'static str,
        found: String,
    },
}

/// One input column as MLflow's signature names its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    Long,
    Integer,
    Double,
    Float,
    Boolean,
    String,
}

impl ColumnType {
    pub fn as_str(self) -> &'static str {
        match self {
            ColumnType::Long => "long",
            ColumnType::Integer => "integer",
            ColumnType::Double => "double",
            ColumnType::Float => "float",
            ColumnType::Boolean => "boolean",
            ColumnType::String => "string",
        }
    }

    fn of(data_type: &DataType) -> Option<ColumnType> {
        Some(match data_type {
            DataType::Int64 | DataType::UInt32 | DataType::UInt64 => ColumnType::Long,
            DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::UInt8
            | DataType::UInt16 => ColumnType::Integer,
            DataType::Float64 => ColumnType::Double,
            DataType::Float16 | DataType::Float32 => ColumnType::Float,
            DataType::Boolean => ColumnType::Boolean,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => ColumnType::String,
            DataType::Dictionary(_, v)
                if matches!(
                    **v,
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                ) =>
            {
                ColumnType::String
            }
            _ => return None,
        })
    }
}

/// How one feature column becomes one model input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureColumn {
    pub name: String,
    /// The column's type in the training data (the signature's type).
    #[serde(rename = "type")]
    pub column_type: ColumnType,
    /// Whether the training data had missing values in it (MLflow's
    /// `required: false`).
    pub nullable: bool,
    /// For string columns: the categories seen in training, sorted; a value's
    /// code is its index. Anything else is an unseen category (missing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categories: Option<Vec<String>>,
}

impl FeatureColumn {
    pub fn kind(&self) -> FeatureKind {
        match &self.categories {
            Some(c) => FeatureKind::Categorical {
                cardinality: c.len(),
            },
            None => FeatureKind::Numeric,
        }
    }
}

/// Feature names, types and category maps: what the model needs to turn a
/// row of named values into its input vector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureEncoder {
    pub columns: Vec<FeatureColumn>,
}

impl FeatureEncoder {
    pub fn kinds(&self) -> Vec<FeatureKind> {
        self.columns.iter().map(FeatureColumn::kind).collect()
    }

    pub fn names(&self) -> Vec<String> {
        self.columns.iter().map(|c| c.name.clone()).collect()
    }

    /// The value a raw string takes for categorical column `i` (NaN when
    /// unseen in training).
    pub fn category_code(&self, i: usize, value: &str) -> f64 {
        match self.columns.get(i).and_then(|c| c.categories.as_ref()) {
            Some(cats) => cats
                .binary_search_by(|c| c.as_str().cmp(value))
                .map_or(f64::NAN, |code| code as f64),
            None => f64::NAN,
        }
    }
}

/// How the label is read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelInfo {
    pub column: String,
    pub task: Task,
    /// Classification: the raw value meaning class 1, and the other one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub positive: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub negative: Option<String>,
}

/// What to read from the table.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetSpec {
    pub label: String,
    pub drop: Vec<String>,
    pub task: Task,
    pub positive_label: Option<String>,
}

/// How to split rows into training and test sets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SplitSpec {
    pub test_size: f64,
    pub stratify: bool,
    pub seed: u64,
}

impl Default for SplitSpec {
    fn default() -> Self {
        SplitSpec {
            test_size: 0.2,
            stratify: true,
            seed: 42,
        }
    }
}

/// Training and test matrices (row-major, NaN = missing) with their labels.
#[derive(Debug, Clone)]
pub struct PreparedData {
    pub encoder: FeatureEncoder,
    pub label: LabelInfo,
    pub x_train: Vec<f64>,
    pub y_train: Vec<f64>,
    pub x_test: Vec<f64>,
    pub y_test: Vec<f64>,
    /// Up to five test rows as raw values, for the model's input example.
    pub example_rows: Vec<Vec<serde_json::Value>>,
}

impl PreparedData {
    pub fn n_features(&self) -> usize {
        self.encoder.columns.len()
    }
    pub fn train_rows(&self) -> usize {
        self.y_train.len()
    }
    pub fn test_rows(&self) -> usize {
        self.y_test.len()
    }
}

/// A raw column, gathered across batches.
enum RawColumn {
    Numeric(Vec<f64>),
    /// Codes into `vocab`; `u32::MAX` is missing.
    Strings {
        codes: Vec<u32>,
        vocab: Vec<String>,
    },
}

const MISSING: u32 = u32::MAX;

/// A table's columns, checked and gathered.
struct Table {
    rows: usize,
    columns: Vec<(String, ColumnType, RawColumn)>,
    label: RawColumn,
    label_type: DataType,
}

fn available(schema: &Schema) -> String {
    schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The feature columns `spec` selects from `schema`, in table order.
pub fn feature_names(schema: &Schema, spec: &DatasetSpec) -> Result<Vec<String>, DatasetError> {
    for name in std::iter::once(&spec.label).chain(&spec.drop) {
        if schema.field_with_name(name).is_err() {
            return Err(DatasetError::UnknownColumn {
                column: name.clone(),
                available: available(schema),
            });
        }
    }
    let names: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .filter(|n| n != &spec.label && !spec.drop.contains(n))
        .collect();
    if names.is_empty() {
        return Err(DatasetError::NoFeatures);
    }
    Ok(names)
}

fn gather(
    schema: &Schema,
    batches: &[RecordBatch],
    features: &[String],
    label: &str,
) -> Result<Table, DatasetError> {
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    let column = |name: &str| -> Result<(usize, DataType), DatasetError> {
        let (i, field) =
            schema
                .column_with_name(name)
                .ok_or_else(|| DatasetError::UnknownColumn {
                    column: name.to_string(),
                    available: available(schema),
                })?;
        Ok((i, field.data_type().clone()))
    };
    let mut columns = Vec::with_capacity(features.len());
    for name in features {
        let (i, data_type) = column(name)?;
        let column_type =
            ColumnType::of(&data_type).ok_or_else(|| DatasetError::UnsupportedType {
                column: name.clone(),
                data_type: data_type.to_string(),
            })?;
        let arrays: Vec<&ArrayRef> = batches.iter().map(|b| b.column(i)).collect();
        let raw = read_column(name, &arrays, column_type, rows)?;
        columns.push((name.clone(), column_type, raw));
    }
    let (li, label_type) = column(label)?;
    let arrays: Vec<&ArrayRef> = batches.iter().map(|b| b.column(li)).collect();
    let label_column = match ColumnType::of(&label_type) {
        Some(t) => read_column(label, &arrays, t, rows)?,
        None => {
            return Err(DatasetError::UnsupportedType {
                column: label.to_string(),
                data_type: label_type.to_string(),
            })
        }
    };
    Ok(Table {
        rows,
        columns,
        label: label_column,
        label_type,
    })
}

fn read_column(
    name: &str,
    arrays: &[&ArrayRef],
    column_type: ColumnType,
    rows: usize,
) -> Result<RawColumn, DatasetError> {
    if column_type == ColumnType::String {
        let mut vocab: Vec<String> = Vec::new();
        let mut index: HashMap<String, u32> = HashMap::new();
        let mut codes = Vec::with_capacity(rows);
        for array in arrays {
            let cast;
            let array: &dyn Array = match array.data_type() {
                DataType::Dictionary(_, _) | DataType::LargeUtf8 | DataType::Utf8View => {
                    cast = arrow_cast_to_utf8(array.as_ref());
                    cast.as_ref()
                }
                _ => array.as_ref(),
            };
            let strings = array.as_string::<i32>();
            for v in strings.iter() {
                codes.push(match v {
                    None => MISSING,
                    Some(s) => match index.get(s) {
                        Some(&c) => c,
                        None => {
                            let c = vocab.len() as u32;
                            vocab.push(s.to_string());
                            index.insert(s.to_string(), c);
                            c
                        }
                    },
                });
            }
        }
        return Ok(RawColumn::Strings { codes, vocab });
    }
    let mut values = Vec::with_capacity(rows);
    for array in arrays {
        let start = values.len();
        push_numbers(array.as_ref(), &mut values);
        if let Some(offset) = values[start..].iter().position(|v| v.is_infinite()) {
            return Err(DatasetError::Infinite {
                column: name.to_string(),
                row: start + offset,
            });
        }
    }
    Ok(RawColumn::Numeric(values))
}

/// Strings of a dictionary, large or view string array, as a plain `Utf8`
/// array (rare in practice: Parquet from pandas gives `Utf8` or dictionaries).
fn arrow_cast_to_utf8(array: &dyn Array) -> ArrayRef {
    let values: Vec<Option<String>> = match array.data_type() {
        DataType::Dictionary(_, _) => {
            let dict = array.as_any_dictionary();
            let values = arrow_cast_to_utf8_plain(dict.values().as_ref());
            dict.normalized_keys()
                .into_iter()
                .enumerate()
                .map(|(i, k)| {
                    if dict.keys().is_valid(i) {
                        values.get(k).cloned().flatten()
                    } else {
                        None
                    }
                })
                .collect()
        }
        _ => arrow_cast_to_utf8_plain(array),
    };
    std::sync::Arc::new(arrow_array::StringArray::from(values))
}

fn arrow_cast_to_utf8_plain(array: &dyn Array) -> Vec<Option<String>> {
    match array.data_type() {
        DataType::Utf8 => array
            .as_string::<i32>()
            .iter()
            .map(|v| v.map(str::to_string))
            .collect(),
        DataType::LargeUtf8 => array
            .as_string::<i64>()
            .iter()
            .map(|v| v.map(str::to_string))
            .collect(),
        DataType::Utf8View => array
            .as_string_view()
            .iter()
            .map(|v| v.map(str::to_string))
            .collect(),
        _ => vec![None; array.len()],
    }
}

fn push_numbers(array: &dyn Array, out: &mut Vec<f64>) {
    macro_rules! prim {
        ($t:ty) => {
            out.extend(
                array
                    .as_primitive::<$t>()
                    .iter()
                    .map(|v| v.map_or(f64::NAN, |v| v as f64)),
            )
        };
    }
    match array.data_type() {
        DataType::Int8 => prim!(Int8Type),
        DataType::Int16 => prim!(Int16Type),
        DataType::Int32 => prim!(Int32Type),
        DataType::Int64 => prim!(Int64Type),
        DataType::UInt8 => prim!(UInt8Type),
        DataType::UInt16 => prim!(UInt16Type),
        DataType::UInt32 => prim!(UInt32Type),
        DataType::UInt64 => prim!(UInt64Type),
        DataType::Float32 => prim!(Float32Type),
        DataType::Float64 => prim!(Float64Type),
        DataType::Float16 => out.extend(
            array
                .as_primitive::<Float16Type>()
                .iter()
                .map(|v| v.map_or(f64::NAN, f64::from)),
        ),
        DataType::Boolean => out.extend(
            array
                .as_boolean()
                .iter()
                .map(|v| v.map_or(f64::NAN, |b| if b { 1.0 } else { 0.0 })),
        ),
        _ => out.extend(std::iter::repeat_n(f64::NAN, array.len())),
    }
}

/// Pairs of label strings whose positive class is obvious (compared
/// case-insensitively).
const KNOWN_POSITIVES: [(&str, &str); 6] = [
    ("yes", "no"),
    ("true", "false"),
    ("y", "n"),
    ("1", "0"),
    ("positive", "negative"),
    ("pos", "neg"),
];

fn decode_labels(table: &Table, spec: &DatasetSpec) -> Result<(Vec<f64>, LabelInfo), DatasetError> {
    let column = spec.label.clone();
    let missing: Vec<usize> = match &table.label {
        RawColumn::Numeric(v) => v
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_nan())
            .map(|(i, _)| i)
            .collect(),
        RawColumn::Strings { codes, .. } => codes
            .iter()
            .enumerate()
            .filter(|(_, &c)| c == MISSING)
            .map(|(i, _)| i)
            .collect(),
    };
    if let Some(&first_row) = missing.first() {
        return Err(DatasetError::MissingLabels {
            column,
            count: missing.len(),
            first_row,
        });
    }
    match (spec.task, &table.label) {
        (Task::Regression, RawColumn::Numeric(v)) => Ok((
            v.clone(),
            LabelInfo {
                column,
                task: Task::Regression,
                positive: None,
                negative: None,
            },
        )),
        (Task::Regression, RawColumn::Strings { .. }) => Err(DatasetError::NonNumericLabel {
            column,
            data_type: table.label_type.to_string(),
        }),
        (Task::Binary, RawColumn::Numeric(v)) => {
            if let Some((row, &value)) = v.iter().enumerate().find(|(_, &x)| x != 0.0 && x != 1.0) {
                return Err(DatasetError::NonBinaryLabel { column, value, row });
            }
            let positives = v.iter().filter(|&&x| x == 1.0).count();
            if positives == 0 || positives == v.len() {
                let value = if positives == 0 { "0" } else { "1" };
                return Err(DatasetError::SingleClass {
                    column,
                    value: value.into(),
                });
            }
            Ok((
                v.clone(),
                LabelInfo {
                    column,
                    task: Task::Binary,
                    positive: Some("1".into()),
                    negative: Some("0".into()),
                },
            ))
        }
        (Task::Binary, RawColumn::Strings { codes, vocab }) => {
            let mut sorted: Vec<&String> = vocab.iter().collect();
            sorted.sort();
            match sorted.len() {
                1 => {
                    return Err(DatasetError::SingleClass {
                        column,
                        value: sorted[0].clone(),
                    })
                }
                2 => {}
                n => {
                    return Err(DatasetError::TooManyClasses {
                        column,
                        count: n,
                        examples: sorted
                            .iter()
                            .take(5)
                            .map(|s| format!("{s:?}"))
                            .collect::<Vec<_>>()
                            .join(", "),
                    })
                }
            }
            let (a, b) = (sorted[0].clone(), sorted[1].clone());
            let positive = match &spec.positive_label {
                Some(p) if p == &a || p == &b => p.clone(),
                Some(p) => {
                    return Err(DatasetError::UnknownPositive {
                        column,
                        value: p.clone(),
                        a,
                        b,
                    })
                }
                None => {
                    let known = KNOWN_POSITIVES.iter().find_map(|(pos, neg)| {
                        let (la, lb) = (a.to_lowercase(), b.to_lowercase());
                        if la == *pos && lb == *neg {
                            Some(a.clone())
                        } else if lb == *pos && la == *neg {
                            Some(b.clone())
                        } else {
                            None
                        }
                    });
                    known.ok_or_else(|| DatasetError::AmbiguousPositive {
                        column: column.clone(),
                        a: a.clone(),
                        b: b.clone(),
                    })?
                }
            };
            let negative = if positive == a { b } else { a };
            let pos_code = vocab.iter().position(|v| v == &positive).unwrap_or(0) as u32;
            let y = codes
                .iter()
                .map(|&c| if c == pos_code { 1.0 } else { 0.0 })
                .collect();
            Ok((
                y,
                LabelInfo {
                    column,
                    task: Task::Binary,
                    positive: Some(positive),
                    negative: Some(negative),
                },
            ))
        }
    }
}

/// SplitMix64: a tiny, fixed, platform-independent generator, so a split
/// never changes with a dependency's version.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (Lemire's multiply-shift; the bias is below 2^-40
    /// for any table that fits in memory).
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next()) * n as u128) >> 64) as usize
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

/// Row indices of the training and test sets, each in table order. With
/// `stratify` (classification), each class is split in the same proportion.
pub fn split_indices(
    labels: &[f64],
    split: SplitSpec,
    task: Task,
) -> Result<(Vec<usize>, Vec<usize>), DatasetError> {
    if !(split.test_size > 0.0 && split.test_size < 1.0) {
        return Err(DatasetError::TestSize(split.test_size));
    }
    let mut rng = SplitMix64(split.seed);
    let mut groups: Vec<Vec<usize>> = if split.stratify && task == Task::Binary {
        let (mut neg, mut pos) = (Vec::new(), Vec::new());
        for (i, &y) in labels.iter().enumerate() {
            if y == 1.0 {
                pos.push(i)
            } else {
                neg.push(i)
            }
        }
        vec![neg, pos]
    } else {
        vec![(0..labels.len()).collect()]
    };
    let mut test = Vec::new();
    for group in &mut groups {
        rng.shuffle(group);
        let n_test = (group.len() as f64 * split.test_size).round() as usize;
        test.extend_from_slice(&group[..n_test.min(group.len())]);
    }
    test.sort_unstable();
    let mut in_test = vec![false; labels.len()];
    for &i in &test {
        in_test[i] = true;
    }
    let train: Vec<usize> = (0..labels.len()).filter(|&i| !in_test[i]).collect();
    Ok((train, test))
}

/// Reads training (and, when given, test) tables into matrices: features
/// are every column but the label and `drop`, string columns become
/// categories (fitted on the training rows), and without a test table the
/// rows are split by `split`.
pub fn prepare(
    schema: &Schema,
    batches: &[RecordBatch],
    test: Option<(&Schema, &[RecordBatch])>,
    spec: &DatasetSpec,
    split: SplitSpec,
) -> Result<PreparedData, DatasetError> {
    let features = feature_names(schema, spec)?;
    let table = gather(schema, batches, &features, &spec.label)?;
    if table.rows == 0 {
        return Err(DatasetError::Empty);
    }
    let (labels, label) = decode_labels(&table, spec)?;
    match test {
        None => {
            let (train_rows, test_rows) = split_indices(&labels, split, spec.task)?;
            finish(&table, train_rows, None, test_rows, &labels, &labels, label)
        }
        Some((test_schema, test_batches)) => {
            for name in features.iter().chain(std::iter::once(&spec.label)) {
                let want = schema
                    .field_with_name(name)
                    .ok()
                    .and_then(|f| ColumnType::of(f.data_type()));
                match test_schema.field_with_name(name) {
                    Err(_) => {
                        return Err(DatasetError::TestSchema(format!(
                            "column `{name}` is missing"
                        )))
                    }
                    Ok(f) if ColumnType::of(f.data_type()) != want => {
                        return Err(DatasetError::TestSchema(format!(
                            "column `{name}` has type {} in the test table",
                            f.data_type()
                        )))
                    }
                    Ok(_) => {}
                }
            }
            let test_table = gather(test_schema, test_batches, &features, &spec.label)?;
            if test_table.rows == 0 {
                return Err(DatasetError::TestSchema(
                    "the test table has no rows".into(),
                ));
            }
            let (test_labels, _) = decode_labels_like(&test_table, spec, &label)?;
            finish(
                &table,
                (0..table.rows).collect(),
                Some(&test_table),
                (0..test_table.rows).collect(),
                &labels,
                &test_labels,
                label,
            )
        }
    }
}

/// Test labels read with the training table's positive class.
fn decode_labels_like(
    table: &Table,
    spec: &DatasetSpec,
    train: &LabelInfo,
) -> Result<(Vec<f64>, LabelInfo), DatasetError> {
    let spec = DatasetSpec {
        positive_label: train.positive.clone(),
        ..spec.clone()
    };
    match (&table.label, train.task) {
        // A test window may hold a single class; only the values are checked.
        (RawColumn::Strings { codes, vocab }, Task::Binary) => {
            let positive = train.positive.clone().unwrap_or_default();
            let negative = train.negative.clone().unwrap_or_default();
            if let Some(bad) = vocab.iter().find(|v| **v != positive && **v != negative) {
                return Err(DatasetError::TestSchema(format!(
                    "label `{}` has value {bad:?}, not one of {positive:?}/{negative:?}",
                    spec.label
                )));
            }
            if let Some(row) = codes.iter().position(|&c| c == MISSING) {
                return Err(DatasetError::MissingLabels {
                    column: spec.label.clone(),
                    count: codes.iter().filter(|&&c| c == MISSING).count(),
                    first_row: row,
                });
            }
            let y = codes
                .iter()
                .map(|&c| f64::from(u8::from(vocab[c as usize] == positive)))
                .collect();
            Ok((y, train.clone()))
        }
        (RawColumn::Numeric(v), Task::Binary) => {
            if let Some((row, &value)) = v.iter().enumerate().find(|(_, &x)| x != 0.0 && x != 1.0) {
                return Err(DatasetError::NonBinaryLabel {
                    column: spec.label.clone(),
                    value,
                    row,
                });
            }
            Ok((v.clone(), train.clone()))
        }
        _ => decode_labels(table, &spec),
    }
}

fn finish(
    train_table: &Table,
    train_rows: Vec<usize>,
    test_table: Option<&Table>,
    test_rows: Vec<usize>,
    train_labels: &[f64],
    test_labels_src: &[f64],
    label: LabelInfo,
) -> Result<PreparedData, DatasetError> {
    let min = 1;
    if train_rows.len() < min || test_rows.len() < min {
        return Err(DatasetError::SplitTooSmall {
            train: train_rows.len(),
            test: test_rows.len(),
            min,
        });
    }
    let y_train: Vec<f64> = train_rows.iter().map(|&i| train_labels[i]).collect();
    let y_test: Vec<f64> = test_rows.iter().map(|&i| test_labels_src[i]).collect();
    if label.task == Task::Binary {
        for (which, y) in [("training", &y_train), ("test", &y_test)] {
            let pos = y.iter().filter(|&&v| v == 1.0).count();
            if pos == 0 || pos == y.len() {
                let value = if pos == 0 {
                    label.negative.clone()
                } else {
                    label.positive.clone()
                };
                return Err(DatasetError::SplitSingleClass {
                    which,
                    value: value.unwrap_or_default(),
                });
            }
        }
    }
    // Fit the encoder on the training rows only.
    let mut columns = Vec::with_capacity(train_table.columns.len());
    for (name, column_type, raw) in &train_table.columns {
        match raw {
            RawColumn::Numeric(v) => {
                let nullable = train_rows.iter().any(|&i| v[i].is_nan());
                columns.push(FeatureColumn {
                    name: name.clone(),
                    column_type: *column_type,
                    nullable,
                    categories: None,
                });
            }
            RawColumn::Strings { codes, vocab } => {
                let mut seen = vec![false; vocab.len()];
                let mut nullable = false;
                for &i in &train_rows {
                    match codes[i] {
                        MISSING => nullable = true,
                        c => seen[c as usize] = true,
                    }
                }
                let categories: BTreeSet<&str> = vocab
                    .iter()
                    .zip(&seen)
                    .filter(|(_, &s)| s)
                    .map(|(v, _)| v.as_str())
                    .collect();
                let non_null = train_rows.iter().filter(|&&i| codes[i] != MISSING).count();
                if categories.len() > 50 && categories.len() as f64 > 0.9 * non_null as f64 {
                    return Err(DatasetError::LooksLikeIdentifier {
                        column: name.clone(),
                        distinct: categories.len(),
                        rows: non_null,
                    });
                }
                let categories: Vec<String> = categories.into_iter().map(String::from).collect();
                columns.push(FeatureColumn {
                    name: name.clone(),
                    column_type: *column_type,
                    nullable,
                    categories: Some(categories),
                });
            }
        }
    }
    let encoder = FeatureEncoder { columns };
    let x_train = matrix(&encoder, train_table, &train_rows);
    let test_src = test_table.unwrap_or(train_table);
    let x_test = matrix(&encoder, test_src, &test_rows);
    let example_rows = test_rows
        .iter()
        .take(5)
        .map(|&i| raw_row(test_src, i))
        .collect();
    Ok(PreparedData {
        encoder,
        label,
        x_train,
        y_train,
        x_test,
        y_test,
        example_rows,
    })
}

/// Data for a model that is already trained: its features encoded with the
/// model's own encoder (categories unseen in training become missing) and,
/// when asked, the labels read with its positive class.
#[derive(Debug, Clone)]
pub struct EvalData {
    pub x: Vec<f64>,
    pub y: Option<Vec<f64>>,
    pub rows: usize,
}

/// Encodes a table for a trained model. Extra columns are ignored; a
/// missing feature column, or one whose kind changed (text where the model
/// had numbers, or the reverse), is an error naming it.
pub fn encode_for(
    encoder: &FeatureEncoder,
    label: Option<&LabelInfo>,
    schema: &Schema,
    batches: &[RecordBatch],
) -> Result<EvalData, DatasetError> {
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    let mut columns = Vec::with_capacity(encoder.columns.len());
    for feature in &encoder.columns {
        let (i, field) =
            schema
                .column_with_name(&feature.name)
                .ok_or_else(|| DatasetError::UnknownColumn {
                    column: feature.name.clone(),
                    available: available(schema),
                })?;
        let found = ColumnType::of(field.data_type());
        let compatible = match found {
            Some(ColumnType::String) => feature.column_type == ColumnType::String,
            Some(_) => feature.column_type != ColumnType::String,
            None => false,
        };
        if !compatible {
            return Err(DatasetError::ColumnKindChanged {
                column: feature.name.clone(),
                expected: feature.column_type.as_str(),
                found: field.data_type().to_string(),
            });
        }
        let arrays: Vec<&ArrayRef> = batches.iter().map(|b| b.column(i)).collect();
        let raw = read_column(
            &feature.name,
            &arrays,
            found.unwrap_or(ColumnType::Double),
            rows,
        )?;
        columns.push((feature.name.clone(), feature.column_type, raw));
    }
    let mut table = Table {
        rows,
        columns,
        label: RawColumn::Numeric(Vec::new()),
        label_type: DataType::Null,
    };
    let y = match label {
        None => None,
        Some(info) => {
            let (i, field) = schema.column_with_name(&info.column).ok_or_else(|| {
                DatasetError::UnknownColumn {
                    column: info.column.clone(),
                    available: available(schema),
                }
            })?;
            let t =
                ColumnType::of(field.data_type()).ok_or_else(|| DatasetError::UnsupportedType {
                    column: info.column.clone(),
                    data_type: field.data_type().to_string(),
                })?;
            let arrays: Vec<&ArrayRef> = batches.iter().map(|b| b.column(i)).collect();
            table.label = read_column(&info.column, &arrays, t, rows)?;
            table.label_type = field.data_type().clone();
            let spec = DatasetSpec {
                label: info.column.clone(),
                drop: Vec::new(),
                task: info.task,
                positive_label: info.positive.clone(),
            };
            Some(decode_labels_like(&table, &spec, info)?.0)
        }
    };
    let all: Vec<usize> = (0..rows).collect();
    Ok(EvalData {
        x: matrix(encoder, &table, &all),
        y,
        rows,
    })
}

/// A column's values as text (numbers formatted), missing as `None`: for
/// slicing evaluation data by a column's values.
pub fn column_strings(
    schema: &Schema,
    batches: &[RecordBatch],
    name: &str,
) -> Result<Vec<Option<String>>, DatasetError> {
    let (i, field) = schema
        .column_with_name(name)
        .ok_or_else(|| DatasetError::UnknownColumn {
            column: name.to_string(),
            available: available(schema),
        })?;
    let t = ColumnType::of(field.data_type()).ok_or_else(|| DatasetError::UnsupportedType {
        column: name.to_string(),
        data_type: field.data_type().to_string(),
    })?;
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    let arrays: Vec<&ArrayRef> = batches.iter().map(|b| b.column(i)).collect();
    Ok(match read_column(name, &arrays, t, rows)? {
        RawColumn::Strings { codes, vocab } => codes
            .into_iter()
            .map(|c| (c != MISSING).then(|| vocab[c as usize].clone()))
            .collect(),
        RawColumn::Numeric(v) => v
            .into_iter()
            .map(|x| (!x.is_nan()).then(|| x.to_string()))
            .collect(),
    })
}

/// A numeric column's values (NaN for missing): the "current" side of drift.
pub fn column_numbers(
    schema: &Schema,
    batches: &[RecordBatch],
    name: &str,
) -> Result<Vec<f64>, DatasetError> {
    let (i, field) = schema
        .column_with_name(name)
        .ok_or_else(|| DatasetError::UnknownColumn {
            column: name.to_string(),
            available: available(schema),
        })?;
    match ColumnType::of(field.data_type()) {
        Some(t) if t != ColumnType::String => {
            let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
            let arrays: Vec<&ArrayRef> = batches.iter().map(|b| b.column(i)).collect();
            match read_column(name, &arrays, t, rows)? {
                RawColumn::Numeric(v) => Ok(v),
                RawColumn::Strings { .. } => unreachable_numeric(name, field.data_type()),
            }
        }
        _ => unreachable_numeric(name, field.data_type()),
    }
}

fn unreachable_numeric<T>(name: &str, data_type: &DataType) -> Result<T, DatasetError> {
    Err(DatasetError::ColumnKindChanged {
        column: name.to_string(),
        expected: "a number",
        found: data_type.to_string(),
    })
}

/// Row-major values of `rows`, encoded by `encoder`.
fn matrix(encoder: &FeatureEncoder, table: &Table, rows: &[usize]) -> Vec<f64> {
    let n_cols = table.columns.len();
    let mut out = vec![f64::NAN; rows.len() * n_cols];
    for (j, (_, _, raw)) in table.columns.iter().enumerate() {
        match raw {
            RawColumn::Numeric(v) => {
                for (r, &i) in rows.iter().enumerate() {
                    out[r * n_cols + j] = v[i];
                }
            }
            RawColumn::Strings { codes, vocab } => {
                let map: Vec<f64> = vocab.iter().map(|s| encoder.category_code(j, s)).collect();
                for (r, &i) in rows.iter().enumerate() {
                    let c = codes[i];
                    out[r * n_cols + j] = if c == MISSING {
                        f64::NAN
                    } else {
                        map[c as usize]
                    };
                }
            }
        }
    }
    out
}

fn raw_row(table: &Table, i: usize) -> Vec<serde_json::Value> {
    use serde_json::Value;
    table
        .columns
        .iter()
        .map(|(_, column_type, raw)| match raw {
            RawColumn::Numeric(v) if v[i].is_nan() => Value::Null,
            RawColumn::Numeric(v) => match column_type {
                ColumnType::Long | ColumnType::Integer => Value::from(v[i] as i64),
                ColumnType::Boolean => Value::from(v[i] == 1.0),
                _ => Value::from(v[i]),
            },
            RawColumn::Strings { codes, vocab } => match codes[i] {
                MISSING => Value::Null,
                c => Value::from(vocab[c as usize].clone()),
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Float64Array, Int32Array, StringArray};
    use arrow_schema::Field;
    use std::sync::Arc;

    fn table(
        plan: Vec<Option<&str>>,
        x: Vec<Option<f64>>,
        y: ArrayRef,
    ) -> (Schema, Vec<RecordBatch>) {
        let schema = Schema::new(vec![
            Field::new("plan", DataType::Utf8, true),
            Field::new("x", DataType::Float64, true),
            Field::new("y", y.data_type().clone(), true),
        ]);
        let batch = RecordBatch::try_new(
            Arc::new(schema.clone()),
            vec![
                Arc::new(StringArray::from(plan)),
                Arc::new(Float64Array::from(x)),
                y,
            ],
        )
        .unwrap();
        (schema, vec![batch])
    }

    fn spec(task: Task) -> DatasetSpec {
        DatasetSpec {
            label: "y".into(),
            drop: vec![],
            task,
            positive_label: None,
        }
    }

    fn ten() -> (Schema, Vec<RecordBatch>) {
        let plans = ["b", "a", "c", "a", "b", "a", "c", "b", "a", "c"];
        table(
            plans.iter().map(|p| Some(*p)).collect(),
            (0..10)
                .map(|i| if i == 3 { None } else { Some(i as f64) })
                .collect(),
            Arc::new(Int32Array::from(vec![0, 1, 0, 1, 0, 1, 0, 1, 0, 1])),
        )
    }

    #[test]
    fn encodes_categories_from_training_rows_and_keeps_missing() {
        let (schema, batches) = ten();
        let split = SplitSpec {
            test_size: 0.2,
            ..Default::default()
        };
        let d = prepare(&schema, &batches, None, &spec(Task::Binary), split).unwrap();
        assert_eq!(d.train_rows() + d.test_rows(), 10);
        assert_eq!(d.test_rows(), 2);
        assert_eq!(d.encoder.names(), ["plan", "x"]);
        let plan = &d.encoder.columns[0];
        assert_eq!(plan.column_type, ColumnType::String);
        let cats = plan.categories.as_ref().unwrap();
        assert!(cats.windows(2).all(|w| w[0] < w[1]), "sorted: {cats:?}");
        assert_eq!(d.encoder.columns[1].column_type, ColumnType::Double);
        // Every encoded category code is an index into the categories.
        for row in d.x_train.chunks(2) {
            assert!(row[0] >= 0.0 && (row[0] as usize) < cats.len());
        }
        assert!(d.encoder.category_code(0, "zzz").is_nan());
        assert_eq!(d.example_rows.len(), 2);
        // Stratified: each set holds both classes.
        assert!(d.y_test.contains(&1.0) && d.y_test.contains(&0.0));
    }

    #[test]
    fn split_is_deterministic_stratified_and_seeded() {
        let labels: Vec<f64> = (0..1000).map(|i| f64::from(u8::from(i % 5 == 0))).collect();
        let s = SplitSpec::default();
        let (train, test) = split_indices(&labels, s, Task::Binary).unwrap();
        assert_eq!(
            split_indices(&labels, s, Task::Binary).unwrap(),
            (train.clone(), test.clone())
        );
        assert_eq!(test.len(), 200);
        assert_eq!(test.iter().filter(|&&i| labels[i] == 1.0).count(), 40);
        assert_eq!(train.len() + test.len(), 1000);
        let other = split_indices(&labels, SplitSpec { seed: 7, ..s }, Task::Binary).unwrap();
        assert_ne!(other.1, test);
        assert!(split_indices(
            &labels,
            SplitSpec {
                test_size: 1.0,
                ..s
            },
            Task::Binary
        )
        .is_err());
    }

    #[test]
    fn label_problems_are_named() {
        let err = |y: ArrayRef, positive: Option<&str>| {
            let n = y.len();
            let (schema, batches) = table(vec![Some("a"); n], vec![Some(1.0); n], y);
            let mut sp = spec(Task::Binary);
            sp.positive_label = positive.map(String::from);
            prepare(&schema, &batches, None, &sp, SplitSpec::default())
                .unwrap_err()
                .to_string()
        };
        let e = err(Arc::new(Int32Array::from(vec![1; 10])), None);
        assert!(e.contains("only one class"), "{e}");
        let e = err(
            Arc::new(Int32Array::from(vec![0, 1, 2, 0, 1, 0, 1, 0, 1, 0])),
            None,
        );
        assert!(e.contains("0 or 1") && e.contains("row 2"), "{e}");
        let e = err(
            Arc::new(Int32Array::from(vec![Some(0), None, Some(1)])),
            None,
        );
        assert!(e.contains("missing") && e.contains("row 1"), "{e}");
        let good_bad = || {
            Arc::new(StringArray::from(vec![
                "good", "bad", "good", "bad", "good",
            ])) as ArrayRef
        };
        let e = err(good_bad(), None);
        assert!(e.contains("positive_label"), "{e}");
        let e = err(good_bad(), Some("ugly"));
        assert!(e.contains("ugly"), "{e}");
        let e = err(Arc::new(StringArray::from(vec!["a", "b", "c"])), None);
        assert!(e.contains("3 classes"), "{e}");
    }

    #[test]
    fn string_labels_decode_with_the_positive_class() {
        let y: ArrayRef = Arc::new(StringArray::from(vec![
            "No", "Yes", "No", "Yes", "No", "Yes", "No", "Yes", "No", "Yes",
        ]));
        let (schema, batches) = table(vec![Some("a"); 10], vec![Some(1.0); 10], y);
        let d = prepare(
            &schema,
            &batches,
            None,
            &spec(Task::Binary),
            SplitSpec::default(),
        )
        .unwrap();
        assert_eq!(d.label.positive.as_deref(), Some("Yes"));
        assert_eq!(
            d.y_train.iter().sum::<f64>() + d.y_test.iter().sum::<f64>(),
            5.0
        );
    }

    #[test]
    fn column_problems_are_named() {
        let (schema, batches) = ten();
        let mut sp = spec(Task::Binary);
        sp.drop = vec!["nope".into()];
        let e = prepare(&schema, &batches, None, &sp, SplitSpec::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("nope") && e.contains("plan, x, y"), "{e}");
        sp.drop = vec!["plan".into(), "x".into()];
        let e = prepare(&schema, &batches, None, &sp, SplitSpec::default()).unwrap_err();
        assert_eq!(e, DatasetError::NoFeatures);
        // A date column cannot be a feature.
        let schema = Schema::new(vec![
            Field::new("d", DataType::Date32, false),
            Field::new("y", DataType::Int32, false),
        ]);
        let batch = RecordBatch::try_new(
            Arc::new(schema.clone()),
            vec![
                Arc::new(arrow_array::Date32Array::from(vec![1, 2])),
                Arc::new(Int32Array::from(vec![0, 1])),
            ],
        )
        .unwrap();
        let e = prepare(
            &schema,
            &[batch],
            None,
            &spec(Task::Binary),
            SplitSpec::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("`d`") && e.contains("Date32"), "{e}");
    }

    #[test]
    fn identifiers_are_refused() {
        let ids: Vec<String> = (0..200).map(|i| format!("C{i:04}")).collect();
        let (schema, batches) = table(
            ids.iter().map(|s| Some(s.as_str())).collect(),
            vec![Some(1.0); 200],
            Arc::new(Int32Array::from(
                (0..200).map(|i| i % 2).collect::<Vec<_>>(),
            )),
        );
        let e = prepare(
            &schema,
            &batches,
            None,
            &spec(Task::Binary),
            SplitSpec::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("plan") && e.contains("identifier"), "{e}");
    }

    #[test]
    fn eval_data_is_encoded_with_the_trained_encoder() {
        let (schema, batches) = ten();
        let d = prepare(
            &schema,
            &batches,
            None,
            &spec(Task::Binary),
            SplitSpec::default(),
        )
        .unwrap();
        let (eschema, ebatches) = table(
            vec![Some("a"), Some("zzz")],
            vec![Some(1.5), None],
            Arc::new(Int32Array::from(vec![1, 0])),
        );
        let e = encode_for(&d.encoder, Some(&d.label), &eschema, &ebatches).unwrap();
        assert_eq!(e.rows, 2);
        assert_eq!(e.y.as_deref(), Some(&[1.0, 0.0][..]));
        assert_eq!(e.x[0], d.encoder.category_code(0, "a"));
        assert_eq!(e.x[1], 1.5);
        assert!(e.x[2].is_nan() && e.x[3].is_nan());
        // A feature that became text is refused, naming it.
        let bad = Schema::new(vec![
            Field::new("plan", DataType::Utf8, true),
            Field::new("x", DataType::Utf8, true),
        ]);
        let batch = RecordBatch::try_new(
            Arc::new(bad.clone()),
            vec![
                Arc::new(StringArray::from(vec!["a"])),
                Arc::new(StringArray::from(vec!["1"])),
            ],
        )
        .unwrap();
        let err = encode_for(&d.encoder, None, &bad, &[batch]).unwrap_err();
        assert!(err.to_string().contains("`x`"), "{err}");
        assert_eq!(
            column_strings(&eschema, &ebatches, "x").unwrap(),
            vec![Some("1.5".to_string()), None]
        );
        assert!(column_numbers(&eschema, &ebatches, "plan").is_err());
    }

    #[test]
    fn a_test_table_is_used_whole_with_unseen_categories_missing() {
        let (schema, batches) = ten();
        let (tschema, tbatches) = table(
            vec![Some("a"), Some("new"), None],
            vec![Some(1.0), Some(2.0), Some(3.0)],
            Arc::new(Int32Array::from(vec![0, 1, 1])),
        );
        let d = prepare(
            &schema,
            &batches,
            Some((&tschema, &tbatches)),
            &spec(Task::Binary),
            SplitSpec::default(),
        )
        .unwrap();
        assert_eq!(d.train_rows(), 10);
        assert_eq!(d.test_rows(), 3);
        assert!(d.x_test[2].is_nan(), "unseen category");
        assert!(d.x_test[4].is_nan(), "missing category");
    }
}
