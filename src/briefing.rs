//! A round's briefing: the facts a meeting reads about one campaign and scope against the
//! campaign's compared round, assembled from the same reads the aggregate, call-center and
//! review services answer (`Scores`, response rates, grievance counts), so every figure in it
//! equals what those RPCs report.

use std::collections::HashMap;
use std::sync::Arc;

use crate::catalog::{Catalog, Snapshot};
use crate::domain::briefing::{Estimate, ScoreChange, Verdict, biggest};
use crate::domain::campaign::Campaign;
use crate::domain::grievance::GrievanceSummary;
use crate::domain::ids::{CampaignId, Code, UnitId};
use crate::domain::peers::PeerGroup;
use crate::domain::ranking::{IndicatorStanding, RankBasis, RankingRow, bottom, top};
use crate::domain::scoring::UnitScore;
use crate::domain::unit::{Unit, UnitKind};
use crate::error::{Error, Result};
use crate::fieldwork::{Fieldwork, UnitRates};
use crate::scores::{Laggards, RankFilter, RankingQuery, Scores};

/// Places at the top and bottom (and movers) a briefing names when the request says none.
pub const DEFAULT_TOP_N: u32 = 5;
/// Rounds a unit must sit in the bottom places of to count as a persistent laggard.
pub const DEFAULT_ROUNDS: u32 = 2;
/// Indicators named as the scope's weakest.
pub const WEAKEST_INDICATORS: usize = 3;

/// What a briefing covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BriefingQuery {
    pub campaign_id: CampaignId,
    /// `None`: the campaign's scope.
    pub scope: Option<UnitId>,
    /// N: top and bottom places, risers and fallers per peer group (at least 1).
    pub top_n: u32,
    /// K: rounds of the comparison chain a persistent laggard is in the bottom N of (at least 1).
    pub rounds: u32,
}

impl BriefingQuery {
    /// The campaign's whole scope with the default N and K.
    pub fn new(campaign_id: CampaignId) -> Self {
        Self {
            campaign_id,
            scope: None,
            top_n: DEFAULT_TOP_N,
            rounds: DEFAULT_ROUNDS,
        }
    }
}

/// One indicator of the scope in this round, and its change.
pub struct IndicatorFacts {
    pub code: Code,
    pub text: String,
    pub weight: f64,
    /// Absent without valid answers.
    pub estimate: Option<Estimate>,
    /// Absent in a first round, or without a score in either round.
    pub change: Option<ScoreChange>,
}

/// A ranked unit as a briefing names it: its row of the ranking (rank, places moved) and its
/// score change judged against the margin of error.
pub struct PlacedUnit {
    pub row: RankingRow,
    pub change: Option<ScoreChange>,
}

/// One peer group under the scope.
pub struct GroupFacts {
    pub group: PeerGroup,
    pub peer_count: usize,
    pub ranked_count: usize,
    /// The top N places (ties included), best first.
    pub top: Vec<PlacedUnit>,
    /// The bottom N places (ties included), worst last.
    pub bottom: Vec<PlacedUnit>,
    /// Largest rank gains, at most N; empty in a first round.
    pub risers: Vec<PlacedUnit>,
    /// Largest rank losses, at most N; empty in a first round.
    pub fallers: Vec<PlacedUnit>,
    /// Units in the bottom N in each of the last K rounds; `None` when the comparison chain
    /// has fewer than K rounds.
    pub laggards: Option<Laggards>,
}

/// The structured facts of a round, for one scope.
pub struct Briefing {
    pub campaign: Arc<Campaign>,
    /// The round the changes are against: the campaign's compared campaign, when it exists and
    /// covers the scope. `None` in a first round: then every change is absent.
    pub compared: Option<Arc<Campaign>>,
    pub scope: Unit,
    pub top_n: u32,
    pub rounds: u32,
    /// The scope's score as GetUnitScore reports it.
    pub score: UnitScore,
    /// The headline composite (weighted in a weighted campaign).
    pub composite: Option<Estimate>,
    pub composite_change: Option<ScoreChange>,
    /// In questionnaire order.
    pub indicators: Vec<IndicatorFacts>,
    /// The indicator that rose most beyond its margin; `None` when none did.
    pub biggest_rise: Option<Code>,
    /// The indicator that fell most beyond its margin; `None` when none did.
    pub biggest_fall: Option<Code>,
    /// Township level, departments, villages and communities: those with peers under the scope.
    pub groups: Vec<GroupFacts>,
    /// The scope's weakest indicators, weakest first: by rank among the scope's own peers where
    /// it has them, otherwise by score.
    pub weakest_indicators: Vec<IndicatorStanding>,
    pub response_rates: UnitRates,
    pub grievances: GrievanceSummary,
}

#[derive(Clone)]
pub struct Briefings {
    catalog: Arc<Catalog>,
    scores: Scores,
    fieldwork: Fieldwork,
}

impl Briefings {
    pub fn new(catalog: Arc<Catalog>, scores: Scores, fieldwork: Fieldwork) -> Self {
        Self {
            catalog,
            scores,
            fieldwork,
        }
    }

    /// The briefing of `query.campaign_id` for its scope (or `query.scope`).
    ///
    /// # Errors
    /// NOT_FOUND for an unknown campaign or scope; FAILED_PRECONDITION for a scope outside the
    /// campaign's; INVALID_ARGUMENT for N or K of 0. A first round is no error: its changes are
    /// absent.
    pub async fn briefing(&self, query: &BriefingQuery) -> Result<Briefing> {
        if query.top_n == 0 {
            return Err(Error::invalid("top_n", "must be at least 1"));
        }
        if query.rounds == 0 {
            return Err(Error::invalid("campaign_count", "must be at least 1"));
        }
        let catalog = self.snapshot(query).await?;
        let campaign = catalog.campaign(&query.campaign_id)?.clone();
        let scope_id = query
            .scope
            .clone()
            .unwrap_or_else(|| campaign.scope_unit_id.clone());
        let scope = catalog.unit(&scope_id)?.clone();
        let score = self.scores.unit_score(&campaign.id, &scope_id).await?;
        let compared = compared_round(&catalog, &campaign, &scope_id);
        let before = match &compared {
            Some(c) => Some(self.scores.unit_score(&c.id, &scope_id).await?),
            None => None,
        };
        let weighted = campaign.weighting.is_some();
        let weighted_before = compared.as_ref().is_some_and(|c| c.weighting.is_some());
        let composite = Estimate::composite(&score, weighted);
        let composite_change = ScoreChange::of(
            before
                .as_ref()
                .and_then(|b| Estimate::composite(b, weighted_before)),
            composite,
        );
        let (_, questionnaire) = catalog.campaign_with_questionnaire(&campaign.id)?;
        let indicators: Vec<IndicatorFacts> = questionnaire
            .indicators
            .iter()
            .zip(&score.indicators)
            .map(|(indicator, now)| {
                let estimate = Estimate::indicator(now, weighted);
                let previous = before.as_ref().and_then(|b| {
                    let i = b.indicators.iter().find(|i| i.code == indicator.code)?;
                    Estimate::indicator(i, weighted_before)
                });
                IndicatorFacts {
                    code: indicator.code.clone(),
                    text: indicator.text.clone(),
                    weight: indicator.weight,
                    estimate,
                    change: ScoreChange::of(previous, estimate),
                }
            })
            .collect();
        let pairs = || indicators.iter().map(|i| (&i.code, i.change.as_ref()));
        let biggest_rise = biggest(pairs(), Verdict::Rise).cloned();
        let biggest_fall = biggest(pairs(), Verdict::Fall).cloned();
        let mut groups = Vec::new();
        for group in groups_under(scope.kind) {
            let facts = self
                .group_facts(query, &scope_id, group, compared.as_deref())
                .await?;
            if let Some(facts) = facts {
                groups.push(facts);
            }
        }
        let weakest_indicators = self.weakest(&campaign.id, &scope_id).await?;
        let response_rates = self
            .fieldwork
            .response_rates(&campaign.id, &scope_id)
            .await?;
        let grievances = self
            .fieldwork
            .grievance_counts(&campaign.id, &scope_id)
            .await?;
        Ok(Briefing {
            campaign,
            compared,
            scope,
            top_n: query.top_n,
            rounds: query.rounds,
            score,
            composite,
            composite_change,
            indicators,
            biggest_rise,
            biggest_fall,
            groups,
            weakest_indicators,
            response_rates,
            grievances,
        })
    }

    async fn snapshot(&self, query: &BriefingQuery) -> Result<Arc<Snapshot>> {
        self.catalog
            .snapshot_with(|s| {
                s.campaigns.contains_key(&query.campaign_id)
                    && query
                        .scope
                        .as_ref()
                        .is_none_or(|u| s.units.get(u).is_some())
            })
            .await
    }

    /// The facts of one peer group; `None` when the scope holds none of its units.
    async fn group_facts(
        &self,
        query: &BriefingQuery,
        scope: &UnitId,
        group: PeerGroup,
        compared: Option<&Campaign>,
    ) -> Result<Option<GroupFacts>> {
        let ranking_query = RankingQuery {
            campaign_id: query.campaign_id.clone(),
            scope: scope.clone(),
            group: Some(group.clone()),
            basis: RankBasis::Composite,
        };
        let ranking = self
            .scores
            .rankings(&ranking_query, RankFilter::All)
            .await?;
        if ranking.peer_count == 0 {
            return Ok(None);
        }
        let n = query.top_n;
        let (before, risers, fallers) = match compared {
            Some(compared) => {
                let before = self.previous_estimates(&ranking_query, compared).await?;
                let movers = self
                    .scores
                    .movers(&ranking_query, Some(compared.id.clone()), n as usize)
                    .await?;
                (before, movers.risers, movers.fallers)
            }
            None => Default::default(),
        };
        let weighted = self.is_weighted(&query.campaign_id);
        let place = |rows: Vec<RankingRow>| -> Vec<PlacedUnit> {
            rows.into_iter()
                .map(|row| {
                    let after = Estimate::composite(&row.score, weighted);
                    let previous = before.get(&row.score.unit_id).copied();
                    PlacedUnit {
                        change: ScoreChange::of(previous, after),
                        row,
                    }
                })
                .collect()
        };
        let laggards = match self
            .scores
            .laggards(&ranking_query, n, query.rounds as usize)
            .await
        {
            Ok(laggards) => Some(laggards),
            Err(Error::FailedPrecondition {
                violation_type: "COMPARISON_CHAIN_TOO_SHORT",
                ..
            }) => None,
            Err(e) => return Err(e),
        };
        Ok(Some(GroupFacts {
            group,
            peer_count: ranking.peer_count,
            ranked_count: ranking.ranked_count,
            top: place(top(ranking.rows.clone(), n)),
            bottom: place(bottom(ranking.rows, n)),
            risers: place(risers),
            fallers: place(fallers),
            laggards,
        }))
    }

    /// Each peer's composite in the compared round, from that round's ranking of the group.
    async fn previous_estimates(
        &self,
        query: &RankingQuery,
        compared: &Campaign,
    ) -> Result<HashMap<UnitId, Estimate>> {
        let previous = RankingQuery {
            campaign_id: compared.id.clone(),
            ..query.clone()
        };
        let ranking = self.scores.rankings(&previous, RankFilter::All).await?;
        let weighted = compared.weighting.is_some();
        Ok(ranking
            .rows
            .iter()
            .filter_map(|r| {
                Some((
                    r.score.unit_id.clone(),
                    Estimate::composite(&r.score, weighted)?,
                ))
            })
            .collect())
    }

    fn is_weighted(&self, campaign: &CampaignId) -> bool {
        self.catalog
            .snapshot()
            .campaign(campaign)
            .is_ok_and(|c| c.weighting.is_some())
    }

    /// The scope's weakest indicators: by rank among its peers when it is ranked on any,
    /// otherwise (a campaign's own scope has no peers) by score, lowest first.
    async fn weakest(
        &self,
        campaign: &CampaignId,
        scope: &UnitId,
    ) -> Result<Vec<IndicatorStanding>> {
        let mut standings = self
            .scores
            .weaknesses(campaign, scope, None)
            .await?
            .standings;
        if standings.iter().all(|s| s.rank.is_none()) {
            standings.sort_by(|a, b| match (a.value, b.value) {
                (Some(x), Some(y)) => x.total_cmp(&y),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            });
        }
        standings.truncate(WEAKEST_INDICATORS);
        Ok(standings)
    }
}

/// The campaign's compared round, when there is one and its scope covers `scope`.
fn compared_round(
    catalog: &Snapshot,
    campaign: &Campaign,
    scope: &UnitId,
) -> Option<Arc<Campaign>> {
    let compared = catalog
        .campaign(campaign.compared_campaign_id.as_ref()?)
        .ok()?;
    compared
        .require_in_scope(&catalog.units_of(compared), scope)
        .is_ok()
        .then(|| compared.clone())
}

/// The peer groups a briefing under a unit of `kind` looks at, the default group first: the
/// township level, departments, villages and communities. Groups without units under the scope
/// are dropped later, when their rankings come back empty.
fn groups_under(kind: UnitKind) -> Vec<PeerGroup> {
    use UnitKind::*;
    let fixed = [
        PeerGroup::of(Township.level().iter().copied()),
        PeerGroup::of([Department]),
        PeerGroup::of(Village.level().iter().copied()),
    ];
    let mut groups: Vec<PeerGroup> = Vec::new();
    for group in std::iter::once(PeerGroup::default_under(kind))
        .chain(fixed)
        .flatten()
    {
        if !groups.contains(&group) {
            groups.push(group);
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_city_briefing_looks_at_its_township_level_first_then_departments_and_villages() {
        use UnitKind::*;
        let kinds = |groups: Vec<PeerGroup>| -> Vec<Vec<UnitKind>> {
            groups.iter().map(|g| g.kinds().collect()).collect()
        };
        assert_eq!(
            kinds(groups_under(City)),
            [
                vec![Township, Subdistrict],
                vec![Department],
                vec![Village, Community]
            ]
        );
        assert_eq!(
            kinds(groups_under(Township)),
            [
                vec![Village, Community],
                vec![Township, Subdistrict],
                vec![Department]
            ]
        );
        assert_eq!(kinds(groups_under(Province))[0], vec![County]);
    }
}
