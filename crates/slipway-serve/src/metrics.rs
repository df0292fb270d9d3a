//! Prometheus metrics, rendered as text by [`Metrics::render`].

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// The routes metrics are kept for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Route {
    Predict,
    PredictBatch,
    Invocations,
    V2Infer,
    Other,
}

impl Route {
    pub const ALL: [Route; 5] = [
        Route::Predict,
        Route::PredictBatch,
        Route::Invocations,
        Route::V2Infer,
        Route::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Route::Predict => "predict",
            Route::PredictBatch => "predict_batch",
            Route::Invocations => "invocations",
            Route::V2Infer => "v2_infer",
            Route::Other => "other",
        }
    }
}

/// Latency buckets in seconds.
const BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

struct Histogram {
    counts: [AtomicU64; BUCKETS.len() + 1],
    sum_micros: AtomicU64,
}

impl Histogram {
    fn new() -> Self {
        Histogram {
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_micros: AtomicU64::new(0),
        }
    }

    fn observe(&self, d: Duration) {
        let s = d.as_secs_f64();
        let i = BUCKETS
            .iter()
            .position(|&b| s <= b)
            .unwrap_or(BUCKETS.len());
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }
}

#[derive(Default)]
struct Counters {
    requests: BTreeMap<(Route, u16), u64>,
    predictions: BTreeMap<(String, String, String), u64>,
    rejected: BTreeMap<&'static str, u64>,
    reloads: BTreeMap<(String, &'static str), u64>,
}

pub struct Metrics {
    latency: [Histogram; 5],
    counters: Mutex<Counters>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            latency: std::array::from_fn(|_| Histogram::new()),
            counters: Mutex::new(Counters::default()),
        }
    }
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    /// One answered request.
    pub fn request(&self, route: Route, status: u16, elapsed: Duration) {
        self.latency[route as usize].observe(elapsed);
        if let Ok(mut c) = self.counters.lock() {
            *c.requests.entry((route, status)).or_default() += 1;
            if status == 413 {
                *c.rejected.entry("body_too_large").or_default() += 1;
            } else if (400..500).contains(&status) {
                *c.rejected.entry("invalid").or_default() += 1;
            }
        }
    }

    /// Predictions by model role and class (regressors: class "value").
    pub fn predictions(&self, role: &str, version: &str, class: &str, n: u64) {
        if let Ok(mut c) = self.counters.lock() {
            *c.predictions
                .entry((role.to_string(), version.to_string(), class.to_string()))
                .or_default() += n;
        }
    }

    pub fn reload(&self, role: &str, ok: bool) {
        if let Ok(mut c) = self.counters.lock() {
            *c.reloads
                .entry((role.to_string(), if ok { "ok" } else { "failed" }))
                .or_default() += 1;
        }
    }

    /// The text exposition. `models`: (role, name, version); `dropped`: log queue drops.
    pub fn render(&self, models: &[(&str, &str, &str)], dropped: u64, written: u64) -> String {
        let mut s = String::with_capacity(4096);
        let c = match self.counters.lock() {
            Ok(c) => c,
            Err(p) => p.into_inner(),
        };
        s.push_str("# HELP slipway_requests_total Requests answered, by route and HTTP status.\n");
        s.push_str("# TYPE slipway_requests_total counter\n");
        for ((route, status), n) in &c.requests {
            let _ = writeln!(
                s,
                "slipway_requests_total{{route=\"{}\",status=\"{status}\"}} {n}",
                route.as_str()
            );
        }
        s.push_str("# HELP slipway_request_duration_seconds Request latency, by route.\n");
        s.push_str("# TYPE slipway_request_duration_seconds histogram\n");
        for route in Route::ALL {
            let h = &self.latency[route as usize];
            let mut cum = 0;
            for (i, b) in BUCKETS.iter().enumerate() {
                cum += h.counts[i].load(Ordering::Relaxed);
                let _ = writeln!(
                    s,
                    "slipway_request_duration_seconds_bucket{{route=\"{}\",le=\"{b}\"}} {cum}",
                    route.as_str()
                );
            }
            cum += h.counts[BUCKETS.len()].load(Ordering::Relaxed);
            let _ = writeln!(
                s,
                "slipway_request_duration_seconds_bucket{{route=\"{}\",le=\"+Inf\"}} {cum}",
                route.as_str()
            );
            let _ = writeln!(
                s,
                "slipway_request_duration_seconds_sum{{route=\"{}\"}} {}",
                route.as_str(),
                h.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
            );
            let _ = writeln!(
                s,
                "slipway_request_duration_seconds_count{{route=\"{}\"}} {cum}",
                route.as_str()
            );
        }
        s.push_str("# HELP slipway_predictions_total Rows predicted, by model role, version and predicted class.\n");
        s.push_str("# TYPE slipway_predictions_total counter\n");
        for ((role, version, class), n) in &c.predictions {
            let _ = writeln!(
                s,
                "slipway_predictions_total{{role=\"{}\",version=\"{}\",class=\"{}\"}} {n}",
                esc(role),
                esc(version),
                esc(class)
            );
        }
        s.push_str("# HELP slipway_model_info The models being served (1 per role).\n");
        s.push_str("# TYPE slipway_model_info gauge\n");
        for (role, name, version) in models {
            let _ = writeln!(
                s,
                "slipway_model_info{{name=\"{}\",version=\"{}\",role=\"{}\"}} 1",
                esc(name),
                esc(version),
                esc(role)
            );
        }
        s.push_str("# HELP slipway_rejected_requests_total Requests refused (4xx), by reason.\n");
        s.push_str("# TYPE slipway_rejected_requests_total counter\n");
        for reason in ["invalid", "body_too_large"] {
            let _ = writeln!(
                s,
                "slipway_rejected_requests_total{{reason=\"{reason}\"}} {}",
                c.rejected.get(reason).copied().unwrap_or(0)
            );
        }
        s.push_str("# HELP slipway_prediction_log_dropped_total Prediction log records dropped because the queue was full.\n");
        s.push_str("# TYPE slipway_prediction_log_dropped_total counter\n");
        let _ = writeln!(s, "slipway_prediction_log_dropped_total {dropped}");
        s.push_str("# HELP slipway_prediction_log_written_total Prediction log records written.\n");
        s.push_str("# TYPE slipway_prediction_log_written_total counter\n");
        let _ = writeln!(s, "slipway_prediction_log_written_total {written}");
        s.push_str("# HELP slipway_model_reloads_total Hot reloads, by model role and result.\n");
        s.push_str("# TYPE slipway_model_reloads_total counter\n");
        for ((role, result), n) in &c.reloads {
            let _ = writeln!(
                s,
                "slipway_model_reloads_total{{role=\"{}\",result=\"{result}\"}} {n}",
                esc(role)
            );
        }
        s
    }
}
