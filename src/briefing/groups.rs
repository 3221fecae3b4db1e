//! A briefing's peer groups: which groups a scope has, and each one's places, movers and
//! laggards with their score changes.

use std::collections::HashMap;

use super::{BriefingQuery, Briefings, GroupFacts, PlacedUnit};
use crate::domain::briefing::{Estimate, ScoreChange};
use crate::domain::campaign::Campaign;
use crate::domain::ids::{CampaignId, UnitId};
use crate::domain::peers::PeerGroup;
use crate::domain::ranking::{RankBasis, RankingRow, bottom, top};
use crate::domain::unit::UnitKind;
use crate::error::{Error, Result};
use crate::scores::{RankFilter, RankingQuery};

impl Briefings {
    /// The facts of one peer group; `None` when the scope holds none of its units.
    pub(super) async fn group_facts(
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
                    let after = Estimate::composite(&row.headline, weighted);
                    let previous = before.get(&row.headline.unit_id).copied();
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
                    r.headline.unit_id.clone(),
                    Estimate::composite(&r.headline, weighted)?,
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
}

/// The peer groups a briefing under a unit of `kind` looks at, the default group first: the
/// township level, departments, villages and communities. Groups without units under the scope
/// are dropped later, when their rankings come back empty.
pub(super) fn groups_under(kind: UnitKind) -> Vec<PeerGroup> {
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
