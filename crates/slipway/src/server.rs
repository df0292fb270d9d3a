//! `slipway server`: flags as `mlflow server` has them.

use anyhow::Context;
use clap::{ArgAction, Args};
use slipway_server::ServerConfig;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Address to listen on (`-h` as in `mlflow server`; use --help for help)
    #[arg(short = 'h', long, default_value = "127.0.0.1", value_name = "HOST")]
    pub host: String,

    /// Port to listen on (0: any free port)
    #[arg(short = 'p', long, default_value_t = 5000, value_name = "PORT")]
    pub port: u16,

    /// Metadata store: sqlite:///RELATIVE/PATH.db or sqlite:////ABSOLUTE/PATH.db
    /// [default: sqlite:///$SLIPWAY_HOME/mlflow.db, SLIPWAY_HOME defaulting to ./slipway-data]
    #[arg(long, value_name = "URI")]
    pub backend_store_uri: Option<String>,

    /// Directory holding the artifacts the server proxies
    /// [default: $SLIPWAY_HOME/artifacts]
    #[arg(long, value_name = "PATH")]
    pub artifacts_destination: Option<PathBuf>,

    /// Accepted for `mlflow server` compatibility: runs always get proxied
    /// `mlflow-artifacts:/` URIs. A local path or file:// URI is used as
    /// --artifacts-destination when that is not given; other values are ignored
    #[arg(long, value_name = "URI")]
    pub default_artifact_root: Option<String>,

    /// Worker threads of the async runtime (0: one per CPU core)
    #[arg(short = 'w', long, default_value_t = 0, value_name = "N")]
    pub workers: usize,

    /// Accepted and ignored for `mlflow server` compatibility: slipway always serves artifacts
    #[arg(long)]
    pub serve_artifacts: bool,

    /// Print help
    #[arg(long, action = ArgAction::Help)]
    help: Option<bool>,
}

/// A `--default-artifact-root` that names a local directory.
fn local_artifact_root(root: &str) -> Option<PathBuf> {
    if let Some(path) = root.strip_prefix("file://") {
        return (!path.is_empty()).then(|| PathBuf::from(path));
    }
    if root.contains("://") || root.starts_with("mlflow-artifacts:") {
        return None;
    }
    Some(PathBuf::from(root))
}

/// The server configuration the flags describe; creates `$SLIPWAY_HOME` when a default is used.
fn build_config(args: &ServerArgs) -> anyhow::Result<ServerConfig> {
    let home = crate::slipway_home();
    let mut config = ServerConfig::with_home(&home);
    config.host = args.host.clone();
    config.port = args.port;
    config.workers = args.workers;

    let mut artifacts_destination = args.artifacts_destination.clone();
    if let Some(root) = &args.default_artifact_root {
        match local_artifact_root(root) {
            Some(dir) if artifacts_destination.is_none() => {
                tracing::info!(
                    "--default-artifact-root {root}: storing artifacts under {} (served as mlflow-artifacts:/)",
                    dir.display()
                );
                artifacts_destination = Some(dir);
            }
            _ => tracing::warn!(
                "--default-artifact-root {root} is ignored: slipway serves artifacts itself \
                 (mlflow-artifacts:/), stored under --artifacts-destination"
            ),
        }
    }

    let uses_home = args.backend_store_uri.is_none() || artifacts_destination.is_none();
    if uses_home {
        std::fs::create_dir_all(&home)
            .with_context(|| format!("cannot create the data directory {}", home.display()))?;
    }
    if let Some(uri) = &args.backend_store_uri {
        config.backend_store_uri = uri.clone();
    }
    if let Some(dir) = artifacts_destination {
        config.artifacts_destination = dir;
    }
    Ok(config)
}

fn display_host(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

fn display_path(p: &Path) -> String {
    p.display().to_string()
}

pub fn run(args: ServerArgs) -> anyhow::Result<()> {
    run_config(build_config(&args)?)
}

/// Serves `config` until Ctrl-C / SIGTERM (also `slipway demo`'s last step).
pub fn run_config(mut config: ServerConfig) -> anyhow::Result<()> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all().thread_name("slipway-worker");
    if config.workers > 0 {
        builder.worker_threads(config.workers);
    }
    let runtime = builder.build().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        // Check the address first (and resolve port 0), so a port in use is
        // one clear error before anything is opened or announced.
        let addr = format!("{}:{}", config.host, config.port);
        let probe = std::net::TcpListener::bind(&addr).map_err(|e| {
            let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
                " (is another server running? pick another --port)"
            } else {
                ""
            };
            anyhow::anyhow!("cannot listen on {addr}: {e}{hint}")
        })?;
        config.port = probe.local_addr()?.port();

        let state = slipway_server::open_state(&config)?;
        drop(probe);

        println!(
            "slipway server listening on http://{}:{} (store: {}, artifacts: {})",
            display_host(&config.host),
            config.port,
            config.backend_store_uri,
            display_path(&config.artifacts_destination),
        );
        slipway_server::serve(config, state).await?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_roots() {
        assert_eq!(
            local_artifact_root("./mlruns"),
            Some(PathBuf::from("./mlruns"))
        );
        assert_eq!(
            local_artifact_root("file:///data/a"),
            Some(PathBuf::from("/data/a"))
        );
        assert_eq!(local_artifact_root("s3://bucket/x"), None);
        assert_eq!(local_artifact_root("mlflow-artifacts:/"), None);
    }

    #[test]
    fn ipv6_hosts_are_bracketed() {
        assert_eq!(display_host("::"), "[::]");
        assert_eq!(display_host("127.0.0.1"), "127.0.0.1");
    }
}
