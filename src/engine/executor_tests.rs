//! Tests of the executor and of held receipts against a real sled store: one outbox entry is
//! performed once however many times it is dispatched; an early receipt is taken by its send;
//! held receipts and one-time tokens are forgotten once their time is up.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::Utc;

use crate::catalog::Catalog;
use crate::channel::Channel;
use crate::engine::drivers::{BoxFuture, ChannelDriver, DriverError, Drivers, Outbound};
use crate::engine::receipts::{HELD_RECEIPT_TTL, early_receipt_key, sweep_expired};
use crate::engine::{Engine, EngineConfig};
use crate::machine::{Action, Contact, Direction};
use crate::store::{Batch, DeliveryStatus, Message, Op, OutboxEntry, SledStore, Store};

/// A channel that counts deliveries and takes a while to answer, as a provider does.
struct Slow(Arc<AtomicUsize>);

impl ChannelDriver for Slow {
    fn send<'a>(&'a self, _message: Outbound<'a>) -> BoxFuture<'a, Result<String, DriverError>> {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let n = self.0.fetch_add(1, Ordering::SeqCst);
            Ok(format!("SM{n}"))
        })
    }

    fn name(&self) -> &'static str {
        "slow"
    }
}

/// A store holding prospect `p_1` with one queued SMS (message 1) in the outbox as `a_1`.
fn store_with_a_send(dir: &std::path::Path) -> Arc<dyn Store> {
    let store: Arc<dyn Store> = Arc::new(SledStore::open(dir, 8 << 20).unwrap());
    let state =
        crate::machine::reach::test_prospect(Contact { phone: Some("+33612345678".into()), ..Contact::default() });
    let mut batch = Batch::new();
    batch.push(Op::PutProspect(Box::new(state)));
    let message = Message {
        seq: 1,
        direction: Direction::Outbound,
        channel: Channel::Sms,
        text: "hi".into(),
        status: DeliveryStatus::Queued,
        at: Utc::now(),
        provider_id: None,
        action_id: Some("a_1".into()),
        human: false,
        error: None,
    };
    batch.push(Op::PutMessage { prospect: "p_1".into(), message });
    let action = Action::Send { action_id: "a_1".into(), channel: Channel::Sms, text: "hi".into(), human: false };
    let entry =
        OutboxEntry { prospect: "p_1".into(), action, attempts: 0, not_before: Utc::now(), message_seq: Some(1) };
    batch.push(Op::PutOutbox(Box::new(entry)));
    store.apply(batch).unwrap();
    store.flush().unwrap();
    store
}

async fn start(store: &Arc<dyn Store>, sent: &Arc<AtomicUsize>) -> Engine {
    let mut drivers = Drivers::embedded();
    drivers.sms = Arc::new(Slow(sent.clone()));
    let config = EngineConfig::new(crate::schedule::SendWindow::always(), "http://localhost:8080");
    Engine::start(store.clone(), config, Catalog::default(), drivers).await.unwrap()
}

async fn wait_sent(store: &Arc<dyn Store>) {
    for _ in 0..100 {
        if store.outbox_entry("a_1").unwrap().is_none() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the send was never recorded");
}

#[tokio::test]
async fn an_action_dispatched_twice_at_once_is_performed_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_a_send(dir.path());
    let sent = Arc::new(AtomicUsize::new(0));
    // Starting dispatches the outbox entry once; two more dispatches arrive while it is in flight
    // (at start, a worker and the outbox scan can both hand over the same entry).
    let engine = start(&store, &sent).await;
    super::dispatch(&engine.inner, "a_1".into());
    super::dispatch(&engine.inner, "a_1".into());
    wait_sent(&store).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sent.load(Ordering::SeqCst), 1, "one outbox entry, one delivery");
    engine.shutdown().await;
}

#[tokio::test]
async fn an_early_receipt_is_taken_by_its_send_and_an_orphan_one_expires() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_a_send(dir.path());
    let sent = Arc::new(AtomicUsize::new(0));
    let engine = start(&store, &sent).await;
    // The provider's callback for the send (id SM0) arrives while the send is still on its way,
    // and another for a message this store never sent.
    assert!(!engine.record_delivery(None, "SM0", DeliveryStatus::Delivered, None).await.unwrap());
    assert!(!engine.record_delivery(None, "SM-other", DeliveryStatus::Delivered, None).await.unwrap());
    assert!(store.seen(&early_receipt_key("SM0")).unwrap().is_some(), "held");
    wait_sent(&store).await;
    let message = store.message("p_1", 1).unwrap().unwrap();
    assert_eq!((message.provider_id.as_deref(), message.status), (Some("SM0"), DeliveryStatus::Delivered));
    assert!(store.seen(&early_receipt_key("SM0")).unwrap().is_none(), "taken by its send");

    let now = Utc::now();
    assert_eq!(sweep_expired(&engine.inner, now).await.unwrap(), 0, "nothing expired yet");
    assert!(store.seen(&early_receipt_key("SM-other")).unwrap().is_some());
    let later = now + HELD_RECEIPT_TTL + chrono::Duration::seconds(1);
    assert_eq!(sweep_expired(&engine.inner, later).await.unwrap(), 2);
    assert!(store.seen(&early_receipt_key("SM-other")).unwrap().is_none(), "an orphan receipt is forgotten");
    assert!(store.expired(later, 10).unwrap().is_empty());
    engine.shutdown().await;
}

#[tokio::test]
async fn a_one_time_token_is_remembered_until_it_expires_then_forgotten() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_a_send(dir.path());
    let engine = start(&store, &Arc::new(AtomicUsize::new(0))).await;
    let now = Utc::now();
    let (t, expires) = (now.timestamp(), now.timestamp() + 60);
    assert_eq!(engine.remember_token("mailgun", "tok-1", [7; 32], t, expires).await.unwrap(), None);
    assert_eq!(engine.remember_token("mailgun", "tok-1", [9; 32], t, expires).await.unwrap(), Some([7; 32]));
    let expired = store.expired(now + chrono::Duration::seconds(61), 10).unwrap();
    assert_eq!(expired.len(), 1, "{expired:?}");
    assert!(!expired[0].digest.contains("tok-1"), "the token is kept as a keyed hash only");
    assert_eq!(sweep_expired(&engine.inner, now + chrono::Duration::seconds(61)).await.unwrap(), 1);
    assert_eq!(engine.remember_token("mailgun", "tok-1", [9; 32], t + 61, expires + 61).await.unwrap(), None);
    engine.shutdown().await;
}
