//! The `leadrouter` command line: `serve` (the default) and `backtest`.

pub mod backtest;

use std::path::PathBuf;

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
    fn help_and_version_are_answered_not_served() {
        let help = Cli::try_parse_from(["leadrouter", "--help"]).unwrap_err();
        assert_eq!(help.kind(), clap::error::ErrorKind::DisplayHelp);
        let version = Cli::try_parse_from(["leadrouter", "--version"]).unwrap_err();
        assert_eq!(version.kind(), clap::error::ErrorKind::DisplayVersion);
    }
}
