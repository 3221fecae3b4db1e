//! A campaign's stored rows, read per unit (see `rollup` for the sums over subtrees): answers
//! are pooled, not unit means.

use std::collections::HashMap;

use super::cells::{CellRow, Totals};
use super::ids::UnitId;
use super::questionnaire::Questionnaire;

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
        rows: impl IntoIterator<Item = CellRow>,
        questionnaire: &Questionnaire,
    ) -> Result<Self, String> {
        let mut stats = Self::default();
        for row in rows {
            if row.figures.indicators.len() > questionnaire.indicators.len() {
                return Err(format!(
                    "a stored row of unit {} holds {} indicators; questionnaire {} has {}",
                    row.unit_id,
                    row.figures.indicators.len(),
                    questionnaire.id,
                    questionnaire.indicators.len()
                ));
            }
            stats.add(&row);
        }
        Ok(stats)
    }

    /// Adds one row (of stored figures, or of deltas) to its unit's own figures.
    pub fn add(&mut self, row: &CellRow) {
        self.own
            .entry(row.unit_id.clone())
            .or_default()
            .cells
            .entry(row.cell.clone())
            .or_default()
            .add(&row.figures);
    }

    /// The unit's own figures (its submissions, not its descendants').
    pub fn of(&self, unit: &UnitId) -> Option<&Totals> {
        self.own.get(unit)
    }

    /// Every unit with figures, and its own figures.
    pub fn units(&self) -> impl Iterator<Item = (&UnitId, &Totals)> {
        self.own.iter()
    }

    /// The number of stored rows the figures hold (a measure of their size in memory).
    pub fn cell_count(&self) -> usize {
        self.own.values().map(|t| t.cells.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::cells::{CellKey, Figures, Stratum};
    use crate::domain::channel::Channel;
    use crate::domain::stats::Moments;

    fn row(unit: &str, submissions: i64, indicators: Vec<Moments>) -> CellRow {
        CellRow {
            unit_id: UnitId::parse(unit).unwrap(),
            cell: CellKey {
                channel: Channel::Visit,
                carrier: None,
                stratum: Stratum::default(),
            },
            figures: Figures {
                submissions,
                indicators,
            },
        }
    }

    #[test]
    fn stored_rows_pool_position_by_position() {
        let q = Questionnaire::for_tests(&["security", "theft", "police"]);
        let answered = Moments::of_answer(Some(80), true);
        let stats =
            CampaignStats::from_cells([row("u1", 1, vec![answered, Moments::default()])], &q)
                .unwrap();
        let pooled = stats
            .of(&UnitId::parse("u1").unwrap())
            .unwrap()
            .pooled(|_| true);
        assert_eq!(pooled.submissions, 1);
        // Unanswered positions (zero or absent) carry no figures.
        assert_eq!(pooled.answered(0), Some(answered));
        assert_eq!((pooled.answered(1), pooled.answered(2)), (None, None));
    }

    #[test]
    fn rows_longer_than_the_questionnaire_are_refused() {
        let q = Questionnaire::for_tests(&["security"]);
        let rows = [row("u1", 1, vec![Moments::default(); 2])];
        assert!(CampaignStats::from_cells(rows, &q).is_err());
    }
}
