//! What an attempt's answer means for its delivery: delivered, retried when, or given up.
//! Pure, so the schedule is tested to the second.

use chrono::{DateTime, Duration, Utc};

use crate::db::deliveries::Outcome;

/// Waits before the 2nd, 3rd, ... 8th attempt, after a failure (the first is immediate): the
/// Standard Webhooks / Svix schedule, about 28 hours in all.
pub const RETRY_DELAYS_SECS: [i64; 7] =
    [5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600];

/// Each wait is the schedule's ± this fraction, so receivers that failed together do not
/// get their retries all at once.
pub const JITTER: f64 = 0.2;

/// A `Retry-After` longer than this is taken as this.
pub const RETRY_AFTER_CAP_SECS: i64 = 10 * 3600;

/// How an attempt went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The receiver's status; `None` when it did not answer.
    pub status: Option<u16>,
    /// A `Retry-After` (in seconds) on a 429 or 503.
    pub retry_after: Option<Duration>,
}

/// The outcome of the attempt after `attempts_before` others that got `answer` at
/// `finished_at`; `jitter` in `[-1, 1]` picks the point within the schedule's ± 20 %.
pub fn outcome(
    answer: &Answer,
    attempts_before: i32,
    finished_at: DateTime<Utc>,
    jitter: f64,
) -> Outcome {
    match answer.status {
        Some(200..=299) => return Outcome::Delivered,
        Some(410) => return Outcome::Gone,
        _ => {}
    }
    let Some(delay) = retry_delay(attempts_before, jitter) else {
        return Outcome::Dead;
    };
    let asked = answer
        .retry_after
        .filter(|_| matches!(answer.status, Some(429 | 503)))
        .map(|asked| asked.min(Duration::seconds(RETRY_AFTER_CAP_SECS)));
    Outcome::Retry {
        at: finished_at + asked.map_or(delay, |asked| asked.max(delay)),
    }
}

/// The wait after the failure of the attempt that followed `attempts_before` others, or `None`
/// when it was the last of the schedule.
pub fn retry_delay(attempts_before: i32, jitter: f64) -> Option<Duration> {
    let secs = *RETRY_DELAYS_SECS.get(usize::try_from(attempts_before).ok()?)?;
    let factor = 1.0 + JITTER * jitter.clamp(-1.0, 1.0);
    let millis = (secs as f64 * 1000.0 * factor).round() as i64;
    Some(Duration::milliseconds(millis))
}

/// A `Retry-After` header's delay, when it is in seconds (an HTTP date is not honoured).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value
        .trim()
        .parse::<u32>()
        .ok()
        .map(|secs| Duration::seconds(secs.into()))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap()
    }

    fn answer(status: Option<u16>) -> Answer {
        Answer {
            status,
            retry_after: None,
        }
    }

    #[test]
    fn any_2xx_delivers_and_410_is_gone() {
        for status in [200, 201, 204, 299] {
            assert_eq!(
                outcome(&answer(Some(status)), 0, at(), 0.0),
                Outcome::Delivered
            );
        }
        assert_eq!(outcome(&answer(Some(410)), 3, at(), 0.0), Outcome::Gone);
    }

    #[test]
    fn failures_follow_the_schedule_then_die() {
        for status in [
            None,
            Some(301),
            Some(400),
            Some(404),
            Some(429),
            Some(500),
            Some(503),
        ] {
            let expected = [5, 300, 1800, 7200, 18_000, 36_000, 36_000];
            for (before, secs) in expected.into_iter().enumerate() {
                let before = i32::try_from(before).unwrap();
                assert_eq!(
                    outcome(&answer(status), before, at(), 0.0),
                    Outcome::Retry {
                        at: at() + Duration::seconds(secs)
                    },
                    "{status:?} after {before}"
                );
            }
            assert_eq!(outcome(&answer(status), 7, at(), 0.0), Outcome::Dead);
        }
    }

    #[test]
    fn jitter_moves_a_wait_by_at_most_a_fifth() {
        assert_eq!(retry_delay(0, -1.0), Some(Duration::seconds(4)));
        assert_eq!(retry_delay(0, 1.0), Some(Duration::seconds(6)));
        assert_eq!(retry_delay(1, 0.5), Some(Duration::seconds(330)));
        assert_eq!(retry_delay(6, 7.0), Some(Duration::seconds(43_200)));
        assert_eq!(retry_delay(7, 0.0), None);
        assert_eq!(retry_delay(-1, 0.0), None);
    }

    #[test]
    fn retry_after_is_honoured_when_later_than_the_schedule_and_capped() {
        let asked = |status, secs| Answer {
            status: Some(status),
            retry_after: Some(Duration::seconds(secs)),
        };
        let retry = |secs| Outcome::Retry {
            at: at() + Duration::seconds(secs),
        };
        assert_eq!(outcome(&asked(429, 120), 0, at(), 0.0), retry(120));
        assert_eq!(outcome(&asked(503, 120), 0, at(), 0.0), retry(120));
        // Sooner than the schedule: the schedule wins.
        assert_eq!(outcome(&asked(429, 60), 1, at(), 0.0), retry(300));
        assert_eq!(outcome(&asked(429, 86_400), 0, at(), 0.0), retry(36_000));
        // Only 429 and 503 ask to wait.
        assert_eq!(outcome(&asked(500, 120), 0, at(), 0.0), retry(5));
        // The schedule still ends.
        assert_eq!(outcome(&asked(429, 120), 7, at(), 0.0), Outcome::Dead);
    }

    #[test]
    fn retry_after_is_read_in_seconds_only() {
        assert_eq!(parse_retry_after(" 120 "), Some(Duration::seconds(120)));
        assert_eq!(parse_retry_after("0"), Some(Duration::zero()));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2026 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-5"), None);
    }
}
