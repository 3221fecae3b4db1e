//! Score queries: stored per-unit statistics rolled up over the unit tree and turned into
//! scores and ranks by the pure functions in `domain::scoring`. The cost grows with the number
//! of units, never with the number of submissions.

use std::sync::Arc;

use crate::catalog::Catalog;
use crate::domain::ids::{CampaignId, UnitId};
use crate::domain::scoring::{RankingRow, ScoringContext, UnitScore, peers, rank_peers};
use crate::domain::unit::UnitKind;
use crate::error::Result;
use crate::store::Store;

#[derive(Clone)]
pub struct Scores {
    catalog: Arc<Catalog>,
    store: Store,
}

/// A ranking and the campaign its previous ranks come from.
pub struct Ranking {
    pub rows: Vec<RankingRow>,
    pub compared_campaign_id: Option<CampaignId>,
}

impl Scores {
    pub fn new(catalog: Arc<Catalog>, store: Store) -> Self {
        Self { catalog, store }
    }

    /// # Errors
    /// NOT_FOUND for an unknown campaign or unit.
    pub async fn unit_score(
        &self,
        campaign_id: &CampaignId,
        unit_id: &UnitId,
    ) -> Result<UnitScore> {
        let catalog = self
            .catalog
            .snapshot_with(|s| {
                s.campaigns.contains_key(campaign_id) && s.units.get(unit_id).is_some()
            })
            .await?;
        let (campaign, questionnaire) = catalog.campaign_with_questionnaire(campaign_id)?;
        let unit = catalog.unit(unit_id)?;
        let stats = self.store.campaign_stats(campaign_id).await?;
        let context = ScoringContext {
            campaign: &campaign,
            questionnaire: &questionnaire,
            stats: &stats,
        };
        Ok(context.score(&catalog.units, unit))
    }

    /// Ranks the units of `kind` under `scope` in a campaign, with their ranks in the campaign
    /// it is compared with.
    ///
    /// # Errors
    /// NOT_FOUND for an unknown campaign or scope unit.
    pub async fn rankings(
        &self,
        campaign_id: &CampaignId,
        scope: &UnitId,
        kind: UnitKind,
    ) -> Result<Ranking> {
        let catalog = self
            .catalog
            .snapshot_with(|s| {
                s.campaigns.contains_key(campaign_id) && s.units.get(scope).is_some()
            })
            .await?;
        let (campaign, questionnaire) = catalog.campaign_with_questionnaire(campaign_id)?;
        catalog.unit(scope)?;
        let peer_units = peers(&catalog.units, scope, kind);
        let stats = self.store.campaign_stats(campaign_id).await?;
        let current = ScoringContext {
            campaign: &campaign,
            questionnaire: &questionnaire,
            stats: &stats,
        };
        let compared = match &campaign.compared_campaign_id {
            Some(id) => {
                let (c, q) = catalog.campaign_with_questionnaire(id)?;
                Some((c, q, self.store.campaign_stats(id).await?))
            }
            None => None,
        };
        let compared_context = compared.as_ref().map(|(c, q, stats)| ScoringContext {
            campaign: c,
            questionnaire: q,
            stats,
        });
        Ok(Ranking {
            rows: rank_peers(
                &catalog.units,
                &peer_units,
                &current,
                compared_context.as_ref(),
            ),
            compared_campaign_id: campaign.compared_campaign_id.clone(),
        })
    }
}
