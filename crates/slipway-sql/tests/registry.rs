//! The registry engine over the SQLite store: MLflow's rules without HTTP.

use slipway_core::ErrorCode;
use slipway_protocol::*;
use slipway_registry::Registry;
use slipway_sql::SqliteStore;
use slipway_tracking::Tracking;
use std::sync::Arc;

struct Fixture {
    registry: Registry,
    tracking: Tracking,
    _dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("db"), "mlflow-artifacts:").unwrap());
    Fixture {
        registry: Registry::new(store.clone(), store.clone()),
        tracking: Tracking::new(store),
        _dir: dir,
    }
}

impl Fixture {
    async fn run(&self) -> String {
        self.tracking
            .create_run(CreateRun {
                experiment_id: "0".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .info
            .run_id
    }

    async fn model(&self, name: &str) {
        self.registry
            .create_registered_model(
                CreateRegisteredModel {
                    name: name.into(),
                    ..Default::default()
                },
                None,
            )
            .await
            .unwrap();
    }

    async fn version(&self, name: &str, run_id: &str) -> ModelVersion {
        self.registry
            .create_model_version(
                CreateModelVersion {
                    name: name.into(),
                    source: format!("runs:/{run_id}/model"),
                    run_id: Some(run_id.into()),
                    ..Default::default()
                },
                Some("alice".into()),
            )
            .await
            .unwrap()
    }

    async fn stage(
        &self,
        name: &str,
        version: &str,
        stage: &str,
        archive: bool,
    ) -> Result<ModelVersion, slipway_core::Error> {
        self.registry
            .transition_stage(
                TransitionModelVersionStage {
                    name: name.into(),
                    version: version.into(),
                    stage: stage.into(),
                    archive_existing_versions: Some(archive),
                    comment: Some("promoted by test".into()),
                },
                Some("bob".into()),
            )
            .await
    }
}

#[tokio::test]
async fn versions_are_numbered_and_ready() {
    let f = fixture();
    f.model("churn").await;
    let dup = f
        .registry
        .create_registered_model(
            CreateRegisteredModel {
                name: "churn".into(),
                ..Default::default()
            },
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(dup.code, ErrorCode::ResourceAlreadyExists);
    let run = f.run().await;
    let v1 = f.version("churn", &run).await;
    let v2 = f.version("churn", &run).await;
    assert_eq!((v1.version.as_str(), v2.version.as_str()), ("1", "2"));
    assert_eq!(v1.status, "READY");
    assert_eq!(v1.current_stage, "None");
    assert_eq!(v1.user_id.as_deref(), Some("alice"));
    let missing = f
        .registry
        .create_model_version(
            CreateModelVersion {
                name: "nope".into(),
                source: format!("runs:/{run}/model"),
                run_id: Some(run.clone()),
                ..Default::default()
            },
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(missing.code, ErrorCode::ResourceDoesNotExist);
    // A deleted version's number is never handed out again.
    f.registry
        .delete_model_version("churn", "2", None)
        .await
        .unwrap();
    assert_eq!(f.version("churn", &run).await.version, "3");
    // A source must belong to the run named by run_id.
    let other = f.run().await;
    let err = f
        .registry
        .create_model_version(
            CreateModelVersion {
                name: "churn".into(),
                source: format!("runs:/{run}/model"),
                run_id: Some(other),
                ..Default::default()
            },
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidParameterValue);
    for bad in ["team/churn", "a:b", "  ", ".", "..x"] {
        let err = f
            .registry
            .create_registered_model(
                CreateRegisteredModel {
                    name: bad.into(),
                    ..Default::default()
                },
                None,
            )
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidParameterValue, "{bad:?}");
    }
    let bad = f
        .registry
        .get_model_version("churn", "x")
        .await
        .unwrap_err();
    assert_eq!(bad.code, ErrorCode::InvalidParameterValue);
    let gone = f
        .registry
        .get_model_version("churn", "9")
        .await
        .unwrap_err();
    assert_eq!(gone.code, ErrorCode::ResourceDoesNotExist);
}

#[tokio::test]
async fn archive_existing_keeps_one_production_version() {
    let f = fixture();
    f.model("churn").await;
    let run = f.run().await;
    for _ in 0..3 {
        f.version("churn", &run).await;
    }
    f.stage("churn", "1", "production", false).await.unwrap();
    f.stage("churn", "2", "Production", false).await.unwrap();
    let prod = f
        .registry
        .get_latest_versions("churn", &["Production".into()])
        .await
        .unwrap();
    assert_eq!(
        prod.len(),
        1,
        "get_latest_versions returns the latest per stage"
    );
    assert_eq!(prod[0].version, "2");
    let v3 = f.stage("churn", "3", "Production", true).await.unwrap();
    assert_eq!(v3.current_stage, "Production");
    for v in ["1", "2"] {
        assert_eq!(
            f.registry
                .get_model_version("churn", v)
                .await
                .unwrap()
                .current_stage,
            "Archived"
        );
    }
    let err = f.stage("churn", "3", "Prod", false).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidParameterValue);
    assert!(err.message.contains("None, Staging, Production, Archived"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_transitions_never_leave_two_in_production() {
    let f = Arc::new(fixture());
    f.model("churn").await;
    let run = f.run().await;
    for _ in 0..4 {
        f.version("churn", &run).await;
    }
    for _round in 0..5 {
        let mut tasks = Vec::new();
        for i in 0..16 {
            let f = f.clone();
            tasks.push(tokio::spawn(async move {
                let version = (i % 4 + 1).to_string();
                f.stage("churn", &version, "Production", true)
                    .await
                    .unwrap();
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let all = f
            .registry
            .search_model_versions(SearchRegistry {
                filter: Some("name='churn'".into()),
                ..Default::default()
            })
            .await
            .unwrap()
            .items;
        let in_prod = all
            .iter()
            .filter(|v| v.current_stage == "Production")
            .count();
        assert_eq!(in_prod, 1, "{all:?}");
    }
}

#[tokio::test]
async fn aliases_move_and_vanish_with_their_version() {
    let f = fixture();
    f.model("churn").await;
    let run = f.run().await;
    f.version("churn", &run).await;
    f.version("churn", &run).await;
    f.registry
        .set_alias("churn", "champion", "1", None)
        .await
        .unwrap();
    f.registry
        .set_alias("churn", "champion", "2", None)
        .await
        .unwrap();
    assert_eq!(
        f.registry
            .get_version_by_alias("churn", "champion")
            .await
            .unwrap()
            .version,
        "2"
    );
    let model = f.registry.get_registered_model("churn").await.unwrap();
    assert_eq!(
        model.aliases,
        vec![RegisteredModelAlias {
            alias: "champion".into(),
            version: "2".into()
        }]
    );
    assert_eq!(
        f.registry
            .get_model_version("churn", "2")
            .await
            .unwrap()
            .aliases,
        vec!["champion".to_string()]
    );
    for reserved in ["latest", "v1", "V12", "bad name"] {
        let err = f
            .registry
            .set_alias("churn", reserved, "1", None)
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidParameterValue, "{reserved}");
    }
    let err = f
        .registry
        .set_alias("churn", "x", "7", None)
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::ResourceDoesNotExist);
    f.registry
        .delete_model_version("churn", "2", None)
        .await
        .unwrap();
    let err = f
        .registry
        .get_version_by_alias("churn", "champion")
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidParameterValue);
    assert!(f
        .registry
        .get_registered_model("churn")
        .await
        .unwrap()
        .aliases
        .is_empty());
    // Deleting a missing alias succeeds, as in MLflow.
    f.registry
        .delete_alias("churn", "champion", None)
        .await
        .unwrap();
}

#[tokio::test]
async fn model_uris_resolve_through_one_function() {
    let f = fixture();
    let name = "churn model é";
    f.model(name).await;
    let run = f.run().await;
    f.version(name, &run).await;
    f.version(name, &run).await;
    f.stage(name, "1", "Production", false).await.unwrap();
    f.registry
        .set_alias(name, "champion", "2", None)
        .await
        .unwrap();
    let artifacts = format!("mlflow-artifacts:/0/{run}/artifacts/model");
    for (uri, version) in [
        (format!("models:/{name}/1"), "1"),
        (format!("models:/{name}/Production"), "1"),
        (format!("models:/{name}/production"), "1"),
        (format!("models:/{name}/latest"), "2"),
        (format!("models:/{name}@champion"), "2"),
    ] {
        let r = f.registry.resolve(&uri).await.unwrap();
        assert_eq!(r.version.as_deref(), Some(version), "{uri}");
        assert_eq!(r.artifact_uri, artifacts, "{uri}");
        assert_eq!(r.run_id.as_deref(), Some(run.as_str()));
    }
    let r = f
        .registry
        .resolve(&format!("runs:/{run}/model"))
        .await
        .unwrap();
    assert_eq!(r.artifact_uri, artifacts);
    let err = f
        .registry
        .resolve(&format!("models:/{name}/Staging"))
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::ResourceDoesNotExist);
    let err = f
        .registry
        .resolve("models:/nope@champion")
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::ResourceDoesNotExist);
    assert_eq!(f.registry.download_uri(name, "2").await.unwrap(), artifacts);
}

#[tokio::test]
async fn hostile_sources_are_refused() {
    let f = fixture();
    f.model("m").await;
    for source in [
        "file:///etc/",
        "/etc/passwd",
        "file:/etc",
        "mlflow-artifacts:/../../etc",
        "http:///#/../../etc/",
    ] {
        let err = f
            .registry
            .create_model_version(
                CreateModelVersion {
                    name: "m".into(),
                    source: source.into(),
                    ..Default::default()
                },
                None,
            )
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidParameterValue, "{source}");
    }
}

#[tokio::test]
async fn rename_carries_versions_aliases_and_tags() {
    let f = fixture();
    f.model("a").await;
    let run = f.run().await;
    f.version("a", &run).await;
    f.registry
        .set_alias("a", "champion", "1", None)
        .await
        .unwrap();
    f.registry
        .set_model_version_tag("a", "1", Tag::new("validated", "yes"))
        .await
        .unwrap();
    f.registry
        .set_registered_model_tag("a", Tag::new("team", "ml"))
        .await
        .unwrap();
    let renamed = f
        .registry
        .rename_registered_model("a", "b", None)
        .await
        .unwrap();
    assert_eq!(renamed.name, "b");
    assert_eq!(renamed.tags, vec![Tag::new("team", "ml")]);
    let history = f.registry.events(Some("b"), 0, 100).await.unwrap();
    assert_eq!(
        history.first().unwrap().kind,
        "registered_model_created",
        "history follows a rename"
    );
    let v = f
        .registry
        .get_version_by_alias("b", "champion")
        .await
        .unwrap();
    assert_eq!(v.tags, vec![Tag::new("validated", "yes")]);
    assert_eq!(
        f.registry.get_registered_model("a").await.unwrap_err().code,
        ErrorCode::ResourceDoesNotExist
    );
    f.model("c").await;
    let err = f
        .registry
        .rename_registered_model("b", "c", None)
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::ResourceAlreadyExists);
    f.registry.delete_registered_model("b", None).await.unwrap();
    assert_eq!(
        f.registry
            .get_model_version("b", "1")
            .await
            .unwrap_err()
            .code,
        ErrorCode::ResourceDoesNotExist
    );
}

#[tokio::test]
async fn every_stage_and_alias_change_is_recorded_and_published() {
    let f = fixture();
    let mut events = f.registry.subscribe();
    f.model("churn").await;
    let run = f.run().await;
    f.version("churn", &run).await;
    f.stage("churn", "1", "Production", true).await.unwrap();
    f.registry
        .set_alias("churn", "champion", "1", Some("carol".into()))
        .await
        .unwrap();
    f.registry
        .delete_alias("churn", "champion", None)
        .await
        .unwrap();
    let history = f.registry.events(Some("churn"), 0, 100).await.unwrap();
    let kinds: Vec<&str> = history.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "registered_model_created",
            "model_version_created",
            "stage_transitioned",
            "alias_set",
            "alias_deleted"
        ]
    );
    let transition = &history[2];
    assert_eq!(transition.from.as_deref(), Some("None"));
    assert_eq!(transition.to.as_deref(), Some("Production"));
    assert_eq!(transition.user.as_deref(), Some("bob"));
    assert_eq!(transition.reason.as_deref(), Some("promoted by test"));
    assert_eq!(history[3].user.as_deref(), Some("carol"));
    for expected in &history {
        let got = events.try_recv().unwrap();
        assert_eq!(&got, expected, "subscribers see committed events in order");
    }
    let after = f
        .registry
        .events(Some("churn"), history[2].id, 100)
        .await
        .unwrap();
    assert_eq!(after.len(), 2);
}

#[tokio::test]
async fn lineage_links_version_run_and_data() {
    let f = fixture();
    f.model("churn").await;
    let run = f.run().await;
    f.tracking
        .log_inputs(
            &run,
            vec![DatasetInput {
                tags: vec![Tag::new("mlflow.data.context", "training")],
                dataset: Dataset {
                    name: "churn-train".into(),
                    digest: "abc123".into(),
                    source_type: "local".into(),
                    source: "{\"uri\": \"data/churn.parquet\"}".into(),
                    ..Default::default()
                },
            }],
            vec![],
        )
        .await
        .unwrap();
    f.version("churn", &run).await;
    let lineage = f.registry.lineage("churn", "1").await.unwrap();
    assert_eq!(lineage.run.unwrap().info.run_id, run);
    assert_eq!(lineage.datasets.len(), 1);
    assert_eq!(lineage.datasets[0].dataset.digest, "abc123");
}
