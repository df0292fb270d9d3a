//! The prediction log: every prediction, for monitoring. Requests push
//! records into a bounded queue without waiting (a full queue drops the
//! record and counts it); one writer thread appends them in batches to a
//! JSON-lines file and syncs it to disk at least once a second.
//!
//! Schema `slipway-predictions/1`, one JSON object per line:
//!
//! | field | type | meaning |
//! |---|---|---|
//! | `ts` | integer | Unix time, milliseconds |
//! | `request_id` | string | one id per HTTP request (rows of a batch share it) |
//! | `row` | integer | the row's index in its request |
//! | `route` | string | `predict`, `predict_batch`, `invocations`, `v2_infer` |
//! | `role` | string | `champion` or `canary`: which model answered |
//! | `model_name`, `model_version` | string | the model that answered |
//! | `entity_id` | string or null | `customer_id` (or the v2 `id`) |
//! | `features` | object | the row as validated (name -> raw value) |
//! | `prediction` | any | label (classifiers) or value (regressors) |
//! | `probability` | number or null | positive-class probability |
//! | `latency_ms` | number | request latency when the row was answered |
//! | `shadow` | object or absent | `{model_name, model_version, prediction, probability}` of the shadow model |
//!
//! [`read_log`] reads it back (the monitoring issue's entry point).

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub const FORMAT: &str = "slipway-predictions/1";

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

/// The writer thread; [`PredictionLog::close`] drains the queue and syncs.
pub struct PredictionLog {
    pub path: PathBuf,
    sender: Mutex<Option<LogSender>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    handle: LogSender,
    closing: Arc<AtomicBool>,
}

impl PredictionLog {
    /// Opens (appends to) `path`, creating its directory; `capacity` is the
    /// queue length.
    pub fn open(path: &Path, capacity: usize) -> std::io::Result<PredictionLog> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)?;
            }
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        let (tx, rx) = sync_channel(capacity.max(1));
        let sender = LogSender {
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
            written: Arc::new(AtomicU64::new(0)),
        };
        let written = sender.written.clone();
        let closing = Arc::new(AtomicBool::new(false));
        let stop = closing.clone();
        let thread = std::thread::Builder::new()
            .name("slipway-predlog".into())
            .spawn(move || writer(rx, file, written, stop))?;
        Ok(PredictionLog {
            path: path.to_path_buf(),
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

    /// Writes what is queued, syncs the file and stops the writer (records
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

fn writer(
    rx: Receiver<PredictionRecord>,
    mut file: std::fs::File,
    written: Arc<AtomicU64>,
    closing: Arc<AtomicBool>,
) {
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut last_sync = Instant::now();
    let mut dirty = false;
    loop {
        let stopping = closing.load(Ordering::SeqCst);
        let first = match rx.recv_timeout(Duration::from_millis(if stopping { 0 } else { 100 })) {
            Ok(r) => Some(r),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) if stopping => break,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => None,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        };
        let mut n = 0u64;
        if let Some(r) = first {
            write_record(&mut buf, &r);
            n += 1;
            while n < 4096 {
                match rx.try_recv() {
                    Ok(r) => {
                        write_record(&mut buf, &r);
                        n += 1;
                    }
                    Err(_) => break,
                }
            }
        }
        if !buf.is_empty() {
            if let Err(e) = file.write_all(&buf) {
                tracing::error!("prediction log: cannot write: {e}");
            } else {
                written.fetch_add(n, Ordering::Relaxed);
            }
            buf.clear();
            dirty = true;
        }
        if dirty && last_sync.elapsed() >= Duration::from_secs(1) {
            let _ = file.sync_data();
            last_sync = Instant::now();
            dirty = false;
        }
    }
    if !buf.is_empty() {
        let _ = file.write_all(&buf);
    }
    let _ = file.sync_data();
}

fn write_record(buf: &mut Vec<u8>, r: &PredictionRecord) {
    if serde_json::to_writer(&mut *buf, r).is_ok() {
        buf.push(b'\n');
    }
}

/// Reads a prediction log; a torn last line (a crash mid-write) is skipped.
pub fn read_log(path: &Path) -> std::io::Result<Vec<PredictionRecord>> {
    let file = std::fs::File::open(path)?;
    let mut out = Vec::new();
    for line in std::io::BufReader::new(file).lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        if let Ok(r) = serde_json::from_str(&line) {
            out.push(r);
        }
    }
    Ok(out)
}
