//! Salesforce Outbound Messages (SOAP 1.1, the Outbound Messaging WSDL): a `notifications`
//! element naming the sending organization and holding up to 100 `Notification`s, each an
//! `Id` (the same on every redelivery) and an `sObject` with the fields
//! the Outbound Message was set up to send (a Lead, a Contact or an Opportunity).
//!
//! Salesforce cannot sign a message. A sender is authenticated by the secret token in the
//! endpoint URL ([`verify_token`], on the raw request before the body is parsed) and by the
//! `OrganizationId` in the envelope ([`Message::verify_organization`]). Each notification then
//! maps to one canonical `profile_update` event, or an Opportunity to an opportunity event
//! ([`record`]), or, if it cannot be mapped, to an [`Unmappable`] kept as a dead letter.

mod org_id;
mod record;
pub mod soap;
#[cfg(test)]
mod tests;

pub use org_id::OrgId;

use chrono::{DateTime, Utc};
use roxmltree::{Document, Node};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::canonical::{Limits, MAX_TEXT_CHARS};
use crate::{
    config::SalesforceSettings,
    domain::{IdSystem, Mapped, SourceId, Unmappable},
    error::ApiError,
};

/// The `source` of the events this adapter makes.
pub const SOURCE: &str = "salesforce";

const SOAP_ENVELOPE_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
const OUTBOUND_NS: &str = "http://soap.sforce.com/2005/09/outbound";

/// The most `Notification`s Salesforce puts in one message (Outbound Messaging WSDL); a
/// message with more did not come from Salesforce and is refused whole.
pub const MAX_NOTIFICATIONS: usize = 100;

/// Whether `presented` (the URL's last segment) is the configured token, compared in
/// constant time over SHA-256 digests so that neither the content nor the length leaks.
pub fn verify_token(presented: &str, settings: &SalesforceSettings) -> Result<(), ApiError> {
    let refused =
        || ApiError::Unauthorized("the endpoint URL's token is not this service's".into());
    let expected = settings.token.as_ref().ok_or_else(refused)?;
    let presented = Sha256::digest(presented.as_bytes());
    let expected = Sha256::digest(expected.expose().as_bytes());
    if bool::from(presented.as_slice().ct_eq(expected.as_slice())) {
        Ok(())
    } else {
        Err(refused())
    }
}

/// An Outbound Message, parsed: well-formed XML in the shape of the WSDL, not yet mapped.
pub struct Message<'a> {
    text: &'a str,
    doc: Document<'a>,
}

impl<'a> Message<'a> {
    /// Parses `body`: UTF-8 XML (a leading byte order mark is allowed; a DTD is not, so no
    /// entity can expand) whose root is a SOAP `Envelope` with a `Body` holding `notifications`.
    pub fn parse(body: &'a [u8]) -> Result<Self, ApiError> {
        let text = std::str::from_utf8(body)
            .map_err(|_| ApiError::MalformedXml("the body is not UTF-8 text".to_owned()))?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let doc = Document::parse(text).map_err(|e| ApiError::MalformedXml(e.to_string()))?;
        let message = Self { text, doc };
        message.notifications()?;
        Ok(message)
    }

    /// The `notifications` element.
    fn notifications(&self) -> Result<Node<'_, 'a>, ApiError> {
        let root = self.doc.root_element();
        if !root.has_tag_name((SOAP_ENVELOPE_NS, "Envelope")) {
            return Err(ApiError::field(
                "Envelope",
                "the root element is not a SOAP 1.1 Envelope",
            ));
        }
        child(root, SOAP_ENVELOPE_NS, "Body")
            .and_then(|body| child(body, OUTBOUND_NS, "notifications"))
            .ok_or_else(|| {
                ApiError::field(
                    "Envelope.Body.notifications",
                    "is required (an Outbound Message)",
                )
            })
    }

    /// The sending organization, as the envelope names it.
    pub fn organization_id(&self) -> Option<&str> {
        let notifications = self.notifications().ok()?;
        child(notifications, OUTBOUND_NS, "OrganizationId")
            .and_then(|n| n.text())
            .map(str::trim)
            .filter(|id| !id.is_empty())
    }

    /// Refuses a message whose `OrganizationId` is missing or not configured: the envelope's
    /// organization is one half of the sender's credentials.
    pub fn verify_organization(&self, settings: &SalesforceSettings) -> Result<(), ApiError> {
        let Some(id) = self.organization_id() else {
            return Err(ApiError::Unauthorized(
                "the message names no OrganizationId, so its sender cannot be verified".into(),
            ));
        };
        if settings.organization_ids.iter().any(|org| org.matches(id)) {
            Ok(())
        } else {
            Err(ApiError::Unauthorized(format!(
                "organization {id} is not allowed to send to this endpoint"
            )))
        }
    }

    /// Maps every notification: to an event, or to an [`Unmappable`] saying why not. A
    /// notification without an `Id` or an `sObject` breaks the WSDL and refuses the message,
    /// since without its Id a redelivery could not be recognised; so do more than
    /// [`MAX_NOTIFICATIONS`] notifications.
    pub fn map(
        &self,
        settings: &SalesforceSettings,
        limits: &Limits<'_>,
        now: DateTime<Utc>,
    ) -> Result<Mapped, ApiError> {
        let notifications = self.notifications()?;
        let organization_id = self.organization_id().unwrap_or_default();
        let mut mapped = Mapped::default();
        let all = || {
            notifications
                .children()
                .filter(|n| n.has_tag_name((OUTBOUND_NS, "Notification")))
        };
        let count = all().count();
        if count > MAX_NOTIFICATIONS {
            return Err(ApiError::field(
                "Envelope.Body.notifications",
                format!(
                    "holds {count} Notifications; Salesforce sends at most {MAX_NOTIFICATIONS}"
                ),
            ));
        }
        for (i, notification) in all().enumerate() {
            let id = child(notification, OUTBOUND_NS, "Id")
                .and_then(|n| n.text())
                .map(str::trim)
                .filter(|id| !id.is_empty())
                .ok_or_else(|| ApiError::field(format!("Notification[{i}].Id"), "is required"))?;
            if id.chars().count() > MAX_TEXT_CHARS {
                return Err(ApiError::field(
                    format!("Notification[{i}].Id"),
                    format!("is longer than {MAX_TEXT_CHARS} characters"),
                ));
            }
            let sobject = child(notification, OUTBOUND_NS, "sObject").ok_or_else(|| {
                ApiError::field(format!("Notification[{i}].sObject"), "is required")
            })?;
            let record = record::Record::read(sobject);
            let mapping = if record.kind() == record::OPPORTUNITY {
                record
                    .opportunity(id, settings, limits, now)
                    .map(|event| mapped.opportunities.push(event))
            } else {
                record
                    .event(id, organization_id, settings, limits, now)
                    .map(|event| {
                        let ids = record.id().into_iter().chain(record.converted_contact());
                        mapped.source_ids.extend(ids.map(|record_id| SourceId {
                            system: IdSystem::Salesforce,
                            id: record_id.to_owned(),
                            email: event.email.clone(),
                        }));
                        mapped.events.push(event);
                    })
            };
            match mapping {
                Ok(()) => {}
                Err(reason) => mapped.unmappable.push(Unmappable {
                    event_id: id.to_owned(),
                    reason,
                    payload: self.alone(notifications, notification),
                }),
            }
        }
        Ok(mapped)
    }

    /// The message with `notification` as its only one: the original text around it (the
    /// XML declaration, the envelope and its namespace declarations, the `OrganizationId`),
    /// which parses again as an Outbound Message.
    fn alone(&self, notifications: Node<'_, 'a>, notification: Node<'_, 'a>) -> String {
        // `notifications` holds at least `notification`, so it has a first and a last child.
        let inner_start = notifications.first_child().map_or(0, |n| n.range().start);
        let inner_end = notifications.last_child().map_or(0, |n| n.range().end);
        let organization = child(notifications, OUTBOUND_NS, "OrganizationId")
            .map_or("", |n| &self.text[n.range()]);
        format!(
            "{}\n{organization}\n{}\n{}",
            &self.text[..inner_start],
            &self.text[notification.range()],
            &self.text[inner_end..]
        )
    }
}

/// The first child element of `node` named `name` in namespace `ns`.
fn child<'d, 'a>(node: Node<'d, 'a>, ns: &str, name: &str) -> Option<Node<'d, 'a>> {
    node.children().find(|n| n.has_tag_name((ns, name)))
}

/// Parses, authenticates and maps a received message; the whole of the connector's work
/// before anything is stored.
pub fn receive(
    body: &[u8],
    settings: &SalesforceSettings,
    limits: &Limits<'_>,
    now: DateTime<Utc>,
) -> Result<Mapped, ApiError> {
    let message = Message::parse(body)?;
    message.verify_organization(settings)?;
    message.map(settings, limits, now)
}

/// Maps a dead letter's payload (a one-notification message, authenticated when it arrived)
/// with the current settings: its event, or a 422 saying why it still cannot be mapped.
pub fn replay(
    payload: &str,
    settings: &SalesforceSettings,
    limits: &Limits<'_>,
    now: DateTime<Utc>,
) -> Result<Mapped, ApiError> {
    let mapped = Message::parse(payload.as_bytes())?.map(settings, limits, now)?;
    match mapped.unmappable.first() {
        Some(still) => Err(ApiError::field("payload", still.reason.clone())),
        None => Ok(mapped),
    }
}
