//! Submissions loaded straight through `Store::commit_submissions` in batches of 1,000 (the
//! writer's own code path, without the network in front), after the same validation the API
//! applies, so a million takes a minute rather than an hour of RPCs.

use std::sync::Arc;

use rand::SeedableRng;
use rand::rngs::StdRng;

use super::workload::{Catalog, Device};
use crate::api::convert::visit_draft;
use crate::domain::ids::CampaignId;
use crate::domain::intake::resolve;
use crate::domain::submission::NewSubmission;
use crate::domain::time::Timestamp;
use crate::error::{Error, Result};
use crate::store::Store;

const BATCH: usize = 1_000;

/// Generates validated submissions and commits them in batches.
pub(super) struct Loader {
    store: Store,
    pub(super) store_label: &'static str,
    snapshot: Arc<crate::catalog::Snapshot>,
    campaign_id: CampaignId,
    devices: Vec<Device>,
    rng: StdRng,
    pub(super) stored: u64,
}

impl Loader {
    pub(super) async fn new(store: Store, catalog: &Catalog, campaign: &str) -> Result<Self> {
        let store_label = store.name();
        let snapshot = crate::catalog::Catalog::load(store.clone())
            .await?
            .snapshot();
        let campaign_id = CampaignId::parse(campaign)
            .map_err(|e| Error::internal(format!("campaign id: {e}")))?;
        let devices = (0..catalog.townships.len())
            .map(|township| Device {
                township,
                serial: township,
            })
            .collect();
        Ok(Self {
            store,
            store_label,
            snapshot,
            campaign_id,
            devices,
            rng: StdRng::seed_from_u64(7),
            stored: 0,
        })
    }

    pub(super) async fn fill_to(&mut self, catalog: &Catalog, size: u64) -> Result<u64> {
        let (campaign, questionnaire) = self
            .snapshot
            .campaign_with_questionnaire(&self.campaign_id)?;
        let start = self.stored;
        while self.stored < size {
            let now = Timestamp::now();
            let count = BATCH.min((size - self.stored) as usize);
            let batch = (0..count)
                .map(|i| {
                    let device = &self.devices[(self.stored as usize + i) % self.devices.len()];
                    let mut visit = device.visit(catalog, &mut self.rng);
                    visit.campaign_id = self.campaign_id.as_str().to_owned();
                    let draft = visit_draft(visit)?;
                    resolve(
                        draft,
                        &campaign,
                        &questionnaire,
                        &self.snapshot.units,
                        now,
                        "bench",
                    )
                })
                .collect::<Result<Vec<NewSubmission>>>()?;
            let refs: Vec<&NewSubmission> = batch.iter().collect();
            self.store
                .commit_submissions(&refs, now, &crate::ingest::admit)
                .await?;
            self.stored += count as u64;
        }
        Ok(self.stored - start)
    }
}
