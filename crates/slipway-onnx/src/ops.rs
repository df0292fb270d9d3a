//! Operators other than the tree ensembles, and the post-transforms shared
//! with them (onnxruntime's ml_common.h in f32).

use crate::tensor::{Data, Tensor, Value};
use crate::tree::TreeEnsemble;
use crate::Labels;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PostTransform {
    None,
    Logistic,
    Softmax,
    SoftmaxZero,
    Probit,
}

impl PostTransform {
    pub fn parse(s: &str) -> Option<PostTransform> {
        Some(match s {
            "NONE" => PostTransform::None,
            "LOGISTIC" => PostTransform::Logistic,
            "SOFTMAX" => PostTransform::Softmax,
            "SOFTMAX_ZERO" => PostTransform::SoftmaxZero,
            "PROBIT" => PostTransform::Probit,
            _ => return None,
        })
    }
}

/// onnxruntime's ComputeLogistic.
#[inline]
pub(crate) fn logistic(val: f32) -> f32 {
    let v = 1.0 / (1.0 + (-val.abs()).exp());
    if val < 0.0 {
        1.0 - v
    } else {
        v
    }
}

/// onnxruntime's ErfInv approximation.
fn erf_inv(x: f32) -> f32 {
    let sgn = if x < 0.0 { -1.0f32 } else { 1.0 };
    let x = (1.0 - x) * (1.0 + x);
    let log = x.ln();
    let v = 2.0 / (std::f32::consts::PI * 0.147) + 0.5 * log;
    let v2 = 1.0 / 0.147 * log;
    let v3 = -v + (v * v - v2).sqrt();
    sgn * v3.sqrt()
}

/// onnxruntime's ComputeProbit.
pub(crate) fn probit(val: f32) -> f32 {
    std::f32::consts::SQRT_2 * erf_inv(2.0 * val - 1.0)
}

/// Post-transform of one row of two or more scores.
pub(crate) fn post_transform_scores(s: &mut [f32], post: PostTransform) {
    match post {
        PostTransform::None => {}
        PostTransform::Logistic => s.iter_mut().for_each(|v| *v = logistic(*v)),
        PostTransform::Probit => s.iter_mut().for_each(|v| *v = probit(*v)),
        PostTransform::Softmax => {
            let max = s.iter().copied().fold(-f32::MAX, f32::max);
            let mut sum = 0.0f32;
            for v in s.iter_mut() {
                *v = (*v - max).exp();
                sum += *v;
            }
            s.iter_mut().for_each(|v| *v /= sum);
        }
        PostTransform::SoftmaxZero => {
            let max = s.iter().copied().fold(-f32::MAX, f32::max);
            let exp_neg_max = (-max).exp();
            let mut sum = 0.0f32;
            for v in s.iter_mut() {
                if *v > 0.000_000_1 || *v < -0.000_000_1 {
                    *v = (*v - max).exp();
                    sum += *v;
                } else {
                    *v *= exp_neg_max;
                }
            }
            s.iter_mut().for_each(|v| *v /= sum);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Norm {
    Max,
    L1,
    L2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CastTo {
    Float,
    Int64,
}

#[derive(Debug, Clone)]
pub(crate) enum Op {
    TreeClassifier(Box<TreeEnsemble>),
    TreeRegressor(Box<TreeEnsemble>),
    LinearClassifier {
        coefficients: Vec<f32>,
        intercepts: Vec<f32>,
        labels: Labels,
        post: PostTransform,
    },
    LinearRegressor {
        coefficients: Vec<f32>,
        intercepts: Vec<f32>,
        targets: usize,
    },
    Scaler {
        offset: Vec<f32>,
        scale: Vec<f32>,
    },
    Imputer {
        values: Vec<f32>,
        replaced: f32,
    },
    Normalizer(Norm),
    Binarizer(f32),
    Cast(CastTo),
    Identity,
    ZipMap(Labels),
    /// Concat along this axis (1 or -1).
    Concat(i64),
    ArgMax {
        keepdims: bool,
    },
    Sigmoid,
    Softmax,
    Binary(BinOp),
    MatMul {
        b: Vec<f32>,
        k: usize,
        m: usize,
    },
    Gemm {
        alpha: f32,
        beta: f32,
        b: Vec<f32>,
        trans_b: bool,
        k: usize,
        m: usize,
        c: Option<Tensor>,
    },
    Reshape(Vec<i64>),
    Flatten(usize),
    /// Gather along axis 1 of a 2-D tensor with constant indices (already
    /// made non-negative against the known width); `scalar` drops the axis.
    GatherCols {
        indices: Vec<i64>,
        scalar: bool,
    },
    /// ONNX-ML OneHotEncoder: appends a category axis.
    OneHot {
        cats: Labels,
        zeros: bool,
    },
}

fn take_tensor(v: &Value) -> Result<&Tensor, String> {
    match v {
        Value::Tensor(t) => Ok(t),
        Value::ZipMap { .. } => Err("expected a tensor, got a ZipMap output".into()),
    }
}

fn f32_2d(v: &Value) -> Result<(&[f32], usize, usize), String> {
    let t = take_tensor(v)?;
    let (n, c) = t.rows_cols()?;
    Ok((t.as_f32()?, n, c))
}

fn labels_at(labels: &Labels, idx: &[usize]) -> Labels {
    match labels {
        Labels::Int64(l) => Labels::Int64(idx.iter().map(|&i| l[i]).collect()),
        Labels::String(l) => Labels::String(idx.iter().map(|&i| l[i].clone()).collect()),
    }
}

fn per_col(v: &[f32], j: usize) -> f32 {
    if v.len() == 1 {
        v[0]
    } else {
        v[j]
    }
}

/// Numpy broadcasting of two shapes.
fn broadcast_shape(a: &[usize], b: &[usize]) -> Result<Vec<usize>, String> {
    let r = a.len().max(b.len());
    let mut out = vec![0; r];
    for i in 0..r {
        let da = if i + a.len() >= r {
            a[i + a.len() - r]
        } else {
            1
        };
        let db = if i + b.len() >= r {
            b[i + b.len() - r]
        } else {
            1
        };
        out[i] = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            return Err(format!("shapes {a:?} and {b:?} do not broadcast"));
        };
    }
    Ok(out)
}

fn broadcast_index(out_idx: &[usize], shape: &[usize]) -> usize {
    let off = out_idx.len() - shape.len();
    let mut idx = 0;
    for (i, &d) in shape.iter().enumerate() {
        let o = if d == 1 { 0 } else { out_idx[off + i] };
        idx = idx * d + o;
    }
    idx
}

fn binary(op: BinOp, a: &Tensor, b: &Tensor) -> Result<Tensor, String> {
    let (av, bv) = (a.as_f32()?, b.as_f32()?);
    let f = |x: f32, y: f32| match op {
        BinOp::Add => x + y,
        BinOp::Sub => x - y,
        BinOp::Mul => x * y,
        BinOp::Div => x / y,
    };
    if a.shape == b.shape {
        let v = av.iter().zip(bv).map(|(&x, &y)| f(x, y)).collect();
        return Ok(Tensor::f32(a.shape.clone(), v));
    }
    let shape = broadcast_shape(&a.shape, &b.shape)?;
    let total: usize = shape.iter().product();
    let mut out = Vec::with_capacity(total);
    let mut idx = vec![0usize; shape.len()];
    for _ in 0..total {
        out.push(f(
            av[broadcast_index(&idx, &a.shape)],
            bv[broadcast_index(&idx, &b.shape)],
        ));
        for d in (0..shape.len()).rev() {
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    Ok(Tensor::f32(shape, out))
}

impl Op {
    /// Evaluates the op. Inputs were type-checked at load; shapes are checked here.
    pub fn eval(&self, inputs: &[&Value]) -> Result<Vec<Value>, String> {
        let t = |v| Value::Tensor(v);
        match self {
            Op::TreeClassifier(e) => {
                let (x, n, c) = f32_2d(inputs[0])?;
                check_features(c, e.n_features)?;
                let (idx, probs) = e.classify(x, n, c);
                let labels = e.class_labels.as_ref().ok_or("no class labels")?;
                Ok(vec![
                    t(Tensor::from_labels(labels_at(labels, &idx))),
                    t(Tensor::f32(vec![n, e.n_outputs], probs)),
                ])
            }
            Op::TreeRegressor(e) => {
                let (x, n, c) = f32_2d(inputs[0])?;
                check_features(c, e.n_features)?;
                Ok(vec![t(Tensor::f32(
                    vec![n, e.n_outputs],
                    e.regress(x, n, c),
                ))])
            }
            Op::LinearClassifier {
                coefficients,
                intercepts,
                labels,
                post,
            } => {
                let (x, n, c) = f32_2d(inputs[0])?;
                let nt = intercepts.len();
                if c * nt != coefficients.len() {
                    return Err(format!(
                        "input has {c} columns, the model has {} coefficients for {nt} classes",
                        coefficients.len()
                    ));
                }
                let scores = gemm_rows(x, n, c, coefficients, nt, intercepts);
                let mut idx = Vec::with_capacity(n);
                let mut probs = scores;
                for r in 0..n {
                    let row = &mut probs[r * nt..(r + 1) * nt];
                    let mut best = 0;
                    for j in 1..nt {
                        if row[j] > row[best] {
                            best = j;
                        }
                    }
                    idx.push(best);
                    post_transform_scores(row, *post);
                }
                Ok(vec![
                    t(Tensor::from_labels(labels_at(labels, &idx))),
                    t(Tensor::f32(vec![n, nt], probs)),
                ])
            }
            Op::LinearRegressor {
                coefficients,
                intercepts,
                targets,
            } => {
                let (x, n, c) = f32_2d(inputs[0])?;
                if c * targets != coefficients.len() {
                    return Err(format!(
                        "input has {c} columns, the model has {} coefficients for {targets} targets",
                        coefficients.len()
                    ));
                }
                let b = if intercepts.is_empty() {
                    vec![0.0; *targets]
                } else {
                    intercepts.clone()
                };
                Ok(vec![t(Tensor::f32(
                    vec![n, *targets],
                    gemm_rows(x, n, c, coefficients, *targets, &b),
                ))])
            }
            Op::Scaler { offset, scale } => {
                let x = take_tensor(inputs[0])?;
                let (n, c) = x.rows_cols()?;
                check_width("offset", offset.len(), c)?;
                check_width("scale", scale.len(), c)?;
                let mut out = Vec::with_capacity(x.len());
                // onnxruntime scales an int64 input as float(x), as here.
                let value = |i: usize| match &x.data {
                    Data::F32(v) => Ok(v[i]),
                    Data::I64(v) => Ok(v[i] as f32),
                    Data::Str(_) => Err("Scaler input is strings".to_string()),
                };
                for r in 0..n {
                    for j in 0..c {
                        out.push((value(r * c + j)? - per_col(offset, j)) * per_col(scale, j));
                    }
                }
                Ok(vec![t(Tensor::f32(vec![n, c], out))])
            }
            Op::Imputer { values, replaced } => {
                let (x, n, c) = f32_2d(inputs[0])?;
                check_width("imputed_value_floats", values.len(), c)?;
                let nan = replaced.is_nan();
                let mut out = x.to_vec();
                for r in 0..n {
                    for j in 0..c {
                        let v = &mut out[r * c + j];
                        if (nan && v.is_nan()) || (!nan && *v == *replaced) {
                            *v = per_col(values, j);
                        }
                    }
                }
                Ok(vec![t(Tensor::f32(vec![n, c], out))])
            }
            Op::Normalizer(norm) => {
                let (x, n, c) = f32_2d(inputs[0])?;
                let mut out = x.to_vec();
                for r in 0..n {
                    let row = &mut out[r * c..(r + 1) * c];
                    let d = match norm {
                        Norm::Max => row.iter().copied().fold(f32::MIN, f32::max),
                        Norm::L1 => row.iter().map(|v| v.abs()).sum(),
                        Norm::L2 => row.iter().map(|v| v * v).sum::<f32>().sqrt(),
                    };
                    row.iter_mut().for_each(|v| *v /= d);
                }
                Ok(vec![t(Tensor::f32(vec![n, c], out))])
            }
            Op::Binarizer(th) => {
                let x = take_tensor(inputs[0])?;
                let v = x
                    .as_f32()?
                    .iter()
                    .map(|&v| if v > *th { 1.0 } else { 0.0 })
                    .collect();
                Ok(vec![t(Tensor::f32(x.shape.clone(), v))])
            }
            Op::Cast(to) => {
                let x = take_tensor(inputs[0])?;
                let data = match (to, &x.data) {
                    (CastTo::Float, Data::F32(v)) => Data::F32(v.clone()),
                    (CastTo::Float, Data::I64(v)) => {
                        Data::F32(v.iter().map(|&i| i as f32).collect())
                    }
                    (CastTo::Int64, Data::I64(v)) => Data::I64(v.clone()),
                    (CastTo::Int64, Data::F32(v)) => {
                        Data::I64(v.iter().map(|&f| f as i64).collect())
                    }
                    (_, Data::Str(_)) => return Err("cannot cast strings".into()),
                };
                Ok(vec![t(Tensor {
                    shape: x.shape.clone(),
                    data,
                })])
            }
            Op::Identity => Ok(vec![inputs[0].clone()]),
            Op::ZipMap(labels) => {
                let x = take_tensor(inputs[0])?;
                let (_, c) = x.rows_cols()?;
                if c != labels.len() {
                    return Err(format!(
                        "ZipMap has {} class labels for {c} probability columns",
                        labels.len()
                    ));
                }
                x.as_f32()?;
                Ok(vec![Value::ZipMap {
                    probs: x.clone(),
                    labels: labels.clone(),
                }])
            }
            Op::Concat(axis) => Ok(vec![t(concat(inputs, *axis)?)]),
            Op::ArgMax { keepdims } => {
                let (x, n, c) = f32_2d(inputs[0])?;
                if c == 0 {
                    return Err("ArgMax over zero columns".into());
                }
                let idx = (0..n)
                    .map(|r| {
                        let row = &x[r * c..(r + 1) * c];
                        let mut best = 0;
                        for j in 1..c {
                            if row[j] > row[best] {
                                best = j;
                            }
                        }
                        best as i64
                    })
                    .collect();
                let shape = if *keepdims { vec![n, 1] } else { vec![n] };
                Ok(vec![t(Tensor::i64(shape, idx))])
            }
            Op::Sigmoid => {
                let x = take_tensor(inputs[0])?;
                let v = x
                    .as_f32()?
                    .iter()
                    .map(|&v| 1.0 / (1.0 + (-v).exp()))
                    .collect();
                Ok(vec![t(Tensor::f32(x.shape.clone(), v))])
            }
            Op::Softmax => {
                let (x, n, c) = f32_2d(inputs[0])?;
                let mut out = x.to_vec();
                for r in 0..n {
                    post_transform_scores(&mut out[r * c..(r + 1) * c], PostTransform::Softmax);
                }
                Ok(vec![t(Tensor::f32(
                    take_tensor(inputs[0])?.shape.clone(),
                    out,
                ))])
            }
            Op::Binary(op) => Ok(vec![t(binary(
                *op,
                take_tensor(inputs[0])?,
                take_tensor(inputs[1])?,
            )?)]),
            Op::MatMul { b, k, m } => {
                let (x, n, c) = f32_2d(inputs[0])?;
                check_width("MatMul B rows", *k, c)?;
                let zero = vec![0.0; *m];
                Ok(vec![t(Tensor::f32(
                    vec![n, *m],
                    matmul(x, n, c, b, *m, false, &zero),
                ))])
            }
            Op::Gemm {
                alpha,
                beta,
                b,
                trans_b,
                k,
                m,
                c,
            } => {
                let (x, n, cols) = f32_2d(inputs[0])?;
                check_width("Gemm B", *k, cols)?;
                let zero = vec![0.0; *m];
                let mut out = matmul(x, n, cols, b, *m, *trans_b, &zero);
                out.iter_mut().for_each(|v| *v *= alpha);
                let mut res = Tensor::f32(vec![n, *m], out);
                if let Some(c) = c {
                    let scaled = Tensor::f32(
                        c.shape.clone(),
                        c.as_f32()?.iter().map(|v| v * beta).collect(),
                    );
                    res = binary(BinOp::Add, &res, &scaled)?;
                    if res.shape != [n, *m] {
                        return Err("Gemm C does not broadcast to the output".into());
                    }
                }
                Ok(vec![t(res)])
            }
            Op::Reshape(spec) => {
                let x = take_tensor(inputs[0])?;
                let shape = reshape(&x.shape, x.len(), spec)?;
                Ok(vec![t(Tensor {
                    shape,
                    data: x.data.clone(),
                })])
            }
            Op::GatherCols { indices, scalar } => Ok(vec![t(gather_cols(
                take_tensor(inputs[0])?,
                indices,
                *scalar,
            )?)]),
            Op::OneHot { cats, zeros } => {
                Ok(vec![t(one_hot(take_tensor(inputs[0])?, cats, *zeros)?)])
            }
            Op::Flatten(axis) => {
                let x = take_tensor(inputs[0])?;
                if *axis > x.shape.len() {
                    return Err("Flatten axis beyond the rank".into());
                }
                let a: usize = x.shape[..*axis].iter().product();
                let b: usize = x.shape[*axis..].iter().product();
                Ok(vec![t(Tensor {
                    shape: vec![a, b],
                    data: x.data.clone(),
                })])
            }
        }
    }
}

/// Concat along axis 1 (or -1) of tensors of one element type and rank:
/// `[n, c_i]` (`[c]`: one row), or along the last axis of `[n, 1, k_i]`
/// (skl2onnx joins OneHotEncoder outputs so).
fn concat(inputs: &[&Value], axis: i64) -> Result<Tensor, String> {
    let parts: Vec<&Tensor> = inputs
        .iter()
        .map(|v| take_tensor(v))
        .collect::<Result<_, _>>()?;
    let first = parts.first().ok_or("Concat without inputs")?;
    let rank = first.shape.len();
    let last = match rank {
        1 | 2 => true,
        3 => axis == -1 || axis == 2,
        _ => false,
    };
    if !last {
        return Err(format!(
            "Concat of shape {:?} along axis {axis} is not supported",
            first.shape
        ));
    }
    // [c] is one row, [n, 1, k] is n rows of k.
    let rows = |p: &Tensor| if rank == 1 { 1 } else { p.shape[0] };
    let n = rows(first);
    let mut width = 0;
    for p in &parts {
        if p.shape.len() != rank || rows(p) != n || (rank == 3 && p.shape[1] != first.shape[1]) {
            return Err(format!(
                "Concat inputs of shapes {:?} and {:?} do not fit",
                first.shape, p.shape
            ));
        }
        width += p.shape[rank - 1];
    }
    let n = n * if rank == 3 { first.shape[1] } else { 1 };
    fn join<T: Clone>(parts: &[(&[T], usize)], n: usize, width: usize) -> Vec<T> {
        let mut out = Vec::with_capacity(n * width);
        for r in 0..n {
            for (x, c) in parts {
                out.extend_from_slice(&x[r * c..(r + 1) * c]);
            }
        }
        out
    }
    let mut shape = if rank == 1 {
        vec![1, 0]
    } else {
        first.shape.clone()
    };
    let r = shape.len();
    shape[r - 1] = width;
    let data = match &first.data {
        Data::F32(_) => Data::F32(join(
            &parts
                .iter()
                .map(|p| Ok((p.as_f32()?, p.shape[rank - 1])))
                .collect::<Result<Vec<_>, String>>()?,
            n,
            width,
        )),
        Data::I64(_) => Data::I64(join(
            &parts
                .iter()
                .map(|p| match &p.data {
                    Data::I64(v) => Ok((&v[..], p.shape[rank - 1])),
                    _ => Err("Concat inputs of different types".to_string()),
                })
                .collect::<Result<Vec<_>, String>>()?,
            n,
            width,
        )),
        Data::Str(_) => return Err("Concat of strings is not supported".into()),
    };
    Ok(Tensor { shape, data })
}

fn gather_cols(x: &Tensor, indices: &[i64], scalar: bool) -> Result<Tensor, String> {
    let (n, c) = x.rows_cols()?;
    let idx: Vec<usize> = indices
        .iter()
        .map(|&i| {
            let j = if i < 0 { i + c as i64 } else { i };
            usize::try_from(j)
                .ok()
                .filter(|&j| j < c)
                .ok_or_else(|| format!("Gather index {i} outside {c} columns"))
        })
        .collect::<Result<_, _>>()?;
    fn pick<T: Clone>(v: &[T], n: usize, c: usize, idx: &[usize]) -> Vec<T> {
        let mut out = Vec::with_capacity(n * idx.len());
        for r in 0..n {
            for &j in idx {
                out.push(v[r * c + j].clone());
            }
        }
        out
    }
    let data = match &x.data {
        Data::F32(v) => Data::F32(pick(v, n, c, &idx)),
        Data::I64(v) => Data::I64(pick(v, n, c, &idx)),
        Data::Str(v) => Data::Str(pick(v, n, c, &idx)),
    };
    let shape = if scalar { vec![n] } else { vec![n, idx.len()] };
    Ok(Tensor { shape, data })
}

/// How [`one_hot`]'s error for an unknown category begins (the graph
/// reports it as [`crate::OnnxError::UnknownCategory`]).
pub(crate) const UNKNOWN_CATEGORY: &str = "unknown category";

fn one_hot(x: &Tensor, cats: &Labels, zeros: bool) -> Result<Tensor, String> {
    let k = cats.len();
    let mut out = vec![0f32; x.len() * k];
    let mut set = |i: usize, pos: Option<usize>, what: &dyn Fn() -> String| match pos {
        Some(p) => {
            out[i * k + p] = 1.0;
            Ok(())
        }
        None if zeros => Ok(()),
        None => Err(format!("{UNKNOWN_CATEGORY} {}", what())),
    };
    match (&x.data, cats) {
        (Data::Str(v), Labels::String(c)) => {
            for (i, s) in v.iter().enumerate() {
                set(i, c.iter().position(|x| x == s), &|| format!("'{s}'"))?;
            }
        }
        (Data::I64(v), Labels::Int64(c)) => {
            for (i, s) in v.iter().enumerate() {
                set(i, c.iter().position(|x| x == s), &|| s.to_string())?;
            }
        }
        (Data::F32(v), Labels::Int64(c)) => {
            for (i, s) in v.iter().enumerate() {
                let as_int = *s as i64;
                set(i, c.iter().position(|x| *x == as_int), &|| s.to_string())?;
            }
        }
        _ => return Err("OneHotEncoder input type does not match its categories".into()),
    }
    let mut shape = x.shape.clone();
    shape.push(k);
    Ok(Tensor::f32(shape, out))
}

fn check_features(cols: usize, needed: usize) -> Result<(), String> {
    if cols < needed {
        return Err(format!(
            "input has {cols} columns, the trees read feature {}",
            needed - 1
        ));
    }
    Ok(())
}

fn check_width(what: &str, len: usize, cols: usize) -> Result<(), String> {
    if len != 1 && len != cols {
        return Err(format!("{what} has {len} values for {cols} input columns"));
    }
    Ok(())
}

/// `x [n, c] · wᵀ + b` with `w [t, c]`, accumulated in f64 and rounded once
/// (onnxruntime's f32 GEMM with FMA is within a few ulps of that).
fn gemm_rows(x: &[f32], n: usize, c: usize, w: &[f32], t: usize, b: &[f32]) -> Vec<f32> {
    matmul(x, n, c, w, t, true, b)
}

fn matmul(x: &[f32], n: usize, c: usize, w: &[f32], m: usize, trans: bool, b: &[f32]) -> Vec<f32> {
    let mut out = Vec::with_capacity(n * m);
    for r in 0..n {
        let row = &x[r * c..(r + 1) * c];
        for j in 0..m {
            let mut s = 0f64;
            for (i, &xv) in row.iter().enumerate() {
                let wv = if trans { w[j * c + i] } else { w[i * m + j] };
                s += f64::from(xv) * f64::from(wv);
            }
            out.push((s as f32) + per_col(b, j));
        }
    }
    out
}

fn reshape(shape: &[usize], len: usize, spec: &[i64]) -> Result<Vec<usize>, String> {
    let mut out = Vec::with_capacity(spec.len());
    let mut infer = None;
    for (i, &d) in spec.iter().enumerate() {
        match d {
            -1 if infer.is_none() => {
                infer = Some(i);
                out.push(1);
            }
            0 => out.push(*shape.get(i).ok_or("Reshape 0 beyond the input rank")?),
            d if d > 0 => out.push(d as usize),
            _ => return Err(format!("bad Reshape dimension {d}")),
        }
    }
    let known: usize = out.iter().product();
    if let Some(i) = infer {
        if known == 0 || !len.is_multiple_of(known) {
            return Err(format!("cannot reshape {shape:?} to {spec:?}"));
        }
        out[i] = len / known;
    }
    if out.iter().product::<usize>() != len {
        return Err(format!("cannot reshape {shape:?} to {spec:?}"));
    }
    Ok(out)
}
