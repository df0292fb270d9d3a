use super::*;
use std::sync::Arc;

fn store(dir: &tempfile::TempDir) -> SqliteStore {
    SqliteStore::open(&dir.path().join("t.db"), "mlflow-artifacts:").unwrap()
}

fn metric(key: &str, value: f64, ts: i64, step: i64) -> Metric {
    Metric {
        key: key.into(),
        value,
        timestamp: ts,
        step,
        ..Default::default()
    }
}

async fn new_run(s: &SqliteStore, exp: &str) -> Run {
    s.create_run(NewRun {
        run_id: slipway_core::ids::new_run_id(),
        experiment_id: exp.into(),
        user_id: "u".into(),
        run_name: "r".into(),
        start_time: 1,
        tags: vec![Tag::new("mlflow.runName", "r")],
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn default_experiment_exists() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    let e = s.get_experiment("0").await.unwrap();
    assert_eq!(e.name, "Default");
    assert_eq!(e.artifact_location, "mlflow-artifacts:/0");
}

#[tokio::test]
async fn experiments_crud() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    let id = s
        .create_experiment(NewExperiment {
            name: "a".into(),
            tags: vec![Tag::new("team", "x")],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(id, "1");
    let dup = s
        .create_experiment(NewExperiment {
            name: "a".into(),
            ..Default::default()
        })
        .await;
    assert_eq!(dup.unwrap_err().code, ErrorCode::ResourceAlreadyExists);
    let e = s.get_experiment_by_name("a").await.unwrap().unwrap();
    assert_eq!(e.tags, vec![Tag::new("team", "x")]);
    assert!(s.get_experiment_by_name("nope").await.unwrap().is_none());
    assert_eq!(
        s.get_experiment("99").await.unwrap_err().code,
        ErrorCode::ResourceDoesNotExist
    );
    assert_eq!(
        s.get_experiment("abc").await.unwrap_err().code,
        ErrorCode::ResourceDoesNotExist
    );
    s.rename_experiment(&id, "b", 5).await.unwrap();
    assert_eq!(s.get_experiment(&id).await.unwrap().name, "b");
    s.delete_experiment(&id, 6).await.unwrap();
    assert_eq!(
        s.list_experiments(ViewType::ActiveOnly)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        s.list_experiments(ViewType::DeletedOnly)
            .await
            .unwrap()
            .len(),
        1
    );
    s.restore_experiment(&id, 7).await.unwrap();
    assert_eq!(
        s.list_experiments(ViewType::ActiveOnly)
            .await
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn latest_metric_follows_mlflow_rule() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    let run = new_run(&s, "0").await;
    let id = run.info.run_id.clone();
    s.log_batch(
        &id,
        vec![
            metric("m", 1.0, 10, 5),
            metric("m", 9.0, 20, 1),
            metric("m", 3.0, 5, 5),
        ],
        vec![],
        vec![],
    )
    .await
    .unwrap();
    let run = s.get_run(&id).await.unwrap();
    // step 5 beats step 1; among step 5, timestamp 10 beats 5.
    assert_eq!(run.data.metrics.len(), 1);
    assert_eq!(run.data.metrics[0].value, 1.0);
    let hist = s.get_metric_history(&id, "m").await.unwrap();
    assert_eq!(
        hist.iter().map(|m| m.value).collect::<Vec<_>>(),
        vec![3.0, 1.0, 9.0]
    );
}

#[tokio::test]
async fn nan_and_infinities_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    let id = new_run(&s, "0").await.info.run_id;
    s.log_batch(
        &id,
        vec![
            metric("a", f64::NAN, 1, 0),
            metric("b", f64::INFINITY, 1, 0),
            metric("c", f64::NEG_INFINITY, 1, 0),
        ],
        vec![],
        vec![],
    )
    .await
    .unwrap();
    let run = s.get_run(&id).await.unwrap();
    assert!(run.metric("a").unwrap().is_nan());
    assert_eq!(run.metric("b"), Some(f64::INFINITY));
    assert_eq!(run.metric("c"), Some(f64::NEG_INFINITY));
    assert!(s.get_metric_history(&id, "a").await.unwrap()[0]
        .value
        .is_nan());
}

#[tokio::test]
async fn param_change_is_refused_and_batch_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    let id = new_run(&s, "0").await.info.run_id;
    s.log_batch(&id, vec![], vec![Param::new("p", "1")], vec![])
        .await
        .unwrap();
    s.log_batch(&id, vec![], vec![Param::new("p", "1")], vec![])
        .await
        .unwrap();
    let err = s
        .log_batch(
            &id,
            vec![metric("m", 1.0, 1, 0)],
            vec![Param::new("p", "2")],
            vec![Tag::new("t", "v")],
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidParameterValue);
    assert!(err.message.contains("Changing param values is not allowed"));
    let run = s.get_run(&id).await.unwrap();
    assert!(
        run.data.metrics.is_empty(),
        "a failed batch must write nothing"
    );
    assert!(run.tag("t").is_none());
}

#[tokio::test]
async fn deleted_runs_refuse_writes_and_restore() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    let id = new_run(&s, "0").await.info.run_id;
    s.delete_run(&id, 3).await.unwrap();
    let err = s
        .log_batch(&id, vec![metric("m", 1.0, 1, 0)], vec![], vec![])
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidParameterValue);
    assert_eq!(
        s.runs_for_search(&["0".into()], ViewType::ActiveOnly)
            .await
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        s.runs_for_search(&["0".into()], ViewType::DeletedOnly)
            .await
            .unwrap()
            .len(),
        1
    );
    s.restore_run(&id).await.unwrap();
    s.log_batch(&id, vec![metric("m", 1.0, 1, 0)], vec![], vec![])
        .await
        .unwrap();
    assert_eq!(
        s.get_run("nope").await.unwrap_err().code,
        ErrorCode::ResourceDoesNotExist
    );
}

#[tokio::test]
async fn run_name_tag_and_attribute_stay_in_sync() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    let id = new_run(&s, "0").await.info.run_id;
    s.update_run(
        &id,
        RunUpdate {
            run_name: Some("renamed".into()),
            status: Some(RunStatus::Finished),
            end_time: Some(9),
        },
    )
    .await
    .unwrap();
    let run = s.get_run(&id).await.unwrap();
    assert_eq!(run.info.run_name, "renamed");
    assert_eq!(run.tag("mlflow.runName"), Some("renamed"));
    assert_eq!(run.info.status, RunStatus::Finished);
    assert_eq!(run.info.end_time, Some(9));
    assert_eq!(
        run.info.artifact_uri,
        format!("mlflow-artifacts:/0/{id}/artifacts")
    );
}

#[tokio::test]
async fn inputs_and_search_loading() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    let id = new_run(&s, "0").await.info.run_id;
    let input = DatasetInput {
        tags: vec![Tag::new("mlflow.data.context", "training")],
        dataset: Dataset {
            name: "d".into(),
            digest: "abc".into(),
            source_type: "local".into(),
            source: "{}".into(),
            schema: Some("{}".into()),
            profile: None,
        },
    };
    s.log_inputs(&id, vec![input.clone()], vec![])
        .await
        .unwrap();
    s.log_inputs(&id, vec![input.clone()], vec![])
        .await
        .unwrap();
    s.log_batch(
        &id,
        vec![metric("m", 2.0, 1, 0)],
        vec![Param::new("p", "x")],
        vec![Tag::new("t", "y")],
    )
    .await
    .unwrap();
    let run = s.get_run(&id).await.unwrap();
    assert_eq!(run.inputs.dataset_inputs, vec![input.clone()]);
    let runs = s
        .runs_for_search(&["0".into()], ViewType::All)
        .await
        .unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].inputs.dataset_inputs, vec![input]);
    assert_eq!(runs[0].param("p"), Some("x"));
    assert_eq!(runs[0].metric("m"), Some(2.0));
    assert_eq!(runs[0].tag("t"), Some("y"));
}

#[tokio::test]
async fn logged_models_lifecycle() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    let run_id = new_run(&s, "0").await.info.run_id;
    let m = s
        .create_logged_model(NewLoggedModel {
            model_id: "m-1".into(),
            experiment_id: "0".into(),
            name: "model".into(),
            source_run_id: Some(run_id.clone()),
            params: vec![Param::new("a", "1")],
            creation_time: 5,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(m.info.status, LoggedModelStatus::Pending);
    assert_eq!(
        m.info.artifact_uri,
        "mlflow-artifacts:/0/models/m-1/artifacts"
    );
    let m = s
        .finalize_logged_model("m-1", LoggedModelStatus::Ready, 6)
        .await
        .unwrap();
    assert_eq!(m.info.status, LoggedModelStatus::Ready);
    s.set_logged_model_tags("m-1", vec![Tag::new("k", "v")], 7)
        .await
        .unwrap();
    let mut metric_with_model = metric("acc", 0.9, 1, 0);
    metric_with_model.model_id = Some("m-1".into());
    s.log_batch(&run_id, vec![metric_with_model], vec![], vec![])
        .await
        .unwrap();
    s.log_outputs(
        &run_id,
        vec![ModelOutput {
            model_id: "m-1".into(),
            step: 0,
        }],
    )
    .await
    .unwrap();
    let m = s.get_logged_model("m-1").await.unwrap();
    assert_eq!(m.info.tags, vec![Tag::new("k", "v")]);
    assert_eq!(m.data.metrics.len(), 1);
    assert_eq!(
        s.get_run(&run_id)
            .await
            .unwrap()
            .outputs
            .model_outputs
            .len(),
        1
    );
    assert_eq!(
        s.logged_models_for_search(&["0".into()])
            .await
            .unwrap()
            .len(),
        1
    );
    s.delete_logged_model("m-1", 8).await.unwrap();
    assert_eq!(
        s.get_logged_model("m-1").await.unwrap_err().code,
        ErrorCode::ResourceDoesNotExist
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_all_land_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let s = Arc::new(SqliteStore::open(&path, "mlflow-artifacts:").unwrap());
    let mut ids = Vec::new();
    for _ in 0..8 {
        ids.push(new_run(&s, "0").await.info.run_id);
    }
    let mut tasks = Vec::new();
    for id in ids.clone() {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            for step in 0..200 {
                s.log_batch(
                    &id,
                    vec![metric("loss", step as f64, step, step)],
                    vec![],
                    vec![],
                )
                .await
                .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    drop(s);
    let s = SqliteStore::open(&path, "mlflow-artifacts:").unwrap();
    for id in ids {
        let hist = s.get_metric_history(&id, "loss").await.unwrap();
        assert_eq!(hist.len(), 200);
        assert!(hist.iter().enumerate().all(|(i, m)| m.step == i as i64));
    }
}

#[tokio::test]
async fn search_snapshots_never_hide_a_write() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    let id = new_run(&s, "0").await.info.run_id;
    let first = s
        .runs_for_search(&["0".into()], ViewType::ActiveOnly)
        .await
        .unwrap();
    let again = s
        .runs_for_search(&["0".into()], ViewType::ActiveOnly)
        .await
        .unwrap();
    assert!(
        Arc::ptr_eq(&first, &again),
        "an unchanged store should reuse its snapshot"
    );
    s.log_batch(&id, vec![metric("m", 5.0, 1, 0)], vec![], vec![])
        .await
        .unwrap();
    let after = s
        .runs_for_search(&["0".into()], ViewType::ActiveOnly)
        .await
        .unwrap();
    assert_eq!(after[0].metric("m"), Some(5.0));
    // A failed write changes nothing and may keep the snapshot; a new run must appear.
    new_run(&s, "0").await;
    assert_eq!(
        s.runs_for_search(&["0".into()], ViewType::ActiveOnly)
            .await
            .unwrap()
            .len(),
        2
    );
}

/// `slipway train` on the embedded store writes from another process while
/// `slipway server` runs: the server's search snapshots must see it.
#[tokio::test]
async fn search_snapshots_see_other_processes_writes() {
    let dir = tempfile::tempdir().unwrap();
    let server = store(&dir);
    let other = store(&dir);
    new_run(&server, "0").await;
    async fn search(s: &SqliteStore) -> usize {
        let exp = ["0".to_string()];
        s.runs_for_search(&exp, ViewType::ActiveOnly)
            .await
            .unwrap()
            .len()
    }
    assert_eq!(search(&server).await, 1);
    assert_eq!(search(&server).await, 1);
    new_run(&other, "0").await;
    assert_eq!(search(&server).await, 2, "a write by another connection");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_tag_updates_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = Arc::new(store(&dir));
    let id = new_run(&s, "0").await.info.run_id;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let (s, id) = (s.clone(), id.clone());
        tasks.push(tokio::spawn(async move {
            let append = move |cur: Option<&str>| -> slipway_core::Result<String> {
                Ok(match cur {
                    Some(c) => format!("{c},{i}"),
                    None => i.to_string(),
                })
            };
            s.update_run_tag(&id, "history", Box::new(append))
                .await
                .unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let run = s.get_run(&id).await.unwrap();
    let mut got: Vec<u32> = run
        .tag("history")
        .unwrap()
        .split(',')
        .map(|x| x.parse().unwrap())
        .collect();
    got.sort_unstable();
    assert_eq!(got, (0..20).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_created_run_reads_back_as_returned() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    let created = s
        .create_run(NewRun {
            run_id: slipway_core::ids::new_run_id(),
            experiment_id: "0".into(),
            user_id: "u".into(),
            run_name: "r".into(),
            start_time: 7,
            tags: vec![
                Tag::new("z", "1"),
                Tag::new("mlflow.runName", "named"),
                Tag::new("a", "old"),
                Tag::new("a", "new"),
            ],
        })
        .await
        .unwrap();
    let read = s.get_run(&created.info.run_id).await.unwrap();
    assert_eq!(created, read);
    assert_eq!(read.info.run_name, "named");
    assert_eq!(read.tag("a"), Some("new"));
}
