//! Backtest arithmetic on a hand-made set: 10 closed-won of which 7 cross at the default
//! thresholds (fit 60, intent 40), 10 closed-lost of which 2 do.

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::*;
use crate::{
    domain::{Email, EventType, EventType::*, LeadRecord, Profile, RecordEvent},
    engine::{replay, rules::tests::default_rules},
};

fn day(d: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 9, 1, 10, 0, 0).unwrap() + Duration::days(d)
}

/// A profile worth `fit` under the default rules.
fn worth(fit: i32) -> Profile {
    let p = |title: &str, industry: &str, employees: Option<i64>, revenue: Option<i64>| Profile {
        title: Some(title.into()),
        industry: Some(industry.into()),
        employee_count: employees,
        annual_revenue: revenue,
        country: Some("US".into()),
        ..Profile::default()
    };
    match fit {
        70 => p("VP Marketing", "software", Some(250), Some(50_000_000)),
        60 => p("Head of IT", "fintech", None, Some(20_000_000)),
        55 => p("VP Sales", "software", Some(250), None),
        50 => p("VP Sales", "retail", Some(250), Some(50_000_000)),
        45 => p("Director of Operations", "saas", None, None),
        35 => p("Analyst", "software", None, Some(50_000_000)),
        0 => p("Analyst", "retail", None, None),
        _ => unreachable!("no profile worth {fit}"),
    }
}

fn record(email: &str, fit: i32, events: &[(EventType, i64)]) -> LeadRecord {
    LeadRecord {
        id: None,
        email: Email::parse(email).unwrap(),
        profile: worth(fit),
        account_tier: Some(2),
        events: events
            .iter()
            .map(|(t, d)| RecordEvent {
                event_type: *t,
                occurred_at: day(*d),
                profile: Profile::default(),
            })
            .collect(),
        outcome: None,
    }
}

fn hand_made() -> Vec<(Outcome, LeadRecord)> {
    use Outcome::{ClosedLost as L, ClosedWon as W};
    vec![
        (W, record("ava@northwind.io", 70, &[(DemoRequest, 0)])),
        (
            W,
            record(
                "ben@contoso.io",
                70,
                &[(PricingPageVisit, 0), (ComparisonPageVisit, 3)],
            ),
        ),
        (W, record("cara@fabrikam.io", 60, &[(DemoRequest, 0)])),
        (
            W,
            record(
                "dev@tailspin.io",
                70,
                &[(ComparisonPageVisit, 0), (ComparisonPageVisit, 2)],
            ),
        ),
        (
            W,
            record(
                "eli@wingtip.io",
                70,
                &[(ContentDownload, 0), (DemoRequest, 7)],
            ),
        ),
        (
            W,
            record(
                "fay@litware.io",
                60,
                &[(PricingPageVisit, 0), (ComparisonPageVisit, 10)],
            ),
        ),
        (
            W,
            record(
                "gus@adatum.io",
                70,
                &[(WebinarAttended, 0), (DemoRequest, 30)],
            ),
        ),
        (W, record("hana@proseware.io", 55, &[(DemoRequest, 0)])),
        (W, record("ivan@woodgrove.io", 70, &[(PricingPageVisit, 0)])),
        (W, record("jo@lucerne.io", 45, &[(ContentDownload, 0)])),
        (L, record("kim@alpine.io", 70, &[(DemoRequest, 0)])),
        (
            L,
            record(
                "lea@bluesky.io",
                60,
                &[(PricingPageVisit, 0), (ComparisonPageVisit, 0)],
            ),
        ),
        (L, record("max@coho.io", 35, &[(DemoRequest, 0)])),
        (
            L,
            record("nia@datum.io", 70, &[(OptOut, 0), (DemoRequest, 5)]),
        ),
        (
            L,
            record(
                "omar@fourth.io",
                70,
                &[(PricingPageVisit, 0), (ComparisonPageVisit, 40)],
            ),
        ),
        (
            L,
            record(
                "pia@graphic.io",
                45,
                &[(PricingPageVisit, 0), (ComparisonPageVisit, 1)],
            ),
        ),
        (L, record("quin@rivalcorp.com", 70, &[(DemoRequest, 0)])),
        (L, record("rae@mit.edu", 70, &[(DemoRequest, 0)])),
        (L, record("sol@humongous.io", 50, &[(DemoRequest, 0)])),
        (L, record("tess@margie.io", 0, &[(PageView, 0)])),
    ]
}

fn report(set: &[(Outcome, LeadRecord)], grid: &Grid) -> Report {
    let rules = default_rules();
    let replays: Vec<(Outcome, Replay)> = set
        .iter()
        .map(|(o, r)| (*o, replay(r, &rules, day(100))))
        .collect();
    let pairs: Vec<(Outcome, &Replay)> = replays.iter().map(|(o, r)| (*o, r)).collect();
    backtest(&pairs, &rules.mql, grid, DEFAULT_TARGET)
}

fn cell(report: &Report, fit: i32, intent: f64) -> (Option<f64>, Option<f64>, bool) {
    let c = report
        .sweep
        .iter()
        .find(|c| c.fit == fit && c.intent == intent)
        .unwrap();
    (c.won_share, c.lost_share, c.meets_target)
}

#[test]
fn seven_of_ten_won_and_two_of_ten_lost_cross_at_the_default_thresholds() {
    let r = report(&hand_made(), &Grid::default());
    assert_eq!(
        r.won,
        Capture {
            records: 10,
            crossed: 7,
            share: Some(0.7)
        }
    );
    assert_eq!(
        r.lost,
        Capture {
            records: 10,
            crossed: 2,
            share: Some(0.2)
        }
    );
    assert!(r.meets_target);
    assert_eq!(r.sweep.len(), 81);
    assert!(
        r.hint
            .starts_with("70% of closed-won crossed MQL, meeting the 70% target")
    );
}

#[test]
fn the_sweep_counts_each_threshold_pair() {
    let r = report(&hand_made(), &Grid::default());
    assert_eq!(cell(&r, 60, 40.0), (Some(0.7), Some(0.2), true));
    // hana (fit 55, demo) joins the won; nobody lost is at 55..59.
    assert_eq!(cell(&r, 55, 40.0), (Some(0.8), Some(0.2), true));
    // sol (fit 50, demo) and pia (45, 45) join the lost.
    assert_eq!(cell(&r, 45, 40.0), (Some(0.8), Some(0.4), true));
    // ivan (pricing only, 25) joins the won; kim, lea and omar (32.5 after decay) the lost.
    assert_eq!(cell(&r, 60, 25.0), (Some(0.8), Some(0.3), true));
    // dev (40) and ben, fay (45) drop out at intent 50; kim stays.
    assert_eq!(cell(&r, 60, 50.0), (Some(0.4), Some(0.1), false));
    assert_eq!(cell(&r, 75, 20.0), (Some(0.0), Some(0.0), false));
    let suggested = r.suggested.unwrap();
    assert_eq!((suggested.fit, suggested.intent), (55, 40.0));
}

#[test]
fn a_set_below_target_says_so_and_points_at_the_sweep() {
    let set: Vec<_> = hand_made()
        .into_iter()
        .filter(|(_, r)| !r.email.as_str().starts_with("ava"))
        .collect();
    let r = report(&set, &Grid::default());
    assert_eq!(r.won.share, Some(0.6667));
    assert!(!r.meets_target);
    assert!(
        r.hint
            .starts_with("only 66.7% of closed-won crossed MQL, below the 70% target"),
        "{}",
        r.hint
    );
    assert!(
        r.hint
            .contains("fit ≥ 55 and intent ≥ 40 would capture 77.8%"),
        "{}",
        r.hint
    );
}

#[test]
fn no_records_of_an_outcome_is_no_share_rather_than_nan() {
    let set: Vec<_> = hand_made()
        .into_iter()
        .filter(|(o, _)| *o == Outcome::ClosedLost)
        .collect();
    let r = report(&set, &Grid::default());
    assert_eq!(
        r.won,
        Capture {
            records: 0,
            crossed: 0,
            share: None
        }
    );
    assert!(!r.meets_target);
    assert_eq!(r.suggested, None);
    assert_eq!(
        r.hint,
        "no closed_won records: the capture rate cannot be measured"
    );
    let json = serde_json::to_string(&r).unwrap();
    assert!(!json.contains("NaN"));
}

#[test]
fn axes_and_percentages() {
    assert_eq!(Grid::default().fit, [40, 45, 50, 55, 60, 65, 70, 75, 80]);
    assert_eq!(
        axis(20.0, 30.0, 2.5, false),
        Ok(vec![20.0, 22.5, 25.0, 27.5, 30.0])
    );
    assert_eq!(axis(0.0, 1.0, 0.1, false).unwrap().len(), 11);
    assert_eq!(axis(0.0, 100.0, 1.0, true).unwrap().len(), 101);
    let part = |r: Result<Vec<f64>, AxisError>| r.unwrap_err().part;
    assert_eq!(part(axis(50.0, 40.0, 5.0, false)), "to");
    assert_eq!(part(axis(0.0, 10.0, 0.0, false)), "step");
    assert_eq!(part(axis(0.0, 10.0, -1.0, false)), "step");
    assert_eq!(
        part(axis(0.0, 1_000.0, 1.0, false)),
        "step",
        "more than 101 values"
    );
    assert_eq!(part(axis(0.0, 101.0, 1.0, false)), "step", "102 values");
    assert_eq!(part(axis(f64::NAN, 1.0, 1.0, false)), "from");
    assert_eq!(part(axis(0.0, f64::INFINITY, 1.0, false)), "to");
    assert_eq!(part(axis(0.0, 1.0, f64::NAN, false)), "step");
    assert_eq!(part(axis(0.0, 1e308, 1e-300, false)), "to");
    assert_eq!(
        part(axis(40.0, 80.0, 2.5, true)),
        "step",
        "fit takes whole numbers"
    );
    assert_eq!(percent(0.7), "70%");
    assert_eq!(percent(0.6667), "66.7%");
}

/// A step so small the value count overflows any integer is refused, not an empty sweep.
#[test]
fn a_tiny_step_is_refused_not_wrapped_to_an_empty_axis() {
    let refused = axis(0.0, 1.0, 1e-300, false).unwrap_err();
    assert_eq!(refused.part, "step");
    let refused = axis(0.0, 100_000.0, f64::MIN_POSITIVE, false).unwrap_err();
    assert_eq!(refused.part, "step");
}
