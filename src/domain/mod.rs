//! Value types shared by every layer. Nothing here does I/O.

mod account_domain;
mod email;
mod event;
mod profile;
mod reason;
mod rejection;
mod stage;

pub use account_domain::{AccountDomain, AccountDomainError};
pub use email::{Email, EmailError};
pub use event::{EventType, LeadEvent, UnknownEventType};
pub use profile::{Profile, ProfileField, ProfileStamps};
pub use reason::{DisqualifyReason, UnknownReason};
pub use rejection::{RejectReason, UnknownRejectReason};
pub use stage::{Stage, UnknownStage};
