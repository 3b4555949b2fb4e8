//! The leadrouter binary: parse the command line, then serve (load config, start telemetry,
//! run until SIGTERM) or run a command (`cli`: backtest, migrate, keys, demo).

use std::{io::Write, path::Path, process::ExitCode};

use clap::Parser;
use leadrouter::{
    app,
    cli::{self, Cli, Command},
    db, telemetry,
};

// glibc's malloc took a fifth of the service's CPU under load (perf, loadgen at c=16).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Backtest { args }) => backtest(&cli.config, args),
        Some(Command::Database(command)) => cli::run(&cli.config, command),
        Some(Command::Serve) | None => serve(&cli.config),
    }
}

/// One line to stderr; with stderr gone there is nobody to tell, and `eprintln!` would panic.
fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

fn backtest(config: &Path, mut args: Vec<String>) -> ExitCode {
    if !args
        .iter()
        .any(|a| a == "--config" || a.starts_with("--config="))
    {
        args.push(format!("--config={}", config.display()));
    }
    match cli::backtest::run(&args) {
        Ok(report) => {
            let _ = writeln!(std::io::stdout(), "{report}");
            ExitCode::SUCCESS
        }
        Err(problem) => {
            say(&format!("leadrouter backtest: {problem}"));
            ExitCode::from(2)
        }
    }
}

#[tokio::main]
async fn serve(dir: &Path) -> ExitCode {
    let (settings, rules) = match cli::setup::load(dir) {
        Ok(loaded) => loaded,
        Err(failure) => {
            say(&format!(
                "leadrouter: configuration error: {}",
                failure.message()
            ));
            return failure.exit_code();
        }
    };
    telemetry::init(&settings.log);

    match app::run(settings, rules).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            match e.downcast_ref::<db::Unreachable>() {
                Some(unreachable) => say(&format!("leadrouter: {unreachable}")),
                None => {
                    tracing::error!(error = format!("{e:#}"), "leadrouter stopped on an error");
                    say(&format!("leadrouter: {e:#}"));
                }
            }
            ExitCode::FAILURE
        }
    }
}
