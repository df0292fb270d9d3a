//! `slipway serve`: resolve a model URI through the tracking server, load
//! and warm the model, serve it (slipway-serve's engine and router), and
//! follow the URI: when its stage or alias points at a new version, load and
//! warm that beside the old one and swap atomically.
//!
//! Following has two triggers feeding one reloader task (so two reloads of a
//! slot never race): the registry's event feed (long polls of
//! `/api/2.0/slipway/registry/events`, so a promotion is served within
//! moments), and polling every `--poll-interval` seconds as the backstop,
//! and the only trigger against a tracking server without the feed (one
//! that answers 404 there).
//!
//! A model Slipway does not run natively but which has a `python_function`
//! flavor is served through Python worker processes ([`pyfunc`]): its
//! directory is copied locally, `--workers` processes load it with
//! `mlflow.pyfunc.load_model`, and the engine hands them batches. A model
//! replaced by a hot reload has its workers stopped once no request uses it.

mod pyfunc;

use anyhow::Context;
use clap::Args;
use slipway_client::SlipwayClient;
use slipway_serve::engine::Engine;
use slipway_serve::error::LoadError;
use slipway_serve::model::{
    detect_format, raw_model_columns, ModelIdentity, ModelRef, ServedModel,
};
use slipway_serve::predlog::{OnFull, PredictionLog};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

use crate::{TrackingUri, UsageError};

pub const EXAMPLES: &str = "\
Examples:
  slipway serve --model models:/churn-classifier/Production
  slipway serve --model models:/churn-classifier@champion --port 8080 --tracking-uri http://127.0.0.1:5000
  slipway serve --model models:/churn-classifier/Production --canary models:/churn-classifier@challenger=10
  slipway serve --model models:/churn-classifier/Production --shadow models:/churn-classifier/Staging
  slipway serve --model models:/churn-classifier@champion --no-registry-events --poll-interval 30
  SLIPWAY_PYTHON=.venv/bin/python slipway serve --model models:/my-pyfunc-model/1 --workers 2 --max-batch-wait-ms 2

  curl -s localhost:8080/predict -d '{\"customer_id\": \"C1\", \"features\": {\"tenure_days\": 12, \"plan\": \"basic\"}}'
  curl -s localhost:8080/invocations -H 'Content-Type: application/json' -d '{\"dataframe_records\": [{...}]}'
  curl -s localhost:8080/v2/models/churn-classifier/infer -d '{\"inputs\": [{\"name\": \"input-0\", \"shape\": [1, 12], \"datatype\": \"FP64\", \"data\": [...]}]}'

Routes: POST /predict, /predict/batch ({\"instances\": [{customer_id, features}, ...]}), /invocations
(MLflow: dataframe_split, dataframe_records, instances, inputs, text/csv), /v2/models/NAME/infer
(Open Inference Protocol); GET /health, /metrics, /ping, /version, /v2, /v2/health/{live,ready}.
The server follows the URI's stage or alias and swaps in a new version without dropping a request:
it long-polls the registry's event feed, so a promotion is served within moments, and re-checks
every --poll-interval seconds as a backstop (the only check against a tracking server without the
feed; --no-registry-events turns the feed off). Predictions are logged as Parquet segments in a
directory (--prediction-log DIR; schema slipway-predictions/3: one typed column per feature beside
the prediction; read with pandas.read_parquet(DIR) or duckdb DIR/*.parquet).

Slipway models and ONNX models are scored in process. Any other model with a python_function flavor
(a custom mlflow.pyfunc.PythonModel, a pickled scikit-learn model, ...) is served through --workers
Python processes that load it with mlflow.pyfunc.load_model; the interpreter is SLIPWAY_PYTHON, else
python3 on PATH, and needs mlflow and the model's requirements. Requests arriving together are sent to
a worker as one batch (at most --max-batch-size rows, waiting at most --max-batch-wait-ms for others);
a worker that dies is restarted, and the requests it was scoring are answered with an error. The
start-up log says which path a model takes and why; /health lists the workers' process ids.";

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The model to serve: models:/NAME/STAGE, models:/NAME@ALIAS, models:/NAME/VERSION,
    /// models:/m-ID or runs:/RUN_ID/PATH
    #[arg(long, value_name = "URI")]
    pub model: String,

    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1", value_name = "HOST")]
    pub host: String,

    /// Port to listen on (0: any free port)
    #[arg(short = 'p', long, default_value_t = 8080, value_name = "PORT")]
    pub port: u16,

    /// Send PCT percent of requests to a challenger, e.g. models:/churn@challenger=10
    /// (by a hash of customer_id when the request has one, else at random)
    #[arg(long, value_name = "URI=PCT")]
    pub canary: Option<String>,

    /// Score this model on every request too, off the response path; its answers
    /// go to the prediction log only
    #[arg(long, value_name = "URI")]
    pub shadow: Option<String>,

    /// Seconds between checks of what the URIs resolve to: the backstop of the registry's
    /// event feed for hot reload, and the only check without it; 0 turns polling off
    #[arg(long, default_value_t = 5.0, value_name = "S")]
    pub poll_interval: f64,

    /// Do not follow the registry's event feed; reload by polling only (--poll-interval)
    #[arg(long)]
    pub no_registry_events: bool,

    /// Largest request body accepted (bigger: 413)
    #[arg(long, default_value_t = slipway_serve::engine::DEFAULT_MAX_BODY_BYTES, value_name = "N")]
    pub max_body_bytes: usize,

    /// Python worker processes for a model served through Python (a python_function model
    /// Slipway does not run natively), as `mlflow models serve --workers`
    #[arg(short = 'w', long, default_value_t = DEFAULT_PYTHON_WORKERS, value_name = "N")]
    pub workers: usize,

    /// Most rows in one batch sent to a Python worker (requests arriving together are
    /// batched; 1 sends every request alone)
    #[arg(long, default_value_t = slipway_python::batch::DEFAULT_MAX_BATCH_SIZE, value_name = "ROWS")]
    pub max_batch_size: usize,

    /// Longest a request waits for others to join its batch to a Python worker, in
    /// milliseconds (0: a free worker takes only what is already queued)
    #[arg(long, default_value_t = slipway_python::batch::DEFAULT_MAX_WAIT.as_secs_f64() * 1e3, value_name = "MS")]
    pub max_batch_wait_ms: f64,

    /// Seconds a Python worker may take to answer a batch; then it is killed and restarted,
    /// and the batch's requests get an error
    #[arg(long, default_value_t = slipway_python::worker::DEFAULT_PREDICT_TIMEOUT.as_secs_f64(), value_name = "S")]
    pub predict_timeout: f64,

    /// Threads of the async runtime that serves HTTP (0: one per CPU core)
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub threads: usize,

    /// Prediction log directory: Parquet segments, one per second at most
    /// [default: $SLIPWAY_HOME/predictions/NAME/]
    #[arg(long, value_name = "DIR")]
    pub prediction_log: Option<PathBuf>,

    /// Do not log predictions
    #[arg(long, conflicts_with = "prediction_log")]
    pub no_prediction_log: bool,

    /// When the prediction log's queue (65,536 rows) is full: drop the rows and count
    /// them (/health, /metrics), so answers never wait for the log; or block each
    /// request until the writer has made room, so no answered row goes unlogged
    #[arg(long, value_enum, default_value_t = LogOnFull::Drop, value_name = "POLICY")]
    pub prediction_log_on_full: LogOnFull,

    /// Where the Python for a model comes from (the scikit-learn converter and the Python
    /// workers): virtualenv builds the model's environment from its requirements (cached
    /// under $SLIPWAY_HOME/envs); local uses $SLIPWAY_PYTHON (else python3) as it is
    #[arg(
        long,
        value_enum,
        default_value = "virtualenv",
        env = "SLIPWAY_ENV_MANAGER"
    )]
    pub env_manager: crate::convert::EnvManagerArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogOnFull {
    Drop,
    Block,
}

impl From<LogOnFull> for OnFull {
    fn from(p: LogOnFull) -> OnFull {
        match p {
            LogOnFull::Drop => OnFull::Drop,
            LogOnFull::Block => OnFull::Block,
        }
    }
}

/// `URI=PCT` of --canary.
fn parse_canary(s: &str) -> anyhow::Result<(String, f64)> {
    let (uri, pct) = s.rsplit_once('=').ok_or_else(|| {
        UsageError::new(format!(
            "--canary {s}: expected URI=PERCENT, e.g. models:/churn@challenger=10"
        ))
    })?;
    let pct: f64 = pct.trim().trim_end_matches('%').parse().map_err(|_| {
        UsageError::new(format!("--canary {s}: '{pct}' is not a percentage (0-100)"))
    })?;
    if !(0.0..=100.0).contains(&pct) || uri.is_empty() {
        return Err(UsageError::new(format!(
            "--canary {s}: the percentage must be between 0 and 100"
        ))
        .into());
    }
    Ok((uri.to_string(), pct))
}

/// The Python worker flags, checked.
fn worker_options(args: &ServeArgs) -> anyhow::Result<pyfunc::WorkerOptions> {
    if args.workers == 0 {
        return Err(UsageError::new("--workers must be at least 1").into());
    }
    if args.max_batch_size == 0 {
        return Err(UsageError::new("--max-batch-size must be at least 1 (1: no batching)").into());
    }
    if !(args.max_batch_wait_ms >= 0.0 && args.max_batch_wait_ms <= 60_000.0) {
        return Err(UsageError::new(
            "--max-batch-wait-ms must be a number of milliseconds from 0 to 60000",
        )
        .into());
    }
    if !(args.predict_timeout > 0.0 && args.predict_timeout <= 86_400.0) {
        return Err(
            UsageError::new("--predict-timeout must be a number of seconds above 0").into(),
        );
    }
    Ok(pyfunc::WorkerOptions {
        workers: args.workers,
        batch: slipway_python::batch::BatchConfig {
            max_batch_size: args.max_batch_size,
            max_wait: Duration::from_secs_f64(args.max_batch_wait_ms / 1e3),
        },
        predict_timeout: Duration::from_secs_f64(args.predict_timeout),
    })
}

/// What a URI resolves to now: (name, version, model id, artifact URI, run id).
async fn resolve(
    client: &SlipwayClient,
    uri: &str,
) -> anyhow::Result<slipway_client::ResolvedModel> {
    client.resolve_model_uri(uri).await.map_err(|e| {
        if e.is_not_found()
            || (e.to_string().contains("alias") && e.to_string().contains("not found"))
        {
            anyhow::anyhow!(
                "{uri} resolves to no model version (is a version in that stage or alias?): {e}"
            )
        } else {
            anyhow::anyhow!("cannot resolve {uri}: {e}")
        }
    })
}

/// Python worker processes per model by default.
pub const DEFAULT_PYTHON_WORKERS: usize = 2;

/// What loading a model needs besides the client: where local copies of
/// model directories and environments go, and how Python runs.
#[derive(Debug, Clone)]
struct Loader {
    home: PathBuf,
    /// Where a model's Python comes from (conversion and workers).
    env_manager: slipway_python::EnvManager,
    workers: pyfunc::WorkerOptions,
}

fn identity(resolved: &slipway_client::ResolvedModel, uri: &str) -> ModelIdentity {
    ModelIdentity {
        name: resolved
            .name
            .clone()
            .or_else(|| resolved.model_id.clone())
            .unwrap_or_else(|| uri.to_string()),
        version: resolved
            .version
            .clone()
            .or_else(|| resolved.model_id.clone())
            .unwrap_or_default(),
        uri: uri.to_string(),
        run_id: resolved.run_id.clone(),
        model_id: resolved.model_id.clone(),
    }
}

/// A scikit-learn model: its ONNX conversion (stored, or made now and
/// stored), loaded and warmed with the ONNX engine.
async fn load_sklearn(
    client: &SlipwayClient,
    uri: &str,
    resolved: &slipway_client::ResolvedModel,
    mlmodel: Vec<u8>,
    loader: &Loader,
) -> anyhow::Result<ServedModel> {
    use crate::convert::{ConvertOutcome, Obtained};
    let model_dir =
        crate::model_files::local_model_dir(client, &resolved.artifact_uri, &loader.home).await?;
    let native = match crate::convert::native_onnx_for(
        client,
        resolved,
        &model_dir,
        loader.env_manager,
        &loader.home,
    )
    .await?
    {
        ConvertOutcome::Native(native) => native,
        ConvertOutcome::NotConvertible { reason } => {
            let why = format!("its ONNX conversion failed: {reason}");
            return load_python(client, uri, resolved, mlmodel, &why, loader).await;
        }
    };
    let r = &native.record;
    let how = match &native.obtained {
        Obtained::Stored => "using the ONNX conversion stored with it",
        Obtained::Converted { .. } => "converted to ONNX now",
    };
    tracing::info!(
        "{uri}: scikit-learn model ({}) served natively, {how} ({}; parity on {})",
        r.source.estimator,
        r.converter_versions(),
        r.parity.describe()
    );
    let identity = identity(resolved, uri);
    tokio::task::spawn_blocking(move || native.load(identity))
        .await
        .context("loading the model panicked")?
}

/// Resolves, reads, loads and warms up the model `uri` points at.
async fn load(client: &SlipwayClient, uri: &str, loader: &Loader) -> anyhow::Result<ServedModel> {
    let resolved = resolve(client, uri).await?;
    let base = &resolved.artifact_uri;
    let read = |name: String| async move {
        match client.read_artifact(base, &name).await {
            Ok(b) => Ok(Some(b.to_vec())),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(anyhow::anyhow!("cannot read {name} of {uri}: {e}")),
        }
    };
    let mlmodel = read("MLmodel".into()).await?.ok_or_else(|| {
        anyhow::anyhow!("no MLmodel file at {base}: not an MLflow model directory")
    })?;
    let has_onnx = match detect_format(&mlmodel, false) {
        Ok(_) => false,
        Err(_) if crate::convert::is_sklearn(&mlmodel) => {
            return load_sklearn(client, uri, &resolved, mlmodel, loader).await;
        }
        Err(_) => read("model.onnx".into()).await?.is_some(),
    };
    let format = match detect_format(&mlmodel, has_onnx) {
        Ok(format) => format,
        Err(LoadError::Unsupported { flavors }) if flavors.iter().any(|f| f == PYFUNC) => {
            let why = format!(
                "Slipway runs slipway and onnx models itself, and this one has flavors [{}]",
                flavors.join(", ")
            );
            return load_python(client, uri, &resolved, mlmodel, &why, loader).await;
        }
        Err(e) => return Err(e.into()),
    };
    let mut files = HashMap::new();
    for name in format.files() {
        if let Some(bytes) = read(name.clone()).await? {
            files.insert(name, bytes);
        }
    }
    let identity = identity(&resolved, uri);
    let model = tokio::task::spawn_blocking(move || -> anyhow::Result<ServedModel> {
        let model = ServedModel::load(identity, &mlmodel, &format, |n| files.remove(n))?;
        model.warm_up()?;
        Ok(model)
    })
    .await
    .context("loading the model panicked")??;
    Ok(model)
}

/// The flavor every MLflow model a Python process can load has.
const PYFUNC: &str = "python_function";

/// The Python-worker path: a local copy of the model directory, the
/// workers started on it (each loads the model), then the input example
/// scored once. `why`: why the model takes this path, for the log.
async fn load_python(
    client: &SlipwayClient,
    uri: &str,
    resolved: &slipway_client::ResolvedModel,
    mlmodel: Vec<u8>,
    why: &str,
    loader: &Loader,
) -> anyhow::Result<ServedModel> {
    // Refused before any download or process when it has no signature.
    let columns = raw_model_columns(&mlmodel)?;
    let dir = crate::model_files::local_model_dir(client, &resolved.artifact_uri, &loader.home)
        .await
        .with_context(|| format!("cannot copy the model at {} locally", resolved.artifact_uri))?;
    let label = uri.to_string();
    let (model_dir, env_manager, home) = (dir.clone(), loader.env_manager, loader.home.clone());
    let env = tokio::task::spawn_blocking(move || {
        let mlflow = [slipway_python::env::Requirement::new("mlflow", "mlflow")];
        slipway_python::python_for_model(
            env_manager,
            &slipway_python::env::EnvRequest {
                model_dir: &model_dir,
                extras: &[],
                model_modules: &mlflow,
            },
            &slipway_python::EnvOptions::from_env(&home),
            &mut |event| crate::convert::show_progress(&label, event),
        )
    })
    .await
    .context("building the model's environment panicked")?
    .with_context(|| format!("no Python environment for {uri} (--env-manager {env_manager})"))?;
    let python = env.python.clone();
    let source = match (&env.dir, std::env::var_os("SLIPWAY_PYTHON")) {
        (Some(dir), _) => format!("the model's environment {}", dir.display()),
        (None, Some(_)) => "SLIPWAY_PYTHON".into(),
        (None, None) => "python3 on PATH".into(),
    };
    let options = loader.workers;
    tracing::info!(
        "{uri}: serving through {} Python worker process(es), because {why}; interpreter {} ({source})",
        options.workers,
        python.display()
    );
    let workers = pyfunc::PythonWorkers::start(&dir, &columns, &python, options)
        .await
        .with_context(|| {
            format!(
                "cannot start the Python workers for {uri} with {} ({source}): it needs mlflow and \
                 the model's requirements (--env-manager virtualenv builds them; with local, set \
                 SLIPWAY_PYTHON to such an interpreter)",
                python.display()
            )
        })?;
    let info = workers.pool().info().clone();
    tracing::info!(
        "{uri}: Python workers ready (pids {:?}): Python {}, mlflow {}, loader {}; batches of at \
         most {} rows, waiting at most {:?}",
        workers.pool().stats().pids,
        info.python,
        info.mlflow.as_deref().unwrap_or("?"),
        info.loader_module.as_deref().unwrap_or("?"),
        options.batch.max_batch_size,
        options.batch.max_wait,
    );
    let example = tokio::fs::read(dir.join("input_example.json")).await.ok();
    let identity = identity(resolved, uri);
    tokio::task::spawn_blocking(move || -> anyhow::Result<ServedModel> {
        let model = ServedModel::from_raw_scorer(
            identity,
            &mlmodel,
            Box::new(workers),
            example.as_deref(),
        )?;
        model.warm_up()?;
        Ok(model)
    })
    .await
    .context("loading the model panicked")?
}

/// How long a replaced model may still be used by requests before its
/// Python workers are stopped anyway.
const RETIRE_WAIT: Duration = Duration::from_secs(120);

/// Stops a replaced model's worker processes once no request uses it (the
/// requests in flight finish first); other models need nothing.
async fn retire(old: ModelRef) {
    if !old.takes_raw() {
        return;
    }
    let deadline = Instant::now() + RETIRE_WAIT;
    // The engine's slot no longer holds it: requests still scoring and the
    // prediction log's queue do, for moments.
    while Arc::strong_count(&old) > 1 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if let Some(raw) = old.scorer.raw() {
        raw.close();
    }
    tracing::info!(
        "stopped the Python workers of {} version {}",
        old.name,
        old.version
    );
}

fn describe(m: &ServedModel) -> String {
    format!(
        "{} ({} version {}, {} model, {} features)",
        m.uri,
        m.name,
        m.version,
        m.flavor,
        m.columns.len()
    )
}

/// How long one long poll of the registry's event feed waits (the server's
/// cap is 60 s; shorter keeps idle connections well inside proxies' timeouts).
const FEED_WAIT: Duration = Duration::from_secs(25);
/// First and longest pause after a failed long poll (doubling in between).
const FEED_RETRY_FIRST: Duration = Duration::from_millis(500);
const FEED_RETRY_MAX: Duration = Duration::from_secs(30);
/// Pause after an empty answer that came early (a server shutting down, or
/// one that ignores `wait_ms`), so the feed never spins.
const FEED_EARLY_PAUSE: Duration = Duration::from_secs(1);
/// Page size when looking for the newest event id at start-up.
const FEED_PAGE: i64 = 10_000;

/// Why the reloader looks at the slots again.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Trigger {
    /// Registry events about these registered models.
    Models(HashSet<String>),
    /// Anything may have moved: a poll tick, or the feed lost its place.
    All,
}

impl Trigger {
    /// The registered models `events` may have moved; a rename also names
    /// the old name, which a slot's URI may still use.
    fn of(events: &[slipway_client::RegistryEvent]) -> Trigger {
        let mut names = HashSet::new();
        for e in events {
            names.insert(e.name.clone());
            if e.kind == "registered_model_renamed" {
                names.extend(e.from.clone());
            }
        }
        Trigger::Models(names)
    }

    fn merge(self, other: Trigger) -> Trigger {
        match (self, other) {
            (Trigger::Models(mut a), Trigger::Models(b)) => {
                a.extend(b);
                Trigger::Models(a)
            }
            _ => Trigger::All,
        }
    }

    /// Every event may change what a URI of that model resolves to (a new
    /// version moves `latest`, a stage or alias change, a deletion...): the
    /// re-resolution decides, and costs one call.
    fn concerns(&self, model: &str) -> bool {
        match self {
            Trigger::Models(names) => names.contains(model),
            Trigger::All => true,
        }
    }
}

/// The tracking server has no event feed: a 404 that is no MLflow error on
/// the endpoint (`mlflow server` answers so). A Slipway server that ignores
/// `wait_ms` still answers, at once; [`FEED_EARLY_PAUSE`] keeps that from
/// spinning.
fn feed_unsupported(e: &slipway_client::Error) -> bool {
    e.is_endpoint_missing()
}

/// The id of the newest recorded registry event (0 when there is none).
async fn latest_event_id(client: &SlipwayClient) -> Result<i64, slipway_client::Error> {
    let mut after = 0;
    loop {
        let page = client.registry_events(None, after, Some(FEED_PAGE)).await?;
        let full = page.len() as i64 >= FEED_PAGE;
        match page.last() {
            Some(e) if e.id > after => after = e.id,
            _ => return Ok(after),
        }
        if !full {
            return Ok(after);
        }
    }
}

/// Where the event feed starts, found before the models are loaded so that
/// no change committed while they load is missed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FeedStart {
    /// After this event id.
    After(i64),
    /// Not known yet (the server did not answer): the feed finds it later
    /// and then re-checks every slot.
    Unknown,
    /// No feed on this server.
    Unsupported,
}

async fn feed_start(client: &SlipwayClient) -> FeedStart {
    match latest_event_id(client).await {
        Ok(id) => FeedStart::After(id),
        Err(e) if feed_unsupported(&e) => FeedStart::Unsupported,
        Err(e) => {
            tracing::debug!("registry event feed: cannot read the newest event yet: {e}");
            FeedStart::Unknown
        }
    }
}

/// Follows the registry's event feed and sends the reloader a [`Trigger`]
/// for each batch of events. Errors (the server restarting) back off and
/// retry; a server without the feed ends it.
async fn follow_feed(
    client: SlipwayClient,
    start: Option<i64>,
    tx: mpsc::UnboundedSender<Trigger>,
) {
    let mut after = start;
    let mut retry = FEED_RETRY_FIRST;
    let mut failing = false;
    loop {
        let step = match after {
            // What happened before we found our place is unknown: look at every slot once.
            None => latest_event_id(&client).await.map(|id| {
                after = Some(id);
                Some(Trigger::All)
            }),
            Some(from) => {
                let asked = Instant::now();
                match client
                    .wait_registry_events(None, from, None, FEED_WAIT)
                    .await
                {
                    Ok(events) if events.is_empty() => {
                        if asked.elapsed() < FEED_WAIT / 2 {
                            tokio::time::sleep(FEED_EARLY_PAUSE).await;
                        }
                        Ok(None)
                    }
                    Ok(events) => {
                        after = events.iter().map(|e| e.id).max().map(|id| id.max(from));
                        Ok(Some(Trigger::of(&events)))
                    }
                    Err(e) => Err(e),
                }
            }
        };
        match step {
            Ok(trigger) => {
                if failing {
                    tracing::info!("registry event feed: back");
                    failing = false;
                }
                retry = FEED_RETRY_FIRST;
                if let Some(trigger) = trigger {
                    if tx.send(trigger).is_err() {
                        return;
                    }
                }
            }
            Err(e) if feed_unsupported(&e) => {
                tracing::info!(
                    "the tracking server has no registry event feed ({e}): following by polling only"
                );
                return;
            }
            Err(e) => {
                if failing {
                    tracing::debug!("registry event feed: {e}; retrying in {retry:?}");
                } else {
                    tracing::warn!(
                        "registry event feed: {e}; retrying with backoff (polling continues meanwhile)"
                    );
                    failing = true;
                }
                tokio::time::sleep(retry).await;
                retry = (retry * 2).min(FEED_RETRY_MAX);
            }
        }
    }
}

/// The one reloader: on each poll tick or feed trigger, re-resolves the
/// slots concerned and loads, warms and swaps in what changed.
async fn follow(
    client: SlipwayClient,
    loader: Loader,
    engine: Arc<Engine>,
    poll: Option<Duration>,
    mut feed: Option<mpsc::UnboundedReceiver<Trigger>>,
) {
    let mut ticks = poll.map(|every| {
        let mut t = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        t
    });
    loop {
        if ticks.is_none() && feed.is_none() {
            return;
        }
        let mut trigger = tokio::select! {
            _ = async {
                match ticks.as_mut() {
                    Some(t) => {
                        t.tick().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            } => Trigger::All,
            received = async {
                match feed.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            } => match received {
                Some(t) => t,
                None => {
                    feed = None;
                    continue;
                }
            },
        };
        // Whatever queued up meanwhile is covered by this one pass.
        if let Some(rx) = feed.as_mut() {
            while let Ok(more) = rx.try_recv() {
                trigger = trigger.merge(more);
            }
        }
        reload(&client, &loader, &engine, &trigger).await;
    }
}

/// Re-resolves the slots `trigger` concerns; loads, warms and swaps in what changed.
async fn reload(client: &SlipwayClient, loader: &Loader, engine: &Engine, trigger: &Trigger) {
    for (role, slot) in engine.slots() {
        let current = slot.get();
        if !trigger.concerns(&current.name) {
            continue;
        }
        let resolved = match resolve(client, &slot.uri).await {
            Ok(r) => r,
            Err(e) => {
                // A poll repeats this every few seconds; an event says it once.
                if *trigger == Trigger::All {
                    tracing::debug!("hot reload: {e}");
                } else {
                    tracing::warn!(
                        "{}: still serving version {}: {e}",
                        role.as_str(),
                        current.version
                    );
                }
                continue;
            }
        };
        let same = resolved.version.as_deref().unwrap_or_default() == current.version
            || (resolved.version.is_none() && resolved.model_id == current.model_id);
        if same && resolved.model_id == current.model_id {
            continue;
        }
        match load(client, &slot.uri, loader).await {
            Ok(model) => {
                let shown = describe(&model);
                let model: ModelRef = Arc::new(model);
                if let Some(old) = engine.swap(role, model) {
                    tokio::spawn(retire(old));
                }
                tracing::info!(
                    "{}: now serving {shown} (was version {})",
                    role.as_str(),
                    current.version
                );
            }
            Err(e) => {
                engine.metrics.reload(role.as_str(), false);
                tracing::warn!(
                    "{}: {} moved to version {}, which cannot be served; still serving version {}: {e:#}",
                    role.as_str(),
                    slot.uri,
                    resolved.version.as_deref().unwrap_or("?"),
                    current.version
                );
            }
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

async fn serve(args: ServeArgs, tracking: &TrackingUri, home: &Path) -> anyhow::Result<()> {
    let canary = args.canary.as_deref().map(parse_canary).transpose()?;
    if !(args.poll_interval >= 0.0 && args.poll_interval.is_finite()) {
        return Err(UsageError::new("--poll-interval must be a number of seconds >= 0").into());
    }
    let loader = Loader {
        home: home.to_path_buf(),
        env_manager: args.env_manager.into(),
        workers: worker_options(&args)?,
    };
    let (client, embedded, shown) = crate::train::connect(tracking, home).await?;
    let result = async {
        let start = if args.no_registry_events {
            FeedStart::Unsupported
        } else {
            let start = feed_start(&client).await;
            if start == FeedStart::Unsupported {
                tracing::info!(
                    "{shown} has no registry event feed: following by polling only{}",
                    if args.poll_interval > 0.0 {
                        ""
                    } else {
                        " (off: --poll-interval 0)"
                    }
                );
            }
            start
        };
        let champion = load(&client, &args.model, &loader)
            .await
            .with_context(|| format!("cannot serve {}", args.model))?;
        tracing::info!("loaded {} from {shown}", describe(&champion));
        let log_path = if args.no_prediction_log {
            None
        } else {
            Some(args.prediction_log.clone().unwrap_or_else(|| {
                home.join("predictions").join(sanitize(&champion.name))
            }))
        };
        let mut builder = Engine::builder(&args.model, Arc::new(champion))
            .max_body_bytes(args.max_body_bytes);
        if let Some((uri, pct)) = &canary {
            let m = load(&client, uri, &loader)
                .await
                .with_context(|| format!("cannot serve the canary {uri}"))?;
            tracing::info!("canary ({pct}% of requests): {}", describe(&m));
            builder = builder.canary(uri, Arc::new(m), *pct);
        }
        if let Some(uri) = &args.shadow {
            let m = load(&client, uri, &loader)
                .await
                .with_context(|| format!("cannot serve the shadow {uri}"))?;
            tracing::info!("shadow: {}", describe(&m));
            builder = builder.shadow(uri, Arc::new(m));
        }
        if let Some(path) = &log_path {
            let log = PredictionLog::open(path, 65_536, args.prediction_log_on_full.into())
                .with_context(|| format!("cannot open the prediction log {}", path.display()))?;
            builder = builder.prediction_log(Arc::new(log));
        }
        let engine = Arc::new(builder.build());
        let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.port))
            .await
            .with_context(|| format!("cannot listen on {}:{}", args.host, args.port))?;
        let addr = listener.local_addr()?;
        let poll = (args.poll_interval > 0.0).then(|| Duration::from_secs_f64(args.poll_interval));
        let (feed, triggers) = match start {
            FeedStart::Unsupported => (None, None),
            FeedStart::After(_) | FeedStart::Unknown => {
                let after = match start {
                    FeedStart::After(id) => Some(id),
                    _ => None,
                };
                let (tx, rx) = mpsc::unbounded_channel();
                let feed = tokio::spawn(follow_feed(client.clone(), after, tx));
                (Some(feed), Some(rx))
            }
        };
        let reloader = tokio::spawn(follow(
            client.clone(),
            loader.clone(),
            engine.clone(),
            poll,
            triggers,
        ));
        eprintln!(
            "Serving {} on http://{addr} (POST /predict, /predict/batch, /invocations, /v2/models/{}/infer; GET /health, /metrics){}",
            args.model,
            engine.health().model_name.unwrap_or_default(),
            log_path
                .as_ref()
                .map(|p| format!("; predictions logged to {}", p.display()))
                .unwrap_or_default()
        );
        slipway_serve::http::serve(listener, engine.clone(), shutdown_signal())
            .await
            .context("the server failed")?;
        if let Some(f) = feed {
            f.abort();
        }
        reloader.abort();
        engine.shutdown();
        eprintln!("Stopped.");
        anyhow::Ok(())
    }
    .await;
    if let Some(server) = embedded {
        server.stop().await;
    }
    result
}

pub fn run(args: ServeArgs, tracking: &TrackingUri, home: &Path) -> ExitCode {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all().thread_name("slipway-serve");
    if args.threads > 0 {
        builder.worker_threads(args.threads);
    }
    let result = builder
        .build()
        .context("cannot start the async runtime")
        .and_then(|rt| rt.block_on(serve(args, tracking, home)));
    match result {
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

#[cfg(test)]
mod tests {
    use super::*;
    use slipway_client::RegistryEvent;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn event(id: i64, kind: &str, name: &str, from: Option<&str>) -> RegistryEvent {
        RegistryEvent {
            id,
            kind: kind.into(),
            name: name.into(),
            from: from.map(str::to_string),
            ..Default::default()
        }
    }

    #[test]
    fn python_worker_flags_parse_and_are_checked() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            serve: ServeArgs,
        }
        let parse = |extra: &[&str]| {
            let mut args = vec!["serve", "--model", "models:/m/1"];
            args.extend_from_slice(extra);
            Cli::try_parse_from(args).unwrap().serve
        };
        let a = parse(&[
            "-w",
            "3",
            "--threads",
            "4",
            "--max-batch-size",
            "8",
            "--max-batch-wait-ms",
            "0.5",
            "--predict-timeout",
            "2",
        ]);
        assert_eq!((a.workers, a.threads, a.max_batch_size), (3, 4, 8));
        let o = worker_options(&a).unwrap();
        assert_eq!(o.workers, 3);
        assert_eq!(o.batch.max_batch_size, 8);
        assert_eq!(o.batch.max_wait, Duration::from_micros(500));
        assert_eq!(o.predict_timeout, Duration::from_secs(2));
        // The defaults are the library's measured ones.
        let o = worker_options(&parse(&[])).unwrap();
        assert_eq!(o.workers, DEFAULT_PYTHON_WORKERS);
        assert_eq!(o.batch, slipway_python::batch::BatchConfig::default());
        assert_eq!(
            o.predict_timeout,
            slipway_python::worker::DEFAULT_PREDICT_TIMEOUT
        );
        for (bad, flag) in [
            ("--workers=0", "--workers"),
            ("--max-batch-size=0", "--max-batch-size"),
            ("--max-batch-wait-ms=-1", "--max-batch-wait-ms"),
            ("--max-batch-wait-ms=NaN", "--max-batch-wait-ms"),
            ("--predict-timeout=0", "--predict-timeout"),
        ] {
            let e = worker_options(&parse(&[bad])).unwrap_err();
            assert!(e.downcast_ref::<UsageError>().is_some(), "{bad:?}");
            assert!(e.to_string().contains(flag), "{e}");
        }
    }

    /// A model scored by workers that only records being closed.
    struct Recorded(Arc<std::sync::atomic::AtomicBool>);

    impl slipway_serve::model::Scorer for Recorded {
        fn score(
            &self,
            _rows: &[f64],
            _n: usize,
        ) -> Result<Vec<slipway_serve::model::ScoreRow>, slipway_serve::error::ScoreError> {
            Err(slipway_serve::error::ScoreError::Failed("raw only".into()))
        }
        fn raw(&self) -> Option<&dyn slipway_serve::model::RawScorer> {
            Some(self)
        }
    }

    impl slipway_serve::model::RawScorer for Recorded {
        fn score_raw(
            &self,
            _rows: Vec<Vec<serde_json::Value>>,
        ) -> Result<serde_json::Value, slipway_serve::error::ScoreError> {
            Ok(serde_json::json!([]))
        }
        fn close(&self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    #[tokio::test]
    async fn a_replaced_models_workers_stop_once_no_request_uses_it() {
        let closed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mlmodel = br#"
flavors: {python_function: {loader_module: mlflow.pyfunc.model}}
signature:
  inputs: '[{"type": "long", "name": "x"}]'
"#;
        let old: ModelRef = Arc::new(
            ServedModel::from_raw_scorer(
                ModelIdentity::default(),
                mlmodel,
                Box::new(Recorded(closed.clone())),
                None,
            )
            .unwrap(),
        );
        // A request still scoring with it.
        let in_flight = old.clone();
        let retiring = tokio::spawn(retire(old));
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!closed.load(Ordering::SeqCst), "stopped under a request");
        drop(in_flight);
        tokio::time::timeout(Duration::from_secs(5), retiring)
            .await
            .expect("retire waits no longer than its requests")
            .unwrap();
        assert!(closed.load(Ordering::SeqCst));
    }

    #[test]
    fn triggers_name_the_models_events_may_have_moved() {
        let t = Trigger::of(&[
            event(1, "stage_transitioned", "churn", Some("Staging")),
            event(2, "registered_model_renamed", "fraud-v2", Some("fraud")),
        ]);
        assert!(t.concerns("churn") && t.concerns("fraud") && t.concerns("fraud-v2"));
        // A stage name in `from` is not a model.
        assert!(!t.concerns("Staging"));
        let both = t.merge(Trigger::of(&[event(3, "alias_set", "ltv", None)]));
        assert!(both.concerns("ltv") && both.concerns("churn"));
        assert!(!both.concerns("other"));
        assert_eq!(both.merge(Trigger::All), Trigger::All);
        assert!(Trigger::All.concerns("anything"));
    }

    /// A tracking server that answers every request with `response` and
    /// counts them.
    async fn canned(response: &'static str) -> (SlipwayClient, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let count = Arc::new(AtomicUsize::new(0));
        let counted = count.clone();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match conn.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let _ = conn.write_all(response.as_bytes()).await;
                });
            }
        });
        (SlipwayClient::new(url).unwrap(), count)
    }

    const NOT_FOUND: &str = "HTTP/1.1 404 NOT FOUND\r\nContent-Type: text/html\r\nContent-Length: 9\r\nConnection: close\r\n\r\nNot Found";
    const UNAVAILABLE: &str =
        "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    const EMPTY: &str = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 13\r\nConnection: close\r\n\r\n{\"events\":[]}";

    #[tokio::test]
    async fn a_server_without_the_feed_ends_it() {
        let (client, count) = canned(NOT_FOUND).await;
        assert_eq!(feed_start(&client).await, FeedStart::Unsupported);
        let (tx, mut rx) = mpsc::unbounded_channel();
        tokio::time::timeout(Duration::from_secs(5), follow_feed(client, Some(0), tx))
            .await
            .expect("the feed kept going against a server without it");
        assert_eq!(rx.recv().await, None);
        assert_eq!(count.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn feed_errors_back_off_instead_of_spinning() {
        let (client, count) = canned(UNAVAILABLE).await;
        assert_eq!(feed_start(&client).await, FeedStart::Unknown);
        count.store(0, Ordering::SeqCst);
        let (tx, _rx) = mpsc::unbounded_channel();
        let feed = tokio::spawn(follow_feed(client, None, tx));
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        feed.abort();
        // At 0, 0.5, 1.5 s (then 3.5 s): three tries, not hundreds.
        let tries = count.load(Ordering::SeqCst);
        assert!((2..=4).contains(&tries), "{tries} tries in 2.5 s");
    }

    #[tokio::test]
    async fn early_empty_answers_do_not_spin() {
        // An older server that ignores wait_ms answers at once.
        let (client, count) = canned(EMPTY).await;
        let (tx, mut rx) = mpsc::unbounded_channel();
        let feed = tokio::spawn(follow_feed(client, Some(0), tx));
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        feed.abort();
        let polls = count.load(Ordering::SeqCst);
        assert!((2..=4).contains(&polls), "{polls} polls in 2.5 s");
        assert!(rx.try_recv().is_err());
    }
}
