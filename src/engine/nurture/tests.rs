use chrono::{Duration, TimeZone};

use super::{rules::WORKFLOW_LEN, *};
use crate::{
    domain::EventType::{self, *},
    engine::rules::tests::default_rules,
};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap()
}

fn rules() -> NurtureRules {
    default_rules().nurture
}

fn segment(state: &str, tier: u8) -> Segment {
    Segment {
        demand_state: Some(state.to_owned()),
        account_tier: Some(tier),
    }
}

fn ev(event_type: EventType, hours_ago: i64) -> NurtureEvent<'static> {
    NurtureEvent {
        event_type,
        asset: None,
        at: now() - Duration::hours(hours_ago),
    }
}

fn opened(asset: &'static str, hours_ago: i64) -> NurtureEvent<'static> {
    NurtureEvent {
        asset: Some(asset),
        ..ev(EmailOpen, hours_ago)
    }
}

fn lead_in(seg: &Segment) -> NurtureFacts<'_> {
    NurtureFacts {
        stage: Stage::Lead,
        rejection: None,
        segment: seg,
    }
}

/// A lead enrolled in the workflow of `seg`, with nothing else remembered.
fn enrolled(seg: &Segment) -> NurtureState {
    let (state, records) = step(&NurtureState::default(), lead_in(seg), &[], &rules(), now());
    assert_eq!(records.len(), 1);
    state
}

fn kinds(records: &[NurtureRecord]) -> Vec<(RecordKind, usize, Option<&str>, bool)> {
    records
        .iter()
        .map(|r| {
            (
                r.kind,
                r.step,
                r.touch.as_ref().map(|a| a.id.as_str()),
                r.notify_owner,
            )
        })
        .collect()
}

#[test]
fn a_segmented_lead_is_enrolled_with_its_first_touch() {
    let seg = segment("late", 2);
    let (state, records) = step(
        &NurtureState::default(),
        lead_in(&seg),
        &[],
        &rules(),
        now(),
    );
    assert_eq!(state.workflow.as_deref(), Some("Nurture_late_2"));
    assert_eq!((state.step, state.enrollment), (0, 1));
    assert_eq!(
        kinds(&records),
        [(RecordKind::Enrolled, 0, Some("comparison-guide"), false)]
    );
    assert_eq!(records[0].reason, "segmented");
}

#[test]
fn an_unsegmented_lead_is_not_enrolled() {
    let seg = Segment {
        demand_state: Some("late".into()),
        account_tier: None,
    };
    let (state, records) = step(
        &NurtureState::default(),
        lead_in(&seg),
        &[ev(PricingPageVisit, 0)],
        &rules(),
        now(),
    );
    assert_eq!((state.workflow, records.len()), (None, 0));
}

#[test]
fn tier_1_tells_the_owner_at_enrollment_and_starts_with_a_sales_touch() {
    let seg = segment("early", 1);
    let (_, records) = step(
        &NurtureState::default(),
        lead_in(&seg),
        &[],
        &rules(),
        now(),
    );
    let touch = records[0].touch.as_ref().unwrap();
    assert_eq!(
        (touch.id.as_str(), touch.channel),
        ("owner-intro", Channel::SalesTouch)
    );
    assert!(records[0].notify_owner);
}

#[test]
fn comparison_guide_and_pricing_jump_two_assets_and_notify_the_owner() {
    let seg = segment("late", 2);
    let state = enrolled(&seg);
    let (state, records) = step(
        &state,
        lead_in(&seg),
        &[opened("comparison-guide", 30)],
        &rules(),
        now(),
    );
    assert!(records.is_empty(), "an open alone fires nothing");
    let (state, records) = step(
        &state,
        lead_in(&seg),
        &[ev(PricingPageVisit, 1)],
        &rules(),
        now(),
    );
    assert_eq!(
        kinds(&records),
        [(RecordKind::Advanced, 2, Some("roi-calculator"), true)]
    );
    assert_eq!(records[0].reason, "comparison_and_pricing");
    assert_eq!(state.step, 2);
}

#[test]
fn the_combination_must_fall_within_its_window() {
    let seg = segment("late", 2);
    let state = enrolled(&seg);
    // Eight days apart: more than the 168 hours of the default trigger.
    let (_, records) = step(
        &state,
        lead_in(&seg),
        &[
            opened("comparison-guide", 8 * 24 + 1),
            ev(PricingPageVisit, 0),
        ],
        &rules(),
        now(),
    );
    assert!(records.is_empty(), "{records:?}");
}

#[test]
fn a_trigger_fires_once_per_set_of_events() {
    let seg = segment("late", 2);
    let state = enrolled(&seg);
    let (state, first) = step(
        &state,
        lead_in(&seg),
        &[opened("comparison-guide", 3), ev(PricingPageVisit, 2)],
        &rules(),
        now(),
    );
    assert_eq!(first.len(), 1);
    // Another pricing visit alone does not re-use the guide open that already fired.
    let (state, again) = step(
        &state,
        lead_in(&seg),
        &[ev(PricingPageVisit, 1)],
        &rules(),
        now(),
    );
    assert!(again.is_empty(), "{again:?}");
    // A fresh open completes a new set.
    let (_, third) = step(
        &state,
        lead_in(&seg),
        &[opened("comparison-guide", 0)],
        &rules(),
        now(),
    );
    assert_eq!(
        kinds(&third),
        [(RecordKind::Advanced, 4, Some("implementation-guide"), true)]
    );
}

#[test]
fn engagement_with_content_advances_one_asset_without_telling_tier_2_owners() {
    let seg = segment("early", 2);
    let state = enrolled(&seg);
    let (state, records) = step(&state, lead_in(&seg), &[ev(EmailClick, 0)], &rules(), now());
    assert_eq!(
        kinds(&records),
        [(RecordKind::Advanced, 1, Some("routing-report"), false)]
    );
    assert_eq!(state.step, 1);
}

#[test]
fn tier_1_owners_hear_of_every_trigger() {
    let seg = segment("early", 1);
    let state = enrolled(&seg);
    let (_, records) = step(&state, lead_in(&seg), &[ev(EmailClick, 0)], &rules(), now());
    assert_eq!(
        kinds(&records),
        [(RecordKind::Advanced, 1, Some("routing-report"), true)]
    );
}

#[test]
fn a_pricing_spike_needs_three_visits_within_72_hours() {
    let seg = segment("late", 2);
    let state = enrolled(&seg);
    let (_, records) = step(
        &state,
        lead_in(&seg),
        &[
            ev(PricingPageVisit, 80),
            ev(PricingPageVisit, 40),
            ev(PricingPageVisit, 0),
        ],
        &rules(),
        now(),
    );
    assert!(records.is_empty(), "80 h apart: {records:?}");
    let (_, records) = step(
        &state,
        lead_in(&seg),
        &[
            ev(PricingPageVisit, 70),
            ev(PricingPageVisit, 40),
            ev(PricingPageVisit, 0),
        ],
        &rules(),
        now(),
    );
    assert_eq!(
        kinds(&records),
        [(RecordKind::Advanced, 1, Some("pricing-retargeting"), true)]
    );
    assert_eq!(records[0].reason, "pricing_spike");
}

#[test]
fn tier_3_is_automated_until_the_lead_raises_a_hand() {
    let seg = segment("late", 3);
    let state = enrolled(&seg);
    let (state, records) = step(
        &state,
        lead_in(&seg),
        &[opened("comparison-guide", 2), ev(PricingPageVisit, 1)],
        &rules(),
        now(),
    );
    assert_eq!(
        kinds(&records),
        [(RecordKind::Advanced, 2, Some("roi-calculator"), false)]
    );
    let (_, records) = step(
        &state,
        lead_in(&seg),
        &[ev(DemoRequest, 0)],
        &rules(),
        now(),
    );
    assert_eq!(
        kinds(&records),
        [(RecordKind::Advanced, 3, Some("demo-offer"), true)]
    );
    assert_eq!(records[0].reason, "hand_raise");
}

#[test]
fn at_the_last_asset_a_trigger_is_recorded_but_sends_nothing() {
    let seg = segment("late", 3);
    let mut state = enrolled(&seg);
    state.step = 3;
    let (state, records) = step(
        &state,
        lead_in(&seg),
        &[ev(DemoRequest, 0)],
        &rules(),
        now(),
    );
    assert_eq!(kinds(&records), [(RecordKind::Triggered, 3, None, true)]);
    assert_eq!(state.step, 3);
}

#[test]
fn a_trigger_firing_in_vain_is_recorded_once_per_step_unless_someone_is_told() {
    let seg = segment("late", 3);
    let mut state = enrolled(&seg);
    state.step = 3;
    // (kind, step, whether it sent an asset, whether it tells the owner)
    let run = |state: &mut NurtureState, seg: &Segment, events: &[NurtureEvent<'_>]| {
        let (next, records) = step(state, lead_in(seg), events, &rules(), now());
        *state = next;
        records
            .iter()
            .map(|r| (r.kind, r.step, r.touch.is_some(), r.notify_owner))
            .collect::<Vec<_>>()
    };
    let silent = |step| (RecordKind::Triggered, step, false, false);
    assert_eq!(run(&mut state, &seg, &[ev(EmailClick, 9)]), [silent(3)]);
    assert_eq!(run(&mut state, &seg, &[ev(ContentDownload, 8)]), []);
    // Another trigger in vain at the same step is news once.
    let visits = [
        ev(PricingPageVisit, 7),
        ev(PricingPageVisit, 6),
        ev(PricingPageVisit, 5),
    ];
    assert_eq!(run(&mut state, &seg, &visits), [silent(3)]);
    assert_eq!(run(&mut state, &seg, &[ev(EmailClick, 4)]), []);
    // A raised hand tells the owner, every time.
    let told = (RecordKind::Triggered, 3, false, true);
    assert_eq!(run(&mut state, &seg, &[ev(DemoRequest, 3)]), [told]);
    assert_eq!(run(&mut state, &seg, &[ev(FormSubmission, 2)]), [told]);
    // Once the lead moves, firing in vain is news again.
    let early = segment("early", 3);
    assert_eq!(run(&mut state, &early, &[ev(EmailClick, 1)]).len(), 2);
    assert_eq!(state.step, 4);
    assert_eq!(run(&mut state, &early, &[ev(EmailClick, 0)]), [silent(4)]);
}

#[test]
fn time_alone_never_advances_a_lead() {
    let seg = segment("late", 2);
    let state = enrolled(&seg);
    let later = now() + Duration::days(90);
    let (after, records) = step(&state, lead_in(&seg), &[], &rules(), later);
    assert!(records.is_empty());
    assert_eq!(after.step, state.step);
}

#[test]
fn a_late_delivery_of_old_behaviour_fires_nothing() {
    let seg = segment("late", 2);
    let state = enrolled(&seg);
    let (_, records) = step(
        &state,
        lead_in(&seg),
        &[
            opened("comparison-guide", 24 * 30),
            ev(PricingPageVisit, 24 * 30 - 1),
        ],
        &rules(),
        now(),
    );
    assert!(records.is_empty(), "{records:?}");
}

#[test]
fn the_lead_exits_on_mql_disqualification_and_acceptance() {
    let seg = segment("late", 2);
    for (stage, reason) in [
        (Stage::Mql, "MQL"),
        (Stage::Disqualified, "Disqualified"),
        (Stage::Sal, "accepted (SAL)"),
    ] {
        let facts = NurtureFacts {
            stage,
            rejection: None,
            segment: &seg,
        };
        let (state, records) = step(
            &enrolled(&seg),
            facts,
            &[ev(DemoRequest, 0)],
            &rules(),
            now(),
        );
        assert_eq!(state.workflow, None);
        assert_eq!(kinds(&records), [(RecordKind::Exited, 0, None, false)]);
        assert_eq!(records[0].reason, reason);
    }
}

#[test]
fn a_disqualified_lead_is_never_enrolled_or_touched() {
    let seg = segment("late", 2);
    let facts = NurtureFacts {
        stage: Stage::Disqualified,
        rejection: None,
        segment: &seg,
    };
    let (state, records) = step(
        &NurtureState::default(),
        facts,
        &[opened("comparison-guide", 1), ev(PricingPageVisit, 0)],
        &rules(),
        now(),
    );
    assert_eq!((state.workflow, records.len()), (None, 0));
}

#[test]
fn wrong_timing_and_no_budget_recycle_other_rejections_end_nurture() {
    let seg = segment("late", 2);
    for reason in [RejectReason::WrongTiming, RejectReason::NoBudget] {
        let facts = NurtureFacts {
            stage: Stage::Rejected,
            rejection: Some(reason),
            segment: &seg,
        };
        let (state, records) = step(&NurtureState::default(), facts, &[], &rules(), now());
        assert_eq!(state.workflow.as_deref(), Some("Nurture_late_2"));
        assert_eq!(records[0].kind, RecordKind::Enrolled);
        assert_eq!(records[0].reason, format!("recycled: {reason}"));
    }
    let facts = NurtureFacts {
        stage: Stage::Rejected,
        rejection: Some(RejectReason::NotIcp),
        segment: &seg,
    };
    let (state, records) = step(&NurtureState::default(), facts, &[], &rules(), now());
    assert_eq!((state.workflow, records.len()), (None, 0));
}

#[test]
fn a_new_demand_state_moves_the_lead_and_keeps_its_progress() {
    let early = segment("early", 2);
    let mut state = enrolled(&early);
    state.step = 3;
    let late = segment("late", 2);
    let (state, records) = step(&state, lead_in(&late), &[], &rules(), now());
    assert_eq!(state.workflow.as_deref(), Some("Nurture_late_2"));
    assert_eq!((state.step, state.enrollment), (3, 2));
    assert_eq!(
        kinds(&records),
        [(RecordKind::Moved, 3, Some("case-study-retargeting"), false)]
    );
    assert_eq!(records[0].reason, "moved from Nurture_early_2");
}

#[test]
fn switched_off_nurture_does_nothing() {
    let mut rules = rules();
    rules.enabled = false;
    let seg = segment("late", 2);
    let (state, records) = step(
        &NurtureState::default(),
        lead_in(&seg),
        &[ev(DemoRequest, 0)],
        &rules,
        now(),
    );
    assert_eq!((state, records.len()), (NurtureState::default(), 0));
}

#[test]
fn old_signals_are_forgotten() {
    let seg = segment("late", 2);
    let state = enrolled(&seg);
    let (state, _) = step(
        &state,
        lead_in(&seg),
        &[ev(PricingPageVisit, 0)],
        &rules(),
        now(),
    );
    assert_eq!(state.signals.len(), 1);
    let (state, _) = step(
        &state,
        lead_in(&seg),
        &[],
        &rules(),
        now() + Duration::hours(169),
    );
    assert!(state.signals.is_empty());
}

#[test]
fn signals_every_matching_trigger_has_used_are_forgotten() {
    let seg = segment("late", 2);
    let mut state = enrolled(&seg);
    let mut fired = Vec::new();
    for events in [
        // content_engaged fires on the click: nothing else could use it.
        vec![ev(EmailClick, 5)],
        // Pricing visits wait for a comparison-guide open, and count toward a spike.
        vec![ev(PricingPageVisit, 4)],
        vec![ev(PricingPageVisit, 3), ev(PricingPageVisit, 2)],
        // The open completes comparison_and_pricing with them: all used up.
        vec![opened("comparison-guide", 1)],
    ] {
        let (next, records) = step(&state, lead_in(&seg), &events, &rules(), now());
        state = next;
        fired.push((
            state.signals.len(),
            records.iter().map(|r| r.reason.clone()).collect::<Vec<_>>(),
        ));
    }
    let reasons = |r: &[&str]| r.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        fired,
        [
            (0, reasons(&["content_engaged"])),
            (1, reasons(&[])),
            (3, reasons(&["pricing_spike"])),
            (0, reasons(&["comparison_and_pricing"])),
        ]
    );
}

#[test]
fn the_shipped_workflows_cover_every_segment_with_three_channels() {
    let rules = default_rules();
    let nurture = &rules.nurture;
    assert_eq!(nurture.workflows.len(), 6);
    for state in &rules.segmentation.demand_states {
        for tier in [1, 2, 3] {
            let assets = &nurture.workflows[&workflow_name(state, tier)];
            assert!(WORKFLOW_LEN.contains(&assets.len()));
        }
    }
    let channels: std::collections::BTreeSet<Channel> = nurture
        .workflows
        .values()
        .flatten()
        .map(|id| nurture.asset(id).unwrap().channel)
        .collect();
    assert_eq!(channels.len(), 3);
}

#[test]
fn validation_names_the_key_at_fault() {
    let rules = default_rules();
    let states = &rules.segmentation.demand_states;
    let mut n = rules.nurture.clone();
    n.workflows.remove("Nurture_early_3");
    assert_eq!(
        n.validate(states).unwrap_err().key,
        "nurture.workflows.Nurture_early_3"
    );
    let mut n = rules.nurture.clone();
    n.workflows
        .get_mut("Nurture_late_2")
        .unwrap()
        .extend(["demo-offer".to_owned(), "roi-calculator".to_owned()]);
    assert_eq!(
        n.validate(states).unwrap_err().problem,
        "needs 4 to 7 assets, found 8"
    );
    let mut n = rules.nurture.clone();
    n.triggers[0].when_all[0].asset = Some("nope".into());
    assert_eq!(
        n.validate(states).unwrap_err().key,
        "nurture.triggers[0].when_all[0].asset"
    );
    let mut n = rules.nurture.clone();
    n.tiers.pop();
    assert_eq!(n.validate(states).unwrap_err().key, "nurture.tiers");
    let mut n = rules.nurture.clone();
    for assets in n.workflows.values_mut() {
        assets.retain(|a| !a.contains("retargeting"));
        assets.resize(4, "routing-report".to_owned());
    }
    assert_eq!(n.validate(states).unwrap_err().key, "nurture.workflows");
}
