//! The key layout of the sled store: the only place that knows how keys are built and parsed.
//!
//! Every record lives in ONE sled tree, so a batch touching several kinds is atomic. A key is an
//! ASCII tag (`p/`, `t/`, ...) followed by components:
//! - a string component is its bytes with `0x00` escaped as `0x00 0xFF`, then the terminator
//!   `0x00 0x01`. Nothing inside a component can end it early (a contact value may hold `/`), no
//!   component is a prefix of another (`p_1` vs `p_10`), and byte order equals string order;
//! - a number is 8 big-endian bytes, so sequences sort numerically;
//! - a time is the seconds since the epoch as big-endian `i64` with the sign bit flipped (so times
//!   before 1970 still sort first), then the nanoseconds as big-endian `u32`: exact and ordered.
//!
//! Values marked *sealed* are envelopes encrypted under their subject's data key (see
//! `privacy::Vault`); the others are plain JSON and carry no personal data. Contacts appear in
//! keys only as `digest`: the keyed hash (HMAC-SHA256, hex) of the normalised value.
//!
//! | tag | components | value |
//! |-----|------------|-------|
//! | `meta/schema_version` | | the schema version (JSON number) |
//! | `p/` | prospect | `ProspectState`, sealed |
//! | `m/` | prospect, seq | `Message`, sealed |
//! | `i/` | prospect, seq | `Event`, sealed |
//! | `t/` | at, prospect, seq | empty (the due-time index, earliest first) |
//! | `o/` | action id | `OutboxEntry`, sealed (for its prospect) |
//! | `s/` | dedupe key | prospect id |
//! | `S/` | prospect, dedupe key | empty (the dedupe keys of a prospect, for erasure) |
//! | `c/` | kind, digest, prospect | empty (the contact index) |
//! | `w/` | workflow, version | `WorkflowSource` |
//! | `a/` | seq | `AuditRecord` |
//! | `u/` | seq | `UnmatchedMessage`, sealed (subject `u_<seq>`) |
//! | `x/` | name | engine setting (JSON string) |
//! | `k/` | unsubscribe token | prospect id |
//! | `l/` | prospect, seq | `ProcessingRecord`, sealed |
//! | `z/` | kind, digest | `Suppression` (the suppression list) |
//! | `v/` | prospect | restricted since (GDPR art. 18) |
//! | `r/` | seq | `PrivacyRequest` |
//! | `e/` | subject | erased at (a tombstone: writes about the subject are dropped) |
//! | `E/` | subject | empty (erased, data key not yet destroyed: finished at start) |
//! | `X/` | until, dedupe key digest | empty (when a remembered key expires, earliest first) |

use chrono::{DateTime, Utc};

use super::TimerEntry;

pub(super) const SCHEMA_VERSION: &[u8] = b"meta/schema_version";
pub(super) const PROSPECTS: &[u8] = b"p/";
pub(super) const INBOXES: &[u8] = b"i/";
pub(super) const TIMERS: &[u8] = b"t/";
pub(super) const OUTBOX: &[u8] = b"o/";
pub(super) const AUDIT: &[u8] = b"a/";
pub(super) const UNMATCHED: &[u8] = b"u/";
pub(super) const REQUESTS: &[u8] = b"r/";
pub(super) const PENDING_DESTRUCTION: &[u8] = b"E/";
const MESSAGES: &[u8] = b"m/";
const SEEN: &[u8] = b"s/";
const SEEN_BY: &[u8] = b"S/";
const CONTACTS: &[u8] = b"c/";
const WORKFLOWS: &[u8] = b"w/";
const SETTINGS: &[u8] = b"x/";
const TOKENS: &[u8] = b"k/";
const PROCESSING: &[u8] = b"l/";
pub(super) const SUPPRESSIONS: &[u8] = b"z/";
const RESTRICTIONS: &[u8] = b"v/";
const ERASED: &[u8] = b"e/";
pub(super) const EXPIRING: &[u8] = b"X/";

const ESCAPE: u8 = 0x00;
const ESCAPED_ZERO: u8 = 0xFF;
const TERMINATOR: u8 = 0x01;
const SIGN_BIT: u64 = 1 << 63;

fn push_str(key: &mut Vec<u8>, text: &str) {
    for &byte in text.as_bytes() {
        key.push(byte);
        if byte == ESCAPE {
            key.push(ESCAPED_ZERO);
        }
    }
    key.extend_from_slice(&[ESCAPE, TERMINATOR]);
}

fn push_time(key: &mut Vec<u8>, at: DateTime<Utc>) {
    key.extend_from_slice(&((at.timestamp() as u64) ^ SIGN_BIT).to_be_bytes());
    key.extend_from_slice(&at.timestamp_subsec_nanos().to_be_bytes());
}

fn key(tag: &[u8], strings: &[&str]) -> Vec<u8> {
    let mut key = tag.to_vec();
    for text in strings {
        push_str(&mut key, text);
    }
    key
}

fn key_seq(tag: &[u8], strings: &[&str], seq: u64) -> Vec<u8> {
    let mut key = key(tag, strings);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

pub(super) fn prospect(id: &str) -> Vec<u8> {
    key(PROSPECTS, &[id])
}

pub(super) fn messages_of(prospect: &str) -> Vec<u8> {
    key(MESSAGES, &[prospect])
}

pub(super) fn message(prospect: &str, seq: u64) -> Vec<u8> {
    key_seq(MESSAGES, &[prospect], seq)
}

pub(super) fn inbox_of(prospect: &str) -> Vec<u8> {
    key(INBOXES, &[prospect])
}

pub(super) fn inbox(prospect: &str, seq: u64) -> Vec<u8> {
    key_seq(INBOXES, &[prospect], seq)
}

pub(super) fn timer(at: DateTime<Utc>, prospect: &str, seq: u64) -> Vec<u8> {
    let mut key = TIMERS.to_vec();
    push_time(&mut key, at);
    push_str(&mut key, prospect);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

pub(super) fn outbox(action_id: &str) -> Vec<u8> {
    key(OUTBOX, &[action_id])
}

pub(super) fn seen(dedupe: &str) -> Vec<u8> {
    key(SEEN, &[dedupe])
}

/// The dedupe keys recorded for a prospect.
pub(super) fn seen_by_of(prospect: &str) -> Vec<u8> {
    key(SEEN_BY, &[prospect])
}

pub(super) fn seen_by(prospect: &str, dedupe: &str) -> Vec<u8> {
    key(SEEN_BY, &[prospect, dedupe])
}

/// The prefix of every index entry of one contact (`digest`: its keyed hash), whatever the prospect.
pub(super) fn contacts_of(kind: &str, digest: &str) -> Vec<u8> {
    key(CONTACTS, &[kind, digest])
}

pub(super) fn contact(kind: &str, digest: &str, prospect: &str) -> Vec<u8> {
    key(CONTACTS, &[kind, digest, prospect])
}

pub(super) fn suppression(kind: &str, digest: &str) -> Vec<u8> {
    key(SUPPRESSIONS, &[kind, digest])
}

pub(super) fn token(token: &str) -> Vec<u8> {
    key(TOKENS, &[token])
}

pub(super) fn processing_of(prospect: &str) -> Vec<u8> {
    key(PROCESSING, &[prospect])
}

pub(super) fn processing(prospect: &str, seq: u64) -> Vec<u8> {
    key_seq(PROCESSING, &[prospect], seq)
}

pub(super) fn restriction(prospect: &str) -> Vec<u8> {
    key(RESTRICTIONS, &[prospect])
}

pub(super) fn request(seq: u64) -> Vec<u8> {
    key_seq(REQUESTS, &[], seq)
}

/// The tombstone of an erased subject (a prospect id, or `u_<seq>` for an unmatched message).
pub(super) fn erased(subject: &str) -> Vec<u8> {
    key(ERASED, &[subject])
}

pub(super) fn pending_destruction(subject: &str) -> Vec<u8> {
    key(PENDING_DESTRUCTION, &[subject])
}

/// The data-key subject of an unmatched message.
pub(super) fn unmatched_subject(seq: u64) -> String {
    format!("u_{seq}")
}

pub(super) fn workflow(workflow: &str, version: &str) -> Vec<u8> {
    key(WORKFLOWS, &[workflow, version])
}

/// Small engine settings that must survive a restart (paused workflows).
pub(super) fn setting(name: &str) -> Vec<u8> {
    key(SETTINGS, &[name])
}

pub(super) fn audit(seq: u64) -> Vec<u8> {
    key_seq(AUDIT, &[], seq)
}

pub(super) fn unmatched(seq: u64) -> Vec<u8> {
    key_seq(UNMATCHED, &[], seq)
}

/// The smallest key greater than every key starting with `prefix` (for an exclusive range end).
/// `None` when there is none (a prefix of only `0xFF` bytes).
pub(super) fn successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// Reads the components of a key, front to back. Every method returns `None` on a malformed key.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn new(key: &'a [u8], tag: &[u8]) -> Option<Reader<'a>> {
        key.strip_prefix(tag).map(Reader)
    }

    fn string(&mut self) -> Option<String> {
        let mut bytes = Vec::new();
        let mut rest = self.0;
        loop {
            match rest {
                [ESCAPE, TERMINATOR, tail @ ..] => {
                    self.0 = tail;
                    return String::from_utf8(bytes).ok();
                }
                [ESCAPE, ESCAPED_ZERO, tail @ ..] => {
                    bytes.push(ESCAPE);
                    rest = tail;
                }
                [ESCAPE, ..] | [] => return None,
                [byte, tail @ ..] => {
                    bytes.push(*byte);
                    rest = tail;
                }
            }
        }
    }

    fn u64(&mut self) -> Option<u64> {
        let (head, tail) = self.0.split_first_chunk::<8>()?;
        self.0 = tail;
        Some(u64::from_be_bytes(*head))
    }

    fn time(&mut self) -> Option<DateTime<Utc>> {
        let secs = (self.u64()? ^ SIGN_BIT) as i64;
        let (head, tail) = self.0.split_first_chunk::<4>()?;
        self.0 = tail;
        DateTime::from_timestamp(secs, u32::from_be_bytes(*head))
    }

    /// `Some(value)` when the key was read to its end, `None` when bytes are left over.
    fn end<T>(self, value: T) -> Option<T> {
        self.0.is_empty().then_some(value)
    }
}

#[cfg(test)]
fn parse_prospect(key: &[u8]) -> Option<String> {
    let mut reader = Reader::new(key, PROSPECTS)?;
    let id = reader.string()?;
    reader.end(id)
}

/// The prospect of an inbox key: `(prospect, seq)`.
pub(super) fn parse_inbox(key: &[u8]) -> Option<(String, u64)> {
    let mut reader = Reader::new(key, INBOXES)?;
    let prospect = reader.string()?;
    let seq = reader.u64()?;
    reader.end((prospect, seq))
}

/// When a remembered dedupe key (by its digest) expires.
pub(super) fn expiring(until: DateTime<Utc>, digest: &str) -> Vec<u8> {
    let mut key = EXPIRING.to_vec();
    push_time(&mut key, until);
    push_str(&mut key, digest);
    key
}

pub(super) fn parse_expiring(key: &[u8]) -> Option<super::Expiring> {
    let mut reader = Reader::new(key, EXPIRING)?;
    let until = reader.time()?;
    let digest = reader.string()?;
    reader.end(super::Expiring { until, digest })
}

pub(super) fn parse_timer(key: &[u8]) -> Option<TimerEntry> {
    let mut reader = Reader::new(key, TIMERS)?;
    let at = reader.time()?;
    let prospect = reader.string()?;
    let seq = reader.u64()?;
    reader.end(TimerEntry { at, prospect, seq })
}

/// The parts of a contact index key: `(kind, digest, prospect)`.
pub(super) fn parse_contact(key: &[u8]) -> Option<(String, String, String)> {
    let mut reader = Reader::new(key, CONTACTS)?;
    let kind = reader.string()?;
    let digest = reader.string()?;
    let prospect = reader.string()?;
    reader.end((kind, digest, prospect))
}

/// The seq of a message key.
pub(super) fn parse_message(key: &[u8]) -> Option<(String, u64)> {
    let mut reader = Reader::new(key, MESSAGES)?;
    let prospect = reader.string()?;
    let seq = reader.u64()?;
    reader.end((prospect, seq))
}

/// `(prospect, dedupe key)` of a reverse dedupe entry.
pub(super) fn parse_seen_by(key: &[u8]) -> Option<(String, String)> {
    let mut reader = Reader::new(key, SEEN_BY)?;
    let prospect = reader.string()?;
    let dedupe = reader.string()?;
    reader.end((prospect, dedupe))
}

/// `(kind, digest)` of a suppression list key.
pub(super) fn parse_suppression(key: &[u8]) -> Option<(String, String)> {
    let mut reader = Reader::new(key, SUPPRESSIONS)?;
    let kind = reader.string()?;
    let digest = reader.string()?;
    reader.end((kind, digest))
}

pub(super) fn parse_pending_destruction(key: &[u8]) -> Option<String> {
    let mut reader = Reader::new(key, PENDING_DESTRUCTION)?;
    let subject = reader.string()?;
    reader.end(subject)
}

/// A readable rendering of a key for error messages. Contact values are personal data and are
/// never rendered; a key that does not parse is shown with its bytes escaped.
pub(super) fn display(key: &[u8]) -> String {
    try_display(key).unwrap_or_else(|| key.escape_ascii().to_string())
}

fn try_display(key: &[u8]) -> Option<String> {
    let tag = std::str::from_utf8(key.get(..2)?).ok()?;
    let mut reader = Reader(&key[2..]);
    let text = match tag {
        "p/" | "o/" | "s/" | "v/" | "e/" | "E/" => format!("{tag}{}", reader.string()?),
        "k/" => {
            reader.string()?;
            "k/(token)".to_string()
        }
        "m/" | "i/" | "l/" => format!("{tag}{}/{}", reader.string()?, reader.u64()?),
        "S/" => format!("S/{}/{}", reader.string()?, reader.string()?),
        "z/" => {
            let kind = reader.string()?;
            reader.string()?;
            format!("z/{kind}/(digest)")
        }
        "t/" => format!("t/{}/{}/{}", reader.time()?.to_rfc3339(), reader.string()?, reader.u64()?),
        "c/" => {
            let kind = reader.string()?;
            reader.string()?;
            format!("c/{kind}/(digest)/{}", reader.string()?)
        }
        "w/" => format!("w/{}/{}", reader.string()?, reader.string()?),
        "a/" | "u/" | "r/" => format!("{tag}{}", reader.u64()?),
        _ => return None,
    };
    reader.end(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64, nanos: u32) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, nanos).unwrap()
    }

    #[test]
    fn timer_keys_sort_by_time_first() {
        let times = [at(-86_400, 0), at(0, 0), at(0, 1), at(1, 0), at(1_700_000_000, 5), at(4_000_000_000, 0)];
        let keys: Vec<Vec<u8>> = times.iter().rev().map(|t| timer(*t, "p_ff", 1)).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        let parsed: Vec<DateTime<Utc>> = sorted.iter().map(|k| parse_timer(k).unwrap().at).collect();
        assert_eq!(parsed, times);
        // An earlier time sorts first whatever the prospect and seq.
        assert!(timer(at(10, 0), "p_zz", u64::MAX) < timer(at(11, 0), "p_00", 0));
    }

    #[test]
    fn timer_keys_round_trip_exactly() {
        let entry = TimerEntry { at: at(1_700_000_000, 123_456_789), prospect: "p_3f9a".into(), seq: 42 };
        assert_eq!(parse_timer(&timer(entry.at, &entry.prospect, entry.seq)), Some(entry));
    }

    #[test]
    fn prospect_prefixes_do_not_leak_into_a_neighbour() {
        assert!(!prospect("p_10").starts_with(&prospect("p_1")));
        assert!(!inbox("p_10", 1).starts_with(&inbox_of("p_1")));
        assert!(!message("p_10", 1).starts_with(&messages_of("p_1")));
        assert!(inbox("p_1", 7).starts_with(&inbox_of("p_1")));
        assert!(!b"meta/schema_version".starts_with(MESSAGES));
    }

    #[test]
    fn string_components_keep_string_order() {
        let ids = ["", "\0", "\0a", "a", "a\0", "a\u{1}", "a/", "p_1", "p_10", "p_1:2", "p_2", "é"];
        let mut keys: Vec<Vec<u8>> = ids.iter().rev().map(|id| prospect(id)).collect();
        keys.sort();
        let parsed: Vec<String> = keys.iter().map(|k| parse_prospect(k).unwrap()).collect();
        assert_eq!(parsed, ids);
    }

    #[test]
    fn sequences_sort_numerically() {
        assert!(message("p_1", 9) < message("p_1", 10));
        assert!(inbox("p_1", 255) < inbox("p_1", 256));
        assert!(audit(2) < audit(1 << 40));
        assert_eq!(parse_inbox(&inbox("p_1", 300)), Some(("p_1".to_string(), 300)));
    }

    #[test]
    fn a_slash_in_a_component_cannot_collide() {
        assert!(!contact("email", "a/b", "p_1").starts_with(&contacts_of("email", "a")));
        assert!(!contact("email", "a", "b/p_1").starts_with(&contacts_of("email", "a/b")));
        let key = contact("email", "a/b", "p_1");
        assert_eq!(parse_contact(&key), Some(("email".into(), "a/b".into(), "p_1".into())));
        // The same digest under another kind is another entry.
        assert!(!contact("phone", "a", "p_1").starts_with(&contacts_of("email", "a")));
        assert!(!seen_by("p_10", "x").starts_with(&seen_by_of("p_1")));
        assert_eq!(parse_seen_by(&seen_by("p_1", "in:sms:SM1")), Some(("p_1".into(), "in:sms:SM1".into())));
        assert_eq!(parse_message(&message("p_1", 9)), Some(("p_1".into(), 9)));
        assert_eq!(parse_pending_destruction(&pending_destruction("u_3")), Some("u_3".into()));
    }

    #[test]
    fn new_tags_do_not_overlap_old_ones() {
        let tags = [
            PROSPECTS,
            INBOXES,
            TIMERS,
            OUTBOX,
            AUDIT,
            UNMATCHED,
            REQUESTS,
            PENDING_DESTRUCTION,
            MESSAGES,
            SEEN,
            SEEN_BY,
            CONTACTS,
            WORKFLOWS,
            SETTINGS,
            TOKENS,
            PROCESSING,
            SUPPRESSIONS,
            RESTRICTIONS,
            ERASED,
        ];
        for (i, a) in tags.iter().enumerate() {
            assert!(!SCHEMA_VERSION.starts_with(a), "{}", a.escape_ascii());
            for b in &tags[i + 1..] {
                assert!(!a.starts_with(b) && !b.starts_with(a), "{} {}", a.escape_ascii(), b.escape_ascii());
            }
        }
    }

    #[test]
    fn malformed_keys_do_not_parse() {
        assert_eq!(parse_prospect(b"p/p_1"), None);
        assert_eq!(parse_prospect(b"p/p_1\0\x01extra"), None);
        assert_eq!(parse_prospect(b"p/\xff\xfe\0\x01"), None);
        assert_eq!(parse_inbox(b"i/p_1\0\x01\0\0"), None);
        assert_eq!(parse_timer(b"t/short"), None);
    }

    #[test]
    fn successor_bounds_a_prefix() {
        let prefix = inbox_of("p_1");
        let end = successor(&prefix).unwrap();
        assert!(inbox("p_1", u64::MAX) < end);
        assert!(end <= inbox_of("p_10"));
        assert_eq!(successor(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(successor(b"\xff"), None);
    }

    #[test]
    fn display_is_readable_and_hides_contact_values() {
        assert_eq!(display(&prospect("p_1")), "p/p_1");
        assert_eq!(display(&inbox("p_1", 3)), "i/p_1/3");
        assert_eq!(display(&timer(at(0, 0), "p_1", 2)), "t/1970-01-01T00:00:00+00:00/p_1/2");
        assert_eq!(display(&contact("phone", "9f86d081", "p_1")), "c/phone/(digest)/p_1");
        assert_eq!(display(&suppression("email", "9f86d081")), "z/email/(digest)");
        assert_eq!(display(&token("abc")), "k/(token)");
        assert_eq!(display(&processing("p_1", 4)), "l/p_1/4");
        assert_eq!(display(&erased("p_1")), "e/p_1");
        assert_eq!(display(b"meta/schema_version"), "meta/schema_version");
        assert_eq!(display(b"p/\x00"), "p/\\x00");
    }
}
