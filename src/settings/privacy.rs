//! The `privacy` section: where the master key comes from, the secret of the keyed contact
//! hashes, the HELP answer; and the check of the retention sweep's cron pattern.
//!
//! The master key is, in order: `privacy.master_key`, else the `QUALIFYD_MASTER_KEY` environment
//! variable, else `privacy.master_key_file`, else the development default when
//! `development_key: true`, else none (the daemon then refuses to start).

use super::context::{Cx, optional_secret};
use super::{MasterKeySource, PrivacySettings, Secret, raw};
use crate::privacy::{MASTER_KEY_ENV, SecretKey};

pub const DEFAULT_HELP_TEXT: &str =
    "These are automated messages about your enquiry. Reply STOP to stop them, START to receive them again.";

pub fn privacy(cx: &mut Cx<'_>, env: &dyn Fn(&str) -> Option<String>) -> PrivacySettings {
    let raw = cx.raw::<raw::Privacy>("privacy").unwrap_or(raw::Privacy {
        master_key: None,
        master_key_file: None,
        development_key: None,
        suppression_secret: None,
        help_text: None,
    });
    let nonempty = |text: Option<String>| text.filter(|t| !t.trim().is_empty());
    let value = nonempty(raw.master_key).or_else(|| nonempty(env(MASTER_KEY_ENV)));
    let file = cx.path(raw.master_key_file.as_deref());
    let master_key = match (value, file) {
        (Some(_), Some(_)) => {
            cx.error(
                "privacy.master_key_file",
                format!("a master key is also given by `privacy.master_key` or {MASTER_KEY_ENV}: keep only one"),
            );
            MasterKeySource::Missing
        }
        (Some(value), None) => {
            cx.value("privacy.master_key", Some(&value), (), |text| {
                SecretKey::from_base64(text).map(|_| ()).map_err(|reason| {
                    format!("the master key {reason}: write the base64 of 32 random bytes (`openssl rand -base64 32`)")
                })
            });
            MasterKeySource::Value(Secret::new(value))
        }
        (None, Some(file)) => MasterKeySource::File(file),
        (None, None) if raw.development_key == Some(true) => MasterKeySource::Development,
        (None, None) => MasterKeySource::Missing,
    };
    let help_text = match raw.help_text {
        Some(text) => cx.required("privacy.help_text", text),
        None => DEFAULT_HELP_TEXT.to_string(),
    };
    PrivacySettings { master_key, suppression_secret: raw.suppression_secret.and_then(optional_secret), help_text }
}

/// A 5-field crontab pattern croner accepts.
pub fn check_cron(text: &str) -> Result<(), String> {
    text.trim()
        .parse::<croner::Cron>()
        .map(|_| ())
        .map_err(|e| format!("invalid cron pattern `{text}` ({e}): write 5 fields, for example `0 3 * * *`"))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::settings::{Settings, compile};

    fn compile_with(text: &str, vars: &[(&str, &str)]) -> Result<Settings, Vec<crate::diagnostic::Diagnostic>> {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        compile(Path::new("/etc/qualifyd/config.yaml"), text, &move |name| vars.get(name).cloned())
    }

    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    #[test]
    fn without_any_key_the_source_is_missing() {
        let settings = compile_with("", &[]).unwrap();
        assert!(matches!(settings.privacy.master_key, MasterKeySource::Missing));
        assert_eq!(settings.privacy.help_text, DEFAULT_HELP_TEXT);
        assert_eq!(settings.retention.max_messages, 1000);
    }

    #[test]
    fn the_key_comes_from_the_file_the_environment_or_the_development_default() {
        let from_env = compile_with("", &[(MASTER_KEY_ENV, KEY)]).unwrap();
        assert!(matches!(from_env.privacy.master_key, MasterKeySource::Value(ref s) if s.expose() == KEY));
        assert!(!format!("{from_env:?}").contains(KEY), "the key never shows in Debug output");
        let file = compile_with("privacy: { master_key_file: keys/master.key }", &[]).unwrap();
        let MasterKeySource::File(path) = file.privacy.master_key else { panic!("a file") };
        assert_eq!(path, PathBuf::from("/etc/qualifyd/keys/master.key"));
        let dev = compile_with("privacy: { development_key: true }", &[]).unwrap();
        assert!(matches!(dev.privacy.master_key, MasterKeySource::Development));
        let both = compile_with("privacy: { master_key_file: /k }", &[(MASTER_KEY_ENV, KEY)]).unwrap_err();
        assert!(both[0].message.contains("keep only one"), "{both:?}");
    }

    #[test]
    fn bad_values_are_diagnostics() {
        let short = compile_with("privacy:\n  master_key: c2hvcnQ=\n", &[]).unwrap_err();
        assert_eq!(short.len(), 1, "{short:#?}");
        assert!(short[0].message.contains("5 bytes instead of 32"), "{short:?}");
        assert_eq!((short[0].line, short[0].column), (2, 15));
        let text = "privacy:\n  help_txt: hi\nretention:\n  sweep_cron: \"every night\"\n  max_messages: 0\n";
        let errors = compile_with(text, &[]).unwrap_err();
        let messages: Vec<&str> = errors.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(errors.len(), 3, "{messages:#?}");
        assert!(messages.iter().any(|m| m.contains("help_txt")), "{messages:?}");
        assert!(messages.iter().any(|m| m.contains("invalid cron pattern")), "{messages:?}");
        assert!(messages.iter().any(|m| m.contains("at least 1")), "{messages:?}");
    }
}
