use tonic::{Request, Response, Status};

use super::convert::{audit_entry_to_proto, audit_filter_from_proto};
use crate::proto::v1 as pb;
use crate::proto::v1::audit_service_server::AuditService;
use crate::store::Store;

/// The audit log, read by admins only (the auth layer names no other role for it).
pub struct AuditApi {
    pub store: Store,
}

#[tonic::async_trait]
impl AuditService for AuditApi {
    /// # Errors
    /// INVALID_ARGUMENT for a malformed filter or a foreign page token; PERMISSION_DENIED for
    /// any role but admin (from the auth layer).
    async fn list_audit_entries(
        &self,
        request: Request<pb::ListAuditEntriesRequest>,
    ) -> Result<Response<pb::ListAuditEntriesResponse>, Status> {
        let (filter, page) = audit_filter_from_proto(request.get_ref())?;
        let mut rows = self.store.list_audit_entries(&filter).await?;
        let more = rows.len() > page.size;
        rows.truncate(page.size);
        let last = rows.last().map(|r| r.seq).filter(|_| more);
        Ok(Response::new(pb::ListAuditEntriesResponse {
            entries: rows.iter().map(audit_entry_to_proto).collect(),
            next_page_token: page.token_after(last),
        }))
    }
}
