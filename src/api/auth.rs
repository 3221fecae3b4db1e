use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::caller;
use super::convert::{revocation_from_proto, revocation_to_proto};
use crate::auth::Revocations;
use crate::domain::time::Timestamp;
use crate::proto::v1 as pb;
use crate::proto::v1::auth_service_server::AuthService;
use crate::store::Store;

pub struct AuthApi {
    pub revocations: Arc<Revocations>,
    pub store: Store,
}

#[tonic::async_trait]
impl AuthService for AuthApi {
    /// # Errors
    /// INVALID_ARGUMENT without a target or a reason; PERMISSION_DENIED for callers other than
    /// admins (the auth layer); UNAVAILABLE when the database is unreachable (nothing is
    /// revoked then).
    async fn revoke_tokens(
        &self,
        request: Request<pb::RevokeTokensRequest>,
    ) -> Result<Response<pb::RevokeTokensResponse>, Status> {
        let caller = caller(&request)?;
        let revocation = revocation_from_proto(request.into_inner(), Timestamp::now())?;
        let stored = self
            .revocations
            .revoke(&self.store, &revocation, &caller.actor())
            .await?;
        Ok(Response::new(pb::RevokeTokensResponse {
            revocation: Some(revocation_to_proto(&stored)),
        }))
    }
}
