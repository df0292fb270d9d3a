//! `slipway serve`: resolve a model URI through the tracking server, load
//! and warm the model, serve it (slipway-serve's engine and router), and
//! follow the URI: when its stage or alias points at a new version, load and
//! warm that beside the old one and swap atomically.

use anyhow::Context;
use clap::Args;
use slipway_client::SlipwayClient;
use slipway_serve::engine::Engine;
use slipway_serve::model::{detect_format, ModelIdentity, ModelRef, ServedModel};
use slipway_serve::predlog::PredictionLog;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crate::{TrackingUri, UsageError};

pub const EXAMPLES: &str = "\
Examples:
  slipway serve --model models:/churn-classifier/Production
  slipway serve --model models:/churn-classifier@champion --port 8080 --tracking-uri http://127.0.0.1:5000
  slipway serve --model models:/churn-classifier/Production --canary models:/churn-classifier@challenger=10
  slipway serve --model models:/churn-classifier/Production --shadow models:/churn-classifier/Staging

  curl -s localhost:8080/predict -d '{\"customer_id\": \"C1\", \"features\": {\"tenure_days\": 12, \"plan\": \"basic\"}}'
  curl -s localhost:8080/invocations -H 'Content-Type: application/json' -d '{\"dataframe_records\": [{...}]}'
  curl -s localhost:8080/v2/models/churn-classifier/infer -d '{\"inputs\": [{\"name\": \"input-0\", \"shape\": [1, 12], \"datatype\": \"FP64\", \"data\": [...]}]}'

Routes: POST /predict, /predict/batch ({\"instances\": [{customer_id, features}, ...]}), /invocations
(MLflow: dataframe_split, dataframe_records, instances, inputs, text/csv), /v2/models/NAME/infer
(Open Inference Protocol); GET /health, /metrics, /ping, /version, /v2, /v2/health/{live,ready}.
The server follows the URI's stage or alias (--poll-interval) and swaps in a new version without
dropping a request. Predictions are logged as Parquet segments in a directory (--prediction-log DIR;
schema slipway-predictions/3: one typed column per feature beside the prediction; read with
pandas.read_parquet(DIR) or duckdb DIR/*.parquet).";

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

    /// Seconds between checks of what the URIs resolve to (hot reload); 0 turns it off
    #[arg(long, default_value_t = 5.0, value_name = "S")]
    pub poll_interval: f64,

    /// Largest request body accepted (bigger: 413)
    #[arg(long, default_value_t = slipway_serve::engine::DEFAULT_MAX_BODY_BYTES, value_name = "N")]
    pub max_body_bytes: usize,

    /// Worker threads (0: one per CPU core)
    #[arg(short = 'w', long, default_value_t = 0, value_name = "N")]
    pub workers: usize,

    /// Prediction log directory: Parquet segments, one per second at most
    /// [default: $SLIPWAY_HOME/predictions/NAME/]
    #[arg(long, value_name = "DIR")]
    pub prediction_log: Option<PathBuf>,

    /// Do not log predictions
    #[arg(long, conflicts_with = "prediction_log")]
    pub no_prediction_log: bool,
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

/// Resolves, reads, loads and warms up the model `uri` points at.
async fn load(client: &SlipwayClient, uri: &str) -> anyhow::Result<ServedModel> {
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
        Err(_) => read("model.onnx".into()).await?.is_some(),
    };
    let format = detect_format(&mlmodel, has_onnx)?;
    let mut files = HashMap::new();
    for name in format.files() {
        if let Some(bytes) = read(name.clone()).await? {
            files.insert(name, bytes);
        }
    }
    let identity = ModelIdentity {
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
    };
    let model = tokio::task::spawn_blocking(move || -> anyhow::Result<ServedModel> {
        let model = ServedModel::load(identity, &mlmodel, &format, |n| files.remove(n))?;
        model.warm_up()?;
        Ok(model)
    })
    .await
    .context("loading the model panicked")??;
    Ok(model)
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

/// Re-resolves every slot's URI; loads, warms and swaps in what changed.
async fn follow(client: SlipwayClient, engine: Arc<Engine>, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        for (role, slot) in engine.slots() {
            let current = slot.get();
            let resolved = match resolve(&client, &slot.uri).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!("hot reload: {e}");
                    continue;
                }
            };
            let same = resolved.version.as_deref().unwrap_or_default() == current.version
                || (resolved.version.is_none() && resolved.model_id == current.model_id);
            if same && resolved.model_id == current.model_id {
                continue;
            }
            match load(&client, &slot.uri).await {
                Ok(model) => {
                    let shown = describe(&model);
                    let model: ModelRef = Arc::new(model);
                    engine.swap(role, model);
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
    let (client, embedded, shown) = crate::train::connect(tracking, home).await?;
    let result = async {
        let champion = load(&client, &args.model)
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
            let m = load(&client, uri)
                .await
                .with_context(|| format!("cannot serve the canary {uri}"))?;
            tracing::info!("canary ({pct}% of requests): {}", describe(&m));
            builder = builder.canary(uri, Arc::new(m), *pct);
        }
        if let Some(uri) = &args.shadow {
            let m = load(&client, uri)
                .await
                .with_context(|| format!("cannot serve the shadow {uri}"))?;
            tracing::info!("shadow: {}", describe(&m));
            builder = builder.shadow(uri, Arc::new(m));
        }
        if let Some(path) = &log_path {
            let log = PredictionLog::open(path, 65_536)
                .with_context(|| format!("cannot open the prediction log {}", path.display()))?;
            builder = builder.prediction_log(Arc::new(log));
        }
        let engine = Arc::new(builder.build());
        let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.port))
            .await
            .with_context(|| format!("cannot listen on {}:{}", args.host, args.port))?;
        let addr = listener.local_addr()?;
        let reloader = (args.poll_interval > 0.0).then(|| {
            tokio::spawn(follow(
                client.clone(),
                engine.clone(),
                Duration::from_secs_f64(args.poll_interval),
            ))
        });
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
        if let Some(r) = reloader {
            r.abort();
        }
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
    if args.workers > 0 {
        builder.worker_threads(args.workers);
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
