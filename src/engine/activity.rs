//! What the time-based and behaviour rules remember about a lead. Every field is folded with
//! max, min or "best rank" from each event, so any arrival order gives the same state.

use chrono::{DateTime, Utc};

use super::{Condition, Rules, segment};
use crate::domain::{EventType, Profile, ProfileField, ProfileStamps};

/// A lead's activity facts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Activity {
    /// The latest email open or click, or intent signal: the inactivity clock.
    pub last_engaged_at: Option<DateTime<Utc>>,
    /// The earliest opt-out from sales contact.
    pub opted_out_at: Option<DateTime<Utc>>,
    /// The demand state behaviour points to (used when the MAP sent none).
    pub derived_demand_state: Option<String>,
    /// Since when the reported company size has been below the size rule's floor.
    pub below_size_since: Option<DateTime<Utc>>,
}

impl Activity {
    /// Takes one event.
    pub fn absorb(&mut self, event_type: EventType, at: DateTime<Utc>, rules: &Rules) {
        let engaged = matches!(event_type, EventType::EmailOpen | EventType::EmailClick)
            || rules.intent.weights.contains_key(&event_type);
        if engaged && self.last_engaged_at.is_none_or(|last| at > last) {
            self.last_engaged_at = Some(at);
        }
        if event_type == EventType::OptOut && self.opted_out_at.is_none_or(|first| at < first) {
            self.opted_out_at = Some(at);
        }
        if let Some(state) = segment::state_for(event_type, &rules.segmentation) {
            let rank = |s: &str| segment::rank(s, &rules.segmentation);
            let better = match &self.derived_demand_state {
                None => true,
                Some(current) => rank(state) < rank(current),
            };
            if better {
                self.derived_demand_state = Some(state.to_owned());
            }
        }
    }

    /// Updates the below-floor clock from the merged profile: it starts when the reported
    /// size first drops below the floor and stops when a size at or above it is reported.
    pub fn track_size(&mut self, profile: &Profile, stamps: &ProfileStamps, rules: &Rules) {
        let Some(floor) = size_floor(rules) else {
            return;
        };
        match (
            profile.employee_count,
            stamps.get(&ProfileField::EmployeeCount),
        ) {
            (Some(count), Some(reported)) if count < floor => {
                if self.below_size_since.is_none_or(|since| *reported < since) {
                    self.below_size_since = Some(*reported);
                }
            }
            _ => self.below_size_since = None,
        }
    }
}

/// The employee floor of the first size rule, if any rule tests size.
fn size_floor(rules: &Rules) -> Option<i64> {
    rules.disqualify.iter().find_map(|r| match r.when {
        Condition::BelowSize { employees, .. } => Some(employees),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;
    use crate::engine::rules::tests::default_rules;

    fn at(day: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + Duration::days(day)
    }

    fn fold(events: &[(EventType, i64)]) -> Activity {
        let rules = default_rules();
        let mut activity = Activity::default();
        for (t, day) in events {
            activity.absorb(*t, at(*day), &rules);
        }
        activity
    }

    #[test]
    fn engagement_is_email_opens_clicks_and_intent_signals_only() {
        use EventType::*;
        let a = fold(&[(PageView, 50), (EmailOpen, 10), (ContentDownload, 20)]);
        assert_eq!(
            a.last_engaged_at,
            Some(at(20)),
            "a page view is not engagement"
        );
        assert_eq!(fold(&[(EmailClick, 3)]).last_engaged_at, Some(at(3)));
        assert_eq!(fold(&[(FormSubmission, 3)]).last_engaged_at, None);
    }

    #[test]
    fn any_order_gives_the_same_activity() {
        use EventType::*;
        let events = [
            (ContentDownload, 1),
            (OptOut, 9),
            (PricingPageVisit, 5),
            (OptOut, 4),
            (EmailOpen, 7),
        ];
        let mut reversed = events;
        reversed.reverse();
        let a = fold(&events);
        assert_eq!(a, fold(&reversed));
        assert_eq!(a.opted_out_at, Some(at(4)));
        assert_eq!(a.last_engaged_at, Some(at(7)));
        assert_eq!(a.derived_demand_state.as_deref(), Some("late"));
    }

    #[test]
    fn behaviour_derives_early_then_late_and_late_sticks() {
        use EventType::*;
        assert_eq!(
            fold(&[(WebinarAttended, 1)])
                .derived_demand_state
                .as_deref(),
            Some("early")
        );
        assert_eq!(
            fold(&[(WebinarAttended, 1), (DemoRequest, 2), (EmailOpen, 3)])
                .derived_demand_state
                .as_deref(),
            Some("late")
        );
        assert_eq!(fold(&[(PageView, 1)]).derived_demand_state, None);
    }

    #[test]
    fn the_size_clock_starts_below_the_floor_and_stops_at_it() {
        let rules = default_rules();
        let mut profile = Profile::default();
        let mut stamps = ProfileStamps::new();
        let mut activity = Activity::default();
        let mut report = |count: i64, day: i64, activity: &mut Activity| {
            let update = Profile {
                employee_count: Some(count),
                ..Profile::default()
            };
            profile.merge(&mut stamps, &update, at(day));
            activity.track_size(&profile, &stamps, &rules);
        };
        report(30, 10, &mut activity);
        assert_eq!(activity.below_size_since, Some(at(10)));
        report(40, 20, &mut activity);
        assert_eq!(
            activity.below_size_since,
            Some(at(10)),
            "still below: clock runs on"
        );
        report(50, 30, &mut activity);
        assert_eq!(activity.below_size_since, None);
        report(45, 40, &mut activity);
        assert_eq!(activity.below_size_since, Some(at(40)));
    }
}
