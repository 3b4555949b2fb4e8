//! Recently seen API keys, so that a busy webhook source does not cost a database lookup per
//! request. Only keys that resolved are kept, for a short TTL: a new key works at once, and a
//! key revoked here is forgotten at once (other replicas follow within the TTL).

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use crate::domain::Caller;

/// Past this many keys the cache starts over rather than grow.
const MAX_KEYS: usize = 10_000;

/// Callers by key hash, each with when it was looked up.
pub struct KeyCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Caller, Instant)>>,
}

impl KeyCache {
    /// A cache keeping entries for `ttl` (zero: no caching).
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The caller for `hash`, if looked up less than the TTL ago.
    pub fn get(&self, hash: &str) -> Option<Caller> {
        let entries = self.entries.lock().expect("key cache lock");
        entries
            .get(hash)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(caller, _)| caller.clone())
    }

    /// Remembers that `hash` stands for `caller`.
    pub fn put(&self, hash: String, caller: Caller) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().expect("key cache lock");
        if entries.len() >= MAX_KEYS {
            entries.clear();
        }
        entries.insert(hash, (caller, Instant::now()));
    }

    /// Forgets every key (after a revocation).
    pub fn clear(&self) {
        self.entries.lock().expect("key cache lock").clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_clear() {
        let cache = KeyCache::new(Duration::from_millis(50));
        cache.put("h".into(), Caller::bootstrap_admin());
        assert!(cache.get("h").is_some());
        std::thread::sleep(Duration::from_millis(60));
        assert!(cache.get("h").is_none(), "expired");
        cache.put("h".into(), Caller::bootstrap_admin());
        cache.clear();
        assert!(cache.get("h").is_none());
        let off = KeyCache::new(Duration::ZERO);
        off.put("h".into(), Caller::bootstrap_admin());
        assert!(off.get("h").is_none());
    }
}
