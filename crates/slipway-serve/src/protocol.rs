//! Request and response shapes of the three protocols, as plain serde
//! types and parsers into named rows (`name -> raw value`), which
//! [`crate::validate`] then checks against the signature.
//!
//! - the guide's `/predict` (`{"customer_id", "features"}`) and
//!   `/predict/batch` (`{"instances": [{customer_id, features}, ...]}` or a
//!   bare list of the same);
//! - MLflow's `/invocations` (`dataframe_split`, `dataframe_records`,
//!   `instances`, `inputs`; `text/csv`);
//! - the Open Inference Protocol v2 `infer` (one tensor `[N, F]` in
//!   signature order, or one tensor per column as MLServer's pandas codec).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Problem, ServeError};
use crate::model::InputColumn;

/// One row to score: its entity id, its named raw values, and where it
/// came from in the request (prefix of problem fields).
#[derive(Debug, Clone, PartialEq)]
pub struct RowIn {
    pub id: Option<String>,
    pub features: Map<String, Value>,
    pub prefix: String,
}

/// `POST /predict` response (the guide's `PredictionResponse`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictResponse {
    pub customer_id: Option<String>,
    pub prediction: Value,
    pub probability: Option<f64>,
    pub model_version: String,
    pub latency_ms: f64,
}

/// One row of a `/predict/batch` response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchPrediction {
    pub customer_id: Option<String>,
    pub prediction: Value,
    pub probability: Option<f64>,
}

/// `POST /predict/batch` response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchResponse {
    pub predictions: Vec<BatchPrediction>,
    pub model_version: String,
    pub latency_ms: f64,
}

/// `GET /health`: the guide's fields, then whether every served model can
/// answer now, each model, and the prediction log's counters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    /// `healthy` when ready, else `unavailable` (answered with 503).
    pub status: String,
    pub model_loaded: bool,
    pub model_name: Option<String>,
    pub model_version: Option<String>,
    /// Every served model (champion, canary, shadow) is loaded, warmed and
    /// able to score now.
    pub ready: bool,
    pub models: Vec<ModelHealth>,
    /// None when predictions are not logged.
    pub prediction_log: Option<LogHealth>,
}

/// One served model in [`Health`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelHealth {
    pub role: String,
    pub name: String,
    pub version: String,
    /// How it is scored: `slipway`, `onnx`, ...
    pub flavor: String,
    pub ready: bool,
    /// Its Python worker processes, when it is scored by them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python_workers: Option<PythonWorkers>,
}

/// A model's Python workers in [`ModelHealth`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PythonWorkers {
    /// Configured processes (`--workers`).
    pub workers: usize,
    /// Process ids of those running now.
    pub pids: Vec<u32>,
    /// Started again after one died or was killed.
    pub restarts: u64,
}

/// The prediction log in [`Health`]: rows on disk, rows dropped because the
/// queue was full, rows waiting, and what a full queue does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogHealth {
    pub path: String,
    pub written: u64,
    pub dropped: u64,
    pub queued: u64,
    pub on_full: String,
}

pub(crate) fn parse_json(body: &[u8]) -> Result<Value, ServeError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ServeError::BadRequest(
            "the request body is empty: send a JSON object".into(),
        ));
    }
    serde_json::from_slice(body)
        .map_err(|e| ServeError::BadRequest(format!("the request body is not valid JSON: {e}")))
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A `/predict` body: `customer_id` (string; a number is taken as its
/// text) and `features` (object). Other keys are ignored, as FastAPI does.
pub fn parse_predict_value(
    v: Value,
    prefix: &str,
    problems: &mut Vec<Problem>,
) -> (Option<String>, Option<Map<String, Value>>) {
    let at = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    let Value::Object(mut obj) = v else {
        problems.push(Problem::new(
            prefix,
            format!(
                "expected an object {{\"customer_id\": ..., \"features\": {{...}}}}, got {}",
                type_name(&v)
            ),
        ));
        return (None, None);
    };
    let id = match obj.remove("customer_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(other) => {
            problems.push(Problem::new(
                at("customer_id"),
                format!("expected a string, got {}", type_name(&other)),
            ));
            None
        }
    };
    let features = match obj.remove("features") {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => Some(m),
        Some(other) => {
            problems.push(Problem::new(
                at("features"),
                format!(
                    "expected an object of feature name to value, got {}",
                    type_name(&other)
                ),
            ));
            None
        }
    };
    (id, features)
}

/// A `/predict/batch` body: `{"instances": [...]}` or a bare list of
/// `/predict` bodies.
pub fn parse_predict_batch(body: &[u8]) -> Result<Vec<RowIn>, ServeError> {
    let v = parse_json(body)?;
    let (items, name) =
        match v {
            Value::Array(items) => (items, ""),
            Value::Object(mut obj) => match obj.remove("instances") {
                Some(Value::Array(items)) => (items, "instances"),
                _ => return Err(ServeError::BadRequest(
                    "expected {\"instances\": [{\"customer_id\": ..., \"features\": {...}}, ...]} \
                     or a list of such objects"
                        .into(),
                )),
            },
            other => {
                return Err(ServeError::BadRequest(format!(
                    "expected {{\"instances\": [...]}} or a list, got {}",
                    type_name(&other)
                )))
            }
        };
    let mut problems = Vec::new();
    let mut rows = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let prefix = format!("{name}[{i}]");
        let (id, features) = parse_predict_value(item, &prefix, &mut problems);
        rows.push(RowIn {
            id,
            features: features.unwrap_or_default(),
            prefix: format!("{prefix}.features"),
        });
    }
    if !problems.is_empty() {
        return Err(ServeError::Invalid(problems));
    }
    Ok(rows)
}

fn named_from_positional(
    columns: &[InputColumn],
    row: Vec<Value>,
    prefix: String,
    problems: &mut Vec<Problem>,
) -> RowIn {
    if row.len() != columns.len() {
        problems.push(Problem::new(
            prefix.clone(),
            format!(
                "a row has {} values, the model takes {} ({})",
                row.len(),
                columns.len(),
                crate::validate::names(columns)
            ),
        ));
    }
    let features = columns
        .iter()
        .zip(row)
        .map(|(c, v)| (c.name.clone(), v))
        .collect();
    RowIn {
        id: None,
        features,
        prefix,
    }
}

fn rows_from_list(
    columns: &[InputColumn],
    items: Vec<Value>,
    key: &str,
    problems: &mut Vec<Problem>,
) -> Vec<RowIn> {
    let mut rows = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let prefix = format!("{key}[{i}]");
        match item {
            Value::Object(m) => rows.push(RowIn {
                id: None,
                features: m,
                prefix,
            }),
            Value::Array(values) => {
                rows.push(named_from_positional(columns, values, prefix, problems))
            }
            scalar if columns.len() == 1 => {
                rows.push(named_from_positional(columns, vec![scalar], prefix, problems))
            }
            other => problems.push(Problem::new(
                prefix,
                format!(
                    "expected a row (an object of feature values, or a list in signature order), got {}",
                    type_name(&other)
                ),
            )),
        }
    }
    rows
}

fn rows_from_columns(
    map: Map<String, Value>,
    key: &str,
    problems: &mut Vec<Problem>,
) -> Vec<RowIn> {
    let mut n: Option<usize> = None;
    let mut cols = Vec::with_capacity(map.len());
    for (name, v) in map {
        let values = match v {
            Value::Array(a) => a,
            scalar => vec![scalar],
        };
        match n {
            None => n = Some(values.len()),
            Some(k) if k != values.len() => problems.push(Problem::new(
                format!("{key}.{name}"),
                format!("has {} values, other columns have {k}", values.len()),
            )),
            _ => {}
        }
        cols.push((name, values));
    }
    let n = n.unwrap_or(0);
    let mut rows: Vec<RowIn> = (0..n)
        .map(|i| RowIn {
            id: None,
            features: Map::new(),
            prefix: format!("{key}[{i}]"),
        })
        .collect();
    for (name, values) in cols {
        for (i, v) in values.into_iter().enumerate().take(n) {
            rows[i].features.insert(name.clone(), v);
        }
    }
    rows
}

/// What `/invocations` returns for classifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PredictMethod {
    /// Labels (classifiers) or values (regressors), as MLflow's pyfunc does
    /// for scikit-learn models by default.
    Predict,
    /// `[[P(class 0), P(class 1)], ...]`, as `pyfunc_predict_fn="predict_proba"`.
    PredictProba,
}

/// A parsed `/invocations` request.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    pub rows: Vec<RowIn>,
    pub method: PredictMethod,
}

const FORMATS: [&str; 4] = [
    "dataframe_split",
    "dataframe_records",
    "instances",
    "inputs",
];

/// MLflow's scoring protocol, JSON body.
pub fn parse_invocations_json(
    columns: &[InputColumn],
    body: &[u8],
) -> Result<Invocation, ServeError> {
    let v = parse_json(body)?;
    let Value::Object(mut obj) = v else {
        return Err(ServeError::BadRequest(format!(
            "The input must be a JSON dictionary with exactly one of the input fields \
             {{'dataframe_split', 'dataframe_records', 'instances', 'inputs'}}. Received {}.",
            type_name(&v)
        )));
    };
    let present: Vec<&str> = FORMATS
        .iter()
        .copied()
        .filter(|k| obj.contains_key(*k))
        .collect();
    if present.len() != 1 {
        let mut keys: Vec<&String> = obj.keys().collect();
        keys.sort();
        return Err(ServeError::BadRequest(format!(
            "The input must be a JSON dictionary with exactly one of the input fields \
             {{'dataframe_split', 'dataframe_records', 'instances', 'inputs'}}. Received dictionary \
             with input fields: {keys:?}."
        )));
    }
    let method = match obj.get("params").and_then(|p| p.get("predict_method")) {
        None => PredictMethod::Predict,
        Some(Value::String(s)) if s == "predict" => PredictMethod::Predict,
        Some(Value::String(s)) if s == "predict_proba" => PredictMethod::PredictProba,
        Some(other) => {
            return Err(ServeError::BadRequest(format!(
                "params.predict_method must be \"predict\" or \"predict_proba\", got {other}"
            )))
        }
    };
    let key = present[0];
    let value = obj.remove(key).unwrap_or(Value::Null);
    let mut problems = Vec::new();
    let rows = match (key, value) {
        ("dataframe_split", Value::Object(mut split)) => {
            let names: Vec<String> = match split.remove("columns") {
                Some(Value::Array(c)) => c
                    .into_iter()
                    .map(|c| match c {
                        Value::String(s) => s,
                        other => other.to_string(),
                    })
                    .collect(),
                None => columns.iter().map(|c| c.name.clone()).collect(),
                Some(other) => {
                    return Err(ServeError::BadRequest(format!(
                        "dataframe_split.columns must be a list of column names, got {}",
                        type_name(&other)
                    )))
                }
            };
            let data = match split.remove("data") {
                Some(Value::Array(d)) => d,
                other => {
                    return Err(ServeError::BadRequest(format!(
                        "dataframe_split.data must be a list of rows, got {}",
                        other.as_ref().map_or("nothing", type_name)
                    )))
                }
            };
            let mut rows = Vec::with_capacity(data.len());
            for (i, row) in data.into_iter().enumerate() {
                let prefix = format!("dataframe_split.data[{i}]");
                let values = match row {
                    Value::Array(a) => a,
                    scalar if names.len() == 1 => vec![scalar],
                    other => {
                        problems.push(Problem::new(
                            prefix,
                            format!("expected a list of values, got {}", type_name(&other)),
                        ));
                        continue;
                    }
                };
                if values.len() != names.len() {
                    problems.push(Problem::new(
                        prefix.clone(),
                        format!("has {} values for {} columns", values.len(), names.len()),
                    ));
                    continue;
                }
                rows.push(RowIn {
                    id: None,
                    features: names.iter().cloned().zip(values).collect(),
                    prefix,
                });
            }
            rows
        }
        ("dataframe_records", Value::Array(items)) => {
            rows_from_list(columns, items, "dataframe_records", &mut problems)
        }
        ("dataframe_records", Value::Object(m)) => {
            rows_from_columns(m, "dataframe_records", &mut problems)
        }
        ("instances", Value::Array(items)) => {
            rows_from_list(columns, items, "instances", &mut problems)
        }
        ("instances", Value::Object(m)) => rows_from_columns(m, "instances", &mut problems),
        ("inputs", Value::Object(m)) => rows_from_columns(m, "inputs", &mut problems),
        ("inputs", Value::Array(items)) => rows_from_list(columns, items, "inputs", &mut problems),
        (key, other) => {
            return Err(ServeError::BadRequest(format!(
                "`{key}` must be {}, got {}",
                match key {
                    "dataframe_split" => "an object {\"columns\": [...], \"data\": [[...], ...]}",
                    "dataframe_records" => "a list of records",
                    _ => "a list of rows or an object of columns",
                },
                type_name(&other)
            )))
        }
    };
    if !problems.is_empty() {
        return Err(ServeError::Invalid(problems));
    }
    Ok(Invocation { rows, method })
}

/// Splits one CSV line (RFC 4180 quotes).
fn csv_fields(line: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut was_quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => {
                quoted = !quoted;
                was_quoted = true;
            }
            ',' if !quoted => {
                out.push((std::mem::take(&mut cur), was_quoted));
                was_quoted = false;
            }
            c => cur.push(c),
        }
    }
    out.push((cur, was_quoted));
    out
}

fn csv_value(field: String, quoted: bool) -> Value {
    if quoted {
        return Value::String(field);
    }
    let t = field.trim();
    if t.is_empty() {
        return Value::Null;
    }
    if let Ok(i) = t.parse::<i64>() {
        return Value::from(i);
    }
    match t.parse::<f64>() {
        Ok(f) if f.is_finite() => Value::from(f),
        _ => Value::String(field),
    }
}

/// `text/csv`: a header row then data rows (a pandas `to_csv()` body; an
/// unnamed leading index column is dropped). A field of one of the model's
/// string `columns` stays text (`007` is not the number 7), as MLflow reads
/// the CSV with the signature's types; other fields are numbers when they
/// read as numbers.
pub fn parse_invocations_csv(
    columns: &[InputColumn],
    body: &[u8],
) -> Result<Invocation, ServeError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ServeError::BadRequest("the CSV body is not UTF-8".into()))?;
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<String> = lines
        .next()
        .map(|h| csv_fields(h).into_iter().map(|(s, _)| s).collect())
        .ok_or_else(|| ServeError::BadRequest("the CSV body has no header row".into()))?;
    let skip_index = header
        .first()
        .is_some_and(|h| h.is_empty() || h == "Unnamed: 0");
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    for (i, line) in lines.enumerate() {
        let fields = csv_fields(line);
        let prefix = format!("csv row {}", i + 1);
        if fields.len() != header.len() {
            problems.push(Problem::new(
                prefix,
                format!(
                    "has {} fields, the header has {}",
                    fields.len(),
                    header.len()
                ),
            ));
            continue;
        }
        let features = header
            .iter()
            .zip(fields)
            .skip(usize::from(skip_index))
            .map(|(h, (f, q))| {
                let text = columns
                    .iter()
                    .any(|c| &c.name == h && c.column_type == ColumnType::String);
                let v = if text && !f.trim().is_empty() {
                    Value::String(f)
                } else {
                    csv_value(f, q)
                };
                (h.clone(), v)
            })
            .collect();
        rows.push(RowIn {
            id: None,
            features,
            prefix,
        });
    }
    if !problems.is_empty() {
        return Err(ServeError::Invalid(problems));
    }
    Ok(Invocation {
        rows,
        method: PredictMethod::Predict,
    })
}

/// One tensor of a v2 request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct V2Tensor {
    pub name: String,
    pub shape: Vec<i64>,
    pub datatype: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Map<String, Value>>,
    pub data: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct V2OutputRequest {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Map<String, Value>>,
}

/// `$inference_request`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct V2Request {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub parameters: Option<Map<String, Value>>,
    pub inputs: Vec<V2Tensor>,
    #[serde(default)]
    pub outputs: Option<Vec<V2OutputRequest>>,
}

/// A parsed v2 request.
#[derive(Debug, Clone, PartialEq)]
pub struct V2Parsed {
    pub id: Option<String>,
    pub rows: Vec<RowIn>,
    /// Requested output names (None: all).
    pub outputs: Option<Vec<String>>,
}

fn flatten(v: Value, out: &mut Vec<Value>) {
    match v {
        Value::Array(a) => {
            for x in a {
                flatten(x, out);
            }
        }
        x => out.push(x),
    }
}

const NUMERIC_TYPES: [&str; 12] = [
    "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16",
    "FP32", "FP64",
];

/// An Open Inference Protocol v2 `infer` body.
pub fn parse_v2(columns: &[InputColumn], body: &[u8]) -> Result<V2Parsed, ServeError> {
    let v = parse_json(body)?;
    let req: V2Request = serde_json::from_value(v)
        .map_err(|e| ServeError::BadRequest(format!("not an inference request: {e}")))?;
    let mut problems = Vec::new();
    for (i, t) in req.inputs.iter().enumerate() {
        if t.datatype != "BYTES" && !NUMERIC_TYPES.contains(&t.datatype.as_str()) {
            problems.push(Problem::new(
                format!("inputs[{i}].datatype"),
                format!(
                    "unsupported datatype {:?} (BOOL, INTn, UINTn, FP32, FP64, BYTES)",
                    t.datatype
                ),
            ));
        }
        if t.shape.iter().any(|&d| d < 0) {
            problems.push(Problem::new(
                format!("inputs[{i}].shape"),
                "dimensions must be non-negative",
            ));
        }
    }
    if req.inputs.is_empty() {
        problems.push(Problem::new("inputs", "no input tensors"));
    }
    if !problems.is_empty() {
        return Err(ServeError::Invalid(problems));
    }
    let outputs = req
        .outputs
        .map(|o| o.into_iter().map(|o| o.name).collect::<Vec<_>>());
    let single_matrix = req.inputs.len() == 1
        && !columns.iter().any(|c| c.name == req.inputs[0].name)
        && (req.inputs[0].shape.len() == 2 || columns.len() == 1);
    let mut rows = Vec::new();
    if single_matrix {
        let t = req.inputs.into_iter().next().expect("one input");
        let n_cols = columns.len();
        let (n, f) = match t.shape.as_slice() {
            [n, f] => (*n as usize, *f as usize),
            [n] => (*n as usize, 1),
            _ => (0, 0),
        };
        if f != n_cols {
            return Err(ServeError::Invalid(vec![Problem::new(
                format!("inputs[0] ({})", t.name),
                format!(
                    "has shape {:?}, expected [-1, {n_cols}] (features in signature order: {})",
                    t.shape,
                    crate::validate::names(columns)
                ),
            )]));
        }
        let mut flat = Vec::with_capacity(n * f);
        flatten(t.data, &mut flat);
        if flat.len() != n * f {
            return Err(ServeError::Invalid(vec![Problem::new(
                format!("inputs[0] ({}).data", t.name),
                format!(
                    "has {} values, shape {:?} needs {}",
                    flat.len(),
                    t.shape,
                    n * f
                ),
            )]));
        }
        let mut it = flat.into_iter();
        for r in 0..n {
            let row: Vec<Value> = it.by_ref().take(f).collect();
            rows.push(named_from_positional(
                columns,
                row,
                format!("inputs[0].data[{r}]"),
                &mut problems,
            ));
        }
    } else {
        let mut n: Option<usize> = None;
        let mut cols = Vec::new();
        for (i, t) in req.inputs.into_iter().enumerate() {
            let mut flat = Vec::new();
            flatten(t.data, &mut flat);
            let expected: i64 = t.shape.iter().product();
            if expected as usize != flat.len() {
                problems.push(Problem::new(
                    format!("inputs[{i}] ({}).data", t.name),
                    format!(
                        "has {} values, shape {:?} needs {expected}",
                        flat.len(),
                        t.shape
                    ),
                ));
                continue;
            }
            match n {
                None => n = Some(flat.len()),
                Some(k) if k != flat.len() => {
                    problems.push(Problem::new(
                        format!("inputs[{i}] ({})", t.name),
                        format!("has {} rows, other inputs have {k}", flat.len()),
                    ));
                    continue;
                }
                _ => {}
            }
            cols.push((t.name, flat));
        }
        if !problems.is_empty() {
            return Err(ServeError::Invalid(problems));
        }
        let n = n.unwrap_or(0);
        rows = (0..n)
            .map(|r| RowIn {
                id: None,
                features: Map::new(),
                prefix: format!("row {r}"),
            })
            .collect();
        for (name, values) in cols {
            for (r, v) in values.into_iter().enumerate() {
                rows[r].features.insert(name.clone(), v);
            }
        }
    }
    if !problems.is_empty() {
        return Err(ServeError::Invalid(problems));
    }
    Ok(V2Parsed {
        id: req.id,
        rows,
        outputs,
    })
}

// ---------------------------------------------------------------------------
// The fast path: `/predict/batch` and `/invocations` `dataframe_split` bodies
// decoded straight into the model's row-major f64 matrix, with no
// `serde_json::Value` map per row. It accepts exactly the values
// `validate::encode_value` accepts as they are (and encodes them the same
// way); anything else (an error, an unusual shape, a value that needs a
// conversion or a message) makes it give up, and the caller runs the
// general parser, which names every problem as before.

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use slipway_train::dataset::ColumnType;

/// Rows decoded by the fast path: entity ids and the encoded matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct FastRows {
    pub ids: Vec<Option<String>>,
    pub x: Vec<f64>,
    pub n: usize,
    pub method: PredictMethod,
}

fn bail<E: de::Error>() -> E {
    E::custom("fast path: not taken")
}

/// One cell for one column.
struct Cell<'a>(&'a InputColumn);

impl Cell<'_> {
    fn number<E: de::Error>(&self, f: f64) -> Result<f64, E> {
        let col = self.0;
        match col.column_type {
            ColumnType::String => Err(bail()),
            ColumnType::Boolean if f == 0.0 || f == 1.0 => Ok(f),
            ColumnType::Boolean => Err(bail()),
            ColumnType::Long | ColumnType::Integer if !f.is_finite() || f.fract() != 0.0 => {
                Err(bail())
            }
            ColumnType::Float if !f.is_finite() || f.abs() > f64::from(f32::MAX) => Err(bail()),
            _ if !f.is_finite() => Err(bail()),
            // A value the model's encoder refuses: the general path names it.
            _ if col.strict_categories && !crate::validate::known_number(col, f) => Err(bail()),
            _ => Ok(f),
        }
    }
}

impl<'de> DeserializeSeed<'de> for Cell<'_> {
    type Value = f64;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<f64, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Cell<'_> {
    type Value = f64;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a feature value")
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
        self.number(v as f64)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
        self.number(v as f64)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
        self.number(v)
    }
    fn visit_bool<E: de::Error>(self, b: bool) -> Result<f64, E> {
        match self.0.column_type {
            ColumnType::Boolean => Ok(f64::from(u8::from(b))),
            _ => Err(bail()),
        }
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<f64, E> {
        let col = self.0;
        match col.column_type {
            // An unseen category scores as a missing value (a strict
            // column's is an error), but the prediction log must keep what
            // was sent, which a code cannot: the general parser takes it.
            ColumnType::String => col
                .categories
                .as_ref()
                .and_then(|cats| cats.binary_search_by(|c| c.as_str().cmp(s)).ok())
                .map(|i| i as f64)
                .ok_or_else(bail),
            _ => Err(bail()),
        }
    }
    fn visit_unit<E: de::Error>(self) -> Result<f64, E> {
        if self.0.nullable {
            Ok(f64::NAN)
        } else {
            Err(bail())
        }
    }
}

/// A key naming one of the model's columns: its index (`hint` first, as
/// rows usually list features in the same order).
struct ColumnKey<'a> {
    columns: &'a [InputColumn],
    hint: usize,
}

impl<'de> DeserializeSeed<'de> for ColumnKey<'_> {
    type Value = usize;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for ColumnKey<'_> {
    type Value = usize;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a feature name")
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<usize, E> {
        if self.columns.get(self.hint).is_some_and(|c| c.name == s) {
            return Ok(self.hint);
        }
        self.columns
            .iter()
            .position(|c| c.name == s)
            .ok_or_else(bail)
    }
}

/// A `features` object: every key a column, each once; absent columns must
/// be nullable. Writes its row into `out[base..base + columns.len()]`.
struct Features<'a> {
    columns: &'a [InputColumn],
    out: &'a mut Vec<f64>,
    seen: &'a mut Vec<bool>,
}

impl<'de> DeserializeSeed<'de> for Features<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Features<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object of features")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let k = self.columns.len();
        let base = self.out.len();
        self.out.resize(base + k, f64::NAN);
        self.seen.clear();
        self.seen.resize(k, false);
        let mut hint = 0;
        while let Some(i) = map.next_key_seed(ColumnKey {
            columns: self.columns,
            hint,
        })? {
            if std::mem::replace(&mut self.seen[i], true) {
                return Err(bail());
            }
            self.out[base + i] = map.next_value_seed(Cell(&self.columns[i]))?;
            hint = i + 1;
        }
        for (c, seen) in self.columns.iter().zip(self.seen.iter()) {
            if !seen && !c.nullable {
                return Err(bail());
            }
        }
        Ok(())
    }
}

/// A `customer_id`: a string or null (anything else: the general path).
struct Id;

impl<'de> DeserializeSeed<'de> for Id {
    type Value = Option<String>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<String>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Id {
    type Value = Option<String>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a customer id")
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Option<String>, E> {
        Ok(Some(s.to_owned()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Option<String>, E> {
        Ok(None)
    }
}

/// The `/predict/batch` body being decoded.
struct Batch<'a> {
    columns: &'a [InputColumn],
    out: Vec<f64>,
    ids: Vec<Option<String>>,
    seen: Vec<bool>,
}

/// A key of a batch item: the two it reads, or another (ignored).
enum ItemKey {
    Id,
    Features,
    Other,
}

impl<'de> serde::Deserialize<'de> for ItemKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ItemKey, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ItemKey;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<ItemKey, E> {
                Ok(match s {
                    "customer_id" => ItemKey::Id,
                    "features" => ItemKey::Features,
                    _ => ItemKey::Other,
                })
            }
        }
        d.deserialize_str(V)
    }
}

/// One `{"customer_id", "features"}` item.
struct Item<'a, 'b>(&'b mut Batch<'a>);

impl<'de> DeserializeSeed<'de> for Item<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Item<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an instance")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let b = self.0;
        let mut id = None;
        let mut has_id = false;
        let mut has_features = false;
        while let Some(key) = map.next_key::<ItemKey>()? {
            match key {
                ItemKey::Id if !has_id => {
                    has_id = true;
                    id = map.next_value_seed(Id)?;
                }
                ItemKey::Features if !has_features => {
                    has_features = true;
                    map.next_value_seed(Features {
                        columns: b.columns,
                        out: &mut b.out,
                        seen: &mut b.seen,
                    })?;
                }
                ItemKey::Id | ItemKey::Features => return Err(bail()),
                ItemKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if !has_features {
            return Err(bail());
        }
        b.ids.push(id);
        Ok(())
    }
}

/// The list of instances.
struct Items<'a, 'b>(&'b mut Batch<'a>);

impl<'de> DeserializeSeed<'de> for Items<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Items<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list of instances")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if let Some(n) = seq.size_hint() {
            self.0.ids.reserve(n);
        }
        while seq.next_element_seed(Item(self.0))?.is_some() {}
        Ok(())
    }
}

/// The top of a `/predict/batch` body: a list, or `{"instances": [...]}`.
struct BatchTop<'a, 'b>(&'b mut Batch<'a>);

impl<'de> DeserializeSeed<'de> for BatchTop<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for BatchTop<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a batch")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        Items(self.0).visit_seq(seq)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut found = false;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key == "instances" {
                if found {
                    return Err(bail());
                }
                found = true;
                map.next_value_seed(Items(&mut *self.0))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        if found {
            Ok(())
        } else {
            Err(bail())
        }
    }
}

/// The body as text, checked once: the `&str` reader then skips a UTF-8
/// check per string (a tenth of a batch's parse). Not UTF-8: the general
/// parser says what is wrong.
fn utf8(body: &[u8]) -> Option<&str> {
    std::str::from_utf8(body).ok()
}

/// The fast path of `/predict/batch`: None when the body needs the general
/// parser (an error to report, or a shape it does not take).
pub fn fast_predict_batch(columns: &[InputColumn], body: &[u8]) -> Option<FastRows> {
    if columns.is_empty() {
        return None;
    }
    let mut b = Batch {
        columns,
        out: Vec::with_capacity(body.len() / 16),
        ids: Vec::new(),
        seen: Vec::with_capacity(columns.len()),
    };
    let mut de = serde_json::Deserializer::from_str(utf8(body)?);
    BatchTop(&mut b).deserialize(&mut de).ok()?;
    de.end().ok()?;
    let n = b.ids.len();
    (b.out.len() == n * columns.len()).then_some(FastRows {
        ids: b.ids,
        x: b.out,
        n,
        method: PredictMethod::Predict,
    })
}

/// The fast path of `/predict`: one `{"customer_id", "features"}` object
/// with every feature well-formed; None when the body needs the general
/// parser.
pub fn fast_predict_one(columns: &[InputColumn], body: &[u8]) -> Option<FastRows> {
    if columns.is_empty() {
        return None;
    }
    let mut b = Batch {
        columns,
        out: Vec::with_capacity(columns.len()),
        ids: Vec::with_capacity(1),
        seen: Vec::with_capacity(columns.len()),
    };
    let mut de = serde_json::Deserializer::from_str(utf8(body)?);
    Item(&mut b).deserialize(&mut de).ok()?;
    de.end().ok()?;
    (b.ids.len() == 1 && b.out.len() == columns.len()).then_some(FastRows {
        ids: b.ids,
        x: b.out,
        n: 1,
        method: PredictMethod::Predict,
    })
}

/// `dataframe_split`'s rows, once its `columns` are known: `index[j]` is
/// the model column of the j-th named column.
struct SplitData<'a> {
    columns: &'a [InputColumn],
    index: &'a [usize],
    out: &'a mut Vec<f64>,
    n: &'a mut usize,
}

impl<'de> DeserializeSeed<'de> for SplitData<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for SplitData<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list of rows")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq
            .next_element_seed(SplitRow {
                columns: self.columns,
                index: self.index,
                out: &mut *self.out,
            })?
            .is_some()
        {
            *self.n += 1;
        }
        Ok(())
    }
}

struct SplitRow<'a> {
    columns: &'a [InputColumn],
    index: &'a [usize],
    out: &'a mut Vec<f64>,
}

impl<'de> DeserializeSeed<'de> for SplitRow<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for SplitRow<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a row")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let base = self.out.len();
        self.out.resize(base + self.columns.len(), f64::NAN);
        for &i in self.index {
            let Some(v) = seq.next_element_seed(Cell(&self.columns[i]))? else {
                return Err(bail());
            };
            self.out[base + i] = v;
        }
        if seq.next_element::<IgnoredAny>()?.is_some() {
            return Err(bail());
        }
        Ok(())
    }
}

struct Split<'a> {
    columns: &'a [InputColumn],
    out: &'a mut Vec<f64>,
    n: &'a mut usize,
}

impl<'de> DeserializeSeed<'de> for Split<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Split<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a dataframe_split object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut index: Option<Vec<usize>> = None;
        let mut data = false;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match key.as_ref() {
                "columns" if index.is_none() && !data => {
                    let names: Vec<std::borrow::Cow<'de, str>> = map.next_value()?;
                    let mut seen = vec![false; self.columns.len()];
                    let mut idx = Vec::with_capacity(names.len());
                    for name in &names {
                        let i = self
                            .columns
                            .iter()
                            .position(|c| c.name == name.as_ref())
                            .ok_or_else(bail)?;
                        if std::mem::replace(&mut seen[i], true) {
                            return Err(bail());
                        }
                        idx.push(i);
                    }
                    if self
                        .columns
                        .iter()
                        .zip(&seen)
                        .any(|(c, s)| !s && !c.nullable)
                    {
                        return Err(bail());
                    }
                    index = Some(idx);
                }
                // `data` before `columns`, or twice: the general path.
                "data" if !data => {
                    let Some(idx) = &index else {
                        return Err(bail());
                    };
                    data = true;
                    map.next_value_seed(SplitData {
                        columns: self.columns,
                        index: idx,
                        out: &mut *self.out,
                        n: &mut *self.n,
                    })?;
                }
                "columns" | "data" => return Err(bail()),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if data {
            Ok(())
        } else {
            Err(bail())
        }
    }
}

struct InvocationTop<'a> {
    columns: &'a [InputColumn],
    out: Vec<f64>,
    n: usize,
    method: PredictMethod,
}

impl<'de> DeserializeSeed<'de> for &mut InvocationTop<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for &mut InvocationTop<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an invocation")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut split = false;
        let mut params = false;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match key.as_ref() {
                "dataframe_split" if !split => {
                    split = true;
                    map.next_value_seed(Split {
                        columns: self.columns,
                        out: &mut self.out,
                        n: &mut self.n,
                    })?;
                }
                "params" if !params => {
                    params = true;
                    let p: Value = map.next_value()?;
                    self.method = match p.get("predict_method") {
                        None => PredictMethod::Predict,
                        Some(Value::String(s)) if s == "predict" => PredictMethod::Predict,
                        Some(Value::String(s)) if s == "predict_proba" => {
                            PredictMethod::PredictProba
                        }
                        Some(_) => return Err(bail()),
                    };
                }
                k if k == "params" || FORMATS.contains(&k) => return Err(bail()),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if split {
            Ok(())
        } else {
            Err(bail())
        }
    }
}

/// The fast path of `/invocations` with `dataframe_split` (JSON): None when
/// the body needs the general parser.
pub fn fast_invocations_split(columns: &[InputColumn], body: &[u8]) -> Option<FastRows> {
    if columns.is_empty() {
        return None;
    }
    let mut top = InvocationTop {
        columns,
        out: Vec::with_capacity(body.len() / 8),
        n: 0,
        method: PredictMethod::Predict,
    };
    let mut de = serde_json::Deserializer::from_str(utf8(body)?);
    (&mut top).deserialize(&mut de).ok()?;
    de.end().ok()?;
    (top.out.len() == top.n * columns.len()).then_some(FastRows {
        ids: vec![None; top.n],
        x: top.out,
        n: top.n,
        method: top.method,
    })
}

#[cfg(test)]
mod fast_tests {
    use super::*;

    fn columns() -> Vec<InputColumn> {
        let col = |name: &str, column_type, nullable, cats: Option<&[&str]>| InputColumn {
            name: name.into(),
            column_type,
            nullable,
            categories: cats.map(|c| c.iter().map(|s| s.to_string()).collect()),
            strict_categories: false,
        };
        vec![
            col("tenure", ColumnType::Long, false, None),
            col(
                "plan",
                ColumnType::String,
                false,
                Some(&["basic", "premium"]),
            ),
            col("charges", ColumnType::Double, true, None),
            col("active", ColumnType::Boolean, true, None),
            col("ratio", ColumnType::Float, false, None),
        ]
    }

    /// What the general path encodes for the same rows.
    fn general(columns: &[InputColumn], rows: &[RowIn]) -> Vec<f64> {
        let mut x = Vec::new();
        let mut problems = Vec::new();
        for r in rows {
            crate::validate::encode_named(columns, &r.features, "", &mut x, &mut problems);
        }
        assert!(problems.is_empty(), "{problems:?}");
        x
    }

    fn same(a: &[f64], b: &[f64]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
    }

    #[test]
    fn fast_batch_encodes_as_the_general_path() {
        let cols = columns();
        for body in [
            r#"{"instances": [{"customer_id": "C1", "features": {"tenure": 3, "plan": "premium", "charges": 1.5, "active": true, "ratio": -2}},
               {"features": {"ratio": 0.25, "plan": "premium", "tenure": 9007199254740993, "charges": null, "active": 0}, "other": [1, {"a": 2}]},
               {"customer_id": null, "features": {"tenure": -4, "plan": "basic", "ratio": 1e3}}], "extra": 1}"#,
            r#"[{"customer_id": "C\u00e9", "features": {"tenure": 1.0, "plan": "basic", "active": false, "ratio": 0}}]"#,
            r#"{"instances": []}"#,
        ] {
            let fast = fast_predict_batch(&cols, body.as_bytes()).expect("fast path");
            let rows = parse_predict_batch(body.as_bytes()).unwrap();
            assert_eq!(fast.n, rows.len());
            assert_eq!(
                fast.ids,
                rows.iter().map(|r| r.id.clone()).collect::<Vec<_>>()
            );
            assert!(same(&fast.x, &general(&cols, &rows)), "{body}");
        }
    }

    #[test]
    fn fast_predict_encodes_as_the_general_path() {
        let cols = columns();
        for body in [
            r#"{"customer_id": "C1", "features": {"tenure": 3, "plan": "premium", "charges": 1.5, "active": true, "ratio": -2}}"#,
            r#"{"features": {"ratio": 0.25, "plan": "basic", "tenure": 7, "charges": null}, "other": [1]}"#,
        ] {
            let fast = fast_predict_one(&cols, body.as_bytes()).expect("fast path");
            let mut problems = Vec::new();
            let (id, features) =
                parse_predict_value(serde_json::from_str(body).unwrap(), "", &mut problems);
            assert!(problems.is_empty());
            let rows = vec![RowIn {
                id: id.clone(),
                features: features.unwrap(),
                prefix: String::new(),
            }];
            assert_eq!(fast.ids, vec![id]);
            assert!(same(&fast.x, &general(&cols, &rows)), "{body}");
        }
        for body in [
            "",
            r#"{"customer_id": 7, "features": {"tenure": 1, "plan": "basic", "ratio": 0}}"#,
            r#"{"customer_id": "C1"}"#,
            r#"{"features": {"tenure": 1, "plan": "gold", "ratio": 0}}"#,
            r#"{"features": {"tenure": "1", "plan": "basic", "ratio": 0}}"#,
            r#"[{"features": {"tenure": 1, "plan": "basic", "ratio": 0}}]"#,
            r#"{"features": {"tenure": 1, "plan": "basic", "ratio": 0}} {}"#,
        ] {
            assert_eq!(fast_predict_one(&cols, body.as_bytes()), None, "{body}");
        }
    }

    #[test]
    fn fast_batch_leaves_anything_unusual_to_the_general_path() {
        let cols = columns();
        for body in [
            "",
            "{",
            r#"{"instances": [{"customer_id": "C1", "features": {"tenure": 1.5, "plan": "basic", "ratio": 0}}]}"#,
            r#"{"instances": [{"features": {"plan": "basic", "ratio": 0}}]}"#,
            r#"{"instances": [{"features": {"tenure": 1, "plan": "basic", "ratio": 0, "nope": 1}}]}"#,
            r#"{"instances": [{"features": {"tenure": 1, "plan": 3, "ratio": 0}}]}"#,
            // An unseen category: the log must keep the text, not the code.
            r#"{"instances": [{"features": {"tenure": 1, "plan": "gold", "ratio": 0}}]}"#,
            r#"{"instances": [{"features": {"tenure": 1, "plan": "basic", "ratio": 1e300}}]}"#,
            r#"{"instances": [{"features": {"tenure": 1, "plan": "basic", "ratio": "NaN"}}]}"#,
            r#"{"instances": [{"features": {"tenure": 1, "tenure": 2, "plan": "basic", "ratio": 0}}]}"#,
            r#"{"instances": [{"customer_id": 7, "features": {"tenure": 1, "plan": "basic", "ratio": 0}}]}"#,
            r#"{"instances": [{"customer_id": "C1"}]}"#,
            r#"{"instances": [{"features": null}]}"#,
            r#"{"instances": [{"features": {"tenure": 1, "plan": "basic", "ratio": 0, "active": 2}}]}"#,
            r#"{"rows": []}"#,
            r#"[1]"#,
            r#"[] []"#,
        ] {
            assert_eq!(fast_predict_batch(&cols, body.as_bytes()), None, "{body}");
        }
    }

    #[test]
    fn fast_split_encodes_as_the_general_path() {
        let cols = columns();
        for (body, method) in [
            (
                r#"{"dataframe_split": {"index": [0, 1], "columns": ["ratio", "tenure", "plan", "active"], "data": [[1, 2, "basic", true], [0.5, -3, "premium", null]]}}"#,
                PredictMethod::Predict,
            ),
            (
                r#"{"params": {"predict_method": "predict_proba"}, "dataframe_split": {"columns": ["tenure", "plan", "charges", "active", "ratio"], "data": [[1, "premium", 2.5, 1, 3]]}}"#,
                PredictMethod::PredictProba,
            ),
        ] {
            let fast = fast_invocations_split(&cols, body.as_bytes()).expect("fast path");
            let inv = parse_invocations_json(&cols, body.as_bytes()).unwrap();
            assert_eq!(fast.method, method);
            assert_eq!(inv.method, method);
            assert_eq!(fast.n, inv.rows.len());
            assert!(same(&fast.x, &general(&cols, &inv.rows)), "{body}");
        }
        for body in [
            r#"{"dataframe_split": {"data": [[1, "basic", 0]], "columns": ["tenure", "plan", "ratio"]}}"#,
            r#"{"dataframe_split": {"columns": ["tenure", "plan"], "data": [[1, "basic"]]}}"#,
            r#"{"dataframe_split": {"columns": ["tenure", "plan", "ratio"], "data": [[1, "basic"]]}}"#,
            r#"{"dataframe_split": {"columns": ["tenure", "plan", "ratio"], "data": [[1, "basic", 0, 4]]}}"#,
            r#"{"dataframe_split": {"columns": ["tenure", "plan", "ratio"], "data": [[1, "basic", 0]]}, "inputs": []}"#,
            r#"{"dataframe_split": {"columns": ["tenure", "plan", "ratio"], "data": [[1, "basic", 0]]}, "params": {"predict_method": "x"}}"#,
            r#"{"dataframe_records": [{"tenure": 1, "plan": "basic", "ratio": 0}]}"#,
            r#"{"dataframe_split": {"columns": ["tenure", "plan", "ratio"], "data": [[1, "x", 0]]}}"#,
        ] {
            assert_eq!(
                fast_invocations_split(&cols, body.as_bytes()),
                None,
                "{body}"
            );
        }
    }
}
