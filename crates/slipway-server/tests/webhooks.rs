//! Registry webhooks end to end: the server on 127.0.0.1:0 POSTs a signed
//! stage transition to a receiver on 127.0.0.1:0 and logs the delivery.

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{json, Value};
use slipway_registry::webhooks::{verify_signature, Payload};
use slipway_server::{app, open_state, ServerConfig};
use std::time::Duration;
use tokio::sync::mpsc;

struct Received {
    headers: HeaderMap,
    body: Bytes,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header"))
            .to_str()
            .unwrap()
    }
}

async fn listen(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

/// A receiver that hands every POST to `/hook` to the test; `/gone` answers 404.
async fn receiver() -> (String, mpsc::UnboundedReceiver<Received>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let router = axum::Router::new()
        .route(
            "/hook",
            post(move |headers: HeaderMap, body: Bytes| {
                let tx = tx.clone();
                async move {
                    let _ = tx.send(Received { headers, body });
                    StatusCode::OK
                }
            }),
        )
        .route("/gone", post(|| async { StatusCode::NOT_FOUND }));
    (listen(router).await, rx)
}

struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn ok(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let (status, v) = self.call(method, path, body).await;
        assert_eq!(status, 200, "{path}: {v}");
        v
    }
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Received>) -> Received {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("the webhook was not called within 10 s")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stage_transition_reaches_a_signed_webhook_and_is_logged() {
    let home = tempfile::tempdir().unwrap();
    let state = open_state(&ServerConfig::with_home(home.path())).unwrap();
    let api = Api {
        base: listen(app(state)).await,
        http: reqwest::Client::new(),
    };
    let (hook_base, mut received) = receiver().await;
    use reqwest::Method;

    // Refusals, MLflow-style.
    for (body, mentions) in [
        (
            json!({"name": "x", "url": "ftp://127.0.0.1/x", "events": ["*"]}),
            "url",
        ),
        (
            json!({"name": "x", "url": format!("{hook_base}/hook"), "events": ["model_updated"]}),
            "model_updated",
        ),
    ] {
        let (status, v) = api
            .call(Method::POST, "/api/2.0/slipway/webhooks", Some(body))
            .await;
        assert_eq!(status, 400, "{v}");
        assert_eq!(v["error_code"], "INVALID_PARAMETER_VALUE");
        assert!(v["message"].as_str().unwrap().contains(mentions), "{v}");
    }
    let (status, v) = api
        .call(Method::GET, "/api/2.0/slipway/webhooks/nope", None)
        .await;
    assert_eq!(status, 404, "{v}");
    assert_eq!(v["error_code"], "RESOURCE_DOES_NOT_EXIST");

    // Register a signed webhook for stage transitions.
    let created = api
        .ok(
            Method::POST,
            "/api/2.0/slipway/webhooks",
            Some(json!({
                "name": "deploy",
                "url": format!("{hook_base}/hook"),
                "events": ["stage_transitioned"],
                "secret": "topsecret"
            })),
        )
        .await;
    let hook = &created["webhook"];
    let id = hook["id"].as_str().unwrap().to_string();
    assert_eq!(hook["has_secret"], true);
    assert_eq!(hook["active"], true);
    assert_eq!(hook["events"], json!(["stage_transitioned"]));
    let listed = api.ok(Method::GET, "/api/2.0/slipway/webhooks", None).await;
    assert_eq!(listed["webhooks"][0]["id"], id.as_str());
    let got = api
        .ok(
            Method::GET,
            &format!("/api/2.0/slipway/webhooks/{id}"),
            None,
        )
        .await;
    assert_eq!(got["webhook"], *hook);
    for v in [&created, &listed, &got] {
        assert!(!v.to_string().contains("topsecret"), "secret leaked: {v}");
    }

    // Registry changes; only the transition matches the webhook.
    api.ok(
        Method::POST,
        "/api/2.0/mlflow/registered-models/create",
        Some(json!({"name": "churn"})),
    )
    .await;
    api.ok(
        Method::POST,
        "/api/2.0/mlflow/model-versions/create",
        Some(json!({"name": "churn", "source": "s3://bucket/churn/1"})),
    )
    .await;
    api.ok(
        Method::POST,
        "/api/2.0/mlflow/model-versions/transition-stage",
        Some(json!({"name": "churn", "version": "1", "stage": "Staging",
                    "archive_existing_versions": false})),
    )
    .await;

    let req = next(&mut received).await;
    assert_eq!(req.header("x-slipway-event"), "stage_transitioned");
    assert!(req.header("user-agent").starts_with("slipway/"));
    assert_eq!(req.header("content-type"), "application/json");
    assert!(
        verify_signature(b"topsecret", &req.body, req.header("x-slipway-signature")),
        "bad signature {}",
        req.header("x-slipway-signature")
    );
    let payload: Payload = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(payload.webhook, "deploy");
    assert_eq!(payload.delivery_id, req.header("x-slipway-delivery"));
    assert_eq!(payload.event.kind, "stage_transitioned");
    assert_eq!(payload.event.name, "churn");
    assert_eq!(payload.event.version.as_deref(), Some("1"));
    assert_eq!(payload.event.to.as_deref(), Some("Staging"));
    // The same event as the registry's own history.
    let events = api
        .ok(
            Method::GET,
            "/api/2.0/slipway/registry/events?name=churn",
            None,
        )
        .await;
    let recorded = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "stage_transitioned")
        .cloned()
        .unwrap();
    assert_eq!(serde_json::to_value(&payload.event).unwrap(), recorded);

    // The delivery log shows it (recorded right after the receiver answered).
    let path = format!("/api/2.0/slipway/webhooks/{id}/deliveries");
    let mut log = Value::Null;
    for _ in 0..100 {
        log = api.ok(Method::GET, &path, None).await;
        if log["deliveries"].as_array().is_some_and(|d| !d.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let d = &log["deliveries"][0];
    assert_eq!(d["outcome"], "success", "{log}");
    assert_eq!(d["status_code"], 200);
    assert_eq!(d["attempt"], 1);
    assert_eq!(d["event_kind"], "stage_transitioned");
    assert_eq!(d["event_id"], recorded["id"]);
    assert_eq!(d["delivery_id"], payload.delivery_id.as_str());
    assert_eq!(log["deliveries"].as_array().unwrap().len(), 1);

    // A test delivery: a signed ping, answered with its result.
    let ping = api
        .ok(
            Method::POST,
            &format!("/api/2.0/slipway/webhooks/{id}/test"),
            None,
        )
        .await;
    assert_eq!(ping["delivery"]["event_kind"], "ping");
    assert_eq!(ping["delivery"]["outcome"], "success");
    let req = next(&mut received).await;
    assert_eq!(req.header("x-slipway-event"), "ping");
    assert!(verify_signature(
        b"topsecret",
        &req.body,
        req.header("x-slipway-signature")
    ));
    let newest = api
        .ok(Method::GET, &format!("{path}?max_results=1"), None)
        .await;
    assert_eq!(newest["deliveries"].as_array().unwrap().len(), 1);
    assert_eq!(newest["deliveries"][0]["event_kind"], "ping");
    let (status, v) = api
        .call(Method::GET, &format!("{path}?max_results=0"), None)
        .await;
    assert_eq!(
        (status, &v["error_code"]),
        (400, &json!("INVALID_PARAMETER_VALUE"))
    );

    // Delete: gone, and so is its log.
    api.ok(
        Method::DELETE,
        &format!("/api/2.0/slipway/webhooks/{id}"),
        None,
    )
    .await;
    for (method, p) in [
        (Method::GET, format!("/api/2.0/slipway/webhooks/{id}")),
        (Method::DELETE, format!("/api/2.0/slipway/webhooks/{id}")),
        (Method::GET, path.clone()),
        (Method::POST, format!("/api/2.0/slipway/webhooks/{id}/test")),
    ] {
        let (status, v) = api.call(method, &p, None).await;
        assert_eq!(status, 404, "{p}: {v}");
        assert_eq!(v["error_code"], "RESOURCE_DOES_NOT_EXIST");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_answering_404_fails_the_delivery_without_retry() {
    let home = tempfile::tempdir().unwrap();
    let state = open_state(&ServerConfig::with_home(home.path())).unwrap();
    let api = Api {
        base: listen(app(state)).await,
        http: reqwest::Client::new(),
    };
    let (hook_base, _received) = receiver().await;
    use reqwest::Method;
    let created = api
        .ok(
            Method::POST,
            "/api/2.0/slipway/webhooks",
            Some(json!({"name": "gone", "url": format!("{hook_base}/gone"), "events": ["*"]})),
        )
        .await;
    assert_eq!(created["webhook"]["has_secret"], false);
    let id = created["webhook"]["id"].as_str().unwrap();
    api.ok(
        Method::POST,
        "/api/2.0/mlflow/registered-models/create",
        Some(json!({"name": "m"})),
    )
    .await;
    let path = format!("/api/2.0/slipway/webhooks/{id}/deliveries");
    let mut log = Value::Null;
    for _ in 0..100 {
        log = api.ok(Method::GET, &path, None).await;
        if log["deliveries"].as_array().is_some_and(|d| !d.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let d = &log["deliveries"][0];
    assert_eq!(d["event_kind"], "registered_model_created", "{log}");
    assert_eq!(d["status_code"], 404);
    assert_eq!(d["outcome"], "failed");
    // No retry is scheduled: still one attempt a moment later.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = api.ok(Method::GET, &path, None).await;
    assert_eq!(log["deliveries"].as_array().unwrap().len(), 1);
}
