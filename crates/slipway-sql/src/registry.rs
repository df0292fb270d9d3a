//! `RegistryStore` for SQLite.

use crate::{db_err, is_unique_violation, SqliteStore};
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, Row};
use slipway_core::{Error, Result};
use slipway_protocol::{ModelVersion, RegisteredModel, RegisteredModelAlias, RegistryEvent, Tag};
use slipway_registry::store::{EventDraft, NewModelVersion, RegistryStore};
use slipway_registry::Stage;
use std::collections::HashMap;

fn no_model(name: &str) -> Error {
    Error::not_found(format!("Registered Model with name={name} not found"))
}

fn no_version(name: &str, version: i64) -> Error {
    Error::not_found(format!(
        "Model Version (name={name}, version={version}) not found"
    ))
}

const VERSION_COLUMNS: &str =
    "name, version, creation_time, last_updated_time, description, user_id, current_stage, \
     source, run_id, run_link, status, status_message, model_id";

fn version_from_row(row: &Row) -> rusqlite::Result<ModelVersion> {
    Ok(ModelVersion {
        name: row.get(0)?,
        version: row.get::<_, i64>(1)?.to_string(),
        creation_timestamp: row.get(2)?,
        last_updated_timestamp: row.get(3)?,
        description: row.get(4)?,
        user_id: row.get(5)?,
        current_stage: row.get(6)?,
        source: row.get(7)?,
        run_id: row.get(8)?,
        run_link: row.get(9)?,
        status: row.get(10)?,
        status_message: row.get(11)?,
        model_id: row.get(12)?,
        tags: Vec::new(),
        aliases: Vec::new(),
    })
}

/// Versions selected by `where_clause`, with their tags and aliases.
fn load_versions(
    conn: &Connection,
    where_clause: &str,
    args: &[&dyn rusqlite::ToSql],
) -> Result<Vec<ModelVersion>> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {VERSION_COLUMNS} FROM model_versions {where_clause} ORDER BY name, version"
        ))
        .map_err(db_err)?;
    let mut versions = stmt
        .query_map(args, version_from_row)
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(db_err)?;
    if versions.is_empty() {
        return Ok(versions);
    }
    let mut tags: HashMap<(String, i64), Vec<Tag>> = HashMap::new();
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT name, version, key, value FROM model_version_tags WHERE (name, version) IN (SELECT name, version FROM model_versions {where_clause}) ORDER BY key"
        ))
        .map_err(db_err)?;
    let rows = stmt
        .query_map(args, |r| {
            Ok((
                (r.get(0)?, r.get(1)?),
                Tag::new(r.get::<_, String>(2)?, r.get::<_, String>(3)?),
            ))
        })
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<((String, i64), Tag)>>>())
        .map_err(db_err)?;
    for (k, t) in rows {
        tags.entry(k).or_default().push(t);
    }
    let mut aliases: HashMap<(String, i64), Vec<String>> = HashMap::new();
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT name, version, alias FROM registered_model_aliases WHERE (name, version) IN (SELECT name, version FROM model_versions {where_clause}) ORDER BY alias"
        ))
        .map_err(db_err)?;
    let rows = stmt
        .query_map(args, |r| {
            Ok(((r.get(0)?, r.get(1)?), r.get::<_, String>(2)?))
        })
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<((String, i64), String)>>>())
        .map_err(db_err)?;
    for (k, a) in rows {
        aliases.entry(k).or_default().push(a);
    }
    for v in &mut versions {
        let key = (v.name.clone(), v.version.parse::<i64>().unwrap_or_default());
        v.tags = tags.remove(&key).unwrap_or_default();
        v.aliases = aliases.remove(&key).unwrap_or_default();
    }
    Ok(versions)
}

fn load_version(conn: &Connection, name: &str, version: i64) -> Result<ModelVersion> {
    load_versions(conn, "WHERE name = ?1 AND version = ?2", &[&name, &version])?
        .pop()
        .ok_or_else(|| no_version(name, version))
}

fn require_model(conn: &Connection, name: &str) -> Result<()> {
    let found: Option<i64> = conn
        .prepare_cached("SELECT 1 FROM registered_models WHERE name = ?1")
        .and_then(|mut s| s.query_row([name], |r| r.get(0)).optional())
        .map_err(db_err)?;
    found.map(|_| ()).ok_or_else(|| no_model(name))
}

/// The registered model with latest version per stage, tags and aliases.
fn load_models(
    conn: &Connection,
    where_clause: &str,
    args: &[&dyn rusqlite::ToSql],
) -> Result<Vec<RegisteredModel>> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT name, creation_time, last_updated_time, description, user_id FROM registered_models {where_clause} ORDER BY name"
        ))
        .map_err(db_err)?;
    let mut models = stmt
        .query_map(args, |r| {
            Ok(RegisteredModel {
                name: r.get(0)?,
                creation_timestamp: r.get(1)?,
                last_updated_timestamp: r.get(2)?,
                description: r.get(3)?,
                user_id: r.get(4)?,
                ..Default::default()
            })
        })
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(db_err)?;
    let model_filter = format!("WHERE name IN (SELECT name FROM registered_models {where_clause})");
    let versions = load_versions(conn, &model_filter, args)?;
    let mut latest: HashMap<String, HashMap<String, ModelVersion>> = HashMap::new();
    for v in versions {
        let per_stage = latest.entry(v.name.clone()).or_default();
        let newer = per_stage.get(&v.current_stage).is_none_or(|cur| {
            cur.version.parse::<i64>().unwrap_or(0) < v.version.parse::<i64>().unwrap_or(0)
        });
        if newer {
            per_stage.insert(v.current_stage.clone(), v);
        }
    }
    let mut tags: HashMap<String, Vec<Tag>> = HashMap::new();
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT name, key, value FROM registered_model_tags {model_filter} ORDER BY key"
        ))
        .map_err(db_err)?;
    let rows = stmt
        .query_map(args, |r| {
            Ok((
                r.get::<_, String>(0)?,
                Tag::new(r.get::<_, String>(1)?, r.get::<_, String>(2)?),
            ))
        })
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(db_err)?;
    for (n, t) in rows {
        tags.entry(n).or_default().push(t);
    }
    let mut aliases: HashMap<String, Vec<RegisteredModelAlias>> = HashMap::new();
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT name, alias, version FROM registered_model_aliases {model_filter} ORDER BY alias"
        ))
        .map_err(db_err)?;
    let rows = stmt
        .query_map(args, |r| {
            Ok((
                r.get::<_, String>(0)?,
                RegisteredModelAlias {
                    alias: r.get(1)?,
                    version: r.get::<_, i64>(2)?.to_string(),
                },
            ))
        })
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(db_err)?;
    for (n, a) in rows {
        aliases.entry(n).or_default().push(a);
    }
    for m in &mut models {
        if let Some(per_stage) = latest.remove(&m.name) {
            let mut lv: Vec<ModelVersion> = per_stage.into_values().collect();
            lv.sort_by_key(|v| v.version.parse::<i64>().unwrap_or(0));
            m.latest_versions = lv;
        }
        m.tags = tags.remove(&m.name).unwrap_or_default();
        m.aliases = aliases.remove(&m.name).unwrap_or_default();
    }
    Ok(models)
}

fn load_model(conn: &Connection, name: &str) -> Result<RegisteredModel> {
    load_models(conn, "WHERE name = ?1", &[&name])?
        .pop()
        .ok_or_else(|| no_model(name))
}

/// What one event records, before the store gives it an id.
struct Change<'a> {
    kind: &'a str,
    name: &'a str,
    version: Option<String>,
    alias: Option<&'a str>,
    from: Option<String>,
    to: Option<String>,
}

fn record(conn: &Connection, draft: &EventDraft, change: Change) -> Result<RegistryEvent> {
    conn.prepare_cached(
        "INSERT INTO registry_events (timestamp, kind, name, version, alias, from_value, to_value, user_id, reason)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )
    .and_then(|mut s| {
        s.execute(params![
            draft.now,
            change.kind,
            change.name,
            change.version,
            change.alias,
            change.from,
            change.to,
            draft.user,
            draft.reason
        ])
    })
    .map_err(db_err)?;
    Ok(RegistryEvent {
        id: conn.last_insert_rowid(),
        timestamp: draft.now,
        kind: change.kind.to_string(),
        name: change.name.to_string(),
        version: change.version,
        alias: change.alias.map(str::to_string),
        from: change.from,
        to: change.to,
        user: draft.user.clone(),
        reason: draft.reason.clone(),
    })
}

fn touch_model(conn: &Connection, name: &str, now: i64) -> Result<()> {
    conn.prepare_cached("UPDATE registered_models SET last_updated_time = ?2 WHERE name = ?1")
        .and_then(|mut s| s.execute(params![name, now]))
        .map_err(db_err)?;
    Ok(())
}

fn current_stage(conn: &Connection, name: &str, version: i64) -> Result<String> {
    conn.prepare_cached("SELECT current_stage FROM model_versions WHERE name = ?1 AND version = ?2")
        .and_then(|mut s| s.query_row(params![name, version], |r| r.get(0)).optional())
        .map_err(db_err)?
        .ok_or_else(|| no_version(name, version))
}

#[async_trait]
impl RegistryStore for SqliteStore {
    async fn create_registered_model(
        &self,
        name: &str,
        tags: Vec<Tag>,
        description: Option<String>,
        draft: EventDraft,
    ) -> Result<(RegisteredModel, Vec<RegistryEvent>)> {
        let name = name.to_string();
        self.write(move |conn| {
            match conn.execute(
                "INSERT INTO registered_models (name, creation_time, last_updated_time, description, user_id) VALUES (?1, ?2, ?2, ?3, ?4)",
                params![name, draft.now, description, draft.user],
            ) {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => {
                    return Err(Error::already_exists(format!("Registered Model (name={name}) already exists.")))
                }
                Err(e) => return Err(db_err(e)),
            }
            for t in &tags {
                conn.execute(
                    "INSERT INTO registered_model_tags (name, key, value) VALUES (?1, ?2, ?3)
                     ON CONFLICT (name, key) DO UPDATE SET value = excluded.value",
                    params![name, t.key, t.value],
                )
                .map_err(db_err)?;
            }
            let event = record(
                conn,
                &draft,
                Change { kind: "registered_model_created", name: &name, version: None, alias: None, from: None, to: None },
            )?;
            Ok((load_model(conn, &name)?, vec![event]))
        })
        .await
    }

    async fn get_registered_model(&self, name: &str) -> Result<RegisteredModel> {
        let name = name.to_string();
        self.read(move |conn| load_model(conn, &name)).await
    }

    async fn list_registered_models(&self) -> Result<Vec<RegisteredModel>> {
        self.read(|conn| load_models(conn, "", &[])).await
    }

    async fn rename_registered_model(
        &self,
        name: &str,
        new_name: &str,
        draft: EventDraft,
    ) -> Result<(RegisteredModel, Vec<RegistryEvent>)> {
        let (name, new_name) = (name.to_string(), new_name.to_string());
        self.write(move |conn| {
            require_model(conn, &name)?;
            match conn.execute(
                "UPDATE registered_models SET name = ?2, last_updated_time = ?3 WHERE name = ?1",
                params![name, new_name, draft.now],
            ) {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => {
                    return Err(Error::already_exists(format!(
                        "Registered Model (name={new_name}) already exists."
                    )))
                }
                Err(e) => return Err(db_err(e)),
            }
            // The history follows the model to its new name.
            conn.execute(
                "UPDATE registry_events SET name = ?2 WHERE name = ?1",
                params![name, new_name],
            )
            .map_err(db_err)?;
            let event = record(
                conn,
                &draft,
                Change {
                    kind: "registered_model_renamed",
                    name: &new_name,
                    version: None,
                    alias: None,
                    from: Some(name.clone()),
                    to: Some(new_name.clone()),
                },
            )?;
            Ok((load_model(conn, &new_name)?, vec![event]))
        })
        .await
    }

    async fn update_registered_model(
        &self,
        name: &str,
        description: Option<String>,
        now: i64,
    ) -> Result<RegisteredModel> {
        let name = name.to_string();
        self.write(move |conn| {
            require_model(conn, &name)?;
            conn.execute(
                "UPDATE registered_models SET description = ?2, last_updated_time = ?3 WHERE name = ?1",
                params![name, description, now],
            )
            .map_err(db_err)?;
            load_model(conn, &name)
        })
        .await
    }

    async fn delete_registered_model(
        &self,
        name: &str,
        draft: EventDraft,
    ) -> Result<Vec<RegistryEvent>> {
        let name = name.to_string();
        self.write(move |conn| {
            require_model(conn, &name)?;
            conn.execute("DELETE FROM registered_models WHERE name = ?1", [&name])
                .map_err(db_err)?;
            let event = record(
                conn,
                &draft,
                Change {
                    kind: "registered_model_deleted",
                    name: &name,
                    version: None,
                    alias: None,
                    from: None,
                    to: None,
                },
            )?;
            Ok(vec![event])
        })
        .await
    }

    async fn set_registered_model_tag(&self, name: &str, tag: Tag, now: i64) -> Result<()> {
        let name = name.to_string();
        self.write(move |conn| {
            require_model(conn, &name)?;
            conn.execute(
                "INSERT INTO registered_model_tags (name, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name, key) DO UPDATE SET value = excluded.value",
                params![name, tag.key, tag.value],
            )
            .map_err(db_err)?;
            touch_model(conn, &name, now)
        })
        .await
    }

    async fn delete_registered_model_tag(&self, name: &str, key: &str) -> Result<()> {
        let (name, key) = (name.to_string(), key.to_string());
        self.write(move |conn| {
            require_model(conn, &name)?;
            conn.execute(
                "DELETE FROM registered_model_tags WHERE name = ?1 AND key = ?2",
                params![name, key],
            )
            .map_err(db_err)?;
            // Deleting a tag that is not set succeeds, as in MLflow.
            Ok(())
        })
        .await
    }

    async fn create_model_version(
        &self,
        mv: NewModelVersion,
    ) -> Result<(ModelVersion, Vec<RegistryEvent>)> {
        self.write(move |conn| {
            require_model(conn, &mv.name)?;
            let version: i64 = conn
                .query_row(
                    "UPDATE registered_models SET last_version = last_version + 1 WHERE name = ?1 RETURNING last_version",
                    [&mv.name],
                    |r| r.get(0),
                )
                .map_err(db_err)?;
            conn.execute(
                "INSERT INTO model_versions (name, version, creation_time, last_updated_time, description, user_id,
                     current_stage, source, run_id, run_link, status, status_message, model_id)
                 VALUES (?1, ?2, ?3, ?3, ?4, ?5, 'None', ?6, ?7, ?8, 'READY', NULL, ?9)",
                params![mv.name, version, mv.now, mv.description, mv.user, mv.source, mv.run_id, mv.run_link, mv.model_id],
            )
            .map_err(db_err)?;
            for t in &mv.tags {
                conn.execute(
                    "INSERT INTO model_version_tags (name, version, key, value) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (name, version, key) DO UPDATE SET value = excluded.value",
                    params![mv.name, version, t.key, t.value],
                )
                .map_err(db_err)?;
            }
            touch_model(conn, &mv.name, mv.now)?;
            let draft = EventDraft { user: mv.user.clone(), reason: None, now: mv.now };
            let event = record(
                conn,
                &draft,
                Change {
                    kind: "model_version_created",
                    name: &mv.name,
                    version: Some(version.to_string()),
                    alias: None,
                    from: None,
                    to: Some(Stage::None.as_str().to_string()),
                },
            )?;
            Ok((load_version(conn, &mv.name, version)?, vec![event]))
        })
        .await
    }

    async fn get_model_version(&self, name: &str, version: i64) -> Result<ModelVersion> {
        let name = name.to_string();
        self.read(move |conn| load_version(conn, &name, version))
            .await
    }

    async fn list_model_versions(&self, name: Option<&str>) -> Result<Vec<ModelVersion>> {
        let name = name.map(str::to_string);
        self.read(move |conn| match &name {
            Some(n) => load_versions(conn, "WHERE name = ?1", &[n]),
            None => load_versions(conn, "", &[]),
        })
        .await
    }

    async fn update_model_version(
        &self,
        name: &str,
        version: i64,
        description: Option<String>,
        now: i64,
    ) -> Result<ModelVersion> {
        let name = name.to_string();
        self.write(move |conn| {
            current_stage(conn, &name, version)?;
            conn.execute(
                "UPDATE model_versions SET description = ?3, last_updated_time = ?4 WHERE name = ?1 AND version = ?2",
                params![name, version, description, now],
            )
            .map_err(db_err)?;
            load_version(conn, &name, version)
        })
        .await
    }

    async fn transition_stage(
        &self,
        name: &str,
        version: i64,
        stage: Stage,
        archive_existing: bool,
        draft: EventDraft,
    ) -> Result<(ModelVersion, Vec<RegistryEvent>)> {
        let name = name.to_string();
        self.write(move |conn| {
            let from = current_stage(conn, &name, version)?;
            let mut events = Vec::new();
            // Runs inside the writer's transaction: no other transition can interleave,
            // so at most one version ends up in the target stage when archiving.
            if archive_existing && matches!(stage, Stage::Staging | Stage::Production) {
                let mut stmt = conn
                    .prepare_cached("SELECT version FROM model_versions WHERE name = ?1 AND current_stage = ?2 AND version != ?3")
                    .map_err(db_err)?;
                let others = stmt
                    .query_map(params![name, stage.as_str(), version], |r| r.get::<_, i64>(0))
                    .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
                    .map_err(db_err)?;
                for other in others {
                    conn.execute(
                        "UPDATE model_versions SET current_stage = 'Archived', last_updated_time = ?3 WHERE name = ?1 AND version = ?2",
                        params![name, other, draft.now],
                    )
                    .map_err(db_err)?;
                    events.push(record(
                        conn,
                        &draft,
                        Change {
                            kind: "stage_transitioned",
                            name: &name,
                            version: Some(other.to_string()),
                            alias: None,
                            from: Some(stage.as_str().to_string()),
                            to: Some(Stage::Archived.as_str().to_string()),
                        },
                    )?);
                }
            }
            conn.execute(
                "UPDATE model_versions SET current_stage = ?3, last_updated_time = ?4 WHERE name = ?1 AND version = ?2",
                params![name, version, stage.as_str(), draft.now],
            )
            .map_err(db_err)?;
            touch_model(conn, &name, draft.now)?;
            events.push(record(
                conn,
                &draft,
                Change {
                    kind: "stage_transitioned",
                    name: &name,
                    version: Some(version.to_string()),
                    alias: None,
                    from: Some(from),
                    to: Some(stage.as_str().to_string()),
                },
            )?);
            Ok((load_version(conn, &name, version)?, events))
        })
        .await
    }

    async fn delete_model_version(
        &self,
        name: &str,
        version: i64,
        draft: EventDraft,
    ) -> Result<Vec<RegistryEvent>> {
        let name = name.to_string();
        self.write(move |conn| {
            let from = current_stage(conn, &name, version)?;
            let mut events = Vec::new();
            let mut stmt = conn
                .prepare_cached(
                    "SELECT alias FROM registered_model_aliases WHERE name = ?1 AND version = ?2",
                )
                .map_err(db_err)?;
            let aliases = stmt
                .query_map(params![name, version], |r| r.get::<_, String>(0))
                .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
                .map_err(db_err)?;
            for alias in &aliases {
                conn.execute(
                    "DELETE FROM registered_model_aliases WHERE name = ?1 AND alias = ?2",
                    params![name, alias],
                )
                .map_err(db_err)?;
                events.push(record(
                    conn,
                    &draft,
                    Change {
                        kind: "alias_deleted",
                        name: &name,
                        version: Some(version.to_string()),
                        alias: Some(alias),
                        from: Some(version.to_string()),
                        to: None,
                    },
                )?);
            }
            conn.execute(
                "DELETE FROM model_versions WHERE name = ?1 AND version = ?2",
                params![name, version],
            )
            .map_err(db_err)?;
            touch_model(conn, &name, draft.now)?;
            events.push(record(
                conn,
                &draft,
                Change {
                    kind: "model_version_deleted",
                    name: &name,
                    version: Some(version.to_string()),
                    alias: None,
                    from: Some(from),
                    to: None,
                },
            )?);
            Ok(events)
        })
        .await
    }

    async fn set_model_version_tag(
        &self,
        name: &str,
        version: i64,
        tag: Tag,
        now: i64,
    ) -> Result<()> {
        let name = name.to_string();
        self.write(move |conn| {
            current_stage(conn, &name, version)?;
            conn.execute(
                "INSERT INTO model_version_tags (name, version, key, value) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (name, version, key) DO UPDATE SET value = excluded.value",
                params![name, version, tag.key, tag.value],
            )
            .map_err(db_err)?;
            conn.execute(
                "UPDATE model_versions SET last_updated_time = ?3 WHERE name = ?1 AND version = ?2",
                params![name, version, now],
            )
            .map_err(db_err)?;
            Ok(())
        })
        .await
    }

    async fn delete_model_version_tag(&self, name: &str, version: i64, key: &str) -> Result<()> {
        let (name, key) = (name.to_string(), key.to_string());
        self.write(move |conn| {
            current_stage(conn, &name, version)?;
            conn.execute(
                "DELETE FROM model_version_tags WHERE name = ?1 AND version = ?2 AND key = ?3",
                params![name, version, key],
            )
            .map_err(db_err)?;
            // Deleting a tag that is not set succeeds, as in MLflow.
            Ok(())
        })
        .await
    }

    async fn set_alias(
        &self,
        name: &str,
        alias: &str,
        version: i64,
        draft: EventDraft,
    ) -> Result<Vec<RegistryEvent>> {
        let (name, alias) = (name.to_string(), alias.to_string());
        self.write(move |conn| {
            require_model(conn, &name)?;
            current_stage(conn, &name, version)?;
            let previous: Option<i64> = conn
                .query_row(
                    "SELECT version FROM registered_model_aliases WHERE name = ?1 AND alias = ?2",
                    params![name, alias],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db_err)?;
            conn.execute(
                "INSERT INTO registered_model_aliases (name, alias, version) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version",
                params![name, alias, version],
            )
            .map_err(db_err)?;
            touch_model(conn, &name, draft.now)?;
            let event = record(
                conn,
                &draft,
                Change {
                    kind: "alias_set",
                    name: &name,
                    version: Some(version.to_string()),
                    alias: Some(&alias),
                    from: previous.map(|v| v.to_string()),
                    to: Some(version.to_string()),
                },
            )?;
            Ok(vec![event])
        })
        .await
    }

    async fn delete_alias(
        &self,
        name: &str,
        alias: &str,
        draft: EventDraft,
    ) -> Result<Vec<RegistryEvent>> {
        let (name, alias) = (name.to_string(), alias.to_string());
        self.write(move |conn| {
            require_model(conn, &name)?;
            let previous: Option<i64> = conn
                .query_row(
                    "SELECT version FROM registered_model_aliases WHERE name = ?1 AND alias = ?2",
                    params![name, alias],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db_err)?;
            // Deleting an alias that is not there succeeds, as in MLflow.
            let Some(previous) = previous else {
                return Ok(Vec::new());
            };
            conn.execute(
                "DELETE FROM registered_model_aliases WHERE name = ?1 AND alias = ?2",
                params![name, alias],
            )
            .map_err(db_err)?;
            let event = record(
                conn,
                &draft,
                Change {
                    kind: "alias_deleted",
                    name: &name,
                    version: Some(previous.to_string()),
                    alias: Some(&alias),
                    from: Some(previous.to_string()),
                    to: None,
                },
            )?;
            Ok(vec![event])
        })
        .await
    }

    async fn get_version_by_alias(&self, name: &str, alias: &str) -> Result<ModelVersion> {
        let (name, alias) = (name.to_string(), alias.to_string());
        self.read(move |conn| {
            require_model(conn, &name)?;
            let version: Option<i64> = conn
                .query_row(
                    "SELECT version FROM registered_model_aliases WHERE name = ?1 AND alias = ?2",
                    params![name, alias],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db_err)?;
            let version = version.ok_or_else(|| {
                Error::invalid(format!("Registered model alias {alias} not found."))
            })?;
            load_version(conn, &name, version)
        })
        .await
    }

    async fn events(
        &self,
        name: Option<&str>,
        after: i64,
        limit: usize,
    ) -> Result<Vec<RegistryEvent>> {
        let name = name.map(str::to_string);
        self.read(move |conn| {
            let sql = "SELECT id, timestamp, kind, name, version, alias, from_value, to_value, user_id, reason
                       FROM registry_events WHERE id > ?1 AND (?2 IS NULL OR name = ?2) ORDER BY id LIMIT ?3";
            let mut stmt = conn.prepare_cached(sql).map_err(db_err)?;
            let rows = stmt
                .query_map(params![after, name, limit as i64], |r| {
                    Ok(RegistryEvent {
                        id: r.get(0)?,
                        timestamp: r.get(1)?,
                        kind: r.get(2)?,
                        name: r.get(3)?,
                        version: r.get(4)?,
                        alias: r.get(5)?,
                        from: r.get(6)?,
                        to: r.get(7)?,
                        user: r.get(8)?,
                        reason: r.get(9)?,
                    })
                })
                .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
                .map_err(db_err)?;
            Ok(rows)
        })
        .await
    }
}
