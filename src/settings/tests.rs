//! Settings tests: the shipped example, environment references, and the diagnostics a broken
//! file gets (message, line and column).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::NaiveTime;

use super::*;

const EXAMPLE: &str = include_str!("../../config.example.yaml");

fn no_env(_: &str) -> Option<String> {
    None
}

fn compile_with(text: &str, vars: &[(&str, &str)]) -> Result<Settings, Vec<Diagnostic>> {
    let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    compile(Path::new("/etc/qualifyd/config.yaml"), text, &move |name| vars.get(name).cloned())
}

fn errors(text: &str) -> Vec<Diagnostic> {
    compile_with(text, &[]).expect_err("the file should be rejected")
}

fn one_error(text: &str) -> Diagnostic {
    let errors = errors(text);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    errors.into_iter().next().unwrap_or_else(|| unreachable!())
}

#[test]
fn the_example_compiles_with_an_empty_environment() {
    let file = Path::new("/srv/qualifyd/config.yaml");
    let settings = compile(file, EXAMPLE, &no_env).unwrap_or_else(|e| panic!("{e:#?}"));
    assert_eq!(settings.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(settings.public_url, "http://localhost:8080");
    assert_eq!(settings.data_dir, PathBuf::from("/srv/qualifyd/data"));
    assert_eq!(settings.workflows_dir, PathBuf::from("/srv/qualifyd/workflows"));
    assert_eq!(settings.prompts_dir, PathBuf::from("/srv/qualifyd/prompts"));
    assert_eq!(settings.timezone, chrono_tz::Europe::Paris);
    assert_eq!(settings.send_window.timezone, chrono_tz::Europe::Paris);
    assert_eq!(settings.send_window.days, [true, true, true, true, true, true, false]);
    assert_eq!(settings.send_window.start, NaiveTime::from_hms_opt(8, 0, 0).unwrap());
    assert_eq!(settings.send_window.end, NaiveTime::from_hms_opt(20, 0, 0).unwrap());
    assert!(settings.admin_token.is_none());
    assert!(matches!(settings.inbound_webhook, InboundWebhook::Open), "the loopback demo");
    assert!(settings.admin_tokens.is_empty());
    assert_eq!(settings.store.cache_capacity_bytes, 64 * 1024 * 1024);
    assert!(matches!(settings.ai, AiSettings::Rules));
    assert!(matches!(settings.channels.sms, Some(SmsDriver::Outbox)));
    assert!(matches!(settings.channels.email, Some(EmailDriver::Outbox { from: Some(_) })));
    assert!(matches!(settings.channels.messenger, Some(MessengerDriver::Outbox)));
    assert_eq!(settings.channels.configured(), Channel::ALL.to_vec());
    assert_eq!(settings.reload, compile::default_reload());
    assert_eq!(settings.retention.period, chrono::Duration::days(1095));
    assert_eq!(settings.retention.sweep_cron, "0 3 * * *");
}

#[test]
fn an_empty_file_gives_the_defaults_and_no_channels() {
    let settings = compile_with("", &[]).unwrap_or_else(|e| panic!("{e:#?}"));
    assert_eq!(settings.timezone, chrono_tz::Tz::UTC);
    assert_eq!(settings.send_window.days, [true; 7]);
    assert_eq!(settings.reload.debounce, Duration::from_millis(250));
    assert!(settings.channels.configured().is_empty());
}

#[test]
fn environment_references_are_expanded() {
    let text = "admin_token: ${ADMIN}\ninbound_token: ${INBOUND:-none}\npublic_url: ${URL:-https://q.example.com/}\n\
                channels:\n  email: { driver: smtp, host: mail, port: \"${PORT:-465}\", tls: tls, from: \"a@b.c\" }\n";
    let settings = compile_with(text, &[("ADMIN", "s3cret")]).unwrap_or_else(|e| panic!("{e:#?}"));
    assert_eq!(settings.admin_token.as_ref().map(Secret::expose), Some("s3cret"));
    assert!(matches!(settings.inbound_webhook, InboundWebhook::Open));
    assert_eq!(settings.public_url, "https://q.example.com");
    let Some(EmailDriver::Smtp(smtp)) = settings.channels.email else { panic!("smtp expected") };
    assert_eq!((smtp.port, smtp.tls), (465, SmtpTls::Tls));
}

#[test]
fn an_unset_variable_is_reported_once_at_its_value() {
    let text = "channels:\n  sms:\n    driver: twilio\n    account_sid: AC1\n    auth_token: ${TWILIO_AUTH_TOKEN}\n    from: \"+33600000000\"\n";
    let error = one_error(text);
    assert_eq!((error.line, error.column), (5, 17), "{error}");
    assert_eq!(
        error.message,
        "`channels.sms.auth_token`: environment variable `TWILIO_AUTH_TOKEN` is not set \
         (set it, or write `${TWILIO_AUTH_TOKEN:-default}`)"
    );
    // A value that depends on the missing variable is not reported a second time.
    assert_eq!(errors("listen: ${LISTEN}\n").len(), 1);
    let text = "channels:\n  email: { driver: smtp, host: h, from: a@b.c, port: \"${PORT}\" }\n";
    assert!(one_error(text).message.contains("`PORT` is not set"));
}

#[test]
fn an_unknown_key_is_located_and_suggested() {
    let error = one_error("listen: 127.0.0.1:9000\ntimezon: UTC\n");
    assert_eq!((error.line, error.column), (2, 1));
    assert!(error.message.contains("unknown key `timezon` (did you mean `timezone`?)"), "{}", error.message);

    let error = one_error("store:\n  cache_capasity_mb: 8\n");
    assert_eq!((error.line, error.column), (2, 3));
    assert!(error.message.contains("did you mean `cache_capacity_mb`"), "{}", error.message);

    let text = "channels:\n  sms:\n    driver: twilio\n    acount_sid: AC1\n    auth_token: t\n    from: x\n";
    let error = errors(text).remove(0);
    assert_eq!((error.line, error.column), (4, 5), "{error}");
    assert!(error.message.contains("did you mean `account_sid`"), "{}", error.message);
}

#[test]
fn every_problem_in_a_file_is_reported() {
    let text = "listen: localhost\ntimezone: Europe/Pari\nsend_window: { days: [mon, funday] }\n\
                reload: { debounce: soon }\nchannels:\n  fax: { driver: outbox }\n";
    let errors = errors(text);
    let found: Vec<(u64, &str)> = errors.iter().map(|d| (d.line, d.message.as_str())).collect();
    assert_eq!(errors.len(), 5, "{found:#?}");
    assert!(found[0].1.contains("invalid address `localhost`"));
    assert!(found[1].1.contains("did you mean `Europe/Paris`"), "{}", found[1].1);
    assert!(found[2].1.contains("unknown day `funday`"));
    assert!(found[3].1.contains("invalid duration `soon`"));
    assert!(found[4].1.contains("unknown key `fax` in `channels`"));
    assert_eq!(found.iter().map(|f| f.0).collect::<Vec<_>>(), [1, 2, 3, 4, 6]);
}

#[test]
fn a_driver_must_be_known_and_present() {
    let error = one_error("channels:\n  sms: { driver: twillio }\n");
    assert_eq!((error.line, error.column), (2, 10), "{error}");
    assert!(error.message.contains("unknown value `twillio` (did you mean `twilio`?)"), "{}", error.message);
    assert!(error.message.contains("expected one of: outbox, twilio"), "{}", error.message);

    let error = one_error("channels:\n  email:\n    from: a@b.c\n");
    assert_eq!((error.line, error.column), (2, 3), "{error}");
    assert!(error.message.contains("missing required key `driver`"), "{}", error.message);
    assert!(error.message.contains("`driver: outbox` or `driver: smtp`"), "{}", error.message);

    let error = one_error("channels:\n  sms: twilio\n");
    assert!(error.message.contains("`{ driver: outbox }` (drivers: outbox, twilio)"), "{}", error.message);

    let error = one_error("channels:\n  messenger: { drivr: messenger }\n");
    assert!(error.message.contains("(`drivr` is not `driver`)"), "{}", error.message);

    let error = one_error("ai:\n  model: gpt\n");
    assert!(error.message.contains("`provider: rules` or `provider: openai`"), "{}", error.message);

    let error = one_error("channels:\n  messenger: { driver: outbox, page_access_token: x }\n");
    assert!(error.message.contains("unknown key `page_access_token`"), "{}", error.message);
}

#[test]
fn driver_specific_rules_are_checked() {
    let error = one_error("channels:\n  sms: { driver: twilio, account_sid: AC1, auth_token: t }\n");
    assert!(error.message.contains("`from`"), "{}", error.message);
    let error = one_error("channels:\n  email: { driver: smtp, host: h, from: a@b.c, username: u }\n");
    assert!(error.message.contains("set `password` too"), "{}", error.message);
    let text = "channels:\n  messenger: { driver: messenger, page_access_token: p, app_secret: s, verify_token: v }\n";
    let settings = compile_with(text, &[]).unwrap_or_else(|e| panic!("{e:#?}"));
    let Some(MessengerDriver::Graph(graph)) = &settings.channels.messenger else { panic!("graph expected") };
    assert_eq!(graph.api_base, "https://graph.facebook.com/v21.0");
    assert_eq!(settings.channels.configured(), vec![Channel::Messenger]);
}

#[test]
fn openai_needs_a_model() {
    let error = one_error("ai:\n  provider: openai\n  api_key: k\n");
    assert_eq!((error.line, error.column), (1, 1), "{error}");
    assert!(error.message.contains("missing required key `model` in `ai`"), "{}", error.message);

    let text = "ai: { provider: openai, model: m, api_key: \"${KEY}\", timeout: 5s, base_url: \"http://localhost:11434/v1/\" }\n";
    let settings = compile_with(text, &[("KEY", "sk-1")]).unwrap_or_else(|e| panic!("{e:#?}"));
    let AiSettings::OpenAi(openai) = settings.ai else { panic!("openai expected") };
    assert_eq!((openai.base_url.as_str(), openai.api_key.expose()), ("http://localhost:11434/v1", "sk-1"));
    assert_eq!((openai.timeout, openai.max_concurrency, openai.max_retries), (Duration::from_secs(5), 4, 3));
    assert!(openai.mask_contact_details);
}

#[test]
fn admin_tokens_have_roles_and_unique_names() {
    let text =
        "admin_tokens:\n  - { name: ops, role: operator, token: a }\n  - { name: ops, role: viewer, token: b }\n";
    let error = one_error(text);
    assert_eq!((error.line, error.column), (3, 13), "{error}");
    let error = one_error("admin_tokens:\n  - { name: ops, role: boss, token: a }\n");
    assert!(error.message.contains("`admin_tokens[0].role`"), "{}", error.message);
    assert!(error.message.contains("admin, operator, viewer"), "{}", error.message);
}

#[test]
fn relative_dirs_resolve_against_the_file() {
    let text = "data_dir: ./var/data\nworkflows_dir: /opt/workflows\nprompts_dir: prompts\n";
    let settings = compile(Path::new("deploy/config.yaml"), text, &no_env).unwrap_or_else(|e| panic!("{e:#?}"));
    assert_eq!(settings.data_dir, PathBuf::from("deploy/var/data"));
    assert_eq!(settings.workflows_dir, PathBuf::from("/opt/workflows"));
    assert_eq!(settings.prompts_dir, PathBuf::from("deploy/prompts"));
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let secret = Secret::new("hunter2");
    assert_eq!(format!("{secret:?}"), "\"***\"");
    assert_eq!(secret.expose(), "hunter2");
    let text =
        "admin_token: hunter2\nchannels:\n  sms: { driver: twilio, account_sid: AC1, auth_token: hunter2, from: x }\n";
    let settings = compile_with(text, &[]).unwrap_or_else(|e| panic!("{e:#?}"));
    assert!(!format!("{settings:?}").contains("hunter2"));
}

#[test]
fn an_unreadable_file_is_one_diagnostic() {
    let errors = load(Path::new("/nonexistent/qualifyd/config.yaml")).expect_err("missing file");
    assert_eq!(errors.len(), 1);
    assert_eq!((errors[0].line, errors[0].column), (0, 0));
    assert!(errors[0].message.contains("/nonexistent/qualifyd/config.yaml"), "{}", errors[0].message);
}

#[test]
fn development_settings_use_the_outbox_everywhere() {
    let settings = Settings::development(Path::new("/tmp/q/data"));
    assert_eq!(settings.workflows_dir, PathBuf::from("/tmp/q/workflows"));
    assert_eq!(settings.channels.configured(), Channel::ALL.to_vec());
    assert!(matches!(settings.ai, AiSettings::Rules));
}

#[test]
fn inbound_email_webhook_secrets_come_from_the_file_or_the_environment() {
    let text = "mailgun_signing_key: ${MG:-}\npostmark_secret: ${PM:-}\n";
    let settings = compile_with(text, &[("MG", "key-123")]).unwrap_or_else(|e| panic!("{e:#?}"));
    assert_eq!(settings.mailgun_signing_key.as_ref().map(Secret::expose), Some("key-123"));
    assert!(settings.postmark_secret.is_none(), "an empty value means not configured");
}

#[test]
fn a_default_public_url_follows_a_listen_override_and_an_explicit_one_stays() {
    let mut settings = compile(Path::new("config.yaml"), "listen: 127.0.0.1:8080\n", &|_| None).unwrap();
    settings.override_listen("127.0.0.1:9090".parse().unwrap());
    assert_eq!(settings.public_url, "http://localhost:9090");
    let text = "listen: 127.0.0.1:8080\npublic_url: https://q.example.com\n";
    let mut settings = compile(Path::new("config.yaml"), text, &|_| None).unwrap();
    settings.override_listen("127.0.0.1:9090".parse().unwrap());
    assert_eq!(settings.public_url, "https://q.example.com");
}

#[test]
fn the_inbound_webhook_is_closed_unless_configured() {
    let disabled = compile_with("", &[]).unwrap_or_else(|e| panic!("{e:#?}"));
    assert!(matches!(disabled.inbound_webhook, InboundWebhook::Disabled));
    let token = compile_with("inbound_token: ${T}\n", &[("T", "s3cret")]).unwrap_or_else(|e| panic!("{e:#?}"));
    assert!(matches!(token.inbound_webhook, InboundWebhook::Token(ref t) if t.expose() == "s3cret"));
    // An unset variable leaves the key empty: that would be open, so it does not start.
    let empty = one_error("inbound_token: ${T:-}\n");
    assert!(empty.line == 1 && empty.message.contains("open to anyone"), "{empty}");
    // `none` is a loopback demo's opt-in only.
    let open = one_error("listen: 0.0.0.0:8080\ninbound_token: none\n");
    assert!(open.message.contains("loopback"), "{open}");
    let demo = compile_with("listen: 127.0.0.1:8080\ninbound_token: none\n", &[]).unwrap();
    assert!(matches!(demo.inbound_webhook, InboundWebhook::Open));
}
