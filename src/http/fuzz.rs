//! Fuzz harnesses (proptest, runnable on stable; `.ci/run` bounds them with `PROPTEST_CASES`)
//! for every webhook parser: Twilio's form and signature check, Messenger's JSON batch,
//! Mailgun's form (signature, verdict, `In-Reply-To`), Postmark's JSON and verdict, the generic
//! JSON message, and the `Host` check. Each must answer or refuse, never panic.

use proptest::prelude::*;

use super::email_inbound::fuzz_entry as email;
use super::extract::parse;
use super::host::AllowedHosts;
use super::messenger::fuzz_entry as messenger;
use crate::engine::api::InboundMessage;

fn config() -> ProptestConfig {
    ProptestConfig { failure_persistence: None, ..ProptestConfig::default() }
}

/// JSON-ish bytes: mostly punctuation and keys the parsers look for, so cases get deep.
fn jsonish() -> impl Strategy<Value = String> {
    let tokens = prop::sample::select(vec![
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "\"",
        "\"object\"",
        "\"page\"",
        "\"entry\"",
        "\"messaging\"",
        "\"sender\"",
        "\"recipient\"",
        "\"id\"",
        "\"message\"",
        "\"mid\"",
        "\"text\"",
        "\"delivery\"",
        "\"read\"",
        "\"watermark\"",
        "\"mids\"",
        "\"is_echo\"",
        "\"MessageID\"",
        "\"From\"",
        "\"FromFull\"",
        "\"Email\"",
        "\"Headers\"",
        "\"Name\"",
        "\"Value\"",
        "\"channel\"",
        "\"sms\"",
        "\"from\"",
        "\"to\"",
        "1",
        "-1",
        "1e308",
        "null",
        "true",
        "\"\"",
        "\"é\"",
        "\"\\u0000\"",
    ]);
    prop::collection::vec(tokens, 0..60).prop_map(|t| t.concat())
}

/// Form-ish bytes: `k=v&` pairs over the names the parsers read, with escapes.
fn formish() -> impl Strategy<Value = String> {
    let names = prop::sample::select(vec![
        "From",
        "To",
        "Body",
        "MessageSid",
        "SmsSid",
        "MessageStatus",
        "ErrorCode",
        "timestamp",
        "token",
        "signature",
        "sender",
        "from",
        "recipient",
        "stripped-text",
        "body-plain",
        "Message-Id",
        "In-Reply-To",
        "message-headers",
        "X-Mailgun-Spf",
        "X-Mailgun-Dkim-Check-Result",
    ]);
    let values = "[ -~é%+=&]{0,24}";
    prop::collection::vec((names, values), 0..12)
        .prop_map(|pairs| pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&"))
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn messenger_batches_never_panic(text in prop_oneof![jsonish(), any::<String>()]) {
        messenger(text.as_bytes());
    }

    #[test]
    fn postmark_and_mailgun_never_panic(json in jsonish(), form in formish(), bytes in any::<Vec<u8>>()) {
        email(json.as_bytes(), form.as_bytes());
        email(&bytes, &bytes);
    }

    #[test]
    fn the_generic_json_never_panics(text in prop_oneof![jsonish(), any::<String>()]) {
        let _ = parse::<InboundMessage>(text.as_bytes());
    }

    #[test]
    fn twilio_forms_never_panic(form in formish(), signature in "[A-Za-z0-9+/=]{0,40}", url in "[ -~]{0,40}") {
        let params: Vec<(String, String)> = form_urlencoded::parse(form.as_bytes()).into_owned().collect();
        let _ = super::twilio::signature_matches("token", &url, &params, &signature);
        for (_, value) in &params {
            let _ = super::twilio::delivery_status(value);
        }
    }

    #[test]
    fn host_headers_never_panic(host in "[ -~]{0,40}", url in "[ -~]{0,40}") {
        let hosts = AllowedHosts::new(&url, "127.0.0.1:8080".parse().unwrap());
        let _ = hosts.allows(&host);
    }
}
