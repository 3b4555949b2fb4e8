//! Business-hours arithmetic in a time zone, DST included.
//!
//! Business time is a sequence of windows, one per open day: `[day_start, day_end)` in local
//! wall time on a working day that is not a holiday. Each wall time is mapped to the **first
//! instant at which the local clock shows that time or later**:
//! - an ordinary time maps to its one instant;
//! - a time that occurs twice (the repeated hour when clocks fall back) maps to its first
//!   occurrence, the earliest valid instant;
//! - a time that never occurs (the skipped hour when clocks spring forward, e.g. 02:30 in
//!   Europe/Berlin on 2026-03-29) maps to the moment of the jump (03:00 CEST = 01:00Z), the
//!   earliest instant at which the clock has passed it.
//!
//! This mapping never goes backwards as the wall time advances, so windows stay ordered and
//! never overlap: a window spanning a transition is an hour shorter or longer in real time,
//! and one lying wholly in a skipped hour is empty. `24:00` maps like the next day's `00:00`,
//! so a `00:00`–`24:00` calendar is open around the clock without a gap at midnight.
//!
//! The window of date `d` ends by the first instant the clock shows `d + 1`, so no window of
//! a date before instant `t`'s local date can contain `t` or lie after it: scans start at that
//! date. Where a clock falls back from after midnight to before it, the *next* date's window
//! can already have opened at `t`, so lookups include it.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

use super::{SlaRules, TimeOfDay};

/// Working days, business hours and holidays in one zone: answers "when has this much business
/// time elapsed?".
#[derive(Clone, Debug)]
pub struct BusinessCalendar {
    zone: Tz,
    /// Indexed by `Weekday::num_days_from_monday`.
    working: [bool; 7],
    start: TimeOfDay,
    end: TimeOfDay,
    holidays: BTreeSet<NaiveDate>,
}

/// Longest skipped stretch of wall time we step over: tz data's longest gap is a whole day
/// (Samoa, 2011-12-30); two days leaves a margin.
const MAX_GAP_MINUTES: u32 = 2 * 24 * 60;

impl BusinessCalendar {
    /// The calendar of `[sla]`. Rules that passed validation always have business time; for
    /// rules that have none (no working day, opening not before closing) the arithmetic
    /// answers "never" ([`DateTime::<Utc>::MAX_UTC`]) instead of looping.
    pub fn new(rules: &SlaRules) -> Self {
        let mut working = [false; 7];
        for day in &rules.working_days {
            working[day.num_days_from_monday() as usize] = true;
        }
        Self {
            zone: rules.time_zone.0,
            working,
            start: rules.day_start,
            end: rules.day_end,
            holidays: rules.holidays.iter().copied().collect(),
        }
    }

    /// The length of one working day of business time in wall-clock terms (`day_end -
    /// day_start`, 8 hours for 09:00–17:00), the unit of [`Self::add_business_days`].
    pub fn working_day(&self) -> TimeDelta {
        let minutes = i64::from(self.end.minutes_since_midnight())
            - i64::from(self.start.minutes_since_midnight());
        TimeDelta::minutes(minutes.max(0))
    }

    /// The earliest instant by which `amount` of business time has elapsed since `from`.
    ///
    /// From outside business hours the clock starts at the next opening. A positive amount
    /// therefore ends inside a window or exactly at a closing time (4 hours from 13:00 with
    /// 09:00–17:00 is 17:00 that day, not 09:00 the next working day). A zero or negative
    /// amount is `from` itself. Adding `a` then `b` equals adding `a + b`, from any instant.
    pub fn add_business_time(&self, from: DateTime<Utc>, amount: TimeDelta) -> DateTime<Utc> {
        if amount <= TimeDelta::zero() {
            return from;
        }
        let mut remaining = amount;
        let mut day = Some(self.local_date(from));
        let mut closed_days = 0;
        while let Some(date) = day {
            match self.window(date).filter(|(_, close)| *close > from) {
                Some((open, close)) => {
                    let start = open.max(from);
                    let available = close - start;
                    if remaining <= available {
                        return start + remaining;
                    }
                    remaining -= available;
                    closed_days = 0;
                }
                None if closed_days > self.max_closed_days() => break,
                None => closed_days += 1,
            }
            day = date.succ_opt();
        }
        DateTime::<Utc>::MAX_UTC
    }

    /// `days` business days after `from`: `days` × [`Self::working_day`] of business time.
    ///
    /// So with 09:00–17:00 on Monday to Friday, 2 business days from Tuesday 15:00 is Thursday
    /// 15:00, and from Friday 15:00 it is Tuesday 15:00. Counting time rather than dates keeps
    /// the deadline at the same local time of day and makes a day that starts mid-afternoon
    /// cost only its remaining hours. (On a calendar whose hours span a DST change, the day
    /// containing the change still counts its real hours, so the deadline lands an hour off
    /// the starting wall time.)
    pub fn add_business_days(&self, from: DateTime<Utc>, days: u32) -> DateTime<Utc> {
        let amount = i32::try_from(days)
            .ok()
            .and_then(|days| self.working_day().checked_mul(days));
        match amount {
            // Zero-length working days mean no business hours at all: never, as above.
            Some(amount) if amount > TimeDelta::zero() || days == 0 => {
                self.add_business_time(from, amount)
            }
            _ => DateTime::<Utc>::MAX_UTC,
        }
    }

    /// Business time elapsed between `from` and `to` (zero when `to` is not after `from`).
    pub fn business_time_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> TimeDelta {
        let mut total = TimeDelta::zero();
        if to <= from {
            return total;
        }
        let mut day = Some(self.local_date(from));
        let last = self.local_date(to).succ_opt().unwrap_or(NaiveDate::MAX);
        while let Some(date) = day.filter(|d| *d <= last) {
            if let Some((open, close)) = self.window(date) {
                let (start, end) = (open.max(from), close.min(to));
                if start < end {
                    total += end - start;
                }
            }
            day = date.succ_opt();
        }
        total
    }

    /// Whether `at` lies inside business hours (a closing time itself does not).
    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        let date = self.local_date(at);
        [Some(date), date.succ_opt()]
            .into_iter()
            .flatten()
            .filter_map(|d| self.window(d))
            .any(|(open, close)| open <= at && at < close)
    }

    /// `[open, close)` of `date` in UTC, or `None` when the date has no business time.
    fn window(&self, date: NaiveDate) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let working = self.working[date.weekday().num_days_from_monday() as usize];
        if !working || self.holidays.contains(&date) {
            return None;
        }
        let open = self.first_instant(date, self.start)?;
        let close = self.first_instant(date, self.end)?;
        (open < close).then_some((open, close))
    }

    /// The first instant at which the local clock shows `time` on `date`, or later (module doc).
    fn first_instant(&self, date: NaiveDate, time: TimeOfDay) -> Option<DateTime<Utc>> {
        let minutes = i64::from(time.minutes_since_midnight());
        let mut wall = date
            .and_time(NaiveTime::MIN)
            .checked_add_signed(TimeDelta::minutes(minutes))?;
        // Gaps in the tz database start and end on whole minutes, so the first wall minute
        // that exists after a skipped one is the moment the clock jumped.
        for _ in 0..=MAX_GAP_MINUTES {
            if let Some(instant) = self.zone.from_local_datetime(&wall).earliest() {
                return Some(instant.with_timezone(&Utc));
            }
            wall = wall.checked_add_signed(TimeDelta::minutes(1))?;
        }
        None
    }

    fn local_date(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.zone).date_naive()
    }

    /// How many days in a row may have no business time before we conclude there is none ever
    /// (which only rules failing validation reach): a valid calendar has a working day every
    /// week, blocked at most by a holiday or, about twice a year, by a window lying wholly
    /// inside a skipped hour.
    fn max_closed_days(&self) -> usize {
        7 * (self.holidays.len() + 1) + 366
    }
}

#[cfg(test)]
mod tests;
