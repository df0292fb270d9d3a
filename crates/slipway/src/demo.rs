//! `slipway demo`: the whole path on generated data, with nothing to install:
//! generate a churn dataset, train a model, log and register it, validate it
//! against the production model on a recent window (performance, regression,
//! latency, drift, coverage), promote it to Production and `@champion` when
//! the gate approves, print a summary, and serve the tracking API. Each box
//! of the product extends it.

use crate::train::{self, Options, Outcome};
use crate::validate;
use crate::{TrackingUri, UsageError};
use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use slipway_data::churn::{self, ChurnConfig};
use slipway_train::config::{DataConfig, ModelConfig, SplitConfig, TrainConfig};
use slipway_validate::Verdict;
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
        eprintln!("[{n}/5] {what}");
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
    drop(runtime);
    print!("{}", train::summary(&outcome));

    // 3. Validate against the model in Production (none on the first run).
    step(args.quiet, 3, "validating against the production model");
    let recent = data_dir.join("recent");
    let recent_data = churn::generate(&ChurnConfig {
        customers: (args.customers / 2).max(100),
        seed: args.seed.wrapping_add(1),
        ..Default::default()
    })
    .map_err(|e| UsageError::new(e.to_string()))?;
    slipway_data::write_tables(
        &recent,
        &[("training", &recent_data.training)],
        slipway_data::Format::Parquet,
        &|_| {},
    )?;
    let validation_config = home.join("demo").join("validation.yaml");
    std::fs::write(
        &validation_config,
        format!(
            "# slipway demo's validation gate (edit and rerun `slipway validate --config` with it)\n\
             performance: {{auc_roc: {{min: 0.70}}, accuracy: {{min: 0.75}}}}\n\
             regression: {{metrics: [accuracy, f1, auc_roc], max_degradation: 0.02}}\n\
             latency: {{p99_ms: {{max: 100}}, samples: 1000}}\n\
             drift: {{psi: {{max: 0.2}}, current: {}}}\n\
             coverage: {{min: 0.95}}\n",
            recent.join("training.parquet").display()
        ),
    )
    .with_context(|| format!("cannot write {}", validation_config.display()))?;
    let verdict = validate::validate(
        validate::ValidateArgs {
            run_id: outcome.run_id.clone(),
            config: Some(validation_config),
            baseline: None,
            name: Some(MODEL_NAME.into()),
            data: Some(recent.join("training.parquet")),
            current: None,
            format: validate::ReportFormat::Text,
            result_file: home.join("demo").join("validation_result.txt"),
            no_log: false,
        },
        tracking,
        home,
    )?;

    // 4. Promote only what the gate approved.
    let promoted = if verdict == Verdict::Approved {
        step(args.quiet, 4, "promoting to Production and @champion");
        let text = validate::promote_cmd(
            &validate::PromoteArgs {
                run_id: outcome.run_id.clone(),
                stage: Some("Production".into()),
                alias: Some("champion".into()),
                name: Some(MODEL_NAME.into()),
                force: false,
                reason: None,
                json: false,
            },
            tracking,
            home,
        )?;
        print!("{text}");
        true
    } else {
        println!(
            "Not promoted: the validation gate REJECTED version {}.",
            outcome.model_version.as_deref().unwrap_or("?")
        );
        false
    };
    println!("{}", next_steps(&outcome, promoted, &args, tracking));
    if args.exit {
        return Ok(());
    }

    // 5. Serve what was logged.
    step(args.quiet, 5, "serving the results (Ctrl-C to stop)");
    if !tracking.is_default() {
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

fn next_steps(
    outcome: &Outcome,
    promoted: bool,
    args: &DemoArgs,
    tracking: &TrackingUri,
) -> String {
    let mut s = String::new();
    if let (Some(v), true) = (&outcome.model_version, promoted) {
        s.push_str(&format!(
            "models:/{MODEL_NAME}/Production and models:/{MODEL_NAME}@champion are version {v}.\n"
        ));
    }
    let url = if tracking.is_default() {
        format!("http://{}:{}", args.host, args.port)
    } else {
        tracking.uri.clone()
    };
    s.push_str("\nWhere to look:\n");
    if args.exit && tracking.is_default() {
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
        "  slipway serve --model models:/{MODEL_NAME}@champion   # HTTP inference on :8080, follows @champion\n"
    ));
    s.push_str(&format!(
        "  MLFLOW_TRACKING_URI={url} python -c \"import mlflow; print(mlflow.search_runs(experiment_names=['{EXPERIMENT}']))\"\n"
    ));
    s
}
