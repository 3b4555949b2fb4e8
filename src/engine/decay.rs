use chrono::{DateTime, Utc};

use super::{Decay, DecayMode};

const SECONDS_PER_DAY: f64 = 86_400.0;

/// The factor intent is multiplied by after inactivity from `since` to `until`.
///
/// Step mode: `0.5^floor(days_inactive / half_life)`, so a score holds its value for the whole
/// half-life and then halves. Continuous mode: `0.5^(days_inactive / half_life)`.
/// No time (or time running backwards) decays nothing.
pub fn decay_factor(decay: &Decay, since: DateTime<Utc>, until: DateTime<Utc>) -> f64 {
    let inactive = (until - since).num_seconds();
    if inactive <= 0 {
        return 1.0;
    }
    let half_life_secs = i64::from(decay.half_life_days) * 86_400;
    match decay.mode {
        DecayMode::Step => {
            let halvings = inactive / half_life_secs;
            0.5_f64.powi(i32::try_from(halvings).unwrap_or(i32::MAX))
        }
        DecayMode::Continuous => {
            0.5_f64.powf(inactive as f64 / SECONDS_PER_DAY / f64::from(decay.half_life_days))
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;

    fn step() -> Decay {
        Decay {
            mode: DecayMode::Step,
            half_life_days: 30,
        }
    }

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap()
    }

    #[test]
    fn step_decay_halves_per_full_thirty_days() {
        let f = |days: i64| decay_factor(&step(), t0(), t0() + Duration::days(days));
        assert_eq!(f(0), 1.0);
        assert_eq!(f(29), 1.0);
        assert_eq!(f(30), 0.5);
        assert_eq!(f(59), 0.5);
        assert_eq!(f(60), 0.25);
        assert_eq!(f(90), 0.125);
    }

    #[test]
    fn step_decay_counts_full_days_only() {
        let almost = t0() + Duration::days(30) - Duration::seconds(1);
        assert_eq!(decay_factor(&step(), t0(), almost), 1.0);
    }

    #[test]
    fn continuous_decay_halves_at_each_half_life_and_in_between() {
        let cont = Decay {
            mode: DecayMode::Continuous,
            half_life_days: 30,
        };
        let f = |days: i64| decay_factor(&cont, t0(), t0() + Duration::days(days));
        assert_eq!(f(30), 0.5);
        assert!((f(15) - 0.5_f64.sqrt()).abs() < 1e-12);
        assert!((f(60) - 0.25).abs() < 1e-12);
    }

    #[test]
    fn time_running_backwards_decays_nothing() {
        assert_eq!(decay_factor(&step(), t0(), t0() - Duration::days(90)), 1.0);
    }

    #[test]
    fn a_very_long_silence_decays_to_zero_without_overflow() {
        let f = decay_factor(&step(), t0(), t0() + Duration::days(365 * 200));
        assert_eq!(f, 0.0);
    }
}
