//! The SQLite webhook store: write-only secrets, the delivery log, persistence.

use slipway_core::ErrorCode;
use slipway_registry::webhooks::{
    validate, CreateWebhook, DeliveryAttempt, Outcome, WebhookStore, MAX_DELIVERIES,
};
use slipway_sql::SqliteStore;
use std::path::Path;

fn open(dir: &Path) -> SqliteStore {
    SqliteStore::open(&dir.join("db"), "mlflow-artifacts:").unwrap()
}

fn request(name: &str, secret: Option<&str>) -> CreateWebhook {
    CreateWebhook {
        name: name.into(),
        url: format!("http://127.0.0.1:9/{name}"),
        events: vec!["stage_transitioned".into(), "alias_set".into()],
        secret: secret.map(str::to_string),
        active: None,
    }
}

fn attempt(webhook_id: &str, event_id: i64, attempt: u32, outcome: Outcome) -> DeliveryAttempt {
    DeliveryAttempt {
        webhook_id: webhook_id.into(),
        event_id,
        event_kind: "alias_set".into(),
        delivery_id: format!("d-{event_id}"),
        attempt,
        status_code: (outcome == Outcome::Success).then_some(200),
        error: (outcome != Outcome::Success).then(|| "connection error: refused".to_string()),
        duration_ms: 12,
        timestamp: 1_700_000_000_000 + event_id,
        outcome,
    }
}

#[tokio::test]
async fn webhooks_round_trip_without_their_secret() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let signed = validate(request("signed", Some("s3cret")), "a".into(), 1).unwrap();
    let created = store.create_webhook(signed.clone()).await.unwrap();
    assert_eq!(created, signed.webhook);
    assert!(created.has_secret);
    store
        .create_webhook(validate(request("plain", None), "b".into(), 2).unwrap())
        .await
        .unwrap();

    let listed = store.list_webhooks().await.unwrap();
    assert_eq!(
        listed.iter().map(|w| w.id.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    assert_eq!(listed[0], signed.webhook);
    assert!(!listed[1].has_secret);
    let got = store.get_webhook("a").await.unwrap();
    assert_eq!(got.events, vec!["stage_transitioned", "alias_set"]);
    assert!(got.active);
    assert!(!serde_json::to_string(&listed).unwrap().contains("s3cret"));

    assert_eq!(
        store.webhook_secret("a").await.unwrap().as_deref(),
        Some("s3cret")
    );
    assert_eq!(store.webhook_secret("b").await.unwrap(), None);

    for missing in [
        store.get_webhook("zzz").await.unwrap_err(),
        store.webhook_secret("zzz").await.unwrap_err(),
        store.delete_webhook("zzz").await.unwrap_err(),
    ] {
        assert_eq!(missing.code, ErrorCode::ResourceDoesNotExist);
        assert!(missing.message.contains("zzz"), "{}", missing.message);
    }
}

#[tokio::test]
async fn deliveries_are_listed_newest_first_and_go_with_their_webhook() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store
        .create_webhook(validate(request("h", Some("k")), "h".into(), 1).unwrap())
        .await
        .unwrap();
    store
        .create_webhook(validate(request("other", None), "o".into(), 2).unwrap())
        .await
        .unwrap();
    store
        .record_delivery(attempt("h", 1, 1, Outcome::Retrying))
        .await
        .unwrap();
    store
        .record_delivery(attempt("h", 1, 2, Outcome::Success))
        .await
        .unwrap();
    store
        .record_delivery(attempt("o", 1, 1, Outcome::Failed))
        .await
        .unwrap();

    let log = store.list_deliveries("h", 10).await.unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0], attempt("h", 1, 2, Outcome::Success));
    assert_eq!(log[1], attempt("h", 1, 1, Outcome::Retrying));
    assert_eq!(store.list_deliveries("h", 1).await.unwrap().len(), 1);

    store.delete_webhook("h").await.unwrap();
    assert!(store.list_deliveries("h", 10).await.unwrap().is_empty());
    assert_eq!(store.list_deliveries("o", 10).await.unwrap().len(), 1);
    assert_eq!(store.list_webhooks().await.unwrap().len(), 1);
}

#[tokio::test]
async fn the_log_keeps_the_newest_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let extra = 5;
    for i in 0..(MAX_DELIVERIES as i64 + extra) {
        store
            .record_delivery(attempt("h", i, 1, Outcome::Success))
            .await
            .unwrap();
    }
    let log = store.list_deliveries("h", usize::MAX).await.unwrap();
    assert_eq!(log.len(), MAX_DELIVERIES);
    assert_eq!(log[0].event_id, MAX_DELIVERIES as i64 + extra - 1);
    assert_eq!(log.last().unwrap().event_id, extra);
}

#[tokio::test]
async fn webhooks_and_deliveries_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        let mut inactive = request("h", Some("k"));
        inactive.active = Some(false);
        store
            .create_webhook(validate(inactive, "h".into(), 1).unwrap())
            .await
            .unwrap();
        store
            .record_delivery(attempt("h", 9, 1, Outcome::Failed))
            .await
            .unwrap();
    }
    let store = open(dir.path());
    let hook = store.get_webhook("h").await.unwrap();
    assert!(!hook.active && hook.has_secret);
    assert_eq!(store.list_deliveries("h", 10).await.unwrap()[0].event_id, 9);
}
