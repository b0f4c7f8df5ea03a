//! Per-hour caches of the rows the analysis pages read, so a page over a week of calls
//! reads only the hours that changed since it was last shown.
//!
//! Each hour of the scope is stamped by its call count and the sum of its rows' rowids
//! (one scan of the start-time index). Saving a call adds a row; rewriting one (a late
//! record, a rescore) gives it a new rowid (INSERT OR REPLACE): either way the stamp
//! changes and that hour is read again. Unchanged hours come from memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use anyhow::Result;

use crate::records::{Period, RecordStore, Scope};

/// Cached hours beyond this are dropped all at once (a week is 168 per scope).
const MAX_ENTRIES: usize = 20_000;
const HOUR: Duration = Duration::from_secs(3600);

type Key = (SystemTime, SystemTime, Option<&'static str>, Option<String>);
/// An hour's stamp: its calls and the sum of their rowids.
type Stamp = (i64, i64);

/// One cached hour: the stamp it was read under, and its rows.
type Entry<T> = (Stamp, Arc<Vec<T>>);

pub struct HourCache<T> {
    entries: Mutex<HashMap<Key, Entry<T>>>,
}

impl<T> Default for HourCache<T> {
    fn default() -> Self {
        Self {
            entries: Mutex::default(),
        }
    }
}

impl<T> HourCache<T> {
    /// The rows of `scope`, hour by hour: cached hours whose stamp still matches, and
    /// `fetch` for the others. Blocking (SQLite).
    pub fn rows(
        &self,
        store: &RecordStore,
        scope: &Scope,
        fetch: impl Fn(&Scope) -> Result<Vec<T>>,
    ) -> Result<Vec<Arc<Vec<T>>>> {
        let stamps = store.hour_stamps(scope)?;
        let mut out = Vec::with_capacity(stamps.len());
        for (hour_start, stamp) in stamps {
            let sub = Scope {
                period: Period {
                    since: hour_start.max(scope.period.since),
                    until: (hour_start + HOUR).min(scope.period.until),
                },
                language: scope.language,
                flow: scope.flow.clone(),
            };
            let key = (
                sub.period.since,
                sub.period.until,
                sub.language.map(|l| l.code()),
                sub.flow.clone(),
            );
            let hit = self.entries.lock().ok().and_then(|m| {
                m.get(&key)
                    .filter(|(s, _)| *s == stamp)
                    .map(|(_, r)| r.clone())
            });
            let rows = match hit {
                Some(rows) => rows,
                None => {
                    let rows = Arc::new(fetch(&sub)?);
                    if let Ok(mut m) = self.entries.lock() {
                        if m.len() >= MAX_ENTRIES {
                            m.clear();
                        }
                        m.insert(key, (stamp, rows.clone()));
                    }
                    rows
                }
            };
            out.push(rows);
        }
        Ok(out)
    }
}

impl<T> HourCache<T> {
    /// `compute` over every row of `scope` (see `rows`), in start-time order.
    pub fn compute<R>(
        &self,
        store: &RecordStore,
        scope: &Scope,
        fetch: impl Fn(&Scope) -> Result<Vec<T>>,
        compute: impl FnOnce(&[&T]) -> R,
    ) -> Result<R> {
        let hours = self.rows(store, scope, fetch)?;
        Ok(compute(&flatten(&hours)))
    }
}

/// Borrow every row of the hours, in order.
fn flatten<T>(hours: &[Arc<Vec<T>>]) -> Vec<&T> {
    hours.iter().flat_map(|h| h.iter()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::test_data;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn unchanged_hours_come_from_memory_and_a_new_call_is_seen() {
        let dir = test_data::tmp_dir("cache");
        let (store, _) = test_data::store_with_calls(&dir);
        let now = SystemTime::now();
        let scope = Scope::period(Period {
            since: now - Duration::from_secs(7 * 86_400),
            until: now + HOUR,
        });
        let cache = HourCache::default();
        let fetches = AtomicUsize::new(0);
        let fetch = |s: &Scope| {
            fetches.fetch_add(1, Ordering::Relaxed);
            store.kpi_rows(s)
        };
        let count = |h: &[Arc<Vec<crate::records::KpiRow>>]| flatten(h).len();
        let first = cache.rows(&store, &scope, fetch).unwrap();
        assert_eq!(count(&first), 5);
        let cold = fetches.load(Ordering::Relaxed);
        assert!(cold >= 4, "one read per hour with calls: {cold}");
        let again = cache.rows(&store, &scope, fetch).unwrap();
        assert_eq!(count(&again), 5);
        assert_eq!(fetches.load(Ordering::Relaxed), cold, "all hours cached");
        // A new call in the newest hour: that hour, and only it, is read again.
        let mut r = crate::records::CallRecord::new("late", "sip-late", "x", "parcel", now);
        r.outcome = crate::records::Outcome::Contained;
        store.save(&r).unwrap();
        let third = cache.rows(&store, &scope, fetch).unwrap();
        assert_eq!(count(&third), 6);
        assert_eq!(fetches.load(Ordering::Relaxed), cold + 1);
        // Rewriting a record (a rescore) changes its hour's stamp too.
        store.save(&r).unwrap();
        cache.rows(&store, &scope, fetch).unwrap();
        assert_eq!(fetches.load(Ordering::Relaxed), cold + 2);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
