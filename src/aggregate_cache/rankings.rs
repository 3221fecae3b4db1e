//! Rankings computed once per version of the figures they rank: a hundred dashboards watching
//! one ranking share one computation per change, and repeated reads of unchanged figures cost
//! a copy of the rows.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use crate::domain::ranking::RankingRow;

/// What a ranking compares: campaign, scope, peer group and basis, in one string.
pub type RankingKey = String;

/// The versions a ranking was computed from: catalog generation, the campaign's figures and
/// the compared campaign's (0 without one).
pub type Stamp = (u64, u64, u64);

/// Rows kept across all cached rankings; beyond it the cache starts afresh. A row is about
/// 100 bytes; the headline it points to is shared with the campaign's memo and every other
/// ranking of the same figures, so a unit page's twelve indicator rankings of 25,000 villages
/// (300,000 rows) stay cached.
const ROW_BUDGET: usize = 500_000;

type Computed = Arc<OnceCell<Arc<Vec<RankingRow>>>>;

#[derive(Default)]
pub struct RankingCache {
    entries: Mutex<HashMap<RankingKey, (Stamp, Computed)>>,
}

impl RankingCache {
    /// The rows of `key` at `stamp`, computed by the first caller to ask (the others wait for
    /// it) and kept until the stamp moves on.
    pub async fn get_or_compute(
        &self,
        key: RankingKey,
        stamp: Stamp,
        compute: impl FnOnce() -> Vec<RankingRow>,
    ) -> Arc<Vec<RankingRow>> {
        let cell = {
            let mut entries = self
                .entries
                .lock()
                .expect("the ranking cache lock is never poisoned: nothing panics holding it");
            match entries.get(&key) {
                Some((kept, cell)) if *kept == stamp => cell.clone(),
                _ => {
                    let held: usize = entries
                        .values()
                        .filter_map(|(_, c)| c.get().map(|rows| rows.len()))
                        .sum();
                    if held > ROW_BUDGET {
                        entries.clear();
                    }
                    let cell = Computed::default();
                    entries.insert(key, (stamp, cell.clone()));
                    cell
                }
            }
        };
        cell.get_or_init(|| async { Arc::new(compute()) })
            .await
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_computation_per_stamp() {
        let cache = RankingCache::default();
        let mut computed = 0;
        for stamp in [(1, 1, 0), (1, 1, 0), (1, 2, 0), (1, 2, 0), (2, 2, 0)] {
            cache
                .get_or_compute("k".into(), stamp, || {
                    computed += 1;
                    Vec::new()
                })
                .await;
        }
        assert_eq!(computed, 3);
    }
}
