//! Rankings of peer units: standard competition ranks ("1224") on scores rounded to the
//! displayed two decimals, changes against a compared campaign, top and bottom places,
//! persistent laggards, movers, and a unit's weakest indicators.

use super::ids::{Code, UnitId};
use super::scoring::{ScoringContext, UnitScore};
use super::unit::{Unit, UnitKind, UnitTree};

/// A score in hundredths, rounded half-up: 90.104 and 90.096 both become 9010. The small
/// epsilon keeps values such as 90.105, stored as 90.10499999…, rounding up as displayed.
pub fn hundredths(score: f64) -> i64 {
    (score * 100.0 + 0.5 + 1e-9).floor() as i64
}

/// Ranks `scores` (one per peer): rank = 1 + number of peers with a strictly higher rounded
/// score. Peers without a score get no rank and do not push anyone down.
pub fn competition_ranks(scores: &[Option<f64>]) -> Vec<Option<u32>> {
    let mut rounded: Vec<i64> = scores.iter().flatten().map(|&s| hundredths(s)).collect();
    rounded.sort_unstable_by(|a, b| b.cmp(a));
    scores
        .iter()
        .map(|score| {
            score.map(|s| {
                let key = hundredths(s);
                1 + rounded.partition_point(|&other| other > key) as u32
            })
        })
        .collect()
}

/// Previous rank minus current rank: positive means the unit rose.
pub fn rank_change(previous: Option<u32>, current: Option<u32>) -> Option<i64> {
    Some(i64::from(previous?) - i64::from(current?))
}

/// What a ranking orders units by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RankBasis {
    Composite,
    Indicator(Code),
}

impl RankBasis {
    /// The headline value of `score` on this basis: weighted when the campaign is weighted.
    pub fn value_of(&self, score: &UnitScore, weighted: bool) -> Option<f64> {
        match self {
            Self::Composite if weighted => score.weighted_composite,
            Self::Composite => score.composite,
            Self::Indicator(code) => {
                let indicator = score.indicators.iter().find(|i| &i.code == code)?;
                if weighted {
                    indicator.weighted.map(|w| w.mean)
                } else {
                    indicator.mean
                }
            }
        }
    }
}

impl ScoringContext<'_> {
    /// Scores `peers` (without breakdowns, which no ranking reads) and ranks them by `basis`;
    /// units below the minimum sample get no rank.
    pub fn rank(
        &self,
        tree: &UnitTree,
        peers: &[&Unit],
        basis: &RankBasis,
    ) -> Vec<(UnitScore, Option<f64>, Option<u32>)> {
        let scores: Vec<UnitScore> = peers.iter().map(|u| self.headline(tree, u)).collect();
        let values: Vec<Option<f64>> = scores
            .iter()
            .map(|s| basis.value_of(s, self.is_weighted()))
            .collect();
        let rankable: Vec<Option<f64>> = scores
            .iter()
            .zip(&values)
            .map(|(s, v)| v.filter(|_| s.sufficient_sample))
            .collect();
        let ranks = competition_ranks(&rankable);
        scores
            .into_iter()
            .zip(values)
            .zip(ranks)
            .map(|((s, v), r)| (s, v, r))
            .collect()
    }
}

/// One peer's place in a ranking, and its change since the compared campaign.
#[derive(Debug, Clone, PartialEq)]
pub struct RankingRow {
    /// Without breakdowns.
    pub score: UnitScore,
    /// The value ranked on.
    pub value: Option<f64>,
    pub rank: Option<u32>,
    /// 1 + peers ranked strictly lower: 1 for the last place.
    pub rank_from_bottom: Option<u32>,
    pub previous_rank: Option<u32>,
    pub previous_value: Option<f64>,
    pub rank_change: Option<i64>,
    pub value_change: Option<f64>,
}

/// The units of `kind` strictly under `scope`: the peers a ranking compares.
pub fn peers<'t>(tree: &'t UnitTree, scope: &UnitId, kind: UnitKind) -> Vec<&'t Unit> {
    tree.subtree(scope)
        .into_iter()
        .filter(|u| u.kind == kind && &u.id != scope)
        .collect()
}

/// The peers of `unit` under `scope` (units of its kind), with `unit` itself even when it is
/// the scope, so its own standing can be read off the ranking.
pub fn peers_including<'t>(tree: &'t UnitTree, scope: &UnitId, unit: &'t Unit) -> Vec<&'t Unit> {
    let mut found = peers(tree, scope, unit.kind);
    if !found.iter().any(|u| u.id == unit.id) {
        found.push(unit);
    }
    found
}

/// Ranks `peers` in the current campaign and, when given, in the compared one. Ranked rows come
/// first (best first), then unranked rows; ties and unranked rows are ordered by unit id.
pub fn rank_peers(
    tree: &UnitTree,
    peers: &[&Unit],
    current: &ScoringContext<'_>,
    compared: Option<&ScoringContext<'_>>,
    basis: &RankBasis,
) -> Vec<RankingRow> {
    let now = current.rank(tree, peers, basis);
    let before = match compared {
        Some(ctx) => ctx
            .rank(tree, peers, basis)
            .into_iter()
            .map(|(_, v, r)| (v, r))
            .collect(),
        None => vec![(None, None); peers.len()],
    };
    let reversed = reverse_ranks(
        &now.iter()
            .map(|(_, v, r)| v.filter(|_| r.is_some()))
            .collect::<Vec<_>>(),
    );
    let mut rows: Vec<RankingRow> = now
        .into_iter()
        .zip(before)
        .zip(reversed)
        .map(
            |(((score, value, rank), (previous_value, previous_rank)), rank_from_bottom)| {
                RankingRow {
                    rank_change: rank_change(previous_rank, rank),
                    value_change: value.zip(previous_value).map(|(v, p)| v - p),
                    score,
                    value,
                    rank,
                    rank_from_bottom,
                    previous_rank,
                    previous_value,
                }
            },
        )
        .collect();
    rows.sort_by(|a, b| {
        let order = |r: &RankingRow| r.rank.unwrap_or(u32::MAX);
        order(a)
            .cmp(&order(b))
            .then_with(|| a.score.unit_id.cmp(&b.score.unit_id))
    });
    rows
}

/// Competition ranks counted from the bottom: 1 + number of values strictly lower.
fn reverse_ranks(values: &[Option<f64>]) -> Vec<Option<u32>> {
    let negated: Vec<Option<f64>> = values.iter().map(|v| v.map(|x| -x)).collect();
    competition_ranks(&negated)
}

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
    let in_bottom = |rows: &[RankingRow], unit: &UnitId| {
        rows.iter()
            .any(|r| &r.score.unit_id == unit && r.rank_from_bottom.is_some_and(|k| k <= n))
    };
    let mut laggards: Vec<&RankingRow> = latest
        .iter()
        .filter(|r| in_bottom(latest, &r.score.unit_id))
        .filter(|r| earlier.iter().all(|rows| in_bottom(rows, &r.score.unit_id)))
        .collect();
    laggards.sort_by(|a, b| {
        b.rank
            .cmp(&a.rank)
            .then_with(|| a.score.unit_id.cmp(&b.score.unit_id))
    });
    laggards
        .into_iter()
        .map(|r| r.score.unit_id.clone())
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
            .then_with(|| a.score.unit_id.cmp(&b.score.unit_id))
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

/// `unit`'s indicators ordered by rank among `peers` (which include it), weakest first.
pub fn weaknesses(
    tree: &UnitTree,
    peers: &[&Unit],
    ctx: &ScoringContext<'_>,
    unit: &UnitId,
) -> Vec<IndicatorStanding> {
    let mut standings: Vec<IndicatorStanding> = ctx
        .questionnaire
        .indicators
        .iter()
        .map(|indicator| {
            let ranked = ctx.rank(tree, peers, &RankBasis::Indicator(indicator.code.clone()));
            let ranked_values: Vec<f64> = ranked
                .iter()
                .filter(|(_, _, r)| r.is_some())
                .filter_map(|(_, v, _)| *v)
                .collect();
            let own = ranked.iter().find(|(s, _, _)| &s.unit_id == unit);
            IndicatorStanding {
                code: indicator.code.clone(),
                text: indicator.text.clone(),
                value: own.and_then(|(_, v, _)| *v),
                rank: own.and_then(|(_, _, r)| *r),
                ranked_count: ranked_values.len() as u32,
                peer_mean: (!ranked_values.is_empty())
                    .then(|| ranked_values.iter().sum::<f64>() / ranked_values.len() as f64),
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn domain_worked_example_two_rounds() {
        let round1 = competition_ranks(&[92.50, 90.10, 90.10, 88.00, 85.30].map(Some));
        let round2 = competition_ranks(&[89.90, 91.20, 88.40, 91.20, 87.00].map(Some));
        let expect = |v: [u32; 5]| v.map(Some).to_vec();
        assert_eq!(round1, expect([1, 2, 2, 4, 5]));
        assert_eq!(round2, expect([3, 1, 4, 1, 5]));
        let changes: Vec<_> = round1
            .iter()
            .zip(&round2)
            .map(|(p, c)| rank_change(*p, *c).unwrap())
            .collect();
        assert_eq!(changes, [-2, 1, -2, 3, 0]);
    }

    #[test]
    fn ties_are_decided_at_two_decimals() {
        assert_eq!(hundredths(90.104), hundredths(90.096));
        assert_eq!(hundredths(90.105), 9011);
        let ranks = competition_ranks(&[Some(90.104), Some(90.096), Some(90.2), None]);
        assert_eq!(ranks, [Some(2), Some(2), Some(1), None]);
    }

    proptest! {
        #[test]
        fn ranks_count_strictly_better_peers(scores in proptest::collection::vec(proptest::option::of(0.0f64..100.0), 0..40)) {
            let ranks = competition_ranks(&scores);
            for (i, score) in scores.iter().enumerate() {
                match score {
                    None => prop_assert_eq!(ranks[i], None),
                    Some(s) => {
                        let better = scores.iter().flatten().filter(|o| hundredths(**o) > hundredths(*s)).count();
                        prop_assert_eq!(ranks[i], Some(1 + better as u32));
                    }
                }
            }
        }
    }
}
