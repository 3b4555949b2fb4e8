//! The times a Marketo payload template renders: `{{system.dateTime}}` and DateTime lead
//! fields as `yyyy-MM-dd HH:mm:ss` in the subscription's time zone (no offset), Date fields as
//! `yyyy-MM-dd`, and whatever a user's own field holds, often ISO 8601 with an offset.

use chrono::{
    DateTime, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, SubsecRound, TimeZone,
    Utc,
};
use chrono_tz::Tz;

/// Local date-times without an offset, as Marketo renders them (`T` too, as users write them).
const LOCAL: [&str; 2] = ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"];
/// Offsets written without a colon (`+0100`), which RFC 3339 does not allow.
const OFFSET: [&str; 2] = ["%Y-%m-%d %H:%M:%S%.f%z", "%Y-%m-%dT%H:%M:%S%.f%z"];

/// The instant `at` names: with an offset (RFC 3339, `Z`, `+01:00` or `+0100`) as written;
/// without one (`2026-11-20 06:00:00`, `2026-11-20`, midnight) in `zone`, which must then be
/// set. Kept to the microsecond PostgreSQL stores.
pub(super) fn parse(at: &str, zone: Option<Tz>) -> Result<DateTime<Utc>, String> {
    let at = at.trim();
    let with_offset = DateTime::parse_from_rfc3339(at).ok().or_else(|| {
        OFFSET
            .iter()
            .find_map(|format| DateTime::<FixedOffset>::parse_from_str(at, format).ok())
    });
    if let Some(instant) = with_offset {
        return Ok(instant.with_timezone(&Utc).trunc_subsecs(6));
    }
    let local = LOCAL
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(at, format).ok())
        .or_else(|| {
            NaiveDate::parse_from_str(at, "%Y-%m-%d")
                .ok()
                .map(|day| day.and_time(NaiveTime::MIN))
        })
        .ok_or_else(|| {
            format!(
                "{at:?} is not a time Marketo renders: yyyy-MM-dd HH:mm:ss (as {{{{system.dateTime}}}}), \
                 yyyy-MM-dd, or ISO 8601 with an offset"
            )
        })?;
    let zone = zone
        .ok_or_else(|| format!("{at:?} has no offset and sources.marketo.time_zone is not set"))?;
    match zone.from_local_datetime(&local) {
        LocalResult::Single(instant) => Ok(instant.with_timezone(&Utc).trunc_subsecs(6)),
        // The hour a fall-back transition repeats: the earlier of the two readings.
        LocalResult::Ambiguous(earlier, _) => Ok(earlier.with_timezone(&Utc).trunc_subsecs(6)),
        LocalResult::None => Err(format!(
            "{at:?} does not exist in {} (the clocks skipped it)",
            zone.name()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(at: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(at)
            .unwrap()
            .with_timezone(&Utc)
    }

    const CHICAGO: Option<Tz> = Some(chrono_tz::America::Chicago);

    #[test]
    fn system_date_time_is_read_in_the_configured_zone() {
        // Central Standard Time in November (UTC-6), Central Daylight Time in July (UTC-5).
        assert_eq!(
            parse("2026-11-20 06:00:00", CHICAGO),
            Ok(utc("2026-11-20T12:00:00Z"))
        );
        assert_eq!(
            parse("2026-07-01 06:00:00", CHICAGO),
            Ok(utc("2026-07-01T11:00:00Z"))
        );
        assert_eq!(
            parse("2026-11-20T06:00:00", CHICAGO),
            Ok(utc("2026-11-20T12:00:00Z"))
        );
        assert_eq!(
            parse(" 2026-11-20 06:00:00.250 ", CHICAGO),
            Ok(utc("2026-11-20T12:00:00.250Z"))
        );
        assert_eq!(
            parse("2026-11-20 06:00:00", Some(chrono_tz::UTC)),
            Ok(utc("2026-11-20T06:00:00Z"))
        );
    }

    #[test]
    fn a_date_is_midnight_in_the_configured_zone() {
        assert_eq!(
            parse("2026-11-20", CHICAGO),
            Ok(utc("2026-11-20T06:00:00Z"))
        );
    }

    #[test]
    fn an_offset_wins_over_the_configured_zone() {
        for at in [
            "2026-11-20T12:00:00Z",
            "2026-11-20T13:00:00+01:00",
            "2026-11-20 13:00:00+01:00",
            "2026-11-20T13:00:00+0100",
            "2026-11-20T07:00:00.000-05:00",
        ] {
            assert_eq!(parse(at, CHICAGO), Ok(utc("2026-11-20T12:00:00Z")), "{at}");
            assert_eq!(parse(at, None), Ok(utc("2026-11-20T12:00:00Z")), "{at}");
        }
    }

    #[test]
    fn the_repeated_hour_is_the_earlier_instant_and_the_skipped_hour_is_refused() {
        // 2026-11-01: Chicago's clocks go back from 02:00 CDT to 01:00 CST.
        assert_eq!(
            parse("2026-11-01 01:30:00", CHICAGO),
            Ok(utc("2026-11-01T06:30:00Z"))
        );
        // 2026-03-08: from 02:00 CST straight to 03:00 CDT.
        let skipped = parse("2026-03-08 02:30:00", CHICAGO).unwrap_err();
        assert!(skipped.contains("America/Chicago"), "{skipped}");
    }

    #[test]
    fn what_is_not_a_marketo_time_is_refused() {
        for at in [
            "",
            "Nov 20, 2026",
            "2026-11-20 25:00:00",
            "20/11/2026",
            "06:00:00",
        ] {
            assert!(parse(at, CHICAGO).is_err(), "{at:?}");
        }
        let no_zone = parse("2026-11-20 06:00:00", None).unwrap_err();
        assert!(no_zone.contains("time_zone"), "{no_zone}");
    }
}
