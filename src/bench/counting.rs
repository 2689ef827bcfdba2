//! Instrumentation for the scenarios that run the real engine in-process: a [`Store`] wrapper
//! that counts and times every call into the real `SledStore` (how many keys per flush, how
//! much of the wall time goes to flushing), and channel/AI drivers that wrap the embedded
//! `outbox` driver and `rules` provider with counters, so a scenario knows when its prospects
//! are done without scanning the store.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::catalog::model::WorkflowSource;
use crate::engine::{AiProvider, AiRequest, BoxFuture, ChannelDriver, DriverError, Drivers, Outbound};
use crate::machine::{AiAnswer, Event, ProspectState};
use crate::store::{
    AuditRecord, Batch, ContactKey, Erasure, Error, Message, OutboxEntry, PrivacyRequest, ProcessingRecord, SledStore,
    Store, Suppression, TimerEntry, UnmatchedMessage,
};

/// Totals since the store was opened; subtract two snapshots for a phase.
#[derive(Debug, Clone, Copy, Default)]
pub struct StoreStats {
    pub applies: u64,
    pub keys: u64,
    pub apply_time: Duration,
    pub flushes: u64,
    pub flush_time: Duration,
    pub reads: u64,
    pub read_time: Duration,
}

impl StoreStats {
    pub fn since(self, earlier: StoreStats) -> StoreStats {
        StoreStats {
            applies: self.applies - earlier.applies,
            keys: self.keys - earlier.keys,
            apply_time: self.apply_time.saturating_sub(earlier.apply_time),
            flushes: self.flushes - earlier.flushes,
            flush_time: self.flush_time.saturating_sub(earlier.flush_time),
            reads: self.reads - earlier.reads,
            read_time: self.read_time.saturating_sub(earlier.read_time),
        }
    }

    pub fn describe(&self, wall: Duration) -> String {
        let per = |n: u64, d: u64| if d == 0 { 0.0 } else { n as f64 / d as f64 };
        let ms = |d: Duration, n: u64| if n == 0 { 0.0 } else { d.as_secs_f64() * 1000.0 / n as f64 };
        format!(
            "{} batches ({} keys), {} flushes ({:.1} keys/flush, {:.2} ms each, flushing {:.0}% of the wall time), {} reads ({:.3} ms each)",
            self.applies,
            self.keys,
            self.flushes,
            per(self.keys, self.flushes),
            ms(self.flush_time, self.flushes),
            100.0 * self.flush_time.as_secs_f64() / wall.as_secs_f64().max(1e-9),
            self.reads,
            ms(self.read_time, self.reads),
        )
    }
}

/// The real `SledStore`, counted and timed.
pub struct CountingStore {
    pub inner: SledStore,
    counters: [AtomicU64; 7],
}

const APPLIES: usize = 0;
const KEYS: usize = 1;
const APPLY_NS: usize = 2;
const FLUSHES: usize = 3;
const FLUSH_NS: usize = 4;
const READS: usize = 5;
const READ_NS: usize = 6;

impl CountingStore {
    pub fn new(inner: SledStore) -> CountingStore {
        CountingStore { inner, counters: Default::default() }
    }

    pub fn stats(&self) -> StoreStats {
        let get = |i: usize| self.counters[i].load(Ordering::Relaxed);
        StoreStats {
            applies: get(APPLIES),
            keys: get(KEYS),
            apply_time: Duration::from_nanos(get(APPLY_NS)),
            flushes: get(FLUSHES),
            flush_time: Duration::from_nanos(get(FLUSH_NS)),
            reads: get(READS),
            read_time: Duration::from_nanos(get(READ_NS)),
        }
    }

    fn add(&self, counter: usize, time: usize, started: Instant) {
        self.counters[counter].fetch_add(1, Ordering::Relaxed);
        self.counters[time].fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
    }

    fn read<T>(&self, f: impl FnOnce(&SledStore) -> T) -> T {
        let started = Instant::now();
        let result = f(&self.inner);
        self.add(READS, READ_NS, started);
        result
    }
}

impl Store for CountingStore {
    fn apply(&self, batch: Batch) -> Result<(), Error> {
        let started = Instant::now();
        self.counters[KEYS].fetch_add(batch.ops.len() as u64, Ordering::Relaxed);
        let result = self.inner.apply(batch);
        self.add(APPLIES, APPLY_NS, started);
        result
    }
    fn flush(&self) -> Result<(), Error> {
        let started = Instant::now();
        let result = self.inner.flush();
        self.add(FLUSHES, FLUSH_NS, started);
        result
    }
    fn next_id(&self) -> Result<u64, Error> {
        self.inner.next_id()
    }
    fn prospect(&self, id: &str) -> Result<Option<ProspectState>, Error> {
        self.read(|s| s.prospect(id))
    }
    fn prospects(&self, after: Option<&str>, limit: usize) -> Result<Vec<ProspectState>, Error> {
        self.read(|s| s.prospects(after, limit))
    }
    fn count_prospects(&self) -> Result<usize, Error> {
        self.read(|s| s.count_prospects())
    }
    fn prospects_by_contact(&self, key: &ContactKey) -> Result<Vec<String>, Error> {
        self.read(|s| s.prospects_by_contact(key))
    }
    fn messages(&self, prospect: &str) -> Result<Vec<Message>, Error> {
        self.read(|s| s.messages(prospect))
    }
    fn message(&self, prospect: &str, seq: u64) -> Result<Option<Message>, Error> {
        self.read(|s| s.message(prospect, seq))
    }
    fn inbox(&self, prospect: &str) -> Result<Vec<(u64, Event)>, Error> {
        self.read(|s| s.inbox(prospect))
    }
    fn prospects_with_inbox(&self) -> Result<Vec<String>, Error> {
        self.read(|s| s.prospects_with_inbox())
    }
    fn due_timers(&self, until: DateTime<Utc>, limit: usize) -> Result<Vec<TimerEntry>, Error> {
        self.read(|s| s.due_timers(until, limit))
    }
    fn count_timers(&self) -> Result<usize, Error> {
        self.read(|s| s.count_timers())
    }
    fn next_timer(&self) -> Result<Option<TimerEntry>, Error> {
        self.read(|s| s.next_timer())
    }
    fn outbox(&self) -> Result<Vec<OutboxEntry>, Error> {
        self.read(|s| s.outbox())
    }
    fn outbox_entry(&self, action_id: &str) -> Result<Option<OutboxEntry>, Error> {
        self.read(|s| s.outbox_entry(action_id))
    }
    fn count_outbox(&self) -> Result<usize, Error> {
        self.read(|s| s.count_outbox())
    }
    fn seen(&self, key: &str) -> Result<Option<String>, Error> {
        self.read(|s| s.seen(key))
    }
    fn expired(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<crate::store::Expiring>, Error> {
        self.read(|s| s.expired(now, limit))
    }
    fn meta(&self, key: &str) -> Result<Option<String>, Error> {
        self.read(|s| s.meta(key))
    }
    fn workflow_source(&self, workflow: &str, version: &str) -> Result<Option<WorkflowSource>, Error> {
        self.read(|s| s.workflow_source(workflow, version))
    }
    fn audit(&self, after: Option<u64>, limit: usize) -> Result<Vec<AuditRecord>, Error> {
        self.read(|s| s.audit(after, limit))
    }
    fn unmatched(&self, limit: usize) -> Result<Vec<UnmatchedMessage>, Error> {
        self.read(|s| s.unmatched(limit))
    }
    fn message_seqs(&self, prospect: &str) -> Result<Vec<u64>, Error> {
        self.read(|s| s.message_seqs(prospect))
    }
    fn prospect_by_token(&self, token: &str) -> Result<Option<String>, Error> {
        self.read(|s| s.prospect_by_token(token))
    }
    fn processing(&self, prospect: &str) -> Result<Vec<ProcessingRecord>, Error> {
        self.read(|s| s.processing(prospect))
    }
    fn suppression(&self, key: &ContactKey) -> Result<Option<Suppression>, Error> {
        self.read(|s| s.suppression(key))
    }
    fn restriction(&self, prospect: &str) -> Result<Option<DateTime<Utc>>, Error> {
        self.read(|s| s.restriction(prospect))
    }
    fn requests(&self, after: Option<u64>, limit: usize) -> Result<Vec<PrivacyRequest>, Error> {
        self.read(|s| s.requests(after, limit))
    }
    fn erase(&self, prospects: &[String], unmatched: &[u64]) -> Result<Erasure, Error> {
        self.inner.erase(prospects, unmatched)
    }
}

/// What the counting drivers saw.
#[derive(Debug, Default)]
pub struct Tally {
    pub sends: AtomicU64,
    pub ai_calls: AtomicU64,
}

impl Tally {
    pub fn sends(&self) -> u64 {
        self.sends.load(Ordering::SeqCst)
    }
}

struct CountingChannel {
    inner: Arc<dyn ChannelDriver>,
    tally: Arc<Tally>,
}

impl ChannelDriver for CountingChannel {
    fn send<'a>(&'a self, message: Outbound<'a>) -> BoxFuture<'a, Result<String, DriverError>> {
        Box::pin(async move {
            let result = self.inner.send(message).await;
            self.tally.sends.fetch_add(1, Ordering::SeqCst);
            result
        })
    }

    fn name(&self) -> &'static str {
        self.inner.name()
    }
}

struct CountingAi {
    inner: Arc<dyn AiProvider>,
    tally: Arc<Tally>,
}

impl AiProvider for CountingAi {
    fn answer<'a>(&'a self, request: AiRequest<'a>) -> BoxFuture<'a, Result<AiAnswer, DriverError>> {
        Box::pin(async move {
            let result = self.inner.answer(request).await;
            self.tally.ai_calls.fetch_add(1, Ordering::SeqCst);
            result
        })
    }

    fn name(&self) -> &'static str {
        self.inner.name()
    }
}

/// The embedded drivers (outbox on every channel, rules provider), counted into `tally`.
pub fn drivers(tally: &Arc<Tally>) -> Drivers {
    let embedded = Drivers::embedded();
    let wrap = |inner: Arc<dyn ChannelDriver>| -> Arc<dyn ChannelDriver> {
        Arc::new(CountingChannel { inner, tally: tally.clone() })
    };
    Drivers {
        sms: wrap(embedded.sms.clone()),
        email: wrap(embedded.email.clone()),
        messenger: wrap(embedded.messenger.clone()),
        ai: Arc::new(CountingAi { inner: embedded.ai.clone(), tally: tally.clone() }),
        http: embedded.http.clone(),
        webhooks: embedded.webhooks.clone(),
    }
}
