//! `models:/` and `runs:/` URIs: parsed by `slipway-core`'s one parser
//! (shared with the client), resolved by [`Registry::resolve`](crate::Registry::resolve).

pub use slipway_core::model_uri::{parse_model_uri, ModelRef};

/// A URI resolved to where its files are.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ResolvedModel {
    pub uri: String,
    /// Registered model name and version, when the URI went through the registry.
    pub name: Option<String>,
    pub version: Option<String>,
    pub run_id: Option<String>,
    pub model_id: Option<String>,
    /// Where the model directory is: `mlflow-artifacts:/…` for files this server holds.
    pub artifact_uri: String,
}
