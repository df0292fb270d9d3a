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
pub mod profile;
pub mod read;
mod rng;
pub mod time;
pub mod write;

pub use churn::{generate, ChurnConfig, ChurnDataset};
pub use read::{read_table, InputFormat, LoadedTable};
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
    /// A file could not be read as a table; the message says why.
    #[error("cannot read {}: {message}", path.display())]
    Read { path: PathBuf, message: String },
    #[error("cannot write Parquet file {}: {source}", path.display())]
    Parquet {
        path: PathBuf,
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// A column asked for is not in the batches (a usage error).
    #[error("column `{column}` not found; available columns: {}", if available.is_empty() { "(none)".to_string() } else { available.join(", ") })]
    UnknownColumn {
        column: String,
        available: Vec<String>,
    },
    /// A column's Arrow type cannot be profiled; `hint` says what can.
    #[error("column `{column}` has type {data_type}, which cannot be profiled: {hint}")]
    UnsupportedColumnType {
        column: String,
        data_type: arrow_schema::DataType,
        hint: &'static str,
    },
    /// The batches disagree on a column's type.
    #[error("column `{column}` is {first} in one batch and {other} in another")]
    InconsistentColumnType {
        column: String,
        first: arrow_schema::DataType,
        other: arrow_schema::DataType,
    },
    /// Reference PSI bins that are not what [`profile::PsiBins`] promises.
    #[error("invalid PSI reference bins: {0}")]
    InvalidPsiBins(String),
    /// Nothing to compare: the current values are empty or all NaN/infinite.
    #[error("no finite current values to compare with the reference ({ignored} NaN or infinite values ignored)")]
    NoCurrentValues { ignored: u64 },
}
