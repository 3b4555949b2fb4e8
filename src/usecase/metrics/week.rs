//! ISO weeks (UTC), the unit of the weekly views and of the governance cadence.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};

use super::period::{Period, midnight};
use crate::error::ApiError;

/// An ISO week, `2026-W47`, and its Monday.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Week {
    pub monday: NaiveDate,
}

impl Week {
    /// The week holding `at` (UTC).
    pub fn of(at: DateTime<Utc>) -> Self {
        let day = at.date_naive();
        Week {
            monday: day - Duration::days(i64::from(day.weekday().num_days_from_monday())),
        }
    }

    /// `2026-W47`; a 422 naming `week` otherwise.
    pub fn parse(text: &str) -> Result<Self, ApiError> {
        let wrong = || {
            ApiError::field(
                "week",
                format!("{text:?} is not an ISO week such as 2026-W47"),
            )
        };
        let (year, week) = text.trim().split_once("-W").ok_or_else(wrong)?;
        let (year, week) = (
            year.parse().map_err(|_| wrong())?,
            week.parse().map_err(|_| wrong())?,
        );
        NaiveDate::from_isoywd_opt(year, week, Weekday::Mon)
            .map(|monday| Week { monday })
            .ok_or_else(wrong)
    }

    /// The week before.
    pub fn previous(self) -> Self {
        Week {
            monday: self.monday - Duration::weeks(1),
        }
    }

    /// The week after.
    pub fn next(self) -> Self {
        Week {
            monday: self.monday + Duration::weeks(1),
        }
    }

    /// Its Monday 00:00 UTC.
    pub fn start(self) -> DateTime<Utc> {
        midnight(self.monday)
    }

    /// Monday 00:00 to the next Monday 00:00.
    pub fn period(self) -> Period {
        Period {
            from: self.start(),
            to: self.start() + Duration::weeks(1),
        }
    }

    /// `2026-W47`.
    pub fn key(self) -> String {
        let iso = self.monday.iso_week();
        format!("{}-W{:02}", iso.year(), iso.week())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weeks_parse_and_name_themselves_as_iso_weeks() {
        let week = Week::parse("2026-W47").unwrap();
        assert_eq!(week.monday, NaiveDate::from_ymd_opt(2026, 11, 16).unwrap());
        assert_eq!(week.key(), "2026-W47");
        assert_eq!(week.previous().key(), "2026-W46");
        assert_eq!(Week::of("2026-11-22T23:59:59Z".parse().unwrap()), week);
        // ISO week 1 of 2027 starts on Monday 2027-01-04; 2026 has 53 weeks.
        assert_eq!(
            Week::parse("2027-W01").unwrap().previous().key(),
            "2026-W53"
        );
        for bad in ["2026-47", "2026-W54", "W47", "2026-Wxx", ""] {
            assert!(Week::parse(bad).is_err(), "{bad:?}");
        }
    }
}
