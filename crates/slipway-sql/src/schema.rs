//! The metadata schema and its migrations.
//!
//! Versioned with `PRAGMA user_version`; each step runs once, in order, in
//! one transaction. The layout follows MLflow's SQL store (so its semantics
//! carry over) with changes for speed: metric history is an append-only
//! log of batches (`metric_batches`, see `metric_log.rs`), `latest_metrics`
//! is maintained on write, so neither `get_run` nor a search ever reads a
//! history, and key/value tables are `WITHOUT ROWID` (one B-tree per table,
//! not two).

use crate::db_err;
use rusqlite::Connection;
use slipway_core::{now_millis, Result};

const MIGRATIONS: &[&str] = &[
    // 1: tracking
    r#"
    CREATE TABLE experiments (
        experiment_id     INTEGER PRIMARY KEY,
        name              TEXT NOT NULL UNIQUE,
        artifact_location TEXT NOT NULL,
        lifecycle_stage   TEXT NOT NULL,
        creation_time     BIGINT,
        last_update_time  BIGINT
    );
    CREATE TABLE experiment_tags (
        experiment_id INTEGER NOT NULL REFERENCES experiments(experiment_id),
        key           TEXT NOT NULL,
        value         TEXT NOT NULL,
        PRIMARY KEY (experiment_id, key)
    ) WITHOUT ROWID;
    CREATE TABLE runs (
        run_uuid        TEXT PRIMARY KEY,
        name            TEXT NOT NULL,
        experiment_id   INTEGER NOT NULL REFERENCES experiments(experiment_id),
        user_id         TEXT NOT NULL,
        status          TEXT NOT NULL,
        start_time      BIGINT,
        end_time        BIGINT,
        lifecycle_stage TEXT NOT NULL,
        artifact_uri    TEXT NOT NULL,
        deleted_time    BIGINT
    );
    CREATE INDEX runs_by_experiment ON runs (experiment_id, lifecycle_stage);
    -- One row per logged batch; see metric_log.rs for why and for the format.
    CREATE TABLE metric_batches (
        run_uuid TEXT NOT NULL REFERENCES runs(run_uuid),
        seq      BIGINT NOT NULL,
        data     BLOB NOT NULL,
        PRIMARY KEY (run_uuid, seq)
    ) WITHOUT ROWID;
    CREATE TABLE latest_metrics (
        run_uuid  TEXT NOT NULL REFERENCES runs(run_uuid),
        key       TEXT NOT NULL,
        value     DOUBLE PRECISION,
        is_nan    INTEGER NOT NULL,
        timestamp BIGINT NOT NULL,
        step      BIGINT NOT NULL,
        PRIMARY KEY (run_uuid, key)
    ) WITHOUT ROWID;
    CREATE TABLE params (
        run_uuid TEXT NOT NULL REFERENCES runs(run_uuid),
        key      TEXT NOT NULL,
        value    TEXT NOT NULL,
        PRIMARY KEY (run_uuid, key)
    ) WITHOUT ROWID;
    CREATE TABLE tags (
        run_uuid TEXT NOT NULL REFERENCES runs(run_uuid),
        key      TEXT NOT NULL,
        value    TEXT NOT NULL,
        PRIMARY KEY (run_uuid, key)
    ) WITHOUT ROWID;
    CREATE TABLE datasets (
        dataset_uuid  TEXT PRIMARY KEY,
        experiment_id INTEGER NOT NULL REFERENCES experiments(experiment_id),
        name          TEXT NOT NULL,
        digest        TEXT NOT NULL,
        source_type   TEXT NOT NULL,
        source        TEXT NOT NULL,
        schema        TEXT,
        profile       TEXT,
        UNIQUE (experiment_id, name, digest)
    );
    CREATE TABLE run_dataset_inputs (
        input_uuid   TEXT PRIMARY KEY,
        run_uuid     TEXT NOT NULL REFERENCES runs(run_uuid),
        dataset_uuid TEXT NOT NULL REFERENCES datasets(dataset_uuid),
        position     INTEGER NOT NULL,
        UNIQUE (run_uuid, dataset_uuid)
    );
    CREATE TABLE input_tags (
        input_uuid TEXT NOT NULL REFERENCES run_dataset_inputs(input_uuid),
        key        TEXT NOT NULL,
        value      TEXT NOT NULL,
        PRIMARY KEY (input_uuid, key)
    ) WITHOUT ROWID;
    CREATE TABLE run_model_inputs (
        run_uuid TEXT NOT NULL REFERENCES runs(run_uuid),
        model_id TEXT NOT NULL,
        PRIMARY KEY (run_uuid, model_id)
    ) WITHOUT ROWID;
    CREATE TABLE run_model_outputs (
        run_uuid TEXT NOT NULL REFERENCES runs(run_uuid),
        model_id TEXT NOT NULL,
        step     BIGINT NOT NULL,
        PRIMARY KEY (run_uuid, model_id)
    ) WITHOUT ROWID;
    CREATE TABLE logged_models (
        model_id          TEXT PRIMARY KEY,
        experiment_id     INTEGER NOT NULL REFERENCES experiments(experiment_id),
        name              TEXT NOT NULL,
        artifact_location TEXT NOT NULL,
        creation_time     BIGINT NOT NULL,
        last_updated_time BIGINT NOT NULL,
        status            TEXT NOT NULL,
        lifecycle_stage   TEXT NOT NULL,
        model_type        TEXT,
        source_run_id     TEXT,
        status_message    TEXT
    );
    CREATE INDEX logged_models_by_experiment ON logged_models (experiment_id);
    CREATE TABLE logged_model_params (
        model_id TEXT NOT NULL REFERENCES logged_models(model_id),
        key      TEXT NOT NULL,
        value    TEXT NOT NULL,
        PRIMARY KEY (model_id, key)
    ) WITHOUT ROWID;
    CREATE TABLE logged_model_tags (
        model_id TEXT NOT NULL REFERENCES logged_models(model_id),
        key      TEXT NOT NULL,
        value    TEXT NOT NULL,
        PRIMARY KEY (model_id, key)
    ) WITHOUT ROWID;
    CREATE TABLE logged_model_metrics (
        model_id       TEXT NOT NULL,
        run_uuid       TEXT NOT NULL,
        key            TEXT NOT NULL,
        value          DOUBLE PRECISION,
        is_nan         INTEGER NOT NULL,
        timestamp      BIGINT NOT NULL,
        step           BIGINT NOT NULL,
        dataset_name   TEXT,
        dataset_digest TEXT
    );
    CREATE UNIQUE INDEX logged_model_metrics_unique
        ON logged_model_metrics (model_id, run_uuid, key, timestamp, step, value, is_nan, dataset_name, dataset_digest);
    "#,
    // 2: model registry
    r#"
    CREATE TABLE registered_models (
        name              TEXT PRIMARY KEY,
        creation_time     BIGINT NOT NULL,
        last_updated_time BIGINT NOT NULL,
        -- Highest version ever created: numbers are never reused after a delete.
        last_version      INTEGER NOT NULL DEFAULT 0,
        description       TEXT,
        user_id           TEXT
    );
    CREATE TABLE registered_model_tags (
        name  TEXT NOT NULL REFERENCES registered_models(name) ON UPDATE CASCADE ON DELETE CASCADE,
        key   TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (name, key)
    ) WITHOUT ROWID;
    CREATE TABLE model_versions (
        name              TEXT NOT NULL REFERENCES registered_models(name) ON UPDATE CASCADE ON DELETE CASCADE,
        version           INTEGER NOT NULL,
        creation_time     BIGINT NOT NULL,
        last_updated_time BIGINT NOT NULL,
        description       TEXT,
        user_id           TEXT,
        current_stage     TEXT NOT NULL,
        source            TEXT NOT NULL,
        run_id            TEXT,
        run_link          TEXT,
        status            TEXT NOT NULL,
        status_message    TEXT,
        model_id          TEXT,
        PRIMARY KEY (name, version)
    );
    CREATE TABLE model_version_tags (
        name    TEXT NOT NULL,
        version INTEGER NOT NULL,
        key     TEXT NOT NULL,
        value   TEXT NOT NULL,
        PRIMARY KEY (name, version, key),
        FOREIGN KEY (name, version) REFERENCES model_versions(name, version) ON UPDATE CASCADE ON DELETE CASCADE
    ) WITHOUT ROWID;
    CREATE TABLE registered_model_aliases (
        name    TEXT NOT NULL REFERENCES registered_models(name) ON UPDATE CASCADE ON DELETE CASCADE,
        alias   TEXT NOT NULL,
        version INTEGER NOT NULL,
        PRIMARY KEY (name, alias)
    ) WITHOUT ROWID;
    CREATE TABLE registry_events (
        id        INTEGER PRIMARY KEY,
        timestamp BIGINT NOT NULL,
        kind      TEXT NOT NULL,
        name      TEXT NOT NULL,
        version   TEXT,
        alias     TEXT,
        from_value TEXT,
        to_value  TEXT,
        user_id   TEXT,
        reason    TEXT
    );
    CREATE INDEX registry_events_by_name ON registry_events (name, id);
    "#,
    // 3: registry webhooks and their delivery log
    r#"
    CREATE TABLE webhooks (
        id      TEXT PRIMARY KEY,
        name    TEXT NOT NULL,
        url     TEXT NOT NULL,
        events  TEXT NOT NULL,
        secret  TEXT,
        active  INTEGER NOT NULL,
        created BIGINT NOT NULL
    );
    CREATE TABLE webhook_deliveries (
        id          INTEGER PRIMARY KEY,
        webhook_id  TEXT NOT NULL,
        event_id    BIGINT NOT NULL,
        event_kind  TEXT NOT NULL,
        delivery_id TEXT NOT NULL,
        attempt     INTEGER NOT NULL,
        status_code INTEGER,
        error       TEXT,
        duration_ms BIGINT NOT NULL,
        timestamp   BIGINT NOT NULL,
        outcome     TEXT NOT NULL
    );
    CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook_id, id);
    "#,
];

/// Brings the schema up to date and makes sure the Default experiment exists.
pub fn migrate(conn: &Connection, default_artifact_root: &str) -> Result<()> {
    let current: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(db_err)?;
    for (i, sql) in MIGRATIONS.iter().enumerate() {
        let version = i as i64 + 1;
        if version <= current {
            continue;
        }
        let tx = format!("BEGIN IMMEDIATE; {sql}; PRAGMA user_version = {version}; COMMIT;");
        if let Err(e) = conn.execute_batch(&tx) {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(db_err(e));
        }
        tracing::info!(version, "applied metadata schema migration");
    }
    let now = now_millis();
    conn.execute(
        "INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time)
         VALUES (0, 'Default', ?1, 'active', ?2, ?2) ON CONFLICT DO NOTHING",
        rusqlite::params![format!("{default_artifact_root}/0"), now],
    )
    .map_err(db_err)?;
    Ok(())
}
