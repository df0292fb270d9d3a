//! The persistence interface of the registry.

use crate::stage::Stage;
use async_trait::async_trait;
use slipway_core::Result;
use slipway_protocol::{ModelVersion, RegisteredModel, RegistryEvent, Tag};

#[derive(Debug, Clone, Default)]
pub struct NewModelVersion {
    pub name: String,
    pub source: String,
    pub run_id: Option<String>,
    pub run_link: Option<String>,
    pub description: Option<String>,
    pub model_id: Option<String>,
    pub tags: Vec<Tag>,
    pub user: Option<String>,
    pub now: i64,
}

/// Who changed something, and why: stored with the event the change records.
#[derive(Debug, Clone, Default)]
pub struct EventDraft {
    pub user: Option<String>,
    pub reason: Option<String>,
    pub now: i64,
}

/// Every method that changes stages, aliases or versions records its
/// [`RegistryEvent`]s in the same transaction and returns them, so an event
/// exists if and only if the change was committed.
#[async_trait]
pub trait RegistryStore: Send + Sync + 'static {
    async fn create_registered_model(
        &self,
        name: &str,
        tags: Vec<Tag>,
        description: Option<String>,
        draft: EventDraft,
    ) -> Result<(RegisteredModel, Vec<RegistryEvent>)>;
    /// With its latest version per stage, tags and aliases.
    async fn get_registered_model(&self, name: &str) -> Result<RegisteredModel>;
    async fn list_registered_models(&self) -> Result<Vec<RegisteredModel>>;
    async fn rename_registered_model(
        &self,
        name: &str,
        new_name: &str,
        draft: EventDraft,
    ) -> Result<(RegisteredModel, Vec<RegistryEvent>)>;
    async fn update_registered_model(
        &self,
        name: &str,
        description: Option<String>,
        now: i64,
    ) -> Result<RegisteredModel>;
    async fn delete_registered_model(
        &self,
        name: &str,
        draft: EventDraft,
    ) -> Result<Vec<RegistryEvent>>;
    async fn set_registered_model_tag(&self, name: &str, tag: Tag, now: i64) -> Result<()>;
    async fn delete_registered_model_tag(&self, name: &str, key: &str) -> Result<()>;

    /// Assigns the next version number (`RESOURCE_DOES_NOT_EXIST` when the
    /// registered model is missing, as in MLflow).
    async fn create_model_version(
        &self,
        mv: NewModelVersion,
    ) -> Result<(ModelVersion, Vec<RegistryEvent>)>;
    async fn get_model_version(&self, name: &str, version: i64) -> Result<ModelVersion>;
    /// All versions, or those of one model.
    async fn list_model_versions(&self, name: Option<&str>) -> Result<Vec<ModelVersion>>;
    async fn update_model_version(
        &self,
        name: &str,
        version: i64,
        description: Option<String>,
        now: i64,
    ) -> Result<ModelVersion>;
    /// Moves a version to `stage`; with `archive_existing`, every other version
    /// in that stage moves to Archived in the same transaction.
    async fn transition_stage(
        &self,
        name: &str,
        version: i64,
        stage: Stage,
        archive_existing: bool,
        draft: EventDraft,
    ) -> Result<(ModelVersion, Vec<RegistryEvent>)>;
    /// Deleting a version removes the aliases pointing at it.
    async fn delete_model_version(
        &self,
        name: &str,
        version: i64,
        draft: EventDraft,
    ) -> Result<Vec<RegistryEvent>>;
    async fn set_model_version_tag(
        &self,
        name: &str,
        version: i64,
        tag: Tag,
        now: i64,
    ) -> Result<()>;
    async fn delete_model_version_tag(&self, name: &str, version: i64, key: &str) -> Result<()>;
    async fn set_alias(
        &self,
        name: &str,
        alias: &str,
        version: i64,
        draft: EventDraft,
    ) -> Result<Vec<RegistryEvent>>;
    async fn delete_alias(
        &self,
        name: &str,
        alias: &str,
        draft: EventDraft,
    ) -> Result<Vec<RegistryEvent>>;
    async fn get_version_by_alias(&self, name: &str, alias: &str) -> Result<ModelVersion>;
    /// Recorded events, oldest first, optionally of one model, after id `after`.
    async fn events(
        &self,
        name: Option<&str>,
        after: i64,
        limit: usize,
    ) -> Result<Vec<RegistryEvent>>;
}
