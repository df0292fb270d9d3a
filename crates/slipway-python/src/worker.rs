//! Python worker processes that serve one MLflow `python_function` model.
//!
//! Each worker is `PYTHON pyfunc_worker.py` (the script is embedded in the
//! binary, [`WORKER_SCRIPT`], and written to a temporary directory), which
//! loads the model with `mlflow.pyfunc.load_model` and answers batches. The
//! channel is the worker's stdin/stdout, in frames: 1 byte kind, 4 bytes
//! little-endian length, a JSON payload (the script's docstring lists the
//! kinds). A batch goes column-major, `{"segments": [n1, n2, ...],
//! "columns": [[...], ...]}`: the rows of several requests, `n1` rows of
//! the first, then `n2` of the second...; the answer has one result per
//! request, the JSON `mlflow models serve` would answer for those rows
//! alone (the batch is predicted at once, and request by request when the
//! model does not answer one item per row or raises). Column-major JSON was
//! measured against dataframe_split rows and Arrow IPC (bench/serving/
//! pyfunc.sh and its README): fastest for one-row batches, within tens of
//! microseconds of Arrow at 100 rows, and it needs no pyarrow.
//!
//! [`WorkerPool`] runs `workers` processes, each driven by one supervisor
//! task that takes batches from the shared [`Batcher`] whenever its process
//! is free. A worker that dies (or outlives `predict_timeout` and is
//! killed) fails the requests of its batch with a message saying so, and is
//! restarted; while no worker can be started, requests fail at once instead
//! of waiting. Workers run in their own process group (a terminal's Ctrl-C
//! is for `slipway serve`, which stops them) and exit at the end of their
//! stdin, so they also end when the server dies.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::task::JoinHandle;

use crate::batch::{BatchConfig, BatchStats, Batcher, Failure};

/// The worker program (Python), written out for the interpreter to run.
pub const WORKER_SCRIPT: &str = include_str!("../python/pyfunc_worker.py");

/// File name of the written-out [`WORKER_SCRIPT`].
pub const WORKER_SCRIPT_NAME: &str = "slipway_pyfunc_worker.py";

/// Default [`PoolConfig::predict_timeout`]: as `mlflow models serve`'s
/// `MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT`.
pub const DEFAULT_PREDICT_TIMEOUT: Duration = Duration::from_secs(60);

/// Default [`PoolConfig::start_timeout`]: loading a model may download or
/// unpickle a lot.
pub const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(300);

/// Lines of a worker's stderr kept for the message when it fails.
const STDERR_TAIL: usize = 30;

/// First and longest pause between failed restarts (doubling in between).
const RESTART_FIRST: Duration = Duration::from_millis(500);
const RESTART_MAX: Duration = Duration::from_secs(30);

/// How long a stopping worker may take to exit by itself before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// One input column: its name and MLflow type (`long`, `integer`,
/// `double`, `float`, `boolean`, `string`), in the order of the rows' values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnSpec {
    pub name: String,
    pub column_type: String,
}

/// What a pool serves, with what, and how.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// The interpreter: one with `mlflow` and the model's requirements.
    pub python: PathBuf,
    /// The model directory (its `MLmodel` file and artifacts), local.
    pub model_dir: PathBuf,
    /// The signature's input columns, in the order of each row's values.
    pub columns: Vec<ColumnSpec>,
    /// Worker processes (at least 1).
    pub workers: usize,
    pub batch: BatchConfig,
    /// A batch taking longer is failed and its worker killed and restarted.
    pub predict_timeout: Duration,
    /// A worker not ready (model loaded) after this long is a failed start.
    pub start_timeout: Duration,
    /// Tests: a plain Python module whose `predict(rows)` is the model.
    plain_module: Option<PathBuf>,
}

impl PoolConfig {
    /// One worker, default batching and timeouts.
    pub fn new(
        python: impl Into<PathBuf>,
        model_dir: impl Into<PathBuf>,
        columns: Vec<ColumnSpec>,
    ) -> Self {
        PoolConfig {
            python: python.into(),
            model_dir: model_dir.into(),
            columns,
            workers: 1,
            batch: BatchConfig::default(),
            predict_timeout: DEFAULT_PREDICT_TIMEOUT,
            start_timeout: DEFAULT_START_TIMEOUT,
            plain_module: None,
        }
    }
}

/// What a worker reported once its model was loaded.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WorkerInfo {
    pub pid: u32,
    /// Python version, e.g. `3.11.7`.
    pub python: String,
    #[serde(default)]
    pub mlflow: Option<String>,
    #[serde(default)]
    pub pandas: Option<String>,
    /// The model's `python_function` loader (e.g. `mlflow.sklearn`).
    #[serde(default)]
    pub loader_module: Option<String>,
}

/// Why the pool did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot write the worker script into a temporary directory: {0}")]
    Script(std::io::Error),
    #[error("cannot run the Python interpreter {python}: {source}")]
    Spawn {
        python: String,
        source: std::io::Error,
    },
    #[error("the Python worker ({python}) cannot load the model: {message}\n{traceback}")]
    Load {
        python: String,
        message: String,
        traceback: String,
    },
    #[error("the Python worker ({python}) {status} before it was ready{stderr}")]
    Exited {
        python: String,
        status: String,
        stderr: String,
    },
    #[error("the Python worker ({python}) was not ready after {timeout:?} (loading the model)")]
    Timeout { python: String, timeout: Duration },
}

/// Why a request got no predictions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PredictError {
    /// The model raised on the request's rows (`mlflow models serve`
    /// answers 400 then): the message names the exception.
    #[error("{0}")]
    Model(String),
    /// No answer from the model: its worker died or timed out (and is being
    /// restarted), or the pool is stopping.
    #[error("{0}")]
    Unavailable(String),
}

/// A snapshot for `/health` and `/metrics`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolStats {
    /// Configured worker processes.
    pub workers: usize,
    /// Process ids of the workers running now (by worker slot).
    pub pids: Vec<u32>,
    /// Workers started again after one died or was killed.
    pub restarts: u64,
    pub batches: BatchStats,
}

/// One request's answer from the worker: the model's JSON, or its error.
type Answer = Result<Value, String>;

struct Shared {
    config: PoolConfig,
    script: PathBuf,
    batcher: Batcher<Vec<Value>, Answer>,
    live: AtomicUsize,
    restarts: AtomicU64,
    pids: Mutex<Vec<Option<u32>>>,
    /// The workers' working directory, holding the script; removed with
    /// the pool (after the last worker stopped).
    work_dir: tempfile::TempDir,
}

impl Shared {
    fn set_pid(&self, slot: usize, pid: Option<u32>) {
        let mut pids = self.pids.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = pids.get_mut(slot) {
            *p = pid;
        }
    }

    fn python(&self) -> String {
        self.config.python.display().to_string()
    }
}

/// The worker processes of one model, and the batcher in front of them.
pub struct WorkerPool {
    shared: Arc<Shared>,
    info: WorkerInfo,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for WorkerPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerPool")
            .field("python", &self.shared.config.python)
            .field("model_dir", &self.shared.config.model_dir)
            .field("workers", &self.shared.config.workers)
            .finish()
    }
}

impl WorkerPool {
    /// Starts `config.workers` processes and waits until each has loaded the
    /// model; any failure stops the others and is returned (with the
    /// worker's traceback or the end of its stderr).
    pub async fn start(mut config: PoolConfig) -> Result<WorkerPool, StartError> {
        config.workers = config.workers.max(1);
        let dir = tempfile::Builder::new()
            .prefix("slipway-pyfunc-")
            .tempdir()
            .map_err(StartError::Script)?;
        let script = dir.path().join(WORKER_SCRIPT_NAME);
        std::fs::write(&script, WORKER_SCRIPT).map_err(StartError::Script)?;
        let workers = config.workers;
        let shared = Arc::new(Shared {
            batcher: Batcher::new(config.batch),
            config,
            script,
            live: AtomicUsize::new(0),
            restarts: AtomicU64::new(0),
            pids: Mutex::new(vec![None; workers]),
            work_dir: dir,
        });
        let starting: Vec<_> = (0..workers)
            .map(|_| {
                let shared = shared.clone();
                tokio::spawn(async move { Process::spawn(&shared).await })
            })
            .collect();
        let mut processes = Vec::with_capacity(workers);
        let mut first_error = None;
        for handle in starting {
            match handle.await {
                Ok(Ok(p)) => processes.push(p),
                Ok(Err(e)) => {
                    first_error.get_or_insert(e);
                }
                Err(e) => {
                    first_error.get_or_insert(StartError::Spawn {
                        python: shared.python(),
                        source: std::io::Error::other(e.to_string()),
                    });
                }
            }
        }
        if let Some(e) = first_error {
            for (p, _) in processes {
                p.stop().await;
            }
            return Err(e);
        }
        let info = processes[0].1.clone();
        let mut tasks = Vec::with_capacity(workers);
        for (slot, (process, _)) in processes.into_iter().enumerate() {
            shared.set_pid(slot, Some(process.pid));
            shared.live.fetch_add(1, Ordering::SeqCst);
            tasks.push(tokio::spawn(supervise(shared.clone(), slot, Some(process))));
        }
        Ok(WorkerPool {
            shared,
            info,
            tasks: Mutex::new(tasks),
        })
    }

    /// What the first worker reported when it was ready.
    pub fn info(&self) -> &WorkerInfo {
        &self.info
    }

    pub fn config(&self) -> &PoolConfig {
        &self.shared.config
    }

    /// Scores rows (values in column order, validated): the JSON the model
    /// answers for them, as `mlflow models serve` would.
    pub async fn predict(&self, rows: Vec<Vec<Value>>) -> Result<Value, PredictError> {
        let ticket = self.submit(rows)?;
        resolve(ticket.await)
    }

    /// [`WorkerPool::predict`] for a thread that may block (the blocking
    /// pool, a plain thread, also inside `Handle::block_on` there); on an
    /// async runtime worker it would hold that thread until answered.
    pub fn predict_blocking(&self, rows: Vec<Vec<Value>>) -> Result<Value, PredictError> {
        let ticket = self.submit(rows)?;
        resolve(park_until_ready(ticket))
    }

    fn submit(&self, rows: Vec<Vec<Value>>) -> Result<crate::batch::Ticket<Answer>, PredictError> {
        self.shared.batcher.submit(rows).map_err(|_| {
            PredictError::Unavailable(
                "the model's Python workers are stopped (the model was replaced or the server \
                 is shutting down): retry the request"
                    .into(),
            )
        })
    }

    pub fn stats(&self) -> PoolStats {
        let pids = self
            .shared
            .pids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .flatten()
            .copied()
            .collect();
        PoolStats {
            workers: self.shared.config.workers,
            pids,
            restarts: self.shared.restarts.load(Ordering::Relaxed),
            batches: self.shared.batcher.stats(),
        }
    }

    /// Takes no more requests; those queued and in flight are still
    /// answered, then the workers exit.
    pub fn close(&self) {
        self.shared.batcher.close();
    }

    /// [`WorkerPool::close`], then waits until every worker has stopped.
    pub async fn shutdown(&self) {
        self.close();
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        for t in tasks {
            let _ = t.await;
        }
        // Nothing is left to take what may still be queued.
        while let Some(batch) = self.shared.batcher.next_batch().await {
            batch.fail("the model's Python workers stopped before answering: retry the request");
        }
    }
}

impl Drop for WorkerPool {
    fn drop(&mut self) {
        self.close();
    }
}

/// Waits for a future by parking the thread (tokio's own blocking waits
/// refuse to run inside `block_on`, where the engine's async `/predict`
/// runs when its model is scored by workers).
fn park_until_ready<F: std::future::Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park();
    }
}

fn resolve(
    received: Result<Result<Answer, Failure>, tokio::sync::oneshot::error::RecvError>,
) -> Result<Value, PredictError> {
    match received {
        Ok(Ok(Ok(v))) => Ok(v),
        Ok(Ok(Err(message))) => Err(PredictError::Model(message)),
        Ok(Err(Failure(message))) => Err(PredictError::Unavailable(message)),
        Err(_) => Err(PredictError::Unavailable(
            "the model's Python workers stopped before answering: retry the request".into(),
        )),
    }
}

/// One worker slot: takes batches while its process runs; replaces the
/// process when it dies; returns once the batcher is closed and drained.
async fn supervise(shared: Arc<Shared>, slot: usize, mut process: Option<Process>) {
    let mut backoff = RESTART_FIRST;
    loop {
        if process.is_none() {
            if shared.batcher.is_closed() {
                return;
            }
            match Process::spawn(&shared).await {
                Ok((p, _)) => {
                    shared.set_pid(slot, Some(p.pid));
                    shared.live.fetch_add(1, Ordering::SeqCst);
                    shared.restarts.fetch_add(1, Ordering::Relaxed);
                    tracing::info!("Python worker {slot} restarted (pid {})", p.pid);
                    process = Some(p);
                    backoff = RESTART_FIRST;
                }
                Err(e) => {
                    tracing::error!(
                        "Python worker {slot} cannot be restarted: {e}; next try in {backoff:?}"
                    );
                    let message = format!(
                        "the model's Python workers are down and cannot be restarted ({e})"
                    );
                    let until = tokio::time::Instant::now() + backoff;
                    loop {
                        // While no worker runs, requests fail at once rather than wait.
                        let none_live = shared.live.load(Ordering::SeqCst) == 0;
                        tokio::select! {
                            _ = tokio::time::sleep_until(until) => break,
                            batch = shared.batcher.next_batch(), if none_live => match batch {
                                Some(b) => b.fail(&message),
                                None => return,
                            },
                        }
                    }
                    backoff = (backoff * 2).min(RESTART_MAX);
                    continue;
                }
            }
        }
        let Some(batch) = shared.batcher.next_batch().await else {
            break;
        };
        let Some(p) = process.as_mut() else {
            batch.fail("internal error: a worker took a batch without a process");
            continue;
        };
        let frame = encode_batch(shared.config.columns.len(), batch.segments());
        let outcome = tokio::time::timeout(shared.config.predict_timeout, p.predict(&frame)).await;
        let failure = match outcome {
            Ok(Ok(answers)) => {
                batch.answer(answers.into_iter().map(Ok).collect());
                continue;
            }
            Ok(Err(e)) => e,
            Err(_) => format!(
                "the model did not answer within {:?} (the predict timeout)",
                shared.config.predict_timeout
            ),
        };
        let Some(p) = process.take() else { continue };
        shared.live.fetch_sub(1, Ordering::SeqCst);
        shared.set_pid(slot, None);
        let (pid, tail) = (p.pid, p.stderr_tail());
        let status = p.kill().await;
        let message = format!(
            "the model's Python worker (pid {pid}) {} while scoring this request ({failure}); \
             it is being restarted: retry the request",
            describe_exit(status)
        );
        tracing::warn!("{message}. The end of its stderr:\n{tail}");
        batch.fail(&message);
    }
    if let Some(p) = process {
        shared.live.fetch_sub(1, Ordering::SeqCst);
        shared.set_pid(slot, None);
        p.stop().await;
    }
}

/// A batch frame: `{"segments": [...], "columns": [[...], ...]}`.
fn encode_batch<'a>(
    width: usize,
    segments: impl Iterator<Item = &'a [Vec<Value>]> + Clone,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(&[b'P', 0, 0, 0, 0]);
    out.extend_from_slice(b"{\"segments\":[");
    for (i, s) in segments.clone().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(s.len().to_string().as_bytes());
    }
    out.extend_from_slice(b"],\"columns\":[");
    for c in 0..width {
        if c > 0 {
            out.push(b',');
        }
        out.push(b'[');
        let mut first = true;
        for row in segments.clone().flatten() {
            if !first {
                out.push(b',');
            }
            first = false;
            match row.get(c) {
                // A Value always serialises.
                Some(v) => serde_json::to_writer(&mut out, v).unwrap_or_default(),
                None => out.extend_from_slice(b"null"),
            }
        }
        out.push(b']');
    }
    out.extend_from_slice(b"]}");
    let len = (out.len() - 5) as u32;
    out[1..5].copy_from_slice(&len.to_le_bytes());
    out
}

fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 5);
    out.push(kind);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

async fn read_frame(r: &mut (impl AsyncRead + Unpin)) -> std::io::Result<(u8, Vec<u8>)> {
    let mut header = [0u8; 5];
    r.read_exact(&mut header).await?;
    let len = u32::from_le_bytes([header[1], header[2], header[3], header[4]]) as usize;
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload).await?;
    Ok((header[0], payload))
}

#[derive(Deserialize)]
struct Fatal {
    message: String,
    #[serde(default)]
    traceback: String,
}

#[derive(Deserialize)]
struct Output {
    results: Vec<SegmentResult>,
}

#[derive(Deserialize)]
struct SegmentResult {
    #[serde(default)]
    ok: Value,
    #[serde(default)]
    error: Option<String>,
}

/// "exited with code 1", "was killed by signal 9 (SIGKILL)".
fn describe_exit(status: Option<ExitStatus>) -> String {
    let Some(status) = status else {
        return "stopped answering".into();
    };
    if let Some(code) = status.code() {
        return format!("exited with code {code}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            let name = match signal {
                6 => " (SIGABRT)",
                9 => " (SIGKILL)",
                11 => " (SIGSEGV)",
                15 => " (SIGTERM)",
                _ => "",
            };
            return format!("was killed by signal {signal}{name}");
        }
    }
    format!("stopped ({status})")
}

/// One running worker process.
struct Process {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    pid: u32,
    tail: Arc<Mutex<VecDeque<String>>>,
}

impl Process {
    /// Starts a worker and waits until its model is loaded.
    async fn spawn(shared: &Shared) -> Result<(Process, WorkerInfo), StartError> {
        let config = &shared.config;
        let python = shared.python();
        let mut cmd = Command::new(&config.python);
        cmd.arg(&shared.script)
            // Its own directory: what mlflow writes into the working
            // directory (mlflow 2 creates ./mlruns when loading a model) goes
            // away with the pool, not into the server's.
            .current_dir(shared.work_dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env("PYTHONUNBUFFERED", "1")
            .kill_on_drop(true);
        #[cfg(unix)]
        cmd.process_group(0);
        let mut child = cmd.spawn().map_err(|source| StartError::Spawn {
            python: python.clone(),
            source,
        })?;
        let pid = child.id().unwrap_or(0);
        let tail = Arc::new(Mutex::new(VecDeque::with_capacity(STDERR_TAIL)));
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(forward_stderr(stderr, pid, tail.clone()));
        }
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(StartError::Spawn {
                python,
                source: std::io::Error::other("the worker's pipes are missing"),
            });
        };
        let mut p = Process {
            child,
            stdin: Some(stdin),
            stdout: BufReader::new(stdout),
            pid,
            tail,
        };
        let hello = serde_json::json!({
            "model_dir": config.model_dir,
            "plain_module": config.plain_module,
            "columns": config
                .columns
                .iter()
                .map(|c| serde_json::json!({"name": c.name, "type": c.column_type}))
                .collect::<Vec<_>>(),
        });
        let hello = frame(b'H', hello.to_string().as_bytes());
        let ready = async {
            p.write(&hello).await?;
            read_frame(&mut p.stdout).await
        };
        let answer = tokio::time::timeout(config.start_timeout, ready).await;
        let failed = |p: Process, status: Option<ExitStatus>| StartError::Exited {
            python: python.clone(),
            status: describe_exit(status),
            stderr: match p.stderr_tail() {
                t if t.is_empty() => String::new(),
                t => format!("; the end of its stderr:\n{t}"),
            },
        };
        match answer {
            Err(_) => {
                p.kill().await;
                Err(StartError::Timeout {
                    python,
                    timeout: config.start_timeout,
                })
            }
            Ok(Ok((b'R', payload))) => match serde_json::from_slice::<WorkerInfo>(&payload) {
                Ok(info) => Ok((p, info)),
                Err(e) => {
                    p.kill().await;
                    Err(StartError::Load {
                        python,
                        message: format!("the worker's ready message is not understood: {e}"),
                        traceback: String::new(),
                    })
                }
            },
            Ok(Ok((b'E', payload))) => {
                let fatal: Fatal = serde_json::from_slice(&payload).unwrap_or(Fatal {
                    message: String::from_utf8_lossy(&payload).into_owned(),
                    traceback: String::new(),
                });
                p.kill().await;
                Err(StartError::Load {
                    python,
                    message: fatal.message,
                    traceback: fatal.traceback,
                })
            }
            Ok(Ok((kind, _))) => {
                p.kill().await;
                Err(StartError::Load {
                    python,
                    message: format!("the worker sent frame kind {kind} before it was ready"),
                    traceback: String::new(),
                })
            }
            Ok(Err(_)) => {
                let status = p.reap().await;
                // The stderr reader may still be catching up with the last lines.
                tokio::time::sleep(Duration::from_millis(50)).await;
                Err(failed(p, status))
            }
        }
    }

    async fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| std::io::Error::other("the worker's stdin is closed"))?;
        stdin.write_all(bytes).await?;
        stdin.flush().await
    }

    /// Sends one batch frame and reads the answers (one per segment);
    /// Err: the worker failed (died, or answered nonsense).
    async fn predict(&mut self, batch: &[u8]) -> Result<Vec<Answer>, String> {
        self.write(batch)
            .await
            .map_err(|e| format!("cannot send it the batch: {e}"))?;
        let (kind, payload) = read_frame(&mut self.stdout)
            .await
            .map_err(|e| format!("no answer: {e}"))?;
        match kind {
            b'O' => {
                let out: Output = serde_json::from_slice(&payload)
                    .map_err(|e| format!("its answer is not understood: {e}"))?;
                Ok(out
                    .results
                    .into_iter()
                    .map(|r| match r.error {
                        Some(e) => Err(e),
                        None => Ok(r.ok),
                    })
                    .collect())
            }
            b'E' => {
                let fatal: Option<Fatal> = serde_json::from_slice(&payload).ok();
                Err(fatal.map_or_else(|| "a fatal error".into(), |f| f.message))
            }
            other => Err(format!("unexpected frame kind {other}")),
        }
    }

    fn stderr_tail(&self) -> String {
        let tail = self.tail.lock().unwrap_or_else(|p| p.into_inner());
        tail.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    /// Waits briefly for a process that is exiting; kills it if it does not.
    async fn reap(&mut self) -> Option<ExitStatus> {
        self.stdin.take();
        match tokio::time::timeout(Duration::from_secs(2), self.child.wait()).await {
            Ok(Ok(status)) => Some(status),
            _ => {
                let _ = self.child.start_kill();
                self.child.wait().await.ok()
            }
        }
    }

    /// Kills the process (it is stuck or broken); returns how it ended.
    async fn kill(mut self) -> Option<ExitStatus> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return Some(status);
        }
        // A process that just died may not be reaped yet: a moment first.
        if let Ok(Ok(status)) =
            tokio::time::timeout(Duration::from_millis(100), self.child.wait()).await
        {
            return Some(status);
        }
        let _ = self.child.start_kill();
        self.child.wait().await.ok()
    }

    /// Ends the process: end of input, then a kill after the grace period.
    async fn stop(mut self) {
        self.stdin.take();
        if tokio::time::timeout(STOP_GRACE, self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.start_kill();
            let _ = self.child.wait().await;
        }
    }
}

/// A worker's stderr goes to the server's log, its last lines kept.
async fn forward_stderr(
    stderr: tokio::process::ChildStderr,
    pid: u32,
    tail: Arc<Mutex<VecDeque<String>>>,
) {
    let mut lines = BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::info!("python[{pid}]: {line}");
        let mut t = tail.lock().unwrap_or_else(|p| p.into_inner());
        if t.len() == STDERR_TAIL {
            t.pop_front();
        }
        t.push_back(line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A fake model for the worker script's plain-module mode: rows are
    /// `[word, number]`; the word says what to do.
    const FAKE_MODEL: &str = r#"
import os, time
if os.environ.get("FAKE_MODEL_FAIL_LOAD"):
    raise RuntimeError("cannot load: " + os.environ["FAKE_MODEL_FAIL_LOAD"])

def predict(rows):
    out = []
    for word, number in rows:
        if word == "kill":
            os.kill(os.getpid(), 9)
        if word == "exit":
            os._exit(3)
        if word == "sleep":
            time.sleep(number)
        if word == "raise":
            raise ValueError("the model refuses " + repr(word))
        if word == "nan":
            out.append(float("nan"))
            continue
        if word == "object":
            out.append(object())
            continue
        print("a print in the model goes to stderr")
        out.append({"word": word, "number": number, "pid": os.getpid()})
    if rows and rows[0][0] == "aggregate":
        return {"rows": len(rows)}
    return out
"#;

    /// `python3` on PATH: the tests need it (CI has it); failing, never skipping.
    fn python() -> PathBuf {
        let ok = std::process::Command::new("python3")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(ok, "these tests need python3 on PATH");
        PathBuf::from("python3")
    }

    fn config(dir: &tempfile::TempDir, workers: usize, wait_ms: u64) -> PoolConfig {
        let module = dir.path().join("fake_model.py");
        std::fs::write(&module, FAKE_MODEL).unwrap();
        let mut c = PoolConfig::new(
            python(),
            dir.path(),
            vec![
                ColumnSpec {
                    name: "word".into(),
                    column_type: "string".into(),
                },
                ColumnSpec {
                    name: "number".into(),
                    column_type: "double".into(),
                },
            ],
        );
        c.workers = workers;
        c.batch = BatchConfig {
            max_batch_size: 64,
            max_wait: Duration::from_millis(wait_ms),
        };
        c.plain_module = Some(module);
        c
    }

    fn row(word: &str, number: f64) -> Vec<Value> {
        vec![json!(word), json!(number)]
    }

    fn alive(pid: u32) -> bool {
        // Reaped processes leave no /proc entry.
        std::path::Path::new(&format!("/proc/{pid}")).exists()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_requests_are_batched_and_each_gets_its_own_rows_back() {
        let dir = tempfile::tempdir().unwrap();
        let pool = Arc::new(WorkerPool::start(config(&dir, 2, 20)).await.unwrap());
        assert_eq!(pool.info().python.split('.').next(), Some("3"));
        assert_eq!(pool.stats().pids.len(), 2);
        let calls: Vec<_> = (0..40)
            .map(|i| {
                let pool = pool.clone();
                tokio::spawn(async move {
                    let rows: Vec<_> = (0..=i % 3)
                        .map(|k| row(&format!("r{i}-{k}"), f64::from(i)))
                        .collect();
                    (i, rows.len(), pool.predict(rows).await)
                })
            })
            .collect();
        for c in calls {
            let (i, n, got) = c.await.unwrap();
            let got = got.unwrap();
            let got = got.as_array().unwrap();
            assert_eq!(got.len(), n);
            for (k, item) in got.iter().enumerate() {
                assert_eq!(item["word"], json!(format!("r{i}-{k}")));
                assert_eq!(item["number"], json!(f64::from(i)));
            }
        }
        let stats = pool.stats();
        assert_eq!(stats.batches.requests, 40);
        assert!(stats.batches.batches < 40, "no batching: {stats:?}");
        assert_eq!(stats.restarts, 0);
        pool.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_model_error_fails_only_its_own_request() {
        let dir = tempfile::tempdir().unwrap();
        let pool = Arc::new(WorkerPool::start(config(&dir, 1, 50)).await.unwrap());
        // While the worker is busy, the three queue and go as one batch.
        let busy = pool.predict(vec![row("sleep", 0.3)]);
        let three = async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            tokio::join!(
                pool.predict(vec![row("a", 1.0)]),
                pool.predict(vec![row("raise", 2.0), row("b", 2.0)]),
                pool.predict(vec![row("c", 3.0)]),
            )
        };
        let (first, (a, b, c)) = tokio::join!(busy, three);
        assert!(first.is_ok());
        assert_eq!(a.unwrap()[0]["word"], "a");
        assert_eq!(c.unwrap()[0]["word"], "c");
        assert_eq!(
            b.unwrap_err(),
            PredictError::Model("ValueError: the model refuses 'raise'".into())
        );
        let stats = pool.stats().batches;
        assert_eq!(
            (stats.batches, stats.requests),
            (2, 4),
            "the three went as one batch"
        );
        // NaN is not JSON: null; an answer that is not JSON is that request's error.
        assert_eq!(
            pool.predict(vec![row("nan", 0.0)]).await.unwrap(),
            json!([null])
        );
        let e = pool.predict(vec![row("object", 0.0)]).await.unwrap_err();
        assert!(
            matches!(&e, PredictError::Model(m) if m.contains("not JSON-serializable")),
            "{e:?}"
        );
        // A model that does not answer one item per row: each request alone.
        let busy = pool.predict(vec![row("sleep", 0.3)]);
        let two = async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            tokio::join!(
                pool.predict(vec![row("aggregate", 0.0), row("x", 0.0)]),
                pool.predict(vec![row("aggregate", 0.0)]),
            )
        };
        let (_, (x, y)) = tokio::join!(busy, two);
        assert_eq!(
            (x.unwrap(), y.unwrap()),
            (json!({"rows": 2}), json!({"rows": 1}))
        );
        assert_eq!(pool.stats().batches.batches, 6);
        pool.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_crashed_worker_fails_its_requests_and_is_restarted() {
        let dir = tempfile::tempdir().unwrap();
        let pool = Arc::new(WorkerPool::start(config(&dir, 1, 50)).await.unwrap());
        let first_pid = pool.stats().pids[0];
        // Both requests are in the batch the worker dies on (queued while
        // it was busy).
        let busy = pool.predict(vec![row("sleep", 0.3)]);
        let both = async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            tokio::join!(
                pool.predict(vec![row("a", 1.0)]),
                pool.predict(vec![row("kill", 0.0)]),
            )
        };
        let (first, (a, b)) = tokio::join!(busy, both);
        assert!(first.is_ok());
        for r in [a, b] {
            let e = r.unwrap_err();
            let PredictError::Unavailable(m) = &e else {
                panic!("{e:?}")
            };
            assert!(
                m.contains(&format!("(pid {first_pid}) was killed by signal 9")),
                "{m}"
            );
            assert!(m.contains("being restarted"), "{m}");
        }
        // The next request is answered by a new process.
        let got = pool.predict(vec![row("after", 1.0)]).await.unwrap();
        let second_pid = got[0]["pid"].as_u64().unwrap() as u32;
        assert_ne!(second_pid, first_pid);
        assert!(!alive(first_pid));
        assert_eq!(pool.stats().restarts, 1);
        assert_eq!(pool.stats().pids, vec![second_pid]);

        // Killed from outside while scoring: the request fails at once, not
        // after the model's 30 s.
        let busy = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.predict(vec![row("sleep", 30.0)]).await })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        let started = std::time::Instant::now();
        std::process::Command::new("kill")
            .args(["-9", &second_pid.to_string()])
            .status()
            .unwrap();
        let e = busy.await.unwrap().unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(
            matches!(&e, PredictError::Unavailable(m) if m.contains("signal 9")),
            "{e:?}"
        );
        // An exit code is reported as such.
        let e = pool.predict(vec![row("exit", 0.0)]).await.unwrap_err();
        assert!(
            matches!(&e, PredictError::Unavailable(m) if m.contains("exited with code 3")),
            "{e:?}"
        );
        assert!(pool.predict(vec![row("ok", 1.0)]).await.is_ok());
        assert_eq!(pool.stats().restarts, 3);
        pool.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_over_the_timeout_fails_and_its_worker_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = config(&dir, 1, 0);
        c.predict_timeout = Duration::from_millis(500);
        let pool = WorkerPool::start(c).await.unwrap();
        let pid = pool.stats().pids[0];
        let e = pool.predict(vec![row("sleep", 30.0)]).await.unwrap_err();
        assert!(
            matches!(&e, PredictError::Unavailable(m) if m.contains("did not answer within 500ms")),
            "{e:?}"
        );
        assert!(!alive(pid));
        assert!(pool.predict(vec![row("ok", 1.0)]).await.is_ok());
        pool.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_model_that_cannot_load_is_a_start_error_with_its_traceback() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = config(&dir, 2, 0);
        // The worker script's plain mode imports the module at load.
        let module = dir.path().join("broken.py");
        std::fs::write(&module, "import no_such_module_for_slipway\n").unwrap();
        c.plain_module = Some(module);
        let e = WorkerPool::start(c).await.unwrap_err().to_string();
        assert!(e.contains("cannot load the model"), "{e}");
        assert!(e.contains("ModuleNotFoundError"), "{e}");
        assert!(e.contains("no_such_module_for_slipway"), "{e}");

        let mut c = config(&dir, 1, 0);
        c.python = dir.path().join("no-such-python");
        let e = WorkerPool::start(c).await.unwrap_err().to_string();
        assert!(
            e.contains("cannot run the Python interpreter") && e.contains("no-such-python"),
            "{e}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn shutdown_answers_what_is_in_flight_then_stops_the_workers() {
        let dir = tempfile::tempdir().unwrap();
        let pool = Arc::new(WorkerPool::start(config(&dir, 2, 0)).await.unwrap());
        let pids = pool.stats().pids;
        let in_flight = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.predict(vec![row("sleep", 0.3)]).await })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        pool.shutdown().await;
        assert!(in_flight.await.unwrap().is_ok(), "drained before stopping");
        let e = pool.predict(vec![row("late", 0.0)]).await.unwrap_err();
        assert!(
            matches!(&e, PredictError::Unavailable(m) if m.contains("stopped")),
            "{e:?}"
        );
        assert!(pool.stats().pids.is_empty());
        for pid in pids {
            assert!(!alive(pid), "worker {pid} still running");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn blocking_callers_are_answered_too() {
        let dir = tempfile::tempdir().unwrap();
        let pool = Arc::new(WorkerPool::start(config(&dir, 1, 5)).await.unwrap());
        let calls: Vec<_> = (0..8)
            .map(|i| {
                let pool = pool.clone();
                tokio::task::spawn_blocking(move || {
                    pool.predict_blocking(vec![row(&format!("b{i}"), 0.0)])
                })
            })
            .collect();
        for (i, c) in calls.into_iter().enumerate() {
            assert_eq!(c.await.unwrap().unwrap()[0]["word"], json!(format!("b{i}")));
        }
        // Also from async code driven by `block_on` on a blocking thread.
        let (p, handle) = (pool.clone(), tokio::runtime::Handle::current());
        let inside = tokio::task::spawn_blocking(move || {
            handle.block_on(async { p.predict_blocking(vec![row("in block_on", 0.0)]) })
        });
        assert_eq!(inside.await.unwrap().unwrap()[0]["word"], "in block_on");
        pool.shutdown().await;
    }

    #[test]
    fn a_batch_frame_is_column_major_with_the_request_sizes() {
        let a = vec![row("x", 1.0), row("y", 2.5)];
        let b = vec![vec![json!("z"), Value::Null]];
        let segments = [a.as_slice(), b.as_slice()];
        let f = encode_batch(2, segments.iter().copied());
        assert_eq!(f[0], b'P');
        assert_eq!(
            u32::from_le_bytes([f[1], f[2], f[3], f[4]]) as usize,
            f.len() - 5
        );
        let v: Value = serde_json::from_slice(&f[5..]).unwrap();
        assert_eq!(
            v,
            json!({"segments": [2, 1], "columns": [["x", "y", "z"], [1.0, 2.5, null]]})
        );
    }
}
