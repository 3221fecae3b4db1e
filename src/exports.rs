//! Exports of a campaign's raw data: submissions with their answers decoded, and call
//! attempts, as a stream of batches. Each batch is one chunk read from the store by `seq` after
//! the previous one, so memory stays constant whatever the campaign's size; the stream is
//! pulled, so a slow client slows the reads instead of filling a buffer.

use std::sync::Arc;

use futures::Stream;

use crate::catalog::{Catalog, Snapshot};
use crate::domain::export::{
    DecodedAnswer, ExportFilter, StoredAttempt, StoredSubmission, ancestors, decode_answers,
};
use crate::domain::ids::{CampaignId, UnitId};
use crate::domain::questionnaire::Questionnaire;
use crate::domain::review::ReviewState;
use crate::domain::time::Timestamp;
use crate::domain::unit::{Unit, UnitKind};
use crate::error::Result;
use crate::store::{ExportCursor, Store};

/// Rows per batch when the request names none, and the most a request may ask for.
pub const DEFAULT_BATCH: usize = 1_000;
pub const MAX_BATCH: usize = 5_000;

/// What an export asks for.
#[derive(Debug, Clone)]
pub struct ExportRequest {
    pub campaign_id: CampaignId,
    /// A subtree; `None` for the campaign's whole scope.
    pub unit: Option<UnitId>,
    /// Submissions only; `None` for every state.
    pub states: Option<Vec<ReviewState>>,
    pub from: Option<Timestamp>,
    pub until: Option<Timestamp>,
    pub batch: usize,
}

/// A unit as an export names it.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitLabel {
    pub id: UnitId,
    pub name: String,
    pub kind: UnitKind,
}

impl From<&Unit> for UnitLabel {
    fn from(unit: &Unit) -> Self {
        Self {
            id: unit.id.clone(),
            name: unit.name.clone(),
            kind: unit.kind,
        }
    }
}

/// Where a row's unit sits: the unit and its ancestors, root first.
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    pub unit: UnitLabel,
    pub ancestors: Vec<UnitLabel>,
}

fn placement(snapshot: &Snapshot, unit: &UnitId) -> Placement {
    Placement {
        unit: snapshot.units.get(unit).map_or_else(
            || UnitLabel {
                id: unit.clone(),
                name: String::new(),
                kind: UnitKind::Village,
            },
            UnitLabel::from,
        ),
        ancestors: ancestors(&snapshot.units, unit)
            .into_iter()
            .map(UnitLabel::from)
            .collect(),
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExportedSubmission {
    pub row: StoredSubmission,
    pub placement: Placement,
    pub answers: Vec<DecodedAnswer>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExportedAttempt {
    pub row: StoredAttempt,
    pub placement: Placement,
}

#[derive(Clone)]
pub struct Exports {
    catalog: Arc<Catalog>,
    store: Store,
}

/// The state of one export between batches.
struct Reader {
    store: Store,
    snapshot: Arc<Snapshot>,
    questionnaire: Arc<Questionnaire>,
    filter: ExportFilter,
    cursor: ExportCursor,
    batch: usize,
}

impl Exports {
    pub fn new(catalog: Arc<Catalog>, store: Store) -> Self {
        Self { catalog, store }
    }

    /// Resolves the request against the catalog and fixes where the export stops.
    async fn reader(&self, request: ExportRequest, submissions: bool) -> Result<Reader> {
        let snapshot = self
            .catalog
            .snapshot_with(|s| {
                s.campaigns.contains_key(&request.campaign_id)
                    && request
                        .unit
                        .as_ref()
                        .is_none_or(|u| s.units.get(u).is_some())
            })
            .await?;
        let (campaign, questionnaire) =
            snapshot.campaign_with_questionnaire(&request.campaign_id)?;
        let units = match &request.unit {
            Some(unit) if *unit != campaign.scope_unit_id => {
                snapshot.unit(unit)?;
                campaign.require_in_scope(&snapshot.units, unit)?;
                Some(
                    snapshot
                        .units
                        .subtree(unit)
                        .into_iter()
                        .map(|u| u.id.clone())
                        .collect(),
                )
            }
            _ => None,
        };
        let filter = ExportFilter {
            campaign_id: request.campaign_id,
            units,
            states: request.states,
            from: request.from,
            until: request.until,
        };
        let last = if submissions {
            self.store.last_submission_seq(&filter).await?
        } else {
            self.store.last_attempt_seq(&filter).await?
        };
        Ok(Reader {
            store: self.store.clone(),
            snapshot,
            questionnaire,
            filter,
            cursor: ExportCursor { after: 0, last },
            batch: request.batch.clamp(1, MAX_BATCH),
        })
    }

    /// The campaign's submissions in batches, as stored when the export started.
    ///
    /// # Errors
    /// NOT_FOUND for an unknown campaign or unit; FAILED_PRECONDITION for a unit outside the
    /// campaign's scope. Errors of later reads end the stream.
    pub async fn submissions(
        &self,
        request: ExportRequest,
    ) -> Result<impl Stream<Item = Result<Vec<ExportedSubmission>>> + Send + 'static> {
        let reader = self.reader(request, true).await?;
        Ok(futures::stream::try_unfold(reader, |mut r| async move {
            let rows = r
                .store
                .export_submissions(&r.filter, r.cursor, r.batch)
                .await?;
            let Some(last) = rows.last() else {
                return Ok(None);
            };
            r.cursor.after = last.seq;
            let batch = rows
                .into_iter()
                .map(|row| ExportedSubmission {
                    placement: placement(&r.snapshot, &row.unit_id),
                    answers: decode_answers(&r.questionnaire, &row.answers),
                    row,
                })
                .collect();
            Ok(Some((batch, r)))
        }))
    }

    /// The campaign's call attempts in batches, as stored when the export started.
    ///
    /// # Errors
    /// As [`Exports::submissions`].
    pub async fn attempts(
        &self,
        request: ExportRequest,
    ) -> Result<impl Stream<Item = Result<Vec<ExportedAttempt>>> + Send + 'static> {
        let reader = self.reader(request, false).await?;
        Ok(futures::stream::try_unfold(reader, |mut r| async move {
            let rows = r
                .store
                .export_attempts(&r.filter, r.cursor, r.batch)
                .await?;
            let Some(last) = rows.last() else {
                return Ok(None);
            };
            r.cursor.after = last.seq;
            let batch = rows
                .into_iter()
                .map(|row| ExportedAttempt {
                    placement: placement(&r.snapshot, &row.unit_id),
                    row,
                })
                .collect();
            Ok(Some((batch, r)))
        }))
    }
}
