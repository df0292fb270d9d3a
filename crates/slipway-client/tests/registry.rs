//! The model registry methods against a real `slipway server` running in-process.

use slipway_client::*;
use slipway_server::ServerConfig;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
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
    let client = SlipwayClient::new(format!("http://{addr}"))
        .unwrap()
        .with_user("ana");
    client.health().await.unwrap();
    TestServer {
        client,
        _home: home,
    }
}

/// A finished run with a param, a metric and a training dataset.
async fn trained_run(c: &SlipwayClient, experiment: &str) -> String {
    let run = c.run(experiment).await.unwrap();
    run.log_param("depth", 6).await.unwrap();
    run.log_metric("auc", 0.91, 0).await.unwrap();
    c.log_inputs(
        run.id(),
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
    let id = run.id().to_string();
    run.finish().await.unwrap();
    id
}

fn api_error(err: &Error) -> (u16, String) {
    match err {
        Error::Api { status, code, .. } => (*status, code.as_str().to_string()),
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registered_models_crud_search_and_errors() {
    let s = start().await;
    let c = &s.client;

    let m = c
        .create_registered_model_with(CreateRegisteredModel {
            name: "churn".into(),
            tags: vec![Tag::new("team", "growth")],
            description: Some("predicts churn".into()),
        })
        .await
        .unwrap();
    assert_eq!(m.name, "churn");
    assert_eq!(m.user_id.as_deref(), Some("ana"));
    assert!(m.creation_timestamp.is_some());

    // Duplicate: RESOURCE_ALREADY_EXISTS.
    let err = c.create_registered_model("churn").await.unwrap_err();
    assert!(err.is_already_exists(), "{err:?}");
    assert_eq!(err.code(), Some(ErrorCode::ResourceAlreadyExists));
    assert_eq!(api_error(&err).1, "RESOURCE_ALREADY_EXISTS");
    assert!(err.to_string().contains("churn"), "{err}");

    // Get, and unknown names.
    let got = c.get_registered_model("churn").await.unwrap();
    assert_eq!(got.description.as_deref(), Some("predicts churn"));
    assert!(got
        .tags
        .iter()
        .any(|t| t.key == "team" && t.value == "growth"));
    let err = c.get_registered_model("nope").await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert_eq!(api_error(&err), (404, "RESOURCE_DOES_NOT_EXIST".into()));

    // Update (PATCH), tags (set + DELETE with a JSON body).
    let updated = c
        .update_registered_model("churn", "v2 description")
        .await
        .unwrap();
    assert_eq!(updated.description.as_deref(), Some("v2 description"));
    c.set_registered_model_tag("churn", "owner", "ana")
        .await
        .unwrap();
    c.delete_registered_model_tag("churn", "team")
        .await
        .unwrap();
    let got = c.get_registered_model("churn").await.unwrap();
    let tags: Vec<(&str, &str)> = got
        .tags
        .iter()
        .map(|t| (t.key.as_str(), t.value.as_str()))
        .collect();
    assert_eq!(tags, vec![("owner", "ana")]);
    assert!(c
        .set_registered_model_tag("nope", "k", "v")
        .await
        .unwrap_err()
        .is_not_found());

    // Rename.
    let renamed = c
        .rename_registered_model("churn", "churn-clf")
        .await
        .unwrap();
    assert_eq!(renamed.name, "churn-clf");
    assert!(c
        .get_registered_model("churn")
        .await
        .unwrap_err()
        .is_not_found());

    // Search: filter, order, pages.
    for name in ["fraud", "churn-eu", "churn-us", "ltv", "name with 'quote'"] {
        c.create_registered_model(name).await.unwrap();
    }
    let churn = c
        .search_registered_models_all(SearchRegistry {
            filter: Some("name LIKE 'churn%'".into()),
            order_by: vec!["name DESC".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        churn.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(),
        vec!["churn-us", "churn-eu", "churn-clf"]
    );
    let page = c
        .search_registered_models(&SearchRegistry {
            max_results: Some(2),
            order_by: vec!["name ASC".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.registered_models.len(), 2);
    assert!(page.next_page_token.is_some());
    let all = c
        .search_registered_models_all(SearchRegistry {
            max_results: Some(2),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 6);
    let quoted = c
        .search_registered_models_all(SearchRegistry {
            filter: Some("name = \"name with 'quote'\"".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(quoted.len(), 1);
    let err = c
        .search_registered_models(&SearchRegistry {
            filter: Some("nonsense ~ 1".into()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Some(ErrorCode::InvalidParameterValue),
        "{err:?}"
    );

    // Delete (DELETE with a JSON body).
    c.delete_registered_model("fraud").await.unwrap();
    assert!(c
        .get_registered_model("fraud")
        .await
        .unwrap_err()
        .is_not_found());
    assert!(c
        .delete_registered_model("fraud")
        .await
        .unwrap_err()
        .is_not_found());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_versions_stages_tags_and_errors() {
    let s = start().await;
    let c = &s.client;
    let run_id = trained_run(c, "churn").await;
    c.create_registered_model("churn").await.unwrap();

    let source = format!("runs:/{run_id}/model");
    let mut versions = Vec::new();
    for _ in 0..3 {
        versions.push(
            c.create_model_version("churn", &source, Some(&run_id))
                .await
                .unwrap(),
        );
    }
    assert_eq!(
        versions
            .iter()
            .map(|v| v.version.as_str())
            .collect::<Vec<_>>(),
        vec!["1", "2", "3"]
    );
    let v1 = &versions[0];
    assert_eq!(v1.source, source);
    assert_eq!(v1.run_id.as_deref(), Some(run_id.as_str()));
    assert_eq!(v1.current_stage, "None");
    assert_eq!(v1.user_id.as_deref(), Some("ana"));

    // Versions with every field.
    let v4 = c
        .create_model_version_with(CreateModelVersion {
            name: "churn".into(),
            source: source.clone(),
            run_id: Some(run_id.clone()),
            tags: vec![Tag::new("validated", "no")],
            description: Some("with tags".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(v4.version, "4");
    assert_eq!(v4.description.as_deref(), Some("with tags"));

    // Unknown model / version / run: RESOURCE_DOES_NOT_EXIST.
    let err = c.get_model_version("churn", "99").await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert_eq!(api_error(&err), (404, "RESOURCE_DOES_NOT_EXIST".into()));
    assert!(c
        .get_model_version("nope", "1")
        .await
        .unwrap_err()
        .is_not_found());
    // A store-internal source needs the run that holds it (MLflow's rule).
    let err = c
        .create_model_version(
            "churn",
            "runs:/0123456789abcdef0123456789abcdef/model",
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Some(ErrorCode::InvalidParameterValue),
        "{err:?}"
    );
    let err = c
        .create_model_version("churn", &source, Some("0123456789abcdef0123456789abcdef"))
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    // A version that is not a number, and a refused source.
    let err = c.get_model_version("churn", "one").await.unwrap_err();
    assert_eq!(
        err.code(),
        Some(ErrorCode::InvalidParameterValue),
        "{err:?}"
    );
    let err = c
        .create_model_version("churn", "file:///etc", None)
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Some(ErrorCode::InvalidParameterValue),
        "{err:?}"
    );

    // Get / update / tags.
    let got = c.get_model_version("churn", "2").await.unwrap();
    assert_eq!(got.version, "2");
    let upd = c
        .update_model_version("churn", "2", "second try")
        .await
        .unwrap();
    assert_eq!(upd.description.as_deref(), Some("second try"));
    c.set_model_version_tag("churn", "2", "validated", "yes")
        .await
        .unwrap();
    c.set_model_version_tag("churn", "2", "tmp", "x")
        .await
        .unwrap();
    c.delete_model_version_tag("churn", "2", "tmp")
        .await
        .unwrap();
    let got = c.get_model_version("churn", "2").await.unwrap();
    let tags: Vec<(&str, &str)> = got
        .tags
        .iter()
        .map(|t| (t.key.as_str(), t.value.as_str()))
        .collect();
    assert_eq!(tags, vec![("validated", "yes")]);
    assert!(c
        .set_model_version_tag("churn", "99", "k", "v")
        .await
        .unwrap_err()
        .is_not_found());

    // Stages: case-insensitive, archive_existing_versions, reasons.
    let mv = c
        .transition_model_version_stage("churn", "1", "production", false, None)
        .await
        .unwrap();
    assert_eq!(mv.current_stage, "Production");
    c.transition_model_version_stage("churn", "2", "Staging", false, None)
        .await
        .unwrap();
    let mv = c
        .transition_model_version_stage("churn", "2", "Production", true, Some("better AUC"))
        .await
        .unwrap();
    assert_eq!(mv.current_stage, "Production");
    assert_eq!(
        c.get_model_version("churn", "1")
            .await
            .unwrap()
            .current_stage,
        "Archived"
    );
    // A bad stage: INVALID_PARAMETER_VALUE.
    let err = c
        .transition_model_version_stage("churn", "3", "Prod", false, None)
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Some(ErrorCode::InvalidParameterValue),
        "{err:?}"
    );
    assert_eq!(api_error(&err), (400, "INVALID_PARAMETER_VALUE".into()));
    assert!(err.to_string().contains("Prod"), "{err}");
    assert!(c
        .transition_model_version_stage("churn", "99", "Staging", false, None)
        .await
        .unwrap_err()
        .is_not_found());

    // Latest versions per stage.
    let latest = c.get_latest_versions("churn", &[]).await.unwrap();
    let mut pairs: Vec<(String, String)> = latest
        .iter()
        .map(|v| (v.current_stage.clone(), v.version.clone()))
        .collect();
    pairs.sort();
    assert_eq!(
        pairs,
        vec![
            ("Archived".into(), "1".into()),
            ("None".into(), "4".into()),
            ("Production".into(), "2".into()),
        ]
    );
    let prod = c
        .get_latest_versions("churn", &["Production"])
        .await
        .unwrap();
    assert_eq!(prod.len(), 1);
    assert_eq!(prod[0].version, "2");
    let err = c.get_latest_versions("churn", &["Prod"]).await.unwrap_err();
    assert_eq!(
        err.code(),
        Some(ErrorCode::InvalidParameterValue),
        "{err:?}"
    );
    assert!(c
        .get_latest_versions("nope", &[])
        .await
        .unwrap_err()
        .is_not_found());

    // Search: by name, by run, pages.
    let all = c
        .search_model_versions_all(SearchRegistry {
            filter: Some("name = 'churn'".into()),
            max_results: Some(2),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 4);
    let page = c
        .search_model_versions(&SearchRegistry {
            filter: Some(format!("run_id = '{run_id}'")),
            max_results: Some(3),
            order_by: vec!["version_number ASC".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        page.model_versions
            .iter()
            .map(|v| v.version.as_str())
            .collect::<Vec<_>>(),
        vec!["1", "2", "3"]
    );
    assert!(page.next_page_token.is_some());

    // Download URI: the run's artifact location under the path.
    let uri = c
        .get_model_version_download_uri("churn", "1")
        .await
        .unwrap();
    let run = c.get_run(&run_id).await.unwrap();
    assert_eq!(uri, format!("{}/model", run.info.artifact_uri));

    // Delete a version.
    c.delete_model_version("churn", "3").await.unwrap();
    assert!(c
        .get_model_version("churn", "3")
        .await
        .unwrap_err()
        .is_not_found());
    assert!(c
        .delete_model_version("churn", "3")
        .await
        .unwrap_err()
        .is_not_found());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aliases_events_and_users() {
    let s = start().await;
    let c = &s.client;
    let run_id = trained_run(c, "churn").await;
    c.create_registered_model("churn").await.unwrap();
    let source = format!("runs:/{run_id}/model");
    for _ in 0..2 {
        c.create_model_version("churn", &source, Some(&run_id))
            .await
            .unwrap();
    }

    // Aliases: set, move, get, delete.
    c.set_registered_model_alias("churn", "champion", "1")
        .await
        .unwrap();
    assert_eq!(
        c.get_model_version_by_alias("churn", "champion")
            .await
            .unwrap()
            .version,
        "1"
    );
    let bob = c.clone().with_user("bob");
    assert_eq!(bob.user(), Some("bob"));
    bob.set_registered_model_alias("churn", "champion", "2")
        .await
        .unwrap();
    let mv = c
        .get_model_version_by_alias("churn", "champion")
        .await
        .unwrap();
    assert_eq!(mv.version, "2");
    assert_eq!(mv.aliases, vec!["champion".to_string()]);
    let model = c.get_registered_model("churn").await.unwrap();
    assert_eq!(
        model.aliases,
        vec![RegisteredModelAlias {
            alias: "champion".into(),
            version: "2".into()
        }]
    );
    // Errors: reserved alias, unknown version, unknown alias.
    let err = c
        .set_registered_model_alias("churn", "latest", "1")
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Some(ErrorCode::InvalidParameterValue),
        "{err:?}"
    );
    assert!(c
        .set_registered_model_alias("churn", "x", "99")
        .await
        .unwrap_err()
        .is_not_found());
    // An unknown alias is INVALID_PARAMETER_VALUE, as in MLflow.
    let err = c
        .get_model_version_by_alias("churn", "nope")
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Some(ErrorCode::InvalidParameterValue),
        "{err:?}"
    );
    c.delete_registered_model_alias("churn", "champion")
        .await
        .unwrap();
    assert!(c
        .get_model_version_by_alias("churn", "champion")
        .await
        .is_err());

    // A change with no user header.
    let anonymous = c.clone().without_user();
    assert_eq!(anonymous.user(), None);
    anonymous
        .transition_model_version_stage("churn", "1", "Staging", false, Some("smoke test"))
        .await
        .unwrap();

    // The event log: who did what, in order, with reasons.
    let events = c.registry_events_all(Some("churn")).await.unwrap();
    type Row<'a> = (
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
    );
    let summary: Vec<Row> = events
        .iter()
        .map(|e| {
            (
                e.kind.as_str(),
                e.version.as_deref(),
                e.from.as_deref(),
                e.to.as_deref(),
                e.user.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("registered_model_created", None, None, None, Some("ana")),
            (
                "model_version_created",
                Some("1"),
                None,
                Some("None"),
                Some("ana")
            ),
            (
                "model_version_created",
                Some("2"),
                None,
                Some("None"),
                Some("ana")
            ),
            ("alias_set", Some("1"), None, Some("1"), Some("ana")),
            ("alias_set", Some("2"), Some("1"), Some("2"), Some("bob")),
            ("alias_deleted", Some("2"), Some("2"), None, Some("ana")),
            (
                "stage_transitioned",
                Some("1"),
                Some("None"),
                Some("Staging"),
                None
            ),
        ],
        "{events:#?}"
    );
    assert_eq!(events[3].alias.as_deref(), Some("champion"));
    assert_eq!(events[6].reason.as_deref(), Some("smoke test"));
    assert!(events.windows(2).all(|w| w[0].id < w[1].id));

    // Paging by id; other models' events are filtered out.
    c.create_registered_model("other").await.unwrap();
    let first = c.registry_events(Some("churn"), 0, Some(2)).await.unwrap();
    assert_eq!(first.len(), 2);
    let rest = c
        .registry_events(Some("churn"), first[1].id, None)
        .await
        .unwrap();
    assert_eq!(rest.len(), 5);
    let everything = c.registry_events_all(None).await.unwrap();
    assert_eq!(everything.len(), 8);
    assert_eq!(everything[7].name, "other");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_events_long_poll() {
    let s = start().await;
    // A client whose own call limit is shorter than the wait: the long poll
    // must get the wait plus a margin instead.
    let c = SlipwayClient::builder(s.client.base_url())
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    c.create_registered_model("churn").await.unwrap();
    let first = c
        .wait_registry_events(Some("churn"), 0, None, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    let after = first[0].id;

    let started = Instant::now();
    let none = c
        .wait_registry_events(Some("churn"), after, None, Duration::from_millis(1200))
        .await
        .unwrap();
    assert!(none.is_empty(), "{none:?}");
    assert!(started.elapsed() >= Duration::from_millis(1200));

    let waiting = {
        let c = c.clone();
        tokio::spawn(async move {
            c.wait_registry_events(Some("churn"), after, None, Duration::from_secs(30))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(!waiting.is_finished());
    c.set_registered_model_tag("churn", "k", "v").await.unwrap();
    c.delete_registered_model("churn").await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the long poll never answered")
        .unwrap()
        .unwrap();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].kind, "registered_model_deleted");
    assert!(got.iter().all(|e| e.id > after), "{got:?}");
}

#[tokio::test]
async fn registry_events_long_poll_against_a_server_without_the_feed() {
    let router = axum::Router::new().route("/health", axum::routing::get(|| async { "OK" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let c = SlipwayClient::new(format!("http://{addr}")).unwrap();
    let e = c
        .wait_registry_events(None, 0, None, Duration::from_secs(5))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::EndpointNotFound), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lineage_and_uri_resolution() {
    let s = start().await;
    let c = &s.client;
    let run_id = trained_run(c, "churn").await;
    let run = c.get_run(&run_id).await.unwrap();
    let exp = run.info.experiment_id.clone();

    // An MLflow 3 logged model, output of the run.
    let logged = c
        .create_logged_model(CreateLoggedModel {
            experiment_id: exp.clone(),
            name: Some("clf".into()),
            source_run_id: Some(run_id.clone()),
            model_type: Some("sklearn".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let model_id = logged.info.model_id.clone();
    c.log_outputs(
        &run_id,
        vec![ModelOutput {
            model_id: model_id.clone(),
            step: 0,
        }],
    )
    .await
    .unwrap();

    c.create_registered_model("churn").await.unwrap();
    // v1: MLflow 2 style; v2: MLflow 3 style (models:/m-…, the run found through the model).
    c.create_model_version("churn", &format!("runs:/{run_id}/model"), Some(&run_id))
        .await
        .unwrap();
    let v2 = c
        .create_model_version_with(CreateModelVersion {
            name: "churn".into(),
            source: format!("models:/{model_id}"),
            model_id: Some(model_id.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(v2.model_id.as_deref(), Some(model_id.as_str()));
    assert_eq!(v2.run_id.as_deref(), Some(run_id.as_str()));
    c.set_registered_model_alias("churn", "champion", "2")
        .await
        .unwrap();
    c.transition_model_version_stage("churn", "1", "Production", false, None)
        .await
        .unwrap();

    // Lineage: version → run → logged model → datasets.
    let l = c.model_version_lineage("churn", "2").await.unwrap();
    assert_eq!(l.model_version.version, "2");
    let lrun = l.run.as_ref().expect("run");
    assert_eq!(lrun.info.run_id, run_id);
    assert_eq!(lrun.param("depth"), Some("6"));
    assert_eq!(lrun.metric("auc"), Some(0.91));
    let lm = l.logged_model.as_ref().expect("logged model");
    assert_eq!(lm.info.model_id, model_id);
    assert_eq!(l.datasets.len(), 1);
    assert_eq!(l.datasets[0].dataset.name, "churn-train");
    assert_eq!(l.datasets[0].dataset.digest, "abc123");
    let l1 = c.model_version_lineage("churn", "1").await.unwrap();
    assert!(l1.logged_model.is_none());
    assert_eq!(l1.run.unwrap().info.run_id, run_id);
    assert!(c
        .model_version_lineage("churn", "9")
        .await
        .unwrap_err()
        .is_not_found());

    // Resolution of every URI form.
    let r = c.resolve_model_uri("models:/churn/1").await.unwrap();
    assert_eq!(r.name.as_deref(), Some("churn"));
    assert_eq!(r.version.as_deref(), Some("1"));
    assert_eq!(r.run_id.as_deref(), Some(run_id.as_str()));
    assert_eq!(r.model_id, None);
    assert_eq!(r.artifact_uri, format!("{}/model", run.info.artifact_uri));
    let r = c.resolve_model_uri("models:/churn@champion").await.unwrap();
    assert_eq!(r.version.as_deref(), Some("2"));
    assert_eq!(r.model_id.as_deref(), Some(model_id.as_str()));
    assert_eq!(r.artifact_uri, logged.info.artifact_uri);
    assert_eq!(r.uri, "models:/churn@champion");
    let r = c
        .resolve_model_uri("models:/churn/Production")
        .await
        .unwrap();
    assert_eq!(r.version.as_deref(), Some("1"));
    let r = c.resolve_model_uri("models:/churn/latest").await.unwrap();
    assert_eq!(r.version.as_deref(), Some("2"));
    let r = c
        .resolve_model_uri(&format!("models:/{model_id}"))
        .await
        .unwrap();
    assert_eq!(r.name, None);
    assert_eq!(r.run_id.as_deref(), Some(run_id.as_str()));
    // runs:/ with the logged model's name finds the logged model (MLflow 3).
    let r = c
        .resolve_model_uri(&format!("runs:/{run_id}/clf"))
        .await
        .unwrap();
    assert_eq!(r.model_id.as_deref(), Some(model_id.as_str()));
    let r = c
        .resolve_model_uri(&format!("runs:/{run_id}/model"))
        .await
        .unwrap();
    assert_eq!(r.model_id, None);
    assert_eq!(r.artifact_uri, format!("{}/model", run.info.artifact_uri));

    // MLflow's standard API alone (the fallback for a plain `mlflow server`)
    // gives the same answers as Slipway's resolver, field for field.
    for uri in [
        "models:/churn/1".to_string(),
        "models:/churn/2".to_string(),
        "models:/churn@champion".to_string(),
        "models:/churn@latest".to_string(),
        "models:/churn/Production".to_string(),
        "models:/churn/latest".to_string(),
        format!("models:/{model_id}"),
        format!("runs:/{run_id}/clf"),
        format!("runs:/{run_id}/model"),
    ] {
        let slipway = c.resolve_model_uri(&uri).await.unwrap();
        let standard = c.resolve_model_uri_with_mlflow_api(&uri).await.unwrap();
        assert_eq!(standard, slipway, "{uri}");
    }

    // Errors.
    let err = c.resolve_model_uri("s3://bucket/x").await.unwrap_err();
    assert_eq!(
        err.code(),
        Some(ErrorCode::InvalidParameterValue),
        "{err:?}"
    );
    assert!(c
        .resolve_model_uri("models:/churn/7")
        .await
        .unwrap_err()
        .is_not_found());
    assert_eq!(
        c.resolve_model_uri("models:/churn@nope")
            .await
            .unwrap_err()
            .code(),
        Some(ErrorCode::InvalidParameterValue)
    );
    assert!(c
        .resolve_model_uri("models:/churn/Staging")
        .await
        .unwrap_err()
        .is_not_found());
}

/// What one request looked like on the wire.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    query: Option<String>,
    user: Option<String>,
    body: String,
}

/// A stand-in server that records every request and answers `{}`.
async fn recording_server() -> (String, Arc<Mutex<Vec<Seen>>>) {
    use axum::body::Bytes;
    use axum::http::{HeaderMap, Method, Uri};
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let log = seen.clone();
    let app = axum::Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let log = log.clone();
            async move {
                log.lock().unwrap().push(Seen {
                    method: method.to_string(),
                    path: uri.path().to_string(),
                    query: uri.query().map(str::to_string),
                    user: headers
                        .get("x-slipway-user")
                        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
                    body: String::from_utf8_lossy(&body).into_owned(),
                });
                "{}"
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wire_format_matches_mlflow_clients() {
    let (base, seen) = recording_server().await;
    let c = SlipwayClient::new(&base).unwrap().with_user("ana");

    c.delete_registered_model("churn").await.unwrap();
    c.delete_registered_model_tag("churn", "k").await.unwrap();
    c.delete_model_version("churn", "3").await.unwrap();
    c.delete_model_version_tag("churn", "3", "k").await.unwrap();
    c.delete_registered_model_alias("churn", "champion")
        .await
        .unwrap();
    let _ = c.update_registered_model("churn", "d").await;
    let _ = c.update_model_version("churn", "3", "d").await;
    let _ = c
        .search_registered_models(&SearchRegistry {
            filter: Some("name LIKE 'c%'".into()),
            order_by: vec!["name ASC".into(), "last_updated_timestamp DESC".into()],
            ..Default::default()
        })
        .await;
    let _ = c
        .transition_model_version_stage("churn", "3", "Staging", true, Some("why"))
        .await;
    c.clone()
        .without_user()
        .set_registered_model_tag("churn", "k", "v")
        .await
        .unwrap();

    let seen = seen.lock().unwrap().clone();
    let json = |s: &Seen| serde_json::from_str::<serde_json::Value>(&s.body).unwrap();
    let row = |i: usize| (seen[i].method.as_str(), seen[i].path.as_str());

    // DELETE parameters travel as a JSON body, never in the query.
    assert_eq!(
        row(0),
        ("DELETE", "/api/2.0/mlflow/registered-models/delete")
    );
    assert_eq!(json(&seen[0]), serde_json::json!({"name": "churn"}));
    assert_eq!(
        row(1),
        ("DELETE", "/api/2.0/mlflow/registered-models/delete-tag")
    );
    assert_eq!(
        json(&seen[1]),
        serde_json::json!({"name": "churn", "key": "k"})
    );
    assert_eq!(row(2), ("DELETE", "/api/2.0/mlflow/model-versions/delete"));
    assert_eq!(
        json(&seen[2]),
        serde_json::json!({"name": "churn", "version": "3"})
    );
    assert_eq!(
        row(3),
        ("DELETE", "/api/2.0/mlflow/model-versions/delete-tag")
    );
    assert_eq!(
        json(&seen[3]),
        serde_json::json!({"name": "churn", "version": "3", "key": "k"})
    );
    assert_eq!(
        row(4),
        ("DELETE", "/api/2.0/mlflow/registered-models/alias")
    );
    assert_eq!(
        json(&seen[4]),
        serde_json::json!({"name": "churn", "alias": "champion"})
    );
    for s in &seen[..5] {
        assert_eq!(s.query, None, "{s:?}");
    }
    // Updates are PATCH, searches GET with a repeated order_by.
    assert_eq!(
        row(5),
        ("PATCH", "/api/2.0/mlflow/registered-models/update")
    );
    assert_eq!(row(6), ("PATCH", "/api/2.0/mlflow/model-versions/update"));
    assert_eq!(row(7), ("GET", "/api/2.0/mlflow/registered-models/search"));
    let q = seen[7].query.as_deref().unwrap();
    assert_eq!(
        q,
        "filter=name+LIKE+%27c%25%27&order_by=name+ASC&order_by=last_updated_timestamp+DESC"
    );
    // transition-stage carries archive_existing_versions and the comment.
    assert_eq!(
        json(&seen[8]),
        serde_json::json!({
            "name": "churn", "version": "3", "stage": "Staging",
            "archive_existing_versions": true, "comment": "why"
        })
    );
    // X-Slipway-User on every call, unless turned off.
    for s in &seen[..9] {
        assert_eq!(s.user.as_deref(), Some("ana"), "{s:?}");
    }
    assert_eq!(seen[9].user, None);
}

#[test]
fn default_user_comes_from_the_environment() {
    let expected = ["USER", "LOGNAME"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .map(|u| u.trim().to_string())
        .find(|u| !u.is_empty());
    let c = SlipwayClient::new("http://127.0.0.1:5000").unwrap();
    assert_eq!(c.user().map(str::to_string), expected);
    let c = SlipwayClient::builder("http://127.0.0.1:5000")
        .user(Some("svc-deploy".into()))
        .build()
        .unwrap();
    assert_eq!(c.user(), Some("svc-deploy"));
    let c = SlipwayClient::builder("http://127.0.0.1:5000")
        .user(None)
        .build()
        .unwrap();
    assert_eq!(c.user(), None);
    // Header-breaking names are not sent.
    assert_eq!(c.clone().with_user("a\r\nb").user(), None);
    assert_eq!(c.with_user("").user(), None);
}
