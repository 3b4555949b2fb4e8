//! Disqualification: if-then rules as data (`[[disqualify]]` in `config/rules.toml`), each
//! naming its standardized reason. The first rule that fires, in file order, decides.

use chrono::{DateTime, Duration, Months, Utc};
use serde::{Deserialize, Serialize};

use super::{
    Activity,
    fit::{contains_words, is_same_or_subdomain},
};
use crate::domain::{DisqualifyReason, Profile};

/// One rule: when `when` holds, the lead is disqualified with `reason`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisqualifyRule {
    pub reason: DisqualifyReason,
    pub when: Condition,
}

/// The conditions a rule can test. Lists are matched ignoring case.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// The email domain is one of these, or a subdomain of one.
    DomainIn(Vec<String>),
    /// The email domain ends with one of these (`.edu`).
    DomainEndsWith(Vec<String>),
    /// The title contains one of these as whole words.
    TitleHasWords(Vec<String>),
    /// The lead opted out of sales contact (an `opt_out` event).
    OptedOut,
    /// The reported company size has been below `employees` for `months` months running.
    BelowSize { employees: i64, months: u32 },
    /// No email opened and no intent signal for `days` days (counted from when the lead was
    /// first seen if it never engaged).
    Inactive { days: u32 },
}

impl Condition {
    /// Whether the condition depends on the passing of time alone (the sweeper's rules).
    pub fn is_time_based(&self) -> bool {
        matches!(
            self,
            Condition::BelowSize { .. } | Condition::Inactive { .. }
        )
    }
}

/// What disqualification looks at.
#[derive(Clone, Copy, Debug)]
pub struct DisqualifyFacts<'a> {
    pub email_domain: &'a str,
    pub profile: &'a Profile,
    pub activity: &'a Activity,
    /// When the lead was first seen.
    pub first_seen: DateTime<Utc>,
    /// Reasons an ops user overruled for this lead.
    pub exempt: &'a [DisqualifyReason],
}

/// A rule that fired.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Disqualification {
    pub reason: DisqualifyReason,
    /// The rule's position in `[[disqualify]]`, counting from 0.
    pub rule: usize,
    /// The fact that matched, for the transition log.
    pub detail: String,
}

/// The last moment of engagement that still counts as inactive for `days` at `now`.
pub fn inactive_cutoff(now: DateTime<Utc>, days: u32) -> DateTime<Utc> {
    now - Duration::days(i64::from(days))
}

/// The latest start of a below-floor stretch that has lasted `months` at `now`.
pub fn size_cutoff(now: DateTime<Utc>, months: u32) -> DateTime<Utc> {
    now.checked_sub_months(Months::new(months))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// The first rule that fires for the lead, skipping its exempt reasons.
pub fn first_hit(
    facts: &DisqualifyFacts<'_>,
    rules: &[DisqualifyRule],
    now: DateTime<Utc>,
) -> Option<Disqualification> {
    rules.iter().enumerate().find_map(|(i, rule)| {
        if facts.exempt.contains(&rule.reason) {
            return None;
        }
        fires(&rule.when, facts, now).map(|detail| Disqualification {
            reason: rule.reason,
            rule: i,
            detail,
        })
    })
}

/// The rules that ran and did not fire, as reasons: what a rep is told was checked.
pub fn passed(
    facts: &DisqualifyFacts<'_>,
    rules: &[DisqualifyRule],
    now: DateTime<Utc>,
) -> Vec<DisqualifyReason> {
    rules
        .iter()
        .filter(|rule| fires(&rule.when, facts, now).is_none())
        .map(|rule| rule.reason)
        .collect()
}

/// `Some(what matched)` when `condition` holds.
fn fires(condition: &Condition, facts: &DisqualifyFacts<'_>, now: DateTime<Utc>) -> Option<String> {
    let domain = facts.email_domain;
    match condition {
        Condition::DomainIn(domains) => domains
            .iter()
            .find(|d| is_same_or_subdomain(domain, d))
            .map(|d| format!("email domain {domain} is listed ({d})")),
        Condition::DomainEndsWith(suffixes) => suffixes
            .iter()
            .find(|s| domain.ends_with(s.as_str()))
            .map(|s| format!("email domain {domain} ends with {s}")),
        Condition::TitleHasWords(words) => {
            let title = facts.profile.title.as_deref()?;
            words
                .iter()
                .find(|w| contains_words(title, w))
                .map(|w| format!("title {title:?} contains {w:?}"))
        }
        Condition::OptedOut => facts
            .activity
            .opted_out_at
            .map(|at| format!("opted out of sales contact at {}", at.to_rfc3339())),
        Condition::BelowSize { employees, months } => {
            let since = facts.activity.below_size_since?;
            let count = facts.profile.employee_count?;
            (count < *employees && since <= size_cutoff(now, *months)).then(|| {
                format!(
                    "{count} employees, below {employees} since {} ({months}+ months)",
                    since.date_naive()
                )
            })
        }
        Condition::Inactive { days } => {
            let last = facts.activity.last_engaged_at.unwrap_or(facts.first_seen);
            (last <= inactive_cutoff(now, *days)).then(|| {
                format!(
                    "no email open or intent signal since {} ({days}+ days)",
                    last.date_naive()
                )
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::engine::rules::tests::default_rules;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap()
    }

    struct Case {
        domain: &'static str,
        profile: Profile,
        activity: Activity,
        first_seen: DateTime<Utc>,
        exempt: Vec<DisqualifyReason>,
    }

    impl Case {
        fn new(domain: &'static str) -> Self {
            Case {
                domain,
                profile: Profile::default(),
                // Engaged a day ago: the inactivity rule stays quiet unless a test moves it.
                activity: Activity {
                    last_engaged_at: Some(now() - Duration::days(1)),
                    ..Activity::default()
                },
                first_seen: now() - Duration::days(400),
                exempt: Vec::new(),
            }
        }

        fn verdict(&self) -> Option<DisqualifyReason> {
            let facts = DisqualifyFacts {
                email_domain: self.domain,
                profile: &self.profile,
                activity: &self.activity,
                first_seen: self.first_seen,
                exempt: &self.exempt,
            };
            first_hit(&facts, &default_rules().disqualify, now()).map(|d| d.reason)
        }
    }

    #[test]
    fn a_clean_lead_passes_every_rule() {
        assert_eq!(Case::new("acme.io").verdict(), None);
    }

    #[test]
    fn competitor_and_partner_domains_with_their_subdomains() {
        assert_eq!(
            Case::new("rivalcorp.com").verdict(),
            Some(DisqualifyReason::Competitor)
        );
        assert_eq!(
            Case::new("eu.competitor.io").verdict(),
            Some(DisqualifyReason::Competitor)
        );
        assert_eq!(Case::new("notrivalcorp.com").verdict(), None);
        assert_eq!(
            Case::new("partnerco.com").verdict(),
            Some(DisqualifyReason::Partner)
        );
    }

    #[test]
    fn student_domains() {
        assert_eq!(
            Case::new("mit.edu").verdict(),
            Some(DisqualifyReason::Student)
        );
        assert_eq!(
            Case::new("ox.ac.uk").verdict(),
            Some(DisqualifyReason::Student)
        );
        assert_eq!(Case::new("education.com").verdict(), None);
    }

    #[test]
    fn job_seeker_and_student_titles_as_whole_words() {
        for title in [
            "Student",
            "Marketing Intern",
            "Seeking new role",
            "Job Seeker",
        ] {
            let mut case = Case::new("acme.io");
            case.profile.title = Some(title.into());
            assert_eq!(case.verdict(), Some(DisqualifyReason::JobSeeker), "{title}");
        }
        let mut case = Case::new("acme.io");
        case.profile.title = Some("Internal Audit Director".into());
        assert_eq!(case.verdict(), None, "intern is not internal");
    }

    #[test]
    fn opt_out() {
        let mut case = Case::new("acme.io");
        case.activity.opted_out_at = Some(now() - Duration::days(3));
        assert_eq!(case.verdict(), Some(DisqualifyReason::NoSale));
    }

    #[test]
    fn size_below_the_floor_fires_at_six_months_not_five() {
        let mut case = Case::new("acme.io");
        case.profile.employee_count = Some(49);
        case.activity.below_size_since = now().checked_sub_months(Months::new(5));
        assert_eq!(case.verdict(), None);
        case.activity.below_size_since = now().checked_sub_months(Months::new(6));
        assert_eq!(case.verdict(), Some(DisqualifyReason::Size));
        case.profile.employee_count = Some(50);
        assert_eq!(case.verdict(), None, "50 is the floor itself");
    }

    #[test]
    fn inactivity_fires_at_180_days_not_179() {
        let mut case = Case::new("acme.io");
        case.activity.last_engaged_at = Some(now() - Duration::days(179));
        assert_eq!(case.verdict(), None);
        case.activity.last_engaged_at = Some(now() - Duration::days(180));
        assert_eq!(case.verdict(), Some(DisqualifyReason::Inactive));
    }

    #[test]
    fn a_lead_that_never_engaged_counts_from_first_seen() {
        let mut case = Case::new("acme.io");
        case.activity.last_engaged_at = None;
        case.first_seen = now() - Duration::days(179);
        assert_eq!(case.verdict(), None);
        case.first_seen = now() - Duration::days(180);
        assert_eq!(case.verdict(), Some(DisqualifyReason::Inactive));
    }

    #[test]
    fn the_first_rule_in_file_order_decides_and_exemptions_skip_a_rule() {
        let mut case = Case::new("rivalcorp.com");
        case.activity.opted_out_at = Some(now());
        assert_eq!(case.verdict(), Some(DisqualifyReason::Competitor));
        case.exempt = vec![DisqualifyReason::Competitor];
        assert_eq!(case.verdict(), Some(DisqualifyReason::NoSale));
    }

    #[test]
    fn passed_lists_the_rules_that_did_not_fire() {
        let case = Case::new("mit.edu");
        let facts = DisqualifyFacts {
            email_domain: case.domain,
            profile: &case.profile,
            activity: &case.activity,
            first_seen: case.first_seen,
            exempt: &case.exempt,
        };
        let passed = passed(&facts, &default_rules().disqualify, now());
        assert!(!passed.contains(&DisqualifyReason::Student));
        assert_eq!(passed.len(), default_rules().disqualify.len() - 1);
    }
}
