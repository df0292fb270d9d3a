//! MLflow tracking REST endpoints (`/api/2.0/mlflow/...`).
//!
//! Each handler: decode, call one `Tracking` method, encode. The same routes
//! are mounted under `/ajax-api/2.0/mlflow` as MLflow's UI expects.

use crate::extract::{Body, Params};
use crate::{ApiError, AppState};
use axum::extract::{Path, State};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use slipway_protocol::*;
use slipway_tracking::validation::missing;
use slipway_tracking::RunUpdate;

type Reply<T> = Result<Json<T>, ApiError>;

pub fn routes() -> Router<AppState> {
    let api = Router::new()
        .route("/experiments/create", post(create_experiment))
        .route("/experiments/get", get(get_experiment))
        .route("/experiments/get-by-name", get(get_experiment_by_name))
        .route(
            "/experiments/search",
            post(search_experiments).get(search_experiments_get),
        )
        .route("/experiments/delete", post(delete_experiment))
        .route("/experiments/restore", post(restore_experiment))
        .route("/experiments/update", post(update_experiment))
        .route("/experiments/set-experiment-tag", post(set_experiment_tag))
        .route(
            "/experiments/delete-experiment-tag",
            post(delete_experiment_tag),
        )
        .route("/runs/create", post(create_run))
        .route("/runs/get", get(get_run))
        .route("/runs/update", post(update_run))
        .route("/runs/delete", post(delete_run))
        .route("/runs/restore", post(restore_run))
        .route("/runs/search", post(search_runs))
        .route("/runs/log-metric", post(log_metric))
        .route("/runs/log-parameter", post(log_param))
        .route("/runs/set-tag", post(set_tag))
        .route("/runs/delete-tag", post(delete_tag))
        .route("/runs/log-batch", post(log_batch))
        .route("/runs/log-inputs", post(log_inputs))
        .route("/runs/outputs", post(log_outputs))
        .route("/runs/log-model", post(log_model))
        .route("/metrics/get-history", get(get_metric_history))
        .route("/logged-models", post(create_logged_model))
        .route("/logged-models/search", post(search_logged_models))
        .route(
            "/logged-models/{model_id}",
            get(get_logged_model)
                .patch(finalize_logged_model)
                .delete(delete_logged_model),
        )
        .route(
            "/logged-models/{model_id}/tags",
            patch(set_logged_model_tags),
        )
        .route(
            "/logged-models/{model_id}/tags/{tag_key}",
            axum::routing::delete(delete_logged_model_tag),
        )
        .route(
            "/logged-models/{model_id}/params",
            post(log_logged_model_params),
        );
    Router::new()
        .nest("/api/2.0/mlflow", api.clone())
        .nest("/ajax-api/2.0/mlflow", api)
}

fn empty() -> Reply<Empty> {
    Ok(Json(Empty {}))
}

// ---------------- experiments ----------------

async fn create_experiment(
    State(s): State<AppState>,
    Body(req): Body<CreateExperiment>,
) -> Reply<CreateExperimentResponse> {
    let experiment_id = s.tracking.create_experiment(req).await?;
    Ok(Json(CreateExperimentResponse { experiment_id }))
}

async fn get_experiment(
    State(s): State<AppState>,
    Params(req): Params<ExperimentIdRequest>,
) -> Reply<ExperimentResponse> {
    let experiment = s.tracking.get_experiment(&req.experiment_id).await?;
    Ok(Json(ExperimentResponse { experiment }))
}

async fn get_experiment_by_name(
    State(s): State<AppState>,
    Params(req): Params<GetExperimentByName>,
) -> Reply<ExperimentResponse> {
    let experiment = s
        .tracking
        .get_experiment_by_name(&req.experiment_name)
        .await?;
    Ok(Json(ExperimentResponse { experiment }))
}

async fn search_experiments(
    State(s): State<AppState>,
    Body(req): Body<SearchExperiments>,
) -> Reply<SearchExperimentsResponse> {
    let page = s.tracking.search_experiments(req).await?;
    Ok(Json(SearchExperimentsResponse {
        experiments: page.items,
        next_page_token: page.next_page_token,
    }))
}

async fn search_experiments_get(
    state: State<AppState>,
    Params(req): Params<SearchExperiments>,
) -> Reply<SearchExperimentsResponse> {
    search_experiments(state, Body(req)).await
}

async fn delete_experiment(
    State(s): State<AppState>,
    Body(req): Body<ExperimentIdRequest>,
) -> Reply<Empty> {
    s.tracking.delete_experiment(&req.experiment_id).await?;
    empty()
}

async fn restore_experiment(
    State(s): State<AppState>,
    Body(req): Body<ExperimentIdRequest>,
) -> Reply<Empty> {
    s.tracking.restore_experiment(&req.experiment_id).await?;
    empty()
}

async fn update_experiment(
    State(s): State<AppState>,
    Body(req): Body<UpdateExperiment>,
) -> Reply<Empty> {
    s.tracking
        .update_experiment(&req.experiment_id, &req.new_name)
        .await?;
    empty()
}

async fn set_experiment_tag(
    State(s): State<AppState>,
    Body(req): Body<SetExperimentTag>,
) -> Reply<Empty> {
    s.tracking
        .set_experiment_tag(&req.experiment_id, Tag::new(req.key, req.value))
        .await?;
    empty()
}

async fn delete_experiment_tag(
    State(s): State<AppState>,
    Body(req): Body<DeleteExperimentTag>,
) -> Reply<Empty> {
    s.tracking
        .delete_experiment_tag(&req.experiment_id, &req.key)
        .await?;
    empty()
}

// ---------------- runs ----------------

async fn create_run(State(s): State<AppState>, Body(req): Body<CreateRun>) -> Reply<RunResponse> {
    let run = s.tracking.create_run(req).await?;
    Ok(Json(RunResponse { run }))
}

async fn get_run(
    State(s): State<AppState>,
    Params(req): Params<RunIdRequest>,
) -> Reply<RunResponse> {
    let run = s.tracking.get_run(req.id()).await?;
    Ok(Json(RunResponse { run }))
}

async fn update_run(
    State(s): State<AppState>,
    Body(req): Body<UpdateRun>,
) -> Reply<UpdateRunResponse> {
    let run_id = pick_run_id(&req.run_id, &req.run_uuid).to_string();
    let run_info = s
        .tracking
        .update_run(
            &run_id,
            RunUpdate {
                status: req.status,
                end_time: req.end_time,
                run_name: req.run_name,
            },
        )
        .await?;
    Ok(Json(UpdateRunResponse { run_info }))
}

async fn delete_run(State(s): State<AppState>, Body(req): Body<RunIdRequest>) -> Reply<Empty> {
    s.tracking.delete_run(req.id()).await?;
    empty()
}

async fn restore_run(State(s): State<AppState>, Body(req): Body<RunIdRequest>) -> Reply<Empty> {
    s.tracking.restore_run(req.id()).await?;
    empty()
}

async fn search_runs(
    State(s): State<AppState>,
    Body(req): Body<SearchRuns>,
) -> Reply<SearchRunsResponse> {
    let page = s.tracking.search_runs(req).await?;
    Ok(Json(SearchRunsResponse {
        runs: page.items,
        next_page_token: page.next_page_token,
    }))
}

async fn log_metric(State(s): State<AppState>, Body(req): Body<LogMetric>) -> Reply<Empty> {
    let run_id = pick_run_id(&req.run_id, &req.run_uuid).to_string();
    let value = req.value.ok_or_else(|| missing("value"))?;
    let timestamp = req.timestamp.ok_or_else(|| missing("timestamp"))?;
    let metric = Metric {
        key: req.key,
        value,
        timestamp,
        step: req.step,
        model_id: req.model_id,
        dataset_name: req.dataset_name,
        dataset_digest: req.dataset_digest,
        run_id: None,
    };
    s.tracking.log_metric(&run_id, metric).await?;
    empty()
}

async fn log_param(State(s): State<AppState>, Body(req): Body<LogParam>) -> Reply<Empty> {
    let run_id = pick_run_id(&req.run_id, &req.run_uuid).to_string();
    s.tracking
        .log_param(&run_id, Param::new(req.key, req.value))
        .await?;
    empty()
}

async fn set_tag(State(s): State<AppState>, Body(req): Body<SetTag>) -> Reply<Empty> {
    let run_id = pick_run_id(&req.run_id, &req.run_uuid).to_string();
    s.tracking
        .set_tag(&run_id, Tag::new(req.key, req.value))
        .await?;
    empty()
}

async fn delete_tag(State(s): State<AppState>, Body(req): Body<SetTag>) -> Reply<Empty> {
    let run_id = pick_run_id(&req.run_id, &req.run_uuid).to_string();
    s.tracking.delete_tag(&run_id, &req.key).await?;
    empty()
}

async fn log_batch(State(s): State<AppState>, Body(req): Body<LogBatch>) -> Reply<Empty> {
    s.tracking
        .log_batch(&req.run_id, req.metrics, req.params, req.tags)
        .await?;
    empty()
}

async fn log_inputs(State(s): State<AppState>, Body(req): Body<LogInputs>) -> Reply<Empty> {
    s.tracking
        .log_inputs(&req.run_id, req.datasets, req.models)
        .await?;
    empty()
}

async fn log_outputs(State(s): State<AppState>, Body(req): Body<LogOutputs>) -> Reply<Empty> {
    s.tracking.log_outputs(&req.run_id, req.models).await?;
    empty()
}

async fn log_model(State(s): State<AppState>, Body(req): Body<LogModel>) -> Reply<Empty> {
    s.tracking
        .record_logged_model(&req.run_id, &req.model_json)
        .await?;
    empty()
}

async fn get_metric_history(
    State(s): State<AppState>,
    Params(req): Params<GetMetricHistory>,
) -> Reply<GetMetricHistoryResponse> {
    let page = s.tracking.get_metric_history(&req).await?;
    Ok(Json(GetMetricHistoryResponse {
        metrics: page.items,
        next_page_token: page.next_page_token,
    }))
}

// ---------------- logged models ----------------

async fn create_logged_model(
    State(s): State<AppState>,
    Body(req): Body<CreateLoggedModel>,
) -> Reply<LoggedModelResponse> {
    let model = s.tracking.create_logged_model(req).await?;
    Ok(Json(LoggedModelResponse { model }))
}

async fn get_logged_model(
    State(s): State<AppState>,
    Path(model_id): Path<String>,
) -> Reply<LoggedModelResponse> {
    let model = s.tracking.get_logged_model(&model_id).await?;
    Ok(Json(LoggedModelResponse { model }))
}

async fn finalize_logged_model(
    State(s): State<AppState>,
    Path(model_id): Path<String>,
    Body(req): Body<FinalizeLoggedModel>,
) -> Reply<LoggedModelResponse> {
    let model = s
        .tracking
        .finalize_logged_model(&model_id, req.status)
        .await?;
    Ok(Json(LoggedModelResponse { model }))
}

async fn delete_logged_model(
    State(s): State<AppState>,
    Path(model_id): Path<String>,
) -> Reply<Empty> {
    s.tracking.delete_logged_model(&model_id).await?;
    empty()
}

async fn set_logged_model_tags(
    State(s): State<AppState>,
    Path(model_id): Path<String>,
    Body(req): Body<SetLoggedModelTags>,
) -> Reply<Empty> {
    s.tracking
        .set_logged_model_tags(&model_id, req.tags)
        .await?;
    empty()
}

async fn delete_logged_model_tag(
    State(s): State<AppState>,
    Path((model_id, tag_key)): Path<(String, String)>,
) -> Reply<Empty> {
    s.tracking
        .delete_logged_model_tag(&model_id, &tag_key)
        .await?;
    empty()
}

async fn log_logged_model_params(
    State(s): State<AppState>,
    Path(model_id): Path<String>,
    Body(req): Body<LogLoggedModelParams>,
) -> Reply<Empty> {
    s.tracking
        .log_logged_model_params(&model_id, req.params)
        .await?;
    empty()
}

async fn search_logged_models(
    State(s): State<AppState>,
    Body(req): Body<SearchLoggedModels>,
) -> Reply<SearchLoggedModelsResponse> {
    let page = s.tracking.search_logged_models(req).await?;
    Ok(Json(SearchLoggedModelsResponse {
        models: page.items,
        next_page_token: page.next_page_token,
    }))
}
