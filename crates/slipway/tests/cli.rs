//! The built `slipway` binary end to end: `slipway server` as a child process,
//! populated through slipway-client, inspected with the CLI commands.

use serde_json::Value;
use slipway_client::{RunStatus, SlipwayClient};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{free_port, ChildGuard, BIN};

/// A `slipway` command with a clean environment for the tracking URI.
fn slipway(tracking_uri: Option<&str>) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_remove("SLIPWAY_TRACKING_URI")
        .env_remove("MLFLOW_TRACKING_URI")
        .env_remove("RUST_LOG")
        .env("COLUMNS", "200");
    if let Some(uri) = tracking_uri {
        cmd.env("SLIPWAY_TRACKING_URI", uri);
    }
    cmd
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run slipway")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn start_server(dir: &Path, port: u16) -> (ChildGuard, String) {
    let db = dir.join("db");
    let mut child = slipway(None)
        .args([
            "server",
            "--port",
            &port.to_string(),
            "--backend-store-uri",
            &format!("sqlite:///{}", db.display()),
            "--artifacts-destination",
            &dir.join("a").display().to_string(),
            "--serve-artifacts",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn slipway server");
    let out = child.stdout.take().unwrap();
    let guard = ChildGuard(child);
    let mut first_line = String::new();
    BufReader::new(out).read_line(&mut first_line).unwrap();
    (guard, first_line)
}

fn wait_healthy(base: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = SlipwayClient::new(base).unwrap();
    loop {
        if rt.block_on(client.health()).is_ok() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "server at {base} never became healthy"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

struct Populated {
    best_run: String,
    runs: usize,
}

fn populate(base: &str, artifact: &Path) -> Populated {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = SlipwayClient::new(base).unwrap();
        c.create_experiment("other").await.unwrap();
        let mut best = (f64::MIN, String::new());
        let aucs = [0.71, 0.86, 0.93];
        for (i, auc) in aucs.iter().enumerate() {
            let run = c
                .start_run("churn", Some(&format!("trial-{i}")))
                .await
                .unwrap();
            run.log_param("model", if i == 2 { "xgboost" } else { "logreg" })
                .await
                .unwrap();
            run.log_param("depth", i + 3).await.unwrap();
            for step in 0..3i64 {
                run.log_metric("loss", 1.0 / (step as usize + 1 + i) as f64, step)
                    .await
                    .unwrap();
            }
            run.log_metric("auc_roc", *auc, 2).await.unwrap();
            run.set_tag("team", "growth").await.unwrap();
            run.log_artifact_to(artifact, "reports").await.unwrap();
            if *auc > best.0 {
                best = (*auc, run.id().to_string());
            }
            run.end(RunStatus::Finished).await.unwrap();
        }
        Populated {
            best_run: best.1,
            runs: aucs.len(),
        }
    })
}

#[test]
fn cli_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let (_server, first_line) = start_server(dir.path(), port);
    let base = format!("http://127.0.0.1:{port}");
    assert!(
        first_line.starts_with(&format!(
            "slipway server listening on {base} (store: sqlite:///"
        )),
        "{first_line}"
    );
    assert!(first_line.contains("artifacts: "), "{first_line}");
    wait_healthy(&base);

    let report = dir.path().join("metrics report.csv");
    std::fs::write(&report, "auc\n0.9\n").unwrap();
    let pop = populate(&base, &report);

    // experiments list: a table naming both experiments, and JSON.
    let o = run(slipway(Some(&base)).args(["experiments", "list"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("churn") && out.contains("other"), "{out}");
    let o = run(slipway(None).args(["--tracking-uri", &base, "experiments", "list", "--json"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let names: Vec<&str> = v["experiments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"churn") && names.contains(&"other"),
        "{names:?}"
    );

    // runs list --json: parsed, filtered and ordered by the server.
    let o = run(slipway(Some(&base)).args([
        "runs",
        "list",
        "--experiment",
        "churn",
        "--filter",
        "metrics.auc_roc > 0.8",
        "--order-by",
        "metrics.auc_roc DESC",
        "--json",
    ]));
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["info"]["run_id"], pop.best_run.as_str());
    assert_eq!(runs[0]["info"]["run_name"], "trial-2");
    assert_eq!(runs[1]["info"]["run_name"], "trial-1");

    // runs list --max, and by experiment id.
    let churn_id = runs[0]["info"]["experiment_id"]
        .as_str()
        .unwrap()
        .to_string();
    let o =
        run(slipway(Some(&base)).args(["runs", "list", "-e", &churn_id, "--max", "2", "--json"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["runs"].as_array().unwrap().len(), 2);

    // runs list table: short ids, names, metric and param columns.
    let o = run(slipway(Some(&base)).args([
        "runs",
        "list",
        "--experiment",
        "churn",
        "--order-by",
        "metrics.auc_roc DESC",
    ]));
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for needle in [
        &pop.best_run[..8],
        "trial-0",
        "trial-2",
        "FINISHED",
        "auc_roc",
        "loss",
        "params.model",
        "0.93",
        "xgboost",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
    }
    assert!(
        !out.contains(&pop.best_run),
        "ids are shortened in the table:\n{out}"
    );
    assert!(
        out.contains(&format!("{} runs in experiment 'churn'", pop.runs)),
        "{out}"
    );
    // auc_roc is the sort key: it comes before the other metric columns.
    let header = out.lines().find(|l| l.contains("RUN ID")).unwrap();
    assert!(
        header.find("auc_roc").unwrap() < header.find("loss").unwrap(),
        "{header}"
    );

    // runs show: info, params, metrics, tags (system tags hidden), artifacts.
    let o = run(slipway(Some(&base)).args(["runs", "show", &pop.best_run]));
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for needle in [
        pop.best_run.as_str(),
        "trial-2",
        "churn",
        "FINISHED",
        "Params (2)",
        "xgboost",
        "Metrics (2, latest values)",
        "auc_roc",
        "0.93",
        "team",
        "growth",
        "system tag",
        "Artifacts (1 file)",
        "reports/",
        "reports/metrics report.csv",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
    }
    assert!(!out.contains("mlflow.source.type"), "{out}");
    let o = run(slipway(Some(&base)).args(["runs", "show", &pop.best_run, "--all-tags"]));
    assert!(stdout(&o).contains("mlflow.source.type"));
    let o = run(slipway(Some(&base)).args(["runs", "show", &pop.best_run, "--json"]));
    assert!(o.status.success());
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["run"]["info"]["run_id"], pop.best_run.as_str());

    // Unknown run: MLflow's error, exit code 1.
    let missing = "0123456789abcdef0123456789abcdef";
    let o = run(slipway(Some(&base)).args(["runs", "show", missing]));
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.starts_with("error: RESOURCE_DOES_NOT_EXIST: ") && err.contains(missing),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");

    // Unknown experiment.
    let o = run(slipway(Some(&base)).args(["runs", "list", "--experiment", "nope"]));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("nope"), "{}", stderr(&o));

    // A second server on the same port: one clear line, exit 1.
    let o = run(slipway(None).args([
        "server",
        "--port",
        &port.to_string(),
        "--backend-store-uri",
        &format!("sqlite:///{}", dir.path().join("db2").display()),
        "--artifacts-destination",
        &dir.path().join("a2").display().to_string(),
    ]));
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("error: cannot listen on"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(!stdout(&o).contains("listening"));

    // A bad backend URI: one clear line, exit 1.
    let o = run(slipway(None).args([
        "server",
        "--port",
        "0",
        "--backend-store-uri",
        "postgresql://x/y",
        "--artifacts-destination",
        &dir.path().join("a3").display().to_string(),
    ]));
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("error: unsupported --backend-store-uri"),
        "{err}"
    );
}

#[test]
fn unreachable_tracking_uri_is_explained() {
    let port = free_port();
    let uri = format!("http://127.0.0.1:{port}");
    let o = run(slipway(None)
        .env("MLFLOW_TRACKING_URI", &uri)
        .args(["experiments", "list"]));
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains(&uri), "{err}");
    assert!(err.contains("MLFLOW_TRACKING_URI"), "{err}");
    assert!(err.contains("slipway server"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");

    // A tracking URI that is not http(s).
    let o = run(slipway(Some("sqlite:///mlflow.db")).args(["experiments", "list"]));
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("invalid tracking URI"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn help_teaches_with_examples() {
    let o = run(slipway(None).arg("--help"));
    assert!(o.status.success());
    let out = stdout(&o);
    assert!(out.contains("Examples:"), "{out}");
    assert!(
        out.contains("slipway runs list --experiment churn"),
        "{out}"
    );
    for sub in [
        vec!["server", "--help"],
        vec!["experiments", "list", "--help"],
        vec!["runs", "list", "--help"],
        vec!["runs", "show", "--help"],
        vec!["runs", "--help"],
        vec!["experiments", "--help"],
    ] {
        let o = run(slipway(None).args(&sub));
        assert!(o.status.success(), "{sub:?}");
        let out = stdout(&o);
        assert!(out.contains("Example"), "{sub:?}: {out}");
    }
    let o = run(slipway(None).args(["runs", "list", "--help"]));
    assert!(stdout(&o).contains("--order-by \"metrics.auc_roc DESC\""));
    let o = run(slipway(None).args(["server", "--help"]));
    let out = stdout(&o);
    for flag in [
        "--host",
        "--port",
        "--backend-store-uri",
        "--artifacts-destination",
        "--default-artifact-root",
        "--workers",
        "--serve-artifacts",
    ] {
        assert!(out.contains(flag), "{flag}: {out}");
    }

    // Bad usage is clap's exit code 2.
    let o = run(slipway(None).args(["runs", "list"]));
    assert_eq!(o.status.code(), Some(2));
    let o = run(slipway(None).args(["runs", "list", "--experiment", "x", "--max", "zero"]));
    assert_eq!(o.status.code(), Some(2));
    let o = run(slipway(None).arg("frobnicate"));
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn server_defaults_to_slipway_home() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let port = free_port();
    let mut child = slipway(None)
        .env("SLIPWAY_HOME", &home)
        .args(["server", "--port", &port.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let _guard = ChildGuard(child);
    let mut line = String::new();
    BufReader::new(out).read_line(&mut line).unwrap();
    assert!(line.contains(&format!("http://127.0.0.1:{port}")), "{line}");
    assert!(
        line.contains(&home.join("mlflow.db").display().to_string()),
        "{line}"
    );
    wait_healthy(&format!("http://127.0.0.1:{port}"));
    assert!(home.join("mlflow.db").exists());
    assert!(home.is_dir());
}
