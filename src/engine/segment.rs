//! Segmentation: the two routing keys every qualified lead carries, demand state and account
//! tier (DESIGN §2). A lead reaching MQL without both goes to the manual review queue.

use serde::{Deserialize, Serialize};

use crate::domain::EventType;

/// `[segmentation]` in `config/rules.toml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentationRules {
    /// The demand states a lead can be in; a MAP may send any of them.
    pub demand_states: Vec<String>,
    /// The tier of leads whose account is not on the tiered list; none = unknown.
    #[serde(default)]
    pub default_tier: Option<u8>,
    /// Demand state from behaviour, in priority order: the first rule matching any event the
    /// lead has done sets it.
    pub behaviour: Vec<BehaviourRule>,
}

/// Events that put a lead in a demand state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BehaviourRule {
    pub state: String,
    pub events: Vec<EventType>,
}

/// Tiers of the account list: Tier 1 named accounts, Tier 2, Tier 3.
pub const TIERS: [u8; 3] = [1, 2, 3];

/// A lead's routing keys; either may be unknown.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Segment {
    pub demand_state: Option<String>,
    pub account_tier: Option<u8>,
}

impl Segment {
    /// The lead's segment: the MAP's demand state if it sent one, else the one behaviour
    /// derived; its account's tier, else the configured default.
    pub fn of(
        sent_state: Option<&str>,
        derived_state: Option<&str>,
        account_tier: Option<u8>,
        rules: &SegmentationRules,
    ) -> Self {
        Segment {
            demand_state: sent_state.or(derived_state).map(str::to_owned),
            account_tier: account_tier.or(rules.default_tier),
        }
    }

    /// What the lead lacks to be routed, by field name.
    pub fn missing(&self) -> Vec<String> {
        let mut missing = Vec::new();
        if self.demand_state.is_none() {
            missing.push("demand_state".to_owned());
        }
        if self.account_tier.is_none() {
            missing.push("account_tier".to_owned());
        }
        missing
    }
}

/// The state an event type points to, from the first behaviour rule listing it.
pub fn state_for(event_type: EventType, rules: &SegmentationRules) -> Option<&str> {
    rules
        .behaviour
        .iter()
        .find(|r| r.events.contains(&event_type))
        .map(|r| r.state.as_str())
}

/// A state's priority among the behaviour rules (lower wins); unranked states rank last.
pub fn rank(state: &str, rules: &SegmentationRules) -> usize {
    rules
        .behaviour
        .iter()
        .position(|r| r.state == state)
        .unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rules::tests::default_rules;

    #[test]
    fn the_map_state_wins_over_behaviour_and_the_default_tier_fills_in() {
        let mut rules = default_rules().segmentation;
        let s = Segment::of(Some("early"), Some("late"), Some(2), &rules);
        assert_eq!(s.demand_state.as_deref(), Some("early"));
        assert_eq!(s.account_tier, Some(2));
        assert!(s.missing().is_empty());

        let s = Segment::of(None, None, None, &rules);
        assert_eq!(s.missing(), ["demand_state", "account_tier"]);

        rules.default_tier = Some(3);
        let s = Segment::of(None, Some("late"), None, &rules);
        assert_eq!(s.account_tier, Some(3));
        assert_eq!(s.demand_state.as_deref(), Some("late"));
    }

    #[test]
    fn default_behaviour_rules() {
        let rules = default_rules().segmentation;
        assert_eq!(state_for(EventType::PricingPageVisit, &rules), Some("late"));
        assert_eq!(
            state_for(EventType::ComparisonPageVisit, &rules),
            Some("late")
        );
        assert_eq!(state_for(EventType::DemoRequest, &rules), Some("late"));
        assert_eq!(state_for(EventType::ContentDownload, &rules), Some("early"));
        assert_eq!(state_for(EventType::WebinarAttended, &rules), Some("early"));
        assert_eq!(state_for(EventType::EmailOpen, &rules), Some("early"));
        assert_eq!(state_for(EventType::PageView, &rules), None);
        assert!(rank("late", &rules) < rank("early", &rules));
    }
}
