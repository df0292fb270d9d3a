//! The registry event feed's long poll (`GET /api/2.0/slipway/registry/events?wait_ms=`):
//! answers at once when an event exists, wakes when one is committed (in this
//! process or by another process on the same database), answers empty when
//! the wait ends, refuses bad parameters, and never holds up a shutdown.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use slipway_server::{app, open_state, serve_listener, ServerConfig};
use std::path::Path;
use std::time::{Duration, Instant};
use tower::ServiceExt;

const EVENTS: &str = "/api/2.0/slipway/registry/events";

#[derive(Clone)]
struct Api {
    router: axum::Router,
}

impl Api {
    fn open(home: &Path) -> Self {
        let state = open_state(&ServerConfig::with_home(home)).unwrap();
        Api { router: app(state) }
    }

    async fn call(&self, method: &str, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/json")
            .body(Body::from(body.map(|b| b.to_string()).unwrap_or_default()))
            .unwrap();
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn create_model(&self, name: &str) {
        let (s, v) = self
            .call(
                "POST",
                "/api/2.0/mlflow/registered-models/create",
                Some(json!({"name": name})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }

    /// `(events, seconds taken)`.
    async fn poll(&self, query: &str) -> (Vec<Value>, f64) {
        let started = Instant::now();
        let (s, v) = self.call("GET", &format!("{EVENTS}?{query}"), None).await;
        assert_eq!(s, StatusCode::OK, "{query}: {v}");
        let events = v["events"].as_array().cloned().unwrap_or_default();
        (events, started.elapsed().as_secs_f64())
    }

    async fn last_id(&self) -> i64 {
        let (events, _) = self.poll("max_results=10000").await;
        events
            .last()
            .map(|e| e["id"].as_i64().unwrap())
            .unwrap_or(0)
    }
}

#[tokio::test]
async fn answers_at_once_when_an_event_exists() {
    let dir = tempfile::tempdir().unwrap();
    let api = Api::open(dir.path());
    api.create_model("churn").await;
    let (events, took) = api.poll("after=0&wait_ms=30000").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["kind"], "registered_model_created");
    assert!(took < 5.0, "waited {took} s with an event to give");
    // A wait beyond the cap is cut, not refused.
    let (events, _) = api.poll("name=churn&wait_ms=999999999").await;
    assert_eq!(events.len(), 1);
}

#[tokio::test]
async fn wakes_when_an_event_is_committed_mid_wait() {
    let dir = tempfile::tempdir().unwrap();
    let api = Api::open(dir.path());
    api.create_model("churn").await;
    api.create_model("other").await;
    let after = api.last_id().await;
    let waiting = {
        let api = api.clone();
        tokio::spawn(async move {
            api.poll(&format!("name=churn&after={after}&wait_ms=30000"))
                .await
        })
    };
    // Another model's event does not end a poll filtered by name.
    tokio::time::sleep(Duration::from_millis(300)).await;
    api.create_model("other-2").await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(!waiting.is_finished(), "answered for another model's event");
    // A refused change records no event and wakes nobody.
    let (s, v) = api
        .call(
            "POST",
            "/api/2.0/mlflow/registered-models/alias",
            Some(json!({"name": "churn", "alias": "champion", "version": "1"})),
        )
        .await;
    assert!(s.is_client_error(), "{v}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!waiting.is_finished(), "answered without a committed event");
    let committed = Instant::now();
    api.call(
        "DELETE",
        "/api/2.0/mlflow/registered-models/delete",
        Some(json!({"name": "churn"})),
    )
    .await;
    let (events, took) = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the long poll never answered")
        .unwrap();
    assert!(took >= 1.4, "answered after {took} s, before the commit");
    assert!(
        committed.elapsed() < Duration::from_secs(5),
        "answered {:?} after the commit",
        committed.elapsed()
    );
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["kind"], "registered_model_deleted");
    assert_eq!(events[0]["name"], "churn");
    assert!(events[0]["id"].as_i64().unwrap() > after);
}

#[tokio::test]
async fn answers_empty_when_the_wait_ends() {
    let dir = tempfile::tempdir().unwrap();
    let api = Api::open(dir.path());
    api.create_model("churn").await;
    let after = api.last_id().await;
    let (events, took) = api.poll(&format!("after={after}&wait_ms=600")).await;
    assert!(events.is_empty(), "{events:?}");
    assert!(
        (0.6..10.0).contains(&took),
        "took {took} s for a 600 ms wait"
    );
    // wait_ms=0: no wait at all.
    let (events, took) = api.poll(&format!("after={after}&wait_ms=0")).await;
    assert!(events.is_empty());
    assert!(took < 2.0);
}

#[tokio::test]
async fn bad_parameters_are_400_naming_the_parameter() {
    let dir = tempfile::tempdir().unwrap();
    let api = Api::open(dir.path());
    for (query, param) in [
        ("wait_ms=-1", "wait_ms"),
        ("wait_ms=abc", "wait_ms"),
        ("wait_ms=1.5", "wait_ms"),
        ("after=x&wait_ms=10", "after"),
        ("max_results=many", "max_results"),
    ] {
        let started = Instant::now();
        let (s, v) = api.call("GET", &format!("{EVENTS}?{query}"), None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{query}: {v}");
        assert_eq!(v["error_code"], "INVALID_PARAMETER_VALUE", "{query}");
        let message = v["message"].as_str().unwrap();
        assert!(message.contains(param), "{query}: {message}");
        assert!(started.elapsed() < Duration::from_secs(5), "{query} waited");
    }
}

/// Another process writing the same SQLite file (`slipway promote` on the
/// embedded store) reaches no broadcast here: the poll re-reads the store.
#[tokio::test]
async fn sees_commits_by_another_store_on_the_same_database() {
    let dir = tempfile::tempdir().unwrap();
    let here = Api::open(dir.path());
    here.create_model("churn").await;
    let after = here.last_id().await;
    let elsewhere = Api::open(dir.path());
    let waiting = {
        let here = here.clone();
        tokio::spawn(async move {
            here.poll(&format!("name=churn&after={after}&wait_ms=30000"))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(!waiting.is_finished());
    let committed = Instant::now();
    let (s, v) = elsewhere
        .call(
            "POST",
            "/api/2.0/mlflow/registered-models/rename",
            Some(json!({"name": "churn", "new_name": "churn-v2"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    elsewhere.create_model("churn").await;
    let (events, _) = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the long poll never saw the other store's commit")
        .unwrap();
    assert!(committed.elapsed() < Duration::from_secs(5));
    assert!(!events.is_empty());
    assert!(events.iter().all(|e| e["name"] == "churn"), "{events:?}");
    assert!(events.iter().all(|e| e["id"].as_i64().unwrap() > after));
}

/// Graceful shutdown waits for in-flight requests; a long poll must not make
/// it wait out the whole `wait_ms`.
#[tokio::test]
async fn a_waiting_poll_does_not_hold_up_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let state = open_state(&ServerConfig::with_home(dir.path())).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_listener(listener, state, async move {
        let _ = stopped.await;
    }));
    let poll = tokio::spawn(async move {
        reqwest::get(format!("{base}{EVENTS}?after=0&wait_ms=60000"))
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!poll.is_finished());
    let stopping = Instant::now();
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("shutdown waited for the long poll")
        .unwrap()
        .unwrap();
    assert!(stopping.elapsed() < Duration::from_secs(5));
    let answer = tokio::time::timeout(Duration::from_secs(5), poll)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(answer, json!({"events": []}));
}
