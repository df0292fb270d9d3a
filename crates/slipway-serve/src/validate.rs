//! Raw values against the model's signature: every row is checked and
//! encoded into the model's input (numbers as f64, booleans 0/1, strings as
//! category codes, missing as NaN); every offending field is reported, not
//! only the first.
//!
//! Rules (documented in the crate docs):
//! - a numeric column takes a JSON number (`long`/`integer`: an integral
//!   one); the strings `"NaN"` (a missing value) and `"Infinity"` are
//!   refused unless the column is nullable (NaN) — infinities never pass;
//! - a boolean column takes `true`/`false`, `0`/`1` or `"true"`/`"false"`;
//! - a string (categorical) column takes a string; an unseen category is a
//!   missing value, as in training (an error when the model refuses unknown
//!   categories: `strict_categories`); a number or boolean is accepted only
//!   when its text is one of the categories (`1` for category `"1"`);
//! - a numeric column whose model refuses unknown values (an ONNX int64
//!   input one-hot encoded with `handle_unknown="error"`) takes only its
//!   categories;
//! - `null` or an absent feature is a missing value, allowed only in a column
//!   the signature marks `required: false` (training data had missing values);
//! - a feature the model does not take is an error.

use serde_json::{Map, Value};
use slipway_train::dataset::ColumnType;

use crate::error::Problem;
use crate::model::InputColumn;

/// At most this many problems are reported for one request.
pub const MAX_PROBLEMS: usize = 100;

fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) if s.len() > 40 => {
            format!("string {:?}...", &s[..s.floor_char_boundary(40)])
        }
        Value::String(s) => format!("string {s:?}"),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

fn category(col: &InputColumn, text: &str) -> Option<f64> {
    col.categories
        .as_ref()
        .and_then(|cats| cats.binary_search_by(|c| c.as_str().cmp(text)).ok())
        .map(|i| i as f64)
}

/// Whether a number is one of a strict numeric column's categories (an
/// ONNX int64 input one-hot encoded with unknown values refused).
pub fn known_number(col: &InputColumn, f: f64) -> bool {
    col.categories
        .iter()
        .flatten()
        .any(|c| c.parse::<f64>().ok() == Some(f))
}

/// A strict column's categories, for messages (shortened when long).
fn category_list(col: &InputColumn) -> String {
    let cats = col.categories.as_deref().unwrap_or_default();
    let quote = col.column_type == ColumnType::String;
    let mut s: Vec<String> = cats
        .iter()
        .take(20)
        .map(|c| if quote { format!("{c:?}") } else { c.clone() })
        .collect();
    if cats.len() > 20 {
        s.push(format!("... ({} in all)", cats.len()));
    }
    if s.is_empty() {
        "no category".into()
    } else {
        s.join(", ")
    }
}

fn number_text(n: &serde_json::Number) -> String {
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
        _ => n.to_string(),
    }
}

/// One value for one column: its encoding, or what is wrong with it.
pub fn encode_value(col: &InputColumn, value: Option<&Value>) -> Result<f64, String> {
    let missing = |what: &str| {
        if col.nullable {
            Ok(f64::NAN)
        } else {
            Err(format!(
                "{what}: the feature is required (column type {}, no missing values in training)",
                col.column_type.as_str()
            ))
        }
    };
    let v = match value {
        None => return missing("missing"),
        Some(Value::Null) => return missing("null"),
        Some(v) => v,
    };
    match col.column_type {
        ColumnType::String => match v {
            Value::String(s) => match category(col, s) {
                Some(code) => Ok(code),
                None if col.strict_categories => Err(format!(
                    "unknown category {}: the model takes {}",
                    describe(v),
                    category_list(col)
                )),
                // An unseen category is a missing value, as in training.
                None => Ok(f64::NAN),
            },
            Value::Number(n) => category(col, &number_text(n)).ok_or_else(|| {
                format!(
                    "expected a string (categorical column), got {}",
                    describe(v)
                )
            }),
            Value::Bool(b) => category(col, if *b { "true" } else { "false" })
                .or_else(|| category(col, if *b { "True" } else { "False" }))
                .ok_or_else(|| {
                    format!(
                        "expected a string (categorical column), got {}",
                        describe(v)
                    )
                }),
            _ => Err(format!(
                "expected a string (categorical column), got {}",
                describe(v)
            )),
        },
        ColumnType::Boolean => match v {
            Value::Bool(b) => Ok(f64::from(u8::from(*b))),
            Value::Number(n) if n.as_f64() == Some(0.0) || n.as_f64() == Some(1.0) => {
                Ok(n.as_f64().unwrap_or(0.0))
            }
            Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(1.0),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(0.0),
            _ => Err(format!("expected a boolean, got {}", describe(v))),
        },
        ColumnType::Long | ColumnType::Integer | ColumnType::Double | ColumnType::Float => {
            match v {
                Value::Number(n) => {
                    let f = n.as_f64().unwrap_or(f64::NAN);
                    if !f.is_finite() {
                        return Err(format!("{} is not a finite number", describe(v)));
                    }
                    if matches!(col.column_type, ColumnType::Long | ColumnType::Integer)
                        && f.fract() != 0.0
                    {
                        return Err(format!(
                            "expected an integer (column type {}), got {}",
                            col.column_type.as_str(),
                            describe(v)
                        ));
                    }
                    if col.column_type == ColumnType::Float && f.abs() > f64::from(f32::MAX) {
                        return Err(format!("{} is out of the float range", describe(v)));
                    }
                    if col.strict_categories && !known_number(col, f) {
                        return Err(format!(
                            "unknown category {}: the model takes {}",
                            describe(v),
                            category_list(col)
                        ));
                    }
                    Ok(f)
                }
                Value::String(s) => {
                    let t = s.trim();
                    if t.eq_ignore_ascii_case("nan") {
                        if col.nullable {
                            Ok(f64::NAN)
                        } else {
                            Err(format!(
                                "NaN is not allowed: the feature is required (column type {})",
                                col.column_type.as_str()
                            ))
                        }
                    } else if matches!(
                        t.to_ascii_lowercase().as_str(),
                        "inf" | "+inf" | "-inf" | "infinity" | "+infinity" | "-infinity"
                    ) {
                        Err(format!("{} is not a finite number", describe(v)))
                    } else {
                        Err(format!(
                            "expected a number (column type {}), got {}",
                            col.column_type.as_str(),
                            describe(v)
                        ))
                    }
                }
                _ => Err(format!(
                    "expected a number (column type {}), got {}",
                    col.column_type.as_str(),
                    describe(v)
                )),
            }
        }
    }
}

fn push(problems: &mut Vec<Problem>, p: Problem) {
    if problems.len() < MAX_PROBLEMS {
        problems.push(p);
    }
}

fn field(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// Encodes one row of named values, appending to `out`; problems are named
/// `prefix.feature`.
pub fn encode_named(
    columns: &[InputColumn],
    row: &Map<String, Value>,
    prefix: &str,
    out: &mut Vec<f64>,
    problems: &mut Vec<Problem>,
) {
    let mut found = 0;
    for col in columns {
        let v = row.get(&col.name);
        found += usize::from(v.is_some());
        match encode_value(col, v) {
            Ok(x) => out.push(x),
            Err(m) => {
                out.push(f64::NAN);
                push(problems, Problem::new(field(prefix, &col.name), m));
            }
        }
    }
    if found < row.len() {
        for key in row.keys() {
            if !columns.iter().any(|c| &c.name == key) {
                push(
                    problems,
                    Problem::new(
                        field(prefix, key),
                        format!("unknown feature: the model takes {}", names(columns)),
                    ),
                );
            }
        }
    }
}

/// The model's feature names, for messages (shortened when long).
pub fn names(columns: &[InputColumn]) -> String {
    let mut s: Vec<&str> = columns.iter().take(30).map(|c| c.name.as_str()).collect();
    if columns.len() > 30 {
        s.push("...");
    }
    s.join(", ")
}

/// Encodes rows given positionally in the model's column order.
pub fn encode_positional(columns: &[InputColumn], rows: &[Vec<Value>]) -> (Vec<f64>, Vec<Problem>) {
    let mut out = Vec::with_capacity(rows.len() * columns.len());
    let mut problems = Vec::new();
    for (r, row) in rows.iter().enumerate() {
        encode_row_values(columns, row, &format!("[{r}]"), &mut out, &mut problems);
    }
    (out, problems)
}

/// One positional row (`prefix[i]` names a problem by column name too).
pub fn encode_row_values(
    columns: &[InputColumn],
    row: &[Value],
    prefix: &str,
    out: &mut Vec<f64>,
    problems: &mut Vec<Problem>,
) {
    if row.len() != columns.len() {
        push(
            problems,
            Problem::new(
                prefix,
                format!(
                    "a row has {} values, the model takes {} ({})",
                    row.len(),
                    columns.len(),
                    names(columns)
                ),
            ),
        );
        out.extend(std::iter::repeat_n(f64::NAN, columns.len()));
        return;
    }
    for (col, v) in columns.iter().zip(row) {
        match encode_value(col, Some(v)) {
            Ok(x) => out.push(x),
            Err(m) => {
                out.push(f64::NAN);
                push(problems, Problem::new(format!("{prefix}.{}", col.name), m));
            }
        }
    }
}
