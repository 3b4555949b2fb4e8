//! Which triggers an event fires, from the engagement signals a lead has shown lately.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::rules::{NurtureRules, Trigger, TriggerCondition};
use crate::domain::EventType;

/// An event a trigger condition can use, remembered for as long as a trigger window lasts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signal {
    pub event: EventType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset: Option<String>,
    pub at: DateTime<Utc>,
}

/// An event as nurture sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NurtureEvent<'a> {
    pub event_type: EventType,
    /// The asset the event is about (`properties.asset_id`), if any.
    pub asset: Option<&'a str>,
    pub at: DateTime<Utc>,
}

impl TriggerCondition {
    fn matches(&self, event: EventType, asset: Option<&str>) -> bool {
        self.events.contains(&event)
            && self
                .asset
                .as_deref()
                .is_none_or(|wanted| asset == Some(wanted))
    }
}

/// Whether any trigger could use `event`.
pub fn is_signal(event: &NurtureEvent<'_>, rules: &NurtureRules) -> bool {
    rules
        .triggers
        .iter()
        .flat_map(|t| &t.when_all)
        .any(|c| c.matches(event.event_type, event.asset))
}

/// The triggers `event` (already among `signals`) completes. A trigger fires at most once per
/// set of signals: `fired` remembers, per trigger, the newest signal it used, and older ones do
/// not count for it again. An event older than a trigger's window as of `now` fires nothing,
/// so a late delivery cannot push a lead for something it did long ago.
pub fn fire<'r>(
    event: &NurtureEvent<'_>,
    signals: &[Signal],
    fired: &mut BTreeMap<String, DateTime<Utc>>,
    rules: &'r NurtureRules,
    now: DateTime<Utc>,
) -> Vec<&'r Trigger> {
    let mut hits = Vec::new();
    for trigger in &rules.triggers {
        let window = Duration::hours(i64::from(trigger.within_hours));
        if event.at < now - window
            || !trigger
                .when_all
                .iter()
                .any(|c| c.matches(event.event_type, event.asset))
        {
            continue;
        }
        let used_up = fired.get(&trigger.name).copied();
        let usable: Vec<&Signal> = signals
            .iter()
            .filter(|s| used_up.is_none_or(|u| s.at > u))
            .filter(|s| (s.at - event.at).abs() <= window)
            .collect();
        let met = trigger.when_all.iter().all(|c| {
            usable
                .iter()
                .filter(|s| c.matches(s.event, s.asset.as_deref()))
                .count()
                >= c.count
        });
        if met {
            let newest = usable.iter().map(|s| s.at).max().unwrap_or(event.at);
            fired.insert(trigger.name.clone(), newest);
            hits.push(trigger);
        }
    }
    hits
}

/// Drops what no trigger can use any more, so the state stays small: signals older than
/// every window, and signals each trigger they match has already fired on (a trigger only
/// counts signals newer than the newest it used, see [`fire`]; a click that advanced a lead
/// is no use to anything after).
pub fn forget_old(
    signals: &mut Vec<Signal>,
    fired: &mut BTreeMap<String, DateTime<Utc>>,
    rules: &NurtureRules,
    now: DateTime<Utc>,
) {
    let horizon = now - Duration::hours(i64::from(rules.memory_hours()));
    let usable = |s: &Signal| {
        rules.triggers.iter().any(|t| {
            fired.get(&t.name).is_none_or(|used_up| s.at > *used_up)
                && t.when_all
                    .iter()
                    .any(|c| c.matches(s.event, s.asset.as_deref()))
        })
    };
    signals.retain(|s| s.at >= horizon && usable(s));
    signals.sort_by_key(|s| s.at);
    fired.retain(|_, at| *at >= horizon);
}
