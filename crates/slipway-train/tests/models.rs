//! Every model type through the one entry point (`slipway_train::model`):
//! training, prediction, the saved container, params errors, categoricals,
//! and AUC on the generated churn data.

use std::ops::ControlFlow;
use std::time::Instant;

use arrow_array::{Array, Float64Array, Int32Array, RecordBatch, StringArray};
use serde_json::json;
use slipway_data::{generate, ChurnConfig};
use slipway_train::gbm::{Matrix, Model, RoundProgress, Task, TrainError};
use slipway_train::metrics::roc_auc;
use slipway_train::model::{train, FeatureKind, ModelSpec, ModelType, TrainedModel};

/// SplitMix64: a small seeded generator, enough for test data.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

const CARDINALITY: usize = 16;

struct Data {
    x: Vec<f64>,
    y: Vec<f64>,
    n_rows: usize,
    n_cols: usize,
}

impl Data {
    fn matrix(&self) -> Matrix<'_> {
        Matrix::new(&self.x, self.n_rows, self.n_cols).unwrap()
    }

    fn rows(&self, range: std::ops::Range<usize>) -> Data {
        Data {
            x: self.x[range.start * self.n_cols..range.end * self.n_cols].to_vec(),
            y: self.y[range.clone()].to_vec(),
            n_rows: range.len(),
            n_cols: self.n_cols,
        }
    }
}

fn kinds() -> Vec<FeatureKind> {
    vec![
        FeatureKind::Numeric,
        FeatureKind::Numeric,
        FeatureKind::Categorical {
            cardinality: CARDINALITY,
        },
        FeatureKind::Numeric,
    ]
}

/// Two informative numerics (one 10% NaN), a categorical whose effect is
/// not monotone in its code (a fixed shuffle of strong and weak levels, 5%
/// missing), and a noise column.
fn synthetic(task: Task, n_rows: usize, seed: u64) -> Data {
    let mut rng = Rng(seed);
    let level_effect: Vec<f64> = (0..CARDINALITY)
        .map(|c| if (c * 7) % 5 < 2 { 2.0 } else { -1.5 })
        .collect();
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for _ in 0..n_rows {
        let a = rng.normal();
        let b = rng.normal();
        let code = (rng.uniform() * CARDINALITY as f64).floor();
        let signal = 0.8 * a - 0.5 * b + level_effect[code as usize];
        y.push(match task {
            Task::Binary => f64::from(rng.uniform() < 1.0 / (1.0 + (-signal).exp())),
            Task::Regression => signal + 0.5 * rng.normal(),
        });
        let b = if rng.uniform() < 0.1 { f64::NAN } else { b };
        let code = if rng.uniform() < 0.05 { f64::NAN } else { code };
        x.extend([a, b, code, rng.normal()]);
    }
    Data {
        x,
        y,
        n_rows,
        n_cols: 4,
    }
}

fn spec(model_type: ModelType, params: serde_json::Value) -> ModelSpec {
    let serde_json::Value::Object(params) = params else {
        panic!("params must be an object")
    };
    ModelSpec { model_type, params }
}

/// Small settings per type, to keep the debug-build test fast.
fn small_spec(model_type: ModelType) -> ModelSpec {
    match model_type {
        ModelType::GbmClassifier | ModelType::GbmRegressor => spec(
            model_type,
            json!({"n_estimators": 30, "subsample": 0.8, "seed": 3}),
        ),
        ModelType::RandomForestClassifier | ModelType::RandomForestRegressor => spec(
            model_type,
            json!({"n_estimators": 20, "max_depth": 6, "seed": 3}),
        ),
        ModelType::LogisticRegression => spec(model_type, json!({"C": 0.5})),
    }
}

fn fit(spec: &ModelSpec, data: &Data) -> TrainedModel {
    train(spec, data.matrix(), &kinds(), &data.y, |_| {
        ControlFlow::Continue(())
    })
    .unwrap()
}

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|p| p.to_bits()).collect()
}

#[test]
fn every_model_type_trains_predicts_saves_and_loads() {
    for model_type in ModelType::ALL {
        let data = synthetic(model_type.task(), 1_500, 11);
        let (train_rows, test_rows) = (data.rows(0..1_200), data.rows(1_200..1_500));
        let spec = small_spec(model_type);
        spec.validate().unwrap();
        let model = fit(&spec, &train_rows);
        assert_eq!(model.model_type(), model_type);
        assert_eq!(model.task(), model_type.task());
        assert_eq!(model.n_features(), 4);
        assert_eq!(model.feature_kinds(), kinds().as_slice());
        let proba = model.predict_proba(test_rows.matrix()).unwrap();
        assert_eq!(proba.len(), 300);
        assert!(proba.iter().all(|p| p.is_finite()));
        if model_type.task() == Task::Binary {
            assert!(
                proba.iter().all(|p| (0.0..=1.0).contains(p)),
                "{model_type}"
            );
            let auc = roc_auc(&test_rows.y, &proba).unwrap();
            eprintln!("{model_type}: test AUC {auc:.4}");
            assert!(auc > 0.75, "{model_type}: AUC {auc}");
        }

        // Same seed, same data: the same bytes.
        let bytes = model.save().unwrap();
        assert_eq!(
            fit(&spec, &train_rows).save().unwrap(),
            bytes,
            "{model_type}"
        );
        assert_eq!(&bytes[..8], b"SLPWMODL");
        // Nor do they depend on the thread count.
        if model_type != ModelType::LogisticRegression {
            let mut one_thread = spec.clone();
            one_thread.params.insert("threads".into(), 1.into());
            assert_eq!(
                fit(&one_thread, &train_rows).save().unwrap(),
                bytes,
                "{model_type}"
            );
        }

        // Round trip: bit-identical predictions, identical bytes.
        let loaded = TrainedModel::load(&bytes).unwrap();
        assert_eq!(loaded.model_type(), model_type);
        assert_eq!(loaded.feature_kinds(), kinds().as_slice());
        let after = loaded.predict_proba(test_rows.matrix()).unwrap();
        assert_eq!(bits(&proba), bits(&after), "{model_type}");
        assert_eq!(loaded.save().unwrap(), bytes);
        // One row at a time gives the batch's bits.
        let one = loaded.predict_proba(test_rows.rows(7..8).matrix()).unwrap();
        assert_eq!(bits(&one), bits(&proba[7..8]), "{model_type}");

        let importance = model.feature_importance();
        assert_eq!(importance.len(), 4);
        assert!(importance.iter().all(|v| *v >= 0.0 && v.is_finite()));
        assert!(
            importance[0] > importance[3],
            "{model_type}: {importance:?}"
        );

        // Wrong feature count.
        assert_eq!(
            model
                .predict_proba(Matrix::new(&[0.0; 3], 1, 3).unwrap())
                .unwrap_err(),
            TrainError::FeatureCount {
                expected: 4,
                actual: 3
            }
        );
        // Missing and unseen categories, missing numerics: no error.
        let odd = [
            f64::NAN,
            f64::NAN,
            f64::NAN,
            f64::NAN, //
            0.1,
            0.2,
            99.0,
            0.0, //
            0.1,
            0.2,
            -1.0,
            0.0, //
            0.1,
            0.2,
            2.5,
            0.0, //
        ];
        let p = model
            .predict_proba(Matrix::new(&odd, 4, 4).unwrap())
            .unwrap();
        assert!(p.iter().all(|v| v.is_finite()), "{model_type}: {p:?}");
        // An unseen code predicts as missing.
        assert_eq!(p[1].to_bits(), {
            let missing = [0.1, 0.2, f64::NAN, 0.0];
            model
                .predict_proba(Matrix::new(&missing, 1, 4).unwrap())
                .unwrap()[0]
                .to_bits()
        });
    }
}

#[test]
fn load_rejects_garbage_and_truncation() {
    for garbage in [
        &b""[..],
        b"SLPWMODL",
        b"not a model at all, just some bytes",
    ] {
        assert!(matches!(
            TrainedModel::load(garbage),
            Err(TrainError::ModelBytes(_))
        ));
    }
    let data = synthetic(Task::Binary, 300, 1);
    let bytes = fit(&small_spec(ModelType::GbmClassifier), &data)
        .save()
        .unwrap();
    assert!(TrainedModel::load(&bytes[..bytes.len() - 1]).is_err());
    assert!(TrainedModel::load(&bytes[..40]).is_err());
    let mut extra = bytes.clone();
    extra.push(0);
    assert!(TrainedModel::load(&extra).is_err());
}

fn params_error(model_type: ModelType, params: serde_json::Value) -> String {
    let spec = spec(model_type, params);
    let err = spec.validate().unwrap_err();
    // The same error from every entry point that reads the params.
    assert_eq!(spec.total_rounds().unwrap_err(), err);
    assert_eq!(spec.effective_params().unwrap_err(), err);
    err.to_string()
}

#[test]
fn bad_params_name_the_key() {
    for model_type in ModelType::ALL {
        let message = params_error(model_type, json!({"max_dept": 4}));
        assert!(message.contains("`max_dept`"), "{message}");
    }
    let cases = [
        (
            ModelType::GbmClassifier,
            json!({"max_depth": "deep"}),
            "max_depth",
        ),
        (
            ModelType::GbmClassifier,
            json!({"subsample": 1.5}),
            "subsample",
        ),
        (
            ModelType::GbmClassifier,
            json!({"n_estimators": 0}),
            "num_rounds",
        ),
        (
            ModelType::GbmRegressor,
            json!({"learning_rate": -1}),
            "learning_rate",
        ),
        (ModelType::GbmRegressor, json!({"task": "binary"}), "task"),
        (
            ModelType::GbmClassifier,
            json!({"task": "multiclass"}),
            "task",
        ),
        (
            ModelType::RandomForestClassifier,
            json!({"max_features": "half"}),
            "max_features",
        ),
        (
            ModelType::RandomForestClassifier,
            json!({"max_features": 0.0}),
            "max_features",
        ),
        (
            ModelType::RandomForestRegressor,
            json!({"max_depth": 0}),
            "max_depth",
        ),
        (
            ModelType::RandomForestRegressor,
            json!({"n_estimators": -3}),
            "n_estimators",
        ),
        (ModelType::LogisticRegression, json!({"C": 0}), "C"),
        (
            ModelType::LogisticRegression,
            json!({"max_iter": 1.5}),
            "max_iter",
        ),
        (
            ModelType::LogisticRegression,
            json!({"learning_rate": 0.1}),
            "learning_rate",
        ),
    ];
    for (model_type, params, key) in cases {
        let message = params_error(model_type, params.clone());
        assert!(
            message.contains(&format!("`{key}`")),
            "{model_type} {params}: {message}"
        );
    }
    // A task that agrees with the type is tolerated.
    spec(ModelType::GbmRegressor, json!({"task": "regression"}))
        .validate()
        .unwrap();
}

#[test]
fn effective_params_and_rounds() {
    let gbm = spec(
        ModelType::GbmClassifier,
        json!({"n_estimators": 50, "learning_rate": 0.05, "max_depth": 4}),
    );
    assert_eq!(gbm.total_rounds().unwrap(), 50);
    let p = gbm.effective_params().unwrap();
    assert_eq!(p["num_rounds"], "50");
    assert_eq!(p["learning_rate"], "0.05");
    assert_eq!(p["max_depth"], "4");
    assert_eq!(p["lambda"], "1.0");
    assert_eq!(p["task"], "binary");
    assert!(!p.contains_key("threads"));
    let eta = spec(ModelType::GbmRegressor, json!({"eta": 0.3}));
    assert_eq!(eta.effective_params().unwrap()["learning_rate"], "0.3");
    assert_eq!(eta.effective_params().unwrap()["task"], "regression");

    let rf = spec(ModelType::RandomForestClassifier, json!({}));
    assert_eq!(rf.total_rounds().unwrap(), 100);
    let p = rf.effective_params().unwrap();
    assert_eq!(p["max_features"], "sqrt");
    assert_eq!(p["n_estimators"], "100");
    let p = spec(ModelType::RandomForestRegressor, json!({"max_depth": null}))
        .effective_params()
        .unwrap();
    assert_eq!(
        (p["max_features"].as_str(), p["max_depth"].as_str()),
        ("1", "none")
    );

    let lr = spec(ModelType::LogisticRegression, json!({}));
    assert_eq!(lr.total_rounds().unwrap(), 100);
    let p = lr.effective_params().unwrap();
    assert_eq!(p.keys().collect::<Vec<_>>(), ["C", "max_iter", "tol"]);
    assert_eq!(p["C"], "1");
}

#[test]
fn progress_is_reported_in_total_rounds_units() {
    let data = synthetic(Task::Binary, 400, 5);
    for model_type in [
        ModelType::GbmClassifier,
        ModelType::RandomForestClassifier,
        ModelType::LogisticRegression,
    ] {
        let spec = small_spec(model_type);
        let total = spec.total_rounds().unwrap();
        let mut seen: Vec<RoundProgress> = Vec::new();
        train(&spec, data.matrix(), &kinds(), &data.y, |r| {
            seen.push(r);
            ControlFlow::Continue(())
        })
        .unwrap();
        assert!(!seen.is_empty(), "{model_type}");
        assert!(seen
            .iter()
            .all(|r| r.total == total && r.completed <= total));
        match model_type {
            ModelType::GbmClassifier => assert_eq!(seen.len(), total),
            ModelType::RandomForestClassifier => {
                assert_eq!(
                    seen,
                    [RoundProgress {
                        completed: total,
                        total
                    }]
                )
            }
            _ => assert!(seen
                .windows(2)
                .all(|w| w[1].completed == w[0].completed + 1)),
        }
    }
}

#[test]
fn training_input_errors() {
    let data = synthetic(Task::Binary, 200, 2);
    let gbm = small_spec(ModelType::GbmClassifier);
    let go = |_: RoundProgress| ControlFlow::Continue(());
    assert_eq!(
        train(&gbm, data.matrix(), &kinds()[..3], &data.y, go).unwrap_err(),
        TrainError::FeatureKinds {
            kinds: 3,
            n_cols: 4
        }
    );
    let mut x = data.x.clone();
    x[4 * 5 + 2] = 16.0;
    let bad_code = Matrix::new(&x, 200, 4).unwrap();
    for model_type in [ModelType::GbmClassifier, ModelType::LogisticRegression] {
        assert_eq!(
            train(&small_spec(model_type), bad_code, &kinds(), &data.y, go).unwrap_err(),
            TrainError::CategoryCode {
                row: 5,
                feature: 2,
                value: 16.0,
                cardinality: CARDINALITY
            }
        );
    }
    let wide = [FeatureKind::Categorical {
        cardinality: 1 << 21,
    }];
    let codes = [0.0, 1.0];
    assert!(matches!(
        train(
            &small_spec(ModelType::LogisticRegression),
            Matrix::new(&codes, 2, 1).unwrap(),
            &wide,
            &[0.0, 1.0],
            go
        ),
        Err(TrainError::TooManyWeights { .. })
    ));
    let mut y = data.y.clone();
    y[3] = 0.5;
    for model_type in [
        ModelType::LogisticRegression,
        ModelType::RandomForestClassifier,
    ] {
        assert_eq!(
            train(&small_spec(model_type), data.matrix(), &kinds(), &y, go).unwrap_err(),
            TrainError::NonBinaryLabel { row: 3, value: 0.5 }
        );
    }
}

/// AUC of a depth-2, 30-round GBM with the categorical column native or as
/// a plain number.
fn categorical_vs_numeric_auc() -> (f64, f64) {
    let data = synthetic(Task::Binary, 3_000, 21);
    let (train_rows, test_rows) = (data.rows(0..2_000), data.rows(2_000..3_000));
    let spec = spec(
        ModelType::GbmClassifier,
        json!({"n_estimators": 30, "max_depth": 2, "learning_rate": 0.3}),
    );
    let auc = |kinds: &[FeatureKind]| {
        let model = train(&spec, train_rows.matrix(), kinds, &train_rows.y, |_| {
            ControlFlow::Continue(())
        })
        .unwrap();
        roc_auc(
            &test_rows.y,
            &model.predict_proba(test_rows.matrix()).unwrap(),
        )
        .unwrap()
    };
    (auc(&kinds()), auc(&[FeatureKind::Numeric; 4]))
}

#[test]
fn native_categoricals_learn_a_non_monotone_effect() {
    let (categorical, numeric) = categorical_vs_numeric_auc();
    eprintln!("categorical AUC {categorical:.4}, as a number {numeric:.4}");
    assert!(
        categorical > numeric + 0.01,
        "categorical {categorical} vs numeric {numeric}"
    );
}

/// The churn training table as a matrix: plan, region and contract as
/// categorical codes (in the generator's level order), the rest numeric.
fn churn(customers: u64, seed: u64) -> (Data, Vec<FeatureKind>) {
    let dataset = generate(&ChurnConfig {
        customers,
        seed,
        ..ChurnConfig::default()
    })
    .unwrap();
    let table: &RecordBatch = &dataset.training;
    let levels = [
        ("plan", &slipway_data::churn::PLANS[..]),
        ("region", &slipway_data::churn::REGIONS[..]),
        ("contract", &slipway_data::churn::CONTRACTS[..]),
    ];
    let mut columns: Vec<Vec<f64>> = Vec::new();
    let mut kinds = Vec::new();
    let mut labels = Vec::new();
    for (field, column) in table.schema().fields().iter().zip(table.columns()) {
        let name = field.name().as_str();
        let any = column.as_any();
        let values: Vec<f64> = if let Some(a) = any.downcast_ref::<Int32Array>() {
            a.iter().map(|v| v.map_or(f64::NAN, f64::from)).collect()
        } else if let Some(a) = any.downcast_ref::<Float64Array>() {
            a.iter().map(|v| v.unwrap_or(f64::NAN)).collect()
        } else if let Some(a) = any.downcast_ref::<StringArray>() {
            let (_, names) = levels.iter().find(|(n, _)| *n == name).unwrap();
            kinds.push(FeatureKind::Categorical {
                cardinality: names.len(),
            });
            columns.push(
                a.iter()
                    .map(|v| names.iter().position(|n| Some(*n) == v).unwrap() as f64)
                    .collect(),
            );
            continue;
        } else {
            continue; // customer_id
        };
        if name == "churn" {
            labels = values;
        } else {
            kinds.push(FeatureKind::Numeric);
            columns.push(values);
        }
    }
    let n_rows = labels.len();
    let n_cols = columns.len();
    let x = (0..n_rows)
        .flat_map(|i| columns.iter().map(move |c| c[i]).collect::<Vec<_>>())
        .collect();
    (
        Data {
            x,
            y: labels,
            n_rows,
            n_cols,
        },
        kinds,
    )
}

fn churn_auc(spec: &ModelSpec, train_rows: &Data, test_rows: &Data, kinds: &[FeatureKind]) -> f64 {
    let model = train(spec, train_rows.matrix(), kinds, &train_rows.y, |_| {
        ControlFlow::Continue(())
    })
    .unwrap();
    roc_auc(
        &test_rows.y,
        &model.predict_proba(test_rows.matrix()).unwrap(),
    )
    .unwrap()
}

#[test]
fn forest_and_logistic_are_close_to_the_gbm_on_churn() {
    let (data, kinds) = churn(3_000, 42);
    let (train_rows, test_rows) = (data.rows(0..2_000), data.rows(2_000..3_000));
    let gbm = churn_auc(
        &spec(ModelType::GbmClassifier, json!({})),
        &train_rows,
        &test_rows,
        &kinds,
    );
    let forest = churn_auc(
        &spec(
            ModelType::RandomForestClassifier,
            json!({"n_estimators": 50}),
        ),
        &train_rows,
        &test_rows,
        &kinds,
    );
    let logistic = churn_auc(
        &spec(ModelType::LogisticRegression, json!({})),
        &train_rows,
        &test_rows,
        &kinds,
    );
    eprintln!("churn test AUC: gbm {gbm:.4}, forest {forest:.4}, logistic {logistic:.4}");
    assert!(forest > gbm - 0.03, "forest {forest} vs gbm {gbm}");
    assert!(logistic > gbm - 0.05, "logistic {logistic} vs gbm {gbm}");
}

/// The measurement behind the forest and LR defaults (run by hand, release):
/// `cargo test --release -p slipway-train --test models -- --ignored --nocapture`
#[test]
#[ignore]
fn measure_defaults_on_churn() {
    let customers: u64 = std::env::var("CHURN_CUSTOMERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(125_000);
    let seed = std::env::var("CHURN_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(42);
    let (data, kinds) = churn(customers, seed);
    let cut = data.n_rows * 4 / 5;
    let (train_rows, test_rows) = (data.rows(0..cut), data.rows(cut..data.n_rows));
    eprintln!(
        "churn {} train / {} test rows, {} features, positive rate {:.3}",
        train_rows.n_rows,
        test_rows.n_rows,
        data.n_cols,
        data.y.iter().sum::<f64>() / data.n_rows as f64
    );
    let configs = [
        (ModelType::GbmClassifier, json!({})),
        (ModelType::RandomForestClassifier, json!({"max_depth": 6})),
        (ModelType::RandomForestClassifier, json!({"max_depth": 8})),
        (ModelType::RandomForestClassifier, json!({})),
        (ModelType::RandomForestClassifier, json!({"max_depth": 12})),
        (ModelType::RandomForestClassifier, json!({"max_depth": 16})),
        (
            ModelType::RandomForestClassifier,
            json!({"max_depth": null}),
        ),
        (ModelType::RandomForestClassifier, json!({"subsample": 0.8})),
        (
            ModelType::RandomForestClassifier,
            json!({"min_child_weight": 1.0}),
        ),
        (
            ModelType::RandomForestClassifier,
            json!({"max_features": 0.5}),
        ),
        (ModelType::LogisticRegression, json!({})),
        (
            ModelType::LogisticRegression,
            json!({"tol": 1e-8, "max_iter": 1000}),
        ),
    ];
    for (model_type, params) in configs {
        let spec = spec(model_type, params.clone());
        let start = Instant::now();
        let model = train(&spec, train_rows.matrix(), &kinds, &train_rows.y, |_| {
            ControlFlow::Continue(())
        })
        .unwrap();
        let fit = start.elapsed().as_secs_f64();
        let auc = roc_auc(
            &test_rows.y,
            &model.predict_proba(test_rows.matrix()).unwrap(),
        )
        .unwrap();
        let row = test_rows.rows(0..1);
        let start = Instant::now();
        for _ in 0..10_000 {
            std::hint::black_box(model.predict_proba(row.matrix()).unwrap());
        }
        let per_row = start.elapsed().as_secs_f64() / 10_000.0 * 1e6;
        eprintln!(
            "{model_type} {params}: AUC {auc:.4}, fit {fit:.2} s wall, 1-row predict {per_row:.2} us, {} KB",
            model.save().unwrap().len() / 1024
        );
    }
}
