//! `slipway`: the MLflow-compatible tracking server and its command-line client.

mod commands;
mod fmt;
mod server;

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

const DEFAULT_TRACKING_URI: &str = "http://127.0.0.1:5000";

const MAIN_EXAMPLES: &str = "\
Examples:
  slipway server                                   # MLflow-compatible server on http://127.0.0.1:5000
  slipway experiments list
  slipway runs list --experiment churn --filter \"metrics.auc_roc > 0.8\" --order-by \"metrics.auc_roc DESC\"
  slipway runs show 3f2a0c9e8d7b4a6f9e1c2b3a4d5e6f70

Python clients work unchanged: export MLFLOW_TRACKING_URI=http://127.0.0.1:5000";

/// Slipway: an MLflow-compatible tracking server and CLI in one binary.
#[derive(Debug, Parser)]
#[command(
    name = "slipway",
    version,
    arg_required_else_help = true,
    after_help = MAIN_EXAMPLES
)]
struct Cli {
    /// Tracking server for the experiments/runs commands [env: SLIPWAY_TRACKING_URI, then MLFLOW_TRACKING_URI]
    /// [default: http://127.0.0.1:5000]
    #[arg(long, global = true, value_name = "URI")]
    tracking_uri: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
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
}

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
struct TrackingUri {
    uri: String,
    source: &'static str,
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
        source: "the default",
    })
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
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
    init_logging();
    let result = match cli.command {
        Command::Server(args) => server::run(args),
        other => {
            let tracking = resolve_tracking_uri(cli.tracking_uri);
            run_client_command(other, &tracking)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
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
                Command::Server(_) => unreachable!("handled in main"),
            }
        })
        .map_err(|e| describe_client_error(e, tracking))?;
    write_stdout(&output)
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
fn error_chain(err: &anyhow::Error) -> String {
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
fn write_stdout(s: &str) -> anyhow::Result<()> {
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
