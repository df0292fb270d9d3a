//! End-to-end: every client method against a real `slipway server` running in-process.

use slipway_client::*;
use slipway_server::ServerConfig;
use tempfile::TempDir;

struct TestServer {
    client: SlipwayClient,
    _home: TempDir,
}

async fn start() -> TestServer {
    let home = tempfile::tempdir().unwrap();
    let state = slipway_server::open_state(&ServerConfig::with_home(home.path())).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, slipway_server::app(state))
            .await
            .unwrap();
    });
    // A trailing slash must not matter.
    let client = SlipwayClient::new(format!("http://{addr}/")).unwrap();
    client.health().await.unwrap();
    TestServer {
        client,
        _home: home,
    }
}

fn metric(key: &str, value: f64, step: i64) -> Metric {
    Metric {
        key: key.into(),
        value,
        timestamp: slipway_core::now_millis(),
        step,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_endpoints() {
    let s = start().await;
    s.client.health().await.unwrap();
    let info = s.client.server_info().await.unwrap();
    assert_eq!(info["multipart_uploads_enabled"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn experiments_crud_and_errors() {
    let s = start().await;
    let c = &s.client;

    let id = c.create_experiment("churn").await.unwrap();
    let exp = c.get_experiment(&id).await.unwrap();
    assert_eq!(exp.name, "churn");
    assert_eq!(exp.lifecycle_stage, LifecycleStage::Active);

    // Duplicate name: RESOURCE_ALREADY_EXISTS, mapped to a typed error.
    let err = c.create_experiment("churn").await.unwrap_err();
    assert!(err.is_already_exists(), "{err:?}");
    match &err {
        Error::Api {
            status,
            code,
            message,
        } => {
            assert_eq!(*status, 400);
            assert_eq!(*code, ErrorCode::ResourceAlreadyExists);
            assert!(message.contains("churn"), "{message}");
        }
        other => panic!("expected an API error, got {other:?}"),
    }
    assert!(err.to_string().starts_with("RESOURCE_ALREADY_EXISTS: "));

    // get-by-name: Some / None; names with spaces and non-ASCII are query-encoded.
    assert_eq!(
        c.get_experiment_by_name("churn")
            .await
            .unwrap()
            .unwrap()
            .experiment_id,
        id
    );
    assert!(c.get_experiment_by_name("nope").await.unwrap().is_none());
    let odd = "q1 & q2 / é?#";
    let odd_id = c
        .create_experiment_with(CreateExperiment {
            name: odd.into(),
            tags: vec![Tag::new("team", "growth")],
            ..Default::default()
        })
        .await
        .unwrap();
    let odd_exp = c.get_experiment_by_name(odd).await.unwrap().unwrap();
    assert_eq!(odd_exp.experiment_id, odd_id);
    assert!(odd_exp
        .tags
        .iter()
        .any(|t| t.key == "team" && t.value == "growth"));

    // get_or_create: existing and new.
    assert_eq!(c.get_or_create_experiment("churn").await.unwrap(), id);
    let new_id = c.get_or_create_experiment("fresh").await.unwrap();
    assert_ne!(new_id, id);

    // Unknown id.
    let err = c.get_experiment("987654").await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");

    // Tags.
    c.set_experiment_tag(&id, "owner", "ana").await.unwrap();
    let exp = c.get_experiment(&id).await.unwrap();
    assert!(exp
        .tags
        .iter()
        .any(|t| t.key == "owner" && t.value == "ana"));
    c.delete_experiment_tag(&id, "owner").await.unwrap();
    let exp = c.get_experiment(&id).await.unwrap();
    assert!(!exp.tags.iter().any(|t| t.key == "owner"));

    // Rename.
    c.update_experiment(&id, "churn-v2").await.unwrap();
    assert_eq!(c.get_experiment(&id).await.unwrap().name, "churn-v2");
    assert!(c.get_experiment_by_name("churn").await.unwrap().is_none());

    // Search: pages of 2 and search_all following tokens.
    for i in 0..5 {
        c.create_experiment(&format!("bulk-{i}")).await.unwrap();
    }
    let page = c
        .search_experiments(&SearchExperiments {
            max_results: Some(2),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.experiments.len(), 2);
    assert!(page.next_page_token.is_some());
    let all = c
        .search_experiments_all(SearchExperiments {
            max_results: Some(2),
            ..Default::default()
        })
        .await
        .unwrap();
    // Default + churn-v2 + odd + fresh + 5 bulk.
    assert_eq!(
        all.len(),
        9,
        "{:?}",
        all.iter().map(|e| &e.name).collect::<Vec<_>>()
    );
    let mut ids: Vec<_> = all.iter().map(|e| e.experiment_id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 9, "pages must not overlap");
    let filtered = c
        .search_experiments_all(SearchExperiments {
            filter: Some("name LIKE 'bulk-%'".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(filtered.len(), 5);

    // Delete / restore and view types.
    c.delete_experiment(&new_id).await.unwrap();
    assert_eq!(
        c.get_experiment(&new_id).await.unwrap().lifecycle_stage,
        LifecycleStage::Deleted
    );
    let deleted = c
        .search_experiments_all(SearchExperiments {
            view_type: Some(ViewType::DeletedOnly),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        deleted
            .iter()
            .map(|e| e.experiment_id.as_str())
            .collect::<Vec<_>>(),
        vec![new_id.as_str()]
    );
    c.restore_experiment(&new_id).await.unwrap();
    assert_eq!(
        c.get_experiment(&new_id).await.unwrap().lifecycle_stage,
        LifecycleStage::Active
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_logging_search_and_errors() {
    let s = start().await;
    let c = &s.client;
    let exp = c.create_experiment("runs").await.unwrap();

    let run = c
        .create_run(CreateRun {
            experiment_id: exp.clone(),
            run_name: Some("first".into()),
            tags: vec![Tag::new("team", "growth")],
            ..Default::default()
        })
        .await
        .unwrap();
    let id = run.info.run_id.clone();
    assert_eq!(id.len(), 32);
    assert_eq!(run.info.run_name, "first");
    assert_eq!(run.info.status, RunStatus::Running);
    assert!(
        run.info.artifact_uri.starts_with("mlflow-artifacts:"),
        "{}",
        run.info.artifact_uri
    );

    // Unknown run: RESOURCE_DOES_NOT_EXIST with MLflow's message.
    let missing = "0123456789abcdef0123456789abcdef";
    let err = c.get_run(missing).await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    match &err {
        Error::Api {
            status,
            code,
            message,
        } => {
            assert_eq!(*status, 404);
            assert_eq!(code.as_str(), "RESOURCE_DOES_NOT_EXIST");
            assert!(message.contains(missing), "{message}");
        }
        other => panic!("expected an API error, got {other:?}"),
    }
    assert!(c
        .log_metric(missing, "m", 1.0, 0)
        .await
        .unwrap_err()
        .is_not_found());

    // Metrics, params, tags.
    for step in 0..30 {
        c.log_metric(&id, "loss", 1.0 / (step + 1) as f64, step)
            .await
            .unwrap();
    }
    c.log_metric_with(LogMetric {
        run_id: id.clone(),
        key: "nan_metric".into(),
        value: Some(f64::NAN),
        timestamp: Some(1_700_000_000_000),
        step: 0,
        ..Default::default()
    })
    .await
    .unwrap();
    c.log_param(&id, "lr", "0.01").await.unwrap();
    c.log_batch(
        &id,
        vec![metric("auc", 0.91, 0), metric("auc", 0.93, 1)],
        vec![Param::new("depth", "6"), Param::new("model", "xgb")],
        vec![Tag::new("stage", "dev")],
    )
    .await
    .unwrap();
    c.set_tag(&id, "to-remove", "x").await.unwrap();
    c.delete_tag(&id, "to-remove").await.unwrap();
    // Changing a param is refused.
    let err = c.log_param(&id, "lr", "0.5").await.unwrap_err();
    assert_eq!(
        err.code(),
        Some(ErrorCode::InvalidParameterValue),
        "{err:?}"
    );

    let got = c.get_run(&id).await.unwrap();
    assert_eq!(got.param("lr"), Some("0.01"));
    assert_eq!(got.param("depth"), Some("6"));
    assert_eq!(got.metric("auc"), Some(0.93));
    assert_eq!(got.metric("loss"), Some(1.0 / 30.0));
    assert!(got.metric("nan_metric").unwrap().is_nan());
    assert_eq!(got.tag("team"), Some("growth"));
    assert_eq!(got.tag("stage"), Some("dev"));
    assert_eq!(got.tag("to-remove"), None);

    // Metric history (all values, in step order).
    let hist = c.get_metric_history(&id, "loss").await.unwrap();
    assert_eq!(hist.len(), 30);
    let mut steps: Vec<i64> = hist.iter().map(|m| m.step).collect();
    steps.sort();
    assert_eq!(steps, (0..30).collect::<Vec<_>>());
    assert!(c.get_metric_history(&id, "never").await.unwrap().is_empty());

    // Inputs / outputs.
    c.log_inputs(
        &id,
        vec![DatasetInput {
            tags: vec![Tag::new("mlflow.data.context", "training")],
            dataset: Dataset {
                name: "churn-train".into(),
                digest: "abc123".into(),
                source_type: "local".into(),
                source: "{\"uri\": \"/data/train.csv\"}".into(),
                ..Default::default()
            },
        }],
        vec![],
    )
    .await
    .unwrap();
    let model = c
        .create_logged_model(CreateLoggedModel {
            experiment_id: exp.clone(),
            name: Some("clf".into()),
            source_run_id: Some(id.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    c.log_outputs(
        &id,
        vec![ModelOutput {
            model_id: model.info.model_id.clone(),
            step: 3,
        }],
    )
    .await
    .unwrap();
    c.log_model_json(&id, r#"{"artifact_path": "model", "flavors": {}}"#)
        .await
        .unwrap();
    let got = c.get_run(&id).await.unwrap();
    assert_eq!(got.inputs.dataset_inputs.len(), 1);
    assert_eq!(got.inputs.dataset_inputs[0].dataset.name, "churn-train");
    assert_eq!(got.outputs.model_outputs.len(), 1);
    assert_eq!(got.outputs.model_outputs[0].model_id, model.info.model_id);

    // Update / end.
    let info = c
        .update_run(UpdateRun {
            run_id: id.clone(),
            run_name: Some("renamed".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(info.run_name, "renamed");
    let info = c.end_run(&id, RunStatus::Finished).await.unwrap();
    assert_eq!(info.status, RunStatus::Finished);
    assert!(info.end_time.is_some());

    // Search: filter + order, and paging.
    for i in 0..5 {
        let r = c
            .create_run(CreateRun {
                experiment_id: exp.clone(),
                run_name: Some(format!("bulk-{i}")),
                ..Default::default()
            })
            .await
            .unwrap();
        c.log_metric(&r.info.run_id, "auc", 0.5 + i as f64 / 10.0, 0)
            .await
            .unwrap();
    }
    let top = c
        .search_runs(&SearchRuns {
            experiment_ids: vec![exp.clone()],
            filter: Some("metrics.auc > 0.75".into()),
            order_by: vec!["metrics.auc DESC".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    let aucs: Vec<f64> = top.runs.iter().map(|r| r.metric("auc").unwrap()).collect();
    assert_eq!(aucs, vec![0.93, 0.9, 0.8]);
    let page = c
        .search_runs(&SearchRuns {
            experiment_ids: vec![exp.clone()],
            max_results: Some(2),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.runs.len(), 2);
    assert!(page.next_page_token.is_some());
    let all = c
        .search_runs_all(SearchRuns {
            experiment_ids: vec![exp.clone()],
            max_results: Some(2),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 6);

    // Delete / restore.
    c.delete_run(&id).await.unwrap();
    assert_eq!(
        c.get_run(&id).await.unwrap().info.lifecycle_stage,
        LifecycleStage::Deleted
    );
    let active = c
        .search_runs_all(SearchRuns {
            experiment_ids: vec![exp.clone()],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(active.len(), 5);
    let deleted = c
        .search_runs_all(SearchRuns {
            experiment_ids: vec![exp.clone()],
            run_view_type: Some(ViewType::DeletedOnly),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(deleted.len(), 1);
    c.restore_run(&id).await.unwrap();
    assert_eq!(
        c.get_run(&id).await.unwrap().info.lifecycle_stage,
        LifecycleStage::Active
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn artifacts_upload_list_download() {
    let s = start().await;
    let c = &s.client;
    let local = tempfile::tempdir().unwrap();
    let run = c.run("artifacts").await.unwrap();
    let uri = run.info().artifact_uri.clone();

    // Root-level and nested uploads, one with characters that need encoding.
    let csv = local.path().join("feature_importance.csv");
    std::fs::write(&csv, "feature,importance\nage,0.4\n").unwrap();
    assert_eq!(
        run.log_artifact(&csv).await.unwrap(),
        "feature_importance.csv"
    );
    let odd = local.path().join("roc curve (é) & co+1.txt");
    std::fs::write(&odd, "roc").unwrap();
    assert_eq!(
        run.log_artifact_to(&odd, "plots/eval").await.unwrap(),
        "plots/eval/roc curve (é) & co+1.txt"
    );
    // Larger file (streamed both ways): 3 MiB of non-repeating-ish bytes.
    let big: Vec<u8> = (0..3 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let big_path = local.path().join("model.bin");
    std::fs::write(&big_path, &big).unwrap();
    assert_eq!(
        c.log_artifact(run.id(), &big_path, Some("model"))
            .await
            .unwrap(),
        "model/model.bin"
    );
    c.upload_artifact_bytes(&uri, "notes/readme.md", b"# hi".to_vec())
        .await
        .unwrap();

    // A directory, recursively.
    let tree = local.path().join("tree");
    std::fs::create_dir_all(tree.join("sub")).unwrap();
    std::fs::write(tree.join("a.txt"), "a").unwrap();
    std::fs::write(tree.join("sub/b.txt"), "b").unwrap();
    let mut uploaded = run.log_artifacts(&tree, Some("tree")).await.unwrap();
    uploaded.sort();
    assert_eq!(uploaded, vec!["tree/a.txt", "tree/sub/b.txt"]);

    // Listing through the proxy (root, then a directory).
    let root = c.list_artifacts(run.id(), None).await.unwrap();
    let mut names: Vec<(String, bool)> = root.iter().map(|f| (f.path.clone(), f.is_dir)).collect();
    names.sort();
    assert_eq!(
        names,
        vec![
            ("feature_importance.csv".into(), false),
            ("model".into(), true),
            ("notes".into(), true),
            ("plots".into(), true),
            ("tree".into(), true),
        ]
    );
    let csv_info = root
        .iter()
        .find(|f| f.path == "feature_importance.csv")
        .unwrap();
    assert_eq!(csv_info.file_size, Some(27));
    let eval = c
        .list_artifacts(run.id(), Some("plots/eval"))
        .await
        .unwrap();
    assert_eq!(eval.len(), 1);
    assert_eq!(eval[0].path, "plots/eval/roc curve (é) & co+1.txt");
    let raw = c.list_artifacts_at(&uri, Some("plots/eval")).await.unwrap();
    assert_eq!(raw[0].path, "roc curve (é) & co+1.txt");
    // The tracking API's listing.
    let listed = c
        .list_artifacts_tracking(run.id(), Some("model"))
        .await
        .unwrap();
    assert_eq!(listed.files.len(), 1);
    assert_eq!(listed.files[0].path, "model/model.bin");
    assert_eq!(listed.files[0].file_size, Some(big.len() as i64));

    // Downloads: into a directory, to an explicit path, into memory.
    let out = tempfile::tempdir().unwrap();
    let p = c
        .download_run_artifact(run.id(), "model/model.bin", out.path())
        .await
        .unwrap();
    assert_eq!(p, out.path().join("model.bin"));
    assert_eq!(std::fs::read(&p).unwrap(), big);
    let p = c
        .download_artifact(
            &uri,
            "plots/eval/roc curve (é) & co+1.txt",
            out.path().join("x/roc.txt"),
        )
        .await
        .unwrap();
    assert_eq!(std::fs::read_to_string(p).unwrap(), "roc");
    assert_eq!(
        &c.read_artifact(&uri, "notes/readme.md").await.unwrap()[..],
        b"# hi"
    );

    // Missing file: an API error, and no partial file left behind.
    let err = c
        .download_artifact(&uri, "nope.txt", out.path().join("nope.txt"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Api { status: 404, .. }), "{err:?}");
    assert!(!out.path().join("nope.txt").exists());
    assert!(!out.path().join("nope.txt.part").exists());

    // Path traversal is refused client-side.
    assert!(matches!(
        c.read_artifact(&uri, "../../../etc/passwd")
            .await
            .unwrap_err(),
        Error::InvalidInput(_)
    ));

    // Delete.
    c.delete_artifact(&uri, "notes/readme.md").await.unwrap();
    assert!(c.read_artifact(&uri, "notes/readme.md").await.is_err());

    run.finish().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logged_models() {
    let s = start().await;
    let c = &s.client;
    let exp = c.create_experiment("models").await.unwrap();
    let run = c.run("models").await.unwrap();

    let m = c
        .create_logged_model(CreateLoggedModel {
            experiment_id: exp.clone(),
            name: Some("clf".into()),
            model_type: Some("sklearn".into()),
            source_run_id: Some(run.id().to_string()),
            params: vec![Param::new("alpha", "0.1")],
            tags: vec![Tag::new("flavor", "sklearn")],
        })
        .await
        .unwrap();
    let id = m.info.model_id.clone();
    assert!(id.starts_with("m-"), "{id}");
    assert_eq!(m.info.status, LoggedModelStatus::Pending);
    assert!(m.info.artifact_uri.starts_with("mlflow-artifacts:"));

    // Model files go through the same proxy.
    c.upload_artifact_bytes(&m.info.artifact_uri, "MLmodel", b"flavors: {}".to_vec())
        .await
        .unwrap();
    let files = c
        .list_artifacts_at(&m.info.artifact_uri, None)
        .await
        .unwrap();
    assert_eq!(files.len(), 1);

    let done = c
        .finalize_logged_model(&id, LoggedModelStatus::Ready)
        .await
        .unwrap();
    assert_eq!(done.info.status, LoggedModelStatus::Ready);

    c.set_logged_model_tags(
        &id,
        vec![Tag::new("stage", "candidate"), Tag::new("a/b c", "x")],
    )
    .await
    .unwrap();
    c.delete_logged_model_tag(&id, "a/b c").await.unwrap();
    c.log_logged_model_params(&id, vec![Param::new("beta", "2")])
        .await
        .unwrap();
    let got = c.get_logged_model(&id).await.unwrap();
    assert_eq!(got.info.name, "clf");
    assert!(got
        .info
        .tags
        .iter()
        .any(|t| t.key == "stage" && t.value == "candidate"));
    assert!(!got.info.tags.iter().any(|t| t.key == "a/b c"));
    assert!(got.data.params.iter().any(|p| p.key == "beta"));
    assert!(got.data.params.iter().any(|p| p.key == "alpha"));

    for i in 0..3 {
        c.create_logged_model(CreateLoggedModel {
            experiment_id: exp.clone(),
            name: Some(format!("m{i}")),
            ..Default::default()
        })
        .await
        .unwrap();
    }
    let page = c
        .search_logged_models(&SearchLoggedModels {
            experiment_ids: vec![exp.clone()],
            max_results: Some(2),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.models.len(), 2);
    assert!(page.next_page_token.is_some());
    let all = c
        .search_logged_models_all(SearchLoggedModels {
            experiment_ids: vec![exp.clone()],
            max_results: Some(2),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 4);
    let named = c
        .search_logged_models_all(SearchLoggedModels {
            experiment_ids: vec![exp.clone()],
            filter: Some("name = 'clf'".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(named.len(), 1);

    c.delete_logged_model(&id).await.unwrap();
    let err = c.get_logged_model(&id).await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert!(c
        .get_logged_model("m-doesnotexist")
        .await
        .unwrap_err()
        .is_not_found());
    run.finish().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn convenience_run_handle() {
    let s = start().await;
    let c = &s.client;

    let run = c.run("quickstart").await.unwrap();
    let again = c.start_run("quickstart", Some("second")).await.unwrap();
    assert_eq!(run.experiment_id(), again.experiment_id());
    assert_eq!(again.name(), "second");
    assert!(!run.name().is_empty(), "the server names unnamed runs");

    for step in 0..5 {
        run.log_metric("loss", 1.0 / (step + 1) as f64, step)
            .await
            .unwrap();
    }
    run.log_metrics(&[("acc", 0.8), ("f1", 0.7)], 4)
        .await
        .unwrap();
    run.log_param("lr", 0.01).await.unwrap();
    run.log_params([("depth", 6), ("trees", 100)])
        .await
        .unwrap();
    run.set_tag("team", "growth").await.unwrap();
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), "hello").unwrap();
    let name = run.log_artifact(f.path()).await.unwrap();

    let id = run.id().to_string();
    let info = run.end(RunStatus::Failed).await.unwrap();
    assert_eq!(info.status, RunStatus::Failed);
    assert!(info.end_time.is_some());
    again.finish().await.unwrap();

    let got = c.get_run(&id).await.unwrap();
    assert_eq!(got.metric("loss"), Some(0.2));
    assert_eq!(got.metric("acc"), Some(0.8));
    assert_eq!(got.param("lr"), Some("0.01"));
    assert_eq!(got.param("trees"), Some("100"));
    assert_eq!(got.tag("team"), Some("growth"));
    assert_eq!(got.tag("mlflow.source.type"), Some("LOCAL"));
    let files = c.list_artifacts(&id, None).await.unwrap();
    assert_eq!(
        files.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(),
        vec![name.as_str()]
    );
}

#[tokio::test]
async fn transport_and_input_errors() {
    // A port nothing listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let c = SlipwayClient::new(format!("http://127.0.0.1:{port}")).unwrap();
    let err = c
        .search_experiments(&SearchExperiments::default())
        .await
        .unwrap_err();
    assert!(err.is_unreachable(), "{err:?}");
    assert!(matches!(err, Error::Transport { .. }));
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );

    assert!(matches!(
        SlipwayClient::new("localhost:5000").unwrap_err(),
        Error::InvalidInput(_)
    ));
    let c = SlipwayClient::new("http://127.0.0.1:1").unwrap();
    assert!(matches!(
        c.artifact_url("s3://bucket/x", "a").unwrap_err(),
        Error::InvalidInput(_)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_endpoint_maps_to_endpoint_not_found() {
    let s = start().await;
    let err = s
        .client
        .get_json::<serde_json::Value>("/api/2.0/mlflow/nope", &[])
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::EndpointNotFound), "{err:?}");
}
