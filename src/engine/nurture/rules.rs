//! The nurture rules as data (`config/nurture.toml`): the asset catalogue, one workflow per
//! demand state × tier, the engagement triggers, and how each tier involves sales.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::super::{RuleError, rules::problem, segment::TIERS};
use crate::domain::{EventType, RejectReason};

/// `[nurture]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NurtureRules {
    /// Off: nobody is enrolled, moved or touched (leads already enrolled stay as they are).
    pub enabled: bool,
    /// Rejections after which a lead goes back to nurture rather than out of the funnel.
    pub recycle_on: Vec<RejectReason>,
    pub assets: Vec<Asset>,
    /// `Nurture_<DemandState>_<Tier>` → asset ids, in the order they are sent.
    pub workflows: BTreeMap<String, Vec<String>>,
    pub triggers: Vec<Trigger>,
    /// How sales takes part, per tier.
    pub tiers: Vec<TierBehaviour>,
}

/// A piece of content or a touch a workflow sends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Asset {
    pub id: String,
    pub title: String,
    pub channel: Channel,
    #[serde(default)]
    pub tags: Vec<String>,
}

/// How a touch reaches the lead: the MAP sends emails and retargeting; a sales touch is a task
/// for the owner rep.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Retargeting,
    SalesTouch,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Retargeting => "retargeting",
            Channel::SalesTouch => "sales_touch",
        }
    }
}

/// Engagement that moves a lead on: every condition met by events within `within_hours` of
/// each other, at least one of them the event just received.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    pub name: String,
    pub when_all: Vec<TriggerCondition>,
    pub within_hours: u32,
    /// Assets to jump forward (0: notify only).
    pub advance: usize,
    /// Tell the owner rep (in tiers whose `notify` is `flagged`).
    #[serde(default)]
    pub notify_owner: bool,
    /// The lead asked for sales: tiers whose `notify` is `hand_raise` only react to these.
    #[serde(default)]
    pub hand_raise: bool,
}

/// `count` events of one of `events`; with `asset`, only events about that asset (the
/// event's `properties.asset_id`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerCondition {
    pub events: Vec<EventType>,
    #[serde(default)]
    pub asset: Option<String>,
    #[serde(default = "one")]
    pub count: usize,
}

fn one() -> usize {
    1
}

/// How one tier involves sales.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierBehaviour {
    pub tier: u8,
    /// The owner is told at enrollment and sales touches are tasks for them; only such tiers
    /// may have sales touches in their workflows.
    #[serde(default)]
    pub sales_assisted: bool,
    pub notify: NotifyPolicy,
}

/// Which fired triggers reach the owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyPolicy {
    EveryTrigger,
    Flagged,
    HandRaise,
}

impl NotifyPolicy {
    pub fn notifies(self, trigger: &Trigger) -> bool {
        match self {
            NotifyPolicy::EveryTrigger => true,
            NotifyPolicy::Flagged => trigger.notify_owner || trigger.hand_raise,
            NotifyPolicy::HandRaise => trigger.hand_raise,
        }
    }
}

/// Workflows hold 4 to 7 assets (DESIGN §2).
pub const WORKFLOW_LEN: std::ops::RangeInclusive<usize> = 4..=7;

/// The name of the workflow for a segment.
pub fn workflow_name(demand_state: &str, tier: u8) -> String {
    format!("Nurture_{demand_state}_{tier}")
}

impl NurtureRules {
    pub fn asset(&self, id: &str) -> Option<&Asset> {
        self.assets.iter().find(|a| a.id == id)
    }

    pub fn tier(&self, tier: u8) -> Option<&TierBehaviour> {
        self.tiers.iter().find(|t| t.tier == tier)
    }

    /// The longest trigger window: older signals can no longer count.
    pub fn memory_hours(&self) -> u32 {
        self.triggers
            .iter()
            .map(|t| t.within_hours)
            .max()
            .unwrap_or(0)
    }

    /// Checks what serde cannot, against the demand states in use.
    pub fn validate(&self, demand_states: &[String]) -> Result<(), RuleError> {
        self.validate_assets()?;
        self.validate_tiers()?;
        self.validate_workflows(demand_states)?;
        self.validate_triggers()
    }

    fn validate_assets(&self) -> Result<(), RuleError> {
        let mut seen = BTreeSet::new();
        for (i, asset) in self.assets.iter().enumerate() {
            if asset.id.trim().is_empty() || asset.title.trim().is_empty() {
                return Err(problem(
                    &format!("nurture.assets[{i}]"),
                    "needs a non-empty id and title",
                ));
            }
            if !seen.insert(asset.id.as_str()) {
                return Err(problem(
                    &format!("nurture.assets[{i}].id"),
                    format!("{:?} is listed twice", asset.id),
                ));
            }
        }
        Ok(())
    }

    fn validate_tiers(&self) -> Result<(), RuleError> {
        for (i, t) in self.tiers.iter().enumerate() {
            if !TIERS.contains(&t.tier) || self.tiers[..i].iter().any(|o| o.tier == t.tier) {
                return Err(problem(
                    &format!("nurture.tiers[{i}].tier"),
                    format!("{} is not a tier (1, 2, 3) or is listed twice", t.tier),
                ));
            }
        }
        if let Some(missing) = TIERS.iter().find(|t| self.tier(**t).is_none()) {
            return Err(problem(
                "nurture.tiers",
                format!("tier {missing} has no behaviour"),
            ));
        }
        Ok(())
    }

    fn validate_workflows(&self, demand_states: &[String]) -> Result<(), RuleError> {
        let expected: BTreeSet<String> = demand_states
            .iter()
            .flat_map(|s| TIERS.map(|t| workflow_name(s, t)))
            .collect();
        if let Some(missing) = expected.iter().find(|n| !self.workflows.contains_key(*n)) {
            return Err(problem(
                &format!("nurture.workflows.{missing}"),
                "missing: every demand state × tier combination needs a workflow",
            ));
        }
        let mut channels = BTreeSet::new();
        for (name, assets) in &self.workflows {
            let key = format!("nurture.workflows.{name}");
            if !expected.contains(name) {
                return Err(problem(
                    &key,
                    format!(
                        "no such segment: names are Nurture_<state>_<tier> with states {} and tiers 1, 2, 3",
                        demand_states.join(", ")
                    ),
                ));
            }
            if !WORKFLOW_LEN.contains(&assets.len()) {
                return Err(problem(
                    &key,
                    format!("needs 4 to 7 assets, found {}", assets.len()),
                ));
            }
            let tier = name
                .rsplit('_')
                .next()
                .and_then(|t| t.parse::<u8>().ok())
                .and_then(|t| self.tier(t));
            for id in assets {
                let Some(asset) = self.asset(id) else {
                    return Err(problem(
                        &key,
                        format!("unknown asset {id:?} (not in nurture.assets)"),
                    ));
                };
                if asset.channel == Channel::SalesTouch && !tier.is_some_and(|t| t.sales_assisted) {
                    return Err(problem(
                        &key,
                        format!(
                            "sales touch {id:?} in a tier that is not sales_assisted (nurture.tiers)"
                        ),
                    ));
                }
                channels.insert(asset.channel);
            }
        }
        if channels.len() < 3 {
            return Err(problem(
                "nurture.workflows",
                "the workflows must use at least 3 channels (email, retargeting, sales_touch)",
            ));
        }
        Ok(())
    }

    fn validate_triggers(&self) -> Result<(), RuleError> {
        for (i, trigger) in self.triggers.iter().enumerate() {
            let key = format!("nurture.triggers[{i}]");
            if trigger.name.trim().is_empty()
                || self.triggers[..i].iter().any(|t| t.name == trigger.name)
            {
                return Err(problem(
                    &format!("{key}.name"),
                    format!("{:?} is empty or used twice", trigger.name),
                ));
            }
            if trigger.when_all.is_empty() {
                return Err(problem(
                    &format!("{key}.when_all"),
                    "needs at least one condition",
                ));
            }
            if trigger.within_hours == 0 {
                return Err(problem(
                    &format!("{key}.within_hours"),
                    "must be at least 1",
                ));
            }
            if trigger.advance > *WORKFLOW_LEN.end() {
                return Err(problem(
                    &format!("{key}.advance"),
                    format!("at most {} assets", WORKFLOW_LEN.end()),
                ));
            }
            for (j, condition) in trigger.when_all.iter().enumerate() {
                let key = format!("{key}.when_all[{j}]");
                if condition.events.is_empty() || condition.count == 0 {
                    return Err(problem(&key, "needs at least one event type and count ≥ 1"));
                }
                if let Some(asset) = condition
                    .asset
                    .as_deref()
                    .filter(|a| self.asset(a).is_none())
                {
                    return Err(problem(
                        &format!("{key}.asset"),
                        format!("unknown asset {asset:?} (not in nurture.assets)"),
                    ));
                }
            }
        }
        Ok(())
    }
}
