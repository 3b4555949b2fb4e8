//! Recycled leads: a rep rejected the lead for a reason that sends it back to nurture (timing,
//! budget: `nurture.recycle_on`). The intent it had then is what the rep turned down, so it
//! comes back to sales only when what it has done since the rejection earns the MQL
//! thresholds on its own.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Absorbed, IntentRules, IntentState, Observed};
use crate::domain::EventType;

/// The intent of a lead's signals since a rep last rejected it, folded like the lead's own.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SinceRejection {
    pub rejected_at: DateTime<Utc>,
    #[serde(default)]
    pub intent: IntentState,
}

impl SinceRejection {
    pub fn new(rejected_at: DateTime<Utc>) -> Self {
        SinceRejection {
            rejected_at,
            intent: IntentState::default(),
        }
    }

    /// Takes a lead's new events, given in `occurred_at` order; those that occurred at or
    /// before the rejection do not count, however late they arrive (the rep saw them, or could
    /// have). Returns `false`, with nothing
    /// changed, when one needs the history ([`Absorbed::NeedsHistory`]): then [`Self::refold`].
    pub fn absorb(&mut self, events: &[Observed<'_>], rules: &IntentRules) -> bool {
        let mut intent = self.intent.clone();
        for event in events.iter().filter(|e| e.occurred_at > self.rejected_at) {
            match intent.absorb(event.event_type, event.occurred_at, rules) {
                Absorbed::Unchanged => {}
                Absorbed::Updated(next) => intent = next,
                Absorbed::NeedsHistory => return false,
            }
        }
        self.intent = intent;
        true
    }

    /// Rebuilds the intent from the lead's whole history of (type, occurred_at).
    pub fn refold(&mut self, history: &[(EventType, DateTime<Utc>)], rules: &IntentRules) {
        let since = self.rejected_at;
        self.intent =
            IntentState::fold(history.iter().copied().filter(|(_, at)| *at > since), rules);
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;
    use crate::{
        domain::{EventType::*, Profile},
        engine::rules::tests::default_rules,
    };

    fn day(d: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 1, 9, 0, 0).unwrap() + Duration::days(d)
    }

    fn observed<'p>(events: &[(EventType, i64)], profile: &'p Profile) -> Vec<Observed<'p>> {
        events
            .iter()
            .map(|(t, d)| Observed {
                event_type: *t,
                occurred_at: day(*d),
                profile,
            })
            .collect()
    }

    #[test]
    fn only_signals_since_the_rejection_count_in_any_arrival_order() {
        let rules = default_rules().intent;
        let none = Profile::default();
        let history = [
            (DemoRequest, 9),
            (PricingPageVisit, 10),
            (ComparisonPageVisit, 12),
            (ContentDownload, 15),
        ];

        let mut in_order = SinceRejection::new(day(10) - Duration::seconds(1));
        assert!(in_order.absorb(&observed(&history, &none), &rules));
        // The demo before the rejection is what the rep turned down: 25 + 20 + 10.
        assert_eq!(in_order.intent.score_at(day(15), &rules), 55.0);

        let mut late = SinceRejection::new(day(10) - Duration::seconds(1));
        for event in [history[3], history[0], history[1], history[2]] {
            assert!(late.absorb(&observed(&[event], &none), &rules));
        }
        assert_eq!(late, in_order);

        let mut refolded = SinceRejection::new(day(10) - Duration::seconds(1));
        refolded.refold(&history.map(|(t, d)| (t, day(d))), &rules);
        assert_eq!(refolded, in_order);
    }

    #[test]
    fn reads_the_state_the_migration_gives_leads_rejected_before_it_was_kept() {
        // jsonb_build_object('rejected_at', stage_changed_at), as PostgreSQL renders it.
        let stored = r#"{"rejected_at": "2026-11-20T15:00:00.123456+00:00"}"#;
        let since: SinceRejection = serde_json::from_str(stored).unwrap();
        assert_eq!(
            since.rejected_at.to_rfc3339(),
            "2026-11-20T15:00:00.123456+00:00"
        );
        assert_eq!(since.intent, IntentState::default());
    }

    #[test]
    fn a_late_signal_that_changes_the_decay_since_the_rejection_needs_the_history() {
        let rules = default_rules().intent;
        let none = Profile::default();
        let mut since = SinceRejection::new(day(0));
        assert!(since.absorb(&observed(&[(PricingPageVisit, 40)], &none), &rules));
        let mut carried = since.clone();
        assert!(carried.absorb(&observed(&[(DemoRequest, 80)], &none), &rules));
        let before = carried.clone();
        // Day 45 falls between the two, after a decaying gap: the history decides.
        assert!(!carried.absorb(&observed(&[(ContentDownload, 45)], &none), &rules));
        assert_eq!(carried, before, "nothing changed");
        let history = [
            (PricingPageVisit, day(40)),
            (ContentDownload, day(45)),
            (DemoRequest, day(80)),
        ];
        carried.refold(&history, &rules);
        // 25 + 10 halved over the 35 days to the demo, + 50.
        assert_eq!(carried.intent.score_at(day(80), &rules), 67.5);
    }
}
