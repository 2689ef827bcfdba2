//! What a bench run prints and writes: one [`Figure`] per measured value, each beside its
//! same-run baseline and the goal it is held against, the machine it ran on, and the notes that
//! say how each figure was obtained. The table goes to stdout; the same content as JSON to a file.

use std::fmt::Write as _;

use serde::Serialize;

/// A goal (never an assertion): the run reports whether it was met.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    AtLeast(f64),
    AtMost(f64),
}

impl Target {
    pub fn met(self, value: f64) -> bool {
        match self {
            Target::AtLeast(goal) => value >= goal,
            Target::AtMost(goal) => value <= goal,
        }
    }

    fn describe(self) -> String {
        match self {
            Target::AtLeast(goal) => format!(">= {}", number(goal)),
            Target::AtMost(goal) => format!("<= {}", number(goal)),
        }
    }
}

/// One measured value.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    pub scenario: &'static str,
    pub figure: String,
    pub value: f64,
    pub unit: &'static str,
    /// The same quantity measured on the bare baseline in the same run, when there is one.
    pub baseline: Option<f64>,
    /// `value / baseline`.
    pub ratio: Option<f64>,
    pub target: Option<Target>,
    /// A goal on `ratio` (for example "at least 20% of the bare handler").
    pub ratio_target: Option<Target>,
    /// Whether every goal of this figure was met; `None` without goals.
    pub met: Option<bool>,
}

impl Figure {
    pub fn new(scenario: &'static str, figure: impl Into<String>, value: f64, unit: &'static str) -> Figure {
        Figure {
            scenario,
            figure: figure.into(),
            value,
            unit,
            baseline: None,
            ratio: None,
            target: None,
            ratio_target: None,
            met: None,
        }
    }

    pub fn baseline(mut self, baseline: f64) -> Figure {
        self.baseline = Some(baseline);
        self.ratio = (baseline != 0.0).then(|| self.value / baseline);
        self.judge()
    }

    pub fn target(mut self, target: Target) -> Figure {
        self.target = Some(target);
        self.judge()
    }

    pub fn ratio_target(mut self, target: Target) -> Figure {
        self.ratio_target = Some(target);
        self.judge()
    }

    fn judge(mut self) -> Figure {
        let value_ok = self.target.map(|t| t.met(self.value));
        let ratio_ok = match (self.ratio_target, self.ratio) {
            (Some(t), Some(r)) => Some(t.met(r)),
            (Some(_), None) => Some(false),
            (None, _) => None,
        };
        self.met = match (value_ok, ratio_ok) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(true) && b.unwrap_or(true)),
        };
        self
    }
}

/// The machine the figures come from.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cores: usize,
    pub cpu_model: String,
    pub memory_mb: u64,
    /// `release` or `debug`: only release figures mean anything.
    pub build: &'static str,
}

impl Machine {
    pub fn probe() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, m)| m.trim()))
            .unwrap_or("unknown")
            .to_string();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_kb: u64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        Machine {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model,
            memory_mb: memory_kb / 1024,
            build: if cfg!(debug_assertions) { "debug" } else { "release" },
        }
    }
}

/// A whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub machine: Machine,
    pub quick: bool,
    pub scenarios: Vec<&'static str>,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub seconds: f64,
    pub figures: Vec<Figure>,
    /// How each figure was obtained, setup sizes, verification outcomes, store statistics.
    pub notes: Vec<String>,
}

impl Report {
    /// The table, then the notes.
    pub fn render(&self) -> String {
        let m = &self.machine;
        let mut out = format!(
            "qualifyd bench: {} core(s), {}, {} MB RAM, {} build{}, {:.0} s\n\n",
            m.cores,
            m.cpu_model,
            m.memory_mb,
            m.build,
            if self.quick { ", --quick" } else { "" },
            self.seconds
        );
        let header = ["scenario", "figure", "value", "baseline", "ratio", "target"];
        let rows: Vec<[String; 6]> = self.figures.iter().map(row).collect();
        let mut widths = header.map(str::len);
        for row in &rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let padded: Vec<String> = cells.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
            format!("{}\n", padded.join("  ").trim_end())
        };
        out.push_str(&line(&header.map(String::from)));
        out.push_str(&line(&widths.map(|w| "-".repeat(w))));
        for row in &rows {
            out.push_str(&line(row));
        }
        if !self.notes.is_empty() {
            out.push_str("\nnotes:\n");
            for note in &self.notes {
                let _ = writeln!(out, "- {note}");
            }
        }
        out
    }
}

fn row(f: &Figure) -> [String; 6] {
    let with_unit = |v: f64| if f.unit.is_empty() { number(v) } else { format!("{} {}", number(v), f.unit) };
    let mut goals = Vec::new();
    if let Some(t) = f.target {
        goals.push(format!("{} {}", t.describe(), f.unit).trim_end().to_string());
    }
    if let Some(t) = f.ratio_target {
        goals.push(format!("ratio {}", t.describe()));
    }
    let target = match f.met {
        Some(met) => format!("{} ({})", goals.join(", "), if met { "met" } else { "missed" }),
        None => String::new(),
    };
    [
        f.scenario.to_string(),
        f.figure.clone(),
        with_unit(f.value),
        f.baseline.map(with_unit).unwrap_or_else(|| "-".into()),
        f.ratio.map(|r| format!("{r:.2}")).unwrap_or_else(|| "-".into()),
        target,
    ]
}

/// Three significant digits at most, no exponent, thousands unseparated.
pub fn number(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude >= 100.0 || value.fract() == 0.0 {
        format!("{value:.0}")
    } else if magnitude >= 10.0 {
        format!("{value:.1}")
    } else if magnitude >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_and_goals() {
        let f = Figure::new("ingest", "rps", 50.0, "req/s").baseline(200.0).target(Target::AtLeast(40.0));
        assert_eq!(f.ratio, Some(0.25));
        assert_eq!(f.met, Some(true));
        let f = f.ratio_target(Target::AtLeast(0.5));
        assert_eq!(f.met, Some(false));
        assert_eq!(number(12345.678), "12346");
        assert_eq!(number(0.01234), "0.012");
    }
}
