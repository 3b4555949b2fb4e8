//! Replaying a record (a lead described by attributes and dated events, as previews and
//! backtests take them): what live ingestion would have made of it had each event arrived when
//! it occurred. The lead is first seen at its first event; after the events of each moment it
//! is evaluated as of that moment, exactly as ingest evaluates; before each moment, the
//! time-based rules get the say the sweeper would have had in between.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{
    Built, Disqualification, Evaluation, IntentState, LeadFacts, Observed, Rules, evaluate,
};
use crate::domain::{LeadRecord, Stage};

/// One evaluation, after the events of one moment.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Step {
    pub at: DateTime<Utc>,
    pub fit: i32,
    pub intent: f64,
}

/// What the replay of a record came to.
#[derive(Clone, Debug, PartialEq)]
pub struct Replay {
    /// The verdict as of the replay's end (`as_of`): scores, segment, and the stage reached.
    pub evaluation: Evaluation,
    /// The lead's event-built parts at the end (profile, activity, intent with its breakdown).
    pub built: Built,
    /// The evaluation after each moment that had events, until the lead was disqualified.
    /// Which thresholds would have made it MQL follows from these alone (see [`Self::crossed`]).
    pub steps: Vec<Step>,
    /// When it became MQL, if it did.
    pub mql_at: Option<DateTime<Utc>>,
    /// What it lacked for routing when it became MQL (it would wait in the review queue).
    pub review_missing: Option<Vec<String>>,
    /// When and why it was disqualified, if it was.
    pub disqualified: Option<(DateTime<Utc>, Disqualification)>,
    /// Events after `as_of`, left out.
    pub ignored_events: usize,
}

impl Replay {
    /// The first moment at which the lead met `fit` and `intent` before any disqualification:
    /// when it would have become MQL under those thresholds, all other rules unchanged.
    /// Disqualification does not depend on the thresholds, so one replay answers for all.
    pub fn crossed(&self, fit: i32, intent: f64) -> Option<DateTime<Utc>> {
        self.steps
            .iter()
            .find(|s| s.fit >= fit && s.intent >= intent)
            .map(|s| s.at)
    }
}

/// Replays `record` under `rules` up to `as_of`. A record without events is judged once, as
/// of `as_of`, as a lead first seen then.
pub fn replay(record: &LeadRecord, rules: &Rules, as_of: DateTime<Utc>) -> Replay {
    let mut events: Vec<Observed<'_>> = record
        .events
        .iter()
        .filter(|e| e.occurred_at <= as_of)
        .map(Observed::from)
        .collect();
    let ignored_events = record.events.len() - events.len();
    // Stable, so events of one moment keep the order they were given in, as in a batch.
    events.sort_by_key(|e| e.occurred_at);
    let first_seen = events.first().map_or(as_of, |e| e.occurred_at);

    let mut lead = Replayed {
        record,
        built: Built::default(),
        stage: Stage::Lead,
        first_seen,
        trace: Trace::default(),
    };
    let Built {
        profile, stamps, ..
    } = &mut lead.built;
    // The record's own attributes are known from the first moment; an event of that same
    // moment carrying a field still wins (a tie goes to the later merge).
    profile.merge(stamps, &record.profile, first_seen);

    let mut seen = 0;
    for moment in events.chunk_by(|a, b| a.occurred_at == b.occurred_at) {
        let at = moment[0].occurred_at;
        if seen > 0 {
            // The sweeper's turn: time alone may have disqualified the lead since its last
            // event.
            let swept = lead.judge(rules, at);
            lead.sweep(swept, at);
        }
        seen += moment.len();
        if !lead.built.parts().absorb(moment, rules) {
            let history = events[..seen].iter().map(|e| (e.event_type, e.occurred_at));
            lead.built.intent = IntentState::fold(history, &rules.intent);
        }
        let eval = lead.judge(rules, at);
        // A disqualifying evaluation is no step: disqualification is checked before MQL.
        if lead.trace.disqualified.is_none() && eval.disqualification.is_none() {
            lead.trace.steps.push(Step {
                at,
                fit: eval.fit.total,
                intent: eval.intent,
            });
        }
        lead.follow(&eval, at);
    }
    let end = if events.is_empty() {
        let Built {
            profile,
            stamps,
            activity,
            ..
        } = &mut lead.built;
        activity.track_size(profile, stamps, rules);
        let end = lead.judge(rules, as_of);
        if end.disqualification.is_none() {
            lead.trace.steps.push(Step {
                at: as_of,
                fit: end.fit.total,
                intent: end.intent,
            });
        }
        lead.follow(&end, as_of);
        end
    } else {
        let end = lead.judge(rules, as_of);
        lead.sweep(end, as_of)
    };
    Replay {
        evaluation: end,
        built: lead.built,
        steps: lead.trace.steps,
        mql_at: lead.trace.mql_at,
        review_missing: lead.trace.review_missing,
        disqualified: lead.trace.disqualified,
        ignored_events,
    }
}

/// What a replay notes as it goes.
#[derive(Default)]
struct Trace {
    steps: Vec<Step>,
    mql_at: Option<DateTime<Utc>>,
    review_missing: Option<Vec<String>>,
    disqualified: Option<(DateTime<Utc>, Disqualification)>,
}

/// A record being replayed.
struct Replayed<'r> {
    record: &'r LeadRecord,
    built: Built,
    stage: Stage,
    first_seen: DateTime<Utc>,
    trace: Trace,
}

impl Replayed<'_> {
    /// The engine's verdict on the lead as it stands, as of `at`.
    fn judge(&self, rules: &Rules, at: DateTime<Utc>) -> Evaluation {
        let facts = LeadFacts {
            email_domain: self.record.email.domain(),
            profile: &self.built.profile,
            stage: self.stage,
            intent: &self.built.intent,
            activity: &self.built.activity,
            first_seen: self.first_seen,
            account_tier: self.record.account_tier,
            exempt: &[],
            rejection: None,
        };
        evaluate(facts, rules, at)
    }

    /// Moves the lead as `eval` says, noting when it became MQL or was disqualified.
    fn follow(&mut self, eval: &Evaluation, at: DateTime<Utc>) {
        let Some(change) = &eval.change else { return };
        self.stage = change.to;
        if change.to == Stage::Mql {
            self.trace.mql_at = Some(at);
            self.trace.review_missing.clone_from(&eval.review_missing);
        }
        if let Some(hit) = &eval.disqualification {
            self.trace.disqualified = Some((at, hit.clone()));
        }
    }

    /// Takes only a disqualification from `eval`, as the sweeper does (it never makes an
    /// MQL: between events nothing can raise a score); returns `eval` as it applies.
    fn sweep(&mut self, mut eval: Evaluation, at: DateTime<Utc>) -> Evaluation {
        if eval.disqualification.is_some() {
            self.follow(&eval, at);
        } else {
            eval.stage = self.stage;
            eval.change = None;
            eval.review_missing = None;
        }
        eval
    }
}

#[cfg(test)]
mod tests;
