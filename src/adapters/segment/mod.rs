//! Segment's Webhooks destination (classic, and Webhooks (Actions) with the default mapping):
//! the body is one Spec message (`identify`, `track`, `page`, ...), a `{"batch": [...]}` of
//! them (the Tracking API's batch shape), or a JSON array of them (Webhooks (Actions) with
//! batching on). With a shared secret set, Segment signs each request: `X-Signature` is the
//! lower-case hex HMAC-SHA1 of the body under the secret ([`verify_signature`], on the raw
//! bytes before anything is parsed).
//!
//! Mapping is two-phase because the adapter does no I/O: [`Payload::ids_to_resolve`] lists
//! the `userId`s and `anonymousId`s of the messages that carry no email, the caller looks them
//! up among the ids stored earlier, and [`Payload::map`] takes what was found ([`KnownIds`]).
//! Each message maps to one canonical event, or to an [`Unmappable`] kept as a dead letter.

mod message;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha1::Sha1;

use super::{
    canonical::{Limits, MAX_TEXT_CHARS},
    json,
};
use crate::{
    config::SegmentSettings,
    domain::{Email, IdSystem, Mapped, SourceId, Unmappable, text},
    error::{ApiError, FieldError},
};
use message::Message;

/// The `source` of the events this adapter makes.
pub const SOURCE: &str = "segment";

/// The header Segment signs a request in.
pub const SIGNATURE_HEADER: &str = "x-signature";

/// Whether `signature` (the `X-Signature` header) is the HMAC-SHA1 of `body` under the
/// configured secret, compared in constant time (`Mac::verify_slice`).
pub fn verify_signature(
    signature: Option<&str>,
    body: &[u8],
    settings: &SegmentSettings,
) -> Result<(), ApiError> {
    let refused = |why: &str| ApiError::Unauthorized(format!("X-Signature {why}"));
    let secret = settings
        .secret
        .as_ref()
        .ok_or_else(|| refused("cannot be checked: no secret is configured"))?;
    let signature = signature
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| refused("is missing; set the destination's shared secret"))?;
    let presented =
        hex::decode(signature).map_err(|_| refused("is not a hex-encoded HMAC-SHA1"))?;
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.expose().as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(body);
    mac.verify_slice(&presented)
        .map_err(|_| refused("does not match the body under the shared secret"))
}

/// The ids a payload's messages name their users by, that its own emails do not resolve.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct IdsToResolve {
    pub user_ids: Vec<String>,
    pub anonymous_ids: Vec<String>,
}

impl IdsToResolve {
    /// Whether nothing needs looking up.
    pub fn is_empty(&self) -> bool {
        self.user_ids.is_empty() && self.anonymous_ids.is_empty()
    }
}

/// The emails that ids stored earlier resolve to (`db::source_ids::emails`).
#[derive(Debug, Default)]
pub struct KnownIds {
    pub users: BTreeMap<String, Email>,
    pub anonymous: BTreeMap<String, Email>,
}

/// A signed body, parsed: every message is an object with a `messageId`, not yet mapped.
#[derive(Debug)]
pub struct Payload {
    messages: Vec<Message>,
}

impl Payload {
    /// Parses `body`: a message object, `{"batch": [...]}` or an array of messages. A 400 for
    /// what is not JSON; a 422 naming the field for a body of another shape, an empty or
    /// oversized batch, or a message without a `messageId` (without it a redelivery could not
    /// be recognised). A message repeated within the body is taken once.
    pub fn parse(body: &[u8], limits: &Limits<'_>) -> Result<Self, ApiError> {
        // `batch` is `Some(prefix)` of the field paths for a batch, even one of one message.
        let (items, batch) = match json::decode::<Value>(body)? {
            Value::Array(items) => (items, Some("")),
            Value::Object(mut object) => match object.remove("batch") {
                Some(Value::Array(items)) => (items, Some("batch")),
                Some(_) => return Err(ApiError::field("batch", "must be an array of messages")),
                None => (vec![Value::Object(object)], None),
            },
            _ => {
                return Err(ApiError::field(
                    "body",
                    "must be a Segment message, {\"batch\": [...]} or an array of messages",
                ));
            }
        };
        if items.is_empty() {
            return Err(ApiError::field("body", "is an empty batch"));
        }
        if items.len() > limits.max_batch_events {
            return Err(ApiError::field(
                "body",
                format!(
                    "holds {} messages; a batch may hold at most {} (server.max_batch_events)",
                    items.len(),
                    limits.max_batch_events
                ),
            ));
        }
        let mut errors = Vec::new();
        let mut messages = Vec::with_capacity(items.len());
        let mut seen = BTreeSet::new();
        for (i, item) in items.into_iter().enumerate() {
            let path = |field: &str| match (batch, field) {
                (None, "") => "body".to_owned(),
                (None, field) => field.to_owned(),
                (Some(prefix), "") => format!("{prefix}[{i}]"),
                (Some(prefix), field) => format!("{prefix}[{i}].{field}"),
            };
            let Value::Object(json) = item else {
                errors.push(FieldError::new(path(""), "must be a message object"));
                continue;
            };
            match message_id(&json) {
                Ok(id) => {
                    if seen.insert(id.clone()) {
                        messages.push(Message::new(id, json));
                    }
                }
                Err(detail) => errors.push(FieldError::new(path("messageId"), detail)),
            }
        }
        if errors.is_empty() {
            Ok(Self { messages })
        } else {
            Err(ApiError::Validation(errors))
        }
    }

    /// The `userId`s and `anonymousId`s of the messages with no email of their own that no
    /// other message of the payload ties to an email.
    pub fn ids_to_resolve(&self, settings: &SegmentSettings) -> IdsToResolve {
        let tied = self.ties(settings);
        let mut wanted = IdsToResolve::default();
        for message in self.messages.iter().filter(|m| m.email(settings).is_none()) {
            if let Some(id) = message.user_id().filter(|id| !tied.users.contains_key(*id)) {
                wanted.user_ids.push(id.to_owned());
            }
            if let Some(id) = message
                .anonymous_id()
                .filter(|id| !tied.anonymous.contains_key(*id))
            {
                wanted.anonymous_ids.push(id.to_owned());
            }
        }
        for ids in [&mut wanted.user_ids, &mut wanted.anonymous_ids] {
            ids.sort();
            ids.dedup();
        }
        wanted
    }

    /// The ids that messages of this payload tie to an email of their own (a later message
    /// wins), which resolve the payload's other messages before anything stored does.
    fn ties(&self, settings: &SegmentSettings) -> KnownIds {
        let mut tied = KnownIds::default();
        for message in &self.messages {
            let Some(email) = message.email(settings) else {
                continue;
            };
            if let Some(id) = message.user_id() {
                tied.users.insert(id.to_owned(), email.clone());
            }
            if let Some(id) = message.anonymous_id() {
                tied.anonymous.insert(id.to_owned(), email);
            }
        }
        tied
    }

    /// Maps every message to an event, or to an [`Unmappable`] saying why not (its payload is
    /// the message alone, which [`Payload::parse`] reads again on replay). `known` is what the
    /// ids of [`Payload::ids_to_resolve`] resolve to. Each event's `userId` and `anonymousId`
    /// are tied to its email.
    pub fn map(
        &self,
        known: &KnownIds,
        settings: &SegmentSettings,
        limits: &Limits<'_>,
        now: DateTime<Utc>,
    ) -> Mapped {
        let tied = self.ties(settings);
        let resolve = |system: IdSystem, id: &str| {
            let (own, stored) = match system {
                IdSystem::SegmentUser => (&tied.users, &known.users),
                _ => (&tied.anonymous, &known.anonymous),
            };
            own.get(id).or_else(|| stored.get(id)).cloned()
        };
        let mut mapped = Mapped::default();
        for message in &self.messages {
            match message.event(&resolve, settings, limits, now) {
                Ok(event) => {
                    let ids = [
                        (IdSystem::SegmentUser, message.user_id()),
                        (IdSystem::SegmentAnonymous, message.anonymous_id()),
                    ];
                    for (system, id) in ids {
                        if let Some(id) = id {
                            mapped.source_ids.push(SourceId {
                                system,
                                id: id.to_owned(),
                                email: event.email.clone(),
                            });
                        }
                    }
                    mapped.events.push(event);
                }
                Err(reason) => mapped.unmappable.push(Unmappable {
                    event_id: message.id().to_owned(),
                    reason,
                    payload: message.alone(),
                }),
            }
        }
        mapped
    }
}

/// A message's `messageId`, or what is wrong with it.
fn message_id(json: &Map<String, Value>) -> Result<String, String> {
    match json.get("messageId") {
        Some(Value::String(id)) if !id.trim().is_empty() => {
            match text::too_long(id, MAX_TEXT_CHARS) {
                Some(problem) => Err(problem),
                None => Ok(id.trim().to_owned()),
            }
        }
        Some(Value::String(_)) | None | Some(Value::Null) => {
            Err("is required (Segment's id for the message, which makes redelivery safe)".into())
        }
        Some(_) => Err("must be a string".into()),
    }
}

/// Maps a dead letter's payload (one message, authenticated when it arrived) with the current
/// settings and `known` ids: its event, or a 422 saying why it still cannot be mapped.
pub fn replay(
    payload: &Payload,
    known: &KnownIds,
    settings: &SegmentSettings,
    limits: &Limits<'_>,
    now: DateTime<Utc>,
) -> Result<Mapped, ApiError> {
    let mapped = payload.map(known, settings, limits, now);
    match mapped.unmappable.first() {
        Some(still) => Err(ApiError::field("payload", still.reason.clone())),
        None => Ok(mapped),
    }
}
