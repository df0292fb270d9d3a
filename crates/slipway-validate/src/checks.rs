//! The checks, one function per family. Each takes plain numbers gathered by
//! the caller and returns [`CheckResult`]s; a family that is not configured
//! returns no result at all (the report lists what was checked), and one that
//! is configured but cannot run says why in a single SKIP.
//!
//! # Comparisons
//!
//! Every threshold comparison allows a relative tolerance of [`REL_TOL`]
//! (1e-12 of the larger magnitude): a value exactly at a threshold PASSes, and
//! a value that differs from a threshold only by floating-point noise (say
//! `0.83 - 0.02` against `0.81`) does not flip to WARN or FAIL.
//!
//! # Warn margins
//!
//! A value on the failing side of a bound but within `warn_margin` of it
//! (relative to `|threshold|`, so negative thresholds behave) WARNs, as the
//! guide's "within 5%": for `min`, `actual >= min - margin * |min|`; for
//! `max`, `actual <= max + margin * |max|`.

use crate::config::{
    Bound, SliceConfig, ValidationConfig, DEFAULT_REGRESSION_METRICS, DEFAULT_REGRESSOR_METRICS,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use slipway_data::profile::{quantile_psi, DatasetProfile, ProfileKind, PSI_EPS};
use slipway_data::DataError;
use slipway_train::dataset::{ColumnType, FeatureColumn};
use slipway_train::metrics::{self, MetricError};
use std::collections::BTreeMap;

/// Relative tolerance of threshold comparisons (see the module docs).
pub const REL_TOL: f64 = 1e-12;

/// How the PSI bins were smoothed, stated in every drift check's details.
pub const PSI_SMOOTHING: &str =
    "bin shares floored at 1e-4 in both the reference and the current frame before the PSI sum";

/// Label threshold on positive-class scores for accuracy, precision, recall
/// and f1 in slice checks: the one `slipway train` evaluates with.
pub const LABEL_THRESHOLD: f64 = 0.5;

/// Outcome of one check. The order is by severity among PASS, WARN, FAIL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Pass,
    Warn,
    Fail,
    Skip,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One check's result: what was measured, against what, and a one-line
/// message in the guide's style.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// Dotted name, e.g. `performance.accuracy`, `drift.psi.tenure_days`.
    pub name: String,
    pub status: Status,
    pub actual: Option<f64>,
    pub threshold: Option<f64>,
    /// One line.
    pub message: String,
    /// Everything else worth keeping (counts, bins, both percentiles).
    pub details: Value,
}

impl CheckResult {
    fn new(
        name: impl Into<String>,
        status: Status,
        actual: Option<f64>,
        threshold: Option<f64>,
        message: impl Into<String>,
        details: Value,
    ) -> CheckResult {
        CheckResult {
            name: name.into(),
            status,
            actual,
            threshold,
            message: message.into().replace(['\n', '\r'], " "),
            details,
        }
    }
}

/// `a <= b`, allowing [`REL_TOL`] of the larger magnitude. False for NaN.
pub fn approx_le(a: f64, b: f64) -> bool {
    a <= b || (a - b) <= REL_TOL * a.abs().max(b.abs())
}

/// `a >= b`, allowing [`REL_TOL`] of the larger magnitude. False for NaN.
pub fn approx_ge(a: f64, b: f64) -> bool {
    approx_le(b, a)
}

/// Whether a smaller value of the metric is better (losses and errors), so
/// its degradation is `candidate - baseline`.
pub fn lower_is_better(metric: &str) -> bool {
    let m = metric.to_ascii_lowercase();
    m.ends_with("loss")
        || m.ends_with("error")
        || ["rmse", "mae", "mse", "mape"]
            .iter()
            .any(|s| m == *s || m.ends_with(&format!("_{s}")))
}

/// The status of `actual` against `bound`, and the threshold that decided it.
fn grade(actual: f64, bound: &Bound, margin: f64) -> (Status, f64) {
    let mut worst: Option<(Status, f64)> = None;
    if let Some(min) = bound.min {
        let s = if approx_ge(actual, min) {
            Status::Pass
        } else if approx_ge(actual, min - margin * min.abs()) {
            Status::Warn
        } else {
            Status::Fail
        };
        worst = Some((s, min));
    }
    if let Some(max) = bound.max {
        let s = if approx_le(actual, max) {
            Status::Pass
        } else if approx_le(actual, max + margin * max.abs()) {
            Status::Warn
        } else {
            Status::Fail
        };
        if worst.is_none_or(|(w, _)| s > w) {
            worst = Some((s, max));
        }
    }
    worst.unwrap_or((Status::Skip, f64::NAN))
}

/// `(threshold: 0.8)`, `(max: 0.5)` or `(range: 0.1 to 0.9)`.
fn bound_text(bound: &Bound) -> String {
    match (bound.min, bound.max) {
        (Some(lo), Some(hi)) => format!("range: {lo} to {hi}"),
        (Some(lo), None) => format!("threshold: {lo}"),
        (None, Some(hi)) => format!("max: {hi}"),
        (None, None) => "no bound".to_string(),
    }
}

fn margin_note(status: Status, margin: f64) -> String {
    let pct = pct(margin);
    match status {
        Status::Warn => format!(", within the {pct} warn margin"),
        Status::Fail => format!(", beyond the {pct} warn margin"),
        _ => String::new(),
    }
}

fn pct(share: f64) -> String {
    format!("{}%", (share * 100.0 * 1e6).round() / 1e6)
}

/// `{:.4}` without a negative zero.
fn f4(x: f64) -> String {
    let s = format!("{x:.4}");
    if s == "-0.0000" {
        "0.0000".to_string()
    } else {
        s
    }
}

fn bound_json(bound: &Bound) -> Value {
    json!({"min": bound.min, "max": bound.max})
}

/// Thresholds on the run's logged metrics (`performance.<metric>`).
///
/// A configured metric the run did not log FAILs, naming the metrics it did
/// log; a NaN or infinite logged value FAILs.
pub fn check_performance(
    cfg: &ValidationConfig,
    logged: &BTreeMap<String, f64>,
) -> Vec<CheckResult> {
    let margin = cfg.warn_margin;
    cfg.performance
        .iter()
        .map(|(metric, bound)| {
            let name = format!("performance.{metric}");
            let threshold = bound.min.or(bound.max);
            let details = json!({"bound": bound_json(bound), "warn_margin": margin});
            match logged.get(metric) {
                None => {
                    let names: Vec<&str> = logged.keys().map(String::as_str).collect();
                    let listed = if names.is_empty() {
                        "none".to_string()
                    } else {
                        names.join(", ")
                    };
                    CheckResult::new(
                        name,
                        Status::Fail,
                        None,
                        threshold,
                        format!("{metric}: not logged by the run (logged: {listed})"),
                        details,
                    )
                }
                Some(&actual) if !actual.is_finite() => CheckResult::new(
                    name,
                    Status::Fail,
                    None,
                    threshold,
                    format!("{metric}: logged value is {actual} ({})", bound_text(bound)),
                    details,
                ),
                Some(&actual) => {
                    let (status, threshold) = grade(actual, bound, margin);
                    CheckResult::new(
                        name,
                        status,
                        Some(actual),
                        Some(threshold),
                        format!(
                            "{metric}: {actual:.4} ({}){}",
                            bound_text(bound),
                            margin_note(status, margin)
                        ),
                        details,
                    )
                }
            }
        })
        .collect()
}

/// Candidate against baseline (`regression.<metric>`).
///
/// `degradation = baseline - candidate` (or `candidate - baseline` for
/// [`lower_is_better`] metrics): PASS when not worse, WARN up to
/// `max_degradation`, FAIL beyond. `actual` is the candidate's value and
/// `threshold` the worst value that still only WARNs. Without a baseline, one
/// SKIP named `regression`.
pub fn check_regression(
    cfg: &ValidationConfig,
    candidate: &BTreeMap<String, f64>,
    baseline: Option<(&str, &BTreeMap<String, f64>)>,
    scored_on: &str,
) -> Vec<CheckResult> {
    let Some(rc) = &cfg.regression else {
        return Vec::new();
    };
    let Some((baseline_model, base)) = baseline else {
        return vec![CheckResult::new(
            "regression",
            Status::Skip,
            None,
            None,
            "regression: skipped, no baseline model in the registry",
            json!({"note": "no baseline model in the registry"}),
        )];
    };
    let metrics: Vec<String> = if !rc.metrics_configured
        && !DEFAULT_REGRESSION_METRICS
            .iter()
            .any(|m| candidate.contains_key(*m))
        && DEFAULT_REGRESSOR_METRICS
            .iter()
            .any(|m| candidate.contains_key(*m))
    {
        DEFAULT_REGRESSOR_METRICS
            .iter()
            .map(|m| m.to_string())
            .collect()
    } else {
        rc.metrics.clone()
    };
    let max_d = rc.max_degradation;
    metrics
        .iter()
        .map(|metric| {
            let name = format!("regression.{metric}");
            let lower = lower_is_better(metric);
            let c = candidate.get(metric).copied();
            let b = base.get(metric).copied();
            let mut details = json!({
                "candidate": c,
                "baseline": b,
                "max_degradation": max_d,
                "direction": if lower { "lower_is_better" } else { "higher_is_better" },
                "baseline_model": baseline_model,
                "scored_on": scored_on,
            });
            let (c, b) = match (c, b) {
                (Some(c), Some(b)) if c.is_finite() && b.is_finite() => (c, b),
                _ => {
                    let mut missing = Vec::new();
                    for (side, v) in [("candidate", c), ("baseline", b)] {
                        match v {
                            None => missing.push(format!("missing for the {side}")),
                            Some(v) if !v.is_finite() => {
                                missing.push(format!("{v} for the {side}"))
                            }
                            _ => {}
                        }
                    }
                    return CheckResult::new(
                        name,
                        Status::Fail,
                        c.filter(|v| v.is_finite()),
                        None,
                        format!("{metric}: {} (scored on {scored_on})", missing.join(", ")),
                        details,
                    );
                }
            };
            let (degradation, threshold, pass, warn) = if lower {
                (c - b, b + max_d, approx_le(c, b), approx_le(c, b + max_d))
            } else {
                (b - c, b - max_d, approx_ge(c, b), approx_ge(c, b - max_d))
            };
            let status = if pass {
                Status::Pass
            } else if warn {
                Status::Warn
            } else {
                Status::Fail
            };
            details["degradation"] = json!(degradation);
            CheckResult::new(
                name,
                status,
                Some(c),
                Some(threshold),
                format!(
                    "{metric}: candidate={c:.4}, baseline={b:.4}, degradation={} (max {max_d})",
                    f4(degradation)
                ),
                details,
            )
        })
        .collect()
}

/// `np.quantile(sorted, q)` with numpy's default `"linear"` method.
/// `sorted` is non-empty and increasing.
fn quantile_linear(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    let h = (n - 1) as f64 * q;
    let lo = h.floor() as usize;
    if lo + 1 >= n {
        return sorted[n - 1];
    }
    let gamma = h - lo as f64;
    sorted[lo] + (sorted[lo + 1] - sorted[lo]) * gamma
}

/// Single-row prediction latency (`latency.p99_ms`, `latency.p50_ms`).
///
/// Percentiles are numpy's default (`np.percentile`, linear interpolation
/// between order statistics), computed over the finite, non-negative samples
/// (others are counted as ignored). Each configured percentile PASSes at or
/// under its max, WARNs within `warn_margin` above it, FAILs beyond; both
/// percentiles are always in the details. No usable sample: one FAIL.
/// Milliseconds with the digits that matter: in-process models score in
/// microseconds, which one decimal would show as 0.0.
fn fmt_ms(ms: f64) -> String {
    if ms >= 10.0 {
        format!("{ms:.1}")
    } else if ms >= 0.1 {
        format!("{ms:.3}")
    } else {
        format!("{ms:.4}")
    }
}

pub fn check_latency(cfg: &ValidationConfig, single_row_ms: &[f64]) -> Vec<CheckResult> {
    let Some(lc) = &cfg.latency else {
        return Vec::new();
    };
    let mut sorted: Vec<f64> = single_row_ms
        .iter()
        .copied()
        .filter(|x| x.is_finite() && *x >= 0.0)
        .collect();
    let ignored = single_row_ms.len() - sorted.len();
    if sorted.is_empty() {
        return vec![CheckResult::new(
            "latency",
            Status::Fail,
            None,
            lc.p99_ms.or(lc.p50_ms).map(|b| b.max),
            "latency: no latency samples",
            json!({"samples": 0, "ignored": ignored, "requested_samples": lc.samples}),
        )];
    }
    sorted.sort_by(f64::total_cmp);
    let p50 = quantile_linear(&sorted, 0.5);
    let p99 = quantile_linear(&sorted, 0.99);
    let mean = sorted.iter().sum::<f64>() / sorted.len() as f64;
    let details = json!({
        "p50_ms": p50,
        "p99_ms": p99,
        "mean_ms": mean,
        "min_ms": sorted[0],
        "max_ms": sorted[sorted.len() - 1],
        "samples": sorted.len(),
        "ignored": ignored,
        "requested_samples": lc.samples,
        "percentile_method": "linear interpolation (numpy.percentile default)",
        "warn_margin": cfg.warn_margin,
    });
    let mut out = Vec::new();
    for (label, value, other_label, other, limit) in [
        ("p99", p99, "p50", p50, lc.p99_ms),
        ("p50", p50, "p99", p99, lc.p50_ms),
    ] {
        let Some(limit) = limit else { continue };
        let (status, _) = grade(value, &Bound::max(limit.max), cfg.warn_margin);
        out.push(CheckResult::new(
            format!("latency.{label}_ms"),
            status,
            Some(value),
            Some(limit.max),
            format!(
                "{label} latency: {}ms (max: {}ms); {other_label} {}ms over {} samples{}",
                fmt_ms(value),
                limit.max,
                fmt_ms(other),
                sorted.len(),
                margin_note(status, cfg.warn_margin)
            ),
            details.clone(),
        ));
    }
    if out.is_empty() {
        out.push(CheckResult::new(
            "latency",
            Status::Skip,
            None,
            None,
            format!(
                "latency: no budget configured (p50 {}ms, p99 {}ms)",
                fmt_ms(p50),
                fmt_ms(p99)
            ),
            details,
        ));
    }
    out
}

/// One bin of a [`CategoricalPsi`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoryBin {
    /// The category, or `(other)` for the reference's unlisted categories.
    pub category: String,
    /// True for a category absent from the reference.
    pub unseen: bool,
    /// Raw shares (before the 1e-4 floor).
    pub reference_share: f64,
    pub current_share: f64,
    /// This bin's PSI term (floored shares).
    pub contribution: f64,
}

/// PSI of a categorical feature over category shares.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoricalPsi {
    pub psi: f64,
    /// Non-missing current values compared.
    pub current_count: u64,
    /// Current values that were missing (dropped, as the profile's shares are
    /// of non-null values).
    pub missing_count: u64,
    pub bins: Vec<CategoryBin>,
}

/// Categorical PSI of `current` values against a profile's category shares.
///
/// Bins: each category the reference lists, in its order; then, if the
/// reference has an `other_share` (more categories than it lists), one
/// `(other)` bin taking every current value not listed (they cannot be told
/// apart from the reference's unlisted ones); otherwise each category absent
/// from the reference is its own bin with reference share 0 (sorted by
/// value). Shares are of non-missing values, floored at
/// [`PSI_EPS`] (1e-4) in both frames, then `PSI = sum((r - c) * ln(r / c))`,
/// as [`quantile_psi`] does for numeric features. `None` when no current
/// value is present.
pub fn categorical_psi(
    frequencies: &[(String, f64)],
    other_share: f64,
    current: &[Option<String>],
) -> Option<CategoricalPsi> {
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    let mut missing = 0u64;
    for v in current {
        match v {
            Some(s) => *counts.entry(s.as_str()).or_insert(0) += 1,
            None => missing += 1,
        }
    }
    let n: u64 = counts.values().sum();
    if n == 0 {
        return None;
    }
    let share = |c: u64| c as f64 / n as f64;
    let mut bins = Vec::new();
    for (category, r) in frequencies {
        let c = counts.remove(category.as_str()).unwrap_or(0);
        bins.push((category.clone(), false, *r, share(c)));
    }
    if other_share > 0.0 {
        let rest: u64 = counts.values().sum();
        bins.push(("(other)".to_string(), false, other_share, share(rest)));
    } else {
        for (category, c) in counts {
            bins.push((category.to_string(), true, 0.0, share(c)));
        }
    }
    let mut psi = 0.0;
    let bins = bins
        .into_iter()
        .map(|(category, unseen, reference_share, current_share)| {
            let r = reference_share.max(PSI_EPS);
            let c = current_share.max(PSI_EPS);
            let contribution = (r - c) * (r / c).ln();
            psi += contribution;
            CategoryBin {
                category,
                unseen,
                reference_share,
                current_share,
                contribution,
            }
        })
        .collect();
    Some(CategoricalPsi {
        psi,
        current_count: n,
        missing_count: missing,
        bins,
    })
}

/// Data drift per feature (`drift.psi.<feature>`), numeric features only; see
/// [`check_drift_with_categorical`].
pub fn check_drift(
    cfg: &ValidationConfig,
    reference: &DatasetProfile,
    current: &[(String, Vec<f64>)],
) -> Vec<CheckResult> {
    check_drift_with_categorical(cfg, reference, current, &[])
}

/// Data drift per feature of the reference profile (`drift.psi.<feature>`).
///
/// Numeric features: [`quantile_psi`] on the reference deciles (the function
/// monitoring uses). Categorical features: [`categorical_psi`]. PASS if
/// `psi <= max / 2`, WARN if `<= max`, FAIL beyond (the guide's rule). A
/// feature of the reference missing from the current data, or with no
/// current value, FAILs. When `current_categorical` is empty, categorical
/// features are not compared and one SKIP (`drift.categorical`) names them.
/// The feature with the largest PSI says so in its message.
pub fn check_drift_with_categorical(
    cfg: &ValidationConfig,
    reference: &DatasetProfile,
    current: &[(String, Vec<f64>)],
    current_categorical: &[(String, Vec<Option<String>>)],
) -> Vec<CheckResult> {
    let Some(dc) = &cfg.drift else {
        return Vec::new();
    };
    let max = dc.psi.max;
    let grade_psi = |psi: f64| {
        if approx_le(psi, max / 2.0) {
            Status::Pass
        } else if approx_le(psi, max) {
            Status::Warn
        } else {
            Status::Fail
        }
    };
    let mut out: Vec<CheckResult> = Vec::new();
    let mut skipped_categorical: Vec<&str> = Vec::new();
    for feature in &reference.features {
        let f = feature.name.as_str();
        let name = format!("drift.psi.{f}");
        let base = json!({
            "feature": f,
            "max": max,
            "warn_above": max / 2.0,
            "reference": "training_profile",
            "smoothing": PSI_SMOOTHING,
        });
        let fail = |msg: String, mut details: Value, kind: &str| {
            details["kind"] = json!(kind);
            CheckResult::new(name.clone(), Status::Fail, None, Some(max), msg, details)
        };
        match &feature.kind {
            ProfileKind::Numeric { psi_bins, .. } => {
                let Some((_, values)) = current.iter().find(|(n, _)| n == f) else {
                    out.push(fail(
                        format!("{f}: missing from the current data"),
                        base,
                        "numeric",
                    ));
                    continue;
                };
                match quantile_psi(psi_bins, values) {
                    Ok(report) => {
                        let status = grade_psi(report.psi);
                        let mut details = base;
                        details["kind"] = json!("numeric");
                        details["psi"] = json!(report.psi);
                        details["binning"] =
                            json!("reference deciles (np.quantile, linear); bins [c_i, c_i+1), open-ended at both ends");
                        details["reference_count"] = json!(psi_bins.count);
                        details["current_count"] = json!(report.current_count);
                        details["ignored_count"] = json!(report.ignored_count);
                        details["bins"] = serde_json::to_value(&report.bins).unwrap_or(Value::Null);
                        out.push(CheckResult::new(
                            name,
                            status,
                            Some(report.psi),
                            Some(max),
                            format!("{f} drift: PSI {:.4} (max PSI: {max})", report.psi),
                            details,
                        ));
                    }
                    Err(DataError::NoCurrentValues { ignored }) => out.push(fail(
                        format!("{f}: no finite current value ({ignored} missing or non-finite)"),
                        base,
                        "numeric",
                    )),
                    Err(e) if psi_bins.count == 0 => {
                        let mut details = base;
                        details["kind"] = json!("numeric");
                        details["reason"] = json!(e.to_string());
                        out.push(CheckResult::new(
                            name,
                            Status::Skip,
                            None,
                            Some(max),
                            format!("{f}: skipped, the reference profile has no values"),
                            details,
                        ));
                    }
                    Err(e) => out.push(fail(
                        format!("{f}: unusable reference bins: {e}"),
                        base,
                        "numeric",
                    )),
                }
            }
            ProfileKind::Categorical {
                count,
                frequencies,
                other_share,
                ..
            } => {
                if current_categorical.is_empty() {
                    skipped_categorical.push(f);
                    continue;
                }
                let Some((_, values)) = current_categorical.iter().find(|(n, _)| n == f) else {
                    out.push(fail(
                        format!("{f}: missing from the current data"),
                        base,
                        "categorical",
                    ));
                    continue;
                };
                if *count == 0 {
                    let mut details = base;
                    details["kind"] = json!("categorical");
                    out.push(CheckResult::new(
                        name,
                        Status::Skip,
                        None,
                        Some(max),
                        format!("{f}: skipped, the reference profile has no values"),
                        details,
                    ));
                    continue;
                }
                match categorical_psi(frequencies, *other_share, values) {
                    Some(report) => {
                        let status = grade_psi(report.psi);
                        let mut details = base;
                        details["kind"] = json!("categorical");
                        details["psi"] = json!(report.psi);
                        details["binning"] = json!("one bin per reference category; categories absent from the reference each get their own bin (reference share 0), or share the (other) bin when the reference lists only its top categories");
                        details["reference_count"] = json!(count);
                        details["current_count"] = json!(report.current_count);
                        details["missing_count"] = json!(report.missing_count);
                        details["bins"] = serde_json::to_value(&report.bins).unwrap_or(Value::Null);
                        out.push(CheckResult::new(
                            name,
                            status,
                            Some(report.psi),
                            Some(max),
                            format!("{f} drift: PSI {:.4} (max PSI: {max})", report.psi),
                            details,
                        ));
                    }
                    None => out.push(fail(
                        format!("{f}: no current value ({} missing)", values.len()),
                        base,
                        "categorical",
                    )),
                }
            }
        }
    }
    let computed: Vec<usize> = (0..out.len())
        .filter(|&i| out[i].actual.is_some())
        .collect();
    if computed.len() > 1 {
        let worst = computed
            .iter()
            .copied()
            .max_by(|&a, &b| {
                let (x, y) = (out[a].actual.unwrap_or(0.0), out[b].actual.unwrap_or(0.0));
                x.total_cmp(&y).then(b.cmp(&a))
            })
            .unwrap_or(computed[0]);
        let n = computed.len();
        out[worst]
            .message
            .push_str(&format!(", worst of {n} features"));
        out[worst].details["worst"] = json!(true);
    }
    if !skipped_categorical.is_empty() {
        out.push(CheckResult::new(
            "drift.categorical",
            Status::Skip,
            None,
            Some(max),
            format!(
                "drift: categorical features not compared (no current values given): {}",
                skipped_categorical.join(", ")
            ),
            json!({"features": skipped_categorical}),
        ));
    }
    out
}

/// What a valid prediction looks like, for [`check_coverage_for`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PredictionKind {
    /// A classifier's positive-class probability: finite and in `[0, 1]`.
    Probability,
    /// A regressor's value: finite.
    Value,
}

/// Coverage of any model: a prediction counts when present and finite. For
/// classifiers use [`check_coverage_for`] with
/// [`PredictionKind::Probability`], which also requires `[0, 1]`.
pub fn check_coverage(cfg: &ValidationConfig, predictions: &[Option<f64>]) -> Vec<CheckResult> {
    check_coverage_for(cfg, predictions, PredictionKind::Value)
}

/// The share of evaluation rows with a valid prediction (`coverage`),
/// against the configured bound with the warn margin. `None` is a row the
/// model gave no prediction for. No rows: FAIL.
pub fn check_coverage_for(
    cfg: &ValidationConfig,
    predictions: &[Option<f64>],
    kind: PredictionKind,
) -> Vec<CheckResult> {
    let Some(bound) = &cfg.coverage else {
        return Vec::new();
    };
    let total = predictions.len();
    let (mut missing, mut non_finite, mut out_of_range) = (0usize, 0usize, 0usize);
    for p in predictions {
        match p {
            None => missing += 1,
            Some(x) if !x.is_finite() => non_finite += 1,
            Some(x) if kind == PredictionKind::Probability && !(0.0..=1.0).contains(x) => {
                out_of_range += 1
            }
            Some(_) => {}
        }
    }
    let valid = total - missing - non_finite - out_of_range;
    let details = json!({
        "rows": total,
        "valid": valid,
        "missing": missing,
        "non_finite": non_finite,
        "out_of_range": out_of_range,
        "prediction_kind": kind,
        "bound": bound_json(bound),
        "warn_margin": cfg.warn_margin,
    });
    if total == 0 {
        return vec![CheckResult::new(
            "coverage",
            Status::Fail,
            None,
            bound.min.or(bound.max),
            "coverage: no evaluation rows",
            details,
        )];
    }
    let share = valid as f64 / total as f64;
    let (status, threshold) = grade(share, bound, cfg.warn_margin);
    let mut invalid = vec![
        format!("{missing} missing"),
        format!("{non_finite} non-finite"),
    ];
    if kind == PredictionKind::Probability {
        invalid.push(format!("{out_of_range} outside [0, 1]"));
    }
    vec![CheckResult::new(
        "coverage",
        status,
        Some(share),
        Some(threshold),
        format!(
            "coverage: {share:.4} ({valid} of {total} rows with a valid prediction; {}) ({}){}",
            invalid.join(", "),
            bound_text(bound),
            margin_note(status, cfg.warn_margin)
        ),
        details,
    )]
}

fn slice_metric(metric: &str, y_true: &[f64], y_score: &[f64]) -> Result<f64, String> {
    if let Some((index, &value)) = y_score.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(MetricError::NonFinite { index, value }.to_string());
    }
    let labels = || -> Vec<f64> {
        y_score
            .iter()
            .map(|&s| if s >= LABEL_THRESHOLD { 1.0 } else { 0.0 })
            .collect()
    };
    match metric {
        "accuracy" => metrics::accuracy(y_true, &labels()),
        "precision" => metrics::precision(y_true, &labels()),
        "recall" => metrics::recall(y_true, &labels()),
        "f1" => metrics::f1(y_true, &labels()),
        "auc_roc" => metrics::roc_auc(y_true, y_score),
        "log_loss" => metrics::log_loss(y_true, y_score),
        "rmse" => metrics::rmse(y_true, y_score),
        "mae" => metrics::mae(y_true, y_score),
        "r2" => metrics::r2(y_true, y_score),
        // ValidationConfig::parse admits only the metrics above.
        other => return Err(format!("unknown slice metric `{other}`")),
    }
    .map_err(|e| e.to_string())
}

/// The label used for a missing slice value.
pub const MISSING_SLICE: &str = "(missing)";

/// Per-slice metrics for the slice configs on `slice_column`
/// (`slice.<column>=<value>.<metric>`).
///
/// `values[i]` is row `i`'s value of the column (missing as `(missing)`),
/// `y_true` its label (or target) and `y_score` the candidate's score
/// (positive-class probability, labels at [`LABEL_THRESHOLD`]; or the
/// regressor's prediction). Slices are in value order. A slice where the
/// metric is undefined (one class for `auc_roc`, say) WARNs with the reason
/// rather than failing: the slice is too small to judge, not bad. Each
/// check's details carry the slice's row count.
pub fn check_slices(
    cfg: &ValidationConfig,
    slice_column: &str,
    values: &[Option<String>],
    y_true: &[f64],
    y_score: &[f64],
) -> Vec<CheckResult> {
    let configs: Vec<&SliceConfig> = cfg
        .slices
        .iter()
        .filter(|s| s.column == slice_column)
        .collect();
    slice_checks(
        cfg.warn_margin,
        slice_column,
        &configs,
        values,
        y_true,
        y_score,
    )
}

/// One slice config's checks (same rules as [`check_slices`]); for callers
/// that loop over `cfg.slices` themselves, so two configs on one column are
/// not each evaluated twice.
pub fn check_slice(
    cfg: &ValidationConfig,
    slice: &SliceConfig,
    values: &[Option<String>],
    y_true: &[f64],
    y_score: &[f64],
) -> Vec<CheckResult> {
    slice_checks(
        cfg.warn_margin,
        &slice.column,
        &[slice],
        values,
        y_true,
        y_score,
    )
}

fn slice_checks(
    warn_margin: f64,
    slice_column: &str,
    configs: &[&SliceConfig],
    values: &[Option<String>],
    y_true: &[f64],
    y_score: &[f64],
) -> Vec<CheckResult> {
    if configs.is_empty() {
        return Vec::new();
    }
    if values.len() != y_true.len() || values.len() != y_score.len() {
        return vec![CheckResult::new(
            format!("slice.{slice_column}"),
            Status::Fail,
            None,
            None,
            format!(
                "slice {slice_column}: length mismatch ({} values, {} labels, {} scores)",
                values.len(),
                y_true.len(),
                y_score.len()
            ),
            json!({"column": slice_column}),
        )];
    }
    let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, v) in values.iter().enumerate() {
        groups
            .entry(v.as_deref().unwrap_or(MISSING_SLICE))
            .or_default()
            .push(i);
    }
    if groups.is_empty() {
        return vec![CheckResult::new(
            format!("slice.{slice_column}"),
            Status::Skip,
            None,
            None,
            format!("slice {slice_column}: no evaluation rows"),
            json!({"column": slice_column}),
        )];
    }
    let mut out = Vec::new();
    for sc in configs {
        let bound = sc.bound();
        for (value, rows) in &groups {
            let yt: Vec<f64> = rows.iter().map(|&i| y_true[i]).collect();
            let ys: Vec<f64> = rows.iter().map(|&i| y_score[i]).collect();
            let name = format!("slice.{slice_column}={value}.{}", sc.metric);
            let label = format!("{slice_column}={value} {}", sc.metric);
            let mut details = json!({
                "column": slice_column,
                "value": value,
                "metric": sc.metric,
                "rows": rows.len(),
                "bound": bound_json(&bound),
            });
            if !matches!(sc.metric.as_str(), "rmse" | "mae" | "r2") {
                details["positives"] = json!(yt.iter().filter(|&&t| t == 1.0).count());
            }
            let n = rows.len();
            match slice_metric(&sc.metric, &yt, &ys) {
                Ok(m) if m.is_finite() => {
                    let (status, threshold) = grade(m, &bound, warn_margin);
                    out.push(CheckResult::new(
                        name,
                        status,
                        Some(m),
                        Some(threshold),
                        format!(
                            "{label}: {m:.4} ({}, {n} rows){}",
                            bound_text(&bound),
                            margin_note(status, warn_margin)
                        ),
                        details,
                    ));
                }
                result => {
                    let reason = match result {
                        Err(e) => e,
                        Ok(_) => "not defined for a single row".to_string(),
                    };
                    details["reason"] = json!(reason);
                    out.push(CheckResult::new(
                        name,
                        Status::Warn,
                        None,
                        bound.min.or(bound.max),
                        format!("{label}: undefined on {n} rows: {reason}"),
                        details,
                    ));
                }
            }
        }
    }
    out
}

/// Whether a column typed `from` in the baseline can be fed to a candidate
/// expecting `to` without loss: `Some(true)` widening, `Some(false)` same
/// type, `None` incompatible.
fn widening(from: ColumnType, to: ColumnType) -> Option<bool> {
    use ColumnType::*;
    if from == to {
        return Some(false);
    }
    match (from, to) {
        (Integer, Long) | (Integer, Double) | (Long, Double) | (Float, Double) => Some(true),
        _ => None,
    }
}

/// The candidate's signature against the baseline's (`schema`): the
/// candidate must accept every request the baseline accepts.
///
/// FAIL: a required candidate input (`nullable == false`) the baseline does
/// not take (callers do not send it), or a shared column whose type changed
/// other than by widening (integer -> long -> double, float -> double).
/// WARN: a shared column the baseline accepted missing but the candidate's
/// signature requires (its training data had no missing values; requests
/// with a missing value may now be refused). Inputs the candidate dropped,
/// and new optional inputs, are fine.
pub fn check_schema(candidate: &[FeatureColumn], baseline: &[FeatureColumn]) -> Vec<CheckResult> {
    let mut added_required = Vec::new();
    let mut added_optional = Vec::new();
    let mut narrowed = Vec::new();
    let mut widened = Vec::new();
    let mut now_required = Vec::new();
    let mut shared = 0usize;
    for c in candidate {
        match baseline.iter().find(|b| b.name == c.name) {
            None if c.nullable => added_optional.push(c.name.clone()),
            None => added_required.push(c.name.clone()),
            Some(b) => {
                shared += 1;
                let change = format!(
                    "{}: {} -> {}",
                    c.name,
                    b.column_type.as_str(),
                    c.column_type.as_str()
                );
                match widening(b.column_type, c.column_type) {
                    None => narrowed.push(change),
                    Some(true) => widened.push(change),
                    Some(false) => {}
                }
                if b.nullable && !c.nullable {
                    now_required.push(c.name.clone());
                }
            }
        }
    }
    let dropped: Vec<String> = baseline
        .iter()
        .filter(|b| !candidate.iter().any(|c| c.name == b.name))
        .map(|b| b.name.clone())
        .collect();
    let details = json!({
        "candidate_inputs": candidate.len(),
        "baseline_inputs": baseline.len(),
        "shared": shared,
        "added_required": added_required,
        "added_optional": added_optional,
        "incompatible_type_changes": narrowed,
        "widened": widened,
        "now_required": now_required,
        "dropped": dropped,
    });
    let counts = format!(
        "{shared} shared, {} widened, {} new optional, {} dropped",
        widened.len(),
        added_optional.len(),
        dropped.len()
    );
    let (status, message) = if !added_required.is_empty() || !narrowed.is_empty() {
        let mut parts = Vec::new();
        if !added_required.is_empty() {
            parts.push(format!(
                "new required input(s) {}",
                added_required.join(", ")
            ));
        }
        if !narrowed.is_empty() {
            parts.push(format!(
                "incompatible type change(s) {}",
                narrowed.join(", ")
            ));
        }
        (
            Status::Fail,
            format!(
                "schema: the candidate does not accept the baseline's inputs: {} ({counts})",
                parts.join("; ")
            ),
        )
    } else if !now_required.is_empty() {
        (
            Status::Warn,
            format!(
                "schema: the baseline accepted missing values the candidate's signature requires: {} ({counts})",
                now_required.join(", ")
            ),
        )
    } else {
        (
            Status::Pass,
            format!("schema: the candidate accepts the baseline's inputs ({counts})"),
        )
    };
    vec![CheckResult::new(
        "schema", status, None, None, message, details,
    )]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DriftConfig, LatencyConfig, MaxBound, RegressionConfig, SliceConfig};
    use slipway_data::profile::{FeatureProfile, Histogram, PsiBins, PROFILE_FORMAT};

    fn cfg() -> ValidationConfig {
        ValidationConfig::default()
    }

    fn logged(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    fn perf(bound: Bound, actual: f64) -> CheckResult {
        let mut c = cfg();
        c.performance.insert("m".into(), bound);
        check_performance(&c, &logged(&[("m", actual)])).remove(0)
    }

    #[test]
    fn performance_min_bound_boundaries() {
        let b = Bound::min(0.8);
        assert_eq!(perf(b, 0.8).status, Status::Pass);
        assert_eq!(perf(b, 0.9).status, Status::Pass);
        // Floating-point noise below the threshold is still exactly at it.
        assert_eq!(perf(b, 0.8 - 1e-15).status, Status::Pass);
        assert_eq!(perf(b, 0.7999).status, Status::Warn);
        // 0.8 * (1 - 0.05) = 0.76 is the edge of the warn margin.
        assert_eq!(perf(b, 0.76).status, Status::Warn);
        assert_eq!(perf(b, 0.7599).status, Status::Fail);
        assert_eq!(perf(b, f64::NAN).status, Status::Fail);
    }

    #[test]
    fn performance_max_bound_boundaries() {
        let b = Bound::max(0.5);
        assert_eq!(perf(b, 0.5).status, Status::Pass);
        assert_eq!(perf(b, 0.5 + 1e-16).status, Status::Pass);
        assert_eq!(perf(b, 0.51).status, Status::Warn);
        assert_eq!(perf(b, 0.525).status, Status::Warn);
        assert_eq!(perf(b, 0.5251).status, Status::Fail);
        let both = Bound {
            min: Some(0.2),
            max: Some(0.5),
        };
        assert_eq!(perf(both, 0.1).status, Status::Fail);
        assert_eq!(perf(both, 0.1).threshold, Some(0.2));
        assert_eq!(perf(both, 0.6).threshold, Some(0.5));
        assert_eq!(perf(both, 0.3).status, Status::Pass);
    }

    #[test]
    fn performance_negative_threshold_uses_its_magnitude() {
        let b = Bound::min(-1.0);
        assert_eq!(perf(b, -1.0).status, Status::Pass);
        assert_eq!(perf(b, -1.04).status, Status::Warn);
        assert_eq!(perf(b, -1.06).status, Status::Fail);
        let b = Bound::max(-1.0);
        assert_eq!(perf(b, -1.0).status, Status::Pass);
        assert_eq!(perf(b, -0.96).status, Status::Warn);
        assert_eq!(perf(b, -0.94).status, Status::Fail);
    }

    #[test]
    fn performance_message_and_missing_metric() {
        let mut c = cfg();
        c.performance.insert("accuracy".into(), Bound::min(0.8));
        c.performance.insert("auc_roc".into(), Bound::min(0.75));
        let out = check_performance(&c, &logged(&[("accuracy", 0.839), ("f1", 0.7)]));
        assert_eq!(out[0].name, "performance.accuracy");
        assert_eq!(out[0].message, "accuracy: 0.8390 (threshold: 0.8)");
        assert_eq!(out[0].actual, Some(0.839));
        assert_eq!(out[0].threshold, Some(0.8));
        assert_eq!(out[1].status, Status::Fail);
        assert_eq!(
            out[1].message,
            "auc_roc: not logged by the run (logged: accuracy, f1)"
        );
    }

    fn reg(metric: &str, candidate: f64, baseline: f64) -> CheckResult {
        let mut c = cfg();
        c.regression = Some(RegressionConfig {
            metrics: vec![metric.to_string()],
            max_degradation: 0.02,
            metrics_configured: true,
        });
        let base = logged(&[(metric, baseline)]);
        check_regression(
            &c,
            &logged(&[(metric, candidate)]),
            Some(("models:/churn/Production (v3)", &base)),
            "logged metrics",
        )
        .remove(0)
    }

    #[test]
    fn regression_higher_is_better() {
        assert_eq!(reg("auc_roc", 0.84, 0.83).status, Status::Pass);
        assert_eq!(reg("auc_roc", 0.83, 0.83).status, Status::Pass);
        assert_eq!(reg("auc_roc", 0.82, 0.83).status, Status::Warn);
        // 0.83 - 0.81 is 0.020000000000000018 in f64: still exactly the max.
        assert_eq!(reg("auc_roc", 0.81, 0.83).status, Status::Warn);
        assert_eq!(reg("auc_roc", 0.80, 0.83).status, Status::Fail);
        let r = reg("auc_roc", 0.8123, 0.8301);
        assert_eq!(
            r.message,
            "auc_roc: candidate=0.8123, baseline=0.8301, degradation=0.0178 (max 0.02)"
        );
        assert_eq!(r.name, "regression.auc_roc");
        assert_eq!(r.actual, Some(0.8123));
        assert!((r.threshold.unwrap() - 0.8101).abs() < 1e-12);
        assert_eq!(r.details["baseline_model"], "models:/churn/Production (v3)");
        assert!(reg("auc_roc", 0.84, 0.83)
            .message
            .contains("degradation=-0.0100"));
    }

    #[test]
    fn regression_lower_is_better() {
        assert!(lower_is_better("log_loss") && lower_is_better("rmse") && lower_is_better("mae"));
        assert!(!lower_is_better("r2") && !lower_is_better("auc_roc"));
        assert_eq!(reg("log_loss", 0.37, 0.38).status, Status::Pass);
        assert_eq!(reg("log_loss", 0.38, 0.38).status, Status::Pass);
        assert_eq!(reg("log_loss", 0.40, 0.38).status, Status::Warn);
        assert_eq!(reg("log_loss", 0.45, 0.38).status, Status::Fail);
        let r = reg("rmse", 3.0, 2.5);
        assert_eq!(r.status, Status::Fail);
        assert!(r.message.contains("degradation=0.5000"), "{}", r.message);
        assert_eq!(r.details["direction"], "lower_is_better");
    }

    #[test]
    fn regression_without_baseline_or_metric() {
        let out = check_regression(
            &cfg(),
            &logged(&[("accuracy", 0.9)]),
            None,
            "logged metrics",
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].status, Status::Skip);
        assert!(out[0].message.contains("no baseline model in the registry"));

        let base = logged(&[("accuracy", 0.9), ("f1", 0.8)]);
        let out = check_regression(
            &cfg(),
            &logged(&[("accuracy", 0.9), ("auc_roc", 0.8)]),
            Some(("b", &base)),
            "eval.parquet (1,000 rows)",
        );
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].status, Status::Pass);
        assert_eq!(out[1].name, "regression.f1");
        assert_eq!(out[1].status, Status::Fail);
        assert!(out[1].message.contains("missing for the candidate"));
        assert_eq!(out[2].status, Status::Fail);
        assert!(out[2].message.contains("missing for the baseline"));
        assert!(out[2].message.contains("eval.parquet (1,000 rows)"));
        assert!(check_regression(
            &ValidationConfig {
                regression: None,
                ..cfg()
            },
            &base,
            None,
            ""
        )
        .is_empty());
    }

    #[test]
    fn regression_defaults_follow_a_regressor() {
        let cand = logged(&[("rmse", 2.0), ("mae", 1.0), ("r2", 0.5)]);
        let out = check_regression(&cfg(), &cand, Some(("b", &cand)), "logged metrics");
        let names: Vec<&str> = out.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            ["regression.rmse", "regression.mae", "regression.r2"]
        );
        assert!(out.iter().all(|c| c.status == Status::Pass));
    }

    fn latency_cfg(p99: f64, p50: Option<f64>) -> ValidationConfig {
        ValidationConfig {
            latency: Some(LatencyConfig {
                p99_ms: Some(MaxBound { max: p99 }),
                p50_ms: p50.map(|max| MaxBound { max }),
                samples: 100,
            }),
            ..cfg()
        }
    }

    #[test]
    fn latency_percentiles_and_boundaries() {
        let samples: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        // np.percentile(np.arange(1, 101), [50, 99]) == [50.5, 99.01]
        let out = check_latency(&latency_cfg(100.0, Some(50.5)), &samples);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].name, "latency.p99_ms");
        assert!((out[0].actual.unwrap() - 99.01).abs() < 1e-9);
        assert_eq!(out[0].status, Status::Pass);
        assert_eq!(out[1].name, "latency.p50_ms");
        assert_eq!(out[1].actual, Some(50.5));
        assert_eq!(out[1].status, Status::Pass);
        assert_eq!(out[0].details["p50_ms"], 50.5);
        let p99 = out[0].actual.unwrap();
        assert_eq!(
            check_latency(&latency_cfg(p99, None), &samples)[0].status,
            Status::Pass
        );
        assert_eq!(
            check_latency(&latency_cfg(95.0, None), &samples)[0].status,
            Status::Warn
        );
        assert_eq!(
            check_latency(&latency_cfg(90.0, None), &samples)[0].status,
            Status::Fail
        );
        assert!(out[0]
            .message
            .starts_with("p99 latency: 99.0ms (max: 100ms); p50 50.5ms over 100 samples"));
    }

    #[test]
    fn latency_without_samples_fails() {
        let out = check_latency(&cfg(), &[]);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].status, Status::Fail);
        assert!(out[0].message.contains("no latency samples"));
        let out = check_latency(&cfg(), &[f64::NAN]);
        assert_eq!(out[0].status, Status::Fail);
    }

    fn numeric(name: &str, cuts: Vec<f64>, shares: Vec<f64>) -> FeatureProfile {
        FeatureProfile {
            name: name.into(),
            null_count: 0,
            null_rate: 0.0,
            kind: ProfileKind::Numeric {
                count: 100,
                mean: None,
                std: None,
                min: None,
                max: None,
                quantiles: Vec::new(),
                psi_bins: PsiBins {
                    cuts,
                    shares,
                    count: 100,
                },
                histogram: Histogram {
                    edges: Vec::new(),
                    counts: Vec::new(),
                },
                distinct_count: 100,
            },
        }
    }

    fn profile(features: Vec<FeatureProfile>) -> DatasetProfile {
        DatasetProfile {
            format: PROFILE_FORMAT.into(),
            row_count: 100,
            features,
        }
    }

    fn drift_cfg(max: f64) -> ValidationConfig {
        ValidationConfig {
            drift: Some(DriftConfig {
                psi: MaxBound { max },
                ..DriftConfig::default()
            }),
            ..cfg()
        }
    }

    /// Current values whose shares in the bins (-inf,1) [1,2) [2,3) [3,inf)
    /// are `counts / sum(counts)`.
    fn values(counts: [usize; 4]) -> Vec<f64> {
        let mids = [0.5, 1.5, 2.5, 3.5];
        counts
            .iter()
            .zip(mids)
            .flat_map(|(&n, m)| std::iter::repeat_n(m, n))
            .collect()
    }

    #[test]
    fn drift_identical_passes_and_shifted_fails_with_hand_computed_psi() {
        let p = profile(vec![numeric("x", vec![1.0, 2.0, 3.0], vec![0.25; 4])]);
        let same = check_drift(&drift_cfg(0.2), &p, &[("x".into(), values([5, 5, 5, 5]))]);
        assert_eq!(same[0].name, "drift.psi.x");
        assert_eq!(same[0].status, Status::Pass);
        assert_eq!(same[0].actual, Some(0.0));
        assert!(same[0].details["smoothing"]
            .as_str()
            .unwrap()
            .contains("1e-4"));

        // All current values in the last bin: shares (0, 0, 0, 1), floored
        // to 1e-4: 3 * (0.25 - 1e-4) * ln(0.25 / 1e-4) + (0.25 - 1) * ln(0.25).
        let hand = 3.0 * (0.25 - 1e-4) * (0.25f64 / 1e-4).ln() + (0.25 - 1.0) * 0.25f64.ln();
        assert!((hand - 6.9054080651788805).abs() < 1e-12);
        let shifted = check_drift(&drift_cfg(0.2), &p, &[("x".into(), values([0, 0, 0, 10]))]);
        assert_eq!(shifted[0].status, Status::Fail);
        assert!((shifted[0].actual.unwrap() - hand).abs() < 1e-12);

        // Shares (0.2, 0.25, 0.25, 0.3): PSI 0.020273255405408214 (<= 0.1).
        let small = check_drift(&drift_cfg(0.2), &p, &[("x".into(), values([4, 5, 5, 6]))]);
        assert!((small[0].actual.unwrap() - 0.020273255405408214).abs() < 1e-12);
        assert_eq!(small[0].status, Status::Pass);
        // Shares (0.1, 0.2, 0.3, 0.4): PSI 0.22821740957339184.
        let mid = values([1, 2, 3, 4]);
        let out = check_drift(&drift_cfg(0.3), &p, &[("x".into(), mid.clone())]);
        assert!((out[0].actual.unwrap() - 0.22821740957339184).abs() < 1e-12);
        assert_eq!(out[0].status, Status::Warn);
        assert_eq!(
            check_drift(&drift_cfg(0.2), &p, &[("x".into(), mid.clone())])[0].status,
            Status::Fail
        );
        // Exactly at max / 2 passes, exactly at max warns.
        let psi = out[0].actual.unwrap();
        assert_eq!(
            check_drift(&drift_cfg(psi * 2.0), &p, &[("x".into(), mid.clone())])[0].status,
            Status::Pass
        );
        assert_eq!(
            check_drift(&drift_cfg(psi), &p, &[("x".into(), mid)])[0].status,
            Status::Warn
        );
    }

    #[test]
    fn drift_missing_feature_fails_and_worst_is_named() {
        let p = profile(vec![
            numeric("a", vec![1.0, 2.0, 3.0], vec![0.25; 4]),
            numeric("b", vec![1.0, 2.0, 3.0], vec![0.25; 4]),
            numeric("c", vec![1.0, 2.0, 3.0], vec![0.25; 4]),
        ]);
        let out = check_drift(
            &drift_cfg(0.2),
            &p,
            &[
                ("a".into(), values([5, 5, 5, 5])),
                ("b".into(), values([1, 2, 3, 4])),
            ],
        );
        assert_eq!(out.len(), 3);
        assert!(
            out[1].message.ends_with(", worst of 2 features"),
            "{}",
            out[1].message
        );
        assert!(!out[0].message.contains("worst"));
        assert_eq!(out[2].status, Status::Fail);
        assert_eq!(out[2].message, "c: missing from the current data");
        let nan = check_drift(&drift_cfg(0.2), &p, &[("a".into(), vec![f64::NAN])]);
        assert_eq!(nan[0].status, Status::Fail);
    }

    #[test]
    fn drift_categorical_psi() {
        let cat = FeatureProfile {
            name: "Contract".into(),
            null_count: 0,
            null_rate: 0.0,
            kind: ProfileKind::Categorical {
                count: 10,
                distinct_count: 2,
                frequencies: vec![("a".into(), 0.5), ("b".into(), 0.5)],
                other_share: 0.0,
            },
        };
        let p = profile(vec![cat]);
        let current = vec![
            Some("a".to_string()),
            Some("a".into()),
            Some("a".into()),
            Some("c".into()),
            None,
        ];
        // Without categorical values: one SKIP naming the feature.
        let skipped = check_drift(&drift_cfg(0.2), &p, &[]);
        assert_eq!(skipped.len(), 1);
        assert_eq!(skipped[0].status, Status::Skip);
        assert!(skipped[0].message.contains("Contract"));

        let out =
            check_drift_with_categorical(&drift_cfg(0.2), &p, &[], &[("Contract".into(), current)]);
        // Shares a 0.75, b 0 -> 1e-4, unseen c 0.25 against 1e-4.
        let hand = (0.5 - 0.75) * (0.5f64 / 0.75).ln()
            + (0.5 - 1e-4) * (0.5f64 / 1e-4).ln()
            + (1e-4 - 0.25) * (1e-4f64 / 0.25).ln();
        assert!((hand - 6.314340251529005).abs() < 1e-12);
        assert!((out[0].actual.unwrap() - hand).abs() < 1e-12);
        assert_eq!(out[0].status, Status::Fail);
        assert_eq!(out[0].details["missing_count"], 1);
        assert_eq!(out[0].details["bins"][2]["category"], "c");
        assert_eq!(out[0].details["bins"][2]["unseen"], true);

        let same = categorical_psi(
            &[("a".into(), 0.5), ("b".into(), 0.5)],
            0.0,
            &[Some("a".into()), Some("b".into())],
        )
        .unwrap();
        assert_eq!(same.psi, 0.0);
        // With an `other` share, unlisted values share its bin.
        let other = categorical_psi(
            &[("a".into(), 0.5)],
            0.5,
            &[Some("a".into()), Some("z".into())],
        )
        .unwrap();
        assert_eq!(other.bins.len(), 2);
        assert_eq!(other.bins[1].category, "(other)");
        assert_eq!(other.psi, 0.0);
        assert!(categorical_psi(&[("a".into(), 1.0)], 0.0, &[None]).is_none());
    }

    fn cov(min: f64) -> ValidationConfig {
        ValidationConfig {
            coverage: Some(Bound::min(min)),
            ..cfg()
        }
    }

    #[test]
    fn coverage_counts_none_and_nan() {
        let mut preds: Vec<Option<f64>> = vec![Some(0.5); 18];
        preds.push(None);
        preds.push(Some(f64::NAN));
        // 18 / 20 = 0.9; 0.95 * 0.95 = 0.9025: FAIL.
        let out = check_coverage(&cov(0.95), &preds);
        assert_eq!(out[0].status, Status::Fail);
        assert_eq!(out[0].actual, Some(0.9));
        assert!(
            out[0].message.contains("18 of 20 rows"),
            "{}",
            out[0].message
        );
        assert!(out[0].message.contains("1 missing, 1 non-finite"));
        assert_eq!(check_coverage(&cov(0.9), &preds)[0].status, Status::Pass);
        // 0.9 against 0.92: within 5% below.
        assert_eq!(check_coverage(&cov(0.92), &preds)[0].status, Status::Warn);
        // 19 / 20 = 0.95 exactly.
        preds[18] = Some(0.1);
        assert_eq!(check_coverage(&cov(0.95), &preds)[0].status, Status::Pass);
        // A probability outside [0, 1] counts for classifiers only.
        preds[0] = Some(1.5);
        assert_eq!(check_coverage(&cov(0.95), &preds)[0].status, Status::Pass);
        let p = check_coverage_for(&cov(0.95), &preds, PredictionKind::Probability);
        assert_eq!(p[0].actual, Some(0.9));
        assert_eq!(p[0].details["out_of_range"], 1);
        assert_eq!(check_coverage(&cov(0.95), &[])[0].status, Status::Fail);
        assert!(check_coverage(&cfg(), &preds).is_empty());
    }

    #[test]
    fn slices_with_a_single_class_slice_warn() {
        let c = ValidationConfig {
            slices: vec![SliceConfig {
                column: "Contract".into(),
                metric: "auc_roc".into(),
                min: Some(0.7),
                max: None,
            }],
            ..cfg()
        };
        let values: Vec<Option<String>> = ["M", "M", "M", "M", "Y", "Y"]
            .iter()
            .map(|s| Some(s.to_string()))
            .chain([None, None])
            .collect();
        let y_true = [0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0];
        let y_score = [0.1, 0.9, 0.2, 0.8, 0.3, 0.4, 0.2, 0.7];
        let out = check_slices(&c, "Contract", &values, &y_true, &y_score);
        let names: Vec<&str> = out.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "slice.Contract=(missing).auc_roc",
                "slice.Contract=M.auc_roc",
                "slice.Contract=Y.auc_roc"
            ]
        );
        assert_eq!(out[0].status, Status::Fail);
        assert_eq!(out[0].actual, Some(0.0));
        assert_eq!(out[1].status, Status::Pass);
        assert_eq!(out[1].actual, Some(1.0));
        assert_eq!(out[1].details["rows"], 4);
        assert_eq!(out[2].status, Status::Warn);
        assert_eq!(out[2].actual, None);
        assert!(
            out[2].message.contains("Only one class"),
            "{}",
            out[2].message
        );
        assert_eq!(out[2].details["rows"], 2);
        assert!(check_slices(&c, "other", &values, &y_true, &y_score).is_empty());
        let mut two = c.clone();
        two.slices.push(SliceConfig {
            column: "Contract".into(),
            metric: "accuracy".into(),
            min: Some(0.5),
            max: None,
        });
        assert_eq!(
            check_slices(&two, "Contract", &values, &y_true, &y_score).len(),
            6
        );
        let one = check_slice(&two, &two.slices[1], &values, &y_true, &y_score);
        assert_eq!(one.len(), 3);
        assert_eq!(one[1].name, "slice.Contract=M.accuracy");
        assert_eq!(one[1].actual, Some(1.0));
        let bad = check_slices(&c, "Contract", &values, &y_true[..3], &y_score);
        assert_eq!(bad[0].status, Status::Fail);
    }

    fn col(name: &str, t: ColumnType, nullable: bool) -> FeatureColumn {
        FeatureColumn {
            name: name.into(),
            column_type: t,
            nullable,
            categories: None,
        }
    }

    #[test]
    fn schema_rules() {
        use ColumnType::*;
        let base = vec![
            col("a", Long, false),
            col("b", Double, true),
            col("c", String, false),
        ];
        let same = check_schema(&base, &base);
        assert_eq!(same[0].status, Status::Pass);
        assert_eq!(
            same[0].message,
            "schema: the candidate accepts the baseline's inputs (3 shared, 0 widened, 0 new optional, 0 dropped)"
        );

        let added = [
            base.clone(),
            vec![col("d", Double, false), col("e", Long, true)],
        ]
        .concat();
        let out = check_schema(&added, &base);
        assert_eq!(out[0].status, Status::Fail);
        assert!(
            out[0].message.contains("new required input(s) d"),
            "{}",
            out[0].message
        );
        assert!(!out[0].message.contains("e,"));

        let dropped = check_schema(&base[..2], &base);
        assert_eq!(dropped[0].status, Status::Pass);
        assert_eq!(dropped[0].details["dropped"][0], "c");

        let widened = check_schema(&[col("a", Double, false)], &[col("a", Integer, false)]);
        assert_eq!(widened[0].status, Status::Pass);
        assert_eq!(widened[0].details["widened"][0], "a: integer -> double");
        assert_eq!(
            check_schema(&[col("a", Long, false)], &[col("a", Integer, false)])[0].status,
            Status::Pass
        );
        assert_eq!(
            check_schema(&[col("a", Double, false)], &[col("a", Float, false)])[0].status,
            Status::Pass
        );

        let narrowed = check_schema(&[col("a", Integer, false)], &[col("a", Long, false)]);
        assert_eq!(narrowed[0].status, Status::Fail);
        assert!(narrowed[0].message.contains("a: long -> integer"));
        assert_eq!(
            check_schema(&[col("a", String, false)], &[col("a", Double, false)])[0].status,
            Status::Fail
        );
        assert_eq!(
            check_schema(&[col("a", Float, false)], &[col("a", Double, false)])[0].status,
            Status::Fail
        );

        let now_required = check_schema(&[col("b", Double, false)], &[col("b", Double, true)]);
        assert_eq!(now_required[0].status, Status::Warn);
    }

    #[test]
    fn tolerance_is_relative() {
        assert!(approx_le(1.0 + 1e-13, 1.0));
        assert!(!approx_le(1.0 + 1e-9, 1.0));
        assert!(approx_ge(1e6 - 1e-7, 1e6));
        assert!(!approx_le(f64::NAN, 1.0));
    }
}
