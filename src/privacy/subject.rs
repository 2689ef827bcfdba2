//! The request and answer types of the data-subject rights (`/v1/privacy/...`,
//! `PATCH /v1/prospects/{id}`). docs/privacy.md documents each JSON shape; keep them in step.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use crate::channel::Channel;
use crate::machine::{Contact, Direction, StatusChange};
use crate::store::{DeliveryStatus, Erasure, OptOutCause, PrivacyRequest, ProcessingRecord, RequestKind};

/// Who a request is about. At least one identifier; the request covers every prospect that
/// shares one of them (for `prospect_id`: one of that prospect's phone, email or Messenger id).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectQuery {
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub messenger_psid: Option<String>,
    #[serde(default)]
    pub prospect_id: Option<String>,
    /// Only list what the request would touch, and why; change and log nothing.
    #[serde(default)]
    pub dry_run: bool,
}

impl SubjectQuery {
    /// The kinds of identifier given (what the request log keeps, instead of the values).
    pub fn identified_by(&self) -> Vec<String> {
        let given = [
            ("email", &self.email),
            ("phone", &self.phone),
            ("messenger_psid", &self.messenger_psid),
            ("prospect_id", &self.prospect_id),
        ];
        given
            .into_iter()
            .filter(|(_, value)| value.as_deref().is_some_and(|v| !v.trim().is_empty()))
            .map(|(name, _)| name.to_string())
            .collect()
    }
}

/// `PATCH /v1/prospects/{id}`: the contact details and fields to correct. An absent key is left
/// as it is; `null` clears a contact detail or removes a field.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rectification {
    #[serde(default, deserialize_with = "present")]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub messenger_psid: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub timezone: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub source: Option<Option<String>>,
    #[serde(default)]
    pub fields: BTreeMap<String, serde_json::Value>,
}

/// Tells "given as null" (`Some(None)`) from "absent" (`None`, through `default`).
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

/// The answer of `POST /v1/privacy/export`: everything held about the person (GDPR arts. 15, 20).
#[derive(Debug, Clone, Serialize)]
pub struct Export {
    /// `qualifyd.export/1`.
    pub format: &'static str,
    pub request: String,
    pub generated_at: DateTime<Utc>,
    pub prospects: Vec<ProspectExport>,
    /// Messages from this person's contacts that no prospect took.
    pub unmatched_messages: Vec<UnmatchedExport>,
    /// Which of the person's contacts are on the suppression list.
    pub suppressed_contacts: Vec<SuppressedExport>,
}

pub const EXPORT_FORMAT: &str = "qualifyd.export/1";

#[derive(Debug, Clone, Serialize)]
pub struct ProspectExport {
    pub id: String,
    pub workflow: String,
    pub workflow_version: String,
    pub status: String,
    pub status_detail: Option<String>,
    pub step: Option<String>,
    pub channel: Channel,
    pub contact: Contact,
    pub fields: BTreeMap<String, serde_json::Value>,
    pub score: Option<u8>,
    pub score_fields: BTreeMap<String, serde_json::Value>,
    pub tags: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_inbound_at: Option<DateTime<Utc>>,
    /// Since when processing is restricted (GDPR art. 18), if it is.
    pub restricted_since: Option<DateTime<Utc>>,
    /// Every status change, oldest first.
    pub history: Vec<StatusChange>,
    /// The whole conversation, oldest first.
    pub messages: Vec<MessageExport>,
    /// Processing by third parties: AI provider calls.
    pub processing: Vec<ProcessingRecord>,
    /// Legal basis, notice, purposes, recipients, retention and scoring logic (arts. 13-15).
    pub transparency: Transparency,
}

#[derive(Debug, Clone, Serialize)]
pub struct Transparency {
    /// The legal basis, its source and the notice sent (`null` for prospects created before
    /// they were recorded).
    pub lawfulness: Option<crate::machine::lawfulness::Lawfulness>,
    /// The article the basis rests on, in words.
    pub legal_basis: Option<&'static str>,
    pub purposes: Vec<String>,
    pub recipients: Vec<Recipient>,
    pub retention: String,
    /// How the score is computed, when the workflow has one.
    pub scoring: Option<String>,
}

/// Someone who received the person's data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recipient {
    /// `channel_provider`, `ai_provider` or `team`.
    pub kind: &'static str,
    /// The provider or destination (a driver's name, a webhook's host, a team address).
    pub name: String,
    pub why: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct MessageExport {
    pub direction: Direction,
    pub channel: Channel,
    pub text: String,
    pub status: DeliveryStatus,
    pub at: DateTime<Utc>,
    pub human: bool,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct UnmatchedExport {
    pub channel: Channel,
    pub from: String,
    pub text: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SuppressedExport {
    /// `phone`, `email` or `psid`.
    pub kind: &'static str,
    pub value: String,
    pub since: DateTime<Utc>,
    pub cause: OptOutCause,
}

/// The answer of `POST /v1/privacy/erase`: what was removed. Holds no personal data.
#[derive(Debug, Clone, Serialize)]
pub struct ErasureReceipt {
    pub request: String,
    /// The ids of the erased prospects.
    pub erased: Vec<String>,
    pub counts: Erasure,
    /// The person had opted out or objected: their contacts stay on the suppression list (as
    /// keyed hashes) so that they are never contacted or imported again.
    pub suppression_kept: bool,
    pub completed_at: DateTime<Utc>,
}

/// The answer of restrict, unrestrict and object: each prospect concerned and its status now.
#[derive(Debug, Clone, Serialize)]
pub struct Receipt {
    pub request: String,
    pub kind: RequestKind,
    pub prospects: Vec<ProspectStatus>,
    /// What was done beyond the prospects (an objection from someone with no prospect).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub completed_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProspectStatus {
    pub id: String,
    pub status: String,
    pub status_detail: Option<String>,
}

/// `GET /v1/privacy/requests`: the request log, oldest first.
#[derive(Debug, Clone, Serialize)]
pub struct RequestLog {
    pub requests: Vec<RequestEntry>,
    pub next_cursor: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RequestEntry {
    #[serde(flatten)]
    pub request: PrivacyRequest,
    /// Not completed and past its deadline.
    pub overdue: bool,
}

/// One month after `received` (GDPR art. 12(3)), clamped to the month's last day.
pub fn deadline(received: DateTime<Utc>) -> DateTime<Utc> {
    received.checked_add_months(chrono::Months::new(1)).unwrap_or(received + chrono::Duration::days(31))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn the_deadline_is_one_calendar_month_later() {
        let at = |y, m, d| Utc.with_ymd_and_hms(y, m, d, 10, 0, 0).unwrap();
        assert_eq!(deadline(at(2026, 3, 14)), at(2026, 4, 14));
        assert_eq!(deadline(at(2026, 1, 31)), at(2026, 2, 28));
        assert_eq!(deadline(at(2026, 12, 5)), at(2027, 1, 5));
    }

    #[test]
    fn rectifications_tell_null_from_absent() {
        let body: Rectification =
            serde_json::from_value(serde_json::json!({"name": null, "email": "a@b.c", "fields": {"budget": null}}))
                .unwrap();
        assert_eq!(body.name, Some(None));
        assert_eq!(body.email, Some(Some("a@b.c".into())));
        assert_eq!(body.phone, None);
        assert!(body.fields["budget"].is_null());
        assert!(serde_json::from_value::<Rectification>(serde_json::json!({"nmae": "x"})).is_err());
    }

    #[test]
    fn the_log_keeps_identifier_kinds_only() {
        let query = SubjectQuery { email: Some("a@b.c".into()), phone: Some(" ".into()), ..SubjectQuery::default() };
        assert_eq!(query.identified_by(), ["email"]);
    }
}
