//! Delivery receipts and providers' one-time tokens: a receipt updates the status of the
//! outbound message with its provider id (never backwards); a receipt that overtakes the
//! executor recording the send is held, durably, until that send takes it or a day passes;
//! Mailgun's signed tokens are remembered until they expire (the replay guard). Held receipts
//! and tokens are [`Op::PutExpiring`] keys, forgotten by [`sweep_expired`] (run by the timer
//! service), so neither grows without bound.
//!
//! The intake lock orders a receipt against other receipts and intake; it is held while the
//! message is read and the write applied, never across the flush.

use chrono::{DateTime, Utc};

use crate::engine::{Engine, Error, Inner};
use crate::store::{Batch, DeliveryStatus, Op};

/// How long a receipt waits for its send to be recorded (providers call back within seconds;
/// a receipt about a message this store never sent is dropped after this).
pub(crate) const HELD_RECEIPT_TTL: chrono::Duration = chrono::Duration::hours(24);
/// Expired keys forgotten per sweep.
const SWEEP_CHUNK: usize = 1024;

/// A delivery receipt kept until its send is recorded: (status, error).
pub(crate) type HeldReceipt = (DeliveryStatus, Option<String>);

/// The dedupe-table key under which an early receipt waits for its send.
pub(crate) fn early_receipt_key(provider_id: &str) -> String {
    format!("receipt:{provider_id}")
}

impl Engine {
    /// Applies a provider's delivery receipt to the outbound message with this provider id.
    /// Receipts arrive out of order: a status never moves backwards. Returns false when no
    /// message has that id (yet: the receipt is then held for its send).
    pub async fn record_delivery(
        &self,
        prospect_hint: Option<&str>,
        provider_id: &str,
        status: DeliveryStatus,
        error: Option<String>,
    ) -> Result<bool, Error> {
        let prospect = match prospect_hint {
            Some(id) => Some(id.to_string()),
            None => self.inner.store.seen(&format!("out:{provider_id}"))?,
        };
        let guard = self.inner.intake_lock.lock().await;
        let found = match &prospect {
            Some(prospect) => {
                self.inner.store.messages(prospect)?.into_iter().find(|m| m.provider_id.as_deref() == Some(provider_id))
            }
            None => None,
        };
        let mut batch = Batch::new();
        let (Some(prospect), Some(mut message)) = (prospect, found) else {
            // The receipt overtook the executor recording the send (providers call back fast):
            // keep it durably; the executor applies it when it records the provider id.
            let key = early_receipt_key(provider_id);
            if let Some(held) = self.inner.store.seen(&key)?
                && let Ok((held, _)) = serde_json::from_str::<HeldReceipt>(&held)
                && held >= status
            {
                return Ok(false);
            }
            let value = serde_json::to_string(&(status, error)).unwrap_or_default();
            batch.push(Op::PutExpiring { key, value, until: Utc::now() + HELD_RECEIPT_TTL });
            self.inner.writer.apply(batch).await?;
            drop(guard);
            self.inner.writer.flush().await?;
            return Ok(false);
        };
        if status <= message.status {
            return Ok(true); // Late or repeated receipt.
        }
        message.status = status;
        if error.is_some() {
            message.error = error;
        }
        batch.push(Op::PutMessage { prospect: prospect.clone(), message });
        self.inner.writer.apply(batch).await?;
        drop(guard);
        self.inner.writer.flush().await?;
        metrics::counter!("qualifyd_delivery_receipts_total").increment(1);
        Ok(true)
    }

    /// Applies a watermark receipt (Messenger `read` and `delivery` without ids): every message
    /// sent on `channel` to this contact at or before `up_to` gets `status` (never backwards).
    /// Returns how many messages changed.
    pub async fn record_up_to(
        &self,
        channel: crate::channel::Channel,
        contact: &crate::store::ContactKey,
        up_to: DateTime<Utc>,
        status: DeliveryStatus,
    ) -> Result<usize, Error> {
        let guard = self.inner.intake_lock.lock().await;
        let mut batch = Batch::new();
        let mut changed = 0;
        for prospect in self.inner.store.prospects_by_contact(contact)? {
            for mut message in self.inner.store.messages(&prospect)? {
                let eligible = message.direction == crate::machine::Direction::Outbound
                    && message.channel == channel
                    && message.at <= up_to
                    && message.provider_id.is_some()
                    && message.status < status
                    && message.status >= DeliveryStatus::Sent
                    && message.status <= DeliveryStatus::Read;
                if eligible {
                    message.status = status;
                    batch.push(Op::PutMessage { prospect: prospect.clone(), message });
                    changed += 1;
                }
            }
        }
        if changed > 0 {
            self.inner.writer.apply(batch).await?;
            drop(guard);
            self.inner.writer.flush().await?;
            metrics::counter!("qualifyd_delivery_receipts_total").increment(changed as u64);
        }
        Ok(changed)
    }

    /// Remembers, durably, a provider's one-time token (Mailgun's signed `token`) with the digest
    /// of the body it came with, until `expires` (unix seconds). Returns the digest remembered
    /// earlier if the token was already seen and has not expired: the same body is the provider
    /// retrying, another body is a replayed signature. Kept under a hash of the token, and
    /// forgotten once expired (the signature check refuses the token by then).
    pub async fn remember_token(
        &self,
        provider: &str,
        token: &str,
        digest: [u8; 32],
        now: i64,
        expires: i64,
    ) -> Result<Option<[u8; 32]>, Error> {
        use sha2::{Digest, Sha256};
        let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
        let key = format!("token:{provider}:{}", hex(&Sha256::digest(token.as_bytes())));
        if let Some(held) = self.inner.store.seen(&key)?
            && let Some((seen, until)) = held.split_once(':')
            && until.parse::<i64>().is_ok_and(|until| until > now)
        {
            let mut earlier = [0u8; 32];
            for (i, byte) in earlier.iter_mut().enumerate() {
                *byte = seen.get(i * 2..i * 2 + 2).and_then(|h| u8::from_str_radix(h, 16).ok()).unwrap_or(0);
            }
            return Ok(Some(earlier));
        }
        let until = DateTime::from_timestamp(expires, 0).unwrap_or_else(Utc::now);
        let mut batch = Batch::new();
        batch.push(Op::PutExpiring { key, value: format!("{}:{expires}", hex(&digest)), until });
        self.inner.commit(batch).await?;
        Ok(None)
    }
}

/// The receipt held for a send with this provider id, if one came early; taking it forgets it.
pub(crate) fn take_held(inner: &Inner, batch: &mut Batch, provider_id: &str) -> Result<Option<HeldReceipt>, Error> {
    let key = early_receipt_key(provider_id);
    let Some(held) = inner.store.seen(&key)? else { return Ok(None) };
    batch.push(Op::DeleteSeen { key });
    Ok(serde_json::from_str::<HeldReceipt>(&held).ok())
}

/// Forgets the held receipts and tokens whose time is up. Returns how many.
pub(crate) async fn sweep_expired(inner: &Inner, now: DateTime<Utc>) -> Result<usize, Error> {
    let mut forgotten = 0;
    loop {
        let expired = inner.store.expired(now, SWEEP_CHUNK)?;
        if expired.is_empty() {
            return Ok(forgotten);
        }
        let count = expired.len();
        let mut batch = Batch::new();
        for key in expired {
            batch.push(Op::DeleteExpired(key));
        }
        inner.writer.apply(batch).await?;
        forgotten += count;
        if count < SWEEP_CHUNK {
            return Ok(forgotten);
        }
    }
}
