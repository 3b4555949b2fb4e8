//! Opportunities as the CRMs report them, and the fold that makes one opportunity's state of
//! all its events, whatever order they arrived in.

use std::{fmt, str::FromStr};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Email, IdSystem};

/// The closed list of opportunity event types.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum OpportunityEventType {
    OpportunityCreated,
    OpportunityStageChanged,
    OpportunityClosedWon,
    OpportunityClosedLost,
}

impl OpportunityEventType {
    pub const ALL: [OpportunityEventType; 4] = [
        OpportunityEventType::OpportunityCreated,
        OpportunityEventType::OpportunityStageChanged,
        OpportunityEventType::OpportunityClosedWon,
        OpportunityEventType::OpportunityClosedLost,
    ];

    /// The wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            OpportunityEventType::OpportunityCreated => "opportunity_created",
            OpportunityEventType::OpportunityStageChanged => "opportunity_stage_changed",
            OpportunityEventType::OpportunityClosedWon => "opportunity_closed_won",
            OpportunityEventType::OpportunityClosedLost => "opportunity_closed_lost",
        }
    }

    /// The status an opportunity has once this event is its latest.
    fn status(self) -> OpportunityStatus {
        match self {
            OpportunityEventType::OpportunityClosedWon => OpportunityStatus::Won,
            OpportunityEventType::OpportunityClosedLost => OpportunityStatus::Lost,
            _ => OpportunityStatus::Open,
        }
    }
}

impl fmt::Display for OpportunityEventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OpportunityEventType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|t| t.as_str()).collect();
                format!(
                    "{s:?} is not an opportunity event type; one of {}",
                    names.join(", ")
                )
            })
    }
}

/// Open, won or lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OpportunityStatus {
    Open,
    Won,
    Lost,
}

impl OpportunityStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OpportunityStatus::Open => "open",
            OpportunityStatus::Won => "won",
            OpportunityStatus::Lost => "lost",
        }
    }
}

/// An amount of money: a decimal with at most two places, as text so that it is stored and
/// summed exactly (PostgreSQL `numeric`), and its ISO 4217 currency.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    pub amount: String,
    pub currency: String,
}

/// Which half of an amount of money is wrong, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MoneyError {
    Amount(String),
    Currency(String),
}

impl MoneyError {
    /// The field named `amount_field` or `currency_field` that is wrong, and why.
    pub fn field<'f>(self, amount_field: &'f str, currency_field: &'f str) -> (&'f str, String) {
        match self {
            MoneyError::Amount(why) => (amount_field, why),
            MoneyError::Currency(why) => (currency_field, why),
        }
    }
}

impl Money {
    /// `amount` (digits, optionally a point and one or two more) in `currency` (three
    /// letters, upper-cased); why not, otherwise.
    pub fn parse(amount: &str, currency: &str) -> Result<Self, MoneyError> {
        let stated = amount.trim();
        // Salesforce renders large currency values as doubles, e.g. `1.5E7`.
        let expanded = without_exponent(stated);
        let amount = expanded.as_deref().unwrap_or(stated);
        let (whole, cents) = amount.split_once('.').unwrap_or((amount, ""));
        let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
        if whole.is_empty() || !digits(whole) || !digits(cents) || amount.ends_with('.') {
            return Err(MoneyError::Amount(format!(
                "{amount:?} is not an amount (digits, at most two after a point, not negative)"
            )));
        }
        if cents.len() > 2 {
            return Err(MoneyError::Amount(format!(
                "{amount:?} has more than two decimal places"
            )));
        }
        if whole.trim_start_matches('0').len() > 16 {
            return Err(MoneyError::Amount(format!("{amount:?} is too large")));
        }
        let currency = currency.trim().to_ascii_uppercase();
        if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(MoneyError::Currency(format!(
                "{currency:?} is not an ISO 4217 currency code"
            )));
        }
        Ok(Money {
            amount: amount.to_owned(),
            currency,
        })
    }

    /// An amount given in JSON as a number or a string, in `currency`.
    pub fn from_json(amount: &Value, currency: &str) -> Result<Self, MoneyError> {
        match amount {
            Value::Number(n) => Money::parse(&n.to_string(), currency),
            Value::String(s) => Money::parse(s, currency),
            other => Err(MoneyError::Amount(format!("{other} is not an amount"))),
        }
    }
}

/// `1.5E7` as `15000000`: the digits of a decimal in exponent form with its point moved, or
/// `None` when `s` is not in that form.
fn without_exponent(s: &str) -> Option<String> {
    let (mantissa, exponent) = s.split_once(['e', 'E'])?;
    let exponent: i32 = exponent
        .strip_prefix('+')
        .unwrap_or(exponent)
        .parse()
        .ok()?;
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |p: &str| p.chars().all(|c| c.is_ascii_digit());
    if whole.is_empty() || !all_digits(whole) || !all_digits(fraction) || exponent.abs() > 40 {
        return None;
    }
    let digits = format!("{whole}{fraction}");
    let point = whole.len() as i32 + exponent;
    let (whole, fraction) = if point <= 0 {
        (
            "0".to_owned(),
            format!("{}{digits}", "0".repeat(point.unsigned_abs() as usize)),
        )
    } else if point as usize >= digits.len() {
        (
            format!("{digits}{}", "0".repeat(point as usize - digits.len())),
            String::new(),
        )
    } else {
        let (w, f) = digits.split_at(point as usize);
        (w.to_owned(), f.to_owned())
    };
    let whole = match whole.trim_start_matches('0') {
        "" => "0",
        w => w,
    };
    let fraction = fraction.trim_end_matches('0');
    Some(if fraction.is_empty() {
        whole.to_owned()
    } else {
        format!("{whole}.{fraction}")
    })
}

/// Someone an opportunity belongs to, as the CRM names them.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ContactRef {
    Email {
        email: Email,
    },
    /// A contact or lead by the CRM's id, resolved through the ids leads remember.
    Crm {
        system: IdSystem,
        id: String,
    },
}

/// What one event says of its opportunity; absent fields say nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpportunityFacts {
    /// The reporting system's id for the opportunity.
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub money: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// When it was opened in the CRM; absent, its creation event's time stands for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opened_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close_date: Option<NaiveDate>,
    /// When it was won or lost, as the CRM states it; absent, the closing event's time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_domain: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<ContactRef>,
}

/// A validated opportunity event, whatever system it came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpportunityEvent {
    pub event_id: String,
    pub source: String,
    pub event_type: OpportunityEventType,
    pub occurred_at: DateTime<Utc>,
    pub opportunity: OpportunityFacts,
}

/// An opportunity's state: the fold of all its events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpportunityState {
    pub name: Option<String>,
    pub money: Option<Money>,
    pub stage: Option<String>,
    pub status: OpportunityStatus,
    pub opened_at: DateTime<Utc>,
    /// When it became won or lost, the first time for the status it has now.
    pub closed_at: Option<DateTime<Utc>>,
    pub close_date: Option<NaiveDate>,
    pub account_domain: Option<String>,
    pub last_event_at: DateTime<Utc>,
}

/// Folds one opportunity's events (at least one) in occurrence order, whatever order they are
/// given in: each field is the latest event's that states it; the status is the latest
/// event's, a closing winning a tie; a redelivered or late event changes nothing it should
/// not. `None` for no events.
pub fn fold(events: &[OpportunityEvent]) -> Option<OpportunityState> {
    let mut ordered: Vec<&OpportunityEvent> = events.iter().collect();
    // A closing sorts after an opening or a stage change at the same instant.
    ordered.sort_by(|a, b| {
        (a.occurred_at, closes(a), &a.event_id).cmp(&(b.occurred_at, closes(b), &b.event_id))
    });
    let (first, last) = (ordered.first()?, ordered.last()?);
    let status = last.event_type.status();
    // The trailing run of events with the status it has now: the time the CRM states in
    // them, else the time the run began.
    let closed_at = (status != OpportunityStatus::Open).then(|| {
        let run: Vec<&&OpportunityEvent> = ordered
            .iter()
            .rev()
            .take_while(|e| e.event_type.status() == status)
            .collect();
        run.iter()
            .find_map(|e| e.opportunity.closed_at)
            .unwrap_or(run.last().unwrap_or(&last).occurred_at)
    });
    let created = ordered
        .iter()
        .find(|e| e.event_type == OpportunityEventType::OpportunityCreated);
    let opened_at = ordered
        .iter()
        .rev()
        .find_map(|e| e.opportunity.opened_at)
        .or(created.map(|e| e.occurred_at))
        .unwrap_or(first.occurred_at);
    Some(OpportunityState {
        name: latest(&ordered, |f| f.name.as_ref()),
        money: latest(&ordered, |f| f.money.as_ref()),
        stage: latest(&ordered, |f| f.stage.as_ref()),
        status,
        opened_at,
        closed_at,
        close_date: ordered.iter().rev().find_map(|e| e.opportunity.close_date),
        account_domain: latest(&ordered, |f| f.account_domain.as_ref()),
        last_event_at: last.occurred_at,
    })
}

/// The latest value `get` finds in `ordered` events.
fn latest<T: Clone>(
    ordered: &[&OpportunityEvent],
    get: impl Fn(&OpportunityFacts) -> Option<&T>,
) -> Option<T> {
    ordered
        .iter()
        .rev()
        .find_map(|e| get(&e.opportunity))
        .cloned()
}

fn closes(event: &OpportunityEvent) -> bool {
    event.event_type.status() != OpportunityStatus::Open
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: u32) -> DateTime<Utc> {
        format!("2026-11-02T10:{minute:02}:00Z").parse().unwrap()
    }

    fn event(id: &str, kind: OpportunityEventType, minute: u32) -> OpportunityEvent {
        OpportunityEvent {
            event_id: id.to_owned(),
            source: "crm".to_owned(),
            event_type: kind,
            occurred_at: at(minute),
            opportunity: OpportunityFacts {
                id: "opp-1".to_owned(),
                ..OpportunityFacts::default()
            },
        }
    }

    fn usd(amount: &str) -> Option<Money> {
        Some(Money::parse(amount, "usd").unwrap())
    }

    fn history() -> Vec<OpportunityEvent> {
        use OpportunityEventType::*;
        let mut created = event("e1", OpportunityCreated, 0);
        created.opportunity.money = usd("1000");
        created.opportunity.stage = Some("Prospecting".into());
        let mut changed = event("e2", OpportunityStageChanged, 5);
        changed.opportunity.stage = Some("Negotiation".into());
        changed.opportunity.money = usd("1200.50");
        let mut won = event("e3", OpportunityClosedWon, 9);
        won.opportunity.stage = Some("Closed Won".into());
        // An edit after the close: still won, since the first won.
        let mut edited = event("e4", OpportunityClosedWon, 20);
        edited.opportunity.name = Some("Acme renewal".into());
        vec![created, changed, won, edited]
    }

    #[test]
    fn every_order_folds_to_the_same_state() {
        let events = history();
        let expected = fold(&events).unwrap();
        assert_eq!(expected.status, OpportunityStatus::Won);
        assert_eq!(expected.opened_at, at(0));
        assert_eq!(expected.closed_at, Some(at(9)));
        assert_eq!(expected.last_event_at, at(20));
        assert_eq!(expected.money, usd("1200.50"));
        assert_eq!(expected.stage.as_deref(), Some("Closed Won"));
        assert_eq!(expected.name.as_deref(), Some("Acme renewal"));
        for rotation in 0..events.len() {
            let mut shuffled = events.clone();
            shuffled.rotate_left(rotation);
            let last = shuffled.len() - 1;
            shuffled.swap(0, rotation.min(last));
            assert_eq!(fold(&shuffled).unwrap(), expected, "rotation {rotation}");
            let mut reversed = shuffled.clone();
            reversed.reverse();
            assert_eq!(fold(&reversed).unwrap(), expected);
        }
        let mut twice = events.clone();
        twice.extend(events.iter().cloned());
        assert_eq!(
            fold(&twice).unwrap(),
            expected,
            "redeliveries change nothing"
        );
    }

    #[test]
    fn a_reopened_deal_is_open_and_a_close_wins_a_tie() {
        use OpportunityEventType::*;
        let mut events = history();
        events.push(event("e5", OpportunityStageChanged, 30));
        let reopened = fold(&events).unwrap();
        assert_eq!(reopened.status, OpportunityStatus::Open);
        assert_eq!(reopened.closed_at, None);

        let tie = [
            event("a", OpportunityClosedLost, 3),
            event("b", OpportunityStageChanged, 3),
        ];
        let lost = fold(&tie).unwrap();
        assert_eq!(lost.status, OpportunityStatus::Lost);
        assert_eq!(lost.closed_at, Some(at(3)));
    }

    #[test]
    fn a_closing_time_stated_by_the_crm_wins_over_event_times() {
        use OpportunityEventType::*;
        // A late change notification, read after the close, also reads as a close: the
        // time the CRM states keeps the closing where it was.
        let mut early = event("x", OpportunityClosedWon, 4);
        let mut late = event("y", OpportunityClosedWon, 12);
        early.opportunity.closed_at = Some(at(11));
        late.opportunity.closed_at = Some(at(11));
        let events = [event("c", OpportunityCreated, 0), early, late];
        assert_eq!(fold(&events).unwrap().closed_at, Some(at(11)));
        let mut reversed = events.to_vec();
        reversed.reverse();
        assert_eq!(fold(&reversed).unwrap().closed_at, Some(at(11)));
    }

    #[test]
    fn an_opening_time_stated_by_the_crm_wins_over_event_times() {
        use OpportunityEventType::*;
        let mut won = event("w", OpportunityClosedWon, 40);
        won.opportunity.opened_at = Some(at(1));
        let state = fold(&[won.clone()]).unwrap();
        assert_eq!((state.opened_at, state.closed_at), (at(1), Some(at(40))));
        // Without a stated time, the first creation's time, else the first event's.
        let only_change = [
            event("c", OpportunityStageChanged, 7),
            event("d", OpportunityClosedLost, 8),
        ];
        assert_eq!(fold(&only_change).unwrap().opened_at, at(7));
        assert_eq!(fold(&[]), None);
    }

    #[test]
    fn money_is_validated_exactly() {
        assert_eq!(Money::parse(" 52000.5 ", "eur").unwrap().amount, "52000.5");
        assert_eq!(Money::parse("0", "JPY").unwrap().currency, "JPY");
        for bad in [
            "",
            "-1",
            "1.234",
            "1e-3",
            "1e",
            "12.",
            ".5",
            "1,000",
            "12345678901234567",
        ] {
            assert!(Money::parse(bad, "USD").is_err(), "{bad:?}");
        }
        for (stated, exact) in [("1.5E7", "15000000"), ("1e5", "100000"), ("2.5e-1", "0.25")] {
            assert_eq!(
                Money::parse(stated, "USD").unwrap().amount,
                exact,
                "{stated}"
            );
        }
        let json = |v: serde_json::Value| Money::from_json(&v, "USD").map(|m| m.amount);
        assert_eq!(json(serde_json::json!(1200.5)).unwrap(), "1200.5");
        assert_eq!(json(serde_json::json!("7")).unwrap(), "7");
        assert!(json(serde_json::json!(true)).is_err());
        assert!(Money::parse("1", "US").is_err());
        assert!(Money::parse("1", "U$D").is_err());
    }
}
