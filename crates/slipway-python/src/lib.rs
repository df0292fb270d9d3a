//! `slipway-python`: what Slipway runs in Python, and the environments it
//! runs in.
//!
//! - [`env`]: an interpreter for a model: a virtual environment built from
//!   the model's own `python_env.yaml` / `requirements.txt` (uv, else pip),
//!   cached by content hash under `$SLIPWAY_HOME/envs` and built atomically,
//!   or the local interpreter as it is.
//! - [`convert`]: scikit-learn models (skops, pickle, cloudpickle; the
//!   `sklearn`, `python_function` and LightGBM-wrapper flavors) converted
//!   to ONNX with skl2onnx in that environment, and the parity check that
//!   scores the same rows with `slipway-serve`'s ONNX path.
//! - [`worker`]: a pool of Python worker processes serving one MLflow
//!   `python_function` model (`mlflow.pyfunc.load_model` in the model's
//!   environment): framing over stdin/stdout, restarts, timeouts.
//! - [`batch`]: the adaptive batcher in front of the workers: requests
//!   arriving together go to a worker as one batch.
//!
//! No HTTP and no tracking server here: the caller (the `slipway` binary)
//! downloads the model directory, picks the interpreter and stores results.

pub mod batch;
pub mod convert;
pub mod env;
mod lines;
pub mod worker;

pub use convert::{check_parity, convert_sklearn, ConvertError, ConvertOptions, ParityReport};
pub use env::{python_for_model, EnvError, EnvManager, EnvOptions, EnvProgress, PythonEnv};
