//! What `deploy/` ships: every metric the Grafana dashboard and the Prometheus alerts reference
//! is exported by a real daemon (names and labels, read from a live `/metrics`); the systemd
//! unit is hardened; the Dockerfile is multi-stage, non-root and health-checked, and the
//! container's settings file checks clean. Docker itself is not needed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use regex::Regex;
use serde_json::Value;

use crate::harness::{Daemon, copy_shipped};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Series name -> label names, from the Prometheus text format.
fn exposition(text: &str) -> BTreeMap<String, BTreeSet<String>> {
    let line = Regex::new(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s").unwrap();
    let label = Regex::new(r#"([a-zA-Z_][a-zA-Z0-9_]*)="#).unwrap();
    let mut series: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for text in text.lines().filter(|l| !l.starts_with('#')) {
        let Some(captures) = line.captures(text) else { continue };
        let labels = series.entry(captures[1].to_string()).or_default();
        if let Some(inside) = captures.get(3) {
            labels.extend(label.captures_iter(inside.as_str()).map(|c| c[1].to_string()));
        }
    }
    series
}

fn expressions_of_dashboard() -> Vec<String> {
    let text = std::fs::read_to_string(root().join("deploy/grafana/qualifyd.json")).unwrap();
    let dashboard: Value = serde_json::from_str(&text).unwrap();
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            out.push(target["expr"].as_str().unwrap().to_string());
        }
    }
    out
}

fn expressions_of_alerts() -> Vec<String> {
    let text = std::fs::read_to_string(root().join("deploy/prometheus/alerts.yaml")).unwrap();
    let rules: Value = serde_saphyr::from_str(&text).unwrap();
    let mut out = Vec::new();
    for group in rules["groups"].as_array().unwrap() {
        for rule in group["rules"].as_array().unwrap() {
            assert!(rule["alert"].is_string() && rule["annotations"]["summary"].is_string(), "{rule}");
            out.push(rule["expr"].as_str().unwrap().to_string());
        }
    }
    out
}

/// Every problem of one expression against what the daemon exports.
fn problems(expr: &str, exported: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let names = Regex::new(r"\bqualifyd_[a-z0-9_]+").unwrap();
    let matcher = Regex::new(r#"([a-z_]+)\s*(?:=~|!~|!=|=)\s*""#).unwrap();
    let grouping = Regex::new(r"\b(?:by|without)\s*\(([^)]*)\)").unwrap();
    let mut out = Vec::new();
    let used: Vec<&str> = names.find_iter(expr).map(|m| m.as_str()).collect();
    let mut labels_there = BTreeSet::new();
    for name in &used {
        match exported.get(*name) {
            Some(labels) => labels_there.extend(labels.iter().cloned()),
            None => out.push(format!("`{name}` is not exported")),
        }
        if qualifyd::ops::metrics::find(name).is_none() {
            out.push(format!("`{name}` is not in ops::metrics::METRICS"));
        }
    }
    let mut labels: Vec<String> = matcher.captures_iter(expr).map(|c| c[1].to_string()).collect();
    for list in grouping.captures_iter(expr) {
        labels.extend(list[1].split(',').map(|l| l.trim().to_string()).filter(|l| !l.is_empty()));
    }
    for label in labels {
        if ["le", "job", "instance"].contains(&label.as_str()) || used.is_empty() {
            continue;
        }
        if !labels_there.contains(&label) {
            out.push(format!("label `{label}` is on none of {used:?}"));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_of_the_dashboard_and_the_alerts_is_exported() {
    let dir = tempfile::tempdir().unwrap();
    copy_shipped(dir.path());
    let daemon = Daemon::start(dir.path()).await;
    daemon.import(serde_json::json!({"workflow": "inbound-lead", "phone": "+33612345678"})).await;
    daemon.inbound("sms", "+33612345678", "Budget 1500 euros", "SM-metrics-1").await;
    let text = daemon.client.get(format!("{}/metrics", daemon.base)).send().await.unwrap().text().await.unwrap();
    let exported = exposition(&text);
    let dashboard = expressions_of_dashboard();
    let alerts = expressions_of_alerts();
    assert!(dashboard.len() >= 20 && alerts.len() >= 6);
    let mut all = Vec::new();
    for expr in dashboard.iter().chain(&alerts) {
        all.extend(problems(expr, &exported).into_iter().map(|p| format!("{expr}: {p}")));
    }
    assert!(all.is_empty(), "{}\nexported: {:?}", all.join("\n"), exported.keys().collect::<Vec<_>>());
    // What the issue asks the dashboard to show.
    let joined = dashboard.join("\n");
    for wanted in [
        "qualifyd_http_request_duration_seconds_bucket",
        "qualifyd_transitions_total",
        "qualifyd_outbox_oldest_seconds",
        "qualifyd_timers_due",
        "qualifyd_timer_lag_seconds_bucket",
        "qualifyd_ai_tokens_total",
        "qualifyd_opt_outs_total",
        "qualifyd_reloads_total",
        "qualifyd_store_size_bytes",
    ] {
        assert!(joined.contains(wanted), "the dashboard shows {wanted}");
    }
    daemon.stop().await;
}

#[test]
fn the_checker_catches_unknown_metrics_and_labels() {
    let exported =
        exposition("# TYPE qualifyd_outbox_depth gauge\nqualifyd_outbox_depth 3\nqualifyd_x_total{kind=\"a\"} 1\n");
    assert!(problems("qualifyd_outbox_depth > 1", &exported).is_empty());
    assert_eq!(problems("qualifyd_nope > 1", &exported).len(), 2);
    let wrong = problems("sum by (route) (qualifyd_outbox_depth{status=\"5..\"})", &exported);
    assert_eq!(wrong.len(), 2, "{wrong:?}");
}

#[test]
fn the_systemd_unit_is_hardened() {
    let unit = std::fs::read_to_string(root().join("deploy/systemd/qualifyd.service")).unwrap();
    let set: BTreeSet<&str> = unit.lines().map(str::trim).filter(|l| !l.starts_with('#')).collect();
    for line in [
        "DynamicUser=yes",
        "ProtectSystem=strict",
        "StateDirectory=qualifyd",
        "NoNewPrivileges=yes",
        "Restart=on-failure",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "CapabilityBoundingSet=",
    ] {
        assert!(set.contains(line), "missing `{line}`");
    }
    assert!(!set.iter().any(|l| l.contains("QUALIFYD_MASTER_KEY=")), "no secret in the unit");
}

#[test]
fn the_dockerfile_is_multi_stage_non_root_and_health_checked() {
    let docker = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    let from: Vec<&str> = docker.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(from.len(), 2, "a build stage and a runtime stage");
    assert!(from[1].contains("debian:") && from[1].contains("-slim"), "{from:?}");
    assert!(docker.lines().any(|l| l.starts_with("USER ") && !l.contains("root")));
    assert!(docker.contains("HEALTHCHECK") && docker.contains("/healthz"));
}

#[test]
fn the_container_settings_check_clean() {
    let dir = tempfile::tempdir().unwrap();
    copy_shipped(dir.path());
    std::fs::copy(root().join("deploy/docker/config.yaml"), dir.path().join("config.yaml")).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_qualifyd"))
        .current_dir(dir.path())
        .args(["check", "--config", "config.yaml"])
        .env("QUALIFYD_MASTER_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
}
