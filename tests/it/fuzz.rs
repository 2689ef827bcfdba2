//! Fuzz harness for the settings loader (proptest, runnable on stable; `.ci/run` bounds the
//! cases with `PROPTEST_CASES`): arbitrary text and YAML-shaped text over the real keys must
//! give settings or located diagnostics, never a panic. The workflow compiler is fuzzed in
//! `catalog_props`, the webhook parsers in `src/http/fuzz.rs`, the script parser in
//! `src/simulate/tests.rs`.

use std::path::Path;

use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig { failure_persistence: None, ..ProptestConfig::default() }
}

fn check(text: &str) -> Result<(), TestCaseError> {
    if let Err(diagnostics) = qualifyd::settings::compile(Path::new("/etc/q/config.yaml"), text, &|_| None) {
        prop_assert!(!diagnostics.is_empty());
        for d in &diagnostics {
            prop_assert!(d.line >= 1 && d.column >= 1, "bad position {d} for\n{text}");
        }
    }
    Ok(())
}

/// Lines of `key: value` over the real settings keys and plausible values.
fn settings_yaml() -> impl Strategy<Value = String> {
    let keys = prop::sample::select(vec![
        "listen",
        "public_url",
        "data_dir",
        "timezone",
        "inbound_token",
        "admin_token",
        "http",
        "limits",
        "store",
        "channels",
        "reload",
        "retention",
        "privacy",
        "send_window",
        "  header_timeout",
        "  max_connections",
        "  metrics_listen",
        "  max_text_bytes",
        "  sms",
        "  driver",
        "  days",
        "  hours",
        "  cache_capacity_mb",
    ]);
    let values = prop::sample::select(vec![
        "",
        "none",
        "0",
        "-1",
        "99999999999999999999",
        "127.0.0.1:0",
        "0.0.0.0:80",
        "10s",
        "0s",
        "x",
        "[]",
        "{}",
        "[mon, funday]",
        "\"08:00-20:00\"",
        "${X}",
        "${X:-}",
        "${X:-none}",
        "outbox",
        "twilio",
        "yes",
        "~",
        "|",
    ]);
    prop::collection::vec((keys, values), 0..12)
        .prop_map(|lines| lines.iter().map(|(k, v)| format!("{k}: {v}\n")).collect::<String>())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_settings_loader_never_panics_on_arbitrary_text(text in any::<String>()) {
        check(&text)?;
    }

    #[test]
    fn the_settings_loader_never_panics_on_settings_shaped_yaml(text in settings_yaml()) {
        check(&text)?;
    }
}
