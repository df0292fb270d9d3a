//! The synthetic churn dataset: customers, their raw event tables, and a flat
//! training table whose label is learnable (but noisy) from its features.
//!
//! # The story the data tells
//!
//! The observation window starts on [`START_DATE`] (2025-01-01, fixed so that
//! output depends on the seed only) and runs for `days` days; the snapshot is
//! its end (`start + days`). Customers signed up at any time in the 730 days
//! before the start or during the window. Each has a plan, a region, a contract
//! and a monthly price, and a hidden engagement level that drives how often
//! they log in, buy add-ons and open support tickets. About one in five starts
//! to disengage at some point in the 60 days before the snapshot: their logins
//! drop to a fifth and their ticket rate rises.
//!
//! The training table has one row per customer with features computed **as of
//! the snapshot, from events strictly before it**. The label `churn` is drawn
//! from a logistic model of those features (month-to-month contracts, short
//! tenure, high prices, few and stale logins, many or severe tickets raise
//! the risk) plus hidden Gaussian noise; its intercept is solved so that the
//! expected positive rate is `0.20 + 0.06 * drift` (20-26%).
//!
//! The raw tables also hold the 30 days after the snapshot (the outcome
//! window): a churner cancels at a random moment in it and has no events from
//! then on, so the label is visible in the raw data too, exactly as it would be
//! in a real warehouse, which is what makes the "no leakage" rule testable.
//!
//! # Drift
//!
//! `drift` in [0, 1] moves the distributions in a documented direction, for
//! monitoring demos: prices (monthly charges and add-on amounts) up by
//! `30% * drift`, login rate down by `40% * drift` and sessions shorter by
//! `25% * drift`, ticket rate up by `150% * drift` with more severe tickets,
//! and the plan mix shifted from premium towards basic.
//!
//! # Order and ids
//!
//! Customer ids are 1..=N. Event tables are ordered by customer, then time;
//! transaction and ticket ids number the rows in that order, from 1.
//! Timestamps are whole seconds, stored as microseconds in UTC.

use crate::rng::Rng;
use crate::DataError;
use arrow_array::{
    ArrayRef, Date32Array, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use std::collections::HashMap;
use std::sync::Arc;

/// First day of the observation window, as days since 1970-01-01 (2025-01-01).
pub const START_DATE: i32 = 20_089;
/// Days after the snapshot that the raw event tables also cover (the outcome window).
pub const OUTCOME_DAYS: i32 = 30;
/// How far back before the window signups go.
pub const SIGNUP_HISTORY_DAYS: i32 = 730;
/// Largest `customers` accepted.
pub const MAX_CUSTOMERS: u64 = 10_000_000;
/// Largest `days` accepted.
pub const MAX_DAYS: u32 = 3_650;

/// Plan names, in code order.
pub const PLANS: [&str; 3] = ["basic", "standard", "premium"];
/// Region names, in code order.
pub const REGIONS: [&str; 4] = ["north_america", "europe", "asia_pacific", "latin_america"];
/// Contract names, in code order.
pub const CONTRACTS: [&str; 3] = ["month-to-month", "one-year", "two-year"];
/// Transaction kinds.
pub const TRANSACTION_KINDS: [&str; 2] = ["subscription", "addon"];
/// Support ticket categories.
pub const TICKET_CATEGORIES: [&str; 4] = ["billing", "technical", "account", "other"];

/// The training table's columns, in order (`churn` last).
pub const TRAINING_COLUMNS: [&str; 14] = [
    "customer_id",
    "tenure_days",
    "plan",
    "region",
    "contract",
    "monthly_charges",
    "total_spend_30d",
    "txn_count_30d",
    "logins_7d",
    "logins_30d",
    "days_since_last_login",
    "tickets_90d",
    "max_ticket_severity_90d",
    "churn",
];

/// Share of training rows whose `monthly_charges` is missing (null), at random.
pub const MISSING_CHARGES_RATE: f64 = 0.03;

const SECS_PER_DAY: i64 = 86_400;
const MICROS_PER_SEC: i64 = 1_000_000;
const BASE_PRICE: [f64; 3] = [29.0, 59.0, 99.0];
const REGION_PRICE: [f64; 4] = [1.0, 1.05, 0.95, 0.85];
const CONTRACT_DISCOUNT: [f64; 3] = [1.0, 0.95, 0.90];
const LOGIN_RATE: [f64; 3] = [0.35, 0.50, 0.70];
const ADDON_RATE: [f64; 3] = [0.025, 0.035, 0.045];
const TICKET_RATE: f64 = 0.006;

/// What to generate. [`ChurnConfig::default`] matches the CLI's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct ChurnConfig {
    /// Number of customers (rows of `customers` and `training`).
    pub customers: u64,
    /// Length of the observation window in days; the snapshot is its end.
    pub days: u32,
    /// Seed: the same seed and settings give identical tables.
    pub seed: u64,
    /// Distribution shift in [0, 1] (see the module docs).
    pub drift: f64,
}

impl Default for ChurnConfig {
    fn default() -> Self {
        ChurnConfig {
            customers: 10_000,
            days: 180,
            seed: 42,
            drift: 0.0,
        }
    }
}

impl ChurnConfig {
    /// Checks the ranges; the message names the setting and the accepted range.
    pub fn validate(&self) -> Result<(), DataError> {
        if !(self.drift.is_finite() && (0.0..=1.0).contains(&self.drift)) {
            return Err(DataError::InvalidConfig(format!(
                "drift must be between 0.0 and 1.0, got {}",
                self.drift
            )));
        }
        if !(1..=MAX_CUSTOMERS).contains(&self.customers) {
            return Err(DataError::InvalidConfig(format!(
                "customers must be between 1 and {MAX_CUSTOMERS}, got {}",
                self.customers
            )));
        }
        if !(1..=MAX_DAYS).contains(&self.days) {
            return Err(DataError::InvalidConfig(format!(
                "days must be between 1 and {MAX_DAYS}, got {}",
                self.days
            )));
        }
        Ok(())
    }

    /// The snapshot date (days since 1970-01-01): `START_DATE + days`.
    pub fn snapshot_date(&self) -> i32 {
        START_DATE + self.days as i32
    }

    /// The positive rate the label's intercept is solved for.
    pub fn target_positive_rate(&self) -> f64 {
        0.20 + 0.06 * self.drift
    }
}

/// The generated tables, plus what a test or a demo wants to know about them.
#[derive(Debug, Clone)]
pub struct ChurnDataset {
    pub config: ChurnConfig,
    /// customer_id, signup_date, plan, region, contract, monthly_charges.
    pub customers: RecordBatch,
    /// transaction_id, customer_id, ts, amount, kind (subscription | addon).
    pub transactions: RecordBatch,
    /// customer_id, ts, session_minutes.
    pub logins: RecordBatch,
    /// ticket_id, customer_id, ts, severity (1-4), category.
    pub support_tickets: RecordBatch,
    /// One row per customer: [`TRAINING_COLUMNS`].
    pub training: RecordBatch,
    /// Share of `churn == 1` in the training table.
    pub positive_rate: f64,
    /// The label model's probability for each customer (hidden noise included),
    /// in customer order. Not written to any table.
    pub churn_probability: Vec<f64>,
    /// The label model's logit from the features alone (no hidden noise, no
    /// intercept): the best score a model of the training table could learn.
    pub feature_score: Vec<f64>,
}

impl ChurnDataset {
    /// The tables in writing order, with their file stems.
    pub fn tables(&self) -> [(&'static str, &RecordBatch); 5] {
        [
            ("customers", &self.customers),
            ("transactions", &self.transactions),
            ("logins", &self.logins),
            ("support_tickets", &self.support_tickets),
            ("training", &self.training),
        ]
    }

    /// Rows in the three event tables together.
    pub fn event_count(&self) -> usize {
        self.transactions.num_rows() + self.logins.num_rows() + self.support_tickets.num_rows()
    }
}

/// Generates the dataset (all cores; the result does not depend on how many).
pub fn generate(config: &ChurnConfig) -> Result<ChurnDataset, DataError> {
    generate_with_progress(config, &|_| {})
}

/// [`generate`], calling `progress(n)` as each further `n` customers are done
/// (from worker threads; the calls add up to `config.customers`).
pub fn generate_with_progress(
    config: &ChurnConfig,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<ChurnDataset, DataError> {
    let threads = std::thread::available_parallelism()
        .map(|p| p.get())
        .unwrap_or(1)
        .clamp(1, 8);
    generate_on_threads(config, threads, progress)
}

fn generate_on_threads(
    config: &ChurnConfig,
    threads: usize,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<ChurnDataset, DataError> {
    config.validate()?;
    let n = config.customers as usize;
    let threads = threads.clamp(1, n.div_ceil(2048).max(1));
    let per = n.div_ceil(threads);
    let parts: Vec<Part> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let range = (t * per).min(n)..((t + 1) * per).min(n);
                s.spawn(move || simulate_range(config, range, progress))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("generator thread panicked"))
            .collect()
    });
    Ok(assemble(config, parts))
}

/// Per-customer draws that the tables are built from.
struct Customer {
    signup_day: i32,
    plan: usize,
    region: usize,
    contract: usize,
    monthly_charges: f64,
    charges_missing: bool,
    features: Features,
    score: f64,
    noise: f64,
    label_u: f64,
    /// Seconds since the window start at which the customer cancels, if a churner.
    cancel_at: i64,
}

/// Features as of the snapshot (see [`features_as_of`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Features {
    pub tenure_days: i32,
    pub total_spend_30d: f64,
    pub txn_count_30d: i32,
    pub logins_7d: i32,
    pub logins_30d: i32,
    pub days_since_last_login: i32,
    pub tickets_90d: i32,
    pub max_ticket_severity_90d: i32,
}

/// Event columns for a range of customers (times: seconds since the window start).
#[derive(Default)]
struct Part {
    customers: Vec<Customer>,
    first: usize,
    txn_cust: Vec<u32>,
    txn_ts: Vec<i64>,
    txn_amount: Vec<f64>,
    txn_kind: Vec<u8>,
    login_cust: Vec<u32>,
    login_ts: Vec<i64>,
    login_minutes: Vec<f64>,
    ticket_cust: Vec<u32>,
    ticket_ts: Vec<i64>,
    ticket_severity: Vec<i32>,
    ticket_category: Vec<u8>,
}

/// `x` to one decimal (as the nearest double to the decimal, so CSV shows `23.4`).
fn tenths(x: f64) -> f64 {
    libm::round(x * 10.0) / 10.0
}

fn cents(x: f64) -> f64 {
    libm::round(x * 100.0) / 100.0
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + libm::exp(-x))
}

/// Event times of a Poisson process with `rate` per day on [from, to) days,
/// as whole seconds since the window start.
fn poisson_times(rng: &mut Rng, rate: f64, from: f64, to: f64, out: &mut Vec<i64>) {
    if rate <= 0.0 || from >= to {
        return;
    }
    let mut t = from;
    loop {
        t += rng.exponential(rate);
        if t >= to {
            return;
        }
        out.push(libm::floor(t * SECS_PER_DAY as f64) as i64);
    }
}

/// The features of one customer as of `snapshot` (seconds since the window
/// start), from events strictly before it. Event slices are time-ordered.
///
/// `days_since_last_login` is whole days since the last login, or, for a
/// customer with no login in the window, since they were first observed
/// (signup or window start). `max_ticket_severity_90d` is 0 without tickets.
pub fn features_as_of(
    snapshot: i64,
    signup_day: i32,
    transactions: &[(i64, f64)],
    logins: &[i64],
    tickets: &[(i64, i32)],
) -> Features {
    let day = SECS_PER_DAY;
    let since = |t: i64, days: i64| t >= snapshot - days * day && t < snapshot;
    let mut spend = 0.0;
    let mut txn_count = 0;
    for &(_, amount) in transactions.iter().filter(|(t, _)| since(*t, 30)) {
        spend += amount;
        txn_count += 1;
    }
    let before: Vec<i64> = logins.iter().copied().filter(|&t| t < snapshot).collect();
    let observed_from = i64::from(signup_day.max(0)) * day;
    let last = before.last().copied().unwrap_or(observed_from);
    let mut tickets_90d = 0;
    let mut max_severity = 0;
    for &(_, severity) in tickets.iter().filter(|(t, _)| since(*t, 90)) {
        tickets_90d += 1;
        max_severity = max_severity.max(severity);
    }
    Features {
        tenure_days: ((snapshot / day) - i64::from(signup_day)) as i32,
        total_spend_30d: cents(spend),
        txn_count_30d: txn_count,
        logins_7d: before.iter().filter(|&&t| since(t, 7)).count() as i32,
        logins_30d: before.iter().filter(|&&t| since(t, 30)).count() as i32,
        days_since_last_login: ((snapshot - last) / day) as i32,
        tickets_90d,
        max_ticket_severity_90d: max_severity,
    }
}

/// The label model's logit from the features, without intercept or noise.
/// Exposed so that its direction is documented in code: positive weights raise
/// the churn risk.
pub fn feature_score(plan: usize, contract: usize, monthly_charges: f64, f: &Features) -> f64 {
    let contract_effect = [1.0, -0.1, -1.0][contract];
    let plan_effect = [0.0, 0.0, -0.3][plan];
    contract_effect + plan_effect - 0.40 * libm::log1p(f64::from(f.tenure_days) / 30.0)
        + 0.015 * (monthly_charges - 60.0)
        - 0.60 * libm::log1p(f64::from(f.logins_30d))
        + if f.logins_7d == 0 { 0.4 } else { 0.0 }
        + 0.05 * f64::from(f.days_since_last_login.min(30))
        + 0.30 * f64::from(f.tickets_90d.min(5))
        + if f.max_ticket_severity_90d >= 3 {
            0.4
        } else {
            0.0
        }
}

/// Standard deviation of the hidden noise added to the logit.
pub const LABEL_NOISE_SD: f64 = 0.5;

fn simulate_range(
    config: &ChurnConfig,
    range: std::ops::Range<usize>,
    progress: &(dyn Fn(u64) + Sync),
) -> Part {
    let mut part = Part {
        first: range.start,
        customers: Vec::with_capacity(range.len()),
        ..Part::default()
    };
    let mut txns: Vec<(i64, f64, u8)> = Vec::new();
    let mut logins: Vec<i64> = Vec::new();
    let mut tickets: Vec<i64> = Vec::new();
    let mut reported = 0u64;
    for (k, i) in range.clone().enumerate() {
        simulate_customer(config, i, &mut part, &mut txns, &mut logins, &mut tickets);
        if (k + 1) % 1024 == 0 {
            progress(1024);
            reported += 1024;
        }
    }
    progress(range.len() as u64 - reported);
    part
}

fn simulate_customer(
    config: &ChurnConfig,
    index: usize,
    part: &mut Part,
    txns: &mut Vec<(i64, f64, u8)>,
    logins: &mut Vec<i64>,
    tickets: &mut Vec<i64>,
) {
    let d = config.drift;
    let days = config.days as i32;
    let end = f64::from(days + OUTCOME_DAYS);
    let snapshot = i64::from(days) * SECS_PER_DAY;
    let mut rng = Rng::stream(config.seed, index as u64);
    let local = (index - part.first) as u32;

    // Who the customer is.
    let signup_day = -SIGNUP_HISTORY_DAYS + rng.below((SIGNUP_HISTORY_DAYS + days) as u64) as i32;
    let plan = rng.pick(&[0.45 + 0.15 * d, 0.35 - 0.05 * d, 0.20 - 0.10 * d]);
    let region = rng.pick(&[0.40, 0.30, 0.20, 0.10]);
    let contract = rng.pick(&[0.55, 0.25, 0.20]);
    let monthly_charges = cents(
        BASE_PRICE[plan]
            * REGION_PRICE[region]
            * CONTRACT_DISCOUNT[contract]
            * (1.0 + 0.30 * d)
            * libm::exp(0.08 * rng.normal()),
    );
    let engagement = rng.normal();
    let disengage_p = sigmoid(
        -1.5 - 0.7 * engagement
            + if contract == 0 { 0.6 } else { 0.0 }
            + if contract == 2 { -0.3 } else { 0.0 },
    );
    let disengaging = rng.bernoulli(disengage_p);
    let lookback = f64::from(days.min(60));
    let change = if disengaging {
        f64::from(days) - lookback * rng.uniform()
    } else {
        end
    };
    let first = f64::from(signup_day.max(0));

    // Logins: a Poisson process whose rate drops to a fifth after the change.
    let login_rate = LOGIN_RATE[plan] * libm::exp(0.45 * engagement) * (1.0 - 0.40 * d);
    logins.clear();
    poisson_times(&mut rng, login_rate, first, change.max(first), logins);
    poisson_times(&mut rng, 0.2 * login_rate, change.max(first), end, logins);
    let session_scale = libm::exp(libm::log(9.0) + 0.15 * engagement) * (1.0 - 0.25 * d);

    // Transactions: the monthly charge every 30 days from signup, plus add-ons.
    txns.clear();
    let mut bill = if signup_day >= 0 {
        signup_day
    } else {
        signup_day + 30 * ((29 - signup_day) / 30)
    };
    while f64::from(bill) < end {
        let ts = i64::from(bill) * SECS_PER_DAY + 7_200 + rng.below(3_600) as i64;
        txns.push((ts, monthly_charges, 0));
        bill += 30;
    }
    let mut addons = Vec::new();
    let addon_rate = ADDON_RATE[plan] * libm::exp(0.3 * engagement);
    poisson_times(&mut rng, addon_rate, first, end, &mut addons);
    for ts in addons {
        let amount = cents((12.0 * libm::exp(0.6 * rng.normal()) * (1.0 + 0.30 * d)).max(0.99));
        txns.push((ts, amount, 1));
    }
    txns.sort_by_key(|t| t.0);

    // Support tickets: more for the less engaged, 2.5x as many after the change.
    let ticket_rate = TICKET_RATE * libm::exp(-0.3 * engagement) * (1.0 + 1.5 * d);
    tickets.clear();
    poisson_times(&mut rng, ticket_rate, first, change.max(first), tickets);
    poisson_times(&mut rng, 2.5 * ticket_rate, change.max(first), end, tickets);
    let severity_weights: Vec<f64> = [0.45, 0.30, 0.18, 0.07]
        .iter()
        .enumerate()
        .map(|(k, w)| w * libm::exp(0.5 * d * k as f64))
        .collect();
    let mut ticket_rows: Vec<(i64, i32)> = Vec::with_capacity(tickets.len());
    for &ts in tickets.iter() {
        let severity = 1 + rng.pick(&severity_weights) as i32;
        let category = rng.pick(&[0.30, 0.45, 0.15, 0.10]) as u8;
        ticket_rows.push((ts, severity));
        part.ticket_cust.push(local);
        part.ticket_ts.push(ts);
        part.ticket_severity.push(severity);
        part.ticket_category.push(category);
    }

    for &ts in logins.iter() {
        let minutes = tenths((session_scale * libm::exp(0.7 * rng.normal())).max(0.1));
        part.login_cust.push(local);
        part.login_ts.push(ts);
        part.login_minutes.push(minutes);
    }
    for &(ts, amount, kind) in txns.iter() {
        part.txn_cust.push(local);
        part.txn_ts.push(ts);
        part.txn_amount.push(amount);
        part.txn_kind.push(kind);
    }

    // Features as of the snapshot, and the label model's inputs.
    let txn_pairs: Vec<(i64, f64)> = txns.iter().map(|&(t, a, _)| (t, a)).collect();
    let features = features_as_of(snapshot, signup_day, &txn_pairs, logins, &ticket_rows);
    let score = feature_score(plan, contract, monthly_charges, &features);
    let noise = LABEL_NOISE_SD * rng.normal();
    let label_u = rng.uniform();
    let cancel_at = snapshot + rng.below((i64::from(OUTCOME_DAYS) * SECS_PER_DAY) as u64) as i64;
    let charges_missing = rng.bernoulli(MISSING_CHARGES_RATE);
    part.customers.push(Customer {
        signup_day,
        plan,
        region,
        contract,
        monthly_charges,
        charges_missing,
        features,
        score,
        noise,
        label_u,
        cancel_at,
    });
}

/// The intercept that makes the mean churn probability equal `target`.
fn solve_intercept(logits: &[f64], target: f64) -> f64 {
    let mean = |b: f64| logits.iter().map(|s| sigmoid(s + b)).sum::<f64>() / logits.len() as f64;
    let (mut lo, mut hi) = (-40.0, 40.0);
    for _ in 0..80 {
        let mid = 0.5 * (lo + hi);
        if mean(mid) < target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

fn utc_timestamps(secs: impl Iterator<Item = i64>) -> ArrayRef {
    let start = i64::from(START_DATE) * SECS_PER_DAY;
    Arc::new(
        TimestampMicrosecondArray::from_iter_values(secs.map(|t| (start + t) * MICROS_PER_SEC))
            .with_timezone("UTC"),
    )
}

fn strings(codes: impl Iterator<Item = usize>, names: &[&str]) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(codes.map(|c| names[c])))
}

fn batch(schema: Schema, columns: Vec<ArrayRef>) -> RecordBatch {
    RecordBatch::try_new(Arc::new(schema), columns).expect("columns match their schema")
}

fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn assemble(config: &ChurnConfig, parts: Vec<Part>) -> ChurnDataset {
    let customers: Vec<&Customer> = parts.iter().flat_map(|p| p.customers.iter()).collect();
    let logits: Vec<f64> = customers.iter().map(|c| c.score + c.noise).collect();
    let intercept = solve_intercept(&logits, config.target_positive_rate());
    let probability: Vec<f64> = logits.iter().map(|s| sigmoid(s + intercept)).collect();
    let churn: Vec<bool> = customers
        .iter()
        .zip(&probability)
        .map(|(c, p)| c.label_u < *p)
        .collect();
    let positive_rate = churn.iter().filter(|&&c| c).count() as f64 / churn.len() as f64;

    let mut metadata = HashMap::new();
    let snapshot = config.snapshot_date();
    for (k, v) in [
        ("slipway.dataset", "churn".to_string()),
        ("slipway.seed", config.seed.to_string()),
        ("slipway.drift", config.drift.to_string()),
        ("slipway.customers", config.customers.to_string()),
        ("slipway.days", config.days.to_string()),
        ("slipway.start_date", crate::time::format_date(START_DATE)),
        ("slipway.snapshot_date", crate::time::format_date(snapshot)),
    ] {
        metadata.insert(k.to_string(), v);
    }
    let schema = |fields: Vec<Field>| Schema::new(fields).with_metadata(metadata.clone());

    // customers
    let customer_ids = || Arc::new(Int64Array::from_iter_values(1..=config.customers as i64));
    let customers_batch = batch(
        schema(vec![
            Field::new("customer_id", DataType::Int64, false),
            Field::new("signup_date", DataType::Date32, false),
            Field::new("plan", DataType::Utf8, false),
            Field::new("region", DataType::Utf8, false),
            Field::new("contract", DataType::Utf8, false),
            Field::new("monthly_charges", DataType::Float64, false),
        ]),
        vec![
            customer_ids(),
            Arc::new(Date32Array::from_iter_values(
                customers.iter().map(|c| START_DATE + c.signup_day),
            )),
            strings(customers.iter().map(|c| c.plan), &PLANS),
            strings(customers.iter().map(|c| c.region), &REGIONS),
            strings(customers.iter().map(|c| c.contract), &CONTRACTS),
            Arc::new(Float64Array::from_iter_values(
                customers.iter().map(|c| c.monthly_charges),
            )),
        ],
    );

    // Event tables: a churner has no events from the moment they cancel.
    let kept = |part: &Part, cust: u32, ts: i64| {
        let global = part.first + cust as usize;
        !(churn[global] && ts >= customers[global].cancel_at)
    };
    let (mut t_cust, mut t_ts, mut t_amount, mut t_kind) = (vec![], vec![], vec![], vec![]);
    let (mut l_cust, mut l_ts, mut l_min) = (vec![], vec![], vec![]);
    let (mut k_cust, mut k_ts, mut k_sev, mut k_cat) = (vec![], vec![], vec![], vec![]);
    for p in &parts {
        for j in 0..p.txn_ts.len() {
            if kept(p, p.txn_cust[j], p.txn_ts[j]) {
                t_cust.push((p.first + p.txn_cust[j] as usize + 1) as i64);
                t_ts.push(p.txn_ts[j]);
                t_amount.push(p.txn_amount[j]);
                t_kind.push(p.txn_kind[j] as usize);
            }
        }
        l_cust.reserve(p.login_ts.len());
        l_ts.reserve(p.login_ts.len());
        l_min.reserve(p.login_ts.len());
        for j in 0..p.login_ts.len() {
            if kept(p, p.login_cust[j], p.login_ts[j]) {
                l_cust.push((p.first + p.login_cust[j] as usize + 1) as i64);
                l_ts.push(p.login_ts[j]);
                l_min.push(p.login_minutes[j]);
            }
        }
        for j in 0..p.ticket_ts.len() {
            if kept(p, p.ticket_cust[j], p.ticket_ts[j]) {
                k_cust.push((p.first + p.ticket_cust[j] as usize + 1) as i64);
                k_ts.push(p.ticket_ts[j]);
                k_sev.push(p.ticket_severity[j]);
                k_cat.push(p.ticket_category[j] as usize);
            }
        }
    }
    let transactions = batch(
        schema(vec![
            Field::new("transaction_id", DataType::Int64, false),
            Field::new("customer_id", DataType::Int64, false),
            Field::new("ts", timestamp_type(), false),
            Field::new("amount", DataType::Float64, false),
            Field::new("kind", DataType::Utf8, false),
        ]),
        vec![
            Arc::new(Int64Array::from_iter_values(1..=t_ts.len() as i64)),
            Arc::new(Int64Array::from(t_cust)),
            utc_timestamps(t_ts.into_iter()),
            Arc::new(Float64Array::from(t_amount)),
            strings(t_kind.into_iter(), &TRANSACTION_KINDS),
        ],
    );
    let logins = batch(
        schema(vec![
            Field::new("customer_id", DataType::Int64, false),
            Field::new("ts", timestamp_type(), false),
            Field::new("session_minutes", DataType::Float64, false),
        ]),
        vec![
            Arc::new(Int64Array::from(l_cust)),
            utc_timestamps(l_ts.into_iter()),
            Arc::new(Float64Array::from(l_min)),
        ],
    );
    let support_tickets = batch(
        schema(vec![
            Field::new("ticket_id", DataType::Int64, false),
            Field::new("customer_id", DataType::Int64, false),
            Field::new("ts", timestamp_type(), false),
            Field::new("severity", DataType::Int32, false),
            Field::new("category", DataType::Utf8, false),
        ]),
        vec![
            Arc::new(Int64Array::from_iter_values(1..=k_ts.len() as i64)),
            Arc::new(Int64Array::from(k_cust)),
            utc_timestamps(k_ts.into_iter()),
            Arc::new(Int32Array::from(k_sev)),
            strings(k_cat.into_iter(), &TICKET_CATEGORIES),
        ],
    );

    // training
    let int_col = |f: fn(&Features) -> i32| -> ArrayRef {
        Arc::new(Int32Array::from_iter_values(
            customers.iter().map(|c| f(&c.features)),
        ))
    };
    let int = |name: &str| Field::new(name, DataType::Int32, false);
    let training = batch(
        schema(vec![
            Field::new("customer_id", DataType::Int64, false),
            int("tenure_days"),
            Field::new("plan", DataType::Utf8, false),
            Field::new("region", DataType::Utf8, false),
            Field::new("contract", DataType::Utf8, false),
            Field::new("monthly_charges", DataType::Float64, true),
            Field::new("total_spend_30d", DataType::Float64, false),
            int("txn_count_30d"),
            int("logins_7d"),
            int("logins_30d"),
            int("days_since_last_login"),
            int("tickets_90d"),
            int("max_ticket_severity_90d"),
            int("churn"),
        ]),
        vec![
            customer_ids(),
            int_col(|f| f.tenure_days),
            strings(customers.iter().map(|c| c.plan), &PLANS),
            strings(customers.iter().map(|c| c.region), &REGIONS),
            strings(customers.iter().map(|c| c.contract), &CONTRACTS),
            Arc::new(Float64Array::from_iter(
                customers
                    .iter()
                    .map(|c| (!c.charges_missing).then_some(c.monthly_charges)),
            )),
            Arc::new(Float64Array::from_iter_values(
                customers.iter().map(|c| c.features.total_spend_30d),
            )),
            int_col(|f| f.txn_count_30d),
            int_col(|f| f.logins_7d),
            int_col(|f| f.logins_30d),
            int_col(|f| f.days_since_last_login),
            int_col(|f| f.tickets_90d),
            int_col(|f| f.max_ticket_severity_90d),
            Arc::new(Int32Array::from_iter_values(
                churn.iter().map(|&c| i32::from(c)),
            )),
        ],
    );
    let feature_score = customers.iter().map(|c| c.score).collect();
    ChurnDataset {
        config: config.clone(),
        customers: customers_batch,
        transactions,
        logins,
        support_tickets,
        training,
        positive_rate,
        churn_probability: probability,
        feature_score,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_does_not_depend_on_thread_count() {
        let config = ChurnConfig {
            customers: 7_000,
            days: 60,
            ..ChurnConfig::default()
        };
        let one = generate_on_threads(&config, 1, &|_| {}).unwrap();
        let three = generate_on_threads(&config, 3, &|_| {}).unwrap();
        for ((name, a), (_, b)) in one.tables().iter().zip(three.tables().iter()) {
            assert_eq!(a, b, "table {name} differs");
        }
    }

    #[test]
    fn progress_adds_up_to_the_customer_count() {
        let total = std::sync::atomic::AtomicU64::new(0);
        let config = ChurnConfig {
            customers: 5_000,
            days: 30,
            ..ChurnConfig::default()
        };
        generate_on_threads(&config, 2, &|n| {
            total.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        })
        .unwrap();
        assert_eq!(total.into_inner(), 5_000);
    }

    #[test]
    fn intercept_hits_the_target_rate() {
        let logits: Vec<f64> = (0..1000).map(|i| f64::from(i) / 100.0 - 5.0).collect();
        let b = solve_intercept(&logits, 0.2);
        let mean = logits.iter().map(|s| sigmoid(s + b)).sum::<f64>() / 1000.0;
        assert!((mean - 0.2).abs() < 1e-9);
    }
}
