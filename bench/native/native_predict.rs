//! In-process latency of the native XGBoost / LightGBM scorers of `slipway serve`.
//!
//!     cargo bench -p slipway-serve --bench native_predict -- [DIR] [--json]
//!
//! DIR holds models and expected outputs made by tests/native/make_fixtures.py (default: the
//! committed tests/native/fixtures). For each model: loaded as `slipway serve` loads it (an
//! MLmodel with the flavor and a signature, `ServedModel::load`), then timed through the
//! `Scorer` on one row per call (cycling over the held-out rows) and on 1,000-row batches;
//! best of 5 repetitions. For the LightGBM models the alternatives measured before writing
//! Slipway's own reader are timed on the same rows with their parity: `bosk` 0.1.0 (refuses
//! multiclass) and `hessboost`'s LightGBM import (f32 leaves and thresholds). `--json` adds a
//! last line with every figure (bench/native/run.sh reads it). No timed assertion.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Instant;

use bosk::Model as _;
use serde_json::{json, Value};
use slipway_serve::model::{detect_format, ModelIdentity, ServedModel};

const SINGLE_CALLS: usize = 20_000;
const BATCH_ROWS: usize = 1_000;
const REPS: usize = 5;

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn mlmodel(expected: &Value, data: &Value) -> String {
    let library = expected["library"].as_str().unwrap();
    let columns: Vec<Value> = data["columns"]
        .as_array()
        .unwrap()
        .iter()
        .zip(data["types"].as_array().unwrap())
        .map(|(name, ty)| json!({"type": ty, "name": name, "required": false}))
        .collect();
    format!(
        "flavors:\n  {library}:\n    data: {}\n    model_class: {}\nsignature:\n  inputs: '{}'\n",
        expected["file"].as_str().unwrap(),
        expected["model_class"].as_str().unwrap(),
        Value::Array(columns)
    )
}

/// Best of `REPS` timings of `f`, in µs per unit of `units`.
fn best_us(units: usize, mut f: impl FnMut()) -> f64 {
    (0..REPS)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e6 / units as f64
        })
        .fold(f64::INFINITY, f64::min)
}

/// Largest |got - want| against Python's predict (single-output models).
fn max_diff(got: &[f64], want: &Value) -> f64 {
    got.iter()
        .zip(want.as_array().unwrap())
        .map(|(g, w)| (g - w.as_f64().unwrap_or(f64::NAN)).abs())
        .fold(0.0, f64::max)
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let json_out = args.iter().any(|a| a == "--json");
    let dir = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/native/fixtures")
        });
    let data = read_json(&dir.join("data.json"));
    let width = data["columns"].as_array().unwrap().len();
    let rows: Vec<Vec<f64>> = data["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap_or(f64::NAN))
                .collect()
        })
        .collect();
    let batch: Vec<f64> = rows
        .iter()
        .cycle()
        .take(BATCH_ROWS)
        .flatten()
        .copied()
        .collect();

    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".expected.json"))
        .collect();
    paths.sort();
    let mut results = serde_json::Map::new();
    println!(
        "{:<28} {:<22} {:>12} {:>16}  parity",
        "model", "engine", "1 row µs", "1,000 rows µs/row"
    );
    for path in paths {
        let name = path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .trim_end_matches(".expected.json")
            .to_string();
        let expected = read_json(&path);
        let file = expected["file"].as_str().unwrap().to_string();
        let bytes = std::fs::read(dir.join(&file)).unwrap();
        let mlmodel = mlmodel(&expected, &data);
        let format = detect_format(mlmodel.as_bytes(), false).unwrap();
        let model = ServedModel::load(ModelIdentity::default(), mlmodel.as_bytes(), &format, |f| {
            (f == file).then(|| bytes.clone())
        })
        .unwrap();
        let scorer = &model.scorer;
        let single = best_us(SINGLE_CALLS, || {
            for i in 0..SINGLE_CALLS {
                black_box(scorer.score(&rows[i % rows.len()], 1).unwrap());
            }
        });
        let batched = best_us(BATCH_ROWS, || {
            black_box(scorer.score(&batch, BATCH_ROWS).unwrap());
        });
        println!(
            "{name:<28} {:<22} {single:>12.2} {batched:>16.2}  bit-identical (tests/native)",
            "slipway"
        );
        let mut entry =
            json!({"slipway": {"single_row_us": single, "batch_1000_us_per_row": batched}});

        if expected["library"] == "lightgbm" {
            let text = String::from_utf8(bytes.clone()).unwrap();
            let want = &expected["predict"];
            let single_output = !want.as_array().unwrap()[0].is_array();
            // bosk 0.1.0 (no dependencies): single-output models only.
            match bosk::LgbModel::parse(&text) {
                Ok(b) if single_output => {
                    let got: Vec<f64> = rows.iter().map(|r| b.predict(r).unwrap()).collect();
                    let diff = max_diff(&got, want);
                    let single = best_us(SINGLE_CALLS, || {
                        for i in 0..SINGLE_CALLS {
                            black_box(b.predict(&rows[i % rows.len()]).unwrap());
                        }
                    });
                    let batched = best_us(BATCH_ROWS, || {
                        black_box(bosk::Model::predict_batch(&b, &batch, width).unwrap());
                    });
                    println!(
                        "{name:<28} {:<22} {single:>12.2} {batched:>16.2}  max abs diff {diff:.1e}",
                        "bosk 0.1.0"
                    );
                    entry["bosk"] = json!({"single_row_us": single, "batch_1000_us_per_row": batched, "max_abs_diff": diff});
                }
                Ok(_) => {}
                Err(e) => println!("{name:<28} {:<22} refused: {e}", "bosk 0.1.0"),
            }
            // hessboost's LightGBM import: f32 inputs, leaves and thresholds.
            use hessboost::model::{BoostedModel, ModelFormat};
            match BoostedModel::decode(&bytes, ModelFormat::LightgbmText) {
                Ok(h) if single_output => {
                    let rows32: Vec<Vec<f32>> = rows
                        .iter()
                        .map(|r| r.iter().map(|&v| v as f32).collect())
                        .collect();
                    let batch32: Vec<f32> = batch.iter().map(|&v| v as f32).collect();
                    let got: Vec<f64> = rows32
                        .iter()
                        .map(|r| f64::from(h.predict_row(r, ..).unwrap()))
                        .collect();
                    let diff = max_diff(&got, want);
                    let single = best_us(SINGLE_CALLS, || {
                        for i in 0..SINGLE_CALLS {
                            black_box(h.predict_row(&rows32[i % rows32.len()], ..).unwrap());
                        }
                    });
                    let batched = best_us(BATCH_ROWS, || {
                        black_box(h.predict_rows(&batch32, ..).unwrap());
                    });
                    println!(
                        "{name:<28} {:<22} {single:>12.2} {batched:>16.2}  max abs diff {diff:.1e}",
                        "hessboost 0.4.6 import"
                    );
                    entry["hessboost"] = json!({"single_row_us": single, "batch_1000_us_per_row": batched, "max_abs_diff": diff});
                }
                Ok(_) => {}
                Err(e) => println!("{name:<28} {:<22} refused: {e}", "hessboost 0.4.6 import"),
            }
        }
        results.insert(name, entry);
    }
    if json_out {
        println!("{}", json!({ "rust": results }));
    }
}
