//! Slipway validation gates (issue 5): the checks a candidate model must pass
//! before promotion, and the report they produce.
//!
//! Pure functions, no I/O: `slipway validate` reads the run's metrics, loads
//! and scores the models, times predictions and reads current data, then
//! hands plain numbers to the functions in [`checks`] and renders a
//! [`report::Report`]. Keeping the rules here means every threshold decision
//! is unit-tested without a server, a registry or a file.
//!
//! * [`config`]: the `validation.yaml` schema ([`ValidationConfig`]), every
//!   key checked, errors naming the key.
//! * [`checks`]: one function per check family, each returning
//!   [`CheckResult`]s with status PASS, WARN, FAIL or SKIP.
//! * [`report`]: counts, the verdict (REJECTED iff any FAIL) and the text,
//!   JSON, Markdown and HTML renderings.

pub mod checks;
pub mod config;
pub mod report;

pub use checks::{CheckResult, Status};
pub use config::{
    Bound, DriftConfig, DriftReference, LatencyConfig, MaxBound, RegressionConfig, SliceConfig,
    ValidationConfig,
};
pub use report::{Report, Verdict};

use thiserror::Error;

/// Why a validation config could not be used. Every message names the
/// offending key (e.g. `regression.max_degradation`), so a user can fix the
/// file without guessing.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ValidateError {
    /// The text is not YAML, or a key is unknown or has the wrong type.
    #[error("validation config: {0}")]
    Syntax(String),
    /// A key has a value outside its allowed range.
    #[error("validation config: {key}: {message}")]
    InvalidValue { key: String, message: String },
}
