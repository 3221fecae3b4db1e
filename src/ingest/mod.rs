//! The submission pipeline: checks at the door, then one writer task per store that commits
//! whatever has queued up in a single transaction ("group commit") and only then answers each
//! waiting caller.

mod admission;
mod idempotency;
mod writer;

use std::sync::Arc;

use crate::auth::Principal;
use crate::catalog::Catalog;
use crate::domain::intake::{SubmissionDraft, resolve};
use crate::domain::submission::Acknowledgement;
use crate::domain::time::Timestamp;
use crate::error::Result;

pub use admission::admit;
pub use writer::{WriterConfig, WriterHandle, WriterTask};

/// Accepts submissions: authorisation, catalog checks, then the group-commit writer.
#[derive(Clone)]
pub struct Ingest {
    catalog: Arc<Catalog>,
    writer: WriterHandle,
}

impl Ingest {
    pub fn new(catalog: Arc<Catalog>, writer: WriterHandle) -> Self {
        Self { catalog, writer }
    }

    /// Commits one submission, or recognises a retry of one already committed.
    ///
    /// # Errors
    /// PERMISSION_DENIED when the caller's token does not cover the unit; NOT_FOUND for an
    /// unknown campaign or unit; INVALID_ARGUMENT for answers that do not fit the questionnaire
    /// or a future end time; FAILED_PRECONDITION outside the campaign's window or scope;
    /// ALREADY_EXISTS when the id was used for different content; UNAVAILABLE when the
    /// database cannot be reached.
    pub async fn submit(
        &self,
        caller: &Principal,
        draft: SubmissionDraft,
    ) -> Result<Acknowledgement> {
        let catalog = self
            .catalog
            .snapshot_with(|s| {
                s.units.get(&draft.unit_id).is_some()
                    && s.campaigns.contains_key(&draft.campaign_id)
            })
            .await?;
        caller.require_unit(&catalog.units, &draft.unit_id)?;
        let (campaign, questionnaire) = catalog.campaign_with_questionnaire(&draft.campaign_id)?;
        campaign.require_surveys(catalog.unit(&draft.unit_id)?)?;
        let submission = resolve(
            draft,
            &campaign,
            &questionnaire,
            &catalog.units_of(&campaign),
            Timestamp::now(),
            &caller.subject,
        )?;
        self.writer.commit(submission).await
    }
}
