//! How events build a lead up: profile fields (latest `occurred_at` wins), activity and
//! intent. Live ingestion, previews, backtests and rescoring all fold events through here, so
//! a lead scores the same whichever path saw its events.

use chrono::{DateTime, Utc};

use super::{Absorbed, Activity, IntentState, Rules};
use crate::domain::{EventType, LeadEvent, Profile, ProfileStamps, RecordEvent};

/// One event as the fold sees it.
#[derive(Clone, Copy, Debug)]
pub struct Observed<'a> {
    pub event_type: EventType,
    pub occurred_at: DateTime<Utc>,
    /// Profile fields the event carried.
    pub profile: &'a Profile,
}

impl<'a> From<&'a LeadEvent> for Observed<'a> {
    fn from(event: &'a LeadEvent) -> Self {
        Observed {
            event_type: event.event_type,
            occurred_at: event.occurred_at,
            profile: &event.profile,
        }
    }
}

impl<'a> From<&'a RecordEvent> for Observed<'a> {
    fn from(event: &'a RecordEvent) -> Self {
        Observed {
            event_type: event.event_type,
            occurred_at: event.occurred_at,
            profile: &event.profile,
        }
    }
}

/// The parts of a lead that events build, borrowed from wherever the lead is held (a stored
/// lead, a replayed record).
pub struct Parts<'a> {
    pub profile: &'a mut Profile,
    pub stamps: &'a mut ProfileStamps,
    pub activity: &'a mut Activity,
    pub intent: &'a mut IntentState,
}

/// A lead's event-built parts, owned: what a replay carries from one event to the next.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Built {
    pub profile: Profile,
    pub stamps: ProfileStamps,
    pub activity: Activity,
    pub intent: IntentState,
}

impl Built {
    /// The parts, to fold events into.
    pub fn parts(&mut self) -> Parts<'_> {
        Parts {
            profile: &mut self.profile,
            stamps: &mut self.stamps,
            activity: &mut self.activity,
            intent: &mut self.intent,
        }
    }
}

impl Parts<'_> {
    /// Takes a lead's new events, given in `occurred_at` order: profile fields and activity,
    /// then intent. Returns `false`, with intent untouched, when a signal predates the lead's
    /// intent streak: the decay between signals changes, so intent must be refolded from the
    /// whole history ([`IntentState::fold`]).
    pub fn absorb(&mut self, events: &[Observed<'_>], rules: &Rules) -> bool {
        for event in events {
            self.profile
                .merge(self.stamps, event.profile, event.occurred_at);
            self.activity
                .absorb(event.event_type, event.occurred_at, rules);
        }
        self.activity.track_size(self.profile, self.stamps, rules);
        let mut intent = self.intent.clone();
        for event in events {
            match intent.absorb(event.event_type, event.occurred_at, &rules.intent) {
                Absorbed::Unchanged => {}
                Absorbed::Updated(next) => intent = next,
                Absorbed::NeedsHistory => return false,
            }
        }
        *self.intent = intent;
        true
    }

    /// Rebuilds what the rules derive from a lead's whole history of (type, occurred_at):
    /// activity and intent, so changed weights or behaviour rules take effect. The profile
    /// depends on no rule and is kept (it may hold values a reviewer supplied), and so is the
    /// start of the below-size clock, which the history of sizes alone cannot tell.
    pub fn refold(&mut self, history: &[(EventType, DateTime<Utc>)], rules: &Rules) {
        let mut activity = Activity {
            below_size_since: self.activity.below_size_since,
            ..Activity::default()
        };
        for (event_type, at) in history {
            activity.absorb(*event_type, *at, rules);
        }
        activity.track_size(self.profile, self.stamps, rules);
        *self.activity = activity;
        *self.intent = IntentState::fold(history.iter().copied(), &rules.intent);
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;
    use crate::engine::rules::tests::default_rules;

    fn at(day: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 1, 9, 0, 0).unwrap() + Duration::days(day)
    }

    #[test]
    fn absorb_merges_profile_activity_and_intent() {
        let rules = default_rules();
        let vp = Profile {
            title: Some("VP Sales".into()),
            ..Profile::default()
        };
        let none = Profile::default();
        let mut built = Built::default();
        let events = [
            Observed {
                event_type: EventType::PricingPageVisit,
                occurred_at: at(0),
                profile: &vp,
            },
            Observed {
                event_type: EventType::EmailOpen,
                occurred_at: at(2),
                profile: &none,
            },
        ];
        assert!(built.parts().absorb(&events, &rules));
        assert_eq!(built.profile.title.as_deref(), Some("VP Sales"));
        assert_eq!(built.activity.last_engaged_at, Some(at(2)));
        assert_eq!(built.activity.derived_demand_state.as_deref(), Some("late"));
        assert_eq!(built.intent.at_last_activity, 25.0);

        let late = [Observed {
            // Old enough to decay before the pricing visit: the decay between them changes.
            event_type: EventType::DemoRequest,
            occurred_at: at(-31),
            profile: &none,
        }];
        let before = built.intent.clone();
        assert!(!built.parts().absorb(&late, &rules), "needs the history");
        assert_eq!(built.intent, before, "intent untouched");
    }

    #[test]
    fn refold_applies_new_weights_to_the_whole_history() {
        let mut rules = default_rules();
        let mut built = Built::default();
        let history = [
            (EventType::PageView, at(0)),
            (EventType::PricingPageVisit, at(1)),
        ];
        built.parts().refold(&history, &rules);
        assert_eq!(built.intent.at_last_activity, 25.0);
        assert_eq!(built.activity.last_engaged_at, Some(at(1)));

        rules.intent.weights.insert(EventType::PageView, 5.0);
        rules
            .intent
            .weights
            .insert(EventType::PricingPageVisit, 40.0);
        built.parts().refold(&history, &rules);
        assert_eq!(built.intent.at_last_activity, 45.0);
        assert_eq!(built.intent.signals.len(), 2);
    }
}
