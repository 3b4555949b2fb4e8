//! The rules engine: pure functions of (lead state, events, rules, now).
//!
//! No database, no clock, no HTTP in here (DESIGN §1): the same functions serve live
//! ingestion, previews, backtests and rescoring, and are tested with the design's numbers.

mod decay;
mod evaluate;
mod fit;
mod intent;
mod rules;

pub use decay::decay_factor;
pub use evaluate::{Evaluation, LeadFacts, StageChange, evaluate};
pub use fit::{FitHit, FitScore, score_fit};
pub use intent::{Absorbed, IntentSignal, IntentState};
pub use rules::{
    AccountRules, Decay, DecayMode, FitRules, IntentRules, MqlThresholds, RuleError, RuleSet, Rules,
};
