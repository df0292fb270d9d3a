//! A trained model as a directory in MLflow's layout: an `MLmodel` file with
//! a `slipway` flavor and the signature, the model bytes, the metadata that
//! turns named values into model inputs, and an input example. Built and
//! read as (file name, bytes) pairs, so this module does no I/O; the CLI,
//! validation and serving write and read the files.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::dataset::{FeatureEncoder, LabelInfo};
use crate::gbm::{Matrix, Model, TrainError};
use crate::model::{ModelType, TrainedModel};

pub const MLMODEL_FILE: &str = "MLmodel";
pub const MODEL_FILE: &str = "model.slipway";
pub const METADATA_FILE: &str = "slipway_model.json";
pub const INPUT_EXAMPLE_FILE: &str = "input_example.json";
pub const SERVING_INPUT_EXAMPLE_FILE: &str = "serving_input_example.json";
/// The flavor name in `MLmodel`.
pub const FLAVOR: &str = "slipway";
const METADATA_FORMAT: &str = "slipway-model/1";

#[derive(Debug, Clone, PartialEq, Error)]
pub enum PackageError {
    #[error("the model directory has no `{0}` file")]
    MissingFile(&'static str),
    #[error("`{file}` is not valid: {message}")]
    Invalid { file: &'static str, message: String },
    #[error(transparent)]
    Model(#[from] TrainError),
}

/// What the model needs besides its bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMetadata {
    pub format: String,
    pub model_type: ModelType,
    pub encoder: FeatureEncoder,
    pub label: LabelInfo,
    /// Probability at or above which the positive class is predicted.
    pub threshold: f64,
    pub slipway_version: String,
}

/// A model with everything needed to score named rows.
#[derive(Debug, Clone)]
pub struct ModelPackage {
    pub metadata: ModelMetadata,
    pub model: TrainedModel,
}

/// Where and when the model was logged (written into `MLmodel`).
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedAs {
    pub run_id: String,
    pub model_id: Option<String>,
    pub artifact_path: String,
    /// `YYYY-MM-DD HH:MM:SS.ffffff` UTC, as MLflow writes it.
    pub utc_time_created: String,
    pub model_uuid: String,
}

#[derive(Serialize)]
struct MlModel<'a> {
    artifact_path: &'a str,
    flavors: Flavors<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    model_id: Option<&'a str>,
    model_size_bytes: u64,
    model_uuid: &'a str,
    run_id: &'a str,
    saved_input_example_info: InputExampleInfo,
    signature: Signature,
    utc_time_created: &'a str,
}

#[derive(Serialize)]
struct Flavors<'a> {
    slipway: SlipwayFlavor<'a>,
}

#[derive(Serialize)]
struct SlipwayFlavor<'a> {
    model_file: &'a str,
    metadata_file: &'a str,
    model_type: &'a str,
    slipway_version: &'a str,
}

#[derive(Serialize)]
struct InputExampleInfo {
    artifact_path: &'static str,
    pandas_orient: &'static str,
    serving_input_path: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
}

/// MLflow stores the signature's column lists as JSON strings inside YAML.
#[derive(Serialize)]
struct Signature {
    inputs: String,
    outputs: String,
    params: Option<String>,
}

impl ModelPackage {
    pub fn new(model: TrainedModel, encoder: FeatureEncoder, label: LabelInfo) -> Self {
        ModelPackage {
            metadata: ModelMetadata {
                format: METADATA_FORMAT.into(),
                model_type: model.model_type(),
                encoder,
                label,
                threshold: 0.5,
                slipway_version: env!("CARGO_PKG_VERSION").into(),
            },
            model,
        }
    }

    /// MLflow's signature `inputs`: one column spec per feature.
    pub fn signature_inputs(&self) -> serde_json::Value {
        serde_json::Value::Array(
            self.metadata
                .encoder
                .columns
                .iter()
                .map(|c| {
                    serde_json::json!({
                        "type": c.column_type.as_str(),
                        "name": c.name,
                        "required": !c.nullable,
                    })
                })
                .collect(),
        )
    }

    /// The directory's files. `example_rows` are raw rows in feature order.
    pub fn files(
        &self,
        logged: &LoggedAs,
        example_rows: &[Vec<serde_json::Value>],
    ) -> Result<Vec<(String, Vec<u8>)>, PackageError> {
        let model_bytes = self.model.save()?;
        let metadata =
            serde_json::to_vec_pretty(&self.metadata).map_err(|e| PackageError::Invalid {
                file: METADATA_FILE,
                message: e.to_string(),
            })?;
        let columns = self.metadata.encoder.names();
        let example = serde_json::json!({ "columns": columns, "data": example_rows });
        let serving = serde_json::json!({ "dataframe_split": example });
        let outputs =
            serde_json::json!([{ "type": "double", "name": "probability", "required": true }]);
        let size = (model_bytes.len() + metadata.len()) as u64;
        let mlmodel = MlModel {
            artifact_path: &logged.artifact_path,
            flavors: Flavors {
                slipway: SlipwayFlavor {
                    model_file: MODEL_FILE,
                    metadata_file: METADATA_FILE,
                    model_type: self.metadata.model_type.as_str(),
                    slipway_version: &self.metadata.slipway_version,
                },
            },
            model_id: logged.model_id.as_deref(),
            model_size_bytes: size,
            model_uuid: &logged.model_uuid,
            run_id: &logged.run_id,
            saved_input_example_info: InputExampleInfo {
                artifact_path: INPUT_EXAMPLE_FILE,
                pandas_orient: "split",
                serving_input_path: SERVING_INPUT_EXAMPLE_FILE,
                kind: "dataframe",
            },
            signature: Signature {
                inputs: self.signature_inputs().to_string(),
                outputs: outputs.to_string(),
                params: None,
            },
            utc_time_created: &logged.utc_time_created,
        };
        let mlmodel = serde_yaml_ng::to_string(&mlmodel).map_err(|e| PackageError::Invalid {
            file: MLMODEL_FILE,
            message: e.to_string(),
        })?;
        Ok(vec![
            (MLMODEL_FILE.into(), mlmodel.into_bytes()),
            (MODEL_FILE.into(), model_bytes),
            (METADATA_FILE.into(), metadata),
            (INPUT_EXAMPLE_FILE.into(), example.to_string().into_bytes()),
            (
                SERVING_INPUT_EXAMPLE_FILE.into(),
                serde_json::to_vec_pretty(&serving).unwrap_or_default(),
            ),
        ])
    }

    /// A package from the directory's files, fetched by name.
    pub fn from_files(
        mut read: impl FnMut(&str) -> Option<Vec<u8>>,
    ) -> Result<ModelPackage, PackageError> {
        let mlmodel = read(MLMODEL_FILE).ok_or(PackageError::MissingFile(MLMODEL_FILE))?;
        let mlmodel: serde_yaml_ng::Value =
            serde_yaml_ng::from_slice(&mlmodel).map_err(|e| PackageError::Invalid {
                file: MLMODEL_FILE,
                message: e.to_string(),
            })?;
        if mlmodel.get("flavors").and_then(|f| f.get(FLAVOR)).is_none() {
            return Err(PackageError::Invalid {
                file: MLMODEL_FILE,
                message: format!("it has no `{FLAVOR}` flavor"),
            });
        }
        let metadata = read(METADATA_FILE).ok_or(PackageError::MissingFile(METADATA_FILE))?;
        let metadata: ModelMetadata =
            serde_json::from_slice(&metadata).map_err(|e| PackageError::Invalid {
                file: METADATA_FILE,
                message: e.to_string(),
            })?;
        let bytes = read(MODEL_FILE).ok_or(PackageError::MissingFile(MODEL_FILE))?;
        let model = TrainedModel::load(&bytes)?;
        if model.n_features() != metadata.encoder.columns.len() {
            return Err(PackageError::Invalid {
                file: METADATA_FILE,
                message: format!(
                    "it names {} features but the model has {}",
                    metadata.encoder.columns.len(),
                    model.n_features()
                ),
            });
        }
        Ok(ModelPackage { metadata, model })
    }

    /// Probabilities (classifier) or values (regressor) for encoded rows.
    pub fn predict_encoded(&self, rows: &[f64]) -> Result<Vec<f64>, TrainError> {
        let n = self.metadata.encoder.columns.len();
        let matrix = Matrix::new(rows, rows.len() / n.max(1), n)?;
        self.model.predict_proba(matrix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::{ColumnType, FeatureColumn};
    use crate::gbm::Task;
    use crate::model::{train, ModelSpec};
    use std::collections::HashMap;
    use std::ops::ControlFlow;

    fn package() -> ModelPackage {
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..200 {
            let a = (i % 17) as f64;
            let c = (i % 3) as f64;
            x.extend([a, c]);
            y.push(f64::from(u8::from(a + c * 4.0 > 10.0)));
        }
        let encoder = FeatureEncoder {
            columns: vec![
                FeatureColumn {
                    name: "tenure".into(),
                    column_type: ColumnType::Long,
                    nullable: false,
                    categories: None,
                },
                FeatureColumn {
                    name: "plan".into(),
                    column_type: ColumnType::String,
                    nullable: true,
                    categories: Some(vec!["a".into(), "b".into(), "c".into()]),
                },
            ],
        };
        let spec = ModelSpec::new(ModelType::GbmClassifier);
        let m = Matrix::new(&x, 200, 2).unwrap();
        let model = train(
            &spec,
            m,
            &encoder.kinds(),
            &y,
            |_| ControlFlow::Continue(()),
        )
        .unwrap();
        ModelPackage::new(
            model,
            encoder,
            LabelInfo {
                column: "churn".into(),
                task: Task::Binary,
                positive: Some("1".into()),
                negative: Some("0".into()),
            },
        )
    }

    fn logged() -> LoggedAs {
        LoggedAs {
            run_id: "r1".into(),
            model_id: Some("m-1".into()),
            artifact_path: "model".into(),
            utc_time_created: "2026-11-27 18:00:00.000000".into(),
            model_uuid: "u1".into(),
        }
    }

    #[test]
    fn files_round_trip_and_predict_alike() {
        let p = package();
        let rows = vec![vec![serde_json::json!(3), serde_json::json!("b")]];
        let files: HashMap<String, Vec<u8>> =
            p.files(&logged(), &rows).unwrap().into_iter().collect();
        let mlmodel = String::from_utf8(files[MLMODEL_FILE].clone()).unwrap();
        assert!(mlmodel.contains("slipway:"), "{mlmodel}");
        assert!(
            mlmodel.contains(r#"\"name\": \"tenure\""#) || mlmodel.contains(r#""name":"tenure""#),
            "{mlmodel}"
        );
        let back = ModelPackage::from_files(|n| files.get(n).cloned()).unwrap();
        let x = [3.0, 1.0, 12.0, f64::NAN];
        assert_eq!(
            p.predict_encoded(&x).unwrap(),
            back.predict_encoded(&x).unwrap()
        );
        assert_eq!(back.metadata, p.metadata);
    }

    #[test]
    fn broken_directories_are_refused() {
        let p = package();
        let files: HashMap<String, Vec<u8>> =
            p.files(&logged(), &[]).unwrap().into_iter().collect();
        for missing in [MLMODEL_FILE, METADATA_FILE, MODEL_FILE] {
            let err = ModelPackage::from_files(|n| {
                (n != missing).then(|| files.get(n).cloned()).flatten()
            })
            .unwrap_err();
            assert!(err.to_string().contains(missing), "{err}");
        }
        let err = ModelPackage::from_files(|n| {
            if n == MODEL_FILE {
                Some(b"garbage".to_vec())
            } else {
                files.get(n).cloned()
            }
        });
        assert!(err.is_err());
        let err = ModelPackage::from_files(|n| {
            if n == MLMODEL_FILE {
                Some(b"flavors: {sklearn: {}}".to_vec())
            } else {
                files.get(n).cloned()
            }
        })
        .unwrap_err();
        assert!(err.to_string().contains("slipway"), "{err}");
    }
}
