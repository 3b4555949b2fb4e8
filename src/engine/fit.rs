//! Fit_Score: who the lead is, from its profile and email domain.

use serde::{Deserialize, Serialize};

use super::FitRules;
use crate::domain::Profile;

/// A Fit score with the rules that produced it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FitScore {
    pub total: i32,
    /// One entry per rule that fired, in rule order.
    pub breakdown: Vec<FitHit>,
}

/// One rule's contribution to Fit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FitHit {
    /// The rule's key in `config/rules.toml` (`fit.<rule>`).
    pub rule: String,
    pub points: i32,
    /// The fact that matched, for the rep and for ops.
    pub matched: String,
}

/// Scores a lead's Fit. `email_domain` is the normalised domain of its address.
pub fn score_fit(profile: &Profile, email_domain: &str, rules: &FitRules) -> FitScore {
    let mut hits = Vec::new();
    let mut hit = |rule: &str, points: i32, matched: String| {
        hits.push(FitHit {
            rule: rule.to_owned(),
            points,
            matched,
        });
    };

    if let Some(industry) = &profile.industry {
        let industry = industry.trim().to_lowercase();
        if rules.target_industry.values.contains(&industry) {
            hit(
                "target_industry",
                rules.target_industry.points,
                format!("industry {industry}"),
            );
        }
    }
    if let Some(revenue) = profile.annual_revenue {
        let band = &rules.revenue_band;
        if (band.min..=band.max).contains(&revenue) {
            hit(
                "revenue_band",
                band.points,
                format!("annual revenue {revenue}"),
            );
        }
    }
    if let Some(employees) = profile.employee_count {
        let range = &rules.employee_range;
        if (range.min..=range.max).contains(&employees) {
            hit(
                "employee_range",
                range.points,
                format!("{employees} employees"),
            );
        }
    }
    if let Some(title) = &profile.title {
        let rule = &rules.buying_committee_title;
        if let Some(keyword) = rule.values.iter().find(|k| contains_words(title, k)) {
            hit(
                "buying_committee_title",
                rule.points,
                format!("title {title:?} contains {keyword:?}"),
            );
        }
    }
    let student = &rules.student_email;
    if let Some(suffix) = student
        .values
        .iter()
        .find(|s| email_domain.ends_with(s.as_str()))
    {
        hit(
            "student_email",
            student.points,
            format!("email domain ends with {suffix}"),
        );
    }
    let excluded = &rules.excluded_domain;
    if let Some(domain) = excluded
        .values
        .iter()
        .find(|d| is_same_or_subdomain(email_domain, d))
    {
        hit(
            "excluded_domain",
            excluded.points,
            format!("email domain {domain} is excluded"),
        );
    }
    if let Some(country) = &profile.country {
        let rule = &rules.out_of_geo;
        if !rule.values.iter().any(|c| c.eq_ignore_ascii_case(country)) {
            hit(
                "out_of_geo",
                rule.points,
                format!("country {country} is outside the target geography"),
            );
        }
    }

    FitScore {
        total: hits.iter().map(|h| h.points).sum(),
        breakdown: hits,
    }
}

/// Whether `phrase` (one or more words) occurs in `text` as whole words, ignoring case:
/// `vp` matches "VP, Marketing" but not "SVP".
pub(super) fn contains_words(text: &str, phrase: &str) -> bool {
    fn words(s: &str) -> Vec<&str> {
        s.split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect()
    }
    // Titles and keywords are ASCII almost always: compare those without lowercasing copies
    // (this runs for every keyword of every rule on every event).
    fn same_word(a: &str, b: &str) -> bool {
        if a.is_ascii() && b.is_ascii() {
            a.eq_ignore_ascii_case(b)
        } else {
            a.to_lowercase() == b.to_lowercase()
        }
    }
    let phrase = words(phrase);
    !phrase.is_empty()
        && words(text).windows(phrase.len()).any(|window| {
            window
                .iter()
                .zip(&phrase)
                .all(|(word, wanted)| same_word(word, wanted))
        })
}

pub(super) fn is_same_or_subdomain(domain: &str, of: &str) -> bool {
    domain == of
        || domain
            .strip_suffix(of)
            .is_some_and(|rest| rest.ends_with('.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rules::tests::default_rules;

    fn vp_at_acme() -> Profile {
        Profile {
            title: Some("VP Marketing".into()),
            industry: Some("software".into()),
            employee_count: Some(250),
            annual_revenue: Some(50_000_000),
            country: Some("US".into()),
            ..Default::default()
        }
    }

    fn fit(profile: &Profile, domain: &str) -> FitScore {
        score_fit(profile, domain, &default_rules().fit)
    }

    fn rules_fired(score: &FitScore) -> Vec<&str> {
        score.breakdown.iter().map(|h| h.rule.as_str()).collect()
    }

    #[test]
    fn vp_at_a_250_person_us_software_company_with_50m_revenue_scores_70() {
        let score = fit(&vp_at_acme(), "acme.io");
        assert_eq!(score.total, 70);
        assert_eq!(
            rules_fired(&score),
            [
                "target_industry",
                "revenue_band",
                "employee_range",
                "buying_committee_title"
            ]
        );
        let points: Vec<i32> = score.breakdown.iter().map(|h| h.points).collect();
        assert_eq!(points, [20, 15, 10, 25]);
    }

    #[test]
    fn an_empty_profile_scores_zero() {
        let score = fit(&Profile::default(), "acme.io");
        assert_eq!(score, FitScore::default());
    }

    #[test]
    fn every_target_industry_counts_in_any_case() {
        for industry in ["software", "SaaS", "fintech", " Cybersecurity "] {
            let p = Profile {
                industry: Some(industry.into()),
                ..Default::default()
            };
            assert_eq!(fit(&p, "acme.io").total, 20, "{industry}");
        }
        let p = Profile {
            industry: Some("retail".into()),
            ..Default::default()
        };
        assert_eq!(fit(&p, "acme.io").total, 0);
    }

    #[test]
    fn revenue_band_is_inclusive_at_both_ends() {
        let score = |revenue| {
            let p = Profile {
                annual_revenue: Some(revenue),
                ..Default::default()
            };
            fit(&p, "acme.io").total
        };
        assert_eq!(score(9_999_999), 0);
        assert_eq!(score(10_000_000), 15);
        assert_eq!(score(1_000_000_000), 15);
        assert_eq!(score(1_000_000_001), 0);
    }

    #[test]
    fn employee_range_is_inclusive_at_both_ends() {
        let score = |employees| {
            let p = Profile {
                employee_count: Some(employees),
                ..Default::default()
            };
            fit(&p, "acme.io").total
        };
        assert_eq!(score(49), 0);
        assert_eq!(score(50), 10);
        assert_eq!(score(5_000), 10);
        assert_eq!(score(5_001), 0);
    }

    #[test]
    fn words_match_in_any_case_beyond_ascii_too() {
        assert!(contains_words("Directeur Général", "GÉNÉRAL"));
        assert!(contains_words("VP, Sales & Marketing", "vp sales"));
        assert!(!contains_words("Vice Président", "vice president"));
        assert!(!contains_words("VP", "vp sales"));
        assert!(!contains_words("anything", " - "));
    }

    #[test]
    fn buying_committee_titles_match_as_words_in_any_case() {
        let score = |title: &str| {
            let p = Profile {
                title: Some(title.into()),
                ..Default::default()
            };
            fit(&p, "acme.io").total
        };
        for title in [
            "Chief Revenue Officer",
            "CMO",
            "cro",
            "CTO & co-founder",
            "VP, Marketing",
            "Vice President of Sales",
            "Head of Growth",
            "Director of Demand Gen",
        ] {
            assert_eq!(score(title), 25, "{title}");
        }
        for title in [
            "SVP Sales",
            "Marketing Manager",
            "Directorate assistant",
            "Head Chef",
            "Vice Chair",
        ] {
            assert_eq!(score(title), 0, "{title}");
        }
    }

    #[test]
    fn student_email_domains_lose_50() {
        assert_eq!(fit(&Profile::default(), "mit.edu").total, -50);
        assert_eq!(fit(&Profile::default(), "ox.ac.uk").total, -50);
        assert_eq!(fit(&Profile::default(), "education.com").total, 0);
    }

    #[test]
    fn competitor_and_non_prospect_domains_lose_100_subdomains_included() {
        assert_eq!(fit(&Profile::default(), "rivalcorp.com").total, -100);
        assert_eq!(fit(&Profile::default(), "eu.competitor.io").total, -100);
        assert_eq!(fit(&Profile::default(), "notrivalcorp.com").total, 0);
        let score = fit(&vp_at_acme(), "rivalcorp.com");
        assert_eq!(score.total, -30);
    }

    #[test]
    fn out_of_geo_loses_30_and_no_country_no_penalty() {
        let score = |country: Option<&str>| {
            let p = Profile {
                country: country.map(Into::into),
                ..Default::default()
            };
            fit(&p, "acme.io").total
        };
        for inside in ["US", "CA", "GB", "IE", "DE", "FR", "NL", "AU", "us"] {
            assert_eq!(score(Some(inside)), 0, "{inside}");
        }
        assert_eq!(score(Some("BR")), -30);
        assert_eq!(score(None), 0);
    }

    #[test]
    fn fit_60_is_reached_exactly_by_industry_title_and_revenue() {
        let p = Profile {
            industry: Some("saas".into()),
            title: Some("Director, IT".into()),
            annual_revenue: Some(10_000_000),
            ..Default::default()
        };
        assert_eq!(fit(&p, "acme.io").total, 60);
    }
}
