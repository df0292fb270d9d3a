//! `slipway models ...` end to end: the built binary against `slipway server`
//! running as a child process, populated through slipway-client.

use serde_json::Value;
use slipway_client::{CreateLoggedModel, Dataset, DatasetInput, ModelOutput, SlipwayClient, Tag};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{free_port, rt, ChildGuard, BIN};

/// A `slipway` command against `base`, with a clean environment (user `ci`).
fn slipway(base: &str) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_remove("MLFLOW_TRACKING_URI")
        .env_remove("RUST_LOG")
        .env_remove("SLIPWAY_USER")
        .env_remove("LOGNAME")
        .env("USER", "ci")
        .env("COLUMNS", "250")
        .env("SLIPWAY_TRACKING_URI", base);
    cmd
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run slipway")
}

/// Runs `slipway ARGS...`, asserts success and returns stdout.
fn ok(base: &str, args: &[&str]) -> String {
    let o = run(slipway(base).args(args));
    assert!(
        o.status.success(),
        "slipway {args:?} failed ({:?}):\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// Runs `slipway ARGS... --json`, asserts success and parses stdout.
fn ok_json(base: &str, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = ok(base, &all);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// Runs `slipway ARGS...`, asserts exit code `code` and returns stderr.
fn fails(base: &str, args: &[&str], code: i32) -> String {
    let o = run(slipway(base).args(args));
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(
        o.status.code(),
        Some(code),
        "slipway {args:?}: stdout {}\nstderr {err}",
        String::from_utf8_lossy(&o.stdout)
    );
    err
}

fn start_server(dir: &Path) -> (ChildGuard, String) {
    let port = free_port();
    let mut child = Command::new(BIN)
        .env_remove("RUST_LOG")
        .args([
            "server",
            "--port",
            &port.to_string(),
            "--backend-store-uri",
            &format!("sqlite:///{}", dir.join("db").display()),
            "--artifacts-destination",
            &dir.join("a").display().to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn slipway server");
    let out = child.stdout.take().unwrap();
    let guard = ChildGuard(child);
    let mut first_line = String::new();
    BufReader::new(out).read_line(&mut first_line).unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let rt = rt();
    let client = SlipwayClient::new(&base).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while rt.block_on(client.health()).is_err() {
        assert!(Instant::now() < deadline, "server never became healthy");
        std::thread::sleep(Duration::from_millis(50));
    }
    (guard, base)
}

struct Trained {
    run_id: String,
    model_id: String,
}

/// A finished run with metrics, params, a training dataset and an MLflow 3
/// logged model named `clf` as its output.
fn train(base: &str) -> Trained {
    rt().block_on(async {
        let c = SlipwayClient::new(base).unwrap();
        let run = c.start_run("churn", Some("trial-2")).await.unwrap();
        run.log_param("model", "xgboost").await.unwrap();
        run.log_param("depth", 6).await.unwrap();
        run.log_metric("auc_roc", 0.93, 2).await.unwrap();
        run.log_metric("loss", 0.25, 2).await.unwrap();
        c.log_inputs(
            run.id(),
            vec![DatasetInput {
                tags: vec![Tag::new("mlflow.data.context", "training")],
                dataset: Dataset {
                    name: "churn-train".into(),
                    digest: "d41d8cd9".into(),
                    source_type: "local".into(),
                    source: "{\"uri\": \"/data/churn/train.parquet\"}".into(),
                    ..Default::default()
                },
            }],
            vec![],
        )
        .await
        .unwrap();
        let logged = c
            .create_logged_model(CreateLoggedModel {
                experiment_id: run.experiment_id().to_string(),
                name: Some("clf".into()),
                model_type: Some("sklearn".into()),
                source_run_id: Some(run.id().to_string()),
                ..Default::default()
            })
            .await
            .unwrap();
        c.log_outputs(
            run.id(),
            vec![ModelOutput {
                model_id: logged.info.model_id.clone(),
                step: 2,
            }],
        )
        .await
        .unwrap();
        let run_id = run.id().to_string();
        run.finish().await.unwrap();
        Trained {
            run_id,
            model_id: logged.info.model_id,
        }
    })
}

fn assert_contains(out: &str, needles: &[&str]) {
    for needle in needles {
        assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
    }
}

#[test]
fn models_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, base) = start_server(dir.path());
    let b = base.as_str();

    // Empty registry.
    let out = ok(b, &["models", "list"]);
    assert!(out.starts_with("No registered models."), "{out}");

    let t = train(b);
    let run_id = t.run_id.as_str();

    // register: creates the model, then version 1 from runs:/RUN/model.
    let out = ok(
        b,
        &["models", "register", "--run-id", run_id, "--name", "churn"],
    );
    assert_contains(
        &out,
        &[
            "Created registered model 'churn'.",
            "Registered 'churn' version 1",
            &format!("runs:/{run_id}/model"),
            "models:/churn/1",
        ],
    );
    // Again (the model exists: fine), as bob, with --json: MLflow's shape.
    let v = ok_json(
        b,
        &[
            "models",
            "register",
            "--run-id",
            run_id,
            "--name",
            "churn",
            "--user",
            "bob",
            "--description",
            "retrained",
        ],
    );
    assert_eq!(v["model_version"]["version"], "2");
    assert_eq!(v["model_version"]["user_id"], "bob");
    assert_eq!(v["model_version"]["description"], "retrained");
    // An MLflow 3 logged model named by --path: source models:/<model_id>.
    let v = ok_json(
        b,
        &[
            "models", "register", "--run-id", run_id, "--path", "clf", "--name", "churn",
        ],
    );
    let mv = &v["model_version"];
    assert_eq!(mv["version"], "3");
    assert_eq!(mv["source"], format!("models:/{}", t.model_id));
    assert_eq!(mv["model_id"], t.model_id.as_str());
    assert_eq!(mv["run_id"], run_id);
    assert_eq!(mv["user_id"], "ci", "the default user is $USER");

    // register errors: unknown run (exit 1, no model left behind), bad path (exit 2).
    let missing = "0123456789abcdef0123456789abcdef";
    let err = fails(
        b,
        &["models", "register", "--run-id", missing, "--name", "ghost"],
        1,
    );
    assert!(
        err.starts_with("error: RESOURCE_DOES_NOT_EXIST: ") && err.contains(missing),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    fails(b, &["models", "show", "ghost"], 1);
    let err = fails(
        b,
        &[
            "models", "register", "--run-id", run_id, "--path", "../etc", "--name", "churn",
        ],
        2,
    );
    assert!(err.contains("invalid --path"), "{err}");
    fails(b, &["models", "register", "--name", "churn"], 2);

    // stage: case-insensitive, --archive-existing, --reason.
    let out = ok(
        b,
        &[
            "models",
            "stage",
            "churn",
            "1",
            "production",
            "--reason",
            "first model",
        ],
    );
    assert_contains(
        &out,
        &["'churn' version 1: None → Production", "first model"],
    );
    let out = ok(
        b,
        &[
            "models",
            "stage",
            "churn",
            "2",
            "Production",
            "--archive-existing",
            "--reason",
            "AUC 0.93 vs 0.91",
            "--user",
            "bob",
        ],
    );
    assert_contains(
        &out,
        &[
            "'churn' version 2: None → Production",
            "archived version 1 (were Production)",
        ],
    );
    let v = ok_json(b, &["models", "stage", "churn", "3", "staging"]);
    assert_eq!(v["model_version"]["current_stage"], "Staging");
    // stage errors: a bad stage or version is usage (2); an unknown version is the API's (1).
    let err = fails(b, &["models", "stage", "churn", "3", "Prod"], 2);
    assert!(err.contains("Production"), "{err}");
    fails(b, &["models", "stage", "churn", "three", "Staging"], 2);
    let err = fails(b, &["models", "stage", "churn", "9", "Staging"], 1);
    assert!(err.starts_with("error: RESOURCE_DOES_NOT_EXIST: "), "{err}");
    let err = fails(b, &["models", "stage", "nope", "1", "Staging"], 1);
    assert!(err.starts_with("error: RESOURCE_DOES_NOT_EXIST: "), "{err}");

    // alias: set, move, delete; errors.
    let out = ok(b, &["models", "alias", "churn", "champion", "2"]);
    assert_contains(&out, &["models:/churn@champion → version 2 (new alias)"]);
    let out = ok(
        b,
        &[
            "models", "alias", "churn", "champion", "3", "--user", "carol",
        ],
    );
    assert_contains(&out, &["→ version 3 (was version 2)"]);
    ok(b, &["models", "alias", "churn", "challenger", "1"]);
    let out = ok(b, &["models", "alias", "churn", "challenger", "--delete"]);
    assert_contains(
        &out,
        &["Deleted alias 'challenger' of 'churn' (pointed at version 1)"],
    );
    let err = fails(
        b,
        &["models", "alias", "churn", "challenger", "--delete"],
        1,
    );
    assert!(err.contains("no alias 'challenger'"), "{err}");
    let err = fails(b, &["models", "alias", "churn", "latest", "1"], 1);
    assert!(err.starts_with("error: INVALID_PARAMETER_VALUE: "), "{err}");
    let err = fails(b, &["models", "alias", "churn", "x", "9"], 1);
    assert!(err.starts_with("error: RESOURCE_DOES_NOT_EXIST: "), "{err}");
    fails(b, &["models", "alias", "churn", "champion"], 2);
    fails(
        b,
        &["models", "alias", "churn", "champion", "2", "--delete"],
        2,
    );

    // list: latest version, versions per stage, aliases; filter; JSON.
    run_client(b, |c| async move {
        c.create_registered_model("fraud").await.unwrap();
    });
    let out = ok(b, &["models", "list"]);
    assert_contains(
        &out,
        &[
            "NAME",
            "LATEST",
            "churn",
            "Production 1, Staging 1, Archived 1",
            "champion→3",
            "fraud",
            "2 registered models",
        ],
    );
    let churn_row = out.lines().find(|l| l.contains("churn")).unwrap();
    assert!(churn_row.contains(" 3 "), "latest version 3: {churn_row}");
    let out = ok(b, &["models", "list", "--filter", "name LIKE 'ch%'"]);
    assert!(out.contains("churn") && !out.contains("fraud"), "{out}");
    assert_contains(&out, &["1 registered model"]);
    let out = ok(b, &["models", "list", "--filter", "name = 'nothing'"]);
    assert!(
        out.starts_with("No registered models matching the filter."),
        "{out}"
    );
    let v = ok_json(b, &["models", "list"]);
    let names: Vec<&str> = v["registered_models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["churn", "fraud"]);
    let err = fails(b, &["models", "list", "--filter", "nonsense"], 1);
    assert!(err.starts_with("error: INVALID_PARAMETER_VALUE: "), "{err}");

    // show: info, aliases and the versions table, newest first.
    let out = ok(b, &["models", "show", "churn"]);
    assert_contains(
        &out,
        &[
            "Registered model churn",
            "by ci",
            "3 (latest 3): Production 1, Staging 1, Archived 1",
            "Aliases (1)",
            "models:/churn@champion",
            "Versions (3)",
            "VERSION",
            "RUN ID",
            "SOURCE",
            run_id,
            &format!("models:/{}", t.model_id),
            "Archived",
            "bob",
        ],
    );
    let versions_at = out.find("Versions (3)").unwrap();
    let table = &out[versions_at..];
    let row = |v: &str| {
        table
            .lines()
            .position(|l| {
                l.trim_start_matches(['|', ' '])
                    .starts_with(&format!("{v} "))
            })
            .unwrap_or_else(|| panic!("no row for version {v}:\n{table}"))
    };
    assert!(row("3") < row("2") && row("2") < row("1"), "{table}");
    let v3_line = table.lines().nth(row("3")).unwrap();
    assert!(
        v3_line.contains("champion") && v3_line.contains("Staging"),
        "{v3_line}"
    );
    let v = ok_json(b, &["models", "show", "churn"]);
    assert_eq!(v["registered_model"]["name"], "churn");
    assert_eq!(v["model_versions"].as_array().unwrap().len(), 3);
    assert_eq!(v["model_versions"][0]["version"], "3");
    let err = fails(b, &["models", "show", "nope"], 1);
    assert!(err.starts_with("error: RESOURCE_DOES_NOT_EXIST: "), "{err}");

    // history: when, who, kind, version, from → to, reason.
    let out = ok(b, &["models", "history", "churn"]);
    assert_contains(
        &out,
        &[
            "WHEN",
            "WHO",
            "KIND",
            "FROM → TO",
            "REASON",
            "registered_model_created",
            "model_version_created",
            "None → Production",
            "Production → Archived",
            "AUC 0.93 vs 0.91",
            "first model",
            "@champion 2 → 3",
            "@challenger 1 → (removed)",
            "carol",
            "bob",
            "UTC",
        ],
    );
    let promoted = out
        .lines()
        .find(|l| l.contains("AUC 0.93 vs 0.91") && l.contains("None → Production"))
        .unwrap();
    assert!(promoted.contains("bob"), "{promoted}");
    let v = ok_json(b, &["models", "history", "churn"]);
    let events = v["events"].as_array().unwrap();
    // created + 3 versions + 4 transitions (one archive) + 3 alias sets + 1 delete.
    assert_eq!(events.len(), 12, "{v:#}");
    assert_eq!(events[0]["kind"], "registered_model_created");
    assert_eq!(events[0]["user"], "ci");
    let v = ok_json(b, &["models", "history", "churn", "--last", "2"]);
    assert_eq!(v["events"].as_array().unwrap().len(), 2);
    assert_eq!(v["events"][1]["kind"], "alias_deleted");
    let out = ok(b, &["models", "history", "churn", "--last", "2"]);
    assert_contains(&out, &["last 2 of 12 events for 'churn'"]);
    let err = fails(b, &["models", "history", "nope"], 1);
    assert!(err.starts_with("error: RESOURCE_DOES_NOT_EXIST: "), "{err}");
    let out = ok(b, &["models", "history", "fraud"]);
    assert_contains(&out, &["1 event for 'fraud'"]);

    // lineage: version → run → logged model → datasets.
    let out = ok(b, &["models", "lineage", "churn", "3"]);
    assert_contains(
        &out,
        &[
            "Model version churn v3 [Staging] @champion",
            &format!("└─ Run {run_id} (trial-2)"),
            "experiment",
            "churn (id ",
            "FINISHED",
            "auc_roc=0.93",
            "loss=0.25",
            "depth=6",
            "model=xgboost",
            &format!("├─ Logged model {} (clf)", t.model_id),
            "type sklearn",
            "└─ Datasets (1)",
            "churn-train [training]",
            "d41d8cd9",
            "/data/churn/train.parquet",
        ],
    );
    let out = ok(b, &["models", "lineage", "churn", "1"]);
    assert!(!out.contains("Logged model"), "{out}");
    assert_contains(&out, &["[Archived]", "churn-train"]);
    let v = ok_json(b, &["models", "lineage", "churn", "3"]);
    assert_eq!(v["model_version"]["version"], "3");
    assert_eq!(v["run"]["info"]["run_id"], run_id);
    assert_eq!(v["logged_model"]["info"]["model_id"], t.model_id.as_str());
    assert_eq!(v["datasets"][0]["dataset"]["digest"], "d41d8cd9");
    let err = fails(b, &["models", "lineage", "churn", "9"], 1);
    assert!(err.starts_with("error: RESOURCE_DOES_NOT_EXIST: "), "{err}");
    fails(b, &["models", "lineage", "churn"], 2);

    // resolve: every URI form.
    let out = ok(b, &["models", "resolve", "models:/churn@champion"]);
    assert_contains(
        &out,
        &[
            "models:/churn@champion",
            "churn version 3",
            run_id,
            &t.model_id,
            "artifact uri",
            "mlflow-artifacts:/",
        ],
    );
    let v = ok_json(b, &["models", "resolve", "models:/churn/Production"]);
    assert_eq!(v["version"], "2");
    assert!(
        v["artifact_uri"].as_str().unwrap().ends_with("/model"),
        "{v}"
    );
    let v = ok_json(b, &["models", "resolve", "models:/churn/latest"]);
    assert_eq!(v["version"], "3");
    let v = ok_json(b, &["models", "resolve", &format!("runs:/{run_id}/clf")]);
    assert_eq!(v["model_id"], t.model_id.as_str());
    assert_eq!(v["name"], Value::Null);
    let err = fails(b, &["models", "resolve", "s3://bucket/model"], 2);
    assert!(err.contains("not a model URI"), "{err}");
    let err = fails(b, &["models", "resolve", "models:/churn/9"], 1);
    assert!(err.starts_with("error: RESOURCE_DOES_NOT_EXIST: "), "{err}");
    let err = fails(b, &["models", "resolve", "models:/churn/Bogus"], 1);
    assert!(err.starts_with("error: INVALID_PARAMETER_VALUE: "), "{err}");

    // $SLIPWAY_USER names the user when --user is not given.
    let o = run(slipway(b)
        .env("SLIPWAY_USER", "deploy-bot")
        .args(["models", "alias", "churn", "prod", "2"]));
    assert!(o.status.success());
    let v = ok_json(b, &["models", "history", "churn", "--last", "1"]);
    assert_eq!(v["events"][0]["user"], "deploy-bot");
}

fn run_client<F, Fut>(base: &str, f: F)
where
    F: FnOnce(SlipwayClient) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    rt().block_on(f(SlipwayClient::new(base).unwrap()));
}

#[test]
fn models_against_an_unreachable_server() {
    let uri = format!("http://127.0.0.1:{}", free_port());
    let err = fails(&uri, &["models", "list"], 1);
    assert!(
        err.contains(&uri) && err.contains("slipway server"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn models_help_has_examples() {
    let o = run(Command::new(BIN).arg("--help"));
    assert!(String::from_utf8_lossy(&o.stdout).contains("slipway models"));
    for sub in [
        "list", "show", "register", "stage", "alias", "history", "lineage", "resolve",
    ] {
        let o = run(Command::new(BIN).args(["models", sub, "--help"]));
        assert!(o.status.success(), "{sub}");
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.contains("Example"), "{sub}: {out}");
        assert!(
            out.contains(&format!("slipway models {sub}")),
            "{sub}: {out}"
        );
        assert!(out.contains("--json"), "{sub}: {out}");
    }
    let o = run(Command::new(BIN).args(["models", "--help"]));
    let out = String::from_utf8_lossy(&o.stdout);
    assert_contains(
        &out,
        &["Examples:", "register", "lineage", "--tracking-uri"],
    );
    let o = run(Command::new(BIN).args(["models", "stage", "--help"]));
    let out = String::from_utf8_lossy(&o.stdout);
    assert_contains(
        &out,
        &["--archive-existing", "--reason", "--user", "Production"],
    );
    // No subcommand: usage, exit 2.
    let o = run(Command::new(BIN).args(["models", "frobnicate"]));
    assert_eq!(o.status.code(), Some(2));
}
