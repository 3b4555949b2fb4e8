//! The demo data set, built into the binary from `examples/demo/` so `leadrouter demo` works
//! from any folder: reps, the tiered account list (CSV, as `POST /api/v1/accounts/import`
//! takes it) and a week of canonical events (as `POST /webhooks/events` takes them).

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::Value;

/// The manager and reps.
pub const REPS: &str = include_str!("../../../examples/demo/reps.json");
/// The tiered account list.
pub const ACCOUNTS_CSV: &str = include_str!("../../../examples/demo/accounts.csv");
/// The events, timed as of the file's own week; [`events_as_of`] moves them to the present.
pub const EVENTS: &str = include_str!("../../../examples/demo/events.json");

/// How long before the present the file's last event is moved to.
const LAST_EVENT_AGO_MINUTES: i64 = 30;

/// A rep of `reps.json`: the fields of `POST /api/v1/reps`, with the manager named by email
/// since ids are made when the rows are.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoRep {
    pub name: String,
    pub email: String,
    /// `rep` or `manager`.
    pub role: String,
    pub manager_email: Option<String>,
    #[serde(default)]
    pub countries: Vec<String>,
    #[serde(default)]
    pub industries: Vec<String>,
}

/// The reps, managers first so the reps can name them.
pub fn reps() -> serde_json::Result<Vec<DemoRep>> {
    serde_json::from_str(REPS)
}

/// The events file as a request body, every `occurred_at` moved by one offset so that the
/// last event was [`LAST_EVENT_AGO_MINUTES`] before `now`: the week keeps its shape and its
/// intent has not decayed. Event ids stay fixed, so a second load is all duplicates.
pub fn events_as_of(now: DateTime<Utc>) -> anyhow::Result<Vec<u8>> {
    let mut events: Vec<Value> = serde_json::from_str(EVENTS)?;
    let at = |event: &Value| -> anyhow::Result<DateTime<Utc>> {
        let text = event["occurred_at"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("an event without occurred_at: {event}"))?;
        Ok(DateTime::parse_from_rfc3339(text)?.with_timezone(&Utc))
    };
    let mut last = None;
    for event in &events {
        last = last.max(Some(at(event)?));
    }
    let last = last.ok_or_else(|| anyhow::anyhow!("the events file is empty"))?;
    let target = now - Duration::minutes(LAST_EVENT_AGO_MINUTES);
    let shift = Duration::seconds((target - last).num_seconds());
    for event in &mut events {
        let moved = at(event)? + shift;
        event["occurred_at"] = moved.to_rfc3339_opts(SecondsFormat::Secs, true).into();
    }
    Ok(serde_json::to_vec(&events)?)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn the_events_end_half_an_hour_ago_and_keep_their_spacing() {
        let now = Utc.with_ymd_and_hms(2026, 12, 7, 12, 0, 0).unwrap();
        let events: Vec<Value> = serde_json::from_slice(&events_as_of(now).unwrap()).unwrap();
        let times: Vec<DateTime<Utc>> = events
            .iter()
            .map(|e| e["occurred_at"].as_str().unwrap().parse().unwrap())
            .collect();
        let last = *times.iter().max().unwrap();
        let first = *times.iter().min().unwrap();
        assert_eq!(last, now - Duration::minutes(30));
        assert!(last - first <= Duration::days(7), "a week of events");
    }

    #[test]
    fn the_reps_are_a_manager_and_three_reps() {
        let reps = reps().unwrap();
        assert_eq!(reps.iter().filter(|r| r.role == "manager").count(), 1);
        assert_eq!(reps.iter().filter(|r| r.role == "rep").count(), 3);
        assert_eq!(reps[0].role, "manager", "managers come first");
    }
}
