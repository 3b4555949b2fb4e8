//! The two shapes HubSpot posts: an app's webhook notifications (a JSON array of up to 100
//! changes, each naming its object only by id) and a workflow's "Send a webhook" action (one
//! contact with its properties).

use serde::Deserialize;
use serde_json::{Map, Value, value::RawValue};
use sha2::{Digest, Sha256};

use crate::{
    adapters::json::{self, strip_position},
    error::ApiError,
};

/// The most notifications one app webhook request carries.
pub const MAX_NOTIFICATIONS: usize = 100;

/// A request's body, parsed.
#[derive(Debug)]
pub enum Payload {
    /// App webhooks: every notification, each with its JSON as sent, for a dead letter.
    Notifications(Vec<(Notification, Box<RawValue>)>),
    /// A workflow's webhook.
    Workflow(Snapshot),
}

/// One app webhook notification. HubSpot has spelled the kind `subscriptionType` and, in
/// newer apps, `eventType`; ids are numbers, or digits in text.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    #[serde(default, deserialize_with = "id::optional")]
    pub event_id: Option<String>,
    #[serde(default, deserialize_with = "id::optional")]
    pub portal_id: Option<String>,
    /// Epoch milliseconds, HubSpot's clock.
    pub occurred_at: i64,
    pub subscription_type: Option<String>,
    pub event_type: Option<String>,
    #[serde(default, deserialize_with = "id::optional")]
    pub object_id: Option<String>,
    pub property_name: Option<String>,
    pub property_value: Option<String>,
    pub change_source: Option<String>,
    /// `contact.merge`: the record the others were merged into.
    #[serde(default, deserialize_with = "id::optional")]
    pub primary_object_id: Option<String>,
    #[serde(default, deserialize_with = "id::list")]
    pub merged_object_ids: Vec<String>,
}

impl Notification {
    /// `contact.propertyChange` and the like, whichever field spells it.
    pub fn kind(&self) -> &str {
        self.subscription_type
            .as_deref()
            .or(self.event_type.as_deref())
            .unwrap_or("")
    }

    /// The idempotency key. HubSpot does not promise `eventId` unique, so the key is what
    /// identifies the change itself: portal, kind, object, property and time, with the
    /// event id; a redelivery (a higher `attemptNumber`) has the same key.
    pub fn key(&self) -> String {
        let part = |v: &Option<String>| v.clone().unwrap_or_default();
        format!(
            "{}:{}:{}:{}:{}:{}",
            part(&self.portal_id),
            self.kind(),
            part(&self.object_id),
            part(&self.property_name),
            self.occurred_at,
            part(&self.event_id)
        )
    }
}

/// A workflow webhook's contact: its id and its properties as text.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub contact_id: Option<String>,
    /// Property internal name and value, in the body's order; values are text as HubSpot
    /// renders them.
    pub properties: Vec<(String, String)>,
    /// A digest of the body: a redelivered webhook is the same bytes.
    pub digest: String,
    /// The body, for a dead letter.
    pub raw: Value,
}

impl Snapshot {
    /// The value of property `name`.
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Parses a body: an array is app webhooks, an object a workflow's webhook.
pub fn parse(body: &[u8]) -> Result<Payload, ApiError> {
    // Each notification is read once, from its own text, which stays at hand for a dead letter.
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => notifications(json::decode(body)?).map(Payload::Notifications),
        _ => match json::decode::<Value>(body)? {
            Value::Object(object) => Ok(Payload::Workflow(snapshot(object, body))),
            _ => Err(ApiError::field(
                "body",
                "must be a JSON array of webhook notifications or a workflow's contact object",
            )),
        },
    }
}

fn notifications(
    items: Vec<Box<RawValue>>,
) -> Result<Vec<(Notification, Box<RawValue>)>, ApiError> {
    if items.len() > MAX_NOTIFICATIONS {
        return Err(ApiError::field(
            "body",
            format!(
                "holds {} notifications; HubSpot sends at most {MAX_NOTIFICATIONS}",
                items.len()
            ),
        ));
    }
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let notification = serde_json::from_str(item.get())
                .map_err(|e| ApiError::field(format!("[{i}]"), strip_position(&e.to_string())))?;
            Ok((notification, item))
        })
        .collect()
}

/// A workflow body: HubSpot's contact record (`vid` and `properties` of `{ "value": … }`),
/// or a custom body of properties, flat or under `properties`.
fn snapshot(object: Map<String, Value>, body: &[u8]) -> Snapshot {
    let digest = hex::encode(&Sha256::digest(body)[..16]);
    let nested = object.get("properties").and_then(Value::as_object);
    let mut properties: Vec<(String, String)> = nested
        .unwrap_or(&object)
        .iter()
        .filter_map(|(name, value)| {
            let value = match value {
                Value::Object(versioned) => versioned.get("value")?,
                other => other,
            };
            text(value).map(|v| (name.clone(), v))
        })
        .collect();
    if nested.is_some() {
        // Top-level ids and the like still count, after the properties.
        properties.extend(
            object
                .iter()
                .filter(|(name, _)| name.as_str() != "properties")
                .filter_map(|(name, value)| text(value).map(|v| (name.clone(), v))),
        );
    }
    let contact_id = ["canonical-vid", "vid", "objectId", "hs_object_id"]
        .iter()
        .find_map(|name| {
            properties
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        });
    Snapshot {
        contact_id,
        properties,
        digest,
        raw: Value::Object(object),
    }
}

/// A scalar as text; objects, arrays and null are no value.
fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// HubSpot ids: numbers, or digits in text.
mod id {
    use serde::{Deserialize, Deserializer, de::Error};
    use serde_json::Value;

    fn one<E: Error>(value: Value) -> Result<Option<String>, E> {
        match value {
            Value::Null => Ok(None),
            Value::Number(n) if n.is_u64() => Ok(Some(n.to_string())),
            Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                Ok(Some(s))
            }
            other => Err(E::custom(format!("{other} is not a HubSpot id"))),
        }
    }

    pub fn optional<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        one(Value::deserialize(d)?)
    }

    pub fn list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        let values = Option::<Vec<Value>>::deserialize(d)?.unwrap_or_default();
        values
            .into_iter()
            .filter_map(|v| one(v).transpose())
            .collect()
    }
}
