//! The canonical schema of `POST /webhooks/events` (DESIGN §3): one event object or an array.
//!
//! A batch is validated whole before anything is written, and every problem is reported with
//! the JSON path of its field (`[3].lead.email`).

use chrono::{DateTime, Duration, SubsecRound, Utc};
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::{Map, Number, Value};

use super::{country, json};

use crate::{
    domain::{Email, EventType, LeadEvent, LeadField, Profile, ProfileField, text},
    error::{ApiError, FieldError},
};

/// Limits a batch must respect.
#[derive(Clone, Copy, Debug)]
pub struct Limits<'a> {
    pub max_batch_events: usize,
    /// How far in the future `occurred_at` may be (sender clock skew).
    pub max_future_skew: Duration,
    /// The configured demand states, the only values `lead.demand_state` may take.
    pub demand_states: &'a [String],
}

/// The longest a text field of an event may be, in characters (not bytes: what a user
/// counts): `event_id`, `source` and the profile, which ingest's cache keeps in memory.
pub const MAX_TEXT_CHARS: usize = text::MAX_NAME_CHARS;
/// The most JSON an event's `properties` may hold, in bytes as compactly written.
pub const MAX_PROPERTIES_BYTES: usize = 16 * 1024;
/// The deepest an event's `properties` may nest (the object itself is level 1).
pub const MAX_PROPERTIES_DEPTH: usize = 8;

/// About how many bytes `value` takes as compact JSON (strings counted unescaped), and how
/// deep its arrays and objects nest, `value` being inside `parent` levels of them.
fn json_size(value: &Value, parent: usize) -> (usize, usize) {
    match value {
        Value::Null => (4, parent),
        Value::Bool(_) => (5, parent),
        Value::Number(n) => (n.to_string().len(), parent),
        Value::String(s) => (s.len() + 2, parent),
        Value::Array(items) => items
            .iter()
            .fold((2, parent + 1), |(bytes, deepest), item| {
                let (b, d) = json_size(item, parent + 1);
                (bytes + b + 1, deepest.max(d))
            }),
        Value::Object(map) => object_size(map, parent),
    }
}

/// [`json_size`] of an object.
fn object_size(map: &Map<String, Value>, parent: usize) -> (usize, usize) {
    map.iter()
        .fold((2, parent + 1), |(bytes, deepest), (key, item)| {
            let (b, d) = json_size(item, parent + 1);
            (bytes + key.len() + 3 + b + 1, deepest.max(d))
        })
}

// Every field is optional at this stage so a missing one is reported by name, like any other
// invalid field, rather than as a serde message about the enclosing object.
// The schema (`CanonicalEvent` in the OpenAPI document) says which fields are required.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CanonicalEvent)]
pub(crate) struct RawEvent {
    /// Unique per source: re-sending it changes nothing and answers `duplicate`.
    #[schema(required = true, value_type = String)]
    event_id: Option<String>,
    /// The sending system, e.g. `hubspot`.
    #[schema(required = true, value_type = String)]
    source: Option<String>,
    #[serde(rename = "type")]
    #[schema(required = true, value_type = EventType)]
    event_type: Option<String>,
    /// RFC 3339; late and out-of-order events are applied in this order.
    #[schema(required = true, value_type = String, format = DateTime)]
    occurred_at: Option<String>,
    #[schema(required = true, value_type = RawLead)]
    lead: Option<RawLead>,
    /// Free-form properties of the event, stored as sent.
    #[schema(value_type = Option<Object>)]
    properties: Option<Map<String, Value>>,
}

/// The `lead` object as sent; calibration records carry the same object, and other systems'
/// adapters fill one field by field.
#[derive(Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CanonicalLead)]
pub(crate) struct RawLead {
    /// The lead's identity: one lead per email, case-insensitive.
    #[schema(required = true, value_type = String)]
    pub(super) email: Option<String>,
    pub(super) first_name: Option<String>,
    pub(super) last_name: Option<String>,
    pub(super) title: Option<String>,
    pub(super) company: Option<String>,
    pub(super) industry: Option<String>,
    #[schema(value_type = Option<i64>)]
    pub(super) employee_count: Option<Number>,
    #[schema(value_type = Option<i64>)]
    pub(super) annual_revenue: Option<Number>,
    pub(super) country: Option<String>,
    pub(super) demand_state: Option<String>,
}

impl RawLead {
    /// Puts the text `value` of another system's field into `target`, as the connectors'
    /// field mappings do: a count or an amount written as text becomes a number, a country
    /// name its ISO code (an unknown one is left for the checks to report). `Err` says why
    /// `value` is not even of the right kind.
    pub(super) fn fill(&mut self, target: LeadField, value: &str) -> Result<(), String> {
        let text = Some(value.to_owned());
        match target {
            LeadField::Email => self.email = text,
            LeadField::Profile(field) => match field {
                ProfileField::FirstName => self.first_name = text,
                ProfileField::LastName => self.last_name = text,
                ProfileField::Title => self.title = text,
                ProfileField::Company => self.company = text,
                ProfileField::Industry => self.industry = text,
                ProfileField::EmployeeCount => self.employee_count = Some(number_text(value)?),
                ProfileField::AnnualRevenue => self.annual_revenue = Some(number_text(value)?),
                ProfileField::Country => self.country = country::iso_code(value).or(text),
                ProfileField::DemandState => self.demand_state = text,
            },
        }
        Ok(())
    }
}

/// A number written as text, as other systems write them (`250`, `5.0E7`, `50000000.0`).
fn number_text(value: &str) -> Result<Number, String> {
    let value = value.trim();
    value
        .parse::<i64>()
        .map(Number::from)
        .ok()
        .or_else(|| value.parse::<f64>().ok().and_then(Number::from_f64))
        .ok_or_else(|| format!("{value:?} is not a number"))
}

/// Parses and validates a request body into canonical events.
pub fn parse_batch(
    body: &[u8],
    limits: &Limits<'_>,
    now: DateTime<Utc>,
) -> Result<Vec<LeadEvent>, ApiError> {
    check_batch(body, limits, |check, raw: RawEvent| {
        check.event(raw, limits, now)
    })
}

/// Decodes a body holding one event object or an array of 1 to `limits.max_batch_events`, and
/// checks each with `check` under its JSON path (`[3].`): the whole batch is validated before
/// anything is written, and every problem is reported at once.
pub(super) fn check_batch<R: DeserializeOwned, T>(
    body: &[u8],
    limits: &Limits<'_>,
    mut check: impl FnMut(&mut Checker<'_>, R) -> Option<T>,
) -> Result<Vec<T>, ApiError> {
    let (raw, is_array) = match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => (json::decode::<Vec<R>>(body)?, true),
        Some(b'{') => (vec![json::decode::<R>(body)?], false),
        Some(_) => {
            // Not JSON at all is a 400 like any syntax error; other JSON is the wrong shape.
            json::decode::<Value>(body)?;
            return Err(ApiError::field(
                "body",
                "must be an event object or an array of event objects",
            ));
        }
        None => {
            return Err(ApiError::field(
                "body",
                "is empty; send an event object or an array of them",
            ));
        }
    };
    if raw.is_empty() {
        return Err(ApiError::field(
            "body",
            "is an empty batch; send at least one event",
        ));
    }
    if raw.len() > limits.max_batch_events {
        return Err(ApiError::field(
            "body",
            format!(
                "holds {} events; a batch may hold at most {}",
                raw.len(),
                limits.max_batch_events
            ),
        ));
    }
    let mut errors = Vec::new();
    let mut checked = Vec::with_capacity(raw.len());
    for (i, raw) in raw.into_iter().enumerate() {
        let prefix = if is_array {
            format!("[{i}].")
        } else {
            String::new()
        };
        if let Some(one) = check(&mut Checker::new(&prefix, &mut errors), raw) {
            checked.push(one);
        }
    }
    if errors.is_empty() {
        Ok(checked)
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// Parses an array of canonical events held in another document's `field`; each problem is
/// named by its path in that document (`events[2].occurred_at`).
pub fn parse_nested(
    field: &str,
    events: &Value,
    limits: &Limits<'_>,
    now: DateTime<Utc>,
) -> Result<Vec<LeadEvent>, ApiError> {
    if !events.is_array() {
        return Err(ApiError::field(field, "must be an array of events"));
    }
    let body = serde_json::to_vec(events).expect("a JSON value serialises");
    parse_batch(&body, limits, now).map_err(|e| match e {
        ApiError::Validation(errors) => ApiError::Validation(
            errors
                .into_iter()
                .map(|mut e| {
                    e.field = match e.field.as_str() {
                        "body" => field.to_owned(),
                        path => format!("{field}{path}"),
                    };
                    e
                })
                .collect(),
        ),
        other => other,
    })
}

/// Checks fields, collecting every problem under `prefix` (the JSON path of the enclosing
/// object, e.g. `[3].` or `records[3].events[0].`).
pub(super) struct Checker<'a> {
    prefix: &'a str,
    errors: &'a mut Vec<FieldError>,
}

impl<'a> Checker<'a> {
    /// A checker adding the problems it finds to `errors`.
    pub(super) fn new(prefix: &'a str, errors: &'a mut Vec<FieldError>) -> Self {
        Checker { prefix, errors }
    }

    /// How many problems have been noted so far, by this checker or others on the same list.
    pub(super) fn noted(&self) -> usize {
        self.errors.len()
    }

    pub(super) fn fail(&mut self, field: &str, detail: impl Into<String>) {
        self.errors
            .push(FieldError::new(format!("{}{field}", self.prefix), detail));
    }

    /// A required text of at most [`MAX_TEXT_CHARS`] characters, trimmed.
    pub(super) fn required(&mut self, field: &str, value: Option<String>) -> Option<String> {
        let present = value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        if present.is_none() {
            self.fail(field, "is required");
        }
        self.bounded(field, present?)
    }

    /// `value` if it is at most [`MAX_TEXT_CHARS`] characters; else the problem is noted.
    pub(super) fn bounded(&mut self, field: &str, value: String) -> Option<String> {
        match text::too_long(&value, MAX_TEXT_CHARS) {
            Some(problem) => {
                self.fail(field, problem);
                None
            }
            None => Some(value),
        }
    }

    fn event(
        &mut self,
        raw: RawEvent,
        limits: &Limits<'_>,
        now: DateTime<Utc>,
    ) -> Option<LeadEvent> {
        let event_id = self.required("event_id", raw.event_id);
        let source = self
            .required("source", raw.source)
            .map(|s| s.to_lowercase());
        let event_type = self.event_type(raw.event_type);
        let occurred_at = self
            .required("occurred_at", raw.occurred_at)
            .and_then(|at| self.timestamp(&at, limits, now));
        let lead = match raw.lead {
            Some(lead) => self.lead(lead, limits),
            None => {
                self.fail("lead", "is required (an object with at least an email)");
                None
            }
        };
        let (email, profile) = lead?;
        Some(LeadEvent {
            event_id: event_id?,
            source: source?,
            event_type: event_type?,
            occurred_at: occurred_at?,
            email,
            profile,
            properties: self.properties(raw.properties.unwrap_or_default())?,
        })
    }

    /// `properties`: any JSON object, within [`MAX_PROPERTIES_BYTES`] and
    /// [`MAX_PROPERTIES_DEPTH`], since each is stored with its event.
    pub(super) fn properties(
        &mut self,
        properties: Map<String, Value>,
    ) -> Option<Map<String, Value>> {
        let (bytes, depth) = object_size(&properties, 0);
        if depth > MAX_PROPERTIES_DEPTH {
            self.fail(
                "properties",
                format!("nests {depth} levels deep; at most {MAX_PROPERTIES_DEPTH} are kept"),
            );
            return None;
        }
        if bytes > MAX_PROPERTIES_BYTES {
            self.fail(
                "properties",
                format!(
                    "holds about {bytes} bytes of JSON; at most {MAX_PROPERTIES_BYTES} are kept"
                ),
            );
            return None;
        }
        Some(properties)
    }

    /// `type`: one of the closed list of event types.
    pub(super) fn event_type(&mut self, raw: Option<String>) -> Option<EventType> {
        let t = self.required("type", raw)?;
        match t.parse::<EventType>() {
            Ok(t) => Some(t),
            Err(_) => {
                let known: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
                self.fail(
                    "type",
                    format!(
                        "{t:?} is not an event type; expected one of {}",
                        known.join(", ")
                    ),
                );
                None
            }
        }
    }

    /// `occurred_at`: an RFC 3339 timestamp no further ahead of `now` than the skew allows.
    pub(super) fn timestamp(
        &mut self,
        at: &str,
        limits: &Limits<'_>,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let parsed = self.instant("occurred_at", at)?;
        if parsed > now + limits.max_future_skew {
            self.fail("occurred_at", format!("{at} is in the future"));
            return None;
        }
        Some(parsed)
    }

    /// An RFC 3339 timestamp.
    pub(super) fn instant(&mut self, field: &str, at: &str) -> Option<DateTime<Utc>> {
        match DateTime::parse_from_rfc3339(at) {
            // To the microsecond PostgreSQL keeps, so that a lead held in memory after its
            // write (`usecase::ingest::cache`) is the lead stored.
            Ok(at) => Some(at.with_timezone(&Utc).trunc_subsecs(6)),
            Err(_) => {
                self.fail(
                    field,
                    format!("{at:?} is not an RFC 3339 timestamp such as 2026-11-20T10:00:00Z"),
                );
                None
            }
        }
    }

    pub(super) fn lead(
        &mut self,
        mut raw: RawLead,
        limits: &Limits<'_>,
    ) -> Option<(Email, Profile)> {
        let email = self.email("lead.email", raw.email.take());
        let profile = self.profile(raw, limits);
        Some((email?, profile))
    }

    /// A required email address.
    pub(super) fn email(&mut self, field: &str, raw: Option<String>) -> Option<Email> {
        self.required(field, raw)
            .and_then(|e| match Email::parse(&e) {
                Ok(email) => Some(email),
                Err(why) => {
                    self.fail(field, why.to_string());
                    None
                }
            })
    }

    /// The profile fields of a `lead` object (its `email` is left to the caller); a field
    /// with a problem is reported and left out.
    pub(super) fn profile(&mut self, raw: RawLead, limits: &Limits<'_>) -> Profile {
        let first_name = self.text("lead.first_name", raw.first_name);
        let last_name = self.text("lead.last_name", raw.last_name);
        let title = self.text("lead.title", raw.title);
        let company = self.text("lead.company", raw.company);
        let industry = self.text("lead.industry", raw.industry);
        let country = self.text("lead.country", raw.country);
        let demand_state = self.text("lead.demand_state", raw.demand_state);
        let employee_count = self.count("lead.employee_count", raw.employee_count);
        let annual_revenue = self.count("lead.annual_revenue", raw.annual_revenue);
        let country = country.and_then(|c| {
            if c.len() == 2 && c.chars().all(|ch| ch.is_ascii_alphabetic()) {
                Some(c.to_ascii_uppercase())
            } else {
                self.fail(
                    "lead.country",
                    format!("{c:?} is not an ISO 3166-1 alpha-2 code such as US"),
                );
                None
            }
        });
        let demand_state = demand_state.and_then(|state| {
            let state = state.to_lowercase();
            if limits.demand_states.contains(&state) {
                Some(state)
            } else {
                self.fail(
                    "lead.demand_state",
                    format!(
                        "unknown demand state {state:?}; configured: {}",
                        limits.demand_states.join(", ")
                    ),
                );
                None
            }
        });
        Profile {
            first_name,
            last_name,
            title,
            company,
            industry,
            employee_count,
            annual_revenue,
            country,
            demand_state,
        }
    }

    /// An optional text field, trimmed (empty is no value), at most [`MAX_TEXT_CHARS`].
    fn text(&mut self, field: &str, value: Option<String>) -> Option<String> {
        let value = value
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())?;
        self.bounded(field, value)
    }

    /// A whole, non-negative number; `250.0` is accepted because some systems send only floats.
    fn count(&mut self, field: &str, n: Option<Number>) -> Option<i64> {
        let n = n?;
        let whole = n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        });
        match whole {
            Some(v) if v >= 0 => Some(v),
            _ => {
                self.fail(field, format!("{n} is not a whole number ≥ 0"));
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()
    }

    const STATES: &[String] = &[];

    fn limits() -> Limits<'static> {
        Limits {
            max_batch_events: 3,
            max_future_skew: Duration::minutes(5),
            demand_states: STATES,
        }
    }

    fn parse(body: &str) -> Result<Vec<LeadEvent>, ApiError> {
        parse_batch(body.as_bytes(), &limits(), now())
    }

    fn fields(result: Result<Vec<LeadEvent>, ApiError>) -> Vec<String> {
        match result {
            Err(ApiError::Validation(errors)) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    const GOOD: &str = r#"{"event_id":"e1","source":"HubSpot","type":"demo_request",
        "occurred_at":"2026-11-20T10:00:00+01:00",
        "lead":{"email":" Jane@Acme.io ","title":"VP Sales","employee_count":250.0,"country":"us","company":""}}"#;

    /// The limit counts characters, as its message says: 256 × "é" is 512 bytes and fits.
    #[test]
    fn event_id_and_source_are_limited_in_characters_not_bytes() {
        let with = |field: &str, value: &str| {
            let mut event: serde_json::Value = serde_json::from_str(GOOD).unwrap();
            event[field] = value.into();
            parse(&event.to_string())
        };
        for field in ["event_id", "source"] {
            let fits = "é".repeat(MAX_TEXT_CHARS);
            assert_eq!(fits.len(), 512, "two bytes a character");
            assert!(with(field, &fits).is_ok(), "{field}: 256 characters fit");
            let over = "é".repeat(MAX_TEXT_CHARS + 1);
            assert_eq!(fields(with(field, &over)), [field]);
            let Err(ApiError::Validation(errors)) = with(field, &over) else {
                unreachable!()
            };
            assert_eq!(errors[0].detail, "is longer than 256 characters");
        }
    }

    #[test]
    fn a_single_event_is_normalised() {
        let events = parse(GOOD).unwrap();
        let e = &events[0];
        assert_eq!(e.source, "hubspot");
        assert_eq!(e.email.as_str(), "jane@acme.io");
        assert_eq!(
            e.occurred_at,
            Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap()
        );
        assert_eq!(e.profile.employee_count, Some(250));
        assert_eq!(e.profile.country.as_deref(), Some("US"));
        assert_eq!(e.profile.company, None, "an empty string is no value");
    }

    #[test]
    fn every_bad_field_of_every_event_is_named() {
        let body = format!(
            r#"[{GOOD}, {{"source":"x","type":"teleport","occurred_at":"yesterday","lead":{{"email":"nope"}}}}]"#
        );
        assert_eq!(
            fields(parse(&body)),
            [
                "[1].event_id",
                "[1].type",
                "[1].occurred_at",
                "[1].lead.email"
            ]
        );
    }

    #[test]
    fn wrong_json_types_name_the_path() {
        let body = GOOD.replace("250.0", "\"250\"");
        assert_eq!(fields(parse(&body)), ["lead.employee_count"]);
        let body = format!(
            "[{}]",
            GOOD.replace(r#""event_id":"e1""#, r#""event_id":7"#)
        );
        assert_eq!(fields(parse(&body)), ["[0].event_id"]);
    }

    #[test]
    fn unknown_fields_are_refused() {
        let body = GOOD.replace("\"title\"", "\"job_title\"");
        assert_eq!(fields(parse(&body)), ["lead.job_title"]);
    }

    #[test]
    fn batch_size_limits_and_shapes() {
        assert_eq!(fields(parse("[]")), ["body"]);
        assert_eq!(
            fields(parse(&format!("[{GOOD},{GOOD},{GOOD},{GOOD}]"))),
            ["body"]
        );
        assert_eq!(fields(parse("42")), ["body"]);
        assert!(matches!(parse("hello"), Err(ApiError::MalformedJson(_))));
        assert!(matches!(
            parse("{\"event_id\":"),
            Err(ApiError::MalformedJson(_))
        ));
        assert!(matches!(
            parse(&format!("{GOOD} trailing")),
            Err(ApiError::MalformedJson(_))
        ));
    }

    #[test]
    fn future_timestamps_beyond_the_skew_are_refused() {
        let soon = GOOD.replace("2026-11-20T10:00:00+01:00", "2026-11-22T12:04:00Z");
        assert!(parse(&soon).is_ok());
        let later = GOOD.replace("2026-11-20T10:00:00+01:00", "2026-11-22T12:06:00Z");
        assert_eq!(fields(parse(&later)), ["occurred_at"]);
    }

    #[test]
    fn text_and_properties_past_their_limits_are_refused() {
        let long = "é".repeat(MAX_TEXT_CHARS + 1);
        let body = GOOD.replace("VP Sales", &long);
        assert_eq!(fields(parse(&body)), ["lead.title"]);
        let at_limit = GOOD.replace("VP Sales", &"é".repeat(MAX_TEXT_CHARS));
        assert!(
            parse(&at_limit).is_ok(),
            "the limit counts characters, not bytes"
        );

        let big = (0..=MAX_PROPERTIES_BYTES / 1_000)
            .map(|i| format!(r#""k{i}":"{}""#, "a".repeat(1_000)))
            .collect::<Vec<_>>()
            .join(",");
        let body = GOOD.replacen('{', &format!(r#"{{"properties":{{{big}}},"#), 1);
        assert_eq!(fields(parse(&body)), ["properties"]);
        // `properties` itself is level 1: MAX levels of objects hold a scalar, one more is out.
        let nested =
            |levels: usize| format!("{}1{}", r#"{"a":"#.repeat(levels), "}".repeat(levels));
        let body = GOOD.replacen(
            '{',
            &format!(r#"{{"properties":{},"#, nested(MAX_PROPERTIES_DEPTH + 1)),
            1,
        );
        assert_eq!(fields(parse(&body)), ["properties"]);
        let fits = nested(MAX_PROPERTIES_DEPTH);
        let body = GOOD.replacen('{', &format!(r#"{{"properties":{fits},"#), 1);
        assert!(parse(&body).is_ok());
    }

    #[test]
    fn negative_or_fractional_counts_and_bad_countries_are_refused() {
        let body = GOOD.replace("250.0", "-1").replace("\"us\"", "\"USA\"");
        assert_eq!(
            fields(parse(&body)),
            ["lead.employee_count", "lead.country"]
        );
        let body = GOOD.replace("250.0", "2.5");
        assert_eq!(fields(parse(&body)), ["lead.employee_count"]);
    }
}
