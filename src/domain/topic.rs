//! Outbox topics: the closed list of what the service announces, which webhook endpoints
//! subscribe to, and the public id of a message.

use std::{fmt, str::FromStr};

use serde::{Serialize, Serializer};

/// What an outbox message is about. Every writer of the outbox names one of these, and a
/// webhook endpoint subscribes only to these, so a typo in either is caught here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Topic {
    /// An MQL was handed to a rep (`usecase::handoff`).
    RepAssigned,
    /// An MQL was untouched too long and went to the rep's manager (`jobs::sla_clock`).
    ManagerEscalation,
    /// A nurture touch for the MAP to send (email, retargeting).
    NurtureTouch,
    /// A nurture step that is a sales touch: a task for the owning rep.
    RepTask,
    /// Engagement in nurture that the owning rep should hear of.
    RepNurtureSignal,
    /// A lead moved from one stage to another (written by a trigger on `lead_transitions`).
    LeadStageChanged,
    /// A lead's Fit or Intent changed (written by a trigger on `leads`).
    LeadScored,
    /// The weekly rejection review, each Monday for the week before (`jobs::governance`).
    GovernanceRejectionReview,
    /// The Monday pipeline forecast (`jobs::governance`).
    GovernancePipelineForecast,
}

/// A topic name that is not one of [`Topic`]'s.
#[derive(Debug, thiserror::Error)]
#[error("unknown topic {0:?}; known: {known}", known = Topic::known())]
pub struct UnknownTopic(pub String);

impl Topic {
    /// Every topic.
    pub const ALL: [Topic; 9] = [
        Topic::RepAssigned,
        Topic::ManagerEscalation,
        Topic::NurtureTouch,
        Topic::RepTask,
        Topic::RepNurtureSignal,
        Topic::LeadStageChanged,
        Topic::LeadScored,
        Topic::GovernanceRejectionReview,
        Topic::GovernancePipelineForecast,
    ];

    /// The stored name, as in `outbox.topic` and `webhook_endpoints.topics`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Topic::RepAssigned => "rep.assigned",
            Topic::ManagerEscalation => "manager.escalation",
            Topic::NurtureTouch => "nurture.touch",
            Topic::RepTask => "rep.task",
            Topic::RepNurtureSignal => "rep.nurture_signal",
            Topic::LeadStageChanged => "lead.stage_changed",
            Topic::LeadScored => "lead.scored",
            Topic::GovernanceRejectionReview => "governance.rejection_review",
            Topic::GovernancePipelineForecast => "governance.pipeline_forecast",
        }
    }

    /// The names of every topic, comma-separated, for error details.
    pub fn known() -> String {
        Topic::ALL.map(Topic::as_str).join(", ")
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Topic {
    type Err = UnknownTopic;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Topic::ALL
            .into_iter()
            .find(|topic| topic.as_str() == s)
            .ok_or_else(|| UnknownTopic(s.to_owned()))
    }
}

impl Serialize for Topic {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// What starts the public id of an outbox message.
const MESSAGE_ID_PREFIX: &str = "msg_";

/// The public id of outbox message `id`: `msg_<id>`, the same across every delivery and
/// retry of it (Standard Webhooks' `webhook-id`).
pub fn message_id(id: i64) -> String {
    format!("{MESSAGE_ID_PREFIX}{id}")
}

/// The outbox row id in `raw`: `msg_<id>` or the bare number; `None` for anything else.
pub fn parse_message_id(raw: &str) -> Option<i64> {
    let digits = raw.strip_prefix(MESSAGE_ID_PREFIX).unwrap_or(raw);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|id| *id > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_topic_reads_back_from_its_name() {
        for topic in Topic::ALL {
            assert_eq!(topic.as_str().parse::<Topic>().unwrap(), topic);
        }
        let unknown = "rep.assign".parse::<Topic>().unwrap_err();
        assert_eq!(
            unknown.to_string(),
            "unknown topic \"rep.assign\"; known: rep.assigned, manager.escalation, \
             nurture.touch, rep.task, rep.nurture_signal, lead.stage_changed, lead.scored, \
             governance.rejection_review, governance.pipeline_forecast"
        );
    }

    #[test]
    fn message_ids_are_msg_and_the_row_id_and_read_back_bare_or_prefixed() {
        assert_eq!(message_id(42), "msg_42");
        assert_eq!(parse_message_id("msg_42"), Some(42));
        assert_eq!(parse_message_id("42"), Some(42));
        for bad in [
            "",
            "msg_",
            "msg_-1",
            "msg_0",
            "+4",
            "msg_4x",
            "99999999999999999999",
        ] {
            assert_eq!(parse_message_id(bad), None, "{bad:?}");
        }
    }
}
