//! `WebhookStore` for SQLite: webhooks and their delivery log.
//!
//! The secret is stored (the dispatcher signs with it) but only
//! [`WebhookStore::webhook_secret`] reads it back; listings say `has_secret`.
//! The log keeps the newest [`MAX_DELIVERIES`] attempts of each webhook.

use crate::{db_err, SqliteStore};
use async_trait::async_trait;
use rusqlite::{params, OptionalExtension, Row};
use slipway_core::{Error, Result};
use slipway_registry::webhooks::{
    DeliveryAttempt, NewWebhook, Outcome, Webhook, WebhookStore, MAX_DELIVERIES,
};

fn no_webhook(id: &str) -> Error {
    Error::not_found(format!("Webhook with id={id} not found"))
}

const WEBHOOK_COLUMNS: &str = "id, name, url, events, secret IS NOT NULL, active, created";

fn webhook_from_row(row: &Row) -> rusqlite::Result<Webhook> {
    let events: String = row.get(3)?;
    Ok(Webhook {
        id: row.get(0)?,
        name: row.get(1)?,
        url: row.get(2)?,
        events: serde_json::from_str(&events).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(3, rusqlite::types::Type::Text, Box::new(e))
        })?,
        has_secret: row.get(4)?,
        active: row.get(5)?,
        created: row.get(6)?,
    })
}

fn delivery_from_row(row: &Row) -> rusqlite::Result<DeliveryAttempt> {
    let outcome: String = row.get(9)?;
    Ok(DeliveryAttempt {
        webhook_id: row.get(0)?,
        event_id: row.get(1)?,
        event_kind: row.get(2)?,
        delivery_id: row.get(3)?,
        attempt: row.get(4)?,
        status_code: row.get(5)?,
        error: row.get(6)?,
        duration_ms: row.get(7)?,
        timestamp: row.get(8)?,
        outcome: Outcome::parse(&outcome).unwrap_or(Outcome::Failed),
    })
}

#[async_trait]
impl WebhookStore for SqliteStore {
    async fn create_webhook(&self, new: NewWebhook) -> Result<Webhook> {
        let events = serde_json::to_string(&new.webhook.events)
            .map_err(|e| Error::internal(format!("cannot encode webhook events: {e}")))?;
        self.write(move |conn| {
            let w = &new.webhook;
            conn.prepare_cached(
                "INSERT INTO webhooks (id, name, url, events, secret, active, created)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    w.id, w.name, w.url, events, new.secret, w.active, w.created
                ])
            })
            .map_err(db_err)?;
            Ok(Webhook {
                has_secret: new.secret.is_some(),
                ..new.webhook
            })
        })
        .await
    }

    async fn list_webhooks(&self) -> Result<Vec<Webhook>> {
        self.read(|conn| {
            conn.prepare_cached(&format!(
                "SELECT {WEBHOOK_COLUMNS} FROM webhooks ORDER BY created, id"
            ))
            .and_then(|mut s| {
                s.query_map([], webhook_from_row)
                    .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            })
            .map_err(db_err)
        })
        .await
    }

    async fn get_webhook(&self, id: &str) -> Result<Webhook> {
        let id = id.to_string();
        self.read(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = ?1"
            ))
            .and_then(|mut s| s.query_row([&id], webhook_from_row).optional())
            .map_err(db_err)?
            .ok_or_else(|| no_webhook(&id))
        })
        .await
    }

    async fn delete_webhook(&self, id: &str) -> Result<()> {
        let id = id.to_string();
        self.write(move |conn| {
            let deleted = conn
                .prepare_cached("DELETE FROM webhooks WHERE id = ?1")
                .and_then(|mut s| s.execute([&id]))
                .map_err(db_err)?;
            if deleted == 0 {
                return Err(no_webhook(&id));
            }
            conn.prepare_cached("DELETE FROM webhook_deliveries WHERE webhook_id = ?1")
                .and_then(|mut s| s.execute([&id]))
                .map_err(db_err)?;
            Ok(())
        })
        .await
    }

    async fn webhook_secret(&self, id: &str) -> Result<Option<String>> {
        let id = id.to_string();
        self.read(move |conn| {
            conn.prepare_cached("SELECT secret FROM webhooks WHERE id = ?1")
                .and_then(|mut s| {
                    s.query_row([&id], |r| r.get::<_, Option<String>>(0))
                        .optional()
                })
                .map_err(db_err)?
                .ok_or_else(|| no_webhook(&id))
        })
        .await
    }

    async fn record_delivery(&self, a: DeliveryAttempt) -> Result<()> {
        self.write(move |conn| {
            conn.prepare_cached(
                "INSERT INTO webhook_deliveries (webhook_id, event_id, event_kind, delivery_id, attempt,
                     status_code, error, duration_ms, timestamp, outcome)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    a.webhook_id,
                    a.event_id,
                    a.event_kind,
                    a.delivery_id,
                    a.attempt,
                    a.status_code,
                    a.error,
                    a.duration_ms,
                    a.timestamp,
                    a.outcome.as_str()
                ])
            })
            .map_err(db_err)?;
            // Keep the newest MAX_DELIVERIES attempts of this webhook.
            conn.prepare_cached(
                "DELETE FROM webhook_deliveries WHERE webhook_id = ?1 AND id <= (
                     SELECT id FROM webhook_deliveries WHERE webhook_id = ?1
                     ORDER BY id DESC LIMIT 1 OFFSET ?2)",
            )
            .and_then(|mut s| s.execute(params![a.webhook_id, MAX_DELIVERIES as i64]))
            .map_err(db_err)?;
            Ok(())
        })
        .await
    }

    async fn list_deliveries(
        &self,
        webhook_id: &str,
        max_results: usize,
    ) -> Result<Vec<DeliveryAttempt>> {
        let webhook_id = webhook_id.to_string();
        let limit = max_results.min(i64::MAX as usize) as i64;
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT webhook_id, event_id, event_kind, delivery_id, attempt, status_code, error,
                        duration_ms, timestamp, outcome
                 FROM webhook_deliveries WHERE webhook_id = ?1 ORDER BY id DESC LIMIT ?2",
            )
            .and_then(|mut s| {
                s.query_map(params![webhook_id, limit], delivery_from_row)
                    .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            })
            .map_err(db_err)
        })
        .await
    }
}
