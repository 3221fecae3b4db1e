//! The catalog's lifecycle rules: what an update, an archive or a restore may do to a unit
//! ([`units`]), and what may change in a campaign once it holds data ([`campaigns`]). Pure
//! functions over the catalog as it stands; the catalog service loads, asks, and writes.

pub mod campaigns;
pub mod units;

pub use campaigns::{CampaignActivity, CampaignPatch, campaign_fields, updated_campaign};
pub use units::{
    UnitPatch, archived_unit, require_live_parent, restored_unit, unit_fields, updated_unit,
};

#[cfg(test)]
pub(crate) mod test_support {
    use crate::error::{Error, Result};

    /// The violation type and subject of a FAILED_PRECONDITION.
    pub fn subject(result: Result<impl std::fmt::Debug>) -> (String, String) {
        match result {
            Err(Error::FailedPrecondition {
                violation_type,
                subject,
                ..
            }) => (violation_type.to_owned(), subject),
            other => panic!("{other:?}"),
        }
    }
}
