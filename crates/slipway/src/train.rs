//! `slipway train --config train.yaml`: read a table, train a built-in model,
//! evaluate it, and log everything to a tracked run (embedded store by
//! default, or a `slipway server`), optionally registering the model.
//!
//! Everything that can be wrong with the input (config, files, columns,
//! labels) is checked before the run is created, so bad input exits 2 with
//! nothing logged; a failure after that marks the run FAILED with the error
//! as the `slipway.error` tag.

use crate::embedded::EmbeddedServer;
use crate::run_cmd::context;
use crate::{fmt, TrackingUri, UsageError};
use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{json, Value};
use slipway_client::SlipwayClient;
use slipway_client::{Dataset, DatasetInput, Metric, ModelOutput, Param, RunStatus, Tag};
use slipway_data::{read_table, LoadedTable};
use slipway_train::config::TrainConfig;
use slipway_train::dataset::{self, PreparedData};
use slipway_train::gbm::{Matrix, Model, Task};
use slipway_train::model::{self as models, ModelSpec};
use slipway_train::package::{LoggedAs, ModelPackage};
use slipway_train::{metrics, plots};
use std::collections::BTreeMap;
use std::io::Write;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

pub const EXAMPLES: &str = "\
Examples:
  slipway datagen churn --out data/churn
  slipway train --config train.yaml
  slipway train --config ml/configs/production.yaml --tracking-uri http://mlflow.internal:5000 --quiet
  slipway train --config train.yaml --output-run-id run_id.txt --json | jq .metrics

A config (every key is checked; unknown keys are errors):
  experiment: customer-churn-prediction
  data: {path: data/churn/training.parquet}    # .parquet or .csv; test_path: for a held-out file
  label: churn
  drop: [customer_id]
  split: {test_size: 0.2, stratify: true, seed: 42}
  model: {type: gbm_classifier, params: {n_estimators: 100, learning_rate: 0.1, max_depth: 3}}
  register: churn-classifier                    # optional: becomes the next model version

Model types: gbm_classifier, gbm_regressor, logistic_regression, random_forest_classifier,
random_forest_regressor. String columns become categories; missing values are allowed.
Without --tracking-uri (or SLIPWAY_TRACKING_URI / MLFLOW_TRACKING_URI) the run goes to the
embedded store under $SLIPWAY_HOME (default ./slipway-data); `slipway server` shows it.
Exit codes: 0 trained, 2 bad config or data (nothing logged), 1 anything else.";

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Training config (YAML); relative data paths are relative to the current directory
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: PathBuf,
    /// Override the config's experiment
    #[arg(long, value_name = "NAME")]
    pub experiment: Option<String>,
    /// Name of the run (default: the model type and a timestamp)
    #[arg(long, value_name = "NAME")]
    pub run_name: Option<String>,
    /// Register the model under this name (overrides the config's `register:`)
    #[arg(long, value_name = "NAME")]
    pub register: Option<String>,
    /// Write the bare run id to FILE (for CI steps)
    #[arg(long, value_name = "FILE")]
    pub output_run_id: Option<PathBuf>,
    /// No progress bar and no summary (errors still go to stderr)
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Print the result as JSON on stdout (run id, metrics, model, timings)
    #[arg(long)]
    pub json: bool,
}

/// A config with its data read and checked: everything before a run exists.
pub struct Prepared {
    pub config: TrainConfig,
    pub config_text: String,
    pub config_name: String,
    pub spec: ModelSpec,
    pub hyperparams: BTreeMap<String, String>,
    pub train_table: LoadedTable,
    pub test_table: Option<LoadedTable>,
    pub data: PreparedData,
}

/// What a training run produced.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Outcome {
    pub run_id: String,
    pub experiment_id: String,
    pub run_name: String,
    pub model_type: String,
    pub metrics: BTreeMap<String, f64>,
    pub model_id: Option<String>,
    pub model_uri: String,
    pub registered_model: Option<String>,
    pub model_version: Option<String>,
    pub train_rows: usize,
    pub test_rows: usize,
    pub feature_count: usize,
    pub fit_seconds: f64,
    pub fit_cpu_seconds: Option<f64>,
    pub tracking_uri: String,
}

fn usage(e: impl std::fmt::Display) -> anyhow::Error {
    UsageError::new(e.to_string()).into()
}

/// Reads and checks the config file and its data.
pub fn prepare_from_file(path: &Path, overrides: &TrainArgs) -> anyhow::Result<Prepared> {
    let config_name = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| usage(format!("cannot read config {config_name}: {e}")))?;
    let mut config = TrainConfig::parse(&text).map_err(|e| usage(format!("{config_name}: {e}")))?;
    if let Some(e) = &overrides.experiment {
        config.experiment = e.clone();
    }
    if let Some(r) = &overrides.run_name {
        config.run_name = Some(r.clone());
    }
    if let Some(r) = &overrides.register {
        config.register = Some(r.clone());
    }
    prepare(config, text, config_name)
}

/// Reads the tables a config names and turns them into matrices.
pub fn prepare(
    config: TrainConfig,
    config_text: String,
    config_name: String,
) -> anyhow::Result<Prepared> {
    let in_config = |e: &dyn std::fmt::Display| usage(format!("{config_name}: {e}"));
    let spec = config.model_spec().map_err(|e| in_config(&e))?;
    let hyperparams = spec.effective_params().map_err(|e| in_config(&e))?;
    let read = |key: &str, path: &Path| -> anyhow::Result<LoadedTable> {
        read_table(path).map_err(|e| usage(format!("{config_name}: {key}: {e}")))
    };
    let train_table = read("data.path", &config.data.path)?;
    let test_table = match &config.data.test_path {
        Some(p) => Some(read("data.test_path", p)?),
        None => None,
    };
    if train_table.num_rows == 0 {
        return Err(usage(format!(
            "{config_name}: data.path: {} has no rows",
            train_table.path.display()
        )));
    }
    let dataset_spec = config.dataset_spec().map_err(|e| in_config(&e))?;
    let data = dataset::prepare(
        &train_table.schema,
        &train_table.batches,
        test_table
            .as_ref()
            .map(|t| (t.schema.as_ref(), t.batches.as_slice())),
        &dataset_spec,
        config.split_spec(),
    )
    .map_err(|e| {
        usage(format!(
            "{config_name}: {}: {e}",
            train_table.path.display()
        ))
    })?;
    if spec.model_type != models::ModelType::LogisticRegression {
        check_f32_range(&data, &train_table, test_table.as_ref())?;
    }
    Ok(Prepared {
        config,
        config_text,
        config_name,
        spec,
        hyperparams,
        train_table,
        test_table,
        data,
    })
}

/// Tree models bin values as `f32` (as XGBoost does): a finite value beyond
/// its range is bad input, found before a run exists.
fn check_f32_range(
    data: &PreparedData,
    train: &LoadedTable,
    test: Option<&LoadedTable>,
) -> anyhow::Result<()> {
    let n = data.n_features();
    let sets = [
        (&data.x_train, &data.y_train, train),
        (&data.x_test, &data.y_test, test.unwrap_or(train)),
    ];
    for (x, y, table) in sets {
        let too_big = |v: f64| v.is_finite() && v.abs() > f64::from(f32::MAX);
        if let Some(i) = x.iter().position(|&v| too_big(v)) {
            return Err(usage(format!(
                "{}: column `{}` holds {:e}, beyond the range tree models work in (about ±3.4e38)",
                table.path.display(),
                data.encoder.columns[i % n].name,
                x[i]
            )));
        }
        if let Some(v) = y.iter().find(|&&v| too_big(v)) {
            return Err(usage(format!(
                "{}: label `{}` holds {v:e}, beyond the range tree models work in (about ±3.4e38)",
                table.path.display(),
                data.label.column
            )));
        }
    }
    Ok(())
}

/// `slipway train`.
pub fn run(args: TrainArgs, tracking: &TrackingUri, home: &Path) -> ExitCode {
    let result = (|| {
        let prepared = prepare_from_file(&args.config, &args)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let opts = Options {
            quiet: args.quiet || args.json,
            tracking: tracking.clone(),
            home: home.to_path_buf(),
        };
        let outcome = train_and_log(&runtime, prepared, &opts)?;
        report(&outcome, &args)?;
        Ok::<_, anyhow::Error>(())
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", crate::error_chain(&e));
            ExitCode::from(exit_code_for(&e))
        }
    }
}

pub struct Options {
    pub quiet: bool,
    pub tracking: TrackingUri,
    pub home: PathBuf,
}

/// Where runs go: the tracking server named by flag or environment, else
/// the embedded store.
pub async fn connect(
    tracking: &TrackingUri,
    home: &Path,
) -> anyhow::Result<(SlipwayClient, Option<EmbeddedServer>, String)> {
    if tracking.is_default() {
        let server = EmbeddedServer::start(home).await?;
        let client = SlipwayClient::new(&server.url)?;
        let shown = format!("embedded store {}", home.display());
        return Ok((client, Some(server), shown));
    }
    let client = SlipwayClient::new(&tracking.uri)
        .map_err(|e| anyhow::anyhow!("{e} (tracking URI from {})", tracking.source))?;
    client.health().await.map_err(|e| {
        anyhow::anyhow!(
            "cannot reach the tracking server at {} (from {}): {e}",
            tracking.uri,
            tracking.source
        )
    })?;
    Ok((client, None, tracking.uri.clone()))
}

/// Creates the run, trains, evaluates, logs and (optionally) registers.
pub fn train_and_log(
    runtime: &tokio::runtime::Runtime,
    prepared: Prepared,
    opts: &Options,
) -> anyhow::Result<Outcome> {
    let (client, embedded, shown_uri) = runtime.block_on(connect(&opts.tracking, &opts.home))?;
    let result = (|| {
        let run = runtime.block_on(start_run(&client, &prepared))?;
        let run_id = run.0.clone();
        // From here on Ctrl-C ends the run as KILLED instead of leaving it RUNNING.
        interrupt::install();
        let trained = (|| {
            let fitted = fit(&prepared, opts.quiet)?;
            interrupt::check()?;
            runtime.block_on(log_results(
                &client, &prepared, &run.0, &run.1, fitted, &shown_uri,
            ))
        })();
        match trained {
            Ok(mut outcome) => {
                outcome.run_name = run.2.clone();
                Ok(outcome)
            }
            Err(e) => {
                let message = crate::error_chain(&e);
                let status = if e.downcast_ref::<interrupt::Interrupted>().is_some() {
                    RunStatus::Killed
                } else {
                    RunStatus::Failed
                };
                let _ = runtime.block_on(async {
                    client
                        .set_tag(&run_id, "slipway.error", &truncate(&message, 5000))
                        .await?;
                    client.end_run(&run_id, status).await
                });
                Err(e.context(format!("run {run_id} marked {}", status.as_str())))
            }
        }
    })();
    if let Some(server) = embedded {
        runtime.block_on(server.stop());
    }
    result
}

/// Ctrl-C (SIGINT) and SIGTERM while a run is open: stop after the current
/// boosting round (a random forest finishes its trees first) and end the run
/// as KILLED; exit 130.
mod interrupt {
    use std::sync::atomic::{AtomicBool, Ordering};

    static REQUESTED: AtomicBool = AtomicBool::new(false);

    #[derive(Debug)]
    pub struct Interrupted;

    impl std::fmt::Display for Interrupted {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("interrupted (Ctrl-C or SIGTERM)")
        }
    }

    impl std::error::Error for Interrupted {}

    pub fn install() {
        #[cfg(unix)]
        for sig in [libc::SIGINT, libc::SIGTERM] {
            // SAFETY: the action only stores to an atomic (async-signal-safe).
            let _ = unsafe {
                signal_hook_registry::register(sig, || REQUESTED.store(true, Ordering::Relaxed))
            };
        }
    }

    pub fn requested() -> bool {
        REQUESTED.load(Ordering::Relaxed)
    }

    pub fn check() -> Result<(), Interrupted> {
        if requested() {
            Err(Interrupted)
        } else {
            Ok(())
        }
    }
}

/// Exit status for an interrupted training (128 + SIGINT, as shells report it).
pub fn exit_code_for(e: &anyhow::Error) -> u8 {
    if e.downcast_ref::<interrupt::Interrupted>().is_some() {
        130
    } else if e.downcast_ref::<UsageError>().is_some() {
        2
    } else {
        1
    }
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => s[..i].to_string(),
        None => s.to_string(),
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Returns (run id, experiment id, run name).
async fn start_run(
    client: &SlipwayClient,
    p: &Prepared,
) -> anyhow::Result<(String, String, String)> {
    let experiment_id = client
        .get_or_create_experiment(&p.config.experiment)
        .await?;
    let run_name = p.config.run_name.clone().unwrap_or_else(|| {
        let secs = now_ms() / 1000;
        let mut stamp = String::new();
        slipway_data::time::format_timestamp_micros(secs * 1_000_000, &mut stamp);
        let stamp: String = stamp
            .chars()
            .filter(|c| c.is_ascii_digit())
            .take(14)
            .collect();
        format!("{}-{stamp}", p.spec.model_type)
    });
    let mut tags = vec![
        Tag::new("mlflow.source.name", p.config_name.clone()),
        Tag::new("mlflow.source.type", "LOCAL"),
        Tag::new("slipway.command", "train"),
        Tag::new("slipway.model_type", p.spec.model_type.as_str()),
    ];
    if let Some(user) = context::current_user() {
        tags.push(Tag::new("mlflow.user", user));
    }
    if let Some(git) = std::env::current_dir()
        .ok()
        .and_then(|d| context::git_info(&d))
    {
        tags.push(Tag::new("mlflow.source.git.commit", git.commit));
        tags.push(Tag::new("slipway.git.dirty", git.dirty.to_string()));
        if let Some(b) = git.branch {
            tags.push(Tag::new("mlflow.source.git.branch", b));
        }
        if let Some(u) = git.repo_url {
            tags.push(Tag::new("mlflow.source.git.repoURL", u));
        }
    }
    for (k, v) in &p.config.tags {
        tags.push(Tag::new(k.clone(), v.clone()));
    }
    let run = client
        .create_run(slipway_client::CreateRun {
            experiment_id: experiment_id.clone(),
            user_id: context::current_user(),
            run_name: Some(run_name.clone()),
            start_time: Some(now_ms()),
            tags,
        })
        .await?;
    Ok((run.info.run_id, experiment_id, run_name))
}

pub struct Fitted {
    pub model: models::TrainedModel,
    pub fit_seconds: f64,
    pub fit_cpu_seconds: Option<f64>,
}

/// Process CPU time (user + system), where the platform tells it.
fn cpu_seconds() -> Option<f64> {
    #[cfg(unix)]
    {
        let mut usage = std::mem::MaybeUninit::<libc::rusage>::uninit();
        // SAFETY: getrusage fills the struct it is given.
        let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
        if rc != 0 {
            return None;
        }
        // SAFETY: rc == 0 means the struct was written.
        let u = unsafe { usage.assume_init() };
        let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
        Some(t(u.ru_utime) + t(u.ru_stime))
    }
    #[cfg(not(unix))]
    None
}

fn fit(p: &Prepared, quiet: bool) -> anyhow::Result<Fitted> {
    let total = p.spec.total_rounds()? as u64;
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed_precise}, eta {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_prefix(format!("training {}", p.spec.model_type));
        bar.set_message(
            if matches!(
                p.spec.model_type,
                models::ModelType::RandomForestClassifier
                    | models::ModelType::RandomForestRegressor
            ) {
                "trees"
            } else {
                "rounds"
            },
        );
        bar
    };
    let n = p.data.n_features();
    let x = Matrix::new(&p.data.x_train, p.data.train_rows(), n)?;
    let kinds = p.data.encoder.kinds();
    let started = Instant::now();
    let cpu0 = cpu_seconds();
    let progress = bar.clone();
    let model = models::train(&p.spec, x, &kinds, &p.data.y_train, move |r| {
        progress.set_position(r.completed as u64);
        if interrupt::requested() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })?;
    let fit_seconds = started.elapsed().as_secs_f64();
    let fit_cpu_seconds = cpu0.zip(cpu_seconds()).map(|(a, b)| b - a);
    bar.finish_and_clear();
    Ok(Fitted {
        model,
        fit_seconds,
        fit_cpu_seconds,
    })
}

/// Test-set metrics and the plots that go with them.
struct Evaluation {
    metrics: BTreeMap<String, f64>,
    files: Vec<(String, Vec<u8>)>,
}

fn evaluate(p: &Prepared, model: &models::TrainedModel) -> anyhow::Result<Evaluation> {
    let n = p.data.n_features();
    let x = Matrix::new(&p.data.x_test, p.data.test_rows(), n)?;
    let scores = model.predict_proba(x)?;
    let y = &p.data.y_test;
    let binary = model.task() == Task::Binary;
    let out = metrics::standard_metrics(binary, y, &scores, 0.5)?;
    let mut files = Vec::new();
    if binary {
        let predicted: Vec<f64> = scores
            .iter()
            .map(|&s| if s >= 0.5 { 1.0 } else { 0.0 })
            .collect();
        let auc = out.get("auc_roc").copied().unwrap_or(f64::NAN);
        let roc = metrics::roc_curve(y, &scores)?;
        files.push((
            "plots/roc_curve.svg".into(),
            plots::roc_svg(&roc, auc).into_bytes(),
        ));
        let pr = metrics::precision_recall_curve(y, &scores)?;
        files.push((
            "plots/precision_recall_curve.svg".into(),
            plots::precision_recall_svg(&pr, None).into_bytes(),
        ));
        let cm = metrics::confusion_matrix(y, &predicted)?;
        files.push((
            "plots/confusion_matrix.svg".into(),
            plots::confusion_matrix_svg(&cm).into_bytes(),
        ));
        let [[tn, fp], [fn_, tp]] = cm.to_array();
        files.push((
            "confusion_matrix.json".into(),
            serde_json::to_vec_pretty(&json!({
                "labels": [p.data.label.negative, p.data.label.positive],
                "matrix": [[tn, fp], [fn_, tp]],
                "threshold": 0.5,
            }))?,
        ));
    }
    Ok(Evaluation {
        metrics: out,
        files,
    })
}

fn feature_importance(p: &Prepared, model: &models::TrainedModel) -> (Vec<(String, f64)>, Vec<u8>) {
    let raw = model.feature_importance();
    let total: f64 = raw.iter().filter(|v| v.is_finite()).sum();
    let mut rows: Vec<(String, f64)> = p
        .data
        .encoder
        .names()
        .into_iter()
        .zip(raw)
        .map(|(n, v)| (n, if total > 0.0 { v / total } else { 0.0 }))
        .collect();
    rows.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut csv = String::from("feature,importance\n");
    for (name, v) in &rows {
        csv.push_str(&csv_field(name));
        csv.push(',');
        csv.push_str(&format!("{v}\n"));
    }
    (rows, csv.into_bytes())
}

/// A feature name as one path segment (names may hold `/`, spaces, ...).
fn file_safe(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    match safe.trim_matches('.') {
        "" => "feature".into(),
        s => s.to_string(),
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

pub fn utc_now_mlflow() -> String {
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64);
    let mut s = String::new();
    slipway_data::time::format_timestamp_micros(micros, &mut s);
    // RFC 3339 `2026-11-27T18:00:00.123456Z` -> MLflow's `2026-11-27 18:00:00.123456`.
    s.replace('T', " ").trim_end_matches('Z').to_string()
}

fn dataset_input(table: &LoadedTable, context: &str, p: &Prepared) -> DatasetInput {
    let abs = std::fs::canonicalize(&table.path).unwrap_or_else(|_| table.path.clone());
    let name = table
        .path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "dataset".into());
    let colspec: Vec<Value> = table
        .schema
        .fields()
        .iter()
        .map(|f| {
            let t = p
                .data
                .encoder
                .columns
                .iter()
                .find(|c| &c.name == f.name())
                .map_or_else(
                    || f.data_type().to_string(),
                    |c| c.column_type.as_str().to_string(),
                );
            json!({"name": f.name(), "type": t})
        })
        .collect();
    DatasetInput {
        tags: vec![Tag::new("mlflow.data.context", context)],
        dataset: Dataset {
            name,
            digest: table.digest.clone(),
            source_type: "local".into(),
            source: json!({ "uri": format!("file://{}", abs.display()) }).to_string(),
            schema: Some(json!({ "mlflow_colspec": colspec }).to_string()),
            profile: Some(
                json!({
                    "num_rows": table.num_rows,
                    "num_elements": table.num_rows * table.schema.fields().len(),
                })
                .to_string(),
            ),
        },
    }
}

async fn log_results(
    client: &SlipwayClient,
    p: &Prepared,
    run_id: &str,
    experiment_id: &str,
    fitted: Fitted,
    shown_uri: &str,
) -> anyhow::Result<Outcome> {
    let run_info = client.get_run(run_id).await?.info;
    let model = &fitted.model;
    let evaluation = evaluate(p, model)?;
    let (importance, importance_csv) = feature_importance(p, model);

    // Params: hyperparameters (defaults included) and the data's shape.
    let mut params: BTreeMap<String, String> = p.hyperparams.clone();
    let positives = p.data.y_train.iter().filter(|&&v| v == 1.0).count();
    let mut add = |k: &str, v: String| {
        params.insert(k.to_string(), v);
    };
    add("model_type", p.spec.model_type.as_str().into());
    add("label", p.config.label.clone());
    add("data_path", p.config.data.path.display().to_string());
    add("data_digest", p.train_table.digest.clone());
    add("train_size", p.data.train_rows().to_string());
    add("test_size", p.data.test_rows().to_string());
    add("feature_count", p.data.n_features().to_string());
    if let Some(t) = &p.test_table {
        add("test_data_path", t.path.display().to_string());
        add("test_data_digest", t.digest.clone());
    } else {
        add("split_test_size", p.config.split.test_size.to_string());
        add("split_stratify", p.config.split.stratify.to_string());
        add("split_seed", p.config.split.seed.to_string());
    }
    if p.data.label.task == Task::Binary {
        add(
            "positive_rate",
            format!(
                "{:.6}",
                positives as f64 / p.data.train_rows().max(1) as f64
            ),
        );
        if let Some(pos) = &p.data.label.positive {
            add("positive_label", pos.clone());
        }
    }
    if !p.config.drop.is_empty() {
        add("drop", p.config.drop.join(","));
    }
    let ts = now_ms();
    let mut metric_list: Vec<Metric> = evaluation
        .metrics
        .iter()
        .map(|(k, &v)| metric(k, v, ts))
        .collect();
    metric_list.push(metric("fit_seconds", fitted.fit_seconds, ts));
    let params: Vec<Param> = params
        .into_iter()
        .map(|(key, value)| Param { key, value })
        .collect();
    for chunk in params.chunks(100) {
        client
            .log_batch(run_id, Vec::new(), chunk.to_vec(), Vec::new())
            .await?;
    }
    client
        .log_batch(run_id, metric_list, Vec::new(), Vec::new())
        .await?;

    let mut inputs = vec![dataset_input(&p.train_table, "training", p)];
    if let Some(t) = &p.test_table {
        inputs.push(dataset_input(t, "testing", p));
    }
    client.log_inputs(run_id, inputs, Vec::new()).await?;

    // Run artifacts.
    let artifact_uri = run_info.artifact_uri.clone();
    let mut files = evaluation.files;
    files.push(("feature_importance.csv".into(), importance_csv));
    let names: Vec<String> = importance.iter().map(|(n, _)| n.clone()).collect();
    let values: Vec<f64> = importance.iter().map(|(_, v)| *v).collect();
    files.push((
        "plots/feature_importance.svg".into(),
        plots::feature_importance_svg(&names, &values, 20).into_bytes(),
    ));
    let feature_names = p.data.encoder.names();
    let columns: Vec<&str> = feature_names.iter().map(String::as_str).collect();
    let profile = slipway_data::profile::profile_table(&p.train_table.batches, &columns)?;
    files.push((
        "data_profile.json".into(),
        serde_json::to_vec_pretty(&profile)?,
    ));
    for feature in &profile.features {
        if let slipway_data::profile::ProfileKind::Numeric { histogram, .. } = &feature.kind {
            files.push((
                format!("plots/data_profile/{}.svg", file_safe(&feature.name)),
                plots::histogram_svg(&feature.name, &histogram.edges, &histogram.counts)
                    .into_bytes(),
            ));
        }
    }
    files.push((
        "train_config.yaml".into(),
        p.config_text.clone().into_bytes(),
    ));
    for (path, bytes) in files {
        client
            .upload_artifact_bytes(&artifact_uri, &path, bytes)
            .await
            .with_context(|| format!("cannot upload artifact {path}"))?;
    }

    // The model, as MLflow 3 logs one: a logged model linked to the run.
    let logged = client
        .create_logged_model(slipway_client::CreateLoggedModel {
            experiment_id: experiment_id.to_string(),
            name: Some("model".into()),
            model_type: Some("slipway".into()),
            source_run_id: Some(run_id.to_string()),
            params: p
                .hyperparams
                .iter()
                .map(|(k, v)| Param {
                    key: k.clone(),
                    value: v.clone(),
                })
                .collect(),
            tags: Vec::new(),
        })
        .await?;
    let model_id = logged.info.model_id.clone();
    let package = ModelPackage::new(model.clone(), p.data.encoder.clone(), p.data.label.clone());
    let model_files = package.files(
        &LoggedAs {
            run_id: run_id.to_string(),
            model_id: Some(model_id.clone()),
            artifact_path: "model".into(),
            utc_time_created: utc_now_mlflow(),
            model_uuid: uuid::Uuid::new_v4().simple().to_string(),
        },
        &p.data.example_rows,
    )?;
    for (path, bytes) in model_files {
        client
            .upload_artifact_bytes(&logged.info.artifact_uri, &path, bytes)
            .await
            .with_context(|| format!("cannot upload model file {path}"))?;
    }
    client
        .finalize_logged_model(&model_id, slipway_client::LoggedModelStatus::Ready)
        .await?;
    client
        .log_outputs(
            run_id,
            vec![ModelOutput {
                model_id: model_id.clone(),
                step: 0,
            }],
        )
        .await?;

    let mut registered_model = None;
    let mut model_version = None;
    if let Some(name) = &p.config.register {
        match client.create_registered_model(name).await {
            Ok(_) => {}
            Err(e) if e.is_already_exists() => {}
            Err(e) => return Err(e).with_context(|| format!("cannot register '{name}'")),
        }
        let mv = client
            .create_model_version_with(slipway_client::CreateModelVersion {
                name: name.clone(),
                source: format!("models:/{model_id}"),
                run_id: Some(run_id.to_string()),
                model_id: Some(model_id.clone()),
                ..Default::default()
            })
            .await
            .with_context(|| format!("cannot register '{name}'"))?;
        registered_model = Some(mv.name.clone());
        model_version = Some(mv.version.clone());
    }
    client.end_run(run_id, RunStatus::Finished).await?;
    let mut metrics_out = evaluation.metrics;
    metrics_out.insert("fit_seconds".into(), fitted.fit_seconds);
    Ok(Outcome {
        run_id: run_id.to_string(),
        experiment_id: experiment_id.to_string(),
        run_name: String::new(),
        model_type: p.spec.model_type.as_str().into(),
        metrics: metrics_out,
        model_uri: format!("models:/{model_id}"),
        model_id: Some(model_id),
        registered_model,
        model_version,
        train_rows: p.data.train_rows(),
        test_rows: p.data.test_rows(),
        feature_count: p.data.n_features(),
        fit_seconds: fitted.fit_seconds,
        fit_cpu_seconds: fitted.fit_cpu_seconds,
        tracking_uri: shown_uri.to_string(),
    })
}

fn metric(key: &str, value: f64, timestamp: i64) -> Metric {
    Metric {
        key: key.to_string(),
        value,
        timestamp,
        step: 0,
        ..Default::default()
    }
}

/// Appends `key=value` lines to the file GitHub Actions reads step outputs from.
fn write_github_output(outcome: &Outcome) -> anyhow::Result<()> {
    let Some(path) = std::env::var_os("GITHUB_OUTPUT").filter(|p| !p.is_empty()) else {
        return Ok(());
    };
    let mut lines = format!(
        "run_id={}\nmodel_uri={}\n",
        outcome.run_id, outcome.model_uri
    );
    if let (Some(name), Some(version)) = (&outcome.registered_model, &outcome.model_version) {
        lines.push_str(&format!(
            "model_version={version}\nregistered_model={name}\n"
        ));
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(lines.as_bytes()))
        .with_context(|| {
            format!(
                "cannot write $GITHUB_OUTPUT ({})",
                PathBuf::from(&path).display()
            )
        })
}

fn report(outcome: &Outcome, args: &TrainArgs) -> anyhow::Result<()> {
    if let Some(path) = &args.output_run_id {
        std::fs::write(path, &outcome.run_id)
            .with_context(|| format!("cannot write --output-run-id {}", path.display()))?;
    }
    write_github_output(outcome)?;
    if args.json {
        crate::write_stdout(&format!("{}\n", serde_json::to_string_pretty(outcome)?))?;
    } else if args.quiet {
        crate::write_stdout(&format!("{}\n", outcome.run_id))?;
    } else {
        crate::write_stdout(&summary(outcome))?;
    }
    Ok(())
}

/// The terminal summary: the run, its metrics and where the model is.
pub fn summary(outcome: &Outcome) -> String {
    let mut table = fmt::table();
    table.set_header(vec!["result", "value"]);
    table.add_row(vec!["run id".to_string(), outcome.run_id.clone()]);
    table.add_row(vec!["run name".to_string(), outcome.run_name.clone()]);
    table.add_row(vec!["model".to_string(), outcome.model_type.clone()]);
    table.add_row(vec![
        "rows".to_string(),
        format!(
            "{} train / {} test, {} features",
            outcome.train_rows, outcome.test_rows, outcome.feature_count
        ),
    ]);
    for (k, v) in &outcome.metrics {
        if k == "fit_seconds" {
            continue;
        }
        table.add_row(vec![k.clone(), format!("{v:.4}")]);
    }
    table.add_row(vec![
        "fit time".to_string(),
        format!("{:.2} s", outcome.fit_seconds),
    ]);
    table.add_row(vec!["model uri".to_string(), outcome.model_uri.clone()]);
    if let (Some(name), Some(v)) = (&outcome.registered_model, &outcome.model_version) {
        table.add_row(vec![
            "registered".to_string(),
            format!("models:/{name}/{v}"),
        ]);
    }
    table.add_row(vec!["logged to".to_string(), outcome.tracking_uri.clone()]);
    format!("{table}\n")
}
