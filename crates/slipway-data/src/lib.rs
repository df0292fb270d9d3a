//! Slipway's data sources box.
//!
//! Today: seeded synthetic datasets shaped like real problems, as Arrow
//! [`RecordBatch`](arrow_array::RecordBatch)es ([`churn`]: pure computation, no
//! I/O), and [`write`]rs that store tables as Parquet or CSV. Readers of real
//! sources come later.
//!
//! Reproducibility: the same configuration (seed included) gives identical
//! batches and byte-identical files, on any platform and with any number of
//! threads. Randomness is PCG-64 MCG (`rand_pcg`) with one SplitMix64-derived
//! stream per customer, and all sampling and math (`libm`) is done in this
//! crate; see `rng.rs`.

pub mod churn;
mod rng;
pub mod time;
pub mod write;

pub use churn::{generate, ChurnConfig, ChurnDataset};
pub use write::{write_tables, Format, WrittenTable};

use std::path::PathBuf;

/// Why generating or writing data failed.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A setting is out of range; the message names it (a usage error).
    #[error("{0}")]
    InvalidConfig(String),
    #[error("cannot write {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write Parquet file {}: {source}", path.display())]
    Parquet {
        path: PathBuf,
        #[source]
        source: parquet::errors::ParquetError,
    },
}
