use super::{Email, LeadEvent, OpportunityEvent};

/// What a connector made of a payload, before anything is stored.
#[derive(Debug, Default)]
pub struct Mapped {
    /// One per record that maps, in payload order.
    pub events: Vec<LeadEvent>,
    /// The records that do not, to keep as dead letters.
    pub unmappable: Vec<Unmappable>,
    /// The vendor's ids for the leads the events name.
    pub source_ids: Vec<SourceId>,
    /// The records about opportunities, in payload order.
    pub opportunities: Vec<OpportunityEvent>,
}

/// A record a connector authenticated but cannot map to an event (an unknown event name, no
/// usable email, a field that fails validation): kept as a dead letter rather than dropped or
/// refused, since refusing would make the vendor redeliver it forever.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unmappable {
    /// The vendor's id for the record (Salesforce: the notification Id).
    pub event_id: String,
    /// Why it could not be mapped, naming the field.
    pub reason: String,
    /// The record as received, in a form its adapter parses again on replay.
    pub payload: String,
}

/// A system that names leads by ids of its own. Email stays the identity of a lead; these
/// ids are what a connector resolves to an email when a payload carries no email (a HubSpot
/// app webhook's `objectId`, a Segment `anonymousId`).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum IdSystem {
    #[serde(rename = "hubspot")]
    HubSpot,
    Salesforce,
    SegmentUser,
    SegmentAnonymous,
    Marketo,
}

impl IdSystem {
    pub const ALL: [IdSystem; 5] = [
        IdSystem::HubSpot,
        IdSystem::Salesforce,
        IdSystem::SegmentUser,
        IdSystem::SegmentAnonymous,
        IdSystem::Marketo,
    ];

    /// The storage name, also the lead view's key and, with `_id`, the query parameter.
    pub fn as_str(self) -> &'static str {
        match self {
            IdSystem::HubSpot => "hubspot",
            IdSystem::Salesforce => "salesforce",
            IdSystem::SegmentUser => "segment_user",
            IdSystem::SegmentAnonymous => "segment_anonymous",
            IdSystem::Marketo => "marketo",
        }
    }

    /// The system stored as `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// A lead's id in another system, as a payload told it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceId {
    pub system: IdSystem,
    /// The id as the system writes it (a HubSpot contact id is digits, a Salesforce record
    /// id 18 characters); compared exactly.
    pub id: String,
    /// The lead it names.
    pub email: Email,
}
