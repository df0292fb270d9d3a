//! `slipway validate` and `slipway promote` end to end: a good model is
//! approved and promoted, a deliberately worse candidate scored on the same
//! evaluation data is rejected and cannot be promoted without --force, drift
//! on shifted data fails, and bad input exits 2.

use serde_json::Value;
use slipway_client::SlipwayClient;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::{datagen_churn, err, out, rt, serve_home, ChildGuard, BIN};

/// A server shared by the steps of one test, and commands pointed at it.
struct Env {
    dir: tempfile::TempDir,
    _server: ChildGuard,
    client: SlipwayClient,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let (server, client) = serve_home(&dir.path().join("server"));
        Env {
            dir,
            _server: server,
            client,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn slipway(&self) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.env_remove("MLFLOW_TRACKING_URI")
            .env_remove("GITHUB_OUTPUT")
            .env_remove("GITHUB_STEP_SUMMARY")
            .env_remove("RUST_LOG")
            .env("SLIPWAY_TRACKING_URI", self.client.base_url())
            .env("SLIPWAY_HOME", self.path("unused-home"))
            .current_dir(self.dir.path());
        cmd
    }

    fn datagen(&self, name: &str, seed: u64, drift: f64) -> PathBuf {
        datagen_churn(
            &self.path(name),
            3000,
            &["--seed", &seed.to_string(), "--drift", &drift.to_string()],
        )
    }

    fn train(&self, data: &Path, model: &str) -> String {
        let config = self.path("train.yaml");
        std::fs::write(
            &config,
            format!(
                "experiment: churn-validate\ndata: {{path: {}}}\nlabel: churn\ndrop: [customer_id]\nmodel: {model}\n",
                data.display()
            ),
        )
        .unwrap();
        let o = self
            .slipway()
            .args(["train", "--quiet", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", err(&o));
        out(&o).trim().to_string()
    }

    fn run(&self, args: &[&str]) -> Output {
        self.slipway().args(args).output().unwrap()
    }

    fn tag(&self, run_id: &str, key: &str) -> Option<String> {
        let run = rt().block_on(self.client.get_run(run_id)).unwrap();
        run.data
            .tags
            .iter()
            .find(|t| t.key == key)
            .map(|t| t.value.clone())
    }
}

#[test]
fn good_model_is_approved_and_promoted_worse_one_is_rejected() {
    let env = Env::new();
    let train_data = env.datagen("train", 42, 0.0);
    let eval_data = env.datagen("eval", 7, 0.0);
    let config = env.path("validation.yaml");
    std::fs::write(
        &config,
        "performance: {auc_roc: {min: 0.6}, accuracy: {min: 0.5}}\n\
         regression: {metrics: [accuracy, f1, auc_roc], max_degradation: 0.02}\n\
         latency: {p99_ms: {max: 100}, samples: 200}\n\
         coverage: {min: 0.95}\n",
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let eval = eval_data.to_str().unwrap();

    // The first model: no champion yet, so regression is skipped with a note.
    let good = env.train(&train_data, "{type: gbm_classifier}");
    let o = env.run(&[
        "validate", "--run-id", &good, "--config", config, "--data", eval, "--name", "churn",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}\n{}", out(&o), err(&o));
    let report = out(&o);
    assert!(report.contains("MODEL VALIDATION REPORT"), "{report}");
    assert!(report.contains("Overall: APPROVED"), "{report}");
    assert!(report.contains("[SKIP]"), "no baseline yet: {report}");
    assert_eq!(
        std::fs::read_to_string(env.path("validation_result.txt"))
            .unwrap()
            .trim(),
        "APPROVED"
    );
    assert_eq!(
        env.tag(&good, "slipway.validation.status").as_deref(),
        Some("APPROVED")
    );
    let files: Vec<String> = rt()
        .block_on(env.client.list_artifacts(&good, Some("validation")))
        .unwrap()
        .into_iter()
        .map(|f| f.path)
        .collect();
    assert!(
        files.iter().any(|f| f.ends_with("report.json")),
        "{files:?}"
    );

    let o = env.run(&[
        "promote",
        "--run-id",
        &good,
        "--stage",
        "Production",
        "--name",
        "churn",
    ]);
    assert!(o.status.success(), "{}", err(&o));
    let mv = rt()
        .block_on(env.client.get_model_version("churn", "1"))
        .unwrap();
    assert_eq!(mv.current_stage, "Production");

    // A deliberately worse candidate, scored on the same evaluation data.
    let worse = env.train(
        &train_data,
        "{type: gbm_classifier, params: {n_estimators: 2, max_depth: 1}}",
    );
    let o = env.run(&[
        "validate", "--run-id", &worse, "--config", config, "--data", eval, "--name", "churn",
        "--format", "json",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}\n{}", out(&o), err(&o));
    let json: Value = serde_json::from_str(&out(&o)).unwrap();
    assert_eq!(json["verdict"], "REJECTED");
    let failed: Vec<&str> = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "FAIL")
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(
        failed.iter().any(|n| n.starts_with("regression.")),
        "{failed:?}"
    );
    assert_eq!(
        std::fs::read_to_string(env.path("validation_result.txt"))
            .unwrap()
            .trim(),
        "REJECTED"
    );

    // Promotion refuses it, unless forced with a reason (recorded).
    let o = env.run(&[
        "promote",
        "--run-id",
        &worse,
        "--stage",
        "Production",
        "--name",
        "churn",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    assert!(err(&o).contains("REJECTED"), "{}", err(&o));
    let o = env.run(&[
        "promote",
        "--run-id",
        &worse,
        "--stage",
        "Production",
        "--force",
    ]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "--force needs --reason: {}",
        err(&o)
    );
    let o = env.run(&[
        "promote",
        "--run-id",
        &worse,
        "--stage",
        "Production",
        "--name",
        "churn",
        "--force",
        "--reason",
        "drill",
    ]);
    assert!(o.status.success(), "{}", err(&o));
    let v2 = rt()
        .block_on(env.client.get_model_version("churn", "2"))
        .unwrap();
    assert_eq!(v2.current_stage, "Production");
    let forced = v2.tags.iter().find(|t| t.key == "slipway.promotion.forced");
    assert_eq!(forced.map(|t| t.value.as_str()), Some("true"));
    let v1 = rt()
        .block_on(env.client.get_model_version("churn", "1"))
        .unwrap();
    assert_eq!(
        v1.current_stage, "Archived",
        "one Production version at a time"
    );

    // A run never validated is refused.
    let fresh = env.train(
        &train_data,
        "{type: gbm_classifier, params: {n_estimators: 5}}",
    );
    let o = env.run(&[
        "promote", "--run-id", &fresh, "--alias", "champion", "--name", "churn",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("never validated"), "{}", err(&o));
}

#[test]
fn drift_on_shifted_data_fails_and_identical_data_passes() {
    let env = Env::new();
    let train_data = env.datagen("train", 42, 0.0);
    let shifted = env.datagen("shifted", 42, 1.0);
    let run = env.train(
        &train_data,
        "{type: gbm_classifier, params: {n_estimators: 10}}",
    );
    let config = env.path("drift.yaml");
    std::fs::write(&config, "drift: {psi: {max: 0.2}}\n").unwrap();
    let validate = |current: &Path| {
        env.run(&[
            "validate",
            "--run-id",
            &run,
            "--config",
            config.to_str().unwrap(),
            "--current",
            current.to_str().unwrap(),
            "--format",
            "json",
            "--no-log",
        ])
    };
    let o = validate(&train_data);
    assert_eq!(o.status.code(), Some(0), "{}\n{}", out(&o), err(&o));
    let same: Value = serde_json::from_str(&out(&o)).unwrap();
    for c in same["checks"].as_array().unwrap() {
        if c["name"].as_str().unwrap().starts_with("drift.") {
            assert_eq!(c["status"], "PASS", "{c}");
            assert!(c["actual"].as_f64().unwrap_or(0.0) < 1e-6, "{c}");
        }
    }
    let o = validate(&shifted);
    assert_eq!(o.status.code(), Some(1), "{}\n{}", out(&o), err(&o));
    let drifted: Value = serde_json::from_str(&out(&o)).unwrap();
    assert!(
        drifted["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"].as_str().unwrap().starts_with("drift.") && c["status"] == "FAIL"),
        "{drifted}"
    );
    assert_eq!(env.tag(&run, "slipway.validation.status"), None, "--no-log");
}

#[test]
fn could_not_validate_exits_2() {
    let env = Env::new();
    let data = env.datagen("train", 42, 0.0);
    let run = env.train(&data, "{type: gbm_classifier, params: {n_estimators: 5}}");
    let bad = env.path("bad.yaml");
    std::fs::write(&bad, "performance: {auc_roc: {mni: 0.7}}\n").unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["validate", "--run-id", "0123456789abcdef0123456789abcdef"],
            "not found",
        ),
        (
            vec![
                "validate",
                "--run-id",
                &run,
                "--config",
                bad.to_str().unwrap(),
            ],
            "mni",
        ),
        (
            vec!["validate", "--run-id", &run, "--data", "missing.parquet"],
            "missing.parquet",
        ),
        (
            vec!["validate", "--run-id", &run, "--config", "nope.yaml"],
            "nope.yaml",
        ),
        (vec!["promote", "--run-id", &run, "--stage", "Prod"], "Prod"),
    ];
    for (args, needle) in cases {
        let o = env.run(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", err(&o));
        assert!(err(&o).contains(needle), "{args:?}: {}", err(&o));
        assert!(!err(&o).contains("panicked"));
    }
}
