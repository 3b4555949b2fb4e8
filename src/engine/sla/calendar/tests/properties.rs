//! Invariants of business-time addition over calendars chosen to hit the awkward cases:
//! holidays, DST changes outside and inside the windows, a half-hour DST shift, 24/7.

use chrono::{DateTime, TimeDelta, Utc};
use proptest::prelude::*;

use super::{ALL_DAYS, BusinessCalendar, WEEKDAYS, at, calendar};

fn calendars() -> Vec<BusinessCalendar> {
    let holidays = [
        "2026-01-01",
        "2026-04-03",
        "2026-04-06",
        "2026-12-24",
        "2026-12-25",
    ];
    vec![
        calendar("UTC", WEEKDAYS, ("09:00", "17:00"), &holidays),
        calendar("Europe/Berlin", WEEKDAYS, ("09:00", "17:00"), &holidays),
        calendar("America/New_York", WEEKDAYS, ("08:30", "18:00"), &[]),
        calendar("Europe/Berlin", ALL_DAYS, ("00:00", "24:00"), &[]),
        // Windows that start, end or lie inside the skipped and repeated hours.
        calendar("Europe/Berlin", ALL_DAYS, ("02:30", "05:00"), &[]),
        calendar("Europe/Berlin", &["sun"], ("02:15", "02:45"), &holidays),
        calendar("Europe/Berlin", ALL_DAYS, ("00:00", "02:30"), &[]),
        calendar("Australia/Lord_Howe", ALL_DAYS, ("01:00", "03:00"), &[]),
        // Clocks that change at midnight.
        calendar(
            "America/Santiago",
            &["sat", "sun"],
            ("00:00", "24:00"),
            &holidays,
        ),
        calendar("America/Santiago", ALL_DAYS, ("00:00", "08:00"), &[]),
    ]
}

fn which() -> impl Strategy<Value = usize> {
    0..calendars().len()
}

/// Instants across 2025 to 2027, so every calendar meets both DST changes several times.
fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    let start = at("2025-01-01T00:00:00Z");
    let span = (at("2028-01-01T00:00:00Z") - start).num_seconds();
    (0..span).prop_map(move |s| start + TimeDelta::seconds(s))
}

/// Up to 300 hours, to the second.
fn amount() -> impl Strategy<Value = TimeDelta> {
    (0i64..300 * 3600).prop_map(TimeDelta::seconds)
}

proptest! {
    #[test]
    fn the_result_is_never_before_the_start(c in which(), from in instant(), a in amount()) {
        let cal = &calendars()[c];
        prop_assert!(cal.add_business_time(from, a) >= from);
    }

    /// Holds from any start, open or closed: the result is the *earliest* instant with enough
    /// business time, so a first step that ends at a closing time loses nothing.
    #[test]
    fn adding_in_two_steps_equals_adding_once(
        c in which(), from in instant(), a in amount(), b in amount(),
    ) {
        let cal = &calendars()[c];
        let stepwise = cal.add_business_time(cal.add_business_time(from, a), b);
        prop_assert_eq!(stepwise, cal.add_business_time(from, a + b));
    }

    /// Inside a window or exactly at its closing: the instant just before is open.
    #[test]
    fn a_positive_amount_ends_in_business_hours_or_at_a_closing(
        c in which(), from in instant(), a in amount(),
    ) {
        prop_assume!(a > TimeDelta::zero());
        let cal = &calendars()[c];
        let due = cal.add_business_time(from, a);
        prop_assert!(cal.is_open(due - TimeDelta::nanoseconds(1)), "{due}");
    }

    #[test]
    fn exactly_the_amount_of_business_time_elapses(
        c in which(), from in instant(), a in amount(),
    ) {
        let cal = &calendars()[c];
        let due = cal.add_business_time(from, a);
        prop_assert_eq!(cal.business_time_between(from, due), a);
    }

    #[test]
    fn a_later_start_is_never_due_earlier(
        c in which(), from in instant(), later in 0i64..400_000, a in amount(),
    ) {
        let cal = &calendars()[c];
        let second = from + TimeDelta::seconds(later);
        prop_assert!(cal.add_business_time(from, a) <= cal.add_business_time(second, a));
    }

    #[test]
    fn business_days_are_working_days_of_business_time(
        c in which(), from in instant(), days in 0u32..10,
    ) {
        let cal = &calendars()[c];
        let amount = cal.working_day() * days as i32;
        prop_assert_eq!(cal.add_business_days(from, days), cal.add_business_time(from, amount));
    }

    #[test]
    fn around_the_clock_business_time_is_real_time(
        zone in prop::sample::select(&["UTC", "Europe/Berlin", "America/Santiago", "Australia/Lord_Howe"][..]),
        from in instant(),
        a in amount(),
    ) {
        let cal = calendar(zone, ALL_DAYS, ("00:00", "24:00"), &[]);
        prop_assert_eq!(cal.add_business_time(from, a), from + a);
        prop_assert!(cal.is_open(from));
    }
}
