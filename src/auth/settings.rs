//! Settings of the server's identity checks: whose keys verify tokens, which claims carry the
//! role and units, how often revocations are reloaded, and the call-rate limits.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::claims::{ClaimNames, RoleMapping};
use super::jwks::{Jwks, JwksSource, Refresh};
use super::keys::{KeyPaths, TokenVerifier, validation};
use super::limits::{Limits, RateLimit};
use crate::error::Result;

#[derive(clap::Args, Clone, Debug)]
pub struct IdentityArgs {
    /// Verify tokens with the keys of this JSON Web Key Set file (the identity provider's)
    /// instead of Canvass's own Ed25519 key; read again on the refresh schedule.
    #[arg(long, env = "CANVASS_JWKS_FILE", conflicts_with = "jwks_url")]
    pub jwks_file: Option<PathBuf>,
    /// Verify tokens with the keys of the JSON Web Key Set at this URL (the identity
    /// provider's `jwks_uri`), fetched at start, on the refresh schedule, and when a token
    /// names an unknown key.
    #[arg(long, env = "CANVASS_JWKS_URL")]
    pub jwks_url: Option<String>,
    /// Seconds between reads of the key set.
    #[arg(long, env = "CANVASS_JWKS_REFRESH_SECONDS", default_value_t = 300)]
    pub jwks_refresh_seconds: u64,
    /// Least seconds between reads of the key set prompted by tokens naming an unknown key.
    #[arg(
        long,
        env = "CANVASS_JWKS_UNKNOWN_KID_MIN_SECONDS",
        default_value_t = 30
    )]
    pub jwks_unknown_kid_min_seconds: u64,
    /// The claim holding the caller's role (a string or a list of strings).
    #[arg(long, env = "CANVASS_JWT_ROLE_CLAIM", default_value = "role")]
    pub jwt_role_claim: String,
    /// The claim holding the units the caller works for (a string or a list of strings).
    #[arg(long, env = "CANVASS_JWT_UNITS_CLAIM", default_value = "units")]
    pub jwt_units_claim: String,
    /// VALUE=ROLE: the role claim value VALUE grants Canvass role ROLE (repeatable, or
    /// comma-separated). Without any, role values must be Canvass role names; with some,
    /// only mapped values count.
    #[arg(
        long = "jwt-role-map",
        env = "CANVASS_JWT_ROLE_MAP",
        value_delimiter = ','
    )]
    pub jwt_role_map: Vec<RoleMapping>,
    /// Calls per second one subject may make, as RATE:BURST (0 = no limit).
    #[arg(
        long,
        env = "CANVASS_RATE_LIMIT_PER_SUBJECT",
        default_value = "100:1000"
    )]
    pub rate_limit_per_subject: RateLimit,
    /// Token verifications (new or bad tokens) per second one peer address may prompt, as
    /// RATE:BURST (0 = no limit); calls with tokens already verified are not counted.
    #[arg(long, env = "CANVASS_RATE_LIMIT_PER_PEER", default_value = "50:500")]
    pub rate_limit_per_peer: RateLimit,
    /// Seconds between reloads of the revocations as a safety net; other processes'
    /// revocations arrive at once through PostgreSQL notifications.
    #[arg(long, env = "CANVASS_REVOCATION_RELOAD_SECONDS", default_value_t = 60)]
    pub revocation_reload_seconds: u64,
}

impl IdentityArgs {
    /// The verifier these settings describe, and the provider's key set to keep current.
    ///
    /// # Errors
    /// When the key (set) cannot be read, or holds no usable key.
    pub async fn verifier(
        &self,
        own_key: &KeyPaths,
        issuer: &str,
        audience: &str,
    ) -> Result<(TokenVerifier, Option<Arc<Jwks>>)> {
        let source = match (&self.jwks_file, &self.jwks_url) {
            (Some(path), _) => Some(JwksSource::File(path.clone())),
            (None, Some(url)) => Some(JwksSource::Url(url.clone())),
            (None, None) => None,
        };
        let claims = ClaimNames::new(
            &self.jwt_role_claim,
            &self.jwt_units_claim,
            self.jwt_role_map.clone(),
        );
        let Some(source) = source else {
            let verifier = TokenVerifier::from_pem_file(&own_key.public_key, issuer, audience)?;
            return Ok((verifier.with_claims(claims), None));
        };
        let refresh = Refresh {
            every: Duration::from_secs(self.jwks_refresh_seconds.max(1)),
            unknown_kid_min_interval: Duration::from_secs(self.jwks_unknown_kid_min_seconds),
        };
        let jwks = Arc::new(Jwks::load(source, refresh, validation(issuer, audience)).await?);
        tracing::info!(
            keys = jwks.current().keys.len(),
            "verifying tokens with the identity provider's keys; Canvass's own key is not trusted"
        );
        Ok((
            TokenVerifier::from_jwks(jwks.clone()).with_claims(claims),
            Some(jwks),
        ))
    }

    pub fn limits(&self) -> Limits {
        Limits::new(self.rate_limit_per_subject, self.rate_limit_per_peer)
    }

    pub fn revocation_reload(&self) -> Duration {
        Duration::from_secs(self.revocation_reload_seconds.max(1))
    }
}
