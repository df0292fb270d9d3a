//! Model URI resolution against a stand-in for a plain `mlflow server`: no
//! Slipway extensions (Flask's HTML 404 on `/api/2.0/slipway/...`), and the
//! registry, run and logged-model answers in the shapes MLflow 3.17.2 and
//! 2.22.5 send (recorded from real servers: a 3.x version registered from
//! `models:/m-…` carries no `model_id`; a stage with no version is `{}`; a
//! missing alias is a 400). The real servers are exercised by
//! tests/e2e/test_serve_mlflow_server.py.

use axum::body::Bytes;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use slipway_client::*;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

const RUN: &str = "22c074e36d6845258b796a1451ad5b3d";
const RUN2: &str = "9f1c0a7e5b2d4c3e8a6f1b0d2c4e6a8b";
const M1: &str = "m-e007666881374717aa3597660781c45b";
const M2: &str = "m-5d1e2f3a4b5c6d7e8f90a1b2c3d4e5f6";
const FLASK_404: &str = "<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n<p>The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.</p>\n";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Flavor {
    Mlflow3,
    Mlflow2,
}

struct Fake {
    flavor: Flavor,
    /// Version in Production (None: no version there).
    production: Option<u32>,
    /// Requests per path.
    hits: HashMap<String, usize>,
    /// Answer 503 to the next this-many resolve probes (a server restarting).
    resolve_unavailable: usize,
}

type Shared = Arc<Mutex<Fake>>;

fn run_of(v: u32) -> &'static str {
    if v == 1 {
        RUN
    } else {
        RUN2
    }
}

fn model_of(v: u32) -> &'static str {
    if v == 1 {
        M1
    } else {
        M2
    }
}

impl Fake {
    fn version(&self, v: u32) -> Value {
        let stage = if self.production == Some(v) {
            "Production"
        } else {
            "None"
        };
        let source = match self.flavor {
            Flavor::Mlflow3 => format!("models:/{}", model_of(v)),
            Flavor::Mlflow2 => format!("mlflow-artifacts:/1/{}/artifacts/model", run_of(v)),
        };
        let aliases: Vec<&str> = if v == 1 { vec!["champion"] } else { vec![] };
        json!({
            "name": "churn", "version": v.to_string(), "creation_timestamp": 1796642916083i64,
            "last_updated_timestamp": 1796642916209i64, "current_stage": stage, "description": "",
            "source": source, "run_id": run_of(v), "status": "READY", "run_link": "",
            "aliases": aliases,
        })
    }

    fn logged_model(&self, v: u32) -> Value {
        json!({
            "info": {
                "model_id": model_of(v), "experiment_id": "1", "name": "model",
                "creation_timestamp_ms": 1796642913076i64, "last_updated_timestamp_ms": 1796642915990i64,
                "artifact_uri": format!("mlflow-artifacts:/1/models/{}/artifacts", model_of(v)),
                "status": "LOGGED_MODEL_READY", "model_type": "", "source_run_id": run_of(v),
                "tags": [{"key": "mlflow.user", "value": "root"}],
            },
            "data": {},
        })
    }

    fn versions(&self) -> Vec<u32> {
        vec![1, 2]
    }
}

fn ok(body: Value) -> Response {
    (StatusCode::OK, axum::Json(body)).into_response()
}

fn mlflow_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({"error_code": code, "message": message, "sqlstate": "KAM00"});
    (status, axum::Json(body)).into_response()
}

fn route_missing() -> Response {
    (
        StatusCode::NOT_FOUND,
        [("content-type", "text/html; charset=utf-8")],
        FLASK_404,
    )
        .into_response()
}

fn handle(fake: &mut Fake, method: &Method, uri: &Uri, body: &[u8]) -> Response {
    let path = uri.path().to_string();
    *fake.hits.entry(path.clone()).or_default() += 1;
    let query: HashMap<String, String> = reqwest::Url::parse(&format!("http://fake{uri}"))
        .map(|u| u.query_pairs().into_owned().collect())
        .unwrap_or_default();
    let arg = |k: &str| query.get(k).cloned().unwrap_or_default();
    let json_body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let mlflow3 = fake.flavor == Flavor::Mlflow3;
    match (method.as_str(), path.as_str()) {
        ("GET", "/api/2.0/slipway/registry/resolve") => {
            if fake.resolve_unavailable > 0 {
                fake.resolve_unavailable -= 1;
                return (StatusCode::SERVICE_UNAVAILABLE, "").into_response();
            }
            route_missing()
        }
        ("POST", "/api/2.0/mlflow/registered-models/get-latest-versions") => {
            let name = json_body["name"].as_str().unwrap_or_default();
            if name != "churn" {
                return mlflow_error(
                    StatusCode::NOT_FOUND,
                    "RESOURCE_DOES_NOT_EXIST",
                    &format!("Registered Model with name={name} not found"),
                );
            }
            let stages: Vec<String> = json_body["stages"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_ascii_lowercase))
                        .collect()
                })
                .unwrap_or_default();
            // The newest version in each stage asked for.
            let mut newest: HashMap<&str, u32> = HashMap::new();
            for v in fake.versions() {
                let stage = if fake.production == Some(v) {
                    "production"
                } else {
                    "none"
                };
                if stages.is_empty() || stages.iter().any(|s| s == stage) {
                    let e = newest.entry(stage).or_default();
                    *e = (*e).max(v);
                }
            }
            if newest.is_empty() {
                return ok(json!({}));
            }
            let mut found: Vec<u32> = newest.into_values().collect();
            found.sort();
            let versions: Vec<Value> = found.into_iter().map(|v| fake.version(v)).collect();
            ok(json!({ "model_versions": versions }))
        }
        ("GET", "/api/2.0/mlflow/registered-models/alias") => {
            if arg("name") == "churn" && arg("alias") == "champion" {
                ok(json!({ "model_version": fake.version(1) }))
            } else {
                mlflow_error(
                    StatusCode::BAD_REQUEST,
                    "INVALID_PARAMETER_VALUE",
                    &format!("Registered model alias {} not found.", arg("alias")),
                )
            }
        }
        ("GET", "/api/2.0/mlflow/model-versions/get")
        | ("GET", "/api/2.0/mlflow/model-versions/get-download-uri") => {
            let v: u32 = arg("version").parse().unwrap_or(0);
            if arg("name") != "churn" || !fake.versions().contains(&v) {
                return mlflow_error(
                    StatusCode::NOT_FOUND,
                    "RESOURCE_DOES_NOT_EXIST",
                    &format!(
                        "Model Version (name={}, version={}) not found",
                        arg("name"),
                        arg("version")
                    ),
                );
            }
            if path.ends_with("get-download-uri") {
                let at = if mlflow3 {
                    format!("mlflow-artifacts:/1/models/{}/artifacts", model_of(v))
                } else {
                    format!("mlflow-artifacts:/1/{}/artifacts/model", run_of(v))
                };
                ok(json!({ "artifact_uri": at }))
            } else {
                ok(json!({ "model_version": fake.version(v) }))
            }
        }
        ("GET", "/api/2.0/mlflow/runs/get") => {
            let id = arg("run_id");
            if id != RUN && id != RUN2 {
                return mlflow_error(
                    StatusCode::NOT_FOUND,
                    "RESOURCE_DOES_NOT_EXIST",
                    &format!("Run with id={id} not found"),
                );
            }
            ok(json!({"run": {"info": {
                "run_uuid": id, "run_id": id, "experiment_id": "1", "run_name": "r",
                "user_id": "root", "status": "FINISHED", "start_time": 1796642912897i64,
                "artifact_uri": format!("mlflow-artifacts:/1/{id}/artifacts"),
                "lifecycle_stage": "active"}, "data": {}, "inputs": {}}}))
        }
        ("POST", "/api/2.0/mlflow/logged-models/search") if mlflow3 => {
            let filter = json_body["filter"].as_str().unwrap_or_default();
            let models: Vec<Value> = [1, 2]
                .into_iter()
                .filter(|v| filter == format!("source_run_id = '{}'", run_of(*v)))
                .map(|v| fake.logged_model(v))
                .collect();
            ok(json!({ "models": models }))
        }
        ("GET", p) if mlflow3 && p.starts_with("/api/2.0/mlflow/logged-models/") => {
            let id = p.rsplit('/').next().unwrap_or_default();
            match [1, 2].into_iter().find(|v| model_of(*v) == id) {
                Some(v) => ok(json!({ "model": fake.logged_model(v) })),
                None => mlflow_error(
                    StatusCode::NOT_FOUND,
                    "RESOURCE_DOES_NOT_EXIST",
                    &format!("Logged model with ID '{id}' not found."),
                ),
            }
        }
        // The artifact proxy as MLflow 2.22.5 answers it: a missing file is a 500.
        ("GET", "/api/2.0/mlflow-artifacts/artifacts") => {
            let dir = format!("{}/", arg("path").trim_end_matches('/'));
            let files: Vec<Value> = ARTIFACTS
                .iter()
                .filter_map(|(p, _)| p.strip_prefix(&dir))
                .filter(|rest| !rest.contains('/'))
                .map(|name| json!({"path": name, "is_dir": false, "file_size": 3}))
                .collect();
            ok(json!({ "files": files }))
        }
        ("GET", p) if p.starts_with("/api/2.0/mlflow-artifacts/artifacts/") => {
            let rel = &p["/api/2.0/mlflow-artifacts/artifacts/".len()..];
            match ARTIFACTS.iter().find(|(path, _)| *path == rel) {
                Some((_, Some(bytes))) => (StatusCode::OK, *bytes).into_response(),
                // Listed but unreadable (the store failing): a real server error.
                Some((_, None)) => mlflow_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "INTERNAL_ERROR",
                    "An error occurred while reading the store",
                ),
                None => mlflow_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "INTERNAL_ERROR",
                    &format!("The following failures occurred while downloading one or more artifacts from /srv/artifacts: ##### File {rel} ##### [Errno 2] No such file or directory"),
                ),
            }
        }
        _ => route_missing(),
    }
}

/// The files behind the fake proxy (`None`: listed, but reading it fails).
const ARTIFACTS: [(&str, Option<&[u8]>); 2] = [
    (
        "1/22c074e36d6845258b796a1451ad5b3d/artifacts/model/MLmodel",
        Some(b"flavors: {}\n"),
    ),
    (
        "1/22c074e36d6845258b796a1451ad5b3d/artifacts/model/model.onnx",
        None,
    ),
];

async fn fake_mlflow(flavor: Flavor) -> (SlipwayClient, Shared) {
    let fake: Shared = Arc::new(Mutex::new(Fake {
        flavor,
        production: Some(1),
        hits: HashMap::new(),
        resolve_unavailable: 0,
    }));
    let state = fake.clone();
    let app = axum::Router::new().fallback(move |method: Method, uri: Uri, body: Bytes| {
        let state = state.clone();
        async move { handle(&mut state.lock().unwrap(), &method, &uri, &body) }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (SlipwayClient::new(format!("http://{addr}")).unwrap(), fake)
}

fn hits(fake: &Shared, path: &str) -> usize {
    fake.lock().unwrap().hits.get(path).copied().unwrap_or(0)
}

const RESOLVE: &str = "/api/2.0/slipway/registry/resolve";

#[tokio::test]
async fn mlflow3_every_uri_form_resolves_through_the_standard_api() {
    let (c, fake) = fake_mlflow(Flavor::Mlflow3).await;
    let m1_files = format!("mlflow-artifacts:/1/models/{M1}/artifacts");
    let expect = |uri: &str, name: Option<&str>, version: Option<&str>| ResolvedModel {
        uri: uri.to_string(),
        name: name.map(str::to_string),
        version: version.map(str::to_string),
        run_id: Some(RUN.to_string()),
        // MLflow 3.x sends no model_id on the version: it comes from the source.
        model_id: Some(M1.to_string()),
        artifact_uri: m1_files.clone(),
    };
    for (uri, name, version) in [
        ("models:/churn/Production", Some("churn"), Some("1")),
        ("models:/churn/production", Some("churn"), Some("1")),
        ("models:/churn@champion", Some("churn"), Some("1")),
        ("models:/churn/1", Some("churn"), Some("1")),
        (&format!("models:/{M1}"), None, None),
        (&format!("runs:/{RUN}/model"), None, None),
    ] {
        let got = c.resolve_model_uri(uri).await.unwrap();
        assert_eq!(got, expect(uri, name, version), "{uri}");
    }
    let latest = c.resolve_model_uri("models:/churn/latest").await.unwrap();
    assert_eq!(latest.version.as_deref(), Some("2"));
    assert_eq!(latest.model_id.as_deref(), Some(M2));
    assert_eq!(
        c.resolve_model_uri("models:/churn@latest").await.unwrap(),
        ResolvedModel {
            uri: "models:/churn@latest".into(),
            ..latest.clone()
        }
    );
    // A run path that is no logged model's name: the run's own artifacts.
    let r = c
        .resolve_model_uri(&format!("runs:/{RUN}/other"))
        .await
        .unwrap();
    assert_eq!(r.model_id, None);
    assert_eq!(
        r.artifact_uri,
        format!("mlflow-artifacts:/1/{RUN}/artifacts/other")
    );

    // The missing endpoint was asked about once, by this client and its clones.
    assert_eq!(hits(&fake, RESOLVE), 1);
    let clone = c.clone();
    clone.resolve_model_uri("models:/churn/1").await.unwrap();
    assert_eq!(hits(&fake, RESOLVE), 1);
}

#[tokio::test]
async fn polling_sees_a_promotion_and_nothing_else() {
    let (c, fake) = fake_mlflow(Flavor::Mlflow3).await;
    let uri = "models:/churn/Production";
    let first = c.resolve_model_uri(uri).await.unwrap();
    // What the reloader compares stays put while nothing moves...
    for _ in 0..3 {
        assert_eq!(c.resolve_model_uri(uri).await.unwrap(), first);
    }
    // ...and moves with the promotion.
    fake.lock().unwrap().production = Some(2);
    let promoted = c.resolve_model_uri(uri).await.unwrap();
    assert_eq!(promoted.version.as_deref(), Some("2"));
    assert_eq!(promoted.model_id.as_deref(), Some(M2));
    assert_eq!(promoted.run_id.as_deref(), Some(RUN2));
    assert_eq!(
        promoted.artifact_uri,
        format!("mlflow-artifacts:/1/models/{M2}/artifacts")
    );
    assert_eq!(hits(&fake, RESOLVE), 1);
}

#[tokio::test]
async fn uris_naming_nothing_fail_as_against_slipway() {
    let (c, fake) = fake_mlflow(Flavor::Mlflow3).await;
    fake.lock().unwrap().production = None;
    // An empty stage: MLflow answers `{}`; the client says what Slipway says.
    let e = c
        .resolve_model_uri("models:/churn/Production")
        .await
        .unwrap_err();
    assert!(e.is_not_found(), "{e:?}");
    assert_eq!(
        e.to_string(),
        "RESOURCE_DOES_NOT_EXIST: No versions of model 'churn' are in stage 'Production'"
    );
    // A missing alias: MLflow's (and Slipway's) 400.
    let e = c.resolve_model_uri("models:/churn@nope").await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::InvalidParameterValue), "{e:?}");
    assert!(e.to_string().contains("alias nope not found"), "{e}");
    for uri in [
        "models:/other/Production",
        "models:/other/latest",
        "models:/churn/9",
        "models:/m-00000000000000000000000000000000",
        "runs:/00000000000000000000000000000000/model",
    ] {
        let e = c.resolve_model_uri(uri).await.unwrap_err();
        assert!(e.is_not_found(), "{uri}: {e:?}");
    }
    // A malformed URI is refused by the one parser, naming what is wrong.
    let e = c.resolve_model_uri("models:/churn/Prod").await.unwrap_err();
    assert!(
        matches!(&e, Error::InvalidInput(m) if m.contains("'Prod' is not a version, a stage or 'latest'")),
        "{e:?}"
    );
}

#[tokio::test]
async fn mlflow2_resolves_to_run_artifacts_and_explains_logged_models() {
    let (c, fake) = fake_mlflow(Flavor::Mlflow2).await;
    let files = format!("mlflow-artifacts:/1/{RUN}/artifacts/model");
    for uri in [
        "models:/churn/Production",
        "models:/churn@champion",
        "models:/churn/1",
    ] {
        let got = c.resolve_model_uri(uri).await.unwrap();
        assert_eq!(
            got,
            ResolvedModel {
                uri: uri.into(),
                name: Some("churn".into()),
                version: Some("1".into()),
                run_id: Some(RUN.into()),
                model_id: None,
                artifact_uri: files.clone(),
            },
            "{uri}"
        );
    }
    let r = c
        .resolve_model_uri(&format!("runs:/{RUN}/model"))
        .await
        .unwrap();
    assert_eq!(
        (r.artifact_uri.as_str(), r.model_id),
        (files.as_str(), None)
    );
    let e = c
        .resolve_model_uri(&format!("models:/{M1}"))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::InvalidInput(m) if m.contains("no logged-model API")),
        "{e:?}"
    );
    assert_eq!(hits(&fake, RESOLVE), 1);
}

#[tokio::test]
async fn a_failing_resolve_endpoint_is_not_taken_for_a_missing_one() {
    let (c, fake) = fake_mlflow(Flavor::Mlflow3).await;
    fake.lock().unwrap().resolve_unavailable = 1;
    // A 503 is the server's answer, not proof that the endpoint is absent.
    let e = c.resolve_model_uri("models:/churn/1").await.unwrap_err();
    assert_eq!(api_status(&e), Some(503), "{e:?}");
    assert!(c.resolve_model_uri("models:/churn/1").await.is_ok());
    c.resolve_model_uri("models:/churn/1").await.unwrap();
    assert_eq!(hits(&fake, RESOLVE), 2);
}

fn api_status(e: &Error) -> Option<u16> {
    match e {
        Error::Api { status, .. } => Some(*status),
        _ => None,
    }
}

#[tokio::test]
async fn a_missing_file_behind_mlflow2s_proxy_is_not_found() {
    let (c, _fake) = fake_mlflow(Flavor::Mlflow2).await;
    let model = c
        .resolve_model_uri("models:/churn/Production")
        .await
        .unwrap();
    let base = &model.artifact_uri;
    assert_eq!(
        c.read_artifact(base, "MLmodel").await.unwrap().as_ref(),
        b"flavors: {}\n"
    );
    // MLflow 2.x answers a missing file with a 500; the client says what it is.
    let e = c
        .read_artifact(base, "input_example.json")
        .await
        .unwrap_err();
    assert!(e.is_not_found(), "{e:?}");
    let dir = tempfile::tempdir().unwrap();
    let e = c
        .download_artifact(base, "input_example.json", dir.path().join("x"))
        .await
        .unwrap_err();
    assert!(e.is_not_found(), "{e:?}");
    // A file that is there but cannot be read stays the server's error.
    let e = c.read_artifact(base, "model.onnx").await.unwrap_err();
    assert_eq!(api_status(&e), Some(500), "{e:?}");
    assert!(!e.is_not_found());
}
