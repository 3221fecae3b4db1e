//! What leaders read off rankings: the top and bottom places, the units in the bottom places
//! round after round, the biggest risers and fallers, and a unit's weakest indicators.

use std::collections::HashSet;

use super::{RankBasis, RankingRow};
use crate::domain::ids::{Code, UnitId};
use crate::domain::scoring::ScoringContext;
use crate::domain::unit::Unit;

/// Keeps the rows ranked in the top `n` (ties included).
pub fn top(rows: Vec<RankingRow>, n: u32) -> Vec<RankingRow> {
    rows.into_iter()
        .filter(|r| r.rank.is_some_and(|k| k <= n))
        .collect()
}

/// Keeps the rows ranked in the bottom `n` (ties included), worst last as in the ranking.
pub fn bottom(rows: Vec<RankingRow>, n: u32) -> Vec<RankingRow> {
    rows.into_iter()
        .filter(|r| r.rank_from_bottom.is_some_and(|k| k <= n))
        .collect()
}

/// Units in the bottom `n` of every ranking given (one ranking per campaign).
pub fn persistent_laggards(rankings: &[Vec<RankingRow>], n: u32) -> Vec<UnitId> {
    let Some((latest, earlier)) = rankings.split_first() else {
        return Vec::new();
    };
    let in_bottom = |r: &RankingRow| r.rank_from_bottom.is_some_and(|k| k <= n);
    // Sets, not scans: a province ranks 25,000 villages.
    let earlier: Vec<HashSet<&UnitId>> = earlier
        .iter()
        .map(|rows| {
            rows.iter()
                .filter(|r| in_bottom(r))
                .map(|r| &r.headline.unit_id)
                .collect()
        })
        .collect();
    let mut laggards: Vec<&RankingRow> = latest
        .iter()
        .filter(|r| in_bottom(r))
        .filter(|r| earlier.iter().all(|set| set.contains(&r.headline.unit_id)))
        .collect();
    laggards.sort_by(|a, b| {
        b.rank
            .cmp(&a.rank)
            .then_with(|| a.headline.unit_id.cmp(&b.headline.unit_id))
    });
    laggards
        .into_iter()
        .map(|r| r.headline.unit_id.clone())
        .collect()
}

/// The `limit` largest risers and fallers among units ranked in both campaigns.
pub fn movers(rows: &[RankingRow], limit: usize) -> (Vec<RankingRow>, Vec<RankingRow>) {
    let mut moved: Vec<&RankingRow> = rows.iter().filter(|r| r.rank_change.is_some()).collect();
    let key = |r: &RankingRow| (r.rank_change.unwrap_or(0), r.value_change.unwrap_or(0.0));
    moved.sort_by(|a, b| {
        key(b)
            .0
            .cmp(&key(a).0)
            .then_with(|| key(b).1.total_cmp(&key(a).1))
            .then_with(|| a.headline.unit_id.cmp(&b.headline.unit_id))
    });
    let risers = moved
        .iter()
        .filter(|r| key(r).0 > 0)
        .take(limit)
        .map(|r| (*r).clone())
        .collect();
    let fallers = moved
        .iter()
        .rev()
        .filter(|r| key(r).0 < 0)
        .take(limit)
        .map(|r| (*r).clone())
        .collect();
    (risers, fallers)
}

/// One indicator of a unit, placed among its peers.
#[derive(Debug, Clone, PartialEq)]
pub struct IndicatorStanding {
    pub code: Code,
    pub text: String,
    pub value: Option<f64>,
    pub rank: Option<u32>,
    pub ranked_count: u32,
    pub peer_mean: Option<f64>,
}

impl IndicatorStanding {
    /// Rank as a share of the ranked peers: 1.0 is last place.
    fn relative_rank(&self) -> Option<f64> {
        Some(f64::from(self.rank?) / f64::from(self.ranked_count.max(1)))
    }
}

/// `unit`'s indicators ordered by its rank among `peers`, weakest first.
pub fn weaknesses(
    peers: &[&Unit],
    ctx: &ScoringContext<'_>,
    unit: &Unit,
) -> Vec<IndicatorStanding> {
    let headlines = ctx.headlines(peers);
    let mut standings: Vec<IndicatorStanding> = ctx
        .questionnaire
        .indicators
        .iter()
        .map(|indicator| {
            let basis = RankBasis::Indicator(indicator.code.clone());
            let standing = ctx.standing_among(&headlines, unit, &basis);
            IndicatorStanding {
                code: indicator.code.clone(),
                text: indicator.text.clone(),
                value: standing.value,
                rank: standing.rank,
                ranked_count: standing.ranked_count,
                peer_mean: standing.peer_mean,
            }
        })
        .collect();
    standings.sort_by(|a, b| match (a.relative_rank(), b.relative_rank()) {
        (Some(x), Some(y)) => y.total_cmp(&x).then_with(|| {
            a.value
                .unwrap_or(f64::MAX)
                .total_cmp(&b.value.unwrap_or(f64::MAX))
        }),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.code.cmp(&b.code),
    });
    standings
}
