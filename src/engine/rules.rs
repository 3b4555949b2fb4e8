//! The scoring rules as data. `config/rules.toml` deserialises into [`Rules`]; the defaults
//! of DESIGN §2 live there, not here, so a team changes numbers without a release.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{
    Condition, DisqualifyRule, HandoffRules, NurtureRules, QualificationRules, SegmentationRules,
    SlaRules, segment::TIERS,
};
use crate::domain::EventType;

/// Every rule the engine applies.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    pub mql: MqlThresholds,
    pub fit: FitRules,
    pub intent: IntentRules,
    pub accounts: AccountRules,
    pub segmentation: SegmentationRules,
    /// Checked in order; the first that fires decides.
    pub disqualify: Vec<DisqualifyRule>,
    pub handoff: HandoffRules,
    /// Business hours and the handoff SLA.
    pub sla: SlaRules,
    /// Workflows and triggers, from `config/nurture.toml`.
    pub nurture: NurtureRules,
    /// The qualification ladder and BANT's thresholds.
    #[serde(default)]
    pub qualification: QualificationRules,
}

/// A lead becomes MQL when both scores reach these (inclusive).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqlThresholds {
    pub fit: i32,
    pub intent: f64,
}

/// Fit: who the lead is. Each rule adds its `points` (negative for penalties) when it matches.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FitRules {
    pub target_industry: ListRule,
    pub revenue_band: RangeRule,
    pub employee_range: RangeRule,
    pub buying_committee_title: ListRule,
    pub student_email: ListRule,
    pub excluded_domain: ListRule,
    pub out_of_geo: ListRule,
}

/// A rule matching a value against a list (industries, title words, domain suffixes,
/// domains, countries; each rule says how it matches).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListRule {
    pub points: i32,
    pub values: Vec<String>,
}

/// A rule matching a number within `min..=max`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RangeRule {
    pub points: i32,
    pub min: i64,
    pub max: i64,
}

/// Intent: what the lead does. An event type listed in `weights` is an intent signal: it adds
/// its points and restarts the decay clock. Types not listed neither add nor restart.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntentRules {
    pub weights: BTreeMap<EventType, f64>,
    pub decay: Decay,
}

/// How intent fades while the lead is inactive.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decay {
    pub mode: DecayMode,
    pub half_life_days: u32,
}

/// `step` halves once per full half-life (the design's default); `continuous` halves smoothly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecayMode {
    Step,
    Continuous,
}

/// How leads are linked to accounts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountRules {
    /// Addresses at these domains make no account.
    pub free_mail_domains: Vec<String>,
}

/// Validated rules with their version, as the service runs them.
#[derive(Clone, Debug)]
pub struct RuleSet {
    pub rules: Rules,
    /// [`Rules::version`], computed once.
    pub version: String,
}

impl RuleSet {
    /// Validates `rules` and computes their version.
    pub fn new(rules: Rules) -> Result<Self, RuleError> {
        rules.validate()?;
        let version = rules.version();
        Ok(Self { rules, version })
    }
}

/// A rule that does not make sense, with the key it sits under.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{key}: {problem}")]
pub struct RuleError {
    pub key: String,
    pub problem: String,
}

/// Whether an opener puts an article before `{trigger}`, which carries its own.
fn articled_trigger(opener: &str) -> bool {
    let words: Vec<&str> = opener.split_whitespace().collect();
    words.windows(2).any(|w| {
        matches!(w[0].to_lowercase().as_str(), "a" | "an") && w[1].starts_with("{trigger}")
    })
}

pub(super) fn problem(key: &str, problem: impl Into<String>) -> RuleError {
    RuleError {
        key: key.to_owned(),
        problem: problem.into(),
    }
}

impl Rules {
    /// Checks what serde cannot: ranges, non-empty lists, lower-case list values, ISO codes.
    pub fn validate(&self) -> Result<(), RuleError> {
        if self.mql.intent.is_nan() || self.mql.intent < 0.0 {
            return Err(problem("mql.intent", "must be a number ≥ 0"));
        }
        let fit = &self.fit;
        for (key, rule) in [
            ("fit.revenue_band", &fit.revenue_band),
            ("fit.employee_range", &fit.employee_range),
        ] {
            if rule.min < 0 || rule.min > rule.max {
                return Err(problem(
                    key,
                    format!(
                        "needs 0 ≤ min ≤ max, got min {} and max {}",
                        rule.min, rule.max
                    ),
                ));
            }
        }
        for (key, rule) in [
            ("fit.target_industry", &fit.target_industry),
            ("fit.buying_committee_title", &fit.buying_committee_title),
            ("fit.student_email", &fit.student_email),
            ("fit.excluded_domain", &fit.excluded_domain),
            ("fit.out_of_geo", &fit.out_of_geo),
        ] {
            if rule.values.iter().any(|v| v.trim().is_empty()) {
                return Err(problem(&format!("{key}.values"), "holds an empty value"));
            }
        }
        lower_case("fit.target_industry.values", &fit.target_industry.values)?;
        lower_case(
            "fit.buying_committee_title.values",
            &fit.buying_committee_title.values,
        )?;
        lower_case("fit.student_email.values", &fit.student_email.values)?;
        lower_case("fit.excluded_domain.values", &fit.excluded_domain.values)?;
        lower_case(
            "accounts.free_mail_domains",
            &self.accounts.free_mail_domains,
        )?;
        if let Some(bad) = fit
            .out_of_geo
            .values
            .iter()
            .find(|c| c.len() != 2 || !c.chars().all(|ch| ch.is_ascii_uppercase()))
        {
            return Err(problem(
                "fit.out_of_geo.values",
                format!("{bad:?} is not an upper-case ISO 3166-1 alpha-2 code"),
            ));
        }
        if let Some((event, weight)) = self
            .intent
            .weights
            .iter()
            .find(|(_, w)| !w.is_finite() || **w < 0.0)
        {
            return Err(problem(
                &format!("intent.weights.{event}"),
                format!("must be a number ≥ 0, got {weight}"),
            ));
        }
        if self.intent.decay.half_life_days == 0 {
            return Err(problem("intent.decay.half_life_days", "must be at least 1"));
        }
        self.validate_segmentation()?;
        self.validate_disqualify()?;
        self.validate_handoff()?;
        self.validate_sla()?;
        self.validate_qualification()?;
        self.nurture.validate(&self.segmentation.demand_states)
    }

    /// Zone, weekday, time and date strings were already parsed on load; what is left is how
    /// they fit together (see `SlaRules::validate`).
    fn validate_qualification(&self) -> Result<(), RuleError> {
        let q = &self.qualification;
        if q.price_floor.is_nan() || q.price_floor < 0.0 {
            return Err(problem("qualification.price_floor", "must be a number ≥ 0"));
        }
        if q.meddic_min_acv.is_nan() || q.meddic_min_acv < 0.0 {
            return Err(problem(
                "qualification.meddic_min_acv",
                "must be a number ≥ 0",
            ));
        }
        if q.decision_window_months == 0 {
            return Err(problem(
                "qualification.decision_window_months",
                "must be at least 1",
            ));
        }
        for (i, rule) in q.ladder.iter().enumerate() {
            if let Some(tier) = rule.tiers.iter().find(|t| !TIERS.contains(t)) {
                return Err(problem(
                    &format!("qualification.ladder[{i}].tiers"),
                    format!("{tier} is not a tier (1, 2 or 3)"),
                ));
            }
            let states = &self.segmentation.demand_states;
            if let Some(state) = rule.demand_states.iter().find(|s| !states.contains(s)) {
                return Err(problem(
                    &format!("qualification.ladder[{i}].demand_states"),
                    format!("{state:?} is not in segmentation.demand_states"),
                ));
            }
        }
        Ok(())
    }

    fn validate_sla(&self) -> Result<(), RuleError> {
        self.sla.validate()
    }
    fn validate_handoff(&self) -> Result<(), RuleError> {
        for state in &self.segmentation.demand_states {
            let key = format!("handoff.openers.{state}");
            match self.handoff.openers.get(state) {
                Some(opener) if opener.trim().is_empty() => {}
                Some(opener) if articled_trigger(opener) => {
                    return Err(problem(
                        &key,
                        "{trigger} brings its own article (\"a demo request\"): write \
                         \"through {trigger}\", not \"through a {trigger}\"",
                    ));
                }
                Some(_) => continue,
                None => {}
            }
            return Err(problem(
                &key,
                "every demand state needs a recommended opener",
            ));
        }
        Ok(())
    }

    fn validate_segmentation(&self) -> Result<(), RuleError> {
        let seg = &self.segmentation;
        if seg.demand_states.is_empty() {
            return Err(problem(
                "segmentation.demand_states",
                "needs at least one state",
            ));
        }
        lower_case("segmentation.demand_states", &seg.demand_states)?;
        for (i, state) in seg.demand_states.iter().enumerate() {
            if state.trim().is_empty() || seg.demand_states[..i].contains(state) {
                return Err(problem(
                    "segmentation.demand_states",
                    format!("{state:?} is empty or listed twice"),
                ));
            }
        }
        if let Some(tier) = seg.default_tier.filter(|t| !TIERS.contains(t)) {
            return Err(problem(
                "segmentation.default_tier",
                format!("unknown tier {tier}; allowed: 1, 2, 3"),
            ));
        }
        for (i, rule) in seg.behaviour.iter().enumerate() {
            if !seg.demand_states.contains(&rule.state) {
                return Err(problem(
                    &format!("segmentation.behaviour[{i}].state"),
                    format!(
                        "{:?} is not one of segmentation.demand_states ({})",
                        rule.state,
                        seg.demand_states.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

    fn validate_disqualify(&self) -> Result<(), RuleError> {
        let count = self.disqualify.len();
        if !(5..=8).contains(&count) {
            return Err(problem(
                "disqualify",
                format!("needs 5 to 8 rules (DESIGN §2), found {count}"),
            ));
        }
        for (i, rule) in self.disqualify.iter().enumerate() {
            let key = format!("disqualify[{i}].when");
            match &rule.when {
                Condition::DomainIn(values)
                | Condition::DomainEndsWith(values)
                | Condition::TitleHasWords(values) => {
                    if values.is_empty() || values.iter().any(|v| v.trim().is_empty()) {
                        return Err(problem(&key, "needs a non-empty list of non-empty values"));
                    }
                    lower_case(&key, values)?;
                }
                Condition::BelowSize { employees, months } => {
                    if *employees < 1 || *months < 1 {
                        return Err(problem(
                            &key,
                            "below_size needs employees ≥ 1 and months ≥ 1",
                        ));
                    }
                }
                Condition::Inactive { days } => {
                    if *days < 1 {
                        return Err(problem(&key, "inactive needs days ≥ 1"));
                    }
                }
                Condition::OptedOut => {}
            }
        }
        Ok(())
    }

    /// A content hash of the rules, recorded with every score so a number can be traced to
    /// the rules that produced it.
    pub fn version(&self) -> String {
        let canonical = serde_json::to_vec(self).expect("rules serialise to JSON");
        let digest = Sha256::digest(canonical);
        hex::encode(&digest[..6])
    }
}

fn lower_case(key: &str, values: &[String]) -> Result<(), RuleError> {
    match values.iter().find(|v| v.to_lowercase() != **v) {
        Some(bad) => Err(problem(
            key,
            format!("{bad:?} must be lower case (matching ignores case)"),
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use figment::{
        Figment,
        providers::{Format, Toml},
    };

    use super::*;

    /// The rules shipped in `config/rules.toml`: the tests pin the design's numbers to the
    /// file a new user actually runs with.
    pub(crate) fn default_rules() -> Rules {
        let rules: Rules = Figment::from(Toml::string(include_str!("../../config/rules.toml")))
            .merge(Toml::string(include_str!("../../config/nurture.toml")))
            .extract()
            .expect("config/rules.toml and nurture.toml parse");
        rules.validate().expect("config/rules.toml is valid");
        rules
    }

    #[test]
    fn the_shipped_rules_hold_the_design_defaults() {
        let rules = default_rules();
        assert_eq!((rules.mql.fit, rules.mql.intent), (60, 40.0));
        assert_eq!(
            rules.intent.decay,
            Decay {
                mode: DecayMode::Step,
                half_life_days: 30
            }
        );
        assert_eq!(rules.intent.weights[&EventType::DemoRequest], 50.0);
    }

    #[test]
    fn validation_names_the_key_at_fault() {
        let mut rules = default_rules();
        rules.fit.employee_range.min = 6_000;
        assert_eq!(rules.validate().unwrap_err().key, "fit.employee_range");

        let mut rules = default_rules();
        rules.fit.out_of_geo.values.push("usa".into());
        assert_eq!(rules.validate().unwrap_err().key, "fit.out_of_geo.values");

        let mut rules = default_rules();
        rules.fit.target_industry.values.push("SaaS".into());
        assert_eq!(
            rules.validate().unwrap_err().key,
            "fit.target_industry.values"
        );

        let mut rules = default_rules();
        rules.intent.weights.insert(EventType::PageView, -1.0);
        assert_eq!(
            rules.validate().unwrap_err().key,
            "intent.weights.page_view"
        );

        let mut rules = default_rules();
        rules.intent.decay.half_life_days = 0;
        assert_eq!(
            rules.validate().unwrap_err().key,
            "intent.decay.half_life_days"
        );
    }

    #[test]
    fn an_opener_may_not_put_an_article_before_the_trigger() {
        let mut rules = default_rules();
        let late = "Hi {first_name}, I saw {company} came in through a {trigger}.";
        rules.handoff.openers.insert("late".into(), late.into());
        let refused = rules.validate().unwrap_err();
        assert_eq!(refused.key, "handoff.openers.late");
        let fine = "Hi {first_name}, {trigger} from {company} caught my eye. A day well spent.";
        rules.handoff.openers.insert("late".into(), fine.into());
        rules.validate().unwrap();
    }

    #[test]
    fn the_version_changes_with_any_rule() {
        let rules = default_rules();
        let mut tuned = rules.clone();
        tuned.mql.intent = 45.0;
        assert_eq!(rules.version(), default_rules().version());
        assert_ne!(rules.version(), tuned.version());
        assert_eq!(rules.version().len(), 12);
    }
}
