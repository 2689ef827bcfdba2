//! The store's writer: one dedicated thread that performs every write ([`Store::apply`]) and
//! every [`Store::flush`], fed by a bounded queue, so a disk that stops answering (full, failing)
//! never blocks an async worker. Flushes are group-committed: one `flush` serves every request
//! queued while the previous one ran.
//!
//! A write or flush that fails, or one that has not completed after [`STALL_AFTER`], marks the
//! store failed ([`Health`]): every request waiting on it and every later one gets
//! [`Error::Unavailable`] at once (the HTTP layer answers 503), so nothing is acknowledged that is
//! not durable. sled cannot resume after a failed write, so the failure is final for this process:
//! the daemon reports it on `/healthz` and exits once space is back (see `app.rs`), and the next
//! start resumes from what was durable.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::{Batch, Error, Store};

/// Requests queued for the writer thread at most; senders wait (asynchronously) beyond it.
const QUEUE: usize = 1024;
/// Requests the thread takes in one round (one flush for all of them).
const ROUND: usize = 256;
/// A write or flush still running after this is taken as a dead disk.
pub const STALL_AFTER: Duration = Duration::from_secs(10);

/// Whether the store still takes writes, and if not, why.
#[derive(Debug, Default)]
pub struct Health {
    failure: Mutex<Option<String>>,
}

impl Health {
    /// `None` while writes succeed; the first failure's reason after.
    pub fn failure(&self) -> Option<String> {
        self.failure.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Records the first failure (later ones keep it) and says so once, at ERROR.
    pub fn fail(&self, reason: &str) {
        let mut failure = self.failure.lock().unwrap_or_else(|e| e.into_inner());
        if failure.is_none() {
            tracing::error!(reason, "the store stopped taking writes: requests are refused with 503 until a restart");
            metrics::gauge!("qualifyd_store_healthy").set(0.0);
            *failure = Some(format!(
                "the store cannot write to the data directory ({reason}); free space, then let the daemon restart"
            ));
        }
    }

    /// Completes once the store has failed and `dir` takes writes again (a probe file of
    /// [`PROBE_BYTES`] written, synced and removed, every second): the moment to exit so a
    /// supervisor restarts the daemon on a store that can write.
    pub async fn space_back(&self, dir: &Path) {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if self.failure().is_none() {
                continue;
            }
            let probe = dir.join(".space-probe");
            let written = tokio::task::spawn_blocking(move || write_probe(&probe));
            if let Ok(Ok(Ok(()))) = tokio::time::timeout(STALL_AFTER, written).await {
                return;
            }
        }
    }

    fn unavailable(&self) -> Option<Error> {
        self.failure().map(Error::Unavailable)
    }
}

/// Free space the probe asks for before the daemon exits to be restarted.
pub const PROBE_BYTES: usize = 4 << 20;

fn write_probe(path: &Path) -> std::io::Result<()> {
    use std::io::Write;
    let result = std::fs::File::create(path).and_then(|mut file| {
        file.write_all(&vec![0u8; PROBE_BYTES])?;
        file.sync_all()
    });
    let _ = std::fs::remove_file(path);
    result
}

struct Request {
    batch: Option<Batch>,
    flush: bool,
    reply: oneshot::Sender<Result<(), Error>>,
}

/// Cheap-clone handle to the writer thread.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Request>,
    health: Arc<Health>,
}

impl Writer {
    /// Starts the writer thread on `store`. It ends when every handle is dropped.
    pub fn start(store: Arc<dyn Store>) -> Writer {
        let (tx, rx) = mpsc::channel(QUEUE);
        let health = Arc::new(Health::default());
        metrics::gauge!("qualifyd_store_healthy").set(1.0);
        let thread_health = health.clone();
        let spawned =
            std::thread::Builder::new().name("qualifyd-store".into()).spawn(move || run(store, rx, thread_health));
        if let Err(err) = spawned {
            health.fail(&format!("cannot start the store thread: {err}"));
        }
        Writer { tx, health }
    }

    pub fn health(&self) -> Arc<Health> {
        self.health.clone()
    }

    /// Applies `batch` atomically; not durable until a flush.
    pub async fn apply(&self, batch: Batch) -> Result<(), Error> {
        self.request(Some(batch), false).await
    }

    /// Returns once everything applied before this call is durable.
    pub async fn flush(&self) -> Result<(), Error> {
        self.request(None, true).await
    }

    /// Applies `batch` and returns once it is durable.
    pub async fn commit(&self, batch: Batch) -> Result<(), Error> {
        self.request(Some(batch), true).await
    }

    async fn request(&self, batch: Option<Batch>, flush: bool) -> Result<(), Error> {
        if let Some(err) = self.health.unavailable() {
            return Err(err);
        }
        let (reply, answer) = oneshot::channel();
        let stopped = || Error::Unavailable("the store thread has stopped".into());
        let waited = tokio::time::timeout(STALL_AFTER, async {
            self.tx.send(Request { batch, flush, reply }).await.map_err(|_| stopped())?;
            answer.await.map_err(|_| stopped())?
        })
        .await;
        match waited {
            Ok(result) => result,
            Err(_) => {
                self.health.fail(&format!("a write has not completed after {} s", STALL_AFTER.as_secs()));
                Err(self.health.unavailable().unwrap_or_else(stopped))
            }
        }
    }
}

fn run(store: Arc<dyn Store>, mut rx: mpsc::Receiver<Request>, health: Arc<Health>) {
    while let Some(first) = rx.blocking_recv() {
        let mut requests = vec![first];
        while requests.len() < ROUND {
            match rx.try_recv() {
                Ok(more) => requests.push(more),
                Err(_) => break,
            }
        }
        step(store.as_ref(), &health, requests);
    }
    if health.failure().is_some() {
        // sled flushes when the last handle goes; after a failed write that flush may never
        // return, so this handle is never dropped and the process exits without it.
        std::mem::forget(store);
    }
}

/// One round: every batch applied in order, then one flush if anyone asked for durability.
fn step(store: &dyn Store, health: &Health, requests: Vec<Request>) {
    let mut results: Vec<Result<(), Error>> = Vec::with_capacity(requests.len());
    let mut replies = Vec::with_capacity(requests.len());
    let mut flush = false;
    for request in requests {
        let result = match (health.unavailable(), request.batch) {
            (Some(err), _) => Err(err),
            (None, None) => Ok(()),
            (None, Some(batch)) => store.apply(batch).inspect_err(|err| {
                if let Error::Unavailable(reason) = err {
                    health.fail(reason);
                }
            }),
        };
        flush |= request.flush && result.is_ok();
        results.push(result);
        replies.push((request.reply, request.flush));
    }
    let flushed = if flush && health.failure().is_none() {
        let flushed = store.flush();
        metrics::counter!("qualifyd_flushes_total").increment(1);
        if let Err(err) = &flushed {
            health.fail(&err.to_string());
        }
        flushed
    } else {
        Ok(())
    };
    let mut durable = 0;
    for ((reply, wanted), result) in replies.into_iter().zip(results) {
        let result = match (result, wanted, health.unavailable()) {
            (Err(err), _, _) => Err(err),
            (Ok(()), true, Some(err)) => Err(err),
            (Ok(()), true, None) => {
                flushed.as_ref().map(|_| durable += 1).map_err(|e| Error::Unavailable(e.to_string()))
            }
            (Ok(()), false, _) => Ok(()),
        };
        let _ = reply.send(result);
    }
    if durable > 0 {
        metrics::histogram!("qualifyd_flush_batch_size").record(durable as f64);
    }
}
