//! Thin gRPC handlers: wire -> domain (convert), a call into the core, domain -> wire.

mod aggregate;
mod audit;
mod auth;
mod briefing;
mod callcenter;
mod catalog;
pub mod convert;
mod export;
mod pagination;
mod review;
mod submission;
mod upload;
mod watch;

pub use aggregate::AggregateApi;
pub use audit::AuditApi;
pub use auth::AuthApi;
pub use briefing::BriefingApi;
pub use callcenter::CallCenterApi;
pub use catalog::CatalogApi;
pub use export::ExportApi;
pub use review::ReviewApi;
pub use submission::SubmissionApi;
pub use upload::ResultStream as UploadResultStream;

use crate::auth::Principal;
use crate::error::Error;

/// The caller the auth layer verified.
fn caller<T>(request: &tonic::Request<T>) -> Result<Principal, Error> {
    request
        .extensions()
        .get::<Principal>()
        .cloned()
        .ok_or_else(|| Error::Unauthenticated("no verified caller on the request".into()))
}
