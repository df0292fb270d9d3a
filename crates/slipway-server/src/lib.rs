//! Slipway's HTTP layer.
//!
//! Thin by design: each handler decodes an MLflow REST request, calls one
//! engine method and encodes the answer. No business rule lives here; the
//! engines ([`slipway_tracking`], [`slipway_artifacts`]) know nothing of HTTP.

mod api_error;
mod artifacts;
mod extract;
mod registry;
mod tracking;
mod webhooks;

pub use api_error::ApiError;

use axum::{routing::get, Router};
use slipway_artifacts::{ArtifactStore, LocalArtifactStore};
use slipway_registry::Registry;
use slipway_sql::SqliteStore;
use slipway_tracking::Tracking;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// Everything a handler may touch.
#[derive(Clone)]
pub struct AppState {
    pub tracking: Tracking,
    pub registry: Registry,
    pub artifacts: Arc<dyn ArtifactStore>,
    /// Registry webhooks; their dispatcher starts with [`app`].
    pub webhooks: slipway_registry::webhooks::Webhooks,
}

/// `slipway server` settings; flag names follow `mlflow server`.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub host: String,
    pub port: u16,
    /// `sqlite:///path/to/file.db` (PostgreSQL is planned).
    pub backend_store_uri: String,
    /// Local directory holding artifacts served by the proxy.
    pub artifacts_destination: PathBuf,
    /// Worker threads of the async runtime (0: one per core).
    pub workers: usize,
}

impl ServerConfig {
    /// Embedded defaults under `home` (`./slipway-data` or `$SLIPWAY_HOME`).
    pub fn with_home(home: &std::path::Path) -> Self {
        ServerConfig {
            host: "127.0.0.1".into(),
            port: 5000,
            backend_store_uri: format!("sqlite:///{}", home.join("mlflow.db").display()),
            artifacts_destination: home.join("artifacts"),
            workers: 0,
        }
    }
}

/// Errors that stop the server from starting.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(
        "unsupported --backend-store-uri '{0}': use sqlite:///PATH (PostgreSQL support is planned)"
    )]
    UnsupportedBackend(String),
    #[error("cannot open the metadata store: {0}")]
    Store(slipway_core::Error),
    #[error("cannot open the artifact store at {path}: {source}")]
    Artifacts {
        path: PathBuf,
        source: slipway_core::Error,
    },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("server error: {0}")]
    Serve(std::io::Error),
}

/// Opens the stores named by `config` and returns the application state.
pub fn open_state(config: &ServerConfig) -> Result<AppState, StartError> {
    let db_path = sqlite_path(&config.backend_store_uri)
        .ok_or_else(|| StartError::UnsupportedBackend(config.backend_store_uri.clone()))?;
    if let Some(parent) = db_path.parent() {
        if !parent.as_os_str().is_empty() {
            std::fs::create_dir_all(parent).map_err(|e| {
                StartError::Store(slipway_core::Error::internal(format!(
                    "{}: {e}",
                    parent.display()
                )))
            })?;
        }
    }
    let store = SqliteStore::open(&db_path, "mlflow-artifacts:").map_err(StartError::Store)?;
    let artifacts = LocalArtifactStore::open(&config.artifacts_destination).map_err(|source| {
        StartError::Artifacts {
            path: config.artifacts_destination.clone(),
            source,
        }
    })?;
    let store = Arc::new(store);
    Ok(AppState {
        tracking: Tracking::new(store.clone()),
        webhooks: webhooks::service(store.clone()),
        registry: Registry::new(store.clone(), store),
        artifacts: Arc::new(artifacts),
    })
}

/// `sqlite:///relative.db`, `sqlite:////abs/path.db` (SQLAlchemy's forms) or a bare path ending in `.db`.
fn sqlite_path(uri: &str) -> Option<PathBuf> {
    if let Some(rest) = uri.strip_prefix("sqlite:///") {
        return (!rest.is_empty()).then(|| PathBuf::from(rest));
    }
    None
}

/// The full router: MLflow REST API, artifact proxy, health.
pub fn app(state: AppState) -> Router {
    webhooks::start(&state);
    Router::new()
        .route("/health", get(|| async { "OK" }))
        .route("/version", get(|| async { env!("CARGO_PKG_VERSION") }))
        .merge(tracking::routes())
        .merge(registry::routes())
        .merge(webhooks::routes())
        .merge(artifacts::routes())
        .fallback(api_error::not_found)
        .with_state(state)
        .layer(tower_http::trace::TraceLayer::new_for_http())
}

/// Runs the server until Ctrl-C / SIGTERM, then drains in-flight requests.
pub async fn serve(config: ServerConfig, state: AppState) -> Result<(), StartError> {
    let addr = format!("{}:{}", config.host, config.port);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|source| StartError::Bind {
            addr: addr.clone(),
            source,
        })?;
    let local: SocketAddr = listener.local_addr().map_err(StartError::Serve)?;
    tracing::info!(%local, "slipway server listening");
    serve_listener(listener, state, shutdown_signal()).await
}

/// Serves on an already bound listener until `shutdown` completes (the
/// CLI's embedded server for `slipway train` and `slipway demo`).
pub async fn serve_listener(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let registry = state.registry.clone();
    // Graceful shutdown waits for in-flight requests: end the event feed's
    // long polls first, or one could hold the exit for a minute.
    let shutdown = async move {
        shutdown.await;
        registry.close_waiters();
    };
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(StartError::Serve)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down: draining in-flight requests");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_uris() {
        assert_eq!(
            sqlite_path("sqlite:///mlflow.db"),
            Some(PathBuf::from("mlflow.db"))
        );
        assert_eq!(
            sqlite_path("sqlite:////tmp/x.db"),
            Some(PathBuf::from("/tmp/x.db"))
        );
        assert_eq!(sqlite_path("postgresql://x"), None);
        assert_eq!(sqlite_path("sqlite:///"), None);
    }
}
