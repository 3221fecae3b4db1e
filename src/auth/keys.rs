//! Signing keys, token minting and verification.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::claims::ClaimNames;
use super::jwks::{Jwks, PinnedKey};
use super::principal::{Claims, Principal, Role};
use crate::domain::ids::UnitId;
use crate::error::{Error, Result};
use crate::file_modes;

/// Clock skew tolerated on `exp` and `nbf`.
const LEEWAY_SECONDS: u64 = 30;

#[derive(Debug, Clone)]
pub struct KeyPaths {
    pub private_key: PathBuf,
    pub public_key: PathBuf,
}

/// Creates an Ed25519 key pair at `paths` unless a public key is already there (a deployment
/// that verifies only needs the public key). The private key file is readable by its owner
/// only, and is tightened to that if it is found open to others.
pub fn ensure_keypair(paths: &KeyPaths) -> Result<bool> {
    file_modes::tighten(&paths.private_key)?;
    if paths.public_key.exists() {
        return Ok(false);
    }
    let io = |path: &Path, e: std::io::Error| Error::internal(format!("{}: {e}", path.display()));
    let key = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
    let private_pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| Error::internal(format!("encoding private key: {e}")))?;
    let public_pem = key
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| Error::internal(format!("encoding public key: {e}")))?;
    for path in [&paths.private_key, &paths.public_key] {
        file_modes::create_parents(path)?;
    }
    file_modes::create_private(&paths.private_key, private_pem.as_bytes())
        .map_err(|e| io(&paths.private_key, e))?;
    file_modes::create_public(&paths.public_key, public_pem.as_bytes())
        .map_err(|e| io(&paths.public_key, e))?;
    Ok(true)
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::internal(format!("reading {}: {e}", path.display())))
}

/// Mints tokens with the private key (the `token` subcommand, and tests).
pub struct TokenIssuer {
    key: EncodingKey,
    issuer: String,
    audience: String,
}

impl TokenIssuer {
    pub fn from_pem_file(path: &Path, issuer: &str, audience: &str) -> Result<Self> {
        let key = EncodingKey::from_ed_pem(&read(path)?).map_err(|e| {
            Error::internal(format!(
                "{}: not an Ed25519 private key: {e}",
                path.display()
            ))
        })?;
        Ok(Self {
            key,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
        })
    }

    pub fn mint(
        &self,
        subject: &str,
        role: Role,
        units: &[UnitId],
        ttl: Duration,
    ) -> Result<String> {
        let now = jsonwebtoken::get_current_timestamp();
        let claims = Claims {
            sub: subject.to_owned(),
            role,
            units: units.iter().map(ToString::to_string).collect(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            exp: now + ttl.as_secs(),
            nbf: now,
            iat: now,
            // Names this one token, so that it can be revoked alone.
            jti: uuid::Uuid::new_v4().simple().to_string(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims, &self.key)
            .map_err(|e| Error::internal(format!("signing token: {e}")))
    }
}

/// What a verified token says: the caller, how long the result may be reused, and what a
/// revocation may match.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    pub principal: Principal,
    /// `exp`, seconds since the Unix epoch.
    pub expires_at: u64,
    pub token_id: Option<String>,
    /// `iat`, seconds since the Unix epoch.
    pub issued_at: Option<u64>,
    /// The key set's generation the token was verified with (see [`TokenVerifier::generation`]).
    pub generation: u64,
}

/// The registered claims Canvass reads, and the rest for the role and units.
#[derive(Deserialize)]
struct TokenClaims {
    sub: String,
    exp: u64,
    #[serde(default)]
    iat: Option<u64>,
    #[serde(default)]
    jti: Option<String>,
    #[serde(flatten)]
    other: Map<String, Value>,
}

enum Keys {
    /// Canvass's own Ed25519 key: every token is checked with it, whatever its `kid`.
    Own(Box<PinnedKey>),
    /// An identity provider's keys, chosen by the token's `kid`.
    Jwks(Arc<Jwks>),
}

/// Verifies tokens: signature with the key's pinned algorithm (so `alg: none` and
/// HMAC-with-the-public-key confusion fail), `exp`, `nbf`, `iss`, `aud` and `sub` all required
/// and checked.
pub struct TokenVerifier {
    keys: Keys,
    claims: ClaimNames,
}

/// The checks every token passes, whatever its key: `validation.algorithms` is then narrowed
/// to the key's one algorithm.
pub fn validation(issuer: &str, audience: &str) -> Validation {
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
    validation.validate_nbf = true;
    validation.leeway = LEEWAY_SECONDS;
    validation
}

impl TokenVerifier {
    /// Canvass's own tokens, checked with the Ed25519 public key at `path`.
    pub fn from_pem_file(path: &Path, issuer: &str, audience: &str) -> Result<Self> {
        let key = DecodingKey::from_ed_pem(&read(path)?).map_err(|e| {
            Error::internal(format!(
                "{}: not an Ed25519 public key: {e}",
                path.display()
            ))
        })?;
        Ok(Self {
            keys: Keys::Own(Box::new(PinnedKey {
                key,
                validation: validation(issuer, audience),
            })),
            claims: ClaimNames::default(),
        })
    }

    /// An identity provider's tokens, checked with the keys of `jwks`.
    pub fn from_jwks(jwks: Arc<Jwks>) -> Self {
        Self {
            keys: Keys::Jwks(jwks),
            claims: ClaimNames::default(),
        }
    }

    /// Reads the role and units from these claims.
    #[must_use]
    pub fn with_claims(mut self, claims: ClaimNames) -> Self {
        self.claims = claims;
        self
    }

    /// Changes whenever the keys do: a result verified under another generation must be
    /// verified again.
    pub fn generation(&self) -> u64 {
        match &self.keys {
            Keys::Own(_) => 0,
            Keys::Jwks(jwks) => jwks.generation(),
        }
    }

    /// # Errors
    /// UNAUTHENTICATED naming what is wrong with the token (never echoing it).
    pub fn verify(&self, token: &str) -> Result<Principal> {
        self.verify_token(token).map(|verified| verified.principal)
    }

    /// As [`TokenVerifier::verify`], with what else the token says.
    ///
    /// # Errors
    /// UNAUTHENTICATED naming what is wrong with the token (never echoing it).
    pub fn verify_token(&self, token: &str) -> Result<VerifiedToken> {
        let unauthenticated = |kind: &ErrorKind| Error::Unauthenticated(describe(kind).into());
        let (set, generation);
        let key = match &self.keys {
            Keys::Own(key) => {
                generation = 0;
                key
            }
            Keys::Jwks(jwks) => {
                let header =
                    jsonwebtoken::decode_header(token).map_err(|e| unauthenticated(e.kind()))?;
                let kid = header
                    .kid
                    .ok_or_else(|| Error::Unauthenticated("the token names no key (kid)".into()))?;
                set = jwks.current();
                generation = set.generation;
                set.keys.get(&kid).ok_or_else(|| {
                    Error::Unauthenticated("the token's key (kid) is not known".into())
                })?
            }
        };
        let data = jsonwebtoken::decode::<TokenClaims>(token, &key.key, &key.validation)
            .map_err(|e| unauthenticated(e.kind()))?;
        let claims = data.claims;
        let principal = self.claims.principal(claims.sub, &claims.other)?;
        Ok(VerifiedToken {
            principal,
            expires_at: claims.exp,
            token_id: claims.jti,
            issued_at: claims.iat,
            generation,
        })
    }

    /// When `token` names a key the provider's set lacks, reads the set again (at most once
    /// per minimum interval) and tells whether the key is known now. Always `false` for
    /// Canvass's own key, which never changes while serving.
    pub async fn reload_for(&self, token: &str) -> bool {
        let Keys::Jwks(jwks) = &self.keys else {
            return false;
        };
        let Some(kid) = jsonwebtoken::decode_header(token).ok().and_then(|h| h.kid) else {
            return false;
        };
        if jwks.current().keys.contains_key(&kid) {
            return false;
        }
        jwks.reload_for_unknown(&kid).await
    }
}

fn describe(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::ExpiredSignature => "the token has expired",
        ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)",
        ErrorKind::InvalidSignature => "the token's signature is invalid",
        ErrorKind::InvalidIssuer => "the token's issuer is not accepted",
        ErrorKind::InvalidAudience => "the token's audience is not accepted",
        ErrorKind::InvalidAlgorithm
        | ErrorKind::InvalidAlgorithmName
        | ErrorKind::MissingAlgorithm => "the token's algorithm is not accepted for its key",
        ErrorKind::MissingRequiredClaim(_) => {
            "the token lacks a required claim (exp, nbf, iss, aud, sub)"
        }
        ErrorKind::Json(_) | ErrorKind::InvalidClaimFormat(_) => "the token's claims are malformed",
        _ => "the token is malformed",
    }
}
