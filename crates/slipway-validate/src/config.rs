//! The `validation.yaml` schema.
//!
//! Every key is optional, and a missing key takes its value from
//! [`ValidationConfig::default`], so `ValidationConfig::parse("")` equals the
//! default: one set of defaults whether or not a file is given. A section set
//! to `false` (`regression: false`) turns its check off; `true` or an empty
//! value (`coverage:`) turns it on with its defaults. Unknown keys are errors
//! naming the key (a typo must not silently disable a gate), and so are
//! values out of range.
//!
//! # Defaults (no `--config`)
//!
//! | key | default | why |
//! |---|---|---|
//! | `performance` | none | thresholds are task-specific; the guide's `accuracy >= 0.80` would fail every regressor |
//! | `warn_margin` | `0.05` | the guide's "within 5%" |
//! | `regression` | on: `metrics: [accuracy, f1, auc_roc]`, `max_degradation: 0.02` | the guide's; for a regressor, when the list is not configured, `[rmse, mae, r2]` is used instead (see [`RegressionConfig::metrics_configured`]) |
//! | `latency` | on: `p99_ms: {max: 100}`, `samples: 1000` | the guide's `max_latency_ms = 100` |
//! | `drift` | off (`psi: {max: 0.2}` when on) | needs current data, which only the user can name |
//! | `coverage` | off (`min: 0.95` when on) | needs evaluation data (`--data`) |
//! | `slices` | none | needs a column name |
//! | `schema` | `true` | free, and an added required input breaks every caller |

use crate::ValidateError;
use serde::{Deserialize, Serialize};
use serde_yaml_ng::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Metrics a slice check can compute (the names `slipway train` logs).
pub const SLICE_METRICS: [&str; 9] = [
    "accuracy",
    "precision",
    "recall",
    "f1",
    "auc_roc",
    "log_loss",
    "rmse",
    "mae",
    "r2",
];

/// Regression metrics compared by default for classifiers (the guide's).
pub const DEFAULT_REGRESSION_METRICS: [&str; 3] = ["accuracy", "f1", "auc_roc"];

/// Regression metrics compared by default when the candidate is a regressor
/// (it logs none of [`DEFAULT_REGRESSION_METRICS`]).
pub const DEFAULT_REGRESSOR_METRICS: [&str; 3] = ["rmse", "mae", "r2"];

/// The parsed `validation.yaml`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ValidationConfig {
    /// Thresholds on the run's logged metrics, by metric name.
    pub performance: BTreeMap<String, Bound>,
    /// Relative distance from a threshold, on the failing side, that still
    /// only WARNs. In `[0, 1)`.
    pub warn_margin: f64,
    pub regression: Option<RegressionConfig>,
    pub latency: Option<LatencyConfig>,
    pub drift: Option<DriftConfig>,
    /// Bound on the share of evaluation rows with a valid prediction.
    pub coverage: Option<Bound>,
    pub slices: Vec<SliceConfig>,
    /// Compare the candidate's signature with the baseline's (when there is a
    /// baseline).
    pub schema: bool,
}

impl Default for ValidationConfig {
    fn default() -> Self {
        ValidationConfig {
            performance: BTreeMap::new(),
            warn_margin: 0.05,
            regression: Some(RegressionConfig::default()),
            latency: Some(LatencyConfig::default()),
            drift: None,
            coverage: None,
            slices: Vec::new(),
            schema: true,
        }
    }
}

/// A range for a value: at least one side, `min <= max`, both finite.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bound {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

impl Bound {
    pub fn min(min: f64) -> Bound {
        Bound {
            min: Some(min),
            max: None,
        }
    }

    pub fn max(max: f64) -> Bound {
        Bound {
            min: None,
            max: Some(max),
        }
    }

    fn check(&self, key: &str) -> Result<(), ValidateError> {
        for (side, v) in [("min", self.min), ("max", self.max)] {
            if let Some(v) = v {
                if !v.is_finite() {
                    return Err(invalid(
                        format!("{key}.{side}"),
                        format!("must be a finite number, not {v}"),
                    ));
                }
            }
        }
        match (self.min, self.max) {
            (None, None) => Err(invalid(key, "give `min`, `max` or both")),
            (Some(lo), Some(hi)) if lo > hi => Err(invalid(
                key,
                format!("`min` ({lo}) is greater than `max` ({hi})"),
            )),
            _ => Ok(()),
        }
    }
}

/// An upper limit (latency has no lower one).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaxBound {
    pub max: f64,
}

/// Regression against the baseline model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegressionConfig {
    /// Metrics compared; default [`DEFAULT_REGRESSION_METRICS`].
    pub metrics: Vec<String>,
    /// Largest tolerated degradation (absolute, in the metric's units) that
    /// only WARNs; beyond it FAILs. Default 0.02.
    pub max_degradation: f64,
    /// Whether `metrics` came from the file. When it did not and the
    /// candidate logged none of the classifier metrics,
    /// [`DEFAULT_REGRESSOR_METRICS`] are compared instead, so the default
    /// config works for regressors too.
    pub metrics_configured: bool,
}

impl Default for RegressionConfig {
    fn default() -> Self {
        RegressionConfig {
            metrics: DEFAULT_REGRESSION_METRICS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            max_degradation: 0.02,
            metrics_configured: false,
        }
    }
}

/// Single-row prediction latency budget, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LatencyConfig {
    /// Default `{max: 100}` (also when a `latency` section names neither
    /// percentile).
    pub p99_ms: Option<MaxBound>,
    pub p50_ms: Option<MaxBound>,
    /// Single rows the CLI times; at least 1, default 1000.
    pub samples: usize,
}

impl Default for LatencyConfig {
    fn default() -> Self {
        LatencyConfig {
            p99_ms: Some(MaxBound { max: 100.0 }),
            p50_ms: None,
            samples: 1000,
        }
    }
}

/// What current data is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftReference {
    /// The data profile logged by `slipway train` with the run.
    TrainingProfile,
}

/// Data drift budget.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftConfig {
    /// Largest PSI that does not FAIL; PSI above `max / 2` WARNs (the guide's
    /// rule). Default 0.2.
    pub psi: MaxBound,
    pub reference: DriftReference,
    /// Current data file (relative paths are the caller's to resolve); the
    /// CLI's `--current`/`--data` can supply it.
    pub current: Option<PathBuf>,
}

impl Default for DriftConfig {
    fn default() -> Self {
        DriftConfig {
            psi: MaxBound { max: 0.2 },
            reference: DriftReference::TrainingProfile,
            current: None,
        }
    }
}

/// A metric computed per value of a column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SliceConfig {
    pub column: String,
    /// One of [`SLICE_METRICS`].
    pub metric: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

impl SliceConfig {
    pub fn bound(&self) -> Bound {
        Bound {
            min: self.min,
            max: self.max,
        }
    }
}

/// The top-level keys, in the order the docs list them.
pub const KEYS: [&str; 8] = [
    "performance",
    "warn_margin",
    "regression",
    "latency",
    "drift",
    "coverage",
    "slices",
    "schema",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegression {
    metrics: Option<Vec<String>>,
    max_degradation: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLatency {
    p99_ms: Option<MaxBound>,
    p50_ms: Option<MaxBound>,
    samples: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDrift {
    psi: Option<MaxBound>,
    reference: Option<DriftReference>,
    current: Option<String>,
}

struct RawConfig {
    performance: Option<BTreeMap<String, Value>>,
    warn_margin: Option<f64>,
    regression: Option<Value>,
    latency: Option<Value>,
    drift: Option<Value>,
    coverage: Option<Value>,
    slices: Option<Value>,
    schema: Option<bool>,
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> ValidateError {
    ValidateError::InvalidValue {
        key: key.into(),
        message: message.into(),
    }
}

/// Deserializes one section, prefixing serde's message with the section's
/// key (serde names the unknown or mistyped field itself).
fn section<T: serde::de::DeserializeOwned>(key: &str, value: Value) -> Result<T, ValidateError> {
    serde_yaml_ng::from_value(value).map_err(|e| ValidateError::Syntax(format!("{key}: {e}")))
}

/// `false` -> off, `true`/null -> defaults, a mapping -> parsed.
enum Switch {
    Off,
    Defaults,
    Section(Value),
}

fn switch(value: Option<Value>, default_on: bool) -> Switch {
    match value {
        None if default_on => Switch::Defaults,
        None => Switch::Off,
        Some(Value::Bool(false)) => Switch::Off,
        Some(Value::Bool(true)) | Some(Value::Null) => Switch::Defaults,
        Some(v) => Switch::Section(v),
    }
}

fn finite(key: &str, v: f64) -> Result<f64, ValidateError> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(invalid(key, format!("must be a finite number, not {v}")))
    }
}

impl ValidationConfig {
    /// Parses and checks a `validation.yaml` (see the module docs for the
    /// defaults of missing keys).
    pub fn parse(yaml: &str) -> Result<Self, ValidateError> {
        let doc: Value =
            serde_yaml_ng::from_str(yaml).map_err(|e| ValidateError::Syntax(e.to_string()))?;
        if doc.is_null() {
            return Ok(ValidationConfig::default());
        }
        if !doc.is_mapping() {
            return Err(ValidateError::Syntax(
                "the file must be a mapping of keys (performance, warn_margin, regression, latency, drift, coverage, slices, schema)".to_string(),
            ));
        }
        let Value::Mapping(map) = doc else {
            unreachable!("checked above")
        };
        // Keys are read by hand rather than through a derived struct so that
        // `drift:` (present, empty: on with defaults) differs from no `drift`
        // key, and so that a mistyped value's error names its key.
        let mut top: BTreeMap<String, Value> = BTreeMap::new();
        for (k, v) in map {
            let key = match k {
                Value::String(k) => k,
                other => {
                    return Err(ValidateError::Syntax(format!(
                        "keys must be strings, not {other:?}"
                    )))
                }
            };
            if !KEYS.contains(&key.as_str()) {
                return Err(ValidateError::Syntax(format!(
                    "unknown key `{key}`, expected one of {}",
                    KEYS.join(", ")
                )));
            }
            top.insert(key, v);
        }
        let raw = RawConfig {
            performance: match top.remove("performance") {
                None | Some(Value::Null) => None,
                Some(v) => Some(section::<BTreeMap<String, Value>>("performance", v)?),
            },
            warn_margin: match top.remove("warn_margin") {
                None => None,
                Some(v) => Some(section::<f64>("warn_margin", v)?),
            },
            regression: top.remove("regression"),
            latency: top.remove("latency"),
            drift: top.remove("drift"),
            coverage: top.remove("coverage"),
            slices: top.remove("slices"),
            schema: match top.remove("schema") {
                None => None,
                Some(v) => Some(section::<bool>("schema", v)?),
            },
        };
        let mut cfg = ValidationConfig::default();

        if let Some(margin) = raw.warn_margin {
            if !(0.0..1.0).contains(&margin) {
                return Err(invalid(
                    "warn_margin",
                    format!("must be in [0, 1) (a share, e.g. 0.05), not {margin}"),
                ));
            }
            cfg.warn_margin = margin;
        }

        for (metric, value) in raw.performance.unwrap_or_default() {
            let key = format!("performance.{metric}");
            let bound: Bound = section(&key, value)?;
            bound.check(&key)?;
            cfg.performance.insert(metric, bound);
        }

        cfg.regression = match switch(raw.regression, true) {
            Switch::Off => None,
            Switch::Defaults => Some(RegressionConfig::default()),
            Switch::Section(v) => {
                let r: RawRegression = section("regression", v)?;
                let mut out = RegressionConfig::default();
                if let Some(metrics) = r.metrics {
                    if metrics.is_empty() {
                        return Err(invalid(
                            "regression.metrics",
                            "list at least one metric (or set `regression: false`)",
                        ));
                    }
                    if let Some(m) = metrics.iter().find(|m| m.trim().is_empty()) {
                        return Err(invalid(
                            "regression.metrics",
                            format!("metric name {m:?} is empty"),
                        ));
                    }
                    out.metrics = metrics;
                    out.metrics_configured = true;
                }
                if let Some(d) = r.max_degradation {
                    let d = finite("regression.max_degradation", d)?;
                    if d < 0.0 {
                        return Err(invalid(
                            "regression.max_degradation",
                            format!("must be >= 0, not {d}"),
                        ));
                    }
                    out.max_degradation = d;
                }
                Some(out)
            }
        };

        cfg.latency = match switch(raw.latency, true) {
            Switch::Off => None,
            Switch::Defaults => Some(LatencyConfig::default()),
            Switch::Section(v) => {
                let r: RawLatency = section("latency", v)?;
                let mut out = LatencyConfig {
                    p99_ms: r.p99_ms,
                    p50_ms: r.p50_ms,
                    samples: 1000,
                };
                if out.p99_ms.is_none() && out.p50_ms.is_none() {
                    out.p99_ms = LatencyConfig::default().p99_ms;
                }
                for (key, b) in [
                    ("latency.p99_ms.max", out.p99_ms),
                    ("latency.p50_ms.max", out.p50_ms),
                ] {
                    if let Some(b) = b {
                        let m = finite(key, b.max)?;
                        if m <= 0.0 {
                            return Err(invalid(key, format!("must be > 0 ms, not {m}")));
                        }
                    }
                }
                if let Some(s) = r.samples {
                    if s < 1 {
                        return Err(invalid("latency.samples", "must be at least 1"));
                    }
                    out.samples = s;
                }
                Some(out)
            }
        };

        cfg.drift = match switch(raw.drift, false) {
            Switch::Off => None,
            Switch::Defaults => Some(DriftConfig::default()),
            Switch::Section(v) => {
                let r: RawDrift = section("drift", v)?;
                let mut out = DriftConfig::default();
                if let Some(psi) = r.psi {
                    let m = finite("drift.psi.max", psi.max)?;
                    if m <= 0.0 {
                        return Err(invalid("drift.psi.max", format!("must be > 0, not {m}")));
                    }
                    out.psi = psi;
                }
                if let Some(reference) = r.reference {
                    out.reference = reference;
                }
                if let Some(current) = r.current {
                    if current.trim().is_empty() {
                        return Err(invalid("drift.current", "the path is empty"));
                    }
                    out.current = Some(PathBuf::from(current));
                }
                Some(out)
            }
        };

        cfg.coverage = match switch(raw.coverage, false) {
            Switch::Off => None,
            Switch::Defaults => Some(Bound::min(0.95)),
            Switch::Section(v) => {
                let b: Bound = section("coverage", v)?;
                b.check("coverage")?;
                for (side, x) in [("min", b.min), ("max", b.max)] {
                    if let Some(x) = x {
                        if !(0.0..=1.0).contains(&x) {
                            return Err(invalid(
                                format!("coverage.{side}"),
                                format!("coverage is a share in [0, 1], not {x}"),
                            ));
                        }
                    }
                }
                Some(b)
            }
        };

        cfg.slices = match raw.slices {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Sequence(items)) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.into_iter().enumerate() {
                    out.push(slice(&format!("slices[{i}]"), item)?);
                }
                out
            }
            Some(v @ Value::Mapping(_)) => vec![slice("slices", v)?],
            Some(_) => {
                return Err(invalid(
                    "slices",
                    "must be a mapping {column, metric, min} or a list of them",
                ))
            }
        };

        if let Some(schema) = raw.schema {
            cfg.schema = schema;
        }
        Ok(cfg)
    }
}

fn slice(key: &str, value: Value) -> Result<SliceConfig, ValidateError> {
    let s: SliceConfig = section(key, value)?;
    if s.column.trim().is_empty() {
        return Err(invalid(format!("{key}.column"), "the column name is empty"));
    }
    if !SLICE_METRICS.contains(&s.metric.as_str()) {
        return Err(invalid(
            format!("{key}.metric"),
            format!(
                "unknown metric `{}`; one of {}",
                s.metric,
                SLICE_METRICS.join(", ")
            ),
        ));
    }
    s.bound().check(key)?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(yaml: &str) -> String {
        ValidationConfig::parse(yaml).unwrap_err().to_string()
    }

    #[test]
    fn empty_file_is_the_default() {
        assert_eq!(
            ValidationConfig::parse("").unwrap(),
            ValidationConfig::default()
        );
        assert_eq!(
            ValidationConfig::parse("# nothing\n").unwrap(),
            ValidationConfig::default()
        );
    }

    #[test]
    fn the_issue_example_parses() {
        let cfg = ValidationConfig::parse(
            "performance: {accuracy: {min: 0.80}, auc_roc: {min: 0.75}, log_loss: {max: 0.5}}\n\
             warn_margin: 0.05\n\
             regression: {metrics: [accuracy, f1, auc_roc], max_degradation: 0.02}\n\
             latency: {p99_ms: {max: 100}, samples: 1000}\n\
             drift: {psi: {max: 0.2}, reference: training_profile, current: data/recent.parquet}\n\
             coverage: {min: 0.95}\n\
             slices: {column: Contract, metric: auc_roc, min: 0.70}\n",
        )
        .unwrap();
        assert_eq!(cfg.performance["accuracy"], Bound::min(0.80));
        assert_eq!(cfg.performance["log_loss"], Bound::max(0.5));
        let r = cfg.regression.unwrap();
        assert!(r.metrics_configured);
        assert_eq!(r.max_degradation, 0.02);
        assert_eq!(cfg.latency.unwrap().p99_ms, Some(MaxBound { max: 100.0 }));
        let d = cfg.drift.unwrap();
        assert_eq!(
            d.current.as_deref(),
            Some(std::path::Path::new("data/recent.parquet"))
        );
        assert_eq!(d.reference, DriftReference::TrainingProfile);
        assert_eq!(cfg.coverage, Some(Bound::min(0.95)));
        assert_eq!(cfg.slices.len(), 1);
        assert_eq!(cfg.slices[0].column, "Contract");
        assert!(cfg.schema);
    }

    #[test]
    fn slices_as_a_list_and_switches() {
        let cfg = ValidationConfig::parse(
            "slices:\n  - {column: Contract, metric: auc_roc, min: 0.7}\n  - {column: region, metric: accuracy, min: 0.6}\n\
             regression: false\nlatency: false\ncoverage: true\ndrift:\nschema: false\n",
        )
        .unwrap();
        assert_eq!(cfg.slices.len(), 2);
        assert!(cfg.regression.is_none() && cfg.latency.is_none());
        assert_eq!(cfg.coverage, Some(Bound::min(0.95)));
        assert_eq!(cfg.drift, Some(DriftConfig::default()));
        assert!(!cfg.schema);
    }

    #[test]
    fn latency_section_without_percentiles_keeps_p99_default() {
        let cfg = ValidationConfig::parse("latency: {samples: 10}").unwrap();
        let l = cfg.latency.unwrap();
        assert_eq!(l.samples, 10);
        assert_eq!(l.p99_ms, Some(MaxBound { max: 100.0 }));
    }

    #[test]
    fn unknown_keys_are_named() {
        assert!(err("preformance: {}").contains("preformance"));
        assert!(err("regression: {max_degradtion: 0.1}").contains("max_degradtion"));
        let e = err("regression: {max_degradtion: 0.1}");
        assert!(e.contains("regression"), "{e}");
        assert!(err("performance: {accuracy: {mn: 0.8}}").contains("performance.accuracy"));
        assert!(err("performance: {accuracy: {mn: 0.8}}").contains("mn"));
        assert!(err("latency: {p99_ms: {min: 3}}").contains("latency"));
        assert!(err("drift: {reference: yesterday}").contains("drift"));
        let e = err("slices: [{column: a, metric: auc_roc, min: 0.5}, {column: b, metric: auc_roc, mni: 1}]");
        assert!(e.contains("slices[1]") && e.contains("mni"), "{e}");
    }

    #[test]
    fn values_are_checked_and_named() {
        let e = err("warn_margin: 1.0");
        assert!(e.contains("warn_margin"), "{e}");
        assert!(err("warn_margin: -0.1").contains("warn_margin"));
        assert!(err("latency: {samples: 0}").contains("latency.samples"));
        assert!(err("latency: {p99_ms: {max: 0}}").contains("latency.p99_ms.max"));
        assert!(err("regression: {max_degradation: -1}").contains("regression.max_degradation"));
        assert!(err("regression: {metrics: []}").contains("regression.metrics"));
        assert!(err("performance: {accuracy: {}}").contains("performance.accuracy"));
        assert!(
            err("performance: {accuracy: {min: 0.9, max: 0.8}}").contains("performance.accuracy")
        );
        assert!(err("performance: {accuracy: {min: .nan}}").contains("performance.accuracy.min"));
        assert!(err("coverage: {min: 1.5}").contains("coverage.min"));
        assert!(err("drift: {psi: {max: 0}}").contains("drift.psi.max"));
        assert!(err("slices: {column: c, metric: auc, min: 0.7}").contains("slices.metric"));
        assert!(err("slices: {column: c, metric: auc_roc}").contains("slices"));
        assert!(err("slices: 3").contains("slices"));
        assert!(err("schema: maybe").contains("schema"));
        assert!(err("- a\n- b").contains("mapping"));
    }
}
