//! The handoff SLA clock (DESIGN §2): acknowledge within N business hours, disposition within
//! N business days, escalate after N wall-clock hours. `[sla]` in `config/rules.toml`
//! deserialises into [`SlaRules`]; [`BusinessCalendar`] does the business-hours arithmetic.
//!
//! Pure like the rest of the engine: the caller passes the instant the clock starts at.

mod calendar;

use std::{fmt, str::FromStr};

use chrono::{DateTime, NaiveDate, TimeDelta, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer, Serialize, de::Error as _};

use super::rules::{RuleError, problem};

pub use calendar::BusinessCalendar;

/// `[sla]`: business hours and the three SLA durations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaRules {
    /// The zone whose wall clock the business hours and holidays are read in.
    pub time_zone: Zone,
    /// Days with business hours (`mon` … `sun`).
    #[serde(
        deserialize_with = "working_days",
        serialize_with = "working_day_names"
    )]
    pub working_days: Vec<Weekday>,
    /// Local opening time on each working day.
    pub day_start: TimeOfDay,
    /// Local closing time (exclusive); `24:00` is the end of the day.
    pub day_end: TimeOfDay,
    /// Local dates without business hours, whatever the weekday.
    #[serde(deserialize_with = "holidays")]
    pub holidays: Vec<NaiveDate>,
    /// Acknowledge within this many business hours of assignment.
    pub ack_business_hours: u32,
    /// Accept or reject within this many business days of assignment
    /// (see [`BusinessCalendar::add_business_days`]).
    pub disposition_business_days: u32,
    /// Escalate to the sales manager this many wall-clock hours after assignment.
    pub escalate_after_hours: u32,
}

/// Upper bounds: about a year each, past any sensible SLA, which keeps the day-by-day
/// arithmetic short and far from `DateTime`'s range.
const MAX_ACK_BUSINESS_HOURS: u32 = 2_000;
const MAX_DISPOSITION_BUSINESS_DAYS: u32 = 250;
const MAX_ESCALATE_AFTER_HOURS: u32 = 8_760;

impl SlaRules {
    /// Checks what the types cannot: non-empty working days, opening before closing, no day
    /// listed twice (a repeated holiday usually means another date was meant), durations in range.
    pub(super) fn validate(&self) -> Result<(), RuleError> {
        if self.working_days.is_empty() {
            return Err(problem("sla.working_days", "needs at least one day"));
        }
        for (i, day) in self.working_days.iter().enumerate() {
            if self.working_days[..i].contains(day) {
                return Err(problem(
                    &format!("sla.working_days[{i}]"),
                    format!("{} is listed twice", weekday_name(*day)),
                ));
            }
        }
        if self.day_start >= self.day_end {
            return Err(problem(
                "sla.day_end",
                format!(
                    "must be after sla.day_start ({}), got {}",
                    self.day_start, self.day_end
                ),
            ));
        }
        for (i, day) in self.holidays.iter().enumerate() {
            if self.holidays[..i].contains(day) {
                return Err(problem(
                    &format!("sla.holidays[{i}]"),
                    format!("{day} is listed twice"),
                ));
            }
        }
        for (key, value, max) in [
            (
                "sla.ack_business_hours",
                self.ack_business_hours,
                MAX_ACK_BUSINESS_HOURS,
            ),
            (
                "sla.disposition_business_days",
                self.disposition_business_days,
                MAX_DISPOSITION_BUSINESS_DAYS,
            ),
            (
                "sla.escalate_after_hours",
                self.escalate_after_hours,
                MAX_ESCALATE_AFTER_HOURS,
            ),
        ] {
            if !(1..=max).contains(&value) {
                return Err(problem(key, format!("must be 1 to {max}, got {value}")));
            }
        }
        Ok(())
    }
}

/// When each SLA step of one assignment falls due.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaDeadlines {
    /// The rep must acknowledge by then (`ack_business_hours` of business time).
    pub ack_due: DateTime<Utc>,
    /// The rep must accept or reject by then (`disposition_business_days`).
    pub disposition_due: DateTime<Utc>,
    /// Still untouched by then, the MQL goes to the rep's sales manager (wall clock).
    pub escalate_at: DateTime<Utc>,
}

/// The deadlines of an MQL assigned to its owner at `assigned_at`.
///
/// The business clocks start at assignment; assigned outside business hours, they start at the
/// next opening. Escalation counts wall-clock hours, nights and weekends included, so a lead
/// is never left alone for more than `escalate_after_hours` of real time.
pub fn deadlines(rules: &SlaRules, assigned_at: DateTime<Utc>) -> SlaDeadlines {
    let calendar = BusinessCalendar::new(rules);
    SlaDeadlines {
        ack_due: calendar.add_business_time(
            assigned_at,
            TimeDelta::hours(i64::from(rules.ack_business_hours)),
        ),
        disposition_due: calendar.add_business_days(assigned_at, rules.disposition_business_days),
        escalate_at: assigned_at + TimeDelta::hours(i64::from(rules.escalate_after_hours)),
    }
}

/// An IANA time zone (`"UTC"`, `"Europe/Berlin"`), from the tz database that ships with
/// `chrono-tz`: DST rules change by decree, so they are data, not code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Zone(pub Tz);

impl FromStr for Zone {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        name.parse::<Tz>().map(Zone).map_err(|_| {
            format!(
                "unknown time zone {name:?} (use an IANA name such as \"UTC\" or \"Europe/Berlin\")"
            )
        })
    }
}

impl TryFrom<String> for Zone {
    type Error = String;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        name.parse()
    }
}

impl From<Zone> for String {
    fn from(zone: Zone) -> Self {
        zone.0.name().to_owned()
    }
}

/// A local wall-clock time of day with minute precision, written `HH:MM`. `24:00` is the end
/// of the day, so a calendar open around the clock is `00:00`–`24:00`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TimeOfDay {
    /// Minutes since midnight, `0..=1440`.
    minutes: u16,
}

impl TimeOfDay {
    /// Midnight at the start of the day.
    pub const MIDNIGHT: Self = Self { minutes: 0 };
    /// `24:00`, midnight at the end of the day.
    pub const END_OF_DAY: Self = Self { minutes: 24 * 60 };

    /// `hour:minute`, or `None` past `24:00`.
    pub fn new(hour: u16, minute: u16) -> Option<Self> {
        let minutes = hour.checked_mul(60)?.checked_add(minute)?;
        (minute < 60 && minutes <= 24 * 60).then_some(Self { minutes })
    }

    /// Minutes since midnight (`1440` for `24:00`).
    pub fn minutes_since_midnight(self) -> u16 {
        self.minutes
    }
}

impl FromStr for TimeOfDay {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let parsed = text.split_once(':').and_then(|(hour, minute)| {
            let digits = |s: &str, lengths: &[usize]| {
                lengths.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
            };
            if !digits(hour, &[1, 2]) || !digits(minute, &[2]) {
                return None;
            }
            Self::new(hour.parse().ok()?, minute.parse().ok()?)
        });
        parsed.ok_or_else(|| format!("{text:?} is not a time of day (HH:MM, 00:00 to 24:00)"))
    }
}

impl TryFrom<String> for TimeOfDay {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<TimeOfDay> for String {
    fn from(time: TimeOfDay) -> Self {
        time.to_string()
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.minutes / 60, self.minutes % 60)
    }
}

/// The names the config uses, which are also what `chrono` prints, lower-cased.
fn weekday_name(day: Weekday) -> String {
    day.to_string().to_lowercase()
}

/// A list of strings parsed one by one, so that the error names the element at fault
/// (`sla.holidays[2]`); figment then adds the file.
fn parsed_list<'de, D, T>(
    deserializer: D,
    key: &str,
    parse: impl Fn(&str) -> Option<T>,
    expected: &str,
) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
{
    let raw = Vec::<String>::deserialize(deserializer)?;
    raw.iter()
        .enumerate()
        .map(|(i, text)| {
            parse(text).ok_or_else(|| {
                D::Error::custom(format!("sla.{key}[{i}]: {text:?} is not {expected}"))
            })
        })
        .collect()
}

fn working_days<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Weekday>, D::Error> {
    parsed_list(
        deserializer,
        "working_days",
        |text| {
            let day = text.parse::<Weekday>().ok()?;
            // chrono also takes "Monday" or "MON"; the file stays in one spelling.
            (weekday_name(day) == text).then_some(day)
        },
        "a weekday (mon, tue, wed, thu, fri, sat, sun)",
    )
}

/// Written back in the file's spelling, so serialised rules load again.
fn working_day_names<S: serde::Serializer>(
    days: &[Weekday],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(days.iter().map(|day| weekday_name(*day)))
}

fn holidays<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<NaiveDate>, D::Error> {
    parsed_list(
        deserializer,
        "holidays",
        |text| {
            // `%Y-%m-%d` alone also takes "2026-1-5"; insisting on the length keeps one spelling.
            (text.len() == 10)
                .then(|| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
                .flatten()
        },
        "a calendar date (YYYY-MM-DD)",
    )
}

#[cfg(test)]
mod tests;
