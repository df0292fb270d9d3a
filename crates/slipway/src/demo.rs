//! `slipway demo`: the whole path on generated data, with nothing to install:
//! generate a churn dataset, train a model, log the run, register the model
//! (the first version becomes `@champion`), print a summary, and serve the
//! tracking UI/API. Each box of the product extends it.

use crate::train::{self, Options, Outcome};
use crate::{TrackingUri, UsageError};
use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use slipway_data::churn::{self, ChurnConfig};
use slipway_train::config::{DataConfig, ModelConfig, SplitConfig, TrainConfig};
use std::path::Path;
use std::time::Instant;

pub const EXAMPLES: &str = "\
Examples:
  slipway demo                      # generate, train, register, then serve on http://127.0.0.1:5000
  slipway demo --exit               # stop after the summary (CI)
  slipway demo --customers 100000 --port 5001
  SLIPWAY_HOME=/tmp/demo slipway demo --exit

Everything lands in $SLIPWAY_HOME (default ./slipway-data): the data under demo/, runs and
models in the embedded store that `slipway server` serves.";

pub const EXPERIMENT: &str = "customer-churn-prediction";
pub const MODEL_NAME: &str = "churn-classifier";

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Customers to generate (rows of the training table)
    #[arg(long, value_name = "N", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(100..=churn::MAX_CUSTOMERS))]
    customers: u64,
    /// Random seed of the generated data
    #[arg(long, value_name = "S", default_value_t = 42)]
    seed: u64,
    /// Stop after the summary instead of serving the results
    #[arg(long)]
    exit: bool,
    /// Port of the server started at the end
    #[arg(long, default_value_t = 5000)]
    port: u16,
    /// Interface of the server started at the end
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// No progress bars
    #[arg(long, short = 'q')]
    quiet: bool,
}

fn step(quiet: bool, n: u32, what: &str) {
    if !quiet {
        eprintln!("[{n}/4] {what}");
    }
}

pub fn run(args: DemoArgs, tracking: &TrackingUri, home: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(home)
        .with_context(|| format!("cannot create the data directory {}", home.display()))?;
    let data_dir = home.join("demo").join("churn");

    // 1. Data.
    step(
        args.quiet,
        1,
        &format!("generating {} customers of churn data", args.customers),
    );
    let started = Instant::now();
    let config = ChurnConfig {
        customers: args.customers,
        seed: args.seed,
        ..Default::default()
    };
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::with_draw_target(Some(args.customers), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("      [{bar:30}] {pos}/{len} customers")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar
    };
    let dataset = churn::generate_with_progress(&config, &|n| bar.inc(n))
        .map_err(|e| UsageError::new(e.to_string()))?;
    bar.finish_and_clear();
    let tables = [
        ("customers", &dataset.customers),
        ("transactions", &dataset.transactions),
        ("logins", &dataset.logins),
        ("support_tickets", &dataset.support_tickets),
        ("training", &dataset.training),
    ];
    slipway_data::write_tables(&data_dir, &tables, slipway_data::Format::Parquet, &|_| {})?;
    let training_path = data_dir.join("training.parquet");
    if !args.quiet {
        eprintln!(
            "      {} rows -> {} ({:.2} s)",
            dataset.training.num_rows(),
            training_path.display(),
            started.elapsed().as_secs_f64()
        );
    }

    // 2-3. Train, evaluate, log, register.
    step(args.quiet, 2, "training a gradient-boosted tree classifier");
    let train_config = demo_config(&training_path);
    let config_text = serde_yaml_ng::to_string(&train_config)?;
    let prepared = train::prepare(train_config, config_text, "slipway demo".into())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let opts = Options {
        quiet: args.quiet,
        tracking: tracking.clone(),
        home: home.to_path_buf(),
    };
    let outcome = train::train_and_log(&runtime, prepared, &opts)?;
    step(args.quiet, 3, "registering the model");
    let champion = runtime.block_on(crown_first_champion(&outcome, tracking, home))?;

    print!("{}", train::summary(&outcome));
    println!(
        "{}",
        next_steps(&outcome, champion.as_deref(), &args, tracking)
    );
    if args.exit {
        return Ok(());
    }

    // 4. Serve what was logged.
    step(args.quiet, 4, "serving the results (Ctrl-C to stop)");
    if tracking.source != "the default" {
        println!("Runs went to {}; nothing to serve locally.", tracking.uri);
        return Ok(());
    }
    let mut config = slipway_server::ServerConfig::with_home(home);
    config.host = args.host.clone();
    config.port = args.port;
    crate::server::run_config(config)
}

fn demo_config(training_path: &Path) -> TrainConfig {
    TrainConfig {
        experiment: EXPERIMENT.into(),
        run_name: None,
        data: DataConfig {
            path: training_path.to_path_buf(),
            test_path: None,
        },
        label: "churn".into(),
        positive_label: None,
        drop: vec!["customer_id".into()],
        split: SplitConfig::default(),
        model: ModelConfig {
            model_type: "gbm_classifier".into(),
            params: Default::default(),
        },
        register: Some(MODEL_NAME.into()),
        tags: [("slipway.demo".to_string(), "true".to_string())].into(),
    }
}

/// Points `@champion` at the new version when no version holds it yet
/// (later runs become challengers; validation gates decide promotions).
async fn crown_first_champion(
    outcome: &Outcome,
    tracking: &TrackingUri,
    home: &Path,
) -> anyhow::Result<Option<String>> {
    let Some(version) = &outcome.model_version else {
        return Ok(None);
    };
    let (client, embedded, _) = train::connect(tracking, home).await?;
    let result = async {
        let model = client.get_registered_model(MODEL_NAME).await?;
        if let Some(current) = model.aliases.iter().find(|a| a.alias == "champion") {
            return Ok(Some(current.version.clone()));
        }
        client
            .set_registered_model_alias(MODEL_NAME, "champion", version)
            .await?;
        Ok::<_, anyhow::Error>(Some(version.clone()))
    }
    .await;
    if let Some(server) = embedded {
        server.stop().await;
    }
    result
}

fn next_steps(
    outcome: &Outcome,
    champion: Option<&str>,
    args: &DemoArgs,
    tracking: &TrackingUri,
) -> String {
    let mut s = String::new();
    if let (Some(v), Some(c)) = (&outcome.model_version, champion) {
        if c == v {
            s.push_str(&format!("models:/{MODEL_NAME}@champion is version {v}.\n"));
        } else {
            s.push_str(&format!(
                "Version {v} is a challenger; models:/{MODEL_NAME}@champion stays version {c}.\n"
            ));
        }
    }
    let url = if tracking.source == "the default" {
        format!("http://{}:{}", args.host, args.port)
    } else {
        tracking.uri.clone()
    };
    s.push_str("\nWhere to look:\n");
    if args.exit && tracking.source == "the default" {
        s.push_str(&format!(
            "  slipway server                      # then {url}\n"
        ));
    } else {
        s.push_str(&format!(
            "  {url}                               # REST API (MLflow-compatible)\n"
        ));
    }
    s.push_str(&format!("  slipway runs show {}\n", outcome.run_id));
    s.push_str(&format!("  slipway models show {MODEL_NAME}\n"));
    s.push_str(&format!(
        "  MLFLOW_TRACKING_URI={url} python -c \"import mlflow; print(mlflow.search_runs(experiment_names=['{EXPERIMENT}']))\"\n"
    ));
    s
}
