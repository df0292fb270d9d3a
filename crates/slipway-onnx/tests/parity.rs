//! Every committed fixture (tests/onnx/fixtures, made by tests/onnx/make_fixtures.py
//! with the versions in tests/onnx/requirements.txt) loads and matches
//! onnxruntime on every row of its test set: probabilities / values within
//! 1e-5, labels identical.

use std::path::PathBuf;

use serde_json::Value;
use slipway_onnx::{Column, ElementType, Labels, OnnxModel, OnnxOutputs};

const TOL: f64 = 1e-5;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/onnx/fixtures")
}

fn labels_json(l: &Labels) -> Vec<Value> {
    match l {
        Labels::Int64(v) => v.iter().map(|&i| Value::from(i)).collect(),
        Labels::String(v) => v.iter().map(|s| Value::from(s.as_str())).collect(),
    }
}

fn matrix(v: &Value) -> Vec<Vec<f64>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        })
        .collect()
}

fn check_matrix(name: &str, what: &str, expected: &Value, got: &(Vec<f32>, usize)) -> f64 {
    let exp = matrix(expected);
    let (data, cols) = got;
    assert_eq!(data.len(), exp.len() * cols, "{name}: {what} size");
    let mut worst = 0f64;
    for (i, row) in exp.iter().enumerate() {
        assert_eq!(row.len(), *cols, "{name}: {what} columns");
        for (j, &e) in row.iter().enumerate() {
            let g = f64::from(data[i * cols + j]);
            let d = (g - e).abs();
            worst = worst.max(d / e.abs().max(1.0));
            assert!(
                d <= TOL * e.abs().max(1.0),
                "{name}: {what} row {i} col {j}: got {g}, onnxruntime {e}"
            );
        }
    }
    worst
}

fn run_fixture(name: &str) {
    let dir = fixtures();
    let bytes = std::fs::read(dir.join(format!("{name}.onnx"))).unwrap();
    let exp: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join(format!("{name}.expected.json"))).unwrap(),
    )
    .unwrap();
    let model = OnnxModel::load(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    if exp.get("columns").is_some() {
        let out = run_columns(&model, &exp);
        check_outputs(name, &exp, &out);
        return;
    }
    let rows = exp["inputs"].as_array().unwrap();
    let n_features = exp["n_features"].as_u64().unwrap() as usize;
    assert_eq!(model.inputs().len(), 1);
    assert_eq!(model.inputs()[0].shape, vec![-1, n_features as i64]);
    let mut x = Vec::with_capacity(rows.len() * n_features);
    for r in rows {
        for v in r.as_array().unwrap() {
            x.push(v.as_f64().map_or(f32::NAN, |f| f as f32));
        }
    }
    let out = model.run_f32(&x, rows.len()).unwrap();
    check_outputs(name, &exp, &out);
    // one row at a time gives the same answers as the batch
    for i in [0, rows.len() / 2, rows.len() - 1] {
        let one = model
            .run_f32(&x[i * n_features..(i + 1) * n_features], 1)
            .unwrap();
        if let (Some((p1, c)), Some((p, _))) = (&one.probabilities, &out.probabilities) {
            assert_eq!(&p1[..], &p[i * c..(i + 1) * c], "{name}: row {i} alone");
        }
    }
}

/// Inputs given per graph input (`"columns": {name: rows}`), typed by the
/// model's input: floats (null: missing), int64 or strings.
fn columns_of(model: &OnnxModel, exp: &Value) -> Vec<(String, Column)> {
    let mut cols = Vec::new();
    for (name, rows) in exp["columns"].as_object().unwrap() {
        let cells: Vec<&Value> = rows
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r.as_array().unwrap())
            .collect();
        let info = model.inputs().iter().find(|i| i.name == *name).unwrap();
        let col = match info.elem_type {
            ElementType::String => Column::String(
                cells
                    .iter()
                    .map(|c| c.as_str().unwrap().to_string())
                    .collect(),
            ),
            ElementType::Int64 => {
                Column::Int64(cells.iter().map(|c| c.as_i64().unwrap()).collect())
            }
            _ => Column::Float(
                cells
                    .iter()
                    .map(|c| c.as_f64().map_or(f32::NAN, |f| f as f32))
                    .collect(),
            ),
        };
        cols.push((name.clone(), col));
    }
    cols
}

fn run_columns(model: &OnnxModel, exp: &Value) -> OnnxOutputs {
    let cols = columns_of(model, exp);
    let refs: Vec<(&str, Column)> = cols.iter().map(|(n, c)| (n.as_str(), c.clone())).collect();
    model
        .run_columns(&refs, exp["n_rows"].as_u64().unwrap() as usize)
        .unwrap()
}

fn check_outputs(name: &str, exp: &Value, out: &OnnxOutputs) {
    let mut worst = 0f64;
    if let Some(p) = exp.get("probabilities") {
        worst = worst.max(check_matrix(
            name,
            "probabilities",
            p,
            out.probabilities.as_ref().unwrap(),
        ));
    }
    if let Some(v) = exp.get("values") {
        worst = worst.max(check_matrix(
            name,
            "values",
            v,
            out.values.as_ref().unwrap(),
        ));
    }
    if let Some(l) = exp.get("label") {
        let got = labels_json(out.label.as_ref().expect("label"));
        let want = l.as_array().unwrap();
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert_eq!(g, w, "{name}: label of row {i}");
        }
        assert_eq!(got.len(), want.len());
    }
    if let Some(l) = exp.get("class_labels") {
        assert_eq!(
            &labels_json(out.class_labels.as_ref().expect("class labels")),
            l.as_array().unwrap(),
            "{name}: class labels"
        );
    }
    eprintln!("{name}: {} rows, max rel diff {worst:.2e}", exp["n_rows"]);
}

#[test]
fn gbc_breast_cancer_skl2onnx_zipmap() {
    run_fixture("gbc_breast_cancer");
}

#[test]
fn rf_churn_skl2onnx() {
    run_fixture("rf_churn");
}

#[test]
fn lr_pipeline_churn_imputer_scaler_logistic() {
    run_fixture("lr_pipeline_churn");
}

#[test]
fn gbc_columns_churn_column_transformer_two_inputs() {
    run_fixture("gbc_columns_churn");
}

#[test]
fn gbc_frame_churn_one_input_per_dataframe_column() {
    // int64, float and string inputs; unseen regions in the test rows.
    run_fixture("gbc_frame_churn");
}

#[test]
fn gbr_diabetes_regressor() {
    run_fixture("gbr_diabetes");
}

#[test]
fn gbc_iris_multiclass_string_labels() {
    run_fixture("gbc_iris");
}

#[test]
fn xgb_churn_onnxmltools_missing_values() {
    run_fixture("xgb_churn");
}

#[test]
fn lgbm_breast_cancer_onnxmltools() {
    run_fixture("lgbm_breast_cancer");
}

#[test]
fn every_fixture_is_tested() {
    let mut names: Vec<String> = std::fs::read_dir(fixtures())
        .unwrap()
        .filter_map(|e| {
            let n = e.unwrap().file_name().into_string().unwrap();
            n.strip_suffix(".onnx").map(str::to_string)
        })
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "gbc_breast_cancer",
            "gbc_columns_churn",
            "gbc_frame_churn",
            "gbc_iris",
            "gbr_diabetes",
            "lgbm_breast_cancer",
            "lr_pipeline_churn",
            "rf_churn",
            "xgb_churn"
        ]
    );
}
