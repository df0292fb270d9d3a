//! `TrackingStore` for SQLite.

use crate::{db_err, is_unique_violation, SqliteStore};
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, Row};
use slipway_core::{Error, ErrorCode, Result};
use slipway_protocol::*;
use slipway_tracking::store::{
    NewExperiment, NewLoggedModel, NewRun, RunUpdate, TagUpdate, TrackingStore,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Recent `runs_for_search` snapshots, valid while no commit happened since.
/// Repeated searches (a UI refreshing, a sweep being compared) then skip
/// reading and rebuilding every run.
#[derive(Default)]
pub(crate) struct SearchCache {
    entries: Mutex<Vec<CacheEntry>>,
}

struct CacheEntry {
    experiment_ids: Vec<i64>,
    view: ViewType,
    version: u64,
    runs: Arc<Vec<Run>>,
}

impl SearchCache {
    const ENTRIES: usize = 8;
    /// Larger result sets are not kept (memory over speed).
    const MAX_RUNS: usize = 50_000;

    fn get(&self, ids: &[i64], view: ViewType, version: u64) -> Option<Arc<Vec<Run>>> {
        let entries = self.entries.lock().ok()?;
        entries
            .iter()
            .find(|e| e.version == version && e.view == view && e.experiment_ids == ids)
            .map(|e| e.runs.clone())
    }

    fn put(&self, experiment_ids: Vec<i64>, view: ViewType, version: u64, runs: Arc<Vec<Run>>) {
        if runs.len() > Self::MAX_RUNS {
            return;
        }
        if let Ok(mut entries) = self.entries.lock() {
            entries.retain(|e| {
                e.version == version && !(e.view == view && e.experiment_ids == experiment_ids)
            });
            if entries.len() >= Self::ENTRIES {
                entries.remove(0);
            }
            entries.push(CacheEntry {
                experiment_ids,
                view,
                version,
                runs,
            });
        }
    }
}

const RUN_NAME_TAG: &str = "mlflow.runName";

fn parse_experiment_id(id: &str) -> Option<i64> {
    id.parse::<i64>().ok()
}

fn no_experiment(id: &str) -> Error {
    Error::not_found(format!("No Experiment with id={id} exists"))
}

fn no_run(id: &str) -> Error {
    Error::not_found(format!("Run with id={id} not found"))
}

fn no_logged_model(id: &str) -> Error {
    Error::not_found(format!("Logged model with ID '{id}' not found."))
}

/// `(value, is_nan)` as stored: SQL has no NaN.
fn encode_value(v: f64) -> (Option<f64>, i64) {
    if v.is_nan() {
        (None, 1)
    } else {
        (Some(v), 0)
    }
}

fn decode_value(value: Option<f64>, is_nan: i64) -> f64 {
    if is_nan != 0 {
        f64::NAN
    } else {
        value.unwrap_or(f64::NAN)
    }
}

fn experiment_from_row(row: &Row) -> rusqlite::Result<Experiment> {
    let stage: String = row.get(3)?;
    Ok(Experiment {
        experiment_id: row.get::<_, i64>(0)?.to_string(),
        name: row.get(1)?,
        artifact_location: row.get(2)?,
        lifecycle_stage: LifecycleStage::parse(&stage).unwrap_or_default(),
        creation_time: row.get(4)?,
        last_update_time: row.get(5)?,
        tags: Vec::new(),
    })
}

const EXPERIMENT_COLUMNS: &str =
    "experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time";
const RUN_COLUMNS: &str =
    "run_uuid, name, experiment_id, user_id, status, start_time, end_time, lifecycle_stage, artifact_uri";

fn run_info_from_row(row: &Row) -> rusqlite::Result<RunInfo> {
    let id: String = row.get(0)?;
    let status: String = row.get(4)?;
    let stage: String = row.get(7)?;
    Ok(RunInfo {
        run_uuid: id.clone(),
        run_id: id,
        run_name: row.get(1)?,
        experiment_id: row.get::<_, i64>(2)?.to_string(),
        user_id: row.get(3)?,
        status: RunStatus::parse(&status).unwrap_or_default(),
        start_time: row.get(5)?,
        end_time: row.get(6)?,
        lifecycle_stage: LifecycleStage::parse(&stage).unwrap_or_default(),
        artifact_uri: row.get(8)?,
    })
}

fn load_experiment(conn: &Connection, experiment_id: &str) -> Result<Experiment> {
    let id = parse_experiment_id(experiment_id).ok_or_else(|| no_experiment(experiment_id))?;
    let mut exp = conn
        .prepare_cached(&format!(
            "SELECT {EXPERIMENT_COLUMNS} FROM experiments WHERE experiment_id = ?1"
        ))
        .and_then(|mut s| s.query_row([id], experiment_from_row).optional())
        .map_err(db_err)?
        .ok_or_else(|| no_experiment(experiment_id))?;
    exp.tags = experiment_tags(conn, id)?;
    Ok(exp)
}

fn experiment_tags(conn: &Connection, id: i64) -> Result<Vec<Tag>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT key, value FROM experiment_tags WHERE experiment_id = ?1 ORDER BY key",
        )
        .map_err(db_err)?;
    let tags = stmt
        .query_map([id], |r| {
            Ok(Tag::new(r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })
        .map_err(db_err)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(db_err)?;
    Ok(tags)
}

fn require_active_experiment(conn: &Connection, experiment_id: &str) -> Result<i64> {
    let exp = load_experiment(conn, experiment_id)?;
    if exp.lifecycle_stage != LifecycleStage::Active {
        return Err(Error::invalid(format!(
            "The experiment {experiment_id} must be in the 'active' state. Current state is {}.",
            exp.lifecycle_stage.as_str()
        )));
    }
    parse_experiment_id(experiment_id).ok_or_else(|| no_experiment(experiment_id))
}

/// The run's experiment id, failing unless the run exists and is active.
fn require_active_run(conn: &Connection, run_id: &str) -> Result<i64> {
    let row: Option<(String, i64)> = conn
        .prepare_cached("SELECT lifecycle_stage, experiment_id FROM runs WHERE run_uuid = ?1")
        .and_then(|mut s| {
            s.query_row([run_id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .map_err(db_err)?;
    match row {
        None => Err(no_run(run_id)),
        Some((stage, exp)) if stage == "active" => Ok(exp),
        Some((stage, _)) => Err(Error::invalid(format!(
            "The run {run_id} must be in the 'active' state. Current state is {stage}."
        ))),
    }
}

fn load_run_info(conn: &Connection, run_id: &str) -> Result<RunInfo> {
    conn.prepare_cached(&format!(
        "SELECT {RUN_COLUMNS} FROM runs WHERE run_uuid = ?1"
    ))
    .and_then(|mut s| s.query_row([run_id], run_info_from_row).optional())
    .map_err(db_err)?
    .ok_or_else(|| no_run(run_id))
}

fn load_run(conn: &Connection, run_id: &str) -> Result<Run> {
    let info = load_run_info(conn, run_id)?;
    let mut run = Run {
        info,
        ..Default::default()
    };
    let mut stmt = conn
        .prepare_cached("SELECT key, value, is_nan, timestamp, step FROM latest_metrics WHERE run_uuid = ?1 ORDER BY key")
        .map_err(db_err)?;
    run.data.metrics = stmt
        .query_map([run_id], |r| {
            Ok(Metric {
                key: r.get(0)?,
                value: decode_value(r.get(1)?, r.get(2)?),
                timestamp: r.get(3)?,
                step: r.get(4)?,
                ..Default::default()
            })
        })
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(db_err)?;
    run.data.params = key_values(
        conn,
        "SELECT key, value FROM params WHERE run_uuid = ?1 ORDER BY key",
        run_id,
    )?;
    run.data.tags = key_values(
        conn,
        "SELECT key, value FROM tags WHERE run_uuid = ?1 ORDER BY key",
        run_id,
    )?;
    let mut inputs = load_inputs(conn, "WHERE i.run_uuid = ?1", &[&run_id])?;
    run.inputs = inputs.remove(run_id).unwrap_or_default();
    run.outputs.model_outputs = conn
        .prepare_cached(
            "SELECT model_id, step FROM run_model_outputs WHERE run_uuid = ?1 ORDER BY model_id",
        )
        .and_then(|mut s| {
            s.query_map([run_id], |r| {
                Ok(ModelOutput {
                    model_id: r.get(0)?,
                    step: r.get(1)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(db_err)?;
    run.inputs.model_inputs = conn
        .prepare_cached(
            "SELECT model_id FROM run_model_inputs WHERE run_uuid = ?1 ORDER BY model_id",
        )
        .and_then(|mut s| {
            s.query_map([run_id], |r| {
                Ok(ModelInput {
                    model_id: r.get(0)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(db_err)?;
    Ok(run)
}

fn key_values(conn: &Connection, sql: &str, id: &str) -> Result<Vec<Tag>> {
    let mut stmt = conn.prepare_cached(sql).map_err(db_err)?;
    let rows = stmt
        .query_map([id], |r| {
            Ok(Tag::new(r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(db_err)?;
    Ok(rows)
}

/// Dataset inputs (with their tags) of the runs selected by `where_clause`
/// on `run_dataset_inputs i`, keyed by run id, in logging order.
fn load_inputs(
    conn: &Connection,
    where_clause: &str,
    args: &[&dyn rusqlite::ToSql],
) -> Result<HashMap<String, RunInputs>> {
    let sql = format!(
        "SELECT i.run_uuid, i.input_uuid, d.name, d.digest, d.source_type, d.source, d.schema, d.profile
         FROM run_dataset_inputs i JOIN datasets d ON d.dataset_uuid = i.dataset_uuid {where_clause}
         ORDER BY i.run_uuid, i.position"
    );
    let mut stmt = conn.prepare_cached(&sql).map_err(db_err)?;
    let mut by_input: Vec<(String, String, DatasetInput)> = stmt
        .query_map(args, |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                DatasetInput {
                    tags: Vec::new(),
                    dataset: Dataset {
                        name: r.get(2)?,
                        digest: r.get(3)?,
                        source_type: r.get(4)?,
                        source: r.get(5)?,
                        schema: r.get(6)?,
                        profile: r.get(7)?,
                    },
                },
            ))
        })
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(db_err)?;
    if by_input.is_empty() {
        return Ok(HashMap::new());
    }
    let tag_sql = format!(
        "SELECT t.input_uuid, t.key, t.value FROM input_tags t JOIN run_dataset_inputs i ON i.input_uuid = t.input_uuid {where_clause} ORDER BY t.key"
    );
    let mut tags: HashMap<String, Vec<Tag>> = HashMap::new();
    let mut stmt = conn.prepare_cached(&tag_sql).map_err(db_err)?;
    let rows = stmt
        .query_map(args, |r| {
            Ok((
                r.get::<_, String>(0)?,
                Tag::new(r.get::<_, String>(1)?, r.get::<_, String>(2)?),
            ))
        })
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(db_err)?;
    for (input, tag) in rows {
        tags.entry(input).or_default().push(tag);
    }
    let mut out: HashMap<String, RunInputs> = HashMap::new();
    for (run, input_uuid, mut input) in by_input.drain(..) {
        input.tags = tags.remove(&input_uuid).unwrap_or_default();
        out.entry(run).or_default().dataset_inputs.push(input);
    }
    Ok(out)
}

fn insert_metrics(conn: &Connection, run_id: &str, metrics: &[Metric]) -> Result<()> {
    if metrics.is_empty() {
        return Ok(());
    }
    conn.prepare_cached(
        "INSERT INTO metric_batches (run_uuid, seq, data)
         VALUES (?1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM metric_batches WHERE run_uuid = ?1), ?2)",
    )
    .and_then(|mut s| s.execute(params![run_id, crate::metric_log::encode(metrics)]))
    .map_err(db_err)?;
    // "Latest" is MLflow's: highest step, then timestamp, then value (NaN never
    // wins a tie). Reduce the batch first: one upsert per key, not per point.
    let mut latest_in_batch: HashMap<&str, &Metric> = HashMap::new();
    for m in metrics {
        let slot = latest_in_batch.entry(m.key.as_str()).or_insert(m);
        if (m.step, m.timestamp) > (slot.step, slot.timestamp)
            || ((m.step, m.timestamp) == (slot.step, slot.timestamp)
                && (slot.value.is_nan() || m.value > slot.value))
        {
            *slot = m;
        }
    }
    let mut latest = conn
        .prepare_cached(
            "INSERT INTO latest_metrics (run_uuid, key, value, is_nan, timestamp, step) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (run_uuid, key) DO UPDATE SET value = excluded.value, is_nan = excluded.is_nan,
                 timestamp = excluded.timestamp, step = excluded.step
             WHERE excluded.step > latest_metrics.step
                OR (excluded.step = latest_metrics.step AND excluded.timestamp > latest_metrics.timestamp)
                OR (excluded.step = latest_metrics.step AND excluded.timestamp = latest_metrics.timestamp
                    AND (latest_metrics.is_nan = 1 OR excluded.value > latest_metrics.value))",
        )
        .map_err(db_err)?;
    for m in latest_in_batch.values() {
        let (value, is_nan) = encode_value(m.value);
        latest
            .execute(params![run_id, m.key, value, is_nan, m.timestamp, m.step])
            .map_err(db_err)?;
    }
    let mut model_metric = conn
        .prepare_cached(
            "INSERT INTO logged_model_metrics (model_id, run_uuid, key, value, is_nan, timestamp, step, dataset_name, dataset_digest)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT DO NOTHING",
        )
        .map_err(db_err)?;
    for m in metrics {
        if let Some(model_id) = m.model_id.as_deref().filter(|s| !s.is_empty()) {
            let (value, is_nan) = encode_value(m.value);
            model_metric
                .execute(params![
                    model_id,
                    run_id,
                    m.key,
                    value,
                    is_nan,
                    m.timestamp,
                    m.step,
                    m.dataset_name,
                    m.dataset_digest
                ])
                .map_err(db_err)?;
        }
    }
    Ok(())
}

fn insert_params(conn: &Connection, run_id: &str, params_in: &[Param]) -> Result<()> {
    let mut insert = conn
        .prepare_cached(
            "INSERT INTO params (run_uuid, key, value) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
        )
        .map_err(db_err)?;
    let mut existing = conn
        .prepare_cached("SELECT value FROM params WHERE run_uuid = ?1 AND key = ?2")
        .map_err(db_err)?;
    for p in params_in {
        if insert
            .execute(params![run_id, p.key, p.value])
            .map_err(db_err)?
            == 0
        {
            let old: String = existing
                .query_row(params![run_id, p.key], |r| r.get(0))
                .map_err(db_err)?;
            if old != p.value {
                return Err(Error::invalid(format!(
                    "Changing param values is not allowed. Param with key='{}' was already logged with value='{}' for run ID='{}'. Attempted logging new value '{}'.",
                    p.key, old, run_id, p.value
                )));
            }
        }
    }
    Ok(())
}

fn upsert_tags(conn: &Connection, run_id: &str, tags: &[Tag]) -> Result<()> {
    let mut upsert = conn
        .prepare_cached(
            "INSERT INTO tags (run_uuid, key, value) VALUES (?1, ?2, ?3)
             ON CONFLICT (run_uuid, key) DO UPDATE SET value = excluded.value",
        )
        .map_err(db_err)?;
    for t in tags {
        upsert
            .execute(params![run_id, t.key, t.value])
            .map_err(db_err)?;
        if t.key == RUN_NAME_TAG {
            conn.prepare_cached("UPDATE runs SET name = ?2 WHERE run_uuid = ?1")
                .and_then(|mut s| s.execute(params![run_id, t.value]))
                .map_err(db_err)?;
        }
    }
    Ok(())
}

fn logged_model_exists(conn: &Connection, model_id: &str) -> Result<()> {
    let found: Option<i64> = conn
        .prepare_cached(
            "SELECT 1 FROM logged_models WHERE model_id = ?1 AND lifecycle_stage = 'active'",
        )
        .and_then(|mut s| s.query_row([model_id], |r| r.get(0)).optional())
        .map_err(db_err)?;
    found.map(|_| ()).ok_or_else(|| no_logged_model(model_id))
}

const LOGGED_MODEL_COLUMNS: &str =
    "model_id, experiment_id, name, artifact_location, creation_time, last_updated_time, \
     status, model_type, source_run_id, status_message";

fn logged_model_from_row(row: &Row) -> rusqlite::Result<LoggedModel> {
    let status: String = row.get(6)?;
    Ok(LoggedModel {
        info: LoggedModelInfo {
            model_id: row.get(0)?,
            experiment_id: row.get::<_, i64>(1)?.to_string(),
            name: row.get(2)?,
            artifact_uri: row.get(3)?,
            creation_timestamp_ms: row.get(4)?,
            last_updated_timestamp_ms: row.get(5)?,
            status: LoggedModelStatus::parse(&status).unwrap_or_default(),
            model_type: row.get(7)?,
            source_run_id: row.get(8)?,
            status_message: row.get(9)?,
            ..Default::default()
        },
        data: LoggedModelData::default(),
    })
}

/// Fills params, tags and metrics of `models` in place.
fn fill_logged_models(conn: &Connection, models: &mut [LoggedModel]) -> Result<()> {
    for m in models.iter_mut() {
        let id = m.info.model_id.clone();
        m.data.params = key_values(
            conn,
            "SELECT key, value FROM logged_model_params WHERE model_id = ?1 ORDER BY key",
            &id,
        )?;
        m.info.tags = key_values(
            conn,
            "SELECT key, value FROM logged_model_tags WHERE model_id = ?1 ORDER BY key",
            &id,
        )?;
        let mut stmt = conn
            .prepare_cached(
                "SELECT key, value, is_nan, timestamp, step, run_uuid, dataset_name, dataset_digest
                 FROM logged_model_metrics WHERE model_id = ?1 ORDER BY key, timestamp, step",
            )
            .map_err(db_err)?;
        m.data.metrics = stmt
            .query_map([&id], |r| {
                Ok(Metric {
                    key: r.get(0)?,
                    value: decode_value(r.get(1)?, r.get(2)?),
                    timestamp: r.get(3)?,
                    step: r.get(4)?,
                    run_id: r.get(5)?,
                    dataset_name: r.get(6)?,
                    dataset_digest: r.get(7)?,
                    model_id: Some(id.clone()),
                })
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(db_err)?;
    }
    Ok(())
}

fn load_logged_model(conn: &Connection, model_id: &str) -> Result<LoggedModel> {
    let model = conn
        .prepare_cached(&format!(
            "SELECT {LOGGED_MODEL_COLUMNS} FROM logged_models WHERE model_id = ?1 AND lifecycle_stage = 'active'"
        ))
        .and_then(|mut s| s.query_row([model_id], logged_model_from_row).optional())
        .map_err(db_err)?
        .ok_or_else(|| no_logged_model(model_id))?;
    let mut models = [model];
    fill_logged_models(conn, &mut models)?;
    let [model] = models;
    Ok(model)
}

fn stages(view: ViewType) -> &'static str {
    match view {
        ViewType::ActiveOnly => "('active')",
        ViewType::DeletedOnly => "('deleted')",
        ViewType::All => "('active', 'deleted')",
    }
}

#[async_trait]
impl TrackingStore for SqliteStore {
    async fn create_experiment(&self, exp: NewExperiment) -> Result<String> {
        let root = self.default_artifact_root.clone();
        self.write(move |conn| {
            let id: i64 = conn
                .query_row("SELECT COALESCE(MAX(experiment_id), 0) + 1 FROM experiments", [], |r| r.get(0))
                .map_err(db_err)?;
            let location = exp.artifact_location.unwrap_or_else(|| format!("{root}/{id}"));
            let inserted = conn.execute(
                "INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time)
                 VALUES (?1, ?2, ?3, 'active', ?4, ?4)",
                params![id, exp.name, location, exp.creation_time],
            );
            match inserted {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => {
                    return Err(Error::already_exists(format!(
                        "Experiment(name={}) already exists. Error: UNIQUE constraint failed: experiments.name",
                        exp.name
                    )))
                }
                Err(e) => return Err(db_err(e)),
            }
            for t in &exp.tags {
                conn.execute(
                    "INSERT INTO experiment_tags (experiment_id, key, value) VALUES (?1, ?2, ?3)
                     ON CONFLICT (experiment_id, key) DO UPDATE SET value = excluded.value",
                    params![id, t.key, t.value],
                )
                .map_err(db_err)?;
            }
            Ok(id.to_string())
        })
        .await
    }

    async fn get_experiment(&self, experiment_id: &str) -> Result<Experiment> {
        let id = experiment_id.to_string();
        self.read(move |conn| load_experiment(conn, &id)).await
    }

    async fn get_experiment_by_name(&self, name: &str) -> Result<Option<Experiment>> {
        let name = name.to_string();
        self.read(move |conn| {
            let id: Option<i64> = conn
                .prepare_cached("SELECT experiment_id FROM experiments WHERE name = ?1")
                .and_then(|mut s| s.query_row([&name], |r| r.get(0)).optional())
                .map_err(db_err)?;
            id.map(|id| load_experiment(conn, &id.to_string()))
                .transpose()
        })
        .await
    }

    async fn list_experiments(&self, view: ViewType) -> Result<Vec<Experiment>> {
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {EXPERIMENT_COLUMNS} FROM experiments WHERE lifecycle_stage IN {}",
                    stages(view)
                ))
                .map_err(db_err)?;
            let mut exps = stmt
                .query_map([], experiment_from_row)
                .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
                .map_err(db_err)?;
            let mut tags: HashMap<String, Vec<Tag>> = HashMap::new();
            let mut stmt = conn
                .prepare_cached(
                    "SELECT experiment_id, key, value FROM experiment_tags ORDER BY key",
                )
                .map_err(db_err)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, i64>(0)?.to_string(),
                        Tag::new(r.get::<_, String>(1)?, r.get::<_, String>(2)?),
                    ))
                })
                .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
                .map_err(db_err)?;
            for (id, tag) in rows {
                tags.entry(id).or_default().push(tag);
            }
            for e in &mut exps {
                e.tags = tags.remove(&e.experiment_id).unwrap_or_default();
            }
            Ok(exps)
        })
        .await
    }

    async fn delete_experiment(&self, experiment_id: &str, now: i64) -> Result<()> {
        let id = experiment_id.to_string();
        self.write(move |conn| {
            let exp = load_experiment(conn, &id)?;
            let num: i64 = exp.experiment_id.parse().unwrap_or_default();
            conn.execute(
                "UPDATE experiments SET lifecycle_stage = 'deleted', last_update_time = ?2 WHERE experiment_id = ?1",
                params![num, now],
            )
            .map_err(db_err)?;
            conn.execute(
                "UPDATE runs SET lifecycle_stage = 'deleted', deleted_time = ?2 WHERE experiment_id = ?1 AND lifecycle_stage = 'active'",
                params![num, now],
            )
            .map_err(db_err)?;
            Ok(())
        })
        .await
    }

    async fn restore_experiment(&self, experiment_id: &str, now: i64) -> Result<()> {
        let id = experiment_id.to_string();
        self.write(move |conn| {
            let exp = load_experiment(conn, &id)?;
            if exp.lifecycle_stage != LifecycleStage::Deleted {
                return Err(Error::invalid(format!(
                    "Cannot restore an experiment that is not deleted: experiment {id} is {}.",
                    exp.lifecycle_stage.as_str()
                )));
            }
            let num: i64 = exp.experiment_id.parse().unwrap_or_default();
            conn.execute(
                "UPDATE experiments SET lifecycle_stage = 'active', last_update_time = ?2 WHERE experiment_id = ?1",
                params![num, now],
            )
            .map_err(db_err)?;
            conn.execute(
                "UPDATE runs SET lifecycle_stage = 'active', deleted_time = NULL WHERE experiment_id = ?1",
                params![num],
            )
            .map_err(db_err)?;
            Ok(())
        })
        .await
    }

    async fn rename_experiment(&self, experiment_id: &str, new_name: &str, now: i64) -> Result<()> {
        let (id, new_name) = (experiment_id.to_string(), new_name.to_string());
        self.write(move |conn| {
            let exp = load_experiment(conn, &id)?;
            if exp.lifecycle_stage != LifecycleStage::Active {
                return Err(Error::new(
                    ErrorCode::InvalidState,
                    "Cannot rename a non-active experiment.",
                ));
            }
            let num: i64 = exp.experiment_id.parse().unwrap_or_default();
            match conn.execute(
                "UPDATE experiments SET name = ?2, last_update_time = ?3 WHERE experiment_id = ?1",
                params![num, new_name, now],
            ) {
                Ok(_) => Ok(()),
                Err(e) if is_unique_violation(&e) => Err(Error::already_exists(format!(
                    "Experiment(name={new_name}) already exists."
                ))),
                Err(e) => Err(db_err(e)),
            }
        })
        .await
    }

    async fn set_experiment_tag(&self, experiment_id: &str, tag: Tag) -> Result<()> {
        let id = experiment_id.to_string();
        self.write(move |conn| {
            let num = require_active_experiment(conn, &id)?;
            conn.execute(
                "INSERT INTO experiment_tags (experiment_id, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (experiment_id, key) DO UPDATE SET value = excluded.value",
                params![num, tag.key, tag.value],
            )
            .map_err(db_err)?;
            Ok(())
        })
        .await
    }

    async fn delete_experiment_tag(&self, experiment_id: &str, key: &str) -> Result<()> {
        let (id, key) = (experiment_id.to_string(), key.to_string());
        self.write(move |conn| {
            let num = require_active_experiment(conn, &id)?;
            let n = conn
                .execute(
                    "DELETE FROM experiment_tags WHERE experiment_id = ?1 AND key = ?2",
                    params![num, key],
                )
                .map_err(db_err)?;
            if n == 0 {
                return Err(Error::not_found(format!(
                    "No tag with name: {key} in experiment with id {id}"
                )));
            }
            Ok(())
        })
        .await
    }

    async fn create_run(&self, run: NewRun) -> Result<Run> {
        self.write(move |conn| {
            let exp_num = require_active_experiment(conn, &run.experiment_id)?;
            let location: String = conn
                .query_row("SELECT artifact_location FROM experiments WHERE experiment_id = ?1", [exp_num], |r| r.get(0))
                .map_err(db_err)?;
            let artifact_uri = format!("{}/{}/artifacts", location.trim_end_matches('/'), run.run_id);
            conn.prepare_cached(
                "INSERT INTO runs (run_uuid, name, experiment_id, user_id, status, start_time, end_time, lifecycle_stage, artifact_uri)
                 VALUES (?1, ?2, ?3, ?4, 'RUNNING', ?5, NULL, 'active', ?6)",
            )
            .and_then(|mut s| {
                s.execute(params![run.run_id, run.run_name, exp_num, run.user_id, run.start_time, artifact_uri])
            })
            .map_err(db_err)?;
            upsert_tags(conn, &run.run_id, &run.tags)?;
            // A new run holds exactly what was just written: build it rather
            // than read it back (tags as stored: last value per key, by key).
            let tags: std::collections::BTreeMap<String, String> =
                run.tags.into_iter().map(|t| (t.key, t.value)).collect();
            let run_name = tags.get(RUN_NAME_TAG).cloned().unwrap_or(run.run_name);
            Ok(Run {
                info: RunInfo {
                    run_uuid: run.run_id.clone(),
                    run_id: run.run_id,
                    run_name,
                    experiment_id: exp_num.to_string(),
                    user_id: run.user_id,
                    status: RunStatus::Running,
                    start_time: Some(run.start_time),
                    end_time: None,
                    artifact_uri,
                    lifecycle_stage: LifecycleStage::Active,
                },
                data: RunData {
                    tags: tags.into_iter().map(|(k, v)| Tag::new(k, v)).collect(),
                    ..Default::default()
                },
                ..Default::default()
            })
        })
        .await
    }

    async fn get_run(&self, run_id: &str) -> Result<Run> {
        let id = run_id.to_string();
        self.read(move |conn| load_run(conn, &id)).await
    }

    async fn update_run(&self, run_id: &str, update: RunUpdate) -> Result<RunInfo> {
        let id = run_id.to_string();
        self.write(move |conn| {
            require_active_run(conn, &id)?;
            if let Some(status) = update.status {
                conn.execute(
                    "UPDATE runs SET status = ?2 WHERE run_uuid = ?1",
                    params![id, status.as_str()],
                )
                .map_err(db_err)?;
            }
            if let Some(end) = update.end_time {
                conn.execute(
                    "UPDATE runs SET end_time = ?2 WHERE run_uuid = ?1",
                    params![id, end],
                )
                .map_err(db_err)?;
            }
            if let Some(name) = update.run_name.filter(|n| !n.is_empty()) {
                upsert_tags(conn, &id, &[Tag::new(RUN_NAME_TAG, name)])?;
            }
            load_run_info(conn, &id)
        })
        .await
    }

    async fn delete_run(&self, run_id: &str, now: i64) -> Result<()> {
        let id = run_id.to_string();
        self.write(move |conn| {
            load_run_info(conn, &id)?;
            conn.execute(
                "UPDATE runs SET lifecycle_stage = 'deleted', deleted_time = ?2 WHERE run_uuid = ?1",
                params![id, now],
            )
            .map_err(db_err)?;
            Ok(())
        })
        .await
    }

    async fn restore_run(&self, run_id: &str) -> Result<()> {
        let id = run_id.to_string();
        self.write(move |conn| {
            load_run_info(conn, &id)?;
            conn.execute(
                "UPDATE runs SET lifecycle_stage = 'active', deleted_time = NULL WHERE run_uuid = ?1",
                params![id],
            )
            .map_err(db_err)?;
            Ok(())
        })
        .await
    }

    async fn log_batch(
        &self,
        run_id: &str,
        metrics: Vec<Metric>,
        params_in: Vec<Param>,
        tags: Vec<Tag>,
    ) -> Result<()> {
        let id = run_id.to_string();
        self.write(move |conn| {
            require_active_run(conn, &id)?;
            insert_params(conn, &id, &params_in)?;
            insert_metrics(conn, &id, &metrics)?;
            upsert_tags(conn, &id, &tags)?;
            Ok(())
        })
        .await
    }

    async fn update_run_tag(&self, run_id: &str, key: &str, update: TagUpdate) -> Result<()> {
        let (id, key) = (run_id.to_string(), key.to_string());
        self.write(move |conn| {
            require_active_run(conn, &id)?;
            let current: Option<String> = conn
                .prepare_cached("SELECT value FROM tags WHERE run_uuid = ?1 AND key = ?2")
                .and_then(|mut s| s.query_row(params![id, key], |r| r.get(0)).optional())
                .map_err(db_err)?;
            let value = update(current.as_deref())?;
            upsert_tags(conn, &id, &[Tag::new(key, value)])
        })
        .await
    }

    async fn delete_tag(&self, run_id: &str, key: &str) -> Result<()> {
        let (id, key) = (run_id.to_string(), key.to_string());
        self.write(move |conn| {
            require_active_run(conn, &id)?;
            let n = conn
                .execute(
                    "DELETE FROM tags WHERE run_uuid = ?1 AND key = ?2",
                    params![id, key],
                )
                .map_err(db_err)?;
            if n == 0 {
                return Err(Error::not_found(format!(
                    "No tag with name: {key} in run with id {id}"
                )));
            }
            Ok(())
        })
        .await
    }

    async fn log_inputs(
        &self,
        run_id: &str,
        datasets: Vec<DatasetInput>,
        models: Vec<ModelInput>,
    ) -> Result<()> {
        let id = run_id.to_string();
        self.write(move |conn| {
            let exp = require_active_run(conn, &id)?;
            for input in &datasets {
                let d = &input.dataset;
                conn.prepare_cached(
                    "INSERT INTO datasets (dataset_uuid, experiment_id, name, digest, source_type, source, schema, profile)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT DO NOTHING",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        slipway_core::ids::new_run_id(),
                        exp,
                        d.name,
                        d.digest,
                        d.source_type,
                        d.source,
                        d.schema,
                        d.profile
                    ])
                })
                .map_err(db_err)?;
                let dataset_uuid: String = conn
                    .query_row(
                        "SELECT dataset_uuid FROM datasets WHERE experiment_id = ?1 AND name = ?2 AND digest = ?3",
                        params![exp, d.name, d.digest],
                        |r| r.get(0),
                    )
                    .map_err(db_err)?;
                let existing: Option<String> = conn
                    .query_row(
                        "SELECT input_uuid FROM run_dataset_inputs WHERE run_uuid = ?1 AND dataset_uuid = ?2",
                        params![id, dataset_uuid],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(db_err)?;
                let input_uuid = match existing {
                    Some(u) => u,
                    None => {
                        let u = slipway_core::ids::new_run_id();
                        conn.execute(
                            "INSERT INTO run_dataset_inputs (input_uuid, run_uuid, dataset_uuid, position)
                             VALUES (?1, ?2, ?3, (SELECT COUNT(*) FROM run_dataset_inputs WHERE run_uuid = ?2))",
                            params![u, id, dataset_uuid],
                        )
                        .map_err(db_err)?;
                        u
                    }
                };
                for t in &input.tags {
                    conn.execute(
                        "INSERT INTO input_tags (input_uuid, key, value) VALUES (?1, ?2, ?3)
                         ON CONFLICT (input_uuid, key) DO UPDATE SET value = excluded.value",
                        params![input_uuid, t.key, t.value],
                    )
                    .map_err(db_err)?;
                }
            }
            for m in &models {
                conn.execute(
                    "INSERT INTO run_model_inputs (run_uuid, model_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                    params![id, m.model_id],
                )
                .map_err(db_err)?;
            }
            Ok(())
        })
        .await
    }

    async fn log_outputs(&self, run_id: &str, models: Vec<ModelOutput>) -> Result<()> {
        let id = run_id.to_string();
        self.write(move |conn| {
            require_active_run(conn, &id)?;
            for m in &models {
                conn.execute(
                    "INSERT INTO run_model_outputs (run_uuid, model_id, step) VALUES (?1, ?2, ?3)
                     ON CONFLICT (run_uuid, model_id) DO UPDATE SET step = excluded.step",
                    params![id, m.model_id, m.step],
                )
                .map_err(db_err)?;
            }
            Ok(())
        })
        .await
    }

    async fn get_metric_history(&self, run_id: &str, key: &str) -> Result<Vec<Metric>> {
        let (id, key) = (run_id.to_string(), key.to_string());
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached("SELECT data FROM metric_batches WHERE run_uuid = ?1 ORDER BY seq")
                .map_err(db_err)?;
            let mut rows = stmt.query([&id]).map_err(db_err)?;
            let mut points = Vec::new();
            while let Some(row) = rows.next().map_err(db_err)? {
                let data = row
                    .get_ref(0)
                    .map_err(db_err)?
                    .as_blob()
                    .map_err(|e| db_err(e.into()))?;
                crate::metric_log::decode_key_into(data, &key, &mut points)?;
            }
            crate::metric_log::finish_history(&mut points);
            Ok(points)
        })
        .await
    }

    async fn runs_for_search(
        &self,
        experiment_ids: &[String],
        view: ViewType,
    ) -> Result<Arc<Vec<Run>>> {
        let mut ids: Vec<i64> = experiment_ids
            .iter()
            .filter_map(|e| parse_experiment_id(e))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Ok(Arc::new(Vec::new()));
        }
        // Tag the snapshot with the store version seen *before* reading: a
        // write that lands during the read makes the entry stale, never wrong.
        // No version (a write in progress): read fresh and cache nothing.
        let version = self.writer.version();
        if let Some(hit) = version.and_then(|v| self.search_cache.get(&ids, view, v)) {
            return Ok(hit);
        }
        let key = ids.clone();
        let runs = self.read(move |conn| {
            let id_list = ids.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(",");
            let run_filter = format!(
                "SELECT run_uuid FROM runs WHERE experiment_id IN ({id_list}) AND lifecycle_stage IN {}",
                stages(view)
            );
            let mut stmt = conn
                .prepare(&format!(
                    "SELECT {RUN_COLUMNS} FROM runs WHERE experiment_id IN ({id_list}) AND lifecycle_stage IN {}",
                    stages(view)
                ))
                .map_err(db_err)?;
            let infos = stmt
                .query_map([], run_info_from_row)
                .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
                .map_err(db_err)?;
            let mut index: HashMap<String, usize> = HashMap::with_capacity(infos.len());
            let mut runs: Vec<Run> = Vec::with_capacity(infos.len());
            for info in infos {
                index.insert(info.run_id.clone(), runs.len());
                runs.push(Run {
                    info,
                    ..Default::default()
                });
            }
            let mut stmt = conn
                .prepare(&format!(
                    "SELECT run_uuid, key, value, is_nan, timestamp, step FROM latest_metrics
                     WHERE run_uuid IN ({run_filter}) ORDER BY run_uuid, key"
                ))
                .map_err(db_err)?;
            let mut rows = stmt.query([]).map_err(db_err)?;
            while let Some(r) = rows.next().map_err(db_err)? {
                let run_id: String = r.get(0).map_err(db_err)?;
                if let Some(&i) = index.get(&run_id) {
                    runs[i].data.metrics.push(Metric {
                        key: r.get(1).map_err(db_err)?,
                        value: decode_value(r.get(2).map_err(db_err)?, r.get(3).map_err(db_err)?),
                        timestamp: r.get(4).map_err(db_err)?,
                        step: r.get(5).map_err(db_err)?,
                        ..Default::default()
                    });
                }
            }
            for (table, is_param) in [("params", true), ("tags", false)] {
                let mut stmt = conn
                    .prepare(&format!(
                        "SELECT run_uuid, key, value FROM {table} WHERE run_uuid IN ({run_filter}) ORDER BY run_uuid, key"
                    ))
                    .map_err(db_err)?;
                let mut rows = stmt.query([]).map_err(db_err)?;
                while let Some(r) = rows.next().map_err(db_err)? {
                    let run_id: String = r.get(0).map_err(db_err)?;
                    if let Some(&i) = index.get(&run_id) {
                        let kv = Tag::new(r.get::<_, String>(1).map_err(db_err)?, r.get::<_, String>(2).map_err(db_err)?);
                        if is_param {
                            runs[i].data.params.push(kv);
                        } else {
                            runs[i].data.tags.push(kv);
                        }
                    }
                }
            }
            let inputs = load_inputs(conn, &format!("WHERE i.run_uuid IN ({run_filter})"), &[])?;
            for (run_id, run_inputs) in inputs {
                if let Some(&i) = index.get(&run_id) {
                    runs[i].inputs.dataset_inputs = run_inputs.dataset_inputs;
                }
            }
            Ok(runs)
        })
        .await?;
        let runs = Arc::new(runs);
        if let Some(version) = version {
            self.search_cache.put(key, view, version, runs.clone());
        }
        Ok(runs)
    }

    async fn create_logged_model(&self, model: NewLoggedModel) -> Result<LoggedModel> {
        self.write(move |conn| {
            let exp = require_active_experiment(conn, &model.experiment_id)?;
            let location: String = conn
                .query_row("SELECT artifact_location FROM experiments WHERE experiment_id = ?1", [exp], |r| r.get(0))
                .map_err(db_err)?;
            let artifact_uri = format!("{}/models/{}/artifacts", location.trim_end_matches('/'), model.model_id);
            conn.execute(
                "INSERT INTO logged_models (model_id, experiment_id, name, artifact_location, creation_time, last_updated_time,
                     status, lifecycle_stage, model_type, source_run_id, status_message)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5, 'LOGGED_MODEL_PENDING', 'active', ?6, ?7, NULL)",
                params![model.model_id, exp, model.name, artifact_uri, model.creation_time, model.model_type, model.source_run_id],
            )
            .map_err(db_err)?;
            for p in &model.params {
                conn.execute(
                    "INSERT INTO logged_model_params (model_id, key, value) VALUES (?1, ?2, ?3)
                     ON CONFLICT (model_id, key) DO UPDATE SET value = excluded.value",
                    params![model.model_id, p.key, p.value],
                )
                .map_err(db_err)?;
            }
            for t in &model.tags {
                conn.execute(
                    "INSERT INTO logged_model_tags (model_id, key, value) VALUES (?1, ?2, ?3)
                     ON CONFLICT (model_id, key) DO UPDATE SET value = excluded.value",
                    params![model.model_id, t.key, t.value],
                )
                .map_err(db_err)?;
            }
            load_logged_model(conn, &model.model_id)
        })
        .await
    }

    async fn get_logged_model(&self, model_id: &str) -> Result<LoggedModel> {
        let id = model_id.to_string();
        self.read(move |conn| load_logged_model(conn, &id)).await
    }

    async fn finalize_logged_model(
        &self,
        model_id: &str,
        status: LoggedModelStatus,
        now: i64,
    ) -> Result<LoggedModel> {
        let id = model_id.to_string();
        self.write(move |conn| {
            logged_model_exists(conn, &id)?;
            conn.execute(
                "UPDATE logged_models SET status = ?2, last_updated_time = ?3 WHERE model_id = ?1",
                params![id, status.as_str(), now],
            )
            .map_err(db_err)?;
            load_logged_model(conn, &id)
        })
        .await
    }

    async fn set_logged_model_tags(&self, model_id: &str, tags: Vec<Tag>, now: i64) -> Result<()> {
        let id = model_id.to_string();
        self.write(move |conn| {
            logged_model_exists(conn, &id)?;
            for t in &tags {
                conn.execute(
                    "INSERT INTO logged_model_tags (model_id, key, value) VALUES (?1, ?2, ?3)
                     ON CONFLICT (model_id, key) DO UPDATE SET value = excluded.value",
                    params![id, t.key, t.value],
                )
                .map_err(db_err)?;
            }
            conn.execute(
                "UPDATE logged_models SET last_updated_time = ?2 WHERE model_id = ?1",
                params![id, now],
            )
            .map_err(db_err)?;
            Ok(())
        })
        .await
    }

    async fn delete_logged_model_tag(&self, model_id: &str, key: &str) -> Result<()> {
        let (id, key) = (model_id.to_string(), key.to_string());
        self.write(move |conn| {
            logged_model_exists(conn, &id)?;
            let n = conn
                .execute(
                    "DELETE FROM logged_model_tags WHERE model_id = ?1 AND key = ?2",
                    params![id, key],
                )
                .map_err(db_err)?;
            if n == 0 {
                return Err(Error::not_found(format!(
                    "No tag with key '{key}' found for logged model '{id}'."
                )));
            }
            Ok(())
        })
        .await
    }

    async fn log_logged_model_params(&self, model_id: &str, params_in: Vec<Param>) -> Result<()> {
        let id = model_id.to_string();
        self.write(move |conn| {
            logged_model_exists(conn, &id)?;
            for p in &params_in {
                conn.execute(
                    "INSERT INTO logged_model_params (model_id, key, value) VALUES (?1, ?2, ?3)
                     ON CONFLICT (model_id, key) DO UPDATE SET value = excluded.value",
                    params![id, p.key, p.value],
                )
                .map_err(db_err)?;
            }
            Ok(())
        })
        .await
    }

    async fn delete_logged_model(&self, model_id: &str, now: i64) -> Result<()> {
        let id = model_id.to_string();
        self.write(move |conn| {
            logged_model_exists(conn, &id)?;
            conn.execute(
                "UPDATE logged_models SET lifecycle_stage = 'deleted', last_updated_time = ?2 WHERE model_id = ?1",
                params![id, now],
            )
            .map_err(db_err)?;
            Ok(())
        })
        .await
    }

    async fn logged_models_for_search(
        &self,
        experiment_ids: &[String],
    ) -> Result<Vec<LoggedModel>> {
        let ids: Vec<i64> = experiment_ids
            .iter()
            .filter_map(|e| parse_experiment_id(e))
            .collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.read(move |conn| {
            let id_list = ids.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(",");
            let mut stmt = conn
                .prepare(&format!(
                    "SELECT {LOGGED_MODEL_COLUMNS} FROM logged_models WHERE experiment_id IN ({id_list}) AND lifecycle_stage = 'active'"
                ))
                .map_err(db_err)?;
            let mut models = stmt
                .query_map([], logged_model_from_row)
                .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
                .map_err(db_err)?;
            fill_logged_models(conn, &mut models)?;
            Ok(models)
        })
        .await
    }
}

#[cfg(test)]
mod tests;
