//! Random forests on the GBM engine, in XGBoost's documented random-forest
//! mode: one boosting round of `n_estimators` parallel trees, learning rate 1
//! (the engine shrinks each tree by `1 / n_estimators`, so the forest is the
//! average of its trees), a row sample per tree, a column sample per node,
//! deep trees and no leaf regularization.
//!
//! Differences from scikit-learn's forests, by design of the engine: rows are
//! subsampled without replacement (`subsample`, default 0.632: the expected
//! share of distinct rows in a bootstrap), splits are searched over
//! histograms (256 bins), and a classifier averages each tree's one Newton
//! step in log-odds from the base rate. With `lambda = 0` a leaf's step is
//! linear in its positive share, so the averaged margin ranks rows as the
//! average of the trees' leaf shares does.
//!
//! Progress: the forest is a single engine round, so the round hook is
//! called once, at the end, with `completed == total == n_estimators`.

use std::num::NonZeroUsize;
use std::ops::ControlFlow;

use hessboost::prelude::{Objective, RegLoss, TrainingParams, TreeMethod};
use serde::{Deserialize, Serialize};

use crate::gbm::{
    check_fraction, check_min, fit, param_error, GbmModel, Matrix, RoundProgress, Task, TrainError,
};
use crate::model::FeatureKind;

/// How many features each split considers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MaxFeatures {
    /// `"sqrt"` (floor of the square root of the feature count, at least 1,
    /// as scikit-learn), `"log2"`, or `"all"`.
    Rule(MaxFeaturesRule),
    /// A fraction in (0, 1] of the features.
    Fraction(f64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaxFeaturesRule {
    Sqrt,
    Log2,
    All,
}

impl MaxFeatures {
    /// The engine's `colsample_bynode` for `n_features` columns. The engine
    /// keeps `floor(ratio * n)` columns (in `f32`), so the ratio is aimed at
    /// the middle of the wanted count to survive rounding.
    fn ratio(self, n_features: usize) -> f64 {
        let n = n_features as f64;
        let count = match self {
            MaxFeatures::Fraction(f) => return f,
            MaxFeatures::Rule(MaxFeaturesRule::All) => return 1.0,
            MaxFeatures::Rule(MaxFeaturesRule::Sqrt) => n.sqrt().floor(),
            MaxFeatures::Rule(MaxFeaturesRule::Log2) => n.log2().floor(),
        }
        .max(1.0);
        ((count + 0.5) / n).min(1.0)
    }

    fn render(self) -> String {
        match self {
            MaxFeatures::Fraction(f) => f.to_string(),
            MaxFeatures::Rule(MaxFeaturesRule::Sqrt) => "sqrt".into(),
            MaxFeatures::Rule(MaxFeaturesRule::Log2) => "log2".into(),
            MaxFeatures::Rule(MaxFeaturesRule::All) => "all".into(),
        }
    }
}

/// Random-forest parameters; unknown keys are refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForestParams {
    /// Trees in the forest.
    #[serde(default = "default_trees")]
    pub n_estimators: usize,
    /// Depth limit; `null` is none (growth stops at pure or light nodes).
    #[serde(default = "default_depth")]
    pub max_depth: Option<usize>,
    /// Features considered per split; default `"sqrt"` for classification
    /// and `1.0` for regression (scikit-learn's defaults).
    #[serde(default)]
    pub max_features: Option<MaxFeatures>,
    /// Share of rows each tree is grown on (drawn without replacement).
    #[serde(default = "default_subsample")]
    pub subsample: f64,
    /// Minimum hessian sum in a leaf: rows for regression, rows times
    /// p(1-p) at the base rate for classification.
    #[serde(default = "default_min_child_weight")]
    pub min_child_weight: f64,
    #[serde(default)]
    pub seed: u64,
    /// Worker threads; `None` uses every core. The model does not depend on
    /// the thread count.
    #[serde(default)]
    pub threads: Option<usize>,
}

fn default_trees() -> usize {
    100
}
fn default_depth() -> Option<usize> {
    Some(DEFAULT_MAX_DEPTH)
}
fn default_subsample() -> f64 {
    0.632
}
fn default_min_child_weight() -> f64 {
    DEFAULT_MIN_CHILD_WEIGHT
}

/// Default depth limit. Measured on the generated churn data (100k training
/// rows, 12 features, 25k test rows, data seeds 42 and 7, release, 2 threads;
/// `measure_defaults_on_churn` in `tests/models.rs`), test AUC / fit wall /
/// 1-row predict / model size: depth 6 0.799-0.802 / 0.4 s / 4 us / 0.13 MB;
/// 8 0.802-0.805 / 0.5 s / 6 us / 0.45 MB; 10 0.804-0.805 / 0.85 s / 8-9 us /
/// 1.3 MB; 12 0.803-0.804 / 1.35 s / 10-11 us / 3 MB; 16 0.797 / 3.6 s /
/// 13-15 us / 9 MB; unlimited 0.785-0.787 / 7.5 s / 17-19 us / 21 MB. The
/// GBM defaults gave 0.807-0.808 in 0.24 s. Depth 10 is the best or tied
/// best, and unlimited depth overfits these noisy labels.
pub const DEFAULT_MAX_DEPTH: usize = 10;
/// Small enough that a leaf may hold a few rows, as scikit-learn's
/// `min_samples_leaf = 1` allows, whatever the class balance (a row weighs
/// p(1-p) at the base rate), yet no empty-hessian leaf. `1.0` measured the
/// same on churn (+0.0005 AUC) but would need 100 rows per leaf at a 1%
/// positive rate.
pub const DEFAULT_MIN_CHILD_WEIGHT: f64 = 0.01;

impl Default for ForestParams {
    fn default() -> Self {
        ForestParams {
            n_estimators: default_trees(),
            max_depth: default_depth(),
            max_features: None,
            subsample: default_subsample(),
            min_child_weight: default_min_child_weight(),
            seed: 0,
            threads: None,
        }
    }
}

impl ForestParams {
    fn max_features(&self, task: Task) -> MaxFeatures {
        self.max_features.unwrap_or(match task {
            Task::Binary => MaxFeatures::Rule(MaxFeaturesRule::Sqrt),
            Task::Regression => MaxFeatures::Fraction(1.0),
        })
    }

    pub(crate) fn check(&self, task: Task) -> Result<(), TrainError> {
        check_min("n_estimators", self.n_estimators as f64, 1.0)?;
        if self.n_estimators > 65_536 {
            return Err(param_error("n_estimators", "must be at most 65536"));
        }
        if self.max_depth == Some(0) {
            return Err(param_error(
                "max_depth",
                "must be at least 1 (or null for no limit)",
            ));
        }
        if let MaxFeatures::Fraction(f) = self.max_features(task) {
            check_fraction("max_features", f)?;
        }
        check_fraction("subsample", self.subsample)?;
        check_min("min_child_weight", self.min_child_weight, 0.0)?;
        if self.threads == Some(0) {
            return Err(param_error("threads", "must be at least 1"));
        }
        self.engine_params(task, 1).map(|_| ())
    }

    /// Every effective parameter but `threads` (the model does not depend on it).
    pub(crate) fn effective(&self, task: Task) -> Vec<(String, String)> {
        vec![
            ("n_estimators".into(), self.n_estimators.to_string()),
            (
                "max_depth".into(),
                self.max_depth.map_or("none".into(), |d| d.to_string()),
            ),
            ("max_features".into(), self.max_features(task).render()),
            ("subsample".into(), self.subsample.to_string()),
            ("min_child_weight".into(), self.min_child_weight.to_string()),
            ("seed".into(), self.seed.to_string()),
        ]
    }

    fn engine_params(&self, task: Task, n_features: usize) -> Result<TrainingParams, TrainError> {
        let objective = match task {
            Task::Binary => Objective::BinaryLogistic(RegLoss::default()),
            Task::Regression => Objective::SquaredError(RegLoss::default()),
        };
        let mut builder = TrainingParams::builder()
            .objective(objective)
            .tree_method(TreeMethod::Hist)
            .num_parallel_tree(self.n_estimators)
            .eta(1.0)
            .lambda(0.0)
            .gamma(0.0)
            .max_bin(256)
            .min_child_weight(self.min_child_weight)
            .subsample(self.subsample)
            .colsample_bynode(self.max_features(task).ratio(n_features))
            .seed(self.seed);
        builder = match self.max_depth {
            Some(depth) => builder.max_depth(depth),
            None => builder.unlimited_depth(),
        };
        if let Some(threads) = self.threads.and_then(NonZeroUsize::new) {
            builder = builder.nthread(threads.get());
        }
        builder
            .build()
            .map_err(|e| TrainError::ParamValue(e.to_string()))
    }
}

/// Grows the forest; `on_round` is called once at the end (see the module
/// docs).
pub(crate) fn train<'a>(
    params: &ForestParams,
    task: Task,
    features: Matrix<'_>,
    kinds: &[FeatureKind],
    labels: &[f64],
    mut on_round: impl FnMut(RoundProgress) -> ControlFlow<()> + Send + 'a,
) -> Result<GbmModel, TrainError> {
    params.check(task)?;
    let engine_params = params.engine_params(task, features.n_cols())?;
    let total = params.n_estimators;
    let hook = Box::new(move |_round: usize| {
        on_round(RoundProgress {
            completed: total,
            total,
        })
    });
    fit(
        &engine_params,
        1,
        task,
        features,
        Some(kinds),
        labels,
        Some(hook),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_features_ratio_survives_the_engines_floor() {
        for n in 1..200usize {
            let ratio = MaxFeatures::Rule(MaxFeaturesRule::Sqrt).ratio(n) as f32;
            let kept = ((ratio * n as f32) as usize).clamp(1, n);
            assert_eq!(kept, ((n as f64).sqrt().floor() as usize).max(1), "n={n}");
        }
    }
}
