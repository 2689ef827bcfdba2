//! The sled store against a real database in a temporary directory: atomic batches, every record
//! kind read back, reopening, the schema version, the timer and contact indexes, corrupt values.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use chrono::{DateTime, Duration, TimeZone, Utc};
use tempfile::TempDir;

use qualifyd::catalog::model::WorkflowSource;
use qualifyd::catalog::{CompileOptions, Workflow, compile_source};
use qualifyd::channel::Channel;
use qualifyd::machine::{Action, Contact, Direction, Event, ProspectState};
use qualifyd::store::{
    AuditRecord, Batch, ContactKey, DeliveryStatus, Error, Message, Op, OutboxEntry, SCHEMA_VERSION, SledStore, Store,
    TimerEntry, UnmatchedMessage,
};

const CACHE: u64 = 8 * 1024 * 1024;

fn open(dir: &Path) -> SledStore {
    SledStore::open(dir, CACHE).expect("store opens")
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 14, 9, 0, 0).unwrap()
}

fn source() -> WorkflowSource {
    WorkflowSource {
        file: "workflows/tiny.yaml".to_string(),
        text: "id: tiny\nchannel: sms\nsteps:\n  - { id: done, end: qualified }\n".to_string(),
        templates: BTreeMap::new(),
    }
}

fn workflow() -> &'static Workflow {
    static WORKFLOW: OnceLock<Workflow> = OnceLock::new();
    WORKFLOW.get_or_init(|| compile_source(&source(), &CompileOptions::default()).expect("the tiny workflow compiles"))
}

fn prospect(id: &str) -> ProspectState {
    let contact = Contact { phone: Some("+33600000001".into()), ..Contact::default() };
    ProspectState::new(id.to_string(), workflow(), contact, BTreeMap::new(), format!("u_{id}"), t0())
}

fn message(seq: u64, text: &str) -> Message {
    Message {
        seq,
        direction: Direction::Outbound,
        channel: Channel::Sms,
        text: text.to_string(),
        status: DeliveryStatus::Queued,
        at: t0() + Duration::seconds(seq as i64),
        provider_id: None,
        action_id: Some(format!("p_1:{seq}")),
        human: false,
        error: None,
    }
}

fn outbox_entry(prospect: &str, seq: u64) -> OutboxEntry {
    let action = Action::Send {
        action_id: format!("{prospect}:{seq}"),
        channel: Channel::Sms,
        text: "hello".to_string(),
        human: false,
    };
    OutboxEntry { prospect: prospect.to_string(), action, attempts: 0, not_before: t0(), message_seq: Some(seq) }
}

fn apply(store: &SledStore, ops: Vec<Op>) {
    store.apply(Batch { ops }).expect("batch applies");
}

fn put_timer(at: DateTime<Utc>, prospect: &str, seq: u64) -> Op {
    Op::PutTimer { at, prospect: prospect.to_string(), seq }
}

#[test]
fn one_batch_writes_every_record_kind_and_each_reads_back() {
    let dir = TempDir::new().unwrap();
    let store = open(dir.path());
    let state = prospect("p_1");
    let inbound = Event::Inbound { channel: Channel::Sms, text: "yes".into(), at: t0() };
    let audit = AuditRecord {
        seq: 7,
        at: t0(),
        actor: "system".into(),
        action: "import".into(),
        prospect: Some("p_1".into()),
        detail: None,
    };
    let unmatched = UnmatchedMessage {
        seq: 9,
        channel: Channel::Email,
        from: "x@example.com".into(),
        text: "hi".into(),
        at: t0(),
        provider_id: Some("<m@x>".into()),
    };
    let phone = ContactKey::Phone("+33600000001".into());
    apply(
        &store,
        vec![
            Op::PutProspect(Box::new(state.clone())),
            Op::PutMessage { prospect: "p_1".into(), message: message(1, "hello") },
            Op::PutInbox { prospect: "p_1".into(), seq: 2, event: inbound.clone() },
            put_timer(t0(), "p_1", 3),
            Op::PutOutbox(Box::new(outbox_entry("p_1", 4))),
            Op::PutSeen { key: "SM123".into(), prospect: "p_1".into() },
            Op::PutContact { key: phone.clone(), prospect: "p_1".into() },
            Op::PutWorkflowSource { workflow: "tiny".into(), version: "v1".into(), source: Box::new(source()) },
            Op::PutAudit(Box::new(audit.clone())),
            Op::PutUnmatched(Box::new(unmatched.clone())),
        ],
    );

    assert_eq!(store.prospect("p_1").unwrap(), Some(state));
    assert_eq!(store.prospect("p_2").unwrap(), None);
    assert_eq!(store.messages("p_1").unwrap(), vec![message(1, "hello")]);
    assert_eq!(store.message("p_1", 1).unwrap(), Some(message(1, "hello")));
    assert_eq!(store.inbox("p_1").unwrap(), vec![(2, inbound)]);
    assert_eq!(store.next_timer().unwrap(), Some(TimerEntry { at: t0(), prospect: "p_1".into(), seq: 3 }));
    assert_eq!(store.outbox_entry("p_1:4").unwrap(), Some(outbox_entry("p_1", 4)));
    assert_eq!(store.seen("SM123").unwrap(), Some("p_1".to_string()));
    assert_eq!(store.seen("SM999").unwrap(), None);
    assert_eq!(store.prospects_by_contact(&phone).unwrap(), ["p_1"]);
    assert_eq!(store.workflow_source("tiny", "v1").unwrap(), Some(source()));
    assert_eq!(store.workflow_source("tiny", "v2").unwrap(), None);
    assert_eq!(store.audit(None, 10).unwrap(), vec![audit]);
    assert_eq!(store.unmatched(10).unwrap(), vec![unmatched]);
}

#[test]
fn one_batch_moves_a_prospect_on_with_its_indexes() {
    let dir = TempDir::new().unwrap();
    let store = open(dir.path());
    let mut state = prospect("p_1");
    apply(
        &store,
        vec![
            Op::PutProspect(Box::new(state.clone())),
            Op::PutInbox { prospect: "p_1".into(), seq: 1, event: Event::TimerFired { seq: 5 } },
            put_timer(t0(), "p_1", 5),
        ],
    );
    // The transition: consume the inbox event and the timer, save the state, queue a send.
    state.transitions = 1;
    apply(
        &store,
        vec![
            Op::DeleteInbox { prospect: "p_1".into(), seq: 1 },
            Op::DeleteTimer { at: t0(), prospect: "p_1".into(), seq: 5 },
            Op::PutProspect(Box::new(state.clone())),
            Op::PutOutbox(Box::new(outbox_entry("p_1", 6))),
        ],
    );
    assert_eq!(store.prospect("p_1").unwrap().unwrap().transitions, 1);
    assert!(store.inbox("p_1").unwrap().is_empty());
    assert!(store.prospects_with_inbox().unwrap().is_empty());
    assert_eq!(store.count_timers().unwrap(), 0);
    assert_eq!(store.count_outbox().unwrap(), 1);
    // Deleting what was just written, and a put then delete of one key: the last op wins.
    apply(
        &store,
        vec![
            Op::DeleteOutbox { action_id: "p_1:6".into() },
            Op::PutMessage { prospect: "p_1".into(), message: message(7, "x") },
            Op::DeleteMessage { prospect: "p_1".into(), seq: 7 },
            Op::DeleteProspect { id: "p_1".into() },
        ],
    );
    assert_eq!(store.count_outbox().unwrap(), 0);
    assert_eq!(store.message("p_1", 7).unwrap(), None);
    assert_eq!(store.prospect("p_1").unwrap(), None);
}

/// A reader racing the writer never sees a prospect without the outbox entry of the same batch.
#[test]
fn a_concurrent_reader_never_sees_half_a_batch() {
    let dir = TempDir::new().unwrap();
    let store = open(dir.path());
    const N: u64 = 300;
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for i in 0..N {
                let id = format!("p_{i:04}");
                let mut state = prospect(&id);
                state.next_seq = i;
                let ops = vec![Op::PutProspect(Box::new(state)), Op::PutOutbox(Box::new(outbox_entry(&id, 1)))];
                store.apply(Batch { ops }).unwrap();
            }
        });
        let mut seen = 0;
        while seen < N {
            let id = format!("p_{seen:04}");
            if store.prospect(&id).unwrap().is_some() {
                assert!(store.outbox_entry(&format!("{id}:1")).unwrap().is_some(), "half of batch {seen} visible");
                seen += 1;
            }
        }
    });
    assert_eq!(store.count_prospects().unwrap(), N as usize);
    assert_eq!(store.count_outbox().unwrap(), N as usize);
}

#[test]
fn reopening_after_drop_sees_flushed_data() {
    let dir = TempDir::new().unwrap();
    let first_id;
    {
        let store = open(dir.path());
        first_id = store.next_id().unwrap();
        apply(&store, vec![Op::PutProspect(Box::new(prospect("p_1"))), put_timer(t0(), "p_1", 1)]);
        store.flush().unwrap();
        assert!(store.size_on_disk() > 0);
    }
    let store = open(dir.path());
    assert_eq!(store.prospect("p_1").unwrap(), Some(prospect("p_1")));
    assert_eq!(store.count_timers().unwrap(), 1);
    assert!(store.next_id().unwrap() > first_id, "ids keep increasing across restarts");
}

#[test]
fn a_different_schema_version_is_refused() {
    let dir = TempDir::new().unwrap();
    {
        let db = sled::open(dir.path()).unwrap();
        let tree = db.open_tree(SledStore::TREE).unwrap();
        tree.insert(b"meta/schema_version", b"99".to_vec()).unwrap();
        db.flush().unwrap();
    }
    let error = SledStore::open(dir.path(), CACHE).err().expect("refused");
    assert!(matches!(error, Error::SchemaMismatch { found: 99, expected } if expected == SCHEMA_VERSION), "{error:?}");
    let text = error.to_string();
    assert!(text.contains("schema version 99") && text.contains(&format!("version {SCHEMA_VERSION}")), "{text}");
}

#[test]
fn a_fresh_store_records_its_schema_version() {
    let dir = TempDir::new().unwrap();
    drop(open(dir.path()));
    let db = sled::open(dir.path()).unwrap();
    let tree = db.open_tree(SledStore::TREE).unwrap();
    let stored = tree.get(b"meta/schema_version").unwrap().expect("written");
    assert_eq!(&stored[..], SCHEMA_VERSION.to_string().as_bytes());
}

#[test]
fn timers_come_back_in_time_order_and_only_when_due() {
    let dir = TempDir::new().unwrap();
    let store = open(dir.path());
    let at = |minutes: i64| t0() + Duration::minutes(minutes);
    let precise = t0() + Duration::nanoseconds(1_500_001);
    apply(
        &store,
        vec![
            put_timer(at(30), "p_1", 1),
            put_timer(at(-10), "p_2", 1),
            put_timer(precise, "p_10", 4),
            put_timer(at(5), "p_1", 2),
            put_timer(at(-10), "p_1", 9),
            put_timer(at(24 * 60), "p_3", 1),
        ],
    );
    let due = store.due_timers(at(5), 100).unwrap();
    let order: Vec<(DateTime<Utc>, &str, u64)> = due.iter().map(|t| (t.at, t.prospect.as_str(), t.seq)).collect();
    assert_eq!(order, [(at(-10), "p_1", 9), (at(-10), "p_2", 1), (precise, "p_10", 4), (at(5), "p_1", 2)]);
    assert_eq!(store.due_timers(at(5), 2).unwrap(), due[..2]);
    assert!(store.due_timers(at(-11), 100).unwrap().is_empty());
    assert_eq!(store.next_timer().unwrap(), Some(due[0].clone()));
    assert_eq!(store.count_timers().unwrap(), 6);
    // The exact time (to the nanosecond) deletes it.
    apply(&store, vec![Op::DeleteTimer { at: precise, prospect: "p_10".into(), seq: 4 }]);
    assert_eq!(store.count_timers().unwrap(), 5);
    assert_eq!(store.due_timers(t0(), 100).unwrap().len(), 2);
}

#[test]
fn the_contact_index_holds_several_prospects_and_any_value() {
    let dir = TempDir::new().unwrap();
    let store = open(dir.path());
    let shared = ContactKey::Email("ann/sales@example.com".into());
    let prefix_of_shared = ContactKey::Email("ann".into());
    let other_kind = ContactKey::MessengerPsid("ann/sales@example.com".into());
    let with_zero = ContactKey::Phone("+33\u{0}6".into());
    let put = |key: &ContactKey, prospect: &str| Op::PutContact { key: key.clone(), prospect: prospect.into() };
    apply(
        &store,
        vec![
            put(&shared, "p_10"),
            put(&shared, "p_1"),
            put(&shared, "p_2"),
            put(&prefix_of_shared, "sales@example.com/p_9"),
            put(&other_kind, "p_3"),
            put(&with_zero, "p_4"),
        ],
    );
    assert_eq!(store.prospects_by_contact(&shared).unwrap(), ["p_1", "p_10", "p_2"]);
    assert_eq!(store.prospects_by_contact(&prefix_of_shared).unwrap(), ["sales@example.com/p_9"]);
    assert_eq!(store.prospects_by_contact(&other_kind).unwrap(), ["p_3"]);
    assert_eq!(store.prospects_by_contact(&with_zero).unwrap(), ["p_4"]);
    assert!(store.prospects_by_contact(&ContactKey::Email("ann/sales".into())).unwrap().is_empty());
    apply(&store, vec![Op::DeleteContact { key: shared.clone(), prospect: "p_1".into() }]);
    assert_eq!(store.prospects_by_contact(&shared).unwrap(), ["p_10", "p_2"]);
}

#[test]
fn the_inbox_is_oldest_first_and_lists_each_prospect_once() {
    let dir = TempDir::new().unwrap();
    let store = open(dir.path());
    let inbox =
        |prospect: &str, seq: u64| Op::PutInbox { prospect: prospect.into(), seq, event: Event::TimerFired { seq } };
    apply(&store, vec![inbox("p_1", 300), inbox("p_1", 2), inbox("p_10", 1), inbox("p_1", 256), inbox("p_2", 5)]);
    let seqs: Vec<u64> = store.inbox("p_1").unwrap().into_iter().map(|(seq, _)| seq).collect();
    assert_eq!(seqs, [2, 256, 300]);
    assert_eq!(store.inbox("p_1").unwrap()[0].1, Event::TimerFired { seq: 2 });
    assert_eq!(store.inbox("p_10").unwrap().len(), 1);
    assert_eq!(store.prospects_with_inbox().unwrap(), ["p_1", "p_10", "p_2"]);
}

#[test]
fn prospects_page_in_id_order() {
    let dir = TempDir::new().unwrap();
    let store = open(dir.path());
    let ids = ["p_2", "p_10", "p_1", "p_1a"];
    apply(&store, ids.iter().map(|id| Op::PutProspect(Box::new(prospect(id)))).collect());
    // Messages sit next to prospects in the tree and must not show up among them.
    apply(&store, vec![Op::PutMessage { prospect: "p_1".into(), message: message(1, "hi") }]);
    let page = |after: Option<&str>, limit| -> Vec<String> {
        store.prospects(after, limit).unwrap().into_iter().map(|p| p.id).collect()
    };
    assert_eq!(page(None, 10), ["p_1", "p_10", "p_1a", "p_2"]);
    assert_eq!(page(None, 2), ["p_1", "p_10"]);
    assert_eq!(page(Some("p_10"), 10), ["p_1a", "p_2"]);
    assert_eq!(page(Some("p_0"), 1), ["p_1"]);
    assert!(page(Some("p_2"), 10).is_empty());
    assert_eq!(store.count_prospects().unwrap(), 4);
}

#[test]
fn the_outbox_lists_and_counts_entries() {
    let dir = TempDir::new().unwrap();
    let store = open(dir.path());
    apply(
        &store,
        vec![
            Op::PutOutbox(Box::new(outbox_entry("p_1", 1))),
            Op::PutOutbox(Box::new(outbox_entry("p_1", 2))),
            Op::PutOutbox(Box::new(outbox_entry("p_2", 1))),
        ],
    );
    assert_eq!(store.count_outbox().unwrap(), 3);
    let mut retried = outbox_entry("p_1", 2);
    retried.attempts = 3;
    apply(&store, vec![Op::PutOutbox(Box::new(retried.clone()))]);
    assert_eq!(store.count_outbox().unwrap(), 3, "same action id replaces");
    assert_eq!(store.outbox_entry("p_1:2").unwrap(), Some(retried));
    let ids: Vec<String> = store.outbox().unwrap().iter().map(|e| e.action.id().to_string()).collect();
    assert_eq!(ids, ["p_1:1", "p_1:2", "p_2:1"]);
}

#[test]
fn audit_pages_after_a_sequence() {
    let dir = TempDir::new().unwrap();
    let store = open(dir.path());
    let record =
        |seq| AuditRecord { seq, at: t0(), actor: "ops".into(), action: "pause".into(), prospect: None, detail: None };
    apply(&store, [300, 1, 256, 2].map(|seq| Op::PutAudit(Box::new(record(seq)))).to_vec());
    let seqs = |after, limit| -> Vec<u64> { store.audit(after, limit).unwrap().iter().map(|r| r.seq).collect() };
    assert_eq!(seqs(None, 10), [1, 2, 256, 300]);
    assert_eq!(seqs(Some(2), 1), [256]);
    assert!(seqs(Some(u64::MAX), 10).is_empty());
}

#[test]
fn a_corrupt_value_is_an_error_not_a_panic() {
    let dir = TempDir::new().unwrap();
    let store = open(dir.path());
    apply(&store, vec![Op::PutProspect(Box::new(prospect("p_1")))]);
    let tree = store.raw_tree();
    let (key, _) = tree.scan_prefix(b"p/").next().unwrap().unwrap();
    tree.insert(key, &b"{not json"[..]).unwrap();
    for result in [store.prospect("p_1").map(|_| ()), store.prospects(None, 10).map(|_| ())] {
        match result {
            Err(Error::Corrupt { key, reason }) => {
                assert_eq!(key, "p/p_1");
                assert!(!reason.is_empty());
            }
            other => panic!("expected a corrupt record, got {other:?}"),
        }
    }
    let message = store.prospect("p_1").unwrap_err().to_string();
    assert!(message.starts_with("corrupt record under key `p/p_1`"), "{message}");
}

#[test]
fn a_malformed_index_key_is_an_error_not_a_panic() {
    let dir = TempDir::new().unwrap();
    let store = open(dir.path());
    store.raw_tree().insert(b"t/short", &[][..]).unwrap();
    assert!(matches!(store.next_timer(), Err(Error::Corrupt { .. })));
    assert!(matches!(store.due_timers(t0(), 10), Err(Error::Corrupt { .. })));
}

#[test]
fn opening_waits_for_a_handle_that_is_letting_go() {
    let dir = TempDir::new().unwrap();
    let first = open(dir.path());
    apply(&first, vec![Op::PutProspect(Box::new(prospect("p_1")))]);
    first.flush().unwrap();
    let letting_go = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(300));
        drop(first);
    });
    // Held when this starts: opened once the first handle is gone, not refused.
    let store = open(dir.path());
    letting_go.join().unwrap();
    assert_eq!(store.prospect("p_1").unwrap(), Some(prospect("p_1")));
}
