//! `slipway datagen churn` end to end: the built binary writes the tables, and
//! they read back with the `parquet` crate.

use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_slipway");

fn datagen(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("datagen")
        .arg("churn")
        .args(args)
        .env("COLUMNS", "200")
        .output()
        .expect("run slipway")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// (column names, row count) of a Parquet file.
fn read_parquet(path: &Path) -> (Vec<String>, usize) {
    let file = std::fs::File::open(path).unwrap();
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    let names = builder
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let rows = builder
        .build()
        .unwrap()
        .map(|b| b.unwrap().num_rows())
        .sum();
    (names, rows)
}

const TABLES: [(&str, &[&str]); 5] = [
    (
        "customers",
        &[
            "customer_id",
            "signup_date",
            "plan",
            "region",
            "contract",
            "monthly_charges",
        ],
    ),
    (
        "transactions",
        &["transaction_id", "customer_id", "ts", "amount", "kind"],
    ),
    ("logins", &["customer_id", "ts", "session_minutes"]),
    (
        "support_tickets",
        &["ticket_id", "customer_id", "ts", "severity", "category"],
    ),
    (
        "training",
        &[
            "customer_id",
            "tenure_days",
            "plan",
            "region",
            "contract",
            "monthly_charges",
            "total_spend_30d",
            "txn_count_30d",
            "logins_7d",
            "logins_30d",
            "days_since_last_login",
            "tickets_90d",
            "max_ticket_severity_90d",
            "churn",
        ],
    ),
];

#[test]
fn writes_parquet_tables_that_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("churn");
    let o = datagen(&[
        "--customers",
        "2000",
        "--days",
        "90",
        "--seed",
        "5",
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(summary["customers"], 2000);
    assert_eq!(summary["snapshot_date"], "2025-04-01");
    let rate = summary["positive_rate"].as_f64().unwrap();
    assert!((0.15..=0.30).contains(&rate), "{rate}");
    let tables = summary["tables"].as_array().unwrap();
    assert_eq!(tables.len(), 5);
    let mut events = 0;
    for ((name, columns), t) in TABLES.iter().zip(tables) {
        assert_eq!(t["name"], *name);
        let path = out.join(format!("{name}.parquet"));
        assert_eq!(t["path"], path.display().to_string());
        assert_eq!(t["bytes"], std::fs::metadata(&path).unwrap().len());
        let (names, rows) = read_parquet(&path);
        assert_eq!(names, *columns, "{name} columns");
        assert_eq!(t["rows"], rows, "{name} rows");
        match *name {
            "customers" | "training" => assert_eq!(rows, 2000),
            _ => {
                assert!(rows > 0, "{name} is empty");
                events += rows;
            }
        }
    }
    assert_eq!(summary["events"], events);
    // Nothing but the five tables is left in the directory.
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 5);
}

#[test]
fn same_seed_same_bytes_and_table_summary() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    for out in [&a, &b] {
        let o = datagen(&[
            "--customers",
            "500",
            "--days",
            "30",
            "--drift",
            "0.7",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let text = stdout(&o);
        assert!(text.contains("500 customers, 30 days"), "{text}");
        assert!(text.contains("support_tickets"), "{text}");
        assert!(text.contains("churn rate"), "{text}");
    }
    for (name, _) in TABLES {
        let file = format!("{name}.parquet");
        assert_eq!(
            std::fs::read(a.join(&file)).unwrap(),
            std::fs::read(b.join(&file)).unwrap(),
            "{file} differs"
        );
    }
}

#[test]
fn csv_format_and_quiet() {
    let dir = tempfile::tempdir().unwrap();
    let o = datagen(&[
        "--customers",
        "200",
        "--days",
        "30",
        "--format",
        "csv",
        "--quiet",
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "");
    assert_eq!(stderr(&o), "");
    let training = std::fs::read_to_string(dir.path().join("training.csv")).unwrap();
    let mut lines = training.lines();
    assert_eq!(lines.next().unwrap(), TABLES[4].1.join(","));
    assert_eq!(lines.count(), 200);
}

#[test]
fn drift_out_of_range_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let o = datagen(&["--drift", "2", "--out", dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("drift must be between 0.0"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    let o = datagen(&["--customers", "0", "--out", dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn unwritable_out_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let out = file.join("churn");
    let o = datagen(&["--customers", "10", "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("--out directory") && err.contains(out.to_str().unwrap()),
        "{err}"
    );
}

#[test]
fn help_has_an_example() {
    let o = datagen(&["--help"]);
    assert!(o.status.success());
    let text = stdout(&o);
    assert!(
        text.contains("slipway datagen churn --out data/churn"),
        "{text}"
    );
    assert!(
        text.contains("[default: 10000]") && text.contains("[default: 42]"),
        "{text}"
    );
}
