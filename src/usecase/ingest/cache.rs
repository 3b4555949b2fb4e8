//! The leads as ingest last wrote them, kept in memory, so that a group of events for leads
//! it has seen lately goes to its write without a read first.
//!
//! An entry may be stale: another writer (a rep's action, a job, another instance) may have
//! changed the lead since. The group write's version check catches that, nothing is written,
//! and the group takes the locking path, which drops the entries of its leads. Every write
//! of a lead column that ingest's decisions read bumps `leads.version`, so a stale entry can
//! cost a retry but never a wrong score. Only a committed ingest write fills the cache, with
//! each lead exactly as it stored it.
//!
//! A writer takes its leads out of the cache and puts back what it wrote, rather than copying
//! them both ways: a lead row with its profile, breakdowns and nurture state is a few dozen
//! allocations, and the two copies were a tenth of the service's CPU under load. Another
//! group for a lead that is out meanwhile reads it from the database; of two groups with the
//! same lead, the version check fails the second to commit either way.

use std::{mem::size_of, sync::Mutex};

use lru::LruCache;

use crate::db::leads::Lead;

/// Leads by email, least recently used out first, within a budget of bytes (as
/// [`footprint`] counts them); a budget of 0 keeps none.
pub struct LeadCache {
    entries: Option<Mutex<Entries>>,
}

struct Entries {
    leads: LruCache<String, (Lead, usize)>,
    bytes: usize,
    budget: usize,
}

impl Entries {
    fn remove(&mut self, email: &str) -> Option<Lead> {
        let (lead, bytes) = self.leads.pop(email)?;
        self.bytes -= bytes;
        Some(lead)
    }
}

impl LeadCache {
    /// A cache holding at most `budget` bytes of leads.
    pub fn new(budget: usize) -> Self {
        Self {
            entries: (budget > 0).then(|| {
                Mutex::new(Entries {
                    leads: LruCache::unbounded(),
                    bytes: 0,
                    budget,
                })
            }),
        }
    }

    /// Takes the cached leads among `emails` out of the cache: they are the caller's until it
    /// puts back what it stored.
    pub fn take_many(&self, emails: &[&str]) -> Vec<Lead> {
        let Some(entries) = &self.entries else {
            return Vec::new();
        };
        let mut entries = entries.lock().expect("lead cache lock");
        emails
            .iter()
            .filter_map(|email| entries.remove(email))
            .collect()
    }

    /// Keeps `leads`, each as the row it is now stored as, dropping the least recently used
    /// past the budget.
    pub fn put(&self, leads: impl IntoIterator<Item = Lead>) {
        let Some(entries) = &self.entries else {
            return;
        };
        let mut entries = entries.lock().expect("lead cache lock");
        for lead in leads {
            let bytes = footprint(&lead);
            if let Some((_, replaced)) = entries.leads.put(lead.email.to_string(), (lead, bytes)) {
                entries.bytes -= replaced;
            }
            entries.bytes += bytes;
        }
        while entries.bytes > entries.budget {
            let Some((_, (_, bytes))) = entries.leads.pop_lru() else {
                break;
            };
            entries.bytes -= bytes;
        }
    }

    /// Drops the leads of `emails`.
    pub fn forget<'e>(&self, emails: impl IntoIterator<Item = &'e str>) {
        let Some(entries) = &self.entries else {
            return;
        };
        let mut entries = entries.lock().expect("lead cache lock");
        for email in emails {
            entries.remove(email);
        }
    }

    /// How many leads and bytes the cache holds.
    pub fn usage(&self) -> (usize, usize) {
        self.entries.as_ref().map_or((0, 0), |entries| {
            let entries = entries.lock().expect("lead cache lock");
            (entries.leads.len(), entries.bytes)
        })
    }
}

/// About how many bytes `lead` takes in memory: its struct, its key, and its heap (texts and
/// collections, each with the allocator's overhead). Texts are bounded at the door
/// (`domain::text`) and collections by the rules, so no lead can be large; this keeps many
/// of them within the budget all the same.
pub fn footprint(lead: &Lead) -> usize {
    let intent_signals = lead.intent.signals.len()
        + lead
            .since_rejection
            .as_ref()
            .map_or(0, |since| since.intent.signals.len());
    let review = lead.review.as_ref().map_or(0, |review| {
        review
            .missing
            .iter()
            .map(|m| text(m) + size_of::<String>())
            .sum()
    });
    size_of::<Lead>()
        + 2 * text(lead.email.as_str())
        + profile_bytes(lead)
        + fit_bytes(lead)
        + intent_signals * MAP_ENTRY * 2
        + optional(&lead.activity.derived_demand_state)
        + lead.exempt_reasons.len() * size_of::<crate::domain::DisqualifyReason>()
        + nurture_bytes(lead)
        + review
        + text(&lead.rules_version)
}

/// What the allocator adds to each allocation, about.
const ALLOCATION: usize = 16;
/// A B-tree map's cost per entry beyond its key and value, about.
const MAP_ENTRY: usize = 48;

fn text(s: &str) -> usize {
    if s.is_empty() {
        0
    } else {
        s.len() + ALLOCATION
    }
}

fn optional(s: &Option<String>) -> usize {
    s.as_deref().map_or(0, text)
}

fn profile_bytes(lead: &Lead) -> usize {
    let p = &lead.profile;
    [
        &p.first_name,
        &p.last_name,
        &p.title,
        &p.company,
        &p.industry,
        &p.country,
        &p.demand_state,
    ]
    .into_iter()
    .map(optional)
    .sum::<usize>()
        + lead.profile_stamps.len() * MAP_ENTRY
}

fn fit_bytes(lead: &Lead) -> usize {
    ALLOCATION
        + lead
            .fit
            .breakdown
            .iter()
            .map(|hit| size_of_val(hit) + text(&hit.rule) + text(&hit.matched))
            .sum::<usize>()
}

fn nurture_bytes(lead: &Lead) -> usize {
    let nurture = &lead.nurture;
    optional(&nurture.workflow)
        + nurture.signals.len() * size_of::<crate::engine::Signal>()
        + nurture
            .fired
            .keys()
            .chain(nurture.noted.iter())
            .map(|key| text(key) + MAP_ENTRY)
            .sum::<usize>()
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::domain::Email;

    fn lead(email: &str, version: i64) -> Lead {
        Lead {
            version,
            ..Lead::new(Email::parse(email).unwrap(), None, "v1", Utc::now())
        }
    }

    /// Takes `emails` and puts them back as they were.
    fn versions(cache: &LeadCache, emails: &[&str]) -> Vec<(String, i64)> {
        let taken = cache.take_many(emails);
        let versions = taken
            .iter()
            .map(|l| (l.email.to_string(), l.version))
            .collect();
        cache.put(taken);
        versions
    }

    #[test]
    fn keeps_the_latest_copy_and_forgets_on_demand() {
        let cache = LeadCache::new(1 << 20);
        cache.put([lead("a@x.io", 1), lead("b@x.io", 4)]);
        cache.put([lead("a@x.io", 2)]);
        assert_eq!(
            versions(&cache, &["a@x.io", "b@x.io", "c@x.io"]),
            [("a@x.io".into(), 2), ("b@x.io".into(), 4)]
        );
        cache.forget(["a@x.io"]);
        assert_eq!(
            versions(&cache, &["a@x.io", "b@x.io"]),
            [("b@x.io".into(), 4)]
        );
    }

    #[test]
    fn a_taken_lead_is_out_until_it_is_put_back() {
        let cache = LeadCache::new(1 << 20);
        cache.put([lead("a@x.io", 1), lead("b@x.io", 1)]);
        let taken = cache.take_many(&["a@x.io"]);
        assert_eq!(taken.len(), 1);
        assert!(
            cache.take_many(&["a@x.io"]).is_empty(),
            "a second writer misses it"
        );
        cache.put(taken.into_iter().map(|l| Lead { version: 2, ..l }));
        assert_eq!(
            versions(&cache, &["a@x.io", "b@x.io"]),
            [("a@x.io".into(), 2), ("b@x.io".into(), 1)]
        );
    }

    #[test]
    fn the_least_recently_used_lead_goes_first() {
        let cache = LeadCache::new(2 * footprint(&lead("a@x.io", 1)));
        cache.put([lead("a@x.io", 1), lead("b@x.io", 1)]);
        versions(&cache, &["a@x.io"]);
        cache.put([lead("c@x.io", 1)]);
        assert_eq!(
            versions(&cache, &["a@x.io", "b@x.io", "c@x.io"]),
            [("a@x.io".into(), 1), ("c@x.io".into(), 1)]
        );
    }

    #[test]
    fn the_budget_is_in_bytes_so_larger_leads_leave_room_for_fewer() {
        let small = footprint(&lead("a@x.io", 1));
        let cache = LeadCache::new(10 * small);
        cache.put((0..10).map(|i| lead(&format!("{i}@x.io"), 1)));
        assert_eq!(cache.usage(), (10, 10 * small));
        let mut large = lead("big@x.io", 1);
        large.profile.title = Some("t".repeat(4 * small));
        let large_bytes = footprint(&large);
        assert!(large_bytes > 4 * small);
        cache.put([large]);
        let (leads, bytes) = cache.usage();
        assert!(bytes <= 10 * small, "{bytes} bytes held");
        assert_eq!(leads, 1 + (10 * small - large_bytes) / small);
        cache.take_many(&["big@x.io"]);
        assert_eq!(
            cache.usage().1,
            bytes - large_bytes,
            "a taken lead's bytes are freed"
        );
    }

    #[test]
    fn capacity_zero_keeps_nothing() {
        let cache = LeadCache::new(0);
        cache.put([lead("a@x.io", 1)]);
        assert!(cache.take_many(&["a@x.io"]).is_empty());
    }
}
