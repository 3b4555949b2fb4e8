//! One evaluation of a lead: its scores as of `now` and the stage change they call for.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{FitScore, IntentState, Rules, score_fit};
use crate::domain::{Profile, Stage};

/// What the engine needs to know about a lead.
#[derive(Clone, Copy, Debug)]
pub struct LeadFacts<'a> {
    pub email_domain: &'a str,
    pub profile: &'a Profile,
    pub stage: Stage,
    pub intent: &'a IntentState,
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
}

/// A stage transition the rules decided, with the reason recorded in the transition log.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StageChange {
    pub from: Stage,
    pub to: Stage,
    pub reason: String,
}

/// Scores a lead and decides whether it advances. Only `Lead` advances to `MQL` here: later
/// stages move by human action, and a score that decays after MQL does not demote the lead.
pub fn evaluate(facts: LeadFacts<'_>, rules: &Rules, now: DateTime<Utc>) -> Evaluation {
    let fit = score_fit(facts.profile, facts.email_domain, &rules.fit);
    let intent = facts.intent.score_at(now, &rules.intent);
    let qualifies = fit.total >= rules.mql.fit && intent >= rules.mql.intent;
    let change = (facts.stage == Stage::Lead && qualifies).then(|| StageChange {
        from: Stage::Lead,
        to: Stage::Mql,
        reason: format!(
            "fit {} ≥ {} and intent {} ≥ {}",
            fit.total, rules.mql.fit, intent, rules.mql.intent
        ),
    });
    let stage = change.as_ref().map_or(facts.stage, |c| c.to);
    Evaluation {
        fit,
        intent,
        stage,
        change,
    }
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
        let facts = LeadFacts {
            email_domain: domain,
            profile,
            stage,
            intent: &intent,
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
        let facts = LeadFacts {
            email_domain: "acme.io",
            profile: &sixty,
            stage: Stage::Lead,
            intent: &intent,
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
    fn a_competitor_never_qualifies_whatever_its_intent() {
        let eval = run(
            &profile_worth(70),
            "rivalcorp.com",
            Stage::Lead,
            &[(DemoRequest, 0)],
        );
        assert_eq!(eval.fit.total, -30);
        assert_eq!(eval.stage, Stage::Lead);
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
