use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

/// Where a lead stands in the funnel (DESIGN §2, lifecycle stages).
/// Ordered as the funnel is.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
pub enum Stage {
    Lead,
    #[serde(rename = "MQL")]
    Mql,
    #[serde(rename = "SAL")]
    Sal,
    #[serde(rename = "SQL")]
    Sql,
    Rejected,
    Disqualified,
}

/// A stage name that is not one of [`Stage`]'s.
#[derive(Debug, thiserror::Error)]
#[error("unknown lifecycle stage {0:?}")]
pub struct UnknownStage(pub String);

impl Stage {
    /// Every stage, in funnel order.
    pub const ALL: [Stage; 6] = [
        Stage::Lead,
        Stage::Mql,
        Stage::Sal,
        Stage::Sql,
        Stage::Rejected,
        Stage::Disqualified,
    ];

    /// The stored and serialised name.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Lead => "Lead",
            Stage::Mql => "MQL",
            Stage::Sal => "SAL",
            Stage::Sql => "SQL",
            Stage::Rejected => "Rejected",
            Stage::Disqualified => "Disqualified",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Stage {
    type Err = UnknownStage;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Stage::ALL
            .into_iter()
            .find(|stage| stage.as_str() == s)
            .ok_or_else(|| UnknownStage(s.to_owned()))
    }
}

impl TryFrom<String> for Stage {
    type Error = UnknownStage;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for stage in Stage::ALL {
            assert_eq!(stage.as_str().parse::<Stage>().unwrap(), stage);
            assert_eq!(serde_json::to_value(stage).unwrap(), stage.as_str());
        }
        assert!("mql".parse::<Stage>().is_err());
    }
}
