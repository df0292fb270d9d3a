//! Evaluation metrics, computed as scikit-learn computes them (checked
//! against scikit-learn 1.9.1 to 1e-12 in `tests/metrics_sklearn.rs`).
//!
//! Pure functions, no I/O. Binary labels are `f64` values `0.0` or `1.0`; the
//! positive class is `1.0`. Scores and probabilities must be finite.
//!
//! One deliberate difference from scikit-learn 1.9: `roc_auc` with a single
//! class in `y_true` is an error ([`MetricError::SingleClass`]), where
//! scikit-learn 1.9 warns and returns NaN (older versions raised).

use thiserror::Error;

/// Why a metric could not be computed.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum MetricError {
    #[error("empty input: at least one sample is needed")]
    Empty,
    #[error("length mismatch: y_true has {y_true} values but the predictions have {y_pred}")]
    LengthMismatch { y_true: usize, y_pred: usize },
    #[error("Only one class present in y_true. ROC AUC score is not defined in that case.")]
    SingleClass,
    #[error(
        "y_true contains only one label ({0}). Please provide the list of all expected class labels explicitly through the labels argument."
    )]
    SingleLabel(f64),
    #[error("label {value} at index {index} is not 0 or 1")]
    NonBinaryLabel { index: usize, value: f64 },
    #[error("value {value} at index {index} is not finite")]
    NonFinite { index: usize, value: f64 },
    #[error("probability {value} at index {index} is outside [0, 1]")]
    ProbabilityOutOfRange { index: usize, value: f64 },
}

/// Binary confusion matrix with labels ordered `[0, 1]`, as scikit-learn's
/// `confusion_matrix(...).ravel()` gives `tn, fp, fn, tp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfusionMatrix {
    pub tn: u64,
    pub fp: u64,
    pub fn_: u64,
    pub tp: u64,
}

impl ConfusionMatrix {
    /// The matrix as scikit-learn returns it: rows are true labels `[0, 1]`,
    /// columns predicted labels `[0, 1]`.
    pub fn to_array(self) -> [[u64; 2]; 2] {
        [[self.tn, self.fp], [self.fn_, self.tp]]
    }
}

/// `roc_curve` output (with scikit-learn's default `drop_intermediate=True`).
/// `thresholds[0]` is `+inf`.
#[derive(Debug, Clone, PartialEq)]
pub struct RocCurve {
    pub fpr: Vec<f64>,
    pub tpr: Vec<f64>,
    pub thresholds: Vec<f64>,
}

/// `precision_recall_curve` output (scikit-learn's default
/// `drop_intermediate=False`): `precision` and `recall` have one more point
/// than `thresholds` (the final `(1, 0)`).
#[derive(Debug, Clone, PartialEq)]
pub struct PrCurve {
    pub precision: Vec<f64>,
    pub recall: Vec<f64>,
    pub thresholds: Vec<f64>,
}

fn check_lengths(y_true: &[f64], y_pred: &[f64]) -> Result<(), MetricError> {
    if y_true.len() != y_pred.len() {
        return Err(MetricError::LengthMismatch {
            y_true: y_true.len(),
            y_pred: y_pred.len(),
        });
    }
    if y_true.is_empty() {
        return Err(MetricError::Empty);
    }
    Ok(())
}

fn check_labels(labels: &[f64]) -> Result<(), MetricError> {
    for (index, &value) in labels.iter().enumerate() {
        if value != 0.0 && value != 1.0 {
            return Err(MetricError::NonBinaryLabel { index, value });
        }
    }
    Ok(())
}

fn check_finite(values: &[f64]) -> Result<(), MetricError> {
    for (index, &value) in values.iter().enumerate() {
        if !value.is_finite() {
            return Err(MetricError::NonFinite { index, value });
        }
    }
    Ok(())
}

/// Confusion matrix of binary labels against binary predicted labels.
pub fn confusion_matrix(y_true: &[f64], y_pred: &[f64]) -> Result<ConfusionMatrix, MetricError> {
    check_lengths(y_true, y_pred)?;
    check_labels(y_true)?;
    check_labels(y_pred)?;
    let mut cm = ConfusionMatrix {
        tn: 0,
        fp: 0,
        fn_: 0,
        tp: 0,
    };
    for (&t, &p) in y_true.iter().zip(y_pred) {
        match (t == 1.0, p == 1.0) {
            (false, false) => cm.tn += 1,
            (false, true) => cm.fp += 1,
            (true, false) => cm.fn_ += 1,
            (true, true) => cm.tp += 1,
        }
    }
    Ok(cm)
}

/// Fraction of correct predicted labels (`accuracy_score`).
pub fn accuracy(y_true: &[f64], y_pred: &[f64]) -> Result<f64, MetricError> {
    let cm = confusion_matrix(y_true, y_pred)?;
    Ok((cm.tp + cm.tn) as f64 / y_true.len() as f64)
}

fn ratio_or_zero(num: u64, den: u64) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

/// `precision_score` for positive class 1; 0 when nothing is predicted positive.
pub fn precision(y_true: &[f64], y_pred: &[f64]) -> Result<f64, MetricError> {
    let cm = confusion_matrix(y_true, y_pred)?;
    Ok(ratio_or_zero(cm.tp, cm.tp + cm.fp))
}

/// `recall_score` for positive class 1; 0 when `y_true` has no positive.
pub fn recall(y_true: &[f64], y_pred: &[f64]) -> Result<f64, MetricError> {
    let cm = confusion_matrix(y_true, y_pred)?;
    Ok(ratio_or_zero(cm.tp, cm.tp + cm.fn_))
}

/// `f1_score` for positive class 1: `2 tp / (2 tp + fp + fn)`, 0 when that
/// denominator is 0.
pub fn f1(y_true: &[f64], y_pred: &[f64]) -> Result<f64, MetricError> {
    let cm = confusion_matrix(y_true, y_pred)?;
    Ok(ratio_or_zero(2 * cm.tp, 2 * cm.tp + cm.fp + cm.fn_))
}

/// Counts per distinct threshold, highest threshold first.
struct ClfCurve {
    fps: Vec<f64>,
    tps: Vec<f64>,
    thresholds: Vec<f64>,
}

/// scikit-learn's `_binary_clf_curve`: for each distinct score, in
/// decreasing order, the false and true positives counted at or above it.
fn binary_clf_curve(y_true: &[f64], y_score: &[f64]) -> Result<ClfCurve, MetricError> {
    check_lengths(y_true, y_score)?;
    check_labels(y_true)?;
    check_finite(y_score)?;
    let mut order: Vec<usize> = (0..y_score.len()).collect();
    order.sort_by(|&a, &b| y_score[b].total_cmp(&y_score[a]));
    let (mut fps, mut tps, mut thresholds) = (Vec::new(), Vec::new(), Vec::new());
    let mut tp = 0.0;
    for (k, &i) in order.iter().enumerate() {
        tp += y_true[i];
        let last = k + 1 == order.len();
        // A block of tied scores ends where the next score differs (numpy's
        // `diff != 0`, so -0.0 and 0.0 are one block).
        if last || y_score[order[k + 1]] != y_score[i] {
            tps.push(tp);
            fps.push((k + 1) as f64 - tp);
            thresholds.push(y_score[i]);
        }
    }
    Ok(ClfCurve {
        fps,
        tps,
        thresholds,
    })
}

/// `roc_curve(y_true, y_score)` with scikit-learn's defaults. With no
/// negative (positive) sample `fpr` (`tpr`) is all NaN, as in scikit-learn.
pub fn roc_curve(y_true: &[f64], y_score: &[f64]) -> Result<RocCurve, MetricError> {
    let ClfCurve {
        fps,
        tps,
        thresholds: thr,
    } = binary_clf_curve(y_true, y_score)?;
    let keep: Vec<usize> = if fps.len() > 2 {
        (0..fps.len())
            .filter(|&i| {
                i == 0
                    || i + 1 == fps.len()
                    || (fps[i + 1] - fps[i]) - (fps[i] - fps[i - 1]) != 0.0
                    || (tps[i + 1] - tps[i]) - (tps[i] - tps[i - 1]) != 0.0
            })
            .collect()
    } else {
        (0..fps.len()).collect()
    };
    let mut fps_k = vec![0.0];
    let mut tps_k = vec![0.0];
    let mut thresholds = vec![f64::INFINITY];
    for &i in &keep {
        fps_k.push(fps[i]);
        tps_k.push(tps[i]);
        thresholds.push(thr[i]);
    }
    let normalize = |v: &[f64]| -> Vec<f64> {
        let last = v[v.len() - 1];
        if last <= 0.0 {
            vec![f64::NAN; v.len()]
        } else {
            v.iter().map(|x| x / last).collect()
        }
    };
    Ok(RocCurve {
        fpr: normalize(&fps_k),
        tpr: normalize(&tps_k),
        thresholds,
    })
}

/// Area under a curve by the trapezoidal rule (scikit-learn's `auc`, for
/// increasing `x`).
fn trapezoid(x: &[f64], y: &[f64]) -> f64 {
    let mut area = 0.0;
    for i in 1..x.len() {
        area += (x[i] - x[i - 1]) * (y[i] + y[i - 1]) / 2.0;
    }
    area
}

/// `roc_auc_score` for binary labels: the trapezoidal area under
/// [`roc_curve`], so tied scores count one half.
pub fn roc_auc(y_true: &[f64], y_score: &[f64]) -> Result<f64, MetricError> {
    check_lengths(y_true, y_score)?;
    check_labels(y_true)?;
    let positives = y_true.iter().filter(|&&t| t == 1.0).count();
    if positives == 0 || positives == y_true.len() {
        return Err(MetricError::SingleClass);
    }
    let curve = roc_curve(y_true, y_score)?;
    Ok(trapezoid(&curve.fpr, &curve.tpr))
}

/// `precision_recall_curve(y_true, y_score)` with scikit-learn's defaults:
/// recall decreasing, ending at `(precision 1, recall 0)`. With no positive
/// sample, recall is 1 at every threshold, as in scikit-learn.
pub fn precision_recall_curve(y_true: &[f64], y_score: &[f64]) -> Result<PrCurve, MetricError> {
    let ClfCurve {
        fps,
        tps,
        thresholds: thr,
    } = binary_clf_curve(y_true, y_score)?;
    let total_tp = tps[tps.len() - 1];
    let mut precision = Vec::with_capacity(tps.len() + 1);
    let mut recall = Vec::with_capacity(tps.len() + 1);
    let mut thresholds = Vec::with_capacity(tps.len());
    for i in (0..tps.len()).rev() {
        let ps = tps[i] + fps[i];
        precision.push(if ps != 0.0 { tps[i] / ps } else { 0.0 });
        recall.push(if total_tp == 0.0 {
            1.0
        } else {
            tps[i] / total_tp
        });
        thresholds.push(thr[i]);
    }
    precision.push(1.0);
    recall.push(0.0);
    Ok(PrCurve {
        precision,
        recall,
        thresholds,
    })
}

/// `log_loss(y_true, y_prob)` for binary labels and positive-class
/// probabilities, clipped to `[eps, 1 - eps]` with `eps = f64::EPSILON`
/// (scikit-learn >= 1.5). Probabilities outside `[0, 1]` are an error, as
/// in scikit-learn 1.9; so is a `y_true` with one label.
pub fn log_loss(y_true: &[f64], y_prob: &[f64]) -> Result<f64, MetricError> {
    check_lengths(y_true, y_prob)?;
    check_labels(y_true)?;
    check_finite(y_prob)?;
    for (index, &value) in y_prob.iter().enumerate() {
        if !(0.0..=1.0).contains(&value) {
            return Err(MetricError::ProbabilityOutOfRange { index, value });
        }
    }
    let first = y_true[0];
    if y_true.iter().all(|&t| t == first) {
        return Err(MetricError::SingleLabel(first));
    }
    let eps = f64::EPSILON;
    let total: f64 = y_true
        .iter()
        .zip(y_prob)
        .map(|(&t, &p)| {
            let p_used = if t == 1.0 { p } else { 1.0 - p };
            -p_used.clamp(eps, 1.0 - eps).ln()
        })
        .sum();
    Ok(total / y_true.len() as f64)
}

fn check_regression(y_true: &[f64], y_pred: &[f64]) -> Result<(), MetricError> {
    check_lengths(y_true, y_pred)?;
    check_finite(y_true)?;
    check_finite(y_pred)
}

/// `root_mean_squared_error`.
pub fn rmse(y_true: &[f64], y_pred: &[f64]) -> Result<f64, MetricError> {
    check_regression(y_true, y_pred)?;
    let sum: f64 = y_true
        .iter()
        .zip(y_pred)
        .map(|(t, p)| (t - p) * (t - p))
        .sum();
    Ok((sum / y_true.len() as f64).sqrt())
}

/// `mean_absolute_error`.
pub fn mae(y_true: &[f64], y_pred: &[f64]) -> Result<f64, MetricError> {
    check_regression(y_true, y_pred)?;
    let sum: f64 = y_true.iter().zip(y_pred).map(|(t, p)| (t - p).abs()).sum();
    Ok(sum / y_true.len() as f64)
}

/// `r2_score` with scikit-learn's `force_finite=True`: a constant `y_true`
/// gives 1.0 for a perfect prediction and 0.0 otherwise. With one sample
/// the score is not defined and is NaN, as in scikit-learn.
pub fn r2(y_true: &[f64], y_pred: &[f64]) -> Result<f64, MetricError> {
    check_regression(y_true, y_pred)?;
    if y_true.len() < 2 {
        return Ok(f64::NAN);
    }
    let mean = y_true.iter().sum::<f64>() / y_true.len() as f64;
    let numerator: f64 = y_true
        .iter()
        .zip(y_pred)
        .map(|(t, p)| (t - p) * (t - p))
        .sum();
    let denominator: f64 = y_true.iter().map(|t| (t - mean) * (t - mean)).sum();
    if denominator == 0.0 {
        return Ok(if numerator == 0.0 { 1.0 } else { 0.0 });
    }
    Ok(1.0 - numerator / denominator)
}

/// The metrics `slipway train` logs and validation compares, by name:
/// accuracy, precision, recall, f1, auc_roc, log_loss for a binary
/// classifier (labels from `score >= threshold`), rmse, mae, r2 for a
/// regressor. `auc_roc` and `log_loss` are left out where undefined (a
/// single class, or a score outside [0, 1]).
pub fn standard_metrics(
    binary: bool,
    y_true: &[f64],
    y_score: &[f64],
    threshold: f64,
) -> Result<std::collections::BTreeMap<String, f64>, MetricError> {
    let mut out = std::collections::BTreeMap::new();
    if binary {
        let pred: Vec<f64> = y_score
            .iter()
            .map(|&s| f64::from(u8::from(s >= threshold)))
            .collect();
        out.insert("accuracy".into(), accuracy(y_true, &pred)?);
        out.insert("precision".into(), precision(y_true, &pred)?);
        out.insert("recall".into(), recall(y_true, &pred)?);
        out.insert("f1".into(), f1(y_true, &pred)?);
        if let Ok(auc) = roc_auc(y_true, y_score) {
            out.insert("auc_roc".into(), auc);
        }
        if let Ok(ll) = log_loss(y_true, y_score) {
            out.insert("log_loss".into(), ll);
        }
    } else {
        out.insert("rmse".into(), rmse(y_true, y_score)?);
        out.insert("mae".into(), mae(y_true, y_score)?);
        out.insert("r2".into(), r2(y_true, y_score)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_label_metrics() {
        // tp 2, fp 1, fn 1, tn 2
        let y = [1.0, 1.0, 1.0, 0.0, 0.0, 0.0];
        let p = [1.0, 1.0, 0.0, 1.0, 0.0, 0.0];
        let cm = confusion_matrix(&y, &p).unwrap();
        assert_eq!(cm.to_array(), [[2, 1], [1, 2]]);
        assert_eq!(accuracy(&y, &p).unwrap(), 4.0 / 6.0);
        assert_eq!(precision(&y, &p).unwrap(), 2.0 / 3.0);
        assert_eq!(recall(&y, &p).unwrap(), 2.0 / 3.0);
        assert_eq!(f1(&y, &p).unwrap(), 4.0 / 6.0);
    }

    #[test]
    fn zero_division_gives_zero() {
        let y = [0.0, 0.0, 1.0];
        let none = [0.0, 0.0, 0.0];
        assert_eq!(precision(&y, &none).unwrap(), 0.0);
        assert_eq!(f1(&y, &none).unwrap(), 0.0);
        let all_neg = [0.0, 0.0];
        assert_eq!(recall(&all_neg, &all_neg).unwrap(), 0.0);
        assert_eq!(f1(&all_neg, &all_neg).unwrap(), 0.0);
        assert_eq!(accuracy(&all_neg, &all_neg).unwrap(), 1.0);
    }

    #[test]
    fn auc_hand_computed_with_ties() {
        // sklearn docs example.
        let y = [0.0, 0.0, 1.0, 1.0];
        let s = [0.1, 0.4, 0.35, 0.8];
        assert_eq!(roc_auc(&y, &s).unwrap(), 0.75);
        // One positive tied with one negative counts a half: pairs (p, n)
        // = 4, correct 3, tie 1 -> 3.5 / 4.
        let y = [1.0, 0.0, 1.0, 0.0];
        let s = [0.5, 0.5, 0.9, 0.1];
        assert_eq!(roc_auc(&y, &s).unwrap(), 0.875);
        // All tied: 0.5.
        assert_eq!(roc_auc(&[1.0, 0.0], &[0.3, 0.3]).unwrap(), 0.5);
    }

    #[test]
    fn roc_curve_matches_sklearn_doc_example() {
        let c = roc_curve(&[0.0, 0.0, 1.0, 1.0], &[0.1, 0.4, 0.35, 0.8]).unwrap();
        assert_eq!(c.fpr, vec![0.0, 0.0, 0.5, 0.5, 1.0]);
        assert_eq!(c.tpr, vec![0.0, 0.5, 0.5, 1.0, 1.0]);
        assert_eq!(c.thresholds, vec![f64::INFINITY, 0.8, 0.4, 0.35, 0.1]);
    }

    #[test]
    fn pr_curve_matches_sklearn_doc_example() {
        let c = precision_recall_curve(&[0.0, 0.0, 1.0, 1.0], &[0.1, 0.4, 0.35, 0.8]).unwrap();
        assert_eq!(c.precision, vec![0.5, 2.0 / 3.0, 0.5, 1.0, 1.0]);
        assert_eq!(c.recall, vec![1.0, 1.0, 0.5, 0.5, 0.0]);
        assert_eq!(c.thresholds, vec![0.1, 0.35, 0.4, 0.8]);
    }

    #[test]
    fn errors() {
        assert_eq!(accuracy(&[], &[]), Err(MetricError::Empty));
        assert_eq!(
            rmse(&[1.0], &[1.0, 2.0]),
            Err(MetricError::LengthMismatch {
                y_true: 1,
                y_pred: 2
            })
        );
        let err = roc_auc(&[1.0, 1.0], &[0.2, 0.3]).unwrap_err();
        assert_eq!(err, MetricError::SingleClass);
        assert_eq!(
            err.to_string(),
            "Only one class present in y_true. ROC AUC score is not defined in that case."
        );
        assert_eq!(
            log_loss(&[0.0, 0.0], &[0.1, 0.2]),
            Err(MetricError::SingleLabel(0.0))
        );
        assert_eq!(
            log_loss(&[0.0, 1.0], &[0.1, 1.5]),
            Err(MetricError::ProbabilityOutOfRange {
                index: 1,
                value: 1.5
            })
        );
        assert!(matches!(
            roc_auc(&[0.0, 1.0], &[0.1, f64::NAN]),
            Err(MetricError::NonFinite { index: 1, .. })
        ));
        assert_eq!(
            accuracy(&[2.0], &[1.0]),
            Err(MetricError::NonBinaryLabel {
                index: 0,
                value: 2.0
            })
        );
    }

    #[test]
    fn log_loss_clips_certain_mistakes() {
        // -ln(eps) for the wrong certain prediction, -ln(1 - eps) for the right one.
        let v = log_loss(&[1.0, 0.0], &[0.0, 0.0]).unwrap();
        let expected = (-(f64::EPSILON).ln() - (1.0 - f64::EPSILON).ln()) / 2.0;
        assert_eq!(v, expected);
    }

    #[test]
    fn regression_hand_computed() {
        let y = [3.0, -0.5, 2.0, 7.0];
        let p = [2.5, 0.0, 2.0, 8.0];
        assert_eq!(mae(&y, &p).unwrap(), 0.5);
        assert_eq!(rmse(&y, &p).unwrap(), 0.375f64.sqrt());
        // sklearn docs: r2_score([3, -0.5, 2, 7], [2.5, 0.0, 2, 8]) = 0.948...
        assert!((r2(&y, &p).unwrap() - 0.9486081370449679).abs() < 1e-15);
        assert_eq!(r2(&[1.0, 1.0], &[1.0, 1.0]).unwrap(), 1.0);
        assert_eq!(r2(&[1.0, 1.0], &[1.0, 2.0]).unwrap(), 0.0);
        assert!(r2(&[1.0], &[2.0]).unwrap().is_nan());
    }
}
