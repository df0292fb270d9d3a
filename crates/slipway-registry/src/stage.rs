//! Model version stages (deprecated in MLflow in favour of aliases, still
//! used). Defined beside the model URI parser in `slipway-core`, which the
//! client shares.

pub use slipway_core::model_uri::Stage;
