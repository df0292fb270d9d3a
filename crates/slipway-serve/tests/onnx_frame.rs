//! A skl2onnx DataFrame pipeline (ColumnTransformer: OneHotEncoder on string
//! columns, imputer/scaler on int64 and float columns, GradientBoosting; one
//! ONNX input per column, tests/onnx/fixtures/gbc_frame_churn) served through
//! the engine: named features (strings for categories) reach the ONNX inputs
//! of the same name in every protocol, answers equal onnxruntime's within
//! 1e-5 on every test row (some carry a region never seen in training:
//! handle_unknown="ignore" gives zeros), and bad requests are 4xx naming
//! each field (a category the model's encoder refuses, string or int64,
//! among them).

use std::sync::Arc;

use serde_json::{json, Map, Value};
use slipway_serve::model::{detect_format, ModelIdentity, ServedModel};
use slipway_serve::{Engine, LoadError, ServeError};
use slipway_train::dataset::ColumnType;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/onnx/fixtures");
const TOL: f64 = 1e-5;

/// The DataFrame's signature as `infer_signature` writes it, strings first
/// (not the ONNX input order: features are placed by name).
const SIGNATURE: &str = r#"[{"type": "string", "name": "plan", "required": true}, {"type": "string", "name": "region", "required": true}, {"type": "string", "name": "contract", "required": true}, {"type": "long", "name": "tenure_months", "required": true}, {"type": "float", "name": "monthly_charges", "required": false}, {"type": "long", "name": "support_tickets", "required": true}, {"type": "long", "name": "addons", "required": true}]"#;

fn expected() -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(format!("{FIXTURES}/gbc_frame_churn.expected.json")).unwrap(),
    )
    .unwrap()
}

fn mlmodel(signature: Option<&str>) -> String {
    let mut s = "flavors:\n  onnx:\n    data: model.onnx\n    onnx_version: 1.17.0\n  python_function:\n    loader_module: mlflow.onnx\n".to_string();
    if let Some(sig) = signature {
        s.push_str(&format!(
            "signature:\n  inputs: '{sig}'\n  outputs: '[{{\"type\": \"tensor\", \"tensor-spec\": {{\"dtype\": \"float64\", \"shape\": [-1, 2]}}}}]'\n"
        ));
    }
    s
}

fn load_fixture(name: &str, signature: Option<&str>) -> Result<ServedModel, LoadError> {
    let bytes = std::fs::read(format!("{FIXTURES}/{name}.onnx")).unwrap();
    let mlmodel = mlmodel(signature);
    let format = detect_format(mlmodel.as_bytes(), false).unwrap();
    ServedModel::load(
        ModelIdentity {
            name: "frame".into(),
            version: "2".into(),
            ..Default::default()
        },
        mlmodel.as_bytes(),
        &format,
        |f| (f == "model.onnx").then(|| bytes.clone()),
    )
}

fn engine(signature: Option<&str>) -> Engine {
    let model = load_fixture("gbc_frame_churn", signature).unwrap();
    model.warm_up().unwrap();
    Engine::builder("models:/frame/2", Arc::new(model)).build()
}

/// The test rows as named records (null: a missing value).
fn records(exp: &Value) -> Vec<Map<String, Value>> {
    let cols = exp["columns"].as_object().unwrap();
    let n = exp["n_rows"].as_u64().unwrap() as usize;
    (0..n)
        .map(|r| {
            cols.iter()
                .map(|(name, rows)| (name.clone(), rows[r][0].clone()))
                .collect()
        })
        .collect()
}

fn positive(exp: &Value) -> Vec<f64> {
    exp["probabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[1].as_f64().unwrap())
        .collect()
}

fn assert_close(what: &str, got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}: row count");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= TOL,
            "{what}: row {i}: got {g}, onnxruntime {w}"
        );
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn dataframe_pipeline_serves_named_features_in_every_protocol_as_onnxruntime() {
    let exp = expected();
    let want = positive(&exp);
    let labels = exp["label"].clone();
    let recs = records(&exp);
    let names: Vec<String> = recs[0].keys().cloned().collect();
    let e = engine(Some(SIGNATURE));
    let invocations = |body: Value| {
        e.invocations(Some("application/json"), body.to_string().as_bytes())
            .unwrap_or_else(|err| panic!("{err}"))
            .0["predictions"]
            .clone()
    };
    let proba = |v: Value| -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|p| p[1].as_f64().unwrap())
            .collect()
    };

    // dataframe_split (the fast path), in the request's own column order
    let data: Vec<Value> = recs
        .iter()
        .map(|r| Value::Array(names.iter().map(|n| r[n].clone()).collect()))
        .collect();
    let split = json!({"columns": names, "data": data});
    let got = invocations(
        json!({"dataframe_split": split, "params": {"predict_method": "predict_proba"}}),
    );
    assert_close("dataframe_split", &proba(got), &want);
    assert_eq!(invocations(json!({"dataframe_split": split})), labels);

    // dataframe_records, instances, columnar inputs (the general parser)
    let rec_values: Vec<Value> = recs.iter().cloned().map(Value::Object).collect();
    for key in ["dataframe_records", "instances", "inputs"] {
        let got =
            invocations(json!({key: rec_values, "params": {"predict_method": "predict_proba"}}));
        assert_close(key, &proba(got), &want);
    }
    let columnar: Map<String, Value> = names
        .iter()
        .map(|n| (n.clone(), recs.iter().map(|r| r[n].clone()).collect()))
        .collect();
    assert_eq!(invocations(json!({"inputs": columnar})), labels);

    // text/csv
    let mut csv = names.join(",") + "\n";
    for r in &recs {
        let cells: Vec<String> = names
            .iter()
            .map(|n| match &r[n] {
                Value::Null => String::new(),
                Value::String(s) => s.clone(),
                v => v.to_string(),
            })
            .collect();
        csv += &(cells.join(",") + "\n");
    }
    let (v, _) = e.invocations(Some("text/csv"), csv.as_bytes()).unwrap();
    assert_eq!(v["predictions"], labels);

    // the guide's /predict/batch (fast path) and /predict
    let instances: Vec<Value> = recs
        .iter()
        .enumerate()
        .map(|(i, r)| json!({"customer_id": format!("C{i}"), "features": r}))
        .collect();
    let batch = e
        .predict_batch(json!({ "instances": instances }).to_string().as_bytes())
        .unwrap();
    let got: Vec<f64> = batch
        .predictions
        .iter()
        .map(|p| p.probability.unwrap())
        .collect();
    assert_close("/predict/batch", &got, &want);
    let rt = rt();
    for (i, r) in recs.iter().enumerate() {
        let one = rt
            .block_on(
                e.predict(
                    json!({"customer_id": "C", "features": r})
                        .to_string()
                        .as_bytes(),
                ),
            )
            .unwrap();
        assert!(
            (one.probability.unwrap() - want[i]).abs() <= TOL,
            "/predict row {i}"
        );
        assert_eq!(one.prediction, labels[i], "/predict row {i}");
    }

    // Open Inference Protocol v2: one tensor per column, BYTES for strings
    let types = e.v2_metadata("frame", None).unwrap();
    let datatype = |n: &str| {
        types["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["name"] == n)
            .unwrap()["datatype"]
            .clone()
    };
    assert_eq!(datatype("plan"), "BYTES");
    assert_eq!(datatype("tenure_months"), "INT64");
    assert_eq!(datatype("monthly_charges"), "FP32");
    let n = recs.len();
    let inputs: Vec<Value> = names
        .iter()
        .map(|name| {
            json!({"name": name, "shape": [n, 1], "datatype": datatype(name),
                   "data": recs.iter().map(|r| r[name].clone()).collect::<Vec<_>>()})
        })
        .collect();
    let v = e
        .v2_infer(
            "frame",
            None,
            json!({ "inputs": inputs }).to_string().as_bytes(),
        )
        .unwrap();
    assert_eq!(v["outputs"][0]["data"], labels);
    let pairs = v["outputs"][1]["data"].as_array().unwrap();
    let got: Vec<f64> = pairs.chunks(2).map(|p| p[1].as_f64().unwrap()).collect();
    assert_close("v2 infer", &got, &want);
}

#[test]
fn without_a_signature_the_graph_types_the_features() {
    let exp = expected();
    let e = engine(None);
    let meta = e.v2_metadata("frame", None).unwrap();
    let inputs: Vec<(String, String)> = meta["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["name"].as_str().unwrap().to_string(),
                i["datatype"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        inputs,
        [
            ("tenure_months", "INT64"),
            ("monthly_charges", "FP32"),
            ("support_tickets", "INT64"),
            ("plan", "BYTES"),
            ("region", "BYTES"),
            ("contract", "BYTES"),
            ("addons", "INT64")
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    let recs: Vec<Value> = records(&exp).into_iter().map(Value::Object).collect();
    let (v, _) = e
        .invocations(
            None,
            json!({"dataframe_records": recs, "params": {"predict_method": "predict_proba"}})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
    let got: Vec<f64> = v["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[1].as_f64().unwrap())
        .collect();
    assert_close("no signature", &got, &positive(&exp));
}

fn problems(err: &ServeError) -> Vec<(String, String)> {
    err.problems()
        .iter()
        .map(|p| (p.field.clone(), p.message.clone()))
        .collect()
}

#[test]
fn bad_requests_are_4xx_naming_each_field() {
    let e = engine(Some(SIGNATURE));
    let good = json!({"plan": "basic", "region": "europe", "contract": "one-year",
                      "tenure_months": 12, "monthly_charges": 55.5, "support_tickets": 1,
                      "addons": 2});
    let with = |changes: Value| {
        let mut row = good.as_object().unwrap().clone();
        for (k, v) in changes.as_object().unwrap() {
            if v == "<absent>" {
                row.remove(k);
            } else {
                row.insert(k.clone(), v.clone());
            }
        }
        Value::Object(row)
    };
    // Accepted: a missing value where the signature allows one, an unseen
    // region (handle_unknown="ignore": zeros, as onnxruntime).
    for ok in [
        json!({"monthly_charges": null}),
        json!({"monthly_charges": "NaN"}),
        json!({"monthly_charges": "<absent>"}),
        json!({"region": "antarctica"}),
    ] {
        let body = json!({"dataframe_records": [with(ok.clone())]});
        e.invocations(None, body.to_string().as_bytes())
            .unwrap_or_else(|err| panic!("{ok}: {err}"));
    }
    let cases = [
        (json!({"plan": 3}), "plan", "expected a string"),
        (json!({"plan": null}), "plan", "required"),
        // contract's encoder refuses unknown categories (handle_unknown="error")
        (
            json!({"contract": "weekly"}),
            "contract",
            r#"unknown category string "weekly": the model takes "month-to-month", "one-year", "two-year""#,
        ),
        (json!({"contract": null}), "contract", "required"),
        // so does addons', an int64 category
        (
            json!({"addons": 7}),
            "addons",
            "unknown category number 7: the model takes 0, 1, 2, 3",
        ),
        (
            json!({"tenure_months": 1.5}),
            "tenure_months",
            "expected an integer",
        ),
        (
            json!({"tenure_months": "12"}),
            "tenure_months",
            "expected a number",
        ),
        (json!({"tenure_months": null}), "tenure_months", "required"),
        (
            json!({"support_tickets": "NaN"}),
            "support_tickets",
            "NaN is not allowed",
        ),
        (
            json!({"monthly_charges": "Infinity"}),
            "monthly_charges",
            "not a finite number",
        ),
        (
            json!({"monthly_charges": 1e300}),
            "monthly_charges",
            "float range",
        ),
        (json!({"region": "<absent>"}), "region", "missing"),
        (json!({"churn": 1}), "churn", "unknown feature"),
    ];
    for (change, field, message) in cases {
        let row = with(change.clone());
        let names: Vec<String> = row.as_object().unwrap().keys().cloned().collect();
        let values: Vec<Value> = names.iter().map(|n| row[n].clone()).collect();
        for (route, body) in [
            (
                "dataframe_records",
                json!({"dataframe_records": [row.clone()]}),
            ),
            (
                "dataframe_split",
                json!({"dataframe_split": {"columns": names, "data": [values]}}),
            ),
        ] {
            let err = e
                .invocations(None, body.to_string().as_bytes())
                .expect_err(&format!("{route} {change}"));
            assert_eq!(err.status(), 422, "{route} {change}: {err}");
            let p = problems(&err);
            assert!(
                p.iter()
                    .any(|(f, m)| f.ends_with(&format!(".{field}")) && m.contains(message)),
                "{route} {change}: {p:?}"
            );
        }
        let err = e
            .predict_batch(
                json!({"instances": [{"features": row}]})
                    .to_string()
                    .as_bytes(),
            )
            .expect_err(&format!("batch {change}"));
        assert_eq!(err.status(), 422);
        assert!(
            problems(&err)
                .iter()
                .any(|(f, _)| f == &format!("instances[0].features.{field}")),
            "batch {change}: {err}"
        );
    }
    // Every offending field of a row is named at once.
    let err = e
        .invocations(
            None,
            json!({"dataframe_records": [with(json!({"plan": 1, "contract": "x", "tenure_months": 0.5}))]})
                .to_string()
                .as_bytes(),
        )
        .unwrap_err();
    let fields: Vec<String> = problems(&err).into_iter().map(|p| p.0).collect();
    assert_eq!(
        fields,
        [
            "dataframe_records[0].plan",
            "dataframe_records[0].contract",
            "dataframe_records[0].tenure_months"
        ]
    );
    // v2: a number in a BYTES column
    let v2 = json!({"inputs": [
        {"name": "plan", "shape": [1], "datatype": "BYTES", "data": [7]},
        {"name": "region", "shape": [1], "datatype": "BYTES", "data": ["europe"]},
        {"name": "contract", "shape": [1], "datatype": "BYTES", "data": ["one-year"]},
        {"name": "tenure_months", "shape": [1], "datatype": "INT64", "data": [3]},
        {"name": "monthly_charges", "shape": [1], "datatype": "FP32", "data": [null]},
        {"name": "support_tickets", "shape": [1], "datatype": "INT64", "data": [0]},
        {"name": "addons", "shape": [1], "datatype": "INT64", "data": [0]}
    ]});
    let err = e
        .v2_infer("frame", None, v2.to_string().as_bytes())
        .unwrap_err();
    assert_eq!(problems(&err)[0].0, "row 0.plan", "{err}");
}

#[test]
fn a_signature_that_does_not_fit_the_graph_is_refused_at_load() {
    let sig = |f: &dyn Fn(&mut Vec<Value>)| {
        let mut cols: Vec<Value> = serde_json::from_str(SIGNATURE).unwrap();
        f(&mut cols);
        Value::Array(cols).to_string()
    };
    let cases: [(String, &str); 4] = [
        // an ONNX input the signature does not name cannot be fed
        (
            sig(&|c| {
                c.retain(|x| x["name"] != "region");
            }),
            "region",
        ),
        (sig(&|c| c[3]["type"] = json!("string")), "tenure_months"),
        (sig(&|c| c[0]["type"] = json!("double")), "plan"),
        (sig(&|c| c[3]["type"] = json!("double")), "tenure_months"),
    ];
    for (signature, named) in cases {
        let err = load_fixture("gbc_frame_churn", Some(&signature)).unwrap_err();
        assert!(matches!(err, LoadError::Onnx(_)), "{err}");
        assert!(err.to_string().contains(named), "{named}: {err}");
    }
    // A signature column the graph does not take is validated, not fed.
    let extra =
        sig(&|c| c.push(json!({"type": "string", "name": "customer_id", "required": true})));
    let m = load_fixture("gbc_frame_churn", Some(&extra)).unwrap();
    assert!(m.columns.iter().any(|c| c.name == "customer_id"));
    // Inputs of several columns cannot be fed by name.
    let err = load_fixture(
        "gbc_columns_churn",
        Some(r#"[{"type": "float", "name": "num"}, {"type": "string", "name": "contract"}]"#),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("one [None, 1] input per column"),
        "{err}"
    );
    // Graph types: int64 inputs take no missing value; string columns list their categories.
    let m = load_fixture("gbc_frame_churn", None).unwrap();
    let col = |n: &str| m.columns.iter().find(|c| c.name == n).unwrap().clone();
    assert_eq!(col("tenure_months").column_type, ColumnType::Long);
    assert!(!col("tenure_months").nullable);
    assert!(col("monthly_charges").nullable);
    assert_eq!(
        col("plan").categories,
        Some(vec!["basic".into(), "premium".into(), "standard".into()])
    );
    assert!(col("contract").strict_categories);
    assert!(!col("contract").nullable);
    assert!(!col("region").strict_categories);
    assert!(col("addons").strict_categories);
    assert!(!col("support_tickets").strict_categories);
}
