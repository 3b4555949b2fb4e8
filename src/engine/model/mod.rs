//! The predictive model that proposes rules and never decides: each fit rule's and each
//! intent signal's lift on winning, estimated by logistic regression on leads with a closed
//! outcome, and translated into candidate rule weights for the backtest and the rescore dry
//! run to judge. Pure: the caller streams the examples in.

mod logistic;

use serde::Serialize;
use serde_json::{Map, Value, json};

pub use logistic::{Fit, MAX_ITERATIONS, Patterns, fit};

use super::{FitScore, Rules};
use crate::domain::EventType;

/// The fit rules of `config/rules.toml`, in the order of a feature vector.
pub const FIT_RULES: [&str; 7] = [
    "target_industry",
    "revenue_band",
    "employee_range",
    "buying_committee_title",
    "student_email",
    "excluded_domain",
    "out_of_geo",
];

/// Events of a type beyond this many count as this many: past a handful the lift of one more
/// is not worth a weight, and it keeps the patterns few.
pub const MAX_COUNT: u8 = 10;

/// A signal's coefficient must exceed this many standard errors to earn a weight.
const SIGNIFICANCE: f64 = 2.0;

/// The event types that may be intent signals: all but a profile update and an opt-out
/// (which disqualifies).
pub fn signals() -> impl Iterator<Item = EventType> {
    EventType::ALL
        .into_iter()
        .filter(|t| !matches!(t, EventType::ProfileUpdate | EventType::OptOut))
}

/// How many features a lead has: a flag per fit rule, a count per signal.
pub fn width() -> usize {
    FIT_RULES.len() + signals().count()
}

/// A lead's features: which fit rules matched its profile (`fit`, scored under any rules:
/// a rule matches whatever its points), and how many events of each signal it has.
pub fn features(fit: &FitScore, events: impl IntoIterator<Item = EventType>) -> Vec<u8> {
    let mut x = vec![0u8; width()];
    for (slot, rule) in x.iter_mut().zip(FIT_RULES) {
        *slot = u8::from(fit.breakdown.iter().any(|hit| hit.rule == rule));
    }
    let signals: Vec<EventType> = signals().collect();
    for event in events {
        if let Some(i) = signals.iter().position(|s| *s == event) {
            let slot = &mut x[FIT_RULES.len() + i];
            *slot = (*slot + 1).min(MAX_COUNT);
        }
    }
    x
}

/// One factor of the model, with the rule value it has now and the one proposed.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Factor {
    /// `fit.<rule>` or `intent.<event type>`.
    pub name: String,
    /// The change in log-odds of winning when the rule matches, or per event of the signal.
    pub coefficient: f64,
    pub standard_error: f64,
    /// `exp(coefficient)`: how many times the odds of winning multiply.
    pub odds_ratio: f64,
    /// The rule's points or the signal's weight now; `null` for a signal not listed.
    pub current: Option<f64>,
    /// The points or weight proposed; `null` for a signal left unlisted.
    pub proposed: Option<f64>,
}

/// The factors of `model` with the weights it proposes, and the candidate rules that carry
/// them (fit points and intent weights; thresholds are the caller's, see
/// [`with_thresholds`]). Only what the data can tell changes: a factor whose coefficient is
/// within [`SIGNIFICANCE`] standard errors of zero keeps its running value. The rest keep the
/// running rules' scale, so thresholds stay in the range they are tuned in: the significant
/// positive fit rules total the points they have now, and so do the significant lifting
/// signals listed now; a signal that significantly lowers winning is worth nothing.
pub fn propose(model: &Fit, rules: &Rules) -> (Vec<Factor>, Value) {
    let running = serde_json::to_value(&rules.fit).expect("rules serialise");
    let points = |rule: &str| running[rule]["points"].as_f64().unwrap_or(0.0);
    let significant =
        |i: usize| model.coefficients[i].abs() > SIGNIFICANCE * model.standard_errors[i];
    let lifts = |i: usize| significant(i) && model.coefficients[i] > 0.0;
    let fit_scale = scale(
        FIT_RULES
            .iter()
            .enumerate()
            .filter(|&(i, rule)| lifts(i) && points(rule) > 0.0)
            .map(|(i, rule)| (points(rule), model.coefficients[i])),
    );
    let mut factors = Vec::with_capacity(width());
    let mut fit = Map::new();
    for (i, rule) in FIT_RULES.iter().enumerate() {
        let proposed = if significant(i) {
            (model.coefficients[i] * fit_scale).round()
        } else {
            points(rule)
        };
        fit.insert((*rule).to_owned(), json!({"points": proposed as i64}));
        factors.push(factor(
            model,
            i,
            format!("fit.{rule}"),
            Some(points(rule)),
            Some(proposed),
        ));
    }
    let index = |j: usize| FIT_RULES.len() + j;
    let intent_scale = scale(signals().enumerate().filter_map(|(j, signal)| {
        let weight = rules.intent.weights.get(&signal).copied().unwrap_or(0.0);
        (lifts(index(j)) && weight > 0.0).then(|| (weight, model.coefficients[index(j)]))
    }));
    let mut weights = Map::new();
    for (j, signal) in signals().enumerate() {
        let i = index(j);
        let current = rules.intent.weights.get(&signal).copied();
        let proposed = if lifts(i) {
            Some((model.coefficients[i] * intent_scale * 10.0).round() / 10.0)
        } else if significant(i) {
            // Still activity that holds off decay, but worth no points.
            current.map(|_| 0.0)
        } else {
            current
        };
        if let Some(weight) = proposed {
            weights.insert(signal.to_string(), json!(weight));
        }
        factors.push(factor(
            model,
            i,
            format!("intent.{signal}"),
            current,
            proposed,
        ));
    }
    let candidate = json!({"fit": fit, "intent": {"weights": weights}});
    (factors, candidate)
}

/// Points per unit of log-odds when nothing anchors the scale.
const DEFAULT_SCALE: f64 = 20.0;

/// Points per unit of log-odds that keep `anchors` (running points, coefficient) at their
/// running total.
fn scale(anchors: impl Iterator<Item = (f64, f64)>) -> f64 {
    let (points, coefficients) = anchors.fold((0.0, 0.0), |(p, c), (pi, ci)| (p + pi, c + ci));
    if coefficients > 0.0 {
        points / coefficients
    } else {
        DEFAULT_SCALE
    }
}

fn factor(
    model: &Fit,
    i: usize,
    name: String,
    current: Option<f64>,
    proposed: Option<f64>,
) -> Factor {
    let coefficient = model.coefficients[i];
    Factor {
        name,
        coefficient: round4(coefficient),
        standard_error: round4(model.standard_errors[i]),
        odds_ratio: round4(coefficient.exp()),
        current,
        proposed,
    }
}

/// `candidate` with MQL thresholds `fit` and `intent`.
pub fn with_thresholds(mut candidate: Value, fit: i32, intent: f64) -> Value {
    candidate["mql"] = json!({"fit": fit, "intent": intent});
    candidate
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::FitHit;

    fn rules() -> Rules {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        crate::config::load_rules(&dir).expect("the shipped rules load")
    }

    #[test]
    fn features_are_rule_flags_then_capped_signal_counts() {
        let fit = FitScore {
            total: 45,
            breakdown: ["target_industry", "buying_committee_title"]
                .map(|rule| FitHit {
                    rule: rule.to_owned(),
                    points: 0,
                    matched: String::new(),
                })
                .to_vec(),
        };
        let mut events = vec![EventType::DemoRequest, EventType::ProfileUpdate];
        events.extend([EventType::PageView; 14]);
        let x = features(&fit, events);
        assert_eq!(x.len(), width());
        assert_eq!(&x[..7], &[1, 0, 0, 1, 0, 0, 0]);
        let at = |t: EventType| x[7 + signals().position(|s| s == t).unwrap()];
        assert_eq!(at(EventType::DemoRequest), 1);
        assert_eq!(at(EventType::PageView), MAX_COUNT);
        assert_eq!(at(EventType::FormSubmission), 0);
    }

    #[test]
    fn proposals_change_only_what_the_data_tells_and_keep_the_running_scale() {
        let rules = rules();
        let mut coefficients = vec![0.0; width()];
        let mut standard_errors = vec![0.1; width()];
        coefficients[0] = 1.0; // target_industry
        coefficients[3] = 2.0; // buying_committee_title
        coefficients[4] = -1.0; // student_email
        let signal = |t: EventType| 7 + signals().position(|s| s == t).unwrap();
        coefficients[signal(EventType::DemoRequest)] = 0.8;
        coefficients[signal(EventType::WebinarAttended)] = 0.4;
        coefficients[signal(EventType::PricingPageVisit)] = -0.5;
        coefficients[signal(EventType::ContentDownload)] = 0.05; // within two errors of 0
        standard_errors[signal(EventType::ContentDownload)] = 0.05;
        let model = Fit {
            intercept: -3.0,
            coefficients,
            standard_errors,
            iterations: 5,
            converged: true,
        };
        let (factors, candidate) = propose(&model, &rules);
        // Industry (20) and title (25) total 45 points now, over 3 of coefficient: 15 a unit.
        let fit = &candidate["fit"];
        assert_eq!(fit["target_industry"]["points"], 15);
        assert_eq!(fit["buying_committee_title"]["points"], 30);
        assert_eq!(fit["student_email"]["points"], -15);
        assert_eq!(fit["revenue_band"]["points"], 15, "no lift shown: kept");
        // demo_request anchors the intent scale: 50 points over 0.8.
        let weights = &candidate["intent"]["weights"];
        assert_eq!(weights["demo_request"], 50.0);
        assert_eq!(
            weights["webinar_attended"], 25.0,
            "a new signal is proposed"
        );
        assert_eq!(
            weights["pricing_page_visit"], 0.0,
            "lowers winning: no points"
        );
        assert_eq!(
            weights["content_download"], 10.0,
            "the data cannot tell: kept"
        );
        assert!(
            weights.get("page_view").is_none(),
            "unlisted stays unlisted"
        );
        let title = factors
            .iter()
            .find(|f| f.name == "fit.buying_committee_title");
        assert_eq!(title.unwrap().current, Some(25.0));
        assert_eq!(title.unwrap().odds_ratio, 7.3891);
    }
}
