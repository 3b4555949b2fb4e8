use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

/// Why a rep turns an MQL down: a closed list (DESIGN §2, Handoff), so rejections can be
/// counted and fed back into the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum RejectReason {
    #[serde(rename = "Rejected_NotICP")]
    NotIcp,
    #[serde(rename = "Rejected_WrongTiming")]
    WrongTiming,
    #[serde(rename = "Rejected_NoBudget")]
    NoBudget,
    #[serde(rename = "Rejected_AlreadyInPipeline")]
    AlreadyInPipeline,
}

/// A rejection reason not on the list.
#[derive(Debug, thiserror::Error)]
#[error("unknown rejection reason {0:?}; allowed: {allowed}", allowed = RejectReason::allowed())]
pub struct UnknownRejectReason(pub String);

impl RejectReason {
    /// Every reason.
    pub const ALL: [RejectReason; 4] = [
        RejectReason::NotIcp,
        RejectReason::WrongTiming,
        RejectReason::NoBudget,
        RejectReason::AlreadyInPipeline,
    ];

    /// The stored and serialised name.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::NotIcp => "Rejected_NotICP",
            RejectReason::WrongTiming => "Rejected_WrongTiming",
            RejectReason::NoBudget => "Rejected_NoBudget",
            RejectReason::AlreadyInPipeline => "Rejected_AlreadyInPipeline",
        }
    }

    /// The allowed names, comma-separated, for error messages.
    pub fn allowed() -> String {
        Self::ALL.map(Self::as_str).join(", ")
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RejectReason {
    type Err = UnknownRejectReason;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRejectReason(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_strangers_are_refused() {
        for reason in RejectReason::ALL {
            assert_eq!(reason.as_str().parse::<RejectReason>().unwrap(), reason);
        }
        let error = "Rejected_Busy".parse::<RejectReason>().unwrap_err();
        assert!(error.to_string().contains("Rejected_NoBudget"), "{error}");
    }
}
