//! The `webhooks` section: how outgoing hand-off calls (`webhook` steps, `notify` webhooks) are
//! signed and how often they are tried. Each destination (a URL prefix) has its own secret; the
//! `signing_secret` (else the `QUALIFYD_WEBHOOK_SECRET` environment variable) covers the others.

use super::Secret;
use super::context::{Cx, optional_secret};
use super::raw;

/// The environment variable holding the default signing secret.
pub const WEBHOOK_SECRET_ENV: &str = "QUALIFYD_WEBHOOK_SECRET";

/// Attempts of a hand-off before it is given up (the prospect then takes `on_failure` or
/// shows `attention`).
pub const DEFAULT_MAX_ATTEMPTS: u32 = 10;

#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Secret for destinations no `destinations` entry matches.
    pub signing_secret: Option<Secret>,
    /// URL prefix -> secret; the longest matching prefix wins.
    pub destinations: Vec<(String, Secret)>,
    pub max_attempts: u32,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings { signing_secret: None, destinations: Vec::new(), max_attempts: DEFAULT_MAX_ATTEMPTS }
    }
}

impl WebhookSettings {
    /// The secret that signs calls to `url`, if any.
    pub fn secret_for(&self, url: &str) -> Option<&Secret> {
        self.destinations
            .iter()
            .filter(|(prefix, _)| url.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(_, secret)| secret)
            .or(self.signing_secret.as_ref())
    }
}

pub fn webhooks(cx: &mut Cx<'_>, env: &dyn Fn(&str) -> Option<String>) -> WebhookSettings {
    let raw = cx.raw::<raw::Webhooks>("webhooks").unwrap_or_default();
    let signing_secret =
        raw.signing_secret.and_then(optional_secret).or_else(|| env(WEBHOOK_SECRET_ENV).and_then(optional_secret));
    let mut destinations = Vec::new();
    for (index, destination) in raw.destinations.into_iter().enumerate() {
        let path = format!("webhooks.destinations.{index}");
        if !(destination.url.starts_with("https://") || destination.url.starts_with("http://")) {
            cx.error(&format!("{path}.url"), format!("`{}` is not an http:// or https:// URL prefix", destination.url));
            continue;
        }
        match optional_secret(destination.secret) {
            Some(secret) => destinations.push((destination.url, secret)),
            None => cx.error(
                &format!("{path}.secret"),
                "the secret is empty: set it (for example `${CRM_WEBHOOK_SECRET}`) or remove the destination",
            ),
        }
    }
    let max_attempts = cx.positive("webhooks.max_attempts", raw.max_attempts, DEFAULT_MAX_ATTEMPTS);
    WebhookSettings { signing_secret, destinations, max_attempts }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_prefix_wins_and_the_default_covers_the_rest() {
        let settings = WebhookSettings {
            signing_secret: Some(Secret::new("default")),
            destinations: vec![
                ("https://crm.example.com/".into(), Secret::new("crm")),
                ("https://crm.example.com/hooks/sales".into(), Secret::new("sales")),
            ],
            max_attempts: 3,
        };
        assert_eq!(settings.secret_for("https://crm.example.com/other").unwrap().expose(), "crm");
        assert_eq!(settings.secret_for("https://crm.example.com/hooks/sales/1").unwrap().expose(), "sales");
        assert_eq!(settings.secret_for("https://chat.example.com/x").unwrap().expose(), "default");
        assert!(WebhookSettings::default().secret_for("https://x.example.com").is_none());
    }
}
