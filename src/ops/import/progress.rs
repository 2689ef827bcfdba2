//! Progress of an import on stderr: a bar with rows/s and ETA on a terminal, plain lines
//! (one per batch) when stderr is a file or a pipe, so logs stay readable.

use std::io::Write;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub enum Progress {
    Bar(ProgressBar),
    /// `resumed`: rows done by an earlier run, left out of the rate.
    Lines {
        label: String,
        total: u64,
        done: u64,
        resumed: u64,
        started: Instant,
    },
}

impl Progress {
    /// A bar when `terminal`, else plain lines; `done` rows were imported by an earlier run.
    pub fn new(terminal: bool, label: &str, total: u64, done: u64) -> Progress {
        if terminal {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            let style =
                ProgressStyle::with_template("{prefix} [{bar:40}] {pos}/{len} rows, {per_sec}, ETA {eta} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> ");
            bar.set_style(style);
            bar.set_prefix(label.to_string());
            bar.set_position(done);
            bar.reset_eta();
            Progress::Bar(bar)
        } else {
            Progress::Lines { label: label.to_string(), total, done, resumed: done, started: Instant::now() }
        }
    }

    /// `rows` more rows were answered by the daemon.
    pub fn advance(&mut self, rows: u64) {
        match self {
            Progress::Bar(bar) => bar.inc(rows),
            Progress::Lines { label, total, done, resumed, started } => {
                *done += rows;
                let per_second = (*done - *resumed) as f64 / started.elapsed().as_secs_f64().max(0.001);
                let _ = writeln!(std::io::stderr().lock(), "{}", plain_line(label, *done, *total, per_second));
            }
        }
    }

    pub fn finish(&self) {
        if let Progress::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}

/// `leads.csv: 5000/100000 rows (2400 rows/s, ETA 40s)`.
pub fn plain_line(label: &str, done: u64, total: u64, per_second: f64) -> String {
    let remaining = total.saturating_sub(done) as f64;
    let eta = if per_second > 0.0 { (remaining / per_second).ceil() as u64 } else { 0 };
    format!("{label}: {done}/{total} rows ({per_second:.0} rows/s, ETA {eta}s)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines_say_rows_rate_and_eta() {
        assert_eq!(plain_line("a.csv", 5000, 100_000, 2500.0), "a.csv: 5000/100000 rows (2500 rows/s, ETA 38s)");
        assert_eq!(plain_line("a.csv", 10, 10, 0.0), "a.csv: 10/10 rows (0 rows/s, ETA 0s)");
    }
}
