//! Training data profiles: quantiles as numpy computes them, the classic
//! PSI on reference deciles, nulls, categories, errors.

use arrow_array::builder::StringDictionaryBuilder;
use arrow_array::types::Int16Type;
use arrow_array::{
    ArrayRef, BooleanArray, Date32Array, Float32Array, Float64Array, Int32Array, Int64Array,
    LargeStringArray, NullArray, RecordBatch, StringArray, StringViewArray, UInt64Array,
};
use slipway_data::profile::{
    profile_table, quantile_psi, DatasetProfile, FeatureProfile, Histogram, ProfileKind, PsiBins,
    MAX_CATEGORIES, PSI_EPS, QUANTILE_LEVELS,
};
use slipway_data::DataError;
use std::sync::Arc;

fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
    RecordBatch::try_from_iter(columns).unwrap()
}

fn f64s(values: &[f64]) -> ArrayRef {
    Arc::new(Float64Array::from(values.to_vec()))
}

fn one(batches: &[RecordBatch], column: &str) -> FeatureProfile {
    let profile = profile_table(batches, &[column]).unwrap();
    profile.features.into_iter().next().unwrap()
}

struct Numeric {
    count: u64,
    mean: Option<f64>,
    std: Option<f64>,
    min: Option<f64>,
    max: Option<f64>,
    quantiles: Vec<(f64, f64)>,
    psi_bins: PsiBins,
    histogram: Histogram,
    distinct_count: u64,
}

fn numeric(f: &FeatureProfile) -> Numeric {
    match f.kind.clone() {
        ProfileKind::Numeric {
            count,
            mean,
            std,
            min,
            max,
            quantiles,
            psi_bins,
            histogram,
            distinct_count,
        } => Numeric {
            count,
            mean,
            std,
            min,
            max,
            quantiles,
            psi_bins,
            histogram,
            distinct_count,
        },
        other => panic!("not numeric: {other:?}"),
    }
}

fn categorical(f: &FeatureProfile) -> (u64, u64, Vec<(String, f64)>, f64) {
    match f.kind.clone() {
        ProfileKind::Categorical {
            count,
            distinct_count,
            frequencies,
            other_share,
        } => (count, distinct_count, frequencies, other_share),
        other => panic!("not categorical: {other:?}"),
    }
}

fn quantile_values(q: &[(f64, f64)]) -> Vec<f64> {
    assert_eq!(
        q.iter().map(|p| p.0).collect::<Vec<_>>(),
        QUANTILE_LEVELS.to_vec()
    );
    q.iter().map(|p| p.1).collect()
}

/// Expected values printed by numpy 2.4.6:
/// `np.quantile(np.array(a, dtype=float), [0, .01, .05, .1, .25, .5, .75, .9, .95, .99, 1])`
/// (default method "linear"); compared bit for bit.
#[test]
fn quantiles_equal_numpy_linear() {
    let cases: [(&[f64], [f64; 11]); 3] = [
        (
            &[1.0, 2.0, 3.0, 4.0],
            [
                1.0,
                1.03,
                1.15,
                1.3,
                1.75,
                2.5,
                3.25,
                3.7,
                3.8499999999999996,
                3.9699999999999998,
                4.0,
            ],
        ),
        (
            &[10.0, 0.0, 5.0, 7.0, 3.0, -2.5, 1e6],
            [
                -2.5,
                -2.35,
                -1.75,
                -0.9999999999999998,
                1.5,
                5.0,
                8.5,
                400006.00000000035,
                700002.9999999993,
                940000.5999999995,
                1000000.0,
            ],
        ),
        (
            &[0.1, 0.2, 0.7],
            [
                0.1,
                0.10200000000000001,
                0.11000000000000001,
                0.12000000000000001,
                0.15000000000000002,
                0.2,
                0.44999999999999996,
                0.6,
                0.6499999999999999,
                0.69,
                0.7,
            ],
        ),
    ];
    for (values, expected) in cases {
        let f = one(&[batch(vec![("x", f64s(values))])], "x");
        let n = numeric(&f);
        assert_eq!(
            quantile_values(&n.quantiles),
            expected.to_vec(),
            "{values:?}"
        );
    }
    // Hand-computed, for the first case: virtual index (n - 1) * q = 3q,
    // e.g. q = 0.1 -> 0.3 -> 1 + 0.3 * (2 - 1) = 1.3; q = 0.95 -> 2.85 ->
    // gamma 0.85 >= 0.5, numpy computes 4 - 1 * (1 - 0.85) = 3.85 (to 1 ulp).
}

#[test]
fn numeric_summary_statistics() {
    let f = one(
        &[batch(vec![(
            "x",
            f64s(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]),
        )])],
        "x",
    );
    let n = numeric(&f);
    assert_eq!(n.count, 8);
    assert_eq!(n.mean, Some(5.0));
    // Population standard deviation (ddof = 0) of the textbook example.
    assert_eq!(n.std, Some(2.0));
    assert_eq!((n.min, n.max), (Some(2.0), Some(9.0)));
    assert_eq!(n.distinct_count, 5);
    assert_eq!(f.null_count, 0);
    assert_eq!(f.null_rate, 0.0);
}

/// PSI cut points are the deciles of the reference; for 1..=10
/// (`np.quantile(np.arange(1, 11.), [0.1, ..., 0.9])`) they are 1.9, 2.8,
/// 3.7, ..., 9.1, so each of the ten bins holds exactly one reference value.
#[test]
fn psi_reference_bins_are_deciles() {
    let values: Vec<f64> = (1..=10).map(f64::from).collect();
    let f = one(&[batch(vec![("x", f64s(&values))])], "x");
    let bins = numeric(&f).psi_bins;
    assert_eq!(
        bins.cuts,
        vec![
            1.9,
            2.8,
            3.6999999999999997,
            4.6,
            5.5,
            6.3999999999999995,
            7.3,
            8.2,
            9.1
        ]
    );
    assert_eq!(bins.shares, vec![0.1; 10]);
    assert_eq!(bins.count, 10);
}

/// Hand-computed PSI. Reference 1..=10: ten bins of share 0.1 each.
/// Current (20 values): 10 in bin 0, 5 in bin 1, none in bins 2..=8, 5 in bin 9
/// -> shares 0.5, 0.25, 0 (x7, floored to 1e-4), 0.25.
///   (0.1 - 0.5)  ln(0.1 / 0.5)        = -0.4    * -1.6094379 = 0.6437752
///   (0.1 - 0.25) ln(0.1 / 0.25)       = -0.15   * -0.9162907 = 0.1374436  (bins 1 and 9)
///   (0.1 - 1e-4) ln(0.1 / 1e-4) x 7   =  0.0999 *  6.9077553 * 7 = 4.8305932
///   total = 0.6437752 + 2 * 0.1374436 + 4.8305932 = 5.7492557
/// (numpy: `np.sum((ref - cur) * np.log(ref / cur))` = 5.749255651128096).
#[test]
fn psi_hand_computed() {
    let values: Vec<f64> = (1..=10).map(f64::from).collect();
    let f = one(&[batch(vec![("x", f64s(&values))])], "x");
    let bins = numeric(&f).psi_bins;
    let mut current = vec![0.0; 10];
    current.extend([2.0; 5]);
    current.extend([50.0; 5]);
    let report = quantile_psi(&bins, &current).unwrap();
    let by_hand = -0.4 * (0.1f64 / 0.5).ln()
        + 2.0 * (-0.15 * (0.1f64 / 0.25).ln())
        + 7.0 * ((0.1 - 1e-4) * (0.1f64 / 1e-4).ln());
    assert!((report.psi - by_hand).abs() < 1e-12, "{}", report.psi);
    assert!((report.psi - 5.749255651128096).abs() < 1e-12);
    assert_eq!(report.current_count, 20);
    assert_eq!(report.ignored_count, 0);
    assert_eq!(report.bins.len(), 10);
    assert_eq!(report.bins[0].lower, None);
    assert_eq!(report.bins[0].upper, Some(1.9));
    assert_eq!(report.bins[9].lower, Some(9.1));
    assert_eq!(report.bins[9].upper, None);
    assert_eq!(report.bins[0].current_share, 0.5);
    assert_eq!(report.bins[4].current_share, 0.0);
    let sum: f64 = report.bins.iter().map(|b| b.contribution).sum();
    assert!((sum - report.psi).abs() < 1e-12);
}

/// A zero reference share is floored too, and NaN/inf current values are
/// ignored. Bins (-inf, 0), [0, 1), [1, inf) with reference shares 0, .5, .5;
/// current -1, 0.5, 0.5, 2 (+ NaN, inf ignored) -> .25, .5, .25:
///   (1e-4 - 0.25) ln(1e-4 / 0.25) = -0.2499 * -7.8240460 = 1.9552291
///   (0.5 - 0.5) ln 1              = 0
///   (0.5 - 0.25) ln 2             =  0.25   *  0.6931472 = 0.1732868
///   total 2.1285159 (numpy: 2.1285158932529735)
#[test]
fn psi_floors_reference_and_ignores_non_finite() {
    let bins = PsiBins {
        cuts: vec![0.0, 1.0],
        shares: vec![0.0, 0.5, 0.5],
        count: 4,
    };
    let current = [
        -1.0,
        0.5,
        f64::NAN,
        0.5,
        f64::INFINITY,
        2.0,
        f64::NEG_INFINITY,
    ];
    let report = quantile_psi(&bins, &current).unwrap();
    let by_hand = (PSI_EPS - 0.25) * (PSI_EPS / 0.25).ln() + 0.25 * 2f64.ln();
    assert!((report.psi - by_hand).abs() < 1e-12);
    assert!((report.psi - 2.1285158932529735).abs() < 1e-12);
    assert_eq!(report.current_count, 4);
    assert_eq!(report.ignored_count, 3);
    // A value equal to a cut point belongs to the bin it opens.
    let report = quantile_psi(&bins, &[0.0, 1.0]).unwrap();
    let shares: Vec<f64> = report.bins.iter().map(|b| b.current_share).collect();
    assert_eq!(shares, vec![0.0, 0.5, 0.5]);
}

/// Deterministic pseudo-normal sample (sum of 12 uniforms from an LCG).
fn sample(n: usize, seed: u64, shift: f64) -> Vec<f64> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut uniform = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..n)
        .map(|_| (0..12).map(|_| uniform()).sum::<f64>() - 6.0 + shift)
        .collect()
}

#[test]
fn psi_identical_near_zero_shifted_large() {
    let reference = sample(20_000, 1, 0.0);
    let f = one(&[batch(vec![("x", f64s(&reference))])], "x");
    let bins = numeric(&f).psi_bins;
    assert_eq!(bins.cuts.len(), 9);
    // The very same values: identical shares, PSI exactly 0.
    assert_eq!(quantile_psi(&bins, &reference).unwrap().psi, 0.0);
    // Another sample of the same distribution: tiny.
    let same = quantile_psi(&bins, &sample(20_000, 2, 0.0)).unwrap().psi;
    assert!(same < 0.01, "{same}");
    // Shifted by one standard deviation: far above the 0.25 "major shift" rule.
    let shifted = quantile_psi(&bins, &sample(20_000, 3, 1.0)).unwrap().psi;
    assert!(shifted > 0.5, "{shifted}");
}

#[test]
fn psi_bins_deduplicate_tied_cut_points() {
    // Deciles 0.1..0.4 are all 0: one cut point 0, and the bin below it is empty.
    let f = one(
        &[batch(vec![(
            "x",
            f64s(&[0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0]),
        )])],
        "x",
    );
    let bins = numeric(&f).psi_bins;
    // As numpy prints `np.unique(np.quantile(x, [0.1, ..., 0.9]))`.
    assert_eq!(bins.cuts, vec![0.0, 0.5, 1.3999999999999995, 2.3, 3.2, 4.1]);
    assert_eq!(bins.shares.len(), bins.cuts.len() + 1);
    assert_eq!(bins.shares[0], 0.0);
    assert_eq!(bins.shares[1], 0.5);
    assert!((bins.shares.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    // A constant column has one cut point: everything in [c, inf).
    let f = one(&[batch(vec![("x", f64s(&[3.0; 7]))])], "x");
    let bins = numeric(&f).psi_bins;
    assert_eq!(bins.cuts, vec![3.0]);
    assert_eq!(bins.shares, vec![0.0, 1.0]);
    let report = quantile_psi(&bins, &[3.0, 3.0]).unwrap();
    assert_eq!(report.psi, 0.0);
}

#[test]
fn psi_rejects_bad_input() {
    let bins = PsiBins {
        cuts: vec![1.0, 0.0],
        shares: vec![0.2, 0.3, 0.5],
        count: 10,
    };
    assert!(matches!(
        quantile_psi(&bins, &[1.0]),
        Err(DataError::InvalidPsiBins(_))
    ));
    let bins = PsiBins {
        cuts: vec![1.0],
        shares: vec![1.0],
        count: 10,
    };
    assert!(matches!(
        quantile_psi(&bins, &[1.0]),
        Err(DataError::InvalidPsiBins(_))
    ));
    let empty = PsiBins {
        cuts: vec![],
        shares: vec![],
        count: 0,
    };
    let err = quantile_psi(&empty, &[1.0]).unwrap_err();
    assert!(err.to_string().contains("no values"), "{err}");
    let good = PsiBins {
        cuts: vec![0.0],
        shares: vec![0.5, 0.5],
        count: 2,
    };
    assert!(matches!(
        quantile_psi(&good, &[f64::NAN, f64::INFINITY]),
        Err(DataError::NoCurrentValues { ignored: 2 })
    ));
    assert!(matches!(
        quantile_psi(&good, &[]),
        Err(DataError::NoCurrentValues { ignored: 0 })
    ));
}

#[test]
fn nulls_nan_and_infinity_count_as_null() {
    let x: ArrayRef = Arc::new(Float64Array::from(vec![
        Some(1.0),
        None,
        Some(f64::NAN),
        Some(3.0),
        Some(f64::INFINITY),
        Some(2.0),
        None,
        Some(f64::NEG_INFINITY),
    ]));
    let k: ArrayRef = Arc::new(Int32Array::from(vec![
        Some(5),
        None,
        Some(1),
        None,
        None,
        Some(3),
        Some(3),
        Some(1),
    ]));
    let s: ArrayRef = Arc::new(StringArray::from(vec![
        Some("a"),
        None,
        Some("b"),
        Some("a"),
        None,
        None,
        None,
        Some(""),
    ]));
    let b = batch(vec![("x", x), ("k", k), ("s", s)]);
    let p = profile_table(&[b], &["x", "k", "s"]).unwrap();
    assert_eq!(p.row_count, 8);

    let x = p.feature("x").unwrap();
    assert_eq!(x.null_count, 5);
    assert_eq!(x.null_rate, 5.0 / 8.0);
    let n = numeric(x);
    assert_eq!(n.count, 3);
    assert_eq!(n.mean, Some(2.0));
    assert_eq!(quantile_values(&n.quantiles)[5], 2.0);
    assert_eq!((n.min, n.max), (Some(1.0), Some(3.0)));

    let k = p.feature("k").unwrap();
    assert_eq!(k.null_count, 3);
    let n = numeric(k);
    assert_eq!(n.count, 5);
    assert_eq!(n.distinct_count, 3);
    assert_eq!(n.mean, Some(13.0 / 5.0));
    // Small integers: one histogram bin per integer 1..=5.
    assert_eq!(n.histogram.edges, vec![0.5, 1.5, 2.5, 3.5, 4.5, 5.5]);
    assert_eq!(n.histogram.counts, vec![2, 0, 2, 0, 1]);

    let s = p.feature("s").unwrap();
    assert_eq!(s.null_count, 4);
    assert_eq!(s.null_rate, 0.5);
    let (count, distinct, freq, other) = categorical(s);
    assert_eq!((count, distinct), (4, 3));
    assert_eq!(
        freq,
        vec![
            ("a".to_string(), 0.5),
            ("".to_string(), 0.25),
            ("b".to_string(), 0.25)
        ]
    );
    assert_eq!(other, 0.0);
}

#[test]
fn histogram_matches_numpy() {
    // np.histogram([0.5, 1.25, 3.0, 3.0, 7.75, 10.0], 20)
    let f = one(
        &[batch(vec![("x", f64s(&[0.5, 1.25, 3.0, 3.0, 7.75, 10.0]))])],
        "x",
    );
    let h = numeric(&f).histogram;
    assert_eq!(
        h.counts,
        vec![1, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1]
    );
    assert_eq!(h.edges.len(), 21);
    assert_eq!(h.edges[0], 0.5);
    assert_eq!(h.edges[1], 0.975);
    assert_eq!(h.edges[20], 10.0);
    // A constant non-integer column spans [v - 0.5, v + 0.5] like numpy.
    let f = one(&[batch(vec![("x", f64s(&[0.25, 0.25]))])], "x");
    let h = numeric(&f).histogram;
    assert_eq!(h.edges.first(), Some(&-0.25));
    assert_eq!(h.edges.last(), Some(&0.75));
    assert_eq!(h.counts.iter().sum::<u64>(), 2);
    // Extreme magnitudes do not produce non-finite edges.
    let f = one(&[batch(vec![("x", f64s(&[-f64::MAX, f64::MAX]))])], "x");
    let h = numeric(&f).histogram;
    assert!(h.edges.iter().all(|e| e.is_finite()));
    assert_eq!(h.counts.iter().sum::<u64>(), 2);
}

#[test]
fn categorical_over_the_cap() {
    // 150 categories: "c000" once, "c001" twice, ..., "c149" 150 times, plus
    // two categories tied with "c149" to check the tie order.
    let mut values: Vec<String> = Vec::new();
    for i in 0..150 {
        for _ in 0..=i {
            values.push(format!("c{i:03}"));
        }
    }
    for _ in 0..150 {
        values.push("b-tied".to_string());
        values.push("z-tied".to_string());
    }
    let total = values.len() as u64; // 11325 + 300
    let s: ArrayRef = Arc::new(StringArray::from(values));
    let f = one(&[batch(vec![("s", s)])], "s");
    let (count, distinct, freq, other) = categorical(&f);
    assert_eq!(count, total);
    assert_eq!(distinct, 152);
    assert_eq!(freq.len(), MAX_CATEGORIES);
    assert_eq!(freq[0].0, "b-tied");
    assert_eq!(freq[1].0, "c149");
    assert_eq!(freq[2].0, "z-tied");
    assert_eq!(freq[3].0, "c148");
    assert_eq!(freq[0].1, 150.0 / total as f64);
    // Listed: the three 150s, then c148 (149 values) down to c052 (53 values),
    // 97 categories; the rest, c000..=c051, hold 1 + 2 + ... + 52 values.
    assert_eq!(freq[99].0, "c052");
    let rest: u64 = (1..=52).sum();
    assert_eq!(other, rest as f64 / total as f64);
    let listed: f64 = freq.iter().map(|f| f.1).sum();
    assert!((listed + other - 1.0).abs() < 1e-12);
}

#[test]
fn unknown_column_is_named() {
    let b = batch(vec![("a", f64s(&[1.0])), ("b", f64s(&[2.0]))]);
    let err = profile_table(&[b], &["a", "tenure"]).unwrap_err();
    match &err {
        DataError::UnknownColumn { column, available } => {
            assert_eq!(column, "tenure");
            assert_eq!(available, &vec!["a".to_string(), "b".to_string()]);
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("`tenure`"), "{err}");
    assert!(matches!(
        profile_table(&[], &["x"]),
        Err(DataError::UnknownColumn { .. })
    ));
}

#[test]
fn all_null_columns() {
    let x: ArrayRef = Arc::new(Float64Array::from(vec![None, None, Some(f64::NAN)]));
    let s: ArrayRef = Arc::new(StringArray::from(vec![None::<&str>, None, None]));
    let z: ArrayRef = Arc::new(NullArray::new(3));
    let p = profile_table(
        &[batch(vec![("x", x), ("s", s), ("z", z)])],
        &["x", "s", "z"],
    )
    .unwrap();
    let x = p.feature("x").unwrap();
    assert_eq!((x.null_count, x.null_rate), (3, 1.0));
    let n = numeric(x);
    assert_eq!(n.count, 0);
    assert_eq!((n.mean, n.std, n.min, n.max), (None, None, None, None));
    assert!(n.quantiles.is_empty());
    assert!(n.histogram.edges.is_empty() && n.histogram.counts.is_empty());
    assert_eq!(n.distinct_count, 0);
    assert!(matches!(
        quantile_psi(&n.psi_bins, &[1.0]),
        Err(DataError::InvalidPsiBins(_))
    ));
    for name in ["s", "z"] {
        let f = p.feature(name).unwrap();
        assert_eq!((f.null_count, f.null_rate), (3, 1.0));
        assert_eq!(categorical(f), (0, 0, vec![], 0.0));
    }
    // Everything is finite or null, so the JSON reads back identical.
    let json = serde_json::to_string(&p).unwrap();
    assert!(!json.contains("NaN") && !json.contains("inf"), "{json}");
    let back: DatasetProfile = serde_json::from_str(&json).unwrap();
    assert_eq!(back, p);
}

#[test]
fn empty_table_profiles() {
    let b = batch(vec![("x", f64s(&[]))]);
    let p = profile_table(&[b], &["x"]).unwrap();
    assert_eq!(p.row_count, 0);
    assert_eq!(p.features[0].null_rate, 0.0);
    assert_eq!(numeric(&p.features[0]).count, 0);
}

#[test]
fn column_types() {
    let mut dict = StringDictionaryBuilder::<Int16Type>::new();
    for v in [Some("x"), None, Some("y"), Some("x")] {
        match v {
            Some(v) => {
                dict.append_value(v);
            }
            None => dict.append_null(),
        }
    }
    let b = batch(vec![
        (
            "bool",
            Arc::new(BooleanArray::from(vec![
                Some(true),
                None,
                Some(false),
                Some(true),
            ])) as ArrayRef,
        ),
        (
            "u64",
            Arc::new(UInt64Array::from(vec![1u64, 2, 3, u64::MAX])),
        ),
        (
            "f32",
            Arc::new(Float32Array::from(vec![0.5f32, f32::NAN, 1.5, 2.5])),
        ),
        ("i64", Arc::new(Int64Array::from(vec![-3i64, 0, 3, 6]))),
        (
            "large",
            Arc::new(LargeStringArray::from(vec!["p", "q", "p", "p"])),
        ),
        (
            "view",
            Arc::new(StringViewArray::from(vec![
                Some("p"),
                Some("a long string value beyond twelve bytes"),
                None,
                Some("p"),
            ])),
        ),
        ("dict", Arc::new(dict.finish())),
        ("date", Arc::new(Date32Array::from(vec![1, 2, 3, 4]))),
    ]);
    let cols = ["bool", "u64", "f32", "i64", "large", "view", "dict"];
    let p = profile_table(std::slice::from_ref(&b), &cols).unwrap();
    assert_eq!(
        p.features
            .iter()
            .map(|f| f.name.as_str())
            .collect::<Vec<_>>(),
        cols.to_vec()
    );
    let n = numeric(p.feature("bool").unwrap());
    assert_eq!((n.count, n.mean, n.distinct_count), (3, Some(2.0 / 3.0), 2));
    let n = numeric(p.feature("u64").unwrap());
    assert_eq!(n.max, Some(u64::MAX as f64));
    let f32f = p.feature("f32").unwrap();
    assert_eq!(f32f.null_count, 1);
    assert_eq!(numeric(f32f).mean, Some(1.5));
    assert_eq!(numeric(p.feature("i64").unwrap()).quantiles[5], (0.5, 1.5));
    let (_, _, freq, _) = categorical(p.feature("large").unwrap());
    assert_eq!(freq, vec![("p".to_string(), 0.75), ("q".to_string(), 0.25)]);
    let view = p.feature("view").unwrap();
    assert_eq!(view.null_count, 1);
    assert_eq!(categorical(view).2[0], ("p".to_string(), 2.0 / 3.0));
    let dict = p.feature("dict").unwrap();
    assert_eq!(dict.null_count, 1);
    assert_eq!(
        categorical(dict).2,
        vec![("x".to_string(), 2.0 / 3.0), ("y".to_string(), 1.0 / 3.0)]
    );

    let err = profile_table(std::slice::from_ref(&b), &["date"]).unwrap_err();
    assert!(
        matches!(err, DataError::UnsupportedColumnType { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("`date`"), "{err}");
    let err = profile_table(std::slice::from_ref(&b), &["u64", "u64"]).unwrap_err();
    assert!(matches!(err, DataError::InvalidConfig(_)), "{err}");
}

#[test]
fn batches_are_one_table() {
    let all: Vec<f64> = sample(1000, 7, 0.0);
    let labels: Vec<String> = (0..1000).map(|i| format!("l{}", i % 7)).collect();
    let whole = batch(vec![
        ("x", f64s(&all)),
        ("s", Arc::new(StringArray::from(labels.clone())) as ArrayRef),
    ]);
    let parts: Vec<RecordBatch> = [0..300, 300..301, 301..1000]
        .into_iter()
        .map(|r| {
            batch(vec![
                ("x", f64s(&all[r.clone()])),
                (
                    "s",
                    Arc::new(StringArray::from(labels[r].to_vec())) as ArrayRef,
                ),
            ])
        })
        .collect();
    let a = profile_table(&[whole], &["x", "s"]).unwrap();
    let b = profile_table(&parts, &["x", "s"]).unwrap();
    assert_eq!(a, b);
    assert_eq!(
        serde_json::to_string(&a).unwrap(),
        serde_json::to_string(&b).unwrap()
    );

    let other = batch(vec![("x", Arc::new(Int32Array::from(vec![1])) as ArrayRef)]);
    let err = profile_table(&[parts[0].clone(), other], &["x"]).unwrap_err();
    assert!(
        matches!(err, DataError::InconsistentColumnType { .. }),
        "{err}"
    );
}

#[test]
fn json_shape() {
    let b = batch(vec![
        ("x", f64s(&[1.0, 2.0])),
        ("s", Arc::new(StringArray::from(vec!["a", "b"])) as ArrayRef),
    ]);
    let p = profile_table(&[b], &["x", "s"]).unwrap();
    let v: serde_json::Value = serde_json::to_value(&p).unwrap();
    assert_eq!(v["format"], "slipway-profile/1");
    assert_eq!(v["row_count"], 2);
    let x = &v["features"][0];
    assert_eq!(x["name"], "x");
    assert_eq!(x["kind"], "numeric");
    assert_eq!(x["null_rate"], 0.0);
    assert_eq!(x["quantiles"][5], serde_json::json!([0.5, 1.5]));
    assert!(x["psi_bins"]["cuts"].is_array());
    assert!(x["histogram"]["edges"].is_array());
    let s = &v["features"][1];
    assert_eq!(s["kind"], "categorical");
    assert_eq!(s["frequencies"][0], serde_json::json!(["a", 0.5]));
    let back: DatasetProfile = serde_json::from_value(v).unwrap();
    assert_eq!(back, p);
}
