//! From stored sufficient statistics to unit scores, breakdowns, weighted estimates and ranks.

use std::collections::{BTreeMap, HashMap};

use super::campaign::Campaign;
use super::ids::{Code, UnitId};
use super::questionnaire::Questionnaire;
use super::ranking::{competition_ranks, rank_change};
use super::stats::{Moments, composite_score};
use super::submission::{Carrier, Channel};
use super::unit::{Unit, UnitKind, UnitTree};
use super::weighting::{Cell, WeightedEstimate, Weighting, cell_weights, kish, weighted_mean};

/// The slice of a unit's submissions one stored row covers.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CellKey {
    pub channel: Channel,
    /// Phone polls only.
    pub carrier: Option<Carrier>,
    /// The respondent attributes the campaign weights by (see [`Stratum`]); empty otherwise.
    pub stratum: Stratum,
}

/// Respondent attributes relevant to a campaign's weighting, in a canonical text form so they
/// can be part of a database key. Empty when the campaign weights by none.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Stratum(String);

impl Stratum {
    pub fn new(attributes: &BTreeMap<String, String>) -> Self {
        if attributes.is_empty() {
            Self::default()
        } else {
            Self(serde_json::to_string(attributes).expect("a string map always serialises"))
        }
    }

    /// Reads a stored stratum; anything unreadable counts as "no attributes".
    pub fn from_stored(text: String) -> Self {
        Self(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn attribute(&self, name: &str) -> Option<String> {
        if self.0.is_empty() {
            return None;
        }
        let map: BTreeMap<String, String> = serde_json::from_str(&self.0).ok()?;
        map.get(name).cloned()
    }
}

/// One stored aggregate row: a unit's own accepted submissions in one cell, with the moments
/// of every indicator in questionnaire order (trailing indicators nobody answered may be
/// missing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellStatRow {
    pub unit_id: UnitId,
    pub cell: CellKey,
    pub submissions: i64,
    pub moments: Vec<Moments>,
}

/// Pooled figures of a set of submissions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Figures {
    pub submissions: i64,
    /// By questionnaire position (a ranking pools these for every unit, so no map keyed by
    /// code); positions past the end, like zeros, mean nobody answered.
    pub indicators: Vec<Moments>,
}

impl Figures {
    fn add(&mut self, other: &Figures) {
        self.submissions += other.submissions;
        self.add_moments(&other.indicators);
    }

    fn add_moments(&mut self, moments: &[Moments]) {
        if self.indicators.len() < moments.len() {
            self.indicators.resize(moments.len(), Moments::default());
        }
        for (mine, theirs) in self.indicators.iter_mut().zip(moments) {
            *mine += *theirs;
        }
    }

    /// The figures of the indicator at `position`; `None` when nobody answered it.
    fn answered(&self, position: usize) -> Option<Moments> {
        self.indicators
            .get(position)
            .copied()
            .filter(|m| *m != Moments::default())
    }
}

/// A unit's (or a subtree's) figures, cell by cell.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    pub cells: BTreeMap<CellKey, Figures>,
}

impl Totals {
    fn add(&mut self, other: &Totals) {
        for (key, figures) in &other.cells {
            self.cells.entry(key.clone()).or_default().add(figures);
        }
    }

    /// The figures of the cells `include` accepts, pooled.
    pub fn pooled(&self, include: impl Fn(&CellKey) -> bool) -> Figures {
        let mut pooled = Figures::default();
        for (_, figures) in self.cells.iter().filter(|(k, _)| include(k)) {
            pooled.add(figures);
        }
        pooled
    }
}

/// A campaign's aggregates per unit, each unit holding only its own submissions.
#[derive(Debug, Clone, Default)]
pub struct CampaignStats {
    own: HashMap<UnitId, Totals>,
}

impl CampaignStats {
    /// Reads stored rows against the campaign's questionnaire, which gives each position its
    /// indicator.
    ///
    /// # Errors
    /// A row with more indicators than the questionnaire has: the rows are not this campaign's.
    pub fn from_cells(
        rows: impl IntoIterator<Item = CellStatRow>,
        questionnaire: &Questionnaire,
    ) -> Result<Self, String> {
        let mut own: HashMap<UnitId, Totals> = HashMap::new();
        for row in rows {
            if row.moments.len() > questionnaire.indicators.len() {
                return Err(format!(
                    "a stored row of unit {} holds {} indicators; questionnaire {} has {}",
                    row.unit_id,
                    row.moments.len(),
                    questionnaire.id,
                    questionnaire.indicators.len()
                ));
            }
            let figures = own
                .entry(row.unit_id)
                .or_default()
                .cells
                .entry(row.cell)
                .or_default();
            figures.submissions += row.submissions;
            figures.add_moments(&row.moments);
        }
        Ok(Self { own })
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
    pub weighted: Option<WeightedEstimate>,
    /// Absent for indicators with three or fewer scored options.
    pub top_three: Option<TopThreeShare>,
}

/// The share of valid answers that chose one of the indicator's top three options (DOMAIN.md:
/// the share satisfied), with its Wilson interval.
#[derive(Debug, Clone, PartialEq)]
pub struct TopThreeShare {
    pub count: i64,
    pub share: Option<f64>,
    pub interval: Option<(f64, f64)>,
    pub weighted: Option<WeightedEstimate>,
}

/// The figures of one channel (and carrier) of a unit.
#[derive(Debug, Clone, PartialEq)]
pub struct Breakdown {
    pub channel: Channel,
    pub carrier: Option<Carrier>,
    pub submissions: i64,
    pub composite: Option<f64>,
    pub indicators: Vec<IndicatorScore>,
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
    pub breakdowns: Vec<Breakdown>,
    /// Present for weighted campaigns with at least one weighted valid answer.
    pub weighted_composite: Option<f64>,
    pub weighted_submissions: i64,
    pub effective_sample_size: Option<f64>,
}

/// What a ranking orders units by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RankBasis {
    Composite,
    Indicator(Code),
}

impl UnitScore {
    /// The headline value for `basis`: weighted when the campaign is weighted.
    pub fn value(&self, basis: &RankBasis, weighted: bool) -> Option<f64> {
        match basis {
            RankBasis::Composite if weighted => self.weighted_composite,
            RankBasis::Composite => self.composite,
            RankBasis::Indicator(code) => {
                let indicator = self.indicators.iter().find(|i| &i.code == code)?;
                if weighted {
                    indicator.weighted.map(|w| w.mean)
                } else {
                    indicator.mean
                }
            }
        }
    }
}

fn indicator_scores(questionnaire: &Questionnaire, figures: &Figures) -> Vec<IndicatorScore> {
    questionnaire
        .indicators
        .iter()
        .enumerate()
        .map(|(position, indicator)| {
            let moments = figures.answered(position).unwrap_or_default();
            IndicatorScore {
                code: indicator.code.clone(),
                moments,
                mean: moments.mean(),
                standard_error: moments.standard_error(),
                confidence_interval: moments.confidence_interval_95(),
                weighted: None,
                top_three: indicator.top_three_floor().map(|_| TopThreeShare {
                    count: moments.top_three,
                    share: moments.top_three_share(),
                    interval: moments.top_three_interval(),
                    weighted: None,
                }),
            }
        })
        .collect()
}

fn composite_of(
    questionnaire: &Questionnaire,
    means: impl Iterator<Item = Option<f64>>,
) -> Option<f64> {
    composite_score(questionnaire.indicators.iter().map(|i| i.weight).zip(means))
}

/// The levels of a cell on the weighting's margins, or `None` when it lacks one.
fn weighting_cell(weighting: &Weighting, key: &CellKey) -> Option<Cell> {
    weighting
        .margins
        .iter()
        .map(|margin| match margin.dimension.as_str() {
            "carrier" => key.carrier.map(|c| c.name().to_owned()),
            "channel" => Some(key.channel.name().to_owned()),
            attribute => key.stratum.attribute(attribute),
        })
        .collect()
}

/// Weighted estimates: weights per weighting cell from submission counts, then each
/// indicator's weighted mean over the cells' moments.
fn apply_weighting(
    weighting: &Weighting,
    questionnaire: &Questionnaire,
    totals: &Totals,
    indicators: &mut [IndicatorScore],
) -> (Option<f64>, i64, Option<f64>) {
    let mut cells: BTreeMap<Cell, Figures> = BTreeMap::new();
    for (key, figures) in &totals.cells {
        if let Some(cell) = weighting_cell(weighting, key) {
            cells.entry(cell).or_default().add(figures);
        }
    }
    let counts: BTreeMap<Cell, f64> = cells
        .iter()
        .map(|(c, f)| (c.clone(), f.submissions as f64))
        .collect();
    let weights = cell_weights(weighting, &counts);
    let weighted_submissions: i64 = cells
        .iter()
        .filter(|(c, _)| weights.contains_key(*c))
        .map(|(_, f)| f.submissions)
        .sum();
    let effective = kish(weights.iter().map(|(c, w)| (*w, counts[c]))).map(|(n_eff, _)| n_eff);
    for (position, score) in indicators.iter_mut().enumerate() {
        let per_cell: Vec<(f64, Moments)> = weights
            .iter()
            .filter_map(|(c, w)| Some((*w, cells[c].answered(position)?)))
            .collect();
        score.weighted = weighted_mean(&per_cell);
        if let Some(top_three) = &mut score.top_three {
            let chose: Vec<(f64, Moments)> = per_cell
                .iter()
                .map(|(w, m)| (*w, m.top_three_indicator()))
                .collect();
            top_three.weighted = weighted_mean(&chose);
        }
    }
    let composite = composite_of(
        questionnaire,
        indicators.iter().map(|i| i.weighted.map(|w| w.mean)),
    );
    (composite, weighted_submissions, effective)
}

/// Scores a unit from its pooled figures, with its breakdowns by channel and carrier.
pub fn score_unit(
    campaign: &Campaign,
    questionnaire: &Questionnaire,
    unit: &Unit,
    totals: &Totals,
) -> UnitScore {
    UnitScore {
        breakdowns: breakdowns(questionnaire, totals),
        ..headline_score(campaign, questionnaire, unit, totals)
    }
}

/// A unit's figures without breakdowns: what a ranking compares.
fn headline_score(
    campaign: &Campaign,
    questionnaire: &Questionnaire,
    unit: &Unit,
    totals: &Totals,
) -> UnitScore {
    let all = totals.pooled(|_| true);
    let mut indicators = indicator_scores(questionnaire, &all);
    let composite = composite_of(questionnaire, indicators.iter().map(|i| i.mean));
    let (weighted_composite, weighted_submissions, effective_sample_size) =
        match &campaign.weighting {
            Some(weighting) => apply_weighting(weighting, questionnaire, totals, &mut indicators),
            None => (None, 0, None),
        };
    UnitScore {
        unit_id: unit.id.clone(),
        unit_name: unit.name.clone(),
        submissions: all.submissions,
        composite,
        indicators,
        sufficient_sample: all.submissions >= i64::from(campaign.min_sample),
        breakdowns: Vec::new(),
        weighted_composite,
        weighted_submissions,
        effective_sample_size,
    }
}

/// Per channel, and per carrier within phone polls; slices without submissions are left out.
fn breakdowns(questionnaire: &Questionnaire, totals: &Totals) -> Vec<Breakdown> {
    let mut slices: Vec<(Channel, Option<Carrier>)> =
        vec![(Channel::Visit, None), (Channel::Phone, None)];
    slices.extend(Carrier::ALL.map(|c| (Channel::Phone, Some(c))));
    slices
        .into_iter()
        .filter_map(|(channel, carrier)| {
            let figures = totals
                .pooled(|k| k.channel == channel && (carrier.is_none() || k.carrier == carrier));
            (figures.submissions > 0).then(|| {
                let indicators = indicator_scores(questionnaire, &figures);
                Breakdown {
                    channel,
                    carrier,
                    submissions: figures.submissions,
                    composite: composite_of(questionnaire, indicators.iter().map(|i| i.mean)),
                    indicators,
                }
            })
        })
        .collect()
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

    fn is_weighted(&self) -> bool {
        self.campaign.weighting.is_some()
    }

    /// Scores `peers` (without breakdowns, which no ranking reads) and ranks them by `basis`;
    /// units below the minimum sample get no rank.
    pub fn rank(
        &self,
        tree: &UnitTree,
        peers: &[&Unit],
        basis: &RankBasis,
    ) -> Vec<(UnitScore, Option<f64>, Option<u32>)> {
        let scores: Vec<UnitScore> = peers
            .iter()
            .map(|u| {
                let totals = self.stats.rolled_up(tree, &u.id);
                headline_score(self.campaign, self.questionnaire, u, &totals)
            })
            .collect();
        let values: Vec<Option<f64>> = scores
            .iter()
            .map(|s| s.value(basis, self.is_weighted()))
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
    use crate::domain::ids::QuestionnaireId;
    use crate::domain::questionnaire::Indicator;
    use crate::domain::time::Timestamp;

    fn questionnaire(codes: &[&str]) -> Questionnaire {
        Questionnaire {
            id: QuestionnaireId::parse("q").unwrap(),
            name: "q".into(),
            indicators: codes
                .iter()
                .map(|code| Indicator {
                    code: Code::parse(code).unwrap(),
                    text: String::new(),
                    weight: 1.0,
                    options: Vec::new(),
                })
                .collect(),
            created_at: Timestamp::from_micros(0),
        }
    }

    fn row(unit: &str, submissions: i64, moments: Vec<Moments>) -> CellStatRow {
        CellStatRow {
            unit_id: UnitId::parse(unit).unwrap(),
            cell: CellKey {
                channel: Channel::Visit,
                carrier: None,
                stratum: Stratum::default(),
            },
            submissions,
            moments,
        }
    }

    #[test]
    fn stored_positions_are_read_as_the_questionnaires_indicators() {
        let q = questionnaire(&["security", "theft", "police"]);
        let answered = Moments::of_answer(Some(80), true);
        let stats =
            CampaignStats::from_cells([row("u1", 1, vec![answered, Moments::default()])], &q)
                .unwrap();
        let units = [Unit {
            id: UnitId::parse("u1").unwrap(),
            name: "u1".into(),
            kind: UnitKind::Village,
            parent_id: None,
            area: None,
            created_at: Timestamp::from_micros(0),
        }];
        let tree = UnitTree::new(units.to_vec());
        let pooled = stats
            .rolled_up(&tree, &UnitId::parse("u1").unwrap())
            .pooled(|_| true);
        assert_eq!(pooled.submissions, 1);
        // Unanswered positions (zero or absent) carry no figures.
        assert_eq!(pooled.answered(0), Some(answered));
        assert_eq!((pooled.answered(1), pooled.answered(2)), (None, None));
        let score = score_unit(
            &Campaign::for_tests("c", &q.id, "u1"),
            &q,
            &units[0],
            &stats.rolled_up(&tree, &UnitId::parse("u1").unwrap()),
        );
        let codes: Vec<&str> = score.indicators.iter().map(|i| i.code.as_str()).collect();
        assert_eq!(codes, ["security", "theft", "police"]);
        assert_eq!(score.indicators[0].moments, answered);
        assert_eq!(score.indicators[0].mean, Some(80.0));
        assert_eq!(score.indicators[1].mean, None);
    }

    #[test]
    fn rows_longer_than_the_questionnaire_are_refused() {
        let q = questionnaire(&["security"]);
        let rows = [row("u1", 1, vec![Moments::default(); 2])];
        assert!(CampaignStats::from_cells(rows, &q).is_err());
    }
}
