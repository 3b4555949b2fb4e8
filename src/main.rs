//! The leadrouter service: load config, start telemetry, run until SIGTERM. With
//! `backtest` as first argument it runs that command instead (`cli::backtest`).

use std::process::ExitCode;

use leadrouter::{app, cli, config, db, engine::RuleSet, telemetry};

// glibc's malloc took a fifth of the service's CPU under load (perf, loadgen at c=16).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|a| a == "backtest") {
        return match cli::backtest::run(&args[1..]) {
            Ok(report) => {
                println!("{report}");
                ExitCode::SUCCESS
            }
            Err(problem) => {
                eprintln!("leadrouter backtest: {problem}");
                ExitCode::from(2)
            }
        };
    }
    let dir = config::config_dir(args);
    let loaded =
        config::load_settings(&dir).and_then(|settings| Ok((settings, config::load_rules(&dir)?)));
    let (settings, rules) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("leadrouter: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    let rules = RuleSet::new(rules).expect("load_rules validated the rules");
    telemetry::init(&settings.log);

    match app::run(settings, rules).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            match e.downcast_ref::<db::Unreachable>() {
                Some(unreachable) => eprintln!("leadrouter: {unreachable}"),
                None => {
                    tracing::error!(error = format!("{e:#}"), "leadrouter stopped on an error");
                    eprintln!("leadrouter: {e:#}");
                }
            }
            ExitCode::FAILURE
        }
    }
}
