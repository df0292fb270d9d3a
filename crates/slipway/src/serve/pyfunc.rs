//! `slipway serve`'s Python-worker path: a `python_function` model Slipway
//! does not run natively is scored by slipway-python's worker pool, seen by
//! the serving engine as a [`RawScorer`]. The interpreter comes from the
//! environment manager (the model's own environment, or `--env-manager
//! local`).

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use slipway_python::batch::BatchConfig;
use slipway_python::worker::{ColumnSpec, PoolConfig, PredictError, StartError, WorkerPool};
use slipway_serve::error::ScoreError;
use slipway_serve::model::{InputColumn, RawScorer, ScoreRow, Scorer, WorkerStats};

/// How the Python workers of a model run (`slipway serve` flags).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WorkerOptions {
    /// Processes per model (`--workers`).
    pub workers: usize,
    pub batch: BatchConfig,
    pub predict_timeout: Duration,
}

/// A model's Python workers, as the engine's scorer.
pub struct PythonWorkers {
    pool: WorkerPool,
}

impl PythonWorkers {
    /// Starts the workers on the local model directory `model_dir` with
    /// `python`, and waits until each has loaded the model.
    pub async fn start(
        model_dir: &Path,
        columns: &[InputColumn],
        python: &Path,
        options: WorkerOptions,
    ) -> Result<PythonWorkers, StartError> {
        let specs = columns
            .iter()
            .map(|c| ColumnSpec {
                name: c.name.clone(),
                column_type: c.column_type.as_str().to_string(),
            })
            .collect();
        let mut config = PoolConfig::new(python, model_dir, specs);
        config.workers = options.workers;
        config.batch = options.batch;
        config.predict_timeout = options.predict_timeout;
        Ok(PythonWorkers {
            pool: WorkerPool::start(config).await?,
        })
    }

    pub fn pool(&self) -> &WorkerPool {
        &self.pool
    }
}

impl Scorer for PythonWorkers {
    fn score(&self, _rows: &[f64], _n_rows: usize) -> Result<Vec<ScoreRow>, ScoreError> {
        // The engine scores a raw model through `raw()`; an encoded matrix
        // has lost its strings.
        Err(ScoreError::Failed(
            "a python_function model takes the request's values, not an encoded matrix".into(),
        ))
    }

    /// Ready while at least one worker runs (requests wait for a
    /// restarting one; none running is not ready).
    fn ready(&self) -> bool {
        !self.pool.stats().pids.is_empty()
    }

    fn raw(&self) -> Option<&dyn RawScorer> {
        Some(self)
    }
}

impl RawScorer for PythonWorkers {
    fn score_raw(&self, rows: Vec<Vec<Value>>) -> Result<Value, ScoreError> {
        self.pool.predict_blocking(rows).map_err(|e| match e {
            PredictError::Model(m) => ScoreError::Rejected(format!("the model raised {m}")),
            PredictError::Unavailable(m) => ScoreError::Failed(m),
        })
    }

    fn workers(&self) -> Option<WorkerStats> {
        let s = self.pool.stats();
        Some(WorkerStats {
            workers: s.workers,
            pids: s.pids,
            restarts: s.restarts,
            batches: s.batches.batches,
            batch_requests: s.batches.requests,
            batch_rows: s.batches.rows,
            batch_rows_le: s.batches.rows_le,
        })
    }

    fn close(&self) {
        self.pool.close();
    }
}
