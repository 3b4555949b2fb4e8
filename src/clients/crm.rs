//! What CRM write-back asks of a CRM's client and what the client answers, the same for every
//! CRM (HubSpot contacts, Salesforce Leads): a batch of records, each an id the CRM gave and the
//! fields to set, answered per record.

use std::time::Duration;

use serde_json::{Map, Value};

/// One record to update: the CRM's own id and the fields (the CRM's names) with their values.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordUpdate {
    /// The CRM's id of the record (a HubSpot contact id, a Salesforce `00Q…` Lead id).
    pub id: String,
    /// Field name (as configured for the CRM) → value; a JSON null clears the field.
    pub fields: Map<String, Value>,
}

/// Why one record of an answered batch was not written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordFailure {
    pub id: String,
    /// The CRM's error code (`OBJECT_NOT_FOUND`, `UNABLE_TO_LOCK_ROW`, `INVALID_FIELD`, …).
    pub code: String,
    pub message: String,
    /// Whether the same write may succeed later (a lock, a transient error); a record that
    /// does not exist or a field the CRM refuses will not.
    pub retryable: bool,
}

/// How a batch update went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchAnswer {
    /// The CRM answered: every record not in `failed` was written.
    Answered { failed: Vec<RecordFailure> },
    /// The CRM's rate or request limit: nothing was written; try again after `retry_after`.
    RateLimited { retry_after: Duration },
    /// No usable answer (connection, timeout, 5xx): nothing is known to be written; the whole
    /// batch is to be tried again, after `retry_after` when the CRM gave one.
    Unavailable {
        error: String,
        retry_after: Option<Duration>,
    },
    /// The CRM refused the whole call (credentials, permissions, a malformed request): the
    /// same call will fail again until an operator changes the configuration.
    Refused { status: u16, error: String },
}
