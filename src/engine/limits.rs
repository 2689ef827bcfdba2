//! Size caps on what a message from outside may store: its text is cut at `max_text_bytes` (on
//! a character boundary, the cut marked), its provider id and sender are refused beyond
//! `max_id_bytes`. Without them one sender could grow the store without bound (each state also
//! carries its last texts).

use super::Error;
use super::api::InboundMessage;

/// What marks a cut text; followed by the number of bytes left out.
pub const TRUNCATION_MARK: &str = "… [truncated:";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InboundLimits {
    pub max_text_bytes: usize,
    pub max_id_bytes: usize,
}

impl Default for InboundLimits {
    fn default() -> InboundLimits {
        InboundLimits { max_text_bytes: 8 * 1024, max_id_bytes: 256 }
    }
}

impl InboundLimits {
    /// Refuses an over-long id or sender; cuts an over-long text.
    pub fn apply(&self, message: &mut InboundMessage) -> Result<(), Error> {
        for (what, value) in [("id", &message.id), ("from", &message.from)] {
            if value.len() > self.max_id_bytes {
                return Err(Error::Invalid(format!(
                    "`{what}` is {} bytes long, more than the {} allowed (`limits.max_id_bytes`)",
                    value.len(),
                    self.max_id_bytes
                )));
            }
        }
        if let Some(to) = &message.to
            && to.len() > self.max_id_bytes
        {
            message.to = None;
        }
        message.text = self.cap_text(std::mem::take(&mut message.text));
        Ok(())
    }

    /// `text` unchanged when it fits, else its longest prefix that fits with the mark.
    pub fn cap_text(&self, text: String) -> String {
        if text.len() <= self.max_text_bytes {
            return text;
        }
        let mut end = self.max_text_bytes.min(text.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let dropped = text.len() - end;
        format!("{}{TRUNCATION_MARK} {dropped} bytes]", &text[..end])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::Channel;

    fn message(text: &str, id: &str) -> InboundMessage {
        InboundMessage {
            channel: Channel::Sms,
            from: "+33612345678".into(),
            to: None,
            text: text.into(),
            id: id.into(),
            prospect_hint: None,
            proof: Default::default(),
        }
    }

    #[test]
    fn long_texts_are_cut_on_a_char_boundary_and_marked() {
        let limits = InboundLimits { max_text_bytes: 5, max_id_bytes: 12 };
        let mut short = message("court", "SM1");
        limits.apply(&mut short).unwrap();
        assert_eq!(short.text, "court");
        let mut long = message("ééééé", "SM2");
        limits.apply(&mut long).unwrap();
        assert_eq!(long.text, "éé… [truncated: 6 bytes]");
    }

    #[test]
    fn long_ids_and_senders_are_refused() {
        let limits = InboundLimits { max_text_bytes: 5, max_id_bytes: 12 };
        let err = limits.apply(&mut message("x", "SM-0123456789-")).unwrap_err();
        assert!(err.to_string().contains("`id` is 14 bytes long"), "{err}");
        let mut long_from = message("x", "SM3");
        long_from.from = "a".repeat(13);
        assert!(limits.apply(&mut long_from).is_err());
    }
}
