//! A lead's state as a CRM's record update: the configured field names, the CRM's value for
//! the lifecycle stage, and values every CRM takes (numbers, text, null to clear). Pure.

use serde_json::{Map, Value};

use crate::{clients::crm::RecordUpdate, config::CrmWriteSettings, domain::Stage};

/// What is written back of one lead, as of the write.
#[derive(Debug, Clone, PartialEq)]
pub struct LeadState {
    pub fit_score: i32,
    /// Intent as of the write, in whole points (the engine's decayed score, rounded).
    pub intent_score: i64,
    pub stage: Stage,
    /// The MAP's demand state, else the one derived from behaviour.
    pub demand_state: Option<String>,
    pub account_tier: Option<i16>,
    pub disqualified_reason: Option<String>,
    pub rejection_reason: Option<String>,
    /// The owning rep's email.
    pub owner_email: Option<String>,
}

/// The update of the CRM's record `id` to `state`, with `crm`'s names and stage values. A
/// reason that no longer applies (a recycled lead's old rejection) is cleared.
pub fn record_update(id: &str, state: &LeadState, crm: &CrmWriteSettings) -> RecordUpdate {
    let names = &crm.fields;
    let text = |v: &Option<String>| v.clone().map_or(Value::Null, Value::String);
    let stage = crm
        .stages
        .get(&state.stage)
        .map_or_else(|| state.stage.as_str().to_owned(), Clone::clone);
    let mut fields = Map::new();
    fields.insert(names.fit_score.clone(), state.fit_score.into());
    fields.insert(names.intent_score.clone(), state.intent_score.into());
    fields.insert(names.lifecycle_stage.clone(), Value::String(stage));
    fields.insert(names.demand_state.clone(), text(&state.demand_state));
    fields.insert(
        names.account_tier.clone(),
        state.account_tier.map_or(Value::Null, Value::from),
    );
    let reason = |stage: Stage, reason: &Option<String>| match state.stage == stage {
        true => text(reason),
        false => Value::Null,
    };
    fields.insert(
        names.disqualified_reason.clone(),
        reason(Stage::Disqualified, &state.disqualified_reason),
    );
    fields.insert(
        names.rejection_reason.clone(),
        reason(Stage::Rejected, &state.rejection_reason),
    );
    fields.insert(names.owner.clone(), text(&state.owner_email));
    RecordUpdate {
        id: id.to_owned(),
        fields,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn state() -> LeadState {
        LeadState {
            fit_score: 70,
            intent_score: 45,
            stage: Stage::Rejected,
            demand_state: Some("late".into()),
            account_tier: Some(2),
            disqualified_reason: None,
            rejection_reason: Some("Rejected_NoBudget".into()),
            owner_email: Some("ana@reps.example".into()),
        }
    }

    #[test]
    fn hubspot_gets_its_property_names_and_stage_values() {
        let update = record_update("501", &state(), &CrmWriteSettings::hubspot());
        assert_eq!(update.id, "501");
        assert_eq!(
            Value::Object(update.fields),
            json!({"fit_score": 70, "intent_score": 45, "lifecyclestage": "other",
                   "demand_state": "late", "account_tier": 2, "disqualified_reason": null,
                   "rejection_reason": "Rejected_NoBudget", "leadrouter_owner": "ana@reps.example"})
        );
    }

    #[test]
    fn salesforce_gets_its_field_names_and_lead_status_values() {
        let mut s = state();
        s.stage = Stage::Sal;
        let update = record_update("00Q5e00000AbCdE", &s, &CrmWriteSettings::salesforce());
        assert_eq!(update.fields["Status"], json!("Working - Contacted"));
        assert_eq!(update.fields["Fit_Score__c"], json!(70));
        // Not rejected any more: the old reason is cleared.
        assert_eq!(update.fields["Rejection_Reason__c"], Value::Null);
        assert_eq!(
            update.fields["LeadRouter_Owner__c"],
            json!("ana@reps.example")
        );
    }
}
