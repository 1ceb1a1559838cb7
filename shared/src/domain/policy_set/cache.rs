//! The compiled policy sets of recently checked profiles, in this process's memory.
//!
//! Each entry is `(version, Arc<Compiled>)` by profile id. An entry is used only while its
//! version equals the profile's `policy_version` as read for the request, so a policy or
//! catalogue change (which raises that version in its own transaction) is seen by the very next
//! check, in every process. At most [`CAPACITY`] profiles are kept; past that the least recently
//! used entry goes (found by a scan, which only an insertion into a full cache pays).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use uuid::Uuid;

use crate::domain::policies::Compiled;

/// How many profiles' policy sets one process keeps compiled.
pub const CAPACITY: usize = 4096;

struct Entry {
    compiled: Arc<Compiled>,
    used: u64,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<Uuid, Entry>,
    tick: u64,
}

/// A bounded map of profile id → compiled policy set.
pub struct PolicyCache {
    inner: Mutex<Inner>,
    capacity: usize,
}

impl Default for PolicyCache {
    fn default() -> Self {
        PolicyCache::with_capacity(CAPACITY)
    }
}

impl PolicyCache {
    pub fn with_capacity(capacity: usize) -> Self {
        PolicyCache {
            inner: Mutex::new(Inner::default()),
            capacity: capacity.max(1),
        }
    }

    /// The compiled set of `pid` at `version`, if that is what is cached.
    pub fn get(&self, pid: Uuid, version: i64) -> Option<Arc<Compiled>> {
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        inner.tick += 1;
        let tick = inner.tick;
        let entry = inner.entries.get_mut(&pid)?;
        if entry.compiled.version() != version {
            return None;
        }
        entry.used = tick;
        Some(entry.compiled.clone())
    }

    /// Keeps `compiled` for `pid`, unless a newer version is cached already (a slow request
    /// must not put back an older set).
    pub fn put(&self, pid: Uuid, compiled: Arc<Compiled>) {
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        inner.tick += 1;
        let tick = inner.tick;
        if let Some(entry) = inner.entries.get_mut(&pid) {
            if entry.compiled.version() <= compiled.version() {
                entry.compiled = compiled;
                entry.used = tick;
            }
            return;
        }
        if inner.entries.len() >= self.capacity {
            let oldest = inner
                .entries
                .iter()
                .min_by_key(|(_, entry)| entry.used)
                .map(|(pid, _)| *pid);
            if let Some(oldest) = oldest {
                inner.entries.remove(&oldest);
            }
        }
        inner.entries.insert(
            pid,
            Entry {
                compiled,
                used: tick,
            },
        );
    }

    /// How many profiles are cached.
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entries
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(version: i64) -> Arc<Compiled> {
        Arc::new(Compiled::compile(version, &[]))
    }

    #[test]
    fn a_version_mismatch_misses_and_the_least_recently_used_goes() {
        let cache = PolicyCache::with_capacity(2);
        let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        cache.put(a, set(1));
        assert!(cache.get(a, 1).is_some());
        assert!(cache.get(a, 2).is_none(), "another version is a miss");
        cache.put(a, set(0));
        assert!(
            cache.get(a, 1).is_some(),
            "an older set never replaces a newer one"
        );
        cache.put(b, set(1));
        assert!(cache.get(a, 1).is_some());
        cache.put(c, set(1));
        assert_eq!(cache.len(), 2);
        assert!(cache.get(b, 1).is_none(), "b was the least recently used");
        assert!(cache.get(a, 1).is_some() && cache.get(c, 1).is_some());
    }
}
