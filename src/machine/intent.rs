//! Words that carry a meaning by themselves: opt-out keywords (STOP, ARRET...), opt-in and help.

/// Single-word opt-out keywords, compared case-insensitively after trimming punctuation.
pub const STOP_WORDS: &[&str] = &["stop", "stopall", "unsubscribe", "cancel", "end", "quit", "arret", "arrêt"];
pub const START_WORDS: &[&str] = &["start", "unstop"];
pub const HELP_WORDS: &[&str] = &["help", "aide"];

fn normalise(text: &str) -> String {
    text.trim().trim_matches(|c: char| c.is_ascii_punctuation()).trim().to_lowercase()
}

/// `true` when the whole message is one opt-out keyword.
pub fn is_stop_word(text: &str) -> bool {
    STOP_WORDS.contains(&normalise(text).as_str())
}

pub fn is_start_word(text: &str) -> bool {
    START_WORDS.contains(&normalise(text).as_str())
}

pub fn is_help_word(text: &str) -> bool {
    HELP_WORDS.contains(&normalise(text).as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_words_any_case_single_word_only() {
        assert!(is_stop_word("STOP"));
        assert!(is_stop_word(" Arrêt. "));
        assert!(is_stop_word("ARRET"));
        assert!(!is_stop_word("please stop calling me at work, call my mobile"));
        assert!(is_start_word("Start"));
    }
}
