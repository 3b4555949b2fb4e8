use std::{fmt, str::FromStr};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Email, EventType, Profile};

/// A lead as a calibration request describes it (preview, backtest): attributes and dated
/// events, never stored.
#[derive(Clone, Debug, PartialEq)]
pub struct LeadRecord {
    /// The caller's label for the record, echoed in the answer.
    pub id: Option<String>,
    pub email: Email,
    /// Attributes known from the start; an event's own fields replace them from its time on.
    pub profile: Profile,
    /// The tier of the lead's account on the tiered list, if it is on it.
    pub account_tier: Option<u8>,
    /// In any order: they are replayed in `occurred_at` order.
    pub events: Vec<RecordEvent>,
    /// How the deal ended (backtest records).
    pub outcome: Option<Outcome>,
}

impl LeadRecord {
    /// When its last event occurred: what a backtest replays it up to.
    pub fn last_event_at(&self) -> Option<DateTime<Utc>> {
        self.events.iter().map(|e| e.occurred_at).max()
    }
}

/// One dated event of a [`LeadRecord`].
#[derive(Clone, Debug, PartialEq)]
pub struct RecordEvent {
    pub event_type: EventType,
    pub occurred_at: DateTime<Utc>,
    /// Profile fields the event carried.
    pub profile: Profile,
}

/// How an opportunity ended: what a backtest compares the model against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    ClosedWon,
    ClosedLost,
}

/// An outcome name other than `closed_won` and `closed_lost`.
#[derive(Debug, thiserror::Error)]
#[error("unknown outcome {0:?}; expected closed_won or closed_lost")]
pub struct UnknownOutcome(pub String);

impl Outcome {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::ClosedWon => "closed_won",
            Outcome::ClosedLost => "closed_lost",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Outcome {
    type Err = UnknownOutcome;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "closed_won" => Ok(Outcome::ClosedWon),
            "closed_lost" => Ok(Outcome::ClosedLost),
            other => Err(UnknownOutcome(other.to_owned())),
        }
    }
}
