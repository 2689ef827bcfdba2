//! Group commit: callers that need durability wait here; one `Store::flush` serves everyone
//! who asked while the previous flush was running.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::store::Store;

type Waiter = oneshot::Sender<Result<(), String>>;

#[derive(Clone)]
pub(crate) struct Flusher {
    tx: mpsc::UnboundedSender<Waiter>,
}

impl Flusher {
    pub fn start(store: Arc<dyn Store>) -> Flusher {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(store, rx));
        Flusher { tx }
    }

    /// Returns once everything applied before this call is durable.
    pub async fn flush(&self) -> Result<(), crate::store::Error> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(tx).map_err(|_| crate::store::Error::Backend("the flusher has stopped".into()))?;
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => Err(crate::store::Error::Backend(message)),
            Err(_) => Err(crate::store::Error::Backend("the flusher has stopped".into())),
        }
    }
}

async fn run(store: Arc<dyn Store>, mut rx: mpsc::UnboundedReceiver<Waiter>) {
    while let Some(first) = rx.recv().await {
        let mut waiters = vec![first];
        while let Ok(more) = rx.try_recv() {
            waiters.push(more);
        }
        let store = store.clone();
        let result = tokio::task::spawn_blocking(move || store.flush())
            .await
            .map_err(|e| format!("flush task failed: {e}"))
            .and_then(|r| r.map_err(|e| e.to_string()));
        metrics::counter!("qualifyd_flushes_total").increment(1);
        metrics::histogram!("qualifyd_flush_batch_size").record(waiters.len() as f64);
        for waiter in waiters {
            let _ = waiter.send(result.clone());
        }
    }
}
