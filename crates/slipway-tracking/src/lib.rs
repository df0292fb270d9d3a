//! The experiment tracking engine.
//!
//! [`Tracking`] is what the HTTP layer, the CLI and (later) the trainer call:
//! it validates input exactly as MLflow does (same limits, same error codes,
//! same messages where clients or users depend on them), then delegates
//! persistence to a [`TrackingStore`]. Searching is done here, in
//! [`search`], over runs the store hands back, so every backend answers a
//! filter identically (MLflow's SQL backends differ on `LIKE` case and NaN
//! ordering; ours cannot).

pub mod search;
pub mod service;
pub mod store;
pub mod validation;

pub use service::Tracking;
pub use store::{NewExperiment, NewLoggedModel, NewRun, RunUpdate, TrackingStore};
