//! Persistence. One `Store` with a backend per database; SQL lives in the backend modules and
//! nowhere else.

mod codec;
mod postgres;
mod sqlite;

use std::time::Duration;

use uuid::Uuid;

use crate::domain::campaign::Campaign;
use crate::domain::ids::CampaignId;
use crate::domain::questionnaire::Questionnaire;
use crate::domain::scoring::CampaignStats;
use crate::domain::submission::NewSubmission;
use crate::domain::time::Timestamp;
use crate::domain::unit::Unit;
use crate::error::{Error, Result};

pub use codec::StoredSubmission;
pub use postgres::PgStore;
pub use sqlite::SqliteStore;

/// Connection settings shared by the backends.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub url: String,
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

/// What the database holds for a submission id after a commit attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitOutcome {
    /// Newly written in this transaction.
    Inserted { accepted_at: Timestamp },
    /// Already present, written earlier with this content hash.
    Existing {
        content_hash: [u8; 32],
        accepted_at: Timestamp,
    },
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

    /// The campaign's stored aggregates: rows per unit, never per submission.
    pub async fn campaign_stats(&self, campaign: &CampaignId) -> Result<CampaignStats> {
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
