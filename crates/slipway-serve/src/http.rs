//! The HTTP surface on axum: decode the body (bounded), call one engine
//! method, encode its answer or its error in the protocol's error shape,
//! count the request.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use serde_json::{json, Value};

use crate::engine::Engine;
use crate::error::ServeError;
use crate::metrics::Route;

/// The error shape a route answers with.
#[derive(Clone, Copy)]
enum Shape {
    /// `/predict`: `{"error", "detail": [{"loc", "msg", "type"}]}` (FastAPI-like).
    Guide,
    /// `/invocations`: MLflow's `{"error_code", "message"}`.
    Mlflow,
    /// Open Inference Protocol: `{"error"}`.
    V2,
}

fn json_response(status: u16, body: Vec<u8>) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn error_response(shape: Shape, e: &ServeError) -> Response {
    let message = e.to_string();
    let (status, body) = match shape {
        Shape::Guide => {
            let detail: Vec<Value> = e
                .problems()
                .iter()
                .map(|p| {
                    let mut loc = vec![Value::from("body")];
                    loc.extend(
                        p.field
                            .split('.')
                            .filter(|s| !s.is_empty())
                            .map(Value::from),
                    );
                    json!({"loc": loc, "msg": p.message, "type": "value_error"})
                })
                .collect();
            (e.status(), json!({"error": message, "detail": detail}))
        }
        Shape::Mlflow => {
            let status = match e {
                ServeError::Invalid(_) => 400,
                other => other.status(),
            };
            let code = match status {
                404 => "RESOURCE_DOES_NOT_EXIST",
                500 => "INTERNAL_ERROR",
                503 => "TEMPORARILY_UNAVAILABLE",
                _ => "BAD_REQUEST",
            };
            (status, json!({"error_code": code, "message": message}))
        }
        Shape::V2 => {
            let status = match e {
                ServeError::Invalid(_) => 400,
                other => other.status(),
            };
            (status, json!({"error": message}))
        }
    };
    json_response(status, serde_json::to_vec(&body).unwrap_or_default())
}

/// Reads the body up to the engine's limit.
async fn read_body(engine: &Engine, headers: &HeaderMap, body: Body) -> Result<Bytes, ServeError> {
    let limit = engine.max_body_bytes;
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
    {
        if len > limit {
            return Err(ServeError::TooLarge { size: len, limit });
        }
    }
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        if std::error::Error::source(&e).is_some_and(|s| s.to_string().contains("length limit")) {
            ServeError::TooLarge {
                size: limit + 1,
                limit,
            }
        } else {
            ServeError::BadRequest(format!("cannot read the request body: {e}"))
        }
    })
}

/// Bodies above this size (a few hundred rows) are scored on the blocking
/// pool, so a large batch does not hold a runtime worker that single-row
/// requests are waiting for.
const BLOCKING_BODY_BYTES: usize = 64 * 1024;

/// Runs `f` on the blocking pool for a large body, and for every body while
/// a model is scored by Python workers ([`Engine::blocking`]): such a call
/// waits milliseconds for the workers, and requests must wait there
/// together, not one per runtime thread, for their batches to form.
async fn run_large<T: Send + 'static>(
    e: &Arc<Engine>,
    body: Bytes,
    f: impl FnOnce(&Engine, &[u8]) -> Result<T, ServeError> + Send + 'static,
) -> Result<T, ServeError> {
    if body.len() <= BLOCKING_BODY_BYTES && !e.blocking() {
        return f(e, &body);
    }
    let e = e.clone();
    tokio::task::spawn_blocking(move || f(&e, &body))
        .await
        .unwrap_or_else(|err| Err(ServeError::Model(format!("scoring failed: {err}"))))
}

fn finish(engine: &Engine, route: Route, started: Instant, r: Response) -> Response {
    engine
        .metrics
        .request(route, r.status().as_u16(), started.elapsed());
    r
}

fn with_version(mut r: Response, version: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(version) {
        r.headers_mut().insert("x-model-version", v);
    }
    r
}

/// `Engine::predict`, on the blocking pool while a model is scored by
/// Python workers (see [`run_large`]).
async fn predict_on_pool(
    e: &Arc<Engine>,
    body: Bytes,
) -> Result<crate::protocol::PredictResponse, ServeError> {
    if !e.blocking() {
        return e.predict(&body).await;
    }
    let (e, runtime) = (e.clone(), tokio::runtime::Handle::current());
    tokio::task::spawn_blocking(move || runtime.block_on(e.predict(&body)))
        .await
        .unwrap_or_else(|err| Err(ServeError::Model(format!("scoring failed: {err}"))))
}

async fn predict(State(e): State<Arc<Engine>>, headers: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    let r = match read_body(&e, &headers, body).await {
        Err(err) => error_response(Shape::Guide, &err),
        Ok(b) => match predict_on_pool(&e, b).await {
            Ok(p) => {
                let v = p.model_version.clone();
                with_version(
                    json_response(200, serde_json::to_vec(&p).unwrap_or_default()),
                    &v,
                )
            }
            Err(err) => error_response(Shape::Guide, &err),
        },
    };
    finish(&e, Route::Predict, started, r)
}

async fn predict_batch(State(e): State<Arc<Engine>>, headers: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    let r = match read_body(&e, &headers, body).await {
        Err(err) => error_response(Shape::Guide, &err),
        Ok(b) => match run_large(&e, b, |e, b| e.predict_batch(b)).await {
            Ok(p) => {
                let v = p.model_version.clone();
                with_version(
                    json_response(200, serde_json::to_vec(&p).unwrap_or_default()),
                    &v,
                )
            }
            Err(err) => error_response(Shape::Guide, &err),
        },
    };
    finish(&e, Route::PredictBatch, started, r)
}

async fn invocations(State(e): State<Arc<Engine>>, headers: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let r = match read_body(&e, &headers, body).await {
        Err(err) => error_response(Shape::Mlflow, &err),
        Ok(b) => match run_large(&e, b, move |e, b| e.invocations(ct.as_deref(), b)).await {
            Ok((v, version)) => with_version(
                json_response(200, serde_json::to_vec(&v).unwrap_or_default()),
                &version,
            ),
            Err(err) => error_response(Shape::Mlflow, &err),
        },
    };
    finish(&e, Route::Invocations, started, r)
}

async fn v2_infer_impl(
    e: Arc<Engine>,
    name: String,
    version: Option<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let r = match read_body(&e, &headers, body).await {
        Err(err) => error_response(Shape::V2, &err),
        Ok(b) => match run_large(&e, b, move |e, b| e.v2_infer(&name, version.as_deref(), b)).await
        {
            Ok(v) => json_response(200, serde_json::to_vec(&v).unwrap_or_default()),
            Err(err) => error_response(Shape::V2, &err),
        },
    };
    finish(&e, Route::V2Infer, started, r)
}

async fn v2_infer(
    State(e): State<Arc<Engine>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    v2_infer_impl(e, name, None, headers, body).await
}

async fn v2_infer_version(
    State(e): State<Arc<Engine>>,
    Path((name, version)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    v2_infer_impl(e, name, Some(version), headers, body).await
}

fn v2_result(r: Result<Value, ServeError>) -> Response {
    match r {
        Ok(v) => json_response(200, serde_json::to_vec(&v).unwrap_or_default()),
        Err(err) => error_response(Shape::V2, &err),
    }
}

async fn v2_metadata(State(e): State<Arc<Engine>>, Path(name): Path<String>) -> Response {
    v2_result(e.v2_metadata(&name, None))
}

async fn v2_metadata_version(
    State(e): State<Arc<Engine>>,
    Path((name, version)): Path<(String, String)>,
) -> Response {
    v2_result(e.v2_metadata(&name, Some(&version)))
}

/// v2 readiness: 200 when ready, 503 (same body) when not.
fn v2_ready_result(r: Result<Value, ServeError>) -> Response {
    match r {
        Ok(v) if v.get("ready") == Some(&Value::Bool(false)) => {
            json_response(503, serde_json::to_vec(&v).unwrap_or_default())
        }
        other => v2_result(other),
    }
}

async fn v2_ready(State(e): State<Arc<Engine>>, Path(name): Path<String>) -> Response {
    v2_ready_result(e.v2_ready(&name, None))
}

async fn v2_ready_version(
    State(e): State<Arc<Engine>>,
    Path((name, version)): Path<(String, String)>,
) -> Response {
    v2_ready_result(e.v2_ready(&name, Some(&version)))
}

async fn v2_server(State(e): State<Arc<Engine>>) -> Response {
    v2_result(Ok(e.v2_server_metadata()))
}

async fn live() -> Response {
    json_response(200, br#"{"live":true}"#.to_vec())
}

async fn ready(State(e): State<Arc<Engine>>) -> Response {
    if e.ready() {
        json_response(200, br#"{"ready":true}"#.to_vec())
    } else {
        json_response(503, br#"{"ready":false}"#.to_vec())
    }
}

async fn health(State(e): State<Arc<Engine>>) -> Response {
    let h = e.health();
    let status = if h.ready { 200 } else { 503 };
    json_response(status, serde_json::to_vec(&h).unwrap_or_default())
}

/// MLflow's `/ping`: 200 when the model can answer, else 503.
async fn ping(State(e): State<Arc<Engine>>) -> Response {
    let mut r = Response::new(Body::from("\n"));
    if !e.ready() {
        *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    }
    r
}

async fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

async fn metrics(State(e): State<Arc<Engine>>) -> Response {
    let mut r = Response::new(Body::from(e.metrics_text()));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    r
}

async fn not_found() -> Response {
    json_response(
        404,
        br#"{"error":"not found: see /predict, /predict/batch, /invocations, /v2/models/{name}/infer, /health, /metrics"}"#
            .to_vec(),
    )
}

/// Every route of `slipway serve`.
pub fn router(engine: Arc<Engine>) -> Router {
    Router::new()
        .route("/predict", post(predict))
        .route("/predict/batch", post(predict_batch))
        .route("/invocations", post(invocations))
        .route("/ping", get(ping))
        .route("/version", get(version))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/v2", get(v2_server))
        .route("/v2/health/live", get(live))
        .route("/v2/health/ready", get(ready))
        .route("/v2/models/{name}", get(v2_metadata))
        .route("/v2/models/{name}/ready", get(v2_ready))
        .route("/v2/models/{name}/infer", post(v2_infer))
        .route(
            "/v2/models/{name}/versions/{version}",
            get(v2_metadata_version),
        )
        .route(
            "/v2/models/{name}/versions/{version}/ready",
            get(v2_ready_version),
        )
        .route(
            "/v2/models/{name}/versions/{version}/infer",
            post(v2_infer_version),
        )
        .fallback(not_found)
        .with_state(engine)
}

/// Serves the router on `listener` until `shutdown` completes, then drains
/// in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    engine: Arc<Engine>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // No TCP_NODELAY: hyper writes each answer whole, and setting it
    // measured ~10% fewer requests per second under wrk at concurrency 64.
    axum::serve(listener, router(engine))
        .with_graceful_shutdown(shutdown)
        .await
}
