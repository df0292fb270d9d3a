//! Runtime values.

use crate::proto::{data_type, TensorProto};
use crate::Labels;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Data {
    F32(Vec<f32>),
    I64(Vec<i64>),
    Str(Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Tensor {
    pub shape: Vec<usize>,
    pub data: Data,
}

impl Tensor {
    pub fn f32(shape: Vec<usize>, v: Vec<f32>) -> Tensor {
        Tensor {
            shape,
            data: Data::F32(v),
        }
    }

    pub fn i64(shape: Vec<usize>, v: Vec<i64>) -> Tensor {
        Tensor {
            shape,
            data: Data::I64(v),
        }
    }

    pub fn len(&self) -> usize {
        match &self.data {
            Data::F32(v) => v.len(),
            Data::I64(v) => v.len(),
            Data::Str(v) => v.len(),
        }
    }

    /// Rows and columns, as tabular operators see a tensor: `[n, c]`; `[c]` is
    /// one row (onnxruntime treats a 1-D input of the ML operators so).
    pub fn rows_cols(&self) -> Result<(usize, usize), String> {
        match self.shape.as_slice() {
            [c] => Ok((1, *c)),
            [n, c] => Ok((*n, *c)),
            s => Err(format!("expected a 1-D or 2-D tensor, got shape {s:?}")),
        }
    }

    pub fn as_f32(&self) -> Result<&[f32], String> {
        match &self.data {
            Data::F32(v) => Ok(v),
            Data::I64(_) => Err("expected a float tensor, got int64".into()),
            Data::Str(_) => Err("expected a float tensor, got strings".into()),
        }
    }

    pub fn from_labels(labels: Labels) -> Tensor {
        let n = labels.len();
        match labels {
            Labels::Int64(v) => Tensor::i64(vec![n], v),
            Labels::String(v) => Tensor {
                shape: vec![n],
                data: Data::Str(v),
            },
        }
    }
}

/// A value flowing between nodes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Tensor(Tensor),
    /// `ZipMap`'s sequence of maps, kept as the probability matrix and its labels.
    ZipMap {
        probs: Tensor,
        labels: Labels,
    },
}

fn checked_count(dims: &[i64]) -> Result<(Vec<usize>, usize), String> {
    let mut shape = Vec::with_capacity(dims.len());
    let mut count: usize = 1;
    for &d in dims {
        let d = usize::try_from(d).map_err(|_| format!("negative dimension {d}"))?;
        count = count
            .checked_mul(d)
            .filter(|c| *c <= (1 << 31))
            .ok_or("tensor too large")?;
        shape.push(d);
    }
    Ok((shape, count))
}

/// Reads an initializer or attribute tensor (float, double as float, int64,
/// int32 as int64, strings). External data is refused.
pub(crate) fn from_proto(t: &TensorProto) -> Result<Tensor, String> {
    if t.data_location == 1 || !t.external_data.is_empty() {
        return Err(format!(
            "tensor '{}' keeps its data in an external file, which is not supported",
            t.name
        ));
    }
    let (shape, count) = checked_count(&t.dims)?;
    let raw = &t.raw_data;
    let data = match t.data_type {
        data_type::FLOAT => {
            let v: Vec<f32> = if !raw.is_empty() {
                le_chunks::<4>(raw)?.map(f32::from_le_bytes).collect()
            } else {
                t.float_data.clone()
            };
            Data::F32(v)
        }
        data_type::DOUBLE => {
            let v: Vec<f32> = if !raw.is_empty() {
                le_chunks::<8>(raw)?
                    .map(|b| f64::from_le_bytes(b) as f32)
                    .collect()
            } else {
                t.double_data.iter().map(|&d| d as f32).collect()
            };
            Data::F32(v)
        }
        data_type::INT64 => {
            let v: Vec<i64> = if !raw.is_empty() {
                le_chunks::<8>(raw)?.map(i64::from_le_bytes).collect()
            } else {
                t.int64_data.clone()
            };
            Data::I64(v)
        }
        data_type::INT32 => {
            let v: Vec<i64> = if !raw.is_empty() {
                le_chunks::<4>(raw)?
                    .map(|b| i32::from_le_bytes(b) as i64)
                    .collect()
            } else {
                t.int32_data.iter().map(|&d| d as i64).collect()
            };
            Data::I64(v)
        }
        data_type::STRING => Data::Str(
            t.string_data
                .iter()
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect(),
        ),
        other => {
            return Err(format!(
                "tensor '{}' has unsupported data type {other}",
                t.name
            ))
        }
    };
    let tensor = Tensor { shape, data };
    if tensor.len() != count {
        return Err(format!(
            "tensor '{}' has {} values for shape {:?}",
            t.name,
            tensor.len(),
            tensor.shape
        ));
    }
    Ok(tensor)
}

/// Doubles of a double tensor at full precision (the `*_as_tensor` tree attributes).
pub(crate) fn f64_from_proto(t: &TensorProto) -> Result<Vec<f64>, String> {
    match t.data_type {
        data_type::DOUBLE => {
            if !t.raw_data.is_empty() {
                Ok(le_chunks::<8>(&t.raw_data)?
                    .map(f64::from_le_bytes)
                    .collect())
            } else {
                Ok(t.double_data.clone())
            }
        }
        data_type::FLOAT => match from_proto(t)?.data {
            Data::F32(v) => Ok(v.into_iter().map(f64::from).collect()),
            _ => Err("expected a float tensor".into()),
        },
        other => Err(format!("expected a double tensor, got data type {other}")),
    }
}

fn le_chunks<const N: usize>(raw: &[u8]) -> Result<impl Iterator<Item = [u8; N]> + '_, String> {
    if !raw.len().is_multiple_of(N) {
        return Err(format!(
            "raw tensor data of {} bytes is not a multiple of {N}",
            raw.len()
        ));
    }
    Ok(raw.chunks_exact(N).map(|c| {
        let mut b = [0u8; N];
        b.copy_from_slice(c);
        b
    }))
}
