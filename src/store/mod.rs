//! Persistence: the table of contents. Each folder keeps one kind of data; its `mod.rs` holds
//! what both dialects agree on (rows, keys, encodings and every statement whose text is the
//! same in both), its `sqlite.rs` and `postgres.rs` only what differs. `sqlite.rs` and
//! `postgres.rs` here connect, `open.rs` picks the backend a URL names and migrates it, and
//! `macros.rs` holds the `read!` and `transaction!` every statement runs in. SQL lives in this
//! folder and nowhere else.

#[macro_use]
mod macros;

mod aggregates;
pub mod audit;
mod calls;
mod catalog;
mod changes;
mod exports;
mod grievances;
mod migrate;
mod open;
mod postgres;
mod review;
mod revocations;
mod scratch;
mod sqlite;
mod submissions;
mod values;

use uuid::Uuid;

use crate::domain::aapor::{AttemptOutcome, Disposition, NewCallAttempt};
use crate::domain::audit::{AuditEntry, AuditFilter, AuditRecord};
use crate::domain::campaign::Campaign;
use crate::domain::cells::CellRow;
use crate::domain::channel::Carrier;
use crate::domain::export::{ExportFilter, StoredAttempt, StoredSubmission};
use crate::domain::flags::Flag;
use crate::domain::grievance::{Grievance, GrievanceStatus};
use crate::domain::ids::{CampaignId, UnitId};
use crate::domain::lifecycle::CampaignActivity;
use crate::domain::questionnaire::Questionnaire;
use crate::domain::review::{ReviewAction, ReviewState, SubmissionSummary};
use crate::domain::revocation::{NewRevocation, Revocation};
use crate::domain::submission::NewSubmission;
use crate::domain::time::Timestamp;
use crate::domain::unit::{Unit, UnitMove};
use crate::error::{Error, Result};

pub use changes::{ChangeListener, LISTENER_APPLICATION_NAME};
pub use exports::Cursor as ExportCursor;
pub use open::{PoolStats, StoreOptions, redact_url};
pub use review::ReviewChange;
pub use scratch::ScratchDatabase;
pub use submissions::{Admission, Admit, CommitOutcome, HouseholdKey};

use postgres::PgStore;
use sqlite::SqliteStore;

/// Which rows a list call wants, and where the previous page ended (a row sequence number).
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub campaign_id: CampaignId,
    /// Only these units; `None` for the whole campaign.
    pub units: Option<Vec<UnitId>>,
    pub after: i64,
    pub limit: usize,
}

#[derive(Debug, Clone)]
pub enum Store {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

impl Store {
    /// Inserts the unit and its audit entry in one transaction.
    pub async fn insert_unit(&self, unit: &Unit, entry: &AuditEntry) -> Result<()> {
        catalog::insert_unit(self, unit, entry).await
    }

    /// Writes the unit's changed row, its move (if any) and the audit entry in one transaction.
    pub async fn update_unit(
        &self,
        unit: &Unit,
        moved: Option<&UnitMove>,
        entry: &AuditEntry,
    ) -> Result<()> {
        catalog::update_unit(self, unit, moved, entry).await
    }

    /// Inserts `units` (parents before children) in one transaction: all or none.
    pub async fn insert_units(&self, units: &[Unit], entry: &AuditEntry) -> Result<()> {
        catalog::insert_units(self, units, entry).await
    }

    pub async fn load_units(&self) -> Result<Vec<Unit>> {
        catalog::load_units(self).await
    }

    /// Every change of a unit's parent, in the order made.
    pub async fn load_unit_moves(&self) -> Result<Vec<UnitMove>> {
        catalog::load_moves(self).await
    }

    pub async fn insert_questionnaire(
        &self,
        questionnaire: &Questionnaire,
        entry: &AuditEntry,
    ) -> Result<()> {
        catalog::insert_questionnaire(self, questionnaire, entry).await
    }

    pub async fn load_questionnaires(&self) -> Result<Vec<Questionnaire>> {
        catalog::load_questionnaires(self).await
    }

    pub async fn insert_campaign(&self, campaign: &Campaign, entry: &AuditEntry) -> Result<()> {
        catalog::insert_campaign(self, campaign, entry).await
    }

    /// Lets `decide` make the updated campaign (and its audit entry) from what the campaign
    /// holds, read under the write lock, and writes both in that transaction.
    ///
    /// # Errors
    /// NOT_FOUND for an unknown campaign; whatever `decide` refuses with.
    pub async fn update_campaign(
        &self,
        id: &CampaignId,
        decide: impl FnOnce(&CampaignActivity) -> Result<(Campaign, Option<AuditEntry>)> + Send,
    ) -> Result<Campaign> {
        catalog::update_campaign(self, id, decide).await
    }

    /// Audit entries matching `filter`, newest first.
    pub async fn list_audit_entries(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>> {
        audit::list(self, filter).await
    }

    pub async fn load_campaigns(&self) -> Result<Vec<Campaign>> {
        catalog::load_campaigns(self).await
    }

    /// Writes every submission of `batch` whose id is new, with its aggregate deltas, in one
    /// transaction, and reports per item what the database holds for its id. `admit` decides
    /// each item's review state and flags once the database has said which households are
    /// visited already. Items must have distinct (campaign, id) pairs.
    pub async fn commit_submissions(
        &self,
        batch: &[&NewSubmission],
        accepted_at: Timestamp,
        admit: Admit<'_>,
    ) -> Result<Vec<CommitOutcome>> {
        Ok(self
            .commit_submissions_counted(batch, accepted_at, admit)
            .await?
            .0)
    }

    /// [`Self::commit_submissions`], also returning the aggregate deltas the transaction
    /// applied (per campaign, one row per touched cell), for the in-memory aggregates.
    pub async fn commit_submissions_counted(
        &self,
        batch: &[&NewSubmission],
        accepted_at: Timestamp,
        admit: Admit<'_>,
    ) -> Result<(Vec<CommitOutcome>, Vec<(CampaignId, CellRow)>)> {
        let (outcomes, deltas) = match self {
            Self::Sqlite(db) => submissions::sqlite::commit(db, batch, accepted_at, admit).await,
            Self::Postgres(db) => {
                submissions::postgres::commit(db, batch, accepted_at, admit).await
            }
        }?;
        Ok((outcomes, deltas.into_rows()))
    }

    /// The campaign's stored aggregates: rows per unit and cell, never per submission.
    pub async fn campaign_stats(&self, campaign: &CampaignId) -> Result<Vec<CellRow>> {
        aggregates::campaign_cells(self, campaign).await
    }

    /// Records a call attempt and updates its case, idempotently by attempt id.
    pub async fn commit_call_attempt(
        &self,
        attempt: &NewCallAttempt,
        accepted_at: Timestamp,
    ) -> Result<AttemptOutcome> {
        calls::commit_attempt(self, attempt, accepted_at).await
    }

    /// Cases per (unit, carrier, final disposition): rows per unit, never per case.
    pub async fn disposition_counts(
        &self,
        campaign: &CampaignId,
    ) -> Result<Vec<(UnitId, Option<Carrier>, Disposition, i64)>> {
        calls::disposition_counts(self, campaign).await
    }

    /// Submissions in `state` (optionally with `flag`), oldest first, with their sequence.
    pub async fn list_submissions(
        &self,
        query: &ListQuery,
        state: ReviewState,
        flag: Option<Flag>,
    ) -> Result<Vec<(i64, SubmissionSummary)>> {
        review::list_submissions(self, query, state, flag).await
    }

    /// Loads the submission under a write lock, lets `decide` judge it, then writes the
    /// decision, its aggregate change and its audit entry in the same transaction.
    ///
    /// # Errors
    /// NOT_FOUND for an unknown submission; whatever `decide` refuses with.
    pub async fn review_submission(
        &self,
        campaign: &Campaign,
        questionnaire: &Questionnaire,
        submission_id: Uuid,
        decide: impl FnOnce(&SubmissionSummary) -> Result<ReviewChange> + Send,
    ) -> Result<SubmissionSummary> {
        Ok(self
            .review_submission_counted(campaign, questionnaire, submission_id, decide)
            .await?
            .0)
    }

    /// [`Self::review_submission`], also returning the aggregate deltas it applied (none when
    /// the submission neither entered nor left the figures).
    pub async fn review_submission_counted(
        &self,
        campaign: &Campaign,
        questionnaire: &Questionnaire,
        submission_id: Uuid,
        decide: impl FnOnce(&SubmissionSummary) -> Result<ReviewChange> + Send,
    ) -> Result<(SubmissionSummary, Vec<(CampaignId, CellRow)>)> {
        let (summary, deltas) =
            review::review_submission(self, campaign, questionnaire, submission_id, decide).await?;
        Ok((summary, deltas.into_rows()))
    }

    pub async fn list_review_actions(
        &self,
        query: &ListQuery,
        submission: Option<Uuid>,
    ) -> Result<Vec<(i64, ReviewAction)>> {
        review::list_actions(self, query, submission).await
    }

    pub async fn list_grievances(
        &self,
        query: &ListQuery,
        status: Option<GrievanceStatus>,
    ) -> Result<Vec<(i64, Grievance)>> {
        grievances::list(self, query, status).await
    }

    /// Loads the grievance under a write lock and stores what `update` makes of it.
    ///
    /// # Errors
    /// NOT_FOUND for an unknown grievance; whatever `update` refuses with.
    pub async fn update_grievance(
        &self,
        campaign: &CampaignId,
        grievance_id: &str,
        update: impl FnOnce(Grievance) -> Result<(Grievance, AuditEntry)> + Send,
    ) -> Result<Grievance> {
        grievances::update(self, campaign, grievance_id, update).await
    }

    /// Status, raise and resolve times of the grievances of `units`.
    pub async fn grievance_facts(
        &self,
        campaign: &CampaignId,
        units: &[UnitId],
    ) -> Result<Vec<(GrievanceStatus, Timestamp, Option<Timestamp>)>> {
        grievances::facts(self, campaign, units).await
    }

    /// The last submission `seq` stored now, where an export of `filter` stops.
    pub async fn last_submission_seq(&self, filter: &ExportFilter) -> Result<i64> {
        exports::last_submission(self, filter).await
    }

    /// The next chunk of at most `limit` submissions of an export, in stored order.
    pub async fn export_submissions(
        &self,
        filter: &ExportFilter,
        cursor: ExportCursor,
        limit: usize,
    ) -> Result<Vec<StoredSubmission>> {
        exports::submissions(self, filter, cursor, limit).await
    }

    /// The last call attempt `seq` stored now.
    pub async fn last_attempt_seq(&self, filter: &ExportFilter) -> Result<i64> {
        exports::last_attempt(self, filter).await
    }

    /// The next chunk of at most `limit` call attempts of an export, in stored order.
    pub async fn export_attempts(
        &self,
        filter: &ExportFilter,
        cursor: ExportCursor,
        limit: usize,
    ) -> Result<Vec<StoredAttempt>> {
        exports::attempts(self, filter, cursor, limit).await
    }

    /// Records a revocation (who, when, why) in one transaction.
    pub async fn insert_revocation(
        &self,
        revocation: &NewRevocation,
        entry: &AuditEntry,
    ) -> Result<Revocation> {
        revocations::insert(self, revocation, entry).await
    }

    /// Every revocation, oldest first.
    pub async fn load_revocations(&self) -> Result<Vec<Revocation>> {
        revocations::load(self).await
    }

    /// Announces `payloads` to every process listening; nothing to do on an unshared store.
    pub async fn announce_changes(&self, payloads: &[String]) -> Result<()> {
        changes::announce(self, payloads).await
    }

    /// A listener for other processes' announcements; `None` on an unshared store.
    pub async fn change_listener(&self) -> Result<Option<ChangeListener>> {
        changes::listener(self).await
    }
}

/// Maps a unique-constraint violation on insert to `AlreadyExists`, anything else as usual.
fn insert_error(error: sqlx::Error, kind: &'static str, id: &str) -> Error {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => Error::AlreadyExists {
            reason: "ID_TAKEN",
            message: format!("{kind} {id:?} already exists"),
        },
        _ => Error::from_database(&error),
    }
}
