//! The replay with the design's numbers (default rules): a VP at a 250-person US software
//! company with 50M revenue is fit 70; a demo request is intent 50.

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::*;
use crate::{
    domain::{DisqualifyReason, Email, EventType, EventType::*, Profile, RecordEvent},
    engine::rules::tests::default_rules,
};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 9, 1, 10, 0, 0).unwrap()
}

fn day(d: i64) -> DateTime<Utc> {
    t0() + Duration::days(d)
}

fn vp() -> Profile {
    Profile {
        title: Some("VP Marketing".into()),
        industry: Some("software".into()),
        employee_count: Some(250),
        annual_revenue: Some(50_000_000),
        country: Some("US".into()),
        ..Profile::default()
    }
}

fn record(email: &str, profile: Profile, events: &[(EventType, i64)]) -> LeadRecord {
    LeadRecord {
        id: None,
        email: Email::parse(email).unwrap(),
        profile,
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

fn run(events: &[(EventType, i64)], as_of: i64) -> Replay {
    replay(
        &record("jane@acme.io", vp(), events),
        &default_rules(),
        day(as_of),
    )
}

#[test]
fn a_vp_with_a_demo_request_is_an_mql_with_fit_70_and_intent_50() {
    let r = run(&[(DemoRequest, 0)], 0);
    assert_eq!(r.evaluation.fit.total, 70);
    let rules: Vec<&str> = r
        .evaluation
        .fit
        .breakdown
        .iter()
        .map(|h| h.rule.as_str())
        .collect();
    assert_eq!(
        rules,
        [
            "target_industry",
            "revenue_band",
            "employee_range",
            "buying_committee_title"
        ]
    );
    assert_eq!(r.evaluation.intent, 50.0);
    assert_eq!(r.evaluation.stage, Stage::Mql);
    assert_eq!(r.mql_at, Some(day(0)));
    assert_eq!(
        r.steps,
        [Step {
            at: day(0),
            fit: 70,
            intent: 50.0
        }]
    );
    assert_eq!(r.evaluation.segment.demand_state.as_deref(), Some("late"));
    assert_eq!(r.evaluation.segment.account_tier, Some(2));
    assert_eq!(r.review_missing, None);
}

#[test]
fn an_mql_stays_one_while_its_intent_decays() {
    let r = run(&[(DemoRequest, 0)], 31);
    assert_eq!(
        (r.evaluation.intent, r.evaluation.stage),
        (25.0, Stage::Mql)
    );
    assert_eq!(r.mql_at, Some(day(0)));
}

#[test]
fn pricing_then_a_download_is_35_and_stays_a_lead() {
    let r = run(&[(PricingPageVisit, 0), (ContentDownload, 1)], 1);
    assert_eq!(r.evaluation.stage, Stage::Lead);
    assert_eq!(r.mql_at, None);
    assert_eq!(
        r.steps,
        [
            Step {
                at: day(0),
                fit: 70,
                intent: 25.0
            },
            Step {
                at: day(1),
                fit: 70,
                intent: 35.0
            },
        ]
    );
    assert_eq!(r.crossed(60, 35.0), Some(day(1)));
    assert_eq!(r.crossed(60, 25.0), Some(day(0)));
    assert_eq!(r.crossed(71, 0.0), None);
}

#[test]
fn signals_40_days_apart_decay_in_between() {
    let r = run(&[(PricingPageVisit, 0), (ComparisonPageVisit, 40)], 40);
    assert_eq!(r.evaluation.intent, 32.5, "25 halved once, plus 20");
    assert_eq!(r.evaluation.stage, Stage::Lead);
}

#[test]
fn a_competitor_is_disqualified_at_its_first_event_and_never_steps() {
    let r = replay(
        &record("quin@rivalcorp.com", vp(), &[(DemoRequest, 0)]),
        &default_rules(),
        day(0),
    );
    assert_eq!(r.evaluation.fit.total, -30);
    assert_eq!(r.evaluation.stage, Stage::Disqualified);
    let (at, hit) = r.disqualified.unwrap();
    assert_eq!(
        (at, hit.reason, hit.rule),
        (day(0), DisqualifyReason::Competitor, 0)
    );
    assert!(r.steps.is_empty());
    assert_eq!(r.mql_at, None);
}

#[test]
fn an_opt_out_before_the_demo_blocks_the_mql_but_scores_go_on() {
    let r = run(&[(OptOut, 0), (DemoRequest, 5)], 5);
    assert_eq!(r.evaluation.stage, Stage::Disqualified);
    assert_eq!(
        r.disqualified.as_ref().unwrap().1.reason,
        DisqualifyReason::NoSale
    );
    assert_eq!((r.evaluation.fit.total, r.evaluation.intent), (70, 50.0));
    assert_eq!(
        r.crossed(0, 0.0),
        None,
        "no step after the disqualification"
    );
}

#[test]
fn inactivity_between_events_disqualifies_as_the_sweeper_would() {
    let r = run(&[(EmailOpen, 0), (DemoRequest, 200)], 200);
    let (at, hit) = r.disqualified.unwrap();
    assert_eq!((at, hit.reason), (day(200), DisqualifyReason::Inactive));
    assert_eq!(r.mql_at, None, "gone before the demo request came");
    assert_eq!(r.evaluation.stage, Stage::Disqualified);
}

#[test]
fn the_events_of_one_moment_are_judged_together() {
    let mut rec = record(
        "jane@acme.io",
        vp(),
        &[(DemoRequest, 0), (ProfileUpdate, 0)],
    );
    rec.events[1].profile.title = Some("Marketing Intern".into());
    let r = replay(&rec, &default_rules(), day(0));
    assert_eq!(r.evaluation.stage, Stage::Disqualified);
    assert_eq!(
        r.disqualified.unwrap().1.reason,
        DisqualifyReason::JobSeeker
    );
    assert_eq!(r.mql_at, None);
}

#[test]
fn a_later_event_s_profile_fields_replace_the_record_s() {
    let analyst = Profile {
        title: Some("Analyst".into()),
        ..vp()
    };
    let mut rec = record("jane@acme.io", analyst, &[(PageView, 0), (DemoRequest, 1)]);
    rec.events[1].profile.title = Some("VP Sales".into());
    let r = replay(&rec, &default_rules(), day(1));
    assert_eq!(r.steps[0].fit, 45);
    assert_eq!(r.steps[1].fit, 70);
    assert_eq!(r.mql_at, Some(day(1)));
}

#[test]
fn any_input_order_gives_the_same_replay() {
    let events = [
        (ContentDownload, 3),
        (PricingPageVisit, 0),
        (EmailOpen, 50),
        (DemoRequest, 41),
    ];
    let mut reversed = events;
    reversed.reverse();
    assert_eq!(run(&events, 60), run(&reversed, 60));
}

#[test]
fn events_after_as_of_are_left_out_and_counted() {
    let r = run(&[(PricingPageVisit, 0), (DemoRequest, 10)], 5);
    assert_eq!(r.ignored_events, 1);
    assert_eq!(
        (r.evaluation.intent, r.evaluation.stage),
        (25.0, Stage::Lead)
    );
}

#[test]
fn a_record_without_events_is_judged_as_of_as_of() {
    let r = run(&[], 0);
    assert_eq!((r.evaluation.fit.total, r.evaluation.intent), (70, 0.0));
    assert_eq!(r.evaluation.stage, Stage::Lead);
    assert_eq!(
        r.steps,
        [Step {
            at: day(0),
            fit: 70,
            intent: 0.0
        }]
    );
}

#[test]
fn an_mql_without_a_tier_would_wait_for_review() {
    let mut rec = record("jane@acme.io", vp(), &[(DemoRequest, 0)]);
    rec.account_tier = None;
    let r = replay(&rec, &default_rules(), day(0));
    assert_eq!(r.evaluation.stage, Stage::Mql);
    assert_eq!(r.review_missing, Some(vec!["account_tier".to_owned()]));
}

/// The sweep's arithmetic (`crossed`) says what the stage machine would do under other
/// thresholds: checked against real replays with those thresholds.
#[test]
fn crossed_agrees_with_the_stage_machine_at_every_threshold() {
    let records = [
        record(
            "a@acme.io",
            vp(),
            &[(PricingPageVisit, 0), (ComparisonPageVisit, 40)],
        ),
        record("b@acme.io", vp(), &[(OptOut, 0), (DemoRequest, 5)]),
        record(
            "c@acme.io",
            vp(),
            &[(ContentDownload, 0), (DemoRequest, 7), (EmailOpen, 90)],
        ),
        record("d@mit.edu", vp(), &[(DemoRequest, 0)]),
        record(
            "e@acme.io",
            Profile::default(),
            &[(DemoRequest, 0), (PricingPageVisit, 1)],
        ),
    ];
    let base = default_rules();
    for rec in &records {
        let r = replay(rec, &base, day(100));
        for fit in (-40..=80).step_by(10) {
            for intent in [0.0, 10.0, 25.0, 32.5, 45.0, 60.0, 75.0] {
                let mut rules = base.clone();
                rules.mql.fit = fit;
                rules.mql.intent = intent;
                let direct = replay(rec, &rules, day(100)).mql_at;
                assert_eq!(
                    r.crossed(fit, intent),
                    direct,
                    "{} at {fit}/{intent}",
                    rec.email
                );
            }
        }
    }
}
