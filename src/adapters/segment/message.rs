//! One Spec message mapped to a canonical event through the configured event names, trait
//! mapping and page paths, validated by the canonical schema's own checks ([`Checker`]).

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::{
    adapters::canonical::{Checker, Limits, MAX_TEXT_CHARS, RawLead},
    config::SegmentSettings,
    domain::{Email, EventType, IdSystem, LeadEvent, LeadField, text},
};

/// Why a message that names nobody is kept: a later `identify` may tie its ids to an email.
pub(super) const NO_IDENTITY: &str = "no email (traits.email or context.traits.email) and \
     userId/anonymousId not tied to one yet; replay it once an identify has tied them";

/// Where Segment may put a message's time, in the order trusted: `timestamp` (the event's
/// time, corrected for the device's clock skew), `originalTimestamp` (the device's own clock),
/// `receivedAt` (Segment's arrival time).
const TIME_FIELDS: [&str; 3] = ["timestamp", "originalTimestamp", "receivedAt"];

/// Which trait filled each lead field.
type FilledBy<'s> = Vec<(LeadField, &'s str)>;

/// A message as received: an object with a `messageId`.
#[derive(Debug)]
pub(super) struct Message {
    id: String,
    user_id: Option<String>,
    anonymous_id: Option<String>,
    json: Map<String, Value>,
}

impl Message {
    pub(super) fn new(id: String, json: Map<String, Value>) -> Self {
        // Segment's libraries send ids as strings; a number is taken as its text.
        let id_of = |field: &str| match json.get(field) {
            Some(Value::String(s)) => Some(s.trim().to_owned()).filter(|s| !s.is_empty()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        Self {
            user_id: id_of("userId"),
            anonymous_id: id_of("anonymousId"),
            id,
            json,
        }
    }

    /// The `messageId`.
    pub(super) fn id(&self) -> &str {
        &self.id
    }

    pub(super) fn user_id(&self) -> Option<&str> {
        self.user_id.as_deref()
    }

    pub(super) fn anonymous_id(&self) -> Option<&str> {
        self.anonymous_id.as_deref()
    }

    /// The message alone, as JSON (a dead letter's payload).
    pub(super) fn alone(&self) -> String {
        Value::Object(self.json.clone()).to_string()
    }

    /// The message's `type`, lower-cased.
    fn kind(&self) -> Option<String> {
        match self.json.get("type") {
            Some(Value::String(t)) if !t.trim().is_empty() => Some(t.trim().to_lowercase()),
            _ => None,
        }
    }

    /// The trait objects, the first winning: an identify's `traits`, then `context.traits`
    /// (where Segment's libraries put the user's traits on every other call).
    fn traits(&self) -> Vec<&Map<String, Value>> {
        let mut sources = Vec::new();
        if self.kind().as_deref() == Some("identify") {
            if let Some(Value::Object(traits)) = self.json.get("traits") {
                sources.push(traits);
            }
        }
        if let Some(Value::Object(traits)) = path(&self.json, &["context", "traits"]) {
            sources.push(traits);
        }
        sources
    }

    /// The valid email the message's own traits give, if any.
    pub(super) fn email(&self, settings: &SegmentSettings) -> Option<Email> {
        let (raw, _, _) = self.raw_lead(settings);
        raw.email.and_then(|e| Email::parse(e.trim()).ok())
    }

    /// The event this message stands for, or why there can be none. `resolve` gives the
    /// email an id is tied to.
    pub(super) fn event(
        &self,
        resolve: &dyn Fn(IdSystem, &str) -> Option<Email>,
        settings: &SegmentSettings,
        limits: &Limits<'_>,
        now: DateTime<Utc>,
    ) -> Result<LeadEvent, String> {
        let Some(kind) = self.kind() else {
            return Err("the message has no type (identify, track and page are mapped)".into());
        };
        let event_type = match kind.as_str() {
            "identify" => EventType::ProfileUpdate,
            "track" => {
                let name = self
                    .text("event")
                    .ok_or("a track call needs its event name (event)")?;
                settings.event_type(name).ok_or_else(|| {
                    format!(
                        "track event {name:?} is not mapped to an event type \
                         (add it to sources.segment.events)"
                    )
                })?
            }
            "page" => self.page_type(settings),
            other => {
                return Err(format!(
                    "{other:?} calls are not mapped (identify, track and page are)"
                ));
            }
        };
        for (field, id) in [
            ("userId", &self.user_id),
            ("anonymousId", &self.anonymous_id),
        ] {
            if let Some(problem) = id
                .as_deref()
                .and_then(|id| text::too_long(id, MAX_TEXT_CHARS))
            {
                return Err(format!("{field}: {problem}"));
            }
        }
        let (mut raw, filled_by, mut problems) = self.raw_lead(settings);
        let mut errors = Vec::new();
        let mut check = Checker::new("", &mut errors);
        let email = match raw.email.take() {
            Some(email) => check.email("lead.email", Some(email)),
            None => {
                let resolved = self
                    .user_id()
                    .and_then(|id| resolve(IdSystem::SegmentUser, id))
                    .or_else(|| {
                        self.anonymous_id()
                            .and_then(|id| resolve(IdSystem::SegmentAnonymous, id))
                    });
                Some(resolved.ok_or(NO_IDENTITY)?)
            }
        };
        let profile = check.profile(raw, limits);
        let time = TIME_FIELDS
            .iter()
            .find_map(|f| self.json.get(*f).filter(|v| !v.is_null()).map(|v| (*f, v)));
        let (time_field, occurred_at) = match time {
            None => ("", Some(now)),
            Some((field, Value::String(at))) => (field, check.timestamp(at, limits, now)),
            Some((field, _)) => {
                problems.push(format!("{field}: must be an ISO 8601 timestamp string"));
                (field, None)
            }
        };
        let properties = check.properties(self.properties(&kind));
        problems.extend(errors.iter().map(|e| {
            let field = match e.field.strip_prefix("lead.") {
                Some(wire) => filled_by
                    .iter()
                    .find(|(target, _)| target.as_str() == wire)
                    .map(|(_, name)| format!("traits.{name} ({})", e.field))
                    .unwrap_or_else(|| e.field.clone()),
                None if e.field == "occurred_at" => format!("{time_field} (occurred_at)"),
                None => e.field.clone(),
            };
            format!("{field}: {}", e.detail)
        }));
        match (email, occurred_at, properties) {
            (Some(email), Some(occurred_at), Some(properties)) if problems.is_empty() => {
                Ok(LeadEvent {
                    event_id: self.id.clone(),
                    source: super::SOURCE.to_owned(),
                    event_type,
                    occurred_at,
                    email,
                    profile,
                    properties,
                })
            }
            _ => Err(problems.join("; ")),
        }
    }

    /// A top-level text field.
    fn text(&self, field: &str) -> Option<&str> {
        match self.json.get(field) {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim()),
            _ => None,
        }
    }

    /// A page call's type, from its path: under a pricing prefix, under a comparison prefix,
    /// else a plain page view.
    fn page_type(&self, settings: &SegmentSettings) -> EventType {
        let Some(path) = self.page_path() else {
            return EventType::PageView;
        };
        if settings.pricing_paths.iter().any(|p| under(path, p)) {
            EventType::PricingPageVisit
        } else if settings.comparison_paths.iter().any(|p| under(path, p)) {
            EventType::ComparisonPageVisit
        } else {
            EventType::PageView
        }
    }

    /// `properties.path`, else `context.page.path` (where analytics.js puts it on every call).
    fn page_path(&self) -> Option<&str> {
        [
            &["properties", "path"][..],
            &["context", "page", "path"][..],
        ]
        .into_iter()
        .find_map(|p| match path(&self.json, p) {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim()),
            _ => None,
        })
    }

    /// What is stored with the event: where it came from in Segment's terms, and the call's
    /// own `properties`.
    fn properties(&self, kind: &str) -> Map<String, Value> {
        let mut properties = Map::new();
        properties.insert("segment_type".into(), kind.into());
        let named = match kind {
            "track" => self.text("event"),
            "page" => self.text("name"),
            _ => None,
        };
        if let Some(name) = named {
            let key = if kind == "track" { "event" } else { "name" };
            properties.insert(key.into(), name.into());
        }
        if kind == "page" {
            if let Some(path) = self.page_path() {
                properties.insert("path".into(), path.into());
            }
        }
        if let Some(id) = self.user_id() {
            properties.insert("user_id".into(), id.into());
        }
        if let Some(id) = self.anonymous_id() {
            properties.insert("anonymous_id".into(), id.into());
        }
        if let Some(Value::Object(own)) = self.json.get("properties") {
            properties.insert("properties".into(), Value::Object(own.clone()));
        }
        properties
    }

    /// The lead object the mapped traits make, which trait filled each lead field, and the
    /// values that are not even of the right kind. Top-level traits are tried before dotted
    /// ones, so `company` (text) wins over `company.name`.
    fn raw_lead<'s>(&self, settings: &'s SegmentSettings) -> (RawLead, FilledBy<'s>, Vec<String>) {
        let traits = self.traits();
        let mut mapping: Vec<(&'s str, LeadField)> = settings
            .traits
            .iter()
            .map(|(name, target)| (name.as_str(), *target))
            .collect();
        mapping.sort_by_key(|(name, _)| (name.contains('.'), *name));
        let mut raw = RawLead::default();
        let mut filled_by = FilledBy::new();
        let mut problems = Vec::new();
        for (name, target) in mapping {
            if filled_by.iter().any(|(t, _)| *t == target) {
                continue;
            }
            let parts: Vec<&str> = name.split('.').collect();
            let Some(value) = traits.iter().find_map(|t| path_ci(t, &parts)) else {
                continue;
            };
            match fill(&mut raw, target, value) {
                Ok(true) => filled_by.push((target, name)),
                Ok(false) => {}
                Err(problem) => {
                    filled_by.push((target, name));
                    problems.push(format!("traits.{name} ({}): {problem}", target.as_str()));
                }
            }
        }
        (raw, filled_by, problems)
    }
}

/// Whether `path` (without its query or fragment) is `prefix` or below it, by whole segments
/// and ignoring ASCII case: `/pricing` covers `/pricing`, `/pricing/` and `/Pricing/teams`,
/// not `/pricingfoo`.
fn under(path: &str, prefix: &str) -> bool {
    let path = path.split(['?', '#']).next().unwrap_or(path).to_lowercase();
    let prefix = prefix.trim_end_matches('/').to_lowercase();
    prefix.is_empty() || path == prefix || path.starts_with(&format!("{prefix}/"))
}

/// The value at `keys` below `object`.
fn path<'j>(object: &'j Map<String, Value>, keys: &[&str]) -> Option<&'j Value> {
    let (first, rest) = keys.split_first()?;
    let value = object.get(*first)?;
    match (rest.is_empty(), value) {
        (true, value) => Some(value),
        (false, Value::Object(inner)) => path(inner, rest),
        _ => None,
    }
}

/// The non-null value at `keys` below `object`, each key matched ignoring ASCII case.
fn path_ci<'j>(object: &'j Map<String, Value>, keys: &[&str]) -> Option<&'j Value> {
    let (first, rest) = keys.split_first()?;
    let value = object
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(first))
        .map(|(_, v)| v)?;
    match (rest.is_empty(), value) {
        (_, Value::Null) => None,
        (true, value) => Some(value),
        (false, Value::Object(inner)) => path_ci(inner, rest),
        _ => None,
    }
}

/// Puts trait `value` into the lead object's `target` field ([`RawLead::fill`]): whether it
/// did (an object, or empty text, is no value for a field), or why the value is of the wrong
/// kind.
fn fill(raw: &mut RawLead, target: LeadField, value: &Value) -> Result<bool, String> {
    let text = match value {
        Value::String(s) if s.trim().is_empty() => return Ok(false),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Object(_) | Value::Array(_) => return Ok(false),
        other => return Err(format!("{other} is not text")),
    };
    raw.fill(target, &text)?;
    Ok(true)
}
