//! Exports of a campaign's raw data: submissions with their answers decoded, and call
//! attempts, as a stream of batches. Each batch is one chunk read from the store by `seq` after
//! the previous one, so memory stays constant whatever the campaign's size; the stream is
//! pulled, so a slow client slows the reads instead of filling a buffer.

use std::future::Future;
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

/// A kind of stored row an export reads in `seq` order, and what it becomes in the export.
trait Exportable: Sized + Send + 'static {
    type Exported: Send + 'static;
    /// The last `seq` stored now, where the export stops.
    fn last_seq(store: &Store, filter: &ExportFilter) -> impl Future<Output = Result<i64>> + Send;
    /// The next chunk of the export: at most a batch of rows after its cursor.
    fn chunk(reader: &Reader) -> impl Future<Output = Result<Vec<Self>>> + Send;
    fn seq(&self) -> i64;
    fn export(self, reader: &Reader) -> Self::Exported;
}

impl Exportable for StoredSubmission {
    type Exported = ExportedSubmission;
    fn last_seq(store: &Store, filter: &ExportFilter) -> impl Future<Output = Result<i64>> + Send {
        store.last_submission_seq(filter)
    }
    fn chunk(r: &Reader) -> impl Future<Output = Result<Vec<Self>>> + Send {
        r.store.export_submissions(&r.filter, r.cursor, r.batch)
    }
    fn seq(&self) -> i64 {
        self.seq
    }
    fn export(self, reader: &Reader) -> ExportedSubmission {
        ExportedSubmission {
            placement: placement(&reader.snapshot, &self.unit_id),
            answers: decode_answers(&reader.questionnaire, &self.answers),
            row: self,
        }
    }
}

impl Exportable for StoredAttempt {
    type Exported = ExportedAttempt;
    fn last_seq(store: &Store, filter: &ExportFilter) -> impl Future<Output = Result<i64>> + Send {
        store.last_attempt_seq(filter)
    }
    fn chunk(r: &Reader) -> impl Future<Output = Result<Vec<Self>>> + Send {
        r.store.export_attempts(&r.filter, r.cursor, r.batch)
    }
    fn seq(&self) -> i64 {
        self.seq
    }
    fn export(self, reader: &Reader) -> ExportedAttempt {
        ExportedAttempt {
            placement: placement(&reader.snapshot, &self.unit_id),
            row: self,
        }
    }
}

impl Exports {
    pub fn new(catalog: Arc<Catalog>, store: Store) -> Self {
        Self { catalog, store }
    }

    /// Resolves the request against the catalog and fixes where the export of `R` stops.
    async fn reader<R: Exportable>(&self, request: ExportRequest) -> Result<Reader> {
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
        let last = R::last_seq(&self.store, &filter).await?;
        Ok(Reader {
            store: self.store.clone(),
            snapshot,
            questionnaire,
            filter,
            cursor: ExportCursor { after: 0, last },
            batch: request.batch.clamp(1, MAX_BATCH),
        })
    }

    /// The rows of `R` in batches, each chunk read after the previous one's last `seq`.
    async fn batches<R: Exportable>(
        &self,
        request: ExportRequest,
    ) -> Result<impl Stream<Item = Result<Vec<R::Exported>>> + Send + 'static> {
        let reader = self.reader::<R>(request).await?;
        Ok(futures::stream::try_unfold(reader, |mut r| async move {
            let rows = R::chunk(&r).await?;
            let Some(last) = rows.last() else {
                return Ok(None);
            };
            r.cursor.after = last.seq();
            let batch = rows.into_iter().map(|row| row.export(&r)).collect();
            Ok(Some((batch, r)))
        }))
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
        self.batches::<StoredSubmission>(request).await
    }

    /// The campaign's call attempts in batches, as stored when the export started.
    ///
    /// # Errors
    /// As [`Exports::submissions`].
    pub async fn attempts(
        &self,
        request: ExportRequest,
    ) -> Result<impl Stream<Item = Result<Vec<ExportedAttempt>>> + Send + 'static> {
        self.batches::<StoredAttempt>(request).await
    }
}
