//! `[sources.marketo]`: the Marketo webhook connector (`POST /webhooks/marketo`).

use std::collections::BTreeMap;

use axum::http::HeaderName;
use serde::Deserialize;

use crate::{
    domain::{EventType, LeadField, Secret},
    engine::Zone,
};

/// Marketo webhooks (`POST /webhooks/marketo`), sent by a Call Webhook flow step with the
/// payload template of `docs/integrations/marketo.md`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketoSettings {
    /// Off by default: the route answers 404.
    #[serde(default)]
    pub enabled: bool,
    /// The value the webhook's custom header carries; from the environment only
    /// (`LEADROUTER_SOURCES__MARKETO__SECRET`).
    pub secret: Option<Secret>,
    /// The custom header that carries the secret.
    #[serde(default = "default_header")]
    pub header: String,
    /// The time zone of the Marketo subscription (Admin > Location), in which Marketo renders
    /// `{{system.dateTime}}` and DateTime lead fields without an offset.
    pub time_zone: Option<Zone>,
    /// The template's `event` values (matched case-insensitively) and the event type each is.
    #[serde(default)]
    pub events: BTreeMap<String, EventType>,
    /// Members of the template's `lead` object (matched case-insensitively) and the lead
    /// field each fills.
    #[serde(default)]
    pub fields: BTreeMap<String, LeadField>,
}

impl Default for MarketoSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            secret: None,
            header: default_header(),
            time_zone: None,
            events: BTreeMap::new(),
            fields: BTreeMap::new(),
        }
    }
}

fn default_header() -> String {
    "X-Leadrouter-Secret".to_owned()
}

/// Fewest characters the webhook secret may have: it is the sender's only credential.
pub const MIN_MARKETO_SECRET_CHARS: usize = 32;

impl MarketoSettings {
    /// The event type `event` (a template's `event` value) maps to, if any.
    pub fn event_type(&self, event: &str) -> Option<EventType> {
        let event = event.trim();
        self.events
            .iter()
            .find(|(name, _)| name.trim().eq_ignore_ascii_case(event))
            .map(|(_, t)| *t)
    }

    /// The lead field the template's `lead` member `name` fills, if any.
    pub fn field(&self, name: &str) -> Option<LeadField> {
        self.fields
            .iter()
            .find(|(member, _)| member.eq_ignore_ascii_case(name))
            .map(|(_, field)| *field)
    }

    /// The first problem of the connector's settings, as (key, problem).
    pub(super) fn problem(&self) -> Option<(&'static str, String)> {
        if let Some(name) = self.events.keys().find(|name| name.trim().is_empty()) {
            return Some((
                "sources.marketo.events",
                format!("{name:?} is not an event name"),
            ));
        }
        if let Some(name) = self.fields.keys().find(|name| name.trim().is_empty()) {
            return Some((
                "sources.marketo.fields",
                format!("{name:?} is not a member name"),
            ));
        }
        if HeaderName::from_bytes(self.header.as_bytes()).is_err() {
            return Some((
                "sources.marketo.header",
                format!("{:?} is not an HTTP header name", self.header),
            ));
        }
        if !self.enabled {
            return None;
        }
        let secret_ok = self.secret.as_ref().is_some_and(|secret| {
            let secret = secret.expose();
            // A header value is visible ASCII; Marketo sends what the user typed.
            secret.chars().count() >= MIN_MARKETO_SECRET_CHARS
                && secret.bytes().all(|b| b.is_ascii_graphic())
        });
        if !secret_ok {
            return Some((
                "sources.marketo.secret",
                format!(
                    "must be set, from the environment (LEADROUTER_SOURCES__MARKETO__SECRET), to at \
                     least {MIN_MARKETO_SECRET_CHARS} visible ASCII characters without spaces (e.g. \
                     `openssl rand -hex 32`), since it is the webhook's only credential"
                ),
            ));
        }
        if self.time_zone.is_none() {
            return Some((
                "sources.marketo.time_zone",
                "must name the Marketo subscription's time zone (Admin > Location), as an IANA \
                 name such as \"America/Chicago\": Marketo renders {{system.dateTime}} in it, \
                 without an offset"
                    .to_owned(),
            ));
        }
        if !self.fields.values().any(|f| *f == LeadField::Email) {
            return Some((
                "sources.marketo.fields",
                "no member maps to email, so no call could name its lead".to_owned(),
            ));
        }
        if self.events.is_empty() {
            return Some((
                "sources.marketo.events",
                "maps no event name, so every call would be a dead letter".to_owned(),
            ));
        }
        None
    }
}
