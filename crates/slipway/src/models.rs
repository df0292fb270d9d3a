//! `slipway models ...`: the model registry from the terminal.
//!
//! Like the other commands, each returns its whole output as a string and
//! `main` writes it. `--json` prints MLflow's JSON shapes where MLflow has
//! one (`registered_model`, `model_versions`, `model_version`), and the
//! Slipway endpoints' own JSON for history, lineage and resolve.

use crate::fmt;
use crate::UsageError;
use comfy_table::{Cell, CellAlignment};
use serde_json::json;
use slipway_client::{
    ErrorCode, Lineage, ModelVersion, RegisteredModel, RegistryEvent, ResolvedModel, Run,
    SearchRegistry, SlipwayClient,
};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Stages in the order the tables list them.
const STAGE_ORDER: [&str; 4] = ["Production", "Staging", "None", "Archived"];
/// Above this many models, `models list` reads every version in one search
/// instead of one search per model.
const PER_MODEL_QUERIES_MAX: usize = 20;
/// Metrics and params `models lineage` shows for the run.
const LINEAGE_KEYS_MAX: usize = 8;

fn pretty(v: &serde_json::Value) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(v)? + "\n")
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn version_number(v: &ModelVersion) -> i64 {
    v.version.parse().unwrap_or(0)
}

/// `name = '…'` for a registry search, or `None` when the name holds both
/// quote characters (MLflow's filter syntax has no escapes).
fn name_filter(name: &str) -> Option<String> {
    if !name.contains('\'') {
        Some(format!("name = '{name}'"))
    } else if !name.contains('"') {
        Some(format!("name = \"{name}\""))
    } else {
        None
    }
}

/// Every version of model `name`, newest first.
async fn versions_of(client: &SlipwayClient, name: &str) -> anyhow::Result<Vec<ModelVersion>> {
    let mut versions = match name_filter(name) {
        Some(filter) => {
            client
                .search_model_versions_all(SearchRegistry {
                    filter: Some(filter),
                    ..Default::default()
                })
                .await?
        }
        None => {
            let mut all = client
                .search_model_versions_all(SearchRegistry::default())
                .await?;
            all.retain(|v| v.name == name);
            all
        }
    };
    versions.sort_by_key(|v| std::cmp::Reverse(version_number(v)));
    Ok(versions)
}

/// Errors of Slipway-only endpoints, explained when the server lacks them.
fn slipway_only(err: slipway_client::Error, what: &str) -> anyhow::Error {
    if err.code() == Some(ErrorCode::EndpointNotFound) {
        anyhow::anyhow!(
            "this tracking server does not serve {what} (a Slipway extension under \
             /api/2.0/slipway/registry/; is it `mlflow server`?). Run `slipway server`."
        )
    } else {
        err.into()
    }
}

/// `Production 1, Staging 1, None 3` (stages with no versions left out).
fn stage_counts(versions: &[&ModelVersion]) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for v in versions {
        *counts.entry(v.current_stage.as_str()).or_default() += 1;
    }
    let mut parts: Vec<String> = STAGE_ORDER
        .iter()
        .filter_map(|s| counts.remove(s).map(|n| format!("{s} {n}")))
        .collect();
    // A stage this CLI does not know (another server's): still counted.
    parts.extend(counts.into_iter().map(|(s, n)| format!("{s} {n}")));
    parts.join(", ")
}

/// `champion→3, challenger→4`, sorted by alias.
fn alias_list(model: &RegisteredModel) -> String {
    let mut aliases: Vec<_> = model.aliases.iter().collect();
    aliases.sort_by(|a, b| a.alias.cmp(&b.alias));
    aliases
        .iter()
        .map(|a| format!("{}→{}", a.alias, a.version))
        .collect::<Vec<_>>()
        .join(", ")
}

fn when(ms: Option<i64>, now: i64) -> String {
    ms.map_or("-".into(), |ms| fmt::ago(ms, now))
}

fn when_long(ms: i64, now: i64) -> String {
    format!("{} ({})", fmt::datetime(ms), fmt::ago(ms, now))
}

fn or_dash(s: Option<&str>) -> String {
    match s {
        Some(s) if !s.is_empty() => s.to_string(),
        _ => "-".into(),
    }
}

// ---------------------------------------------------------------------
// models list
// ---------------------------------------------------------------------

pub async fn list(
    client: &SlipwayClient,
    filter: Option<String>,
    json: bool,
) -> anyhow::Result<String> {
    let filter = filter.filter(|f| !f.trim().is_empty());
    let models = client
        .search_registered_models_all(SearchRegistry {
            filter: filter.clone(),
            order_by: vec!["name ASC".into()],
            ..Default::default()
        })
        .await?;
    if json {
        return pretty(&json!({ "registered_models": models }));
    }
    let mut out = String::new();
    if models.is_empty() {
        let matching = if filter.is_some() {
            " matching the filter"
        } else {
            ""
        };
        writeln!(out, "No registered models{matching}.")?;
        if filter.is_none() {
            writeln!(
                out,
                "Register one with `slipway models register --run-id RUN_ID --name NAME`."
            )?;
        }
        return Ok(out);
    }

    // Versions of the listed models, grouped by name.
    let mut by_model: BTreeMap<String, Vec<ModelVersion>> = BTreeMap::new();
    if models.len() <= PER_MODEL_QUERIES_MAX {
        for m in &models {
            by_model.insert(m.name.clone(), versions_of(client, &m.name).await?);
        }
    } else {
        for v in client
            .search_model_versions_all(SearchRegistry::default())
            .await?
        {
            by_model.entry(v.name.clone()).or_default().push(v);
        }
    }

    let now = slipway_core::now_millis();
    let mut t = fmt::table();
    t.set_header(["NAME", "LATEST", "VERSIONS BY STAGE", "ALIASES", "UPDATED"]);
    for m in &models {
        let versions: Vec<&ModelVersion> = by_model
            .get(&m.name)
            .map(|v| v.iter().collect())
            .unwrap_or_default();
        let latest = versions
            .iter()
            .map(|v| version_number(v))
            .max()
            .map_or("-".into(), |v| v.to_string());
        t.add_row([
            Cell::new(&m.name),
            Cell::new(latest).set_alignment(CellAlignment::Right),
            Cell::new(if versions.is_empty() {
                "-".into()
            } else {
                stage_counts(&versions)
            }),
            Cell::new(or_dash(Some(&alias_list(m)))),
            Cell::new(when(m.last_updated_timestamp, now)),
        ]);
    }
    writeln!(out, "{t}")?;
    writeln!(
        out,
        "{}",
        plural(models.len(), "registered model", "registered models")
    )?;
    Ok(out)
}

// ---------------------------------------------------------------------
// models show
// ---------------------------------------------------------------------

pub async fn show(client: &SlipwayClient, name: &str, json: bool) -> anyhow::Result<String> {
    let model = client.get_registered_model(name).await?;
    let versions = versions_of(client, &model.name).await?;
    if json {
        return pretty(&json!({ "registered_model": model, "model_versions": versions }));
    }
    let now = slipway_core::now_millis();
    let mut out = String::new();
    writeln!(out, "Registered model {}", model.name)?;
    let mut fields: Vec<(&str, String)> = Vec::new();
    if let Some(c) = model.creation_timestamp {
        let by = model
            .user_id
            .as_deref()
            .filter(|u| !u.is_empty())
            .map(|u| format!(" by {u}"))
            .unwrap_or_default();
        fields.push(("created", format!("{}{by}", when_long(c, now))));
    }
    if let Some(u) = model.last_updated_timestamp {
        fields.push(("updated", when_long(u, now)));
    }
    if let Some(d) = model.description.as_deref().filter(|d| !d.is_empty()) {
        fields.push(("description", d.to_string()));
    }
    let refs: Vec<&ModelVersion> = versions.iter().collect();
    fields.push((
        "versions",
        if versions.is_empty() {
            "none yet".into()
        } else {
            format!(
                "{} (latest {}): {}",
                versions.len(),
                versions[0].version,
                stage_counts(&refs)
            )
        },
    ));
    for (k, v) in fields {
        writeln!(out, "  {k:<13}{v}")?;
    }

    let mut tags = model.tags.clone();
    tags.sort_by(|a, b| a.key.cmp(&b.key));
    writeln!(out)?;
    writeln!(out, "Tags ({})", tags.len())?;
    if !tags.is_empty() {
        let mut t = fmt::table();
        t.set_header(["KEY", "VALUE"]);
        for tag in &tags {
            t.add_row([tag.key.clone(), fmt::truncate(&tag.value, 200)]);
        }
        writeln!(out, "{t}")?;
    }

    let mut aliases = model.aliases.clone();
    aliases.sort_by(|a, b| a.alias.cmp(&b.alias));
    writeln!(out)?;
    writeln!(out, "Aliases ({})", aliases.len())?;
    if !aliases.is_empty() {
        let mut t = fmt::table();
        t.set_header(["ALIAS", "VERSION", "URI"]);
        for a in &aliases {
            t.add_row([
                a.alias.clone(),
                a.version.clone(),
                format!("models:/{}@{}", model.name, a.alias),
            ]);
        }
        writeln!(out, "{t}")?;
    }

    writeln!(out)?;
    writeln!(out, "Versions ({})", versions.len())?;
    if !versions.is_empty() {
        let mut t = fmt::table();
        t.set_header([
            "VERSION", "STAGE", "ALIASES", "RUN ID", "SOURCE", "CREATED", "BY",
        ]);
        for v in &versions {
            let mut aliases = v.aliases.clone();
            aliases.sort();
            t.add_row([
                Cell::new(&v.version).set_alignment(CellAlignment::Right),
                Cell::new(&v.current_stage),
                Cell::new(or_dash(Some(&aliases.join(", ")))),
                Cell::new(or_dash(v.run_id.as_deref())),
                Cell::new(&v.source),
                Cell::new(when(v.creation_timestamp, now)),
                Cell::new(or_dash(v.user_id.as_deref())),
            ]);
        }
        writeln!(out, "{t}")?;
    }
    Ok(out)
}

// ---------------------------------------------------------------------
// models register
// ---------------------------------------------------------------------

pub struct Register {
    pub run_id: String,
    pub path: String,
    pub name: String,
    pub description: Option<String>,
}

/// The run's MLflow 3 logged model named `path`, if any: Slipway's resolver
/// first, else (on `mlflow server`) the run's model outputs.
async fn logged_model_for(
    client: &SlipwayClient,
    run: &Run,
    path: &str,
) -> anyhow::Result<Option<String>> {
    let uri = format!("runs:/{}/{path}", run.info.run_id);
    match client.resolve_model_uri(&uri).await {
        Ok(r) => return Ok(r.model_id),
        Err(e) if e.code() == Some(ErrorCode::EndpointNotFound) => {}
        Err(e) => return Err(e.into()),
    }
    for output in &run.outputs.model_outputs {
        match client.get_logged_model(&output.model_id).await {
            Ok(m) if m.info.name == path => return Ok(Some(m.info.model_id)),
            Ok(_) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(None)
}

pub async fn register(client: &SlipwayClient, req: Register, json: bool) -> anyhow::Result<String> {
    let run_id = req.run_id.trim();
    if run_id.is_empty() || run_id.contains('/') {
        return Err(UsageError::new(format!("invalid --run-id '{}'", req.run_id)).into());
    }
    let path = req.path.trim_matches('/');
    if path.is_empty() || path.split('/').any(|s| s == "." || s == "..") || path.contains('\\') {
        return Err(UsageError::new(format!(
            "invalid --path '{}': a path inside the run's artifacts, e.g. 'model'",
            req.path
        ))
        .into());
    }
    if req.name.trim().is_empty() {
        return Err(UsageError::new("--name cannot be empty").into());
    }
    // The run first: a typo'd run id must not leave an empty registered model behind.
    let run = client.get_run(run_id).await?;
    let model_id = logged_model_for(client, &run, path).await?;

    let created = match client.create_registered_model(&req.name).await {
        Ok(_) => true,
        Err(e) if e.is_already_exists() => false,
        Err(e) => return Err(e.into()),
    };
    let source = match &model_id {
        Some(id) => format!("models:/{id}"),
        None => format!("runs:/{run_id}/{path}"),
    };
    let mv = client
        .create_model_version_with(slipway_client::CreateModelVersion {
            name: req.name.clone(),
            source,
            run_id: Some(run_id.to_string()),
            description: req.description.clone().filter(|d| !d.is_empty()),
            model_id: model_id.clone(),
            ..Default::default()
        })
        .await?;
    if json {
        return pretty(&json!({ "model_version": mv }));
    }
    let mut out = String::new();
    if created {
        writeln!(out, "Created registered model '{}'.", mv.name)?;
    }
    writeln!(out, "Registered '{}' version {}", mv.name, mv.version)?;
    writeln!(out, "  {:<10}{}", "source", mv.source)?;
    writeln!(out, "  {:<10}{run_id}", "run")?;
    if let Some(id) = &mv.model_id {
        writeln!(out, "  {:<10}{id}", "model id")?;
    }
    writeln!(out, "  {:<10}{}", "stage", mv.current_stage)?;
    writeln!(out, "  {:<10}models:/{}/{}", "uri", mv.name, mv.version)?;
    writeln!(out)?;
    writeln!(out, "Next:")?;
    let name = shell_word(&mv.name);
    writeln!(out, "  slipway models alias {name} champion {}", mv.version)?;
    writeln!(
        out,
        "  slipway models stage {name} {} Staging --reason \"...\"",
        mv.version
    )?;
    Ok(out)
}

/// Quotes `s` for a shell when it needs it.
fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

// ---------------------------------------------------------------------
// models stage
// ---------------------------------------------------------------------

pub struct StageChange {
    pub name: String,
    pub version: String,
    pub stage: String,
    pub archive_existing: bool,
    pub reason: Option<String>,
}

pub async fn stage(client: &SlipwayClient, req: StageChange, json: bool) -> anyhow::Result<String> {
    let before = client.get_model_version(&req.name, &req.version).await?;
    // Which versions --archive-existing will move (the server only returns this one).
    let archived: Vec<String> = if req.archive_existing && req.stage != "Archived" {
        let mut others: Vec<&ModelVersion> = Vec::new();
        let all = versions_of(client, &req.name).await?;
        others.extend(
            all.iter()
                .filter(|v| v.current_stage == req.stage && v.version != req.version),
        );
        others.sort_by_key(|v| version_number(v));
        others.iter().map(|v| v.version.clone()).collect()
    } else {
        Vec::new()
    };
    let reason = req.reason.as_deref().filter(|r| !r.trim().is_empty());
    let mv = client
        .transition_model_version_stage(
            &req.name,
            &req.version,
            &req.stage,
            req.archive_existing,
            reason,
        )
        .await?;
    if json {
        return pretty(&json!({ "model_version": mv }));
    }
    let mut out = String::new();
    writeln!(
        out,
        "'{}' version {}: {} → {}",
        mv.name, mv.version, before.current_stage, mv.current_stage
    )?;
    if !archived.is_empty() {
        writeln!(
            out,
            "  archived {} {} (were {})",
            if archived.len() == 1 {
                "version"
            } else {
                "versions"
            },
            archived.join(", "),
            req.stage
        )?;
    }
    if let Some(r) = reason {
        writeln!(out, "  reason: {r}")?;
    }
    Ok(out)
}

// ---------------------------------------------------------------------
// models alias
// ---------------------------------------------------------------------

/// The version `alias` points at now, if it exists.
async fn current_alias_target(
    client: &SlipwayClient,
    name: &str,
    alias: &str,
) -> anyhow::Result<Option<String>> {
    match client.get_model_version_by_alias(name, alias).await {
        Ok(v) => Ok(Some(v.version)),
        // An unknown alias is INVALID_PARAMETER_VALUE (MLflow's answer); an
        // unknown model stays an error.
        Err(e) if e.code() == Some(ErrorCode::InvalidParameterValue) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

pub async fn alias_set(
    client: &SlipwayClient,
    name: &str,
    alias: &str,
    version: &str,
    json: bool,
) -> anyhow::Result<String> {
    let previous = current_alias_target(client, name, alias).await?;
    client
        .set_registered_model_alias(name, alias, version)
        .await?;
    if json {
        return pretty(&json!({
            "name": name, "alias": alias, "version": version, "previous_version": previous,
        }));
    }
    let was = match previous.as_deref() {
        Some(p) if p == version => " (unchanged)".to_string(),
        Some(p) => format!(" (was version {p})"),
        None => " (new alias)".to_string(),
    };
    Ok(format!("models:/{name}@{alias} → version {version}{was}\n"))
}

pub async fn alias_delete(
    client: &SlipwayClient,
    name: &str,
    alias: &str,
    json: bool,
) -> anyhow::Result<String> {
    // MLflow deletes an unknown alias without a word; tell the user instead.
    let Some(previous) = current_alias_target(client, name, alias).await? else {
        anyhow::bail!(
            "INVALID_PARAMETER_VALUE: model '{name}' has no alias '{alias}' (see `slipway models show {}`)",
            shell_word(name)
        );
    };
    client.delete_registered_model_alias(name, alias).await?;
    if json {
        return pretty(&json!({
            "name": name, "alias": alias, "deleted": true, "previous_version": previous,
        }));
    }
    Ok(format!(
        "Deleted alias '{alias}' of '{name}' (pointed at version {previous})\n"
    ))
}

// ---------------------------------------------------------------------
// models history
// ---------------------------------------------------------------------

/// `None → Staging`, `@champion 1 → 2`, `→ None`, `@champion 2 → (removed)`.
fn change(e: &RegistryEvent) -> String {
    let arrow = match (e.from.as_deref(), e.to.as_deref()) {
        (Some(f), Some(t)) => format!("{f} → {t}"),
        (Some(f), None) => format!("{f} → (removed)"),
        (None, Some(t)) => format!("→ {t}"),
        (None, None) => String::new(),
    };
    match e.alias.as_deref() {
        Some(a) if arrow.is_empty() => format!("@{a}"),
        Some(a) => format!("@{a} {arrow}"),
        None => arrow,
    }
}

pub async fn history(
    client: &SlipwayClient,
    name: &str,
    last: Option<usize>,
    json: bool,
) -> anyhow::Result<String> {
    let mut events = client
        .registry_events_all(Some(name))
        .await
        .map_err(|e| slipway_only(e, "the registry event history"))?;
    if events.is_empty() {
        // No history: say why (an unknown model is an error).
        client.get_registered_model(name).await?;
    }
    let total = events.len();
    if let Some(n) = last {
        events.drain(..total.saturating_sub(n));
    }
    if json {
        return pretty(&json!({ "events": events }));
    }
    let mut out = String::new();
    if events.is_empty() {
        writeln!(out, "No recorded changes for '{name}'.")?;
        return Ok(out);
    }
    let mut t = fmt::table();
    t.set_header(["WHEN", "WHO", "KIND", "VERSION", "FROM → TO", "REASON"]);
    for e in &events {
        t.add_row([
            Cell::new(fmt::datetime(e.timestamp)),
            Cell::new(or_dash(e.user.as_deref())),
            Cell::new(&e.kind),
            Cell::new(or_dash(e.version.as_deref())).set_alignment(CellAlignment::Right),
            Cell::new(change(e)),
            Cell::new(fmt::truncate(e.reason.as_deref().unwrap_or(""), 80)),
        ]);
    }
    writeln!(out, "{t}")?;
    if events.len() < total {
        writeln!(out, "last {} of {total} events for '{name}'", events.len())?;
    } else {
        writeln!(out, "{} for '{name}'", plural(total, "event", "events"))?;
    }
    Ok(out)
}

// ---------------------------------------------------------------------
// models lineage
// ---------------------------------------------------------------------

/// `k=v, k=v (+3 more)` from sorted pairs.
fn key_values(mut pairs: Vec<(String, String)>) -> String {
    pairs.sort();
    let extra = pairs.len().saturating_sub(LINEAGE_KEYS_MAX);
    let mut s = pairs
        .iter()
        .take(LINEAGE_KEYS_MAX)
        .map(|(k, v)| format!("{k}={}", fmt::truncate(v, 40)))
        .collect::<Vec<_>>()
        .join(", ");
    if extra > 0 {
        write!(s, " (+{extra} more)").ok();
    }
    s
}

/// A tree printer: `├─`/`└─` branches with `│` continuation.
struct Tree {
    out: String,
}

impl Tree {
    /// A node line under `prefix`, and the prefix its children use.
    fn node(&mut self, prefix: &str, last: bool, text: &str) -> String {
        let (branch, cont) = if last {
            ("└─ ", "   ")
        } else {
            ("├─ ", "│  ")
        };
        let _ = writeln!(self.out, "{prefix}{branch}{text}");
        format!("{prefix}{cont}")
    }

    /// A `key  value` detail line under a node.
    fn detail(&mut self, prefix: &str, has_children: bool, key: &str, value: &str) {
        let bar = if has_children { "│  " } else { "   " };
        let _ = writeln!(self.out, "{prefix}{bar}{key:<13}{value}");
    }
}

pub async fn lineage(
    client: &SlipwayClient,
    name: &str,
    version: &str,
    json: bool,
) -> anyhow::Result<String> {
    let l: Lineage = client
        .model_version_lineage(name, version)
        .await
        .map_err(|e| slipway_only(e, "model lineage"))?;
    if json {
        return pretty(&serde_json::to_value(&l)?);
    }
    let now = slipway_core::now_millis();
    let mv = &l.model_version;
    let mut tree = Tree { out: String::new() };

    // The version itself.
    let mut aliases = mv.aliases.clone();
    aliases.sort();
    let alias_text = if aliases.is_empty() {
        String::new()
    } else {
        format!(
            " {}",
            aliases
                .iter()
                .map(|a| format!("@{a}"))
                .collect::<Vec<_>>()
                .join(" ")
        )
    };
    writeln!(
        tree.out,
        "Model version {} v{} [{}]{alias_text}",
        mv.name, mv.version, mv.current_stage
    )?;
    let has_run_branch = true;
    tree.detail("", has_run_branch, "source", &mv.source);
    if let Some(c) = mv.creation_timestamp {
        let by = mv
            .user_id
            .as_deref()
            .filter(|u| !u.is_empty())
            .map(|u| format!(" by {u}"))
            .unwrap_or_default();
        tree.detail(
            "",
            has_run_branch,
            "registered",
            &format!("{}{by}", when_long(c, now)),
        );
    }
    if let Some(d) = mv.description.as_deref().filter(|d| !d.is_empty()) {
        tree.detail("", has_run_branch, "description", d);
    }

    // Its run.
    let Some(run) = &l.run else {
        let why = match mv.run_id.as_deref() {
            Some(id) => format!("Run {id}: not found (deleted?)"),
            None => "Run: none recorded (the version was registered without a run)".to_string(),
        };
        tree.node("", l.logged_model.is_none(), &why);
        if let Some(m) = &l.logged_model {
            logged_model_node(&mut tree, "", true, m);
        }
        return Ok(tree.out);
    };
    let info = &run.info;
    let run_name = if info.run_name.is_empty() {
        String::new()
    } else {
        format!(" ({})", info.run_name)
    };
    let p = tree.node("", true, &format!("Run {}{run_name}", info.run_id));
    let has_children = true; // logged model and/or datasets follow
    let experiment = match client.get_experiment(&info.experiment_id).await {
        Ok(e) => format!("{} (id {})", e.name, e.experiment_id),
        Err(_) => format!("id {}", info.experiment_id),
    };
    tree.detail(&p, has_children, "experiment", &experiment);
    let mut status = info.status.as_str().to_string();
    if let Some(s) = info.start_time {
        write!(status, ", started {}", fmt::datetime(s))?;
        if let Some(e) = info.end_time {
            write!(status, ", took {}", fmt::duration(e - s))?;
        }
    }
    tree.detail(&p, has_children, "status", &status);
    if !info.user_id.is_empty() {
        tree.detail(&p, has_children, "user", &info.user_id);
    }
    let metrics = key_values(
        run.data
            .metrics
            .iter()
            .map(|m| (m.key.clone(), fmt::number(m.value)))
            .collect(),
    );
    tree.detail(&p, has_children, "metrics", &or_dash(Some(&metrics)));
    let params = key_values(
        run.data
            .params
            .iter()
            .map(|p| (p.key.clone(), p.value.clone()))
            .collect(),
    );
    tree.detail(&p, has_children, "params", &or_dash(Some(&params)));

    // The logged model (MLflow 3), then the training data.
    if let Some(m) = &l.logged_model {
        logged_model_node(&mut tree, &p, false, m);
    }
    let dp = tree.node(&p, true, &format!("Datasets ({})", l.datasets.len()));
    if l.datasets.is_empty() {
        writeln!(tree.out, "{dp}(the run logged no dataset inputs)")?;
    }
    for (i, d) in l.datasets.iter().enumerate() {
        let last = i + 1 == l.datasets.len();
        let context = d
            .tags
            .iter()
            .find(|t| t.key == "mlflow.data.context")
            .map(|t| format!(" [{}]", t.value))
            .unwrap_or_default();
        let np = tree.node(&dp, last, &format!("{}{context}", d.dataset.name));
        tree.detail(&np, false, "digest", &or_dash(Some(&d.dataset.digest)));
        let source = if d.dataset.source_type.is_empty() {
            d.dataset.source.clone()
        } else {
            format!("{} ({})", d.dataset.source, d.dataset.source_type)
        };
        tree.detail(
            &np,
            false,
            "source",
            &or_dash(Some(&fmt::truncate(&source, 100))),
        );
    }
    Ok(tree.out)
}

fn logged_model_node(tree: &mut Tree, prefix: &str, last: bool, m: &slipway_client::LoggedModel) {
    let name = if m.info.name.is_empty() {
        String::new()
    } else {
        format!(" ({})", m.info.name)
    };
    let p = tree.node(
        prefix,
        last,
        &format!("Logged model {}{name}", m.info.model_id),
    );
    let wire = m.info.status.as_str();
    let mut status = wire
        .strip_prefix("LOGGED_MODEL_")
        .unwrap_or(wire)
        .to_string();
    if let Some(t) = m.info.model_type.as_deref().filter(|t| !t.is_empty()) {
        write!(status, ", type {t}").ok();
    }
    tree.detail(&p, false, "status", &status);
    tree.detail(&p, false, "artifacts", &m.info.artifact_uri);
}

// ---------------------------------------------------------------------
// models resolve
// ---------------------------------------------------------------------

pub async fn resolve(client: &SlipwayClient, uri: &str, json: bool) -> anyhow::Result<String> {
    let uri = uri.trim();
    if !(uri.starts_with("models:/") || uri.starts_with("runs:/")) {
        return Err(UsageError::new(format!(
            "'{uri}' is not a model URI: expected models:/NAME/VERSION, models:/NAME/STAGE, \
             models:/NAME/latest, models:/NAME@ALIAS, models:/m-ID or runs:/RUN_ID/PATH"
        ))
        .into());
    }
    let r: ResolvedModel = client
        .resolve_model_uri(uri)
        .await
        .map_err(|e| slipway_only(e, "model URI resolution"))?;
    if json {
        return pretty(&serde_json::to_value(&r)?);
    }
    let mut out = String::new();
    writeln!(out, "{}", r.uri)?;
    if let (Some(n), Some(v)) = (&r.name, &r.version) {
        writeln!(out, "  {:<14}{n} version {v}", "model")?;
    }
    writeln!(out, "  {:<14}{}", "run id", or_dash(r.run_id.as_deref()))?;
    if let Some(id) = &r.model_id {
        writeln!(out, "  {:<14}{id}", "logged model")?;
    }
    writeln!(out, "  {:<14}{}", "artifact uri", r.artifact_uri)?;
    Ok(out)
}

// ---------------------------------------------------------------------
// models convert
// ---------------------------------------------------------------------

/// `slipway models convert URI`.
pub struct ConvertRequest {
    pub uri: String,
    pub env_manager: slipway_python::EnvManager,
    /// Convert even when a valid conversion is stored.
    pub force: bool,
}

fn seconds(s: f64) -> String {
    format!("{s:.1} s")
}

pub async fn convert(
    client: &SlipwayClient,
    req: ConvertRequest,
    home: &std::path::Path,
    json: bool,
) -> anyhow::Result<String> {
    use crate::convert::{ConvertOutcome, Obtained};
    let uri = req.uri.trim();
    if !(uri.starts_with("models:/") || uri.starts_with("runs:/")) {
        return Err(UsageError::new(format!(
            "'{uri}' is not a model URI: expected models:/NAME/VERSION, models:/NAME/STAGE, \
             models:/NAME@ALIAS, models:/m-ID or runs:/RUN_ID/PATH"
        ))
        .into());
    }
    let resolved = client
        .resolve_model_uri(uri)
        .await
        .map_err(|e| slipway_only(e, "model URI resolution"))?;
    let model_dir =
        crate::model_files::local_model_dir(client, &resolved.artifact_uri, home).await?;
    let outcome = crate::convert::native_onnx(
        client,
        &resolved,
        &model_dir,
        req.env_manager,
        home,
        req.force,
    )
    .await?;
    let native = match outcome {
        ConvertOutcome::Native(n) => n,
        ConvertOutcome::NotConvertible { reason } => {
            anyhow::bail!("{uri} was not converted: {reason}")
        }
    };
    let r = &native.record;
    let (status, stored, times) = match &native.obtained {
        Obtained::Stored => ("stored", None, None),
        Obtained::Converted { times, stored } => match stored {
            Ok(at) => ("converted", Some(at.clone()), Some(*times)),
            Err(e) => anyhow::bail!(
                "{uri} converted to ONNX and parity holds ({}), but the graph could not be stored \
                 with the model: {e}",
                r.parity.describe()
            ),
        },
    };
    if json {
        return pretty(&json!({
            "uri": uri,
            "name": resolved.name,
            "version": resolved.version,
            "model_id": resolved.model_id,
            "status": status,
            "conversion": r,
            "stored": stored,
            "seconds": times,
        }));
    }
    let mut out = String::new();
    let shown = match (&resolved.name, &resolved.version) {
        (Some(n), Some(v)) if !uri.ends_with(&format!("/{v}")) => {
            format!("{uri} ({n} version {v})")
        }
        _ => uri.to_string(),
    };
    if status == "stored" {
        writeln!(
            out,
            "{shown} already has a stored ONNX conversion (--force converts again)"
        )?;
    } else {
        writeln!(out, "Converted {shown} to ONNX")?;
    }
    let source = &r.source;
    writeln!(
        out,
        "  {:<12}{} ({} flavor, {}{})",
        "model",
        source.estimator,
        source.flavor,
        source.file,
        source
            .serialization_format
            .as_deref()
            .map(|f| format!(", {f}"))
            .unwrap_or_default()
    )?;
    writeln!(
        out,
        "  {:<12}{} (--env-manager {})",
        "converter",
        r.converter_versions(),
        r.env_manager
    )?;
    let rows = if r.parity.example_rows > 0 {
        format!(
            "{} rows ({} from the input example)",
            r.parity.rows, r.parity.example_rows
        )
    } else {
        format!("{} rows", r.parity.rows)
    };
    let figures = match (r.parity.max_probability_diff, r.parity.max_value_diff) {
        (Some(p), _) => format!(
            "labels equal, max probability difference {p:.1e} (tolerance {:.0e})",
            r.parity.tolerance
        ),
        (_, Some(v)) => format!(
            "max value difference {v:.1e} (absolute, relative above 1; tolerance {:.0e})",
            r.parity.tolerance
        ),
        _ => String::new(),
    };
    writeln!(out, "  {:<12}{rows}: {figures}", "parity")?;
    writeln!(
        out,
        "  {:<12}{}",
        "inputs",
        if r.inputs == "columns" {
            "one ONNX input per column"
        } else {
            "one float tensor"
        }
    )?;
    if !r.folded_scalers.is_empty() {
        writeln!(
            out,
            "  {:<12}{} folded into the trees' thresholds (scaled in float64, as scikit-learn does)",
            "scalers",
            r.folded_scalers.join(", ")
        )?;
    }
    match &stored {
        Some(at) => writeln!(
            out,
            "  {:<12}{}{}",
            "stored",
            at.artifact,
            at.tag_on
                .as_ref()
                .map(|t| format!(", tag {} on {t}", crate::convert::TAG))
                .unwrap_or_default()
        )?,
        None => writeln!(
            out,
            "  {:<12}{}/{} (converted {})",
            "stored",
            resolved.artifact_uri.trim_end_matches('/'),
            r.onnx,
            fmt::datetime(r.converted_ms)
        )?,
    }
    if let Some(t) = times {
        writeln!(
            out,
            "  {:<12}environment {}, conversion {}, parity {}, store {}",
            "time",
            seconds(t.env),
            seconds(t.convert),
            seconds(t.parity),
            seconds(t.store)
        )?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mv(version: &str, stage: &str) -> ModelVersion {
        ModelVersion {
            name: "m".into(),
            version: version.into(),
            current_stage: stage.into(),
            ..Default::default()
        }
    }

    #[test]
    fn stage_counts_in_stage_order() {
        let vs = [
            mv("1", "Archived"),
            mv("2", "None"),
            mv("3", "Production"),
            mv("4", "None"),
        ];
        let refs: Vec<&ModelVersion> = vs.iter().collect();
        assert_eq!(stage_counts(&refs), "Production 1, None 2, Archived 1");
    }

    #[test]
    fn names_are_quoted_for_filters() {
        assert_eq!(name_filter("churn").unwrap(), "name = 'churn'");
        assert_eq!(name_filter("it's").unwrap(), "name = \"it's\"");
        assert_eq!(name_filter("a'b\"c"), None);
    }

    #[test]
    fn event_changes_read_naturally() {
        let e = RegistryEvent {
            kind: "alias_set".into(),
            alias: Some("champion".into()),
            from: Some("1".into()),
            to: Some("2".into()),
            ..Default::default()
        };
        assert_eq!(change(&e), "@champion 1 → 2");
        let e = RegistryEvent {
            kind: "stage_transitioned".into(),
            from: Some("None".into()),
            to: Some("Staging".into()),
            ..Default::default()
        };
        assert_eq!(change(&e), "None → Staging");
        let e = RegistryEvent {
            kind: "model_version_created".into(),
            to: Some("None".into()),
            ..Default::default()
        };
        assert_eq!(change(&e), "→ None");
    }

    #[test]
    fn long_key_lists_are_cut() {
        let pairs: Vec<(String, String)> =
            (0..10).map(|i| (format!("k{i}"), i.to_string())).collect();
        let s = key_values(pairs);
        assert!(s.starts_with("k0=0, k1=1"), "{s}");
        assert!(s.ends_with("(+2 more)"), "{s}");
    }
}
