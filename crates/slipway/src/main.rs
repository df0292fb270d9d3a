//! `slipway`: the MLflow-compatible tracking server and its command-line client.

mod commands;
mod convert;
mod datagen;
mod demo;
mod embedded;
mod fmt;
mod model_files;
mod models;
mod run_cmd;
mod serve;
mod server;
mod train;
mod validate;

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

const DEFAULT_TRACKING_URI: &str = "http://127.0.0.1:5000";

const MAIN_EXAMPLES: &str = "\
Examples:
  slipway demo                                     # the whole loop on generated data, then serve it
  slipway server                                   # MLflow-compatible server on http://127.0.0.1:5000
  slipway train --config train.yaml                # train, evaluate, log, register
  slipway validate --run-id $RUN --config validation.yaml && slipway promote --run-id $RUN --stage Production
  slipway experiments list
  slipway runs list --experiment churn --filter \"metrics.auc_roc > 0.8\" --order-by \"metrics.auc_roc DESC\"
  slipway runs show 3f2a0c9e8d7b4a6f9e1c2b3a4d5e6f70
  slipway models register --run-id 3f2a0c9e8d7b4a6f9e1c2b3a4d5e6f70 --name churn
  slipway models alias churn champion 3
  slipway models lineage churn 3
  slipway run --experiment churn -- python train.py --max-depth 3
  slipway datagen churn --customers 10000 --days 180 --out data/churn

Python clients work unchanged: export MLFLOW_TRACKING_URI=http://127.0.0.1:5000";

/// Slipway: the MLOps platform in one binary: an MLflow-compatible tracking server and registry,
/// a trainer, validation gates, and the CLI around them.
#[derive(Debug, Parser)]
#[command(
    name = "slipway",
    version,
    arg_required_else_help = true,
    after_help = MAIN_EXAMPLES
)]
struct Cli {
    /// Tracking server [env: SLIPWAY_TRACKING_URI, then MLFLOW_TRACKING_URI] [default: http://127.0.0.1:5000;
    /// for demo, train, validate, promote and serve: the embedded store under $SLIPWAY_HOME]
    #[arg(long, global = true, value_name = "URI")]
    tracking_uri: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The whole loop on generated data: generate, train, register, validate, promote, serve
    ///
    /// Nothing to install and nothing to configure: runs and models go to the embedded
    /// store under $SLIPWAY_HOME (default ./slipway-data), which it then serves on
    /// http://127.0.0.1:5000 (unless --exit).
    #[command(after_help = demo::EXAMPLES)]
    Demo(demo::DemoArgs),

    /// Run the tracking server (a drop-in replacement for `mlflow server`)
    #[command(
        disable_help_flag = true,
        after_help = "\
Examples:
  slipway server
      # embedded SQLite + artifacts under $SLIPWAY_HOME (default ./slipway-data)
  slipway server --host 0.0.0.0 --port 5000 --backend-store-uri sqlite:///mlflow.db --artifacts-destination ./mlartifacts
  RUST_LOG=debug slipway server --workers 4

Artifacts are always served through the server (mlflow-artifacts:/), as `mlflow server --serve-artifacts` does.
Point clients at it with MLFLOW_TRACKING_URI=http://HOST:PORT."
    )]
    Server(server::ServerArgs),

    /// Inspect experiments
    #[command(
        subcommand,
        after_help = "Example:\n  slipway experiments list --view all"
    )]
    Experiments(ExperimentsCommand),

    /// Inspect runs
    #[command(
        subcommand,
        after_help = "Examples:\n  slipway runs list --experiment churn --order-by \"metrics.auc_roc DESC\"\n  slipway runs show 3f2a0c9e8d7b4a6f9e1c2b3a4d5e6f70"
    )]
    Runs(RunsCommand),

    /// Model registry: list, show, register, stage, alias, history, lineage, resolve, convert
    #[command(subcommand, after_help = MODELS_EXAMPLES)]
    Models(ModelsCommand),

    /// Run a program (python train.py, a shell step) inside a tracked run
    ///
    /// Its own mlflow calls, its output, the git state, the environment and the exit status
    /// all land in the run.
    #[command(after_help = run_cmd::EXAMPLES)]
    Run(run_cmd::RunArgs),

    /// Train a built-in model from a YAML config and log it to a tracked run
    ///
    /// Reads Parquet or CSV, encodes string columns as categories, splits deterministically,
    /// trains (gradient-boosted trees, random forest, logistic regression), evaluates, and logs
    /// params, metrics, plots, a data profile and the model (MLflow layout) to the run.
    #[command(after_help = train::EXAMPLES)]
    Train(train::TrainArgs),

    /// Check a trained run against thresholds, the production model, latency and drift budgets
    ///
    /// Prints the report (text, json, markdown, html), writes validation_result.txt, and logs
    /// the report and the verdict (tag slipway.validation.status) to the run.
    #[command(after_help = validate::VALIDATE_EXAMPLES)]
    Validate(validate::ValidateArgs),

    /// Move a validated run's model to a stage or alias (registering it if needed)
    #[command(after_help = validate::PROMOTE_EXAMPLES)]
    Promote(validate::PromoteArgs),

    /// Generate seeded synthetic datasets (Parquet or CSV) for demos, tests and benchmarks
    #[command(subcommand)]
    Datagen(datagen::DatagenCommand),

    /// Serve a registered model over HTTP: /predict, MLflow /invocations, Open Inference Protocol v2
    ///
    /// Resolves the URI (stage, alias or version), loads and warms the model, validates requests
    /// against its signature, follows the stage or alias (hot reload), splits traffic to a canary,
    /// scores a shadow, logs every prediction and exposes Prometheus metrics.
    #[command(after_help = serve::EXAMPLES)]
    Serve(serve::ServeArgs),
}

const MODELS_EXAMPLES: &str = "\
Examples:
  slipway models list --filter \"name LIKE 'churn%'\"
  slipway models register --run-id 3f2a0c9e8d7b4a6f9e1c2b3a4d5e6f70 --name churn
  slipway models stage churn 3 Production --archive-existing --reason \"AUC 0.93 vs 0.91\"
  slipway models alias churn champion 3
  slipway models history churn
  slipway models lineage churn 3
  slipway models resolve models:/churn@champion
  slipway models convert models:/churn/3

Changes are recorded with who made them: --user, else $SLIPWAY_USER, else $USER.";

#[derive(Debug, Subcommand)]
enum ModelsCommand {
    /// List registered models: latest version, versions per stage, aliases
    #[command(after_help = "\
Examples:
  slipway models list
  slipway models list --filter \"name LIKE 'churn%'\"
  slipway models list --filter \"tags.team = 'growth'\"
  slipway models list --json | jq -r '.registered_models[].name'

Filters use MLflow's registered model search syntax: name, tags.KEY, LIKE / ILIKE / = / !=.")]
    List(ModelsListArgs),

    /// Show a registered model: info, tags, aliases and its versions
    #[command(after_help = "\
Examples:
  slipway models show churn
  slipway models show churn --json | jq -r '.model_versions[] | select(.current_stage == \"Production\") | .version'")]
    Show(ModelsShowArgs),

    /// Register a run's model as a new version (creating the registered model if needed)
    #[command(after_help = "\
Examples:
  slipway models register --run-id 3f2a0c9e8d7b4a6f9e1c2b3a4d5e6f70 --name churn
  slipway models register --run-id 3f2a0c9e8d7b4a6f9e1c2b3a4d5e6f70 --path classifier --name churn --description \"weekly retrain\"
  slipway models register --run-id 3f2a0c9e8d7b4a6f9e1c2b3a4d5e6f70 --name churn --json | jq -r .model_version.version

The version's source is runs:/RUN_ID/PATH; when the run logged an MLflow 3 model named PATH,
the version points at that logged model (models:/m-...), as the MLflow 3 client does.")]
    Register(ModelsRegisterArgs),

    /// Move a version to a stage (None, Staging, Production, Archived)
    #[command(after_help = "\
Examples:
  slipway models stage churn 3 Staging
  slipway models stage churn 3 Production --archive-existing --reason \"AUC 0.93 vs 0.91 on holdout\"
  slipway models stage churn 1 Archived

Stages are case-insensitive. --reason is kept in `slipway models history`.")]
    Stage(ModelsStageArgs),

    /// Point an alias at a version, or delete it with --delete
    #[command(after_help = "\
Examples:
  slipway models alias churn champion 3
  slipway models alias churn challenger 4
  slipway models alias churn challenger --delete

Load an aliased version with models:/churn@champion (see `slipway models resolve`).")]
    Alias(ModelsAliasArgs),

    /// The change history of a model: who moved which version where, when and why
    #[command(after_help = "\
Examples:
  slipway models history churn
  slipway models history churn --last 10
  slipway models history churn --json | jq '.events[] | select(.kind == \"stage_transitioned\")'")]
    History(ModelsHistoryArgs),

    /// Where a version came from: source run, logged model, training datasets
    #[command(after_help = "\
Examples:
  slipway models lineage churn 3
  slipway models lineage churn 3 --json | jq '.datasets[].dataset.digest'")]
    Lineage(ModelsLineageArgs),

    /// What a models:/ or runs:/ URI points at (version, run, logged model, files)
    #[command(after_help = "\
Examples:
  slipway models resolve models:/churn/3
  slipway models resolve models:/churn@champion
  slipway models resolve models:/churn/Production
  slipway models resolve models:/churn/latest
  slipway models resolve runs:/3f2a0c9e8d7b4a6f9e1c2b3a4d5e6f70/model
  slipway models resolve models:/churn@champion --json | jq -r .artifact_uri")]
    Resolve(ModelsResolveArgs),

    /// Convert a scikit-learn model to ONNX once, check parity, and store the graph with it
    ///
    /// For models logged with mlflow.sklearn.log_model (skops, pickle or cloudpickle) or a
    /// LightGBM sklearn wrapper: converts with skl2onnx in the model's Python environment,
    /// scores the input example plus 2,000 rows drawn from the signature (and the run's training
    /// data profile, if any) with both the Python model and Slipway's ONNX engine (labels equal,
    /// probabilities within 1e-5), then stores the graph as <model dir>/slipway/model.onnx with
    /// slipway/conversion.json and the tag slipway.onnx. `slipway serve` then serves it natively.
    #[command(after_help = "\
Examples:
  slipway models convert models:/churn-classifier/1
  slipway models convert models:/churn-classifier/Production --env-manager local
  slipway models convert models:/churn-classifier@champion --json | jq .conversion.parity

--env-manager virtualenv (the default) builds the model's environment from its python_env.yaml /
requirements.txt with uv (else pip) under $SLIPWAY_HOME/envs, once; --env-manager local uses
$SLIPWAY_PYTHON (else python3) as it is, which must have skl2onnx and onnx installed.")]
    Convert(ModelsConvertArgs),
}

#[derive(Debug, Args)]
struct ModelsConvertArgs {
    /// models:/NAME/VERSION, models:/NAME/STAGE, models:/NAME@ALIAS, models:/m-ID or runs:/RUN_ID/PATH
    uri: String,
    /// Where the converter's Python comes from
    #[arg(
        long,
        value_enum,
        default_value = "virtualenv",
        env = "SLIPWAY_ENV_MANAGER"
    )]
    env_manager: convert::EnvManagerArg,
    /// Convert again even when a valid conversion is stored
    #[arg(long)]
    force: bool,
    /// Print the conversion record as JSON
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct ModelsListArgs {
    /// MLflow registered model filter, e.g. "name LIKE 'churn%'"
    #[arg(long, value_name = "FILTER")]
    filter: Option<String>,
    /// Print MLflow's JSON (`{"registered_models": [...]}`) instead of a table
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct ModelsShowArgs {
    /// Registered model name
    name: String,
    /// Print JSON (`{"registered_model": {...}, "model_versions": [...]}`) instead of tables
    #[arg(long)]
    json: bool,
}

/// Who a registry change is recorded as.
#[derive(Debug, Args)]
struct UserArg {
    /// Record the change as made by NAME (sent as X-Slipway-User) [default: $USER]
    #[arg(long, value_name = "NAME", env = "SLIPWAY_USER")]
    user: Option<String>,
}

#[derive(Debug, Args)]
struct ModelsRegisterArgs {
    /// The run that logged the model
    #[arg(long, value_name = "RUN_ID")]
    run_id: String,
    /// The model's artifact path in the run (MLflow's `artifact_path` / `name`)
    #[arg(long, value_name = "PATH", default_value = "model")]
    path: String,
    /// Registered model name (created if it does not exist)
    #[arg(long, value_name = "NAME")]
    name: String,
    /// Description of the new version
    #[arg(long, value_name = "TEXT")]
    description: Option<String>,
    #[command(flatten)]
    user: UserArg,
    /// Print MLflow's JSON (`{"model_version": {...}}`)
    #[arg(long)]
    json: bool,
}

/// A model version stage (case-insensitive on the command line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum StageArg {
    #[value(name = "None")]
    None,
    #[value(name = "Staging")]
    Staging,
    #[value(name = "Production")]
    Production,
    #[value(name = "Archived")]
    Archived,
}

impl StageArg {
    fn as_str(self) -> &'static str {
        match self {
            StageArg::None => "None",
            StageArg::Staging => "Staging",
            StageArg::Production => "Production",
            StageArg::Archived => "Archived",
        }
    }
}

/// A version number (MLflow versions are 1, 2, 3, ...).
fn parse_version(s: &str) -> Result<String, String> {
    match s.trim().parse::<u64>() {
        Ok(v) if v > 0 => Ok(v.to_string()),
        _ => Err(format!(
            "'{s}' is not a model version number (1, 2, 3, ...)"
        )),
    }
}

#[derive(Debug, Args)]
struct ModelsStageArgs {
    /// Registered model name
    name: String,
    /// Version number
    #[arg(value_parser = parse_version)]
    version: String,
    /// Target stage
    #[arg(value_enum, ignore_case = true)]
    stage: StageArg,
    /// Move the versions currently in STAGE to Archived
    #[arg(long)]
    archive_existing: bool,
    /// Why (kept in the history)
    #[arg(long, value_name = "TEXT")]
    reason: Option<String>,
    #[command(flatten)]
    user: UserArg,
    /// Print MLflow's JSON (`{"model_version": {...}}`)
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct ModelsAliasArgs {
    /// Registered model name
    name: String,
    /// Alias, e.g. champion
    alias: String,
    /// Version the alias points at
    #[arg(value_parser = parse_version, required_unless_present = "delete")]
    version: Option<String>,
    /// Delete the alias instead
    #[arg(long, conflicts_with = "version")]
    delete: bool,
    #[command(flatten)]
    user: UserArg,
    /// Print the result as JSON
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct ModelsHistoryArgs {
    /// Registered model name
    name: String,
    /// Only the N most recent events
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    last: Option<u64>,
    /// Print the events as JSON (`{"events": [...]}`)
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct ModelsLineageArgs {
    /// Registered model name
    name: String,
    /// Version number
    #[arg(value_parser = parse_version)]
    version: String,
    /// Print the lineage as JSON
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct ModelsResolveArgs {
    /// models:/NAME/VERSION, models:/NAME/STAGE, models:/NAME/latest, models:/NAME@ALIAS,
    /// models:/m-ID or runs:/RUN_ID/PATH
    uri: String,
    /// Print the resolution as JSON
    #[arg(long)]
    json: bool,
}

/// Bad input found after parsing (exit code 2, like clap's usage errors).
#[derive(Debug)]
pub struct UsageError(String);

impl UsageError {
    pub fn new(message: impl Into<String>) -> Self {
        UsageError(message.into())
    }
}

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

#[derive(Debug, Subcommand)]
enum ExperimentsCommand {
    /// List experiments (a table, or MLflow's JSON with --json)
    #[command(after_help = "\
Examples:
  slipway experiments list
  slipway experiments list --view deleted
  slipway experiments list --json | jq -r '.experiments[].name'")]
    List(ExperimentsListArgs),
}

#[derive(Debug, Args)]
struct ExperimentsListArgs {
    /// Which experiments to include
    #[arg(long, value_enum, default_value_t = View::Active)]
    view: View,
    /// Print the raw MLflow JSON (`{"experiments": [...]}`) instead of a table
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum RunsCommand {
    /// List the runs of an experiment, with their metrics and params as columns
    #[command(after_help = "\
Examples:
  slipway runs list --experiment churn
  slipway runs list --experiment churn --filter \"metrics.auc_roc > 0.8\" --order-by \"metrics.auc_roc DESC\"
  slipway runs list --experiment 1 --filter \"params.model = 'xgboost' and tags.team = 'growth'\" --max 20
  slipway runs list --experiment churn --json | jq -r '.runs[].info.run_id'

Filters use MLflow's search syntax: metrics.KEY, params.KEY, tags.KEY, attributes.status, ...")]
    List(RunsListArgs),

    /// Show one run: info, params, latest metrics, tags, inputs and artifacts
    #[command(after_help = "\
Examples:
  slipway runs show 3f2a0c9e8d7b4a6f9e1c2b3a4d5e6f70
  slipway runs show 3f2a0c9e8d7b4a6f9e1c2b3a4d5e6f70 --all-tags
  slipway runs show 3f2a0c9e8d7b4a6f9e1c2b3a4d5e6f70 --json | jq .run.data.metrics")]
    Show(RunsShowArgs),
}

#[derive(Debug, Args)]
struct RunsListArgs {
    /// Experiment name or id
    #[arg(long, short = 'e', value_name = "NAME|ID")]
    experiment: String,
    /// MLflow search filter, e.g. "metrics.auc > 0.8 and params.model = 'xgb'"
    #[arg(long, value_name = "FILTER")]
    filter: Option<String>,
    /// Sort key, e.g. "metrics.auc DESC" (repeatable; default: newest first)
    #[arg(long, value_name = "KEY [ASC|DESC]")]
    order_by: Vec<String>,
    /// Maximum number of runs to list
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(i64).range(1..=1_000_000))]
    max: i64,
    /// Which runs to include
    #[arg(long, value_enum, default_value_t = View::Active)]
    view: View,
    /// Print the raw MLflow JSON (`{"runs": [...]}`) instead of a table
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct RunsShowArgs {
    /// The run id (32 hex characters)
    run_id: String,
    /// Also show MLflow's system tags (mlflow.*)
    #[arg(long)]
    all_tags: bool,
    /// Print the raw MLflow JSON (`{"run": {...}}`) instead of tables
    #[arg(long)]
    json: bool,
}

/// Lifecycle filter for listings (MLflow's `ViewType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum View {
    Active,
    Deleted,
    All,
}

impl View {
    fn to_view_type(self) -> slipway_client::ViewType {
        match self {
            View::Active => slipway_client::ViewType::ActiveOnly,
            View::Deleted => slipway_client::ViewType::DeletedOnly,
            View::All => slipway_client::ViewType::All,
        }
    }
}

/// Where the tracking URI came from, for error messages.
#[derive(Debug, Clone)]
struct TrackingUri {
    uri: String,
    source: &'static str,
}

/// What `source` says when neither a flag nor the environment named a server.
const DEFAULT_SOURCE: &str = "the default";

impl TrackingUri {
    /// No server was named: `train`, `demo`, `validate`, `promote` and
    /// `serve` use the embedded store.
    fn is_default(&self) -> bool {
        self.source == DEFAULT_SOURCE
    }
}

fn resolve_tracking_uri(flag: Option<String>) -> TrackingUri {
    let from_env = |name: &'static str| {
        std::env::var(name)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .map(|uri| TrackingUri { uri, source: name })
    };
    flag.map(|uri| TrackingUri {
        uri,
        source: "--tracking-uri",
    })
    .or_else(|| from_env("SLIPWAY_TRACKING_URI"))
    .or_else(|| from_env("MLFLOW_TRACKING_URI"))
    .unwrap_or_else(|| TrackingUri {
        uri: DEFAULT_TRACKING_URI.into(),
        source: DEFAULT_SOURCE,
    })
}

/// `embedded`: commands that run the server in process (`train`, `demo`)
/// keep its request logs out of their output unless RUST_LOG asks.
fn init_logging(embedded: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        if embedded {
            return EnvFilter::new("warn");
        }
        EnvFilter::new(
            "warn,slipway=info,slipway_server=info,slipway_tracking=info,slipway_sql=info,\
             slipway_artifacts=info,slipway_core=info,slipway_client=info",
        )
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(matches!(
        cli.command,
        Command::Train(_) | Command::Demo(_) | Command::Validate(_) | Command::Promote(_)
    ));
    let result = match cli.command {
        Command::Server(args) => server::run(args),
        Command::Datagen(command) => datagen::run(command),
        Command::Demo(args) => demo::run(
            args,
            &resolve_tracking_uri(cli.tracking_uri),
            &slipway_home(),
        ),
        Command::Validate(args) => {
            return validate::run_validate(
                args,
                &resolve_tracking_uri(cli.tracking_uri),
                &slipway_home(),
            )
        }
        Command::Promote(args) => {
            return validate::run_promote(
                args,
                &resolve_tracking_uri(cli.tracking_uri),
                &slipway_home(),
            )
        }
        Command::Serve(args) => {
            return serve::run(
                args,
                &resolve_tracking_uri(cli.tracking_uri),
                &slipway_home(),
            )
        }
        Command::Train(args) => {
            return train::run(
                args,
                &resolve_tracking_uri(cli.tracking_uri),
                &slipway_home(),
            )
        }
        // Exits as the program it ran did.
        Command::Run(args) => return run_cmd::run(args, &resolve_tracking_uri(cli.tracking_uri)),
        other => {
            let tracking = resolve_tracking_uri(cli.tracking_uri);
            run_client_command(other, &tracking)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.downcast_ref::<UsageError>().is_some() => {
            eprintln!("error: {}", error_chain(&e));
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            ExitCode::from(1)
        }
    }
}

fn run_client_command(command: Command, tracking: &TrackingUri) -> anyhow::Result<()> {
    let client = slipway_client::SlipwayClient::new(&tracking.uri)
        .map_err(|e| anyhow::anyhow!("{e} (tracking URI from {})", tracking.source))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let output = runtime
        .block_on(async {
            match command {
                Command::Experiments(ExperimentsCommand::List(a)) => {
                    commands::experiments_list(&client, a.view.to_view_type(), a.json).await
                }
                Command::Runs(RunsCommand::List(a)) => {
                    commands::runs_list(
                        &client,
                        commands::RunsQuery {
                            experiment: a.experiment,
                            filter: a.filter,
                            order_by: a.order_by,
                            max: a.max,
                            view: a.view.to_view_type(),
                        },
                        a.json,
                    )
                    .await
                }
                Command::Runs(RunsCommand::Show(a)) => {
                    commands::runs_show(&client, &a.run_id, a.all_tags, a.json).await
                }
                Command::Models(m) => run_models_command(&client, m).await,
                Command::Server(_)
                | Command::Run(_)
                | Command::Datagen(_)
                | Command::Train(_)
                | Command::Demo(_)
                | Command::Validate(_)
                | Command::Promote(_)
                | Command::Serve(_) => {
                    unreachable!("handled in main")
                }
            }
        })
        .map_err(|e| describe_client_error(e, tracking))?;
    write_stdout(&output)
}

/// The client with `--user` (or `$SLIPWAY_USER`) as `X-Slipway-User`, when given.
fn as_user(
    client: &slipway_client::SlipwayClient,
    user: &UserArg,
) -> slipway_client::SlipwayClient {
    match user
        .user
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
    {
        Some(u) => client.clone().with_user(u),
        None => client.clone(),
    }
}

async fn run_models_command(
    client: &slipway_client::SlipwayClient,
    command: ModelsCommand,
) -> anyhow::Result<String> {
    match command {
        ModelsCommand::List(a) => models::list(client, a.filter, a.json).await,
        ModelsCommand::Show(a) => models::show(client, &a.name, a.json).await,
        ModelsCommand::Register(a) => {
            models::register(
                &as_user(client, &a.user),
                models::Register {
                    run_id: a.run_id,
                    path: a.path,
                    name: a.name,
                    description: a.description,
                },
                a.json,
            )
            .await
        }
        ModelsCommand::Stage(a) => {
            models::stage(
                &as_user(client, &a.user),
                models::StageChange {
                    name: a.name,
                    version: a.version,
                    stage: a.stage.as_str().to_string(),
                    archive_existing: a.archive_existing,
                    reason: a.reason,
                },
                a.json,
            )
            .await
        }
        ModelsCommand::Alias(a) => {
            let c = as_user(client, &a.user);
            match a.version {
                Some(v) if !a.delete => models::alias_set(&c, &a.name, &a.alias, &v, a.json).await,
                _ => models::alias_delete(&c, &a.name, &a.alias, a.json).await,
            }
        }
        ModelsCommand::History(a) => {
            let last = a.last.map(|n| usize::try_from(n).unwrap_or(usize::MAX));
            models::history(client, &a.name, last, a.json).await
        }
        ModelsCommand::Lineage(a) => models::lineage(client, &a.name, &a.version, a.json).await,
        ModelsCommand::Resolve(a) => models::resolve(client, &a.uri, a.json).await,
        ModelsCommand::Convert(a) => {
            models::convert(
                client,
                models::ConvertRequest {
                    uri: a.uri,
                    env_manager: a.env_manager.into(),
                    force: a.force,
                },
                &slipway_home(),
                a.json,
            )
            .await
        }
    }
}

/// Turns a client failure into the one-line message the user sees.
fn describe_client_error(err: anyhow::Error, tracking: &TrackingUri) -> anyhow::Error {
    let Some(client_err) = err.downcast_ref::<slipway_client::Error>() else {
        return err;
    };
    match client_err {
        slipway_client::Error::Transport { source, .. } => {
            let cause = root_cause(source);
            if client_err.is_unreachable() {
                anyhow::anyhow!(
                    "cannot reach the tracking server at {} (from {}): {cause}. \
                     Is it running? Start one with `slipway server`, or point --tracking-uri \
                     (or SLIPWAY_TRACKING_URI) at a running server.",
                    tracking.uri,
                    tracking.source
                )
            } else {
                anyhow::anyhow!(
                    "request to the tracking server at {} failed: {cause}",
                    tracking.uri
                )
            }
        }
        // `RESOURCE_DOES_NOT_EXIST: Run with id=... not found`
        _ => anyhow::anyhow!("{client_err}"),
    }
}

/// `top: cause: cause`, skipping causes the message already spells out
/// (errors that embed their source in their own message).
pub(crate) fn error_chain(err: &anyhow::Error) -> String {
    let mut msg = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if msg.is_empty() {
            msg = text;
        } else if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
    }
    msg
}

fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = err;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// Writes the command's output; a closed pipe (`| head`) is not an error.
pub(crate) fn write_stdout(s: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(s.as_bytes()).and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// `$SLIPWAY_HOME`, else `./slipway-data`.
fn slipway_home() -> PathBuf {
    std::env::var_os("SLIPWAY_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("slipway-data"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn server_accepts_mlflow_flags() {
        let cli = Cli::try_parse_from([
            "slipway",
            "server",
            "-h",
            "0.0.0.0",
            "-p",
            "5001",
            "--backend-store-uri",
            "sqlite:///x.db",
            "--artifacts-destination",
            "./a",
            "--serve-artifacts",
            "--workers",
            "2",
        ])
        .unwrap();
        let Command::Server(a) = cli.command else {
            panic!("not server")
        };
        assert_eq!(a.host, "0.0.0.0");
        assert_eq!(a.port, 5001);
        assert_eq!(a.workers, 2);
    }

    #[test]
    fn models_commands_parse() {
        let cli = Cli::try_parse_from(["slipway", "models", "stage", "churn", "3", "production"])
            .unwrap();
        let Command::Models(ModelsCommand::Stage(a)) = cli.command else {
            panic!("not models stage")
        };
        assert_eq!(a.stage, StageArg::Production);
        assert_eq!(a.version, "3");
        assert!(Cli::try_parse_from(["slipway", "models", "stage", "churn", "3", "prod"]).is_err());
        assert!(
            Cli::try_parse_from(["slipway", "models", "stage", "churn", "x", "Staging"]).is_err()
        );
        // alias: a version, or --delete, not both, not neither.
        assert!(Cli::try_parse_from(["slipway", "models", "alias", "churn", "champion"]).is_err());
        assert!(Cli::try_parse_from([
            "slipway", "models", "alias", "churn", "champion", "3", "--delete"
        ])
        .is_err());
        let cli = Cli::try_parse_from([
            "slipway", "models", "alias", "churn", "champion", "--delete",
        ])
        .unwrap();
        let Command::Models(ModelsCommand::Alias(a)) = cli.command else {
            panic!("not models alias")
        };
        assert!(a.delete && a.version.is_none());
        let cli = Cli::try_parse_from([
            "slipway", "models", "register", "--run-id", "abc", "--name", "churn",
        ])
        .unwrap();
        let Command::Models(ModelsCommand::Register(a)) = cli.command else {
            panic!("not models register")
        };
        assert_eq!(a.path, "model");
    }

    #[test]
    fn runs_list_parses_repeated_order_by() {
        let cli = Cli::try_parse_from([
            "slipway",
            "runs",
            "list",
            "--experiment",
            "churn",
            "--order-by",
            "metrics.auc DESC",
            "--order-by",
            "start_time ASC",
        ])
        .unwrap();
        let Command::Runs(RunsCommand::List(a)) = cli.command else {
            panic!("not runs list")
        };
        assert_eq!(a.order_by.len(), 2);
        assert_eq!(a.max, 100);
    }
}
