//! The tracking REST API over HTTP semantics (no network: tower `oneshot`).

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use slipway_server::{app, open_state, ServerConfig};
use tower::ServiceExt;

struct Api {
    router: axum::Router,
    _dir: tempfile::TempDir,
}

impl Api {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let state = open_state(&ServerConfig::with_home(dir.path())).unwrap();
        Api {
            router: app(state),
            _dir: dir,
        }
    }

    async fn call(&self, method: &str, uri: &str, body: Option<&str>) -> (StatusCode, Value) {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/json")
            .body(Body::from(body.unwrap_or("").to_string()))
            .unwrap();
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, value)
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(
            "POST",
            &format!("/api/2.0/mlflow/{path}"),
            Some(&body.to_string()),
        )
        .await
    }

    async fn get(&self, path_and_query: &str) -> (StatusCode, Value) {
        self.call("GET", &format!("/api/2.0/mlflow/{path_and_query}"), None)
            .await
    }

    async fn ok_post(&self, path: &str, body: Value) -> Value {
        let (status, v) = self.post(path, body).await;
        assert_eq!(status, StatusCode::OK, "{path}: {v}");
        v
    }

    async fn new_run(&self) -> String {
        let exp = self
            .ok_post("experiments/create", json!({"name": "e"}))
            .await;
        let run = self
            .ok_post(
                "runs/create",
                json!({"experiment_id": exp["experiment_id"], "run_name": "r", "start_time": 1}),
            )
            .await;
        run["run"]["info"]["run_id"].as_str().unwrap().to_string()
    }
}

fn assert_error(
    status: StatusCode,
    body: &Value,
    expected_status: u16,
    code: &str,
    mentions: &str,
) {
    assert_eq!(status.as_u16(), expected_status, "{body}");
    assert_eq!(body["error_code"], code, "{body}");
    let msg = body["message"].as_str().unwrap();
    assert!(
        msg.contains(mentions),
        "message {msg:?} should mention {mentions:?}"
    );
}

#[tokio::test]
async fn experiment_lifecycle_and_errors() {
    let api = Api::new();
    let created = api
        .ok_post(
            "experiments/create",
            json!({"name": "churn", "tags": [{"key": "team", "value": "ml"}]}),
        )
        .await;
    let id = created["experiment_id"].as_str().unwrap().to_string();
    let (s, v) = api
        .get(&format!("experiments/get?experiment_id={id}"))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["experiment"]["name"], "churn");
    assert_eq!(
        v["experiment"]["artifact_location"],
        format!("mlflow-artifacts:/{id}")
    );
    assert_eq!(v["experiment"]["tags"][0]["key"], "team");
    let (s, v) = api
        .get("experiments/get-by-name?experiment_name=churn")
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["experiment"]["experiment_id"], id.as_str());
    let (s, v) = api
        .get("experiments/get-by-name?experiment_name=missing")
        .await;
    assert_error(s, &v, 404, "RESOURCE_DOES_NOT_EXIST", "missing");
    let (s, v) = api
        .post("experiments/create", json!({"name": "churn"}))
        .await;
    assert_error(s, &v, 400, "RESOURCE_ALREADY_EXISTS", "churn");
    let (s, v) = api.get("experiments/get?experiment_id=12345").await;
    assert_error(s, &v, 404, "RESOURCE_DOES_NOT_EXIST", "12345");
    let (s, v) = api.post("experiments/create", json!({})).await;
    assert_error(s, &v, 400, "INVALID_PARAMETER_VALUE", "experiment name");
}

#[tokio::test]
async fn malformed_requests_are_400_with_field_names() {
    let api = Api::new();
    let run_id = api.new_run().await;
    let (s, v) = api
        .call("POST", "/api/2.0/mlflow/runs/log-metric", Some("{not json"))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error_code"], "MALFORMED_REQUEST");
    let (s, v) = api
        .post(
            "runs/log-metric",
            json!({"run_id": run_id, "key": "m", "value": 1.0, "timestamp": 1, "step": "abc"}),
        )
        .await;
    assert_error(s, &v, 400, "INVALID_PARAMETER_VALUE", "step");
    let (s, v) = api
        .post(
            "runs/log-metric",
            json!({"run_id": run_id, "key": "m", "value": "x", "timestamp": 1}),
        )
        .await;
    assert_error(s, &v, 400, "INVALID_PARAMETER_VALUE", "value");
    let (s, v) = api
        .post(
            "runs/log-parameter",
            json!({"run_id": run_id, "value": "v"}),
        )
        .await;
    assert_error(s, &v, 400, "INVALID_PARAMETER_VALUE", "key");
    let (s, v) = api
        .post("runs/log-parameter", json!({"key": "k", "value": "v"}))
        .await;
    assert_error(s, &v, 400, "INVALID_PARAMETER_VALUE", "run_id");
    let (s, v) = api.post("runs/log-batch", json!([1, 2])).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, v) = api.call("GET", "/api/2.0/mlflow/nope", None).await;
    assert_error(s, &v, 404, "ENDPOINT_NOT_FOUND", "/api/2.0/mlflow/nope");
    let (s, v) = api
        .get("runs/get?run_id=0123456789abcdef0123456789abcdef")
        .await;
    assert_error(
        s,
        &v,
        404,
        "RESOURCE_DOES_NOT_EXIST",
        "0123456789abcdef0123456789abcdef",
    );
}

#[tokio::test]
async fn run_logging_round_trip() {
    let api = Api::new();
    let run_id = api.new_run().await;
    api.ok_post(
        "runs/log-parameter",
        json!({"run_id": run_id, "run_uuid": run_id, "key": "depth", "value": "3"}),
    )
    .await;
    let (s, v) = api
        .post(
            "runs/log-parameter",
            json!({"run_id": run_id, "key": "depth", "value": "4"}),
        )
        .await;
    assert_error(
        s,
        &v,
        400,
        "INVALID_PARAMETER_VALUE",
        "Changing param values is not allowed",
    );
    for step in 0..5 {
        api.ok_post(
            "runs/log-metric",
            json!({"run_uuid": run_id, "key": "loss", "value": 1.0 / (step as f64 + 1.0), "timestamp": 100 + step, "step": step}),
        )
        .await;
    }
    api.ok_post(
        "runs/log-metric",
        json!({"run_id": run_id, "key": "nan", "value": "NaN", "timestamp": 1, "step": 0}),
    )
    .await;
    api.ok_post(
        "runs/log-metric",
        json!({"run_id": run_id, "key": "inf", "value": "Infinity", "timestamp": 1, "step": 0}),
    )
    .await;
    api.ok_post(
        "runs/set-tag",
        json!({"run_id": run_id, "key": "stage", "value": "dev"}),
    )
    .await;
    let (s, v) = api.get(&format!("runs/get?run_id={run_id}")).await;
    assert_eq!(s, StatusCode::OK);
    let metrics = v["run"]["data"]["metrics"].as_array().unwrap();
    let find = |k: &str| metrics.iter().find(|m| m["key"] == k).unwrap().clone();
    assert_eq!(find("loss")["value"], 0.2);
    assert_eq!(find("loss")["step"], 4);
    assert_eq!(find("nan")["value"], "NaN");
    assert_eq!(find("inf")["value"], "Infinity");
    let (s, v) = api
        .get(&format!(
            "metrics/get-history?run_id={run_id}&metric_key=loss&max_results=3"
        ))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["metrics"].as_array().unwrap().len(), 3);
    assert_eq!(v["metrics"][0]["step"], 0);
    let token = v["next_page_token"].as_str().unwrap().to_string();
    let (_, v) = api
        .get(&format!(
            "metrics/get-history?run_id={run_id}&metric_key=loss&max_results=3&page_token={token}"
        ))
        .await;
    assert_eq!(v["metrics"].as_array().unwrap().len(), 2);
    let (s, v) = api
        .post(
            "runs/update",
            json!({"run_id": run_id, "status": "FINISHED", "end_time": 200}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["run_info"]["status"], "FINISHED");
    let (s, v) = api
        .post("runs/update", json!({"run_id": run_id, "status": "DONE"}))
        .await;
    assert_error(s, &v, 400, "INVALID_PARAMETER_VALUE", "status");
}

#[tokio::test]
async fn batch_limits_and_atomicity() {
    let api = Api::new();
    let run_id = api.new_run().await;
    let metrics: Vec<Value> = (0..1001)
        .map(|i| json!({"key": "m", "value": i, "timestamp": i, "step": i}))
        .collect();
    let (s, v) = api
        .post(
            "runs/log-batch",
            json!({"run_id": run_id, "metrics": metrics}),
        )
        .await;
    assert_error(
        s,
        &v,
        400,
        "INVALID_PARAMETER_VALUE",
        "at most 1000 metrics",
    );
    let long_key = "k".repeat(251);
    let (s, v) = api
        .post(
            "runs/log-batch",
            json!({"run_id": run_id, "params": [{"key": long_key, "value": "v"}]}),
        )
        .await;
    assert_error(
        s,
        &v,
        400,
        "INVALID_PARAMETER_VALUE",
        "exceeded length limit of 250",
    );
    let metrics: Vec<Value> = (0..1000)
        .map(|i| json!({"key": "m", "value": i, "timestamp": i, "step": i}))
        .collect();
    api.ok_post(
        "runs/log-batch",
        json!({"run_id": run_id, "metrics": metrics}),
    )
    .await;
    let (_, v) = api
        .get(&format!("metrics/get-history?run_id={run_id}&metric_key=m"))
        .await;
    assert_eq!(v["metrics"].as_array().unwrap().len(), 1000);
}

#[tokio::test]
async fn artifact_location_cannot_escape() {
    let api = Api::new();
    for loc in [
        "file:///etc/",
        "/etc",
        "http:///#/../../etc/",
        "mlflow-artifacts:/../../etc",
        "./x",
    ] {
        let (s, v) = api
            .post(
                "experiments/create",
                json!({"name": format!("x{loc}"), "artifact_location": loc}),
            )
            .await;
        assert_error(s, &v, 400, "INVALID_PARAMETER_VALUE", "artifact_location");
    }
}

#[tokio::test]
async fn get_endpoints_accept_query_strings_and_ajax_prefix() {
    let api = Api::new();
    api.ok_post("experiments/create", json!({"name": "a1"}))
        .await;
    let (s, v) = api
        .call(
            "GET",
            "/ajax-api/2.0/mlflow/experiments/search?max_results=10",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["experiments"].as_array().unwrap().len(), 2);
    let (s, v) = api.get("experiments/search?max_results=abc").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
}
