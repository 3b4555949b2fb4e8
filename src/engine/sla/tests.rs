use chrono::{DateTime, Utc, Weekday};
use figment::{
    Figment,
    providers::{Format, Toml},
};

use super::*;
use crate::engine::{Rules, rules::tests::default_rules};

fn sla() -> SlaRules {
    default_rules().sla
}

fn at(instant: &str) -> DateTime<Utc> {
    instant.parse().unwrap()
}

/// The shipped `config/rules.toml` with one substitution, loaded as the service loads it.
fn load_edited(from: &str, to: &str) -> Result<Rules, String> {
    let shipped = include_str!("../../../config/rules.toml");
    assert!(
        shipped.contains(from),
        "{from:?} is not in the shipped rules"
    );
    Figment::from(Toml::string(&shipped.replacen(from, to, 1)))
        .merge(Toml::string(include_str!("../../../config/nurture.toml")))
        .extract::<Rules>()
        .map_err(|e| e.to_string())
}

#[test]
fn the_shipped_rules_hold_the_design_defaults() {
    let sla = sla();
    assert_eq!(sla.time_zone, Zone(chrono_tz::UTC));
    use Weekday::*;
    assert_eq!(sla.working_days, [Mon, Tue, Wed, Thu, Fri]);
    assert_eq!(
        (sla.day_start, sla.day_end),
        (
            TimeOfDay::new(9, 0).unwrap(),
            TimeOfDay::new(17, 0).unwrap()
        )
    );
    assert!(sla.holidays.is_empty());
    assert_eq!(
        (
            sla.ack_business_hours,
            sla.disposition_business_days,
            sla.escalate_after_hours
        ),
        (4, 2, 48)
    );
}

#[test]
fn the_rules_survive_a_round_trip_through_json() {
    let mut rules = default_rules();
    rules.sla.holidays = vec!["2026-12-25".parse().unwrap()];
    rules.sla.day_end = TimeOfDay::END_OF_DAY;
    let json = serde_json::to_string(&rules).unwrap();
    assert!(
        json.contains(r#""working_days":["mon","tue","wed","thu","fri"]"#),
        "{json}"
    );
    assert!(json.contains(r#""day_end":"24:00""#), "{json}");
    assert_eq!(serde_json::from_str::<Rules>(&json).unwrap(), rules);
}

#[test]
fn deadlines_of_an_mql_assigned_mid_morning() {
    // Tuesday 10:00: ack by 14:00, disposition Thursday 10:00, escalation Thursday 10:00.
    assert_eq!(
        deadlines(&sla(), at("2026-01-06T10:00:00Z")),
        SlaDeadlines {
            ack_due: at("2026-01-06T14:00:00Z"),
            disposition_due: at("2026-01-08T10:00:00Z"),
            escalate_at: at("2026-01-08T10:00:00Z"),
        }
    );
}

#[test]
fn deadlines_of_an_mql_assigned_on_friday_afternoon() {
    // Escalation runs on the wall clock through the weekend; the business clocks do not.
    assert_eq!(
        deadlines(&sla(), at("2026-01-09T15:00:00Z")),
        SlaDeadlines {
            ack_due: at("2026-01-12T11:00:00Z"),
            disposition_due: at("2026-01-13T15:00:00Z"),
            escalate_at: at("2026-01-11T15:00:00Z"),
        }
    );
}

#[test]
fn deadlines_use_the_configured_zone_and_holidays() {
    let mut rules = sla();
    rules.time_zone = "Europe/Berlin".parse().unwrap();
    rules.holidays = vec!["2026-03-30".parse().unwrap()];
    // Fri 15:00 CET; Monday is a holiday; Tue 09:00 CEST = 07:00Z.
    let due = deadlines(&rules, at("2026-03-27T14:00:00Z"));
    assert_eq!(due.ack_due, at("2026-03-31T09:00:00Z"));
    assert_eq!(due.disposition_due, at("2026-04-01T13:00:00Z"));
    assert_eq!(due.escalate_at, at("2026-03-29T14:00:00Z"));
}

#[test]
fn times_of_day_are_hh_mm_up_to_24_00() {
    for (text, minutes, shown) in [
        ("09:00", 540, "09:00"),
        ("9:00", 540, "09:00"),
        ("17:30", 1050, "17:30"),
        ("00:00", 0, "00:00"),
        ("24:00", 1440, "24:00"),
    ] {
        let time: TimeOfDay = text.parse().unwrap();
        assert_eq!(time.minutes_since_midnight(), minutes, "{text}");
        assert_eq!(time.to_string(), shown);
    }
    for bad in [
        "24:01", "25:00", "09:60", "9", "09:0", "009:00", "-1:00", "", "09:00:00", "9h00", " 9:00",
    ] {
        let error = bad.parse::<TimeOfDay>().unwrap_err();
        assert!(error.contains("HH:MM"), "{bad:?}: {error}");
    }
    assert_eq!(TimeOfDay::new(24, 0), Some(TimeOfDay::END_OF_DAY));
    assert_eq!(TimeOfDay::new(0, 0), Some(TimeOfDay::MIDNIGHT));
    assert_eq!(TimeOfDay::new(24, 1), None);
    assert_eq!(TimeOfDay::new(u16::MAX, 0), None);
}

#[test]
fn zones_are_iana_names() {
    let zone: Zone = "America/New_York".parse().unwrap();
    assert_eq!(String::from(zone), "America/New_York");
    let error = "Europe/Berln".parse::<Zone>().unwrap_err();
    assert!(
        error.contains("unknown time zone \"Europe/Berln\""),
        "{error}"
    );
}

#[test]
fn unparsable_values_name_the_key_when_loading() {
    let cases = [
        (
            r#"time_zone = "UTC""#,
            r#"time_zone = "Mars/Olympus""#,
            "sla.time_zone",
        ),
        (
            r#""wed", "thu""#,
            r#""wed", "thursday""#,
            "sla.working_days[3]",
        ),
        (
            r#"day_start = "09:00""#,
            r#"day_start = "9am""#,
            "sla.day_start",
        ),
        (
            r#"day_end = "17:00""#,
            r#"day_end = "25:00""#,
            "sla.day_end",
        ),
        (
            "holidays = []",
            r#"holidays = ["2026-12-25", "2026-02-30"]"#,
            "sla.holidays[1]",
        ),
        (
            "holidays = []",
            r#"holidays = ["2026-1-5"]"#,
            "sla.holidays[0]",
        ),
        (
            "escalate_after_hours = 48",
            "escalate_after_hours = -1",
            "sla.escalate_after_hours",
        ),
        (
            "escalate_after_hours = 48",
            "escalate_after_hours = 48\nescalate = 1",
            "sla.escalate\"",
        ),
        ("holidays = []", "holidays = [2026-12-25]", "sla.holidays"),
    ];
    for (from, to, key) in cases {
        let error = load_edited(from, to).unwrap_err();
        assert!(error.contains(key), "{key} not in {error}");
    }
}

#[test]
fn validation_names_the_key_at_fault() {
    let check = |edit: &dyn Fn(&mut SlaRules), key: &str| {
        let mut rules = default_rules();
        edit(&mut rules.sla);
        let error = rules.validate().unwrap_err();
        assert_eq!(error.key, key, "{error}");
    };
    check(&|s| s.working_days.clear(), "sla.working_days");
    check(
        &|s| s.working_days.push(Weekday::Tue),
        "sla.working_days[5]",
    );
    check(&|s| s.day_end = s.day_start, "sla.day_end");
    check(&|s| s.day_start = TimeOfDay::END_OF_DAY, "sla.day_end");
    let date = |d: &str| d.parse::<NaiveDate>().unwrap();
    check(
        &|s| s.holidays = vec![date("2026-12-24"), date("2026-12-25"), date("2026-12-24")],
        "sla.holidays[2]",
    );
    check(&|s| s.ack_business_hours = 0, "sla.ack_business_hours");
    check(&|s| s.ack_business_hours = 2_001, "sla.ack_business_hours");
    check(
        &|s| s.disposition_business_days = 0,
        "sla.disposition_business_days",
    );
    check(&|s| s.escalate_after_hours = 0, "sla.escalate_after_hours");
}

#[test]
fn a_24_7_calendar_and_a_zone_are_valid_config() {
    let rules = load_edited(r#"time_zone = "UTC""#, r#"time_zone = "America/New_York""#).unwrap();
    rules.validate().unwrap();
    let mut sla = rules.sla;
    sla.working_days = "mon tue wed thu fri sat sun"
        .split(' ')
        .map(|d| d.parse().unwrap())
        .collect();
    sla.day_start = TimeOfDay::MIDNIGHT;
    sla.day_end = TimeOfDay::END_OF_DAY;
    sla.validate().unwrap();
    // Around the clock, 4 business hours are 4 hours and 2 business days are 48.
    let due = deadlines(&sla, at("2026-03-07T22:00:00Z"));
    assert_eq!(due.ack_due, at("2026-03-08T02:00:00Z"));
    assert_eq!(due.disposition_due, at("2026-03-09T22:00:00Z"));
}
