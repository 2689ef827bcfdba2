//! Readings the scenarios take from the outside: resident memory and CPU time from `/proc`, file
//! sizes on disk, the daemon's own Prometheus metrics (the bench installs the recorder and keeps
//! its handle, so counters are read without a `/metrics` request, which would scan the store),
//! and percentiles of latency samples.

use std::path::Path;
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusHandle;

/// Resident and peak resident memory of a process, in bytes (`/proc/<pid>/status`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Memory {
    pub rss: u64,
    pub peak: u64,
}

/// Reads `VmRSS` and `VmHWM` of `pid` (`None`: this process).
pub fn memory(pid: Option<u32>) -> Memory {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/status"),
        None => "/proc/self/status".to_string(),
    };
    let status = std::fs::read_to_string(path).unwrap_or_default();
    let kb = |key: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    Memory { rss: kb("VmRSS:") * 1024, peak: kb("VmHWM:") * 1024 }
}

/// CPU time (user + system) this process used so far, from `/proc/self/stat`.
pub fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the state field.
    let total = ticks(11) + ticks(12);
    Duration::from_secs_f64(total as f64 / clock_ticks_per_second())
}

fn clock_ticks_per_second() -> f64 {
    100.0 // USER_HZ on every Linux architecture qualifyd targets.
}

/// Cores kept busy on average between two [`cpu_time`] readings `wall` apart.
pub fn cores_busy(before: Duration, after: Duration, wall: Duration) -> f64 {
    if wall.is_zero() { 0.0 } else { after.saturating_sub(before).as_secs_f64() / wall.as_secs_f64() }
}

/// Bytes of every file under `dir` (apparent size), recursively.
pub fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => dir_size(&entry.path()),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        })
        .sum()
}

/// The process-wide Prometheus recorder the daemon itself installs (one per process, shared with
/// every in-process daemon), so the daemon's metrics are readable here.
pub fn metrics() -> Option<&'static PrometheusHandle> {
    crate::app::metrics_handle()
}

/// The current value of a counter (all label sets added), or a summary's `_sum` / `_count`.
pub fn metric(name: &str) -> f64 {
    let Some(handle) = metrics() else { return 0.0 };
    sum_of(&handle.render(), name)
}

fn sum_of(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let rest = l.strip_prefix(name)?;
            let value = match rest.chars().next()? {
                ' ' => rest,
                '{' => rest.split_once('}')?.1,
                _ => return None,
            };
            value.trim().parse::<f64>().ok()
        })
        .sum()
}

/// Latency samples: percentiles over everything recorded.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    sorted: Vec<Duration>,
}

impl Samples {
    pub fn new(mut samples: Vec<Duration>) -> Samples {
        samples.sort_unstable();
        Samples { sorted: samples }
    }

    /// The `q` quantile (0.0..=1.0) in milliseconds, nearest rank.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.sorted.is_empty() {
            return 0.0;
        }
        let rank = ((q * self.sorted.len() as f64).ceil() as usize).clamp(1, self.sorted.len());
        self.sorted[rank - 1].as_secs_f64() * 1000.0
    }

    pub fn max_ms(&self) -> f64 {
        self.quantile_ms(1.0)
    }
}

/// Megabytes (2^20 bytes), for figures.
pub fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_counters_across_labels_and_reads_quantiles() {
        let text = "# TYPE x counter\nx_total{a=\"1\"} 2\nx_total{a=\"2\"} 3\nx_total_other 7\ny 1\n";
        assert_eq!(sum_of(text, "x_total"), 5.0);
        let samples = Samples::new((1..=100).map(Duration::from_millis).collect());
        assert_eq!(samples.quantile_ms(0.5), 50.0);
        assert_eq!(samples.quantile_ms(0.99), 99.0);
        assert_eq!(samples.max_ms(), 100.0);
        assert!(memory(None).rss > 0);
    }
}
