//! The qualification ladder: which framework a lead goes through on its way to SQL, as
//! rules of data (`[qualification]` in `config/rules.toml`), and the checks a qualification
//! must pass. BANT always: budget at or above the price floor, a decision within the window.
//! MEDDIC after BANT where the ladder says so and the estimated ACV is above the configured
//! minimum: its six fields recorded by the rep.

use std::fmt;

use chrono::{Months, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::domain::EventType;

/// `[qualification]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QualificationRules {
    /// BANT: the least budget that qualifies, in the pricing currency.
    #[serde(default)]
    pub price_floor: f64,
    /// BANT: the decision must be due within this many months of qualifying.
    #[serde(default = "default_decision_window_months")]
    pub decision_window_months: u32,
    /// MEDDIC applies only to deals whose estimated ACV is above this.
    #[serde(default = "default_meddic_min_acv")]
    pub meddic_min_acv: f64,
    /// Checked in order; the first that matches names the framework. None: BANT.
    #[serde(default)]
    pub ladder: Vec<LadderRule>,
}

impl Default for QualificationRules {
    fn default() -> Self {
        Self {
            price_floor: 0.0,
            decision_window_months: default_decision_window_months(),
            meddic_min_acv: default_meddic_min_acv(),
            ladder: Vec::new(),
        }
    }
}

fn default_decision_window_months() -> u32 {
    12
}

fn default_meddic_min_acv() -> f64 {
    50_000.0
}

/// A frameworks the ladder names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Framework {
    Bant,
    Meddic,
}

impl fmt::Display for Framework {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Framework::Bant => "bant",
            Framework::Meddic => "meddic",
        })
    }
}

/// One rung: every condition given must hold (an empty rule matches every lead).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LadderRule {
    pub framework: Framework,
    /// The event that made the lead MQL is one of these.
    #[serde(default)]
    pub triggers: Vec<EventType>,
    /// The lead's account tier is one of these.
    #[serde(default)]
    pub tiers: Vec<u8>,
    /// The lead's demand state is one of these.
    #[serde(default)]
    pub demand_states: Vec<String>,
    /// The lead's company has at least this many employees.
    pub min_employees: Option<i64>,
}

/// What the ladder looks at.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LadderFacts<'a> {
    pub trigger: Option<EventType>,
    pub tier: Option<u8>,
    pub demand_state: Option<&'a str>,
    pub employees: Option<i64>,
}

impl LadderRule {
    fn matches(&self, facts: &LadderFacts<'_>) -> bool {
        let within = |list: &[EventType], v: Option<EventType>| {
            list.is_empty() || v.is_some_and(|v| list.contains(&v))
        };
        within(&self.triggers, facts.trigger)
            && (self.tiers.is_empty() || facts.tier.is_some_and(|t| self.tiers.contains(&t)))
            && (self.demand_states.is_empty()
                || facts
                    .demand_state
                    .is_some_and(|s| self.demand_states.iter().any(|d| d == s)))
            && self
                .min_employees
                .is_none_or(|min| facts.employees.is_some_and(|e| e >= min))
    }
}

/// The framework the ladder gives a lead: the first matching rung's, else BANT.
pub fn framework(facts: &LadderFacts<'_>, rules: &QualificationRules) -> Framework {
    rules
        .ladder
        .iter()
        .find(|rule| rule.matches(facts))
        .map_or(Framework::Bant, |rule| rule.framework)
}

/// MEDDIC's six fields, by their API names.
pub const MEDDIC_FIELDS: [&str; 6] = [
    "metrics",
    "economic_buyer",
    "decision_criteria",
    "decision_process",
    "identify_pain",
    "champion",
];

/// What the rep states when qualifying, besides the four BANT confirmations.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stated {
    /// The budget the buyer has, in the pricing currency.
    pub budget_amount: f64,
    /// When the buyer decides.
    pub decision_by: NaiveDate,
    /// The deal's estimated ACV; the budget stands for it when not given.
    pub estimated_acv: Option<f64>,
}

/// Why a qualification of a lead the ladder gave `framework` fails, as (field, problem):
/// BANT's amounts against the rules, and for MEDDIC above the ACV minimum every field of
/// [`MEDDIC_FIELDS`] not in `recorded`. Empty when it passes.
pub fn problems(
    framework: Framework,
    stated: &Stated,
    recorded: &[&str],
    today: NaiveDate,
    rules: &QualificationRules,
) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    if stated.budget_amount < rules.price_floor {
        problems.push((
            "budget_amount".to_owned(),
            format!(
                "{} is below the price floor of {} (qualification.price_floor)",
                stated.budget_amount, rules.price_floor
            ),
        ));
    }
    let window = today
        .checked_add_months(Months::new(rules.decision_window_months))
        .unwrap_or(NaiveDate::MAX);
    if stated.decision_by < today || stated.decision_by >= window {
        problems.push((
            "decision_by".to_owned(),
            format!(
                "{} is not within the decision window: from today to before {window} \
                 (qualification.decision_window_months = {})",
                stated.decision_by, rules.decision_window_months
            ),
        ));
    }
    let acv = stated.estimated_acv.unwrap_or(stated.budget_amount);
    if framework == Framework::Meddic && acv > rules.meddic_min_acv {
        for field in MEDDIC_FIELDS {
            if !recorded.contains(&field) {
                problems.push((
                    format!("meddic.{field}"),
                    format!(
                        "is required before SQL: the ladder puts this lead through MEDDIC and \
                         its estimated ACV {acv} is above {} (record it with POST \
                         /api/v1/leads/{{id}}/meddic)",
                        rules.meddic_min_acv
                    ),
                ));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> QualificationRules {
        QualificationRules {
            price_floor: 5_000.0,
            decision_window_months: 12,
            meddic_min_acv: 50_000.0,
            ladder: vec![
                LadderRule {
                    framework: Framework::Meddic,
                    triggers: vec![EventType::DemoRequest],
                    tiers: vec![1],
                    demand_states: vec![],
                    min_employees: None,
                },
                LadderRule {
                    framework: Framework::Meddic,
                    triggers: vec![],
                    tiers: vec![],
                    demand_states: vec![],
                    min_employees: Some(1_000),
                },
            ],
        }
    }

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn the_first_matching_rung_names_the_framework() {
        let demo_tier1 = LadderFacts {
            trigger: Some(EventType::DemoRequest),
            tier: Some(1),
            ..LadderFacts::default()
        };
        assert_eq!(framework(&demo_tier1, &rules()), Framework::Meddic);
        let webinar_tier1 = LadderFacts {
            trigger: Some(EventType::WebinarAttended),
            ..demo_tier1.clone()
        };
        assert_eq!(framework(&webinar_tier1, &rules()), Framework::Bant);
        let big = LadderFacts {
            employees: Some(5_000),
            ..LadderFacts::default()
        };
        assert_eq!(framework(&big, &rules()), Framework::Meddic);
        assert_eq!(
            framework(&big, &QualificationRules::default()),
            Framework::Bant
        );
    }

    #[test]
    fn bant_checks_the_floor_and_window_and_meddic_its_six_fields_above_the_acv() {
        let today = day("2026-11-20");
        let good = Stated {
            budget_amount: 60_000.0,
            decision_by: day("2027-03-31"),
            estimated_acv: None,
        };
        let fields = |p: Vec<(String, String)>| p.into_iter().map(|(f, _)| f).collect::<Vec<_>>();
        assert!(problems(Framework::Bant, &good, &[], today, &rules()).is_empty());
        let meddic = fields(problems(
            Framework::Meddic,
            &good,
            &["metrics", "champion"],
            today,
            &rules(),
        ));
        assert_eq!(
            meddic,
            [
                "meddic.economic_buyer",
                "meddic.decision_criteria",
                "meddic.decision_process",
                "meddic.identify_pain"
            ]
        );
        // At or below the ACV minimum, MEDDIC is not required.
        let small = Stated {
            estimated_acv: Some(50_000.0),
            ..good
        };
        assert!(problems(Framework::Meddic, &small, &[], today, &rules()).is_empty());
        let bad = Stated {
            budget_amount: 4_999.0,
            decision_by: day("2027-11-20"),
            estimated_acv: Some(1.0),
        };
        assert_eq!(
            fields(problems(Framework::Bant, &bad, &[], today, &rules())),
            ["budget_amount", "decision_by"]
        );
        let past = Stated {
            decision_by: day("2026-11-19"),
            ..good
        };
        assert_eq!(
            fields(problems(Framework::Bant, &past, &[], today, &rules())),
            ["decision_by"]
        );
        let last_day = Stated {
            decision_by: day("2027-11-19"),
            ..good
        };
        assert!(problems(Framework::Bant, &last_day, &[], today, &rules()).is_empty());
    }
}
