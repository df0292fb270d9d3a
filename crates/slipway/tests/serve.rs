//! `slipway serve` end to end: train two versions with `slipway train`
//! against a `slipway server` child, serve the Production one, answer every
//! protocol, refuse bad input with 4xx, and swap to the newly promoted
//! version under load without a failed request.

use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;
use common::{datagen_churn, err, free_port, serve_home, ChildGuard, BIN};

fn slipway(home: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_remove("SLIPWAY_TRACKING_URI")
        .env_remove("MLFLOW_TRACKING_URI")
        .env_remove("GITHUB_OUTPUT")
        .env_remove("RUST_LOG")
        .env("SLIPWAY_HOME", home);
    cmd
}

/// A minimal HTTP/1.1 client (one request per connection): status and body.
fn http(port: u16, method: &str, path: &str, content_type: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    let mut body = raw[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    (status, body)
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(end) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let n = usize::from_str_radix(String::from_utf8_lossy(&b[..end]).trim(), 16).unwrap_or(0);
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&b[end + 2..end + 2 + n]);
        b = &b[end + 2 + n + 2..];
    }
}

fn post_json(port: u16, path: &str, body: &Value) -> (u16, Value) {
    let (status, b) = http(
        port,
        "POST",
        path,
        "application/json",
        body.to_string().as_bytes(),
    );
    (
        status,
        serde_json::from_slice(&b).unwrap_or_else(|_| json!(String::from_utf8_lossy(&b))),
    )
}

fn get(port: u16, path: &str) -> (u16, String) {
    let (s, b) = http(port, "GET", path, "text/plain", b"");
    (s, String::from_utf8_lossy(&b).into_owned())
}

fn features() -> Value {
    json!({
        "tenure_days": 557, "plan": "basic", "region": "north_america", "contract": "two-year",
        "monthly_charges": 27.63, "total_spend_30d": 43.79, "txn_count_30d": 2, "logins_7d": 4,
        "logins_30d": 21, "days_since_last_login": 0, "tickets_90d": 0, "max_ticket_severity_90d": 0
    })
}

fn train(dir: &Path, url: &str, data: &Path, rounds: u32) {
    let config = dir.join(format!("train-{rounds}.yaml"));
    std::fs::write(
        &config,
        format!(
            "experiment: serve-test\ndata: {{path: {}}}\nlabel: churn\ndrop: [customer_id]\n\
             model: {{type: gbm_classifier, params: {{n_estimators: {rounds}, max_depth: 3}}}}\n\
             register: churn-classifier\n",
            data.display()
        ),
    )
    .unwrap();
    let o = slipway(&dir.join("unused"))
        .args(["train", "--quiet", "--tracking-uri", url, "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", err(&o));
}

fn stage(dir: &Path, url: &str, version: &str) {
    let o = slipway(&dir.join("unused"))
        .args([
            "models",
            "stage",
            "churn-classifier",
            version,
            "Production",
            "--archive-existing",
            "--tracking-uri",
            url,
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", err(&o));
}

/// `slipway serve` of the Production version through the server at `url`,
/// re-checking every 0.2 s.
fn start_serve(dir: &Path, url: &str, extra: &[&str]) -> (ChildGuard, u16, PathBuf) {
    let mut args = vec!["--tracking-uri", url, "--poll-interval", "0.2"];
    args.extend_from_slice(extra);
    start_serve_home(&dir.join("unused"), dir, &args)
}

/// `slipway serve` of the Production version with `SLIPWAY_HOME=home`
/// (without --tracking-uri: the embedded store under it).
fn start_serve_home(home: &Path, dir: &Path, extra: &[&str]) -> (ChildGuard, u16, PathBuf) {
    let port = free_port();
    let log = dir.join(format!("predictions-{port}"));
    let child = slipway(home)
        .args([
            "serve",
            "--model",
            "models:/churn-classifier/Production",
            "--port",
            &port.to_string(),
            "--max-body-bytes",
            "100000",
            "--prediction-log",
        ])
        .arg(&log)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let guard = ChildGuard(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() && get(port, "/health").0 == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "slipway serve never came up");
        std::thread::sleep(Duration::from_millis(50));
    }
    (guard, port, log)
}

/// `/predict` requests in a loop on another thread, recording the version
/// that answered each one and every failure.
struct Load {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<(Vec<String>, Vec<String>)>,
}

impl Load {
    fn start(port: u16) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut versions = Vec::new();
                let mut errors = Vec::new();
                let body = json!({"customer_id": "C1", "features": features()});
                while !stop.load(Ordering::Relaxed) {
                    let (s, v) = post_json(port, "/predict", &body);
                    if s == 200 {
                        versions.push(v["model_version"].as_str().unwrap_or("?").to_string());
                    } else {
                        errors.push(format!("{s} {v}"));
                    }
                }
                (versions, errors)
            })
        };
        Load { stop, thread }
    }

    /// Stops; asserts no request failed and the answers went from version 1
    /// to version 2 once, never back. Returns the versions seen.
    fn finish(self) -> Vec<String> {
        self.stop.store(true, Ordering::Relaxed);
        let (versions, errors) = self.thread.join().unwrap();
        assert!(errors.is_empty(), "{errors:?}");
        let first_new = versions
            .iter()
            .position(|v| v == "2")
            .expect("saw version 2");
        assert!(first_new > 0, "saw no version 1 under load");
        assert!(versions[..first_new].iter().all(|v| v == "1"));
        assert!(
            versions[first_new..].iter().all(|v| v == "2"),
            "versions went back"
        );
        versions
    }
}

/// Waits until `/health` names `version`; returns how long that took.
fn wait_for_version(port: u16, version: &str, limit: Duration) -> Duration {
    let started = Instant::now();
    let wanted = format!("\"model_version\":\"{version}\"");
    loop {
        let (_, h) = get(port, "/health");
        if h.contains(&wanted) {
            return started.elapsed();
        }
        assert!(started.elapsed() < limit, "never reloaded: {h}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn serves_every_protocol_refuses_bad_input_and_hot_reloads_under_load() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, client) = serve_home(&dir.path().join("server"));
    let url = client.base_url().to_string();
    let data_dir = dir.path().join("data");
    let data = datagen_churn(&data_dir, 1500, &[]);
    train(dir.path(), &url, &data, 20);
    train(dir.path(), &url, &data, 40);
    stage(dir.path(), &url, "1");

    // Polling alone (the backstop, and all there is against mlflow server);
    // the event feed has its own test below.
    let (mut serve, port, log) = start_serve(dir.path(), &url, &["--no-registry-events"]);

    // The guide's /predict.
    let (s, v) = post_json(
        port,
        "/predict",
        &json!({"customer_id": "C1", "features": features()}),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["customer_id"], "C1");
    assert_eq!(v["model_version"], "1");
    assert!(v["prediction"].is_i64(), "{v}");
    let p = v["probability"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&p));
    assert!(v["latency_ms"].as_f64().unwrap() >= 0.0);

    // Batch, MLflow and v2 give the same probability for the same row.
    let (s, v) = post_json(
        port,
        "/predict/batch",
        &json!({"instances": [{"customer_id": "A", "features": features()}, {"customer_id": "B", "features": features()}]}),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["predictions"][1]["probability"].as_f64().unwrap(), p);
    let (s, v) = post_json(
        port,
        "/invocations",
        &json!({"dataframe_records": [features()], "params": {"predict_method": "predict_proba"}}),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["predictions"][0][1].as_f64().unwrap(), p);
    let (s, v) = post_json(port, "/invocations", &json!({"inputs": features()}));
    assert_eq!(s, 200, "{v}");
    assert!(v["predictions"][0].is_i64());
    let (s, v) = post_json(port, "/invocations", &json!({"data": [[1]]}));
    assert_eq!(s, 400);
    assert_eq!(v["error_code"], "BAD_REQUEST");
    let (s, meta) = get(port, "/v2/models/churn-classifier");
    assert_eq!(s, 200);
    let meta: Value = serde_json::from_str(&meta).unwrap();
    let names: Vec<&str> = meta["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    let row: Vec<Value> = names.iter().map(|n| features()[n].clone()).collect();
    let (s, v) = post_json(
        port,
        "/v2/models/churn-classifier/infer",
        &json!({"id": "r1", "inputs": [{"name": "input-0", "shape": [1, names.len()], "datatype": "BYTES", "data": row}]}),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["id"], "r1");
    assert_eq!(v["outputs"][1]["data"][1].as_f64().unwrap(), p);
    for path in [
        "/ping",
        "/version",
        "/v2",
        "/v2/health/live",
        "/v2/health/ready",
        "/v2/models/churn-classifier/ready",
    ] {
        assert_eq!(get(port, path).0, 200, "{path}");
    }

    // Bad input: 4xx naming each field; a body over the limit: 413.
    let mut bad = features();
    bad["tenure_days"] = json!("long");
    bad["plan"] = json!(3);
    bad["shoe_size"] = json!(44);
    bad.as_object_mut().unwrap().remove("region");
    let (s, v) = post_json(
        port,
        "/predict",
        &json!({"customer_id": "C1", "features": bad}),
    );
    assert_eq!(s, 422, "{v}");
    let msg = v["error"].as_str().unwrap();
    for field in [
        "features.tenure_days",
        "features.plan",
        "features.shoe_size",
        "features.region",
    ] {
        assert!(msg.contains(field), "{field} not in {msg}");
    }
    let big = format!("{{\"features\": \"{}\"}}", "x".repeat(200_000));
    let (s, _) = http(port, "POST", "/predict", "application/json", big.as_bytes());
    assert_eq!(s, 413);
    for body in ["", "{", "null", "[]", "{\"features\": []}", "\u{0}"] {
        let (s, _) = http(
            port,
            "POST",
            "/predict",
            "application/json",
            body.as_bytes(),
        );
        assert!((400..500).contains(&s), "{body:?} gave {s}");
    }

    // Hot reload under load: promote version 2 while requests run.
    let load = Load::start(port);
    std::thread::sleep(Duration::from_millis(500));
    stage(dir.path(), &url, "2");
    wait_for_version(port, "2", Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(500));
    let versions = load.finish();

    let (_, metrics) = get(port, "/metrics");
    assert!(metrics.contains(
        "slipway_model_info{name=\"churn-classifier\",version=\"2\",role=\"champion\"} 1"
    ));
    assert!(metrics.contains("slipway_model_reloads_total{role=\"champion\",result=\"ok\"}"));
    assert!(metrics.contains("slipway_requests_total{route=\"predict\",status=\"422\"}"));

    // Graceful stop flushes the prediction log.
    #[cfg(unix)]
    unsafe {
        libc::kill(serve.0.id() as i32, libc::SIGTERM);
    }
    #[cfg(not(unix))]
    let _ = serve.0.kill();
    let _ = serve.0.wait();
    let records = slipway_serve::predlog::read_log(&log).unwrap();
    assert!(records.len() > versions.len());
    assert_eq!(records[0].entity_id.as_deref(), Some("C1"));
    assert_eq!(records[0].features["plan"], "basic");
    assert!(records.iter().any(|r| r.model_version == "2"));
}

#[test]
fn canary_splits_by_customer_and_unservable_models_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, client) = serve_home(&dir.path().join("server"));
    let url = client.base_url().to_string();
    let data_dir = dir.path().join("data");
    let data = datagen_churn(&data_dir, 1000, &[]);

    // Nothing in Production yet: a clear start-up error.
    let o = slipway(&dir.path().join("unused"))
        .args([
            "serve",
            "--model",
            "models:/churn-classifier/Production",
            "--tracking-uri",
            &url,
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err(&o).contains("resolves to no model version"),
        "{}",
        err(&o)
    );
    let o = slipway(&dir.path().join("unused"))
        .args([
            "serve",
            "--model",
            "models:/x/1",
            "--canary",
            "models:/x/2",
            "--tracking-uri",
            &url,
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));

    train(dir.path(), &url, &data, 10);
    train(dir.path(), &url, &data, 30);
    stage(dir.path(), &url, "1");
    let (_serve, port, _) = start_serve(
        dir.path(),
        &url,
        &[
            "--canary",
            "models:/churn-classifier/2=30",
            "--shadow",
            "models:/churn-classifier/2",
        ],
    );
    let mut canary = 0;
    for i in 0..200 {
        let body = json!({"customer_id": format!("C{i}"), "features": features()});
        let (s, v) = post_json(port, "/predict", &body);
        assert_eq!(s, 200, "{v}");
        let version = v["model_version"].as_str().unwrap().to_string();
        canary += usize::from(version == "2");
        // Deterministic per customer.
        assert_eq!(
            post_json(port, "/predict", &body).1["model_version"],
            version.as_str()
        );
    }
    assert!((30..=95).contains(&canary), "canary took {canary} of 200");
    let (_, metrics) = get(port, "/metrics");
    assert!(metrics.contains("role=\"canary\""));
}

/// The registry's event feed drives the reload: `slipway serve` and
/// `slipway promote` are separate processes on the same embedded store (no
/// shared broadcast), and polling is set to an hour, so only the feed's
/// long poll can bring version 2 in.
#[test]
fn a_promotion_by_another_process_is_served_within_seconds_through_the_event_feed() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let data_dir = dir.path().join("data");
    let data = datagen_churn(&data_dir, 1000, &[]);
    let mut runs = Vec::new();
    for rounds in [10, 30] {
        let config = dir.path().join(format!("train-{rounds}.yaml"));
        std::fs::write(
            &config,
            format!(
                "experiment: serve-feed\ndata: {{path: {}}}\nlabel: churn\ndrop: [customer_id]\n\
                 model: {{type: gbm_classifier, params: {{n_estimators: {rounds}, max_depth: 3}}}}\n\
                 register: churn-classifier\n",
                data.display()
            ),
        )
        .unwrap();
        let o = slipway(&home)
            .args(["train", "--quiet", "--json", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", err(&o));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        runs.push(v["run_id"].as_str().unwrap().to_string());
    }
    let promote = |run: &str| {
        let o = slipway(&home)
            .args([
                "promote",
                "--run-id",
                run,
                "--stage",
                "Production",
                "--force",
                "--reason",
                "event feed test",
            ])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", err(&o));
    };
    promote(&runs[0]);

    let (mut serve, port, _) = start_serve_home(&home, dir.path(), &["--poll-interval", "3600"]);
    let (_, h) = get(port, "/health");
    assert!(h.contains("\"model_version\":\"1\""), "{h}");

    let load = Load::start(port);
    std::thread::sleep(Duration::from_millis(500));
    promote(&runs[1]);
    let took = wait_for_version(port, "2", Duration::from_secs(15));
    eprintln!("version 2 served {took:?} after `slipway promote` exited");
    std::thread::sleep(Duration::from_millis(300));
    let versions = load.finish();
    assert!(versions.len() > 10, "{} requests", versions.len());

    // A long poll in flight does not hold up a graceful stop.
    #[cfg(unix)]
    {
        let stopping = Instant::now();
        unsafe {
            libc::kill(serve.0.id() as i32, libc::SIGTERM);
        }
        loop {
            if let Some(status) = serve.0.try_wait().unwrap() {
                assert!(status.success(), "{status:?}");
                break;
            }
            assert!(
                stopping.elapsed() < Duration::from_secs(10),
                "slipway serve took more than 10 s to stop"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    #[cfg(not(unix))]
    let _ = &mut serve;
}
