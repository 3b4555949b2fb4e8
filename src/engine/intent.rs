//! Intent_Score: what the lead is doing, folded over its events in `occurred_at` order.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{IntentRules, decay_factor};
use crate::domain::EventType;

/// The intent a lead has built up, as of its last activity. Decay to "now" is applied on read
/// ([`IntentState::score_at`]), so the stored state never goes stale.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct IntentState {
    /// The score right after the last intent signal.
    pub at_last_activity: f64,
    /// When the last intent signal occurred; `None` until the first one.
    pub last_activity_at: Option<DateTime<Utc>>,
    /// Raw (undecayed) count and points per signal type: the intent breakdown.
    pub signals: BTreeMap<EventType, IntentSignal>,
    /// The first signal after the last gap that decayed intent (or the first signal at all):
    /// from here to the last activity nothing decayed, so a late signal at or after it adds
    /// its weight as it is, without the history. `None` when unknown (stored before it was
    /// kept): then a late signal refolds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub streak_from: Option<DateTime<Utc>>,
    /// Whether the streak began with the lead's first signal, so that no decayed intent is
    /// carried into it: then a late signal before the streak, close enough not to decay, only
    /// starts it earlier. `false` when unknown (stored before it was kept).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub streak_whole: bool,
}

/// How often a signal type occurred and the raw points it brought.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct IntentSignal {
    pub count: u32,
    pub points: f64,
}

/// What [`IntentState::absorb`] made of one event.
#[derive(Clone, Debug, PartialEq)]
pub enum Absorbed {
    /// The event is no intent signal: nothing changes.
    Unchanged,
    /// The event is the newest signal: here is the new state.
    Updated(IntentState),
    /// The event occurred before the intent streak, where earlier signals decayed or it would
    /// itself decay before the streak: the decay between signals changes, so the state must be
    /// refolded from the full history ([`IntentState::fold`]).
    NeedsHistory,
}

impl IntentState {
    /// Folds a lead's events in `occurred_at` order, whatever order they are given in.
    pub fn fold(
        events: impl IntoIterator<Item = (EventType, DateTime<Utc>)>,
        rules: &IntentRules,
    ) -> Self {
        let mut signals: Vec<(DateTime<Utc>, EventType, f64)> = events
            .into_iter()
            .filter_map(|(t, at)| rules.weights.get(&t).map(|w| (at, t, *w)))
            .collect();
        // Ties in time are ordered by type so the result cannot depend on arrival order.
        signals.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
        let mut state = IntentState::default();
        for (at, event_type, weight) in signals {
            state.add(event_type, weight, at, rules);
        }
        state
    }

    /// Takes one new event without the history when it can (the common, in-order case).
    pub fn absorb(
        &self,
        event_type: EventType,
        at: DateTime<Utc>,
        rules: &IntentRules,
    ) -> Absorbed {
        let Some(weight) = rules.weights.get(&event_type) else {
            return Absorbed::Unchanged;
        };
        let late = self.last_activity_at.is_some_and(|last| at < last);
        let mut next = self.clone();
        if late && self.streak_from.is_none_or(|from| at < from) {
            // Before the streak, the gaps between earlier signals change how they decayed,
            // which only the history tells; unless there were none, and the gap to the
            // streak is too short to decay: then the event is the streak's new first signal.
            match self.streak_from {
                Some(from) if self.streak_whole && decay_factor(&rules.decay, at, from) >= 1.0 => {
                    next.streak_from = Some(at);
                }
                _ => return Absorbed::NeedsHistory,
            }
        }
        if late {
            // Inside the streak the event only splits a gap too short to decay into two
            // shorter ones: nothing before or after it decays differently.
            next.at_last_activity += weight;
            next.count(event_type, *weight);
        } else {
            next.add(event_type, *weight, at, rules);
        }
        Absorbed::Updated(next)
    }

    fn add(&mut self, event_type: EventType, weight: f64, at: DateTime<Utc>, rules: &IntentRules) {
        let factor = self
            .last_activity_at
            .map_or(0.0, |last| decay_factor(&rules.decay, last, at));
        if factor < 1.0 {
            self.streak_from = Some(at);
            self.streak_whole = self.last_activity_at.is_none();
        }
        self.at_last_activity = self.at_last_activity * factor + weight;
        self.last_activity_at = Some(at);
        self.count(event_type, weight);
    }

    fn count(&mut self, event_type: EventType, weight: f64) {
        let signal = self.signals.entry(event_type).or_default();
        signal.count += 1;
        signal.points += weight;
    }

    /// The decay factor applying at `now`.
    pub fn decay_at(&self, now: DateTime<Utc>, rules: &IntentRules) -> f64 {
        self.last_activity_at
            .map_or(1.0, |last| decay_factor(&rules.decay, last, now))
    }

    /// Intent as of `now`, rounded to hundredths: the number shown everywhere and compared
    /// with the MQL threshold, so what a rep sees is what the rules used.
    pub fn score_at(&self, now: DateTime<Utc>, rules: &IntentRules) -> f64 {
        round_hundredths(self.at_last_activity * self.decay_at(now, rules))
    }
}

fn round_hundredths(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};
    use proptest::prelude::*;

    use super::*;
    use crate::engine::{Decay, DecayMode, rules::tests::default_rules};
    use EventType::*;

    fn rules() -> IntentRules {
        default_rules().intent
    }

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 1, 9, 0, 0).unwrap()
    }

    fn day(d: i64) -> DateTime<Utc> {
        t0() + Duration::days(d)
    }

    fn score(events: &[(EventType, i64)], now_day: i64) -> f64 {
        let state = IntentState::fold(events.iter().map(|(t, d)| (*t, day(*d))), &rules());
        state.score_at(day(now_day), &rules())
    }

    #[test]
    fn each_signal_has_its_design_weight() {
        assert_eq!(score(&[(DemoRequest, 0)], 0), 50.0);
        assert_eq!(score(&[(PricingPageVisit, 0)], 0), 25.0);
        assert_eq!(score(&[(ComparisonPageVisit, 0)], 0), 20.0);
        assert_eq!(score(&[(ContentDownload, 0)], 0), 10.0);
    }

    #[test]
    fn events_without_a_weight_add_nothing() {
        for t in [
            FormSubmission,
            EmailOpen,
            EmailClick,
            WebinarAttended,
            PageView,
            ProfileUpdate,
            OptOut,
        ] {
            assert_eq!(score(&[(t, 0)], 0), 0.0, "{t}");
        }
    }

    #[test]
    fn pricing_and_comparison_make_45_pricing_and_download_35() {
        assert_eq!(
            score(&[(PricingPageVisit, 0), (ComparisonPageVisit, 1)], 1),
            45.0
        );
        assert_eq!(
            score(&[(PricingPageVisit, 0), (ContentDownload, 1)], 1),
            35.0
        );
    }

    #[test]
    fn fifty_points_idle_29_days_is_50_then_25_then_12_5() {
        assert_eq!(score(&[(DemoRequest, 0)], 29), 50.0);
        assert_eq!(score(&[(DemoRequest, 0)], 30), 25.0);
        assert_eq!(score(&[(DemoRequest, 0)], 60), 12.5);
    }

    #[test]
    fn decay_between_signals_is_applied_before_the_next_one_adds() {
        // 50 decays to 25 over 30 idle days, then the pricing visit adds 25.
        assert_eq!(score(&[(DemoRequest, 0), (PricingPageVisit, 30)], 30), 50.0);
        // A new signal restarts the clock: 29 days after it, no decay yet.
        assert_eq!(score(&[(DemoRequest, 0), (PricingPageVisit, 30)], 59), 50.0);
        assert_eq!(score(&[(DemoRequest, 0), (PricingPageVisit, 30)], 60), 25.0);
    }

    #[test]
    fn reversed_order_gives_the_same_scores() {
        let events = [
            (DemoRequest, 0),
            (PricingPageVisit, 31),
            (ContentDownload, 45),
        ];
        let mut reversed = events;
        reversed.reverse();
        assert_eq!(score(&events, 80), score(&reversed, 80));
        assert_eq!(score(&events, 80), 30.0);
    }

    #[test]
    fn the_breakdown_counts_raw_points_per_signal() {
        let events = [
            (PricingPageVisit, 0),
            (PricingPageVisit, 40),
            (DemoRequest, 41),
        ];
        let state = IntentState::fold(events.iter().map(|(t, d)| (*t, day(*d))), &rules());
        assert_eq!(
            state.signals[&PricingPageVisit],
            IntentSignal {
                count: 2,
                points: 50.0
            }
        );
        assert_eq!(
            state.signals[&DemoRequest],
            IntentSignal {
                count: 1,
                points: 50.0
            }
        );
        assert_eq!(state.last_activity_at, Some(day(41)));
        assert_eq!(state.at_last_activity, 12.5 + 25.0 + 50.0);
    }

    #[test]
    fn absorb_asks_for_history_only_for_a_signal_older_than_the_streak() {
        // Demo at day 10, then pricing at 40 after a decaying gap: the streak starts at 40.
        let state = IntentState::fold(
            [(DemoRequest, day(10)), (PricingPageVisit, day(40))],
            &rules(),
        );
        assert_eq!(state.streak_from, Some(day(40)));
        assert_eq!(
            state.absorb(PageView, day(0), &rules()),
            Absorbed::Unchanged
        );
        assert_eq!(
            state.absorb(PricingPageVisit, day(39), &rules()),
            Absorbed::NeedsHistory
        );
        let Absorbed::Updated(next) = state.absorb(PricingPageVisit, day(40), &rules()) else {
            panic!("a signal at the same moment is in order");
        };
        assert_eq!(next.at_last_activity, 75.0);

        // Within the streak a late signal adds its weight as is, and the result is the fold's.
        let in_order = IntentState::fold(
            [
                (DemoRequest, day(10)),
                (PricingPageVisit, day(40)),
                (ContentDownload, day(50)),
            ],
            &rules(),
        );
        let Absorbed::Updated(late) = in_order.absorb(ComparisonPageVisit, day(45), &rules())
        else {
            panic!("a signal within the streak needs no history");
        };
        let folded = IntentState::fold(
            [
                (DemoRequest, day(10)),
                (PricingPageVisit, day(40)),
                (ComparisonPageVisit, day(45)),
                (ContentDownload, day(50)),
            ],
            &rules(),
        );
        assert_eq!(late, folded);
        assert_eq!(late.at_last_activity, 25.0 + 25.0 + 20.0 + 10.0);
    }

    #[test]
    fn a_signal_shortly_before_a_whole_streak_starts_it_earlier_without_history() {
        // Every signal so far is one streak: nothing decayed is carried into it.
        let state = IntentState::fold(
            [(PricingPageVisit, day(10)), (ContentDownload, day(20))],
            &rules(),
        );
        assert_eq!(state.streak_from, Some(day(10)));
        assert!(state.streak_whole);

        // 29 days before the streak: too close to decay, so it becomes the streak's start.
        let Absorbed::Updated(late) = state.absorb(DemoRequest, day(-19), &rules()) else {
            panic!("a signal shortly before a whole streak needs no history");
        };
        let folded = IntentState::fold(
            [
                (DemoRequest, day(-19)),
                (PricingPageVisit, day(10)),
                (ContentDownload, day(20)),
            ],
            &rules(),
        );
        assert_eq!(late, folded);
        assert_eq!(late.streak_from, Some(day(-19)));
        assert_eq!(late.at_last_activity, 50.0 + 25.0 + 10.0);

        // 30 days before it, the demo would have halved by the first visit: only the history
        // tells, as it does for a streak that carries decayed intent.
        assert_eq!(
            state.absorb(DemoRequest, day(-20), &rules()),
            Absorbed::NeedsHistory
        );
        let carried = IntentState::fold(
            [(DemoRequest, day(0)), (PricingPageVisit, day(40))],
            &rules(),
        );
        assert!(!carried.streak_whole);
        assert_eq!(
            carried.absorb(ContentDownload, day(39), &rules()),
            Absorbed::NeedsHistory
        );
    }

    #[test]
    fn continuous_half_life_is_a_config_option() {
        let mut rules = rules();
        rules.decay = Decay {
            mode: DecayMode::Continuous,
            half_life_days: 30,
        };
        let state = IntentState::fold([(DemoRequest, day(0))], &rules);
        assert_eq!(state.score_at(day(15), &rules), 35.36);
        assert_eq!(state.score_at(day(30), &rules), 25.0);
    }

    fn signal_type() -> impl Strategy<Value = EventType> {
        prop::sample::select(EventType::ALL.to_vec())
    }

    proptest! {
        /// However events arrive, one by one with refolds when late, the state equals the
        /// fold of the whole history in occurred_at order.
        #[test]
        fn arrival_order_never_changes_the_result(
            events in prop::collection::vec((signal_type(), 0i64..200, 0i64..86_400), 1..25),
            order in prop::collection::vec(any::<prop::sample::Index>(), 25),
        ) {
            let rules = rules();
            let timed: Vec<(EventType, DateTime<Utc>)> = events
                .iter()
                .map(|(t, d, s)| (*t, day(*d) + Duration::seconds(*s)))
                .collect();
            let mut arrival = timed.clone();
            for (i, idx) in order.iter().enumerate().take(arrival.len()) {
                let j = idx.index(arrival.len());
                arrival.swap(i, j);
            }

            let mut live = IntentState::default();
            let mut seen = Vec::new();
            for (t, at) in &arrival {
                seen.push((*t, *at));
                live = match live.absorb(*t, *at, &rules) {
                    Absorbed::Unchanged => live,
                    Absorbed::Updated(next) => next,
                    Absorbed::NeedsHistory => IntentState::fold(seen.iter().copied(), &rules),
                };
            }
            let folded = IntentState::fold(timed, &rules);
            prop_assert_eq!(live.score_at(day(250), &rules), folded.score_at(day(250), &rules));
            prop_assert_eq!(live.at_last_activity, folded.at_last_activity);
            prop_assert_eq!(live.last_activity_at, folded.last_activity_at);
            prop_assert_eq!(live.streak_from, folded.streak_from);
            prop_assert_eq!(live.streak_whole, folded.streak_whole);
            prop_assert_eq!(live.signals, folded.signals);
        }
    }
}
