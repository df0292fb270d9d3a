//! The small shared core every Slipway crate builds on.
//!
//! It holds what must mean the same thing in every box: the error type with
//! MLflow's error codes, id generation, clock access and the proto-JSON value
//! conventions MLflow clients rely on. It does no I/O.

pub mod error;
pub mod ids;
pub mod json;
pub mod model_uri;
pub mod stored_uri;

pub use error::{Error, ErrorCode, Result};

/// Milliseconds since the Unix epoch, as MLflow stores every timestamp.
pub fn now_millis() -> i64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
