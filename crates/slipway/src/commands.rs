//! `experiments` and `runs`: read-only views over the tracking API.
//!
//! Each command returns its whole output as a string; `main` writes it.
//! `--json` output is MLflow's own JSON as the server sent it (pages merged).

use crate::fmt;
use comfy_table::{Cell, CellAlignment, Table};
use serde_json::{json, Value};
use slipway_client::{Experiment, Run, SearchExperiments, SearchRuns, SlipwayClient, ViewType};
use std::collections::BTreeSet;
use std::fmt::Write as _;

const EXPERIMENTS_SEARCH: &str = "/api/2.0/mlflow/experiments/search";
const RUNS_SEARCH: &str = "/api/2.0/mlflow/runs/search";
const RUNS_GET: &str = "/api/2.0/mlflow/runs/get";
/// MLflow's cap on `max_results` for `runs/search`.
const RUNS_PAGE_MAX: i64 = 50_000;

/// Fetches pages of `POST path` until `limit` items (or the last page),
/// returning the items under `key` and the token of the next page, if any.
async fn collect_pages(
    client: &SlipwayClient,
    path: &str,
    key: &str,
    limit: Option<usize>,
    mut body: impl FnMut(Option<String>, Option<usize>) -> Value,
) -> anyhow::Result<(Vec<Value>, Option<String>)> {
    let mut items = Vec::new();
    let mut token = None;
    loop {
        let remaining = limit.map(|l| l - items.len());
        let page: Value = client.post_json(path, &body(token, remaining)).await?;
        if let Some(arr) = page.get(key).and_then(Value::as_array) {
            items.extend(arr.iter().cloned());
        }
        token = page
            .get("next_page_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if let Some(l) = limit {
            if items.len() >= l {
                items.truncate(l);
                return Ok((items, token));
            }
        }
        if token.is_none() {
            return Ok((items, None));
        }
    }
}

fn pretty(v: &Value) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(v)? + "\n")
}

fn decode<T: serde::de::DeserializeOwned>(v: Value, what: &str) -> anyhow::Result<T> {
    serde_json::from_value(v).map_err(|e| anyhow::anyhow!("the server sent an invalid {what}: {e}"))
}

// ---------------------------------------------------------------------
// experiments list
// ---------------------------------------------------------------------

pub async fn experiments_list(
    client: &SlipwayClient,
    view: ViewType,
    json: bool,
) -> anyhow::Result<String> {
    let (items, _) = collect_pages(
        client,
        EXPERIMENTS_SEARCH,
        "experiments",
        None,
        |token, _| {
            serde_json::to_value(SearchExperiments {
                max_results: Some(1000),
                page_token: token,
                view_type: Some(view),
                ..Default::default()
            })
            .unwrap_or_default()
        },
    )
    .await?;
    if json {
        return pretty(&json!({ "experiments": items }));
    }
    let experiments: Vec<Experiment> = items
        .into_iter()
        .map(|v| decode(v, "experiment"))
        .collect::<anyhow::Result<_>>()?;
    let mut out = String::new();
    if experiments.is_empty() {
        let which = match view {
            ViewType::ActiveOnly => "",
            ViewType::DeletedOnly => "deleted ",
            ViewType::All => "",
        };
        writeln!(out, "No {which}experiments.")?;
        return Ok(out);
    }
    let now = slipway_core::now_millis();
    let show_stage = view != ViewType::ActiveOnly;
    let mut t = fmt::table();
    let mut header = vec!["ID", "NAME"];
    if show_stage {
        header.push("STAGE");
    }
    header.extend(["CREATED", "LAST UPDATE", "ARTIFACT LOCATION"]);
    t.set_header(header);
    for e in &experiments {
        let mut row = vec![e.experiment_id.clone(), e.name.clone()];
        if show_stage {
            row.push(e.lifecycle_stage.as_str().to_string());
        }
        row.push(e.creation_time.map_or("-".into(), |ms| fmt::ago(ms, now)));
        row.push(
            e.last_update_time
                .map_or("-".into(), |ms| fmt::ago(ms, now)),
        );
        row.push(e.artifact_location.clone());
        t.add_row(row);
    }
    writeln!(out, "{t}")?;
    writeln!(
        out,
        "{} experiment{}",
        experiments.len(),
        if experiments.len() == 1 { "" } else { "s" }
    )?;
    Ok(out)
}

// ---------------------------------------------------------------------
// runs list
// ---------------------------------------------------------------------

pub struct RunsQuery {
    pub experiment: String,
    pub filter: Option<String>,
    pub order_by: Vec<String>,
    pub max: i64,
    pub view: ViewType,
}

/// An experiment given by name, or failing that by id.
async fn resolve_experiment(
    client: &SlipwayClient,
    name_or_id: &str,
) -> anyhow::Result<Experiment> {
    if let Some(e) = client.get_experiment_by_name(name_or_id).await? {
        return Ok(e);
    }
    match client.get_experiment(name_or_id).await {
        Ok(e) => Ok(e),
        Err(slipway_client::Error::Api { .. }) => anyhow::bail!(
            "RESOURCE_DOES_NOT_EXIST: No experiment with name or id '{name_or_id}' \
             (see `slipway experiments list`)"
        ),
        Err(e) => Err(e.into()),
    }
}

pub async fn runs_list(client: &SlipwayClient, q: RunsQuery, json: bool) -> anyhow::Result<String> {
    let experiment = resolve_experiment(client, &q.experiment).await?;
    let limit = usize::try_from(q.max).unwrap_or(usize::MAX);
    let (items, more) = collect_pages(
        client,
        RUNS_SEARCH,
        "runs",
        Some(limit),
        |token, remaining| {
            let page = remaining.map_or(RUNS_PAGE_MAX, |r| (r as i64).min(RUNS_PAGE_MAX));
            serde_json::to_value(SearchRuns {
                experiment_ids: vec![experiment.experiment_id.clone()],
                filter: q.filter.clone().filter(|f| !f.trim().is_empty()),
                run_view_type: Some(q.view),
                max_results: Some(page),
                order_by: q.order_by.clone(),
                page_token: token,
            })
            .unwrap_or_default()
        },
    )
    .await?;
    if json {
        let mut doc = json!({ "runs": items });
        if let Some(token) = more {
            doc["next_page_token"] = Value::String(token);
        }
        return pretty(&doc);
    }
    let runs: Vec<Run> = items
        .into_iter()
        .map(|v| decode(v, "run"))
        .collect::<anyhow::Result<_>>()?;
    let mut out = String::new();
    let exp_label = format!(
        "experiment '{}' (id {})",
        experiment.name, experiment.experiment_id
    );
    if runs.is_empty() {
        let matching = if q.filter.as_deref().is_some_and(|f| !f.trim().is_empty()) {
            " matching the filter"
        } else {
            ""
        };
        writeln!(out, "No runs{matching} in {exp_label}.")?;
        return Ok(out);
    }
    let hints: Vec<&str> = q
        .filter
        .iter()
        .map(String::as_str)
        .chain(q.order_by.iter().map(String::as_str))
        .collect();
    let (t, hidden) = runs_table(&runs, &hints, fmt::width_budget());
    writeln!(out, "{t}")?;
    let mut summary = format!(
        "{} run{} in {exp_label}",
        runs.len(),
        if runs.len() == 1 { "" } else { "s" }
    );
    if more.is_some() {
        write!(summary, "; more match (raise --max)")?;
    }
    writeln!(out, "{summary}")?;
    if hidden.0 + hidden.1 > 0 {
        writeln!(
            out,
            "{} metric and {} param column{} not shown for width: use `slipway runs show RUN_ID` or --json",
            hidden.0,
            hidden.1,
            if hidden.0 + hidden.1 == 1 { "" } else { "s" }
        )?;
    }
    writeln!(
        out,
        "Run ids are shortened; full ids: `slipway runs list --experiment {} --json`",
        shell_word(&q.experiment)
    )?;
    Ok(out)
}

fn shell_word(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./:".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Keys referenced as `metrics.KEY` (or quoted: metrics.`a b`, metrics."a b") in filters/order-bys.
fn referenced_keys(hints: &[&str], prefix: &str) -> Vec<String> {
    let mut keys = Vec::new();
    for hint in hints {
        let mut rest = *hint;
        while let Some(i) = rest.find(prefix) {
            let boundary_ok = i == 0
                || !rest[..i]
                    .chars()
                    .next_back()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
            rest = &rest[i + prefix.len()..];
            if !boundary_ok {
                continue;
            }
            let key: String = match rest.chars().next() {
                Some(q @ ('`' | '"')) => rest[1..].chars().take_while(|c| *c != q).collect(),
                _ => rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || "_-./:".contains(*c))
                    .collect(),
            };
            if !key.is_empty() && !keys.contains(&key) {
                keys.push(key);
            }
        }
    }
    keys
}

/// Referenced keys first (in the order named), then the rest alphabetically.
fn ordered_keys(all: BTreeSet<String>, referenced: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = referenced.into_iter().filter(|k| all.contains(k)).collect();
    for k in all {
        if !out.contains(&k) {
            out.push(k);
        }
    }
    out
}

/// The runs table and the (metrics, params) column counts left out for width.
fn runs_table(runs: &[Run], hints: &[&str], budget: usize) -> (Table, (usize, usize)) {
    let now = slipway_core::now_millis();
    let metric_keys = ordered_keys(
        runs.iter()
            .flat_map(|r| r.data.metrics.iter().map(|m| m.key.clone()))
            .collect(),
        referenced_keys(hints, "metrics."),
    );
    let param_keys = ordered_keys(
        runs.iter()
            .flat_map(|r| r.data.params.iter().map(|p| p.key.clone()))
            .collect(),
        referenced_keys(hints, "params."),
    );

    let mut header: Vec<String> = ["RUN ID", "NAME", "STATUS", "STARTED", "DURATION"]
        .map(String::from)
        .to_vec();
    let mut rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            let info = &r.info;
            let duration = match (info.start_time, info.end_time) {
                (Some(s), Some(e)) => fmt::duration(e - s),
                (Some(s), None) if !info.status.is_terminated() => fmt::duration(now - s),
                _ => "-".into(),
            };
            vec![
                info.run_id.chars().take(8).collect(),
                fmt::truncate(&info.run_name, 32),
                info.status.as_str().to_string(),
                info.start_time.map_or("-".into(), |ms| fmt::ago(ms, now)),
                duration,
            ]
        })
        .collect();

    // Width of a column: its widest cell plus padding and a border.
    let col_width =
        |header: &str, cells: &mut dyn Iterator<Item = String>| -> (usize, Vec<String>) {
            let cells: Vec<String> = cells.collect();
            let w = cells
                .iter()
                .map(|c| c.chars().count())
                .chain(std::iter::once(header.chars().count()))
                .max()
                .unwrap_or(0);
            (w + 3, cells)
        };
    let mut used = 1
        + (0..header.len())
            .map(|i| {
                rows.iter()
                    .map(|r| r[i].chars().count())
                    .chain(std::iter::once(header[i].len()))
                    .max()
                    .unwrap_or(0)
                    + 3
            })
            .sum::<usize>();

    let mut hidden = (0, 0);
    let mut exhausted = false;
    for key in &metric_keys {
        let (w, cells) = col_width(
            key,
            &mut runs
                .iter()
                .map(|r| r.metric(key).map_or(String::new(), fmt::number)),
        );
        if exhausted || used + w > budget {
            exhausted = true;
            hidden.0 += 1;
            continue;
        }
        used += w;
        header.push(key.clone());
        for (row, cell) in rows.iter_mut().zip(cells) {
            row.push(cell);
        }
    }
    let first_param = header.len();
    for key in &param_keys {
        let title = format!("params.{key}");
        let (w, cells) = col_width(
            &title,
            &mut runs
                .iter()
                .map(|r| fmt::truncate(r.param(key).unwrap_or(""), 24)),
        );
        if exhausted || used + w > budget {
            exhausted = true;
            hidden.1 += 1;
            continue;
        }
        used += w;
        header.push(title);
        for (row, cell) in rows.iter_mut().zip(cells) {
            row.push(cell);
        }
    }

    let mut t = fmt::table();
    t.set_header(header.clone());
    for row in rows {
        t.add_row(row);
    }
    for i in 5..first_param {
        if let Some(col) = t.column_mut(i) {
            col.set_cell_alignment(CellAlignment::Right);
        }
    }
    (t, hidden)
}

// ---------------------------------------------------------------------
// runs show
// ---------------------------------------------------------------------

/// Most artifact entries `runs show` lists (it walks directories).
const MAX_ARTIFACT_ENTRIES: usize = 200;

pub async fn runs_show(
    client: &SlipwayClient,
    run_id: &str,
    all_tags: bool,
    json: bool,
) -> anyhow::Result<String> {
    let raw: Value = client.get_json(RUNS_GET, &[("run_id", run_id)]).await?;
    if json {
        return pretty(&raw);
    }
    let run: Run = decode(raw.get("run").cloned().unwrap_or(Value::Null), "run")?;
    let experiment = client.get_experiment(&run.info.experiment_id).await.ok();
    let now = slipway_core::now_millis();
    let info = &run.info;
    let mut out = String::new();

    writeln!(out, "Run {}", info.run_id)?;
    let mut fields: Vec<(&str, String)> = vec![
        ("name", info.run_name.clone()),
        (
            "experiment",
            match &experiment {
                Some(e) => format!("{} (id {})", e.name, e.experiment_id),
                None => format!("id {}", info.experiment_id),
            },
        ),
        ("status", info.status.as_str().to_string()),
    ];
    if let Some(s) = info.start_time {
        fields.push((
            "started",
            format!("{} ({})", fmt::datetime(s), fmt::ago(s, now)),
        ));
    }
    if let Some(e) = info.end_time {
        fields.push((
            "ended",
            format!("{} ({})", fmt::datetime(e), fmt::ago(e, now)),
        ));
    }
    match (info.start_time, info.end_time) {
        (Some(s), Some(e)) => fields.push(("duration", fmt::duration(e - s))),
        (Some(s), None) if !info.status.is_terminated() => {
            fields.push(("duration", format!("{} so far", fmt::duration(now - s))))
        }
        _ => {}
    }
    if !info.user_id.is_empty() {
        fields.push(("user", info.user_id.clone()));
    }
    if info.lifecycle_stage != slipway_client::LifecycleStage::Active {
        fields.push(("lifecycle", info.lifecycle_stage.as_str().to_string()));
    }
    fields.push(("artifact uri", info.artifact_uri.clone()));
    if let Some(desc) = run.tag("mlflow.note.content") {
        fields.push(("description", desc.to_string()));
    }
    for (k, v) in fields {
        writeln!(out, "  {k:<13}{v}")?;
    }

    // Params
    writeln!(out)?;
    let mut params = run.data.params.clone();
    params.sort_by(|a, b| a.key.cmp(&b.key));
    writeln!(out, "Params ({})", params.len())?;
    if !params.is_empty() {
        let mut t = fmt::table();
        t.set_header(["KEY", "VALUE"]);
        for p in &params {
            t.add_row([p.key.clone(), p.value.clone()]);
        }
        writeln!(out, "{t}")?;
    }

    // Metrics (latest values)
    writeln!(out)?;
    let mut metrics = run.data.metrics.clone();
    metrics.sort_by(|a, b| a.key.cmp(&b.key));
    writeln!(out, "Metrics ({}, latest values)", metrics.len())?;
    if !metrics.is_empty() {
        let mut t = fmt::table();
        t.set_header(["KEY", "VALUE", "STEP", "LOGGED"]);
        for m in &metrics {
            t.add_row([
                Cell::new(&m.key),
                Cell::new(fmt::number(m.value)).set_alignment(CellAlignment::Right),
                Cell::new(m.step).set_alignment(CellAlignment::Right),
                Cell::new(fmt::ago(m.timestamp, now)),
            ]);
        }
        writeln!(out, "{t}")?;
    }

    // Tags
    writeln!(out)?;
    let mut tags = run.data.tags.clone();
    tags.sort_by(|a, b| a.key.cmp(&b.key));
    let system = tags.iter().filter(|t| t.key.starts_with("mlflow.")).count();
    if !all_tags {
        tags.retain(|t| !t.key.starts_with("mlflow."));
    }
    if !all_tags && system > 0 {
        writeln!(
            out,
            "Tags ({}; {system} mlflow.* system tag{} hidden, --all-tags to show)",
            tags.len(),
            if system == 1 { "" } else { "s" }
        )?;
    } else {
        writeln!(out, "Tags ({})", tags.len())?;
    }
    if !tags.is_empty() {
        let mut t = fmt::table();
        t.set_header(["KEY", "VALUE"]);
        for tag in &tags {
            t.add_row([tag.key.clone(), fmt::truncate(&tag.value, 200)]);
        }
        writeln!(out, "{t}")?;
    }

    // Inputs / outputs
    let inputs = &run.inputs;
    if !inputs.dataset_inputs.is_empty() || !inputs.model_inputs.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "Inputs ({} dataset{}, {} model{})",
            inputs.dataset_inputs.len(),
            if inputs.dataset_inputs.len() == 1 {
                ""
            } else {
                "s"
            },
            inputs.model_inputs.len(),
            if inputs.model_inputs.len() == 1 {
                ""
            } else {
                "s"
            },
        )?;
        if !inputs.dataset_inputs.is_empty() {
            let mut t = fmt::table();
            t.set_header(["DATASET", "DIGEST", "SOURCE TYPE", "SOURCE", "CONTEXT"]);
            for d in &inputs.dataset_inputs {
                let context = d
                    .tags
                    .iter()
                    .find(|t| t.key == "mlflow.data.context")
                    .map_or("", |t| t.value.as_str());
                t.add_row([
                    d.dataset.name.clone(),
                    d.dataset.digest.clone(),
                    d.dataset.source_type.clone(),
                    fmt::truncate(&d.dataset.source, 60),
                    context.to_string(),
                ]);
            }
            writeln!(out, "{t}")?;
        }
        for m in &inputs.model_inputs {
            writeln!(out, "  model input: {}", m.model_id)?;
        }
    }
    if !run.outputs.model_outputs.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "Outputs ({} logged models)",
            run.outputs.model_outputs.len()
        )?;
        for m in &run.outputs.model_outputs {
            writeln!(out, "  model {} (step {})", m.model_id, m.step)?;
        }
    }

    // Artifacts
    writeln!(out)?;
    match client
        .list_artifact_tree(&info.artifact_uri, MAX_ARTIFACT_ENTRIES)
        .await
    {
        Ok((files, truncated)) => {
            let file_count = files.iter().filter(|f| !f.is_dir).count();
            writeln!(
                out,
                "Artifacts ({file_count} file{})",
                if file_count == 1 { "" } else { "s" }
            )?;
            if !files.is_empty() {
                let mut t = fmt::table();
                t.set_header(["PATH", "SIZE"]);
                for f in &files {
                    let (path, size) = if f.is_dir {
                        (format!("{}/", f.path), String::new())
                    } else {
                        (
                            f.path.clone(),
                            f.file_size.map(fmt::bytes).unwrap_or_default(),
                        )
                    };
                    t.add_row([
                        Cell::new(path),
                        Cell::new(size).set_alignment(CellAlignment::Right),
                    ]);
                }
                writeln!(out, "{t}")?;
            }
            if truncated {
                writeln!(out, "  (listing stopped at {MAX_ARTIFACT_ENTRIES} entries)")?;
            }
        }
        Err(e) => writeln!(out, "Artifacts: cannot list {}: {e}", info.artifact_uri)?,
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_referenced_in_filters() {
        let hints = [
            "metrics.auc_roc > 0.8 and params.model = 'x' and metrics.`val loss` < 1",
            "metrics.auc_roc DESC",
            "xmetrics.nope",
        ];
        assert_eq!(
            referenced_keys(&hints, "metrics."),
            vec!["auc_roc".to_string(), "val loss".to_string()]
        );
        assert_eq!(
            referenced_keys(&hints, "params."),
            vec!["model".to_string()]
        );
    }

    #[test]
    fn referenced_keys_come_first() {
        let all: BTreeSet<String> = ["a", "b", "c"].map(String::from).into();
        assert_eq!(
            ordered_keys(all, vec!["c".into(), "zz".into()]),
            vec!["c", "a", "b"]
        );
    }

    #[test]
    fn table_respects_width_budget() {
        let mut run = Run::default();
        run.info.run_id = "0123456789abcdef0123456789abcdef".into();
        run.info.run_name = "r".into();
        for k in ["aaaaaaaaaa", "bbbbbbbbbb", "cccccccccc", "dddddddddd"] {
            run.data.metrics.push(slipway_client::Metric {
                key: k.into(),
                value: 0.5,
                ..Default::default()
            });
        }
        run.data
            .params
            .push(slipway_client::Param::new("lr", "0.1"));
        let (_, hidden) = runs_table(std::slice::from_ref(&run), &[], 1000);
        assert_eq!(hidden, (0, 0));
        let (t, hidden) = runs_table(std::slice::from_ref(&run), &["metrics.dddddddddd"], 80);
        assert!(hidden.0 > 0 && hidden.1 == 1, "{hidden:?}");
        assert!(t.to_string().contains("dddddddddd"));
    }
}
