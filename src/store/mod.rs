//! Persistence. One `Store` with a backend per database; SQL lives in the backend modules and
//! nowhere else.

mod codec;
mod postgres;
mod sqlite;

use std::time::Duration;

use uuid::Uuid;

use crate::domain::aapor::{AttemptOutcome, Disposition, NewCallAttempt};
use crate::domain::campaign::Campaign;
use crate::domain::cells::CellRow;
use crate::domain::channel::Carrier;
use crate::domain::flags::Flag;
use crate::domain::grievance::{Grievance, GrievanceStatus};
use crate::domain::ids::{CampaignId, UnitId};
use crate::domain::questionnaire::Questionnaire;
use crate::domain::review::{Decision, ReviewAction, ReviewState, SubmissionSummary};
use crate::domain::submission::NewSubmission;
use crate::domain::time::Timestamp;
use crate::domain::unit::Unit;
use crate::error::{Error, Result};

pub use codec::StoredSubmission;
pub use postgres::{LISTENER_APPLICATION_NAME, PgStore};
pub use sqlite::SqliteStore;

/// Connection settings shared by the backends.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub url: String,
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

/// What the database holds for a submission id after a commit attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitOutcome {
    /// Newly written in this transaction, in this review state.
    Inserted {
        accepted_at: Timestamp,
        state: ReviewState,
        flags: Vec<Flag>,
    },
    /// Already present, written earlier with this content hash.
    Existing {
        content_hash: [u8; 32],
        accepted_at: Timestamp,
        state: ReviewState,
        flags: Vec<Flag>,
    },
    /// Not written: the campaign already holds an interview of this phone respondent under
    /// another submission id.
    RespondentTaken,
}

/// Which rows a list call wants, and where the previous page ended (a row sequence number).
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub campaign_id: CampaignId,
    /// Only these units; `None` for the whole campaign.
    pub units: Option<Vec<UnitId>>,
    pub after: i64,
    pub limit: usize,
}

/// A review decision to apply.
#[derive(Debug, Clone)]
pub struct ReviewRequest<'a> {
    pub campaign: &'a Campaign,
    pub questionnaire: &'a Questionnaire,
    pub submission_id: Uuid,
    pub decision: Decision,
    pub reviewer: &'a str,
    pub reason: &'a str,
    pub at: Timestamp,
    /// Units the reviewer may act on; `None` for all (admins).
    pub allowed_units: Option<&'a [UnitId]>,
}

#[derive(Debug, Clone)]
pub enum Store {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

/// Calls the same method on whichever backend the store holds.
macro_rules! dispatch {
    ($store:expr, $method:ident($($arg:expr),*)) => {
        match $store {
            Self::Sqlite(s) => s.$method($($arg),*).await,
            Self::Postgres(s) => s.$method($($arg),*).await,
        }
    };
}

impl Store {
    /// How many submission batches may usefully commit at once: SQLite has one writer
    /// connection; PostgreSQL all but one of the pool's connections, which stays for reads.
    pub fn max_concurrent_commits(&self) -> usize {
        match self {
            Self::Sqlite(_) => 1,
            Self::Postgres(pg) => pg.pool_size().saturating_sub(1).max(1),
        }
    }

    /// Opens the database `options.url` names (SQLite for `sqlite:`, PostgreSQL for
    /// `postgres://` or `postgresql://`) and applies pending migrations.
    pub async fn open(options: &StoreOptions) -> Result<Self> {
        let url = options.url.as_str();
        let store = if url.starts_with("sqlite:") {
            Self::Sqlite(SqliteStore::connect(options).await?)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Self::Postgres(PgStore::connect(options).await?)
        } else {
            return Err(Error::internal(format!(
                "unsupported DATABASE_URL scheme in {:?}",
                redact_url(&options.url)
            )));
        };
        store.migrate().await?;
        Ok(store)
    }

    pub async fn migrate(&self) -> Result<()> {
        dispatch!(self, migrate())
    }

    pub async fn insert_unit(&self, unit: &Unit) -> Result<()> {
        dispatch!(self, insert_unit(unit))
    }

    pub async fn load_units(&self) -> Result<Vec<Unit>> {
        dispatch!(self, load_units())
    }

    pub async fn insert_questionnaire(&self, questionnaire: &Questionnaire) -> Result<()> {
        dispatch!(self, insert_questionnaire(questionnaire))
    }

    pub async fn load_questionnaires(&self) -> Result<Vec<Questionnaire>> {
        dispatch!(self, load_questionnaires())
    }

    pub async fn insert_campaign(&self, campaign: &Campaign) -> Result<()> {
        dispatch!(self, insert_campaign(campaign))
    }

    pub async fn load_campaigns(&self) -> Result<Vec<Campaign>> {
        dispatch!(self, load_campaigns())
    }

    /// Writes every submission of `batch` whose id is new, with its aggregate deltas, in one
    /// transaction, and reports per item what the database now holds for its id. Items must
    /// have distinct (campaign, id) pairs.
    pub async fn commit_submissions(
        &self,
        batch: &[&NewSubmission],
        accepted_at: Timestamp,
    ) -> Result<Vec<CommitOutcome>> {
        dispatch!(self, commit_submissions(batch, accepted_at))
    }

    /// The campaign's stored aggregates: rows per unit and cell, never per submission.
    pub async fn campaign_stats(&self, campaign: &CampaignId) -> Result<Vec<CellRow>> {
        dispatch!(self, campaign_stats(campaign))
    }

    /// The raw stored submissions of a campaign, for audits and recomputation.
    pub async fn campaign_submissions(
        &self,
        campaign: &CampaignId,
    ) -> Result<Vec<StoredSubmission>> {
        dispatch!(self, campaign_submissions(campaign))
    }

    pub async fn submission_exists(&self, campaign: &CampaignId, id: Uuid) -> Result<bool> {
        dispatch!(self, submission_exists(campaign, id))
    }

    /// Records a call attempt and updates its case, idempotently by attempt id.
    pub async fn commit_call_attempt(
        &self,
        attempt: &NewCallAttempt,
        accepted_at: Timestamp,
    ) -> Result<AttemptOutcome> {
        dispatch!(self, commit_call_attempt(attempt, accepted_at))
    }

    /// Cases per (unit, carrier, final disposition): rows per unit, never per case.
    pub async fn disposition_counts(
        &self,
        campaign: &CampaignId,
    ) -> Result<Vec<(UnitId, Option<Carrier>, Disposition, i64)>> {
        dispatch!(self, disposition_counts(campaign))
    }

    /// Submissions in `state` (optionally with `flag`), oldest first, with their sequence.
    pub async fn list_submissions(
        &self,
        query: &ListQuery,
        state: ReviewState,
        flag: Option<Flag>,
    ) -> Result<Vec<(i64, SubmissionSummary)>> {
        dispatch!(self, list_submissions(query, state, flag))
    }

    /// Applies a review decision, its aggregate change and its audit entry in one transaction.
    ///
    /// # Errors
    /// NOT_FOUND for an unknown submission; FAILED_PRECONDITION when the decision does not
    /// apply to the submission's state.
    pub async fn review_submission(&self, review: &ReviewRequest<'_>) -> Result<SubmissionSummary> {
        dispatch!(self, review_submission(review))
    }

    pub async fn list_review_actions(
        &self,
        query: &ListQuery,
        submission: Option<Uuid>,
    ) -> Result<Vec<(i64, ReviewAction)>> {
        dispatch!(self, list_review_actions(query, submission))
    }

    pub async fn list_grievances(
        &self,
        query: &ListQuery,
        status: Option<GrievanceStatus>,
    ) -> Result<Vec<(i64, Grievance)>> {
        dispatch!(self, list_grievances(query, status))
    }

    /// # Errors
    /// NOT_FOUND for an unknown grievance; PERMISSION_DENIED when it belongs to a unit outside
    /// `allowed_units`.
    pub async fn update_grievance(
        &self,
        campaign: &CampaignId,
        grievance_id: &str,
        status: GrievanceStatus,
        at: Timestamp,
        allowed_units: Option<&[UnitId]>,
    ) -> Result<Grievance> {
        dispatch!(
            self,
            update_grievance(campaign, grievance_id, status, at, allowed_units)
        )
    }

    /// Status, raise and resolve times of the grievances of `units`.
    pub async fn grievance_facts(
        &self,
        campaign: &CampaignId,
        units: &[UnitId],
    ) -> Result<Vec<(GrievanceStatus, Timestamp, Option<Timestamp>)>> {
        dispatch!(self, grievance_facts(campaign, units))
    }
}

impl ReviewRequest<'_> {
    /// The state the decision moves `before` to, once the reviewer's units cover it.
    fn transition(&self, before: &SubmissionSummary) -> Result<ReviewState> {
        if self
            .allowed_units
            .is_some_and(|units| !units.contains(&before.unit_id))
        {
            return Err(Error::PermissionDenied(format!(
                "the reviewer's token does not cover unit {}",
                before.unit_id
            )));
        }
        before.state.after(self.decision).map_err(|why| {
            Error::precondition(
                "REVIEW_NOT_APPLICABLE",
                format!("submissions/{}", self.submission_id),
                why,
            )
        })
    }

    /// The aggregate change of moving `before` to `to`, rebuilt from the stored row's carrier,
    /// answers and attributes; `None` when the submission neither enters nor leaves the figures.
    fn deltas(
        &self,
        before: &SubmissionSummary,
        to: ReviewState,
        carrier: i16,
        answers: &str,
        attributes: &str,
    ) -> Result<Option<codec::Deltas>> {
        if before.state.counts() == to.counts() {
            return Ok(None);
        }
        let counted = codec::CountedRow::of_stored(
            self.campaign,
            self.questionnaire,
            before.unit_id.clone(),
            before.channel,
            carrier,
            answers,
            attributes,
        )?;
        let sign = if to.counts() { 1 } else { -1 };
        Ok(Some(codec::Deltas::of_stored(&[counted], sign)))
    }
}

/// The URL without its password, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..])
        }
        _ => url.to_owned(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords_in_urls() {
        assert_eq!(
            redact_url("postgres://canvass:s3cret@db:5432/canvass"),
            "postgres://canvass:***@db:5432/canvass"
        );
        assert_eq!(
            redact_url("sqlite://data/canvass.db"),
            "sqlite://data/canvass.db"
        );
    }
}
