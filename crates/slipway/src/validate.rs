//! `slipway validate` and `slipway promote`: the validation gate between a
//! trained run and production. All I/O lives here (run metrics, models,
//! evaluation data, timing); the checks and the report are
//! `slipway-validate`'s pure functions.

use crate::model_files::{self, LoadedModel};
use crate::train;
use crate::{TrackingUri, UsageError};
use anyhow::Context;
use clap::{Args, ValueEnum};
use slipway_client::{Run, SlipwayClient, Tag};
use slipway_data::{read_table, LoadedTable};
use slipway_train::dataset::{self, EvalData};
use slipway_train::gbm::Task;
use slipway_train::metrics;
use slipway_validate::{checks, CheckResult, Report, ValidationConfig, Verdict};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

pub const VALIDATE_EXAMPLES: &str = "\
Examples:
  slipway validate --run-id 3f2a0c9e8d7b4a6f9e1c2b3a4d5e6f70
  slipway validate --run-id $RUN --config validation.yaml --baseline models:/churn-classifier/Production \\
      --data data/eval.parquet --format markdown >> \"$GITHUB_STEP_SUMMARY\"
  slipway validate --run-id $RUN --current data/recent.parquet --format json | jq .verdict

validation.yaml (every threshold optional):
  performance: {accuracy: {min: 0.80}, auc_roc: {min: 0.75}}      # any logged metric, min or max
  warn_margin: 0.05                                                # within 5% of a threshold: WARN
  regression: {metrics: [accuracy, f1, auc_roc], max_degradation: 0.02}
  latency: {p99_ms: {max: 100}, samples: 1000}
  drift: {psi: {max: 0.2}, reference: training_profile, current: data/recent.parquet}
  coverage: {min: 0.95}
  slices: {column: contract, metric: auc_roc, min: 0.70}

Writes validation_result.txt (APPROVED or REJECTED), logs the report to the run
(validation/report.*) and the verdict as the tag slipway.validation.status.
Exit codes: 0 approved, 1 rejected, 2 could not validate (and why).";

pub const PROMOTE_EXAMPLES: &str = "\
Examples:
  slipway promote --run-id $RUN --stage Production
  slipway promote --run-id $RUN --alias champion --name churn-classifier
  slipway promote --run-id $RUN --stage Production --force --reason \"hotfix, validated by hand\"

Only a run whose last validation was APPROVED is promoted, unless --force with --reason
(recorded on the model version). The previous Production version is archived in the same
transaction, so whoever follows the stage sees the old model or the new one, never none.";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Text,
    Json,
    Markdown,
    Html,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The candidate run (trained by `slipway train`)
    #[arg(long, value_name = "ID")]
    pub run_id: String,
    /// Validation config (YAML); without it: regression against the baseline, latency p99 <= 100 ms, schema
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Model to compare against [default: models:/NAME/Production of the run's registered model]
    #[arg(long, value_name = "URI")]
    pub baseline: Option<String>,
    /// Registered model name, to find the default baseline when the run is not registered yet
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Evaluation data (Parquet/CSV with the label): both models are scored on it
    #[arg(long, value_name = "FILE")]
    pub data: Option<PathBuf>,
    /// Recent data for the drift check (overrides drift.current)
    #[arg(long, value_name = "FILE")]
    pub current: Option<PathBuf>,
    /// Report format on stdout
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
    /// Where to write APPROVED or REJECTED
    #[arg(long, value_name = "FILE", default_value = "validation_result.txt")]
    pub result_file: PathBuf,
    /// Do not log the report and verdict to the run
    #[arg(long)]
    pub no_log: bool,
}

#[derive(Debug, Args)]
pub struct PromoteArgs {
    /// The run whose model is promoted
    #[arg(long, value_name = "ID")]
    pub run_id: String,
    /// Stage to move the model version to (the current holder is archived)
    #[arg(long, value_name = "STAGE", required_unless_present = "alias")]
    pub stage: Option<String>,
    /// Alias to point at the model version (e.g. champion)
    #[arg(long, value_name = "ALIAS")]
    pub alias: Option<String>,
    /// Registered model name (needed when the run's model is not registered yet)
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Promote even without an APPROVED validation (needs --reason)
    #[arg(long, requires = "reason")]
    pub force: bool,
    /// Why (recorded with the promotion)
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
}

fn usage(e: impl std::fmt::Display) -> anyhow::Error {
    UsageError::new(e.to_string()).into()
}

/// Exit codes: 0 approved, 1 rejected, 2 could not validate.
pub fn run_validate(args: ValidateArgs, tracking: &TrackingUri, home: &Path) -> ExitCode {
    match validate(args, tracking, home) {
        Ok(Verdict::Approved) => ExitCode::SUCCESS,
        Ok(Verdict::Rejected) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: could not validate: {}", crate::error_chain(&e));
            ExitCode::from(2)
        }
    }
}

fn read(path: &Path, what: &str) -> anyhow::Result<LoadedTable> {
    let t = read_table(path).map_err(|e| usage(format!("{what}: {e}")))?;
    if t.num_rows == 0 {
        return Err(usage(format!("{what}: {} has no rows", path.display())));
    }
    Ok(t)
}

pub fn validate(
    args: ValidateArgs,
    tracking: &TrackingUri,
    home: &Path,
) -> anyhow::Result<Verdict> {
    let config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| usage(format!("cannot read config {}: {e}", path.display())))?;
            ValidationConfig::parse(&text).map_err(|e| usage(format!("{}: {e}", path.display())))?
        }
        None => ValidationConfig::default(),
    };
    let eval = args
        .data
        .as_deref()
        .map(|p| read(p, "--data"))
        .transpose()?;
    let current_path = args
        .current
        .clone()
        .or_else(|| config.drift.as_ref().and_then(|d| d.current.clone()));
    if config.drift.is_some() && current_path.is_none() {
        return Err(usage(
            "drift is configured but there is no current data: set drift.current or --current",
        ));
    }
    let current = match (&config.drift, &current_path) {
        (Some(_), Some(p)) => Some(read(p, "drift current data")?),
        _ => None,
    };
    if !config.slices.is_empty() && eval.is_none() {
        return Err(usage(
            "slice checks need labelled evaluation data: --data FILE",
        ));
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let (client, embedded, _) = train::connect(tracking, home).await?;
        let result = validate_with(&client, &args, &config, eval.as_ref(), current.as_ref()).await;
        if let Some(server) = embedded {
            server.stop().await;
        }
        result
    })
}

/// Metrics of `model` scored on `data` (as `slipway train` computes them).
fn score(
    model: &LoadedModel,
    data: &LoadedTable,
) -> anyhow::Result<(BTreeMap<String, f64>, EvalData, Vec<f64>)> {
    let meta = &model.package.metadata;
    let eval = dataset::encode_for(
        &meta.encoder,
        Some(&meta.label),
        &data.schema,
        &data.batches,
    )
    .map_err(|e| usage(format!("{}: for {}: {e}", data.path.display(), model.uri)))?;
    let scores = model.package.predict_encoded(&eval.x)?;
    let y = eval.y.as_deref().unwrap_or_default();
    // Rows the model cannot score (non-finite) are left to the coverage check.
    let valid: Vec<usize> = (0..scores.len())
        .filter(|&i| scores[i].is_finite())
        .collect();
    let ys: Vec<f64> = valid.iter().map(|&i| y[i]).collect();
    let ss: Vec<f64> = valid.iter().map(|&i| scores[i]).collect();
    let out = metrics::standard_metrics(meta.label.task == Task::Binary, &ys, &ss, meta.threshold)?;
    Ok((out, eval, scores))
}

/// Encoded rows of the model's input example (when no data is given).
fn example_rows(model: &LoadedModel, example: &serde_json::Value) -> Vec<f64> {
    let meta = &model.package.metadata;
    let columns: Vec<String> = example["columns"]
        .as_array()
        .map(|c| {
            c.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let mut x = Vec::new();
    for row in example["data"].as_array().into_iter().flatten() {
        let cells = row.as_array().cloned().unwrap_or_default();
        for (j, col) in meta.encoder.columns.iter().enumerate() {
            let v = columns
                .iter()
                .position(|c| c == &col.name)
                .and_then(|i| cells.get(i));
            x.push(match v {
                Some(serde_json::Value::Number(n)) => n.as_f64().unwrap_or(f64::NAN),
                Some(serde_json::Value::Bool(b)) => f64::from(u8::from(*b)),
                Some(serde_json::Value::String(s)) => meta.encoder.category_code(j, s),
                _ => f64::NAN,
            });
        }
    }
    x
}

/// Milliseconds of `samples` single-row predictions, cycling through `rows`.
fn time_single_rows(model: &LoadedModel, rows: &[f64], samples: usize) -> anyhow::Result<Vec<f64>> {
    let n = model.package.metadata.encoder.columns.len().max(1);
    let count = rows.len() / n;
    if count == 0 {
        return Ok(Vec::new());
    }
    // Warm up as serving does before timing.
    for i in 0..count.min(10) {
        model.package.predict_encoded(&rows[i * n..(i + 1) * n])?;
    }
    let mut out = Vec::with_capacity(samples);
    for s in 0..samples {
        let i = s % count;
        let row = &rows[i * n..(i + 1) * n];
        let t = Instant::now();
        let p = model.package.predict_encoded(row)?;
        out.push(t.elapsed().as_secs_f64() * 1e3);
        std::hint::black_box(p);
    }
    Ok(out)
}

async fn default_baseline(
    client: &SlipwayClient,
    run: &Run,
    name: Option<&str>,
) -> anyhow::Result<Option<String>> {
    if let Some(n) = name {
        return Ok(Some(format!("models:/{n}/Production")));
    }
    let versions = client
        .search_model_versions_all(slipway_client::SearchRegistry {
            filter: Some(format!("run_id = '{}'", run.info.run_id)),
            ..Default::default()
        })
        .await
        .unwrap_or_default();
    Ok(versions
        .first()
        .map(|v| format!("models:/{}/Production", v.name)))
}

async fn validate_with(
    client: &SlipwayClient,
    args: &ValidateArgs,
    config: &ValidationConfig,
    eval: Option<&LoadedTable>,
    current: Option<&LoadedTable>,
) -> anyhow::Result<Verdict> {
    let run = match client.get_run(&args.run_id).await {
        Ok(r) => r,
        Err(e) if e.is_not_found() => return Err(usage(format!("run {} not found", args.run_id))),
        Err(e) => return Err(e.into()),
    };
    let candidate = model_files::from_run(client, &run).await?;
    let baseline_uri = match &args.baseline {
        Some(u) => Some(u.clone()),
        None => default_baseline(client, &run, args.name.as_deref()).await?,
    };
    let baseline = match &baseline_uri {
        Some(uri) => model_files::from_uri(client, uri).await?,
        None => None,
    };
    // Comparing a version with itself says nothing.
    let baseline = baseline.filter(|b| b.run_id.as_deref() != Some(run.info.run_id.as_str()));

    let logged: BTreeMap<String, f64> = run
        .data
        .metrics
        .iter()
        .map(|m| (m.key.clone(), m.value))
        .collect();
    let mut results: Vec<CheckResult> = Vec::new();
    results.extend(checks::check_performance(config, &logged));

    // Regression: both models on the same data when given, else logged metrics.
    let mut candidate_scored = None;
    if let Some(data) = eval {
        candidate_scored = Some(score(&candidate, data)?);
    }
    if config.regression.is_some() {
        match &baseline {
            None => results.extend(checks::check_regression(
                config,
                &logged,
                None,
                "logged metrics",
            )),
            Some(b) => {
                let label = b.describe();
                if let (Some(data), Some((cand_metrics, _, _))) = (eval, &candidate_scored) {
                    let (base_metrics, _, _) = score(b, data)?;
                    let on = format!("{} ({} rows)", data.path.display(), data.num_rows);
                    results.extend(checks::check_regression(
                        config,
                        cand_metrics,
                        Some((&label, &base_metrics)),
                        &on,
                    ));
                } else {
                    let base_run = match &b.run_id {
                        Some(id) => client.get_run(id).await.ok(),
                        None => None,
                    };
                    let base_logged: BTreeMap<String, f64> = base_run
                        .map(|r| {
                            r.data
                                .metrics
                                .iter()
                                .map(|m| (m.key.clone(), m.value))
                                .collect()
                        })
                        .unwrap_or_default();
                    results.extend(checks::check_regression(
                        config,
                        &logged,
                        Some((&label, &base_logged)),
                        "logged metrics",
                    ));
                }
            }
        }
    }

    // Latency: the candidate loaded as serving loads it, one row at a time.
    if let Some(latency) = &config.latency {
        let rows = match &candidate_scored {
            Some((_, eval, _)) => eval.x.clone(),
            None => {
                let example = client
                    .read_artifact(
                        &candidate.artifact_uri,
                        slipway_train::package::INPUT_EXAMPLE_FILE,
                    )
                    .await
                    .ok()
                    .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                    .unwrap_or_default();
                example_rows(&candidate, &example)
            }
        };
        let samples = time_single_rows(&candidate, &rows, latency.samples)?;
        results.extend(checks::check_latency(config, &samples));
    }

    // Drift: the training profile logged with the run against current data.
    if config.drift.is_some() {
        let current = current.context("drift needs current data")?;
        let bytes = client
            .read_artifact(&run.info.artifact_uri, "data_profile.json")
            .await
            .context("the run has no data_profile.json (train it with `slipway train`)")?;
        let profile: slipway_data::profile::DatasetProfile = serde_json::from_slice(&bytes)
            .context("the run's data_profile.json is not a Slipway profile")?;
        let (mut numeric, mut categorical) = (Vec::new(), Vec::new());
        for feature in &profile.features {
            let (schema, batches) = (&current.schema, &current.batches);
            match feature.kind {
                slipway_data::profile::ProfileKind::Numeric { .. } => {
                    if let Ok(v) = dataset::column_numbers(schema, batches, &feature.name) {
                        numeric.push((feature.name.clone(), v));
                    }
                }
                slipway_data::profile::ProfileKind::Categorical { .. } => {
                    if let Ok(v) = dataset::column_strings(schema, batches, &feature.name) {
                        categorical.push((feature.name.clone(), v));
                    }
                }
            }
        }
        results.extend(checks::check_drift_with_categorical(
            config,
            &profile,
            &numeric,
            &categorical,
        ));
    }

    // Coverage: rows the model returns a valid prediction for.
    if config.coverage.is_some() {
        let data = eval
            .or(current)
            .ok_or_else(|| usage("the coverage check needs data: --data or drift current data"))?;
        let meta = &candidate.package.metadata;
        let enc = dataset::encode_for(&meta.encoder, None, &data.schema, &data.batches)
            .map_err(|e| usage(format!("{}: {e}", data.path.display())))?;
        let n = meta.encoder.columns.len().max(1);
        let mut predictions = Vec::with_capacity(enc.rows);
        for row in enc.x.chunks(n) {
            predictions.push(
                candidate
                    .package
                    .predict_encoded(row)
                    .ok()
                    .and_then(|p| p.first().copied())
                    .filter(|p| p.is_finite()),
            );
        }
        let kind = match meta.label.task {
            Task::Binary => checks::PredictionKind::Probability,
            Task::Regression => checks::PredictionKind::Value,
        };
        results.extend(checks::check_coverage_for(config, &predictions, kind));
    }

    // Slices of the evaluation data.
    if let (Some(data), Some((_, eval_data, scores))) = (eval, &candidate_scored) {
        for slice in &config.slices {
            let values = dataset::column_strings(&data.schema, &data.batches, &slice.column)
                .map_err(|e| usage(format!("slices: {e}")))?;
            let y = eval_data.y.clone().unwrap_or_default();
            results.extend(checks::check_slice(config, slice, &values, &y, scores));
        }
    }

    // Schema: the candidate must accept what the current model accepts.
    if config.schema {
        if let Some(b) = &baseline {
            results.extend(checks::check_schema(
                &candidate.package.metadata.encoder.columns,
                &b.package.metadata.encoder.columns,
            ));
        }
    }

    let report = Report::new(
        run.info.run_id.clone(),
        candidate.describe(),
        baseline
            .as_ref()
            .map(|b| b.describe())
            .or_else(|| baseline_uri.map(|u| format!("{u} (not found)"))),
        results,
        crate::train::utc_now_mlflow(),
    );
    let rendered = match args.format {
        ReportFormat::Text => report.to_text(),
        ReportFormat::Json => report.to_json(),
        ReportFormat::Markdown => report.to_markdown(),
        ReportFormat::Html => report.to_html(),
    };
    let verdict_word = match report.verdict {
        Verdict::Approved => "APPROVED",
        Verdict::Rejected => "REJECTED",
    };
    std::fs::write(&args.result_file, format!("{verdict_word}\n"))
        .with_context(|| format!("cannot write {}", args.result_file.display()))?;
    if let Some(summary) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|s| !s.is_empty()) {
        let _ = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(summary)
            .and_then(|mut f| f.write_all(report.to_markdown().as_bytes()));
    }
    if !args.no_log {
        let uri = &run.info.artifact_uri;
        for (name, body) in [
            ("validation/report.json", report.to_json()),
            ("validation/report.txt", report.to_text()),
            ("validation/report.md", report.to_markdown()),
            ("validation/report.html", report.to_html()),
        ] {
            client
                .upload_artifact_bytes(uri, name, body.into_bytes())
                .await
                .with_context(|| format!("cannot log {name}"))?;
        }
        let mut tags = vec![
            Tag::new("slipway.validation.status", verdict_word),
            Tag::new("slipway.validation.report", "validation/report.json"),
            Tag::new("slipway.validation.time", report.created_at.clone()),
        ];
        if let Some(b) = &report.baseline {
            tags.push(Tag::new("slipway.validation.baseline", b.clone()));
        }
        client
            .log_batch(&run.info.run_id, Vec::new(), Vec::new(), tags)
            .await?;
    }
    crate::write_stdout(&format!("{}\n", rendered.trim_end()))?;
    Ok(report.verdict)
}

// ------------------------------------------------------------------ promote

pub fn run_promote(args: PromoteArgs, tracking: &TrackingUri, home: &Path) -> ExitCode {
    match promote_cmd(&args, tracking, home).and_then(|text| crate::write_stdout(&text)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", crate::error_chain(&e));
            if e.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

/// Promotes as `slipway promote` does and returns what it printed.
pub fn promote_cmd(
    args: &PromoteArgs,
    tracking: &TrackingUri,
    home: &Path,
) -> anyhow::Result<String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let (client, embedded, _) = train::connect(tracking, home).await?;
        let result = promote(&client, args).await;
        if let Some(server) = embedded {
            server.stop().await;
        }
        result
    })
}

/// Why a promotion was refused (exit 1).
#[derive(Debug)]
struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

async fn promote(client: &SlipwayClient, args: &PromoteArgs) -> anyhow::Result<String> {
    if args.force && args.reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
        return Err(usage("--force needs --reason TEXT (it is recorded)"));
    }
    if let Some(stage) = &args.stage {
        if !["Staging", "Production", "Archived", "None"]
            .iter()
            .any(|s| s.eq_ignore_ascii_case(stage))
        {
            return Err(usage(format!(
                "--stage '{stage}' is not a stage: Staging, Production, Archived or None"
            )));
        }
    }
    let run = match client.get_run(&args.run_id).await {
        Ok(r) => r,
        Err(e) if e.is_not_found() => return Err(usage(format!("run {} not found", args.run_id))),
        Err(e) => return Err(e.into()),
    };
    let tag = |k: &str| {
        run.data
            .tags
            .iter()
            .find(|t| t.key == k)
            .map(|t| t.value.clone())
    };
    let status = tag("slipway.validation.status");
    match status.as_deref() {
        Some("APPROVED") => {}
        other if !args.force => {
            let why = match other {
                Some(s) => format!("its last validation was {s}"),
                None => "it was never validated (run `slipway validate` first)".into(),
            };
            return Err(Refused(format!(
                "refusing to promote run {}: {why}; --force --reason TEXT overrides",
                args.run_id
            ))
            .into());
        }
        _ => {}
    }

    // The model version: the run's, or a new one.
    let filter = format!("run_id = '{}'", run.info.run_id);
    let mut versions = client
        .search_model_versions_all(slipway_client::SearchRegistry {
            filter: Some(filter),
            ..Default::default()
        })
        .await?;
    if let Some(name) = &args.name {
        versions.retain(|v| &v.name == name);
    }
    versions.sort_by_key(|v| std::cmp::Reverse(v.version.parse::<i64>().unwrap_or(0)));
    let version = match versions.into_iter().next() {
        Some(v) => v,
        None => {
            let name = args.name.clone().ok_or_else(|| {
                usage("the run's model is not registered: give --name to register it")
            })?;
            let model = model_files::from_run(client, &run).await?;
            match client.create_registered_model(&name).await {
                Ok(_) => {}
                Err(e) if e.is_already_exists() => {}
                Err(e) => return Err(e.into()),
            }
            client
                .create_model_version_with(slipway_client::CreateModelVersion {
                    name: name.clone(),
                    source: model.uri.clone(),
                    run_id: Some(run.info.run_id.clone()),
                    model_id: model.model_id.clone(),
                    ..Default::default()
                })
                .await?
        }
    };
    let (name, number) = (version.name.clone(), version.version.clone());
    let forced = status.as_deref() != Some("APPROVED");
    let reason = args.reason.clone().unwrap_or_else(|| {
        format!(
            "validation {} (runs:/{}/validation/report.json)",
            status.as_deref().unwrap_or("none"),
            run.info.run_id
        )
    });
    // Record what the promotion rests on before moving anything.
    let mut tags = vec![
        (
            "slipway.promotion.validation",
            status.clone().unwrap_or_else(|| "NONE".into()),
        ),
        ("slipway.promotion.reason", reason.clone()),
        ("slipway.promotion.forced", forced.to_string()),
    ];
    if tag("slipway.validation.report").is_some() {
        tags.push((
            "slipway.promotion.report",
            format!("runs:/{}/validation/report.json", run.info.run_id),
        ));
    }
    for (k, v) in &tags {
        client.set_model_version_tag(&name, &number, k, v).await?;
    }
    let mut out = String::new();
    if let Some(stage) = &args.stage {
        let stage = ["Staging", "Production", "Archived", "None"]
            .into_iter()
            .find(|s| s.eq_ignore_ascii_case(stage))
            .unwrap_or("Production");
        // One transaction: the new version in, the old ones archived.
        client
            .transition_model_version_stage(&name, &number, stage, true, Some(&reason))
            .await?;
        out.push_str(&format!("Promoted {name} version {number} to {stage}"));
    }
    if let Some(alias) = &args.alias {
        client
            .set_registered_model_alias(&name, alias, &number)
            .await?;
        if !out.is_empty() {
            out.push_str(&format!("; @{alias} -> version {number}"));
        } else {
            out.push_str(&format!("Pointed {name}@{alias} at version {number}"));
        }
    }
    if forced {
        out.push_str(&format!(" (FORCED: {reason})"));
    }
    out.push('\n');
    if args.json {
        return Ok(format!(
            "{}\n",
            serde_json::to_string_pretty(&serde_json::json!({
                "name": name, "version": number, "stage": args.stage, "alias": args.alias,
                "validation": status, "forced": forced, "reason": reason,
            }))?
        ));
    }
    Ok(out)
}
