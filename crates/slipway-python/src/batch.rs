//! The adaptive batcher in front of the Python workers.
//!
//! Requests queue their rows ([`Batcher::submit`]); a worker that is free
//! takes what is queued as one batch ([`Batcher::next_batch`]), at most
//! `max_batch_size` rows. So batches grow with the load: while every worker
//! is busy the queue fills, and the next free worker takes it whole. While
//! another batch is being scored (there is load), a free worker also waits
//! for more requests, until the oldest queued one has waited `max_wait`;
//! when no batch is (an idle pool), it takes what is queued at once, so a
//! lone request never waits. A request is never split: one with more rows
//! than `max_batch_size` is a batch of its own.
//!
//! Every request gets exactly one answer, its own: the batch's consumer
//! answers each request in the order they were taken ([`Batch::answer`]), or
//! fails them all ([`Batch::fail`]); a batch dropped unanswered fails its
//! requests, and a closed batcher refuses new ones, so nothing waits forever.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// How batches are formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchConfig {
    /// Most rows in one batch (1: every request alone).
    pub max_batch_size: usize,
    /// Longest a request waits for others to join its batch, counted from
    /// when it was queued, while another batch is being scored (0: take
    /// only what is already queued).
    pub max_wait: Duration,
}

/// Default [`BatchConfig::max_batch_size`] (measured: bench/serving/pyfunc.sh).
pub const DEFAULT_MAX_BATCH_SIZE: usize = 64;

/// Default [`BatchConfig::max_wait`] (measured: bench/serving/pyfunc.sh).
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_millis(2);

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_batch_size: DEFAULT_MAX_BATCH_SIZE,
            max_wait: DEFAULT_MAX_WAIT,
        }
    }
}

/// Why a request got no answer from its batch (a worker crashed, timed
/// out, or the batch was dropped); the message is for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Failure(pub String);

/// [`Batcher::submit`] after [`Batcher::close`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the batcher is closed")]
pub struct Closed;

/// A request's answer, once its batch is done.
pub type Ticket<R> = oneshot::Receiver<Result<R, Failure>>;

struct Job<T, R> {
    items: Vec<T>,
    reply: oneshot::Sender<Result<R, Failure>>,
    queued: Instant,
}

/// Requests taken together: answer each (in order) or fail them all.
pub struct Batch<T, R> {
    jobs: Vec<Job<T, R>>,
    rows: usize,
    /// The batcher's count of batches being scored; this one until dropped.
    busy: Arc<AtomicUsize>,
}

impl<T, R> Batch<T, R> {
    /// Rows in the batch.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Requests in the batch.
    pub fn requests(&self) -> usize {
        self.jobs.len()
    }

    /// Each request's rows, in the order of [`Batch::answer`].
    pub fn segments(&self) -> impl Iterator<Item = &[T]> + Clone {
        self.jobs.iter().map(|j| j.items.as_slice())
    }

    /// Answers the requests in order: `results[i]` goes to the i-th segment.
    /// A request without a result (too few) fails, naming the shortfall.
    pub fn answer(mut self, results: Vec<Result<R, Failure>>) {
        let (n, wanted) = (results.len(), self.jobs.len());
        let mut jobs = std::mem::take(&mut self.jobs).into_iter();
        // `results` first: zip stops on it without taking a job it cannot answer.
        for (result, job) in results.into_iter().zip(jobs.by_ref()) {
            let _ = job.reply.send(result);
        }
        for job in jobs {
            let _ = job.reply.send(Err(Failure(format!(
                "the worker answered {n} of the {wanted} requests of its batch"
            ))));
        }
    }

    /// Fails every request of the batch with `message`.
    pub fn fail(mut self, message: &str) {
        for job in self.jobs.drain(..) {
            let _ = job.reply.send(Err(Failure(message.to_string())));
        }
    }
}

impl<T, R> Drop for Batch<T, R> {
    fn drop(&mut self) {
        self.busy.fetch_sub(1, Ordering::SeqCst);
        for job in self.jobs.drain(..) {
            let _ = job.reply.send(Err(Failure(
                "the request's batch was dropped without an answer".into(),
            )));
        }
    }
}

/// Upper bounds of the batch-size histogram (rows); the last bucket is +Inf.
pub const ROW_BUCKETS: [u64; 11] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

/// Counts of the batches formed, for metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchStats {
    pub batches: u64,
    pub requests: u64,
    pub rows: u64,
    /// Batches of at most `ROW_BUCKETS[i]` rows, cumulative (as Prometheus
    /// buckets); `batches` is the +Inf bucket.
    pub rows_le: Vec<(u64, u64)>,
}

struct Counters {
    buckets: [AtomicU64; ROW_BUCKETS.len() + 1],
    batches: AtomicU64,
    requests: AtomicU64,
    rows: AtomicU64,
}

impl Counters {
    fn record(&self, rows: usize, requests: usize) {
        let i = ROW_BUCKETS
            .iter()
            .position(|&b| rows as u64 <= b)
            .unwrap_or(ROW_BUCKETS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.requests.fetch_add(requests as u64, Ordering::Relaxed);
        self.rows.fetch_add(rows as u64, Ordering::Relaxed);
    }
}

struct Queue<T, R> {
    rx: mpsc::UnboundedReceiver<Job<T, R>>,
    /// A request that did not fit the previous batch: first of the next.
    carried: Option<Job<T, R>>,
}

/// The queue of requests and the batch former; shared by the producers
/// (requests) and the consumers (workers).
pub struct Batcher<T, R> {
    sender: Mutex<Option<mpsc::UnboundedSender<Job<T, R>>>>,
    queue: tokio::sync::Mutex<Queue<T, R>>,
    config: BatchConfig,
    counters: Counters,
    /// Batches handed out and not yet answered (workers busy).
    busy: Arc<AtomicUsize>,
}

impl<T, R> Batcher<T, R> {
    pub fn new(config: BatchConfig) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Batcher {
            sender: Mutex::new(Some(tx)),
            queue: tokio::sync::Mutex::new(Queue { rx, carried: None }),
            config: BatchConfig {
                max_batch_size: config.max_batch_size.max(1),
                ..config
            },
            counters: Counters {
                buckets: std::array::from_fn(|_| AtomicU64::new(0)),
                batches: AtomicU64::new(0),
                requests: AtomicU64::new(0),
                rows: AtomicU64::new(0),
            },
            busy: Arc::new(AtomicUsize::new(0)),
        }
    }

    pub fn config(&self) -> BatchConfig {
        self.config
    }

    /// Queues a request's rows; the ticket resolves to its answer.
    pub fn submit(&self, items: Vec<T>) -> Result<Ticket<R>, Closed> {
        let (reply, ticket) = oneshot::channel();
        let job = Job {
            items,
            reply,
            queued: Instant::now(),
        };
        let sender = self.sender.lock().unwrap_or_else(|p| p.into_inner());
        match sender.as_ref() {
            Some(tx) if tx.send(job).is_ok() => Ok(ticket),
            _ => Err(Closed),
        }
    }

    /// Stops taking requests; those queued are still handed out, then
    /// [`Batcher::next_batch`] returns None.
    pub fn close(&self) {
        self.sender.lock().unwrap_or_else(|p| p.into_inner()).take();
    }

    pub fn is_closed(&self) -> bool {
        self.sender
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_none()
    }

    /// The next batch: waits for a request, then gathers what is queued up
    /// to the size limit; while another batch is being scored, also what
    /// arrives until the oldest request has waited `max_wait`. None once
    /// closed and drained. Requests whose caller has gone are skipped.
    pub async fn next_batch(&self) -> Option<Batch<T, R>> {
        let mut q = self.queue.lock().await;
        let first = loop {
            let job = match q.carried.take() {
                Some(job) => job,
                None => q.rx.recv().await?,
            };
            if !job.reply.is_closed() {
                break job;
            }
        };
        let max = self.config.max_batch_size;
        // An idle pool has no load to wait for: a lone request goes at once.
        let deadline = if self.busy.load(Ordering::SeqCst) > 0 {
            first.queued + self.config.max_wait
        } else {
            first.queued
        };
        let mut rows = first.items.len();
        let mut jobs = vec![first];
        while rows < max {
            let job = match q.rx.try_recv() {
                Ok(job) => job,
                Err(TryRecvError::Disconnected) => break,
                Err(TryRecvError::Empty) => {
                    if Instant::now() >= deadline {
                        break;
                    }
                    match tokio::time::timeout_at(deadline, q.rx.recv()).await {
                        Ok(Some(job)) => job,
                        _ => break,
                    }
                }
            };
            if job.reply.is_closed() {
                continue;
            }
            if rows + job.items.len() > max {
                q.carried = Some(job);
                break;
            }
            rows += job.items.len();
            jobs.push(job);
        }
        self.busy.fetch_add(1, Ordering::SeqCst);
        drop(q);
        self.counters.record(rows, jobs.len());
        Some(Batch {
            jobs,
            rows,
            busy: self.busy.clone(),
        })
    }

    pub fn stats(&self) -> BatchStats {
        let c = &self.counters;
        let mut cumulative = 0;
        let rows_le = ROW_BUCKETS
            .iter()
            .enumerate()
            .map(|(i, &le)| {
                cumulative += c.buckets[i].load(Ordering::Relaxed);
                (le, cumulative)
            })
            .collect();
        BatchStats {
            batches: c.batches.load(Ordering::Relaxed),
            requests: c.requests.load(Ordering::Relaxed),
            rows: c.rows.load(Ordering::Relaxed),
            rows_le,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    type Echo = Batcher<u32, Vec<u32>>;

    /// A consumer that answers each request with its own rows times ten,
    /// after `work` per batch, recording each batch's segment sizes.
    fn consumer(
        b: Arc<Echo>,
        work: Duration,
        seen: Arc<Mutex<Vec<Vec<usize>>>>,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            while let Some(batch) = b.next_batch().await {
                seen.lock()
                    .unwrap()
                    .push(batch.segments().map(<[u32]>::len).collect());
                tokio::time::sleep(work).await;
                let answers = batch
                    .segments()
                    .map(|s| Ok(s.iter().map(|x| x * 10).collect()))
                    .collect();
                batch.answer(answers);
            }
        })
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_requests_form_batches_and_each_gets_its_own_answer() {
        let b = Arc::new(Echo::new(BatchConfig {
            max_batch_size: 16,
            max_wait: Duration::from_millis(2),
        }));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let workers: Vec<_> = (0..2)
            .map(|_| consumer(b.clone(), Duration::from_millis(10), seen.clone()))
            .collect();
        // 100 requests of 1 to 3 rows arriving together.
        let tickets: Vec<(Vec<u32>, Ticket<Vec<u32>>)> = (0..100u32)
            .map(|i| {
                let rows: Vec<u32> = (0..=i % 3).map(|k| i * 100 + k).collect();
                (rows.clone(), b.submit(rows).unwrap())
            })
            .collect();
        for (rows, ticket) in tickets {
            let got = ticket.await.unwrap().unwrap();
            assert_eq!(got, rows.iter().map(|x| x * 10).collect::<Vec<_>>());
        }
        let seen = seen.lock().unwrap().clone();
        let total_rows: usize = seen.iter().flatten().sum();
        assert_eq!(total_rows, (0..100).map(|i| i % 3 + 1).sum::<usize>());
        assert!(
            seen.iter().all(|s| s.iter().sum::<usize>() <= 16),
            "{seen:?}"
        );
        // 199 rows in batches of at most 16: 13 batches when they fill up.
        assert!(seen.len() <= 15, "{} batches: {seen:?}", seen.len());
        let stats = b.stats();
        assert_eq!(stats.batches as usize, seen.len());
        assert_eq!(stats.requests, 100);
        assert_eq!(stats.rows as usize, total_rows);
        b.close();
        for w in workers {
            w.await.unwrap();
        }
    }

    #[tokio::test(start_paused = true)]
    async fn max_size_is_respected_and_a_larger_request_goes_alone() {
        let b = Arc::new(Echo::new(BatchConfig {
            max_batch_size: 7,
            max_wait: Duration::from_millis(50),
        }));
        let sizes = [3usize, 3, 3, 10, 1, 2, 7];
        let tickets: Vec<_> = sizes
            .iter()
            .map(|&n| b.submit(vec![1; n]).unwrap())
            .collect();
        let mut batches = Vec::new();
        for _ in 0..5 {
            let batch = b.next_batch().await.unwrap();
            batches.push(batch.segments().map(<[u32]>::len).collect::<Vec<_>>());
            let answers = batch.segments().map(|s| Ok(s.to_vec())).collect();
            batch.answer(answers);
        }
        // In order, never over 7 rows, except the 10-row request on its own.
        assert_eq!(
            batches,
            vec![vec![3, 3], vec![3], vec![10], vec![1, 2], vec![7]]
        );
        for (t, n) in tickets.into_iter().zip(sizes) {
            assert_eq!(t.await.unwrap().unwrap().len(), n);
        }
        let stats = b.stats();
        assert_eq!(
            stats.rows_le[..5],
            [(1, 0), (2, 0), (4, 2), (8, 4), (16, 5)],
            "{stats:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_batch_waits_at_most_max_wait_after_its_oldest_request() {
        let wait = Duration::from_millis(10);
        let b = Arc::new(Echo::new(BatchConfig {
            max_batch_size: 100,
            max_wait: wait,
        }));
        // Another worker is busy with a batch: there is load to wait for.
        let _t0 = b.submit(vec![0]).unwrap();
        let busy = b.next_batch().await.unwrap();
        let start = Instant::now();
        let _t1 = b.submit(vec![1]).unwrap();
        let late = {
            let b = b.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(6)).await;
                let joins = b.submit(vec![2]).unwrap();
                tokio::time::sleep(Duration::from_millis(10)).await;
                let too_late = b.submit(vec![3]).unwrap();
                (joins, too_late)
            })
        };
        let batch = b.next_batch().await.unwrap();
        // Formed exactly when the first request had waited `wait`, with the
        // one that came in time and without the one after.
        assert_eq!(start.elapsed(), wait);
        assert_eq!(
            batch.segments().collect::<Vec<_>>(),
            vec![&[1][..], &[2][..]]
        );
        let next = b.next_batch().await.unwrap();
        assert_eq!(next.segments().collect::<Vec<_>>(), vec![&[3][..]]);
        assert_eq!(start.elapsed(), Duration::from_millis(16) + wait);
        drop((batch, next, late, busy));

        // Nothing being scored (an idle pool): a lone request goes at once.
        let _t = b.submit(vec![4]).unwrap();
        let t0 = Instant::now();
        let batch = b.next_batch().await.unwrap();
        assert_eq!((batch.requests(), t0.elapsed()), (1, Duration::ZERO));
        drop(batch);

        // With no wait, a batch is what is queued at that moment, load or not.
        let b = Echo::new(BatchConfig {
            max_batch_size: 100,
            max_wait: Duration::ZERO,
        });
        let _t0 = b.submit(vec![0]).unwrap();
        let _busy = b.next_batch().await.unwrap();
        let _t = b.submit(vec![1]).unwrap();
        let t0 = Instant::now();
        let batch = b.next_batch().await.unwrap();
        assert_eq!((batch.requests(), t0.elapsed()), (1, Duration::ZERO));
    }

    #[tokio::test]
    async fn every_request_is_answered_even_when_its_batch_is_not() {
        let b = Echo::new(BatchConfig {
            max_batch_size: 10,
            max_wait: Duration::ZERO,
        });
        // Failed as a whole.
        let (t1, t2) = (b.submit(vec![1]).unwrap(), b.submit(vec![2]).unwrap());
        b.next_batch().await.unwrap().fail("the worker crashed");
        for t in [t1, t2] {
            assert_eq!(t.await.unwrap(), Err(Failure("the worker crashed".into())));
        }
        // Too few answers: the rest fail, saying so.
        let (t1, t2) = (b.submit(vec![1]).unwrap(), b.submit(vec![2]).unwrap());
        b.next_batch().await.unwrap().answer(vec![Ok(vec![1])]);
        assert_eq!(t1.await.unwrap(), Ok(vec![1]));
        let e = t2.await.unwrap().unwrap_err();
        assert!(e.0.contains("answered 1 of the 2"), "{e}");
        // Dropped unanswered.
        let t = b.submit(vec![1]).unwrap();
        drop(b.next_batch().await.unwrap());
        assert!(t.await.unwrap().unwrap_err().0.contains("dropped"));
        // A caller that went away is skipped.
        drop(b.submit(vec![9]).unwrap());
        let t = b.submit(vec![1]).unwrap();
        let batch = b.next_batch().await.unwrap();
        assert_eq!(batch.segments().collect::<Vec<_>>(), vec![&[1][..]]);
        drop((batch, t));
        // Closed: no new requests, queued ones still handed out, then the end.
        let t = b.submit(vec![5]).unwrap();
        b.close();
        assert!(b.is_closed());
        assert_eq!(b.submit(vec![6]).unwrap_err(), Closed);
        let batch = b.next_batch().await.unwrap();
        batch.answer(vec![Ok(vec![50])]);
        assert_eq!(t.await.unwrap(), Ok(vec![50]));
        assert!(b.next_batch().await.is_none());
    }
}
