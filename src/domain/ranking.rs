//! Standard competition ranking ("1224") on scores rounded to the displayed two decimals.

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
