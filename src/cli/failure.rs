//! How a database command fails: one line for stderr and the exit code that goes with it.

use std::process::ExitCode;

use crate::{config::ConfigError, db, error::ApiError};

/// Why a command stopped.
#[derive(Debug, PartialEq, Eq)]
pub enum Failure {
    /// The command line or the configuration is wrong; running it again as it is cannot
    /// work (exit code 2, as clap uses for its own usage errors).
    Usage(String),
    /// Something failed while running: the database, the network (exit code 1).
    Runtime(String),
}

impl Failure {
    /// The process exit code.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Failure::Usage(_) => ExitCode::from(2),
            Failure::Runtime(_) => ExitCode::FAILURE,
        }
    }

    /// The line to print, without the command's name.
    pub fn message(&self) -> &str {
        match self {
            Failure::Usage(m) | Failure::Runtime(m) => m,
        }
    }

    /// A runtime failure of the shared start-up code: an unreachable database is told in
    /// the words `serve` uses for it.
    pub fn runtime(error: anyhow::Error) -> Self {
        match error.downcast_ref::<db::Unreachable>() {
            Some(unreachable) => Failure::Runtime(unreachable.to_string()),
            None => Failure::Runtime(format!("{error:#}")),
        }
    }

    /// A use case's refusal. Its field names are the HTTP API's; `flag` turns each into the
    /// command-line flag that carries it, so the line names what the user typed.
    pub fn from_api(error: ApiError, flag: impl Fn(&str) -> String) -> Self {
        match error {
            ApiError::Validation(errors) => Failure::Usage(
                errors
                    .iter()
                    .map(|e| format!("{} {}", flag(&e.field), e.detail))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            ApiError::NotFound(_) | ApiError::Conflict(_) | ApiError::ConflictWithFacts { .. } => {
                Failure::Usage(error.detail())
            }
            // The API hides internal causes from clients; the operator at the terminal is the
            // one who needs them.
            ApiError::Internal(cause) => Failure::Runtime(format!("{cause:#}")),
            other => Failure::Runtime(other.to_string()),
        }
    }
}

impl From<ConfigError> for Failure {
    fn from(error: ConfigError) -> Self {
        Failure::Usage(format!("configuration error: {error}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::FieldError;

    #[test]
    fn validation_names_the_flags_and_is_a_usage_error() {
        let error = ApiError::Validation(vec![
            FieldError::new("rep_id", "is required for a rep key"),
            FieldError::new("label", "is too long"),
        ]);
        let failure = Failure::from_api(error, |field| format!("--{}", field.replace('_', "-")));
        assert_eq!(
            failure,
            Failure::Usage("--rep-id is required for a rep key; --label is too long".to_owned())
        );
    }

    #[test]
    fn an_unreachable_database_keeps_its_message() {
        let error = anyhow::Error::from(db::Unreachable {
            url: "postgres://x".to_owned(),
            cause: "refused".to_owned(),
        });
        let Failure::Runtime(line) = Failure::runtime(error) else {
            panic!("not a runtime failure");
        };
        assert!(line.starts_with("PostgreSQL is not reachable at postgres://x (refused)"));
    }
}
