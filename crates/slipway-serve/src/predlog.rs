//! The prediction log: every prediction, for monitoring. Requests push
//! records into a bounded queue without waiting (a full queue drops the
//! record and counts it); one writer thread accumulates them and writes
//! them as Parquet segments into a directory.
//!
//! # Segments and durability
//!
//! The writer flushes one segment every [`DEFAULT_FLUSH_ROWS`] records or
//! every [`DEFAULT_FLUSH_INTERVAL`] after the first unflushed record,
//! whichever comes first, and on [`PredictionLog::close`]. A segment is
//! written to a hidden temporary name (`.NAME.parquet.tmp`), fsync'd,
//! renamed to `NAME.parquet` and the directory fsync'd, so a reader never
//! sees half a segment. A crash loses at most what was not yet flushed: the
//! last second of records (plus whatever was still queued); a temporary file
//! left by a crash is never read and can be deleted.
//!
//! Segment names are `part-<unix ms, 13 digits>-<sequence, 6 digits>-<random>.parquet`,
//! so the lexicographic order of names is the order of writing (also across
//! restarts of the server); [`read_log`] reads them in that order.
//!
//! # Schema `slipway-predictions/2`
//!
//! One row per predicted row, Snappy-compressed, the Arrow schema embedded,
//! schema metadata `slipway.format = slipway-predictions/2`:
//!
//! | column | type | meaning |
//! |---|---|---|
//! | `timestamp` | timestamp(ms, UTC) | when the row was answered |
//! | `request_id` | utf8 | one id per HTTP request (rows of a batch share it) |
//! | `row` | int64 | the row's index in its request |
//! | `route` | utf8 | `predict`, `predict_batch`, `invocations`, `v2_infer` |
//! | `role` | utf8 | `champion` or `canary`: which model answered (a shadow's answer is in the `shadow_*` columns of the same row) |
//! | `model_name` | utf8 | the model that answered |
//! | `model_version` | utf8 | its version |
//! | `customer_id` | utf8, nullable | `customer_id` (or the v2 `id`) |
//! | `features` | utf8 (JSON object) | the row as validated (name -> raw value); JSON because feature sets differ by model |
//! | `prediction` | utf8 (JSON value) | label (classifiers) or value (regressors), e.g. `1`, `"yes"`, `0.25` |
//! | `probability` | float64, nullable | positive-class probability |
//! | `latency_ms` | float64 | request latency when the row was answered |
//! | `shadow_model_name` | utf8, nullable | the shadow model, when one scored the row |
//! | `shadow_version` | utf8, nullable | its version (non-null exactly when the row has a shadow result) |
//! | `shadow_prediction` | utf8 (JSON value), nullable | the shadow's prediction |
//! | `shadow_probability` | float64, nullable | the shadow's positive-class probability |
//!
//! (`slipway-predictions/1` was JSON lines with the same fields; `ts` is
//! now `timestamp`, `entity_id` is `customer_id` and the `shadow` object is
//! the `shadow_*` columns.)
//!
//! [`read_log`] reads a log directory back into [`PredictionRecord`]s (the
//! monitoring issue's entry point); any Parquet reader (pandas, DuckDB,
//! Spark) reads `DIR/*.parquet` directly.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, TimestampMillisecondType};
use arrow_array::{
    Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub const FORMAT: &str = "slipway-predictions/2";

/// The schema metadata key holding [`FORMAT`].
pub const FORMAT_KEY: &str = "slipway.format";

/// A segment is flushed when this many records are waiting...
pub const DEFAULT_FLUSH_ROWS: usize = 10_000;

/// ...or when the oldest unflushed record has waited this long.
pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShadowResult {
    pub model_name: String,
    pub model_version: String,
    pub prediction: Value,
    pub probability: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictionRecord {
    pub ts: i64,
    pub request_id: String,
    pub row: usize,
    pub route: String,
    pub role: String,
    pub model_name: String,
    pub model_version: String,
    pub entity_id: Option<String>,
    pub features: Map<String, Value>,
    pub prediction: Value,
    pub probability: Option<f64>,
    pub latency_ms: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow: Option<ShadowResult>,
}

/// The sending side: cheap to clone, never blocks.
#[derive(Clone)]
pub struct LogSender {
    tx: SyncSender<PredictionRecord>,
    dropped: Arc<AtomicU64>,
    written: Arc<AtomicU64>,
}

impl LogSender {
    /// Queues a record; false (and counted) when the queue is full.
    pub fn send(&self, record: PredictionRecord) -> bool {
        match self.tx.try_send(record) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }
}

/// The writer thread; [`PredictionLog::close`] drains the queue and flushes
/// the last segment.
pub struct PredictionLog {
    /// The log directory.
    pub path: PathBuf,
    sender: Mutex<Option<LogSender>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    handle: LogSender,
    closing: Arc<AtomicBool>,
}

impl PredictionLog {
    /// Opens the log directory `dir` (created if missing; segments already
    /// there are kept); `capacity` is the queue length. Segments are flushed
    /// every [`DEFAULT_FLUSH_ROWS`] records or [`DEFAULT_FLUSH_INTERVAL`].
    pub fn open(dir: &Path, capacity: usize) -> std::io::Result<PredictionLog> {
        PredictionLog::open_with(dir, capacity, DEFAULT_FLUSH_ROWS, DEFAULT_FLUSH_INTERVAL)
    }

    /// [`PredictionLog::open`] with explicit flush thresholds.
    pub fn open_with(
        dir: &Path,
        capacity: usize,
        flush_rows: usize,
        flush_interval: Duration,
    ) -> std::io::Result<PredictionLog> {
        std::fs::create_dir_all(dir)?;
        if !std::fs::metadata(dir)?.is_dir() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{} is not a directory", dir.display()),
            ));
        }
        let (tx, rx) = sync_channel(capacity.max(1));
        let sender = LogSender {
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
            written: Arc::new(AtomicU64::new(0)),
        };
        let closing = Arc::new(AtomicBool::new(false));
        let segments = SegmentWriter {
            dir: dir.to_path_buf(),
            seq: 0,
            tag: uuid::Uuid::new_v4().simple().to_string()[..8].to_string(),
            schema: schema(),
        };
        let written = sender.written.clone();
        let stop = closing.clone();
        let thread = std::thread::Builder::new()
            .name("slipway-predlog".into())
            .spawn(move || {
                writer(
                    rx,
                    segments,
                    written,
                    stop,
                    flush_rows.max(1),
                    flush_interval,
                )
            })?;
        Ok(PredictionLog {
            path: dir.to_path_buf(),
            handle: sender.clone(),
            sender: Mutex::new(Some(sender)),
            thread: Mutex::new(Some(thread)),
            closing,
        })
    }

    /// A sender for requests (None after close).
    pub fn sender(&self) -> Option<LogSender> {
        self.sender.lock().ok().and_then(|s| s.clone())
    }

    pub fn dropped(&self) -> u64 {
        self.handle.dropped()
    }

    pub fn written(&self) -> u64 {
        self.handle.written()
    }

    /// Writes what is queued as a last segment and stops the writer (records
    /// sent afterwards are counted as dropped).
    pub fn close(&self) {
        if let Ok(mut s) = self.sender.lock() {
            s.take();
        }
        self.closing.store(true, Ordering::SeqCst);
        let thread = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(t) = thread {
            let _ = t.join();
        }
    }
}

impl Drop for PredictionLog {
    fn drop(&mut self) {
        self.close();
    }
}

fn writer(
    rx: Receiver<PredictionRecord>,
    mut segments: SegmentWriter,
    written: Arc<AtomicU64>,
    closing: Arc<AtomicBool>,
    flush_rows: usize,
    flush_interval: Duration,
) {
    let mut batch: Vec<PredictionRecord> = Vec::new();
    // When the oldest record of `batch` must be on disk.
    let mut deadline: Option<Instant> = None;
    let mut flush = |batch: &mut Vec<PredictionRecord>, deadline: &mut Option<Instant>| {
        *deadline = None;
        if batch.is_empty() {
            return;
        }
        match segments.write(batch) {
            Ok(_) => {
                written.fetch_add(batch.len() as u64, Ordering::Relaxed);
            }
            Err(e) => tracing::error!(
                "prediction log: cannot write a segment of {} records into {}: {e}",
                batch.len(),
                segments.dir.display()
            ),
        }
        batch.clear();
    };
    loop {
        let stopping = closing.load(Ordering::SeqCst);
        let wait = if stopping {
            Duration::ZERO
        } else {
            // Wakes at least every 100 ms to see `closing`.
            let tick = Duration::from_millis(100);
            match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()).min(tick),
                None => tick,
            }
        };
        match rx.recv_timeout(wait) {
            Ok(r) => {
                if batch.is_empty() {
                    deadline = Some(Instant::now() + flush_interval);
                }
                batch.push(r);
            }
            Err(RecvTimeoutError::Timeout) if stopping => break,
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if batch.len() >= flush_rows || deadline.is_some_and(|d| Instant::now() >= d) {
            flush(&mut batch, &mut deadline);
        }
    }
    flush(&mut batch, &mut deadline);
}

/// Writes segments into one directory.
struct SegmentWriter {
    dir: PathBuf,
    seq: u64,
    /// Tells apart two writers flushing in the same millisecond.
    tag: String,
    schema: SchemaRef,
}

impl SegmentWriter {
    /// Writes `records` as one complete segment; returns its path.
    fn write(
        &mut self,
        records: &[PredictionRecord],
    ) -> Result<PathBuf, Box<dyn std::error::Error>> {
        let batch = to_batch(&self.schema, records)?;
        let name = format!(
            "part-{:013}-{:06}-{}.parquet",
            now_millis(),
            self.seq,
            self.tag
        );
        self.seq += 1;
        let path = self.dir.join(&name);
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let result = (|| -> Result<(), Box<dyn std::error::Error>> {
            let file = File::create(&tmp)?;
            let props = WriterProperties::builder()
                .set_compression(Compression::SNAPPY)
                .build();
            let mut w = ArrowWriter::try_new(
                BufWriter::with_capacity(1 << 20, file),
                batch.schema(),
                Some(props),
            )?;
            w.write(&batch)?;
            let out = w.into_inner()?;
            let file = out.into_inner().map_err(|e| e.into_error())?;
            file.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            sync_dir(&self.dir);
            Ok(())
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        Ok(path)
    }
}

/// Makes the rename itself durable (best effort; not possible on Windows).
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

fn now_millis() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

/// The Arrow schema of `slipway-predictions/2`.
pub fn schema() -> SchemaRef {
    let utf8 = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    let f64_ = |name: &str, nullable: bool| Field::new(name, DataType::Float64, nullable);
    let fields = vec![
        Field::new(
            "timestamp",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        utf8("request_id", false),
        Field::new("row", DataType::Int64, false),
        utf8("route", false),
        utf8("role", false),
        utf8("model_name", false),
        utf8("model_version", false),
        utf8("customer_id", true),
        utf8("features", false),
        utf8("prediction", false),
        f64_("probability", true),
        f64_("latency_ms", false),
        utf8("shadow_model_name", true),
        utf8("shadow_version", true),
        utf8("shadow_prediction", true),
        f64_("shadow_probability", true),
    ];
    let metadata: std::collections::HashMap<String, String> =
        [(FORMAT_KEY.to_string(), FORMAT.to_string())]
            .into_iter()
            .collect();
    Arc::new(Schema::new_with_metadata(fields, metadata))
}

fn json_text(v: &impl Serialize) -> Result<String, serde_json::Error> {
    serde_json::to_string(v)
}

fn to_batch(
    schema: &SchemaRef,
    records: &[PredictionRecord],
) -> Result<RecordBatch, Box<dyn std::error::Error>> {
    let strings = |f: &dyn Fn(&PredictionRecord) -> Option<&str>| -> ArrayRef {
        Arc::new(records.iter().map(f).collect::<StringArray>())
    };
    let floats = |f: &dyn Fn(&PredictionRecord) -> Option<f64>| -> ArrayRef {
        Arc::new(records.iter().map(f).collect::<Float64Array>())
    };
    let features = records
        .iter()
        .map(|r| json_text(&r.features).map(Some))
        .collect::<Result<Vec<Option<String>>, _>>()?;
    let predictions = records
        .iter()
        .map(|r| json_text(&r.prediction).map(Some))
        .collect::<Result<Vec<Option<String>>, _>>()?;
    let shadow_predictions = records
        .iter()
        .map(|r| {
            r.shadow
                .as_ref()
                .map(|s| json_text(&s.prediction))
                .transpose()
        })
        .collect::<Result<Vec<Option<String>>, _>>()?;
    let columns: Vec<ArrayRef> = vec![
        Arc::new(
            TimestampMillisecondArray::from(records.iter().map(|r| r.ts).collect::<Vec<_>>())
                .with_timezone("UTC"),
        ),
        strings(&|r| Some(&r.request_id)),
        Arc::new(Int64Array::from(
            records.iter().map(|r| r.row as i64).collect::<Vec<_>>(),
        )),
        strings(&|r| Some(&r.route)),
        strings(&|r| Some(&r.role)),
        strings(&|r| Some(&r.model_name)),
        strings(&|r| Some(&r.model_version)),
        strings(&|r| r.entity_id.as_deref()),
        Arc::new(StringArray::from(features)),
        Arc::new(StringArray::from(predictions)),
        floats(&|r| r.probability),
        floats(&|r| Some(r.latency_ms)),
        strings(&|r| r.shadow.as_ref().map(|s| s.model_name.as_str())),
        strings(&|r| r.shadow.as_ref().map(|s| s.model_version.as_str())),
        Arc::new(StringArray::from(shadow_predictions)),
        floats(&|r| r.shadow.as_ref().and_then(|s| s.probability)),
    ];
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

fn invalid(path: &Path, msg: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("{}: {msg}", path.display()),
    )
}

/// The complete segments of a log directory, in the order they were written
/// (temporary files of a segment being written, or left by a crash, are not
/// listed).
pub fn segments(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || !name.ends_with(".parquet") {
            continue;
        }
        if entry.file_type()?.is_file() {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}

/// Reads every segment of the log directory `dir`, in order.
pub fn read_log(dir: &Path) -> std::io::Result<Vec<PredictionRecord>> {
    let mut out = Vec::new();
    for path in segments(dir)? {
        read_segment(&path, &mut out)?;
    }
    Ok(out)
}

/// Appends the records of one segment to `out`.
pub fn read_segment(path: &Path, out: &mut Vec<PredictionRecord>) -> std::io::Result<()> {
    let file = File::open(path)?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .map_err(|e| invalid(path, e))?;
    for batch in reader {
        let batch = batch.map_err(|e| invalid(path, e))?;
        if let Some(format) = batch.schema().metadata().get(FORMAT_KEY) {
            if format != FORMAT {
                return Err(invalid(path, format!("format {format}, expected {FORMAT}")));
            }
        }
        read_batch(&batch, out).map_err(|e| invalid(path, e))?;
    }
    Ok(())
}

fn read_batch(batch: &RecordBatch, out: &mut Vec<PredictionRecord>) -> Result<(), String> {
    let col = |name: &str| -> Result<&ArrayRef, String> {
        batch
            .column_by_name(name)
            .ok_or_else(|| format!("no column {name}"))
    };
    let typed = |name: &str, t: &DataType| -> Result<&ArrayRef, String> {
        let c = col(name)?;
        if c.data_type() == t
            || matches!((c.data_type(), t), (DataType::Timestamp(a, _), DataType::Timestamp(b, _)) if a == b)
        {
            Ok(c)
        } else {
            Err(format!("column {name} is {}, expected {t}", c.data_type()))
        }
    };
    let utf8 = |name: &str| typed(name, &DataType::Utf8).map(|c| c.as_string::<i32>());
    let f64_ =
        |name: &str| typed(name, &DataType::Float64).map(|c| c.as_primitive::<Float64Type>());
    let ts = typed(
        "timestamp",
        &DataType::Timestamp(TimeUnit::Millisecond, None),
    )?
    .as_primitive::<TimestampMillisecondType>();
    let row = typed("row", &DataType::Int64)?.as_primitive::<Int64Type>();
    let (request_id, route, role) = (utf8("request_id")?, utf8("route")?, utf8("role")?);
    let (model_name, model_version) = (utf8("model_name")?, utf8("model_version")?);
    let (customer_id, features, prediction) =
        (utf8("customer_id")?, utf8("features")?, utf8("prediction")?);
    let (probability, latency_ms) = (f64_("probability")?, f64_("latency_ms")?);
    let (shadow_name, shadow_version) = (utf8("shadow_model_name")?, utf8("shadow_version")?);
    let (shadow_prediction, shadow_probability) =
        (utf8("shadow_prediction")?, f64_("shadow_probability")?);
    let text = |a: &StringArray, i: usize| -> Option<String> {
        a.is_valid(i).then(|| a.value(i).to_string())
    };
    let float = |a: &Float64Array, i: usize| -> Option<f64> { a.is_valid(i).then(|| a.value(i)) };
    let json = |a: &StringArray, i: usize, name: &str| -> Result<Option<Value>, String> {
        text(a, i)
            .map(|s| serde_json::from_str(&s).map_err(|e| format!("row {i}: {name}: {e}")))
            .transpose()
    };
    for i in 0..batch.num_rows() {
        let shadow = match text(shadow_version, i) {
            None => None,
            Some(version) => Some(ShadowResult {
                model_name: text(shadow_name, i).unwrap_or_default(),
                model_version: version,
                prediction: json(shadow_prediction, i, "shadow_prediction")?.unwrap_or(Value::Null),
                probability: float(shadow_probability, i),
            }),
        };
        let features = match json(features, i, "features")? {
            Some(Value::Object(m)) => m,
            Some(Value::Null) | None => Map::new(),
            Some(_) => return Err(format!("row {i}: features is not a JSON object")),
        };
        out.push(PredictionRecord {
            ts: ts.value(i),
            request_id: text(request_id, i).unwrap_or_default(),
            row: usize::try_from(row.value(i)).map_err(|_| format!("row {i}: negative row"))?,
            route: text(route, i).unwrap_or_default(),
            role: text(role, i).unwrap_or_default(),
            model_name: text(model_name, i).unwrap_or_default(),
            model_version: text(model_version, i).unwrap_or_default(),
            entity_id: text(customer_id, i),
            features,
            prediction: json(prediction, i, "prediction")?.unwrap_or(Value::Null),
            probability: float(probability, i),
            latency_ms: float(latency_ms, i).unwrap_or(f64::NAN),
            shadow,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn temp_dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "slipway-predlog-{name}-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn record(i: usize) -> PredictionRecord {
        let mut features = Map::new();
        features.insert("tenure_days".into(), json!(i));
        features.insert(
            "plan".into(),
            json!(if i.is_multiple_of(2) { "basic" } else { "pro" }),
        );
        features.insert("spend".into(), json!(12.5));
        features.insert("note".into(), Value::Null);
        PredictionRecord {
            ts: 1_700_000_000_000 + i as i64,
            request_id: format!("req{}", i / 3),
            row: i % 3,
            route: "predict_batch".into(),
            role: if i.is_multiple_of(5) {
                "canary"
            } else {
                "champion"
            }
            .into(),
            model_name: "churn".into(),
            model_version: "2".into(),
            entity_id: (!i.is_multiple_of(4)).then(|| format!("C{i}")),
            features,
            prediction: if i.is_multiple_of(2) {
                json!(1)
            } else {
                json!("no")
            },
            probability: (!i.is_multiple_of(7)).then_some(0.25 + i as f64 / 1024.0),
            latency_ms: 0.5 + i as f64,
            shadow: i.is_multiple_of(3).then(|| ShadowResult {
                model_name: "churn".into(),
                model_version: "9".into(),
                prediction: json!(0),
                probability: i.is_multiple_of(2).then_some(0.125),
            }),
        }
    }

    fn wait_for(mut f: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if f() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    #[test]
    fn records_round_trip_through_segments_in_order() {
        let dir = temp_dir("roundtrip");
        let log = PredictionLog::open_with(&dir, 1000, 40, Duration::from_secs(3600)).unwrap();
        let sent: Vec<PredictionRecord> = (0..100).map(record).collect();
        let tx = log.sender().unwrap();
        for r in &sent {
            assert!(tx.send(r.clone()));
        }
        log.close();
        assert_eq!(log.written(), 100);
        assert_eq!(log.dropped(), 0);
        // 40 + 40 by size, the last 20 on close.
        assert_eq!(segments(&dir).unwrap().len(), 3);
        assert_eq!(read_log(&dir).unwrap(), sent);
        // The embedded schema says what it is.
        let file = File::open(&segments(&dir).unwrap()[0]).unwrap();
        let b = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
        assert_eq!(b.schema().metadata().get(FORMAT_KEY).unwrap(), FORMAT);
        assert_eq!(b.schema().fields(), schema().fields());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_segment_is_flushed_after_the_interval_without_close() {
        let dir = temp_dir("interval");
        let log = PredictionLog::open_with(&dir, 1000, 10_000, Duration::from_millis(50)).unwrap();
        let tx = log.sender().unwrap();
        for i in 0..3 {
            tx.send(record(i));
        }
        assert!(wait_for(|| read_log(&dir)
            .map(|r| r.len() == 3)
            .unwrap_or(false)));
        assert!(wait_for(|| log.written() == 3));
        log.close();
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn close_flushes_what_is_queued() {
        let dir = temp_dir("close");
        let log = PredictionLog::open_with(&dir, 1000, 10_000, Duration::from_secs(3600)).unwrap();
        let tx = log.sender().unwrap();
        for i in 0..5 {
            tx.send(record(i));
        }
        std::thread::sleep(Duration::from_millis(100));
        // Neither threshold is reached: nothing on disk yet.
        assert!(segments(&dir).unwrap().is_empty());
        log.close();
        assert_eq!(read_log(&dir).unwrap().len(), 5);
        // After close, sends are dropped and counted.
        assert!(!tx.send(record(9)));
        assert_eq!(log.dropped(), 1);
        assert!(log.sender().is_none());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn readers_see_only_complete_segments() {
        let dir = temp_dir("complete");
        // What a crash mid-write leaves behind, and a stray file: never read.
        std::fs::write(
            dir.join(".part-0000000000000-000000-x.parquet.tmp"),
            b"PAR1 torn",
        )
        .unwrap();
        std::fs::write(dir.join("notes.txt"), b"not a segment").unwrap();
        let log = PredictionLog::open_with(&dir, 100_000, 7, Duration::from_millis(5)).unwrap();
        let tx = log.sender().unwrap();
        let reader = {
            let dir = dir.clone();
            std::thread::spawn(move || {
                let mut last = 0;
                for _ in 0..200 {
                    // Every read succeeds while segments are being written,
                    // and the log only grows.
                    let n = read_log(&dir).unwrap().len();
                    assert!(n >= last);
                    last = n;
                }
            })
        };
        for i in 0..2000 {
            tx.send(record(i));
            if i % 50 == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        reader.join().unwrap();
        log.close();
        let records = read_log(&dir).unwrap();
        assert_eq!(records.len() as u64, log.written());
        assert_eq!(log.written() + log.dropped(), 2000);
        // The writer leaves no temporary file of its own.
        let tmp: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert_eq!(
            tmp,
            vec![".part-0000000000000-000000-x.parquet.tmp".to_string()]
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_full_queue_drops_and_counts_without_blocking() {
        // A queue nobody drains: the third send finds it full.
        let (tx, _rx) = sync_channel(2);
        let s = LogSender {
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
            written: Arc::new(AtomicU64::new(0)),
        };
        let start = Instant::now();
        let accepted = (0..10).filter(|&i| s.send(record(i))).count();
        assert!(start.elapsed() < Duration::from_secs(1));
        assert_eq!(accepted, 2);
        assert_eq!(s.dropped(), 8);

        // Through the writer: everything sent is either written or dropped.
        let dir = temp_dir("full");
        let log = PredictionLog::open_with(&dir, 4, 10_000, Duration::from_secs(3600)).unwrap();
        let tx = log.sender().unwrap();
        let sent = 20_000u64;
        let accepted = (0..sent as usize).filter(|&i| tx.send(record(i))).count() as u64;
        log.close();
        assert_eq!(log.dropped(), sent - accepted);
        assert!(log.dropped() > 0, "a queue of 4 never filled");
        assert_eq!(log.written(), accepted);
        assert_eq!(read_log(&dir).unwrap().len() as u64, accepted);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn open_refuses_a_file() {
        let dir = temp_dir("file");
        let f = dir.join("p.jsonl");
        std::fs::write(&f, b"{}\n").unwrap();
        assert!(PredictionLog::open(&f, 10).is_err());
        let _ = std::fs::remove_dir_all(dir);
    }
}
