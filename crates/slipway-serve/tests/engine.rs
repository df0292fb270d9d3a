//! The engine without a server: every protocol's parsing, validation naming
//! each field, the canary split, the swap, and random bodies never causing
//! a 500 or a panic.

use std::sync::Arc;

use serde_json::{json, Value};
use slipway_serve::engine::{in_canary, Engine, Role};
use slipway_serve::error::ScoreError;
use slipway_serve::model::{InputColumn, ModelIdentity, Output, ScoreRow, Scorer, ServedModel};
use slipway_serve::ServeError;
use slipway_train::dataset::ColumnType;

/// probability = tenure / 100 (clamped), +0.5 when plan == "premium" (code 1).
struct Fake;

impl Scorer for Fake {
    fn score(&self, rows: &[f64], n: usize) -> Result<Vec<ScoreRow>, ScoreError> {
        let k = rows.len() / n.max(1);
        Ok(rows
            .chunks(k.max(1))
            .take(n)
            .map(|r| {
                let mut p = (r[0] / 100.0).clamp(0.0, 1.0);
                if r[1] == 1.0 {
                    p = (p + 0.5).min(1.0);
                }
                if p.is_nan() {
                    p = 0.25;
                }
                ScoreRow {
                    prediction: Value::from(i64::from(p >= 0.5)),
                    probability: Some(p),
                }
            })
            .collect())
    }
}

fn columns() -> Vec<InputColumn> {
    vec![
        InputColumn {
            name: "tenure".into(),
            column_type: ColumnType::Long,
            nullable: false,
            categories: None,
            strict_categories: false,
        },
        InputColumn {
            name: "plan".into(),
            column_type: ColumnType::String,
            nullable: false,
            categories: Some(vec!["basic".into(), "premium".into()]),
            strict_categories: false,
        },
        InputColumn {
            name: "charges".into(),
            column_type: ColumnType::Double,
            nullable: true,
            categories: None,
            strict_categories: false,
        },
        InputColumn {
            name: "active".into(),
            column_type: ColumnType::Boolean,
            nullable: true,
            categories: None,
            strict_categories: false,
        },
    ]
}

fn model(version: &str) -> Arc<ServedModel> {
    Arc::new(ServedModel::from_scorer(
        ModelIdentity {
            name: "churn".into(),
            version: version.into(),
            uri: "models:/churn/Production".into(),
            run_id: None,
            model_id: Some(format!("m-{version}")),
        },
        columns(),
        Output::Classifier {
            classes: vec![json!(0), json!(1)],
            positive: 1,
        },
        Box::new(Fake),
    ))
}

fn engine() -> Engine {
    Engine::builder("models:/churn/Production", model("1")).build()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

const ROW: &str = r#"{"tenure": 80, "plan": "basic", "charges": 12.5, "active": true}"#;

#[test]
fn predict_answers_in_the_guides_shape() {
    let e = engine();
    let body = format!(r#"{{"customer_id": "C1", "features": {ROW}}}"#);
    let r = rt().block_on(e.predict(body.as_bytes())).unwrap();
    assert_eq!(r.customer_id.as_deref(), Some("C1"));
    assert_eq!(r.prediction, json!(1));
    assert!((r.probability.unwrap() - 0.8).abs() < 1e-12);
    assert_eq!(r.model_version, "1");
    let v = serde_json::to_value(&r).unwrap();
    let mut keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "customer_id",
            "latency_ms",
            "model_version",
            "prediction",
            "probability"
        ]
    );
}

#[test]
fn validation_names_every_offending_field() {
    let e = engine();
    let body = r#"{"customer_id": "C1", "features": {"tenure": "twelve", "plan": 7, "charges": "Infinity", "colour": "red"}}"#;
    let err = rt().block_on(e.predict(body.as_bytes())).unwrap_err();
    assert_eq!(err.status(), 422);
    let fields: Vec<&str> = err.problems().iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "features.tenure",
            "features.plan",
            "features.charges",
            "features.colour"
        ],
        "{err}"
    );
    let msg = err.to_string();
    assert!(msg.contains("expected an integer") || msg.contains("expected a number"));
    assert!(msg.contains("unknown feature"));
    assert!(msg.contains("not a finite number"));
}

#[test]
fn missing_required_and_nulls() {
    let e = engine();
    // charges and active are nullable; tenure is not.
    let body = r#"{"features": {"tenure": null, "plan": "basic", "charges": null}}"#;
    let err = rt().block_on(e.predict(body.as_bytes())).unwrap_err();
    let fields: Vec<&str> = err.problems().iter().map(|p| p.field.as_str()).collect();
    assert_eq!(fields, ["features.tenure"]);
    // An unseen category is a missing value, as in training; NaN where nullable passes.
    let ok = r#"{"features": {"tenure": 3, "plan": "gold", "charges": "NaN"}}"#;
    let r = rt().block_on(e.predict(ok.as_bytes())).unwrap();
    assert_eq!(r.customer_id, None);
    // A non-integral number for a long column, a number for a category that is not one.
    let bad = r#"{"features": {"tenure": 3.5, "plan": 1}}"#;
    let err = rt().block_on(e.predict(bad.as_bytes())).unwrap_err();
    assert_eq!(err.problems().len(), 2, "{err}");
}

#[test]
fn batch_accepts_instances_or_a_list() {
    let e = engine();
    let a = format!(
        r#"{{"instances": [{{"customer_id": "A", "features": {ROW}}}, {{"customer_id": "B", "features": {{"tenure": 10, "plan": "premium"}}}}]}}"#
    );
    let r = e.predict_batch(a.as_bytes()).unwrap();
    assert_eq!(r.predictions.len(), 2);
    assert_eq!(r.predictions[1].customer_id.as_deref(), Some("B"));
    assert!((r.predictions[1].probability.unwrap() - 0.6).abs() < 1e-12);
    let b = format!(r#"[{{"features": {ROW}}}]"#);
    assert_eq!(e.predict_batch(b.as_bytes()).unwrap().predictions.len(), 1);
    let bad = r#"{"instances": [{"features": {"tenure": 1, "plan": "basic"}}, {"features": {"tenure": "x", "plan": "basic"}}]}"#;
    let err = e.predict_batch(bad.as_bytes()).unwrap_err();
    assert_eq!(err.problems()[0].field, "instances[1].features.tenure");
}

#[test]
fn invocations_accepts_the_four_mlflow_shapes_and_csv() {
    let e = engine();
    let shapes = [
        json!({"dataframe_split": {"columns": ["tenure", "plan"], "data": [[80, "basic"], [10, "premium"]]}}),
        json!({"dataframe_records": [{"tenure": 80, "plan": "basic"}, {"tenure": 10, "plan": "premium"}]}),
        json!({"instances": [{"tenure": 80, "plan": "basic"}, {"tenure": 10, "plan": "premium"}]}),
        json!({"instances": [[80, "basic", null, null], [10, "premium", null, true]]}),
        json!({"inputs": {"tenure": [80, 10], "plan": ["basic", "premium"]}}),
        json!({"inputs": [{"tenure": 80, "plan": "basic"}, {"tenure": 10, "plan": "premium"}]}),
    ];
    for body in shapes {
        let (v, version) = e
            .invocations(Some("application/json"), body.to_string().as_bytes())
            .unwrap_or_else(|err| panic!("{body}: {err}"));
        assert_eq!(v, json!({"predictions": [1, 1]}), "{body}");
        assert_eq!(version, "1");
    }
    let proba = json!({"dataframe_records": [{"tenure": 20, "plan": "basic"}], "params": {"predict_method": "predict_proba"}});
    let (v, _) = e.invocations(None, proba.to_string().as_bytes()).unwrap();
    assert_eq!(v, json!({"predictions": [[0.8, 0.2]]}));
    let csv = "tenure,plan,charges\n80,basic,\n10,\"premium\",3.5\n";
    let (v, _) = e
        .invocations(Some("text/csv; charset=utf-8"), csv.as_bytes())
        .unwrap();
    assert_eq!(v, json!({"predictions": [1, 1]}));
    for bad in [
        json!({"data": [[1]]}),
        json!({}),
        json!({"instances": [], "inputs": {}}),
        json!([1, 2]),
    ] {
        let err = e.invocations(None, bad.to_string().as_bytes()).unwrap_err();
        assert!(matches!(err, ServeError::BadRequest(_)), "{bad}: {err}");
        assert!(err.to_string().contains("exactly one of"), "{err}");
    }
    let err = e.invocations(Some("application/xml"), b"<a/>").unwrap_err();
    assert_eq!(err.status(), 415);
    let err = e
        .invocations(
            None,
            json!({"dataframe_records": [{"tenure": "x", "plan": "basic"}]})
                .to_string()
                .as_bytes(),
        )
        .unwrap_err();
    assert_eq!(err.problems()[0].field, "dataframe_records[0].tenure");
}

#[test]
fn v2_infer_takes_a_matrix_or_one_tensor_per_column_and_echoes_the_id() {
    let e = engine();
    let matrix = json!({
        "id": "req-7",
        "inputs": [{"name": "input-0", "shape": [2, 4], "datatype": "BYTES",
                    "data": [[80, "basic", 1.0, true], [10, "premium", null, false]]}],
        "outputs": [{"name": "predict"}, {"name": "predict_proba"}]
    });
    let v = e
        .v2_infer("churn", None, matrix.to_string().as_bytes())
        .unwrap();
    assert_eq!(v["id"], "req-7");
    assert_eq!(v["model_version"], "1");
    assert_eq!(v["outputs"][0]["name"], "predict");
    assert_eq!(v["outputs"][0]["datatype"], "INT64");
    assert_eq!(v["outputs"][0]["shape"], json!([2, 1]));
    assert_eq!(v["outputs"][0]["data"], json!([1, 1]));
    assert_eq!(v["outputs"][1]["shape"], json!([2, 2]));
    let columns = json!({
        "parameters": {"content_type": "pd"},
        "inputs": [
            {"name": "tenure", "shape": [2], "datatype": "INT64", "data": [80, 10]},
            {"name": "plan", "shape": [2], "datatype": "BYTES", "data": ["basic", "premium"]}
        ],
        "outputs": [{"name": "predict_proba"}]
    });
    let v = e
        .v2_infer("churn", Some("1"), columns.to_string().as_bytes())
        .unwrap();
    assert_eq!(v["outputs"].as_array().unwrap().len(), 1);
    assert_eq!(
        v["outputs"][0]["data"],
        json!([0.19999999999999996, 0.8, 0.4, 0.6])
    );
    // Wrong width, unknown model, unknown output.
    let bad =
        json!({"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP64", "data": [1, 2, 3]}]});
    let err = e
        .v2_infer("churn", None, bad.to_string().as_bytes())
        .unwrap_err();
    assert!(err.to_string().contains("expected [-1, 4]"), "{err}");
    assert_eq!(
        e.v2_infer("other", None, matrix.to_string().as_bytes())
            .unwrap_err()
            .status(),
        404
    );
    let bad = json!({"inputs": columns["inputs"], "outputs": [{"name": "logits"}]});
    assert!(e
        .v2_infer("churn", None, bad.to_string().as_bytes())
        .unwrap_err()
        .to_string()
        .contains("unknown output"));
    let meta = e.v2_metadata("churn", None).unwrap();
    assert_eq!(
        meta["inputs"][1],
        json!({"name": "plan", "datatype": "BYTES", "shape": [-1]})
    );
}

#[test]
fn canary_takes_its_share_deterministically_by_customer_id() {
    let e = Engine::builder("models:/churn/Production", model("1"))
        .canary("models:/churn@challenger", model("2"), 10.0)
        .build();
    let n = 20_000;
    let mut canary = 0;
    for i in 0..n {
        let id = format!("C{i}");
        let (m, role) = e.pick(Some(&id));
        if role == Role::Canary {
            canary += 1;
            assert_eq!(m.version, "2");
        }
        // Same customer, same model.
        assert_eq!(e.pick(Some(&id)).1, role);
    }
    let share = f64::from(canary) / f64::from(n);
    assert!((share - 0.10).abs() < 0.01, "canary share {share}");
    let random = (0..n).filter(|_| e.pick(None).1 == Role::Canary).count();
    let share = random as f64 / f64::from(n);
    assert!((share - 0.10).abs() < 0.01, "random canary share {share}");
    assert!(!in_canary(5, 0.0));
    assert!(in_canary(9_999, 100.0));
}

#[test]
fn swap_replaces_the_model_and_responses_name_it() {
    let e = engine();
    let body = format!(r#"{{"features": {ROW}}}"#);
    let rt = rt();
    assert_eq!(
        rt.block_on(e.predict(body.as_bytes()))
            .unwrap()
            .model_version,
        "1"
    );
    let old = e.swap(Role::Champion, model("2")).unwrap();
    assert_eq!(old.version, "1");
    assert_eq!(
        rt.block_on(e.predict(body.as_bytes()))
            .unwrap()
            .model_version,
        "2"
    );
    assert_eq!(e.health().model_version.as_deref(), Some("2"));
    assert!(e
        .metrics_text()
        .contains("slipway_model_info{name=\"churn\",version=\"2\",role=\"champion\"} 1"));
}

#[test]
fn prediction_log_records_rows_with_shadow_results() {
    let dir = tempfile_dir();
    let path = dir.join("p.jsonl");
    let log = Arc::new(
        slipway_serve::predlog::PredictionLog::open(
            &path,
            1024,
            slipway_serve::predlog::OnFull::Drop,
        )
        .unwrap(),
    );
    let e = Engine::builder("models:/churn/Production", model("1"))
        .shadow("models:/churn/Staging", model("9"))
        .prediction_log(log)
        .build();
    let body = format!(r#"{{"customer_id": "C9", "features": {ROW}}}"#);
    let rt = rt();
    rt.block_on(e.predict(body.as_bytes())).unwrap();
    // The shadow is scored off the response path: let its task run.
    rt.block_on(async { tokio::time::sleep(std::time::Duration::from_millis(50)).await });
    e.shutdown();
    let records = slipway_serve::predlog::read_log(&path).unwrap();
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(r.entity_id.as_deref(), Some("C9"));
    assert_eq!(r.model_version, "1");
    assert_eq!(r.features["plan"], "basic");
    assert_eq!(r.shadow.as_ref().unwrap().model_version, "9");
    let _ = std::fs::remove_dir_all(dir);
}

fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("slipway-serve-test-{}", uuid_like()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn uuid_like() -> String {
    format!(
        "{}-{:?}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

/// A tiny deterministic generator for the fuzz test.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn value(&mut self, depth: u32) -> Value {
        match self.next() % if depth > 3 { 5 } else { 8 } {
            0 => Value::Null,
            1 => Value::Bool(self.next().is_multiple_of(2)),
            2 => json!((self.next() % 1000) as f64 / 7.0 - 50.0),
            3 => json!(
                ["basic", "premium", "tenure", "", "NaN", "Infinity", "1e999"]
                    [(self.next() % 7) as usize]
            ),
            4 => json!(self.next() as i64),
            5 => Value::Array(
                (0..self.next() % 4)
                    .map(|_| self.value(depth + 1))
                    .collect(),
            ),
            _ => {
                let keys = [
                    "customer_id",
                    "features",
                    "tenure",
                    "plan",
                    "charges",
                    "active",
                    "instances",
                    "inputs",
                    "dataframe_split",
                    "dataframe_records",
                    "columns",
                    "data",
                    "name",
                    "shape",
                    "datatype",
                    "id",
                    "outputs",
                    "params",
                ];
                Value::Object(
                    (0..self.next() % 5)
                        .map(|_| {
                            (
                                keys[(self.next() % keys.len() as u64) as usize].to_string(),
                                self.value(depth + 1),
                            )
                        })
                        .collect(),
                )
            }
        }
    }
}

#[test]
fn random_bodies_never_panic_or_fail_as_the_servers_fault() {
    let e = engine();
    let rt = rt();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for i in 0..5_000u32 {
        let body = rng.value(0).to_string();
        let bytes = if i.is_multiple_of(50) {
            body.as_bytes()[..body.len() / 2].to_vec()
        } else {
            body.into_bytes()
        };
        let results = [
            rt.block_on(e.predict(&bytes)).map(|_| ()),
            e.predict_batch(&bytes).map(|_| ()),
            e.invocations(None, &bytes).map(|_| ()),
            e.invocations(Some("text/csv"), &bytes).map(|_| ()),
            e.v2_infer("churn", None, &bytes).map(|_| ()),
        ];
        for r in results {
            if let Err(err) = r {
                assert!(
                    err.status() < 500,
                    "{} for {}",
                    err,
                    String::from_utf8_lossy(&bytes)
                );
            }
        }
    }
}

#[test]
fn router_refuses_oversized_bodies_with_413_and_answers_each_protocols_error_shape() {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;
    let e = Arc::new(
        Engine::builder("models:/churn/Production", model("1"))
            .max_body_bytes(64)
            .build(),
    );
    let rt = rt();
    let call = |uri: &str, body: String| {
        let app = slipway_serve::http::router(e.clone());
        rt.block_on(async move {
            let r = app
                .oneshot(Request::post(uri).body(Body::from(body)).unwrap())
                .await
                .unwrap();
            let status = r.status().as_u16();
            let bytes = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
            (status, serde_json::from_slice::<Value>(&bytes).unwrap())
        })
    };
    let (status, v) = call("/predict", "x".repeat(100));
    assert_eq!(status, 413);
    assert!(v["error"].as_str().unwrap().contains("--max-body-bytes"));
    let (status, v) = call("/invocations", "{}".into());
    assert_eq!(status, 400);
    assert_eq!(v["error_code"], "BAD_REQUEST");
    let (status, v) = call("/v2/models/churn/infer", r#"{"inputs": 1}"#.into());
    assert_eq!(status, 400);
    assert!(v["error"].is_string());
    let (status, v) = call("/predict", r#"{"features": {"tenure": "x"}}"#.into());
    assert_eq!(status, 422);
    assert_eq!(v["detail"][0]["loc"], json!(["body", "features", "tenure"]));
    let (status, _) = call("/nope", String::new());
    assert_eq!(status, 404);
    assert!(e
        .metrics_text()
        .contains("slipway_rejected_requests_total{reason=\"body_too_large\"} 1"));
}

#[test]
fn a_large_batch_split_across_cores_keeps_row_order() {
    let e = engine();
    let n = 9_001;
    let rows: Vec<Value> = (0..n)
        .map(|i| {
            json!({"customer_id": format!("C{i}"), "features": {
                "tenure": i % 101, "plan": if i % 3 == 0 { "premium" } else { "basic" },
                "charges": 1.5, "active": true}})
        })
        .collect();
    let body = serde_json::to_vec(&json!({ "instances": rows })).unwrap();
    let out = e.predict_batch(&body).unwrap();
    assert_eq!(out.predictions.len(), n);
    for (i, p) in out.predictions.iter().enumerate() {
        let mut want = ((i % 101) as f64 / 100.0).clamp(0.0, 1.0);
        if i % 3 == 0 {
            want = (want + 0.5).min(1.0);
        }
        assert_eq!(p.customer_id.as_deref(), Some(format!("C{i}").as_str()));
        assert_eq!(p.probability, Some(want), "row {i}");
    }
}

/// A scorer whose readiness a test switches (a worker restarting).
struct Switchable(Arc<std::sync::atomic::AtomicBool>);

impl Scorer for Switchable {
    fn score(&self, rows: &[f64], n: usize) -> Result<Vec<ScoreRow>, ScoreError> {
        Fake.score(rows, n)
    }
    fn ready(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[test]
fn health_is_ready_only_when_every_model_can_score_and_reports_the_log() {
    use axum::body::Body;
    use axum::http::Request;
    use std::sync::atomic::{AtomicBool, Ordering};
    use tower::ServiceExt;
    let up = Arc::new(AtomicBool::new(true));
    let canary = Arc::new(ServedModel::from_scorer(
        ModelIdentity {
            name: "churn".into(),
            version: "2".into(),
            uri: "models:/churn@challenger".into(),
            run_id: None,
            model_id: None,
        },
        columns(),
        Output::Classifier {
            classes: vec![json!(0), json!(1)],
            positive: 1,
        },
        Box::new(Switchable(up.clone())),
    ));
    let dir = tempfile_dir();
    let log = Arc::new(
        slipway_serve::predlog::PredictionLog::open(
            &dir.join("log"),
            1024,
            slipway_serve::predlog::OnFull::Block,
        )
        .unwrap(),
    );
    let e = Arc::new(
        Engine::builder("models:/churn/Production", model("1"))
            .canary("models:/churn@challenger", canary, 10.0)
            .prediction_log(log)
            .build(),
    );
    let rt = rt();
    let get = |uri: &str| {
        let app = slipway_serve::http::router(e.clone());
        rt.block_on(async move {
            let r = app
                .oneshot(Request::get(uri).body(Body::empty()).unwrap())
                .await
                .unwrap();
            let status = r.status().as_u16();
            let bytes = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
            (status, serde_json::from_slice::<Value>(&bytes).ok())
        })
    };
    rt.block_on(e.predict(format!(r#"{{"customer_id": "C1", "features": {ROW}}}"#).as_bytes()))
        .unwrap();
    let (status, h) = get("/health");
    let h = h.unwrap();
    assert_eq!(status, 200);
    assert_eq!(h["status"], "healthy");
    assert_eq!(h["ready"], true);
    assert_eq!(h["models"].as_array().unwrap().len(), 2);
    assert_eq!(h["models"][1]["role"], "canary");
    assert_eq!(h["prediction_log"]["on_full"], "block");
    assert_eq!(h["prediction_log"]["dropped"], 0);
    assert_eq!(get("/v2/health/ready").0, 200);
    assert_eq!(get("/ping").0, 200);

    // The canary cannot score now: not ready, while still live.
    up.store(false, Ordering::SeqCst);
    let (status, h) = get("/health");
    let h = h.unwrap();
    assert_eq!(status, 503);
    assert_eq!(h["status"], "unavailable");
    assert_eq!(h["models"][0]["ready"], true);
    assert_eq!(h["models"][1]["ready"], false);
    assert_eq!(get("/v2/health/ready").0, 503);
    assert_eq!(get("/v2/health/live").0, 200);
    assert_eq!(get("/ping").0, 503);

    // Every answered row ends up written once the log closes.
    e.shutdown();
    let (_, h) = get("/health");
    assert_eq!(h.unwrap()["prediction_log"]["written"], 1);
    let _ = std::fs::remove_dir_all(dir);
}
