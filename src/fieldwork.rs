//! Call-center and field-office workflows: call attempts and AAPOR rates, review of flagged
//! submissions with its audit trail, and grievance follow-up.

use std::sync::Arc;

use serde_json::json;
use uuid::Uuid;

use crate::aggregate_cache::AggregateCache;
use crate::auth::{Principal, Role};
use crate::catalog::{Catalog, Snapshot};
use crate::domain::aapor::{
    AttemptOutcome, Disposition, GroupCounts, NewCallAttempt, Rates, rates,
};
use crate::domain::audit::AuditEntry;
use crate::domain::channel::Carrier;
use crate::domain::flags::Flag;
use crate::domain::grievance::{Grievance, GrievanceStatus, GrievanceSummary, summarise};
use crate::domain::ids::{CampaignId, UnitId};
use crate::domain::review::{Decision, ReviewAction, ReviewState, SubmissionSummary};
use crate::domain::time::Timestamp;
use crate::error::{Error, Result};
use crate::store::{ListQuery, ReviewChange, Store};

/// The recorded attempt and its case's disposition.
pub struct AttemptReceipt {
    pub id: Uuid,
    pub accepted_at: Timestamp,
    pub case: Disposition,
}

/// Rates of a unit, overall and per carrier.
pub struct UnitRates {
    pub overall: (GroupCounts, Rates),
    pub by_carrier: Vec<(Carrier, GroupCounts, Rates)>,
}

/// Which part of a campaign a list covers, and where its page starts.
pub struct Listing<'a> {
    pub campaign_id: &'a CampaignId,
    /// This unit and its descendants; `None` for the campaign's whole scope.
    pub unit: Option<&'a UnitId>,
    /// The sequence number the previous page ended at (0 for the first page).
    pub after: i64,
    pub limit: usize,
}

/// A page of rows from a keyset-paginated list: the rows and the last row's sequence.
pub struct Page<T> {
    pub rows: Vec<T>,
    pub last: Option<i64>,
}

#[derive(Clone)]
pub struct Fieldwork {
    catalog: Arc<Catalog>,
    store: Store,
    /// Reviews change aggregates too: their deltas go here before the reviewer hears back.
    figures: AggregateCache,
    /// Live score streams listen here.
    changes: tokio::sync::broadcast::Sender<CampaignId>,
}

impl Fieldwork {
    pub fn new(
        catalog: Arc<Catalog>,
        store: Store,
        figures: AggregateCache,
        changes: tokio::sync::broadcast::Sender<CampaignId>,
    ) -> Self {
        Self {
            catalog,
            store,
            figures,
            changes,
        }
    }

    async fn snapshot(
        &self,
        campaign: &CampaignId,
        unit: Option<&UnitId>,
    ) -> Result<Arc<Snapshot>> {
        let catalog = self
            .catalog
            .snapshot_with(|s| {
                s.campaigns.contains_key(campaign) && unit.is_none_or(|u| s.units.get(u).is_some())
            })
            .await?;
        Ok(catalog)
    }

    /// # Errors
    /// PERMISSION_DENIED outside the caller's units; NOT_FOUND for an unknown campaign or unit;
    /// FAILED_PRECONDITION outside the campaign's window or scope; ALREADY_EXISTS for a reused
    /// attempt id with other content.
    pub async fn log_attempt(
        &self,
        caller: &Principal,
        attempt: NewCallAttempt,
    ) -> Result<AttemptReceipt> {
        let catalog = self
            .snapshot(&attempt.campaign_id, Some(&attempt.unit_id))
            .await?;
        caller.require_unit(&catalog.units, &attempt.unit_id)?;
        let campaign = catalog.campaign(&attempt.campaign_id)?;
        campaign.require_surveys(catalog.unit(&attempt.unit_id)?)?;
        if !campaign.is_open_at(attempt.attempted_at) {
            return Err(Error::precondition(
                "CAMPAIGN_NOT_OPEN",
                format!("campaigns/{}", campaign.id),
                format!(
                    "campaign {} was not open at the attempt's time",
                    campaign.id
                ),
            ));
        }
        campaign.require_in_scope(&catalog.units_of(campaign), &attempt.unit_id)?;
        match self
            .store
            .commit_call_attempt(&attempt, Timestamp::now())
            .await?
        {
            AttemptOutcome::Inserted { accepted_at, case } => Ok(AttemptReceipt {
                id: attempt.id,
                accepted_at,
                case,
            }),
            AttemptOutcome::Existing {
                content_hash,
                accepted_at,
                case,
            } if content_hash == attempt.content_hash() => Ok(AttemptReceipt {
                id: attempt.id,
                accepted_at,
                case,
            }),
            AttemptOutcome::Existing { .. } => Err(Error::AlreadyExists {
                reason: "ATTEMPT_ID_REUSED",
                message: format!(
                    "call attempt {} was already recorded with different content",
                    attempt.id
                ),
            }),
        }
    }

    /// AAPOR rates of `unit` with its descendants, overall and per carrier.
    ///
    /// # Errors
    /// NOT_FOUND for an unknown campaign or unit; FAILED_PRECONDITION for a unit outside the
    /// campaign's scope.
    pub async fn response_rates(
        &self,
        campaign_id: &CampaignId,
        unit_id: &UnitId,
    ) -> Result<UnitRates> {
        let catalog = self.snapshot(campaign_id, Some(unit_id)).await?;
        let campaign = catalog.campaign(campaign_id)?;
        catalog.unit(unit_id)?;
        let units = catalog.units_of(campaign);
        campaign.require_in_scope(&units, unit_id)?;
        let members: std::collections::HashSet<&UnitId> =
            units.subtree(unit_id).into_iter().map(|u| &u.id).collect();
        let mut overall = GroupCounts::default();
        let mut by_carrier: std::collections::BTreeMap<Carrier, GroupCounts> = Default::default();
        for (unit, carrier, disposition, cases) in
            self.store.disposition_counts(campaign_id).await?
        {
            if !members.contains(&unit) || cases <= 0 {
                continue;
            }
            let cases = cases as u64;
            overall.add(disposition.group(), cases);
            if let Some(carrier) = carrier {
                by_carrier
                    .entry(carrier)
                    .or_default()
                    .add(disposition.group(), cases);
            }
        }
        let e = campaign.eligibility_rate;
        Ok(UnitRates {
            overall: (overall, rates(&overall, e)),
            by_carrier: by_carrier
                .into_iter()
                .map(|(carrier, counts)| (carrier, counts, rates(&counts, e)))
                .collect(),
        })
    }

    /// The units a reviewer may see within `unit` (or the campaign's scope): `None` for all.
    fn reviewable_units(
        caller: &Principal,
        catalog: &Snapshot,
        scope: &UnitId,
    ) -> Result<Option<Vec<UnitId>>> {
        let within_scope = || {
            catalog
                .units
                .subtree(scope)
                .into_iter()
                .map(|u| u.id.clone())
        };
        if caller.role == Role::Admin {
            return Ok(Some(within_scope().collect()));
        }
        let allowed: Vec<UnitId> = within_scope()
            .filter(|u| {
                caller
                    .units
                    .iter()
                    .any(|own| catalog.units.is_within(u, own))
            })
            .collect();
        if allowed.is_empty() {
            return Err(Error::PermissionDenied(format!(
                "the token of {:?} covers no unit under {scope}",
                caller.subject
            )));
        }
        Ok(Some(allowed))
    }

    /// Refuses a caller whose token covers no unit under `scope`, before anything tells
    /// whether what they ask for exists.
    fn require_some_unit_under(
        caller: &Principal,
        catalog: &Snapshot,
        scope: &UnitId,
    ) -> Result<()> {
        Self::reviewable_units(caller, catalog, scope).map(|_| ())
    }

    async fn list_query(&self, caller: &Principal, listing: &Listing<'_>) -> Result<ListQuery> {
        let Listing {
            campaign_id,
            unit,
            after,
            limit,
        } = *listing;
        let catalog = self.snapshot(campaign_id, unit).await?;
        let campaign = catalog.campaign(campaign_id)?;
        let scope = match unit {
            Some(u) => {
                catalog.unit(u)?;
                u.clone()
            }
            None => campaign.scope_unit_id.clone(),
        };
        let units = Self::reviewable_units(caller, &catalog, &scope)?;
        // A whole-campaign listing by an admin needs no unit filter.
        let units = if caller.role == Role::Admin && unit.is_none() {
            None
        } else {
            units
        };
        // One row more than the page shows tells whether another page follows.
        Ok(ListQuery {
            campaign_id: campaign_id.clone(),
            units,
            after,
            limit: limit + 1,
        })
    }

    /// # Errors
    /// PERMISSION_DENIED when the caller's token covers none of the units; NOT_FOUND for an
    /// unknown campaign or unit.
    pub async fn list_submissions(
        &self,
        caller: &Principal,
        listing: &Listing<'_>,
        state: ReviewState,
        flag: Option<Flag>,
    ) -> Result<Page<SubmissionSummary>> {
        let query = self.list_query(caller, listing).await?;
        let rows = self.store.list_submissions(&query, state, flag).await?;
        Ok(page(rows, listing.limit))
    }

    /// # Errors
    /// PERMISSION_DENIED outside the caller's units; NOT_FOUND for an unknown campaign or
    /// submission; FAILED_PRECONDITION when the decision does not apply to its state.
    pub async fn review(
        &self,
        caller: &Principal,
        campaign_id: &CampaignId,
        submission_id: Uuid,
        decision: Decision,
        reason: &str,
    ) -> Result<SubmissionSummary> {
        let catalog = self.snapshot(campaign_id, None).await?;
        let (campaign, questionnaire) = catalog.campaign_with_questionnaire(campaign_id)?;
        Self::require_some_unit_under(caller, &catalog, &campaign.scope_unit_id)?;
        let review = self.store.review_submission_counted(
            &campaign,
            &questionnaire,
            submission_id,
            |before| {
                caller.require_unit(&catalog.units, &before.unit_id)?;
                let to = before.state.after(decision).map_err(|why| {
                    Error::precondition(
                        "REVIEW_NOT_APPLICABLE",
                        format!("submissions/{submission_id}"),
                        why,
                    )
                })?;
                let at = Timestamp::now();
                let audit = AuditEntry::change(
                    &caller.actor(),
                    at,
                    "review",
                    "submission",
                    format!("{campaign_id}/{submission_id}"),
                    &json!({"review_state": state_label(before.state)}),
                    &json!({"review_state": state_label(to), "reason": reason}),
                )
                .expect("the reason is new, so the entry has a change");
                Ok(ReviewChange {
                    decision,
                    to,
                    reviewer: caller.subject.clone(),
                    reason: reason.to_owned(),
                    at,
                    audit,
                })
            },
        );
        let summary = self.figures.commit(review).await?;
        // Nobody listening is fine: no live stream is open.
        let _ = self.changes.send(campaign_id.clone());
        Ok(summary)
    }

    /// # Errors
    /// PERMISSION_DENIED when the caller's token covers none of the campaign's units;
    /// NOT_FOUND for an unknown campaign.
    pub async fn review_actions(
        &self,
        caller: &Principal,
        listing: &Listing<'_>,
        submission: Option<Uuid>,
    ) -> Result<Page<ReviewAction>> {
        let query = self.list_query(caller, listing).await?;
        let rows = self.store.list_review_actions(&query, submission).await?;
        Ok(page(rows, listing.limit))
    }

    /// # Errors
    /// As `list_submissions`.
    pub async fn grievances(
        &self,
        caller: &Principal,
        listing: &Listing<'_>,
        status: Option<GrievanceStatus>,
    ) -> Result<Page<Grievance>> {
        let query = self.list_query(caller, listing).await?;
        let rows = self.store.list_grievances(&query, status).await?;
        Ok(page(rows, listing.limit))
    }

    /// # Errors
    /// PERMISSION_DENIED outside the caller's units; NOT_FOUND for an unknown campaign or
    /// grievance.
    pub async fn update_grievance(
        &self,
        caller: &Principal,
        campaign_id: &CampaignId,
        grievance_id: &str,
        status: GrievanceStatus,
    ) -> Result<Grievance> {
        let catalog = self.snapshot(campaign_id, None).await?;
        let campaign = catalog.campaign(campaign_id)?;
        Self::require_some_unit_under(caller, &catalog, &campaign.scope_unit_id)?;
        let at = Timestamp::now();
        self.store
            .update_grievance(campaign_id, grievance_id, |grievance| {
                // Reviewers act on their own units only; the unit is known once the row is read.
                caller.require_unit(&catalog.units, &grievance.unit_id)?;
                let before = json!({"status": status_label(grievance.status)});
                let updated = grievance.with_status(status, at);
                let after = json!({"status": status_label(updated.status)});
                let target = format!("{campaign_id}/{grievance_id}");
                // Setting the status it has is still a decision someone took: recorded too.
                let audit = AuditEntry::change(
                    &caller.actor(),
                    at,
                    "update_status",
                    "grievance",
                    target.clone(),
                    &before,
                    &after,
                )
                .unwrap_or_else(|| {
                    AuditEntry::change(
                        &caller.actor(),
                        at,
                        "update_status",
                        "grievance",
                        target,
                        &json!({}),
                        &after,
                    )
                    .expect("a status against nothing is a change")
                });
                Ok((updated, audit))
            })
            .await
    }

    /// # Errors
    /// PERMISSION_DENIED outside the caller's units; NOT_FOUND for an unknown campaign or unit;
    /// FAILED_PRECONDITION for a unit outside the campaign's scope.
    pub async fn grievance_summary(
        &self,
        caller: &Principal,
        campaign_id: &CampaignId,
        unit: &UnitId,
    ) -> Result<GrievanceSummary> {
        let listing = Listing {
            campaign_id,
            unit: Some(unit),
            after: 0,
            limit: 0,
        };
        let query = self.list_query(caller, &listing).await?;
        let catalog = self.catalog.snapshot();
        let tree = catalog.units_of(catalog.campaign(campaign_id)?);
        catalog
            .campaign(campaign_id)?
            .require_in_scope(&tree, unit)?;
        let units: Vec<UnitId> = query.units.unwrap_or_else(|| {
            tree.subtree(unit)
                .into_iter()
                .map(|u| u.id.clone())
                .collect()
        });
        let facts = self.store.grievance_facts(campaign_id, &units).await?;
        Ok(summarise(&facts))
    }

    /// The grievances raised in `unit` and its descendants, counted by status: the figures a
    /// briefing reports, which name no household and so need no reviewer's units.
    ///
    /// # Errors
    /// NOT_FOUND for an unknown campaign or unit; FAILED_PRECONDITION for a unit outside the
    /// campaign's scope.
    pub async fn grievance_counts(
        &self,
        campaign_id: &CampaignId,
        unit: &UnitId,
    ) -> Result<GrievanceSummary> {
        let catalog = self.snapshot(campaign_id, Some(unit)).await?;
        let campaign = catalog.campaign(campaign_id)?;
        catalog.unit(unit)?;
        let tree = catalog.units_of(campaign);
        campaign.require_in_scope(&tree, unit)?;
        let units: Vec<UnitId> = tree
            .subtree(unit)
            .into_iter()
            .map(|u| u.id.clone())
            .collect();
        let facts = self.store.grievance_facts(campaign_id, &units).await?;
        Ok(summarise(&facts))
    }
}

fn state_label(state: ReviewState) -> &'static str {
    match state {
        ReviewState::Received => "received",
        ReviewState::Flagged => "flagged",
        ReviewState::Approved => "approved",
        ReviewState::Rejected => "rejected",
    }
}

fn status_label(status: GrievanceStatus) -> &'static str {
    match status {
        GrievanceStatus::Open => "open",
        GrievanceStatus::InProgress => "in_progress",
        GrievanceStatus::Resolved => "resolved",
    }
}

/// Keyset page: `limit` rows asked one more than shown tells whether another page exists.
fn page<T>(rows: Vec<(i64, T)>, limit: usize) -> Page<T> {
    let more = rows.len() > limit;
    let rows: Vec<(i64, T)> = rows.into_iter().take(limit).collect();
    let last = if more {
        rows.last().map(|(seq, _)| *seq)
    } else {
        None
    };
    Page {
        rows: rows.into_iter().map(|(_, r)| r).collect(),
        last,
    }
}
