//! `slipway datagen`: seeded synthetic datasets written as Parquet or CSV.

use crate::{fmt, write_stdout, UsageError};
use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use slipway_data::churn::{self, ChurnConfig, MAX_CUSTOMERS, MAX_DAYS};
use slipway_data::{DataError, Format, WrittenTable};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Debug, Subcommand)]
pub enum DatagenCommand {
    /// Customer churn: customers, transactions, logins, support tickets and a training table
    ///
    /// The training table has one row per customer with features as of the snapshot
    /// (the end of the --days window), computed only from events before it, and a
    /// `churn` label (about 20%; up to 26% with --drift) drawn from a noisy logistic
    /// model of those features. The event tables also cover the 30 days after the
    /// snapshot, in which churners cancel. Same --seed, same settings: byte-identical files.
    #[command(after_help = CHURN_EXAMPLES)]
    Churn(ChurnArgs),
}

const CHURN_EXAMPLES: &str = "\
Examples:
  slipway datagen churn --out data/churn
      # 10,000 customers over 180 days: customers, transactions, logins, support_tickets, training (.parquet)
  slipway datagen churn --customers 100000 --days 365 --seed 7 --out data/churn-big
  slipway datagen churn --drift 0.5 --out data/churn-drifted
      # prices up, fewer logins, more tickets, more basic plans: a 'current' dataset for monitoring demos
  slipway datagen churn --format csv --quiet --out /tmp/churn
  slipway datagen churn --out data/churn --json | jq -r '.tables[] | select(.name == \"training\") | .path'

Then train on it: data: {path: data/churn/training.parquet}, label: churn, drop: [customer_id]";

#[derive(Debug, Args)]
pub struct ChurnArgs {
    /// Number of customers (rows of the customers and training tables)
    #[arg(long, value_name = "N", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..=MAX_CUSTOMERS))]
    customers: u64,
    /// Length of the observation window in days, from 2025-01-01; the snapshot is its end
    #[arg(long, value_name = "D", default_value_t = 180,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_DAYS)))]
    days: u32,
    /// Directory to write the tables into (created if missing)
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Distribution shift, 0.0 (none) to 1.0: prices up to +30%, logins down, more tickets
    #[arg(long, value_name = "0.0..1.0", default_value_t = 0.0, value_parser = parse_drift)]
    drift: f64,
    /// Random seed: the same seed and settings give byte-identical files
    #[arg(long, value_name = "S", default_value_t = 42)]
    seed: u64,
    /// File format of the tables
    #[arg(long, value_enum, default_value_t = FormatArg::Parquet)]
    format: FormatArg,
    /// No progress bar and no summary (errors still go to stderr)
    #[arg(long, short = 'q')]
    quiet: bool,
    /// Print the summary as JSON (tables, rows, paths, sizes, label rate)
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FormatArg {
    Parquet,
    Csv,
}

fn parse_drift(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=1.0).contains(&v) => Ok(v),
        Ok(_) => Err(format!(
            "drift must be between 0.0 (no shift) and 1.0 (strongest shift), got {s}"
        )),
        Err(_) => Err(format!("'{s}' is not a number between 0.0 and 1.0")),
    }
}

pub fn run(command: DatagenCommand) -> anyhow::Result<()> {
    match command {
        DatagenCommand::Churn(args) => churn(args),
    }
}

fn progress_bar(len: u64, template: &str, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

fn churn(args: ChurnArgs) -> anyhow::Result<()> {
    let config = ChurnConfig {
        customers: args.customers,
        days: args.days,
        seed: args.seed,
        drift: args.drift,
    };
    config
        .validate()
        .map_err(|e| UsageError::new(e.to_string()))?;
    let format = match args.format {
        FormatArg::Parquet => Format::Parquet,
        FormatArg::Csv => Format::Csv,
    };
    prepare_out_dir(&args.out)?;

    let started = Instant::now();
    let bar = progress_bar(
        config.customers,
        "generating [{bar:30}] {human_pos}/{human_len} customers ({eta})",
        args.quiet,
    );
    let dataset = churn::generate_with_progress(&config, &|n| bar.inc(n)).map_err(|e| match e {
        DataError::InvalidConfig(m) => anyhow::Error::new(UsageError::new(m)),
        other => other.into(),
    })?;
    bar.finish_and_clear();
    let generated = started.elapsed();

    let tables = dataset.tables();
    let bar = progress_bar(
        tables.len() as u64,
        "writing    [{bar:30}] {pos}/{len} tables {msg}",
        args.quiet,
    );
    let written = slipway_data::write_tables(&args.out, &tables, format, &|t| {
        bar.set_message(t.name.clone());
        bar.inc(1);
    })
    .with_context(|| format!("cannot write the tables into --out {}", args.out.display()))?;
    bar.finish_and_clear();
    let total = started.elapsed();

    let summary = Summary {
        config: &config,
        format,
        out: &args.out,
        positive_rate: dataset.positive_rate,
        events: dataset.event_count(),
        generate_seconds: generated.as_secs_f64(),
        total_seconds: total.as_secs_f64(),
        tables: &written,
    };
    if args.json {
        write_stdout(&format!("{}\n", summary.json()))
    } else if args.quiet {
        Ok(())
    } else {
        write_stdout(&summary.text())
    }
}

/// Creates `--out` and checks it takes files, with a message naming it.
fn prepare_out_dir(out: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out)
        .with_context(|| format!("cannot create the --out directory {}", out.display()))?;
    let probe = out.join(".slipway-datagen-probe");
    std::fs::write(&probe, b"")
        .with_context(|| format!("cannot write into the --out directory {}", out.display()))?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

struct Summary<'a> {
    config: &'a ChurnConfig,
    format: Format,
    out: &'a Path,
    positive_rate: f64,
    events: usize,
    generate_seconds: f64,
    total_seconds: f64,
    tables: &'a [WrittenTable],
}

impl Summary<'_> {
    fn text(&self) -> String {
        let c = self.config;
        let mut t = fmt::table();
        t.set_header(vec!["table", "rows", "file", "size"]);
        for w in self.tables {
            t.add_row(vec![
                w.name.clone(),
                w.rows.to_string(),
                w.path.display().to_string(),
                fmt::bytes(w.bytes as i64),
            ]);
        }
        let per_sec = self.events as f64 / self.generate_seconds.max(1e-9);
        format!(
            "churn data: {} customers, {} days from {} (snapshot {}), seed {}, drift {}\n\
             {t}\n\
             churn rate {:.1}% · {} events · generated in {:.2}s ({} events/s), written in {:.2}s\n",
            c.customers,
            c.days,
            slipway_data::time::format_date(churn::START_DATE),
            slipway_data::time::format_date(c.snapshot_date()),
            c.seed,
            c.drift,
            100.0 * self.positive_rate,
            self.events,
            self.generate_seconds,
            fmt::number(per_sec.round()),
            self.total_seconds - self.generate_seconds,
        )
    }

    fn json(&self) -> serde_json::Value {
        let c = self.config;
        serde_json::json!({
            "dataset": "churn",
            "out": self.out.display().to_string(),
            "format": self.format.extension(),
            "customers": c.customers,
            "days": c.days,
            "seed": c.seed,
            "drift": c.drift,
            "start_date": slipway_data::time::format_date(churn::START_DATE),
            "snapshot_date": slipway_data::time::format_date(c.snapshot_date()),
            "positive_rate": self.positive_rate,
            "events": self.events,
            "generate_seconds": self.generate_seconds,
            "total_seconds": self.total_seconds,
            "tables": self.tables.iter().map(|w| serde_json::json!({
                "name": w.name,
                "rows": w.rows,
                "path": w.path.display().to_string(),
                "bytes": w.bytes,
            })).collect::<Vec<_>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_range() {
        assert_eq!(parse_drift("0.25"), Ok(0.25));
        assert_eq!(parse_drift("1"), Ok(1.0));
        assert!(parse_drift("2").unwrap_err().contains("between 0.0"));
        assert!(parse_drift("-0.1").is_err());
        assert!(parse_drift("NaN").is_err());
        assert!(parse_drift("lots").unwrap_err().contains("not a number"));
    }
}
