//! `slipway train` and `slipway demo` end to end: the built binary trains on
//! generated data, logs to the embedded store (or a running server), and the
//! result is read back through `slipway server` with slipway-client.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{datagen_churn, err, out, rt, serve_home as serve, BIN};

fn slipway(home: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_remove("SLIPWAY_TRACKING_URI")
        .env_remove("MLFLOW_TRACKING_URI")
        .env_remove("GITHUB_OUTPUT")
        .env_remove("RUST_LOG")
        .env("SLIPWAY_HOME", home)
        .env("COLUMNS", "200");
    cmd
}

/// Generated churn data (seeded), shared by the tests of this file.
fn churn_data(dir: &Path, format: &str) -> PathBuf {
    datagen_churn(dir, 3000, &["--format", format])
}

fn write_config(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    path
}

fn config_for(data: &Path, extra: &str) -> String {
    format!(
        "experiment: churn-train-test\ndata: {{path: {}}}\nlabel: churn\ndrop: [customer_id]\n{extra}",
        data.display()
    )
}

#[test]
fn trains_logs_registers_and_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let data = churn_data(&dir.path().join("data"), "parquet");
    let config = write_config(
        dir.path(),
        "train.yaml",
        &config_for(
            &data,
            "model: {type: gbm_classifier, params: {n_estimators: 50}}\nregister: churn-classifier\n",
        ),
    );
    let gh = dir.path().join("github_output");
    std::fs::write(&gh, "existing=1\n").unwrap();
    let run_id_file = dir.path().join("run_id.txt");
    let o = slipway(&home)
        .args(["train", "--json", "--config"])
        .arg(&config)
        .arg("--output-run-id")
        .arg(&run_id_file)
        .env("GITHUB_OUTPUT", &gh)
        .output()
        .unwrap();
    assert!(o.status.success(), "stderr: {}", err(&o));
    let result: Value = serde_json::from_str(&out(&o)).expect("--json prints JSON");
    let run_id = result["run_id"].as_str().unwrap().to_string();
    assert_eq!(std::fs::read_to_string(&run_id_file).unwrap(), run_id);
    let gh_text = std::fs::read_to_string(&gh).unwrap();
    assert!(gh_text.starts_with("existing=1\n"), "appends: {gh_text}");
    assert!(gh_text.contains(&format!("run_id={run_id}\n")), "{gh_text}");
    assert!(gh_text.contains("model_version=1\n"), "{gh_text}");
    let auc = result["metrics"]["auc_roc"].as_f64().unwrap();
    assert!(auc > 0.65 && auc <= 1.0, "learnable data: auc {auc}");
    assert_eq!(result["model_version"], "1");

    let (_server, client) = serve(&home);
    let rt = rt();
    let run = rt.block_on(client.get_run(&run_id)).unwrap();
    assert_eq!(run.info.status, slipway_client::RunStatus::Finished);
    let param = |k: &str| {
        run.data
            .params
            .iter()
            .find(|p| p.key == k)
            .map(|p| p.value.clone())
            .unwrap_or_else(|| panic!("param {k} missing"))
    };
    assert_eq!(param("num_rounds"), "50");
    assert_eq!(param("max_depth"), "3");
    assert_eq!(param("train_size"), "2400");
    assert_eq!(param("test_size"), "600");
    assert_eq!(param("feature_count"), "12");
    assert_eq!(param("data_digest").len(), 16);
    let positive_rate: f64 = param("positive_rate").parse().unwrap();
    assert!((0.1..0.4).contains(&positive_rate));
    for m in [
        "accuracy",
        "precision",
        "recall",
        "f1",
        "auc_roc",
        "log_loss",
    ] {
        let v = run.data.metrics.iter().find(|x| x.key == m);
        assert!(v.is_some_and(|v| v.value.is_finite()), "metric {m}");
    }
    assert_eq!(run.inputs.dataset_inputs.len(), 1);
    assert_eq!(run.inputs.dataset_inputs[0].dataset.name, "training");
    let artifacts: Vec<String> = rt
        .block_on(client.list_artifacts(&run_id, None))
        .unwrap()
        .into_iter()
        .map(|f| f.path)
        .collect();
    for a in [
        "feature_importance.csv",
        "data_profile.json",
        "plots",
        "train_config.yaml",
    ] {
        assert!(artifacts.iter().any(|p| p == a), "{a} in {artifacts:?}");
    }
    let plots: Vec<String> = rt
        .block_on(client.list_artifacts(&run_id, Some("plots")))
        .unwrap()
        .into_iter()
        .map(|f| f.path)
        .collect();
    for p in [
        "roc_curve.svg",
        "precision_recall_curve.svg",
        "confusion_matrix.svg",
    ] {
        assert!(plots.iter().any(|x| x.ends_with(p)), "{p} in {plots:?}");
    }
    let csv = rt
        .block_on(client.read_artifact(&run.info.artifact_uri, "feature_importance.csv"))
        .unwrap();
    let csv = String::from_utf8(csv.to_vec()).unwrap();
    assert!(
        csv.starts_with("feature,importance\n") && csv.lines().count() == 13,
        "{csv}"
    );
    let profile: Value = serde_json::from_slice(
        &rt.block_on(client.read_artifact(&run.info.artifact_uri, "data_profile.json"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(profile["features"].as_array().unwrap().len(), 12);

    // The model: a logged model with MLflow's layout, registered as version 1.
    let mv = rt
        .block_on(client.get_model_version("churn-classifier", "1"))
        .unwrap();
    assert_eq!(mv.run_id.as_deref(), Some(run_id.as_str()));
    let model_id = result["model_id"].as_str().unwrap();
    let logged = rt.block_on(client.get_logged_model(model_id)).unwrap();
    let mlmodel = rt
        .block_on(client.read_artifact(&logged.info.artifact_uri, "MLmodel"))
        .unwrap();
    let mlmodel = String::from_utf8(mlmodel.to_vec()).unwrap();
    assert!(
        mlmodel.contains("slipway:") && mlmodel.contains("signature:"),
        "{mlmodel}"
    );
    assert!(mlmodel.contains("tenure_days"), "{mlmodel}");
    for f in ["model.slipway", "slipway_model.json", "input_example.json"] {
        rt.block_on(client.read_artifact(&logged.info.artifact_uri, f))
            .unwrap_or_else(|e| panic!("{f}: {e}"));
    }
}

#[test]
fn same_seed_same_model_bytes_and_csv_input() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let data = churn_data(&dir.path().join("data"), "csv");
    let config = write_config(
        dir.path(),
        "t.yaml",
        &config_for(
            &data,
            "model: {type: gbm_classifier, params: {n_estimators: 20}}\n",
        ),
    );
    let train = || {
        let o = slipway(&home)
            .args(["train", "--quiet", "--json", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", err(&o));
        let v: Value = serde_json::from_str(&out(&o)).unwrap();
        v
    };
    let (a, b) = (train(), train());
    assert_ne!(a["run_id"], b["run_id"]);
    assert_eq!(a["metrics"]["auc_roc"], b["metrics"]["auc_roc"]);
    let (_server, client) = serve(&home);
    let rt = rt();
    let bytes = |v: &Value| {
        let m = rt
            .block_on(client.get_logged_model(v["model_id"].as_str().unwrap()))
            .unwrap();
        rt.block_on(client.read_artifact(&m.info.artifact_uri, "model.slipway"))
            .unwrap()
    };
    assert_eq!(
        bytes(&a),
        bytes(&b),
        "same seed, same data: same model bytes"
    );
}

fn model_line(t: &str) -> String {
    if t == "logistic_regression" {
        format!("model: {{type: {t}}}\n")
    } else {
        format!("model: {{type: {t}, params: {{n_estimators: 10}}}}\n")
    }
}

#[test]
fn every_model_type_trains() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let data = churn_data(&dir.path().join("data"), "parquet");
    for (t, metric) in [
        ("logistic_regression", "auc_roc"),
        ("random_forest_classifier", "auc_roc"),
        ("gbm_regressor", "rmse"),
        ("random_forest_regressor", "r2"),
    ] {
        let config = write_config(
            dir.path(),
            &format!("{t}.yaml"),
            &config_for(&data, &model_line(t)),
        );
        let o = slipway(&home)
            .args(["train", "--json", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        assert!(o.status.success(), "{t}: {}", err(&o));
        let v: Value = serde_json::from_str(&out(&o)).unwrap();
        assert!(
            v["metrics"][metric].as_f64().is_some_and(f64::is_finite),
            "{t}: {v}"
        );
    }
}

/// Bad input: exit 2, a message naming the problem, and no run logged.
#[test]
fn bad_input_exits_2_and_logs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let data = churn_data(&dir.path().join("data"), "parquet");
    let one_class = write_config(dir.path(), "one.csv", "x,churn\n1,1\n2,1\n3,1\n4,1\n5,1\n");
    let date_csv = dir.path().join("data").join("customers.parquet");
    let empty = write_config(dir.path(), "empty.csv", "");
    let cases: Vec<(String, &str)> = vec![
        (
            config_for(&data, "model: {type: gbm_classifier}\n")
                .replace("label: churn", "label: churned"),
            "churned",
        ),
        (
            config_for(&data, "model: {type: gbm_classifier}\nlable: x\n"),
            "lable",
        ),
        (
            config_for(
                &data,
                "model: {type: gbm_classifier, params: {max_dept: 3}}\n",
            ),
            "max_dept",
        ),
        (config_for(&data, "model: {type: xgboost}\n"), "model.type"),
        (
            config_for(&one_class, "model: {type: gbm_classifier}\n")
                .replace("drop: [customer_id]\n", ""),
            "one class",
        ),
        (
            config_for(&date_csv, "model: {type: gbm_classifier}\n")
                .replace("label: churn", "label: plan"),
            "signup_date",
        ),
        (
            config_for(&empty, "model: {type: gbm_classifier}\n"),
            "empty",
        ),
        (
            config_for(
                &dir.path().join("missing.parquet"),
                "model: {type: gbm_classifier}\n",
            ),
            "missing.parquet",
        ),
        ("experiment: [unclosed".to_string(), "bad.yaml"),
    ];
    for (i, (body, needle)) in cases.iter().enumerate() {
        let config = write_config(dir.path(), "bad.yaml", body);
        let o = slipway(&home)
            .args(["train", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "case {i}: {}", err(&o));
        assert!(
            err(&o).contains(needle),
            "case {i}: expected '{needle}' in: {}",
            err(&o)
        );
        assert!(!err(&o).contains("panicked"), "{}", err(&o));
    }
    let o = slipway(&home)
        .args(["train", "--config"])
        .arg(dir.path().join("nope.yaml"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("nope.yaml"));
    // Nothing was logged: the store was never even opened.
    assert!(
        !home.join("mlflow.db").exists() || {
            let (_s, client) = serve(&home);
            rt().block_on(client.get_experiment_by_name("churn-train-test"))
                .unwrap()
                .is_none()
        }
    );
}

#[test]
fn logs_to_a_running_server_with_tracking_uri() {
    let dir = tempfile::tempdir().unwrap();
    let server_home = dir.path().join("server");
    let (_server, client) = serve(&server_home);
    let data = churn_data(&dir.path().join("data"), "parquet");
    let config = write_config(
        dir.path(),
        "t.yaml",
        &config_for(
            &data,
            "model: {type: gbm_classifier, params: {n_estimators: 10}}\n",
        ),
    );
    let o = slipway(&dir.path().join("unused-home"))
        .args([
            "train",
            "--quiet",
            "--tracking-uri",
            client.base_url(),
            "--config",
        ])
        .arg(&config)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", err(&o));
    let run_id = out(&o).trim().to_string();
    let run = rt().block_on(client.get_run(&run_id)).unwrap();
    assert_eq!(run.info.status, slipway_client::RunStatus::Finished);
    assert!(!dir.path().join("unused-home").join("mlflow.db").exists());
}

#[test]
fn demo_trains_validates_and_promotes() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let demo = || {
        let o = slipway(&home)
            .args(["demo", "--exit", "--quiet", "--customers", "2000"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", err(&o));
        out(&o)
    };
    let first = demo();
    assert!(first.contains("auc_roc"), "{first}");
    assert!(first.contains("MODEL VALIDATION REPORT"), "{first}");
    assert!(first.contains("Overall: APPROVED"), "{first}");
    assert!(
        first.contains("models:/churn-classifier@champion are version 1"),
        "{first}"
    );
    assert!(first.contains("slipway server"), "{first}");
    // The second run is validated against version 1 in Production.
    let second = demo();
    assert!(
        second.contains("baseline=") && second.contains("degradation="),
        "{second}"
    );
    assert!(
        second.contains("models:/churn-classifier@champion are version 2"),
        "{second}"
    );
    assert!(home.join("demo/churn/training.parquet").exists());
    let (_server, client) = serve(&home);
    let rt = rt();
    let champion = rt
        .block_on(client.get_model_version_by_alias("churn-classifier", "champion"))
        .unwrap();
    assert_eq!(champion.version, "2");
    assert_eq!(champion.current_stage, "Production");
    let v1 = rt
        .block_on(client.get_model_version("churn-classifier", "1"))
        .unwrap();
    assert_eq!(v1.current_stage, "Archived");
}

/// Ctrl-C during training ends the run as KILLED (not left RUNNING), exit 130.
#[cfg(unix)]
#[test]
fn ctrl_c_marks_the_run_killed() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, client) = serve(&dir.path().join("server"));
    let data = churn_data(&dir.path().join("data"), "parquet");
    let config = write_config(
        dir.path(),
        "long.yaml",
        &config_for(
            &data,
            "model: {type: gbm_classifier, params: {n_estimators: 1000000}}\n",
        )
        .replace("churn-train-test", "churn-interrupted"),
    );
    let mut child = slipway(&dir.path().join("unused"))
        .args([
            "train",
            "--quiet",
            "--tracking-uri",
            client.base_url(),
            "--config",
        ])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let rt = rt();
    let deadline = Instant::now() + Duration::from_secs(60);
    let run_id = loop {
        let exp = rt
            .block_on(client.get_experiment_by_name("churn-interrupted"))
            .unwrap();
        if let Some(exp) = exp {
            let runs = rt
                .block_on(client.search_runs_all(slipway_client::SearchRuns {
                    experiment_ids: vec![exp.experiment_id],
                    ..Default::default()
                }))
                .unwrap();
            if let Some(r) = runs.first() {
                break r.info.run_id.clone();
            }
        }
        assert!(Instant::now() < deadline, "the run never started");
        std::thread::sleep(Duration::from_millis(50));
    };
    // Let training get going, then Ctrl-C.
    std::thread::sleep(Duration::from_millis(300));
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("KILLED"), "{stderr}");
    let run = rt.block_on(client.get_run(&run_id)).unwrap();
    assert_eq!(run.info.status, slipway_client::RunStatus::Killed);
    let tag = run
        .data
        .tags
        .iter()
        .find(|t| t.key == "slipway.error")
        .unwrap();
    assert!(tag.value.contains("interrupted"), "{}", tag.value);
}

#[test]
fn values_beyond_tree_range_are_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write_config(
        dir.path(),
        "big.csv",
        "x,y\n1,0\n2,1\n1e300,0\n3,1\n4,0\n5,1\n",
    );
    let config = write_config(
        dir.path(),
        "t.yaml",
        &format!(
            "experiment: e\ndata: {{path: {}}}\nlabel: y\nsplit: {{test_size: 0.34}}\nmodel: {{type: gbm_classifier}}\n",
            csv.display()
        ),
    );
    let o = slipway(&dir.path().join("home"))
        .args(["train", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(
        err(&o).contains("`x`") && err(&o).contains("1e300"),
        "{}",
        err(&o)
    );
}
