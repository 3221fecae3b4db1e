//! What every client subcommand (import, export, demo, reports) shares: the server's address
//! and a token, either given or minted as an admin from the data directory's signing key.

use std::time::Duration;

use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Status};

use crate::auth::{Role, TokenIssuer};
use crate::configuration::CommonArgs;
use crate::error::{Error, Result};

/// How long a minted token lives: long enough for the largest export.
const MINTED_TOKEN_TTL: Duration = Duration::from_secs(12 * 3600);

#[derive(clap::Args, Clone, Debug)]
pub struct ClientArgs {
    /// Where the Canvass server listens.
    #[arg(long, env = "CANVASS_SERVER", default_value = "http://127.0.0.1:50051")]
    pub server: String,
    /// Bearer token for the calls [default: an admin token minted with the data directory's
    /// signing key].
    #[arg(long, env = "CANVASS_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Adds `authorization: Bearer <token>` to every call.
#[derive(Clone)]
pub struct Bearer(MetadataValue<Ascii>);

impl Bearer {
    /// The header for `token`; `None` when the token cannot be a header value.
    pub fn new(token: &str) -> Option<Self> {
        format!("Bearer {token}").parse().ok().map(Self)
    }
}

impl Interceptor for Bearer {
    fn call(&mut self, mut request: Request<()>) -> std::result::Result<Request<()>, Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

/// A channel to the server whose calls carry the token; wrap it in any generated client with
/// `XServiceClient::new(connection.clone())`.
pub type Connection = InterceptedService<Channel, Bearer>;

impl ClientArgs {
    /// Connects to the server.
    ///
    /// # Errors
    /// UNAVAILABLE when the server cannot be reached; INTERNAL when no token was given and the
    /// signing key cannot be read.
    pub async fn connect(&self) -> Result<Connection> {
        let token = match &self.token {
            Some(token) => token.clone(),
            None => self.mint_admin_token()?,
        };
        let bearer = Bearer::new(&token)
            .ok_or_else(|| Error::invalid("--token", "not a valid header value"))?;
        let channel = Endpoint::from_shared(self.server.clone())
            .map_err(|e| Error::invalid("--server", e.to_string()))?
            .connect_timeout(Duration::from_secs(5))
            .connect()
            .await
            .map_err(|e| Error::Unavailable(format!("{}: {e}", self.server)))?;
        Ok(InterceptedService::new(channel, bearer))
    }

    fn mint_admin_token(&self) -> Result<String> {
        let paths = self.common.key_paths();
        let issuer = TokenIssuer::from_pem_file(
            &paths.private_key,
            &self.common.jwt_issuer,
            &self.common.jwt_audience,
        )
        .map_err(|e| {
            Error::internal(format!(
                "no --token given and no signing key to mint one ({e}); run the server once \
                 with this --data-dir, or pass --token"
            ))
        })?;
        issuer.mint("canvass-cli", Role::Admin, &[], MINTED_TOKEN_TTL)
    }
}

/// A failed call's status as the CLI reports it: its code and the server's message, with the
/// fields a BadRequest names.
pub fn remote_error(status: &Status) -> Error {
    let details = tonic_types::StatusExt::get_error_details(status);
    if let Some(bad_request) = details.bad_request() {
        return Error::InvalidArgument(
            bad_request
                .field_violations
                .iter()
                .map(|v| crate::error::FieldViolation::new(&v.field, &v.description))
                .collect(),
        );
    }
    let message = format!("{:?}: {}", status.code(), status.message());
    match status.code() {
        tonic::Code::Unavailable | tonic::Code::DeadlineExceeded => Error::Unavailable(message),
        tonic::Code::Unauthenticated => Error::Unauthenticated(message),
        tonic::Code::PermissionDenied => Error::PermissionDenied(message),
        _ => Error::Internal(message),
    }
}

/// How long to wait before calling again when the server's limit turned a call away and said
/// nothing of when to return.
const DEFAULT_RETRY_DELAY: Duration = Duration::from_millis(200);
/// How long one call keeps trying while the server keeps turning it away.
const MAX_PATIENCE: Duration = Duration::from_secs(120);

/// Makes `call` until the server's rate limit stops turning it away (RESOURCE_EXHAUSTED),
/// waiting each time for the delay the server's RetryInfo gives. Bulk clients (the demo
/// loader, reports that read one score per unit) send many calls with one token; the limit
/// paces them instead of failing them.
///
/// # Errors
/// The call's last status: any other code at once, RESOURCE_EXHAUSTED after [`MAX_PATIENCE`].
pub async fn patiently<T, F, Fut>(mut call: F) -> std::result::Result<T, Status>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<T, Status>>,
{
    let started = std::time::Instant::now();
    loop {
        match call().await {
            Err(status)
                if status.code() == tonic::Code::ResourceExhausted
                    && started.elapsed() < MAX_PATIENCE =>
            {
                let delay = tonic_types::StatusExt::get_details_retry_info(&status)
                    .and_then(|info| info.retry_delay)
                    .unwrap_or(DEFAULT_RETRY_DELAY);
                tokio::time::sleep(delay.min(Duration::from_secs(5))).await;
            }
            other => return other,
        }
    }
}
