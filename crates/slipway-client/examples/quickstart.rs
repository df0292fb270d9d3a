//! Logs a few training runs to a tracking server.
//!
//! ```sh
//! slipway server &
//! cargo run -p slipway-client --example quickstart -- http://127.0.0.1:5000
//! slipway runs list --experiment quickstart --order-by "metrics.auc_roc DESC"
//! ```

use slipway_client::{RunStatus, SlipwayClient};

#[tokio::main(flavor = "current_thread")]
async fn main() -> slipway_client::Result<()> {
    let uri = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://127.0.0.1:5000".into());
    let client = SlipwayClient::new(uri)?;
    let report = std::env::temp_dir().join("feature_importance.csv");
    std::fs::write(&report, "feature,importance\ntenure,0.41\nplan,0.22\n").map_err(|source| {
        slipway_client::Error::Io {
            path: report.clone(),
            source,
        }
    })?;

    for (i, (lr, depth)) in [(0.1, 3), (0.05, 6), (0.01, 8)].into_iter().enumerate() {
        let run = client
            .start_run("quickstart", Some(&format!("gbm-{i}")))
            .await?;
        run.log_params([
            ("learning_rate", lr.to_string()),
            ("max_depth", depth.to_string()),
        ])
        .await?;
        for epoch in 0..20 {
            let loss = 0.7 * (-(epoch as f64) * lr * depth as f64 / 4.0).exp() + 0.1;
            run.log_metric("loss", loss, epoch).await?;
        }
        run.log_metrics(
            &[
                ("auc_roc", 0.78 + 0.05 * i as f64),
                ("f1", 0.6 + 0.04 * i as f64),
            ],
            19,
        )
        .await?;
        run.set_tag("team", "growth").await?;
        run.log_artifact_to(&report, "reports").await?;
        println!("logged run {} ({})", run.id(), run.name());
        run.end(RunStatus::Finished).await?;
    }
    Ok(())
}
