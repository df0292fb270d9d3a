//! The feature-store seam. A `/predict` request that carries `customer_id`
//! and no `features` (or an empty map) gets the model's features from a
//! [`FeatureSource`]; values in the request override looked-up ones. The
//! feature store issue provides the online-store implementation; until then
//! the server runs with [`NoFeatureSource`], which finds nothing (the
//! request then fails validation naming each missing feature).

use async_trait::async_trait;
use serde_json::{Map, Value};

/// Why a lookup failed (the request gets a 503 naming it).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("feature lookup failed: {0}")]
pub struct LookupError(pub String);

#[async_trait]
pub trait FeatureSource: Send + Sync {
    /// The stored values of `features` for entity `entity_id` (features it
    /// does not know are simply absent from the map).
    async fn lookup(
        &self,
        entity_id: &str,
        features: &[String],
    ) -> Result<Map<String, Value>, LookupError>;

    /// Whether a store is configured (for messages and `/health`).
    fn configured(&self) -> bool {
        true
    }
}

/// No feature store: every lookup finds nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoFeatureSource;

#[async_trait]
impl FeatureSource for NoFeatureSource {
    async fn lookup(
        &self,
        _entity_id: &str,
        _features: &[String],
    ) -> Result<Map<String, Value>, LookupError> {
        Ok(Map::new())
    }

    fn configured(&self) -> bool {
        false
    }
}
