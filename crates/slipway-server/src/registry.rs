//! MLflow model registry REST endpoints, plus Slipway's registry extensions
//! (`/api/2.0/slipway/registry/...`: event history, lineage, URI resolution).

use crate::extract::{Body, Params};
use crate::{ApiError, AppState};
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, Method};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use slipway_protocol::*;

type Reply<T> = Result<Json<T>, ApiError>;

pub fn routes() -> Router<AppState> {
    let api = Router::new()
        .route("/registered-models/create", post(create_registered_model))
        .route("/registered-models/get", get(get_registered_model))
        .route("/registered-models/rename", post(rename_registered_model))
        .route(
            "/registered-models/update",
            axum::routing::patch(update_registered_model),
        )
        .route(
            "/registered-models/delete",
            axum::routing::delete(delete_registered_model),
        )
        .route(
            "/registered-models/search",
            get(search_registered_models).post(search_registered_models_post),
        )
        .route(
            "/registered-models/get-latest-versions",
            post(get_latest_versions).get(get_latest_versions),
        )
        .route("/registered-models/set-tag", post(set_registered_model_tag))
        .route(
            "/registered-models/delete-tag",
            axum::routing::delete(delete_registered_model_tag),
        )
        .route(
            "/registered-models/alias",
            post(set_alias)
                .delete(delete_alias)
                .get(get_version_by_alias),
        )
        .route("/model-versions/create", post(create_model_version))
        .route("/model-versions/get", get(get_model_version))
        .route(
            "/model-versions/update",
            axum::routing::patch(update_model_version),
        )
        .route(
            "/model-versions/delete",
            axum::routing::delete(delete_model_version),
        )
        .route(
            "/model-versions/search",
            get(search_model_versions).post(search_model_versions_post),
        )
        .route("/model-versions/get-download-uri", get(get_download_uri))
        .route("/model-versions/transition-stage", post(transition_stage))
        .route("/model-versions/set-tag", post(set_model_version_tag))
        .route(
            "/model-versions/delete-tag",
            axum::routing::delete(delete_model_version_tag),
        );
    let slipway = Router::new()
        .route("/events", get(events))
        .route("/lineage", get(lineage))
        .route("/resolve", get(resolve));
    Router::new()
        .nest("/api/2.0/mlflow", api.clone())
        .nest("/ajax-api/2.0/mlflow", api)
        .nest("/api/2.0/slipway/registry", slipway)
}

/// Request data from the query string (GET, and DELETE without a body) or the JSON body.
/// MLflow's Python client sends DELETE parameters as a JSON body; curl users often use the query.
pub struct Input<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Input<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let has_query = req.uri().query().is_some_and(|q| !q.is_empty());
        if req.method() == Method::GET || (req.method() == Method::DELETE && has_query) {
            let (mut parts, _) = req.into_parts();
            let Params(v) = <Params<T> as axum::extract::FromRequestParts<S>>::from_request_parts(
                &mut parts, state,
            )
            .await?;
            return Ok(Input(v));
        }
        let Body(v) = Body::<T>::from_request(req, state).await?;
        Ok(Input(v))
    }
}

/// Who made a change: the `X-Slipway-User` header, else the HTTP basic-auth user.
fn user(headers: &HeaderMap) -> Option<String> {
    if let Some(u) = headers.get("x-slipway-user") {
        // UTF-8 names (José) are fine; header values are bytes.
        return String::from_utf8(u.as_bytes().to_vec())
            .ok()
            .filter(|u| !u.is_empty());
    }
    let auth = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let encoded = auth.strip_prefix("Basic ")?;
    let decoded = base64_decode(encoded.trim())?;
    let text = String::from_utf8(decoded).ok()?;
    text.split_once(':').map(|(u, _)| u.to_string())
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(s).ok()
}

async fn create_registered_model(
    State(s): State<AppState>,
    headers: HeaderMap,
    Body(req): Body<CreateRegisteredModel>,
) -> Reply<RegisteredModelResponse> {
    let registered_model = s
        .registry
        .create_registered_model(req, user(&headers))
        .await?;
    Ok(Json(RegisteredModelResponse { registered_model }))
}

async fn get_registered_model(
    State(s): State<AppState>,
    Input(req): Input<ModelName>,
) -> Reply<RegisteredModelResponse> {
    let registered_model = s.registry.get_registered_model(&req.name).await?;
    Ok(Json(RegisteredModelResponse { registered_model }))
}

async fn rename_registered_model(
    State(s): State<AppState>,
    headers: HeaderMap,
    Body(req): Body<RenameRegisteredModel>,
) -> Reply<RegisteredModelResponse> {
    let registered_model = s
        .registry
        .rename_registered_model(&req.name, &req.new_name, user(&headers))
        .await?;
    Ok(Json(RegisteredModelResponse { registered_model }))
}

async fn update_registered_model(
    State(s): State<AppState>,
    Body(req): Body<UpdateRegisteredModel>,
) -> Reply<RegisteredModelResponse> {
    let registered_model = s
        .registry
        .update_registered_model(&req.name, req.description)
        .await?;
    Ok(Json(RegisteredModelResponse { registered_model }))
}

async fn delete_registered_model(
    State(s): State<AppState>,
    headers: HeaderMap,
    Input(req): Input<ModelName>,
) -> Reply<Empty> {
    s.registry
        .delete_registered_model(&req.name, user(&headers))
        .await?;
    Ok(Json(Empty {}))
}

async fn search_registered_models(
    State(s): State<AppState>,
    Input(req): Input<SearchRegistry>,
) -> Reply<SearchRegisteredModelsResponse> {
    let page = s.registry.search_registered_models(req).await?;
    Ok(Json(SearchRegisteredModelsResponse {
        registered_models: page.items,
        next_page_token: page.next_page_token,
    }))
}

async fn search_registered_models_post(
    state: State<AppState>,
    Body(req): Body<SearchRegistry>,
) -> Reply<SearchRegisteredModelsResponse> {
    search_registered_models(state, Input(req)).await
}

async fn get_latest_versions(
    State(s): State<AppState>,
    Input(req): Input<GetLatestVersions>,
) -> Reply<ModelVersionsResponse> {
    let model_versions = s
        .registry
        .get_latest_versions(&req.name, &req.stages)
        .await?;
    Ok(Json(ModelVersionsResponse {
        model_versions,
        next_page_token: None,
    }))
}

async fn set_registered_model_tag(
    State(s): State<AppState>,
    Body(req): Body<SetRegisteredModelTag>,
) -> Reply<Empty> {
    s.registry
        .set_registered_model_tag(&req.name, Tag::new(req.key, req.value))
        .await?;
    Ok(Json(Empty {}))
}

async fn delete_registered_model_tag(
    State(s): State<AppState>,
    Input(req): Input<SetRegisteredModelTag>,
) -> Reply<Empty> {
    s.registry
        .delete_registered_model_tag(&req.name, &req.key)
        .await?;
    Ok(Json(Empty {}))
}

async fn set_alias(
    State(s): State<AppState>,
    headers: HeaderMap,
    Body(req): Body<RegisteredModelAliasRequest>,
) -> Reply<Empty> {
    s.registry
        .set_alias(&req.name, &req.alias, &req.version, user(&headers))
        .await?;
    Ok(Json(Empty {}))
}

async fn delete_alias(
    State(s): State<AppState>,
    headers: HeaderMap,
    Input(req): Input<RegisteredModelAliasRequest>,
) -> Reply<Empty> {
    s.registry
        .delete_alias(&req.name, &req.alias, user(&headers))
        .await?;
    Ok(Json(Empty {}))
}

async fn get_version_by_alias(
    State(s): State<AppState>,
    Input(req): Input<RegisteredModelAliasRequest>,
) -> Reply<ModelVersionResponse> {
    let model_version = s
        .registry
        .get_version_by_alias(&req.name, &req.alias)
        .await?;
    Ok(Json(ModelVersionResponse { model_version }))
}

async fn create_model_version(
    State(s): State<AppState>,
    headers: HeaderMap,
    Body(req): Body<CreateModelVersion>,
) -> Reply<ModelVersionResponse> {
    let model_version = s.registry.create_model_version(req, user(&headers)).await?;
    Ok(Json(ModelVersionResponse { model_version }))
}

async fn get_model_version(
    State(s): State<AppState>,
    Input(req): Input<ModelVersionRef>,
) -> Reply<ModelVersionResponse> {
    let model_version = s
        .registry
        .get_model_version(&req.name, &req.version)
        .await?;
    Ok(Json(ModelVersionResponse { model_version }))
}

async fn update_model_version(
    State(s): State<AppState>,
    Body(req): Body<UpdateModelVersion>,
) -> Reply<ModelVersionResponse> {
    let model_version = s
        .registry
        .update_model_version(&req.name, &req.version, req.description)
        .await?;
    Ok(Json(ModelVersionResponse { model_version }))
}

async fn delete_model_version(
    State(s): State<AppState>,
    headers: HeaderMap,
    Input(req): Input<ModelVersionRef>,
) -> Reply<Empty> {
    s.registry
        .delete_model_version(&req.name, &req.version, user(&headers))
        .await?;
    Ok(Json(Empty {}))
}

async fn search_model_versions(
    State(s): State<AppState>,
    Input(req): Input<SearchRegistry>,
) -> Reply<ModelVersionsResponse> {
    let page = s.registry.search_model_versions(req).await?;
    Ok(Json(ModelVersionsResponse {
        model_versions: page.items,
        next_page_token: page.next_page_token,
    }))
}

async fn search_model_versions_post(
    state: State<AppState>,
    Body(req): Body<SearchRegistry>,
) -> Reply<ModelVersionsResponse> {
    search_model_versions(state, Input(req)).await
}

async fn get_download_uri(
    State(s): State<AppState>,
    Input(req): Input<ModelVersionRef>,
) -> Reply<DownloadUriResponse> {
    let artifact_uri = s.registry.download_uri(&req.name, &req.version).await?;
    Ok(Json(DownloadUriResponse { artifact_uri }))
}

async fn transition_stage(
    State(s): State<AppState>,
    headers: HeaderMap,
    Body(req): Body<TransitionModelVersionStage>,
) -> Reply<ModelVersionResponse> {
    let model_version = s.registry.transition_stage(req, user(&headers)).await?;
    Ok(Json(ModelVersionResponse { model_version }))
}

async fn set_model_version_tag(
    State(s): State<AppState>,
    Body(req): Body<SetModelVersionTag>,
) -> Reply<Empty> {
    s.registry
        .set_model_version_tag(&req.name, &req.version, Tag::new(req.key, req.value))
        .await?;
    Ok(Json(Empty {}))
}

async fn delete_model_version_tag(
    State(s): State<AppState>,
    Input(req): Input<SetModelVersionTag>,
) -> Reply<Empty> {
    s.registry
        .delete_model_version_tag(&req.name, &req.version, &req.key)
        .await?;
    Ok(Json(Empty {}))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct EventsQuery {
    name: Option<String>,
    #[serde(deserialize_with = "slipway_core::json::de_opt_i64")]
    after: Option<i64>,
    #[serde(deserialize_with = "slipway_core::json::de_opt_i64")]
    max_results: Option<i64>,
    /// Long poll: wait up to this many milliseconds for an event after `after`.
    #[serde(deserialize_with = "slipway_core::json::de_opt_i64")]
    wait_ms: Option<i64>,
}

#[derive(Debug, Serialize)]
struct EventsResponse {
    events: Vec<RegistryEvent>,
}

/// `GET /api/2.0/slipway/registry/events?name=&after=&max_results=&wait_ms=`:
/// recorded events with id > `after`, oldest first. With `wait_ms` (capped at
/// [`slipway_registry::MAX_EVENT_WAIT`]), a long poll: when there is none yet,
/// answers as soon as one is committed, or with `{"events": []}` when the
/// wait ends (or the server shuts down).
async fn events(
    State(s): State<AppState>,
    Params(q): Params<EventsQuery>,
) -> Reply<EventsResponse> {
    let limit = q.max_results.unwrap_or(1000).clamp(1, 10_000) as usize;
    let name = q.name.as_deref().filter(|n| !n.is_empty());
    let after = q.after.unwrap_or(0);
    let events = match q.wait_ms {
        Some(wait_ms) => {
            s.registry
                .wait_for_events(name, after, limit, wait_ms)
                .await?
        }
        None => s.registry.events(name, after, limit).await?,
    };
    Ok(Json(EventsResponse { events }))
}

async fn lineage(
    State(s): State<AppState>,
    Params(req): Params<ModelVersionRef>,
) -> Reply<slipway_registry::service::Lineage> {
    Ok(Json(s.registry.lineage(&req.name, &req.version).await?))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ResolveQuery {
    uri: String,
}

async fn resolve(
    State(s): State<AppState>,
    Params(q): Params<ResolveQuery>,
) -> Reply<slipway_registry::ResolvedModel> {
    Ok(Json(s.registry.resolve(&q.uri).await?))
}
