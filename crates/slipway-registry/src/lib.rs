//! The model registry engine.
//!
//! [`Registry`] validates requests as MLflow does, persists through a
//! [`RegistryStore`], records every stage or alias change as a
//! [`RegistryEvent`] in the same transaction as the change, and publishes
//! the committed events to in-process subscribers ([`Registry::subscribe`]:
//! the webhook dispatcher, and the event feed's long poll
//! [`Registry::wait_for_events`], which `slipway serve` follows over HTTP). [`uri`] resolves `models:/` and `runs:/` URIs, the
//! one implementation the CLI, trainer, validation and serving share.

pub mod service;
pub mod source;
pub mod stage;
pub mod store;
pub mod uri;
pub mod webhooks;

pub use service::{Registry, EVENT_RECHECK_INTERVAL, MAX_EVENT_WAIT};
pub use stage::Stage;
pub use store::{EventDraft, NewModelVersion, RegistryStore};
pub use uri::{ModelRef, ResolvedModel};
