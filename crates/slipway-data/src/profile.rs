//! Training data profiles: per-feature statistics that validation and
//! monitoring use as the drift reference.
//!
//! [`profile_table`] describes each requested column of a table (Arrow
//! [`RecordBatch`]es) once, at training time; `slipway train` logs the
//! resulting [`DatasetProfile`] as JSON. Later, [`quantile_psi`] compares new
//! values of a numeric feature with the reference bins stored in the profile
//! (the classic credit-risk PSI on reference deciles, described in
//! `drift-statistics.md`). Pure computation, no I/O.
//!
//! # Column types
//!
//! * **Numeric**: `Int8`..`Int64`, `UInt8`..`UInt64`, `Float32`, `Float64`,
//!   and `Boolean` (as 0/1). Values are converted to `f64` (integers beyond
//!   2^53 lose precision). For floats, NaN and ±infinity count as null (as
//!   drift statistics drop them).
//! * **Categorical**: `Utf8`, `LargeUtf8`, `Utf8View`, and `Dictionary(_, _)`
//!   of those. A `Null`-typed column (no value at all) is profiled as an empty
//!   categorical.
//! * Everything else, including `Date32`/`Date64`/`Timestamp` and decimals, is
//!   refused with [`DataError::UnsupportedColumnType`]: a date's drift is
//!   always "the calendar moved", so derive a numeric feature (an age, a
//!   tenure in days) and profile that instead.
//!
//! # Shares and rates
//!
//! `null_rate` is `null_count / row_count` (0 for an empty table). Every other
//! share (PSI bin shares, category frequencies) is a share of the column's
//! non-null values, as drift statistics compute them after dropping nulls.
//!
//! # Determinism
//!
//! The profile holds only vectors (no hash-map order reaches it) and finite
//! numbers, so its JSON is identical for identical input. Statistics that do
//! not exist for a column without values (`mean`, `std`, `min`, `max`) are
//! `None` (JSON `null`), never NaN.

use crate::DataError;
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type, UInt32Type,
    UInt64Type, UInt8Type,
};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::DataType;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// The `format` of profiles this module writes.
pub const PROFILE_FORMAT: &str = "slipway-profile/1";

/// Quantile levels reported for every numeric feature.
pub const QUANTILE_LEVELS: [f64; 11] =
    [0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1.0];

/// Levels whose quantiles (de-duplicated) are the PSI cut points: the
/// reference deciles, written as the decimal literals `0.1, 0.2, ..., 0.9`.
pub const PSI_CUT_LEVELS: [f64; 9] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];

/// Most categories listed per categorical feature; the share of the rest is
/// [`ProfileKind::Categorical::other_share`].
pub const MAX_CATEGORIES: usize = 100;

/// Bins of a numeric feature's histogram when its values are not small
/// integers (see [`Histogram`]).
pub const HISTOGRAM_BINS: usize = 20;

/// Floor applied to every bin share, in both frames, by [`quantile_psi`].
pub const PSI_EPS: f64 = 1e-4;

/// A table's profile: one entry per profiled column, in the order asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetProfile {
    /// Always [`PROFILE_FORMAT`] (`"slipway-profile/1"`).
    pub format: String,
    /// Rows in the table (null or not).
    pub row_count: u64,
    pub features: Vec<FeatureProfile>,
}

impl DatasetProfile {
    /// The profile of the feature called `name`, if it was profiled.
    pub fn feature(&self, name: &str) -> Option<&FeatureProfile> {
        self.features.iter().find(|f| f.name == name)
    }
}

/// One column's profile. In JSON the [`ProfileKind`] fields sit next to
/// `name`, `null_count` and `null_rate`, with `"kind": "numeric"` or
/// `"kind": "categorical"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureProfile {
    pub name: String,
    /// Null values; for floats NaN and ±infinity count as null.
    pub null_count: u64,
    /// `null_count / row_count`, 0 when the table has no rows.
    pub null_rate: f64,
    #[serde(flatten)]
    pub kind: ProfileKind,
}

/// What is known about a column, by kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProfileKind {
    Numeric {
        /// Non-null values.
        count: u64,
        /// Mean of the values; `None` without values.
        mean: Option<f64>,
        /// Population standard deviation (ddof = 0); `None` without values.
        std: Option<f64>,
        min: Option<f64>,
        max: Option<f64>,
        /// `(level, value)` for each of [`QUANTILE_LEVELS`], as
        /// `np.quantile(values, level)` (method `"linear"`) computes it on the
        /// `f64` values; empty without values.
        quantiles: Vec<(f64, f64)>,
        /// The drift reference for [`quantile_psi`].
        psi_bins: PsiBins,
        /// Equal-width histogram, for plots.
        histogram: Histogram,
        /// Exact number of distinct non-null values (`-0.0` equals `0.0`).
        distinct_count: u64,
    },
    Categorical {
        /// Non-null values.
        count: u64,
        /// Exact number of distinct non-null values.
        distinct_count: u64,
        /// `(value, share of the non-null values)`, largest share first, ties
        /// by value (byte order); at most [`MAX_CATEGORIES`] entries.
        frequencies: Vec<(String, f64)>,
        /// Share of the non-null values whose category is not listed in
        /// `frequencies` (0 when all are listed).
        other_share: f64,
    },
}

/// Reference bins of the classic PSI.
///
/// `cuts` are `np.quantile(reference, [0.1, ..., 0.9])` (linear
/// interpolation), de-duplicated and increasing. They define
/// `cuts.len() + 1` bins `(-inf, c1), [c1, c2), ..., [c_last, +inf)`, so every
/// value lands in one; `shares[i]` is the share of the reference's non-null
/// values in bin `i` (raw: the [`PSI_EPS`] floor is applied by
/// [`quantile_psi`]). A reference without values has `count` 0 and no cuts or
/// shares.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PsiBins {
    pub cuts: Vec<f64>,
    pub shares: Vec<f64>,
    /// Non-null reference values the shares were computed from.
    pub count: u64,
}

/// A histogram for plots: `counts[i]` values in `[edges[i], edges[i + 1])`,
/// the last bin also holding `edges[last]` (numpy's convention).
/// `edges.len() == counts.len() + 1`; both empty for a column without values.
///
/// Values that are all integers spanning fewer than [`HISTOGRAM_BINS`]
/// (e.g. counts, flags) get one bin per integer, centred on it
/// (`[k - 0.5, k + 0.5)`); other values get [`HISTOGRAM_BINS`] equal-width bins
/// from min to max (numpy's `np.histogram(values, 20)`; a constant value `v`
/// spans `[v - 0.5, v + 0.5]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    pub edges: Vec<f64>,
    pub counts: Vec<u64>,
}

/// Result of [`quantile_psi`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PsiReport {
    /// `sum((ref - cur) * ln(ref / cur))` over the bins, shares floored at
    /// [`PSI_EPS`].
    pub psi: f64,
    /// Finite current values compared.
    pub current_count: u64,
    /// Current values ignored because they were NaN or infinite.
    pub ignored_count: u64,
    /// One entry per reference bin, in order.
    pub bins: Vec<PsiBinReport>,
}

/// One bin of a [`PsiReport`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PsiBinReport {
    /// Inclusive lower bound; `None` for the first bin (minus infinity).
    pub lower: Option<f64>,
    /// Exclusive upper bound; `None` for the last bin (plus infinity).
    pub upper: Option<f64>,
    /// Raw reference share (before the [`PSI_EPS`] floor).
    pub reference_share: f64,
    /// Raw current share (before the [`PSI_EPS`] floor).
    pub current_share: f64,
    /// This bin's term of the PSI sum (floored shares).
    pub contribution: f64,
}

/// Profiles `columns` of the table made of `batches` (which must agree on
/// each column's type).
///
/// Errors: a column missing from any batch ([`DataError::UnknownColumn`],
/// listing the columns there are), a type that cannot be profiled
/// ([`DataError::UnsupportedColumnType`], see the module docs), a column
/// whose type differs between batches, or a column listed twice
/// ([`DataError::InvalidConfig`]).
pub fn profile_table(
    batches: &[RecordBatch],
    columns: &[&str],
) -> Result<DatasetProfile, DataError> {
    for (i, name) in columns.iter().enumerate() {
        if columns[..i].contains(name) {
            return Err(DataError::InvalidConfig(format!(
                "column `{name}` is listed twice for profiling"
            )));
        }
    }
    let row_count: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
    let mut features = Vec::with_capacity(columns.len());
    for &name in columns {
        let arrays = column_arrays(batches, name)?;
        let data_type = match arrays.first() {
            Some(a) => a.data_type().clone(),
            None => {
                return Err(DataError::UnknownColumn {
                    column: name.to_string(),
                    available: Vec::new(),
                })
            }
        };
        let (null_count, kind) = match column_kind(name, &data_type)? {
            Kind::Numeric => {
                let (mut values, nulls) = numeric_values(&arrays);
                (nulls, numeric_profile(&mut values))
            }
            Kind::Categorical => {
                let (counts, nulls) = category_counts(&arrays);
                (nulls, categorical_profile(counts))
            }
        };
        features.push(FeatureProfile {
            name: name.to_string(),
            null_count,
            null_rate: if row_count == 0 {
                0.0
            } else {
                null_count as f64 / row_count as f64
            },
            kind,
        });
    }
    Ok(DatasetProfile {
        format: PROFILE_FORMAT.to_string(),
        row_count,
        features,
    })
}

/// Classic PSI of `current` values against a numeric feature's reference
/// bins (from [`ProfileKind::Numeric::psi_bins`]).
///
/// Each current value goes to the bin `[c_i, c_{i+1})` holding it (the first
/// and last bins are open-ended). Current values that are NaN or ±infinite
/// are ignored (counted in [`PsiReport::ignored_count`]), as drift statistics
/// drop them; shares are of the remaining values. Every bin share, reference
/// and current, is raised to at least [`PSI_EPS`] (1e-4), then
/// `PSI = sum((ref - cur) * ln(ref / cur))`.
///
/// Errors: bins that break [`PsiBins`]' invariants (including a reference
/// without values) are [`DataError::InvalidPsiBins`]; no finite current value
/// is [`DataError::NoCurrentValues`].
pub fn quantile_psi(reference: &PsiBins, current: &[f64]) -> Result<PsiReport, DataError> {
    check_bins(reference)?;
    let cuts = &reference.cuts;
    let mut counts = vec![0u64; cuts.len() + 1];
    let mut ignored = 0u64;
    for &x in current {
        if x.is_finite() {
            counts[cuts.partition_point(|&c| c <= x)] += 1;
        } else {
            ignored += 1;
        }
    }
    let n = current.len() as u64 - ignored;
    if n == 0 {
        return Err(DataError::NoCurrentValues { ignored });
    }
    let mut psi = 0.0;
    let mut bins = Vec::with_capacity(counts.len());
    for (i, (&count, &reference_share)) in counts.iter().zip(&reference.shares).enumerate() {
        let current_share = count as f64 / n as f64;
        let r = reference_share.max(PSI_EPS);
        let c = current_share.max(PSI_EPS);
        let contribution = (r - c) * (r / c).ln();
        psi += contribution;
        bins.push(PsiBinReport {
            lower: i.checked_sub(1).map(|j| cuts[j]),
            upper: cuts.get(i).copied(),
            reference_share,
            current_share,
            contribution,
        });
    }
    Ok(PsiReport {
        psi,
        current_count: n,
        ignored_count: ignored,
        bins,
    })
}

fn check_bins(bins: &PsiBins) -> Result<(), DataError> {
    let bad = |m: String| Err(DataError::InvalidPsiBins(m));
    if bins.count == 0 || bins.shares.is_empty() {
        return bad("the reference has no values".to_string());
    }
    if bins.shares.len() != bins.cuts.len() + 1 {
        return bad(format!(
            "{} cut points need {} shares, not {}",
            bins.cuts.len(),
            bins.cuts.len() + 1,
            bins.shares.len()
        ));
    }
    if let Some(c) = bins.cuts.iter().find(|c| !c.is_finite()) {
        return bad(format!("cut point {c} is not finite"));
    }
    if let Some(w) = bins.cuts.windows(2).find(|w| w[0] >= w[1]) {
        return bad(format!(
            "cut points must increase strictly ({} then {})",
            w[0], w[1]
        ));
    }
    if let Some(s) = bins.shares.iter().find(|s| !(0.0..=1.0).contains(*s)) {
        return bad(format!("share {s} is not in [0, 1]"));
    }
    Ok(())
}

enum Kind {
    Numeric,
    Categorical,
}

fn column_kind(name: &str, data_type: &DataType) -> Result<Kind, DataError> {
    let unsupported = |hint: &'static str| DataError::UnsupportedColumnType {
        column: name.to_string(),
        data_type: data_type.clone(),
        hint,
    };
    match data_type {
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64
        | DataType::Float32
        | DataType::Float64
        | DataType::Boolean => Ok(Kind::Numeric),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null => {
            Ok(Kind::Categorical)
        }
        DataType::Dictionary(_, value)
            if matches!(
                value.as_ref(),
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            ) =>
        {
            Ok(Kind::Categorical)
        }
        DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _) => Err(unsupported(
            "dates and timestamps are not profiled; derive a numeric feature (an age, a tenure in days) instead",
        )),
        _ => Err(unsupported(
            "profiles cover integers, floats, booleans and strings (plain or dictionary-encoded)",
        )),
    }
}

/// The column's array in each batch, all of one type.
fn column_arrays<'a>(
    batches: &'a [RecordBatch],
    name: &str,
) -> Result<Vec<&'a ArrayRef>, DataError> {
    let mut arrays: Vec<&ArrayRef> = Vec::with_capacity(batches.len());
    for batch in batches {
        let array = batch
            .column_by_name(name)
            .ok_or_else(|| DataError::UnknownColumn {
                column: name.to_string(),
                available: batch
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .collect(),
            })?;
        if let Some(first) = arrays.first() {
            if first.data_type() != array.data_type() {
                return Err(DataError::InconsistentColumnType {
                    column: name.to_string(),
                    first: first.data_type().clone(),
                    other: array.data_type().clone(),
                });
            }
        }
        arrays.push(array);
    }
    Ok(arrays)
}

/// The non-null (and, for floats, finite) values as `f64`, and how many
/// values were null.
fn numeric_values(arrays: &[&ArrayRef]) -> (Vec<f64>, u64) {
    let total: usize = arrays.iter().map(|a| a.len()).sum();
    let mut values = Vec::with_capacity(total);
    macro_rules! extend {
        ($array:expr, $t:ty) => {{
            let a = $array.as_primitive::<$t>();
            match a.nulls().filter(|n| n.null_count() > 0) {
                None => values.extend(a.values().iter().map(|&v| v as f64)),
                Some(nulls) => values.extend(
                    a.values()
                        .iter()
                        .zip(nulls.iter())
                        .filter(|(_, valid)| *valid)
                        .map(|(&v, _)| v as f64),
                ),
            }
        }};
    }
    for array in arrays {
        match array.data_type() {
            DataType::Int8 => extend!(array, Int8Type),
            DataType::Int16 => extend!(array, Int16Type),
            DataType::Int32 => extend!(array, Int32Type),
            DataType::Int64 => extend!(array, Int64Type),
            DataType::UInt8 => extend!(array, UInt8Type),
            DataType::UInt16 => extend!(array, UInt16Type),
            DataType::UInt32 => extend!(array, UInt32Type),
            DataType::UInt64 => extend!(array, UInt64Type),
            DataType::Float32 => extend!(array, Float32Type),
            DataType::Float64 => extend!(array, Float64Type),
            DataType::Boolean => {
                values.extend(
                    array
                        .as_boolean()
                        .iter()
                        .flatten()
                        .map(|b| if b { 1.0 } else { 0.0 }),
                )
            }
            // column_kind admits no other type here.
            _ => unreachable!("not a numeric type"),
        }
    }
    if arrays
        .iter()
        .any(|a| matches!(a.data_type(), DataType::Float32 | DataType::Float64))
    {
        values.retain(|v| v.is_finite());
    }
    let nulls = (total - values.len()) as u64;
    (values, nulls)
}

fn numeric_profile(values: &mut [f64]) -> ProfileKind {
    let n = values.len();
    if n == 0 {
        return ProfileKind::Numeric {
            count: 0,
            mean: None,
            std: None,
            min: None,
            max: None,
            quantiles: Vec::new(),
            psi_bins: PsiBins {
                cuts: Vec::new(),
                shares: Vec::new(),
                count: 0,
            },
            histogram: Histogram {
                edges: Vec::new(),
                counts: Vec::new(),
            },
            distinct_count: 0,
        };
    }
    sort_f64(values);
    let sorted = &*values;
    let mean = compensated_sum(sorted.iter().copied()) / n as f64;
    let var = compensated_sum(sorted.iter().map(|&x| (x - mean) * (x - mean))) / n as f64;
    let distinct_count = 1 + sorted.windows(2).filter(|w| w[0] != w[1]).count() as u64;
    let quantiles = QUANTILE_LEVELS
        .iter()
        .map(|&q| (q, quantile_sorted(sorted, q)))
        .collect();
    ProfileKind::Numeric {
        count: n as u64,
        mean: Some(mean),
        std: Some(var.sqrt()),
        min: Some(sorted[0]),
        max: Some(sorted[n - 1]),
        quantiles,
        psi_bins: psi_bins_sorted(sorted),
        histogram: histogram_sorted(sorted),
        distinct_count,
    }
}

/// Sorts finite values in `f64::total_cmp` order: an LSD radix sort on the
/// order-preserving bit pattern (8 byte passes, skipping bytes all values
/// share), several times faster than a comparison sort on a million values.
fn sort_f64(values: &mut [f64]) {
    let n = values.len();
    if n < 1024 {
        values.sort_unstable_by(f64::total_cmp);
        return;
    }
    const SIGN: u64 = 1 << 63;
    let to_key = |x: f64| {
        let bits = x.to_bits();
        if bits & SIGN != 0 {
            !bits
        } else {
            bits | SIGN
        }
    };
    let from_key = |k: u64| f64::from_bits(if k & SIGN != 0 { k & !SIGN } else { !k });
    let mut keys: Vec<u64> = values.iter().map(|&x| to_key(x)).collect();
    let mut counts = vec![[0usize; 256]; 8];
    for &k in &keys {
        for (byte, c) in counts.iter_mut().enumerate() {
            c[((k >> (8 * byte)) & 0xff) as usize] += 1;
        }
    }
    let mut buffer = vec![0u64; n];
    for (byte, c) in counts.iter().enumerate() {
        if c.contains(&n) {
            continue; // every key has the same byte here
        }
        let mut offsets = [0usize; 256];
        let mut total = 0;
        for (o, &count) in offsets.iter_mut().zip(c) {
            *o = total;
            total += count;
        }
        let shift = 8 * byte;
        for &k in &keys {
            let b = ((k >> shift) & 0xff) as usize;
            buffer[offsets[b]] = k;
            offsets[b] += 1;
        }
        std::mem::swap(&mut keys, &mut buffer);
    }
    for (v, &k) in values.iter_mut().zip(&keys) {
        *v = from_key(k);
    }
}

/// Neumaier-compensated sum (the values of one column can span magnitudes).
fn compensated_sum(values: impl Iterator<Item = f64>) -> f64 {
    let (mut sum, mut c) = (0.0f64, 0.0f64);
    for x in values {
        let t = sum + x;
        if sum.abs() >= x.abs() {
            c += (sum - t) + x;
        } else {
            c += (x - t) + sum;
        }
        sum = t;
    }
    sum + c
}

/// `np.quantile(sorted, q)` with the default method `"linear"`, operation
/// for operation: virtual index `(n - 1) * q`, `gamma` its fractional part,
/// and numpy's `_lerp` (which interpolates from the upper neighbour when
/// `gamma >= 0.5`). `sorted` is non-empty, increasing, finite.
pub(crate) fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    let virtual_index = (n - 1) as f64 * q;
    let previous = virtual_index.floor();
    let gamma = virtual_index - previous;
    if virtual_index >= (n - 1) as f64 {
        return sorted[n - 1];
    }
    if virtual_index < 0.0 {
        return sorted[0];
    }
    let i = previous as usize;
    let (a, b) = (sorted[i], sorted[i + 1]);
    let diff = b - a;
    if gamma >= 0.5 {
        b - diff * (1.0 - gamma)
    } else {
        a + diff * gamma
    }
}

fn psi_bins_sorted(sorted: &[f64]) -> PsiBins {
    let mut cuts: Vec<f64> = PSI_CUT_LEVELS
        .iter()
        .map(|&q| quantile_sorted(sorted, q))
        .collect();
    // np.unique: sorted and de-duplicated (interpolation could, in principle,
    // put two neighbouring levels one ulp out of order).
    cuts.sort_unstable_by(f64::total_cmp);
    cuts.dedup_by(|a, b| a == b);
    let n = sorted.len();
    let mut shares = Vec::with_capacity(cuts.len() + 1);
    let mut below_previous = 0;
    for &c in &cuts {
        let below = sorted.partition_point(|&x| x < c);
        shares.push((below - below_previous) as f64 / n as f64);
        below_previous = below;
    }
    shares.push((n - below_previous) as f64 / n as f64);
    PsiBins {
        cuts,
        shares,
        count: n as u64,
    }
}

fn histogram_sorted(sorted: &[f64]) -> Histogram {
    let n = sorted.len();
    let (min, max) = (sorted[0], sorted[n - 1]);
    let span = max - min;
    let edges: Vec<f64> = if span < HISTOGRAM_BINS as f64 && sorted.iter().all(|x| x.fract() == 0.0)
    {
        // Small integers: one bin per integer. (span < 20, so the integers
        // are exactly representable as are their half-way edges.)
        let bins = span as usize + 1;
        (0..=bins).map(|i| min - 0.5 + i as f64).collect()
    } else {
        let (lo, hi) = if span == 0.0 {
            (min - 0.5, max + 0.5)
        } else {
            (min, max)
        };
        let step = (hi - lo) / HISTOGRAM_BINS as f64;
        let mut edges: Vec<f64> = (0..HISTOGRAM_BINS).map(|i| lo + i as f64 * step).collect();
        edges.push(hi);
        edges
    };
    if !edges.windows(2).all(|w| w[0] < w[1]) || edges.iter().any(|e| !e.is_finite()) {
        // Magnitudes where the edges collapse or overflow (|x| near 2^53 with
        // a tiny spread, or a spread beyond f64::MAX): one bin, min to max.
        return Histogram {
            edges: vec![min, max],
            counts: vec![n as u64],
        };
    }
    let k = edges.len() - 1;
    let below: Vec<usize> = edges[..k]
        .iter()
        .map(|&e| sorted.partition_point(|&x| x < e))
        .chain(std::iter::once(n))
        .collect();
    let counts = below.windows(2).map(|w| (w[1] - w[0]) as u64).collect();
    Histogram { edges, counts }
}

/// Category counts. Hashed with a multiply-rotate hash (FxHash's) rather
/// than SipHash: about twice as fast on short strings, and the iteration order
/// it gives is discarded (categories are sorted before they reach a profile).
type CategoryCounts<'a> = HashMap<&'a str, u64, BuildHasherDefault<FxHasher>>;

#[derive(Default)]
struct FxHasher(u64);

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.add(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Counts per category (borrowing the strings from the arrays) and the null
/// count.
fn category_counts<'a>(arrays: &[&'a ArrayRef]) -> (CategoryCounts<'a>, u64) {
    let mut counts = CategoryCounts::default();
    let mut nulls = 0u64;
    for &array in arrays {
        match array.data_type() {
            DataType::Dictionary(_, _) => {
                let dict = array.as_any_dictionary();
                let values = dict.values();
                let mut per_key = vec![0u64; values.len()];
                let keys = dict.keys();
                for (i, key) in dict.normalized_keys().into_iter().enumerate() {
                    if keys.is_null(i) {
                        nulls += 1;
                    } else {
                        per_key[key] += 1;
                    }
                }
                for (key, &count) in per_key.iter().enumerate() {
                    if count == 0 {
                        continue;
                    }
                    match string_at(values.as_ref(), key) {
                        Some(s) => *counts.entry(s).or_insert(0) += count,
                        None => nulls += count,
                    }
                }
            }
            DataType::Null => nulls += array.len() as u64,
            DataType::Utf8 => tally(array.as_string::<i32>().iter(), &mut counts, &mut nulls),
            DataType::LargeUtf8 => tally(array.as_string::<i64>().iter(), &mut counts, &mut nulls),
            DataType::Utf8View => tally(array.as_string_view().iter(), &mut counts, &mut nulls),
            // column_kind admits no other type here.
            _ => unreachable!("not a string type"),
        }
    }
    (counts, nulls)
}

fn tally<'a>(
    values: impl Iterator<Item = Option<&'a str>>,
    counts: &mut CategoryCounts<'a>,
    nulls: &mut u64,
) {
    for value in values {
        match value {
            Some(s) => *counts.entry(s).or_insert(0) += 1,
            None => *nulls += 1,
        }
    }
}

/// The string at `i` of a Utf8, LargeUtf8 or Utf8View array; `None` if null.
fn string_at(array: &dyn Array, i: usize) -> Option<&str> {
    if array.is_null(i) {
        return None;
    }
    match array.data_type() {
        DataType::Utf8 => Some(array.as_string::<i32>().value(i)),
        DataType::LargeUtf8 => Some(array.as_string::<i64>().value(i)),
        DataType::Utf8View => Some(array.as_string_view().value(i)),
        // column_kind admits no other type here.
        _ => unreachable!("not a string type"),
    }
}

fn categorical_profile(counts: CategoryCounts<'_>) -> ProfileKind {
    let count: u64 = counts.values().sum();
    let distinct_count = counts.len() as u64;
    let mut sorted: Vec<(&str, u64)> = counts.into_iter().collect();
    sorted.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let listed = sorted.len().min(MAX_CATEGORIES);
    let share = |c: u64| {
        if count == 0 {
            0.0
        } else {
            c as f64 / count as f64
        }
    };
    let other: u64 = sorted[listed..].iter().map(|(_, c)| c).sum();
    ProfileKind::Categorical {
        count,
        distinct_count,
        frequencies: sorted[..listed]
            .iter()
            .map(|&(v, c)| (v.to_string(), share(c)))
            .collect(),
        other_share: share(other),
    }
}
