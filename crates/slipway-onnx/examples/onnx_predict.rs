//! `cargo run --release -p slipway-onnx --example onnx_predict -- MODEL.onnx INPUT.json [--bench]`
//!
//! INPUT.json: `{"inputs": [[f, ...], ...]}` (null is a missing value), or
//! `{"n_rows", "columns": {input: rows}}` typed by the model's inputs, e.g. a
//! fixture's NAME.expected.json. Prints `{"label", "probabilities" | "values",
//! "class_labels"}` as JSON on stdout. With `--bench`, also prints the
//! single-row latency (µs per one-row call, best of 5 passes over all rows)
//! and the batch throughput on stderr.

use std::time::Instant;

use serde_json::{json, Value};
use slipway_onnx::{Column, ElementType, Labels, OnnxModel};

fn labels(l: &Labels) -> Value {
    match l {
        Labels::Int64(v) => json!(v),
        Labels::String(v) => json!(v),
    }
}

fn rows((data, cols): &(Vec<f32>, usize)) -> Value {
    Value::Array(
        data.chunks(*cols.max(&1))
            .map(|r| Value::Array(r.iter().map(|&v| json!(f64::from(v))).collect()))
            .collect(),
    )
}

fn print_outputs(out: &slipway_onnx::OnnxOutputs) {
    let mut res = serde_json::Map::new();
    if let Some(l) = &out.label {
        res.insert("label".into(), labels(l));
    }
    if let Some(p) = &out.probabilities {
        res.insert("probabilities".into(), rows(p));
    }
    if let Some(v) = &out.values {
        res.insert("values".into(), rows(v));
    }
    if let Some(l) = &out.class_labels {
        res.insert("class_labels".into(), labels(l));
    }
    println!("{}", Value::Object(res));
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        eprintln!("usage: onnx_predict MODEL.onnx INPUT.json [--bench]");
        std::process::exit(2);
    }
    let t0 = Instant::now();
    let model = OnnxModel::load(&std::fs::read(&args[0])?)?;
    let load_ms = t0.elapsed().as_secs_f64() * 1e3;
    let input: Value = serde_json::from_str(&std::fs::read_to_string(&args[1])?)?;
    if let Some(columns) = input.get("columns").and_then(Value::as_object) {
        // one entry per graph input: rows of floats (null = missing) or strings
        let n_rows = input["n_rows"].as_u64().ok_or("'columns' needs 'n_rows'")? as usize;
        let mut cols = Vec::new();
        for (name, rows) in columns {
            let cells: Vec<&Value> = rows
                .as_array()
                .ok_or("a column is not an array of rows")?
                .iter()
                .flat_map(|r| r.as_array().into_iter().flatten())
                .collect();
            let elem_type = model
                .inputs()
                .iter()
                .find(|i| i.name == *name)
                .map(|i| i.elem_type);
            let col = match elem_type {
                Some(ElementType::String) => Column::String(
                    cells
                        .iter()
                        .map(|c| c.as_str().unwrap_or("").to_string())
                        .collect(),
                ),
                Some(ElementType::Int64) => {
                    Column::Int64(cells.iter().map(|c| c.as_i64().unwrap_or(0)).collect())
                }
                _ => Column::Float(
                    cells
                        .iter()
                        .map(|c| c.as_f64().map_or(f32::NAN, |f| f as f32))
                        .collect(),
                ),
            };
            cols.push((name.as_str(), col));
        }
        let out = model.run_columns(&cols, n_rows)?;
        print_outputs(&out);
        if args.iter().any(|a| a == "--bench") && n_rows > 0 {
            let t = Instant::now();
            for _ in 0..20 {
                std::hint::black_box(model.run_columns(&cols, n_rows)?);
            }
            eprintln!(
                "{}: load {load_ms:.2} ms, batch of {n_rows} {:.3} µs/row",
                args[0],
                t.elapsed().as_secs_f64() / (20 * n_rows) as f64 * 1e6
            );
        }
        return Ok(());
    }
    let inputs = input["inputs"]
        .as_array()
        .ok_or("INPUT.json has no 'inputs' array")?;
    let n_rows = inputs.len();
    let mut x = Vec::new();
    for r in inputs {
        for v in r.as_array().ok_or("a row is not an array")? {
            x.push(v.as_f64().map_or(f32::NAN, |f| f as f32));
        }
    }
    let out = model.run_f32(&x, n_rows)?;
    print_outputs(&out);

    if args.iter().any(|a| a == "--bench") && n_rows > 0 {
        let n_cols = x.len() / n_rows;
        let mut best = f64::MAX;
        for _ in 0..5 {
            let t = Instant::now();
            for r in 0..n_rows {
                std::hint::black_box(model.run_f32(&x[r * n_cols..(r + 1) * n_cols], 1)?);
            }
            best = best.min(t.elapsed().as_secs_f64() / n_rows as f64);
        }
        let mut best_batch = f64::MAX;
        for _ in 0..5 {
            let t = Instant::now();
            std::hint::black_box(model.run_f32(&x, n_rows)?);
            best_batch = best_batch.min(t.elapsed().as_secs_f64() / n_rows as f64);
        }
        eprintln!(
            "{}: load {load_ms:.2} ms, single-row {:.2} µs/row, batch of {n_rows} {:.3} µs/row",
            args[0],
            best * 1e6,
            best_batch * 1e6
        );
    }
    Ok(())
}
