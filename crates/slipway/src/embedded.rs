//! An in-process tracking server on the embedded store, for commands that
//! log without a `--tracking-uri` (`slipway train`, `slipway demo`): they
//! talk to it through the same client as to a remote server, so there is
//! one logging path, and `slipway server` later shows what they wrote.

use anyhow::Context;
use std::path::Path;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub struct EmbeddedServer {
    pub url: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), slipway_server::StartError>>>,
}

impl EmbeddedServer {
    /// Opens the store under `home` and serves it on a free loopback port.
    pub async fn start(home: &Path) -> anyhow::Result<EmbeddedServer> {
        let config = slipway_server::ServerConfig::with_home(home);
        let state = slipway_server::open_state(&config)
            .with_context(|| format!("cannot open the embedded store under {}", home.display()))?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("cannot open a loopback port for the embedded store")?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(slipway_server::serve_listener(
            listener,
            state,
            async move {
                let _ = stopped.await;
            },
        ));
        Ok(EmbeddedServer {
            url: format!("http://{addr}"),
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// Stops serving; every answered request was already committed.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}
