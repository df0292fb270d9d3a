//! MLflow's REST protocol as Rust types.
//!
//! Field names and shapes follow `mlflow/protos/service.proto` as MLflow's
//! server renders it to JSON: snake_case field names, unset fields omitted,
//! int64 as JSON numbers, enums as their names. The server and the Rust
//! client both use these types, so the two cannot drift apart; the
//! end-to-end tests run the official Python client against them.
//!
//! Entities double as the tracking engine's domain model: there is one
//! definition of a `Run`, not a wire copy and a domain copy.

pub mod entities;
pub mod messages;
pub mod registry;

pub use entities::*;
pub use messages::*;
pub use registry::*;
