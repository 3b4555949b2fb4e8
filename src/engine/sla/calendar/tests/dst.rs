//! Zones and DST, with exact UTC instants. Europe/Berlin springs forward on Sunday 2026-03-29
//! and falls back on Sunday 2026-10-25; America/New_York on Sundays 2026-03-08 and 2026-11-01.

use chrono::TimeDelta;

use super::{ALL_DAYS, BusinessCalendar, WEEKDAYS, assert_adds, at, calendar, hours};

fn berlin() -> BusinessCalendar {
    calendar("Europe/Berlin", WEEKDAYS, ("09:00", "17:00"), &[])
}

#[test]
fn berlin_opens_at_08z_in_winter_and_07z_in_summer() {
    let cal = berlin();
    assert_adds(
        &cal,
        "2026-01-05T06:00:00Z",
        hours(1),
        "2026-01-05T09:00:00Z",
    );
    assert_adds(
        &cal,
        "2026-07-06T06:00:00Z",
        hours(1),
        "2026-07-06T08:00:00Z",
    );
    assert!(!cal.is_open(at("2026-03-30T06:59:59Z")));
    assert!(cal.is_open(at("2026-03-30T07:00:00Z")));
    assert!(!cal.is_open(at("2026-03-27T16:00:00Z")));
}

#[test]
fn berlin_across_spring_forward() {
    let cal = berlin();
    // Fri 15:00 CET = 14:00Z: 2 h to 17:00 CET; Mon 09:00 CEST = 07:00Z + 2 h.
    assert_adds(
        &cal,
        "2026-03-27T14:00:00Z",
        hours(4),
        "2026-03-30T09:00:00Z",
    );
    // Two business days: Tue 15:00 CEST.
    assert_eq!(
        cal.add_business_days(at("2026-03-27T14:00:00Z"), 2),
        at("2026-03-31T13:00:00Z")
    );
}

#[test]
fn berlin_across_fall_back() {
    let cal = berlin();
    // Fri 16:00 CEST = 14:00Z: 1 h; Mon 09:00 CET = 08:00Z + 1 h.
    assert_adds(
        &cal,
        "2026-10-23T14:00:00Z",
        hours(2),
        "2026-10-26T09:00:00Z",
    );
    assert_eq!(
        cal.business_time_between(at("2026-10-23T14:00:00Z"), at("2026-10-26T09:00:00Z")),
        hours(2)
    );
}

#[test]
fn new_york_across_both_changes() {
    let cal = calendar("America/New_York", WEEKDAYS, ("09:00", "17:00"), &[]);
    // Fri 16:00 EST = 21:00Z: 1 h; Mon 09:00 EDT = 13:00Z + 1 h.
    assert_adds(
        &cal,
        "2026-03-06T21:00:00Z",
        hours(2),
        "2026-03-09T14:00:00Z",
    );
    // Fri 16:00 EDT = 20:00Z: 1 h; Mon 09:00 EST = 14:00Z + 1 h.
    assert_adds(
        &cal,
        "2026-10-30T20:00:00Z",
        hours(2),
        "2026-11-02T15:00:00Z",
    );
}

#[test]
fn a_24_7_calendar_counts_real_elapsed_time() {
    let cal = calendar("Europe/Berlin", ALL_DAYS, ("00:00", "24:00"), &[]);
    assert_eq!(cal.working_day(), hours(24));
    for from in [
        "2026-03-28T11:00:00Z",
        "2026-10-24T23:30:00Z",
        "2026-12-31T23:00:00Z",
    ] {
        assert!(cal.is_open(at(from)));
        assert_eq!(
            cal.add_business_time(at(from), hours(24)),
            at(from) + hours(24)
        );
        assert_eq!(
            cal.add_business_time(at(from), hours(100)),
            at(from) + hours(100)
        );
    }
    // The local days of the changes are 23 and 25 hours long.
    let spring = cal.business_time_between(at("2026-03-28T23:00:00Z"), at("2026-03-29T22:00:00Z"));
    assert_eq!(spring, hours(23));
    let autumn = cal.business_time_between(at("2026-10-24T22:00:00Z"), at("2026-10-25T23:00:00Z"));
    assert_eq!(autumn, hours(25));
}

#[test]
fn an_opening_in_the_skipped_hour_opens_at_the_jump() {
    // 02:30 does not exist in Berlin on 2026-03-29: the window opens at 03:00 CEST = 01:00Z
    // and closes at 05:00 CEST = 03:00Z, two hours instead of two and a half.
    let cal = calendar("Europe/Berlin", ALL_DAYS, ("02:30", "05:00"), &[]);
    assert_adds(
        &cal,
        "2026-03-29T00:00:00Z",
        hours(1),
        "2026-03-29T02:00:00Z",
    );
    let day = cal.business_time_between(at("2026-03-29T00:00:00Z"), at("2026-03-29T12:00:00Z"));
    assert_eq!(day, hours(2));
    assert!(!cal.is_open(at("2026-03-29T00:59:59Z")));
    assert!(cal.is_open(at("2026-03-29T01:00:00Z")));
}

#[test]
fn an_opening_in_the_repeated_hour_opens_at_its_first_occurrence() {
    // 02:30 happens twice in Berlin on 2026-10-25; the first is 02:30 CEST = 00:30Z. Closing
    // at 05:00 CET = 04:00Z makes a window of three and a half hours.
    let cal = calendar("Europe/Berlin", ALL_DAYS, ("02:30", "05:00"), &[]);
    assert_adds(
        &cal,
        "2026-10-25T00:00:00Z",
        hours(1),
        "2026-10-25T01:30:00Z",
    );
    let day = cal.business_time_between(at("2026-10-25T00:00:00Z"), at("2026-10-25T12:00:00Z"));
    assert_eq!(day, TimeDelta::minutes(210));
}

#[test]
fn a_window_wholly_in_the_skipped_hour_is_empty_that_day() {
    let cal = calendar("Europe/Berlin", ALL_DAYS, ("02:15", "02:45"), &[]);
    // Sat 28th's window (01:15Z–01:45Z) is over, Sun 29th has none, Mon 30th opens at
    // 02:15 CEST = 00:15Z.
    let due = TimeDelta::minutes(10);
    assert_adds(&cal, "2026-03-28T12:00:00Z", due, "2026-03-30T00:25:00Z");
}

#[test]
fn a_closing_in_the_repeated_hour_closes_at_its_first_occurrence() {
    // 00:00–02:30 on 2026-10-25: from 22:00Z the day before to 02:30 CEST = 00:30Z.
    let cal = calendar("Europe/Berlin", ALL_DAYS, ("00:00", "02:30"), &[]);
    let day = cal.business_time_between(at("2026-10-24T12:00:00Z"), at("2026-10-25T12:00:00Z"));
    assert_eq!(day, TimeDelta::minutes(150));
}

#[test]
fn clocks_changing_at_midnight_lengthen_or_shorten_the_day_before() {
    // Santiago falls back from Sunday 00:00 (-03) to Saturday 23:00 (-04) at 2026-04-05T03:00Z
    // and springs forward from Sunday 00:00 (-04) to 01:00 (-03) at 2026-09-06T04:00Z.
    let cal = calendar("America/Santiago", &["sat", "sun"], ("00:00", "24:00"), &[]);
    let weekend = |from, to| cal.business_time_between(at(from), at(to));
    assert_eq!(
        weekend("2026-04-03T00:00:00Z", "2026-04-07T00:00:00Z"),
        hours(49)
    );
    assert_eq!(
        weekend("2026-09-04T00:00:00Z", "2026-09-08T00:00:00Z"),
        hours(47)
    );
    // The repeated hour is still Saturday: open.
    assert!(cal.is_open(at("2026-04-05T03:30:00Z")));
    // Saturday opens at 04:00Z, Sunday at the jump, 04:00Z the next day.
    assert_adds(
        &cal,
        "2026-09-04T12:00:00Z",
        hours(30),
        "2026-09-06T10:00:00Z",
    );
    assert!(!cal.is_open(at("2026-09-07T03:00:00Z")));
}

#[test]
fn a_half_hour_dst_shift_is_handled_too() {
    // Lord Howe Island moves from +10:30 to +11:00 at 02:00 local on 2026-10-04.
    let cal = calendar("Australia/Lord_Howe", ALL_DAYS, ("01:00", "03:00"), &[]);
    let day = cal.business_time_between(at("2026-10-03T12:00:00Z"), at("2026-10-04T12:00:00Z"));
    assert_eq!(day, TimeDelta::minutes(90));
}
