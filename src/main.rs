//! The `qualifyd` binary: parses the command line, sets up logging, runs the library, and maps
//! failures to exit codes (0 ok, 1 problems found or runtime failure, 2 usage).

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use qualifyd::cli::{Cli, Command, EvalProvider, SuppressionCommand};
use qualifyd::eval::{EvalOptions, ProviderChoice};
use qualifyd::ops::commands;
use qualifyd::simulate::{self, SimulateOptions, TestOptions};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { config, deny_warnings } => {
            let report = qualifyd::check::check(&config);
            for diagnostic in &report.diagnostics {
                eprintln!("{diagnostic}");
            }
            let failed = report.errors() > 0 || (deny_warnings && report.warnings() > 0);
            if failed {
                eprintln!("check failed: {} error(s), {} warning(s)", report.errors(), report.warnings());
                ExitCode::from(1)
            } else {
                println!("ok: {} workflow(s), {} warning(s)", report.workflows, report.warnings());
                ExitCode::SUCCESS
            }
        }
        Command::Simulate { config, workflow, phone, name, email, start, inbound, replay } => {
            let prompt = std::io::stdin().is_terminal();
            let options = SimulateOptions { config, workflow, name, phone, email, start, inbound, replay, prompt };
            match simulate::simulate(&options, &mut std::io::stdin().lock(), &mut std::io::stdout().lock()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => simulation_error(err),
            }
        }
        Command::Test { config, junit, paths } => {
            let options = TestOptions { config, paths, junit };
            match simulate::run_tests(&options, &mut std::io::stdout().lock()) {
                Ok(run) if run.invalid() > 0 => ExitCode::from(2),
                Ok(run) if run.failed() > 0 => ExitCode::from(1),
                Ok(_) => ExitCode::SUCCESS,
                Err(err) => simulation_error(err),
            }
        }
        Command::Eval { config, provider, junit, replay, record, paths } => {
            let provider = match provider {
                EvalProvider::Rules => ProviderChoice::Rules,
                EvalProvider::Openai => ProviderChoice::OpenAi,
            };
            let options = EvalOptions { config, provider, paths, junit, replay, record };
            match qualifyd::eval::run_eval(&options, &mut std::io::stdout().lock()) {
                Ok(run) if run.failed() => ExitCode::from(1),
                Ok(_) => ExitCode::SUCCESS,
                Err(qualifyd::eval::Error::Diagnostics(diagnostics)) => {
                    diagnostics.iter().for_each(|d| eprintln!("{d}"));
                    ExitCode::from(2)
                }
                Err(err) => {
                    eprintln!("error: {err}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Bench { scenarios, quick, json, dir } => {
            init_bench_tracing();
            let options = qualifyd::bench::Options { scenarios, quick, json, dir };
            match qualifyd::bench::run(&options) {
                Ok(report) => {
                    print!("{}", report.render());
                    ExitCode::SUCCESS
                }
                Err(err) => {
                    eprintln!("error: {err}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Compact { config, data_dir } => compact(&config, data_dir),
        Command::RotateMasterKey { config, new_key_file } => rotate_master_key(&config, new_key_file),
        Command::PrivacyRecord { config } => privacy_record(&config),
        Command::Import { config, file, workflow, maps, dry_run, server, batch } => {
            let terminal = std::io::stderr().is_terminal();
            let options = qualifyd::ops::import::Options {
                config,
                file,
                workflow,
                maps,
                dry_run,
                server: server.server,
                token: server.token,
                batch,
                terminal,
            };
            import(&options)
        }
        Command::Backup { config, out, server } => {
            operator(|| async move { commands::backup(&config, &out, server.server.as_deref(), server.token).await })
        }
        Command::Restore { config, backup, data_dir } => {
            init_command_tracing();
            finish(commands::restore(&config, &backup, &data_dir))
        }
        Command::Suppression { command: SuppressionCommand::Export { config, out, server } } => {
            operator(|| async move {
                commands::suppression_export(&config, out.as_deref(), server.server.as_deref(), server.token).await
            })
        }
        Command::Suppression { command: SuppressionCommand::Import { config, file, server } } => {
            operator(|| async move {
                commands::suppression_import(&config, &file, server.server.as_deref(), server.token).await
            })
        }
        Command::Status { config, server } => {
            operator(|| async move { commands::status(&config, server.server.as_deref(), server.token).await })
        }
        Command::Serve { config, listen, data_dir } => {
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(runtime) => runtime,
                Err(err) => {
                    eprintln!("error: cannot start the async runtime: {err}");
                    return ExitCode::from(1);
                }
            };
            match runtime.block_on(serve(config, listen, data_dir)) {
                Ok(qualifyd::app::Stopped::Clean) => ExitCode::SUCCESS,
                Ok(qualifyd::app::Stopped::StoreFailed(reason)) => {
                    eprintln!("error: {reason}");
                    eprintln!(
                        "error: qualifyd stopped after a failed write; nothing after it was acknowledged. \
                         It exits with status {} so the supervisor restarts it; the next start resumes \
                         from what was durable.",
                        qualifyd::app::EXIT_STORE_FAILED
                    );
                    // Not returning: dropping the runtime or the store would wait on a disk that
                    // may never answer.
                    std::process::exit(qualifyd::app::EXIT_STORE_FAILED.into());
                }
                Err(err) => {
                    eprintln!("error: {err:#}");
                    ExitCode::from(1)
                }
            }
        }
    }
}

async fn serve(
    config: std::path::PathBuf,
    listen: Option<std::net::SocketAddr>,
    data_dir: Option<std::path::PathBuf>,
) -> anyhow::Result<qualifyd::app::Stopped> {
    let mut settings = match qualifyd::settings::load(&config) {
        Ok(settings) => settings,
        Err(diagnostics) => {
            for diagnostic in &diagnostics {
                eprintln!("{diagnostic}");
            }
            anyhow::bail!("the settings file {} has {} problem(s)", config.display(), diagnostics.len());
        }
    };
    qualifyd::ops::logging::init(settings.log_format);
    if let Some(listen) = listen {
        settings.override_listen(listen);
    }
    if let Some(data_dir) = data_dir {
        settings.data_dir = data_dir;
    }
    let app = qualifyd::app::start(settings).await?;
    if let Some(file) = &app.generated_admin_token_file {
        // Never the token itself: stdout ends in journald.
        println!(
            "No QUALIFYD_ADMIN_TOKEN set; the admin token generated for this run is in {} (mode 0600)",
            file.display()
        );
    }
    println!("qualifyd listening on http://{}", app.addr);
    Ok(app.run_until_signal().await?)
}

fn privacy_record(config: &std::path::Path) -> ExitCode {
    let settings = match qualifyd::settings::load(config) {
        Ok(settings) => settings,
        Err(diagnostics) => {
            diagnostics.iter().for_each(|d| eprintln!("{d}"));
            return ExitCode::from(2);
        }
    };
    let outcome = qualifyd::check::build_catalog(&settings);
    let Some(catalog) = outcome.catalog else {
        outcome.diagnostics.iter().for_each(|d| eprintln!("{d}"));
        eprintln!("error: the workflows do not compile; run `qualifyd check` for details");
        return ExitCode::from(2);
    };
    print!("{}", qualifyd::ops::record::render(&settings, &catalog, chrono::Utc::now().date_naive()));
    ExitCode::SUCCESS
}

fn rotate_master_key(config: &std::path::Path, new_key_file: Option<std::path::PathBuf>) -> ExitCode {
    let settings = match qualifyd::settings::load(config) {
        Ok(settings) => settings,
        Err(diagnostics) => {
            diagnostics.iter().for_each(|d| eprintln!("{d}"));
            return ExitCode::from(2);
        }
    };
    let (origin, text) = match new_key_file {
        Some(path) => (path.display().to_string(), std::fs::read_to_string(&path).map_err(|e| e.to_string())),
        None => {
            ("QUALIFYD_NEW_MASTER_KEY".to_string(), std::env::var("QUALIFYD_NEW_MASTER_KEY").map_err(|e| e.to_string()))
        }
    };
    let new = match text.and_then(|text| qualifyd::privacy::SecretKey::from_base64(text.trim())) {
        Ok(key) => key,
        Err(reason) => {
            eprintln!(
                "error: the new master key ({origin}): {reason}; give the base64 of 32 random bytes \
                 (`openssl rand -base64 32`) in QUALIFYD_NEW_MASTER_KEY or a file named by --new-key-file"
            );
            return ExitCode::from(2);
        }
    };
    match qualifyd::app::rotate_master_key(&settings, &new) {
        Ok(qualifyd::privacy::rotation::Rotated::Done { keys, buckets }) => {
            println!("rotated: {keys} data key(s) in {buckets} file(s) re-wrapped; start the daemon with the new key");
            ExitCode::SUCCESS
        }
        Ok(qualifyd::privacy::rotation::Rotated::Resumed) => {
            println!("an interrupted rotation to this key was completed; start the daemon with the new key");
            ExitCode::SUCCESS
        }
        Ok(qualifyd::privacy::rotation::Rotated::AlreadyDone) => {
            println!("the key directory already uses the new key: nothing to do");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(1)
        }
    }
}

fn compact(config: &std::path::Path, data_dir: Option<std::path::PathBuf>) -> ExitCode {
    let mut settings = match qualifyd::settings::load(config) {
        Ok(settings) => settings,
        Err(diagnostics) => {
            diagnostics.iter().for_each(|d| eprintln!("{d}"));
            return ExitCode::from(2);
        }
    };
    if let Some(dir) = data_dir {
        settings.data_dir = dir;
    }
    match qualifyd::app::compact(&settings) {
        Ok(report) => {
            println!(
                "compacted: {} entries kept; {} bytes before, {} after",
                report.entries, report.bytes_before, report.bytes_after
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(1)
        }
    }
}

/// Exit 0 when every row was imported (or was already there, or opted out), 1 when rows were
/// rejected or the daemon failed, 2 when the file or the command line is wrong.
fn import(options: &qualifyd::ops::import::Options) -> ExitCode {
    use qualifyd::ops::import::{Error, run};
    let Some(runtime) = runtime() else { return ExitCode::from(1) };
    match runtime.block_on(run(options, &mut std::io::stderr().lock())) {
        Ok(summary) => {
            print!("{}", summary.render(&options.file.display().to_string(), &options.workflow));
            if summary.rejected.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) }
        }
        Err(err @ Error::Interrupted { .. }) => {
            eprintln!("error: {err}");
            ExitCode::from(1)
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(2)
        }
    }
}

/// Runs an operator command on a runtime; its text goes to stdout, its error to stderr (exit 1).
fn operator<F, Fut>(command: F) -> ExitCode
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<String, commands::Error>>,
{
    init_command_tracing();
    let Some(runtime) = runtime() else { return ExitCode::from(1) };
    finish(runtime.block_on(command()))
}

fn finish(result: Result<String, commands::Error>) -> ExitCode {
    match result {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(1)
        }
    }
}

/// Operator commands log warnings only (the development-key warning among them), on stderr.
fn init_command_tracing() {
    let filter = EnvFilter::try_from_env("QUALIFYD_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

fn runtime() -> Option<tokio::runtime::Runtime> {
    tokio::runtime::Runtime::new().map_err(|err| eprintln!("error: cannot start the async runtime: {err}")).ok()
}

/// Settings, workflow or usage problems of `simulate` and `test`: exit status 2.
fn simulation_error(err: simulate::Error) -> ExitCode {
    match err {
        simulate::Error::Diagnostics(diagnostics) => diagnostics.iter().for_each(|d| eprintln!("{d}")),
        other => eprintln!("error: {other}"),
    }
    ExitCode::from(2)
}

/// The bench measures the daemon with its logs on: at WARN by default, so that the lifecycle
/// lines of its many short-lived daemons do not drown the progress lines; the development master
/// key warning (every scratch store uses one) is left out.
fn init_bench_tracing() {
    let default = "warn,qualifyd::privacy::master=error";
    let filter = EnvFilter::try_from_env("QUALIFYD_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt().with_env_filter(filter).with_target(false).init();
}
