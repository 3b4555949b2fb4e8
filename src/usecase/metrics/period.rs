//! The parameters every metrics endpoint takes: a period (`from`, `to`) and a grouping
//! (`by`), read from the query string with 422s naming the parameter.

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;

use super::Week;
use crate::{
    db::metrics::Grouping,
    error::{ApiError, FieldError},
};

/// The period a view covers when the request names none: the last 90 days.
pub const DEFAULT_DAYS: i64 = 90;
/// The longest period a request may ask for: a year, leap day included. Longer reads would
/// cost more than an ops dashboard needs and are better served by an export.
pub const MAX_DAYS: i64 = 366;

/// A half-open period `[from, to)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Period {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// A period cut at UTC midnights: the whole days inside it (read from the daily sums) and
/// the partial stretches at its ends (read from the facts).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    pub days: Option<(NaiveDate, NaiveDate)>,
    pub edges: Vec<(DateTime<Utc>, DateTime<Utc>)>,
}

/// `day` 00:00 UTC.
pub fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc()
}

impl Period {
    /// The whole UTC days `[first, end)` of the period and the partial stretches around them.
    pub fn split(&self) -> Split {
        let from_day = self.from.date_naive();
        let first = if midnight(from_day) == self.from {
            from_day
        } else {
            from_day + Duration::days(1)
        };
        let end = self.to.date_naive();
        if first >= end {
            return Split {
                days: None,
                edges: vec![(self.from, self.to)],
            };
        }
        let mut edges = Vec::new();
        if self.from < midnight(first) {
            edges.push((self.from, midnight(first)));
        }
        if midnight(end) < self.to {
            edges.push((midnight(end), self.to));
        }
        Split {
            days: Some((first, end)),
            edges,
        }
    }

    /// The ISO weeks (UTC) that overlap the period, in order.
    pub fn weeks(&self) -> Vec<Week> {
        let first = Week::of(self.from);
        std::iter::successors(Some(first), |w| Some(w.next()))
            .take_while(|w| w.start() < self.to)
            .collect()
    }

    /// The part of the period inside `other`; empty (`from` ≥ `to`) when they do not meet.
    pub fn within(&self, other: &Period) -> Period {
        Period {
            from: self.from.max(other.from),
            to: self.to.min(other.to),
        }
    }
}

/// A metrics request: its period and grouping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetricsQuery {
    pub period: Period,
    pub by: Grouping,
}

impl MetricsQuery {
    /// Reads `from`, `to` and, when `groupings` allows any, `by` (absent: the total only).
    ///
    /// `from` and `to` are RFC 3339 timestamps or dates (`YYYY-MM-DD`, UTC). A date as `to`
    /// includes that day (`from=2026-11-01&to=2026-11-30` is November). Defaults: `to` is now,
    /// `from` is [`DEFAULT_DAYS`] before `to`. Every problem is reported at once, each naming
    /// its parameter; unknown parameters are refused so that a typo does not silently give
    /// the default period.
    pub fn parse(
        query: &HashMap<String, String>,
        groupings: &[Grouping],
        now: DateTime<Utc>,
    ) -> Result<Self, ApiError> {
        let names: Vec<&str> = groupings.iter().filter_map(|g| g.name()).collect();
        let (period, by) = parse_period(query, &names, now)?;
        let by = groupings
            .iter()
            .find(|g| by.is_some() && g.name() == by)
            .copied()
            .unwrap_or(Grouping::Total);
        Ok(MetricsQuery { period, by })
    }
}

/// [`MetricsQuery::parse`] for a view with groupings of its own: the period, and which of
/// `groupings` (by name) `by` asks for, `None` for the total only.
pub fn parse_period<'n>(
    query: &HashMap<String, String>,
    groupings: &[&'n str],
    now: DateTime<Utc>,
) -> Result<(Period, Option<&'n str>), ApiError> {
    let mut errors = Vec::new();
    let allowed: &[&str] = if groupings.is_empty() {
        &["from", "to"]
    } else {
        &["from", "to", "by"]
    };
    let mut unknown: Vec<&String> = query
        .keys()
        .filter(|k| !allowed.contains(&k.as_str()))
        .collect();
    unknown.sort();
    for name in unknown {
        errors.push(FieldError::new(
            name.as_str(),
            format!("unknown parameter; allowed: {}", allowed.join(", ")),
        ));
    }
    let from = bound(query, "from", false, &mut errors);
    let to = bound(query, "to", true, &mut errors);
    let by = grouping(query.get("by"), groupings, &mut errors);
    let period = match (from, to) {
        (Ok(from), Ok(to)) => period(from, to, now, &mut errors),
        _ => None,
    };
    match (period, errors.is_empty()) {
        (Some(period), true) => Ok((period, by)),
        _ => Err(ApiError::Validation(errors)),
    }
}

/// The bound `name`, `Ok(None)` when absent; `Err` when unreadable (recorded in `errors`).
fn bound(
    query: &HashMap<String, String>,
    name: &str,
    is_end: bool,
    errors: &mut Vec<FieldError>,
) -> Result<Option<DateTime<Utc>>, ()> {
    let Some(raw) = query.get(name) else {
        return Ok(None);
    };
    // A `+` offset arrives as a space unless the client encoded it.
    let text = raw.trim().replace(' ', "+");
    if let Ok(at) = DateTime::parse_from_rfc3339(&text) {
        return Ok(Some(at.with_timezone(&Utc)));
    }
    let date = NaiveDate::parse_from_str(&text, "%Y-%m-%d")
        .ok()
        .and_then(|d| if is_end { d.succ_opt() } else { Some(d) });
    match date {
        Some(day) => Ok(Some(
            day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc(),
        )),
        None => {
            errors.push(FieldError::new(
                name,
                format!("{raw:?} is neither a date (YYYY-MM-DD) nor an RFC 3339 timestamp"),
            ));
            Err(())
        }
    }
}

fn grouping<'n>(
    raw: Option<&String>,
    groupings: &[&'n str],
    errors: &mut Vec<FieldError>,
) -> Option<&'n str> {
    // Where no grouping is offered, `by` is reported as an unknown parameter already.
    let raw = raw.filter(|_| !groupings.is_empty())?;
    if let Some(found) = groupings.iter().find(|g| **g == raw.as_str()) {
        return Some(found);
    }
    errors.push(FieldError::new(
        "by",
        format!(
            "{raw:?} is not a grouping; allowed: {}",
            groupings.join(", ")
        ),
    ));
    None
}

fn period(
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    errors: &mut Vec<FieldError>,
) -> Option<Period> {
    let end = to.unwrap_or(now);
    let start = from.unwrap_or(end - Duration::days(DEFAULT_DAYS));
    // Name the parameter the caller gave: the other one is a default they did not choose.
    let blamed = if to.is_some() { "to" } else { "from" };
    if start >= end {
        errors.push(FieldError::new(
            blamed,
            format!(
                "the period must end after it starts; from {} is not before to {}",
                start.to_rfc3339(),
                end.to_rfc3339()
            ),
        ));
        return None;
    }
    if end - start > Duration::days(MAX_DAYS) {
        errors.push(FieldError::new(
            blamed,
            format!(
                "the period spans {} days; at most {MAX_DAYS} are allowed",
                (end - start).num_days()
            ),
        ));
        return None;
    }
    Some(Period {
        from: start,
        to: end,
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap()
    }

    fn parse(pairs: &[(&str, &str)], groupings: &[Grouping]) -> Result<MetricsQuery, Vec<String>> {
        let query = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        MetricsQuery::parse(&query, groupings, now()).map_err(|e| match e {
            ApiError::Validation(errors) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("{other:?}"),
        })
    }

    fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
    }

    #[test]
    fn the_default_is_the_last_90_days_in_total() {
        let q = parse(&[], &[Grouping::Rep]).unwrap();
        assert_eq!(q.period.to, now());
        assert_eq!(q.period.from, now() - Duration::days(90));
        assert_eq!(q.by, Grouping::Total);
    }

    #[test]
    fn dates_cover_whole_days_and_timestamps_are_exact() {
        let q = parse(&[("from", "2026-11-01"), ("to", "2026-11-30")], &[]).unwrap();
        assert_eq!(q.period.from, at(2026, 11, 1, 0));
        assert_eq!(q.period.to, at(2026, 12, 1, 0), "to includes its day");
        let q = parse(
            &[
                ("from", "2026-11-01T09:00:00+01:00"),
                ("to", "2026-11-02T10:00:00Z"),
            ],
            &[],
        )
        .unwrap();
        assert_eq!(q.period.from, at(2026, 11, 1, 8));
        assert_eq!(q.period.to, at(2026, 11, 2, 10));
        let q = parse(&[("from", "2026-11-01T09:00:00 01:00")], &[]).unwrap();
        assert_eq!(
            q.period.from,
            at(2026, 11, 1, 8),
            "an unencoded + is a space"
        );
        let q = parse(&[("from", "2026-11-01")], &[]).unwrap();
        assert_eq!(q.period.to, now(), "to defaults to now");
        let q = parse(&[("to", "2026-03-31")], &[]).unwrap();
        assert_eq!(
            q.period.from,
            at(2026, 1, 1, 0),
            "from defaults to 90 days before to"
        );
    }

    #[test]
    fn bad_parameters_are_named_all_at_once() {
        assert_eq!(parse(&[("from", "yesterday")], &[]).unwrap_err(), ["from"]);
        assert_eq!(
            parse(&[("from", "2026-13-01"), ("to", "x")], &[]).unwrap_err(),
            ["from", "to"]
        );
        assert_eq!(
            parse(&[("from", "2026-11-02"), ("to", "2026-11-01")], &[]).unwrap_err(),
            ["to"],
            "to is the day before from"
        );
        assert_eq!(
            parse(
                &[
                    ("from", "2026-11-02T00:00:00Z"),
                    ("to", "2026-11-02T00:00:00Z")
                ],
                &[]
            )
            .unwrap_err(),
            ["to"],
            "an empty period"
        );
        assert_eq!(parse(&[("from", "2026-12-01")], &[]).unwrap_err(), ["from"]);
        assert_eq!(
            parse(&[("from", "2025-01-01"), ("to", "2026-01-02")], &[]).unwrap_err(),
            ["to"],
            "367 days"
        );
        assert!(parse(&[("from", "2025-01-01"), ("to", "2026-01-01")], &[]).is_ok());
        assert_eq!(parse(&[("from", "2025-01-01")], &[]).unwrap_err(), ["from"]);
        assert_eq!(
            parse(&[("by", "team")], &[Grouping::Rep, Grouping::Tier]).unwrap_err(),
            ["by"]
        );
        assert_eq!(
            parse(&[("by", "rep")], &[]).unwrap_err(),
            ["by"],
            "no grouping here"
        );
        assert_eq!(
            parse(&[("form", "2026-11-01"), ("limit", "5")], &[]).unwrap_err(),
            ["form", "limit"]
        );
    }

    #[test]
    fn a_period_splits_into_whole_days_and_partial_ends() {
        let day = |d| NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
        let split = |from, to| Period { from, to }.split();
        assert_eq!(
            split(at(2026, 11, 2, 0), at(2026, 11, 21, 0)),
            Split {
                days: Some((day(2), day(21))),
                edges: vec![]
            }
        );
        assert_eq!(
            split(at(2026, 11, 2, 9), at(2026, 11, 20, 12)),
            Split {
                days: Some((day(3), day(20))),
                edges: vec![
                    (at(2026, 11, 2, 9), at(2026, 11, 3, 0)),
                    (at(2026, 11, 20, 0), at(2026, 11, 20, 12))
                ],
            }
        );
        assert_eq!(
            split(at(2026, 11, 2, 9), at(2026, 11, 3, 12)),
            Split {
                days: None,
                edges: vec![(at(2026, 11, 2, 9), at(2026, 11, 3, 12))]
            },
            "no whole day"
        );
        assert_eq!(
            split(at(2026, 11, 2, 0), at(2026, 11, 2, 12)),
            Split {
                days: None,
                edges: vec![(at(2026, 11, 2, 0), at(2026, 11, 2, 12))]
            }
        );
    }

    #[test]
    fn weeks_are_the_iso_weeks_overlapping_the_period() {
        let period = Period {
            from: at(2026, 11, 4, 12),
            to: at(2026, 11, 16, 0),
        };
        let weeks: Vec<String> = period.weeks().into_iter().map(Week::key).collect();
        assert_eq!(weeks, ["2026-W45", "2026-W46"], "the 16th is excluded");
        assert_eq!(
            period.weeks()[0].monday,
            NaiveDate::from_ymd_opt(2026, 11, 2).unwrap()
        );
        let new_year = Period {
            from: at(2026, 12, 28, 0),
            to: at(2027, 1, 5, 0),
        };
        let keys: Vec<String> = new_year.weeks().into_iter().map(Week::key).collect();
        assert_eq!(keys, ["2026-W53", "2027-W01"]);
    }
}
