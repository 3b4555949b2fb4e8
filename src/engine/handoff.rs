//! Handoff rules (DESIGN §2): who gets an MQL, what the rep is told about it, and which sales
//! actions each stage allows. Pure: the caller brings the reps, the events and the clock.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{MqlThresholds, SlaDeadlines};
use crate::domain::{DisqualifyReason, EventType, RejectReason, Stage};

/// `[handoff]` in `config/rules.toml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandoffRules {
    /// The recommended opener per demand state. `{first_name}`, `{company}` and `{trigger}`
    /// are filled in; `{trigger}` brings its own article ("a demo request", "an email click").
    pub openers: BTreeMap<String, String>,
}

/// An active rep as assignment sees it.
#[derive(Clone, Debug)]
pub struct RepFacts {
    pub id: Uuid,
    pub email: String,
    /// ISO country codes covered; empty = any.
    pub countries: Vec<String>,
    /// Industries covered (lower case); empty = any.
    pub industries: Vec<String>,
}

/// What assignment needs to know about the lead.
#[derive(Clone, Copy, Debug)]
pub struct RoutingFacts<'a> {
    pub account_tier: Option<u8>,
    /// The account owner's email, for Tier 1 accounts.
    pub account_owner: Option<&'a str>,
    pub country: Option<&'a str>,
    pub industry: Option<&'a str>,
}

/// Who gets the lead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Choice {
    /// The Tier 1 account's owner.
    Owner(Uuid),
    /// The next turn in a round robin over `members` (sorted), kept under `pool`.
    Pool {
        pool: String,
        members: Vec<Uuid>,
        rule: &'static str,
    },
    /// No active rep: the lead waits, unassigned.
    Nobody,
}

impl Choice {
    /// The rep whose turn `turn` is, for a pool.
    pub fn member(members: &[Uuid], turn: i64) -> Uuid {
        let n = i64::try_from(members.len()).expect("few reps");
        members[usize::try_from(turn.rem_euclid(n)).expect("non-negative")]
    }
}

/// Tier 1 goes to the account owner (when an active rep); otherwise the most specific
/// territory that matches — country and industry, then country, then industry — then the
/// reps who cover everything, then every active rep, so a lead is never dropped while one
/// rep is active.
pub fn choose(lead: RoutingFacts<'_>, reps: &[RepFacts]) -> Choice {
    if lead.account_tier == Some(1) {
        if let Some(owner) = lead
            .account_owner
            .and_then(|email| reps.iter().find(|r| r.email == email))
        {
            return Choice::Owner(owner.id);
        }
    }
    let country = |r: &RepFacts| {
        lead.country
            .is_some_and(|c| r.countries.iter().any(|rc| rc.eq_ignore_ascii_case(c)))
    };
    let industry = |r: &RepFacts| {
        lead.industry
            .is_some_and(|i| r.industries.iter().any(|ri| ri.eq_ignore_ascii_case(i)))
    };
    type Level<'a> = (&'static str, &'a dyn Fn(&RepFacts) -> bool);
    let levels: [Level<'_>; 5] = [
        ("territory", &|r| country(r) && industry(r)),
        ("territory", &|r| country(r) && r.industries.is_empty()),
        ("territory", &|r| industry(r) && r.countries.is_empty()),
        ("round_robin", &|r| {
            r.countries.is_empty() && r.industries.is_empty()
        }),
        ("round_robin", &|_| true),
    ];
    for (level, (rule, matches)) in levels.iter().enumerate() {
        let mut members: Vec<Uuid> = reps.iter().filter(|r| matches(r)).map(|r| r.id).collect();
        if members.is_empty() {
            continue;
        }
        members.sort_unstable();
        return Choice::Pool {
            pool: pool_key(level, &members),
            members,
            rule,
        };
    }
    Choice::Nobody
}

/// A short stable name for a pool: the same reps at the same level share one cursor.
fn pool_key(level: usize, members: &[Uuid]) -> String {
    let mut hash = Sha256::new();
    for id in members {
        hash.update(id.as_bytes());
    }
    format!("level{level}:{}", hex::encode(&hash.finalize()[..8]))
}

/// A sales action on a lead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SalesAction {
    Acknowledge,
    Accept,
    Reject(RejectReason),
    Qualify,
}

impl SalesAction {
    /// The path segment naming it.
    pub fn name(self) -> &'static str {
        match self {
            SalesAction::Acknowledge => "acknowledge",
            SalesAction::Accept => "accept",
            SalesAction::Reject(_) => "reject",
            SalesAction::Qualify => "qualify",
        }
    }
}

/// The stage an action leads to from `stage`, or why the stage does not allow it.
pub fn next_stage(stage: Stage, action: SalesAction) -> Result<Stage, String> {
    match (stage, action) {
        (Stage::Mql, SalesAction::Acknowledge) => Ok(Stage::Mql),
        (Stage::Mql, SalesAction::Accept) => Ok(Stage::Sal),
        (Stage::Mql, SalesAction::Reject(_)) => Ok(Stage::Rejected),
        (Stage::Sal, SalesAction::Qualify) => Ok(Stage::Sql),
        (stage, action) => Err(format!(
            "the lead is at stage {stage}; {} needs stage {}",
            action.name(),
            if action == SalesAction::Qualify {
                "SAL"
            } else {
                "MQL"
            }
        )),
    }
}

/// Whether a rep may accept a lead with these scores (as of now): both must still meet the
/// MQL thresholds, so a lead whose intent decayed while it waited cannot be accepted blind.
pub fn may_accept(fit: i32, intent: f64, mql: &MqlThresholds) -> bool {
    fit >= mql.fit && intent >= mql.intent
}

/// One touch the rep should know about.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Touch {
    #[serde(rename = "type")]
    pub event_type: EventType,
    pub source: String,
    pub occurred_at: DateTime<Utc>,
}

/// The owner as the packet names them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PacketOwner {
    pub rep_id: Uuid,
    pub name: String,
    pub email: String,
    /// How the rep was chosen: `tier1_owner`, `territory` or `round_robin`.
    pub rule: String,
}

/// What earned the MQL, handed to the rep with the lead (DESIGN §2, Handoff).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContextPacket {
    /// The event that made the lead MQL (none when a person released it).
    pub trigger: Option<Touch>,
    pub problem_hypothesis: String,
    /// The disqualification rules that ran and did not fire.
    pub disqualifiers_checked: Vec<DisqualifyReason>,
    /// The latest three touches, newest first.
    pub last_touches: Vec<Touch>,
    pub recommended_opener: String,
    pub owner: PacketOwner,
    pub sla: SlaDeadlines,
    pub fit_score: i32,
    pub intent_score: f64,
    pub demand_state: Option<String>,
    pub account_tier: Option<u8>,
}

/// What the packet is made from.
#[derive(Clone, Debug)]
pub struct PacketFacts<'a> {
    pub first_name: Option<&'a str>,
    pub company: Option<&'a str>,
    pub demand_state: Option<&'a str>,
    pub account_tier: Option<u8>,
    pub fit_score: i32,
    pub intent_score: f64,
    /// Signal counts per type, for the hypothesis.
    pub signals: &'a [(EventType, u32)],
    /// Recent touches, newest first.
    pub touches: &'a [Touch],
    pub trigger: Option<Touch>,
    pub disqualifiers_checked: Vec<DisqualifyReason>,
}

/// Builds the packet.
pub fn packet(
    facts: PacketFacts<'_>,
    owner: PacketOwner,
    sla: SlaDeadlines,
    rules: &HandoffRules,
) -> ContextPacket {
    let trigger_text = trigger_phrase(facts.trigger.as_ref());
    let opener = facts
        .demand_state
        .and_then(|s| rules.openers.get(s))
        .map_or_else(String::new, |template| {
            template
                .replace("{first_name}", facts.first_name.unwrap_or("there"))
                .replace("{company}", facts.company.unwrap_or("your team"))
                .replace("{trigger}", &trigger_text)
        });
    ContextPacket {
        problem_hypothesis: hypothesis(facts.demand_state, facts.signals),
        trigger: facts.trigger,
        disqualifiers_checked: facts.disqualifiers_checked,
        last_touches: facts.touches.iter().take(3).cloned().collect(),
        recommended_opener: opener,
        owner,
        sla,
        fit_score: facts.fit_score,
        intent_score: facts.intent_score,
        demand_state: facts.demand_state.map(str::to_owned),
        account_tier: facts.account_tier,
    }
}

/// What `{trigger}` becomes in an opener: the event with its article, or "recent activity"
/// when no event made the lead MQL.
fn trigger_phrase(trigger: Option<&Touch>) -> String {
    let Some(trigger) = trigger else {
        return "recent activity".to_owned();
    };
    let name = trigger.event_type.as_str().replace('_', " ");
    let article = if name.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {name}")
}

/// A one-line guess at the problem the lead is working on, from its demand state and what it
/// consumed.
fn hypothesis(demand_state: Option<&str>, signals: &[(EventType, u32)]) -> String {
    let count = |t: EventType| signals.iter().find(|(s, _)| *s == t).map_or(0, |(_, n)| *n);
    let consumed: Vec<String> = signals
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(t, n)| format!("{n}× {}", t.as_str().replace('_', " ")))
        .collect();
    let consumed = if consumed.is_empty() {
        "no intent signals on record".to_owned()
    } else {
        consumed.join(", ")
    };
    match demand_state {
        Some("late") if count(EventType::DemoRequest) > 0 => format!(
            "Choosing a vendor now and asked to see the product ({consumed}): expect a shortlist and a timeline."
        ),
        Some("late") => format!(
            "Comparing options and pricing ({consumed}): likely weighing us against an incumbent or a competitor."
        ),
        Some("early") => format!(
            "Researching the problem, not yet a vendor choice ({consumed}): help frame the business case."
        ),
        Some(state) => format!("Demand state {state} ({consumed})."),
        None => format!("Demand state unknown ({consumed})."),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn rep(n: u128, countries: &[&str], industries: &[&str]) -> RepFacts {
        RepFacts {
            id: Uuid::from_u128(n),
            email: format!("rep{n}@us.example"),
            countries: countries.iter().map(|s| s.to_string()).collect(),
            industries: industries.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn lead<'a>(tier: Option<u8>, owner: Option<&'a str>, country: &'a str) -> RoutingFacts<'a> {
        RoutingFacts {
            account_tier: tier,
            account_owner: owner,
            country: Some(country),
            industry: Some("software"),
        }
    }

    #[test]
    fn tier_1_goes_to_the_account_owner_if_active() {
        let reps = [rep(1, &[], &[]), rep(2, &["US"], &[])];
        assert_eq!(
            choose(lead(Some(1), Some("rep2@us.example"), "DE"), &reps),
            Choice::Owner(Uuid::from_u128(2))
        );
        // An owner who is not an active rep: the usual rules apply.
        let Choice::Pool { members, rule, .. } =
            choose(lead(Some(1), Some("gone@us.example"), "DE"), &reps)
        else {
            panic!("a pool")
        };
        assert_eq!((members, rule), (vec![Uuid::from_u128(1)], "round_robin"));
        // Tier 2 ignores the owner.
        let Choice::Pool { rule, .. } = choose(lead(Some(2), Some("rep2@us.example"), "US"), &reps)
        else {
            panic!("a pool")
        };
        assert_eq!(rule, "territory");
    }

    #[test]
    fn the_most_specific_territory_wins_then_generalists_then_anyone() {
        let reps = [
            rep(1, &["US"], &["software"]),
            rep(2, &["US"], &[]),
            rep(3, &[], &["software"]),
            rep(4, &[], &[]),
            rep(5, &["FR"], &["retail"]),
        ];
        let pool = |country: &str, reps: &[RepFacts]| match choose(lead(None, None, country), reps)
        {
            Choice::Pool { members, .. } => members,
            other => panic!("{other:?}"),
        };
        assert_eq!(pool("US", &reps), [Uuid::from_u128(1)]);
        assert_eq!(pool("US", &reps[1..]), [Uuid::from_u128(2)]);
        assert_eq!(pool("DE", &reps), [Uuid::from_u128(3)]);
        assert_eq!(
            pool("DE", &[rep(4, &[], &[]), rep(5, &["FR"], &["retail"])]),
            [Uuid::from_u128(4)]
        );
        assert_eq!(
            pool("DE", &reps[4..]),
            [Uuid::from_u128(5)],
            "never dropped"
        );
        assert_eq!(choose(lead(None, None, "DE"), &[]), Choice::Nobody);
    }

    #[test]
    fn turns_cycle_through_the_pool() {
        let members: Vec<Uuid> = (1..=3).map(Uuid::from_u128).collect();
        let picks: Vec<u128> = (0..6)
            .map(|t| Choice::member(&members, t).as_u128())
            .collect();
        assert_eq!(picks, [1, 2, 3, 1, 2, 3]);
    }

    #[test]
    fn stages_allow_only_their_actions() {
        use SalesAction::*;
        assert_eq!(next_stage(Stage::Mql, Accept), Ok(Stage::Sal));
        assert_eq!(
            next_stage(Stage::Mql, Reject(RejectReason::NoBudget)),
            Ok(Stage::Rejected)
        );
        assert_eq!(next_stage(Stage::Mql, Acknowledge), Ok(Stage::Mql));
        assert_eq!(next_stage(Stage::Sal, Qualify), Ok(Stage::Sql));
        let refused = next_stage(Stage::Sal, Accept).unwrap_err();
        assert!(refused.contains("stage SAL"), "{refused}");
        for stage in [
            Stage::Lead,
            Stage::Sql,
            Stage::Rejected,
            Stage::Disqualified,
        ] {
            for action in [Acknowledge, Accept, Reject(RejectReason::NotIcp), Qualify] {
                assert!(next_stage(stage, action).is_err(), "{stage} {action:?}");
            }
        }
        assert!(next_stage(Stage::Mql, Qualify).is_err());
    }

    #[test]
    fn the_packet_fills_the_opener_and_keeps_three_touches() {
        let at = Utc.with_ymd_and_hms(2026, 11, 20, 10, 0, 0).unwrap();
        let touch = |t: EventType, h: i64| Touch {
            event_type: t,
            source: "hubspot".into(),
            occurred_at: at - chrono::Duration::hours(h),
        };
        let touches = [
            touch(EventType::DemoRequest, 0),
            touch(EventType::PricingPageVisit, 1),
            touch(EventType::EmailOpen, 2),
            touch(EventType::ContentDownload, 3),
        ];
        let rules = HandoffRules {
            openers: BTreeMap::from([(
                "late".to_owned(),
                "Hi {first_name}, saw {company} asked for {trigger}.".to_owned(),
            )]),
        };
        let owner = PacketOwner {
            rep_id: Uuid::from_u128(7),
            name: "Ann".into(),
            email: "ann@us.example".into(),
            rule: "territory".into(),
        };
        let sla = SlaDeadlines {
            ack_due: at,
            disposition_due: at,
            escalate_at: at,
        };
        let p = packet(
            PacketFacts {
                first_name: Some("Jane"),
                company: Some("Acme"),
                demand_state: Some("late"),
                account_tier: Some(2),
                fit_score: 70,
                intent_score: 75.0,
                signals: &[
                    (EventType::DemoRequest, 1),
                    (EventType::PricingPageVisit, 1),
                ],
                touches: &touches,
                trigger: Some(touches[0].clone()),
                disqualifiers_checked: vec![DisqualifyReason::Competitor],
            },
            owner,
            sla,
            &rules,
        );
        assert_eq!(
            p.recommended_opener,
            "Hi Jane, saw Acme asked for a demo request."
        );
        assert_eq!(p.last_touches.len(), 3);
        assert_eq!(p.last_touches[0].event_type, EventType::DemoRequest);
        assert!(
            p.problem_hypothesis.contains("asked to see the product"),
            "{}",
            p.problem_hypothesis
        );
        assert!(
            p.problem_hypothesis.contains("1× demo request"),
            "{}",
            p.problem_hypothesis
        );
    }

    #[test]
    fn the_trigger_reads_with_its_article_and_without_one_as_recent_activity() {
        let touch = |event_type| Touch {
            event_type,
            source: "hubspot".into(),
            occurred_at: Utc.with_ymd_and_hms(2026, 11, 20, 10, 0, 0).unwrap(),
        };
        let phrase = |t: Option<EventType>| trigger_phrase(t.map(touch).as_ref());
        assert_eq!(phrase(Some(EventType::DemoRequest)), "a demo request");
        assert_eq!(phrase(Some(EventType::EmailClick)), "an email click");
        assert_eq!(phrase(Some(EventType::OptOut)), "an opt out");
        assert_eq!(phrase(None), "recent activity");
    }
}
