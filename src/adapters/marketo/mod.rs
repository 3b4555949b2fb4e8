//! Marketo webhooks: a Call Webhook flow step POSTs whatever JSON its payload template renders
//! from tokens, with the custom headers it is given. leadrouter documents one template
//! (`docs/integrations/marketo.md`):
//!
//! ```text
//! {
//!   "lead_id": {{lead.Id}},
//!   "event": "Filled Out Form",
//!   "occurred_at": {{system.dateTime}},
//!   "campaign_id": {{campaign.id}},
//!   "lead": { "Email": {{lead.Email Address}}, "FirstName": {{lead.First Name}}, ... }
//! }
//! ```
//!
//! With Request Token Encoding JSON, Marketo encloses string tokens in double quotes itself,
//! renders a field without a value as `""`, and may render numbers as text; all are taken.
//!
//! Marketo cannot sign a call. A sender is authenticated by a secret custom header
//! ([`verify_secret`], on the raw request before the body is parsed). A call then maps to one
//! canonical event ([`call`]), or, if it cannot be mapped, to an [`Unmappable`] kept as a dead
//! letter with the call's JSON as sent.

mod call;
#[cfg(test)]
mod tests;
mod time;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::canonical::Limits;
use crate::{
    config::MarketoSettings,
    domain::{IdSystem, Mapped, SourceId, Unmappable},
    error::ApiError,
};

/// The `source` of the events this adapter makes.
pub const SOURCE: &str = "marketo";

/// Whether `presented` (the configured header's value, `None` when the request has none) is
/// the configured secret, compared in constant time over SHA-256 digests so that neither the
/// content nor the length leaks.
pub fn verify_secret(presented: Option<&[u8]>, settings: &MarketoSettings) -> Result<(), ApiError> {
    let refused =
        |why: &str| ApiError::Unauthorized(format!("the {} header {why}", settings.header));
    let expected = settings
        .secret
        .as_ref()
        .ok_or_else(|| refused("cannot be checked: no secret is configured"))?;
    let presented = presented.ok_or_else(|| refused("is missing"))?;
    let presented = Sha256::digest(presented);
    let expected = Sha256::digest(expected.expose().as_bytes());
    if bool::from(presented.as_slice().ct_eq(expected.as_slice())) {
        Ok(())
    } else {
        Err(refused("does not carry this service's secret"))
    }
}

/// Parses and maps a received (authenticated) call: its event, or an [`Unmappable`] saying
/// why not; a body that is not the template's shape is refused whole.
pub fn receive(
    body: &[u8],
    settings: &MarketoSettings,
    limits: &Limits<'_>,
    now: DateTime<Utc>,
) -> Result<Mapped, ApiError> {
    let call = call::Call::parse(body)?;
    let mut mapped = Mapped::default();
    match call.event(settings, limits, now) {
        Ok(event) => {
            mapped.source_ids.push(SourceId {
                system: IdSystem::Marketo,
                id: call.lead_id.clone(),
                email: event.email.clone(),
            });
            mapped.events.push(event);
        }
        Err(reason) => mapped.unmappable.push(Unmappable {
            event_id: call.event_id(),
            reason,
            // `parse` took the body as JSON, so it is UTF-8.
            payload: String::from_utf8_lossy(body).into_owned(),
        }),
    }
    Ok(mapped)
}

/// Maps a dead letter's payload (a call, authenticated when it arrived) with the current
/// settings: its event, or a 422 saying why it still cannot be mapped.
pub fn replay(
    payload: &str,
    settings: &MarketoSettings,
    limits: &Limits<'_>,
    now: DateTime<Utc>,
) -> Result<Mapped, ApiError> {
    let mapped = receive(payload.as_bytes(), settings, limits, now)?;
    match mapped.unmappable.first() {
        Some(still) => Err(ApiError::field("payload", still.reason.clone())),
        None => Ok(mapped),
    }
}
