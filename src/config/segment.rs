//! `[sources.segment]`: the Segment Webhooks destination (`POST /webhooks/segment`).

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::domain::{EventType, LeadField, Secret};

/// The Segment connector's settings. The mappings are data (`config/default.toml` ships the
/// defaults), so a customer's own event name or trait is a config line.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentSettings {
    /// Off by default: the route answers 404.
    #[serde(default)]
    pub enabled: bool,
    /// The destination's shared secret, the key of the `X-Signature` HMAC; from the
    /// environment only (`LEADROUTER_SOURCES__SEGMENT__SECRET`).
    pub secret: Option<Secret>,
    /// `track` event names (matched case-insensitively) and the event type each means; a
    /// name not listed makes the message a dead letter.
    #[serde(default)]
    pub events: BTreeMap<String, EventType>,
    /// Trait names (matched case-insensitively; `company.name` reads inside the `company`
    /// object) and the lead field each fills.
    #[serde(default)]
    pub traits: BTreeMap<String, LeadField>,
    /// Path prefixes whose `page` calls are `pricing_page_visit`s.
    #[serde(default)]
    pub pricing_paths: Vec<String>,
    /// Path prefixes whose `page` calls are `comparison_page_visit`s.
    #[serde(default)]
    pub comparison_paths: Vec<String>,
}

/// Fewest characters the shared secret may have: it is all that authenticates a message.
pub const MIN_SEGMENT_SECRET_CHARS: usize = 32;

impl SegmentSettings {
    /// The event type `track` event `name` is mapped to, if any.
    pub fn event_type(&self, name: &str) -> Option<EventType> {
        let name = name.trim().to_lowercase();
        self.events
            .iter()
            .find(|(n, _)| n.to_lowercase() == name)
            .map(|(_, t)| *t)
    }

    /// The first problem of the settings, as (key, problem). The mappings are checked even
    /// while the connector is off, so a typo shows before it is turned on.
    pub(super) fn problem(&self) -> Option<(&'static str, String)> {
        let mut seen = BTreeMap::new();
        for (name, event_type) in &self.events {
            if name.trim().is_empty() {
                return Some((
                    "sources.segment.events",
                    "an event name is empty".to_owned(),
                ));
            }
            if let Some((other, other_type)) = seen.insert(name.to_lowercase(), (name, event_type))
            {
                if other_type != event_type {
                    return Some((
                        "sources.segment.events",
                        format!(
                            "{other:?} and {name:?} are one name (names match case-insensitively) \
                             mapped to two event types"
                        ),
                    ));
                }
            }
        }
        if let Some(name) = self
            .traits
            .keys()
            .find(|name| name.is_empty() || name.split('.').any(|part| part.trim().is_empty()))
        {
            return Some((
                "sources.segment.traits",
                format!("{name:?} is not a trait name (or a dotted path such as company.name)"),
            ));
        }
        for (key, paths) in [
            ("sources.segment.pricing_paths", &self.pricing_paths),
            ("sources.segment.comparison_paths", &self.comparison_paths),
        ] {
            if let Some(path) = paths.iter().find(|p| !p.starts_with('/')) {
                return Some((
                    key,
                    format!("{path:?} is not a path prefix (one starts with /)"),
                ));
            }
        }
        if !self.enabled {
            return None;
        }
        let secret_ok = self
            .secret
            .as_ref()
            .is_some_and(|s| s.expose().chars().count() >= MIN_SEGMENT_SECRET_CHARS);
        if !secret_ok {
            return Some((
                "sources.segment.secret",
                format!(
                    "must be set, from the environment (LEADROUTER_SOURCES__SEGMENT__SECRET), to the \
                     Webhooks destination's shared secret of at least {MIN_SEGMENT_SECRET_CHARS} \
                     characters (e.g. `openssl rand -hex 32`), since it alone authenticates a message"
                ),
            ));
        }
        if !self.traits.values().any(|f| *f == LeadField::Email) {
            return Some((
                "sources.segment.traits",
                "no trait maps to email, so no message could name its lead".to_owned(),
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::load_settings;

    /// Loads the shipped default.toml changed by `edit` from a scratch folder.
    fn load(name: &str, edit: impl Fn(String) -> String) -> Result<SegmentSettings, String> {
        let dir = std::env::temp_dir().join(format!("leadrouter-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let shipped = include_str!("../../config/default.toml").to_owned();
        std::fs::write(dir.join("default.toml"), edit(shipped)).unwrap();
        let loaded = load_settings(Path::new(&dir));
        std::fs::remove_dir_all(&dir).unwrap();
        loaded.map(|s| s.sources.segment).map_err(|e| e.to_string())
    }

    fn on(shipped: String) -> String {
        shipped.replace(
            "# (docs/integrations/segment.md). Off by default: the route answers 404.\nenabled = false",
            "# (docs/integrations/segment.md). Off by default: the route answers 404.\nenabled = true",
        )
    }

    #[test]
    fn the_segment_connector_is_off_by_default_with_the_documented_mappings() {
        let segment = load("segment-off", |s| s).unwrap();
        assert!(!segment.enabled);
        assert_eq!(
            segment.event_type("demo requested"),
            Some(EventType::DemoRequest)
        );
        assert_eq!(segment.traits["email"], LeadField::Email);
        assert_eq!(segment.pricing_paths, ["/pricing"]);
        assert_eq!(segment.comparison_paths, ["/compare"]);
    }

    #[test]
    fn an_enabled_connector_needs_its_secret_and_sane_mappings() {
        let error = load("segment-nosecret", on).unwrap_err();
        assert!(
            error.contains("default.toml: sources.segment.secret: must be set"),
            "{error}"
        );
        let secret = |s: String, secret: &str| {
            on(s).replace("# secret = \"\"", &format!("secret = \"{secret}\""))
        };
        let error = load("segment-short", |s| secret(s, "short")).unwrap_err();
        assert!(error.contains("sources.segment.secret"), "{error}");
        let long = "s".repeat(MIN_SEGMENT_SECRET_CHARS);
        let segment = load("segment-on", |s| secret(s, &long)).unwrap();
        assert_eq!(format!("{:?}", segment.secret), "Some(***)");

        let cases = [
            (
                "\"Demo Requested\" = \"demo_request\"",
                "\"Demo Requested\" = \"demo_request\"\n\"demo requested\" = \"form_submission\"",
                "sources.segment.events: \"Demo Requested\" and \"demo requested\" are one name",
            ),
            (
                "\"Demo Requested\" = \"demo_request\"",
                "\"Demo Requested\" = \"demo\"",
                "demo",
            ),
            (
                "pricing_paths = [\"/pricing\"]",
                "pricing_paths = [\"pricing\"]",
                "sources.segment.pricing_paths: \"pricing\" is not a path prefix",
            ),
            (
                "email = \"email\"\nfirstName",
                "email = \"title\"\nfirstName",
                "sources.segment.traits: no trait maps to email",
            ),
            (
                "\"company.name\" = \"company\"",
                "\"company.\" = \"company\"",
                "sources.segment.traits: \"company.\" is not a trait name",
            ),
        ];
        for (from, to, expected) in cases {
            let error = load("segment-bad", |s| {
                let edited = secret(s, &long).replacen(from, to, 1);
                assert!(edited.contains(to), "{to} applied");
                edited
            })
            .unwrap_err();
            assert!(error.contains(expected), "{expected} not in {error}");
        }
    }
}
