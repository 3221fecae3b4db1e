//! From stored sufficient statistics to unit scores and rankings.

use std::collections::{BTreeMap, HashMap};

use super::campaign::Campaign;
use super::ids::{Code, UnitId};
use super::questionnaire::Questionnaire;
use super::ranking::{competition_ranks, rank_change};
use super::stats::{Moments, composite_score};
use super::submission::{Carrier, Channel};
use super::unit::{Unit, UnitKind, UnitTree};

/// One stored aggregate row: the moments of one indicator over a unit's own submissions of one
/// channel (and carrier, for phone polls).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndicatorStatRow {
    pub unit_id: UnitId,
    pub indicator: Code,
    pub channel: Channel,
    pub carrier: Option<Carrier>,
    pub moments: Moments,
}

/// One stored count row: a unit's own accepted submissions of one channel (and carrier).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmissionCountRow {
    pub unit_id: UnitId,
    pub channel: Channel,
    pub carrier: Option<Carrier>,
    pub submissions: i64,
}

/// Pooled figures of a set of submissions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    pub submissions: i64,
    pub indicators: BTreeMap<Code, Moments>,
}

impl Totals {
    fn add(&mut self, other: &Totals) {
        self.submissions += other.submissions;
        for (code, m) in &other.indicators {
            *self.indicators.entry(code.clone()).or_default() += *m;
        }
    }
}

/// A campaign's aggregates per unit, each unit holding only its own submissions.
#[derive(Debug, Clone, Default)]
pub struct CampaignStats {
    own: HashMap<UnitId, Totals>,
}

impl CampaignStats {
    pub fn from_rows(
        indicators: impl IntoIterator<Item = IndicatorStatRow>,
        counts: impl IntoIterator<Item = SubmissionCountRow>,
    ) -> Self {
        let mut own: HashMap<UnitId, Totals> = HashMap::new();
        for row in indicators {
            *own.entry(row.unit_id)
                .or_default()
                .indicators
                .entry(row.indicator)
                .or_default() += row.moments;
        }
        for row in counts {
            own.entry(row.unit_id).or_default().submissions += row.submissions;
        }
        Self { own }
    }

    /// Pools the figures of `root` and all its descendants (answers, not unit means).
    pub fn rolled_up(&self, tree: &UnitTree, root: &UnitId) -> Totals {
        let mut totals = Totals::default();
        for unit in tree.subtree(root) {
            if let Some(own) = self.own.get(&unit.id) {
                totals.add(own);
            }
        }
        totals
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct IndicatorScore {
    pub code: Code,
    pub moments: Moments,
    pub mean: Option<f64>,
    pub standard_error: Option<f64>,
    pub confidence_interval: Option<(f64, f64)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UnitScore {
    pub unit_id: UnitId,
    pub unit_name: String,
    pub submissions: i64,
    pub composite: Option<f64>,
    /// In questionnaire order.
    pub indicators: Vec<IndicatorScore>,
    pub sufficient_sample: bool,
}

impl UnitScore {
    /// Ranked only with a score and at least the campaign's minimum sample.
    pub fn is_rankable(&self) -> bool {
        self.composite.is_some() && self.sufficient_sample
    }
}

/// Scores a unit from its pooled figures.
pub fn score_unit(
    campaign: &Campaign,
    questionnaire: &Questionnaire,
    unit: &Unit,
    totals: &Totals,
) -> UnitScore {
    let indicators: Vec<IndicatorScore> = questionnaire
        .indicators
        .iter()
        .map(|indicator| {
            let moments = totals
                .indicators
                .get(&indicator.code)
                .copied()
                .unwrap_or_default();
            IndicatorScore {
                code: indicator.code.clone(),
                moments,
                mean: moments.mean(),
                standard_error: moments.standard_error(),
                confidence_interval: moments.confidence_interval_95(),
            }
        })
        .collect();
    let composite = composite_score(
        questionnaire
            .indicators
            .iter()
            .zip(&indicators)
            .map(|(indicator, score)| (indicator.weight, score.mean)),
    );
    UnitScore {
        unit_id: unit.id.clone(),
        unit_name: unit.name.clone(),
        submissions: totals.submissions,
        composite,
        indicators,
        sufficient_sample: totals.submissions >= i64::from(campaign.min_sample),
    }
}

/// Everything needed to score one campaign.
pub struct ScoringContext<'a> {
    pub campaign: &'a Campaign,
    pub questionnaire: &'a Questionnaire,
    pub stats: &'a CampaignStats,
}

impl ScoringContext<'_> {
    pub fn score(&self, tree: &UnitTree, unit: &Unit) -> UnitScore {
        let totals = self.stats.rolled_up(tree, &unit.id);
        score_unit(self.campaign, self.questionnaire, unit, &totals)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct RankingRow {
    pub score: UnitScore,
    pub rank: Option<u32>,
    pub previous_rank: Option<u32>,
    pub previous_composite: Option<f64>,
    pub rank_change: Option<i64>,
}

/// The units of `kind` strictly under `scope`: the peers a ranking compares.
pub fn peers<'t>(tree: &'t UnitTree, scope: &UnitId, kind: UnitKind) -> Vec<&'t Unit> {
    tree.subtree(scope)
        .into_iter()
        .filter(|u| u.kind == kind && &u.id != scope)
        .collect()
}

/// Ranks `peers` in the current campaign and, when given, in the compared one. Ranked rows come
/// first (best first), then unranked rows; ties and unranked rows are ordered by unit id.
pub fn rank_peers(
    tree: &UnitTree,
    peers: &[&Unit],
    current: &ScoringContext<'_>,
    compared: Option<&ScoringContext<'_>>,
) -> Vec<RankingRow> {
    let ranks_of = |scores: &[UnitScore]| {
        let rankable: Vec<Option<f64>> = scores
            .iter()
            .map(|s| s.composite.filter(|_| s.is_rankable()))
            .collect();
        competition_ranks(&rankable)
    };
    let scores: Vec<UnitScore> = peers.iter().map(|u| current.score(tree, u)).collect();
    let ranks = ranks_of(&scores);
    let (previous_scores, previous_ranks) = match compared {
        Some(ctx) => {
            let scores: Vec<UnitScore> = peers.iter().map(|u| ctx.score(tree, u)).collect();
            let ranks = ranks_of(&scores);
            (scores.into_iter().map(|s| s.composite).collect(), ranks)
        }
        None => (vec![None; peers.len()], vec![None; peers.len()]),
    };
    let mut rows: Vec<RankingRow> = scores
        .into_iter()
        .zip(ranks)
        .zip(previous_scores.into_iter().zip(previous_ranks))
        .map(
            |((score, rank), (previous_composite, previous_rank))| RankingRow {
                rank_change: rank_change(previous_rank, rank),
                score,
                rank,
                previous_rank,
                previous_composite,
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
