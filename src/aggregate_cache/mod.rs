//! Each campaign's aggregates in memory, rolled up over its unit tree, so a score read is a
//! lookup and never waits on the database.
//!
//! - **Loaded lazily**: a campaign's rows are read on its first score read, so starting a
//!   server costs nothing per campaign.
//! - **This process's commits** are applied from the deltas their transactions wrote, before
//!   their callers hear the acknowledgement ([`AggregateCache::commit`]), so a read after an
//!   acknowledged write always sees it. (The other choice, stamping commits with a sequence and
//!   making reads wait for it, costs every read a wait for a change that is usually applied
//!   already; applying first costs each batch a few microseconds per touched row.)
//! - **Other processes' commits** arrive as the change relay's notices: the campaign is marked
//!   stale and its next read reloads its rows; a notice that may have gone unheard marks every
//!   campaign stale.
//! - **Never half a batch**: a batch's rows of one campaign are applied under one write lock,
//!   so a read sees all of them or none.
//! - **Loads and commits never interleave**: every commit holds `gate` shared from its
//!   database write until its deltas are applied, and a (re)load holds it exclusively from
//!   its read to its installation. A commit is then either in the rows a load read (and was
//!   applied to what the load replaced) or after it (and applied to what it installed):
//!   never counted twice, never missed. A load pauses local commits for its read; it happens
//!   once per campaign, after an eviction, or after another process's commit.
//! - **Bounded**: at most `capacity` campaigns, the least recently read evicted first.
//! - **Catalog changes**: the roll-up records the catalog generation of its tree; a read on a
//!   newer catalog rolls the same own figures up over the new tree.

mod rankings;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

use crate::catalog::Snapshot;
use crate::domain::campaign::Campaign;
use crate::domain::cells::CellRow;
use crate::domain::headline::HeadlineMemo;
use crate::domain::ids::CampaignId;
use crate::domain::pooling::CampaignStats;
use crate::domain::rollup::RolledUp;
use crate::error::{Error, Result};
use crate::store::Store;

pub use rankings::{RankingCache, RankingKey};

/// Versions of figures: a later change (or load) of any campaign gets a larger one.
static NEXT_VERSION: AtomicU64 = AtomicU64::new(1);

fn next_version() -> u64 {
    NEXT_VERSION.fetch_add(1, Ordering::Relaxed)
}

/// One campaign's figures as held in memory.
#[derive(Debug)]
pub struct CampaignFigures {
    pub rolled: RolledUp,
    /// Headlines computed from `rolled` over the catalog of `generation`.
    pub headlines: HeadlineMemo,
    /// The catalog generation whose tree `rolled` is rolled up over.
    pub generation: u64,
    /// Changes whenever the figures do.
    pub version: u64,
}

/// A campaign's figures, shared by the cache and the reads that hold them.
pub type Shared = Arc<RwLock<CampaignFigures>>;

struct Slot {
    figures: Shared,
    /// Another process committed to the campaign since it was read.
    stale: bool,
    last_read: u64,
}

#[derive(Default)]
struct Slots {
    map: HashMap<CampaignId, Slot>,
    clock: u64,
}

struct Inner {
    store: Store,
    gate: tokio::sync::RwLock<()>,
    slots: Mutex<Slots>,
    capacity: usize,
    rankings: RankingCache,
}

/// The in-memory aggregates of one server process. Cheap to clone.
#[derive(Clone)]
pub struct AggregateCache {
    inner: Arc<Inner>,
}

impl AggregateCache {
    /// A cache of at most `capacity` campaigns (at least one).
    pub fn new(store: Store, capacity: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                gate: tokio::sync::RwLock::new(()),
                slots: Mutex::default(),
                capacity: capacity.max(1),
                rankings: RankingCache::default(),
            }),
        }
    }

    /// Computed rankings, shared by every reader of the same figures.
    pub fn rankings(&self) -> &RankingCache {
        &self.inner.rankings
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, Slots> {
        self.inner
            .slots
            .lock()
            .expect("the cache's slot lock is never poisoned: nothing panics holding it")
    }

    /// Runs `commit` (a database write returning its aggregate deltas) so that no load reads
    /// the database between its write and the application of its deltas, then applies them.
    /// Callers acknowledge only after this returns.
    ///
    /// # Errors
    /// Whatever `commit` fails with. A commit that failed in the database (not a refusal)
    /// may still have committed (a lost COMMIT reply), so every campaign is then read afresh
    /// on its next read.
    pub async fn commit<T>(
        &self,
        commit: impl Future<Output = Result<(T, Vec<(CampaignId, CellRow)>)>>,
    ) -> Result<T> {
        let _gate = self.inner.gate.read().await;
        match commit.await {
            Ok((value, deltas)) => {
                self.apply(deltas);
                Ok(value)
            }
            Err(error) => {
                if matches!(error, Error::Internal(_) | Error::Unavailable(_)) {
                    self.mark_all_stale();
                }
                Err(error)
            }
        }
    }

    /// Applies deltas this process committed, campaign by campaign, each under one lock.
    fn apply(&self, deltas: Vec<(CampaignId, CellRow)>) {
        let mut by_campaign: HashMap<CampaignId, Vec<CellRow>> = HashMap::new();
        for (campaign, row) in deltas {
            by_campaign.entry(campaign).or_default().push(row);
        }
        for (campaign, rows) in by_campaign {
            // Not held: the next read loads the rows, these included.
            let Some(figures) = self.slots().map.get(&campaign).map(|s| s.figures.clone()) else {
                continue;
            };
            let mut figures = figures
                .write()
                .expect("figures are never poisoned: applying deltas does not panic");
            for row in &rows {
                figures.rolled.apply(row);
            }
            figures.version = next_version();
        }
    }

    /// Another process committed to `campaign`: its next read reloads it.
    pub fn mark_stale(&self, campaign: &CampaignId) {
        if let Some(slot) = self.slots().map.get_mut(campaign) {
            slot.stale = true;
        }
    }

    /// Commits may have gone unheard: every campaign's next read reloads it.
    pub fn mark_all_stale(&self) {
        for slot in self.slots().map.values_mut() {
            slot.stale = true;
        }
    }

    /// The campaign's figures rolled up over its tree in `catalog`, loaded when not held (or
    /// stale).
    ///
    /// # Errors
    /// The store's errors; INTERNAL for stored rows that do not fit the questionnaire.
    pub async fn figures(&self, catalog: &Snapshot, campaign: &Campaign) -> Result<Shared> {
        let figures = match self.held(&campaign.id) {
            Some(figures) => figures,
            None => self.load(catalog, campaign).await?,
        };
        let outdated = figures
            .read()
            .expect("figures are never poisoned: applying deltas does not panic")
            .generation
            < catalog.generation;
        if outdated {
            let mut held = figures
                .write()
                .expect("figures are never poisoned: applying deltas does not panic");
            // Another read may have rolled it up meanwhile.
            if held.generation < catalog.generation {
                held.rolled = held.rolled.over(catalog.units_of(campaign));
                held.headlines = HeadlineMemo::default();
                held.generation = catalog.generation;
                held.version = next_version();
            }
        }
        Ok(figures)
    }

    /// The held, current figures of `campaign`, marked as just read.
    fn held(&self, campaign: &CampaignId) -> Option<Shared> {
        let mut slots = self.slots();
        slots.clock += 1;
        let now = slots.clock;
        let slot = slots.map.get_mut(campaign).filter(|s| !s.stale)?;
        slot.last_read = now;
        Some(slot.figures.clone())
    }

    async fn load(&self, catalog: &Snapshot, campaign: &Campaign) -> Result<Shared> {
        let _gate = self.inner.gate.write().await;
        // Another read may have loaded it while this one waited.
        if let Some(figures) = self.held(&campaign.id) {
            return Ok(figures);
        }
        let questionnaire = catalog.questionnaire(&campaign.questionnaire_id)?;
        let rows = self.inner.store.campaign_stats(&campaign.id).await?;
        let own = CampaignStats::from_cells(rows, questionnaire).map_err(Error::internal)?;
        let figures = Arc::new(RwLock::new(CampaignFigures {
            rolled: RolledUp::new(own, catalog.units_of(campaign)),
            headlines: HeadlineMemo::default(),
            generation: catalog.generation,
            version: next_version(),
        }));
        let mut slots = self.slots();
        slots.clock += 1;
        let last_read = slots.clock;
        slots.map.insert(
            campaign.id.clone(),
            Slot {
                figures: figures.clone(),
                stale: false,
                last_read,
            },
        );
        while slots.map.len() > self.inner.capacity {
            let coldest = slots
                .map
                .iter()
                .min_by_key(|(_, s)| s.last_read)
                .map(|(id, _)| id.clone())
                .expect("a map over capacity is not empty");
            slots.map.remove(&coldest);
        }
        Ok(figures)
    }

    /// The campaigns held, for tests and metrics.
    pub fn held_campaigns(&self) -> usize {
        self.slots().map.len()
    }
}

/// Reads held figures.
pub fn read(figures: &Shared) -> RwLockReadGuard<'_, CampaignFigures> {
    figures
        .read()
        .expect("figures are never poisoned: applying deltas does not panic")
}
