//! Command-line subcommands of the `leadrouter` binary (with none, it serves).

pub mod backtest;
