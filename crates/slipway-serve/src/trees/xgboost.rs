//! XGBoost's native model files (`Booster.save_model`; `mlflow.xgboost`
//! writes `model.ubj`, `model.json` or `model.xgb`), scored through
//! `hessboost`, whose XGBoost import predicts bit for bit as XGBoost does
//! (`f32` inputs, thresholds and sums; XGBoost's `expf` sigmoid and softmax).
//! What `hessboost` does not keep (feature names, the scikit-learn wrapper's
//! `best_iteration`, the category encoder) is read from the document here.

use hessboost::model::{BoostedModel, ModelFormat};
use serde_json::Value;

use super::TreeError;

/// Objectives served natively: `hessboost` implements their transform and
/// they predict one value per row, or one probability per class.
const BINARY: &[&str] = &["binary:logistic"];
const MULTICLASS: &[&str] = &["multi:softprob"];
const REGRESSION: &[&str] = &[
    "reg:squarederror",
    "reg:squaredlogerror",
    "reg:logistic",
    "reg:pseudohubererror",
    "reg:absoluteerror",
    "reg:quantileerror",
    "reg:gamma",
    "reg:tweedie",
    "count:poisson",
];

/// What the objective predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The probability of class 1.
    Binary,
    /// One probability per class.
    Multiclass,
    /// A value.
    Value,
}

/// A loaded XGBoost model.
pub(crate) struct XgBoost {
    model: BoostedModel,
    /// Boosting iterations used: all (a Booster's `predict`), or up to the
    /// scikit-learn wrapper's `best_iteration`.
    iterations: usize,
    pub(crate) kind: Kind,
    pub(crate) objective: String,
    /// The booster's feature names (empty when trained without names).
    pub(crate) feature_names: Vec<String>,
    /// Features of categorical splits (`feature_types` "c").
    categorical: Vec<usize>,
}

impl std::fmt::Debug for XgBoost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XgBoost")
            .field("objective", &self.objective)
            .field("iterations", &self.iterations)
            .finish()
    }
}

impl XgBoost {
    /// Loads a model file. `use_best_iteration`: the scikit-learn wrappers
    /// predict with `best_iteration` (early stopping); a Booster with all
    /// trees.
    pub(crate) fn load(bytes: &[u8], use_best_iteration: bool) -> Result<XgBoost, TreeError> {
        let (format, document) = match ModelFormat::detect(bytes) {
            Some(ModelFormat::XgboostJson) => {
                let doc: Value = serde_json::from_slice(bytes)
                    .map_err(|e| TreeError::Malformed(format!("not JSON: {e}")))?;
                (ModelFormat::XgboostJson, doc)
            }
            Some(ModelFormat::XgboostUbjson) => (
                ModelFormat::XgboostUbjson,
                super::ubjson::decode_metadata(bytes)
                    .map_err(|e| TreeError::Malformed(format!("not UBJSON: {e}")))?,
            ),
            _ if bytes.starts_with(b"binf") || bytes.get(..4) == Some(&[0, 0, 0, 0x3f][..]) => {
                return Err(TreeError::Unsupported(
                    "the file is in XGBoost's legacy binary format (removed in XGBoost 3): load it \
                     with the XGBoost that wrote it and log it again with \
                     mlflow.xgboost.log_model(..., model_format=\"ubj\")"
                        .into(),
                ))
            }
            _ => {
                return Err(TreeError::Malformed(
                    "not an XGBoost model (neither UBJSON nor JSON)".into(),
                ))
            }
        };
        let learner = document
            .get("learner")
            .ok_or_else(|| TreeError::Malformed("no `learner` in the model".into()))?;
        // Categories recoded from strings (pandas `category` columns):
        // inputs would be strings, which this scorer does not take.
        let has_string_categories = learner
            .pointer("/gradient_booster/model/cats/enc")
            .and_then(Value::as_array)
            .is_some_and(|enc| !enc.is_empty());
        if has_string_categories {
            return Err(TreeError::Unsupported(
                "the model was trained on pandas `category` columns (XGBoost keeps their categories \
                 and recodes string inputs): train it on integer codes to serve it natively"
                    .into(),
            ));
        }
        let model =
            BoostedModel::decode(bytes, format).map_err(|e| TreeError::Malformed(e.to_string()))?;
        let objective = model.objective().name().to_string();
        let kind = if BINARY.contains(&objective.as_str()) {
            Kind::Binary
        } else if MULTICLASS.contains(&objective.as_str()) {
            Kind::Multiclass
        } else if REGRESSION.contains(&objective.as_str()) {
            Kind::Value
        } else {
            return Err(TreeError::Unsupported(format!(
                "XGBoost objective `{objective}` (served natively: {})",
                BINARY
                    .iter()
                    .chain(MULTICLASS)
                    .chain(REGRESSION)
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        if model.objective().built_in().is_none() {
            return Err(TreeError::Unsupported(format!(
                "XGBoost objective `{objective}` with these parameters"
            )));
        }
        let width = model.prediction_width();
        let expected_width = match kind {
            Kind::Multiclass => model.num_class(),
            _ => 1,
        };
        if width != expected_width || width == 0 {
            return Err(TreeError::Unsupported(format!(
                "an XGBoost model with {width} outputs per row for objective `{objective}` \
                 (multi-target or multi-quantile models are not served natively)"
            )));
        }
        let per_iteration = model.trees_per_iteration().max(1);
        let all = model.num_trees() / per_iteration;
        let iterations = match learner.pointer("/attributes/best_iteration") {
            Some(best) if use_best_iteration => {
                let best = match best {
                    Value::String(s) => s.parse::<usize>().ok(),
                    Value::Number(n) => n.as_u64().map(|n| n as usize),
                    _ => None,
                }
                .ok_or_else(|| {
                    TreeError::Malformed(format!("attribute best_iteration={best} is not a count"))
                })?;
                if best >= all {
                    return Err(TreeError::Malformed(format!(
                        "best_iteration {best} but the model has {all} iterations"
                    )));
                }
                best + 1
            }
            _ => all,
        };
        let feature_names = learner
            .get("feature_names")
            .and_then(Value::as_array)
            .map(|names| {
                names
                    .iter()
                    .map(|n| n.as_str().map(String::from))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| TreeError::Malformed("a feature name is not a string".into()))
            })
            .transpose()?
            .unwrap_or_default();
        if !feature_names.is_empty() && feature_names.len() != model.n_features() {
            return Err(TreeError::Malformed(format!(
                "{} feature names for {} features",
                feature_names.len(),
                model.n_features()
            )));
        }
        let categorical = learner
            .get("feature_types")
            .and_then(Value::as_array)
            .map(|types| {
                types
                    .iter()
                    .enumerate()
                    .filter(|(_, t)| t.as_str() == Some("c"))
                    .map(|(i, _)| i)
                    .collect()
            })
            .unwrap_or_default();
        Ok(XgBoost {
            model,
            iterations,
            kind,
            objective,
            feature_names,
            categorical,
        })
    }

    pub(crate) fn n_features(&self) -> usize {
        self.model.n_features()
    }

    /// Values per row: the classes of a multiclass model, else 1.
    pub(crate) fn outputs(&self) -> usize {
        self.model.prediction_width()
    }

    /// Predictions of `n` rows of `f32` features (row-major, `NaN` missing,
    /// finite otherwise), `outputs()` values per row, as `Booster.predict`.
    pub(crate) fn predict(&self, rows: &mut [f32], n: usize) -> Result<Vec<f32>, String> {
        if !self.categorical.is_empty() {
            // XGBoost sends a negative category, which is invalid, where
            // the categories outside the split's set go; `hessboost` would
            // read it as category 0. Beyond every set (XGBoost's categories
            // are below 2^24 - 1), a category goes there in both.
            let width = self.n_features();
            for row in rows.chunks_exact_mut(width) {
                for &c in &self.categorical {
                    if row[c] < 0.0 {
                        row[c] = 16_777_216.0;
                    }
                }
            }
        }
        let range = ..self.iterations;
        if n == 1 {
            let mut out = vec![0.0f32; self.outputs()];
            self.model
                .predict_row_into(rows, range, &mut out)
                .map_err(|e| e.to_string())?;
            return Ok(out);
        }
        self.model
            .predict_rows(rows, range)
            .map(|p| p.into_vec())
            .map_err(|e| e.to_string())
    }
}
