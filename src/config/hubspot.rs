//! `[sources.hubspot]`: HubSpot app webhooks and workflow webhooks at `POST /webhooks/hubspot`.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::domain::{EventType, LeadField, Secret};

/// HubSpot (`POST /webhooks/hubspot`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubSpotSettings {
    /// Off by default: the route answers 404.
    #[serde(default)]
    pub enabled: bool,
    /// The app's client secret, which signs every request (v1, v2 and v3 signatures); from
    /// the environment only (`LEADROUTER_SOURCES__HUBSPOT__CLIENT_SECRET`).
    pub client_secret: Option<Secret>,
    /// The URL HubSpot calls this service at, without the path (e.g.
    /// `https://leadrouter.example.com`): v2 and v3 signatures cover the URI HubSpot called,
    /// which a proxy in front of the service may rewrite.
    pub public_base_url: Option<String>,
    /// HubSpot's API, which resolves contact ids that no lead remembers yet.
    #[serde(default = "default_api_base_url")]
    pub api_base_url: String,
    /// A private app's access token (scopes `crm.objects.contacts.read`,
    /// `crm.objects.companies.read` and, for deals, `crm.objects.deals.read`); from the
    /// environment only (`LEADROUTER_SOURCES__HUBSPOT__ACCESS_TOKEN`). Without one, an event
    /// naming an unknown contact is kept as a dead letter.
    pub access_token: Option<Secret>,
    /// How long one API call may take, in milliseconds: HubSpot gives a webhook 5 s.
    #[serde(default = "default_api_timeout_ms")]
    pub api_timeout_ms: u64,
    /// HubSpot contact property (internal name) to the lead field it fills.
    #[serde(default)]
    pub properties: BTreeMap<String, LeadField>,
    /// Properties kept with each event as they are (e.g. `hs_lead_status`,
    /// `lifecyclestage`), for the lead's history.
    #[serde(default)]
    pub kept_properties: Vec<String>,
    /// Property changes that are events of their own, first match wins.
    #[serde(default)]
    pub signals: Vec<PropertySignal>,
    /// The company property whose value is the account's tier (through `company_tiers`);
    /// companies set no tier without one.
    pub company_tier_property: Option<String>,
    /// Values of `company_tier_property` (case-insensitive) and the tier (1 to 3) each is.
    #[serde(default)]
    pub company_tiers: BTreeMap<String, i64>,
    /// The currency of deal amounts when a deal names none (`deal_currency_code` is set only
    /// in portals with several currencies); `USD` if unset.
    pub currency: Option<String>,
}

/// A property change that means an event: `property` changed to a value containing
/// `contains` (case-insensitive; any value when absent) is an event of type `event`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PropertySignal {
    pub property: String,
    pub contains: Option<String>,
    pub event: EventType,
}

impl PropertySignal {
    /// Whether a change of `property` to `value` is this signal.
    pub fn matches(&self, property: &str, value: &str) -> bool {
        self.property.eq_ignore_ascii_case(property)
            && self
                .contains
                .as_deref()
                .is_none_or(|needle| value.to_lowercase().contains(&needle.to_lowercase()))
    }
}

fn default_api_base_url() -> String {
    "https://api.hubapi.com".to_owned()
}

fn default_api_timeout_ms() -> u64 {
    1_500
}

impl Default for HubSpotSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            client_secret: None,
            public_base_url: None,
            api_base_url: default_api_base_url(),
            access_token: None,
            api_timeout_ms: default_api_timeout_ms(),
            properties: BTreeMap::new(),
            kept_properties: Vec::new(),
            signals: Vec::new(),
            company_tier_property: None,
            company_tiers: BTreeMap::new(),
            currency: None,
        }
    }
}

impl HubSpotSettings {
    /// The first problem of an enabled connector's settings, as (key, problem).
    pub(super) fn problem(&self) -> Option<(&'static str, String)> {
        if !self.enabled {
            return None;
        }
        if self
            .client_secret
            .as_ref()
            .is_none_or(|s| s.expose().trim().is_empty())
        {
            return Some((
                "sources.hubspot.client_secret",
                "must be set, from the environment (LEADROUTER_SOURCES__HUBSPOT__CLIENT_SECRET), \
                 to the app's client secret (HubSpot: your app > Auth > Client secret)"
                    .to_owned(),
            ));
        }
        match self.public_base_url.as_deref().map(base_url) {
            None => {
                return Some((
                    "sources.hubspot.public_base_url",
                    "must be set to the URL HubSpot calls this service at (e.g. \
                     https://leadrouter.example.com), since signatures cover it"
                        .to_owned(),
                ));
            }
            Some(Err(problem)) => return Some(("sources.hubspot.public_base_url", problem)),
            Some(Ok(())) => {}
        }
        if let Err(problem) = base_url(&self.api_base_url) {
            return Some(("sources.hubspot.api_base_url", problem));
        }
        if self.api_timeout_ms == 0 || self.api_timeout_ms > 4_000 {
            return Some((
                "sources.hubspot.api_timeout_ms",
                "must be 1 to 4000: HubSpot waits 5 s for the whole webhook".to_owned(),
            ));
        }
        if let Some((name, tier)) = self
            .company_tiers
            .iter()
            .find(|(_, t)| !(1..=3).contains(*t))
        {
            return Some((
                "sources.hubspot.company_tiers",
                format!("{name:?} = {tier}: a tier is 1, 2 or 3"),
            ));
        }
        if !self.properties.values().any(|f| *f == LeadField::Email) {
            return Some((
                "sources.hubspot.properties",
                "no property maps to email, so no contact could name its lead".to_owned(),
            ));
        }
        None
    }

    /// The company properties to read from HubSpot's API.
    pub fn company_properties(&self) -> Vec<&str> {
        let mut names = vec!["domain", "name"];
        names.extend(self.company_tier_property.as_deref());
        names
    }

    /// The contact properties to read from HubSpot's API: every mapped or kept one.
    pub fn read_properties(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .properties
            .keys()
            .chain(&self.kept_properties)
            .map(String::as_str)
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }
}

/// Whether `url` is an absolute http(s) URL without a query, as a base to join paths to.
pub(super) fn base_url(url: &str) -> Result<(), String> {
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.query().is_none() => Ok(()),
        _ => Err(format!(
            "{url:?} is not an http(s) URL without a query, such as https://leadrouter.example.com"
        )),
    }
}
