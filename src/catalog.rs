//! Reference data (units, questionnaires, campaigns), cached in memory in front of the store.
//!
//! Reads are served from an immutable snapshot, swapped whole on every change, so a request
//! never waits on a lock held across I/O. A miss reloads from the store once before answering
//! NOT_FOUND, which also picks up rows another server process created.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::domain::campaign::Campaign;
use crate::domain::ids::{CampaignId, QuestionnaireId, UnitId};
use crate::domain::questionnaire::Questionnaire;
use crate::domain::unit::{Unit, UnitTree};
use crate::domain::unit_import::{self, ImportPlan};
use crate::error::{Error, Result};
use crate::store::Store;

#[derive(Debug, Default)]
pub struct Snapshot {
    pub units: UnitTree,
    pub questionnaires: HashMap<QuestionnaireId, Arc<Questionnaire>>,
    pub campaigns: HashMap<CampaignId, Arc<Campaign>>,
}

impl Snapshot {
    pub fn campaign(&self, id: &CampaignId) -> Result<&Arc<Campaign>> {
        self.campaigns
            .get(id)
            .ok_or_else(|| Error::not_found("campaign", id.as_str()))
    }

    pub fn questionnaire(&self, id: &QuestionnaireId) -> Result<&Arc<Questionnaire>> {
        self.questionnaires
            .get(id)
            .ok_or_else(|| Error::not_found("questionnaire", id.as_str()))
    }

    pub fn unit(&self, id: &UnitId) -> Result<&Unit> {
        self.units
            .get(id)
            .ok_or_else(|| Error::not_found("unit", id.as_str()))
    }

    /// A campaign with its questionnaire.
    pub fn campaign_with_questionnaire(
        &self,
        id: &CampaignId,
    ) -> Result<(Arc<Campaign>, Arc<Questionnaire>)> {
        let campaign = self.campaign(id)?;
        let questionnaire = self.questionnaire(&campaign.questionnaire_id)?;
        Ok((campaign.clone(), questionnaire.clone()))
    }
}

pub struct Catalog {
    store: Store,
    snapshot: RwLock<Arc<Snapshot>>,
    /// Serialises creations so the snapshot swap after an insert never loses another's row.
    write_lock: tokio::sync::Mutex<()>,
}

impl Catalog {
    pub async fn load(store: Store) -> Result<Self> {
        let snapshot = Self::read_all(&store).await?;
        Ok(Self {
            store,
            snapshot: RwLock::new(Arc::new(snapshot)),
            write_lock: tokio::sync::Mutex::new(()),
        })
    }

    async fn read_all(store: &Store) -> Result<Snapshot> {
        let units = UnitTree::new(store.load_units().await?);
        let questionnaires = store
            .load_questionnaires()
            .await?
            .into_iter()
            .map(|q| (q.id.clone(), Arc::new(q)))
            .collect();
        let campaigns = store
            .load_campaigns()
            .await?
            .into_iter()
            .map(|c| (c.id.clone(), Arc::new(c)))
            .collect();
        Ok(Snapshot {
            units,
            questionnaires,
            campaigns,
        })
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot
            .read()
            .expect("catalog lock is never poisoned: no code panics while holding it")
            .clone()
    }

    /// The snapshot, reloaded from the store first when `present` says it lacks something.
    pub async fn snapshot_with(
        &self,
        present: impl Fn(&Snapshot) -> bool,
    ) -> Result<Arc<Snapshot>> {
        let snapshot = self.snapshot();
        if present(&snapshot) {
            return Ok(snapshot);
        }
        let _guard = self.write_lock.lock().await;
        let fresh = Arc::new(Self::read_all(&self.store).await?);
        self.replace(fresh.clone());
        Ok(fresh)
    }

    fn replace(&self, snapshot: Arc<Snapshot>) {
        *self
            .snapshot
            .write()
            .expect("catalog lock is never poisoned: no code panics while holding it") = snapshot;
    }

    /// Applies `change` to a copy of the snapshot and publishes it.
    fn update(&self, change: impl FnOnce(&mut Snapshot)) {
        let current = self.snapshot();
        let mut next = Snapshot {
            units: current.units.clone(),
            questionnaires: current.questionnaires.clone(),
            campaigns: current.campaigns.clone(),
        };
        change(&mut next);
        self.replace(Arc::new(next));
    }

    /// # Errors
    /// NOT_FOUND for an unknown parent; ALREADY_EXISTS for a taken id.
    pub async fn create_unit(&self, unit: Unit) -> Result<Unit> {
        let _guard = self.write_lock.lock().await;
        if let Some(parent) = &unit.parent_id {
            self.require(|s| s.unit(parent).map(drop)).await?;
        }
        self.store.insert_unit(&unit).await?;
        self.update(|s| s.units.insert(unit.clone()));
        Ok(unit)
    }

    /// Imports `rows` (parsed units with their index in the request, in file order) in one
    /// transaction, after reading the catalog afresh (another process may have added units).
    /// `v` holds the violations found while parsing; the plan adds its own, and nothing is
    /// written unless there are none.
    ///
    /// # Errors
    /// INVALID_ARGUMENT naming every bad row; ALREADY_EXISTS when another process created one
    /// of the units meanwhile.
    pub async fn import_units(
        &self,
        rows: Vec<(usize, Unit)>,
        mut v: crate::error::Violations,
    ) -> Result<ImportPlan> {
        let _guard = self.write_lock.lock().await;
        let fresh = Arc::new(Self::read_all(&self.store).await?);
        self.replace(fresh.clone());
        let plan = unit_import::plan(&fresh.units, rows, &mut v);
        v.finish()?;
        self.store.insert_units(&plan.new).await?;
        self.update(|s| {
            for unit in &plan.new {
                s.units.insert(unit.clone());
            }
        });
        Ok(plan)
    }

    /// # Errors
    /// ALREADY_EXISTS for a taken id.
    pub async fn create_questionnaire(
        &self,
        questionnaire: Questionnaire,
    ) -> Result<Questionnaire> {
        let _guard = self.write_lock.lock().await;
        self.store.insert_questionnaire(&questionnaire).await?;
        let stored = Arc::new(questionnaire.clone());
        self.update(|s| {
            s.questionnaires.insert(questionnaire.id.clone(), stored);
        });
        Ok(questionnaire)
    }

    /// # Errors
    /// NOT_FOUND for an unknown questionnaire, scope unit or compared campaign; ALREADY_EXISTS
    /// for a taken id.
    pub async fn create_campaign(&self, campaign: Campaign) -> Result<Campaign> {
        let _guard = self.write_lock.lock().await;
        self.require(|s| s.questionnaire(&campaign.questionnaire_id).map(drop))
            .await?;
        self.require(|s| s.unit(&campaign.scope_unit_id).map(drop))
            .await?;
        if let Some(compared) = &campaign.compared_campaign_id {
            self.require(|s| s.campaign(compared).map(drop)).await?;
        }
        self.store.insert_campaign(&campaign).await?;
        let stored = Arc::new(campaign.clone());
        self.update(|s| {
            s.campaigns.insert(campaign.id.clone(), stored);
        });
        Ok(campaign)
    }

    /// Checks a reference, reloading from the store once on a miss. Called with the write lock
    /// held, so it reloads directly.
    async fn require(&self, check: impl Fn(&Snapshot) -> Result<()>) -> Result<()> {
        if check(&self.snapshot()).is_ok() {
            return Ok(());
        }
        let fresh = Arc::new(Self::read_all(&self.store).await?);
        self.replace(fresh.clone());
        check(&fresh)
    }
}
