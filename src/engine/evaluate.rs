//! One evaluation of a lead: its scores as of `now`, then disqualification, segmentation and
//! the stage change they call for, in that order (DESIGN §2).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{
    Activity, Disqualification, DisqualifyFacts, FitScore, IntentState, Rules, Segment,
    SinceRejection, first_hit, score_fit,
};
use crate::domain::{DisqualifyReason, Profile, RejectReason, Stage};

/// What the engine needs to know about a lead.
#[derive(Clone, Copy, Debug)]
pub struct LeadFacts<'a> {
    pub email_domain: &'a str,
    pub profile: &'a Profile,
    pub stage: Stage,
    pub intent: &'a IntentState,
    pub activity: &'a Activity,
    /// When the lead was first seen.
    pub first_seen: DateTime<Utc>,
    /// The lead's account tier, if its account is on the tiered list.
    pub account_tier: Option<u8>,
    /// Disqualification reasons an ops user overruled for this lead.
    pub exempt: &'a [DisqualifyReason],
    /// Why a rep last rejected the lead, and what it has done since.
    pub rejection: Option<(RejectReason, &'a SinceRejection)>,
}

impl<'a> LeadFacts<'a> {
    /// The part disqualification looks at.
    pub fn disqualify_facts(&self) -> DisqualifyFacts<'a> {
        DisqualifyFacts {
            email_domain: self.email_domain,
            profile: self.profile,
            activity: self.activity,
            first_seen: self.first_seen,
            exempt: self.exempt,
        }
    }
}

/// The engine's verdict on a lead.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Evaluation {
    pub fit: FitScore,
    /// Intent decayed to `now`, rounded to hundredths.
    pub intent: f64,
    /// The stage after this evaluation.
    pub stage: Stage,
    pub change: Option<StageChange>,
    /// The rule that disqualified the lead in this evaluation, if one did.
    pub disqualification: Option<Disqualification>,
    /// The routing keys as they stand.
    pub segment: Segment,
    /// Set when the lead became MQL now without a full segment: what it lacks. Such a lead
    /// waits in the manual review queue instead of going on to handoff.
    pub review_missing: Option<Vec<String>>,
}

/// A stage transition the rules decided, with the reason recorded in the transition log.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StageChange {
    pub from: Stage,
    pub to: Stage,
    pub reason: String,
}

/// Scores a lead and decides whether it moves. A lead, MQL or recycled lead that a
/// disqualification rule catches becomes `Disqualified`; a disqualified lead is still scored but never moves here
/// (only a reinstatement brings it back). `Lead` advances to `MQL`, and so does a recycled
/// `Rejected` lead whose intent since the rejection meets the threshold on its own: other
/// stages move by human action, and a score that decays after MQL does not demote the lead.
pub fn evaluate(facts: LeadFacts<'_>, rules: &Rules, now: DateTime<Utc>) -> Evaluation {
    let fit = score_fit(facts.profile, facts.email_domain, &rules.fit);
    let intent = facts.intent.score_at(now, &rules.intent);
    let segment = Segment::of(
        facts.profile.demand_state.as_deref(),
        facts.activity.derived_demand_state.as_deref(),
        facts.account_tier,
        &rules.segmentation,
    );
    let mut eval = Evaluation {
        fit,
        intent,
        stage: facts.stage,
        change: None,
        disqualification: None,
        segment,
        review_missing: None,
    };
    // A recycled lead is back in nurture, under the same rules as a lead.
    if matches!(facts.stage, Stage::Lead | Stage::Mql) || recycled(&facts, rules).is_some() {
        let hit = first_hit(&facts.disqualify_facts(), &rules.disqualify, now);
        if let Some(hit) = hit {
            eval.change = Some(StageChange {
                from: facts.stage,
                to: Stage::Disqualified,
                reason: format!("{} by disqualify[{}]: {}", hit.reason, hit.rule, hit.detail),
            });
            eval.stage = Stage::Disqualified;
            eval.disqualification = Some(hit);
            return eval;
        }
    }
    if let Some(reason) = qualifies(&facts, eval.fit.total, intent, rules, now) {
        eval.change = Some(StageChange {
            from: facts.stage,
            to: Stage::Mql,
            reason,
        });
        eval.stage = Stage::Mql;
        let missing = eval.segment.missing();
        eval.review_missing = (!missing.is_empty()).then_some(missing);
    }
    eval
}

/// Why the lead becomes MQL now, if it does: a `Lead` at both thresholds, or a recycled
/// `Rejected` one at the fit threshold whose intent since the rejection meets the intent
/// threshold (what it did before is what the rep turned down).
fn qualifies(
    facts: &LeadFacts<'_>,
    fit: i32,
    intent: f64,
    rules: &Rules,
    now: DateTime<Utc>,
) -> Option<String> {
    let (fit_min, intent_min) = (rules.mql.fit, rules.mql.intent);
    if fit < fit_min {
        return None;
    }
    if facts.stage == Stage::Lead {
        return (intent >= intent_min)
            .then(|| format!("fit {fit} ≥ {fit_min} and intent {intent} ≥ {intent_min}"));
    }
    recycled(facts, rules).and_then(|(why, since)| {
        let earned = since.intent.score_at(now, &rules.intent);
        (earned >= intent_min).then(|| {
            format!(
                "recycled after {why}, qualified again: fit {fit} ≥ {fit_min} and intent since \
                 the rejection {earned} ≥ {intent_min}"
            )
        })
    })
}

/// The rejection and what followed it, if a rep's rejection recycled the lead into nurture.
fn recycled<'a>(
    facts: &LeadFacts<'a>,
    rules: &Rules,
) -> Option<(RejectReason, &'a SinceRejection)> {
    facts
        .rejection
        .filter(|(why, _)| facts.stage == Stage::Rejected && rules.nurture.recycle_on.contains(why))
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;
    use crate::domain::EventType::{self, *};
    use crate::engine::rules::tests::default_rules;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 20, 10, 0, 0).unwrap()
    }

    /// Activity that keeps the inactivity rule quiet.
    fn engaged_now() -> Activity {
        Activity {
            last_engaged_at: Some(now()),
            derived_demand_state: Some("late".into()),
            ..Activity::default()
        }
    }

    /// A profile worth exactly `fit` points under the default rules (60 or 59 or 70).
    fn profile_worth(fit: i32) -> Profile {
        match fit {
            70 => Profile {
                title: Some("VP Marketing".into()),
                industry: Some("software".into()),
                employee_count: Some(250),
                annual_revenue: Some(50_000_000),
                country: Some("US".into()),
                ..Default::default()
            },
            // industry 20 + title 25 + revenue 15
            60 => Profile {
                title: Some("Head of IT".into()),
                industry: Some("fintech".into()),
                annual_revenue: Some(20_000_000),
                ..Default::default()
            },
            _ => unreachable!("no fixture for {fit}"),
        }
    }

    fn run(
        profile: &Profile,
        domain: &str,
        stage: Stage,
        events: &[(EventType, i64)],
    ) -> Evaluation {
        let rules = default_rules();
        let intent = IntentState::fold(
            events
                .iter()
                .map(|(t, days_ago)| (*t, now() - Duration::days(*days_ago))),
            &rules.intent,
        );
        let activity = engaged_now();
        let facts = LeadFacts {
            email_domain: domain,
            profile,
            stage,
            intent: &intent,
            activity: &activity,
            first_seen: now(),
            account_tier: Some(2),
            exempt: &[],
            rejection: None,
        };
        evaluate(facts, &rules, now())
    }

    #[test]
    fn demo_request_alone_makes_a_fit_lead_mql() {
        let eval = run(
            &profile_worth(70),
            "acme.io",
            Stage::Lead,
            &[(DemoRequest, 0)],
        );
        assert_eq!(eval.intent, 50.0);
        assert_eq!(eval.stage, Stage::Mql);
        let change = eval.change.unwrap();
        assert_eq!((change.from, change.to), (Stage::Lead, Stage::Mql));
        assert_eq!(change.reason, "fit 70 ≥ 60 and intent 50 ≥ 40");
    }

    #[test]
    fn fit_60_qualifies_and_59_does_not() {
        let sixty = profile_worth(60);
        let eval = run(&sixty, "acme.io", Stage::Lead, &[(DemoRequest, 0)]);
        assert_eq!((eval.fit.total, eval.stage), (60, Stage::Mql));

        // The default weights are all multiples of 5, so 59 comes from a one-point-lighter rule.
        let mut rules = default_rules();
        rules.fit.target_industry.points = 19;
        let intent = IntentState::fold([(DemoRequest, now())], &rules.intent);
        let activity = engaged_now();
        let facts = LeadFacts {
            email_domain: "acme.io",
            profile: &sixty,
            stage: Stage::Lead,
            intent: &intent,
            activity: &activity,
            first_seen: now(),
            account_tier: Some(2),
            exempt: &[],
            rejection: None,
        };
        let eval = evaluate(facts, &rules, now());
        assert_eq!((eval.fit.total, eval.stage), (59, Stage::Lead));
    }

    #[test]
    fn pricing_and_comparison_45_qualify_pricing_and_download_35_do_not() {
        let p = profile_worth(70);
        let eval = run(
            &p,
            "acme.io",
            Stage::Lead,
            &[(PricingPageVisit, 1), (ComparisonPageVisit, 0)],
        );
        assert_eq!((eval.intent, eval.stage), (45.0, Stage::Mql));
        let eval = run(
            &p,
            "acme.io",
            Stage::Lead,
            &[(PricingPageVisit, 1), (ContentDownload, 0)],
        );
        assert_eq!((eval.intent, eval.stage), (35.0, Stage::Lead));
        assert!(eval.change.is_none());
    }

    #[test]
    fn intent_exactly_40_qualifies() {
        let p = profile_worth(70);
        let eval = run(
            &p,
            "acme.io",
            Stage::Lead,
            &[(ComparisonPageVisit, 1), (ComparisonPageVisit, 0)],
        );
        assert_eq!((eval.intent, eval.stage), (40.0, Stage::Mql));
    }

    #[test]
    fn a_demo_request_31_days_old_has_decayed_below_threshold() {
        let eval = run(
            &profile_worth(70),
            "acme.io",
            Stage::Lead,
            &[(DemoRequest, 31)],
        );
        assert_eq!((eval.intent, eval.stage), (25.0, Stage::Lead));
    }

    #[test]
    fn a_competitor_is_disqualified_whatever_its_intent() {
        let eval = run(
            &profile_worth(70),
            "rivalcorp.com",
            Stage::Lead,
            &[(DemoRequest, 0)],
        );
        assert_eq!(eval.fit.total, -30);
        assert_eq!(eval.stage, Stage::Disqualified);
        let hit = eval.disqualification.unwrap();
        assert_eq!(hit.reason, DisqualifyReason::Competitor);
        assert!(
            eval.change
                .unwrap()
                .reason
                .starts_with("Disqualified_Competitor by disqualify[0]: ")
        );
    }

    #[test]
    fn an_mql_can_be_disqualified_but_sales_stages_cannot() {
        let eval = run(
            &profile_worth(70),
            "mit.edu",
            Stage::Mql,
            &[(DemoRequest, 0)],
        );
        assert_eq!(eval.stage, Stage::Disqualified);
        for stage in [Stage::Sal, Stage::Sql, Stage::Rejected] {
            let eval = run(&profile_worth(70), "mit.edu", stage, &[(DemoRequest, 0)]);
            assert_eq!((eval.stage, eval.change), (stage, None));
        }
    }

    #[test]
    fn an_mql_without_a_full_segment_goes_to_review() {
        let rules = default_rules();
        let intent = IntentState::fold([(DemoRequest, now())], &rules.intent);
        let activity = Activity {
            last_engaged_at: Some(now()),
            ..Activity::default()
        };
        let profile = profile_worth(70);
        let facts = LeadFacts {
            email_domain: "acme.io",
            profile: &profile,
            stage: Stage::Lead,
            intent: &intent,
            activity: &activity,
            first_seen: now(),
            account_tier: None,
            exempt: &[],
            rejection: None,
        };
        let eval = evaluate(facts, &rules, now());
        assert_eq!(eval.stage, Stage::Mql);
        assert_eq!(
            eval.review_missing.unwrap(),
            ["demand_state", "account_tier"]
        );
        let eval = run(&profile, "acme.io", Stage::Lead, &[(DemoRequest, 0)]);
        assert_eq!(eval.review_missing, None, "segmented: goes on");
        assert_eq!(eval.segment.demand_state.as_deref(), Some("late"));
    }

    #[test]
    fn a_recycled_lead_qualifies_again_on_the_intent_it_earned_since_the_rejection() {
        let rules = default_rules();
        let profile = profile_worth(70);
        let activity = engaged_now();
        let rejected_at = now() - Duration::days(20);
        // The demo that made it MQL came before the rejection; since then, pricing 25.
        let history = [
            (DemoRequest, now() - Duration::days(25)),
            (PricingPageVisit, now() - Duration::days(10)),
        ];
        let verdict = |reason, extra: &[(EventType, DateTime<Utc>)], domain| {
            let all: Vec<_> = history.iter().chain(extra).copied().collect();
            let intent = IntentState::fold(all.iter().copied(), &rules.intent);
            let mut since = SinceRejection::new(rejected_at);
            since.refold(&all, &rules.intent);
            let facts = LeadFacts {
                email_domain: domain,
                profile: &profile,
                stage: Stage::Rejected,
                intent: &intent,
                activity: &activity,
                first_seen: now() - Duration::days(40),
                account_tier: Some(2),
                exempt: &[],
                rejection: Some((reason, &since)),
            };
            evaluate(facts, &rules, now())
        };

        // Intent 75 in all, but 25 since the rejection: it stays where the rep put it.
        let eval = verdict(RejectReason::WrongTiming, &[], "acme.io");
        assert_eq!((eval.intent, eval.stage), (75.0, Stage::Rejected));
        assert_eq!(eval.change, None);

        // A comparison visit brings what it earned since to 45.
        let comparison = [(ComparisonPageVisit, now() - Duration::days(1))];
        let eval = verdict(RejectReason::NoBudget, &comparison, "acme.io");
        assert_eq!(eval.stage, Stage::Mql);
        let change = eval.change.unwrap();
        assert_eq!((change.from, change.to), (Stage::Rejected, Stage::Mql));
        assert_eq!(
            change.reason,
            "recycled after Rejected_NoBudget, qualified again: fit 70 ≥ 60 and intent since \
             the rejection 45 ≥ 40"
        );

        // A rejection that does not recycle the lead keeps it rejected.
        let eval = verdict(RejectReason::NotIcp, &comparison, "acme.io");
        assert_eq!((eval.stage, eval.change), (Stage::Rejected, None));

        // Back in nurture, a recycled lead answers to the disqualification rules as a lead
        // does; one the rep rejected for good is left alone.
        let eval = verdict(RejectReason::WrongTiming, &comparison, "rivalcorp.com");
        assert_eq!(eval.stage, Stage::Disqualified);
        assert_eq!(eval.change.unwrap().from, Stage::Rejected);
        let eval = verdict(RejectReason::NotIcp, &comparison, "rivalcorp.com");
        assert_eq!((eval.stage, eval.change), (Stage::Rejected, None));
    }

    #[test]
    fn only_a_lead_advances_and_nothing_moves_backwards() {
        for stage in [
            Stage::Mql,
            Stage::Sal,
            Stage::Sql,
            Stage::Rejected,
            Stage::Disqualified,
        ] {
            let eval = run(&profile_worth(70), "acme.io", stage, &[(DemoRequest, 0)]);
            assert_eq!(eval.stage, stage);
            assert!(eval.change.is_none());
        }
        let eval = run(
            &profile_worth(70),
            "acme.io",
            Stage::Mql,
            &[(DemoRequest, 90)],
        );
        assert_eq!((eval.intent, eval.stage), (6.25, Stage::Mql));
    }
}
