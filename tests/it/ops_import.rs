//! `qualifyd import` as an operator runs it: the real binary against a real daemon over
//! loopback. A French Excel export (`;`, BOM, accents, CRLF) with every kind of bad row; a dry
//! run; an import killed halfway and run again (no duplicates); 100,000 rows.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{ADMIN, Daemon, copy_shipped};

/// A settings file beside the copied definitions: what the command compiles the rows against.
pub fn write_config(dir: &Path) {
    std::fs::write(
        dir.join("config.yaml"),
        "data_dir: ./cli-data\nworkflows_dir: ./workflows\nprompts_dir: ./prompts\nchannels: { sms: { driver: outbox }, \
         email: { driver: outbox }, messenger: { driver: outbox } }\n",
    )
    .unwrap();
}

fn import_command(dir: &Path, daemon: &Daemon, args: &[&str]) -> Command {
    let mut command = import_into(dir, daemon, "inbound-lead");
    command.args(args);
    command
}

fn import_into(dir: &Path, daemon: &Daemon, workflow: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_qualifyd"));
    command
        .current_dir(dir)
        .args(["import", "--config", "config.yaml", "--workflow", workflow, "--server", &daemon.base])
        .env("QUALIFYD_ADMIN_TOKEN", ADMIN);
    command
}

fn text(output: &Output) -> (i32, String, String) {
    let out = String::from_utf8_lossy(&output.stdout).into_owned();
    let err = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code().unwrap_or(-1), out, err)
}

/// Prospects per workflow, from `GET /v1/workflows` (every version summed).
async fn prospects_in(daemon: &Daemon, workflow: &str) -> u64 {
    let (_, answer) = daemon.get("/v1/workflows").await;
    let entry = answer["workflows"].as_array().unwrap().iter().find(|w| w["id"] == workflow).unwrap().clone();
    entry["prospects"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum()
}

const FRENCH_EXPORT: &str = "\u{feff}Prénom;Nom;Téléphone;Budget;Délai;Décideur;Ville\r\n\
Hélène;Dupont;06 12 34 56 78;1 500,50 €;Dès que possible;oui;Besançon\r\n\
François;Lefèvre;+33 7 81 23 45 67;800;ce trimestre;non;Orléans\r\n\
Zoé;Bérénice;01 23;900;now;oui;Nîmes\r\n\
Jérôme;Ça;06 11 22 33 44;beaucoup;now;oui;Sète\r\n\
Noël;Œuvre;06 11 22 33 45;1000;demain;oui;Évry\r\n\
Anaïs;Sans-Téléphone;;1000;now;peut-être;Arles\r\n\
Hélène;Doublon;0612345678;1000;now;oui;Besançon\r\n\
Léa;Trop;06 11 22 33 46;1000;now;oui;Lyon;en trop\r\n\
Opté;Dehors;06 99 88 77 66;1000;now;oui;Lille\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_french_excel_export_imports_its_good_rows_and_locates_every_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    copy_shipped(dir.path());
    write_config(dir.path());
    let daemon = Daemon::start(dir.path()).await;
    // This person opted out earlier (STOP): the import must not bring them back.
    daemon.inbound("sms", "+33699887766", "STOP", "SM-stop-1").await;
    std::fs::write(dir.path().join("leads.csv"), FRENCH_EXPORT.as_bytes()).unwrap();

    // `Délai` and `Décideur` are not field names: the sales-ops team maps them.
    let maps = ["--map", "Délai=timeline", "--map", "Décideur=decision_maker"];
    let run = |extra: &[&str]| {
        let mut args = vec!["leads.csv"];
        args.extend(maps);
        args.extend(extra);
        text(&import_command(dir.path(), &daemon, &args).output().unwrap())
    };
    let dry = run(&["--dry-run"]);
    assert_eq!(dry.0, 1, "{dry:?}");
    assert!(dry.1.contains("checked (dry run, nothing imported)"), "{}", dry.1);
    assert_eq!(prospects_in(&daemon, "inbound-lead").await, 0, "a dry run imports nothing");

    let (code, stdout, stderr) = run(&[]);
    assert_eq!(code, 1, "rows were rejected\n{stdout}\n{stderr}");
    for expected in [
        "leads.csv:1: column `Ville` is not imported: map it with --map \"Ville=<field>\"",
        "leads.csv:4: phone `01 23`: phone number is not valid",
        "leads.csv:5: budget `beaucoup`: is not a number",
        "leads.csv:6: timeline `demain`: is not an allowed value; allowed: now, this_quarter, later",
        "leads.csv:7: decision_maker `peut-être`: is not yes or no",
        "leads.csv:7: ",
        "no contact: workflow `inbound-lead` runs on sms and needs a phone number on every row",
        "leads.csv:8: same person as line 2 (same phone): a person is imported once",
        "leads.csv:9: 8 cells where the header names 7 columns",
    ] {
        assert!(stderr.contains(expected), "missing `{expected}` in:\n{stderr}");
    }
    assert!(stderr.contains("leads.csv: 3/3 rows ("), "plain progress lines off a terminal:\n{stderr}");
    assert!(!stderr.contains('\u{1b}'), "no terminal codes when stderr is not a terminal");
    assert!(stdout.contains("9 row(s) imported into workflow `inbound-lead`"), "{stdout}");
    assert!(stdout.contains("created:    2\n"), "{stdout}");
    assert!(stdout.contains("suppressed: 1 "), "{stdout}");
    assert!(stdout.contains("rejected:   6\n"), "{stdout}");
    assert_eq!(prospects_in(&daemon, "inbound-lead").await, 2);

    let (_, page) = daemon.get("/v1/prospects?workflow=inbound-lead").await;
    let mut budgets: Vec<Value> =
        page["items"].as_array().unwrap().iter().map(|p| p["fields"]["budget"].clone()).collect();
    budgets.sort_by_key(|b| b.to_string());
    assert_eq!(budgets, [serde_json::json!(1500.5), serde_json::json!(800)]);

    // Run again: nobody is imported twice.
    let (_, stdout, _) = run(&[]);
    assert!(stdout.contains("created:    0\n") && stdout.contains("existing:   2 "), "{stdout}");
    assert_eq!(prospects_in(&daemon, "inbound-lead").await, 2);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mapping_mistakes_are_usage_errors_with_suggestions() {
    let dir = tempfile::tempdir().unwrap();
    copy_shipped(dir.path());
    write_config(dir.path());
    let daemon = Daemon::start(dir.path()).await;
    std::fs::write(dir.path().join("leads.csv"), "Tel,Délai\n0612345678,now\n").unwrap();
    let args = ["leads.csv", "--map", "Delai=timelne"];
    let (code, _, stderr) = text(&import_command(dir.path(), &daemon, &args).output().unwrap());
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("`timelne` is not a target (did you mean `timeline`?)"), "{stderr}");
    let (code, _, stderr) = text(&import_into(dir.path(), &daemon, "inbound-led").arg("leads.csv").output().unwrap());
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("there is no workflow `inbound-led` (did you mean `inbound-lead`?)"), "{stderr}");
    daemon.stop().await;
}

/// `n` distinct valid French mobile numbers, one row each.
pub fn big_csv(path: &Path, rows: usize) {
    let mut text = String::from("nom,téléphone,budget\n");
    for i in 0..rows {
        text.push_str(&format!("Prospect {i},+3361{i:07},{}\n", 500 + i % 1000));
    }
    std::fs::write(path, text).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_killed_halfway_resumes_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    copy_shipped(dir.path());
    write_config(dir.path());
    let daemon = Daemon::start(dir.path()).await;
    big_csv(&dir.path().join("leads.csv"), 300);
    let state = dir.path().join("leads.csv.import-state");
    let mut child = import_command(dir.path(), &daemon, &["leads.csv", "--batch", "2"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once the checkpoint says some batches are in (a condition, not a guess at timing).
    let started = Instant::now();
    loop {
        let done = std::fs::read_to_string(&state)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|v| v["done"].as_u64())
            .unwrap_or(0);
        if done >= 40 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the import made no progress");
        assert!(child.try_wait().unwrap().is_none(), "the import finished before it could be interrupted");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let before = prospects_in(&daemon, "inbound-lead").await;
    assert!((40..300).contains(&before), "{before}");

    let (code, stdout, stderr) = text(&import_command(dir.path(), &daemon, &["leads.csv"]).output().unwrap());
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("(resumed: "), "{stdout}");
    assert_eq!(prospects_in(&daemon, "inbound-lead").await, 300, "every row once, none twice");
    assert!(!state.exists(), "the checkpoint is removed at the end");
    daemon.stop().await;
}

/// 100,000 rows end to end through the real daemon. Checks correctness only; the time it took
/// is printed (`cargo test -- --nocapture`) and recorded in docs/operations.md.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_rows_go_in_once_each() {
    const ROWS: usize = 100_000;
    let dir = tempfile::tempdir().unwrap();
    copy_shipped(dir.path());
    write_config(dir.path());
    let daemon = Daemon::start(dir.path()).await;
    big_csv(&dir.path().join("big.csv"), ROWS);
    let started = Instant::now();
    let output = import_command(dir.path(), &daemon, &["big.csv"]).output().unwrap();
    let elapsed = started.elapsed();
    let (code, stdout, stderr) = text(&output);
    assert_eq!(code, 0, "{stdout}\n{}", stderr.lines().rev().take(20).collect::<Vec<_>>().join("\n"));
    assert!(stdout.contains(&format!("created:    {ROWS}\n")), "{stdout}");
    assert!(stdout.contains("rejected:   0\n"), "{stdout}");
    assert_eq!(prospects_in(&daemon, "inbound-lead").await, ROWS as u64);
    println!("import of {ROWS} rows through the daemon: {:.1} s", elapsed.as_secs_f64());
    daemon.stop().await;
}
