//! Every metric the daemon exports, in one list: what the Grafana dashboard and the Prometheus
//! alerts in `deploy/` may reference (a test checks them against a live `/metrics`). At start
//! each is registered with its label sets at zero, so a panel or an alert finds a series before
//! the first event happens (Prometheus conventions: absent series make `rate()` alerts blind).

/// How a metric is exposed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    /// Histograms with buckets (`_bucket`, `_sum`, `_count`), for `histogram_quantile`.
    Histogram,
    /// Exposed as a Prometheus summary (`quantile` label, `_sum`, `_count`).
    Summary,
}

/// One exported metric: its name, kind, label names and what it measures.
#[derive(Debug, Clone, Copy)]
pub struct Metric {
    pub name: &'static str,
    pub kind: Kind,
    pub labels: &'static [&'static str],
    pub help: &'static str,
}

const fn metric(name: &'static str, kind: Kind, labels: &'static [&'static str], help: &'static str) -> Metric {
    Metric { name, kind, labels, help }
}

use Kind::{Counter, Gauge, Histogram, Summary};

pub const METRICS: &[Metric] = &[
    metric("qualifyd_http_requests_total", Counter, &["route", "status"], "HTTP requests answered"),
    metric("qualifyd_http_request_duration_seconds", Histogram, &["route"], "time to answer an HTTP request"),
    metric("qualifyd_inbound_messages_total", Counter, &["channel"], "inbound messages recorded"),
    metric("qualifyd_transitions_total", Counter, &[], "state machine transitions committed"),
    metric("qualifyd_step_latency_seconds", Histogram, &[], "time to apply and commit a prospect's inbox"),
    metric("qualifyd_prospects", Gauge, &["status"], "prospects by status (at scrape time)"),
    metric("qualifyd_outbox_depth", Gauge, &[], "side effects waiting to be performed"),
    metric("qualifyd_outbox_oldest_seconds", Gauge, &[], "how long the most overdue side effect has waited"),
    metric("qualifyd_timers_pending", Gauge, &[], "timers set"),
    metric("qualifyd_timers_due", Gauge, &[], "timers due and not fired yet"),
    metric("qualifyd_timers_fired_total", Counter, &[], "timers fired"),
    metric("qualifyd_timer_lag_seconds", Histogram, &[], "delay between a timer's due time and its firing"),
    metric("qualifyd_ai_calls_total", Counter, &["provider"], "AI provider calls"),
    metric("qualifyd_ai_tokens_total", Counter, &["kind"], "AI tokens used (prompt, completion)"),
    metric(
        "qualifyd_side_effect_failures_total",
        Counter,
        &["kind", "outcome"],
        "failed side effects by action kind (send, call_ai, notify, webhook) and outcome (retrying, failed)",
    ),
    metric("qualifyd_opt_outs_total", Counter, &["cause"], "people put on the suppression list"),
    metric("qualifyd_reloads_total", Counter, &["outcome"], "catalog reloads (loaded, unchanged, rejected)"),
    metric("qualifyd_catalog_info", Gauge, &["version"], "the catalog version served (value 1)"),
    metric("qualifyd_flushes_total", Counter, &[], "store flushes"),
    metric("qualifyd_flush_batch_size", Summary, &[], "callers served by one flush"),
    metric("qualifyd_delivery_receipts_total", Counter, &[], "delivery receipts applied"),
    metric("qualifyd_operator_messages_total", Counter, &[], "messages written by operators"),
    metric("qualifyd_webhook_rejections_total", Counter, &["provider"], "provider webhooks refused (bad signature)"),
    metric("qualifyd_damaged_prospects", Gauge, &[], "prospects whose data key is missing (unreadable)"),
    metric("qualifyd_store_size_bytes", Gauge, &[], "bytes on disk under the data directory (at scrape time)"),
    metric("qualifyd_start_time_seconds", Gauge, &[], "when the daemon started (Unix time)"),
];

/// Bucket bounds of the `_seconds` histograms: 1 ms to 1 min.
pub const SECONDS_BUCKETS: &[f64] =
    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0];

const CHANNELS: [&str; 3] = ["sms", "email", "messenger"];
const KINDS: [&str; 4] = ["send", "call_ai", "notify", "webhook"];
const CAUSES: [&str; 6] = ["stop_word", "link", "ai_intent", "objection", "operator", "prior_opt_out"];

/// Registers every metric with its known label values at zero, and the start time. Histograms
/// are registered empty. `ai_provider` is the configured provider's name.
pub fn register(ai_provider: &str, started_at: chrono::DateTime<chrono::Utc>) {
    for metric in METRICS {
        match metric.kind {
            Counter => metrics::describe_counter!(metric.name, metric.help),
            Gauge => metrics::describe_gauge!(metric.name, metric.help),
            Histogram | Summary => metrics::describe_histogram!(metric.name, metric.help),
        }
    }
    for channel in CHANNELS {
        metrics::counter!("qualifyd_inbound_messages_total", "channel" => channel).increment(0);
    }
    for name in ["qualifyd_transitions_total", "qualifyd_timers_fired_total", "qualifyd_flushes_total"] {
        metrics::counter!(name).increment(0);
    }
    for name in ["qualifyd_delivery_receipts_total", "qualifyd_operator_messages_total"] {
        metrics::counter!(name).increment(0);
    }
    metrics::counter!("qualifyd_ai_calls_total", "provider" => ai_provider.to_string()).increment(0);
    for kind in ["prompt", "completion"] {
        metrics::counter!("qualifyd_ai_tokens_total", "kind" => kind).increment(0);
    }
    for kind in KINDS {
        for outcome in ["retrying", "failed"] {
            metrics::counter!("qualifyd_side_effect_failures_total", "kind" => kind, "outcome" => outcome).increment(0);
        }
    }
    for cause in CAUSES {
        metrics::counter!("qualifyd_opt_outs_total", "cause" => cause).increment(0);
    }
    for outcome in ["loaded", "unchanged", "rejected"] {
        metrics::counter!("qualifyd_reloads_total", "outcome" => outcome).increment(0);
    }
    for provider in ["twilio", "messenger", "mailgun", "postmark"] {
        metrics::counter!("qualifyd_webhook_rejections_total", "provider" => provider).increment(0);
    }
    for name in ["qualifyd_step_latency_seconds", "qualifyd_timer_lag_seconds", "qualifyd_flush_batch_size"] {
        let _ = metrics::histogram!(name);
    }
    let _ = metrics::histogram!("qualifyd_http_request_duration_seconds", "route" => "/healthz");
    metrics::counter!("qualifyd_http_requests_total", "route" => "/healthz", "status" => "200").increment(0);
    for name in ["qualifyd_outbox_oldest_seconds", "qualifyd_timers_due", "qualifyd_store_size_bytes"] {
        metrics::gauge!(name).set(0.0);
    }
    metrics::gauge!("qualifyd_start_time_seconds").set(started_at.timestamp() as f64);
}

/// The metric a series name belongs to (`x_bucket`, `x_sum`, `x_count` -> `x` when `x` is a
/// histogram or summary).
pub fn find(series: &str) -> Option<&'static Metric> {
    METRICS.iter().find(|m| m.name == series).or_else(|| {
        let base = ["_bucket", "_sum", "_count"].iter().find_map(|s| series.strip_suffix(s))?;
        METRICS.iter().find(|m| m.name == base && matches!(m.kind, Histogram | Summary))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_names_find_their_metric() {
        assert_eq!(find("qualifyd_timer_lag_seconds_bucket").unwrap().name, "qualifyd_timer_lag_seconds");
        assert_eq!(find("qualifyd_outbox_depth").unwrap().kind, Gauge);
        assert!(find("qualifyd_outbox_depth_bucket").is_none());
        assert!(find("qualifyd_nothing").is_none());
        let mut names: Vec<&str> = METRICS.iter().map(|m| m.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), METRICS.len(), "each metric once");
    }
}
