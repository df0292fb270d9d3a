//! GBM wrapper tests on a seeded synthetic dataset generated here.

use std::ops::ControlFlow;

use slipway_train::gbm::{GbmModel, GbmParams, GbmTrainer, Matrix, Model, Task, TrainError};
use slipway_train::metrics::{r2, roc_auc};

const N_FEATURES: usize = 10;

// References for the 4,000/1,000 splits below, computed once with
// scikit-learn 1.9.1 on the same rows (a Python replica of `synthetic`,
// NaN imputed as 0 for GradientBoosting*, which rejects NaN), all with
// `random_state=0` and defaults: GradientBoostingClassifier test AUC 0.8271
// (HistGradientBoostingClassifier 0.8249, LogisticRegression 0.8330, the
// true logit 0.8620); GradientBoostingRegressor test r2 0.7774 (true mean
// 0.9281). The bar is the decision record's: within 0.005 of sklearn's GBM.
const SKLEARN_GBC_AUC: f64 = 0.8271;
const SKLEARN_GBR_R2: f64 = 0.7774;

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

    /// Uniform in [0, 1).
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

struct Data {
    x: Vec<f64>,
    /// The ground-truth logit (binary) or mean (regression) per row.
    truth: Vec<f64>,
    y: Vec<f64>,
    n_rows: usize,
}

impl Data {
    fn matrix(&self) -> Matrix<'_> {
        Matrix::new(&self.x, self.n_rows, N_FEATURES).unwrap()
    }

    /// Rows `range` as their own dataset.
    fn rows(&self, range: std::ops::Range<usize>) -> Data {
        Data {
            x: self.x[range.start * N_FEATURES..range.end * N_FEATURES].to_vec(),
            truth: self.truth[range.clone()].to_vec(),
            y: self.y[range.clone()].to_vec(),
            n_rows: range.len(),
        }
    }
}

/// 10 standard normal features; the signal is linear in 6 of them plus an
/// interaction and a threshold effect. Feature 9 is 10% missing (NaN).
fn synthetic(task: Task, n_rows: usize, seed: u64) -> Data {
    let mut rng = Rng(seed);
    let weights = [1.2, -0.8, 0.6, 0.5, -0.4, 0.3, 0.0, 0.0, 0.0, 0.0];
    let (mut x, mut truth, mut y) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..n_rows {
        let row: Vec<f64> = (0..N_FEATURES).map(|_| rng.normal()).collect();
        let mut signal: f64 = row.iter().zip(weights).map(|(v, w)| v * w).sum();
        signal += 0.7 * row[6] * row[7];
        if row[8] > 0.5 {
            signal += 0.8;
        }
        let label = match task {
            Task::Binary => {
                let p = 1.0 / (1.0 + (-signal).exp());
                if rng.uniform() < p {
                    1.0
                } else {
                    0.0
                }
            }
            Task::Regression => signal + 0.5 * rng.normal(),
        };
        let mut row = row;
        if rng.uniform() < 0.1 {
            row[9] = f64::NAN;
        }
        x.extend(row);
        truth.push(signal);
        y.push(label);
    }
    Data {
        x,
        truth,
        y,
        n_rows,
    }
}

fn binary_split() -> (Data, Data) {
    let data = synthetic(Task::Binary, 5_000, 42);
    (data.rows(0..4_000), data.rows(4_000..5_000))
}

#[test]
fn binary_defaults_reach_a_good_test_auc() {
    let (train, test) = binary_split();
    let model = GbmTrainer::new(GbmParams::default())
        .train(train.matrix(), &train.y)
        .unwrap();
    assert_eq!(model.task(), Task::Binary);
    assert_eq!(model.num_rounds(), 100);
    let proba = model.predict_proba(test.matrix()).unwrap();
    assert!(proba.iter().all(|p| (0.0..=1.0).contains(p)));
    let auc = roc_auc(&test.y, &proba).unwrap();
    // The best any model can do here: rank by the true logit.
    let oracle = roc_auc(&test.y, &test.truth).unwrap();
    eprintln!("test AUC {auc:.4}, oracle {oracle:.4}");
    assert!(
        auc >= SKLEARN_GBC_AUC - 0.005,
        "test AUC {auc} vs scikit-learn {SKLEARN_GBC_AUC}"
    );
    assert!(auc < oracle, "test AUC {auc} above the oracle {oracle}");
}

#[test]
fn regression_fits() {
    let data = synthetic(Task::Regression, 5_000, 7);
    let (train, test) = (data.rows(0..4_000), data.rows(4_000..5_000));
    let params = GbmParams::from_json(r#"{"task": "regression"}"#).unwrap();
    let model = GbmTrainer::new(params)
        .train(train.matrix(), &train.y)
        .unwrap();
    assert_eq!(model.task(), Task::Regression);
    let pred = model.predict_proba(test.matrix()).unwrap();
    let score = r2(&test.y, &pred).unwrap();
    let oracle = r2(&test.y, &test.truth).unwrap();
    eprintln!("test r2 {score:.4}, oracle {oracle:.4}");
    assert!(
        score >= SKLEARN_GBR_R2 - 0.005,
        "test r2 {score} vs scikit-learn {SKLEARN_GBR_R2}"
    );
    assert!(score < oracle, "test r2 {score} above the oracle {oracle}");
    let loaded = GbmModel::load(&model.save().unwrap()).unwrap();
    assert_eq!(loaded.task(), Task::Regression);
}

#[test]
fn same_seed_gives_identical_bytes() {
    let (train, _) = binary_split();
    let params = GbmParams {
        subsample: 0.8,
        colsample_bynode: 0.8,
        seed: 3,
        ..GbmParams::default()
    };
    let a = GbmTrainer::new(params.clone())
        .train(train.matrix(), &train.y)
        .unwrap();
    let b = GbmTrainer::new(GbmParams {
        threads: Some(1),
        ..params
    })
    .train(train.matrix(), &train.y)
    .unwrap();
    assert_eq!(a.save().unwrap(), b.save().unwrap());
}

#[test]
fn save_load_round_trip_is_bit_identical() {
    let (train, test) = binary_split();
    let model = GbmTrainer::new(GbmParams::default())
        .train(train.matrix(), &train.y)
        .unwrap();
    let bytes = model.save().unwrap();
    let loaded = GbmModel::load(&bytes).unwrap();
    assert_eq!(loaded.task(), Task::Binary);
    assert_eq!(loaded.n_features(), N_FEATURES);
    let before = model.predict_proba(test.matrix()).unwrap();
    let after = loaded.predict_proba(test.matrix()).unwrap();
    let bits = |v: &[f64]| v.iter().map(|p| p.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&before), bits(&after));
    assert_eq!(loaded.save().unwrap(), bytes);
    assert!(GbmModel::load(&bytes[..bytes.len() / 2]).is_err());
}

#[test]
fn nan_inputs_are_missing_values() {
    let (train, _) = binary_split();
    assert!(train.x.iter().any(|v| v.is_nan()));
    let model = GbmTrainer::new(GbmParams {
        num_rounds: 10,
        ..GbmParams::default()
    })
    .train(train.matrix(), &train.y)
    .unwrap();
    let all_missing = vec![f64::NAN; N_FEATURES];
    let p = model
        .predict_proba(Matrix::new(&all_missing, 1, N_FEATURES).unwrap())
        .unwrap();
    assert!(p[0].is_finite() && (0.0..=1.0).contains(&p[0]));
    let infinite = vec![f64::INFINITY; N_FEATURES];
    assert!(matches!(
        model.predict_proba(Matrix::new(&infinite, 1, N_FEATURES).unwrap()),
        Err(TrainError::FeatureValue {
            row: 0,
            feature: 0,
            ..
        })
    ));
}

#[test]
fn round_hook_sees_every_round_and_can_stop() {
    let (train, _) = binary_split();
    let params = GbmParams {
        num_rounds: 20,
        ..GbmParams::default()
    };
    let mut seen = Vec::new();
    let observed = GbmTrainer::new(params.clone())
        .on_round(|r| {
            seen.push((r.completed, r.total));
            ControlFlow::Continue(())
        })
        .train(train.matrix(), &train.y)
        .unwrap();
    assert_eq!(seen, (1..=20).map(|i| (i, 20)).collect::<Vec<_>>());
    let plain = GbmTrainer::new(params.clone())
        .train(train.matrix(), &train.y)
        .unwrap();
    assert_eq!(observed.save().unwrap(), plain.save().unwrap());

    let stopped = GbmTrainer::new(params)
        .on_round(|r| {
            if r.completed == 5 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .train(train.matrix(), &train.y)
        .unwrap();
    assert_eq!(stopped.num_rounds(), 5);
}

#[test]
fn feature_importance_finds_the_signal() {
    let (train, _) = binary_split();
    let model = GbmTrainer::new(GbmParams::default())
        .train(train.matrix(), &train.y)
        .unwrap();
    let importance = model.feature_importance();
    assert_eq!(importance.len(), N_FEATURES);
    assert!(importance.iter().all(|g| *g >= 0.0));
    // Feature 0 has the largest weight; feature 9 is noise.
    assert!(importance[0] > importance[9], "{importance:?}");
}

#[test]
fn unknown_param_key_is_an_error_naming_it() {
    let err = GbmParams::from_json(r#"{"max_dept": 4}"#).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, TrainError::Params(_)));
    assert!(message.contains("unknown field `max_dept`"), "{message}");
    let p = GbmParams::from_json(r#"{"eta": 0.3, "max_depth": 4}"#).unwrap();
    assert_eq!((p.learning_rate, p.max_depth), (0.3, 4));
    assert_eq!(GbmParams::from_json("{}").unwrap(), GbmParams::default());
}

#[test]
fn invalid_inputs_are_errors() {
    let (train, _) = binary_split();
    assert!(matches!(
        Matrix::new(&train.x, 3, N_FEATURES),
        Err(TrainError::Shape { .. })
    ));
    let mut y = train.y.clone();
    y[5] = 2.0;
    assert_eq!(
        GbmTrainer::new(GbmParams::default())
            .train(train.matrix(), &y)
            .unwrap_err(),
        TrainError::NonBinaryLabel { row: 5, value: 2.0 }
    );
    assert!(matches!(
        GbmTrainer::new(GbmParams::default()).train(train.matrix(), &y[..10]),
        Err(TrainError::LabelCount { .. })
    ));
    let mut y = train.y.clone();
    y[7] = 1e300;
    let regression = GbmParams {
        task: Task::Regression,
        ..GbmParams::default()
    };
    assert_eq!(
        GbmTrainer::new(regression)
            .train(train.matrix(), &y)
            .unwrap_err(),
        TrainError::NonFiniteLabel {
            row: 7,
            value: 1e300
        }
    );
    let bad = GbmParams {
        max_depth: 0,
        ..GbmParams::default()
    };
    assert!(matches!(
        GbmTrainer::new(bad).train(train.matrix(), &train.y),
        Err(TrainError::ParamValue(_))
    ));
    let model = GbmTrainer::new(GbmParams {
        num_rounds: 2,
        ..GbmParams::default()
    })
    .train(train.matrix(), &train.y)
    .unwrap();
    assert_eq!(
        model
            .predict_proba(Matrix::new(&[0.0; 3], 1, 3).unwrap())
            .unwrap_err(),
        TrainError::FeatureCount {
            expected: 10,
            actual: 3
        }
    );
}
