//! Candidate rules sent with a backtest or a rescore dry run: the shape of
//! `config/rules.toml`, as JSON. Keys left out keep the running value (objects merge key by
//! key; a list or a value replaces the running one whole), so `{"mql": {"fit": 55}}` is a
//! complete candidate. The result is validated like the file, and a problem names its key
//! under `rules.`.

use serde_json::Value;

use crate::{
    engine::{RuleSet, Rules},
    error::ApiError,
};

/// The running rules with `candidate` laid over them, validated. `field` is the request
/// member holding the candidate (`rules`).
pub fn decode(field: &str, candidate: Value, running: &Rules) -> Result<RuleSet, ApiError> {
    if !candidate.is_object() {
        return Err(ApiError::field(
            field,
            "must be an object shaped like config/rules.toml",
        ));
    }
    let mut merged = serde_json::to_value(running)
        .map_err(|e| anyhow::anyhow!("the running rules do not serialise: {e}"))?;
    overlay(&mut merged, candidate);
    let rules: Rules = serde_path_to_error::deserialize(merged).map_err(|e| {
        let path = e.path().to_string();
        ApiError::field(format!("{field}.{path}"), e.into_inner().to_string())
    })?;
    RuleSet::new(rules).map_err(|e| ApiError::field(format!("{field}.{}", e.key), e.problem))
}

/// Lays `top` over `base`: objects key by key, anything else replaces.
fn overlay(base: &mut Value, top: Value) {
    match (base, top) {
        (Value::Object(base), Value::Object(top)) => {
            for (key, value) in top {
                match base.get_mut(&key) {
                    Some(slot) => overlay(slot, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (base, top) => *base = top,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn default_rules() -> Rules {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        crate::config::load_rules(&dir).expect("the shipped rules load")
    }

    fn field(result: Result<RuleSet, ApiError>) -> String {
        match result {
            Err(ApiError::Validation(errors)) => errors[0].field.clone(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn an_empty_candidate_is_the_running_rules() {
        let running = default_rules();
        let same = decode("rules", json!({}), &running).unwrap();
        assert_eq!(same.rules, running);
        assert_eq!(same.version, running.version());
    }

    #[test]
    fn keys_left_out_keep_their_running_value() {
        let running = default_rules();
        let candidate = json!({"mql": {"fit": 55}, "intent": {"weights": {"page_view": 5.0}}});
        let tuned = decode("rules", candidate, &running).unwrap().rules;
        assert_eq!((tuned.mql.fit, tuned.mql.intent), (55, 40.0));
        assert_eq!(tuned.intent.weights.len(), 5, "a map merges key by key");
        assert_eq!(tuned.fit, running.fit);
        assert_eq!(tuned.sla, running.sla);
    }

    #[test]
    fn problems_name_the_key_under_rules() {
        let running = default_rules();
        let cases = [
            (json!({"mql": {"fit": "high"}}), "rules.mql.fit"),
            (json!({"mql": {"fitt": 1}}), "rules.mql.fitt"),
            (
                json!({"intent": {"decay": {"half_life_days": 0}}}),
                "rules.intent.decay.half_life_days",
            ),
            (
                json!({"fit": {"employee_range": {"min": 9000}}}),
                "rules.fit.employee_range",
            ),
            (
                json!({"disqualify": [{"reason": "Disqualified_Bored", "when": "opted_out"}]}),
                "rules.disqualify[0].reason",
            ),
            (json!({"disqualify": []}), "rules.disqualify"),
            (json!([1]), "rules"),
        ];
        for (candidate, key) in cases {
            assert_eq!(field(decode("rules", candidate, &running)), key);
        }
    }
}
