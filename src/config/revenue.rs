//! `[revenue]`: how the pipeline forecast weighs open opportunities, and where the weekly
//! governance reports go.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The revenue loop's settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevenueSettings {
    /// The probability (0 to 1) that an open opportunity in each CRM stage (its name as the
    /// CRM shows it, matched case-insensitively) closes won: the forecast's weights.
    #[serde(default)]
    pub stage_probabilities: BTreeMap<String, f64>,
    /// The weight of a stage not listed, or of an opportunity without a stage.
    #[serde(default = "default_stage_probability")]
    pub default_stage_probability: f64,
    /// The outbox recipient of the weekly reports (a webhook endpoint may subscribe to it).
    #[serde(default = "default_report_recipient")]
    pub report_recipient: String,
    /// Seconds between the governance job's looks for a report that is due.
    #[serde(default = "default_governance_interval_secs")]
    pub governance_interval_secs: u64,
    /// The fewest won deals the predictive model fits on unless forced.
    #[serde(default = "default_model_min_won_deals")]
    pub model_min_won_deals: usize,
    /// The fewest months of closed deals the predictive model fits on unless forced.
    #[serde(default = "default_model_min_history_months")]
    pub model_min_history_months: u32,
}

impl Default for RevenueSettings {
    fn default() -> Self {
        Self {
            stage_probabilities: BTreeMap::new(),
            default_stage_probability: default_stage_probability(),
            report_recipient: default_report_recipient(),
            governance_interval_secs: default_governance_interval_secs(),
            model_min_won_deals: default_model_min_won_deals(),
            model_min_history_months: default_model_min_history_months(),
        }
    }
}

impl RevenueSettings {
    /// The weight of an open opportunity in `stage`.
    pub fn probability(&self, stage: Option<&str>) -> f64 {
        stage
            .and_then(|stage| {
                self.stage_probabilities
                    .iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case(stage))
                    .map(|(_, p)| *p)
            })
            .unwrap_or(self.default_stage_probability)
    }

    /// The first problem, as (key, problem).
    pub(super) fn problem(&self) -> Option<(&'static str, String)> {
        let outside = |p: f64| !(0.0..=1.0).contains(&p);
        if let Some((stage, p)) = self.stage_probabilities.iter().find(|(_, p)| outside(**p)) {
            return Some((
                "revenue.stage_probabilities",
                format!("{stage:?} = {p} is not a probability between 0 and 1"),
            ));
        }
        if outside(self.default_stage_probability) {
            return Some((
                "revenue.default_stage_probability",
                "must be between 0 and 1".to_owned(),
            ));
        }
        if self.governance_interval_secs == 0 {
            return Some((
                "revenue.governance_interval_secs",
                "must be at least 1".into(),
            ));
        }
        None
    }
}

fn default_stage_probability() -> f64 {
    0.1
}

fn default_report_recipient() -> String {
    "ops".to_owned()
}

fn default_governance_interval_secs() -> u64 {
    3_600
}

fn default_model_min_won_deals() -> usize {
    200
}

fn default_model_min_history_months() -> u32 {
    18
}
