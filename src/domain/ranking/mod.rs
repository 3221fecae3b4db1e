//! Rankings of peer units: standard competition ranks ("1224") on scores rounded to the
//! displayed two decimals and changes against a compared campaign; what leaders read off them
//! (top and bottom places, persistent laggards, movers, weakest indicators) is in `selections`.

use std::sync::Arc;

use super::headline::Headline;
use super::ids::Code;
use super::questionnaire::Questionnaire;
use super::scoring::ScoringContext;
use super::unit::Unit;

mod selections;

pub use selections::{IndicatorStanding, bottom, movers, persistent_laggards, top, weaknesses};

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

/// A basis resolved against a questionnaire: the composite, or an indicator's position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resolved {
    Composite,
    /// `None`: the questionnaire has no such indicator, so no unit has a value on it.
    Indicator(Option<usize>),
}

impl RankBasis {
    fn resolve(&self, questionnaire: &Questionnaire) -> Resolved {
        match self {
            Self::Composite => Resolved::Composite,
            Self::Indicator(code) => Resolved::Indicator(
                questionnaire
                    .indicators
                    .iter()
                    .position(|i| &i.code == code),
            ),
        }
    }

    /// The value of `headline` on this basis in `questionnaire`: weighted when the campaign is
    /// weighted.
    pub fn value_of(
        &self,
        questionnaire: &Questionnaire,
        headline: &Headline,
        weighted: bool,
    ) -> Option<f64> {
        self.resolve(questionnaire).value_of(headline, weighted)
    }
}

impl Resolved {
    fn value_of(self, headline: &Headline, weighted: bool) -> Option<f64> {
        match self {
            Self::Composite if weighted => headline.weighted_composite,
            Self::Composite => headline.composite,
            Self::Indicator(position) => {
                let indicator = headline.indicators.get(position?)?;
                if weighted {
                    indicator.weighted
                } else {
                    indicator.mean
                }
            }
        }
    }
}

impl ScoringContext<'_> {
    /// The headlines of `peers`, ranked by `basis`; units below the minimum sample get no rank.
    pub fn rank(
        &self,
        peers: &[&Unit],
        basis: &RankBasis,
    ) -> Vec<(Arc<Headline>, Option<f64>, Option<u32>)> {
        let scores = self.headlines(peers);
        let (values, ranks) = self.values_and_ranks(&scores, basis);
        scores
            .into_iter()
            .zip(values)
            .zip(ranks)
            .map(|((s, v), r)| (s, v, r))
            .collect()
    }

    /// Each headline's value on `basis` and its rank among them.
    fn values_and_ranks(
        &self,
        headlines: &[Arc<Headline>],
        basis: &RankBasis,
    ) -> (Vec<Option<f64>>, Vec<Option<u32>>) {
        let basis = basis.resolve(self.questionnaire);
        let values: Vec<Option<f64>> = headlines
            .iter()
            .map(|s| basis.value_of(s, self.is_weighted()))
            .collect();
        let rankable: Vec<Option<f64>> = headlines
            .iter()
            .zip(&values)
            .map(|(s, v)| v.filter(|_| s.sufficient_sample))
            .collect();
        let ranks = competition_ranks(&rankable);
        (values, ranks)
    }
}

/// One unit's place among its peers on one basis.
#[derive(Debug, Clone, PartialEq)]
pub struct Standing {
    pub headline: Arc<Headline>,
    /// The value ranked on (the weighted estimate in a weighted campaign), also when the unit is
    /// not ranked.
    pub value: Option<f64>,
    /// Absent when the unit is not ranked, or not among the peers.
    pub rank: Option<u32>,
    /// Peers ranked.
    pub ranked_count: u32,
    /// Mean of the ranked peers' values.
    pub peer_mean: Option<f64>,
}

impl ScoringContext<'_> {
    /// `unit`'s standing among `peers` on `basis`. A unit that is not among them (a campaign's
    /// scope unit, which has no peers in its own campaign) keeps its score and value but has no
    /// rank.
    pub fn standing(&self, peers: &[&Unit], unit: &Unit, basis: &RankBasis) -> Standing {
        self.standing_among(&self.headlines(peers), unit, basis)
    }

    /// As [`Self::standing`], among the peers' headlines.
    fn standing_among(&self, peers: &[Arc<Headline>], unit: &Unit, basis: &RankBasis) -> Standing {
        let (values, ranks) = self.values_and_ranks(peers, basis);
        let ranked_values: Vec<f64> = values
            .iter()
            .zip(&ranks)
            .filter(|(_, r)| r.is_some())
            .filter_map(|(v, _)| *v)
            .collect();
        let (headline, value, rank) = match peers.iter().position(|s| s.unit_id == unit.id) {
            Some(at) => (peers[at].clone(), values[at], ranks[at]),
            None => {
                let headline = self.headline(unit);
                let value = basis.value_of(self.questionnaire, &headline, self.is_weighted());
                (Arc::new(headline), value, None)
            }
        };
        Standing {
            headline,
            value,
            rank,
            ranked_count: ranked_values.len() as u32,
            peer_mean: (!ranked_values.is_empty())
                .then(|| ranked_values.iter().sum::<f64>() / ranked_values.len() as f64),
        }
    }
}

/// One peer's place in a ranking, and its change since the compared campaign.
#[derive(Debug, Clone, PartialEq)]
pub struct RankingRow {
    /// Shared with the memo and every other ranking of the same figures.
    pub headline: Arc<Headline>,
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

/// Ranks `peers` in the current campaign and, when given, in the compared one. Ranked rows come
/// first (best first), then unranked rows; ties and unranked rows are ordered by unit id.
pub fn rank_peers(
    peers: &[&Unit],
    current: &ScoringContext<'_>,
    compared: Option<&ScoringContext<'_>>,
    basis: &RankBasis,
) -> Vec<RankingRow> {
    let now = current.rank(peers, basis);
    let before = match compared {
        Some(ctx) => ctx
            .rank(peers, basis)
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
            |(((headline, value, rank), (previous_value, previous_rank)), rank_from_bottom)| {
                RankingRow {
                    rank_change: rank_change(previous_rank, rank),
                    value_change: value.zip(previous_value).map(|(v, p)| v - p),
                    headline,
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
            .then_with(|| a.headline.unit_id.cmp(&b.headline.unit_id))
    });
    rows
}

/// Competition ranks counted from the bottom: 1 + number of values strictly lower, compared at
/// the same two decimals as the ranks. (Ranking the negated values would round a half such as
/// 73.125 down, so a unit could tie at the bottom with one it is ranked above.)
fn reverse_ranks(values: &[Option<f64>]) -> Vec<Option<u32>> {
    let mut rounded: Vec<i64> = values.iter().flatten().map(|&v| hundredths(v)).collect();
    rounded.sort_unstable();
    values
        .iter()
        .map(|value| {
            value.map(|v| {
                let key = hundredths(v);
                1 + rounded.partition_point(|&other| other < key) as u32
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::campaign::Campaign;
    use crate::domain::cells::{CellKey, CellRow, Figures, Stratum};
    use crate::domain::channel::Channel;
    use crate::domain::headline::HeadlineMemo;
    use crate::domain::ids::UnitId;
    use crate::domain::peers::{PeerGroup, peers};
    use crate::domain::pooling::CampaignStats;
    use crate::domain::questionnaire::Questionnaire;
    use crate::domain::rollup::RolledUp;
    use crate::domain::stats::Moments;
    use crate::domain::unit::{UnitKind, UnitTree};
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

    #[test]
    fn bottom_ranks_mirror_the_ranks_at_two_decimals() {
        // 73.125 shows as 73.13, above 73.1249 (73.12): last place is the lower one alone.
        let values = [Some(73.125), Some(73.1249), Some(90.0), None, Some(90.004)];
        assert_eq!(
            competition_ranks(&values),
            [Some(3), Some(4), Some(1), None, Some(1)]
        );
        assert_eq!(
            reverse_ranks(&values),
            [Some(2), Some(1), Some(3), None, Some(3)]
        );
    }

    /// A campaign context over `units` (root first, the rest its children), each answering
    /// indicator "i" with `points`.
    struct World {
        tree: UnitTree,
        campaign: Campaign,
        questionnaire: Questionnaire,
        stats: RolledUp,
    }

    fn world(units: &[(&str, UnitKind, &[u8])]) -> World {
        let questionnaire = Questionnaire::for_tests(&["i"]);
        let (root, ..) = units[0];
        let tree = UnitTree::new(units.iter().enumerate().map(|(n, (id, kind, _))| Unit {
            kind: *kind,
            parent_id: (n > 0).then(|| UnitId::parse(root).unwrap()),
            ..Unit::for_tests(id)
        }));
        let rows = units
            .iter()
            .filter(|(.., p)| !p.is_empty())
            .map(|(id, _, points)| CellRow {
                unit_id: UnitId::parse(id).unwrap(),
                cell: CellKey {
                    channel: Channel::Visit,
                    carrier: None,
                    stratum: Stratum::default(),
                },
                figures: Figures {
                    submissions: points.len() as i64,
                    indicators: vec![Moments::from_points(points)],
                },
            });
        World {
            stats: RolledUp::new(
                CampaignStats::from_cells(rows, &questionnaire).unwrap(),
                tree.clone(),
            ),
            campaign: Campaign::for_tests("c", &questionnaire.id, root),
            questionnaire,
            tree,
        }
    }

    impl World {
        fn context(&self) -> ScoringContext<'_> {
            ScoringContext {
                campaign: &self.campaign,
                questionnaire: &self.questionnaire,
                stats: &self.stats,
                memo: None,
            }
        }

        fn unit(&self, id: &str) -> &Unit {
            self.tree.get(&UnitId::parse(id).unwrap()).unwrap()
        }
    }

    #[test]
    fn kept_headlines_rank_as_headlines_scored_afresh_and_only_touched_units_are_rescored() {
        let mut w = world(&[
            ("city", UnitKind::City, &[]),
            ("t1", UnitKind::Township, &[80, 60]),
            ("t2", UnitKind::Township, &[70]),
            ("t3", UnitKind::Township, &[90]),
        ]);
        let group = PeerGroup::default_under(UnitKind::City).unwrap();
        let memo = HeadlineMemo::default();
        let rank = |w: &World, memo: Option<&HeadlineMemo>| {
            let peer_units = peers(&w.tree, &w.campaign.scope_unit_id, &group);
            let ctx = ScoringContext {
                memo,
                ..w.context()
            };
            rank_peers(&peer_units, &ctx, None, &RankBasis::Composite)
        };
        let headline_of = |rows: &[RankingRow], id: &str| {
            rows.iter()
                .find(|r| r.headline.unit_id.as_str() == id)
                .unwrap()
                .headline
                .clone()
        };
        let before = rank(&w, Some(&memo));
        assert_eq!(before, rank(&w, None));
        assert_eq!(memo.len(), 3);

        // A visit to t1 scoring 100: t1 rises from 70 to 80, above t2.
        w.stats.apply(&CellRow {
            unit_id: UnitId::parse("t1").unwrap(),
            cell: CellKey {
                channel: Channel::Visit,
                carrier: None,
                stratum: Stratum::default(),
            },
            figures: Figures {
                submissions: 1,
                indicators: vec![Moments::from_points(&[100])],
            },
        });
        let after = rank(&w, Some(&memo));
        assert_eq!(after, rank(&w, None));
        assert_eq!(after[1].headline.unit_id.as_str(), "t1");
        assert_eq!(after[1].value, Some(80.0));
        for untouched in ["t2", "t3"] {
            assert!(Arc::ptr_eq(
                &headline_of(&before, untouched),
                &headline_of(&after, untouched)
            ));
        }
        assert!(!Arc::ptr_eq(
            &headline_of(&before, "t1"),
            &headline_of(&after, "t1")
        ));
    }

    #[test]
    fn a_township_and_a_subdistrict_rank_in_one_sequence() {
        let w = world(&[
            ("city", UnitKind::City, &[]),
            ("t1", UnitKind::Township, &[80, 60]),
            ("s1", UnitKind::Subdistrict, &[90]),
            ("t2", UnitKind::Township, &[70]),
            ("d1", UnitKind::Department, &[100]),
        ]);
        let group = PeerGroup::default_under(UnitKind::City).unwrap();
        let peer_units = peers(&w.tree, &w.campaign.scope_unit_id, &group);
        let rows = rank_peers(&peer_units, &w.context(), None, &RankBasis::Composite);
        let ranked: Vec<(&str, Option<u32>)> = rows
            .iter()
            .map(|r| (r.headline.unit_id.as_str(), r.rank))
            .collect();
        assert_eq!(ranked, [("s1", Some(1)), ("t1", Some(2)), ("t2", Some(2))]);
    }

    #[test]
    fn the_scope_unit_keeps_its_score_but_has_no_rank() {
        let w = world(&[
            ("county", UnitKind::County, &[50]),
            ("t1", UnitKind::Township, &[80]),
            ("t2", UnitKind::Township, &[60]),
        ]);
        let scope = &w.campaign.scope_unit_id;
        let county = w.unit("county");
        let own = peers(&w.tree, scope, &PeerGroup::around(county.kind));
        let standing = w.context().standing(&own, county, &RankBasis::Composite);
        assert_eq!((standing.rank, standing.ranked_count), (None, 0));
        // Pooled with its townships: (50 + 80 + 60) / 3.
        assert_eq!(standing.value, Some(190.0 / 3.0));

        let t2 = w.unit("t2");
        let townships = peers(&w.tree, scope, &PeerGroup::around(t2.kind));
        let standing = w.context().standing(&townships, t2, &RankBasis::Composite);
        assert_eq!((standing.rank, standing.ranked_count), (Some(2), 2));
        assert_eq!(
            (standing.value, standing.peer_mean),
            (Some(60.0), Some(70.0))
        );
    }

    #[test]
    fn a_weighted_campaign_ranks_by_the_weighted_value() {
        let w = world(&[("u", UnitKind::Village, &[80])]);
        let mut score = w.context().headline(w.unit("u"));
        score.weighted_composite = Some(20.0);
        let q = &w.questionnaire;
        assert_eq!(RankBasis::Composite.value_of(q, &score, false), Some(80.0));
        assert_eq!(RankBasis::Composite.value_of(q, &score, true), Some(20.0));
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
