//! Exact instants for the calendar, in UTC (2026-01-05 is a Monday); time zones and DST in
//! `dst`, invariants in `properties`.

use chrono::{DateTime, TimeDelta, Utc};

use super::BusinessCalendar;
use crate::engine::SlaRules;

const WEEKDAYS: &[&str] = &["mon", "tue", "wed", "thu", "fri"];
const ALL_DAYS: &[&str] = &["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// A calendar from config-file spellings.
fn calendar(zone: &str, days: &[&str], open: (&str, &str), holidays: &[&str]) -> BusinessCalendar {
    BusinessCalendar::new(&SlaRules {
        time_zone: zone.parse().unwrap(),
        working_days: days.iter().map(|d| d.parse().unwrap()).collect(),
        day_start: open.0.parse().unwrap(),
        day_end: open.1.parse().unwrap(),
        holidays: holidays.iter().map(|d| d.parse().unwrap()).collect(),
        ack_business_hours: 4,
        disposition_business_days: 2,
        escalate_after_hours: 48,
    })
}

/// Monday to Friday, 09:00–17:00 UTC: the shipped default.
fn office() -> BusinessCalendar {
    calendar("UTC", WEEKDAYS, ("09:00", "17:00"), &[])
}

fn at(instant: &str) -> DateTime<Utc> {
    instant.parse().unwrap()
}

fn hours(h: i64) -> TimeDelta {
    TimeDelta::hours(h)
}

/// Asserts `from + amount` of business time, both as RFC 3339 instants.
#[track_caller]
fn assert_adds(cal: &BusinessCalendar, from: &str, amount: TimeDelta, expected: &str) {
    assert_eq!(
        cal.add_business_time(at(from), amount),
        at(expected),
        "{from} + {amount}"
    );
}

#[test]
fn time_within_a_day_is_plain_hours() {
    assert_adds(
        &office(),
        "2026-01-06T10:00:00Z",
        hours(4),
        "2026-01-06T14:00:00Z",
    );
    assert_adds(
        &office(),
        "2026-01-06T10:15:30Z",
        TimeDelta::minutes(90),
        "2026-01-06T11:45:30Z",
    );
}

#[test]
fn ending_exactly_at_closing_stays_on_that_day() {
    assert_adds(
        &office(),
        "2026-01-06T13:00:00Z",
        hours(4),
        "2026-01-06T17:00:00Z",
    );
}

#[test]
fn crossing_the_end_of_the_day_continues_next_morning() {
    assert_adds(
        &office(),
        "2026-01-06T15:00:00Z",
        hours(4),
        "2026-01-07T11:00:00Z",
    );
}

#[test]
fn outside_business_hours_the_clock_starts_at_the_next_opening() {
    let cal = office();
    assert_adds(
        &cal,
        "2026-01-06T07:30:00Z",
        hours(4),
        "2026-01-06T13:00:00Z",
    );
    assert_adds(
        &cal,
        "2026-01-06T18:00:00Z",
        hours(4),
        "2026-01-07T13:00:00Z",
    );
    assert_adds(
        &cal,
        "2026-01-06T17:00:00Z",
        hours(1),
        "2026-01-07T10:00:00Z",
    );
    assert_adds(
        &cal,
        "2026-01-10T12:00:00Z",
        hours(4),
        "2026-01-12T13:00:00Z",
    );
}

#[test]
fn crossing_a_weekend() {
    assert_adds(
        &office(),
        "2026-01-09T15:00:00Z",
        hours(4),
        "2026-01-12T11:00:00Z",
    );
}

#[test]
fn a_holiday_in_the_middle_is_skipped() {
    let cal = calendar("UTC", WEEKDAYS, ("09:00", "17:00"), &["2026-01-07"]);
    assert_adds(
        &cal,
        "2026-01-06T15:00:00Z",
        hours(4),
        "2026-01-08T11:00:00Z",
    );
    assert_adds(
        &cal,
        "2026-01-07T10:00:00Z",
        hours(4),
        "2026-01-08T13:00:00Z",
    );
}

#[test]
fn consecutive_holidays_and_a_weekend_are_skipped_together() {
    let holidays = ["2026-12-24", "2026-12-25", "2026-12-31", "2027-01-01"];
    let cal = calendar("UTC", WEEKDAYS, ("09:00", "17:00"), &holidays);
    // Wed 23rd: 1 h; Thu, Fri holidays; weekend; Mon 28th: 3 h.
    assert_adds(
        &cal,
        "2026-12-23T16:00:00Z",
        hours(4),
        "2026-12-28T12:00:00Z",
    );
    // Wed 30th: 2 h; Thu, Fri holidays; weekend; Mon 2027-01-04: 2 h.
    assert_adds(
        &cal,
        "2026-12-30T15:00:00Z",
        hours(4),
        "2027-01-04T11:00:00Z",
    );
}

#[test]
fn a_holiday_is_a_local_date() {
    // 2026-01-07 in Tokyo (UTC+9) runs from 2026-01-06T15:00Z to 2026-01-07T15:00Z.
    let cal = calendar("Asia/Tokyo", WEEKDAYS, ("09:00", "17:00"), &["2026-01-07"]);
    // Tue 17:00 JST closing → Wed holiday → Thu 09:00 JST = Thu 00:00Z.
    assert_adds(
        &cal,
        "2026-01-06T08:00:00Z",
        hours(1),
        "2026-01-08T01:00:00Z",
    );
}

#[test]
fn zero_or_negative_time_is_the_start_itself() {
    let cal = office();
    for from in ["2026-01-06T10:00:00Z", "2026-01-10T12:00:00Z"] {
        assert_eq!(cal.add_business_time(at(from), TimeDelta::zero()), at(from));
        assert_eq!(cal.add_business_time(at(from), hours(-3)), at(from));
    }
}

#[test]
fn two_business_days_are_sixteen_business_hours() {
    let cal = office();
    assert_eq!(cal.working_day(), hours(8));
    let cases = [
        ("2026-01-06T15:00:00Z", "2026-01-08T15:00:00Z"), // Tue → Thu
        ("2026-01-09T15:00:00Z", "2026-01-13T15:00:00Z"), // Fri → Tue
        ("2026-01-06T09:00:00Z", "2026-01-07T17:00:00Z"), // Tue opening → Wed closing
        ("2026-01-06T17:00:00Z", "2026-01-08T17:00:00Z"), // Tue closing → Thu closing
        ("2026-01-06T20:00:00Z", "2026-01-08T17:00:00Z"), // Tue evening → Thu closing
        ("2026-01-10T10:00:00Z", "2026-01-13T17:00:00Z"), // Saturday → Tue closing
    ];
    for (from, due) in cases {
        assert_eq!(cal.add_business_days(at(from), 2), at(due), "{from}");
    }
    let cal = calendar("UTC", WEEKDAYS, ("09:00", "17:00"), &["2026-01-12"]);
    assert_eq!(
        cal.add_business_days(at("2026-01-09T15:00:00Z"), 2),
        at("2026-01-14T15:00:00Z")
    );
}

#[test]
fn a_calendar_without_business_time_answers_never() {
    let never = DateTime::<Utc>::MAX_UTC;
    let from = at("2026-01-06T10:00:00Z");
    let closed = calendar("UTC", &[], ("09:00", "17:00"), &[]);
    assert_eq!(closed.add_business_time(from, hours(1)), never);
    let backwards = calendar("UTC", WEEKDAYS, ("17:00", "09:00"), &[]);
    assert_eq!(backwards.add_business_time(from, hours(1)), never);
    assert_eq!(backwards.add_business_days(from, 2), never);
    assert_eq!(backwards.add_business_days(from, 0), from);
    assert!(!backwards.is_open(from));
}

#[test]
fn closing_time_itself_is_closed() {
    let cal = office();
    assert!(cal.is_open(at("2026-01-06T09:00:00Z")));
    assert!(cal.is_open(at("2026-01-06T16:59:59Z")));
    assert!(!cal.is_open(at("2026-01-06T17:00:00Z")));
    assert!(!cal.is_open(at("2026-01-10T12:00:00Z")));
}

mod dst;
mod properties;
