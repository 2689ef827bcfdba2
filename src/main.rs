//! The `qualifyd` binary: parses the command line, sets up logging, runs the library, and maps
//! failures to exit codes (0 ok, 1 problems found or runtime failure, 2 usage).

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use qualifyd::cli::{Cli, Command};
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
        Command::Serve { config, listen, data_dir } => {
            init_tracing();
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(runtime) => runtime,
                Err(err) => {
                    eprintln!("error: cannot start the async runtime: {err}");
                    return ExitCode::from(1);
                }
            };
            match runtime.block_on(serve(config, listen, data_dir)) {
                Ok(()) => ExitCode::SUCCESS,
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
) -> anyhow::Result<()> {
    let mut settings = match qualifyd::settings::load(&config) {
        Ok(settings) => settings,
        Err(diagnostics) => {
            for diagnostic in &diagnostics {
                eprintln!("{diagnostic}");
            }
            anyhow::bail!("the settings file {} has {} problem(s)", config.display(), diagnostics.len());
        }
    };
    if let Some(listen) = listen {
        settings.listen = listen;
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
    app.run_until_signal().await?;
    Ok(())
}

/// Settings, workflow or usage problems of `simulate` and `test`: exit status 2.
fn simulation_error(err: simulate::Error) -> ExitCode {
    match err {
        simulate::Error::Diagnostics(diagnostics) => diagnostics.iter().for_each(|d| eprintln!("{d}")),
        other => eprintln!("error: {other}"),
    }
    ExitCode::from(2)
}

fn init_tracing() {
    // async-openai logs whole response bodies (model replies to prospects): never enable it.
    let wanted = std::env::var("QUALIFYD_LOG").unwrap_or_else(|_| "info".to_string());
    let filter = EnvFilter::try_new(format!("{wanted},async_openai=off"))
        .unwrap_or_else(|_| EnvFilter::new("info,async_openai=off"));
    tracing_subscriber::fmt().with_env_filter(filter).with_target(false).init();
}

/// The bench measures the daemon with its logs on: at WARN by default, so that the lifecycle
/// lines of its many short-lived daemons do not drown the progress lines; the development master
/// key warning (every scratch store uses one) is left out.
fn init_bench_tracing() {
    let default = "warn,qualifyd::privacy::master=error";
    let filter = EnvFilter::try_from_env("QUALIFYD_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt().with_env_filter(filter).with_target(false).init();
}
