//! What the connectors' unit tests share: their clock and limits.

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::canonical::Limits;

/// The tests' "now".
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()
}

/// Limits with no demand states configured and five minutes of clock skew.
pub fn limits() -> Limits<'static> {
    Limits {
        max_batch_events: 100,
        max_future_skew: Duration::minutes(5),
        demand_states: &[],
    }
}
