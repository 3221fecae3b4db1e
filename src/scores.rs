//! Score queries: stored per-unit statistics rolled up over the unit tree and turned into
//! scores and ranks by the pure functions in `domain::scoring` and `domain::ranking`. The cost
//! grows with the number of units, never with the number of submissions.

use std::sync::Arc;

use tokio::sync::broadcast;

use crate::aggregate_cache::{AggregateCache, CampaignFigures, Shared, read};
use crate::catalog::{Catalog, Snapshot};
use crate::domain::campaign::Campaign;
use crate::domain::headline::Headline;
use crate::domain::ids::{CampaignId, UnitId};
use crate::domain::peers::PeerGroup;
use crate::domain::questionnaire::Questionnaire;
use crate::domain::ranking::{
    IndicatorStanding, RankBasis, RankingRow, bottom, movers, persistent_laggards, rank_peers, top,
    weaknesses,
};
use crate::domain::rollup::RolledUp;
use crate::domain::scoring::{ScoringContext, UnitScore};
use crate::domain::unit::Unit;
use crate::error::{Error, Result};
use crate::live::Change;

/// A campaign with its figures held in memory.
struct Loaded {
    campaign: Arc<Campaign>,
    questionnaire: Arc<Questionnaire>,
    figures: Shared,
    /// The catalog generation `campaign` and `questionnaire` come from.
    generation: u64,
}

impl Loaded {
    /// Scoring over the held figures, with their headline memo when it was computed on the
    /// same catalog (a read holding an older snapshot scores afresh).
    fn context<'a>(&'a self, held: &'a CampaignFigures) -> ScoringContext<'a> {
        ScoringContext {
            memo: (held.generation == self.generation).then_some(&held.headlines),
            ..self.context_over(&held.rolled)
        }
    }

    /// Scoring over figures rolled up for this read alone, without a memo.
    fn context_over<'a>(&'a self, stats: &'a RolledUp) -> ScoringContext<'a> {
        ScoringContext {
            campaign: &self.campaign,
            questionnaire: &self.questionnaire,
            stats,
            memo: None,
        }
    }

    fn version(&self) -> u64 {
        read(&self.figures).version
    }
}

/// Which units a ranking compares, and on what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RankingQuery {
    pub campaign_id: CampaignId,
    pub scope: UnitId,
    /// `None`: the default group under the scope (`PeerGroup::default_under`).
    pub group: Option<PeerGroup>,
    pub basis: RankBasis,
}

/// A ranking, the peers it compared and the campaign its previous ranks come from.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranking {
    /// After the filter, if any.
    pub rows: Vec<RankingRow>,
    pub compared_campaign_id: Option<CampaignId>,
    pub group: PeerGroup,
    /// Peers compared, before the filter.
    pub peer_count: usize,
    /// Peers ranked, before the filter.
    pub ranked_count: usize,
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

/// The persistent laggards of a comparison chain.
pub struct Laggards {
    /// Latest first.
    pub campaigns: Vec<CampaignId>,
    pub group: PeerGroup,
    pub entries: Vec<Laggard>,
}

/// The largest risers and fallers between a baseline and a campaign.
pub struct Movers {
    pub baseline: CampaignId,
    pub group: PeerGroup,
    pub risers: Vec<RankingRow>,
    pub fallers: Vec<RankingRow>,
}

/// A unit's indicators placed among its peers.
pub struct Weaknesses {
    pub unit: Unit,
    pub group: PeerGroup,
    pub standings: Vec<IndicatorStanding>,
}

/// One campaign in a unit's history.
pub struct HistoryPoint {
    pub campaign: Arc<Campaign>,
    pub headline: Arc<Headline>,
    /// The composite the rank orders by: the weighted one in a weighted campaign.
    pub ranked_value: Option<f64>,
    pub rank: Option<u32>,
    pub ranked_count: u32,
}

/// A unit's scores across campaigns, and the peer group its ranks are among.
pub struct History {
    pub unit: Unit,
    pub group: PeerGroup,
    pub points: Vec<HistoryPoint>,
}

#[derive(Clone)]
pub struct Scores {
    catalog: Arc<Catalog>,
    figures: AggregateCache,
    changes: broadcast::Sender<Change>,
}

impl Scores {
    /// Scores read from `figures`, the process's one aggregate cache (the one its writer and
    /// reviews apply their deltas to).
    pub fn new(
        catalog: Arc<Catalog>,
        figures: AggregateCache,
        changes: broadcast::Sender<Change>,
    ) -> Self {
        Self {
            catalog,
            figures,
            changes,
        }
    }

    /// Notifications of campaigns whose aggregates changed (or that any may have).
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    async fn load(&self, catalog: &Snapshot, id: &CampaignId) -> Result<Loaded> {
        let (campaign, questionnaire) = catalog.campaign_with_questionnaire(id)?;
        let figures = self.figures.figures(catalog, &campaign).await?;
        Ok(Loaded {
            campaign,
            questionnaire,
            figures,
            generation: catalog.generation,
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
        let c = catalog.campaign(campaign)?;
        c.require_in_scope(&catalog.units_of(c), unit)?;
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
        let held = read(&loaded.figures);
        Ok(loaded
            .context_over(&held.rolled)
            .score(catalog.unit(unit_id)?))
    }

    /// # Errors
    /// NOT_FOUND for an unknown campaign or scope; INVALID_ARGUMENT for an indicator the
    /// campaign's questionnaire lacks, or when no kinds are named under a scope that has no
    /// default peer group.
    pub async fn rankings(&self, query: &RankingQuery, filter: RankFilter) -> Result<Ranking> {
        Ok(self.ranking_window(query, filter, (0, usize::MAX)).await?.0)
    }

    /// The rows `(first, count)` of a ranking (after the filter) and how many rows the filter
    /// left: a page, without copying the rest of a ranking of thousands.
    ///
    /// # Errors
    /// As [`Self::rankings`].
    pub async fn ranking_window(
        &self,
        query: &RankingQuery,
        filter: RankFilter,
        (first, count): (usize, usize),
    ) -> Result<(Ranking, usize)> {
        let catalog = self.snapshot_with(&query.campaign_id, &query.scope).await?;
        let loaded = self.load(&catalog, &query.campaign_id).await?;
        check_basis(&loaded.questionnaire, &query.basis)?;
        let group = ranked_group(&catalog, query)?;
        let compared = match &loaded.campaign.compared_campaign_id {
            Some(id) => Some(self.load(&catalog, id).await?),
            None => None,
        };
        let key = format!(
            "{}/{}/{group:?}/{:?}",
            query.campaign_id, query.scope, query.basis
        );
        let stamp = (
            catalog.generation,
            loaded.version(),
            compared.as_ref().map_or(0, Loaded::version),
        );
        let rows = self
            .figures
            .rankings()
            .get_or_compute(key, stamp, || {
                rank_against(
                    &catalog,
                    &loaded,
                    compared.as_ref(),
                    &query.scope,
                    &group,
                    &query.basis,
                )
            })
            .await;
        let peer_count = rows.len();
        let ranked_count = rows.iter().filter(|r| r.rank.is_some()).count();
        let window = |rows: &[RankingRow]| -> Vec<RankingRow> {
            rows.iter().skip(first).take(count).cloned().collect()
        };
        let (rows, total) = match filter {
            RankFilter::All => (window(&rows), rows.len()),
            RankFilter::Top(n) | RankFilter::Bottom(n) => {
                let all = rows.as_ref().clone();
                let kept = if matches!(filter, RankFilter::Top(_)) {
                    top(all, n)
                } else {
                    bottom(all, n)
                };
                (window(&kept), kept.len())
            }
        };
        Ok((
            Ranking {
                rows,
                compared_campaign_id: loaded.campaign.compared_campaign_id.clone(),
                group,
                peer_count,
                ranked_count,
            },
            total,
        ))
    }

    /// Units in the bottom `n` in each of the last `k` campaigns of the comparison chain that
    /// ends at `query.campaign_id`.
    ///
    /// # Errors
    /// NOT_FOUND and INVALID_ARGUMENT as for rankings; FAILED_PRECONDITION when the chain has
    /// fewer than `k` campaigns.
    pub async fn laggards(&self, query: &RankingQuery, n: u32, k: usize) -> Result<Laggards> {
        let catalog = self.snapshot_with(&query.campaign_id, &query.scope).await?;
        let group = ranked_group(&catalog, query)?;
        let chain = comparison_chain(&catalog, &query.campaign_id, k)?;
        // One peer group across the chain: the latest campaign's.
        let peer_units =
            catalog.peers_of(catalog.campaign(&query.campaign_id)?, &query.scope, &group);
        let peer_units: Vec<&Unit> = peer_units.iter().collect();
        let mut chain_loaded = Vec::with_capacity(chain.len());
        for id in &chain {
            let loaded = self.load(&catalog, id).await?;
            check_basis(&loaded.questionnaire, &query.basis)?;
            chain_loaded.push(loaded);
        }
        let rankings: Vec<Vec<RankingRow>> = chain_loaded
            .iter()
            .map(|loaded| {
                let held = read(&loaded.figures);
                rank_peers(&peer_units, &loaded.context(&held), None, &query.basis)
            })
            .collect();
        let entries = persistent_laggards(&rankings, n)
            .into_iter()
            .filter_map(|unit_id| {
                let unit = catalog.units.get(&unit_id)?.clone();
                let standings = chain
                    .iter()
                    .zip(&rankings)
                    .map(|(campaign, rows)| {
                        let row = rows.iter().find(|r| r.headline.unit_id == unit_id);
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
        Ok(Laggards {
            campaigns: chain,
            group,
            entries,
        })
    }

    /// The units that rose and fell most between `baseline` (default: the compared campaign)
    /// and the campaign.
    ///
    /// # Errors
    /// NOT_FOUND and INVALID_ARGUMENT as for rankings; FAILED_PRECONDITION when there is no
    /// baseline.
    pub async fn movers(
        &self,
        query: &RankingQuery,
        baseline: Option<CampaignId>,
        limit: usize,
    ) -> Result<Movers> {
        let catalog = self.snapshot_with(&query.campaign_id, &query.scope).await?;
        let loaded = self.load(&catalog, &query.campaign_id).await?;
        check_basis(&loaded.questionnaire, &query.basis)?;
        let group = ranked_group(&catalog, query)?;
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
        let rows = rank_against(
            &catalog,
            &loaded,
            Some(&before),
            &query.scope,
            &group,
            &query.basis,
        );
        let (risers, fallers) = movers(&rows, limit);
        Ok(Movers {
            baseline,
            group,
            risers,
            fallers,
        })
    }

    /// The unit's indicators ranked among `group` (default: its level) in the campaign's scope.
    ///
    /// # Errors
    /// NOT_FOUND for an unknown campaign or unit; FAILED_PRECONDITION for a unit outside the
    /// campaign's scope; INVALID_ARGUMENT for a group without the unit's kind.
    pub async fn weaknesses(
        &self,
        campaign_id: &CampaignId,
        unit_id: &UnitId,
        group: Option<PeerGroup>,
    ) -> Result<Weaknesses> {
        let catalog = self.snapshot_in_scope(campaign_id, unit_id).await?;
        let loaded = self.load(&catalog, campaign_id).await?;
        let unit = catalog.unit(unit_id)?.clone();
        let group = own_group(&unit, group)?;
        let peer_units = catalog.peers_of(&loaded.campaign, &loaded.campaign.scope_unit_id, &group);
        let peer_units: Vec<&Unit> = peer_units.iter().collect();
        let held = read(&loaded.figures);
        let standings = weaknesses(&peer_units, &loaded.context(&held), &unit);
        Ok(Weaknesses {
            unit,
            group,
            standings,
        })
    }

    /// Every campaign whose scope covers the unit, oldest first, with the unit's composite rank
    /// among `group` (default: its level) in each campaign's scope. In a campaign scoped to the
    /// unit itself it has no peers, so no rank.
    ///
    /// # Errors
    /// NOT_FOUND for an unknown unit; INVALID_ARGUMENT for a group without the unit's kind.
    pub async fn history(&self, unit_id: &UnitId, group: Option<PeerGroup>) -> Result<History> {
        let catalog = self
            .catalog
            .snapshot_with(|s| s.units.get(unit_id).is_some())
            .await?;
        let unit = catalog.unit(unit_id)?.clone();
        let group = own_group(&unit, group)?;
        let mut campaigns: Vec<&Arc<Campaign>> = catalog
            .campaigns
            .values()
            .filter(|c| catalog.units_of(c).is_within(unit_id, &c.scope_unit_id))
            .collect();
        campaigns.sort_by(|a, b| a.opens_at.cmp(&b.opens_at).then_with(|| a.id.cmp(&b.id)));
        let mut points = Vec::with_capacity(campaigns.len());
        for campaign in campaigns {
            let loaded = self.load(&catalog, &campaign.id).await?;
            let peer_units = catalog.peers_of(campaign, &campaign.scope_unit_id, &group);
            let peer_units: Vec<&Unit> = peer_units.iter().collect();
            let held = read(&loaded.figures);
            let standing =
                loaded
                    .context(&held)
                    .standing(&peer_units, &unit, &RankBasis::Composite);
            points.push(HistoryPoint {
                campaign: campaign.clone(),
                headline: standing.headline,
                ranked_value: standing.value,
                rank: standing.rank,
                ranked_count: standing.ranked_count,
            });
        }
        Ok(History {
            unit,
            group,
            points,
        })
    }
}

/// Ranks the peers of `group` under `scope` in `current` and, when given, in `compared`, whose
/// figures are rolled up over the current campaign's tree (rebuilt for this ranking when the
/// two campaigns are read on different trees).
fn rank_against(
    catalog: &Snapshot,
    current: &Loaded,
    compared: Option<&Loaded>,
    scope: &UnitId,
    group: &PeerGroup,
    basis: &RankBasis,
) -> Vec<RankingRow> {
    let peer_units = catalog.peers_of(&current.campaign, scope, group);
    let peer_units: Vec<&Unit> = peer_units.iter().collect();
    let now = read(&current.figures);
    let before = compared.map(|c| (c, read(&c.figures)));
    // Rolled up afresh over the current tree when the compared campaign's differs.
    let regrouped: Option<RolledUp> = before
        .as_ref()
        .filter(|(c, _)| !catalog.share_tree(&current.campaign, &c.campaign))
        .map(|(_, held)| held.rolled.over(catalog.units_of(&current.campaign)));
    let before_context = before.as_ref().map(|(c, held)| match &regrouped {
        Some(stats) => c.context_over(stats),
        None => c.context(held),
    });
    rank_peers(
        &peer_units,
        &current.context(&now),
        before_context.as_ref(),
        basis,
    )
}

/// The peer group a ranking compares: the query's, or the default under its scope.
fn ranked_group(catalog: &Snapshot, query: &RankingQuery) -> Result<PeerGroup> {
    let scope = catalog.unit(&query.scope)?;
    PeerGroup::for_ranking_under(query.group.clone(), scope)
        .map_err(|e| Error::invalid("unit_kinds", e))
}

/// The peer group a unit's own standing is read in.
fn own_group(unit: &Unit, group: Option<PeerGroup>) -> Result<PeerGroup> {
    PeerGroup::for_standing_of(group, unit).map_err(|e| Error::invalid("unit_kinds", e))
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
