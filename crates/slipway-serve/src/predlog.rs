//! The prediction log: every prediction, for monitoring. A request pushes
//! one [`LogBatch`] (its rows, still in the shape they were scored in) into
//! a bounded queue; one writer thread turns batches into columns and writes
//! them as Parquet segments into a directory. The request path never
//! formats a log row: that is the writer's work, on its own thread.
//!
//! When the queue is full, [`OnFull::Drop`] (the default) drops the batch
//! and counts its rows, so serving never waits for the log;
//! [`OnFull::Block`] makes the request wait for room instead, so no
//! answered row goes unlogged while the server runs (answers slow down to
//! the writer's pace).
//!
//! # Segments and durability
//!
//! The writer flushes one segment once [`DEFAULT_FLUSH_ROWS`] rows are
//! waiting or [`DEFAULT_FLUSH_INTERVAL`] after the first unflushed row,
//! whichever comes first, and on [`PredictionLog::close`]. A segment is
//! written to a hidden temporary name (`.NAME.parquet.tmp`), fsync'd,
//! renamed to `NAME.parquet` and the directory fsync'd, so a reader never
//! sees half a segment. "Durable" means: a row is on disk at most
//! [`DEFAULT_FLUSH_INTERVAL`] after it was queued, and a clean stop
//! (SIGTERM, Ctrl-C) writes everything queued. A crash (kill -9, power
//! loss) loses the rows not yet flushed: at most the last second of rows
//! plus whatever was still queued (at most the queue's capacity); a
//! temporary file left by a crash is never read and can be deleted.
//!
//! Segment names are `part-<unix ms, 13 digits>-<sequence, 6 digits>-<random>.parquet`,
//! so the lexicographic order of names is the order of writing (also across
//! restarts of the server); [`read_log`] reads them in that order.
//!
//! # Schema `slipway-predictions/3`
//!
//! One row per predicted row, Snappy-compressed, the Arrow schema embedded,
//! schema metadata `slipway.format = slipway-predictions/3`. Fixed columns:
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
//! | `prediction` | utf8 (JSON value) | label (classifiers) or value (regressors), e.g. `1`, `"yes"`, `0.25` |
//! | `probability` | float64, nullable | positive-class probability |
//! | `latency_ms` | float64 | request latency when the row was answered |
//! | `shadow_model_name` | utf8, nullable | the shadow model, when one scored the row |
//! | `shadow_version` | utf8, nullable | its version (non-null exactly when the row has a shadow result) |
//! | `shadow_prediction` | utf8 (JSON value), nullable | the shadow's prediction |
//! | `shadow_probability` | float64, nullable | the shadow's positive-class probability |
//!
//! then one typed, nullable column per model feature, named as the feature
//! (so `pandas.read_parquet(DIR)[["tenure", "plan"]]` is the served data,
//! ready to compare with the training data): `float64` for `double`/`float`
//! signature columns, `int64` for `long`/`integer`, `bool` for `boolean`,
//! `utf8` for `string` (the category as sent, also one the model never
//! saw). Null is a missing value. A feature whose name is one of the fixed
//! columns above is stored as `feature.<name>`. The schema metadata
//! `slipway.features` lists them: a JSON array of
//! `{"column", "feature", "type"}` in column order. A segment holds the
//! union of the features of the models whose rows it has (champion and
//! canary may differ); a row has nulls in the columns its model does not
//! take; a feature two models type differently is stored as utf8.
//!
//! (`slipway-predictions/2` had the features as one JSON-object column
//! `features`; [`read_log`] still reads it. `/1` was JSON lines.)
//!
//! [`read_log`] reads a log directory back into [`PredictionRecord`]s (the
//! monitoring issue's entry point); any Parquet reader (pandas, DuckDB,
//! Spark) reads `DIR/*.parquet` directly.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use arrow_array::builder::{BooleanBuilder, Float64Builder, Int64Builder, StringBuilder};
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
use slipway_train::dataset::ColumnType;

use crate::model::{InputColumn, ModelRef, ScoreRow};

pub const FORMAT: &str = "slipway-predictions/3";

/// The previous format, still read by [`read_log`].
pub const FORMAT_V2: &str = "slipway-predictions/2";

/// The schema metadata key holding [`FORMAT`].
pub const FORMAT_KEY: &str = "slipway.format";

/// The schema metadata key listing the feature columns.
pub const FEATURES_KEY: &str = "slipway.features";

/// A segment is flushed when this many rows are waiting...
pub const DEFAULT_FLUSH_ROWS: usize = 10_000;

/// ...or when the oldest unflushed row has waited this long.
pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// The fixed columns, in schema order; a feature with one of these names is
/// stored as `feature.<name>`.
pub const FIXED_COLUMNS: [&str; 15] = [
    "timestamp",
    "request_id",
    "row",
    "route",
    "role",
    "model_name",
    "model_version",
    "customer_id",
    "prediction",
    "probability",
    "latency_ms",
    "shadow_model_name",
    "shadow_version",
    "shadow_prediction",
    "shadow_probability",
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShadowResult {
    pub model_name: String,
    pub model_version: String,
    pub prediction: Value,
    pub probability: Option<f64>,
}

/// One logged row, as [`read_log`] returns it.
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
    /// Every feature column of the row's segment (null: missing, or not a
    /// feature of this row's model).
    pub features: Map<String, Value>,
    pub prediction: Value,
    pub probability: Option<f64>,
    pub latency_ms: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow: Option<ShadowResult>,
}

/// The features of a logged request, in the shape they were scored in.
#[derive(Debug, Clone)]
pub enum LoggedFeatures {
    /// The model's encoded matrix, row-major (`model.columns.len()` values
    /// per row; NaN missing, booleans 0/1, strings as category codes). Only
    /// lossless when every string is one of the model's categories: the
    /// fast decoders hand a body with an unseen category to the general
    /// parser, which logs [`LoggedFeatures::Rows`].
    Encoded(Vec<f64>),
    /// The rows as validated (name -> raw value).
    Rows(Vec<Map<String, Value>>),
}

/// A shadow model's answers for every row of a batch.
#[derive(Debug, Clone)]
pub struct ShadowScores {
    pub model_name: String,
    pub model_version: String,
    pub rows: Vec<ScoreRow>,
}

/// One request's predictions, queued as one item.
#[derive(Debug, Clone)]
pub struct LogBatch {
    /// When the request was answered (unix ms).
    pub ts: i64,
    pub request_id: String,
    pub route: &'static str,
    pub role: &'static str,
    /// The model that answered: its name, version and input columns.
    pub model: ModelRef,
    /// One per row.
    pub ids: Vec<Option<String>>,
    pub features: LoggedFeatures,
    /// One per row.
    pub scored: Vec<ScoreRow>,
    pub latency_ms: f64,
    pub shadow: Option<ShadowScores>,
}

impl LogBatch {
    /// Rows in the batch.
    pub fn len(&self) -> usize {
        self.scored.len()
    }

    pub fn is_empty(&self) -> bool {
        self.scored.is_empty()
    }

    /// The rows as name -> raw value maps (decoding an encoded matrix).
    pub fn feature_rows(&self) -> Vec<Map<String, Value>> {
        match &self.features {
            LoggedFeatures::Rows(rows) => rows.clone(),
            LoggedFeatures::Encoded(x) => {
                let cols = &self.model.columns;
                (0..self.len())
                    .map(|r| {
                        cols.iter()
                            .enumerate()
                            .map(|(c, col)| {
                                let v = x.get(r * cols.len() + c).copied().unwrap_or(f64::NAN);
                                (col.name.clone(), decode_value(col, v))
                            })
                            .collect()
                    })
                    .collect()
            }
        }
    }
}

/// One encoded value back to what was sent (a category for its code).
fn decode_value(col: &InputColumn, v: f64) -> Value {
    if v.is_nan() {
        return Value::Null;
    }
    match col.column_type {
        ColumnType::Long | ColumnType::Integer => Value::from(v as i64),
        ColumnType::Double | ColumnType::Float => Value::from(v),
        ColumnType::Boolean => Value::Bool(v != 0.0),
        ColumnType::String => category_text(col, v).map_or(Value::Null, Value::from),
    }
}

fn category_text(col: &InputColumn, v: f64) -> Option<&str> {
    let cats = col.categories.as_ref()?;
    if v < 0.0 || v.fract() != 0.0 {
        return None;
    }
    cats.get(v as usize).map(String::as_str)
}

/// What a request does when the log's queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnFull {
    /// Drop the batch and count its rows: serving never waits for the log.
    #[default]
    Drop,
    /// Wait until the writer has made room: no row is dropped while the
    /// log is open, and answers slow down to the writer's pace.
    Block,
}

impl OnFull {
    pub fn as_str(self) -> &'static str {
        match self {
            OnFull::Drop => "drop",
            OnFull::Block => "block",
        }
    }
}

/// Wakes senders blocked on a full queue ([`OnFull::Block`]) when the
/// writer takes a batch.
#[derive(Default)]
struct Room {
    lock: Mutex<()>,
    freed: Condvar,
}

/// The sending side: cheap to clone; never blocks unless [`OnFull::Block`].
#[derive(Clone)]
pub struct LogSender {
    tx: Sender<LogBatch>,
    /// Rows sent and not yet taken by the writer.
    queued: Arc<AtomicUsize>,
    /// At most this many rows wait in the queue.
    capacity: usize,
    on_full: OnFull,
    room: Arc<Room>,
    closed: Arc<AtomicBool>,
    dropped: Arc<AtomicU64>,
    written: Arc<AtomicU64>,
}

impl LogSender {
    /// Reserves room for `n` rows; false when the queue is full (a batch
    /// larger than the whole queue fits only into an empty one).
    fn reserve(&self, n: usize) -> bool {
        let before = self.queued.fetch_add(n, Ordering::AcqRel);
        if before > 0 && before + n > self.capacity {
            self.queued.fetch_sub(n, Ordering::AcqRel);
            return false;
        }
        true
    }

    /// Queues a batch. On a full queue: [`OnFull::Drop`] returns false at
    /// once with its rows counted as dropped; [`OnFull::Block`] waits for
    /// room (false only if the log closes meanwhile). A batch larger than
    /// the whole queue is taken when the queue is empty, so big requests
    /// are logged too.
    pub fn send(&self, batch: LogBatch) -> bool {
        let n = batch.len();
        if n == 0 {
            return true;
        }
        let mut reserved = self.reserve(n);
        if !reserved && self.on_full == OnFull::Block {
            let mut guard = self.room.lock.lock().unwrap_or_else(|p| p.into_inner());
            while !reserved && !self.closed.load(Ordering::SeqCst) {
                // The timeout covers a wake-up sent between the check and the wait.
                guard = self
                    .room
                    .freed
                    .wait_timeout(guard, Duration::from_millis(10))
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
                reserved = self.reserve(n);
            }
        }
        if !reserved {
            self.dropped.fetch_add(n as u64, Ordering::Relaxed);
            return false;
        }
        if self.tx.send(batch).is_err() {
            self.queued.fetch_sub(n, Ordering::AcqRel);
            self.dropped.fetch_add(n as u64, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// Rows dropped.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Rows written to complete segments.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Rows waiting for the writer.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
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
    /// there are kept); `capacity` is the queue length in rows. Segments
    /// are flushed every [`DEFAULT_FLUSH_ROWS`] rows or
    /// [`DEFAULT_FLUSH_INTERVAL`].
    pub fn open(dir: &Path, capacity: usize, on_full: OnFull) -> std::io::Result<PredictionLog> {
        PredictionLog::open_with(
            dir,
            capacity,
            on_full,
            DEFAULT_FLUSH_ROWS,
            DEFAULT_FLUSH_INTERVAL,
        )
    }

    /// [`PredictionLog::open`] with explicit flush thresholds.
    pub fn open_with(
        dir: &Path,
        capacity: usize,
        on_full: OnFull,
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
        let (tx, rx) = channel();
        let sender = LogSender {
            tx,
            queued: Arc::new(AtomicUsize::new(0)),
            capacity: capacity.max(1),
            on_full,
            room: Arc::new(Room::default()),
            closed: Arc::new(AtomicBool::new(false)),
            dropped: Arc::new(AtomicU64::new(0)),
            written: Arc::new(AtomicU64::new(0)),
        };
        let closing = sender.closed.clone();
        let segments = SegmentWriter {
            dir: dir.to_path_buf(),
            seq: 0,
            tag: uuid::Uuid::new_v4().simple().to_string()[..8].to_string(),
        };
        let (written, queued, room) = (
            sender.written.clone(),
            sender.queued.clone(),
            sender.room.clone(),
        );
        let stop = closing.clone();
        let thread = std::thread::Builder::new()
            .name("slipway-predlog".into())
            .spawn(move || {
                lower_priority();
                writer(
                    rx,
                    segments,
                    Counters {
                        written,
                        queued,
                        room,
                    },
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

    pub fn queued(&self) -> usize {
        self.handle.queued()
    }

    pub fn on_full(&self) -> OnFull {
        self.handle.on_full
    }

    /// Writes what is queued as a last segment and stops the writer (batches
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

/// The writer yields the CPU to request threads when both want it: on a
/// small machine under load, a segment being built must not delay answers
/// (its work is a few percent of a core, so it keeps up at a lower weight).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: plain syscalls on this thread's own id; no memory is shared.
    unsafe {
        let tid = libc::gettid();
        let _ = libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 10);
    }
}

struct Counters {
    written: Arc<AtomicU64>,
    queued: Arc<AtomicUsize>,
    room: Arc<Room>,
}

fn writer(
    rx: Receiver<LogBatch>,
    mut segments: SegmentWriter,
    counters: Counters,
    closing: Arc<AtomicBool>,
    flush_rows: usize,
    flush_interval: Duration,
) {
    let mut pending: Vec<LogBatch> = Vec::new();
    let mut rows = 0usize;
    // When the oldest row of `pending` must be on disk.
    let mut deadline: Option<Instant> = None;
    let mut flush = |pending: &mut Vec<LogBatch>, rows: &mut usize| {
        if pending.is_empty() {
            return;
        }
        match segments.write(pending) {
            Ok(_) => {
                counters.written.fetch_add(*rows as u64, Ordering::Relaxed);
            }
            Err(e) => tracing::error!(
                "prediction log: cannot write a segment of {rows} rows into {}: {e}",
                segments.dir.display()
            ),
        }
        pending.clear();
        *rows = 0;
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
            Ok(b) => {
                counters.queued.fetch_sub(b.len(), Ordering::AcqRel);
                counters.room.freed.notify_all();
                if pending.is_empty() {
                    deadline = Some(Instant::now() + flush_interval);
                }
                rows += b.len();
                pending.push(b);
            }
            Err(RecvTimeoutError::Timeout) if stopping => break,
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if rows >= flush_rows || deadline.is_some_and(|d| Instant::now() >= d) {
            flush(&mut pending, &mut rows);
            deadline = None;
        }
    }
    flush(&mut pending, &mut rows);
}

/// Writes segments into one directory.
struct SegmentWriter {
    dir: PathBuf,
    seq: u64,
    /// Tells apart two writers flushing in the same millisecond.
    tag: String,
}

impl SegmentWriter {
    /// Writes `batches` as one complete segment; returns its path.
    fn write(&mut self, batches: &[LogBatch]) -> Result<PathBuf, Box<dyn std::error::Error>> {
        let batch = to_record_batch(batches)?;
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

/// The fixed columns of `slipway-predictions/3`, in order.
pub fn fixed_fields() -> Vec<Field> {
    let utf8 = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    let f64_ = |name: &str, nullable: bool| Field::new(name, DataType::Float64, nullable);
    vec![
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
        utf8("prediction", false),
        f64_("probability", true),
        f64_("latency_ms", false),
        utf8("shadow_model_name", true),
        utf8("shadow_version", true),
        utf8("shadow_prediction", true),
        f64_("shadow_probability", true),
    ]
}

/// How a feature column is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Float,
    Int,
    Bool,
    Text,
}

impl Kind {
    fn of(t: ColumnType) -> Kind {
        match t {
            ColumnType::Double | ColumnType::Float => Kind::Float,
            ColumnType::Long | ColumnType::Integer => Kind::Int,
            ColumnType::Boolean => Kind::Bool,
            ColumnType::String => Kind::Text,
        }
    }

    /// One kind for a feature two models type differently.
    fn join(self, other: Kind) -> Kind {
        match (self, other) {
            (a, b) if a == b => a,
            (Kind::Float, Kind::Int) | (Kind::Int, Kind::Float) => Kind::Float,
            _ => Kind::Text,
        }
    }

    fn data_type(self) -> DataType {
        match self {
            Kind::Float => DataType::Float64,
            Kind::Int => DataType::Int64,
            Kind::Bool => DataType::Boolean,
            Kind::Text => DataType::Utf8,
        }
    }

    /// The name in `slipway.features` (MLflow's column types).
    fn type_name(self) -> &'static str {
        match self {
            Kind::Float => "double",
            Kind::Int => "long",
            Kind::Bool => "boolean",
            Kind::Text => "string",
        }
    }
}

enum Builder {
    Float(Float64Builder),
    Int(Int64Builder),
    Bool(BooleanBuilder),
    Text(StringBuilder),
}

impl Builder {
    fn new(kind: Kind, rows: usize) -> Builder {
        match kind {
            Kind::Float => Builder::Float(Float64Builder::with_capacity(rows)),
            Kind::Int => Builder::Int(Int64Builder::with_capacity(rows)),
            Kind::Bool => Builder::Bool(BooleanBuilder::with_capacity(rows)),
            Kind::Text => Builder::Text(StringBuilder::with_capacity(rows, rows * 8)),
        }
    }

    fn nulls(&mut self, n: usize) {
        match self {
            Builder::Float(b) => b.append_nulls(n),
            Builder::Int(b) => b.append_nulls(n),
            Builder::Bool(b) => b.append_nulls(n),
            Builder::Text(b) => (0..n).for_each(|_| b.append_null()),
        }
    }

    /// One encoded value of `col`.
    fn encoded(&mut self, col: &InputColumn, v: f64) {
        if v.is_nan() {
            return self.nulls(1);
        }
        match self {
            Builder::Float(b) => b.append_value(v),
            Builder::Int(b) => b.append_value(v as i64),
            Builder::Bool(b) => b.append_value(v != 0.0),
            Builder::Text(b) => match col.column_type {
                ColumnType::String => b.append_option(category_text(col, v)),
                ColumnType::Boolean => b.append_value(if v != 0.0 { "true" } else { "false" }),
                _ => b.append_value(number_text(v)),
            },
        }
    }

    /// One raw (validated) value.
    fn raw(&mut self, v: Option<&Value>) {
        let v = match v {
            None | Some(Value::Null) => return self.nulls(1),
            Some(v) => v,
        };
        match self {
            Builder::Float(b) => b.append_option(match v {
                Value::Number(n) => n.as_f64(),
                Value::Bool(x) => Some(f64::from(u8::from(*x))),
                // "NaN" (a missing value) or anything validation let through.
                _ => None,
            }),
            Builder::Int(b) => b.append_option(match v {
                Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
                Value::Bool(x) => Some(i64::from(*x)),
                _ => None,
            }),
            Builder::Bool(b) => b.append_option(match v {
                Value::Bool(x) => Some(*x),
                Value::Number(n) => n.as_f64().map(|f| f != 0.0),
                Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
                Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
                _ => None,
            }),
            Builder::Text(b) => match v {
                Value::String(s) => b.append_value(s),
                Value::Number(n) => b.append_value(match n.as_f64() {
                    Some(f) => number_text(f),
                    None => n.to_string(),
                }),
                Value::Bool(x) => b.append_value(if *x { "true" } else { "false" }),
                other => b.append_value(other.to_string()),
            },
        }
    }

    fn finish(self) -> ArrayRef {
        match self {
            Builder::Float(mut b) => Arc::new(b.finish()),
            Builder::Int(mut b) => Arc::new(b.finish()),
            Builder::Bool(mut b) => Arc::new(b.finish()),
            Builder::Text(mut b) => Arc::new(b.finish()),
        }
    }
}

/// `3` for 3.0, as a category or an integer column would print it.
fn number_text(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        format!("{f}")
    }
}

/// The feature columns of a segment: every model's features, first seen
/// first.
fn feature_columns(batches: &[LogBatch]) -> Vec<(String, Kind)> {
    let mut out: Vec<(String, Kind)> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut last_model: Option<*const crate::model::ServedModel> = None;
    for b in batches {
        // Consecutive batches of one model add nothing new.
        let ptr = Arc::as_ptr(&b.model);
        if last_model == Some(ptr) {
            continue;
        }
        last_model = Some(ptr);
        for col in b.model.columns.iter() {
            let kind = Kind::of(col.column_type);
            match index.get(col.name.as_str()) {
                Some(&i) => out[i].1 = out[i].1.join(kind),
                None => {
                    index.insert(col.name.as_str(), out.len());
                    out.push((col.name.clone(), kind));
                }
            }
        }
    }
    out
}

/// The column a feature is stored in.
fn feature_column_name(feature: &str, taken: &[String]) -> String {
    let mut name = feature.to_string();
    while FIXED_COLUMNS.contains(&name.as_str()) || taken.contains(&name) {
        name = format!("feature.{name}");
    }
    name
}

fn json_text(v: &Value) -> String {
    match v {
        // The common labels, without serde's machinery.
        Value::Number(n) => n.to_string(),
        other => serde_json::to_string(other).unwrap_or_else(|_| "null".into()),
    }
}

/// The record batch of one segment.
fn to_record_batch(batches: &[LogBatch]) -> Result<RecordBatch, Box<dyn std::error::Error>> {
    let n: usize = batches.iter().map(LogBatch::len).sum();
    let features = feature_columns(batches);

    let mut ts = Vec::with_capacity(n);
    let mut row = Vec::with_capacity(n);
    let mut request_id = StringBuilder::with_capacity(n, n * 32);
    let mut route = StringBuilder::with_capacity(n, n * 8);
    let mut role = StringBuilder::with_capacity(n, n * 8);
    let mut model_name = StringBuilder::with_capacity(n, n * 8);
    let mut model_version = StringBuilder::with_capacity(n, n * 2);
    let mut customer_id = StringBuilder::with_capacity(n, n * 8);
    let mut prediction = StringBuilder::with_capacity(n, n * 2);
    let mut probability = Float64Builder::with_capacity(n);
    let mut latency = Float64Builder::with_capacity(n);
    let mut shadow_name = StringBuilder::new();
    let mut shadow_version = StringBuilder::new();
    let mut shadow_prediction = StringBuilder::new();
    let mut shadow_probability = Float64Builder::with_capacity(n);
    let mut builders: Vec<Builder> = features.iter().map(|(_, k)| Builder::new(*k, n)).collect();

    let mut positions_by_model: HashMap<*const crate::model::ServedModel, Vec<Option<usize>>> =
        HashMap::new();
    for b in batches {
        let len = b.len();
        ts.extend(std::iter::repeat_n(b.ts, len));
        row.extend((0..len).map(|i| i as i64));
        for i in 0..len {
            request_id.append_value(&b.request_id);
            route.append_value(b.route);
            role.append_value(b.role);
            model_name.append_value(&b.model.name);
            model_version.append_value(&b.model.version);
            customer_id.append_option(b.ids.get(i).and_then(|id| id.as_deref()));
            prediction.append_value(json_text(&b.scored[i].prediction));
            probability.append_option(b.scored[i].probability);
            latency.append_value(b.latency_ms);
            match b
                .shadow
                .as_ref()
                .and_then(|s| s.rows.get(i).map(|r| (s, r)))
            {
                Some((s, r)) => {
                    shadow_name.append_value(&s.model_name);
                    shadow_version.append_value(&s.model_version);
                    shadow_prediction.append_value(json_text(&r.prediction));
                    shadow_probability.append_option(r.probability);
                }
                None => {
                    shadow_name.append_null();
                    shadow_version.append_null();
                    shadow_prediction.append_null();
                    shadow_probability.append_null();
                }
            }
        }
        let cols = &b.model.columns;
        // Where each segment feature is in this model's columns (computed
        // once per model: a segment is mostly thousands of one-row batches
        // of the same model).
        let ptr = Arc::as_ptr(&b.model);
        let positions = positions_by_model.entry(ptr).or_insert_with(|| {
            features
                .iter()
                .map(|(name, _)| cols.iter().position(|c| &c.name == name))
                .collect()
        });
        for (&position, builder) in positions.iter().zip(builders.iter_mut()) {
            let Some(c) = position else {
                builder.nulls(len);
                continue;
            };
            let name = &cols[c].name;
            match &b.features {
                LoggedFeatures::Encoded(x) => {
                    let width = cols.len();
                    for i in 0..len {
                        builder
                            .encoded(&cols[c], x.get(i * width + c).copied().unwrap_or(f64::NAN));
                    }
                }
                LoggedFeatures::Rows(rows) => {
                    for i in 0..len {
                        builder.raw(rows.get(i).and_then(|r| r.get(name)));
                    }
                }
            }
        }
    }

    let mut fields = fixed_fields();
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(TimestampMillisecondArray::from(ts).with_timezone("UTC")),
        Arc::new(request_id.finish()),
        Arc::new(Int64Array::from(row)),
        Arc::new(route.finish()),
        Arc::new(role.finish()),
        Arc::new(model_name.finish()),
        Arc::new(model_version.finish()),
        Arc::new(customer_id.finish()),
        Arc::new(prediction.finish()),
        Arc::new(probability.finish()),
        Arc::new(latency.finish()),
        Arc::new(shadow_name.finish()),
        Arc::new(shadow_version.finish()),
        Arc::new(shadow_prediction.finish()),
        Arc::new(shadow_probability.finish()),
    ];
    let mut taken: Vec<String> = Vec::with_capacity(features.len());
    let mut listed = Vec::with_capacity(features.len());
    for ((feature, kind), builder) in features.iter().zip(builders) {
        let column = feature_column_name(feature, &taken);
        fields.push(Field::new(&column, kind.data_type(), true));
        columns.push(builder.finish());
        listed.push(serde_json::json!({
            "column": column,
            "feature": feature,
            "type": kind.type_name(),
        }));
        taken.push(column);
    }
    let metadata: HashMap<String, String> = [
        (FORMAT_KEY.to_string(), FORMAT.to_string()),
        (
            FEATURES_KEY.to_string(),
            serde_json::to_string(&listed).unwrap_or_else(|_| "[]".into()),
        ),
    ]
    .into_iter()
    .collect();
    let schema: SchemaRef = Arc::new(Schema::new_with_metadata(fields, metadata));
    Ok(RecordBatch::try_new(schema, columns)?)
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
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| invalid(path, e))?;
    // The file's schema carries the metadata; the batches' may not.
    let schema = builder.schema().clone();
    let reader = builder.build().map_err(|e| invalid(path, e))?;
    let features = {
        let format = schema
            .metadata()
            .get(FORMAT_KEY)
            .map(String::as_str)
            .unwrap_or(FORMAT);
        match format {
            FORMAT => {
                let listed: Vec<Value> = match schema.metadata().get(FEATURES_KEY) {
                    Some(text) => serde_json::from_str(text)
                        .map_err(|e| invalid(path, format!("{FEATURES_KEY}: {e}")))?,
                    None => Vec::new(),
                };
                let pairs = listed
                    .iter()
                    .map(|f| {
                        let get = |k: &str| f.get(k).and_then(Value::as_str).map(str::to_string);
                        get("column")
                            .zip(get("feature"))
                            .ok_or_else(|| invalid(path, format!("{FEATURES_KEY}: bad entry {f}")))
                    })
                    .collect::<std::io::Result<Vec<(String, String)>>>()?;
                FeatureSource::Columns(pairs)
            }
            FORMAT_V2 => FeatureSource::JsonColumn,
            other => {
                return Err(invalid(
                    path,
                    format!("format {other}, expected {FORMAT} or {FORMAT_V2}"),
                ))
            }
        }
    };
    for batch in reader {
        let batch = batch.map_err(|e| invalid(path, e))?;
        read_batch(&batch, &features, out).map_err(|e| invalid(path, e))?;
    }
    Ok(())
}

/// Where a segment keeps its features.
enum FeatureSource {
    /// `slipway-predictions/3`: (column, feature) pairs.
    Columns(Vec<(String, String)>),
    /// `slipway-predictions/2`: the JSON-object column `features`.
    JsonColumn,
}

/// One cell of a typed feature column as JSON.
fn cell(a: &ArrayRef, i: usize) -> Result<Value, String> {
    if a.is_null(i) {
        return Ok(Value::Null);
    }
    Ok(match a.data_type() {
        DataType::Float64 => {
            let v = a.as_primitive::<Float64Type>().value(i);
            serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
        }
        DataType::Int64 => Value::from(a.as_primitive::<Int64Type>().value(i)),
        DataType::Boolean => Value::Bool(a.as_boolean().value(i)),
        DataType::Utf8 => Value::from(a.as_string::<i32>().value(i)),
        other => return Err(format!("a feature column of type {other}")),
    })
}

fn read_batch(
    batch: &RecordBatch,
    source: &FeatureSource,
    out: &mut Vec<PredictionRecord>,
) -> Result<(), String> {
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
    let (customer_id, prediction) = (utf8("customer_id")?, utf8("prediction")?);
    let (probability, latency_ms) = (f64_("probability")?, f64_("latency_ms")?);
    let (shadow_name, shadow_version) = (utf8("shadow_model_name")?, utf8("shadow_version")?);
    let (shadow_prediction, shadow_probability) =
        (utf8("shadow_prediction")?, f64_("shadow_probability")?);
    let feature_columns: Vec<(&str, &ArrayRef)> = match source {
        FeatureSource::Columns(pairs) => pairs
            .iter()
            .map(|(c, f)| col(c).map(|a| (f.as_str(), a)))
            .collect::<Result<_, _>>()?,
        FeatureSource::JsonColumn => Vec::new(),
    };
    let json_features = match source {
        FeatureSource::JsonColumn => Some(utf8("features")?),
        FeatureSource::Columns(_) => None,
    };
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
        let features = match json_features {
            Some(a) => match json(a, i, "features")? {
                Some(Value::Object(m)) => m,
                Some(Value::Null) | None => Map::new(),
                Some(_) => return Err(format!("row {i}: features is not a JSON object")),
            },
            None => feature_columns
                .iter()
                .map(|(f, a)| cell(a, i).map(|v| (f.to_string(), v)))
                .collect::<Result<_, _>>()?,
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
    use crate::error::ScoreError;
    use crate::model::{ModelIdentity, Output, Scorer, ServedModel};
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

    struct Never;
    impl Scorer for Never {
        fn score(&self, _: &[f64], _: usize) -> Result<Vec<ScoreRow>, ScoreError> {
            unreachable!("the log never scores")
        }
    }

    fn column(name: &str, column_type: ColumnType) -> InputColumn {
        InputColumn {
            name: name.into(),
            column_type,
            nullable: true,
            categories: (column_type == ColumnType::String)
                .then(|| vec!["basic".to_string(), "pro".to_string()]),
            strict_categories: false,
        }
    }

    fn model(version: &str, columns: Vec<InputColumn>) -> ModelRef {
        Arc::new(ServedModel::from_scorer(
            ModelIdentity {
                name: "churn".into(),
                version: version.into(),
                ..Default::default()
            },
            columns,
            Output::Classifier {
                classes: vec![json!(0), json!(1)],
                positive: 1,
            },
            Box::new(Never),
        ))
    }

    fn churn(version: &str) -> ModelRef {
        model(
            version,
            vec![
                column("tenure_days", ColumnType::Long),
                column("plan", ColumnType::String),
                column("spend", ColumnType::Double),
                column("active", ColumnType::Boolean),
                // A feature named like a fixed column.
                column("prediction", ColumnType::Double),
            ],
        )
    }

    /// Batch `i`: three rows, encoded (even i) or raw (odd i).
    fn batch(i: usize, m: &ModelRef) -> LogBatch {
        let n = 3;
        let features = if i.is_multiple_of(2) {
            let mut x = Vec::new();
            for r in 0..n {
                let plan = if r == 1 { f64::NAN } else { (r % 2) as f64 };
                x.extend([(i * 10 + r) as f64, plan, 12.5, (r % 2) as f64, 0.5]);
            }
            LoggedFeatures::Encoded(x)
        } else {
            LoggedFeatures::Rows(
                (0..n)
                    .map(|r| {
                        let mut f = Map::new();
                        f.insert("tenure_days".into(), json!(i * 10 + r));
                        // An unseen category, kept as sent.
                        f.insert("plan".into(), json!(if r == 0 { "gold" } else { "basic" }));
                        f.insert(
                            "spend".into(),
                            if r == 2 { Value::Null } else { json!(7.25) },
                        );
                        f.insert("active".into(), json!(r == 1));
                        f.insert("prediction".into(), json!(1.5));
                        f
                    })
                    .collect(),
            )
        };
        LogBatch {
            ts: 1_700_000_000_000 + i as i64,
            request_id: format!("req{i}"),
            route: "predict_batch",
            role: if i.is_multiple_of(5) {
                "canary"
            } else {
                "champion"
            },
            model: m.clone(),
            ids: (0..n)
                .map(|r| (!r.is_multiple_of(2)).then(|| format!("C{i}-{r}")))
                .collect(),
            features,
            scored: (0..n)
                .map(|r| ScoreRow {
                    prediction: if r == 0 { json!(1) } else { json!("no") },
                    probability: (r != 2).then_some(0.25 + i as f64 / 1024.0),
                })
                .collect(),
            latency_ms: 0.5 + i as f64,
            shadow: i.is_multiple_of(3).then(|| ShadowScores {
                model_name: "churn".into(),
                model_version: "9".into(),
                rows: (0..n)
                    .map(|r| ScoreRow {
                        prediction: json!(0),
                        probability: (r == 0).then_some(0.125),
                    })
                    .collect(),
            }),
        }
    }

    /// What read_log must return for `b`.
    fn expected(b: &LogBatch, all_features: &[&str]) -> Vec<PredictionRecord> {
        let rows = b.feature_rows();
        (0..b.len())
            .map(|r| {
                let mut features = Map::new();
                for f in all_features {
                    let v = rows[r].get(*f).cloned().unwrap_or(Value::Null);
                    // Stored as its column type: an integer as a long, NaN as null.
                    features.insert(f.to_string(), v);
                }
                PredictionRecord {
                    ts: b.ts,
                    request_id: b.request_id.clone(),
                    row: r,
                    route: b.route.into(),
                    role: b.role.into(),
                    model_name: b.model.name.clone(),
                    model_version: b.model.version.clone(),
                    entity_id: b.ids[r].clone(),
                    features,
                    prediction: b.scored[r].prediction.clone(),
                    probability: b.scored[r].probability,
                    latency_ms: b.latency_ms,
                    shadow: b.shadow.as_ref().map(|s| ShadowResult {
                        model_name: s.model_name.clone(),
                        model_version: s.model_version.clone(),
                        prediction: s.rows[r].prediction.clone(),
                        probability: s.rows[r].probability,
                    }),
                }
            })
            .collect()
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

    const FEATURES: [&str; 5] = ["tenure_days", "plan", "spend", "active", "prediction"];

    #[test]
    fn batches_round_trip_through_segments_in_order() {
        let dir = temp_dir("roundtrip");
        let m = churn("2");
        let log = PredictionLog::open_with(&dir, 1000, OnFull::Drop, 40, Duration::from_secs(3600))
            .unwrap();
        let sent: Vec<LogBatch> = (0..34).map(|i| batch(i, &m)).collect();
        let tx = log.sender().unwrap();
        for b in &sent {
            assert!(tx.send(b.clone()));
        }
        log.close();
        assert_eq!(log.written(), 102);
        assert_eq!(log.dropped(), 0);
        // 14 batches (42 rows) twice by size, the last 6 batches on close.
        assert_eq!(segments(&dir).unwrap().len(), 3);
        let want: Vec<PredictionRecord> =
            sent.iter().flat_map(|b| expected(b, &FEATURES)).collect();
        assert_eq!(read_log(&dir).unwrap(), want);
        // The unseen category is kept, the encoded category decoded.
        let got = read_log(&dir).unwrap();
        assert_eq!(got[3].features["plan"], "gold");
        assert_eq!(got[0].features["plan"], "basic");
        assert_eq!(got[1].features["plan"], Value::Null);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn features_are_typed_columns_named_as_the_features() {
        let dir = temp_dir("typed");
        let m = churn("2");
        let log =
            PredictionLog::open_with(&dir, 1000, OnFull::Drop, 10_000, Duration::from_secs(3600))
                .unwrap();
        let tx = log.sender().unwrap();
        tx.send(batch(0, &m));
        tx.send(batch(1, &m));
        log.close();
        let file = File::open(&segments(&dir).unwrap()[0]).unwrap();
        let b = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
        let schema = b.schema().clone();
        assert_eq!(schema.metadata().get(FORMAT_KEY).unwrap(), FORMAT);
        let fixed = fixed_fields();
        let head: Vec<Field> = schema.fields()[..fixed.len()]
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        assert_eq!(head, fixed);
        let types: Vec<(String, DataType)> = schema.fields()[fixed.len()..]
            .iter()
            .map(|f| (f.name().clone(), f.data_type().clone()))
            .collect();
        assert_eq!(
            types,
            vec![
                ("tenure_days".into(), DataType::Int64),
                ("plan".into(), DataType::Utf8),
                ("spend".into(), DataType::Float64),
                ("active".into(), DataType::Boolean),
                ("feature.prediction".into(), DataType::Float64),
            ]
        );
        let listed: Value =
            serde_json::from_str(schema.metadata().get(FEATURES_KEY).unwrap()).unwrap();
        assert_eq!(
            listed[4],
            json!({"column": "feature.prediction", "feature": "prediction", "type": "double"})
        );
        let batch = b.build().unwrap().next().unwrap().unwrap();
        let plan = batch.column_by_name("plan").unwrap().as_string::<i32>();
        let plans: Vec<Option<&str>> = plan.iter().collect();
        assert_eq!(
            plans,
            vec![
                Some("basic"),
                None,
                Some("basic"),
                Some("gold"),
                Some("basic"),
                Some("basic")
            ]
        );
        let tenure = batch
            .column_by_name("tenure_days")
            .unwrap()
            .as_primitive::<Int64Type>();
        assert_eq!(tenure.values().to_vec(), vec![0, 1, 2, 10, 11, 12]);
        let spend = batch.column_by_name("spend").unwrap();
        assert_eq!(spend.null_count(), 1);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_segment_has_the_union_of_the_models_features() {
        let dir = temp_dir("union");
        let a = churn("1");
        // The canary takes `plan` as a number and adds a feature.
        let b = model(
            "2",
            vec![
                column("plan", ColumnType::Double),
                column("region", ColumnType::String),
            ],
        );
        let log =
            PredictionLog::open_with(&dir, 1000, OnFull::Drop, 10_000, Duration::from_secs(3600))
                .unwrap();
        let tx = log.sender().unwrap();
        tx.send(batch(0, &a));
        tx.send(LogBatch {
            features: LoggedFeatures::Encoded(vec![3.0, 1.0]),
            ids: vec![None],
            scored: vec![ScoreRow {
                prediction: json!(0),
                probability: Some(0.5),
            }],
            shadow: None,
            model: b.clone(),
            ..batch(2, &a)
        });
        log.close();
        let got = read_log(&dir).unwrap();
        assert_eq!(got.len(), 4);
        // `plan` is a string in one model and a number in the other: text.
        assert_eq!(got[0].features["plan"], "basic");
        assert_eq!(got[3].features["plan"], "3");
        assert_eq!(got[3].features["region"], "pro");
        assert_eq!(got[3].features["tenure_days"], Value::Null);
        assert_eq!(got[0].features["region"], Value::Null);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_segment_is_flushed_after_the_interval_without_close() {
        let dir = temp_dir("interval");
        let m = churn("2");
        let log =
            PredictionLog::open_with(&dir, 1000, OnFull::Drop, 10_000, Duration::from_millis(50))
                .unwrap();
        let tx = log.sender().unwrap();
        tx.send(batch(0, &m));
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
        let m = churn("2");
        let log =
            PredictionLog::open_with(&dir, 1000, OnFull::Drop, 10_000, Duration::from_secs(3600))
                .unwrap();
        let tx = log.sender().unwrap();
        for i in 0..5 {
            tx.send(batch(i, &m));
        }
        std::thread::sleep(Duration::from_millis(100));
        // Neither threshold is reached: nothing on disk yet.
        assert!(segments(&dir).unwrap().is_empty());
        log.close();
        assert_eq!(read_log(&dir).unwrap().len(), 15);
        // After close, sends are dropped and their rows counted.
        assert!(!tx.send(batch(9, &m)));
        assert_eq!(log.dropped(), 3);
        assert!(log.sender().is_none());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn readers_see_only_complete_segments() {
        let dir = temp_dir("complete");
        let m = churn("2");
        // What a crash mid-write leaves behind, and a stray file: never read.
        std::fs::write(
            dir.join(".part-0000000000000-000000-x.parquet.tmp"),
            b"PAR1 torn",
        )
        .unwrap();
        std::fs::write(dir.join("notes.txt"), b"not a segment").unwrap();
        let log =
            PredictionLog::open_with(&dir, 100_000, OnFull::Drop, 7, Duration::from_millis(5))
                .unwrap();
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
        for i in 0..700 {
            tx.send(batch(i, &m));
            if i % 20 == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        reader.join().unwrap();
        log.close();
        let records = read_log(&dir).unwrap();
        assert_eq!(records.len() as u64, log.written());
        assert_eq!(log.written() + log.dropped(), 2100);
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

    /// A sender whose queue no writer drains.
    fn detached_sender(tx: Sender<LogBatch>, capacity: usize, on_full: OnFull) -> LogSender {
        LogSender {
            tx,
            queued: Arc::new(AtomicUsize::new(0)),
            capacity,
            on_full,
            room: Arc::new(Room::default()),
            closed: Arc::new(AtomicBool::new(false)),
            dropped: Arc::new(AtomicU64::new(0)),
            written: Arc::new(AtomicU64::new(0)),
        }
    }

    #[test]
    fn a_full_queue_blocks_until_the_writer_makes_room_or_the_log_closes() {
        let m = churn("2");
        // Undrained, room for 3 rows: the second batch of 3 waits.
        let (tx, _rx) = channel();
        let s = detached_sender(tx, 3, OnFull::Block);
        assert!(s.send(batch(0, &m)));
        let waiting = {
            let s = s.clone();
            let m = m.clone();
            std::thread::spawn(move || s.send(batch(1, &m)))
        };
        std::thread::sleep(Duration::from_millis(100));
        assert!(!waiting.is_finished(), "a full queue did not block");
        // Closing releases it, and its rows count as dropped.
        s.closed.store(true, Ordering::SeqCst);
        assert!(!waiting.join().unwrap());
        assert_eq!(s.dropped(), 3);

        // Through the writer: every row sent is written, none dropped.
        let dir = temp_dir("block");
        let log =
            PredictionLog::open_with(&dir, 4, OnFull::Block, 10_000, Duration::from_secs(3600))
                .unwrap();
        let tx = log.sender().unwrap();
        let sent = 5_000usize;
        let accepted = (0..sent).filter(|&i| tx.send(batch(i, &m))).count();
        log.close();
        assert_eq!(accepted, sent);
        assert_eq!(log.dropped(), 0);
        assert_eq!(log.written(), sent as u64 * 3);
        assert_eq!(read_log(&dir).unwrap().len(), sent * 3);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_full_queue_drops_and_counts_without_blocking() {
        let m = churn("2");
        // A queue nobody drains, room for 7 rows: batches of 3 rows fill it
        // after the third (a batch is taken whole when the queue is empty).
        let (tx, _rx) = channel();
        let s = detached_sender(tx, 7, OnFull::Drop);
        let start = Instant::now();
        let accepted = (0..10).filter(|&i| s.send(batch(i, &m))).count();
        assert!(start.elapsed() < Duration::from_secs(1));
        assert_eq!(accepted, 2);
        assert_eq!(s.dropped(), 24);
        // One batch larger than the whole queue is taken when it is empty.
        let (tx, _rx) = channel();
        let s = detached_sender(tx, 2, OnFull::Drop);
        assert!(s.send(batch(0, &m)));
        assert!(!s.send(batch(1, &m)));

        // Through the writer: every row sent is either written or dropped.
        let dir = temp_dir("full");
        let log =
            PredictionLog::open_with(&dir, 4, OnFull::Drop, 10_000, Duration::from_secs(3600))
                .unwrap();
        let tx = log.sender().unwrap();
        let sent = 20_000usize;
        let accepted = (0..sent).filter(|&i| tx.send(batch(i, &m))).count() as u64 * 3;
        log.close();
        assert_eq!(log.dropped(), sent as u64 * 3 - accepted);
        assert!(log.dropped() > 0, "a queue of 4 rows never filled");
        assert_eq!(log.written(), accepted);
        assert_eq!(read_log(&dir).unwrap().len() as u64, accepted);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn reads_segments_of_the_previous_format() {
        let dir = temp_dir("v2");
        let utf8 = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
        let mut fields = fixed_fields();
        fields.insert(8, utf8("features", false));
        let schema = Arc::new(Schema::new_with_metadata(
            fields,
            [(FORMAT_KEY.to_string(), FORMAT_V2.to_string())]
                .into_iter()
                .collect::<HashMap<String, String>>(),
        ));
        let s = |v: &str| -> ArrayRef { Arc::new(StringArray::from(vec![v])) };
        let none = || -> ArrayRef { Arc::new(StringArray::from(vec![None::<&str>])) };
        let f = |v: Option<f64>| -> ArrayRef { Arc::new(Float64Array::from(vec![v])) };
        let columns: Vec<ArrayRef> = vec![
            Arc::new(TimestampMillisecondArray::from(vec![1_700_000_000_000]).with_timezone("UTC")),
            s("r1"),
            Arc::new(Int64Array::from(vec![0])),
            s("predict"),
            s("champion"),
            s("churn"),
            s("1"),
            s("C1"),
            s(r#"{"plan": "basic", "tenure_days": 3}"#),
            s("1"),
            f(Some(0.75)),
            f(Some(1.5)),
            none(),
            none(),
            none(),
            f(None),
        ];
        let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
        let path = dir.join("part-0000000000001-000000-old.parquet");
        let mut w = ArrowWriter::try_new(File::create(&path).unwrap(), schema, None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        let got = read_log(&dir).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].features["plan"], "basic");
        assert_eq!(got[0].features["tenure_days"], 3);
        assert_eq!(got[0].probability, Some(0.75));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn open_refuses_a_file() {
        let dir = temp_dir("file");
        let f = dir.join("p.jsonl");
        std::fs::write(&f, b"{}\n").unwrap();
        assert!(PredictionLog::open(&f, 10, OnFull::Drop).is_err());
        let _ = std::fs::remove_dir_all(dir);
    }
}
