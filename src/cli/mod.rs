//! The `leadrouter` command line: `serve` (the default), `backtest`, and the commands that
//! set up a database without a running service: `migrate`, `keys`, `demo`.

pub mod backtest;
mod demo;
mod failure;
pub mod keys;
mod migrate;
pub mod setup;

pub use failure::Failure;
pub use keys::KeysCommand;

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::ExitCode,
};

use clap::{Parser, Subcommand};

/// Lead routing service: ingests CRM and MAP lead events, scores fit and intent, hands MQLs
/// to sales.
#[derive(Debug, Parser)]
#[command(name = "leadrouter", version, about)]
pub struct Cli {
    /// The config folder holding default.toml, rules.toml and nurture.toml.
    #[arg(
        long,
        global = true,
        env = "LEADROUTER_CONFIG_DIR",
        default_value = "config",
        value_name = "DIR"
    )]
    pub config: PathBuf,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What to run.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API until SIGTERM or ctrl-c (the default).
    Serve,
    /// Backtest rules and thresholds over a CSV of historical leads, without a database
    /// (`leadrouter backtest --help` for its options).
    #[command(disable_help_flag = true)]
    Backtest {
        /// The backtest's own options, read by `cli::backtest`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
        args: Vec<String>,
    },
    #[command(flatten)]
    Database(DatabaseCommand),
}

/// The commands that work on the database `serve` would use (same `--config`, same
/// `DATABASE_URL`), each creating and migrating it first if need be.
#[derive(Debug, Subcommand)]
pub enum DatabaseCommand {
    /// Create the database if it is missing and apply the migrations, then exit.
    Migrate,
    /// Mint, list and revoke API keys (`leadrouter keys create --role admin` for the first).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Load an example data set (reps, a tiered account list, a week of events) through the
    /// API's use cases; running it again changes nothing.
    Demo,
}

impl DatabaseCommand {
    /// The name errors are prefixed with (`leadrouter keys create: ...`).
    fn name(&self) -> &'static str {
        match self {
            DatabaseCommand::Migrate => "leadrouter migrate",
            DatabaseCommand::Keys { command } => match command {
                KeysCommand::Create(_) => "leadrouter keys create",
                KeysCommand::List => "leadrouter keys list",
                KeysCommand::Revoke { .. } => "leadrouter keys revoke",
            },
            DatabaseCommand::Demo => "leadrouter demo",
        }
    }
}

/// Runs `command` with the config folder `config`: its output on stdout, and on failure one
/// line on stderr with exit code 2 (usage or configuration) or 1 (anything else).
pub fn run(config: &Path, command: DatabaseCommand) -> ExitCode {
    let name = command.name();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            say(&format!("{name}: cannot start the async runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match command {
            DatabaseCommand::Migrate => migrate::run(config).await,
            DatabaseCommand::Keys { command } => keys::run(config, command).await,
            DatabaseCommand::Demo => demo::run(config).await,
        }
    });
    match result {
        Ok(output) => {
            let _ = writeln!(std::io::stdout(), "{output}");
            ExitCode::SUCCESS
        }
        Err(failure) => {
            say(&format!("{name}: {}", failure.message()));
            failure.exit_code()
        }
    }
}

/// One line to stderr; with stderr gone there is nobody to tell, and `eprintln!` would panic.
fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn no_subcommand_serves_and_backtest_takes_its_own_flags() {
        let cli = Cli::try_parse_from(["leadrouter", "--config", "/etc/lr"]).unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.config, PathBuf::from("/etc/lr"));
        let cli =
            Cli::try_parse_from(["leadrouter", "backtest", "--csv", "x.csv", "--help"]).unwrap();
        assert!(
            matches!(cli.command, Some(Command::Backtest { args }) if args == ["--csv", "x.csv", "--help"])
        );
    }

    #[test]
    fn help_lists_every_command() {
        let help = Cli::command().render_help().to_string();
        for command in ["serve", "backtest", "migrate", "keys", "demo"] {
            assert!(help.contains(&format!("  {command} ")), "{command}: {help}");
        }
        let mut cli = Cli::command();
        let keys = cli.find_subcommand_mut("keys").unwrap();
        let help = keys.render_help().to_string();
        for command in ["create", "list", "revoke"] {
            assert!(help.contains(&format!("  {command} ")), "{command}: {help}");
        }
    }

    #[test]
    fn the_database_commands_parse_with_the_global_config() {
        let cli = Cli::try_parse_from(["leadrouter", "migrate", "--config", "/etc/lr"]).unwrap();
        assert!(matches!(
            cli.command,
            Some(Command::Database(DatabaseCommand::Migrate))
        ));
        assert_eq!(cli.config, PathBuf::from("/etc/lr"));
        let rep = "0193a5b4-0000-7000-8000-000000000001";
        let cli = Cli::try_parse_from([
            "leadrouter",
            "keys",
            "create",
            "--role",
            "rep",
            "--rep-id",
            rep,
            "--name",
            "Ray",
        ])
        .unwrap();
        let Some(Command::Database(DatabaseCommand::Keys {
            command: KeysCommand::Create(args),
        })) = cli.command
        else {
            panic!("not keys create: {:?}", cli.command);
        };
        assert_eq!(args.role, crate::domain::Role::Rep);
        assert_eq!(args.rep_id.unwrap().to_string(), rep);
        assert_eq!(args.name.as_deref(), Some("Ray"));
        let cli = Cli::try_parse_from(["leadrouter", "keys", "revoke", "lr_1a2b3c4d"]).unwrap();
        assert!(matches!(
            cli.command,
            Some(Command::Database(DatabaseCommand::Keys {
                command: KeysCommand::Revoke { key }
            })) if key == "lr_1a2b3c4d"
        ));
        assert!(matches!(
            Cli::try_parse_from(["leadrouter", "demo"]).unwrap().command,
            Some(Command::Database(DatabaseCommand::Demo))
        ));
    }

    #[test]
    fn a_wrong_role_or_a_missing_one_is_a_usage_error() {
        for args in [
            &["leadrouter", "keys", "create", "--role", "root"][..],
            &["leadrouter", "keys", "create"],
            &[
                "leadrouter",
                "keys",
                "create",
                "--role",
                "rep",
                "--rep-id",
                "42",
            ],
        ] {
            let error = Cli::try_parse_from(args).unwrap_err();
            assert_eq!(error.exit_code(), 2, "{args:?}");
        }
    }

    #[test]
    fn help_and_version_are_answered_not_served() {
        let help = Cli::try_parse_from(["leadrouter", "--help"]).unwrap_err();
        assert_eq!(help.kind(), clap::error::ErrorKind::DisplayHelp);
        let version = Cli::try_parse_from(["leadrouter", "--version"]).unwrap_err();
        assert_eq!(version.kind(), clap::error::ErrorKind::DisplayVersion);
    }
}
