//! Damaged prospects: those whose data key is missing from `keys/` (lost file, partial restore)
//! while their records are still in the store. Their records cannot be read; nothing else may
//! suffer from it: listings and sweeps skip them, a read of one answers [`Error::Damaged`] (which
//! tells how to recover), they are counted by the `qualifyd_damaged_prospects` gauge, reported
//! at start, and erasable by `prospect_id` (erasure needs no key: it removes records by key).

use super::{SledStore, backend_at};
use crate::privacy::Vault;
use crate::store::{Error, keys};

/// The gauge of damaged prospects.
pub const DAMAGED_GAUGE: &str = "qualifyd_damaged_prospects";

impl SledStore {
    /// Scans the prospect records' envelopes (their subject is in clear: no decryption) for
    /// subjects without a data key. Run at open.
    pub(super) fn find_damaged(&self) -> Result<(), Error> {
        for item in self.tree.scan_prefix(keys::PROSPECTS) {
            let (_, value) = item.map_err(|e| backend_at("scanning", keys::PROSPECTS, e))?;
            if let Some(subject) = Vault::subject(&value)
                && !self.vault.has_key(subject)
                && !self.is_erased(subject)?
            {
                self.mark_damaged(subject);
            }
        }
        let count = self.damaged.lock().unwrap_or_else(|e| e.into_inner()).len();
        if count > 0 {
            tracing::error!(
                count,
                "prospects whose data key is missing: their records cannot be read (listed by GET /v1/prospects \
                 as `damaged`); restore the keys directory from a backup, or erase them by prospect_id"
            );
        }
        Ok(())
    }

    pub(super) fn mark_damaged(&self, subject: &str) {
        let mut damaged = self.damaged.lock().unwrap_or_else(|e| e.into_inner());
        if damaged.insert(subject.to_string()) {
            metrics::gauge!(DAMAGED_GAUGE).set(damaged.len() as f64);
        }
    }

    pub(super) fn forget_damaged(&self, subjects: &[String]) {
        let mut damaged = self.damaged.lock().unwrap_or_else(|e| e.into_inner());
        for subject in subjects {
            damaged.remove(subject);
        }
        metrics::gauge!(DAMAGED_GAUGE).set(damaged.len() as f64);
    }

    pub(super) fn damaged_ids(&self) -> Vec<String> {
        self.damaged.lock().unwrap_or_else(|e| e.into_inner()).iter().cloned().collect()
    }
}
