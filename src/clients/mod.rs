//! Clients of the vendors' APIs the connectors call.

pub mod crm;
pub mod hubspot;
pub mod salesforce;

use std::time::Duration;

/// A `Retry-After` in seconds on `response`, as the vendors send it (none of them sends a date).
pub fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}
