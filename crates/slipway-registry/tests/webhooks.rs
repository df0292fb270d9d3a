//! The webhook dispatcher with an in-memory store and a scripted transport,
//! on tokio's paused clock (retry back-off costs no real time).

use async_trait::async_trait;
use slipway_core::{Error, Result};
use slipway_protocol::RegistryEvent;
use slipway_registry::webhooks::*;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::time::Instant;

#[derive(Default)]
struct MemoryStore {
    hooks: Mutex<Vec<(Webhook, Option<String>)>>,
    deliveries: Mutex<Vec<DeliveryAttempt>>,
}

#[async_trait]
impl WebhookStore for MemoryStore {
    async fn create_webhook(&self, new: NewWebhook) -> Result<Webhook> {
        self.hooks
            .lock()
            .unwrap()
            .push((new.webhook.clone(), new.secret));
        Ok(new.webhook)
    }
    async fn list_webhooks(&self) -> Result<Vec<Webhook>> {
        Ok(self
            .hooks
            .lock()
            .unwrap()
            .iter()
            .map(|(h, _)| h.clone())
            .collect())
    }
    async fn get_webhook(&self, id: &str) -> Result<Webhook> {
        self.hooks
            .lock()
            .unwrap()
            .iter()
            .find(|(h, _)| h.id == id)
            .map(|(h, _)| h.clone())
            .ok_or_else(|| Error::not_found(format!("Webhook with id={id} not found")))
    }
    async fn delete_webhook(&self, id: &str) -> Result<()> {
        self.hooks.lock().unwrap().retain(|(h, _)| h.id != id);
        Ok(())
    }
    async fn webhook_secret(&self, id: &str) -> Result<Option<String>> {
        self.hooks
            .lock()
            .unwrap()
            .iter()
            .find(|(h, _)| h.id == id)
            .map(|(_, s)| s.clone())
            .ok_or_else(|| Error::not_found(format!("Webhook with id={id} not found")))
    }
    async fn record_delivery(&self, attempt: DeliveryAttempt) -> Result<()> {
        self.deliveries.lock().unwrap().push(attempt);
        Ok(())
    }
    async fn list_deliveries(
        &self,
        webhook_id: &str,
        max_results: usize,
    ) -> Result<Vec<DeliveryAttempt>> {
        Ok(self
            .deliveries
            .lock()
            .unwrap()
            .iter()
            .rev()
            .filter(|d| d.webhook_id == webhook_id)
            .take(max_results)
            .cloned()
            .collect())
    }
}

type Answer = std::result::Result<u16, TransportError>;

#[derive(Debug, Clone)]
struct Sent {
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    at: Instant,
}

impl Sent {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn payload(&self) -> Payload {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// Answers each URL from its script (then 200), and remembers every request.
#[derive(Default)]
struct ScriptedTransport {
    scripts: Mutex<HashMap<String, VecDeque<Answer>>>,
    sent: Mutex<Vec<Sent>>,
}

impl ScriptedTransport {
    fn script(&self, url: &str, answers: Vec<Answer>) {
        self.scripts
            .lock()
            .unwrap()
            .insert(url.to_string(), answers.into());
    }
    fn sent_to(&self, url: &str) -> Vec<Sent> {
        self.sent
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.url == url)
            .cloned()
            .collect()
    }
}

#[async_trait]
impl WebhookTransport for ScriptedTransport {
    async fn post(
        &self,
        url: &str,
        headers: &[(String, String)],
        body: &[u8],
        _timeout: Duration,
    ) -> Answer {
        self.sent.lock().unwrap().push(Sent {
            url: url.to_string(),
            headers: headers.to_vec(),
            body: body.to_vec(),
            at: Instant::now(),
        });
        self.scripts
            .lock()
            .unwrap()
            .get_mut(url)
            .and_then(VecDeque::pop_front)
            .unwrap_or(Ok(200))
    }
}

struct Fixture {
    store: Arc<MemoryStore>,
    transport: Arc<ScriptedTransport>,
    webhooks: Webhooks,
}

fn fixture() -> Fixture {
    let store = Arc::new(MemoryStore::default());
    let transport = Arc::new(ScriptedTransport::default());
    Fixture {
        webhooks: Webhooks::new(store.clone(), transport.clone()),
        store,
        transport,
    }
}

impl Fixture {
    async fn hook(&self, name: &str, events: &[&str], secret: Option<&str>) -> Webhook {
        self.webhooks
            .create(CreateWebhook {
                name: name.into(),
                url: format!("http://127.0.0.1:9/{name}"),
                events: events.iter().map(|s| s.to_string()).collect(),
                secret: secret.map(str::to_string),
                active: None,
            })
            .await
            .unwrap()
    }

    fn dispatcher(&self) -> Dispatcher {
        Dispatcher::new(self.store.clone(), self.transport.clone())
    }

    /// Dispatches `events` and waits until every delivery (retries included) is done.
    async fn deliver_all(&self, events: Vec<RegistryEvent>) {
        let (tx, rx) = broadcast::channel(64);
        let run = self.dispatcher().spawn(rx);
        for e in events {
            tx.send(e).unwrap();
        }
        drop(tx);
        run.await.unwrap();
    }

    /// Attempts recorded for `hook`, oldest first.
    fn attempts(&self, hook: &Webhook) -> Vec<DeliveryAttempt> {
        self.store
            .deliveries
            .lock()
            .unwrap()
            .iter()
            .filter(|d| d.webhook_id == hook.id)
            .cloned()
            .collect()
    }
}

fn event(id: i64, kind: &str) -> RegistryEvent {
    RegistryEvent {
        id,
        timestamp: 1_700_000_000_000 + id,
        kind: kind.into(),
        name: "churn".into(),
        version: Some("3".into()),
        from: Some("None".into()),
        to: Some("Staging".into()),
        ..Default::default()
    }
}

fn gaps(sent: &[Sent]) -> Vec<Duration> {
    sent.windows(2).map(|w| w[1].at - w[0].at).collect()
}

#[tokio::test(start_paused = true)]
async fn success_on_the_first_attempt_is_signed_and_recorded_once() {
    let f = fixture();
    let hook = f.hook("deploy", &["stage_transitioned"], Some("k3y")).await;
    f.deliver_all(vec![event(7, "stage_transitioned")]).await;

    let sent = f.transport.sent_to(&hook.url);
    assert_eq!(sent.len(), 1);
    let req = &sent[0];
    assert!(verify_signature(
        b"k3y",
        &req.body,
        req.header(SIGNATURE_HEADER).unwrap()
    ));
    assert_eq!(req.header(EVENT_HEADER), Some("stage_transitioned"));
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(req.header("user-agent"), Some(USER_AGENT));
    let payload = req.payload();
    assert_eq!(payload.event, event(7, "stage_transitioned"));
    assert_eq!(payload.webhook, "deploy");
    assert_eq!(
        req.header(DELIVERY_HEADER),
        Some(payload.delivery_id.as_str())
    );

    let attempts = f.attempts(&hook);
    assert_eq!(attempts.len(), 1);
    let a = &attempts[0];
    assert_eq!(
        (a.attempt, a.status_code, a.outcome, a.event_id),
        (1, Some(200), Outcome::Success, 7)
    );
    assert_eq!(a.event_kind, "stage_transitioned");
    assert_eq!(a.delivery_id, payload.delivery_id);
    assert!(a.error.is_none());
}

#[tokio::test(start_paused = true)]
async fn server_error_then_success_takes_two_attempts_one_second_apart() {
    let f = fixture();
    let hook = f.hook("h", &["*"], Some("k")).await;
    f.transport.script(&hook.url, vec![Ok(500), Ok(200)]);
    f.deliver_all(vec![event(1, "alias_set")]).await;

    let sent = f.transport.sent_to(&hook.url);
    assert_eq!(sent.len(), 2);
    assert_eq!(gaps(&sent), vec![Duration::from_secs(1)]);
    // A retry is the same delivery: same id, same body, same signature.
    assert_eq!(sent[0].body, sent[1].body);
    assert_eq!(
        sent[0].header(DELIVERY_HEADER),
        sent[1].header(DELIVERY_HEADER)
    );
    assert_eq!(
        sent[0].header(SIGNATURE_HEADER),
        sent[1].header(SIGNATURE_HEADER)
    );
    let attempts = f.attempts(&hook);
    let summary: Vec<_> = attempts
        .iter()
        .map(|a| (a.attempt, a.status_code, a.outcome))
        .collect();
    assert_eq!(
        summary,
        vec![
            (1, Some(500), Outcome::Retrying),
            (2, Some(200), Outcome::Success)
        ]
    );
    assert_eq!(attempts[0].delivery_id, attempts[1].delivery_id);
}

#[tokio::test(start_paused = true)]
async fn not_found_fails_at_once() {
    let f = fixture();
    let hook = f.hook("h", &["*"], None).await;
    f.transport.script(&hook.url, vec![Ok(404)]);
    f.deliver_all(vec![event(1, "alias_set")]).await;

    let sent = f.transport.sent_to(&hook.url);
    assert_eq!(sent.len(), 1);
    assert!(sent[0].header(SIGNATURE_HEADER).is_none());
    let attempts = f.attempts(&hook);
    assert_eq!(attempts.len(), 1);
    assert_eq!(
        (
            attempts[0].attempt,
            attempts[0].status_code,
            attempts[0].outcome
        ),
        (1, Some(404), Outcome::Failed)
    );
}

#[tokio::test(start_paused = true)]
async fn connection_errors_timeouts_and_429_are_retried() {
    let f = fixture();
    let hook = f.hook("h", &["*"], None).await;
    f.transport.script(
        &hook.url,
        vec![
            Err(TransportError::Connect("connection refused".into())),
            Err(TransportError::Timeout),
            Ok(429),
            Ok(204),
        ],
    );
    f.deliver_all(vec![event(1, "alias_set")]).await;

    let sent = f.transport.sent_to(&hook.url);
    assert_eq!(
        gaps(&sent),
        [1, 2, 4].map(Duration::from_secs).to_vec(),
        "back-off doubles"
    );
    let attempts = f.attempts(&hook);
    let outcomes: Vec<_> = attempts.iter().map(|a| a.outcome).collect();
    assert_eq!(
        outcomes,
        vec![
            Outcome::Retrying,
            Outcome::Retrying,
            Outcome::Retrying,
            Outcome::Success
        ]
    );
    assert!(attempts[0]
        .error
        .as_deref()
        .unwrap()
        .contains("connection refused"));
    assert_eq!(attempts[0].status_code, None);
    assert_eq!(attempts[1].error.as_deref(), Some("timed out"));
    assert_eq!(attempts[2].status_code, Some(429));
}

#[tokio::test(start_paused = true)]
async fn gives_up_after_six_attempts() {
    let f = fixture();
    let hook = f.hook("h", &["*"], None).await;
    f.transport.script(&hook.url, vec![Ok(503); 10]);
    let start = Instant::now();
    f.deliver_all(vec![event(1, "alias_set")]).await;

    let sent = f.transport.sent_to(&hook.url);
    assert_eq!(sent.len(), MAX_ATTEMPTS as usize);
    assert_eq!(
        gaps(&sent),
        [1, 2, 4, 8, 16].map(Duration::from_secs).to_vec()
    );
    assert_eq!(start.elapsed(), Duration::from_secs(31));
    let attempts = f.attempts(&hook);
    assert_eq!(attempts.len(), 6);
    assert!(attempts[..5].iter().all(|a| a.outcome == Outcome::Retrying));
    assert_eq!(attempts[5].outcome, Outcome::Failed);
    assert_eq!(attempts[5].attempt, 6);
}

#[tokio::test(start_paused = true)]
async fn only_matching_active_webhooks_get_an_event() {
    let f = fixture();
    let stages = f.hook("stages", &["stage_transitioned"], None).await;
    let aliases = f
        .hook("aliases", &["alias_set", "alias_deleted"], None)
        .await;
    let all = f.hook("all", &["*"], None).await;
    let off = f
        .webhooks
        .create(CreateWebhook {
            name: "off".into(),
            url: "http://127.0.0.1:9/off".into(),
            events: vec!["*".into()],
            active: Some(false),
            ..Default::default()
        })
        .await
        .unwrap();
    f.deliver_all(vec![
        event(1, "stage_transitioned"),
        event(2, "alias_set"),
        event(3, "model_version_created"),
    ])
    .await;

    let kinds = |hook: &Webhook| -> Vec<String> {
        f.transport
            .sent_to(&hook.url)
            .iter()
            .map(|s| s.payload().event.kind)
            .collect()
    };
    assert_eq!(kinds(&stages), vec!["stage_transitioned"]);
    assert_eq!(kinds(&aliases), vec!["alias_set"]);
    assert_eq!(
        kinds(&all),
        vec!["stage_transitioned", "alias_set", "model_version_created"]
    );
    assert!(kinds(&off).is_empty());
}

#[tokio::test(start_paused = true)]
async fn in_order_per_webhook_and_a_failing_webhook_does_not_delay_others() {
    let f = fixture();
    let slow = f.hook("slow", &["*"], None).await;
    let fast = f.hook("fast", &["*"], None).await;
    // The slow receiver fails twice on the first event: 1 s + 2 s of back-off.
    f.transport.script(&slow.url, vec![Ok(502), Ok(502)]);
    let start = Instant::now();
    f.deliver_all((1..=5).map(|i| event(i, "alias_set")).collect())
        .await;

    let ids = |hook: &Webhook| -> Vec<i64> {
        f.transport
            .sent_to(&hook.url)
            .iter()
            .map(|s| s.payload().event.id)
            .collect()
    };
    assert_eq!(ids(&fast), vec![1, 2, 3, 4, 5]);
    assert_eq!(ids(&slow), vec![1, 1, 1, 2, 3, 4, 5]);
    assert!(f.transport.sent_to(&fast.url).iter().all(|s| s.at == start));
    let slow_sent = f.transport.sent_to(&slow.url);
    // Event 2 waits for event 1's retries to finish.
    assert_eq!(slow_sent[3].at - start, Duration::from_secs(3));
}

#[tokio::test(start_paused = true)]
async fn deleting_a_webhook_stops_its_retries() {
    let f = fixture();
    let hook = f.hook("h", &["*"], None).await;
    f.transport.script(&hook.url, vec![Ok(500); 10]);
    let (tx, rx) = broadcast::channel(8);
    let run = f.dispatcher().spawn(rx);
    tx.send(event(1, "alias_set")).unwrap();
    // First attempt at t=0, second at t=1 s, third would be at t=3 s.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    f.webhooks.delete(&hook.id).await.unwrap();
    drop(tx);
    run.await.unwrap();
    assert_eq!(f.transport.sent_to(&hook.url).len(), 2);
}

#[tokio::test(start_paused = true)]
async fn lagging_behind_the_channel_counts_missed_events() {
    let f = fixture();
    let hook = f.hook("h", &["*"], None).await;
    let (tx, rx) = broadcast::channel(2);
    for i in 1..=5 {
        tx.send(event(i, "alias_set")).unwrap();
    }
    drop(tx);
    let dispatcher = f.dispatcher();
    let stats = dispatcher.stats();
    dispatcher.run(rx).await;
    assert_eq!(stats.missed_events(), 3);
    let ids: Vec<i64> = f
        .transport
        .sent_to(&hook.url)
        .iter()
        .map(|s| s.payload().event.id)
        .collect();
    assert_eq!(ids, vec![4, 5]);
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_drops_and_records_the_delivery() {
    let f = fixture();
    let hook = f.hook("h", &["*"], None).await;
    f.transport.script(&hook.url, vec![Ok(500); 6]);
    let dispatcher = Dispatcher::with_config(
        f.store.clone(),
        f.transport.clone(),
        DispatchConfig {
            queue_capacity: 1,
            ..Default::default()
        },
    );
    let stats = dispatcher.stats();
    let (tx, rx) = broadcast::channel(8);
    let run = dispatcher.spawn(rx);
    tx.send(event(1, "alias_set")).unwrap();
    // Let the worker take event 1 (it fails at t=0 and backs off).
    tokio::time::sleep(Duration::from_millis(500)).await;
    tx.send(event(2, "alias_set")).unwrap();
    tx.send(event(3, "alias_set")).unwrap();
    drop(tx);
    run.await.unwrap();
    // Event 1 is in flight, event 2 waits in the queue, event 3 finds it full.
    assert_eq!(stats.dropped_deliveries(), 1);
    let dropped: Vec<_> = f
        .attempts(&hook)
        .into_iter()
        .filter(|a| a.attempt == 0)
        .collect();
    assert_eq!(dropped.len(), 1);
    assert_eq!(dropped[0].event_id, 3);
    assert_eq!(dropped[0].outcome, Outcome::Failed);
}

#[tokio::test(start_paused = true)]
async fn test_delivery_pings_once_without_retrying() {
    let f = fixture();
    let hook = f.hook("h", &["alias_set"], Some("k")).await;
    f.transport.script(&hook.url, vec![Ok(500)]);
    let result = f.webhooks.test(&hook.id).await.unwrap();
    assert_eq!(
        (result.attempt, result.status_code, result.outcome),
        (1, Some(500), Outcome::Failed)
    );
    assert_eq!(result.event_kind, PING);
    let sent = f.transport.sent_to(&hook.url);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].header(EVENT_HEADER), Some(PING));
    assert!(verify_signature(
        b"k",
        &sent[0].body,
        sent[0].header(SIGNATURE_HEADER).unwrap()
    ));
    assert_eq!(
        f.webhooks.deliveries(&hook.id, None).await.unwrap().len(),
        1
    );

    let missing = f.webhooks.test("nope").await.unwrap_err();
    assert_eq!(missing.code, slipway_core::ErrorCode::ResourceDoesNotExist);
    let bad = f.webhooks.deliveries(&hook.id, Some(0)).await.unwrap_err();
    assert_eq!(bad.code, slipway_core::ErrorCode::InvalidParameterValue);
}

#[tokio::test(start_paused = true)]
async fn the_registry_channel_feeds_the_dispatcher_started_once() {
    let f = fixture();
    let hook = f.hook("h", &["*"], None).await;
    let (tx, _) = broadcast::channel(8);
    let run = f.webhooks.start(tx.subscribe()).expect("first start");
    assert!(f.webhooks.start(tx.subscribe()).is_none(), "started once");
    tx.send(event(1, "registered_model_created")).unwrap();
    drop(tx);
    run.await.unwrap();
    assert_eq!(f.transport.sent_to(&hook.url).len(), 1);
}
