//! `qualifyd status`: a running daemon summarised for an operator on a shell, from
//! `GET /v1/status`: version and uptime, each workflow with its prospects by status, the
//! outbox, timers, the attention queue (prospects whose hand-off failed: a person must look)
//! and the last reload.

use std::fmt::Write;

use serde_json::Value;

/// `3d 4h`, `5h 12m`, `42s`.
pub fn duration(seconds: i64) -> String {
    let (d, h, m, s) = (seconds / 86_400, seconds % 86_400 / 3600, seconds % 3600 / 60, seconds % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

fn counts(value: &Value) -> String {
    let Some(map) = value.as_object().filter(|m| !m.is_empty()) else { return "no prospects".to_string() };
    let total: u64 = map.values().filter_map(Value::as_u64).sum();
    let parts: Vec<String> = map.iter().map(|(status, n)| format!("{n} {status}")).collect();
    format!("{total} prospects ({})", parts.join(", "))
}

/// The text printed for a `GET /v1/status` answer.
pub fn render(server: &str, status: &Value) -> String {
    let mut out = String::new();
    let text = |v: &Value| v.as_str().unwrap_or("?").to_string();
    let _ = writeln!(out, "qualifyd {} at {server}", text(&status["version"]));
    let uptime = duration(status["uptime_seconds"].as_i64().unwrap_or(0));
    let _ = writeln!(out, "  up {uptime} (since {})", text(&status["started_at"]));
    let _ = writeln!(out, "  store: {:.1} MB on disk", status["store_bytes"].as_f64().unwrap_or(0.0) / 1e6);
    let _ = writeln!(out, "workflows (catalog {}):", text(&status["catalog_version"]));
    for workflow in status["workflows"].as_array().into_iter().flatten() {
        let paused = if workflow["paused"].as_bool() == Some(true) { " PAUSED" } else { "" };
        let version = text(&workflow["version"]);
        let _ = writeln!(
            out,
            "  {:<24} {}{paused}  [version {}]",
            text(&workflow["id"]),
            counts(&workflow["prospects"]),
            &version[..version.len().min(12)]
        );
    }
    let outbox = &status["outbox"];
    let oldest = match outbox["oldest_seconds"].as_i64() {
        Some(seconds) => format!(", oldest waiting {}", duration(seconds)),
        None => String::new(),
    };
    let _ = writeln!(out, "outbox: {} waiting{oldest}", outbox["depth"].as_u64().unwrap_or(0));
    let timers = &status["timers"];
    let next = timers["next_at"].as_str().map(|at| format!(", next at {at}")).unwrap_or_default();
    let _ = writeln!(
        out,
        "timers: {} set, {} due{next}",
        timers["pending"].as_u64().unwrap_or(0),
        timers["due"].as_u64().unwrap_or(0)
    );
    let attention = match &status["attention"] {
        // A daemon from before the attention queue.
        Value::Null => "not reported by this daemon".to_string(),
        Value::Number(n) if n.as_u64() == Some(0) => "0 waiting for a person".to_string(),
        Value::Number(n) => {
            format!(
                "{n} waiting for a person (list them: GET /v1/prospects?status=attention; retry: POST /v1/prospects/ID/retry)"
            )
        }
        other => other.to_string(),
    };
    let _ = writeln!(out, "attention: {attention}");
    let reload = &status["last_reload"];
    if reload.is_object() {
        let diagnostics = reload["diagnostics"].as_array().map_or(0, Vec::len);
        let _ = writeln!(
            out,
            "last reload: {} at {} ({diagnostics} diagnostic(s))",
            text(&reload["outcome"]),
            text(&reload["at"])
        );
        for diagnostic in reload["diagnostics"].as_array().into_iter().flatten().take(5) {
            let located = format!(
                "{}:{}:{}: {}: {}",
                text(&diagnostic["file"]),
                diagnostic["line"],
                diagnostic["column"],
                text(&diagnostic["severity"]),
                text(&diagnostic["message"])
            );
            let _ = writeln!(out, "  {located}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn durations_read_at_a_glance() {
        assert_eq!(duration(42), "42s");
        assert_eq!(duration(3 * 60 + 5), "3m 5s");
        assert_eq!(duration(5 * 3600 + 12 * 60), "5h 12m");
        assert_eq!(duration(3 * 86_400 + 4 * 3600 + 59), "3d 4h");
    }

    #[test]
    fn renders_every_section() {
        let status = json!({
            "version": "0.1.0", "started_at": "2026-12-02T10:00:00Z", "uptime_seconds": 3700,
            "catalog_version": "abc", "store_bytes": 2_500_000,
            "workflows": [{"id": "inbound-lead", "version": "0123456789abcdef", "paused": true,
                           "prospects": {"waiting": 2, "completed": 1}}],
            "outbox": {"depth": 3, "oldest_seconds": 75}, "timers": {"pending": 4, "due": 0, "next_at": null},
            "attention": 2, "last_reload": {"outcome": "rejected", "at": "2026-12-02T10:30:00Z",
                                                "diagnostics": [{"file": "w.yaml", "line": 3, "column": 1,
                                                                 "severity": "error", "message": "bad"}]}
        });
        let text = render("http://127.0.0.1:8080", &status);
        assert!(text.contains("qualifyd 0.1.0 at http://127.0.0.1:8080\n  up 1h 1m"), "{text}");
        assert!(text.contains("inbound-lead"), "{text}");
        assert!(text.contains("3 prospects (1 completed, 2 waiting) PAUSED  [version 0123456789ab]"), "{text}");
        assert!(text.contains("outbox: 3 waiting, oldest waiting 1m 15s"), "{text}");
        assert!(
            text.contains("attention: 2 waiting for a person (list them: GET /v1/prospects?status=attention"),
            "{text}"
        );
        let older = json!({"attention": null});
        assert!(render("http://x", &older).contains("attention: not reported by this daemon"));
        assert!(
            text.contains("last reload: rejected at 2026-12-02T10:30:00Z (1 diagnostic(s))\n  w.yaml:3:1: error: bad")
        );
    }
}
