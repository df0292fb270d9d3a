//! A model scored from raw values (what a `python_function` model in Python
//! workers is, here a fake): every protocol sends it the validated values as
//! sent (strings stay strings, no fast path turns them into codes), and
//! maps its JSON answers; errors keep their statuses; the prediction log,
//! /health and /metrics see it.

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use slipway_serve::engine::{Engine, Role};
use slipway_serve::error::ScoreError;
use slipway_serve::model::{
    answer_row, answer_rows, ModelIdentity, RawScorer, ScoreRow, Scorer, ServedModel, WorkerStats,
};

/// Signature: tenure (long), plan (string), charges (double, optional),
/// active (boolean, optional). Answers one record per row, as a DataFrame
/// with `label` and `probability` columns would: "stay" for the plan
/// "premium", else "churn"; probability = tenure / 100. The plan "refuse"
/// makes it raise, "crash" makes its worker die, "aggregate" makes it
/// answer one object for all rows.
struct FakePython {
    calls: Mutex<Vec<Vec<Vec<Value>>>>,
}

impl Scorer for FakePython {
    fn score(&self, _rows: &[f64], _n: usize) -> Result<Vec<ScoreRow>, ScoreError> {
        Err(ScoreError::Failed(
            "called with encoded rows, but takes raw ones".into(),
        ))
    }

    fn raw(&self) -> Option<&dyn RawScorer> {
        Some(self)
    }
}

impl RawScorer for FakePython {
    fn score_raw(&self, rows: Vec<Vec<Value>>) -> Result<Value, ScoreError> {
        self.calls.lock().unwrap().push(rows.clone());
        let plans: Vec<&str> = rows.iter().map(|r| r[1].as_str().unwrap()).collect();
        if plans.contains(&"refuse") {
            return Err(ScoreError::Rejected(
                "ValueError: unknown plan 'refuse'".into(),
            ));
        }
        if plans.contains(&"crash") {
            return Err(ScoreError::Failed(
                "the model's Python worker (pid 7) was killed by signal 9 while scoring this \
                 request; it is being restarted: retry the request"
                    .into(),
            ));
        }
        if plans.contains(&"aggregate") {
            return Ok(json!({"rows": rows.len()}));
        }
        Ok(Value::Array(
            rows.iter()
                .map(|r| {
                    json!({
                        "label": if r[1] == "premium" { "stay" } else { "churn" },
                        "probability": r[0].as_f64().unwrap() / 100.0,
                    })
                })
                .collect(),
        ))
    }

    fn workers(&self) -> Option<WorkerStats> {
        Some(WorkerStats {
            workers: 2,
            pids: vec![101, 102],
            restarts: 1,
            batches: 3,
            batch_requests: 5,
            batch_rows: 9,
            batch_rows_le: vec![(1, 1), (2, 2), (4, 3)],
        })
    }
}

const MLMODEL: &str = r#"
flavors:
  python_function:
    loader_module: mlflow.pyfunc.model
    python_model: python_model.pkl
signature:
  inputs: '[{"type": "long", "name": "tenure", "required": true}, {"type": "string", "name": "plan", "required": true}, {"type": "double", "name": "charges", "required": false}, {"type": "boolean", "name": "active", "required": false}]'
  outputs: '[{"type": "string", "name": "label", "required": true}, {"type": "double", "name": "probability", "required": true}]'
"#;

fn model(version: &str) -> (Arc<ServedModel>, Arc<FakePython>) {
    let fake = Arc::new(FakePython {
        calls: Mutex::new(Vec::new()),
    });
    struct Shared(Arc<FakePython>);
    impl Scorer for Shared {
        fn score(&self, rows: &[f64], n: usize) -> Result<Vec<ScoreRow>, ScoreError> {
            self.0.score(rows, n)
        }
        fn raw(&self) -> Option<&dyn RawScorer> {
            Some(&*self.0)
        }
    }
    let example = br#"{"columns": ["plan", "tenure"], "data": [["basic", 3]]}"#;
    let m = ServedModel::from_raw_scorer(
        ModelIdentity {
            name: "custom".into(),
            version: version.into(),
            uri: "models:/custom/1".into(),
            run_id: None,
            model_id: None,
        },
        MLMODEL.as_bytes(),
        Box::new(Shared(fake.clone())),
        Some(example),
    )
    .unwrap();
    (Arc::new(m), fake)
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn the_model_gets_the_values_as_sent_in_column_order() {
    let (m, fake) = model("1");
    assert!(m.takes_raw());
    assert_eq!(m.flavor, "python_function");
    // The warm-up scored the input example, reordered to the signature.
    m.warm_up().unwrap();
    assert_eq!(
        fake.calls.lock().unwrap().pop().unwrap(),
        vec![vec![json!(3), json!("basic"), Value::Null, Value::Null]]
    );
    let e = Engine::builder("models:/custom/1", m).build();
    assert!(e.blocking());
    // A string no category list knows, an integral float for a long, "NaN"
    // for an optional double, "true" for a boolean.
    let body = r#"{"customer_id": "C1", "features": {"plan": "gold plus", "tenure": 40.0, "charges": "NaN", "active": "true"}}"#;
    let r = rt().block_on(e.predict(body.as_bytes())).unwrap();
    assert_eq!((r.prediction, r.probability), (json!("churn"), Some(0.4)));
    assert_eq!(
        fake.calls.lock().unwrap().pop().unwrap(),
        vec![vec![
            json!(40),
            json!("gold plus"),
            Value::Null,
            json!(true)
        ]]
    );
    // Bodies the fast decoders would take (every value plain) still reach
    // the model as values: a numeric-only body, dataframe_split, a batch.
    let split = r#"{"dataframe_split": {"columns": ["tenure", "plan", "charges", "active"], "data": [[1, "premium", 2.5, false], [2, "basic", null, null]]}}"#;
    let (v, version) = e.invocations(None, split.as_bytes()).unwrap();
    assert_eq!(version, "1");
    assert_eq!(
        v,
        json!({"predictions": [
            {"label": "stay", "probability": 0.01},
            {"label": "churn", "probability": 0.02}
        ]})
    );
    assert_eq!(
        fake.calls.lock().unwrap().pop().unwrap(),
        vec![
            vec![json!(1), json!("premium"), json!(2.5), json!(false)],
            vec![json!(2), json!("basic"), Value::Null, Value::Null]
        ]
    );
    let batch = r#"{"instances": [{"customer_id": "A", "features": {"tenure": 90, "plan": "premium"}}, {"customer_id": "B", "features": {"tenure": 10, "plan": "x"}}]}"#;
    let b = e.predict_batch(batch.as_bytes()).unwrap();
    let got: Vec<_> = b
        .predictions
        .iter()
        .map(|p| (p.customer_id.clone(), p.prediction.clone(), p.probability))
        .collect();
    assert_eq!(
        got,
        vec![
            (Some("A".into()), json!("stay"), Some(0.9)),
            (Some("B".into()), json!("churn"), Some(0.1))
        ]
    );
}

#[test]
fn every_invocations_shape_and_csv_keep_strings_as_strings() {
    let (m, fake) = model("1");
    let e = Engine::builder("models:/custom/1", m).build();
    for body in [
        r#"{"dataframe_records": [{"tenure": 5, "plan": "007"}]}"#,
        r#"{"instances": [{"tenure": 5, "plan": "007"}]}"#,
        r#"{"inputs": {"tenure": [5], "plan": ["007"]}}"#,
        r#"{"dataframe_split": {"columns": ["plan", "tenure"], "data": [["007", 5]]}}"#,
    ] {
        let (v, _) = e
            .invocations(Some("application/json"), body.as_bytes())
            .unwrap();
        assert_eq!(v["predictions"][0]["label"], "churn", "{body}");
        assert_eq!(
            fake.calls.lock().unwrap().pop().unwrap()[0][..2],
            [json!(5), json!("007")],
            "{body}"
        );
    }
    // CSV: a string column's field stays text, as MLflow reads it with the
    // signature's types.
    let (v, _) = e
        .invocations(Some("text/csv"), b"tenure,plan,active\n5,007,\n")
        .unwrap();
    assert_eq!(v["predictions"][0]["probability"], 0.05);
    assert_eq!(
        fake.calls.lock().unwrap().pop().unwrap()[0],
        vec![json!(5), json!("007"), Value::Null, Value::Null]
    );
    // predict_proba is for models Slipway runs itself.
    let body = r#"{"dataframe_records": [{"tenure": 5, "plan": "a"}], "params": {"predict_method": "predict_proba"}}"#;
    let err = e.invocations(None, body.as_bytes()).unwrap_err();
    assert_eq!(err.status(), 400);
}

#[test]
fn v2_outputs_the_prediction_and_probability_per_row() {
    let (m, _) = model("3");
    let e = Engine::builder("models:/custom/1", m).build();
    let meta = e.v2_metadata("custom", None).unwrap();
    assert_eq!(meta["platform"], "python_function");
    assert_eq!(
        meta["outputs"],
        json!([
            {"name": "predict", "datatype": "BYTES", "shape": [-1, 1]},
            {"name": "probability", "datatype": "FP64", "shape": [-1, 1]}
        ])
    );
    let body = r#"{"id": "r1", "inputs": [
        {"name": "tenure", "shape": [2], "datatype": "INT64", "data": [50, 70]},
        {"name": "plan", "shape": [2], "datatype": "BYTES", "data": ["premium", "basic"]}]}"#;
    let v = e.v2_infer("custom", None, body.as_bytes()).unwrap();
    assert_eq!(v["id"], "r1");
    assert_eq!(
        v["outputs"],
        json!([
            {"name": "predict", "shape": [2, 1], "datatype": "BYTES", "data": ["stay", "churn"]},
            {"name": "probability", "shape": [2, 1], "datatype": "FP64", "data": [0.5, 0.7]}
        ])
    );
    let only = r#"{"inputs": [{"name": "tenure", "shape": [1], "datatype": "INT64", "data": [1]},
        {"name": "plan", "shape": [1], "datatype": "BYTES", "data": ["a"]}], "outputs": [{"name": "predict_proba"}]}"#;
    let err = e.v2_infer("custom", None, only.as_bytes()).unwrap_err();
    assert!(err.to_string().contains("predict, probability"), "{err}");
}

#[test]
fn errors_keep_their_statuses_through_the_router() {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;
    let (m, _) = model("1");
    let e = Arc::new(Engine::builder("models:/custom/1", m).build());
    let rt = rt();
    let call = |uri: &str, body: &str| {
        let app = slipway_serve::http::router(e.clone());
        let body = body.to_string();
        rt.block_on(async move {
            let r = app
                .oneshot(
                    Request::post(uri)
                        .header("content-type", "application/json")
                        .body(Body::from(body))
                        .unwrap(),
                )
                .await
                .unwrap();
            let status = r.status().as_u16();
            let bytes = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
            (status, serde_json::from_slice::<Value>(&bytes).unwrap())
        })
    };
    // Answered through the blocking pool.
    let (status, v) = call(
        "/predict",
        r#"{"features": {"tenure": 20, "plan": "premium"}}"#,
    );
    assert_eq!((status, v["prediction"].clone()), (200, json!("stay")));
    // Invalid input is refused before the model, naming each field.
    let (status, v) = call("/predict", r#"{"features": {"tenure": "x", "plan": 3}}"#);
    assert_eq!(status, 422);
    let fields: Vec<&Value> = v["detail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| &d["loc"])
        .collect();
    assert_eq!(
        fields,
        [
            &json!(["body", "features", "tenure"]),
            &json!(["body", "features", "plan"])
        ]
    );
    // The model raising: the request's fault (MLflow answers 400).
    let (status, v) = call(
        "/predict",
        r#"{"features": {"tenure": 1, "plan": "refuse"}}"#,
    );
    assert_eq!(status, 422);
    assert!(v["error"].as_str().unwrap().contains("ValueError"), "{v}");
    let (status, v) = call(
        "/invocations",
        r#"{"dataframe_records": [{"tenure": 1, "plan": "refuse"}]}"#,
    );
    assert_eq!(
        (status, v["error_code"].as_str()),
        (400, Some("BAD_REQUEST"))
    );
    // Its worker dying: a 500 that says so.
    let (status, v) = call(
        "/predict",
        r#"{"features": {"tenure": 1, "plan": "crash"}}"#,
    );
    assert_eq!(status, 500);
    assert!(
        v["error"].as_str().unwrap().contains("being restarted"),
        "{v}"
    );
    // One answer for all rows: /invocations returns it, the row routes cannot.
    let (status, v) = call(
        "/invocations",
        r#"{"dataframe_records": [{"tenure": 1, "plan": "aggregate"}, {"tenure": 2, "plan": "b"}]}"#,
    );
    assert_eq!((status, v), (200, json!({"predictions": {"rows": 2}})));
    let (status, v) = call(
        "/predict/batch",
        r#"[{"features": {"tenure": 1, "plan": "aggregate"}}, {"features": {"tenure": 2, "plan": "b"}}]"#,
    );
    assert_eq!(status, 500);
    assert!(v["error"].as_str().unwrap().contains("/invocations"), "{v}");
    let (status, v) = call(
        "/v2/models/custom/infer",
        r#"{"inputs": [{"name": "tenure", "shape": [1], "datatype": "INT64", "data": [1]}, {"name": "plan", "shape": [1], "datatype": "BYTES", "data": ["x"]}]}"#,
    );
    assert_eq!(status, 200, "{v}");
}

#[test]
fn health_metrics_and_the_prediction_log_see_the_python_model() {
    let dir = std::env::temp_dir().join(format!(
        "slipway-raw-test-{}-{:?}",
        std::process::id(),
        std::time::SystemTime::now()
    ));
    let log = Arc::new(
        slipway_serve::predlog::PredictionLog::open(
            &dir,
            1024,
            slipway_serve::predlog::OnFull::Drop,
        )
        .unwrap(),
    );
    let (m, _) = model("4");
    let (shadow, shadow_fake) = model("5");
    let e = Engine::builder("models:/custom/1", m)
        .shadow("models:/custom/2", shadow)
        .prediction_log(log)
        .build();
    let rt = rt();
    let body = r#"{"customer_id": "C7", "features": {"tenure": 30, "plan": "a plan no list knows", "active": false}}"#;
    rt.block_on(e.predict(body.as_bytes())).unwrap();
    // The shadow scores on the blocking pool: wait for it.
    for _ in 0..100 {
        if !shadow_fake.calls.lock().unwrap().is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // ...and for its batch to reach the log's queue.
    std::thread::sleep(std::time::Duration::from_millis(100));
    let health = serde_json::to_value(e.health()).unwrap();
    assert_eq!(
        health["models"][0]["python_workers"],
        json!({"workers": 2, "pids": [101, 102], "restarts": 1})
    );
    assert_eq!(health["models"][0]["flavor"], "python_function");
    let metrics = e.metrics_text();
    for line in [
        "slipway_python_batch_rows_bucket{role=\"champion\",version=\"4\",le=\"2\"} 2",
        "slipway_python_batch_rows_bucket{role=\"shadow\",version=\"5\",le=\"+Inf\"} 3",
        "slipway_python_batch_rows_sum{role=\"champion\",version=\"4\"} 9",
        "slipway_python_batch_requests_total{role=\"champion\",version=\"4\"} 5",
        "slipway_python_workers{role=\"champion\",version=\"4\"} 2",
        "slipway_python_worker_restarts_total{role=\"champion\",version=\"4\"} 1",
        "slipway_predictions_total{role=\"champion\",version=\"4\",class=\"value\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} not in\n{metrics}");
    }
    assert_eq!(
        metrics
            .matches("# TYPE slipway_python_batch_rows histogram")
            .count(),
        1
    );
    e.shutdown();
    let records = slipway_serve::predlog::read_log(&dir).unwrap();
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(r.role, Role::Champion.as_str());
    // The string as sent, typed columns for the rest.
    assert_eq!(r.features["plan"], "a plan no list knows");
    assert_eq!(r.features["tenure"], 30);
    assert_eq!(r.features["active"], false);
    assert_eq!(r.features["charges"], Value::Null);
    assert_eq!(
        (r.prediction.clone(), r.probability),
        (json!("churn"), Some(0.3))
    );
    let shadow = r.shadow.as_ref().expect("the shadow's answer");
    assert_eq!(
        (shadow.model_version.as_str(), shadow.probability),
        ("5", Some(0.3))
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn answers_map_to_rows_as_documented() {
    let row = |v: Value| {
        let r = answer_row(&v);
        (r.prediction, r.probability)
    };
    assert_eq!(row(json!(1)), (json!(1), None));
    assert_eq!(row(json!("yes")), (json!("yes"), None));
    assert_eq!(row(json!([0.2, 0.8])), (json!([0.2, 0.8]), None));
    assert_eq!(
        row(json!({"prediction": 1, "probability": 0.9, "other": 2})),
        (json!(1), Some(0.9))
    );
    assert_eq!(
        row(json!({"label": "a", "probability": "high"})),
        (json!("a"), None)
    );
    // A pandas Series answer is records of its one column ("0").
    assert_eq!(row(json!({"0": 5.5})), (json!(5.5), None));
    assert_eq!(
        row(json!({"score": 1, "probability": 0.5})),
        (json!(1), Some(0.5))
    );
    assert_eq!(
        row(json!({"a": 1, "b": 2})),
        (json!({"a": 1, "b": 2}), None)
    );

    assert_eq!(answer_rows(&json!([1, 2]), 2).map(|r| r.len()), Some(2));
    assert_eq!(answer_rows(&json!([1, 2]), 3), None);
    // A dict of columns is row by row too.
    let cols = answer_rows(&json!({"label": ["a", "b"], "probability": [0.1, 0.2]}), 2).unwrap();
    assert_eq!(
        (cols[1].prediction.clone(), cols[1].probability),
        (json!("b"), Some(0.2))
    );
    assert_eq!(
        answer_rows(&json!({"total": 3}), 1).unwrap()[0].prediction,
        json!(3)
    );
    assert_eq!(answer_rows(&json!({"total": 3}), 2), None);
    assert_eq!(
        answer_rows(&json!(0.5), 1).unwrap()[0].prediction,
        json!(0.5)
    );
}
