//! The lawfulness and transparency record of a prospect (GDPR arts. 6, 7, 13/14; EU AI Act
//! art. 50): on which legal basis the person is processed and where that basis comes from (an
//! import, the person writing first, a form's consent with its time and text version), and when
//! the first-contact notice (who we are, where the privacy notice is, that the conversation is
//! automated, how to stop) was sent, in which version. Kept in the state, so it is sealed with
//! it, exported with it and erased with it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use crate::catalog::model::LegalBasis;
use crate::catalog::model::Workflow;
use crate::machine::{Action, Transition};

/// Where the basis was established.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BasisSource {
    /// Imported (API, CSV): the workflow's declared basis, or the one the import gave.
    Import,
    /// The person wrote first and a workflow took them in.
    Inbound,
    /// A form's consent, with its proof.
    Form,
}

/// The proof of a consent (art. 7(1)): when, and which version of the consent text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    pub at: DateTime<Utc>,
    pub text_version: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lawfulness {
    pub basis: LegalBasis,
    pub source: BasisSource,
    pub recorded_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent: Option<Consent>,
    /// When the first-contact notice went out with the first message, and its version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice_sent_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice_version: Option<String>,
}

impl Lawfulness {
    pub fn new(basis: LegalBasis, source: BasisSource, now: DateTime<Utc>) -> Lawfulness {
        Lawfulness { basis, source, recorded_at: now, consent: None, notice_sent_at: None, notice_version: None }
    }

    /// The basis of an import: `legal_basis` and `consent` as the import gave them, else the
    /// workflow's declared basis. `Err` says what is wrong, in the import's terms.
    pub fn of_import(
        declared: LegalBasis,
        legal_basis: Option<&str>,
        consent: Option<Consent>,
        now: DateTime<Utc>,
    ) -> Result<Lawfulness, String> {
        let given = match legal_basis {
            Some(name) => Some(LegalBasis::parse(name).ok_or_else(|| {
                format!("`legal_basis` is `{name}`; it must be one of {}", LegalBasis::NAMES.join(", "))
            })?),
            None => None,
        };
        match (given, consent) {
            (Some(basis), Some(_)) if basis != LegalBasis::Consent => Err(format!(
                "`consent` is given but `legal_basis` is `{}`: drop one of them",
                legal_basis.unwrap_or_default()
            )),
            (_, Some(consent)) => {
                if consent.at > now + chrono::Duration::minutes(5) {
                    return Err("`consent.at` is in the future: give the time the person consented".into());
                }
                if consent.text_version.trim().is_empty() {
                    return Err("`consent.text_version` is empty: name the version of the consent text shown".into());
                }
                Ok(Lawfulness {
                    consent: Some(consent),
                    ..Lawfulness::new(LegalBasis::Consent, BasisSource::Form, now)
                })
            }
            (Some(LegalBasis::Consent), None) => Err(
                "`legal_basis: consent` needs its proof (GDPR art. 7(1)): add `consent: {\"at\": \"<RFC 3339 time>\", \
                 \"text_version\": \"<version of the text shown>\"}`"
                    .into(),
            ),
            (Some(basis), None) => Ok(Lawfulness::new(basis, BasisSource::Import, now)),
            (None, None) => Ok(Lawfulness::new(declared, BasisSource::Import, now)),
        }
    }
}

/// The first automated message a prospect receives carries the workflow's first-contact notice
/// (`privacy.notice`), recorded with its version in the lawfulness record.
pub(crate) fn stamp_notice(workflow: &Workflow, transition: &mut Transition, now: DateTime<Utc>) {
    let Some(notice) = &workflow.privacy.notice else { return };
    let Some(record) = transition.state.lawfulness.as_mut() else { return };
    if record.notice_sent_at.is_some() {
        return;
    }
    let first = transition.actions.iter_mut().find_map(|action| match action {
        Action::Send { text, human: false, .. } => Some(text),
        _ => None,
    });
    if let Some(text) = first {
        if !text.contains(notice.as_str()) {
            text.push_str("\n\n");
            text.push_str(notice);
        }
        record.notice_sent_at = Some(now);
        record.notice_version = Some(notice_version(notice));
    }
}

/// A short, stable version id of a notice text (what was shown, without storing it twice).
pub fn notice_version(text: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(text.as_bytes()).iter().take(6).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_import_takes_the_declared_basis_or_a_proven_consent() {
        let now = Utc::now();
        let plain = Lawfulness::of_import(LegalBasis::LegitimateInterest, None, None, now).unwrap();
        assert_eq!((plain.basis, plain.source), (LegalBasis::LegitimateInterest, BasisSource::Import));
        let consent = Consent { at: now - chrono::Duration::days(1), text_version: "form-v3".into() };
        let form = Lawfulness::of_import(LegalBasis::LegitimateInterest, None, Some(consent.clone()), now).unwrap();
        assert_eq!((form.basis, form.source, form.consent), (LegalBasis::Consent, BasisSource::Form, Some(consent)));
        let bare = Lawfulness::of_import(LegalBasis::LegitimateInterest, Some("consent"), None, now).unwrap_err();
        assert!(bare.contains("art. 7(1)"), "{bare}");
        let typo = Lawfulness::of_import(LegalBasis::LegitimateInterest, Some("interest"), None, now).unwrap_err();
        assert!(typo.contains("legitimate_interest"), "{typo}");
        let later = Consent { at: now + chrono::Duration::days(1), text_version: "v".into() };
        assert!(Lawfulness::of_import(LegalBasis::Consent, None, Some(later), now).is_err());
        assert_eq!(notice_version("a"), notice_version("a"));
        assert_ne!(notice_version("a"), notice_version("b"));
    }
}
