//! A round's briefing: the facts a meeting reads about one campaign and scope against the
//! campaign's compared round, assembled from the same reads the aggregate, call-center and
//! review services answer (`Scores`, response rates, grievance counts), so every figure in it
//! equals what those RPCs report.

mod groups;

use std::sync::Arc;

use crate::catalog::{Catalog, Snapshot};
use crate::domain::briefing::{Estimate, ScoreChange, Verdict, biggest};
use crate::domain::campaign::Campaign;
use crate::domain::grievance::GrievanceSummary;
use crate::domain::headline::Headline;
use crate::domain::ids::{CampaignId, Code, UnitId};
use crate::domain::peers::PeerGroup;
use crate::domain::ranking::{IndicatorStanding, RankingRow};
use crate::domain::scoring::UnitScore;
use crate::domain::unit::Unit;
use crate::error::{Error, Result};
use crate::fieldwork::{Fieldwork, UnitRates};
use crate::scores::{Laggards, Scores};

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
        let composite = Estimate::composite(&Headline::of(&score), weighted);
        let composite_change = ScoreChange::of(
            before
                .as_ref()
                .and_then(|b| Estimate::composite(&Headline::of(b), weighted_before)),
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
        for group in groups::groups_under(scope.kind) {
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
