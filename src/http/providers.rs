//! What the provider webhooks need to know ([`ProviderWebhooks`], in `AppState`): the URL
//! Twilio signs, each provider's secret, and two bounded in-memory memories: the Mailgun tokens
//! seen lately ([`ReplayGuard`]) and the Messenger messages the page sent ([`SentIndex`], for
//! read receipts, which name a time and not messages).
//!
//! Secrets: Twilio's `auth_token` and Messenger's `app_secret` / `verify_token` come from the
//! channel settings; the settings have no keys for Mailgun and Postmark yet, so their secrets
//! are read from `QUALIFYD_MAILGUN_SIGNING_KEY` and `QUALIFYD_POSTMARK_SECRET` when the daemon
//! starts. A provider without a secret has its webhook answer 404: nothing unverified is taken.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Mutex;

use crate::settings::{MessengerDriver, Secret, Settings, SmsDriver};

pub const MAILGUN_SIGNING_KEY_ENV: &str = "QUALIFYD_MAILGUN_SIGNING_KEY";
pub const POSTMARK_SECRET_ENV: &str = "QUALIFYD_POSTMARK_SECRET";

/// How long a Mailgun signature is accepted, and a token remembered, in seconds.
pub const MAILGUN_MAX_AGE_SECS: i64 = 15 * 60;
const MAILGUN_TOKENS_KEPT: usize = 100_000;
const MESSENGER_PEOPLE_KEPT: usize = 10_000;
const MESSENGER_MIDS_PER_PERSON: usize = 32;

pub struct ProviderWebhooks {
    /// `Settings.public_url`, no trailing slash: Twilio signs the URL it calls, so the daemon
    /// must know the public one (behind a proxy it differs from what the request shows).
    pub public_url: String,
    pub twilio_auth_token: Option<Secret>,
    pub messenger: Option<MessengerSecrets>,
    pub mailgun_signing_key: Option<Secret>,
    pub postmark_secret: Option<Secret>,
    pub(super) mailgun_tokens: Mutex<ReplayGuard>,
    pub(super) messenger_sent: Mutex<SentIndex>,
}

#[derive(Debug, Clone)]
pub struct MessengerSecrets {
    /// Key of the `X-Hub-Signature-256` HMAC.
    pub app_secret: Secret,
    /// What Meta must present in the subscription handshake.
    pub verify_token: Secret,
}

impl ProviderWebhooks {
    /// From the settings, plus the environment (`env`) for the secrets the settings lack.
    pub fn from_settings(settings: &Settings, env: &dyn Fn(&str) -> Option<String>) -> ProviderWebhooks {
        let secret = |name: &str| env(name).filter(|v| !v.trim().is_empty()).map(Secret::new);
        let mut webhooks = ProviderWebhooks::none(&settings.public_url);
        if let Some(SmsDriver::Twilio(twilio)) = &settings.channels.sms {
            webhooks.twilio_auth_token = Some(twilio.auth_token.clone());
        }
        if let Some(MessengerDriver::Graph(graph)) = &settings.channels.messenger {
            webhooks.messenger = Some(MessengerSecrets {
                app_secret: graph.app_secret.clone(),
                verify_token: graph.verify_token.clone(),
            });
        }
        // The settings keys first; the environment variables remain as a fallback.
        webhooks.mailgun_signing_key = settings.mailgun_signing_key.clone().or_else(|| secret(MAILGUN_SIGNING_KEY_ENV));
        webhooks.postmark_secret = settings.postmark_secret.clone().or_else(|| secret(POSTMARK_SECRET_ENV));
        webhooks
    }

    /// Every provider webhook disabled.
    pub fn none(public_url: &str) -> ProviderWebhooks {
        ProviderWebhooks {
            public_url: public_url.trim_end_matches('/').to_string(),
            twilio_auth_token: None,
            messenger: None,
            mailgun_signing_key: None,
            postmark_secret: None,
            mailgun_tokens: Mutex::new(ReplayGuard::new(MAILGUN_MAX_AGE_SECS, MAILGUN_TOKENS_KEPT)),
            messenger_sent: Mutex::new(SentIndex::new(MESSENGER_PEOPLE_KEPT, MESSENGER_MIDS_PER_PERSON)),
        }
    }
}

impl fmt::Debug for ProviderWebhooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderWebhooks")
            .field("public_url", &self.public_url)
            .field("twilio", &self.twilio_auth_token.is_some())
            .field("messenger", &self.messenger.is_some())
            .field("mailgun", &self.mailgun_signing_key.is_some())
            .field("postmark", &self.postmark_secret.is_some())
            .finish_non_exhaustive()
    }
}

/// What [`ReplayGuard::check`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// First time: remembered now.
    New,
    /// Same token, same body: the provider retrying a delivery (the engine dedupes it).
    Retry,
    /// Same token, another body: someone replaying a captured signature.
    Replay,
}

/// Tokens seen in the last `ttl` seconds with a digest of their body, at most `capacity` (the
/// oldest are forgotten first).
#[derive(Debug)]
pub struct ReplayGuard {
    ttl: i64,
    capacity: usize,
    seen: HashMap<String, (i64, [u8; 32])>,
    /// `(expiry, token)` in insertion order, for expiry and eviction.
    order: VecDeque<(i64, String)>,
}

impl ReplayGuard {
    pub fn new(ttl: i64, capacity: usize) -> ReplayGuard {
        ReplayGuard { ttl, capacity: capacity.max(1), seen: HashMap::new(), order: VecDeque::new() }
    }

    pub fn check(&mut self, token: &str, body_digest: [u8; 32], now: i64) -> Seen {
        while let Some((expiry, _)) = self.order.front()
            && (*expiry <= now || self.seen.len() >= self.capacity)
        {
            let Some((_, old)) = self.order.pop_front() else { break };
            self.seen.remove(&old);
        }
        match self.seen.get(token) {
            Some((_, digest)) if *digest == body_digest => Seen::Retry,
            Some(_) => Seen::Replay,
            None => {
                self.seen.insert(token.to_string(), (now + self.ttl, body_digest));
                self.order.push_back((now + self.ttl, token.to_string()));
                Seen::New
            }
        }
    }

    /// Puts back the body digest a token first came with (learnt from the store after a
    /// restart), in place of the one `check` just remembered.
    pub fn correct(&mut self, token: &str, body_digest: [u8; 32]) {
        if let Some((_, digest)) = self.seen.get_mut(token) {
            *digest = body_digest;
        }
    }
}

/// For each person (PSID), the page's recent messages `(mid, timestamp in ms)` as Meta's echoes
/// told them, so that a read receipt ("read up to this time") can be turned into message ids.
/// In memory and bounded: a read receipt for messages sent before a restart is not applied.
#[derive(Debug)]
pub struct SentIndex {
    people: usize,
    per_person: usize,
    sent: HashMap<String, VecDeque<(String, i64)>>,
    order: VecDeque<String>,
}

impl SentIndex {
    pub fn new(people: usize, per_person: usize) -> SentIndex {
        SentIndex { people: people.max(1), per_person: per_person.max(1), sent: HashMap::new(), order: VecDeque::new() }
    }

    pub fn remember(&mut self, person: &str, mid: &str, timestamp: i64) {
        if !self.sent.contains_key(person) {
            while self.sent.len() >= self.people {
                let Some(oldest) = self.order.pop_front() else { break };
                self.sent.remove(&oldest);
            }
            self.order.push_back(person.to_string());
        }
        let messages = self.sent.entry(person.to_string()).or_default();
        if messages.iter().any(|(m, _)| m == mid) {
            return;
        }
        messages.push_back((mid.to_string(), timestamp));
        if messages.len() > self.per_person {
            messages.pop_front();
        }
    }

    /// The mids sent to `person` at or before `watermark`; with `forget`, they are dropped.
    pub fn until(&mut self, person: &str, watermark: i64, forget: bool) -> Vec<String> {
        let Some(messages) = self.sent.get_mut(person) else { return Vec::new() };
        let mids = messages.iter().filter(|(_, at)| *at <= watermark).map(|(m, _)| m.clone()).collect();
        if forget {
            messages.retain(|(_, at)| *at > watermark);
        }
        mids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_remembered_for_their_lifetime() {
        let mut guard = ReplayGuard::new(900, 3);
        let (a, b) = ([1u8; 32], [2u8; 32]);
        assert_eq!(guard.check("t1", a, 1_000), Seen::New);
        assert_eq!(guard.check("t1", a, 1_100), Seen::Retry);
        assert_eq!(guard.check("t1", b, 1_200), Seen::Replay);
        assert_eq!(guard.check("t1", b, 1_900), Seen::New, "forgotten after 15 minutes");
        for (i, token) in ["t2", "t3", "t4"].iter().enumerate() {
            assert_eq!(guard.check(token, a, 2_000 + i as i64), Seen::New);
        }
        assert_eq!(guard.seen.len(), 3, "bounded");
    }

    #[test]
    fn sent_messages_are_found_by_watermark() {
        let mut index = SentIndex::new(2, 3);
        index.remember("psid-1", "m1", 100);
        index.remember("psid-1", "m2", 200);
        index.remember("psid-1", "m2", 200);
        assert_eq!(index.until("psid-1", 150, false), ["m1"]);
        assert_eq!(index.until("psid-1", 250, true), ["m1", "m2"]);
        assert!(index.until("psid-1", 250, true).is_empty());
        index.remember("psid-2", "m3", 100);
        index.remember("psid-3", "m4", 100);
        assert_eq!(index.sent.len(), 2, "bounded");
        assert_eq!(index.until("psid-3", 100, false), ["m4"]);
    }
}
