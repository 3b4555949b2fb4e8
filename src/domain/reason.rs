use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

/// The standardized reasons a lead leaves the funnel automatically (DESIGN §2,
/// Disqualification). A closed list, so suppression reports and metrics group cleanly.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
pub enum DisqualifyReason {
    #[serde(rename = "Disqualified_Competitor")]
    Competitor,
    #[serde(rename = "Disqualified_Size")]
    Size,
    #[serde(rename = "Disqualified_Inactive")]
    Inactive,
    #[serde(rename = "Disqualified_NoSale")]
    NoSale,
    #[serde(rename = "Disqualified_Student")]
    Student,
    #[serde(rename = "Disqualified_JobSeeker")]
    JobSeeker,
    #[serde(rename = "Disqualified_Partner")]
    Partner,
    #[serde(rename = "Disqualified_OutOfICP")]
    OutOfIcp,
}

/// A reason that is not one of [`DisqualifyReason`]'s.
#[derive(Debug, thiserror::Error)]
#[error("unknown disqualification reason {0:?}; allowed: {allowed}", allowed = DisqualifyReason::allowed())]
pub struct UnknownReason(pub String);

impl DisqualifyReason {
    /// Every reason.
    pub const ALL: [DisqualifyReason; 8] = [
        DisqualifyReason::Competitor,
        DisqualifyReason::Size,
        DisqualifyReason::Inactive,
        DisqualifyReason::NoSale,
        DisqualifyReason::Student,
        DisqualifyReason::JobSeeker,
        DisqualifyReason::Partner,
        DisqualifyReason::OutOfIcp,
    ];

    /// The stored and serialised name.
    pub fn as_str(self) -> &'static str {
        match self {
            DisqualifyReason::Competitor => "Disqualified_Competitor",
            DisqualifyReason::Size => "Disqualified_Size",
            DisqualifyReason::Inactive => "Disqualified_Inactive",
            DisqualifyReason::NoSale => "Disqualified_NoSale",
            DisqualifyReason::Student => "Disqualified_Student",
            DisqualifyReason::JobSeeker => "Disqualified_JobSeeker",
            DisqualifyReason::Partner => "Disqualified_Partner",
            DisqualifyReason::OutOfIcp => "Disqualified_OutOfICP",
        }
    }

    /// The allowed names, comma-separated, for error messages.
    pub fn allowed() -> String {
        Self::ALL.map(Self::as_str).join(", ")
    }
}

impl fmt::Display for DisqualifyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DisqualifyReason {
    type Err = UnknownReason;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownReason(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for reason in DisqualifyReason::ALL {
            assert_eq!(reason.as_str().parse::<DisqualifyReason>().unwrap(), reason);
            assert_eq!(serde_json::to_value(reason).unwrap(), reason.as_str());
        }
        let error = "Disqualified_Bored"
            .parse::<DisqualifyReason>()
            .unwrap_err();
        assert!(error.to_string().contains("Disqualified_NoSale"), "{error}");
    }
}
