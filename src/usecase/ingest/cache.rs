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

use std::{num::NonZeroUsize, sync::Mutex};

use lru::LruCache;

use crate::db::leads::Lead;

/// Up to `capacity` leads by email, least recently used out first; capacity 0 keeps none.
pub struct LeadCache {
    entries: Option<Mutex<LruCache<String, Lead>>>,
}

impl LeadCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: NonZeroUsize::new(capacity).map(|c| Mutex::new(LruCache::new(c))),
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
            .filter_map(|email| entries.pop(*email))
            .collect()
    }

    /// Keeps `leads`, each as the row it is now stored as.
    pub fn put(&self, leads: impl IntoIterator<Item = Lead>) {
        let Some(entries) = &self.entries else {
            return;
        };
        let mut entries = entries.lock().expect("lead cache lock");
        for lead in leads {
            entries.put(lead.email.to_string(), lead);
        }
    }

    /// Drops the leads of `emails`.
    pub fn forget<'e>(&self, emails: impl IntoIterator<Item = &'e str>) {
        let Some(entries) = &self.entries else {
            return;
        };
        let mut entries = entries.lock().expect("lead cache lock");
        for email in emails {
            entries.pop(email);
        }
    }
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
        let cache = LeadCache::new(10);
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
        let cache = LeadCache::new(10);
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
        let cache = LeadCache::new(2);
        cache.put([lead("a@x.io", 1), lead("b@x.io", 1)]);
        versions(&cache, &["a@x.io"]);
        cache.put([lead("c@x.io", 1)]);
        assert_eq!(
            versions(&cache, &["a@x.io", "b@x.io", "c@x.io"]),
            [("a@x.io".into(), 1), ("c@x.io".into(), 1)]
        );
    }

    #[test]
    fn capacity_zero_keeps_nothing() {
        let cache = LeadCache::new(0);
        cache.put([lead("a@x.io", 1)]);
        assert!(cache.take_many(&["a@x.io"]).is_empty());
    }
}
