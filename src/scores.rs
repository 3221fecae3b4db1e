//! Score queries: stored per-unit statistics rolled up over the unit tree and turned into
//! scores and ranks by the pure functions in `domain::scoring` and `domain::ranking`. The cost
//! grows with the number of units, never with the number of submissions.

use std::sync::Arc;

use tokio::sync::broadcast;

use crate::catalog::{Catalog, Snapshot};
use crate::domain::campaign::Campaign;
use crate::domain::ids::{CampaignId, UnitId};
use crate::domain::pooling::CampaignStats;
use crate::domain::questionnaire::Questionnaire;
use crate::domain::ranking::{
    IndicatorStanding, RankBasis, RankingRow, bottom, movers, peers, peers_including,
    persistent_laggards, rank_peers, top, weaknesses,
};
use crate::domain::scoring::{ScoringContext, UnitScore};
use crate::domain::unit::{Unit, UnitKind};
use crate::error::{Error, Result};
use crate::live::Change;
use crate::store::Store;

/// A campaign loaded for scoring.
struct Loaded {
    campaign: Arc<Campaign>,
    questionnaire: Arc<Questionnaire>,
    stats: CampaignStats,
}

impl Loaded {
    fn context(&self) -> ScoringContext<'_> {
        ScoringContext {
            campaign: &self.campaign,
            questionnaire: &self.questionnaire,
            stats: &self.stats,
        }
    }
}

/// Which units a ranking compares, and on what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RankingQuery {
    pub campaign_id: CampaignId,
    pub scope: UnitId,
    pub kind: UnitKind,
    pub basis: RankBasis,
}

/// A ranking and the campaign its previous ranks come from.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranking {
    pub rows: Vec<RankingRow>,
    pub compared_campaign_id: Option<CampaignId>,
}

impl Ranking {
    pub fn ranked_count(&self) -> usize {
        self.rows.iter().filter(|r| r.rank.is_some()).count()
    }
}

/// Which filter to apply to a ranking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RankFilter {
    All,
    Top(u32),
    Bottom(u32),
}

/// One unit's standing in each campaign of a chain, latest first.
pub struct Laggard {
    pub unit: Unit,
    pub standings: Vec<(CampaignId, Option<f64>, Option<u32>, usize)>,
}

/// One campaign in a unit's history.
pub struct HistoryPoint {
    pub campaign: Arc<Campaign>,
    pub score: UnitScore,
    pub rank: Option<u32>,
    pub ranked_count: usize,
}

#[derive(Clone)]
pub struct Scores {
    catalog: Arc<Catalog>,
    store: Store,
    changes: broadcast::Sender<Change>,
}

impl Scores {
    pub fn new(catalog: Arc<Catalog>, store: Store, changes: broadcast::Sender<Change>) -> Self {
        Self {
            catalog,
            store,
            changes,
        }
    }

    /// Notifications of campaigns whose aggregates changed (or that any may have).
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    async fn load(&self, catalog: &Snapshot, id: &CampaignId) -> Result<Loaded> {
        let (campaign, questionnaire) = catalog.campaign_with_questionnaire(id)?;
        let stats = CampaignStats::from_cells(self.store.campaign_stats(id).await?, &questionnaire)
            .map_err(Error::internal)?;
        Ok(Loaded {
            campaign,
            questionnaire,
            stats,
        })
    }

    async fn snapshot_with(&self, campaign: &CampaignId, unit: &UnitId) -> Result<Arc<Snapshot>> {
        let catalog = self
            .catalog
            .snapshot_with(|s| s.campaigns.contains_key(campaign) && s.units.get(unit).is_some())
            .await?;
        catalog.campaign(campaign)?;
        catalog.unit(unit)?;
        Ok(catalog)
    }

    /// A catalog holding `campaign` and `unit`, with the unit in the campaign's scope.
    async fn snapshot_in_scope(
        &self,
        campaign: &CampaignId,
        unit: &UnitId,
    ) -> Result<Arc<Snapshot>> {
        let catalog = self.snapshot_with(campaign, unit).await?;
        catalog
            .campaign(campaign)?
            .require_in_scope(&catalog.units, unit)?;
        Ok(catalog)
    }

    /// # Errors
    /// NOT_FOUND for an unknown campaign or unit; FAILED_PRECONDITION for a unit outside the
    /// campaign's scope.
    pub async fn unit_score(
        &self,
        campaign_id: &CampaignId,
        unit_id: &UnitId,
    ) -> Result<UnitScore> {
        let catalog = self.snapshot_in_scope(campaign_id, unit_id).await?;
        let loaded = self.load(&catalog, campaign_id).await?;
        Ok(loaded
            .context()
            .score(&catalog.units, catalog.unit(unit_id)?))
    }

    /// # Errors
    /// NOT_FOUND for an unknown campaign or scope; INVALID_ARGUMENT for an indicator the
    /// campaign's questionnaire lacks.
    pub async fn rankings(&self, query: &RankingQuery, filter: RankFilter) -> Result<Ranking> {
        let catalog = self.snapshot_with(&query.campaign_id, &query.scope).await?;
        let loaded = self.load(&catalog, &query.campaign_id).await?;
        check_basis(&loaded.questionnaire, &query.basis)?;
        let compared = match &loaded.campaign.compared_campaign_id {
            Some(id) => Some(self.load(&catalog, id).await?),
            None => None,
        };
        let peer_units = peers(&catalog.units, &query.scope, query.kind);
        let rows = rank_peers(
            &catalog.units,
            &peer_units,
            &loaded.context(),
            compared.as_ref().map(Loaded::context).as_ref(),
            &query.basis,
        );
        let rows = match filter {
            RankFilter::All => rows,
            RankFilter::Top(n) => top(rows, n),
            RankFilter::Bottom(n) => bottom(rows, n),
        };
        Ok(Ranking {
            rows,
            compared_campaign_id: loaded.campaign.compared_campaign_id.clone(),
        })
    }

    /// Units in the bottom `n` in each of the last `k` campaigns of the comparison chain that
    /// ends at `query.campaign_id`.
    ///
    /// # Errors
    /// NOT_FOUND as for rankings; FAILED_PRECONDITION when the chain has fewer than `k` campaigns.
    pub async fn laggards(
        &self,
        query: &RankingQuery,
        n: u32,
        k: usize,
    ) -> Result<(Vec<CampaignId>, Vec<Laggard>)> {
        let catalog = self.snapshot_with(&query.campaign_id, &query.scope).await?;
        let chain = comparison_chain(&catalog, &query.campaign_id, k)?;
        let peer_units = peers(&catalog.units, &query.scope, query.kind);
        let mut rankings = Vec::with_capacity(chain.len());
        for id in &chain {
            let loaded = self.load(&catalog, id).await?;
            check_basis(&loaded.questionnaire, &query.basis)?;
            rankings.push(rank_peers(
                &catalog.units,
                &peer_units,
                &loaded.context(),
                None,
                &query.basis,
            ));
        }
        let laggards = persistent_laggards(&rankings, n)
            .into_iter()
            .filter_map(|unit_id| {
                let unit = catalog.units.get(&unit_id)?.clone();
                let standings = chain
                    .iter()
                    .zip(&rankings)
                    .map(|(campaign, rows)| {
                        let row = rows.iter().find(|r| r.score.unit_id == unit_id);
                        let ranked = rows.iter().filter(|r| r.rank.is_some()).count();
                        (
                            campaign.clone(),
                            row.and_then(|r| r.value),
                            row.and_then(|r| r.rank),
                            ranked,
                        )
                    })
                    .collect();
                Some(Laggard { unit, standings })
            })
            .collect();
        Ok((chain, laggards))
    }

    /// The units that rose and fell most between `baseline` (default: the compared campaign)
    /// and the campaign.
    ///
    /// # Errors
    /// NOT_FOUND as for rankings; FAILED_PRECONDITION when there is no baseline.
    pub async fn movers(
        &self,
        query: &RankingQuery,
        baseline: Option<CampaignId>,
        limit: usize,
    ) -> Result<(CampaignId, Vec<RankingRow>, Vec<RankingRow>)> {
        let catalog = self.snapshot_with(&query.campaign_id, &query.scope).await?;
        let loaded = self.load(&catalog, &query.campaign_id).await?;
        check_basis(&loaded.questionnaire, &query.basis)?;
        let baseline = baseline
            .or_else(|| loaded.campaign.compared_campaign_id.clone())
            .ok_or_else(|| {
                Error::precondition(
                    "NO_BASELINE_CAMPAIGN",
                    format!("campaigns/{}", query.campaign_id),
                    "the campaign has no compared campaign; name a baseline_campaign_id",
                )
            })?;
        let before = self.load(&catalog, &baseline).await?;
        let peer_units = peers(&catalog.units, &query.scope, query.kind);
        let rows = rank_peers(
            &catalog.units,
            &peer_units,
            &loaded.context(),
            Some(&before.context()),
            &query.basis,
        );
        let (risers, fallers) = movers(&rows, limit);
        Ok((baseline, risers, fallers))
    }

    /// # Errors
    /// NOT_FOUND for an unknown campaign or unit; FAILED_PRECONDITION for a unit outside the
    /// campaign's scope.
    pub async fn weaknesses(
        &self,
        campaign_id: &CampaignId,
        unit_id: &UnitId,
    ) -> Result<(Unit, Vec<IndicatorStanding>)> {
        let catalog = self.snapshot_in_scope(campaign_id, unit_id).await?;
        let loaded = self.load(&catalog, campaign_id).await?;
        let unit = catalog.unit(unit_id)?.clone();
        let peer_units = peers_including(&catalog.units, &loaded.campaign.scope_unit_id, &unit);
        let standings = weaknesses(&catalog.units, &peer_units, &loaded.context(), unit_id);
        Ok((unit, standings))
    }

    /// Every campaign whose scope covers the unit, oldest first.
    ///
    /// # Errors
    /// NOT_FOUND for an unknown unit.
    pub async fn history(&self, unit_id: &UnitId) -> Result<(Unit, Vec<HistoryPoint>)> {
        let catalog = self
            .catalog
            .snapshot_with(|s| s.units.get(unit_id).is_some())
            .await?;
        let unit = catalog.unit(unit_id)?.clone();
        let mut campaigns: Vec<&Arc<Campaign>> = catalog
            .campaigns
            .values()
            .filter(|c| catalog.units.is_within(unit_id, &c.scope_unit_id))
            .collect();
        campaigns.sort_by(|a, b| a.opens_at.cmp(&b.opens_at).then_with(|| a.id.cmp(&b.id)));
        let mut points = Vec::with_capacity(campaigns.len());
        for campaign in campaigns {
            let loaded = self.load(&catalog, &campaign.id).await?;
            let peer_units = peers_including(&catalog.units, &campaign.scope_unit_id, &unit);
            let ranked = loaded
                .context()
                .rank(&catalog.units, &peer_units, &RankBasis::Composite);
            let ranked_count = ranked.iter().filter(|(_, _, r)| r.is_some()).count();
            let (score, _, rank) = ranked
                .into_iter()
                .find(|(s, _, _)| &s.unit_id == unit_id)
                .expect("the unit is among its own peers");
            points.push(HistoryPoint {
                campaign: campaign.clone(),
                score,
                rank,
                ranked_count,
            });
        }
        Ok((unit, points))
    }
}

fn check_basis(questionnaire: &Questionnaire, basis: &RankBasis) -> Result<()> {
    match basis {
        RankBasis::Indicator(code) if questionnaire.indicator(code.as_str()).is_none() => {
            Err(Error::invalid(
                "indicator_code",
                format!(
                    "questionnaire {} has no indicator {code:?}",
                    questionnaire.id
                ),
            ))
        }
        _ => Ok(()),
    }
}

/// The campaign and its predecessors along `compared_campaign_id`, latest first, `k` long.
fn comparison_chain(catalog: &Snapshot, latest: &CampaignId, k: usize) -> Result<Vec<CampaignId>> {
    let mut chain = vec![latest.clone()];
    while chain.len() < k {
        let current = catalog.campaign(chain.last().expect("the chain starts non-empty"))?;
        match &current.compared_campaign_id {
            Some(previous) if !chain.contains(previous) => chain.push(previous.clone()),
            _ => {
                return Err(Error::precondition(
                    "COMPARISON_CHAIN_TOO_SHORT",
                    format!("campaigns/{latest}"),
                    format!(
                        "campaign {latest} has only {} campaign(s) in its comparison chain; {k} asked",
                        chain.len()
                    ),
                ));
            }
        }
    }
    Ok(chain)
}
