//! Registry endpoints over HTTP semantics (no network: tower `oneshot`).

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

    async fn call(&self, method: &str, uri: &str, body: Option<Value>) -> (StatusCode, Vec<u8>) {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/json")
            .header("x-slipway-user", "alice")
            .body(Body::from(body.map(|b| b.to_string()).unwrap_or_default()))
            .unwrap();
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        (
            status,
            resp.into_body()
                .collect()
                .await
                .unwrap()
                .to_bytes()
                .to_vec(),
        )
    }

    async fn json(&self, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let (s, b) = self
            .call(method, &format!("/api/2.0/mlflow/{path}"), body)
            .await;
        (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
    }

    async fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (s, v) = self.json(method, path, body).await;
        assert_eq!(s, StatusCode::OK, "{method} {path}: {v}");
        v
    }
}

#[tokio::test]
async fn registry_round_trip_with_mlflow_shapes() {
    let api = Api::new();
    let run = api
        .ok("POST", "runs/create", Some(json!({"experiment_id": "0"})))
        .await;
    let run_id = run["run"]["info"]["run_id"].as_str().unwrap().to_string();
    let (s, _) = api
        .call(
            "PUT",
            &format!("/api/2.0/mlflow-artifacts/artifacts/0/{run_id}/artifacts/model/MLmodel"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    api.ok(
        "POST",
        "registered-models/create",
        Some(json!({"name": "churn"})),
    )
    .await;
    let (s, v) = api
        .json(
            "POST",
            "registered-models/create",
            Some(json!({"name": "churn"})),
        )
        .await;
    assert_eq!(
        (s.as_u16(), v["error_code"].as_str()),
        (400, Some("RESOURCE_ALREADY_EXISTS"))
    );
    let mv = api
        .ok(
            "POST",
            "model-versions/create",
            Some(json!({"name": "churn", "source": format!("runs:/{run_id}/model"), "run_id": run_id})),
        )
        .await;
    assert_eq!(mv["model_version"]["version"], "1");
    assert_eq!(mv["model_version"]["status"], "READY");
    assert_eq!(mv["model_version"]["user_id"], "alice");
    let uri = api
        .ok(
            "GET",
            "model-versions/get-download-uri?name=churn&version=1",
            None,
        )
        .await;
    assert_eq!(
        uri["artifact_uri"],
        format!("mlflow-artifacts:/0/{run_id}/artifacts/model")
    );
    let t = api
        .ok(
            "POST",
            "model-versions/transition-stage",
            Some(json!({"name": "churn", "version": "1", "stage": "production", "archive_existing_versions": true, "comment": "good"})),
        )
        .await;
    assert_eq!(t["model_version"]["current_stage"], "Production");
    let latest = api
        .ok(
            "POST",
            "registered-models/get-latest-versions",
            Some(json!({"name": "churn", "stages": ["Production"]})),
        )
        .await;
    assert_eq!(latest["model_versions"][0]["version"], "1");
    api.ok(
        "POST",
        "registered-models/alias",
        Some(json!({"name": "churn", "alias": "champion", "version": "1"})),
    )
    .await;
    let by_alias = api
        .ok(
            "GET",
            "registered-models/alias?name=churn&alias=champion",
            None,
        )
        .await;
    assert_eq!(by_alias["model_version"]["aliases"], json!(["champion"]));
    // The Python client sends DELETE parameters as a JSON body.
    api.ok(
        "DELETE",
        "registered-models/alias",
        Some(json!({"name": "churn", "alias": "champion"})),
    )
    .await;
    let (s, v) = api
        .json(
            "GET",
            "registered-models/alias?name=churn&alias=champion",
            None,
        )
        .await;
    assert_eq!(
        (s.as_u16(), v["error_code"].as_str()),
        (400, Some("INVALID_PARAMETER_VALUE"))
    );
    let search = api
        .ok(
            "GET",
            &format!(
                "model-versions/search?filter=name%3D%27churn%27%20and%20run_id%3D%27{run_id}%27"
            ),
            None,
        )
        .await;
    assert_eq!(search["model_versions"].as_array().unwrap().len(), 1);
    let (s, v) = api
        .json(
            "POST",
            "model-versions/transition-stage",
            Some(json!({"name": "churn", "version": "1", "stage": "Prod"})),
        )
        .await;
    assert_eq!(
        (s.as_u16(), v["error_code"].as_str()),
        (400, Some("INVALID_PARAMETER_VALUE"))
    );
    let (s, v) = api
        .json("GET", "registered-models/get?name=nope", None)
        .await;
    assert_eq!(
        (s.as_u16(), v["error_code"].as_str()),
        (404, Some("RESOURCE_DOES_NOT_EXIST"))
    );
    let events = api
        .call("GET", "/api/2.0/slipway/registry/events?name=churn", None)
        .await;
    let events: Value = serde_json::from_slice(&events.1).unwrap();
    let transition = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "stage_transitioned")
        .unwrap()
        .clone();
    assert_eq!(transition["reason"], "good");
    assert_eq!(transition["user"], "alice");
    api.ok(
        "DELETE",
        "model-versions/delete",
        Some(json!({"name": "churn", "version": "1"})),
    )
    .await;
    api.ok(
        "DELETE",
        "registered-models/delete",
        Some(json!({"name": "churn"})),
    )
    .await;
}

#[tokio::test]
async fn model_version_files_are_served_only_from_the_artifact_root() {
    let api = Api::new();
    let run = api
        .ok("POST", "runs/create", Some(json!({"experiment_id": "0"})))
        .await;
    let run_id = run["run"]["info"]["run_id"].as_str().unwrap().to_string();
    let req = Request::builder()
        .method("PUT")
        .uri(format!(
            "/api/2.0/mlflow-artifacts/artifacts/0/{run_id}/artifacts/model/MLmodel"
        ))
        .body(Body::from("flavors: {}\n"))
        .unwrap();
    assert_eq!(
        api.router.clone().oneshot(req).await.unwrap().status(),
        StatusCode::OK
    );
    api.ok(
        "POST",
        "registered-models/create",
        Some(json!({"name": "m"})),
    )
    .await;
    api.ok(
        "POST",
        "model-versions/create",
        Some(json!({"name": "m", "source": format!("runs:/{run_id}/model"), "run_id": run_id})),
    )
    .await;
    let (s, body) = api
        .call(
            "GET",
            "/model-versions/get-artifact?name=m&version=1&path=MLmodel",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body, b"flavors: {}\n");
    for path in [
        "../../../../etc/passwd",
        "%2e%2e/%2e%2e/etc/passwd",
        "/etc/passwd",
    ] {
        let (s, body) = api
            .call(
                "GET",
                &format!("/model-versions/get-artifact?name=m&version=1&path={path}"),
                None,
            )
            .await;
        assert!(s.is_client_error(), "{path}: {s}");
        assert!(!String::from_utf8_lossy(&body).contains("root:x:0:0"));
    }
    // A source must belong to the run named by run_id (MLflow's rule).
    let (s, v) = api
        .json(
            "POST",
            "model-versions/create",
            Some(json!({"name": "m", "source": format!("runs:/{run_id}/model")})),
        )
        .await;
    assert_eq!(
        (s.as_u16(), v["error_code"].as_str()),
        (400, Some("INVALID_PARAMETER_VALUE"))
    );
    let (s, v) = api
        .json(
            "POST",
            "model-versions/create",
            Some(json!({"name": "m", "source": "file:///etc/"})),
        )
        .await;
    assert_eq!(
        (s.as_u16(), v["error_code"].as_str()),
        (400, Some("INVALID_PARAMETER_VALUE"))
    );
}
