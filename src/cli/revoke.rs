//! `canvass revoke`: refuse a lost device's token, or all of a subject's tokens issued before
//! a time, on every server sharing the database.

use crate::cli::client::{ClientArgs, remote_error};
use crate::domain::time::Timestamp;
use crate::error::{Error, Result};
use crate::proto::v1 as pb;
use crate::proto::v1::auth_service_client::AuthServiceClient;
use crate::proto::v1::revoke_tokens_request::Target;

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["jti", "subject"])))]
pub struct RevokeArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// The `jti` of the one token to refuse.
    #[arg(long)]
    jti: Option<String>,
    /// Refuse this subject's tokens issued before --before.
    #[arg(long)]
    subject: Option<String>,
    /// With --subject: the cut-off, RFC 3339 (e.g. 2026-12-01T08:00:00Z) [default: now].
    #[arg(long, requires = "subject")]
    before: Option<String>,
    /// Why, recorded with the revocation.
    #[arg(long)]
    reason: String,
}

pub async fn run(args: RevokeArgs) -> Result<()> {
    let issued_before = args
        .before
        .as_deref()
        .map(|text| {
            time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                .map(Timestamp::from_offset_date_time)
                .map_err(|e| Error::invalid("--before", format!("{text:?}: {e}")))
        })
        .transpose()?;
    let target = match (args.jti, args.subject) {
        (Some(jti), _) => Target::TokenId(jti),
        (None, Some(subject)) => Target::Subject(subject),
        (None, None) => return Err(Error::invalid("--jti", "name --jti or --subject")),
    };
    let request = pb::RevokeTokensRequest {
        target: Some(target),
        issued_before: issued_before.map(crate::api::convert::timestamp_to_proto),
        reason: args.reason,
    };
    let mut client = AuthServiceClient::new(args.client.connect().await?);
    let revocation = client
        .revoke_tokens(request)
        .await
        .map_err(|status| remote_error(&status))?
        .into_inner()
        .revocation
        .ok_or_else(|| Error::internal("the server sent no revocation"))?;
    match revocation.target {
        Some(pb::revocation::Target::TokenId(id)) => println!("revoked token {id}"),
        Some(pb::revocation::Target::Subject(subject)) => {
            let before = revocation
                .issued_before
                .and_then(|t| Timestamp::from_parts(t.seconds, t.nanos).ok())
                .map(|t| t.to_offset_date_time().to_string())
                .unwrap_or_default();
            println!("revoked the tokens of {subject} issued before {before}");
        }
        None => println!("revoked"),
    }
    Ok(())
}
