//! Aggregate rows (`cell_stats`): per (campaign, unit, channel, carrier, stratum) the number
//! of counted submissions and, per indicator, exact integer moments and top-three counts.
//! Writers add deltas; nobody rewrites a row from scratch outside the migrations.

pub mod postgres;
pub mod sqlite;

use std::collections::{BTreeMap, HashMap};

use super::Store;
use super::values::{CarrierColumn, Counts};
use crate::domain::campaign::Campaign;
use crate::domain::cells::{CellKey, CellRow, Figures, Stratum};
use crate::domain::channel::Channel;
use crate::domain::ids::{CampaignId, UnitId};
use crate::domain::questionnaire::Questionnaire;
use crate::domain::stats::Moments;
use crate::domain::submission::NewSubmission;
use crate::error::{Error, Result};

/// A stored aggregate row's key: campaign, unit, channel, carrier column and stratum.
pub type CellRowKey = (CampaignId, UnitId, Channel, CarrierColumn, Stratum);

/// The aggregate row a new submission counts in.
pub fn cell_row_key(s: &NewSubmission) -> CellRowKey {
    (
        s.campaign_id.clone(),
        s.unit_id.clone(),
        s.source.channel(),
        CarrierColumn(s.source.carrier()),
        s.stratum.clone(),
    )
}

/// The moments flattened as stored: valid, excluded, sum, sum of squares per indicator.
pub fn flat_moments(figures: &Figures) -> Vec<i64> {
    figures
        .indicators
        .iter()
        .flat_map(|m| [m.valid, m.excluded, m.sum, m.sum_sq])
        .collect()
}

/// The top-three counts as stored, one per indicator, in a column of their own.
pub fn flat_top_three(figures: &Figures) -> Vec<i64> {
    figures.indicators.iter().map(|m| m.top_three).collect()
}

/// Rebuilds a row's figures from its stored lists; either may stop early, as zeros beyond
/// its end.
///
/// # Errors
/// A stored moments list whose length is not a multiple of four.
pub fn figures_from_flat(submissions: i64, flat: &[i64], top_three: &[i64]) -> Result<Figures> {
    if !flat.len().is_multiple_of(4) {
        return Err(Error::internal(format!(
            "stored moments hold {} numbers, not four per indicator",
            flat.len()
        )));
    }
    let mut figures = Figures {
        submissions,
        indicators: flat
            .chunks_exact(4)
            .map(|m| Moments {
                valid: m[0],
                excluded: m[1],
                sum: m[2],
                sum_sq: m[3],
                top_three: 0,
            })
            .collect(),
    };
    for (position, count) in top_three.iter().enumerate() {
        figures.add_answer(
            position,
            Moments {
                top_three: *count,
                ..Moments::default()
            },
        );
    }
    Ok(figures)
}

/// A stored aggregate row as both dialects read it.
#[derive(sqlx::FromRow)]
pub struct StoredCell {
    pub campaign_id: CampaignId,
    pub unit_id: UnitId,
    pub channel: Channel,
    pub carrier: CarrierColumn,
    pub stratum: Stratum,
    pub submissions: i64,
    pub moments: Counts,
    /// NULL only on a row written by a server older than the count and not yet counted.
    pub top_three: Option<Counts>,
}

impl StoredCell {
    pub fn into_parts(self) -> Result<(CellRowKey, Figures)> {
        let top_three = self.top_three.ok_or_else(|| {
            Error::internal(
                "an aggregate row has no top-three counts yet: restart a current server to count \
                 them",
            )
        })?;
        let figures = figures_from_flat(self.submissions, &self.moments.0, &top_three.0)?;
        Ok((
            (
                self.campaign_id,
                self.unit_id,
                self.channel,
                self.carrier,
                self.stratum,
            ),
            figures,
        ))
    }
}

/// The campaign's aggregate rows.
pub async fn campaign_cells(store: &Store, campaign: &CampaignId) -> Result<Vec<CellRow>> {
    // Rows are decoded once all have arrived: decoding (and dropping) a SQLite row while the
    // statement still steps makes the two threads contend for the connection's mutex, which
    // doubled the time of a score read.
    let rows: Vec<StoredCell> = read!(store, |db| {
        sqlx::query(
            "SELECT campaign_id, unit_id, channel, carrier, stratum, submissions, moments, \
             top_three FROM cell_stats WHERE campaign_id = $1",
        )
        .bind(campaign)
        .fetch_all(db)
        .await?
        .iter()
        .map(sqlx::FromRow::from_row)
        .collect::<Result<_, _>>()?
    });
    rows.into_iter()
        .map(|row| {
            let (key, figures) = row.into_parts()?;
            Ok(cell_row(key, figures).1)
        })
        .collect()
}

/// A stored row's key and figures as the campaign and the row the domain sums.
fn cell_row(
    (campaign, unit_id, channel, carrier, stratum): CellRowKey,
    figures: Figures,
) -> (CampaignId, CellRow) {
    let cell = CellKey {
        channel,
        carrier: carrier.0,
        stratum,
    };
    (
        campaign,
        CellRow {
            unit_id,
            cell,
            figures,
        },
    )
}

/// The aggregate rows a set of submissions changes, summed per row so that each touched row is
/// written once per batch.
#[derive(Debug, Default)]
pub struct Deltas {
    pub cells: HashMap<CellRowKey, Figures>,
}

impl Deltas {
    /// What newly accepted submissions add.
    pub fn of<'a>(submissions: impl IntoIterator<Item = &'a NewSubmission>) -> Self {
        let mut deltas = Self::default();
        for s in submissions {
            deltas.count(
                cell_row_key(s),
                1,
                s.answers
                    .iter()
                    .map(|a| (a.position, Moments::of_answer(a.points, a.top_three))),
            );
        }
        deltas
    }

    /// Adds (`sign` = 1) or takes away (`sign` = -1) one stored submission.
    pub fn add_stored(&mut self, row: &Contribution, sign: i64) {
        self.count(row.key.clone(), sign, row.answers.iter().copied());
    }

    /// Adds (`sign` = 1) or takes away (`sign` = -1) one submission with its (questionnaire
    /// position, moments) answers in the row `key`.
    fn count(
        &mut self,
        key: CellRowKey,
        sign: i64,
        answers: impl Iterator<Item = (usize, Moments)>,
    ) {
        let cell = self.cells.entry(key).or_default();
        cell.submissions += sign;
        for (position, m) in answers {
            cell.add_answer(position, if sign < 0 { m.negated() } else { m });
        }
    }

    /// The changes as rows of deltas, for the in-memory aggregates of the campaigns touched.
    pub fn into_rows(self) -> Vec<(CampaignId, CellRow)> {
        self.cells
            .into_iter()
            .map(|(key, figures)| cell_row(key, figures))
            .collect()
    }

    /// The touched rows in key order: writers that lock rows in one order cannot deadlock.
    pub fn sorted(&self) -> Vec<(&CellRowKey, &Figures)> {
        let mut rows: Vec<_> = self.cells.iter().collect();
        rows.sort_unstable_by(|a, b| a.0.cmp(b.0));
        rows
    }
}

/// What a stored submission adds to the aggregates, rebuilt from its row when a review moves
/// it in or out of them, or when older rows are counted again.
#[derive(Debug, Clone)]
pub struct Contribution {
    pub key: CellRowKey,
    /// (questionnaire position, what the answer adds) of each answer.
    pub answers: Vec<(usize, Moments)>,
}

impl Contribution {
    pub fn of_stored(
        campaign: &Campaign,
        questionnaire: &Questionnaire,
        unit_id: UnitId,
        channel: Channel,
        carrier: CarrierColumn,
        answers: &BTreeMap<String, String>,
        attributes: &BTreeMap<String, String>,
    ) -> Self {
        Self {
            key: (
                campaign.id.clone(),
                unit_id,
                channel,
                carrier,
                campaign.stratum(attributes),
            ),
            answers: score_stored_answers(questionnaire, answers),
        }
    }
}

/// Scores a stored answers object against the questionnaire; unknown codes (impossible for
/// rows written through validation) are skipped rather than failing a review.
fn score_stored_answers(
    questionnaire: &Questionnaire,
    answers: &BTreeMap<String, String>,
) -> Vec<(usize, Moments)> {
    answers
        .iter()
        .filter_map(|(indicator, option)| {
            let (position, i) = questionnaire.positioned(indicator)?;
            let points = i.option(option)?.value.points();
            Some((position, Moments::of_answer(points, i.is_top_three(points))))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moments(valid: i64, excluded: i64, sum: i64, sum_sq: i64) -> Moments {
        Moments::sums(valid, excluded, sum, sum_sq)
    }

    #[test]
    fn stored_forms_round_trip_and_reject_partial_indicators() {
        let figures = Figures {
            submissions: 5,
            indicators: vec![
                Moments {
                    top_three: 3,
                    ..moments(4, 1, 300, 23000)
                },
                moments(5, 0, 0, 0),
            ],
        };
        assert_eq!(flat_moments(&figures), vec![4, 1, 300, 23000, 5, 0, 0, 0]);
        assert_eq!(flat_top_three(&figures), vec![3, 0]);
        assert_eq!(
            figures_from_flat(5, &flat_moments(&figures), &flat_top_three(&figures)).unwrap(),
            figures
        );
        // Counts stored for fewer indicators than the moments (or none) are zeros beyond.
        assert_eq!(
            figures_from_flat(5, &flat_moments(&figures), &[3]).unwrap(),
            figures
        );
        assert!(figures_from_flat(1, &[1, 2, 3], &[]).is_err());
    }

    #[test]
    fn a_rejection_takes_back_exactly_what_the_acceptance_added() {
        let row = Contribution {
            key: (
                CampaignId::parse("c").unwrap(),
                UnitId::parse("u").unwrap(),
                Channel::Visit,
                CarrierColumn(None),
                Stratum::default(),
            ),
            answers: vec![
                (0, Moments::of_answer(Some(80), true)),
                (2, Moments::of_answer(None, false)),
            ],
        };
        let mut added = Deltas::default();
        added.add_stored(&row, 1);
        let mut removed = Deltas::default();
        removed.add_stored(&row, -1);
        let mut total = Figures::default();
        for deltas in [&added, &removed] {
            let (_, figures) = deltas.sorted()[0];
            total.add(figures);
        }
        assert_eq!(total.submissions, 0);
        assert!(total.indicators.iter().all(|m| *m == Moments::default()));
        let (_, figures) = added.sorted()[0];
        assert_eq!(
            figures.indicators,
            vec![
                Moments {
                    top_three: 1,
                    ..moments(1, 0, 80, 6400)
                },
                Moments::default(),
                moments(0, 1, 0, 0)
            ]
        );
    }
}
