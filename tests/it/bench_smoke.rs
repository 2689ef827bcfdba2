//! `qualifyd bench --quick` as CI runs it: the real binary, every scenario at tiny sizes, done in
//! seconds. Asserts only that each scenario ran, printed its rows and wrote valid JSON, and that
//! its scratch data is gone; never anything about speed.

use std::process::Command;

const SCENARIOS: [&str; 7] = ["ingest", "import", "engine", "timers", "restart", "reload", "footprint"];

#[test]
fn bench_quick_runs_every_scenario_and_writes_json() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let output = Command::new(env!("CARGO_BIN_EXE_qualifyd"))
        .args(["bench", "--quick", "--json"])
        .arg(&json)
        .arg("--dir")
        .arg(dir.path())
        .env_remove("QUALIFYD_LOG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "bench failed\nstdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.starts_with("qualifyd bench: "), "{stdout}");
    let header = ["scenario", "figure", "value", "baseline", "ratio", "target"];
    assert!(stdout.lines().any(|l| l.split_whitespace().eq(header)), "no table header:\n{stdout}");
    for scenario in SCENARIOS {
        assert!(stdout.lines().any(|l| l.starts_with(scenario)), "no `{scenario}` row:\n{stdout}");
    }

    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(report["machine"]["cores"].as_u64().unwrap() >= 1, "{report}");
    assert_eq!(report["quick"], true);
    let figures = report["figures"].as_array().unwrap();
    for scenario in SCENARIOS {
        let rows: Vec<_> = figures.iter().filter(|f| f["scenario"] == scenario).collect();
        assert!(!rows.is_empty(), "no `{scenario}` figure in the JSON");
        assert!(rows.iter().all(|f| f["value"].is_number() && f["figure"].is_string()), "{rows:?}");
    }

    let left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.starts_with("qualifyd-bench-"))
        .collect();
    assert!(left.is_empty(), "scratch directories left behind: {left:?}");
}
