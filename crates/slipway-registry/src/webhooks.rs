//! Registry webhooks: committed [`RegistryEvent`]s POSTed to configured URLs.
//!
//! The [`Dispatcher`] follows [`Registry::subscribe`](crate::Registry::subscribe)
//! on its own task, so the registry's write path never waits for a receiver:
//! a commit only puts the event on a broadcast channel. If the dispatcher
//! falls more than the channel's capacity behind, the events it skipped are
//! logged and counted ([`DispatchStats::missed_events`]); they stay in
//! `registry_events` (`/api/2.0/slipway/registry/events`).
//!
//! # The request
//!
//! `POST <url>` with `Content-Type: application/json` and the body
//!
//! ```json
//! {"delivery_id": "…uuid…", "event": {"id": 7, "timestamp": 1700000000000,
//!  "kind": "stage_transitioned", "name": "churn", "version": "3",
//!  "from": "Staging", "to": "Production", "user": "ana"},
//!  "webhook": "deploy-bot", "timestamp": 1700000000123}
//! ```
//!
//! (`event` is the [`RegistryEvent`]; `timestamp` is when the delivery was
//! created, in milliseconds). Headers:
//!
//! | header | value |
//! |---|---|
//! | `X-Slipway-Event` | the event kind (`ping` for a test delivery) |
//! | `X-Slipway-Delivery` | the delivery's UUID, the same on every retry |
//! | `X-Slipway-Signature` | `sha256=` + lowercase hex HMAC-SHA256 of the raw body keyed with the webhook's secret; only when it has one |
//! | `User-Agent` | `slipway/<version>` |
//!
//! The signature follows GitHub's `X-Hub-Signature-256`: a receiver computes
//! the HMAC of the bytes it received (before any JSON parsing) and compares
//! in constant time ([`verify_signature`] does exactly that).
//!
//! # Retries
//!
//! A 2xx answer is success. A connection error, a timeout, 429 or 5xx is
//! retried after 1, 2, 4, 8 and 16 seconds ([`retry_delay`]), so at most
//! [`MAX_ATTEMPTS`] attempts; any other answer (3xx, other 4xx) fails the
//! delivery at once. Every attempt is recorded ([`DeliveryAttempt`]).
//! Deliveries to one webhook are made one at a time, in event order;
//! different webhooks are served concurrently, so a slow receiver delays
//! only itself.

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use slipway_core::{now_millis, Error, Result};
use slipway_protocol::RegistryEvent;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;

/// The event kinds a webhook may subscribe to (besides [`ALL_EVENTS`]).
pub const EVENT_KINDS: [&str; 8] = [
    "registered_model_created",
    "registered_model_renamed",
    "registered_model_deleted",
    "model_version_created",
    "model_version_deleted",
    "stage_transitioned",
    "alias_set",
    "alias_deleted",
];
/// Subscribes a webhook to every event kind.
pub const ALL_EVENTS: &str = "*";
/// The kind of the event a test delivery sends.
pub const PING: &str = "ping";

pub const SIGNATURE_HEADER: &str = "X-Slipway-Signature";
pub const EVENT_HEADER: &str = "X-Slipway-Event";
pub const DELIVERY_HEADER: &str = "X-Slipway-Delivery";
pub const USER_AGENT: &str = concat!("slipway/", env!("CARGO_PKG_VERSION"));

/// Attempts per delivery, the first included.
pub const MAX_ATTEMPTS: u32 = 6;
/// How long one attempt may take, connecting included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Deliveries waiting for one webhook; beyond this, new ones are dropped (and logged).
pub const DEFAULT_QUEUE_CAPACITY: usize = 1000;
/// `max_results` of a delivery listing: default and upper bound.
pub const DEFAULT_MAX_DELIVERIES: usize = 100;
pub const MAX_DELIVERIES: usize = 1000;

const MAX_NAME_LENGTH: usize = 256;
const MAX_URL_LENGTH: usize = 2048;
const MAX_SECRET_LENGTH: usize = 1024;

// ---------------------------------------------------------------- model

/// A configured webhook as it is shown: the secret is write-only, so only
/// whether there is one is ever returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    pub id: String,
    pub name: String,
    pub url: String,
    /// Event kinds, or `["*"]` for all.
    pub events: Vec<String>,
    pub has_secret: bool,
    pub active: bool,
    /// Creation time, milliseconds since the epoch.
    pub created: i64,
}

impl Webhook {
    /// Whether an event of `kind` is delivered to this webhook.
    pub fn matches(&self, kind: &str) -> bool {
        self.active && self.events.iter().any(|e| e == ALL_EVENTS || e == kind)
    }
}

/// The create request (`POST /api/2.0/slipway/webhooks`).
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CreateWebhook {
    pub name: String,
    pub url: String,
    pub events: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
}

impl fmt::Debug for CreateWebhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreateWebhook")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("events", &self.events)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("active", &self.active)
            .finish()
    }
}

/// A validated webhook and its secret, ready to be stored.
#[derive(Clone)]
pub struct NewWebhook {
    /// `has_secret` agrees with `secret`.
    pub webhook: Webhook,
    pub secret: Option<String>,
}

impl fmt::Debug for NewWebhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewWebhook")
            .field("webhook", &self.webhook)
            .finish_non_exhaustive()
    }
}

/// Checks a create request: a non-empty name, an absolute `http`/`https`
/// URL with a host, known event kinds (or `*`). An empty secret counts as
/// none.
pub fn validate(req: CreateWebhook, id: String, now: i64) -> Result<NewWebhook> {
    let name = req.name.trim().to_string();
    if name.is_empty() {
        return Err(Error::invalid(
            "Missing value for required parameter 'name'. See the API docs for more information about request parameters.",
        ));
    }
    if name.chars().count() > MAX_NAME_LENGTH {
        return Err(Error::invalid(format!(
            "Webhook name is longer than {MAX_NAME_LENGTH} characters."
        )));
    }
    let url = validate_url(req.url.trim())?;
    if req.events.is_empty() {
        return Err(Error::invalid(format!(
            "Missing value for required parameter 'events': list event kinds ({}) or \"*\" for all.",
            EVENT_KINDS.join(", ")
        )));
    }
    let mut events: Vec<String> = Vec::new();
    for kind in req.events {
        let kind = kind.trim().to_string();
        if kind != ALL_EVENTS && !EVENT_KINDS.contains(&kind.as_str()) {
            return Err(Error::invalid(format!(
                "Unknown event kind '{kind}'. Valid kinds: {}, or \"*\" for all.",
                EVENT_KINDS.join(", ")
            )));
        }
        if !events.contains(&kind) {
            events.push(kind);
        }
    }
    let secret = req.secret.filter(|s| !s.is_empty());
    if secret.as_ref().is_some_and(|s| s.len() > MAX_SECRET_LENGTH) {
        return Err(Error::invalid(format!(
            "Webhook secret is longer than {MAX_SECRET_LENGTH} bytes."
        )));
    }
    Ok(NewWebhook {
        webhook: Webhook {
            id,
            name,
            url,
            events,
            has_secret: secret.is_some(),
            active: req.active.unwrap_or(true),
            created: now,
        },
        secret,
    })
}

fn validate_url(raw: &str) -> Result<String> {
    let refuse = |why: &str| {
        Err(Error::invalid(format!(
            "Invalid webhook url '{raw}': {why}."
        )))
    };
    if raw.is_empty() {
        return Err(Error::invalid(
            "Missing value for required parameter 'url'. See the API docs for more information about request parameters.",
        ));
    }
    if raw.len() > MAX_URL_LENGTH {
        return refuse(&format!("longer than {MAX_URL_LENGTH} characters"));
    }
    let parsed = match url::Url::parse(raw) {
        Ok(u) => u,
        Err(e) => return refuse(&e.to_string()),
    };
    if !matches!(parsed.scheme(), "http" | "https") {
        return refuse("only http and https URLs are allowed");
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return refuse("the URL has no host");
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return refuse("credentials in the URL are not allowed (use the secret)");
    }
    if parsed.fragment().is_some() {
        return refuse("URL fragments are not allowed");
    }
    Ok(parsed.to_string())
}

/// What became of one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The receiver answered 2xx.
    Success,
    /// Failed, and another attempt is scheduled.
    Retrying,
    /// Failed for good: a non-retryable answer, or the last attempt.
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Retrying => "retrying",
            Outcome::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Outcome> {
        match s {
            "success" => Some(Outcome::Success),
            "retrying" => Some(Outcome::Retrying),
            "failed" => Some(Outcome::Failed),
            _ => None,
        }
    }
}

/// One recorded attempt to deliver one event to one webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryAttempt {
    pub webhook_id: String,
    /// The registry event's id (0 for a `ping`).
    pub event_id: i64,
    pub event_kind: String,
    pub delivery_id: String,
    /// 1-based; 0 marks a delivery dropped before any attempt (full queue).
    pub attempt: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub duration_ms: i64,
    /// When the attempt started, milliseconds since the epoch.
    pub timestamp: i64,
    pub outcome: Outcome,
}

// ---------------------------------------------------------------- request

/// The JSON body POSTed to a webhook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payload {
    pub delivery_id: String,
    pub event: RegistryEvent,
    /// The webhook's name.
    pub webhook: String,
    /// When the delivery was created (milliseconds); the same on retries.
    pub timestamp: i64,
}

impl Payload {
    pub fn to_body(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a payload always serializes")
    }
}

type HmacSha256 = Hmac<Sha256>;

/// `sha256=<lowercase hex HMAC-SHA256(secret, body)>`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks an `X-Slipway-Signature` header value against `body`, in constant time.
pub fn verify_signature(secret: &[u8], body: &[u8], header: &str) -> bool {
    let Some(digest) = header
        .strip_prefix("sha256=")
        .and_then(|h| hex::decode(h).ok())
    else {
        return false;
    };
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(body);
    mac.verify_slice(&digest).is_ok()
}

/// The headers of a delivery (besides `Content-Type: application/json`,
/// which the transport sets).
pub fn request_headers(
    kind: &str,
    delivery_id: &str,
    secret: Option<&str>,
    body: &[u8],
) -> Vec<(String, String)> {
    let mut headers = vec![
        ("Content-Type".to_string(), "application/json".to_string()),
        ("User-Agent".to_string(), USER_AGENT.to_string()),
        (EVENT_HEADER.to_string(), kind.to_string()),
        (DELIVERY_HEADER.to_string(), delivery_id.to_string()),
    ];
    if let Some(secret) = secret {
        headers.push((
            SIGNATURE_HEADER.to_string(),
            signature(secret.as_bytes(), body),
        ));
    }
    headers
}

/// The event a test delivery sends.
pub fn ping_event(now: i64) -> RegistryEvent {
    RegistryEvent {
        id: 0,
        timestamp: now,
        kind: PING.to_string(),
        reason: Some("Test delivery requested through the API".to_string()),
        ..Default::default()
    }
}

// ---------------------------------------------------------------- retry policy

/// Why an attempt got no HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportError {
    /// Could not connect, or the connection broke (retried).
    Connect(String),
    /// No answer within the timeout (retried).
    Timeout,
    /// The request could not be made at all, e.g. a refused redirect (not retried).
    Invalid(String),
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportError::Connect(e) => write!(f, "connection error: {e}"),
            TransportError::Timeout => write!(f, "timed out"),
            TransportError::Invalid(e) => write!(f, "request failed: {e}"),
        }
    }
}

/// How an attempt's result counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Success,
    /// Worth another attempt: connection error, timeout, 429, 5xx.
    Retry,
    /// Another attempt would fail the same way: 1xx, 3xx, other 4xx, invalid request.
    Permanent,
}

pub fn classify(result: &std::result::Result<u16, TransportError>) -> Verdict {
    match result {
        Ok(status) if (200..300).contains(status) => Verdict::Success,
        Ok(429) => Verdict::Retry,
        Ok(status) if (500..600).contains(status) => Verdict::Retry,
        Ok(_) => Verdict::Permanent,
        Err(TransportError::Connect(_) | TransportError::Timeout) => Verdict::Retry,
        Err(TransportError::Invalid(_)) => Verdict::Permanent,
    }
}

/// The wait after failed attempt `attempt` (1-based) before the next one:
/// 1 s, 2 s, 4 s, 8 s, 16 s; `None` once [`MAX_ATTEMPTS`] attempts were made.
pub fn retry_delay(attempt: u32) -> Option<Duration> {
    (1..MAX_ATTEMPTS)
        .contains(&attempt)
        .then(|| Duration::from_secs(1 << (attempt - 1)))
}

// ---------------------------------------------------------------- interfaces

/// Persistence of webhooks and their delivery log.
#[async_trait]
pub trait WebhookStore: Send + Sync + 'static {
    async fn create_webhook(&self, webhook: NewWebhook) -> Result<Webhook>;
    /// Oldest first.
    async fn list_webhooks(&self) -> Result<Vec<Webhook>>;
    /// `RESOURCE_DOES_NOT_EXIST` for an unknown id.
    async fn get_webhook(&self, id: &str) -> Result<Webhook>;
    /// Removes the webhook and its delivery log (`RESOURCE_DOES_NOT_EXIST` for an unknown id).
    async fn delete_webhook(&self, id: &str) -> Result<()>;
    /// The signing secret, for the dispatcher only: never served.
    async fn webhook_secret(&self, id: &str) -> Result<Option<String>>;
    async fn record_delivery(&self, attempt: DeliveryAttempt) -> Result<()>;
    /// Newest first, at most `max_results`.
    async fn list_deliveries(
        &self,
        webhook_id: &str,
        max_results: usize,
    ) -> Result<Vec<DeliveryAttempt>>;
}

/// Makes one HTTP request.
#[async_trait]
pub trait WebhookTransport: Send + Sync + 'static {
    /// POSTs `body` to `url` with `headers`; the answer's status code, or why there was none.
    async fn post(
        &self,
        url: &str,
        headers: &[(String, String)],
        body: &[u8],
        timeout: Duration,
    ) -> std::result::Result<u16, TransportError>;
}

// ---------------------------------------------------------------- dispatcher

/// Counters of what the dispatcher could not deliver.
#[derive(Debug, Default)]
pub struct DispatchStats {
    missed_events: AtomicU64,
    dropped_deliveries: AtomicU64,
}

impl DispatchStats {
    /// Events skipped because the dispatcher lagged behind the broadcast channel.
    pub fn missed_events(&self) -> u64 {
        self.missed_events.load(Ordering::Relaxed)
    }

    /// Deliveries dropped because a webhook's queue was full.
    pub fn dropped_deliveries(&self) -> u64 {
        self.dropped_deliveries.load(Ordering::Relaxed)
    }
}

/// Dispatcher settings.
#[derive(Debug, Clone)]
pub struct DispatchConfig {
    pub timeout: Duration,
    pub queue_capacity: usize,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        DispatchConfig {
            timeout: DEFAULT_TIMEOUT,
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
        }
    }
}

struct Inner {
    store: Arc<dyn WebhookStore>,
    transport: Arc<dyn WebhookTransport>,
    config: DispatchConfig,
    stats: Arc<DispatchStats>,
}

struct Job {
    webhook: Webhook,
    event: RegistryEvent,
}

struct Worker {
    queue: mpsc::Sender<Job>,
    task: JoinHandle<()>,
}

/// Delivers registry events to the webhooks that match them.
#[derive(Clone)]
pub struct Dispatcher {
    inner: Arc<Inner>,
}

impl Dispatcher {
    pub fn new(store: Arc<dyn WebhookStore>, transport: Arc<dyn WebhookTransport>) -> Self {
        Self::with_config(store, transport, DispatchConfig::default())
    }

    pub fn with_config(
        store: Arc<dyn WebhookStore>,
        transport: Arc<dyn WebhookTransport>,
        config: DispatchConfig,
    ) -> Self {
        Dispatcher {
            inner: Arc::new(Inner {
                store,
                transport,
                config,
                stats: Arc::default(),
            }),
        }
    }

    pub fn stats(&self) -> Arc<DispatchStats> {
        self.inner.stats.clone()
    }

    /// Follows `events` until the channel closes, then waits for the
    /// deliveries already queued (retries included) to finish.
    pub async fn run(self, mut events: broadcast::Receiver<RegistryEvent>) {
        let mut workers: HashMap<String, Worker> = HashMap::new();
        loop {
            match events.recv().await {
                Ok(event) => self.dispatch(event, &mut workers).await,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    self.inner
                        .stats
                        .missed_events
                        .fetch_add(n, Ordering::Relaxed);
                    tracing::warn!(
                        missed = n,
                        "webhook dispatcher lagged behind the registry: events not delivered (they remain in registry_events)"
                    );
                }
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
        let tasks: Vec<JoinHandle<()>> = workers.into_values().map(|w| w.task).collect();
        for task in tasks {
            let _ = task.await;
        }
    }

    /// Starts [`run`](Self::run) on a task of the current tokio runtime.
    pub fn spawn(self, events: broadcast::Receiver<RegistryEvent>) -> JoinHandle<()> {
        tokio::spawn(self.run(events))
    }

    async fn dispatch(&self, event: RegistryEvent, workers: &mut HashMap<String, Worker>) {
        let hooks = match self.inner.store.list_webhooks().await {
            Ok(hooks) => hooks,
            Err(e) => {
                self.inner
                    .stats
                    .missed_events
                    .fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, event_id = event.id, "cannot list webhooks: event not delivered");
                return;
            }
        };
        // A deleted webhook's worker finishes what it holds (stopping before
        // any retry) and ends when its queue is dropped here.
        workers.retain(|id, _| hooks.iter().any(|h| &h.id == id));
        for hook in hooks.into_iter().filter(|h| h.matches(&event.kind)) {
            let worker = workers
                .entry(hook.id.clone())
                .or_insert_with(|| self.start_worker());
            let job = Job {
                webhook: hook,
                event: event.clone(),
            };
            if let Err(mpsc::error::TrySendError::Full(job)) = worker.queue.try_send(job) {
                self.inner
                    .stats
                    .dropped_deliveries
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!(webhook = %job.webhook.id, event_id = job.event.id, "webhook delivery queue full: delivery dropped");
                let record = DeliveryAttempt {
                    webhook_id: job.webhook.id.clone(),
                    event_id: job.event.id,
                    event_kind: job.event.kind.clone(),
                    delivery_id: new_delivery_id(),
                    attempt: 0,
                    status_code: None,
                    error: Some(format!(
                        "delivery dropped: {} deliveries already queued for this webhook",
                        self.inner.config.queue_capacity
                    )),
                    duration_ms: 0,
                    timestamp: now_millis(),
                    outcome: Outcome::Failed,
                };
                self.inner.record(record).await;
            }
        }
    }

    fn start_worker(&self) -> Worker {
        let (queue, mut jobs) = mpsc::channel::<Job>(self.inner.config.queue_capacity.max(1));
        let inner = self.inner.clone();
        let task = tokio::spawn(async move {
            while let Some(job) = jobs.recv().await {
                inner
                    .deliver(&job.webhook, &job.event, new_delivery_id(), MAX_ATTEMPTS)
                    .await;
            }
        });
        Worker { queue, task }
    }
}

fn new_delivery_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl Inner {
    async fn record(&self, attempt: DeliveryAttempt) {
        if let Err(e) = self.store.record_delivery(attempt).await {
            tracing::error!(error = %e, "cannot record a webhook delivery attempt");
        }
    }

    /// Delivers one event to one webhook, retrying per policy (at most
    /// `max_attempts`); the last attempt, or `None` if the webhook went away
    /// before the first.
    async fn deliver(
        &self,
        hook: &Webhook,
        event: &RegistryEvent,
        delivery_id: String,
        max_attempts: u32,
    ) -> Option<DeliveryAttempt> {
        let secret = if hook.has_secret {
            match self.store.webhook_secret(&hook.id).await {
                Ok(secret) => secret,
                Err(e) if e.code == slipway_core::ErrorCode::ResourceDoesNotExist => return None,
                Err(e) => {
                    // Never send unsigned what should be signed.
                    let record = DeliveryAttempt {
                        webhook_id: hook.id.clone(),
                        event_id: event.id,
                        event_kind: event.kind.clone(),
                        delivery_id,
                        attempt: 0,
                        status_code: None,
                        error: Some(format!("cannot read the webhook's secret: {e}")),
                        duration_ms: 0,
                        timestamp: now_millis(),
                        outcome: Outcome::Failed,
                    };
                    self.record(record.clone()).await;
                    return Some(record);
                }
            }
        } else {
            None
        };
        let body = Payload {
            delivery_id: delivery_id.clone(),
            event: event.clone(),
            webhook: hook.name.clone(),
            timestamp: now_millis(),
        }
        .to_body();
        let headers = request_headers(&event.kind, &delivery_id, secret.as_deref(), &body);
        let mut attempt = 1;
        loop {
            let timestamp = now_millis();
            let started = tokio::time::Instant::now();
            let result = self
                .transport
                .post(&hook.url, &headers, &body, self.config.timeout)
                .await;
            let duration_ms = started.elapsed().as_millis() as i64;
            let (outcome, delay) = match classify(&result) {
                Verdict::Success => (Outcome::Success, None),
                Verdict::Retry if attempt < max_attempts => match retry_delay(attempt) {
                    Some(delay) => (Outcome::Retrying, Some(delay)),
                    None => (Outcome::Failed, None),
                },
                Verdict::Retry | Verdict::Permanent => (Outcome::Failed, None),
            };
            let (status_code, error) = match &result {
                Ok(status) => (Some(*status), None),
                Err(e) => (None, Some(e.to_string())),
            };
            let record = DeliveryAttempt {
                webhook_id: hook.id.clone(),
                event_id: event.id,
                event_kind: event.kind.clone(),
                delivery_id: delivery_id.clone(),
                attempt,
                status_code,
                error,
                duration_ms,
                timestamp,
                outcome,
            };
            match outcome {
                Outcome::Success => {
                    tracing::debug!(webhook = %hook.id, event_id = event.id, attempt, "webhook delivered")
                }
                Outcome::Retrying => {
                    tracing::info!(webhook = %hook.id, event_id = event.id, attempt, status = ?record.status_code, error = ?record.error, "webhook delivery failed; will retry")
                }
                Outcome::Failed => {
                    tracing::warn!(webhook = %hook.id, event_id = event.id, attempt, status = ?record.status_code, error = ?record.error, "webhook delivery failed")
                }
            }
            self.record(record.clone()).await;
            let Some(delay) = delay else {
                return Some(record);
            };
            tokio::time::sleep(delay).await;
            // Deleted or deactivated meanwhile: stop retrying.
            match self.store.get_webhook(&hook.id).await {
                Ok(current) if current.active => {}
                _ => return Some(record),
            }
            attempt += 1;
        }
    }
}

// ---------------------------------------------------------------- service

/// The webhook entry points the HTTP layer calls, and the dispatcher's owner.
#[derive(Clone)]
pub struct Webhooks {
    dispatcher: Dispatcher,
    started: Arc<AtomicBool>,
}

impl Webhooks {
    pub fn new(store: Arc<dyn WebhookStore>, transport: Arc<dyn WebhookTransport>) -> Self {
        Webhooks {
            dispatcher: Dispatcher::new(store, transport),
            started: Arc::default(),
        }
    }

    fn store(&self) -> &dyn WebhookStore {
        self.dispatcher.inner.store.as_ref()
    }

    /// Starts delivering `events` (from [`Registry::subscribe`](crate::Registry::subscribe))
    /// on the current tokio runtime. Only the first call starts a dispatcher;
    /// without a runtime nothing starts (and a later call may).
    pub fn start(&self, events: broadcast::Receiver<RegistryEvent>) -> Option<JoinHandle<()>> {
        tokio::runtime::Handle::try_current().ok()?;
        if self.started.swap(true, Ordering::SeqCst) {
            return None;
        }
        Some(self.dispatcher.clone().spawn(events))
    }

    pub fn stats(&self) -> Arc<DispatchStats> {
        self.dispatcher.stats()
    }

    pub async fn create(&self, req: CreateWebhook) -> Result<Webhook> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let new = validate(req, id, now_millis())?;
        self.store().create_webhook(new).await
    }

    pub async fn list(&self) -> Result<Vec<Webhook>> {
        self.store().list_webhooks().await
    }

    pub async fn get(&self, id: &str) -> Result<Webhook> {
        self.store().get_webhook(id).await
    }

    pub async fn delete(&self, id: &str) -> Result<()> {
        self.store().delete_webhook(id).await
    }

    /// The webhook's recorded attempts, newest first.
    pub async fn deliveries(
        &self,
        id: &str,
        max_results: Option<i64>,
    ) -> Result<Vec<DeliveryAttempt>> {
        let max = match max_results {
            None => DEFAULT_MAX_DELIVERIES,
            Some(n) if (1..=MAX_DELIVERIES as i64).contains(&n) => n as usize,
            Some(n) => {
                return Err(Error::invalid(format!(
                    "Invalid value {n} for parameter 'max_results': it must be between 1 and {MAX_DELIVERIES}."
                )))
            }
        };
        self.store().get_webhook(id).await?;
        self.store().list_deliveries(id, max).await
    }

    /// Sends a `ping` event to the webhook now (one attempt, no retries,
    /// whether or not it is active or subscribed to anything) and returns
    /// the recorded attempt.
    pub async fn test(&self, id: &str) -> Result<DeliveryAttempt> {
        let hook = self.store().get_webhook(id).await?;
        self.dispatcher
            .inner
            .deliver(&hook, &ping_event(now_millis()), new_delivery_id(), 1)
            .await
            .ok_or_else(|| Error::not_found(format!("Webhook with id={id} not found")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(url: &str, events: &[&str]) -> CreateWebhook {
        CreateWebhook {
            name: "hook".into(),
            url: url.into(),
            events: events.iter().map(|s| s.to_string()).collect(),
            secret: Some("s3cret".into()),
            active: None,
        }
    }

    #[test]
    fn signature_matches_rfc_4231_test_case_2() {
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn signature_matches_githubs_documented_example() {
        // docs.github.com, "Validating webhook deliveries".
        assert_eq!(
            signature(b"It's a Secret to Everybody", b"Hello, World!"),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
    }

    #[test]
    fn verification_accepts_only_the_right_signature() {
        let body = br#"{"a":1}"#;
        let sig = signature(b"k", body);
        assert!(verify_signature(b"k", body, &sig));
        assert!(!verify_signature(b"other", body, &sig));
        assert!(!verify_signature(b"k", br#"{"a":2}"#, &sig));
        assert!(!verify_signature(
            b"k",
            body,
            sig.trim_start_matches("sha256=")
        ));
        assert!(!verify_signature(b"k", body, "sha256=zz"));
    }

    #[test]
    fn headers_name_the_event_and_delivery_and_sign_when_a_secret_exists() {
        let body = b"{}";
        let headers = request_headers("alias_set", "d-1", Some("k"), body);
        let get = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get(EVENT_HEADER), Some("alias_set"));
        assert_eq!(get(DELIVERY_HEADER), Some("d-1"));
        assert_eq!(get("User-Agent"), Some(USER_AGENT));
        assert!(USER_AGENT.starts_with("slipway/"));
        assert_eq!(get(SIGNATURE_HEADER), Some(signature(b"k", body).as_str()));
        let unsigned = request_headers("alias_set", "d-1", None, body);
        assert!(unsigned.iter().all(|(k, _)| k != SIGNATURE_HEADER));
    }

    #[test]
    fn retry_schedule_doubles_from_one_second_for_six_attempts() {
        let delays: Vec<_> = (1..=MAX_ATTEMPTS + 1).map(retry_delay).collect();
        assert_eq!(
            delays,
            vec![
                Some(Duration::from_secs(1)),
                Some(Duration::from_secs(2)),
                Some(Duration::from_secs(4)),
                Some(Duration::from_secs(8)),
                Some(Duration::from_secs(16)),
                None,
                None,
            ]
        );
        assert_eq!(retry_delay(0), None);
    }

    #[test]
    fn results_are_classified() {
        assert_eq!(classify(&Ok(200)), Verdict::Success);
        assert_eq!(classify(&Ok(204)), Verdict::Success);
        assert_eq!(classify(&Ok(429)), Verdict::Retry);
        assert_eq!(classify(&Ok(500)), Verdict::Retry);
        assert_eq!(classify(&Ok(503)), Verdict::Retry);
        assert_eq!(classify(&Ok(400)), Verdict::Permanent);
        assert_eq!(classify(&Ok(404)), Verdict::Permanent);
        assert_eq!(classify(&Ok(302)), Verdict::Permanent);
        assert_eq!(
            classify(&Err(TransportError::Connect("refused".into()))),
            Verdict::Retry
        );
        assert_eq!(classify(&Err(TransportError::Timeout)), Verdict::Retry);
        assert_eq!(
            classify(&Err(TransportError::Invalid("redirect".into()))),
            Verdict::Permanent
        );
    }

    #[test]
    fn matching_follows_kinds_wildcard_and_active() {
        let mut hook = validate(
            request("http://127.0.0.1:9/h", &["stage_transitioned", "alias_set"]),
            "id".into(),
            1,
        )
        .unwrap()
        .webhook;
        assert!(hook.matches("stage_transitioned"));
        assert!(hook.matches("alias_set"));
        assert!(!hook.matches("alias_deleted"));
        assert!(!hook.matches(PING));
        hook.active = false;
        assert!(!hook.matches("alias_set"));
        let all = validate(request("https://example.com/h", &["*"]), "id".into(), 1)
            .unwrap()
            .webhook;
        assert!(EVENT_KINDS.iter().all(|k| all.matches(k)));
    }

    #[test]
    fn validation_refuses_bad_urls_names_and_kinds() {
        let ok = validate(
            request(
                " https://hooks.example.com/x?y=1 ",
                &["alias_set", "alias_set"],
            ),
            "id".into(),
            5,
        )
        .unwrap();
        assert_eq!(ok.webhook.url, "https://hooks.example.com/x?y=1");
        assert_eq!(ok.webhook.events, vec!["alias_set"]);
        assert!(ok.webhook.has_secret && ok.webhook.active);
        assert_eq!(ok.webhook.created, 5);

        for url in [
            "",
            "ftp://example.com/x",
            "file:///etc/passwd",
            "example.com/x",
            "http://",
            "http://user:pw@example.com/",
            "http://example.com/#frag",
        ] {
            let err = validate(request(url, &["*"]), "id".into(), 1).unwrap_err();
            assert_eq!(
                err.code,
                slipway_core::ErrorCode::InvalidParameterValue,
                "{url}"
            );
            assert!(err.message.contains("url"), "{url}: {}", err.message);
        }
        let err = validate(request("http://x/", &["model_updated"]), "id".into(), 1).unwrap_err();
        assert!(err.message.contains("'model_updated'"), "{}", err.message);
        let err = validate(request("http://x/", &[]), "id".into(), 1).unwrap_err();
        assert!(err.message.contains("events"), "{}", err.message);
        let mut nameless = request("http://x/", &["*"]);
        nameless.name = "  ".into();
        assert!(validate(nameless, "id".into(), 1)
            .unwrap_err()
            .message
            .contains("name"));
        let mut empty_secret = request("http://x/", &["*"]);
        empty_secret.secret = Some(String::new());
        assert!(
            !validate(empty_secret, "id".into(), 1)
                .unwrap()
                .webhook
                .has_secret
        );
    }

    #[test]
    fn secrets_never_appear_in_debug_or_json() {
        let req = request("http://x/", &["*"]);
        assert!(!format!("{req:?}").contains("s3cret"));
        let new = validate(req, "id".into(), 1).unwrap();
        assert!(!format!("{new:?}").contains("s3cret"));
        assert!(!serde_json::to_string(&new.webhook)
            .unwrap()
            .contains("s3cret"));
    }

    #[test]
    fn payload_has_the_documented_shape() {
        let payload = Payload {
            delivery_id: "d".into(),
            event: RegistryEvent {
                id: 3,
                timestamp: 10,
                kind: "alias_set".into(),
                name: "m".into(),
                alias: Some("champion".into()),
                to: Some("2".into()),
                ..Default::default()
            },
            webhook: "hook".into(),
            timestamp: 11,
        };
        let v: serde_json::Value = serde_json::from_slice(&payload.to_body()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "delivery_id": "d",
                "event": {"id": 3, "timestamp": 10, "kind": "alias_set", "name": "m", "alias": "champion", "to": "2"},
                "webhook": "hook",
                "timestamp": 11
            })
        );
    }
}
