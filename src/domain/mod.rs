//! Value types shared by every layer. Nothing here does I/O.

mod account_domain;
mod api_key;
mod email;
mod event;
mod inbound;
mod opportunity;
mod profile;
mod reason;
mod record;
mod rejection;
mod role;
mod stage;
pub mod text;
mod topic;

pub use account_domain::{AccountDomain, AccountDomainError};
pub use api_key::{KEY_PREFIX, KEY_RANDOM_BYTES, KeyHash, Secret, format_key, shown_prefix};
pub use email::{Email, EmailError};
pub use event::{EventType, LeadEvent, UnknownEventType};
pub use inbound::{IdSystem, Mapped, SourceId, Unmappable};
pub use opportunity::{
    ContactRef, Money, MoneyError, OpportunityEvent, OpportunityEventType, OpportunityFacts,
    OpportunityState, OpportunityStatus, fold as fold_opportunity,
};
pub use profile::{LeadField, Profile, ProfileField, ProfileStamps};
pub use reason::{DisqualifyReason, UnknownReason};
pub use record::{LeadRecord, Outcome, RecordEvent, UnknownOutcome};
pub use rejection::{RejectReason, UnknownRejectReason};
pub use role::{Caller, LeadScope, Role, UnknownRole};
pub use stage::{Stage, UnknownStage};
pub use topic::{Topic, UnknownTopic, message_id, parse_message_id};
