//! The leadrouter service: load config, start telemetry, run until SIGTERM.

use std::process::ExitCode;

use leadrouter::{app, config, db, engine::RuleSet, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    let dir = config::config_dir(std::env::args().skip(1));
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
