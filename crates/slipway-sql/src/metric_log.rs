//! Metric history as an append-only log of batches.
//!
//! A `log_batch` of 1,000 different metrics used to insert 1,000 rows into a
//! history clustered by `(run, key, …)`: 1,000 scattered B-tree positions,
//! so every commit rewrote most of the table's pages (MLflow's SQL store has
//! the same shape, which is why its `log_batch` is slow). Here one request
//! appends one row, `(run_uuid, seq, data)`, whose `data` holds the request's
//! points in a compact binary form. A history read decodes the run's batches
//! that mention the key (each batch lists its keys up front, so the others
//! are skipped without decoding their points), then sorts and removes exact
//! duplicates, which is what MLflow's primary key did on write.
//!
//! Format (little endian): `u32 key_count`, then each key as `u32 len` +
//! UTF-8; `u32 point_count`, then each point as `u32 key_index`, `f64 value`,
//! `i64 timestamp`, `i64 step`, `u8 extras` (bit 0: model_id, bit 1:
//! dataset_name, bit 2: dataset_digest), then each present extra as `u32
//! len` + UTF-8.

use slipway_core::{Error, Result};
use slipway_protocol::Metric;
use std::collections::HashMap;

const VERSION: u8 = 1;

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// Encodes `metrics` as one batch.
pub fn encode(metrics: &[Metric]) -> Vec<u8> {
    let mut keys: Vec<&str> = Vec::new();
    let mut index: HashMap<&str, u32> = HashMap::new();
    for m in metrics {
        index.entry(m.key.as_str()).or_insert_with(|| {
            keys.push(m.key.as_str());
            (keys.len() - 1) as u32
        });
    }
    let mut out = Vec::with_capacity(
        16 + metrics.len() * 32 + keys.iter().map(|k| k.len() + 4).sum::<usize>(),
    );
    out.push(VERSION);
    out.extend_from_slice(&(keys.len() as u32).to_le_bytes());
    for k in &keys {
        put_str(&mut out, k);
    }
    out.extend_from_slice(&(metrics.len() as u32).to_le_bytes());
    for m in metrics {
        out.extend_from_slice(&index[m.key.as_str()].to_le_bytes());
        out.extend_from_slice(&m.value.to_le_bytes());
        out.extend_from_slice(&m.timestamp.to_le_bytes());
        out.extend_from_slice(&m.step.to_le_bytes());
        let extras = [
            m.model_id.as_deref(),
            m.dataset_name.as_deref(),
            m.dataset_digest.as_deref(),
        ];
        let flags = extras
            .iter()
            .enumerate()
            .fold(0u8, |f, (i, e)| if e.is_some() { f | (1 << i) } else { f });
        out.push(flags);
        for e in extras.into_iter().flatten() {
            put_str(&mut out, e);
        }
    }
    out
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let end = end.ok_or_else(|| Error::internal("corrupt metric batch: truncated"))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().unwrap_or_default(),
        ))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().unwrap_or_default(),
        ))
    }
    fn str(&mut self) -> Result<&'a str> {
        let n = self.u32()? as usize;
        std::str::from_utf8(self.take(n)?)
            .map_err(|_| Error::internal("corrupt metric batch: bad UTF-8"))
    }
}

/// Appends to `out` the points of `key` in one encoded batch.
pub fn decode_key_into(data: &[u8], key: &str, out: &mut Vec<Metric>) -> Result<()> {
    let mut r = Reader { buf: data, pos: 0 };
    if r.u8()? != VERSION {
        return Err(Error::internal(
            "corrupt metric batch: unknown format version",
        ));
    }
    let key_count = r.u32()?;
    let mut wanted = None;
    for i in 0..key_count {
        if r.str()? == key {
            wanted = Some(i);
        }
    }
    let Some(wanted) = wanted else {
        return Ok(());
    };
    let points = r.u32()?;
    for _ in 0..points {
        let k = r.u32()?;
        let value = f64::from_bits(r.u64()?);
        let timestamp = r.u64()? as i64;
        let step = r.u64()? as i64;
        let flags = r.u8()?;
        let mut extra = [None, None, None];
        for (i, slot) in extra.iter_mut().enumerate() {
            if flags & (1 << i) != 0 {
                *slot = Some(r.str()?);
            }
        }
        if k == wanted {
            out.push(Metric {
                key: key.to_string(),
                value,
                timestamp,
                step,
                model_id: extra[0].map(str::to_string),
                dataset_name: extra[1].map(str::to_string),
                dataset_digest: extra[2].map(str::to_string),
                run_id: None,
            });
        }
    }
    Ok(())
}

/// The order MLflow's store returns a history in, without exact duplicates
/// (same timestamp, step and value), which MLflow's primary key refused.
pub fn finish_history(points: &mut Vec<Metric>) {
    let bits = |v: f64| {
        if v.is_nan() {
            f64::NAN.to_bits()
        } else if v == 0.0 {
            0
        } else {
            v.to_bits()
        }
    };
    points.sort_by(|a, b| {
        a.timestamp
            .cmp(&b.timestamp)
            .then(a.step.cmp(&b.step))
            .then(a.value.total_cmp(&b.value))
    });
    points.dedup_by(|a, b| {
        a.timestamp == b.timestamp && a.step == b.step && bits(a.value) == bits(b.value)
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(key: &str, value: f64, ts: i64, step: i64) -> Metric {
        Metric {
            key: key.into(),
            value,
            timestamp: ts,
            step,
            ..Default::default()
        }
    }

    #[test]
    fn round_trips_every_field() {
        let mut with_extras = m("acc", 0.5, 3, 4);
        with_extras.model_id = Some("m-1".into());
        with_extras.dataset_digest = Some("d".into());
        let batch = vec![
            m("loss", f64::NAN, 1, 0),
            with_extras.clone(),
            m("loss", f64::NEG_INFINITY, 2, 1),
        ];
        let data = encode(&batch);
        let mut loss = Vec::new();
        decode_key_into(&data, "loss", &mut loss).unwrap();
        assert_eq!(loss.len(), 2);
        assert!(loss[0].value.is_nan());
        assert_eq!(loss[1].value, f64::NEG_INFINITY);
        let mut acc = Vec::new();
        decode_key_into(&data, "acc", &mut acc).unwrap();
        assert_eq!(acc, vec![with_extras]);
        let mut none = Vec::new();
        decode_key_into(&data, "nope", &mut none).unwrap();
        assert!(none.is_empty());
    }

    #[test]
    fn corrupt_data_is_an_error_not_a_panic() {
        let data = encode(&[m("k", 1.0, 1, 1)]);
        for cut in 0..data.len() {
            let _ = decode_key_into(&data[..cut], "k", &mut Vec::new());
        }
        assert!(decode_key_into(&[9, 0, 0], "k", &mut Vec::new()).is_err());
    }

    #[test]
    fn history_is_sorted_and_deduplicated() {
        let mut h = vec![
            m("k", 2.0, 5, 1),
            m("k", 1.0, 1, 0),
            m("k", 2.0, 5, 1),
            m("k", 0.0, 5, 1),
            m("k", -0.0, 5, 1),
        ];
        finish_history(&mut h);
        let got: Vec<(i64, f64)> = h.iter().map(|m| (m.timestamp, m.value)).collect();
        assert_eq!(got, vec![(1, 1.0), (5, 0.0), (5, 2.0)]);
    }
}
