//! XGBoost and LightGBM models in their native files (tests/native/fixtures, made by
//! tests/native/make_fixtures.py with the pinned libraries), loaded from an MLmodel as
//! `mlflow.xgboost` / `mlflow.lightgbm` write it and served through the engine: every
//! held-out row is compared with what the Python library predicted. `/invocations` must
//! answer what MLflow's pyfunc returns (a Booster's probabilities, a wrapper's labels);
//! `/predict/batch` the class (or value) and the probability.
//!
//! `SLIPWAY_NATIVE_FIXTURES=DIR` checks the models regenerated in DIR instead
//! (tests/native/check_parity.sh), and `SLIPWAY_NATIVE_EXPECT_MODELS=N` requires N models.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{json, Value};
use slipway_serve::model::{detect_format, ModelFormat, ModelIdentity, ServedModel};
use slipway_serve::trees::Library;
use slipway_serve::{Engine, LoadError};

fn fixtures() -> PathBuf {
    match std::env::var_os("SLIPWAY_NATIVE_FIXTURES") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/native/fixtures"),
    }
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// The MLmodel `mlflow.xgboost.log_model` / `mlflow.lightgbm.log_model` write (mlflow 3.17),
/// with a signature of the data's columns.
fn mlmodel(expected: &Value, data: &Value) -> String {
    let file = expected["file"].as_str().unwrap();
    let class = expected["model_class"].as_str().unwrap();
    let columns: Vec<Value> = data["columns"]
        .as_array()
        .unwrap()
        .iter()
        .zip(data["types"].as_array().unwrap())
        .map(|(name, ty)| json!({"type": ty, "name": name, "required": false}))
        .collect();
    let signature = format!(
        "signature:\n  inputs: '{}'\n  outputs: null\n",
        Value::Array(columns)
    );
    match expected["library"].as_str().unwrap() {
        "xgboost" => format!(
            "flavors:\n  python_function:\n    data: {file}\n    env:\n      conda: conda.yaml\n      \
             virtualenv: python_env.yaml\n    loader_module: mlflow.xgboost\n    python_version: 3.11.7\n  \
             xgboost:\n    code: null\n    data: {file}\n    model_class: {class}\n    model_format: {}\n    \
             xgb_version: 3.2.0\nmlflow_version: 3.17.2\n{signature}",
            expected["model_format"].as_str().unwrap()
        ),
        _ => format!(
            "flavors:\n  lightgbm:\n    code: null\n    data: {file}\n    lgb_version: 4.7.0\n    \
             model_class: {class}\n    serialization_format: skops\n    skops_trusted_types: null\n  \
             python_function:\n    data: {file}\n    env:\n      conda: conda.yaml\n      virtualenv: \
             python_env.yaml\n    loader_module: mlflow.lightgbm\n    python_version: 3.11.7\n\
             mlflow_version: 3.17.2\n{signature}"
        ),
    }
}

/// Largest |a - b| over two equally shaped JSON values (numbers, or arrays of them); None
/// when their shapes or kinds differ. `exact` counts the numbers equal bit for bit.
fn max_diff(a: &Value, b: &Value, exact: &mut bool) -> Option<f64> {
    match (a, b) {
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .try_fold(0.0f64, |m, (p, q)| Some(m.max(max_diff(p, q, exact)?))),
        (Value::Number(p), Value::Number(q)) => {
            let (p, q) = (p.as_f64()?, q.as_f64()?);
            if p.to_bits() != q.to_bits() {
                *exact = false;
            }
            Some((p - q).abs())
        }
        (Value::Null, Value::Null) => Some(0.0),
        _ => None,
    }
}

struct Checked {
    name: String,
    rows: usize,
    exact: bool,
    max_diff: f64,
}

fn check_model(dir: &Path, expected_path: &Path, data: &Value) -> Checked {
    let name = expected_path
        .file_name()
        .unwrap()
        .to_string_lossy()
        .trim_end_matches(".expected.json")
        .to_string();
    let expected = read_json(expected_path);
    let mlmodel = mlmodel(&expected, data);
    let file = expected["file"].as_str().unwrap().to_string();
    let format = detect_format(mlmodel.as_bytes(), false).unwrap();
    let library = match expected["library"].as_str().unwrap() {
        "xgboost" => Library::XgBoost,
        _ => Library::LightGbm,
    };
    assert_eq!(
        format,
        ModelFormat::Native {
            library,
            file: file.clone(),
            model_class: expected["model_class"].as_str().unwrap().into(),
        },
        "{name}"
    );
    assert_eq!(format.files()[0], file);
    let bytes = std::fs::read(dir.join(&file)).unwrap();
    let model = ServedModel::load(
        ModelIdentity {
            name: name.clone(),
            version: "1".into(),
            ..Default::default()
        },
        mlmodel.as_bytes(),
        &format,
        |f| (f == file).then(|| bytes.clone()),
    )
    .unwrap_or_else(|e| panic!("{name}: {e}"));
    model.warm_up().unwrap();
    assert_eq!(model.flavor, library.flavor());
    let classifier = model.is_classifier();
    let engine = Engine::builder("models:/m/1", Arc::new(model)).build();

    // /invocations (dataframe_split): MLflow's pyfunc output, row by row.
    let rows = data["rows"].as_array().unwrap();
    let body = json!({"dataframe_split": {"columns": data["columns"], "data": rows}});
    let (answer, _) = engine
        .invocations(None, body.to_string().as_bytes())
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let got = &answer["predictions"];
    let want = &expected["predict"];
    let mut exact = true;
    let diff = max_diff(got, want, &mut exact)
        .unwrap_or_else(|| panic!("{name}: /invocations answered {got}, Python {want}"));
    let mut worst = diff;
    let n = rows.len();
    if std::env::var_os("NATIVE_DEBUG").is_some() {
        eprintln!(
            "{name}: invocations diff {diff:e} exact {exact}; first {} vs {}",
            got[0], want[0]
        );
    }
    assert_eq!(got.as_array().unwrap().len(), n);

    // /predict/batch: a classifier's class and probability, a regressor's value.
    let instances: Vec<Value> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut m = serde_json::Map::new();
            for (c, v) in data["columns"]
                .as_array()
                .unwrap()
                .iter()
                .zip(r.as_array().unwrap())
            {
                m.insert(c.as_str().unwrap().into(), v.clone());
            }
            json!({"customer_id": format!("c{i}"), "features": m})
        })
        .collect();
    let batch = engine
        .predict_batch(json!({"instances": instances}).to_string().as_bytes())
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let wrapper = !expected["model_class"]
        .as_str()
        .unwrap()
        .ends_with("Booster");
    assert_eq!(batch.predictions.len(), n);
    for (i, p) in batch.predictions.iter().enumerate() {
        assert_eq!(p.customer_id.as_deref(), Some(format!("c{i}").as_str()));
        let py = &want[i];
        match (classifier, wrapper) {
            // A Booster's pyfunc output is the probability (or the class probabilities).
            (true, false) => {
                let probs: Vec<f64> = match py {
                    Value::Array(v) => v.iter().map(|x| x.as_f64().unwrap()).collect(),
                    v => vec![1.0 - v.as_f64().unwrap(), v.as_f64().unwrap()],
                };
                let mut label = 0;
                for (k, &q) in probs.iter().enumerate() {
                    if q > probs[label] {
                        label = k;
                    }
                }
                if probs.len() == 2 {
                    // p > 0.5, as the scikit-learn wrappers decide
                    label = usize::from(py.as_f64().unwrap() > 0.5);
                }
                assert_eq!(p.prediction, json!(label), "{name} row {i}");
                let want_p = if probs.len() == 2 {
                    probs[1]
                } else {
                    probs[label]
                };
                let d = (p.probability.unwrap() - want_p).abs();
                exact &= d == 0.0;
                worst = worst.max(d);
            }
            // A wrapper classifier's pyfunc output is the label.
            (true, true) => assert_eq!(p.prediction, *py, "{name} row {i}"),
            (false, _) => {
                let mut e = true;
                worst = worst.max(max_diff(&p.prediction, py, &mut e).unwrap());
                exact &= e;
            }
        }
    }

    // predict_proba (a wrapper classifier's own, or the Booster's class probabilities).
    if classifier {
        let body = json!({
            "dataframe_split": {"columns": data["columns"], "data": rows},
            "params": {"predict_method": "predict_proba"},
        });
        let (answer, _) = engine
            .invocations(None, body.to_string().as_bytes())
            .unwrap();
        let got = &answer["predictions"];
        let want: Value = match &expected["predict_proba"] {
            Value::Null => match &want.as_array().unwrap()[0] {
                Value::Array(_) => want.clone(),
                // a binary Booster: [1 - p, p], as its library's classifier computes it
                // (XGBoost in float32, LightGBM in float64)
                _ => Value::Array(
                    want.as_array()
                        .unwrap()
                        .iter()
                        .map(|p| {
                            let p = p.as_f64().unwrap();
                            let q = match library {
                                Library::XgBoost => f64::from(1.0 - p as f32),
                                Library::LightGbm => 1.0 - p,
                            };
                            json!([q, p])
                        })
                        .collect(),
                ),
            },
            proba => proba.clone(),
        };
        let d = max_diff(got, &want, &mut exact)
            .unwrap_or_else(|| panic!("{name}: predict_proba {got} vs {want}"));
        worst = worst.max(d);
    }
    Checked {
        name,
        rows: n,
        exact,
        max_diff: worst,
    }
}

#[test]
fn native_models_predict_as_the_python_libraries_on_every_row() {
    let dir = fixtures();
    let data = read_json(&dir.join("data.json"));
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".expected.json"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no models in {}", dir.display());
    let mut failed = Vec::new();
    for path in &paths {
        let c = check_model(&dir, path, &data);
        println!(
            "{:<28} {} rows  {}",
            c.name,
            c.rows,
            if c.exact {
                "bit-identical".to_string()
            } else {
                format!("max abs diff {:.3e}", c.max_diff)
            }
        );
        if !c.exact {
            failed.push(format!("{} (max abs diff {:e})", c.name, c.max_diff));
        }
    }
    println!("checked {} models", paths.len());
    assert!(failed.is_empty(), "not bit-identical: {failed:?}");
    if let Ok(n) = std::env::var("SLIPWAY_NATIVE_EXPECT_MODELS") {
        assert_eq!(paths.len(), n.parse::<usize>().unwrap(), "models checked");
    }
}

#[test]
fn sklearn_wrappers_pickled_by_the_lightgbm_flavor_are_left_to_python() {
    let mlmodel = "flavors:\n  lightgbm:\n    data: model.skops\n    model_class: lightgbm.sklearn.LGBMClassifier\n    \
                   serialization_format: skops\n  python_function:\n    loader_module: mlflow.lightgbm\n";
    match detect_format(mlmodel.as_bytes(), false) {
        Err(LoadError::Unsupported { flavors }) => {
            assert!(flavors.contains(&"lightgbm".to_string()), "{flavors:?}")
        }
        other => panic!("{other:?}"),
    }
    // an XGBoost class that is not scored natively (a ranker) likewise
    let mlmodel = "flavors:\n  xgboost:\n    data: model.ubj\n    model_class: xgboost.sklearn.XGBRanker\n    \
                   model_format: ubj\n";
    assert!(matches!(
        detect_format(mlmodel.as_bytes(), false),
        Err(LoadError::Unsupported { .. })
    ));
    // MLmodels from before mlflow 1.22 name no class: a Booster.
    let old = "flavors:\n  xgboost:\n    data: model.xgb\n    xgb_version: 1.5.0\n";
    assert_eq!(
        detect_format(old.as_bytes(), false).unwrap(),
        ModelFormat::Native {
            library: Library::XgBoost,
            file: "model.xgb".into(),
            model_class: "xgboost.core.Booster".into(),
        }
    );
}

fn load_err(library: &str, class: &str, file: &str, bytes: Vec<u8>, signature: &str) -> String {
    let mlmodel =
        format!("flavors:\n  {library}:\n    data: {file}\n    model_class: {class}\n{signature}");
    let format = detect_format(mlmodel.as_bytes(), false).unwrap();
    ServedModel::load(ModelIdentity::default(), mlmodel.as_bytes(), &format, |f| {
        (f == file).then(|| bytes.clone())
    })
    .unwrap_err()
    .to_string()
}

#[test]
fn what_cannot_be_scored_exactly_is_refused_at_load_naming_why() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/native/fixtures");
    let lgb = std::fs::read(dir.join("lgb_binary.lgb")).unwrap();
    let xgb = std::fs::read(dir.join("xgb_binary_json.json")).unwrap();
    let sig = |cols: &[(&str, &str)]| {
        let c: Vec<Value> = cols
            .iter()
            .map(|(n, t)| json!({"name": n, "type": t}))
            .collect();
        format!("signature:\n  inputs: '{}'\n", Value::Array(c))
    };
    // wrong column count
    let e = load_err(
        "lightgbm",
        "lightgbm.basic.Booster",
        "model.lgb",
        lgb.clone(),
        &sig(&[("a", "double")]),
    );
    assert!(
        e.contains("1 columns but the model takes 8 features"),
        "{e}"
    );
    // string columns
    let eight: Vec<(&str, &str)> = ["a", "b", "c", "d", "e", "f", "g", "h"]
        .iter()
        .map(|n| (*n, if *n == "e" { "string" } else { "double" }))
        .collect();
    let e = load_err(
        "lightgbm",
        "lightgbm.basic.Booster",
        "model.lgb",
        lgb.clone(),
        &sig(&eight),
    );
    assert!(e.contains("column `e` is a string"), "{e}");
    // linear trees, pandas categoricals
    let text = String::from_utf8(lgb.clone()).unwrap();
    let e = load_err(
        "lightgbm",
        "lightgbm.basic.Booster",
        "model.lgb",
        text.replacen("is_linear=0", "is_linear=1", 1).into_bytes(),
        "",
    );
    assert!(e.contains("linear trees"), "{e}");
    let e = load_err(
        "lightgbm",
        "lightgbm.basic.Booster",
        "model.lgb",
        text.replace("pandas_categorical:null", "pandas_categorical:[[\"a\"]]")
            .into_bytes(),
        "",
    );
    assert!(e.contains("pandas `category`"), "{e}");
    // XGBoost: an objective not served natively, a legacy binary file, garbage, string
    // categories, a wrapper class that does not fit the objective
    let json_text = String::from_utf8(xgb.clone()).unwrap();
    let e = load_err(
        "xgboost",
        "xgboost.core.Booster",
        "model.json",
        json_text
            .replace("\"binary:logistic\"", "\"binary:logitraw\"")
            .into_bytes(),
        "",
    );
    assert!(e.contains("binary:logitraw"), "{e}");
    let e = load_err(
        "xgboost",
        "xgboost.core.Booster",
        "model.xgb",
        b"binf\0\0\0\0".to_vec(),
        "",
    );
    assert!(e.contains("legacy binary format"), "{e}");
    let e = load_err(
        "xgboost",
        "xgboost.core.Booster",
        "model.ubj",
        b"{garbage".to_vec(),
        "",
    );
    assert!(e.contains("model.ubj"), "{e}");
    let e = load_err(
        "xgboost",
        "xgboost.core.Booster",
        "model.json",
        json_text
            .replace(
                "\"enc\":[]",
                "\"enc\":[{\"offsets\":[0,1],\"values\":[97],\"type\":0}]",
            )
            .into_bytes(),
        "",
    );
    assert!(e.contains("pandas `category`"), "{e}");
    let e = load_err(
        "xgboost",
        "xgboost.sklearn.XGBRegressor",
        "model.json",
        xgb.clone(),
        "",
    );
    assert!(
        e.contains("XGBRegressor with objective `binary:logistic`"),
        "{e}"
    );
    // names differing from the signature's (XGBoost checks them)
    let named = json_text.replacen(
        "\"feature_names\":[]",
        "\"feature_names\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\"]",
        1,
    );
    assert_ne!(named, json_text);
    let mut swapped = eight.clone();
    swapped.iter_mut().for_each(|c| c.1 = "double");
    swapped.swap(0, 1);
    let e = load_err(
        "xgboost",
        "xgboost.core.Booster",
        "model.json",
        named.clone().into_bytes(),
        &sig(&swapped),
    );
    assert!(e.contains("not the booster's feature names"), "{e}");
}

#[test]
fn a_value_beyond_float32_is_refused_with_422_for_xgboost() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/native/fixtures");
    let bytes = std::fs::read(dir.join("xgb_binary_ubj.ubj")).unwrap();
    let mlmodel = "flavors:\n  xgboost:\n    data: model.ubj\n    model_class: xgboost.core.Booster\n    model_format: ubj\n";
    let format = detect_format(mlmodel.as_bytes(), false).unwrap();
    let model = ServedModel::load(ModelIdentity::default(), mlmodel.as_bytes(), &format, |f| {
        (f == "model.ubj").then(|| bytes.clone())
    })
    .unwrap();
    // no signature: the booster's default names f0..f7, nullable doubles
    let names: Vec<String> = model.columns.iter().map(|c| c.name.clone()).collect();
    assert_eq!(names, ["f0", "f1", "f2", "f3", "f4", "f5", "f6", "f7"]);
    let engine = Engine::builder("models:/m/1", Arc::new(model)).build();
    let body =
        json!({"dataframe_split": {"columns": names, "data": [[1, 1e300, 1, 1, 1, 1, 1, 1]]}});
    let err = engine
        .invocations(None, body.to_string().as_bytes())
        .unwrap_err();
    assert_eq!(err.status(), 422, "{err}");
    assert!(err.to_string().contains("`f1` is 1e300"), "{err}");
}
