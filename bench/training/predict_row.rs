//! Single-row prediction latency of Slipway's default GBM, in process.
//!
//!     cargo bench -p slipway-train --bench predict_row [-- --calls N --json]
//!
//! Trains the default model the way `slipway train` does
//! (`slipway_train::model::train` with `ModelSpec::new(GbmClassifier)` and no
//! params, i.e. `GbmParams::default()`: 100 depth-3 trees) on a
//! seeded synthetic binary problem with 30 features (the shape of the
//! benchmark's 500k x 30 speed data; latency depends on the trees, not on the
//! rows), then times `Model::predict_proba` on a 1-row `Matrix`, one call at
//! a time (the `TrainedModel` that `slipway train` saves), cycling over 1,000
//! distinct held-out rows. Prints the median, p99
//! and mean per call and the ratio to the 20 µs target, and with `--json` a
//! last line `{"predict_row": {...}}` that bench/training/bench.py reads.
//! No timed assertion: the target is reported, never enforced.

use std::hint::black_box;
use std::ops::ControlFlow;
use std::time::Instant;

use slipway_train::gbm::{GbmParams, Matrix, Model};
use slipway_train::model::{train, FeatureKind, ModelSpec, ModelType};

const FEATURES: usize = 30;
const TRAIN_ROWS: usize = 20_000;
const DISTINCT_ROWS: usize = 1_000;
const TARGET_US: f64 = 20.0;

/// SplitMix64: small, seeded, good enough for benchmark data.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

/// Rows of 30 normal features; the label depends on 10 of them (linear part,
/// one interaction, one threshold) plus noise, like make_classification's
/// informative/noise split.
fn make_data(rows: usize, rng: &mut Rng) -> (Vec<f64>, Vec<f64>) {
    let weights: Vec<f64> = (0..10)
        .map(|i| if i % 2 == 0 { 1.0 } else { -0.7 })
        .collect();
    let mut x = Vec::with_capacity(rows * FEATURES);
    let mut y = Vec::with_capacity(rows);
    for _ in 0..rows {
        let row: Vec<f64> = (0..FEATURES).map(|_| rng.normal()).collect();
        let mut score: f64 = row.iter().zip(&weights).map(|(a, w)| a * w).sum();
        score += 0.8 * row[0] * row[1] + if row[2] > 0.5 { 1.0 } else { 0.0 };
        score += 0.7 * rng.normal();
        y.push(if score > 0.3 { 1.0 } else { 0.0 });
        x.extend_from_slice(&row);
    }
    (x, y)
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let json = args.iter().any(|a| a == "--json");
    let calls: usize = args
        .iter()
        .position(|a| a == "--calls")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);

    let mut rng = Rng(0x5EED);
    let (x_train, y_train) = make_data(TRAIN_ROWS, &mut rng);
    let (x_test, _) = make_data(DISTINCT_ROWS, &mut rng);

    // No params: Slipway's defaults (reported from GbmParams::default()).
    let defaults = GbmParams::default();
    let (trees, depth) = (defaults.num_rounds, defaults.max_depth);
    let spec = ModelSpec::new(ModelType::GbmClassifier);
    let t = Instant::now();
    let model = train(
        &spec,
        Matrix::new(&x_train, TRAIN_ROWS, FEATURES).expect("train matrix"),
        &[FeatureKind::Numeric; FEATURES],
        &y_train,
        |_| ControlFlow::Continue(()),
    )
    .expect("train");
    let fit_s = t.elapsed().as_secs_f64();

    let row = |i: usize| &x_test[i * FEATURES..(i + 1) * FEATURES];

    // Warm-up (caches, branch predictors, allocator).
    for i in 0..5_000 {
        let m = Matrix::new(row(i % DISTINCT_ROWS), 1, FEATURES).expect("row");
        black_box(model.predict_proba(m).expect("predict"));
    }

    let mut per_call_ns = Vec::with_capacity(calls);
    let total = Instant::now();
    for i in 0..calls {
        let r = black_box(row(i % DISTINCT_ROWS));
        let t = Instant::now();
        let m = Matrix::new(r, 1, FEATURES).expect("row");
        let p = model.predict_proba(m).expect("predict");
        per_call_ns.push(t.elapsed().as_nanos() as f64);
        black_box(p);
    }
    let total_s = total.elapsed().as_secs_f64();
    per_call_ns.sort_by(|a, b| a.total_cmp(b));
    let median_us = percentile(&per_call_ns, 0.5) / 1e3;
    let p99_us = percentile(&per_call_ns, 0.99) / 1e3;
    let mean_us = per_call_ns.iter().sum::<f64>() / calls as f64 / 1e3;

    // Batch prediction over the same rows, for comparison (per row).
    let batch = Matrix::new(&x_test, DISTINCT_ROWS, FEATURES).expect("batch");
    let reps = 200;
    let t = Instant::now();
    for _ in 0..reps {
        black_box(model.predict_proba(batch).expect("predict"));
    }
    let batch_us = t.elapsed().as_secs_f64() * 1e6 / (reps * DISTINCT_ROWS) as f64;

    println!(
        "predict_row: Slipway default GBM ({trees} trees, depth {depth}, {FEATURES} features; fit on {TRAIN_ROWS} rows in {fit_s:.2} s)"
    );
    println!(
        "  1-row predict_proba, {calls} calls: median {median_us:.2} us, p99 {p99_us:.2} us, mean {mean_us:.2} us ({total_s:.2} s in all)"
    );
    println!("  batch of {DISTINCT_ROWS} rows: {batch_us:.3} us per row");
    println!(
        "  target < {TARGET_US} us: median is {:.3}x the target -> {}",
        median_us / TARGET_US,
        if median_us < TARGET_US {
            "PASS"
        } else {
            "MISS"
        }
    );
    if json {
        println!(
            "{{\"predict_row\": {{\"calls\": {calls}, \"median_us\": {median_us:.4}, \"p99_us\": {p99_us:.4}, \"mean_us\": {mean_us:.4}, \"batch_us_per_row\": {batch_us:.4}, \"trees\": {trees}, \"max_depth\": {depth}, \"features\": {FEATURES}, \"train_rows\": {TRAIN_ROWS}, \"target_us\": {TARGET_US}}}}}"
        );
    }
}
