//! The rules engine: pure functions of (lead state, events, rules, now).
//!
//! No database, no clock, no HTTP in here (DESIGN §1): the same functions serve live
//! ingestion, previews, backtests and rescoring, and are tested with the design's numbers.

mod activity;
mod backtest;
mod decay;
mod disqualify;
mod evaluate;
mod fit;
mod fold;
mod handoff;
mod intent;
pub mod model;
mod nurture;
mod qualification;
mod recycle;
mod replay;
mod rules;
mod segment;
mod sla;

pub use activity::Activity;
pub use backtest::{
    AxisError, Capture, Cell, DEFAULT_TARGET, Grid, MAX_AXIS_MAGNITUDE, MAX_AXIS_VALUES,
    Report as BacktestReport, Tally as BacktestTally, axis, backtest, percent,
};
pub use decay::decay_factor;
pub use disqualify::{
    Condition, Disqualification, DisqualifyFacts, DisqualifyRule, first_hit, inactive_cutoff,
    passed, size_cutoff,
};
pub use evaluate::{Evaluation, LeadFacts, StageChange, evaluate};
pub use fit::{FitHit, FitScore, score_fit};
pub use fold::{Built, Observed, Parts};
pub use handoff::{
    Choice, ContextPacket, HandoffRules, PacketFacts, PacketOwner, RepFacts, RoutingFacts,
    SalesAction, Touch, choose, may_accept, next_stage, packet,
};
pub use intent::{Absorbed, IntentSignal, IntentState};
pub use nurture::{
    Asset, Channel, NurtureEvent, NurtureFacts, NurtureRecord, NurtureRules, NurtureState,
    RecordKind, Signal, step as nurture_step, workflow_name,
};
pub use qualification::{
    Framework, LadderFacts, LadderRule, MEDDIC_FIELDS, QualificationRules, Stated,
    framework as qualification_framework, problems as qualification_problems,
};
pub use recycle::SinceRejection;
pub use replay::{Replay, Step, replay};
pub use rules::{
    AccountRules, Decay, DecayMode, FitRules, IntentRules, MqlThresholds, RuleError, RuleSet, Rules,
};
pub use segment::{BehaviourRule, Segment, SegmentationRules, TIERS};
pub use sla::{BusinessCalendar, SlaDeadlines, SlaRules, TimeOfDay, Zone, deadlines};
