//! An ONNX model (skl2onnx GradientBoostingClassifier, from tests/onnx/fixtures) served through
//! the engine: an MLmodel with an `onnx` flavor and a column signature; named features go into
//! the float tensor in signature order; answers match onnxruntime's within 1e-5. A model with
//! only a sklearn flavor is refused with the ONNX hint.

use serde_json::{json, Value};
use slipway_serve::model::{detect_format, ModelFormat, ModelIdentity, ServedModel};
use slipway_serve::{Engine, LoadError};
use std::sync::Arc;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/onnx/fixtures");

#[test]
fn onnx_model_serves_named_features_in_signature_order() {
    let bytes = std::fs::read(format!("{FIXTURES}/gbc_breast_cancer.onnx")).unwrap();
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{FIXTURES}/gbc_breast_cancer.expected.json")).unwrap(),
    )
    .unwrap();
    let n = expected["n_features"].as_u64().unwrap() as usize;
    let cols: Vec<Value> = (0..n)
        .map(|i| json!({"type": "double", "name": format!("x{i}"), "required": true}))
        .collect();
    let mlmodel = format!(
        "flavors:\n  onnx:\n    data: model.onnx\n    onnx_version: 1.17.0\n  python_function:\n    loader_module: mlflow.onnx\nsignature:\n  inputs: '{}'\n",
        Value::Array(cols)
    );
    let format = detect_format(mlmodel.as_bytes(), false).unwrap();
    assert_eq!(
        format,
        ModelFormat::Onnx {
            file: "model.onnx".into()
        }
    );
    let model = ServedModel::load(
        ModelIdentity {
            name: "bc".into(),
            version: "3".into(),
            ..Default::default()
        },
        mlmodel.as_bytes(),
        &format,
        |f| (f == "model.onnx").then(|| bytes.clone()),
    )
    .unwrap();
    model.warm_up().unwrap();
    let engine = Engine::builder("models:/bc/3", Arc::new(model)).build();
    let rows = expected["inputs"].as_array().unwrap();
    // Named records in reversed key order: placement follows the signature, not the request.
    let records: Vec<Value> = rows
        .iter()
        .map(|r| {
            let mut m = serde_json::Map::new();
            for (i, v) in r.as_array().unwrap().iter().enumerate().rev() {
                m.insert(format!("x{i}"), v.clone());
            }
            Value::Object(m)
        })
        .collect();
    let body = json!({"dataframe_records": records, "params": {"predict_method": "predict_proba"}});
    let (v, version) = engine
        .invocations(None, body.to_string().as_bytes())
        .unwrap();
    assert_eq!(version, "3");
    let got = v["predictions"].as_array().unwrap();
    let want = expected["probabilities"].as_array().unwrap();
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        let d = (g[1].as_f64().unwrap() - w[1].as_f64().unwrap()).abs();
        assert!(d < 1e-5, "{g} vs {w}");
    }
    let (labels, _) = engine
        .invocations(
            None,
            json!({"dataframe_records": records}).to_string().as_bytes(),
        )
        .unwrap();
    assert_eq!(labels["predictions"], expected["label"]);
}

#[test]
fn sklearn_pickles_are_refused_with_the_onnx_hint() {
    let mlmodel = "flavors:\n  python_function:\n    loader_module: mlflow.sklearn\n  sklearn:\n    pickled_model: model.pkl\n";
    let err = detect_format(mlmodel.as_bytes(), false).unwrap_err();
    assert!(matches!(err, LoadError::Unsupported { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("mlflow.onnx.log_model") && msg.contains("skl2onnx"),
        "{msg}"
    );
    // A plain model.onnx next to the MLmodel is served through ONNX.
    assert!(matches!(
        detect_format(mlmodel.as_bytes(), true),
        Ok(ModelFormat::Onnx { .. })
    ));
}
