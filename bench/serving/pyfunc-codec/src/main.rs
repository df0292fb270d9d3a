//! The Rust side of one batch sent to a Python worker: rows of JSON values
//! (as the engine holds them after validation) encoded as the worker frame's
//! column-major JSON, or as an Arrow IPC stream (schema + one record batch).
//! Prints microseconds per batch for 1 and 100 rows (best of 15 runs).

use std::sync::Arc;
use std::time::Instant;

use arrow_array::builder::{Float64Builder, Int64Builder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use serde_json::{json, Value};

/// The benchmark's columns: (name, MLflow type).
const COLUMNS: [(&str, &str); 10] = [
    ("tenure_days", "long"),
    ("plan", "string"),
    ("region", "string"),
    ("contract", "string"),
    ("logins_30d", "long"),
    ("tickets_90d", "long"),
    ("monthly_charges", "double"),
    ("spend_30d", "double"),
    ("avg_session_min", "double"),
    ("age", "long"),
];

fn rows(n: usize) -> Vec<Vec<Value>> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..n)
        .map(|_| {
            COLUMNS
                .iter()
                .map(|(_, t)| match *t {
                    "long" => json!(next() % 1000),
                    "double" => json!((next() % 100_000) as f64 / 100.0),
                    _ => json!(["basic", "premium", "pro"][(next() % 3) as usize]),
                })
                .collect()
        })
        .collect()
}

/// As slipway-python's `encode_batch`: `{"segments": [n], "columns": [[...], ...]}`.
fn encode_json(rows: &[Vec<Value>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(&[b'P', 0, 0, 0, 0]);
    out.extend_from_slice(b"{\"segments\":[");
    out.extend_from_slice(rows.len().to_string().as_bytes());
    out.extend_from_slice(b"],\"columns\":[");
    for c in 0..COLUMNS.len() {
        if c > 0 {
            out.push(b',');
        }
        out.push(b'[');
        for (i, row) in rows.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            serde_json::to_writer(&mut out, &row[c]).unwrap();
        }
        out.push(b']');
    }
    out.extend_from_slice(b"]}");
    let len = (out.len() - 5) as u32;
    out[1..5].copy_from_slice(&len.to_le_bytes());
    out
}

fn encode_arrow(schema: &Arc<Schema>, rows: &[Vec<Value>]) -> Vec<u8> {
    let columns: Vec<ArrayRef> = COLUMNS
        .iter()
        .enumerate()
        .map(|(c, (_, t))| -> ArrayRef {
            match *t {
                "long" => {
                    let mut b = Int64Builder::with_capacity(rows.len());
                    rows.iter().for_each(|r| b.append_option(r[c].as_i64()));
                    Arc::new(b.finish())
                }
                "double" => {
                    let mut b = Float64Builder::with_capacity(rows.len());
                    rows.iter().for_each(|r| b.append_option(r[c].as_f64()));
                    Arc::new(b.finish())
                }
                _ => {
                    let mut b = StringBuilder::with_capacity(rows.len(), rows.len() * 8);
                    rows.iter().for_each(|r| b.append_option(r[c].as_str()));
                    Arc::new(b.finish())
                }
            }
        })
        .collect();
    let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
    let mut out = vec![b'A', 0, 0, 0, 0];
    {
        let mut w = arrow_ipc::writer::StreamWriter::try_new(&mut out, schema).unwrap();
        w.write(&batch).unwrap();
        w.finish().unwrap();
    }
    let len = (out.len() - 5) as u32;
    out[1..5].copy_from_slice(&len.to_le_bytes());
    out
}

fn best_micros(mut f: impl FnMut() -> usize) -> (f64, usize) {
    let mut best = f64::MAX;
    let mut bytes = 0;
    for _ in 0..15 {
        let n = 2000;
        let t = Instant::now();
        for _ in 0..n {
            bytes = std::hint::black_box(f());
        }
        best = best.min(t.elapsed().as_secs_f64() * 1e6 / n as f64);
    }
    (best, bytes)
}

fn main() {
    let schema = Arc::new(Schema::new(
        COLUMNS
            .iter()
            .map(|(n, t)| {
                let dt = match *t {
                    "long" => DataType::Int64,
                    "double" => DataType::Float64,
                    _ => DataType::Utf8,
                };
                Field::new(*n, dt, true)
            })
            .collect::<Vec<_>>(),
    ));
    for n in [1, 100] {
        let r = rows(n);
        let (json_us, json_bytes) = best_micros(|| encode_json(&r).len());
        let (arrow_us, arrow_bytes) = best_micros(|| encode_arrow(&schema, &r).len());
        println!(
            "rust encode, {n:3} rows x {} columns: json {json_us:6.2} us ({json_bytes} bytes), arrow ipc {arrow_us:6.2} us ({arrow_bytes} bytes)",
            COLUMNS.len()
        );
    }
}
