//! Tests of the public search API: parse + apply + pagination, and speed.

use super::*;
use slipway_core::ErrorCode;
use slipway_protocol::{LoggedModelInfo, Metric, ModelVersion, RegisteredModel, Tag};
use std::time::Instant;

fn run(i: usize) -> Run {
    let mut r = Run::default();
    r.info.run_id = format!("{i:032x}");
    r.info.run_uuid = r.info.run_id.clone();
    r.info.run_name = format!("run-{i}");
    r.info.start_time = Some(1_700_000_000_000 + (i as i64 % 977) * 1000);
    r.data
        .tags
        .push(Tag::new("mlflow.runName", r.info.run_name.clone()));
    r.data
        .tags
        .push(Tag::new("team", ["alpha", "beta", "beta"][i % 3]));
    r.data.params.push(Tag::new("depth", (i % 7).to_string()));
    r.data.params.push(Tag::new("model", ["gbm", "rf"][i % 2]));
    for k in 0..10 {
        r.data.metrics.push(Metric {
            key: format!("m{k}"),
            value: ((i * 31 + k * 17) % 1000) as f64 / 1000.0,
            timestamp: 1,
            step: 0,
            ..Default::default()
        });
    }
    r
}

fn ids(page: &Page<Run>) -> Vec<String> {
    page.items.iter().map(|r| r.info.run_name.clone()).collect()
}

#[test]
fn empty_filter_and_order_use_mlflow_defaults() {
    let s = RunSearch::parse("", &[]).unwrap();
    let runs: Vec<Run> = (0..5).map(run).collect();
    let page = s.apply(runs, 10, None).unwrap();
    assert_eq!(ids(&page), ["run-4", "run-3", "run-2", "run-1", "run-0"]);
    assert_eq!(page.next_page_token, None);
}

#[test]
fn pages_cover_results_once_in_order() {
    let s = RunSearch::parse("params.model = 'gbm'", &["metrics.m3 DESC".to_string()]).unwrap();
    let all: Vec<Run> = (0..50).map(run).collect();
    let full = ids(&s.apply(all.clone(), 1000, None).unwrap());
    assert_eq!(full.len(), 25);
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = s.apply(all.clone(), 7, token.as_deref()).unwrap();
        assert!(page.items.len() <= 7);
        seen.extend(ids(&page));
        match page.next_page_token {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    assert_eq!(seen, full);
    let bad = s.apply(all, 7, Some("@@@")).unwrap_err();
    assert_eq!(bad.code, ErrorCode::InvalidParameterValue);
}

#[test]
fn invalid_filters_are_invalid_parameter_value() {
    for f in [
        "metrics.a > 1 OR metrics.b < 2",
        "params.x = 3",
        "metrics.x LIKE 'a'",
        "foo.bar = '1'",
        "metrics.auc_roc >> 1",
        "attributes.run_name NOT IN ('r0')",
        "tags.team NOT IN ('alpha')",
        "attributes.start_time LIKE '1%'",
    ] {
        let e = RunSearch::parse(f, &[]).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidParameterValue, "{f}");
    }
    let e = ExperimentSearch::parse("nme = 'x'", &[]).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidParameterValue);
}

#[test]
fn experiment_search_api() {
    let exps: Vec<Experiment> = (0..5)
        .map(|i| Experiment {
            experiment_id: i.to_string(),
            name: format!("exp-{i}"),
            creation_time: Some(i as i64),
            ..Default::default()
        })
        .collect();
    let s = ExperimentSearch::parse("name LIKE 'exp-%'", &["name ASC".to_string()]).unwrap();
    let p = s.apply(exps.clone(), 2, None).unwrap();
    assert_eq!(
        p.items.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(),
        ["exp-0", "exp-1"]
    );
    let p = s.apply(exps, 2, p.next_page_token.as_deref()).unwrap();
    assert_eq!(
        p.items.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(),
        ["exp-2", "exp-3"]
    );
}

#[test]
fn logged_model_search_api() {
    let models: Vec<LoggedModel> = (0..3)
        .map(|i| LoggedModel {
            info: LoggedModelInfo {
                model_id: format!("m-{i}"),
                name: "model".into(),
                source_run_id: Some(format!("run{i}")),
                creation_timestamp_ms: Some(i),
                ..Default::default()
            },
            ..Default::default()
        })
        .collect();
    let s = LoggedModelSearch::parse("source_run_id='run1'", &[], &[]).unwrap();
    let p = s.apply(models.clone(), 100, None).unwrap();
    assert_eq!(p.items.len(), 1);
    assert_eq!(p.items[0].info.model_id, "m-1");
    let s = LoggedModelSearch::parse("name = 'model'", &[], &[]).unwrap();
    let p = s.apply(models, 100, None).unwrap();
    assert_eq!(
        p.items
            .iter()
            .map(|m| m.info.model_id.as_str())
            .collect::<Vec<_>>(),
        ["m-2", "m-1", "m-0"]
    );
}

/// 100k runs with 10 metrics each: parse once, filter and sort with
/// precomputed keys. Generous bound so debug builds on busy machines pass.
#[test]
fn search_over_100k_runs_is_fast() {
    let runs: Vec<Run> = (0..100_000).map(run).collect();
    let s = RunSearch::parse(
        "metrics.m5 > 0.2 and params.model = 'gbm' and tags.team LIKE 'be%'",
        &["metrics.m3 DESC".to_string(), "params.depth".to_string()],
    )
    .unwrap();
    let t = Instant::now();
    let page = s.apply(runs, 1000, None).unwrap();
    let took = t.elapsed();
    assert_eq!(page.items.len(), 1000);
    assert!(page.next_page_token.is_some());
    assert!(took.as_secs_f64() < 5.0, "took {took:?}");
}

#[test]
fn select_pages_borrowed_runs_by_index() {
    let runs: Vec<Run> = (0..10).map(run).collect();
    let s = RunSearch::parse(
        "params.model = 'rf'",
        &["attributes.start_time".to_string()],
    )
    .unwrap();
    let page = s.select(&runs, 3, None).unwrap();
    assert_eq!(page.items, [1, 3, 5]);
    let page = s.select(&runs, 3, page.next_page_token.as_deref()).unwrap();
    assert_eq!(page.items, [7, 9]);
    assert_eq!(page.next_page_token, None);
    let beyond = s.select(&runs, 3, Some(&encode_page_token(50))).unwrap();
    assert!(beyond.items.is_empty() && beyond.next_page_token.is_none());
}

fn registered_model(i: usize) -> RegisteredModel {
    RegisteredModel {
        name: format!("model-{i:02}"),
        creation_timestamp: Some(i as i64),
        last_updated_timestamp: Some((i % 4) as i64),
        tags: vec![Tag::new("team", ["a", "b"][i % 2])],
        ..Default::default()
    }
}

fn model_version(name: &str, v: usize) -> ModelVersion {
    ModelVersion {
        name: name.into(),
        version: v.to_string(),
        creation_timestamp: Some(v as i64),
        last_updated_timestamp: Some(v as i64),
        current_stage: "None".into(),
        source: format!("models:/{name}/{v}"),
        run_id: Some(format!("{v:032x}")),
        status: "READY".into(),
        ..Default::default()
    }
}

#[test]
fn registered_model_search_api() {
    let models: Vec<RegisteredModel> = (0..25).map(registered_model).collect();
    assert_eq!(RegisteredModelSearch::max_results(None).unwrap(), 100);
    assert_eq!(
        RegisteredModelSearch::max_results(Some(1000)).unwrap(),
        1000
    );
    let e = RegisteredModelSearch::max_results(Some(1001)).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidParameterValue);
    assert_eq!(
        e.message,
        "Invalid value for request parameter max_results. It must be at most 1000, but got value 1001"
    );
    let s =
        RegisteredModelSearch::parse("tags.team = 'b'", &["timestamp DESC".to_string()]).unwrap();
    let full: Vec<String> = s
        .apply(models.clone(), 1000, None)
        .unwrap()
        .items
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert_eq!(full.len(), 12);
    assert_eq!(&full[..4], ["model-03", "model-07", "model-11", "model-15"]);
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = s.apply(models.clone(), 5, token.as_deref()).unwrap();
        assert!(page.items.len() <= 5);
        seen.extend(page.items.into_iter().map(|m| m.name));
        match page.next_page_token {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    assert_eq!(seen, full);
    assert!(s.apply(models.clone(), 1001, None).is_err());
    assert!(s.apply(models.clone(), 0, None).is_err());
    assert!(s.select(&models, 5, Some("@@@")).is_err());
    assert!(s.matches(&models[1]) && !s.matches(&models[0]));
}

#[test]
fn model_version_search_api() {
    let mut versions: Vec<ModelVersion> = (1..=12).map(|v| model_version("churn", v)).collect();
    versions.extend((1..=3).map(|v| model_version("fraud", v)));
    assert_eq!(ModelVersionSearch::max_results(None).unwrap(), 200_000);
    assert!(ModelVersionSearch::max_results(Some(200_001)).is_err());
    assert_eq!(
        ModelVersionSearch::max_results(Some(0))
            .unwrap_err()
            .message,
        "Invalid value for max_results. It must be a positive integer, but got 0"
    );
    // What the MLflow 3 client sends when registering a model.
    let filter = format!("name='churn' and run_id='{:032x}'", 7);
    let s = ModelVersionSearch::parse(&filter, &[]).unwrap();
    let page = s.apply(versions.clone(), 10_000, None).unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].version, "7");

    let s = ModelVersionSearch::parse("name = 'churn'", &[]).unwrap();
    let page = s.select(&versions, 5, None).unwrap();
    assert_eq!(page.items, [11, 10, 9, 8, 7], "newest first by default");
    let page = s
        .select(&versions, 5, page.next_page_token.as_deref())
        .unwrap();
    assert_eq!(page.items, [6, 5, 4, 3, 2]);
    let page = s
        .select(&versions, 5, page.next_page_token.as_deref())
        .unwrap();
    assert_eq!(page.items, [1, 0]);
    assert_eq!(page.next_page_token, None);

    let s = ModelVersionSearch::parse(
        "version_number >= 3",
        &["version_number".to_string(), "name DESC".to_string()],
    )
    .unwrap();
    let got: Vec<String> = s
        .apply(versions, 3, None)
        .unwrap()
        .items
        .iter()
        .map(|v| format!("{}/{}", v.name, v.version))
        .collect();
    assert_eq!(got, ["fraud/3", "churn/3", "churn/4"]);
}
