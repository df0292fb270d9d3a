//! `slipway train --config train.yaml`: the declarative training definition.
//!
//! ```yaml
//! experiment: customer-churn-prediction
//! data: {path: data/churn.parquet}        # Parquet or CSV; test_path: for a held-out file
//! label: churn
//! drop: [customer_id]
//! split: {test_size: 0.2, stratify: true, seed: 42}
//! model: {type: gbm_classifier, params: {n_estimators: 100, learning_rate: 0.1, max_depth: 3}}
//! register: churn-classifier               # optional
//! ```
//!
//! Every key is checked: a misspelt one is an error naming it and its line,
//! so a typo never silently falls back to a default.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::dataset::{DatasetSpec, SplitSpec};
use crate::model::{ModelSpec, ModelType};

#[derive(Debug, Clone, PartialEq, Error)]
pub enum ConfigError {
    /// The YAML is malformed or a key is unknown/mistyped (serde's message
    /// names the key and position).
    #[error("{0}")]
    Yaml(String),
    #[error("`{key}`: {message}")]
    Value { key: String, message: String },
}

/// The whole file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// MLflow experiment the run goes to (created if missing).
    pub experiment: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_name: Option<String>,
    pub data: DataConfig,
    pub label: String,
    /// For a string label: the value meaning the positive class (needed
    /// unless the values are an obvious pair such as yes/no).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub positive_label: Option<String>,
    #[serde(default)]
    pub drop: Vec<String>,
    #[serde(default)]
    pub split: SplitConfig,
    pub model: ModelConfig,
    /// Registered model name; the trained model becomes its next version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub register: Option<String>,
    /// Extra run tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    pub path: PathBuf,
    /// A held-out table (e.g. a later time window) instead of a random split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_path: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SplitConfig {
    pub test_size: f64,
    pub stratify: bool,
    pub seed: u64,
}

impl Default for SplitConfig {
    fn default() -> Self {
        let d = SplitSpec::default();
        SplitConfig {
            test_size: d.test_size,
            stratify: d.stratify,
            seed: d.seed,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    #[serde(rename = "type")]
    pub model_type: String,
    #[serde(default)]
    pub params: serde_json::Map<String, serde_json::Value>,
}

impl TrainConfig {
    /// Parses and checks a config (the file name is added by the caller).
    pub fn parse(yaml: &str) -> Result<TrainConfig, ConfigError> {
        if yaml.trim().is_empty() {
            return Err(ConfigError::Yaml("the file is empty".into()));
        }
        let config: TrainConfig =
            serde_yaml_ng::from_str(yaml).map_err(|e| ConfigError::Yaml(e.to_string()))?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), ConfigError> {
        let value = |key: &str, message: String| ConfigError::Value {
            key: key.into(),
            message,
        };
        if self.experiment.trim().is_empty() {
            return Err(value("experiment", "cannot be empty".into()));
        }
        if self.label.trim().is_empty() {
            return Err(value("label", "cannot be empty".into()));
        }
        if self.drop.contains(&self.label) {
            return Err(value(
                "drop",
                format!("lists the label column `{}`", self.label),
            ));
        }
        if !(self.split.test_size > 0.0 && self.split.test_size < 1.0) {
            return Err(value(
                "split.test_size",
                format!(
                    "must be between 0 and 1 (exclusive), got {}",
                    self.split.test_size
                ),
            ));
        }
        if matches!(&self.register, Some(r) if r.trim().is_empty()) {
            return Err(value("register", "cannot be empty".into()));
        }
        let spec = self.model_spec()?;
        spec.validate()
            .map_err(|e| value("model.params", e.to_string()))?;
        Ok(())
    }

    pub fn model_type(&self) -> Result<ModelType, ConfigError> {
        ModelType::from_str(&self.model.model_type).map_err(|e| ConfigError::Value {
            key: "model.type".into(),
            message: e.to_string(),
        })
    }

    pub fn model_spec(&self) -> Result<ModelSpec, ConfigError> {
        Ok(ModelSpec {
            model_type: self.model_type()?,
            params: self.model.params.clone(),
        })
    }

    pub fn dataset_spec(&self) -> Result<DatasetSpec, ConfigError> {
        Ok(DatasetSpec {
            label: self.label.clone(),
            drop: self.drop.clone(),
            task: self.model_type()?.task(),
            positive_label: self.positive_label.clone(),
        })
    }

    pub fn split_spec(&self) -> SplitSpec {
        SplitSpec {
            test_size: self.split.test_size,
            stratify: self.split.stratify,
            seed: self.split.seed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "
experiment: customer-churn-prediction
data: {path: data/churn.parquet}
label: churn
drop: [customer_id]
split: {test_size: 0.2, stratify: true, seed: 42}
model: {type: gbm_classifier, params: {n_estimators: 100, learning_rate: 0.1, max_depth: 3}}
register: churn-classifier
";

    #[test]
    fn the_issue_example_parses() {
        let c = TrainConfig::parse(GOOD).unwrap();
        assert_eq!(c.experiment, "customer-churn-prediction");
        assert_eq!(c.drop, ["customer_id"]);
        assert_eq!(c.model_type().unwrap(), ModelType::GbmClassifier);
        assert_eq!(c.register.as_deref(), Some("churn-classifier"));
        assert_eq!(c.split_spec().seed, 42);
    }

    #[test]
    fn defaults_fill_the_rest() {
        let c = TrainConfig::parse(
            "experiment: e\ndata: {path: t.csv}\nlabel: y\nmodel: {type: random_forest_classifier}\n",
        )
        .unwrap();
        assert_eq!(c.split, SplitConfig::default());
        assert!(c.model.params.is_empty());
        assert!(c.drop.is_empty());
    }

    #[test]
    fn mistakes_name_the_key() {
        let err = |yaml: &str| TrainConfig::parse(yaml).unwrap_err().to_string();
        let e = err(&GOOD.replace("label:", "lable:"));
        assert!(e.contains("lable"), "{e}");
        let e = err(&GOOD.replace("test_size: 0.2", "test_size: 1.5"));
        assert!(e.contains("split.test_size"), "{e}");
        let e = err(&GOOD.replace("gbm_classifier", "xgboost"));
        assert!(
            e.contains("model.type") && e.contains("gbm_classifier"),
            "{e}"
        );
        let e = err(&GOOD.replace("max_depth: 3", "max_dept: 3"));
        assert!(e.contains("model.params") && e.contains("max_dept"), "{e}");
        let e = err(&GOOD.replace("seed: 42", "seed: many"));
        assert!(e.contains("seed"), "{e}");
        let e = err("experiment: [unclosed");
        assert!(!e.is_empty());
        assert!(err("").contains("empty"));
        let e = err(&GOOD.replace("[customer_id]", "[churn]"));
        assert!(e.contains("drop") && e.contains("churn"), "{e}");
    }
}
