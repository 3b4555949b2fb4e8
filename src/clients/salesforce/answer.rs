//! What Salesforce's answers mean, as pure functions of status, headers and body, so every
//! case is unit-tested without a server.
//!
//! An update (`PATCH …/composite/sobjects`) that Salesforce accepts is a 200 with one
//! SaveResult (`{id, success, errors: [{statusCode, message, fields}]}`) per record, in the
//! order they were sent; a failed record's `id` is absent, so records are matched by
//! position. Any other answer is about the whole call, with a body of
//! `[{message, errorCode, fields}]`.

use std::time::Duration;

use serde::Deserialize;

use crate::clients::crm::{BatchAnswer, RecordFailure};

/// How long to wait after `REQUEST_LIMIT_EXCEEDED` for concurrent long-running requests
/// (`ConcurrentRequests`, `ConcurrentPerOrgLongTxn`): these clear as soon as other requests
/// end, unlike the rolling 24-hour allocation, so the configured pause would be far too long.
pub(super) const CONCURRENT_LIMIT_PAUSE: Duration = Duration::from_secs(5);

/// Per-record codes for which the same write may succeed later: a lock held by another
/// transaction, a platform hiccup, or (with allOrNone) a record rolled back only because
/// another failed. Every other code is taken as permanent, so a record is never retried for
/// ever on an error no retry fixes.
const RETRYABLE_CODES: &[&str] = &[
    "UNABLE_TO_LOCK_ROW",
    "API_TEMPORARILY_UNAVAILABLE",
    "REQUEST_RUNNING_TOO_LONG",
    "SERVER_UNAVAILABLE",
    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
];

/// What one update call came to.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Reply {
    /// A final answer for the records sent.
    Done(BatchAnswer),
    /// 401: the token expired or was revoked; Salesforce's message.
    SessionInvalid(String),
}

/// One error of a whole-call error answer.
#[derive(Deserialize)]
struct CallError {
    #[serde(rename = "errorCode", default)]
    error_code: String,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct SaveResult {
    success: bool,
    #[serde(default)]
    errors: Vec<SaveError>,
}

#[derive(Deserialize)]
struct SaveError {
    #[serde(rename = "statusCode", default)]
    status_code: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    fields: Vec<String>,
}

/// The token endpoint's error (`{"error":"invalid_client","error_description":…}`).
#[derive(Deserialize)]
struct OAuthError {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

/// The token endpoint's answer to the client credentials flow (other fields: `id`,
/// `token_type`, `issued_at`, `signature`, `scope`, unused here).
#[derive(Deserialize)]
pub(super) struct Issued {
    pub access_token: String,
    pub instance_url: String,
}

/// Whether a per-record `statusCode` may succeed on a later try.
pub(super) fn retryable(code: &str) -> bool {
    RETRYABLE_CODES.contains(&code)
}

/// The meaning of Salesforce's answer to an update of the records `sent` (their ids, in the
/// order sent); `pause` is the wait after the daily request allocation is exhausted.
pub(super) fn read_update(
    status: u16,
    retry_after: Option<Duration>,
    body: &[u8],
    sent: &[&str],
    pause: Duration,
) -> Reply {
    let answer = match status {
        200 => read_save_results(body, sent),
        401 => return Reply::SessionInvalid(said(body)),
        403 if error_codes(body).any(|(code, _)| code == "REQUEST_LIMIT_EXCEEDED") => {
            let concurrent = error_codes(body)
                .any(|(_, message)| message.to_ascii_lowercase().contains("concurrent"));
            BatchAnswer::RateLimited {
                retry_after: if concurrent {
                    CONCURRENT_LIMIT_PAUSE.min(pause)
                } else {
                    pause
                },
            }
        }
        429 => BatchAnswer::RateLimited {
            retry_after: retry_after.unwrap_or(pause),
        },
        500..=599 => BatchAnswer::Unavailable {
            error: format!("Salesforce answered {status} {}", said(body)),
            retry_after,
        },
        400..=499 => BatchAnswer::Refused {
            status,
            error: said(body),
        },
        _ => BatchAnswer::Unavailable {
            error: format!("Salesforce answered an unexpected {status} {}", said(body)),
            retry_after,
        },
    };
    Reply::Done(answer)
}

/// The failed records of a 200, or `Unavailable` when the answer cannot be matched to the
/// records sent (then nothing is known to be written, and writing again is harmless).
fn read_save_results(body: &[u8], sent: &[&str]) -> BatchAnswer {
    let results: Vec<SaveResult> = match serde_json::from_slice(body) {
        Ok(results) => results,
        Err(e) => {
            return BatchAnswer::Unavailable {
                error: format!("an unreadable answer from Salesforce: {e}"),
                retry_after: None,
            };
        }
    };
    if results.len() != sent.len() {
        return BatchAnswer::Unavailable {
            error: format!(
                "Salesforce answered {} results for {} records",
                results.len(),
                sent.len()
            ),
            retry_after: None,
        };
    }
    let failed = results
        .into_iter()
        .zip(sent)
        .filter(|(result, _)| !result.success)
        .map(|(result, id)| failure(id, &result.errors))
        .collect();
    BatchAnswer::Answered { failed }
}

/// One failed record: its first error's code; retryable only if every error is.
fn failure(id: &str, errors: &[SaveError]) -> RecordFailure {
    let message = errors
        .iter()
        .map(|e| {
            if e.fields.is_empty() {
                format!("{}: {}", e.status_code, e.message)
            } else {
                format!("{}: {} ({})", e.status_code, e.message, e.fields.join(", "))
            }
        })
        .collect::<Vec<_>>()
        .join("; ");
    RecordFailure {
        id: id.to_owned(),
        code: errors
            .first()
            .map_or_else(|| "UNKNOWN".to_owned(), |e| e.status_code.clone()),
        message,
        retryable: !errors.is_empty() && errors.iter().all(|e| retryable(&e.status_code)),
    }
}

/// The (errorCode, message) pairs of a whole-call error answer.
fn error_codes(body: &[u8]) -> impl Iterator<Item = (String, String)> {
    serde_json::from_slice::<Vec<CallError>>(body)
        .unwrap_or_default()
        .into_iter()
        .map(|e| (e.error_code, e.message))
}

/// A whole-call error answer as `CODE: message; …`, or the start of the body when it is not
/// Salesforce's error array (a proxy's HTML page, say).
fn said(body: &[u8]) -> String {
    let errors: Vec<String> = error_codes(body)
        .map(|(code, message)| format!("{code}: {message}"))
        .collect();
    if errors.is_empty() {
        String::from_utf8_lossy(body).chars().take(200).collect()
    } else {
        errors.join("; ")
    }
}

/// The meaning of the token endpoint's answer: a token, or the answer for the whole batch.
pub(super) fn read_token(status: u16, body: &[u8]) -> Result<Issued, BatchAnswer> {
    match status {
        200 => serde_json::from_slice(body).map_err(|e| BatchAnswer::Unavailable {
            error: format!("an unreadable token from Salesforce: {e}"),
            retry_after: None,
        }),
        429 | 500..=599 => Err(BatchAnswer::Unavailable {
            error: format!("Salesforce's token endpoint answered {status}"),
            retry_after: None,
        }),
        _ => {
            let error = match serde_json::from_slice::<OAuthError>(body) {
                Ok(e) => format!("token refused: {}: {}", e.error, e.error_description),
                Err(_) => format!(
                    "token refused: {}",
                    String::from_utf8_lossy(body)
                        .chars()
                        .take(200)
                        .collect::<String>()
                ),
            };
            Err(BatchAnswer::Refused { status, error })
        }
    }
}
