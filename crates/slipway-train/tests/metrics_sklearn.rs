//! Expected values computed once with scikit-learn (script below, run in a
//! venv) and pasted here as literals: these tests need no Python.
//!
//! ```python
//! import numpy as np, sklearn
//! from sklearn import metrics as m
//! rng = np.random.default_rng(20261127)
//! n = 60
//! y = (rng.random(n) < 0.4).astype(float)
//! s = np.round(np.clip(0.35*y + rng.random(n)*0.7, 0, 1), 2)  # ties
//! p = (s >= 0.5).astype(float)
//! yr = np.round(rng.normal(3, 2, n), 3)
//! pr = np.round(yr + rng.normal(0, 1, n), 3)
//! def lit(a): return "[" + ", ".join(repr(float(v)) for v in a) + "]"
//! print("// scikit-learn", sklearn.__version__, "numpy", np.__version__)
//! print("const Y:", "[f64; %d] =" % n, lit(y) + ";")
//! print("const S:", "[f64; %d] =" % n, lit(s) + ";")
//! print("const P:", "[f64; %d] =" % n, lit(p) + ";")
//! print("const YR:", "[f64; %d] =" % n, lit(yr) + ";")
//! print("const PR:", "[f64; %d] =" % n, lit(pr) + ";")
//! print("const ACCURACY: f64 =", repr(float(m.accuracy_score(y,p)))+";")
//! print("const PRECISION: f64 =", repr(float(m.precision_score(y,p)))+";")
//! print("const RECALL: f64 =", repr(float(m.recall_score(y,p)))+";")
//! print("const F1: f64 =", repr(float(m.f1_score(y,p)))+";")
//! print("const ROC_AUC: f64 =", repr(float(m.roc_auc_score(y,s)))+";")
//! print("const LOG_LOSS: f64 =", repr(float(m.log_loss(y,s)))+";")
//! print("const CONFUSION: [[u64; 2]; 2] =", m.confusion_matrix(y,p).tolist(), ";")
//! f,t,th = m.roc_curve(y,s)
//! print("const ROC_FPR: [f64; %d] =" % len(f), lit(f)+";")
//! print("const ROC_TPR: [f64; %d] =" % len(t), lit(t)+";")
//! print("const ROC_THRESHOLDS: [f64; %d] =" % len(th), lit(th).replace("inf","f64::INFINITY")+";")
//! pc,rc,th = m.precision_recall_curve(y,s)
//! print("const PR_PRECISION: [f64; %d] =" % len(pc), lit(pc)+";")
//! print("const PR_RECALL: [f64; %d] =" % len(rc), lit(rc)+";")
//! print("const PR_THRESHOLDS: [f64; %d] =" % len(th), lit(th)+";")
//! print("const RMSE: f64 =", repr(float(m.root_mean_squared_error(yr,pr)))+";")
//! print("const MAE: f64 =", repr(float(m.mean_absolute_error(yr,pr)))+";")
//! print("const R2: f64 =", repr(float(m.r2_score(yr,pr)))+";")
//! # clipping case
//! print("const LOG_LOSS_EXTREME: f64 =", repr(float(m.log_loss([1,0,1,0],[0.0,0.0,1.0,1.0])))+";")
//! try:
//!     m.log_loss([0,0],[0.1,0.2])
//! except Exception as e:
//!     print("// single label:", e)
//! ```

use slipway_train::metrics::*;

#[rustfmt::skip]
mod table {
// scikit-learn 1.9.1 numpy 2.4.6
pub const Y: [f64; 60] = [1.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0];
pub const S: [f64; 60] = [0.95, 0.89, 0.08, 0.6, 0.13, 0.48, 0.28, 0.04, 0.63, 0.52, 0.68, 0.39, 0.05, 0.92, 0.42, 0.84, 0.41, 0.69, 0.37, 0.68, 0.1, 0.65, 0.49, 0.42, 0.28, 0.91, 0.62, 0.63, 0.81, 0.22, 0.96, 0.39, 0.46, 0.66, 0.53, 0.59, 0.93, 0.67, 0.78, 0.35, 0.19, 0.47, 0.08, 0.58, 0.49, 0.65, 0.28, 0.24, 0.49, 0.25, 0.66, 0.69, 1.0, 0.14, 0.96, 0.29, 0.06, 1.0, 0.6, 0.04];
pub const P: [f64; 60] = [1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0];
pub const YR: [f64; 60] = [3.02, 2.142, 1.602, 4.687, 6.868, 1.985, 7.752, 1.764, 0.556, 4.15, 2.059, 1.941, 2.286, 5.354, 3.779, 3.77, 3.162, 1.822, 5.867, 5.884, 5.476, 2.11, 2.979, 2.298, 1.427, 2.502, 5.789, 3.434, 4.637, 3.975, 5.174, 4.275, 2.579, 4.067, 3.405, 2.323, -1.23, 2.298, 1.251, 2.832, 3.971, 4.471, 2.816, -0.862, 4.708, 3.795, 2.996, 2.311, 2.57, 4.64, 2.481, -0.141, 1.105, 3.274, 5.153, -1.054, 1.89, 2.687, 2.958, 5.135];
pub const PR: [f64; 60] = [4.16, 2.478, 2.979, 4.187, 6.819, 2.656, 7.757, 1.3, -0.054, 5.465, 2.509, 2.024, 1.999, 4.911, 2.837, 3.364, 2.882, 1.602, 4.874, 8.71, 4.636, 2.686, 1.394, 3.353, 2.75, 3.915, 6.153, 4.872, 5.317, 3.299, 5.633, 4.593, 2.437, 5.017, 3.322, 1.822, -1.085, 2.621, 1.026, 1.557, 3.09, 4.576, 0.599, -0.08, 3.521, 3.371, 2.107, 2.086, 1.674, 5.451, 2.441, 0.438, 0.839, 1.896, 4.195, 0.005, 1.78, 2.812, 3.066, 3.818];
pub const ACCURACY: f64 = 0.75;
pub const PRECISION: f64 = 0.7;
pub const RECALL: f64 = 0.7777777777777778;
pub const F1: f64 = 0.7368421052631579;
pub const ROC_AUC: f64 = 0.8787878787878788;
pub const LOG_LOSS: f64 = 0.43308009487201604;
pub const CONFUSION: [[u64; 2]; 2] = [[24, 9], [6, 21]];
pub const ROC_FPR: [f64; 25] = [0.0, 0.0, 0.0, 0.0, 0.06060606060606061, 0.09090909090909091, 0.12121212121212122, 0.12121212121212122, 0.15151515151515152, 0.18181818181818182, 0.21212121212121213, 0.21212121212121213, 0.2727272727272727, 0.30303030303030304, 0.30303030303030304, 0.36363636363636365, 0.3939393939393939, 0.42424242424242425, 0.42424242424242425, 0.5151515151515151, 0.6060606060606061, 0.8181818181818182, 0.8787878787878788, 0.9393939393939394, 1.0];
pub const ROC_TPR: [f64; 25] = [0.0, 0.07407407407407407, 0.14814814814814814, 0.4444444444444444, 0.5185185185185185, 0.5185185185185185, 0.5555555555555556, 0.6296296296296297, 0.6666666666666666, 0.6666666666666666, 0.7037037037037037, 0.7777777777777778, 0.7777777777777778, 0.8518518518518519, 0.8888888888888888, 0.8888888888888888, 0.9259259259259259, 0.9259259259259259, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0];
pub const ROC_THRESHOLDS: [f64; 25] = [f64::INFINITY, 1.0, 0.96, 0.78, 0.68, 0.67, 0.66, 0.65, 0.63, 0.62, 0.6, 0.58, 0.52, 0.49, 0.48, 0.46, 0.42, 0.41, 0.39, 0.29, 0.28, 0.1, 0.08, 0.05, 0.04];
pub const PR_PRECISION: [f64; 45] = [0.45, 0.46551724137931033, 0.47368421052631576, 0.48214285714285715, 0.5, 0.5094339622641509, 0.5192307692307693, 0.5294117647058824, 0.54, 0.5510204081632653, 0.5625, 0.574468085106383, 0.6136363636363636, 0.627906976744186, 0.6428571428571429, 0.6585365853658537, 0.6410256410256411, 0.6578947368421053, 0.6666666666666666, 0.6857142857142857, 0.7058823529411765, 0.696969696969697, 0.7, 0.7241379310344828, 0.75, 0.7407407407407407, 0.7307692307692307, 0.75, 0.782608695652174, 0.8095238095238095, 0.7894736842105263, 0.8235294117647058, 0.875, 0.9285714285714286, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0];
pub const PR_RECALL: [f64; 45] = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.9259259259259259, 0.9259259259259259, 0.8888888888888888, 0.8888888888888888, 0.8888888888888888, 0.8518518518518519, 0.7777777777777778, 0.7777777777777778, 0.7777777777777778, 0.7407407407407407, 0.7037037037037037, 0.6666666666666666, 0.6666666666666666, 0.6296296296296297, 0.5555555555555556, 0.5185185185185185, 0.5185185185185185, 0.48148148148148145, 0.4444444444444444, 0.4074074074074074, 0.37037037037037035, 0.3333333333333333, 0.2962962962962963, 0.25925925925925924, 0.2222222222222222, 0.18518518518518517, 0.14814814814814814, 0.07407407407407407, 0.0];
pub const PR_THRESHOLDS: [f64; 44] = [0.04, 0.05, 0.06, 0.08, 0.1, 0.13, 0.14, 0.19, 0.22, 0.24, 0.25, 0.28, 0.29, 0.35, 0.37, 0.39, 0.41, 0.42, 0.46, 0.47, 0.48, 0.49, 0.52, 0.53, 0.58, 0.59, 0.6, 0.62, 0.63, 0.65, 0.66, 0.67, 0.68, 0.69, 0.78, 0.81, 0.84, 0.89, 0.91, 0.92, 0.93, 0.95, 0.96, 1.0];
pub const RMSE: f64 = 0.8954894285622063;
pub const MAE: f64 = 0.7020833333333333;
pub const R2: f64 = 0.7552074009339533;
pub const LOG_LOSS_EXTREME: f64 = 18.021826694558577;
}
use table::*;

const TOL: f64 = 1e-12;

fn close(actual: f64, expected: f64, what: &str) {
    assert!(
        (actual - expected).abs() <= TOL,
        "{what}: {actual} vs scikit-learn {expected}"
    );
}

fn close_all(actual: &[f64], expected: &[f64], what: &str) {
    assert_eq!(actual.len(), expected.len(), "{what}: length");
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        if e.is_infinite() {
            assert_eq!(a, e, "{what}[{i}]");
        } else {
            close(*a, *e, &format!("{what}[{i}]"));
        }
    }
}

#[test]
fn label_metrics_match_sklearn() {
    close(accuracy(&Y, &P).unwrap(), ACCURACY, "accuracy");
    close(precision(&Y, &P).unwrap(), PRECISION, "precision");
    close(recall(&Y, &P).unwrap(), RECALL, "recall");
    close(f1(&Y, &P).unwrap(), F1, "f1");
    assert_eq!(confusion_matrix(&Y, &P).unwrap().to_array(), CONFUSION);
}

#[test]
fn score_metrics_match_sklearn() {
    close(roc_auc(&Y, &S).unwrap(), ROC_AUC, "roc_auc");
    close(log_loss(&Y, &S).unwrap(), LOG_LOSS, "log_loss");
    close(
        log_loss(&[1.0, 0.0, 1.0, 0.0], &[0.0, 0.0, 1.0, 1.0]).unwrap(),
        LOG_LOSS_EXTREME,
        "log_loss clipped",
    );
}

#[test]
fn curves_match_sklearn() {
    let roc = roc_curve(&Y, &S).unwrap();
    close_all(&roc.fpr, &ROC_FPR, "roc fpr");
    close_all(&roc.tpr, &ROC_TPR, "roc tpr");
    close_all(&roc.thresholds, &ROC_THRESHOLDS, "roc thresholds");
    let pr = precision_recall_curve(&Y, &S).unwrap();
    close_all(&pr.precision, &PR_PRECISION, "pr precision");
    close_all(&pr.recall, &PR_RECALL, "pr recall");
    close_all(&pr.thresholds, &PR_THRESHOLDS, "pr thresholds");
}

#[test]
fn regression_metrics_match_sklearn() {
    close(rmse(&YR, &PR).unwrap(), RMSE, "rmse");
    close(mae(&YR, &PR).unwrap(), MAE, "mae");
    close(r2(&YR, &PR).unwrap(), R2, "r2");
}
