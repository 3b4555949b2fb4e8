//! `[writeback]`: each lead's state written back to the CRMs that know it (HubSpot contacts,
//! Salesforce Leads), coalesced per lead and within the vendors' rate limits.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{HubSpotSettings, SalesforceApiSettings};
use crate::domain::Stage;

/// CRM write-back (`[writeback]`, `[writeback.hubspot]`, `[writeback.salesforce]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WritebackSettings {
    /// Seconds a change waits for more changes to the same lead: a burst is one write.
    #[serde(default = "default_coalesce_window_secs")]
    pub coalesce_window_secs: u64,
    /// Seconds between the checks for decayed intent (and once at start).
    #[serde(default = "default_decay_interval_secs")]
    pub decay_interval_secs: u64,
    /// Seconds between looks for due writes when the last one found none.
    #[serde(default = "default_poll_interval_secs")]
    pub poll_interval_secs: u64,
    #[serde(default = "CrmWriteSettings::hubspot")]
    pub hubspot: CrmWriteSettings,
    #[serde(default = "CrmWriteSettings::salesforce")]
    pub salesforce: CrmWriteSettings,
    /// The Salesforce org and app (`[writeback.salesforce_api]`), needed when Salesforce
    /// write-back is enabled.
    #[serde(default)]
    pub salesforce_api: Option<SalesforceApiSettings>,
}

/// One CRM's write-back.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrmWriteSettings {
    /// Off by default: nothing is queued or written.
    #[serde(default)]
    pub enabled: bool,
    /// Calls this service makes in any 10 seconds at most (per replica), below the CRM's
    /// own limit so that it is never reached in normal running.
    pub requests_per_10s: u32,
    /// The CRM's field (property) names.
    pub fields: FieldNames,
    /// Lifecycle stage (`Lead`, `MQL`, `SAL`, `SQL`, `Rejected`, `Disqualified`) to the value
    /// the CRM's stage field takes.
    pub stages: BTreeMap<Stage, String>,
}

/// The names, in the CRM, of the fields written back.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FieldNames {
    pub fit_score: String,
    pub intent_score: String,
    pub lifecycle_stage: String,
    pub demand_state: String,
    pub account_tier: String,
    pub disqualified_reason: String,
    pub rejection_reason: String,
    /// The owning rep's email.
    pub owner: String,
}

impl FieldNames {
    /// Every name, in the order of the fields.
    pub fn all(&self) -> [&str; 8] {
        [
            &self.fit_score,
            &self.intent_score,
            &self.lifecycle_stage,
            &self.demand_state,
            &self.account_tier,
            &self.disqualified_reason,
            &self.rejection_reason,
            &self.owner,
        ]
    }
}

fn default_coalesce_window_secs() -> u64 {
    30
}

fn default_decay_interval_secs() -> u64 {
    86_400
}

fn default_poll_interval_secs() -> u64 {
    1
}

impl Default for WritebackSettings {
    fn default() -> Self {
        Self {
            coalesce_window_secs: default_coalesce_window_secs(),
            decay_interval_secs: default_decay_interval_secs(),
            poll_interval_secs: default_poll_interval_secs(),
            hubspot: CrmWriteSettings::hubspot(),
            salesforce: CrmWriteSettings::salesforce(),
            salesforce_api: None,
        }
    }
}

fn stages(values: [&str; 6]) -> BTreeMap<Stage, String> {
    Stage::ALL
        .into_iter()
        .zip(values.map(str::to_owned))
        .collect()
}

impl CrmWriteSettings {
    /// HubSpot's defaults: custom contact properties and the `lifecyclestage` values.
    pub fn hubspot() -> Self {
        Self {
            enabled: false,
            requests_per_10s: 80,
            fields: FieldNames {
                fit_score: "fit_score".into(),
                intent_score: "intent_score".into(),
                lifecycle_stage: "lifecyclestage".into(),
                demand_state: "demand_state".into(),
                account_tier: "account_tier".into(),
                disqualified_reason: "disqualified_reason".into(),
                rejection_reason: "rejection_reason".into(),
                owner: "leadrouter_owner".into(),
            },
            stages: stages([
                "lead",
                "marketingqualifiedlead",
                "salesqualifiedlead",
                "salesqualifiedlead",
                "other",
                "other",
            ]),
        }
    }

    /// Salesforce's defaults: custom Lead fields and the standard Lead Status values.
    pub fn salesforce() -> Self {
        Self {
            enabled: false,
            requests_per_10s: 50,
            fields: FieldNames {
                fit_score: "Fit_Score__c".into(),
                intent_score: "Intent_Score__c".into(),
                lifecycle_stage: "Status".into(),
                demand_state: "Demand_State__c".into(),
                account_tier: "Account_Tier__c".into(),
                disqualified_reason: "Disqualified_Reason__c".into(),
                rejection_reason: "Rejection_Reason__c".into(),
                owner: "LeadRouter_Owner__c".into(),
            },
            stages: stages([
                "Open - Not Contacted",
                "Open - Not Contacted",
                "Working - Contacted",
                // `Closed - Converted` is Salesforce's to set, by converting the Lead.
                "Working - Contacted",
                "Closed - Not Converted",
                "Closed - Not Converted",
            ]),
        }
    }

    /// The first problem of one CRM's settings (`key` is its section), as (key, problem).
    pub(super) fn problem(&self, key: &'static str) -> Option<(String, String)> {
        if self.requests_per_10s == 0 {
            return Some((
                format!("{key}.requests_per_10s"),
                "must be at least 1".into(),
            ));
        }
        if let Some(stage) = Stage::ALL.iter().find(|s| !self.stages.contains_key(s)) {
            return Some((
                format!("{key}.stages"),
                format!("no value for stage {}", stage.as_str()),
            ));
        }
        let names = self.fields.all();
        if let Some(name) = names.iter().find(|n| n.trim().is_empty()) {
            return Some((
                format!("{key}.fields"),
                format!("{name:?} is not a field name"),
            ));
        }
        let mut sorted = names.to_vec();
        sorted.sort();
        if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
            return Some((
                format!("{key}.fields"),
                format!("{:?} names two fields", w[0]),
            ));
        }
        None
    }
}

impl WritebackSettings {
    /// The first problem, as (key, problem); `hubspot` is the connector whose API base URL
    /// and access token HubSpot write-back uses.
    pub(super) fn problem(&self, hubspot: &HubSpotSettings) -> Option<(String, String)> {
        if self.decay_interval_secs == 0 {
            return Some((
                "writeback.decay_interval_secs".into(),
                "must be at least 1".into(),
            ));
        }
        if self.poll_interval_secs == 0 {
            return Some((
                "writeback.poll_interval_secs".into(),
                "must be at least 1".into(),
            ));
        }
        if self.hubspot.enabled {
            if let Err(problem) = super::hubspot::base_url(&hubspot.api_base_url) {
                return Some(("sources.hubspot.api_base_url".into(), problem));
            }
        }
        if self.hubspot.enabled && hubspot.access_token.is_none() {
            return Some((
                "writeback.hubspot.enabled".into(),
                "needs sources.hubspot.access_token (LEADROUTER_SOURCES__HUBSPOT__ACCESS_TOKEN), \
                 a private app's token with the crm.objects.contacts.write scope"
                    .into(),
            ));
        }
        if self.salesforce.enabled && self.salesforce_api.is_none() {
            return Some((
                "writeback.salesforce.enabled".into(),
                "needs [writeback.salesforce_api]: login_url, client_id and client_secret \
                 (LEADROUTER_WRITEBACK__SALESFORCE_API__CLIENT_SECRET)"
                    .into(),
            ));
        }
        self.hubspot
            .problem("writeback.hubspot")
            .or_else(|| self.salesforce.problem("writeback.salesforce"))
    }
}
