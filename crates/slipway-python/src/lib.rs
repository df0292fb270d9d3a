//! `slipway-python`: Slipway's Python side, for models it does not run
//! natively.
//!
//! - [`worker`]: a pool of Python worker processes serving one MLflow
//!   `python_function` model (`mlflow.pyfunc.load_model` in the model's
//!   environment): framing over stdin/stdout, restarts, timeouts.
//! - [`batch`]: the adaptive batcher in front of the workers: requests
//!   arriving together go to a worker as one batch.
//!
//! The interpreter is an input ([`worker::PoolConfig::python`]); building
//! the model's environment is not this module's concern.

pub mod batch;
pub mod worker;
