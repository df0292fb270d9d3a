//! Registry webhooks over HTTP (`/api/2.0/slipway/webhooks`) and the
//! reqwest transport the dispatcher POSTs with. The rules (validation,
//! payload, signature, retries) live in [`slipway_registry::webhooks`].
//!
//! | method | path | answer |
//! |---|---|---|
//! | POST | `/api/2.0/slipway/webhooks` `{name, url, events, secret?, active?}` | `{"webhook"}` |
//! | GET | `/api/2.0/slipway/webhooks` | `{"webhooks": [...]}` |
//! | GET | `/api/2.0/slipway/webhooks/{id}` | `{"webhook"}` |
//! | DELETE | `/api/2.0/slipway/webhooks/{id}` | `{}` |
//! | GET | `/api/2.0/slipway/webhooks/{id}/deliveries?max_results=N` | `{"deliveries": [...]}`, newest first |
//! | POST | `/api/2.0/slipway/webhooks/{id}/test` | `{"delivery"}`: the result of one `ping` attempt |
//!
//! A webhook is shown with `has_secret`, never its secret.

use crate::extract::{Body, Params};
use crate::{ApiError, AppState};
use async_trait::async_trait;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use slipway_registry::webhooks::{
    CreateWebhook, DeliveryAttempt, TransportError, Webhook, WebhookTransport, Webhooks,
    DEFAULT_TIMEOUT,
};
use slipway_sql::SqliteStore;
use std::sync::Arc;
use std::time::Duration;

type Reply<T> = Result<Json<T>, ApiError>;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/2.0/slipway/webhooks", get(list).post(create))
        .route(
            "/api/2.0/slipway/webhooks/{id}",
            get(get_one).delete(delete),
        )
        .route("/api/2.0/slipway/webhooks/{id}/deliveries", get(deliveries))
        .route("/api/2.0/slipway/webhooks/{id}/test", post(test))
}

/// The webhook service over the metadata store, POSTing with reqwest.
pub(crate) fn service(store: Arc<SqliteStore>) -> Webhooks {
    let transport: Arc<dyn WebhookTransport> = match ReqwestTransport::new() {
        Ok(t) => Arc::new(t),
        Err(e) => {
            tracing::error!(error = %e, "cannot build the webhook HTTP client: webhooks will fail");
            Arc::new(Unavailable(e.to_string()))
        }
    };
    Webhooks::new(store, transport)
}

/// Starts the dispatcher on the current runtime (once per state; none without a runtime).
pub(crate) fn start(state: &AppState) {
    state.webhooks.start(state.registry.subscribe());
}

#[derive(Serialize)]
struct WebhookResponse {
    webhook: Webhook,
}

#[derive(Serialize)]
struct WebhooksResponse {
    webhooks: Vec<Webhook>,
}

#[derive(Serialize)]
struct DeliveriesResponse {
    deliveries: Vec<DeliveryAttempt>,
}

#[derive(Serialize)]
struct DeliveryResponse {
    delivery: DeliveryAttempt,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct DeliveriesQuery {
    max_results: Option<i64>,
}

fn id(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    path.map(|Path(id)| id)
        .map_err(|e| ApiError::invalid(format!("Invalid webhook id in the path: {e}")))
}

async fn create(
    State(s): State<AppState>,
    Body(req): Body<CreateWebhook>,
) -> Reply<WebhookResponse> {
    let webhook = s.webhooks.create(req).await?;
    Ok(Json(WebhookResponse { webhook }))
}

async fn list(State(s): State<AppState>) -> Reply<WebhooksResponse> {
    let webhooks = s.webhooks.list().await?;
    Ok(Json(WebhooksResponse { webhooks }))
}

async fn get_one(
    State(s): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Reply<WebhookResponse> {
    let webhook = s.webhooks.get(&id(path)?).await?;
    Ok(Json(WebhookResponse { webhook }))
}

async fn delete(
    State(s): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Reply<serde_json::Value> {
    s.webhooks.delete(&id(path)?).await?;
    Ok(Json(serde_json::json!({})))
}

async fn deliveries(
    State(s): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    Params(q): Params<DeliveriesQuery>,
) -> Reply<DeliveriesResponse> {
    let deliveries = s.webhooks.deliveries(&id(path)?, q.max_results).await?;
    Ok(Json(DeliveriesResponse { deliveries }))
}

async fn test(
    State(s): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Reply<DeliveryResponse> {
    let delivery = s.webhooks.test(&id(path)?).await?;
    Ok(Json(DeliveryResponse { delivery }))
}

/// POSTs with reqwest: 10 s timeout, and redirects followed only when they
/// stay on the same scheme, host and port and keep the method and body
/// (307/308); any other redirect is returned as is (a failed delivery).
pub struct ReqwestTransport {
    client: reqwest::Client,
}

const MAX_REDIRECTS: usize = 5;

impl ReqwestTransport {
    pub fn new() -> reqwest::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(DEFAULT_TIMEOUT)
            .connect_timeout(DEFAULT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::custom(|attempt| {
                let next = attempt.url();
                let same_origin = attempt.previous().first().is_some_and(|first| {
                    first.scheme() == next.scheme()
                        && first.host_str() == next.host_str()
                        && first.port_or_known_default() == next.port_or_known_default()
                });
                let keeps_body = matches!(attempt.status().as_u16(), 307 | 308);
                if same_origin && keeps_body && attempt.previous().len() <= MAX_REDIRECTS {
                    attempt.follow()
                } else {
                    attempt.stop()
                }
            }))
            .build()?;
        Ok(ReqwestTransport { client })
    }
}

/// The error and its causes, `a: b: c`.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

#[async_trait]
impl WebhookTransport for ReqwestTransport {
    async fn post(
        &self,
        url: &str,
        headers: &[(String, String)],
        body: &[u8],
        timeout: Duration,
    ) -> Result<u16, TransportError> {
        let mut request = self.client.post(url).timeout(timeout).body(body.to_vec());
        for (name, value) in headers {
            request = request.header(name.as_str(), value.as_str());
        }
        match request.send().await {
            Ok(response) => Ok(response.status().as_u16()),
            Err(e) if e.is_timeout() => Err(TransportError::Timeout),
            Err(e) if e.is_builder() || e.is_redirect() => {
                Err(TransportError::Invalid(error_chain(&e)))
            }
            Err(e) => Err(TransportError::Connect(error_chain(&e))),
        }
    }
}

/// Stands in when the HTTP client cannot be built: every attempt fails.
struct Unavailable(String);

#[async_trait]
impl WebhookTransport for Unavailable {
    async fn post(
        &self,
        _url: &str,
        _headers: &[(String, String)],
        _body: &[u8],
        _timeout: Duration,
    ) -> Result<u16, TransportError> {
        Err(TransportError::Invalid(format!(
            "the webhook HTTP client is unavailable: {}",
            self.0
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{header::LOCATION, HeaderMap, StatusCode};
    use axum::response::IntoResponse;

    async fn listen(router: Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        format!("http://{addr}")
    }

    fn redirect(status: StatusCode, to: String) -> axum::response::Response {
        (status, [(LOCATION, to)]).into_response()
    }

    async fn send(url: &str, timeout: Duration) -> Result<u16, TransportError> {
        let headers = vec![("X-Slipway-Event".to_string(), "ping".to_string())];
        ReqwestTransport::new()
            .unwrap()
            .post(url, &headers, b"{}", timeout)
            .await
    }

    #[tokio::test]
    async fn statuses_errors_and_redirects() {
        let other = listen(Router::new().route("/in", post_ok())).await;
        let other_in = format!("{other}/in");
        let base = listen(
            Router::new()
                .route("/ok", post_ok())
                .route("/teapot", post(|| async { StatusCode::IM_A_TEAPOT }))
                .route(
                    "/slow",
                    post(|| async {
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        StatusCode::OK
                    }),
                )
                .route(
                    "/same",
                    post(|| async { redirect(StatusCode::TEMPORARY_REDIRECT, "/ok".into()) }),
                )
                .route(
                    "/found",
                    post(|| async { redirect(StatusCode::FOUND, "/ok".into()) }),
                )
                .route(
                    "/elsewhere",
                    post(move || {
                        let to = other_in.clone();
                        async move { redirect(StatusCode::TEMPORARY_REDIRECT, to) }
                    }),
                ),
        )
        .await;
        let t = Duration::from_secs(5);
        assert_eq!(send(&format!("{base}/ok"), t).await, Ok(200));
        assert_eq!(send(&format!("{base}/teapot"), t).await, Ok(418));
        // 307 on the same host keeps method and body: followed.
        assert_eq!(send(&format!("{base}/same"), t).await, Ok(200));
        // 302 would turn the POST into a body-less GET: not followed.
        assert_eq!(send(&format!("{base}/found"), t).await, Ok(302));
        // Another origin: not followed.
        assert_eq!(send(&format!("{base}/elsewhere"), t).await, Ok(307));
        assert_eq!(
            send(&format!("{base}/slow"), Duration::from_millis(200)).await,
            Err(TransportError::Timeout)
        );
        // A port nothing listens on.
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let err = send(&format!("http://{closed}/x"), t).await.unwrap_err();
        assert!(matches!(err, TransportError::Connect(_)), "{err:?}");
    }

    fn post_ok() -> axum::routing::MethodRouter {
        post(|headers: HeaderMap| async move {
            assert_eq!(headers["x-slipway-event"], "ping");
            StatusCode::OK
        })
    }
}
