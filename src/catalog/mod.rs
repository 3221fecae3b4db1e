//! Reference data (units, questionnaires, campaigns), cached in memory in front of the store,
//! and its lifecycle: creating, updating, archiving and restoring, each change written with its
//! audit entry in one transaction.
//!
//! Reads are served from an immutable snapshot, swapped whole on every change, so a request
//! never waits on a lock held across I/O. The unit tree is a persistent structure, so a change
//! copies O(log n) of it, not every unit. A miss reloads from the store once before answering
//! NOT_FOUND, which also picks up rows another server process created.

use std::sync::{Arc, RwLock};

use crate::domain::audit::{Actor, AuditEntry};
use crate::domain::campaign::Campaign;
use crate::domain::ids::{CampaignId, UnitId};
use crate::domain::lifecycle::{
    CampaignPatch, UnitPatch, archived_unit, campaign_fields, require_live_parent, restored_unit,
    unit_fields, updated_campaign, updated_unit,
};
use crate::domain::questionnaire::Questionnaire;
use crate::domain::time::Timestamp;
use crate::domain::unit::{Unit, UnitMove, UnitTree};
use crate::domain::unit_import::{self, ImportPlan};
use crate::error::{Error, Result};
use crate::store::Store;

mod snapshot;

pub use snapshot::Snapshot;

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
        let moves = Arc::new(store.load_unit_moves().await?);
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
        Ok(Snapshot::new(units, questionnaires, campaigns, moves))
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
        let mut next = self.snapshot().next();
        change(&mut next);
        self.replace(Arc::new(next));
    }

    /// # Errors
    /// NOT_FOUND for an unknown parent; FAILED_PRECONDITION for an archived parent;
    /// ALREADY_EXISTS for a taken id.
    pub async fn create_unit(&self, actor: &Actor, unit: Unit) -> Result<Unit> {
        let _guard = self.write_lock.lock().await;
        if let Some(parent) = &unit.parent_id {
            self.require(|s| s.unit(parent).map(drop)).await?;
            require_live_parent(&self.snapshot().units, parent, "unit.parent_id")?;
        }
        let entry = AuditEntry::creation(
            actor,
            unit.created_at,
            "unit",
            unit.id.as_str(),
            &unit_fields(&unit),
        );
        self.store.insert_unit(&unit, &entry).await?;
        self.update(|s| s.units.insert(unit.clone()));
        Ok(unit)
    }

    /// Applies `patch` to unit `id` (see `lifecycle::updated_unit`).
    ///
    /// # Errors
    /// NOT_FOUND for an unknown unit or parent; FAILED_PRECONDITION for a move into the unit's
    /// own subtree or under an archived unit.
    pub async fn update_unit(&self, actor: &Actor, id: &UnitId, patch: &UnitPatch) -> Result<Unit> {
        self.change_unit(actor, id, "update", |tree, before| {
            updated_unit(tree, before, patch).map(Some)
        })
        .await
    }

    /// # Errors
    /// NOT_FOUND for an unknown unit; FAILED_PRECONDITION while it has live children.
    pub async fn archive_unit(&self, actor: &Actor, id: &UnitId) -> Result<Unit> {
        let at = Timestamp::now();
        self.change_unit(actor, id, "archive", |tree, before| {
            archived_unit(tree, before, at)
        })
        .await
    }

    /// # Errors
    /// NOT_FOUND for an unknown unit; FAILED_PRECONDITION while its parent is archived.
    pub async fn restore_unit(&self, actor: &Actor, id: &UnitId) -> Result<Unit> {
        self.change_unit(actor, id, "restore", restored_unit).await
    }

    /// Writes what `change` makes of unit `id` (`None`: nothing to change), with its move and
    /// audit entry, and publishes it. An unchanged unit is returned as it is, unrecorded.
    async fn change_unit(
        &self,
        actor: &Actor,
        id: &UnitId,
        action: &'static str,
        change: impl FnOnce(&UnitTree, &Unit) -> Result<Option<Unit>>,
    ) -> Result<Unit> {
        let _guard = self.write_lock.lock().await;
        self.require(|s| s.unit(id).map(drop)).await?;
        let snapshot = self.snapshot();
        let before = snapshot.unit(id)?;
        let Some(after) = change(&snapshot.units, before)? else {
            return Ok(before.clone());
        };
        let at = after
            .archived_at
            .filter(|_| action == "archive")
            .unwrap_or_else(Timestamp::now);
        let Some(entry) = AuditEntry::change(
            actor,
            at,
            action,
            "unit",
            id.as_str(),
            &unit_fields(before),
            &unit_fields(&after),
        ) else {
            return Ok(before.clone());
        };
        let moved = (after.parent_id != before.parent_id).then(|| UnitMove {
            unit_id: id.clone(),
            from: before.parent_id.clone(),
            to: after.parent_id.clone(),
            at,
        });
        self.store
            .update_unit(&after, moved.as_ref(), &entry)
            .await?;
        self.update(|s| {
            s.units.insert(after.clone());
            if let Some(m) = moved {
                s.record_move(m);
            }
        });
        Ok(after)
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
        actor: &Actor,
        rows: Vec<(usize, Unit)>,
        mut v: crate::error::Violations,
    ) -> Result<ImportPlan> {
        let _guard = self.write_lock.lock().await;
        let fresh = Arc::new(Self::read_all(&self.store).await?);
        self.replace(fresh.clone());
        let plan = unit_import::plan(&fresh.units, rows, &mut v);
        v.finish()?;
        if plan.new.is_empty() {
            return Ok(plan);
        }
        let entry = unit_import::audit_entry(actor, Timestamp::now(), &plan);
        self.store.insert_units(&plan.new, &entry).await?;
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
        actor: &Actor,
        questionnaire: Questionnaire,
    ) -> Result<Questionnaire> {
        let _guard = self.write_lock.lock().await;
        let entry = AuditEntry::creation(
            actor,
            questionnaire.created_at,
            "questionnaire",
            questionnaire.id.as_str(),
            &serde_json::json!({
                "name": questionnaire.name,
                "indicators": questionnaire
                    .indicators
                    .iter()
                    .map(|i| i.code.to_string())
                    .collect::<Vec<_>>(),
            }),
        );
        self.store
            .insert_questionnaire(&questionnaire, &entry)
            .await?;
        let stored = Arc::new(questionnaire.clone());
        self.update(|s| {
            s.questionnaires.insert(questionnaire.id.clone(), stored);
        });
        Ok(questionnaire)
    }

    /// # Errors
    /// NOT_FOUND for an unknown questionnaire, scope unit or compared campaign;
    /// FAILED_PRECONDITION for an archived scope unit; ALREADY_EXISTS for a taken id.
    pub async fn create_campaign(&self, actor: &Actor, campaign: Campaign) -> Result<Campaign> {
        let _guard = self.write_lock.lock().await;
        self.require(|s| s.questionnaire(&campaign.questionnaire_id).map(drop))
            .await?;
        self.require(|s| s.unit(&campaign.scope_unit_id).map(drop))
            .await?;
        require_live_scope(&self.snapshot(), &campaign.scope_unit_id)?;
        if let Some(compared) = &campaign.compared_campaign_id {
            self.require(|s| s.campaign(compared).map(drop)).await?;
        }
        let entry = AuditEntry::creation(
            actor,
            campaign.created_at,
            "campaign",
            campaign.id.as_str(),
            &campaign_fields(&campaign),
        );
        self.store.insert_campaign(&campaign, &entry).await?;
        let stored = Arc::new(campaign.clone());
        self.update(|s| {
            s.campaigns.insert(campaign.id.clone(), stored);
        });
        Ok(campaign)
    }

    /// Applies `patch` to campaign `id` (see `lifecycle::updated_campaign`), judged against
    /// what the campaign holds in the transaction that writes it.
    ///
    /// # Errors
    /// NOT_FOUND for an unknown campaign, questionnaire or scope unit; INVALID_ARGUMENT for a
    /// close not after the open; FAILED_PRECONDITION naming the field otherwise.
    pub async fn update_campaign(
        &self,
        actor: &Actor,
        id: &CampaignId,
        patch: &CampaignPatch,
    ) -> Result<Campaign> {
        let _guard = self.write_lock.lock().await;
        self.require(|s| s.campaign(id).map(drop)).await?;
        if let Some(q) = &patch.questionnaire_id {
            self.require(|s| s.questionnaire(q).map(drop)).await?;
        }
        if let Some(scope) = &patch.scope_unit_id {
            self.require(|s| s.unit(scope).map(drop)).await?;
        }
        let snapshot = self.snapshot();
        if let Some(scope) = &patch.scope_unit_id {
            require_live_scope(&snapshot, scope)?;
        }
        let before = snapshot.campaign(id)?.clone();
        let at = Timestamp::now();
        let after = self
            .store
            .update_campaign(id, |activity| {
                let after = updated_campaign(&before, patch, activity, &snapshot.campaigns)?;
                let entry = AuditEntry::change(
                    actor,
                    at,
                    "update",
                    "campaign",
                    id.as_str(),
                    &campaign_fields(&before),
                    &campaign_fields(&after),
                );
                Ok((after, entry))
            })
            .await?;
        let stored = Arc::new(after.clone());
        self.update(|s| {
            s.campaigns.insert(id.clone(), stored);
        });
        Ok(after)
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

/// A new campaign may not be scoped to an archived unit: it would survey nothing.
fn require_live_scope(snapshot: &Snapshot, scope: &UnitId) -> Result<()> {
    if snapshot.unit(scope)?.is_archived() {
        return Err(Error::precondition(
            "SCOPE_ARCHIVED",
            "campaign.scope_unit_id",
            format!("unit {scope} is archived; restore it first"),
        ));
    }
    Ok(())
}
